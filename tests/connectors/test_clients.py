"""Each source's client against a local server answering in that service's shape."""

from __future__ import annotations

import pyoxigraph as ox
import pytest

from connectors.conceptnet import ConceptNetClient, concept_uri
from connectors.errors import (BadResponse, ConnectorError, NotFound, OfflineMiss, RateLimited,
                               RequestRejected)
from connectors.facts import Fact, gather_facts
from connectors.sparql import SparqlClient, query_form
from connectors.wikidata import WikidataClient
from connectors.wikipedia import WikipediaClient, page_path
from kg.errors import QueryError

from .conftest import Reply

# -- Wikidata ----------------------------------------------------------------------------------


@pytest.fixture
def wikidata(service, make_transport):
    return WikidataClient(transport=make_transport(), api_url=service.url("/w/api.php"),
                          sparql_url=service.url("/sparql"))


def test_wikidata_search_parses_hits_and_sends_the_api_parameters(service, wikidata):
    service.route("/w/api.php", Reply(200, "fixture:wikidata_search_lamp.json"))
    found = wikidata.search("lamp", limit=2)
    assert [e.id for e in found.entities] == ["Q1138737", "Q3246165"]
    lamp = found.entities[0]
    assert (lamp.label, lamp.description, lamp.aliases, lamp.match) == (
        "lamp", "device that produces light", ("lamps",), "label")
    assert found.entities[1].matched_text == "LAMP stack"
    sent = service.seen[0]
    assert {k: sent.param(k) for k in ("action", "search", "language", "limit", "format")} == {
        "action": "wbsearchentities", "search": "lamp", "language": "en", "limit": "2",
        "format": "json"}


def test_wikidata_search_with_no_hits_is_empty_not_an_error(service, wikidata):
    service.route("/w/api.php", Reply(200, "fixture:wikidata_search_empty.json"))
    found = wikidata.search("qwxzv")
    assert not found and found.entities == ()


def test_wikidata_api_error_object_is_a_rejected_request(service, wikidata):
    service.route("/w/api.php", Reply(200, "fixture:wikidata_api_error.json"))
    with pytest.raises(RequestRejected, match="param-missing"):
        wikidata.search("lamp")


def test_wikidata_entity_reads_labels_aliases_and_statements(service, wikidata):
    service.route("/sparql", Reply(200, "fixture:wikidata_sparql_lamp.json"))
    lamp = wikidata.entity("Q1138737")
    assert (lamp.label, lamp.description) == ("lamp", "device that produces light")
    assert lamp.aliases == ("lamps", "light fixture")
    assert [v.label for v in lamp.subclass_of] == ["light source", "electrical device"]
    assert [v.id for v in lamp.subclass_of] == ["Q1823478", "Q2207288"]
    assert lamp.instance_of[0].label is None  # an item without an English label
    assert lamp.statements["P366"][0].label == "lighting"
    sent = service.seen[0]
    assert "wd:Q1138737" in sent.param("query") and "wdt:P279" in sent.param("query")
    assert "application/sparql-results+json" in sent.headers["Accept"]


def test_wikidata_entity_with_nothing_is_not_found(service, wikidata):
    service.route("/sparql", Reply(200, "fixture:sparql_empty.json"))
    with pytest.raises(NotFound):
        wikidata.entity("Q999999999")


@pytest.mark.parametrize("bad", ["146", "Q146; DROP", "wd:Q146", "Q0"])
def test_wikidata_entity_refuses_malformed_ids(wikidata, bad):
    with pytest.raises(ValueError):
        wikidata.entity(bad)


def test_wikidata_facts_say_what_it_is_and_what_it_is_used_for(service, wikidata):
    service.route("/w/api.php", Reply(200, "fixture:wikidata_search_lamp.json"))
    service.route("/sparql", Reply(200, "fixture:wikidata_sparql_lamp.json"))
    facts = wikidata.facts("lamp")
    pairs = {(f.relation, f.object) for f in facts}
    assert {("DefinedAs", "device that produces light"), ("IsA", "light source"),
            ("UsedFor", "lighting"), ("Synonym", "light fixture")} <= pairs
    assert all(f.source == "wikidata" and f.license == "CC0-1.0" and f.fetched_at for f in facts)
    assert facts[0].source_url == "http://www.wikidata.org/entity/Q1138737"


