"""Slot spans learned from annotated utterances, and SLURP's slot F1 in `hearth eval intents`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasoner.slot_tagger import (
    SlotTagger,
    SlotTaggerError,
    parse_annotation,
    span_f1,
    spans_of,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "learning" / "tiny_slurp.jsonl"

TRAIN = [
    ("wake me at [time : five am]", "alarm_set"),
    ("set an alarm for [time : six thirty]", "alarm_set"),
    ("alarm at [time : seven pm] [date : tomorrow]", "alarm_set"),
    ("wake me up [date : on friday] at [time : eight]", "alarm_set"),
    ("what's the weather in [place_name : paris]", "weather_query"),
    ("will it rain in [place_name : new york] [date : tomorrow]", "weather_query"),
    ("weather for [place_name : london] [date : today]", "weather_query"),
    ("is it sunny in [place_name : rome]", "weather_query"),
    ("play [artist_name : adele]", "play_music"),
    ("play some [artist_name : queen] songs", "play_music"),
    ("put on [song_name : yellow submarine]", "play_music"),
    ("play [song_name : hey jude] by [artist_name : the beatles]", "play_music"),
]


def test_annotations_become_tokens_and_bio_tags():
    tokens, tags = parse_annotation("alarm at [time : seven pm] [date : tomorrow]")
    assert tokens == ["alarm", "at", "seven", "pm", "tomorrow"]
    assert tags == ["O", "O", "B-time", "I-time", "B-date"]
    assert [(s.type, s.value, s.start, s.end) for s in spans_of(tokens, tags)] == [
        ("time", "seven pm", 2, 4), ("date", "tomorrow", 4, 5)]


def test_bad_markup_and_unfitted_use_say_what_to_do():
    with pytest.raises(SlotTaggerError, match=r"\[type : words\]"):
        parse_annotation("play [artist_name : adele")
    with pytest.raises(SlotTaggerError, match="not fitted"):
        SlotTagger().tag("play adele")
    with pytest.raises(SlotTaggerError, match="none of the examples marks a slot"):
        SlotTagger().fit(["play something", "stop"])
    with pytest.raises(SlotTaggerError, match="2 utterances but 1 intents"):
        SlotTagger().fit(["play [artist_name : adele]", "stop"], ["play_music"])


def test_tagger_finds_known_and_unseen_values_by_context():
    tagger = SlotTagger().fit([a for a, _ in TRAIN], [i for _, i in TRAIN])
    found = {(s.type, s.value) for s in tagger.tag("will it rain in paris tomorrow", "weather_query")}
    assert found == {("place_name", "paris"), ("date", "tomorrow")}
    # a city the examples never named, in the place the examples put cities
    found = {(s.type, s.value) for s in tagger.tag("what's the weather in madrid", "weather_query")}
    assert ("place_name", "madrid") in found
    assert tagger.tag("stop", "play_music") == []


def test_decoding_never_starts_a_span_inside():
    tagger = SlotTagger().fit([a for a, _ in TRAIN], [i for _, i in TRAIN])
    for text in ("seven pm", "pm", "the beatles", "beatles please"):
        tokens = text.split()
        spans = tagger.tag(tokens, "alarm_set")
        assert all(0 <= s.start < s.end <= len(tokens) for s in spans)
        assert [t for s in spans for t in tokens[s.start:s.end]] == \
               [t for s in spans for t in s.value.split()]


def test_span_f1_counts_type_and_words():
    gold = [[("time", "Five AM")], [("place_name", "paris"), ("date", "today")]]
    pred = [[("time", "five am")], [("place_name", "paris"), ("date", "tomorrow")]]
    f = span_f1(gold, pred)
    assert f["precision"] == pytest.approx(2 / 3) and f["recall"] == pytest.approx(2 / 3)
    assert span_f1([[]], [[]])["f1"] == 0.0


@pytest.mark.slow
def test_eval_intents_reports_slurp_slot_f1(capsys):
    from reasoner.eval_intents import main
    assert main(["--format", "slurp", "--data", str(FIXTURE), "--folds", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n_records"] == 33 and out["folds"] == 2
    assert 0.0 <= out["slot_precision"] <= 100.0 and 0.0 <= out["slot_recall"] <= 100.0
    # the fixture's alarms, places and songs repeat their patterns: most spans are found
    assert out["slot_f1"] > 40.0
