import numpy as np
import pytest

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


def test_sentence_max_scores_takes_the_best_sentence_per_chunk():
    from scipy.sparse import csr_matrix

    from rag.term_search import sentence_max_scores
    from rag.store import TERM_SPACE, SentenceTermIndex

    # Three sentences: two in chunk 0, one in chunk 2; chunk 1 has none.
    rows = np.array([[1.0, 0, 0], [0, 0.6, 0.8], [0, 1.0, 0]], dtype=np.float32)
    matrix = csr_matrix(rows, shape=(3, 3))
    matrix.resize((3, TERM_SPACE))
    index = SentenceTermIndex(owner=np.array([0, 0, 2]), matrix=matrix)
    query = (np.array([1, 2], dtype=np.int32), np.array([0.0, 1.0], dtype=np.float32))
    best, which, gain = sentence_max_scores(index, query, 3)
    assert np.allclose(best, [0.8, 0.0, 0.0]) and which.tolist() == [1, -1, 0] and not gain.any()
    query = (np.array([0], dtype=np.int32), np.array([1.0], dtype=np.float32))
    best, which, _ = sentence_max_scores(index, query, 3)
    assert np.allclose(best, [1.0, 0.0, 0.0]) and which.tolist() == [0, -1, 0]


def test_sentence_bonus_picks_the_sentence_but_leaves_the_plain_score():
    from scipy.sparse import csr_matrix

    from rag.term_search import sentence_max_scores
    from rag.store import TERM_SPACE, SentenceTermIndex

    rows = np.array([[1.0, 0, 0], [0.7, 0, 0], [0, 1.0, 0]], dtype=np.float32)
    matrix = csr_matrix(rows, shape=(3, 3))
    matrix.resize((3, TERM_SPACE))
    index = SentenceTermIndex(owner=np.array([0, 0, 1]), matrix=matrix)
    query = (np.array([0], dtype=np.int32), np.array([1.0], dtype=np.float32))
    # Sentence 1 of chunk 0 holds the answer kind: 0.7 + 0.5 beats 1.0 by 0.2.
    best, which, gain = sentence_max_scores(index, query, 2, np.array([0.0, 0.5, 0.0]))
    assert np.allclose(best, [1.0, 0.0]) and which.tolist() == [1, 0] and np.allclose(gain, [0.2, 0.0])
    # A bonus too small to overtake leaves the best sentence and adds nothing.
    best, which, gain = sentence_max_scores(index, query, 2, np.array([0.0, 0.1, 0.0]))
    assert which.tolist() == [0, 0] and np.allclose(gain, [0.0, 0.0])


def _term_store(folder, config, articles: dict[str, str]):
    """A store over ``articles`` (file name -> text) filled by the fake latent-term
    embedder; returns (store, embedder)."""
    from conftest import FakeTermEmbedder

    from rag.indexing import ingest_paths
    from rag.store import open_store

    embedder = FakeTermEmbedder()
    store = open_store(config=config, embedder=embedder)
    for name, text in articles.items():
        (folder / name).write_text(text, encoding="utf-8")
    ingest_paths([folder], config=config, store=store, embedder=embedder)
    return store, embedder


def test_latent_terms_lift_the_chunk_whose_sentence_matches(tmp_path, config):
    # The question shares its words with one sentence of b.txt only; by trigram
    # vectors (the dense stand-in) a.txt, which repeats the question's letters, is closer.
    store, embedder = _term_store(tmp_path, config, {
        "a.txt": "Whoo joinedd Applle whenn? Nott thiss onee.",
        "b.txt": "Unrelated opening sentence about markets. Pang joined Apple in 2021.",
    })
    assert store.sentence_terms().sentences == 4
    question = ["when joined Apple Pang"]
    dense_only = retrieve(question, store=store, embedder=embedder, config=config.replace(latent_weight=0.0))
    with_terms = retrieve(question, store=store, embedder=embedder, config=config)
    assert dense_only.hits[0].chunk.doc_id == "a" and dense_only.hits[0].latent_score is None
    assert with_terms.hits[0].chunk.doc_id == "b"
    top = with_terms.hits[0]
    assert top.latent_score == pytest.approx(3 / (4 * 5) ** 0.5, abs=1e-3)  # 3 words shared, of 4 and 5
    assert top.score == pytest.approx(top.dense_score + top.latent_score, abs=1e-6)
    assert with_terms.best_dense_score == max(h.dense_score for h in with_terms.hits)
    assert with_terms.best_score == pytest.approx(top.score)


