from rag.chunking import approximate_token_count, chunk_document, split_sentences
from rag.documents import Document


def _doc(text: str, language="en", doc_id="d") -> Document:
    return Document(doc_id=doc_id, title="T", text=text, language=language, source="x", content_hash="abc123")


def _sentences(text):
    return [text[s:e] for s, e in split_sentences(text)]


def test_japanese_sentences_split_on_cjk_terminators_without_spaces():
    text = "パン氏はメタに移籍する。年俸は数千万ドルだという！本当か？「そうだ。」と彼は言った。"
    assert _sentences(text) == ["パン氏はメタに移籍する。", "年俸は数千万ドルだという！", "本当か？", "「そうだ。」", "と彼は言った。"]


def test_chinese_sentences_and_line_breaks():
    text = "苹果AI团队大将被挖走\n庞若鸣宣布加入Meta。据彭博社报道，收入可能高达2亿美元。"
    assert _sentences(text) == ["苹果AI团队大将被挖走", "庞若鸣宣布加入Meta。", "据彭博社报道，收入可能高达2亿美元。"]


def test_french_sentences_keep_abbreviations_and_decimals():
    text = "M. Gurman a parlé à 9 h. Le salaire est de 3.5 millions. Selon Mr. Smith, c'est vrai."
    assert _sentences(text) == ["M. Gurman a parlé à 9 h.", "Le salaire est de 3.5 millions.", "Selon Mr. Smith, c'est vrai."]


def test_english_sentences_with_initials_and_quotes():
    text = 'The U.S. market grew. He said "no." Then J. Smith left!'
    assert _sentences(text) == ["The U.S. market grew.", 'He said "no."', "Then J. Smith left!"]


def test_spans_are_exact_offsets():
    text = "  First one.  Second one。\n\nThird"
    for s, e in split_sentences(text):
        assert text[s:e] == text[s:e].strip() and text[s:e]


def test_chunks_respect_budget_offsets_and_overlap():
    sentences = [f"これは{i}番目の文です。" for i in range(40)]
    doc = _doc("".join(sentences), "ja")
    chunks = chunk_document(doc, approximate_token_count, max_tokens=40, overlap_tokens=12)
    assert len(chunks) > 3
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert approximate_token_count(chunk.text) <= 40
        assert chunk.text.endswith("。")  # whole sentences only
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end  # overlap
        assert b.start > a.start  # progress
    assert chunks[0].start == 0 and chunks[-1].end == len(doc.text)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_long_sentence_is_cut_at_clause_breaks():
    text = "、".join(f"項目{i}について説明する" for i in range(30)) + "。"
    chunks = chunk_document(_doc(text, "ja"), approximate_token_count, max_tokens=30, overlap_tokens=0)
    assert len(chunks) > 3
    assert all(approximate_token_count(c.text) <= 30 for c in chunks)
    assert "".join(c.text for c in chunks).replace("、", "") == text.replace("、", "")


def test_latin_chunking_with_real_counter_shape():
    text = " ".join(f"Sentence number {i} talks about Meta and Apple." for i in range(30))
    chunks = chunk_document(_doc(text), approximate_token_count, max_tokens=50, overlap_tokens=12)
    assert all(c.text.startswith("Sentence") and c.text.endswith(".") for c in chunks)
    assert all(approximate_token_count(c.text) <= 50 for c in chunks)


def test_chunk_ids_change_with_content():
    a = chunk_document(_doc("Hello there."), approximate_token_count)
    b = chunk_document(Document("d", "T", "Hello there.", "en", "x", "zzz999"), approximate_token_count)
    assert a[0].chunk_id != b[0].chunk_id


def test_embedding_text_adds_a_real_title_only():
    doc = Document("d", "Apple loses AI staff", "Body text.", "en", "x", "h")
    assert chunk_document(doc, approximate_token_count)[0].embedding_text() == "Apple loses AI staff\nBody text."
    plain = Document("d", "d", "Body text.", "en", "x", "h")
    assert chunk_document(plain, approximate_token_count)[0].embedding_text() == "Body text."
