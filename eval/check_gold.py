#!/usr/bin/env python3
"""Validate the gold QA evaluation set (eval/gold.jsonl).

Usage:
    python3 eval/check_gold.py [GOLD_FILE] [--seeds DIR] [--quiet]
        [--targets auto|gold|heldout] [--strict] [--distinct-from OTHER_FILE]

Checks:
  * every line is valid JSON; ids are unique; required keys and types;
  * every regex compiles (case-insensitive, as the scorer uses re.search);
  * no alternative matches the empty string or a generic refusal answer;
  * answerable items: non-empty answer groups and sources; every source exists
    in the seeds dir; the FIRST group matches the text of every listed source
    (this group is also used for retrieval-hit checking);
  * unanswerable items: answers == [] and sources == [];
  * every answer group matches the text of at least one listed source (the
    answer is read off the articles), and the question alone (echoed with a
    refusal) does not satisfy every group;
  * optional "history": list of [question, answer] string pairs;
  * optional "split": dev | test | heldout; optional "kind": who | what | which |
    how_many | when | where | why | list (the form of the question, counted);
  * with --distinct-from: no question text is also in the other file, and
    near-copies (character-trigram Jaccard >= 0.6) are listed.
Prints per-language counts, cross-lingual / unanswerable / follow-up /
multi-source / two-article counts and the splits and kinds. A two-article item has
2+ sources and no single source matches every one of its answer groups.
Coverage targets (--targets; auto = heldout when every item's split is heldout,
else gold) are warnings, errors with --strict. Exit code 1 if any error was found.
"""
import argparse
import collections
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_GOLD = os.path.join(HERE, "gold.jsonl")
DEFAULT_SEEDS = os.path.join(HERE, "..", "seeds")
REQUIRED = {"id": str, "question": str, "answers": list, "sources": list,
            "answerable": bool, "lang": str}
OPTIONAL = {"history": list, "split": str, "kind": str}
SPLITS = ("dev", "test", "heldout")
KINDS = ("who", "what", "which", "how_many", "when", "where", "why", "list")
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
    # the product's own refusals (rag/language.py) and model-style ones
    "The articles don't say.",
    "Die Artikel sagen dazu nichts.",
    "Les articles ne le disent pas.",
    "Los artículos no lo dicen.",
    "Gli articoli non lo dicono.",
    "Os artigos não dizem.",
    "В статьях об этом не говорится.",
    "لا تذكر المقالات ذلك.",
    "Các bài báo không đề cập đến điều này.",
    "記事にはその情報は書かれていません。",
    "文章中没有提到这一点。",
    "기사에는 그 내용이 나와 있지 않습니다.",
    "Artikel-artikel tersebut tidak menyebutkannya.",
    "Makalelerde bu konuda bilgi yok.",
    "De artikelen zeggen dat niet.",
    "Artykuły o tym nie mówią.",
    "У статтях про це не йдеться.",
    "लेखों में इसका उल्लेख नहीं है।",
    "บทความไม่ได้กล่าวถึงเรื่องนี้",
    "Τα άρθρα δεν το αναφέρουν.",
    "Artiklarna säger inget om det.",
    "Články to neuvádějí.",
    "Articolele nu spun asta.",
    "NOT FOUND",
    "The article does not provide information about this [1].",
    "I could not find the answer in the provided articles.",
]
MINIMUMS = {"en": 6, "de": 6, "es": 6, "vi": 6, "ja": 4, "zh": 4, "fr": 4}
# Coverage targets per kind of file: the gold set's, and the held-out set's (issue #21:
# 150+ questions, 10+ languages, 30+ unanswerable near-misses, two-article questions,
# follow-ups, every question form).
TARGETS = {
    "gold": {"items": 66, "languages": 8, "unanswerable": 14, "follow_ups": 4,
             "two_article": 0, "per_source": 0, "minimums": MINIMUMS, "kinds": ()},
    "heldout": {"items": 150, "languages": 10, "unanswerable": 30, "follow_ups": 10,
                "two_article": 10, "per_source": 15,
                "minimums": {"en": 10, "de": 10, "es": 10, "fr": 10, "ja": 10, "zh": 10,
                             "ko": 8, "ru": 8, "vi": 8, "pt": 8, "it": 8, "ar": 6},
                "kinds": KINDS},
}


