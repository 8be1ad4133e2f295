"""ConceptNet 5 (``api.conceptnet.io``): the edges of a concept (``/c/en/<term>``), edge queries
(``/query?start=…&rel=…``) and related terms (``/related/c/en/<term>?filter=/c/en``).

ConceptNet's data is CC BY-SA 4.0 (some edges CC BY 4.0; each edge says which in ``license``):
anything built from these facts and shared must credit ConceptNet and carry the same licence.
The API asks for no more than 3,600 requests an hour (the transport's default for this host is
one a second) and serves results that rarely change (cached for 30 days by default).

>>> concept_uri("Living Room")
'/c/en/living_room'
>>> relation_uri("UsedFor")
'/r/UsedFor'
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .errors import BadResponse, NotFound, RequestRejected
from .facts import Fact
from .transport import Response, Transport, default_transport

BASE_URL = "https://api.conceptnet.io"
SYMMETRIC = frozenset({"RelatedTo", "Synonym", "Antonym", "DistinctFrom", "LocatedNear",
                       "SimilarTo", "EtymologicallyRelatedTo"})
_LICENSES = {"cc:by-sa/4.0": "CC-BY-SA-4.0", "cc:by/4.0": "CC-BY-4.0"}


def concept_uri(term: str, *, language: str = "en") -> str:
    """ConceptNet's URI for a term: lower-case, words joined by '_' (``/c/en/living_room``).
    A text that is already a ``/c/…`` URI is returned as it is."""
    if term.startswith("/c/"):
        return term
    text = unicodedata.normalize("NFC", term).strip().lower()
    text = re.sub(r"[\s/]+", "_", text).strip("_")
    if not text:
        raise ValueError("the term is empty")
    return f"/c/{language}/{text}"


def relation_uri(rel: str) -> str:
    return rel if rel.startswith("/r/") else f"/r/{rel}"


def _label_of(uri: str) -> str:
    parts = uri.split("/")
    return parts[3].replace("_", " ") if len(parts) > 3 else uri


@dataclass(frozen=True)
class ConceptNode:
    """A node: ``uri`` such as ``/c/en/warm/a``, its ``label``, ``language`` and, when the edge
    names one, its ``sense_label`` (``a``, ``n``, ``v``, or a longer sense)."""

    uri: str
    label: str
    language: str | None = None
    sense_label: str | None = None

    @property
    def term(self) -> str:
        """The URI without its sense: ``/c/en/warm``."""
        return "/".join(self.uri.split("/")[:4])


@dataclass(frozen=True)
class ConceptNetEdge:
    id: str
    rel: str
    start: ConceptNode
    end: ConceptNode
    weight: float
    surface_text: str | None = None
    dataset: str | None = None
    license: str | None = None
    sources: tuple[str, ...] = ()

    def other(self, term_uri: str) -> ConceptNode:
        """The node at the other end from ``term_uri`` (a ``/c/en/x`` URI)."""
        return self.end if self.start.term == term_uri else self.start


@dataclass(frozen=True)
class ConceptNetEdges:
    """Edges for one request; ``next_page`` is the API path of the next page, if any."""

    query: str
    edges: tuple[ConceptNetEdge, ...]
    next_page: str | None
    fetched_at: dt.datetime
    from_cache: bool = False

    def __bool__(self) -> bool:
        return bool(self.edges)


@dataclass(frozen=True)
class RelatedTerm:
    uri: str
    label: str
    weight: float


@dataclass(frozen=True)
class ConceptNetRelated:
    term: str
    related: tuple[RelatedTerm, ...]
    fetched_at: dt.datetime
    from_cache: bool = False


class ConceptNetClient:
    """``base_url`` is configurable (tests point it at 127.0.0.1); ``language`` keeps only
    edges whose other end is in that language (None keeps all)."""

    name = "conceptnet"

    def __init__(self, *, transport: Transport | None = None, base_url: str = BASE_URL,
                 language: str | None = "en", ttl_s: float = 30 * 86400.0):
        self._transport = transport
        self.base_url = base_url.rstrip("/")
        self.language = language
        self.ttl_s = ttl_s

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = default_transport()
        return self._transport

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[dict, Response]:
        response = self.transport.get(self.base_url + path, params=params,
                                      headers={"Accept": "application/json"}, ttl_s=self.ttl_s,
                                      source=self.name)
        data = response.json()
        if not isinstance(data, dict):
            raise BadResponse(f"conceptnet: {response.url} answered with JSON that is not an "
                              "object", url=response.url, source=self.name)
        error = data.get("error")
        if isinstance(error, dict):
            status = error.get("status")
            message = f"conceptnet: {response.url}: {error.get('details') or error}"
            if status == 404:
                raise NotFound(message, url=response.url, source=self.name, status=404)
            raise RequestRejected(message, url=response.url, source=self.name, status=status)
        return data, response

    def lookup(self, term: str, *, limit: int = 20, offset: int = 0,
               language: str = "en") -> ConceptNetEdges:
        """The edges of a concept (``/c/<language>/<term>``), best first. An unknown term gives
        no edges (ConceptNet answers so), not an error."""
        uri = concept_uri(term, language=language)
        data, response = self._get(quote(uri, safe="/_-'.,"),
                                   {"limit": limit, "offset": offset or None})
        return self._edges(uri, data, response)

    def query(self, *, start: str | None = None, end: str | None = None, rel: str | None = None,
              node: str | None = None, other: str | None = None, sources: str | None = None,
              limit: int = 20, offset: int = 0) -> ConceptNetEdges:
        """Edges matching all the given parts; terms may be plain words or ``/c/…`` URIs and
        ``rel`` a name (``UsedFor``) or ``/r/UsedFor``."""
        params: dict[str, Any] = {
            "start": concept_uri(start) if start else None,
            "end": concept_uri(end) if end else None,
            "rel": relation_uri(rel) if rel else None,
            "node": concept_uri(node) if node else None,
            "other": concept_uri(other) if other else None,
            "sources": sources, "limit": limit, "offset": offset or None}
        if not any(params[k] for k in ("start", "end", "rel", "node", "other", "sources")):
            raise ValueError("query() needs at least one of start, end, rel, node, other, sources")
        data, response = self._get("/query", params)
        label = "&".join(f"{k}={v}" for k, v in params.items() if v and k not in ("limit",))
        return self._edges(label, data, response)

    def related(self, term: str, *, limit: int = 20, filter: str | None = "/c/en",
                language: str = "en") -> ConceptNetRelated:
        """Terms near ``term`` in ConceptNet Numberbatch, each with a similarity weight; the term
        itself (weight 1.0) is left out."""
        uri = concept_uri(term, language=language)
        data, response = self._get("/related" + quote(uri, safe="/_-'.,"),
                                   {"filter": filter, "limit": limit})
        items = data.get("related")
        if not isinstance(items, list):
            raise BadResponse(f"conceptnet: {response.url} has no 'related' list",
                              url=response.url, source=self.name)
        related = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("@id"), str):
                continue
            if item["@id"] == uri:
                continue
            try:
                weight = float(item.get("weight", 0.0))
            except (TypeError, ValueError):
                continue
            related.append(RelatedTerm(item["@id"], _label_of(item["@id"]), weight))
        return ConceptNetRelated(uri, tuple(related), response.fetched_datetime, response.from_cache)

    def facts(self, term: str, *, limit: int = 20) -> tuple[Fact, ...]:
        """The concept's edges as facts, in ConceptNet's order (by weight). ``subject`` and
        ``object`` keep the edge's direction (``bed UsedFor sleep`` when asked about sleep)."""
        found = self.lookup(term, limit=max(limit * 2, 20))
        out: list[Fact] = []
        for edge in found.edges:
            out.append(Fact(
                edge.start.label, edge.rel, edge.end.label,
                weight=round(edge.weight / (edge.weight + 1.0), 4), source=self.name,
                source_url=self.base_url + edge.id if edge.id.startswith("/") else edge.id,
                fetched_at=found.fetched_at, license=edge.license,
                surface_text=edge.surface_text))
            if len(out) >= limit:
                break
        return tuple(out)

    # -- parsing ---------------------------------------------------------------------------------
    def _edges(self, query: str, data: dict, response: Response) -> ConceptNetEdges:
        raw = data.get("edges")
        if raw is None:
            raise BadResponse(f"conceptnet: {response.url} answered without an 'edges' list",
                              url=response.url, source=self.name)
        if not isinstance(raw, list):
            raise BadResponse(f"conceptnet: 'edges' in {response.url} is not a list",
                              url=response.url, source=self.name)
        edges = []
        for item in raw:
            edge = _edge(item)
            if edge is None:
                continue
            if self.language and not (_in_language(edge.start, self.language)
                                      and _in_language(edge.end, self.language)):
                continue
            edges.append(edge)
        view = data.get("view") if isinstance(data.get("view"), dict) else {}
        return ConceptNetEdges(query, tuple(edges), view.get("nextPage"),
                               response.fetched_datetime, response.from_cache)


