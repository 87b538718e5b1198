"""Question -> retrieval -> prompt -> generation -> checked, cited Answer.

The small model is not trusted to cite or to refuse on its own: markers that point
nowhere are dropped, an answer with none gets the passage that supports it best, and
a question whose best passage is not even about the topic is refused before the model
runs (cheaper and more reliable than asking a 1.5B model to judge).
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import numpy as np

from .answer_kind import YEAR, question_answer_kind
from .chunking import split_sentences
from .config import RAGConfig
from .figures import NUMBER, digits, repair_scales
from .language import detect_language, named_article_language, refusal_text
from .names import add_source_spellings, katakana_names
from .prompts import (NOT_FOUND, annotate_cjk_numbers, build_messages, mend_mixed_script_names, passage_reading,
                      strip_annotations, strip_invented_spellings)
from .retrieval import Hit, retrieve, select_passages

MAX_QUESTION_CHARS = 2000
# Answer.backend of refusals decided before any model ran.
RETRIEVAL_GATE, YEAR_GATE, VERSION_GATE = "retrieval-gate", "year-gate", "version-gate"


class EmptyIndexError(RuntimeError):
    """No articles are indexed yet."""


@dataclass(frozen=True)
class Citation:
    n: int  # the [n] marker in Answer.text
    doc_id: str
    title: str
    language: str
    text: str  # the passage
    start: int  # the passage's character span in the original document
    end: int
    score: float
    chunk_id: str
    # The sentence of the passage that best supports the answer (document offsets).
    highlight_start: int | None = None
    highlight_end: int | None = None


@dataclass
class Answer:
    question: str
    text: str
    language: str
    refused: bool
    citations: list[Citation]
    retrieved: list[Hit]  # the ranked chunks; the model read windows of the best (select_passages)
    timings: dict[str, float] = field(default_factory=dict)
    backend: str = ""
    raw_text: str = ""  # the model's own words, before citation checks
    best_score: float = 0.0  # the best retrieval score, which the gate compared with min_score

    def sources_markdown(self) -> str:
        lines = []
        for c in self.citations:
            lines.append(f"[{c.n}] {c.title} ({c.language}, {c.doc_id}, chars {c.start}-{c.end})")
        return "\n".join(lines)


# -- citations -------------------------------------------------------------------------
_MARKER = re.compile(r"[\[【［]\s*(\d+(?:\s*[,、，;]\s*\d+)*)\s*[\]】］]")


def cited_numbers(text: str) -> list[int]:
    """Passage numbers the text cites, in order of first appearance."""
    seen: list[int] = []
    for match in _MARKER.finditer(text):
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

    text = _MARKER.sub(repl, text)
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
    retrieval found shares them, whether or not it holds the answer (README,
    "Design for a small model")."""
    from .retrieval import tokenize

    # By value, as the invented-number check compares them: "1,300,000" is the
    # passage's 130万(=1.3 million).
    figures = {k for k in _number_keys(answer) if len(k) >= 2}
    names, terms = _names_and_numbers(answer), {t for t in tokenize(answer) if len(t) > 1}
    names -= _names_and_numbers(question)
    terms -= set(tokenize(question))
    kana_names = set(katakana_names([answer])) - set(katakana_names([question]))
    best, best_key = 0, (0, 0, 0)
    for i, hit in enumerate(hits):
        # As the model read it: "65 billion" in the answer is the passage's 650億(=65 billion).
        passage = annotate_cjk_numbers(hit.passage_text())
        passage_terms = set(tokenize(passage))
        key = (len(figures & _number_keys(passage)), _shared_names(names, kana_names, passage, passage_terms),
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


# -- refusal ---------------------------------------------------------------------------
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
    from .retrieval import tokenize

    bare = renumber_citations(text, {})
    answer_terms = set(tokenize(bare))
    # Nothing but markers, or no word or number that the question did not already have.
    if not answer_terms or not (answer_terms - set(tokenize(question))):
        return True
    return _stops_short(bare)


def _stops_short(text: str) -> bool:
    """The text's last word is one no finished sentence ends with ("… est")."""
    last = re.search(r"([^\W\d_]+)\W*$", text)
    return bool(last) and last.group(1).casefold() in _DANGLING


_NUMBER = re.compile(NUMBER)


_SCALED = re.compile(r"(\d+(?:\.\d+)?) (billion|million)")


def _number_key(number: str) -> str:
    # Digits only, so 14.3 / 14,3 and 1,300,000 / 1.300.000 compare equal. Leading zeros
    # dropped: 0,2 (a repaired "0,2 milliards") is the figure 2, not "02".
    return digits(number).lstrip("0") or "0"


def _number_keys(text: str) -> set[str]:
    # The passages' CJK annotations (130万(=1.3 million)) supply the converted forms,
    # spelled out too.
    keys = {_number_key(n) for n in _NUMBER.findall(text)}
    for number, scale in _SCALED.findall(text):
        keys.add(str(round(float(number) * (10**9 if scale == "billion" else 10**6))))
    return keys


def unsupported_numbers(answer: str, sources: Sequence[str]) -> list[str]:
    """Numbers of two or more digits in the answer that none of ``sources`` (the
    passages as the model read them, the question, the conversation) contains: a
    small model's invented figure. Single digits are left alone (ordinals, "four
    years" written 4)."""
    known = set().union(*(_number_keys(s) for s in sources)) if sources else set()
    answer = renumber_citations(answer, {})
    return sorted({key for key in _number_keys(answer) if len(key) >= 2 and key not in known})


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
        for match in _NUMBER.finditer(answer):
            if _number_key(match.group()) != key:
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


def versions_not_in_articles(question: str, texts: Iterable[str]) -> list[str]:
    """Versioned names in the question ("iPhone 16") whose name the articles use but
    never with that number: the question is about another model than the articles
    (gold es-08, the price of the iPhone 16 Pro, was answered with the $741 of an
    Apple Watch Ultra 2). ``texts`` is every indexed chunk, not only the passages the
    model reads: passages often shorten a name the article states once ("the Super
    Bowl" in an article on Super Bowl 50). A name the articles don't have at all is not
    judged: it may be translated or transliterated there."""
    versions = _VERSIONED_NAME.findall(unicodedata.normalize("NFKC", question))
    if not versions:
        return []
    text = unicodedata.normalize("NFKC", " ".join(texts))
    missing = []
    for name, number in versions:
        if name.lower() in _MONTHS or re.fullmatch(r"[IVXLCDM]+", name):
            continue  # a date, or a Roman numeral ("Super Bowl XXXIII 38 Jahre alt")
        word = rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])"
        if re.search(word, text, re.IGNORECASE) and not re.search(
                word + rf"[ \-]?{number}(?!\d|[.,]\d)", text, re.IGNORECASE):
            missing.append(f"{name} {number}")
    return missing


