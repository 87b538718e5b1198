import re

import pytest

from conftest import FakeLLM
from rag.answer import Answer, EmptyIndexError, ask, ask_stream, normalize_history, second_attempt, strong_evidence
from rag.citations import cited_numbers
from rag.indexing import ingest_paths
from rag.language import refusal_text


def test_normalize_history_accepts_pairs_and_messages():
    pairs = [("Who left?", "Pang [1]."), ["When?", None]]
    assert normalize_history(pairs) == [("Who left?", "Pang [1]."), ("When?", "")]
    messages = [{"role": "user", "content": "Who left?"}, {"role": "assistant", "content": "Pang."},
                {"role": "user", "content": "dangling"}]
    assert normalize_history(messages) == [("Who left?", "Pang.")]


@pytest.fixture
def indexed(articles, config, store, fake_embedder):
    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)
    return store


def test_ask_cites_existing_passages(indexed, config, fake_embedder):
    llm = FakeLLM("Pang kam von Alphabet [1] und ging zu Meta [2] [7].")
    answer = ask("Woher kam Ruoming Pang, bevor er zu Apple kam?", config=config, store=indexed,
                 embedder=fake_embedder, llm=llm)
    assert answer.language == "de"
    assert not answer.refused
    assert answer.best_score == answer.retrieved[0].score  # no BM25: the fused score is the hit's
    assert cited_numbers(answer.text) == [1, 2]
    assert [c.n for c in answer.citations] == [1, 2]
    for citation in answer.citations:
        passage = next(h.chunk for h in answer.retrieved if h.chunk.chunk_id == citation.chunk_id)
        assert citation.text == passage.text and citation.start == passage.start
        assert citation.highlight_start is not None and citation.start <= citation.highlight_start < citation.end
    prompt = llm.calls[0][1]["content"]
    assert "Answer in German" in prompt and "[1] (" in prompt
    assert {"embed", "retrieve", "generate", "total"} <= set(answer.timings)


def test_model_refusal_becomes_localised_refusal_without_citations(indexed, config, fake_embedder):
    answer = ask("Qui a gagné la Coupe du monde 2022 ?", config=config, store=indexed,
                 embedder=fake_embedder, llm=FakeLLM("NOT FOUND"))
    assert answer.refused and answer.citations == []
    assert answer.text == refusal_text("fr")


def test_retrieval_gate_refuses_without_calling_the_model(indexed, config, fake_embedder):
    llm = FakeLLM("should not be called [1]")
    answer = ask("Who won the World Cup?", config=config.replace(min_score=0.99), store=indexed,
                 embedder=fake_embedder, llm=llm)
    assert answer.refused and llm.calls == [] and answer.backend == "retrieval-gate"


def test_follow_up_sees_history(indexed, config, fake_embedder):
    llm = FakeLLM("In 2021 [1].")
    history = [("Where did Ruoming Pang work before Apple?", "At Alphabet [1].")]
    answer = ask("And when did he join?", config=config, store=indexed, embedder=fake_embedder,
                 llm=llm, history=history)
    prompt = llm.calls[0][1]["content"]
    assert "Where did Ruoming Pang work before Apple?" in prompt
    assert "At Alphabet." in prompt  # earlier markers are stripped
    assert answer.citations


def _switch_config(indexed, config, fake_embedder, question, earlier):
    """A min_score between the question's own score and its score with the earlier question."""
    from rag.retrieval import retrieve

    both = retrieve([question, f"{earlier} {question}"], store=indexed, embedder=fake_embedder, config=config)
    alone, best = both.query_scores[0], both.best_score
    assert alone < best and best == max(both.query_scores)
    return config.replace(min_score=(alone + best) / 2)


