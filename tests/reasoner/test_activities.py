"""Activity recognition over time slices, and its evaluation (van Kasteren's measures)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from kg import events as E
from kg.errors import EventError
from kg.events import SensorObserved
from kg.household import Hearth
from kg.importers.sensorlog import (ActivityInterval, SensorInterval, SensorLog,
                                    intervals_from_observations, read_kasteren, to_events)
from reasoner.activities import (IDLE, ActivitiesComponent, ActivityAnnotated,
                                 ActivityCorroborated, ActivityDataError, ActivityRecognizer,
                                 HMMRecognizer, NotFittedError, SensorFeatures, Timeline,
                                 activity_kind, annotation_events, log_from_graph,
                                 merge_segments, slice_labels, slice_span, viterbi)
from reasoner.eval_activities import (EvaluationError, cross_validate, day_starts, evaluate,
                                      graph_round_trip, main, score, split_by_day)
from reasoner.patterns import ActivityInferred, Pattern, PatternsComponent
from reasoner.pipeline import Pipeline, make_component
from reasoner.signals import CS

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


# -- commonsense ---------------------------------------------------------------------------------

@pytest.mark.parametrize("label, kind", [
    ("leave house", "LeavingHome"), ("go to bed", "GoingToBed"), ("use toilet", "UsingTheToilet"),
    ("take shower", "Showering"), ("prepare Breakfast", "PreparingBreakfast"),
    ("prepare Dinner", "PreparingDinner"), ("get drink", "GettingADrink")])
def test_van_kasteren_labels_name_commonsense_activity_kinds(label, kind):
    assert activity_kind(label) == CS + kind


def test_typical_times_tell_breakfast_from_dinner():
    """Breakfast and dinner use the same cupboards here: only the clock tells them apart, and
    commonsense says breakfast is a morning activity and dinner an evening one."""
    def day(d):
        t = dt.datetime(2008, 3, d, tzinfo=AMS)
        ivs, acts = [], []
        for hour, label in ((8, "prepare Breakfast"), (19, "prepare Dinner")):
            start = t + dt.timedelta(hours=hour)
            ivs += [SensorInterval(s, n, start + dt.timedelta(minutes=m),
                                   start + dt.timedelta(minutes=m, seconds=20))
                    for m, (s, n) in enumerate([("2", "Fridge"), ("6", "Pans Cupboard")] * 3)]
            acts.append(ActivityInterval(label, start, start + dt.timedelta(minutes=6)))
        return SensorLog({"2": "Fridge", "6": "Pans Cupboard"}, tuple(ivs), tuple(acts),
                         span=(t, t + dt.timedelta(days=1)))
    model = ActivityRecognizer().fit([day(3), day(4)])
    assert model.siblings_[0]["classes"] == ["prepare Breakfast", "prepare Dinner"]
    test = day(5)
    labels = dict(model.predict(test))
    assert labels[dt.datetime(2008, 3, 5, 8, 2, tzinfo=AMS)] == "prepare Breakfast"
    assert labels[dt.datetime(2008, 3, 5, 19, 2, tzinfo=AMS)] == "prepare Dinner"
    _, proba = model.predict_proba(test)
    assert np.allclose(proba.sum(axis=1), 1)


def test_a_slice_sees_no_further_ahead_than_the_horizon(house):
    """With a horizon, a slice's features are final once the horizon has passed: cutting the
    log there changes nothing for it."""
    fe = SensorFeatures(sorted(house.sensors), groups={"kitchen": ["2", "3", "6"]},
                        horizon_min=60)
    start = dt.datetime(2008, 3, 3, tzinfo=AMS)
    cut = dt.datetime(2008, 3, 3, 19, 0, 30, tzinfo=AMS)
    tl = Timeline(start, 17 * 60)  # up to 17:00, two hours before the cut
    whole = fe.transform(house, tl)
    short = fe.transform(house.between(start - dt.timedelta(days=1), cut), tl)
    final = 17 * 60 - 61  # slices ending at least an hour before the cut
    assert np.array_equal(whole[:final], short[:final])
    unbounded = SensorFeatures(sorted(house.sensors))
    assert not np.array_equal(unbounded.transform(house, tl)[:final],
                              unbounded.transform(house.between(start, cut), tl)[:final])


# -- model files ---------------------------------------------------------------------------------

def test_a_saved_model_loads_back_and_predicts_the_same(fitted, split, tmp_path):
    path = tmp_path / "activities.npz"
    fitted.save(path)
    loaded = ActivityRecognizer.load(path)
    assert loaded.classes_ == fitted.classes_ and loaded.kinds_ == fitted.kinds_
    _, a = fitted.predict_proba(split[1])
    _, b = loaded.predict_proba(split[1])
    assert np.allclose(a, b)
    assert np.load(path, allow_pickle=False)["coef"].shape == fitted.coef_.shape


def test_loading_something_else_says_what_to_do(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_text("not a model")
    with pytest.raises(ActivityDataError, match="ActivityRecognizer.save"):
        ActivityRecognizer.load(junk)
    with pytest.raises(ActivityDataError, match="no activity model"):
        ActivityRecognizer.load(tmp_path / "missing.npz")


# -- the graph -------------------------------------------------------------------------------------

def ingest(home, log, *, annotated=True, facts=None):
    """The log's events (and its annotations) appended to a household, as one import."""
    events = list(to_events(log))
    devices = [e for e in events if isinstance(e, E.DeviceAdded)]
    home.append_many(devices)
    if facts:
        home.assert_facts(facts, time=devices[0].time)
    rest = events[len(devices):] + (annotation_events(log) if annotated else [])
    return home.append_many(rest)


