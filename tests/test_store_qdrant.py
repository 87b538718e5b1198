"""The Qdrant store (rag/store_qdrant.py) in qdrant-client's local mode, against the Chroma
store on the same literal documents: same writes, same reads, same latent-term search."""

from __future__ import annotations

import pytest

pytest.importorskip("qdrant_client")

from conftest import FakeLLM, FakeTermEmbedder  # noqa: E402
from rag.indexing import ingest_paths  # noqa: E402
from rag.store import EmbedderMismatchError, open_store  # noqa: E402


@pytest.fixture
def qdrant_config(config):
    return config.replace(store_backend="qdrant")


@pytest.fixture
def qdrant_store(qdrant_config, fake_embedder):
    return open_store(config=qdrant_config, embedder=fake_embedder)


def _both(config, articles, embedder):
    """A Chroma store and a Qdrant store, each holding ``articles`` (a folder)."""
    stores = []
    for backend in ("persistent", "qdrant"):
        store = open_store(config=config.replace(store_backend=backend), embedder=embedder)
        ingest_paths([articles], config=config, store=store, embedder=embedder)
        stores.append(store)
    return stores


def test_the_qdrant_backend_is_a_qdrant_store(qdrant_store, qdrant_config):
    from rag.store_qdrant import QdrantChunkStore

    assert isinstance(qdrant_store, QdrantChunkStore)
    assert (qdrant_config.data_dir / "qdrant").is_dir() and not (qdrant_config.data_dir / "chroma").exists()


def test_write_replace_delete_and_reset(articles, qdrant_config, qdrant_store, fake_embedder):
    first = ingest_paths([articles], config=qdrant_config, store=qdrant_store, embedder=fake_embedder)
    assert sorted(first.added) == ["fr_zhang", "ja_pang", "zh_apple"] and qdrant_store.count() == first.chunks > 3
    again = ingest_paths([articles], config=qdrant_config, store=qdrant_store, embedder=fake_embedder)
    assert sorted(again.unchanged) == ["fr_zhang", "ja_pang", "zh_apple"] and again.chunks == 0

    (articles / "fr_zhang.txt").write_text("Nouveau texte : Meta a recruté Bowen Zhang.", encoding="utf-8")
    changed = ingest_paths([articles], config=qdrant_config, store=qdrant_store, embedder=fake_embedder)
    assert changed.updated == ["fr_zhang"]
    assert [c.text for c in qdrant_store.chunks_of("fr_zhang")] == ["Nouveau texte : Meta a recruté Bowen Zhang."]
    [(key, (chunks, total))] = qdrant_store.document_versions("fr_zhang").items()
    assert chunks == total == 1 and qdrant_store.document_index_key("fr_zhang") == key
    docs = {d.doc_id: d for d in qdrant_store.list_documents()}
    assert docs["ja_pang"].language == "ja" and docs["fr_zhang"].chunks == 1 and qdrant_store.document_count() == 3

    token = qdrant_store.change_token()
    assert qdrant_store.delete_document("ja_pang") > 0 and qdrant_store.delete_document("ja_pang") == 0
    assert qdrant_store.change_token() != token
    assert [d.doc_id for d in qdrant_store.list_documents()] == ["fr_zhang", "zh_apple"]
    qdrant_store.reset()
    assert qdrant_store.count() == 0 and qdrant_store.list_documents() == [] and qdrant_store.all_chunks() == []


def test_reads_match_the_chroma_store(articles, config, fake_embedder):
    chroma, qdrant = _both(config, articles, fake_embedder)
    assert qdrant.count() == chroma.count()
    assert qdrant.list_documents() == chroma.list_documents()
    assert qdrant.languages() == chroma.languages() and qdrant.version_mentions() == chroma.version_mentions()
    assert qdrant.all_chunks() == chroma.all_chunks()
    assert qdrant.chunks_of("ja_pang") == chroma.chunks_of("ja_pang")
    ids = [c.chunk_id for c in chroma.all_chunks()[:3]]
    got, want = qdrant.chunks_by_id(ids), chroma.chunks_by_id(ids)
    assert {i: c for i, (c, _) in got.items()} == {i: c for i, (c, _) in want.items()}
    for chunk_id, vector in qdrant.embeddings_of(ids).items():
        assert vector == pytest.approx(want[chunk_id][1], abs=1e-6)


