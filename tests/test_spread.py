"""eval.spread: floors from the spread of several runs, on literal reports."""

from __future__ import annotations

import json

from eval.spread import differing_questions, main, spread, summary, too_tight


def _item(i, *, correct=True, refused=False, answerable=True, cites=("a",)):
    return {"id": f"q{i}", "answerable": answerable, "correct": correct if answerable else None,
            "refused": refused, "citations": [{"doc_id": d} for d in cites], "retrieved": ["c1", "c2"]}


def _report(accuracy_hits: int, n: int = 20):
    items = [_item(i, correct=i < accuracy_hits) for i in range(n)]
    return {"metrics": {"answer_accuracy": accuracy_hits / n, "recall_at_5": 0.9}, "items": items}


def test_the_floor_is_the_lowest_run_less_the_range():
    figures = spread([_report(18), _report(16), _report(17)])
    acc = figures["answer_accuracy"]
    assert acc["values"] == [0.9, 0.8, 0.85]
    assert abs(acc["range"] - 0.1) < 1e-9
    assert acc["limit"] == 0.7  # 0.8 - 0.1


def test_identical_runs_still_get_a_margin_of_one_question():
    figures = spread([_report(18), _report(18)])
    assert figures["answer_accuracy"]["limit"] == 0.85  # 0.9 - 1/20
    assert figures["recall_at_5"]["limit"] == 0.85


def test_a_threshold_inside_the_spread_is_too_tight():
    figures = spread([_report(18), _report(16)])
    assert too_tight(figures, {"answer_accuracy": 0.75}) == [
        "answer_accuracy: threshold 0.75 is inside the spread (at most 0.7 holds)"]
    assert too_tight(figures, {"answer_accuracy": 0.7}) == []


def test_questions_whose_outcome_differs_are_named():
    a, b = _report(18), _report(18)
    b["items"][3]["refused"] = True
    assert differing_questions([a, b]) == ["q3"]


def test_the_command_prints_the_table_and_fails_on_a_tight_threshold(tmp_path, capsys):
    paths = []
    for name, hits in (("one", 18), ("two", 16)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(_report(hits)))
        paths.append(str(path))
    thresholds = tmp_path / "t.json"
    thresholds.write_text(json.dumps({"gold": {"answer_accuracy": 0.79}}))
    assert main(paths + ["--thresholds", str(thresholds)]) == 1
    out = capsys.readouterr().out
    assert "| answer_accuracy | 0.900 | 0.800 | 0.100 | 20 | 0.70 |" in out
    assert "TOO TIGHT" in out
    thresholds.write_text(json.dumps({"gold": {"answer_accuracy": 0.7}}))
    assert main(paths + ["--thresholds", str(thresholds)]) == 0


def test_a_summary_keeps_what_the_spread_needs():
    report = _report(18)
    report["items"][0]["answer"] = "long text"
    kept = summary(report, name="run", note="machine")
    assert "answer" not in kept["items"][0]
    assert spread([kept])["answer_accuracy"]["limit"] == spread([report])["answer_accuracy"]["limit"]


def test_the_gate_floors_hold_across_the_recorded_runs():
    """eval/thresholds.json's gold floors sit outside the spread of the runs in eval/runs/."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    runs = sorted((root / "eval" / "runs").glob("*.json"))
    assert len(runs) >= 2, "eval/runs/ holds the gold runs the floors come from"
    figures = spread([json.loads(p.read_text(encoding="utf-8")) for p in runs])
    thresholds = json.loads((root / "eval" / "thresholds.json").read_text())["gold"]
    assert too_tight(figures, thresholds) == []


def test_a_run_known_by_its_figures_alone_widens_the_range():
    figures_only = {"metrics": {"answer_accuracy": 0.7, "recall_at_5": 0.9}, "items": []}
    figures = spread([_report(18), figures_only])
    assert figures["answer_accuracy"]["n"] == 20
    assert abs(figures["answer_accuracy"]["range"] - 0.2) < 1e-9
    assert figures["answer_accuracy"]["limit"] == 0.5  # 0.7 - 0.2
    assert differing_questions([_report(18), figures_only]) == []
