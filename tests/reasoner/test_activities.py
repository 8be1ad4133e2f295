"""Activity recognition over time slices, and its evaluation (van Kasteren's measures)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from kg.events import SensorObserved
from kg.importers.sensorlog import (ActivityInterval, SensorInterval, SensorLog,
                                    intervals_from_observations, read_kasteren, to_events)
from reasoner.activities import (IDLE, ActivityRecognizer, HMMRecognizer, NotFittedError,
                                 SensorFeatures, Timeline, merge_segments, slice_labels,
                                 slice_span, viterbi)
from reasoner.eval_activities import (EvaluationError, cross_validate, day_starts, evaluate,
                                      main, score, split_by_day)

FIXTURE = Path(__file__).parent.parent / "fixtures" / "sensorlog" / "kasteren_small"
AMS = ZoneInfo("Europe/Amsterdam")
UTC = dt.timezone.utc
T0 = dt.datetime(2008, 3, 3, 12, 0, tzinfo=UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture(scope="module")
def house() -> SensorLog:
    """Four synthetic days: sleep, toilet, drink, away, dinner, toilet, drink, sleep."""
    return read_kasteren(FIXTURE / "kasterenSenseData.txt", FIXTURE / "kasterenActData.txt")


@pytest.fixture(scope="module")
def split(house):
    return split_by_day(house, test_days=1)


@pytest.fixture(scope="module")
def fitted(split) -> ActivityRecognizer:
    return ActivityRecognizer().fit(split[0])


# -- slices and labels ---------------------------------------------------------------------------

def test_slice_labels_let_a_nested_activity_win_and_keep_short_ones():
    log = SensorLog({}, activities=(
        ActivityInterval("go to bed", at(0), at(10)),
        ActivityInterval("use toilet", at(4), at(6)),
        ActivityInterval("get drink", at(8.1), at(8.5)),  # 24 s: still labels its slice
    ))
    labels = slice_labels(log, Timeline(T0, 12))
    assert labels == ["go to bed"] * 4 + ["use toilet"] * 2 + ["go to bed"] * 2 + [
        "get drink", "go to bed", IDLE, IDLE]


def test_timeline_aligns_to_whole_minutes_and_keeps_the_zone():
    tl = Timeline.between(dt.datetime(2008, 3, 3, 9, 0, 30, tzinfo=AMS),
                          dt.datetime(2008, 3, 3, 9, 3, 10, tzinfo=AMS))
    assert tl.n == 4 and tl.start == dt.datetime(2008, 3, 3, 9, 0, tzinfo=AMS)
    assert [t.minute for t in tl.times()] == [0, 1, 2, 3]
    assert tl.hours()[0] == pytest.approx(9.0)


def test_slice_span_ignores_a_sensor_stuck_on():
    stuck = SensorInterval("1", "Microwave", at(0), at(60 * 24 * 7))
    log = SensorLog({"1": "Microwave"}, (stuck, SensorInterval("2", "Fridge", at(5), at(6))),
                    (ActivityInterval("get drink", at(5), at(7)),))
    start, end = slice_span(log)
    assert start == at(0) and end < at(8)


def test_hmm_features_are_change_point_and_last_fired():
    log = SensorLog({"a": "a", "b": "b"}, (SensorInterval("a", "a", at(1.5), at(3.2)),
                                           SensorInterval("b", "b", at(5.5), at(5.6))))
    x = SensorFeatures(["a", "b"], kind="hmm").transform(log, Timeline(T0, 7))
    change, last = x[:, :2], x[:, 2:]
    assert change[:, 0].tolist() == [0, 1, 0, 1, 0, 0, 0]  # a changes at 1.5 and 3.2
    assert change[:, 1].tolist() == [0, 0, 0, 0, 0, 1, 0]  # b on and off within slice 5
    assert last[:, 0].tolist() == [0, 1, 1, 1, 1, 0, 0]
    assert last[:, 1].tolist() == [0, 0, 0, 0, 0, 1, 1]


def test_full_features_have_one_column_per_name(house):
    fe = SensorFeatures(sorted(house.sensors))
    x = fe.transform(house, Timeline.between(*slice_span(house)))
    assert x.shape[1] == len(fe.names())
    assert np.isfinite(x).all()


def test_an_interval_cut_at_the_end_of_a_span_is_not_a_change():
    log = SensorLog({"a": "a"}, (SensorInterval("a", "a", at(0.5), at(30)),))
    cut = log.between(T0, at(5))
    x = SensorFeatures(["a"], kind="hmm").transform(cut, Timeline(T0, 5))
    assert x[:, 0].tolist() == [1, 0, 0, 0, 0]


# -- decoding and segments -------------------------------------------------------------------

def test_viterbi_follows_transitions_over_a_weak_emission():
    emit = np.log(np.array([[0.9, 0.1], [0.45, 0.55], [0.9, 0.1]]))
    sticky = np.log(np.array([[0.95, 0.05], [0.05, 0.95]]))
    init = np.log(np.array([0.5, 0.5]))
    assert viterbi(emit, sticky, init).tolist() == [0, 0, 0]
    loose = np.log(np.full((2, 2), 0.5))
    assert viterbi(emit, loose, init).tolist() == [0, 1, 0]


def test_merge_segments_joins_runs_and_averages_confidence():
    times = [at(i) for i in range(5)]
    segs = merge_segments(times, ["idle", "cook", "cook", "idle", "drink"], [1, .8, .6, 1, .5])
    assert [(s.label, s.start, s.end) for s in segs] == [("cook", at(1), at(3)),
                                                          ("drink", at(4), at(5))]
    assert segs[0].confidence == pytest.approx(0.7)
    assert len(merge_segments(times, ["idle"] * 5, include_idle=True)) == 1


# -- the recogniser ----------------------------------------------------------------------------

def test_recogniser_learns_the_synthetic_house_on_an_unseen_day(split):
    train, test = split
    result = evaluate(train, test)
    assert result["class_accuracy"] >= 90
    assert result["timeslice_accuracy"] >= 90
    assert result["per_class_recall"]["get drink"] >= 50  # one-minute activities are found
    assert result["class_accuracy"] > result["baseline_hmm"]["class_accuracy"]
    assert result["baseline_hmm"]["class_accuracy"] > 100 / 6  # better than a constant guess


def test_predict_gives_one_label_a_minute(fitted, split):
    test = split[1]
    start, end = test.span
    pred = fitted.predict(test, start, end)
    assert len(pred) == 24 * 60
    assert pred[0][0] == start and pred[1][0] - pred[0][0] == dt.timedelta(minutes=1)
    assert {label for _, label in pred} <= set(fitted.classes_)
    assert dict(pred)[dt.datetime(2008, 3, 6, 12, 0, tzinfo=AMS)] == "leave house"


def test_segments_find_the_dinner(fitted, split):
    test = split[1]
    segs = fitted.segments(test)
    dinner = [a for a in test.activities if a.label == "prepare Dinner"][0]
    found = [s for s in segs if s.label == "prepare Dinner"]
    assert found and all(0 <= s.confidence <= 1 for s in segs)
    overlap = max(min(s.end, dinner.end) - max(s.start, dinner.start) for s in found)
    assert overlap >= dt.timedelta(minutes=25)
    assert all(s.label != IDLE for s in segs)


def test_smoothing_keeps_long_activities(split):
    model = ActivityRecognizer(smoothing=True).fit(split[0])
    labels = [label for _, label in model.predict(split[1])]
    assert labels.count("leave house") > 8 * 60


def test_model_reads_intervals_rebuilt_from_graph_observations(fitted, split):
    test = split[1]
    rows = [(e.sensor, e.time, e.value) for e in to_events(test)
            if isinstance(e, SensorObserved)]
    rebuilt = SensorLog(dict(test.sensors), tuple(intervals_from_observations(rows)),
                        span=test.span)
    assert fitted.predict(rebuilt) == fitted.predict(test)


def test_predict_before_fit_says_what_to_do(split):
    with pytest.raises(NotFittedError, match="call fit"):
        ActivityRecognizer().predict(split[1])


def test_fit_without_annotations_is_refused(house):
    unlabelled = SensorLog(dict(house.sensors), house.intervals)
    with pytest.raises(ValueError, match="no annotated activities"):
        ActivityRecognizer().fit(unlabelled)


def test_hmm_baseline_fits_a_list_of_days(house):
    days = [house.between(d, d + dt.timedelta(days=1)) for d in day_starts(house)]
    hmm = HMMRecognizer().fit(days[:3])
    labels = [label for _, label in hmm.predict(days[3])]
    assert labels.count("leave house") > 6 * 60


# -- evaluation ------------------------------------------------------------------------------

def test_score_averages_recall_over_classes():
    s = score(["idle"] * 8 + ["drink"] * 2, ["idle"] * 8 + ["drink", "idle"])
    assert s["timeslice_accuracy"] == 90.0
    assert s["class_accuracy"] == 75.0
    assert s["per_class_recall"] == {"drink": 50.0, "idle": 100.0}


def test_split_by_day_holds_out_the_last_days(house, split):
    assert len(day_starts(house)) == 4
    train, test = split
    assert [d.day for d in day_starts(train)] == [3, 4, 5]
    assert [d.day for d in day_starts(test)] == [6]
    assert test.span == (dt.datetime(2008, 3, 6, tzinfo=AMS), dt.datetime(2008, 3, 7, tzinfo=AMS))
    assert all(a.start >= test.span[0] for a in test.activities)


def test_split_by_day_refuses_to_hold_out_everything(house):
    with pytest.raises(EvaluationError, match="smaller test_days"):
        split_by_day(house, test_days=4)


def test_cross_validate_scores_every_day_with_a_model_that_never_saw_it(house):
    result = cross_validate(house)
    assert result["days"] == 4 and len(result["per_day"]) == 4
    assert result["pooled_class_accuracy"] >= 85
    assert "baseline_hmm" in result


def test_main_prints_one_json_object_last(capsys):
    assert main(["--format", "kasteren", "--data", str(FIXTURE), "--test-days", "1",
                 "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last)
    assert {"timeslice_accuracy", "class_accuracy", "days_train", "days_test",
            "baseline_hmm"} <= result.keys()
    assert (result["days_train"], result["days_test"]) == (3, 1)


def test_main_trains_and_tests_on_two_folders(tmp_path, capsys):
    for name, keep in (("train", ("03-Mar", "04-Mar", "05-Mar")), ("test", ("06-Mar", "07-Mar"))):
        folder = tmp_path / name
        folder.mkdir()
        for fname in ("kasterenSenseData.txt", "kasterenActData.txt"):
            lines = (FIXTURE / fname).read_text().splitlines(keepends=True)
            folder.joinpath(fname).write_text("".join(
                ln for ln in lines if not ln[:1].isdigit() or ln.startswith(keep) or ":" in
                ln[:3]))
    assert main(["--train", str(tmp_path / "train"), "--test", str(tmp_path / "test"),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["days_train"] == 3 and result["class_accuracy"] >= 80


def test_main_explains_a_missing_folder(tmp_path, capsys):
    assert main(["--train", str(tmp_path), "--test", str(tmp_path)]) == 2
    assert "kasterenSenseData.txt" in capsys.readouterr().err
