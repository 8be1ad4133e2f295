"""One store test suite, run against the in-memory, on-disk and remote (Oxigraph server) backends."""

from __future__ import annotations

import pytest
from pyoxigraph import Literal, NamedNode, Quad, RdfFormat

from kg.errors import EndpointError, QueryError, RDFSyntaxError
from kg.query import wrap

G1, G2 = NamedNode("urn:test:g1"), NamedNode("urn:test:g2")
P = NamedNode("urn:test:p")


def q(s, o, g=G1):
    return Quad(NamedNode(f"urn:test:{s}"), P, Literal(o) if isinstance(o, str) else o, g)


def count(store) -> int:
    return int(next(iter(store.query("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")))["n"].value)


def test_default_graph_is_the_union_of_named_graphs(store):
    store.extend([q("a", "1", G1), q("b", "2", G2)])
    rows = wrap(store.query("SELECT ?s WHERE { ?s <urn:test:p> ?o } ORDER BY ?s"))
    assert [r["s"].value for r in rows] == ["urn:test:a", "urn:test:b"]
    assert set(g.value for g in store.named_graphs()) >= {G1.value, G2.value}


def test_prefixes_are_predeclared(store):
    store.extend([q("a", "x")])
    rows = wrap(store.query("SELECT ?o WHERE { t:a t:p ?o }", prefixes={"t": "urn:test:"}))
    assert [r["o"].value for r in rows] == ["x"]


def test_quads_matches_patterns(store):
    store.extend([q("a", "1"), q("a", "2", G2), q("b", "3")])
    assert sorted(x.object.value for x in store.quads(NamedNode("urn:test:a"), None, None, None)) == ["1", "2"]
    assert [x.object.value for x in store.quads(None, None, None, G2)] == ["2"]


def test_failed_update_changes_nothing(store):
    store.extend([q("a", "1")])
    with pytest.raises(QueryError):
        store.update("INSERT DATA { GRAPH <urn:test:g1> { <urn:test:z> <urn:test:p> 'z' } } ; DELETE nonsense")
    assert count(store) == 1


def test_update_is_applied_as_a_whole(store):
    store.extend([q("a", "1")])
    store.update("DELETE DATA { GRAPH <urn:test:g1> { <urn:test:a> <urn:test:p> '1' } } ;"
                 "INSERT DATA { GRAPH <urn:test:g1> { <urn:test:a> <urn:test:p> '2' } }")
    assert [x.object.value for x in store.quads(None, P, None, None)] == ["2"]


def test_malformed_rdf_is_refused_and_nothing_is_added(store):
    store.extend([q("a", "1")])
    good_then_bad = "<urn:test:x> <urn:test:p> 'ok' .\n<urn:test:y> <urn:test:p> 'unterminated .\n"
    with pytest.raises(RDFSyntaxError) as err:
        store.load(good_then_bad, format=RdfFormat.TURTLE, graph=G1)
    assert "nothing was added" in str(err.value)
    assert count(store) == 1


def test_load_then_dump_round_trips(store, tmp_path):
    data = "<urn:test:x> <urn:test:p> \"é \\\" \\n\" <urn:test:g1> .\n<urn:test:y> <urn:test:p> \"2\"^^<http://www.w3.org/2001/XMLSchema#integer> <urn:test:g2> .\n"
    store.load(data, format=RdfFormat.N_QUADS)
    dumped = store.dump(format=RdfFormat.N_QUADS).decode()
    assert sorted(l for l in dumped.splitlines() if l) == sorted(l for l in data.splitlines())


def test_bulk_load_from_a_file(store, tmp_path):
    path = tmp_path / "data.nq"
    path.write_text("".join(f"<urn:test:s{i}> <urn:test:p> \"{i}\" <urn:test:g1> .\n" for i in range(500)))
    store.bulk_load(path, format=RdfFormat.N_QUADS)
    assert count(store) == 500


def test_ask_and_construct(store):
    store.extend([q("a", "1")])
    assert wrap(store.query("ASK { ?s ?p '1' }")) is True
    triples = wrap(store.query("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }"))
    assert [t.object.value for t in triples] == ["1"]


def test_unreachable_endpoint_gives_a_clear_error():
    from kg.store import SparqlEndpointStore
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = SparqlEndpointStore.oxigraph(f"http://127.0.0.1:{port}", retries=1, backoff_s=0.01,
                                         timeout_s=1)
    with pytest.raises(EndpointError) as err:
        store.query("ASK {}")
    assert "could not be reached" in str(err.value) and "Check that the server runs" in str(err.value)
    assert isinstance(err.value, OSError)
