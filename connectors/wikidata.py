"""Wikidata: find entities by name (``wbsearchentities``) and read their labels, descriptions,
aliases and a few statements (P31 instance of, P279 subclass of, P366 has use, …) through the
query service (``query.wikidata.org/sparql``, JSON results).

Wikidata's data is CC0: facts need no attribution, though we keep the entity URI as their source.

>>> client = WikidataClient(transport=Transport(offline=True))
>>> client.search("lamp")
Traceback (most recent call last):
...
connectors.errors.OfflineMiss: wikidata: offline mode is on and https://www.wikidata.org/w/api.php?action=wbsearchentities&format=json&language=en&limit=7&search=lamp&type=item&uselang=en is not in the cache (this transport has no cache). Go online (offline=False, or unset HEARTH_OFFLINE) to fetch it, or rely on the offline lexicon
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pyoxigraph as ox

from .errors import BadResponse, NotFound, RequestRejected
from .facts import Fact
from .sparql import SparqlClient
from .transport import Response, Transport, default_transport

API_URL = "https://www.wikidata.org/w/api.php"
SPARQL_URL = "https://query.wikidata.org/sparql"
ENTITY_BASE = "http://www.wikidata.org/entity/"
LICENSE = "CC0-1.0"

#: The statements fetched by default, and the relation each becomes as a :class:`Fact`.
DEFAULT_PROPERTIES: Mapping[str, str] = {
    "P31": "IsA",          # instance of
    "P279": "IsA",         # subclass of
    "P366": "UsedFor",     # has use
    "P361": "PartOf",      # part of
    "P527": "HasA",        # has part(s)
    "P1552": "HasProperty",  # has characteristic
}

_QID = re.compile(r"^[QPL][1-9][0-9]*$")
_PID = re.compile(r"^P[1-9][0-9]*$")
_LANG = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8})*$")


@dataclass(frozen=True)
class WikidataEntity:
    """One search hit: ``match`` says what matched (label, alias) and ``matched_text`` the text."""

    id: str
    label: str
    description: str | None = None
    aliases: tuple[str, ...] = ()
    uri: str = ""
    match: str | None = None
    matched_text: str | None = None


@dataclass(frozen=True)
class WikidataSearchResult:
    query: str
    entities: tuple[WikidataEntity, ...]
    fetched_at: dt.datetime
    from_cache: bool = False

    def __bool__(self) -> bool:
        return bool(self.entities)


@dataclass(frozen=True)
class WikidataValue:
    """The value of a statement: an item (``id`` and ``label``) or a literal (``id`` None)."""

    id: str | None
    label: str | None
    value: str = ""


@dataclass(frozen=True)
class WikidataEntityDetails:
    """Labels, descriptions, aliases and the fetched statements of one entity."""

    id: str
    label: str | None
    description: str | None
    aliases: tuple[str, ...]
    statements: Mapping[str, tuple[WikidataValue, ...]] = field(default_factory=dict)
    language: str = "en"
    fetched_at: dt.datetime | None = None
    from_cache: bool = False

    @property
    def uri(self) -> str:
        return ENTITY_BASE + self.id

    @property
    def instance_of(self) -> tuple[WikidataValue, ...]:
        return self.statements.get("P31", ())

    @property
    def subclass_of(self) -> tuple[WikidataValue, ...]:
        return self.statements.get("P279", ())


class WikidataClient:
    """``api_url`` and ``sparql_url`` are configurable (tests point them at 127.0.0.1)."""

    name = "wikidata"

    def __init__(self, *, transport: Transport | None = None, api_url: str = API_URL,
                 sparql_url: str = SPARQL_URL, language: str = "en",
                 properties: Mapping[str, str] | None = None, ttl_s: float = 7 * 86400.0):
        if not _LANG.match(language):
            raise ValueError(f"language {language!r} is not a language code such as 'en'")
        self._transport = transport
        self.api_url = api_url
        self.sparql_url = sparql_url
        self.language = language
        self.properties = dict(DEFAULT_PROPERTIES if properties is None else properties)
        for pid in self.properties:
            if not _PID.match(pid):
                raise ValueError(f"{pid!r} is not a Wikidata property id such as 'P31'")
        self.ttl_s = ttl_s

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = default_transport()
        return self._transport

    @property
    def sparql(self) -> SparqlClient:
        """A generic SPARQL client on the query service, for queries of your own."""
        return SparqlClient(self.sparql_url, transport=self.transport, ttl_s=self.ttl_s,
                            name=self.name)

    # -- wbsearchentities -----------------------------------------------------------------------
    def search(self, text: str, *, limit: int = 7, type: str = "item") -> WikidataSearchResult:
        """Entities whose label or alias matches ``text`` (prefix match, Wikidata's ranking)."""
        text = " ".join(text.split())
        if not text:
            raise ValueError("search text is empty")
        response = self.transport.get(self.api_url, params={
            "action": "wbsearchentities", "search": text, "language": self.language,
            "uselang": self.language, "type": type, "limit": max(1, min(50, limit)),
            "format": "json"}, ttl_s=self.ttl_s, source=self.name)
        data = _api_json(response, self.name)
        hits = data.get("search")
        if not isinstance(hits, list):
            raise BadResponse(f"wikidata: the search answer from {response.url} has no 'search' "
                              "list", url=response.url, source=self.name)
        entities = []
        for hit in hits:
            if not isinstance(hit, dict) or not isinstance(hit.get("id"), str):
                continue
            match = hit.get("match") if isinstance(hit.get("match"), dict) else {}
            aliases = hit.get("aliases") or ()
            entities.append(WikidataEntity(
                id=hit["id"], label=str(hit.get("label") or hit["id"]),
                description=hit.get("description") or None,
                aliases=tuple(a for a in aliases if isinstance(a, str)),
                uri=hit.get("concepturi") or ENTITY_BASE + hit["id"],
                match=match.get("type"), matched_text=match.get("text")))
        return WikidataSearchResult(text, tuple(entities), response.fetched_datetime,
                                    response.from_cache)

    # -- SPARQL ----------------------------------------------------------------------------------
    def entity(self, qid: str, *, properties: Sequence[str] | None = None) -> WikidataEntityDetails:
        """Label, description and aliases in the client's language, and the statements for
        ``properties`` (default: the client's) with their values' labels. Raises NotFound when
        the entity has none of them."""
        if not _QID.match(qid):
            raise ValueError(f"{qid!r} is not a Wikidata id such as 'Q146'")
        pids = list(self.properties if properties is None else properties)
        for pid in pids:
            if not _PID.match(pid):
                raise ValueError(f"{pid!r} is not a Wikidata property id such as 'P31'")
        # The id, language and property ids are checked against strict patterns above, so
        # writing them into the text is safe; a VALUES binding would not reach inside the UNION
        # branches' FILTERs (SPARQL evaluates groups bottom-up).
        lang = self.language
        props = " ".join(f"wdt:{p}" for p in pids) or "wdt:P31"
        query = f"""SELECT ?kind ?value ?valueLabel WHERE {{
  {{ wd:{qid} rdfs:label ?value . FILTER(LANG(?value) = "{lang}") BIND("label" AS ?kind) }}
  UNION {{ wd:{qid} schema:description ?value . FILTER(LANG(?value) = "{lang}")
          BIND("description" AS ?kind) }}
  UNION {{ wd:{qid} skos:altLabel ?value . FILTER(LANG(?value) = "{lang}") BIND("alias" AS ?kind) }}
  UNION {{ VALUES ?prop {{ {props} }} wd:{qid} ?prop ?value . BIND(STR(?prop) AS ?kind)
          OPTIONAL {{ ?value rdfs:label ?valueLabel . FILTER(LANG(?valueLabel) = "{lang}") }} }}
}}"""
        answer = self.sparql.run(query)
        rows = answer.result
        label = description = None
        aliases: list[str] = []
        statements: dict[str, list[WikidataValue]] = {}
        for row in rows:
            kind, value, value_label = row.get("kind"), row.get("value"), row.get("valueLabel")
            if kind is None or value is None:
                continue
            kind = kind.value
            if kind == "label":
                label = value.value
            elif kind == "description":
                description = value.value
            elif kind == "alias":
                aliases.append(value.value)
            else:
                pid = kind.rsplit("/", 1)[-1]
                if isinstance(value, ox.NamedNode) and value.value.startswith(ENTITY_BASE):
                    item = WikidataValue(value.value[len(ENTITY_BASE):],
                                         value_label.value if value_label is not None else None,
                                         value.value)
                else:
                    item = WikidataValue(None, value.value, value.value)
                if item not in statements.setdefault(pid, []):
                    statements[pid].append(item)
        if label is None and description is None and not aliases and not statements:
            raise NotFound(f"wikidata: {qid} has no label, description, alias or statement in "
                           f"{lang!r}; check the id (search() finds ids by name)",
                           url=ENTITY_BASE + qid, source=self.name)
        return WikidataEntityDetails(
            qid, label, description, tuple(dict.fromkeys(aliases)),
            {p: tuple(v) for p, v in statements.items()}, lang,
            dt.datetime.fromtimestamp(answer.fetched_at, tz=dt.timezone.utc), answer.from_cache)

    # -- knowledge source ----------------------------------------------------------------------
    def facts(self, term: str, *, limit: int = 20, candidates: int = 1) -> tuple[Fact, ...]:
        """What Wikidata says about the best match(es) for ``term``: its description
        (DefinedAs), aliases (Synonym) and statements (IsA, UsedFor, PartOf, ...)."""
        found = self.search(term, limit=max(candidates, 1))
        out: list[Fact] = []
        for rank, hit in enumerate(found.entities[:candidates]):
            weight = 0.9 * (0.7 ** rank)
            try:
                details = self.entity(hit.id)
            except NotFound:
                continue
            base = dict(source=self.name, source_url=details.uri, license=LICENSE,
                        fetched_at=details.fetched_at)
            if details.description:
                out.append(Fact(term, "DefinedAs", details.description, weight, **base))
            for pid, values in details.statements.items():
                relation = self.properties.get(pid, "RelatedTo")
                for v in values:
                    if v.label:
                        out.append(Fact(term, relation, v.label, weight * 0.9, **base))
            for alias in details.aliases:
                out.append(Fact(term, "Synonym", alias, weight * 0.8, **base))
        return tuple(out[:limit])


def _api_json(response: Response, source: str) -> dict:
    data = response.json()
    if not isinstance(data, dict):
        raise BadResponse(f"{source}: {response.url} answered with JSON that is not an object",
                          url=response.url, source=source)
    error = data.get("error")
    if isinstance(error, dict):
        raise RequestRejected(
            f"{source}: the API refused {response.url}: {error.get('code')}: {error.get('info')}",
            url=response.url, source=source, status=response.status)
    return data


__all__ = ["WikidataClient", "WikidataEntity", "WikidataSearchResult", "WikidataEntityDetails",
           "WikidataValue", "DEFAULT_PROPERTIES", "API_URL", "SPARQL_URL"]
