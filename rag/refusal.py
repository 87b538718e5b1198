"""When the assistant says the articles don't say.

Before the model runs: a question pinned to a year no passage mentions, or naming a
version ("iPhone 16") the articles never write. After it: a reply that is a refusal
(NOT FOUND) or no answer at all (the question echoed, bare markers, a sentence that
stops where the answer should be), and an answer resting on a figure that no source
holds, a small model's invention (an aside holding one is cut instead).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Sequence

from .citations import cited_numbers, renumber_citations
from .mentions import VersionMentions, version_mentions
from .figures import NUMBER_PATTERN, number_key, number_keys, without_stated_scaled_figures
from .retrieval import tokenize

_REFUSAL_PATTERNS = re.compile(
    r"NOT[ _]?FOUND|^\W*(the )?passages? (do|does) not (contain|mention|say|provide)|no passage (gives|contains|mentions)",
    re.IGNORECASE,
)


def is_refusal(text: str) -> bool:
    """The model said it cannot answer (it is told to write NOT FOUND)."""
    stripped = text.strip()
    if not stripped:
        return True
    match = _REFUSAL_PATTERNS.search(stripped)
    if not match:
        return False
    # "NOT FOUND" after a cited answer is the model hedging; the answer stands.
    before = stripped[: match.start()]
    return not cited_numbers(before)


# Words no finished sentence ends with (copulas, articles, prepositions), in the
# spaced scripts of the gold set's question languages. Left out: words that end
# sentences in another of those languages: German copulas (subordinate clauses end with
# them: "..., der dafür zuständig ist") and separable prefixes ("führte ... an", "stimmte
# zu"), English "son", "era", "do", French "là", German "da".
_DANGLING = {
    "is", "are", "was", "were", "the", "a", "of", "to", "for",
    "est", "sont", "était", "le", "la", "les", "du", "des", "de", "à", "un", "une",
    "der", "die", "das", "den", "dem", "von", "für",
    "fue", "el", "los", "las", "del",
    "è", "sono", "il", "lo", "gli", "di",
    "é", "são", "os",
    "của", "các", "những",
    "это", "является",
}


def is_non_answer(text: str, question: str) -> bool:
    """A reply that says nothing: only markers, the question repeated back (a small
    model's habit when it cannot find the answer), or a sentence that stops where the
    answer should be ("Le média cité pour dire que … est [6]."). Shown as a refusal,
    not as an answer."""
    bare = renumber_citations(text, {})
    answer_terms = set(tokenize(bare))
    # Nothing but markers, or no word or number that the question did not already have.
    if not answer_terms or not (answer_terms - set(tokenize(question))):
        return True
    return stops_short(bare)


def stops_short(text: str) -> bool:
    """The text's last word is one no finished sentence ends with ("… est"). Only as
    written in running text, lower case: a capital makes it part of a name ("its
    Series A")."""
    last = re.search(r"([^\W\d_]+)\W*$", text)
    return bool(last) and last.group(1) in _DANGLING


def unsupported_numbers(answer: str, sources: Sequence[str]) -> list[str]:
    """Numbers of two or more digits in the answer that none of ``sources`` (the
    passages as the model read them, the question, the conversation) contains: a
    small model's invented figure. Single digits are left alone (ordinals, "four
    years" written 4)."""
    known = set().union(*(number_keys(s) for s in sources)) if sources else set()
    # Figures with a scale word are judged by value first ("14.300 millones" for 143億).
    answer = without_stated_scaled_figures(renumber_citations(answer, {}), sources)
    return sorted({key for key in number_keys(answer) if len(key) >= 2 and key not in known})


_CLAUSE_COMMAS = ",，、"
_SENTENCE_ENDS = ".。!！?？\n"


def drop_unsupported_asides(answer: str, sources: Sequence[str], *, year_wanted: bool = False) -> str:
    """Remove the asides that hold an invented figure: a clause set off by commas or a
    parenthesis ("Alexandr Wang, who founded Scale AI in 2015, was 28 [2]" -> "Alexandr
    Wang was 28 [2]"), or the year a date was completed with ("Ngày 29 tháng 7 năm
    2021" -> "Ngày 29 tháng 7") unless the question asks for a year (``year_wanted``).
    The 1.5B model decorates right answers with a year from memory, and the
    invented-number check then refused the whole answer. A figure in the main clause is
    left, so the check still refuses an answer that rests on it."""
    for key in unsupported_numbers(answer, sources):
        for match in NUMBER_PATTERN.finditer(answer):
            if number_key(match.group()) != key:
                continue
            span = _aside_around(answer, match.start(), match.end())
            if span is None and not year_wanted:
                span = _year_of_date(answer, match.start(), match.end())
            if span:
                answer = answer[: span[0]] + answer[span[1] :]
                break
    return answer  # spacing is tidied with the markers (renumber_citations)


# A day and month followed by the year: "29 tháng 7 năm 2021", "July 29, 2021", "29 juillet
# 2021", "29. Juli 2021", "29 de julio de 2021"; and the year first: "2021年7月29日", "2021년 7월".
_DATE_BEFORE_YEAR = re.compile(
    r"(?:(?<!\d)\d{1,2}\.?\s+(?:de\s+)?[^\W\d_]+(?P<sep1>,?\s+(?:de\s+)?)"
    r"|[^\W\d_]+\s+\d{1,2}(?P<sep2>,\s*)|tháng\s+\d{1,2}(?P<sep3>,?\s+(?:năm\s+)?))$")
_YEAR_BEFORE_DATE = re.compile(r"(?P<sep>\s*[年년]\s*)\d{1,2}\s*[月월]")


def _year_of_date(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The span to cut when text[start:end] is a year completing a date, with what joins
    it to the day and month; None otherwise."""
    if not _YEAR.fullmatch(text[start:end]):
        return None
    before = _DATE_BEFORE_YEAR.search(text[max(0, start - 30) : start])
    if before:
        joint = before.group("sep1") or before.group("sep2") or before.group("sep3") or ""
        return start - len(joint), end
    after = _YEAR_BEFORE_DATE.match(text, end)
    if after:
        return start, after.start() + len(after.group("sep"))
    return None


def _aside_around(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The span to cut for an aside holding text[start:end]: "(...)" with the space
    before it, or ", ...," with both commas (the sentence reads on without it)."""
    open_paren, close_paren = text.rfind("(", 0, start), text.find(")", end)
    if open_paren != -1 and close_paren != -1 and not re.search(r"[()\n]", text[open_paren + 1 : start] + text[end:close_paren]):
        return (open_paren - 1 if open_paren and text[open_paren - 1] == " " else open_paren), close_paren + 1
    before = max((text.rfind(c, 0, start) for c in _CLAUSE_COMMAS + _SENTENCE_ENDS), default=-1)
    after = min((i for i in (text.find(c, end) for c in _CLAUSE_COMMAS + _SENTENCE_ENDS) if i != -1), default=-1)
    if before == -1 or after == -1 or text[before] not in _CLAUSE_COMMAS or text[after] not in _CLAUSE_COMMAS:
        return None  # not between two commas of one sentence: the figure is in the main clause
    return before, after + 1  # both commas go: "Wang, who founded it in 2015, was 28" -> "Wang was 28"


# A year the question is pinned to: 1900-2099, not part of a longer number or a figure.
# Decades ("the 1970s", "1970年代", "1970er") are no year the passages must repeat.
_YEAR = re.compile(r"(?<![\d.,])(19\d\d|20\d\d)(?![\d]|[.,]\d|['’]?s\b|年代|er\b|-?ies\b)")


def years_not_in_passages(question: str, passages: Sequence[str]) -> list[str]:
    """Years the question names that none of ``passages`` (what the model would read)
    mentions. Such a question is about another time than the articles ("Apple's revenue
    in fiscal 2024", "the 2023 Nobel Prize"): passages of the right subject clear the
    retrieval gate, and the 1.5B model answered them with a figure or name of another
    sentence. Years only: other figures are often rounded or converted in questions
    ("the 14 billion investment" for 143億ドル), years are written the same in every
    language and script (2024年, năm 2024)."""
    def years(text: str) -> set[str]:
        return set(_YEAR.findall(unicodedata.normalize("NFKC", text)))  # ２０２４ -> 2024

    known = set().union(*(years(p) for p in passages)) if passages else set()
    return sorted(years(question) - known)


# A product or version: a capitalised (or camel-case) Latin word and a small number,
# "iPhone 16", "GPT-4", "Llama 4", "Series 10". Years are the year gate's.
_VERSIONED_NAME = re.compile(r"(?<![A-Za-z])([A-Z][A-Za-z]+|[a-z]+[A-Z][A-Za-z]*)[ \-]?(\d{1,3})(?!\d|[.,]\d)")
# "July 7" is a date, which passages may write "7 July".
_MONTHS = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "january",
           "february", "march", "april", "june", "july", "august", "september", "october", "november",
           "december", "januar", "februar", "märz", "mai", "juni", "juli", "oktober", "dezember"}


def versions_not_in_articles(question: str, texts: Iterable[str] | VersionMentions) -> list[str]:
    """Versioned names in the question ("iPhone 16") whose name the articles use (in the
    same case: "Windows 11" says nothing of "windows", "Top 5" nothing of "top firms")
    but never with that number: the question is about another model than the articles,
    whose passages of the right subject clear the retrieval gate and whose figures a
    small model then gives as the answer. ``texts`` is every indexed chunk, not only the
    passages the model reads: passages often shorten a name the article states once
    ("the Super Bowl" in an article on Super Bowl 50). A name the articles don't have at
    all is not judged: it may be translated or transliterated there. ``texts`` may also
    be the index's VersionMentions (kept by the store), which holds the same facts."""
    versions = _VERSIONED_NAME.findall(unicodedata.normalize("NFKC", question))
    if not versions:
        return []
    mentions = texts if isinstance(texts, VersionMentions) else version_mentions(" ".join(texts))
    missing = []
    for name, number in versions:
        if name.lower() in _MONTHS or re.fullmatch(r"[IVXLCDM]+", name):
            continue  # a date, or a Roman numeral ("Super Bowl XXXIII 38 Jahre alt")
        if mentions.has_name(name) and not mentions.has_numbered(name, number):
            missing.append(f"{name} {number}")
    return missing


def strip_refusal_marker(text: str) -> str:
    return re.sub(r"\s*NOT[ _]?FOUND\.?\s*", " ", text).strip()
