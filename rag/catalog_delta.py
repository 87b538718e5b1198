"""The index catalog after a small write, without reading every chunk again.

A write that holds the index's lock file (ChunkStore) records what it changed: the
written documents' chunks as a whole-index read returns them, before and after the write,
in a small file named after the token the write left (``save_changes``). The first
question on that token loads the saved catalog of the token before the write and applies
the record (or a chain of up to MAX_CHAIN records), which gives what a full rebuild
(store.build_catalog) gives, field for field, at the cost of the change plus one pass over
the term index's arrays. A missing or unusable record means a full rebuild, as before.

What makes a catalog updatable is ``CatalogCounts``: per language its chunks, per name
and numbered name the documents whose text has it, and each document's edges (the
version gate reads all chunks as one text, so a document ending in a name and the next
one starting with a number make a numbered name together: "iPhone" + " " + "16 ...").
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import unicodedata
import uuid
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .chunking import Chunk
from .mentions import VersionMentions, fold_name, version_mentions
from .store import TERM_SPACE, DocumentInfo, IndexCatalog, SentenceTermIndex

MAX_CHAIN = 16  # records applied in a row at most; past it writes record nothing (a rebuild)
# A writer of many batches (indexing.ingest_paths) settles the catalog when this many records
# are pending: a settle is one pass over the term index, so not after every write, and half
# the chain is left for other writers' records (the app's upload) between two of its checks.
SETTLE_AT = MAX_CHAIN // 2
_META_KEYS = ("source", "index_key", "sentence_terms")  # what build_catalog reads beside the chunk
# A number the gate's numbered-name pattern takes at the start of a text, and a name at its end.
_HEAD = re.compile(r"\d+(?![.,]\d|\d)")
_TAIL = re.compile(r"(?<![A-Za-z])[A-Za-z]+\Z", re.IGNORECASE)


@dataclass(frozen=True)
class CatalogCounts:
    languages: dict  # language -> chunks
    names: dict  # name -> documents whose text has it
    numbered: dict  # (folded name, digits) -> documents whose text has it
    edges: tuple  # per document, in catalog order: (leading number, trailing name folded), None when none


@dataclass(frozen=True)
class DocumentSummary:
    info: DocumentInfo
    languages: dict
    names: frozenset
    numbered: frozenset
    edge: tuple


def document_summary(rows: Sequence[tuple[Chunk, dict]]) -> DocumentSummary:
    """One document's part of the catalog: ``rows`` are its chunks ordered by position."""
    chunks = [chunk for chunk, _ in rows]
    first, meta = chunks[0], rows[-1][1]
    info = DocumentInfo(doc_id=first.doc_id, title=first.title, language=first.language, chunks=len(chunks),
                        source=meta.get("source", ""), content_hash=first.content_hash,
                        index_key=meta.get("index_key", ""))
    # The gate joins chunks with spaces, and NFKC does not reach across a space.
    mentions = version_mentions(" ".join(chunk.text for chunk in chunks))
    head = _HEAD.match(unicodedata.normalize("NFKC", first.text))
    tail = _TAIL.search(unicodedata.normalize("NFKC", chunks[-1].text))
    edge = (head.group() if head else None, fold_name(tail.group()) if tail else None)
    return DocumentSummary(info, dict(Counter(chunk.language for chunk in chunks)), mentions.names,
                           mentions.numbered, edge)


def combine(summaries: Sequence[DocumentSummary]) -> CatalogCounts:
    languages, names, numbered = Counter(), Counter(), Counter()
    for summary in summaries:
        languages.update(summary.languages)
        names.update(summary.names)
        numbered.update(summary.numbered)
    return CatalogCounts(dict(languages), dict(names), dict(numbered), tuple(s.edge for s in summaries))


def counted_languages(counts: CatalogCounts) -> tuple[str, ...]:
    """Most chunks first."""
    return tuple(sorted(counts.languages, key=lambda lang: (-counts.languages[lang], lang)))


