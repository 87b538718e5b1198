"""Cross-lingual retrieval and QA on XQuAD, against BM25-only, dense-only and a plain
llama-index pipeline, on the same questions.

    python -m eval.xquad --corpus-lang zh --question-lang en --llm none --report-json reports/xquad-zh-en.json
    python -m eval.xquad --pairs zh:en,de:en,en:de --llm none --report-json reports/xquad.json
    python -m eval.xquad --corpus-lang zh --question-lang en --llm local --limit 30 --report-json r.json

The 240 paragraphs of ``--corpus-lang`` are indexed (through ``ingest_document``, so
re-runs are fast) into the Chroma collection ``xquad-<lang>``; the questions of
``--question-lang`` are asked against it. XQuAD files are parallel: a question's gold
paragraph is the paragraph at the same (article, paragraph) position, and its gold
answers are the answers with the same question id in both languages.

Data (CC BY-SA 4.0) is read at run time from ``--xquad-dir``, else ``$XQUAD_DIR``, else
the ``shared/xquad`` folder next to the repository, else ``eval/xquad_data`` (a copy of
the English and Chinese files only: what the CI gate's zh:en run needs).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import re
import shlex
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from rag.config import REPO_ROOT, RAGConfig

from .metrics import METRIC_KEYS, aggregate, contains_answer, format_table, stage_latencies, token_f1

DEFAULT_XQUAD_DIR = REPO_ROOT.parent / "shared" / "xquad"
BUNDLED_XQUAD_DIR = REPO_ROOT / "eval" / "xquad_data"  # en + zh only, with their licence
XQUAD_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
REPORT_KEYS = METRIC_KEYS + ("answer_f1",)
# Metrics that only mean something when answers were generated.
ANSWER_KEYS = ("answer_accuracy", "false_refusal_rate", "citation_precision", "citation_support", "answer_f1")
RETRIEVAL_TABLE_KEYS = ("recall_at_1", "recall_at_5", "mrr", "ndcg_at_10", "latency_p50_s", "latency_p95_s",
                        "n_questions")
ANSWER_TABLE_KEYS = tuple(k for k in REPORT_KEYS if k != "refusal_accuracy")  # nothing is unanswerable
BASELINES = ("bm25", "dense", "llamaindex")
RANK_DEPTH = 10  # retrieval metrics look at the first 10 hits

# The plain llama-index pipeline: SentenceSplitter(256, 20) + VectorStoreIndex, top 10.
LI_CHUNK_SIZE = 256
LI_CHUNK_OVERLAP = 20
LI_TOP_K = 10


# -- data --------------------------------------------------------------------------------
def resolve_xquad_dir(path: Path | str | None = None) -> Path:
    """``path``, else $XQUAD_DIR, else shared/xquad next to the repo, else the bundled
    en + zh copy; it must exist."""
    fallback = DEFAULT_XQUAD_DIR if DEFAULT_XQUAD_DIR.is_dir() else BUNDLED_XQUAD_DIR
    chosen = Path(path) if path else Path(os.environ.get("XQUAD_DIR") or fallback)
    chosen = chosen.expanduser()
    if not chosen.is_dir():
        raise FileNotFoundError(
            f"XQuAD data not found: {chosen} is not a folder. It should hold xquad.<lang>.json "
            f"(SQuAD v1.1 format); pass --xquad-dir or set XQUAD_DIR."
        )
    return chosen


def xquad_file(xquad_dir: Path, lang: str) -> Path:
    path = Path(xquad_dir) / f"xquad.{lang}.json"
    if not path.is_file():
        have = sorted(p.name.split(".")[1] for p in Path(xquad_dir).glob("xquad.*.json"))
        raise FileNotFoundError(f"{path} does not exist (languages in {xquad_dir}: {', '.join(have) or 'none'})")
    return path


def load_xquad_file(path: Path) -> list[dict]:
    """The articles of one SQuAD-v1.1-format file: [{"title", "paragraphs": [{"context", "qas"}]}]."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list) or not articles:
        raise ValueError(f"{path}: no 'data' list of articles (expected SQuAD v1.1 format)")
    for a, article in enumerate(articles):
        if not isinstance(article.get("paragraphs"), list):
            raise ValueError(f"{path}: article {a} has no 'paragraphs' list")
        for p, paragraph in enumerate(article["paragraphs"]):
            if not isinstance(paragraph.get("context"), str) or not isinstance(paragraph.get("qas"), list):
                raise ValueError(f"{path}: article {a} paragraph {p} needs 'context' and 'qas'")
    return articles


