#!/usr/bin/env python3
"""Assign every item of a gold file to the dev or the test split, by a fixed seeded rule.

Usage:
    python3 eval/split_gold.py [GOLD_FILE] [--check]

The rule (docs/evaluation-splits.md), which never looks at how the pipeline answers:
  * strata: (question language, answerable or not, follow-up with "history" or not);
  * within a stratum, items are ordered by SHA-256 of SEED + ":" + id;
  * the ordered items are dealt alternately to dev and test;
  * a stratum with an odd number of items has one extra item; strata are visited in
    sorted order and the extra one (the stratum's first) goes to the side that has
    fewer items so far of the same kind (answerable or not, follow-up or not), else
    of the same language, else in all, else to dev.
Items keep their line order and keys; "split" is set (added last when absent).
``--check`` changes nothing and exits 1 when the file's splits differ from the rule.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_GOLD = os.path.join(HERE, "gold.jsonl")
SEED = "rag-news-gold-split-2026-12-03"


def stratum(item: dict) -> tuple:
    return (item["lang"], bool(item["answerable"]), bool(item.get("history")))


def order_key(item_id: str) -> str:
    return hashlib.sha256(f"{SEED}:{item_id}".encode("utf-8")).hexdigest()


def assign_splits(items: list[dict]) -> dict[str, str]:
    """id -> "dev" | "test" for every item, by the rule above."""
    strata = defaultdict(list)
    for item in items:
        strata[stratum(item)].append(item["id"])
    splits = {}
    # dev minus test counts so far, per language, per kind and in all
    lead = defaultdict(int)
    for key in sorted(strata):
        lang, kind = key[0], key[1:]
        ids = sorted(strata[key], key=order_key)
        first = 0  # 0: the stratum's first item goes to dev, 1: to test
        if len(ids) % 2:
            diffs = [lead[("kind", kind)], lead[("lang", lang)], lead["all"]]
            first = 1 if next((d for d in diffs if d), 0) > 0 else 0
        for position, item_id in enumerate(ids):
            side = (position + first) % 2
            splits[item_id] = ("dev", "test")[side]
            step = 1 if side == 0 else -1
            for counter in (("lang", lang), ("kind", kind), "all"):
                lead[counter] += step
    return splits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gold", nargs="?", default=DEFAULT_GOLD)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    args = parser.parse_args(argv)

    with open(args.gold, encoding="utf-8") as f:
        items = [json.loads(line) for line in f.read().splitlines() if line.strip()]
    splits = assign_splits(items)
    differ = [it["id"] for it in items if it.get("split") != splits[it["id"]]]
    if args.check:
        if differ:
            print(f"{len(differ)} item(s) differ from the rule: {', '.join(differ)}")
            return 1
        print(f"all {len(items)} items follow the split rule")
        return 0
    with open(args.gold, "w", encoding="utf-8") as f:
        for item in items:
            item["split"] = splits[item["id"]]
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    counts = defaultdict(int)
    for item in items:
        counts[item["split"]] += 1
    print(f"wrote {args.gold}: {dict(sorted(counts.items()))}; {len(differ)} item(s) changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