def strip_refusal_marker(text: str) -> str:
    return re.sub(r"\s*NOT[ _]?FOUND\.?\s*", " ", text).strip()


def tidy_answer(raw: str, sources: Sequence[str], *, language: str, year_wanted: bool = False) -> str:
    """The model's answer after the checks that mend it against ``sources`` (what the
    model read: passages, question, conversation), in this order:
    the passages' katakana spelling beside a romanized name (names.py); spellings in
    parentheses that no source has removed, katakana names ended in Chinese mended
    (prompts.py); misread figures given the passages' value (figures.py); asides
    holding a figure no source has cut, and a year no source has that completes a date
    (unless ``year_wanted``: the question asks for it). What is left may still state an invented
    figure: ``unsupported_numbers`` judges that, and such an answer is refused."""
    text = add_source_spellings(strip_refusal_marker(raw), sources)
    text = mend_mixed_script_names(strip_invented_spellings(text, sources), sources)
    text = repair_scales(text, sources, language=language)
    return drop_unsupported_asides(text, sources, year_wanted=year_wanted)


# -- asking ----------------------------------------------------------------------------
def normalize_history(history) -> list[tuple[str, str]]:
    """Accept [(user, assistant), ...] or OpenAI-style [{"role", "content"}, ...]."""
    if not history:
        return []
    pairs: list[tuple[str, str]] = []
    if isinstance(history[0], dict):
        pending = None
        for message in history:
            role, content = message.get("role"), str(message.get("content") or "")
            if role == "user":
                pending = content
            elif role == "assistant" and pending is not None:
                pairs.append((pending, content))
                pending = None
        return pairs
    for turn in history:
        user, assistant = turn[0], turn[1]
        if user:
            pairs.append((str(user), str(assistant or "")))
    return pairs