@pytest.mark.parametrize("verdict, refused", [("No.", True), ("Yes", False), ("maybe", False)])
def test_question_that_only_the_history_makes_relevant_is_checked_with_the_model(
        indexed, config, fake_embedder, verdict, refused):
    """A new subject after a conversation ("who won the World Cup?") is refused: searched
    with the earlier question it cleared the gate, and the model answered from memory."""
    earlier = "Where did Ruoming Pang work before Apple?"
    question = "Who won the football World Cup?"
    switch = _switch_config(indexed, config, fake_embedder, question, earlier)

    def reply(messages):
        is_check = "refer back" in messages[-1]["content"]
        return verdict if is_check else "France won it [1]."

    llm = FakeLLM(reply)
    answer = ask(question, config=switch, store=indexed, embedder=fake_embedder, llm=llm,
                 history=[(earlier, "At Alphabet [1].")])
    assert "New question: Who won the football World Cup?" in llm.calls[0][1]["content"]
    assert earlier in llm.calls[0][1]["content"]
    assert "follow_up" in answer.timings
    assert answer.refused is refused
    if refused:
        assert len(llm.calls) == 1 and answer.backend == "retrieval-gate" and answer.citations == []
        assert answer.best_score < switch.min_score  # the CLI shows the score the gate compared
    else:
        assert len(llm.calls) == 2 and "France" in answer.text


def test_follow_up_check_only_when_the_question_alone_fails_the_gate(indexed, config, fake_embedder):
    llm = FakeLLM("In 2021 [1].")
    answer = ask("And when did Ruoming Pang join Apple?", config=config, store=indexed, embedder=fake_embedder,
                 llm=llm, history=[("Where did Ruoming Pang work before Apple?", "At Alphabet [1].")])
    assert len(llm.calls) == 1 and "follow_up" not in answer.timings and not answer.refused


def test_extractive_mode_keeps_the_follow_up_reading_without_a_model(indexed, config, fake_embedder):
    earlier = "Where did Ruoming Pang work before Apple?"
    question = "Who won the football World Cup?"
    switch = _switch_config(indexed, config, fake_embedder, question, earlier).replace(llm="extractive")
    answer = ask(question, config=switch, store=indexed, embedder=fake_embedder, history=[(earlier, "At Alphabet.")])
    assert not answer.refused and "follow_up" not in answer.timings


def test_stream_yields_text_then_answer(indexed, config, fake_embedder):
    items = list(ask_stream("Who is Shengjia Zhao?", config=config, store=indexed, embedder=fake_embedder,
                            llm=FakeLLM("Chief scientist at Meta [1].")))
    assert isinstance(items[-1], Answer)
    assert "".join(i for i in items[:-1]) == "Chief scientist at Meta [1]."


def test_extractive_mode_quotes_passages(indexed, config, fake_embedder):
    answer = ask("Shengjia Zhao scientifique en chef", config=config.replace(llm="extractive"),
                 store=indexed, embedder=fake_embedder)
    assert answer.backend == "extractive" and not answer.refused
    assert "Shengjia Zhao" in answer.text
    assert cited_numbers(answer.text) == [c.n for c in answer.citations]


def test_bad_questions(indexed, config, fake_embedder, store):
    with pytest.raises(ValueError, match="empty"):
        ask("   ", config=config, store=indexed, embedder=fake_embedder, llm=FakeLLM())
    with pytest.raises(ValueError, match="too long"):
        ask("x" * 5000, config=config, store=indexed, embedder=fake_embedder, llm=FakeLLM())


def test_a_lone_surrogate_in_a_question_is_replaced_not_raised(tmp_path, config, store, fake_embedder):
    # A "\ud800" escape in a client's JSON is a str no library can encode: the language
    # detector raised UnicodeEncodeError. The question is answered without it.
    from rag.answer import question_text

    (tmp_path / "mill.txt").write_text("The mill of Hesper employed 40 workers in 1955.", encoding="utf-8")
    ingest_paths([tmp_path / "mill.txt"], config=config, store=store, embedder=fake_embedder)
    answer = ask("How many workers \ud800 did the mill employ?\udc00", config=config, store=store,
                 embedder=fake_embedder, llm=FakeLLM("It employed 40 workers [1]."))
    assert answer.question == "How many workers \ufffd did the mill employ?\ufffd"
    assert answer.text == "It employed 40 workers [1]." and answer.citations[0].doc_id == "mill"
    assert question_text("  \ud83d\ude42 ok ") == "\ufffd\ufffd ok"  # a pair given as two code points too
    with pytest.raises(ValueError, match="empty"):
        ask(" \n ", config=config, store=store, embedder=fake_embedder, llm=FakeLLM())


def test_empty_index_is_a_clear_error(config, store, fake_embedder):
    with pytest.raises(EmptyIndexError, match="ingest.py"):
        ask("Who left Apple?", config=config, store=store, embedder=fake_embedder, llm=FakeLLM())


