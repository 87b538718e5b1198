"""The refusal gate calibrated on the index itself, from off-topic probe questions.

An absolute score threshold (``min_score``) fits the embedder and the articles it was
set on: on a larger index, or one in other languages, unrelated questions score higher
and answerable ones differently. Instead, the index is asked a fixed set of questions no
news article answers (everyday tasks, personal questions, arithmetic, in 12 languages);
their best retrieval scores are what "not about these articles" looks like in this
index. A question is let through to the model when its best score is above
``probe_quantile`` of those scores plus ``probe_margin``; with ``probes_by_language``, of
the scores of the probes in the question's language (all of them for a language
without probes). The probes' scores are
computed once per change of the index (``store.cached``), one batch of embeddings.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

# Questions no collection of news articles answers, a few per language, on no topic
# in particular, each with its language. Generic by design: they must not depend on what
# a user indexes.
OFF_TOPIC_PROBES: tuple[tuple[str, str], ...] = (
    ("en", "How long should I boil an egg?"), ("en", "What is my neighbour's cat called?"),
    ("en", "What is 17 times 23?"),
    ("de", "Wie lange muss ich Nudeln kochen?"), ("de", "Wo habe ich meinen Schlüssel hingelegt?"),
    ("de", "Was ist die Wurzel aus 144?"),
    ("fr", "Comment enlever une tache de vin sur un tapis ?"), ("fr", "Quel temps fera-t-il chez moi demain ?"),
    ("fr", "Combien font 8 fois 7 ?"),
    ("es", "¿Cómo se riega un cactus en invierno?"), ("es", "¿Cómo se llama mi profesora de piano?"),
    ("es", "¿Cuánto es 45 dividido por 9?"),
    ("it", "Come si prepara il pesto alla genovese?"), ("it", "Qual è il mio colore preferito?"),
    ("pt", "Como faço para trocar o pneu da bicicleta?"), ("pt", "Quantos dias tem um ano bissexto?"),
    ("ru", "Как научиться играть на гитаре?"), ("ru", "Сколько будет двадцать плюс тринадцать?"),
    ("ja", "卵を何分ゆでればいいですか?"), ("ja", "私の犬の名前は何ですか?"), ("ja", "3たす5はいくつですか?"),
    ("zh", "怎样才能睡得更好?"), ("zh", "我的生日是哪一天?"), ("zh", "一百减去三十七等于多少?"),
    ("ko", "김치찌개는 어떻게 끓이나요?"), ("ko", "제 여동생의 이름이 뭐예요?"),
    ("vi", "Làm thế nào để trồng cà chua trên ban công?"), ("vi", "Tên của con mèo nhà tôi là gì?"),
    ("nl", "Hoe vouw ik een papieren vliegtuigje?"), ("sv", "Hur länge ska man koka ris?"),
)


def probe_scores(*, store, embedder, config) -> np.ndarray:
    """The best retrieval score of each off-topic probe in this index (cached per change)."""

    def build() -> np.ndarray:
        from .retrieval import retrieve

        # One retrieve per probe: a chunk keeps its best score over the queries, so
        # several queries at once would give one score for all.
        return np.array([retrieve([probe], store=store, embedder=embedder, config=config).best_score
                         for _, probe in OFF_TOPIC_PROBES])

    return store.cached("off_topic_probe_scores", build)


def calibrated_min_score(scores: Sequence[float], *, quantile: float, margin: float) -> float:
    """The gate's threshold from the probes' scores: their ``quantile`` plus ``margin``."""
    values = np.asarray(scores, dtype=float)
    if values.size == 0:
        return float("-inf")
    return float(np.quantile(values, quantile)) + margin


def probes_in_language(scores: Sequence[float], language: str | None,
                       probes: Sequence[tuple[str, str]] = OFF_TOPIC_PROBES) -> np.ndarray:
    """The scores of the probes asked in ``language``; all of them when none was.

    A question is compared with off-topic questions of its own language: the embedder
    scores a text higher against articles in its own language, so probes in an index's
    language outscore questions asked in another one (on Chinese paragraphs, English
    questions about them scored a median 0.975, Chinese probes up to 1.14)."""
    values = np.asarray(scores, dtype=float)
    same = np.array([lang == language for lang, _ in probes], dtype=bool)
    return values[same] if same.any() else values
