"""Large figures in answers: a small model copies the digits of 650億ドル (65 billion
dollars) and writes "650 Milliarden". The digits are in the passage, so the
invented-number check lets it through; here the answer's value (digits x scale word)
is compared with the values the passages state, and a figure whose digits match a
passage's but whose value does not is rewritten with the passage's value in the
answer's own scale word.

Figures are also compared by value (``number_keys``) by the invented-figure check
(refusal.py) and by the citation repair (citations.py).
"""

from __future__ import annotations

import re
from typing import Sequence

from .prompts import CJK_UNITS

# Scale words after a number, in the languages the answers come in. "mil millones"
# before "millones": alternatives are tried left to right.
_WESTERN_SCALES = [
    (r"mil millones", 10**9),
    (r"billions?|bn\b|milliarden?|mrd\b\.?|milliards?|miliard[oi]|bilh(?:ão|ões)|tỷ|млрд\.?|миллиард\w*", 10**9),
    (r"millions?|millionen|mio\b\.?|mill(?:ón|ones)|milion[ei]|milh(?:ão|ões)|triệu|млн\.?|миллион\w*", 10**6),
]
_CJK_SCALES = {**CJK_UNITS, "억": 10**8, "만": 10**4}  # the passages' units, and Korean answers'

# 14.3, 14,3, 1,300,000, 1.300.000, and 1 000 (French and others group thousands with a
# space: "plus de 1 000 milliards" read as 1 and 000 made 1 000 billion look invented).
NUMBER = r"(?<!\d)\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?!\d)|\d+(?:[.,]\d+)*"
# Western words end where the word ends ("millionaire" is no scale); CJK units run on.
_SCALE_WORD = "|".join(f"(?:{words})(?![^\\W\\d_])" for words, _ in _WESTERN_SCALES) + "|[" + "".join(_CJK_SCALES) + "]"
# Groups: the number, the space after it, the scale word.
_SCALED = re.compile(rf"(?<![\d.,])({NUMBER})(\s*)({_SCALE_WORD})(?![\d億亿万萬])", re.IGNORECASE)
_PLAIN = re.compile(rf"(?<![\d.,]){NUMBER}")
# "between 1000 and 4000 million": the scale word after the range covers both ends.
# Groups: the first number, the connector, the scale word (looked ahead, not consumed).
_RANGE = re.compile(
    rf"(?<![\d.,])({NUMBER})(\s*(?:-|–|~|～|to|and|und|bis|et|à|y|a|e|và|đến|и|до)\s*)"
    rf"(?={NUMBER}\s*({_SCALE_WORD}))",
    re.IGNORECASE,
)


def parse_number(text: str) -> float:
    """'14.3' / '14,3' -> 14.3; '1,300,000' / '1.300.000' / '65,000' -> integer.
    A separator followed by exactly three digits groups thousands; otherwise it is the
    decimal point (answers come in languages that write either). Spaces group thousands."""
    text = re.sub(r"[ \u00a0\u202f]", "", text)
    if "," in text and "." in text:  # 1.300,5 / 1,300.5: the last separator is the decimal point
        point = max(text.rfind(","), text.rfind("."))
        return float(digits(text[:point]) + "." + text[point + 1 :])
    groups = re.split(r"[.,]", text)
    if len(groups) > 1 and all(len(g) == 3 for g in groups[1:]):
        return float("".join(groups))
    if len(groups) == 2:
        return float(f"{groups[0]}.{groups[1]}")
    return float("".join(groups))


def _scale_of(word: str) -> int:
    if word in _CJK_SCALES:
        return _CJK_SCALES[word]
    for words, scale in _WESTERN_SCALES:
        if re.fullmatch(words, word, re.IGNORECASE):
            return scale
    raise ValueError(word)


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def stated_values(text: str) -> tuple[set[float], dict[str, set[float]]]:
    """Every value ``text`` states (scaled ones as digits x scale, plain numbers as
    themselves), and, for each scaled number's digits, the values they stand for."""
    values: set[float] = set()
    by_digits: dict[str, set[float]] = {}
    for match in _SCALED.finditer(text):
        value = parse_number(match.group(1)) * _scale_of(match.group(3))
        values.add(value)
        by_digits.setdefault(digits(match.group(1)), set()).add(value)
        first_group = re.match(r"\d+(?=[ \u00a0\u202f]\d{3})", match.group(1))
        if first_group:  # "1 000 milliards" read as "1": the model stopped at the space
            by_digits.setdefault(first_group.group(0), set()).add(value)
    for match in _PLAIN.finditer(text):
        values.add(parse_number(match.group(0)))
    return values, by_digits


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 0.005 * max(abs(a), abs(b))


# Languages that write 1,3 for 1.3 (the rest of those the refusal sentences cover use a point).
DECIMAL_COMMA_LANGUAGES = frozenset("de fr es it pt ru vi nl pl tr id cs sv da fi nb uk ro hu".split())


def _format(value: float, decimal_comma: bool) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if decimal_comma else text


