"""Interactive teaching: commands taught in a dialogue or in one sentence, revised, forgotten and
scoped; intents defined from a few examples and usable at once."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from kg import events as E
from kg.errors import EventError
from kg.household import Hearth
from kg.ingest import ingest_file
from kg.shapes import ShapeChecker
from reasoner import teaching as T
from reasoner.explain import explain
from reasoner.pipeline import Pipeline, make_component
from reasoner.understanding import Understander, UtteranceInterpreted

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "teaching"


class KeywordClassifier:
    """A stand-in intent classifier: the first rule whose words all occur wins; none is out of
    scope. "… mode" is read weakly as a Home Assistant intent, as MiniLM might ("reading mode"
    as setting a fan mode): still unfamiliar enough to be taught."""

    RULES = [({"lights"}, "lights.turn_on"), ({"lamp"}, "lights.turn_on"),
             ({"weather"}, "weather.forecast"), ({"wrote"}, "weather.forecast"),
             ({"mode"}, "HassClimateSetFanMode")]

    def fit(self, texts, labels):
        return self

    def predict(self, texts):
        out = []
        for text in texts:
            words = set(re.findall(r"[\w']+", text.lower()))
            label = next((lab for need, lab in self.RULES if need <= words), None)
            if "wrote" in words:
                label = None
            score = 0.6 if label == "HassClimateSetFanMode" else 0.9 if label else 0.1
            out.append({"label": label, "score": score,
                        "out_of_scope": label is None,
                        "alternatives": [(label or "weather.forecast", score)]})
        return out


@pytest.fixture(scope="module")
def understander():
    return Understander(ha=None, classifier=KeywordClassifier(), resolve_by_meaning=False)


def _home(name: str = "t"):
    home = Hearth.in_memory().create_household(name, time="2026-11-25T06:00:00Z")
    ingest_file(home, FIXTURES / "home.jsonl")
    return home


@pytest.fixture
def home(understander):
    home = _home()
    Pipeline.from_names(["understanding", "teaching"],
                        config={"understanding": {"understander": understander}}).attach(home)
    return home


def say(home, clock: str, text: str, *, who: str | None = "ann", device="speaker.living"):
    """Appends an utterance; returns what the pipeline concluded from it, as (seq, event)."""
    heard = home.append({"type": "UtteranceHeard", "time": f"2026-11-25T{clock}:00Z",
                         "text": text, "speaker": who, "device": device})
    return list(home.events(start=heard.seq + 1))


def of_type(items, cls):
    return [(s, e) for s, e in items if isinstance(e, cls)]


def issued(items):
    return sorted((e.device, e.command, e.value) for _, e in of_type(items, E.CommandIssued))


# -- the dialogue ---------------------------------------------------------------------------------

def test_the_reading_mode_dialogue_teaches_a_command_used_from_then_on(home):
    first = say(home, "19:00", "Alexa, reading mode")
    [(ask_seq, ask)] = of_type(first, T.TeachingRequested)
    assert ask.phrase == "reading mode"
    assert ask.reply == "I don't know 'reading mode' yet. Can you teach me?"
    assert ask.speaker == "ann" and not of_type(first, E.CommandIssued)

    answer = say(home, "19:01", "lights all the way up in the living room")
    [(taught_seq, taught)] = of_type(answer, T.CommandTaught)
    assert taught.phrase == "reading mode" and taught.scope == "household"
    assert sorted((a["device"], a["command"], a["attribute"], a["value"])
                  for a in taught.actions) == [
        (home.iri("device", "light.ceiling").value, "set", "brightness", 100),
        (home.iri("device", "light.reading").value, "set", "brightness", 100)]
    assert "Reading Lamp" in taught.reply and "100%" in taught.reply
    # provenance: both utterances and the question
    heard = [s for s, e in home.events(types=[E.UtteranceHeard])]
    assert {home.ids.event(s) for s in heard} <= set(taught.derived_from)
    assert home.ids.event(ask_seq) in taught.derived_from
    assert not of_type(answer, T.TeachingRequested)  # the answer is not itself unfamiliar

    again = say(home, "19:05", "reading mode")
    assert issued(again) == [("light.ceiling", "set", 100), ("light.reading", "set", 100)]
    for _, cmd in of_type(again, E.CommandIssued):
        assert home.ids.event(taught_seq) in cmd.derived_from
        assert cmd.attribute == "brightness"
    assert not of_type(again, T.TeachingRequested)


def test_answers_and_taught_commands_are_read_as_known_before_any_classifier(home):
    say(home, "19:00", "reading mode")
    [(_, answer)] = of_type(say(home, "19:01", "lights all the way up in the living room"),
                            UtteranceInterpreted)
    assert (answer.intent, answer.method, answer.out_of_scope) == ("teaching.answer", "known", False)
    [(seq, reading)] = of_type(again := say(home, "19:05", "reading mode"), UtteranceInterpreted)
    assert (reading.intent, reading.confidence) == ("teaching.command", 1.0)
    [(taught_seq, _)] = list(home.events(types=[T.CommandTaught]))
    assert home.ids.event(taught_seq) in reading.derived_from  # the reading rests on the teaching
    assert explain(home, seq).sentence == \
        'I recognised "reading mode" as a command the household taught me.'
    assert issued(again)
    # an utterance nobody taught still goes to the classifier
    [(_, other)] = of_type(say(home, "19:06", "what's the weather"), UtteranceInterpreted)
    assert (other.intent, other.method) == ("weather.forecast", "classifier")


def test_a_command_is_taught_in_one_sentence(home):
    got = say(home, "20:00", "movie mode means lights at twenty percent")
    [(_, taught)] = of_type(got, T.CommandTaught)
    assert taught.phrase == "movie mode" and taught.text == "lights at twenty percent"
    assert sorted(a["device"].rsplit(":", 1)[-1] for a in taught.actions) == [
        "light.ceiling", "light.reading"]  # the lights of the room it was said in
    assert {a["value"] for a in taught.actions} == {20}
    assert issued(say(home, "20:01", "turn on movie mode please", who="sam")) == [
        ("light.ceiling", "set", 20), ("light.reading", "set", 20)]


@pytest.mark.parametrize("sentence, phrase", [
    ("when I say night light, the hall light on", "night light"),
    ("from now on cosy means the reading lamp at 30 percent", "cosy"),
])
def test_other_ways_of_defining_in_one_sentence(home, sentence, phrase):
    [(_, taught)] = of_type(say(home, "20:00", sentence), T.CommandTaught)
    assert taught.phrase == phrase


def test_re_teaching_is_a_revision_and_the_new_meaning_wins(home):
    [(first_seq, _)] = of_type(say(home, "19:00", "movie mode means lights at twenty percent"),
                               T.CommandTaught)
    [(second_seq, second)] = of_type(
        say(home, "19:30", "movie mode means the reading lamp at 5 percent"), T.CommandTaught)
    assert second.revises == home.ids.event(first_seq)
    assert second.reply.startswith("OK: now,")
    rows = home.query("SELECT ?old WHERE { ?new a hearth:CommandTaught ; "
                      "prov:wasRevisionOf ?old }")
    assert [r["old"] for r in rows] == [home.ids.event(first_seq)]
    current = home.query(T.TAUGHT_QUERY)
    assert [r["taught"] for r in current] == [home.ids.event(second_seq)]
    assert issued(say(home, "19:31", "movie mode")) == [("light.reading", "set", 5)]


def test_forgetting_a_command_stops_its_use(home):
    [(taught_seq, _)] = of_type(say(home, "19:00", "movie mode means lights at 20 percent"),
                                T.CommandTaught)
    [(_, gone)] = of_type(say(home, "19:10", "forget movie mode"), T.CommandForgotten)
    assert gone.forgets == home.ids.event(taught_seq) and gone.phrase == "movie mode"
    later = say(home, "19:20", "movie mode")
    assert issued(later) == []
    assert [e.phrase for _, e in of_type(later, T.TeachingRequested)] == ["movie mode"]
    assert list(home.query(T.TAUGHT_QUERY)) == []


def test_forget_of_an_unknown_phrase_forgets_nothing(home):
    got = say(home, "19:00", "forget movie mode")
    assert not of_type(got, T.CommandForgotten)


def test_a_command_taught_for_one_user_is_not_used_for_another(home):
    [(_, taught)] = of_type(say(home, "19:00", "focus means the reading lamp on, just for me"),
                            T.CommandTaught)
    assert (taught.scope, taught.person) == ("user", "ann")
    assert issued(say(home, "19:05", "focus")) == [("light.reading", "turn_on", None)]
    for_sam = say(home, "19:06", "focus", who="sam")
    assert issued(for_sam) == []
    assert of_type(for_sam, T.TeachingRequested)


def test_a_command_taught_for_one_room_applies_only_there(home):
    [(_, taught)] = of_type(say(home, "19:00", "bright means lights on only in here",
                                device="speaker.kitchen"), T.CommandTaught)
    assert (taught.scope, taught.area) == ("room", "kitchen")
    assert issued(say(home, "19:05", "bright", device="speaker.kitchen")) == [
        ("light.kitchen", "turn_on", None)]
    assert issued(say(home, "19:06", "bright", device="speaker.living")) == []


def test_the_most_specific_definition_wins(home):
    say(home, "19:00", "relax means lights at 50 percent")
    say(home, "19:01", "relax means the reading lamp at 10 percent, just for me")
    assert issued(say(home, "19:02", "relax")) == [("light.reading", "set", 10)]
    assert issued(say(home, "19:03", "relax", who="sam")) == [
        ("light.ceiling", "set", 50), ("light.reading", "set", 50)]


def test_a_taught_command_is_explained_with_when_it_was_taught(home):
    say(home, "19:00", "reading mode")
    [(taught_seq, _)] = of_type(say(home, "19:02", "lights all the way up in the living room"),
                                T.CommandTaught)
    [(cmd_seq, _), *_] = of_type(say(home, "19:05", "reading mode"), E.CommandIssued)
    why = explain(home, cmd_seq, attributions=False)
    assert "you taught me 'reading mode' at 19:02" in why.sentence
    assert taught_seq in [home.ids.seq_of(e) for e in why.input_events()] or any(
        getattr(e, "seq", None) == taught_seq for e in why.evidence)
    about = explain(home, taught_seq, attributions=False)
    assert about.sentence.startswith("I know 'reading mode' because Ann taught me this at 19:02")


def test_unfamiliar_questions_and_long_requests_are_not_offered_for_teaching(home):
    assert not of_type(say(home, "19:00", "who wrote war and peace"), T.TeachingRequested)
    assert not of_type(say(home, "19:01", "make the whole flat smell like a bakery please"),
                       T.TeachingRequested)


def test_cancelling_or_an_unusable_answer_teaches_nothing(home):
    say(home, "19:00", "party mode")
    assert not of_type(say(home, "19:01", "never mind"), T.CommandTaught)
    say(home, "19:02", "party mode")
    assert not of_type(say(home, "19:03", "the weather"), T.CommandTaught)
    assert T.teaching_state(home).lookup("party mode") is None


def test_an_answer_too_late_is_not_read_as_the_meaning(home):
    say(home, "19:00", "party mode")
    assert not of_type(say(home, "19:30", "lights on in the kitchen"), T.CommandTaught)


def test_a_meaning_that_does_not_resolve_is_asked_again(home):
    got = say(home, "19:00", "zen mode means something nice")
    [(_, ask)] = of_type(got, T.TeachingRequested)
    assert ask.phrase == "zen mode" and "couldn't work out" in ask.reply


def test_a_taught_phrase_can_mean_another(home):
    say(home, "19:00", "movie mode means lights at 20 percent")
    say(home, "19:01", "cinema means movie mode")
    assert issued(say(home, "19:02", "cinema")) == [("light.ceiling", "set", 20),
                                                    ("light.reading", "set", 20)]


# -- the events -----------------------------------------------------------------------------------

def test_teaching_events_survive_replay_and_fit_the_shapes(home):
    say(home, "19:00", "reading mode")
    say(home, "19:01", "lights all the way up in the living room")
    say(home, "19:02", "reading mode means lights at 90 percent, just for me")
    say(home, "19:03", "forget reading mode")
    checker = ShapeChecker.default()
    targeted = {c for shape in checker.shapes for c in shape.target_class}
    assert {cls.rdf_type for cls in T.TEACHING_TYPES} <= targeted
    kinds = set()
    for seq, event in home.events(types=T.TEACHING_TYPES):
        kinds.add(type(event))
        assert checker.violations(home.log.quads_of(seq)) == []
        again = E.Event.from_json(json.loads(json.dumps(event.to_json())), ids=home.ids)
        assert again == event
    assert kinds == {T.TeachingRequested, T.CommandTaught, T.CommandForgotten}


def test_the_teaching_state_is_rebuilt_by_replay(home):
    say(home, "19:00", "movie mode means lights at 20 percent")
    say(home, "19:01", "focus means the reading lamp on, just for me")
    say(home, "19:02", "forget movie mode")
    cached = T.teaching_state(home)
    fresh = T.TeachingState()
    for seq, event in home.events(types=T.TEACHING_TYPES):
        fresh.apply(seq, event, home)
    assert fresh.commands == cached.commands
    assert sorted(k[0] for k in fresh.commands) == ["focus"]


def test_a_retracted_definition_is_no_longer_used(home):
    [(seq, _)] = of_type(say(home, "19:00", "movie mode means lights at 20 percent"),
                         T.CommandTaught)
    home.retract(seq, reason="taught by mistake", time=dt.datetime(2026, 11, 25, 19, 1,
                                                                   tzinfo=dt.timezone.utc))
    assert T.teaching_state(home).lookup("movie mode") is None


@pytest.mark.parametrize("fields, message", [
    ({"scope": "user"}, "names the person"),
    ({"scope": "room"}, "names the area"),
    ({"scope": "everyone"}, "scope is one of"),
    ({"actions": []}, "non-empty list"),
    ({"actions": [{"command": "turn_on"}]}, "'device' IRI"),
])
def test_malformed_taught_commands_are_refused(fields, message):
    obj = {"type": "CommandTaught", "time": "2026-11-25T19:00:00Z", "phrase": "reading mode",
           "actions": [{"device": "urn:hearth:t:device:light.reading", "command": "turn_on"}],
           **fields}
    with pytest.raises(EventError, match=message):
        E.Event.from_json(obj)


# -- resolving words into actions -----------------------------------------------------------------

@pytest.mark.parametrize("words, room, expected", [
    ("lights all the way up in the living room", None,
     {("light.ceiling", "set", 100), ("light.reading", "set", 100)}),
    ("the TV on and the reading lamp at 40%", None,
     {("media_player.tv", "turn_on", None), ("light.reading", "set", 40)}),
    ("lock the front door", None, {("lock.front_door", "lock", None)}),
    ("lamps off in the bedroom", None, {("light.bedside", "turn_off", None)}),
    ("lights dimmed", "kitchen", {("light.kitchen", "set", 30)}),
])
def test_words_resolve_to_actions_on_devices(words, room, expected):
    home = _home()
    got = T.ActionResolver().resolve(home, words, room=room)
    assert {(T.device_local(home, a.device), a.command, a.value) for a in got} == expected


def test_words_that_name_nothing_say_so():
    home = _home()
    with pytest.raises(T.TeachingError, match="which devices"):
        T.resolve_actions(home, "everything on")
    with pytest.raises(T.TeachingError, match="what to do"):
        T.resolve_actions(home, "the reading lamp")


def test_the_component_is_registered_by_name():
    assert isinstance(make_component("teaching"), T.TeachingComponent)
    with pytest.raises(T.TeachingError, match="default_scope"):
        make_component("teaching", default_scope="street")


# -- few-shot intents -----------------------------------------------------------------------------

class HashedWords:
    """A tiny deterministic sentence encoder (hashed words and word pairs), so the real
    IntentClassifier trains in milliseconds."""

    name = "hashed-words"
    dim = 256

    def encode(self, texts):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            words = re.findall(r"[\w']+", text.lower())
            for w in words + [a + " " + b for a, b in zip(words, words[1:])]:
                h = int(hashlib.md5(w.encode()).hexdigest(), 16)
                out[i, h % self.dim] += 1.0 if " " not in w else 0.5
            out[i] /= np.linalg.norm(out[i]) or 1.0
        return out


class Prefitted:
    """The understander trains its classifier on the catalogue; this one comes trained on the
    fixture's intents, and hands add_intent to the real IntentClassifier."""

    def __init__(self, clf):
        self.clf = clf

    def fit(self, texts, labels):
        return self

    def predict(self, texts):
        return self.clf.predict(texts)

    def add_intent(self, name, examples, *, replace=False):
        self.clf.add_intent(name, examples, replace=replace)