def grounding_errors(it, compiled, docs, tag):
    """Errors for an answerable item whose later groups are read off no source or whose
    question alone satisfies every group; and whether it needs two articles (2+ sources,
    none of which matches every group)."""
    errors = []
    for gi, cg in enumerate(compiled[1:], 1):
        if not any(rx.search(docs[s]) for s in it["sources"] if s in docs for rx in cg):
            errors.append(f"{tag}: group {gi} {it['answers'][gi]} matches none of its sources")
    echo = it["question"] + " " + NEUTRAL[1]
    if all(any(rx.search(echo) for rx in cg) for cg in compiled):
        errors.append(f"{tag}: the question itself satisfies every answer group (too loose)")
    holds_all = [s for s in it["sources"] if s in docs
                 and all(any(rx.search(docs[s]) for rx in cg) for cg in compiled)]
    return errors, len(it["sources"]) > 1 and not holds_all


def repeated_questions(items, other):
    """Errors for questions also in the gold file ``other``, notes for near-copies."""
    errors, notes = [], []
    with open(other, encoding="utf-8") as f:
        theirs = [json.loads(line)["question"].strip() for line in f if line.strip()]
    their_grams = [(q, trigrams(q)) for q in theirs]
    for it in items:
        q = it["question"].strip()
        if q in theirs:
            errors.append(f"{it['id']}: question also in {other}: {q!r}")
            continue
        mine = trigrams(q)
        close = max(((jaccard(mine, g), tq) for tq, g in their_grams), default=(0.0, ""))
        if close[0] >= 0.6:
            notes.append(f"{it['id']}: close to a question of {other} ({close[0]:.2f}): {q!r} ~ {close[1]!r}")
    return errors, notes


def coverage_misses(target, items, two_article, docs):
    """The coverage targets ``items`` falls short of."""
    by_lang = collections.Counter(it["lang"] for it in items)
    ans = [it for it in items if it["answerable"]]
    src_count = collections.Counter(s for it in ans for s in it["sources"])
    counts = {"items": len(items), "languages": len(by_lang),
              "unanswerable": len(items) - len(ans),
              "follow_ups": sum(1 for it in items if it.get("history")), "two_article": two_article}
    labels = {"items": "items", "languages": "languages", "unanswerable": "unanswerable items",
              "follow_ups": "follow-up items", "two_article": "two-article items"}
    misses = [f"only {counts[key]} {labels[key]} (< {target[key]})" for key in counts if counts[key] < target[key]]
    misses += [f"language {lang} has {by_lang[lang]} items (< {mn})"
               for lang, mn in target["minimums"].items() if by_lang[lang] < mn]
    misses += [f"source {doc} answers {src_count[doc]} items (< {target['per_source']})"
               for doc in sorted(docs) if target["per_source"] and src_count[doc] < target["per_source"]]
    misses += [f"no answerable item of kind {kind}" for kind in target["kinds"]
               if not any(it.get("kind") == kind for it in ans)]
    return misses


def compile_groups(it, tag, errors):
    """The answer groups as compiled case-insensitive patterns; a pattern that does not
    compile or matches a neutral (refusal) answer is an error."""
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
    return compiled


def check_item(it, tag, docs):
    """Errors and notes for one well-formed item (history, answer patterns, sources,
    grounding in the articles), and whether it needs two articles."""
    errors, notes, needs_two = [], [], False
    hist = it.get("history")
    if hist is not None:
        if not hist or not all(isinstance(h, list) and len(h) == 2 and
                               all(isinstance(s, str) and s.strip() for s in h)
                               for h in hist):
            errors.append(f"{tag}: history must be a non-empty list of [question, answer] pairs")

    compiled = compile_groups(it, tag, errors)

    for s in it["sources"]:
        if not isinstance(s, str) or s not in docs:
            errors.append(f"{tag}: unknown source {s!r}")
    if len(set(it["sources"])) != len(it["sources"]):
        errors.append(f"{tag}: duplicate source")

    if it["answerable"] and compiled and all(compiled):
        grounding, needs_two = grounding_errors(it, compiled, docs, tag)
        errors += grounding
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
            if extra:
                notes.append(f"{tag}: first group also matches unlisted doc(s) {extra} "
                             f"(check whether they state the answer)")
    else:
        if it["answers"] != [] or it["sources"] != []:
            errors.append(f"{tag}: unanswerable item must have empty answers and sources")
    return errors, notes, needs_two