def test_an_answer_with_an_invented_number_is_refused(indexed, config, fake_embedder):
    answer = ask("Wie viel verdient Ruoming Pang?", config=config, store=indexed, embedder=fake_embedder,
                 llm=FakeLLM("Er verdient 987 Millionen Dollar [1]."))
    assert answer.refused and answer.citations == [] and answer.text == refusal_text("de")
    assert "987" in answer.raw_text


def test_strong_retrieval_asks_again_when_the_model_refuses(indexed, config, fake_embedder):
    replies = iter(["NOT FOUND", "Chief scientist at Meta [1]."])
    llm = FakeLLM(lambda messages: next(replies))
    items = list(ask_stream("Who is Shengjia Zhao?", config=config.replace(answer_margin=0.0), store=indexed,
                            embedder=fake_embedder, llm=llm))
    answer = items[-1]
    assert len(llm.calls) == 2 and not answer.refused and answer.text == "Chief scientist at Meta [1]."
    assert "do not reply NOT FOUND" not in llm.calls[0][1]["content"]
    assert "do not reply NOT FOUND" in llm.calls[1][1]["content"]
    assert llm.calls[0][0] == llm.calls[1][0]  # the system prompt stays the same (KV cache)
    # The held-back refusal never reaches the stream: it shows only the second answer.
    assert "".join(items[:-1]) == "Chief scientist at Meta [1]."


def test_weak_retrieval_accepts_the_refusal_and_insisting_happens_once(indexed, config, fake_embedder):
    weak = FakeLLM("NOT FOUND")
    answer = ask("Who is Shengjia Zhao?", config=config.replace(answer_margin=99.0), store=indexed,
                 embedder=fake_embedder, llm=weak)
    assert answer.refused and len(weak.calls) == 1 and answer.raw_text == "NOT FOUND"
    stubborn = FakeLLM("NOT FOUND")
    items = list(ask_stream("Who is Shengjia Zhao?", config=config.replace(answer_margin=0.0), store=indexed,
                            embedder=fake_embedder, llm=stubborn))
    assert items[-1].refused and len(stubborn.calls) == 2 and items[:-1] == []


def test_strong_evidence_is_a_margin_over_the_gates_threshold(config):
    margin = config.replace(answer_margin=0.2)
    # The same best score is strong over a low threshold and not over a high one: the bar
    # moves with the index's (and the question language's) threshold, not a fixed score.
    assert strong_evidence(0.9, 0.7, config=margin) and strong_evidence(0.95, 0.75, config=margin)
    assert not strong_evidence(0.9, 0.75, config=margin)
    assert not strong_evidence(5.0, float("-inf"), config=margin)  # no gate: the model's refusal stands


def test_with_the_gate_off_a_refusal_is_not_asked_again(indexed, config, fake_embedder):
    llm = FakeLLM("NOT FOUND")
    answer = ask("Who is Shengjia Zhao?", config=config.replace(gate_calibration="off", answer_margin=-99.0),
                 store=indexed, embedder=fake_embedder, llm=llm)
    assert answer.refused and len(llm.calls) == 1


def _ask_reading_every_chunk(question, reply, indexed, config, fake_embedder):
    """``ask`` with every chunk a whole passage, so the model's reply is checked against
    all the articles whatever the fake embedder ranks first."""
    every_chunk = config.replace(top_k=config.candidates, passage_tokens=0)
    return ask(question, config=every_chunk, store=indexed, embedder=fake_embedder, llm=FakeLLM(reply))


def test_copied_number_readings_are_removed_from_the_answer(indexed, config, fake_embedder):
    # Every chunk is a passage, so the Chinese one with 2亿美元 is read.
    answer = _ask_reading_every_chunk("Combien gagnera Pang ?", "Pang pourrait gagner 2亿(=200 million)美元 [1].",
                                      indexed, config, fake_embedder)
    assert not answer.refused and answer.text == "Pang pourrait gagner 2亿美元 [1]."


