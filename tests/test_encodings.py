"""Files in legacy encodings: read as declared or as surely detected, else skipped with a
reason. The texts are generic news-like paragraphs written for these tests."""

import random
import zlib

import pytest

from rag.documents import DocumentError, content_hash, parse_document
from rag.encodings import alphabet_fit, declared_encoding, looks_garbled, read_legacy

PARAGRAPHS = {
    "fr": "Le conseil municipal a voté mardi la rénovation du pont, dont le coût est estimé à 3,5 millions "
          "d'euros. Les travaux commenceront en été et dureront près d'un an, a précisé l'adjointe.",
    "de": "Die Stadtverwaltung kündigte am Montag an, dass die Brücke über den Fluss bis Ende März gesperrt "
          "bleibt. Der Bürgermeister sagte, die Kosten trage überwiegend das Land.",
    "es": "El ayuntamiento aprobó el miércoles un presupuesto para ampliar la biblioteca pública. Según los "
          "técnicos, el edificio ganará una terraza con vistas al río y más espacio para niños.",
    "en": "The council said on Tuesday that the “new” ferry terminal – delayed twice – would open in May. "
          "Tickets will cost €4.50 for adults… and children travel free, a spokeswoman said.",
    "cs": "Městská rada ve čtvrtek schválila opravu mostu přes řeku, která bude stát přibližně sto milionů "
          "korun. Práce začnou v létě a potrvají téměř rok, uvedl náměstek primátora.",
    "pl": "Rada miasta zatwierdziła we wtorek plan remontu mostu, którego koszt oszacowano na 14 milionów "
          "złotych. Piesi będą w tym czasie korzystać z tymczasowej kładki obok śluzy.",
    "tr": "Belediye meclisi salı günü köprünün yenilenmesi planını onayladı. Çalışmalar yazın başlayacak "
          "ve yaklaşık bir yıl sürecek, dedi başkan yardımcısı.",
    "ru": "Городской совет во вторник одобрил план ремонта моста. Работы начнутся летом и продлятся почти "
          "год, сообщил заместитель мэра по транспорту.",
    "el": "Το δημοτικό συμβούλιο ενέκρινε την Τρίτη το σχέδιο ανακαίνισης της γέφυρας. Οι εργασίες θα "
          "ξεκινήσουν το καλοκαίρι και θα διαρκέσουν σχεδόν έναν χρόνο.",
    "ja": "市議会は火曜日、駅前広場の改修計画を承認した。工事は来年春に始まり、費用は約三億円と見込まれている。"
          "工事期間中、バス乗り場は北口のロータリーに移される予定だ。",
    "zh": "市政府周二宣布，新图书馆将于明年春季开放。该馆预计每年接待读者五十万人次，并设有儿童阅览区和自习室。",
    "zh_hant": "市政府週二宣布，新圖書館將於明年春季開放。該館預計每年接待讀者五十萬人次，並設有兒童閱覽區和自習室。",
    "ko": "시의회는 화요일 역 앞 광장의 개보수 계획을 승인했다. 공사는 내년 봄에 시작되며 비용은 약 30억 원으로 "
          "예상된다.",
}
ENCODED = [("fr", "latin-1"), ("fr", "cp1252"), ("de", "latin-1"), ("de", "iso8859-15"), ("es", "cp1252"),
           ("en", "cp1252"), ("cs", "cp1250"), ("pl", "cp1250"), ("pl", "iso8859-2"), ("tr", "cp1254"),
           ("ru", "cp1251"), ("ru", "koi8-r"), ("el", "cp1253"), ("ja", "shift_jis"), ("ja", "euc_jp"),
           ("zh", "gb18030"), ("zh", "gb2312"), ("zh_hant", "big5"), ("ko", "euc_kr")]


@pytest.mark.parametrize("language,encoding", ENCODED)
def test_a_paragraph_in_a_legacy_encoding_is_read_as_written(language, encoding):
    text = PARAGRAPHS[language]
    data = text.encode(encoding)
    doc = parse_document(data, "story.txt")
    assert doc.text == text
    assert doc.encoding != "utf-8" and doc.content_hash == content_hash(data)  # the key names the bytes


def _random_bytes(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(1, 256) for _ in range(size))


@pytest.mark.parametrize("data,reason", [
    (_random_bytes(2000, 1), "no usual encoding"),
    (_random_bytes(300, 2), "no usual encoding"),
    (zlib.compress(b"The pier cost four million euros. " * 40).replace(b"\x00", b"\x01"), "no usual encoding"),
    ("Der Bürgermeister sagte, die Brücke über den Fluss bleibt gesperrt.".encode()
     + "\nLe pont a été fermé.".encode("latin-1"), "partly UTF-8"),
    (b"The pier opened on Monday. \xed\xa0\x80", "too few"),  # an encoded surrogate: broken UTF-8
    ("El río creció.".encode("latin-1"), "too few"),
])
def test_bytes_no_encoding_surely_reads_are_skipped_with_the_reason(data, reason):
    with pytest.raises(DocumentError, match=rf"not UTF-8 text \(byte \d+\); .*{reason}.*save it as UTF-8"):
        parse_document(data, "story.txt")


def test_a_tie_is_skipped_naming_the_likely_encodings():
    # One short sentence of Japanese in EUC-JP reads as Korean in EUC-KR as well.
    data = "市議会は火曜日、駅前広場の改修計画を承認した。".encode("euc_jp")
    found = read_legacy(data, html=False)
    assert found.text is None and "EUC-JP" in found.why and "not sure" in found.why