def test_the_graph_gives_back_the_log_and_its_annotations(memory_home, house):
    ingest(memory_home, house)
    back = log_from_graph(memory_home, tz=AMS)
    assert back.intervals == house.intervals and back.activities == house.activities
    seq, event = next(memory_home.events(types=[ActivityAnnotated]))
    assert event == memory_home.event(seq)  # replays from its RDF
    assert event.activity == CS + "GoingToBed" and event.label == "go to bed"
    day = dt.datetime(2008, 3, 4, tzinfo=AMS)
    part = log_from_graph(memory_home, start=day, end=day + dt.timedelta(days=1),
                          history=dt.timedelta(days=1), tz=AMS)
    assert part == house.between(day, day + dt.timedelta(days=1), history=dt.timedelta(days=1))


def test_an_annotation_is_checked_like_any_input():
    ok = {"type": "ActivityAnnotated", "time": "2008-03-03T08:10:00+01:00",
          "activity": CS + "LeavingHome", "start": "2008-03-03T08:10:00+01:00",
          "end": "2008-03-03T17:00:00+01:00", "label": "leave house"}
    assert E.Event.from_json(ok).label == "leave house"
    with pytest.raises(EventError, match="before its start"):
        E.Event.from_json({**ok, "end": "2008-03-03T08:00:00+01:00"})


def test_graph_path_gives_the_file_path_figures(capsys):
    figures = []
    for extra in ([], ["--from-graph"]):
        assert main(["--format", "kasteren", "--data", str(FIXTURE), "--test-days", "1",
                     "--cv", "--json", *extra]) == 0
        figures.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    files, graph = figures
    assert graph["source"] == "graph" and graph["graph"]["same_as_file"] is True
    for key in ("seconds", "source", "graph"):
        files.pop(key, None)
        graph.pop(key, None)
    assert files == graph


def test_graph_round_trip_notices_a_log_that_does_not_come_back(house):
    """Sensors the log never lists get no DeviceAdded, so their names do not come back."""
    odd = SensorLog({}, house.intervals[:4], house.activities[:1])
    back, info = graph_round_trip(odd, tz=AMS)
    assert info["events"] == 4 * 2 + 1 and info["same_as_file"] is False
    assert [(iv.sensor, iv.start, iv.end) for iv in back.intervals] == [
        (iv.sensor, iv.start, iv.end) for iv in odd.intervals]


