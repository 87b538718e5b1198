"""Sentence-aware chunking for CJK and Latin scripts, sized in the embedder's tokens.

Japanese and Chinese have no spaces and end sentences with 。！？, so a splitter that
looks for ". " cuts them mid-sentence or not at all; this one knows both, keeps exact
character offsets into the document, and packs whole sentences into chunks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .documents import Document

TokenCounter = Callable[[str], int]

# A sentence ends at CJK terminators (closing quotes/brackets stay with it), at Latin
# terminators followed by a space, or at a line break.
_SENTENCE_END = re.compile(
    r"""[。！？!?…]+[」』”’"')）\]]*"""  # CJK (and !?) terminators need no space after them
    r"""|\.[”’"')\]]*(?=\s)"""  # a Latin full stop needs one
    r"""|\n"""
)
# Words before a full stop that do not end a sentence ("Mr. Pang", "U.S. market").
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "vs", "inc", "ltd", "co", "corp", "etc", "jr", "sr", "p.ex", "e.g", "i.e", "mme"}
_LAST_WORD = re.compile(r"([\w.]+)$")
# Where an over-long sentence may be cut, best first.
_CLAUSE_BREAK = re.compile(r"[、，,;；:：]\s*|\s+")


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    index: int
    text: str
    start: int  # character offsets into Document.text: text == document.text[start:end]
    end: int
    title: str
    language: str
    content_hash: str

    def embedding_text(self) -> str:
        """What the embedder reads: a headline gives a short passage its topic. A stand-in
        title (an article's opening words, ending in "…") measured worse, so it is left out;
        a real title cut to its first 200 characters has no "…" (documents.cut_title)."""
        if (self.title and self.title != self.doc_id and not self.title.endswith("…")
                and not self.text.startswith(self.title)):
            return f"{self.title}\n{self.text}"
        return self.text


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences of ``text``, whitespace trimmed, in order."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for match in _SENTENCE_END.finditer(text):
        if match.group().startswith(".") and _is_abbreviation(text[pos : match.start()]):
            continue
        _add_span(text, pos, match.end(), spans)
        pos = match.end()
    _add_span(text, pos, len(text), spans)
    return spans


def _is_abbreviation(before: str) -> bool:
    word = _LAST_WORD.search(before)
    if not word:
        return False
    token = word.group(1).lower()
    # A single capital letter is an initial ("J. Smith") or part of "U.S.".
    return token in _ABBREVIATIONS or (len(token) == 1 and word.group(1).isupper()) or "." in token.strip(".")


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def _split_long(text: str, span: tuple[int, int], count: TokenCounter, max_tokens: int) -> list[tuple[int, int]]:
    """Cut a sentence longer than ``max_tokens`` at clause breaks, else by characters."""
    start, end = span
    if count(text[start:end]) <= max_tokens:
        return [span]
    piece = text[start:end]
    # Try the clause break closest to the middle, so halves stay balanced.
    middle = len(piece) // 2
    breaks = [m.end() for m in _CLAUSE_BREAK.finditer(piece) if 0 < m.end() < len(piece)]
    cut = min(breaks, key=lambda b: abs(b - middle)) if breaks else middle
    left, right = [], []
    _add_span(text, start, start + cut, left)
    _add_span(text, start + cut, end, right)
    out: list[tuple[int, int]] = []
    for part in left + right:
        out.extend(_split_long(text, part, count, max_tokens))
    return out


def chunk_document(
    document: Document,
    count_tokens: TokenCounter,
    *,
    max_tokens: int = 160,
    overlap_tokens: int = 32,
    key: str | None = None,
) -> list[Chunk]:
    """Pack whole sentences into chunks of at most ``max_tokens`` tokens.

    Consecutive chunks share up to ``overlap_tokens`` of trailing sentences, so a fact
    that straddles a boundary is whole in one of them. Chunk ids are
    ``doc_id:key:index``; ``key`` defaults to the start of the content hash.
    """
    text = document.text
    sentences: list[tuple[int, int]] = []
    for span in split_sentences(text):
        sentences.extend(_split_long(text, span, count_tokens, max_tokens))
    sizes = [max(1, count_tokens(text[s:e])) for s, e in sentences]

    groups: list[tuple[int, int]] = []  # [first, last] sentence index per chunk
    first = 0
    while first < len(sentences):
        last, total = first, sizes[first]
        while last + 1 < len(sentences) and total + sizes[last + 1] <= max_tokens:
            last += 1
            total += sizes[last]
        groups.append((first, last))
        if last + 1 >= len(sentences):
            break
        # Step back over trailing sentences that fit in the overlap, but always advance.
        nxt, back = last + 1, 0
        while nxt - 1 > first and back + sizes[nxt - 1] <= overlap_tokens:
            nxt -= 1
            back += sizes[nxt]
        first = nxt

    chunks = []
    short_hash = key or document.content_hash[:12]
    for index, (a, b) in enumerate(groups):
        start, end = sentences[a][0], sentences[b][1]
        chunks.append(
            Chunk(
                chunk_id=f"{document.doc_id}:{short_hash}:{index:04d}",
                doc_id=document.doc_id,
                index=index,
                text=text[start:end],
                start=start,
                end=end,
                title=document.title,
                language=document.language,
                content_hash=document.content_hash,
            )
        )
    return chunks


def chunk_sentence_spans(chunk: Chunk) -> list[tuple[int, int]]:
    """The chunk's sentences as spans of chunk.text, as retrieval scores them one by one
    (indexing stores one latent-term vector each; Hit.best_sentence indexes this list)."""
    return split_sentences(chunk.text) or [(0, len(chunk.text))]


def chunk_sentences(chunk: Chunk) -> list[str]:
    return [chunk.text[s:e] for s, e in chunk_sentence_spans(chunk)]


def approximate_token_count(text: str) -> int:
    """A model-free stand-in for tests and fallbacks: CJK characters count one each,
    other scripts one per word piece of about four characters."""
    cjk = len(re.findall(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]", text))
    rest = re.sub(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]", " ", text)
    words = sum(max(1, (len(w) + 3) // 4) for w in rest.split())
    return cjk + words
