"""Routines (actions under a trigger: a phrase, a time, a state change, an event, an inferred
activity) and blueprints (typed templates a household fills in), run by the pipeline."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from kg import events as E
from kg.errors import EventError
from kg.household import Hearth
from kg.ingest import ingest_file
from kg.shapes import ShapeChecker
from kg.vocab import HEARTH, HEARTH_NS
from reasoner import routines as R
from reasoner.explain import explain
from reasoner.pipeline import Pipeline, make_component

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "teaching"
UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


@pytest.fixture
def home():
    home = Hearth.in_memory().create_household("r", time="2026-11-25T06:00:00Z")
    ingest_file(home, FIXTURES / "home.jsonl")
    Pipeline.from_names(["routines"]).attach(home)
    return home


def append(home, obj):
    """Appends an event (JSON); returns what the pipeline concluded from it."""
    got = home.append(obj)
    return [(s, e) for s, e in home.events(start=got.seq + 1)]


def of_type(items, cls):
    return [(s, e) for s, e in items if isinstance(e, cls)]


def issued(items):
    return sorted((e.device, e.command, e.value) for _, e in of_type(items, E.CommandIssued))


def motion(home, clock, value="on"):
    return append(home, {"type": "DeviceStateChanged", "time": f"2026-11-25T{clock}:00Z",
                         "device": "binary_sensor.hall_motion", "value": value})


# -- triggers -------------------------------------------------------------------------------------

def test_a_phrase_runs_a_routine_whose_actions_were_given_in_words(home):
    R.define_routine(home, "good-night", trigger={"kind": "phrase", "phrase": "good night"},
                     actions=["lights off in the living room", "lock the front door"], time=T0)
    got = append(home, {"type": "UtteranceHeard", "time": "2026-11-25T22:00:00Z",
                        "text": "Alexa, good night!", "speaker": "ann"})
    [(ran_seq, ran)] = of_type(got, R.RoutineRan)
    assert ran.routine == "good-night" and ran.text == "someone said 'good night'"
    assert issued(got) == [("light.ceiling", "turn_off", None), ("light.reading", "turn_off", None),
                           ("lock.front_door", "lock", None)]
    for _, cmd in of_type(got, E.CommandIssued):
        assert cmd.derived_from == (home.ids.event(ran_seq),)
    assert not of_type(append(home, {"type": "UtteranceHeard", "time": "2026-11-25T22:01:00Z",
                                     "text": "good morning"}), R.RoutineRan)


def test_a_time_routine_runs_once_when_its_time_has_come(home):
    R.define_routine(home, "evening", trigger={"kind": "time", "at": "22:30"},
                     actions=[{"device": "light.hall", "command": "turn_off"}], time=T0)
    assert not of_type(motion(home, "22:10"), R.RoutineRan)
    got = motion(home, "22:31", "off")
    [(_, ran)] = of_type(got, R.RoutineRan)
    assert ran.time == dt.datetime(2026, 11, 25, 22, 30, tzinfo=UTC)
    assert ran.text == "it was 22:30"
    assert issued(got) == [("light.hall", "turn_off", None)]
    assert not of_type(motion(home, "23:00"), R.RoutineRan)           # once a day
    next_day = append(home, {"type": "PersonArrived", "time": "2026-11-26T23:00:00Z",
                             "person": "sam"})
    assert [e.time.day for _, e in of_type(next_day, R.RoutineRan)] == [26]


def test_a_scheduler_can_run_due_routines_on_time(home):
    R.define_routine(home, "wake", trigger={"kind": "time", "at": "07:00", "days": ["thu"]},
                     actions=[{"device": "light.bedside", "command": "turn_on"}], time=T0)
    thursday = dt.datetime(2026, 11, 26, 7, 0, 30, tzinfo=UTC)
    assert thursday.strftime("%a") == "Thu"
    ran = R.run_due(home, thursday)
    assert [a.event.routine for a in ran if isinstance(a.event, R.RoutineRan)] == ["wake"]
    assert R.run_due(home, thursday + dt.timedelta(minutes=5)) == []
    assert R.run_due(home, thursday + dt.timedelta(days=1)) == []      # not on Fridays
    commands = [e for _, e in home.events(types=[E.CommandIssued])]
    assert [(c.device, c.command) for c in commands] == [("light.bedside", "turn_on")]


def test_a_state_change_runs_a_blueprint_routine(home):
    R.instantiate(home, "motion-light", sensor="binary_sensor.hall_motion", light="light.hall",
                  brightness=60, person="ann", time=T0)
    assert not of_type(motion(home, "18:05", "off"), R.RoutineRan)
    got = motion(home, "18:06")
    [(_, ran)] = of_type(got, R.RoutineRan)
    assert ran.text == "the Hall Motion became on"
    assert issued(got) == [("light.hall", "set", 60)]


def test_an_event_of_a_type_runs_a_routine_when_its_fields_match(home):
    R.define_routine(home, "welcome-ann", trigger={"kind": "event", "event_type": "PersonArrived",
                                                   "match": {"person": "ann"}},
                     actions=["hall light on"], time=T0)
    assert not of_type(append(home, {"type": "PersonArrived", "time": "2026-11-25T18:10:00Z",
                                     "person": "sam"}), R.RoutineRan)
    got = append(home, {"type": "PersonArrived", "time": "2026-11-25T18:11:00Z",
                        "person": "ann"})
    assert issued(got) == [("light.hall", "turn_on", None)]


def test_an_inferred_activity_runs_the_leaving_home_blueprint(home):
    R.instantiate(home, "leaving-home", lock="lock.front_door", area="Living Room", time=T0)
    left = home.append({"type": "PersonLeft", "time": "2026-11-25T18:20:00Z", "person": "ann"})
    got = append(home, {"type": "ActivityInferred", "time": "2026-11-25T18:21:00Z",
                        "activity": "https://w3id.org/hearth/commonsense#LeavingHome",
                        "start": "2026-11-25T18:15:00Z", "end": "2026-11-25T18:20:00Z",
                        "confidence": 0.9, "derived_from": [left.seq]})
    [(_, ran)] = of_type(got, R.RoutineRan)
    assert ran.text == "I inferred the activity leaving home"
    assert issued(got) == [("light.ceiling", "turn_off", None), ("light.reading", "turn_off", None),
                           ("lock.front_door", "lock", None)]


def test_a_removed_routine_no_longer_runs_and_a_redefinition_revises(home):
    first = R.define_routine(home, "hall", trigger={"kind": "phrase", "phrase": "hall please"},
                             actions=["hall light on"], time=T0)
    second = R.define_routine(home, "hall", trigger={"kind": "phrase", "phrase": "hall please"},
                              actions=["hall light at 20 percent"], time=T0)
    assert second.event.revises == first.iri
    got = append(home, {"type": "UtteranceHeard", "time": "2026-11-25T19:00:00Z",
                        "text": "hall please"})
    assert issued(got) == [("light.hall", "set", 20)]
    removed = R.remove_routine(home, "hall", time=T0)
    assert removed.event.forgets == second.iri
    assert not of_type(append(home, {"type": "UtteranceHeard", "time": "2026-11-25T19:01:00Z",
                                     "text": "hall please"}), R.RoutineRan)
    with pytest.raises(R.RoutineError, match="no routine 'hall'"):
        R.remove_routine(home, "hall")


def test_a_routine_command_is_explained_back_to_its_trigger_and_blueprint(home):
    R.instantiate(home, "bedtime", area="bedroom", lock="lock.front_door", person="ann", time=T0)
    got = append(home, {"type": "UtteranceHeard", "time": "2026-11-25T22:05:00Z",
                        "text": "good night", "speaker": "sam"})
    lock_seq = next(s for s, e in of_type(got, E.CommandIssued) if e.device == "lock.front_door")
    why = explain(home, lock_seq, attributions=False)
    assert "the routine bedtime-1 ran (someone said 'good night')" in why.sentence
    [ran] = [e for e in why.evidence if getattr(e, "kind", None) == "routine"]
    assert ran.source == R.BLUEPRINT_BASE + "bedtime"
    assert "Ann set it up at 18:00" in ran.sentence and "blueprint bedtime" in ran.sentence
    heard = [s for s, e in home.events(types=[E.UtteranceHeard])]
    assert [home.ids.seq_of(e) for e in why.input_events()][-1] == heard[-1] or \
        heard[-1] in [home.ids.seq_of(e) for e in why.input_events()]


def test_a_routine_phrase_is_not_offered_for_teaching():
    from reasoner import teaching as T
    home = Hearth.in_memory().create_household("rt", time="2026-11-25T06:00:00Z")
    ingest_file(home, FIXTURES / "home.jsonl")
    Pipeline([T.TeachingComponent(from_heard=True), R.RoutinesComponent()]).attach(home)
    R.define_routine(home, "night", trigger={"kind": "phrase", "phrase": "night night"},
                     actions=["hall light off"], time=T0)
    got = append(home, {"type": "UtteranceHeard", "time": "2026-11-25T22:00:00Z",
                        "text": "night night", "speaker": "ann"})
    assert of_type(got, R.RoutineRan) and not of_type(got, T.TeachingRequested)


# -- defining routines: errors --------------------------------------------------------------------

@pytest.mark.parametrize("trigger, message", [
    ({"kind": "sunrise"}, "unknown trigger kind 'sunrise'; kinds: phrase, time"),
    ({"kind": "time", "at": "25:00"}, "'HH:MM'"),
    ({"kind": "time", "at": "07:00", "days": ["someday"]}, "unknown day 'someday'; days: monday"),
    ({"kind": "state"}, "needs 'device'"),
    ({"kind": "phrase", "phrase": "x", "at": "07:00"}, "no field 'at'"),
])
def test_malformed_triggers_are_refused(home, trigger, message):
    with pytest.raises(R.RoutineError, match=re.escape(message)):
        R.define_routine(home, "x", trigger=trigger, actions=["hall light on"])


def test_an_unknown_device_or_unresolvable_words_are_refused(home):
    with pytest.raises(R.RoutineError, match="no device 'light.attic'.*devices: "):
        R.define_routine(home, "x", trigger={"kind": "phrase", "phrase": "x"},
                         actions=[{"device": "light.attic", "command": "turn_on"}])
    with pytest.raises(R.RoutineError, match="does not resolve"):
        R.define_routine(home, "x", trigger={"kind": "phrase", "phrase": "x"},
                         actions=["make it nice"])


def test_an_unknown_event_type_is_refused_with_the_known_ones(home):
    with pytest.raises(EventError, match="unknown event type 'PersonArived'.*PersonArrived"):
        R.define_routine(home, "x", trigger={"kind": "event", "event_type": "PersonArived"},
                         actions=["hall light on"])


# -- blueprints -----------------------------------------------------------------------------------

@pytest.mark.parametrize("values, message", [
    ({"sensor": "light.hall", "light": "light.hall"},
     "parameter 'sensor' is a MotionSensor; 'light.hall' (Hall Light) is a Light, not a "
     "MotionSensor. MotionSensor devices here: binary_sensor.hall_motion"),
    ({"sensor": "binary_sensor.hall_motion", "light": "lock.front_door"},
     "parameter 'light' is a Light; 'lock.front_door' (Front Door) is a Lock"),
    ({"sensor": "binary_sensor.attic", "light": "light.hall"},
     "there is no device 'binary_sensor.attic' in this household"),
    ({"sensor": "binary_sensor.hall_motion", "light": "light.hall", "brightness": 150},
     "parameter 'brightness' is a Percentage between 0 and 100; got 150"),
    ({"sensor": "binary_sensor.hall_motion", "light": "light.hall", "brightness": "bright"},
     "parameter 'brightness' is a Percentage (a number)"),
    ({"light": "light.hall"}, "parameter 'sensor' (MotionSensor) is required"),
    ({"sensor": "binary_sensor.hall_motion", "light": "light.hall", "lihgt": "x"},
     "has no parameter 'lihgt' (did you mean 'light'?); its parameters: sensor, light, "
     "brightness"),
])
def test_blueprint_values_are_type_checked_with_a_clear_error(home, values, message):
    with pytest.raises(R.BlueprintError, match=re.escape(message)):
        R.instantiate(home, "motion-light", **values)
    assert not list(home.events(types=[R.RoutineDefined]))


@pytest.mark.parametrize("blueprint, values, message", [
    ("bedtime", {"area": "attic", "lock": "lock.front_door"},
     "parameter 'area' is an Area; 'attic' is not an area of this household. Areas: "
     "living_room (Living Room)"),
    ("wake-up", {"at": "7 am", "light": "light.bedside"}, "parameter 'at' is a Time of day"),
    ("leaving-home", {"lock": "lock.front_door", "area": "hall", "activity": "cs:Flying"},
     "parameter 'activity' is an ActivityKind"),
    ("motion-lights", {}, "no blueprint 'motion-lights' (did you mean 'motion-light'?)"),
])
def test_other_blueprint_errors_name_what_is_wrong(home, blueprint, values, message):
    with pytest.raises(R.BlueprintError, match=re.escape(message)):
        R.instantiate(home, blueprint, **values)


def test_an_instantiated_routine_names_its_blueprint_and_values(home):
    made = R.instantiate(home, "wake-up", "wake-ann", at="06:45", light="light.bedside",
                         time=T0)
    ev = made.event
    assert ev.blueprint == R.BLUEPRINT_BASE + "wake-up" and ev.routine == "wake-ann"
    assert ev.inputs == {"at": "06:45", "light": "light.bedside"}
    assert ev.trigger == {"kind": "time", "at": "06:45"}
    assert ev.actions == [{"device": home.iri("device", "light.bedside").value,
                           "command": "set", "attribute": "brightness", "value": 30}]
    rows = home.query("SELECT ?r ?bp WHERE { ?e a hearth:RoutineDefined ; hearth:routine ?r ; "
                      "hearth:blueprint ?bp . ?r a hearth:Routine }")
    assert [(r["r"].value, r["bp"].value) for r in rows] == [
        (home.ids.node("routine", "wake-ann").value, R.BLUEPRINT_BASE + "wake-up")]
    again = R.instantiate(home, "wake-up", at="07:00", light="light.bedside", time=T0)
    assert again.event.routine == "wake-up-1"


def test_the_compiled_blueprints_are_current_and_read_back_the_same():
    assert R.COMPILED_TTL.read_text() == R.compile_blueprints(), \
        "run `python -m reasoner.routines compile`"
    authored = R.load_blueprints()
    back = R.blueprints_from_rdf(R.COMPILED_TTL.read_text())
    assert set(back) == set(authored) >= {"motion-light", "bedtime", "wake-up", "leaving-home"}
    for name, bp in authored.items():
        got = back[name]
        assert (got.label, got.description, dict(got.trigger), list(got.actions)) == (
            bp.label, bp.description, dict(bp.trigger), list(bp.actions))
        assert {p.name: p for p in got.parameters} == {p.name: p for p in bp.parameters}


def test_blueprint_rdf_uses_only_declared_terms():
    import pyoxigraph as ox
    quads = list(ox.parse(R.COMPILED_TTL.read_bytes(), format=ox.RdfFormat.TURTLE))
    used = {q.predicate.value for q in quads} | {q.object.value for q in quads
                                                 if q.predicate.value.endswith("#type")}
    ours = {u[len(HEARTH_NS):] for u in used if u.startswith(HEARTH_NS)}
    assert ours and all(name in HEARTH for name in ours), sorted(n for n in ours
                                                                 if n not in HEARTH)
    types = {q.object.value for q in quads if q.predicate.value.endswith("parameterType")}
    assert {HEARTH_NS + "MotionSensor", HEARTH_NS + "Light", HEARTH_NS + "Area"} <= types


def test_a_malformed_blueprint_file_says_what_to_fix(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "blueprint: bad\nparameters:\n  - {name: light, type: Light}\n"
        "trigger: {kind: phrase, phrase: !input phrase}\n"
        "actions:\n  - {device: !input light, command: turn_on}\n")
    with pytest.raises(R.BlueprintError, match="'!input phrase' names no parameter"):
        R.load_blueprints(tmp_path)


# -- events ---------------------------------------------------------------------------------------

def test_routine_events_survive_replay_and_fit_the_shapes(home):
    R.instantiate(home, "motion-light", sensor="binary_sensor.hall_motion", light="light.hall",
                  time=T0)
    motion(home, "18:06")
    R.remove_routine(home, "motion-light-1", time=T0)
    checker = ShapeChecker.default()
    kinds = set()
    for seq, event in home.events(types=R.ROUTINE_TYPES):
        kinds.add(type(event))
        assert checker.violations(home.log.quads_of(seq)) == []
        assert home.event(seq) == event
        again = E.Event.from_json(json.loads(json.dumps(event.to_json())), ids=home.ids)
        assert again == event
    assert kinds == set(R.ROUTINE_TYPES)
    state = R.RoutineState()
    for seq, event in home.events(types=R.ROUTINE_TYPES):
        state.apply(seq, event, home)
    assert state.routines == {} and state.runs == {"motion-light-1": 1}


def test_the_component_is_registered_by_name():
    assert isinstance(make_component("routines"), R.RoutinesComponent)


def test_a_routine_phrase_is_read_as_known_not_as_unfamiliar():
    from reasoner.understanding import Understander, UtteranceInterpreted

    class Refuses:  # the classifier is never asked about a routine's phrase
        def fit(self, texts, labels):
            return self

        def predict(self, texts):
            raise AssertionError(f"the classifier was asked about {texts}")

    home = Hearth.in_memory().create_household("rk", time="2026-11-25T06:00:00Z")
    ingest_file(home, FIXTURES / "home.jsonl")
    understander = Understander(ha=None, classifier=Refuses(), resolve_by_meaning=False)
    Pipeline.from_names(["understanding", "routines"],
                        config={"understanding": {"understander": understander}}).attach(home)
    defined = R.define_routine(home, "night", trigger={"kind": "phrase", "phrase": "night night"},
                               actions=["hall light off"], time=T0)
    got = append(home, {"type": "UtteranceHeard", "time": "2026-11-25T22:00:00Z",
                        "text": "night night", "speaker": "ann"})
    [(_, reading)] = of_type(got, UtteranceInterpreted)
    assert (reading.intent, reading.method, reading.out_of_scope) == ("routines.run", "known", False)
    assert defined.iri in reading.derived_from
    assert of_type(got, R.RoutineRan)
