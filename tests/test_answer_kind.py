import pytest

from rag.answer_kind import ORDINAL, YEAR, question_answer_kind, sentence_has_kind


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
    "Meta には何人の研究者が移りましたか?",  # how many people: a count, not an ordinal
    "What place did the Panthers finish in?",  # English has no "how-manyth" word
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


@pytest.mark.parametrize("question", [
    "彼はAppleのAIチームからMetaのスーパーインテリジェンス・ラボに移った何人目の人物ですか?",
    "巴西的大豆产量在全球排第几名？",
    "그는 애플을 떠난 몇 번째 연구원인가요?",
    "Kenya xếp thứ mấy trên thang đo năm 2012?",  # a year in it, but not asked for
    "Der wievielte Forscher von Apple war er?",
    "C'est la quantième personne à partir ?",
    "Который по счёту это исследователь?",
])
def test_ordinal_questions(question):
    assert question_answer_kind(question) == ORDINAL


@pytest.mark.parametrize("sentence", [
    "Il s'agit de la quatrième personne de l'équipe IA d'Apple.",
    "He is the fourth to leave.", "placed 139th out of 176", "Il est arrivé 2e.",
    "アップルを去った4人目の研究者だ。", "第四位", "他是第4个离开的人。", "네 번째 연구원",
    "Đây là người thứ tư rời Apple.", "Он четвёртый исследователь.", "Er ist der vierte Forscher.",
    "Es la cuarta persona.",
])
def test_sentences_holding_an_ordinal(sentence):
    assert sentence_has_kind(sentence, ORDINAL)


def test_sentences_without_an_ordinal():
    for sentence in ("Meta a recruté quatre chercheurs.", "4人の研究者", "Ruoming Pang joined in 2021.",
                     "Prima di tutto, Meta ha investito.", "Он пришёл в пятницу."):
        assert not sentence_has_kind(sentence, ORDINAL), sentence
