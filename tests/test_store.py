import pytest

from rag.indexing import ingest_paths
from rag.store import EmbedderMismatchError, open_store


def test_ingest_is_idempotent_and_replaces_changed_files(articles, config, store, fake_embedder):
    first = ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    assert sorted(first.added) == ["fr_zhang", "ja_pang", "zh_apple"]
    count = store.count()
    assert count == first.chunks > 3

    again = ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    assert sorted(again.unchanged) == ["fr_zhang", "ja_pang", "zh_apple"]
    assert again.chunks == 0 and store.count() == count

    (articles / "fr_zhang.txt").write_text("Nouveau texte : Meta a recruté Bowen Zhang.", encoding="utf-8")
    changed = ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    assert changed.updated == ["fr_zhang"]
    texts = [c.text for c in store.chunks_of("fr_zhang")]
    assert texts == ["Nouveau texte : Meta a recruté Bowen Zhang."]  # old chunks gone

    docs = {d.doc_id: d for d in store.list_documents()}
    assert docs["ja_pang"].language == "ja" and docs["zh_apple"].language == "zh"
    assert docs["fr_zhang"].chunks == 1


def test_bad_files_are_reported_and_skipped(tmp_path, config, store, fake_embedder):
    (tmp_path / "good.txt").write_text("Meta hired Pang.", encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02" * 10)
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    report = ingest_paths([tmp_path, tmp_path / "missing.txt"], config=config, store=store, embedder=fake_embedder)
    assert report.added == ["good"]
    reasons = " | ".join(r for _, r in report.skipped)
    assert len(report.skipped) == 4
    for word in ("empty", "binary", "UTF-8", "no such file"):
        assert word in reasons
    assert [d.doc_id for d in store.list_documents()] == ["good"]


def test_delete_and_reset(articles, config, store, fake_embedder):
    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    assert store.delete_document("ja_pang") > 0
    assert store.delete_document("ja_pang") == 0
    assert "ja_pang" not in [d.doc_id for d in store.list_documents()]
    store.reset()
    assert store.count() == 0


def test_failed_write_keeps_the_old_version(articles, config, store, fake_embedder, monkeypatch):
    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    before = [c.text for c in store.chunks_of("ja_pang")]
    (articles / "ja_pang.txt").write_text("新しい本文です。", encoding="utf-8")

    def broken_add(self, nodes, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(store._vector_store), "add", broken_add)
    with pytest.raises(RuntimeError):
        ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    assert [c.text for c in store.chunks_of("ja_pang")] == before


def test_dense_search_returns_cosine_scores(articles, config, store, fake_embedder):
    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    chunk = store.chunks_of("zh_apple")[0]
    hits = store.dense_search(fake_embedder.embed_passages([chunk.embedding_text()])[0], 3)
    assert hits[0][0].chunk_id == chunk.chunk_id
    assert hits[0][1] == pytest.approx(1.0, abs=1e-3)
    assert hits[0][1] >= hits[1][1]


def test_dense_search_does_not_count_the_index(articles, config, store, fake_embedder, monkeypatch):
    """A count grows with the index (13 ms a question at 100k chunks): the search asks
    Chroma for k chunks and takes what there is."""
    from rag.store import ChunkStore

    vector = fake_embedder.embed_queries(["Where did Pang work?"])[0]
    with monkeypatch.context() as patch:
        patch.setattr(ChunkStore, "count", lambda self: pytest.fail("counted the index"))
        assert store.dense_search(vector, 5) == []  # an empty index
    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    every = sorted(c.chunk_id for c in store.all_chunks())
    monkeypatch.setattr(ChunkStore, "count", lambda self: pytest.fail("counted the index"))
    hits = store.dense_search(vector, len(every) + 50)  # more than the index holds
    assert sorted(chunk.chunk_id for chunk, _ in hits) == every
    assert [score for _, score in hits] == sorted((score for _, score in hits), reverse=True)
    assert len(store.dense_search(vector, 2)) == 2 and store.dense_search(vector, 0) == []


def test_other_embedder_is_a_clear_error(config, store, fake_embedder):
    class Other:
        name = "st:some-other-model"
        dim = 8

    with pytest.raises(EmbedderMismatchError, match="ingest.py --reset"):
        open_store(config=config, embedder=Other())


def test_sparse_vectors_pack_and_unpack():
    import numpy as np

    from rag.store import pack_sparse_vectors, unpack_sparse_vectors

    vectors = [(np.array([3, 16383, 7], dtype=np.int32), np.array([0.5, 0.25, 0.125], dtype=np.float32)),
               (np.array([], dtype=np.int32), np.array([], dtype=np.float32)),
               (np.array([65535], dtype=np.int32), np.array([1.0], dtype=np.float32))]
    packed = pack_sparse_vectors(vectors)
    assert isinstance(packed, str)
    back = unpack_sparse_vectors(packed)
    assert len(back) == 3
    for (i1, v1), (i2, v2) in zip(vectors, back):
        assert i1.tolist() == i2.tolist() and np.allclose(v1, v2, atol=1e-3)
    with pytest.raises(ValueError):
        pack_sparse_vectors([(np.array([70000]), np.array([1.0]))])


def test_sentence_terms_follow_the_chunks(articles, config, fake_embedder):
    from conftest import FakeTermEmbedder

    from rag.chunking import chunk_sentences

    embedder = FakeTermEmbedder()
    store = open_store(config=config, embedder=embedder)
    ingest_paths([articles], config=config, store=store, embedder=embedder)
    chunks = store.all_chunks()
    index = store.sentence_terms()
    assert index.sentences == sum(len(chunk_sentences(c)) for c in chunks)
    assert sorted(set(index.owner.tolist())) == list(range(len(chunks)))
    store.delete_document("fr_zhang")
    assert store.sentence_terms().sentences == sum(len(chunk_sentences(c)) for c in store.all_chunks())


def test_new_chunk_settings_reindex_unchanged_files(articles, config, store, fake_embedder):
    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    before = {c.chunk_id for c in store.all_chunks()}
    smaller = config.replace(chunk_tokens=20, chunk_overlap_tokens=5)
    report = ingest_paths([articles], config=smaller, store=store, embedder=fake_embedder)
    assert sorted(report.updated) == ["fr_zhang", "ja_pang", "zh_apple"]
    after = store.all_chunks()
    assert not before & {c.chunk_id for c in after}  # the old chunks are gone
    assert len(after) > len(before)
    assert ingest_paths([articles], config=smaller, store=store, embedder=fake_embedder).unchanged


def test_reindex_outdated_brings_old_documents_up_to_date(articles, config, store, fake_embedder, tmp_path):
    from rag.indexing import reindex_outdated

    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    report, missing = reindex_outdated(store=store, embedder=fake_embedder, config=config)
    assert report.updated == [] and missing == []  # nothing outdated
    # An upload whose file is gone cannot be re-read.
    upload = tmp_path / "upload.txt"
    upload.write_text("Meta hired Bowen Zhang in July.", encoding="utf-8")
    ingest_paths([upload], config=config, store=store, embedder=fake_embedder)
    upload.unlink()
    other = config.replace(chunk_tokens=20, chunk_overlap_tokens=5)
    report, missing = reindex_outdated(store=store, embedder=fake_embedder, config=other)
    assert sorted(report.updated) == ["fr_zhang", "ja_pang", "zh_apple"] and missing == ["upload"]
    assert reindex_outdated(store=store, embedder=fake_embedder, config=other)[0].updated == []


# -- the change counter and the catalog kept per change ---------------------------------
def _second_store(config, embedder):
    """Another store object on the same index, as another process would open it."""
    return open_store(config=config, embedder=embedder)


def test_every_write_changes_the_token(articles, config, store, fake_embedder):
    tokens = [store.change_token()]
    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    tokens.append(store.change_token())
    store.delete_document("fr_zhang")
    tokens.append(store.change_token())
    assert store.delete_document("no_such_doc") == 0
    tokens.append(store.change_token())  # nothing deleted: unchanged
    store.reset()
    tokens.append(store.change_token())
    assert all(tokens) and tokens[2] == tokens[3]
    assert len({tokens[0], tokens[1], tokens[2], tokens[4]}) == 4


def test_a_write_killed_before_its_last_bump_still_moved_the_token(articles, config, store, fake_embedder,
                                                                    monkeypatch):
    # A SIGKILL between a write's last step and the bump after it: no exception path runs.
    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    other = _second_store(config, fake_embedder)
    assert other.document_count() == 3  # another process holds (and saved) this token's catalog
    bumps = []
    original = store._bump_change
    monkeypatch.setattr(store, "_bump_change", lambda: bumps.append(1) or (len(bumps) == 1 and original()))
    store.delete_document("fr_zhang")  # its second bump is lost, as if the process died there
    assert bumps == [1, 1]
    assert [d.doc_id for d in other.list_documents()] == ["ja_pang", "zh_apple"]
    assert [d.doc_id for d in _second_store(config, fake_embedder).list_documents()] == ["ja_pang", "zh_apple"]


def test_two_stores_on_one_index_see_each_others_changes(articles, config, store, fake_embedder):
    other = _second_store(config, fake_embedder)
    assert other.list_documents() == [] and other.languages() == []
    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    assert [d.doc_id for d in other.list_documents()] == ["fr_zhang", "ja_pang", "zh_apple"]
    assert other.document_count() == 3
    other.delete_document("ja_pang")
    assert [d.doc_id for d in store.list_documents()] == ["fr_zhang", "zh_apple"]
    assert set(store.languages()) == {"fr", "zh"}


def test_questions_do_not_read_every_chunk(articles, config, store, fake_embedder, monkeypatch):
    from rag.store import ChunkStore

    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    store.languages()  # builds the catalog once
    reads = []
    original = ChunkStore._all_with_meta
    monkeypatch.setattr(ChunkStore, "_all_with_meta", lambda self: reads.append(1) or original(self))
    for _ in range(3):
        store.languages(), store.list_documents(), store.sentence_terms(), store.version_mentions()
    assert reads == []
    store.delete_document("fr_zhang")
    store.languages(), store.list_documents()
    assert reads == []  # the delete recorded its change: applied, no chunk read
    store.reset()  # a reset records none: one rebuild
    store.languages(), store.list_documents()
    assert reads == [1]


def test_a_restarted_store_loads_the_catalog_from_disk(articles, config, store, fake_embedder, monkeypatch):
    from conftest import FakeTermEmbedder

    from rag.store import ChunkStore

    embedder = FakeTermEmbedder()
    config = config.replace(collection="terms")
    first = open_store(config=config, embedder=embedder)
    ingest_paths([articles], config=config, store=first, embedder=embedder)
    built = first.catalog()
    monkeypatch.setattr(ChunkStore, "_all_with_meta", lambda self: pytest.fail("read every chunk"))
    loaded = _second_store(config, embedder).catalog()
    assert loaded.token == built.token and loaded.documents == built.documents
    assert loaded.languages == built.languages and loaded.mentions == built.mentions
    assert loaded.terms.chunk_ids == built.terms.chunk_ids
    assert (loaded.terms.matrix != built.terms.matrix).nnz == 0
    assert all((loaded.terms.kind_masks[k] == m).all() for k, m in built.terms.kind_masks.items())


def test_a_damaged_catalog_file_is_rebuilt(articles, config, store, fake_embedder):
    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    expected = store.list_documents()
    damaged = [path for path in (config.data_dir / "catalog").rglob("*") if path.is_file()]
    for path in damaged:
        path.write_bytes(b"\0garbage")
    assert damaged
    assert _second_store(config, fake_embedder).list_documents() == expected


def test_reopening_keeps_the_distance_and_the_embedder_check(articles, config, store, fake_embedder):
    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    reopened = _second_store(config, fake_embedder)
    chunk = reopened.all_chunks()[0]
    hits = reopened.dense_search(fake_embedder.embed_passages([chunk.embedding_text()])[0], 1)
    assert hits[0][0].chunk_id == chunk.chunk_id and hits[0][1] == pytest.approx(1.0, abs=1e-4)

    class Other:
        name, dim = "other", 256

    with pytest.raises(EmbedderMismatchError):
        open_store(config=config, embedder=Other())


def test_version_mentions_match_the_gate_regular_expressions():
    import random
    import re
    import unicodedata

    from rag.mentions import version_mentions

    def old_has(text, name, number=None):  # what the version gate searches in the joined text
        text = unicodedata.normalize("NFKC", text)
        word = rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])"
        if number is None:
            return bool(re.search(word, text))  # a name in the articles' own case
        word += rf"[ \-]?{number}(?!\d|[.,]\d)"
        return bool(re.search(word, text, re.IGNORECASE))

    rng = random.Random(7)
    alphabet = "aAbBxXıİſK 1267-.,é中"
    names, numbers = ["ab", "AB", "xa", "ix", "bs", "k"], ["1", "12", "26", "7", "012"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        mentions = version_mentions(text)
        for name in names:
            assert mentions.has_name(name) == old_has(text, name), (text, name)
            for number in numbers:
                assert mentions.has_numbered(name, number) == old_has(text, name, number), (text, name, number)


def test_catalog_languages_and_documents_follow_the_chunks(articles, config, store, fake_embedder):
    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    chunks = store.all_chunks()
    docs = {d.doc_id: d for d in store.list_documents()}
    assert {doc: info.chunks for doc, info in docs.items()} == {
        doc: sum(c.doc_id == doc for c in chunks) for doc in docs}
    counts = {lang: sum(c.language == lang for c in chunks) for lang in {c.language for c in chunks}}
    assert store.languages() == sorted(counts, key=lambda lang: (-counts[lang], lang))


def test_a_write_cut_off_before_the_old_chunks_went_is_repaired(tmp_path, config, store, fake_embedder, monkeypatch):
    # A crash between adding a version and deleting the one before leaves chunks of both;
    # when the file then holds the earlier content again, that is no reason to skip it.
    path = tmp_path / "story.txt"
    first = "The ferry to Holmvik sails at nine. It carries forty cars."
    path.write_text(first, encoding="utf-8")
    ingest_paths([path], config=config, store=store, embedder=fake_embedder)
    path.write_text("The ferry to Holmvik now sails at ten. It carries sixty cars. A second deck was added.",
                    encoding="utf-8")
    collection = type(store._collection)

    def cut_off(self, *args, **kwargs):
        raise KeyboardInterrupt("killed between the add and the delete")

    with monkeypatch.context() as patch:
        patch.setattr(collection, "delete", cut_off)
        with pytest.raises(KeyboardInterrupt):
            ingest_paths([path], config=config, store=store, embedder=fake_embedder)
    assert len(store.document_index_keys("story")) == 2  # both versions' chunks
    path.write_text(first, encoding="utf-8")
    report = ingest_paths([path], config=config, store=store, embedder=fake_embedder)
    assert report.updated == ["story"]
    assert [c.text for c in store.chunks_of("story")] == [first]
    assert len(store.document_index_keys("story")) == 1
    assert ingest_paths([path], config=config, store=store, embedder=fake_embedder).unchanged == ["story"]


def test_batched_ingest_writes_what_one_document_at_a_time_does(articles, config, fake_embedder, tmp_path):
    from conftest import FakeTermEmbedder

    embedder = FakeTermEmbedder()
    results = []
    for batch_chunks in (1, 1000):
        cfg = config.replace(data_dir=tmp_path / f"data-{batch_chunks}")
        store = open_store(config=cfg, embedder=embedder)
        writes = []
        report = ingest_paths([articles], config=cfg, store=store, embedder=embedder, batch_chunks=batch_chunks,
                              on_chunks=writes.append)
        assert sum(writes) == report.chunks == store.count()
        results.append((sorted(report.added), [(c.chunk_id, c.text) for c in store.all_chunks()],
                        store.sentence_terms().sentences, len(writes)))
    (added_1, chunks_1, rows_1, writes_1), (added_n, chunks_n, rows_n, writes_n) = results
    assert added_1 == added_n and chunks_1 == chunks_n and rows_1 == rows_n
    assert writes_1 == 3 and writes_n == 1  # one write per document, or one for all


def test_the_same_doc_id_twice_in_one_batch_keeps_the_later_file(tmp_path, config, store, fake_embedder):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "story.txt").write_text("The first version of the story.", encoding="utf-8")
    (tmp_path / "b" / "story.txt").write_text("The second version, which replaces it.", encoding="utf-8")
    report = ingest_paths([tmp_path / "a", tmp_path / "b"], config=config, store=store, embedder=fake_embedder)
    assert report.added == ["story"] and report.updated == ["story"]
    assert [c.text for c in store.chunks_of("story")] == ["The second version, which replaces it."]


