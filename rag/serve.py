"""An OpenAI-compatible HTTP API over the cited question answering.

    python -m rag.serve [--host 127.0.0.1] [--port 8000] [--no-ingest]

``POST /v1/chat/completions`` answers the last user message from the indexed articles,
with the earlier user/assistant messages as the conversation; the answer keeps its [n]
markers and the response carries the passages they point to as an extra top-level
``citations`` field (and ``refused``). Streaming (``"stream": true``) uses OpenAI's
chunk format and puts ``citations`` on the final chunk, the one with
``finish_reason: "stop"``. ``GET /v1/models`` and ``GET /health`` complete the API.

Generation is serialised on one worker thread (one llama.cpp context), so the event
loop stays free to answer ``/health`` while a long answer is being written.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import logging
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Literal

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from fastapi import FastAPI, Request  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import JSONResponse, StreamingResponse  # noqa: E402
from pydantic import (  # noqa: E402
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

from .answer import (  # noqa: E402
    MAX_QUESTION_CHARS,
    RETRIEVAL_GATE,
    VERSION_GATE,
    YEAR_GATE,
    Answer,
    Citation,
    EmptyIndexError,
)
from .chunking import approximate_token_count  # noqa: E402
from .citations import cited_numbers, renumber_citations  # noqa: E402
from .config import RAGConfig  # noqa: E402
from .resources import Resources, describe_index_error  # noqa: E402
from .llm import LLMError  # noqa: E402

log = logging.getLogger("rag.serve")

MODEL_ID = "rag-news"
MAX_TOP_K = 20
# Standard chat-completions parameters: accepted (type-checked loosely) and ignored,
# so stock OpenAI clients work; anything else is rejected like OpenAI does.
IGNORED_OPENAI_FIELDS = (
    "frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "top_logprobs", "top_p",
    "response_format", "seed", "stop", "tools", "tool_choice", "parallel_tool_calls", "functions",
    "function_call", "user", "metadata", "store", "service_tier", "reasoning_effort", "modalities",
    "audio", "prediction", "web_search_options", "verbosity", "prompt_cache_key", "safety_identifier",
)


# -- request models ----------------------------------------------------------------------
class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: StrictStr
    text: StrictStr | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")  # name, tool_calls, refusal, ...
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: StrictStr | list[ContentPart] | None = None

    @field_validator("content")
    @classmethod
    def _text_parts_only(cls, value):
        if isinstance(value, list):
            for part in value:
                if part.type not in ("text", "input_text"):
                    raise ValueError(f"only text content parts are supported, not {part.type!r}")
                if part.text is None:
                    raise ValueError(f"a {part.type!r} content part needs a 'text' string")
        return value

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text or "" for part in self.content)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: StrictBool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: StrictStr = MODEL_ID
    messages: list[ChatMessage]
    stream: StrictBool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: StrictInt | None = Field(None, ge=1, le=8192)
    max_completion_tokens: StrictInt | None = Field(None, ge=1, le=8192)
    temperature: StrictFloat | None = Field(None, ge=0, le=2)  # accepted; answers use the config's
    n: StrictInt | None = Field(None, ge=1, le=1)
    # Extras of this API.
    top_k: StrictInt | None = Field(None, ge=1, le=MAX_TOP_K)
    rag_llm: Literal["local", "openai", "extractive"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_ignored_fields(cls, data):
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in IGNORED_OPENAI_FIELDS}
        return data


# -- errors ------------------------------------------------------------------------------
class APIError(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param
        self.headers = headers

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


class QueueFullError(RuntimeError):
    """More requests wait for the model than ``api_max_waiting``."""


class QueueTimeoutError(RuntimeError):
    """A request waited ``api_queue_timeout`` seconds for the model without getting it."""


def api_error_for(exc: BaseException, config: RAGConfig | None = None) -> APIError:
    """The client-facing error for an exception raised while answering."""
    from .resources import describe_index_error
    from .store import EmbedderMismatchError

    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, (QueueFullError, QueueTimeoutError)):
        retry = {"Retry-After": str(getattr(exc, "retry_after", 5))}
        if isinstance(exc, QueueFullError):
            return APIError(429, str(exc), type="rate_limit_error", code="rate_limit_exceeded", headers=retry)
        return APIError(503, str(exc), type="server_error", code="server_busy", headers=retry)
    if isinstance(exc, EmptyIndexError):
        return APIError(503, f"{exc}", type="server_error", code="index_empty")
    if isinstance(exc, LLMError):
        return APIError(503, f"The language model is unavailable: {exc}", type="server_error",
                        code="model_unavailable")
    if isinstance(exc, EmbedderMismatchError):
        return APIError(503, str(exc), type="server_error", code="index_mismatch")
    cause = describe_index_error(exc, config=config) if config is not None else None
    if cause:
        log.error("the index is unavailable: %s", exc)
        return APIError(503, cause, type="server_error", code="store_unavailable", headers={"Retry-After": "10"})
    # The question was validated before generation started, so any other error
    # (a ValueError from deep inside included) is the server's, not the client's.
    log.error("unexpected error while answering", exc_info=exc)
    return APIError(500, "Internal error while answering; the server log has the details.",
                    type="server_error", code="internal_error")


def _validation_message(exc: ValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    first = errors[0] if errors else {}
    loc = ".".join(str(p) for p in first.get("loc", ()))
    if first.get("type") == "extra_forbidden":
        return f"Unrecognized request argument supplied: {loc}", loc
    message = f"{loc}: {first.get('msg', 'invalid value')}" if loc else str(first.get("msg", "invalid request"))
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return message, loc or None


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes before it is all read."""
    too_large = APIError(413, f"The request body is larger than {limit} bytes.", code="request_too_large")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise too_large
        parts.append(part)
    return b"".join(parts)