@pytest.fixture(scope="module")
def intents_data():
    return json.loads((FIXTURES / "intents.json").read_text())


@pytest.fixture
def few_shot(intents_data):
    from reasoner.intents import IntentClassifier
    texts = [t for ex in intents_data["train"].values() for t in ex]
    labels = [lab for lab, ex in intents_data["train"].items() for _ in ex]
    clf = IntentClassifier(HashedWords(), lexical_weight=0.0, target_in_scope_recall=0.9,
                           max_iter=20).fit(texts, labels)
    understander = Understander(ha=None, classifier=Prefitted(clf), resolve_by_meaning=False)
    home = _home("fs")
    pipeline = Pipeline.from_names(["understanding", "teaching"],
                                   config={"understanding": {"understander": understander}})
    pipeline.attach(home)
    home.test_pipeline = pipeline
    return home, clf, understander


def live_understander(home):
    """The understander the household's pipeline reads with now."""
    [c] = [c for c in home.test_pipeline.components if c.name == "understanding"]
    return c.understander


def test_an_intent_defined_by_examples_is_usable_at_once(few_shot, intents_data):
    home, clf, understander = few_shot
    probe = intents_data["probe"]
    before = say(home, "08:00", probe)
    [(_, reading)] = of_type(before, UtteranceInterpreted)
    assert reading.intent != "garden.water_plants"
    others = ["turn off the lights in the hall", "what's the weather tomorrow"]
    readings_before = clf.predict_intents(others)
    weights_before = clf._We[: len(clf.classes)].copy()

    home.append(T.IntentDefined(
        time=dt.datetime(2026, 11, 25, 8, 1, tzinfo=dt.timezone.utc), person="ann",
        intent="garden.water_plants", skill="garden", examples=intents_data["water_plants"],
        actions=[{"device": home.iri("device", "switch.sprinkler").value,
                  "command": "turn_on"}]))
    after = say(home, "08:02", probe)
    [(seq, reading)] = of_type(after, UtteranceInterpreted)
    assert (reading.intent, reading.skill) == ("garden.water_plants", "garden")
    assert issued(after) == [("switch.sprinkler", "turn_on", None)]
    # the household reads with its own copy now; nothing else was retrained: the other
    # intents' weights and readings are unchanged
    live = live_understander(home)
    assert live is not understander and live.private
    mine = live.classifier.clf
    assert np.array_equal(mine._We[: len(weights_before)], weights_before)
    assert mine.predict_intents(others) == readings_before
    assert "garden.water_plants" in mine.imprinted
    assert live.catalogue.intent("garden.water_plants").skill == "garden"
    # the understander it started from (shared by other households) did not learn it
    assert "garden.water_plants" not in clf.imprinted
    assert "garden.water_plants" not in understander.catalogue