def test_a_collection_keeps_its_saved_catalog_beside_one_whose_name_extends_it(articles, config, fake_embedder):
    from rag.indexing import ingest_paths as ingest
    from rag.store import open_store

    stores = {}
    for name in ("news", "news-archive"):
        cfg = config.replace(collection=name)
        stores[name] = open_store(config=cfg, embedder=fake_embedder)
        ingest([articles], config=cfg, store=stores[name], embedder=fake_embedder)
        stores[name].languages()  # builds and saves the catalog
    stores["news"].delete_document("fr_zhang")
    stores["news"].languages()  # a new catalog for "news": its older one goes, not the other's
    names = [p.name for p in stores["news"]._catalog_path().parent.iterdir()]
    assert any(n.startswith("catalog-news-archive-") for n in names)
    assert sum(1 for n in names if n.startswith("catalog-news-") and not n.startswith("catalog-news-archive-")) == 1


def test_two_threads_saving_one_catalog_at_once_both_get_it(articles, config, store, fake_embedder):
    import threading

    from rag.store import build_catalog, load_catalog, save_catalog

    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    catalog = build_catalog(store.change_token(), store._all_with_meta())
    path = config.data_dir / "threads" / "catalog-news"
    errors = []

    def save():
        try:
            save_catalog(catalog, path, "news")
        except Exception as exc:  # noqa: BLE001 - any failure is the finding
            errors.append(exc)

    threads = [threading.Thread(target=save) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert load_catalog(path, catalog.token) is not None
    assert not list(path.parent.glob("*.tmp"))


def test_writes_and_deletes_go_in_pieces_chroma_takes(tmp_path, config, store, fake_embedder, monkeypatch):
    # Chroma refuses more than get_max_batch_size() records in one write (5,461 locally): a
    # 3 MB article has more chunks than that. Here the limit is 7, enforced as Chroma does.
    import chromadb.api.models.Collection as collection_module

    limit, calls = 7, []
    monkeypatch.setattr(type(store._client), "get_max_batch_size", lambda self: limit)
    store._max_batch = None
    for method in ("add", "delete"):
        original = getattr(collection_module.Collection, method)

        def limited(self, *args, _original=original, _method=method, **kwargs):
            ids = kwargs.get("ids") if kwargs.get("ids") is not None else args[0]
            calls.append((_method, len(ids)))
            if len(ids) > limit:
                raise ValueError(f"Batch size of {len(ids)} is greater than max batch size of {limit}")
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(collection_module.Collection, method, limited)
    path = tmp_path / "long.txt"
    path.write_text(" ".join(f"Boat {i} sailed at dawn." for i in range(60)), encoding="utf-8")
    small = config.replace(chunk_tokens=12, chunk_overlap_tokens=0)
    report = ingest_paths([path], config=small, store=store, embedder=fake_embedder)
    assert report.added == ["long"] and report.chunks > 2 * limit == 14
    assert store.count() == report.chunks and max(n for _, n in calls) <= limit
    path.write_text("Only one boat sailed.", encoding="utf-8")
    assert ingest_paths([path], config=small, store=store, embedder=fake_embedder).updated == ["long"]
    assert [c.text for c in store.chunks_of("long")] == ["Only one boat sailed."]
    path.write_text(" ".join(f"Ship {i} sailed at dusk." for i in range(60)), encoding="utf-8")
    ingest_paths([path], config=small, store=store, embedder=fake_embedder)
    assert store.delete_document("long") > limit
    ingest_paths([path], config=small, store=store, embedder=fake_embedder)
    store.reset()
    assert store.count() == 0 and max(n for _, n in calls) <= limit


def _kill_on_add(store, monkeypatch, nth: int):
    """Make the ``nth`` ChromaVectorStore.add (one piece of a write) raise as a kill would."""
    calls = []
    original = type(store._vector_store).add

    def add(self, nodes, **kwargs):
        calls.append(len(nodes))
        if len(calls) == nth:
            raise KeyboardInterrupt(f"killed before piece {nth} of the write")
        return original(self, nodes, **kwargs)

    monkeypatch.setattr(type(store._vector_store), "add", add)
    return calls


def test_a_new_document_cut_off_after_its_first_piece_is_completed_by_the_next_ingest(
        tmp_path, config, store, fake_embedder, monkeypatch):
    # A document longer than one Chroma write goes in pieces; an ingest killed after the
    # first left those chunks, all under the current key, and the next run said
    # "unchanged" for good. Each chunk now records the document's total.
    from rag.chunking import chunk_document
    from rag.documents import load_document
    from rag.indexing import index_key

    monkeypatch.setattr(store, "_max_batch", 5)
    path = tmp_path / "long.txt"
    path.write_text(" ".join(f"Boat {i} sailed at dawn." for i in range(40)), encoding="utf-8")
    small = config.replace(chunk_tokens=12, chunk_overlap_tokens=0)
    document = load_document(path)
    expected = sorted(c.chunk_id for c in chunk_document(
        document, fake_embedder.count_tokens, max_tokens=12, overlap_tokens=0,
        key=index_key(document.content_hash, config=small)))
    assert len(expected) > 10
    with monkeypatch.context() as patch:
        calls = _kill_on_add(store, patch, nth=2)
        with pytest.raises(KeyboardInterrupt):
            ingest_paths([path], config=small, store=store, embedder=fake_embedder)
    assert calls == [5, 5] and store.count() == 5  # only the first piece got in
    ((key, (count, total)),) = store.document_versions("long").items()
    assert (count, total) == (5, len(expected))
    report = ingest_paths([path], config=small, store=store, embedder=fake_embedder)
    assert report.updated == ["long"] and report.chunks == len(expected)
    ids = store._collection.get(include=[])["ids"]
    assert sorted(ids) == expected and len(ids) == len(set(ids)) == store.count()  # whole, no duplicates
    assert [c.index for c in store.chunks_of("long")] == list(range(len(expected)))
    assert ingest_paths([path], config=small, store=store, embedder=fake_embedder).unchanged == ["long"]


def test_an_index_written_before_chunk_totals_is_still_unchanged(articles, config, store, fake_embedder,
                                                                  monkeypatch):
    # Chunks without the total were written in one Chroma call each (whole): no re-index.
    import rag.store

    original = rag.store._document_nodes

    def without_totals(*args):
        nodes = original(*args)
        for node in nodes:
            del node.metadata[rag.store.CHUNKS_KEY]
        return nodes

    with monkeypatch.context() as patch:
        patch.setattr(rag.store, "_document_nodes", without_totals)
        first = ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    assert all(total is None for _, total in store.document_versions("ja_pang").values())
    again = ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    assert sorted(again.unchanged) == sorted(first.added) and again.chunks == 0


def test_a_write_that_fails_part_way_still_marks_the_index_changed(tmp_path, config, store, fake_embedder,
                                                                    monkeypatch):
    # Pieces already written (or deleted) are in Chroma: caches keyed on the change token
    # (the catalog, all_chunks, BM25) must see them, in this process and in others.
    import chromadb.api.models.Collection as collection_module

    monkeypatch.setattr(store, "_max_batch", 3)
    path = tmp_path / "long.txt"
    path.write_text(" ".join(f"Boat {i} sailed at dawn." for i in range(20)), encoding="utf-8")
    small = config.replace(chunk_tokens=12, chunk_overlap_tokens=0)
    assert store.all_chunks() == []
    token = store.change_token()
    with monkeypatch.context() as patch:
        _kill_on_add(store, patch, nth=2)
        with pytest.raises(KeyboardInterrupt):
            ingest_paths([path], config=small, store=store, embedder=fake_embedder)
    assert store.change_token() != token
    assert len(store.all_chunks()) == 3 and [d.chunks for d in store.list_documents()] == [3]
    ingest_paths([path], config=small, store=store, embedder=fake_embedder)
    whole = store.count()
    assert len(store.all_chunks()) == whole > 6

    original_delete = collection_module.Collection.delete

    def delete_once(self, *args, **kwargs):
        if deletes:
            raise RuntimeError("disk I/O error")
        deletes.append(1)
        return original_delete(self, *args, **kwargs)

    for step in (lambda: store.delete_document("long"), store.reset):
        deletes = []
        token = store.change_token()
        with monkeypatch.context() as patch:
            patch.setattr(collection_module.Collection, "delete", delete_once)
            with pytest.raises(RuntimeError):
                step()
        assert store.change_token() != token
        assert len(store.all_chunks()) == store.count() == whole - 3  # the first piece went
        ingest_paths([path], config=small, store=store, embedder=fake_embedder)
        whole = store.count()


def test_a_failed_bump_after_a_failed_write_keeps_the_write_error(tmp_path, config, store, fake_embedder,
                                                                   monkeypatch):
    def broken_add(self, nodes, **kwargs):
        raise RuntimeError("disk full")

    bumps = []
    original = store._bump_change

    def broken_bump():  # the bump before the write works; Chroma is gone after it
        bumps.append(1)
        if len(bumps) > 1:
            raise ConnectionError("Chroma is gone")
        original()

    (tmp_path / "a.txt").write_text("A short story about a boat.", encoding="utf-8")
    monkeypatch.setattr(type(store._vector_store), "add", broken_add)
    monkeypatch.setattr(store, "_bump_change", broken_bump)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_paths([tmp_path / "a.txt"], config=config, store=store, embedder=fake_embedder)


def test_a_catalog_read_while_this_process_writes_is_the_index_before_or_after_the_write(tmp_path, config, store,
                                                                                          fake_embedder):
    # The UI answers questions while an upload writes (two queues, ui.py). A write adds a
    # document's new chunks and deletes the old ones in two Chroma calls: a catalog read
    # between them held both versions (here 1 + 5 chunks of one document, under the token
    # of the index before the write). Reads of the whole index now wait for the write.
    import threading

    import chromadb.api.models.Collection as collection_module

    path = tmp_path / "ferry.txt"
    path.write_text("The ferry left at nine.", encoding="utf-8")
    small = config.replace(chunk_tokens=12, chunk_overlap_tokens=0)
    ingest_paths([path], config=small, store=store, embedder=fake_embedder)
    assert store.count() == 1  # no catalog read yet: the read below builds one
    path.write_text(" ".join(f"Ferry {i} left at dawn with {i} cars." for i in range(12)), encoding="utf-8")
    added, go = threading.Event(), threading.Event()
    original_delete = collection_module.Collection.delete

    def delete_after_a_pause(self, *args, **kwargs):  # the old version's delete, held until the read is under way
        added.set()
        go.wait(10)
        return original_delete(self, *args, **kwargs)

    seen = []
    try:
        collection_module.Collection.delete = delete_after_a_pause
        writer = threading.Thread(target=ingest_paths, args=([path],),
                                  kwargs=dict(config=small, store=store, embedder=fake_embedder))
        writer.start()
        assert added.wait(10)
        reader = threading.Thread(target=lambda: seen.append((store.catalog(), store.all_chunks())))
        reader.start()
        reader.join(0.5)  # the read waits for the write (before: it returned the torn index)
        go.set()
        writer.join(10)
        reader.join(10)
    finally:
        collection_module.Collection.delete = original_delete
        go.set()
    (catalog, chunks), = seen
    whole = store.count()
    assert whole > 1 and [d.chunks for d in catalog.documents] in ([1], [whole]), catalog.documents
    assert catalog.chunks == catalog.documents[0].chunks and len(chunks) in (1, whole)
    assert store.catalog().chunks == whole and store.catalog().token == store.change_token()


# A writer in another process (ingest.py beside the app): it replaces one document again
# and again, a version of 3 chunks and one of 5, each under its own key.
_WRITER = r"""
import sys, time, types
from pathlib import Path

import numpy as np

from rag.chunking import Chunk
from rag.config import RAGConfig
from rag.store import open_store

data_dir, name, dim, seconds, stop = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), Path(sys.argv[5])
store = open_store(config=RAGConfig(data_dir=Path(data_dir), collection="test"),
                   embedder=types.SimpleNamespace(name=name, dim=dim))
rng = np.random.default_rng(0)
deadline, writes = time.monotonic() + seconds, 0
while time.monotonic() < deadline and not stop.exists():
    key, size = f"v{writes}", 3 + 2 * (writes % 2)
    chunks = [Chunk(chunk_id=f"story:{key}:{i}", doc_id="story", index=i, text=f"Part {i} of version {key}.",
                    start=0, end=1, title="Story", language="en", content_hash=key) for i in range(size)]
    store.replace_document(chunks, rng.random((size, dim), dtype=np.float32), index_key=key)
    writes += 1
    time.sleep(0.01)  # a real ingest embeds the next files between two writes
print(writes)
"""


def test_a_whole_index_read_never_sees_two_versions_of_a_document_another_process_is_writing(
        tmp_path, config, store, fake_embedder):
    # The app reads the whole index while ingest.py (another process) replaces a document:
    # a write adds the new chunks, then deletes the old ones. Before the data dir's lock
    # file, a read between the two held both versions (8 chunks, or chunks of two keys).
    import subprocess
    import sys
    import time

    from rag.config import REPO_ROOT

    stop = tmp_path / "stop"  # ends the writer; 30 s is only its bound if the test dies
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(config.data_dir), fake_embedder.name,
                               str(fake_embedder.dim), "30", str(stop)], stdout=subprocess.PIPE, text=True,
                              cwd=REPO_ROOT)
    reads, torn = 0, []
    try:
        deadline = time.monotonic() + 20
        while not store.count() and time.monotonic() < deadline:  # the writer's first version
            time.sleep(0.02)
        # At least 3 s and 20 reads (a loaded machine reads and writes slower), at most 15 s.
        start = time.monotonic()
        while writer.poll() is None and (time.monotonic() - start < 3 or reads < 20) \
                and time.monotonic() - start < 15:
            _, rows = store._snapshot()  # what a catalog or all_chunks() rebuild reads, here on every turn
            keys = sorted({chunk.chunk_id.split(":")[1] for chunk, _ in rows})
            reads += 1
            if len(keys) != 1 or len(rows) not in (3, 5):
                torn.append((keys, len(rows)))
    finally:
        stop.touch()
        writes = int(writer.communicate(timeout=30)[0] or 0)
    assert writer.returncode == 0 and writes > 10 and reads > 10, (writes, reads)
    assert torn == [], f"{len(torn)} of {reads} reads saw a document half rewritten, e.g. {torn[:3]}"