def parse_json_object(raw: bytes) -> dict:
    """The body as a JSON object; malformed, nested past Python's recursion limit, not
    UTF-8 or holding unpaired surrogates (which no reply could encode) is a 400."""
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"The body is not valid JSON: {str(exc)[:200]}", code="invalid_json")
    except RecursionError:
        raise APIError(400, "The body is not valid JSON: nested too deeply", code="invalid_json")
    if not isinstance(payload, dict):
        raise APIError(400, "The body must be a JSON object", code="invalid_json")
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise APIError(400, "The body holds an unpaired UTF-16 surrogate (\\ud800-\\udfff escape); "
                            "send valid Unicode text.", code="invalid_json")
    except (ValueError, RecursionError):  # NaN is accepted by loads and dumps; deep nesting is not
        raise APIError(400, "The body is not valid JSON: nested too deeply", code="invalid_json")
    return payload


# -- streaming text view -----------------------------------------------------------------
_OPENERS = "[【［"
_CLOSERS = "]】］"


class StreamingCitationView:
    """What to show of a streamed answer so that it grows into the final text.

    ``ask_stream`` yields the model's raw words, but the final Answer renumbers the
    markers by first appearance ([3] first becomes [1]), drops markers that point
    nowhere and rewords refusals. This view applies the same marker rules to the raw
    text as it grows and holds back an unfinished marker or a beginning "NOT FOUND", so
    in the usual case the streamed text is exactly a prefix of the final one.
    ``feed`` returns the text to append; ``finish`` the rest of the final text, or None
    when the final text does not extend what was already shown.
    """

    def __init__(self, passages: int) -> None:
        self.passages = passages
        self.raw = ""
        self.shown = ""

    def _view(self) -> str:
        raw = self.raw
        last_open = max(raw.rfind(c) for c in _OPENERS)
        if last_open >= 0 and not any(c in raw[last_open:] for c in _CLOSERS) and len(raw) - last_open <= 16:
            raw = raw[:last_open]
        stripped = raw.strip().upper().replace("_", " ")
        if stripped and "NOT FOUND".startswith(stripped[:9]) and len(stripped) <= 10:
            return ""
        valid = [n for n in cited_numbers(raw) if 1 <= n <= self.passages]
        mapping = {old: new for new, old in enumerate(valid, start=1)}
        return renumber_citations(raw, mapping)

    def feed(self, delta: str) -> str:
        self.raw += delta
        view = self._view()
        if view.startswith(self.shown) and len(view) > len(self.shown):
            added, self.shown = view[len(self.shown):], view
            return added
        return ""

    def finish(self, final_text: str) -> str | None:
        if final_text.startswith(self.shown):
            rest, self.shown = final_text[len(self.shown):], final_text
            return rest
        return None


