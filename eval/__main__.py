"""python -m eval --gold eval/gold.jsonl --report-json reports/gold.json [--report-md F] [--k 5]
[--llm local|openai|extractive] [--split dev|test|all] [--limit N] [--gate eval/thresholds.json]"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag.config import REPO_ROOT, RAGConfig

from .gate import check_thresholds
from .gold import load_gold, run_gold_eval
from .metrics import METRIC_KEYS, format_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval", description="Evaluate the assistant on the gold Q&A set.")
    parser.add_argument("--gold", type=Path, default=REPO_ROOT / "eval" / "gold.jsonl")
    parser.add_argument("--report-json", type=Path, required=True)
    parser.add_argument("--report-md", type=Path)
    parser.add_argument("--k", type=int, help="passages given to the model (default: config top_k)")
    parser.add_argument("--llm", choices=["local", "openai", "extractive"])
    parser.add_argument("--split", choices=["dev", "test", "all"], default="all",
                        help="only the items of this split (the file's \"split\" field); default all")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--seeds", type=Path, nargs="+", default=[REPO_ROOT / "seeds"])
    parser.add_argument("--collection", default="gold-eval", help="Chroma collection for the seed articles")
    parser.add_argument("--gate", type=Path, help="thresholds JSON; exit 1 when a metric falls below")
    args = parser.parse_args(argv)

    overrides = {"collection": args.collection}
    if args.k:
        overrides["top_k"] = args.k
    if args.llm:
        overrides["llm"] = args.llm
    config = RAGConfig.from_env(**overrides)
    try:
        items = load_gold(args.gold, split=args.split)
    except ValueError as exc:
        parser.error(str(exc))
    if args.limit:
        items = items[: args.limit]
    if not items:
        parser.error(f"{args.gold} has no items in split {args.split!r}")

    from tqdm import tqdm

    bar = tqdm(total=len(items), unit="q", desc="gold eval", file=sys.stderr)
    report = run_gold_eval(items, config=config, seeds=args.seeds, progress=lambda done, total: bar.update(1))
    bar.close()
    report = {"gold": str(args.gold), "split": args.split, **report}

    args.report_json.parent.mkdir(parents=True, exist_ok=True)
    args.report_json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    per_split = report["per_split"] if len(report["per_split"]) > 1 else {}
    table = format_table({"all": report["metrics"], **per_split, **report["per_language"]}, METRIC_KEYS)
    stages = "\n".join(f"- {stage}: p50 {v['p50_s'] or 0:.3f} s, p95 {v['p95_s'] or 0:.3f} s"
                       for stage, v in report["latency_by_stage"].items())
    markdown = f"# Gold eval ({len(items)} questions, split {args.split}, llm={config.llm}, k={config.top_k})\n\n{table}\n\nLatency by stage:\n{stages}\n"
    if args.report_md:
        args.report_md.parent.mkdir(parents=True, exist_ok=True)
        args.report_md.write_text(markdown, encoding="utf-8")
    print(markdown)
    if args.gate:
        failures = check_thresholds(report["metrics"], json.loads(args.gate.read_text())["gold"])
        for line in failures:
            print(f"GATE FAILED: {line}")
        if failures:
            return 1
        print("gate passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
