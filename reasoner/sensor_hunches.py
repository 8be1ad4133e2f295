"""Hunches on a binary-sensor log (``hearth hunches --format kasteren|casas``): what the history
taught as usual, and what in the events departs from it.

A household that has only binary sensors (doors, cupboards, the fridge, a toilet flush, motion)
still has routines. From the history file, for every sensor and every part of the day (the parts
of commonsense.ttl: early morning … night), the baseline is the rate of activations per day,
``r = (activations + 0.5) / (days + 1)``, and the durations of its activations. In the events:

* ``unusual-time``: a sensor fires in a part of the day where it rarely does. Under a Poisson
  model the chance of a day with no activation there is ``exp(-r)``: that is the score (the
  front door opening at night after 14 nights with one opening scores 0.90);
* ``open-too-long``: an activation lasts longer than the history's longest for that sensor
  (and at least ``min_minutes``): a door or the fridge left open. Its score is the share of the
  history's activations that were shorter, shrunk towards 0.5 when there are few.

One hunch per sensor, kind and part of the day (or activation); each with the time, the device,
the kind, the score, a sentence a person understands and the action to offer.

>>> import datetime as dt
>>> from kg.importers.sensorlog import SensorInterval, SensorLog
>>> tz = dt.timezone.utc
>>> def day(d, h, m=0): return dt.datetime(2008, 2, d, h, m, tzinfo=tz)
>>> door = lambda d, h: SensorInterval("5", "Front door", day(d, h), day(d, h, 1))
>>> history = SensorLog({"5": "Front door"}, tuple(door(d, 8) for d in range(1, 15)))
>>> events = SensorLog({"5": "Front door"}, (door(16, 8), door(16, 3)))
>>> [(h["kind"], h["time"][11:16]) for h in sensor_hunches(history, events)]
[('unusual-time', '03:00')]
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from kg.importers.sensorlog import SensorInterval, SensorLog
from kg.terms import format_datetime

from .signals import Knowledge

__all__ = ["SensorBaseline", "sensor_hunches"]


def _local(t: dt.datetime) -> dt.time:
    return t.timetz().replace(tzinfo=None)


@dataclass
class SensorBaseline:
    """Activations per part of the day and activation durations, per sensor, from a history."""

    knowledge: Knowledge
    days: float = 0.0
    counts: dict[tuple[str, str | None], int] = field(default_factory=Counter)
    durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def learn(cls, history: SensorLog, knowledge: Knowledge | None = None) -> "SensorBaseline":
        base = cls(knowledge or Knowledge.shipped())
        bounds = history.bounds()
        if bounds is not None:
            base.days = max((bounds[1] - bounds[0]).total_seconds() / 86400, 1.0)
        for iv in history.intervals:
            base.counts[(iv.sensor, base.part(iv.start))] += 1
            base.durations[iv.sensor].append((iv.end - iv.start).total_seconds() / 60)
        return base

    def part(self, t: dt.datetime) -> str | None:
        return self.knowledge.part_of_day(_local(t))

    def part_label(self, part: str | None) -> str:
        return self.knowledge.labels.get(part, "this time of day") if part else "this time of day"

    def rate(self, sensor: str, part: str | None) -> float:
        """Expected activations a day in that part of the day (smoothed)."""
        return (self.counts.get((sensor, part), 0) + 0.5) / (self.days + 1.0)

    def unusual_time_score(self, sensor: str, part: str | None) -> float:
        return math.exp(-self.rate(sensor, part))

    def too_long_score(self, sensor: str, minutes: float) -> float:
        seen = self.durations.get(sensor, [])
        shorter = sum(1 for d in seen if d < minutes)
        return (shorter + 0.5) / (len(seen) + 1.0)


def sensor_hunches(history: SensorLog, events: SensorLog, *, threshold: float = 0.85,
                   min_minutes: float = 30.0, knowledge: Knowledge | None = None) -> list[dict]:
    """The hunches about ``events`` given what ``history`` taught (see the module docstring),
    in time order: ``{"time", "device", "kind", "score", "explanation", "action"}``."""
    base = SensorBaseline.learn(history, knowledge)
    out: list[dict] = []
    seen: set[tuple] = set()
    for iv in events.intervals:
        name = events.sensors.get(iv.sensor, iv.name).strip() or iv.sensor
        part = base.part(iv.start)
        key = (iv.sensor, "unusual-time", iv.start.date(), part)
        score = base.unusual_time_score(iv.sensor, part)
        if score >= threshold and key not in seen:
            seen.add(key)
            n = base.counts.get((iv.sensor, part), 0)
            label = base.part_label(part)
            usual = (f"never fired in the {label} in {base.days:.0f} days" if n == 0 else
                     f"fired in the {label} {n} time{'s' if n > 1 else ''} in "
                     f"{base.days:.0f} days")
            out.append(_hunch(iv, "unusual-time", score, (
                f"the {name} {usual}; it fired at {iv.start:%H:%M}"),
                f"tell someone the {name} fired"))
        minutes = (iv.end - iv.start).total_seconds() / 60
        longest = max(base.durations.get(iv.sensor, [0.0]))
        if minutes >= min_minutes and minutes > longest:
            score = base.too_long_score(iv.sensor, minutes)
            if score >= threshold:
                out.append(_hunch(iv, "open-too-long", score, (
                    f"the {name} has been active for {minutes:.0f} min since "
                    f"{iv.start:%H:%M}; the longest before was {longest:.0f} min"),
                    f"check the {name}"))
    out.sort(key=lambda h: h["time"])
    return out


def _hunch(iv: SensorInterval, kind: str, score: float, explanation: str, action: str) -> dict:
    return {"time": format_datetime(iv.start), "device": iv.sensor, "kind": kind,
            "score": round(score, 3), "explanation": explanation[0].upper() + explanation[1:],
            "action": action}


def read_log(path: str, fmt: str) -> SensorLog:
    """A kasteren folder (or its kasterenSenseData.txt) or a CASAS file."""
    import os

    from kg.errors import HearthError
    from kg.importers.sensorlog import read_casas, read_kasteren
    if fmt == "casas":
        return read_casas(path)
    if fmt != "kasteren":
        raise HearthError(f"unknown format {fmt!r}: use kasteren or casas")
    if os.path.isdir(path):
        path = os.path.join(path, "kasterenSenseData.txt")
    if not os.path.exists(path):
        raise HearthError(f"{path} is missing: --format kasteren takes kasterenSenseData.txt or "
                          "the folder that holds it")
    return read_kasteren(path)


def main(argv: list[str] | None = None) -> int:
    """``hearth hunches --format kasteren|casas --history FILE --events FILE [--json]``."""
    import argparse
    import json
    import sys

    from kg.errors import HearthError
    p = argparse.ArgumentParser(prog="hearth hunches", description=__doc__.split("\n\n")[0])
    p.add_argument("--format", choices=["kasteren", "casas"], default="kasteren")
    p.add_argument("--history", required=True, help="the log that teaches what is usual")
    p.add_argument("--events", required=True, help="the log to have hunches about")
    p.add_argument("--split", help="YYYY-MM-DD: history is what comes before this day (in the "
                                   "history file), events what comes from it (in the events file)")
    p.add_argument("--threshold", type=float, default=0.85)
    p.add_argument("--min-minutes", type=float, default=30.0)
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = p.parse_args(argv)
    try:
        history, events = read_log(args.history, args.format), read_log(args.events, args.format)
        if args.split:
            day = dt.date.fromisoformat(args.split)
            cut = lambda log: next((iv.start for iv in log.intervals  # noqa: E731
                                    if iv.start.date() >= day), None)
            h_cut, e_cut = cut(history), cut(events)
            if h_cut is None or e_cut is None:
                raise HearthError(f"no readings from {day} on: pick a day inside the logs")
            h_cut = h_cut.replace(hour=0, minute=0, second=0, microsecond=0)
            e_cut = e_cut.replace(hour=0, minute=0, second=0, microsecond=0)
            history = SensorLog(history.sensors, tuple(
                iv for iv in history.intervals if iv.start < h_cut),
                span=(history.intervals[0].start, h_cut))
            events = SensorLog(events.sensors, tuple(
                iv for iv in events.intervals if iv.start >= e_cut))
    except (HearthError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    found = sensor_hunches(history, events, threshold=args.threshold,
                           min_minutes=args.min_minutes)
    if not args.json:
        for h in found:
            print(f"{h['time'][:16]}  {h['kind']:<14} {h['score']:.2f}  {h['explanation']} "
                  f"→ {h['action']}?")
        print(f"{len(found)} hunches")
    print(json.dumps({"hunches": found}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
