"""How much the gold figures move between runs of the same code, and the CI floors that
hold across that spread.

The same commit gives different answers on another machine (BLAS kernels, thread
counts and library builds change the last bits of embeddings and logits, and a 1.5B
model's greedy answer flips on such changes). A floor fitted to one run then fails the
next machine's. Run the gold eval under several such perturbations, then:

    python -m eval.spread reports/run-a.json reports/run-b.json ... [--thresholds eval/thresholds.json]

prints each metric per run, its range, the questions whose outcome differs between
runs, and the floor ``min(runs) - margin``, where the margin is the measured range
and never less than ``--min-questions`` questions of that metric's denominator.
With ``--thresholds`` it also says which gold floors sit above the floor the spread
allows (exit 1), so a floor is never set tighter than the machines' own spread.
``--keep DIR`` writes each report cut to what this needs (a few KB) into DIR:
eval/runs/ holds the runs the current floors come from, and a unit test checks the
floors against them. A run known only by its figures (another machine's CI log) can
stand there too, as {"name", "note", "metrics", "items": []}: it widens the range, and
the questions' count comes from the other runs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Sequence

from .gate import LOWER_IS_BETTER

GATED = ("recall_at_1", "recall_at_5", "mrr", "answer_accuracy", "refusal_accuracy",
         "false_refusal_rate", "citation_precision", "citation_support")


def denominator(metric: str, items: Sequence[dict]) -> int | None:
    """How many observations a metric averages in one report (for a margin in questions);
    None for a run recorded by its metrics alone."""
    if not items:
        return None
    answerable = [r for r in items if r["answerable"]]
    if metric == "refusal_accuracy":
        return sum(not r["answerable"] for r in items)
    if metric == "citation_precision":
        return max(1, sum(len(r.get("citations", [])) for r in answerable if not r["refused"]))
    if metric == "citation_support":
        return max(1, sum(not r["refused"] for r in answerable))
    return max(1, len(answerable))


def outcome(record: dict) -> tuple:
    """What a question's result is, for telling runs apart."""
    return (record.get("correct"), record["refused"],
            tuple(c["doc_id"] for c in record.get("citations", [])), tuple(record.get("retrieved", [])[:5]))


def differing_questions(reports: Sequence[dict]) -> list[str]:
    by_id = [{r["id"]: outcome(r) for r in report["items"]} for report in reports if report["items"]]
    ids = sorted(set().union(*by_id))
    return [i for i in ids if len({runs.get(i) for runs in by_id}) > 1]


def summary(report: dict, *, name: str, note: str = "") -> dict:
    """A report cut to what ``spread`` reads: its metrics and each item's outcome."""
    keep = ("id", "answerable", "correct", "refused")
    return {
        "name": name, "note": note, "metrics": {k: report["metrics"].get(k) for k in GATED},
        "items": [{**{k: r.get(k) for k in keep},
                   "citations": [{"doc_id": c["doc_id"]} for c in r.get("citations", [])],
                   "retrieved": r.get("retrieved", [])[:5]} for r in report["items"]],
    }


def spread(reports: Sequence[dict], *, min_questions: float = 1.0) -> dict[str, dict]:
    """Per gated metric: the runs' values, their range and the floor that holds across it."""
    out = {}
    for metric in GATED:
        values = [r["metrics"].get(metric) for r in reports]
        if any(v is None for v in values):
            continue
        n = min((d for r in reports if (d := denominator(metric, r["items"])) is not None), default=None)
        if n is None:
            continue
        margin = max(max(values) - min(values), min_questions / n)
        if metric in LOWER_IS_BETTER:
            limit = math.ceil((max(values) + margin) * 100 - 1e-9) / 100
        else:
            limit = math.floor((min(values) - margin) * 100 + 1e-9) / 100
        out[metric] = {"values": values, "range": max(values) - min(values), "n": n, "margin": margin,
                       "limit": limit}
    return out


def too_tight(figures: dict[str, dict], thresholds: dict) -> list[str]:
    """Gold floors set inside the measured spread: they would fail some measured run's machine."""
    problems = []
    for metric, limit in thresholds.items():
        if metric not in figures:
            continue
        allowed = figures[metric]["limit"]
        if (metric in LOWER_IS_BETTER and limit < allowed) or (metric not in LOWER_IS_BETTER and limit > allowed):
            problems.append(f"{metric}: threshold {limit} is inside the spread (at most {allowed} holds)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.spread", description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", type=Path, nargs="+", help="gold reports of python -m eval (same gold set)")
    parser.add_argument("--min-questions", type=float, default=1.0,
                        help="the smallest margin, in questions of each metric's denominator (default 1)")
    parser.add_argument("--thresholds", type=Path, help="eval/thresholds.json: check its gold floors")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="write each report's summary into DIR")
    parser.add_argument("--note", default="", help="with --keep: what the runs were (machine, date, setting)")
    args = parser.parse_args(argv)
    try:
        reports = [json.loads(p.read_text(encoding="utf-8")) for p in args.reports]
        for report in reports:
            report["metrics"], report["items"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: not gold reports of python -m eval ({exc})", file=sys.stderr)
        return 2
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        for path, report in zip(args.reports, reports):
            kept = summary(report, name=path.stem, note=args.note)
            (args.keep / path.name).write_text(json.dumps(kept, ensure_ascii=False, indent=0), encoding="utf-8")
    figures = spread(reports, min_questions=args.min_questions)
    names = " | ".join(p.stem for p in args.reports)
    print(f"| metric | {names} | range | n | floor |")
    print("|---|" + "---|" * (len(reports) + 3))
    for metric, f in figures.items():
        values = " | ".join(f"{v:.3f}" for v in f["values"])
        print(f"| {metric} | {values} | {f['range']:.3f} | {f['n']} | {f['limit']:.2f} |")
    differing = differing_questions(reports)
    questions = max(len(r["items"]) for r in reports)
    print(f"\n{len(differing)} of {questions} questions differ between runs: {', '.join(differing) or 'none'}")
    if args.thresholds:
        problems = too_tight(figures, json.loads(args.thresholds.read_text())["gold"])
        for line in problems:
            print(f"TOO TIGHT: {line}")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