def test_an_intent_one_household_defines_is_not_read_in_another(few_shot, intents_data):
    home, clf, understander = few_shot
    other = _home("fs2")
    Pipeline.from_names(["understanding", "teaching"],
                        config={"understanding": {"understander": understander}}).attach(other)
    home.append(T.IntentDefined(
        time=dt.datetime(2026, 11, 25, 8, 1, tzinfo=dt.timezone.utc), person="ann",
        intent="garden.water_plants", skill="garden", examples=intents_data["water_plants"]))
    [(_, here)] = of_type(say(home, "08:02", intents_data["probe"]), UtteranceInterpreted)
    [(_, there)] = of_type(say(other, "08:02", intents_data["probe"]), UtteranceInterpreted)
    assert here.intent == "garden.water_plants" and there.intent != "garden.water_plants"


@pytest.mark.parametrize("fields, message", [
    ({"examples": []}, "non-empty list"),
    ({"intent": "water_plants"}, "'<skill>.<name>'"),
    ({"skill": "Garden"}, "lower-case name"),
])
def test_malformed_intent_definitions_are_refused(fields, message):
    obj = {"type": "IntentDefined", "time": "2026-11-25T08:00:00Z", "skill": "garden",
           "intent": "garden.water_plants", "examples": ["water the plants"], **fields}
    with pytest.raises(EventError, match=message):
        E.Event.from_json(obj)


