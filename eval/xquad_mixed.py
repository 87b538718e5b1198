"""XQuAD as an index of several languages: ``python -m eval.xquad_mixed``.

The product indexes articles in several languages at once, and a question in one of
them then competes with passages in its own language: multilingual-e5 scores those
higher whatever they say (docs/retrieval.md). The pairs of ``eval.xquad`` cannot show
this, each corpus being in one language. Here paragraph i of XQuAD is indexed in
language ``langs[i % len(langs)]`` (each paragraph once, in one language), and the
questions of every one of those languages are asked, so a fifth of them (with five
languages) find their paragraph in their own language and the rest in another. The
same questions are ranked with each ``same_language_penalty`` given, retrieval only.

    python -m eval.xquad_mixed --langs en,zh,de,es,vi --questions 200 --penalties 0,0.05,0.1,0.16 \\
        --report-json reports/xquad-mixed.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

from .xquad import XQuADPair, index_corpus, load_embedder, load_pair, pair_config, spread


def mixed_pair(xquad_dir, langs: Sequence[str], *, titles: bool = True) -> XQuADPair:
    """Paragraph i in language langs[i % len(langs)], no questions yet."""
    if len(langs) < 2 or len(set(langs)) != len(langs):
        raise ValueError("--langs needs two or more different languages, e.g. en,zh,de")
    by_lang = {lang: load_pair(xquad_dir, lang, lang, titles=titles).documents for lang in langs}
    count = len(by_lang[langs[0]])
    documents = [by_lang[langs[i % len(langs)]][i] for i in range(count)]
    return XQuADPair("mixed-" + "-".join(langs), "mixed", documents, [], titles)


def run_mixed(xquad_dir, langs: Sequence[str], penalties: Sequence[float], *, config, embedder,
              questions_per_language: int | None = None) -> dict:
    """recall@1, recall@5 and MRR per penalty: overall, for questions whose paragraph is
    in their own language ("same") or another ("cross"), and per question language."""
    from rag.retrieval import retrieve

    pair = mixed_pair(xquad_dir, langs)
    store, summary = index_corpus(pair, config=config, embedder=embedder)
    language_of = {d.doc_id: d.language for d in pair.documents}
    questions = {}
    for lang in langs:
        asked = load_pair(xquad_dir, langs[0], lang).questions  # doc ids are the same in every language
        questions[lang] = spread(asked, questions_per_language) if questions_per_language else asked
    results = []
    for penalty in penalties:
        cfg = pair_config(config, pair).replace(same_language_penalty=penalty)
        groups: dict[str, list[int | None]] = {"all": [], "same": [], "cross": [],
                                               **{f"questions in {lang}": [] for lang in langs}}
        for lang, asked in questions.items():
            for question in asked:
                hits = retrieve([question.text], store=store, embedder=embedder, config=cfg, languages=[lang]).hits
                ranked = [h.chunk.doc_id for h in hits]
                rank = ranked.index(question.doc_id) + 1 if question.doc_id in ranked else None
                where = "same" if language_of[question.doc_id] == lang else "cross"
                for group in ("all", where, f"questions in {lang}"):
                    groups.setdefault(group, []).append(rank)
        results.append({"same_language_penalty": penalty,
                        "groups": {name: _metrics(ranks) for name, ranks in groups.items() if ranks}})
    return {"langs": list(langs), "index": summary, "n_paragraphs": len(pair.documents),
            "questions_per_language": {lang: len(q) for lang, q in questions.items()}, "results": results}


def _metrics(ranks: Sequence[int | None]) -> dict:
    n = len(ranks)
    return {
        "n_questions": n,
        "recall_at_1": sum(r == 1 for r in ranks) / n,
        "recall_at_5": sum(r is not None and r <= 5 for r in ranks) / n,
        "mrr": sum(1 / r for r in ranks if r) / n,
    }


def markdown_table(report: dict) -> str:
    groups = list(report["results"][0]["groups"])
    lines = ["| same_language_penalty | " + " | ".join(groups) + " |",
             "|---|" + "---|" * len(groups)]
    for result in report["results"]:
        cells = [" / ".join(f"{result['groups'][g][k]:.3f}" for k in ("recall_at_1", "recall_at_5", "mrr"))
                 for g in groups]
        lines.append(f"| {result['same_language_penalty']:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n(recall@1 / recall@5 / MRR)\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.xquad_mixed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--langs", default="en,zh,de,es,vi", help="languages of the index, in rotation")
    parser.add_argument("--questions", type=int, default=None,
                        help="questions per language, evenly spaced (default: all 1190)")
    parser.add_argument("--penalties", default="0,0.1", help="same_language_penalty values to compare")
    parser.add_argument("--xquad-dir", default=None)
    parser.add_argument("--report-json", required=True)
    args = parser.parse_args(argv)
    from rag.config import RAGConfig

    try:
        langs = [lang.strip() for lang in args.langs.split(",") if lang.strip()]
        penalties = [float(p) for p in args.penalties.split(",") if p.strip()]
        config = RAGConfig.from_env()
        started = time.perf_counter()
        report = run_mixed(args.xquad_dir, langs, penalties, config=config, embedder=load_embedder(config),
                           questions_per_language=args.questions)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    Path(args.report_json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report_json).write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"index: {report['index']}")
    print(markdown_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
