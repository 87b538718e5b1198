"""Query work with the LLM around retrieval: the question translated into the languages
of the indexed articles, and whether a question refers back to the conversation.

Measured on the gold set: multilingual-e5-small matches an English question to a
Japanese passage far less reliably than to a Japanese question, and BM25 cannot match
across scripts at all; a translated query fixes both (see docs/retrieval.md).
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from .llm import ChatModel, complete
from .prompts import build_follow_up_messages, build_translation_messages

_LABEL = re.compile(r"^\s*(translation|traduction|übersetzung|翻訳|翻译|译文)\s*[:：]\s*", re.IGNORECASE)


def clean_translation(text: str) -> str:
    """First non-empty line, without labels or wrapping quotes."""
    for line in text.strip().splitlines():
        line = _LABEL.sub("", line.strip())
        line = line.strip().strip("\"'“”「」«»").strip()
        if line:
            return line
    return ""


def translate_question(question: str, languages: Iterable[str], *, llm: ChatModel,
                       max_tokens: int = 64) -> dict[str, str]:
    """The question in each of ``languages`` (skipping failed or unchanged ones)."""
    out: dict[str, str] = {}
    for language in languages:
        text = clean_translation(complete(llm, build_translation_messages(question, language), max_tokens=max_tokens))
        if text and text.casefold() != question.casefold():
            out[language] = text
    return out


_NO = re.compile(r"^\W*no\b", re.IGNORECASE)


def refers_to_conversation(question: str, history: Sequence[tuple[str, str]], *, llm: ChatModel) -> bool:
    """Whether the model reads ``question`` as a follow-up of ``history`` rather than a
    new subject. Only a clear "no" counts as a new subject: anything else keeps the
    follow-up reading, which is how every question with a history was read before."""
    reply = complete(llm, build_follow_up_messages(question, history), max_tokens=3)
    return not _NO.match(reply)
