"""Question -> retrieval -> prompt -> generation -> checked, cited Answer.

The small model is not trusted to cite or to refuse on its own: its markers are
checked and repaired (citations.py), its reply is judged a refusal or not and its
figures against the passages (refusal.py, figures.py), and a question whose best
passage is not even about the topic is refused before the model runs (cheaper and more
reliable than asking a 1.5B model to judge). This module runs those stages in order.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple, Sequence

from .answer_kind import YEAR, question_answer_kind
from .citations import check_citations, renumber_citations
from .structured import with_markers
from .config import RAGConfig
from .extractive import extractive_answer, highlight_spans
from .figures import repair_scales
from .language import detect_language, named_article_language, preload_language_models, refusal_text
from .names import add_source_spellings
from .prompts import NOT_FOUND, READINGS, build_messages, passage_reading, strip_annotations, strip_invented_spellings
from .refusal import (drop_unsupported_asides, is_non_answer, is_refusal, strip_refusal_marker, unsupported_numbers,
                      versions_not_in_articles, years_not_in_passages)
from .retrieval import Hit, retrieve, select_passages

MAX_QUESTION_CHARS = 2000
_SURROGATE = re.compile("[\ud800-\udfff]")
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
    best_score: float = 0.0  # the best retrieval score, which the gate compared with gate_threshold
    gate_threshold: float = 0.0  # min_score, or the index's own threshold (rag/off_topic.py)

    def sources_markdown(self) -> str:
        lines = []
        for c in self.citations:
            lines.append(f"[{c.n}] {c.title} ({c.language}, {c.doc_id}, chars {c.start}-{c.end})")
        return "\n".join(lines)


def tidy_answer(raw: str, sources: Sequence[str], *, language: str, year_wanted: bool = False,
                config: RAGConfig | None = None) -> str:
    """The model's answer after the rules that mend it against ``sources`` (what the
    model read: passages, question, conversation), in this order (rag/rules.py names
    them; ``config.rules_off`` skips any): source_spellings, invented_spellings,
    scale_repair, unsupported_asides (a year no
    source has that completes a date is cut too, unless ``year_wanted``: the question asks
    for it). What is left may still state an invented figure: ``unsupported_numbers``
    judges that (invented_figure_refusal)."""
    on = (config or RAGConfig()).rule_on
    text = strip_refusal_marker(raw)
    if on("source_spellings"):
        text = add_source_spellings(text, sources)
    if on("invented_spellings"):
        text = strip_invented_spellings(text, sources)
    if on("scale_repair"):
        text = repair_scales(text, sources, language=language)
    if on("unsupported_asides"):
        text = drop_unsupported_asides(text, sources, year_wanted=year_wanted)
    return text


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
    Without a ``store`` it opens the configured index and, when that is empty, indexes
    ``config.seeds_dir`` first (stderr says so; ``index_seeds_when_empty`` turns it off).
    """
    config = config or RAGConfig.from_env()
    question = _checked_question(question)
    t_start = time.perf_counter()
    store, embedder = _open_index(store, embedder, config=config)
    t0 = time.perf_counter()
    language = detect_language(question)
    timings = {"language": time.perf_counter() - t0}  # the detector loads its models on first use (~4 s)
    turns = _clean_history(normalize_history(history), config.history_turns)
    if config.llm != "extractive" and llm is None:
        from .llm import get_llm

        llm = get_llm(config=config)
    threshold = gate_threshold(store=store, embedder=embedder, config=config, language=language)
    retrieval, gate_score = _search(question, turns, language, store=store, embedder=embedder,
                                    llm=None if config.llm == "extractive" else llm, threshold=threshold,
                                    config=config, timings=timings)
    passages = select_passages(retrieval.hits, config.top_k, max_tokens=config.passage_tokens,
                               count_tokens=embedder.count_tokens)
    gate = _refusing_gate(question, passages, gate_score, threshold, store=store, config=config)
    if gate:
        reply = Reply(refusal_text(language), "", True, [], gate)
        timings["generate"] = 0.0
    elif config.llm == "extractive":
        t0 = time.perf_counter()
        text, used, highlights = extractive_answer(question, passages, embedder=embedder)
        timings["generate"] = time.perf_counter() - t0
        yield text
        reply = Reply(text, text, False, used, "extractive", highlights)
    else:
        answer_steps = _json_format_answer if config.answer_format == "json" else _text_format_answer
        reply = yield from answer_steps(question, passages, language=language, turns=turns, llm=llm,
                                        strong=strong_evidence(retrieval.best_score, threshold, config=config),
                                        embedder=embedder,
                                        config=config, timings=timings)
    timings["total"] = time.perf_counter() - t_start
    yield Answer(question=question, text=reply.text, language=language, refused=reply.refused,
                 citations=_citations(passages, reply.used, reply.highlights), retrieved=retrieval.hits,
                 timings=timings, backend=reply.backend, raw_text=reply.raw, best_score=gate_score,
                 gate_threshold=threshold)


