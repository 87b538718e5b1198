"""Index article files into the knowledge base.

    python ingest.py                 # seeds/ (the default corpus)
    python ingest.py news/ extra.md  # files and folders (.txt, .md, .html)
    python ingest.py --delete DOC_ID # remove a document
    python ingest.py --reset         # empty the index (then ingest PATHs, if given)
    python ingest.py --list          # what is indexed
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rag.config import REPO_ROOT, RAGConfig

DEFAULT_PATHS = [REPO_ROOT / "seeds"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Index .txt/.md/.html articles (doc_id = file name stem).")
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders (default: seeds/)")
    parser.add_argument("--delete", metavar="DOC_ID", action="append", default=[], help="remove a document")
    parser.add_argument("--reset", action="store_true", help="remove every document first")
    parser.add_argument("--list", action="store_true", help="list the indexed documents and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    try:
        config = RAGConfig.from_env()
        from rag.embeddings import get_embedder
        from rag.indexing import ingest_paths
        from rag.store import EmbedderMismatchError, open_store

        embedder = get_embedder(config=config)
        try:
            store = open_store(config=config, embedder=embedder)
        except EmbedderMismatchError:
            if not args.reset:
                raise
            # --reset is the documented way out of an embedder change.
            from rag.store import delete_index

            delete_index(config=config)
            store = open_store(config=config, embedder=embedder)
    except Exception as exc:  # a clear line, not a traceback
        print(f"error: {_cause(exc, locals().get('config'))}", file=sys.stderr)
        return 2

    from rag.documents import printable  # names and titles with control characters, escaped

    if args.list:
        for doc in store.list_documents():
            print(f"{printable(doc.doc_id)}\t{doc.language}\t{doc.chunks} chunks\t{printable(doc.title)}")
        return 0
    if args.reset:
        store.reset()
        print("index emptied")
    status = 0
    for doc_id in args.delete:
        removed = store.delete_document(doc_id)
        if removed:
            print(f"deleted {printable(doc_id)} ({removed} chunks)")
        else:
            print(f"error: no document {doc_id!r} in the index", file=sys.stderr)
            status = 1
    if (args.delete or args.reset) and not args.paths:
        _settle(store)
        return status

    paths = args.paths or DEFAULT_PATHS
    bar = None
    if not args.quiet:
        import time

        from tqdm import tqdm

        bar = tqdm(total=0, unit="file", disable=None)
        started, written = time.perf_counter(), [0]

    def progress(done: int, total: int, name: str) -> None:
        if bar is not None:
            bar.total = total
            bar.update(1)

    def on_chunks(count: int) -> None:
        if bar is not None:
            written[0] += count
            rate = written[0] / max(time.perf_counter() - started, 1e-9)
            bar.set_postfix_str(f"{written[0]} chunks, {rate:.1f} chunks/s")

    try:
        report = ingest_paths(paths, config=config, store=store, embedder=embedder, progress=progress,
                              on_chunks=on_chunks)
    except Exception as exc:  # the index could not be written (a full disk, a server gone): say why
        if bar is not None:
            bar.close()
        print(f"error: {_cause(exc, config)}", file=sys.stderr)
        return 2
    if bar is not None:
        bar.close()
    for name, reason in report.skipped:
        print(f"skipped: {printable(reason)}", file=sys.stderr)
    for line in report.decoded_lines():
        print(line)
    print(report.summary())
    # Before reindex_outdated, which reads the document list from the catalog: a rebuild is then said.
    _settle(store)
    # Documents indexed by an older version (or other chunk settings) are brought up to date too.
    from rag.indexing import reindex_outdated

    upgraded, missing = reindex_outdated(store=store, embedder=embedder, config=config)
    if upgraded.updated:
        print(f"re-indexed {len(upgraded.updated)} older document(s) from their files: {upgraded.summary()}")
    if missing:
        print(f"warning: {', '.join(map(printable, missing))} were indexed by an older version and their files "
              "are gone; add them again to search them fully", file=sys.stderr)
    if upgraded.updated:
        _settle(store)
    return 1 if report.skipped and not (report.added or report.updated or report.unchanged) else status


# From this size on a rebuild of the catalog takes seconds (about 1 s per 1,000 chunks on
# 2 cores, docs/scale.md), so ingest.py says why it waits; a new index's first run stays quiet.
ANNOUNCED_REBUILD_CHUNKS = 10_000


def _settle(store) -> None:
    """The catalog after this run's writes, saved for the app's next question (a cache):
    derived from the writes' records, or, when none leads to it (an earlier run killed
    before its end, a Chroma server's or Qdrant's writes, an index never asked), read
    from every chunk here, so that the app's next question only loads it. The rebuild does
    not walk the records again: the store remembers a token they lead nowhere from."""
    try:
        if store.settle_catalog():
            return
        chunks = store.count()
        if chunks >= ANNOUNCED_REBUILD_CHUNKS:
            print(f"updating the index catalog for {chunks} chunks (it may read the whole index, so that "
                  "the apps' next question does not)", file=sys.stderr, flush=True)
        store.settle_catalog(rebuild=True)
    except Exception as exc:
        print(f"warning: the index catalog was not updated ({exc}); the next question rebuilds it", file=sys.stderr)


def _cause(exc: BaseException, config) -> str:
    from rag.resources import describe_index_error

    return (describe_index_error(exc, config=config) if config is not None else None) or str(exc)


if __name__ == "__main__":
    sys.exit(main())
