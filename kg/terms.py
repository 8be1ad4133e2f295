"""RDF terms: Python values to RDF and back, and the IRIs of one household's things.

Terms are pyoxigraph's frozen values (``NamedNode``, ``Literal``, ``BlankNode``).

>>> to_term(21.5)
<Literal value=21.5 datatype=<NamedNode value=http://www.w3.org/2001/XMLSchema#double>>
>>> to_python(to_term(3))
3
>>> HouseholdIRIs("h1").device("light.kitchen")
<NamedNode value=urn:hearth:h1:device:light.kitchen>
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from functools import lru_cache
from urllib.parse import quote

from pyoxigraph import BlankNode, Literal, NamedNode, Triple

from .errors import QueryError
from .vocab import XSD

Term = NamedNode | BlankNode | Literal | Triple

_XSD = XSD.base
_INT_TYPES = {_XSD + t for t in ("integer", "long", "int", "short", "byte", "nonNegativeInteger",
                                  "positiveInteger", "unsignedLong", "unsignedInt")}
_FLOAT_TYPES = {_XSD + "double", _XSD + "float"}

HOUSEHOLD_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def check_household_id(household_id: str) -> str:
    """Household ids name folders and IRIs, so they are short, lower-case and plain."""
    if not isinstance(household_id, str) or not HOUSEHOLD_ID.match(household_id):
        raise ValueError(
            f"bad household id {household_id!r}: use 1-63 characters of a-z, 0-9, '_' or '-', "
            "starting with a letter or digit (for example 'h1' or 'smith-family')")
    return household_id


def to_term(value: object) -> Term:
    """A Python value as an RDF term: str → xsd:string, int, float, bool, Decimal, datetime, date.

    Naive datetimes are refused: a household's events are compared across time zones.
    """
    if isinstance(value, (NamedNode, BlankNode, Literal, Triple)):
        return value
    if isinstance(value, bool):
        return Literal("true" if value else "false", datatype=XSD.boolean)
    if isinstance(value, int):
        return Literal(str(value), datatype=XSD.integer)
    if isinstance(value, float):
        return Literal(repr(value), datatype=XSD.double)
    if isinstance(value, Decimal):
        return Literal(str(value), datatype=XSD.decimal)
    if isinstance(value, dt.datetime):
        return Literal(format_datetime(value), datatype=XSD.dateTime)
    if isinstance(value, dt.date):
        return Literal(value.isoformat(), datatype=XSD.date)
    if isinstance(value, str):
        return Literal(value)
    rdflib_term = _from_rdflib(value)
    if rdflib_term is not None:
        return rdflib_term
    raise QueryError(
        f"cannot turn {type(value).__name__} {value!r} into an RDF term: pass a str, int, float, "
        "bool, Decimal, datetime, date, or a pyoxigraph NamedNode/Literal")


def _from_rdflib(value: object) -> Term | None:
    mod = type(value).__module__
    if not mod.startswith("rdflib"):
        return None
    from rdflib import BNode, URIRef
    from rdflib import Literal as RLiteral
    if isinstance(value, URIRef):
        return NamedNode(str(value))
    if isinstance(value, BNode):
        return BlankNode(str(value))
    if isinstance(value, RLiteral):
        if value.language:
            return Literal(str(value), language=value.language)
        if value.datatype:
            return Literal(str(value), datatype=NamedNode(str(value.datatype)))
        return Literal(str(value))
    return None


def format_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise QueryError(
            f"datetime {value.isoformat()} has no time zone: use an aware datetime, "
            "e.g. datetime(..., tzinfo=timezone.utc)")
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def parse_datetime(text: str) -> dt.datetime:
    """An ISO 8601 date-time with a time zone ('Z' or an offset)."""
    try:
        value = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not an ISO 8601 date-time; write it like "
                         "2026-11-21T18:30:00-08:00 or 2026-11-22T02:30:00Z") from None
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add 'Z' or an offset such as '+01:00'")
    return value


def to_python(term: Term | None) -> object:
    """A literal as the matching Python value; IRIs and blank nodes are returned unchanged."""
    if not isinstance(term, Literal):
        return term
    datatype = term.datatype.value
    text = term.value
    try:
        if datatype in _INT_TYPES:
            return int(text)
        if datatype in _FLOAT_TYPES:
            return float(text)
        if datatype == _XSD + "decimal":
            return Decimal(text)
        if datatype == _XSD + "boolean":
            return text in ("true", "1")
        if datatype in (_XSD + "dateTime", _XSD + "dateTimeStamp"):
            return dt.datetime.fromisoformat(text)
        if datatype == _XSD + "date":
            return dt.date.fromisoformat(text)
    except ValueError:
        return text
    return text


class HouseholdIRIs:
    """The IRIs of one household's things: ``urn:hearth:{household}:{kind}:{local id}``."""

    def __init__(self, household_id: str):
        self.household_id = check_household_id(household_id)
        self.base = f"urn:hearth:{household_id}:"
        self.household = NamedNode(self.base + "household")
        self.state_graph = NamedNode(self.base + "state")
        self.ontology_graph = NamedNode("urn:hearth:ontology")

    @lru_cache(maxsize=65536)
    def node(self, kind: str, local: str) -> NamedNode:
        return NamedNode(f"{self.base}{kind}:{quote(str(local), safe='._-~')}")

    def event(self, seq: int) -> NamedNode:
        return NamedNode(f"{self.base}event:{seq}")

    def observation(self, seq: int) -> NamedNode:
        return NamedNode(f"{self.base}obs:{seq}")

    def device(self, local: str) -> NamedNode:
        return self.node("device", local)

    def area(self, local: str) -> NamedNode:
        return self.node("area", local)

    def floor(self, local: str) -> NamedNode:
        return self.node("floor", local)

    def person(self, local: str) -> NamedNode:
        return self.node("person", local)

    def component(self, local: str) -> NamedNode:
        return self.node("component", local)

    def session(self, local: str) -> NamedNode:
        return self.node("session", local)

    def agent(self, ref: str) -> NamedNode:
        """An agent reference from an event: ``person:alice``, ``device:light.x``, ``component:rules``
        or a full IRI."""
        kind, sep, local = ref.partition(":")
        if sep and kind in ("person", "device", "component") and local:
            return self.node(kind, local)
        if sep and "://" in ref or ref.startswith("urn:"):
            return NamedNode(ref)
        raise ValueError(
            f"agent {ref!r} is not 'person:ID', 'device:ID', 'component:ID' or an absolute IRI")

    def prefixes(self) -> dict[str, str]:
        """Prefixes for this household's own IRIs, usable in its queries."""
        return {kind: f"{self.base}{kind}:" for kind in
                ("event", "obs", "device", "area", "floor", "person", "component", "session")}

    def seq_of(self, event_iri: NamedNode | str) -> int:
        """The sequence number in an event IRI of this household."""
        value = event_iri.value if isinstance(event_iri, NamedNode) else str(event_iri)
        head = self.base + "event:"
        if not value.startswith(head) or not value[len(head):].isdigit():
            raise ValueError(f"{value!r} is not an event of household {self.household_id!r}")
        return int(value[len(head):])
