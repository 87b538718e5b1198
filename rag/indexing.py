"""Ingestion: files -> Documents -> chunks -> vectors -> store, idempotent per document.

Unchanged files (same content hash) are skipped; a changed file replaces its old
chunks in one write; bad files are reported and skipped without touching the index.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, TextIO

from .chunking import chunk_document, chunk_sentences
from .config import RAGConfig
from .documents import Document, DocumentError, find_files, load_document, printable

# Bumped when what indexing stores changes, so older indexes are rebuilt file by file.
# 2: latent-term vectors per sentence.
INDEX_FORMAT = 2

# Called after each file with (done, total, name).
ProgressCallback = Callable[[int, int, str], None]


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    chunks: int = 0
    decoded: list[tuple[str, str]] = field(default_factory=list)  # (file, codec): indexed from a legacy encoding

    def decoded_lines(self, name: Callable[[str], str] = printable) -> list[str]:
        """One line per file indexed from a legacy encoding, so its reader can check the text."""
        from .encodings import encoding_name

        return [f"read as {encoding_name(codec)} (not UTF-8): {name(file)}" for file, codec in self.decoded]

    def summary(self) -> str:
        text = (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.skipped)} skipped; {self.chunks} chunk{'' if self.chunks == 1 else 's'} written"
        )
        return text


def index_key(content_hash: str, *, config: RAGConfig) -> str:
    """Names the content and every setting that shapes its chunks: a file is unchanged
    only when this matches, so new chunk sizes or a new index format re-index it."""
    settings = f"{content_hash}:{config.chunk_tokens}:{config.chunk_overlap_tokens}:{INDEX_FORMAT}"
    return hashlib.sha256(settings.encode()).hexdigest()[:12]


def reindex_outdated(*, store, embedder, config: RAGConfig) -> tuple[IngestReport, list[str]]:
    """Re-index, from the files they were read from, the documents indexed under other
    chunk settings or an older index format (before latent terms, retrieval scores them
    by dense similarity alone and the refusal gate turns their questions away).

    Returns the report and the doc_ids that could not be re-indexed because their file
    is gone (an upload, say): those need adding again.
    """
    outdated = [d for d in store.list_documents() if d.index_key != index_key(d.content_hash, config=config)]
    files = [Path(d.source) for d in outdated if d.source and Path(d.source).is_file()
             and Path(d.source).stem == d.doc_id]
    found = {f.stem for f in files}
    report = ingest_paths(files, config=config, store=store, embedder=embedder) if files else IngestReport()
    return report, [d.doc_id for d in outdated if d.doc_id not in found]


@dataclass
class _Prepared:
    """A document chunked and keyed, waiting for its vectors."""

    document: Document
    key: str
    previous: str | None
    chunks: list


def _prepare(document: Document, *, store, embedder, config: RAGConfig) -> _Prepared | None:
    """The document's chunks, or None when it is indexed unchanged."""
    key = index_key(document.content_hash, config=config)
    versions = store.document_versions(document.doc_id)
    previous = next(iter(versions), None)  # None: not indexed yet
    if _indexed_whole(versions, key):
        return None
    chunks = chunk_document(
        document, embedder.count_tokens,
        max_tokens=config.chunk_tokens, overlap_tokens=config.chunk_overlap_tokens, key=key,
    )
    if not chunks:
        raise DocumentError(f"{document.source}: no text to index")
    return _Prepared(document, key, previous, chunks)


def _indexed_whole(versions: dict[str, tuple[int, int | None]], key: str) -> bool:
    """Whether the document's chunks are exactly one whole version under ``key``.

    Every chunk must carry this key: an ingest killed between writing a version and
    deleting the one before leaves chunks of both (docs/robustness.md), and when the file
    then holds that earlier content again, re-writing it removes the rest. And there must
    be as many as the chunks record: a long document is written in pieces, and a kill
    between two leaves only the first. Chunks without a recorded total were written
    before totals existed, when a document went to Chroma in one call (one too long for
    that was refused whole) and a kill left whole versions only (the crash section of
    eval/robustness checks this): they count as whole, so older indexes are not re-indexed.
    """
    if set(versions) != {key}:
        return False
    count, total = versions[key]
    return total is None or count == total