# -- the service -------------------------------------------------------------------------
def citation_dict(c: Citation) -> dict:
    return {
        "n": c.n, "doc_id": c.doc_id, "title": c.title, "language": c.language, "text": c.text,
        "start": c.start, "end": c.end, "score": round(float(c.score), 6), "chunk_id": c.chunk_id,
        "highlight_start": c.highlight_start, "highlight_end": c.highlight_end,
    }


class GenerationQueue:
    """Who waits for the one generation thread: admission (429 past ``max_waiting``), the
    waits measured, and how many generations ever ran at once (must stay 1)."""

    def __init__(self, max_waiting: int) -> None:
        self.max_waiting = max_waiting
        self.waiting = 0
        self.running = 0
        self.max_running = 0
        self.waits: list[float] = []  # seconds from admission to start, newest last (bounded)
        self.durations: list[float] = []  # seconds per generation
        self._lock = threading.Lock()

    def admit(self) -> None:
        with self._lock:
            if self.waiting >= self.max_waiting:
                exc = QueueFullError(f"Too many requests are waiting for the model ({self.waiting}); "
                                     "retry after the time in Retry-After.")
                exc.retry_after = self.retry_after()
                raise exc
            self.waiting += 1

    def retry_after(self) -> int:
        recent = self.durations[-20:]
        per_request = sum(recent) / len(recent) if recent else 5.0
        return max(1, min(120, round(per_request * (self.waiting + 1))))

    def began(self, waited: float) -> None:
        with self._lock:
            self.waiting -= 1
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self.waits = (self.waits + [waited])[-10_000:]

    def ended(self, seconds: float) -> None:
        with self._lock:
            self.running -= 1
            self.durations = (self.durations + [seconds])[-1000:]

    def left_unstarted(self) -> None:
        with self._lock:
            self.waiting -= 1

    def snapshot(self) -> dict:
        with self._lock:
            return {"waiting": self.waiting, "running": self.running, "max_running": self.max_running,
                    "started": len(self.waits)}


class RAGService(Resources):
    """Config, store, embedder and model, opened lazily once; one generation at a time."""

    def __init__(self, config: RAGConfig | None = None, *, store=None, embedder=None, llm=None) -> None:
        super().__init__(config, store=store, embedder=embedder, llm=llm)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-generate")
        self.queue = GenerationQueue(self.config.api_max_waiting)

    def request_config(self, request: ChatCompletionRequest) -> RAGConfig:
        changes: dict[str, Any] = {}
        if request.top_k is not None:
            changes["top_k"] = request.top_k
            changes["candidates"] = max(self.config.candidates, request.top_k)
        if request.rag_llm is not None:
            changes["llm"] = request.rag_llm
        max_tokens = request.max_completion_tokens or request.max_tokens
        if max_tokens is not None:
            changes["max_tokens"] = max_tokens
        config = self.config.replace(**changes) if changes else self.config
        config.validate()
        return config

    def start(self, question: str, history: list[dict], config: RAGConfig
              ) -> tuple[asyncio.Queue, threading.Event]:
        """Queue a generation on the worker thread; its items arrive on the returned queue
        as ("started", seconds waited), ("item", str | Answer), ("error", exc) and finally
        ("done", None). Raises QueueFullError when too many already wait."""
        from .answer import ask_stream

        self.queue.admit()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()
        admitted = time.monotonic()

        def put(kind: str, value) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
            except RuntimeError:  # the loop is gone (shutdown)
                pass

        def job() -> None:
            items = None
            if cancel.is_set():  # the request gave up waiting (timeout, disconnect)
                self.queue.left_unstarted()
                put("done", None)
                return
            began = time.monotonic()
            self.queue.began(began - admitted)
            put("started", began - admitted)
            try:
                llm = None if config.llm == "extractive" else self.llm
                items = ask_stream(question, config=config, history=history, store=self.store(),
                                   embedder=self.embedder(), llm=llm)
                for item in items:
                    put("item", item)
                    if cancel.is_set():
                        break
            except BaseException as exc:  # handed to the request, which decides what the client sees
                put("error", exc)
            finally:
                if items is not None:
                    items.close()
                self.queue.ended(time.monotonic() - began)
                put("done", None)

        self.executor.submit(job)
        return queue, cancel

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


