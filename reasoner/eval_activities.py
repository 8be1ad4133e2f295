"""Evaluation of activity recognition on labelled sensor logs (van Kasteren's measures).

*Time-slice accuracy* is the share of 60-second slices whose predicted activity is the annotated
one; *class accuracy* is the mean over classes (``"idle"`` included) of each class's recall, so
a rare activity such as getting a drink counts as much as sleeping. Both are percentages.

The command line (the ``hearth eval activities`` command calls ``main``)::

    python -m reasoner.eval_activities --format kasteren --train DIR --test DIR --json
    python -m reasoner.eval_activities --format kasteren --data DIR --test-days 5 --cv --json
    python -m reasoner.eval_activities --format kasteren --data DIR --from-graph --json

prints one JSON object as its last line. ``--data DIR --test-days K`` trains on the earlier days
of one folder and tests on its last ``K`` days; ``--cv`` adds leave-one-day-out cross-validation.
``--from-graph`` goes through the household graph: the logs are ingested into an in-memory
household (``to_events`` and ``annotation_events``), read back from its observations and
annotation events (``log_from_graph``), and scored the same way; the result says whether what
came back is the log that went in (key ``graph``). Nothing is written anywhere.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Sequence

import numpy as np

from kg.errors import HearthError
from kg.importers.sensorlog import (CASAS_TZ, KASTEREN_TZ, SensorLog, read_casas, read_kasteren,
                                    to_events)
from reasoner.activities import (ActivityRecognizer, HMMRecognizer, Timeline, annotation_events,
                                 log_from_graph, slice_labels, slice_span)
from reasoner.errors import ReasonerError

__all__ = ["cross_validate", "day_starts", "evaluate", "graph_round_trip", "main", "score",
           "split_by_day", "split_days"]

HISTORY = dt.timedelta(days=1)  # sensor history a cut-out day keeps (sensors only, no labels)


class EvaluationError(ReasonerError, ValueError):
    """The evaluation cannot run on the data given."""


# ---------------------------------------------------------------------------------------------
# Days

def day_starts(log: SensorLog, *, tz: dt.tzinfo | None = None) -> list[dt.datetime]:
    """Local midnights of the log's days, in order: every calendar day from the first to the last
    that holds a sensor or activity start (a quiet day in between, e.g. a weekend away, counts).

    ``tz`` defaults to the zone of the log's own times."""
    items = [*log.intervals, *log.activities]
    if not items:
        return []
    tz = tz or items[0].start.tzinfo
    lo, hi = (log.span if log.span else (None, None))
    dates = [it.start.astimezone(tz).date() for it in items
             if (lo is None or lo <= it.start < hi)]
    if not dates:
        return []
    first, last = min(dates), max(dates)
    return [dt.datetime.combine(first + dt.timedelta(days=i), dt.time(0), tzinfo=tz)
            for i in range((last - first).days + 1)]


def _next_midnight(day: dt.datetime) -> dt.datetime:
    d = day.date() + dt.timedelta(days=1)
    return dt.datetime.combine(d, dt.time(0), tzinfo=day.tzinfo)


def split_days(log: SensorLog, *, history: dt.timedelta = HISTORY) -> list[SensorLog]:
    """One log per day (local midnight to midnight), each keeping ``history`` of sensor data
    before its day."""
    return [log.between(d, _next_midnight(d), history=history) for d in day_starts(log)]


def split_by_day(log: SensorLog, *, test_days: int, history: dt.timedelta = HISTORY
                 ) -> tuple[SensorLog, SensorLog]:
    """Splits a log into (train, test): the last ``test_days`` days are the test log.

    >>> from kg.importers.sensorlog import SensorLog
    >>> split_by_day(SensorLog({}), test_days=1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    reasoner.eval_activities.EvaluationError: the log has 0 day(s): cannot hold out 1 ...
    """
    days = day_starts(log)
    if not 1 <= test_days < len(days):
        raise EvaluationError(f"the log has {len(days)} day(s): cannot hold out {test_days} "
                              "and still train on at least one; use a smaller test_days")
    cut = days[-test_days]
    train = log.between(days[0], cut, history=history)
    test = log.between(cut, _next_midnight(days[-1]), history=history)
    return train, test


# ---------------------------------------------------------------------------------------------
# Scores

def score(truth: Sequence[str], predicted: Sequence[str]) -> dict:
    """Time-slice and class accuracy (percent), and each class's recall.

    >>> score(["idle", "idle", "idle", "drink"], ["idle", "idle", "idle", "idle"])["class_accuracy"]
    50.0
    """
    if len(truth) != len(predicted):
        raise EvaluationError(f"{len(truth)} true labels but {len(predicted)} predictions")
    if not truth:
        raise EvaluationError("no time slices to score")
    t, p = np.asarray(truth), np.asarray(predicted)
    recall = {c: float(np.mean(p[t == c] == c) * 100) for c in sorted(set(truth))}
    return {
        "timeslice_accuracy": round(float(np.mean(t == p) * 100), 2),
        "class_accuracy": round(float(np.mean(list(recall.values()))), 2),
        "per_class_recall": {c: round(r, 2) for c, r in recall.items()},
        "slices": len(truth),
    }