def test_an_html_page_is_read_as_its_meta_charset_declares():
    body = "<p>" + PARAGRAPHS["ja"] + "</p>"
    for head in ('<meta charset="Shift_JIS">', '<meta http-equiv="Content-Type" content="text/html; charset=shift_jis">'):
        doc = parse_document(f"<html><head>{head}</head><body>{body}</body></html>".encode("shift_jis"), "p.html")
        assert doc.text == PARAGRAPHS["ja"] and doc.encoding == "cp932"
    # A declaration the bytes contradict is not trusted: the detector reads them.
    wrong = f'<html><head><meta charset="euc-kr"></head><body>{body}</body></html>'.encode("shift_jis")
    assert parse_document(wrong, "p.html").text == PARAGRAPHS["ja"]
    # A short page the detector could not tell is read as declared.
    latin = '<meta charset="iso-8859-1"><p>Caf\xe9 cr\xe8me.</p>'.encode("latin-1")
    assert parse_document(latin, "c.html").text == "Café crème."
    with pytest.raises(DocumentError, match="too few"):
        parse_document('<p>Caf\xe9 cr\xe8me.</p>'.encode("latin-1"), "c.html")


def test_declared_encoding_knows_the_labels_browsers_widen():
    assert declared_encoding(b'<meta charset="gb2312">') == "gb18030"
    assert declared_encoding(b"<META CHARSET=ISO-8859-1>") == "cp1252"
    assert declared_encoding(b'<meta charset="no-such-thing">') is None
    assert declared_encoding(b'<meta charset="utf-8">') is None  # UTF-8 was tried already
    assert declared_encoding(b" " * 2000 + b'<meta charset="big5">') is None  # past the first 1024 bytes


def test_utf8_files_read_as_before():
    text = "Der Bürgermeister sagte: « 5 € »."
    doc = parse_document(text.encode(), "a.txt")
    assert doc.text == text and doc.encoding == "utf-8" and doc.content_hash == content_hash(text.encode())
    html = '<meta charset="shift_jis"><p>Café</p>'.encode()  # valid UTF-8 wins over its declaration
    assert parse_document(html, "a.html").text == "Café"


def test_wrong_single_byte_readings_look_wrong():
    assert looks_garbled("zatwierdzi³a") and looks_garbled("B\u0080rger")
    assert looks_garbled("będ± ¶luzy") and looks_garbled("mo¿e")
    assert not looks_garbled("20 km² à 5 €, l'été, 30 °C") and not looks_garbled("市議会は、承認した。")
    assert not looks_garbled("don’t, col·lecció, Bürger\u00admeister, Paris–Berlin")
    assert alphabet_fit("Městská rada") == 1.0 and alphabet_fit("Mìstská rada") < 1.0
    assert alphabet_fit("The pier") == 1.0


def test_ingest_reports_a_file_read_from_a_legacy_encoding(tmp_path, config, store, fake_embedder, capsys,
                                                           monkeypatch):
    import ingest
    from rag.indexing import ingest_paths

    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "sjis.txt").write_bytes(PARAGRAPHS["ja"].encode("shift_jis"))
    (tmp_path / "files" / "plain.txt").write_text(PARAGRAPHS["en"], encoding="utf-8")
    report = ingest_paths([tmp_path / "files"], config=config, store=store, embedder=fake_embedder)
    assert sorted(report.added) == ["plain", "sjis"] and report.skipped == []
    assert report.decoded == [(str(tmp_path / "files" / "sjis.txt"), "cp932")]
    assert report.decoded_lines() == [f"read as Shift_JIS (not UTF-8): {tmp_path / 'files' / 'sjis.txt'}"]
    assert "".join(c.text for c in store.chunks_of("sjis")).startswith("市議会は火曜日")
    assert ingest_paths([tmp_path / "files"], config=config, store=store, embedder=fake_embedder).decoded == []

    (tmp_path / "files" / "cp1252.txt").write_bytes(PARAGRAPHS["fr"].encode("cp1252"))
    monkeypatch.setenv("RAG_DATA_DIR", str(config.data_dir))
    monkeypatch.setenv("RAG_COLLECTION", config.collection)
    monkeypatch.setenv("RAG_CHUNK_TOKENS", str(config.chunk_tokens))  # the fixture's chunks: unchanged files
    monkeypatch.setenv("RAG_CHUNK_OVERLAP_TOKENS", str(config.chunk_overlap_tokens))
    monkeypatch.setattr("rag.embeddings.get_embedder", lambda *, config: fake_embedder)
    assert ingest.main(["--quiet", str(tmp_path / "files")]) == 0
    out = capsys.readouterr().out
    assert "read as windows-1252 (Latin-1) (not UTF-8): " in out and "cp1252.txt" in out
    assert "sjis.txt" not in out  # unchanged: nothing said again


def test_the_measured_sample_sets_are_never_read_wrong():
    # python -m eval.encodings: 157 samples in 3 sets (docs/robustness.md, 2026-12-07).
    from eval.encodings import dev_samples, fresh_samples, held_out_samples, measure, not_text

    for samples in (dev_samples(), held_out_samples(), fresh_samples()):
        counts, wrong = measure(samples)
        assert wrong == [] and counts["right"] >= 0.8 * len(samples), counts
    read = {name for name, data in not_text().items() if read_legacy(data, html=False).text is not None}
    assert read == {"Shift_JIS Japanese + GBK Chinese"}  # two legacy encodings in one file: not told apart
