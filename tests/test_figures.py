import pytest

from rag.figures import parse_number, repair_scales, stated_values
from rag.prompts import annotate_cjk_numbers

# Passages as the model reads them: CJK figures carry their Western reading.
PASSAGES = [annotate_cjk_numbers(t) for t in (
    "Metaは今年、データセンターに最大650億ドルを投じる。",
    "MetaはScale AIに143億ドルを出資した。",
    "データサイエンス部門のマネージャーは年収130万ドル、エンジニアは32万ドル。",
)]


@pytest.mark.parametrize("text, value", [
    ("14.3", 14.3), ("14,3", 14.3), ("1,300,000", 1_300_000), ("1.300.000", 1_300_000),
    ("65,000", 65_000), ("650", 650), ("1,5", 1.5), ("1.300,5", 1300.5), ("1,300.5", 1300.5),
])
def test_parse_number_reads_both_decimal_conventions(text, value):
    assert parse_number(text) == value


def test_stated_values_reads_cjk_units_western_scale_words_and_plain_numbers():
    values, by_digits = stated_values(PASSAGES[0])
    assert {65e9, 650} <= values
    assert by_digits["650"] == {65e9}
    values, _ = stated_values("Meta a investi 72 milliards de dollars, soit 2 millions par jour.")
    assert {72e9, 2e6} <= values


@pytest.mark.parametrize("answer, language, repaired", [
    # The digits of 650億 read as 650 billion: rewritten in the answer's own scale word.
    ("Meta wird höchstens 650 Milliarden Euro ausgeben [1].", "de", "Meta wird höchstens 65 Milliarden Euro ausgeben [1]."),
    ("Meta invested $143 billion in Scale AI [2].", "en", "Meta invested $14.3 billion in Scale AI [2]."),
    ("Un gerente puede ganar 130 millones [3].", "es", "Un gerente puede ganar 1,3 millones [3]."),
    ("Meta đầu tư 143 tỷ đô la [2].", "vi", "Meta đầu tư 14,3 tỷ đô la [2]."),
    # 143億 read as 143 millions: the value in millions has five digits, kept whole.
    ("Meta invirtió 143 millones de dólares en Scale AI [1].", "es",
     "Meta invirtió 14300 millones de dólares en Scale AI [1]."),
])
def test_a_misread_cjk_figure_gets_the_passages_value(answer, language, repaired):
    assert repair_scales(answer, PASSAGES, language=language) == repaired


@pytest.mark.parametrize("answer", [
    "Meta will spend up to 65 billion dollars [1].",  # right
    "Meta wird bis zu 65 Milliarden Dollar ausgeben [1].",  # right, other language
    "最大650億ドル [1]",  # the passage's own writing
    "An engineer earns $320,000 a year [3].",  # plain figure, stated as such
    "Meta invested 7 billion [2].",  # matches nothing: the invented-number check's business
    "He was 28 years old.",  # no scale word
    "Meta made 650 millionaires [1].",  # a word that starts like a scale word
    "Meta invirtió 14300 millones [2].",  # right, in millions: not "1430" and "0 millones"
    "Meta invirtió 14.300 millones [2].",  # the same, as Spanish groups thousands
])
def test_figures_that_match_or_match_nothing_are_left_alone(answer):
    assert repair_scales(answer, PASSAGES, language="en") == answer


def test_digits_that_stand_for_two_values_are_left_alone():
    passages = ["A: 130万ドル", "B: 130億ドル"]
    assert repair_scales("130 billion", passages) == "130 billion"


def test_a_range_shares_its_scale_word():
    passages = [annotate_cjk_numbers("年間1000万ドルから4000万ドルのオファー")]
    assert repair_scales("zwischen 1000 und 4000 Millionen Dollar [1]", passages, language="de") == \
        "zwischen 10 und 40 Millionen Dollar [1]"
    assert repair_scales("from 10 to 40 million [1]", passages) == "from 10 to 40 million [1]"
    # A year before "and" is no end of the range: its digits stand for no passage figure.
    assert repair_scales("in 2021 and 4000 million", passages) == "in 2021 and 40 million"


GPU_PASSAGES = [annotate_cjk_numbers("MetaはNvidiaのGPUを130万個以上備える大規模な施設を2026年に建設する。"),
                "Meta a embauché 45 chercheurs et payé 2 millions."]


@pytest.mark.parametrize("answer, repaired", [
    # 130万 read as 130 thousand: the value of the passage, in the answer's own separators.
    ("Incluirá 130,000 GPU de Nvidia [1].", "Incluirá 1,300,000 GPU de Nvidia [1]."),
    ("Es wird 130.000 GPUs haben [1].", "Es wird 1.300.000 GPUs haben [1]."),
    ("Il aura 130 000 GPU [1].", "Il aura 1 300 000 GPU [1]."),
    # Stated values, years, and numbers whose digits match no scaled figure stay.
    ("Incluirá 1.300.000 GPU [1].", "Incluirá 1.300.000 GPU [1]."),
    ("En 2026 [1], con 1300 GPU.", "En 2026 [1], con 1300000 GPU."),
    ("Built in 2013 [1].", "Built in 2013 [1]."),
    ("It has 45,000 GPUs [1].", "It has 45,000 GPUs [1]."),
    # With a scale word it is the scale repair's, which wants the same digits.
    ("Es wird 130.000 Millionen kosten [1].", "Es wird 130.000 Millionen kosten [1]."),
    # A line break is no thousands separator (the invented-number check reads it so too).
    ("Il aura 130\n000 GPU [1].", "Il aura 130\n000 GPU [1]."),
])
def test_a_cjk_figure_read_as_thousands_gets_the_passages_value(answer, repaired):
    assert repair_scales(answer, GPU_PASSAGES, language="es") == repaired


def test_spelled_out_repair_needs_a_single_meaning():
    # 2 millions (plain passage) and 2万 both have the digits "2": ambiguous, left alone.
    passages = [annotate_cjk_numbers("年収は2万ドル。"), "Il a payé 2 millions."]
    assert repair_scales("He earned 2,000 dollars [1].", passages) == "He earned 2,000 dollars [1]."


def test_thousands_grouped_with_spaces_are_one_number():
    passage = "d'autres proposent des systèmes avec plus de 1 000 milliards de paramètres, et 3 milliards sur l'appareil."
    values, by_digits = stated_values(passage)
    assert 1e12 in values and by_digits["1000"] == {1e12}
    assert parse_number("1 000") == 1000 and parse_number("1\u202f300\u00a0000") == 1_300_000
    # "1 tỷ" (1 billion) for 1 000 milliards: the model stopped at the space.
    assert repair_scales("Đối thủ có hơn 1 tỷ tham số [1].", [passage], language="vi") == "Đối thủ có hơn 1000 tỷ tham số [1]."
    # "1 000 tỷ" states the passage's value: neither invented nor repaired.
    assert repair_scales("Đối thủ có hơn 1 000 tỷ tham số [1].", [passage], language="vi") == "Đối thủ có hơn 1 000 tỷ tham số [1]."
    from rag.refusal import unsupported_numbers

    assert unsupported_numbers("more than 1 000 billion parameters [1]", [passage]) == []
    assert repair_scales("Es sind 3 Milliarden [1].", [passage], language="de") == "Es sind 3 Milliarden [1]."


def test_a_date_before_a_number_is_not_read_as_one_figure():
    from rag.refusal import unsupported_numbers

    assert unsupported_numbers("Le 7 2025 ou en 2019 100 personnes [1].", ["7, 2025, 2019 et 100"]) == []