# -- the pipeline component ------------------------------------------------------------------------

def conclusions(home, cls=ActivityInferred, *, by="component:activities"):
    retracted = home.state.retracted
    return [(seq, e) for seq, e in home.events(types=[cls])
            if e.agent() == by and home.ids.event(seq) not in retracted]


def test_component_concludes_the_activities_the_model_recognises(memory_home, house, fitted):
    Pipeline([ActivitiesComponent(fitted)]).attach(memory_home)
    ingest(memory_home, house, annotated=False)
    found = conclusions(memory_home)
    expected = [s for s in fitted.segments(house) if s.end <= found[-1][1].end]
    assert len(found) >= 20 and [(e.activity, e.start, e.end) for _, e in found] == [
        (fitted.kinds_[s.label], s.start, s.end) for s in expected]
    for (_, e), s in zip(found, expected):
        assert e.confidence == pytest.approx(s.confidence)
        for ref in e.derived_from:
            obs = memory_home.event(memory_home.ids.seq_of(ref))
            assert isinstance(obs, SensorObserved) and obs.property == "activated"
    away = [e for _, e in found if e.activity == CS + "LeavingHome"]
    # the last day's absence ends less than the model's 12-hour horizon before the last reading
    assert len(away) == 3 and all(e.end - e.start > dt.timedelta(hours=8) for e in away)


def test_component_learns_from_the_households_own_annotations(memory_home, house):
    """No model given: it fits one on the annotated days and recognises the unannotated one."""
    day4 = dt.datetime(2008, 3, 6, tzinfo=AMS)
    labelled = house.between(house.bounds()[0], day4)
    memory_home.append_many(annotation_events(labelled))
    component = ActivitiesComponent()
    Pipeline([component]).attach(memory_home)
    ingest(memory_home, house, annotated=False)
    on_day4 = {e.activity for _, e in conclusions(memory_home) if e.start >= day4}
    assert {CS + "GettingADrink", CS + "UsingTheToilet"} <= on_day4
    model = component.fit(memory_home)  # the same fit, from the same graph
    assert model.classes_ == sorted(set(house.labels) | {IDLE})
    found = [(e.activity, e.start, e.end) for _, e in conclusions(memory_home)]
    offline = [(model.kinds_[s.label], s.start, s.end) for s in model.segments(house)]
    assert found == offline[:len(found)]


FLUSH_IS_A_TOILET = ("<urn:hearth:h1:device:4> <https://w3id.org/hearth#ofKind> "
                     "<https://w3id.org/hearth/commonsense#ToiletBowl> .")
FLUSH_PATTERN = Pattern.from_dict({"pattern": "flush", "steps": {"flush": "cs:ToiletFlushed"},
                                   "conclude": {"activity": "cs:UsingTheToilet",
                                                "confidence": 0.6}})


def test_component_corroborates_a_pattern_instead_of_concluding_twice(memory_home, house,
                                                                      fitted):
    Pipeline([PatternsComponent([FLUSH_PATTERN]), ActivitiesComponent(fitted)]).attach(
        memory_home)
    ingest(memory_home, house, annotated=False, facts=FLUSH_IS_A_TOILET)
    toilet = CS + "UsingTheToilet"
    patterns = conclusions(memory_home, by="component:patterns")
    assert patterns and all(e.activity == toilet for _, e in patterns)
    mine = [e for _, e in conclusions(memory_home) if e.activity == toilet]
    assert not [m for m in mine for _, p in patterns if m.start <= p.end and p.start <= m.end]
    agreed = conclusions(memory_home, ActivityCorroborated)
    assert {memory_home.ids.seq_of(e.conclusion) for _, e in agreed} <= {s for s, _ in patterns}
    assert len(agreed) >= 6
    for seq, e in agreed:
        assert e == memory_home.event(seq)
        assert e.start <= memory_home.event(memory_home.ids.seq_of(e.conclusion)).start < e.end
        assert e.confidence > max(0.6, e.model_confidence)
        assert e.conclusion in e.derived_from