def test_dense_search_returns_cosine_scores_like_chroma(articles, config, fake_embedder):
    chroma, qdrant = _both(config, articles, fake_embedder)
    query = fake_embedder.embed_queries(["Ruoming Pang Meta Apple"])[0]
    got, want = qdrant.dense_search(query, 4), chroma.dense_search(query, 4)
    assert [c.chunk_id for c, _ in got] == [c.chunk_id for c, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-5)
    assert qdrant.dense_search(query, 0) == [] and len(qdrant.dense_search(query, 100)) == qdrant.count()


def _term_articles(folder):
    """Articles for the latent-term search: one shares no word with the questions (so it
    scores 0 and only fills a top k), one holds a year in a sentence that shares none."""
    texts = {
        "a_zero.txt": "Nothing here matches anything.",
        "b_boats.txt": "Boats sailed north at dawn. Storms came later that week.",
        "c_year.txt": "Zebras graze quietly. Founded 1871.",
        "d_more.txt": "Boats and storms again. The harbour was built in 1902 by boats.",
        "e_fourth.txt": "The fourth storm hit the boats.",
    }
    folder.mkdir()
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_term_search_finds_and_scores_as_the_chroma_store(tmp_path, config):
    embedder = FakeTermEmbedder()
    chroma, qdrant = _both(config.replace(chunk_tokens=12, chunk_overlap_tokens=0), _term_articles(tmp_path / "a"),
                           embedder)
    chunk_ids = [c.chunk_id for c in chroma.all_chunks()]
    questions = ["In what year did the boats sail?", "Which storm hit the boats fourth?", "storms at dawn",
                 "unrelated words only"]
    searched = 0
    for question in questions:
        terms = embedder.latent_terms([question])[0]
        for k in (0, 1, 2, 3, len(chunk_ids) + 2):
            for kind, bonus in ((None, 0.0), ("year", 0.15), ("ordinal", 0.5), ("year", 0.0)):
                for also in ((), chunk_ids[:1], chunk_ids[-2:]):
                    want = chroma.term_search(terms, k, also=also, bonus_kind=kind, bonus=bonus)
                    got = qdrant.term_search(terms, k, also=also, bonus_kind=kind, bonus=bonus)
                    assert set(got.found) == set(want.found), (question, k, kind, bonus, also)
                    assert got.matches == want.matches, (question, k, kind, bonus, also)
                    searched += 1
    assert searched == 4 * 5 * 4 * 3
    # The year sentence shares no word with the question: Qdrant finds its chunk by the
    # year's marker term alone (4 chunks share words), and without the bonus a chunk that
    # shares none fills the top 5, the first in index order, as in Chroma.
    terms = embedder.latent_terms(["In what year did the boats sail?"])[0]
    c_year, a_zero = (next(c for c in chunk_ids if c.startswith(doc)) for doc in ("c_year", "a_zero"))
    search = qdrant.term_search(terms, 5, bonus_kind="year", bonus=0.15)
    assert c_year in search.found and a_zero not in search.found
    assert search.matches[c_year].latent == 0.0 and search.matches[c_year].gain == pytest.approx(0.15)
    plain = qdrant.term_search(terms, 5)
    assert a_zero in plain.found and c_year not in plain.found and plain.matches[a_zero].latent == 0.0


