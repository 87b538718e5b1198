import pytest

from rag.language import detect_language, refusal_text


@pytest.mark.parametrize(
    "text,code",
    [
        ("Which company did Ruoming Pang work for before joining Apple?", "en"),
        ("Für welches Unternehmen arbeitete Ruoming Pang, bevor er zu Apple kam?", "de"),
        ("¿Para qué empresa trabajaba Ruoming Pang antes de unirse a Apple?", "es"),
        ("Ruoming Pang đã làm việc cho công ty nào trước khi gia nhập Apple?", "vi"),
        ("Pour quelle entreprise Ruoming Pang travaillait-il avant Apple ?", "fr"),
        ("パン氏はどこから来ましたか？", "ja"),
        ("庞若鸣加入了哪家公司？", "zh"),
        ("팡은 어느 회사로 옮겼나요?", "ko"),
    ],
)
def test_detects_question_languages(text, code):
    assert detect_language(text) == code


@pytest.mark.parametrize("text, code", [
    # Short questions whose names outvoted their words (read as nb, nb, en, en, en, ro).
    ("Wie alt ist Alexandr Wang?", "de"),
    ("Qui est Alexandr Wang ?", "fr"),
    ("Wer ist Tim Cook?", "de"),
    ("Что делала компания Tesla Electric Light & Manufacturing?", "ru"),
    ("Πόσα tackles κατέγραψε ο Luke Kuechly;", "el"),
    ("Who won the Ekstraklasa Championship in 2000?", "en"),
])
def test_names_do_not_outvote_a_short_questions_words(text, code):
    assert detect_language(text) == code


def test_names_are_left_out_unless_nothing_else_would_be_left():
    from rag.language import _without_names

    assert _without_names("Wie alt ist Alexandr Wang?") == "Wie alt ist  ?"
    assert _without_names("Что делала компания Tesla?") == "Что делала компания ?"  # Latin words in Cyrillic
    assert _without_names("Was ist die NASUWT?") == "Was ist die ?"  # a word in capitals
    assert _without_names("Tim Cook?") == "Tim Cook?"


def test_empty_text_gets_default():
    assert detect_language("   ", default="en") == "en"


def test_refusals_are_localised_with_english_fallback():
    assert refusal_text("de") != refusal_text("en")
    assert refusal_text("xx") == refusal_text("en")


@pytest.mark.parametrize("question, code", [
    ("Theo bài báo tiếng Trung, Meta đưa ra mức lương bao nhiêu?", "zh"),
    ("据法语报道,为了留住人才,苹果采取了什么措施?", "fr"),
    ("Dans l'article chinois, quel média est cité ?", "zh"),
    ("中国語の記事によると、Appleは何を開放しましたか?", "zh"),
    ("Was steht im japanischen Artikel über Pang?", "ja"),
    ("What does the article written in French say?", "fr"),
    # No article named, or two: no preference.
    ("Que pense le gouvernement français ?", None),
    ("What does the Chinese and the French article say?", None),
    ("Was sagt Russell über den Artikel?", None),
    ("What does the article say about China?", None),
    ("¿Qué dice el artículo chino?", "zh"),
    ("Who is Ruoming Pang?", None),
])
def test_named_article_language(question, code):
    from rag.language import named_article_language

    assert named_article_language(question) == code


@pytest.mark.models  # lingua's models, all of them: ~10-30 s
def test_preloaded_models_detect_as_the_lazy_ones():
    from rag import language

    texts = ["Wer leitet das Labor seit dem Sommer?", "Кто руководит лабораторией?", "https://example.com/a?b=c"]
    lazy = [language.detect_language(t) for t in texts]
    language.preload_language_models()
    assert language._built.get("preloaded") is True
    assert [language.detect_language(t) for t in texts] == lazy == ["de", "ru", lazy[2]]


@pytest.mark.parametrize("answer, code", [
    ("Vier Experten wechselten innerhalb eines Monats zu Meta [1].", "de"),
    ("Four experts moved to Meta within a month [1].", "en"),
    # A name's spelling from the passage, in parentheses, does not make it Japanese.
    ("Anna Berg (アンナ・ベルク) hat das Werk in Graz eröffnet [2].", "de"),
    # Japanese words outside parentheses do.
    ("회사는 올해 650억ドル를 투자했습니다 [1].", "ja"),
    # A short CJK sentence is enough.
    ("他于2019年加入苹果公司[1]。", "zh"),
    ("판 씨는 2021년 애플에 합류했다 [1].", "ko"),
    # Too little left to tell: a figure, a name.
    ("741 [1]", None),
    ("Anna Berg (アンナ・ベルク) [1]", None),
    ("Lumex Holdings [1].", None),
])
def test_answer_language(answer, code):
    from rag.language import answer_language

    assert answer_language(answer) == code
