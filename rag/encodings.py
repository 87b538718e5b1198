"""Text files in legacy encodings (Shift_JIS, GB18030, Big5, EUC-KR, windows-1252, ...).

A file that is not UTF-8 is read as the encoding an HTML page declares (``<meta
charset>``), else as the one a detector (charset-normalizer) finds, but only when it
is sure; otherwise the file is skipped with the likely encodings named. How sure:
``python -m eval.encodings`` (157 texts in 3 sets, 0 read wrong; docs/robustness.md).
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

# The legacy encodings news files come in (the WHATWG Encoding Standard's, less the
# rare ones), as Python codecs, with the names users know them by.
LEGACY_ENCODINGS = {
    "cp1252": "windows-1252 (Latin-1)", "cp932": "Shift_JIS", "euc_jp": "EUC-JP", "gb18030": "GB18030",
    "big5": "Big5", "euc_kr": "EUC-KR", "cp1250": "windows-1250", "iso8859_2": "ISO-8859-2",
    "cp1251": "windows-1251", "koi8_r": "KOI8-R", "cp1253": "windows-1253", "cp1254": "windows-1254",
    "cp1255": "windows-1255", "cp1256": "windows-1256", "cp1257": "windows-1257", "cp1258": "windows-1258",
    "cp874": "windows-874",
}
# Labels browsers read as a wider encoding (WHATWG): "iso-8859-1" pages are windows-1252,
# "gb2312" ones GBK (a part of GB18030), "shift_jis" ones Microsoft's Shift_JIS.
_WIDER = {"iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
          "l1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252", "gb2312": "gb18030", "gbk": "gb18030",
          "x-gbk": "gb18030", "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
          "windows-31j": "cp932", "euc-kr": "cp949", "ks_c_5601-1987": "cp949", "big5": "big5hkscs"}
# <meta charset=X> and <meta http-equiv=Content-Type content="...; charset=X">, looked
# for where browsers look: the first 1024 bytes.
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
# UTF-8 sequences of accented Latin letters and typographic punctuation (é, ü, ł, “, –, €):
# a file mostly of these besides its bad bytes is UTF-8 with some other text pasted in.
_UTF8_LATIN = re.compile(rb"[\xc2-\xc9][\x80-\xbf]|\xe2\x80[\x90-\xbf]|\xe2\x82\xac")
# Evidence the detector needs: fewer bytes outside ASCII (a stray byte in English text, a
# broken UTF-8 sequence) decode to something in every encoding.
MIN_LEGACY_BYTES = 4
# A decoding's "chaos" (charset-normalizer's share of odd characters) at most this, and
# every plausible decoding within CHAOS_MARGIN of the best one must agree, or one must
# have a language coherence higher by COHERENCE_MARGIN (measured: docs/robustness.md).
MAX_CHAOS = 0.1
CHAOS_MARGIN = 0.05
COHERENCE_MARGIN = 0.05
_SAMPLE_CHARS = 65536
# Marks that do touch letters: apostrophes, hyphens and dashes, the Catalan middle dot, a
# soft hyphen, degrees (°C) and trademarks.
_MAY_TOUCH_LETTERS = set("’‘ʼ‐‑–—·\u00ad°™®©")
_ASCII = bytes(range(128))
# The accented letters of languages written in Latin script (lowercase).
LATIN_ALPHABETS = {
    "fr": "àâæçéèêëîïôœùûüÿ", "de": "äöüß", "es": "áéíñóúü", "it": "àèéìíîòóùú", "pt": "áâãàçéêíóôõú",
    "ca": "àçèéíïòóúü", "nl": "áéíóúàèëïöü", "sv": "åäöé", "da": "æøåé", "no": "æøåéèóòô", "fi": "äöåšž",
    "is": "áéíóúýþæöð", "pl": "ąćęłńóśźż", "cs": "áčďéěíňóřšťúůýž", "sk": "áäčďéíĺľňóôŕšťúýž",
    "hu": "áéíóöőúüű", "ro": "ăâîșțşţ", "hr": "čćđšž", "sl": "čšžćđ", "tr": "çğıöşüâîû",
    "et": "äõöüšž", "lv": "āčēģīķļņšūž", "lt": "ąčęėįšųūž", "sq": "ëç", "ga": "áéíóú", "cy": "âêîôûŵŷ",
}


@dataclass(frozen=True)
class LegacyText:
    """A file's text read in a legacy encoding (``text`` None: not sure, ``why`` says so)."""

    text: str | None
    encoding: str  # the codec read with; "" when not sure
    why: str = ""


def encoding_name(codec: str) -> str:
    return LEGACY_ENCODINGS.get(codec, codec.replace("_", "-").upper())


