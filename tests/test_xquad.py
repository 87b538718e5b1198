"""The XQuAD harness on a tiny parallel en/de pair, with the fake embedder and chat model."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from conftest import FakeEmbedder, FakeLLM
from eval import xquad
from eval.metrics import METRIC_KEYS
from rag.config import RAGConfig

# 2 articles, 3 paragraphs (2 + 1), 5 questions; every question copies words of its own
# paragraph (names and numbers are the same in both languages).
EN = {
    "version": "1.1",
    "data": [
        {"title": "Velmora_Brewing", "paragraphs": [
            {"context": "Quentin Marlowe founded Velmora Brewing in the harbour town of Oskarvik in 1884. "
                        "The brewery first sold dark porter to sailors.",
             "qas": [
                 {"id": "q-a0p0-1", "question": "In which year did Quentin Marlowe found Velmora Brewing in Oskarvik?",
                  "answers": [{"answer_start": 79, "text": "1884"}]},
                 {"id": "q-a0p0-2", "question": "What did the Velmora brewery first sell to sailors?",
                  "answers": [{"answer_start": 105, "text": "dark porter"}]},
             ]},
            {"context": "In 1921 the Velmora company moved to Trundheim and built a copper kettle hall "
                        "designed by architect Ilse Brandvold.",
             "qas": [
                 {"id": "q-a0p1-1", "question": "Which architect, Ilse Brandvold or another, designed the Trundheim kettle hall?",
                  "answers": [{"answer_start": 104, "text": "Ilse Brandvold"}]},
             ]},
        ]},
        {"title": "Zephyr_Glacier", "paragraphs": [
            {"context": "The Zephyr Glacier on Mount Kalvenhorn retreated 2.3 kilometres between 1950 and 2010, "
                        "according to glaciologist Tomas Rennquist.",
             "qas": [
                 {"id": "q-a1p0-1", "question": "How far did the Zephyr Glacier on Mount Kalvenhorn retreat?",
                  "answers": [{"answer_start": 49, "text": "2.3 kilometres"}]},
                 {"id": "q-a1p0-2", "question": "Which glaciologist, Tomas Rennquist, measured the Zephyr Glacier?",
                  "answers": [{"answer_start": 114, "text": "Tomas Rennquist"}]},
             ]},
        ]},
    ],
}
DE = {
    "version": "1.1",
    "data": [
        {"title": "Velmora_Brewing", "paragraphs": [
            {"context": "Quentin Marlowe gründete Velmora Brewing in der Hafenstadt Oskarvik im Jahr 1884. "
                        "Die Brauerei verkaufte zuerst dunklen Porter an Seeleute.",
             "qas": [
                 {"id": "q-a0p0-1", "question": "In welchem Jahr gründete Quentin Marlowe Velmora Brewing in Oskarvik?",
                  "answers": [{"answer_start": 77, "text": "1884"}]},
                 {"id": "q-a0p0-2", "question": "Was verkaufte die Velmora Brauerei zuerst an Seeleute?",
                  "answers": [{"answer_start": 110, "text": "dunklen Porter"}]},
             ]},
            {"context": "1921 zog die Velmora Firma nach Trundheim und baute eine Kupferkesselhalle, "
                        "entworfen von der Architektin Ilse Brandvold.",
             "qas": [
                 {"id": "q-a0p1-1", "question": "Welche Architektin, Ilse Brandvold, entwarf die Halle in Trundheim?",
                  "answers": [{"answer_start": 107, "text": "Ilse Brandvold"}]},
             ]},
        ]},
        {"title": "Zephyr_Glacier", "paragraphs": [
            {"context": "Der Zephyr-Gletscher am Berg Kalvenhorn zog sich zwischen 1950 und 2010 um 2,3 Kilometer "
                        "zurück, so der Glaziologe Tomas Rennquist.",
             "qas": [
                 {"id": "q-a1p0-1", "question": "Wie weit zog sich der Zephyr-Gletscher am Kalvenhorn zurück?",
                  "answers": [{"answer_start": 75, "text": "2,3 Kilometer"}]},
                 {"id": "q-a1p0-2", "question": "Welcher Glaziologe, Tomas Rennquist, vermaß den Zephyr-Gletscher?",
                  "answers": [{"answer_start": 118, "text": "Tomas Rennquist"}]},
             ]},
        ]},
    ],
}
GOLD_DOCS = ["00-00", "00-00", "00-01", "01-00", "01-00"]


@pytest.fixture
def xquad_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "xquad"
    folder.mkdir()
    (folder / "xquad.en.json").write_text(json.dumps(EN), encoding="utf-8")
    (folder / "xquad.de.json").write_text(json.dumps(DE, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.fixture
def xconfig(tmp_path: Path) -> RAGConfig:
    return RAGConfig(data_dir=tmp_path / "data", gate_calibration="off", chunk_tokens=60, chunk_overlap_tokens=10,
                     top_k=2)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_load_pair_aligns_questions_by_id_and_position(xquad_dir):
    pair = xquad.load_pair(xquad_dir, "de", "en")
    assert pair.name == "de:en" and pair.collection == "xquad-de"
    assert [d.doc_id for d in pair.documents] == ["00-00", "00-01", "01-00"]
    assert [d.title for d in pair.documents] == ["Velmora Brewing", "Velmora Brewing", "Zephyr Glacier"]
    assert {d.language for d in pair.documents} == {"de"}
    assert pair.documents[1].text.startswith("1921 zog die Velmora Firma")  # the corpus is German
    assert [q.qid for q in pair.questions] == ["q-a0p0-1", "q-a0p0-2", "q-a0p1-1", "q-a1p0-1", "q-a1p0-2"]
    assert [q.doc_id for q in pair.questions] == GOLD_DOCS
    assert pair.questions[0].text.startswith("In which year")  # the questions are English
    # Gold answers of both languages, question language first, duplicates once.
    assert pair.questions[1].golds == ("dark porter", "dunklen Porter")
    assert pair.questions[3].golds == ("2.3 kilometres", "2,3 Kilometer")
    assert pair.questions[0].golds == ("1884",)
    assert xquad.load_pair(xquad_dir, "de", "en", limit=2).questions == pair.questions[:2]
    # --spread: evenly over the file, so every article is asked about.
    spread = xquad.load_pair(xquad_dir, "de", "en", sample=2).questions
    assert [q.qid for q in spread] == ["q-a0p0-1", "q-a0p1-1"]  # questions 0 and 2 of 5


def test_spread_picks_evenly_spaced_items_in_order():
    assert xquad.spread(list(range(10)), 3) == [0, 3, 6]
    assert xquad.spread(list(range(1190)), 15)[-1] == 1110
    assert xquad.spread([1, 2], 5) == [1, 2]


def test_same_language_pair_and_titles_off(xquad_dir):
    pair = xquad.load_pair(xquad_dir, "en", "en", titles=False)
    assert pair.collection == "xquad-en-notitles"
    assert [d.title for d in pair.documents] == ["00-00", "00-01", "01-00"]  # left out of embedding_text
    assert pair.questions[1].golds == ("dark porter",)


def test_files_that_are_not_parallel_are_rejected(xquad_dir):
    moved = json.loads(json.dumps(DE))
    question = moved["data"][0]["paragraphs"][0]["qas"].pop()
    moved["data"][1]["paragraphs"][0]["qas"].append(question)
    (xquad_dir / "xquad.de.json").write_text(json.dumps(moved), encoding="utf-8")
    with pytest.raises(ValueError, match="q-a0p0-2"):
        xquad.load_pair(xquad_dir, "de", "en")
    moved["data"].pop()
    (xquad_dir / "xquad.de.json").write_text(json.dumps(moved), encoding="utf-8")
    with pytest.raises(ValueError, match="not parallel"):
        xquad.load_pair(xquad_dir, "de", "en")


def test_missing_data_is_a_clear_error(tmp_path, xquad_dir, monkeypatch):
    with pytest.raises(FileNotFoundError, match="XQUAD_DIR"):
        xquad.resolve_xquad_dir(tmp_path / "nowhere")
    monkeypatch.setenv("XQUAD_DIR", str(xquad_dir))
    assert xquad.resolve_xquad_dir(None) == xquad_dir
    with pytest.raises(FileNotFoundError, match="de, en"):
        xquad.load_pair(None, "zh", "en")
    monkeypatch.delenv("XQUAD_DIR")
    assert xquad.DEFAULT_XQUAD_DIR == Path(xquad.REPO_ROOT).parent / "shared" / "xquad"


def test_a_clone_without_shared_data_uses_the_bundled_en_zh_copy(tmp_path, monkeypatch):
    monkeypatch.delenv("XQUAD_DIR", raising=False)
    monkeypatch.setattr(xquad, "DEFAULT_XQUAD_DIR", tmp_path / "no-shared")
    assert xquad.resolve_xquad_dir(None) == xquad.BUNDLED_XQUAD_DIR
    pair = xquad.load_pair(None, "zh", "en", limit=3)  # the CI gate's pair, from the real files
    assert len(pair.questions) == 3 and len(pair.documents) == 240
    with pytest.raises(FileNotFoundError, match="en, zh"):
        xquad.load_pair(None, "de", "en")


def test_parse_pairs():
    assert xquad.parse_pairs("zh:en, de:en,") == [("zh", "en"), ("de", "en")]
    with pytest.raises(ValueError):
        xquad.parse_pairs("zh-en")


def test_indexing_is_idempotent(xquad_dir, xconfig):
    pair = xquad.load_pair(xquad_dir, "de", "en")
    embedder = FakeEmbedder()
    store, summary = xquad.index_corpus(pair, config=xconfig, embedder=embedder)
    assert summary.startswith("3 added, 0 updated, 0 unchanged")
    assert store.collection_name == "xquad-de"
    assert sorted(d.doc_id for d in store.list_documents()) == ["00-00", "00-01", "01-00"]
    count = store.count()
    store, summary = xquad.index_corpus(pair, config=xconfig, embedder=embedder)
    assert summary.startswith("0 added, 0 updated, 3 unchanged") and store.count() == count
    # Other chunk settings re-chunk every paragraph (the hash covers them).
    store, summary = xquad.index_corpus(pair, config=xconfig.replace(chunk_tokens=12, chunk_overlap_tokens=2),
                                        embedder=embedder)
    assert summary.startswith("0 added, 3 updated, 0 unchanged") and store.count() > count


def test_retrieval_only_run(xquad_dir, xconfig, no_network):
    pair = xquad.load_pair(xquad_dir, "en", "en")
    report = xquad.run_pair(pair, config=xconfig, embedder=FakeEmbedder(), llm_mode="none")
    assert list(report["metrics"]) == list(METRIC_KEYS) + ["answer_f1"]
    assert set(report["baselines"]) == {"bm25", "dense", "llamaindex"}
    for metrics in report["baselines"].values():
        assert list(metrics) == list(METRIC_KEYS) + ["answer_f1"]
    m = report["metrics"]
    # Each question copies its own paragraph's words: the gold paragraph ranks first.
    assert m["recall_at_1"] == 1.0 and m["mrr"] == 1.0 and m["n_questions"] == 5
    assert [q["ours"]["retrieved"][0] for q in report["per_question"]] == GOLD_DOCS
    assert report["baselines"]["bm25"]["recall_at_1"] == 1.0
    assert report["baselines"]["dense"]["recall_at_1"] == 1.0
    assert report["baselines"]["llamaindex"]["recall_at_5"] == 1.0
    for key in ("answer_accuracy", "false_refusal_rate", "citation_precision", "answer_f1", "refusal_accuracy"):
        assert m[key] is None
    assert m["latency_p50_s"] > 0
    assert report["llamaindex_nodes"] == 3  # every paragraph fits in one 256-token node


def test_cross_lingual_run_with_answers(xquad_dir, xconfig, no_network):
    pair = xquad.load_pair(xquad_dir, "de", "en")

    def reply(messages):
        prompt = messages[-1]["content"]
        if "Context information is below" in prompt:  # the plain llama-index prompt
            return "Velmora Brewing was founded in 1884." if "Quentin Marlowe found" in prompt else "No idea."
        if "Tomas Rennquist, measured" in prompt:
            return "NOT FOUND"
        # Ours: the German gold answer counts for an English question.
        return "Sie verkauften dunklen Porter [1]." if "first sell" in prompt else "It was 1884 [1]."

    llm = FakeLLM(reply)
    report = xquad.run_pair(pair, config=xconfig, embedder=FakeEmbedder(), llm_mode="local", llm=llm)
    m = report["metrics"]
    assert list(m) == list(METRIC_KEYS) + ["answer_f1"]
    # Correct: q1 ("1884"), q2 ("dunklen Porter", the corpus-language gold); q3 and q4 get
    # "1884", a number their passages do not hold, so they are refused as invented; q5 refused.
    assert [q["ours"]["correct"] for q in report["per_question"]] == [True, True, False, False, False]
    assert m["answer_accuracy"] == pytest.approx(2 / 5)
    assert m["false_refusal_rate"] == pytest.approx(3 / 5)
    assert m["refusal_accuracy"] is None  # every XQuAD question is answerable
    assert m["answer_f1"] is not None and 0 < m["answer_f1"] < 1
    assert m["citation_precision"] is not None and m["citation_support"] is not None
    assert report["per_question"][4]["ours"]["refused"] is True
    # The citation marker "[1]" does not count as the answer "1".
    one = xquad.Question("q", "How many?", "en", 0, 0, "00-00", ("1",))
    assert xquad.score_answer_text({}, one, "See [1].", refused=False, citations=[])["correct"] is False
    assert xquad.score_answer_text({}, one, "Only 1 [1].", refused=False, citations=[])["correct"] is True

    li = report["baselines"]["llamaindex"]
    assert li["answer_accuracy"] == pytest.approx(1 / 5)
    assert li["citation_precision"] is None and li["recall_at_5"] is not None
    assert report["per_question"][0]["llamaindex"]["answer"] == "Velmora Brewing was founded in 1884."
    assert report["baselines"]["bm25"]["answer_accuracy"] is None
    # Same model for both: 5 calls with our prompt, then 5 with llama-index's (second pass).
    assert len(llm.calls) == 10
    assert all("Context information is below" in c[-1]["content"] for c in llm.calls[5:])
    assert not any("Context information is below" in c[-1]["content"] for c in llm.calls[:5])
    assert {"embed", "retrieve", "generate", "total"} <= set(report["latency_by_stage"])


def test_questions_are_embedded_once(xquad_dir, xconfig):
    class Counting(FakeEmbedder):
        queries = 0

        def embed_queries(self, texts):
            Counting.queries += len(texts)
            return super().embed_queries(texts)

        def embed_passages(self, texts):
            return FakeEmbedder.embed_queries(self, texts)

    pair = xquad.load_pair(xquad_dir, "de", "en")
    xquad.run_pair(pair, config=xconfig, embedder=Counting(), llm_mode="none")
    assert Counting.queries == 5  # ours computes; BM25, dense and llama-index reuse the vectors


def test_plain_refusal():
    assert xquad.plain_refusal("The context does not mention his age.")
    assert xquad.plain_refusal("I'm sorry, but I cannot answer that.")
    assert not xquad.plain_refusal("The brewery was founded in 1884, it is not mentioned elsewhere.")


def test_cli_pairs_report_and_gate(xquad_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(xquad, "load_embedder", lambda config: FakeEmbedder())
    gate = tmp_path / "gate.json"
    gate.write_text(json.dumps({"xquad": {"recall_at_5": 0.5}}))
    out = tmp_path / "r.json"
    code = xquad.main(["--pairs", "en:en,de:de", "--llm", "none", "--xquad-dir", str(xquad_dir),
                       "--report-json", str(out), "--report-md", str(tmp_path / "r.md"), "--gate", str(gate)])
    assert code == 0
    report = json.loads(out.read_text())
    assert [(p["corpus_lang"], p["question_lang"]) for p in report["pairs"]] == [("en", "en"), ("de", "de")]
    assert all(p["metrics"]["recall_at_1"] == 1.0 for p in report["pairs"])
    printed = capsys.readouterr().out
    assert "| en:en ours |" in printed and "| de:de llamaindex |" in printed and "gate passed" in printed

    gate.write_text(json.dumps({"xquad": {"recall_at_1": 1.01, "answer_accuracy": 0.1}}))
    code = xquad.main(["--corpus-lang", "de", "--question-lang", "en", "--limit", "2", "--no-baselines",
                       "--xquad-dir", str(xquad_dir), "--report-json", str(out), "--gate", str(gate)])
    assert code == 1
    printed = capsys.readouterr().out
    assert "GATE FAILED: de:en: recall_at_1" in printed and "answer_accuracy was not measured" in printed
    single = json.loads(out.read_text())
    assert single["corpus_lang"] == "de" and single["metrics"]["n_questions"] == 2 and single["baselines"] == {}

    assert xquad.main(["--corpus-lang", "de", "--question-lang", "en", "--xquad-dir", str(tmp_path / "nope"),
                       "--report-json", str(out)]) == 2
