"""Replay a gold report's recorded model answers through the current pipeline.

A gold run with the local model takes about 20 minutes, and two runs differ in both
the model's words and what the code does with them. Changes after generation (citation
checks, refusal rules, the figure repair, the spelling check) can be measured alone by
feeding each question's recorded raw answer back in place of the model: retrieval and
prompts run for real, only the LLM is replaced. On an unchanged pipeline this gives the
recorded report's figures exactly, so any difference is the change's.

    python -m eval.replay --from-report reports/gold.json --report-json /tmp/replayed.json

It is only faithful while retrieval and the prompt's question are unchanged: questions
whose retrieved passages differ from the recorded ones are listed as such.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Iterator, Sequence

from rag.config import REPO_ROOT, RAGConfig

from .metrics import METRIC_KEYS, format_table

NOT_FOUND = "NOT FOUND"
# Where build_messages / build_follow_up_messages put the question (rag/prompts.py).
_ANSWER_QUESTION = re.compile(r"(?:^|\n)Question: (.*)\n(?:.*\n)?Answer in [^\n]*:\s*$")
_FOLLOW_UP_QUESTION = re.compile(r"\nNew question: (.*)\n\n")


class ReplayLLM:
    """A stand-in for the model that says what the recorded run's model said.

    The answering prompt gets the recorded raw answer of the question it asks (NOT
    FOUND when the recorded run had none); the follow-up check says "no" exactly when
    the recorded answer was refused by the retrieval gate, which is what a "no" led to.
    An answer prompt after the recorded answer was given gets NOT FOUND, so the recorded
    answer stands.
    """

    name = "replay"
    avoids_words = True  # so a second attempt is asked the way the local model is

    def __init__(self, records: Sequence[dict]) -> None:
        self.by_question = {r["question"]: r for r in records}
        self.unknown: list[str] = []  # prompts whose question the report does not hold
        self.answered: set[str] = set()  # questions whose recorded answer was given

    def _record(self, question: str) -> dict | None:
        record = self.by_question.get(question.strip())
        if record is None:
            self.unknown.append(question)
        return record

    def stream(self, messages, *, max_tokens, temperature, avoid=()) -> Iterator[str]:
        from rag.answer import RETRIEVAL_GATE
        from rag.prompts import FOLLOW_UP_SYSTEM_PROMPT

        user = messages[-1]["content"]
        if messages[0]["content"] == FOLLOW_UP_SYSTEM_PROMPT:
            match = _FOLLOW_UP_QUESTION.search(user)
            record = self._record(match.group(1)) if match else None
            yield "no" if record and record["backend"] == RETRIEVAL_GATE else "yes"
            return
        from rag.refusal import is_non_answer, is_refusal

        match = _ANSWER_QUESTION.search(user)
        record = self._record(match.group(1)) if match else None
        raw = (record or {}).get("raw_answer") or NOT_FOUND
        if record is not None and record["question"] in self.answered:
            raw = NOT_FOUND
        elif record is not None and not (is_refusal(raw) or is_non_answer(raw, record["question"])):
            self.answered.add(record["question"])
        yield raw


def compare_items(old: Sequence[dict], new: Sequence[dict]) -> dict[str, list[dict]]:
    """What the replay changed, per question: ``changed`` (answer, correctness, refusal
    or citations differ) and ``retrieval_changed`` (the replay is not faithful there)."""
    recorded = {r["id"]: r for r in old}
    changed, retrieval_changed = [], []
    for r in new:
        o = recorded.get(r["id"])
        if o is None:
            continue
        if o.get("retrieved") != r.get("retrieved"):
            retrieval_changed.append({"id": r["id"]})
        keys = ("answer", "refused", "correct", "citations")
        if any(o.get(k) != r.get(k) for k in keys):
            changed.append({
                "id": r["id"],
                "correct": [o.get("correct"), r.get("correct")],
                "refused": [o["refused"], r["refused"]],
                "answer": [o["answer"], r["answer"]],
            })
    return {"changed": changed, "retrieval_changed": retrieval_changed}


def recorded_gold_file(recorded: dict) -> Path:
    """The gold file a report was run on (a held-out report replays the held-out
    questions), or eval/gold.jsonl when the report does not name one that exists."""
    named = Path(recorded.get("gold") or "")
    for path in (named, REPO_ROOT / named):
        if named.name and path.is_file():
            return path.resolve()
    return REPO_ROOT / "eval" / "gold.jsonl"


def replay_gold_eval(recorded: dict, items: Sequence[dict], *, config: RAGConfig, seeds: Sequence[Path],
                     progress=None) -> dict:
    """Run the gold eval with the recorded answers of ``recorded`` (a gold report) as the
    model; returns a gold report with a ``replay`` section (see ``compare_items``)."""
    from .gold import run_gold_eval

    llm = ReplayLLM(recorded["items"])
    report = run_gold_eval(items, config=config, seeds=seeds, llm=llm, progress=progress)
    report["replay"] = {**compare_items(recorded["items"], report["items"]),
                        "questions_not_in_report": sorted(set(llm.unknown))}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.replay",
        description="Replay a gold report's recorded answers through the current pipeline (no model).")
    parser.add_argument("--from-report", type=Path, required=True, help="a report of python -m eval")
    parser.add_argument("--report-json", type=Path, required=True)
    parser.add_argument("--gold", type=Path,
                        help="the questions (default: the recording's gold file when it exists, else eval/gold.jsonl)")
    parser.add_argument("--seeds", type=Path, nargs="+", default=[REPO_ROOT / "seeds"])
    parser.add_argument("--collection", default="gold-eval")
    args = parser.parse_args(argv)

    try:
        recorded = json.loads(args.from_report.read_text(encoding="utf-8"))
        recorded["items"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: {args.from_report} is not a gold report of python -m eval ({exc})", file=sys.stderr)
        return 2
    from .gold import load_gold

    config = RAGConfig.from_env(collection=args.collection, llm="local")
    # The recording's split, so a test-split report is replayed on the same questions.
    split = recorded.get("split", "all")
    gold = args.gold or recorded_gold_file(recorded)
    report = replay_gold_eval(recorded, load_gold(gold, split=split), config=config, seeds=args.seeds)
    report = {"gold": str(gold), "split": split, **report}
    args.report_json.parent.mkdir(parents=True, exist_ok=True)
    args.report_json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")

    keys = [k for k in METRIC_KEYS if not k.startswith("latency")]
    print(format_table({"recorded": recorded["metrics"], "replayed": report["metrics"]}, keys))
    replay = report["replay"]
    for change in replay["changed"]:
        print(f"\n{change['id']}: correct {change['correct'][0]} -> {change['correct'][1]}, "
              f"refused {change['refused'][0]} -> {change['refused'][1]}\n"
              f"  was: {change['answer'][0]}\n  now: {change['answer'][1]}")
    if replay["retrieval_changed"]:
        ids = ", ".join(c["id"] for c in replay["retrieval_changed"])
        print(f"\nnot faithful (retrieved passages differ from the recording): {ids}")
    if replay["questions_not_in_report"]:
        print(f"\nquestions the recording does not hold (answered NOT FOUND): {len(replay['questions_not_in_report'])}")
    print(f"\n{len(replay['changed'])} of {len(report['items'])} questions changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
