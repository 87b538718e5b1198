"""The passages' own sentences, chosen by embedding similarity (no LLM): the quotes of
the extractive mode, the quote for a reply that only points at a passage, and the
sentence each citation highlights.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .chunking import split_sentences
from .citations import MARKER, cited_numbers, renumber_citations
from .refusal import stops_short
from .retrieval import Hit


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

    The 1.5B model sometimes finds the sentence but cannot restate it (a French gold question:
    the 36Kr sentence, in Chinese, for a French question); the quote is the source's
    own words, so nothing is invented."""
    numbers = cited_numbers(reply)
    if len(numbers) != 1 or not 1 <= numbers[0] <= len(hits):
        return None
    bare = renumber_citations(reply, {})
    # Only a reply that points: bare markers, or a sentence stopping where the answer
    # should be. "Apple [4]." for "Which company did Pang work for before joining
    # Apple?" is a wrong answer made of the question's words, not a pointer.
    if bare.strip(" .。") and not stops_short(bare):
        return None
    n = numbers[0]
    query = embedder.embed_queries([question])[0]
    start, end, sentence = _closest_sentence(query, hits[n - 1], embedder=embedder)
    last = list(MARKER.finditer(reply))[-1]
    before = renumber_citations(reply[: last.start()], {})  # the quote carries the one marker
    text = f"{before} “{sentence.strip()}” [{n}]{reply[last.end():]}".strip()
    return text, n - 1, (start, end)