def _clean_history(history: list[tuple[str, str]], turns: int) -> list[tuple[str, str]]:
    # Earlier answers are trimmed and stripped of markers: they only resolve pronouns.
    recent = history[-turns:] if turns > 0 else []
    return [(q, renumber_citations(a, {})[:300]) for q, a in recent]


def ask(question: str, *, config: RAGConfig | None = None, history=None,
        store=None, embedder=None, llm=None) -> Answer:
    """Answer ``question`` from the indexed articles, in the question's language."""
    answer = None
    for item in ask_stream(question, config=config, history=history, store=store, embedder=embedder, llm=llm):
        if isinstance(item, Answer):
            answer = item
    assert answer is not None
    return answer


def ask_stream(question: str, *, config: RAGConfig | None = None, history=None,
               store=None, embedder=None, llm=None) -> Iterator[str | Answer]:
    """Like ``ask``, but yields the model's text as it comes, then the final Answer.

    The final Answer's text can differ from the streamed text: citations are checked
    and a refusal is replaced by the standard wording in the question's language.
    """
    config = config or RAGConfig.from_env()
    question = (question or "").strip()
    if not question:
        raise ValueError("The question is empty.")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(f"The question is too long ({len(question)} characters; at most {MAX_QUESTION_CHARS}).")
    t_start = time.perf_counter()
    if embedder is None:
        from .embeddings import get_embedder

        embedder = get_embedder(config=config)
    if store is None:
        from .store import open_store

        store = open_store(config=config, embedder=embedder)
    if store.count() == 0:
        raise EmptyIndexError("No articles are indexed yet. Add some first: python ingest.py")

    language = detect_language(question)
    turns = _clean_history(normalize_history(history), config.history_turns)
    queries = [question]
    if turns:
        # A follow-up ("and when did he join?") is searched together with the
        # question it follows, which names what "he" is. (Adding the earlier answer
        # as well measured worse on the gold set's follow-ups.)
        queries.append(f"{turns[-1][0]} {question}")
    query_languages = [language] * len(queries)
    named = named_article_language(question)
    prefer = named if named and named in store.languages() else None
    retrieval = retrieve(queries, store=store, embedder=embedder, config=config, languages=query_languages,
                         prefer_language=prefer)
    timings = dict(retrieval.timings)
    if config.llm != "extractive" and llm is None:
        from .llm import get_llm

        llm = get_llm(config=config)
    gate_score = retrieval.best_score
    if (turns and llm is not None and config.llm != "extractive"
            and retrieval.query_scores[0] < config.min_score <= retrieval.best_score):
        # Only the earlier question makes the articles look relevant: this is either a
        # follow-up ("when was he appointed?") or a new subject ("who won the World
        # Cup?", which the model would answer from memory citing the earlier passages).
        # Nothing in the scores tells them apart (gold follow-up vi-04 scores 0.876 on
        # its own, off-topic questions 0.83-0.98), so the model is asked.
        from .query import refers_to_conversation

        t0 = time.perf_counter()
        if not refers_to_conversation(question, turns, llm=llm):
            gate_score = retrieval.query_scores[0]
        timings["follow_up"] = time.perf_counter() - t0
    targets = [lang for lang in store.languages() if lang != language]
    if (config.translate_queries and config.llm != "extractive" and llm is not None and targets
            and gate_score >= config.min_score):
        # Search again with the question in the articles' own languages.
        from .query import translate_question

        t0 = time.perf_counter()
        translations = translate_question(question, targets, llm=llm)
        timings["translate"] = time.perf_counter() - t0
        if translations:
            retrieval = retrieve(queries + list(translations.values()), store=store, embedder=embedder,
                                 config=config, languages=query_languages + list(translations),
                                 prefer_language=prefer)
            timings["embed"] += retrieval.timings["embed"]
            timings["retrieve"] += retrieval.timings["retrieve"]
            gate_score = max(gate_score, retrieval.best_score)
    passages = select_passages(retrieval.hits, config.top_k, max_tokens=config.passage_tokens,
                               count_tokens=embedder.count_tokens)

    def finish(text: str, raw: str, refused: bool, used: list[int], backend: str,
               highlights: dict[int, tuple[int, int]] | None = None) -> Answer:
        citations = []
        for n, index in enumerate(used, start=1):
            hit = passages[index]
            span = (highlights or {}).get(index)
            citations.append(Citation(
                n=n, doc_id=hit.chunk.doc_id, title=hit.chunk.title, language=hit.chunk.language,
                text=hit.chunk.text, start=hit.chunk.start, end=hit.chunk.end, score=hit.score,
                chunk_id=hit.chunk.chunk_id,
                highlight_start=span[0] if span else None, highlight_end=span[1] if span else None,
            ))
        timings["total"] = time.perf_counter() - t_start
        return Answer(question=question, text=text, language=language, refused=refused, citations=citations,
                      retrieved=retrieval.hits, timings=timings, backend=backend, raw_text=raw,
                      best_score=gate_score)

    # The gates that refuse before any model runs, cheapest first.
    if not passages or gate_score < config.min_score:
        gate = RETRIEVAL_GATE
    elif years_not_in_passages(question, [p.passage_text() for p in passages]):
        gate = YEAR_GATE
    elif versions_not_in_articles(question, (chunk.text for chunk in store.all_chunks())):
        gate = VERSION_GATE
    else:
        gate = None
    if gate:
        timings["generate"] = 0.0
        yield finish(refusal_text(language), "", True, [], gate)
        return

    if config.llm == "extractive":
        t0 = time.perf_counter()
        text, used, highlights = extractive_answer(question, passages, embedder=embedder)
        timings["generate"] = time.perf_counter() - t0
        yield text
        yield finish(text, text, False, used, "extractive", highlights)
        return

    kind = question_answer_kind(question)
    read = _what_the_model_read(passages, kind, question, turns)
    t0 = time.perf_counter()
    insist, avoid = False, ()
    for attempt in (1, 2):
        messages = build_messages(question, passages, language=language, history=turns, insist=insist,
                                  answer_kind=kind)
        words: list[str] = []  # everything the model said, held-back refusal included
        # ``avoid`` only when there is something to avoid: ChatModels without it still work.
        stream = llm.stream(messages, max_tokens=config.max_tokens, temperature=config.temperature,
                            **({"avoid": avoid} if avoid else {}))
        for delta in _hold_back_not_found(_recorded(stream, words)):
            if "first_token" not in timings:
                timings["first_token"] = time.perf_counter() - t0
            yield delta
        raw = strip_annotations("".join(words)).strip()
        said_not_found = is_refusal(raw)
        refused = said_not_found or is_non_answer(raw, question)
        # Strong retrieval evidence outweighs the small model's refusal: ask once more
        # (README, "Design for a small model").
        if not (refused and attempt == 1 and retrieval.best_score >= config.answer_score):
            break
        insist, avoid = second_attempt(said_not_found, llm)
    timings["generate"] = time.perf_counter() - t0
    if (refused and not said_not_found and config.quote_pointed_passage
            and retrieval.best_score >= config.answer_score):
        # Asked twice, the model still wrote no answer but pointed at one passage
        # ("Le média cité … est [3]."): show that passage's sentence rather than refuse.
        pointed = quote_pointed_passage(raw, question, passages, embedder=embedder)
        if pointed is not None and not unsupported_numbers(pointed[0], read):
            text, index, span = pointed
            text, used = check_citations(text, passages)
            yield finish(text, raw, False, used, llm.name, {index: span})
            return
    checked = None if refused else _checked_answer(raw, passages, read, question=question, language=language,
                                                   answer_kind=kind)
    if checked is None:
        yield finish(refusal_text(language), raw, True, [], llm.name)
        return
    text, used = checked
    if config.recheck_from_passage and min(used) >= config.recheck_from_passage - 1:
        # Only weak passages back this answer: see what the strongest ones say.
        t0 = time.perf_counter()
        strongest = passages[:min(RECHECK_PASSAGES, config.recheck_from_passage - 1)]
        rechecked = answer_from_passages(question, strongest, llm=llm, config=config, language=language, history=turns)
        timings["recheck"] = time.perf_counter() - t0
        if rechecked is not None:
            text, used, raw = rechecked  # ``strongest`` is a prefix: its indices are passages'
    highlights = highlight_spans(text, [passages[i] for i in used], embedder=embedder)
    yield finish(text, raw, False, used, llm.name, {i: highlights[j] for j, i in enumerate(used) if highlights[j]})