class Reply(NamedTuple):
    """What an answering step decided: the text shown, the model's words, whether it is a
    refusal, the indices of the cited passages, who answered, and highlighted spans."""
    text: str
    raw: str
    refused: bool
    used: list[int]
    backend: str
    highlights: dict[int, tuple[int, int]] | None = None


def question_text(question: str | None) -> str:
    """The question stripped, its unpaired UTF-16 surrogates (a "\\ud800" escape in a
    client's JSON) made U+FFFD: no library encodes them (the language detector raised
    UnicodeEncodeError), and the rest of the question can still be answered."""
    return _SURROGATE.sub("\ufffd", question or "").strip()


def _checked_question(question: str) -> str:
    question = question_text(question)
    if not question:
        raise ValueError("The question is empty.")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(f"The question is too long ({len(question)} characters; at most {MAX_QUESTION_CHARS}).")
    return question


def _open_index(store, embedder, *, config: RAGConfig):
    """The given or configured (store, embedder); an empty configured index gets the seeds."""
    if embedder is None:
        from .embeddings import get_embedder

        embedder = get_embedder(config=config)
    if store is None:
        from .indexing import index_seeds
        from .store import open_store

        store = open_store(config=config, embedder=embedder)
        index_seeds(store=store, embedder=embedder, config=config)  # only when empty
    if store.catalog().chunks == 0:  # the catalog is read per question anyway; a count() grows with the index
        raise EmptyIndexError("No articles are indexed yet. Add some first: python ingest.py FOLDER_OR_FILES")
    return store, embedder


def gate_threshold(*, store, embedder, config: RAGConfig, language: str | None = None) -> float:
    """The best retrieval score under which a question is refused before the model runs:
    ``min_score``, or with ``gate_calibration="probes"`` the index's own threshold from
    off-topic probe questions (rag/off_topic.py), with ``probes_by_language`` those in
    the question's ``language``; no threshold with ``"off"``."""
    if config.gate_calibration == "off":
        return float("-inf")
    if config.gate_calibration != "probes":
        return config.min_score
    from .off_topic import calibrated_min_score, probe_scores, probes_in_language

    scores = probe_scores(store=store, embedder=embedder, config=config)
    if config.probes_by_language:
        scores = probes_in_language(scores, language)
    return calibrated_min_score(scores, quantile=config.probe_quantile, margin=config.probe_margin)


def strong_evidence(best_score: float, threshold: float, *, config: RAGConfig) -> bool:
    """Whether retrieval is sure enough of the passages that a refusal by the model is
    asked again (strong_evidence_retry): the best score clears the gate's threshold by
    ``answer_margin``. A margin over the index's own threshold, so it follows the
    embedder, the articles and the question's language as the gate does; with no gate
    ("off") the model's refusals are taken as they are."""
    return threshold != float("-inf") and best_score >= threshold + config.answer_margin


