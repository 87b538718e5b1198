"""Language detection (lingua ships its models: no download) and per-language wording."""

from __future__ import annotations

import re
import threading

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


# The process's lingua detector. Built lazily, it loads a language's models when a text
# first needs them: a first question in a new script (or a URL, which every Latin-script
# language could be) then waits for them, 18-54 s on a loaded 2-core machine
# (docs/robustness.md). preload_language_models() loads them all up front.
_detector_lock = threading.Lock()
_built: dict[str, object] = {}


def _detector():
    with _detector_lock:
        if "detector" not in _built:
            _built["detector"] = _build_detector(preload=False)
        return _built["detector"]


def preload_language_models() -> None:
    """Load every language's models now (long-running apps, at start; ~500 MB)."""
    with _detector_lock:
        if not _built.get("preloaded"):
            _built["detector"] = _build_detector(preload=True)
            _built["preloaded"] = True


def _build_detector(*, preload: bool):
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = []
    for code in LANGUAGES:
        iso = getattr(IsoCode639_1, code.upper(), None)
        if iso is not None:
            codes.append(iso)
    builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
    return (builder.with_preloaded_language_models() if preload else builder).build()


# In a short text (a question) names outvote the words that tell its language: "Wie alt
# ist Alexandr Wang?" was read as Norwegian, "Что делала компания Tesla Electric Light &
# Manufacturing?" as English. Measured on XQuAD's questions (en de es vi ru ro el tr zh,
# 1190 each, 2026-12-02): 10608 -> 10665 of 10710 detected right; the gold set's 79 stay right.
SHORT_TEXT = 300
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_LATIN_WORD = re.compile(r"[A-Za-zÀ-ɏḀ-ỿ][A-Za-zÀ-ɏḀ-ỿ'’-]*$")
_SENTENCE_START = re.compile(r"(?:^|[.!?¿¡:]\s*)$")


def _without_names(text: str) -> str:
    """``text`` without the words that are likely names: in a Greek or Cyrillic text its
    Latin words; in a Latin text the capitalised words not opening a sentence and words
    in capitals. The text itself when fewer than 6 letters would be left."""
    rest = _names_removed(text)
    return rest if sum(ch.isalpha() for ch in rest) >= 6 else text


def _names_removed(text: str) -> str:
    words = list(_WORD.finditer(text))
    latin = [w for w in words if _LATIN_WORD.match(w.group())]
    if len(words) - len(latin) > len(latin):
        names = latin
    else:
        names = [w for w in latin if (w.group()[0].isupper() and not _SENTENCE_START.search(text[:w.start()]))
                 or (len(w.group()) > 1 and w.group().isupper())]
    kept, end = [], 0
    for name in names:
        kept.append(text[end:name.start()])
        end = name.end()
    return "".join(kept) + text[end:]


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
    found = _detector().detect_language_of(_without_names(sample) if len(sample) < SHORT_TEXT else sample)
    if found is None:
        return default
    code = found.iso_code_639_1.name.lower()
    return code if code in LANGUAGES else default


_MARKERS_AND_ASIDES = re.compile(r"\[\d+\]|\([^()]*\)|（[^（）]*）")


def answer_language(text: str) -> str | None:
    """The language an answer is written in, judged without its [n] markers and
    parenthesised spans (a name's spelling copied from a passage); None when too few
    letters are left to tell (a figure, a name). Kana anywhere else makes it Japanese:
    a Korean answer with a Japanese word in it counts as another language."""
    bare = " ".join(_MARKERS_AND_ASIDES.sub(" ", text).split())
    # A few CJK characters tell their script; spaced scripts need more letters.
    cjk = len(_HAN.findall(bare)) + len(_KANA.findall(bare)) + len(_HANGUL.findall(bare))
    if cjk < 4 and sum(ch.isalpha() for ch in _names_removed(bare)) < 12:
        return None
    return detect_language(bare, default="") or None


def language_name(code: str) -> str:
    return LANGUAGES.get(code, (code, code))[0]


def refusal_text(code: str) -> str:
    return REFUSALS.get(code, REFUSALS["en"])


