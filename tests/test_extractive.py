"""Quotes from the passages' own sentences (rag/extractive.py), with the fake embedder."""

from conftest import FakeEmbedder
from rag.chunking import Chunk
from rag.retrieval import Hit


def _hits(*texts):
    return [Hit(Chunk(f"d{i}:h:0", f"d{i}", 0, t, 0, len(t), f"T{i}", "en", "h"), 1.0 / (i + 1))
            for i, t in enumerate(texts)]



def test_extractive_answer_quotes_one_sentence_of_each_best_passage():
    from rag.extractive import extractive_answer

    hits = _hits("The BBC said so. Nothing else.", "Reuters reported it first. Then others did.", "Unused.")
    text, chosen, highlights = extractive_answer("Which outlet said it?", hits, embedder=FakeEmbedder())
    assert chosen == [0, 1] and sorted(highlights) == [0, 1]
    lines = text.splitlines()
    assert len(lines) == 2 and lines[0].endswith("” [1]") and lines[1].endswith("” [2]")
    for index, (start, end) in highlights.items():
        sentence = hits[index].chunk.text[start:end].strip()
        assert f"“{sentence}” [{index + 1}]" in text


def test_each_citation_highlights_a_whole_sentence_of_its_passage():
    from rag.extractive import highlight_spans

    hits = _hits("The BBC said so. Nothing else.", "Reuters reported it first. Then others did.")
    spans = highlight_spans("Reuters reported it [2].", hits, embedder=FakeEmbedder())
    assert len(spans) == 2
    for hit, (start, end) in zip(hits, spans):
        assert hit.chunk.text[start:end].strip() in ("The BBC said so.", "Nothing else.",
                                                     "Reuters reported it first.", "Then others did.")
