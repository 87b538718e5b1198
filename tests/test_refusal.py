"""Refusal decisions (rag/refusal.py) on literal text, no model."""

import pytest

from rag.refusal import (drop_unsupported_asides, is_non_answer, is_refusal, unsupported_numbers,
                         versions_not_in_articles, years_not_in_passages)


@pytest.mark.parametrize(
    "text,refused",
    [
        ("NOT FOUND", True),
        ("NOT FOUND.", True),
        ("", True),
        ("The passages do not mention his age.", True),
        ("Pang worked at Alphabet [1].", False),
        ("Pang worked at Alphabet [1]. NOT FOUND", False),
    ],
)
def test_is_refusal(text, refused):
    assert is_refusal(text) is refused


@pytest.mark.parametrize(
    "text,non_answer",
    [
        ("[1]", True),
        (" [1]. ", True),
        ("Một quản lý khoa học dữ liệu tại Meta có thể kiếm được bao nhiêu mỗi năm? [1]", True),
        ("Một quản lý khoa học dữ liệu tại Meta có thể kiếm được 320.000 USD mỗi năm [1].", False),
        ("Pang worked at Alphabet [1].", False),
        # A sentence that stops where the answer should be.
        ("Le nom est [6].", True),
        ("The name of the outlet is [2].", True),
        ("Der Name des Mediums ist der [2].", True),
        # Short answers, and sentences that end in a verb, do say something.
        ("Ten [1].", False),
        ("Le média est la BBC [1].", False),
        ("Es ist 28 [1].", False),
        ("Er ist der Vierte, der gegangen ist [1].", False),
        ("Jared Allen führte die Panther an [1].", False),
        ("Il est là [1].", False),
        ("Yes [1].", False),
        # A capital makes the word part of a name; in lower case it still dangles.
        ("Acme raised its Series A [1].", False),
        ("The round was led by a [1].", True),
        ("是トラピット [1]。", False),
    ],
)
def test_is_non_answer(text, non_answer):
    question = "Một quản lý khoa học dữ liệu tại Meta có thể kiếm được bao nhiêu mỗi năm?"
    assert is_non_answer(text, question) is non_answer


def test_unsupported_numbers_are_the_ones_no_source_holds():
    from rag.prompts import annotate_cjk_numbers

    passages = [annotate_cjk_numbers("メタ社はScale AIに143億ドルを投資して49%の株式を取得した。"),
                annotate_cjk_numbers("Meta plant 130万個のGPU und 2021 kam Pang.")]
    # Converted, re-separated and German-decimal forms of what the passages say are fine.
    assert unsupported_numbers("Meta investierte 14,3 Milliarden Dollar für 49 % [1].", passages) == []
    assert unsupported_numbers("1.300.000 GPUs [2], 1,3 Millionen, since 2021 [2].", passages) == []
    # An invented figure is not; single digits and the citation markers are left alone.
    assert unsupported_numbers("The iPhone 16 Pro costs $1,299 [1].", passages) == ["1299", "16"]
    assert unsupported_numbers("Four years, 4 of them [12].", passages) == []
    # The question and the conversation count as sources too.
    assert unsupported_numbers("In late 2024 [1].", passages + ["What happened in late 2024?"]) == []


def test_years_not_in_passages():
    passages = ["2021年にアルファベットからアップルに加わった。", "Le 29 juillet 2025, Meta a nommé Shengjia Zhao."]
    assert years_not_in_passages("When did Pang join Apple in 2021?", passages) == []
    assert years_not_in_passages("苹果公司2024财年的总营收是多少?", passages) == ["2024"]
    assert years_not_in_passages("Ai đã đoạt giải Nobel Văn học năm 2023 và 2025?", passages) == ["2023"]
    assert years_not_in_passages("Was geschah im Jahr ２０２１?", passages) == []  # full-width digits
    # Figures that are no years, and years inside longer numbers, are left to the model.
    assert years_not_in_passages("Who earns 1,999,000 or 20235 dollars, or 2,024.5?", passages) == []
    assert years_not_in_passages("What did Meta pay?", []) == []
    assert years_not_in_passages("Which network led in the 1970s, or in the 1980年代?", passages) == []