def paragraph_doc_id(article_index: int, paragraph_index: int) -> str:
    return f"{article_index:02d}-{paragraph_index:02d}"


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    lang: str
    article_index: int
    paragraph_index: int
    doc_id: str  # the gold paragraph's doc id in the corpus
    golds: tuple[str, ...]  # answers in the question language, then the corpus language
    golds_by_lang: dict = field(hash=False, compare=False, default_factory=dict)


@dataclass
class XQuADPair:
    corpus_lang: str
    question_lang: str
    documents: list  # rag.documents.Document, one per paragraph of the corpus language
    questions: list[Question]
    titles: bool = True

    @property
    def name(self) -> str:
        return f"{self.corpus_lang}:{self.question_lang}"

    @property
    def collection(self) -> str:
        return f"xquad-{self.corpus_lang}" + ("" if self.titles else "-notitles")


def paragraph_documents(articles: list[dict], lang: str, *, source: str = "", titles: bool = True) -> list:
    """One Document per paragraph; doc_id "AA-PP" (article, paragraph), title = article title.

    The content hash also covers the title, so switching titles re-indexes a paragraph.
    Without titles the title is the doc_id, which ``Chunk.embedding_text`` leaves out.
    """
    from rag.documents import Document, content_hash

    documents = []
    for a, article in enumerate(articles):
        title = str(article.get("title") or "").replace("_", " ").strip()
        for p, paragraph in enumerate(article["paragraphs"]):
            doc_id = paragraph_doc_id(a, p)
            shown = title if titles and title else doc_id
            text = paragraph["context"]
            documents.append(Document(
                doc_id=doc_id, title=shown, text=text, language=lang,
                source=f"{source}#{doc_id}" if source else doc_id,
                content_hash=content_hash(f"{shown}\n{text}".encode("utf-8")),
            ))
    return documents


def _answers(qa: dict) -> list[str]:
    return [str(a.get("text", "")).strip() for a in qa.get("answers", []) if str(a.get("text", "")).strip()]


def align_questions(corpus_articles: list[dict], question_articles: list[dict], *, corpus_lang: str,
                    question_lang: str) -> list[Question]:
    """The questions of ``question_articles`` in file order, each mapped to its gold paragraph
    in the corpus by position and checked by question id; gold answers from both files."""
    if len(corpus_articles) != len(question_articles):
        raise ValueError(f"xquad.{corpus_lang} has {len(corpus_articles)} articles but xquad.{question_lang} "
                         f"has {len(question_articles)}: the files are not parallel")
    corpus_qas: dict[str, tuple[int, int, dict]] = {}
    for a, article in enumerate(corpus_articles):
        other = question_articles[a]["paragraphs"]
        if len(article["paragraphs"]) != len(other):
            raise ValueError(f"article {a}: {len(article['paragraphs'])} paragraphs in xquad.{corpus_lang} but "
                             f"{len(other)} in xquad.{question_lang}: the files are not parallel")
        for p, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                corpus_qas[str(qa["id"])] = (a, p, qa)
    questions: list[Question] = []
    seen: set[str] = set()
    for a, article in enumerate(question_articles):
        for p, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                qid = str(qa["id"])
                if qid in seen:
                    raise ValueError(f"xquad.{question_lang}: question id {qid} appears twice")
                seen.add(qid)
                if qid not in corpus_qas:
                    raise ValueError(f"question {qid} (xquad.{question_lang}, article {a} paragraph {p}) "
                                     f"is not in xquad.{corpus_lang}: the files are not parallel")
                ca, cp, corpus_qa = corpus_qas[qid]
                if (ca, cp) != (a, p):
                    raise ValueError(f"question {qid} is in article {a} paragraph {p} of xquad.{question_lang} "
                                     f"but article {ca} paragraph {cp} of xquad.{corpus_lang}")
                by_lang = {question_lang: _answers(qa)}
                by_lang.setdefault(corpus_lang, _answers(corpus_qa))
                golds = tuple(dict.fromkeys(by_lang[question_lang] + by_lang[corpus_lang]))
                if not golds:
                    raise ValueError(f"question {qid} has no answer text")
                questions.append(Question(
                    qid=qid, text=str(qa["question"]).strip(), lang=question_lang, article_index=a,
                    paragraph_index=p, doc_id=paragraph_doc_id(a, p), golds=golds, golds_by_lang=by_lang,
                ))
    return questions


