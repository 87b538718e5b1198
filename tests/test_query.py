import pytest

from conftest import FakeLLM
from rag.answer import ask
from rag.indexing import ingest_paths
from rag.query import clean_translation, translate_question


def test_clean_translation():
    assert clean_translation('Translation: "Wer ist Pang?"\nextra') == "Wer ist Pang?"
    assert clean_translation("\n\n翻译：庞若鸣是谁？") == "庞若鸣是谁？"
    assert clean_translation("  ") == ""


def test_translate_question_skips_failures_and_echoes():
    def reply(messages):
        target = messages[-1]["content"]
        if "Japanese" in target:
            return "パン氏はどこから来た？"
        if "French" in target:
            return "Where did Pang come from?"  # the model echoed the question
        return ""

    out = translate_question("Where did Pang come from?", ["ja", "fr", "zh"], llm=FakeLLM(reply))
    assert out == {"ja": "パン氏はどこから来た？"}


def test_ask_searches_with_translations_in_the_index_languages(articles, config, store, fake_embedder):
    ingest_paths([articles], config=config, store=store, embedder=fake_embedder)

    def reply(messages):
        prompt = messages[-1]["content"]
        if prompt.startswith("Translate into Chinese"):
            return "庞若鸣在Meta未来四年的总收入是多少？"
        if prompt.startswith("Translate into"):
            return ""  # a failed translation is skipped
        return "Bis zu 200 Millionen Dollar [1]."

    llm = FakeLLM(reply)
    answer = ask("Wie viel verdient Ruoming Pang in vier Jahren bei Meta?", config=config.replace(translate_queries=True),
                 store=store, embedder=fake_embedder, llm=llm)
    asked = sorted(call[-1]["content"].split(":")[0] for call in llm.calls[:-1])
    assert asked == ["Translate into Chinese", "Translate into French", "Translate into Japanese"]
    assert "translate" in answer.timings
    # The Chinese translation is what finds the Chinese passage.
    assert answer.retrieved[0].chunk.doc_id == "zh_apple"
    assert answer.citations[0].doc_id == "zh_apple"


@pytest.mark.parametrize("reply, follow_up", [
    ("Yes", True), ("yes.", True), ("No", False), ("no, it starts a new subject", False), ("**No**", False),
    ("", True), ("Not sure", True), ("Nobody knows", True),
])
def test_only_a_clear_no_makes_a_new_subject(reply, follow_up):
    from conftest import FakeLLM
    from rag.query import refers_to_conversation

    llm = FakeLLM(reply)
    assert refers_to_conversation("Who won the World Cup?", [("Who is Pang?", "An engineer.")], llm=llm) is follow_up
    assert "Who won the World Cup?" in llm.calls[0][1]["content"] and "Who is Pang?" in llm.calls[0][1]["content"]
