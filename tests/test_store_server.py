"""The Chroma server path (store_backend=http): a real `chroma run` on a free local port,
two apps on it, ingest, ask, delete. Skipped when the `chroma` command is missing."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FakeLLM, FakeTermEmbedder, free_port, write_articles
from rag.config import RAGConfig

CHROMA = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")


@pytest.fixture(scope="module")
def chroma_port(tmp_path_factory):
    if CHROMA is None:
        pytest.skip("the chroma command is not installed")
    folder = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = open(folder / "server.log", "wb")
    server = subprocess.Popen([CHROMA, "run", "--path", str(folder / "db"), "--host", "127.0.0.1", "--port", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        import chromadb
        from chromadb.config import Settings

        deadline = time.monotonic() + 60
        while True:
            try:
                chromadb.HttpClient(host="127.0.0.1", port=port,
                                    settings=Settings(anonymized_telemetry=False)).heartbeat()
                break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(f"chroma run did not start: {(folder / 'server.log').read_text(errors='replace')[-2000:]}")
                time.sleep(0.3)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _app_config(root: Path, port: int, name: str) -> RAGConfig:
    # Each app has its own data dir (its saved catalog), as on two machines.
    return RAGConfig(data_dir=root / name, collection="server-test", store_backend="http", chroma_port=port,
                     llm="extractive", gate_calibration="off", chunk_tokens=60, chunk_overlap_tokens=10, top_k=3,
                     translate_queries=False)


def _ask(client, question: str) -> dict:
    response = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": question}]})
    assert response.status_code == 200, response.text
    return response.json()


def test_two_apps_on_one_chroma_server(chroma_port, tmp_path):
    from fastapi.testclient import TestClient

    from rag.indexing import ingest_paths
    from rag.serve import create_app
    from rag.store import open_store

    embedder = FakeTermEmbedder()
    first_config, second_config = _app_config(tmp_path, chroma_port, "a"), _app_config(tmp_path, chroma_port, "b")
    first_store = open_store(config=first_config, embedder=embedder)
    first_store.reset()
    first = TestClient(create_app(first_config, store=first_store, embedder=embedder, llm=FakeLLM()))
    second = TestClient(create_app(second_config, embedder=embedder, llm=FakeLLM()))  # opens its own store
    assert second.get("/health").json()["documents"] == 0

    folder = write_articles(tmp_path)
    report = ingest_paths([folder], config=first_config, store=first_store, embedder=embedder)
    assert sorted(report.added) == ["fr_zhang", "ja_pang", "zh_apple"]

    # The second app sees what the first one wrote, and answers from it.
    health = second.get("/health").json()
    assert health["status"] == "ok" and health["documents"] == 3 and health["chunks"] == first_store.count()
    answer = _ask(second, "Qui est Bowen Zhang et qui a-t-il rejoint ?")
    assert not answer["refused"] and "fr_zhang" in {c["doc_id"] for c in answer["citations"]}

    # A document the second app deletes is gone for the first one.
    second_store = open_store(config=second_config, embedder=embedder)
    assert second_store.delete_document("fr_zhang") > 0
    assert first.get("/health").json()["documents"] == 2
    assert [d.doc_id for d in first_store.list_documents()] == ["ja_pang", "zh_apple"]
    answer = _ask(first, "Qui est Bowen Zhang et qui a-t-il rejoint ?")
    assert "fr_zhang" not in {c["doc_id"] for c in answer["citations"]}
    found = first_store.dense_search(embedder.embed_queries(["Bowen Zhang Meta"])[0], 10)
    assert found and all(chunk.doc_id != "fr_zhang" for chunk, _ in found)
