"""Hunches: lights left on at night in empty rooms, learned habits, opt-in automation."""

from __future__ import annotations

import datetime as dt

import pytest

from kg import events as E
from kg.shapes import ShapeChecker
from reasoner.hunches import (HunchAnswered, HunchesComponent, HunchRaised, answer_hunch, opt_in,
                              opted_in)
from reasoner.pipeline import Pipeline, make_component
from reasoner.signals import CS

TZ = dt.timezone(dt.timedelta(hours=-8))
DAY = dt.datetime(2026, 11, 21, tzinfo=TZ)


def at(hhmm: str, day: int = 0) -> dt.datetime:
    h, m = map(int, hhmm.split(":"))
    return DAY.replace(hour=h, minute=m) + dt.timedelta(days=day)


def setup(home, history: list[E.Event] = ()) -> HunchesComponent:
    """A porch and a living room, each with a light and a motion sensor, and a study without one;
    Maya lives here. The household was set up a week ago; ``history`` happened since."""
    t0 = at("06:00", -7)
    home.append_many([
        E.AreaAdded(time=t0, area="porch", name="Porch"),
        E.AreaAdded(time=t0, area="living_room", name="Living Room"),
        E.AreaAdded(time=t0, area="study", name="Study"),
        E.DeviceAdded(time=t0, device="light.porch", name="Porch Light", kind="light",
                      area="porch"),
        E.DeviceAdded(time=t0, device="motion.porch", name="Porch Motion",
                      kind="motion_sensor", area="porch"),
        E.DeviceAdded(time=t0, device="light.living", name="Living Room Lamp", kind="light",
                      area="living_room"),
        E.DeviceAdded(time=t0, device="motion.living", name="Living Room Motion",
                      kind="motion_sensor", area="living_room"),
        E.DeviceAdded(time=t0, device="light.study", name="Study Lamp", kind="light",
                      area="study"),  # no motion sensor: nobody can tell if it is empty
        E.DeviceAdded(time=t0, device="sensor.temp", name="Thermometer",
                      kind="temperature_sensor"),
        E.PersonAdded(time=t0, person="maya", name="Maya"),
        E.PersonArrived(time=t0, person="maya"),
        E.DeviceStateChanged(time=t0, device="light.porch", value="off"),
        E.DeviceStateChanged(time=t0, device="light.living", value="off"),
        *history,
    ])
    component = HunchesComponent()
    Pipeline([component]).attach(home)
    return component


def tick(home, hhmm: str, day: int = 0):
    """Time passes: a thermometer reading (any event lets the component look around)."""
    return home.append(E.SensorObserved(time=at(hhmm, day), sensor="sensor.temp",
                                        property="temperature", value=20.5, unit="Cel"))


def light(home, device: str, value: str, hhmm: str, day: int = 0, by: str | None = None):
    return home.append(E.DeviceStateChanged(time=at(hhmm, day), device=device, value=value,
                                            by=by))


def motion(home, area_sensor: str, hhmm: str, value: bool = True):
    return home.append(E.SensorObserved(time=at(hhmm), sensor=area_sensor, property="motion",
                                        value=value))


def hunches(home) -> list[HunchRaised]:
    return [e for _, e in home.events(types=[HunchRaised])]


def test_a_light_left_on_at_night_in_an_empty_area_raises_a_hunch(memory_home):
    setup(memory_home)
    on = light(memory_home, "light.porch", "on", "19:05", by="person:maya")
    tick(memory_home, "21:00")  # evening: not yet
    assert hunches(memory_home) == []
    tick(memory_home, "22:10")
    (h,) = hunches(memory_home)
    assert (h.device, h.expected, h.actual, h.action) == ("light.porch", "off", "on", "turn_off")
    assert h.kind == CS + "LightLeftOnInEmptyRoomAtNight"
    assert h.score >= 0.75 and h.since == at("19:05")
    assert on.iri in h.derived_from
    assert h.suggestion.startswith("The Porch Light is usually off by 22:00; it has been on "
                                   "since 19:05 and nobody has been in the Porch for 185 minutes")
    tick(memory_home, "23:00")
    assert len(hunches(memory_home)) == 1  # once per episode
    (seq, _), = list(memory_home.events(types=[HunchRaised]))
    assert ShapeChecker.default().violations(memory_home.log.quads_of(seq)) == []
    assert E.Event.from_quads(memory_home.log.quads_of(seq), memory_home.ids) == h


def test_no_hunch_for_a_light_on_in_an_occupied_room(memory_home):
    setup(memory_home)
    light(memory_home, "light.living", "on", "21:00")
    motion(memory_home, "motion.living", "22:00")  # someone is in the living room
    tick(memory_home, "22:10")
    assert hunches(memory_home) == []
    motion(memory_home, "motion.living", "22:12", value=False)  # clear, but only just
    tick(memory_home, "22:20")
    assert hunches(memory_home) == []
    tick(memory_home, "22:50")  # nobody has moved there for 38 minutes now
    (h,) = hunches(memory_home)
    assert h.device == "light.living" and "for 38 minutes" in h.suggestion


def test_no_hunch_where_nobody_can_tell_the_room_is_empty(memory_home):
    setup(memory_home)
    light(memory_home, "light.study", "on", "20:00")
    tick(memory_home, "23:30")
    assert hunches(memory_home) == []


