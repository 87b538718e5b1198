import math

import numpy as np

from conftest import FakeLLM
from rag.answer import ask, gate_threshold
from rag.indexing import ingest_paths
from rag.off_topic import OFF_TOPIC_PROBES, calibrated_min_score, probe_scores, probes_in_language


def test_the_threshold_is_a_quantile_of_the_probe_scores_plus_the_margin():
    scores = [0.5, 0.6, 0.7, 0.8, 0.9]
    assert calibrated_min_score(scores, quantile=1.0, margin=0.0) == 0.9
    assert math.isclose(calibrated_min_score(scores, quantile=0.5, margin=0.05), 0.75)
    assert calibrated_min_score([], quantile=0.9, margin=0.1) == float("-inf")  # nothing to compare with


def test_a_question_is_compared_with_the_probes_of_its_language():
    probes = [("en", "a"), ("xx", "b"), ("en", "c"), ("yy", "d")]
    scores = [0.8, 1.2, 0.9, 1.1]
    assert list(probes_in_language(scores, "en", probes)) == [0.8, 0.9]
    assert list(probes_in_language(scores, "zz", probes)) == scores  # no probes in it: all of them
    assert list(probes_in_language(scores, None, probes)) == scores
    assert {lang for lang, _ in OFF_TOPIC_PROBES} >= {"en", "de", "fr", "es", "ja", "zh", "ko", "ru", "vi"}


def test_probe_scores_are_computed_once_per_change_of_the_index(articles, config, store, fake_embedder, tmp_path):
    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    first = probe_scores(store=store, embedder=fake_embedder, config=config)
    assert len(first) == len(OFF_TOPIC_PROBES) and np.isfinite(first).all()
    assert probe_scores(store=store, embedder=fake_embedder, config=config) is first
    extra = tmp_path / "more"
    extra.mkdir()
    (extra / "other.txt").write_text("Lumex opened a plant in Graz in 2019.\n\nIt employs 300 people.", encoding="utf-8")
    ingest_paths([extra], config=config, store=store, embedder=fake_embedder)
    assert probe_scores(store=store, embedder=fake_embedder, config=config) is not first


def test_with_probes_the_gate_follows_the_index_not_min_score(articles, config, store, fake_embedder):
    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    probes = config.replace(gate_calibration="probes", min_score=-99.0)
    scores = probe_scores(store=store, embedder=fake_embedder, config=probes)
    everywhere = probes.replace(probes_by_language=False)
    assert gate_threshold(store=store, embedder=fake_embedder, config=everywhere) == float(np.quantile(scores, 0.9)) + 0.05
    english = scores[[lang == "en" for lang, _ in OFF_TOPIC_PROBES]]
    assert gate_threshold(store=store, embedder=fake_embedder, config=probes, language="en") == \
        float(np.quantile(english, 0.9)) + 0.05
    assert gate_threshold(store=store, embedder=fake_embedder, config=config) == config.min_score
    question = "Where did Ruoming Pang work before Apple?"
    llm = FakeLLM("Pang came from Alphabet [1].")
    answer = ask(question, config=probes.replace(probe_margin=99.0), store=store, embedder=fake_embedder, llm=llm)
    assert answer.refused and answer.backend == "retrieval-gate" and llm.calls == []
    assert answer.gate_threshold > 90
    answer = ask(question, config=probes.replace(probe_margin=-99.0), store=store, embedder=fake_embedder, llm=llm)
    assert not answer.refused and len(llm.calls) == 1


def test_gate_off_lets_every_question_reach_the_model(articles, config, store, fake_embedder):
    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    off = config.replace(gate_calibration="off", min_score=99.0)  # min_score is the fixed gate's, not read
    assert gate_threshold(store=store, embedder=fake_embedder, config=off) == float("-inf")
    llm = FakeLLM("Pang came from Alphabet [1].")
    answer = ask("Where did Ruoming Pang work before Apple?", config=off, store=store, embedder=fake_embedder, llm=llm)
    assert not answer.refused and len(llm.calls) == 1
    gated = ask("Where did Ruoming Pang work before Apple?", config=off.replace(gate_calibration="fixed"),
                store=store, embedder=fake_embedder, llm=llm)
    assert gated.refused and gated.backend == "retrieval-gate"
