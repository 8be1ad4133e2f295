"""Next-service ranking (reasoner.transitions) on the hand-made SGD fixtures.

In tests/fixtures/sgd/train_dialogues.json a restaurant is always followed by a cab (10 times) or
the weather (6 times), and the weather by a hotel (10 times); the dev schema adds Lodging_9, a
place-to-stay service the train split never shows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasoner.carryover import CarryoverError, MiniLMEmbedder, load_sgd_dialogues, load_sgd_schemas
from reasoner.transitions import (
    DomainBaseline,
    TransitionHistory,
    TransitionModel,
    evaluate,
    iter_transition_points,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sgd"


@pytest.fixture(scope="session")
def schemas():
    return load_sgd_schemas(FIXTURES / "train_schema.json")


@pytest.fixture(scope="session")
def dev_schemas():
    return load_sgd_schemas(FIXTURES / "dev_schema.json")


@pytest.fixture(scope="session")
def points(schemas):
    return iter_transition_points(load_sgd_dialogues(FIXTURES / "train_dialogues.json"), schemas,
                                  with_context=True)


@pytest.fixture(scope="session")
def minilm():
    return MiniLMEmbedder()


@pytest.fixture()
def model(minilm, schemas, points):
    return TransitionModel(embedder=minilm).fit([], schemas, points=points)


def _no_model(texts):
    raise AssertionError("the embedding model was called")


def test_points_list_history_intents_and_next_service(points):
    assert len(points) == 26
    first = points[0]
    assert first.history == ("Restaurants_1",) and first.next_service == "RideSharing_1"
    assert first.intents == ("Restaurants_1:FindRestaurants", "Restaurants_1:ReserveRestaurant")
    assert {c.slot.key for c in first.context} >= {"Restaurants_1.city", "Restaurants_1.party_size"}


def test_baseline_ranks_by_domain_transitions_then_frequency(points):
    baseline = DomainBaseline().fit(points)
    ranked = [r.service for r in baseline.rank(["Restaurants_1"], ["Hotels_1", "Weather_1", "RideSharing_1"])]
    assert ranked == ["RideSharing_1", "Weather_1", "Hotels_1"]
    # an unseen last domain backs off to how often each domain follows anything
    ranked = [r.service for r in baseline.rank(["Alarm_1"], ["Weather_1", "Hotels_1", "RideSharing_1"])]
    assert ranked[0] in ("Hotels_1", "RideSharing_1") and ranked[-1] == "Weather_1"


def test_ranking_before_fitting_says_what_to_do():
    with pytest.raises(CarryoverError, match="not fitted"):
        TransitionModel(embedder=_no_model).rank(["Restaurants_1"], ["Weather_1"])


@pytest.mark.slow
def test_model_learns_an_obvious_pattern(model):
    assert model.rank(["Restaurants_1"])[0].service == "RideSharing_1"
    assert model.rank(["Weather_1"])[0].service == "Hotels_1"
    # services already used are never offered again
    assert "Weather_1" not in [r.service for r in model.rank(["Restaurants_1", "Weather_1"])]


@pytest.mark.slow
def test_unseen_service_is_ranked_by_its_description(model, dev_schemas):
    model.register_schemas(dev_schemas)
    # neither ever followed the weather in training; Lodging_9 reads like Hotels_1, which did
    ranked = model.rank(["Weather_1"], ["RideSharing_1", "Lodging_9"])
    assert [r.service for r in ranked] == ["Lodging_9", "RideSharing_1"]
    assert any(reason.startswith("knn") for reason in ranked[0].reasons)


@pytest.mark.slow
def test_household_history_shifts_the_ranking(model):
    assert model.rank(["Weather_1"], ["Hotels_1", "RideSharing_1"])[0].service == "Hotels_1"
    for _ in range(40):
        model.observe(["Weather_1"], "RideSharing_1", hour=19)
    top = model.rank(["Weather_1"], ["Hotels_1", "RideSharing_1"])[0]
    assert top.service == "RideSharing_1"
    assert top.reasons[0] == "household 40 of 40 after Weather_1"


@pytest.mark.slow
def test_a_few_of_the_households_own_transitions_outweigh_the_population(model):
    # the train split never goes from a restaurant to a hotel; this household did, three times
    own = TransitionHistory.of([(["Restaurants_1"], "Hotels_1")] * 3)
    cands = ["Hotels_1", "RideSharing_1", "Weather_1"]
    assert model.rank(["Restaurants_1"], cands)[0].service == "RideSharing_1"
    assert model.rank(["Restaurants_1"], cands, household=own)[0].service == "Hotels_1"
    # one household's history never reaches another's ranking, nor the shared model's
    assert model.rank(["Restaurants_1"], cands, household=TransitionHistory())[0].service == \
        "RideSharing_1"
    assert len(model.history) == 0


@pytest.mark.slow
def test_a_service_new_to_the_household_reads_what_it_did_after_that_domain(model, dev_schemas):
    model.register_schemas(dev_schemas)
    own = TransitionHistory.of([(["Weather_1"], "RideSharing_1")] * 6)
    # the household never used Weather_2, but six times took a cab after a weather service
    ranked = model.rank(["Weather_2"], ["Hotels_1", "RideSharing_1", "Lodging_9"], household=own)
    assert ranked[0].service == "RideSharing_1"
    assert ranked[0].reasons[0].startswith("household 6 of 6 after Weather")


def test_history_counts_by_service_domain_and_hour():
    h = TransitionHistory.of([(["Restaurants_1"], "RideSharing_1", 19),
                              (["Restaurants_1", "Movies_1"], "RideSharing_2", 20)])
    assert len(h) == 2 and h.after("Restaurants_1") == 1 and h.after("Movies_1") == 1
    assert h.dom[("Restaurants", "RideSharing")] == 1 and h.dom[("Movies", "RideSharing")] == 1
    assert h.hours[(6, "RideSharing")] == 2
    again = TransitionHistory.from_json(json.loads(json.dumps(h.to_json())))
    assert (again.svc, again.svc_out, again.dom, again.dom_out, again.hours) == \
        (h.svc, h.svc_out, h.dom, h.dom_out, h.hours)


@pytest.mark.slow
def test_save_and_load_round_trip(model, tmp_path):
    model.observe(["Restaurants_1"], "Weather_1", hour=8)
    path = model.save(tmp_path / "transitions.json")
    loaded = TransitionModel.load(path, embedder=_no_model)
    for history in (["Restaurants_1"], ["Weather_1"], ["Restaurants_1", "RideSharing_1"]):
        assert [(r.service, round(r.score, 6)) for r in loaded.rank(history, hour=8)] == \
               [(r.service, round(r.score, 6)) for r in model.rank(history, hour=8)]


@pytest.mark.slow
def test_evaluate_scores_model_and_baseline_on_the_same_candidates(model, points, schemas):
    result = evaluate(model, DomainBaseline().fit(points), points, sorted(schemas))
    assert result["points"] == 26
    assert result["next_service_top1"] >= 0.6
    assert result["next_service_top3"] == 1.0 and result["baseline_next_service_top3"] == 1.0


@pytest.mark.slow
def test_main_prints_one_json_line(capsys):
    from reasoner.transitions import main

    assert main(["--data", str(FIXTURES), "--split", "dev", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["points"] == 4 and result["candidates"] == 4
    keys = ("next_service_top1", "next_service_top3", "baseline_next_service_top1",
            "baseline_next_service_top3")
    assert all(0.0 <= result[k] <= 1.0 for k in keys)
    # three candidates are left after the weather, so any ranking holds the answer in its top 3
    assert result["next_service_top3"] == result["baseline_next_service_top3"] == 1.0


def test_validation_groups_say_what_they_hold_out(points):
    from reasoner.transitions import _group_of

    files = _group_of(points, "file")
    assert files["1_003"] == "1" and files["3_000"] == "3"
    combos = _group_of(points, "combination")
    assert combos["1_003"] == "Restaurants+RideSharing" and combos["2_000"] == "Hotels+Weather"
    assert len(set(_group_of(points, "dialogue").values())) == 26
    with pytest.raises(CarryoverError, match="grouping must be one of"):
        _group_of(points, "household")


@pytest.mark.slow
def test_validation_by_file_holds_out_the_transitions_a_file_teaches(points, schemas, minilm):
    from reasoner.transitions import validate_on_train

    # by dialogue, the other dialogues of a file teach its transition: the baseline gets the
    # cab after a restaurant (file 1) and the hotel after the weather (file 2) right, 20 of 26
    by_dialogue = validate_on_train(points, schemas, grouping="dialogue", embedder=minilm)
    assert by_dialogue["points"] == 26 and by_dialogue["unseen_pair_share"] == 0.0
    assert by_dialogue["baseline_next_service_top1"] == round(20 / 26, 4)
    # by file, each file's one transition is never seen in training: no count can rank it first
    by_file = validate_on_train(points, schemas, grouping="file", embedder=minilm)
    assert by_file["folds"] == 3 and by_file["unseen_pair_share"] == 1.0
    assert by_file["baseline_next_service_top1"] == 0.0
    assert 0.0 <= by_file["next_service_top1"] <= by_file["next_service_top3"] <= 1.0
