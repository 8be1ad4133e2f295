"""Slots: quantities, gazetteers from the graph, and entity resolution to graph nodes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from kg.household import Hearth
from kg.importers.homeassistant import read_fixtures
from kg.ingest import ingest_file
from reasoner.slots import (EntityResolver, SlotExtractor, SlotsError, parse_quantities,
                            to_json_value)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HOME = FIXTURES / "understanding" / "home.jsonl"
# Wednesday 25 November 2026, 14:00 UTC
NOW = dt.datetime(2026, 11, 25, 14, 0, tzinfo=dt.timezone.utc)
UTC = dt.timezone.utc


@pytest.fixture
def home():
    home = Hearth.in_memory().create_household("u", time="2026-11-25T06:00:00Z")
    ingest_file(home, HOME)
    return home


def one(text: str, label: str):
    found = [q for q in parse_quantities(text, now=NOW) if q.label == label]
    assert len(found) == 1, (text, parse_quantities(text, now=NOW))
    return found[0].value


@pytest.mark.parametrize("text, value", [
    ("21", 21), ("twenty one", 21), ("twenty-one", 21), ("a hundred and five", 105),
    ("3.5", 3.5), ("five and a half", 5.5), ("minus four", -4), ("two point five", 2.5),
])
def test_numbers_in_digits_and_words(text, value):
    assert one(text, "NUMBER") == value


@pytest.mark.parametrize("text, value", [
    ("30 percent", 30), ("10%", 10), ("fifty percent", 50), ("75 per cent", 75),
    ("half", 50), ("a quarter", 25), ("three quarters", 75),
])
def test_percentages(text, value):
    assert one(text, "PERCENT") == value


@pytest.mark.parametrize("text, value", [
    ("21 degrees", {"value": 21, "unit": None}), ("19°", {"value": 19, "unit": None}),
    ("72 fahrenheit", {"value": 72, "unit": "°F"}),
    ("twenty four degrees celsius", {"value": 24, "unit": "°C"}),
    ("21.5 °C", {"value": 21.5, "unit": "°C"}), ("minus 5 degrees", {"value": -5, "unit": None}),
])
def test_temperatures(text, value):
    assert one(text, "TEMPERATURE") == value


@pytest.mark.parametrize("text, seconds", [
    ("ten minutes", 600), ("90 seconds", 90), ("an hour and a half", 5400),
    ("1 hour 30 minutes", 5400), ("two hours and 15 minutes", 8100), ("half an hour", 1800),
    ("a quarter of an hour", 900), ("5 and a half minutes", 330), ("half a minute", 30),
    ("1/2 a minute", 30), ("one and a half hours", 5400), ("a three minute egg timer", 180),
    ("2 days", 172800),
])
def test_durations(text, seconds):
    assert one(text, "DURATION") == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text, when", [
    ("at 7", dt.datetime(2026, 11, 25, 19, 0, tzinfo=UTC)),  # the next 7 o'clock
    ("at 7 am", dt.datetime(2026, 11, 26, 7, 0, tzinfo=UTC)),
    ("7pm", dt.datetime(2026, 11, 25, 19, 0, tzinfo=UTC)),
    ("at 3:30", dt.datetime(2026, 11, 25, 15, 30, tzinfo=UTC)),
    ("half past six", dt.datetime(2026, 11, 25, 18, 30, tzinfo=UTC)),
    ("quarter to eight", dt.datetime(2026, 11, 25, 19, 45, tzinfo=UTC)),
    ("ten past nine", dt.datetime(2026, 11, 25, 21, 10, tzinfo=UTC)),
    ("at noon", dt.datetime(2026, 11, 26, 12, 0, tzinfo=UTC)),
    ("in 10 minutes", dt.datetime(2026, 11, 25, 14, 10, tzinfo=UTC)),
    ("in an hour", dt.datetime(2026, 11, 25, 15, 0, tzinfo=UTC)),
    ("tomorrow at 9", dt.datetime(2026, 11, 26, 9, 0, tzinfo=UTC)),
    ("at 6 pm on friday", dt.datetime(2026, 11, 27, 18, 0, tzinfo=UTC)),
    ("at 8 in the morning", dt.datetime(2026, 11, 26, 8, 0, tzinfo=UTC)),
    ("seven thirty pm", dt.datetime(2026, 11, 25, 19, 30, tzinfo=UTC)),
])
def test_times_resolve_against_when_it_was_said(text, when):
    assert one(text, "TIME") == when


@pytest.mark.parametrize("text, value", [
    ("today", dt.date(2026, 11, 25)), ("tomorrow", dt.date(2026, 11, 26)),
    ("tonight", dt.date(2026, 11, 25)), ("on friday", dt.date(2026, 11, 27)),
    ("next monday", dt.date(2026, 11, 30)), ("on wednesday", dt.date(2026, 11, 25)),
    ("next wednesday", dt.date(2026, 12, 2)), ("the day after tomorrow", dt.date(2026, 11, 27)),
    ("on the 14th", dt.date(2026, 12, 14)), ("june 3rd", dt.date(2027, 6, 3)),
    ("3rd of june", dt.date(2027, 6, 3)), ("december 24", dt.date(2026, 12, 24)),
    ("this weekend", (dt.date(2026, 11, 28), dt.date(2026, 11, 29))),
    ("next week", (dt.date(2026, 11, 30), dt.date(2026, 12, 6))),
])
def test_dates_resolve_against_when_it_was_said(text, value):
    assert one(text, "DATE") == value


@pytest.mark.parametrize("text", ["the sun is out", "I sat down", "may I ask something",
                                  "turn on the lights", "march in step"])
def test_words_that_only_look_like_quantities_are_not(text):
    assert parse_quantities(text, now=NOW) == []


def test_a_bare_number_is_no_time_and_a_longer_reading_wins():
    labels = [(q.label, q.text) for q in parse_quantities(
        "book a table for four at 8 and set the oven to 200 degrees", now=NOW)]
    assert labels == [("NUMBER", "four"), ("TIME", "at 8"), ("TEMPERATURE", "200 degrees")]
    assert [q.label for q in parse_quantities("half an hour past the hour", now=NOW)][0] == \
        "DURATION"


def test_quantities_keep_their_spans():
    text = "dim the lamp to 30 percent in ten minutes"
    spans = [(q.label, text[q.start:q.end]) for q in parse_quantities(text, now=NOW)]
    assert spans == [("PERCENT", "30 percent"), ("TIME", "in ten minutes")]


def test_a_naive_reference_time_is_refused():
    with pytest.raises(SlotsError, match="aware datetime"):
        parse_quantities("at 7", now=dt.datetime(2026, 11, 25, 14, 0))


def test_values_become_json():
    assert to_json_value(dt.timedelta(seconds=5400)) == "PT1H30M"
    assert to_json_value(dt.timedelta(seconds=30)) == "PT30S"
    assert to_json_value((dt.date(2026, 11, 28), dt.date(2026, 11, 29))) == ["2026-11-28",
                                                                             "2026-11-29"]


# -- gazetteers --------------------------------------------------------------------------------

def labels(extractor, text):
    return [(m.label, m.text) for m in extractor.extract(text, now=NOW)]


def test_gazetteers_find_devices_areas_people_and_kinds_of_device(home):
    ex = SlotExtractor(home)
    assert labels(ex, "remind Ann to turn off the reading lamps in the living room at 7pm") == [
        ("PERSON", "Ann"), ("DEVICE", "reading lamps"), ("AREA", "living room"),
        ("TIME", "at 7pm")]
    assert labels(ex, "is the oven on") == [("DEVICE", "oven")]  # its name beats the kind
    assert labels(ex, "switch the telly off") == [("DEVICE_TYPE", "telly")]
    mention = ex.extract("lock the front door")[0]
    assert mention.nodes == (home.iri("device", "lock.front_door").value,)


def test_gazetteers_are_rebuilt_only_when_the_households_names_change(home):
    ex = SlotExtractor(home)
    ex.extract("hello")
    home.append({"type": "DeviceStateChanged", "time": "2026-11-25T07:00:00Z",
                 "device": "light.kitchen", "value": "on"})
    ex.extract("hello")
    assert ex.rebuilds == 1
    home.append({"type": "DeviceAdded", "time": "2026-11-25T07:00:00Z", "device": "fan.loft",
                 "name": "Loft Fan", "kind": "fan"})
    assert labels(ex, "start the loft fan") == [("DEVICE", "loft fan")]
    assert ex.rebuilds == 2


def test_a_renamed_device_is_found_by_its_new_name(home):
    ex = SlotExtractor(home)
    assert labels(ex, "turn on the reading lamp") == [("DEVICE", "reading lamp")]
    home.append({"type": "DeviceAdded", "time": "2026-11-25T07:00:00Z", "device": "light.reading",
                 "name": "Sofa Lamp", "kind": "light", "area": "living_room"})
    assert labels(ex, "turn on the reading lamp") == [("DEVICE_TYPE", "reading lamp")]
    assert ex.extract("turn on the sofa lamp")[0].nodes == (
        home.iri("device", "light.reading").value,)


def test_media_titles_playing_on_a_device_join_the_gazetteer(home):
    ex = SlotExtractor(home)
    assert "MEDIA" not in {m.label for m in ex.extract("put Blue Planet back on")}
    home.append({"type": "DeviceStateChanged", "time": "2026-11-25T07:00:00Z",
                 "device": "media_player.tv", "attribute": "media_title", "value": "Blue Planet"})
    assert labels(ex, "put Blue Planet back on") == [("MEDIA", "Blue Planet")]


# -- resolution --------------------------------------------------------------------------------

def test_the_lamp_in_the_kitchen_is_the_kitchen_light(home):
    best = EntityResolver(home).resolve("the lamp in the kitchen")
    assert best[0].node == home.iri("device", "light.kitchen").value
    assert best[0].method.startswith("type+area")
    assert len(best) == 1


def test_a_misspelt_name_resolves_fuzzily(home):
    best = EntityResolver(home).resolve("the kichen lite")
    assert best[0].id == "light.kitchen" and best[0].method == "fuzzy"
    assert best[0].score > 0.7


def test_a_kind_of_device_several_fit_gives_equal_candidates(home):
    found = EntityResolver(home).resolve("the lamp in the bedroom")
    assert {c.id for c in found} == {"light.bedside_left", "light.bedside_right"}
    assert abs(found[0].score - found[1].score) < 0.05  # too close to choose: ambiguous


def test_a_name_that_also_names_a_kind_keeps_the_area(home):
    home.append({"type": "DeviceAdded", "time": "2026-11-25T07:00:00Z", "device": "light.hall",
                 "name": "Lamp", "kind": "light", "area": "hall"})
    found = EntityResolver(home).resolve("the lamp in the kitchen")
    assert found[0].id == "light.kitchen"


def test_areas_and_people_resolve_by_name(home):
    r = EntityResolver(home)
    assert r.resolve("the living room", kind="area")[0].node == home.iri("area",
                                                                        "living_room").value
    assert r.resolve("livin room", kind="area")[0].method == "fuzzy"
    assert r.resolve("Sam", kind="person")[0].node == home.iri("person", "sam").value
    with pytest.raises(SlotsError, match="device, area, floor or person"):
        r.resolve("x", kind="colour")


class WordEncoder:
    """A stand-in sentence encoder: words (and their synonyms) counted into a vector."""

    SYNONYMS = {"cooker": "oven", "stove": "oven", "appliance": "oven", "box": "tv",
                "television": "tv", "telly": "tv", "lounge": "living", "sitting": "living"}

    def __init__(self):
        self.index: dict[str, int] = {}

    def encode(self, texts):
        rows = []
        for text in texts:
            vec = np.zeros(64)
            for word in text.lower().replace(",", " ").split():
                word = self.SYNONYMS.get(word, word)
                vec[self.index.setdefault(word, len(self.index) % 64)] += 1
            rows.append(vec)
        return np.array(rows)


def test_resolution_by_meaning_uses_the_encoder(home):
    plain = EntityResolver(home).resolve("the box in the lounge")
    by_meaning = EntityResolver(home, encoder=WordEncoder()).resolve("the box in the lounge")
    assert plain == []
    assert by_meaning[0].id == "media_player.tv" and "embedding" in by_meaning[0].method


def test_ha_fixture_kitchen_lights_are_three_equal_candidates():
    home = Hearth.in_memory().create_household("ha", time="2026-11-25T06:00:00Z")
    home.append_many(list(read_fixtures(FIXTURES / "kg" / "mock_home.yaml",
                                        time=dt.datetime(2026, 11, 25, tzinfo=UTC))))
    found = EntityResolver(home).resolve("the lamp in the kitchen")
    assert [c.id for c in found] == ["light.kitchen_ceiling"]


@pytest.fixture(scope="session")
def minilm():
    from reasoner.understanding import default_encoder
    return default_encoder()


@pytest.mark.slow
def test_minilm_breaks_ties_by_meaning(home, minilm):
    r = EntityResolver(home, encoder=minilm)
    assert r.resolve("the stove")[0].id == "oven"
    assert r.resolve("the left lamp in the bedroom")[0].id == "light.bedside_left"
