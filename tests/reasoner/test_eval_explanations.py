"""hearth eval explanations: the deletion test over the engine's scored decisions, and the times."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hearth.demo import DEMO_DAY
from kg.household import Hearth
from kg.ingest import parse_lines
from reasoner import eval_explanations as EV
from reasoner.pipeline import Pipeline
from reasoner.understanding import IntentPrediction

FIXTURES = Path(__file__).parents[1] / "fixtures" / "explanations"
KEYS = {"top_k_drop", "random_k_drop", "explain_p95_ms", "rule_explain_p95_ms",
        "shapley_explain_p95_ms", "decisions", "k", "by_source", "by_kind"}


class Keywords:
    """A stand-in intent classifier: a keyword decides the intent; longer utterances are a
    little more certain."""

    KEYWORDS = {"weather": "weather.forecast", "lights": "lights.turn_on"}

    def predict(self, texts):
        out = []
        for t in texts:
            words = re.findall(r"[a-z']+", t.lower())
            label = next((self.KEYWORDS[w] for w in words if w in self.KEYWORDS), None)
            conf = min(1.0, 0.3 + 0.6 * (label is not None) + 0.01 * len(words))
            out.append(IntentPrediction(label, conf, label is None, (), conf))
        return out


@pytest.fixture(scope="module")
def demo():
    """The demo day with the rules, patterns and hunches (no model)."""
    events, _ = parse_lines(DEMO_DAY.read_text().splitlines())
    home = Hearth.in_memory().create_household("rivera", time=events[0].time)
    Pipeline.from_names(["rules", "patterns", "hunches"]).attach(home)
    for e in events:
        home.append(e)
    return home


def test_the_deletion_test_separates_top_from_random_features(demo):
    result = EV.evaluate(data=FIXTURES, dev="hwu64", dev_samples=10, k=2, home=demo,
                         classifier=Keywords(), log=lambda *a: None)
    assert KEYS <= set(result)
    assert result["by_source"]["hwu64"]["decisions"] == 10
    assert result["by_source"]["demo"]["decisions"] == 1          # the porch-light hunch
    assert result["top_k_drop"] > result["random_k_drop"] + 0.1
    assert result["reach_input_events"] == 1.0
    assert result["rule_explanations"] > 20 and result["rule_explain_p95_ms"] > 0
    json.dumps(result)


def test_dev_utterances_are_a_seeded_sample():
    one = EV.dev_utterances(FIXTURES, "hwu64", n=4, seed=1)
    assert one == EV.dev_utterances(FIXTURES, "hwu64", n=4, seed=1) and len(set(one)) == 4
    with pytest.raises(SystemExit, match="unknown dev data set"):
        EV.dev_utterances(FIXTURES, "snips", n=4, seed=1)


def test_main_prints_one_json_object_last(demo, monkeypatch, capsys):
    monkeypatch.setattr(EV, "demo_household", lambda: demo)
    assert EV.main(["--dev", "none", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert KEYS <= set(result) and result["dev_data"] is None
    with pytest.raises(SystemExit, match="no data folder"):
        EV.main(["--data", str(FIXTURES / "missing"), "--json"])
