"""Binary-sensor logs: van Kasteren's tab-separated files and CASAS event lines, as hearth events.

A log is a set of sensor intervals (a sensor was active from ``start`` to ``end``) and, when the
file is annotated, activity intervals. ``to_events`` turns a log into the events the household
graph records: one ``DeviceAdded`` per sensor, then ``SensorObserved(property="activated")``
with ``True`` at each interval's start and ``False`` at its end; ``intervals_from_observations``
reads such observations back into intervals (this is how a model reads the graph).

>>> import io
>>> log = read_casas(io.StringIO(
...     "2010-11-04 00:03:50.209589 M003 ON Sleep begin\\n"
...     "2010-11-04 00:03:57.399391 M003 OFF\\n"
...     "2010-11-04 05:40:43.642664 M003 ON Sleep end\\n"
...     "2010-11-04 05:40:44.884012 M003 OFF\\n"), tz="UTC")
>>> [(iv.sensor, f"{iv.start:%H:%M:%S}", f"{iv.end:%H:%M:%S}") for iv in log.intervals]
[('M003', '00:03:50', '00:03:57'), ('M003', '05:40:43', '05:40:44')]
>>> [(a.label, a.start.strftime("%H:%M"), a.end.strftime("%H:%M")) for a in log.activities]
[('Sleep', '00:03', '05:40')]
>>> [type(e).__name__ for e in to_events(log)]
['DeviceAdded', 'SensorObserved', 'SensorObserved', 'SensorObserved', 'SensorObserved']
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kg.errors import EventError
from kg.events import DeviceAdded, Event, SensorObserved

__all__ = [
    "ActivityInterval", "SensorInterval", "SensorLog", "intervals_from_observations",
    "read_casas", "read_kasteren", "sensor_slug", "to_events",
]

KASTEREN_TZ = "Europe/Amsterdam"  # the houses were in the Netherlands
CASAS_TZ = "America/Los_Angeles"  # the CASAS test beds are at WSU, Pullman WA


@dataclass(frozen=True)
class SensorInterval:
    """A binary sensor was active (fired, open, on) from ``start`` to ``end`` (aware datetimes)."""

    sensor: str
    name: str
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class ActivityInterval:
    """An annotated activity ("prepare Dinner") from ``start`` to ``end``."""

    label: str
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class SensorLog:
    """Sensors (id → name), their intervals and the annotated activities, sorted by start.

    ``span`` is the period the log covers, when it is known to be more than its readings (a day
    cut out of a longer log covers the whole day, quiet hours included)."""

    sensors: dict[str, str]
    intervals: tuple[SensorInterval, ...] = ()
    activities: tuple[ActivityInterval, ...] = ()
    span: tuple[dt.datetime, dt.datetime] | None = field(default=None, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "intervals", tuple(sorted(
            self.intervals, key=lambda iv: (iv.start, iv.end, iv.sensor))))
        object.__setattr__(self, "activities", tuple(sorted(
            self.activities, key=lambda a: (a.start, a.end, a.label))))

    @property
    def labels(self) -> list[str]:
        """The activity labels that occur, in order of first appearance."""
        return list(dict.fromkeys(a.label for a in self.activities))

    def bounds(self) -> tuple[dt.datetime, dt.datetime] | None:
        """The period covered: ``span`` if set, else first start to last end of any interval."""
        if self.span is not None:
            return self.span
        items = [*self.intervals, *self.activities]
        if not items:
            return None
        return min(i.start for i in items), max(i.end for i in items)

    def between(self, start: dt.datetime, end: dt.datetime, *,
                history: dt.timedelta = dt.timedelta(0)) -> "SensorLog":
        """The part of the log from ``start`` to ``end`` (its ``span``): activities overlapping
        it, clipped to it; sensor intervals overlapping ``start - history`` to ``end``, clipped
        to that, so a model can see what the sensors did just before the period."""
        def clip(items, lo, hi):
            for it in items:
                if it.start < hi and (it.end > lo or it.start >= lo):
                    yield replace(it, start=max(it.start, lo), end=min(it.end, hi))
        return SensorLog(dict(self.sensors), tuple(clip(self.intervals, start - history, end)),
                         tuple(clip(self.activities, start, end)), span=(start, end))


# ---------------------------------------------------------------------------------------------
# van Kasteren: a header that lists ids and names, then `start<TAB>end<TAB>id[<TAB>val]` lines.

_MONTHS = {m: i for i, m in enumerate(
    "jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_K_DATE = re.compile(r"^(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{1,2}):(\d{2}):(\d{2})$")
_K_DATA_START = re.compile(r"^\s*\d{1,2}-[A-Za-z]{3}-\d{4}")
_K_SENSOR = re.compile(r"^\s*\[\s*(\w+)\s*\]\s*'([^']*)'\s*$")
_K_ACTIVITY = re.compile(r"^\s*(\w+)\s*:\s*'([^']*)'\s*$")


def read_kasteren(sense_path, act_path=None, *, tz: str | dt.tzinfo = KASTEREN_TZ) -> SensorLog:
    """Reads van Kasteren's ``kasterenSenseData.txt`` (and ``kasterenActData.txt``, if given).

    Times are local wall-clock times in ``tz`` (Amsterdam for the published houses); the result
    holds aware datetimes. A malformed data line raises ``EventError`` with its line number.
    ``sense_path`` and ``act_path`` are paths or open text files.
    """
    zone = _zone(tz)
    sensors, rows = _read_kasteren_file(sense_path, zone, "sensor", _K_SENSOR, max_fields=4)
    intervals = []
    for line_no, start, end, ident in rows:
        name = _lookup(sensors, ident, "sensor", sense_path, line_no)
        intervals.append(SensorInterval(ident, name, start, end))
    if not sensors:  # a file without the id list: the ids are the names
        sensors = {iv.sensor: iv.name for iv in intervals}
    activities = []
    if act_path is not None:
        names, act_rows = _read_kasteren_file(act_path, zone, "activity", _K_ACTIVITY,
                                              max_fields=3)
        for line_no, start, end, ident in act_rows:
            activities.append(ActivityInterval(
                _lookup(names, ident, "activity", act_path, line_no), start, end))
    return SensorLog(sensors, tuple(intervals), tuple(activities))


def _read_kasteren_file(path, zone, what, id_line, *, max_fields):
    ids: dict[str, str] = {}
    rows = []
    in_data = False
    with _open(path) as fh:
        for line_no, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("Length:"):
                continue
            if not in_data:
                if set(line.replace("\t", "").strip()) == {"-"}:
                    in_data = True  # the dashes under the column titles
                    continue
                if not _K_DATA_START.match(line):
                    m = id_line.match(line)
                    if m:
                        ids[m.group(1)] = m.group(2).strip()
                    continue  # free text of the header
                in_data = True
            fields = [f.strip() for f in line.split("\t") if f.strip()]
            if not 3 <= len(fields) <= max_fields:
                shape = "start<TAB>end<TAB>id" + ("[<TAB>val]" if max_fields == 4 else "")
                raise EventError(
                    f"{_name(path)}: expected a {what} line '{shape}' with tab-separated fields "
                    f"such as '25-Feb-2008 09:33:41<TAB>25-Feb-2008 09:33:42<TAB>24', got "
                    f"{len(fields)} field(s): {line.strip()!r}", line=line_no)
            start = _kasteren_time(fields[0], zone, path, line_no, "start")
            end = _kasteren_time(fields[1], zone, path, line_no, "end")
            if end < start:
                raise EventError(f"{_name(path)}: the {what} ends ({fields[1]}) before it "
                                 f"starts ({fields[0]}); fix or drop the line",
                                 field="end", line=line_no)
            ident = fields[2]
            if len(fields) == 4 and not re.fullmatch(r"-?\d+(\.\d+)?", fields[3]):
                raise EventError(f"{_name(path)}: the value column must be a number (always 1 "
                                 f"in the published data), got {fields[3]!r}",
                                 field="val", line=line_no)
            rows.append((line_no, start, end, ident))
    return ids, rows


def _kasteren_time(text, zone, path, line_no, which):
    m = _K_DATE.match(text)
    month = _MONTHS.get(m.group(2).lower()) if m else None
    if not m or month is None:
        raise EventError(f"{_name(path)}: bad {which} time {text!r}; expected a date such as "
                         "'25-Feb-2008 09:33:41' (day-Mon-year hours:minutes:seconds)",
                         field=which, line=line_no)
    day, _, year, hh, mm, ss = m.groups()
    try:
        return dt.datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=zone)
    except ValueError as err:
        raise EventError(f"{_name(path)}: bad {which} time {text!r}: {err}",
                         field=which, line=line_no) from None


def _lookup(ids, ident, what, path, line_no):
    if not ids:
        return ident
    try:
        return ids[ident]
    except KeyError:
        raise EventError(f"{_name(path)}: {what} id {ident!r} is not in the file's header; "
                         f"known ids: {', '.join(sorted(ids, key=_natural))}",
                         field="id", line=line_no) from None


# ---------------------------------------------------------------------------------------------
# CASAS: `date time sensor [sensor] value [label]`, whitespace-separated, one event a line.

_ON = {"ON", "OPEN", "PRESENT", "TRUE", "START"}
_OFF = {"OFF", "CLOSE", "CLOSED", "ABSENT", "FALSE", "STOP"}
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_BEGIN_END = re.compile(r'^(.*?)\s*=?\s*"?(begin|end)"?$', re.IGNORECASE)


def read_casas(path, *, tz: str | dt.tzinfo = CASAS_TZ) -> SensorLog:
    """Reads a CASAS event file: ``2010-11-04 00:03:50.209589 M003 ON Sleep begin``.

    Binary values (ON/OFF, OPEN/CLOSE, PRESENT/ABSENT) become sensor intervals; numeric readings
    (temperature, light level, battery) are skipped. Labels are ``Activity begin`` / ``Activity
    end`` (also ``Activity="begin"``), or a bare activity name on every event of the activity.
    An interval or activity still open at the end of the file ends at the file's last time.
    """
    zone = _zone(tz)
    open_since: dict[str, dt.datetime] = {}
    intervals: list[SensorInterval] = []
    open_acts: dict[str, dt.datetime] = {}
    activities: list[ActivityInterval] = []
    run: list = []  # [label, start, end] of a run of bare labels
    sensors: dict[str, str] = {}
    last = None
    with _open(path) as fh:
        for line_no, raw in enumerate(fh, start=1):
            tokens = raw.split()
            if not tokens or tokens[0].startswith("#"):
                continue
            if len(tokens) < 4:
                raise EventError(f"{_name(path)}: expected 'date time sensor value [label]', "
                                 f"e.g. '2010-11-04 00:03:50.209589 M003 ON', got "
                                 f"{raw.strip()!r}", line=line_no)
            time = _casas_time(tokens[0], tokens[1], zone, path, line_no)
            if last is not None and time < last:
                raise EventError(f"{_name(path)}: time {tokens[0]} {tokens[1]} goes back before "
                                 f"the previous line's {last.isoformat()}; CASAS files are in "
                                 "time order: sort the file", field="time", line=line_no)
            last = time
            sensor = tokens[2]
            value_at = 3
            if not _is_value(tokens[3]) and len(tokens) > 4 and _is_value(tokens[4]):
                value_at = 4  # `date time sensor sensor-or-location value`
            value = tokens[value_at]
            if not _is_value(value):
                raise EventError(f"{_name(path)}: sensor {sensor} has value {value!r}; expected "
                                 f"one of {', '.join(sorted(_ON | _OFF))} or a number",
                                 field="value", line=line_no)
            state = value.upper()
            if state in _ON:
                sensors.setdefault(sensor, sensor)
                open_since.setdefault(sensor, time)  # a repeated ON extends the same interval
            elif state in _OFF:
                sensors.setdefault(sensor, sensor)
                start = open_since.pop(sensor, None)
                if start is not None:  # an OFF with no ON before it started before the file
                    intervals.append(SensorInterval(sensor, sensor, start, time))
            label = " ".join(tokens[value_at + 1:])
            if not label:
                if run:
                    activities.append(ActivityInterval(*run))
                    run = []
                continue
            m = _BEGIN_END.match(label)
            if m and m.group(1):
                name, edge = m.group(1).strip().strip('"'), m.group(2).lower()
                if edge == "begin":
                    open_acts.setdefault(name, time)
                elif name in open_acts:
                    activities.append(ActivityInterval(name, open_acts.pop(name), time))
            elif run and run[0] == label:
                run[2] = time
            else:
                if run:
                    activities.append(ActivityInterval(*run))
                run = [label, time, time]
    if run:
        activities.append(ActivityInterval(*run))
    if last is not None:
        intervals += [SensorInterval(s, s, t, last) for s, t in open_since.items()]
        activities += [ActivityInterval(a, t, last) for a, t in open_acts.items()]
    return SensorLog(sensors, tuple(intervals), tuple(activities))


def _is_value(token: str) -> bool:
    return token.upper() in _ON or token.upper() in _OFF or bool(_NUMBER.match(token))


def _casas_time(date, time, zone, path, line_no):
    try:
        value = dt.datetime.fromisoformat(f"{date} {time}")
    except ValueError:
        raise EventError(f"{_name(path)}: bad date/time {date} {time!r}; expected e.g. "
                         "'2010-11-04 00:03:50.209589'", field="time", line=line_no) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value


# ---------------------------------------------------------------------------------------------
# Events, and back.

_SLUG_BAD = re.compile(r"[^A-Za-z0-9._\-~:/@]+")


def sensor_slug(sensor: str) -> str:
    """A sensor id as a device id: characters an id cannot hold become ``_``.

    >>> sensor_slug("24"), sensor_slug("M003"), sensor_slug("Hall bedroom (door)")
    ('24', 'M003', 'Hall_bedroom_door_')
    """
    slug = _SLUG_BAD.sub("_", str(sensor).strip())
    if not slug:
        raise EventError(f"sensor id {sensor!r} has no characters a device id can hold")
    return slug


def to_events(log: SensorLog, *, prefix: str = "", time: dt.datetime | None = None
              ) -> Iterator[Event]:
    """The log as events: a ``DeviceAdded`` (kind ``binary_sensor``) per sensor, at ``time`` or the
    log's first time, then ``SensorObserved(property="activated")``: ``True`` at each interval's
    start, ``False`` at its end, in time order. ``prefix`` is put before every device id (e.g.
    ``"kasteren."``) to keep two imported houses apart. Activity labels are not events.
    """
    bounds = log.bounds()
    first = time or (bounds[0] if bounds else None)
    if first is None and log.sensors:
        raise EventError("the log has sensors but no readings, so there is no time to add them "
                         "at: pass time=")
    for sensor, name in log.sensors.items():
        yield DeviceAdded(time=first, device=prefix + sensor_slug(sensor),
                          name=name.strip() or sensor, kind="binary_sensor")
    # At equal times: an interval ending, then one starting, then a zero-length one ending, so a
    # sensor's on/off sequence reads back into the same intervals.
    rows = []
    for iv in log.intervals:
        device = prefix + sensor_slug(iv.sensor)
        rows.append((iv.start, 1, device, True))
        rows.append((iv.end, 0 if iv.end > iv.start else 2, device, False))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    for when, _, device, value in rows:
        yield SensorObserved(time=when, sensor=device, property="activated", value=value)


def intervals_from_observations(rows: Iterable[tuple[str, dt.datetime, object]], *,
                                names: dict[str, str] | None = None, prefix: str = "",
                                end: dt.datetime | None = None) -> list[SensorInterval]:
    """Rebuilds sensor intervals from ``(sensor, time, value)`` rows of ``activated`` observations.

    Rows are taken in time order (stable, so equal times keep their given order); a ``True``
    opens an interval, a ``False`` closes it; a repeated value changes nothing. An interval still
    open at the end closes at ``end`` or at the last row's time. ``prefix`` is stripped from the
    sensor ids; ``names`` maps ids to names (default: the id).

    >>> t = dt.datetime(2008, 2, 25, 9, 0, tzinfo=dt.timezone.utc)
    >>> m = dt.timedelta(minutes=1)
    >>> [(iv.sensor, iv.end - iv.start) for iv in intervals_from_observations(
    ...     [("24", t, True), ("24", t + m, False), ("5", t + m, "true")])]
    [('24', datetime.timedelta(seconds=60)), ('5', datetime.timedelta(0))]
    """
    names = names or {}
    open_since: dict[str, dt.datetime] = {}
    out = []
    last = None
    for sensor, when, value in sorted(rows, key=lambda r: r[1]):
        if prefix and sensor.startswith(prefix):
            sensor = sensor[len(prefix):]
        last = when
        if _truthy(value):
            open_since.setdefault(sensor, when)
        elif sensor in open_since:
            out.append(SensorInterval(sensor, names.get(sensor, sensor),
                                      open_since.pop(sensor), when))
    close = end or last
    out += [SensorInterval(s, names.get(s, s), t, max(t, close)) for s, t in open_since.items()]
    out.sort(key=lambda iv: (iv.start, iv.end, iv.sensor))
    return out


def _truthy(value) -> bool:
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("true", "1", "on", "open"):
            return True
        if v in ("false", "0", "off", "closed", "close"):
            return False
        raise EventError(f"an 'activated' value must be a boolean, got {value!r}", field="value")
    return bool(value)


# ---------------------------------------------------------------------------------------------

def _zone(tz) -> dt.tzinfo:
    if isinstance(tz, dt.tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise EventError(f"unknown time zone {tz!r}: use an IANA name such as "
                         "'Europe/Amsterdam' or 'UTC', or a tzinfo") from None


def _open(path):
    if isinstance(path, io.IOBase) or hasattr(path, "read"):
        return _NoClose(path)
    try:
        return open(path, encoding="utf-8", errors="replace", newline="")
    except OSError as err:
        raise EventError(f"cannot read sensor log {os.fspath(path)!r}: {err.strerror}; check "
                         "the path") from err


class _NoClose:
    """A caller's open file, used in a ``with`` without closing it."""

    def __init__(self, fh):
        self.fh = fh

    def __enter__(self):
        return self.fh

    def __exit__(self, *exc):
        return False


def _name(path) -> str:
    if isinstance(path, (str, os.PathLike)):
        return os.path.basename(os.fspath(path))
    return getattr(path, "name", "<input>")


def _natural(ident: str):
    return (0, int(ident), "") if ident.isdigit() else (1, 0, ident)
