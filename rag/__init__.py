"""Multilingual question answering over news articles, with cited answers.

    from rag import ask
    answer = ask("Which company did Ruoming Pang work for before joining Apple?")
    print(answer.text)            # in the question's language, with [n] markers
    for c in answer.citations:    # one per marker
        print(c.n, c.doc_id, c.text[:80])

Names are imported lazily so ``import rag`` stays fast.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "RAGConfig": "rag.config",
    "Answer": "rag.answer",
    "Citation": "rag.answer",
    "EmptyIndexError": "rag.answer",
    "ask": "rag.answer",
    "ask_stream": "rag.answer",
    "Document": "rag.documents",
    "DocumentError": "rag.documents",
    "load_document": "rag.documents",
    "Chunk": "rag.chunking",
    "chunk_document": "rag.chunking",
    "split_sentences": "rag.chunking",
    "get_embedder": "rag.embeddings",
    "open_store": "rag.store",
    "EmbedderMismatchError": "rag.store",
    "Hit": "rag.retrieval",
    "retrieve": "rag.retrieval",
    "get_llm": "rag.llm",
    "LLMError": "rag.llm",
    "ingest_paths": "rag.indexing",
    "IngestReport": "rag.indexing",
    "detect_language": "rag.language",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
