"""Event types: JSON validation, RDF round trips, and the SHACL shapes."""

from __future__ import annotations

import datetime as dt

import pytest

from kg import events as E
from kg.errors import EventError, ShapeViolation
from kg.shapes import ShapeChecker, validate_with_pyshacl
from kg.terms import HouseholdIRIs

IDS = HouseholdIRIs("h1")
T = "2026-11-25T07:00:00+01:00"
RECORDED = dt.datetime(2026, 11, 25, 8, tzinfo=dt.timezone.utc)

EXAMPLES = [
    {"type": "HouseholdCreated", "time": T, "name": "Home"},
    {"type": "FloorAdded", "time": T, "floor": "ground", "name": "Ground floor"},
    {"type": "AreaAdded", "time": T, "area": "kitchen", "name": "Kitchen", "floor": "ground"},
    {"type": "DeviceAdded", "time": T, "device": "light.kitchen", "name": "Kitchen Light",
     "kind": "light", "area": "kitchen"},
    {"type": "PersonAdded", "time": T, "person": "alice", "name": "Alice"},
    {"type": "SensorObserved", "time": T, "sensor": "t1", "property": "temperature",
     "value": 21.5, "unit": "Cel"},
    {"type": "SensorObserved", "time": T, "sensor": "m1", "property": "motion", "value": True},
    {"type": "DeviceStateChanged", "time": T, "device": "light.kitchen", "value": "on"},
    {"type": "DeviceStateChanged", "time": T, "device": "light.kitchen", "attribute": "brightness",
     "value": 80, "by": "person:alice"},
    {"type": "CommandIssued", "time": T, "device": "light.kitchen", "command": "turn_on",
     "by": "person:alice"},
    {"type": "UtteranceHeard", "time": T, "text": "turn on the lights", "speaker": "alice",
     "session": "s1"},
    {"type": "PersonArrived", "time": T, "person": "alice", "area": "kitchen"},
    {"type": "PersonLeft", "time": T, "person": "alice"},
    {"type": "CalendarEntryAdded", "time": T, "title": "Practice", "start": T,
     "end": "2026-11-25T08:00:00+01:00", "person": "alice", "location": "Park"},
    {"type": "DefinitionTaught", "time": T, "phrase": "reading mode",
     "meaning": {"actions": [{"device": "light.lamp", "brightness": 100}]}, "person": "alice"},
    {"type": "FactsAsserted", "time": T, "rdf": "<urn:x:a> <urn:x:p> \"1\" ."},
    {"type": "EventRetracted", "time": T, "retracts": 3, "reason": "sensor glitch"},
    {"type": "FactInferred", "time": T, "derived_from": [1, 2], "rule": "urn:hearth:rule:x",
     "rdf": "<urn:x:a> <urn:x:q> <urn:x:b> ."},
]


@pytest.mark.parametrize("obj", EXAMPLES, ids=lambda o: o["type"])
def test_every_event_round_trips_through_json_and_rdf(obj):
    event = E.Event.from_json(obj, ids=IDS)
    again = E.Event.from_json(event.to_json(), ids=IDS)
    assert again == event
    quads = event.quads(7, IDS, RECORDED)
    assert {q.graph_name for q in quads} == {IDS.event(7)}
    back = E.Event.from_quads(quads, IDS)
    if isinstance(event, (E.FactsAsserted, E.FactInferred)):  # RDF text comes back normalized
        assert E.parse_triples(back.rdf) == E.parse_triples(event.rdf)
        event = type(event)(**{**event.__dict__, "rdf": back.rdf})
    assert back == event


def test_every_event_type_has_a_shape():
    targeted = {c for shape in ShapeChecker.default().shapes for c in shape.target_class}
    missing = [n for n, c in E.EVENT_TYPES.items()
               if c.rdf_type not in targeted and n not in ("SensorObserved", "FactsAsserted")]
    assert missing == []


@pytest.mark.parametrize("obj", EXAMPLES, ids=lambda o: o["type"])
def test_every_event_conforms_to_its_shapes(obj):
    event = E.Event.from_json(obj, ids=IDS)
    quads = event.quads(7, IDS, RECORDED)
    assert ShapeChecker.default().violations(quads) == []
    conforms, report = validate_with_pyshacl("".join(f"{q} .\n" for q in quads))
    assert conforms, report


def _drop(quads, predicate_name):
    return [q for q in quads if not q.predicate.value.endswith(predicate_name)]


