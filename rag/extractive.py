"""The passages' own sentences, chosen by embedding similarity (no LLM): the quotes of
the extractive mode and the sentence each citation highlights.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .chunking import split_sentences
from .citations import renumber_citations
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

