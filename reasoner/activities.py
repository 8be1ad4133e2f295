"""Activity recognition from binary-sensor logs: which activity each minute of the day belongs to.

Time is cut into 60-second slices (van Kasteren et al., UbiComp 2008). Each slice gets features
from the sensor intervals around it: the paper's *change-point* (a sensor changed state in the
slice) and *last-fired* (which sensor changed last) representations, but not its *raw* one (a
sensor active during the slice): a door left open, or a stuck sensor (house A's microwave reads
"on" for its last week), makes "active" mean nothing. Beyond the paper's features, the model sees
how long ago and how soon each sensor changes, how often it changed in windows before and after
the slice, which sensor fires next, the quiet gap the slice sits in, and the time of day.

**Commonsense.** ``ontologies/commonsense.ttl`` says which object a sensor is on (its name is a
label of an object kind: "Pans Cupboard" is cs:PansCupboard), which activities the object's
signals give away and which room it is typically in. Sensors that signal the same activity
(cs:Cooking: microwave, freezer, pans, groceries, fridge) or sit in the same room are pooled into
group features, so a model that learned "the pans cupboard means cooking" also reads the freezer.
Activities that are kinds of one broader activity (preparing breakfast and preparing dinner are
both cs:Cooking) use the same sensors; the model's probability for the broader activity is
shared out among them by their typical times of day (``hearth:typicalTime``).

**The model.** A strongly regularised logistic regression, trained with balanced class weights
(the target is the mean recall over activities, not the share of quiet minutes), labels each
slice; the window features on both sides of a slice let it see whole activities. An optional
Viterbi pass under the labelled days' transitions smooths the labels as a hybrid HMM would; it is
off by default, because it erases one-minute activities (drinks, toilet visits). Slices with no
annotated activity are the class ``"idle"``. With ``horizon_min`` set, a slice's features look at
most that far ahead, so a slice is decided for good once that much time has passed: the
``activities`` pipeline component relies on it. A fitted model is saved as one ``.npz`` file
(arrays and a JSON header, no pickled objects) and loaded back with ``ActivityRecognizer.load``.

``HMMRecognizer`` is the paper's baseline: a supervised HMM with naive-Bayes Bernoulli emissions
over change-point and last-fired features.

**In the household graph.** ``log_from_graph`` reads a household's binary observations
(``SensorObserved`` with property ``activated``) and its ``ActivityAnnotated`` events (ground
truth, e.g. from ``annotation_events``) back into a ``SensorLog``. The ``activities`` component
(see ``ActivitiesComponent``) recognises activities as observations arrive and concludes
``ActivityInferred`` (the patterns' event type) for each recognised segment, or, when a pattern
already concluded the same activity over the same time, ``ActivityCorroborated`` (the model's
agreement, with the combined confidence) instead of a second conclusion.

>>> from kg.importers.sensorlog import SensorLog
>>> slice_labels(SensorLog({}), Timeline(_T0, 3))
['idle', 'idle', 'idle']
"""

from __future__ import annotations

import bisect
import datetime as dt
import io
import json
import logging
import math
import os
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

import numpy as np
from pyoxigraph import Literal, NamedNode
from threadpoolctl import threadpool_limits

from kg import events as E
from kg.errors import EventError
from kg.events import f, register_event_type
from kg.household import Household
from kg.importers.sensorlog import (ActivityInterval, SensorLog, intervals_from_observations)
from kg.log import Appended
from kg.terms import format_datetime, to_python
from kg.vocab import HEARTH, HEARTH_NS, PROP, PROV, RDF, RDFS, XSD
from reasoner.errors import NotFittedError, ReasonerError

from .patterns import ActivityInferred
from .pipeline import register_component
from .signals import OF_KIND, SKOS_ALT, Knowledge, truthy

__all__ = [
    "IDLE", "ActivitiesComponent", "ActivityAnnotated", "ActivityCorroborated",
    "ActivityDataError", "ActivityRecognizer", "ActivitySegment", "HMMRecognizer",
    "NotFittedError", "SensorFeatures", "Timeline", "activity_kind", "annotation_events",
    "describe_corroboration", "label_iri", "log_from_graph", "merge_segments", "sensor_groups",
    "slice_labels", "slice_span", "viterbi",
]

logger = logging.getLogger("hearth.reasoner.activities")

IDLE = "idle"
SLICE_SECONDS = 60
_CAP_MIN = 48 * 60.0  # "never" / "long ago" is capped at two days
_T0 = dt.datetime(2008, 2, 25, tzinfo=dt.timezone.utc)
MODEL_FORMAT = "hearth-activity-recognizer"
MODEL_VERSION = 1


class ActivityDataError(ReasonerError, ValueError):
    """The data given to the recogniser cannot be used (no slices, no labels, a bad model
    file …)."""


# ---------------------------------------------------------------------------------------------
# Time slices

@dataclass(frozen=True)
class Timeline:
    """``n`` slices of ``step`` seconds from ``start`` (an aware datetime)."""

    start: dt.datetime
    n: int
    step: int = SLICE_SECONDS

    @classmethod
    def between(cls, start: dt.datetime, end: dt.datetime, step: int = SLICE_SECONDS
                ) -> "Timeline":
        """Slices covering ``start``–``end``, the first aligned down to a whole ``step``."""
        t0 = math.floor(start.timestamp() / step) * step
        n = max(0, math.ceil((end.timestamp() - t0) / step))
        return cls(dt.datetime.fromtimestamp(t0, start.tzinfo), n, step)

    def edges(self) -> np.ndarray:
        """Slice boundaries as POSIX seconds (``n + 1`` values)."""
        return self.start.timestamp() + self.step * np.arange(self.n + 1, dtype=float)

    def times(self) -> list[dt.datetime]:
        """Each slice's start, in the zone of ``start``."""
        tz = self.start.tzinfo
        t0 = self.start.timestamp()
        return [dt.datetime.fromtimestamp(t0 + i * self.step, tz) for i in range(self.n)]

    def hours(self) -> np.ndarray:
        """Local wall-clock hour of each slice's start (0–24, fractional)."""
        return np.array([t.hour + t.minute / 60 + t.second / 3600 for t in self.times()])


def slice_span(log: SensorLog) -> tuple[dt.datetime, dt.datetime]:
    """The period a log's slices cover: its ``span`` if set, else from the first start to the
    later of the last sensor start and the last activity end. A sensor stuck on (van Kasteren's
    house A has a microwave open for a week) does not stretch the period."""
    if log.span is not None:
        return log.span
    starts = [iv.start for iv in log.intervals] + [a.start for a in log.activities]
    if not starts:
        raise ActivityDataError("the sensor log is empty: it has no intervals or activities to "
                                "cut into time slices; pass start and end explicitly")
    ends = [iv.start for iv in log.intervals] + [a.end for a in log.activities]
    return min(starts), max(ends) + dt.timedelta(seconds=1)


