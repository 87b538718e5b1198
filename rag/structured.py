"""Structured replies: the model answers in JSON that names its evidence first.

{"evidence": [2], "answer": "..."}: the passage numbers come before the answer, so the
model commits to the passage it reads from and writes the answer conditioned on it;
the code, not the model, writes the [n] markers. A marker that points nowhere, an
answer that stops at "[1]" or a refusal written as an answer with a citation cannot be
produced: the schema (a llama.cpp grammar, or response_format on an OpenAI-compatible
server) allows only passage numbers that exist, and an empty evidence list is the
refusal. Plain functions on strings: no model is needed to test them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class StructuredReply:
    evidence: list[int]  # passage numbers (1-based) the model says state the answer
    answer: str


def answer_schema(n_passages: int, *, require_evidence: bool = False) -> dict:
    """The JSON schema of a reply over ``n_passages`` numbered passages;
    ``require_evidence`` leaves no way out (at least one passage, a non-empty answer)."""
    numbers = list(range(1, max(n_passages, 1) + 1))
    evidence = {"type": "array", "items": {"type": "integer", "enum": numbers}, "maxItems": 3}
    answer: dict = {"type": "string"}
    if require_evidence:
        evidence["minItems"] = 1
        answer["minLength"] = 1
    return {"type": "object", "properties": {"evidence": evidence, "answer": answer},
            "required": ["evidence", "answer"], "additionalProperties": False}


def parse_reply(raw: str, n_passages: int) -> StructuredReply | None:
    """The reply's evidence (only numbers of passages that exist, first mention kept) and
    answer; None when ``raw`` holds no JSON object of that shape (a server that ignored
    the schema)."""
    match = re.search(r"\{.*\}", raw, re.DOTALL)
    if not match:
        return None
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("answer", ""), str):
        return None
    evidence: list[int] = []
    for n in data.get("evidence") or []:
        if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= n_passages and n not in evidence:
            evidence.append(n)
    return StructuredReply(evidence=evidence, answer=" ".join(str(data.get("answer", "")).split()))


def with_markers(answer: str, numbers: list[int]) -> str:
    """The answer with its citations: "[1][2]" before the final full stop (or at the end)."""
    text = answer.rstrip()
    markers = "".join(f"[{n}]" for n in numbers)
    if not markers:
        return text
    if text and text[-1] in ".。!！?？":
        return f"{text[:-1]} {markers}{text[-1]}" if text[-1] in ".!?" else f"{text[:-1]}{markers}{text[-1]}"
    return f"{text} {markers}"


_ANSWER_KEY = re.compile(r'"answer"\s*:\s*"')


class AnswerFieldStream:
    """Feeds on the reply as it streams and returns the newly decoded characters of its
    "answer" string, so the UI shows the answer while the JSON around it is hidden."""

    def __init__(self) -> None:
        self._raw = ""
        self._start: int | None = None
        self._shown = 0
        self._done = False

    def feed(self, delta: str) -> str:
        self._raw += delta
        if self._done:
            return ""
        if self._start is None:
            match = _ANSWER_KEY.search(self._raw)
            if not match:
                return ""
            self._start = match.end()
        decoded, closed = _decode_prefix(self._raw[self._start:])
        self._done = closed
        new = decoded[self._shown:]
        self._shown = len(decoded)
        return new


def _decode_prefix(body: str) -> tuple[str, bool]:
    """The decoded text of a JSON string body that may be cut anywhere, and whether its
    closing quote has come. An escape cut in the middle waits for the rest."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == '"':
            return "".join(out), True
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(body):
            break
        if body[i + 1] == "u":
            if i + 6 > len(body):
                break
            try:
                out.append(json.loads(f'"{body[i:i + 6]}"'))
            except json.JSONDecodeError:
                out.append("\ufffd")  # a lone surrogate: shown as unknown, the final parse decides
            i += 6
            continue
        out.append({"n": "\n", "t": "\t", "r": "", "b": "", "f": ""}.get(body[i + 1], body[i + 1]))
        i += 2
    return "".join(out), False