def _write(batch: list[_Prepared], *, store, embedder) -> None:
    """Embed the chunks (and their sentences' latent terms) of several documents in one
    call each and write them in one store call."""
    chunks = [c for item in batch for c in item.chunks]
    vectors = embedder.embed_passages([c.embedding_text() for c in chunks])
    terms = None
    if hasattr(embedder, "latent_terms"):
        sentences = [chunk_sentences(c) for c in chunks]
        flat = embedder.latent_terms([s for group in sentences for s in group])
        terms, pos = [], 0
        for group in sentences:
            terms.append(flat[pos : pos + len(group)])
            pos += len(group)
    writes, start = [], 0
    for item in batch:
        end = start + len(item.chunks)
        writes.append((item.chunks, vectors[start:end], item.document.source,
                       terms[start:end] if terms is not None else None, item.key))
        start = end
    if hasattr(store, "replace_documents"):
        store.replace_documents(writes)
    else:  # a store with the one-document interface only
        for chunks_, vectors_, source, terms_, key in writes:
            store.replace_document(chunks_, vectors_, source=source, sentence_terms=terms_, index_key=key)


def _settle_if_due(store, futile_at: int | None = None) -> int | None:
    """Settle the store's catalog once SETTLE_AT write records are pending since the last
    saved one: past MAX_CHAIN records writes record nothing, and the next question (the
    app's, in another process) would read every chunk to rebuild it. Not after every
    write: a settle is one pass over the term index.

    Returns the depth of the chain a settle found no catalog to derive from, or raised on
    (None: none), for the ingest to pass to its next call: while the chain is that long or
    longer it is the same chain grown, and settling it again would walk its records in vain
    (or raise again, a damaged record or catalog); shorter, a catalog was saved since (a
    rebuild), and settling may work again. A raising settle does not stop the ingest: the
    catalog is a cache, and the next question rebuilds it from the writes."""
    pending = getattr(store, "pending_changes", None)
    if pending is None:  # a store without records (the one-document interface, a fake)
        return None
    from .catalog_delta import SETTLE_AT

    try:
        depth = pending()
    except Exception as exc:
        logging.getLogger(__name__).warning("could not count the index changes: %s", exc)
        return futile_at
    if depth is None or depth < SETTLE_AT:
        return None
    if futile_at is not None and depth >= futile_at:
        return futile_at
    try:
        settled = store.settle_catalog()
    except Exception as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__  # one line, whatever the error holds
        logging.getLogger(__name__).warning(
            "could not update the index catalog: %s (not tried again while this ingest's writes grow "
            "the same chain; the writes go on, and the next question rebuilds it)", reason)
        return depth
    return None if settled else depth


def ingest_document(document: Document, *, store, embedder, config: RAGConfig) -> tuple[str, int]:
    """Index one document; returns ("added" | "updated" | "unchanged", chunks written)."""
    prepared = _prepare(document, store=store, embedder=embedder, config=config)
    if prepared is None:
        return "unchanged", 0
    _write([prepared], store=store, embedder=embedder)
    return ("updated" if prepared.previous is not None else "added"), len(prepared.chunks)


