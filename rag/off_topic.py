"""The refusal gate calibrated on the index itself, from off-topic probe questions.

An absolute score threshold (``min_score``) fits the embedder and the articles it was
set on: on a larger index, or one in other languages, unrelated questions score higher
and answerable ones differently. Instead, the index is asked a fixed set of questions no
news article answers (everyday tasks, personal questions, arithmetic, in 12 languages);
their best retrieval scores are what "not about these articles" looks like in this
index. A question is let through to the model when its best score is above
``probe_quantile`` of those scores plus ``probe_margin``. The probes' scores are
computed once per change of the index (``store.cached``), one batch of embeddings.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

# Questions no collection of news articles answers, a few per language, on no topic
# in particular. Generic by design: they must not depend on what a user indexes.
OFF_TOPIC_PROBES: tuple[str, ...] = (
    "How long should I boil an egg?", "What is my neighbour's cat called?", "What is 17 times 23?",
    "Wie lange muss ich Nudeln kochen?", "Wo habe ich meinen Schlüssel hingelegt?", "Was ist die Wurzel aus 144?",
    "Comment enlever une tache de vin sur un tapis ?", "Quel temps fera-t-il chez moi demain ?",
    "Combien font 8 fois 7 ?",
    "¿Cómo se riega un cactus en invierno?", "¿Cómo se llama mi profesora de piano?", "¿Cuánto es 45 dividido por 9?",
    "Come si prepara il pesto alla genovese?", "Qual è il mio colore preferito?",
    "Como faço para trocar o pneu da bicicleta?", "Quantos dias tem um ano bissexto?",
    "Как научиться играть на гитаре?", "Сколько будет двадцать плюс тринадцать?",
    "卵を何分ゆでればいいですか?", "私の犬の名前は何ですか?", "3たす5はいくつですか?",
    "怎样才能睡得更好?", "我的生日是哪一天?", "一百减去三十七等于多少?",
    "김치찌개는 어떻게 끓이나요?", "제 여동생의 이름이 뭐예요?",
    "Làm thế nào để trồng cà chua trên ban công?", "Tên của con mèo nhà tôi là gì?",
    "Hoe vouw ik een papieren vliegtuigje?", "Hur länge ska man koka ris?",
)


def probe_scores(*, store, embedder, config) -> np.ndarray:
    """The best retrieval score of each off-topic probe in this index (cached per change)."""

    def build() -> np.ndarray:
        from .retrieval import retrieve

        # One retrieve per probe: a chunk keeps its best score over the queries, so
        # several queries at once would give one score for all.
        return np.array([retrieve([probe], store=store, embedder=embedder, config=config).best_score
                         for probe in OFF_TOPIC_PROBES])

    return store.cached("off_topic_probe_scores", build)


def calibrated_min_score(scores: Sequence[float], *, quantile: float, margin: float) -> float:
    """The gate's threshold from the probes' scores: their ``quantile`` plus ``margin``."""
    values = np.asarray(scores, dtype=float)
    if values.size == 0:
        return float("-inf")
    return float(np.quantile(values, quantile)) + margin
