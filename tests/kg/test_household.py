"""Households: scoped APIs, isolation, clear errors, and every backend behind one interface."""

from __future__ import annotations

import pytest
from pyoxigraph import NamedNode

from kg.errors import HouseholdExistsError, StoreError, UnknownHouseholdError
from kg.household import Hearth
from kg.importers.homeassistant import read_fixtures

from ..conftest import FIXTURES, OxigraphServer


def secret(home, text):
    home.append({"type": "PersonAdded", "time": "2026-11-25T06:00:00Z", "person": "p",
                 "name": text})


def everything(home) -> set[str]:
    rows = home.query("SELECT ?o WHERE { GRAPH ?g { ?s ?p ?o } }")
    return {r["o"].value for r in rows}


def test_one_household_cannot_read_anothers_graphs(hearth):
    a = hearth.create_household("a")
    b = hearth.create_household("b")
    secret(a, "alpha-secret")
    secret(b, "beta-secret")
    assert "alpha-secret" in everything(a) and "beta-secret" not in everything(a)
    assert "beta-secret" in everything(b) and "alpha-secret" not in everything(b)
    # even naming b's graphs explicitly from a finds nothing
    b_graph = b.ids.event(2)
    assert not a.query("ASK { GRAPH ?g { ?s ?p ?o } }", bindings={"g": b_graph})
    assert not a.query("ASK { ?s rdfs:label 'beta-secret' }")


def test_households_persist_on_disk(tmp_path):
    with Hearth.open(tmp_path / "x") as hearth:
        secret(hearth.create_household("a", name="Home A"), "kept")
    with Hearth.open(tmp_path / "x") as hearth:
        assert hearth.households() == ["a"]
        home = hearth.household("a")
        assert home.state.name == "Home A" and home.head == 2
        assert "kept" in everything(home)


def test_unknown_household_says_what_exists_and_what_to_do(hearth):
    hearth.create_household("a")
    with pytest.raises(UnknownHouseholdError) as err:
        hearth.household("zz")
    assert "known: a" in str(err.value) and "hearth household create zz" in str(err.value)
    assert isinstance(err.value, KeyError)


def test_bad_or_duplicate_household_ids(hearth):
    hearth.create_household("a")
    with pytest.raises(HouseholdExistsError):
        hearth.create_household("a")
    for bad in ("../etc", "A B", "", "x" * 80, "a/b"):
        with pytest.raises(ValueError):
            hearth.create_household(bad)


def test_a_folder_that_is_not_a_hearth_is_refused(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not a hearth folder"):
        Hearth.open(tmp_path / "stuff")


def test_the_ontology_is_queryable_in_every_household(memory_home):
    assert memory_home.query("ASK { hearth:Household a owl:Class }")


def test_home_assistant_fixtures_import(memory_home):
    memory_home.append_many(read_fixtures(FIXTURES / "kg" / "mock_home.yaml"))
    s = memory_home.state
    assert s.devices["cover.garage_door"].kind == "garage_door"
    assert s.device_state("light.kitchen_ceiling") == "on"
    assert s.device_state("light.kitchen_ceiling", "brightness") == 128
    assert s.device_state("sensor.outside_temperature") == 42
    assert s.areas["kitchen_id"].floor == "ground_floor_id"
    rows = memory_home.query("SELECT ?name WHERE { ?d hearth:inArea ?a ; rdfs:label ?name } ORDER BY ?name",
                             bindings={"a": memory_home.iri("area", "kitchen_id")})
    assert [r["name"].value for r in rows] == ["Kitchen Ceiling", "Thermostat"]


def test_the_rdflib_view_reads_but_refuses_writes(home):
    from rdflib import Literal, URIRef
    secret(home, "via-rdflib")
    ds = home.rdflib()
    labels = {str(o) for _, _, o, _ in ds.quads((None, URIRef("http://www.w3.org/2000/01/rdf-schema#label"), None, None))}
    assert "via-rdflib" in labels
    with pytest.raises(StoreError, match="read-only"):
        ds.add((URIRef("urn:a"), URIRef("urn:b"), Literal("c"), URIRef("urn:g")))


def test_malformed_rdf_facts_are_refused_and_nothing_changes(memory_home):
    from kg.errors import RDFSyntaxError
    head = memory_home.head
    with pytest.raises(RDFSyntaxError, match="nothing was stored"):
        memory_home.assert_facts("<urn:a> <urn:b> 'unterminated .")
    assert memory_home.head == head
    ok = memory_home.assert_facts("<urn:x:a> <urn:x:b> 'fine' .")
    assert memory_home.query("ASK { <urn:x:a> <urn:x:b> 'fine' }")
    assert ok.seq == head + 1


def test_households_on_remote_sparql_endpoints(tmp_path):
    servers = [OxigraphServer(tmp_path / "s1"), OxigraphServer(tmp_path / "s2")]
    try:
        hearth = Hearth.remote({"a": servers[0].url, "b": servers[1].url})
        a = hearth.create_household("a", name="Remote A", time="2026-11-25T06:00:00Z")
        b = hearth.create_household("b", time="2026-11-25T06:00:00Z")
        a.append_many(read_fixtures(FIXTURES / "kg" / "mock_home.yaml"))
        a.append({"type": "DeviceStateChanged", "time": "2026-11-25T07:00:00Z",
                  "device": "light.kitchen_ceiling", "value": "off"})
        secret(b, "beta-only")
        assert a.state.device_state("light.kitchen_ceiling") == "off"
        assert "beta-only" not in everything(a)
        # a fresh client reads the same household back from the servers
        again = Hearth.remote({"a": servers[0].url}).household("a")
        assert again.head == a.head
        assert again.state.snapshot() == a.state.snapshot()
        assert again.log.replayed_state().snapshot() == a.state.snapshot()
        with pytest.raises(UnknownHouseholdError, match="no endpoint"):
            Hearth.remote({"a": servers[0].url}).household("c")
    finally:
        for s in servers:
            s.stop()