def trigrams(text):
    text = re.sub(r"\s+", " ", text.lower())
    return {text[i:i + 3] for i in range(max(len(text) - 2, 1))}


def jaccard(a, b):
    return len(a & b) / len(a | b) if a | b else 0.0


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
    ap.add_argument("--targets", choices=["auto", "gold", "heldout"], default="auto",
                    help="coverage targets (auto: heldout when every item's split is heldout)")
    ap.add_argument("--strict", action="store_true", help="a missed coverage target is an error")
    ap.add_argument("--distinct-from", action="append", default=[], metavar="FILE",
                    help="another gold file whose questions this one must not repeat")
    args = ap.parse_args()

    docs = load_seeds(args.seeds)
    doc_lang = {d: detect_lang(t) for d, t in docs.items()}
    errors = []
    warnings = []
    items = []
    ids = set()
    questions = set()
    two_article_ids = set()

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
        if "split" in it and it["split"] not in SPLITS:
            errors.append(f"{tag}: split {it['split']!r} is not one of {SPLITS}")
        if "kind" in it and it["kind"] not in KINDS:
            errors.append(f"{tag}: kind {it['kind']!r} is not one of {KINDS}")
        if iid in ids:
            errors.append(f"{tag}: duplicate id")
        ids.add(iid)
        q = it["question"].strip()
        if not q:
            errors.append(f"{tag}: empty question")
        if q in questions:
            errors.append(f"{tag}: duplicate question text")
        questions.add(q)

        item_errors, item_notes, needs_two = check_item(it, tag, docs)
        errors += item_errors
        if not args.quiet:
            warnings += item_notes
        if needs_two:
            two_article_ids.add(iid)
        items.append(it)

    for other in args.distinct_from:
        repeated, close = repeated_questions(items, other)
        errors += repeated
        warnings += close

    # summary
    by_lang = collections.Counter(it["lang"] for it in items)
    unans = [it for it in items if not it["answerable"]]
    ans = [it for it in items if it["answerable"]]
    follow = [it for it in items if it.get("history")]
    multi = [it for it in ans if len(it["sources"]) > 1]
    two_article = [it for it in ans if it["id"] in two_article_ids]
    splits = collections.Counter(it.get("split", "-") for it in items)
    kinds = collections.Counter(it.get("kind", "-") for it in items)
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
    print(f"Two-article answerable items (no single source holds every group): {len(two_article)}")
    print("Splits:", dict(sorted(splits.items())))
    print("Kinds (all / answerable):", {k: f"{n}/{sum(1 for it in ans if it.get('kind', '-') == k)}"
                                        for k, n in sorted(kinds.items())})
    print(f"Follow-up items (with history): {len(follow)}")
    print(f"Items with 2+ answer groups: {sum(1 for it in ans if len(it['answers']) > 1)}")
    src_count = collections.Counter(s for it in ans for s in it["sources"])
    print("Items per source doc:", dict(sorted(src_count.items())))

    target_name = args.targets
    if target_name == "auto":
        target_name = "heldout" if items and all(it.get("split") == "heldout" for it in items) else "gold"
    misses = coverage_misses(TARGETS[target_name], items, len(two_article), docs)
    print(f"Coverage targets: {target_name}" + (" (strict)" if args.strict else ""))
    for miss in misses:
        (errors.append if args.strict else print)(miss if args.strict else f"WARNING: {miss}")

    if errors:
        print(f"\n{len(errors)} ERROR(S):")
        for e in errors:
            print("  x", e)
        sys.exit(1)
    print("\nAll checks passed.")


if __name__ == "__main__":
    main()