def test_a_later_pattern_conclusion_takes_over_the_models(memory_home, house, fitted):
    Pipeline([ActivitiesComponent(fitted)]).attach(memory_home)
    ingest(memory_home, house, annotated=False)
    (seq, dinner), *_ = [(s, e) for s, e in conclusions(memory_home)
                         if e.activity == CS + "PreparingDinner"]
    pattern = memory_home.append(ActivityInferred(
        time=dinner.end, by="component:patterns", activity=CS + "PreparingDinner",
        start=dinner.start + dt.timedelta(minutes=5), end=dinner.start + dt.timedelta(minutes=9),
        confidence=0.7, derived_from=dinner.derived_from[:2]))
    assert memory_home.ids.event(seq) in memory_home.state.retracted
    (_, agreed), = conclusions(memory_home, ActivityCorroborated)
    assert agreed.conclusion == pattern.iri and (agreed.start, agreed.end) == (dinner.start,
                                                                               dinner.end)
    assert agreed.confidence == pytest.approx(1 - 0.3 * (1 - dinner.confidence))


def test_retracting_an_observation_withdraws_what_was_concluded_from_it(memory_home, house,
                                                                        fitted):
    Pipeline([ActivitiesComponent(fitted)]).attach(memory_home)
    ingest(memory_home, house, annotated=False)
    before = conclusions(memory_home)
    seq, drink = next((s, e) for s, e in before if e.activity == CS + "GettingADrink")
    memory_home.retract(drink.derived_from[0], reason="the cupboard sensor misfired",
                        time=house.bounds()[1])
    assert memory_home.ids.event(seq) in memory_home.state.retracted
    after = conclusions(memory_home)
    spans = [(e.activity, e.start, e.end) for _, e in after]
    assert len(spans) == len(set(spans))  # decoded again, nothing concluded twice
    assert all(memory_home.ids.event(seq) not in e.derived_from for _, e in after)


def test_component_is_made_by_name_from_a_model_file(fitted, tmp_path):
    path = tmp_path / "m.npz"
    fitted.save(path)
    component = make_component("activities", model=str(path), every_min=30)
    assert component.name == "activities" and component.model.classes_ == fitted.classes_
    with pytest.raises(ActivityDataError, match="no activity model"):
        make_component("activities", model=str(tmp_path / "none.npz"))


def test_a_restarted_component_carries_on_where_it_stopped(house, fitted):
    """A new component on the same store (a restart) concludes the rest, and nothing twice."""
    from kg.household import Household
    events = list(to_events(house))
    cut = len(events) // 2
    first = Hearth.in_memory().create_household("h1", time="2008-03-01T00:00:00Z")
    Pipeline([ActivitiesComponent(fitted)]).attach(first)
    first.append_many(events[:cut])
    before = conclusions(first)
    again = Household("h1", first.store)
    Pipeline([ActivitiesComponent(fitted)]).attach(again)
    again.append_many(events[cut:])
    after = [(e.activity, e.start, e.end) for _, e in conclusions(again)]
    assert before and len(after) > len(before) and len(after) == len(set(after))
    offline = [(fitted.kinds_[s.label], s.start, s.end) for s in fitted.segments(house)]
    assert after == offline[:len(after)]


def test_without_a_model_or_annotations_it_concludes_nothing_and_keeps_little(memory_home,
                                                                              house):
    component = ActivitiesComponent(history_hours=6)
    Pipeline([component]).attach(memory_home)
    ingest(memory_home, house, annotated=False)
    assert conclusions(memory_home) == []
    h = component._homes[memory_home]
    # what a model found later would read: two days back, and 6 hours of history before that
    old = [r for r in h.rows if r.time < h.latest - dt.timedelta(hours=48 + 6)]
    assert len(h.rows) < 2 * len(house.intervals) and len(old) <= len(house.sensors)