def test_without_a_lock_file_a_read_that_a_write_ended_during_is_read_again(tmp_path, config, fake_embedder,
                                                                          monkeypatch):
    # A Chroma server's clients may be on other machines: no lock file holds their writes
    # off. Here a write by another client ends between two pages of a read; the token
    # moved, so the read is done again instead of keeping the mixture of both pages.
    from rag.store import ChunkStore, chroma_client

    def server_client():  # what open_store gives store_backend=http: no lock file
        return ChunkStore(chroma_client(config=config), config.collection, fake_embedder.name, fake_embedder.dim)

    reader, writer = server_client(), server_client()
    assert reader._lock_path is None
    path = tmp_path / "ferry.txt"
    path.write_text("The ferry left at nine.", encoding="utf-8")
    ingest_paths([path], config=config, store=writer, embedder=fake_embedder)
    original, reads = ChunkStore._all_with_meta, []

    def pages_around_a_write(self):
        first_page = original(self)
        if not reads:  # the other client's write lands between the first read's pages
            path.write_text("The ferry left at ten.", encoding="utf-8")
            ingest_paths([path], config=config, store=writer, embedder=fake_embedder)
        reads.append(1)
        return first_page + original(self) if len(reads) == 1 else first_page

    monkeypatch.setattr(ChunkStore, "_all_with_meta", pages_around_a_write)
    token, rows = reader._snapshot()
    assert len(reads) == 2 and token == writer.change_token()
    assert [chunk.text for chunk, _ in rows] == ["The ferry left at ten."]