def spread(items: list, n: int) -> list:
    """``n`` items evenly spaced over ``items``, first one included, in order: a sample
    that covers every article of XQuAD (its questions come grouped by article; the first
    N are all from the first one, Super Bowl 50)."""
    if n >= len(items):
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


def load_pair(xquad_dir: Path | str | None, corpus_lang: str, question_lang: str, *,
              limit: int | None = None, titles: bool = True, sample: int | None = None) -> XQuADPair:
    folder = resolve_xquad_dir(xquad_dir)
    corpus_path = xquad_file(folder, corpus_lang)
    corpus = load_xquad_file(corpus_path)
    questions_file = corpus if question_lang == corpus_lang else load_xquad_file(xquad_file(folder, question_lang))
    questions = align_questions(corpus, questions_file, corpus_lang=corpus_lang, question_lang=question_lang)
    if limit is not None:
        questions = questions[: max(0, limit)]
    if sample is not None:
        questions = spread(questions, max(0, sample))
    documents = paragraph_documents(corpus, corpus_lang, source=corpus_path.name, titles=titles)
    return XQuADPair(corpus_lang, question_lang, documents, questions, titles)


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """"zh:en,de:en" -> [("zh", "en"), ("de", "en")] (corpus:question)."""
    pairs = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        parts = item.split(":")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"bad pair {item!r}: write corpus:question, e.g. zh:en")
        pairs.append((parts[0].strip(), parts[1].strip()))
    if not pairs:
        raise ValueError("--pairs is empty")
    return pairs


# -- shared query vectors ---------------------------------------------------------------
class QueryVectors:
    """Question vectors computed once per text and shared by the systems under test.

    ``recording()`` always runs the model (so our pipeline's latency is real) and keeps
    the result; ``reusing()`` answers from what was kept. The baselines use the latter:
    the same embedder gives the same vector, so re-computing it would only cost time.
    """

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.vectors: dict[str, np.ndarray] = {}
        self.computed = 0  # texts the model embedded

    def recording(self) -> "_QueryVectorView":
        return _QueryVectorView(self, reuse=False)

    def reusing(self) -> "_QueryVectorView":
        return _QueryVectorView(self, reuse=True)


class _QueryVectorView:
    def __init__(self, shared: QueryVectors, *, reuse: bool) -> None:
        self._shared = shared
        self._reuse = reuse
        self.name = shared.embedder.name
        self.dim = shared.embedder.dim
        # Latent terms are part of our retrieval; only embedders that have them offer them.
        if hasattr(shared.embedder, "latent_terms"):
            self.latent_terms = shared.embedder.latent_terms

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        known = self._shared.vectors
        if self._reuse and texts and all(t in known for t in texts):
            return np.stack([known[t] for t in texts])
        vectors = np.asarray(self._shared.embedder.embed_queries(texts), dtype=np.float32)
        self._shared.computed += len(texts)
        for text, vector in zip(texts, vectors):
            known[text] = vector
        return vectors

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._shared.embedder.embed_passages(texts)

    def count_tokens(self, text: str) -> int:
        return self._shared.embedder.count_tokens(text)


# -- our index ---------------------------------------------------------------------------
def pair_config(config: RAGConfig, pair: XQuADPair) -> RAGConfig:
    return config.replace(collection=pair.collection)


def index_corpus(pair: XQuADPair, *, config: RAGConfig, embedder, reindex: bool = False,
                 progress: Callable[[int, int], None] | None = None):
    """Index the pair's paragraphs into its own collection (idempotent by content hash,
    which here also covers the chunk settings); paragraphs that are not part of the
    corpus are removed. Returns (store, summary)."""
    from rag.indexing import ingest_document
    from rag.store import delete_index, open_store

    import dataclasses

    from rag.documents import content_hash

    cfg = pair_config(config, pair)
    if reindex:
        with contextlib.suppress(Exception):  # absent collection: nothing to delete
            delete_index(config=cfg)
    store = open_store(config=cfg, embedder=embedder)
    status: Counter = Counter()
    chunks = 0
    # The chunk settings are part of the hash: changing them re-chunks on the next run.
    chunking = f":{cfg.chunk_tokens}/{cfg.chunk_overlap_tokens}"
    for done, document in enumerate(pair.documents, start=1):
        document = dataclasses.replace(document, content_hash=content_hash((document.content_hash + chunking).encode()))
        state, written = ingest_document(document, store=store, embedder=embedder, config=cfg)
        status[state] += 1
        chunks += written
        if progress:
            progress(done, len(pair.documents))
    wanted = {d.doc_id for d in pair.documents}
    removed = 0
    for info in store.list_documents():
        if info.doc_id not in wanted:
            store.delete_document(info.doc_id)
            removed += 1
    summary = (f"{status['added']} added, {status['updated']} updated, {status['unchanged']} unchanged, "
               f"{removed} removed; {chunks} chunks written; {store.count()} chunks in {cfg.collection}")
    return store, summary


