"""Latent goals (reasoner.goals): ranking what comes next, the offer trigger, the offer with its
carried slots, and the score behind it for explanations.

Conversations are fed as understanding would feed them (no model); places come from
tests/fixtures/dialogue/venues.yaml. The learned transition model (MiniLM, fitted on
tests/fixtures/sgd) and the real understanding are loaded once each, in session fixtures marked
slow.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest

from kg import events as E
from kg.household import Hearth
from reasoner.attribution import attribute
from reasoner.dialogue import DialogueComponent, SlotFilled, SystemTurnMade, dialogue_state
from reasoner.fixture_skills import FixtureSkills
from reasoner.goals import (CS, FEATURES, GoalKnowledge, GoalModel, GoalsComponent, GoalsRanked,
                            offer_score, why_offered)
from reasoner.patterns import SuggestionMade
from reasoner.pipeline import Pipeline
from reasoner.understanding import UtteranceInterpreted

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TZ = dt.timezone(dt.timedelta(hours=-8))
SATURDAY, TUESDAY = 21, 24


def _home(**goals_config):
    home = Hearth.in_memory().create_household("h1", name="Test home",
                                               time="2026-11-21T06:00:00-08:00")
    goals_config.setdefault("transitions", None)
    Pipeline([DialogueComponent(carryover=None,
                                responder=FixtureSkills.load(FIXTURES / "dialogue" / "venues.yaml")),
              GoalsComponent(**goals_config)]).attach(home)
    return home


def say(home, hhmm, text, intent=None, slots=None, *, session="s1", day=SATURDAY):
    h, m = map(int, hhmm.split(":"))
    when = dt.datetime(2026, 11, day, h, m, tzinfo=TZ)
    heard = home.append(E.UtteranceHeard(time=when, text=text, speaker="maya", session=session))
    read = home.append(UtteranceInterpreted(
        time=when, derived_from=(heard.iri,), intent=intent,
        skill=intent.split(".")[0] if intent else None, confidence=0.9,
        slots={k: {"value": v, "source": "parser"} for k, v in (slots or {}).items()},
        out_of_scope=intent is None))
    return [(seq, ev) for seq, ev in home.events(start=read.seq + 1)]


def of(events, cls):
    return [(seq, ev) for seq, ev in events if isinstance(ev, cls)]


def weather(home, place="Half Moon Bay", **kw):
    return say(home, "08:40", f"what's the weather in {place}", "weather.forecast",
               {"name": place}, **kw)


# ---- the beach offer ---------------------------------------------------------------------------

def test_beach_weather_offers_the_driving_time_with_the_destination_filled():
    home = _home()
    events = weather(home)
    [(_, ranked)] = of(events, GoalsRanked)
    [(seq, offer)] = of(events, SuggestionMade)
    assert ranked.offered == "routes.driving_time"
    assert offer.text == "Want the driving time to Half Moon Bay?"
    assert (offer.intent, offer.kind, offer.by) == ("routes.driving_time", "offer", "component:goals")
    dest = offer.slots["destination"]
    assert (dest["value"], dest["source"], dest["from_skill"], dest["from_slot"]) == \
        ("Half Moon Bay", "carried", "weather", "name")
    assert home.ids.event(next(s for s, e in events if isinstance(e, GoalsRanked))) in \
        offer.derived_from
    assert offer.target == home.ids.person("maya").value
    features = ranked.candidate()["features"]
    assert {"commonsense", "keyword", "day", "slots"} <= set(features)
    turn = [ev for _, ev in of(events, SystemTurnMade) if ev.act == "offer_intent"]
    assert turn and turn[0].intent == "routes.driving_time"        # the offer is a system turn


def test_no_offer_on_a_weekday_for_a_city():
    events = weather(_home(), "London", day=TUESDAY)
    [(_, ranked)] = of(events, GoalsRanked)
    assert ranked.offered is None and not of(events, SuggestionMade)
    assert ranked.ranking[0]["intent"] == "routes.driving_time"
    assert "under the threshold" in ranked.reason
    assert "keyword" not in ranked.ranking[0]["features"]
    assert "day" not in ranked.ranking[0]["features"]


def test_no_offer_that_cannot_be_said():
    events = say(_home(), "08:40", "will it rain", "weather.forecast")   # no place: no destination
    [(_, ranked)] = of(events, GoalsRanked)
    assert ranked.offered is None and not of(events, SuggestionMade)


def test_an_offer_is_made_once_and_a_declined_one_is_not_repeated():
    home = _home()
    weather(home)
    events = say(home, "08:41", "no thanks", None)
    [(_, ranked)] = of(events, GoalsRanked)
    assert ranked.offered is None and ranked.reason == "the last offer was just declined"
    again = say(home, "08:42", "what's the weather in Half Moon Bay tomorrow", "weather.forecast",
                {"name": "Half Moon Bay", "date": "2026-11-22"})
    assert not of(again, SuggestionMade)


def test_yes_accepts_the_offer_with_its_values():
    home = _home()
    weather(home)
    events = say(home, "08:41", "yes please", None)
    [dest] = [ev for _, ev in of(events, SlotFilled) if ev.skill == "routes"]
    assert (dest.value, dest.source, dest.from_skill, dest.from_slot) == \
        ("Half Moon Bay", "offered", "weather", "name")
    answer = [ev.text for _, ev in of(events, SystemTurnMade)]
    assert answer == ["The drive to Half Moon Bay takes about 52 minutes in current traffic."]
    assert dialogue_state(home).sessions["s1"].frames["routes"].intent == "routes.driving_time"


def test_the_households_own_history_raises_an_offer():
    home = _home()
    for day, session in ((10, "a"), (12, "b")):          # twice before: weather, then the drive
        say(home, "08:00", "weather in London", "weather.forecast", {"name": "London"},
            session=session, day=day)
        say(home, "08:01", "how long is the drive to London", "routes.driving_time",
            {"destination": "London"}, session=session, day=day)
    events = weather(home, "London", day=TUESDAY, session="c")
    [(_, ranked)] = of(events, GoalsRanked)
    top = ranked.candidate("routes.driving_time")
    assert top["features"]["household"] == pytest.approx(2 / 3, abs=1e-3)
    assert "2 times before" in top["labels"]["household"]
    assert ranked.offered == "routes.driving_time"


# ---- the score, for explanations ---------------------------------------------------------------

def test_offer_score_recomputes_the_recorded_probability_from_named_features():
    home = _home()
    events = weather(home)
    [(seq, offer)] = of(events, SuggestionMade)
    got = offer_score(home, seq)
    names = {f.name for f in got.features}
    assert names <= set(FEATURES) and "commonsense" in names
    assert got.score_fn(frozenset(names)) == pytest.approx(got.recorded, abs=1e-4)
    assert got.score_fn(frozenset()) == pytest.approx(1 / (1 + math.exp(4.8)))
    assert got.recorded >= got.threshold
    shap = attribute(got.score_fn, list(got.features), method="exact")
    assert shap.efficiency_gap == pytest.approx(0.0, abs=1e-9)
    assert shap.ranked()[0].feature.name == "commonsense"
    assert why_offered(home, seq).startswith(
        'I offered "Want the driving time to Half Moon Bay?" because a trip to the beach needs')


def test_offer_score_is_none_for_other_conclusions():
    home = _home()
    events = weather(home)
    seq = next(s for s, e in events if isinstance(e, SlotFilled))
    assert offer_score(home, seq) is None


def test_the_trigger_threshold_is_the_models():
    strict = GoalModel(threshold=0.95)
    events = weather(_home(model=strict.to_json()))
    [(_, ranked)] = of(events, GoalsRanked)
    assert ranked.offered is None and ranked.model["threshold"] == 0.95


def test_goal_knowledge_reads_commonsense():
    k = GoalKnowledge.load()
    beach = k.goals[CS + "TripToTheBeach"]
    assert {CS + "WeatherForecast", CS + "DrivingTime"} <= beach.needs
    assert "beach" in beach.keywords and CS + "Weekend" in beach.days
    night = k.goals[CS + "NightOut"]
    assert {CS + "FilmListings", CS + "RestaurantTable", CS + "Ride"} <= night.needs
    morning = dt.datetime(2026, 11, 21, 8, 40, tzinfo=TZ)
    assert CS + "Morning" in k.time_of_day(morning)
    assert k.time_of_day(morning.replace(hour=23)) == {CS + "Night"}


# ---- learned transitions and the real understanding (models: slow) ---------------------------

@pytest.fixture(scope="session")
def transition_model():
    from reasoner.carryover import MiniLMEmbedder, load_sgd_dialogues, load_sgd_schemas
    from reasoner.transitions import TransitionModel
    sgd = FIXTURES / "sgd"
    return TransitionModel(embedder=MiniLMEmbedder()).fit(
        load_sgd_dialogues(sgd / "train_dialogues.json"),
        load_sgd_schemas(sgd / "train_schema.json"))


@pytest.mark.slow
def test_learned_transitions_add_a_feature_and_learn_the_households_own(transition_model):
    model = transition_model
    counted = model._counts.total
    home = _home(transitions=model)
    events = weather(home)
    [(_, ranked)] = of(events, GoalsRanked)
    learned = {c["intent"]: c["features"].get("learned", 0.0) for c in ranked.ranking}
    assert all(-1.0 <= v <= 1.0 for v in learned.values()) and any(learned.values())
    top = max(ranked.ranking, key=lambda c: c["features"].get("learned", -2))
    assert "learned from dialogues" in top["labels"]["learned"]
    before = learned["routes.driving_time"]
    say(home, "08:41", "how long is the drive", "routes.driving_time",
        {"destination": "Half Moon Bay"})
    # the next morning, a new conversation about the weather: this household's weather → routes
    # raises routes' learned lift
    events = weather(home, session="s9", day=22)
    [(_, ranked)] = of(events, GoalsRanked)
    after = {c["intent"]: c["features"].get("learned", 0.0) for c in ranked.ranking}
    assert after["routes.driving_time"] > before
    # the model is shared by households: it learned nothing, and a new household ranks as before
    assert model._counts.total == counted and len(model.history) == 0
    [(_, fresh)] = of(weather(_home(transitions=model)), GoalsRanked)
    assert {c["intent"]: c["features"].get("learned", 0.0) for c in fresh.ranking} == learned


@pytest.mark.slow
def test_the_beach_offer_from_the_words_through_understanding():
    from hearth.household import Hearth as FacadeHearth
    hearth = FacadeHearth.in_memory()
    home = hearth.create_household("h1", time="2026-11-21T06:00:00-08:00")
    for name in ("goals", "dialogue"):  # the facade has both: swap in test-configured ones
        if name in home.pipeline.names:
            home.pipeline.remove(name)
    home.pipeline.add(DialogueComponent(
        carryover=None, responder=FixtureSkills.load(FIXTURES / "dialogue" / "venues.yaml")),
        after="understanding")
    home.pipeline.add(GoalsComponent(transitions=None), after="dialogue")
    heard = home.hear("what's the weather at Half Moon Bay", speaker=None, session="s2",
                      time="2026-11-21T08:40:00-08:00")
    [offer] = heard.of_type(SuggestionMade)
    assert offer.event.text == "Want the driving time to Half Moon Bay?"
    assert offer.event.slots["destination"]["value"] == "Half Moon Bay"