# -- the catalog a write records, applied instead of a rebuild (rag/catalog_delta.py) ----
def _doc(doc_id, texts, seed=0, *, language="en", key="v1", terms=True):
    """A document written straight to the store: chunks of ``texts``, random vectors, and
    random latent terms per sentence (repeated term indices included)."""
    import numpy as np

    from rag.chunking import Chunk, chunk_sentence_spans

    rng = np.random.default_rng(seed)
    chunks, offset = [], 0
    for i, text in enumerate(texts):
        chunks.append(Chunk(chunk_id=f"{doc_id}:{key}:{i}", doc_id=doc_id, index=i, text=text, start=offset,
                            end=offset + len(text), title=doc_id.upper(), language=language,
                            content_hash=f"{doc_id}-{key}"))
        offset += len(text) + 1
    vectors = rng.standard_normal((len(chunks), 256)).astype(np.float32)
    sizes = [[int(rng.integers(3, 12)) for _ in chunk_sentence_spans(c)] for c in chunks]
    sentence_terms = [[(rng.integers(0, 400, size=n).astype(np.int32), rng.random(n).astype(np.float32))
                       for n in per_chunk] for per_chunk in sizes] if terms else None
    return chunks, vectors, f"src/{doc_id}", sentence_terms, key


_TEXTS = {
    "alpha": ["Alpha opened in 1998. It was the first office.", "The team moved to Kyoto"],
    "bravo": ["2 more sites opened. GPT-4 came later.", "Sales rose in 2004; the third year was flat. iPhone"],
    "delta": ["16 engineers joined Delta. Model X 3 shipped.", "Delta ends with a name"],
    "echo": ["Echo 7 is here.", "Última palabra: Echo"],
}