def counted_mentions(counts: CatalogCounts) -> VersionMentions:
    """The mentions of every document's text joined in catalog order."""
    numbered = set(counts.numbered)
    for (_, tail), (head, _) in zip(counts.edges, counts.edges[1:]):
        if tail is not None and head is not None:
            numbered.add((tail, head))
    return VersionMentions(frozenset(counts.names), frozenset(numbered))


# -- the records a write leaves --------------------------------------------------------------
@dataclass(frozen=True)
class ChangeRecord:
    token: str  # the token the write left
    base: str  # the token before it
    depth: int  # records from a saved catalog to this one, this one included
    documents: dict  # doc_id -> (rows before, rows after), each ordered by position


def _row_json(row: tuple[Chunk, dict]) -> list:
    chunk, meta = row
    return [dataclasses.asdict(chunk), {k: meta[k] for k in _META_KEYS if k in meta}]


def token_name_pattern(path: Path, suffix: str = "") -> re.Pattern:
    """The names of ``path``'s files or folders kept per change token ("<name>-<count>-<hex>"
    + ``suffix``: changes_file, the store's catalog folders); group 1 is the count."""
    return re.compile(rf"{re.escape(path.name)}-(\d+)-[0-9a-f]+{re.escape(suffix)}")


def changes_file(path: Path, token: str) -> Path:
    return path.parent / f"{path.name}-{re.sub(r'[^A-Za-z0-9]', '-', token)}.json"


