"""hearth serve over real HTTP on 127.0.0.1: the SPARQL protocol, the JSON API, tokens and limits.

One server (uvicorn in a thread) serves three households of a hearth folder on disk for the whole
module: ``h1`` (a short morning), ``h2`` (another home) and ``big`` (1,600 plain triples, for
oversized and slow queries). Tests that write use ids of their own, so they do not disturb others.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
import pytest
import requests
import uvicorn
from typer.testing import CliRunner

from hearth.server import (ServerLimits, TokenStore, api_models, create_app, serve_app,
                           token_app)
from kg import events as E
from kg.household import Hearth
from kg.ingest import ingest_file
from reasoner.pipeline import Pipeline

from ..conftest import FIXTURES

TIMEOUT = 30  # every client request; the server's own query deadline is QUERY_TIMEOUT_S
QUERY_TIMEOUT_S = 1.0
MAX_ROWS = 1000

NAMES = "SELECT ?name WHERE { ?p a hearth:Person ; rdfs:label ?name } ORDER BY ?name"
# Rows come one every ~50 ms (each runs a 150,000-pair NOT EXISTS), ~80 s for all of them, so it
# only ends in time if the server stops it at its deadline.
SLOW_STREAMING = ("SELECT ?a WHERE { ?a <urn:x:n> ?x FILTER NOT EXISTS { ?b <urn:x:n> ?y . "
                  "?c <urn:x:m> ?z FILTER(?y + ?z = ?x + 100000) } }")
# An aggregate over a 9-million-row cross product (~3 s here, three times the deadline): the engine
# returns nothing until it is done, and cannot be interrupted.
SLOW_AGGREGATE = ("SELECT (COUNT(*) AS ?c) WHERE { ?c <urn:x:m> ?z FILTER(?z < 4) "
                  "?a <urn:x:n> ?x . ?b <urn:x:n> ?y FILTER(?x != ?y + 0.5) }")


class HeardLights:
    """A reasoner component for the tests: notes every utterance that mentions a light."""

    name = "heard-lights"
    consumes = (E.UtteranceHeard,)
    produces = (E.FactInferred,)

    def process(self, home, appended):
        return [E.FactInferred(time=a.event.time, derived_from=(a.iri,),
                               rule="urn:test:heard-lights",
                               rdf=f'<{a.iri.value}> <urn:test:mentions> "light" .')
                for a in appended if "light" in a.event.text]


def echo_interpretation(context):
    return {"interpretation": {"text": context.utterance.event.text}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Live:
    url: str
    root: Path
    tokens: dict[str, str]
    app: object

    def call(self, method: str, path: str, token: str | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.url + path, headers=headers, timeout=TIMEOUT,
                                **kwargs)

    def sparql(self, household: str, query: str, token: str | None = None, **kwargs):
        token = self.tokens[f"{household}:read"] if token is None else token
        return self.call("GET", f"/households/{household}/sparql", token,
                         params={"query": query}, **kwargs)

    def head(self, household: str) -> int:
        r = self.call("GET", f"/households/{household}/events", self.tokens[f"{household}:read"],
                      params={"limit": 1})
        assert r.status_code == 200, r.text
        return r.json()["head"]

    def held(self, household: str) -> int:
        return self.app.state.queries.held(household)


def _big_facts() -> str:
    lines = [f'<urn:x:s{i}> <urn:x:n> {i} .' for i in range(1500)]
    lines += [f'<urn:x:t{i}> <urn:x:m> {i} .' for i in range(100)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve") / "hearth"
    hearth = Hearth.open(root)
    h1 = hearth.create_household("h1", name="Home one", time="2026-11-25T06:00:00Z")
    ingest_file(h1, FIXTURES / "kg" / "morning.jsonl")
    h2 = hearth.create_household("h2", name="Home two", time="2026-11-25T06:00:00Z")
    h2.append({"type": "DeviceAdded", "time": "2026-11-25T06:00:00Z", "device": "light.secret",
               "name": "Secret Lamp", "kind": "light"})
    big = hearth.create_household("big", time="2026-11-25T06:00:00Z")
    big.assert_facts(_big_facts(), format="ttl")
    store = TokenStore(root / "tokens.json")
    tokens = {f"{h}:{scope}": store.create(h, scope, label="tests")[0]
              for h in ("h1", "h2", "big") for scope in ("read", "write")}
    limits = ServerLimits(query_timeout_s=QUERY_TIMEOUT_S, max_rows=MAX_ROWS, query_workers=4,
                          queries_per_household=2)
    app = create_app(hearth, root / "tokens.json", limits=limits,
                     on_open=lambda home: Pipeline([HeardLights()]).attach(home),
                     responders=[echo_interpretation])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, name="hearth-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the hearth server did not start")
        time.sleep(0.02)
    yield Live(f"http://127.0.0.1:{port}", root, tokens, app)
    server.should_exit = True
    thread.join(10)
    hearth.close()


def _names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [b["name"]["value"] for b in response.json()["results"]["bindings"]]


# -- SPARQL protocol ---------------------------------------------------------------------------

def test_sparql_get_answers_select_as_sparql_json(live):
    r = live.sparql("h1", NAMES)
    assert r.headers["content-type"].startswith("application/sparql-results+json")
    assert _names(r) == ["Ann"]
    assert "Hearth-Truncated" not in r.headers


def test_sparql_post_as_body_and_as_form_gives_the_same_rows(live):
    token = live.tokens["h1:read"]
    body = live.call("POST", "/households/h1/sparql", token, data=NAMES.encode(),
                     headers={"Content-Type": "application/sparql-query"})
    form = live.call("POST", "/households/h1/sparql", token, data={"query": NAMES})
    assert _names(body) == _names(form) == ["Ann"]


@pytest.mark.parametrize("accept, media, results_format", [
    ("application/sparql-results+json", "application/sparql-results+json", "JSON"),
    ("application/sparql-results+xml", "application/sparql-results+xml", "XML"),
    ("text/tab-separated-values", "text/tab-separated-values", "TSV"),
    ("text/html;q=0.9, text/csv;q=0.5, application/sparql-results+xml;q=0.8",
     "application/sparql-results+xml", "XML"),
])
def test_select_results_come_in_the_negotiated_format(live, accept, media, results_format):
    r = live.sparql("h1", NAMES, headers={"Accept": accept})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].split(";")[0] == media
    parsed = ox.parse_query_results(r.content,
                                    format=getattr(ox.QueryResultsFormat, results_format))
    assert [s["name"].value for s in parsed] == ["Ann"]


def test_csv_and_tsv_follow_the_sparql_results_formats(live):
    csv = live.sparql("h1", NAMES, headers={"Accept": "text/csv"}).text
    tsv = live.sparql("h1", NAMES, headers={"Accept": "text/tab-separated-values"}).text
    assert csv == "name\r\nAnn\r\n"
    assert tsv == '?name\n"Ann"\n'


@pytest.mark.parametrize("accept, rdf_format", [
    ("text/turtle", ox.RdfFormat.TURTLE), ("application/n-triples", ox.RdfFormat.N_TRIPLES),
    ("application/rdf+xml", ox.RdfFormat.RDF_XML), (None, ox.RdfFormat.TURTLE)])
def test_construct_results_come_as_rdf(live, accept, rdf_format):
    query = "CONSTRUCT { ?p rdfs:label ?name } WHERE { ?p a hearth:Person ; rdfs:label ?name }"
    r = live.sparql("h1", query, headers={"Accept": accept} if accept else {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].split(";")[0] == rdf_format.media_type
    triples = [q.triple for q in ox.parse(r.content, format=rdf_format)]
    assert [(t.subject.value, t.object.value) for t in triples] == [
        ("urn:hearth:h1:person:ann", "Ann")]


def test_ask_answers_a_boolean(live):
    yes = live.sparql("h1", "ASK { ?p rdfs:label 'Ann' }")
    no = live.sparql("h1", "ASK { ?p rdfs:label 'Nobody' }",
                     headers={"Accept": "application/sparql-results+xml"})
    assert yes.json() == {"head": {}, "boolean": True}
    assert bool(ox.parse_query_results(no.content, format=ox.QueryResultsFormat.XML)) is False


@pytest.mark.parametrize("query, accept", [
    (NAMES, "text/turtle"), ("CONSTRUCT WHERE { ?s ?p ?o }", "text/csv"), (NAMES, "image/png")])
def test_an_unacceptable_results_format_is_406(live, query, accept):
    r = live.sparql("h1", query, headers={"Accept": accept})
    assert r.status_code == 406
    assert r.headers["content-type"] == "application/problem+json"
    assert "Accept" in r.json()["detail"]


@pytest.mark.parametrize("method, kwargs, status, words", [
    ("GET", {"params": {"query": "SELECT ?x WHERE { ?x ?y }"}}, 400, "does not parse"),
    ("GET", {}, 400, "no query"),
    ("POST", {"data": b"SELECT * {}", "headers": {"Content-Type": "text/plain"}}, 415,
     "application/sparql-query"),
    ("GET", {"params": {"query": NAMES, "default-graph-uri": "urn:x"}}, 400, "GRAPH"),
    ("POST", {"data": NAMES.encode() + b"#" * (1 << 20),
              "headers": {"Content-Type": "application/sparql-query"}}, 413, "limit"),
])
def test_bad_sparql_requests_are_refused_with_a_reason(live, method, kwargs, status, words):
    r = live.call(method, "/households/h1/sparql", live.tokens["h1:read"], **kwargs)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


# -- events, state, utterances ---------------------------------------------------------------

def test_posted_events_are_in_the_graph_and_the_state(live):
    batch = "\n".join(json.dumps(e) for e in [
        {"type": "DeviceAdded", "time": "2026-11-25T09:00:00Z", "device": "light.desk",
         "name": "Desk Lamp", "kind": "light"},
        {"type": "DeviceStateChanged", "time": "2026-11-25T09:01:00Z", "device": "light.desk",
         "value": "on"}])
    before = live.head("h1")
    r = live.call("POST", "/households/h1/events", live.tokens["h1:write"], data=batch,
                  headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["count"], body["first_seq"], body["last_seq"]) == (2, before + 1, before + 2)
    rows = live.sparql("h1", "SELECT ?v WHERE { ?d rdfs:label 'Desk Lamp' ; hearth:currentState "
                             "[ hearth:attribute 'state' ; hearth:value ?v ] }").json()
    assert [b["v"]["value"] for b in rows["results"]["bindings"]] == ["on"]
    state = live.call("GET", "/households/h1/state", live.tokens["h1:read"]).json()
    api_models().StateOut.model_validate(state)
    assert state["devices"]["light.desk"]["state"]["state"]["value"] == "on"
    assert state["devices"]["light.desk"]["state"]["state"]["event"] == before + 2


def test_one_event_can_be_posted_as_json(live):
    event = {"type": "PersonAdded", "time": "2026-11-25T09:00:00Z", "person": "bo", "name": "Bo"}
    r = live.call("POST", "/households/h1/events", live.tokens["h1:write"], json=event)
    assert r.status_code == 201, r.text
    assert r.json()["events"][0]["type"] == "PersonAdded"
    assert "Bo" in _names(live.sparql("h1", NAMES))


@pytest.mark.parametrize("body, ctype, line, field, words", [
    ('# a batch\n{"type": "PersonAdded", "time": "2026-11-25T09:00:00Z", "person": "cy", '
     '"name": "Cy"}\n\n{"type": "PersonArrived", "time": "2026-11-25T09:00:00Z", "persn": "cy"}',
     "application/x-ndjson", 4, "persn", "did you mean 'person'"),
    ('{"type": "PersonAdded", "time": "2026-11-25T09:00:00Z", "person": "cy", "name": "Cy"}\n'
     '{"type": "PersonArrived", "time": "yesterday", "person": "cy"}',
     "application/x-ndjson", 2, "time", "time"),
    ('{"type": "PersonAdded", "time": "2026-11-25T09:00:00Z", "person": "cy", "name": "Cy"}\n'
     'not json', "application/x-ndjson", 2, None, "not valid JSON"),
    ('{"type": "Teleported", "time": "2026-11-25T09:00:00Z"}', "application/json", None, "type",
     "unknown event type"),
    ('[{"type": "PersonAdded"}]', "application/json", None, None, "JSON Lines"),
])
def test_a_bad_event_is_reported_by_line_and_field_and_nothing_is_stored(
        live, body, ctype, line, field, words):
    before = live.head("h1")
    r = live.call("POST", "/households/h1/events", live.tokens["h1:write"], data=body,
                  headers={"Content-Type": ctype})
    assert r.status_code == 400, r.text
    problem = r.json()
    assert (problem.get("line"), problem.get("field")) == (line, field)
    assert words in problem["detail"]
    assert live.head("h1") == before
    assert "Cy" not in _names(live.sparql("h1", NAMES))


def test_events_are_read_a_page_at_a_time(live):
    token = live.tokens["h1:read"]
    seen, start = [], 1
    while start is not None:
        page = live.call("GET", "/households/h1/events", token,
                         params={"start": start, "limit": 2}).json()
        api_models().EventPage.model_validate(page)
        assert len(page["events"]) <= 2
        seen.extend(e["seq"] for e in page["events"])
        start = page["next_start"]
    assert seen == list(range(1, page["head"] + 1))
    typed = live.call("GET", "/households/h1/events", token,
                      params={"type": "PersonAdded"}).json()
    assert {e["type"] for e in typed["events"]} == {"PersonAdded"}
    assert "ann" in {e["person"] for e in typed["events"]}
    bad = live.call("GET", "/households/h1/events", token, params={"type": "Nope"})
    assert bad.status_code == 400 and "Known types" in bad.json()["detail"]


def test_an_utterance_comes_back_with_its_conclusions_the_state_and_the_slots(live):
    r = live.call("POST", "/households/h1/utterances", live.tokens["h1:write"],
                  json={"text": "turn on the kitchen light", "speaker": "ann",
                        "time": "2026-11-25T09:30:00Z"})
    assert r.status_code == 201, r.text
    body = r.json()
    api_models().UtteranceResult.model_validate(body)
    utterance = body["utterance"]
    assert (utterance["type"], utterance["text"], utterance["speaker"]) == (
        "UtteranceHeard", "turn on the kitchen light", "ann")
    [conclusion] = body["conclusions"]
    assert conclusion["type"] == "FactInferred"
    assert conclusion["derived_from"] == [utterance["iri"]]
    assert conclusion["seq"] > utterance["seq"]
    assert body["state"]["head"] == conclusion["seq"]
    assert body["state"]["people"]["ann"]["name"] == "Ann"
    assert body["interpretation"] == {"text": "turn on the kitchen light"}
    assert (body["dialogue"], body["suggestions"], body["hunches"]) == (None, [], [])
    quiet = live.call("POST", "/households/h1/utterances", live.tokens["h1:write"],
                      json={"text": "what time is it"}).json()
    assert quiet["conclusions"] == []


@pytest.mark.parametrize("body, field", [
    ({"text": "  "}, "text"), ({"text": "hi", "loudness": 3}, "loudness"), ({}, "text"),
    ({"text": "hi", "time": "noon"}, "time"), ({"text": "hi", "speaker": "a\nb"}, "speaker")])
def test_a_bad_utterance_is_400_naming_the_field(live, body, field):
    before = live.head("h1")
    r = live.call("POST", "/households/h1/utterances", live.tokens["h1:write"], json=body)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    assert live.head("h1") == before


def test_openapi_describes_every_endpoint(live):
    r = live.call("GET", "/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    paths = doc["paths"]
    for path, method in [("/households/{household}/sparql", "get"),
                         ("/households/{household}/sparql", "post"),
                         ("/households/{household}/update", "post"),
                         ("/households/{household}/events", "post"),
                         ("/households/{household}/events", "get"),
                         ("/households/{household}/state", "get"),
                         ("/households/{household}/utterances", "post")]:
        operation = paths[path][method]
        assert operation["security"] == [{"bearer": []}], path
        assert "422" not in operation["responses"]
    schemas = doc["components"]["schemas"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert {"UtteranceResult", "StateOut", "Problem", "PersonArrivedEvent"} <= set(schemas)
    assert schemas["PersonArrivedEvent"]["required"] == ["type", "time", "person"]
    assert "text/turtle" in paths["/households/{household}/sparql"]["get"]["responses"]["200"][
        "content"]


# -- security ------------------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/households/h1/sparql", {"params": {"query": NAMES}}),
    ("POST", "/households/h1/sparql", {"data": {"query": NAMES}}),
    ("POST", "/households/h1/update",
     {"data": {"update": "INSERT DATA { <urn:x:a> <urn:x:b> 1 }"}}),
    ("POST", "/households/h1/events", {"json": {"type": "PersonAdded", "time":
                                                "2026-11-25T09:00:00Z", "person": "eve",
                                                "name": "Eve"}}),
    ("GET", "/households/h1/events", {}),
    ("GET", "/households/h1/state", {}),
    ("POST", "/households/h1/utterances", {"json": {"text": "open the door"}}),
]


@pytest.mark.parametrize("method, path, kwargs", ENDPOINTS)
@pytest.mark.parametrize("token", [None, "hth_00000000_notarealsecretnotarealsecret", "Ann",
                                   "Basic YW5uOmFubg=="])
def test_requests_without_a_valid_token_are_401(live, method, path, kwargs, token):
    before = live.head("h1")
    headers = {"Authorization": token} if token and token.startswith("Basic") else {}
    r = live.call(method, path, None if headers else token, headers=headers, **kwargs)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith('Bearer realm="hearth"')
    assert "Ann" not in r.text
    assert live.head("h1") == before


@pytest.mark.parametrize("method, path, kwargs", ENDPOINTS)
def test_a_token_gives_no_access_to_another_household(live, method, path, kwargs):
    before = live.head("h1")
    for scope in ("read", "write"):
        r = live.call(method, path, live.tokens[f"h2:{scope}"], **kwargs)
        assert r.status_code == 403, r.text
        assert "'h2'" in r.json()["detail"] and "Ann" not in r.text
    assert live.head("h1") == before


def test_each_household_queries_only_its_own_graphs(live):
    labels = "SELECT ?name WHERE { GRAPH ?g { ?x rdfs:label ?name } FILTER(?name != 'x') }"
    h2 = [b["name"]["value"] for b in live.sparql("h2", labels).json()["results"]["bindings"]]
    assert "Secret Lamp" in h2 and "Ann" not in h2
    foreign = ("SELECT ?s WHERE { GRAPH ?g { ?s ?p ?o } FILTER(STRSTARTS(STR(?s), "
               "'urn:hearth:h1:') || STRSTARTS(STR(?g), 'urn:hearth:h1:')) }")
    assert live.sparql("h2", foreign).json()["results"]["bindings"] == []
    assert live.sparql("h1", foreign).json()["results"]["bindings"] != []
    # the h1 token cannot name h2 in the path either
    r = live.sparql("h2", labels, token=live.tokens["h1:read"])
    assert r.status_code == 403 and "Secret Lamp" not in r.text


@pytest.mark.parametrize("method, path, kwargs", [e for e in ENDPOINTS if e[0] == "POST"
                                                  and not e[1].endswith("/sparql")])
def test_a_read_token_cannot_write(live, method, path, kwargs):
    before = live.head("h1")
    r = live.call(method, path, live.tokens["h1:read"], **kwargs)
    assert r.status_code == 403, r.text
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert "write token" in r.json()["detail"]
    assert live.head("h1") == before


INSERT = "INSERT DATA { <urn:x:sneaky> <urn:x:p> 'in' }"


@pytest.mark.parametrize("token", ["h1:read", "h1:write"])
@pytest.mark.parametrize("method, kwargs", [
    ("GET", {"params": {"query": INSERT}}),
    ("GET", {"params": {"query": "DELETE WHERE { ?s ?p ?o }"}}),
    ("POST", {"data": INSERT.encode(), "headers": {"Content-Type": "application/sparql-query"}}),
    ("POST", {"data": {"query": "# comment\nPREFIX x: <urn:x:>\nDROP ALL"}}),
    ("POST", {"data": {"update": INSERT}}),
    ("POST", {"data": INSERT.encode(), "headers": {"Content-Type": "application/sparql-update"}}),
])
def test_a_sparql_update_sent_to_the_query_endpoint_is_refused(live, token, method, kwargs):
    before = live.head("h1")
    r = live.call(method, "/households/h1/sparql", live.tokens[token], **kwargs)
    assert r.status_code == 400, r.text
    assert "/households/h1/update" in r.json()["detail"]
    assert live.head("h1") == before
    assert live.sparql("h1", "ASK { <urn:x:sneaky> ?p ?o }").json()["boolean"] is False
    assert _names(live.sparql("h1", NAMES))  # nothing was dropped


def test_insert_data_through_the_update_endpoint_becomes_an_event(live):
    before = live.head("h1")
    r = live.call("POST", "/households/h1/update", live.tokens["h1:write"],
                  data="PREFIX x: <urn:x:> INSERT DATA { x:fact x:says 'hello' . x:fact a x:Note }",
                  headers={"Content-Type": "application/sparql-update"})
    assert r.status_code == 200, r.text
    appended = r.json()["appended"]
    assert (appended["type"], appended["seq"], r.json()["triples"]) == ("FactsAsserted",
                                                                        before + 1, 2)
    ask = f"ASK {{ GRAPH <{appended['iri']}> {{ <urn:x:fact> <urn:x:says> 'hello' }} }}"
    assert live.sparql("h1", ask).json()["boolean"] is True


@pytest.mark.parametrize("update, words", [
    ("DELETE DATA { <urn:x:fact> <urn:x:says> 'hello' }", "EventRetracted"),
    ("INSERT { ?s <urn:x:copy> ?o } WHERE { ?s <urn:x:says> ?o }", "only INSERT DATA"),
    ("DROP ALL", "only INSERT DATA"),
    ("LOAD <http://example.org/data.ttl>", "only INSERT DATA"),
    ("INSERT DATA { GRAPH <urn:hearth:h1:event:1> { <urn:x:a> <urn:x:b> 1 } }", "GRAPH"),
    ("INSERT DATA { <urn:x:a> <urn:x:b> }", "does not parse"),
])
def test_the_update_endpoint_refuses_all_but_insert_data(live, update, words):
    before = live.head("h1")
    r = live.call("POST", "/households/h1/update", live.tokens["h1:write"], data={"update": update})
    assert r.status_code == 400, r.text
    assert words in r.json()["detail"]
    assert live.head("h1") == before


def test_tokens_made_and_revoked_by_the_cli_work_at_once(live):
    runner = CliRunner()
    made = runner.invoke(token_app, ["create", "h1", "--scope", "read", "--label", "cli",
                                     "--dir", str(live.root)])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    assert token.startswith("hth_")
    assert live.sparql("h1", NAMES, token=token).status_code == 200
    listed = runner.invoke(token_app, ["list", "--household", "h1", "--json", "--dir",
                                       str(live.root)])
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    mine = [r for r in records if r["label"] == "cli"]
    assert len(mine) == 1 and "sha256" not in mine[0] and token not in listed.stdout
    revoked = runner.invoke(token_app, ["revoke", mine[0]["id"], "--dir", str(live.root)])
    assert revoked.exit_code == 0, revoked.output
    assert live.sparql("h1", NAMES, token=token).status_code == 401
    stored = (live.root / "tokens.json").read_text()
    assert token not in stored and (live.root / "tokens.json").stat().st_mode & 0o077 == 0


def test_the_token_cli_refuses_unknown_households_and_scopes(live):
    runner = CliRunner()
    r = runner.invoke(token_app, ["create", "nope", "--dir", str(live.root)])
    assert r.exit_code == 2 and "known: big, h1, h2" in r.output
    r = runner.invoke(token_app, ["create", "h1", "--scope", "admin", "--dir", str(live.root)])
    assert r.exit_code == 2 and "'read' or 'write'" in r.output


# -- limits --------------------------------------------------------------------------------------

def test_a_result_over_the_row_limit_is_cut_and_says_so(live):
    query = "SELECT ?s ?n WHERE { ?s <urn:x:n> ?n }"
    r = live.sparql("big", query)
    assert r.status_code == 200
    assert (r.headers["Hearth-Truncated"], r.headers["Hearth-Row-Limit"]) == ("true", str(MAX_ROWS))
    body = r.json()
    assert body["truncated"] is True and len(body["results"]["bindings"]) == MAX_ROWS
    csv = live.sparql("big", query, headers={"Accept": "text/csv"})
    assert csv.headers["Hearth-Truncated"] == "true"
    assert len(csv.text.splitlines()) == MAX_ROWS + 1
    construct = live.sparql("big", "CONSTRUCT WHERE { ?s <urn:x:n> ?n }",
                            headers={"Accept": "application/n-triples"})
    assert construct.headers["Hearth-Truncated"] == "true"
    assert len(construct.text.splitlines()) == MAX_ROWS
    small = live.sparql("big", "SELECT ?s WHERE { ?s <urn:x:m> ?n }")
    assert "Hearth-Truncated" not in small.headers and "truncated" not in small.json()
    assert len(small.json()["results"]["bindings"]) == 100


def test_concurrent_queries_of_one_household_wait_their_turn(live):
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(live.sparql("h1", NAMES)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert [a.status_code for a in answers] == [200] * 8


def _wait_until(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_a_slow_query_is_answered_504_at_its_deadline_and_stopped(live):
    started = time.monotonic()
    r = live.sparql("big", SLOW_STREAMING)
    waited = time.monotonic() - started
    assert r.status_code == 504, r.text
    assert "limit" in r.json()["detail"]
    # all of it takes over a minute; the answer comes at the deadline (with room for a busy CI)
    assert waited < QUERY_TIMEOUT_S + 10
    # and the query stops at its next row, handing its worker back
    assert _wait_until(lambda: live.held("big") == 0, 10)


def test_queries_the_engine_cannot_interrupt_block_no_one_else(live):
    answers = []

    def slow():
        answers.append(live.sparql("big", SLOW_AGGREGATE))

    threads = [threading.Thread(target=slow) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        assert _wait_until(lambda: live.held("big") == 2, 10)
        # the household holds all the workers it may: its next query waits for one until its
        # deadline, then is turned away
        busy = live.sparql("big", "ASK { ?s ?p ?o }")
        assert busy.status_code == 503, busy.text
        assert busy.headers["Retry-After"] == "1"
        assert "has 2 queries running" in busy.json()["detail"]
        # everyone else is served meanwhile
        assert live.sparql("h1", NAMES).status_code == 200
        assert live.call("GET", "/households/big/state",
                         live.tokens["big:read"]).status_code == 200
        assert live.call("POST", "/households/big/utterances", live.tokens["big:write"],
                         json={"text": "still there?"}).status_code == 201
    finally:
        for t in threads:
            t.join(TIMEOUT)
    assert sorted(a.status_code for a in answers) == [504, 504]
    # the engine finishes on its own and the workers come back
    assert _wait_until(lambda: live.held("big") == 0, 60)
    assert live.sparql("big", "ASK { ?s ?p ?o }").json()["boolean"] is True


# -- the commands ----------------------------------------------------------------------------------

def test_the_sub_apps_register_as_hearth_serve_and_hearth_token(tmp_path):
    import typer
    parent = typer.Typer()
    parent.add_typer(serve_app, name="serve")
    parent.add_typer(token_app, name="token")
    runner = CliRunner()
    r = runner.invoke(parent, ["serve", "--help"])
    assert r.exit_code == 0 and "--query-timeout" in r.output and "--port" in r.output
    r = runner.invoke(parent, ["serve", "--dir", str(tmp_path / "none")])
    assert r.exit_code == 2 and "not a hearth folder" in r.output
    r = runner.invoke(parent, ["serve", "--dir", str(tmp_path / "none"), "--no-reasoner",
                               "--reasoner", "rules"])
    assert r.exit_code == 2 and "not both" in r.output
    r = runner.invoke(parent, ["token", "list", "--tokens", str(tmp_path / "t.json")])
    assert r.exit_code == 0 and "no tokens" in r.output


def test_hearth_serve_serves_a_hearth_folder(tmp_path):
    root = tmp_path / "hearth"
    with Hearth.open(root) as hearth:
        ingest_file(hearth.create_household("h1", time="2026-11-25T06:00:00Z"),
                    FIXTURES / "kg" / "morning.jsonl")
    token, _ = TokenStore(root / "tokens.json").create("h1", "read")
    writer, _ = TokenStore(root / "tokens.json").create("h1", "write")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hearth.server", "--dir", str(root), "--port",
                             str(port), "--no-access-log"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(url + "/", timeout=2)
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"hearth serve did not start: {proc.stderr.read().decode()}")
                time.sleep(0.1)
        r = requests.get(url + "/households/h1/sparql", params={"query": NAMES},
                         headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
        assert _names(r) == ["Ann"]
        # the reasoner runs by default, as on a household opened in Python, and its event
        # types are known (a routine is a reasoner's event)
        routine = {"type": "RoutineDefined", "time": "2026-11-25T09:00:00Z", "by": "person:ann",
                   "routine": "bedtime", "label": "Bedtime",
                   "trigger": {"kind": "phrase", "phrase": "bedtime"},
                   "actions": [{"device": "urn:hearth:h1:device:light.kitchen",
                                "command": "turn_off"}]}
        r = requests.post(url + "/households/h1/events", json=routine, timeout=TIMEOUT,
                          headers={"Authorization": f"Bearer {writer}"})
        assert r.status_code == 201, r.text
        r = requests.post(url + "/households/h1/utterances", timeout=120,
                          json={"text": "turn off the kitchen light", "speaker": "ann",
                                "time": "2026-11-25T09:01:00Z"},
                          headers={"Authorization": f"Bearer {writer}"})
        assert r.status_code == 201, r.text
        assert r.json()["interpretation"]["intent"] == "lights.turn_off"
    finally:
        proc.terminate()
        proc.wait(20)
    assert proc.returncode == 0


@pytest.mark.slow
def test_the_default_answer_holds_the_reading_the_dialogue_and_explained_suggestions():
    from hearth import Hearth as FacadeHearth
    from hearth.demo import DEMO_DAY
    from hearth.server import UtteranceContext, reasoner_answer
    from kg.ingest import parse_lines
    from reasoner.fixture_skills import attach_demo

    events, _ = parse_lines(DEMO_DAY.read_text().splitlines())
    home = FacadeHearth.in_memory().create_household("rivera", time=events[0].time)
    attach_demo(home)
    home.append_many([e for e in events if e.time == events[0].time])   # the house itself
    heard = home.hear("what's the weather at Half Moon Bay", speaker="maya",
                      time="2026-11-21T08:40:00-08:00", session="s2")
    body = reasoner_answer(UtteranceContext(home, heard.utterance, heard.conclusions))
    assert body["interpretation"]["intent"] == "weather.forecast"
    weather = body["dialogue"]["frames"]["weather"]
    assert weather["slots"]["name"]["value"] == "Half Moon Bay"
    assert weather["slots"]["name"]["source"] == "said"
    [offer] = body["suggestions"]
    assert "driving time to Half Moon Bay" in offer["text"]
    assert offer["why"].startswith('I suggested "Want the driving time to Half Moon Bay?" because')
    json.dumps(body)   # all of it is JSON


# -- conversations and why ----------------------------------------------------------------------

def _night_out_app(tmp_path):
    """A server whose household holds a film then a ride, read as understanding would read them
    (no models): the dialogue component and the test venues answer."""
    from fastapi.testclient import TestClient

    from reasoner.dialogue import DialogueComponent
    from reasoner.fixture_skills import FixtureSkills
    from reasoner.understanding import UtteranceInterpreted

    hearth = Hearth.open(tmp_path / "hearth")
    home = hearth.create_household("d1", time="2026-11-21T06:00:00-08:00")
    Pipeline([DialogueComponent(carryover=None, responder=FixtureSkills.load(
        FIXTURES / "dialogue" / "venues.yaml"))]).attach(home)
    for when, text, intent, slots in [
            ("18:30", "what's on at Plaza Cinema tonight", "movies.showtimes",
             {"place": "Plaza Cinema"}),
            ("18:31", "book two tickets for the 7 pm showing", "movies.buy_tickets",
             {"tickets": 2, "time": "2026-11-21T19:00:00-08:00"}),
            ("18:34", "get us a ride there", "rideshare.book_ride", {})]:
        t = f"2026-11-21T{when}:00-08:00"
        heard = home.append(E.UtteranceHeard(time=t, text=text, speaker="maya", session="night"))
        home.append(UtteranceInterpreted(
            time=t, derived_from=(heard.iri,), intent=intent, skill=intent.split(".")[0],
            confidence=0.9, slots={k: {"value": v, "source": "parser"} for k, v in slots.items()},
            out_of_scope=False))
    read, _ = TokenStore.in_memory().create("d1", "read")
    tokens = {read: ("d1", "read")}
    app = create_app(hearth, tokens)
    return TestClient(app), {"Authorization": f"Bearer {read}"}, home


def test_a_conversation_and_where_each_value_came_from_over_http(tmp_path):
    client, auth, home = _night_out_app(tmp_path)
    listed = client.get("/households/d1/conversations", headers=auth)
    assert listed.status_code == 200, listed.text
    api_models().ConversationList.model_validate(listed.json())
    [night] = listed.json()["conversations"]
    assert (night["session"], night["speaker"], night["turns"] >= 3) == ("night", "maya", True)
    assert night["skills"] == ["movies", "rideshare"]
    r = client.get("/households/d1/conversations/night", headers=auth)
    assert r.status_code == 200, r.text
    body = api_models().ConversationOut.model_validate(r.json())
    pickup = body.frames["rideshare"]["slots"]["pickup"]
    assert (pickup["value"], pickup["source"]) == ("Plaza Cinema", "inferred")
    assert "movies" in pickup["origin"]
    assert body.frames["movies"]["slots"]["tickets"]["source"] == "said"
    missing = client.get("/households/d1/conversations/nope", headers=auth)
    assert missing.status_code == 404 and "night" in missing.json()["detail"]
    assert client.get("/households/d1/conversations/night").status_code == 401


def test_why_a_conclusion_was_drawn_over_http(tmp_path):
    from reasoner.dialogue import SlotFilled
    client, auth, home = _night_out_app(tmp_path)
    [(seq, pickup)] = [(s, e) for s, e in home.events(types=[SlotFilled]) if e.slot == "pickup"]
    r = client.get(f"/households/d1/events/{seq}/why", headers=auth)
    assert r.status_code == 200, r.text
    why = api_models().WhyOut.model_validate(r.json())
    assert why.seq == seq and why.conclusion == home.ids.event(seq).value
    assert "Plaza Cinema" in why.sentence
    said = [e for e in why.input_events if home.event(home.ids.seq_of(
        ox.NamedNode(e))).type_name() == "UtteranceHeard"]
    assert said   # the evidence reaches what was said
    assert why.text.splitlines()[0] == why.sentence
    head = home.head
    gone = client.get(f"/households/d1/events/{head + 1}/why", headers=auth)
    assert gone.status_code == 404 and f"1 to {head}" in gone.json()["detail"]
    bad = client.get("/households/d1/events/x/why", headers=auth)
    assert bad.status_code == 400 and bad.json()["field"] == "seq"
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/households/{household}/conversations", "/households/{household}/conversations/{session}",
            "/households/{household}/events/{seq}/why"} <= set(paths)