def test_the_baseline_learns_that_this_light_is_usually_on_at_night(memory_home):
    history = []
    for day in range(-6, 0):  # a week of the porch light on every night
        history += [E.DeviceStateChanged(time=at("19:00", day), device="light.porch",
                                         value="on"),
                    E.DeviceStateChanged(time=at("06:30", day + 1), device="light.porch",
                                         value="off")]
    component = setup(memory_home, history)
    light(memory_home, "light.porch", "on", "19:05")
    tick(memory_home, "23:00")
    assert hunches(memory_home) == []
    est = component.baseline(memory_home).estimate("light.porch", CS + "Night", True)
    assert est.expected == "on" and est.minutes > 60 * 30


def test_a_hunch_is_raised_for_lights_left_on_when_everyone_has_left(memory_home):
    setup(memory_home)
    light(memory_home, "light.study", "on", "10:00")
    left = memory_home.append(E.PersonLeft(time=at("10:05"), person="maya"))
    tick(memory_home, "10:15")
    assert hunches(memory_home) == []  # not for long enough yet
    tick(memory_home, "10:25")
    (h,) = hunches(memory_home)
    assert h.kind == CS + "LightsOnWhileNobodyHome" and left.iri in h.derived_from
    assert h.suggestion.startswith("Everyone left at 10:05 and the Study Lamp is still on")


def test_without_opting_in_a_hunch_is_only_offered(memory_home):
    setup(memory_home)
    light(memory_home, "light.porch", "on", "19:05")
    tick(memory_home, "22:10")
    assert not opted_in(memory_home)
    assert [e for _, e in memory_home.events(types=[E.CommandIssued])] == []


@pytest.mark.parametrize("kind", [None, CS + "LightLeftOnInEmptyRoomAtNight"])
def test_where_the_household_opted_in_the_hunch_is_acted_on(memory_home, kind):
    setup(memory_home)
    opt_in(memory_home, kind, time=at("08:00"))
    assert opted_in(memory_home, CS + "LightLeftOnInEmptyRoomAtNight")
    light(memory_home, "light.porch", "on", "19:05")
    tick(memory_home, "22:10")
    (seq, hunch), = list(memory_home.events(types=[HunchRaised]))
    (cmd,) = [e for _, e in memory_home.events(types=[E.CommandIssued])]
    assert (cmd.device, cmd.command, cmd.by) == ("light.porch", "turn_off", "component:hunches")
    assert cmd.derived_from == (memory_home.ids.event(seq),)


def test_opting_out_is_retracting_the_opt_in(memory_home):
    setup(memory_home)
    choice = opt_in(memory_home, time=at("08:00"))
    memory_home.retract(choice.seq, reason="we changed our minds", time=at("09:00"))
    light(memory_home, "light.porch", "on", "19:05")
    tick(memory_home, "22:10")
    assert len(hunches(memory_home)) == 1
    assert [e for _, e in memory_home.events(types=[E.CommandIssued])] == []


def test_retracting_the_evidence_withdraws_the_hunch(memory_home):
    setup(memory_home)
    on = light(memory_home, "light.porch", "on", "19:05")
    tick(memory_home, "22:10")
    (seq, _), = list(memory_home.events(types=[HunchRaised]))
    memory_home.retract(on.seq, reason="the switch reported wrongly", time=at("22:20"))
    assert memory_home.ids.event(seq) in memory_home.state.retracted


def test_the_hunches_component_is_registered():
    assert make_component("hunches", threshold=0.9).threshold == 0.9


def test_a_rejected_hunch_makes_that_state_usual_from_then_on(memory_home):
    component = setup(memory_home)
    light(memory_home, "light.porch", "on", "19:05")
    tick(memory_home, "22:10")
    (seq, h), = list(memory_home.events(types=[HunchRaised]))
    base = component.baseline(memory_home)
    before = base.estimate("light.porch", CS + "Night", True).p_on
    answered = answer_hunch(memory_home, seq, False, by="person:maya", time=at("22:11"))
    assert isinstance(answered.event, HunchAnswered) and answered.event.hunch == \
        memory_home.ids.event(seq)
    assert ShapeChecker.default().violations(memory_home.log.quads_of(answered.seq)) == []
    rejected = base.estimate("light.porch", CS + "Night", True).p_on
    assert rejected > before + 0.3          # "no, leave it on": on is usual at night now
    # the next night the same light on raises nothing
    light(memory_home, "light.porch", "off", "06:30", day=1)
    light(memory_home, "light.porch", "on", "19:05", day=1)
    tick(memory_home, "22:10", day=1)
    assert len(hunches(memory_home)) == 1
    # a new component replaying the log learns the same from the answer
    again = HunchesComponent()
    Pipeline([again]).attach(memory_home)
    tick(memory_home, "22:20", day=1)
    assert again.baseline(memory_home).estimate("light.porch", CS + "Night", True).p_on > \
        before + 0.3


def test_an_accepted_hunch_makes_that_state_rarer(memory_home):
    component = setup(memory_home)
    light(memory_home, "light.porch", "on", "19:05")
    tick(memory_home, "22:10")
    (seq, _), = list(memory_home.events(types=[HunchRaised]))
    before = component.baseline(memory_home).estimate("light.porch", CS + "Night", True).p_on
    answer_hunch(memory_home, seq, True, by="person:maya", time=at("22:11"))
    after = component.baseline(memory_home).estimate("light.porch", CS + "Night", True).p_on
    assert after < before


def test_only_a_hunch_can_be_answered(memory_home):
    setup(memory_home)
    on = light(memory_home, "light.porch", "on", "19:05")
    with pytest.raises(E.EventError, match="not a HunchRaised"):
        answer_hunch(memory_home, on.seq, True)