def test_answer_kind_bonus_lifts_the_sentence_holding_a_year(tmp_path, config):
    # The question's words match a.txt's sentence better; only b.txt's holds a year.
    store, embedder = _term_store(tmp_path, config, {
        "a.txt": "Pang did join Meta after Apple.",
        "b.txt": "Opening words about markets. Pang came to Apple in 2021.",
    })
    question = ["In what year did Pang join Apple?"]
    plain = retrieve(question, store=store, embedder=embedder, config=config.replace(answer_kind_boost=0.0))
    boosted = retrieve(question, store=store, embedder=embedder, config=config.replace(answer_kind_boost=0.5))
    assert plain.hits[0].chunk.doc_id == "a"
    assert boosted.hits[0].chunk.doc_id == "b"
    top = boosted.hits[0]
    assert top.passage_text() == top.chunk.text  # no window yet; the best sentence is the year's
    from rag.chunking import chunk_sentences

    assert "2021" in chunk_sentences(top.chunk)[top.best_sentence]
    assert top.score == pytest.approx(top.dense_score + top.latent_score + 0.5, abs=1e-6)
    # The gate's score is the plain one: a bonus never lets an off-topic question through.
    assert boosted.best_score == pytest.approx(plain.best_score)
    # Questions without a kind are ranked as before.
    other = ["Did Pang join Apple?"]
    assert ([h.chunk.chunk_id for h in retrieve(other, store=store, embedder=embedder, config=config).hits]
            == [h.chunk.chunk_id for h in retrieve(other, store=store, embedder=embedder,
                                                   config=config.replace(answer_kind_boost=0.0)).hits])


def test_answer_kind_bonus_lifts_the_sentence_holding_an_ordinal(tmp_path, config):
    store, embedder = _term_store(tmp_path, config, {
        "a.txt": "Zhang left Apple.",
        "b.txt": "Opening words about markets. Zhang left Apple as the fourth.",
    })
    # "何人目" (the how-manyth): only b.txt's sentence holds an ordinal. The trigram stand-in
    # for dense vectors favours the short a.txt by 0.27, hence a bonus larger than the default.
    question = ["Zhang left Apple 何人目"]
    plain = retrieve(question, store=store, embedder=embedder, config=config.replace(answer_kind_boost=0.0))
    boosted = retrieve(question, store=store, embedder=embedder, config=config.replace(answer_kind_boost=1.0))
    assert plain.hits[0].chunk.doc_id == "a"
    assert boosted.hits[0].chunk.doc_id == "b" and boosted.best_score == pytest.approx(plain.best_score)


def test_chunks_in_the_questions_language_pay_the_same_language_penalty(tmp_path, config):
    # The English sentence shares more of the question's words (the embedder's
    # own-language advantage, in miniature); the French one holds the answer too.
    store, embedder = _term_store(tmp_path, config, {
        "en.txt": "The researcher Bowen Zhang joined the Meta laboratory last month, the newsletter said.",
        "fr.txt": "Le chercheur Bowen Zhang a rejoint le laboratoire de Meta le mois dernier, selon la lettre.",
    })
    assert {c.doc_id: c.language for c in store.all_chunks()} == {"en": "en", "fr": "fr"}
    question = ["When did the researcher Bowen Zhang join the Meta laboratory?"]
    plain = retrieve(question, store=store, embedder=embedder, config=config.replace(same_language_penalty=0.0),
                     languages=["en"])
    penalised = retrieve(question, store=store, embedder=embedder, config=config.replace(same_language_penalty=1.0),
                         languages=["en"])
    assert [h.chunk.doc_id for h in plain.hits] == ["en", "fr"]
    assert [h.chunk.doc_id for h in penalised.hits] == ["fr", "en"]
    assert penalised.best_score == pytest.approx(plain.best_score)  # the refusal gate sees no penalty
    # A question in a language no article is in, or of unknown language, ranks as before.
    for languages in (["de"], None):
        assert [h.chunk.doc_id for h in retrieve(question, store=store, embedder=embedder,
                                                 config=config.replace(same_language_penalty=1.0),
                                                 languages=languages).hits] == ["en", "fr"]


def test_embedders_without_latent_terms_use_dense_only(articles, config, store, fake_embedder):
    from rag.indexing import ingest_paths

    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    assert store.sentence_terms() is None
    result = retrieve(["Shengjia Zhao"], store=store, embedder=fake_embedder, config=config)
    assert result.hits and all(h.latent_score is None for h in result.hits)
    assert [h.score for h in result.hits] == [h.dense_score for h in result.hits]


