"""Citation checks: the [n] markers of an answer read, renumbered and repaired.

The small model is not trusted to cite: markers that point nowhere are dropped, and an
answer with none gets the passage that supports it best (by its figures, then the
names and words it adds to the question).
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from .figures import number_keys
from .names import katakana_names
from .prompts import annotate_cjk_numbers
from .retrieval import Hit, tokenize

# [1], [1, 3], [1、3], and the CJK brackets 【1】 ［1］ the model writes in CJK answers.
MARKER = re.compile(r"[\[【［]\s*(\d+(?:\s*[,、，;]\s*\d+)*)\s*[\]】］]")


def cited_numbers(text: str) -> list[int]:
    """Passage numbers the text cites, in order of first appearance."""
    seen: list[int] = []
    for match in MARKER.finditer(text):
        for number in re.findall(r"\d+", match.group(1)):
            if int(number) not in seen:
                seen.append(int(number))
    return seen


def renumber_citations(text: str, mapping: dict[int, int]) -> str:
    """Rewrite markers through ``mapping`` (old -> new); numbers not in it are dropped.
    "[1, 3]" becomes "[1][2]"; a marker left empty disappears with its space."""

    def repl(match: re.Match) -> str:
        numbers = []
        for number in re.findall(r"\d+", match.group(1)):
            new = mapping.get(int(number))
            if new is not None and new not in numbers:
                numbers.append(new)
        return "".join(f"[{n}]" for n in numbers)

    text = MARKER.sub(repl, text)
    text = re.sub(r"[ \t]+([.,;:!?。！？、，])", r"\1", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def _names_and_numbers(text: str) -> set[str]:
    """Capitalised words and numbers, lower-cased: what an answer shares with its source
    across languages (a French answer shares "le", "de", "modèles" with any French
    passage, but "Federighi" and "2023" only with the Chinese one that states them)."""
    return {w.lower() for w in re.findall(r"\w+", text) if len(w) > 1 and (w[0].isupper() or w[0].isdigit())}


def _shared_names(names: set[str], kana_names: Iterable[str], passage: str, passage_terms: set[str]) -> int:
    """How many of an answer's names a passage has: capitalised words among its words,
    katakana names (ジャック・ライ, which the answer took from a Japanese passage) in its text."""
    return len(names & passage_terms) + sum(name in passage for name in kana_names)


def best_supporting_passage(answer: str, hits: Sequence[Hit], *, question: str = "") -> int:
    """Index of the passage stating most of the answer's figures (by value), then sharing
    most names/numbers (katakana names included), then most words (CJK bigrams
    included); ties go to the better-ranked one. A figure of two digits or more says
    more than a name: "Meta" is in most passages of these articles, 1,300,000 in one.
    Names and words the ``question`` already has are not counted: every passage
    retrieval found shares them, whether or not it holds the answer (docs/decisions.md)."""
    # By value, as the invented-number check compares them: "1,300,000" is the
    # passage's 130万(=1.3 million).
    figures = {k for k in number_keys(answer) if len(k) >= 2}
    names, terms = _names_and_numbers(answer), {t for t in tokenize(answer) if len(t) > 1}
    names -= _names_and_numbers(question)
    terms -= set(tokenize(question))
    kana_names = set(katakana_names([answer])) - set(katakana_names([question]))
    best, best_key = 0, (0, 0, 0)
    for i, hit in enumerate(hits):
        # As the model read it: "65 billion" in the answer is the passage's 650億(=65 billion).
        passage = annotate_cjk_numbers(hit.passage_text())
        passage_terms = set(tokenize(passage))
        key = (len(figures & number_keys(passage)), _shared_names(names, kana_names, passage, passage_terms),
               len(terms & passage_terms))
        if key > best_key:
            best, best_key = i, key
    return best


def check_citations(text: str, hits: Sequence[Hit], *, question: str = "") -> tuple[str, list[int]]:
    """Drop markers that point nowhere, repair an answer with none (citing the passage
    that best supports what it adds to ``question``), number 1..m.

    Returns the new text and, for each new number n, the index into ``hits``.
    """
    valid = [n for n in cited_numbers(text) if 1 <= n <= len(hits)]
    if not valid:
        text = renumber_citations(text, {})
        valid = [best_supporting_passage(text, hits, question=question) + 1]
        text = _append_marker(text, valid[0])
    mapping = {old: new for new, old in enumerate(valid, start=1)}
    return renumber_citations(text, mapping), [old - 1 for old in valid]


def _append_marker(text: str, n: int) -> str:
    text = text.rstrip()
    match = re.search(r"[.。!！?？]$", text)
    if match:
        return f"{text[:-1]} [{n}]{text[-1]}"
    return f"{text} [{n}]"

