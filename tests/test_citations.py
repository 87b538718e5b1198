"""Citation checks (rag/citations.py) on literal passages, no model."""

import pytest

from rag.chunking import Chunk
from rag.citations import check_citations, cited_numbers, renumber_citations
from rag.retrieval import Hit


def _hits(*texts):
    return [Hit(Chunk(f"d{i}:h:0", f"d{i}", 0, t, 0, len(t), f"T{i}", "en", "h"), 1.0 / (i + 1))
            for i, t in enumerate(texts)]


def test_cited_numbers_in_many_shapes():
    assert cited_numbers("A [2]. B [1, 3] C【4】 D［2］ E [5][6]") == [2, 1, 3, 4, 5, 6]
    assert cited_numbers("no markers (1) here") == []


def test_check_citations_drops_invalid_and_renumbers():
    hits = _hits("alpha", "beta", "gamma")
    text, used = check_citations("Gamma first [3], then alpha [1] and nowhere [9].", hits)
    assert text == "Gamma first [1], then alpha [2] and nowhere."
    assert used == [2, 0]


def test_check_citations_repairs_an_answer_without_markers():
    hits = _hits("Meta hired Bowen Zhang in July.", "Pang joined from Alphabet in 2021.")
    text, used = check_citations("He came from Alphabet in 2021.", hits)
    assert text == "He came from Alphabet in 2021 [1]."
    assert used == [1]  # the passage that shares "alphabet" and "2021"


@pytest.mark.parametrize("passages, answer", [
    # "65 billion" is the Western reading of 650億, which the model saw beside it.
    (("Meta a dépensé 65 euros par employé.", "Metaはデータセンターに最大650億ドルを投じる。"),
     "Meta will spend up to 65 billion dollars."),
    # "1,300,000" (a repaired 130万) shares no token with "130万(=1.3 million)", but its value.
    (("Meta achète des puces Nvidia, selon Meta.", "新しい施設は130万個のチップを備える。"),
     "Meta incluirá 1,300,000 GPU de Nvidia."),
    # The answer carries the Japanese passage's spelling (added after generation);
    # "Meta" is in the other passage only, but Meta is in most passages of these articles.
    (("Meta hired several researchers.", "メタ社は元ディープマインドの研究者ジャック・ライ氏を採用した。"),
     "Meta a recruté un ancien chercheur de DeepMind (Jack Lay, ジャック・ライ)."),
])
def test_an_answer_without_markers_cites_the_passage_with_its_figure_or_name(passages, answer):
    text, used = check_citations(answer, _hits(*passages))
    assert used == [1] and text == answer[:-1] + " [1]."


def test_renumber_splits_grouped_markers():
    assert renumber_citations("X [1, 2].", {1: 2, 2: 1}) == "X [2][1]."
    assert renumber_citations("X [7].", {}) == "X."


def test_unmarked_answer_cites_the_passage_with_its_names_not_its_language():
    """A French answer with no marker shares many words with any French passage; the
    repair cites the Chinese passage that names the person."""
    hits = _hits("Les représentants d'Apple ont présenté la proposition de publier certains modèles en open source.",
                 "这一提议遭到苹果软件负责人Craig Federighi的否决。")
    text, used = check_citations("Craig Federighi, le dirigeant d'Apple, a opposé son veto à la proposition "
                                 "de publier certains modèles en open source.", hits)
    assert used == [1] and text.endswith("open source [1].")
    # Without names in common, the most shared words decide, then the rank.
    assert check_citations("Ils ont présenté la proposition.", hits)[1] == [0]
    assert check_citations("Oui.", hits)[1] == [0]


def test_unmarked_answer_cites_by_what_it_adds_to_the_question():
    # "Meta" comes from the question: it doesn't tell which passage holds the answer
    # (gold ko-04 cited a passage naming Meta in Latin letters over the one with 2~4倍).
    # With nothing else shared, the better-ranked passage is cited.
    hits = _hits("メタのような企業が現在の報酬の2~4倍を提示している。", "Bloomberg says Meta is hiring.")
    question = "블룸버그에 따르면 Meta 같은 기업들은 애플 직원들에게 현재 보상의 몇 배를 제시하고 있나요?"
    answer = "블룸버그에 따르면 Meta 같은 기업들은 애플 직원들에게 현재 보상의 2~4倍를 제시하고 있습니다."
    assert check_citations(answer, hits)[1] == [1]  # by the shared "Meta", without the question
    assert check_citations(answer, hits, question=question)[1] == [0]