def test_wikidata_malformed_sparql_json_is_a_bad_response(service, wikidata):
    service.route("/sparql", Reply(200, b'{"head": {"vars": ["kind"]}, "results": {"bind',
                                   {"Content-Type": "application/sparql-results+json"}))
    with pytest.raises(BadResponse):
        wikidata.entity("Q1138737")


# -- ConceptNet --------------------------------------------------------------------------------


@pytest.fixture
def conceptnet(service, make_transport):
    return ConceptNetClient(transport=make_transport(), base_url=service.url(""))


def test_conceptnet_lookup_parses_edges_and_keeps_english_ones(service, conceptnet):
    service.route("/c/en/cozy", Reply(200, "fixture:conceptnet_c_en_cozy.json"))
    found = conceptnet.lookup("Cozy")
    assert [(e.rel, e.start.label, e.end.label) for e in found.edges] == [
        ("RelatedTo", "cozy", "warm"), ("Synonym", "cozy", "snug"),
        ("HasProperty", "a fireplace", "cozy")]
    first = found.edges[0]
    assert (first.weight, first.license, first.surface_text) == (
        2.0, "CC-BY-4.0", "[[cozy]] is related to [[warm]]")
    assert found.edges[1].start.sense_label == "a" and found.edges[1].start.term == "/c/en/cozy"
    assert found.next_page == "/c/en/cozy?offset=20&limit=20"
    assert service.seen[0].param("limit") == "20"


def test_conceptnet_query_sends_uris_for_terms_and_relations(service, conceptnet):
    service.route("/query", Reply(200, "fixture:conceptnet_query_usedfor.json"))
    found = conceptnet.query(start="lamp", rel="UsedFor", limit=5)
    sent = service.seen[0]
    assert (sent.param("start"), sent.param("rel"), sent.param("limit")) == (
        "/c/en/lamp", "/r/UsedFor", "5")
    assert found.edges[0].surface_text == "You can use [[a lamp]] for [[reading]]"


def test_conceptnet_query_needs_a_constraint(conceptnet):
    with pytest.raises(ValueError):
        conceptnet.query()


def test_conceptnet_related_drops_the_term_itself(service, conceptnet):
    service.route("/related/c/en/cozy", Reply(200, "fixture:conceptnet_related_cozy.json"))
    found = conceptnet.related("cozy", limit=5)
    assert [r.label for r in found.related] == ["cosy", "snug", "comfy", "homey"]
    assert found.related[0].weight == pytest.approx(0.958)
    assert service.seen[0].param("filter") == "/c/en"


def test_conceptnet_unknown_term_gives_no_edges(service, conceptnet):
    service.route("/c/en/qwxzv", Reply(200, "fixture:conceptnet_empty.json"))
    assert not conceptnet.lookup("qwxzv")


def test_conceptnet_error_object_with_404_is_not_found(service, make_transport):
    client = ConceptNetClient(transport=make_transport(), base_url=service.url(""))
    service.route("/c/xx/thing", Reply(200, "fixture:conceptnet_error_404.json"))
    with pytest.raises(NotFound):
        client.lookup("thing", language="xx")


@pytest.mark.parametrize("body", [b'{"@id": "/c/en/cozy"}', b'{"edges": {"a": 1}}', b"[1, 2]",
                                  b"<html>502 Bad Gateway</html>"])
def test_conceptnet_wrong_shapes_are_bad_responses(service, conceptnet, body):
    service.route("/c/en/cozy", Reply(200, body, {"Content-Type": "application/json"}))
    with pytest.raises(BadResponse):
        conceptnet.lookup("cozy")