def test_a_misread_cjk_figure_is_given_the_passages_value(indexed, config, fake_embedder):
    # 2亿美元 is 200 million dollars; "2 milliards" keeps the digits and loses the value.
    # The answer keeps its own scale word.
    answer = _ask_reading_every_chunk("Combien gagnera Pang ?", "Pang pourrait gagner 2 milliards de dollars [1].",
                                      indexed, config, fake_embedder)
    assert not answer.refused and answer.text == "Pang pourrait gagner 0,2 milliards de dollars [1]."
    assert answer.raw_text == "Pang pourrait gagner 2 milliards de dollars [1]."


def test_an_invented_spelling_is_removed_from_the_answer(indexed, config, fake_embedder):
    answer = ask("Woher kam Ruoming Pang, bevor er zu Apple kam?", config=config, store=indexed,
                 embedder=fake_embedder, llm=FakeLLM("Ruoming Pang (Румин Пан) kam von Alphabet [1]."))
    assert not answer.refused and answer.text == "Ruoming Pang kam von Alphabet [1]."


def test_a_model_that_can_avoid_words_is_asked_the_same_prompt_without_not_found(indexed, config, fake_embedder):
    # The local model can be kept from writing NOT FOUND (logit bias): the second ask
    # repeats the first prompt without that way out instead of insisting.
    replies = iter(["NOT FOUND", "Chief scientist at Meta [1]."])
    llm = FakeLLM(lambda messages: next(replies), avoids_words=True)
    answer = ask("Who is Shengjia Zhao?", config=config.replace(answer_margin=0.0), store=indexed,
                 embedder=fake_embedder, llm=llm)
    assert not answer.refused and answer.text == "Chief scientist at Meta [1]."
    assert llm.avoided == [(), ("NOT", "NO")]
    assert llm.calls[0] == llm.calls[1]


def test_an_echoed_question_is_asked_again_with_insistence_and_avoided_words(indexed, config, fake_embedder):
    # Repeating the same prompt would bring the same echo back: this one insists too.
    replies = iter(["Who is Shengjia Zhao? [1]", "Chief scientist at Meta [1]."])
    llm = FakeLLM(lambda messages: next(replies), avoids_words=True)
    answer = ask("Who is Shengjia Zhao?", config=config.replace(answer_margin=0.0), store=indexed,
                 embedder=fake_embedder, llm=llm)
    assert not answer.refused and llm.avoided == [(), ("NOT", "NO")]
    assert "do not reply NOT FOUND" in llm.calls[1][1]["content"]


def test_a_reply_pointing_at_a_passage_is_refused_even_on_strong_evidence(indexed, config, fake_embedder):
    # Asked again on strong evidence, the model still stops where the answer should be and
    # points at a passage: no answer (quoting that passage's sentence was retired).
    llm = FakeLLM("Le média cité est [2].", avoids_words=True)
    answer = ask("Quel média est cité ?", config=config.replace(answer_margin=0.0), store=indexed,
                 embedder=fake_embedder, llm=llm)
    assert len(llm.calls) == 2
    assert answer.refused and answer.citations == [] and answer.text == refusal_text("fr")


def test_second_attempt_plan():
    class Local:
        avoids_words = True

    class Remote:
        avoids_words = False

    assert second_attempt(True, Local()) == (False, ("NOT", "NO"))  # it said NOT FOUND
    assert second_attempt(False, Local()) == (True, ("NOT", "NO"))  # no answer at all, e.g. "[1] [2]"
    assert second_attempt(True, Remote()) == (True, ())
    assert second_attempt(True, object()) == (True, ())


@pytest.mark.parametrize("pieces, streamed", [
    (["NOT", " FO", "UND"], ""),
    (["NOT_FOUND"], ""),
    (["NO"], "NO"),  # only a prefix of NOT FOUND, and the whole reply: released at the end
    (["NO", "TE: Pang", " left [1]."], "NOTE: Pang left [1]."),
    (["NOT FOUND", " here"], ""),
    (["Pang", " left [1]."], "Pang left [1]."),
])
def test_streaming_holds_back_only_a_refusal(pieces, streamed):
    from rag.answer import _hold_back_not_found

    assert "".join(_hold_back_not_found(iter(pieces))) == streamed