def test_versions_not_in_articles():
    chunks = ["- 49mm Apple Watch Ultra 2:7%オフの741ドル", "新しいiPhoneおよびiPadアプリを開発できる", "GPT-4o et Llama-3"]
    assert versions_not_in_articles("¿Cuál es el precio del iPhone 16 Pro?", chunks) == ["iPhone 16"]
    assert versions_not_in_articles("Was kostet die Apple Watch Ultra 2?", chunks) == []
    assert versions_not_in_articles("Qu'a dit Meta sur Llama 4 ?", chunks) == ["Llama 4"]
    assert versions_not_in_articles("Et Llama 3 ?", chunks) == []  # "Llama-3" in the article
    # A name the articles don't use may be translated there: not judged.
    assert versions_not_in_articles("Who won Super Bowl 50?", ["第50届超级碗"]) == []
    # Dates, years and longer figures are not versions.
    assert versions_not_in_articles("What happened on July 7?", ["Le 7 July, Meta a recruté.", "In July"]) == []
    assert versions_not_in_articles("Wer war beim Super Bowl XXXIII 38 Jahre alt?", ["Super Bowl XXXIII"]) == []
    assert versions_not_in_articles("What did the iPhone sell in 2024 or 1,500 units?", chunks) == []
    # The name must be the articles' name, in their case: "top" and "windows" are words.
    assert versions_not_in_articles("Who leads the Top 5 robotics firms?", ["Acme is a top robotics firm."]) == []
    assert versions_not_in_articles("Does it run on Windows 11?", ["The storm broke windows."]) == []
    assert versions_not_in_articles("Does it run on Windows 11?", ["It runs on Windows 10."]) == ["Windows 11"]


@pytest.mark.parametrize("answer, kept", [
    ("Alexandr Wang (アレクサンドル・ワン), who founded Scale AI in 2015, was 28 [2]. Meta took 49% [1].",
     "Alexandr Wang (アレクサンドル・ワン) was 28 [2]. Meta took 49% [1]."),
    ("Wang (born 1997) was 28 [1].", "Wang was 28 [1]."),
    ("王28岁，2015年创立公司，加入了Meta [1]。", "王28岁加入了Meta [1]。"),
    # In the main clause the figure is the answer itself: left for the check to refuse.
    ("He joined Apple in 2015 [1].", "He joined Apple in 2015 [1]."),
    ("Meta paid 100 dollars, then 49% [1].", "Meta paid 100 dollars, then 49% [1]."),
    # Supported figures in an aside stay.
    ("Wang, aged 28, leads the lab [1].", "Wang, aged 28, leads the lab [1]."),
])
def test_drop_unsupported_asides(answer, kept):
    assert drop_unsupported_asides(answer, ["Wang, 28歳, 49%の株式"]) == kept


@pytest.mark.parametrize("answer, kept", [
    # A date the model completed with a year no passage has: the year goes.
    ("Ngày 29 tháng 7 năm 2021.", "Ngày 29 tháng 7."),
    ("July 29, 2021 [1].", "July 29 [1]."),
    ("Le 29 juillet 2021 [1].", "Le 29 juillet [1]."),
    ("Am 29. Juli 2021 [1].", "Am 29. Juli [1]."),
    ("El 29 de julio de 2021 [1].", "El 29 de julio [1]."),
    ("On 29 July 2021, Zhao was named [1].", "On 29 July, Zhao was named [1]."),
    ("2021年7月29日に任命された。", "7月29日に任命された。"),
    ("2021년 7월 29일입니다.", "7월 29일입니다."),
    # Not a date: left for the invented-number check.
    ("He joined Apple in 2015 [1].", "He joined Apple in 2015 [1]."),
    ("Meta paid 12 2015 dollars [1].", "Meta paid 12 2015 dollars [1]."),
    # A year the passages have stays.
    ("Le 29 juillet 2024 [1].", "Le 29 juillet 2024 [1]."),
])
def test_an_invented_year_completing_a_date_is_dropped(answer, kept):
    sources = ["le 29 juillet, Meta a nommé Zhao", "7月29日", "Meta a dépensé 12 milliards en 2024"]
    assert drop_unsupported_asides(answer, sources) == kept
    # Asked for a year, the model's year is the answer itself: left for the check.
    assert drop_unsupported_asides(answer, sources, year_wanted=True) == answer


@pytest.mark.parametrize("answer", [
    "Meta invirtió 14.300 millones de dólares [1].",  # how Spanish writes 14.3 billion
    "Meta investierte 14.300 Millionen Dollar [1].",
    "Meta invested 14,300 million dollars [1].",
    "Meta invirtió 14,3 mil millones de dólares [1].",
])
def test_a_figure_with_a_scale_word_is_judged_by_its_value(answer):
    from rag.prompts import annotate_cjk_numbers

    passages = [annotate_cjk_numbers("メタ社はScale AIに143億ドルを投資して49%の株式を取得し")]
    assert unsupported_numbers(answer, passages) == []
    assert unsupported_numbers(answer.replace("14", "15"), passages) != []  # another value: invented
