"""The OpenAI-compatible API, served for real by uvicorn, with the fake embedder and model."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
import pytest
import uvicorn

from conftest import FakeEmbedder, FakeLLM, free_port, write_articles
from rag.config import RAGConfig
from rag.indexing import ingest_paths
from rag.language import refusal_text
from rag.llm import LLMError
from rag.serve import StreamingCitationView, create_app
from rag.store import open_store

CITATION_KEYS = {"n", "doc_id", "title", "language", "text", "start", "end", "score"}


@contextmanager
def serving(app):
    """Run ``app`` with uvicorn in a background thread on a free local port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def is_answer_prompt(messages) -> bool:
    """An answer prompt (numbered passages), not a query-translation one."""
    return "Passages:" in messages[-1]["content"]


def echo_question(messages) -> str:
    """A 'translation' that returns the question unchanged (so it is not searched again)."""
    return messages[-1]["content"].split("\n", 1)[-1]


def scripted_reply(messages) -> str:
    """Answers by topic, citing passages out of order so renumbering shows."""
    if not is_answer_prompt(messages):
        return echo_question(messages)
    prompt = messages[-1]["content"]
    question = prompt.rsplit("Question:", 1)[-1]
    if "World Cup" in question:
        return "NOT FOUND"
    if "Zhang" in question:
        return "Bowen Zhang joined Meta's lab [3], the fourth from Apple's AI team [2]."
    return "Ruoming Pang could earn 2亿美元 at Meta [2] over four years [2]."


def _make_env(root: Path, collection: str, *, with_articles: bool = True):
    config = RAGConfig(data_dir=root / "data", collection=collection, gate_calibration="off",
                       chunk_tokens=60, chunk_overlap_tokens=10, top_k=3)
    embedder = FakeEmbedder()
    store = open_store(config=config, embedder=embedder)
    if with_articles:
        folder = write_articles(root)
        ingest_paths([folder], config=config, store=store, embedder=embedder)
    return config, store, embedder


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return _make_env(tmp_path_factory.mktemp("serve"), "serve-test")


@pytest.fixture(scope="module")
def llm():
    return FakeLLM(scripted_reply)


@pytest.fixture(scope="module")
def base_url(env, llm):
    config, store, embedder = env
    with serving(create_app(config, store=store, embedder=embedder, llm=llm)) as url:
        yield url


@pytest.fixture
def client(base_url):
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="x", max_retries=0, timeout=30)


# -- happy paths with the official client -------------------------------------------------
def test_non_stream_answer_with_citations(client):
    response = client.chat.completions.create(
        model="my-model-name", messages=[{"role": "user", "content": "Who is Bowen Zhang and where did he go?"}])
    text = response.choices[0].message.content
    # [3] then [2] are renumbered by first appearance.
    assert text == "Bowen Zhang joined Meta's lab [1], the fourth from Apple's AI team [2]."
    assert response.model == "my-model-name"
    assert response.object == "chat.completion"
    assert response.choices[0].finish_reason == "stop"
    extra = response.model_extra
    assert extra["refused"] is False
    citations = extra["citations"]
    assert [c["n"] for c in citations] == [1, 2]
    for c in citations:
        assert CITATION_KEYS <= set(c)
        assert c["doc_id"] in {"ja_pang", "zh_apple", "fr_zhang"}
        assert c["text"] and c["start"] < c["end"]
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens > 0


def test_stream_concatenates_to_the_final_answer(client):
    stream = client.chat.completions.create(
        model="rag-news", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "How much could Ruoming Pang earn at Meta?"}])
    chunks = list(stream)  # ends cleanly: the client stops at data: [DONE]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Ruoming Pang could earn 2亿美元 at Meta [1] over four years [1]."
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(finals) == 1
    final = finals[0].model_extra
    assert final["refused"] is False and final["final_text"] == text
    assert [c["n"] for c in final["citations"]] == [1]
    assert CITATION_KEYS <= set(final["citations"][0])
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert all(c.id == chunks[0].id and c.model == "rag-news" for c in chunks)


def test_raw_stream_ends_with_done(base_url):
    body = {"model": "rag-news", "stream": True, "messages": [{"role": "user", "content": "Who is Bowen Zhang?"}]}
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", json=body, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line[len("data: "):] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["citations"]
    assert all("citations" not in c for c in chunks[:-1])


def test_history_reaches_the_model(client, llm):
    client.chat.completions.create(model="rag-news", messages=[
        {"role": "system", "content": "ignored: the API uses its own prompt"},
        {"role": "user", "content": "Who is Bowen Zhang?"},
        {"role": "assistant", "content": "An Apple AI researcher who left for Meta [1]."},
        {"role": "user", "content": [{"type": "text", "text": "How much could Ruoming Pang earn?"}]},
    ])
    prompt = llm.calls[-1][-1]["content"]
    assert "Earlier in this conversation" in prompt and "Who is Bowen Zhang?" in prompt
    assert "How much could Ruoming Pang earn?" in prompt


