"""python -m rag "question": the answer, its sources, and the retrieval score against the gate."""

from __future__ import annotations

import pytest

import rag.answer
from rag.__main__ import main
from rag.answer import Answer, Citation
from rag.chunking import Chunk
from rag.retrieval import Hit

PASSAGE = "2021年にアルファベットからアップルに加わったパン氏"


def _answer(*, refused: bool, backend: str) -> Answer:
    chunk = Chunk("ja1:h:0", "ja1", 0, PASSAGE, 0, len(PASSAGE), "アップルの記事", "ja", "h")
    citations = [] if refused else [Citation(1, "ja1", "アップルの記事", "ja", PASSAGE, 0, len(PASSAGE), 1.21, "ja1:h:0")]
    text = "The articles don't say." if refused else "Pang worked at Alphabet [1]."
    return Answer(question="q", text=text, language="en", refused=refused, citations=citations,
                  retrieved=[Hit(chunk, 0.0164)], timings={"total": 1.0}, backend=backend,
                  best_score=0.934 if refused else 1.21)  # the hit carries a fusion score (BM25 on)


@pytest.fixture
def scripted(monkeypatch):
    def use(answer=None, error=None):
        def fake_stream(question, *, config=None, **_):
            if error:
                raise error
            yield answer.text
            yield answer

        monkeypatch.setattr(rag.answer, "ask_stream", fake_stream)

    return use


def test_prints_the_answer_its_sources_and_the_score(scripted, capsys):
    scripted(_answer(refused=False, backend="fake"))
    assert main(["Which", "company?"]) == 0
    out, err = capsys.readouterr()
    assert "Pang worked at Alphabet [1]." in out
    assert "[1] アップルの記事 (ja, ja1, chars 0-" in out and PASSAGE in out
    assert "best retrieval score 1.210" in err


def test_a_refusal_by_the_gate_names_the_score_and_the_setting(scripted, capsys, monkeypatch):
    scripted(_answer(refused=True, backend="retrieval-gate"))
    assert main(["Who won the World Cup?"]) == 0
    out, err = capsys.readouterr()
    assert "The articles don't say." in out and "Sources" not in out
    assert "refused before the model ran: best retrieval score 0.934 < the gate's threshold" in err
    assert "from off-topic probes" in err  # the default gate
    monkeypatch.setenv("RAG_GATE_CALIBRATION", "fixed")
    monkeypatch.setenv("RAG_MIN_SCORE", "1.0")
    assert main(["Who won the World Cup?"]) == 0
    assert "refused before the model ran: best retrieval score 0.934 < RAG_MIN_SCORE 1" in capsys.readouterr().err


def test_errors_are_one_line_and_exit_1(scripted, capsys):
    scripted(error=ValueError("The question is empty."))
    assert main(["   "]) == 1
    assert capsys.readouterr().err.strip() == "error: The question is empty."


def test_a_refusal_by_the_version_gate_says_why(scripted, capsys):
    scripted(_answer(refused=True, backend="version-gate"))
    assert main(["How much is the iPhone 16 Pro?"]) == 0
    assert "refused before the model ran: the question names a version" in capsys.readouterr().err


def test_a_refusal_by_the_year_gate_says_why(scripted, capsys):
    scripted(_answer(refused=True, backend="year-gate"))
    assert main(["What was Apple's revenue in 2024?"]) == 0
    err = capsys.readouterr().err
    assert "refused before the model ran: the question names a year that none of the passages mentions" in err