def test_conceptnet_facts_keep_direction_and_explain_themselves(service, conceptnet):
    service.route("/c/en/cozy", Reply(200, "fixture:conceptnet_c_en_cozy.json"))
    facts = conceptnet.facts("cozy")
    assert facts[0].explain() == "cozy is related to warm (conceptnet)"
    assert facts[0].weight == pytest.approx(2 / 3, abs=1e-3)
    fireplace = next(f for f in facts if f.relation == "HasProperty")
    assert (fireplace.subject, fireplace.object) == ("a fireplace", "cozy")
    assert facts[1].explain() == "cozy means the same as snug (conceptnet)"


def test_concept_uris_are_normalized():
    assert concept_uri("  Living   Room ") == "/c/en/living_room"
    assert concept_uri("/c/en/tea_kettle/n") == "/c/en/tea_kettle/n"


# -- Wikipedia ---------------------------------------------------------------------------------


@pytest.fixture
def wikipedia(service, make_transport):
    return WikipediaClient(transport=make_transport(), base_url=service.url(""))


def test_wikipedia_summary_of_a_standard_page(service, wikipedia):
    service.route("/api/rest_v1/page/summary/Lamp", Reply(200, "fixture:wikipedia_summary_lamp.json"))
    page = wikipedia.summary("Lamp")
    assert (page.title, page.type, page.description) == ("Lamp", "standard",
                                                         "Device that produces light")
    assert page.first_sentence == "A lamp is a device that produces light."
    assert page.url == "https://en.wikipedia.org/wiki/Lamp" and not page.is_disambiguation
    assert page.candidates == () and len(service.seen) == 1


def test_wikipedia_disambiguation_page_lists_candidates(service, wikipedia):
    service.route("/api/rest_v1/page/summary/Mercury",
                  Reply(200, "fixture:wikipedia_summary_mercury.json"))
    service.route("/w/api.php", Reply(200, "fixture:wikipedia_links_mercury_1.json"),
                  Reply(200, "fixture:wikipedia_links_mercury_2.json"))
    page = wikipedia.summary("Mercury")
    assert page.is_disambiguation
    assert [c.title for c in page.candidates] == [
        "Mercury (element)", "Mercury (mythology)", "Mercury (planet)", "Freddie Mercury"]
    assert page.candidates[2].description == "Smallest and closest planet to the Sun"
    links = service.requests_to("/w/api.php")
    assert [s.param("generator") for s in links] == ["links", "links"]
    assert links[0].param("titles") == "Mercury" and links[0].param("gplnamespace") == "0"
    assert links[1].param("gplcontinue") == "19694|0|Mercury_(mythology)"


def test_wikipedia_disambiguation_facts_offer_the_candidates(service, wikipedia):
    service.route("/api/rest_v1/page/summary/Mercury",
                  Reply(200, "fixture:wikipedia_summary_mercury.json"))
    service.route("/w/api.php", Reply(200, "fixture:wikipedia_links_mercury_2.json"))
    facts = wikipedia.facts("Mercury")
    assert [f.object for f in facts] == ["Mercury (mythology)", "Mercury (planet)"]
    assert facts[1].explain() == ("Mercury may refer to Mercury (planet) (Smallest and closest "
                                  "planet to the Sun) (wikipedia)")
    assert all(f.license == "CC-BY-SA-4.0" for f in facts)


def test_wikipedia_missing_page_is_not_found(service, wikipedia):
    service.route("/api/rest_v1/page/summary/Qwxzv_plomb",
                  Reply(404, "fixture:wikipedia_not_found.json"))
    with pytest.raises(NotFound):
        wikipedia.summary("Qwxzv plomb")


def test_wikipedia_titles_are_escaped_in_the_path():
    assert page_path(" hot  water bottle ") == "hot_water_bottle"
    assert page_path("What?") == "What%3F"


# -- generic SPARQL ----------------------------------------------------------------------------


