"""`hearth eval intents`: the fine-tuning and ensemble flags, and the SLURP fold split's seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasoner.errors import IntentDataError
from reasoner.eval_intents import ensemble_members, finetune_options, main, parser, slurp_intent

TINY_SLURP = Path(__file__).resolve().parents[1] / "fixtures" / "learning" / "tiny_slurp.jsonl"


def _args(*extra: str):
    return parser().parse_args(["--format", "slurp", "--data", str(TINY_SLURP), *extra])


def test_fine_tuning_flags_become_finetune_encoder_options():
    args = _args("--finetune-epochs", "10", "--finetune-lr", "2e-4", "--finetune-head-lr", "1e-2",
                 "--finetune-freeze-layers", "3", "--finetune-batch-size", "16")
    assert finetune_options(args) == {"learning_rate": 2e-4, "head_learning_rate": 1e-2,
                                      "freeze_layers": 3, "batch_size": 16}


def test_unset_fine_tuning_flags_keep_the_defaults():
    # nothing passed on: finetune_encoder's defaults (and its cache keys) stay as they were
    assert finetune_options(_args("--finetune-epochs", "2")) == {}


@pytest.mark.parametrize("extra, adapted, members", [
    ((), False, ["encoder"]),
    ((), True, ["encoder", "plain"]),
    (("--finetune-epochs", "3"), False, ["finetuned", "encoder"]),
    (("--finetune-epochs", "3"), True, ["finetuned", "encoder", "plain"]),
])
def test_ensemble_members_are_the_frozen_encoders_that_differ(extra, adapted, members):
    assert ensemble_members(_args("--ensemble", *extra), adapted=adapted) == members


def test_ensemble_is_refused_outside_slurp(capsys):
    code = main(["--format", "hwu64", "--train", "x", "--test", "y", "--ensemble"])
    assert code == 2 and "--format slurp only" in capsys.readouterr().err


@pytest.mark.slow
def test_slurp_with_fine_tuning_and_an_ensemble_reports_its_settings(capsys):
    code = main(["--format", "slurp", "--data", str(TINY_SLURP), "--folds", "2", "--split-seed", "3",
                 "--finetune-epochs", "1", "--finetune-lr", "1e-4", "--finetune-freeze-layers", "5",
                 "--ensemble", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ensemble"] == ["finetuned", "encoder"]
    assert out["finetune"] == {"epochs": 1, "learning_rate": 1e-4, "freeze_layers": 5}
    assert out["split_seed"] == 3 and out["folds"] == 2 and out["n_records"] == 33
    # the fixture's intents are far apart: the fine-tuned ensemble still tells most of them apart
    assert out["intent_accuracy"] >= 70.0


def test_slurp_intents_are_scenario_and_action_as_slurps_scorer_reads_them():
    # a few SLURP records hold the action alone in "intent": "query" is weather_query here and
    # calendar_query there; the scenario and action fields say which
    assert slurp_intent({"intent": "query", "scenario": "weather", "action": "query"}) == "weather_query"
    assert slurp_intent({"intent": "query", "scenario": "calendar", "action": "query"}) == "calendar_query"
    assert slurp_intent({"intent": "music", "scenario": "play", "action": "music"}) == "play_music"
    # records without the two fields keep their intent; one with nothing is refused, by id
    assert slurp_intent({"intent": "alarm_set"}) == "alarm_set"
    with pytest.raises(IntentDataError, match="record 7 has neither"):
        slurp_intent({"slurp_id": 7, "sentence": "hello"})