# -- teaching without a dialogue (what the facade's teach / forget call) --------------------------

def test_teach_and_forget_without_a_dialogue(home):
    t = dt.datetime(2026, 11, 25, 19, 0, tzinfo=dt.timezone.utc)
    first = T.teach(home, "Reading mode", "lights all the way up in the living room", time=t)
    assert first.event.phrase == "reading mode" and len(first.event.actions) == 2
    second = T.teach(home, "reading mode", [{"device": "light.reading", "command": "set",
                                            "attribute": "brightness", "value": 80}], time=t)
    assert second.event.revises == first.iri
    assert second.event.actions == [{"device": home.iri("device", "light.reading").value,
                                     "command": "set", "attribute": "brightness", "value": 80}]
    mine = T.teach(home, "reading mode", "the bedside lamp on", scope="user", person="sam",
                   time=t)
    assert mine.event.revises is None                     # another scope: a definition of its own
    assert issued(say(home, "19:05", "reading mode")) == [("light.reading", "set", 80)]
    assert issued(say(home, "19:06", "reading mode", who="sam")) == [
        ("light.bedside", "turn_on", None)]
    gone = T.forget(home, "reading mode", person="sam", time=t)
    assert gone.event.forgets == mine.iri
    assert issued(say(home, "19:07", "reading mode", who="sam")) == [("light.reading", "set", 80)]


