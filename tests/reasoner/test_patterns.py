"""Temporal patterns: leaving home, the pickup reminder, windows, order, missing steps."""

from __future__ import annotations

import datetime as dt

import pytest

from kg import events as E
from kg.shapes import ShapeChecker
from reasoner.patterns import (ActivityInferred, Pattern, PatternError,
                               PatternsComponent, SuggestionMade, builtin_patterns,
                               load_patterns)
import reasoner.rules  # noqa: F401  (registers the rules component)
from reasoner.pipeline import Pipeline, make_component
from reasoner.signals import CS

TZ = dt.timezone(dt.timedelta(hours=-8))
DAY = dt.datetime(2026, 11, 23, tzinfo=TZ)  # a Monday


def at(hhmm: str) -> dt.datetime:
    h, m = map(int, hhmm.split(":"))
    return DAY.replace(hour=h, minute=m)


def setup(home, *, with_rules: bool = False) -> Pipeline:
    """A small home: heating, lights, front door lock, garage, TV; two people at home."""
    t0 = at("06:00")
    home.append_many([
        E.AreaAdded(time=t0, area="hall", name="Hall"),
        E.AreaAdded(time=t0, area="living_room", name="Living Room"),
        E.DeviceAdded(time=t0, device="climate.main", name="Thermostat", kind="climate"),
        E.DeviceAdded(time=t0, device="light.kitchen", name="Kitchen Light", kind="light"),
        E.DeviceAdded(time=t0, device="lock.front", name="Front Door Lock", kind="lock",
                      area="hall"),
        E.DeviceAdded(time=t0, device="cover.garage", name="Garage Door", kind="garage_door"),
        E.DeviceAdded(time=t0, device="tv", name="TV", kind="tv", area="living_room"),
        E.PersonAdded(time=t0, person="leo", name="Leo"),
        E.PersonAdded(time=t0, person="nina", name="Nina"),
        E.PersonArrived(time=t0, person="leo"),
        E.PersonArrived(time=t0, person="nina"),
        E.DeviceStateChanged(time=t0, device="climate.main", attribute="temperature", value=21),
        E.DeviceStateChanged(time=t0, device="light.kitchen", value="on"),
    ])
    names = ["rules", "patterns"] if with_rules else ["patterns"]
    return Pipeline.from_names(names).attach(home)


def leaving(times: dict[str, str]) -> list[E.Event]:
    """The leaving-home steps at the given times (a step left out is missing)."""
    steps = {
        "heating": lambda t: E.DeviceStateChanged(time=t, device="climate.main",
                                                  attribute="temperature", value=16),
        "lights": lambda t: E.DeviceStateChanged(time=t, device="light.kitchen", value="off"),
        "door": lambda t: E.DeviceStateChanged(time=t, device="lock.front", value="locked"),
        "garage": lambda t: E.DeviceStateChanged(time=t, device="cover.garage", value="open"),
        "left": lambda t: E.PersonLeft(time=t, person="leo"),
    }
    events = [steps[k](at(v)) for k, v in times.items()]
    return sorted(events, key=lambda e: e.time)


def conclusions(home, cls):
    return [(s, e) for s, e in home.events(types=[cls])]


ON_TIME = {"heating": "09:04", "lights": "09:05", "door": "09:06", "garage": "09:07",
           "left": "09:08"}


@pytest.mark.parametrize("with_rules", [False, True])
def test_leaving_home_is_inferred_within_the_window(memory_home, with_rules):
    setup(memory_home, with_rules=with_rules)
    appended = [memory_home.append(e) for e in leaving(ON_TIME)]
    (seq, act), = conclusions(memory_home, ActivityInferred)
    assert act.activity == CS + "LeavingHome"
    assert (act.start, act.end) == (at("09:04"), at("09:08"))
    assert set(act.derived_from) == {a.iri for a in appended}
    assert act.confidence == pytest.approx(0.9) and act.by == "component:patterns"
    assert seq == appended[-1].seq + 1  # concluded as the last step arrived


def test_leaving_home_is_not_inferred_outside_the_window(memory_home):
    setup(memory_home)
    spread = {**ON_TIME, "heating": "08:50"}  # 18 minutes from first to last step
    for e in leaving(spread):
        memory_home.append(e)
    assert conclusions(memory_home, ActivityInferred) == []


