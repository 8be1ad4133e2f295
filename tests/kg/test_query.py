"""Parameterized queries: no user text reaches a SPARQL string unescaped."""

from __future__ import annotations

import datetime as dt

import pytest
from pyoxigraph import NamedNode

from kg.errors import QueryError
from kg.query import bind, is_update, where_group_start

PAYLOADS = [
    'x" } ; DROP ALL ; #',
    "x' } } ; CLEAR ALL ; SELECT * { ?a ?b ?c",
    '"""\n} INSERT DATA { GRAPH <urn:evil> { <urn:a> <urn:b> <urn:c> } } #',
    "> <urn:evil> . } #",
    "\\\" \\u0022 \\n",
    "café 🏠 \u0000 \t \r",
    "?s ?p ?o",
    "$x } UNION { ?s ?p ?o",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_payloads_are_bound_as_plain_literals(memory_home, payload):
    head = memory_home.head
    rows = memory_home.query("SELECT ?x WHERE { BIND(?v AS ?x) }", bindings={"v": payload})
    assert [r["x"].value for r in rows] == [payload]
    # the household is unchanged and no stray graph appeared
    assert memory_home.head == head
    assert not memory_home.query("ASK { GRAPH <urn:evil> { ?s ?p ?o } }")
    assert memory_home.query("ASK { ?h hearth:householdId 'h1' }")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_through_a_filter_comparison(memory_home, payload):
    rows = memory_home.query(
        "SELECT ?name WHERE { ?h rdfs:label ?name FILTER(?name = ?wanted) }",
        bindings={"wanted": payload})
    assert len(rows) == 0


@pytest.mark.parametrize("bad_iri", ["urn:a> <urn:b", "http://x/ y", "urn:a\n"])
def test_iri_bindings_are_validated(memory_home, bad_iri):
    with pytest.raises((QueryError, ValueError)):
        memory_home.query("SELECT ?s WHERE { ?s ?p ?o }", bindings={"s": NamedNode(bad_iri)})


@pytest.mark.parametrize("name", ["s } DROP ALL", "1x", "a b", "", "x;"])
def test_binding_names_must_be_variables(memory_home, name):
    with pytest.raises(QueryError):
        memory_home.query("SELECT ?s WHERE { ?s ?p ?o }", bindings={name: "x"})


def test_typed_bindings_match_typed_data(memory_home):
    memory_home.append({"type": "DeviceAdded", "time": "2026-11-25T07:00:00Z",
                        "device": "t1", "name": "Thermo", "kind": "temperature_sensor"})
    for v in (19.5, 21.0, 22.5):
        memory_home.append({"type": "SensorObserved", "time": "2026-11-25T07:00:00Z",
                            "sensor": "t1", "property": "temperature", "value": v})
    rows = memory_home.query(
        "SELECT ?v WHERE { ?o sosa:madeBySensor ?s ; sosa:hasSimpleResult ?v ; sosa:resultTime ?t "
        "FILTER(?v > ?min && ?t >= ?since) } ORDER BY ?v",
        bindings={"s": memory_home.iri("device", "t1"), "min": 20,
                  "since": dt.datetime(2026, 11, 25, 6, tzinfo=dt.timezone.utc)})
    assert [r.to_python()["v"] for r in rows] == [21.0, 22.5]


def test_a_list_binding_gives_several_values(memory_home):
    rows = memory_home.query("SELECT ?x WHERE { } ", bindings={"x": [1, 2, 3]})
    assert sorted(r.to_python()["x"] for r in rows) == [1, 2, 3]


def test_naive_datetimes_are_refused(memory_home):
    with pytest.raises(QueryError, match="time zone"):
        memory_home.query("SELECT ?x WHERE { }", bindings={"x": dt.datetime(2026, 1, 1)})


@pytest.mark.parametrize("query, where", [
    ("SELECT * { ?s ?p ?o }", 10),
    ("PREFIX x: <urn:{}> SELECT * WHERE { ?s ?p ?o }", 35),
    ("SELECT (COUNT(*) AS ?n) # { comment\nWHERE { ?s ?p '{' }", 43),
    ("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", 30),
    ("CONSTRUCT { ?s ?p ?o } { ?s ?p ?o }", 24),
    ("SELECT ?s WHERE { { SELECT ?s { ?s ?p ?o } } }", 17),
    ("ASK { ?s <urn:a:b> \"\"\"}\"\"\" }", 5),
])
def test_values_go_into_the_outermost_where_group(query, where):
    assert where_group_start(query) == where


def test_bound_variables_become_constants_and_stay_projected(memory_home):
    q = bind("SELECT ?s ?o WHERE { ?s ?p ?o } ORDER BY ?s", {"s": NamedNode("urn:x:a")})
    assert q.startswith("SELECT ?s ?o WHERE { <urn:x:a> ?p ?o") and "BIND(<urn:x:a> AS ?s)" in q
    memory_home.assert_facts("<urn:x:a> <urn:x:p> 'one' . <urn:x:b> <urn:x:p> 'two' .")
    rows = memory_home.query("SELECT ?s ?o WHERE { ?s <urn:x:p> ?o }", {"s": NamedNode("urn:x:a")})
    assert [(r["s"].value, r["o"].value) for r in rows] == [("urn:x:a", "one")]


def test_a_literal_bound_where_only_an_iri_fits_matches_nothing(memory_home):
    memory_home.assert_facts("<urn:x:a> <urn:x:p> 'one' .")
    assert len(memory_home.query("SELECT ?o WHERE { ?s <urn:x:p> ?o }", {"s": "urn:x:a"})) == 0


def test_an_unused_binding_is_reported(memory_home):
    with pytest.raises(QueryError, match="does not use [?]devcie"):
        memory_home.query("SELECT ?o WHERE { ?device ?p ?o }", {"devcie": 1})


def test_short_construct_cannot_take_bindings():
    with pytest.raises(QueryError, match="CONSTRUCT"):
        bind("CONSTRUCT WHERE { ?s ?p ?o }", {"s": 1})


def test_updates_are_recognised():
    assert is_update("INSERT DATA { <urn:a> <urn:b> <urn:c> }")
    assert is_update("PREFIX x: <urn:> DELETE WHERE { ?s ?p ?o }")
    assert not is_update("SELECT * WHERE { ?s <urn:insert> 'DELETE' }")
