"""The latent-term search of a question over sentences: a chunk scores by its best sentence.

Both stores answer ``term_search`` with ``search_term_index`` below: the Chroma store over
its whole in-process index (rag/store.py), the Qdrant store over the sentences of the
chunks Qdrant's own sparse search found (rag/store_qdrant.py), so that both give the
same scores and pick the same sentences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class TermMatch:
    latent: float  # the best latent-term similarity among the chunk's sentences
    sentence: int  # which sentence is best once the answer-kind bonus is added; -1: none
    gain: float  # what that bonus adds to the chunk's ranking score


@dataclass(frozen=True)
class TermSearch:
    found: tuple[str, ...]  # the ``k`` best chunk ids by latent score + bonus (a set: order means nothing)
    matches: dict[str, TermMatch]  # for the found chunks and the ones asked about


def sentence_max_scores(index, query_terms, n_chunks: int,
                        sentence_bonus: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per chunk, the best latent-term similarity between the query and its sentences
    (0 for chunks without sentence vectors), which sentence of the chunk is best once
    ``sentence_bonus`` (one value per sentence row) is added (-1 for none), and the
    bonus that sentence brings (what it adds to the chunk's ranking score)."""
    indices, weights = query_terms
    per_sentence = index.scores(np.asarray(indices), np.asarray(weights))
    best = np.zeros(n_chunks, dtype=np.float64)
    which = np.full(n_chunks, -1, dtype=np.int64)
    gain = np.zeros(n_chunks, dtype=np.float64)
    rows, chunks = index.best_rows(per_sentence)
    best[chunks] = per_sentence[rows]
    if sentence_bonus is not None:
        rows, chunks = index.best_rows(per_sentence + sentence_bonus)
        gain[chunks] = per_sentence[rows] + sentence_bonus[rows] - best[chunks]
    _, first = index.first_rows()
    which[chunks] = rows - first
    return best, which, gain


def top_positions(scores: np.ndarray, k: int) -> np.ndarray:
    """The positions of the ``k`` highest scores, a tie going to the lower position:
    the set ``np.argsort(-scores, kind="stable")[:k]`` without sorting every score."""
    n = len(scores)
    if k >= n:
        return np.arange(n)
    if k <= 0:
        return np.arange(0)
    kth = np.partition(scores, n - k)[n - k]
    above = np.flatnonzero(scores > kth)
    return np.concatenate([above, np.flatnonzero(scores == kth)[: k - len(above)]])


def search_term_index(index, query_terms, k: int, *, also: Sequence[str] = (), bonus_kind: str | None = None,
                      bonus: float = 0.0) -> TermSearch:
    """The ``k`` chunks of ``index`` (a store.SentenceTermIndex) whose best sentence
    matches ``query_terms`` most, sentences holding a ``bonus_kind`` answer counting
    ``bonus`` more, and the match of each found chunk and of each chunk in ``also``
    that the index holds."""
    sentence_bonus = index.kind_mask(bonus_kind) * bonus if bonus_kind else None
    best, which, gain = sentence_max_scores(index, query_terms, len(index.chunk_ids), sentence_bonus)
    found = tuple(index.chunk_ids[i] for i in top_positions(best + gain, k))
    matches: dict[str, TermMatch] = {}
    for chunk_id in (*found, *also):
        position = index.position(chunk_id)
        if position is not None and chunk_id not in matches:
            matches[chunk_id] = TermMatch(latent=float(best[position]), sentence=int(which[position]),
                                          gain=float(gain[position]))
    return TermSearch(found=found, matches=matches)