@pytest.mark.parametrize("obj, dropped", [
    (EXAMPLES[7], "#value"),
    (EXAMPLES[7], "#seq"),
    (EXAMPLES[5], "hasSimpleResult"),
    (EXAMPLES[5], "prov#wasAttributedTo"),
    (EXAMPLES[17], "prov#wasDerivedFrom"),
    (EXAMPLES[10], "#text"),
])
def test_the_compiled_checker_agrees_with_pyshacl_on_broken_events(obj, dropped):
    quads = _drop(E.Event.from_json(obj, ids=IDS).quads(7, IDS, RECORDED), dropped)
    conforms, _ = validate_with_pyshacl("".join(f"{q} .\n" for q in quads))
    assert not conforms
    with pytest.raises(ShapeViolation):
        ShapeChecker.default().check(quads)


@pytest.mark.parametrize("obj, field, message", [
    ({"time": T}, "type", "needs a 'type'"),
    ({"type": "SensorObserverd", "time": T}, "type", "Did you mean 'SensorObserved'"),
    ({"type": "PersonLeft", "person": "a"}, "time", "needs 'time'"),
    ({"type": "PersonLeft", "time": "2026-11-25T07:00:00", "person": "a"}, "time", "time zone"),
    ({"type": "PersonLeft", "time": "yesterday", "person": "a"}, "time", "not an ISO 8601 date-time"),
    ({"type": "PersonLeft", "time": T, "persn": "a"}, "persn", "did you mean 'person'"),
    ({"type": "PersonLeft", "time": T}, "person", "needs 'person'"),
    ({"type": "PersonLeft", "time": T, "person": ""}, "person", "non-empty"),
    ({"type": "PersonLeft", "time": T, "person": "a<b>"}, "person", "characters"),
    ({"type": "SensorObserved", "time": T, "sensor": "s", "property": "t", "value": [1]},
     "value", "string, a number or a boolean"),
    ({"type": "DeviceAdded", "time": T, "device": "d", "name": "D", "kind": "lamp"},
     "kind", "unknown device kind"),
    ({"type": "PersonLeft", "time": T, "person": "a", "by": "alice"}, "by", "person:ID"),
    ({"type": "FactInferred", "time": T, "rdf": "<urn:a> <urn:b> <urn:c> ."},
     "derived_from", "is a conclusion: it needs derived_from"),
    ({"type": "EventRetracted", "time": T, "retracts": 0, "reason": "x"}, "retracts", "start at 1"),
    ({"type": "CalendarEntryAdded", "time": T, "title": "x", "start": T,
      "end": "2026-11-25T06:00:00+01:00"}, "end", "before its start"),
])
def test_bad_events_name_the_field(obj, field, message):
    with pytest.raises(EventError) as err:
        E.Event.from_json(obj, ids=IDS)
    assert err.value.field == field
    assert message in str(err.value)


def test_malformed_rdf_in_an_event_is_refused():
    with pytest.raises(ValueError, match="does not parse"):
        E.Event.from_json({"type": "FactsAsserted", "time": T, "rdf": "<urn:a> <urn:b> ."}, ids=IDS)


def test_event_types_are_past_tense_and_registered():
    for name, cls in E.EVENT_TYPES.items():
        assert name == cls.__name__
        assert cls.rdf_type.value.endswith("#" + name)
        assert name.endswith(("ed", "Heard", "Left", "Taught", "Made", "Undone", "Ran", "Rewritten", "Forgotten")), name


def test_an_event_built_in_python_takes_an_iso_time_and_refuses_one_without_a_zone():
    said = E.UtteranceHeard(time="2026-11-21T18:30:00-08:00", text="hi")
    assert said.time == dt.datetime(2026, 11, 21, 18, 30, tzinfo=dt.timezone(dt.timedelta(hours=-8)))
    assert said == E.UtteranceHeard(time=said.time, text="hi")
    with pytest.raises(EventError, match="no time zone") as err:
        E.UtteranceHeard(time="2026-11-21T18:30:00", text="hi")
    assert err.value.field == "time"
    with pytest.raises(EventError, match="UtteranceHeard.time: 'at noon' is not an ISO 8601"):
        E.UtteranceHeard(time="at noon", text="hi")


def test_an_empty_utterance_is_refused_before_anything_is_stored():
    from kg.household import Hearth
    home = Hearth.in_memory().create_household("h1", time="2026-11-21T06:00:00Z")
    head = home.head
    for text in ("", "   "):
        with pytest.raises(EventError, match="text is empty") as err:
            home.append(E.UtteranceHeard(time="2026-11-21T07:00:00Z", text=text))
        assert err.value.field == "text"
        with pytest.raises(EventError, match="text must be a non-empty string"):
            E.Event.from_json({"type": "UtteranceHeard", "time": "2026-11-21T07:00:00Z",
                               "text": text})
    assert home.head == head