def _store_with_terms(config):
    from conftest import FakeTermEmbedder

    config = config.replace(collection="delta")
    return config, open_store(config=config, embedder=FakeTermEmbedder())


def _seeded(config, names=("alpha", "bravo", "delta")):
    """A store holding generic documents, its catalog built and saved (as a running app's)."""
    config, store = _store_with_terms(config)
    store.replace_documents([_doc(n, _TEXTS[n], seed=i) for i, n in enumerate(names)])
    store.catalog()
    return config, store


def _full_reads(monkeypatch):
    from rag.store import ChunkStore

    reads = []
    original = ChunkStore._all_with_meta
    monkeypatch.setattr(ChunkStore, "_all_with_meta", lambda self: reads.append(1) or original(self))
    return reads


def _assert_same_catalog(derived, store):
    """``derived`` equals what a full rebuild from the store's chunks gives, field by field."""
    import numpy as np

    from rag.store import build_catalog

    rebuilt = build_catalog(store.change_token(), store._all_with_meta())
    assert derived.token == rebuilt.token
    assert derived.documents == rebuilt.documents
    assert derived.languages == rebuilt.languages
    assert derived.mentions == rebuilt.mentions
    assert derived.chunks == rebuilt.chunks
    assert derived.counts == rebuilt.counts
    if rebuilt.terms is None:
        assert derived.terms is None
        return
    a, b = derived.terms, rebuilt.terms
    assert a.chunk_ids == b.chunk_ids and a.matrix.shape == b.matrix.shape
    for x, y in ((a.owner, b.owner), (a.matrix.data, b.matrix.data), (a.matrix.indices, b.matrix.indices),
                 (a.matrix.indptr, b.matrix.indptr)):
        assert np.asarray(x).dtype == np.asarray(y).dtype and np.array_equal(x, y)
    assert a.kind_masks.keys() == b.kind_masks.keys()
    assert all(np.array_equal(a.kind_masks[k], b.kind_masks[k]) for k in b.kind_masks)


def _other_process_catalog(config, monkeypatch):
    """The catalog a second store on the same index (another process) gets, and how many
    whole-index reads that took."""
    from conftest import FakeTermEmbedder

    reads = _full_reads(monkeypatch)
    catalog = open_store(config=config, embedder=FakeTermEmbedder()).catalog()
    monkeypatch.undo()
    return catalog, len(reads)


def test_a_document_added_by_another_process_is_applied_as_a_full_rebuild_would_build_it(config, monkeypatch):
    config, writer = _seeded(config, ("alpha", "delta"))
    writer.replace_documents([_doc("bravo", _TEXTS["bravo"], seed=5)])  # lands between the two
    catalog, reads = _other_process_catalog(config, monkeypatch)
    assert reads == 0
    _assert_same_catalog(catalog, writer)
    assert ("iphone", "16") in catalog.mentions.numbered  # "... iPhone" + " " + "16 engineers"


