"""Shapley attributions: exact values on known games, samplers against exact, deadlines, why-not,
the deletion test, RDF and sentences."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pyoxigraph as ox
import pytest

from kg.terms import HouseholdIRIs
from reasoner import attribution as A
from reasoner.attribution import (Attribution, AttributionDeadlineError, AttributionError,
                                  Contribution, Feature, ScoredDecision, attribute,
                                  attribution_to_rdf, deletion_test, evaluate_explanations, render,
                                  render_why_not, tabular_scorer, why_not)


def features(names):
    return [Feature(n, f"label of {n}") for n in names]


def values(attribution):
    return np.array([c.value for c in attribution.contributions])


def logistic_game(n, seed, *, interactions=True):
    """A logistic model over n binary features with pairwise and three-way products (a game with
    interactions of every order once squashed)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=n) * 1.5
    pairs = rng.normal(size=(n, n)) * (0.6 if interactions else 0.0)
    b = rng.normal()

    def score_batch(masks):
        x = masks.astype(float)
        z = b + x @ w + np.einsum("mi,ij,mj->m", x, np.triu(pairs, 1), x)
        return 1.0 / (1.0 + np.exp(-z))

    return features([f"f{i}" for i in range(n)]), score_batch


def brute_force_shapley(score_batch, n):
    """The definition, written out: average marginal contribution over all orders."""
    phi = np.zeros(n)
    perms = list(itertools.permutations(range(n)))
    for order in perms:
        mask = np.zeros(n, dtype=bool)
        before = float(score_batch(mask[None])[0])
        for j in order:
            mask[j] = True
            after = float(score_batch(mask[None])[0])
            phi[j] += after - before
            before = after
    return phi / len(perms)


# ------------------------------------------------------------------------------------------------
# Exact values on known games
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 3, 8])
def test_additive_score_gives_each_feature_its_own_term(n):
    weights = {f"f{i}": (i + 1) * (-1) ** i * 0.1 for i in range(n)}
    a = attribute(lambda present: 0.25 + sum(weights[p] for p in present), features(weights))
    assert a.exact and a.method == "exact"
    assert a.base_score == pytest.approx(0.25)
    assert values(a) == pytest.approx(list(weights.values()))


def test_symmetric_features_get_equal_values():
    # a and b are interchangeable (the score needs both); c adds on its own
    def score(present):
        return 1.0 * ({"a", "b"} <= present) + 0.3 * ("c" in present)
    a = attribute(score, features("abc"))
    assert a["a"].value == pytest.approx(a["b"].value)
    assert a["a"].value == pytest.approx(0.5)
    assert a["c"].value == pytest.approx(0.3)


def test_dummy_feature_gets_zero():
    a = attribute(lambda p: 2.0 * ("x" in p) * ("y" in p) + ("y" in p), features(["x", "dummy", "y"]))
    assert a["dummy"].value == pytest.approx(0.0, abs=1e-12)
    assert a["x"].value != pytest.approx(0.0)


def test_weighted_voting_game_has_its_textbook_values():
    # weights 50, 49, 1 and quota 51: the large party is pivotal in 4 of 6 orders
    weight = {"big": 50, "mid": 49, "small": 1}
    a = attribute(lambda p: float(sum(weight[x] for x in p) >= 51), features(weight))
    assert values(a) == pytest.approx([2 / 3, 1 / 6, 1 / 6])


def test_exact_matches_the_definition_on_a_game_with_interactions():
    feats, score_batch = logistic_game(6, seed=4)
    a = attribute(None, feats, score_batch=score_batch, method="exact")
    assert values(a) == pytest.approx(brute_force_shapley(score_batch, 6), abs=1e-12)


@pytest.mark.parametrize("method", ["exact", "permutation", "kernel"])
def test_efficiency_values_sum_to_the_score_change(method):
    feats, score_batch = logistic_game(10, seed=1)
    a = attribute(None, feats, score_batch=score_batch, method=method, samples=600)
    assert a.score - a.base_score == pytest.approx(values(a).sum(), abs=1e-9)
    assert abs(a.efficiency_gap) < 1e-9
    assert a.exact == (method == "exact")


def test_exact_scores_each_coalition_once():
    calls = []

    def score(present):
        calls.append(present)
        return float(len(present) ** 2)

    attribute(score, features("abcdef"), method="exact")
    assert len(calls) == 2 ** 6 == len(set(calls))