def _what_the_model_read(passages: Sequence[Hit], kind: str | None, question: str,
                         turns: list[tuple[str, str]]) -> list[str]:
    # What an answer may take its figures and names from: the passages as the prompt
    # showed them, the question and the conversation.
    return [passage_reading(p.passage_text(), kind) for p in passages] + [question] + [q + " " + a for q, a in turns]


def _checked_answer(raw: str, passages: Sequence[Hit], read: list[str], *, question: str, language: str,
                    answer_kind: str | None) -> tuple[str, list[int]] | None:
    """A reply that is an answer, mended against what the model ``read`` and cited
    (text, indices of the cited passages); None when it still states an invented figure."""
    text = tidy_answer(raw, read, language=language, year_wanted=answer_kind == YEAR)
    if unsupported_numbers(text, read):
        return None
    return check_citations(text, passages, question=question)


RECHECK_PASSAGES = 3  # how many of the best passages a weakly backed answer is checked on


def answer_from_passages(question: str, passages: Sequence[Hit], *, llm, config: RAGConfig, language: str,
                         history: Sequence[tuple[str, str]] = ()) -> tuple[str, list[int], str] | None:
    """Ask once on ``passages`` alone and check the reply as ``ask`` does: (text,
    indices of the cited passages, raw reply), or None when the reply is no usable answer
    (a refusal, no answer at all, or a figure the passages do not hold). Not streamed:
    it replaces an answer already shown."""
    kind = question_answer_kind(question)
    messages = build_messages(question, passages, language=language, history=list(history), answer_kind=kind)
    reply = llm.stream(messages, max_tokens=config.max_tokens, temperature=config.temperature)
    raw = strip_annotations("".join(reply)).strip()
    if is_refusal(raw) or is_non_answer(raw, question):
        return None
    read = _what_the_model_read(passages, kind, question, list(history))
    checked = _checked_answer(raw, passages, read, question=question, language=language, answer_kind=kind)
    return None if checked is None else (*checked, raw)


