"""Few-shot intents: learns from ~10 examples, beats nearest neighbour, rejects the unrelated,
grows without retraining, survives a round trip to disk; fine-tuning with frozen layers, and
classifiers voting together."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from reasoner.errors import IntentDataError, ModelFileError, NotFittedError
from reasoner.intents import (
    IntentClassifier,
    IntentEnsemble,
    IntentPrediction,
    finetune_encoder,
    nearest_neighbour_predict,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "intents" / "home_intents.json"
DATA = json.loads(FIXTURE.read_text())


def _flatten(split: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    return [t for ts in split.values() for t in ts], [k for k, ts in split.items() for _ in ts]


TRAIN, TRAIN_LABELS = _flatten(DATA["train"])
HELD, HELD_LABELS = _flatten(DATA["heldout"])
OOS = DATA["out_of_scope"]
NEW = DATA["new_intent"]


class BagOfWordsEncoder:
    """A deterministic toy encoder (hashed words), so logic tests need no model."""

    name = "bag-of-words"
    dim = 64

    def encode(self, texts):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, zlib.crc32(w.encode()) % self.dim] += 1.0
        out += 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _accuracy(preds: list[IntentPrediction], gold: list[str]) -> float:
    return float(np.mean([p.best_guess == g for p, g in zip(preds, gold)]))


@pytest.fixture(scope="session")
def trained() -> IntentClassifier:
    return IntentClassifier("minilm").fit(TRAIN, TRAIN_LABELS)


# -- without a model ----------------------------------------------------------------------------


def test_fit_refuses_mismatched_texts_and_labels():
    with pytest.raises(IntentDataError, match="labels"):
        IntentClassifier(BagOfWordsEncoder()).fit(TRAIN, TRAIN_LABELS[:-1])


def test_fit_refuses_a_single_intent():
    with pytest.raises(IntentDataError, match="at least two"):
        IntentClassifier(BagOfWordsEncoder()).fit(["a", "b"], ["x", "x"])


def test_predict_before_fit_says_what_to_do():
    with pytest.raises(NotFittedError, match="fit"):
        IntentClassifier(BagOfWordsEncoder()).predict(["hello"])


def test_unknown_settings_are_refused():
    with pytest.raises(IntentDataError, match="oos_score"):
        IntentClassifier(BagOfWordsEncoder(), oos_score="entropy")
    with pytest.raises(IntentDataError, match="calibration"):
        IntentClassifier(BagOfWordsEncoder(), calibration="guess")


def test_add_intent_leaves_the_trained_weights_alone():
    clf = IntentClassifier(BagOfWordsEncoder()).fit(TRAIN, TRAIN_LABELS)
    before = clf._We.copy(), clf._Wl.copy(), list(clf.classes)
    clf.add_intent(NEW["name"], NEW["train"])
    np.testing.assert_array_equal(clf._We[: len(before[2])], before[0])
    np.testing.assert_array_equal(clf._Wl[: len(before[2])], before[1])
    assert clf.classes == before[2] + [NEW["name"]]
    assert NEW["name"] in clf and NEW["name"] in clf.imprinted


def test_one_utterance_scores_as_it_does_in_a_batch():
    # a single utterance takes the quick lexical path; a batch goes through sklearn: same numbers
    clf = IntentClassifier(BagOfWordsEncoder(), lexical_weight=0.5).fit(TRAIN, TRAIN_LABELS)
    batch = HELD + ["zzz", "What's the WEATHER like, in Half-Moon Bay??"]
    together = clf._lex.transform(batch).toarray()
    alone = np.vstack([clf._lex.transform([t]).toarray() for t in batch])
    np.testing.assert_allclose(alone, together, atol=1e-6)
    _, P = clf.intent_probabilities(batch)
    for i, t in enumerate(batch[:5]):
        np.testing.assert_allclose(clf.intent_probabilities([t])[1][0], P[i], atol=1e-5)


def test_replacing_an_intent_in_place_scores_with_its_new_rows():
    clf = IntentClassifier(BagOfWordsEncoder(), lexical_weight=1.0).fit(TRAIN, TRAIN_LABELS)
    name = clf.intents[0]
    text = "order a large pepperoni pizza with extra cheese"
    clf._cosines([text])
    clf.add_intent(name, [text], replace=True)  # its weight rows change in place
    E, L = clf.encoder.encode([text]), clf._lex.transform([text])
    expected = (E @ clf._We.T + 1.0 * (L @ np.array(clf._Wl).T)) / 2.0
    a, b = clf._imprint_map  # an imprinted intent is put on the trained intents' scale
    col = clf.classes.index(name)
    expected[:, col] = a * expected[:, col] + b
    np.testing.assert_allclose(clf._cosines([text]), expected, atol=1e-5)


def test_add_intent_refuses_duplicates_and_empty_examples():
    clf = IntentClassifier(BagOfWordsEncoder()).fit(TRAIN, TRAIN_LABELS)
    with pytest.raises(IntentDataError, match="already exists"):
        clf.add_intent("weather", ["is it raining"])
    with pytest.raises(IntentDataError, match="example"):
        clf.add_intent("lock_door", ["", "  "])
    clf.add_intent("weather", ["is it raining"], replace=True)
    assert clf.examples["weather"] == ["is it raining"]


def test_remove_intent_forgets_it():
    clf = IntentClassifier(BagOfWordsEncoder()).fit(TRAIN, TRAIN_LABELS)
    clf.remove_intent("weather")
    assert "weather" not in clf and len(clf._We) == len(clf.classes)
    assert all(p.best_guess != "weather" for p in clf.predict(HELD))
    with pytest.raises(IntentDataError, match="known intents"):
        clf.remove_intent("weather")


def test_round_trip_with_a_custom_encoder_needs_the_encoder(tmp_path):
    clf = IntentClassifier(BagOfWordsEncoder()).fit(TRAIN, TRAIN_LABELS)
    clf.save(tmp_path / "clf")
    with pytest.raises(ModelFileError, match="encoder="):
        IntentClassifier.load(tmp_path / "clf")
    back = IntentClassifier.load(tmp_path / "clf", encoder=BagOfWordsEncoder())
    assert [p.intent for p in back.predict(HELD)] == [p.intent for p in clf.predict(HELD)]


def test_retarget_moves_the_threshold_without_refitting(tmp_path):
    clf = IntentClassifier(BagOfWordsEncoder()).fit(TRAIN, TRAIN_LABELS)
    weights = clf._We.copy()
    loose, strict = clf.retarget(0.8).threshold, clf.retarget(1.0).threshold
    assert strict <= loose  # letting everything through needs the lowest threshold
    np.testing.assert_array_equal(clf._We, weights)
    clf.retarget(0.9)
    back = IntentClassifier.load(clf.save(tmp_path / "c"), encoder=BagOfWordsEncoder())
    assert back.retarget(0.8).threshold == pytest.approx(loose)


def test_loading_a_folder_without_a_classifier_explains(tmp_path):
    with pytest.raises(ModelFileError, match="classifier.json"):
        IntentClassifier.load(tmp_path)


def test_a_threshold_that_keeps_everything_keeps_everything():
    clf = IntentClassifier(BagOfWordsEncoder()).fit(TRAIN, TRAIN_LABELS)
    clf.set_threshold(-1.0)
    assert not any(p.out_of_scope for p in clf.predict(OOS))
    clf.set_threshold(2.0)  # above any cosine
    assert all(p.out_of_scope and p.intent is None for p in clf.predict(HELD))


def test_only_the_marked_examples_set_the_threshold():
    clf = IntentClassifier(BagOfWordsEncoder(), seed=0)
    everything = clf.fit(TRAIN, TRAIN_LABELS).calibration
    marked = [i % 2 == 0 for i in range(len(TRAIN))]
    half = clf.fit(TRAIN, TRAIN_LABELS, calibrate_on=marked).calibration
    assert half.n_in_scope == sum(marked) < everything.n_in_scope
    with pytest.raises(IntentDataError, match="calibrate_on"):
        clf.fit(TRAIN, TRAIN_LABELS, calibrate_on=[False] * len(TRAIN))


def test_probabilities_are_temperature_scaled_on_held_out_examples(tmp_path):
    clf = IntentClassifier(BagOfWordsEncoder()).fit(TRAIN, TRAIN_LABELS)
    assert clf.probability_scale is not None and clf.probability_scale != clf.scale
    before = clf.predict(HELD)
    fitted_scale, clf.probability_scale = clf.probability_scale, None
    raw = clf.predict(HELD)
    # only the probabilities move: the ranking, the choice and the rejection stay
    assert [p.top_k[0][0] for p in before] == [p.top_k[0][0] for p in raw]
    assert [p.out_of_scope for p in before] == [p.out_of_scope for p in raw]
    assert any(abs(a.confidence - b.confidence) > 1e-3 for a, b in zip(before, raw))
    clf.probability_scale = fitted_scale
    back = IntentClassifier.load(clf.save(tmp_path / "c"), encoder=BagOfWordsEncoder())
    assert back.probability_scale == pytest.approx(fitted_scale)


# -- with MiniLM --------------------------------------------------------------------------------


@pytest.mark.slow
def test_classifier_learns_its_training_intents(trained):
    assert _accuracy(trained.predict(TRAIN), TRAIN_LABELS) == 1.0
    assert sorted(trained.intents) == sorted(DATA["train"])


@pytest.mark.slow
def test_classifier_beats_or_matches_nearest_neighbour_on_held_out_utterances(trained):
    acc = _accuracy(trained.predict(HELD), HELD_LABELS)
    nn = nearest_neighbour_predict(trained.encoder, TRAIN, TRAIN_LABELS, HELD)
    nn_acc = float(np.mean([a == b for a, b in zip(nn, HELD_LABELS)]))
    assert acc >= nn_acc
    assert acc >= 0.9


@pytest.mark.slow
def test_held_out_in_scope_utterances_are_mostly_accepted(trained):
    preds = trained.predict(HELD)
    accepted = [p for p in preds if not p.out_of_scope]
    assert len(accepted) >= 0.85 * len(preds)
    assert all(p.intent == p.best_guess for p in accepted)


@pytest.mark.slow
def test_unrelated_text_is_out_of_scope(trained):
    preds = trained.predict(OOS)
    rejected = [p for p in preds if p.out_of_scope]
    assert len(rejected) >= 0.8 * len(preds)
    for p in rejected:
        assert p.intent is None
        assert len(p.top_k) == 3 and p.familiarity < trained.threshold  # candidates still listed


@pytest.mark.slow
def test_threshold_is_calibrated_by_cross_validation(trained):
    cal = trained.calibration
    assert cal.method == "cross-validation" and cal.n_in_scope == len(TRAIN)
    assert np.isfinite(cal.threshold)
    assert cal.in_scope_recall >= cal.target_in_scope_recall - 0.02


@pytest.mark.slow
def test_out_of_scope_examples_become_a_background_class_and_a_report():
    clf = IntentClassifier("minilm").fit(TRAIN, TRAIN_LABELS, oos_texts=OOS[:6])
    assert clf.calibration.n_out_of_scope == 6 and clf.calibration.oos_recall is not None
    assert "__out_of_scope__" not in clf.intents
    assert all(p.out_of_scope for p in clf.predict(OOS[:6]))


@pytest.mark.slow
def test_add_intent_is_usable_at_once_without_retraining(tmp_path, trained):
    clf = IntentClassifier.load(trained.save(tmp_path / "base"))
    before = clf._We.copy()
    clf.add_intent(NEW["name"], NEW["train"])
    np.testing.assert_array_equal(clf._We[:-1], before)
    preds = clf.predict(NEW["heldout"])
    assert all(p.intent == NEW["name"] for p in preds)
    # the old intents still win their own utterances
    assert _accuracy(clf.predict(HELD), HELD_LABELS) >= _accuracy(trained.predict(HELD), HELD_LABELS) - 0.05


@pytest.mark.slow
def test_refit_trains_imprinted_intents_with_the_rest(tmp_path, trained):
    clf = IntentClassifier.load(trained.save(tmp_path / "base"))
    clf.add_intent(NEW["name"], NEW["train"])
    clf.refit()
    assert not clf.imprinted and NEW["name"] in clf.intents
    assert all(p.intent == NEW["name"] for p in clf.predict(NEW["heldout"]))


@pytest.mark.slow
def test_save_and_load_give_the_same_predictions(tmp_path, trained):
    trained.add_intent("lock_door_tmp", NEW["train"])
    try:
        folder = trained.save(tmp_path / "clf")
        back = IntentClassifier.load(folder)
    finally:
        trained.remove_intent("lock_door_tmp")
    texts = HELD + OOS + NEW["heldout"]
    a = trained.predict(texts[:0])  # nothing to predict is fine too
    assert a == []
    back_preds = back.predict(texts)
    assert back.calibration == trained.calibration
    assert back.imprinted == {"lock_door_tmp"}
    back.remove_intent("lock_door_tmp")
    for p, q in zip(trained.predict(texts), back.predict(texts)):
        assert p.intent == q.intent and p.out_of_scope == q.out_of_scope
        assert p.familiarity == pytest.approx(q.familiarity, abs=1e-5)
    assert sum(p.intent == "lock_door_tmp" for p in back_preds) >= 3


@pytest.mark.slow
def test_fast_path_with_the_static_encoder_learns_the_fixture():
    clf = IntentClassifier("static").fit(TRAIN, TRAIN_LABELS)
    assert _accuracy(clf.predict(HELD), HELD_LABELS) >= 0.8


@pytest.mark.slow
def test_fine_tuning_moves_the_encoder_and_keeps_it_usable(tmp_path):
    enc = finetune_encoder(TRAIN, TRAIN_LABELS, epochs=1, batch_size=16, cache=False)
    base = IntentClassifier("minilm").encoder
    assert not np.allclose(enc.encode(HELD[:4]), base.encode(HELD[:4]), atol=1e-3)
    clf = IntentClassifier(enc).fit(TRAIN, TRAIN_LABELS)
    assert _accuracy(clf.predict(HELD), HELD_LABELS) >= 0.9
    back = IntentClassifier.load(clf.save(tmp_path / "ft"))  # the tuned encoder travels along
    assert (tmp_path / "ft" / "encoder" / "config.json").exists()
    assert [p.intent for p in back.predict(HELD)] == [p.intent for p in clf.predict(HELD)]


# -- fine-tuning with frozen lower layers, and classifiers voting together (IntentEnsemble) ----


class HashedEncoder:
    """A deterministic toy encoder: hashed words (or character trigrams), so no model is needed."""

    def __init__(self, *, trigrams: bool = False, dim: int = 64):
        self.trigrams = trigrams
        self.dim = dim
        self.name = "trigrams" if trigrams else "words"

    def encode(self, texts):
        out = np.full((len(texts), self.dim), 1e-3, np.float32)
        for i, t in enumerate(texts):
            t = t.lower()
            grams = [t[j:j + 3] for j in range(len(t) - 2)] if self.trigrams else t.split()
            for g in grams:
                out[i, zlib.crc32(g.encode()) % self.dim] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _members() -> list[IntentClassifier]:
    return [IntentClassifier(HashedEncoder(), lexical_weight=0.0),
            IntentClassifier(HashedEncoder(trigrams=True), lexical_weight=0.3)]


@pytest.fixture(scope="module")
def ensemble() -> IntentEnsemble:
    return IntentEnsemble(_members(), weights=[1.0, 0.5]).fit(TRAIN, TRAIN_LABELS, calibrate=False)


# -- the ensemble, without a model --------------------------------------------------------------

def test_ensemble_probabilities_are_the_normalised_weighted_product(ensemble):
    intents, P = ensemble.intent_probabilities(HELD)
    assert P.shape == (len(HELD), len(intents)) and np.allclose(P.sum(axis=1), 1.0, atol=1e-5)
    logp = np.zeros_like(P, dtype=np.float64)
    for m, w in zip(ensemble.members, ensemble.weights):
        names, Q = m.intent_probabilities(HELD)
        logp += w * np.log(Q[:, [names.index(c) for c in intents]])
    expected = np.exp(logp - logp.max(axis=1, keepdims=True))
    assert np.allclose(P, expected / expected.sum(axis=1, keepdims=True), atol=1e-5)


def test_a_member_with_weight_zero_has_no_say():
    a, b = _members()
    alone = a.fit(TRAIN, TRAIN_LABELS, calibrate=False).predict_intents(HELD)
    ens = IntentEnsemble([a, b], weights=[1.0, 0.0]).fit(TRAIN, TRAIN_LABELS, calibrate=False)
    assert ens.predict_intents(HELD) == alone
    names, P = ens.intent_probabilities(HELD)
    _, Pa = a.intent_probabilities(HELD)
    assert np.allclose(P, Pa, atol=1e-5)


def test_ensemble_predictions_are_never_out_of_scope_and_rank_the_runners_up(ensemble):
    preds = ensemble.predict(HELD + ["what is the capital of mongolia"])
    assert all(not p.out_of_scope and p.intent == p.best_guess for p in preds)
    for p in preds:
        probs = [q for _, q in p.top_k]
        assert len(p.top_k) == 3 and probs == sorted(probs, reverse=True)
        assert p.confidence == pytest.approx(probs[0]) and p.familiarity == pytest.approx(probs[0])
    held = preds[:len(HELD)]
    assert np.mean([p.intent == g for p, g in zip(held, HELD_LABELS)]) >= 0.6


def test_ensemble_refuses_unusable_weights():
    with pytest.raises(IntentDataError, match="at least one member"):
        IntentEnsemble([])
    for weights in ([1.0], [1.0, -1.0], [0.0, 0.0]):
        with pytest.raises(IntentDataError, match="weight"):
            IntentEnsemble(_members(), weights=weights)


def test_ensemble_refuses_members_that_know_other_intents():
    a, b = _members()
    a.fit(TRAIN, TRAIN_LABELS, calibrate=False)
    keep = [i for i, lab in enumerate(TRAIN_LABELS) if lab != "weather"]
    b.fit([TRAIN[i] for i in keep], [TRAIN_LABELS[i] for i in keep], calibrate=False)
    with pytest.raises(IntentDataError, match="different intents"):
        IntentEnsemble([a, b]).predict(HELD)


def test_fine_tuning_refuses_a_negative_number_of_frozen_layers():
    with pytest.raises(IntentDataError, match="freeze_layers"):
        finetune_encoder(TRAIN, TRAIN_LABELS, freeze_layers=-1, cache=False)


def test_fine_tuning_options_reach_the_encoder(monkeypatch):
    seen = {}

    def fake(texts, labels, **kw):
        seen.update(kw, n=len(texts))
        return kw["base"]

    from reasoner import intents

    monkeypatch.setattr(intents, "finetune_encoder", fake)
    monkeypatch.setattr(intents, "MiniLMEncoder", HashedEncoder)  # the toy passes the MiniLM check
    clf = IntentClassifier(HashedEncoder(), finetune_epochs=3,
                           finetune_options={"learning_rate": 2e-4, "freeze_layers": 3})
    clf.fit(TRAIN, TRAIN_LABELS, calibrate=False)
    assert seen["epochs"] == 3 and seen["learning_rate"] == 2e-4 and seen["freeze_layers"] == 3
    assert seen["n"] == len(TRAIN)  # without calibration nothing is held out of fine-tuning


# -- fine-tuning MiniLM -------------------------------------------------------------------------

def _weights(model) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


@pytest.mark.slow
def test_freezing_lower_layers_trains_only_the_upper_ones():
    import torch

    from reasoner.embeddings import get_encoder

    base = get_encoder("minilm")
    before = _weights(base.model)
    threads = torch.get_num_threads()
    enc = finetune_encoder(TRAIN, TRAIN_LABELS, epochs=1, freeze_layers=4, learning_rate=1e-4,
                           batch_size=16, cache=False)
    assert torch.get_num_threads() == threads  # the training's one thread is given back
    after = _weights(enc.model)
    assert after.keys() == before.keys()  # the model is whole again: all layers, its embeddings
    changed = {k for k in after if not np.array_equal(after[k], before[k])}
    assert changed, "nothing trained"
    assert all(".layer.4." in k or ".layer.5." in k or "pooler" in k for k in changed), sorted(changed)[:5]
    assert any(".layer.5." in k for k in changed)
    assert all(p.requires_grad for p in enc.model.parameters())  # frozen only while training
    assert not np.allclose(enc.encode(HELD[:4]), base.encode(HELD[:4]), atol=1e-4)
    clf = IntentClassifier(enc).fit(TRAIN, TRAIN_LABELS)
    assert np.mean([p.best_guess == g for p, g in zip(clf.predict(HELD), HELD_LABELS)]) >= 0.9


@pytest.mark.slow
def test_freezing_every_layer_is_refused():
    with pytest.raises(IntentDataError, match="leaves nothing to train"):
        finetune_encoder(TRAIN[:12], TRAIN_LABELS[:12], epochs=1, freeze_layers=6, cache=False)


# -- the nearest-neighbour vote ------------------------------------------------------------------


class AnglesEncoder:
    """Utterances ending in an angle in degrees, embedded on the unit circle: a geometry a test
    can draw."""

    name = "angles"
    dim = 3

    def encode(self, texts):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            a = np.deg2rad(float(t.split()[-1]))
            out[i] = [np.cos(a), np.sin(a), 0.0]
        return out


# intent A in two clusters (20 and 100 degrees) with B between them: no linear head can keep both
ANGLES_A = [f"a {x}" for x in (19, 20, 21, 98, 99, 100, 101, 102)]
ANGLES_B = [f"b {x}" for x in (44, 46, 48, 50, 52, 54, 56)]


def _angles(weight: float) -> IntentClassifier:
    return IntentClassifier(AnglesEncoder(), lexical_weight=0, neighbour_weight=weight).fit(
        ANGLES_A + ANGLES_B, ["A"] * len(ANGLES_A) + ["B"] * len(ANGLES_B), calibrate=False)


def test_the_neighbour_vote_keeps_a_small_cluster_the_head_gives_away():
    assert _angles(0).predict(["q 20"])[0].best_guess == "B"  # the head sacrifices A's small cluster
    voted = _angles(1.0)
    assert [p.best_guess for p in voted.predict(["q 20", "q 50", "q 100"])] == ["A", "B", "A"]
    names, P = voted.intent_probabilities(["q 20", "q 50"])
    assert np.allclose(P.sum(axis=1), 1.0)


def test_the_neighbour_vote_survives_saving_and_follows_intents_added_and_removed(tmp_path):
    clf = _angles(1.0)
    again = IntentClassifier.load(clf.save(tmp_path / "clf"), encoder=AnglesEncoder())
    assert again.neighbour_weight == 1.0
    assert np.allclose(again.intent_probabilities(["q 20"])[1], clf.intent_probabilities(["q 20"])[1])
    # a new intent's examples vote at once; removing another one leaves the votes pointing right
    clf.add_intent("C", ["c 200", "c 205", "c 210"])
    assert clf.predict(["q 204"])[0].best_guess == "C"
    clf.remove_intent("B")
    assert [p.best_guess for p in clf.predict(["q 20", "q 206"])] == ["A", "C"]


def test_a_negative_neighbour_weight_is_refused():
    with pytest.raises(IntentDataError, match="neighbour_weight"):
        IntentClassifier(AnglesEncoder(), neighbour_weight=-1)