def _hit(text, *, doc="d", start=0, best=None):
    from rag.chunking import Chunk

    chunk = Chunk(chunk_id=f"{doc}:{start}", doc_id=doc, index=0, text=text, start=start, end=start + len(text),
                  title=doc, language="en", content_hash="h")
    from rag.retrieval import Hit

    return Hit(chunk=chunk, score=1.0, best_sentence=best)


def test_sentence_window_grows_around_the_best_sentence_within_budget():
    from rag.chunking import approximate_token_count
    from rag.retrieval import sentence_window

    text = "Aa bb cc. Dd ee ff. Gg hh ii. Jj kk ll."
    hit = _hit(text, best=2)
    assert approximate_token_count("Gg hh ii.") == 3
    # 6 tokens fit the best sentence and the next; 9 the one before too.
    assert text[slice(*sentence_window(hit, 6, approximate_token_count))] == "Gg hh ii. Jj kk ll."
    assert text[slice(*sentence_window(hit, 9, approximate_token_count))] == "Dd ee ff. Gg hh ii. Jj kk ll."
    assert text[slice(*sentence_window(hit, 1, approximate_token_count))] == "Gg hh ii."  # never less than it
    assert sentence_window(_hit(text), 6, approximate_token_count) is None  # no best sentence: whole chunk
    assert sentence_window(hit, 0, approximate_token_count) is None


def test_select_passages_skips_overlapping_windows_of_one_article():
    from rag.chunking import approximate_token_count
    from rag.retrieval import select_passages

    first = _hit("One a. Two b. Three c.", best=2)              # document chars 0-22
    overlapping = _hit("Three c. Four d.", start=14, best=0)   # "Three c." again
    other_doc = _hit("Three c. Four d.", doc="e", start=14, best=0)
    later = _hit("Four d. Five e.", start=23, best=0)
    chosen = select_passages([first, overlapping, other_doc, later], 3, max_tokens=2,
                             count_tokens=approximate_token_count)
    assert [(h.chunk.doc_id, h.passage_text()) for h in chosen] == [("d", "Three c."), ("e", "Three c."), ("d", "Four d.")]


def test_a_chunk_ranked_for_a_sentence_a_better_chunk_has_is_left_out(tmp_path, config):
    # Two overlapping chunks of one article hold the same best sentence: listing both
    # would push another place out of the top.
    from rag.retrieval import best_sentence_place

    text = " ".join(f"Filler sentence number {w} here." for w in ("one", "two", "three", "four")) + \
        " Pang joined Apple in 2021. " + " ".join(f"More filler {w} words." for w in ("five", "six", "seven"))
    small = config.replace(chunk_tokens=20, chunk_overlap_tokens=12)
    store, embedder = _term_store(tmp_path, small, {"a.txt": text, "b.txt": "Pang left Apple for Meta."})
    holding = [c for c in store.all_chunks() if "Pang joined Apple in 2021." in c.text]
    assert len(holding) >= 2  # the sentence is in more than one chunk
    result = retrieve(["when Pang joined Apple"], store=store, embedder=embedder, config=small)
    places = [best_sentence_place(h) for h in result.hits]
    assert len(places) == len(set(places))
    assert sum("Pang joined Apple in 2021." in h.chunk.text for h in result.hits[:1]) == 1
    assert any(h.chunk.doc_id == "b" for h in result.hits[:2])


def test_a_named_article_language_lifts_its_chunks_but_not_the_gate_score(articles, config, store, fake_embedder):
    from rag.indexing import ingest_paths

    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    question = ["Ruoming Pang Alphabet"]
    plain = retrieve(question, store=store, embedder=fake_embedder, config=config)
    assert plain.hits[0].chunk.language == "ja"
    preferred = retrieve(question, store=store, embedder=fake_embedder, config=config, prefer_language="zh")
    assert preferred.hits[0].chunk.language == "zh"
    assert preferred.best_score == plain.best_score  # the retrieval gate sees no boost
    off = retrieve(question, store=store, embedder=fake_embedder,
                   config=config.replace(named_language_boost=0.0, named_language_only=False), prefer_language="zh")
    assert [h.chunk.chunk_id for h in off.hits] == [h.chunk.chunk_id for h in plain.hits]