REFUSAL_WORDS = ("NOT", "NO")  # how the model starts "NOT FOUND" (and "NO ANSWER")


def second_attempt(said_not_found: bool, llm) -> tuple[bool, tuple[str, ...]]:
    """How to ask again after a refusal on strong evidence (``said_not_found``: the first
    reply said NOT FOUND, rather than being no answer at all): (insist, words to avoid).

    A model that can be kept from writing NOT FOUND is asked the same prompt without
    that way out: on the gold set this answered more refused questions than telling it
    "the answer is in these passages", which the 1.5B model mostly met with NOT FOUND
    again. A reply that was no answer at all (the question echoed, bare markers) would
    come back the same from the same prompt, so that one gets the insisting prompt too;
    so does a model behind an API, which cannot be kept from any word.
    """
    if not getattr(llm, "avoids_words", False):
        return True, ()
    return not said_not_found, REFUSAL_WORDS


def _recorded(deltas: Iterator[str], into: list[str]) -> Iterator[str]:
    for delta in deltas:
        into.append(delta)
        yield delta


def _hold_back_not_found(deltas: Iterator[str]) -> Iterator[str]:
    """Pass the model's text through, except a reply that is (so far) "NOT FOUND": that
    is held back and dropped, so a refusal streams nothing and a second attempt streams
    cleanly. Anything else is released as soon as it cannot be NOT FOUND any more."""
    held = ""
    for delta in deltas:
        if held is None:
            yield delta
            continue
        held += delta
        head = held.strip().upper().replace("_", " ")
        if NOT_FOUND.startswith(head) or head.startswith(NOT_FOUND):
            continue
        yield held
        held = None
    if held and not is_refusal(held):
        yield held  # the whole reply was a prefix of NOT FOUND ("NO"), not a refusal


