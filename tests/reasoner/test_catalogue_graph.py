"""The skill catalogue: YAML under ontologies/skills, compiled to Turtle, queried with SPARQL."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
import pytest

import kg.household
import ontologies
from kg.household import Hearth
from reasoner.skills import (COMPILED_TTL, SLOT_TYPES, Catalogue, CatalogueError,
                             compiled_text, parse_markup, skill_from_yaml)

REQUIRED_SKILLS = {"lights", "climate", "locks", "covers", "media", "weather", "routes",
                   "rideshare", "movies", "restaurants", "calendar", "timers", "shopping"}
SKILLS_TTL = "skills/skills.ttl"


@pytest.fixture(scope="module")
def catalogue():
    return Catalogue.load()


@pytest.fixture
def home(monkeypatch):
    """A household whose ontology graph holds the catalogue (what the lead's ONTOLOGY_FILES
    change will do for every household)."""
    monkeypatch.setattr(kg.household, "ONTOLOGY_FILES",
                        (*kg.household.ONTOLOGY_FILES, SKILLS_TTL))
    return Hearth.in_memory().create_household("cat", time="2026-11-25T06:00:00Z")


def test_the_built_in_skills_are_all_there(catalogue):
    assert REQUIRED_SKILLS <= set(catalogue.skills)


def test_every_intent_has_about_ten_samples_and_typed_slots(catalogue):
    for intent in catalogue.intents():
        assert 8 <= len(intent.samples) <= 15, intent.id
        assert len({s.text for s in intent.samples}) == len(intent.samples), intent.id
        for slot in intent.slots:
            assert slot.type in SLOT_TYPES


def test_marked_samples_name_their_intents_slots(catalogue):
    marked = 0
    for intent in catalogue.intents():
        names = {s.name for s in intent.slots}
        for sample in intent.samples:
            for mark in sample.slots:
                assert mark.name in names
                assert sample.text[mark.start:mark.end] == mark.text
                marked += 1
    assert marked > 200


def test_compiled_turtle_is_current_with_the_yaml():
    assert COMPILED_TTL.read_text(encoding="utf-8") == compiled_text(), \
        "run `python -m reasoner.skills compile` after editing ontologies/skills/*.yaml"


def test_catalogue_is_queryable_with_sparql_in_every_household(home, catalogue):
    rows = home.query("""
        SELECT ?skill (COUNT(DISTINCT ?intent) AS ?intents) (COUNT(?sample) AS ?samples) WHERE {
          ?s a hearth:Skill ; hearth:name ?skill ; hearth:hasIntent ?intent .
          ?intent hearth:hasSample ?sample } GROUP BY ?skill""")
    counts = {r["skill"].value: (int(r["intents"].value), int(r["samples"].value)) for r in rows}
    assert REQUIRED_SKILLS <= set(counts)
    assert counts["lights"] == (3, sum(len(i.samples) for i in catalogue.skills["lights"].intents))


def test_slots_are_typed_by_ontology_classes_in_the_graph(home):
    rows = home.query("""
        SELECT ?name ?type WHERE {
          ?intent hearth:name "climate.set_temperature" ; hearth:hasSlot ?slot .
          ?slot hearth:name ?name ; hearth:slotType ?type ; hearth:required true }""")
    assert [(r["name"].value, r["type"].value) for r in rows] == [
        ("temperature", "https://w3id.org/hearth#Temperature")]
    # the value classes are classes of the ontology graph, under the ones hearth.ttl declares
    assert home.query("ASK { hearth:Duration rdfs:subClassOf hearth:Quantity . "
                      "hearth:Sample rdfs:subClassOf hearth:Utterance . "
                      "hearth:Skill rdfs:subClassOf hearth:Component }")


def test_samples_of_an_intent_come_back_with_their_markup(home):
    rows = home.query("""
        SELECT ?text ?markup WHERE { ?intent hearth:name "shopping.add_item" ;
          hearth:hasSample [ hearth:text ?text ; hearth:markup ?markup ] }""")
    pairs = {r["text"].value: r["markup"].value for r in rows}
    assert pairs["add milk to the shopping list"] == "add [milk](item) to the shopping list"


def test_intents_that_act_on_a_kind_of_device_are_found_by_its_class(home):
    rows = home.query("""
        SELECT ?name WHERE { ?intent hearth:name ?name ; hearth:deviceType hearth:Lock }
        ORDER BY ?name""")
    assert [r["name"].value for r in rows] == ["locks.lock", "locks.status", "locks.unlock"]


def test_catalogue_read_back_from_the_graph_equals_the_yaml(home, catalogue):
    assert Catalogue.from_household(home) == catalogue


def test_every_household_holds_the_catalogue():
    home = Hearth.in_memory().create_household("bare", time="2026-11-25T06:00:00Z")
    assert Catalogue.from_household(home).intents()


def test_every_hearth_term_the_catalogue_uses_is_declared():
    declared = set()
    for path in (ontologies.path("hearth.ttl"),):
        for q in ox.parse(path=str(path), format=ox.RdfFormat.TURTLE):
            if q.predicate.value.endswith("#type") and isinstance(q.subject, ox.NamedNode):
                declared.add(q.subject.value)
    used = set()
    for q in ox.parse(path=str(COMPILED_TTL), format=ox.RdfFormat.TURTLE):
        for term in (q.predicate, q.object):
            if isinstance(term, ox.NamedNode) and term.value.startswith(
                    "https://w3id.org/hearth#"):
                used.add(term.value)
    assert used - declared == set()


def test_slot_type_classes_are_declared_classes():
    classes = set()
    for path in (ontologies.path("hearth.ttl"),):
        for q in ox.parse(path=str(path), format=ox.RdfFormat.TURTLE):
            if q.object.value == "http://www.w3.org/2002/07/owl#Class":
                classes.add(q.subject.value)
    assert set(SLOT_TYPES.values()) <= classes


@pytest.mark.parametrize("ha_intent, domain, expected", [
    ("HassTurnOn", "light", "lights.turn_on"),
    ("HassTurnOn", "lock", "locks.lock"),
    ("HassTurnOff", "cover", "covers.close"),
    ("HassTurnOn", "switch", "devices.turn_on"),
    ("HassGetState", "lock", "locks.status"),
    ("HassGetState", "sensor", "devices.get_state"),
    ("HassStartTimer", None, "timers.start"),
    ("HassNevermind", None, None),
])
def test_home_assistant_intents_map_to_catalogue_intents_by_domain(catalogue, ha_intent,
                                                                   domain, expected):
    got = catalogue.for_home_assistant(ha_intent, domain)
    assert (got.id if got else None) == expected


def test_markup_gives_text_and_slot_spans():
    text, slots = parse_markup("set the [desk lamp](name) to [blue](color)")
    assert text == "set the desk lamp to blue"
    assert [(s.name, text[s.start:s.end]) for s in slots] == [("name", "desk lamp"),
                                                              ("color", "blue")]


@pytest.mark.parametrize("body, message", [
    ("skill: x\nintents:\n  - name: a\n    slots: [{name: s, type: Colour}]\n",
     "unknown type 'Colour' \\(did you mean 'Color'\\?\\)"),
    ("skill: x\nintents:\n  - name: a\n    samples: ['go to [work](place)']\n",
     "marks slot 'place'"),
    ("skill: x\nintents:\n  - name: a\n    samples: ['go to [work(place)']\n",
     "malformed slot mark"),
    ("skill: X\nintents: []\n", "lower case"),
    ("skill: x\nintents:\n  - name: a\n    device_types: [Lamp]\n", "not a hearth class"),
])
def test_malformed_skill_files_are_refused_with_the_reason(tmp_path: Path, body, message):
    path = tmp_path / "x.yaml"
    path.write_text(body)
    with pytest.raises(CatalogueError, match=message):
        skill_from_yaml(path)


def test_two_files_defining_one_skill_are_refused(tmp_path: Path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text(
            "skill: same\nintents:\n  - name: go\n    samples: ['go']\n")
    with pytest.raises(CatalogueError, match="defined in both"):
        Catalogue.load(tmp_path)


def test_an_unknown_intent_error_suggests_the_closest(catalogue):
    with pytest.raises(CatalogueError, match="lights.turn_on"):
        catalogue.intent("lights.turnon")