def test_a_replaced_document_with_other_chunks_is_applied_as_a_rebuild(config, monkeypatch):
    config, writer = _seeded(config)
    chunks, vectors, _, terms, key = _doc("bravo", ["Bravo, shorter: 1999.", "Then", "42 more and iPhone"], seed=9,
                                          key="v2")
    writer.replace_document(chunks, vectors, "src/bravo2", sentence_terms=terms, index_key=key)
    catalog, reads = _other_process_catalog(config, monkeypatch)
    assert reads == 0
    _assert_same_catalog(catalog, writer)
    assert [d.chunks for d in catalog.documents] == [2, 3, 2]


def test_a_deleted_document_is_applied_as_a_rebuild_and_its_neighbours_meet(config, monkeypatch):
    config, writer = _seeded(config, ("alpha", "bravo", "delta", "echo"))
    assert writer.delete_document("bravo") == 2
    catalog, reads = _other_process_catalog(config, monkeypatch)
    assert reads == 0
    _assert_same_catalog(catalog, writer)
    assert ("iphone", "16") not in catalog.mentions.numbered and ("kyoto", "16") in catalog.mentions.numbered


def test_a_batch_and_a_chain_of_writes_without_a_question_between_are_applied_at_once(config, monkeypatch):
    config, writer = _seeded(config)
    writer.replace_documents([_doc("echo", _TEXTS["echo"], seed=3, language="es"),
                              _doc("alpha", ["Alpha, again: 2001."], seed=4, key="v2"),
                              _doc("charlie", ["12 and", "more text without terms"], seed=6, terms=False),
                              _doc("charlie2", ["Right after charlie, in 1987."], seed=7)])  # two new neighbours
    writer.delete_document("delta")
    writer.replace_documents([_doc("delta", _TEXTS["delta"], seed=8, language="de")])
    catalog, reads = _other_process_catalog(config, monkeypatch)
    assert reads == 0
    _assert_same_catalog(catalog, writer)
    assert catalog.languages[0] == "en" and set(catalog.languages) == {"en", "es", "de"}


def test_a_write_that_fails_part_way_leaves_no_record_and_the_next_question_rebuilds(config, monkeypatch):
    config, writer = _seeded(config)

    def broken_delete(*args, **kwargs):
        raise RuntimeError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(writer._collection, "delete", broken_delete)
        with pytest.raises(RuntimeError):
            writer.replace_documents([_doc("alpha", ["Alpha v2 text."], seed=1, key="v2")])  # added, old not deleted
    catalog, reads = _other_process_catalog(config, monkeypatch)
    assert reads == 1
    _assert_same_catalog(catalog, writer)
    assert [d.chunks for d in catalog.documents][0] == 3  # both versions, as the index holds them


def test_a_writer_interleaved_by_another_leaves_no_record(config, monkeypatch):
    # Another writer's bump between this writer's read of the token and its own bump (a
    # server without the lock file): the record would miss that write.
    config, writer = _seeded(config)
    intruder = _store_with_terms(config)[1]
    original = writer._bump_change
    bumps = []

    def bump_after_another():
        if not bumps:
            intruder.replace_documents([_doc("echo", _TEXTS["echo"], seed=2)])
        bumps.append(1)
        return original()

    monkeypatch.setattr(writer, "_bump_change", bump_after_another)
    writer._held = lambda exclusive: __import__("contextlib").nullcontext()  # as without a lock file
    writer.delete_document("alpha")
    monkeypatch.undo()
    catalog, reads = _other_process_catalog(config, monkeypatch)
    assert reads == 1
    _assert_same_catalog(catalog, writer)
    assert [d.doc_id for d in catalog.documents] == ["bravo", "delta", "echo"]


def _as_older_format(config, writer):
    """The saved catalogs as a version before counts wrote them: writes still record, but
    no record can be applied to them. ``writer`` then has only the saved one."""
    import json

    for meta in (config.data_dir / "catalog").glob(f"catalog-{config.collection}-*/meta.json"):
        data = json.loads(meta.read_text())
        data.pop("counts")
        meta.write_text(json.dumps(data))
    writer._catalog = None


def test_a_saved_catalog_of_an_older_format_is_rebuilt_after_a_write(config, monkeypatch):
    config, writer = _seeded(config)
    _as_older_format(config, writer)
    writer.delete_document("bravo")
    catalog, reads = _other_process_catalog(config, monkeypatch)
    assert reads == 1
    _assert_same_catalog(catalog, writer)


def test_the_writer_itself_and_a_restart_after_it_read_no_chunk(config, monkeypatch):
    config, writer = _seeded(config)
    reads = _full_reads(monkeypatch)
    writer.delete_document("delta")
    assert writer.catalog().token == writer.change_token() and reads == []
    monkeypatch.undo()
    catalog, reads = _other_process_catalog(config, monkeypatch)  # loads the catalog the writer's question saved
    assert reads == 0
    _assert_same_catalog(catalog, writer)
    assert not list((config.data_dir / "catalog").glob("changes-*"))  # applied records are gone


def test_counted_mentions_are_the_gate_mentions_of_the_joined_text():
    from rag.catalog_delta import combine, counted_mentions, document_summary
    from rag.chunking import Chunk
    from rag.mentions import version_mentions

    docs = [["ｉＰｈｏｎｅ", "１６ and more"], ["GPT-", "4 x"], ["Model ", "5"], ["end İ", "7.5 and Pro"],
            ["3 follows", "ok"], [""], ["9 only"], ["word 12", "3 next Max"], ["10.5 then"], ["x"], ["2,5"]]
    rows = [[(Chunk(f"d{d}:{i}", f"d{d}", i, t, 0, len(t), "", "en", ""), {}) for i, t in enumerate(texts)]
            for d, texts in enumerate(docs)]
    expected = version_mentions(" ".join(t for texts in docs for t in texts))
    assert counted_mentions(combine([document_summary(r) for r in rows])) == expected
    assert {("iphone", "16"), ("pro", "3")} <= expected.numbered and ("max", "10") not in expected.numbered


def test_a_writer_that_settles_leaves_other_processes_a_catalog_to_load(config, monkeypatch):
    from rag.store import CatalogReads

    config, writer = _seeded(config)
    writer.delete_document("alpha")
    writer.replace_documents([_doc("echo", _TEXTS["echo"], seed=3)])
    assert writer.settle_catalog() and not list((config.data_dir / "catalog").glob("changes-*"))
    monkeypatch.setattr(CatalogReads, "_catalog_from_changes", lambda self, token: pytest.fail("applied again"))
    catalog, reads = _other_process_catalog(config, monkeypatch)
    assert reads == 0
    _assert_same_catalog(catalog, writer)


def test_settling_without_a_record_reads_no_chunk(config, monkeypatch):
    config, writer = _seeded(config)
    writer.reset()  # records nothing
    reads = _full_reads(monkeypatch)
    assert writer.settle_catalog() is False and reads == []


def test_ingest_py_settles_the_catalog_for_the_app(articles, config, store, fake_embedder, monkeypatch):
    import ingest
    from rag.store import CatalogReads

    store.catalog()  # the app's catalog, saved
    monkeypatch.setenv("RAG_DATA_DIR", str(config.data_dir))
    monkeypatch.setenv("RAG_COLLECTION", config.collection)
    monkeypatch.setattr("rag.embeddings.get_embedder", lambda *, config: fake_embedder)
    assert ingest.main(["--quiet", str(articles / "fr_zhang.txt")]) == 0
    assert not list((config.data_dir / "catalog").glob("changes-*"))  # applied and saved by ingest.py
    monkeypatch.setattr(CatalogReads, "_catalog_from_changes", lambda self, token: pytest.fail("applied again"))
    reads = _full_reads(monkeypatch)
    assert [d.doc_id for d in store.list_documents()] == ["fr_zhang"] and reads == []