def test_retrieval_ranks_as_on_the_chroma_store(tmp_path, articles, config):
    from rag.retrieval import retrieve

    embedder = FakeTermEmbedder()
    chroma, qdrant = _both(config, articles, embedder)
    for question in ["In what year did Pang join Apple from Alphabet?", "庞若鸣 Meta 2亿美元", "Bowen Zhang quatrième",
                     "Who won the World Cup?"]:
        for settings in ({}, {"candidates": 3, "top_k": 2}, {"same_language_penalty": 0.5}):
            want = retrieve([question], store=chroma, embedder=embedder, config=config.replace(**settings),
                            languages=["en"])
            got = retrieve([question], store=qdrant, embedder=embedder, config=config.replace(**settings),
                           languages=["en"])
            assert [(h.chunk.chunk_id, h.best_sentence, h.latent_score) for h in got.hits] == \
                   [(h.chunk.chunk_id, h.best_sentence, h.latent_score) for h in want.hits]
            assert [h.score for h in got.hits] == pytest.approx([h.score for h in want.hits], abs=1e-5)


def test_without_latent_terms_the_search_is_dense_only(articles, qdrant_config, qdrant_store, fake_embedder):
    from rag.retrieval import retrieve

    ingest_paths([articles], config=qdrant_config, store=qdrant_store, embedder=fake_embedder)
    assert qdrant_store.term_search(([1, 2], [0.5, 0.5]), 3) is None
    result = retrieve(["Shengjia Zhao"], store=qdrant_store, embedder=fake_embedder, config=qdrant_config)
    assert result.hits and all(h.latent_score is None for h in result.hits)


def test_ask_answers_on_qdrant_as_on_chroma(articles, config):
    from rag.answer import ask

    embedder = FakeTermEmbedder()
    chroma, qdrant = _both(config, articles, embedder)
    question = "Woher kam Ruoming Pang, bevor er zu Apple kam?"
    answers = [ask(question, config=config.replace(store_backend=backend), store=store, embedder=embedder,
                   llm=FakeLLM("Pang kam von Alphabet [1] und ging zu Meta [2]."))
               for backend, store in (("persistent", chroma), ("qdrant", qdrant))]
    want, got = answers
    assert not got.refused and got.language == "de" and [c.n for c in got.citations] == [1, 2]
    assert got.text == want.text
    assert [(c.chunk_id, c.highlight_start) for c in got.citations] == \
           [(c.chunk_id, c.highlight_start) for c in want.citations]


def test_a_second_store_sees_the_changes_and_the_saved_catalog(articles, qdrant_config, qdrant_store, fake_embedder,
                                                               monkeypatch):
    from rag.store_qdrant import QdrantChunkStore

    other = open_store(config=qdrant_config, embedder=fake_embedder)
    assert other.list_documents() == []
    ingest_paths([articles], config=qdrant_config, store=qdrant_store, embedder=fake_embedder)
    assert [d.doc_id for d in other.list_documents()] == ["fr_zhang", "ja_pang", "zh_apple"]
    assert list((qdrant_config.data_dir / "catalog").glob("qdrant-test-*"))
    monkeypatch.setattr(QdrantChunkStore, "_all_with_meta", lambda self: pytest.fail("read every chunk"))
    restarted = open_store(config=qdrant_config, embedder=fake_embedder)
    assert restarted.list_documents() == other.list_documents()


def test_another_embedder_is_a_clear_error(qdrant_config, qdrant_store):
    class Other:
        name, dim = "other", 256

    with pytest.raises(EmbedderMismatchError, match="ingest.py --reset"):
        open_store(config=qdrant_config, embedder=Other())