def test_score_fn_and_score_batch_agree():
    feats, score_batch = logistic_game(7, seed=2)
    names = [f.name for f in feats]

    def score_fn(present):
        return float(score_batch(np.array([[n in present for n in names]]))[0])

    by_one = attribute(score_fn, feats)
    by_batch = attribute(None, feats, score_batch=score_batch)
    assert values(by_one) == pytest.approx(values(by_batch), abs=1e-12)


def test_no_features_gives_an_empty_exact_attribution():
    a = attribute(lambda p: 0.7, [])
    assert a.contributions == () and a.score == a.base_score == 0.7 and a.exact


# ------------------------------------------------------------------------------------------------
# Sampled estimators
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["permutation", "kernel"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sampled_values_are_within_their_error_of_exact(method, seed):
    feats, score_batch = logistic_game(11, seed=seed)
    exact = values(attribute(None, feats, score_batch=score_batch, method="exact"))
    a = attribute(None, feats, score_batch=score_batch, method=method, samples=1500, seed=seed)
    se = np.array([c.std_error for c in a.contributions])
    assert not a.exact and a.method == method and a.pairs > 10
    assert np.all(se > 0) and a.error_estimate == pytest.approx(se.max())
    assert np.all(np.abs(values(a) - exact) <= 4 * se + 1e-9)
    assert np.mean(np.abs(values(a) - exact)) < 0.02


def test_one_antithetic_pair_is_exact_for_pairwise_interactions():
    rng = np.random.default_rng(5)
    w, pairs = rng.normal(size=15), np.triu(rng.normal(size=(15, 15)), 1)

    def score_batch(masks):
        x = masks.astype(float)
        return x @ w + np.einsum("mi,ij,mj->m", x, pairs, x)

    feats = features([f"f{i}" for i in range(15)])
    a = attribute(None, feats, score_batch=score_batch, method="permutation", samples=28)
    assert a.pairs == 1
    assert values(a) == pytest.approx(w + (pairs.sum(axis=0) + pairs.sum(axis=1)) / 2)


def test_auto_samples_beyond_max_exact_and_respects_the_budget():
    feats, score_batch = logistic_game(16, seed=3)
    a = attribute(None, feats, score_batch=score_batch, samples=500)
    assert a.method == "permutation" and not a.exact
    assert a.evaluations <= 500
    small = attribute(None, feats[:12], score_batch=lambda m: score_batch(
        np.hstack([m, np.zeros((len(m), 4), dtype=bool)])))
    assert small.exact


def test_same_seed_gives_the_same_explanation():
    feats, score_batch = logistic_game(20, seed=6)
    first = attribute(None, feats, score_batch=score_batch, samples=400, seed=9)
    again = attribute(None, feats, score_batch=score_batch, samples=400, seed=9)
    assert values(first).tolist() == values(again).tolist()


def test_tolerance_stops_sampling_early():
    weights = np.linspace(-1, 1, 30)
    feats = features([f"f{i}" for i in range(30)])
    a = attribute(None, feats, score_batch=lambda m: m.astype(float) @ weights, tolerance=1e-6)
    assert a.pairs <= 7            # chunks of 1, 2, 4 pairs: an additive game has no spread
    assert values(a) == pytest.approx(weights)


def test_many_features_past_the_integer_keys():
    weights = np.arange(70) / 100.0
    feats = features([f"f{i}" for i in range(70)])
    a = attribute(None, feats, score_batch=lambda m: m.astype(float) @ weights, samples=400)
    assert values(a) == pytest.approx(weights)


class FakeClock:
    """Time that moves only when the score function is called."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(A, "_clock", fake)
    return fake


def slow_score(clock, weights, ms_per_call=1.0):
    def score(present):
        clock.now += ms_per_call / 1000
        return math.tanh(sum(weights[p] for p in present))
    return score


def test_sampling_stops_before_the_deadline(clock):
    weights = {f"f{i}": 0.1 * (i % 5 - 2) for i in range(20)}
    a = attribute(slow_score(clock, weights), features(weights), deadline_ms=150)
    assert not a.exact
    assert 2 <= a.pairs
    assert a.elapsed_ms <= 150
    assert a.evaluations < 150                     # one per simulated millisecond
    unbounded = attribute(slow_score(clock, weights), features(weights))
    assert unbounded.evaluations > 10 * a.evaluations


def test_auto_leaves_exact_enumeration_that_would_pass_the_deadline(clock):
    weights = {f"f{i}": 0.05 * i for i in range(12)}          # 4096 ms to enumerate
    a = attribute(slow_score(clock, weights), features(weights), deadline_ms=1000)
    assert a.method == "permutation"
    assert a.elapsed_ms <= 1000
    assert abs(a.efficiency_gap) < 1e-9


def test_exact_with_an_impossible_deadline_says_what_to_do(clock):
    weights = {f"f{i}": 0.05 * i for i in range(12)}
    with pytest.raises(AttributionDeadlineError, match="method='auto'"):
        attribute(slow_score(clock, weights), features(weights), method="exact", deadline_ms=100)


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: attribute(None, features("ab")), "give a score function"),
    (lambda: attribute(lambda p: 1.0, features("aa")), "two features are named 'a'"),
    (lambda: attribute(lambda p: 1.0, features("ab"), method="shapley"), "unknown method"),
    (lambda: attribute(lambda p: math.nan if p else 0.0, features("ab")), "must be finite"),
    (lambda: attribute(lambda p: "high", features("ab")), "must return a number"),
    (lambda: attribute(None, features("ab"), score_batch=lambda m: [1.0]), "one per row"),
    (lambda: attribute(lambda p: 1.0, ["a"]), "Feature values"),
    (lambda: attribute(lambda p: 1.0, features("ab"), samples=1), "too few"),
    (lambda: attribute(lambda p: 1.0, features([f"f{i}" for i in range(21)]), method="exact"),
     "exact stops at 20"),
])
def test_bad_input_is_an_attribution_error_that_says_what_to_do(call, message):
    with pytest.raises(AttributionError, match=message):
        call()


def test_a_feature_needs_a_label():
    with pytest.raises(AttributionError, match="label"):
        Feature("time_of_day", " ")


# ------------------------------------------------------------------------------------------------
# Tabular models
# ------------------------------------------------------------------------------------------------

def test_tabular_scorer_explains_a_logistic_regression_over_embedding_blocks():
    from sklearn.linear_model import LogisticRegression
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 9))
    y = (X[:, :3].sum(axis=1) - X[:, 6] > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    x = X[0]
    feats = [Feature("words", "the words", value=x[:3], baseline=np.zeros(3)),
             Feature("time", "the time of day", value=x[3:6], baseline=np.zeros(3)),
             Feature("recent", "recent requests", value=x[6:], baseline=np.zeros(3))]
    score_batch = tabular_scorer(lambda M: clf.predict_proba(M)[:, 1], feats)
    a = attribute(None, feats, score_batch=score_batch)
    assert a.score == pytest.approx(clf.predict_proba(x[None])[0, 1])
    assert a.base_score == pytest.approx(clf.predict_proba(np.zeros((1, 9)))[0, 1])
    assert abs(a["time"].value) < abs(a["words"].value)      # the label ignores columns 3-5


# ------------------------------------------------------------------------------------------------
# Why not
# ------------------------------------------------------------------------------------------------

def offer_model():
    """Offers the driving time when a beach-weather question comes on a weekend morning."""
    weights = {"beach": 2.5, "weekend": 1.2, "morning": 0.8, "raining": -1.5, "lamp": 0.0}
    actual = {"beach": 0, "weekend": 1, "morning": 1, "raining": 1, "lamp": 1}
    foil = {"beach": 1, "weekend": 1, "morning": 1, "raining": 0, "lamp": 1}

    def score(present):
        z = -2.0 + sum(w * (actual[n] if n in present else foil[n]) for n, w in weights.items())
        return 1 / (1 + math.exp(-z))

    feats = [Feature("beach", "you asked about the weather in town", value=0, baseline=1,
                     baseline_label="you had asked about the beach weather"),
             Feature("weekend", "on a Saturday", value=1, baseline=1),
             Feature("morning", "in the morning", value=1, baseline=1),
             Feature("raining", "it was raining", value=1, baseline=0,
                     baseline_label="it had been dry"),
             Feature("lamp", "the lamp was on", value=1, baseline=1)]
    return score, feats


def test_why_not_finds_the_missing_feature():
    score, feats = offer_model()
    r = why_not(score, feats, threshold=0.5)
    assert not r.crossed and r.score < 0.5
    assert r.held_back[0].feature.name == "beach"
    assert {c.feature.name for c in r.held_back} == {"beach", "raining"}
    assert [f.name for f in r.change] == ["beach"]
    assert r.minimal == "smallest"
    assert r.changed_score == pytest.approx(score(frozenset(f.name for f in feats) - {"beach"}))
    assert r.changed_score >= 0.5


def test_why_not_needs_two_changes_when_one_is_not_enough():
    score, feats = offer_model()
    r = why_not(score, feats, threshold=0.9)
    assert sorted(f.name for f in r.change) == ["beach", "raining"]
    assert r.changed_score >= 0.9


def test_why_not_greedy_search_gives_an_irreducible_change_verified_by_rescoring():
    feats, score_batch = logistic_game(14, seed=8, interactions=False)
    full = attribute(None, feats, score_batch=score_batch, samples=800)
    threshold = full.score + 0.5 * (1 - full.score)
    r = why_not(None, feats, threshold, score_batch=score_batch, samples=800)
    assert r.minimal == "irreducible" and r.change
    names = [f.name for f in feats]

    def score_without(removed):
        mask = np.array([[n not in removed for n in names]])
        return float(score_batch(mask)[0])

    changed = {f.name for f in r.change}
    assert score_without(changed) == pytest.approx(r.changed_score) and r.changed_score >= threshold
    for name in changed:                       # no smaller subset of it crosses
        assert score_without(changed - {name}) < threshold


def test_why_not_when_the_score_already_crossed():
    score, feats = offer_model()
    r = why_not(score, feats, threshold=0.01)
    assert r.crossed and r.held_back == () and r.change == ()
    assert "nothing held it back" in render_why_not(r)


def test_why_not_when_no_change_is_enough():
    r = why_not(lambda p: 0.1, features("ab"), threshold=0.5)
    assert r.change is None and r.minimal == "none"
    assert "no change of these features would have been enough" in render_why_not(r)


def test_why_not_sentence_names_what_held_it_back_and_what_would_have():
    score, feats = offer_model()
    text = render_why_not(why_not(score, feats, threshold=0.5), conclusion="offer the driving time")
    assert text.startswith("I did not offer the driving time because you asked about the weather "
                           "in town (-")
    assert "it was raining (-" in text
    assert "I would have if you had asked about the beach weather (" in text
    assert text.endswith(", needed 0.50).")


# ------------------------------------------------------------------------------------------------
# Faithfulness
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_deletion_of_top_features_beats_random_deletion(seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=12) * np.array([3.0] * 3 + [0.2] * 9)   # three strong features

    def score_batch(masks):
        return 1 / (1 + np.exp(-(masks.astype(float) @ np.abs(w) - 2)))

    feats = features([f"f{i}" for i in range(12)])
    a = attribute(None, feats, score_batch=score_batch)
    top, rand = deletion_test(None, feats, a, 3, rng=np.random.default_rng(seed),
                              score_batch=score_batch)
    assert top > rand + 0.1


def test_deletion_test_removes_the_most_positive_features():
    score = lambda p: 1.0 * ("a" in p) + 0.5 * ("b" in p) - 0.7 * ("c" in p)  # noqa: E731
    feats = features("abc")
    a = attribute(score, feats)
    top, _ = deletion_test(score, feats, a, 2, rng=0)
    assert top == pytest.approx(1.5)
    assert deletion_test(score, feats, a, 10, rng=0).top_k_drop == pytest.approx(0.8)  # k clamps


def test_deletion_test_refuses_an_attribution_over_other_features():
    a = attribute(lambda p: 1.0, features("ab"))
    with pytest.raises(AttributionError, match="other features"):
        deletion_test(lambda p: 1.0, features("abc"), a, 1, rng=0)


def test_evaluate_explanations_aggregates_decisions():
    decisions = []
    for seed in range(5):
        feats, score_batch = logistic_game(8 + seed * 3, seed=seed, interactions=False)
        decisions.append(ScoredDecision(tuple(feats), score_batch=score_batch, name=f"d{seed}"))
    ev = evaluate_explanations(decisions, k=2, samples=600)
    out = ev.as_dict()
    assert out["decisions"] == 5 and out["k"] == 2
    assert out["top_k_drop"] > out["random_k_drop"]
    assert out["explain_p95_ms"] >= out["explain_p50_ms"] > 0
    assert out["methods"] == {"exact": 2, "permutation": 3}
    with pytest.raises(AttributionError, match="no decisions"):
        evaluate_explanations([])


# ------------------------------------------------------------------------------------------------
# RDF
# ------------------------------------------------------------------------------------------------

H = "https://w3id.org/hearth#"


def drive_attribution():
    feats = [Feature("weather", "you asked about the weather at Half Moon Bay",
                     evidence=("urn:hearth:home:event:3",)),
             Feature("saturday", "on a Saturday morning", value="Saturday"),
             Feature("history", "your last three beach weather questions were followed by a drive")]
    weights = {"weather": 0.41, "saturday": 0.22, "history": 0.18}
    return attribute(lambda p: 0.1 + sum(weights[x] for x in p), feats)


def test_rdf_output_parses_and_answers_why():
    a = drive_attribution()
    triples = attribution_to_rdf(a, "urn:hearth:home:event:9", HouseholdIRIs("home"))
    text = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES)
    store = ox.Store()
    store.load(text, format=ox.RdfFormat.N_TRIPLES)
    assert len(store) == len(triples)
    rows = list(store.query(f"""
        PREFIX hearth: <{H}>
        SELECT ?label ?value ?rank WHERE {{
            ?a a hearth:Attribution ; hearth:attributionOf <urn:hearth:home:event:9> ;
               hearth:contribution ?c .
            ?c hearth:featureLabel ?label ; hearth:shapleyValue ?value ; hearth:rank ?rank .
        }} ORDER BY ?rank"""))
    assert [r["label"].value for r in rows] == [
        "you asked about the weather at Half Moon Bay", "on a Saturday morning",
        "your last three beach weather questions were followed by a drive"]
    assert float(rows[0]["value"].value) == pytest.approx(0.41)
    derived = list(store.query(f"""
        PREFIX hearth: <{H}> PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?e WHERE {{ ?c hearth:featureName "weather" ; prov:wasDerivedFrom ?e }}"""))
    assert [r["e"].value for r in derived] == ["urn:hearth:home:event:3"]


def test_rdf_is_the_same_for_the_same_attribution():
    a = drive_attribution()
    ids = HouseholdIRIs("home")
    first = attribution_to_rdf(a, ox.NamedNode("urn:hearth:home:event:9"), ids)
    again = attribution_to_rdf(a, "urn:hearth:home:event:9", ids)
    other = attribution_to_rdf(a, "urn:hearth:home:event:10", ids)
    assert set(first) == set(again)
    assert first[0].subject != other[0].subject
    assert first[0].subject.value.startswith("urn:hearth:home:attribution:")


# ------------------------------------------------------------------------------------------------
# Sentences
# ------------------------------------------------------------------------------------------------

def test_render_the_largest_reasons_first_with_their_values():
    text = render(drive_attribution(), conclusion="offered the driving time")
    assert text == ("I offered the driving time because you asked about the weather at Half Moon "
                    "Bay (+0.41), on a Saturday morning (+0.22) and your last three beach weather "
                    "questions were followed by a drive (+0.18).")


def test_render_top_limits_the_reasons_and_numbers_can_be_left_out():
    text = render(drive_attribution(), top=1, numbers=False)
    assert text == ("The score was 0.91 rather than 0.10 because you asked about the weather at "
                    "Half Moon Bay.")


def test_render_a_score_that_went_down_gives_the_negative_reasons():
    score = lambda p: 0.8 - 0.5 * ("late" in p) + 0.1 * ("home" in p)  # noqa: E731
    a = attribute(score, [Feature("late", "it was after midnight"), Feature("home", "you were home")])
    assert render(a, conclusion="did not play music") == (
        "I did not play music because it was after midnight (-0.50), although you were home (+0.10).")


def test_render_when_nothing_made_a_difference():
    a = attribute(lambda p: 0.5, features("ab"))
    assert render(a, conclusion="waited") == "I waited; no single thing made a difference."


def test_render_sampled_values_show_their_standard_error():
    feats = [Feature(f"f{i}", f"thing {i}") for i in range(14)]
    rng = np.random.default_rng(1)
    w = rng.normal(size=14)
    a = attribute(None, feats, score_batch=lambda m: np.tanh(m.astype(float) @ w), samples=200)
    text = render(a, top=1)
    assert not a.exact and " ± " in text
    assert a.ranked()[0].feature.label in text


def test_attribution_lookup_ranking_and_dict():
    a = drive_attribution()
    assert a["saturday"].value == pytest.approx(0.22)
    assert [c.feature.name for c in a.top(2, sign=1)] == ["weather", "saturday"]
    assert a.top(2, sign=-1) == []
    assert a.as_dict()["contributions"][0]["label"].startswith("you asked")
    with pytest.raises(KeyError, match="weather, saturday, history"):
        a["sunday"]
    manual = Attribution(0.0, 1.0, (Contribution(Feature("x", "x"), 1.0),), "exact", True, 0.0)
    assert manual.efficiency_gap == 0.0