def test_a_question_during_another_process_write_waits_and_applies_its_record(config, monkeypatch):
    import threading
    import time

    from conftest import FakeTermEmbedder

    config, writer = _seeded(config)
    reader = open_store(config=config, embedder=FakeTermEmbedder())
    reads, seen, threads = _full_reads(monkeypatch), [], []
    original_add = type(writer._vector_store).add

    def add_while_asked(self, nodes, **kwargs):
        if not threads:  # the reader sees the write's bump-before token and waits on the lock file
            threads.append(threading.Thread(target=lambda: seen.append(reader.catalog())))
            threads[0].start()
            time.sleep(0.5)
        return original_add(self, nodes, **kwargs)

    monkeypatch.setattr(type(writer._vector_store), "add", add_while_asked)
    writer.replace_documents([_doc("echo", _TEXTS["echo"], seed=3)])
    threads[0].join(10)
    assert reads == [] and len(seen) == 1
    monkeypatch.undo()
    _assert_same_catalog(seen[0], writer)


def test_a_partial_record_of_a_killed_writer_is_removed_when_records_are_pruned(tmp_path):
    # A writer killed while saving its record leaves "<record>.<pid>-<hex>.tmp"; a live
    # writer's partial file (this process) stays.
    import os
    import subprocess
    import sys

    from rag.catalog_delta import prune_changes

    path = tmp_path / "changes-catalog-news"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = tmp_path / f"changes-catalog-news-3-abc.json.{int(dead.stdout)}-0123abcd.tmp"
    live = tmp_path / f"changes-catalog-news-4-abc.json.{os.getpid()}-0123abcd.tmp"
    for partial in (left, live):
        partial.write_text("{")
    prune_changes(path, "2:abc")
    assert not left.exists() and live.exists()


def _dead_pid() -> int:
    import subprocess
    import sys

    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)


def test_a_saved_catalog_missing_one_of_its_arrays_is_not_loaded(articles, config, fake_embedder):
    # Another process removing an older catalog (a newer one saved) can leave a folder
    # with some arrays gone; loading it would drop an answer kind's mask silently.
    from conftest import FakeTermEmbedder

    from rag.store import build_catalog, load_catalog, save_catalog

    embedder = FakeTermEmbedder()
    config = config.replace(collection="terms")
    store = open_store(config=config, embedder=embedder)
    ingest_paths([articles], config=config, store=store, embedder=embedder)
    catalog = build_catalog(store.change_token(), store._all_with_meta())
    path = config.data_dir / "masks" / "catalog-terms"
    save_catalog(catalog, path, "terms")
    assert load_catalog(path, catalog.token) is not None
    next(path.parent.glob("catalog-terms-*/kind_year.npy")).unlink()
    assert load_catalog(path, catalog.token) is None


def test_saving_a_catalog_removes_the_partial_folders_of_killed_savers_only(articles, config, store, fake_embedder):
    import os

    from rag.store import build_catalog, save_catalog

    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    catalog = build_catalog(store.change_token(), store._all_with_meta())
    path = config.data_dir / "partial" / "catalog-news"
    path.parent.mkdir(parents=True)
    killed = path.parent / f"catalog-news-1-abc.{_dead_pid()}-0123abcd.tmp"
    running = path.parent / f"catalog-news-1-abc.{os.getpid()}-4567abcd.tmp"
    for folder in (killed, running):
        folder.mkdir()
        (folder / "owner.npy").write_bytes(b"x")
    save_catalog(catalog, path, "news")
    assert not killed.exists() and running.exists()


def test_a_write_goes_on_when_its_change_record_cannot_be_read(articles, config, store, fake_embedder, monkeypatch):
    # The record is a cache: a failure to read what it needs never fails the write.
    from rag.store import ChunkStore

    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    store.catalog()
    monkeypatch.setattr(ChunkStore, "_rows_of", lambda self, ids: (_ for _ in ()).throw(RuntimeError("read failed")))
    assert store.delete_document(store.list_documents()[0].doc_id) > 0
    monkeypatch.undo()
    assert len(store.list_documents()) == len(_second_store(config, fake_embedder).list_documents())


# -- a bulk ingest (more writes than a question applies records of) ---------------------------
def _small_files(folder, n):
    """``n`` one-chunk articles, each written alone with ``batch_chunks=1``: one write (and
    one record) per file."""
    folder.mkdir()
    for i in range(n):
        (folder / f"bulk{i:03d}.txt").write_text(f"Bulk note {i}: the office opened in {1990 + i}. Model {i} shipped.",
                                                encoding="utf-8")
    return folder


def _counted_settles(monkeypatch):
    from rag.store import CatalogReads

    settles, original = [], CatalogReads.settle_catalog
    monkeypatch.setattr(CatalogReads, "settle_catalog",
                        lambda self, **kwargs: settles.append(kwargs) or original(self, **kwargs))
    return settles


def test_a_bulk_ingest_settles_now_and_then_and_leaves_a_catalog_another_process_loads(config, monkeypatch,
                                                                                        tmp_path):
    # Before: from the 17th write on nothing was recorded, and the next question (the app's,
    # another process) read every chunk to rebuild the catalog.
    from conftest import FakeTermEmbedder

    from rag.catalog_delta import MAX_CHAIN, SETTLE_AT

    config, writer = _seeded(config)
    files = _small_files(tmp_path / "bulk", 2 * MAX_CHAIN + 3)
    writes, settles = [], _counted_settles(monkeypatch)
    report = ingest_paths([files], config=config, store=writer, embedder=FakeTermEmbedder(), batch_chunks=1,
                          on_chunks=writes.append)
    monkeypatch.undo()
    assert len(report.added) == len(writes) == 2 * MAX_CHAIN + 3 and set(writes) == {1}
    # Not after every write: once per SETTLE_AT records, never with a full read.
    assert len(settles) == len(writes) // SETTLE_AT and all(not s.get("rebuild") for s in settles)
    assert 0 < writer.pending_changes() < SETTLE_AT
    catalog, reads = _other_process_catalog(config, monkeypatch)
    assert reads == 0
    _assert_same_catalog(catalog, writer)
    assert len(catalog.documents) == 3 + 2 * MAX_CHAIN + 3


def test_pending_changes_counts_the_records_since_the_saved_catalog(config):
    config, writer = _seeded(config)
    assert writer.pending_changes() == 0
    for i, name in enumerate(("echo", "alpha", "bravo")):
        writer.replace_documents([_doc(name, _TEXTS[name], seed=10 + i, key="v2")])
        assert writer.pending_changes() == i + 1
    reader = _store_with_terms(config)[1]  # another process: reads the record's depth
    assert reader.pending_changes() == 3
    assert writer.settle_catalog() and writer.pending_changes() == reader.pending_changes() == 0
    writer._bump_change()  # a write that left no record (a Chroma server's, without the lock file)
    assert writer.pending_changes() is None and writer.settle_catalog() is False


def _ingest_py(config, monkeypatch, embedder, *args):
    import ingest

    monkeypatch.setenv("RAG_DATA_DIR", str(config.data_dir))
    monkeypatch.setenv("RAG_COLLECTION", config.collection)
    monkeypatch.setattr("rag.embeddings.get_embedder", lambda *, config: embedder)
    return ingest.main(["--quiet", *map(str, args)])