def _truth_and_prediction(model, test: SensorLog):
    start, end = slice_span(test)
    tl = Timeline.between(start, end)
    pred = [label for _, label in model.predict(test, start, end)]
    return slice_labels(test, tl, idle=model.idle), pred


def evaluate(train: SensorLog | Sequence[SensorLog], test: SensorLog, *, baseline: bool = True,
             model: ActivityRecognizer | None = None) -> dict:
    """Fits the recogniser on ``train`` (a log or a list of day logs), scores it on ``test``;
    with ``baseline``, the van Kasteren HMM is fitted and scored in the same run (key
    ``baseline_hmm``)."""
    model = model or ActivityRecognizer()
    model.fit(train)
    truth, pred = _truth_and_prediction(model, test)
    out = score(truth, pred)
    if baseline:
        hmm = HMMRecognizer().fit(train)
        b_truth, b_pred = _truth_and_prediction(hmm, test)
        b = score(b_truth, b_pred)
        out["baseline_hmm"] = {"timeslice_accuracy": b["timeslice_accuracy"],
                               "class_accuracy": b["class_accuracy"]}
    return out


def cross_validate(log: SensorLog, *, baseline: bool = True, history: dt.timedelta = HISTORY,
                   make_model=ActivityRecognizer) -> dict:
    """Leave-one-day-out: each day is scored by a model fitted on all the other days.

    Returns the mean of the per-day scores (``timeslice_accuracy``, ``class_accuracy``), the
    pooled scores over all held-out slices (``pooled_*``) and the per-day figures."""
    days = day_starts(log)
    if len(days) < 2:
        raise EvaluationError(f"leave-one-day-out needs at least two days; the log has "
                              f"{len(days)}")
    end = _next_midnight(days[-1])
    makers = {"model": make_model}
    if baseline:
        makers["baseline_hmm"] = HMMRecognizer
    truths = {k: [] for k in makers}
    preds = {k: [] for k in makers}
    per_day = {k: [] for k in makers}
    for i, day in enumerate(days):
        test = log.between(day, _next_midnight(day), history=history)
        train = []  # the days before and after the held-out one, as two contiguous logs
        if i > 0:
            train.append(log.between(days[0], day, history=history))
        if i + 1 < len(days):
            train.append(log.between(days[i + 1], end, history=history))
        for key, make in makers.items():
            model = make().fit(train)
            truth, pred = _truth_and_prediction(model, test)
            truths[key] += truth
            preds[key] += pred
            s = score(truth, pred)
            per_day[key].append({"day": day.date().isoformat(),
                                 "timeslice_accuracy": s["timeslice_accuracy"],
                                 "class_accuracy": s["class_accuracy"]})
    out = {}
    for key in makers:
        pooled = score(truths[key], preds[key])
        res = {
            "timeslice_accuracy": round(float(np.mean(
                [d["timeslice_accuracy"] for d in per_day[key]])), 2),
            "class_accuracy": round(float(np.mean(
                [d["class_accuracy"] for d in per_day[key]])), 2),
            "pooled_timeslice_accuracy": pooled["timeslice_accuracy"],
            "pooled_class_accuracy": pooled["class_accuracy"],
        }
        if key == "model":
            res["pooled_per_class_recall"] = pooled["per_class_recall"]
            res["per_day"] = per_day[key]
            res["days"] = len(days)
            out.update(res)
        else:
            out[key] = res
    return out


# ---------------------------------------------------------------------------------------------
# Through the graph

def graph_round_trip(log: SensorLog, *, tz: dt.tzinfo | str | None = None,
                     household: str = "eval") -> tuple[SensorLog, dict]:
    """Ingests a labelled log into a fresh in-memory household (``to_events``, then
    ``annotation_events``) and reads it back from the graph (``log_from_graph``, times in
    ``tz``). Returns the log read back and what happened: the number of events, the seconds
    taken, and whether the log read back is the one that went in (``same_as_file``: the same
    sensors, intervals and activities; sensor names compare without surrounding spaces, which
    ``to_events`` strips)."""
    from zoneinfo import ZoneInfo
    from kg.household import Hearth
    if isinstance(tz, str):
        tz = ZoneInfo(tz)
    began = time.perf_counter()
    bounds = log.bounds()
    if bounds is None:
        raise EvaluationError("the log is empty: nothing to ingest into a household")
    home = Hearth.in_memory().create_household(household, time=bounds[0])
    events = [*to_events(log), *annotation_events(log)]
    home.append_many(events)
    ingested = time.perf_counter()
    back = log_from_graph(home, tz=tz)
    read = time.perf_counter()
    same = (back.intervals == log.intervals and back.activities == log.activities
            and {k: v.strip() for k, v in back.sensors.items()}
            == {k: v.strip() for k, v in log.sensors.items()})
    return back, {"events": len(events), "ingest_seconds": round(ingested - began, 2),
                  "read_seconds": round(read - ingested, 2), "same_as_file": same}


