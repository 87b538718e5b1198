"""eval/evidence.py: the passages the answering prompt holds, measured without a model."""

from __future__ import annotations

from eval.evidence import PromptRecorder, coverage, measure, prompt_passages, summary
from rag.prompts import FOLLOW_UP_SYSTEM_PROMPT, build_messages


def test_prompt_passages_is_the_passages_block_of_an_answering_prompt():
    user = "Question: q?\n\nPassages:\n[1] (en) Orvia opened in 2019.\n[2] (fr) Kelpa.\n\nQuestion: q?\nAnswer in English:"
    assert prompt_passages(user) == "[1] (en) Orvia opened in 2019.\n[2] (fr) Kelpa."


def test_coverage_counts_answer_groups_found_in_the_passages():
    item = {"answers": [["2019"], ["Graz", "グラーツ"]]}
    assert coverage(item, "[1] Orvia opened in Graz in 2019.") == {"groups": 2, "found": 2, "all": True}
    assert coverage(item, "[1] Orvia opened in 2019.") == {"groups": 2, "found": 1, "all": False}
    assert coverage(item, None) == {"groups": 2, "found": 0, "all": False}


def test_the_recorder_keeps_answering_prompts_and_says_yes_to_follow_up_checks():
    recorder = PromptRecorder()
    assert "".join(recorder.stream([{"role": "system", "content": FOLLOW_UP_SYSTEM_PROMPT},
                                    {"role": "user", "content": "x"}], max_tokens=5, temperature=0)) == "yes"
    messages = build_messages("Who founded Orvia?", [], language="en")
    assert "".join(recorder.stream(messages, max_tokens=5, temperature=0)) == "NOT FOUND"
    assert recorder.prompts == [messages[-1]["content"]]
    assert recorder.messages == [messages]  # whole, for eval.llm_speed


def test_measure_reads_what_ask_would_give_the_model(articles, config, fake_embedder, monkeypatch):
    import rag.embeddings

    monkeypatch.setattr(rag.embeddings, "get_embedder", lambda *, config: fake_embedder)
    items = [
        {"id": "a", "question": "Shengjia Zhao scientifique en chef, nommé quand ?", "answers": [["29 juillet"]],
         "answerable": True, "lang": "fr"},
        {"id": "b", "question": "Who won the 1930 World Cup?", "answers": [], "answerable": False, "lang": "en"},
    ]
    records = measure(items, config=config.replace(year_gate=True), seeds=[articles])
    assert records[0]["found"] == 1 and not records[0]["gated"] and records[0]["prompt_tokens"] > 0
    assert records[1]["gated"]  # the year gate (on here): no passage has 1930
    figures = summary(records)
    assert figures["all_groups_read"] == 1.0 and figures["unanswerable_gated"] == 1.0