def test_ingest_py_rebuilds_and_saves_the_catalog_when_no_record_leads_to_it(config, monkeypatch, tmp_path, capsys):
    # A write that left no record (a Chroma server's, an ingest killed before it settled):
    # the full read is ingest.py's, and the app's next question only loads.
    from conftest import FakeTermEmbedder

    config, writer = _seeded(config)
    writer._bump_change()
    files = _small_files(tmp_path / "more", 2)
    monkeypatch.setattr("ingest.ANNOUNCED_REBUILD_CHUNKS", 1)  # said from 10,000 chunks on
    assert _ingest_py(config, monkeypatch, FakeTermEmbedder(), files) == 0
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert f"updating the index catalog for {writer.count()} chunks" in err and "not updated" not in err
    catalog, reads = _other_process_catalog(config, monkeypatch)
    assert reads == 0
    _assert_same_catalog(catalog, writer)
    assert len(catalog.documents) == 5


def test_ingest_py_of_more_files_than_the_chain_holds_leaves_a_catalog_to_load(config, monkeypatch, tmp_path,
                                                                               capsys):
    # More writes than MAX_CHAIN (ingest.py writes 64 chunks a time: here one), and no
    # full read anywhere: not in ingest.py, not in the app's next question.
    import functools

    import rag.indexing
    from conftest import FakeTermEmbedder

    from rag.catalog_delta import MAX_CHAIN

    config, writer = _seeded(config)
    files = _small_files(tmp_path / "bulk", MAX_CHAIN + 5)
    monkeypatch.setattr(rag.indexing, "ingest_paths", functools.partial(rag.indexing.ingest_paths, batch_chunks=1))
    reads = _full_reads(monkeypatch)
    assert _ingest_py(config, monkeypatch, FakeTermEmbedder(), files) == 0
    assert reads == []
    monkeypatch.undo()
    assert "updating the index catalog" not in capsys.readouterr().err
    catalog, reads = _other_process_catalog(config, monkeypatch)
    assert reads == 0
    _assert_same_catalog(catalog, writer)
    assert len(catalog.documents) == 3 + MAX_CHAIN + 5


def test_a_failed_settle_during_an_ingest_is_a_warning(config, monkeypatch, tmp_path, caplog):
    from conftest import FakeTermEmbedder

    from rag.catalog_delta import SETTLE_AT
    from rag.store import CatalogReads

    config, writer = _seeded(config)
    monkeypatch.setattr(CatalogReads, "settle_catalog", lambda self, **kwargs: (_ for _ in ()).throw(OSError("full")))
    report = ingest_paths([_small_files(tmp_path / "bulk", SETTLE_AT + 1)], config=config, store=writer,
                          embedder=FakeTermEmbedder(), batch_chunks=1)
    assert len(report.added) == SETTLE_AT + 1 and "could not update the index catalog: full" in caplog.text


# -- review findings of issue #23: a lagging saver, a futile settle, a walk done twice ------------
def _empty_catalog(token):
    from rag.mentions import VersionMentions
    from rag.store import IndexCatalog

    return IndexCatalog(token=token, documents=(), languages=(), mentions=VersionMentions(frozenset(), frozenset()),
                        terms=None, chunks=0)


def test_saving_a_catalog_removes_only_the_collections_older_ones(tmp_path):
    # A lagging saver (a question's rebuild, a settle during an ingest) saves an older
    # catalog after a newer one: the code before removed every other folder, the newer too.
    from rag.store import load_catalog, save_catalog

    path = tmp_path / "catalog-news"
    other = tmp_path / "catalog-news-2-1-abc"  # collection "news-2", count 1
    other.mkdir()
    for token in ("9:bbb", "9:ccc", "2:aaa", "5:ddd", "legacy"):  # 9:ccc: a racing writer's (no lock file)
        save_catalog(_empty_catalog(token), path, "news")
    kept = {token for token in ("2:aaa", "5:ddd", "9:bbb", "9:ccc", "legacy") if load_catalog(path, token)}
    assert kept == {"5:ddd", "9:bbb", "9:ccc", "legacy"} and other.exists()
    save_catalog(_empty_catalog("10:eee"), path, "news")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog-news-10-eee", "catalog-news-2-1-abc",
                                                          "catalog-news-legacy"]


def test_a_lagging_saver_leaves_the_newer_catalog_for_the_writer_and_other_processes(config, monkeypatch):
    config, writer = _seeded(config)
    older = writer.catalog()
    writer.replace_documents([_doc("echo", _TEXTS["echo"], seed=3)])
    assert writer.settle_catalog()  # the newer catalog saved, its record pruned
    writer._save(older)  # e.g. the app's rebuild of the token before, saved late
    writer._catalog = None
    assert writer.pending_changes() == 0  # the code before: 1, its own record's depth, but no record is left
    catalog, reads = _other_process_catalog(config, monkeypatch)
    assert reads == 0  # the code before: 1
    _assert_same_catalog(catalog, writer)


def test_an_ingest_does_not_settle_again_a_chain_that_leads_to_no_catalog(config, monkeypatch, tmp_path):
    from conftest import FakeTermEmbedder

    from rag.catalog_delta import MAX_CHAIN

    config, writer = _seeded(config)
    _as_older_format(config, writer)
    settles = _counted_settles(monkeypatch)
    report = ingest_paths([_small_files(tmp_path / "bulk", MAX_CHAIN + 2)], config=config, store=writer,
                          embedder=FakeTermEmbedder(), batch_chunks=1)
    monkeypatch.undo()
    assert len(report.added) == MAX_CHAIN + 2
    assert settles == [{}]  # at SETTLE_AT records; the code before: again at each write up to MAX_CHAIN


def test_ingest_py_walks_the_records_once_before_it_rebuilds(config, monkeypatch, tmp_path):
    # Records that lead to no usable catalog: ingest.py's settle walks them, and its
    # rebuild (which looks again under the lock file) does not walk them again.
    import rag.catalog_delta
    from conftest import FakeTermEmbedder

    config, writer = _seeded(config)
    _as_older_format(config, writer)
    walked, load = [], rag.catalog_delta.load_changes
    monkeypatch.setattr(rag.catalog_delta, "load_changes", lambda path, token: walked.append(token) or load(path, token))
    reads = _full_reads(monkeypatch)
    assert _ingest_py(config, monkeypatch, FakeTermEmbedder(), _small_files(tmp_path / "one", 1)) == 0
    monkeypatch.undo()
    assert len(walked) == 1 and len(reads) == 1  # the code before: 3 walks (settle, rebuild, under the lock)
    catalog, reads = _other_process_catalog(config, monkeypatch)
    assert reads == 0
    _assert_same_catalog(catalog, writer)


def test_deleting_the_collection_removes_its_saved_catalogs_and_records(config, fake_embedder):
    # The new collection's counter starts at 1 again, and a save removes only lower counts:
    # the old collection's catalog would stay until the new counter passed its count.
    from rag.store import delete_index, save_catalog

    open_store(config=config, embedder=fake_embedder)
    cache = config.data_dir / "catalog"
    save_catalog(_empty_catalog("50:abc"), cache / "catalog-test", "test")
    save_catalog(_empty_catalog("3:abc"), cache / "catalog-test-x", "test-x")  # another collection's
    (cache / "changes-catalog-test-51-abc.json").write_text("{}")
    delete_index(config=config)
    assert sorted(p.name for p in cache.iterdir()) == ["catalog-test-x-3-abc"]
