"""The gold-set evaluation: ingest the seed articles, ask every gold question through
``rag.ask`` and score retrieval, answers, refusals, citations and latency."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Sequence

from rag.config import RAGConfig

from .metrics import aggregate, answer_correct, by_language, matches_any, stage_latencies

GOLD_KEYS = {"id", "question", "answers", "sources", "answerable"}
# dev: tune on it; test: report only (eval/gold.jsonl); heldout: the separate set
# eval/heldout.jsonl, report only, never tuned on (docs/evaluation-splits.md).
SPLITS = ("dev", "test", "heldout")
KINDS = ("who", "what", "which", "how_many", "when", "where", "why", "list")


def load_gold(path: Path, *, split: str = "all") -> list[dict]:
    """The items of a gold file, checked; with ``split`` other than "all", only that split's
    items (every item must then carry a "split" field)."""
    if split != "all" and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected all or one of {', '.join(SPLITS)}")
    items = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
        missing = GOLD_KEYS - set(item)
        if missing:
            raise ValueError(f"{path}:{number}: missing keys {sorted(missing)}")
        if "split" in item and item["split"] not in SPLITS:
            raise ValueError(f"{path}:{number}: split {item['split']!r} is not one of {', '.join(SPLITS)}")
        if "kind" in item and item["kind"] not in KINDS:
            raise ValueError(f"{path}:{number}: kind {item['kind']!r} is not one of {', '.join(KINDS)}")
        if split != "all" and "split" not in item:
            raise ValueError(f"{path}:{number}: no \"split\" field, so --split {split} cannot select it")
        for group in item["answers"]:
            for alt in group:
                re.compile(alt)
        items.append(item)
    return items if split == "all" else [item for item in items if item["split"] == split]


def question_language(item: dict) -> str:
    if item.get("lang"):
        return item["lang"]
    from rag.language import detect_language

    return detect_language(item["question"])


def score_answer(item: dict, answer, all_chunks: Sequence) -> dict:
    """One record for ``metrics.aggregate`` from a gold item and an ``Answer``."""
    from rag.language import answer_language

    sources = set(item["sources"])
    first_group = item["answers"][0] if item["answers"] else []

    def is_relevant(chunk) -> bool:
        return chunk.doc_id in sources and matches_any(chunk.text, first_group)

    record = {
        "id": item["id"],
        "split": item.get("split"),
        "lang": question_language(item),
        "question": item["question"],
        "answerable": bool(item["answerable"]),
        "answer": answer.text,
        "raw_answer": answer.raw_text,
        "refused": answer.refused,
        # Judged on the shown answer: a refusal is written in the question's language by the code.
        "answer_language": None if answer.refused else answer_language(answer.text),
        "backend": answer.backend,
        "timings": answer.timings,
        "citations": [{"n": c.n, "doc_id": c.doc_id, "chunk_id": c.chunk_id} for c in answer.citations],
        "retrieved": [h.chunk.chunk_id for h in answer.retrieved[:10]],
    }
    if item["answerable"]:
        record["relevant"] = [is_relevant(h.chunk) for h in answer.retrieved[:10]]
        record["n_relevant"] = sum(is_relevant(c) for c in all_chunks)
        record["correct"] = (not answer.refused) and answer_correct(answer.text, item["answers"])
        record["cited_from_source"] = [c.doc_id in sources for c in answer.citations]
        record["cited_support"] = any(c.doc_id in sources and matches_any(c.text, first_group)
                                      for c in answer.citations) if answer.citations else False
    return record


def run_gold_eval(
    items: Sequence[dict],
    *,
    config: RAGConfig,
    seeds: Sequence[Path],
    progress: Callable[[int, int], None] | None = None,
    llm=None,
) -> dict:
    from rag.answer import ask
    from rag.embeddings import get_embedder
    from rag.indexing import ingest_paths
    from rag.store import open_store

    embedder = get_embedder(config=config)
    store = open_store(config=config, embedder=embedder)
    ingest_report = ingest_paths(seeds, config=config, store=store, embedder=embedder)
    from rag.documents import find_files

    # The eval collection holds exactly the seed articles.
    wanted = {path.stem for path in find_files([Path(p) for p in seeds])}
    for doc in store.list_documents():
        if doc.doc_id not in wanted:
            store.delete_document(doc.doc_id)
    all_chunks = store.all_chunks()

    records = []
    for done, item in enumerate(items, start=1):
        answer = ask(item["question"], config=config, history=item.get("history"), store=store,
                     embedder=embedder, llm=llm)
        records.append(score_answer(item, answer, all_chunks))
        if progress:
            progress(done, len(items))
    # With items of several splits (python -m eval --split all on gold.jsonl), each split's
    # figures too, so one run reports dev and test apart.
    splits = sorted({r["split"] for r in records if r["split"]})
    return {
        "metrics": aggregate(records),
        "per_split": {split: aggregate([r for r in records if r["split"] == split]) for split in splits},
        "per_language": by_language(records),
        "latency_by_stage": stage_latencies(records),
        "config": {k: str(v) for k, v in vars(config).items()},
        "ingest": ingest_report.summary(),
        "items": records,
    }