def test_a_named_article_language_keeps_only_its_chunks(articles, config, store, fake_embedder):
    from rag.indexing import ingest_paths

    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    question = ["Ruoming Pang Alphabet"]
    plain = retrieve(question, store=store, embedder=fake_embedder, config=config)
    assert {h.chunk.language for h in plain.hits} > {"zh"}
    only = retrieve(question, store=store, embedder=fake_embedder, config=config, prefer_language="zh")
    assert only.hits and {h.chunk.language for h in only.hits} == {"zh"}
    assert only.best_score == plain.best_score
    # In the same order as the boosted ranking, just without the other languages.
    mixed = retrieve(question, store=store, embedder=fake_embedder, config=config.replace(named_language_only=False),
                     prefer_language="zh", limit=100)
    assert [h.chunk.chunk_id for h in only.hits] == [h.chunk.chunk_id for h in mixed.hits
                                                     if h.chunk.language == "zh"][: len(only.hits)]
    # A language no retrieved chunk has filters nothing.
    absent = retrieve(question, store=store, embedder=fake_embedder, config=config, prefer_language="ko")
    assert [h.chunk.chunk_id for h in absent.hits] == [h.chunk.chunk_id for h in plain.hits]


def test_top_positions_is_the_stable_sort_head():
    from rag.term_search import top_positions

    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(0, 40))
        scores = rng.choice([0.0, 0.15, 0.3, 0.7], size=n) + (rng.random(n) < 0.3) * rng.random(n)
        k = int(rng.integers(0, 45))
        expected = set(np.argsort(-scores, kind="stable")[:k].tolist())
        assert set(top_positions(scores, k).tolist()) == expected


def _sentence_max_scores_by_sorting(matrix, owner, query, n_chunks, bonus):
    """The former implementation (a sort over every sentence row), as the reference."""
    indices, weights = query
    dense_query = np.zeros(matrix.shape[1], dtype=np.float32)
    dense_query[indices] = weights
    per_sentence = np.asarray(matrix @ dense_query, dtype=np.float64)

    def best_rows(values):
        order = np.lexsort((-values, owner))
        owners = owner[order]
        first = np.r_[True, owners[1:] != owners[:-1]]
        return order[first], owners[first]

    best, which, gain = np.zeros(n_chunks), np.full(n_chunks, -1), np.zeros(n_chunks)
    rows, chunks = best_rows(per_sentence)
    best[chunks] = per_sentence[rows]
    if bonus is not None:
        rows, chunks = best_rows(per_sentence + bonus)
        gain[chunks] = per_sentence[rows] + bonus[rows] - best[chunks]
    which[chunks] = rows - np.searchsorted(owner, chunks)
    return best, which, gain


def test_sentence_max_scores_match_the_sorting_reference():
    from scipy.sparse import random as sparse_random

    from rag.term_search import sentence_max_scores
    from rag.store import TERM_SPACE, SentenceTermIndex

    rng = np.random.default_rng(5)
    for trial in range(30):
        n_chunks = int(rng.integers(1, 30))
        owner = np.sort(rng.choice(n_chunks, size=int(rng.integers(1, 80))))
        matrix = sparse_random(len(owner), 50, density=0.2, random_state=trial, format="csr", dtype=np.float32)
        matrix.resize((len(owner), TERM_SPACE))
        index = SentenceTermIndex(owner=owner, matrix=matrix)
        terms = np.unique(rng.choice(60, size=8))  # some beyond the used columns
        query = (terms.astype(np.int32), rng.random(len(terms)).astype(np.float32))
        bonus = (rng.random(len(owner)) < 0.3) * 0.15 if trial % 2 else None
        got = sentence_max_scores(index, query, n_chunks, bonus)
        want = _sentence_max_scores_by_sorting(matrix.tocsr(), owner, query, n_chunks, bonus)
        assert np.allclose(got[0], want[0], atol=1e-6) and np.allclose(got[2], want[2], atol=1e-6)
        assert got[1].tolist() == want[1].tolist()


def test_retrieval_reads_no_whole_index_without_bm25(tmp_path, config, monkeypatch):
    from rag.store import ChunkStore

    store, embedder = _term_store(tmp_path, config, {
        "a.txt": "Markets rose on Monday. Pang joined Apple in 2021.",
        "b.txt": "Une phrase en français. Meta a recruté Bowen Zhang.",
    })
    retrieve(["when did Pang join Apple"], store=store, embedder=embedder, config=config)
    monkeypatch.setattr(ChunkStore, "all_chunks", lambda self: pytest.fail("read every chunk"))
    monkeypatch.setattr(ChunkStore, "_all_with_meta", lambda self: pytest.fail("read every chunk"))
    result = retrieve(["in what year did Pang join Apple"], store=store, embedder=embedder, config=config)
    assert "Pang joined Apple in 2021." in result.hits[0].chunk.text
