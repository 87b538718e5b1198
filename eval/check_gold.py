#!/usr/bin/env python3
"""Validate the gold QA evaluation set (eval/gold.jsonl).

Usage:
    python3 eval/check_gold.py [GOLD_FILE] [--seeds DIR] [--quiet]

Checks:
  * every line is valid JSON; ids are unique; required keys and types;
  * every regex compiles (case-insensitive, as the scorer uses re.search);
  * no alternative matches the empty string or a generic refusal answer;
  * answerable items: non-empty answer groups and sources; every source exists
    in the seeds dir; the FIRST group matches the text of every listed source
    (this group is also used for retrieval-hit checking);
  * unanswerable items: answers == [] and sources == [];
  * optional "history": list of [question, answer] string pairs.
Prints per-language counts, cross-lingual / unanswerable / follow-up /
multi-source counts. Exit code 1 if any error was found.
"""
import argparse
import collections
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_GOLD = os.path.join(HERE, "gold.jsonl")
DEFAULT_SEEDS = "/work/shared/seeds"
REQUIRED = {"id": str, "question": str, "answers": list, "sources": list,
            "answerable": bool, "lang": str}
OPTIONAL = {"history": list}
# answers that must never be accepted (a too-loose regex would match them)
NEUTRAL = [
    "",
    "I don't know. The articles do not say.",
    "Die Artikel enthalten dazu keine Angaben.",
    "Los artículos no mencionan esa información.",
    "Các bài báo không đề cập đến thông tin này.",
    "記事には記載されていません。",
    "文章中没有提到这一信息。",
    "Les articles ne le précisent pas.",
]
MINIMUMS = {"en": 6, "de": 6, "es": 6, "vi": 6, "ja": 4, "zh": 4, "fr": 4}


def detect_lang(text):
    """Very rough language guess for a seed article."""
    kana = sum(1 for c in text if "\u3040" <= c <= "\u30ff")
    han = sum(1 for c in text if "\u4e00" <= c <= "\u9fff")
    hangul = sum(1 for c in text if "\uac00" <= c <= "\ud7a3")
    if kana > 50:
        return "ja"
    if hangul > 50:
        return "ko"
    if han > 50:
        return "zh"
    words = re.findall(r"[a-zà-ÿ]+", text.lower())
    stop = {
        "fr": {"le", "la", "les", "des", "est", "une", "et", "du", "pour", "dans"},
        "en": {"the", "and", "of", "to", "is", "in", "that", "for", "with"},
        "de": {"der", "die", "und", "das", "ist", "nicht", "mit", "von"},
        "es": {"el", "los", "las", "y", "que", "del", "por", "una", "con"},
    }
    scores = {k: sum(w in v for w in words) for k, v in stop.items()}
    return max(scores, key=scores.get) if words else "xx"