# ---------------------------------------------------------------------------------------------
# Command line

def _read(fmt: str, path: str) -> SensorLog:
    if not os.path.exists(path):
        raise EvaluationError(f"{path!r} does not exist: give a folder holding "
                              "kasterenSenseData.txt and kasterenActData.txt (kasteren) or a "
                              "CASAS event file (casas)")
    if fmt == "kasteren":
        if os.path.isdir(path):
            sense = os.path.join(path, "kasterenSenseData.txt")
            act = os.path.join(path, "kasterenActData.txt")
        else:
            raise EvaluationError(f"{path!r} is not a folder: --format kasteren takes a folder "
                                  "holding kasterenSenseData.txt and kasterenActData.txt")
        for p in (sense, act):
            if not os.path.exists(p):
                raise EvaluationError(f"{p} is missing: a kasteren folder holds "
                                      "kasterenSenseData.txt and kasterenActData.txt")
        return read_kasteren(sense, act)
    if fmt == "casas":
        if os.path.isdir(path):
            raise EvaluationError(f"{path!r} is a folder: --format casas takes one annotated "
                                  "CASAS event file")
        return read_casas(path)
    raise EvaluationError(f"unknown format {fmt!r}: use kasteren or casas")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hearth eval activities",
                                description="Activity recognition: time-slice and class accuracy")
    p.add_argument("--format", choices=["kasteren", "casas"], default="kasteren")
    p.add_argument("--train", help="labelled training data (kasteren: a folder; casas: a file)")
    p.add_argument("--test", help="labelled test data, scored by the model fitted on --train")
    p.add_argument("--data", help="one labelled data set to split by day (with --test-days)")
    p.add_argument("--test-days", type=int, default=5,
                   help="with --data: hold out the last K days as test (default 5)")
    p.add_argument("--cv", action="store_true",
                   help="with --data: also run leave-one-day-out cross-validation")
    p.add_argument("--from-graph", action="store_true",
                   help="ingest the data into an in-memory household and train and test on "
                        "what the graph gives back")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the van Kasteren HMM baseline")
    p.add_argument("--json", action="store_true", help="print only the JSON result")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the evaluation; prints one JSON object as the last line. Returns an exit code."""
    args = _parser().parse_args(argv)
    began = time.perf_counter()
    zone = KASTEREN_TZ if args.format == "kasteren" else CASAS_TZ
    graph = None
    try:
        if args.data:
            if args.train or args.test:
                raise EvaluationError("use either --data DIR [--test-days K] or --train DIR "
                                      "--test DIR, not both")
            log = _read(args.format, args.data)
            if args.from_graph:
                log, graph = graph_round_trip(log, tz=zone)
            train, test = split_by_day(log, test_days=args.test_days)
        elif args.train and args.test:
            train, test = _read(args.format, args.train), _read(args.format, args.test)
            if args.from_graph:
                train, g_train = graph_round_trip(train, tz=zone, household="train")
                test, g_test = graph_round_trip(test, tz=zone, household="test")
                graph = {k: (g_train[k] and g_test[k] if k == "same_as_file"
                             else round(g_train[k] + g_test[k], 2)) for k in g_train}
        else:
            raise EvaluationError("give --train DIR and --test DIR, or --data DIR with "
                                  "--test-days K")
        result = evaluate(train, test, baseline=not args.no_baseline)
        result["days_train"] = len(day_starts(train))
        result["days_test"] = len(day_starts(test))
        result["split"] = (f"last {args.test_days} days held out of {args.data}" if args.data
                           else f"train {args.train}, test {args.test}")
        result["source"] = "graph" if args.from_graph else "files"
        if graph is not None:
            result["graph"] = graph
        if args.cv:
            if not args.data:
                raise EvaluationError("--cv needs --data DIR (leave-one-day-out over its days)")
            cv = cross_validate(log, baseline=not args.no_baseline)
            if args.json:
                cv.pop("per_day", None)
            result["cv_leave_one_day_out"] = cv
    except (HearthError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result["seconds"] = round(time.perf_counter() - began, 1)
    if not args.json:
        print(f"time-slice accuracy {result['timeslice_accuracy']:.1f}  class accuracy "
              f"{result['class_accuracy']:.1f}  ({result['days_train']} training days, "
              f"{result['days_test']} test days)")
        for c, r in result["per_class_recall"].items():
            print(f"  {c:<20} recall {r:5.1f}")
        if "baseline_hmm" in result:
            b = result["baseline_hmm"]
            print(f"baseline HMM: time-slice {b['timeslice_accuracy']:.1f}  class "
                  f"{b['class_accuracy']:.1f}")
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
