"""HTML and JavaScript inside documents or answers never runs in the UI (issue 22).

The real Gradio app with the fake embedder and a fake model whose answer carries markup,
driven by Debian's Chromium: a document with ``<img src=x onerror=...>`` and
``<script>`` is indexed, a question about it answered, and the page must show the
markup as text while no handler or script ever runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import FakeEmbedder, FakeLLM, free_port
from rag.config import RAGConfig
from rag.indexing import ingest_paths
from rag.store import open_store

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
IMG = "<img src=x onerror=\"window.__xss=(window.__xss||[]).concat('img')\">"
SCRIPT = "<script>window.__xss=(window.__xss||[]).concat('script')</script>"
SVG = "<svg onload=\"window.__xss=(window.__xss||[]).concat('svg')\"></svg>"
DOCUMENT = (f"Lighthouse {IMG} of Farrow\n\nThe lighthouse of Farrow was lit in 1874 {IMG}. "
            f"Its keeper was Ansel Brook {SCRIPT}. The lamp was replaced in 1931 {SVG}.\n")
ANSWER = f"The keeper was Ansel Brook {IMG} {SCRIPT} [1]."

pytestmark = pytest.mark.browser


@pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")
def test_markup_in_documents_and_answers_shows_as_text_and_never_runs(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    import ui

    config = RAGConfig(data_dir=tmp_path / "data", collection="xss-test", gate_calibration="off", top_k=3,
                       chunk_tokens=60, chunk_overlap_tokens=10)
    embedder = FakeEmbedder()
    store = open_store(config=config, embedder=embedder)
    (tmp_path / "farrow_light.txt").write_text(DOCUMENT, encoding="utf-8")
    ingest_paths([tmp_path / "farrow_light.txt"], config=config, store=store, embedder=embedder)
    demo = ui.build_app(config, store=store, embedder=embedder, llm=FakeLLM(ANSWER))
    port = free_port()
    ui.launch(demo, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    dialogs: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
                page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
                box = page.locator("#question textarea")
                box.wait_for(timeout=60_000)
                box.fill("Who was the keeper of the lighthouse of Farrow?")
                page.locator("#send").click()
                page.wait_for_selector("#sources .rag-source, #sources .rag-no-sources, #chatbot .rag-error",
                                       timeout=60_000)
                page.wait_for_timeout(800)
                chat = page.locator("#chatbot").inner_text()
                sources = page.locator("#sources").inner_text()
                page.locator("#sources details summary").first.click()
                page.wait_for_timeout(300)
                context = page.locator("#sources details .rag-context-text").first.inner_text()
                page.get_by_role("tab", name="Documents").click()
                page.wait_for_function("document.querySelector('#documents')?.innerText.includes('farrow_light')",
                                       timeout=20_000)
                documents = page.locator("#documents").inner_text()
                ran = page.evaluate("window.__xss || []")
                injected = page.evaluate(
                    "document.querySelectorAll('#chatbot img[src=\"x\"], #sources img[src=\"x\"], "
                    "#chatbot script, #sources script, #chatbot svg[onload], #sources svg[onload], "
                    "#documents img[src=\"x\"], #documents script').length")
            finally:
                browser.close()
    finally:
        demo.close()
    assert ran == [] and dialogs == [], (ran, dialogs)
    assert injected == 0
    assert "Ansel Brook" in chat and IMG in chat and SCRIPT in chat  # the answer's markup, as text
    assert IMG in sources  # the passage's markup, as text
    assert SCRIPT in context or SCRIPT in sources
    assert "Lighthouse <img src=x onerror=" in documents  # the title in the documents table (cut short there)
