"""The mixed-language XQuAD benchmark on the tiny en/de fixture of test_xquad."""

from __future__ import annotations

import json

import pytest

from conftest import FakeEmbedder
from eval import xquad_mixed
from test_xquad import xconfig, xquad_dir  # noqa: F401  (fixtures)


def test_paragraphs_rotate_over_the_languages(xquad_dir):  # noqa: F811
    pair = xquad_mixed.mixed_pair(xquad_dir, ["en", "de"])
    assert [(d.doc_id, d.language) for d in pair.documents] == [("00-00", "en"), ("00-01", "de"), ("01-00", "en")]
    assert pair.documents[1].text.startswith("1921 zog die Velmora Firma")
    with pytest.raises(ValueError, match="two or more"):
        xquad_mixed.mixed_pair(xquad_dir, ["en"])


def test_run_compares_penalties_on_the_same_questions(xquad_dir, xconfig):  # noqa: F811
    report = xquad_mixed.run_mixed(xquad_dir, ["en", "de"], [0.0, 1.0], config=xconfig, embedder=FakeEmbedder())
    assert report["questions_per_language"] == {"en": 5, "de": 5}
    plain, penalised = (r["groups"] for r in report["results"])
    assert set(plain) == {"all", "same", "cross", "questions in en", "questions in de"}
    # en questions: 4 on English paragraphs, 1 on the German one; de questions the other way.
    assert plain["all"]["n_questions"] == 10 and plain["same"]["n_questions"] == 5
    assert plain["cross"]["n_questions"] == 5
    # A penalty of 1 puts every chunk in the question's language under the others:
    # an own-language paragraph can no longer be first, a cross-lingual one gains.
    assert penalised["same"]["recall_at_1"] == 0.0 < plain["same"]["recall_at_1"]
    assert penalised["cross"]["recall_at_1"] >= plain["cross"]["recall_at_1"]
    assert "| 1 |" in xquad_mixed.markdown_table(report)


def test_cli_writes_the_report(xquad_dir, tmp_path, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(xquad_mixed, "load_embedder", lambda config: FakeEmbedder())
    out = tmp_path / "mixed.json"
    code = xquad_mixed.main(["--langs", "en,de", "--penalties", "0,0.1", "--questions", "2",
                             "--xquad-dir", str(xquad_dir), "--report-json", str(out)])
    assert code == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [r["same_language_penalty"] for r in report["results"]] == [0.0, 0.1]
    assert report["questions_per_language"] == {"en": 2, "de": 2}
    assert "same_language_penalty" in capsys.readouterr().out
    assert xquad_mixed.main(["--langs", "en", "--xquad-dir", str(xquad_dir), "--report-json", str(out)]) == 2
