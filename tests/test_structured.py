import json

import pytest

from rag.structured import AnswerFieldStream, StructuredReply, answer_schema, parse_reply, with_markers


def test_schema_allows_only_existing_passage_numbers_and_puts_evidence_first():
    schema = answer_schema(4)
    assert list(schema["properties"]) == ["evidence", "answer"]
    assert schema["properties"]["evidence"]["items"]["enum"] == [1, 2, 3, 4]
    assert "minItems" not in schema["properties"]["evidence"]
    strict = answer_schema(4, require_evidence=True)
    assert strict["properties"]["evidence"]["minItems"] == 1 and strict["properties"]["answer"]["minLength"] == 1


def test_parse_reply_keeps_existing_numbers_once_in_order():
    reply = parse_reply('{"evidence": [3, 9, 3, 1, true, "2"], "answer": "  Jane  Roe runs it. "}', 3)
    assert reply == StructuredReply(evidence=[3, 1], answer="Jane Roe runs it.")


@pytest.mark.parametrize("raw", ["Jane Roe runs it [1].", "{not json}", '{"answer": 5}', "[1, 2]"])
def test_parse_reply_returns_none_for_what_is_not_such_an_object(raw):
    assert parse_reply(raw, 3) is None


def test_parse_reply_finds_the_object_inside_other_text():
    assert parse_reply('Here: {"evidence": [], "answer": ""} done', 2) == StructuredReply([], "")


@pytest.mark.parametrize("answer, numbers, expected", [
    ("Jane Roe runs Acme.", [1], "Jane Roe runs Acme [1]."),
    ("Jane Roe runs Acme", [2, 1], "Jane Roe runs Acme [2][1]"),
    ("ジェーン・ロウです。", [1], "ジェーン・ロウです[1]。"),
    ("Who? Jane.", [], "Who? Jane."),
])
def test_with_markers_puts_citations_before_the_final_stop(answer, numbers, expected):
    assert with_markers(answer, numbers) == expected


def test_answer_field_stream_shows_only_the_answer_as_it_comes():
    raw = json.dumps({"evidence": [2], "answer": 'Er sagte "ja" \\ und 5\u202f% – 北京'}, ensure_ascii=True)
    stream, shown = AnswerFieldStream(), []
    for i in range(0, len(raw), 3):  # cut anywhere, escapes included
        shown.append(stream.feed(raw[i:i + 3]))
    assert "".join(shown) == 'Er sagte "ja" \\ und 5\u202f% – 北京'
    assert all("evidence" not in piece for piece in shown)


def test_answer_field_stream_shows_nothing_for_an_empty_answer():
    stream = AnswerFieldStream()
    assert "".join(stream.feed(c) for c in '{"evidence": [], "answer": ""}') == ""
