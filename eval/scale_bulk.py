"""A bulk ingest into an existing index, timed (prints figures; not a test).

    python -m eval.scale_bulk --work-dir /tmp/bulk                 # this checkout only
    python -m eval.scale_bulk --work-dir /tmp/bulk --before ../main  # and another checkout beside it

Builds one index of XQuAD paragraphs with random vectors and synthetic latent terms
(eval.scale's), saves its catalog (as a running app has), and writes --docs article files
of several paragraphs each: more 64-chunk writes than a question applies records of
(rag.catalog_delta.MAX_CHAIN). Then, per checkout (this one, and --before's) and per way in:

- ``ingest_paths``: the files through rag.indexing.ingest_paths (what the UI's upload does),
  then a new process's first question;
- ``ingest.py``: ``ingest.main`` over the files (its settling at the end and its
  reindex_outdated included), then a new process's first question;

each on a fresh copy of the index, timing the ingest, counting its whole-index reads
(ChunkStore._all_with_meta) and settles, and the question's time and whole-index reads.
The embedder is a stand-in (random vectors and terms), so the ingest's time is the
store's and the catalog's, not a model's. The base index is sized so that it and the
ingested files stay within --max-chunks.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from eval.scale import RandomQueries, TermStatistics, _config, _unit, paragraphs, synthetic_documents

ROOT = Path(__file__).resolve().parent.parent


class RandomPassages(RandomQueries):
    """The ingest's embedder stand-in: random unit vectors and synthetic latent terms."""

    def embed_passages(self, texts):
        return _unit(self.rng, len(texts))


