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