def test_leaving_home_is_not_inferred_with_a_step_missing(memory_home):
    setup(memory_home)
    for e in leaving({k: v for k, v in ON_TIME.items() if k != "garage"}):
        memory_home.append(e)
    memory_home.append(E.DeviceStateChanged(time=at("09:09"), device="cover.garage",
                                            value="closed"))  # the wrong value is no step
    assert conclusions(memory_home, ActivityInferred) == []


def test_a_step_outside_the_window_is_replaced_by_one_inside(memory_home):
    setup(memory_home)
    memory_home.append(E.DeviceStateChanged(time=at("08:30"), device="light.kitchen",
                                            value="off"))  # too early to count…
    memory_home.append(E.DeviceStateChanged(time=at("08:31"), device="light.kitchen",
                                            value="on"))
    for e in leaving(ON_TIME):  # …but the 09:05 one does
        memory_home.append(e)
    (_, act), = conclusions(memory_home, ActivityInferred)
    assert act.start == at("09:04")


def test_an_event_is_evidence_for_one_activity_only(memory_home):
    setup(memory_home)
    for e in leaving(ON_TIME):
        memory_home.append(e)
    memory_home.append(E.PersonLeft(time=at("09:08"), person="nina"))
    assert len(conclusions(memory_home, ActivityInferred)) == 1


ORDERED = {
    "pattern": "heating-then-door", "order": "given", "within": "5 min",
    "steps": {"heating": "cs:ThermostatTurnedDown", "door": "cs:FrontDoorLocked"},
    "conclude": {"activity": "cs:LeavingHome", "confidence": 0.5},
}


@pytest.mark.parametrize("order, fires", [("given", False), ("any", True)])
def test_order_given_or_any(memory_home, order, fires):
    home = memory_home
    setup(home)
    Pipeline([PatternsComponent([Pattern.from_dict({**ORDERED, "order": order})])]).attach(home)
    home.append(E.DeviceStateChanged(time=at("09:00"), device="lock.front", value="locked"))
    home.append(E.DeviceStateChanged(time=at("09:01"), device="climate.main",
                                     attribute="temperature", value=17))
    inferred = [e for _, e in conclusions(home, ActivityInferred)
                if e.pattern.endswith("heating-then-door")]
    assert bool(inferred) is fires


def test_pickup_reminder_when_the_tv_goes_on_shortly_before_practice_ends(memory_home):
    setup(memory_home)
    entry = memory_home.append(E.CalendarEntryAdded(
        time=at("07:40"), title="Nina's soccer practice", start=at("15:30"), end=at("17:00"),
        person="nina", location="Rolling Hills Park", by="person:leo"))
    tv = memory_home.append(E.DeviceStateChanged(time=at("16:55"), device="tv", value="on",
                                                 by="person:leo"))
    (_, s), = conclusions(memory_home, SuggestionMade)
    assert s.kind == "reminder" and s.action == "notify"
    assert "Nina's soccer practice ends at 17:00 at Rolling Hills Park" in s.text
    assert "pick Nina up" in s.text
    assert s.target == memory_home.iri("person", "leo").value
    assert set(s.derived_from) == {entry.iri, tv.iri}


@pytest.mark.parametrize("tv_on", ["16:40", "17:05"])
def test_no_pickup_reminder_too_early_or_after_the_end(memory_home, tv_on):
    setup(memory_home)
    memory_home.append(E.CalendarEntryAdded(time=at("07:40"), title="Nina's soccer practice",
                                            start=at("15:30"), end=at("17:00"), person="nina"))
    memory_home.append(E.DeviceStateChanged(time=at(tv_on), device="tv", value="on"))
    assert conclusions(memory_home, SuggestionMade) == []


def test_no_pickup_reminder_for_a_grown_up_entry(memory_home):
    setup(memory_home)
    memory_home.append(E.CalendarEntryAdded(time=at("07:40"), title="Dentist",
                                            start=at("16:30"), end=at("17:00")))
    memory_home.append(E.DeviceStateChanged(time=at("16:55"), device="tv", value="on"))
    assert conclusions(memory_home, SuggestionMade) == []