def test_question_pinned_to_a_year_no_passage_mentions_is_refused_without_the_model(indexed, config, fake_embedder):
    llm = FakeLLM("Pang joined Apple from Alphabet [1].")
    config = config.replace(year_gate=True)  # off by default
    answer = ask("Where did Ruoming Pang work in 2019?", config=config, store=indexed, embedder=fake_embedder, llm=llm)
    assert answer.refused and answer.backend == "year-gate" and llm.calls == [] and answer.citations == []
    assert answer.text == refusal_text("en")
    # The year the articles state goes through to the model.
    answer = ask("Where did Ruoming Pang work before 2021?", config=config, store=indexed, embedder=fake_embedder, llm=llm)
    assert not answer.refused and len(llm.calls) == 1


def test_question_about_a_version_the_passages_never_name_is_refused_without_the_model(
        indexed, config, fake_embedder):
    # The articles say "Scale AI" but never "Scale AI 2".
    llm = FakeLLM("Pang joined Apple from Alphabet [1].")
    config = config.replace(version_gate=True)  # off by default
    answer = ask("Did Ruoming Pang build Scale AI 2?", config=config, store=indexed, embedder=fake_embedder, llm=llm)
    assert answer.refused and answer.backend == "version-gate" and llm.calls == [] and answer.citations == []
    answer = ask("Did Ruoming Pang work on Scale AI?", config=config, store=indexed, embedder=fake_embedder, llm=llm)
    assert not answer.refused and len(llm.calls) == 1


@pytest.mark.parametrize("rule, question", [
    ("year_gate", "Where did Ruoming Pang work in 2019?"),
    ("version_gate", "Did Ruoming Pang build Scale AI 2?"),
])
def test_a_gate_switched_off_lets_the_question_reach_the_model(indexed, config, fake_embedder, rule, question):
    for off in (config, config.replace(**{rule: True}, rules_off=(rule,))):  # the default, or on and named off
        llm = FakeLLM("Pang joined Apple from Alphabet [1].")
        answer = ask(question, config=off, store=indexed, embedder=fake_embedder, llm=llm)
        assert not answer.refused and len(llm.calls) == 1


def test_without_strong_evidence_retry_a_refusal_is_not_asked_again(indexed, config, fake_embedder):
    llm = FakeLLM("NOT FOUND", avoids_words=True)
    answer = ask("Who is Shengjia Zhao?", config=config.replace(answer_margin=0.0, rules_off=("strong_evidence_retry",)),
                 store=indexed, embedder=fake_embedder, llm=llm)
    assert answer.refused and len(llm.calls) == 1


def test_without_the_invented_figure_refusal_an_answer_with_an_unknown_figure_is_shown(indexed, config, fake_embedder):
    reply = "Pang came from Alphabet with 7777 engineers [1]."
    answer = ask("Where did Ruoming Pang work before Apple?", config=config, store=indexed, embedder=fake_embedder,
                 llm=FakeLLM(reply))
    assert answer.refused
    answer = ask("Where did Ruoming Pang work before Apple?", config=config.replace(rules_off=("invented_figure_refusal",)),
                 store=indexed, embedder=fake_embedder, llm=FakeLLM(reply))
    assert not answer.refused and "7777" in answer.text


def test_a_date_keeps_its_day_without_the_invented_year_unless_the_year_is_asked(indexed, config, fake_embedder):
    # The French article says "Le 29 juillet" (no year); every chunk is read.
    answer = _ask_reading_every_chunk("Shengjia Zhao được bổ nhiệm vào ngày nào?", "Ngày 29 tháng 7 năm 1999 [1].",
                                      indexed, config, fake_embedder)
    assert not answer.refused and answer.text == "Ngày 29 tháng 7 [1]."
    answer = _ask_reading_every_chunk("Shengjia Zhao được bổ nhiệm vào năm nào?", "Ngày 29 tháng 7 năm 1999 [1].",
                                      indexed, config, fake_embedder)
    assert answer.refused  # "in what year": 1999 is the answer, and invented


def test_an_invented_year_in_an_aside_is_dropped_not_the_answer(indexed, config, fake_embedder):
    llm = FakeLLM("Pang, who studied until 2011, came from Alphabet [1].")
    answer = ask("Where did Ruoming Pang work before Apple?", config=config, store=indexed,
                 embedder=fake_embedder, llm=llm)
    assert not answer.refused and answer.text == "Pang came from Alphabet [1]."
    assert "2011" in answer.raw_text  # the model's own words are kept for inspection


