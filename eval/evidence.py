"""python -m eval.evidence [--gold F] [--split S] [--json R]: what the model reads, without the model.

For every question, the passages the answering prompt holds (the same retrieval, gate
and passage windows as ``rag.ask``, since it runs ``ask`` with a stand-in model that
records the prompt and refuses) and how many of the question's answer groups those
passages contain. That is the ceiling of the answer stage under a configuration, and the
prompt's length is most of its latency (58 prompt tokens/s on 2 cores), so prompt
settings (top_k, passage_tokens) can be compared in seconds instead of a model run.
RAG_* variables choose the configuration, as for ``python -m eval``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from rag.config import REPO_ROOT, RAGConfig

from .metrics import matches_any


class PromptRecorder:
    """A stand-in chat model: keeps the messages of every answering prompt, replies
    NOT FOUND (so the answer stage asks no more than it would on a refusal) and "yes" to
    the follow-up question (so follow-ups are searched as follow-ups)."""

    name = "evidence:recorder"

    def __init__(self) -> None:
        self.messages: list[list[dict]] = []

    @property
    def prompts(self) -> list[str]:
        """The user message of each answering prompt."""
        return [messages[-1]["content"] for messages in self.messages]

    def stream(self, messages, *, max_tokens, temperature, avoid=(), schema=None):
        from rag.prompts import FOLLOW_UP_SYSTEM_PROMPT, NOT_FOUND

        if messages[0]["content"] == FOLLOW_UP_SYSTEM_PROMPT:
            yield "yes"
            return
        self.messages.append(messages)
        yield NOT_FOUND


def first_answering_prompts(items: list[dict], *, config: RAGConfig, seeds: list[Path]) -> list[list[dict] | None]:
    """The first answering prompt (chat messages) ``ask`` gives the model for each item,
    over an index of ``seeds``; None for a question refused before the model."""
    from rag.answer import ask
    from rag.embeddings import get_embedder
    from rag.indexing import ingest_paths
    from rag.store import open_store

    embedder = get_embedder(config=config)
    store = open_store(config=config, embedder=embedder)
    ingest_paths(seeds, config=config, store=store, embedder=embedder)
    firsts = []
    for item in items:
        recorder = PromptRecorder()
        ask(item["question"], config=config, history=item.get("history"), store=store, embedder=embedder,
            llm=recorder)
        firsts.append(recorder.messages[0] if recorder.messages else None)
    return firsts


def prompt_passages(user_message: str) -> str:
    """The passages block of an answering prompt (rag/prompts.py build_messages)."""
    _, _, rest = user_message.partition("Passages:\n")
    return rest.partition("\n\nQuestion:")[0]


def coverage(item: dict, passages: str | None) -> dict:
    """How many of the item's answer groups the passages contain (None: gated)."""
    groups = item["answers"]
    found = 0 if passages is None else sum(matches_any(passages, group) for group in groups)
    return {"groups": len(groups), "found": found, "all": bool(groups) and found == len(groups)}


def measure(items: list[dict], *, config: RAGConfig, seeds: list[Path]) -> list[dict]:
    from rag.embeddings import get_embedder

    firsts = first_answering_prompts(items, config=config, seeds=seeds)
    embedder = get_embedder(config=config)
    records = []
    for item, messages in zip(items, firsts):
        first = messages[-1]["content"] if messages else None
        passages = None if first is None else prompt_passages(first)
        records.append({"id": item["id"], "answerable": item["answerable"], "lang": item.get("lang"),
                        "gated": first is None, "prompt_tokens": embedder.count_tokens(first) if first else 0,
                        **coverage(item, passages)})
    return records


def summary(records: list[dict]) -> dict:
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    asked = [r["prompt_tokens"] for r in records if not r["gated"]]

    def share(rows, key):
        return round(sum(bool(r[key]) for r in rows) / len(rows), 3) if rows else None

    return {
        "answerable": len(answerable),
        "all_groups_read": share(answerable, "all"),
        "group_share_read": round(sum(r["found"] / r["groups"] for r in answerable) / len(answerable), 3)
        if answerable else None,
        "answerable_gated": share(answerable, "gated"),
        "unanswerable": len(unanswerable),
        "unanswerable_gated": share(unanswerable, "gated"),
        "prompt_tokens_p50": statistics.median(asked) if asked else None,
    }


def main(argv: list[str] | None = None) -> int:
    from .gold import load_gold

    parser = argparse.ArgumentParser(prog="python -m eval.evidence", description=__doc__.split("\n")[0])
    parser.add_argument("--gold", type=Path, default=REPO_ROOT / "eval" / "gold.jsonl")
    parser.add_argument("--split", default="all")
    parser.add_argument("--seeds", type=Path, nargs="+", default=[REPO_ROOT / "seeds"])
    parser.add_argument("--collection", default="gold-eval")
    parser.add_argument("--json", type=Path, help="write the per-question records and the summary here")
    args = parser.parse_args(argv)
    config = RAGConfig.from_env(collection=args.collection, llm="local")
    try:
        items = load_gold(args.gold, split=args.split)
    except ValueError as exc:
        parser.error(str(exc))
    records = measure(items, config=config, seeds=args.seeds)
    result = {"gold": str(args.gold), "split": args.split, "top_k": config.top_k,
              "passage_tokens": config.passage_tokens, **summary(records)}
    print(json.dumps(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**result, "records": records}, ensure_ascii=False, indent=1),
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
