"""Prompts for a small model: one constant system prompt (it stays in the KV cache),
numbered passages, the question before and after them (``question_first``; once, after
them, measured worse on the held-out set: docs/decisions.md), and the answer language
named explicitly.

The system prompt offers a way out ("reply NOT FOUND"). When retrieval evidence is
strong and the model took it anyway, answer.py asks once more, with NOT FOUND
forbidden or with ``insist=True``: the 1.5B model refused questions whose answer was
in the first passage (docs/decisions.md). Large CJK numbers get their Western reading next to them, because the
model converted 143億 into "143 billion" instead of 14.3 billion.
"""

from __future__ import annotations

import re
from typing import Sequence

from .language import language_name
from .retrieval import Hit

NOT_FOUND = "NOT FOUND"

# The one-shot example is invented (Lumex, Anna Berg): an example lifted from the seed
# articles would hand the model the answer to a real question, and the eval would
# measure the prompt instead of the pipeline (tests/test_prompts.py checks this).
SYSTEM_PROMPT = f"""You answer questions about news articles, using only the numbered passages the user gives you.
The passages may be written in another language than the question: read them and translate the facts you need.
How to answer:
- Answer in one or two short sentences, in the language the user asks for.
- Put the passage number in square brackets after each fact, like [1] or [2].
- Copy names and numbers exactly from the passages. A name the passage writes in another script: write it in your answer's language, then the passage's spelling in parentheses.
- If no passage gives the answer, reply only: {NOT_FOUND}

Example
Passages:
[1] (fr) Lumex a ouvert une usine à Graz en 2019.
[2] (ja) Lumex社は2015年にアンナ・ベルク氏が創業した。同氏はそれ以前、シーメンスで10年間働いていた。
Question: Where did the founder of Lumex work before founding the company?
Answer in English: Anna Berg (アンナ・ベルク), who founded Lumex in 2015, worked at Siemens (シーメンス) for ten years before that [2]."""


# 143億 / 1000万 / 16万5000 / 2亿: digits, a 億 or 万 unit, optional digits after it.
_CJK_NUMBER = re.compile(r"(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*([億亿万萬])(\d{1,4}(?:,\d{3})?)?(?![\d億亿万萬])")
CJK_UNITS = {"億": 10**8, "亿": 10**8, "万": 10**4, "萬": 10**4}


def western_number(value: float) -> str:
    if value >= 10**9:
        return f"{value / 10**9:g} billion"
    if value >= 10**6:
        return f"{value / 10**6:g} million"
    return f"{value:,.0f}"


_ANNOTATION = re.compile(r"\(=[^()]*\)")


def strip_annotations(text: str) -> str:
    """Remove readings the model copied from the passages into its answer."""
    return _ANNOTATION.sub("", text)


# "(マット・ミューラー)" after a name: the spelling the prompt asks for, in parentheses.
# Digits excluded: a parenthesis with a figure is no name (the number checks judge it).
_PARENTHESIS = re.compile(r"\s*[(（]([^()（）\d]{2,40})[)）]")


def squeeze_spelling(text: str) -> str:
    """A spelling without spaces, dots and hyphens, case-folded, for comparing names."""
    return re.sub(r"[\s・·‧.\-]", "", text).casefold()


def strip_invented_spellings(text: str, sources: Sequence[str]) -> str:
    """Remove a name in parentheses that no source spells: the prompt asks for "the
    passage's spelling" of a name written in another script, and the 1.5B model
    sometimes makes one up (Cyrillic for a name the passages give in katakana)."""
    known = [squeeze_spelling(s) for s in sources]

    def repl(match: re.Match) -> str:
        words = match.group(1).split()
        if any(w[0].islower() for w in words):  # "(the company)": a remark, not a name
            return match.group(0)
        name = squeeze_spelling(match.group(1))
        if squeeze_spelling(match.string[: match.start()]).endswith(name):
            return ""  # "Shengjia Zhao (Shengjia Zhao)": the name said twice
        # "(Jack Lay, ジャック・ライ)": a guess beside the passage's spelling (rag/names.py)
        parts = [squeeze_spelling(part) for part in re.split(r"[,、]", match.group(1))]
        return match.group(0) if any(p and any(p in s for s in known) for p in parts) else ""

    return _PARENTHESIS.sub(repl, text)


def annotate_cjk_numbers(text: str) -> str:
    """"143億ドル" -> "143億(=14.3 billion)ドル": the Western reading beside the number."""

    def repl(match: re.Match) -> str:
        value = float(match.group(1).replace(",", "")) * CJK_UNITS[match.group(2)]
        if match.group(3):
            value += float(match.group(3).replace(",", ""))
        return f"{match.group(0)}(={western_number(value)})"  # strip_annotations undoes it

    return _CJK_NUMBER.sub(repl, text)


# The readings a passage can get beside its words (rules of rag/rules.py, by name).
READINGS = ("number_readings",)


def passage_reading(text: str, readings: Sequence[str] = READINGS) -> str:
    """A passage as the model reads it: large CJK numbers with their Western reading when
    ``readings`` names number_readings."""
    return annotate_cjk_numbers(text) if "number_readings" in readings else text


