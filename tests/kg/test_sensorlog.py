"""Binary-sensor log importers: van Kasteren and CASAS files, events, and back."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kg.errors import EventError
from kg.events import DeviceAdded, Event, SensorObserved
from kg.importers.sensorlog import (ActivityInterval, SensorInterval, SensorLog,
                                    intervals_from_observations, read_casas, read_kasteren,
                                    sensor_slug, to_events)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sensorlog"
KASTEREN = FIXTURES / "kasteren_small"
AMS = ZoneInfo("Europe/Amsterdam")
UTC = dt.timezone.utc

HEADER = """Sensor IDs are:
    [ 1]    'Microwave'
    [24]    'Hall-Bedroom door'

Start time          \tEnd time            \tID\tVal
--------------------\t--------------------\t--\t---
Length: 3
"""


@pytest.fixture(scope="module")
def kasteren_log() -> SensorLog:
    return read_kasteren(KASTEREN / "kasterenSenseData.txt", KASTEREN / "kasterenActData.txt")


def rows_of(events):
    return [(e.sensor, e.time, e.value) for e in events if isinstance(e, SensorObserved)]


# -- van Kasteren ------------------------------------------------------------------------------

def test_read_kasteren_reads_header_ids_intervals_and_activities(kasteren_log):
    assert kasteren_log.sensors == {
        "1": "Frontdoor", "2": "Fridge", "3": "Cups cupboard", "4": "ToiletFlush",
        "5": "Hall-Bedroom door", "6": "Pans Cupboard", "7": "Hall-Toilet door"}
    assert len(kasteren_log.intervals) == 85
    assert len(kasteren_log.activities) == 29
    first = kasteren_log.intervals[0]
    assert first == SensorInterval("5", "Hall-Bedroom door",
                                   dt.datetime(2008, 3, 3, 0, 5, tzinfo=AMS),
                                   dt.datetime(2008, 3, 3, 0, 5, 20, tzinfo=AMS))
    assert set(kasteren_log.labels) == {"go to bed", "use toilet", "get drink", "leave house",
                                        "prepare Dinner"}


def test_read_kasteren_gives_aware_amsterdam_times(kasteren_log):
    start = kasteren_log.intervals[0].start
    assert start.utcoffset() == dt.timedelta(hours=1)  # CET in March 2008
    assert start.astimezone(UTC).hour == 23  # 00:05 in Amsterdam is 23:05 UTC the day before


def test_read_kasteren_honours_a_given_time_zone():
    log = read_kasteren(io.StringIO(HEADER + "25-Feb-2008 09:33:41\t25-Feb-2008 09:33:42\t24\t1\n"),
                        tz="UTC")
    assert log.intervals[0].start == dt.datetime(2008, 2, 25, 9, 33, 41, tzinfo=UTC)


def test_read_kasteren_without_header_uses_ids_as_names():
    log = read_kasteren(io.StringIO("25-Feb-2008 09:33:41\t25-Feb-2008 09:33:42\t24\t1\n"))
    assert log.sensors == {"24": "24"}
    assert log.intervals[0].name == "24"


@pytest.mark.parametrize("line, line_no, words", [
    ("25-Feb-2008 09:33:41\t25-Feb-2008 09:33:42\n", 8, "got 2 field(s)"),
    ("25-Feb-2008 09:33:41 25-Feb-2008 09:33:42 24 1\n", 8, "tab-separated"),
    ("25-Feb-2008 09:33:41\t25-Foo-2008 09:33:42\t24\t1\n", 8, "bad end time"),
    ("31-Feb-2008 09:33:41\t25-Feb-2008 09:33:42\t24\t1\n", 8, "bad start time"),
    ("25-Feb-2008 09:33:41\t25-Feb-2008 09:33:42\t99\t1\n", 8, "known ids: 1, 24"),
    ("25-Feb-2008 09:33:42\t25-Feb-2008 09:33:41\t24\t1\n", 8, "before it starts"),
    ("25-Feb-2008 09:33:41\t25-Feb-2008 09:33:42\t24\tyes\n", 8, "must be a number"),
])
def test_malformed_kasteren_line_names_its_line(line, line_no, words):
    with pytest.raises(EventError) as err:
        read_kasteren(io.StringIO(HEADER + line))
    assert err.value.line == line_no
    assert words in str(err.value)
    assert f"line {line_no}" in str(err.value)


def test_malformed_line_after_good_lines_is_found(tmp_path):
    path = tmp_path / "kasterenSenseData.txt"
    path.write_text(HEADER + "25-Feb-2008 09:33:41\t25-Feb-2008 09:33:42\t24\t1\n"
                    "25-Feb-2008 09:34:41\t25-Feb-2008 09:34:42\t1\t1\n" "garbage\n")
    with pytest.raises(EventError) as err:
        read_kasteren(path)
    assert err.value.line == 10
    assert "kasterenSenseData.txt" in str(err.value)


def test_missing_kasteren_file_is_a_clear_error(tmp_path):
    with pytest.raises(EventError, match="cannot read sensor log"):
        read_kasteren(tmp_path / "nope.txt")


def test_unknown_time_zone_is_refused():
    with pytest.raises(EventError, match="unknown time zone"):
        read_kasteren(io.StringIO(""), tz="Mars/Olympus")


# -- CASAS -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def casas_log() -> SensorLog:
    return read_casas(FIXTURES / "casas_small.txt", tz="America/Los_Angeles")


def test_read_casas_pairs_on_and_off_into_intervals(casas_log):
    m003 = [iv for iv in casas_log.intervals if iv.sensor == "M003"]
    assert [(iv.start.strftime("%H:%M:%S"), iv.end.strftime("%H:%M:%S")) for iv in m003] == [
        ("00:03:50", "00:03:57"), ("00:30:19", "00:30:22"), ("05:40:43", "05:40:44")]
    # the repeated ON at 00:30:19.99 did not open a second interval
    assert m003[1].start.microsecond == 185547


def test_read_casas_skips_numeric_readings_and_reads_the_doubled_sensor_form(casas_log):
    assert "T002" not in casas_log.sensors
    m017 = [iv for iv in casas_log.intervals if iv.sensor == "M017"]
    assert len(m017) == 1 and m017[0].start.microsecond == 500000


def test_read_casas_closes_an_open_interval_at_the_last_time(casas_log):
    (m019,) = [iv for iv in casas_log.intervals if iv.sensor == "M019"]
    assert m019.start == m019.end == dt.datetime(2010, 11, 4, 9, 30, tzinfo=ZoneInfo(
        "America/Los_Angeles"))


def test_read_casas_reads_begin_end_labels(casas_log):
    got = [(a.label, a.start.strftime("%H:%M:%S"), a.end.strftime("%H:%M:%S"))
           for a in casas_log.activities]
    assert got == [("Sleep", "00:03:50", "05:40:43"), ("Leave_Home", "08:11:09", "08:11:12"),
                   ("Meal_Preparation", "09:00:00", "09:04:09")]


def test_read_casas_turns_runs_of_bare_labels_into_activities():
    log = read_casas(io.StringIO(
        "2012-07-20 10:00:00 M001 ON Cook\n2012-07-20 10:00:05 M001 OFF Cook\n"
        "2012-07-20 10:03:00 M002 ON Cook\n2012-07-20 10:09:00 M003 ON Relax\n"
        "2012-07-20 10:10:00 M003 OFF\n"), tz="UTC")
    assert [(a.label, a.start.minute, a.end.minute) for a in log.activities] == [
        ("Cook", 0, 3), ("Relax", 9, 9)]


@pytest.mark.parametrize("text, line_no, words", [
    ("2010-11-04 00:03:50 M003 ON\n2010-11-04 00:03:57 M003\n", 2, "expected 'date time"),
    ("2010-11-04 00:03:50 M003 ON\n2010-13-04 00:03:57 M003 OFF\n", 2, "bad date/time"),
    ("2010-11-04 00:03:50 M003 ON\n2010-11-04 00:03:57 M003 MAYBE\n", 2, "value 'MAYBE'"),
    ("2010-11-04 00:03:50 M003 ON\n\n2010-11-04 00:03:40 M003 OFF\n", 3, "goes back"),
])
def test_malformed_casas_line_names_its_line(text, line_no, words):
    with pytest.raises(EventError) as err:
        read_casas(io.StringIO(text))
    assert err.value.line == line_no
    assert words in str(err.value)


# -- events and back -----------------------------------------------------------------------------

def test_to_events_adds_every_sensor_first_then_observations_in_time_order(kasteren_log):
    events = list(to_events(kasteren_log))
    n = len(kasteren_log.sensors)
    assert all(isinstance(e, DeviceAdded) and e.kind == "binary_sensor" for e in events[:n])
    assert {e.device: e.name for e in events[:n]} == kasteren_log.sensors
    observed = events[n:]
    assert len(observed) == 2 * len(kasteren_log.intervals)
    assert all(isinstance(e, SensorObserved) and e.property == "activated" for e in observed)
    times = [e.time for e in observed]
    assert times == sorted(times)
    assert all(e.time >= events[0].time for e in observed)
    assert sum(e.value is True for e in observed) == len(kasteren_log.intervals)


@pytest.mark.parametrize("which", ["kasteren", "casas"])
def test_events_read_back_into_the_same_intervals(which, kasteren_log, casas_log):
    log = kasteren_log if which == "kasteren" else casas_log
    back = intervals_from_observations(rows_of(to_events(log)), names=log.sensors)
    assert tuple(back) == log.intervals


def test_events_survive_json_validation_and_read_back(kasteren_log):
    events = [Event.from_json(e.to_json()) for e in to_events(kasteren_log)]
    back = intervals_from_observations(rows_of(events), names=kasteren_log.sensors)
    assert [(iv.sensor, iv.start, iv.end) for iv in back] == [
        (iv.sensor, iv.start, iv.end) for iv in kasteren_log.intervals]


def test_back_to_back_and_zero_length_intervals_round_trip():
    t = dt.datetime(2008, 2, 25, 9, 0, tzinfo=UTC)
    m = dt.timedelta(minutes=1)
    ivs = (SensorInterval("24", "door", t, t + m), SensorInterval("24", "door", t + m, t + 2 * m),
           SensorInterval("24", "door", t + 2 * m, t + 2 * m), SensorInterval("5", "flush", t, t))
    log = SensorLog({"24": "door", "5": "flush"}, ivs)
    back = intervals_from_observations(rows_of(to_events(log)), names=log.sensors)
    assert tuple(back) == log.intervals


def test_prefix_keeps_imported_devices_apart_and_is_stripped_back(kasteren_log):
    events = list(to_events(kasteren_log, prefix="kasteren."))
    assert events[0].device == "kasteren.1"
    back = intervals_from_observations(rows_of(events), prefix="kasteren.",
                                       names=kasteren_log.sensors)
    assert tuple(back) == kasteren_log.intervals


def test_interval_still_open_closes_at_the_given_end():
    t = dt.datetime(2008, 2, 25, 9, 0, tzinfo=UTC)
    end = t + dt.timedelta(hours=1)
    (iv,) = intervals_from_observations([("24", t, True)], end=end)
    assert (iv.start, iv.end) == (t, end)


def test_observation_values_must_be_booleans():
    t = dt.datetime(2008, 2, 25, 9, 0, tzinfo=UTC)
    with pytest.raises(EventError, match="boolean"):
        intervals_from_observations([("24", t, "warm")])


def test_empty_log_with_sensors_needs_a_time():
    with pytest.raises(EventError, match="time="):
        list(to_events(SensorLog({"1": "x"})))
    t = dt.datetime(2008, 2, 25, tzinfo=UTC)
    assert [e.device for e in to_events(SensorLog({"1": "x"}), time=t)] == ["1"]


def test_sensor_slug_replaces_what_a_device_id_cannot_hold():
    assert sensor_slug("Hall (door)") == "Hall_door_"
    with pytest.raises(EventError):
        sensor_slug("  ")


def test_between_clips_activities_to_the_period_and_keeps_sensor_history(kasteren_log):
    day = dt.datetime(2008, 3, 4, tzinfo=AMS)
    part = kasteren_log.between(day, day + dt.timedelta(days=1), history=dt.timedelta(hours=2))
    assert part.span == (day, day + dt.timedelta(days=1))
    assert all(day <= a.start and a.end <= day + dt.timedelta(days=1) for a in part.activities)
    assert min(iv.start for iv in part.intervals) < day  # the 23:20 bedroom door is history
    assert isinstance(part.activities[0], ActivityInterval)
    assert part.activities[0].label == "go to bed" and part.activities[0].start == day