def _count_calls(cls, name: str, calls: list) -> None:
    original = getattr(cls, name)

    def counted(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            calls.append(time.perf_counter() - t0)

    setattr(cls, name, counted)


def ingest_child(data_dir: Path, stats_path: Path, files: Path, way: str) -> dict:
    """One ingest of ``files`` into ``data_dir``, in this process (a child)."""
    import rag
    from rag.store import CatalogReads, ChunkStore

    stats = TermStatistics.load(stats_path)
    embedder = RandomPassages(stats, seed=5)
    reads, settles = [], []
    _count_calls(ChunkStore, "_all_with_meta", reads)
    _count_calls(CatalogReads, "settle_catalog", settles)
    t0 = time.perf_counter()
    if way == "ingest_paths":
        from rag.indexing import ingest_paths
        from rag.store import open_store

        config = _config(data_dir, "chroma")
        store = open_store(config=config, embedder=embedder)
        report = ingest_paths([files], config=config, store=store, embedder=embedder)
        chunks, status = report.chunks, 0
    else:
        import io
        from contextlib import redirect_stderr, redirect_stdout

        import rag.embeddings

        sys.path.insert(0, str(Path(rag.__file__).resolve().parent.parent))
        import ingest

        os.environ.update({"RAG_DATA_DIR": str(data_dir), "RAG_COLLECTION": "scale"})
        rag.embeddings.get_embedder = lambda *, config: embedder
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            status = ingest.main(["--quiet", str(files)])
        chunks = int(out.getvalue().split(" chunk")[0].rsplit(";", 1)[-1].strip() or 0)
        catalog_lines = [line for line in err.getvalue().splitlines() if "catalog" in line]
    seconds = time.perf_counter() - t0
    result = {"rag": rag.__file__, "way": way, "ingest_s": seconds, "chunks": chunks, "status": status,
              "full_reads": len(reads), "settles": len(settles), "settle_s": sum(settles)}
    if way != "ingest_paths":
        result["catalog_lines"] = catalog_lines
        result["ingest_py_module"] = ingest.__file__
    return result


def question_child(data_dir: Path, stats_path: Path, check: bool) -> dict:
    """A freshly started app's first question, and how many whole-index reads it made."""
    import rag
    from rag.retrieval import retrieve
    from rag.store import ChunkStore, open_store

    stats = TermStatistics.load(stats_path)
    embedder = RandomQueries(stats, seed=11)
    config = _config(data_dir, "chroma")
    reads = []
    _count_calls(ChunkStore, "_all_with_meta", reads)
    import chromadb  # noqa: F401  (the libraries before the clock, as eval.scale's question process)
    import llama_index.vector_stores.chroma  # noqa: F401
    import scipy.sparse  # noqa: F401

    t0 = time.perf_counter()
    store = open_store(config=config, embedder=embedder)
    retrieve(["question"], store=store, embedder=embedder, config=config)
    first = time.perf_counter() - t0
    result = {"rag": rag.__file__, "first_question_s": first, "full_reads": len(reads),
              "chunks": store.catalog().chunks, "documents": len(store.catalog().documents)}
    if check:
        from eval.scale import _same_as_rebuild

        result["same_as_rebuild"] = _same_as_rebuild(store)
    return result


def _child(code: Path, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], cwd=code, env=env, capture_output=True,
                         text=True)
    if out.returncode:
        raise SystemExit(f"child {args[:2]} in {code} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_files(texts, folder: Path, docs: int, per_doc: int) -> None:
    """Article files of ``per_doc`` paragraphs each, named to sort before every base
    document (so every row of the term index after them moves)."""
    folder.mkdir(parents=True)
    for d in range(docs):
        start = (d * per_doc * 7) % len(texts)
        chosen = [texts[(start + i) % len(texts)] for i in range(per_doc)]
        lang, title = chosen[0][0], chosen[0][1]
        body = "\n\n".join(text for _, _, text in chosen)
        (folder / f"art{d:04d}_{lang}.txt").write_text(f"{title}\n\n{body}\n", encoding="utf-8")


def count_chunks(folder: Path, embedder) -> int:
    from rag.chunking import chunk_document
    from rag.config import RAGConfig
    from rag.documents import load_document

    config = RAGConfig()
    return sum(len(chunk_document(load_document(p), embedder.count_tokens, max_tokens=config.chunk_tokens,
                                  overlap_tokens=config.chunk_overlap_tokens, key="k"))
               for p in sorted(folder.iterdir()))


def build_base(data_dir: Path, texts, size: int, stats: TermStatistics) -> float:
    from rag.store import open_store

    store = open_store(config=_config(data_dir, "chroma"), embedder=RandomQueries(stats, seed=1))
    rng = np.random.default_rng(size)
    t0 = time.perf_counter()
    for batch in synthetic_documents(texts, size, stats, rng):
        store.replace_documents(batch)
    store.catalog()  # the app's catalog, saved beside the index
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path)
    parser.add_argument("--before", type=Path, help="another checkout (the code before a change) to compare")
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--paragraphs-per-doc", type=int, default=5)
    parser.add_argument("--max-chunks", type=int, default=10_000, help="the base index plus the files, at most")
    parser.add_argument("--xquad-dir", type=Path)
    parser.add_argument("--ingest-child", nargs=4, metavar=("DATA", "STATS", "FILES", "WAY"))
    parser.add_argument("--question-child", nargs=3, metavar=("DATA", "STATS", "CHECK"))
    args = parser.parse_args(argv)
    if args.ingest_child:
        data, stats, files, way = args.ingest_child
        print(json.dumps(ingest_child(Path(data), Path(stats), Path(files), way)))
        return 0
    if args.question_child:
        data, stats, check = args.question_child
        print(json.dumps(question_child(Path(data), Path(stats), check == "1")))
        return 0

    work = args.work_dir
    if work is None:
        raise SystemExit("--work-dir is needed")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    texts = paragraphs(args.xquad_dir)
    stats = TermStatistics.synthetic()
    stats_path = work / "term-statistics.npz"
    stats.save(stats_path)
    files = work / "files"
    write_files(texts, files, args.docs, args.paragraphs_per_doc)
    ingest_chunks = count_chunks(files, RandomPassages(stats, seed=0))
    base_size = args.max_chunks - ingest_chunks
    print(f"{args.docs} files, {ingest_chunks} chunks ({-(-ingest_chunks // 64)} writes of up to 64); "
          f"base index {base_size:,} chunks", file=sys.stderr, flush=True)
    base = work / "base"
    built = build_base(base, texts, base_size, stats)
    print(f"base index written and its catalog saved in {built:.1f} s", file=sys.stderr, flush=True)
    checkouts = [("after", ROOT)] + ([("before", args.before.resolve())] if args.before else [])
    rows = []
    for way in ("ingest_paths", "ingest.py"):
        for label, code in checkouts:
            data = work / f"{label}-{way}"
            shutil.copytree(base, data)
            ingested = _child(code, "--ingest-child", str(data), str(stats_path), str(files), way)
            asked = _child(code, "--question-child", str(data), str(stats_path), "1" if label == "after" else "0")
            row = {"code": label, "checkout": str(code), "way": way, **{f"ingest_{k}": v for k, v in ingested.items()},
                   **{f"question_{k}": v for k, v in asked.items()}}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            shutil.rmtree(data, ignore_errors=True)
    print(json.dumps({"base_chunks": base_size, "ingest_chunks": ingest_chunks, "docs": args.docs,
                      "base_build_s": built, "rows": rows}, indent=1))
    print("| code | way | ingest | whole-index reads in the ingest | settles (their time) | first question after it "
          "| its whole-index reads |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['code']} | {r['way']} | {r['ingest_ingest_s']:.1f} s | {r['ingest_full_reads']} "
              f"| {r['ingest_settles']} ({r['ingest_settle_s']:.1f} s) | {r['question_first_question_s']:.2f} s "
              f"| {r['question_full_reads']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
