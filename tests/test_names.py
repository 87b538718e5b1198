"""The passages' katakana spelling beside a romanized name (rag/names.py), no model."""

import pytest

from rag.names import add_source_spellings, matching_katakana_name, romanize_katakana, sound_key

PASSAGES = [
    "ブルームバーグは、メタ社が元ディープマインドの研究者ジャック・ライ氏とセサミの機械学習専門家ヨハン・シャルクウィク氏を採用した。",
    "ダニエル・グロス氏とナット・フリードマン氏の採用も試みた。",
    "ルーカス・ベイヤー、アレクサンダー・コレスニコフ、シャオファ・ツァイの3人の元OpenAI研究者だ。",
    "新しいモデルとチームについて、Alexandr Wang が語った。",
]


@pytest.mark.parametrize("kana, reading", [
    ("ジャック・ライ", "jakku rai"),
    ("シャオファ・ツァイ", "shaofa tsai"),
    ("ルーカス・ベイヤー", "ruukasu beiyaa"),
    ("ナット・フリードマン", "natto furiidoman"),
    ("ヴァー", "vaa"),
])
def test_romanize_katakana(kana, reading):
    assert romanize_katakana(kana) == reading


def test_sound_key_merges_what_katakana_does_not_tell_apart():
    assert sound_key("Jack Lay") == sound_key("jakku rai") == "jkr"  # l/r, ck, vowels
    assert sound_key("Groß") == sound_key("gurosu")
    assert sound_key("Bayer") != sound_key("Meyer")


@pytest.mark.parametrize("latin, name", [
    ("Jack Lay", "ジャック・ライ"),
    ("Yan Shalquick", "ヨハン・シャルクウィク"),
    ("Nat Friedmann", "ナット・フリードマン"),
    ("Alexander Coresnicof", "アレクサンダー・コレスニコフ"),
    ("Lucas Bayer", "ルーカス・ベイヤー"),
    ("Tim Cook", None),       # no such name in the passages
    ("Millionen Dollar", None),  # capitalised German nouns are no name
])
def test_matching_katakana_name(latin, name):
    names = ["ジャック・ライ", "ヨハン・シャルクウィク", "ナット・フリードマン", "アレクサンダー・コレスニコフ",
             "ルーカス・ベイヤー", "ダニエル・グロス"]
    assert matching_katakana_name(latin, names) == name


def test_two_names_that_sound_alike_are_not_guessed_between():
    assert matching_katakana_name("Daniel Gros", ["ダニエル・グロス", "ダニエル・グラス"]) is None


def test_add_source_spellings_after_a_romanized_name():
    text = "Os três são Lucas Bayer, Alexander Coresnicof e Shao Fa-Tai [1]."
    assert add_source_spellings(text, PASSAGES) == (
        "Os três são Lucas Bayer (ルーカス・ベイヤー), Alexander Coresnicof (アレクサンダー・コレスニコフ) "
        "e Shao Fa-Tai (シャオファ・ツァイ) [1].")


def test_add_source_spellings_inside_the_models_parentheses():
    text = "un ancien chercheur de DeepMind (Jack Lay) et un expert de Sesame (Yan Shalquick) [1]."
    assert add_source_spellings(text, PASSAGES) == (
        "un ancien chercheur de DeepMind (Jack Lay, ジャック・ライ) et un expert de Sesame "
        "(Yan Shalquick, ヨハン・シャルクウィク) [1].")


def test_add_source_spellings_leaves_spelled_and_unknown_names_alone():
    for text in ("Daniel Gross (ダニエル・グロス) e Nat Friedman (ナット・フリードマン) [1].",  # already given
                 "Alexandr Wang dirige le laboratoire [1].",  # a passage spells it so
                 "Apple's CEO is Tim Cook.",  # nothing sounds like it
                 "Die beiden Modelle heißen Dialog und Play AI [1]."):
        assert add_source_spellings(text, PASSAGES) == text
    assert add_source_spellings("Jack Lay [1]", ["No katakana here."]) == "Jack Lay [1]"


def test_a_guess_in_parentheses_after_a_spelled_name_is_not_spelled_again():
    from rag.prompts import strip_invented_spellings

    text = add_source_spellings("Daniel Gros (Danieel Groß) e Nat Friedmann [1].", PASSAGES)
    assert text == "Daniel Gros (ダニエル・グロス) (Danieel Groß) e Nat Friedmann (ナット・フリードマン) [1]."
    # The invented guess in parentheses is then removed, the source's spelling kept.
    assert strip_invented_spellings(text, PASSAGES) == "Daniel Gros (ダニエル・グロス) e Nat Friedmann (ナット・フリードマン) [1]."
    assert strip_invented_spellings("DeepMind (Jack Lay, ジャック・ライ) [1]", PASSAGES) == "DeepMind (Jack Lay, ジャック・ライ) [1]"
