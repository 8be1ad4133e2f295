"""Hunches on binary-sensor logs: what a history taught as usual, and what departs from it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from kg.importers.sensorlog import SensorInterval, SensorLog
from reasoner.sensor_hunches import SensorBaseline, main, sensor_hunches

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sensorlog"
TZ = dt.timezone(dt.timedelta(hours=1))
SENSORS = {"12": "Frontdoor", "8": "Fridge"}


def at(day, hour, minute=0):
    return dt.datetime(2008, 3, day, hour, minute, tzinfo=TZ)


def fired(sensor, day, hour, minute=0, minutes=1):
    start = at(day, hour, minute)
    return SensorInterval(sensor, SENSORS[sensor], start, start + dt.timedelta(minutes=minutes))


def history(days=14):
    """A fortnight: the front door at 08:10 and 17:00, the fridge at 07:20 and 18:30."""
    items = []
    for d in range(1, days + 1):
        items += [fired("12", d, 8, 10), fired("12", d, 17), fired("8", d, 7, 20, 2),
                  fired("8", d, 18, 30, 3)]
    return SensorLog(dict(SENSORS), tuple(items), span=(at(1, 0), at(days + 1, 0)))


def test_a_sensor_firing_where_it_never_does_is_a_hunch_with_its_reasons():
    events = SensorLog(dict(SENSORS), (fired("12", 16, 8, 12), fired("12", 16, 3, 5)))
    [h] = sensor_hunches(history(), events)
    assert (h["kind"], h["device"], h["time"]) == ("unusual-time", "12", "2008-03-16T03:05:00+01:00")
    assert h["score"] == pytest.approx(0.967, abs=1e-3)
    assert "Frontdoor never fired in the night in 14 days; it fired at 03:05" in h["explanation"]
    assert h["action"] == "tell someone the Frontdoor fired"


def test_the_usual_routine_raises_nothing():
    events = SensorLog(dict(SENSORS), (fired("12", 16, 8, 5), fired("8", 16, 18, 40)))
    assert sensor_hunches(history(), events) == []


def test_a_rate_learned_from_more_occurrences_is_less_surprising():
    base = SensorBaseline.learn(history())
    night = base.part(at(1, 3))
    assert base.unusual_time_score("12", night) > 0.95
    assert base.unusual_time_score("12", base.part(at(1, 8, 10))) < 0.5
    # one night visit a week: still a little unusual, under the default threshold
    items = list(history().intervals) + [fired("12", d, 3) for d in (2, 9)]
    again = SensorBaseline.learn(SensorLog(dict(SENSORS), tuple(items), span=(at(1, 0), at(15, 0))))
    assert again.unusual_time_score("12", night) < 0.85


def test_an_activation_longer_than_any_before_is_left_open():
    events = SensorLog(dict(SENSORS), (fired("8", 16, 18, 30, minutes=45),))
    [h] = sensor_hunches(history(), events)
    assert h["kind"] == "open-too-long" and h["action"] == "check the Fridge"
    assert "active for 45 min since 18:30; the longest before was 3 min" in h["explanation"]
    # shorter than the minimum: a long fridge visit, not a door left open
    short = SensorLog(dict(SENSORS), (fired("8", 16, 18, 30, minutes=10),))
    assert sensor_hunches(history(), short) == []


def test_the_command_prints_one_json_object_with_the_issue_keys(capsys):
    path = str(FIXTURES / "kasteren_small")
    assert main(["--format", "kasteren", "--history", path, "--events", path,
                 "--split", "2008-03-06", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out) == {"hunches"}
    for h in out["hunches"]:
        assert set(h) == {"time", "device", "kind", "score", "explanation", "action"}
        assert h["time"] >= "2008-03-06"


def test_a_split_outside_the_log_is_a_clear_error(capsys):
    path = str(FIXTURES / "kasteren_small")
    assert main(["--history", path, "--events", path, "--split", "2009-01-01"]) == 2
    assert "no readings from 2009-01-01 on" in capsys.readouterr().err
    assert main(["--history", "/nonexistent", "--events", path]) == 2
    assert "is missing" in capsys.readouterr().err