def format_passages(hits: Sequence[Hit], *, drop_addressed: bool = False,
                    readings: Sequence[str] = READINGS) -> str:
    """One line per passage; ``drop_addressed`` leaves out sentences addressed to the
    assistant (rag/instructions.py). Newlines are joined, so a passage cannot start a
    line of its own ("Question:", "Assistant:")."""
    lines = []
    for n, hit in enumerate(hits, start=1):
        text = hit.passage_text()
        if drop_addressed:
            from .instructions import drop_addressed_sentences

            text = drop_addressed_sentences(text)
        text = " ".join(passage_reading(text, readings).split())
        lines.append(f"[{n}] ({hit.chunk.language}) {text}")
    return "\n".join(lines)


def build_messages(
    question: str,
    hits: Sequence[Hit],
    *,
    language: str,
    history: Sequence[tuple[str, str]] = (),
    insist: bool = False,
    drop_addressed: bool = False,
    readings: Sequence[str] = READINGS,
    question_first: bool = True,
) -> list[dict]:
    """Chat messages asking for a cited answer to ``question`` from ``hits``;
    ``insist`` tells the model that the passages hold the answer; ``readings`` chooses
    the readings the passages get; ``question_first`` writes the question before the
    passages too."""
    name = language_name(language)
    conversation = ""
    if history:
        turns = "\n".join(f"User: {q}\nAssistant: {a}" for q, a in history)
        conversation = f"Earlier in this conversation:\n{turns}\n\n"
    insistence = f"The answer is in these passages: find it and do not reply {NOT_FOUND}.\n" if insist else ""
    passages = format_passages(hits, drop_addressed=drop_addressed, readings=readings)
    before = f"Question: {question}\n\n" if question_first else ""
    user = (
        f"{conversation}{before}"
        f"Passages:\n{passages}\n\n"
        f"Question: {question}\n"
        f"{insistence}"
        f"Answer in {name}:"
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


# A question that only the conversation makes relevant: is it a follow-up ("when was he
# appointed?") or a new subject ("who won the World Cup?")? A yes/no question with its own
# system prompt: the 1.5B model said yes for all 7 gold follow-ups and no for 7 of 8
# off-topic questions asked after them. With the answering system prompt instead (which
# would share llama.cpp's cached prefix) it missed 2 of those 8.
FOLLOW_UP_SYSTEM_PROMPT = "You tell whether a user's new question continues the conversation or starts a new subject."


def build_follow_up_messages(question: str, history: Sequence[tuple[str, str]]) -> list[dict]:
    turns = "\n".join(f"User: {q}\nAssistant: {a}" for q, a in history)
    user = (
        f"Conversation:\n{turns}\n\nNew question: {question}\n\n"
        "Does the new question refer back to someone or something in the conversation "
        "(for example with he, she, it, they, his, this)? Reply yes or no."
    )
    return [{"role": "system", "content": FOLLOW_UP_SYSTEM_PROMPT}, {"role": "user", "content": user}]


# Constant, so llama.cpp keeps it in the KV cache across translation calls.
TRANSLATE_SYSTEM_PROMPT = (
    "You translate search questions for a news search engine. Keep the names of people, "
    "companies and products. Reply with the translated question only, on one line."
)


def build_translation_messages(question: str, target_language: str) -> list[dict]:
    return [
        {"role": "system", "content": TRANSLATE_SYSTEM_PROMPT},
        {"role": "user", "content": f"Translate into {language_name(target_language)}:\n{question}"},
    ]


# The structured reply (rag/structured.py): evidence first, then the answer, as JSON.
# The example is invented, like SYSTEM_PROMPT's (tests/test_prompts.py).
STRUCTURED_SYSTEM_PROMPT = """You answer questions about news articles, using only the numbered passages the user gives you.
The passages may be written in another language than the question: read them and translate the facts you need.
Reply with JSON only: {"evidence": [numbers of the passages that state the answer], "answer": "the answer"}.
- evidence: usually one passage number; [] when no passage states the answer.
- answer: one or two short sentences in the language the user asks for. Copy names and numbers exactly from those passages. A name the passage writes in another script: write it in your answer's language, then the passage's spelling in parentheses. "" when evidence is [].

Example
Passages:
[1] (fr) Lumex a ouvert une usine à Graz en 2019.
[2] (ja) Lumex社は2015年にアンナ・ベルク氏が創業した。同氏はそれ以前、シーメンスで10年間働いていた。
Question: Where did the founder of Lumex work before founding the company?
Answer in English.
{"evidence": [2], "answer": "Anna Berg (アンナ・ベルク), who founded Lumex in 2015, worked at Siemens (シーメンス) for ten years before that."}"""


def build_structured_messages(
    question: str,
    hits: Sequence[Hit],
    *,
    language: str,
    history: Sequence[tuple[str, str]] = (),
    drop_addressed: bool = False,
    readings: Sequence[str] = READINGS,
    question_first: bool = True,
) -> list[dict]:
    """Chat messages asking for a JSON reply (evidence, answer) to ``question`` from ``hits``."""
    conversation = ""
    if history:
        turns = "\n".join(f"User: {q}\nAssistant: {a}" for q, a in history)
        conversation = f"Earlier in this conversation:\n{turns}\n\n"
    passages = format_passages(hits, drop_addressed=drop_addressed, readings=readings)
    before = f"Question: {question}\n\n" if question_first else ""
    user = (
        f"{conversation}{before}"
        f"Passages:\n{passages}\n\n"
        f"Question: {question}\n"
        f"Answer in {language_name(language)}."
    )
    return [{"role": "system", "content": STRUCTURED_SYSTEM_PROMPT}, {"role": "user", "content": user}]