def declared_encoding(data: bytes) -> str | None:
    """The codec an HTML page's ``<meta>`` declares, when Python knows it (None otherwise,
    and for the UTF encodings, which the caller has tried already)."""
    match = _META_CHARSET.search(data[:1024])
    if not match:
        return None
    label = match.group(1).decode("ascii").lower()
    try:
        codec = _WIDER.get(label) or codecs.lookup(label).name
    except LookupError:
        return None
    return None if codec.startswith("utf") else codec


def read_legacy(data: bytes, *, html: bool) -> LegacyText:
    """``data`` (not UTF-8) decoded as declared (HTML) or as detected when sure."""
    declared = declared_encoding(data) if html else None
    if declared:
        try:
            return LegacyText(data.decode(declared), declared)
        except UnicodeDecodeError:
            pass  # a wrong declaration: the bytes decide
    outside_ascii = len(data.translate(None, _ASCII))
    if outside_ascii < MIN_LEGACY_BYTES:
        return LegacyText(None, "", f"only {outside_ascii} byte(s) outside ASCII: too few to tell the encoding")
    latin_utf8 = sum(len(m.group()) for m in _UTF8_LATIN.finditer(data))
    if latin_utf8 * 2 >= outside_ascii:
        return LegacyText(None, "", "partly UTF-8, partly another encoding")
    found = _detect(data)
    if found.text is None:
        return found
    try:  # the detector reads samples of a long file: the whole of it must decode
        return LegacyText(data.decode(found.encoding), found.encoding)
    except UnicodeDecodeError as exc:
        return LegacyText(None, "", f"not {encoding_name(found.encoding)} either (byte {exc.start})")


def _detect(data: bytes) -> LegacyText:
    """The detector's decoding when the plausible ones agree, or one reads clearly more
    like a language (charset-normalizer's coherence); else not sure."""
    from charset_normalizer import from_bytes

    matches = [m for m in from_bytes(data, cp_isolation=list(LEGACY_ENCODINGS), preemptive_behaviour=False)
               if not looks_garbled(str(m)[:_SAMPLE_CHARS])]
    if not matches or min(m.chaos for m in matches) > MAX_CHAOS:
        return LegacyText(None, "", "no usual encoding reads it as text")
    lowest = min(m.chaos for m in matches)
    close = [m for m in matches if m.chaos <= lowest + CHAOS_MARGIN]
    # Single-byte encodings of Latin text tie often (é is é in most): the decoding whose
    # accented letters are most those of one language goes first, then the most coherent.
    fit = {id(m): alphabet_fit(str(m)[:_SAMPLE_CHARS]) for m in close}
    close.sort(key=lambda m: (-fit[id(m)], -m.coherence))
    best = close[0]
    rival = next((m for m in close if str(m) != str(best)), None)
    if (rival is None or fit[id(best)] > fit[id(rival)]
            or best.coherence >= rival.coherence + COHERENCE_MARGIN):
        return LegacyText(str(best), best.encoding)
    fallback = _cp1252(data)  # in a tie, browsers' own fallback
    if any(str(m) == fallback for m in close if fit[id(m)] == fit[id(best)]):
        return LegacyText(fallback, "cp1252")
    likely = " or ".join(dict.fromkeys(encoding_name(m.encoding) for m in close[:3]))
    return LegacyText(None, "", f"it may be {likely}, but that is not sure")


def _cp1252(data: bytes) -> str | None:
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return None


def alphabet_fit(text: str) -> float:
    """The largest share of the accented Latin letters of ``text`` that one language
    writes: "Mìstská" (Czech read as windows-1252) mixes Italian ì with Czech á.
    1.0 for text without them (other scripts are told apart by the detector)."""
    letters = [c for c in text.lower() if "\u00c0" <= c <= "\u024f" and c.isalpha()]
    if not letters:
        return 1.0
    return max(sum(c in alphabet for c in letters) for alphabet in LATIN_ALPHABETS.values()) / len(letters)


def looks_garbled(text: str) -> bool:
    """What a wrong single-byte decoding makes: control characters, a symbol glued to a
    word ("będ±", "¶luzy": Polish ISO-8859-2 read as windows-1250), or a digit or
    punctuation mark inside a word of an alphabetic script ("zatwierdzi³a", "mo¿e")."""
    for i, char in enumerate(text):
        if char < "\x80" or char in _MAY_TOUCH_LETTERS:
            continue
        kind = unicodedata.category(char)[0]
        if kind == "C":
            return True
        before, after = _letter(text, i - 1), _letter(text, i + 1)
        if kind == "S" and (before or after) or kind in "NP" and before and after:
            return True
    return False



def _letter(text: str, i: int) -> bool:
    """Whether ``text[i]`` is a letter of an alphabetic script (CJK punctuation sits
    between ideographs as a matter of course)."""
    return 0 <= i < len(text) and text[i].isalpha() and text[i] < "\u2000"