def test_a_romanized_name_gets_the_passages_katakana_spelling(indexed, config, fake_embedder):
    # The Japanese passage writes Ruoming Pang only as ルオミン・パン; the model's guess
    # "Ruomin Pan" keeps the source's spelling beside it, and its invented one goes.
    answer = _ask_reading_every_chunk("Who is leaving Apple for Meta?", "Ruomin Pan (Румин Пан) is leaving Apple [1].",
                                      indexed, config, fake_embedder)
    assert not answer.refused and answer.text == "Ruomin Pan (ルオミン・パン) is leaving Apple [1]."


def test_a_question_about_the_chinese_article_reads_it_first(indexed, config, fake_embedder):
    plain = ask("Ruoming Pang Alphabet?", config=config, store=indexed, embedder=fake_embedder, llm=FakeLLM("Pang [1]."))
    assert plain.retrieved[0].chunk.language == "ja"
    llm = FakeLLM("Pang [1].")
    named = ask("Ruoming Pang Alphabet, selon l'article chinois ?", config=config.replace(min_score=0.0),
                store=indexed, embedder=fake_embedder, llm=llm)
    assert named.retrieved[0].chunk.language == "zh"
    assert "[1] (zh)" in llm.calls[0][-1]["content"]  # the model reads it as passage 1


def test_warm_up_reads_the_system_prompt_every_answer_starts_with(indexed, config, fake_embedder):
    from rag.answer import warm_up

    llm = FakeLLM("Pang [1].")
    assert set(warm_up(config=config, llm=llm)) == {"language", "model"}
    answer = ask("Who left Apple?", config=config, store=indexed, embedder=fake_embedder, llm=llm)
    warm, asked = llm.calls
    assert warm[0] == asked[0] and warm[0]["role"] == "system"  # llama.cpp's cached prefix
    assert "language" in answer.timings


def test_warm_up_loads_no_model_for_the_other_backends(config):
    from rag.answer import warm_up

    llm = FakeLLM()
    for backend in ("extractive", "openai"):  # nothing to load; a request to an API would cost
        assert set(warm_up(config=config.replace(llm=backend), llm=llm)) == {"language"}
    assert llm.calls == []


def test_an_app_warming_up_logs_a_failure_instead_of_raising(config, fake_embedder, store, caplog):
    from rag.llm import LLMError
    from rag.resources import Resources

    class BrokenLLM(FakeLLM):
        def stream(self, messages, **kwargs):
            raise LLMError("cannot load the model /x.gguf")

    with caplog.at_level("WARNING"):
        Resources(config, store=store, embedder=fake_embedder, llm=BrokenLLM()).warm_up()
    assert "cannot load the model /x.gguf" in caplog.text


def test_an_app_loads_the_local_model_up_front_and_logs_a_failure(config, fake_embedder, store, caplog, monkeypatch):
    import rag.llm
    from rag.resources import Resources

    loaded = []
    monkeypatch.setattr(rag.llm, "get_llm", lambda *, config: loaded.append(config.llm))
    Resources(config, store=store, embedder=fake_embedder).load_model()
    Resources(config.replace(llm="extractive"), store=store, embedder=fake_embedder).load_model()
    Resources(config, store=store, embedder=fake_embedder, llm=FakeLLM()).load_model()  # a given model
    assert loaded == ["local"]

    def broken(*, config):
        raise rag.llm.LLMError("RAG_MODEL_PATH=/x.gguf does not exist")

    monkeypatch.setattr(rag.llm, "get_llm", broken)
    with caplog.at_level("WARNING"):
        Resources(config, store=store, embedder=fake_embedder).load_model()
    assert "RAG_MODEL_PATH=/x.gguf does not exist" in caplog.text


class OracleLLM:
    """A stronger model: it answers right and cites the passage that holds ``fact``."""

    name = "oracle"
    avoids_words = False

    def __init__(self, answer: str, fact: str) -> None:
        self.answer, self.fact = answer, fact

    def stream(self, messages, *, max_tokens, temperature, avoid=()):
        passages = re.findall(r"^\[(\d+)\] \(\w+\) (.*)$", messages[-1]["content"], flags=re.M)
        n = next(n for n, text in passages if self.fact in text)
        yield f"{self.answer} [{n}]."


