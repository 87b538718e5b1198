"""The kind of answer a question asks for (a year) and whether a sentence holds one.

Retrieval gives sentences that hold the asked-for kind a bonus: "in what year did he
join Apple?" matches "Pang, who joined Apple from Alphabet in 2021, ..." less well by
meaning than sentences about Pang's move to Meta, but only the first has a year in it.
Measured (README, "Retrieval"): on the gold set it lifts both year questions into the
top 5; on XQuAD's 251 year questions over eight pairs it is neutral (recall@1 229 -> 228,
recall@5 246 -> 247). Percentages ("what stake") and dates ("when") were measured and
left out: their answers are often written another way ("over half", "20 to 1"), and on
XQuAD they pushed the gold paragraph down (percentage questions recall@1 103 -> 90 of
104; "when" questions zh:en 131 -> 100 of 149).
"""

from __future__ import annotations

import re

YEAR = "year"

# Question patterns per kind, for the languages the gold set and XQuAD ask in.
_QUESTION = {
    YEAR: re.compile(
        r"\b(?:what|which) year\b|\bwelche[mns]? jahr|\bquelle année|\bqu[ée] año|\bcuál año"
        r"|\bquale anno|\bche anno|\b(?:que|qual|em que) ano\b|năm nào|\bв как(?:ом|ой) году"
        r"|何年(?!間|前|後|ぶり|目|生)|哪一?年|几几年|몇 ?년(?:도|에)|어느 해",
        re.IGNORECASE,
    ),
}

_SENTENCE = {
    # A plausible calendar year: 1000-2099, not part of a longer number or a decimal
    # (a count like "1442 items" passes too; rare next to the sentence that matches).
    YEAR: re.compile(r"(?<![\d.,])(?:1\d{3}|20\d\d)(?!\d|[.,]\d)|(?<![\d.,])\d{3} ?年"),
}


def question_answer_kind(question: str) -> str | None:
    """YEAR when the question asks for one, else None."""
    for kind, pattern in _QUESTION.items():
        if pattern.search(question):
            return kind
    return None


def sentence_has_kind(sentence: str, kind: str) -> bool:
    return bool(_SENTENCE[kind].search(sentence))