def _search(question: str, turns: list[tuple[str, str]], language: str, *, store, embedder, llm,
            threshold: float, config: RAGConfig, timings: dict[str, float]):
    """(retrieval, the score the gate compares): a follow-up is searched together with the
    question it follows, which names what "he" is (adding the earlier answer as well
    measured worse on the gold set's follow-ups); with ``translate_queries`` also in the
    articles' languages."""
    queries = [question] + ([f"{turns[-1][0]} {question}"] if turns else [])
    languages = [language] * len(queries)
    named = named_article_language(question)
    prefer = named if named and named in store.languages() else None
    retrieval = retrieve(queries, store=store, embedder=embedder, config=config, languages=languages,
                         prefer_language=prefer)
    timings.update(retrieval.timings)
    gate_score = retrieval.best_score
    if turns and llm is not None and retrieval.query_scores[0] < threshold <= retrieval.best_score:
        # Only the earlier question makes the articles look relevant: this is either a
        # follow-up ("when was he appointed?") or a new subject ("who won the World
        # Cup?", which the model would answer from memory citing the earlier passages).
        # Nothing in the scores tells them apart, so the model is asked.
        from .query import refers_to_conversation

        t0 = time.perf_counter()
        if not refers_to_conversation(question, turns, llm=llm):
            gate_score = retrieval.query_scores[0]
        timings["follow_up"] = time.perf_counter() - t0
    targets = [lang for lang in store.languages() if lang != language]
    if config.translate_queries and llm is not None and targets and gate_score >= threshold:
        from .query import translate_question

        t0 = time.perf_counter()
        translations = translate_question(question, targets, llm=llm)
        timings["translate"] = time.perf_counter() - t0
        if translations:
            retrieval = retrieve(queries + list(translations.values()), store=store, embedder=embedder,
                                 config=config, languages=languages + list(translations), prefer_language=prefer)
            timings["embed"] += retrieval.timings["embed"]
            timings["retrieve"] += retrieval.timings["retrieve"]
            gate_score = max(gate_score, retrieval.best_score)
    return retrieval, gate_score


def _refusing_gate(question: str, passages: Sequence[Hit], gate_score: float, threshold: float, *, store,
                   config: RAGConfig) -> str | None:
    """The gate that refuses before any model runs (cheapest first), or None."""
    if not passages or gate_score < threshold:
        return RETRIEVAL_GATE
    if config.rule_on("year_gate") and years_not_in_passages(question, [p.passage_text() for p in passages]):
        return YEAR_GATE
    if config.rule_on("version_gate") and versions_not_in_articles(question, store.version_mentions()):
        return VERSION_GATE
    return None


def _citations(passages: Sequence[Hit], used: list[int],
               highlights: dict[int, tuple[int, int]] | None) -> list[Citation]:
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
    return citations


def _highlighted(text: str, passages: Sequence[Hit], used: list[int], *, embedder) -> dict[int, tuple[int, int]]:
    spans = highlight_spans(text, [passages[i] for i in used], embedder=embedder)
    return {i: spans[j] for j, i in enumerate(used) if spans[j]}


def _json_format_answer(question: str, passages: Sequence[Hit], *, language: str, turns, llm, strong: bool,
                        embedder, config: RAGConfig, timings: dict[str, float]) -> Iterator[str]:
    """The structured (JSON) answer's steps: streams the answer, returns its Reply."""
    t0 = time.perf_counter()
    for item in structured_answer(question, passages, language=language, history=turns, llm=llm,
                                  config=config, strong=strong):
        if isinstance(item, str):
            timings.setdefault("first_token", time.perf_counter() - t0)
            yield item
            continue
        timings["generate"] = time.perf_counter() - t0
        text, raw, used = item
        if not used:
            return Reply(refusal_text(language), raw, True, [], llm.name)
        return Reply(text, raw, False, used, llm.name, _highlighted(text, passages, used, embedder=embedder))
    raise AssertionError("structured_answer ends with its result")