# "According to the French article", "据法语报道", "Theo bài báo tiếng Trung": a question
# that names the language of the article it is about. Each language's name (stems, in
# the question languages of the gold set) ...
_LANGUAGE_NAMES = {
    "en": r"english|anglais|englisch\w*|ingl[eé]s\w*|inglese|tiếng anh|英語|英语|英文|영어|английск\w*",
    "fr": r"french|fran[cç]ais\w*|franz[oö]sisch\w*|franc[eé]s\w*|francese|tiếng pháp|フランス語|法语|法語|法文|프랑스어|французск\w*",
    "de": r"german|allemand\w*|deutsch(?:e[nmrs]?)?\b|alem[aá]n\w*|tedesc\w*|tiếng đức|ドイツ語|德语|德語|德文|독일어|немецк\w*",
    "es": r"spanish|espagnol\w*|spanisch\w*|español\w*|spagnol\w*|espanhol\w*|tiếng tây ban nha|スペイン語|西班牙语|西班牙文|스페인어|испанск\w*",
    "it": r"italian|italien\w*|italiano|italiana|tiếng ý|イタリア語|意大利语|意大利文|이탈리아어|итальянск\w*",
    "pt": r"portuguese|portugais\w*|portugiesisch\w*|portugu[eê]s\w*|portoghese|tiếng bồ đào nha|ポルトガル語|葡萄牙语|포르투갈어|португальск\w*",
    "ru": r"russian|russe|russisch\w*|ruso|russo|tiếng nga|ロシア語|俄语|俄文|러시아어|русск\w*",
    "ja": r"japanese|japonais\w*|japanisch\w*|japon[eé]s\w*|giappones\w*|tiếng nhật|日本語|日语|日文|일본어|японск\w*",
    "zh": r"chinese|chinois\w*|chinesisch\w*|chinos?|cines[ei]|chinês\w*|tiếng trung|中国語|中国语|中文|汉语|漢語|중국어|китайск\w*",
    "ko": r"korean|cor[ée]en\w*|koreanisch\w*|corean[oa]|tiếng hàn|韓国語|韩语|韓語|韩文|한국어|корейск\w*",
    "vi": r"vietnamese|vietnamien\w*|vietnamesisch\w*|vietnamit[ao]|tiếng việt|ベトナム語|越南语|베트남어|вьетнамск\w*",
}
# ... next to a word for an article or report, so "the French government" or "le
# gouvernement chinois" name no article language. (Spanish "china" is left out: it is
# the country's name in English and German.)
_ARTICLE_WORDS = (r"articles?|artikel\w*|art[ií]culos?|articol[oi]|artigos?|bài báo|bài viết|báo|reports?|bericht\w*|"
                  r"reportage|informe|rapport|presse|press|news|nouvelle|text[eo]?s?|version|source|quelle|fonte|fuente|"
                  r"記事|報道|报道|報告|报告|文章|新闻|新聞|기사|보도|стать\w*|сообщени\w*")
_NEAR = 20  # characters between the two: "l'article chinois", "the article written in Chinese"


def _words(alternatives: str) -> re.Pattern:
    # Latin and Cyrillic names are whole words ("russe" is not "Russell"); CJK ones run
    # on into the next character (据法语报道).
    spaced, cjk = [], []
    for alternative in alternatives.split("|"):
        (cjk if _KANA.search(alternative) or _HAN.search(alternative) or _HANGUL.search(alternative)
         else spaced).append(alternative)
    parts = [rf"(?<![^\W\d_])(?:{'|'.join(spaced)})(?![^\W\d_])"] + ([f"(?:{'|'.join(cjk)})"] if cjk else [])
    return re.compile("|".join(parts), re.IGNORECASE)


_LANGUAGE_NAME_RE = {code: _words(names) for code, names in _LANGUAGE_NAMES.items()}
_ARTICLE_WORD_RE = _words(_ARTICLE_WORDS)


def named_article_language(question: str) -> str | None:
    """The language of the article a question says it is about ("l'article chinois",
    "据法语报道" -> "fr"), or None when it names none, or several."""
    articles = [m.span() for m in _ARTICLE_WORD_RE.finditer(question)]
    if not articles:
        return None
    named = {code for code, pattern in _LANGUAGE_NAME_RE.items()
             for m in pattern.finditer(question)
             if any(max(start - m.end(), m.start() - end) <= _NEAR for start, end in articles)}
    return named.pop() if len(named) == 1 else None