@pytest.fixture
def sparql(service, make_transport):
    return SparqlClient(service.url("/sparql"), transport=make_transport(), name="dbpedia")


def test_sparql_select_binds_values_instead_of_pasting_them(service, sparql):
    service.route("/sparql", Reply(200, "fixture:sparql_select_dbpedia.json"))
    rows = sparql.select("SELECT ?label ?abstract WHERE { ?s rdfs:label ?label ; "
                         "dbo:abstract ?abstract }",
                         bindings={"s": ox.NamedNode("http://dbpedia.org/resource/Lamp")})
    assert rows.variables == ["label", "abstract"]
    assert rows[0]["label"] == ox.Literal("Lamp", language="en")
    sent = service.seen[0].param("query")
    assert "<http://dbpedia.org/resource/Lamp>" in sent  # bound by kg.query.bind, as a term
    assert sent.startswith("PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>")
    assert "PREFIX dbo:" in sent and "PREFIX owl:" not in sent


def test_sparql_hostile_literal_bindings_stay_literals(service, sparql):
    service.route("/sparql", Reply(200, "fixture:sparql_ask_true.json"))
    hostile = 'x" } . ?a ?b ?c { "'
    sparql.ask("ASK { ?s rdfs:label ?label }", bindings={"label": hostile})
    sent = service.seen[0].param("query")
    assert str(ox.Literal(hostile)) in sent  # escaped N-Triples form: '"x\\" } … { \\""'
    assert "?a ?b ?c" not in sent.replace(str(ox.Literal(hostile)), "")


def test_sparql_ask_and_construct(service, sparql):
    service.route("/sparql", Reply(200, "fixture:sparql_ask_true.json"))
    assert sparql.ask("ASK { ?s ?p ?o }") is True
    service.route("/sparql", Reply(200, "fixture:sparql_construct.nt"))
    triples = sparql.construct("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o } LIMIT 2")
    assert len(triples) == 2 and triples[0].object == ox.Literal("Lamp", language="en")
    assert "application/n-triples" in service.seen[-1].headers["Accept"]


def test_long_sparql_queries_are_posted_and_still_cached(service, sparql):
    service.route("/sparql", Reply(200, "fixture:sparql_select_dbpedia.json"), method="POST")
    long_query = "SELECT ?label WHERE { ?s rdfs:label ?label " + "# padding\n" * 300 + "}"
    sparql.select(long_query)
    again = sparql.run(long_query)
    sent = service.seen[0]
    assert sent.method == "POST" and sent.headers["Content-Type"].startswith(
        "application/sparql-query")
    assert again.from_cache and len(service.seen) == 1


def test_sparql_refuses_updates_and_wrong_forms(service, sparql):
    with pytest.raises(QueryError):
        sparql.query("INSERT DATA { <http://a> <http://b> <http://c> }")
    service.route("/sparql", Reply(200, "fixture:sparql_ask_true.json"))
    with pytest.raises(QueryError):
        sparql.select("ASK { ?s ?p ?o }")


def test_sparql_answer_that_does_not_parse_is_a_bad_response(service, sparql):
    service.route("/sparql", Reply(200, b"<html>Virtuoso error</html>",
                                   {"Content-Type": "application/sparql-results+json"}))
    with pytest.raises(BadResponse):
        sparql.select("SELECT * WHERE { ?s ?p ?o }")


def test_sparql_syntax_error_from_the_endpoint_is_rejected(service, sparql):
    service.route("/sparql", Reply(400, b"Virtuoso 37000 Error SP030: SPARQL compiler, line 1: "
                                        b"syntax error"))
    with pytest.raises(RequestRejected, match="SP030"):
        sparql.select("SELECT * WHERE { ?s ?p ?o }")


def test_query_form_ignores_keywords_in_strings():
    assert query_form('CONSTRUCT { ?s ?p "SELECT" } WHERE { ?s ?p ?o }') == "CONSTRUCT"


# -- across clients ----------------------------------------------------------------------------