@pytest.mark.parametrize("kwargs, message", [
    ({"scope": "user"}, "needs person="),
    ({"scope": "room", "area": "attic"}, "no area 'attic'"),
    ({"person": "bob"}, "no person 'bob'.*people: ann, sam"),
    ({"meaning": [{"device": "light.attic", "command": "turn_on"}]}, "no device 'light.attic'"),
])
def test_teach_refuses_what_it_cannot_use(kwargs, message):
    home = _home()
    args = {"meaning": "lights on", "scope": "household", **kwargs}
    with pytest.raises(T.TeachingError, match=message):
        T.teach(home, "x mode", args.pop("meaning"), **args)


def test_forgetting_an_unknown_phrase_lists_the_known_ones():
    home = _home()
    T.teach(home, "movie mode", "lights at 20 percent in the living room")
    with pytest.raises(T.TeachingError, match="no taught command 'film mode'.*'movie mode'"):
        T.forget(home, "film mode")


def test_no_thats_wrong_right_after_teaching_undoes_it(home):
    say(home, "19:00", "movie mode means lights at 20 percent")
    [(seq, revised)] = of_type(say(home, "19:01", "movie mode means the TV on"), T.CommandTaught)
    [(_, back)] = of_type(say(home, "19:02", "no, that's wrong"), T.CommandTaught)
    assert back.revises == home.ids.event(seq) and back.reply.startswith("OK, back to what it was")
    assert issued(say(home, "19:03", "movie mode")) == [("light.ceiling", "set", 20),
                                                        ("light.reading", "set", 20)]
    say(home, "19:04", "party mode means the TV on")
    [(_, gone)] = of_type(say(home, "19:05", "undo that"), T.CommandForgotten)
    assert gone.phrase == "party mode"
    assert T.teaching_state(home).lookup("party mode") is None
    # too late: something else was said in between
    say(home, "19:06", "party mode means the TV on")
    say(home, "19:07", "movie mode")
    assert not of_type(say(home, "19:08", "no, that's wrong"), (T.CommandTaught,
                                                                T.CommandForgotten))


