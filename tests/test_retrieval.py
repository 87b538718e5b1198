import numpy as np

from rag.retrieval import BM25Index, reciprocal_rank_fusion, retrieve, tokenize


def test_tokenize_cjk_bigrams_and_latin_words():
    assert tokenize("庞若鸣加入Meta") == ["庞若", "若鸣", "鸣加", "加入", "meta"]
    assert tokenize("パン氏 は") == ["パン", "ン氏", "は"]
    assert tokenize("Ｍｅｔａ  AI-team 2021") == ["meta", "ai", "team", "2021"]


def test_bm25_finds_chinese_and_japanese_passages():
    texts = [
        "庞若鸣宣布加入Meta，引发了苹果AI人才流失的浪潮。",
        "苹果服务主管Eddy Cue警告，苹果可能会重蹈黑莓或诺基亚的覆辙。",
        "ザッカーバーグはスタートアップ企業Scale AIに140億ドル以上を投資した。",
        "Meta a nommé Shengjia Zhao au poste de scientifique en chef.",
    ]
    index = BM25Index(texts)
    assert index.top("庞若鸣去了哪里", 2)[0][0] == 0
    assert index.top("诺基亚", 1)[0][0] == 1
    assert index.top("Scale AIへの投資額", 1)[0][0] == 2
    assert index.top("scientifique en chef", 1)[0][0] == 3
    assert index.top("完全无关的词语", 4) == []


def test_bm25_rewards_rarer_terms():
    index = BM25Index(["apple meta", "apple apple", "apple google"])
    assert index.top("google apple", 1)[0][0] == 2


def test_rrf_fuses_weighted_rankings():
    fused = reciprocal_rank_fusion([(["a", "b", "c"], 1.0), (["c", "b"], 1.0)], k=60)
    assert [i for i, _ in fused][:1] == ["b"] or [i for i, _ in fused][:1] == ["c"]
    assert {i for i, _ in fused} == {"a", "b", "c"}
    only_dense = reciprocal_rank_fusion([(["a", "b"], 1.0), (["b", "a"], 0.0)])
    assert [i for i, _ in only_dense] == ["a", "b"]


def test_retrieve_hybrid_over_store(articles, config, store, fake_embedder):
    from rag.indexing import ingest_paths

    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    config = config.replace(bm25_weight=0.5)
    result = retrieve(["Shengjia Zhao scientifique en chef"], store=store, embedder=fake_embedder, config=config)
    assert result.hits[0].chunk.doc_id == "fr_zhang"
    assert result.hits[0].dense_score is not None and result.hits[0].bm25_score is not None
    assert 0 < result.best_dense_score <= 1.0001
    assert set(result.timings) == {"embed", "retrieve"}
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    # BM25 alone still ranks the CJK passage first for a CJK query.
    bm25_only = config.replace(dense_weight=0.0)
    result = retrieve(["庞若鸣 四年 总收入"], store=store, embedder=fake_embedder, config=bm25_only)
    assert result.hits[0].chunk.doc_id == "zh_apple"


def test_bm25_only_ranks_chunks_of_the_query_language(articles, config, store, fake_embedder):
    from rag.indexing import ingest_paths

    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    bm25_only = config.replace(dense_weight=0.0, bm25_weight=1.0)
    # "Meta" occurs in all three articles; restricted to French, only French chunks get BM25 scores.
    result = retrieve(["Meta"], store=store, embedder=fake_embedder, config=bm25_only, languages=["fr"])
    scored = [h for h in result.hits if h.bm25_score is not None]
    assert scored and {h.chunk.language for h in scored} == {"fr"}
    unrestricted = retrieve(["Meta"], store=store, embedder=fake_embedder, config=bm25_only)
    assert {h.chunk.language for h in unrestricted.hits if h.bm25_score is not None} == {"fr", "ja", "zh"}
