"""Names across scripts: the passage's own spelling beside the model's romanization.

Japanese articles write foreign names in katakana only (ジャック・ライ for Jack Rae). The
prompt asks for "your language's spelling, then the passage's spelling in parentheses",
but the 1.5B model guesses a romanization ("Jack Lay", "Nat Friedmann") and puts that
guess in the parentheses too, or nothing. A guess can't be checked against the article
and a reader can't look it up in it; the katakana can. So after generation a Latin-script
name that no passage spells is matched by sound against the katakana names of the
passages the model read, and the one clear match is written after it:
"Jack Lay (ジャック・ライ)". Nothing is removed or renamed: the guess stays as the model
wrote it, with the source's spelling next to it.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from typing import Sequence

from .prompts import squeeze_spelling

_VOWELS = "aiueo"
_KANA: dict[str, str] = {}
for _consonant, _row in {
    "": "アイウエオ", "k": "カキクケコ", "g": "ガギグゲゴ", "s": "サシスセソ", "z": "ザジズゼゾ",
    "t": "タチツテト", "d": "ダヂヅデド", "n": "ナニヌネノ", "h": "ハヒフヘホ", "b": "バビブベボ",
    "p": "パピプペポ", "m": "マミムメモ", "r": "ラリルレロ",
}.items():
    for _kana, _vowel in zip(_row, _VOWELS):
        _KANA[_kana] = _consonant + _vowel
_KANA.update({"シ": "shi", "チ": "chi", "ツ": "tsu", "フ": "fu", "ジ": "ji", "ヂ": "ji", "ヅ": "zu",
              "ヤ": "ya", "ユ": "yu", "ヨ": "yo", "ワ": "wa", "ヰ": "i", "ヱ": "e", "ヲ": "o", "ン": "n",
              "ヴ": "vu"})
_SMALL_Y = {"ャ": "a", "ュ": "u", "ョ": "o"}  # キャ kya, シャ sha
_SMALL_VOWEL = {"ァ": "a", "ィ": "i", "ゥ": "u", "ェ": "e", "ォ": "o"}  # ファ fa, ティ ti


def romanize_katakana(text: str) -> str:
    """Hepburn-like reading of katakana ("ジャック・ライ" -> "jakku rai"); other
    characters are dropped, ・ becomes a space."""
    out = ""
    double = False  # ッ doubles the next consonant
    for ch in text:
        if ch in _KANA:
            syllable = _KANA[ch]
            if double and syllable[0] not in _VOWELS + "n":
                syllable = syllable[0] + syllable
            out, double = out + syllable, False
        elif ch in _SMALL_Y:
            if out.endswith(("shi", "chi", "ji")):
                out = out[:-1] + _SMALL_Y[ch]
            elif out.endswith("i"):
                out = out[:-1] + "y" + _SMALL_Y[ch]
            else:
                out += "y" + _SMALL_Y[ch]
        elif ch in _SMALL_VOWEL:
            # The small vowel replaces the vowel of the kana before it (フ+ァ: fa).
            out = out[:-1] + _SMALL_VOWEL[ch] if len(out) > 1 and out[-1] in _VOWELS else out + _SMALL_VOWEL[ch]
        elif ch == "ッ":
            double = True
        elif ch == "ー":
            out += out[-1] if out and out[-1] in _VOWELS else ""
        elif ch in "・･ ":
            out += " "
    return out


_DIGRAPHS = (("sch", "S"), ("sh", "S"), ("ch", "C"), ("ph", "f"), ("th", "t"), ("ck", "k"), ("qu", "k"),
             ("q", "k"), ("x", "ks"), ("ts", "t"), ("zh", "j"))


def sound_key(name: str) -> str:
    """The consonants of a Latin-script name as a Japanese ear keeps them: l and r are
    one sound, so are b and v; vowels, h, w and y and doubled letters are dropped
    (katakana adds vowels between consonants and after the last one)."""
    text = unicodedata.normalize("NFKD", name.lower()).replace("ß", "ss")
    text = re.sub(r"[^a-z]", "", "".join(c for c in text if not unicodedata.combining(c)))
    for spelling, sound in _DIGRAPHS:
        text = text.replace(spelling, sound)
    text = re.sub(r"c(?=[eiy])", "s", text).replace("c", "k").replace("l", "r").replace("v", "b")
    text = re.sub(r"[aeiouyhw]", "", text)
    return re.sub(r"(.)\1+", r"\1", text)


# A person's name in katakana: two or more parts joined by ・ (ダニエル・グロス). Single
# katakana words are mostly loanwords (モデル, チーム) that would match ordinary nouns.
_KATAKANA_NAME = re.compile(r"[\u30a1-\u30fa\u30fc]+(?:[・･][\u30a1-\u30fa\u30fc]+)+")
# Two or more capitalised words: "Jack Lay", "Alexander Coresnicof", "Shao Fa-Tai".
_LATIN_NAME = re.compile(r"(?<![\w'’-])[A-ZÀ-ÖØ-Þ][\w'’-]*(?:[ \u00a0]+[A-ZÀ-ÖØ-Þ][\w'’-]*)+")
_PARENTHESIS_AFTER = re.compile(r"\s*[(（]([^()（）]*)[)）]")

MIN_SIMILARITY = 0.8  # between sound keys; "Lucas Bayer" ~ ルーカス・ベイヤー scores 0.89
MIN_MARGIN = 0.15  # over the next-best name, so two similar names never get guessed between
MIN_KEY_LENGTH = 3  # "Tai" alone (key "t") could match anything


def katakana_names(sources: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for source in sources:
        for match in _KATAKANA_NAME.finditer(source):
            seen.setdefault(match.group(), None)
    return list(seen)


def matching_katakana_name(latin: str, names: Sequence[str]) -> str | None:
    """The one katakana name in ``names`` that sounds like ``latin``, or None."""
    key = sound_key(latin)
    if len(key) < MIN_KEY_LENGTH:
        return None
    scored = sorted(((SequenceMatcher(None, key, sound_key(romanize_katakana(n))).ratio(), n) for n in names),
                    reverse=True)
    if not scored or scored[0][0] < MIN_SIMILARITY:
        return None
    if len(scored) > 1 and scored[0][0] - scored[1][0] < MIN_MARGIN:
        return None
    return scored[0][1]


def add_source_spellings(text: str, sources: Sequence[str]) -> str:
    """Write the passages' katakana spelling after each romanized name that no source
    spells: "Jack Lay [1]" -> "Jack Lay (ジャック・ライ) [1]". A name the model put in
    parentheses gets it inside them: "(Jack Lay, ジャック・ライ)". A spelling already
    given right after the name is not repeated."""
    names = katakana_names(sources)
    if not names:
        return text
    known = squeeze_spelling(" ".join(sources))
    out: list[str] = []
    pos = 0
    last: tuple[str, int] | None = None  # the name last written, and where its text ended
    for match in _LATIN_NAME.finditer(text):
        latin = match.group()
        if squeeze_spelling(latin) in known:
            continue  # the passages spell it this way
        name = matching_katakana_name(latin, names)
        if name is None:
            continue
        after = _PARENTHESIS_AFTER.match(text, match.end())
        if after and squeeze_spelling(name) in squeeze_spelling(after.group(1)):
            continue
        opening = max(text.rfind("(", 0, match.start()), text.rfind("（", 0, match.start()))
        inside = opening > max(text.rfind(")", 0, match.start()), text.rfind("）", 0, match.start()))
        if inside and last and last[0] == name and not text[last[1] : opening].strip():
            continue  # "Daniel Gros (Danieel Groß)": the guess of a name just given its spelling
        out.append(text[pos : match.end()])
        out.append(f", {name}" if inside else f" ({name})")
        pos = match.end()
        last = (name, pos)
    out.append(text[pos:])
    return "".join(out)
