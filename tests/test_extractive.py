"""Quotes from the passages' own sentences (rag/extractive.py), with the fake embedder."""

import pytest

from conftest import FakeEmbedder
from rag.chunking import Chunk
from rag.extractive import quote_pointed_passage
from rag.retrieval import Hit


def _hits(*texts):
    return [Hit(Chunk(f"d{i}:h:0", f"d{i}", 0, t, 0, len(t), f"T{i}", "en", "h"), 1.0 / (i + 1))
            for i, t in enumerate(texts)]


@pytest.mark.parametrize("reply,quoted", [
    ("[2]", True),
    ("[2] [2]", True),
    ("Le média cité est [2].", True),
    ("Le média cité est la BBC [2].", False),  # an answer, checked as usual
    ("Apple [2].", False),  # the question's own words: a wrong answer, not a pointer
    ("Le média cité est [1] [2].", False),  # which passage? not quoted
    ("Le média cité est [9].", False),  # no such passage
])
def test_only_a_reply_pointing_at_one_passage_is_quoted(reply, quoted):
    hits = _hits("The BBC said so. Nothing else.", "Reuters reported it first. Then others did.")
    result = quote_pointed_passage(reply, "Which outlet said Apple is behind?", hits, embedder=FakeEmbedder())
    assert (result is not None) is quoted
    if quoted:
        text, index, (start, end) = result
        assert index == 1 and text.endswith("” [2]" + reply[reply.rindex("]") + 1:])
        assert text.count("[2]") == 1 and hits[1].chunk.text[start:end] in text
