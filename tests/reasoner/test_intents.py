"""Few-shot intents: learns from ~10 examples, beats nearest neighbour, rejects the unrelated,
grows without retraining, and survives a round trip to disk."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from reasoner.errors import IntentDataError, ModelFileError, NotFittedError
from reasoner.intents import (
    IntentClassifier,
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
