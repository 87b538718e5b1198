"""Ingestion: files -> Documents -> chunks -> vectors -> store, idempotent per document.

Unchanged files (same content hash) are skipped; a changed file replaces its old
chunks in one write; bad files are reported and skipped without touching the index.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .chunking import chunk_document, chunk_sentences
from .config import RAGConfig
from .documents import Document, DocumentError, find_files, load_document

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


def ingest_document(document: Document, *, store, embedder, config: RAGConfig) -> tuple[str, int]:
    """Index one document; returns ("added" | "updated" | "unchanged", chunks written)."""
    key = index_key(document.content_hash, config=config)
    previous = store.document_index_key(document.doc_id)
    # Unchanged only when every chunk has this key: an ingest killed between writing a
    # version and deleting the one before leaves chunks of both (docs/robustness.md), and
    # when the file then holds that earlier content again, re-writing it removes the rest.
    if previous == key and store.document_index_keys(document.doc_id) == {key}:
        return "unchanged", 0
    chunks = chunk_document(
        document, embedder.count_tokens,
        max_tokens=config.chunk_tokens, overlap_tokens=config.chunk_overlap_tokens, key=key,
    )
    if not chunks:
        raise DocumentError(f"{document.source}: no text to index")
    vectors = embedder.embed_passages([c.embedding_text() for c in chunks])
    sentence_terms = None
    if hasattr(embedder, "latent_terms"):
        sentences = [chunk_sentences(c) for c in chunks]
        flat = embedder.latent_terms([s for group in sentences for s in group])
        sentence_terms, pos = [], 0
        for group in sentences:
            sentence_terms.append(flat[pos : pos + len(group)])
            pos += len(group)
    store.replace_document(chunks, vectors, source=document.source, sentence_terms=sentence_terms, index_key=key)
    return ("updated" if previous is not None else "added"), len(chunks)


def ingest_paths(
    paths: Iterable[Path],
    *,
    config: RAGConfig,
    store=None,
    embedder=None,
    progress: ProgressCallback | None = None,
    sources: dict[Path, str] | None = None,
) -> IngestReport:
    """Index files and folders. ``sources`` names where a file really came from (an
    upload's original name rather than its temporary path)."""
    if embedder is None:
        from .embeddings import get_embedder

        embedder = get_embedder(config=config)
    if store is None:
        from .store import open_store

        store = open_store(config=config, embedder=embedder)
    report = IngestReport()
    files = find_files([Path(p) for p in paths])
    for done, path in enumerate(files, start=1):
        try:
            if not path.exists():
                raise DocumentError(f"{path}: no such file or folder")
            document = load_document(path, source=(sources or {}).get(path))
            status, written = ingest_document(document, store=store, embedder=embedder, config=config)
            getattr(report, status).append(document.doc_id)
            report.chunks += written
        except DocumentError as exc:
            report.skipped.append((str(path), str(exc)))
        if progress:
            progress(done, len(files), path.name)
    return report
