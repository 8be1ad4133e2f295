"""Ingesting JSON Lines: validated line by line, written all or nothing."""

from __future__ import annotations

import json

import pytest

from kg.errors import EventError
from kg.ingest import ingest_file, ingest_lines

from ..conftest import FIXTURES

GOOD = FIXTURES / "kg" / "morning.jsonl"


def test_a_good_file_lands_in_one_piece(memory_home):
    result = ingest_file(memory_home, GOOD)
    assert (result.count, result.first_seq, result.last_seq) == (5, 2, 6)
    assert memory_home.state.device_state("light.kitchen") == "on"
    assert memory_home.state.who_is_home() == ["ann"]


@pytest.mark.parametrize("bad_line, field, message", [
    ("{not json", None, "not valid JSON"),
    ('["a list"]', None, "JSON object"),
    ('{"type": "PersonArrived", "time": "2026-11-25T08:00:00Z"}', "person", "needs 'person'"),
    ('{"type": "Teleported", "time": "2026-11-25T08:00:00Z"}', "type", "unknown event type"),
    ('{"type": "FactsAsserted", "time": "2026-11-25T08:00:00Z", "rdf": "<a> <b"}', None, "parse"),
    ('{"type": "EventRetracted", "time": "2026-11-25T08:00:00Z", "retracts": 99, "reason": "x"}',
     "retracts", "not an earlier event"),
])
def test_a_bad_line_is_reported_with_its_number_and_nothing_is_stored(memory_home, bad_line,
                                                                      field, message):
    lines = GOOD.read_text().splitlines()
    lines.insert(4, bad_line)  # becomes line 5 of the file
    head = memory_home.head
    snapshot = memory_home.state.snapshot()
    with pytest.raises((EventError, ValueError)) as err:
        ingest_lines(memory_home, lines)
    assert err.value.line == 5, str(err.value)
    assert message in str(err.value)
    if field:
        assert err.value.field == field
    assert str(err.value).startswith("line 5")
    assert memory_home.head == head
    assert memory_home.state.snapshot() == snapshot


def test_ingest_into_the_embedded_store_survives_reopening(tmp_path):
    from kg.household import Hearth
    with Hearth.open(tmp_path / "h") as hearth:
        ingest_file(hearth.create_household("h1"), GOOD)
    with Hearth.open(tmp_path / "h") as hearth:
        home = hearth.household("h1")
        assert home.head == 6
        texts = [e.text for _, e in home.events() if hasattr(e, "text")]
        assert texts == ["what's the weather"]


def test_events_written_out_as_json_ingest_back_identically(memory_home):
    ingest_file(memory_home, GOOD)
    lines = [json.dumps(e.to_json()) for _, e in memory_home.events(start=2)]
    from kg.household import Hearth
    other = Hearth.in_memory().create_household("h1", name="Test home", time="2026-11-25T06:00:00Z")
    ingest_lines(other, lines)
    assert [e for _, e in other.events(start=2)] == [e for _, e in memory_home.events(start=2)]
    assert other.state.snapshot() == memory_home.state.snapshot()