async def _wait_for_start(queue: asyncio.Queue, cancel: threading.Event, timeout: float, service) -> None:
    """Wait until the generation thread takes the request; past ``timeout`` give up with 503."""
    try:
        kind, value = await asyncio.wait_for(queue.get(), timeout)
    except asyncio.TimeoutError:
        cancel.set()
        exc = QueueTimeoutError(f"The model was busy for {timeout:g} s; retry after the time in Retry-After.")
        exc.retry_after = service.queue.retry_after()
        raise exc from None
    if kind != "started":  # "done" for a cancelled job: nothing ran
        queue.put_nowait((kind, value))


async def _drain(queue: asyncio.Queue) -> AsyncIterator[str | Answer]:
    while True:
        kind, value = await queue.get()
        if kind == "done":
            return
        if kind == "error":
            raise value
        if kind == "item":
            yield value


def _conversation(messages: list[ChatMessage]) -> tuple[str, list[dict]]:
    """The last user message is the question; earlier user/assistant turns the history."""
    if not messages:
        raise APIError(400, "messages must contain at least one message", code="missing_messages",
                       param="messages")
    user_indexes = [i for i, m in enumerate(messages) if m.role == "user"]
    if not user_indexes:
        raise APIError(400, "messages must contain a user message (the question)", code="no_user_message",
                       param="messages")
    last = user_indexes[-1]
    question = messages[last].text().strip()
    if not question:
        raise APIError(400, "The question (the last user message) is empty.", code="empty_question",
                       param="messages")
    if len(question) > MAX_QUESTION_CHARS:
        raise APIError(400, f"The question is too long ({len(question)} characters; at most "
                            f"{MAX_QUESTION_CHARS}).", code="question_too_long", param="messages")
    # Earlier turns only resolve pronouns, and only the last few are read: each is cut to
    # the question limit so a huge history cannot reach the model's context.
    history = [{"role": m.role, "content": m.text()[:MAX_QUESTION_CHARS]}
               for m in messages[:last] if m.role in ("user", "assistant")]
    return question, history


def _usage(question: str, history: list[dict], answer: Answer, top_k: int) -> dict:
    """Rough token counts: the question, history and passages in, the answer out."""
    prompt = approximate_token_count(question) + sum(approximate_token_count(m["content"]) for m in history)
    if answer.backend not in (RETRIEVAL_GATE, YEAR_GATE, VERSION_GATE, "extractive"):
        prompt += 120 + sum(approximate_token_count(h.chunk.text) for h in answer.retrieved[:top_k])
    completion = approximate_token_count(answer.text)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _answer_extras(answer: Answer) -> dict:
    return {
        "citations": [citation_dict(c) for c in answer.citations],
        "refused": answer.refused,
        "rag": {"language": answer.language, "backend": answer.backend,
                "timings": {k: round(v, 4) for k, v in answer.timings.items()}},
    }


