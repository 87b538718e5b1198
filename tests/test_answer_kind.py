import pytest

from rag.answer_kind import YEAR, question_answer_kind, sentence_has_kind


@pytest.mark.parametrize("question", [
    "And in what year did he join Apple?",
    "In welchem Jahr kam er zu Apple?",
    "En quelle année a-t-il rejoint Apple ?",
    "¿En qué año propuso el equipo publicar sus modelos?",
    "Anh ấy gia nhập Apple năm nào?",
    "彼は何年にAppleに入社しましたか?",
    "他是哪一年加入苹果的?",
    "그는 몇 년에 애플에 입사했나요?",
    "В каком году он пришёл в Apple?",
])
def test_year_questions(question):
    assert question_answer_kind(question) == YEAR


@pytest.mark.parametrize("question", [
    "How old is Ruoming Pang?",
    "How large a stake did that buy?",  # percentages: measured, left out
    "When did Pang join Apple?",  # "when" asks for dates as often as years
    "What part of Luther's career was most productive?",  # "part" is not "quelle part"
    "彼は何年間Appleで働きましたか?",  # how many years: a duration, not a year
    "Wie viel will Meta ausgeben?",
    "",
])
def test_other_questions_have_no_kind(question):
    assert question_answer_kind(question) is None


def test_sentences_holding_a_kind():
    assert sentence_has_kind("この情報筋によると、2021年にアルファベットからアップルに加わったパン氏は", YEAR)
    assert sentence_has_kind("Pang joined in 2021.", YEAR)
    assert not sentence_has_kind("Meta invested $14.3 billion for 1,300,000 GPUs.", YEAR)
    assert not sentence_has_kind("It reached 2021.5 points.", YEAR)  # a decimal, not a year
    assert sentence_has_kind("这场战争持续到 1279 年，最终蒙古人控制了整个中国。", YEAR)
    assert sentence_has_kind("术赤 (1185 -1226)", YEAR)
    assert not sentence_has_kind("Meta hat 45 Forscher kontaktiert.", YEAR)
