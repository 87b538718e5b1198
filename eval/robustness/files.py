"""Bad input files for ingestion: empty, binary, huge, deeply nested and scripted HTML,
mixed encodings, odd names and links, special files (FIFO, device, socket), many tiny
files, and hostile upload names through the UI's own upload handler.

Each case writes its files into its own folder beside its own data dir and runs
``ingest.main`` (or ``RagUI.ingest_files``) in a child process with a timeout; the child
reports what ingest said and what the index holds afterwards. The tree around the data
dir (every case's folders, the child's TMPDIR) is snapshotted before and after. A case
fails when:

- the child crashed: a traceback, a run aborted for every file (ingest.py exit 2, the
  UI's "Indexing failed"), or no end within the timeout (a read that blocks);
- a file was neither indexed nor reported skipped, or a message or ``--list`` line spans
  two lines or carries raw control characters;
- a case's own check fails: script or style text in a chunk or title, text indexed
  wrongly decoded, a large file that should be indexed refused, an upload name that
  keeps a path separator;
- anything outside the data dir appeared, vanished or changed.

``python -m eval.robustness --only files [--tiny N] [--big-mb X] [--files-embedder hash|real]``
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import stat
import subprocess
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rag.config import REPO_ROOT
from rag.documents import SUPPORTED_SUFFIXES, printable

GOOD_TEXT = ("The harbour of Aldervik opened a new pier in 2019. It cost 4.2 million euros "
             "and was built by 120 workers.\n")


# -- what a case builds ------------------------------------------------------------------------
@dataclass
class Plan:
    """What to run: ingest.py arguments, or uploads (temporary path, original name)."""

    args: list[str] = field(default_factory=list)
    uploads: list[tuple[str, str]] = field(default_factory=list)
    offered: int = 0  # files that must each be indexed or reported skipped
    needles: dict[str, str] = field(default_factory=dict)  # doc_id -> text its chunks must hold
    forbidden: list[str] = field(default_factory=list)  # text no chunk or title may hold
    must_index: list[str] = field(default_factory=list)  # doc_ids that must be indexed
    legacy: list[str] = field(default_factory=list)  # doc_ids that must be reported read from a legacy encoding
    must_skip: list[str] = field(default_factory=list)  # doc_ids that must not be indexed
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 180.0


@dataclass
class Case:
    name: str
    title: str  # the table's "check" column
    build: Callable[[Path, Path, "Options"], Plan]  # (folder, base, options) -> plan


@dataclass
class Options:
    tiny: int = 10_000
    big_mb: float = 50.0
    embedder: str = "hash"


@dataclass
class CaseResult:
    name: str
    title: str
    offered: int = 0
    crashed: str = ""  # why, or ""
    indexed: int = 0  # documents in the index
    chunks: int = 0
    skipped: int = 0
    reasons: Counter = field(default_factory=Counter)
    same_name: int = 0  # files whose doc_id another file of the run also had
    decoded: int = 0  # files the run said it read from a legacy encoding
    duplicate_chunks: int = 0  # duplicate chunk ids, or chunks of a second version of a document
    outside: list[str] = field(default_factory=list)  # paths changed outside the data dir
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.crashed and not self.problems and not self.outside


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def _offered(folder: Path) -> int:
    """Entries a folder scan must deal with: supported names that are not folders (links
    to folders are not followed, as ingest does not follow them)."""
    count = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.splitext(name)[1].lower() in SUPPORTED_SUFFIXES and not os.path.isdir(path):
                count += 1
    return count


def _png(rng: random.Random) -> bytes:
    def part(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    raw = bytes(rng.randrange(256) for _ in range(4 * 64 * 65))
    return (b"\x89PNG\r\n\x1a\n" + part(b"IHDR", (64).to_bytes(4, "big") * 2 + b"\x08\x06\x00\x00\x00")
            + part(b"IDAT", zlib.compress(raw)) + part(b"IEND", b""))


# -- the cases ---------------------------------------------------------------------------------
def _empty(folder: Path, base: Path, o: Options) -> Plan:
    _write(folder / "empty.txt", b"")
    _write(folder / "blank.md", b"  \n\n\t \n")
    _write(folder / "bom_only.txt", b"\xef\xbb\xbf")
    _write(folder / "bom16_only.txt", b"\xff\xfe")
    _write(folder / "empty.html", b"<html><head></head><body>  </body></html>")
    _write(folder / "good.txt", GOOD_TEXT)
    return Plan(args=[str(folder)], offered=_offered(folder), must_index=["good"])


def _binary(folder: Path, base: Path, o: Options) -> Plan:
    rng = random.Random(1)
    _write(folder / "random.txt", bytes(rng.randrange(256) for _ in range(65536)))
    _write(folder / "random_no_nul.md", bytes(rng.randrange(1, 256) for _ in range(65536)))
    _write(folder / "image.html", _png(rng))
    _write(folder / "nul.txt", b"\x00" * 4096)
    _write(folder / "gzip.txt", zlib.compress(GOOD_TEXT.encode() * 50))
    _write(folder / "elf.md", b"\x7fELF\x02\x01\x01" + bytes(rng.randrange(256) for _ in range(4096)))
    # Valid UTF-8 made of control characters, and text with a NUL after the first 8 KB.
    _write(folder / "controls.txt", bytes(rng.choice([*range(1, 9), *range(14, 32), 127]) for _ in range(8192)))
    _write(folder / "late_nul.txt", GOOD_TEXT.encode() * 100 + b"\x00\x00" + GOOD_TEXT.encode())
    _write(folder / "good.txt", GOOD_TEXT)
    return Plan(args=[str(folder)], offered=_offered(folder), must_index=["good"])


def _article_block(size: int, seed: int) -> bytes:
    from .corpus import article_text

    parts, total, serial = [], 0, seed * 100_000
    while total < size:
        text = article_text(serial, 1, sentences=12) + "\n"
        parts.append(text)
        total += len(text)
        serial += 1
    return "".join(parts).encode()[:size]


def _huge(folder: Path, base: Path, o: Options) -> Plan:
    block = _article_block(1 << 20, 1)
    path = folder / "huge.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        whole, rest = divmod(int(o.big_mb * (1 << 20)), len(block))
        for _ in range(whole):
            out.write(block)
        out.write(block[:rest])
    _write(folder / "good.txt", GOOD_TEXT)
    return Plan(args=[str(folder)], offered=2, must_index=["good"], timeout=600)


def _large(folder: Path, base: Path, o: Options) -> Plan:
    # ~3 MB: more chunks (~7,000) than Chroma takes in one write (5,461), well under any sane size limit.
    _write(folder / "large.txt", _article_block(3 << 20, 2))
    _write(folder / "good.txt", GOOD_TEXT)
    return Plan(args=[str(folder)], offered=2, must_index=["good", "large"], timeout=900)


def _nested_html(folder: Path, base: Path, o: Options) -> Plan:
    deep = 10_000
    _write(folder / "divs.html", "<html><body>" + "<div>" * deep + "<p>The deepest sentence of the divs.</p>"
           + "</div>" * deep + "</body></html>")
    _write(folder / "unclosed.html", "<body>" + "<b><i><span>" * deep + "The sentence under unclosed tags.")
    _write(folder / "tables.html",
           "<table><tr><td>" * 3000 + "The sentence inside the tables." + "</td></tr></table>" * 3000)
    _write(folder / "attrs.html",
           "<p " + " ".join(f'a{i}="{i}"' for i in range(20_000)) + ">The sentence after many attributes.</p>")
    _write(folder / "long_tag.html", '<p title="' + "x" * (1 << 20) + '">The sentence after a long attribute.</p>')
    _write(folder / "open_comment.html", "<p>The sentence before an open comment.</p><!--" + "y " * 200_000)
    _write(folder / "open_tag.html", "<p>The sentence before an open tag.</p><div class='" + "z" * 200_000)
    _write(folder / "long_title.html",
           "<title>" + "Headline " * 100_000 + "</title><p>The sentence under a long title.</p>")
    _write(folder / "long_heading.md", "# " + "Heading " * 100_000 + "\n\nThe sentence under a long heading.\n")
    needles = {"divs": "The deepest sentence of the divs.", "unclosed": "The sentence under unclosed tags.",
               "tables": "The sentence inside the tables.", "attrs": "The sentence after many attributes.",
               "long_tag": "The sentence after a long attribute.",
               "open_comment": "The sentence before an open comment.", "open_tag": "The sentence before an open tag.",
               "long_title": "The sentence under a long title.", "long_heading": "The sentence under a long heading."}
    return Plan(args=[str(folder)], offered=_offered(folder), needles=needles, must_index=list(needles))


_SCRIPTED = """<!doctype html><html><head><title>Harbour news<script>SCRIPTCANARY01()</script></title>
<meta charset="utf-8"><style>body {{ content: "STYLECANARY02" }}</style>
<script>var a = "SCRIPTCANARY03"; if (a < b && c > d) {{ document.write("</p><p>") }}</script>
<script type="module">import "SCRIPTCANARY04"</script><SCRIPT>SCRIPTCANARY05</SCRIPT>
<noscript><p>SCRIPTCANARY07</p></noscript>
</head><body><h1>The pier</h1>
<p onclick="SCRIPTCANARY08()">{text}</p><script src="x.js" />SCRIPTCANARY06</script>
<img src="x" onerror="SCRIPTCANARY09()"><a href="javascript:SCRIPTCANARY10()">A link text.</a>
<template><p>SCRIPTCANARY11</p></template><svg><script>SCRIPTCANARY12</script><style>STYLECANARY13</style></svg>
<script><!-- SCRIPTCANARY14 --></script><iframe srcdoc="<script>SCRIPTCANARY15</script>"></iframe>
<div style="background:url(javascript:SCRIPTCANARY16)">The closing sentence.</div>
<script>SCRIPTCANARY17 /* never closed"""

_HEAD_NOT_CLOSED = ("<html><head><title>Head left open</title><meta charset=utf-8>"
                    "<script>SCRIPTCANARY18()</script><body><p>{text}</p></body></html>")


def _scripted_html(folder: Path, base: Path, o: Options) -> Plan:
    _write(folder / "scripted.html", _SCRIPTED.format(text=GOOD_TEXT.strip()))
    _write(folder / "head_open.html", _HEAD_NOT_CLOSED.format(text="The body of a page whose head is never closed."))
    _write(folder / "style_only.htm", "<style>" + "STYLECANARY19 " * 1000 + "</style><script>SCRIPTCANARY20</script>")
    needles = {"scripted": "4.2 million euros", "head_open": "whose head is never closed"}
    return Plan(args=[str(folder)], offered=_offered(folder), needles=needles, must_index=list(needles),
                forbidden=[f"{kind}CANARY{i:02d}" for i in range(1, 21) for kind in ("SCRIPT", "STYLE")])


_PHRASES = {
    "en": "The pier cost 4.2 million euros.",
    "fr": "La jetée a coûté 4,2 millions d'euros à Aldervik-sur-Mer.",
    "de": "Der Steg kostete 4,2 Millionen Euro, sagte die Bürgermeisterin Jürgen Größe.",
    "ja": "桟橋の建設費は四百二十万ユーロだった。",
    "zh": "码头的造价为四百二十万欧元。",
    "ko": "부두 건설비는 420만 유로였다.",
}


def _encodings(folder: Path, base: Path, o: Options) -> Plan:
    files = {
        "utf8": _PHRASES["fr"].encode("utf-8"),
        "utf8_bom": b"\xef\xbb\xbf" + _PHRASES["de"].encode("utf-8"),
        "utf16le_bom": _PHRASES["ja"].encode("utf-16"),  # Python writes a little-endian BOM
        "utf16be_bom": b"\xfe\xff" + _PHRASES["zh"].encode("utf-16-be"),
        "utf16le_nobom": _PHRASES["fr"].encode("utf-16-le"),
        "utf32_bom": _PHRASES["de"].encode("utf-32"),
        "latin1": _PHRASES["fr"].encode("latin-1"),
        "cp1252": ("« " + _PHRASES["fr"] + " » – 5 €").encode("cp1252"),
        "shift_jis": _PHRASES["ja"].encode("shift_jis"),
        "euc_jp": _PHRASES["ja"].encode("euc_jp"),
        "gb18030": _PHRASES["zh"].encode("gb18030"),
        "big5": "碼頭的造價為四百二十萬歐元。".encode("big5"),
        "euc_kr": _PHRASES["ko"].encode("euc_kr"),
        "mixed_utf8_latin1": _PHRASES["de"].encode("utf-8") + b"\n" + _PHRASES["fr"].encode("latin-1"),
        "mixed_utf8_sjis": _PHRASES["en"].encode() + b"\n" + _PHRASES["ja"].encode("shift_jis"),
        "surrogate_bytes": _PHRASES["en"].encode() + b" \xed\xa0\x80",
        "overlong": _PHRASES["en"].encode() + b" \xc0\xaf",
        "crlf_cr": ("Line one of the pier.\r\nLine two.\rLine three: " + _PHRASES["en"]).encode(),
    }
    for stem, data in files.items():
        _write(folder / f"{stem}.txt", data)
    _write(folder / "meta_sjis.html", b'<html><head><meta charset="shift_jis"></head><body><p>'
           + _PHRASES["ja"].encode("shift_jis") + b"</p></body></html>")
    # A file that is read must hold its words as written (no mojibake).
    language = {"utf8": "fr", "utf8_bom": "de", "utf16le_bom": "ja", "utf16be_bom": "zh", "utf16le_nobom": "fr",
                "utf32_bom": "de", "latin1": "fr", "cp1252": "fr", "shift_jis": "ja", "euc_jp": "ja",
                "gb18030": "zh", "euc_kr": "ko", "mixed_utf8_latin1": "de", "mixed_utf8_sjis": "en",
                "surrogate_bytes": "en", "overlong": "en", "crlf_cr": "en", "meta_sjis": "ja"}
    needles = {stem: _PHRASES[lang] for stem, lang in language.items()}
    needles["big5"] = "碼頭的造價"
    # Legacy encodings are read (as declared, or detected surely) and said so; ASCII with
    # Shift-JIS is Shift-JIS. UTF-8 with Latin-1 pasted in, and a broken UTF-8 sequence in
    # English text (too few bytes to tell), are not guessed at.
    legacy = ["latin1", "cp1252", "shift_jis", "euc_jp", "gb18030", "big5", "euc_kr", "mixed_utf8_sjis", "meta_sjis"]
    return Plan(args=[str(folder)], offered=_offered(folder), needles=needles, legacy=legacy,
                must_index=["utf8", "utf8_bom", "utf16le_bom", "utf16be_bom", "crlf_cr", *legacy],
                must_skip=["mixed_utf8_latin1", "surrogate_bytes", "overlong", "utf16le_nobom", "utf32_bom"])


def _odd_names(folder: Path, base: Path, o: Options) -> Plan:
    names = ["with space.txt", "ünïcödé 記事.txt", "emoji 🙂.md", "new\nline.txt", "tab\tand\x1b[31mescape.txt",
             "carriage\rreturn.txt", "-leading-dash.txt", "--help.txt", "x" * 240 + ".txt", "é" * 120 + ".txt",
             "back\\slash.txt", ".hidden.txt", "UPPER.TXT", "same.txt", "same.md", "semi;colon $(echo x) `id`.txt",
             "%s%n{0}.txt", "<img src=x onerror=alert(1)>.html", "colon:doc.txt", "trailing space .txt",
             "dots...txt", "zero\u200bwidth.txt", "rtl\u202eoverride.txt", "line\u2028separator.txt"]
    for i, name in enumerate(names):
        _write(folder / name, f"Article {i} of the odd names. The pier number {i} cost {i + 2} million euros.\n")
    bad = os.fsencode(folder) + b"/bad\xff\xfename.txt"  # not UTF-8: a name Linux allows
    with open(bad, "wb") as out:
        out.write(b"The article with a name that is not UTF-8.\n")
    (folder / "folder.txt").mkdir()
    _write(folder / "folder.txt" / "inner.txt", "The article inside a folder named like a file.\n")
    outside = _write(base / "outside" / "secret.txt", "The secret article outside the folder.\n")
    os.symlink(folder / "with space.txt", folder / "link_inside.txt")
    os.symlink(outside, folder / "link_outside.txt")
    os.symlink(os.path.relpath(outside, folder), folder / "dotdot_link.txt")  # ../../outside/secret.txt
    os.symlink(folder / "nope.txt", folder / "dangling.txt")
    os.symlink(".", folder / "loop")
    os.symlink(outside.parent, folder / "outdir")
    os.symlink("/dev/zero", folder / "zero.txt")
    os.symlink("/dev/null", folder / "null.txt")
    os.mkfifo(folder / "pipe.txt")
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.bind(str(folder / "sock.txt"))
        except OSError:
            pass
    try:
        os.mknod(folder / "device.txt", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # a /dev/zero of its own (root)
    except (OSError, AttributeError):
        pass
    noread = _write(folder / "noread.txt", "An article nobody may read.\n")
    noread.chmod(0)
    return Plan(args=[str(folder)], offered=_offered(folder), must_index=["with space", "ünïcödé 記事", "inner"],
                timeout=120)


def _special(folder: Path, base: Path, o: Options) -> Plan:
    """Non-regular files named on the command line: a read of any of them blocks or never ends."""
    folder.mkdir(parents=True, exist_ok=True)
    os.mkfifo(folder / "pipe.txt")
    os.symlink(folder / "pipe.txt", folder / "pipe_link.md")
    good = _write(folder / "good.txt", GOOD_TEXT)
    args = [str(folder / "pipe.txt"), str(folder / "pipe_link.md"), "/dev/null", str(folder / "missing.txt"),
            str(good)]
    return Plan(args=args, offered=len(args), must_index=["good"], timeout=90)


def _tiny(folder: Path, base: Path, o: Options) -> Plan:
    rng = random.Random(5)
    towns = ["Aldervik", "Brenholm", "Corvano", "Dunmere", "Eskaton", "Farrow", "Gildan", "Hesper"]
    for i in range(o.tiny):
        sub = folder / f"part{i // 1000:02d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        (sub / f"t{i:05d}.txt").write_text(f"Item {i}: {rng.choice(towns)} counted {rng.randint(2, 900)} boats.\n",
                                           encoding="utf-8")
    return Plan(args=["--quiet", str(folder)], offered=o.tiny, timeout=120 + o.tiny * 0.25)


def _uploads(folder: Path, base: Path, o: Options) -> Plan:
    names = ["../../escape_up.txt", "../../../../../../escape_far.txt", f"{base}/absolute_escape.txt",
             "sub/../../dotdot.txt", "..", ".", "", "..\\..\\windows_escape.txt", "C:\\Users\\x\\drive.txt",
             "nul\x00byte.txt", "new\nline.txt", "x" * 300 + ".txt", "日本語の記事.txt", "ok.txt", ".txt",
             "~/home.txt", "dup.txt", "dup.txt", "ctrl\x1b[2J\x07.md", "big.txt", "gone.txt"]
    uploads = []
    for i, name in enumerate(names):
        path = folder / f"gradio{i:02d}" / "upload.txt"  # Gradio keeps each upload in a folder of its own
        text = f"Upload {i}. The pier number {i} of Aldervik cost {i + 2} million euros.\n"
        _write(path, text * (3000 if name == "big.txt" else 1))
        if name == "gone.txt":
            path.unlink()  # the temporary file vanished before the copy
        uploads.append((str(path), name))
    # Count limit: 6 files where an upload takes 5 (checked by the child, a separate call).
    env = {"RAG_UPLOAD_MAX_BYTES": "100000", "RAG_UPLOAD_MAX_FILES": str(len(names))}
    return Plan(uploads=uploads, offered=len(uploads), must_index=["ok", "日本語の記事"], env=env, timeout=180)


CASES: tuple[Case, ...] = (
    Case("empty", "empty, blank and BOM-only files", _empty),
    Case("binary", "binary files named .txt/.md/.html (random bytes, PNG, NULs, gzip, ELF, control characters)",
         _binary),
    Case("huge", "one file of {big_mb:g} MB", _huge),
    Case("large", "one 3 MB file (~7,000 chunks, more than one Chroma write takes)", _large),
    Case("nested", "deeply nested HTML (10,000 divs, unclosed tags, 3,000 tables, 20,000 attributes, open comment, "
         "900 KB title)",
         _nested_html),
    Case("scripts", "HTML with script, style, noscript, template, on* handlers, javascript: links (20 canaries)",
         _scripted_html),
    Case("encodings", "mixed encodings (UTF-8 +/- BOM, UTF-16/32, Latin-1, cp1252, Shift-JIS, EUC, GB18030, Big5, "
         "mixed in one file)", _encodings),
    Case("names", "odd names (controls, unicode, dashes, 240-byte, not UTF-8) and links (outside, ../, dangling, "
         "loop, /dev/zero), FIFO, socket, device", _odd_names),
    Case("special", "a FIFO, a link to it, /dev/null and a missing file named on the command line", _special),
    Case("tiny", "{tiny:,} tiny files", _tiny),
    Case("uploads", "UI upload of 21 files with hostile names (../, absolute, NUL, 300 bytes, \\, controls), "
         "one too big, one gone; then one file over the count limit", _uploads),
)


# -- the parent ----------------------------------------------------------------------------------
def snapshot(root: Path, exclude: set[str]) -> dict[str, tuple]:
    """Every entry under ``root`` (links not followed) with its type, size and mtime;
    folders by their presence only (their mtime moves when a temporary file comes and goes)."""
    seen: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in exclude]
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            kind = stat.S_IFMT(st.st_mode)
            seen[path] = (kind,) if kind == stat.S_IFDIR else (kind, st.st_size, st.st_mtime_ns)
    return seen


def reason_kind(path: str, reason: str) -> str:
    """A skip reason without its file's name or figures: "the file is empty", "not UTF-8 text"."""
    for prefix in (path, os.path.basename(path), printable(path), printable(os.path.basename(path))):
        if prefix and reason.startswith(prefix + ": "):
            reason = reason[len(prefix) + 2:]
            break
    reason = re.split(r"[;(]", reason)[0].strip()
    return re.sub(r"(?<![\w-])\d[\d,.]*", "N", reason)


def run_case(case: Case, base: Path, options: Options) -> CaseResult:
    title = case.title.format(big_mb=options.big_mb, tiny=options.tiny)
    root = base / "cases" / "a" / "b" / case.name  # deep, so a "../../.." name stays inside base
    folder, data, tmp, control = root / "files", root / "data", root / "tmp", base / "control"
    tmp.mkdir(parents=True)
    control.mkdir(exist_ok=True)
    plan = case.build(folder, base, options)
    result = CaseResult(case.name, title, offered=plan.offered)
    spec = {"args": plan.args, "uploads": plan.uploads, "embedder": options.embedder, "needles": plan.needles,
            "forbidden": plan.forbidden, "result": str(control / f"{case.name}.json")}
    spec_path = control / f"{case.name}.spec.json"
    spec_path.write_text(json.dumps(spec))
    exclude = {str(data), str(control)}
    before = snapshot(base, exclude)
    env = {**os.environ, "RAG_DATA_DIR": str(data), "RAG_COLLECTION": f"files-{case.name}", "TMPDIR": str(tmp),
           "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False", **plan.env}
    command = [sys.executable, "-m", "eval.robustness.files", "--child", str(spec_path)]
    started = time.monotonic()
    child = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = child.communicate(timeout=plan.timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        result.crashed = f"no end in {plan.timeout:.0f} s (killed)"
    result.seconds = time.monotonic() - started
    after = snapshot(base, exclude)
    changed = (set(before) ^ set(after)) | {p for p in before if p in after and before[p] != after[p]}
    result.outside = sorted(printable(os.path.relpath(p, base)) for p in changed)
    if result.crashed:
        return result
    try:
        report = json.loads(Path(spec["result"]).read_text())
    except (OSError, ValueError):
        result.crashed = f"child exited {child.returncode}: {err.decode(errors='replace').strip()[-300:]}"
        return result
    _judge(result, report, plan)
    return result


def _judge(result: CaseResult, report: dict, plan: Plan) -> None:
    if report.get("traceback"):
        result.crashed = "traceback: " + report["traceback"].strip().splitlines()[-1][:200]
    elif report.get("aborted"):
        result.crashed = "aborted: " + printable(report["aborted"])[:200]
    processed = report.get("processed", [])
    skipped = report.get("skipped", [])
    result.skipped = len(skipped)
    result.reasons = Counter(reason_kind(path, reason) for path, reason in skipped)
    result.same_name = len(processed) - len(set(processed))
    result.indexed = len(report.get("documents", []))
    result.chunks = report.get("chunks", 0)
    result.duplicate_chunks = report.get("duplicate_ids", 0) + report.get("second_versions", 0)
    result.problems += report.get("problems", [])
    if result.crashed:
        return
    handled = len(processed) + len(skipped)
    if handled != plan.offered:
        result.problems.append(f"{plan.offered - handled} of {plan.offered} files neither indexed nor reported")
    if report.get("skip_lines") != len(skipped):
        result.problems.append(f"{report.get('skip_lines')} skip lines for {len(skipped)} skipped files")
    if report.get("stray_lines"):
        result.problems.append(f"messages broken over lines: {printable(report['stray_lines'][0])!r}")
    if "list_lines" in report and report["list_lines"] != result.indexed:
        result.problems.append(f"--list: {report['list_lines']} lines for {result.indexed} documents")
    if report.get("raw_controls"):
        result.problems.append(f"raw control characters printed: {printable(report['raw_controls'][0])!r}")
    if result.duplicate_chunks:
        result.problems.append(f"{result.duplicate_chunks} duplicate or second-version chunks")
    documents = set(report.get("documents", []))
    missing = [d for d in plan.must_index if d not in documents]
    if missing:
        result.problems.append(f"not indexed: {', '.join(printable(d) for d in missing)}")
    guessed = [d for d in plan.must_skip if d in documents]
    if guessed:
        result.problems.append(f"indexed though no encoding is sure: {', '.join(guessed)}")
    decoded = report.get("decoded", [])
    result.decoded = len(decoded)
    unsaid = [d for d in plan.legacy if d not in decoded]
    if unsaid:
        result.problems.append(f"read from a legacy encoding without saying so: {', '.join(unsaid)}")
    if report.get("forbidden_found"):
        result.problems.append(f"script/style text in chunks: {', '.join(report['forbidden_found'][:5])}")
    if report.get("longest_title", 0) > 1000:
        result.problems.append(f"a title of {report['longest_title']:,} characters (kept with every chunk)")
    if report.get("needles_missing"):
        result.problems.append(f"indexed without their text (mojibake or lost): "
                               f"{', '.join(report['needles_missing'][:6])}")
    unsafe = [d for d in documents if re.search(r"[/\\\x00-\x1f\x7f]", d)]
    if plan.uploads and unsafe:
        result.problems.append(f"upload doc_ids with separators or controls: "
                               f"{', '.join(printable(d) for d in unsafe[:4])}")


def run_files(options: Options, *, only: list[str] | None = None, base: Path | None = None) -> list[CaseResult]:
    import tempfile

    results = []
    with tempfile.TemporaryDirectory(prefix="rag-files-", dir=base) as tmp:
        for case in CASES:
            if only and case.name not in only:
                continue
            print(f"    files: {case.name}", file=sys.stderr, flush=True)
            results.append(run_case(case, Path(tmp), options))
        _restore_permissions(Path(tmp))
    return results


def _restore_permissions(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path) and stat.S_ISREG(os.lstat(path).st_mode):
                os.chmod(path, 0o600)


def measured(r: CaseResult) -> str:
    reasons = ", ".join(f"{kind} {n}" for kind, n in r.reasons.most_common(4))
    more = len(r.reasons) - 4
    text = (f"{r.offered} files: {r.indexed} indexed ({r.chunks} chunks), {r.skipped} skipped"
            + (f" ({reasons}{f', {more} other reasons' if more > 0 else ''})" if reasons else ""))
    if r.decoded:
        text += f"; {r.decoded} read from a legacy encoding (said so)"
    if r.same_name:
        text += f"; {r.same_name} same doc_id as another file (the later kept)"
    text += f"; crashed: {r.crashed or 'no'}; writes outside the data dir: {len(r.outside)}"
    if r.outside:
        text += f" ({', '.join(r.outside[:3])})"
    if r.problems:
        text += "; " + "; ".join(r.problems)
    return f"{text}; {r.seconds:.0f} s"


def run_section(*, tiny: int = 10_000, big_mb: float = 50.0, embedder: str = "hash",
                cases: list[str] | None = None) -> list:
    from .report import Row

    unknown = sorted(set(cases or []) - {c.name for c in CASES})
    if unknown:
        raise SystemExit(f"unknown files case(s): {', '.join(unknown)}; the cases: {', '.join(c.name for c in CASES)}")
    options = Options(tiny=tiny, big_mb=big_mb, embedder=embedder)
    rows = []
    for r in run_files(options, only=cases):
        rows.append(Row("bad input", f"files: {r.title} ({embedder} embedder)", measured(r), r.ok,
                        "no crash; each file indexed or skipped with a reason; 0 writes outside the data dir"))
    return rows


# -- the child ---------------------------------------------------------------------------------
_RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _child(spec_path: str) -> int:
    import contextlib
    import io
    import traceback

    spec = json.loads(Path(spec_path).read_text())
    import rag.embeddings
    import rag.indexing

    if spec["embedder"] == "hash":
        from .crash import HashEmbedder

        embedder = HashEmbedder()
        rag.embeddings.get_embedder = lambda *, config: embedder
    reports = []
    original = rag.indexing.ingest_paths

    def recording(*args, **kwargs):
        report = original(*args, **kwargs)
        reports.append(report)
        return report

    rag.indexing.ingest_paths = recording
    result: dict = {"problems": []}
    from rag.config import RAGConfig

    config = RAGConfig.from_env()
    try:
        if spec["uploads"]:
            _child_uploads(spec, config, result, reports)
        else:
            sys.path.insert(0, str(REPO_ROOT))
            import ingest

            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                status = ingest.main(spec["args"])
            if status == 2:
                result["aborted"] = f"exit 2: {err.getvalue().strip()[-300:]}"
            lines = err.getvalue().splitlines()
            result["skip_lines"] = sum(1 for line in lines if line.startswith("skipped: "))
            result["stray_lines"] = [line for line in lines
                                     if not line.startswith(("skipped: ", "warning: ", "error: ",
                                                             "updating the index catalog for "))]
            if reports:
                first = reports[0]  # ingest's own run (a second one re-indexes outdated documents)
                result["processed"] = first.added + first.updated + first.unchanged
                result["skipped"] = [[str(p), r] for p, r in first.skipped]
            listing = io.StringIO()
            with contextlib.redirect_stdout(listing):
                ingest.main(["--list"])
            result["list_lines"] = len(listing.getvalue().splitlines())
            result["decoded"] = [Path(line.split(": ", 1)[1]).stem for line in out.getvalue().splitlines()
                                 if line.startswith("read as ") and ": " in line]
            result["raw_controls"] = [line[:80] for line in lines + out.getvalue().splitlines()
                                      + listing.getvalue().splitlines() if _RAW_CONTROL.search(line)]
    except BaseException:
        result["traceback"] = traceback.format_exc()
    try:
        _child_index(spec, config, result)
    except Exception as exc:
        result["problems"].append(f"the index could not be read: {type(exc).__name__}: {exc}"[:300])
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


def _child_uploads(spec: dict, config, result: dict, reports: list) -> None:
    import ui
    from rag.embeddings import get_embedder
    from rag.store import open_store

    embedder = get_embedder(config=config)
    rag_ui = ui.RagUI(config, store=open_store(config=config, embedder=embedder), embedder=embedder)
    files = [{"path": path, "orig_name": name} for path, name in spec["uploads"]]
    message, *_ = rag_ui.ingest_files(files)
    if "Indexing failed" in message:
        result["aborted"] = message
    lines = message.splitlines()
    summary = re.search(r"(\d+) added, (\d+) updated, (\d+) unchanged, (\d+) skipped", lines[0] if lines else "")
    skip_lines = [line[len("- skipped "):] for line in lines if line.startswith("- skipped ")]
    result["skip_lines"] = int(summary[4]) if summary else None
    result["stray_lines"] = [line for line in lines[1:] if not line.startswith(("- skipped ", "- read as "))]
    result["decoded"] = [Path(line.split(": ", 1)[1]).stem for line in lines
                         if line.startswith("- read as ") and ": " in line]
    result["raw_controls"] = [line[:80] for line in lines if _RAW_CONTROL.search(line)]
    # The upload's own refusals (same name, too big, not saved) and ingest's skips: one line each.
    result["skipped"] = [line.split(": ", 1) if ": " in line else [line, line] for line in skip_lines]
    result["processed"] = [d for r in reports[:1] for d in r.added + r.updated + r.unchanged]
    # One file more than an upload takes: refused as a whole, with the setting named.
    over = rag_ui.ingest_files(files[:1] * (config.upload_max_files + 1))[0]
    if "RAG_UPLOAD_MAX_FILES" not in over:
        result["problems"].append(f"an upload over the count limit was not refused: {over[:120]!r}")
    if "RAG_UPLOAD_MAX_BYTES" not in message:
        result["problems"].append("the file over RAG_UPLOAD_MAX_BYTES was not refused")


def _child_index(spec: dict, config, result: dict) -> None:
    from rag.embeddings import get_embedder
    from rag.store import open_store

    store = open_store(config=config, embedder=get_embedder(config=config))
    collection = store._collection
    ids, keys, texts = [], {}, {}
    needles, forbidden = spec["needles"], spec["forbidden"]
    found, longest = set(), 0
    total = collection.count()
    for offset in range(0, max(total, 1), 5000):
        got = collection.get(include=["metadatas", "documents"], limit=5000, offset=offset)
        for chunk_id, meta, text in zip(got["ids"], got["metadatas"], got["documents"]):
            ids.append(chunk_id)
            doc_id = meta.get("document_id", "?")
            keys.setdefault(doc_id, set()).add(meta.get("index_key", ""))
            if doc_id in needles:
                texts[doc_id] = texts.get(doc_id, "") + " " + text
            longest = max(longest, len(str(meta.get("title", ""))))
            for word in forbidden:
                if word in text or word in str(meta.get("title", "")):
                    found.add(word)
        if len(got["ids"]) < 5000:
            break
    result["documents"] = sorted(keys)
    result["chunks"] = len(ids)
    result["duplicate_ids"] = len(ids) - len(set(ids))
    result["second_versions"] = sum(1 for k in keys.values() if len(k) > 1)
    result["forbidden_found"] = sorted(found)
    result["longest_title"] = longest
    squash = lambda s: " ".join(s.split())  # noqa: E731
    result["needles_missing"] = sorted(doc_id for doc_id, needle in needles.items()
                                       if doc_id in texts and needle and squash(needle) not in squash(texts[doc_id]))


if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == "--child":
    sys.exit(_child(sys.argv[2]))
