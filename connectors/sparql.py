"""A read-only client for any SPARQL 1.1 endpoint (DBpedia, Wikidata's, a user's own).

Queries go over the :class:`~connectors.transport.Transport` (timeouts, retries, rate limits,
cache, offline mode): by GET with ``?query=`` when the URL stays short (cacheable by proxies too),
else by POST with ``application/sparql-query``, always marked idempotent (a query changes
nothing, so it is retried like a GET). Values are bound with :func:`kg.query.bind`, never pasted
into the text. Results are hearth's own types: :class:`kg.query.SelectResult` rows of pyoxigraph
terms for SELECT, ``bool`` for ASK, a list of pyoxigraph ``Triple`` for CONSTRUCT/DESCRIBE.

    client = SparqlClient("https://dbpedia.org/sparql")
    rows = client.select("SELECT ?label WHERE { ?s rdfs:label ?label } LIMIT 3",
                         bindings={"s": NamedNode("http://dbpedia.org/resource/Lamp")})

>>> query_form("PREFIX dbo: <http://dbpedia.org/ontology/> ASK { ?s a dbo:Device }")
'ASK'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pyoxigraph as ox

from kg.errors import QueryError
from kg.query import SelectResult, bind, is_update

from .errors import BadResponse
from .transport import Response, Transport, build_url, default_transport

DBPEDIA = "https://dbpedia.org/sparql"

_RESULTS_JSON = "application/sparql-results+json"
_RESULTS_ACCEPT = "application/sparql-results+json, application/sparql-results+xml;q=0.5"
_RDF_ACCEPT = ("application/n-triples, text/turtle;q=0.9, application/rdf+xml;q=0.5, "
               "application/n-quads;q=0.4")
_RDF_FORMATS = {
    "application/n-triples": ox.RdfFormat.N_TRIPLES, "text/plain": ox.RdfFormat.N_TRIPLES,
    "text/turtle": ox.RdfFormat.TURTLE, "application/x-turtle": ox.RdfFormat.TURTLE,
    "application/rdf+xml": ox.RdfFormat.RDF_XML, "application/n-quads": ox.RdfFormat.N_QUADS,
    "application/trig": ox.RdfFormat.TRIG,
}

#: Prefixes most public endpoints predefine; added to a query that uses one without declaring it.
COMMON_PREFIXES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "schema": "http://schema.org/",
    "dbo": "http://dbpedia.org/ontology/",
    "dbr": "http://dbpedia.org/resource/",
    "wd": "http://www.wikidata.org/entity/",
    "wdt": "http://www.wikidata.org/prop/direct/",
}


# Comments, strings (long ones first) and IRIs: the places where a keyword does not count.
_OPAQUE = re.compile(r'#[^\n]*|"""(?:[^\\]|\\.)*?"""|\'\'\'(?:[^\\]|\\.)*?\'\'\'|'
                     r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|<[^<>"{}|^`\\\x00-\x20]*>',
                     re.S)
_FORM = re.compile(r"(?<![\w:?$])(SELECT|ASK|CONSTRUCT|DESCRIBE)(?![\w:])", re.I)


def query_form(sparql: str) -> str:
    """SELECT, ASK, CONSTRUCT or DESCRIBE: the first of these keywords outside comments,
    strings, IRIs, variables and prefixed names.

    >>> query_form('PREFIX x: <http://e/ASK> SELECT * WHERE { ?s x:ask "CONSTRUCT" }')
    'SELECT'
    """
    match = _FORM.search(_OPAQUE.sub(" ", sparql))
    if match is None:
        raise QueryError("not a SPARQL query: it has no SELECT, ASK, CONSTRUCT or DESCRIBE")
    return match.group(1).upper()


def with_prefixes(sparql: str, prefixes: Mapping[str, str]) -> str:
    """Declares each prefix of ``prefixes`` the query uses (``name:``) but does not declare."""
    declared = {line.split()[1].rstrip(":").lower() for line in sparql.splitlines()
                if line.strip().upper().startswith("PREFIX") and len(line.split()) > 1}
    head = "".join(f"PREFIX {p}: <{iri}>\n" for p, iri in prefixes.items()
                   if p.lower() not in declared and f"{p}:" in sparql)
    return head + sparql


@dataclass(frozen=True)
class SparqlAnswer:
    """The raw outcome of one query: the parsed result and where and when it came from."""

    result: "SelectResult | bool | list[ox.Triple]"
    endpoint: str
    fetched_at: float
    from_cache: bool
    stale: bool


class SparqlClient:
    """Read-only SPARQL 1.1 Protocol client.

    ``endpoint``: the query URL. ``prefixes``: declared for you when a query uses them
    (:data:`COMMON_PREFIXES` by default). ``max_get_url``: longer queries are POSTed.
    ``ttl_s``: how long answers stay fresh in the cache. ``name`` names the source in errors.
    """

    def __init__(self, endpoint: str = DBPEDIA, *, transport: Transport | None = None,
                 prefixes: Mapping[str, str] | None = None, ttl_s: float = 7 * 86400.0,
                 max_get_url: int = 2000, default_graph: str | None = None,
                 timeout_s: float | None = None, name: str = "sparql"):
        self.endpoint = endpoint
        self._transport = transport
        self.prefixes = dict(COMMON_PREFIXES if prefixes is None else prefixes)
        self.ttl_s = ttl_s
        self.max_get_url = max_get_url
        self.default_graph = default_graph
        self.timeout_s = timeout_s
        self.name = name

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = default_transport()
        return self._transport

    def __repr__(self) -> str:
        return f"SparqlClient({self.endpoint!r})"

    # -- public -----------------------------------------------------------------------------------
    def select(self, sparql: str, *, bindings: Mapping[str, object] | None = None) -> SelectResult:
        result = self.run(sparql, bindings=bindings).result
        if not isinstance(result, SelectResult):
            raise QueryError(f"select() needs a SELECT query, this is {query_form(sparql)}: "
                             "use ask(), construct() or query()")
        return result

    def ask(self, sparql: str, *, bindings: Mapping[str, object] | None = None) -> bool:
        result = self.run(sparql, bindings=bindings).result
        if not isinstance(result, bool):
            raise QueryError(f"ask() needs an ASK query, this is {query_form(sparql)}")
        return result

    def construct(self, sparql: str, *,
                  bindings: Mapping[str, object] | None = None) -> list[ox.Triple]:
        """The triples of a CONSTRUCT or DESCRIBE query."""
        result = self.run(sparql, bindings=bindings).result
        if not isinstance(result, list):
            raise QueryError(f"construct() needs a CONSTRUCT or DESCRIBE query, this is "
                             f"{query_form(sparql)}")
        return result

    def query(self, sparql: str, *, bindings: Mapping[str, object] | None = None):
        """SelectResult, bool or list of triples, by the query's form."""
        return self.run(sparql, bindings=bindings).result

    def run(self, sparql: str, *, bindings: Mapping[str, object] | None = None) -> SparqlAnswer:
        """The query's result with its provenance (endpoint, fetch time, cache status)."""
        if is_update(sparql):
            raise QueryError(f"{self.name} is a read-only client: it sends queries, not updates")
        text = with_prefixes(bind(sparql, bindings), self.prefixes)
        form = query_form(text)
        response = self._send(text, accept=_RESULTS_ACCEPT if form in ("SELECT", "ASK")
                              else _RDF_ACCEPT)
        result = parse_result(response, form=form, source=self.name)
        return SparqlAnswer(result, self.endpoint, response.fetched_at, response.from_cache,
                            response.stale)

    # -- internals -------------------------------------------------------------------------------
    def _send(self, text: str, *, accept: str) -> Response:
        params: dict[str, object] = {"query": text}
        if self.default_graph:
            params["default-graph-uri"] = self.default_graph
        headers = {"Accept": accept}
        if len(build_url(self.endpoint, params)) <= self.max_get_url:
            return self.transport.get(self.endpoint, params=params, headers=headers,
                                      ttl_s=self.ttl_s, source=self.name)
        post_params = {"default-graph-uri": self.default_graph} if self.default_graph else None
        return self.transport.post(
            self.endpoint, params=post_params, data=text.encode("utf-8"),
            headers={**headers, "Content-Type": "application/sparql-query; charset=utf-8"},
            ttl_s=self.ttl_s, use_cache=True, idempotent=True, source=self.name)


