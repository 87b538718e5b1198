"""Prompts for a small model: one constant system prompt (it stays in the KV cache),
numbered passages, the question twice (before and after the passages, so a 1.5B model
does not lose it), and the answer language named explicitly."""

from __future__ import annotations

from typing import Sequence

from .language import language_name
from .retrieval import Hit

NOT_FOUND = "NOT FOUND"

SYSTEM_PROMPT = f"""You answer questions about news articles, using only the numbered passages the user gives you.
The passages may be written in another language than the question: read them and translate the facts you need.
How to answer:
- Answer in one or two short sentences, in the language the user asks for.
- Put the passage number in square brackets after each fact, like [1] or [2].
- Copy names and numbers exactly from the passages.
- If no passage gives the answer, reply only: {NOT_FOUND}

Example
Passages:
[1] (ja) 2021年にアルファベットからアップルに加わったパン氏は、メタに移籍する。
[2] (fr) Meta a recruté Shengjia Zhao le 29 juillet.
Question: Where did Pang work before Apple?
Answer in English: Pang worked at Alphabet, Google's parent company, before joining Apple in 2021 [1]."""


def format_passages(hits: Sequence[Hit]) -> str:
    lines = []
    for n, hit in enumerate(hits, start=1):
        text = " ".join(hit.chunk.text.split())
        lines.append(f"[{n}] ({hit.chunk.language}) {text}")
    return "\n".join(lines)


def build_messages(
    question: str,
    hits: Sequence[Hit],
    *,
    language: str,
    history: Sequence[tuple[str, str]] = (),
) -> list[dict]:
    """Chat messages asking for a cited answer to ``question`` from ``hits``."""
    name = language_name(language)
    conversation = ""
    if history:
        turns = "\n".join(f"User: {q}\nAssistant: {a}" for q, a in history)
        conversation = f"Earlier in this conversation:\n{turns}\n\n"
    user = (
        f"{conversation}Question: {question}\n\n"
        f"Passages:\n{format_passages(hits)}\n\n"
        f"Question: {question}\n"
        f"Answer in {name}:"
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


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
