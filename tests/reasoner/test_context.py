"""Context for understanding: "it", the busy oven, the room the speaker is in, state re-ranking."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kg.household import Hearth
from kg.ingest import ingest_file
from reasoner.context import apply_context, recent_events
from reasoner.skills import Catalogue
from reasoner.slots import Candidate, EntityResolver
from reasoner.understanding import Interpretation, SlotValue, UtteranceInterpreted

HOME = Path(__file__).resolve().parents[1] / "fixtures" / "understanding" / "home.jsonl"
T = "2026-11-25T18:{:02d}:00Z"


@pytest.fixture(scope="module")
def catalogue():
    return Catalogue.load()


@pytest.fixture
def home():
    home = Hearth.in_memory().create_household("c", time="2026-11-25T06:00:00Z")
    ingest_file(home, HOME)
    return home


def reading(text, intent, slots=None, skill=None):
    return Interpretation(text=text, intent=intent, skill=skill or intent.split(".")[0],
                          confidence=0.9, slots=slots or {}, method="classifier")


def context(home, catalogue, interp, **kwargs):
    return apply_context(home, interp, catalogue=catalogue, resolver=EntityResolver(home),
                         **kwargs)


def heard_and_read(home, text, minute, slots, intent="lights.turn_on"):
    """An utterance and its interpretation, as the understanding component logs them."""
    heard = home.append({"type": "UtteranceHeard", "time": T.format(minute), "text": text,
                         "speaker": "ann"})
    home.append(UtteranceInterpreted(
        time=heard.event.time, derived_from=(heard.iri,), intent=intent,
        skill=intent.split(".")[0], confidence=1.0, slots=slots, out_of_scope=False,
        method="template"))
    return heard


def test_it_is_the_target_of_the_last_request(home, catalogue):
    light = home.iri("device", "light.kitchen").value
    heard = heard_and_read(home, "turn on the kitchen light", 0, {
        "name": {"value": "Kitchen Light", "node": light, "source": "template", "score": 1.0}})
    out = context(home, catalogue, reading("turn it off", "lights.turn_off"))
    assert out.slots["name"].node == light
    assert out.slots["name"].source == "context"
    assert f"event {heard.seq + 1}" in out.context_notes[0]
    assert "turn on the kitchen light" in out.context_notes[0]


def test_it_after_an_area_request_is_that_area_and_kind(home, catalogue):
    kitchen = home.iri("area", "kitchen").value
    heard_and_read(home, "turn on the lights in the kitchen", 0, {
        "area": {"value": "Kitchen", "node": kitchen}, "domain": {"value": "light", "node": None}})
    out = context(home, catalogue, reading("turn them off", "devices.turn_off"))
    assert out.slots["area"].node == kitchen and out.slots["domain"].value == "light"
    assert out.intent == "lights.turn_off"  # what "them" names are lights
    assert any("lights.turn_off" in n for n in out.context_notes)


def test_it_retargets_the_intent_to_the_kind_of_device_it_names(home, catalogue):
    tv = home.iri("device", "media_player.tv").value
    heard_and_read(home, "switch on the telly", 0, {"name": {"value": "TV", "node": tv}},
                   intent="devices.turn_on")
    out = context(home, catalogue, reading("turn it off", "lights.turn_off"))
    assert out.slots["name"].node == tv
    assert out.intent == "devices.turn_off"


def test_it_is_the_last_device_someone_switched(home, catalogue):
    home.append({"type": "DeviceStateChanged", "time": T.format(1), "device": "light.reading",
                 "value": "on"})
    home.append({"type": "SensorObserved", "time": T.format(2), "sensor": "sensor.outside",
                 "property": "temperature", "value": 3.0})
    home.append({"type": "DeviceStateChanged", "time": T.format(2), "device": "sensor.outside",
                 "attribute": "state", "value": 3.0})
    out = context(home, catalogue, reading("turn it off", "lights.turn_off"))
    # a sensor's new reading is not something to turn off: the lamp is
    assert out.slots["name"].node == home.iri("device", "light.reading").value
    assert "18:01" in out.context_notes[0]


def test_context_only_looks_before_the_utterance(home, catalogue):
    heard = home.append({"type": "UtteranceHeard", "time": T.format(0), "text": "turn it off"})
    home.append({"type": "DeviceStateChanged", "time": T.format(1), "device": "light.reading",
                 "value": "on"})
    out = context(home, catalogue, reading("turn it off", "lights.turn_off"), before=heard.seq)
    assert out.slots["name"].node != home.iri("device", "light.reading").value


def test_nothing_to_refer_to_leaves_the_slot_empty(catalogue):
    home = Hearth.in_memory().create_household("empty", time="2026-11-25T06:00:00Z")
    out = context(home, catalogue, reading("turn it off", "lights.turn_off"))
    assert "name" not in out.slots and out.context_notes == []


def test_the_temperature_while_the_oven_is_on_is_the_ovens(home, catalogue):
    home.append({"type": "DeviceStateChanged", "time": T.format(5), "device": "oven",
                 "value": "on"})
    home.append({"type": "DeviceStateChanged", "time": T.format(6), "device": "oven",
                 "attribute": "temperature", "value": 180})
    out = context(home, catalogue, reading("what's the temperature",
                                           "climate.get_temperature"))
    assert out.slots["name"].node == home.iri("device", "oven").value
    assert "Oven" in out.context_notes[0] and "on" in out.context_notes[0]
    assert "18:05" in out.context_notes[0]


def test_the_temperature_while_the_oven_is_off_is_the_thermostats(home, catalogue):
    out = context(home, catalogue, reading("what's the temperature",
                                           "climate.get_temperature"))
    assert out.slots["name"].node in {home.iri("device", "climate.hall").value,
                                      home.iri("device", "sensor.outside").value}
    assert out.slots["name"].node != home.iri("device", "oven").value


def test_a_named_target_is_left_alone(home, catalogue):
    home.append({"type": "DeviceStateChanged", "time": T.format(5), "device": "oven",
                 "value": "on"})
    hall = home.iri("area", "hall").value
    out = context(home, catalogue, reading(
        "what's the temperature in the hall", "climate.get_temperature",
        {"area": SlotValue("Hall", hall, (27, 31), "gazetteer", 1.0)}))
    assert set(out.slots) == {"area"} and out.context_notes == []


def test_the_area_of_the_device_that_heard_it(home, catalogue):
    out = context(home, catalogue, reading("turn on the lights", "lights.turn_on"),
                  device="speaker.kitchen")
    assert out.slots["area"].node == home.iri("area", "kitchen").value
    assert "Kitchen Speaker" in out.context_notes[0]


def test_of_several_devices_the_one_the_command_changes_comes_first(home, catalogue):
    left = home.iri("device", "light.bedside_left").value   # on
    right = home.iri("device", "light.bedside_right").value  # off
    ambiguous = SlotValue("lamp", None, (9, 13), "type+area", 0.9, (
        Candidate(right, "light.bedside_right", "Right Bedside Lamp", 0.9, "type+area"),
        Candidate(left, "light.bedside_left", "Left Bedside Lamp", 0.9, "type+area")))
    out = context(home, catalogue, reading("turn off the lamp in the bedroom",
                                           "lights.turn_off", {"name": ambiguous}))
    assert out.slots["name"].node == left
    assert "only it is on" in out.context_notes[0]
    out = context(home, catalogue, reading("turn on the lamp in the bedroom",
                                           "lights.turn_on", {"name": ambiguous}))
    assert out.slots["name"].node == right


def test_an_unfamiliar_utterance_gets_no_context(home, catalogue):
    oos = Interpretation(text="what's it all about", intent=None, skill=None, confidence=0.9,
                         out_of_scope=True)
    assert context(home, catalogue, oos) is oos


def test_recent_events_are_newest_first_and_skip_retractions(home):
    a = home.append({"type": "DeviceStateChanged", "time": T.format(1),
                     "device": "light.reading", "value": "on"})
    b = home.append({"type": "DeviceStateChanged", "time": T.format(2),
                     "device": "light.kitchen", "value": "on"})
    home.retract(b.seq, reason="a glitch", time=dt.datetime(2026, 11, 25, 18, 3,
                                                            tzinfo=dt.timezone.utc))
    seqs = [seq for seq, _, _ in recent_events(home, n=3)]
    assert seqs == [b.seq + 1, a.seq]


def test_remind_me_is_for_the_speaker(home, catalogue):
    out = context(home, catalogue, reading("remind me to call the plumber",
                                           "calendar.add_reminder"), speaker="ann")
    assert out.slots["person"].node == home.iri("person", "ann").value
    assert "speaker" in out.context_notes[0]
    named = context(home, catalogue, reading(
        "remind Sam to feed the cat", "calendar.add_reminder",
        {"person": SlotValue("Sam", home.iri("person", "sam").value, (7, 10), "gazetteer")}),
        speaker="ann")
    assert named.slots["person"].value == "Sam"
