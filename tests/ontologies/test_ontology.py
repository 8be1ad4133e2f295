"""The ontology (ontologies/hearth.ttl) and the commonsense knowledge (ontologies/commonsense.ttl).

They parse; every term is declared and documented; the event RDF of kg/events.py uses only declared
terms; the OWL 2 RL closure of ontology + knowledge + a small household is consistent and entails
what the alignments promise (checked with ``reasonable``, and with ``owlrl`` on a small case); and
the knowledge is regular enough for SPARQL rules to match real events and resolve vague requests.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib
import reasonable
from rdflib import OWL, RDF, RDFS, Namespace, URIRef

from kg.events import EVENT_TYPES, Event
from kg.projection import HouseholdState
from kg.terms import HouseholdIRIs
from kg.vocab import HEARTH, HEARTH_NS
from ontologies import path as ontology_path

H = Namespace(HEARTH_NS)
CS = Namespace("https://w3id.org/hearth/commonsense#")
HPROP = Namespace("https://w3id.org/hearth/property/")
SOSA = Namespace("http://www.w3.org/ns/sosa/")
SSN = Namespace("http://www.w3.org/ns/ssn/")
SAREF = Namespace("https://saref.etsi.org/core/")
TIME = Namespace("http://www.w3.org/2006/time#")
PROV = Namespace("http://www.w3.org/ns/prov#")
SCHEMA = Namespace("https://schema.org/")
SKOS = Namespace("http://www.w3.org/2004/02/skos/core#")
DCTERMS = Namespace("http://purl.org/dc/terms/")
OWLRL_ERROR = URIRef("http://www.daml.org/2002/03/agents/agent-ont#ErrorMessage")

HEARTH_TTL = ontology_path("hearth.ttl")
COMMONSENSE_TTL = ontology_path("commonsense.ttl")
HOUSEHOLD_TTL = Path(__file__).resolve().parents[1] / "fixtures" / "ontologies" / "household.ttl"

# Namespaces whose terms need no declaration of ours.
BUILTIN = (str(RDF), str(RDFS), str(OWL), "http://www.w3.org/2001/XMLSchema#")
DECLARATION_TYPES = {OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty, OWL.NamedIndividual}
PREFIXES = f"""
PREFIX hearth: <{H}>
PREFIX cs: <{CS}>
PREFIX rdfs: <{RDFS}>
PREFIX owl: <{OWL}>
"""

# One event of every type kg/events.py defines, as `hearth ingest` would read them.
IDS = HouseholdIRIs("t1")
T0 = dt.datetime(2026, 11, 25, 18, 0, tzinfo=dt.timezone.utc)
SAMPLE_EVENTS = [
    {"type": "HouseholdCreated", "name": "Test home"},
    {"type": "FloorAdded", "floor": "ground", "name": "Ground floor"},
    {"type": "AreaAdded", "area": "kitchen", "name": "Kitchen", "floor": "ground"},
    {"type": "DeviceAdded", "device": "lock.front", "name": "Front door lock", "kind": "lock",
     "area": "hall", "device_class": "door"},
    {"type": "PersonAdded", "person": "alice", "name": "Alice"},
    {"type": "SensorObserved", "sensor": "sensor.kitchen_temperature", "property": "temperature",
     "value": 21.5, "unit": "°C"},
    {"type": "DeviceStateChanged", "device": "lock.front", "value": "locked"},
    {"type": "CommandIssued", "device": "light.kitchen", "command": "turn_on", "value": 80},
    {"type": "UtteranceHeard", "text": "turn on the kitchen light", "speaker": "alice",
     "device": "speaker.kitchen", "session": "s1"},
    {"type": "PersonArrived", "person": "alice", "area": "hall"},
    {"type": "PersonLeft", "person": "alice"},
    {"type": "CalendarEntryAdded", "title": "Football practice", "start": "2026-11-26T17:00:00Z",
     "end": "2026-11-26T18:30:00Z", "person": "alice", "location": "Sports centre"},
    {"type": "DefinitionTaught", "phrase": "reading mode",
     "meaning": {"device": "light.living", "brightness": 100}, "person": "alice"},
    {"type": "FactsAsserted",
     "rdf": f"<{IDS.device('speaker.kitchen').value}> <{H.ofKind}> <{CS.SmartSpeaker}> ."},
    {"type": "EventRetracted", "retracts": 11, "reason": "Alice never left; the sensor misfired"},
    {"type": "FactInferred", "rule": "https://w3id.org/hearth/rules#leaving-home",
     "derived_from": [7, 11],
     "rdf": f"<urn:hearth:t1:activity:1> a <{H.Activity}> ; <{H.ofKind}> <{CS.LeavingHome}> ."},
    {"type": "DeviceStateChanged", "device": "light.kitchen", "value": "on"},
]
LOCK_EVENT = IDS.event(7)
LIGHT_EVENT = IDS.event(17)


def kg_event_types() -> dict[str, type[Event]]:
    """The event types kg/events.py itself defines (other packages register more)."""
    return {name: cls for name, cls in EVENT_TYPES.items() if cls.__module__ == "kg.events"}


def sample_events() -> list[tuple[int, Event]]:
    return [(seq, Event.from_json({**obj, "time": (T0 + dt.timedelta(minutes=seq)).isoformat()},
                                  ids=IDS))
            for seq, obj in enumerate(SAMPLE_EVENTS, start=1)]


def sample_quads() -> list[ox.Quad]:
    """The event graphs of the sample events, as the log writes them."""
    quads = []
    for seq, event in sample_events():
        quads.extend(event.quads(seq, IDS, T0 + dt.timedelta(minutes=seq, seconds=1)))
    return quads


def projection_quads() -> list[ox.Quad]:
    """The state graph the projection writes after the sample events."""
    state = HouseholdState(IDS.household_id)
    for seq, event in sample_events():
        state.apply(seq, event, IDS)
    return state.to_quads(IDS)


def to_rdflib(quads: list[ox.Quad]) -> rdflib.Graph:
    text = "".join(f"{q.subject} {q.predicate} {q.object} .\n" for q in quads)
    return rdflib.Graph().parse(data=text, format="nt")


def merged(*graphs: rdflib.Graph) -> rdflib.Graph:
    out = rdflib.Graph()
    for g in graphs:
        out += g
    return out


def rl_closure(graph: rdflib.Graph) -> rdflib.Graph:
    """The OWL 2 RL closure by `reasonable` (base triples included)."""
    reasoner = reasonable.PyReasoner()
    reasoner.from_graph(graph)
    out = rdflib.Graph()
    out += graph
    for triple in reasoner.reason():
        out.add(triple)
    return out


def clashes(closure: rdflib.Graph) -> set[tuple[str, str, str]]:
    """Resources put in two disjoint classes, or in owl:Nothing. `reasonable` derives the types
    but does not flag the contradiction, so it is looked for here."""
    rows = closure.query("""
        SELECT DISTINCT ?x ?a ?b WHERE {
          { ?a owl:disjointWith ?b . ?x a ?a . ?x a ?b . }
          UNION { ?x a owl:Nothing . BIND(owl:Nothing AS ?a) BIND(owl:Nothing AS ?b) }
        }""", initNs={"owl": OWL})
    return {(str(x), str(a), str(b)) for x, a, b in rows}


def declared(graph: rdflib.Graph) -> set[URIRef]:
    return {s for s in graph.subjects(RDF.type, None) if isinstance(s, URIRef)}


def is_subclass(ontology: rdflib.Graph, sub: URIRef, sup: URIRef) -> bool:
    return bool(ontology.query("ASK { ?sub rdfs:subClassOf* ?sup }", initNs={"rdfs": RDFS},
                               initBindings={"sub": sub, "sup": sup}).askAnswer)


def english(graph: rdflib.Graph, subject: URIRef, predicate: URIRef) -> list[str]:
    return [str(o) for o in graph.objects(subject, predicate)
            if isinstance(o, rdflib.Literal) and o.language == "en" and str(o).strip()]


@pytest.fixture(scope="module")
def ontology() -> rdflib.Graph:
    return rdflib.Graph().parse(HEARTH_TTL)


@pytest.fixture(scope="module")
def commonsense() -> rdflib.Graph:
    return rdflib.Graph().parse(COMMONSENSE_TTL)


@pytest.fixture(scope="module")
def household() -> rdflib.Graph:
    return rdflib.Graph().parse(HOUSEHOLD_TTL)


@pytest.fixture(scope="module")
def events() -> rdflib.Graph:
    return to_rdflib(sample_quads())


@pytest.fixture(scope="module")
def everything(ontology, commonsense, household, events) -> rdflib.Graph:
    return merged(ontology, commonsense, household, events)


@pytest.fixture(scope="module")
def closure(everything) -> rdflib.Graph:
    return rl_closure(everything)


@pytest.fixture(scope="module")
def store() -> ox.Store:
    """Ontology, knowledge, household and events in one default graph, for SPARQL rules."""
    s = ox.Store()
    for f in (HEARTH_TTL, COMMONSENSE_TTL, HOUSEHOLD_TTL):
        s.load(path=str(f), format=ox.RdfFormat.TURTLE)
    s.extend(ox.Quad(q.subject, q.predicate, q.object) for q in sample_quads())
    return s


# --- parsing and header -------------------------------------------------------------------------

@pytest.mark.parametrize("path", [HEARTH_TTL, COMMONSENSE_TTL], ids=lambda p: p.name)
def test_file_parses_the_same_with_pyoxigraph_and_rdflib(path):
    ox_triples = list(ox.parse(path=str(path), format=ox.RdfFormat.TURTLE))
    rdflib_graph = rdflib.Graph().parse(path, format="turtle")
    assert len(ox_triples) > 500
    assert len(ox_triples) == len(rdflib_graph)


def test_ontology_header_gives_version_and_licence(ontology):
    onto = URIRef("https://w3id.org/hearth")
    assert (onto, RDF.type, OWL.Ontology) in ontology
    assert ontology.value(onto, OWL.versionInfo) is not None
    assert ontology.value(onto, OWL.versionIRI) is not None
    assert (onto, DCTERMS.license, URIRef("https://www.apache.org/licenses/LICENSE-2.0")) in ontology
    # Self-contained: nothing to fetch when loading it.
    assert not list(ontology.objects(onto, OWL.imports))


# --- declarations -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", HEARTH.names())
def test_every_vocab_term_is_declared_with_label_and_comment(ontology, name):
    term = H[name]
    types = set(ontology.objects(term, RDF.type))
    assert types & DECLARATION_TYPES, f"hearth:{name} is not declared as a class or property"
    assert len(types & DECLARATION_TYPES) == 1, f"hearth:{name} is declared as {types}"
    assert english(ontology, term, RDFS.label), f"hearth:{name} has no English label"
    comments = english(ontology, term, RDFS.comment)
    assert comments, f"hearth:{name} has no English comment"
    assert comments[0].rstrip().endswith((".", "…")) and len(comments[0].split()) >= 5, (
        f"hearth:{name}'s comment is not a sentence: {comments[0]!r}")


def test_every_hearth_term_of_the_ontology_is_documented(ontology):
    undocumented = [str(s) for s in declared(ontology) if str(s).startswith(HEARTH_NS)
                    and not (english(ontology, s, RDFS.label) and english(ontology, s, RDFS.comment))]
    assert undocumented == []


def test_every_term_the_ontology_refers_to_is_declared(ontology):
    structural = [RDF.type, RDFS.subClassOf, RDFS.subPropertyOf, OWL.equivalentClass, RDFS.domain,
                  RDFS.range, OWL.onProperty, OWL.inverseOf, OWL.disjointWith, OWL.hasValue]
    used = set(ontology.predicates())
    for p in structural:
        used |= {o for o in ontology.objects(None, p) if isinstance(o, URIRef)}
    missing = sorted(str(t) for t in used - declared(ontology) if not str(t).startswith(BUILTIN))
    assert missing == []


def test_ontology_stays_within_owl2_rl(ontology):
    # Stricter than OWL 2 RL: none of these, anywhere.
    forbidden = {OWL.unionOf, OWL.intersectionOf, OWL.someValuesFrom, OWL.allValuesFrom,
                 OWL.complementOf, OWL.oneOf, OWL.cardinality, OWL.minCardinality,
                 OWL.maxCardinality, OWL.qualifiedCardinality, OWL.minQualifiedCardinality,
                 OWL.maxQualifiedCardinality, OWL.imports, OWL.propertyChainAxiom, OWL.hasKey}
    assert set(ontology.predicates()) & forbidden == set()
    # Every restriction is a hasValue restriction used as a superclass (allowed by RL).
    for r in ontology.subjects(RDF.type, OWL.Restriction):
        assert ontology.value(r, OWL.hasValue) is not None
        assert set(ontology.predicates(None, r)) == {RDFS.subClassOf}


@pytest.mark.parametrize("name", sorted(kg_event_types()))
def test_every_event_type_is_declared_under_its_parent(ontology, name):
    cls = kg_event_types()[name]
    term = URIRef(cls.rdf_type.value)
    assert (term, RDF.type, OWL.Class) in ontology
    parent = H.Conclusion if cls.is_conclusion else H.InputEvent
    other = H.InputEvent if cls.is_conclusion else H.Conclusion
    assert is_subclass(ontology, term, parent)
    assert not is_subclass(ontology, term, other)
    assert is_subclass(ontology, term, PROV.Entity)


def test_sample_events_cover_every_event_type():
    assert {e["type"] for e in SAMPLE_EVENTS} == set(kg_event_types())


@pytest.mark.parametrize("make", [sample_quads, projection_quads], ids=["events", "state"])
def test_log_and_state_rdf_use_only_declared_terms(ontology, make):
    known = declared(ontology)
    quads = make()
    predicates = {URIRef(q.predicate.value) for q in quads}
    types = {URIRef(q.object.value) for q in quads if q.predicate.value == str(RDF.type)}
    missing = sorted(str(t) for t in (predicates | types) - known if not str(t).startswith(BUILTIN))
    assert missing == []


# --- the commonsense knowledge ------------------------------------------------------------------

def test_commonsense_uses_only_declared_terms(ontology, commonsense):
    known = declared(ontology)
    used = set(commonsense.predicates()) | set(commonsense.objects(None, RDF.type))
    assert sorted(str(t) for t in used - known if not str(t).startswith(BUILTIN)) == []
    for kind in commonsense.objects(None, H.deviceType):
        assert is_subclass(ontology, kind, H.Device), f"{kind} is not a device class"
    for kind in commonsense.objects(None, H.eventType):
        assert is_subclass(ontology, kind, H.InputEvent), f"{kind} is not an input event class"


def test_every_commonsense_reference_is_defined(commonsense):
    """A typo such as cs:Cozzy would otherwise pass silently."""
    defined = declared(commonsense)
    referenced = {o for o in commonsense.objects() if isinstance(o, URIRef)
                  and str(o).startswith((str(CS), str(HPROP)))}
    core = {HPROP.temperature, HPROP.motion, HPROP.contact}  # declared in hearth.ttl
    assert sorted(str(t) for t in referenced - defined - core) == []


def test_every_commonsense_resource_has_label_and_comment(commonsense):
    resources = declared(commonsense)
    assert len(resources) > 250
    missing = [str(r) for r in resources
               if not (english(commonsense, r, RDFS.label) and english(commonsense, r, RDFS.comment))]
    assert missing == []


# Each kind of entry and what it must have (minimum number of values per predicate).
SHAPES = {
    H.ActivityKind: {H.signalledBy: 1, H.typicalTime: 1, H.servesGoal: 1, H.windowMinutes: 1,
                     H.minSignals: 1, H.typicalMinutes: 1},
    H.Signal: {H.eventType: 1},
    H.ObjectKind: {H.affords: 1},
    H.ActionKind: {H.command: 1},
    H.HunchKind: {H.hasCondition: 1, H.offersAction: 1, H.explanationTemplate: 1},
    H.TimeOfDay: {H.startsAt: 1, H.endsAt: 1},
}


@pytest.mark.parametrize("kind", list(SHAPES), ids=lambda k: k.split("#")[1])
def test_commonsense_entries_follow_their_shape(commonsense, kind):
    members = set(commonsense.subjects(RDF.type, kind))
    assert members
    for member in members:
        for predicate, least in SHAPES[kind].items():
            found = len(list(commonsense.objects(member, predicate)))
            assert found >= least, f"{member} has {found} {predicate}"


def test_every_signal_is_used_and_narrowed(commonsense):
    narrowing = [H.deviceType, H.objectKind, H.areaKind, H.attribute, H.value, H.direction,
                 H.forProperty, H.keyword]
    for signal in commonsense.subjects(RDF.type, H.Signal):
        assert (None, H.signalledBy, signal) in commonsense or \
            (None, H.hasCondition, signal) in commonsense, f"{signal} is never used"
        types = set(commonsense.objects(signal, H.eventType))
        if types & {H.DeviceStateChanged, H.SensorObserved}:
            assert any((signal, p, None) in commonsense for p in narrowing), \
                f"{signal} would match every state change"
        if H.CalendarEntryAdded in types or H.UtteranceHeard in types:
            assert (signal, H.keyword, None) in commonsense, f"{signal} needs keywords"


def test_device_actions_name_a_device_type(commonsense):
    for action in commonsense.subjects(RDF.type, H.ActionKind):
        command = str(commonsense.value(action, H.command))
        if command not in ("notify", "alert"):
            assert commonsense.value(action, H.deviceType) is not None, action


def test_commonsense_has_a_few_hundred_facts(ontology, commonsense, capsys):
    hearth_terms = {s for s in declared(ontology) if str(s).startswith(HEARTH_NS)}
    types = Counter(o for s in hearth_terms for o in ontology.objects(s, RDF.type))
    facts = [t for t in commonsense if str(t[1]).startswith(HEARTH_NS)]
    kinds = Counter(str(o).split("#")[1] for s, o in commonsense.subject_objects(RDF.type)
                    if str(o).startswith(HEARTH_NS))
    with capsys.disabled():
        print(f"\nhearth.ttl: {types[OWL.Class]} classes, {types[OWL.ObjectProperty]} object "
              f"properties, {types[OWL.DatatypeProperty]} datatype properties, "
              f"{len(ontology)} triples")
        print(f"commonsense.ttl: {len(facts)} facts, {len(commonsense)} triples, "
              f"{sum(kinds.values())} resources: {dict(sorted(kinds.items()))}")
    assert len(facts) >= 300
    assert len(commonsense) >= 300


# --- OWL 2 RL closure ---------------------------------------------------------------------------

def test_ontology_knowledge_and_household_are_consistent(closure):
    assert clashes(closure) == set()


def test_projected_state_is_consistent_with_the_ontology(ontology, commonsense, events):
    state = to_rdflib(projection_quads())
    closure = rl_closure(merged(ontology, commonsense, events, state))
    assert clashes(closure) == set()
    # a person's presence is a state too, and does not make the person a device
    alice = URIRef(IDS.person("alice").value)
    assert (alice, SAREF.hasState, URIRef(alice + "/presence")) in closure
    assert (alice, RDF.type, H.Device) not in closure


BAD_DATA = {
    "a light that is a person": ("<urn:x:1> a hearth:Light, hearth:Person .", "urn:x:1"),
    "a household device described as an object kind": (
        "<urn:hearth:t1:device:kettle> hearth:affords cs:HotWater .", "urn:hearth:t1:device:kettle"),
    "an event that is also an activity": (
        "<urn:hearth:t1:event:1> a hearth:Activity .", "urn:hearth:t1:event:1"),
    "a conclusion that is also an input": (
        "<urn:x:2> a hearth:FactInferred, hearth:SensorObserved .", "urn:x:2"),
    "a signal used as an object kind": ("cs:Lamp hearth:signalledBy cs:FridgeOpened .", str(CS.Lamp)),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_contradictions_are_found(everything, case):
    text, culprit = BAD_DATA[case]
    bad = rdflib.Graph().parse(data=PREFIXES + text, format="turtle")
    found = clashes(rl_closure(merged(everything, bad)))
    assert culprit in {x for x, _, _ in found}


EXPECTED_TYPES = [
    ("urn:hearth:t1:device:light.kitchen", SAREF.Device),
    ("urn:hearth:t1:device:light.kitchen", SAREF.Actuator),
    ("urn:hearth:t1:device:light.kitchen", SOSA.Actuator),
    ("urn:hearth:t1:device:light.kitchen", SSN.System),
    ("urn:hearth:t1:device:light.kitchen", PROV.Agent),
    ("urn:hearth:t1:device:sensor.kitchen_temperature", SOSA.Sensor),
    ("urn:hearth:t1:device:sensor.kitchen_temperature", SAREF.Sensor),
    ("urn:hearth:t1:device:lock.front", H.Device),
    ("urn:hearth:t1:area:kitchen", SCHEMA.Room),
    ("urn:hearth:t1:area:kitchen", SCHEMA.Place),
    ("urn:hearth:t1:area:kitchen", SOSA.FeatureOfInterest),
    ("urn:hearth:t1:household", SCHEMA.Residence),
    ("urn:hearth:t1:person:alice", PROV.Person),
    ("urn:hearth:t1:person:alice", PROV.Agent),
    ("urn:hearth:t1:person:alice", SCHEMA.Person),
    ("urn:hearth:t1:component:rules", PROV.SoftwareAgent),
    ("urn:hearth:t1:state:light.kitchen.state", SAREF.State),
    # the events of kg/events.py
    ("urn:hearth:t1:event:6", H.SensorObserved),
    ("urn:hearth:t1:event:6", PROV.Entity),
    ("urn:hearth:t1:event:6", TIME.Instant),
    ("urn:hearth:t1:event:6", H.InputEvent),
    ("urn:hearth:t1:obs:6", H.Observation),
    ("urn:hearth:t1:event:7", H.StateChange),
    ("urn:hearth:t1:event:8", SAREF.Command),
    ("urn:hearth:t1:event:8", SCHEMA.Action),
    ("urn:hearth:t1:event:9", H.Utterance),
    ("urn:hearth:t1:event:13", H.Definition),
    ("urn:hearth:t1:event:16", H.Conclusion),
    ("urn:hearth:t1:event:16", PROV.Entity),
    ("urn:hearth:t1:device:speaker.kitchen", H.Device),
    ("urn:hearth:t1:person:alice", H.Person),
    ("urn:hearth:t1:session:s1", H.Session),
    ("https://w3id.org/hearth/rules#leaving-home", PROV.Plan),
    ("urn:hearth:t1:activity:1", TIME.ProperInterval),
    ("urn:hearth:t1:activity:1", PROV.Activity),
    # the knowledge
    (str(CS.Cooking), SKOS.Concept),
    (str(CS.FrontDoorLocked), H.Concept),
]


@pytest.mark.parametrize("subject,cls", EXPECTED_TYPES,
                         ids=[f"{s.rsplit(':', 1)[-1].rsplit('#', 1)[-1]}-{c.split('/')[-1]}"
                              for s, c in EXPECTED_TYPES])
def test_owl_rl_closure_entails_type(closure, subject, cls):
    assert (URIRef(subject), RDF.type, cls) in closure


EXPECTED_FACTS = [
    ("urn:hearth:t1:device:sensor.kitchen_temperature", SOSA.observes, HPROP.temperature),
    ("urn:hearth:t1:area:kitchen", SCHEMA.containedInPlace, URIRef("urn:hearth:t1:floor:ground")),
    ("urn:hearth:t1:device:light.kitchen", SAREF.hasState,
     URIRef("urn:hearth:t1:state:light.kitchen.state")),
    ("urn:hearth:t1:event:11", H.retractedBy, URIRef("urn:hearth:t1:event:15")),
    ("urn:hearth:t1:event:9", H.person, URIRef("urn:hearth:t1:person:alice")),
    ("urn:hearth:t1:event:12", SCHEMA.startDate, None),
    (str(CS.TripToTheBeach), H.broader, CS.GettingSomewhere),
    (str(CS.Warm), H.relatedTo, CS.Cozy),
    (str(CS.Cozy), SKOS.related, CS.Dim),
    (str(CS.ArrivingHome), H.oppositeOf, CS.LeavingHome),
]


@pytest.mark.parametrize("subject,predicate,obj", EXPECTED_FACTS,
                         ids=[p.split("/")[-1].split("#")[-1] + f"-{i}"
                              for i, (_, p, _) in enumerate(EXPECTED_FACTS)])
def test_owl_rl_closure_entails_fact(closure, subject, predicate, obj):
    assert (URIRef(subject), predicate, obj) in closure


def test_owlrl_agrees_on_a_small_case(ontology, household, events):
    import owlrl

    graph = merged(ontology, household, events)
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics).expand(graph)
    assert not list(graph.subjects(RDF.type, OWLRL_ERROR))
    for subject, cls in EXPECTED_TYPES:
        if not subject.startswith(str(CS)):
            assert (URIRef(subject), RDF.type, cls) in graph, (subject, cls)
    # and it reports a contradiction as an error
    graph.add((URIRef("urn:x:1"), RDF.type, H.Light))
    graph.add((URIRef("urn:x:1"), RDF.type, H.Person))
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics).expand(graph)
    assert list(graph.subjects(RDF.type, OWLRL_ERROR))


# --- queryable by rules -------------------------------------------------------------------------

# Which signals a device state change matches: the shape rules are expected to follow.
MATCH_SIGNALS = PREFIXES + """
SELECT DISTINCT ?ev ?signal WHERE {
  ?ev a ?etype ; hearth:device ?d ; hearth:attribute ?attr ; hearth:value ?v .
  ?signal a hearth:Signal ; hearth:eventType ?etype .
  OPTIONAL { ?signal hearth:attribute ?sattr }
  FILTER (COALESCE(?sattr, "state") = ?attr)
  FILTER NOT EXISTS { ?signal hearth:direction ?dir }
  FILTER NOT EXISTS { ?signal hearth:value ?sv . FILTER (STR(?sv) != STR(?v)) }
  FILTER NOT EXISTS { ?signal hearth:deviceType ?dt . FILTER NOT EXISTS { ?d a/rdfs:subClassOf* ?dt } }
  FILTER NOT EXISTS { ?signal hearth:objectKind ?ok . FILTER NOT EXISTS { ?d hearth:ofKind ?ok } }
  FILTER NOT EXISTS { ?signal hearth:areaKind ?ak . FILTER NOT EXISTS { ?d hearth:inArea/hearth:ofKind ?ak } }
}"""


def matched_signals(store, event) -> set[str]:
    rows = store.query(MATCH_SIGNALS, substitutions={ox.Variable("ev"): event})
    return {row["signal"].value.split("#")[1] for row in rows}


def test_front_door_locked_event_matches_its_signal_and_activities(store):
    assert matched_signals(store, LOCK_EVENT) == {"FrontDoorLocked"}
    rows = store.query(PREFIXES + "SELECT ?a WHERE { ?a hearth:signalledBy cs:FrontDoorLocked }")
    activities = {row["a"].value.split("#")[1] for row in rows}
    assert {"LeavingHome", "GoingToBed", "NightOut"} <= activities
    assert "ArrivingHome" not in activities


def test_kitchen_light_event_matches_only_kitchen_and_light_signals(store):
    assert matched_signals(store, LIGHT_EVENT) == {"LightTurnedOn", "KitchenLightOn"}


def query_names(store, query: str) -> set[str]:
    return {row[0].value.split("#")[1] for row in store.query(PREFIXES + query)}


def test_make_it_cozy_resolves_to_warm_dim_quiet_actions(store):
    actions = query_names(store, "SELECT DISTINCT ?a WHERE { cs:Cozy hearth:hasAspect/hearth:achievedBy ?a }")
    assert {"RaiseHeating", "DimLights", "LowerVolume"} <= actions
    assert not actions & {"BrightenLights", "TurnOnLights", "LowerHeating"}


def test_i_am_cold_finds_warming_objects_and_actions(store):
    objects = query_names(store, """SELECT DISTINCT ?o WHERE {
        ?q hearth:keyword "cold" ; hearth:relatedTo ?aff . ?aff a hearth:Affordance .
        ?o hearth:affords ?aff }""")
    assert {"Blanket", "Thermostat", "Fireplace", "Heater"} <= objects
    assert "Fridge" not in objects
    actions = query_names(store, 'SELECT ?a WHERE { ?q hearth:keyword "cold" ; hearth:achievedBy ?a }')
    assert actions == {"RaiseHeating"}


@pytest.mark.parametrize("subject,needs", [
    ("TripToTheBeach", {"WeatherForecast", "DrivingTime"}),
    ("NightOut", {"FilmListings", "RestaurantTable", "Ride"}),
])
def test_plans_know_what_they_need(store, subject, needs):
    assert needs <= query_names(store, f"SELECT ?n WHERE {{ cs:{subject} hearth:needs ?n }}")


@pytest.mark.parametrize("ask", [
    "cs:Lamp hearth:affords cs:Lighting",
    "cs:Kettle hearth:affords cs:HotWater",
    "cs:Blanket hearth:affords cs:Warmth",
    "cs:Cozy hearth:hasAspect cs:Warm, cs:Dim",
    "cs:LeavingHome hearth:signalledBy cs:ThermostatTurnedDown, cs:LightTurnedOff, "
    "cs:FrontDoorLocked, cs:GarageDoorOpened",
    "cs:WatchingAFilm hearth:signalledBy cs:TelevisionTurnedOn, cs:LightsDimmed",
    "cs:Cooking hearth:signalledBy cs:FridgeOpened, cs:MicrowaveUsed, cs:PansCupboardOpened",
    "cs:LightLeftOnInEmptyRoomAtNight hearth:hasCondition cs:LightTurnedOn, cs:NoMotionInRoom ; "
    "hearth:typicalTime cs:Night ; hearth:offersAction cs:TurnOffLights",
    "cs:GoingToBed hearth:typicalTime cs:Night ; hearth:servesGoal cs:Rest",
    "cs:PreparingBreakfast hearth:broader cs:Cooking ; hearth:typicalTime cs:EarlyMorning",
])
def test_commonsense_knows(store, ask):
    assert store.query(PREFIXES + f"ASK {{ {ask} }}")
