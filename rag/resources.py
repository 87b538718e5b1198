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
