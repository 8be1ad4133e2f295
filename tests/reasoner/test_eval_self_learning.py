"""The self-learning evaluation on a tiny hand-written SLURP-style fixture: requests grouped by
intent and entity values, the simulation, the report's keys, and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasoner.errors import IntentDataError
from reasoner.eval_self_learning import (
    CentroidClassifier,
    HashEncoder,
    main,
    paraphrase_groups,
    read_slurp,
    request_key,
    run,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "learning" / "tiny_slurp.jsonl"
KEYS = {"defect_rate_before", "defect_rate_after", "wrong_rewrite_rate", "defect_reduction",
        "rewrites_learned", "rewrites_applied", "rewrites_fixed", "wrong_rewrites",
        "n_test_requests", "n_train_requests", "n_households", "nlu"}


@pytest.fixture(scope="module")
def recs():
    return read_slurp(FIXTURE)


def test_requests_are_grouped_by_intent_and_entity_values(recs):
    assert request_key({"sentence": "wake me at eight", "intent": "alarm_set",
                        "sentence_annotation": "wake me at [time : Eight ]"}) == (
        "alarm_set", (("time", "eight"),))
    groups, nlu = paraphrase_groups(recs)
    assert sorted((g.intent, len(g.wordings)) for g in groups) == [
        ("alarm_set", 4), ("iot_hue_lighton", 3), ("play_music", 3), ("weather_query", 3)]
    assert len(nlu) == 20 and not {r["sentence"] for r in nlu} & {
        w for g in groups for w in g.wordings}           # the NLU never sees a simulated wording
    groups, _ = paraphrase_groups(recs, skip_intents=["alarm_set"])
    assert "alarm_set" not in {g.intent for g in groups}


def test_records_without_entities_can_be_kept_out_of_the_requests():
    recs = [{"sentence": s, "intent": "qa_factoid"} for s in
            ("how tall is the empire state building", "are jello shots calorie free")]
    recs += [{"sentence": "play wow", "intent": "play_music",
              "sentence_annotation": "play [song_name : wow]"},
             {"sentence": "put wow on", "intent": "play_music",
              "sentence_annotation": "put [song_name : wow] on"}]
    groups, _ = paraphrase_groups(recs)
    assert sorted(g.intent for g in groups) == ["play_music", "qa_factoid"]
    groups, nlu = paraphrase_groups(recs, require_entities=True)
    assert [g.intent for g in groups] == ["play_music"] and len(nlu) == 2


def test_the_fallback_classifier_learns_the_fixture(recs):
    _, nlu = paraphrase_groups(recs)
    clf = CentroidClassifier(HashEncoder()).fit([r["sentence"] for r in nlu],
                                                [r["intent"] for r in nlu])
    got = clf.predict(["play the beatles", "will it rain today"])
    assert [p.intent for p in got] == ["play_music", "weather_query"]


def test_eval_on_the_tiny_fixture_reports_the_rates(recs):
    out = run(recs, encoder=HashEncoder(), nlu_kind="centroid", seed=1, households=60,
              requests=6, min_sessions=2, log=lambda m: None)
    assert KEYS <= set(out)
    assert out["n_test_requests"] + out["n_train_requests"] == 360
    for key in ("defect_rate_before", "defect_rate_after", "wrong_rewrite_rate"):
        assert 0.0 <= out[key] <= 1.0
    # the fallback NLU misreads some wordings, and rewrites learned from rephrases fix some
    assert out["defect_rate_before"] > 0
    assert out["rewrites_learned"] >= 1 and out["rewrites_fixed"] >= 1
    assert out["defect_rate_after"] < out["defect_rate_before"]
    assert out["wrong_rewrites"] == 0


def test_eval_is_reproducible_with_a_seed(recs):
    a = run(recs, encoder=HashEncoder(), nlu_kind="centroid", seed=3, households=30, requests=4,
            log=lambda m: None)
    b = run(recs, encoder=HashEncoder(), nlu_kind="centroid", seed=3, households=30, requests=4,
            log=lambda m: None)
    drop = {"nlu_fit_seconds", "learn_seconds", "seconds"}
    assert {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}


def test_data_without_paraphrases_is_refused():
    recs = [{"sentence": "play jazz", "intent": "play_music"},
            {"sentence": "rain today", "intent": "weather_query"}]
    with pytest.raises(IntentDataError, match="two or more wordings"):
        run(recs, encoder=HashEncoder(), nlu_kind="centroid", log=lambda m: None)


def test_the_command_prints_one_json_object_last(capsys):
    code = main(["--format", "slurp", "--data", str(FIXTURE), "--seed", "0", "--json",
                 "--encoder", "hash", "--nlu", "centroid", "--households", "40",
                 "--requests", "4"])
    assert code == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    out = json.loads(last)
    assert KEYS <= set(out) and out["seed"] == 0 and out["format"] == "slurp"


def test_hearth_cli_passes_the_options_through(tmp_path):
    from typer.testing import CliRunner

    from hearth.cli import app
    r = CliRunner().invoke(app, ["eval", "self-learning", "--format", "slurp", "--data",
                                 str(FIXTURE), "--seed", "0", "--json", "--encoder", "hash",
                                 "--nlu", "centroid", "--households", "20", "--requests", "3"])
    assert r.exit_code == 0, r.output
    assert "defect_rate_after" in json.loads(r.output.strip().splitlines()[-1])
    r = CliRunner().invoke(app, ["eval", "self-learning", "--format", "slurp", "--data",
                                 str(tmp_path / "missing.jsonl"), "--encoder", "hash"])
    assert r.exit_code == 1


# -- learned meanings in the evaluation --------------------------------------------------------

def _rec(sentence, intent, entities=()):
    ann = sentence
    for typ, value in entities:
        ann = ann.replace(value, f"[{typ} : {value}]")
    return {"sentence": sentence, "intent": intent, "sentence_annotation": ann}


# Three requests. "Dim the lights to ten" is read as lights_off in every wording (the NLU's
# second guess is right), so no rewrite into another wording can fix it; "lights off in the
# hall" works in every wording; "play some jazz" fails in one wording and works in the other.
MEANING_RECS = (
    [_rec(s, "iot_hue_lightdim", [("change_amount", "ten")]) for s in (
        "dim the lights to ten", "lights down to ten", "turn the lights down to ten")]
    + [_rec(s, "iot_hue_lightoff", [("house_place", "hall")]) for s in (
        "lights off in the hall", "turn off the hall lights")]
    + [_rec(s, "play_music", [("music_genre", "jazz")]) for s in ("play some jazz", "jazz please")]
    + [_rec("switch off the lamp", "iot_hue_lightoff"), _rec("dim it", "iot_hue_lightdim"),
       _rec("play a song", "play_music")])
READ = {"iot_hue_lightdim": ("iot_hue_lightoff", ("iot_hue_lightoff", "iot_hue_lightdim")),
        "iot_hue_lightoff": ("iot_hue_lightoff", ("iot_hue_lightoff", "iot_hue_lightdim")),
        "play some jazz": (None, ("play_music",)), "jazz please": ("play_music", ("play_music",))}


class FixedNLU:
    """Reads each wording as READ says (by its words, else by its request's intent)."""

    def __init__(self, recs):
        self.intent = {r["sentence"]: r["intent"] for r in recs}

    def predict(self, texts):
        from reasoner.eval_self_learning import Reading
        out = []
        for t in texts:
            intent, alts = READ.get(t) or READ[self.intent[t]]
            out.append(Reading(intent, intent is None, alts))
        return out


@pytest.fixture
def fixed_nlu(monkeypatch):
    import reasoner.eval_self_learning as ev
    monkeypatch.setattr(ev, "build_nlu", lambda kind, enc, texts, labels, seed: (
        FixedNLU(MEANING_RECS), "fixed"))


def test_meanings_fix_a_request_no_rewrite_can_and_leave_working_ones_alone(fixed_nlu):
    common = dict(encoder=HashEncoder(), seed=4, households=80, requests=4, min_sessions=2,
                  log=lambda m: None)
    words = run(MEANING_RECS, meanings=False, **common)
    both = run(MEANING_RECS, **common)
    assert words["defect_rate_before"] == both["defect_rate_before"] > 0
    # every wording of the dimming request fails: no word rewrite fixes it, the meanings do
    assert both["meanings_learned"] >= 1 and both["meanings_fixed_next_reading"] >= 1
    assert both["defect_rate_after"] < words["defect_rate_after"]
    assert both["wrong_rewrites"] == 0 and both["wrong_rewrite_rate"] == 0.0
    assert both["meanings_applied_next_reading"] == both["meanings_fixed_next_reading"]


def test_the_literal_grouping_is_the_default_and_the_entity_reading_an_option(capsys):
    base = ["--format", "slurp", "--data", str(FIXTURE), "--seed", "0", "--json", "--encoder",
            "hash", "--nlu", "centroid", "--households", "20", "--requests", "3"]
    assert main(base) == 0
    literal = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(base + ["--require-entities", "--no-meanings"]) == 0
    entities = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (literal["require_entities"], literal["meanings"]) == (False, True)
    assert (entities["require_entities"], entities["meanings"]) == (True, False)