def _text_format_answer(question: str, passages: Sequence[Hit], *, language: str, turns, llm, strong: bool,
                        embedder, config: RAGConfig, timings: dict[str, float]) -> Iterator[str]:
    """The free-text answer's steps: generate (asked again on a refusal on strong
    evidence), check and mend the reply; streams the model's words, returns the Reply."""
    kind = question_answer_kind(question)
    read = _what_the_model_read(passages, question, turns, drop_addressed=config.drop_addressed_sentences)
    t0 = time.perf_counter()
    raw, refused = yield from _generate_text(question, passages, language=language, turns=turns, llm=llm,
                                             strong=strong, config=config, timings=timings)
    timings["generate"] = time.perf_counter() - t0
    checked = None if refused else _checked_answer(raw, passages, read, question=question, language=language,
                                                   answer_kind=kind, config=config)
    if checked is None:
        return Reply(refusal_text(language), raw, True, [], llm.name)
    text, used = checked
    return Reply(text, raw, False, used, llm.name, _highlighted(text, passages, used, embedder=embedder))


def _generate_text(question: str, passages: Sequence[Hit], *, language: str, turns, llm,
                   strong: bool, config: RAGConfig, timings: dict[str, float]) -> Iterator[str]:
    """Stream the model's reply (a refusal held back); on a refusal on ``strong``
    evidence ask once more (strong_evidence_retry, docs/decisions.md). Returns (raw reply,
    whether it is no answer)."""
    t0 = time.perf_counter()
    insist, avoid = False, ()
    for attempt in (1, 2):
        messages = build_messages(question, passages, language=language, history=turns, insist=insist,
                                  drop_addressed=config.drop_addressed_sentences,
                                  readings=prompt_readings(config),
                                  question_first=config.question_before_passages)
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
        if not (refused and attempt == 1 and strong and config.rule_on("strong_evidence_retry")):
            break
        insist, avoid = second_attempt(said_not_found, llm)
    return raw, refused


def structured_answer(question: str, passages: Sequence[Hit], *, language: str, history: list[tuple[str, str]],
                      llm, config: RAGConfig, strong: bool) -> Iterator[str | tuple[str, str, list[int]]]:
    """The answer as a JSON reply naming its evidence (rag/structured.py): yields the
    answer's text as it streams, then (text with markers, raw reply, indices of the cited
    passages); no indices means a refusal. ``strong`` retrieval evidence gets a second
    attempt, in which the schema leaves no way out, when the first reply refuses."""
    from .prompts import build_structured_messages
    from .structured import AnswerFieldStream, answer_schema

    messages = build_structured_messages(question, passages, language=language, history=history,
                                         drop_addressed=config.drop_addressed_sentences,
                                         readings=prompt_readings(config),
                                         question_first=config.question_before_passages)
    follows = getattr(llm, "follows_schema", False)
    raw, reply = "", None
    for attempt in (1, 2):
        schema = answer_schema(len(passages), require_evidence=attempt == 2) if follows else None
        shown = AnswerFieldStream()
        words: list[str] = []
        for delta in llm.stream(messages, max_tokens=config.max_tokens, temperature=config.temperature,
                                **({"schema": schema} if schema else {})):
            words.append(delta)
            visible = shown.feed(delta)
            if visible:
                yield visible
        raw = "".join(words).strip()
        reply = read_structured_reply(raw, len(passages), question=question)
        if reply is not None or not (strong and config.structured_retry and follows):
            break
    if reply is None:
        yield "", raw, []
        return
    read = _what_the_model_read(passages, question, history, drop_addressed=config.drop_addressed_sentences)
    checked = grounded_answer(reply, read, passages=len(passages), extra_sources=len(read) - len(passages),
                              config=config)
    if checked is None:
        yield "", raw, []
        return
    text, evidence = checked
    yield with_markers(text, list(range(1, len(evidence) + 1))), raw, [n - 1 for n in evidence]


def read_structured_reply(raw: str, n_passages: int, *, question: str) -> "StructuredReply | None":
    """The reply as evidence and answer, or None when it is a refusal: no evidence, no
    answer, a refusal in words, or nothing the question did not already say. A reply
    that is not JSON (a server that ignored the schema) is read as a plain answer with
    markers."""
    from .citations import cited_numbers
    from .structured import StructuredReply, parse_reply

    reply = parse_reply(raw, n_passages)
    if reply is None:
        reply = StructuredReply(evidence=[n for n in cited_numbers(raw) if 1 <= n <= n_passages],
                                answer=renumber_citations(strip_refusal_marker(raw), {}))
    if not reply.evidence or is_refusal(reply.answer) or is_non_answer(reply.answer, question):
        return None
    return reply