ORACLE_CASES = [
    # (article, question, right answer, the fact it rests on)
    ("Acme Robotics raised its Series A from two venture funds in May. It builds warehouse robots.",
     "Which funding round did Acme Robotics raise in May?", "Acme Robotics raised its Series A", "Series A"),
    ("Acme is a top robotics firm. Its chief executive is Jane Roe, who founded it in Lyon.",
     "Who runs Acme, one of the Top 5 robotics firms?", "Jane Roe runs Acme", "Jane Roe"),
    ("Beta Corp paid 3.5 billion dollars for Gamma Labs, the company said on Monday.",
     "How much did Beta Corp pay for Gamma Labs?", "Beta Corp paid 3.5 billion dollars for Gamma Labs", "3.5 billion"),
    ("Beta Corp paid 3.5 billion dollars for Gamma Labs, the company said on Monday.",
     "Wie viel hat Beta Corp für Gamma Labs bezahlt?", "Beta Corp hat 3,5 Milliarden Dollar für Gamma Labs bezahlt",
     "3.5 billion"),
    ("Le laboratoire Delta compte 120 chercheurs à Grenoble depuis sa création.",
     "How many researchers does the Delta lab have?", "The Delta lab has 120 researchers", "120 chercheurs"),
]


@pytest.mark.parametrize("article, question, right, fact", ORACLE_CASES)
def test_a_right_cited_answer_comes_through_every_check_unchanged(tmp_path, config, store, fake_embedder,
                                                                    article, question, right, fact):
    """A stronger model behind RAG_LLM=openai is not made worse: no check rewrites, cuts or
    refuses an answer that is right and cites the passage holding it."""
    folder = tmp_path / "oracle"
    folder.mkdir()
    (folder / "article.txt").write_text(article, encoding="utf-8")
    (folder / "other.txt").write_text("The weather in the north was mild this week, forecasters said.",
                                      encoding="utf-8")
    ingest_paths([folder], config=config, store=store, embedder=fake_embedder)
    answer = ask(question, config=config, store=store, embedder=fake_embedder, llm=OracleLLM(right, fact))
    assert not answer.refused
    assert answer.text == f"{right} [1]."
    assert [c.doc_id for c in answer.citations] == ["article"]


# -- answer_format="json" (rag/structured.py) ----------------------------------------------
class JsonLLM:
    """Replies with JSON built by ``reply(passages)``, passages as [(n, text)]; records schemas."""

    name = "json-llm"
    avoids_words = False
    follows_schema = True

    def __init__(self, reply) -> None:
        self.reply = reply
        self.schemas: list[dict | None] = []

    def stream(self, messages, *, max_tokens, temperature, avoid=(), schema=None):
        import json

        self.schemas.append(schema)
        passages = re.findall(r"^\[(\d+)\] \(\w+\) (.*)$", messages[-1]["content"], flags=re.M)
        reply = self.reply([(int(n), text) for n, text in passages])
        raw = reply if isinstance(reply, str) else json.dumps(reply, ensure_ascii=False)
        for piece in re.findall(r".{1,4}", raw, flags=re.S):
            yield piece


def _holding(passages, fact):
    return next(n for n, text in passages if fact in text)


@pytest.fixture
def generic(tmp_path, config, store, fake_embedder):
    folder = tmp_path / "generic"
    folder.mkdir()
    (folder / "acme.txt").write_text(
        "Acme Robotics is based in Lyon. Its chief executive is Jane Roe. "
        "Acme Robotics raised 40 million euros in May from two funds.", encoding="utf-8")
    (folder / "weather.txt").write_text("The weather in the north was mild this week, forecasters said. "
                                        "Rain fell on 12 days in the valley.", encoding="utf-8")
    ingest_paths([folder], config=config, store=store, embedder=fake_embedder)
    return store


def test_json_answer_is_cited_by_the_code_and_streams_only_the_answer(generic, config, fake_embedder):
    llm = JsonLLM(lambda p: {"evidence": [_holding(p, "Jane Roe")], "answer": "Jane Roe runs Acme Robotics."})
    items = list(ask_stream("Who runs Acme Robotics?", config=config.replace(answer_format="json"), store=generic,
                            embedder=fake_embedder, llm=llm))
    answer = items[-1]
    assert "".join(items[:-1]) == "Jane Roe runs Acme Robotics."
    assert answer.text == "Jane Roe runs Acme Robotics [1]." and not answer.refused
    assert [c.doc_id for c in answer.citations] == ["acme"] and "Jane Roe" in answer.citations[0].text
    assert llm.schemas[0]["properties"]["evidence"]["items"]["enum"] == [1, 2, 3][: len(answer.retrieved[:3])]


