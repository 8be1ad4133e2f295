"""OWL 2 RL closure (reasonable, owlrl), recording entailments, owlready2 editing."""

from __future__ import annotations

import datetime as dt

import pytest
from pyoxigraph import Literal, NamedNode, Triple

from kg import events as E
from reasoner.owl import (OWL_RL, closure, entailed, household_triples, load_ontology, reason,
                          record_closure, save_ontology_edits)
from reasoner.pipeline import ReasonerError

T = dt.datetime(2026, 11, 25, 7, tzinfo=dt.timezone.utc)
H = "https://w3id.org/hearth#"
RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
OWL_THING = NamedNode("http://www.w3.org/2002/07/owl#Thing")


def typed(node, cls: str) -> Triple:
    return Triple(node, RDF_TYPE, NamedNode(H + cls))


@pytest.fixture
def small_home(memory_home):
    memory_home.append_many([
        E.AreaAdded(time=T, area="hall", name="Hall"),
        E.DeviceAdded(time=T, device="lamp", name="Hall Lamp", kind="light", area="hall"),
        E.DeviceAdded(time=T, device="pir", name="Hall Motion", kind="motion_sensor",
                      area="hall"),
        E.PersonAdded(time=T, person="ann", name="Ann"),
        E.UtteranceHeard(time=T, text="lights on", speaker="ann"),
        E.DeviceStateChanged(time=T, device="lamp", value="on"),
    ])
    return memory_home


def test_the_closure_follows_the_ontology(small_home):
    lamp, pir = small_home.iri("device", "lamp"), small_home.iri("device", "pir")
    c = closure(small_home)
    assert household_triples(small_home) <= c
    assert {typed(lamp, "Actuator"), typed(lamp, "Device"), typed(pir, "Sensor")} <= c
    # a hasValue restriction: a motion sensor observes motion
    assert Triple(pir, NamedNode("http://www.w3.org/ns/sosa/observes"),
                  NamedNode("https://w3id.org/hearth/property/motion")) in c
    # a sub-property: the speaker of an utterance is a person it is about
    utterance = next(s for s, e in small_home.events() if isinstance(e, E.UtteranceHeard))
    assert Triple(small_home.ids.event(utterance), NamedNode(H + "person"),
                  small_home.iri("person", "ann")) in c


def test_literals_come_back_exactly_as_they_went_in(small_home):
    new = entailed(small_home)
    literal_objects = {(t.subject, t.predicate) for t in household_triples(small_home)
                       if isinstance(t.object, Literal)}
    # rdflib's normalisation would turn "…Z" into "…+00:00" and make every timestamp "entailed"
    assert not [t for t in new if (t.subject, t.predicate) in literal_objects
                and t.predicate.value.endswith(("recordedAt", "generatedAtTime", "since"))]


def test_reasonable_and_owlrl_agree_on_the_household(small_home):
    triples = household_triples(small_home)
    base = small_home.ids.base

    def household(ts):
        return {t for t in ts if isinstance(t.subject, NamedNode)
                and t.subject.value.startswith(base) and t.object != OWL_THING
                and not (t.predicate.value.endswith("#sameAs") and t.subject == t.object)}

    fast, slow = reason(triples), reason(triples, engine="owlrl")
    assert household(fast) == household(slow) and household(fast)
    rdfs = reason(triples, engine="rdfs")
    assert typed(small_home.iri("device", "lamp"), "Device") in rdfs


def test_the_closure_skips_retracted_events(small_home):
    thing = NamedNode("urn:ex:gadget")
    said = small_home.assert_facts(f"{thing} a <{H}Light> .", time=T)
    assert typed(thing, "Device") in closure(small_home)
    small_home.retract(said.seq, reason="not a light", time=T)
    assert typed(thing, "Device") not in closure(small_home)


def test_entailments_are_recorded_once_as_an_owl_rl_inference(small_home):
    added = record_closure(small_home)
    fact = added.event
    assert isinstance(fact, E.FactInferred) and fact.rule == OWL_RL
    triples = set(E.parse_triples(fact.rdf))
    lamp = small_home.iri("device", "lamp")
    assert typed(lamp, "Device") in triples and Triple(lamp, RDF_TYPE, OWL_THING) not in triples
    assert all(t.subject.value.startswith(small_home.ids.base) for t in triples)
    lamp_added = next(s for s, e in small_home.events(types=[E.DeviceAdded])
                      if e.device == "lamp")
    assert small_home.ids.event(lamp_added) in fact.derived_from
    assert record_closure(small_home) is None  # nothing new since


def test_an_unknown_engine_is_refused_with_the_known_ones(small_home):
    with pytest.raises(ReasonerError, match="engines: reasonable, owlrl, rdfs"):
        closure(small_home, engine="hermit")


def test_ontology_edits_made_with_owlready2_are_recorded_as_events(small_home):
    onto = load_ontology(small_home)
    hearth = onto.get_namespace(H)
    with onto:
        plug = type("SmartPlug", (hearth.Switch,), {"namespace": hearth})
        plug.label = ["smart plug"]
    added = save_ontology_edits(onto, small_home, time=T)
    assert added.event.by == "component:owlready2"
    assert Triple(NamedNode(H + "SmartPlug"),
                  NamedNode("http://www.w3.org/2000/01/rdf-schema#subClassOf"),
                  NamedNode(H + "Switch")) in set(E.parse_triples(added.event.rdf))
    # the new class takes part in reasoning, and a later load sees it
    small_home.assert_facts(f"<urn:ex:plug1> a <{H}SmartPlug> .", time=T)
    assert typed(NamedNode("urn:ex:plug1"), "Actuator") in closure(small_home)
    again = load_ontology(small_home)
    assert again.get_namespace(H).SmartPlug is not None
    assert save_ontology_edits(again, small_home) is None  # nothing new


def test_removing_shipped_axioms_is_refused(small_home):
    onto = load_ontology(small_home)
    hearth = onto.get_namespace(H)
    hearth.Light.label = []
    with pytest.raises(ReasonerError, match="axioms were removed"):
        save_ontology_edits(onto, small_home)
