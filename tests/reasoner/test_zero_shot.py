"""Zero-shot intents from names: typical requests from the name's shape, lexicon and domain
expansions, the expansion cache, and the mapping beating similarity to the bare name on a tiny
hand-written set."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from connectors.lexicon import Glossary, Lexicon
from reasoner.eval_zero_shot import (SCORING_ABLATIONS, SHAPE_FEATURES, Expansion,
                                     ZeroShotIntents, evaluate, expand_name, glossary_requests,
                                     lexicon_expansions, load_clinc150, request_shape,
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


# -- the glossary, and the rules WordNet's senses and examples drive ------------------------------

SMALL_GLOSSARY = Path(__file__).resolve().parents[1] / "fixtures" / "connectors" / \
    "glossary_small.yaml"


@pytest.fixture(scope="module")
def glossary():
    return Glossary.from_file(SMALL_GLOSSARY)


def test_the_glossary_tells_the_part_of_speech_of_a_term_wordnet_misreads(lexicon, glossary):
    assert "set my point" in typical_requests("set_point", lexicon)  # "set" read as a verb
    requests = typical_requests("set_point", lexicon, glossary=glossary)
    assert "what is my set point" in requests
    assert "set my point" not in requests


def test_glossary_requests_spell_the_term_out_and_ask_for_its_use(lexicon, glossary):
    requests = glossary_requests("hvac_status", lexicon, glossary=glossary)
    assert "what is the status of my heating, ventilation and air conditioning" in requests
    assert "what is the status of my climate control" in requests
    assert "can you keep the house warm" in requests
    assert glossary_requests("hvac_status", lexicon) == []  # no glossary, nothing spelt out


def test_the_glossary_works_without_wordnet(glossary):
    assert "update my set point" in typical_requests("set_point_update", glossary=glossary)
    assert "what is the status of my arrival time" in glossary_requests("eta_status",
                                                                        glossary=glossary)


def test_a_glossary_sense_applies_only_in_its_subject_field(lexicon, glossary):
    food = glossary_requests("sub_order", lexicon, glossary=glossary, domain="food_and_drink")
    assert "what is my submarine sandwich order" in food
    assert glossary_requests("sub_order", lexicon, glossary=glossary, domain="travel") == []


def test_glossary_texts_stand_in_the_domain_and_replace_wordnets_misreading(lexicon, glossary):
    texts = {e.text: e.source for e in expand_name("eta", domain="travel", lexicon=lexicon,
                                                   glossary=glossary)}
    assert texts["travel: eta: estimated time of arrival"] == "glossary"
    assert texts["travel: what is my arrival time"] == "glossary"
    assert "what is my arrival time" not in texts  # bare, only without a domain
    assert not any("terrorist" in t for t in texts)  # WordNet's ETA, the Basque organisation
    assert any("terrorist" in t for t in lexicon_expansions("eta", lexicon))
    bare = {e.text for e in expand_name("eta", lexicon=lexicon, glossary=glossary)
            if e.source == "glossary"}
    assert "what is my arrival time" in bare


def test_a_noun_opens_as_a_verb_when_wordnet_shows_it_taking_the_object(lexicon):
    # "book": "reserve me a seat on a flight" (an example of its second verb sense)
    assert "book a seat" in typical_requests("book_seat", lexicon)
    requests = typical_requests("book_club", lexicon)
    assert "book a club" not in requests and "what is my book club" in requests


@pytest.mark.parametrize("name, expected", [
    ("who_do_you_live_with", "tell me who you live with"),
    ("are_you_a_robot", "I want to know if you are a robot"),
    ("what_is_your_job", "tell me what your job is"),
    ("where_are_you_based", "I'd like to know where you are based"),
])
def test_a_question_name_is_also_embedded_as_a_question(lexicon, name, expected):
    assert expected in typical_requests(name, lexicon)


@pytest.mark.parametrize("name, expected", [
    ("route", "how do I get there"),                          # a path is followed
    ("savings_balance", "how much savings do I have left"),   # a possession is an amount
    ("day", "what day is it"),                                # a time unit is asked for
    ("tell_story", "tell me a story"),                        # a verb of telling takes a hearer
    ("change_bot_name", "call you something else"),           # change_X is X_change
])
def test_more_request_shapes_from_wordnet_classes(lexicon, name, expected):
    assert expected in typical_requests(name, lexicon)


def test_a_list_is_read_not_merely_needed(lexicon):
    requests = typical_requests("grocery_list", lexicon)
    assert "what is on my grocery list" in requests
    assert "I need the grocery list" not in requests  # as likely to be about adding to it
    assert "I need the phone bill" in typical_requests("phone_bill", lexicon)


def test_evaluation_reports_the_glossary_and_domain_ablations(lexicon):
    texts, gold, names, domains = load_clinc150(TINY / "data_full.json", split="val")
    shipped = Glossary.default()
    result = evaluate(texts, gold, names, BagOfWords(), domains=domains, lexicon=lexicon,
                      glossary=shipped)
    assert result["glossary_terms"] == len(shipped)
    assert set(result) >= {"glossary_off_top1", "glossary_off_top3", "domain_off_top1",
                           "no_lexicon_top1", "lexicon_off_top1", "templates_only_top1"}
    assert result["expansions"]["glossary"] > 0  # "pin" in banking: personal identification number
    without = evaluate(texts, gold, names, BagOfWords(), domains=domains, lexicon=lexicon)
    assert without["glossary_terms"] == 0 and "glossary" not in without["expansions"]
    assert without["top1"] == result["glossary_off_top1"]


def test_a_one_word_name_met_as_often_as_a_verb_is_read_both_ways(lexicon):
    # SemCor: "review" 25 verb uses to 7 noun uses, but WordNet lists more noun senses
    requests = typical_requests("review", lexicon)
    assert "I want to review" in requests and "what is my review" in requests
    requests = typical_requests("film", lexicon)  # 2 verb uses to 64 noun uses
    assert "I want to film" not in requests and "what is my film" in requests
    assert "I want to review" not in typical_requests("review")  # no lexicon, no frequencies


# -- scoring: the domain's best score, and siblings told apart by their words ---------------------

class Table:
    """An encoder that looks texts up in a table of hand-set vectors."""

    def __init__(self, rows):
        self.rows = {t: np.asarray(v, dtype=np.float32) for t, v in rows.items()}

    def encode(self, texts):
        return np.stack([self.rows[t] for t in texts])


def _expansions(texts_of):
    return {n: [Expansion(t, "template") for t in texts] for n, texts in texts_of.items()}


LISTS = {"grocery_list": ["what is on my grocery list", "read my grocery list"],
         "grocery_list_update": ["add eggs to my grocery list", "remove it from my grocery list"],
         "weather": ["what is the weather", "is it raining"]}


def _lists_model(encoder_rows, **settings):
    rows = {"what is on my grocery list": [1, 0, 0], "read my grocery list": [1, 0, 0],
            "add eggs to my grocery list": [0, 1, 0], "remove it from my grocery list": [0, 1, 0],
            "what is the weather": [0, 0, 1], "is it raining": [0, 0, 1],
            "grocery_list": [1, 0, 0], "grocery_list_update": [0, 1, 0], "weather": [0, 0, 1],
            **encoder_rows}
    return ZeroShotIntents(list(LISTS), Table(rows), expansions=_expansions(LISTS), k=1,
                           lexicon=None, **settings)


def test_sibling_intents_are_told_apart_by_the_words_of_their_texts():
    utterance = "add bread to my grocery list"
    rows = {utterance: [1.0, 0.96, 0.0]}  # the embedding leans, a little, the wrong way
    assert _lists_model(rows, sibling_weight=0.0).rank([utterance])[0][0][0] == "grocery_list"
    ranked = _lists_model(rows, sibling_weight=0.4).rank([utterance])[0]
    assert ranked[0][0] == "grocery_list_update"  # "add" is in its texts, not in the other's
    assert ranked[1][0] == "grocery_list"
    far = {utterance: [1.0, 0.5, 0.0]}  # a clear lead is not overturned by one word
    assert _lists_model(far, sibling_weight=0.4).rank([utterance])[0][0][0] == "grocery_list"


def test_intents_whose_names_share_no_word_are_never_reordered_by_words():
    utterance = "is it raining on my grocery list"
    rows = {utterance: [0.96, 0.0, 1.0]}
    model = _lists_model(rows, sibling_weight=10.0)
    assert ("weather", "grocery_list") not in {(model.names[i], model.names[j])
                                              for i, j in model.siblings}
    assert model.rank([utterance])[0][0][0] == "weather"


def test_scoring_with_words_needs_the_utterances_the_vectors_encode():
    model = _lists_model({}, sibling_weight=0.4)
    with pytest.raises(ValueError, match="texts"):
        model.scores(np.ones((2, 3)), ["only one"])
    no_words = model.scores(np.array([[1.0, 0.96, 0.0]]))  # without texts: no word contrast
    assert no_words.argmax() == 0


def test_the_domain_weight_reorders_the_places_after_the_first():
    names = ["alarm", "timer", "recipe"]
    texts = {"alarm": ["set an alarm"], "timer": ["start a timer"], "recipe": ["find a recipe"]}
    rows = {"set an alarm": [1, 0, 0], "start a timer": [0, 1, 0], "find a recipe": [0, 0, 1],
            "alarm": [1, 0, 0], "timer": [0, 1, 0], "recipe": [0, 0, 1]}
    domains = {"alarm": "utility", "timer": "utility", "recipe": "kitchen"}
    vector = np.array([[0.9, 0.78, 0.8]])

    def order(weight):
        model = ZeroShotIntents(names, Table(rows), expansions=_expansions(texts), k=1,
                                domains=domains, domain_weight=weight)
        return [names[j] for j in np.argsort(-model.scores(vector)[0])]

    assert order(0.0) == ["alarm", "recipe", "timer"]
    assert order(0.25) == ["alarm", "timer", "recipe"]  # the likelier domain's other intent


def test_the_adjustments_keep_the_first_place_or_the_top_three(lexicon):
    names = ["pin_change", "pin_status", "card_lost", "card_status", "card_pin", "weather",
             "alarm"]
    domains = {"pin_change": "banking", "pin_status": "banking", "card_lost": "cards",
               "card_status": "cards", "card_pin": "cards", "weather": "utility",
               "alarm": "utility"}
    rng = np.random.default_rng(0)
    pool = "what is happening with my pin card lost status change the alarm cold".split()
    utterances = [" ".join(rng.choice(pool, size=4)) for _ in range(200)]
    vectors = rng.normal(size=(len(utterances), BagOfWords.dim))

    def scores(domain_weight, sibling_weight):
        return ZeroShotIntents(names, BagOfWords(), lexicon=lexicon, domains=domains,
                               domain_weight=domain_weight, sibling_weight=sibling_weight
                               ).scores(vectors, utterances)

    plain, pooled, both = scores(0.0, 0.0), scores(0.25, 0.0), scores(0.25, 5.0)
    assert (pooled.argmax(axis=1) == plain.argmax(axis=1)).all()  # the domain keeps first place
    assert (np.argsort(-pooled, axis=1)[:, 1:] != np.argsort(-plain, axis=1)[:, 1:]).any()
    swapped = pooled.argmax(axis=1) != both.argmax(axis=1)
    assert swapped.any()  # siblings were reordered by their words ...
    top3 = [set(row) for row in np.argsort(-pooled, axis=1)[:, :3]]
    assert top3 == [set(row) for row in np.argsort(-both, axis=1)[:, :3]]  # ... only swapped
    assert np.allclose(np.sort(pooled, axis=1), np.sort(both, axis=1))


def test_evaluation_reports_the_scoring_ablations(lexicon):
    texts, gold, names, domains = load_clinc150(TINY / "data_full.json", split="val")
    result = evaluate(texts, gold, names, BagOfWords(), domains=domains, lexicon=lexicon)
    assert {f"{label}_top{n}" for label in SCORING_ABLATIONS for n in (1, 3)} <= set(result)
    assert result["domain_weight"] == 0.25 and result["sibling_weight"] == 0.4
    off = evaluate(texts, gold, names, BagOfWords(), domains=domains, lexicon=lexicon,
                   sibling_weight=0.0)
    assert (off["top1"], off["top3"]) == (result["sibling_off_top1"], result["sibling_off_top3"])


def test_development_sets_come_from_train_disjoint_and_reproducible(tmp_path):
    from reasoner.eval_zero_shot import development_set

    train = [[f"{n} request {i}", n] for n in ("alarm", "timer", "weather") for i in range(6)]
    (tmp_path / "data_full.json").write_text(json.dumps(
        {"train": train, "val": [["never drawn", "alarm"]]}), encoding="utf-8")
    (tmp_path / "domains.json").write_text(json.dumps(
        {"home": ["timer", "alarm"], "travel": ["weather"]}), encoding="utf-8")
    a = development_set(tmp_path / "data_full.json", "A", per_intent=2)
    b = development_set(tmp_path / "data_full.json", "B", per_intent=2)
    assert a == development_set(tmp_path / "data_full.json", "A", per_intent=2)
    (ta, ga, names, domain_of), (tb, gb, _, _) = a, b
    assert names == ["timer", "alarm", "weather"] and domain_of["weather"] == "travel"
    assert ga == gb == ["timer", "timer", "alarm", "alarm", "weather", "weather"]
    assert not set(ta) & set(tb) and "never drawn" not in ta + tb
    assert all(t.startswith(g) for t, g in zip(ta + tb, ga + gb))
    with pytest.raises(SystemExit, match="there are A and B"):
        development_set(tmp_path / "data_full.json", "C")


# -- hubness: an intent near many other intents' requests is drawn towards less -----------------

HUB_TEXTS = {"account": ["what is my account"],  # a generic request, near everyone's
             "balance": ["what is my balance"], "statement": ["what is my statement"]}
HUB_ROWS = {"what is my account": [0.8, 0.6, 0.6], "what is my balance": [0.6, 1.0, 0.0],
            "what is my statement": [0.6, 0.0, 1.0], "account": [1, 0, 0],
            "balance": [0, 1, 0], "statement": [0, 0, 1]}


def _hub_model(**settings):
    return ZeroShotIntents(list(HUB_TEXTS), Table(HUB_ROWS), expansions=_expansions(HUB_TEXTS),
                           k=1, domain_weight=0.0, sibling_weight=0.0, **settings)


def test_hubness_is_each_intents_score_for_the_other_intents_requests():
    model = _hub_model()
    hub = dict(zip(model.names, model.hubness))
    assert hub["account"] > hub["balance"] > 0 and hub["account"] > hub["statement"] > 0
    # the mean of the hub_k other intents' requests it scores highest, its own texts left out
    v = {t: np.asarray(r) / np.linalg.norm(r) for t, r in HUB_ROWS.items()}
    both = [v["what is my account"] @ v[t] for t in ("what is my balance", "what is my statement")]
    assert hub["account"] == pytest.approx(np.mean(both), abs=1e-6)
    assert _hub_model(hub_k=1).hubness[0] == pytest.approx(max(both), abs=1e-6)


def test_the_hub_weight_lets_a_specific_intent_win_against_a_hub():
    utterance = np.array([[1.0, 0.9, 0.3]])  # a little nearer the generic request
    plain = _hub_model(hub_weight=0.0).scores(utterance)[0]
    adjusted = _hub_model(hub_weight=0.2).scores(utterance)[0]
    assert plain.argmax() == 0 and adjusted.argmax() == 1
    assert np.allclose(plain - adjusted, 0.2 * _hub_model().hubness)


def test_only_typical_requests_stand_in_for_queries_in_the_hubness():
    texts = {n: [Expansion(t, "glossary") for t in ts] for n, ts in HUB_TEXTS.items()}
    model = ZeroShotIntents(list(HUB_TEXTS), Table(HUB_ROWS), expansions=texts, k=1)
    assert not model.hubness.any()  # no template texts: nothing to measure hubness on


def test_a_sibling_in_third_place_can_take_the_first():
    utterance = "add bread to my grocery list"
    rows = {utterance: [1.0, 0.96, 0.97]}  # the update intent is third, behind the weather
    model = _lists_model(rows, sibling_weight=0.4, domain_weight=0.0, hub_weight=0.0)
    ranked = [n for n, _ in model.rank([utterance])[0]]
    assert ranked[0] == "grocery_list_update" and set(ranked) == set(LISTS)
    plain = _lists_model(rows, sibling_weight=0.0, domain_weight=0.0, hub_weight=0.0)
    assert [n for n, _ in plain.rank([utterance])[0]] == ["grocery_list", "weather",
                                                          "grocery_list_update"]


def test_a_closed_compound_wordnet_writes_open_is_a_sibling_of_its_words(lexicon):
    names = ["timezone", "time", "weather"]
    texts = {n: [Expansion(n, "template")] for n in names}
    with_lexicon = ZeroShotIntents(names, BagOfWords(), expansions=texts, lexicon=lexicon)
    pairs = {(names[i], names[j]) for i, j in with_lexicon.siblings}
    assert ("timezone", "time") in pairs and ("time", "timezone") in pairs
    assert not any("weather" in p for p in pairs)
    without = ZeroShotIntents(names, BagOfWords(), expansions=texts, lexicon=None)
    assert not without.siblings  # without WordNet "timezone" is one unknown word


def test_the_glossary_reads_rewards_and_maintenance_in_their_subject_fields(lexicon):
    glossary = Glossary.default()
    assert "reward points" in glossary.lookup("rewards", context="credit_cards").alternatives
    assert glossary.lookup("rewards", context="small_talk") is None
    texts = {e.text for e in expand_name("last_maintenance", domain="auto_and_commute",
                                         lexicon=lexicon, glossary=glossary)}
    assert "auto and commute: when was my last car service" in texts
    elsewhere = {e.text for e in expand_name("last_maintenance", domain="home",
                                             lexicon=lexicon, glossary=glossary)}
    assert not any("car service" in t for t in elsewhere)


def test_evaluation_reports_the_hubness_ablation(lexicon):
    texts, gold, names, domains = load_clinc150(TINY / "data_full.json", split="val")
    result = evaluate(texts, gold, names, BagOfWords(), domains=domains, lexicon=lexicon)
    assert result["hub_weight"] == 0.2 and result["hub_k"] == 300
    off = evaluate(texts, gold, names, BagOfWords(), domains=domains, lexicon=lexicon,
                   hub_weight=0.0)
    assert (off["top1"], off["top3"]) == (result["hub_off_top1"], result["hub_off_top3"])


def test_a_glossary_terms_related_terms_make_one_text():
    from connectors.lexicon import GlossaryEntry
    from reasoner.eval_zero_shot import glossary_expansions

    glossary = Glossary([GlossaryEntry("eta", "n", stands_for=("estimated time of arrival",),
                                       related=("arrival", "departure", "delay"))])
    texts = glossary_expansions("eta_status", glossary)
    assert "eta: arrival, departure, delay" in texts
    assert not any(t in ("eta: arrival", "departure") for t in texts)
    assert glossary_expansions("eta_status", Glossary([GlossaryEntry("eta", "n")])) == []


# -- prototypes: the mean of an intent's typical requests ----------------------------------------

SPREAD_TEXTS = {"spread": ["check the first thing", "check the second thing"],  # far apart
                "single": ["check one thing"]}
SPREAD_ROWS = {"check the first thing": [1, 0, 0], "check the second thing": [0, 1, 0],
               "check one thing": [1, 0.3, 0.5], "spread": [1, 1, 0], "single": [1, 0.3, 0.5]}


def _spread_model(**settings):
    return ZeroShotIntents(list(SPREAD_TEXTS), Table(SPREAD_ROWS),
                           expansions=_expansions(SPREAD_TEXTS), k=1, domain_weight=0.0,
                           sibling_weight=0.0, hub_weight=0.0, **settings)


def test_a_prototype_is_the_mean_of_the_typical_requests_only():
    texts = {"spread": [Expansion("check the first thing", "template"),
                        Expansion("check the second thing", "template"),
                        Expansion("check one thing", "glossary")],  # not a typical request
             "single": [Expansion("check one thing", "glossary")]}
    model = ZeroShotIntents(list(texts), Table(SPREAD_ROWS), expansions=texts, k=1)
    assert np.allclose(model.prototypes[0], np.array([1, 1, 0]) / np.sqrt(2), atol=1e-6)
    # an intent with no typical request: the mean of all its texts
    assert np.allclose(model.prototypes[1], np.array([1, 0.3, 0.5]) / np.sqrt(1.34), atol=1e-6)


def test_the_prototype_weight_mixes_the_similarity_to_the_prototype_in():
    utterance = np.array([[1.0, 1.0, 0.0]])  # between both of spread's requests, near neither
    plain = _spread_model(prototype_weight=0.0).scores(utterance)[0]
    mixed = _spread_model(prototype_weight=0.5).scores(utterance)[0]
    assert plain.argmax() == 1 and mixed.argmax() == 0
    assert plain[0] == pytest.approx(np.sqrt(0.5), abs=1e-6)
    assert mixed[0] == pytest.approx(0.5 * np.sqrt(0.5) + 0.5, abs=1e-6)
    assert mixed[1] == pytest.approx(plain[1], abs=1e-6)  # one text: its own prototype


def _shape(text, lexicon):
    return {f for f, v in zip(SHAPE_FEATURES, request_shape(text, lexicon)) if v}


@pytest.mark.parametrize("text, expected", [
    ("how many days have I used", {"first_person", "past", "question"}),
    ("what is your name?", {"second_person", "question"}),
    ("please send my parcel", {"first_person", "imperative"}),
    ("where did you go", {"second_person", "past", "question"}),
    ("I lost my keys", {"first_person", "past"}),               # an irregular past form
    ("I need a bed", {"first_person"}),                        # "need", "bed": not past forms
    ("sending parcels is slow", set()),                       # a gerund opens no imperative
])
def test_the_shape_of_a_request_is_its_person_tense_and_mood(lexicon, text, expected):
    assert _shape(text, lexicon) == expected


def test_without_a_lexicon_the_shape_sees_no_imperative_and_only_did_as_past():
    assert _shape("please send my parcel", None) == {"first_person"}
    assert _shape("what did you send", None) == {"second_person", "past", "question"}
    assert _shape("I sent it", None) == {"first_person"}
    assert not request_shape("", None).any()


PARCELS = {"parcel_sent": ["which parcels did I send", "what parcels have I sent"],
           "parcel_status": ["where is my parcel", "what is the status of my parcel"]}


def _parcels_model(lexicon, utterance_row, **settings):
    rows = {"which parcels did I send": [1, 0], "what parcels have I sent": [1, 0],
            "where is my parcel": [0, 1], "what is the status of my parcel": [0, 1],
            "parcel_sent": [1, 0], "parcel_status": [0, 1], **utterance_row}
    return ZeroShotIntents(list(PARCELS), Table(rows), expansions=_expansions(PARCELS), k=1,
                           lexicon=lexicon, domain_weight=0.0, hub_weight=0.0,
                           prototype_weight=0.0, sibling_weight=0.0, **settings)


def test_sibling_intents_are_told_apart_by_the_shape_of_their_requests(lexicon):
    model = _parcels_model(lexicon, {})
    # the share of each intent's requests in the past: all of one, none of the other
    past = SHAPE_FEATURES.index("past")
    assert model.shapes[0, past] == 1.0 and model.shapes[1, past] == 0.0
    utterance = "how many parcels went out"  # a past form neither intent's texts hold
    near = {utterance: [0.98, 1.0]}  # the embedding leans, a little, the wrong way
    assert _parcels_model(lexicon, near, shape_weight=0.0).rank([utterance])[0][0][0] == \
        "parcel_status"
    assert _parcels_model(lexicon, near, shape_weight=0.1).rank([utterance])[0][0][0] == \
        "parcel_sent"
    far = {utterance: [0.5, 1.0]}  # a clear lead is not overturned by the shape
    assert _parcels_model(lexicon, far, shape_weight=0.1).rank([utterance])[0][0][0] == \
        "parcel_status"
    present = "how many parcels are out"  # not in the past: the shape agrees with the lead
    assert _parcels_model(lexicon, {present: [0.98, 1.0]}, shape_weight=0.1
                          ).rank([present])[0][0][0] == "parcel_status"


@pytest.mark.parametrize("ablation, settings", [
    ("prototype_off", {"prototype_weight": 0.0}),
    ("shape_off", {"shape_weight": 0.0}),
    ("sibling_off", {"sibling_weight": 0.0, "shape_weight": 0.0}),
])
def test_each_scoring_ablation_is_the_run_without_it(lexicon, ablation, settings):
    texts, gold, names, domains = load_clinc150(TINY / "data_full.json", split="val")
    result = evaluate(texts, gold, names, BagOfWords(), domains=domains, lexicon=lexicon)
    assert (result["prototype_weight"], result["shape_weight"]) == (0.15, 0.1)
    off = evaluate(texts, gold, names, BagOfWords(), domains=domains, lexicon=lexicon, **settings)
    assert (off["top1"], off["top3"]) == (result[f"{ablation}_top1"], result[f"{ablation}_top3"])