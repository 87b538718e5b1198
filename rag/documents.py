"""Reading article files (.txt, .md, .html) into Documents; bad files raise DocumentError."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")


class DocumentError(ValueError):
    """A file that cannot be ingested; the message says why, for the user."""


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    text: str  # the text that chunk offsets point into (HTML: the extracted text)
    language: str
    source: str
    content_hash: str


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def find_files(paths: list[Path]) -> list[Path]:
    """Expand folders into their supported files (sorted); files are kept as given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
            )
        else:
            found.append(path)
    return found


def decode_text(data: bytes, name: str) -> str:
    if not data.strip():
        raise DocumentError(f"{name}: the file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # UTF-16 with its byte-order mark: what Windows editors save as "Unicode".
        try:
            return decode_text(data.decode("utf-16").encode("utf-8"), name)
        except UnicodeDecodeError:
            raise DocumentError(f"{name}: broken UTF-16 text; save it as UTF-8 and retry") from None
    if b"\x00" in data[:8192]:
        raise DocumentError(f"{name}: looks like a binary file, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{name}: not UTF-8 text (byte {exc.start}); save it as UTF-8 and retry") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_document(data: bytes, name: str, *, doc_id: str | None = None, source: str = "") -> Document:
    """Build a Document from a file's bytes; ``name`` gives the suffix and default doc_id."""
    from .language import detect_language

    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(f"{name}: unsupported file type {suffix or '(none)'}; use .txt, .md or .html")
    raw = decode_text(data, name)
    if suffix in (".html", ".htm"):
        title, text = html_to_text(raw)
    else:
        title, text = None, raw
    if not text.strip():
        raise DocumentError(f"{name}: no text in the file")
    doc_id = doc_id or Path(name).stem
    return Document(
        doc_id=doc_id,
        title=title or guess_title(text, suffix) or opening_words(text) or doc_id,
        text=text,
        language=detect_language(text),
        source=source or name,
        content_hash=content_hash(data),
    )


def load_document(path: Path, *, source: str | None = None) -> Document:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_document(data, path.name, source=source or str(path))


def guess_title(text: str, suffix: str) -> str | None:
    """A Markdown heading, or a short first line that reads like a headline."""
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        if suffix in (".md", ".markdown"):
            return line.lstrip("#").strip() or None
        # A headline is short and does not end like a sentence.
        if len(line) <= 80 and not re.search(r"[.。!！?？]$", line):
            return line
        return None
    return None


def opening_words(text: str, limit: int = 48) -> str | None:
    """A stand-in title for an article without a headline: how it begins."""
    for line in text.split("\n"):
        line = " ".join(line.split())
        if line:
            return line if len(line) <= limit else line[:limit].rstrip() + "…"
    return None


_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr",
    "table", "section", "article", "header", "footer", "blockquote", "pre", "title",
}
_SKIP_TAGS = {"script", "style", "noscript", "template", "head"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: str | None = None
        self._skip = 0
        self._in_title = False
        self._in_h1 = False
        self._h1: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self._in_title = True
        elif tag in _SKIP_TAGS:
            self._skip += 1
        if tag == "h1":
            self._in_h1 = True
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        elif tag in _SKIP_TAGS and self._skip:
            self._skip -= 1
        if tag == "h1":
            self._in_h1 = False
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        if self._in_title:
            self.title = (self.title or "") + data
            return
        if self._skip:
            return
        if self._in_h1:
            self._h1.append(data)
        self.parts.append(data)


def html_to_text(html: str) -> tuple[str | None, str]:
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    title = (parser.title or "".join(parser._h1) or "").strip() or None
    return title, text
