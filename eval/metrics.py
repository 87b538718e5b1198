"""Scoring: gold-answer matching, retrieval ranking metrics and aggregation.

Pure functions over plain records, so the harnesses (gold set, XQuAD) share them and
unit tests can check them on literal data.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from typing import Iterable, Sequence

METRIC_KEYS = (
    "recall_at_1", "recall_at_5", "mrr", "ndcg_at_10", "answer_accuracy", "refusal_accuracy",
    "false_refusal_rate", "citation_precision", "citation_support", "other_language_rate", "latency_p50_s",
    "latency_p95_s", "n_questions",
)
STAGES = ("embed", "retrieve", "generate", "total")


def matches_any(text: str, alternatives: Sequence[str]) -> bool:
    return any(re.search(alt, text, re.IGNORECASE) for alt in alternatives)


def answer_correct(text: str, groups: Sequence[Sequence[str]]) -> bool:
    """Every group has an alternative that matches (case-insensitive regex)."""
    return bool(groups) and all(matches_any(text, group) for group in groups)


def first_relevant_rank(relevant: Sequence[bool]) -> int | None:
    for rank, ok in enumerate(relevant, start=1):
        if ok:
            return rank
    return None


def ndcg_at(relevant: Sequence[bool], k: int, n_relevant_total: int) -> float:
    """Binary-relevance nDCG@k; the ideal ranking has min(n_relevant_total, k) hits on top."""
    dcg = sum(1.0 / math.log2(rank + 1) for rank, ok in enumerate(relevant[:k], start=1) if ok)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(max(n_relevant_total, 0), k) + 1))
    return dcg / ideal if ideal else 0.0


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def aggregate(records: Sequence[dict]) -> dict:
    """The report's metrics over per-question records.

    A record has: answerable (bool), relevant (list[bool], ranked retrieval), n_relevant
    (relevant passages in the whole index), correct (bool), refused (bool),
    cited_from_source (list[bool]), cited_support (bool), timings (dict stage -> s), and
    optionally lang and answer_language (codes).
    Metrics with nothing to measure are None.
    """
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    ranked = [r for r in answerable if r.get("relevant") is not None]
    answered = [r for r in answerable if not r["refused"]]
    cited = [flag for r in answered for flag in r.get("cited_from_source", [])]
    totals = [r["timings"]["total"] for r in records if "total" in r.get("timings", {})]
    return {
        "recall_at_1": _mean(float(any(r["relevant"][:1])) for r in ranked),
        "recall_at_5": _mean(float(any(r["relevant"][:5])) for r in ranked),
        "mrr": _mean(1.0 / rank if (rank := first_relevant_rank(r["relevant"])) else 0.0 for r in ranked),
        "ndcg_at_10": _mean(ndcg_at(r["relevant"], 10, r.get("n_relevant", 1)) for r in ranked),
        "answer_accuracy": _mean(float(r["correct"]) for r in answerable if r.get("correct") is not None),
        "refusal_accuracy": _mean(float(r["refused"]) for r in unanswerable),
        "false_refusal_rate": _mean(float(r["refused"]) for r in answerable),
        "citation_precision": _mean(float(f) for f in cited),
        "citation_support": _mean(float(r["cited_support"]) for r in answered if r.get("cited_support") is not None),
        # Answers (not refusals) written in another language than the question's, of those
        # whose language can be told (rag.language.answer_language).
        "other_language_rate": _mean(float(r["answer_language"] != r["lang"]) for r in records
                                     if not r["refused"] and r.get("answer_language") and r.get("lang")),
        "latency_p50_s": percentile(totals, 0.5),
        "latency_p95_s": percentile(totals, 0.95),
        "n_questions": len(records),
    }


def stage_latencies(records: Sequence[dict]) -> dict:
    out = {}
    for stage in STAGES:
        values = [r["timings"][stage] for r in records if stage in r.get("timings", {})]
        out[stage] = {"p50_s": percentile(values, 0.5), "p95_s": percentile(values, 0.95)}
    return out


def by_language(records: Sequence[dict]) -> dict:
    langs = sorted({r["lang"] for r in records})
    return {lang: aggregate([r for r in records if r["lang"] == lang]) for lang in langs}


# -- SQuAD-style answer normalisation (for XQuAD) -------------------------------------
_PUNCT = set(string.punctuation) | set("。、，．！？：；「」『』（）《》【】“”‘’·・")


def normalize_answer(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if ch in _PUNCT or unicodedata.category(ch).startswith("P") else ch for ch in text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _answer_tokens(text: str) -> list[str]:
    from rag.retrieval import tokenize

    return tokenize(normalize_answer(text))


def contains_answer(prediction: str, golds: Sequence[str]) -> bool:
    pred = normalize_answer(prediction)
    pred_nospace = pred.replace(" ", "")
    for gold in golds:
        g = normalize_answer(gold)
        if g and (g in pred or g.replace(" ", "") in pred_nospace):
            return True
    return False


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    pred = Counter(_answer_tokens(prediction))
    best = 0.0
    for gold in golds:
        ref = Counter(_answer_tokens(gold))
        common = sum((pred & ref).values())
        if not common:
            continue
        precision, recall = common / sum(pred.values()), common / sum(ref.values())
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def format_table(rows: dict[str, dict], keys: Sequence[str] = METRIC_KEYS) -> str:
    """A Markdown table, one row per name."""
    header = "| | " + " | ".join(keys) + " |"
    lines = [header, "|" + "---|" * (len(keys) + 1)]
    for name, metrics in rows.items():
        cells = []
        for key in keys:
            value = metrics.get(key)
            cells.append("–" if value is None else (str(value) if isinstance(value, int) else f"{value:.3f}"))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