def test_a_write_cut_off_part_way_keeps_the_old_version_and_is_completed(tmp_path, qdrant_config, qdrant_store,
                                                                         fake_embedder, monkeypatch):
    path = tmp_path / "long.txt"
    path.write_text(" ".join(f"Boat {i} sailed at dawn." for i in range(20)), encoding="utf-8")
    small = qdrant_config.replace(chunk_tokens=12, chunk_overlap_tokens=0)
    ingest_paths([path], config=small, store=qdrant_store, embedder=fake_embedder)
    before = qdrant_store.chunks_of("long")
    path.write_text(" ".join(f"Ship {i} came home at night." for i in range(20)), encoding="utf-8")
    client, calls = qdrant_store._client, []

    class CutOff:
        def __getattr__(self, name):
            return getattr(client, name)

        def upsert(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt  # killed between two pieces
            return client.upsert(*args, **kwargs)

    monkeypatch.setattr(qdrant_store, "max_batch", lambda: 3)
    monkeypatch.setattr(qdrant_store, "_client", CutOff())
    with pytest.raises(KeyboardInterrupt):
        ingest_paths([path], config=small, store=qdrant_store, embedder=fake_embedder)
    monkeypatch.setattr(qdrant_store, "_client", client)
    assert [c.text for c in qdrant_store.chunks_of("long") if c in before] == [c.text for c in before]
    report = ingest_paths([path], config=small, store=qdrant_store, embedder=fake_embedder)
    assert report.updated == ["long"] and all("Ship" in c.text for c in qdrant_store.chunks_of("long"))


def test_an_unreachable_server_is_one_clear_sentence(config, fake_embedder):
    from conftest import free_port

    from rag.resources import describe_index_error

    server = config.replace(store_backend="qdrant", qdrant_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Exception) as raised:
        open_store(config=server, embedder=fake_embedder)
    cause = describe_index_error(raised.value, config=server)
    assert cause.startswith(f"The index server (Qdrant at {server.qdrant_url}) does not answer")
    assert "RAG_QDRANT_URL" in cause


def test_without_qdrant_client_the_backend_says_what_to_install(config, fake_embedder, monkeypatch):
    import sys

    from rag.resources import describe_index_error
    from rag.store_qdrant import QdrantUnavailableError

    monkeypatch.setitem(sys.modules, "qdrant_client", None)  # import fails as if not installed
    backend = config.replace(store_backend="qdrant", data_dir=config.data_dir / "fresh")
    with pytest.raises(QdrantUnavailableError, match=r"pip install") as raised:
        open_store(config=backend, embedder=fake_embedder)
    assert "qdrant-client" in describe_index_error(raised.value, config=backend)


def test_the_api_key_stays_out_of_the_config_repr():
    from rag.config import RAGConfig

    config = RAGConfig.from_env({"RAG_STORE_BACKEND": "qdrant", "RAG_QDRANT_URL": "http://qdrant:6333",
                                 "RAG_QDRANT_API_KEY": "s3cret-key"})
    assert config.qdrant_url == "http://qdrant:6333" and config.qdrant_api_key == "s3cret-key"
    assert "s3cret-key" not in repr(config)
    with pytest.raises(ValueError, match="persistent, http or qdrant"):
        RAGConfig.from_env({"RAG_STORE_BACKEND": "qdrnt"})


def test_a_local_index_held_by_another_process_is_one_clear_sentence(qdrant_config, qdrant_store, fake_embedder):
    from qdrant_client import QdrantClient

    from rag.resources import describe_index_error

    with pytest.raises(RuntimeError) as raised:  # what a second process opening the folder gets
        QdrantClient(path=str((qdrant_config.data_dir / "qdrant").resolve()))
    cause = describe_index_error(raised.value, config=qdrant_config)
    assert "open in another process" in cause and "RAG_QDRANT_URL" in cause


def test_a_closed_local_store_frees_its_folder(articles, qdrant_config, qdrant_store, fake_embedder):
    from qdrant_client import QdrantClient

    ingest_paths([articles], config=qdrant_config, store=qdrant_store, embedder=fake_embedder)
    count = qdrant_store.count()
    qdrant_store.close()
    QdrantClient(path=str((qdrant_config.data_dir / "qdrant").resolve())).close()  # another process could open it
    assert open_store(config=qdrant_config, embedder=fake_embedder).count() == count
