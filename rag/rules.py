"""The named rules that change an answer, in one place.

Each rule below is one step of rag/answer.py that changes what the user sees (refuses
before the model runs, asks again, mends the reply, or refuses it) beyond the plain
pipeline: retrieve, prompt, generate, check the [n] markers. Every one can be switched
off with ``RAG_RULES_OFF=name,name`` (``RAGConfig.rules_off``), so its effect can be
measured by switching it off (``python -m eval.replay`` for the rules after generation);
the held-out measurement of each is in docs/decisions.md. A rule with a ``field`` applies
only while that RAGConfig field is true: the year and version gates are off by default
(``RAG_YEAR_GATE``, ``RAG_VERSION_GATE`` turn them on). The functions that do
the work live with their kind (refusal.py, figures.py, names.py, prompts.py); this
module only names them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    name: str
    stage: str  # "gate" (before the model), "generation", "mend" (the reply), "check" (refuse it)
    what: str
    field: str | None = None  # a RAGConfig field that also switches it (older settings; rules off by default)


RULES: tuple[Rule, ...] = (
    Rule("year_gate", "gate", "refuse before the model when the question names a year no passage holds",
         field="year_gate"),
    Rule("version_gate", "gate",
         "refuse before the model when the question names a numbered product (Llama 4) the articles never do",
         field="version_gate"),
    Rule("number_readings", "generation",
         "a large CJK number (143億) reaches the model with its Western reading beside it (=14.3 billion)"),
    Rule("strong_evidence_retry", "generation",
         "a refusal on strong retrieval evidence (answer_margin over the gate) is asked once more without NOT FOUND"),
    Rule("source_spellings", "mend",
         "a romanized name gets the passage's own katakana spelling beside it", field="source_spellings"),
    Rule("invented_spellings", "mend", "a spelling in parentheses that no source holds is removed"),
    Rule("scale_repair", "mend", "a figure with the wrong scale word (million for billion) gets the passages' value"),
    Rule("unsupported_asides", "mend", "an aside holding a figure no source holds is cut"),
    Rule("invented_figure_refusal", "check", "an answer stating a figure nothing the model read holds is refused"),
)

RULE_NAMES = frozenset(rule.name for rule in RULES)

# Rules taken out of the code (docs/decisions.md): still accepted in RAG_RULES_OFF, where
# they switch nothing, so a setting written for an older version does not stop the app.
RETIRED_RULES = frozenset({"currency_repair", "mixed_script_names", "recheck_weak_citations", "ordinal_readings",
                           "quote_pointed_passage"})


def unknown_rules(names) -> list[str]:
    """The names in ``names`` that are no rule, current or retired (for a clear
    configuration error)."""
    return sorted(set(names) - RULE_NAMES - RETIRED_RULES)
