"""Dialogue state in the graph (reasoner.dialogue): provenance in SPARQL, carryover across skills,
revisions that propagate, replay.

Conversations are fed as understanding would feed them (an UtteranceHeard and the
UtteranceInterpreted read from it), so these tests need no model; the skills answer from the
hand-made places in tests/fixtures/dialogue/venues.yaml. The learned carryover model (MiniLM,
fitted on tests/fixtures/sgd) is loaded once, in a session fixture marked slow.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kg import events as E
from kg.household import Hearth
from reasoner.dialogue import (Carryover, carry_history, DialogueComponent, DialogueError, DialogueSpec,
                               DialogueState, FrameOpened, SlotFilled, SlotState, SystemTurnMade,
                               SPEC_PATH, UserTurnMade, WHY_QUERY, dialogue_state,
                               slot_provenance)
from reasoner.fixture_skills import FixtureSkills
from reasoner.pipeline import Pipeline
from reasoner.understanding import UtteranceInterpreted

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TZ = dt.timezone(dt.timedelta(hours=-8))


def _home(hearth=None, **config):
    hearth = hearth or Hearth.in_memory()
    home = hearth.create_household("h1", name="Test home", time="2026-11-21T06:00:00-08:00")
    config.setdefault("carryover", None)
    config.setdefault("responder", FixtureSkills.load(FIXTURES / "dialogue" / "venues.yaml"))
    Pipeline([DialogueComponent(**config)]).attach(home)
    return home


def say(home, hhmm, text, intent=None, slots=None, *, session="s1", speaker="maya", day=21,
        confidence=0.9):
    """Appends an utterance and its reading; returns the events the dialogue concluded."""
    h, m = map(int, hhmm.split(":"))
    when = dt.datetime(2026, 11, day, h, m, tzinfo=TZ)
    heard = home.append(E.UtteranceHeard(time=when, text=text, speaker=speaker, session=session))
    read = home.append(UtteranceInterpreted(
        time=when, derived_from=(heard.iri,), intent=intent,
        skill=intent.split(".")[0] if intent else None, confidence=confidence,
        slots={k: {"value": v, "source": "parser"} for k, v in (slots or {}).items()},
        out_of_scope=intent is None))
    return [(seq, ev) for seq, ev in home.events(start=read.seq + 1)]


def fills(events, **match):
    return [ev for _, ev in events if isinstance(ev, SlotFilled)
            and all(getattr(ev, k) == v for k, v in match.items())]


def night_out(home):
    """A film, dinner nearby, a ride: the conversation the revision tests change."""
    say(home, "18:30", "what's on at Plaza Cinema tonight", "movies.showtimes",
        {"place": "Plaza Cinema"})
    say(home, "18:31", "book two tickets for the 7 pm showing", "movies.buy_tickets",
        {"tickets": 2, "time": "2026-11-21T19:00:00-08:00"})
    say(home, "18:32", "find a restaurant nearby", "restaurants.find")
    say(home, "18:33", "book a table there", "restaurants.reserve")
    say(home, "18:34", "get us a ride there", "rideshare.book_ride")
    return dialogue_state(home).sessions["s1"]


# ---- the state and where each value came from ----------------------------------------------

def test_said_value_records_its_turn_and_sparql_finds_it():
    home = _home()
    events = say(home, "08:40", "what's the weather in Half Moon Bay", "weather.forecast",
                 {"name": "Half Moon Bay"})
    turn = next(ev for _, ev in events if isinstance(ev, UserTurnMade))
    assert (turn.session, turn.turn, turn.skill) == ("s1", 1, "weather")
    assert any(isinstance(ev, FrameOpened) and ev.skill == "weather" for _, ev in events)
    [row] = slot_provenance(home, "weather", "name")
    assert (row["value"], row["source"], row["turn"]) == ("Half Moon Bay", "said", 1)
    assert row["fromSkill"] is None and row["revised"] is None


def test_sparql_says_what_the_ride_frame_holds_and_why():
    home = _home()
    night_out(home)
    rows = home.query(WHY_QUERY, bindings={"skill": "rideshare", "slot": "destination"})
    [row] = list(rows)
    assert row["value"].value == "14 Plaza Way"
    assert row["source"].value.endswith("#InferredByRule")
    assert (row["fromSkill"].value, row["fromSlot"].value) == ("restaurants", "address")
    assert row["rule"].value.endswith("/ride-to-restaurant")
    depends = home.event(home.ids.seq_of(row["dependsOn"]))
    assert (depends.skill, depends.slot, depends.source) == ("restaurants", "address", "offered")


def test_a_place_is_carried_into_a_ride_destination():
    home = _home()
    say(home, "08:40", "what's the weather in Half Moon Bay", "weather.forecast",
        {"name": "Half Moon Bay"})
    events = say(home, "08:41", "get me a taxi", "rideshare.book_ride")
    [dest] = fills(events, slot="destination")
    assert (dest.value, dest.source, dest.from_skill, dest.from_slot) == \
        ("Half Moon Bay", "carried", "weather", "name")
    assert dest.score >= 0.5 and "a Beach fills Place" in dest.reason
    [said] = [seq for seq, ev in home.events(types=[SlotFilled]) if ev.skill == "weather"]
    assert dest.source_event == home.ids.event(said) and home.ids.event(said) in dest.derived_from


def _weather_then_taxi(home, session, day, *, correct_to=None):
    say(home, "08:40", "what's the weather in Half Moon Bay", "weather.forecast",
        {"name": "Half Moon Bay"}, session=session, day=day)
    events = say(home, "08:41", "get me a taxi", "rideshare.book_ride", session=session, day=day)
    if correct_to:
        say(home, "08:42", f"no, to {correct_to}", "rideshare.book_ride",
            {"destination": correct_to}, session=session, day=day)
    return fills(events, slot="destination")


def test_a_household_that_always_corrects_a_carry_stops_getting_it():
    home = _home()
    for day in (1, 2, 3, 4):   # four mornings the taxi was for somewhere else
        [dest] = _weather_then_taxi(home, f"s{day}", day, correct_to="Pescadero")
        assert dest.value == "Half Moon Bay"
    assert _weather_then_taxi(home, "s5", 5) == []
    # another household, whose taxis went where the weather was: carried, and it says why
    kept = _home()
    for day in (1, 2):
        _weather_then_taxi(kept, f"s{day}", day)
    [dest] = _weather_then_taxi(kept, "s3", 3)
    assert dest.value == "Half Moon Bay" and dest.score > 0.8
    assert "carried 2 of 2 times from weather's name in this household's conversations" \
        in dest.reason


def test_carry_history_counts_a_conversation_again_only_when_its_frames_change():
    home = _home()
    _weather_then_taxi(home, "s1", 1)
    _weather_then_taxi(home, "s2", 2)
    state, schemas, cache = dialogue_state(home), Carryover().schemas, {}
    first = carry_history(state, schemas, cache=cache)
    parts = {sid: hit[1] for sid, hit in cache.items()}
    assert set(parts) == {"s1", "s2"}
    again = carry_history(state, schemas, cache=cache)
    assert again.seen == first.seen and all(cache[s][1] is parts[s] for s in parts)
    # s2's taxi goes elsewhere after all: only s2 is counted again, and the sums follow
    say(home, "08:45", "no, to Pescadero", "rideshare.book_ride", {"destination": "Pescadero"},
        session="s2", day=2)
    changed = carry_history(state, schemas, cache=cache)
    assert cache["s1"][1] is parts["s1"] and cache["s2"][1] is not parts["s2"]
    fresh = carry_history(state, schemas)
    assert (changed.seen, changed.carried) == (fresh.seen, fresh.carried)
    assert changed.carried != first.carried and changed.seen == first.seen


def test_carryover_follows_ontology_types():
    spec = DialogueSpec.load()
    carry = Carryover(spec)
    when = dt.datetime(2026, 11, 21, 18, 30, tzinfo=TZ)
    iri = Hearth.in_memory().create_household("x", time=when).ids.event(1)

    def held(skill, slot, value, value_type, turn=1):
        return SlotState(skill, slot, value, value_type, "said", turn, iri, when)
    values = [held("movies", "place", "Plaza Cinema", "MovieTheater"),
              held("movies", "time", "2026-11-21T19:00:00-08:00", "Time"),
              held("movies", "tickets", 2, "PartySize")]
    got = {c.slot: c for c in carry.decide(values, "restaurants")}
    assert got["place"].value == "Plaza Cinema"          # a cinema is a place to eat near …
    assert "restaurant" not in got                       # … not a restaurant
    assert "time" not in got                             # times are never carried by type
    assert got["party_size"].value == 2
    routes = carry.decide([held("weather", "name", "Half Moon Bay", "Place")], "routes")
    assert [(c.slot, c.value) for c in routes] == [("destination", "Half Moon Bay")]  # not origin


def test_a_venue_named_in_words_no_skill_covered_opens_its_skill():
    home = _home()
    events = say(home, "18:30", "what's playing at Plaza Cinema", None)
    turn = next(ev for _, ev in events if isinstance(ev, UserTurnMade))
    assert turn.intent == "movies.showtimes" and turn.rule.endswith("/venue-names-skill")
    [place] = fills(events, slot="place")
    assert place.value == "Plaza Cinema" and place.source == "said"
    answer = next(ev for _, ev in events if isinstance(ev, SystemTurnMade))
    assert "The Test Film at 7:00 pm and 8:30 pm" in answer.text


def test_names_are_snapped_to_known_venues():
    home = _home()
    night_out(home)
    events = say(home, "18:37", "book a table at Nina's instead", "restaurants.reserve",
                 {"restaurant": "Nina's instead"})
    [name] = fills(events, slot="restaurant")
    assert name.value == "Nina's" and name.revises is not None


# ---- revisions propagate -------------------------------------------------------------------

def test_night_out_fills_the_reservation_and_ride_from_the_film():
    session = night_out(_home())
    table, ride = session.frames["restaurants"], session.frames["rideshare"]
    assert table.slots["time"].value == "2026-11-21T20:55:00-08:00"      # film ends 20:40 + 15
    assert table.slots["time"].rule.endswith("/dinner-after-film")
    assert table.slots["party_size"].value == 2
    assert (table.slots["party_size"].from_skill, table.slots["party_size"].from_slot) == \
        ("movies", "tickets")
    assert ride.slots["time"].value == "2026-11-21T20:40:00-08:00"
    assert ride.slots["destination"].value == "14 Plaza Way"
    assert ride.slots["pickup"].value == "Plaza Cinema"
    assert table.status == ride.status == "done"


def test_the_skills_say_when_a_table_is_too_early_and_when_a_ride_without_a_time_comes():
    home = _home()
    events = say(home, "12:00", "book a table for two at Luigi's at 1 pm", "restaurants.reserve",
                 {"restaurant": "Luigi's", "party_size": 2, "time": "2026-11-21T13:00:00-08:00"})
    [reply] = [ev for _, ev in events if isinstance(ev, SystemTurnMade)]
    assert reply.text == "Luigi's opens at 5:00 pm and takes its last table at 11:30 pm."
    events = say(home, "23:40", "book a table for two at Luigi's", "restaurants.reserve",
                 {"restaurant": "Luigi's"}, session="s2")
    [reply] = [ev for _, ev in events if isinstance(ev, SystemTurnMade)]
    assert reply.text == "Luigi's takes its last table at 11:30 pm."
    events = say(home, "12:05", "get me a ride to Luigi's", "rideshare.book_ride",
                 {"destination": "Luigi's"}, session="s3")
    [reply] = [ev for _, ev in events if isinstance(ev, SystemTurnMade)]
    assert reply.text == "Booked a car for 1: it picks you up now and takes you to Luigi's (14 Plaza Way)."


def test_moving_the_film_revises_the_table_and_the_ride_each_as_an_event():
    home = _home()
    night_out(home)
    events = say(home, "18:40", "get tickets for the 8:30 showing instead",
                 "movies.buy_tickets", {"time": "2026-11-21T20:30:00-08:00"}, confidence=0.57)
    by_iri = {home.ids.event(seq): ev for seq, ev in events}
    [film] = fills(events, skill="movies", slot="time")
    [end] = fills(events, skill="movies", slot="end_time")
    [table] = fills(events, skill="restaurants", slot="time")
    [ride] = fills(events, skill="rideshare", slot="time")
    assert film.source == "said" and film.revises is not None
    assert end.value == "2026-11-21T22:10:00-08:00" and end.source == "offered"
    assert table.value == "2026-11-21T22:25:00-08:00" and ride.value == "2026-11-21T22:10:00-08:00"
    for revised in (table, ride):  # each derived from the revised end time, naming what it revises
        assert by_iri[revised.derived_from[0]] == end
        assert revised.source_event == revised.derived_from[0]
        assert revised.revises is not None and revised.source == "inferred"
    told = [ev for _, ev in events if isinstance(ev, SystemTurnMade) and ev.act == "confirm"]
    assert told[-1].text == ("I've moved your table at Luigi's to 10:25 pm and your ride to "
                             "10:10 pm.")
    rows = slot_provenance(home, "restaurants", "time")
    assert rows[0]["value"] == "2026-11-21T22:25:00-08:00" and rows[0]["revised"]


def test_changing_the_restaurant_changes_the_ride_destination():
    home = _home()
    night_out(home)
    events = say(home, "18:37", "book a table at Nina's instead", "restaurants.reserve",
                 {"restaurant": "Nina's"})
    [dest] = fills(events, skill="rideshare", slot="destination")
    assert dest.value == "230 Crest Road" and dest.revises is not None
    told = [ev.text for _, ev in events if isinstance(ev, SystemTurnMade)]
    assert told[-1] == "Your ride now goes to Nina's (230 Crest Road)."


def test_what_the_user_said_is_not_overwritten_by_a_revision():
    home = _home()
    night_out(home)
    say(home, "18:35", "make the table for 9:30 pm", "restaurants.reserve",
        {"time": "2026-11-21T21:30:00-08:00"})
    events = say(home, "18:40", "get tickets for the 8:30 showing instead",
                 "movies.buy_tickets", {"time": "2026-11-21T20:30:00-08:00"})
    assert not fills(events, skill="restaurants", slot="time")
    assert fills(events, skill="rideshare", slot="time")
    table = dialogue_state(home).sessions["s1"].frames["restaurants"].slots["time"]
    assert (table.value, table.source) == ("2026-11-21T21:30:00-08:00", "said")


# ---- replay and events ---------------------------------------------------------------------

def test_replay_rebuilds_the_dialogue_state(tmp_path):
    hearth = Hearth.open(tmp_path / "hearth")
    home = _home(hearth)
    night_out(home)
    say(home, "18:40", "get tickets for the 8:30 showing instead", "movies.buy_tickets",
        {"time": "2026-11-21T20:30:00-08:00"})
    live = dialogue_state(home).snapshot()
    assert live["s1"]["frames"]["restaurants"]["revised"]          # revisions are kept
    assert DialogueState.replay(home).snapshot() == live
    hearth.close()
    reopened = Hearth.open(tmp_path / "hearth").household("h1")
    assert dialogue_state(reopened).snapshot() == live


def test_dialogue_events_round_trip_through_rdf():
    home = _home()
    night_out(home)
    for seq, event in home.events(types=[SlotFilled, SystemTurnMade, UserTurnMade]):
        again = E.Event.from_quads(home.log.quads_of(seq), home.ids)
        assert again == event
        assert E.Event.from_json(event.to_json(), ids=home.ids) == event


def test_session_without_an_id_follows_the_speaker_until_a_pause():
    home = _home()
    say(home, "08:40", "weather in Half Moon Bay", "weather.forecast", {"name": "Half Moon Bay"},
        session=None)
    say(home, "08:42", "get me a taxi", "rideshare.book_ride", session=None)
    say(home, "09:30", "get me a taxi", "rideshare.book_ride", session=None)
    sessions = dialogue_state(home).sessions
    assert len(sessions) == 2
    first = next(s for s in sessions.values() if "weather" in s.frames)
    assert first.frames["rideshare"].slots["destination"].value == "Half Moon Bay"


def test_the_shapes_accept_every_dialogue_event():
    from kg.shapes import ShapeChecker
    from reasoner import dialogue, goals
    checker = ShapeChecker.default()
    targeted = {c for shape in checker.shapes for c in shape.target_class}
    assert {cls.rdf_type for cls in dialogue.DIALOGUE_TYPES + (goals.GoalsRanked,)} <= targeted
    home = _home()
    Pipeline([goals.GoalsComponent(transitions=None)]).attach(home)
    night_out(home)
    kinds = set()
    for seq, event in home.events(types=dialogue.DIALOGUE_TYPES + (goals.GoalsRanked,)):
        kinds.add(type(event))
        assert checker.violations(home.log.quads_of(seq)) == [], event
    assert len(kinds) == 6
    broken = [q for q in home.log.quads_of(seq) if q.predicate != dialogue.P_TURN_INDEX]
    assert checker.violations(broken)                    # a turn number is required


def test_an_inferred_value_needs_its_rule():
    with pytest.raises(E.EventError, match="names its rule"):
        E.Event.from_json({"type": "SlotFilled", "time": "2026-11-21T08:00:00Z",
                           "derived_from": [1], "session": "s1", "skill": "restaurants",
                           "slot": "time", "value": "x", "value_type": "Time",
                           "source": "inferred", "turn": 1, "from_skill": "movies",
                           "from_slot": "end_time"})


def test_a_rule_naming_an_unknown_slot_is_refused(tmp_path):
    bad = tmp_path / "dialogue.yaml"
    bad.write_text(SPEC_PATH.read_text()
                   .replace("target: rideshare.pickup", "target: rideshare.pikup"))
    with pytest.raises(DialogueError, match="rideshare.pikup"):
        DialogueSpec.load(bad)


# ---- the learned carryover model (MiniLM, fitted on the SGD fixtures) -----------------------

@pytest.fixture(scope="session")
def carryover_model():
    from reasoner.carryover import CarryoverModel, MiniLMEmbedder, load_sgd_dialogues, \
        load_sgd_schemas
    sgd = FIXTURES / "sgd"
    return CarryoverModel(embedder=MiniLMEmbedder()).fit(
        load_sgd_dialogues(sgd / "train_dialogues.json"),
        load_sgd_schemas(sgd / "train_schema.json"))


@pytest.mark.slow
def test_learned_carryover_scores_the_catalogue_skills(carryover_model):
    home = _home(carryover=Carryover(model=carryover_model))
    say(home, "08:40", "what's the weather in Half Moon Bay", "weather.forecast",
        {"name": "Half Moon Bay"})
    events = say(home, "08:41", "get me a taxi", "rideshare.book_ride")
    [dest] = fills(events, slot="destination")
    assert dest.value == "Half Moon Bay" and dest.source == "carried"
    assert "learned carryover" in dest.reason
    assert "Weather_90" in carryover_model.schemas and "RideSharing_94" in carryover_model.schemas