def test_the_default_nearest_sample_classifier_learns_an_intent_too(intents_data):
    from reasoner.understanding import NearestSampleClassifier
    understander = Understander(ha=None, classifier=NearestSampleClassifier(HashedWords()),
                                resolve_by_meaning=False)
    home = _home("ns")
    Pipeline.from_names(["understanding", "teaching"],
                        config={"understanding": {"understander": understander}}).attach(home)
    T.define_intent(home, "garden.water_plants", intents_data["water_plants"],
                    actions=[{"device": "switch.sprinkler", "command": "turn_on"}],
                    time=dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.timezone.utc))
    after = say(home, "08:02", intents_data["probe"])
    [(_, reading)] = of_type(after, UtteranceInterpreted)
    assert reading.intent == "garden.water_plants"
    assert issued(after) == [("switch.sprinkler", "turn_on", None)]


def test_a_weak_reading_with_nothing_filled_is_offered_for_teaching_but_not_a_sure_one(
        understander):
    home = _home("weak")
    Pipeline.from_names(["understanding", "teaching"],
                        config={"understanding": {"understander": understander},
                                "teaching": {"ask_below": 0.5}}).attach(home)
    weak = say(home, "19:00", "reading mode")
    [(_, reading)] = of_type(weak, UtteranceInterpreted)
    assert (reading.intent, reading.confidence) == ("HassClimateSetFanMode", 0.6)
    assert not of_type(weak, T.TeachingRequested)      # 0.6 is sure enough at ask_below=0.5
    home2 = _home("weak2")
    Pipeline.from_names(["understanding", "teaching"],
                        config={"understanding": {"understander": understander}}).attach(home2)
    assert of_type(say(home2, "19:00", "reading mode"), T.TeachingRequested)
    assert not of_type(say(home2, "19:01", "lamp please"), T.TeachingRequested)


# -- with the real models ------------------------------------------------------------------------

@pytest.fixture(scope="session")
def real_understander():
    u = Understander(samples_per_intent=10)  # fewer template sentences: a faster fit
    u.classifier  # noqa: B018 (trained here, once)
    return u


@pytest.mark.slow
def test_the_reading_mode_dialogue_with_the_real_models(real_understander):
    home = _home("real")
    Pipeline.from_names(["understanding", "teaching"],
                        config={"understanding": {"understander": real_understander}}
                        ).attach(home)
    assert of_type(say(home, "19:00", "reading mode"), T.TeachingRequested)
    assert of_type(say(home, "19:01", "lights all the way up in the living room"),
                   T.CommandTaught)
    assert issued(say(home, "19:05", "reading mode")) == [("light.ceiling", "set", 100),
                                                          ("light.reading", "set", 100)]
    assert not of_type(say(home, "19:06", "who wrote war and peace"), T.TeachingRequested)