# -- the plain llama-index pipeline ------------------------------------------------------
_EMBEDDING_CLASS = None


def llamaindex_embedding(embedder, *, batch_size: int = 32):
    """The project's embedder as a llama-index ``BaseEmbedding`` (queries and passages
    keep their own prefixes through embed_queries / embed_passages)."""
    global _EMBEDDING_CLASS
    if _EMBEDDING_CLASS is None:
        from typing import Any, List

        from llama_index.core.base.embeddings.base import BaseEmbedding
        from pydantic import PrivateAttr

        class ProjectEmbedding(BaseEmbedding):
            _embedder: Any = PrivateAttr()

            def __init__(self, embedder: Any, **kwargs: Any) -> None:
                super().__init__(model_name=embedder.name, **kwargs)
                self._embedder = embedder

            @classmethod
            def class_name(cls) -> str:
                return "ProjectEmbedding"

            def _get_query_embedding(self, query: str) -> List[float]:
                return [float(x) for x in self._embedder.embed_queries([query])[0]]

            async def _aget_query_embedding(self, query: str) -> List[float]:
                return self._get_query_embedding(query)

            def _get_text_embedding(self, text: str) -> List[float]:
                return [float(x) for x in self._embedder.embed_passages([text])[0]]

            def _get_text_embeddings(self, texts: List[str]) -> List[List[float]]:
                return [[float(x) for x in row] for row in self._embedder.embed_passages(list(texts))]

        _EMBEDDING_CLASS = ProjectEmbedding
    return _EMBEDDING_CLASS(embedder, embed_batch_size=batch_size)


def _no_llamaindex_llm() -> None:
    """Settings.llm = None (a MockLLM): nothing in llama-index may call OpenAI."""
    from llama_index.core import Settings

    with contextlib.redirect_stdout(sys.stderr):  # it prints "LLM is explicitly disabled"
        Settings.llm = None


class LlamaIndexBaseline:
    """SentenceSplitter(chunk_size=256, overlap=20) + in-memory VectorStoreIndex, with
    the project's embedder; retrieval through ``index.as_retriever(similarity_top_k=10)``."""

    def __init__(self, documents: Sequence, *, embedder, chunk_size: int = LI_CHUNK_SIZE,
                 chunk_overlap: int = LI_CHUNK_OVERLAP, top_k: int = LI_TOP_K, titles: bool = True) -> None:
        from llama_index.core import Document as LIDocument
        from llama_index.core import VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter

        _no_llamaindex_llm()
        self.embed_model = llamaindex_embedding(embedder)
        li_docs = [LIDocument(text=d.text, id_=d.doc_id, metadata={"title": d.title} if titles else {})
                   for d in documents]
        splitter = SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
        self.nodes = splitter.get_nodes_from_documents(li_docs)
        self.index = VectorStoreIndex(self.nodes, embed_model=self.embed_model)
        self.retriever = self.index.as_retriever(similarity_top_k=top_k)
        self.nodes_per_doc = Counter(node.ref_doc_id for node in self.nodes)

    def retrieve(self, question: str) -> list:
        """NodeWithScore list, best first."""
        return self.retriever.retrieve(question)

    @staticmethod
    def messages(question: str, nodes: Sequence) -> list[dict]:
        """llama-index's own chat QA prompt ("Context information is below. ...") over the nodes."""
        from llama_index.core.prompts.chat_prompts import CHAT_TEXT_QA_PROMPT
        from llama_index.core.schema import MetadataMode

        context = "\n\n".join(n.node.get_content(metadata_mode=MetadataMode.LLM) for n in nodes)
        out = []
        for message in CHAT_TEXT_QA_PROMPT.format_messages(context_str=context, query_str=question):
            role = getattr(message.role, "value", message.role)
            out.append({"role": str(role), "content": message.content or ""})
        return out


# A plain pipeline has no refusal mechanism; these openings are the model declining.
_PLAIN_REFUSAL = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry|i (cannot|can't|can not|don't|do not) (answer|know|find|determine))"
    r"|^\W*(the )?(given |provided )?(context|information|passages?|text)( information)?( provided)? "
    r"(does not|doesn't|do not|don't) (contain|mention|say|provide|specify|include|state|give)"
    r"|^\W*there is no (information|mention)|^\W*no (information|mention)",
    re.IGNORECASE,
)