def test_every_client_answers_offline_from_what_it_fetched_online(service, make_transport):
    service.route("/c/en/cozy", Reply(200, "fixture:conceptnet_c_en_cozy.json"))
    service.route("/api/rest_v1/page/summary/Lamp", Reply(200, "fixture:wikipedia_summary_lamp.json"))
    service.route("/w/api.php", Reply(200, "fixture:wikidata_search_lamp.json"))
    service.route("/sparql", Reply(200, "fixture:wikidata_sparql_lamp.json"))
    from connectors.cache import MemoryCache
    cache = MemoryCache()

    def clients(offline):
        t = make_transport(cache=cache, offline=offline)
        return (ConceptNetClient(transport=t, base_url=service.url("")),
                WikipediaClient(transport=t, base_url=service.url("")),
                WikidataClient(transport=t, api_url=service.url("/w/api.php"),
                               sparql_url=service.url("/sparql")))

    online = clients(False)
    expected = [c.facts(term) for c, term in zip(online, ["cozy", "Lamp", "lamp"])]
    fetched = len(service.seen)
    offline = clients(True)
    assert [c.facts(term) for c, term in zip(offline, ["cozy", "Lamp", "lamp"])] == expected
    assert len(service.seen) == fetched
    for client in offline:
        with pytest.raises(OfflineMiss):
            client.facts("something never fetched")


def test_gather_facts_turns_failures_into_values(service, make_transport):
    service.route("/c/en/cozy", Reply(200, "fixture:conceptnet_c_en_cozy.json"))
    service.route("/api/rest_v1/page/summary/cozy", Reply(429, b"", {"Retry-After": "999"}))
    t = make_transport()
    result = gather_facts("cozy", [ConceptNetClient(transport=t, base_url=service.url("")),
                                   WikipediaClient(transport=t, base_url=service.url(""))])
    assert result.by_source == {"conceptnet": 3}
    assert [(f.source, f.kind) for f in result.failures] == [("wikipedia", "RateLimited")]
    assert "warm" in result.objects("RelatedTo")
    assert result.facts == tuple(sorted(result.facts, key=lambda f: -f.weight))


def test_no_requests_exception_escapes_any_client(service, make_transport):
    service.route("/c/en/cozy", Reply(200, b'{"edges": [', truncate=True))
    client = ConceptNetClient(transport=make_transport(), base_url=service.url(""))
    with pytest.raises(ConnectorError) as caught:
        client.lookup("cozy")
    import requests
    assert not isinstance(caught.value, requests.RequestException)


def test_fact_explain_without_surface_text_uses_the_relation():
    assert Fact("lamp", "UsedFor", "reading", source="x").explain() == "lamp is used for reading (x)"


def test_rate_limited_client_error_carries_retry_after(service, make_transport):
    service.route("/c/en/cozy", Reply(429, b"", {"Retry-After": "120"}))
    client = ConceptNetClient(transport=make_transport(), base_url=service.url(""))
    with pytest.raises(RateLimited) as caught:
        client.lookup("cozy")
    assert caught.value.retry_after == 120.0 and caught.value.source == "conceptnet"


def test_default_sources_put_the_offline_lexicon_first(tmp_path, monkeypatch):
    from connectors.facts import default_sources
    from connectors.transport import INTERACTIVE_RETRY, Transport
    assert [s.name for s in default_sources(online=False)] == ["wordnet"]
    transport = Transport.interactive(cache_dir=tmp_path, offline=True)
    try:
        assert transport.retry == INTERACTIVE_RETRY and transport.timeout.total == 3.0
        names = [s.name for s in default_sources(transport)]
        assert names == ["wordnet", "conceptnet", "wikidata", "wikipedia"]
        result = gather_facts("cozy", default_sources(transport))
        assert list(result.by_source) == ["wordnet"]  # web sources: offline misses, as values
        assert "snug" in result.objects("Synonym")
        assert {f.kind for f in result.failures} == {"OfflineMiss"}
    finally:
        transport.close()