def parse_result(response: Response, *, form: str, source: str = "sparql"):
    """A SPARQL Protocol answer as hearth's types; a body that does not parse is BadResponse."""
    ctype = response.content_type
    body = response.content
    try:
        if form in ("SELECT", "ASK"):
            if ctype in ("application/sparql-results+xml", "application/xml"):
                fmt = ox.QueryResultsFormat.XML
            elif ctype in ("text/csv",):
                fmt = ox.QueryResultsFormat.CSV
            elif ctype in ("text/tab-separated-values",):
                fmt = ox.QueryResultsFormat.TSV
            else:
                fmt = ox.QueryResultsFormat.JSON
            parsed = ox.parse_query_results(body, format=fmt)
            if isinstance(parsed, ox.QueryBoolean):
                if form != "ASK":
                    raise SyntaxError("a boolean answer to a SELECT query")
                return bool(parsed)
            if isinstance(parsed, ox.QuerySolutions):
                if form != "SELECT":
                    raise SyntaxError("solutions as the answer to an ASK query")
                return SelectResult.from_solutions(parsed)
            raise SyntaxError(f"unexpected result {type(parsed).__name__}")
        fmt = _RDF_FORMATS.get(ctype)
        if fmt is None:
            if body.lstrip()[:1] in (b"{", b"["):
                raise SyntaxError(f"JSON ({ctype or 'no content type'}) where RDF was expected")
            fmt = ox.RdfFormat.TURTLE  # N-Triples is Turtle too
        return [q.triple for q in ox.parse(body, format=fmt)]
    except (SyntaxError, ValueError, OSError) as err:
        snippet = body[:120].decode("utf-8", errors="replace")
        raise BadResponse(
            f"{source}: the {form} answer from {response.url} does not parse as SPARQL results "
            f"({ctype or 'no content type'}): {err}. It began {snippet!r}", url=response.url,
            source=source, status=response.status) from err


__all__ = ["SparqlClient", "SparqlAnswer", "DBPEDIA", "COMMON_PREFIXES", "query_form",
           "with_prefixes", "parse_result"]