def slice_labels(log: SensorLog, timeline: Timeline, *, idle: str = IDLE) -> list[str]:
    """The annotated activity of each slice: the activity covering the slice's middle (a later
    start wins, so a toilet visit inside a night's sleep is labelled as the visit); an activity
    shorter than a slice still labels the slice its own middle falls in."""
    labels = [idle] * timeline.n
    if not timeline.n:
        return labels
    t0, step = timeline.start.timestamp(), timeline.step
    for act in sorted(log.activities, key=lambda a: (a.start, a.end)):
        a, b = act.start.timestamp(), act.end.timestamp()
        first = max(0, math.ceil((a - t0) / step - 0.5))
        last = min(timeline.n - 1, math.ceil((b - t0) / step - 0.5) - 1)
        if last < first:  # shorter than a slice: the slice its middle falls in
            mid = int(((a + b) / 2 - t0) // step)
            first = last = mid
            if not 0 <= mid < timeline.n:
                continue
        labels[first:last + 1] = [act.label] * (last + 1 - first)
    return labels


# ---------------------------------------------------------------------------------------------
# Features

class SensorFeatures:
    """Per-slice features of a fixed list of sensors (those seen in training).

    ``kind="full"``: change counts in the slice, last-fired and next-fired indicators, per-sensor
    minutes (log scale) since the last and until the next change, change counts in windows of
    ``windows_min`` minutes before and after the slice, the quiet gap around the slice, and the
    local time of day; for each of ``groups`` (name → sensor ids, see ``sensor_groups``), the
    group's change counts in the slice and in the windows. ``horizon_min`` bounds how far ahead a
    slice looks (until-next-change is capped there, a later change is no "next"), so a slice's
    features are final ``horizon_min`` minutes after it ends. ``kind="hmm"``: the binary
    change-point and last-fired features of the van Kasteren baseline.
    """

    def __init__(self, sensors: Sequence[str], *, kind: str = "full",
                 windows_min: Sequence[int] = (5, 20, 60, 180),
                 groups: Mapping[str, Sequence[str]] | None = None,
                 horizon_min: float | None = None):
        if kind not in ("full", "hmm"):
            raise ValueError(f"unknown feature kind {kind!r}: use 'full' or 'hmm'")
        if horizon_min is not None and horizon_min <= 0:
            raise ValueError(f"horizon_min must be positive (minutes), got {horizon_min!r}")
        self.sensors = list(sensors)
        self.kind = kind
        self.windows_min = tuple(windows_min)
        self.groups = {str(g): list(m) for g, m in (groups or {}).items()}
        self.horizon_min = horizon_min

    def names(self) -> list[str]:
        s = self.sensors
        if self.kind == "hmm":
            return [f"change:{x}" for x in s] + [f"last:{x}" for x in s]
        out = [f"change:{x}" for x in s]
        out += [f"last:{x}" for x in s] + ["last:none"] + [f"next:{x}" for x in s] + ["next:none"]
        out += [f"since:{x}" for x in s] + [f"until:{x}" for x in s]
        out += [f"between:{x}" for x in s]
        for w in self.windows_min:
            out += [f"past{w}:{x}" for x in s] + [f"future{w}:{x}" for x in s]
            out += [f"past{w}:any", f"future{w}:any", f"around{w}:any"]
        out += ["since:any", "until:any", "gap", "gap_pos", "hour", "hour_sin", "hour_cos"]
        for g in self.groups:
            out.append(f"change:@{g}")
            for w in self.windows_min:
                out += [f"past{w}:@{g}", f"future{w}:@{g}"]
        return out

    def transform(self, log: SensorLog, timeline: Timeline) -> np.ndarray:
        """The feature matrix (one row a slice, columns as ``names()``). Sensor intervals before
        and after the timeline count too: a slice sees the sensors around it."""
        edges = timeline.edges()
        a, b = edges[:-1], edges[1:]
        n, k = timeline.n, len(self.sensors)
        index = {s: i for i, s in enumerate(self.sensors)}
        starts = [[] for _ in range(k)]
        ends = [[] for _ in range(k)]
        for iv in log.intervals:
            i = index.get(iv.sensor)
            if i is not None:
                starts[i].append(iv.start.timestamp())
                ends[i].append(iv.end.timestamp())
        # An interval cut at the end of a log's span did not really end there.
        cut = log.span[1].timestamp() if log.span is not None else math.inf
        changes = [np.sort(np.array(s + [t for t in e if t != cut], dtype=float))
                   for s, e in zip(starts, ends)]
        # every change of every sensor, in time order, for last-fired / next-fired
        all_t = np.concatenate(changes + [np.zeros(0)])
        all_s = np.concatenate([np.full(len(c), i) for i, c in enumerate(changes)]
                               + [np.zeros(0, dtype=int)]).astype(int)
        order = np.argsort(all_t, kind="stable")
        all_t, all_s = all_t[order], all_s[order]

        change = np.zeros((n, k))
        for i, c in enumerate(changes):
            change[:, i] = np.searchsorted(c, b, "left") - np.searchsorted(c, a, "left")
        j_last = np.searchsorted(all_t, b, "left") - 1  # last change before the slice ends
        last = np.zeros((n, k + 1))
        last[np.arange(n), np.where(j_last >= 0, all_s[np.maximum(j_last, 0)], k)] = 1
        if self.kind == "hmm":
            return np.hstack([(change > 0).astype(float), last[:, :k]])

        far = _CAP_MIN * 60
        ahead = math.inf if self.horizon_min is None else 60.0 * self.horizon_min
        seen_ahead = min(far, ahead)  # "until" when nothing changes within sight
        j_next = np.searchsorted(all_t, b, "left")  # first change after the slice
        who = np.full(n, k)
        if len(all_t):
            jn = np.minimum(j_next, len(all_t) - 1)
            has_next = (j_next < len(all_t)) & (all_t[jn] < b + ahead)
            who = np.where(has_next, all_s[jn], k)
        nxt = np.zeros((n, k + 1))
        nxt[np.arange(n), who] = 1

        def minutes(x):
            return np.log1p(np.clip(x / 60.0, 0, _CAP_MIN))

        since = np.full((n, k), far)
        until = np.full((n, k), seen_ahead)
        windows = []
        for i, c in enumerate(changes):
            if len(c):
                j = np.searchsorted(c, b, "left")
                since[:, i] = np.where(j > 0, b - c[np.maximum(j - 1, 0)], far)
                j = np.searchsorted(c, a, "left")
                until[:, i] = np.minimum(np.where(j < len(c), c[np.minimum(j, len(c) - 1)] - a,
                                                  far), seen_ahead)
        for w in self.windows_min:
            past = np.zeros((n, k))
            future = np.zeros((n, k))
            span = min(60.0 * w, ahead)
            for i, c in enumerate(changes):
                past[:, i] = np.searchsorted(c, b, "left") - np.searchsorted(c, b - 60 * w, "left")
                future[:, i] = (np.searchsorted(c, a + span, "left")
                                - np.searchsorted(c, a, "left"))
            p_any, f_any = past.sum(axis=1), future.sum(axis=1)
            windows += [np.log1p(past), np.log1p(future), np.log1p(np.column_stack(
                [p_any, f_any, np.minimum(p_any, f_any)]))]
        since_any = np.where(j_last >= 0, b - all_t[np.maximum(j_last, 0)], far)
        j = np.searchsorted(all_t, a, "left")
        until_any = np.minimum(np.where(j < len(all_t), all_t[np.minimum(j, len(all_t) - 1)] - a,
                                        far), seen_ahead)
        gap = since_any + until_any
        hours = timeline.hours()
        angle = 2 * np.pi * hours / 24
        tail = np.column_stack([minutes(since_any), minutes(until_any), minutes(gap),
                                since_any / np.maximum(gap, 1.0), hours, np.sin(angle),
                                np.cos(angle)])
        grouped = []
        for members in self.groups.values():
            c = np.sort(np.concatenate([changes[index[s]] for s in members if s in index]
                                       + [np.zeros(0)]))
            grouped.append(np.searchsorted(c, b, "left") - np.searchsorted(c, a, "left"))
            for w in self.windows_min:
                span = min(60.0 * w, ahead)
                grouped.append(np.searchsorted(c, b, "left") - np.searchsorted(c, b - 60 * w,
                                                                               "left"))
                grouped.append(np.searchsorted(c, a + span, "left")
                               - np.searchsorted(c, a, "left"))
        group_cols = np.log1p(np.column_stack(grouped)) if grouped else np.zeros((n, 0))
        return np.hstack([np.log1p(change), last, nxt, minutes(since), minutes(until),
                          minutes(np.maximum(since, until)), *windows, tail, group_cols])

    def config(self) -> dict:
        """What rebuilds these features (saved with a model)."""
        return {"sensors": self.sensors, "kind": self.kind, "windows_min": list(self.windows_min),
                "groups": self.groups, "horizon_min": self.horizon_min}


# ---------------------------------------------------------------------------------------------
# Commonsense: activity kinds for labels, sensor groups, typical times

def _knowledge(knowledge: Knowledge | None) -> Knowledge:
    return knowledge if knowledge is not None else Knowledge.shipped()


def _activity_kinds(k: Knowledge) -> dict[str, str]:
    """Lower-cased label or alternative label → ActivityKind IRI."""
    out: dict[str, str] = {}
    kind_class = HEARTH_NS + "ActivityKind"
    for iri in k.labels:
        if kind_class in k.values(iri, RDF.type.value):
            for name in [k.labels[iri], *k.values(iri, SKOS_ALT)]:
                out.setdefault(str(name).strip().lower(), iri)
    return out


def activity_kind(label: str, *, knowledge: Knowledge | None = None) -> str | None:
    """The commonsense ActivityKind a label names (its ``rdfs:label`` or a ``skos:altLabel``,
    in any case), or ``None``; an ActivityKind IRI names itself.

    >>> activity_kind("leave house").rsplit("#", 1)[-1], activity_kind("brush teeth")
    ('LeavingHome', None)
    """
    k = _knowledge(knowledge)
    kinds = _activity_kinds(k)
    if label in kinds.values():
        return label
    return kinds.get(str(label).strip().lower())


def sensor_groups(sensors: Mapping[str, str], *, knowledge: Knowledge | None = None
                  ) -> dict[str, list[str]]:
    """Sensors (id → name) that commonsense ties together: ``act:<Kind>`` holds the sensors on
    objects whose signals give the activity kind away, ``area:<Kind>`` those whose object is
    typically in that kind of room. A sensor's object is the object kind one of whose labels is
    a word sequence of its name. Groups with the same members are kept once (the first name).

    >>> sensor_groups({"1": "Pans Cupboard", "2": "Freezer", "3": "Hall-Toilet door"})
    {'act:Cooking': ['1', '2'], 'act:UsingTheToilet': ['3']}
    """
    k = _knowledge(knowledge)
    by_object: dict[str, set[str]] = {}
    for sig in k.signals.values():
        if sig.object_kind:
            by_object.setdefault(sig.object_kind, set()).add(sig.iri)
    activities = sorted(set(_activity_kinds(k).values()))
    signalled = {a: set(k.values(a, HEARTH_NS + "signalledBy")) for a in activities}
    groups: dict[str, set[str]] = {}
    for sid, name in sensors.items():
        text = f" {str(name).strip().lower()} "
        objects = {o for o, (_, names) in k.object_kinds.items()
                   if any(f" {n} " in text for n in names)}
        signals = set().union(*(by_object.get(o, set()) for o in objects))
        for a in activities:
            if signals & signalled[a]:
                groups.setdefault("act:" + a.rsplit("#", 1)[-1], set()).add(sid)
        for o in objects:
            for area in k.values(o, HEARTH_NS + "typicalArea"):
                groups.setdefault("area:" + str(area).rsplit("#", 1)[-1], set()).add(sid)
    out: dict[str, list[str]] = {}
    seen: set[tuple[str, ...]] = set()
    for name in sorted(groups):
        members = tuple(sorted(groups[name]))
        if members not in seen:
            seen.add(members)
            out[name] = list(members)
    return out


def _typical_hours(kind: str, k: Knowledge) -> list[tuple[float, float]]:
    out = []
    for part in k.values(kind, HEARTH_NS + "typicalTime"):
        span = k.times_of_day.get(part)
        if span is not None:
            s, e = span
            out.append((s.hour + s.minute / 60, e.hour + e.minute / 60))
    return out


def _siblings(classes: Sequence[str], kinds: Mapping[str, str | None], k: Knowledge
              ) -> list[dict]:
    """Groups of classes whose activity kinds share a broader kind, with each member's typical
    hours (start, end) from commonsense; members without typical times are left out."""
    by_broader: dict[str, list[str]] = {}
    for c in classes:
        kind = kinds.get(c)
        if kind:
            for b in k.values(kind, HEARTH_NS + "broader"):
                by_broader.setdefault(str(b), []).append(c)
    out = []
    for broader, members in sorted(by_broader.items()):
        hours = {c: _typical_hours(kinds[c], k) for c in members}
        members = [c for c in members if hours[c]]
        if len(members) > 1:
            out.append({"broader": broader, "classes": members,
                        "hours": [hours[c] for c in members]})
    return out


def _time_fit(hours: np.ndarray, spans: Sequence[Sequence[float]], *, ramp: float = 1.5,
              floor: float = 0.05) -> np.ndarray:
    """How well each clock time (hours, 0–24) fits some of the spans: 1 inside, falling off
    as a Gaussian of the distance (``ramp`` hours) outside, never below ``floor``."""
    best = np.zeros_like(hours, dtype=float)
    for start, end in spans:
        length = (end - start) % 24 or 24.0
        x = (hours - start) % 24
        dist = np.where(x < length, 0.0, np.minimum(x - length, 24 - x))
        best = np.maximum(best, np.exp(-(dist / ramp) ** 2))
    return floor + (1 - floor) * best


# ---------------------------------------------------------------------------------------------
# Decoding

def viterbi(log_emit: np.ndarray, log_trans: np.ndarray, log_init: np.ndarray) -> np.ndarray:
    """The most likely state sequence given per-slice log scores (n × K), log transition
    probabilities (K × K, from → to) and log initial probabilities (K)."""
    n, k = log_emit.shape
    if n == 0:
        return np.zeros(0, dtype=int)
    back = np.zeros((n, k), dtype=np.int32)
    score = log_init + log_emit[0]
    for t in range(1, n):
        cand = score[:, None] + log_trans
        back[t] = np.argmax(cand, axis=0)
        score = cand[back[t], np.arange(k)] + log_emit[t]
    path = np.zeros(n, dtype=int)
    path[-1] = int(np.argmax(score))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _transitions(sequences: Iterable[np.ndarray], k: int, pseudo: float = 1.0):
    trans = np.full((k, k), pseudo)
    init = np.full(k, pseudo)
    for seq in sequences:
        if len(seq):
            init[seq[0]] += 1
            np.add.at(trans, (seq[:-1], seq[1:]), 1)
    return (np.log(trans / trans.sum(axis=1, keepdims=True)), np.log(init / init.sum()))


# ---------------------------------------------------------------------------------------------
# Segments

@dataclass(frozen=True)
class ActivitySegment:
    """A recognised activity: consecutive slices with one label, and the model's mean
    probability for that label over them."""

    label: str
    start: dt.datetime
    end: dt.datetime
    confidence: float


def merge_segments(times: Sequence[dt.datetime], labels: Sequence[str],
                   confidences: Sequence[float] | None = None, *, step: int = SLICE_SECONDS,
                   include_idle: bool = False, idle: str = IDLE) -> list[ActivitySegment]:
    """Merges per-slice labels into segments (label, start, end, confidence).

    >>> t = [_T0 + dt.timedelta(minutes=i) for i in range(4)]
    >>> [(s.label, s.start.minute, s.end.minute) for s in
    ...  merge_segments(t, ["idle", "use toilet", "use toilet", "idle"])]
    [('use toilet', 1, 3)]
    """
    out = []
    conf = list(confidences) if confidences is not None else [1.0] * len(labels)
    i = 0
    while i < len(labels):
        j = i
        while j + 1 < len(labels) and labels[j + 1] == labels[i]:
            j += 1
        if include_idle or labels[i] != idle:
            out.append(ActivitySegment(labels[i], times[i],
                                       times[j] + dt.timedelta(seconds=step),
                                       float(np.mean(conf[i:j + 1]))))
        i = j + 1
    return out


# ---------------------------------------------------------------------------------------------
# Recognisers

def _as_logs(log_or_days) -> list[SensorLog]:
    if isinstance(log_or_days, SensorLog):
        return [log_or_days]
    logs = list(log_or_days)
    if not logs or not all(isinstance(x, SensorLog) for x in logs):
        raise ActivityDataError("fit() takes a SensorLog or a list of SensorLogs (e.g. one a "
                                "day, from reasoner.eval_activities.split_by_day)")
    return logs


class _Recognizer:
    """Shared plumbing: slicing, labels, prediction, segments."""

    feature_kind = "full"

    def __init__(self, *, slice_seconds: int = SLICE_SECONDS, idle: str = IDLE):
        self.slice_seconds = slice_seconds
        self.idle = idle
        self.classes_: list[str] | None = None
        self.sensors_: list[str] | None = None

    def _timeline(self, log, start=None, end=None) -> Timeline:
        if start is None or end is None:
            s, e = slice_span(log)
            start, end = start or s, end or e
        return Timeline.between(start, end, self.slice_seconds)

    def _features(self, sensors: list[str], logs: list[SensorLog]) -> SensorFeatures:
        return SensorFeatures(sensors, kind=self.feature_kind)

    def _training_data(self, logs):
        sensors = sorted({s for log in logs for s in log.sensors}
                         | {iv.sensor for log in logs for iv in log.intervals})
        self.sensors_ = sensors
        self.features_ = self._features(sensors, logs)
        xs, ys = [], []
        for log in logs:
            tl = self._timeline(log)
            xs.append(self.features_.transform(log, tl))
            ys.append(slice_labels(log, tl, idle=self.idle))
        labels = sorted({y for seq in ys for y in seq} | {self.idle})
        if len(labels) < 2:
            raise ActivityDataError("the training logs have no annotated activities: the "
                                    "recogniser learns from labelled days (kasterenActData.txt)")
        self.classes_ = labels
        code = {c: i for i, c in enumerate(labels)}
        ys = [np.array([code[y] for y in seq], dtype=int) for seq in ys]
        return xs, ys

    def _check_fitted(self):
        if self.classes_ is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit(log) with "
                                 "labelled days first")

    def predict(self, log: SensorLog, start: dt.datetime | None = None,
                end: dt.datetime | None = None) -> list[tuple[dt.datetime, str]]:
        """The activity of each slice from ``start`` to ``end`` (default: the whole log)."""
        tl, path, _ = self._decode(log, start, end)
        return list(zip(tl.times(), [self.classes_[i] for i in path]))

    def segments(self, log: SensorLog, start: dt.datetime | None = None,
                 end: dt.datetime | None = None, *, include_idle: bool = False
                 ) -> list[ActivitySegment]:
        """The recognised activities as intervals with a confidence (mean slice probability)."""
        tl, path, proba = self._decode(log, start, end)
        conf = proba[np.arange(len(path)), path] if len(path) else []
        return merge_segments(tl.times(), [self.classes_[i] for i in path], conf,
                              step=tl.step, include_idle=include_idle, idle=self.idle)

    def _decode(self, log, start, end):
        raise NotImplementedError