def save_changes(record: ChangeRecord, path: Path) -> None:
    data = {"token": record.token, "base": record.base, "depth": record.depth,
            "documents": {d: [[_row_json(r) for r in before], [_row_json(r) for r in after]]
                          for d, (before, after) in record.documents.items()}}
    target = changes_file(path, record.token)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(f"{target}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    partial.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(partial, target)


def load_changes(path: Path, token: str) -> ChangeRecord | None:
    try:
        data = json.loads(changes_file(path, token).read_text(encoding="utf-8"))
        if data["token"] != token:
            return None
        rows = lambda items: [(Chunk(**chunk), meta) for chunk, meta in items]  # noqa: E731
        return ChangeRecord(token, data["base"], int(data["depth"]),
                            {d: (rows(before), rows(after)) for d, (before, after) in data["documents"].items()})
    except Exception:  # missing, damaged or of another version: no record (a cache)
        return None


def prune_changes(path: Path, token: str) -> None:
    """Records up to ``token``'s count: a catalog saved for it makes them useless."""
    count = token.split(":")[0]
    if not count.isdigit():
        return
    own = token_name_pattern(path, ".json")
    for old in path.parent.glob(f"{path.name}-*.json"):
        match = own.fullmatch(old.name)
        if match and int(match.group(1)) <= int(count):
            old.unlink(missing_ok=True)
    for partial in path.parent.glob(f"{path.name}-*.json.*.tmp"):
        if not writer_alive(partial):  # left by a writer killed while saving its record
            partial.unlink(missing_ok=True)


def writer_alive(partial: Path) -> bool:
    """Whether the process named in a partial file's name (``<name>.<pid>-<hex>.tmp``)
    still runs: the lock file is this machine's, so its writers are this machine's
    processes. A name that does not parse counts as alive (left alone)."""
    match = re.search(r"\.(\d+)-[0-9a-f]+\.tmp$", partial.name)
    if match is None:
        return True
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: it exists
        return True
    return True


def compose(records: Sequence[ChangeRecord]) -> dict:
    """The net change of records oldest first: per document its rows before the first
    record that touched it and after the last."""
    net: dict = {}
    for record in records:
        for doc_id, (before, after) in record.documents.items():
            net[doc_id] = (net[doc_id][0] if doc_id in net else before, after)
    return net


# -- applying a change to a catalog ------------------------------------------------------------
class _Unusable(Exception):
    """The record does not fit the catalog: rebuild instead."""


def apply_changes(base: IndexCatalog, token: str, changes: dict) -> IndexCatalog | None:
    """``base`` with ``changes`` (doc_id -> (rows before, rows after)) applied, as the
    catalog of ``token``; None when they do not fit it."""
    counts = base.counts
    if counts is None:
        return None
    try:
        documents, counts, edits = _apply_documents(base, counts, changes)
        terms = _apply_terms(base, edits)
    except _Unusable:
        return None
    return IndexCatalog(token=token, documents=documents, languages=counted_languages(counts),
                        mentions=counted_mentions(counts), terms=terms,
                        chunks=base.chunks + sum(len(after) - old for _, old, after in edits), counts=counts)


def _apply_documents(base: IndexCatalog, counts: CatalogCounts, changes: dict):
    """The new documents and counts, and per changed document in catalog order its edit:
    (its first chunk's position in ``base``, its chunks there, its rows after)."""
    ids = [d.doc_id for d in base.documents]
    starts = np.r_[0, np.cumsum([d.chunks for d in base.documents], dtype=np.int64)]
    kept = dict(zip(ids, zip(base.documents, counts.edges)))
    languages, names, numbered = Counter(counts.languages), Counter(counts.names), Counter(counts.numbered)
    edits = []
    for doc_id in sorted(changes):
        before, after = changes[doc_id]
        where = bisect_left(ids, doc_id)
        present = where < len(ids) and ids[where] == doc_id
        if bool(before) != present or any(chunk.doc_id != doc_id for chunk, _ in (*before, *after)):
            raise _Unusable
        if before:
            old = document_summary(before)
            if old.info != base.documents[where]:
                raise _Unusable
            languages.subtract(old.languages), names.subtract(old.names), numbered.subtract(old.numbered)
            del kept[doc_id]
        if after:
            new = document_summary(after)
            languages.update(new.languages), names.update(new.names), numbered.update(new.numbered)
            kept[doc_id] = (new.info, new.edge)
        edits.append((int(starts[where]), len(before), after))
    order = sorted(kept)
    positive = lambda counter: {k: v for k, v in counter.items() if v > 0}  # noqa: E731
    new_counts = CatalogCounts(positive(languages), positive(names), positive(numbered),
                               tuple(kept[d][1] for d in order))
    return tuple(kept[d][0] for d in order), new_counts, edits


def _apply_terms(base: IndexCatalog, edits) -> SentenceTermIndex | None:
    """The term index of ``base`` with the edited documents' rows replaced, in the order
    and with the values a rebuild gives (store._build_term_index)."""
    from .store import _build_term_index

    new_rows = [row for _, _, after in edits for row in after]
    block = _build_term_index([meta.get("sentence_terms") for _, meta in new_rows], [c for c, _ in new_rows])
    terms = base.terms
    if terms is None:
        if base.chunks and block is not None:
            raise _Unusable  # the base has no chunk ids to place the new rows among
        return block if not base.chunks else None
    owner = np.asarray(terms.owner)
    block_owner = block.owner if block is not None else np.zeros(0, dtype=np.int64)
    lengths = np.array([len(after) for _, _, after in edits], dtype=np.int64)
    block_starts = np.searchsorted(block_owner, np.r_[0, np.cumsum(lengths)])  # block rows per edit
    old_rows = [(int(np.searchsorted(owner, p)), int(np.searchsorted(owner, p + n))) for p, n, _ in edits]
    pieces = _spliced_rows(terms, edits, old_rows, block, block_starts)
    if not len(pieces["owner"]):
        return None
    matrix = _splice_matrix(terms.matrix, old_rows, block, block_starts, pieces["block_rows"])
    return SentenceTermIndex(owner=pieces["owner"], matrix=matrix, chunk_ids=pieces["chunk_ids"],
                             kind_masks=pieces["kind_masks"])


def _spliced_rows(terms: SentenceTermIndex, edits, old_rows, block, block_starts) -> dict:
    """The owner, chunk ids and kind masks with each edit's old rows and chunks replaced
    by its new ones, and where each new (block) row lands."""
    owner, ids = np.asarray(terms.owner), terms.chunk_ids
    block_owner = block.owner if block is not None else np.zeros(0, dtype=np.int64)
    owners, id_parts, masks = [], [], {kind: [] for kind in terms.kind_masks}
    block_rows = np.zeros(len(block_owner), dtype=np.int64)
    shift = done_rows = prev_row = prev_chunk = first_new = 0
    for j, ((p, n, after), (a, b)) in enumerate(zip(edits, old_rows)):
        s, e = int(block_starts[j]), int(block_starts[j + 1])
        owners += [owner[prev_row:a] + shift, block_owner[s:e] - first_new + p + shift]
        id_parts += [ids[prev_chunk:p], tuple(chunk.chunk_id for chunk, _ in after)]
        for kind, parts in masks.items():
            new = block.kind_masks[kind][s:e] if block is not None else np.zeros(0)
            parts += [np.asarray(terms.kind_masks[kind][prev_row:a], dtype=np.float64), new]
        done_rows += a - prev_row
        block_rows[s:e] = np.arange(done_rows, done_rows + e - s)
        done_rows += e - s
        shift += len(after) - n
        first_new += len(after)
        prev_row, prev_chunk = b, p + n
    owners.append(owner[prev_row:] + shift)
    id_parts.append(ids[prev_chunk:])
    for kind, parts in masks.items():
        parts.append(np.asarray(terms.kind_masks[kind][prev_row:], dtype=np.float64))
    return {"owner": np.concatenate(owners).astype(np.int64), "block_rows": block_rows,
            "chunk_ids": tuple(i for part in id_parts for i in part),
            "kind_masks": {kind: np.concatenate(parts) for kind, parts in masks.items()}}


def _splice_matrix(matrix, old_rows, block, block_starts, block_rows):
    """``matrix`` (CSC, rows sorted within each column) without the rows in ``old_rows``
    and with ``block``'s rows at ``block_rows``: one pass over its arrays, no sort."""
    from scipy.sparse import csc_matrix

    indptr = np.asarray(matrix.indptr, dtype=np.int64)
    indices, data = np.asarray(matrix.indices), np.asarray(matrix.data)
    n_rows = matrix.shape[0]
    gone, shift = np.zeros(n_rows, dtype=bool), np.zeros(n_rows + 1, dtype=np.int64)
    for (a, b), added in zip(old_rows, np.diff(block_starts)):
        gone[a:b] = True
        shift[b] += int(added) - (b - a)
    dead = np.flatnonzero(gone[indices]) if gone.any() else np.zeros(0, dtype=np.int64)
    kept_indices, kept_data = (np.delete(indices, dead), np.delete(data, dead)) if len(dead) else (indices, data)
    shift = np.cumsum(shift[:n_rows]).astype(indices.dtype)
    if shift.any():
        kept_indices = kept_indices + shift[kept_indices]
    counts = np.diff(indptr) - np.bincount(np.searchsorted(indptr, dead, side="right") - 1, minlength=len(indptr) - 1)
    if block is not None and block.matrix.nnz:
        new = block.matrix
        columns = np.repeat(np.arange(new.shape[1]), np.diff(new.indptr))
        edit = np.searchsorted(block_starts, new.indices, side="right") - 1
        target = np.array([a for a, _ in old_rows], dtype=np.int64)[edit]
        at = _first_at_least(indices, indptr[columns], indptr[columns + 1], target)
        at -= np.searchsorted(dead, at)  # the place among the kept entries
        kept_indices = np.insert(kept_indices, at, block_rows[new.indices].astype(indices.dtype))
        kept_data = np.insert(kept_data, at, new.data.astype(data.dtype))
        counts = counts + np.diff(new.indptr)
    rows = n_rows + int(np.diff(block_starts).sum()) - int(gone.sum())
    return csc_matrix((kept_data, kept_indices, np.r_[0, np.cumsum(counts)]), shape=(rows, TERM_SPACE))


def _first_at_least(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per i, the first position in values[lo[i]:hi[i]] (sorted) holding target[i] or more
    (hi[i] when none): one vectorised binary search."""
    lo, hi = lo.astype(np.int64), hi.astype(np.int64)
    if not len(values):
        return lo
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        below = values[np.minimum(mid, len(values) - 1)] < target
        lo = np.where(active & below, mid + 1, lo)
        hi = np.where(active & ~below, mid, hi)
