"""Cross-skill carryover (reasoner.carryover, reasoner.eval_carryover) on hand-made SGD fixtures.

tests/fixtures/sgd holds made-up dialogues in the SGD shape: a restaurant then a cab (the city
and the party size carry), the weather then a hotel (the city carries, sometimes through a system
question the user accepts), a restaurant then the weather (the city carries); the dev split pairs
the weather with Lodging_9, a service the train split never shows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kg.errors import HearthError
from reasoner.carryover import (
    CarryHistory,
    CarryoverError,
    CarryoverModel,
    ContextValue,
    MiniLMEmbedder,
    RateBaseline,
    SlotSpec,
    iter_carry_points,
    load_sgd_dialogues,
    load_sgd_schemas,
    sgd_context,
    slot_type,
    type_compat,
    value_matches,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sgd"


@pytest.fixture(scope="session")
def train_schemas():
    return load_sgd_schemas(FIXTURES / "train_schema.json")


@pytest.fixture(scope="session")
def dev_schemas():
    return load_sgd_schemas(FIXTURES / "dev_schema.json")


@pytest.fixture(scope="session")
def train_dialogues():
    return load_sgd_dialogues(FIXTURES / "train_dialogues.json")


@pytest.fixture(scope="session")
def minilm():
    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def model(minilm, train_dialogues, train_schemas):
    return CarryoverModel(embedder=minilm).fit(train_dialogues, train_schemas)


def _value(schemas, service, slot, value, **kw):
    return ContextValue(schemas[service].slot(slot), value, **kw)


def _no_model(texts):
    raise AssertionError(f"the embedding model was called for {list(texts)[:3]}")


# ---- types, context and gold (no model)


@pytest.mark.parametrize(
    ("name", "description", "categorical", "values", "expected"),
    [
        ("city", "City in which the restaurant is located", False, (), "city"),
        ("party_size", "Party size for a reservation", True, ("1", "2", "3"), "party_size"),
        ("number_of_riders", "Number of riders to call taxi for", True, ("1", "2"), "party_size"),
        ("time", "Time for the reservation", False, (), "time"),
        ("check_in_date", "Start date for the reservation", False, (), "date"),
        ("street_address", "Address of the restaurant", False, (), "address"),
        ("destination", "Destination for taxi ride", False, (), "place"),
        ("restaurant_name", "Name of the restaurant", False, (), "venue"),
        ("has_wifi", "Boolean flag indicating if the hotel has wifi", True, ("True", "False"), "boolean"),
        ("number_of_rooms", "Number of rooms in the reservation", True, ("1", "2", "3"), "count"),
        ("director", "Name of the director of the movie", False, (), "person"),
        ("song_name", "Name of the song", False, (), "title"),
    ],
)
def test_slot_type_reads_name_description_and_values(name, description, categorical, values, expected):
    assert slot_type(SlotSpec("X_1", name, description, categorical, values)) == expected


def test_type_compatibility_keeps_places_together_and_times_apart():
    assert type_compat("city", "place") > 0
    assert type_compat("address", "place") > 0
    assert type_compat("time", "party_size") == 0
    assert type_compat("date", "city") == 0


def test_value_matches_any_alternative_case_insensitively():
    assert value_matches("los angeles", ["LA", "Los Angeles"])
    assert not value_matches("Long Beach", ["LA", "Los Angeles"])


def test_sgd_context_keeps_the_latest_value_of_each_slot(train_dialogues, train_schemas):
    dia = train_dialogues[0]  # a restaurant search, a booking, then a cab
    ctx = {c.slot.key: c for c in sgd_context(dia["turns"][:4], train_schemas)}
    assert ctx["Restaurants_1.city"].value == "Fresno"
    assert ctx["Restaurants_1.party_size"].value == "1"
    address = ctx["Restaurants_1.street_address"]
    assert (address.value, address.origin, address.turn) == ("12 Oak Street", "inform", 3)


def test_carry_points_exclude_what_the_user_said(train_dialogues, train_schemas):
    points = list(iter_carry_points(train_dialogues, train_schemas))
    assert len(points) == 26  # one per two-service fixture dialogue
    ride = points[0]
    assert ride.service == "RideSharing_1" and ride.history == ("Restaurants_1",)
    assert ride.gold == {"destination": ("Fresno",), "number_of_riders": ("1",)}
    assert all(c.service != "RideSharing_1" for c in ride.context)


def test_values_gained_later_through_a_system_question_count_as_carried(train_dialogues, train_schemas):
    points = {p.dialogue_id: p for p in iter_carry_points(train_dialogues, train_schemas)}
    asked = points["2_003"]  # "Find me a hotel." / "In Modesto?" / "Yes please."
    assert asked.gold == {}
    assert asked.later == {"location": ("Modesto",)}
    assert asked.gold_all == {"location": ("Modesto",)}
    direct = points["2_000"]  # "Find me a hotel there."
    assert direct.gold == {"location": ("Eugene",)} and direct.later == {}


def test_deciding_before_fitting_says_what_to_do(train_schemas):
    with pytest.raises(CarryoverError, match="not fitted") as err:
        CarryoverModel(embedder=_no_model).decide([], train_schemas["RideSharing_1"])
    assert isinstance(err.value, HearthError)


def test_loading_a_missing_model_names_the_missing_file(tmp_path):
    with pytest.raises(CarryoverError, match="config.json"):
        CarryoverModel.load(tmp_path / "nothing-here")


def test_array_trees_predict_like_sklearn():
    from sklearn.ensemble import HistGradientBoostingClassifier

    from reasoner.carryover import _Trees

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    X[rng.random(X.shape) < 0.1] = np.nan
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * X[:, 2].clip(-1, 1) > 0).astype(int)
    clf = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y)
    assert np.allclose(_Trees.from_sklearn(clf).predict_proba(X), clf.predict_proba(X)[:, 1])


def test_baseline_only_knows_slot_names_seen_in_training(train_dialogues, train_schemas, dev_schemas):
    baseline = RateBaseline().fit(list(iter_carry_points(train_dialogues, train_schemas)), train_schemas)
    ctx = [_value(train_schemas, "Weather_1", "city", "Yreka")]
    assert [d.target_slot for d in baseline.decide(ctx, train_schemas["Hotels_1"])] == ["location"]
    assert baseline.decide(ctx, dev_schemas["Lodging_9"]) == []  # "town" never seen


# ---- the learned model (loads MiniLM)


@pytest.mark.slow
def test_city_carries_into_ride_destination(model, train_schemas):
    ctx = [
        _value(train_schemas, "Restaurants_1", "city", "Yreka"),
        _value(train_schemas, "Restaurants_1", "party_size", "3"),
        _value(train_schemas, "Restaurants_1", "time", "6 pm"),
    ]
    decided = {d.target_slot: d for d in model.decide(ctx, train_schemas["RideSharing_1"])}
    assert decided["destination"].value == "Yreka"
    assert (decided["destination"].source_service, decided["destination"].source_slot) == ("Restaurants_1", "city")
    assert decided["number_of_riders"].value == "3"
    assert any("carried" in r for r in decided["destination"].reasons)


@pytest.mark.slow
def test_time_does_not_fill_party_size(model, train_schemas):
    ctx = [_value(train_schemas, "Restaurants_1", "time", "6 pm"),
           _value(train_schemas, "Restaurants_1", "date", "3")]
    target = train_schemas["RideSharing_1"]
    assert all(d.target_slot != "number_of_riders" for d in model.decide(ctx, target))
    scored = {(c.slot.name, t.name) for c, t, _ in model.score_pairs(ctx, target)}
    assert ("time", "number_of_riders") not in scored  # the type gate never scores it


@pytest.mark.slow
def test_unseen_service_is_filled_from_its_descriptions(model, train_schemas, dev_schemas):
    ctx = [_value(train_schemas, "Weather_1", "city", "Yreka"),
           _value(train_schemas, "Weather_1", "date", "March 9th")]
    decided = {d.target_slot: d for d in model.decide(ctx, dev_schemas["Lodging_9"])}
    assert decided["town"].value == "Yreka"
    assert "arrival_date" not in decided  # weather dates never went to hotels in training
    assert any("never seen" in r for r in decided["town"].reasons)


@pytest.mark.slow
def test_what_carried_in_the_households_conversations_updates_decisions(model, train_schemas,
                                                                        dev_schemas):
    ctx = [_value(train_schemas, "Weather_1", "city", "Yreka"),
           _value(train_schemas, "Weather_1", "date", "March 9th")]
    lodging = dev_schemas["Lodging_9"]
    dates_carried, towns_not = CarryHistory(), CarryHistory()
    for city, day in [("Ukiah", "May 2nd"), ("Chico", "June 1st"), ("Napa", "July 4th")] * 2:
        earlier = [_value(train_schemas, "Weather_1", "city", city),
                   _value(train_schemas, "Weather_1", "date", day)]
        dates_carried.add(earlier, lodging, {"town": (city,), "arrival_date": (day,)})
        towns_not.add(earlier, lodging, {"town": ("Eureka",)})
    # training never took a weather date to a hotel; this household did, six times out of six
    decided = {d.target_slot: d for d in model.decide(ctx, lodging, history=dates_carried)}
    assert decided["arrival_date"].value == "March 9th" and decided["town"].value == "Yreka"
    assert decided["arrival_date"].reasons[0] == (
        "carried 6/6 times from date to arrival_date in this household's conversations")
    assert "arrival_date" not in {d.target_slot for d in model.decide(ctx, lodging)}
    # where its towns never came from the weather, the town is not carried either
    assert "town" not in {d.target_slot for d in model.decide(ctx, lodging, history=towns_not)}
    assert len(dates_carried) == 2 * 6 * len(lodging.slots)


def test_carry_history_counts_by_service_then_by_domain(train_schemas, dev_schemas):
    history = CarryHistory()
    city = _value(train_schemas, "Weather_1", "city", "Yreka")
    history.add([city], dev_schemas["Lodging_9"], {"town": ("yreka",)},
                exclude_slots={"arrival_date"})
    town = dev_schemas["Lodging_9"].slot("town")
    assert history.rate(city.slot, town) == (1.0, 1.0)
    assert history.rate(city.slot, dev_schemas["Lodging_9"].slot("arrival_date")) == (0.0, 0.0)
    # another weather service of the same domain: the domain's count
    assert history.rate(SlotSpec("Weather_7", "city"), town) == (1.0, 1.0)
    assert history.rate(SlotSpec("Movies_1", "city"), town) == (0.0, 0.0)


@pytest.mark.slow
def test_user_given_slots_are_left_alone(model, train_schemas):
    ctx = [_value(train_schemas, "Restaurants_1", "city", "Yreka"),
           _value(train_schemas, "Restaurants_1", "party_size", "2")]
    decided = model.decide(ctx, train_schemas["RideSharing_1"], exclude_slots={"destination"})
    assert [d.target_slot for d in decided] == ["number_of_riders"]


@pytest.mark.slow
def test_one_value_fills_at_most_one_slot(model, train_schemas):
    ctx = [_value(train_schemas, "Weather_1", "city", "Yreka")]
    decided = model.decide(ctx, train_schemas["Restaurants_1"], threshold=0.0)
    assert len(decided) == 1 and decided[0].value == "Yreka"


@pytest.mark.slow
def test_save_and_load_round_trip(model, train_schemas, dev_schemas, tmp_path):
    model.register_schemas(dev_schemas)
    model.save(tmp_path / "carry")
    config = json.loads((tmp_path / "carry" / "config.json").read_text())
    assert not list((tmp_path / "carry").glob("*.pkl"))
    loaded = CarryoverModel.load(tmp_path / "carry", embedder=_no_model)  # schemas come embedded
    assert config["train_summary"] == loaded.train_summary
    ctx = [_value(train_schemas, "Weather_1", "city", "Yreka"),
           _value(train_schemas, "Restaurants_1", "party_size", "2")]
    for target in (train_schemas["RideSharing_1"], dev_schemas["Lodging_9"]):
        assert loaded.decide(ctx, target) == model.decide(ctx, target)
        assert [p for *_, p in loaded.score_pairs(ctx, target)] == pytest.approx(
            [p for *_, p in model.score_pairs(ctx, target)])


@pytest.mark.slow
def test_warm_up_caches_every_compatible_pair(model, dev_schemas):
    model.register_schemas(dev_schemas)
    model.warm_up()
    assert model.warm_up() == 0  # nothing left to compute


def _later_only_dialogues(train_dialogues):
    """The fixture's train dialogues with every weather -> hotel dialogue of the kind where the
    hotel's location comes later, through a system question the user accepts ("In Modesto?"
    "Yes please."), in twelve cities."""
    later = [d for d in train_dialogues if d["dialogue_id"] == "2_003"]
    others = [d for d in train_dialogues if not d["dialogue_id"].startswith("2_")]
    cities = ["Yuma", "Bend", "Ukiah", "Lodi", "Merced", "Tulare", "Redding", "Eureka", "Turlock",
              "Oxnard", "Salinas", "Vallejo"]
    text = json.dumps(later[0])
    copies = [json.loads(text.replace("Modesto", city).replace("2_003", f"2_1{i:02d}"))
              for i, city in enumerate(cities)]
    return others + copies


@pytest.mark.slow
def test_first_frame_labels_leave_later_proposals_to_the_system(minilm, train_dialogues,
                                                                 train_schemas):
    dialogues = _later_only_dialogues(train_dialogues)
    points = list(iter_carry_points(dialogues, train_schemas))
    assert any(p.later and not p.gold for p in points)  # the hotel's location is only ever later
    first_frame = CarryoverModel(embedder=minilm, labels="first_frame").fit(dialogues,
                                                                            train_schemas)
    with_later = CarryoverModel(embedder=minilm).fit(dialogues, train_schemas)
    assert with_later.labels == "all"  # the default
    ctx = [_value(train_schemas, "Weather_1", "city", "Yreka")]
    hotel = train_schemas["Hotels_1"]
    assert [d.target_slot for d in with_later.decide(ctx, hotel)] == ["location"]
    assert first_frame.decide(ctx, hotel) == []
    # what the first frame does take is still carried
    ctx = [_value(train_schemas, "Restaurants_1", "city", "Yreka")]
    decided = first_frame.decide(ctx, train_schemas["RideSharing_1"])
    assert {d.target_slot for d in decided} == {"destination"}


@pytest.mark.slow
def test_validation_on_train_holds_out_what_each_regime_says(minilm, train_dialogues,
                                                             train_schemas):
    from reasoner.eval_carryover import REGIMES, validate_on_train

    points = list(iter_carry_points(train_dialogues, train_schemas))
    figures = validate_on_train(points, train_schemas, labels=("first_frame",), thresholds=(0.5,),
                                embedder=minilm)["first_frame"]
    assert set(figures) == set(REGIMES)
    for regime in REGIMES:
        f = figures[regime][0.5]
        assert f["rows"] > 0
        assert all(0.0 <= f[k] <= 1.0 for k in f if k != "rows")
    # four services, three domain pairs: held out, their carries are far harder to call
    seen = figures["seen"][0.5]["first_frame_f1"]
    assert seen > 0.8
    assert figures["new_service"][0.5]["first_frame_f1"] < seen
    assert figures["new_domain_pair"][0.5]["first_frame_f1"] < seen


@pytest.mark.slow
def test_eval_main_scores_model_and_baseline_in_one_run(capsys):
    from reasoner.eval_carryover import main

    assert main(["--data", str(FIXTURES), "--split", "dev", "--cache-dir", "", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["points"] == 4 and result["carryover_gold"] == 4
    assert result["carryover_f1"] == 1.0
    assert result["baseline_carryover_f1"] == 0.0  # Lodging_9.town is a new slot name
    assert {"with_later_carryover_f1", "baseline_with_later_carryover_f1", "decide_p95_ms"} <= set(result)
    # the issue's keys hold its definition: the carries into the new service's first frame
    assert result["first_frame_carryover_f1"] == result["carryover_f1"]


@pytest.mark.slow
def test_eval_sgd_takes_the_issues_files_and_scores_online_too(capsys):
    from reasoner.eval_carryover import sgd_main

    assert sgd_main(["--train", str(FIXTURES / "train_dialogues.json"),
                     "--test", str(FIXTURES / "dev_dialogues.json"),
                     "--schema", str(FIXTURES / "dev_schema.json"),
                     "--online", "--cache-dir", "", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["points"] == 4 and result["carryover_f1"] == 1.0
    keys = ("carryover_precision", "carryover_recall", "online_carryover_f1", "next_service_top1",
            "next_service_top3", "baseline_next_service_top1", "baseline_next_service_top3",
            "online_next_service_top3", "online_history_baseline_next_service_top3")
    assert all(0.0 <= result[k] <= 1.0 for k in keys)


@pytest.mark.slow
def test_eval_sgd_validates_carryover_and_next_service_inside_train(capsys):
    from reasoner.eval_carryover import sgd_main

    assert sgd_main(["--train", str(FIXTURES / "train_dialogues.json"),
                     "--test", str(FIXTURES / "dev_dialogues.json"),
                     "--schema", str(FIXTURES / "dev_schema.json"),
                     "--validate-train", "--labels", "all", "--groupings", "dialogue,file",
                     "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result["validation"]["all"]) == {"seen", "new_service", "new_domain_pair"}
    ns = result["next_service_validation"]
    assert set(ns) == {"dialogue", "file"}
    # the fixture's three files each teach one transition: held out by file, none was seen
    assert ns["file"]["unseen_pair_share"] == 1.0 and ns["dialogue"]["unseen_pair_share"] == 0.0
    assert ns["file"]["baseline_next_service_top1"] < ns["dialogue"]["baseline_next_service_top1"]


def test_loaders_say_what_a_file_should_hold(tmp_path):
    gz = tmp_path / "dialogues.json.gz"
    gz.write_bytes(b"not gzip at all")
    with pytest.raises(CarryoverError, match="cannot read .*pass an SGD dialogues file"):
        load_sgd_dialogues(gz)
    schema = tmp_path / "schema.json"
    schema.write_text('{"service_name": "Alarm_1"}', encoding="utf-8")
    with pytest.raises(CarryoverError, match="expected a JSON list of services"):
        load_sgd_schemas(schema)
    schema.write_text("[42]", encoding="utf-8")
    with pytest.raises(CarryoverError, match="not an SGD schema object"):
        load_sgd_schemas(schema)


def test_eval_sgd_says_where_the_train_schema_should_be(tmp_path):
    from reasoner.eval_carryover import sgd_main

    train = tmp_path / "mine.json"
    train.write_text("[]", encoding="utf-8")
    with pytest.raises(CarryoverError, match="pass --train-schema FILE"):
        sgd_main(["--train", str(train), "--test", str(FIXTURES / "dev_dialogues.json"),
                  "--schema", str(FIXTURES / "dev_schema.json"), "--json"])
    with pytest.raises(SystemExit, match="go together"):
        sgd_main(["--train", str(train), "--json"])