@pytest.mark.parametrize("reply", [{"evidence": [], "answer": ""}, {"evidence": [1], "answer": "NOT FOUND"},
                                   {"evidence": [1], "answer": "Qui dirige Acme Robotics ?"}])
def test_json_reply_without_evidence_or_answer_is_a_localised_refusal(generic, config, fake_embedder, reply):
    llm = JsonLLM(lambda p: reply)
    answer = ask("Qui dirige Acme Robotics ?", config=config.replace(answer_format="json", answer_margin=99.0),
                 store=generic, embedder=fake_embedder, llm=llm)
    assert answer.refused and answer.citations == [] and answer.text == refusal_text("fr")
    assert len(llm.schemas) == 1  # weak evidence: no second attempt


def test_json_refusal_on_strong_evidence_is_asked_again_with_no_way_out(generic, config, fake_embedder):
    replies = iter([{"evidence": [], "answer": ""}, None])
    llm = JsonLLM(lambda p: next(replies) or {"evidence": [_holding(p, "Lyon")], "answer": "In Lyon."})
    answer = ask("Where is Acme Robotics based?", config=config.replace(answer_format="json", answer_margin=-9.0),
                 store=generic, embedder=fake_embedder, llm=llm)
    assert answer.text == "In Lyon [1]." and not answer.refused
    assert "minItems" not in llm.schemas[0]["properties"]["evidence"]
    assert llm.schemas[1]["properties"]["evidence"]["minItems"] == 1


def test_json_figure_from_an_uncited_passage_cites_that_passage_too(generic, config, fake_embedder):
    llm = JsonLLM(lambda p: {"evidence": [_holding(p, "Jane Roe")], "answer": "Jane Roe's firm raised 40 million euros."})
    answer = ask("How much did Acme Robotics raise?", config=config.replace(answer_format="json"), store=generic,
                 embedder=fake_embedder, llm=llm)
    assert not answer.refused
    assert any("40 million" in c.text for c in answer.citations)


def test_json_answer_with_a_figure_no_passage_holds_is_refused(generic, config, fake_embedder):
    llm = JsonLLM(lambda p: {"evidence": [_holding(p, "40 million")], "answer": "Acme raised 75 million euros."})
    answer = ask("How much did Acme Robotics raise?", config=config.replace(answer_format="json"), store=generic,
                 embedder=fake_embedder, llm=llm)
    assert answer.refused and answer.citations == []


def test_json_mode_reads_a_server_reply_that_ignored_the_schema_as_plain_text(generic, config, fake_embedder):
    llm = JsonLLM(lambda p: f"Jane Roe runs it [{_holding(p, 'Jane Roe')}].")
    answer = ask("Who runs Acme Robotics?", config=config.replace(answer_format="json"), store=generic,
                 embedder=fake_embedder, llm=llm)
    assert answer.text == "Jane Roe runs it [1]." and answer.citations[0].doc_id == "acme"


class JsonOracleLLM(JsonLLM):
    def __init__(self, answer: str, fact: str) -> None:
        super().__init__(lambda p: {"evidence": [_holding(p, fact)], "answer": answer + "."})


@pytest.mark.parametrize("article, question, right, fact", ORACLE_CASES)
def test_a_right_json_answer_comes_through_every_check_unchanged(tmp_path, config, store, fake_embedder,
                                                                 article, question, right, fact):
    folder = tmp_path / "oracle"
    folder.mkdir()
    (folder / "article.txt").write_text(article, encoding="utf-8")
    (folder / "other.txt").write_text("The weather in the north was mild this week, forecasters said.",
                                      encoding="utf-8")
    ingest_paths([folder], config=config, store=store, embedder=fake_embedder)
    answer = ask(question, config=config.replace(answer_format="json"), store=store, embedder=fake_embedder,
                 llm=JsonOracleLLM(right, fact))
    assert not answer.refused
    assert answer.text == f"{right} [1]."
    assert [c.doc_id for c in answer.citations] == ["article"]
