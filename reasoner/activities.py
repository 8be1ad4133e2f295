"""Activity recognition from binary-sensor logs: which activity each minute of the day belongs to.

Time is cut into 60-second slices (van Kasteren et al., UbiComp 2008). Each slice gets features
from the sensor intervals around it: the paper's *change-point* (a sensor changed state in the
slice) and *last-fired* (which sensor changed last) representations, but not its *raw* one (a
sensor active during the slice): a door left open, or a stuck sensor (house A's microwave reads
"on" for its last week), makes "active" mean nothing. Beyond the paper's features, the model sees
how long ago and how soon each sensor changes, how often it changed in windows before and after
the slice, which sensor fires next, the quiet gap the slice sits in, and the time of day.

A strongly regularised logistic regression, trained with balanced class weights (the target is
the mean recall over activities, not the share of quiet minutes), labels each slice; the window
features on both sides of a slice let it see whole activities. An optional Viterbi pass under
the labelled days' transitions smooths the labels as a hybrid HMM would; it is off by default,
because it erases one-minute activities (drinks, toilet visits). Slices with no annotated
activity are the class ``"idle"``.

``HMMRecognizer`` is the paper's baseline: a supervised HMM with naive-Bayes Bernoulli emissions
over change-point and last-fired features.

>>> from kg.importers.sensorlog import SensorLog
>>> slice_labels(SensorLog({}), Timeline(_T0, 3))
['idle', 'idle', 'idle']
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from kg.importers.sensorlog import SensorLog
from reasoner.errors import NotFittedError, ReasonerError

__all__ = [
    "IDLE", "ActivityDataError", "ActivityRecognizer", "ActivitySegment", "HMMRecognizer",
    "NotFittedError", "SensorFeatures", "Timeline", "merge_segments", "slice_labels",
    "slice_span", "viterbi",
]

IDLE = "idle"
SLICE_SECONDS = 60
_CAP_MIN = 48 * 60.0  # "never" / "long ago" is capped at two days
_T0 = dt.datetime(2008, 2, 25, tzinfo=dt.timezone.utc)


class ActivityDataError(ReasonerError, ValueError):
    """The data given to the recogniser cannot be used (no slices, no labels …)."""


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
    local time of day. ``kind="hmm"``: the binary
    change-point and last-fired features of the van Kasteren baseline.
    """

    def __init__(self, sensors: Sequence[str], *, kind: str = "full",
                 windows_min: Sequence[int] = (5, 20, 60, 180)):
        if kind not in ("full", "hmm"):
            raise ValueError(f"unknown feature kind {kind!r}: use 'full' or 'hmm'")
        self.sensors = list(sensors)
        self.kind = kind
        self.windows_min = tuple(windows_min)

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

        j_next = np.searchsorted(all_t, b, "left")  # first change after the slice
        nxt = np.zeros((n, k + 1))
        has_next = j_next < len(all_t)
        nxt[np.arange(n), np.where(has_next, all_s[np.minimum(j_next, len(all_t) - 1)], k)] = 1

        def minutes(x):
            return np.log1p(np.clip(x / 60.0, 0, _CAP_MIN))

        since = np.full((n, k), _CAP_MIN * 60)
        until = np.full((n, k), _CAP_MIN * 60)
        windows = []
        for i, c in enumerate(changes):
            if len(c):
                j = np.searchsorted(c, b, "left")
                since[:, i] = np.where(j > 0, b - c[np.maximum(j - 1, 0)], _CAP_MIN * 60)
                j = np.searchsorted(c, a, "left")
                until[:, i] = np.where(j < len(c), c[np.minimum(j, len(c) - 1)] - a,
                                       _CAP_MIN * 60)
        for w in self.windows_min:
            past = np.zeros((n, k))
            future = np.zeros((n, k))
            for i, c in enumerate(changes):
                past[:, i] = np.searchsorted(c, b, "left") - np.searchsorted(c, b - 60 * w, "left")
                future[:, i] = (np.searchsorted(c, a + 60 * w, "left")
                                - np.searchsorted(c, a, "left"))
            p_any, f_any = past.sum(axis=1), future.sum(axis=1)
            windows += [np.log1p(past), np.log1p(future), np.log1p(np.column_stack(
                [p_any, f_any, np.minimum(p_any, f_any)]))]
        since_any = np.where(j_last >= 0, b - all_t[np.maximum(j_last, 0)], _CAP_MIN * 60)
        j = np.searchsorted(all_t, a, "left")
        until_any = np.where(j < len(all_t), all_t[np.minimum(j, len(all_t) - 1)] - a,
                             _CAP_MIN * 60)
        gap = since_any + until_any
        hours = timeline.hours()
        angle = 2 * np.pi * hours / 24
        tail = np.column_stack([minutes(since_any), minutes(until_any), minutes(gap),
                                since_any / np.maximum(gap, 1.0), hours, np.sin(angle),
                                np.cos(angle)])
        return np.hstack([np.log1p(change), last, nxt, minutes(since), minutes(until),
                          minutes(np.maximum(since, until)), *windows, tail])


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

    def _training_data(self, logs):
        sensors = sorted({s for log in logs for s in log.sensors}
                         | {iv.sensor for log in logs for iv in log.intervals})
        self.sensors_ = sensors
        self.features_ = SensorFeatures(sensors, kind=self.feature_kind)
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
    so that every activity counts alike, as class accuracy does (``C`` and ``max_per_class``
    were chosen by leave-one-day-out on the first 10 of house A's 15 days). With
    ``smoothing=True`` the
    per-slice probabilities are decoded by Viterbi under the transition matrix of the labelled
    days, ``emission_weight`` scaling the classifier against the transitions; on van Kasteren's
    house A this raises time-slice accuracy a little and costs the one-minute activities
    (drinks, toilet visits) much more, so it is off by default.
    """

    def __init__(self, *, C: float = 3e-4, max_per_class: int | None = 500,
                 class_weight: str | None = "balanced", smoothing: bool = False,
                 emission_weight: float = 1.0, random_state: int = 0, **kw):
        super().__init__(**kw)
        self.C = C
        self.max_per_class = max_per_class
        self.class_weight = class_weight
        self.smoothing = smoothing
        self.emission_weight = emission_weight
        self.random_state = random_state

    def fit(self, log_or_days: SensorLog | Iterable[SensorLog]) -> "ActivityRecognizer":
        """Learns from a labelled log, or a list of labelled logs (one a day, say)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        xs, ys = self._training_data(_as_logs(log_or_days))
        x, y = _cap_per_class(np.vstack(xs), np.concatenate(ys), self.max_per_class,
                              self.random_state)
        self.model_ = make_pipeline(StandardScaler(), LogisticRegression(
            C=self.C, class_weight=self.class_weight, max_iter=5000))
        # The matrices are small: BLAS threads only wait on each other (10x slower measured
        # on a busy 2-core machine).
        with threadpool_limits(limits=1, user_api="blas"):
            self.model_.fit(x, y)
        self.log_trans_, self.log_init_ = _transitions(ys, len(self.classes_))
        return self

    def predict_proba(self, log: SensorLog, start=None, end=None) -> tuple[Timeline, np.ndarray]:
        """The classifier's per-slice probabilities (n × classes, columns as ``classes_``)."""
        self._check_fitted()
        tl = self._timeline(log, start, end)
        x = self.features_.transform(log, tl)
        proba = np.zeros((tl.n, len(self.classes_)))
        if tl.n:
            proba[:, self.model_.classes_] = self.model_.predict_proba(x)
        return tl, proba

    def _decode(self, log, start, end):
        tl, proba = self.predict_proba(log, start, end)
        if not self.smoothing:
            return tl, proba.argmax(axis=1), proba
        emit = self.emission_weight * np.log(np.clip(proba, 1e-9, 1.0))
        return tl, viterbi(emit, self.log_trans_, self.log_init_), proba


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
