import pytest

from rag.documents import DocumentError, find_files, html_to_text, load_document, parse_document


def test_txt_title_and_language(tmp_path):
    path = tmp_path / "apple.txt"
    path.write_text("Apple loses researchers\n\nMeta hired Ruoming Pang from Apple in July. He led a team.", encoding="utf-8")
    doc = load_document(path)
    assert doc.doc_id == "apple"
    assert doc.title == "Apple loses researchers"
    assert doc.language == "en"
    assert len(doc.content_hash) == 64


def test_long_first_line_is_not_a_title():
    doc = parse_document(("Une très longue phrase d'ouverture qui n'est pas un titre du tout, "
                          "car elle continue encore et encore.\nSuite.").encode(), "x.txt")
    assert doc.title.startswith("Une très longue phrase") and doc.title.endswith("…")
    assert doc.language == "fr"


def test_markdown_heading_is_the_title():
    doc = parse_document("# 苹果AI团队\n\n庞若鸣宣布加入Meta。".encode(), "zh.md")
    assert doc.title == "苹果AI团队"
    assert doc.language == "zh"


def test_html_text_and_title():
    html = ("<html><head><title>Meta hires</title><style>p{}</style></head><body>"
            "<h1>Headline</h1><p>First &amp; second.</p><script>var x=1;</script><p>Third</p></body></html>")
    title, text = html_to_text(html)
    assert title == "Meta hires"
    assert text == "Headline\n\nFirst & second.\n\nThird"
    doc = parse_document(html.encode(), "page.html")
    assert "var x" not in doc.text and doc.title == "Meta hires"


@pytest.mark.parametrize(
    "data,name,message",
    [
        (b"", "empty.txt", "empty"),
        (b"   \n\n", "blank.txt", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "image.txt", "binary"),
        ("café".encode("latin-1"), "latin.txt", "not UTF-8"),
        (b"hello", "notes.pdf", "unsupported"),
        (b"<html><script>x</script></html>", "empty.html", "no text"),
        (b"\xff\xfe" + " \n".encode("utf-16-le"), "blank16.txt", "empty"),
        (b"\xff\xfeA\x00B", "odd16.txt", "broken UTF-16"),
    ],
)
def test_bad_files_raise_clear_errors(data, name, message):
    with pytest.raises(DocumentError, match=message):
        parse_document(data, name)


def test_utf16_with_byte_order_mark_is_read():
    # Windows editors save "Unicode" text as UTF-16 with a BOM; it is text, not binary.
    for encoding in ("utf-16", "utf-16-be"):
        data = "アップル\r\nMeta hired Pang.".encode(encoding)
        if encoding == "utf-16-be":
            data = b"\xfe\xff" + data
        doc = parse_document(data, "note.txt")
        assert doc.text.startswith("アップル\nMeta hired Pang.")