def test_refusal(client):
    question = "Who won the World Cup in 2022?"
    response = client.chat.completions.create(model="rag-news", messages=[{"role": "user", "content": question}])
    assert response.model_extra["refused"] is True
    assert response.model_extra["citations"] == []
    assert response.choices[0].message.content == refusal_text("en")
    # Streamed, "NOT FOUND" is held back and the localised refusal comes instead.
    chunks = list(client.chat.completions.create(model="rag-news", stream=True,
                                                 messages=[{"role": "user", "content": question}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == refusal_text("en")
    assert chunks[-1].model_extra["refused"] is True


def test_extras_pick_backend_and_passages(client):
    response = client.chat.completions.create(
        model="rag-news", messages=[{"role": "user", "content": "Shengjia Zhao scientifique en chef"}],
        extra_body={"rag_llm": "extractive", "top_k": 2})
    extra = response.model_extra
    assert extra["rag"]["backend"] == "extractive"
    assert 1 <= len(extra["citations"]) <= 2
    assert "Shengjia Zhao" in response.choices[0].message.content


def test_models_and_health(client, base_url, env):
    assert [m.id for m in client.models.list()] == ["rag-news"]
    health = httpx.get(f"{base_url}/health").json()
    _, store, _ = env
    assert {k: health[k] for k in ("status", "documents", "chunks")} == {
        "status": "ok", "documents": 3, "chunks": store.count()}
    assert health["queue"]["max_running"] <= 1  # one generation at a time
    assert httpx.get(f"{base_url}/v1/models/rag-news").json()["id"] == "rag-news"


# -- bad requests ---------------------------------------------------------------------
USER = [{"role": "user", "content": "Who is Bowen Zhang?"}]


@pytest.mark.parametrize("body,code", [
    (b"{not json", "invalid_json"),
    (b"[1, 2]", "invalid_json"),
    ({"model": "rag-news"}, "invalid_request"),  # no messages
    ({"model": "rag-news", "messages": []}, "missing_messages"),
    ({"model": "rag-news", "messages": [{"role": "system", "content": "hi"}]}, "no_user_message"),
    ({"model": "rag-news", "messages": [{"role": "user", "content": "   "}]}, "empty_question"),
    ({"model": "rag-news", "messages": [{"role": "user", "content": "x" * 2500}]}, "question_too_long"),
    ({"model": "rag-news", "messages": "Who is Bowen Zhang?"}, "invalid_request"),
    ({"model": "rag-news", "messages": [{"role": "robot", "content": "hi"}]}, "invalid_request"),
    ({"model": "rag-news", "messages": [{"role": "user", "content": 42}]}, "invalid_request"),
    ({"model": "rag-news", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     "invalid_request"),
    ({"model": "rag-news", "messages": USER, "top_k": "3"}, "invalid_request"),
    ({"model": "rag-news", "messages": USER, "top_k": 0}, "invalid_request"),
    ({"model": "rag-news", "messages": USER, "stream": "yes"}, "invalid_request"),
    ({"model": "rag-news", "messages": USER, "rag_llm": "gpt-5"}, "invalid_request"),
    ({"model": 7, "messages": USER}, "invalid_request"),
    ({"model": "rag-news", "messages": USER, "n": 2}, "invalid_request"),
    ({"model": "rag-news", "messages": USER, "surprise": True}, "invalid_request"),
])
def test_bad_requests_get_openai_shaped_400s(base_url, body, code):
    if isinstance(body, bytes):
        response = httpx.post(f"{base_url}/v1/chat/completions", content=body,
                              headers={"content-type": "application/json"})
    else:
        response = httpx.post(f"{base_url}/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["type"] == "invalid_request_error"
    assert error["message"] and "Traceback" not in error["message"]


def test_unknown_field_message_names_it(base_url):
    response = httpx.post(f"{base_url}/v1/chat/completions", json={"messages": USER, "surprise": 1})
    assert response.json()["error"]["message"] == "Unrecognized request argument supplied: surprise"


def test_text_part_without_text_message_says_so(base_url):
    body = {"messages": [{"role": "user", "content": [{"type": "text"}]}]}
    error = httpx.post(f"{base_url}/v1/chat/completions", json=body).json()["error"]
    assert error["message"] == "messages.0.content: Value error, a 'text' content part needs a 'text' string"


def test_standard_openai_parameters_are_accepted(client):
    response = client.chat.completions.create(model="rag-news", messages=USER, temperature=0.7, top_p=0.9,
                                              max_tokens=100, seed=1, user="me", presence_penalty=0)
    assert response.choices[0].message.content


def test_client_raises_bad_request(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="rag-news", messages=[{"role": "user", "content": ""}])
    assert info.value.body["code"] == "empty_question"


def test_unknown_route_is_openai_shaped(base_url):
    response = httpx.get(f"{base_url}/v1/nothing-here")
    assert response.status_code == 404 and "error" in response.json()
    assert httpx.get(f"{base_url}/v1/models/gpt-4").status_code == 404


# -- the service unavailable --------------------------------------------------------------
class FailingLLM:
    name = "failing"

    def __init__(self, exc: BaseException, after: str = "") -> None:
        self.exc, self.after = exc, after

    def stream(self, messages, *, max_tokens, temperature):
        if not is_answer_prompt(messages):
            yield echo_question(messages)
            return
        if self.after:
            yield self.after
        raise self.exc


def test_empty_index_is_503(tmp_path):
    config, store, embedder = _make_env(tmp_path, "empty-test", with_articles=False)
    with serving(create_app(config, store=store, embedder=embedder, llm=FakeLLM())) as url:
        for stream in (False, True):
            response = httpx.post(f"{url}/v1/chat/completions", json={"messages": USER, "stream": stream})
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "index_empty"
            assert "ingest.py" in response.json()["error"]["message"]
        health = httpx.get(f"{url}/health").json()
        assert {k: health[k] for k in ("status", "documents", "chunks")} == {"status": "ok", "documents": 0, "chunks": 0}


def test_model_errors(env):
    config, store, embedder = env
    with serving(create_app(config, store=store, embedder=embedder,
                            llm=FailingLLM(LLMError("cannot load the model")))) as url:
        for stream in (False, True):
            response = httpx.post(f"{url}/v1/chat/completions", json={"messages": USER, "stream": stream})
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "model_unavailable"
            assert "cannot load the model" in response.json()["error"]["message"]
    for exc in (KeyError("boom"), ValueError("boom")):  # a ValueError from inside is not a bad request
        with serving(create_app(config, store=store, embedder=embedder, llm=FailingLLM(exc))) as url:
            response = httpx.post(f"{url}/v1/chat/completions", json={"messages": USER})
            assert response.status_code == 500
            assert response.json()["error"]["code"] == "internal_error"
            assert "boom" not in response.text and "Traceback" not in response.text


def test_error_in_the_middle_of_a_stream(env):
    config, store, embedder = env
    app = create_app(config, store=store, embedder=embedder, llm=FailingLLM(LLMError("server went away"), "Bowen"))
    with serving(app) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.APIError, match="server went away"):
            list(client.chat.completions.create(model="rag-news", messages=USER, stream=True))


# -- one generation at a time, /health stays responsive --------------------------------------
class GatedLLM:
    """Blocks until released; records how many generations ran at once."""

    name = "gated"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.running = 0
        self.max_running = 0
        self._lock = threading.Lock()

    def stream(self, messages, *, max_tokens, temperature):
        if not is_answer_prompt(messages):
            yield echo_question(messages)
            return
        with self._lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        self.started.set()
        try:
            self.release.wait(20)
            yield "Bowen Zhang went to Meta [1]."
        finally:
            with self._lock:
                self.running -= 1


def test_generation_is_serialised_and_health_stays_responsive(env):
    config, store, embedder = env
    llm = GatedLLM()
    with serving(create_app(config, store=store, embedder=embedder, llm=llm)) as url:
        results: list[int] = []

        def ask() -> None:
            r = httpx.post(f"{url}/v1/chat/completions", json={"messages": USER}, timeout=30)
            results.append(r.status_code)

        threads = [threading.Thread(target=ask) for _ in range(2)]
        for t in threads:
            t.start()
        assert llm.started.wait(10)
        t0 = time.monotonic()
        health = httpx.get(f"{url}/health", timeout=5)
        assert health.status_code == 200 and time.monotonic() - t0 < 2
        llm.release.set()
        for t in threads:
            t.join(30)
        assert results == [200, 200]
        assert llm.max_running == 1


# -- the streaming view ---------------------------------------------------------------
def test_streaming_view_renumbers_and_holds_back():
    view = StreamingCitationView(passages=3)
    shown = "".join(view.feed(d) for d in ["Pang joined Meta ", "[", "3", "] in 2025 [9", "] and ", "left [1]."])
    assert shown == "Pang joined Meta [1] in 2025 and left [2]."
    assert view.finish("Pang joined Meta [1] in 2025 and left [2].") == ""

    refusal = StreamingCitationView(passages=3)
    assert refusal.feed("NOT") == "" and refusal.feed(" FOUND") == ""
    assert refusal.finish("Les articles ne le disent pas.") == "Les articles ne le disent pas."

    repaired = StreamingCitationView(passages=3)
    assert repaired.feed("In 2021.") == "In 2021."
    assert repaired.finish("In 2021 [1].") is None  # cannot extend: the final text replaces it


class SlowLLM:
    """Writes 200 pieces, 20 ms apart; records whether it was stopped early."""

    name = "slow"

    def __init__(self) -> None:
        self.pieces = 0
        self.closed = threading.Event()

    def stream(self, messages, *, max_tokens, temperature):
        if not is_answer_prompt(messages):
            yield echo_question(messages)
            return
        try:
            for _ in range(200):
                self.pieces += 1
                time.sleep(0.02)
                yield "word "
        finally:
            self.closed.set()


def test_a_disconnected_stream_stops_generating(env):
    config, store, embedder = env
    llm = SlowLLM()
    with serving(create_app(config, store=store, embedder=embedder, llm=llm)) as url:
        body = {"model": "rag-news", "stream": True, "messages": USER}
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=30) as response:
            for line in response.iter_lines():
                if '"content": "word' in line:
                    break
        assert llm.closed.wait(5)
        assert llm.pieces < 100
