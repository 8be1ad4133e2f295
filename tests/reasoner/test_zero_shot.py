"""Zero-shot intents from names: typical requests from the name's shape, lexicon and domain
expansions, the expansion cache, and the mapping beating similarity to the bare name on a tiny
hand-written set."""

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


# Names outside CLINC150 on purpose: the rules are generic, not a table of a data set's intents.
@pytest.mark.parametrize("name, expected", [
    ("change_bot_name", "change your name"),                 # the assistant's side
    ("change_user_name", "change my name"),                  # the speaker's side
    ("parcel_delayed", "why is my parcel delayed"),          # trailing participle
    ("lost_keys", "I lost my keys"),                         # leading irregular participle
    ("payment_due", "when is my payment due"),               # trailing adjective
    ("movie_suggestion", "suggest a movie"),                 # nominalisation → its verb
    ("expiration_date", "when does it expire"),
    ("spending_history", "what have I spent"),               # record + irregular past
    ("distance", "how far is it"),                           # attribute adjective
    ("grocery_list", "what is on my grocery list"),          # a list is read
    ("grocery_list_update", "add this to my grocery list"),  # and added to
    ("alarm_update", "set an alarm"),                        # anything else is set
    ("milk_last", "how long does milk last"),                # trailing verb
    ("what_movie", "what movie is this"),
    ("next_train", "when is the next train"),
    ("vacation_request", "request vacation"),
    ("meeting_schedule", "what meetings do I have"),
])
def test_generic_rules_shape_requests_from_parts_of_speech_and_wordnet(lexicon, name, expected):
    assert expected in typical_requests(name, lexicon)


def test_a_gerund_or_participle_does_not_open_an_imperative(lexicon):
    requests = typical_requests("meeting_schedule", lexicon)
    assert "meeting my schedule" not in requests
    assert "lost my luggage" not in typical_requests("lost_luggage", lexicon)
    assert "schedule my meeting" in typical_requests("schedule_meeting", lexicon)


def test_without_a_lexicon_the_frames_still_apply():
    assert "change my pin" in typical_requests("pin_change")
    assert "what is my interest rate" in typical_requests("interest_rate")
    assert typical_requests("") == [""]


def test_a_name_that_is_itself_said_is_said_not_asked_about(lexicon):
    for name in ("goodbye", "maybe", "thank_you"):
        requests = typical_requests(name, lexicon)
        said = name.replace("_", " ")
        assert f"I said {said}" in requests
        assert f"what is my {said}" not in requests
    assert "I said weather" not in typical_requests("weather", lexicon)


def test_the_domain_gives_context_texts(lexicon):
    texts = {e.text: e.source for e in expand_name("balance", domain="banking",
                                                   lexicon=lexicon)}
    assert texts["banking: balance"] == "domain"
    assert texts["balance (banking)"] == "domain"
    assert texts["banking: what is my balance"] == "domain"
    assert texts["what is my balance"] == "template"
    kitchen = {e.text for e in expand_name("recipe", domain="kitchen_and_dining")}
    assert "kitchen and dining: recipe" in kitchen
    assert not any(s == "domain" for s in
                   (e.source for e in expand_name("balance", lexicon=lexicon)))


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
    assert set(result) >= {"top1", "top3", "baseline_top1", "baseline_top3",
                           "lexicon_off_top1", "domain_off_top1", "templates_only_top1",
                           "no_lexicon_top1"}


class CountingEncoder(BagOfWords):
    def __init__(self):
        self.encoded = 0

    def encode(self, texts):
        self.encoded += len(texts)
        return super().encode(texts)


def test_expansion_embeddings_are_cached_and_the_result_is_the_same(lexicon, tmp_path):
    texts, gold, names, domains = load_clinc150(TINY / "data_full.json", split="val")
    first_encoder, second_encoder = CountingEncoder(), CountingEncoder()
    first = evaluate(texts, gold, names, first_encoder, domains=domains, lexicon=lexicon,
                     cache=tmp_path)
    second = evaluate(texts, gold, names, second_encoder, domains=domains, lexicon=lexicon,
                      cache=tmp_path)
    assert list(tmp_path.glob("expansions-*.npz"))
    assert second_encoder.encoded == len(texts)  # only the utterances, never the expansions
    assert first_encoder.encoded > second_encoder.encoded
    first.pop("elapsed_s"), second.pop("elapsed_s")
    assert first == second


@pytest.fixture(scope="session")
def minilm():
    from reasoner.embeddings import get_encoder
    return get_encoder("minilm")


# Hand-written requests for names outside CLINC150: the expansion must do better than
# the bare name, and place every intent in its top three.
HOUSEHOLD = {
    "put milk on my grocery list": "grocery_list_update",
    "what's on the grocery list": "grocery_list",
    "I'd like to give you a different name": "change_bot_name",
    "recommend a film for tonight": "movie_suggestion",
    "when does the next train leave": "next_train",
    "why is my package late": "parcel_delayed",
}


@pytest.mark.slow
def test_with_minilm_the_expansion_beats_the_bare_names(lexicon, minilm):
    names = sorted(set(HOUSEHOLD.values()))
    texts = list(HOUSEHOLD)
    model = ZeroShotIntents(names, minilm, lexicon=lexicon)
    ranked = model.rank(texts, top=3)
    expanded_hits = sum(r[0][0] == HOUSEHOLD[t] for t, r in zip(texts, ranked))
    bare = minilm.encode(texts) @ model.name_vectors.T
    bare_hits = sum(names[j] == HOUSEHOLD[t] for t, j in zip(texts, bare.argmax(axis=1)))
    assert expanded_hits > bare_hits
    assert expanded_hits >= len(texts) - 1
    assert all(HOUSEHOLD[t] in [n for n, _ in r] for t, r in zip(texts, ranked))