def _sse(data: dict | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {payload}\n\n"


# -- the app -----------------------------------------------------------------------------
def create_app(config: RAGConfig | None = None, *, store=None, embedder=None, llm=None) -> FastAPI:
    """The API app; pass ``store``/``embedder``/``llm`` to use them instead of the configured ones."""
    service = RAGService(config, store=store, embedder=embedder, llm=llm)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        service.close()

    app = FastAPI(title="rag-news", version="0.1.0", lifespan=lifespan,
                  description="OpenAI-compatible, cited question answering over news articles.")
    app.state.service = service

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        kind = "not_found" if exc.status_code == 404 else "invalid_request_error"
        return APIError(exc.status_code, str(exc.detail), type=kind, code=str(exc.status_code)).response()

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        return APIError(400, str(exc.errors()[:1]), code="invalid_request").response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.error("unhandled error on %s", request.url.path, exc_info=exc)
        return APIError(500, "Internal server error; the server log has the details.", type="server_error",
                        code="internal_error").response()

    if service.config.api_key:
        key = service.config.api_key.encode()

        @app.middleware("http")
        async def _require_key(request: Request, call_next):
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key):
                return APIError(401, "Incorrect or missing API key: send it as 'Authorization: Bearer <key>' "
                                     "(the server's RAG_API_KEY).", code="invalid_api_key",
                                headers={"WWW-Authenticate": "Bearer"}).response()
            return await call_next(request)

    @app.get("/health")
    def health():
        try:
            store_ = service.store()
            documents = store_.document_count()  # kept per change of the index, not read per call
            chunks = store_.count()
        except Exception as exc:
            log.error("health check failed", exc_info=exc)
            message = describe_index_error(exc, config=service.config) or str(exc)
            return JSONResponse({"status": "error", "error": {"message": message, "type": "server_error",
                                                              "code": "store_unavailable"}}, status_code=503)
        return {"status": "ok", "documents": documents, "chunks": chunks, "queue": service.queue.snapshot()}

    def _model_card() -> dict:
        return {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "rag-news"}

    @app.get("/v1/models")
    def list_models():
        return {"object": "list", "data": [_model_card()]}

    @app.get("/v1/models/{model_id}")
    def get_model(model_id: str):
        if model_id != MODEL_ID:
            raise APIError(404, f"The model '{model_id}' does not exist", code="model_not_found", param="model")
        return _model_card()

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        payload = parse_json_object(await read_body(request, service.config.api_max_body_bytes))
        try:
            body = ChatCompletionRequest.model_validate(payload)
        except ValidationError as exc:
            message, param = _validation_message(exc)
            raise APIError(400, message, code="invalid_request", param=param)
        question, history = _conversation(body.messages)
        try:
            config = service.request_config(body)
        except ValueError as exc:
            raise APIError(400, str(exc), code="invalid_request")

        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        try:
            queue, cancel = service.start(question, history, config)
            await _wait_for_start(queue, cancel, service.config.api_queue_timeout, service)
        except (QueueFullError, QueueTimeoutError) as exc:
            return api_error_for(exc, config).response()
        items = _drain(queue)

        if not body.stream:
            answer = None
            try:
                async for item in items:
                    if isinstance(item, Answer):
                        answer = item
            except BaseException as exc:
                cancel.set()
                if isinstance(exc, asyncio.CancelledError):
                    raise
                return api_error_for(exc, config).response()
            if answer is None:
                return api_error_for(RuntimeError("the generation ended without an answer")).response()
            return {
                "id": completion_id, "object": "chat.completion", "created": created, "model": body.model,
                "system_fingerprint": None,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text, "refusal": None},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": _usage(question, history, answer, config.top_k),
                **_answer_extras(answer),
            }

        # Stream: wait for the first item so that errors before any text (empty index,
        # model not loadable) still get a proper status code.
        try:
            first = await items.__anext__()
        except StopAsyncIteration:
            return api_error_for(RuntimeError("the generation ended without an answer")).response()
        except BaseException as exc:
            cancel.set()
            if isinstance(exc, asyncio.CancelledError):
                raise
            return api_error_for(exc, config).response()

        include_usage = bool(body.stream_options and body.stream_options.include_usage)

        def chunk(delta: dict, finish_reason: str | None = None, **extra) -> str:
            return _sse({
                "id": completion_id, "object": "chat.completion.chunk", "created": created, "model": body.model,
                "system_fingerprint": None,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
                **extra,
            })

        async def events() -> AsyncIterator[str]:
            view = StreamingCitationView(config.top_k)
            try:
                yield chunk({"role": "assistant", "content": ""})
                item = first
                while not isinstance(item, Answer):
                    added = view.feed(item)
                    if added:
                        yield chunk({"content": added})
                    item = await items.__anext__()
                answer = item
                rest = view.finish(answer.text)
                yield chunk({"content": rest} if rest else {}, "stop",
                            final_text=answer.text, **_answer_extras(answer))
                if include_usage:
                    yield _sse({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                                "model": body.model, "choices": [],
                                "usage": _usage(question, history, answer, config.top_k)})
                yield _sse("[DONE]")
            except StopAsyncIteration:
                yield _sse(api_error_for(RuntimeError("the generation ended without an answer")).body())
            except Exception as exc:  # after the 200 went out: an error event, like OpenAI's
                yield _sse(api_error_for(exc, config).body())
            finally:
                cancel.set()

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return app