def test_find_files_expands_folders(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.html").write_text("b")
    (tmp_path / "c.bin").write_text("c")
    assert [p.name for p in find_files([tmp_path])] == ["a.txt", "b.html"]


# -- bad files (issue 22, eval/robustness/files.py) -------------------------------------------
def _load_in_time(path, seconds=5.0, **kwargs):
    """load_document in a thread: a read that blocks (a FIFO) fails the test instead of hanging it."""
    import os
    import threading

    outcome = {}

    def run():
        try:
            outcome["doc"] = load_document(path, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive() and path.is_fifo():  # let the blocked open return
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
    assert "doc" in outcome or "error" in outcome, f"reading {path} did not end in {seconds:g} s"
    return outcome.get("error")


def test_a_fifo_or_a_device_is_refused_without_being_read(tmp_path):
    import os
    from pathlib import Path

    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    (tmp_path / "link.md").symlink_to(fifo)
    for path, kind in ((fifo, "a FIFO"), (tmp_path / "link.md", "a FIFO"), (Path("/dev/null"), "a character device")):
        error = _load_in_time(path)
        assert isinstance(error, DocumentError) and f"not a regular file ({kind})" in str(error), (path, error)


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("The pier cost 4.2 million euros. " * 100, encoding="utf-8")
    with pytest.raises(DocumentError, match=r"big.txt: larger than 1,000 bytes \(3,300 bytes; RAG_INGEST_MAX_BYTES\)"):
        load_document(path, max_bytes=1000)
    assert load_document(path, max_bytes=3300).doc_id == "big"
    (tmp_path / "huge.txt").write_bytes(b"x" * 2_500_000)
    with pytest.raises(DocumentError, match=r"larger than 2 MB \(2.5 MB; RAG_INGEST_MAX_BYTES\)"):
        load_document(tmp_path / "huge.txt", max_bytes=2_000_000)


def test_broken_links_fifos_and_names_that_are_not_utf8_get_a_reason(tmp_path):
    import os

    (tmp_path / "dangling.txt").symlink_to(tmp_path / "nope.txt")
    os.mkfifo(tmp_path / "pipe.md")
    bad = os.fsencode(tmp_path) + b"/bad\xffname.txt"
    with open(bad, "wb") as out:
        out.write(b"Some text.")
    (tmp_path / "loop").symlink_to(tmp_path)  # a link to a folder is not followed
    found = find_files([tmp_path])
    assert sorted(p.name for p in found) == sorted(["bad\udcffname.txt", "dangling.txt", "pipe.md"])
    reasons = {p.name: str(_load_in_time(p)) for p in found}
    assert reasons["dangling.txt"].endswith("dangling.txt: a link to a missing file")
    assert reasons["pipe.md"].endswith("pipe.md: not a regular file (a FIFO); only files are read")
    assert reasons["bad\udcffname.txt"].endswith(r"bad\xffname.txt: the file name is not valid UTF-8; "
                                                  "rename the file to index it")


@pytest.mark.parametrize("data", [
    b"The pier cost 4.2 million euros. " * 300 + b"\x00\x00binary tail",  # a NUL past the first 8 KB
    bytes(range(1, 9)) * 200,  # valid UTF-8, but control characters
])
def test_binary_content_anywhere_is_binary(data):
    with pytest.raises(DocumentError, match="looks like a binary file"):
        parse_document(data, "x.txt")


def test_text_with_a_few_control_characters_is_still_text():
    doc = parse_document(b"Title\n\nThe pier\x0c cost \x1b[1m4.2\x1b[0m million euros. " * 20, "x.txt")
    assert "4.2" in doc.text


@pytest.mark.parametrize("html,title,text", [
    # </head> is optional: the body of a page that never closes its head is its text.
    ("<html><head><title>T</title><meta charset=utf-8><body><p>Body text.</p>", "T", "Body text."),
    ("<head><title>T</title><p>Body text.</p>", "T", "Body text."),
    ("<p>First.</p><head><p>Second.</p>", None, "First.\n\nSecond."),  # a stray <head> in the body
    # HTML ignores the slash of <script/>: what follows up to </script> is script.
    ("<p>First.</p><script src=x />alert(1)</script><p>Second.</p>", None, "First.\n\nSecond."),
    ("<title>T<script>alert(1)</script></title><p>Body.</p>", "T", "Body."),
    # What a closed head holds that no head holds (an unknown element, stray text) is not text...
    ("<head><title>T</title><custom-el>widget config</custom-el></head><body><p>Body.</p>", "T", "Body."),
    ("<head><title>T</title>stray words</head><p>Body.</p>", "T", "Body."),
    # ... but in a head that is never closed it is: the body began there.
    ("<head><title>T</title><custom-el>widget config</custom-el><p>Body.</p>", "T", "widget config\nBody."),
    ("<head><title>T</title><custom-el>Body text</custom-el>", "T", "Body text"),
    ("<head><title>T</title>Only text, and no body tag.", "T", "Only text, and no body tag."),
    ("<head><title>T</title><custom-el>Held</custom-el><body>Body.</body>", "T", "HeldBody."),
])
def test_html_scripts_stay_out_and_an_open_head_keeps_the_body(html, title, text):
    assert html_to_text(html) == (title, text)


def test_titles_are_kept_short_and_a_cut_title_is_still_embedded():
    from rag.chunking import approximate_token_count, chunk_document

    doc = parse_document(("# " + "Heading " * 2000 + "\n\nThe text.").encode(), "long.md")
    assert doc.title == ("Heading " * 25).strip()  # cut at 200 characters, no "…"
    html = parse_document(("<title>" + "T " * 5000 + "</title><p>Body.</p>").encode(), "long.html")
    assert len(html.title) <= 200 and not html.title.endswith("…")
    for cut in (doc, html):
        # A title ending in "…" is a stand-in and left out of what the embedder reads; a cut
        # real title is a headline and goes in (before: every 200-character title was left out).
        assert chunk_document(cut, approximate_token_count)[0].embedding_text().startswith(cut.title + "\n")
    elided = parse_document(("<title>" + "x" * 199 + "…" + "y" * 50 + "</title><p>Body.</p>").encode(), "e.html")
    assert elided.title == "x" * 199
    stand_in = parse_document(("An opening sentence that is far too long to be a headline, and goes on. "
                               "Then more.").encode(), "s.txt")
    assert stand_in.title.endswith("…")
    assert chunk_document(stand_in, approximate_token_count)[0].embedding_text() == stand_in.text


def test_printable_escapes_what_would_break_a_line():
    from rag.documents import printable

    assert printable("new\nline\ttab\x1b[31m") == "new\\nline\\ttab\\x1b[31m"
    assert printable("rtl\u202eexe \u2028") == "rtl\\u202eexe \\u2028"
    assert printable("bad\udcffname") == "bad\\xffname"
    assert printable("Ünïcödé 記事 🙂") == "Ünïcödé 記事 🙂"


@pytest.mark.parametrize("name,safe", [
    ("../../x.txt", "x.txt"), ("/etc/passwd.txt", "passwd.txt"), ("..\\..\\win.txt", "win.txt"),
    ("C:\\Users\\a\\b.md", "b.md"), ("..", "upload"), (".", "upload"), ("", "upload"), ("a/..", "upload"),
    ("nul\x00byte.txt", "nulbyte.txt"), ("new\nline.txt", "newline.txt"), ("日本語の記事.txt", "日本語の記事.txt"),
    ("-dash.txt", "-dash.txt"), ("x" * 300 + ".txt", "x" * 251 + ".txt"), ("é" * 200 + ".md", "é" * 126 + ".md"),
])
def test_upload_names_are_one_safe_component(name, safe):
    from rag.documents import upload_name

    assert upload_name(name) == safe
    assert len(upload_name(name).encode()) <= 255
