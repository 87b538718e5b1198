"""The Qdrant store: the interface of rag/store.py's ChunkStore on Qdrant, for an index that
outgrows one machine (Qdrant shards and replicates a collection over several nodes).

One collection per index, with three kinds of points (payload ``type``):

- ``chunk``: one per chunk, its dense vector (``dense``, cosine) and the chunk as payload;
- ``sentence``: one per sentence of a chunk that has latent terms: its sparse vector
  (``terms``, dot product: the latent terms, plus a marker term per answer kind the
  sentence holds, rag/answer_kind.py) and its chunk id, document id and number, so a
  sparse query grouped by chunk id scores a chunk by its best sentence, in the engine;
- ``meta``: one point without vectors: the embedder that filled the collection and the
  change counter (rag/store.py's CHANGE_KEY).

The chunk's dense vector is kept once, on its chunk point, not on each of its sentences:
the dense search then needs no grouping and the vector index holds each chunk once.
``QdrantClient(path=...)`` (no RAG_QDRANT_URL) is qdrant-client's local mode, a brute-force
Python implementation for trying the backend and for tests, usable by one process at a time.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Sequence

import numpy as np

from .chunking import Chunk
from .config import RAGConfig
from .store import (CHANGE_KEY, CHUNKS_KEY, TERM_SPACE, CatalogReads, EmbedderMismatchError, SentenceTermIndex,
                    _to_chunk, check_document, count_versions, sentence_kinds)

DENSE, TERMS = "dense", "terms"  # the collection's named vectors
_NAMESPACE = uuid.UUID("5b0c2a7e-6f1e-4f7a-9d0b-2f5d8c1e4a90")  # point ids are uuid5(chunk id[, sentence])
_META_ID = str(uuid.uuid5(_NAMESPACE, "rag-news:meta"))
_PAGE = 1000  # points per scroll page and per upsert
# Qdrant's grouped sparse search is asked for this many chunks beyond k: the exact
# scores (search_term_index) then pick the k, so a float32 near-tie at the k-th place in
# Qdrant's own summation order does not change which chunks are found.
_SEARCH_MARGIN = 10


class QdrantUnavailableError(RuntimeError):
    """store_backend=qdrant without qdrant-client installed."""


def _models():
    try:
        from qdrant_client import models
    except ImportError:
        raise QdrantUnavailableError(
            "RAG_STORE_BACKEND=qdrant needs the qdrant-client package: pip install -e '.[qdrant]' "
            "(or pip install qdrant-client)") from None
    return models


class _OneCallAtATime:
    """A local-mode client shared by threads: local mode is plain Python over in-memory
    arrays, not safe under concurrent calls (the UI writes an upload while it answers)."""

    def __init__(self, client) -> None:
        self._client, self._lock = client, threading.RLock()

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            with self._lock:
                return attr(*args, **kwargs)

        return call


# One local-mode client per folder in a process, as rag/store.py keeps one Chroma client
# per folder: local mode locks its folder, so a second client on it would fail.
_LOCAL_CLIENTS: dict[str, _OneCallAtATime] = {}
_LOCAL_CLIENTS_LOCK = threading.Lock()


def _local_client(path: str) -> _OneCallAtATime:
    from qdrant_client import QdrantClient

    with _LOCAL_CLIENTS_LOCK:
        if path not in _LOCAL_CLIENTS:
            Path(path).mkdir(parents=True, exist_ok=True)
            _LOCAL_CLIENTS[path] = _OneCallAtATime(QdrantClient(path=path))
        return _LOCAL_CLIENTS[path]


def _close_local_client(client) -> None:
    with _LOCAL_CLIENTS_LOCK:
        for path in [p for p, kept in _LOCAL_CLIENTS.items() if kept is client]:
            del _LOCAL_CLIENTS[path]


def open_qdrant_client(*, config: RAGConfig):
    """A client of the configured Qdrant server, or of local mode in <data_dir>/qdrant."""
    _models()
    if config.qdrant_url:
        from qdrant_client import QdrantClient

        return QdrantClient(url=config.qdrant_url, api_key=config.qdrant_api_key, timeout=60)
    return _local_client(str(Path(config.data_dir).resolve() / "qdrant"))


def _match(key: str, value) -> object:
    models = _models()
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _match_any(key: str, values: Sequence) -> object:
    models = _models()
    return models.FieldCondition(key=key, match=models.MatchAny(any=list(values)))


def _where(*conditions) -> object:
    return _models().Filter(must=list(conditions))


def _point_id(chunk_id: str, sentence: int | None = None) -> str:
    return str(uuid.uuid5(_NAMESPACE, chunk_id if sentence is None else f"{chunk_id}\x1f{sentence}"))


class QdrantChunkStore(CatalogReads):
    catalog_prefix = "qdrant"

    def __init__(self, client, collection_name: str, embedder_name: str, dim: int, *,
                 cache_dir: Path | str | None = None, remote: bool = False) -> None:
        self._client = client
        self.collection_name = collection_name
        self.embedder_name = embedder_name
        # Held by every write and by the reads of the whole index, as in ChunkStore.
        self._lock = threading.Lock()
        _ensure_collection(client, collection_name, dim, remote=remote)
        meta = self._meta()
        recorded = meta.get("embedder")
        if recorded and recorded != embedder_name:
            raise EmbedderMismatchError(
                f"The collection '{collection_name}' was built with the embedder '{recorded}', "
                f"but '{embedder_name}' is configured. Either set RAG_EMBEDDER back to what built it, "
                f"or rebuild the index with the new one: python ingest.py --reset"
            )
        self._init_catalog(cache_dir)
        if not recorded:
            self._write_meta({"embedder": embedder_name, "dim": dim, CHANGE_KEY: _next_token("")})

    def close(self) -> None:
        """Close the client: in local mode this frees the folder for another process
        (every store of this process on that folder is then closed too)."""
        self._client.close()
        _close_local_client(self._client)

    # -- the change counter --------------------------------------------------------------
    def _meta(self) -> dict:
        got = self._client.retrieve(self.collection_name, ids=[_META_ID], with_payload=True, with_vectors=False)
        return dict(got[0].payload or {}) if got else {}

    def _write_meta(self, payload: dict) -> None:
        point = _models().PointStruct(id=_META_ID, vector={}, payload={**payload, "type": "meta"})
        self._client.upsert(self.collection_name, points=[point], wait=True)

    def change_token(self) -> str:
        """Changes whenever any process writes to the collection (one small read)."""
        return str(self._meta().get(CHANGE_KEY, ""))

    def _bump_change(self) -> None:
        meta = self._meta()
        self._write_meta({**meta, CHANGE_KEY: _next_token(str(meta.get(CHANGE_KEY, "")))})

    # -- writing -----------------------------------------------------------------------
    def max_batch(self) -> int:
        """Points per upsert (a document's points go in pieces of this size)."""
        return _PAGE

    def replace_documents(self, documents: Sequence[tuple]) -> None:
        """Each item is (chunks, vectors, source, sentence_terms, index_key), as in
        ChunkStore.replace_documents: the new version is written before the old one goes.
        A chunk's sentence points are written before its chunk point, so a write cut off
        part-way leaves no chunk point without its sentences, and document_versions sees
        the missing chunk points."""
        points, new_ids, doc_ids = [], set(), []
        for chunks, vectors, source, sentence_terms, index_key in documents:
            points.extend(_document_points(chunks, vectors, source, sentence_terms, index_key))
            new_ids.update(c.chunk_id for c in chunks)
            doc_ids.append(chunks[0].doc_id)
        with self._lock:
            old_ids = set(self._ids_of(doc_ids))
            with self._changing():
                for start in range(0, len(points), self.max_batch()):
                    self._client.upsert(self.collection_name, points=points[start : start + self.max_batch()],
                                        wait=True)
                self._delete_chunks(sorted(old_ids - new_ids))

    def delete_document(self, doc_id: str) -> int:
        with self._lock:
            ids = self._ids_of([doc_id])
            if ids:
                with self._changing():
                    self._delete_chunks(ids)
        return len(ids)

    def reset(self) -> None:
        with self._lock, self._changing():
            self._delete_where(_where(_match_any("type", ["chunk", "sentence"])))

    def _delete_chunks(self, chunk_ids: Sequence[str]) -> None:
        """The chunks' points and their sentences' points."""
        for start in range(0, len(chunk_ids), self.max_batch()):
            self._delete_where(_where(_match_any("chunk_id", chunk_ids[start : start + self.max_batch()])))

    def _delete_where(self, where) -> None:
        selector = _models().FilterSelector(filter=where)
        self._client.delete(self.collection_name, points_selector=selector, wait=True)

    def _ids_of(self, doc_ids: Sequence[str]) -> list[str]:
        where = _where(_match("type", "chunk"), _match_any("document_id", doc_ids))
        return [r.payload["chunk_id"] for r in self._scroll(where, payload=["chunk_id"])]

    # -- reading -----------------------------------------------------------------------
    def _scroll(self, where, *, payload=True, vectors=False):
        """Every point matching ``where``, page by page."""
        offset = None
        while True:
            records, offset = self._client.scroll(self.collection_name, scroll_filter=where, limit=_PAGE,
                                                  offset=offset, with_payload=payload, with_vectors=vectors)
            yield from records
            if offset is None:
                return

    def count(self) -> int:
        return self._client.count(self.collection_name, count_filter=_where(_match("type", "chunk")),
                                  exact=True).count

    def document_index_key(self, doc_id: str) -> str | None:
        """The key the document was indexed under ("" for chunks without one)."""
        records, _ = self._client.scroll(self.collection_name, limit=1, with_payload=["index_key"],
                                         scroll_filter=_where(_match("type", "chunk"), _match("document_id", doc_id)))
        return records[0].payload.get("index_key", "") if records else None

    def document_versions(self, doc_id: str) -> dict[str, tuple[int, int | None]]:
        """As ChunkStore.document_versions: per index key, (chunks carrying it, their total)."""
        where = _where(_match("type", "chunk"), _match("document_id", doc_id))
        return count_versions([r.payload for r in self._scroll(where, payload=["index_key", CHUNKS_KEY])])

    def _all_with_meta(self) -> list[tuple[Chunk, dict]]:
        rows = [_record_chunk(r) for r in self._scroll(_where(_match("type", "chunk")))]
        rows.sort(key=lambda row: (row[0].doc_id, row[0].index))
        return rows

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        where = _where(_match("type", "chunk"), _match("document_id", doc_id))
        return sorted((_record_chunk(r)[0] for r in self._scroll(where)), key=lambda c: c.index)

    def chunks_by_id(self, chunk_ids: Sequence[str]) -> dict[str, tuple[Chunk, np.ndarray]]:
        """Stored chunks and their dense vectors by id, in one read."""
        if not chunk_ids:
            return {}
        got = self._client.retrieve(self.collection_name, ids=[_point_id(c) for c in chunk_ids], with_payload=True,
                                    with_vectors=[DENSE])
        return {r.payload["chunk_id"]: (_record_chunk(r)[0], np.asarray(r.vector[DENSE], dtype=np.float32))
                for r in got}

    def embeddings_of(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored dense vectors by chunk id (unit length: Qdrant normalises cosine vectors)."""
        return {chunk_id: vector for chunk_id, (_, vector) in self.chunks_by_id(chunk_ids).items()}

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[Chunk, float]]:
        """Top-``k`` chunks by cosine similarity to ``vector``."""
        if k <= 0:
            return []
        result = self._client.query_points(self.collection_name, query=[float(x) for x in vector], using=DENSE,
                                           limit=k, with_payload=True)
        return [(_record_chunk(point)[0], float(point.score)) for point in result.points]

    # -- the latent-term search ----------------------------------------------------------
    def term_search(self, query_terms, k: int, *, also: Sequence[str] = (), bonus_kind: str | None = None,
                    bonus: float = 0.0):
        """ChunkStore.term_search, searched by Qdrant: one sparse search grouped by chunk id
        finds the chunks whose best sentence (with the answer-kind bonus: a sentence holding
        such an answer carries that kind's marker term, which the query then holds with the
        bonus as its weight) matches most. Their sentences, and those of ``also``, are then
        scored exactly as ChunkStore scores them (rag/term_search.py), so both stores give
        the same matches. None when the index holds no latent terms."""
        from .term_search import search_term_index

        if not self.cached("has_sentences", self._has_sentences):
            return None
        marker = _kind_term(bonus_kind) if bonus_kind and bonus > 0 else None
        query = _sparse_query(*query_terms, marker=None if marker is None else (marker, bonus))
        found = self._best_chunks(query, k + _SEARCH_MARGIN) if query is not None and k > 0 else []
        if len(found) < k:
            # ChunkStore's top k then holds chunks that score 0 (no term shared), the first
            # ones in index order; Qdrant's search never returns a point it shares no term with.
            found += self._first_chunks(k + len(found))
        index = self._term_index_of(list(dict.fromkeys([*also, *found])))
        return search_term_index(index, query_terms, k, also=also, bonus_kind=bonus_kind, bonus=bonus)

    def _has_sentences(self) -> bool:
        records, _ = self._client.scroll(self.collection_name, scroll_filter=_where(_match("type", "sentence")),
                                         limit=1, with_payload=False)
        return bool(records)

    def _best_chunks(self, query, limit: int) -> list[str]:
        result = self._client.query_points_groups(
            self.collection_name, query=query, using=TERMS, group_by="chunk_id", group_size=1, limit=limit,
            query_filter=_where(_match("type", "sentence")), with_payload=False)
        return [str(group.id) for group in result.groups]

    def _first_chunks(self, n: int) -> list[str]:
        """The first ``n`` chunk ids in index order (document id, position in it)."""
        doc_ids, total = [], 0
        for document in self.list_documents():  # sorted by doc_id
            if total >= n:
                break
            doc_ids.append(document.doc_id)
            total += document.chunks
        if not doc_ids:
            return []
        where = _where(_match("type", "chunk"), _match_any("document_id", doc_ids))
        places = {r.payload["chunk_id"]: (r.payload["document_id"], int(r.payload["index"]))
                  for r in self._scroll(where, payload=["chunk_id", "document_id", "index"])}
        return sorted(places, key=lambda c: (*places[c], c))[:n]

    def _term_index_of(self, chunk_ids: Sequence[str]) -> SentenceTermIndex:
        """The sentences of those of ``chunk_ids`` that the index holds, as a
        SentenceTermIndex in ChunkStore's order (document, position): ties are broken alike."""
        places = {}
        for start in range(0, len(chunk_ids), _PAGE):
            got = self._client.retrieve(self.collection_name, ids=[_point_id(c) for c in chunk_ids[start : start + _PAGE]],
                                        with_payload=["chunk_id", "document_id", "index"], with_vectors=False)
            places.update({r.payload["chunk_id"]: (r.payload["document_id"], int(r.payload["index"])) for r in got})
        records = []
        held = list(places)
        for start in range(0, len(held), _PAGE):
            where = _where(_match("type", "sentence"), _match_any("chunk_id", held[start : start + _PAGE]))
            records.extend(self._scroll(where, payload=["chunk_id", "sentence"], vectors=[TERMS]))
        return sentence_index(records, places)


def _next_token(token: str) -> str:
    count = token.split(":")[0]
    return f"{int(count) + 1 if count.isdigit() else 1}:{uuid.uuid4().hex[:12]}"


def _ensure_collection(client, name: str, dim: int, *, remote: bool) -> None:
    models = _models()
    if client.collection_exists(name):
        return
    try:
        client.create_collection(
            name, vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
            sparse_vectors_config={TERMS: models.SparseVectorParams()})
    except Exception:
        if not client.collection_exists(name):  # not another process creating it at the same time
            raise
        return
    if remote:  # local mode has no payload indexes (and warns about them)
        for key in ("type", "chunk_id", "document_id"):
            client.create_payload_index(name, field_name=key, field_schema=models.PayloadSchemaType.KEYWORD)


def _sparse_query(indices, weights, *, marker: tuple[int, float] | None = None):
    """The query as ChunkStore's index reads it (SentenceTermIndex.scores): a repeated
    term counts once with its last weight, terms past the term space and zero weights
    dropped; ``marker`` (term, weight) added. None when nothing is left."""
    query = np.zeros(TERM_SPACE, dtype=np.float32)
    indices, weights = np.asarray(indices), np.asarray(weights)
    keep = indices < TERM_SPACE
    query[indices[keep]] = weights[keep]
    terms = np.flatnonzero(query)
    pairs = list(zip(terms.tolist(), query[terms].astype(float).tolist()))
    if marker is not None:
        pairs.append((int(marker[0]), float(marker[1])))
    if not pairs:
        return None
    return _models().SparseVector(indices=[i for i, _ in pairs], values=[v for _, v in pairs])


def _kind_term(kind: str) -> int | None:
    """The marker term of an answer kind: past the latent terms' space, weight 1 in the
    sentences that hold such an answer."""
    from .answer_kind import ORDINAL, YEAR

    kinds = (YEAR, ORDINAL)
    return TERM_SPACE + kinds.index(kind) if kind in kinds else None




def _document_points(chunks, vectors, source, sentence_terms, index_key) -> list:
    """A document's points: per chunk, its sentences' points, then its own."""
    check_document(chunks, vectors, sentence_terms)
    models = _models()
    points = []
    for i, (chunk, vector) in enumerate(zip(chunks, vectors)):
        terms = sentence_terms[i] if sentence_terms is not None else []
        for j, (term_indices, kinds) in enumerate(zip(terms, sentence_kinds(chunk, len(terms)))):
            points.append(models.PointStruct(
                id=_point_id(chunk.chunk_id, j), vector={TERMS: _sparse_vector(*term_indices, kinds=kinds)},
                payload={"type": "sentence", "chunk_id": chunk.chunk_id, "document_id": chunk.doc_id,
                         "sentence": j}))
        payload = {"type": "chunk", "chunk_id": chunk.chunk_id, "document_id": chunk.doc_id, "text": chunk.text,
                   "index": chunk.index, "start": chunk.start, "end": chunk.end, "title": chunk.title,
                   "language": chunk.language, "content_hash": chunk.content_hash, "index_key": index_key,
                   CHUNKS_KEY: len(chunks), "source": source, "sentences": len(terms)}
        points.append(models.PointStruct(id=_point_id(chunk.chunk_id), vector={DENSE: [float(x) for x in vector]},
                                         payload=payload))
    return points


def _sparse_vector(indices, values, *, kinds: Sequence[str] = ()):
    """A sentence's latent terms with their weights rounded to float16, as ChunkStore
    keeps them (store.pack_sparse_vectors), so both stores give the same scores; and the
    marker term, weight 1, of each answer kind it holds."""
    indices = np.asarray(indices)
    if len(indices) and (indices.min() < 0 or indices.max() >= TERM_SPACE):
        raise ValueError(f"sparse term indices must lie in [0, {TERM_SPACE})")
    weights = np.asarray(values).astype(np.float16).astype(np.float32).astype(float).tolist()
    markers = [_kind_term(kind) for kind in kinds]
    return _models().SparseVector(indices=indices.astype(int).tolist() + markers,
                                  values=weights + [1.0] * len(markers))


def sentence_index(records, places: dict[str, tuple[str, int]]) -> SentenceTermIndex:
    """A SentenceTermIndex over sentence points (payload chunk_id, sentence; vector
    ``terms``) of the chunks in ``places`` (chunk id -> document id, position), ordered by
    place. A sentence number without a point is an empty row, so row j of a chunk stays
    its sentence j; the answer-kind masks come from the marker terms."""
    from scipy.sparse import csr_matrix

    from .answer_kind import ORDINAL, YEAR

    by_chunk: dict[str, dict[int, object]] = {}
    for record in records:
        by_chunk.setdefault(record.payload["chunk_id"], {})[int(record.payload["sentence"])] = record
    ordered = sorted(places, key=lambda c: (*places[c], c))
    owner, indptr, indices, values, markers = [], [0], [], [], []
    for position, chunk_id in enumerate(ordered):
        sentences = by_chunk.get(chunk_id, {})
        for j in range(max(sentences, default=-1) + 1):
            vector = sentences[j].vector[TERMS] if j in sentences else None
            terms = np.asarray(vector.indices if vector else [], dtype=np.int64)
            owner.append(position)
            indices.append(terms[terms < TERM_SPACE])
            values.append(np.asarray(vector.values if vector else [], dtype=np.float32)[terms < TERM_SPACE])
            indptr.append(indptr[-1] + len(indices[-1]))
            markers.append(set(terms[terms >= TERM_SPACE].tolist()))
    matrix = csr_matrix((np.concatenate([np.zeros(0, np.float32), *values]),
                         np.concatenate([np.zeros(0, np.int64), *indices]), np.array(indptr)),
                        shape=(len(owner), TERM_SPACE))
    masks = {kind: np.array([_kind_term(kind) in m for m in markers], dtype=np.float64) for kind in (YEAR, ORDINAL)}
    return SentenceTermIndex(owner=np.array(owner, dtype=np.int64), matrix=matrix, chunk_ids=tuple(ordered),
                             kind_masks=masks)


def _record_chunk(record) -> tuple[Chunk, dict]:
    payload = dict(record.payload)
    return _to_chunk(payload["chunk_id"], payload.get("text", ""), payload)


def open_qdrant_store(*, config: RAGConfig, embedder) -> QdrantChunkStore:
    """The configured collection on Qdrant, checked against the embedder."""
    return QdrantChunkStore(open_qdrant_client(config=config), config.collection, embedder.name, embedder.dim,
                            cache_dir=Path(config.data_dir) / "catalog", remote=bool(config.qdrant_url))


def delete_qdrant_collection(*, config: RAGConfig) -> None:
    client = open_qdrant_client(config=config)
    if client.collection_exists(config.collection):
        client.delete_collection(config.collection)
