"""Language detection (lingua ships its models: no download) and per-language wording."""

from __future__ import annotations

import re
from functools import lru_cache

# ISO 639-1 -> (English name, native name). The detector knows these languages;
# others fall back to the closest of them, which is what a user of them expects least,
# so the list is broad.
LANGUAGES: dict[str, tuple[str, str]] = {
    "en": ("English", "English"),
    "de": ("German", "Deutsch"),
    "fr": ("French", "français"),
    "es": ("Spanish", "español"),
    "it": ("Italian", "italiano"),
    "pt": ("Portuguese", "português"),
    "nl": ("Dutch", "Nederlands"),
    "pl": ("Polish", "polski"),
    "sv": ("Swedish", "svenska"),
    "da": ("Danish", "dansk"),
    "nb": ("Norwegian", "norsk"),
    "fi": ("Finnish", "suomi"),
    "cs": ("Czech", "čeština"),
    "ro": ("Romanian", "română"),
    "hu": ("Hungarian", "magyar"),
    "el": ("Greek", "ελληνικά"),
    "tr": ("Turkish", "Türkçe"),
    "ru": ("Russian", "русский"),
    "uk": ("Ukrainian", "українська"),
    "ar": ("Arabic", "العربية"),
    "he": ("Hebrew", "עברית"),
    "hi": ("Hindi", "हिन्दी"),
    "th": ("Thai", "ไทย"),
    "vi": ("Vietnamese", "Tiếng Việt"),
    "id": ("Indonesian", "Bahasa Indonesia"),
    "ms": ("Malay", "Bahasa Melayu"),
    "ja": ("Japanese", "日本語"),
    "zh": ("Chinese", "中文"),
    "ko": ("Korean", "한국어"),
}

# What the assistant says when the articles do not hold the answer.
REFUSALS: dict[str, str] = {
    "en": "The articles don't say.",
    "de": "Die Artikel sagen dazu nichts.",
    "fr": "Les articles ne le disent pas.",
    "es": "Los artículos no lo dicen.",
    "it": "Gli articoli non lo dicono.",
    "pt": "Os artigos não dizem.",
    "nl": "De artikelen zeggen dat niet.",
    "pl": "Artykuły o tym nie mówią.",
    "ru": "В статьях об этом не говорится.",
    "uk": "У статтях про це не йдеться.",
    "tr": "Makalelerde bu konuda bilgi yok.",
    "ar": "لا تذكر المقالات ذلك.",
    "hi": "लेखों में इसका उल्लेख नहीं है।",
    "th": "บทความไม่ได้กล่าวถึงเรื่องนี้",
    "vi": "Các bài báo không đề cập đến điều này.",
    "id": "Artikel-artikel tersebut tidak menyebutkannya.",
    "ja": "記事にはその情報は書かれていません。",
    "zh": "文章中没有提到这一点。",
    "ko": "기사에는 그 내용이 나와 있지 않습니다.",
    "el": "Τα άρθρα δεν το αναφέρουν.",
    "sv": "Artiklarna säger inget om det.",
    "cs": "Články to neuvádějí.",
    "ro": "Articolele nu spun asta.",
}

_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")


@lru_cache(maxsize=1)
def _detector():
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = []
    for code in LANGUAGES:
        iso = getattr(IsoCode639_1, code.upper(), None)
        if iso is not None:
            codes.append(iso)
    return LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()


def detect_language(text: str, default: str = "en") -> str:
    """ISO 639-1 code of ``text``'s language; ``default`` when it cannot tell."""
    sample = text.strip()[:2000]
    if not sample:
        return default
    # Scripts settle CJK at once and reliably even for three-character questions.
    if _KANA.search(sample):
        return "ja"
    if _HANGUL.search(sample):
        return "ko"
    letters = sum(ch.isalpha() for ch in sample)
    han = len(_HAN.findall(sample))
    if letters and han / letters > 0.3:
        return "zh"
    found = _detector().detect_language_of(sample)
    if found is None:
        return default
    code = found.iso_code_639_1.name.lower()
    return code if code in LANGUAGES else default


def language_name(code: str) -> str:
    return LANGUAGES.get(code, (code, code))[0]


def refusal_text(code: str) -> str:
    return REFUSALS.get(code, REFUSALS["en"])