def grounded_answer(reply, read: Sequence[str], *, passages: int, extra_sources: int,
                    config: RAGConfig) -> tuple[str, list[int]] | None:
    """The reply's answer checked against its evidence: (answer, passage numbers cited),
    or None when it states a figure that nothing the model read holds.

    ``read`` holds the ``passages`` as the model read them, then the question and the
    conversation. A figure the cited passages lack but another passage has makes that
    passage cited as well (the evidence list is the model's guess; the figure is the
    fact); a spelling in parentheses that no source has is removed and the evidence's
    own spelling of a katakana name is shown beside its romanization."""
    from .figures import number_keys

    evidence = list(reply.evidence)
    context = list(read[passages:passages + extra_sources])
    text = reply.answer
    cited = [read[n - 1] for n in evidence] + context
    if config.rule_on("invented_spellings"):
        text = strip_invented_spellings(text, cited)
    if config.rule_on("source_spellings"):
        text = add_source_spellings(text, cited)
    if not config.rule_on("invented_figure_refusal"):
        return text, evidence
    missing = unsupported_numbers(text, [read[n - 1] for n in evidence] + context)
    for key in sorted(number_keys(" ".join(missing))):
        holder = next((i for i in range(passages) if i + 1 not in evidence and key in number_keys(read[i])), None)
        if holder is not None:
            evidence.append(holder + 1)
    if unsupported_numbers(text, [read[n - 1] for n in evidence] + context):
        return None
    return text, evidence


def prompt_readings(config: RAGConfig) -> tuple[str, ...]:
    """The readings the passages get in the prompt (rag.prompts.READINGS): the one there
    is, while its rule is on. The checks after the model always know it (a figure the
    model got right without its reading is still supported)."""
    return READINGS if config.rule_on("number_readings") else ()


def _what_the_model_read(passages: Sequence[Hit], question: str,
                         turns: list[tuple[str, str]], *, drop_addressed: bool) -> list[str]:
    # What an answer may take its figures and names from: the passages as the prompt
    # showed them (without the sentences addressed to the assistant, when those were
    # left out of the prompt), the question and the conversation.
    from .instructions import drop_addressed_sentences

    texts = [drop_addressed_sentences(p.passage_text()) if drop_addressed else p.passage_text() for p in passages]
    return [passage_reading(t) for t in texts] + [question] + [q + " " + a for q, a in turns]


def _checked_answer(raw: str, passages: Sequence[Hit], read: list[str], *, question: str, language: str,
                    answer_kind: str | None, config: RAGConfig) -> tuple[str, list[int]] | None:
    """A reply that is an answer, mended against what the model ``read`` and cited
    (text, indices of the cited passages); None when it still states an invented figure."""
    text = tidy_answer(raw, read, language=language, year_wanted=answer_kind == YEAR, config=config)
    if config.rule_on("invented_figure_refusal") and unsupported_numbers(text, read):
        return None
    return check_citations(text, passages, question=question)


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


def warm_up(*, config: RAGConfig | None = None, llm=None) -> dict[str, float]:
    """Load now what the first question would wait for, and say how long each part took:
    every language model of the language detector (lazily, a first question in a new
    script waited 18-54 s for them on a loaded machine) and, for the local backend, the
    model with its reading of the answering system prompt (~6 s on 2 cores; llama.cpp
    keeps those tokens, which every answering prompt starts with). For long-running apps
    (ui.py, rag.serve), at start: the UI's first answer took 11.7 s instead of 22.1 s."""
    config = config or RAGConfig.from_env()
    t0 = time.perf_counter()
    preload_language_models()
    timings = {"language": time.perf_counter() - t0}
    if config.llm == "local":
        t0 = time.perf_counter()
        if llm is None:
            from .llm import get_llm

            llm = get_llm(config=config)
        messages = build_messages("?", [], language="en")  # the system prompt is the part that counts
        for _ in llm.stream(messages, max_tokens=1, temperature=0.0):
            pass
        timings["model"] = time.perf_counter() - t0
    return timings