def plain_refusal(text: str) -> bool:
    from rag.refusal import is_refusal

    return is_refusal(text) or bool(_PLAIN_REFUSAL.search(text.strip()))


# -- scoring -----------------------------------------------------------------------------
def _rank(doc_ids: Sequence[str], gold: str) -> int | None:
    for rank, doc_id in enumerate(doc_ids, start=1):
        if doc_id == gold:
            return rank
    return None


def retrieval_record(question: Question, doc_ids: Sequence[str], n_relevant: int, timings: dict) -> dict:
    """A ``metrics.aggregate`` record for a ranked list of retrieved paragraph ids."""
    doc_ids = list(doc_ids)[:RANK_DEPTH]
    return {
        "id": question.qid, "lang": question.lang, "answerable": True,
        "relevant": [d == question.doc_id for d in doc_ids], "n_relevant": n_relevant,
        "retrieved": doc_ids, "rank": _rank(doc_ids, question.doc_id),
        "refused": False, "correct": None, "timings": dict(timings),
    }


def score_answer_text(record: dict, question: Question, text: str, *, refused: bool,
                      citations: Sequence[tuple[str, str]] | None) -> dict:
    """Add answer fields to ``record``: ``citations`` are (doc_id, passage text) pairs,
    None for a pipeline that does not cite. Markers like [1] are removed before scoring,
    so a gold answer "1" is not found in a citation marker."""
    from rag.citations import renumber_citations

    plain = renumber_citations(text, {})
    record["answer"] = text
    record["refused"] = bool(refused)
    record["correct"] = (not refused) and contains_answer(plain, question.golds)
    record["f1"] = 0.0 if refused else token_f1(plain, question.golds)
    if not refused:
        from rag.language import answer_language

        record["answer_language"] = answer_language(text)
    if citations is None:
        record["cited_from_source"] = []
        record["cited_support"] = None
    else:
        record["citations"] = [doc_id for doc_id, _ in citations]
        record["cited_from_source"] = [doc_id == question.doc_id for doc_id, _ in citations]
        record["cited_support"] = any(contains_answer(passage, question.golds) for _, passage in citations)
    return record


def summarize(records: Sequence[dict], *, answered: bool) -> dict:
    """METRIC_KEYS (from ``aggregate``) + answer_f1; answer metrics are None without answers."""
    metrics = aggregate(records)
    f1 = [r["f1"] for r in records if r.get("f1") is not None]
    metrics["answer_f1"] = sum(f1) / len(f1) if answered and f1 else None
    if not answered:
        for key in ANSWER_KEYS:
            metrics[key] = None
    return {key: metrics.get(key) for key in REPORT_KEYS}


