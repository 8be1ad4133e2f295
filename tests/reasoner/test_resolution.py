"""Resolving unfamiliar requests: key terms, commonsense paths to intents, slots, explanations
with sources, the offline lexicon, ConceptNet served on 127.0.0.1, events in the graph."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from connectors.cache import MemoryCache
from connectors.conceptnet import ConceptNetClient
from connectors.transport import NO_RETRY, Timeout, Transport
from kg import events as E
from kg.household import Hearth
from kg.ingest import ingest_file
from reasoner.patterns import SuggestionMade
from reasoner.pipeline import Pipeline, make_component
from reasoner.resolution import (FactsFetched, ResolutionComponent, Resolver, key_terms, main,
                                 resolution_events)
from reasoner.understanding import UtteranceInterpreted

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "resolution"
NOW = dt.datetime(2026, 11, 25, 19, 0, tzinfo=dt.timezone.utc)

# The scripted HTTP server of the connector tests, reused as it is.
_spec = importlib.util.spec_from_file_location(
    "connectors_server", Path(__file__).resolve().parents[1] / "connectors" / "conftest.py")
_server = sys.modules.setdefault("connectors_server", importlib.util.module_from_spec(_spec))
if not hasattr(_server, "FakeService"):
    _spec.loader.exec_module(_server)
FakeService, Reply = _server.FakeService, _server.Reply


class BagOfWords:
    """A stand-in sentence encoder: hashed words, so similar wording gives similar vectors."""

    dim = 256

    def encode(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for n, text in enumerate(texts):
            for word in text.lower().replace("'", " ").split():
                out[n, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / (np.linalg.norm(out, axis=1, keepdims=True) + 1e-9)


class Exploding:
    """A knowledge source that must never be asked."""

    name = "exploding"

    def facts(self, term, *, limit=20):
        raise AssertionError("an online source was asked in offline mode")


@pytest.fixture
def home():
    home = Hearth.in_memory().create_household("r", time="2026-11-25T06:00:00Z")
    ingest_file(home, FIXTURES / "home.jsonl")
    return home


@pytest.fixture(scope="module")
def service():
    server = FakeService()
    yield server
    server.close()


def conceptnet(service, **transport) -> ConceptNetClient:
    options = dict(cache=MemoryCache(), offline=False, timeout=Timeout(connect=1.0, read=1.0,
                                                                       total=2.0),
                   retry=NO_RETRY, rate_limits={"127.0.0.1": 1000.0})
    options.update(transport)
    return ConceptNetClient(transport=Transport(**options), base_url=service.base)


def serve_toasty(service) -> None:
    body = (FIXTURES / "conceptnet_c_en_toasty.json").read_bytes()
    service.route("/c/en/toasty", Reply(200, body, {"Content-Type": "application/json"}))


def by_intent(resolution):
    return {s.intent: s for s in resolution.suggestions}


# -- key terms ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("make it cozy", [("make it cozy", "PHRASE"), ("cozy", "ADJ")]),
    ("it's way too bright in the living room", [("living room", "PHRASE"),
                                                 ("too bright", "PHRASE"), ("way", "NOUN")]),
    ("I'm freezing", [("I'm freezing", "PHRASE"), ("freezing", "VERB")]),
])
def test_key_terms_keep_phrases_lemmas_and_parts_of_speech(text, expected):
    terms = key_terms(text, phrases=["too bright"])
    assert [(t.text, t.pos) for t in terms] == expected
    assert text[terms[0].start:terms[0].end] == terms[0].text


def test_key_terms_lemmatize_and_weigh_down_light_verbs():
    terms = {t.text: t for t in key_terms("switch the lamps somewhere in the place")}
    assert terms["lamps"].lemma == "lamp"
    assert terms["place"].weight < terms["lamps"].weight


# -- resolving, offline --------------------------------------------------------------------------

def test_make_it_cozy_dims_the_lights_and_warms_the_room_with_its_sources(home):
    resolution = Resolver(encoder=None).resolve(home, "make it cozy")
    found = by_intent(resolution)
    lights, heating = found["lights.set"], found["climate.set_temperature"]
    assert lights.slots["brightness"].value == 30
    assert lights.slots["area"].value == "Living Room"  # where the lamp is on
    assert heating.slots["temperature"].value == {"value": 21, "unit": "°C"}
    assert heating.target == home.iri("device", "climate.thermostat").value
    top_two = {s.intent for s in resolution.suggestions[:2]}
    assert top_two == {"lights.set", "climate.set_temperature"}
    for s in (lights, heating):
        assert s.explanation.startswith("'make it cozy' → ")
        assert "(commonsense)" in s.explanation
        assert {f.source for f in s.sources} == {"commonsense"}
        assert any("cozy" in f.explain() for f in s.sources)
    assert "dim" in resolution.question and "21 °C" in resolution.question
    assert resolution.failures == ()


@pytest.mark.parametrize("text, intent, slot, value", [
    ("I'm freezing", "climate.set_temperature", "temperature", {"value": 21, "unit": "°C"}),
    ("it's way too bright in the kitchen", "lights.set", "area", "Kitchen"),
    ("it's boiling in here", "climate.set_temperature", "temperature",
     {"value": 18, "unit": "°C"}),
])
def test_qualities_lead_to_the_actions_that_achieve_them(home, text, intent, slot, value):
    resolution = Resolver(encoder=None).resolve(home, text)
    assert intent in by_intent(resolution)
    assert by_intent(resolution)[intent].slots[slot].value == value


def test_the_lexicon_links_an_unknown_word_to_commonsense(home):
    # "cuppa" is not in commonsense; WordNet says it is tea, commonsense that tea is a hot drink
    resolution = Resolver(encoder=None).resolve(home, "time for a cuppa")
    best = resolution.suggestions[0]
    assert best.intent == "devices.turn_on"
    assert best.slots["name"].value == "Kettle"
    assert {f.source for f in best.sources} == {"wordnet", "commonsense"}
    assert "(WordNet)" in best.explanation


def test_embeddings_rank_intents_the_graph_does_not_reach(home):
    resolution = Resolver(encoder=BagOfWords()).resolve(home, "what will the weather "
                                                             "be like tomorrow")
    assert resolution.suggestions[0].intent == "weather.forecast"
    assert resolution.suggestions[0].action is None


def test_a_request_nothing_relates_to_gets_no_suggestion(home):
    resolution = Resolver(encoder=None).resolve(home, "xyzzy plugh")
    assert resolution.suggestions == () and resolution.question is None


def test_offline_mode_asks_no_online_source(home):
    resolver = Resolver(encoder=None, online=False, sources=[Exploding()])
    resolution = resolver.resolve(home, "make it cozy")
    assert resolution.suggestions and not resolution.online


def test_an_offline_transport_fails_as_a_value_and_resolution_goes_on(home):
    offline = ConceptNetClient(transport=Transport(offline=True, cache=MemoryCache()))
    resolution = Resolver(encoder=None, online=True, sources=[offline]).resolve(
        home, "make it cozy")
    assert [(f.source, f.kind) for f in resolution.failures] == [("conceptnet", "OfflineMiss")]
    assert "lights.set" in by_intent(resolution)


# -- online, against a local server --------------------------------------------------------------

def test_conceptnet_facts_resolve_a_word_the_offline_sources_do_not_know(home, service):
    serve_toasty(service)
    offline = Resolver(encoder=None).resolve(home, "make the place toasty")
    assert "climate.set_temperature" not in by_intent(offline)
    resolution = Resolver(encoder=None, online=True, sources=[conceptnet(service)]).resolve(
        home, "make the place toasty")
    heating = by_intent(resolution)["climate.set_temperature"]
    assert "(ConceptNet)" in heating.explanation
    assert "toasty is related to warm" in heating.explanation
    cited = [f for f in heating.sources if f.source == "conceptnet"]
    assert cited and cited[0].fetched_at is not None
    assert cited[0].license == "CC-BY-SA-4.0"


def test_fetched_facts_land_in_the_graph_as_events_with_source_and_fetch_time(home, service):
    serve_toasty(service)
    resolver = Resolver(encoder=None, online=True, sources=[conceptnet(service)])
    Pipeline([ResolutionComponent(resolver)]).attach(home)
    heard = home.append(E.UtteranceHeard(time=NOW, text="make the place toasty", speaker="ann"))
    reading = home.append(UtteranceInterpreted(time=NOW, derived_from=(heard.iri,),
                                               confidence=0.8, slots={}, out_of_scope=True))
    fetched = [(seq, e) for seq, e in home.events(types=[FactsFetched])]
    assert len(fetched) == 1
    seq, event = fetched[0]
    assert (event.source, event.term) == ("conceptnet", "toasty")
    assert event.by == "https://conceptnet.io/" and event.fetched_at is not None
    assert event.derived_from == (reading.iri,)
    assert {"subject": "toasty", "relation": "RelatedTo", "object": "warm"}.items() <= \
        event.facts[0].items()
    rows = home.query("""SELECT ?object ?when ?source WHERE { GRAPH ?g {
        ?e a hearth:FactsFetched ; hearth:fetchedAt ?when ; prov:wasAttributedTo ?source ;
           hearth:fact ?f . ?f hearth:factObject ?object } }""")
    assert {r["object"].value for r in rows} >= {"warm", "cozy"}
    assert {r["source"].value for r in rows} == {"https://conceptnet.io/"}
    suggestions = [e for _, e in home.events(types=[SuggestionMade])]
    assert suggestions and all(s.kind == "resolution" for s in suggestions)
    heating = [s for s in suggestions if s.action == "set_temperature"]
    assert heating and home.ids.event(seq) in heating[0].derived_from
    assert reading.iri in heating[0].derived_from
    assert home.event(seq) == event  # replays from its RDF


def test_a_failing_endpoint_degrades_to_offline_knowledge(home, service):
    service.route("/c/en/cozy", Reply(500, {"error": "boom"}))
    resolution = Resolver(encoder=None, online=True, sources=[conceptnet(service)]).resolve(
        home, "make it cozy")
    assert [(f.source, f.kind) for f in resolution.failures] == [("conceptnet", "ServiceError")]
    assert {"lights.set", "climate.set_temperature"} <= set(by_intent(resolution))


def test_a_slow_endpoint_is_given_up_within_the_budget(home, service):
    service.route("/c/en/cozy", Reply(200, {"edges": []}, delay=1.5))
    resolver = Resolver(encoder=None, online=True, budget_s=0.3,
                        sources=[conceptnet(service, timeout=Timeout(connect=1, read=5,
                                                                     total=5))])
    resolution = resolver.resolve(home, "make it cozy")
    assert [f.kind for f in resolution.failures] == ["ConnectorTimeout"]
    assert resolution.elapsed_ms < 1400 and "lights.set" in by_intent(resolution)


# -- events and the component ------------------------------------------------------------------

def test_the_component_suggests_for_unfamiliar_utterances_only(home):
    component = make_component("resolution", encoder=None)
    Pipeline([component]).attach(home)
    heard = home.append(E.UtteranceHeard(time=NOW, text="make it cozy", device="light.living_room"))
    home.append(UtteranceInterpreted(time=NOW, derived_from=(heard.iri,), intent="lights.set",
                                     skill="lights", confidence=0.9, slots={},
                                     out_of_scope=False))
    assert list(home.events(types=[SuggestionMade])) == []
    reading = home.append(UtteranceInterpreted(time=NOW, derived_from=(heard.iri,),
                                               confidence=0.9, slots={}, out_of_scope=True))
    made = [e for _, e in home.events(types=[SuggestionMade])]
    assert {m.action for m in made} >= {"set", "set_temperature"}
    assert all(m.derived_from == (reading.iri,) and m.by == "component:resolution"
               for m in made)  # offline commonsense only: no FactsFetched to cite
    assert list(home.events(types=[FactsFetched])) == []


def test_facts_fetched_checks_its_facts_and_reads_from_json(home):
    good = E.Event.from_json({"type": "FactsFetched", "time": "2026-11-25T19:00:00Z",
                              "term": "cozy", "source": "conceptnet",
                              "fetched_at": "2026-11-20T10:00:00Z",
                              "facts": [{"subject": "cozy", "relation": "RelatedTo",
                                         "object": "warm", "weight": 0.67,
                                         "url": "https://api.conceptnet.io/a/x"}]})
    appended = home.append(good)
    assert home.event(appended.seq) == good
    with pytest.raises(E.EventError, match="facts"):
        E.Event.from_json({"type": "FactsFetched", "time": "2026-11-25T19:00:00Z",
                           "term": "cozy", "source": "conceptnet", "facts": [{"subject": "x"}]})


def test_resolution_events_cite_the_facts_they_rest_on(home):
    resolution = Resolver(encoder=None).resolve(home, "time for a cuppa")
    heard = home.append(E.UtteranceHeard(time=NOW, text="time for a cuppa"))
    events = resolution_events(resolution, time=NOW, derived_from=(heard.iri,), head=home.head,
                               ids=home.ids)
    added = home.append_many(events)
    facts = [a for a in added if isinstance(a.event, FactsFetched)]
    made = [a for a in added if isinstance(a.event, SuggestionMade)]
    assert [a.event.source for a in facts] == ["wordnet"]
    assert facts[0].event.fetched_at is None  # offline data
    assert facts[0].iri in made[0].event.derived_from


# -- the command ------------------------------------------------------------------------------

def test_hearth_resolve_prints_the_suggestions_as_json_last(tmp_path, capsys):
    hearth = Hearth.open(tmp_path / "hearth")
    home = hearth.create_household("r", time="2026-11-25T06:00:00Z")
    ingest_file(home, FIXTURES / "home.jsonl")
    hearth.close()
    code = main(["make it cozy", "--household", "r", "--dir", str(tmp_path / "hearth"),
                 "--offline", "--no-embeddings", "--json"])
    assert code == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"intent", "slots", "score", "explanation", "sources"} <= set(last["suggestions"][0])
    assert {s["intent"] for s in last["suggestions"]} >= {"lights.set",
                                                          "climate.set_temperature"}
    assert last["suggestions"][0]["sources"][0]["source"] == "commonsense"


def test_hearth_resolve_names_the_known_households(tmp_path, capsys):
    Hearth.open(tmp_path / "hearth").close()
    code = main(["make it cozy", "--household", "nope", "--dir", str(tmp_path / "hearth"),
                 "--offline"])
    assert code == 2 and "no household 'nope'" in capsys.readouterr().err
