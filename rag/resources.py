"""What a long-running app (the UI, the HTTP API) opens once: config, embedder, store and
an optional model, lazily and thread-safely. Tests pass fakes in instead."""

from __future__ import annotations

import logging
import threading

from .config import RAGConfig

log = logging.getLogger(__name__)


class Resources:
    def __init__(self, config: RAGConfig | None = None, *, store=None, embedder=None, llm=None) -> None:
        self.config = config or RAGConfig.from_env()
        self._store = store
        self._embedder = embedder
        self.llm = llm  # used for the local/openai backends when given (tests)
        self._open_lock = threading.Lock()

    def embedder(self):
        if self._embedder is None:
            with self._open_lock:
                if self._embedder is None:
                    from .embeddings import get_embedder

                    self._embedder = get_embedder(config=self.config)
        return self._embedder

    def store(self):
        if self._store is None:
            embedder = self.embedder()
            with self._open_lock:
                if self._store is None:
                    from .store import open_store

                    self._store = open_store(config=self.config, embedder=embedder)
        return self._store

    def load_model(self) -> None:
        """Load the local model now (1-3 s), in the main thread before the app prints its
        address: llama.cpp silences stdout and stderr, of every thread, while it loads (in
        a background warm-up it swallowed "Chat UI on http://..."). A failure is only
        logged: the first question reports it, and the other backends still work."""
        if self.llm is not None or self.config.llm != "local":
            return
        try:
            from .llm import get_llm

            get_llm(config=self.config)  # kept by get_llm for every later question
        except Exception as exc:
            log.warning("loading the model failed (the first question will say why): %s", exc)

    def warm_up(self) -> None:
        """Open the index and load the language detector and the model now (call it in a
        background thread at start), so the first question does not wait for them. A
        failure is only logged: the first question reports it to the user."""
        try:
            from .answer import warm_up

            self.store()
            timings = warm_up(config=self.config, llm=self.llm)
        except Exception as exc:
            log.warning("warming up failed (the first question will say why): %s", exc)
            return
        log.info("ready: %s", ", ".join(f"{name} {seconds:.1f}s" for name, seconds in timings.items()))


# Below this much free space a failed write is taken for a full disk (Chroma reports one
# as "Error in compaction: Failed to apply logs to the metadata segment").
FULL_DISK_BYTES = 1 << 20


def describe_index_error(exc: BaseException, *, config: RAGConfig) -> str | None:
    """One sentence naming why the index could not be read or written (server gone,
    disk full, folder unusable, files damaged) and what to do; None when ``exc`` is no
    such failure. The apps show it instead of a traceback (docs/robustness.md)."""
    import errno
    import shutil
    from pathlib import Path

    text = f"{type(exc).__name__}: {exc}"
    if config.store_backend == "http" and _is_connection_error(exc):
        return (f"The index server (Chroma at {config.chroma_host}:{config.chroma_port}) does not answer "
                f"({exc}). Start it, or check RAG_CHROMA_HOST and RAG_CHROMA_PORT; questions work again "
                "as soon as it is back.")
    if config.store_backend == "http":
        return None
    if config.store_backend == "qdrant":
        cause = _describe_qdrant_error(exc, config=config)
        if cause or config.qdrant_url:
            return cause
    folder = Path(config.data_dir)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    free = shutil.disk_usage(existing).free if existing is not None and existing.is_dir() else None
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC or (free is not None and free < FULL_DISK_BYTES and _is_store_error(exc)):
        return (f"The disk holding the index ({folder}) is full ({(free or 0) // 1024} KB free): free some "
                "space and run the ingest again; what was indexed before stays.")
    filename = getattr(exc, "filename", None)
    in_folder = filename is None or _within(Path(str(filename)), folder)
    if code in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR) and in_folder:
        return (f"The data folder {folder} cannot be used: {exc.strerror} ({exc.filename}). "
                "Set RAG_DATA_DIR to a folder this user can write.")
    if any(word in text for word in ("not a database", "malformed", "corrupt", "database disk image")):
        engine = "qdrant" if config.store_backend == "qdrant" else "chroma"
        return (f"The index in {folder / engine} is damaged ({exc}). Move that folder aside and rebuild "
                "the index: python ingest.py --reset (or restore a backup of it).")
    return None


def _describe_qdrant_error(exc: BaseException, *, config: RAGConfig) -> str | None:
    """describe_index_error's sentence for store_backend=qdrant: the package missing, the
    server gone or refusing the key, the local-mode folder held by another process."""
    from pathlib import Path

    from .store_qdrant import QdrantUnavailableError

    if isinstance(exc, QdrantUnavailableError):
        return str(exc)
    if config.qdrant_url and _is_connection_error(exc):
        return (f"The index server (Qdrant at {config.qdrant_url}) does not answer ({exc}). Start it, or check "
                "RAG_QDRANT_URL; questions work again as soon as it is back.")
    if config.qdrant_url and any(code in str(exc) for code in ("401", "403", "Unauthorized", "Forbidden")):
        return (f"The Qdrant server at {config.qdrant_url} refused the request ({exc}): check RAG_QDRANT_API_KEY.")
    if "already accessed by another instance" in str(exc):
        return (f"The index in {Path(config.data_dir) / 'qdrant'} is open in another process: Qdrant's local mode "
                "serves one process at a time. Stop that one, or run a Qdrant server and set RAG_QDRANT_URL "
                "(docs/scale.md).")
    return None


def _within(path, folder) -> bool:
    """Whether ``path`` is ``folder``, in it, or one of the folders on the way to it (a data
    folder that is a file, or one that cannot be created, fails there)."""
    try:
        path, folder = path.resolve(), folder.resolve()
    except (OSError, RuntimeError):
        return True
    return path == folder or path in folder.parents or folder in path.parents


def _is_connection_error(exc: BaseException) -> bool:
    seen = exc
    while seen is not None:
        name = type(seen).__name__
        if name in ("ConnectError", "ConnectTimeout", "ReadTimeout", "RemoteProtocolError", "ReadError",
                    "ConnectionRefusedError", "ConnectionResetError") or "Connection refused" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_store_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) or type(exc).__module__.startswith(("chromadb", "sqlite3", "qdrant_client"))