# -- running one pair --------------------------------------------------------------------
def run_pair(
    pair: XQuADPair,
    *,
    config: RAGConfig,
    embedder,
    llm_mode: str = "none",
    llm=None,
    baselines: bool = True,
    reindex: bool = False,
    query_vectors: QueryVectors | None = None,
    llamaindex_cache: dict | None = None,
    show_progress: bool = False,
) -> dict:
    """Index the corpus, run our pipeline and the baselines on the pair's questions, score.

    ``llm_mode`` "none" scores retrieval only; "extractive" answers without a model;
    "local" / "openai" answer with ``llm`` (default: ``rag.llm.get_llm``).
    """
    from rag.answer import ask
    from rag.language import detect_language
    from rag.retrieval import retrieve

    if llm_mode not in ("none", "local", "openai", "extractive"):
        raise ValueError(f"llm must be none, local, openai or extractive, not {llm_mode!r}")
    answering = llm_mode != "none"
    cfg = pair_config(config, pair)
    if not answering and cfg.translate_queries:
        print("note: --llm none does not translate queries (that needs the LLM); RAG_TRANSLATE_QUERIES is "
              "ignored for retrieval-only scores", file=sys.stderr)
    if answering:
        cfg = cfg.replace(llm=llm_mode)
    chat = llm
    if llm_mode in ("local", "openai") and chat is None:
        from rag.llm import get_llm

        chat = get_llm(config=cfg)
    query_vectors = query_vectors or QueryVectors(embedder)
    ours_embedder, shared_embedder = query_vectors.recording(), query_vectors.reusing()

    def bar(total: int, desc: str):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit="q", file=sys.stderr, disable=not show_progress, leave=True)

    # Index (ours, persistent) and the llama-index baseline (in memory, once per corpus).
    progress = bar(len(pair.documents), f"index {pair.collection}")
    store, index_summary = index_corpus(pair, config=config, embedder=embedder, reindex=reindex,
                                        progress=lambda done, total: progress.update(1))
    progress.close()
    chunks_per_doc = Counter(c.doc_id for c in store.all_chunks())
    baseline = None
    if baselines:
        key = (pair.corpus_lang, pair.titles, embedder.name)
        cache = llamaindex_cache if llamaindex_cache is not None else {}
        if key not in cache:
            t0 = time.perf_counter()
            cache[key] = LlamaIndexBaseline(pair.documents, embedder=shared_embedder, titles=pair.titles)
            print(f"llama-index baseline: {len(cache[key].nodes)} nodes from {len(pair.documents)} paragraphs "
                  f"in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        baseline = cache[key]

    ours: list[dict] = []
    base: dict[str, list[dict]] = {name: [] for name in BASELINES} if baselines else {}
    li_nodes: list[list] = []
    progress = bar(len(pair.questions), f"{pair.name} ours{' + baselines' if baselines else ''}")
    for question in pair.questions:
        # Ours: exactly what the assistant does (hybrid retrieval, then rag.answer.ask).
        if answering:
            answer = ask(question.text, config=cfg, store=store, embedder=ours_embedder, llm=chat)
            hits, timings = answer.retrieved, dict(answer.timings)
        else:
            # What ask() searches with (BM25, when weighted, only over the question's language).
            result = retrieve([question.text], store=store, embedder=ours_embedder, config=cfg,
                              languages=[detect_language(question.text)])
            hits, timings = result.hits, dict(result.timings)
            timings["total"] = sum(timings.values())
        record = retrieval_record(question, [h.chunk.doc_id for h in hits],
                                  chunks_per_doc.get(question.doc_id, 0), timings)
        if answering:
            score_answer_text(record, question, answer.text, refused=answer.refused,
                              citations=[(c.doc_id, c.text) for c in answer.citations])
        ours.append(record)

        if baselines:
            # BM25 only, over every chunk (no language restriction), keeping only what BM25
            # scored: dense hits still enter the fusion, with weight 0.
            result = retrieve([question.text], store=store, embedder=shared_embedder,
                              config=cfg.replace(dense_weight=0.0, bm25_weight=1.0, latent_weight=0.0))
            ids = [h.chunk.doc_id for h in result.hits if h.bm25_score is not None]
            base["bm25"].append(retrieval_record(question, ids, chunks_per_doc.get(question.doc_id, 0),
                                                 {**result.timings, "total": sum(result.timings.values())}))
            result = retrieve([question.text], store=store, embedder=shared_embedder,
                              config=cfg.replace(bm25_weight=0.0, latent_weight=0.0))
            base["dense"].append(retrieval_record(question, [h.chunk.doc_id for h in result.hits],
                                                  chunks_per_doc.get(question.doc_id, 0),
                                                  {**result.timings, "total": sum(result.timings.values())}))
            t0 = time.perf_counter()
            nodes = baseline.retrieve(question.text)
            elapsed = time.perf_counter() - t0
            li_nodes.append(nodes)
            base["llamaindex"].append(retrieval_record(
                question, [n.node.ref_doc_id for n in nodes], baseline.nodes_per_doc.get(question.doc_id, 0),
                {"retrieve": elapsed, "total": elapsed}))
        progress.update(1)
    progress.close()

    # The plain pipeline's answers, in a second pass so each prompt style keeps its KV cache.
    li_answered = bool(baselines and chat is not None)
    if li_answered:
        progress = bar(len(pair.questions), f"{pair.name} llama-index answers")
        for question, nodes, record in zip(pair.questions, li_nodes, base["llamaindex"]):
            messages = LlamaIndexBaseline.messages(question.text, nodes[: cfg.top_k])
            t0 = time.perf_counter()
            text = "".join(chat.stream(messages, max_tokens=cfg.max_tokens, temperature=cfg.temperature)).strip()
            generate = time.perf_counter() - t0
            record["timings"].update(generate=generate, total=record["timings"]["total"] + generate)
            score_answer_text(record, question, text, refused=plain_refusal(text), citations=None)
            progress.update(1)
        progress.close()

    per_question = []
    for i, question in enumerate(pair.questions):
        entry = {
            "id": question.qid, "question": question.text, "gold_doc": question.doc_id,
            "golds": list(question.golds), "ours": _public(ours[i]),
        }
        for name in base:
            entry[name] = _public(base[name][i])
        per_question.append(entry)

    report = {
        "corpus_lang": pair.corpus_lang,
        "question_lang": pair.question_lang,
        "metrics": summarize(ours, answered=answering),
        "baselines": {
            "bm25": summarize(base["bm25"], answered=False),
            "dense": summarize(base["dense"], answered=False),
            "llamaindex": summarize(base["llamaindex"], answered=li_answered),
        } if baselines else {},
        "latency_by_stage": stage_latencies(ours),
        "n_questions": len(pair.questions),
        "n_paragraphs": len(pair.documents),
        "n_chunks": sum(chunks_per_doc.values()),
        "llamaindex_nodes": len(baseline.nodes) if baseline else None,
        "llm": llm_mode,
        "llm_backend": getattr(chat, "name", None) if chat is not None else ("extractive" if answering else None),
        "top_k": cfg.top_k,
        # What "ours" ran with (the project defaults unless RAG_* variables say otherwise).
        "ours_config": {k: getattr(cfg, k) for k in (
            "embedder", "chunk_tokens", "chunk_overlap_tokens", "dense_weight", "bm25_weight", "candidates",
            "rrf_k", "min_score", "translate_queries", "max_tokens", "temperature")},
        "titles": pair.titles,
        "collection": cfg.collection,
        "index": index_summary,
        "per_question": per_question,
    }
    return report


def _public(record: dict) -> dict:
    keep = ("retrieved", "rank", "answer", "refused", "correct", "f1", "citations", "timings")
    out = {k: record[k] for k in keep if k in record}
    if out.get("correct") is None:  # retrieval only: no answer was scored
        for k in ("refused", "correct"):
            out.pop(k, None)
    return out


# -- reporting ---------------------------------------------------------------------------
def table_rows(reports: Sequence[dict], *, prefix: bool) -> dict[str, dict]:
    rows = {}
    for report in reports:
        head = f"{report['corpus_lang']}:{report['question_lang']} " if prefix else ""
        rows[f"{head}ours"] = report["metrics"]
        for name, metrics in report.get("baselines", {}).items():
            rows[f"{head}{name}"] = metrics
    return rows


def comparison_table(reports: Sequence[dict]) -> str:
    answered = any(r["llm"] != "none" for r in reports)
    keys = ANSWER_TABLE_KEYS if answered else RETRIEVAL_TABLE_KEYS
    return format_table(table_rows(reports, prefix=len(reports) > 1), keys)


def markdown_report(reports: Sequence[dict], *, command: str, date: str) -> str:
    first = reports[0]
    pairs = ", ".join(f"{r['corpus_lang']}:{r['question_lang']} ({r['n_questions']} q)" for r in reports)
    lines = [
        f"# XQuAD corpus:question = {pairs}",
        "",
        f"{date}; llm={first['llm']}"
        + (f" ({first['llm_backend']})" if first.get("llm_backend") else "")
        + f", k={first['top_k']}, titles={'on' if first['titles'] else 'off'}",
        f"`{command}`",
        "",
        comparison_table(reports),
        "",
        "Latency by stage (ours):",
    ]
    for report in reports:
        stages = ", ".join(f"{stage} p50 {v['p50_s']:.3f} s / p95 {v['p95_s']:.3f} s"
                           for stage, v in report["latency_by_stage"].items() if v["p50_s"] is not None)
        lines.append(f"- {report['corpus_lang']}:{report['question_lang']}: {stages}")
    return "\n".join(lines) + "\n"


def gate_failures(reports: Sequence[dict], thresholds: dict) -> list[str]:
    from .gate import check_thresholds

    failures = []
    for report in reports:
        for line in check_thresholds(report["metrics"], thresholds):
            failures.append(f"{report['corpus_lang']}:{report['question_lang']}: {line}")
    return failures


def load_gate(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"--gate {path}: cannot read thresholds ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("xquad"), dict):
        raise ValueError(f"--gate {path}: needs an \"xquad\" object of metric -> threshold")
    return data["xquad"]


# -- command line ------------------------------------------------------------------------
def load_embedder(config: RAGConfig):
    """The configured embedder (a seam for tests)."""
    from rag.embeddings import get_embedder

    return get_embedder(config=config)


def load_llm(config: RAGConfig):
    from rag.llm import get_llm

    return get_llm(config=config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eval.xquad",
        description="Cross-lingual retrieval/QA on XQuAD: our pipeline vs BM25, dense and plain llama-index.",
    )
    parser.add_argument("--corpus-lang", help="language of the indexed paragraphs")
    parser.add_argument("--question-lang", help="language of the questions")
    parser.add_argument("--pairs", help="several corpus:question pairs, e.g. zh:en,de:en (one process, one report)")
    parser.add_argument("--limit", type=int, help="only the first N questions (file order)")
    parser.add_argument("--spread", type=int, metavar="N",
                        help="only N questions evenly spaced over the file (every article; after --limit)")
    parser.add_argument("--llm", choices=["none", "local", "openai", "extractive"], default="none",
                        help="answer generation; none = retrieval metrics only (default)")
    parser.add_argument("--k", type=int, help="passages given to the model (default: config top_k)")
    parser.add_argument("--report-json", type=Path, required=True)
    parser.add_argument("--report-md", type=Path)
    parser.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=True,
                        help="also run BM25-only, dense-only and plain llama-index (default: on)")
    parser.add_argument("--titles", action=argparse.BooleanOptionalAction, default=True,
                        help="index article titles with the paragraphs (XQuAD titles are English in every "
                             "language file); --no-titles uses the collection xquad-<lang>-notitles")
    parser.add_argument("--xquad-dir", type=Path, help="folder of xquad.<lang>.json (default: $XQUAD_DIR or "
                                                        "../shared/xquad)")
    parser.add_argument("--reindex", action="store_true", help="drop and rebuild the xquad-<lang> collections")
    parser.add_argument("--gate", type=Path, help="thresholds JSON with an \"xquad\" object; exit 1 on failure")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("ANONYMIZED_TELEMETRY", "False")):
        os.environ.setdefault(name, value)

    try:
        if args.pairs:
            if args.corpus_lang or args.question_lang:
                parser.error("use either --pairs or --corpus-lang/--question-lang")
            wanted = parse_pairs(args.pairs)
        elif args.corpus_lang and args.question_lang:
            wanted = [(args.corpus_lang, args.question_lang)]
        else:
            parser.error("give --corpus-lang and --question-lang, or --pairs")
        if args.limit is not None and args.limit < 1:
            parser.error("--limit must be at least 1")
        if args.spread is not None and args.spread < 1:
            parser.error("--spread must be at least 1")
        thresholds = load_gate(args.gate) if args.gate else None
        xquad_dir = resolve_xquad_dir(args.xquad_dir)
        pairs = [load_pair(xquad_dir, c, q, limit=args.limit, titles=args.titles, sample=args.spread)
                 for c, q in wanted]
        overrides = {"top_k": args.k} if args.k else {}
        if args.llm != "none":
            overrides["llm"] = args.llm
        config = RAGConfig.from_env(**overrides)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    embedder = load_embedder(config)
    chat = load_llm(config) if args.llm in ("local", "openai") else None
    query_vectors = QueryVectors(embedder)
    llamaindex_cache: dict = {}
    reports: list[dict] = []
    started = time.perf_counter()
    command = "python -m eval.xquad " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    args.report_json.parent.mkdir(parents=True, exist_ok=True)

    def write_report(complete: bool) -> str:
        date = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        meta = {"date": date, "command": command, "seconds": round(time.perf_counter() - started, 1),
                "complete": complete, "embedder": embedder.name, "xquad_dir": str(xquad_dir),
                "query_vectors_computed": query_vectors.computed,
                "config": {k: str(v) for k, v in vars(config).items() if not k.startswith("openai_api")}}
        combined = {**meta, "pairs": reports} if args.pairs else {**reports[0], **meta}
        args.report_json.write_text(json.dumps(combined, ensure_ascii=False, indent=1), encoding="utf-8")
        return date

    for pair in pairs:
        reports.append(run_pair(
            pair, config=config, embedder=embedder, llm_mode=args.llm, llm=chat, baselines=args.baselines,
            reindex=args.reindex, query_vectors=query_vectors, llamaindex_cache=llamaindex_cache,
            show_progress=True,
        ))
        if len(reports) < len(pairs):
            write_report(complete=False)  # a long --pairs run keeps what it measured if it is stopped
    date = write_report(complete=True)
    markdown = markdown_report(reports, command=command, date=date)
    if args.report_md:
        args.report_md.parent.mkdir(parents=True, exist_ok=True)
        args.report_md.write_text(markdown, encoding="utf-8")
    print(markdown)
    if thresholds is not None:
        failures = gate_failures(reports, thresholds)
        for line in failures:
            print(f"GATE FAILED: {line}")
        if failures:
            return 1
        print("gate passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