def ingest_paths(
    paths: Iterable[Path],
    *,
    config: RAGConfig,
    store=None,
    embedder=None,
    progress: ProgressCallback | None = None,
    sources: dict[Path, str] | None = None,
    batch_chunks: int = 64,
    on_chunks: Callable[[int], None] | None = None,
) -> IngestReport:
    """Index files and folders. ``sources`` names where a file really came from (an
    upload's original name rather than its temporary path). Documents are embedded and
    written ``batch_chunks`` chunks at a time (a write is whole documents);
    ``on_chunks`` is told how many chunks each write held. Every SETTLE_AT writes (records)
    the store's catalog is settled (_settle_if_due), so that however many files are
    written, a chain of records short enough to apply leads to the index they leave."""
    if embedder is None:
        from .embeddings import get_embedder

        embedder = get_embedder(config=config)
    if store is None:
        from .store import open_store

        store = open_store(config=config, embedder=embedder)
    report = IngestReport()
    files = find_files([Path(p) for p in paths])
    batch: list[_Prepared] = []
    pending: list[str] = []  # file names of the batch, for the progress callback
    futile_at: int | None = None  # _settle_if_due's: a chain depth whose settle was in vain

    def flush() -> None:
        nonlocal futile_at
        if batch:
            _write(batch, store=store, embedder=embedder)
            futile_at = _settle_if_due(store, futile_at)
            for item in batch:
                getattr(report, "updated" if item.previous is not None else "added").append(item.document.doc_id)
                report.chunks += len(item.chunks)
            if on_chunks:
                on_chunks(sum(len(item.chunks) for item in batch))
            batch.clear()
        if progress:
            for name in pending:
                progress(done[0] + 1, len(files), name)
                done[0] += 1
        pending.clear()

    done = [0]
    for path in files:
        try:
            document = load_document(path, source=(sources or {}).get(path), max_bytes=config.ingest_max_bytes)
            if any(item.document.doc_id == document.doc_id for item in batch):
                flush()  # the same doc_id twice: the later file replaces the earlier one
            prepared = _prepare(document, store=store, embedder=embedder, config=config)
            if prepared is None:
                report.unchanged.append(document.doc_id)
            else:
                batch.append(prepared)
                if document.encoding not in ("utf-8", "utf-16"):
                    report.decoded.append((str(path), document.encoding))
        except DocumentError as exc:
            report.skipped.append((str(path), str(exc)))
        pending.append(path.name)
        if sum(len(item.chunks) for item in batch) >= batch_chunks or not batch:
            flush()
    flush()
    return report


def ensure_indexed(*, store, embedder, config: RAGConfig, out: TextIO | None = None) -> IngestReport | None:
    """What an app does to its index at start: an empty index gets ``config.seeds_dir``
    (when ``config.index_seeds_when_empty``), and documents indexed by an older version
    are brought up to date from their files. Says what it does on ``out`` (stderr).

    Returns the report of what was indexed, or None when nothing needed it."""
    out = out or sys.stderr
    if store.count() == 0:
        return index_seeds(store=store, embedder=embedder, config=config, out=out)
    report, missing = reindex_outdated(store=store, embedder=embedder, config=config)
    if report.updated:
        print(f"Re-indexed {len(report.updated)} document(s) indexed by an older version or other chunk "
              f"settings: {report.summary()}", file=out, flush=True)
    if missing:
        print(f"warning: {', '.join(map(printable, missing))} were indexed by an older version and their files "
              "are gone; add them again to search them fully", file=out, flush=True)
    return report if report.updated else None


def index_seeds(*, store, embedder, config: RAGConfig, out: TextIO | None = None) -> IngestReport | None:
    """Index ``config.seeds_dir`` into an empty index, saying so on ``out`` (stderr).

    Returns None (and indexes nothing) when the index holds documents, when
    ``index_seeds_when_empty`` is off, or when there is no seeds folder."""
    out = out or sys.stderr
    seeds = Path(config.seeds_dir)
    if store.count() or not config.index_seeds_when_empty or not seeds.is_dir():
        return None
    print(f"The index '{config.collection}' is empty: indexing {seeds} first "
          "(RAG_INDEX_SEEDS_WHEN_EMPTY=false turns this off)", file=out, flush=True)
    report = ingest_paths([seeds], config=config, store=store, embedder=embedder)
    for _, reason in report.skipped:
        print(f"skipped: {printable(reason)}", file=out, flush=True)
    print(report.summary(), file=out, flush=True)
    return report
