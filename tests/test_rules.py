import re
from pathlib import Path

import pytest

from rag.answer import tidy_answer
from rag.config import RAGConfig
from rag.rules import RULE_NAMES, RULES, unknown_rules

RAG = Path(__file__).resolve().parent.parent / "rag"


def test_every_rule_is_switched_where_it_acts_and_every_switch_is_a_rule():
    used = set()
    for path in RAG.glob("*.py"):
        used |= set(re.findall(r"""(?:rule_on|\bon)\(["'](\w+)["']\)""", path.read_text(encoding="utf-8")))
    assert used == RULE_NAMES
    assert len(RULES) == len(RULE_NAMES)  # no name twice


def test_rules_off_is_read_from_the_environment_as_a_list_of_names():
    config = RAGConfig.from_env({"RAG_RULES_OFF": " scale_repair, year_gate ,", "RAG_YEAR_GATE": "true"})
    assert config.rules_off == ("scale_repair", "year_gate")
    assert not config.rule_on("scale_repair") and not config.rule_on("year_gate")  # named off wins over on
    assert config.rule_on("unsupported_asides")
    assert RAGConfig.from_env({"RAG_YEAR_GATE": "true"}).rule_on("year_gate")


def test_an_unknown_rule_name_is_a_clear_error_naming_the_rules():
    with pytest.raises(ValueError, match=r"no rule named typo_rule \(rules: .*scale_repair"):
        RAGConfig.from_env({"RAG_RULES_OFF": "typo_rule"})
    assert unknown_rules(["year_gate", "b", "a"]) == ["a", "b"]


def test_a_retired_rule_name_is_accepted_and_switches_nothing():
    from rag.rules import RETIRED_RULES

    config = RAGConfig.from_env({"RAG_RULES_OFF": "ordinal_readings,mixed_script_names"})
    assert all(config.rule_on(name) == RAGConfig().rule_on(name) for name in RULE_NAMES)
    assert not RETIRED_RULES & RULE_NAMES


def test_the_older_switches_still_turn_their_rule_off():
    assert not RAGConfig(source_spellings=False).rule_on("source_spellings")


SOURCES = ["Orvia raised 2.5 billion dollars from Kelpa in 2019 (オルヴィア).", "Who funded Orvia?"]


@pytest.mark.parametrize("rule, reply", [
    ("scale_repair", "Orvia raised 2.5 million dollars [1]."),
    ("invented_spellings", "Kelpa (ケルパー) funded Orvia [1]."),
    ("unsupported_asides", "Kelpa, founded in 2011, funded Orvia [1]."),
])
def test_each_mending_rule_changes_the_reply_only_when_on(rule, reply):
    mended = tidy_answer(reply, SOURCES, language="en")
    assert mended != reply
    assert tidy_answer(reply, SOURCES, language="en", config=RAGConfig(rules_off=(rule,))) == reply


def test_with_every_mending_rule_off_the_reply_is_left_as_written():
    off = tuple(r.name for r in RULES if r.stage == "mend")
    reply = "Kelpa (ケルパー) gave Orvia 2.5 million euros (48%) [1]."
    assert tidy_answer(reply, SOURCES, language="en", config=RAGConfig(rules_off=off)) == reply
