"""rag.indexing: an empty index gets the seed folder, and says so."""

from __future__ import annotations

import io

import pytest

from rag.answer import EmptyIndexError, ask
from rag.indexing import ensure_indexed, index_seeds, ingest_paths
from conftest import FakeLLM


def test_an_empty_index_gets_the_seed_folder_and_says_so(config, store, fake_embedder, articles):
    config = config.replace(seeds_dir=articles)
    out = io.StringIO()
    report = index_seeds(store=store, embedder=fake_embedder, config=config, out=out)
    assert report is not None and sorted(report.added) == ["fr_zhang", "ja_pang", "zh_apple"]
    assert {d.doc_id for d in store.list_documents()} == {"fr_zhang", "ja_pang", "zh_apple"}
    assert f"is empty: indexing {articles}" in out.getvalue()
    assert "3 added" in out.getvalue()


def test_seeds_are_not_indexed_into_an_index_with_documents(config, store, fake_embedder, articles, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "note.txt").write_text("A short note about something else entirely.", encoding="utf-8")
    ingest_paths([other], config=config, store=store, embedder=fake_embedder)
    out = io.StringIO()
    assert index_seeds(store=store, embedder=fake_embedder, config=config.replace(seeds_dir=articles),
                       out=out) is None
    assert ensure_indexed(store=store, embedder=fake_embedder, config=config.replace(seeds_dir=articles),
                          out=out) is None
    assert [d.doc_id for d in store.list_documents()] == ["note"]
    assert out.getvalue() == ""


@pytest.mark.parametrize("off", ["setting", "folder"])
def test_seeding_off_or_without_a_folder_indexes_nothing(config, store, fake_embedder, articles, tmp_path, off):
    change = {"index_seeds_when_empty": False} if off == "setting" else {"seeds_dir": tmp_path / "missing"}
    config = config.replace(**{"seeds_dir": articles, **change})
    assert index_seeds(store=store, embedder=fake_embedder, config=config, out=io.StringIO()) is None
    assert store.count() == 0


def test_ask_without_a_store_indexes_the_seeds_of_an_empty_index(config, fake_embedder, articles, capsys):
    config = config.replace(seeds_dir=articles)
    answer = ask("Qui a rejoint Meta ?", config=config, embedder=fake_embedder,
                 llm=FakeLLM("Bowen Zhang a rejoint Meta [1]."))
    assert not answer.refused and answer.citations
    assert "is empty: indexing" in capsys.readouterr().err


def test_ask_without_a_store_and_seeding_off_is_a_clear_error(config, fake_embedder, articles):
    config = config.replace(seeds_dir=articles, index_seeds_when_empty=False)
    with pytest.raises(EmptyIndexError, match="ingest.py"):
        ask("Qui a rejoint Meta ?", config=config, embedder=fake_embedder, llm=FakeLLM())


class _Chain:
    """A store with ``depth`` records pending whose settle finds no catalog (``usable`` False)."""

    def __init__(self) -> None:
        self.depth, self.usable, self.settled = 0, False, []

    def pending_changes(self):
        return self.depth

    def settle_catalog(self):
        self.settled.append(self.depth)
        return self.usable


def test_a_settle_in_vain_is_not_tried_again_until_the_chain_is_shorter():
    from rag.indexing import _settle_if_due

    store, futile = _Chain(), None
    for depth in (7, 8, 9, 12, 3, 8):  # 3: a catalog was saved since (another process's rebuild)
        store.depth = depth
        futile = _settle_if_due(store, futile)
    assert store.settled == [8, 8]
    store.usable, store.depth = True, 9
    assert _settle_if_due(store, futile) == 8 and store.settled == [8, 8]  # the same chain, grown
    store.depth = 0
    assert _settle_if_due(store, futile) is None


class _DamagedCatalog:
    """A store that records one change per write and whose settle raises, as a damaged
    record or catalog makes the real one do."""

    def __init__(self, error: Exception) -> None:
        self.error, self.written, self.settles = error, [], 0

    def document_versions(self, doc_id):
        return {}

    def replace_documents(self, writes):
        self.written.append([chunk.doc_id for chunks, *_ in writes for chunk in chunks])

    def pending_changes(self):
        return len(self.written)

    def settle_catalog(self):
        self.settles += 1
        raise self.error


@pytest.mark.parametrize("error", [OSError(5, "Input/output error"), ValueError("bad record\nline two")])
def test_a_settle_that_raises_is_reported_once_and_the_ingest_writes_on(config, fake_embedder, tmp_path, caplog,
                                                                          error):
    for i in range(12):
        (tmp_path / f"note{i:02}.txt").write_text(f"Note number {i} about the harbour.", encoding="utf-8")
    store = _DamagedCatalog(error)
    report = ingest_paths(sorted(tmp_path.glob("note*.txt")), config=config, store=store, embedder=fake_embedder,
                          batch_chunks=1)
    assert store.settles == 1  # at SETTLE_AT (8); writes 9 to 12 grow the same chain
    assert [doc for write in store.written for doc in write] == [f"note{i:02}" for i in range(12)]
    assert report.chunks == 12 and len(report.added) == 12
    # One warning line (the logging module's default writes it to stderr), no traceback.
    [warning] = [r for r in caplog.records if r.name == "rag.indexing"]
    assert warning.levelname == "WARNING" and warning.exc_info is None and "\n" not in warning.getMessage()
    assert warning.getMessage().startswith(f"could not update the index catalog: {' '.join(str(error).split())} (")