def load_seeds(seeds_dir):
    docs = {}
    for name in sorted(os.listdir(seeds_dir)):
        if name.endswith(".txt"):
            with open(os.path.join(seeds_dir, name), encoding="utf-8") as f:
                docs[name[:-4]] = f.read()
    return docs


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gold", nargs="?", default=DEFAULT_GOLD)
    ap.add_argument("--seeds", default=DEFAULT_SEEDS)
    ap.add_argument("--quiet", action="store_true", help="only print errors and summary")
    args = ap.parse_args()

    docs = load_seeds(args.seeds)
    doc_lang = {d: detect_lang(t) for d, t in docs.items()}
    errors = []
    warnings = []
    items = []
    ids = set()
    questions = set()

    with open(args.gold, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for ln, line in enumerate(lines, 1):
        if not line.strip():
            errors.append(f"line {ln}: empty line")
            continue
        try:
            it = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"line {ln}: invalid JSON: {e}")
            continue
        if not isinstance(it, dict):
            errors.append(f"line {ln}: not a JSON object")
            continue
        iid = it.get("id", f"<line {ln}>")
        tag = f"{iid} (line {ln})"
        bad = False
        for k, t in REQUIRED.items():
            if k not in it:
                errors.append(f"{tag}: missing key {k!r}")
                bad = True
            elif not isinstance(it[k], t):
                errors.append(f"{tag}: key {k!r} should be {t.__name__}")
                bad = True
        for k in it:
            if k not in REQUIRED and k not in OPTIONAL:
                errors.append(f"{tag}: unknown key {k!r}")
        if bad:
            continue
        if iid in ids:
            errors.append(f"{tag}: duplicate id")
        ids.add(iid)
        q = it["question"].strip()
        if not q:
            errors.append(f"{tag}: empty question")
        if q in questions:
            errors.append(f"{tag}: duplicate question text")
        questions.add(q)

        hist = it.get("history")
        if hist is not None:
            if not hist or not all(isinstance(h, list) and len(h) == 2 and
                                   all(isinstance(s, str) and s.strip() for s in h)
                                   for h in hist):
                errors.append(f"{tag}: history must be a non-empty list of [question, answer] pairs")

        # regexes
        compiled = []
        for gi, group in enumerate(it["answers"]):
            if not isinstance(group, list) or not group:
                errors.append(f"{tag}: answer group {gi} must be a non-empty list")
                continue
            cg = []
            for alt in group:
                if not isinstance(alt, str) or not alt:
                    errors.append(f"{tag}: group {gi} has a non-string/empty alternative")
                    continue
                try:
                    rx = re.compile(alt, re.IGNORECASE)
                except re.error as e:
                    errors.append(f"{tag}: group {gi} regex {alt!r} does not compile: {e}")
                    continue
                for neutral in NEUTRAL:
                    if rx.search(neutral):
                        errors.append(f"{tag}: group {gi} regex {alt!r} matches a neutral "
                                      f"answer {neutral!r} (too loose)")
                        break
                cg.append(rx)
            compiled.append(cg)

        for s in it["sources"]:
            if not isinstance(s, str) or s not in docs:
                errors.append(f"{tag}: unknown source {s!r}")
        if len(set(it["sources"])) != len(it["sources"]):
            errors.append(f"{tag}: duplicate source")

        if it["answerable"]:
            if not it["answers"]:
                errors.append(f"{tag}: answerable but no answer groups")
            if not it["sources"]:
                errors.append(f"{tag}: answerable but no sources")
            if compiled and compiled[0]:
                for s in it["sources"]:
                    if s in docs and not any(rx.search(docs[s]) for rx in compiled[0]):
                        errors.append(f"{tag}: first group {it['answers'][0]} matches nothing "
                                      f"in source {s}")
                # informative: other docs that match the first group
                extra = [d for d in docs if d not in it["sources"]
                         and any(rx.search(docs[d]) for rx in compiled[0])]
                if extra and not args.quiet:
                    warnings.append(f"{tag}: first group also matches unlisted doc(s) {extra} "
                                    f"(check whether they state the answer)")
        else:
            if it["answers"] != [] or it["sources"] != []:
                errors.append(f"{tag}: unanswerable item must have empty answers and sources")
        items.append(it)

    # summary
    by_lang = collections.Counter(it["lang"] for it in items)
    unans = [it for it in items if not it["answerable"]]
    ans = [it for it in items if it["answerable"]]
    follow = [it for it in items if it.get("history")]
    multi = [it for it in ans if len(it["sources"]) > 1]
    cross = [it for it in ans if all(doc_lang.get(s) != it["lang"] for s in it["sources"])]
    ans_by_lang = collections.Counter(it["lang"] for it in ans)
    un_by_lang = collections.Counter(it["lang"] for it in unans)

    if warnings:
        print("Notes:")
        for w in warnings:
            print("  -", w)
    print(f"Seed languages: {doc_lang}")
    print(f"Total items: {len(items)}  (answerable {len(ans)}, unanswerable {len(unans)})")
    print("Per language (total / answerable / unanswerable):")
    for lang, n in sorted(by_lang.items(), key=lambda x: (-x[1], x[0])):
        print(f"  {lang}: {n} / {ans_by_lang[lang]} / {un_by_lang[lang]}")
    print(f"Cross-lingual answerable items: {len(cross)} of {len(ans)}")
    print(f"Multi-source answerable items: {len(multi)}")
    print(f"Follow-up items (with history): {len(follow)}")
    print(f"Items with 2+ answer groups: {sum(1 for it in ans if len(it['answers']) > 1)}")
    src_count = collections.Counter(s for it in ans for s in it["sources"])
    print("Items per source doc:", dict(sorted(src_count.items())))

    if len(items) < 66:
        print(f"WARNING: only {len(items)} items (< 66)")
    for lang, mn in MINIMUMS.items():
        if by_lang[lang] < mn:
            print(f"WARNING: language {lang} has {by_lang[lang]} items (< {mn})")
    if len(by_lang) < 8:
        print(f"WARNING: only {len(by_lang)} languages")
    if len(unans) < 14:
        print(f"WARNING: only {len(unans)} unanswerable items (< 14)")
    if len(follow) < 4:
        print(f"WARNING: only {len(follow)} follow-up items (< 4)")

    if errors:
        print(f"\n{len(errors)} ERROR(S):")
        for e in errors:
            print("  x", e)
        sys.exit(1)
    print("\nAll checks passed.")


if __name__ == "__main__":
    main()
