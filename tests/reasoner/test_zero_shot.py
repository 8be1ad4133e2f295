"""Zero-shot intents from names: typical requests from the name's shape, lexicon expansions,
and the mapping beating similarity to the bare name on a tiny hand-written set."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from connectors.lexicon import Lexicon
from reasoner.eval_zero_shot import (ZeroShotIntents, evaluate, expand_name, load_clinc150,
                                     typical_requests)

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "resolution" / "clinc_tiny"


class BagOfWords:
    """Hashed words: "change my pin" is near "change pin", and far from "pin_change"."""

    dim = 512

    def encode(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for n, text in enumerate(texts):
            for word in text.lower().replace("?", " ").split():
                out[n, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / (np.linalg.norm(out, axis=1, keepdims=True) + 1e-9)


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon.default()


@pytest.mark.parametrize("name, expected", [
    ("pin_change", "change my pin"),
    ("freeze_account", "I want to freeze my account"),
    ("interest_rate", "what is my interest rate"),
    ("oil_change_when", "when should I oil change"),
    ("pto_request_status", "what is the status of my pto request"),
    ("how_old_are_you", "how old are you?"),
])
def test_typical_requests_follow_the_shape_of_the_name(lexicon, name, expected):
    assert expected in typical_requests(name, lexicon)


def test_a_noun_name_is_asked_about_and_a_verb_name_is_asked_for(lexicon):
    assert "what is my balance" in typical_requests("balance", lexicon)
    assert "please translate" in typical_requests("translate", lexicon)
    assert "please interest rate" not in typical_requests("interest_rate", lexicon)


def test_the_lexicon_expands_names_it_knows(lexicon):
    texts = {e.text: e.source for e in expand_name("interest_rate", lexicon=lexicon)}
    assert any(t.startswith("interest rate: the percentage") for t in texts)
    assert texts.get("rate of interest") == "wordnet"
    kinds = {e.text for e in expand_name("greeting", lexicon=lexicon) if e.source == "wordnet"}
    assert {"salutation", "welcome"} <= kinds
    assert expand_name("xyzzy_plugh", lexicon=lexicon)[0].text == "xyzzy_plugh"


def test_zero_shot_maps_utterances_the_bare_names_miss(lexicon):
    names = ["pin_change", "what_is_your_name", "book_flight", "interest_rate"]
    model = ZeroShotIntents(names, BagOfWords(), lexicon=lexicon)
    ranked = model.rank(["can you change my pin", "tell me your name",
                         "I want to book my flight", "what is the interest rate"])
    assert [r[0][0] for r in ranked] == names
    plain = BagOfWords().encode(["can you change my pin"]) @ model.name_vectors.T
    assert plain.max() == 0  # the names as written share no word with it


def test_evaluation_on_a_tiny_clinc_split_reads_only_the_split_and_beats_the_baseline(lexicon):
    texts, gold, names, domains = load_clinc150(TINY / "data_full.json", split="val")
    assert "oos" not in gold and len(texts) == 8
    assert "a training utterance is never read" not in texts
    assert domains["book_flight"] == "travel"
    result = evaluate(texts, gold, names, BagOfWords(), domains=domains, lexicon=lexicon)
    assert result["top1"] > result["baseline_top1"]
    assert result["top3"] >= result["top1"] and result["utterances"] == 8
    assert set(result) >= {"top1", "top3", "baseline_top1", "baseline_top3"}