class ActivityRecognizer(_Recognizer):
    """A discriminative slice classifier over rich sensor features, optionally HMM-smoothed.

    The classifier is a multinomial logistic regression on standardised features, strongly
    regularised (``C``) and trained with balanced class weights on at most ``max_per_class``
    slices of each class (a night's sleep is hundreds of near-identical slices; a drink is one),
    so that every activity counts alike, as class accuracy does. ``commonsense`` adds the
    sensor-group features of ``sensor_groups``; ``typical_times`` shares the probability of
    activities with a common broader kind (breakfast, dinner) out by their typical times of day.
    ``horizon_min`` bounds how far ahead a slice's features look (``None``: up to two days); the
    ``activities`` component waits that long before concluding. ``C``, the commonsense options
    and the 12-hour horizon were chosen by leave-one-day-out on the first 10 of van Kasteren's
    house A's 15 days (pooled class accuracy 90.1 → 91.1; a 3-hour horizon costs 1.5 points of
    class and 5 of time-slice accuracy there: the absences need to see the door open again).
    With ``smoothing=True`` the per-slice probabilities are decoded by Viterbi under the
    transition matrix of the labelled days, ``emission_weight`` scaling the classifier against
    the transitions; on house A this raises time-slice accuracy a little and costs the
    one-minute activities (drinks, toilet visits) much more, so it is off by default.

    ``kinds_`` maps each class to its commonsense ActivityKind IRI (``None`` for ``"idle"`` and
    labels commonsense does not know). ``save(path)`` and ``load(path)`` keep a fitted model in
    one ``.npz`` file.
    """

    def __init__(self, *, C: float = 1e-3, max_per_class: int | None = 500,
                 class_weight: str | None = "balanced", smoothing: bool = False,
                 emission_weight: float = 1.0, random_state: int = 0, commonsense: bool = True,
                 typical_times: bool = True, horizon_min: float | None = 720, **kw):
        super().__init__(**kw)
        self.C = C
        self.max_per_class = max_per_class
        self.class_weight = class_weight
        self.smoothing = smoothing
        self.emission_weight = emission_weight
        self.random_state = random_state
        self.commonsense = commonsense
        self.typical_times = typical_times
        self.horizon_min = horizon_min

    def _params(self) -> dict:
        return {"C": self.C, "max_per_class": self.max_per_class,
                "class_weight": self.class_weight, "smoothing": self.smoothing,
                "emission_weight": self.emission_weight, "random_state": self.random_state,
                "commonsense": self.commonsense, "typical_times": self.typical_times,
                "horizon_min": self.horizon_min, "slice_seconds": self.slice_seconds,
                "idle": self.idle}

    def _features(self, sensors, logs):
        groups = None
        if self.commonsense:
            names = {}
            for lg in logs:
                names.update(lg.sensors)
            groups = sensor_groups({s: names.get(s, s) for s in sensors})
        return SensorFeatures(sensors, groups=groups, horizon_min=self.horizon_min)

    def fit(self, log_or_days: SensorLog | Iterable[SensorLog]) -> "ActivityRecognizer":
        """Learns from a labelled log, or a list of labelled logs (one a day, say)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler
        logs = _as_logs(log_or_days)
        xs, ys = self._training_data(logs)
        x, y = _cap_per_class(np.vstack(xs), np.concatenate(ys), self.max_per_class,
                              self.random_state)
        # The matrices are small: BLAS threads only wait on each other (10x slower measured
        # on a busy 2-core machine).
        with threadpool_limits(limits=1, user_api="blas"):
            scaler = StandardScaler().fit(x)
            lr = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=5000)
            lr.fit(scaler.transform(x), y)
        self.mean_, self.scale_ = scaler.mean_, scaler.scale_
        self.coef_, self.intercept_ = lr.coef_, lr.intercept_
        self.model_classes_ = lr.classes_.astype(int)  # columns of classes_ the model has seen
        self.log_trans_, self.log_init_ = _transitions(ys, len(self.classes_))
        names: dict[str, str] = {}
        for lg in logs:
            names.update(lg.sensors)
        self.sensor_names_ = {s: names.get(s, s) for s in self.sensors_}
        k = Knowledge.shipped()
        self.kinds_ = {c: (None if c == self.idle else activity_kind(c, knowledge=k))
                       for c in self.classes_}
        self.siblings_ = _siblings(self.classes_, self.kinds_, k) if self.typical_times else []
        return self

    def _proba(self, x: np.ndarray) -> np.ndarray:
        with threadpool_limits(limits=1, user_api="blas"):  # see fit()
            z = ((x - self.mean_) / self.scale_) @ self.coef_.T + self.intercept_
        if z.shape[1] == 1:  # two classes: one logistic
            p1 = 1 / (1 + np.exp(-z[:, 0]))
            return np.column_stack([1 - p1, p1])
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict_proba(self, log: SensorLog, start=None, end=None) -> tuple[Timeline, np.ndarray]:
        """The per-slice probabilities (n × classes, columns as ``classes_``), after the
        typical-times sharing."""
        self._check_fitted()
        tl = self._timeline(log, start, end)
        x = self.features_.transform(log, tl)
        proba = np.zeros((tl.n, len(self.classes_)))
        if tl.n:
            proba[:, self.model_classes_] = self._proba(x)
            if self.siblings_:
                proba = self._share_by_time(proba, tl.hours())
        return tl, proba

    def _share_by_time(self, proba: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """Shares each sibling group's probability among its members in proportion to the
        model's probability times how well the clock time fits each member's typical times."""
        proba = proba.copy()
        for group in self.siblings_:
            cols = [self.classes_.index(c) for c in group["classes"]]
            fit = np.column_stack([_time_fit(hours, spans) for spans in group["hours"]])
            part = proba[:, cols]
            total = part.sum(axis=1, keepdims=True)
            weighted = part * fit
            norm = weighted.sum(axis=1, keepdims=True)
            proba[:, cols] = np.where(norm > 0, weighted / np.maximum(norm, 1e-300) * total,
                                      part)
        return proba

    def _decode(self, log, start, end):
        tl, proba = self.predict_proba(log, start, end)
        if not self.smoothing:
            return tl, proba.argmax(axis=1), proba
        emit = self.emission_weight * np.log(np.clip(proba, 1e-9, 1.0))
        return tl, viterbi(emit, self.log_trans_, self.log_init_), proba

    # -- files ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike | io.IOBase) -> None:
        """Writes the fitted model to one ``.npz`` file: numeric arrays and a JSON header
        (parameters, classes, sensors, features, activity kinds); nothing is pickled."""
        self._check_fitted()
        header = {
            "format": MODEL_FORMAT, "version": MODEL_VERSION, "params": self._params(),
            "classes": self.classes_, "sensor_names": self.sensor_names_,
            "features": self.features_.config(), "kinds": self.kinds_,
            "siblings": self.siblings_,
        }
        arrays = {"mean": self.mean_, "scale": self.scale_, "coef": self.coef_,
                  "intercept": self.intercept_, "model_classes": self.model_classes_,
                  "log_trans": self.log_trans_, "log_init": self.log_init_}
        if hasattr(path, "write"):
            np.savez_compressed(path, header=np.array(json.dumps(header)), **arrays)
            return
        with open(path, "wb") as fh:  # an open file: numpy would add ".npz" to a bare name
            np.savez_compressed(fh, header=np.array(json.dumps(header)), **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike | io.IOBase) -> "ActivityRecognizer":
        """A model written by ``save``.

        Raises ``ActivityDataError`` when the file is missing or is not such a model."""
        where = getattr(path, "name", "<file>") if hasattr(path, "read") else os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                arrays = {k: data[k] for k in data.files if k != "header"}
        except FileNotFoundError:
            raise ActivityDataError(f"no activity model at {where!r}: fit one and save it with "
                                    "ActivityRecognizer.save(path)") from None
        except (OSError, ValueError, KeyError) as err:
            raise ActivityDataError(f"{where!r} is not an activity model saved by "
                                    f"ActivityRecognizer.save ({err})") from None
        if header.get("format") != MODEL_FORMAT or header.get("version") != MODEL_VERSION:
            raise ActivityDataError(f"{where!r} holds {header.get('format')!r} version "
                                    f"{header.get('version')!r}; this hearth reads "
                                    f"{MODEL_FORMAT!r} version {MODEL_VERSION}: fit and save "
                                    "the model again")
        params = dict(header["params"])
        model = cls(**params)
        model.classes_ = list(header["classes"])
        feats = header["features"]
        model.sensors_ = list(feats["sensors"])
        model.features_ = SensorFeatures(feats["sensors"], kind=feats["kind"],
                                         windows_min=feats["windows_min"],
                                         groups=feats["groups"],
                                         horizon_min=feats["horizon_min"])
        model.sensor_names_ = dict(header["sensor_names"])
        model.kinds_ = dict(header["kinds"])
        model.siblings_ = [dict(g, hours=[[tuple(s) for s in spans] for spans in g["hours"]])
                           for g in header["siblings"]]
        model.mean_, model.scale_ = arrays["mean"], arrays["scale"]
        model.coef_, model.intercept_ = arrays["coef"], arrays["intercept"]
        model.model_classes_ = arrays["model_classes"].astype(int)
        model.log_trans_, model.log_init_ = arrays["log_trans"], arrays["log_init"]
        return model


def _cap_per_class(x, y, cap, seed):
    """At most ``cap`` randomly chosen rows of each class (all of a smaller class)."""
    if cap is None:
        return x, y
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        keep.append(rng.choice(rows, cap, replace=False) if len(rows) > cap else rows)
    rows = np.sort(np.concatenate(keep))
    return x[rows], y[rows]


class HMMRecognizer(_Recognizer):
    """The van Kasteren 2008 baseline: a supervised HMM whose states are the activities and
    whose emissions are independent Bernoullis over change-point and last-fired features."""

    feature_kind = "hmm"

    def __init__(self, *, pseudo: float = 1.0, **kw):
        super().__init__(**kw)
        self.pseudo = pseudo

    def fit(self, log_or_days: SensorLog | Iterable[SensorLog]) -> "HMMRecognizer":
        xs, ys = self._training_data(_as_logs(log_or_days))
        x, y = np.vstack(xs), np.concatenate(ys)
        k = len(self.classes_)
        on = np.zeros((k, x.shape[1]))
        for c in range(k):
            rows = x[y == c]
            on[c] = (rows.sum(axis=0) + self.pseudo) / (len(rows) + 2 * self.pseudo)
        self.log_on_, self.log_off_ = np.log(on), np.log(1 - on)
        self.log_trans_, self.log_init_ = _transitions(ys, k)
        return self

    def _decode(self, log, start, end):
        self._check_fitted()
        tl = self._timeline(log, start, end)
        x = self.features_.transform(log, tl)
        emit = x @ self.log_on_.T + (1 - x) @ self.log_off_.T
        path = viterbi(emit, self.log_trans_, self.log_init_)
        post = np.exp(emit - emit.max(axis=1, keepdims=True))
        return tl, path, post / post.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# The household graph: ground truth in, observations and annotations out

ACTIVITY_ANNOTATED = NamedNode(HEARTH_NS + "ActivityAnnotated")
ACTIVITY_CORROBORATED = NamedNode(HEARTH_NS + "ActivityCorroborated")
P_ACTIVITY = NamedNode(HEARTH_NS + "activity")
P_CONFIDENCE = NamedNode(HEARTH_NS + "confidence")
P_CORROBORATES = NamedNode(HEARTH_NS + "corroborates")
P_MODEL_CONFIDENCE = NamedNode(HEARTH_NS + "modelConfidence")
# An activity label commonsense does not know gets an IRI of its own here.
ACTIVITY_LABEL_NS = "https://w3id.org/hearth/activity/"
AGENT = "component:activities"


def label_iri(label: str) -> str:
    """The activity IRI for a label: its commonsense ActivityKind, else one minted from the label.

    >>> label_iri("take shower").rsplit("#", 1)[-1], label_iri("brush teeth")
    ('Showering', 'https://w3id.org/hearth/activity/brush%20teeth')
    """
    return activity_kind(label) or (label if label.startswith(ACTIVITY_LABEL_NS)
                                    else ACTIVITY_LABEL_NS + quote(label.strip(), safe=""))


@register_event_type
@dataclass(frozen=True, kw_only=True)
class ActivityAnnotated(E.Event):
    """Ground truth: someone recorded that an activity went on from ``start`` to ``end`` (a
    diary, an annotation tool, van Kasteren's ``kasterenActData.txt``). ``activity`` is an
    ActivityKind IRI (cs:LeavingHome …, see ``label_iri``), ``label`` the annotator's own word
    for it ("leave house"). An input event, not a conclusion; the ``activities`` component
    learns from these.

    In RDF it has the shape of ``ActivityInferred``: ``event hearth:activity <…:activity:N>``,
    which is ``a hearth:Activity ; hearth:ofKind … ; hearth:start … ; hearth:end …`` and, when
    a label is given, ``rdfs:label``.
    """

    activity: str = f("iri")
    start: dt.datetime = f("time")
    end: dt.datetime = f("time")
    label: str | None = f("text", required=False)
    rdf_type: ClassVar = ACTIVITY_ANNOTATED

    def check(self) -> None:
        if self.end < self.start:
            raise EventError("ActivityAnnotated.end is before its start", field="end")

    def payload(self, ev, seq, ids):
        node = ids.node("activity", str(seq))
        out = super().payload(ev, seq, ids)
        out += [(ev, P_ACTIVITY, node), (node, RDF.type, HEARTH.Activity),
                (node, OF_KIND, NamedNode(self.activity)),
                (node, HEARTH.start, Literal(format_datetime(self.start), datatype=XSD.dateTime)),
                (node, HEARTH.end, Literal(format_datetime(self.end), datatype=XSD.dateTime))]
        if self.label:
            out.append((node, RDFS.label, Literal(self.label)))
        return out

    @classmethod
    def _from_rdf(cls, ev, props, quads, ids):
        node = props[P_ACTIVITY][0]
        about = {q.predicate: q.object for q in quads if q.subject == node}
        return cls(time=to_python(props[PROV.generatedAtTime][0]),
                   by=E.agent_ref(props[PROV.wasAttributedTo][0], ids),
                   activity=about[OF_KIND].value, start=to_python(about[HEARTH.start]),
                   end=to_python(about[HEARTH.end]),
                   label=about[RDFS.label].value if RDFS.label in about else None)


def annotation_events(log: SensorLog, *, by: str = "component:sensorlog"
                      ) -> list[ActivityAnnotated]:
    """The log's annotated activities as ``ActivityAnnotated`` events (each at its end), the
    labels mapped to commonsense activity kinds by their alternative labels ("leave house" is
    cs:LeavingHome); append them after ``kg.importers.sensorlog.to_events(log)``."""
    k = Knowledge.shipped()
    kinds = _activity_kinds(k)
    out = []
    for a in log.activities:
        kind = kinds.get(a.label.strip().lower()) or label_iri(a.label)
        out.append(ActivityAnnotated(time=a.end, by=by, activity=kind, start=a.start, end=a.end,
                                     label=a.label))
    return out


_ROWS = """
SELECT ?seq ?sensor ?time ?value WHERE {
  GRAPH ?e { ?e hearth:seq ?seq .
             ?o sosa:madeBySensor ?sensor ; sosa:observedProperty ?p ;
                sosa:hasSimpleResult ?value ; sosa:resultTime ?time . }
  %s
}"""

_ROWS_BEFORE = """
SELECT ?seq ?sensor ?time ?value WHERE {
  { SELECT ?sensor (MAX(?t) AS ?time) WHERE {
      GRAPH ?g { ?x sosa:madeBySensor ?sensor ; sosa:observedProperty ?p ; sosa:resultTime ?t }
      FILTER(?t < ?lo) } GROUP BY ?sensor }
  GRAPH ?e { ?e hearth:seq ?seq .
             ?o sosa:madeBySensor ?sensor ; sosa:observedProperty ?p ;
                sosa:hasSimpleResult ?value ; sosa:resultTime ?time . }
}"""

_ANNOTATIONS = """
SELECT ?seq ?kind ?label ?start ?end WHERE {
  GRAPH ?e { ?e a hearth:ActivityAnnotated ; hearth:seq ?seq ; hearth:activity ?a .
             ?a hearth:ofKind ?kind ; hearth:start ?start ; hearth:end ?end .
             OPTIONAL { ?a rdfs:label ?label } }
}"""


@dataclass(frozen=True, order=True)
class _Row:
    """One binary observation: ``value`` at ``time`` (the event ``seq``, IRI ``iri``)."""

    time: dt.datetime
    seq: int
    sensor: str = field(compare=False)
    value: bool = field(compare=False)
    iri: NamedNode = field(compare=False)


def _graph_rows(home: Household, *, lo: dt.datetime | None = None,
                hi: dt.datetime | None = None, prefix: str = "") -> list[_Row]:
    """The household's ``activated`` observations from ``lo`` to ``hi``, plus, per sensor, the
    last one before ``lo`` (a sensor on since before ``lo`` is on at ``lo``); retracted
    observations are left out. Sorted by time, then log order."""
    filters, bindings = [], {"p": PROP["activated"]}
    if lo is not None:
        filters.append("?time >= ?lo")
        bindings["lo"] = lo
    if hi is not None:
        filters.append("?time < ?hi")
        bindings["hi"] = hi
    text = _ROWS % (f"FILTER({' && '.join(filters)})" if filters else "")
    results = list(home.query(text, bindings))
    if lo is not None:
        results += list(home.query(_ROWS_BEFORE, {"p": PROP["activated"], "lo": lo}))
    head = home.ids.base + "device:"
    retracted = home.state.retracted
    rows = {}
    for r in results:
        seq = int(r["seq"].value)
        iri = home.ids.event(seq)
        sensor = unquote(r["sensor"].value[len(head):]) if r["sensor"].value.startswith(head) \
            else r["sensor"].value
        if iri in retracted or not sensor.startswith(prefix):
            continue
        value = _binary(to_python(r["value"]))
        if value is None:
            continue
        rows[seq] = _Row(to_python(r["time"]), seq, sensor[len(prefix):], value, iri)
    return sorted(rows.values())


def _binary(value) -> bool | None:
    return truthy(value)


def _sensor_names(home: Household, prefix: str, seen: Iterable[str]) -> dict[str, str]:
    """Binary sensors (local id without ``prefix`` → name): the household's ``binary_sensor``
    devices and any other device seen in the rows."""
    names = {}
    for ident, d in home.state.devices.items():
        if ident.startswith(prefix) and d.kind == "binary_sensor":
            names[ident[len(prefix):]] = d.name
    for s in seen:
        if s not in names:
            d = home.state.devices.get(prefix + s)
            names[s] = d.name if d is not None else s
    return names


def log_from_graph(home: Household, *, start: dt.datetime | None = None,
                   end: dt.datetime | None = None, history: dt.timedelta = dt.timedelta(0),
                   prefix: str = "", tz: dt.tzinfo | None = None) -> SensorLog:
    """A household's binary sensors, their intervals (from ``SensorObserved`` events with
    property ``activated``, through ``intervals_from_observations``) and the annotated
    activities (``ActivityAnnotated``; each labelled with its ``rdfs:label``, else its kind's
    IRI), as a ``SensorLog``. With ``start`` and ``end`` it is ``SensorLog.between(start, end,
    history=history)`` of the whole log, read without reading all of it. ``prefix`` is stripped
    from device ids (``to_events(log, prefix=…)``); times are given in ``tz`` (default: as
    recorded). Retracted events are left out."""
    lo = None if start is None else start - history
    rows = _graph_rows(home, lo=lo, hi=end, prefix=prefix)
    if tz is not None:
        rows = [_Row(r.time.astimezone(tz), r.seq, r.sensor, r.value, r.iri) for r in rows]
    names = _sensor_names(home, prefix, {r.sensor for r in rows})
    intervals = intervals_from_observations([(r.sensor, r.time, r.value) for r in rows],
                                            names=names, end=end)
    retracted = home.state.retracted
    activities = []
    for r in home.query(_ANNOTATIONS):
        if home.ids.event(int(r["seq"].value)) in retracted:
            continue
        label = r["label"].value if r.get("label") is not None else r["kind"].value
        a, b = to_python(r["start"]), to_python(r["end"])
        if tz is not None:
            a, b = a.astimezone(tz), b.astimezone(tz)
        activities.append(ActivityInterval(label, a, b))
    full = SensorLog(names, tuple(intervals), tuple(activities))
    if start is None and end is None:
        return full
    bounds = full.bounds()
    if bounds is None:
        return SensorLog(names, span=(start, end)) if start and end else full
    return full.between(start or bounds[0], end or bounds[1], history=history)


# ---------------------------------------------------------------------------------------------
# The model's agreement with another component's conclusion

@register_event_type
@dataclass(frozen=True, kw_only=True)
class ActivityCorroborated(E.Event):
    """The activity model recognised, over ``start``–``end`` and with ``model_confidence``, the
    activity another component had already concluded (``conclusion``, an ``ActivityInferred``
    of a pattern): recorded as agreement rather than as a second conclusion. ``confidence`` is
    the two combined (noisy-OR: ``1 - (1 - p_pattern)(1 - p_model)``); ``derived_from`` holds
    the conclusion and the observations the model read."""

    conclusion: NamedNode = f("event", P_CORROBORATES)
    start: dt.datetime = f("time", HEARTH.start)
    end: dt.datetime = f("time", HEARTH.end)
    model_confidence: float = f("number", P_MODEL_CONFIDENCE)
    confidence: float = f("number", P_CONFIDENCE)
    rdf_type: ClassVar = ACTIVITY_CORROBORATED
    is_conclusion: ClassVar = True

    def default_by(self) -> str:
        return AGENT

    def check(self) -> None:
        if self.end < self.start:
            raise EventError("ActivityCorroborated.end is before its start", field="end")
        for name in ("confidence", "model_confidence"):
            if not 0 <= getattr(self, name) <= 1:
                raise EventError(f"ActivityCorroborated.{name} must be between 0 and 1",
                                   field=name)


def describe_corroboration(event: ActivityCorroborated, state) -> str:
    """A sentence for the timeline."""
    return (f"The activity model agrees ({event.start:%H:%M}–{event.end:%H:%M}, model "
            f"{event.model_confidence:.2f}, together {event.confidence:.2f})")


# ---------------------------------------------------------------------------------------------
# The pipeline component

_CONCLUSIONS = """
SELECT ?e ?kind ?start ?end ?conf ?by WHERE {
  GRAPH ?e { ?e a hearth:ActivityInferred ; hearth:activity ?a ; hearth:confidence ?conf ;
                prov:wasAttributedTo ?by .
             ?a hearth:ofKind ?kind ; hearth:start ?start ; hearth:end ?end . }
  FILTER(?start <= ?hi && ?end >= ?lo)
}"""

_OURS = """
SELECT ?e WHERE { GRAPH ?e { ?e prov:wasAttributedTo ?me . } }"""

_DERIVED = """
SELECT ?e WHERE { GRAPH ?e { ?e prov:wasDerivedFrom ?t ; prov:wasAttributedTo ?me . } }"""


@dataclass(frozen=True)
class _Other:
    """An ActivityInferred in the graph."""

    iri: NamedNode
    kind: str
    start: dt.datetime
    end: dt.datetime
    confidence: float
    by: NamedNode


@dataclass
class _Home:
    """What the component keeps about one household."""

    rows: list[_Row] = field(default_factory=list)
    loaded_seq: int = 0                    # observations up to here came from the graph
    decode_from: dt.datetime | None = None  # start of the first segment not concluded yet
    next_decode: dt.datetime | None = None
    latest: dt.datetime | None = None       # time of the latest observation
    standing: list[tuple[str, dt.datetime, dt.datetime]] = field(default_factory=list)
    model: ActivityRecognizer | None = None
    stale: bool = True                      # the labelled history changed since the last fit


class ActivitiesComponent:
    """The ``activities`` pipeline component: activities recognised from binary sensors.

    It follows a household's ``SensorObserved`` events with property ``activated`` (sensors
    whose device id starts with ``prefix``). The recogniser is ``model`` (an
    ``ActivityRecognizer`` or the path of a saved one), or else one fitted on the household's own
    labelled history: its ``ActivityAnnotated`` events and the observations of the days they
    cover (refitted when annotations are added or retracted; ``options`` go to
    ``ActivityRecognizer``).

    **When it runs.** Appending an observation only records it; at most every ``every_min``
    minutes of event time it decodes the slices since the first segment it has not concluded.
    A slice's features look ``horizon_min`` ahead (the model's; 12 hours by default), so a
    segment is concluded once the slice after it is that far in the past: its label can no
    longer change, and the component's conclusions are the ones the model would draw over the
    whole log at once. It reads ``history_hours`` of observations before the slices it decodes.

    **What it concludes.** For each recognised segment other than ``"idle"``: an
    ``ActivityInferred`` (``by`` component:activities; ``activity`` the commonsense activity
    kind of the class; ``start``/``end`` the segment; ``confidence`` the model's mean
    probability; ``derived_from`` the observations in the segment, or the two around it when it
    has none). When another component (a pattern) already concluded the same kind over an
    overlapping time (``slack_min`` either side), an ``ActivityCorroborated`` of that conclusion
    instead; when a pattern concludes one after the model did, the model's conclusion is
    retracted and replaced by an ``ActivityCorroborated``. When an observation it used is
    retracted, it withdraws what it concluded from it and decodes that time again.
    """

    name = "activities"
    consumes = (E.SensorObserved, ActivityAnnotated, ActivityInferred, E.EventRetracted)
    produces = (ActivityInferred, ActivityCorroborated, E.EventRetracted)

    def __init__(self, model: "ActivityRecognizer | str | os.PathLike | None" = None, *,
                 prefix: str = "", every_min: float = 60, history_hours: float = 48,
                 slack_min: float = 5, tz: str | dt.tzinfo | None = None,
                 options: Mapping | None = None):
        if isinstance(model, (str, os.PathLike)):
            model = ActivityRecognizer.load(model)
        if model is not None:
            model._check_fitted()
        self.model = model
        self.prefix = prefix
        self.every = dt.timedelta(minutes=every_min)
        self.history = dt.timedelta(hours=history_hours)
        self.slack = dt.timedelta(minutes=slack_min)
        if isinstance(tz, str):
            tz = ZoneInfo(tz)
        self.tz = tz
        self.options = dict(options or {})
        self._homes: "weakref.WeakKeyDictionary[Household, _Home]" = \
            weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"ActivitiesComponent(model={'given' if self.model else 'learned per household'})"

    # -- following the household ------------------------------------------------------------
    def process(self, home: Household, appended: Sequence[Appended]) -> list[E.Event]:
        batch = sorted(appended, key=lambda a: a.seq)
        h = self._homes.get(home)
        if h is None:
            h = self._homes[home] = self._meet(home)
        out: list[E.Event] = []
        for a in batch:
            ev = a.event
            if isinstance(ev, E.SensorObserved):
                if ev.property != "activated" or not ev.sensor.startswith(self.prefix):
                    continue
                if h.decode_from is None:
                    self._start(home, h, ev.time)  # reads this one from the graph too
                elif a.seq > h.loaded_seq:
                    value = _binary(ev.value)
                    if value is not None:
                        self._add(h, _Row(ev.time, a.seq, ev.sensor[len(self.prefix):], value,
                                          a.iri))
            elif isinstance(ev, ActivityAnnotated):
                h.stale = True
            elif isinstance(ev, E.EventRetracted):
                out.extend(self._on_retracted(home, h, a))
            elif isinstance(ev, ActivityInferred) and ev.agent() != AGENT:
                out.extend(self._on_other(home, h, a))
        if h.latest is not None and (h.next_decode is None or h.latest >= h.next_decode):
            out.extend(self._decode(home, h))
        return out

    def _meet(self, home: Household) -> _Home:
        """A household met for the first time: carry on after what was concluded before (a
        restart), else start at the next observation."""
        h = _Home()
        me = home.ids.agent(AGENT)
        retracted = home.state.retracted
        last_end = None
        for r in home.query(_OURS, {"me": me}):
            if r["e"] in retracted:
                continue
            ev = home.event(home.ids.seq_of(r["e"]))
            if isinstance(ev, (ActivityInferred, ActivityCorroborated)):
                kind = ev.activity if isinstance(ev, ActivityInferred) else \
                    home.event(home.ids.seq_of(ev.conclusion)).activity
                h.standing.append((kind, ev.start, ev.end))
                last_end = ev.end if last_end is None else max(last_end, ev.end)
        if last_end is not None:
            self._start(home, h, last_end)
        return h

    def _start(self, home: Household, h: _Home, when: dt.datetime) -> None:
        h.decode_from = when
        self._load(home, h)

    def _load(self, home: Household, h: _Home) -> None:
        h.rows = _graph_rows(home, lo=h.decode_from - self.history, prefix=self.prefix)
        h.loaded_seq = home.head
        if h.rows:
            h.latest = max(r.time for r in h.rows)

    def _add(self, h: _Home, row: _Row) -> None:
        if h.rows and row < h.rows[-1]:
            bisect.insort(h.rows, row)
        else:
            h.rows.append(row)
        h.latest = row.time if h.latest is None else max(h.latest, row.time)

    # -- the model ----------------------------------------------------------------------------
    def _model(self, home: Household, h: _Home) -> ActivityRecognizer | None:
        if self.model is not None:
            return self.model
        if not h.stale:  # fitted (or found nothing to fit on) since the annotations last changed
            return h.model
        h.stale = False
        h.model = None
        labelled = log_from_graph(home, prefix=self.prefix, tz=self.tz)
        if not labelled.activities:
            logger.info("household %s has no ActivityAnnotated events and the activities "
                     "component was given no model: nothing to recognise with", home.id)
            return None
        tz = self.tz or labelled.activities[0].start.tzinfo
        first = min(a.start for a in labelled.activities).astimezone(tz)
        last = max(a.end for a in labelled.activities).astimezone(tz)
        lo = dt.datetime.combine(first.date(), dt.time(0), tzinfo=tz)
        last_day = (last - dt.timedelta(microseconds=1)).date()  # an end at midnight ends a day
        hi = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
        try:
            h.model = ActivityRecognizer(**self.options).fit(
                labelled.between(lo, hi, history=dt.timedelta(days=1)))
        except ActivityDataError as err:
            logger.warning("household %s: cannot learn activities from its annotations: %s",
                        home.id, err)
        return h.model

    def fit(self, home: Household) -> ActivityRecognizer | None:
        """Fits (again) the model of a household from its labelled history, now."""
        h = self._homes.get(home)
        if h is None:
            h = self._homes[home] = self._meet(home)
        h.stale = True
        return self._model(home, h)

    # -- decoding -----------------------------------------------------------------------------
    def _decode(self, home: Household, h: _Home) -> list[E.Event]:
        now = h.latest
        h.next_decode = now + self.every
        model = self._model(home, h)
        if h.decode_from is None:
            return []
        if model is None:  # nothing to recognise with yet: keep only what a later model reads
            h.decode_from = max(h.decode_from, now - dt.timedelta(minutes=_CAP_MIN))
            self._prune(h)
            return []
        ahead = model.features_.horizon_min
        delay = dt.timedelta(minutes=ahead if ahead is not None else _CAP_MIN)
        step = dt.timedelta(seconds=model.slice_seconds)
        final = now - delay
        if h.decode_from + step >= final:
            return []
        tz = self.tz or now.tzinfo
        start, end = h.decode_from.astimezone(tz), now.astimezone(tz)
        names = {r.sensor: r.sensor for r in h.rows}
        intervals = intervals_from_observations([(r.sensor, r.time, r.value) for r in h.rows],
                                                names=names, end=end)
        window = SensorLog(names, tuple(intervals)).between(start, end, history=self.history)
        segments = model.segments(window, start, end, include_idle=True)
        out: list[E.Event] = []
        new_from = segments[-1].start if segments else h.decode_from
        for i, seg in enumerate(segments):
            if i + 1 == len(segments) or seg.end + step > final:
                new_from = seg.start  # the slice after it may still change
                break
            if seg.label != model.idle:
                out.extend(self._conclude(home, h, model, seg, now))
        h.decode_from = new_from
        self._prune(h)
        return out

    def _prune(self, h: _Home) -> None:
        """Drops the observations no decode will read again (keeping each sensor's last one
        before, which says whether it was on)."""
        keep = h.decode_from - self.history
        last_before: dict[str, _Row] = {}
        for r in h.rows:
            if r.time < keep:
                last_before[r.sensor] = r
        h.rows = sorted([r for r in h.rows if r.time >= keep] + list(last_before.values()))

    def _kind(self, model: ActivityRecognizer, label: str) -> str:
        return model.kinds_.get(label) or label_iri(label)

    def _conclude(self, home: Household, h: _Home, model: ActivityRecognizer,
                  seg: ActivitySegment, now: dt.datetime) -> list[E.Event]:
        kind = self._kind(model, seg.label)
        if any(k == kind and s < seg.end and e > seg.start for k, s, e in h.standing):
            return []  # concluded before (a rewind decodes some time again)
        evidence = [r.iri for r in h.rows if seg.start <= r.time < seg.end]
        if not evidence:  # a quiet stretch: the changes that bound it
            before = [r for r in h.rows if r.time < seg.start]
            after = [r for r in h.rows if r.time >= seg.end]
            evidence = [r.iri for r in (before[-1:] + after[:1])]
        if not evidence:
            return []
        confidence = min(1.0, max(0.0, float(seg.confidence)))
        h.standing.append((kind, seg.start, seg.end))
        others = [o for o in self._conclusions(home, kind, seg.start - self.slack,
                                               seg.end + self.slack)
                  if o.by != home.ids.agent(AGENT)]
        if others:
            return [ActivityCorroborated(
                time=now, by=AGENT, conclusion=o.iri, start=seg.start, end=seg.end,
                model_confidence=confidence,
                confidence=1 - (1 - float(o.confidence)) * (1 - confidence),
                derived_from=(o.iri, *evidence)) for o in others]
        return [ActivityInferred(time=now, by=AGENT, activity=kind, start=seg.start,
                                 end=seg.end, confidence=confidence,
                                 derived_from=tuple(evidence))]

    def _conclusions(self, home: Household, kind: str, lo: dt.datetime, hi: dt.datetime
                     ) -> list[_Other]:
        """Standing ActivityInferred events of a kind overlapping ``lo``–``hi``."""
        retracted = home.state.retracted
        out = []
        for r in home.query(_CONCLUSIONS, {"kind": NamedNode(kind), "lo": lo, "hi": hi}):
            if r["e"] not in retracted:
                out.append(_Other(r["e"], kind, to_python(r["start"]), to_python(r["end"]),
                                  float(to_python(r["conf"])), r["by"]))
        return sorted(out, key=lambda o: home.ids.seq_of(o.iri))

    # -- other components' conclusions, retractions -------------------------------------------
    def _on_other(self, home: Household, h: _Home, a: Appended) -> list[E.Event]:
        """A pattern concluded an activity the model had concluded already: the model's
        conclusion gives way to its agreement with the pattern's."""
        other: ActivityInferred = a.event
        me = home.ids.agent(AGENT)
        out: list[E.Event] = []
        for mine in self._conclusions(home, other.activity, other.start - self.slack,
                                      other.end + self.slack):
            if mine.by != me:
                continue
            event = home.event(home.ids.seq_of(mine.iri))
            out.append(E.EventRetracted(
                time=other.time, by=AGENT, retracts=mine.iri,
                reason=f"event {a.seq} ({other.agent()}) concluded the same activity; the "
                       "model's agreement with it is recorded instead"))
            out.append(ActivityCorroborated(
                time=other.time, by=AGENT, conclusion=a.iri, start=mine.start, end=mine.end,
                model_confidence=mine.confidence,
                confidence=1 - (1 - other.confidence) * (1 - mine.confidence),
                derived_from=(a.iri, *event.derived_from)))
        return out

    def _on_retracted(self, home: Household, h: _Home, a: Appended) -> list[E.Event]:
        if a.event.agent() == AGENT:
            return []
        target = a.event.retracts
        retracted = home.state.retracted
        if any(r.iri == target for r in h.rows):
            h.rows = [r for r in h.rows if r.iri != target]
        seq = home.ids.seq_of(target)
        if isinstance(home.event(seq), ActivityAnnotated):
            h.stale = True
        out: list[E.Event] = []
        rewind = None
        for r in home.query(_DERIVED, {"t": target, "me": home.ids.agent(AGENT)}):
            ev = home.event(home.ids.seq_of(r["e"]))
            if not isinstance(ev, (ActivityInferred, ActivityCorroborated)):
                continue
            if r["e"] not in retracted:
                out.append(E.EventRetracted(
                    time=a.event.time, by=AGENT, retracts=r["e"],
                    reason=f"its evidence, event {seq}, was retracted"))
            kind = ev.activity if isinstance(ev, ActivityInferred) else \
                home.event(home.ids.seq_of(ev.conclusion)).activity
            h.standing = [x for x in h.standing if x != (kind, ev.start, ev.end)]
            rewind = ev.start if rewind is None else min(rewind, ev.start)
        if rewind is not None and h.decode_from is not None and rewind < h.decode_from:
            h.decode_from = rewind  # decoded again at the next decode
            self._load(home, h)
        if rewind is not None:
            h.next_decode = None
        return out


@register_component("activities")
def activities_component(*, model: str | None = None, prefix: str = "", every_min: float = 60,
                         history_hours: float = 48, slack_min: float = 5,
                         tz: str | None = None, options: Mapping | None = None
                         ) -> ActivitiesComponent:
    """The ``activities`` component: a saved model (``model``: a path written by
    ``ActivityRecognizer.save``), or one learned per household from its ``ActivityAnnotated``
    events (``options`` for ``ActivityRecognizer``); see ``ActivitiesComponent``."""
    return ActivitiesComponent(model, prefix=prefix, every_min=every_min,
                               history_hours=history_hours, slack_min=slack_min, tz=tz,
                               options=options)
