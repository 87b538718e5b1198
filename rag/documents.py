"""Reading article files (.txt, .md, .html) into Documents; bad files raise DocumentError."""

from __future__ import annotations

import hashlib
import os
import re
import stat
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
    encoding: str = "utf-8"  # what the file was read as: "utf-8", "utf-16" or a legacy codec (rag/encodings.py)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Shown escaped wherever a name or a title is printed on one line: C0 and C1 controls, line
# and paragraph separators, bidirectional overrides, and the lone surrogates that stand for
# a file name's undecodable bytes.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# Control characters that text files do not hold (tab, newlines and form feed aside); a
# few (ANSI colours, a stray form feed) are tolerated.
_BINARY_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
# Titles are kept with every chunk and read by the embedder with each: a headline, not a page.
MAX_TITLE_CHARS = 200
_FILE_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
               stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}


def printable(text: str) -> str:
    """``text`` fit for one line of output: control characters, line separators and bidi
    overrides escaped (``\\n``, ``\\x1b``, ``\\u202e``), a file name's undecodable bytes as ``\\xff``."""

    def escape(match: re.Match) -> str:
        code = ord(match.group())
        if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte
            return f"\\x{code - 0xDC00:02x}"
        return match.group().encode("unicode_escape").decode("ascii")

    return _UNPRINTABLE.sub(escape, text)


def format_size(size: int) -> str:
    return f"{size / 1e6:.3g} MB" if size >= 1_000_000 else f"{size:,} bytes"


def upload_name(name: str) -> str:
    """A safe file name for an upload's original name, which the browser (or a script)
    chose: its last path component (after ``/`` or ``\\``), without control characters,
    at most 255 bytes with its suffix kept; "upload" when nothing is left ("", ".", "..")."""
    name = _UNPRINTABLE.sub("", re.split(r"[/\\]", name)[-1]).strip()
    if name in ("", ".", ".."):
        return "upload"
    stem, suffix = os.path.splitext(name)
    if len(suffix.encode("utf-8")) > 32:
        stem, suffix = name, ""
    room = 255 - len(suffix.encode("utf-8"))
    if len(stem.encode("utf-8")) > room:
        stem = stem.encode("utf-8")[:room].decode("utf-8", "ignore")
    return stem + suffix


def find_files(paths: list[Path]) -> list[Path]:
    """Expand folders into their entries with a supported suffix (sorted); files are kept
    as given. Links to folders are not followed; other entries that are not regular files
    (FIFOs, devices, broken links) are kept so that reading them reports why they are skipped."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES and not p.is_dir())
            )
        else:
            found.append(path)
    return found


def decode_text(data: bytes, name: str, *, html: bool = False) -> tuple[str, str]:
    """The file's text and the encoding it was read as: "utf-8", "utf-16" (with its
    byte-order mark), or a legacy one that an HTML page declares or that is detected
    surely (rag/encodings.py); a file read as none of them raises DocumentError."""
    if not data.strip():
        raise DocumentError(f"{name}: the file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # UTF-16 with its byte-order mark: what Windows editors save as "Unicode".
        try:
            return decode_text(data.decode("utf-16").encode("utf-8"), name)[0], "utf-16"
        except UnicodeDecodeError:
            raise DocumentError(f"{name}: broken UTF-16 text; save it as UTF-8 and retry") from None
    if b"\x00" in data:
        raise DocumentError(f"{name}: looks like a binary file, not text")
    try:
        text, encoding = data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        from .encodings import read_legacy

        legacy = read_legacy(data, html=html)
        if legacy.text is None:
            raise DocumentError(f"{name}: not UTF-8 text (byte {exc.start}); {legacy.why}; "
                                "save it as UTF-8 and retry") from None
        text, encoding = legacy.text, legacy.encoding
    sample = text[:65536]
    controls = len(_BINARY_CONTROLS.findall(sample))
    if controls > 16 and controls * 10 > len(sample):  # over 10%: not prose
        raise DocumentError(f"{name}: looks like a binary file, not text ({controls} control characters)")
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def parse_document(data: bytes, name: str, *, doc_id: str | None = None, source: str = "") -> Document:
    """Build a Document from a file's bytes; ``name`` gives the suffix and default doc_id."""
    from .language import detect_language

    suffix = Path(name).suffix.lower()
    shown = printable(name)
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(f"{shown}: unsupported file type {printable(suffix) or '(none)'}; use .txt, .md or .html")
    html = suffix in (".html", ".htm")
    raw, encoding = decode_text(data, shown, html=html)
    if html:
        title, text = html_to_text(raw)
    else:
        title, text = None, raw
    if not text.strip():
        raise DocumentError(f"{shown}: no text in the file")
    doc_id = doc_id or Path(name).stem
    title = title or guess_title(text, suffix) or opening_words(text) or doc_id
    return Document(
        doc_id=doc_id,
        title=cut_title(title),
        text=text,
        language=detect_language(text),
        source=source or name,
        content_hash=content_hash(data),  # of the bytes: files indexed before keep their keys
        encoding=encoding,
    )