def test_retracting_evidence_withdraws_the_conclusion(memory_home):
    setup(memory_home)
    appended = [memory_home.append(e) for e in leaving(ON_TIME)]
    (seq, _), = conclusions(memory_home, ActivityInferred)
    memory_home.retract(appended[3].seq, reason="the garage sensor glitched", time=at("09:30"))
    assert memory_home.ids.event(seq) in memory_home.state.retracted
    withdrawal = memory_home.event(memory_home.head)
    assert withdrawal.by == "component:patterns" and "evidence" in withdrawal.reason


def test_conclusions_round_trip_and_fit_the_proposed_shapes(memory_home):
    setup(memory_home)
    for e in leaving(ON_TIME):
        memory_home.append(e)
    (seq, act), = conclusions(memory_home, ActivityInferred)
    assert E.Event.from_json(act.to_json(), ids=memory_home.ids).to_json() == act.to_json()
    checker = ShapeChecker.default()
    quads = memory_home.log.quads_of(seq)
    assert checker.violations(quads) == []
    broken = [q for q in quads if not q.predicate.value.endswith("confidence")]
    assert any("confidence" in v for v in checker.violations(broken))
    # and pyshacl, the reference, agrees with the compiled checker
    from kg.shapes import validate_with_pyshacl
    for data, ok in ((quads, True), (broken, False)):
        assert validate_with_pyshacl("".join(f"{q} .\n" for q in data))[0] is ok


def test_builtin_patterns_are_declared_in_data():
    names = {p.name: p for p in builtin_patterns()}
    assert set(names) >= {"leaving-home", "pickup-reminder"}
    leaving_home = names["leaving-home"]
    assert leaving_home.within == dt.timedelta(minutes=10) and leaving_home.order == "any"
    assert leaving_home.doc.startswith("Leaving home")
    (relation,) = names["pickup-reminder"].relations
    assert str(relation) == "tv before practice.end within 0:10:00"
    assert make_component("patterns").patterns


@pytest.mark.parametrize("change, message", [
    ({"steps": {"door": "cs:FrontDoorLockd"}}, "Did you mean cs:FrontDoorLocked"),
    ({"within": "ten minutes"}, "not a duration"),
    ({"when": ["door before heating.end soon"]}, "not a relation"),
    ({"when": ["door before garage"]}, "no step 'garage'"),
    ({"order": "random"}, "'order' is 'any' or 'given'"),
    ({"conclude": {}}, "'conclude' needs"),
    ({"withinn": "5 min"}, "did you mean 'within'"),
])
def test_pattern_errors_say_what_to_write(change, message):
    with pytest.raises(PatternError, match=message):
        PatternsComponent([Pattern.from_dict({**ORDERED, **change})])


def test_patterns_load_from_files(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "# Bedtime: the bedroom light goes off after the television.\n"
        "pattern: bedtime\nsteps: {tv: cs:TelevisionTurnedOff, light: cs:BedroomLightOff}\n"
        "order: given\nwithin: 30 min\nconclude: {activity: cs:GoingToBed, confidence: 0.6}\n")
    (p,) = load_patterns(tmp_path)
    assert p.name == "bedtime" and p.doc.startswith("Bedtime") and p.confidence == 0.6


def test_a_pattern_spanning_the_moment_the_component_was_attached_still_fires(memory_home):
    steps = leaving(ON_TIME)
    first, rest = steps[:3], steps[3:]
    memory_home.append_many([
        E.DeviceAdded(time=at("06:00"), device="climate.main", name="Thermostat", kind="climate"),
        E.DeviceAdded(time=at("06:00"), device="light.kitchen", name="Kitchen Light",
                      kind="light"),
        E.DeviceAdded(time=at("06:00"), device="lock.front", name="Front Door Lock", kind="lock"),
        E.DeviceAdded(time=at("06:00"), device="cover.garage", name="Garage Door",
                      kind="garage_door"),
        E.PersonAdded(time=at("06:00"), person="leo", name="Leo"),
        E.PersonArrived(time=at("06:00"), person="leo"),
        E.DeviceStateChanged(time=at("06:00"), device="climate.main", attribute="temperature",
                             value=21),
        *[E.UtteranceHeard(time=at("07:00"), text=f"filler {i}") for i in range(30)],
        *first])
    Pipeline.from_names(["patterns"]).attach(memory_home)  # learns the past, concludes nothing
    for e in rest:
        memory_home.append(e)
    (_, act), = conclusions(memory_home, ActivityInferred)
    assert (act.start, act.end) == (at("09:04"), at("09:08"))