def _stated_by(sources: Sequence[str]) -> tuple[set[float], dict[str, set[float]]]:
    """``stated_values`` of all ``sources`` together."""
    known: set[float] = set()
    by_digits: dict[str, set[float]] = {}
    for source in sources:
        values, values_by_digits = stated_values(source)
        known |= values
        for key, vals in values_by_digits.items():
            by_digits.setdefault(key, set()).update(vals)
    return known, by_digits


def repair_scales(answer: str, sources: Sequence[str], *, language: str = "en") -> str:
    """Rewrite each scaled figure of ``answer`` whose value no source states but whose
    digits one source figure has (a single value): "650 Milliarden" with a passage
    "650億(=65 billion)" becomes "65 Milliarden". Figures that match, or that match
    nothing (the invented-number check judges those), are left alone."""
    known, by_digits = _stated_by(sources)

    def repaired(number_text: str, scale_word: str) -> str:
        scale = _scale_of(scale_word)
        value = parse_number(number_text) * scale
        if any(_close(value, k) for k in known):
            return number_text
        # The same digits only: matching significant digits ("1 tỷ" for 1 000 milliards)
        # rewrote right figures on the gold set, since the 1 and 10 families are everywhere.
        meant = by_digits.get(digits(number_text), set())
        if len(meant) != 1:
            return number_text
        number = next(iter(meant)) / scale
        if not 0.1 <= number < 100_000:
            return number_text  # no sensible way to say it with this scale word
        return _format(number, language in DECIMAL_COMMA_LANGUAGES)

    answer = _RANGE.sub(lambda m: repaired(m.group(1), m.group(3)) + m.group(2), answer)
    answer = _SCALED.sub(lambda m: repaired(m.group(1), m.group(3)) + m.group(2) + m.group(3), answer)
    return _repair_spelled_out(answer, known, by_digits)


def without_stated_scaled_figures(answer: str, sources: Sequence[str]) -> str:
    """``answer`` without the scaled figures whose value a source states: "14.300 millones"
    (how Spanish writes 14.3 billion) states the passage's 143億(=14.3 billion) in other
    digits, so comparing digits alone would call it invented."""
    known, _ = _stated_by(sources)

    def stated(match: re.Match) -> str:
        value = parse_number(match.group(1)) * _scale_of(match.group(3))
        return "" if any(_close(value, k) for k in known) else match.group(0)

    return _SCALED.sub(stated, answer)


def _significant(digit_text: str) -> str:
    return digit_text.lstrip("0").rstrip("0")


# A plain number of four digits or more, not followed by a scale word (those are above).
# Whole numbers only ((?!\d)): "14300 millones" is not "1430" followed by "0 millones".
_SPELLED_OUT = re.compile(rf"(?<![\d.,])\d{{1,3}}(?:([.,\u0020\u00a0\u202f])\d{{3}})+(?!\d|[.,]\d)(?!\s*(?:{_SCALE_WORD}))"
                          rf"|(?<![\d.,])\d{{4,}}(?!\d|[.,]\d)(?!\s*(?:{_SCALE_WORD}))", re.IGNORECASE)


def _repair_spelled_out(answer: str, known: set[float], by_digits: dict[str, set[float]]) -> str:
    """"130,000 GPU" for a passage's 130万(=1.3 million): the model read 万 as a
    thousand. A plain number whose value no passage states, but whose significant
    digits are those of exactly one scaled passage figure, becomes that figure's value,
    written with the answer's own thousands separator."""

    def repl(match: re.Match) -> str:
        text = match.group(0)
        value = float(digits(text))
        if not match.group(1) and 1900 <= value < 2100:
            return text  # a year
        if any(_close(value, k) for k in known):
            return text
        wanted = _significant(digits(text))
        meant = {v for key, vals in by_digits.items() if _significant(key) == wanted for v in vals}
        if len(wanted) < 2 or len(meant) != 1:  # "1" or "2" alone would match too much
            return text
        number = next(iter(meant))
        if number == value or not number.is_integer():
            return text
        separator = match.group(1) or ""
        return f"{int(number):,}".replace(",", separator)

    return _SPELLED_OUT.sub(repl, answer)


# -- figures compared by value -------------------------------------------------------------
NUMBER_PATTERN = re.compile(NUMBER)
# The passages' CJK annotations spell the value out: 130万(=1.3 million).
_ANNOTATED_SCALE = re.compile(r"(\d+(?:\.\d+)?) (billion|million)")


def number_key(number: str) -> str:
    """A figure as compared between an answer and its sources: digits only, so 14.3 /
    14,3 and 1,300,000 / 1.300.000 compare equal. Leading zeros dropped: 0,2 (a
    repaired "0,2 milliards") is the figure 2, not "02"."""
    return digits(number).lstrip("0") or "0"


def number_keys(text: str) -> set[str]:
    """The keys of every figure in ``text``, with the converted forms of the passages'
    CJK annotations (130万(=1.3 million) also gives 1300000)."""
    keys = {number_key(n) for n in NUMBER_PATTERN.findall(text)}
    for number, scale in _ANNOTATED_SCALE.findall(text):
        keys.add(str(round(float(number) * (10**9 if scale == "billion" else 10**6))))
    return keys