# -- command line ------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server reachable from this machine only."""
    import ipaddress

    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.serve",
                                     description="OpenAI-compatible API over the indexed articles.")
    parser.add_argument("--host", default=os.environ.get("RAG_API_HOST", "127.0.0.1"),
                        help="interface to bind (default 127.0.0.1; env RAG_API_HOST)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("RAG_API_PORT", "8000")),
                        help="port (default 8000; env RAG_API_PORT)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--no-ingest", action="store_true",
                        help="do not index seeds/ when the index is empty (RAG_INDEX_SEEDS_WHEN_EMPTY)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")

    try:
        config = RAGConfig.from_env()
        from .embeddings import get_embedder
        from .store import open_store

        embedder = get_embedder(config=config)
        store = open_store(config=config, embedder=embedder)
        if not args.no_ingest:
            from .indexing import ensure_indexed

            ensure_indexed(store=store, embedder=embedder, config=config)
        count = store.count()
    except Exception as exc:  # one clear line, not a traceback
        cause = describe_index_error(exc, config=config) if "config" in locals() else None
        print(f"error: {cause or exc}", file=sys.stderr)
        return 2
    if config.store_backend == "http" and config.chroma_port == args.port and args.host in (
            "127.0.0.1", "localhost", "0.0.0.0", config.chroma_host):
        print(f"error: port {args.port} is the Chroma server's (RAG_CHROMA_PORT); pick another --port",
              file=sys.stderr)
        return 2
    if not is_loopback(args.host) and not config.api_key:
        print(f"warning: binding {args.host} without an API key: anyone who can reach this port can ask "
              "questions. Set RAG_API_KEY to require 'Authorization: Bearer <key>'.", file=sys.stderr)
    if count == 0:
        print("warning: no articles are indexed yet; questions get 503 until you run: python ingest.py "
              "FOLDER_OR_FILES", file=sys.stderr)
    else:
        print(f"{count} chunks indexed in '{config.collection}'", file=sys.stderr)

    import uvicorn

    app = create_app(config, store=store, embedder=embedder)
    if count:
        app.state.service.load_model()  # before uvicorn logs: llama.cpp silences output while it loads
        # On the generation thread: a request arriving meanwhile waits for it, then runs warm.
        app.state.service.executor.submit(app.state.service.warm_up)
    print(f"OpenAI-compatible API on http://{args.host}:{args.port}/v1 (model '{MODEL_ID}')", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