# -- passage-level helpers ------------------------------------------------------------
def _sentences_of(hit: Hit) -> list[tuple[int, int, str]]:
    """(doc_start, doc_end, text) of the sentences the model read of the passage."""
    chunk = hit.chunk
    lo, hi = hit.window or (0, len(chunk.text))
    return [(chunk.start + s, chunk.start + e, chunk.text[s:e]) for s, e in split_sentences(chunk.text)
            if lo <= s and e <= hi]


def highlight_spans(answer_text: str, hits: Sequence[Hit], *, embedder) -> list[tuple[int, int] | None]:
    """For each passage, the document span of its sentence closest to the answer.

    Compared by embeddings, because the answer and the passage are often in
    different languages.
    """
    if not hits:
        return []
    sentence_lists = [_sentences_of(hit) for hit in hits]
    flat = [s for sentences in sentence_lists for s in sentences]
    if not flat:
        return [None] * len(hits)
    query = embedder.embed_queries([renumber_citations(answer_text, {})])[0]
    vectors = embedder.embed_passages([s[2] for s in flat])
    scores = vectors @ query
    out: list[tuple[int, int] | None] = []
    pos = 0
    for sentences in sentence_lists:
        if not sentences:
            out.append(None)
            continue
        best = pos + int(np.argmax(scores[pos : pos + len(sentences)]))
        out.append((flat[best][0], flat[best][1]))
        pos += len(sentences)
    return out


def _closest_sentence(query: np.ndarray, hit: Hit, *, embedder) -> tuple[int, int, str]:
    """(doc_start, doc_end, text) of the sentence the model read of ``hit`` that is
    closest to the embedded ``query``."""
    sentences = _sentences_of(hit) or [(hit.chunk.start, hit.chunk.end, hit.chunk.text)]
    scores = embedder.embed_passages([s[2] for s in sentences]) @ query
    return sentences[int(np.argmax(scores))]


def extractive_answer(question: str, hits: Sequence[Hit], *, embedder, max_quotes: int = 2
                      ) -> tuple[str, list[int], dict[int, tuple[int, int]]]:
    """No LLM: quote the sentence closest to the question from each of the best passages."""
    chosen = list(range(min(max_quotes, len(hits))))
    query = embedder.embed_queries([question])[0]
    quotes, highlights = [], {}
    for n, index in enumerate(chosen, start=1):
        start, end, sentence = _closest_sentence(query, hits[index], embedder=embedder)
        highlights[index] = (start, end)
        quotes.append(f"“{sentence.strip()}” [{n}]")
    return "\n".join(quotes), chosen, highlights


def quote_pointed_passage(reply: str, question: str, hits: Sequence[Hit], *, embedder
                          ) -> tuple[str, int, tuple[int, int]] | None:
    """A reply that points at one passage instead of answering ("Le média cité … est
    [3].", or the bare marker), with that passage's sentence closest to the question
    quoted before its marker: (text, index into ``hits``, the sentence's document
    span). None for any other reply, or one citing several passages or one that does
    not exist.

    The 1.5B model sometimes finds the sentence but cannot restate it (gold fr-03:
    the 36Kr sentence, in Chinese, for a French question); the quote is the source's
    own words, so nothing is invented."""
    numbers = cited_numbers(reply)
    if len(numbers) != 1 or not 1 <= numbers[0] <= len(hits):
        return None
    bare = renumber_citations(reply, {})
    # Only a reply that points: bare markers, or a sentence stopping where the answer
    # should be. "Apple [4]." for "Which company did Pang work for before joining
    # Apple?" is a wrong answer made of the question's words, not a pointer.
    if bare.strip(" .。") and not _stops_short(bare):
        return None
    n = numbers[0]
    query = embedder.embed_queries([question])[0]
    start, end, sentence = _closest_sentence(query, hits[n - 1], embedder=embedder)
    last = list(_MARKER.finditer(reply))[-1]
    before = renumber_citations(reply[: last.start()], {})  # the quote carries the one marker
    text = f"{before} “{sentence.strip()}” [{n}]{reply[last.end():]}".strip()
    return text, n - 1, (start, end)