def cut_title(title: str) -> str:
    """A real title (a ``<title>``, a heading) of at most MAX_TITLE_CHARS characters. Cut
    without an ellipsis: a title ending in "…" is taken for a stand-in (``opening_words``)
    and left out of what the embedder reads (``Chunk.embedding_text``)."""
    if len(title) <= MAX_TITLE_CHARS:
        return title
    return title[:MAX_TITLE_CHARS].rstrip().rstrip("…").rstrip() or title[:MAX_TITLE_CHARS]


def load_document(path: Path, *, source: str | None = None, max_bytes: int | None = None) -> Document:
    """Read one file: a regular file (a FIFO or a device is refused without being opened,
    as reading one can block or never end) of at most ``max_bytes``."""
    path = Path(path)
    shown = printable(str(path))
    try:
        path.name.encode("utf-8"), (source or str(path)).encode("utf-8")
    except UnicodeEncodeError:
        raise DocumentError(f"{shown}: the file name is not valid UTF-8; rename the file to index it") from None
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise DocumentError(f"{shown}: a link to a missing file") from None
        raise DocumentError(f"{shown}: no such file or folder") from None
    except OSError as exc:
        raise DocumentError(f"{shown}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = _FILE_KINDS.get(stat.S_IFMT(info.st_mode), "not a file")
        raise DocumentError(f"{shown}: not a regular file ({kind}); only files are read")
    if max_bytes is not None and info.st_size > max_bytes:
        raise DocumentError(f"{shown}: larger than {format_size(max_bytes)} ({format_size(info.st_size)}; "
                            "RAG_INGEST_MAX_BYTES)")
    try:
        # Non-blocking, and checked again once open: the path may have become a FIFO since.
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise DocumentError(f"{shown}: not a regular file; only files are read")
            data = file.read() if max_bytes is None else file.read(max_bytes + 1)
    except OSError as exc:
        raise DocumentError(f"{shown}: cannot read ({exc.strerror})") from None
    if max_bytes is not None and len(data) > max_bytes:  # it grew since
        raise DocumentError(f"{shown}: larger than {format_size(max_bytes)} (RAG_INGEST_MAX_BYTES)")
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
_SKIP_TAGS = {"script", "style", "noscript", "template"}
# Elements of a page's body, never of its head: one starts the body even while the head is
# open (the end tag of head is optional in HTML, so a page may never close it). Anything
# else inside a head (an unknown element such as <custom-el>, stray text) is held back: it
# is dropped when </head> comes and is body text when <body> or one of these comes first,
# or when the page ends with its head still open.
_BODY_TAGS = _BLOCK_TAGS - {"title"} | {
    "body", "main", "nav", "aside", "address", "hgroup", "figure", "figcaption", "hr", "dl", "dt", "dd",
    "menu", "details", "summary", "dialog", "fieldset", "legend", "form", "caption", "colgroup", "col",
    "thead", "tbody", "tfoot", "td", "th", "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn",
    "em", "i", "kbd", "mark", "q", "rp", "rt", "ruby", "s", "samp", "small", "span", "strong", "sub",
    "sup", "time", "u", "var", "wbr", "del", "ins", "img", "picture", "video", "audio", "canvas", "svg",
    "iframe", "embed", "object", "button", "input", "label", "select", "textarea", "output", "progress",
    "meter", "center", "font", "big", "tt", "strike", "nobr", "marquee",
}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: str | None = None
        self._skip = 0
        self._in_title = False
        self._in_h1 = False
        self._h1: list[str] = []
        self._in_head = False
        self._held: list[str] = []  # what the open head holds that no head holds
        self._body = False  # the body has begun: a later <head> is a stray tag

    @property
    def _out(self) -> list[str]:
        return self._held if self._in_head else self.parts

    def _start_body(self) -> None:
        """<body> or a body element: what the open head held back is body text after all."""
        self.parts.extend(self._held)
        self._held.clear()
        self._in_head = False
        self._body = True

    def handle_starttag(self, tag, attrs):
        if tag == "head":
            self._in_head = self._in_head or not self._body
        elif tag in _BODY_TAGS:
            self._start_body()
        if tag == "title":
            self._in_title = True
        elif tag in _SKIP_TAGS:
            self._skip += 1
        if tag == "h1":
            self._in_h1 = True
        if tag in _BLOCK_TAGS:
            self._out.append("\n")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in _SKIP_TAGS:
            # HTML ignores the slash of <script/>: what follows is script up to </script>.
            if tag in self.CDATA_CONTENT_ELEMENTS:
                self.set_cdata_mode(tag)
        else:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag == "head" and self._in_head:  # what it held back was the head's, not text
            self._held.clear()
            self._in_head = False
            self._body = True
        if tag == "title":
            self._in_title = False
        elif tag in _SKIP_TAGS and self._skip:
            self._skip -= 1
        if tag == "h1":
            self._in_h1 = False
        if tag in _BLOCK_TAGS:
            self._out.append("\n")

    def handle_data(self, data):
        if self._skip:  # script, style, ... (also inside a title)
            return
        if self._in_title:
            self.title = (self.title or "") + data
            return
        if not self._in_head and data.strip():
            self._body = True  # text before any head: a later <head> is a stray tag
        if self._in_h1:
            self._h1.append(data)
        self._out.append(data)

    def close(self):
        super().close()
        if self._in_head:  # the page ended with its head open: what it held is the body
            self._start_body()


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