def _in_language(node: ConceptNode, language: str) -> bool:
    return node.language == language if node.language else node.uri.startswith(f"/c/{language}/")


def _node(raw: Any) -> ConceptNode | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("@id"), str):
        return None
    uri = raw["@id"]
    return ConceptNode(uri, str(raw.get("label") or _label_of(uri)), raw.get("language"),
                       raw.get("sense_label"))


def _edge(raw: Any) -> ConceptNetEdge | None:
    """One edge, or None for an item missing its parts (skipped, not fatal)."""
    if not isinstance(raw, dict):
        return None
    start, end = _node(raw.get("start")), _node(raw.get("end"))
    rel = raw.get("rel")
    rel_id = rel.get("@id") if isinstance(rel, dict) else rel
    if start is None or end is None or not isinstance(rel_id, str):
        return None
    try:
        weight = float(raw.get("weight", 1.0))
    except (TypeError, ValueError):
        weight = 1.0
    sources = tuple(s.get("@id") for s in raw.get("sources") or ()
                    if isinstance(s, dict) and isinstance(s.get("@id"), str))
    license_ = raw.get("license")
    return ConceptNetEdge(
        id=str(raw.get("@id", "")), rel=rel_id.removeprefix("/r/"), start=start, end=end,
        weight=weight, surface_text=raw.get("surfaceText") or None, dataset=raw.get("dataset"),
        license=_LICENSES.get(license_, license_), sources=sources)


__all__ = ["ConceptNetClient", "ConceptNetEdge", "ConceptNetEdges", "ConceptNode",
           "ConceptNetRelated", "RelatedTerm", "concept_uri", "relation_uri", "BASE_URL",
           "SYMMETRIC"]
