"""The Latin-script names an index's text mentions and the numbers written right after
them ("iPhone 16", "GPT-4"), gathered once per index state so the version gate
(refusal.versions_not_in_articles) checks a question without reading every chunk.

The sets reproduce what the gate's regular expressions find in the joined text: a name
is a maximal run of letters [A-Za-z], kept in its own case (the gate judges a name only
as the articles write it), and a numbered name matches case-insensitively: its number is
the digit run after one optional space or hyphen, unless a decimal part follows.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Python's case-insensitive [A-Za-z] also matches these (and nothing else outside ASCII).
_FOLD = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}
_RUN = re.compile(r"(?<![A-Za-z])([A-Za-z]+)(?![A-Za-z])(?:[ \-]?(\d+)(?![.,]\d|\d))?", re.IGNORECASE)
_NAME = re.compile(r"(?<![A-Za-z])[A-Za-z]+(?![A-Za-z])")  # case-sensitive: ASCII letters only


def fold_name(name: str) -> str:
    """The key under which two names match case-insensitively ("IPHONE" = "iPhone")."""
    return "".join(_FOLD.get(c, c.lower()) for c in name)


@dataclass(frozen=True)
class VersionMentions:
    names: frozenset[str]  # names as written (case kept)
    numbered: frozenset[tuple[str, str]]  # (folded name, the digits written after it)

    def has_name(self, name: str) -> bool:
        return name in self.names

    def has_numbered(self, name: str, number: str) -> bool:
        return (fold_name(name), number) in self.numbered


def version_mentions(text: str) -> VersionMentions:
    """The names and numbered names of ``text`` (NFKC-normalised first, as the gate does)."""
    text = unicodedata.normalize("NFKC", text)
    names = set(_NAME.findall(text))
    numbered: set[tuple[str, str]] = set()
    for match in _RUN.finditer(text):
        key = fold_name(match.group(1))
        if match.group(2):
            numbered.add((key, match.group(2)))
    return VersionMentions(frozenset(names), frozenset(numbered))
