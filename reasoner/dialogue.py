"""Dialogue state in the graph: sessions, turns, one frame per skill, and where every value came
from; values carried across skills, and revisions that propagate.

A conversation is a **session** (``UtteranceHeard.session``, or, without one, the utterances of one
speaker less than ``session_gap`` apart). It has **turns**, the user's (``UserTurnMade``) and the
system's (``SystemTurnMade``: an answer, a confirmation, an offer), numbered 1, 2, 3 … in the
session, and one **frame** per skill (``FrameOpened``, ``FrameIntentChanged``) holding that skill's
intent and slot values. Each value is a ``SlotFilled`` event that says where it came from:

* ``said``: the user said it in turn N (understanding's slots, names snapped to known venues);
* ``carried``: carried from skill X's slot Y when this skill became active (:class:`Carryover`:
  the SGD-trained :class:`reasoner.carryover.CarryoverModel` where one is available, gated and
  complemented by ontology types: a place fills a destination, a cinema does not fill a
  restaurant's name);
* ``inferred``: inferred by rule R (``ontologies/dialogue.yaml``: dinner 15 minutes after the film
  ends, the ride goes to the restaurant …), from skill X's slot Y;
* ``offered``: offered by the system (an answer's values: the film's end time, the restaurant's
  address; or an offer the user accepted).

A value that replaces another names it (``revises``), so SPARQL sees when and why it was revised.
Carried and inferred values record what they depend on; when that is revised, they are revised
too, each change an event derived from the change that caused it, and skills that had already
acted on them (a booked table) are told (:class:`Responder`).

The current dialogue state (:class:`DialogueState`) is a projection of these events, rebuilt by
replaying them (:func:`dialogue_state`, :meth:`DialogueState.replay`). SPARQL asks the event
graphs directly; :data:`WHY_QUERY` is "what does the ride-share frame's destination hold, and why"::

    SELECT ?value ?source ?fromSkill ?fromSlot ?rule ?reason WHERE {
      ?fill a hearth:SlotFilled ; hearth:skillName "rideshare" ; hearth:slotName "destination" ;
            hearth:value ?value ; hearth:valueSource ?source .
      OPTIONAL { ?fill hearth:carriedFromSkill ?fromSkill ; hearth:carriedFromSlot ?fromSlot }
      OPTIONAL { ?fill hearth:rule ?rule } OPTIONAL { ?fill hearth:reason ?reason }
      FILTER NOT EXISTS { ?later hearth:revises ?fill } }

The ``dialogue`` pipeline component reads every ``UtteranceInterpreted`` (and its own events, to
propagate revisions, and the ``goals`` component's offers, which become system turns).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import re
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import quote

import yaml
from pyoxigraph import Literal, NamedNode, Quad

import ontologies
from kg import events as E
from kg.errors import EventError
from kg.events import f, register_event_type
from kg.household import Household
from kg.log import Appended
from kg.terms import format_datetime, parse_datetime, to_python, to_term
from kg.vocab import HEARTH, HEARTH_NS, PROV, RDF

from .errors import ReasonerError
from .pipeline import register_component

log = logging.getLogger("hearth.reasoner.dialogue")

__all__ = [
    "AGENT", "possessive", "Carryover", "CarryChoice", "Prefill", "DialogueComponent", "DialogueError", "DialogueSpec",
    "DialogueState", "Directory", "Frame", "FrameIntentChanged", "FrameOpened", "Offer", "Request",
    "Responder", "Response", "Rule", "Session", "SlotFilled", "SlotInfo", "SlotState",
    "SystemTurnMade", "Turn", "UserTurnMade", "Venue", "WHY_QUERY", "DIALOGUE_TYPES",
    "dialogue_state", "load_carryover_model", "slot_provenance", "spoken", "SPEC_PATH",
    "DESCRIBERS", "why_line", "service_schemas", "default_spec",
]

AGENT = "component:dialogue"
SPEC_PATH = ontologies.path("dialogue.yaml")
RULE_NS = "https://w3id.org/hearth/dialogue-rule/"
SOURCES = ("said", "carried", "inferred", "offered")
ACTS = ("inform", "offer", "confirm", "request", "offer_intent")  # SGD's system acts
# the catalogue's slot types that are kinds of place (and so share place ranges)
_PLACE = "Place"


class DialogueError(ReasonerError, ValueError):
    """The dialogue spec or a dialogue event cannot be used: the message says what to fix."""


# ================================================================================================
# Vocabulary: terms this module adds (proposed for ontologies/hearth.ttl; kg.vocab lacks them)
# ================================================================================================

def _h(name: str) -> NamedNode:
    return NamedNode(HEARTH_NS + name)


USER_TURN_MADE = _h("UserTurnMade")
SYSTEM_TURN_MADE = _h("SystemTurnMade")
FRAME_OPENED = _h("FrameOpened")
FRAME_INTENT_CHANGED = _h("FrameIntentChanged")
SLOT_FILLED = _h("SlotFilled")
FRAME = _h("Frame")
P_FRAME = _h("frame")                    # event → the frame it is about
P_IN_SESSION = _h("inSession")           # frame → session
P_TURN_INDEX = _h("turnIndex")           # turn / fill → its number in the session
P_SPEAKER_ROLE = _h("speakerRole")       # turn → "user" | "system"
P_UTTERANCE = _h("utterance")            # user turn → the UtteranceHeard
P_DIALOGUE_ACT = _h("dialogueAct")       # system turn → inform | offer | confirm | request
P_OFFERS = _h("offers")                  # system turn → its values as JSON
P_SLOT_NAME = _h("slotName")
P_VALUE_TYPE = _h("valueType")           # the slot's type or range ("Place", "MovieTheater" …)
P_VALUE_SOURCE = _h("valueSource")       # → hearth:SaidByUser | CarriedOver | InferredByRule | …
P_VALUE_NODE = _h("valueNode")           # → the graph node the value names (a device …)
P_CARRIED_FROM_SKILL = _h("carriedFromSkill")
P_CARRIED_FROM_SLOT = _h("carriedFromSlot")
P_CARRIED_FROM = _h("carriedFrom")       # → the SlotFilled event of the value it depends on
P_REVISES = _h("revises")                # → the SlotFilled event it replaces
SOURCE_IRIS = {"said": _h("SaidByUser"), "carried": _h("CarriedOver"),
               "inferred": _h("InferredByRule"), "offered": _h("OfferedBySystem")}
_SOURCE_OF_IRI = {v.value: k for k, v in SOURCE_IRIS.items()}


def session_iri(ids, session: str) -> NamedNode:
    return ids.session(session)


def frame_iri(ids, session: str, skill: str) -> NamedNode:
    return NamedNode(f"{ids.session(session).value}/frame/{quote(skill, safe='._-~')}")


def rule_iri(rule_id: str) -> str:
    return RULE_NS + quote(rule_id, safe="._-~")


# ================================================================================================
# Values: one JSON-able form per slot type, and how to say them
# ================================================================================================

def base_type(value_type: str | None, spec: "DialogueSpec | None" = None) -> str:
    """The catalogue type a range is under ("MovieTheater" → "Place")."""
    if spec is None or value_type is None:
        return value_type or "Text"
    return spec.root(value_type)


def coerce(value: Any, value_type: str | None) -> Any:
    """A slot value in the form events keep: times as ISO 8601 date-times, dates as ISO dates
    (a range "first/last"), counts as numbers, everything else as text."""
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    if isinstance(value, (list, tuple)):
        parts = [coerce(v, value_type) for v in value]
        return "/".join(str(p) for p in parts) if value_type == "Date" else (
            parts[0] if parts else None)
    if isinstance(value, dt.datetime):
        return format_datetime(value) if value.tzinfo else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if value_type == "Time" and isinstance(value, str):
        try:
            return format_datetime(parse_datetime(value))
        except ValueError:
            return value
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if value_type in ("Number", "PartySize") and isinstance(value, str) and value.isdigit():
        return int(value)
    return None if value is None else str(value)


def as_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            return None
    return None


def possessive(name: str) -> str:
    """"restaurants'" and "Maya's"."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def spoken(value: Any, value_type: str | None = None) -> str:
    """A value as the assistant says it: "7:00 pm", "Saturday 21 November", "2".

    >>> spoken("2026-11-21T19:00:00-08:00"), spoken("2026-11-21", "Date"), spoken(2)
    ('7:00 pm', 'Saturday 21 November', '2')
    """
    when = as_datetime(value)
    if when is not None:
        text = when.strftime("%I:%M %p").lstrip("0").lower()
        return text
    if value_type == "Date" and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.split("/")[0]).strftime("%A %d %B").replace(" 0", " ")
        except ValueError:
            return value
    return str(value)


def _value_term(value: Any, value_type: str | None):
    if isinstance(value, str):
        when = as_datetime(value) if value_type == "Time" else None
        if when is not None:
            return to_term(when)
        if value_type == "Date":
            try:
                return to_term(dt.date.fromisoformat(value))
            except ValueError:
                pass
    return to_term(value)


def _value_of_term(term) -> Any:
    value = to_python(term)
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# ================================================================================================
# The spec: services, ranges, needs, offers and rules (ontologies/dialogue.yaml)
# ================================================================================================

@dataclass(frozen=True)
class SlotInfo:
    """A slot of a conversation skill: its catalogue ``type``, its ``range`` (a class under the
    type), a ``description`` (for the carryover model), whether other skills' values may fill it
    (``carry``) and whether it is a ``result`` (given by the skill's answers, not asked for)."""

    skill: str
    name: str
    type: str
    range: str
    description: str = ""
    carry: bool = True
    result: bool = False


@dataclass(frozen=True)
class Rule:
    """A value inferred from another skill's value: ``target`` = the first of ``sources`` with a
    value, plus ``offset`` for times.

    >>> rule = Rule("dinner-after-film", "dinner after the film", ("restaurants", "time"),
    ...             (("movies", "end_time"),), dt.timedelta(minutes=15))
    >>> rule.apply("2026-11-21T20:45:00-08:00")
    '2026-11-21T21:00:00-08:00'
    """

    id: str
    label: str
    target: tuple[str, str]
    sources: tuple[tuple[str, str], ...]
    offset: dt.timedelta | None = None

    @property
    def iri(self) -> str:
        return rule_iri(self.id)

    def apply(self, value: Any) -> Any:
        if self.offset is None:
            return value
        when = as_datetime(value)
        return format_datetime(when + self.offset) if when is not None else value


@dataclass(frozen=True)
class OfferTemplate:
    intent: str
    text: str
    requires: tuple[str, ...] = ()

    def render(self, values: Mapping[str, Any], types: Mapping[str, str] | None = None
               ) -> str | None:
        """The offer in words, or None when a required slot has no value. "[…]" parts whose
        slots have no value are left out.

        >>> ride = OfferTemplate("rideshare.book_ride", "Want a ride[ to {destination}][ at {time}]?")
        >>> ride.render({"destination": "Luigi's"}), ride.render({})
        ("Want a ride to Luigi's?", 'Want a ride?')
        """
        if any(values.get(r) in (None, "") for r in self.requires):
            return None
        types = types or {}

        def fill(text: str) -> str | None:
            missing = False

            def one(m):
                nonlocal missing
                v = values.get(m.group(1))
                if v in (None, ""):
                    missing = True
                    return ""
                return spoken(v, types.get(m.group(1)))
            out = re.sub(r"\{(\w+)\}", one, text)
            return None if missing else out

        def optional(m):
            return fill(m.group(1)) or ""
        text = re.sub(r"\[([^\[\]]*)\]", optional, self.text)
        return fill(text)


@dataclass
class DialogueSpec:
    """``ontologies/dialogue.yaml`` read against the skill catalogue."""

    services: dict[str, dict[str, SlotInfo]]
    domains: dict[str, str]
    descriptions: dict[str, str]
    classes: dict[str, str]
    kinds: dict[str, str]
    venues: dict[str, str]
    needs: dict[str, str]
    offers: dict[str, OfferTemplate]
    rules: list[Rule]
    intents: dict[str, list[str]]            # skill → its intents' slot names, by intent id
    catalogue: Any = None
    _schemas: dict | None = field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, path: str | Path | None = None, *, catalogue=None) -> "DialogueSpec":
        from .skills import Catalogue
        path = Path(path) if path is not None else SPEC_PATH
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            raise DialogueError(f"cannot read the dialogue spec {path}: {err}") from err
        catalogue = catalogue or Catalogue.load()
        classes = {str(k): str(v) for k, v in (data.get("classes") or {}).items()}
        services: dict[str, dict[str, SlotInfo]] = {}
        domains, descriptions, intents = {}, {}, {}
        for skill, raw in (data.get("services") or {}).items():
            if skill not in catalogue.skills:
                raise DialogueError(f"{path}: service {skill!r} is not a catalogue skill; skills: "
                                    f"{', '.join(sorted(catalogue.skills))}")
            described = raw.get("slots") or {}
            slots: dict[str, SlotInfo] = {}
            for intent in catalogue.skills[skill].intents:
                intents[intent.id] = [s.name for s in intent.slots]
                for s in intent.slots:
                    extra = described.get(s.name) or ""
                    extra = {"description": extra} if isinstance(extra, str) else dict(extra)
                    rng = str(extra.get("range") or s.type)
                    if rng != s.type and classes.get(rng) is None:
                        raise DialogueError(f"{path}: {skill}.{s.name} has range {rng!r}, which "
                                            "is not under any type in 'classes'")
                    slots[s.name] = SlotInfo(skill, s.name, s.type, rng,
                                             str(extra.get("description") or ""),
                                             bool(extra.get("carry", True)))
            for name, r in (raw.get("results") or {}).items():
                r = dict(r or {})
                type_ = str(r.get("type") or "Text")
                slots[name] = SlotInfo(skill, name, type_, str(r.get("range") or type_),
                                       str(r.get("description") or ""), False, True)
            services[skill] = slots
            domains[skill] = str(raw.get("domain") or skill.title())
            descriptions[skill] = str(raw.get("description") or catalogue.skills[skill].description)
        offers = {}
        for intent, raw in (data.get("offers") or {}).items():
            raw = {"text": raw} if isinstance(raw, str) else raw
            offers[intent] = OfferTemplate(intent, str(raw["text"]),
                                           tuple(raw.get("requires") or ()))
        rules = []
        for raw in data.get("rules") or []:
            sources = raw.get("source")
            sources = [sources] if isinstance(sources, str) else list(sources or [])
            offset = raw.get("offset")
            if offset is not None:
                from .patterns import parse_duration
                offset = parse_duration(offset, f"{path}: rule {raw.get('id')} offset")
            rules.append(Rule(str(raw["id"]), str(raw.get("label") or raw["id"]),
                              _pair(raw["target"], path), tuple(_pair(s, path) for s in sources),
                              offset))
        cs = "https://w3id.org/hearth/commonsense#"
        needs = {k: (cs + v[3:] if str(v).startswith("cs:") else str(v))
                 for k, v in (data.get("needs") or {}).items()}
        spec = cls(services, domains, descriptions, classes,
                   {str(k): str(v) for k, v in (data.get("kinds") or {}).items()},
                   {str(k): str(v) for k, v in (data.get("venues") or {}).items()},
                   needs, offers, rules, intents, catalogue)
        for rule in rules:
            for skill, slot in (rule.target, *rule.sources):
                if spec.slot(skill, slot) is None:
                    raise DialogueError(f"{path}: rule {rule.id} names {skill}.{slot}, which is "
                                        "not a slot or result of a service")
        return spec

    def slot(self, skill: str | None, name: str) -> SlotInfo | None:
        return self.services.get(skill or "", {}).get(name)

    def type_of(self, skill: str | None, name: str) -> str:
        info = self.slot(skill, name)
        return info.type if info else "Text"

    def root(self, cls: str) -> str:
        seen = set()
        while cls in self.classes and cls not in seen:
            seen.add(cls)
            cls = self.classes[cls]
        return cls

    def is_a(self, cls: str, ancestor: str) -> bool:
        seen = set()
        while cls not in seen:
            if cls == ancestor:
                return True
            seen.add(cls)
            if cls not in self.classes:
                return False
            cls = self.classes[cls]
        return False

    def rules_for(self, skill: str) -> list[Rule]:
        return [r for r in self.rules if r.target[0] == skill]


def _pair(text: str, path) -> tuple[str, str]:
    skill, sep, slot = str(text).partition(".")
    if not sep:
        raise DialogueError(f"{path}: {text!r} is not 'skill.slot'")
    return skill, slot


_SPEC: list[DialogueSpec] = []
_SPEC_LOCK = threading.Lock()


def default_spec() -> DialogueSpec:
    with _SPEC_LOCK:
        if not _SPEC:
            _SPEC.append(DialogueSpec.load())
        return _SPEC[0]


# ================================================================================================
# Places the assistant knows by name (a directory), for names, kinds and skills
# ================================================================================================

@dataclass(frozen=True)
class Venue:
    name: str
    kind: str                 # a class of the spec ("MovieTheater", "Beach" …)
    address: str | None = None
    description: str = ""
    keywords: tuple[str, ...] = ()


class Directory:
    """Named places: snaps "Osteria Nina instead" to "Osteria Nina", finds the venues an utterance
    names, and says what kind each is."""

    def __init__(self, venues: Iterable[Venue] = ()):
        self.venues = {v.name.casefold(): v for v in venues}
        self._by_length = sorted(self.venues.values(), key=lambda v: -len(v.name))

    def __bool__(self) -> bool:
        return bool(self.venues)

    def get(self, name: Any) -> Venue | None:
        if not isinstance(name, str):
            return None
        key = name.strip().casefold()
        if key in self.venues:
            return self.venues[key]
        for v in self._by_length:
            if re.search(rf"(?<!\w){re.escape(v.name.casefold())}(?!\w)", key):
                return v
        return None

    def find_in(self, text: str) -> list[Venue]:
        low = text.casefold()
        out, taken = [], []
        for v in self._by_length:
            m = re.search(rf"(?<!\w){re.escape(v.name.casefold())}(?!\w)", low)
            if m and not any(a < m.end() and m.start() < b for a, b in taken):
                taken.append((m.start(), m.end()))
                out.append(v)
        return out


# ================================================================================================
# Events
# ================================================================================================

def _fields_from_props(cls, ev, props, ids, skip=()) -> dict:
    """The default reading of an event's fields from its graph (as ``Event._from_rdf`` does)."""
    kwargs: dict[str, Any] = {
        "time": to_python(props[PROV.generatedAtTime][0]),
        "by": E.agent_ref(props[PROV.wasAttributedTo][0], ids),
        "derived_from": tuple(props.get(PROV.wasDerivedFrom, ())),
    }
    for fd in dataclasses.fields(cls):
        pred = fd.metadata.get("predicate")
        if fd.name in skip or pred is None or pred not in props:
            continue
        values = [E._from_term(fd.metadata["kind"], t, ids) for t in props[pred]]
        kwargs[fd.name] = tuple(values) if fd.metadata["kind"] == "events" else values[0]
    return kwargs


class _DialogueEvent(E.Event):
    def default_by(self) -> str:
        return AGENT

    def _check_turn(self) -> None:
        turn = getattr(self, "turn", 1)
        if isinstance(turn, bool) or not isinstance(turn, int) or turn < 1:
            raise EventError(f"{self.type_name()}.turn is a turn number (1, 2 …), not {turn!r}",
                             field="turn")


@register_event_type
@dataclass(frozen=True, kw_only=True)
class UserTurnMade(_DialogueEvent):
    """The user's turn ``turn`` of ``session``: what was said (``utterance``, ``text``) and the
    skill and intent it was read as. ``rule`` says how the dialogue read it beyond understanding
    (an accepted offer, a venue naming a skill). In RDF the event node is also a ``hearth:Turn``."""

    session: str = f("session", HEARTH.session)
    turn: int = f("number", P_TURN_INDEX)
    text: str = f("text", HEARTH.text)
    utterance: NamedNode | None = f("event", P_UTTERANCE, required=False)
    skill: str | None = f("text", HEARTH.skillName, required=False)
    intent: str | None = f("text", HEARTH.intentName, required=False)
    speaker: str | None = f("person", HEARTH.speaker, required=False)
    device: str | None = f("device", HEARTH.device, required=False)
    rule: str | None = f("iri", HEARTH.rule, required=False)
    rdf_type: ClassVar = USER_TURN_MADE
    is_conclusion: ClassVar = True

    def check(self) -> None:
        self._check_turn()

    def payload(self, ev, seq, ids):
        return super().payload(ev, seq, ids) + [
            (ev, RDF.type, HEARTH.Turn), (ev, P_SPEAKER_ROLE, Literal("user"))]


@register_event_type
@dataclass(frozen=True, kw_only=True)
class SystemTurnMade(_DialogueEvent):
    """The assistant's turn ``turn`` of ``session``: what it said (``text``), the dialogue ``act``
    (inform, offer or confirm values of a skill; request one; ``offer_intent``: propose another
    intent, the goals component's offers), the skill and intent it is about, and the values it
    gave (``offers``: slot → value, JSON; for ``offer_intent``, each value with its provenance)."""

    session: str = f("session", HEARTH.session)
    turn: int = f("number", P_TURN_INDEX)
    text: str = f("text", HEARTH.text)
    act: str = f("text", P_DIALOGUE_ACT)
    skill: str | None = f("text", HEARTH.skillName, required=False)
    intent: str | None = f("text", HEARTH.intentName, required=False)
    offers: Any = f("json", P_OFFERS, required=False)
    rdf_type: ClassVar = SYSTEM_TURN_MADE
    is_conclusion: ClassVar = True

    def check(self) -> None:
        self._check_turn()
        if self.act not in ACTS:
            raise EventError(f"SystemTurnMade.act is one of {', '.join(ACTS)}, not {self.act!r}",
                             field="act")
        if self.offers is not None and not isinstance(self.offers, dict):
            raise EventError("SystemTurnMade.offers is a JSON object (slot → value)",
                             field="offers")

    def payload(self, ev, seq, ids):
        return super().payload(ev, seq, ids) + [
            (ev, RDF.type, HEARTH.Turn), (ev, P_SPEAKER_ROLE, Literal("system"))]


class _FrameEvent(_DialogueEvent):
    def payload(self, ev, seq, ids):
        frame = frame_iri(ids, self.session, self.skill)
        return super().payload(ev, seq, ids) + [
            (ev, P_FRAME, frame), (frame, RDF.type, FRAME),
            (frame, P_IN_SESSION, session_iri(ids, self.session)),
            (frame, HEARTH.skillName, Literal(self.skill))]


@register_event_type
@dataclass(frozen=True, kw_only=True)
class FrameOpened(_FrameEvent):
    """``skill`` became active in ``session`` at ``turn``, with ``intent``: its frame opens
    (``<session>/frame/<skill>``, a ``hearth:Frame``)."""

    session: str = f("session", HEARTH.session)
    skill: str = f("text", HEARTH.skillName)
    intent: str | None = f("text", HEARTH.intentName, required=False)
    turn: int = f("number", P_TURN_INDEX)
    rdf_type: ClassVar = FRAME_OPENED
    is_conclusion: ClassVar = True

    def check(self) -> None:
        self._check_turn()


@register_event_type
@dataclass(frozen=True, kw_only=True)
class FrameIntentChanged(_FrameEvent):
    """The frame of ``skill`` in ``session`` now serves ``intent`` (from ``turn`` on)."""

    session: str = f("session", HEARTH.session)
    skill: str = f("text", HEARTH.skillName)
    intent: str = f("text", HEARTH.intentName)
    turn: int = f("number", P_TURN_INDEX)
    rdf_type: ClassVar = FRAME_INTENT_CHANGED
    is_conclusion: ClassVar = True

    def check(self) -> None:
        self._check_turn()


@register_event_type
@dataclass(frozen=True, kw_only=True)
class SlotFilled(_FrameEvent):
    """``slot`` of ``skill``'s frame in ``session`` holds ``value`` (of ``value_type``) from turn
    ``turn`` on. ``source``: said (by the user in that turn), carried (from ``from_skill``'s
    ``from_slot``, with a ``score``), inferred (by ``rule``, from ``from_skill``'s ``from_slot``),
    or offered (by the system). ``source_event``: the SlotFilled it depends on; ``revises``: the
    SlotFilled it replaces; ``reason``: why, in words; ``node``: the graph node the value names."""

    session: str = f("session", HEARTH.session)
    skill: str = f("text", HEARTH.skillName)
    slot: str = f("text", P_SLOT_NAME)
    value: Any = f("value")
    value_type: str = f("text", P_VALUE_TYPE)
    source: str = f("text")
    turn: int = f("number", P_TURN_INDEX)
    node: str | None = f("iri", P_VALUE_NODE, required=False)
    from_skill: str | None = f("text", P_CARRIED_FROM_SKILL, required=False)
    from_slot: str | None = f("text", P_CARRIED_FROM_SLOT, required=False)
    source_event: NamedNode | None = f("event", P_CARRIED_FROM, required=False)
    rule: str | None = f("iri", HEARTH.rule, required=False)
    revises: NamedNode | None = f("event", P_REVISES, required=False)
    score: float | None = f("number", HEARTH.score, required=False)
    reason: str | None = f("text", HEARTH.reason, required=False)
    rdf_type: ClassVar = SLOT_FILLED
    is_conclusion: ClassVar = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.score, int) and not isinstance(self.score, bool):
            object.__setattr__(self, "score", float(self.score))  # always xsd:double

    def check(self) -> None:
        self._check_turn()
        if self.source not in SOURCES:
            raise EventError(f"SlotFilled.source is one of {', '.join(SOURCES)}, not "
                             f"{self.source!r}", field="source")
        if self.source in ("carried", "inferred") and not (self.from_skill and self.from_slot):
            raise EventError(f"a {self.source} SlotFilled names the skill and slot it comes from "
                             "(from_skill, from_slot)", field="from_skill")
        if self.source == "inferred" and not self.rule:
            raise EventError("an inferred SlotFilled names its rule", field="rule")
        if self.value is None or isinstance(self.value, (list, dict)):
            raise EventError("SlotFilled.value is a string, a number or a boolean",
                             field="value")

    def payload(self, ev, seq, ids):
        out = super().payload(ev, seq, ids)
        out.append((ev, HEARTH.value, _value_term(self.value, self.value_type)))
        out.append((ev, P_VALUE_SOURCE, SOURCE_IRIS[self.source]))
        return out

    @classmethod
    def _from_rdf(cls, ev, props, quads, ids):
        kwargs = _fields_from_props(cls, ev, props, ids)
        kwargs["value"] = _value_of_term(props[HEARTH.value][0])
        kwargs["source"] = _SOURCE_OF_IRI[props[P_VALUE_SOURCE][0].value]
        return cls(**kwargs)


DIALOGUE_TYPES = (UserTurnMade, SystemTurnMade, FrameOpened, FrameIntentChanged, SlotFilled)

#: SHACL shapes proposed for ontologies/shapes/events.ttl (the compiled checker reads that file).


# ================================================================================================
# The projection: the current dialogue state, rebuilt by replaying the events above
# ================================================================================================

@dataclass(frozen=True)
class SlotState:
    """A value a frame holds: the SlotFilled ``event`` that put it there, and its provenance."""

    skill: str
    slot: str
    value: Any
    value_type: str
    source: str
    turn: int
    event: NamedNode
    time: dt.datetime
    node: str | None = None
    from_skill: str | None = None
    from_slot: str | None = None
    source_event: NamedNode | None = None
    rule: str | None = None
    revises: NamedNode | None = None
    score: float | None = None
    reason: str | None = None

    def describe(self) -> str:
        """Where the value came from, in words."""
        if self.source == "said":
            return f"said in turn {self.turn}"
        if self.source == "carried":
            return f"carried from {possessive(self.from_skill)} {self.from_slot} in turn {self.turn}"
        if self.source == "inferred":
            rule = (self.rule or "").rsplit("/", 1)[-1]
            return (f"inferred by rule {rule} from {possessive(self.from_skill)} {self.from_slot} in turn "
                    f"{self.turn}")
        return f"offered by the system in turn {self.turn}"


@dataclass
class Frame:
    skill: str
    intent: str | None
    opened_turn: int
    opened_by: NamedNode
    slots: dict[str, SlotState] = field(default_factory=dict)
    history: list[SlotState] = field(default_factory=list)   # values since revised
    status: str = "open"      # "done" once the skill confirmed a transaction

    def values(self) -> dict[str, Any]:
        return {k: v.value for k, v in self.slots.items()}


@dataclass(frozen=True)
class Turn:
    index: int
    role: str
    text: str
    event: NamedNode
    time: dt.datetime
    skill: str | None = None
    intent: str | None = None
    act: str | None = None


@dataclass(frozen=True)
class Offer:
    """An offer the assistant made and the user has not answered yet."""

    intent: str
    skill: str | None
    slots: Mapping[str, Any]
    turn: int
    event: NamedNode
    text: str


@dataclass
class Session:
    id: str
    turns: list[Turn] = field(default_factory=list)
    frames: dict[str, Frame] = field(default_factory=dict)
    speaker: str | None = None
    device: str | None = None
    last_time: dt.datetime | None = None
    offer: Offer | None = None

    @property
    def next_turn(self) -> int:
        return len(self.turns) + 1

    def values(self, *, exclude: str | None = None) -> list[SlotState]:
        """Every value held, other than ``exclude``'s, most recent first."""
        out = [s for skill, fr in self.frames.items() if skill != exclude
               for s in fr.slots.values()]
        return sorted(out, key=lambda s: (-s.turn, s.skill, s.slot))

    def value(self, skill: str, slot: str) -> SlotState | None:
        fr = self.frames.get(skill)
        return fr.slots.get(slot) if fr else None

    def skills(self) -> list[str]:
        """The skills used, in the order they became active."""
        return [s for s, _ in sorted(self.frames.items(), key=lambda kv: kv[1].opened_turn)]


class DialogueState:
    """Every session of a household and what its frames hold: the projection of the dialogue
    events. ``apply`` folds one event in; replaying the log rebuilds it identically."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.seq = 0
        self.session_of: dict[str, str] = {}        # event IRI → session id
        self.last_by_speaker: dict[str, str] = {}   # speaker or device → their latest session
        # (skills so far, the skill that followed, when, session): the household's own history
        self.transitions: list[tuple[tuple[str, ...], str, dt.datetime, str]] = []

    # -- folding ----------------------------------------------------------------------------
    def apply(self, seq: int, iri: NamedNode, event: E.Event) -> None:
        if seq <= self.seq:
            return
        self.seq = seq
        if not isinstance(event, DIALOGUE_TYPES):
            return
        session = self.sessions.setdefault(event.session, Session(event.session))
        self.session_of[iri.value] = event.session
        session.last_time = event.time
        if isinstance(event, UserTurnMade):
            session.turns.append(Turn(event.turn, "user", event.text, iri, event.time,
                                      event.skill, event.intent))
            session.speaker = event.speaker or session.speaker
            session.device = event.device or session.device
            session.offer = None   # answered, or passed over
            key = event.speaker or event.device
            if key:
                self.last_by_speaker[key] = event.session
        elif isinstance(event, SystemTurnMade):
            session.turns.append(Turn(event.turn, "system", event.text, iri, event.time,
                                      event.skill, event.intent, event.act))
            if event.act == "offer_intent" and event.intent:
                session.offer = Offer(event.intent, event.skill, dict(event.offers or {}),
                                      event.turn, iri, event.text)
            elif event.act == "confirm" and event.skill in session.frames:
                session.frames[event.skill].status = "done"
        elif isinstance(event, FrameOpened):
            history = tuple(session.skills())
            session.frames[event.skill] = Frame(event.skill, event.intent, event.turn, iri)
            if history:
                self.transitions.append((history, event.skill, event.time, event.session))
        elif isinstance(event, FrameIntentChanged):
            fr = session.frames.get(event.skill)
            if fr is not None:
                fr.intent = event.intent
        elif isinstance(event, SlotFilled):
            fr = session.frames.get(event.skill)
            if fr is None:  # a value for a frame that never opened: open it implicitly
                fr = session.frames[event.skill] = Frame(event.skill, None, event.turn, iri)
            old = fr.slots.get(event.slot)
            if old is not None:
                fr.history.append(old)
            fr.slots[event.slot] = SlotState(
                event.skill, event.slot, event.value, event.value_type, event.source, event.turn,
                iri, event.time, event.node, event.from_skill, event.from_slot,
                event.source_event, event.rule, event.revises, event.score, event.reason)

    @classmethod
    def replay(cls, home: Household) -> "DialogueState":
        """The state rebuilt from the household's log alone."""
        state = cls()
        retracted = home.state.retracted
        for seq, event in home.events(types=DIALOGUE_TYPES):
            iri = home.ids.event(seq)
            if iri not in retracted:
                state.apply(seq, iri, event)
        state.seq = home.head
        return state

    # -- reading ----------------------------------------------------------------------------
    def session_for(self, event_iri: NamedNode | str) -> Session | None:
        sid = self.session_of.get(event_iri.value if isinstance(event_iri, NamedNode)
                                  else event_iri)
        return self.sessions.get(sid) if sid else None

    def latest(self, speaker: str | None = None) -> Session | None:
        if speaker and speaker in self.last_by_speaker:
            return self.sessions.get(self.last_by_speaker[speaker])
        if not self.sessions:
            return None
        return max(self.sessions.values(),
                   key=lambda s: s.last_time or dt.datetime.min.replace(tzinfo=dt.timezone.utc))

    def snapshot(self) -> dict:
        """A plain, comparable summary (replay tests compare these)."""
        out = {}
        for sid, s in sorted(self.sessions.items()):
            out[sid] = {
                "turns": [(t.index, t.role, t.text, t.event.value, t.skill, t.intent, t.act)
                          for t in s.turns],
                "frames": {k: {"intent": fr.intent, "status": fr.status,
                               "opened": (fr.opened_turn, fr.opened_by.value),
                               "slots": {n: (v.value, v.source, v.turn, v.event.value,
                                             v.from_skill, v.from_slot, v.rule,
                                             v.revises.value if v.revises else None)
                                         for n, v in sorted(fr.slots.items())},
                               "revised": [v.event.value for v in fr.history]}
                           for k, fr in sorted(s.frames.items())},
                "offer": (s.offer.intent, s.offer.event.value) if s.offer else None,
            }
        return out

    def to_quads(self, ids, graph: NamedNode | None = None) -> list[Quad]:
        """The current state as RDF (sessions, turns, frames and the values they hold now), for a
        state graph: ``graph`` defaults to ``<urn:hearth:{id}:dialogue>``."""
        g = graph or NamedNode(ids.base + "dialogue")
        out = []
        for sid, s in self.sessions.items():
            sess = session_iri(ids, sid)
            out.append(Quad(sess, RDF.type, HEARTH.Session, g))
            for t in s.turns:
                out += [Quad(sess, _h("hasTurn"), t.event, g),
                        Quad(t.event, P_TURN_INDEX, to_term(t.index), g)]
            for skill, fr in s.frames.items():
                node = frame_iri(ids, sid, skill)
                out += [Quad(node, RDF.type, FRAME, g), Quad(node, P_IN_SESSION, sess, g),
                        Quad(node, HEARTH.skillName, Literal(skill), g)]
                if fr.intent:
                    out.append(Quad(node, HEARTH.intentName, Literal(fr.intent), g))
                for v in fr.slots.values():
                    out += [Quad(node, _h("holds"), v.event, g)]
        return out


class _Projection:
    """A household's dialogue state, kept current by following its log."""

    def __init__(self, home: Household):
        self.lock = threading.RLock()
        self.state = DialogueState.replay(home)
        self._home = weakref.ref(home)
        home.log.subscribe(self)

    def __call__(self, appended: list[Appended]) -> None:
        home = self._home()
        if home is None:
            return
        with self.lock:
            for a in appended:
                if isinstance(a.event, E.EventRetracted) and \
                        a.event.retracts.value in self.state.session_of:
                    self.state = DialogueState.replay(home)
                    return
                self.state.apply(a.seq, a.iri, a.event)


_PROJECTIONS: "weakref.WeakKeyDictionary[Household, _Projection]" = weakref.WeakKeyDictionary()
_PROJECTIONS_LOCK = threading.Lock()


def dialogue_state(home: Household) -> DialogueState:
    """The household's current dialogue state (replayed from its log on first use, then kept
    current as events are appended)."""
    with _PROJECTIONS_LOCK:
        proj = _PROJECTIONS.get(home)
        if proj is None:
            proj = _PROJECTIONS[home] = _Projection(home)
    return proj.state


# ================================================================================================
# Carryover: the learned model, gated and complemented by ontology types
# ================================================================================================

@dataclass(frozen=True)
class CarryChoice:
    """A value to carry into ``slot`` of the new skill, from ``source`` (a value held)."""

    slot: str
    value: Any
    value_type: str
    source: SlotState
    score: float
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prefill:
    """A value a skill takes from the rest of the session: by ``rule`` (source "inferred") or by
    carryover (source "carried", with its ``score``), from ``source_value``."""

    slot: str
    value: Any
    value_type: str
    source: str
    source_value: SlotState
    rule: Rule | None = None
    score: float | None = None
    reason: str | None = None


def service_schemas(spec: DialogueSpec, catalogue=None) -> dict:
    """Each conversation skill as an SGD service schema (``Weather_90``, ``Routes_91`` …: the
    domain keeps the SGD statistics of that domain, the number keeps it apart from SGD's own
    services), with the slot descriptions of the spec."""
    from .carryover import IntentSpec as SgdIntent
    from .carryover import ServiceSchema, SlotSpec as SgdSlot
    from .skills import Catalogue
    if catalogue is None and spec._schemas is not None:
        return spec._schemas
    catalogue = catalogue or spec.catalogue or Catalogue.load()
    out = {}
    for i, (skill, slots) in enumerate(spec.services.items()):
        name = f"{spec.domains[skill]}_{90 + i}"
        sgd_slots = tuple(SgdSlot(name, s.name, s.description) for s in slots.values())
        intents = tuple(SgdIntent(it.name, it.label, False,
                                  tuple(x.name for x in it.slots if x.required),
                                  tuple(x.name for x in it.slots if not x.required))
                        for it in catalogue.skills[skill].intents)
        out[skill] = ServiceSchema(name, spec.descriptions[skill], sgd_slots, intents)
    spec._schemas = out
    return out


class _SharedMiniLM:
    """The process's MiniLM (``reasoner.embeddings``) as the carryover model's embedder, so the
    model is not loaded twice."""

    def __call__(self, texts):
        import numpy as np
        from .embeddings import get_encoder
        return np.asarray(get_encoder("minilm").encode(list(texts)), dtype=np.float32)


def _model_dirs(env: str, name: str) -> list[Path]:
    out = []
    if os.environ.get(env):
        out.append(Path(os.environ[env]))
    try:
        from .embeddings import cache_dir
        out.append(cache_dir() / "dialogue" / name)
    except ImportError:  # pragma: no cover
        pass
    return out


def load_carryover_model(path: str | Path | None = None, *, search: bool = True):
    """A fitted :class:`reasoner.carryover.CarryoverModel`: from ``path``, else
    ``$HEARTH_CARRYOVER_MODEL``, ``~/.cache/hearth/dialogue/carryover`` (``python -m
    reasoner.goals fit`` writes it) or the newest one ``hearth eval carryover`` cached in
    ``/tmp/hearth-cache``; None when there is none (carryover then uses ontology types alone)."""
    from .carryover import CarryoverModel
    candidates = [Path(path)] if path is not None else []
    if search and path is None:
        candidates += _model_dirs("HEARTH_CARRYOVER_MODEL", "carryover")
        eval_cache = Path("/tmp/hearth-cache")
        if eval_cache.is_dir():
            candidates += sorted(eval_cache.glob("carryover-v*"), key=lambda p: -p.stat().st_mtime)
    for p in candidates:
        if (p / "config.json").exists():
            try:
                return CarryoverModel.load(p, embedder=_SharedMiniLM())
            except Exception as err:  # another version's model: say so, go on without it
                log.warning("cannot use the carryover model in %s: %s", p, err)
        elif path is not None:
            raise DialogueError(f"{p} holds no saved CarryoverModel (no config.json); fit one "
                                "with `python -m reasoner.goals fit --sgd DIR`")
    return None


def carry_history(state: "DialogueState", schemas: Mapping[str, Any], *,
                  exclude_session: str | None = None, cache: dict | None = None):
    """What carried in a household's own conversations, as a
    :class:`reasoner.carryover.CarryHistory`: for every frame that opened while others held
    values, the values they held then (the latest of each slot before the frame opened) and what
    the frame's slots held in the end, once the user had kept, said or corrected them. Slots the
    user gave in the opening turn are left out (nothing was carried into them).
    ``exclude_session``: the conversation still going on. ``cache``: a dict kept between calls
    for the same household; a conversation is counted again only when its frames changed."""
    from .carryover import CarryHistory

    history = CarryHistory()
    for sid, session in state.sessions.items():
        if sid == exclude_session:
            continue
        key = _frames_key(session)
        hit = cache.get(sid) if cache is not None else None
        if hit is None or hit[0] != key:
            hit = (key, _session_carries(session, schemas))
            if cache is not None:
                cache[sid] = hit
        history.update(hit[1])
    return history


def _frames_key(session: "Session") -> tuple:
    """What a conversation's carry counts depend on: each frame's values and revisions."""
    return tuple((skill, fr.opened_turn, len(fr.history),
                  tuple(sorted((n, v.turn, v.source, repr(v.value)) for n, v in fr.slots.items())))
                 for skill, fr in session.frames.items())


def _session_carries(session: "Session", schemas: Mapping[str, Any]):
    """One conversation's part of :func:`carry_history`."""
    from .carryover import CarryHistory, ContextValue

    history = CarryHistory()
    for skill, frame in session.frames.items():
        schema = schemas.get(skill)
        if schema is None:
            continue
        context = []
        for other, fr in session.frames.items():
            if other == skill or other not in schemas:
                continue
            then: dict[str, SlotState] = {}
            for v in [*fr.history, *fr.slots.values()]:
                if v.turn < frame.opened_turn and \
                        v.turn >= getattr(then.get(v.slot), "turn", -1):
                    then[v.slot] = v
            for v in then.values():
                try:
                    slot = schemas[other].slot(v.slot)
                except Exception:
                    continue
                context.append(ContextValue(slot, spoken(v.value, v.value_type), turn=v.turn))
        if not context:
            continue
        opened = {n for n, v in frame.slots.items()
                  if v.source == "said" and v.turn == frame.opened_turn}
        filled = {n: (spoken(v.value, v.value_type),) for n, v in frame.slots.items()}
        history.add(context, schema, filled, exclude_slots=opened)
    return history


class Carryover:
    """Which values held in a session fill the slots of a skill that just became active.

    A pair (value held, target slot) must pass the ontology gate: the target may be carried into
    (``carry``, not a result), their catalogue types agree and are not times (rules derive those),
    and the value's class (its venue's kind when the directory knows it, else its slot's range)
    is the target's range or under it. Its score is the noisy-OR of a type prior (``type_prior``
    for what was said, carried, inferred or chosen; ``result_prior`` for values an answer gave)
    and the learned :class:`~reasoner.carryover.CarryoverModel`'s probability, when a model is
    given (it scores each pair from SGD statistics, slot-description similarity and value
    shape). Pairs are taken greedily above ``threshold``, most recent first among equals: a
    slot gets one value, a value fills one slot.
    """

    def __init__(self, spec: DialogueSpec | None = None, model=None, *, catalogue=None,
                 threshold: float = 0.5, type_prior: float = 0.8, result_prior: float = 0.6,
                 history_prior: float = 5.0):
        self.spec = spec or default_spec()
        self.schemas = service_schemas(self.spec, catalogue)
        self.threshold = threshold
        # how many of the household's own observations of a slot pair the score is worth
        self.history_prior = history_prior
        self.type_prior = type_prior
        self.result_prior = result_prior
        self.model = model
        if model is not None:
            model.register_schemas(list(self.schemas.values()))
            model.warm_up([s.name for s in self.schemas.values()])

    def compatible(self, value: SlotState, target: SlotInfo,
                   directory: Directory | None = None) -> str | None:
        """The class by which ``value`` may fill ``target`` (None: it may not)."""
        if not target.carry or target.result:
            return None
        src = self.spec.slot(value.skill, value.slot)
        src_type = src.type if src else self.spec.root(value.value_type)
        if src_type != target.type or target.type in ("Time", "Text", "Device", "Area"):
            return None
        cls = src.range if src else value.value_type
        if directory is not None and target.type == _PLACE:
            venue = directory.get(value.value)
            if venue is not None and venue.name.casefold() == str(value.value).casefold():
                cls = venue.kind
        return cls if self.spec.is_a(cls, target.range) else None

    def decide(self, held: Sequence[SlotState], skill: str, *, exclude: Iterable[str] = (),
               turn: int | None = None, directory: Directory | None = None,
               slots: Iterable[str] | None = None, learned: bool = True,
               history=None) -> list[CarryChoice]:
        """The values to carry into ``skill``'s ``slots`` (default: all of its slots but the
        ``exclude``d ones) from ``held`` (the values of the session's other frames).
        ``learned=False`` scores by types alone (what an offer would carry, cheaply: the model
        can only reorder values the types let through, since the type prior is above the
        threshold). ``history``: what carried in the household's earlier conversations
        (:func:`carry_history`), which updates each pair's score as evidence (a Dirichlet
        posterior whose prior, the score, is worth ``history_prior`` observations)."""
        exclude = set(exclude)
        infos = self.spec.services.get(skill, {})
        wanted = set(slots) if slots is not None else set(infos)
        targets = [s for n, s in infos.items() if n in wanted and n not in exclude]
        pairs = [(v, t, cls) for v in held if v.skill != skill and v.skill in self.spec.services
                 for t in targets
                 if (cls := self.compatible(v, t, directory)) is not None]
        if not pairs:
            return []
        use_model = learned and self.model is not None
        learned = self._learned(held, skill, exclude, turn) if use_model else {}
        scored = []
        for v, t, cls in pairs:
            src = self.spec.slot(v.skill, v.slot)
            prior = self.result_prior if (src and src.result and v.source == "offered") \
                else self.type_prior
            p_model, why = learned.get((v.skill, v.slot, t.name), (0.0, ()))
            p = 1.0 - (1.0 - prior) * (1.0 - p_model)
            reasons = (f"a {cls} fills {t.range} (prior {prior:.2f})",)
            if use_model:
                reasons += (f"learned carryover {p_model:.2f}",) + tuple(why[:2])
            k, m = self._observed(history, v, skill, t.name)
            if m:
                p = (k + self.history_prior * p) / (m + self.history_prior)
                reasons += (f"carried {k:g} of {m:g} times from {possessive(v.skill)} {v.slot} "
                            "in this household's conversations",)
            scored.append((p, v, t, reasons))
        scored.sort(key=lambda x: (-x[0], -x[1].turn, x[1].skill, x[1].slot, x[2].name))
        used_t, used_v, out = set(), set(), []
        for p, v, t, reasons in scored:
            if p < self.threshold:
                break
            key = (v.skill, v.slot)
            if t.name in used_t or key in used_v:
                continue
            used_t.add(t.name)
            used_v.add(key)
            out.append(CarryChoice(t.name, v.value, t.range, v, round(p, 4), reasons))
        return out

    def _observed(self, history, v: SlotState, skill: str, target: str) -> tuple[float, float]:
        if history is None or not history.seen or v.skill not in self.schemas:
            return 0.0, 0.0
        try:
            return history.rate(self.schemas[v.skill].slot(v.slot),
                                self.schemas[skill].slot(target))
        except Exception:  # a slot the schemas do not know: no evidence
            return 0.0, 0.0

    def _learned(self, held, skill, exclude, turn) -> dict:
        from .carryover import ContextValue
        ctx, index = [], {}
        for v in held:
            schema = self.schemas.get(v.skill)
            if schema is None or v.skill == skill:
                continue
            try:
                slot = schema.slot(v.slot)
            except Exception:
                continue
            origin = {"offered": "offer"}.get(v.source, "state")
            cv = ContextValue(slot, spoken(v.value, v.value_type), origin=origin, turn=v.turn)
            ctx.append(cv)
            index[id(cv)] = v
        if not ctx:
            return {}
        out = {}
        for cv, t, p in self.model.score_pairs(ctx, self.schemas[skill], exclude_slots=exclude,
                                               turn=turn):
            v = index[id(cv)]
            key = (v.skill, v.slot, t.name)
            if p > out.get(key, (-1.0,))[0]:
                out[key] = (float(p), ())
        return out


# ================================================================================================
# What answers: a skill backend (the demo's fixture, or a real service) behind a Protocol
# ================================================================================================

@dataclass(frozen=True)
class Request:
    """What a skill is asked in a turn: its frame's values after the turn (``values``), which
    changed (``changed``), the whole session (``frames``: skill → values) and when."""

    session: str
    skill: str
    intent: str | None
    values: Mapping[str, Any]
    changed: frozenset[str]
    frames: Mapping[str, Mapping[str, Any]]
    time: dt.datetime
    status: str = "open"


@dataclass(frozen=True)
class Response:
    """What the assistant says back: ``text``, the dialogue ``act``, and the values it gives
    (``offers``: slot → value; they become ``offered`` values of the frame)."""

    text: str
    act: str = "inform"
    skill: str | None = None
    intent: str | None = None
    offers: Mapping[str, Any] = field(default_factory=dict)


class Responder(Protocol):
    """A skill backend. ``respond`` answers a user turn; ``revise`` is told that values of frames
    it had already acted on (``status == "done"``) were revised by propagation, and says what it
    changed. ``directory``: the places it knows by name."""

    directory: Directory

    def respond(self, request: Request) -> Response | None: ...

    def revise(self, session: Session, revised: Mapping[str, Mapping[str, Any]],
               time: dt.datetime) -> Response | None: ...


# ================================================================================================
# The pipeline component
# ================================================================================================

_AFFIRM = re.compile(r"^\s*(yes|yeah|yep|yup|sure|ok|okay|please|please do|go ahead|sounds good|"
                     r"do it|why not|absolutely|definitely)\b[\s\w,!.]*$", re.IGNORECASE)
_DECLINE = re.compile(r"^\s*(no|nope|nah|not now|no thanks|no thank you|don't)\b", re.IGNORECASE)
VENUE_RULE = rule_iri("venue-names-skill")
OFFER_RULE = rule_iri("accepted-offer")
DECLINE_RULE = rule_iri("declined-offer")


class _Batch:
    """Events made in one ``process`` call, with the turn numbers and values they take (the
    projection sees them only once they are appended)."""

    def __init__(self, state: DialogueState):
        self.state = state
        self.events: list[E.Event] = []
        self.turns: dict[str, int] = {}
        self.latest: dict[tuple[str, str, str], SlotFilled] = {}

    def next_turn(self, sid: str) -> int:
        s = self.state.sessions.get(sid)
        n = self.turns.get(sid, s.next_turn if s else 1)
        self.turns[sid] = n + 1
        return n

    def last_turn(self, sid: str) -> int:
        s = self.state.sessions.get(sid)
        return self.turns.get(sid, s.next_turn if s else 1) - 1 or 1

    def add(self, event: E.Event) -> None:
        self.events.append(event)
        if isinstance(event, SlotFilled):
            self.latest[(event.session, event.skill, event.slot)] = event


class DialogueComponent:
    """The ``dialogue`` pipeline component (see the module docstring)."""

    name = "dialogue"
    consumes: tuple = ()   # set in __init__ (the goals' offer type is imported lazily)
    produces = DIALOGUE_TYPES

    def __init__(self, *, spec: DialogueSpec | None = None, carryover: Any = "auto",
                 responder: Responder | None = None, directory: Directory | None = None,
                 session_gap_minutes: float = 10.0, min_confidence: float = 0.5,
                 skills: Iterable[str] | None = None):
        from .patterns import SuggestionMade
        from .understanding import UtteranceInterpreted
        self.consumes = (UtteranceInterpreted, SystemTurnMade, SlotFilled, SuggestionMade)
        self._UtteranceInterpreted = UtteranceInterpreted
        self._SuggestionMade = SuggestionMade
        self.spec = spec or default_spec()
        self._carryover_arg = carryover
        self._carryover: Carryover | None = carryover if isinstance(carryover, Carryover) else None
        self._lock = threading.Lock()
        # per household's dialogue state: each conversation's carry counts (carry_history)
        self._carries: "weakref.WeakKeyDictionary[DialogueState, dict]" = weakref.WeakKeyDictionary()
        self.responder = responder
        self._directory = directory
        self.session_gap = dt.timedelta(minutes=session_gap_minutes)
        self.min_confidence = min_confidence
        self.skills = set(skills) if skills is not None else set(self.spec.services)

    # -- parts ------------------------------------------------------------------------------
    @property
    def directory(self) -> Directory:
        if self._directory is not None:
            return self._directory
        return getattr(self.responder, "directory", None) or Directory()

    @property
    def carryover(self) -> Carryover:
        with self._lock:
            if self._carryover is None:
                arg = self._carryover_arg
                model = None
                if arg == "auto":
                    model = load_carryover_model()
                elif arg not in (None, False):
                    model = load_carryover_model(arg) if isinstance(arg, (str, Path)) else arg
                self._carryover = Carryover(self.spec, model)
            return self._carryover

    # -- the pipeline's entry point ---------------------------------------------------------------
    def process(self, home: Household, appended: Sequence[Appended]) -> list[E.Event]:
        state = dialogue_state(home)
        batch = _Batch(state)
        fills = []
        for a in appended:
            ev = a.event
            if isinstance(ev, self._UtteranceInterpreted):
                self._user_turn(home, state, a, batch)
            elif isinstance(ev, SystemTurnMade):
                self._offered_values(state, a, batch)
            elif isinstance(ev, self._SuggestionMade) and ev.agent() == "component:goals":
                self._offer_turn(state, a, batch)
            elif isinstance(ev, SlotFilled):
                fills.append(a)
        if fills:
            self._propagate(state, fills, batch)
            self._reconfirm(state, fills, batch)
        return batch.events

    # -- a user turn ---------------------------------------------------------------------------
    def _user_turn(self, home: Household, state: DialogueState, item: Appended,
                   batch: _Batch) -> None:
        ev = item.event
        if not ev.derived_from:
            return
        try:
            heard = home.event(home.ids.seq_of(ev.derived_from[0]))
        except (ValueError, EventError):
            return
        if not isinstance(heard, E.UtteranceHeard):
            return
        sid = heard.session or self._auto_session(state, heard, home.ids.seq_of(ev.derived_from[0]))
        session = state.sessions.get(sid)
        intent, skill = ev.intent, ev.skill
        said = {k: v for k, v in (ev.slots or {}).items()}
        how, accepted = None, None
        shaky = ev.out_of_scope or (ev.confidence or 0.0) < self.min_confidence
        if session is not None and session.offer is not None and _AFFIRM.match(heard.text) \
                and len(heard.text.split()) <= 5:
            accepted = session.offer
            intent, skill, said, how = accepted.intent, accepted.skill, {}, OFFER_RULE
        elif shaky and self.directory:
            for venue in self.directory.find_in(heard.text):
                for cls, venue_intent in self.spec.venues.items():
                    if self.spec.is_a(venue.kind, cls):
                        intent, skill, how = venue_intent, venue_intent.split(".")[0], VENUE_RULE
                        said = {}
                        break
                if how:
                    break
        if skill is None and intent:
            skill = intent.split(".")[0]
        if session is not None and session.offer is not None and how is None and \
                _DECLINE.match(heard.text) and len(heard.text.split()) <= 5:
            batch.add(UserTurnMade(time=ev.time, derived_from=(item.iri,), session=sid,
                                    turn=batch.next_turn(sid), text=heard.text,
                                    utterance=ev.derived_from[0], speaker=heard.speaker,
                                    device=heard.device, rule=DECLINE_RULE))
            return
        if skill not in self.skills or skill not in self.spec.services:
            return
        turn = batch.next_turn(sid)
        batch.add(UserTurnMade(time=ev.time, derived_from=(item.iri,), session=sid, turn=turn,
                                text=heard.text, utterance=ev.derived_from[0], skill=skill,
                                intent=intent, speaker=heard.speaker, device=heard.device,
                                rule=how))
        frame = session.frames.get(skill) if session else None
        if frame is None:
            batch.add(FrameOpened(time=ev.time, derived_from=(item.iri,), session=sid,
                                  skill=skill, intent=intent, turn=turn))
        elif intent and frame.intent != intent:
            batch.add(FrameIntentChanged(time=ev.time, derived_from=(item.iri,), session=sid,
                                         skill=skill, intent=intent, turn=turn))
        current = dict(frame.slots) if frame else {}
        values = {k: v.value for k, v in current.items()}
        changed: set[str] = set()

        def fill(slot, value, value_type, source, derived, **kw):
            old = current.get(slot)
            if old is not None and old.value == value and old.source == source and \
                    old.from_skill == kw.get("from_skill"):
                return
            event = SlotFilled(time=ev.time, derived_from=derived, session=sid, skill=skill,
                               slot=slot, value=value, value_type=value_type, source=source,
                               turn=kw.pop("turn", turn), revises=old.event if old else None,
                               **kw)
            batch.add(event)
            values[slot] = value
            changed.add(slot)

        # what the user said (names snapped to the places the assistant knows)
        intent_slots = self.spec.intents.get(intent or "", [])
        for name, raw in said.items():
            info = self.spec.slot(skill, name)
            value_type = info.range if info else "Text"
            value = coerce(raw, info.type if info else None)
            if value in (None, ""):
                continue
            if info is not None and info.type == _PLACE:
                venue = self.directory.get(value)
                value = venue.name if venue is not None else value
            node = raw.get("node") if isinstance(raw, dict) else None
            score = raw.get("score") if isinstance(raw, dict) else None
            fill(name, value, value_type, "said", (item.iri,), node=node,
                 score=float(score) if isinstance(score, (int, float)) else None)
        # a place the user named that understanding left out
        for venue in self.directory.find_in(heard.text):
            if any(str(v) == venue.name for v in values.values()):
                continue
            for name in intent_slots:
                info = self.spec.slot(skill, name)
                if info and info.type == _PLACE and name not in said and name not in values \
                        and self.spec.is_a(venue.kind, info.range):
                    fill(name, venue.name, info.range, "said", (item.iri,),
                         reason=f'the user named {venue.name}, a place the assistant knows')
                    said[name] = venue.name
                    break
        # an accepted offer: its values, with their provenance
        if accepted is not None:
            for name, raw in accepted.slots.items():
                if name in said:
                    continue
                raw = raw if isinstance(raw, dict) else {"value": raw}
                info = self.spec.slot(skill, name)
                src_event = NamedNode(raw["event"]) if raw.get("event") else None
                fill(name, coerce(raw.get("value"), info.type if info else None),
                     info.range if info else "Text", "offered",
                     (item.iri, accepted.event) + ((src_event,) if src_event else ()),
                     from_skill=raw.get("from_skill"), from_slot=raw.get("from_slot"),
                     source_event=src_event, turn=accepted.turn,
                     reason=f"offered in turn {accepted.turn} and accepted")
        # a skill just became active (or changed intent): rules, then learned carryover
        if session is not None and (frame is None or accepted is not None or
                                    (intent and frame.intent != intent)):
            filled_by_user = {n for n, v in current.items() if v.source == "said"} | set(said)
            history = carry_history(state, self.carryover.schemas, exclude_session=sid,
                                    cache=self._carries.setdefault(state, {}))
            for p in self.prefill(session, skill, intent, exclude=filled_by_user,
                                  keep=set(values), turn=turn, history=history):
                fill(p.slot, p.value, p.value_type, p.source, (item.iri, p.source_value.event),
                     from_skill=p.source_value.skill, from_slot=p.source_value.slot,
                     source_event=p.source_value.event, rule=p.rule.iri if p.rule else None,
                     score=p.score, reason=p.reason)
        # the skill answers
        if self.responder is not None:
            frames = {k: fr.values() for k, fr in (session.frames.items() if session else ())}
            frames[skill] = dict(values)
            request = Request(sid, skill, intent, dict(values), frozenset(changed), frames,
                              ev.time, frame.status if frame else "open")
            try:
                response = self.responder.respond(request)
            except Exception:  # a failing backend must not stop the pipeline
                log.exception("the responder failed on %s", intent)
                response = None
            if response is not None:
                batch.add(self._system_turn(sid, batch, response, (item.iri,), ev.time,
                                            skill, intent))

    def prefill(self, session: Session, skill: str, intent: str | None, *,
                exclude: Iterable[str] = (), keep: Iterable[str] = (),
                turn: int | None = None, learned: bool = True,
                history=None) -> list["Prefill"]:
        """The values ``skill`` would take from the rest of ``session`` if it became active now
        with ``intent``: rule targets first (rules over everything but what the user said:
        ``exclude``), then the intent's other slots by carryover (not those in ``keep``, which
        hold values already; ``history``: what carried in the household's earlier
        conversations, :func:`carry_history`)."""
        out: list[Prefill] = []
        exclude, keep = set(exclude), set(keep)
        for rule in self.spec.rules_for(skill):
            target = rule.target[1]
            if target in exclude:
                continue
            src = self._rule_source(session, rule)
            if src is None:
                continue
            info = self.spec.slot(skill, target)
            out.append(Prefill(target, rule.apply(src.value), info.range, "inferred", src,
                               rule, None, rule.label))
            exclude.add(target)
        wanted = [n for n in self.spec.intents.get(intent or "", [])
                  if n not in keep and n not in exclude]
        if wanted:
            for c in self.carryover.decide(session.values(exclude=skill), skill,
                                           exclude=keep | exclude, turn=turn,
                                           directory=self.directory, slots=wanted,
                                           learned=learned, history=history):
                out.append(Prefill(c.slot, c.value, c.value_type, "carried", c.source, None,
                                   c.score, "; ".join(c.reasons)))
        return out

    def _system_turn(self, sid, batch, response: Response, derived, time, skill=None,
                     intent=None) -> SystemTurnMade:
        return SystemTurnMade(time=time, derived_from=tuple(derived), session=sid,
                              turn=batch.next_turn(sid), text=response.text, act=response.act,
                              skill=response.skill or skill, intent=response.intent or intent,
                              offers=dict(response.offers) if response.offers else None)

    def _auto_session(self, state: DialogueState, heard: E.UtteranceHeard, seq: int) -> str:
        key = heard.speaker or heard.device or "someone"
        sid = state.last_by_speaker.get(key)
        s = state.sessions.get(sid) if sid else None
        if s is not None and s.last_time is not None and \
                abs(heard.time - s.last_time) <= self.session_gap:
            return sid
        return f"{key}-{seq}"

    def _rule_source(self, session: Session, rule: Rule) -> SlotState | None:
        for skill, slot in rule.sources:
            v = session.value(skill, slot)
            if v is not None:
                return v
        return None

    # -- the system's values --------------------------------------------------------------------
    def _offered_values(self, state: DialogueState, item: Appended, batch: _Batch) -> None:
        ev = item.event
        if ev.act == "offer_intent" or not ev.offers or not ev.skill:
            return
        session = state.sessions.get(ev.session)
        frame = session.frames.get(ev.skill) if session else None
        for name, raw in ev.offers.items():
            info = self.spec.slot(ev.skill, name)
            value = coerce(raw, info.type if info else None)
            if value in (None, ""):
                continue
            old = frame.slots.get(name) if frame else None
            if old is not None and old.value == value:
                continue
            batch.add(SlotFilled(time=ev.time, derived_from=(item.iri,), session=ev.session,
                                 skill=ev.skill, slot=name, value=value,
                                 value_type=info.range if info else "Text", source="offered",
                                 turn=ev.turn, revises=old.event if old else None,
                                 reason=f"the {ev.skill} skill gave it in turn {ev.turn}"))

    def _offer_turn(self, state: DialogueState, item: Appended, batch: _Batch) -> None:
        ev = item.event
        session = next((state.session_for(r) for r in ev.derived_from
                        if state.session_for(r) is not None), None)
        if session is None or not ev.intent:
            return
        batch.add(SystemTurnMade(time=ev.time, derived_from=(item.iri,), session=session.id,
                                 turn=batch.next_turn(session.id), text=ev.text,
                                 act="offer_intent",
                                 skill=ev.intent.split(".")[0], intent=ev.intent,
                                 offers=dict(ev.slots or {})))

    # -- revisions propagate -----------------------------------------------------------------
    def _propagate(self, state: DialogueState, fills: Sequence[Appended], batch: _Batch) -> None:
        for a in fills:
            f_ev = a.event
            session = state.sessions.get(f_ev.session)
            if session is None:
                continue
            current = session.value(f_ev.skill, f_ev.slot)
            if current is None or current.event != a.iri:
                continue  # already revised again: the later value propagates
            turn = batch.last_turn(session.id)
            for skill, fr in session.frames.items():
                for slot, dep in fr.slots.items():
                    if skill == f_ev.skill or dep.source not in ("carried", "inferred"):
                        continue
                    rule = next((r for r in self.spec.rules if r.iri == dep.rule), None)
                    if rule is not None:
                        sources = list(rule.sources)
                        if (f_ev.skill, f_ev.slot) not in sources:
                            continue
                        src_now = self._rule_source(session, rule)
                        if src_now is None or src_now.event != a.iri:
                            continue   # a source ranked before it still holds
                        new = rule.apply(f_ev.value)
                    elif (dep.from_skill, dep.from_slot) == (f_ev.skill, f_ev.slot):
                        new = f_ev.value
                    else:
                        continue
                    latest = batch.latest.get((session.id, skill, slot))
                    if new == dep.value or (latest is not None and latest.value == new):
                        continue
                    batch.add(SlotFilled(
                        time=f_ev.time, derived_from=(a.iri,), session=session.id, skill=skill,
                        slot=slot, value=new, value_type=dep.value_type, source=dep.source,
                        turn=turn, from_skill=f_ev.skill, from_slot=f_ev.slot,
                        source_event=a.iri, rule=dep.rule, revises=dep.event, score=dep.score,
                        reason=f"{rule.label if rule else 'carried'}; {possessive(f_ev.skill)} "
                        f"{f_ev.slot} changed to {spoken(f_ev.value, f_ev.value_type)}"))
            # rules that can now fill a frame's empty slot
            for rule in self.spec.rules:
                if (f_ev.skill, f_ev.slot) not in rule.sources:
                    continue
                tskill, tslot = rule.target
                fr = session.frames.get(tskill)
                old = fr.slots.get(tslot) if fr is not None else None
                # a rule fills an empty slot, and overrides a value carried by type alone
                if fr is None or (old is not None and old.source != "carried") or \
                        (session.id, tskill, tslot) in batch.latest:
                    continue
                src = self._rule_source(session, rule)
                if src is None or src.event != a.iri:
                    continue
                info = self.spec.slot(tskill, tslot)
                batch.add(SlotFilled(
                    time=f_ev.time, derived_from=(a.iri,), session=session.id, skill=tskill,
                    slot=tslot, value=rule.apply(f_ev.value), value_type=info.range,
                    source="inferred", turn=turn, from_skill=f_ev.skill, from_slot=f_ev.slot,
                    source_event=a.iri, rule=rule.iri, revises=old.event if old else None,
                    reason=rule.label))

    def _reconfirm(self, state: DialogueState, fills: Sequence[Appended], batch: _Batch) -> None:
        """Frames a skill had acted on whose values propagation revised: the skill is told."""
        if self.responder is None:
            return
        by_session: dict[str, dict[str, dict[str, Any]]] = {}
        causes: dict[str, list[NamedNode]] = {}
        for a in fills:
            ev = a.event
            if ev.revises is None or ev.source not in ("carried", "inferred"):
                continue
            session = state.sessions.get(ev.session)
            frame = session.frames.get(ev.skill) if session else None
            if frame is None or frame.status != "done":
                continue
            by_session.setdefault(ev.session, {}).setdefault(ev.skill, {})[ev.slot] = ev.value
            causes.setdefault(ev.session, []).append(a.iri)
        for sid, revised in by_session.items():
            session = state.sessions[sid]
            time = max(a.event.time for a in fills if a.event.session == sid)
            try:
                response = self.responder.revise(session, revised, time)
            except Exception:
                log.exception("the responder failed to revise %s", sorted(revised))
                response = None
            if response is not None:
                batch.add(self._system_turn(sid, batch, response, causes[sid], time))


@register_component("dialogue")
def dialogue_component(**config) -> DialogueComponent:
    """The ``dialogue`` component; ``config`` goes to :class:`DialogueComponent` (e.g.
    ``carryover=None`` for ontology types alone, ``responder=…`` for a skill backend)."""
    return DialogueComponent(**config)


# ================================================================================================
# Asking the graph why
# ================================================================================================

#: The values a skill's frame holds now (not revised, not retracted), with where each came from.
#: Bind ``skill`` and ``slot`` (and optionally ``session``).
WHY_QUERY = """
SELECT ?session ?value ?source ?turn ?fromSkill ?fromSlot ?rule ?reason ?dependsOn ?revised
       ?fill ?when WHERE {
  ?fill a hearth:SlotFilled ; hearth:session ?session ; hearth:skillName ?skill ;
        hearth:slotName ?slot ; hearth:value ?value ; hearth:valueSource ?source ;
        hearth:turnIndex ?turn ; prov:generatedAtTime ?when .
  OPTIONAL { ?fill hearth:carriedFromSkill ?fromSkill ; hearth:carriedFromSlot ?fromSlot }
  OPTIONAL { ?fill hearth:rule ?rule }
  OPTIONAL { ?fill hearth:reason ?reason }
  OPTIONAL { ?fill hearth:carriedFrom ?dependsOn }
  OPTIONAL { ?fill hearth:revises ?revised }
  FILTER NOT EXISTS { ?later hearth:revises ?fill }
  FILTER NOT EXISTS { ?fill hearth:isRetracted true }
} ORDER BY DESC(?when)
"""


def slot_provenance(home: Household, skill: str, slot: str, *, session: str | None = None
                    ) -> list[dict[str, Any]]:
    """What ``skill``'s frame holds in ``slot`` now, and why: one row per session (the latest
    first), from :data:`WHY_QUERY`."""
    bindings: dict[str, Any] = {"skill": skill, "slot": slot}
    if session is not None:
        bindings["session"] = session_iri(home.ids, session)
    out = []
    for row in home.query(WHY_QUERY, bindings=bindings):
        d = {k: (None if v is None else v.value if isinstance(v, NamedNode) else to_python(v))
             for k, v in row.asdict().items()}
        d["source"] = _SOURCE_OF_IRI.get(d.get("source"), d.get("source"))
        d["value"] = _value_of_term(row["value"])   # as events hold it (ISO 8601 for times)
        out.append(d)
    return out


# ================================================================================================
# Sentences (timeline) and explanations (reasoner.explain)
# ================================================================================================

def describe_slot_filled(event: SlotFilled, state=None) -> str:
    value = spoken(event.value, event.value_type)
    how = {"said": "said", "offered": "offered by the system"}.get(event.source)
    if event.source == "carried":
        how = f"carried from {possessive(event.from_skill)} {event.from_slot}"
    elif event.source == "inferred":
        rule = (event.rule or "").rsplit("/", 1)[-1]
        how = f"inferred by {rule} from {possessive(event.from_skill)} {event.from_slot}"
    verb = "revised to" if event.revises else "is"
    return f"{event.skill} {event.slot} {verb} {value} ({how})"


def describe_user_turn(event: UserTurnMade, state=None) -> str:
    if event.rule == DECLINE_RULE:
        return f"Turn {event.turn} of session {event.session}: the offer declined"
    return f"Read as {event.intent or 'unfamiliar'} (turn {event.turn} of session {event.session})"


def describe_system_turn(event: SystemTurnMade, state=None) -> str:
    return f'Assistant: "{event.text}"'


def describe_frame(event: E.Event, state=None) -> str:
    if isinstance(event, FrameOpened):
        return f"{event.skill} became active ({event.intent})"
    return f"{event.skill} now serves {event.intent}"


DESCRIBERS = {SlotFilled: describe_slot_filled, UserTurnMade: describe_user_turn,
              SystemTurnMade: describe_system_turn, FrameOpened: describe_frame,
              FrameIntentChanged: describe_frame}


def why_line(event: E.Event) -> str | None:
    """One line saying why a dialogue conclusion was drawn (for the demo's timeline)."""
    if isinstance(event, SlotFilled):
        if event.source == "said":
            return f"↳ why: said in turn {event.turn}"
        if event.source == "offered":
            return f"↳ why: {event.reason or 'offered by the system'}"
        base = f"↳ why: {event.reason}" if event.reason else "↳ why:"
        if event.source == "carried":
            return (f"↳ why: carried from {possessive(event.from_skill)} {event.from_slot} (score "
                    f"{event.score:.2f}: {event.reason})" if event.score is not None else base)
        return base
    if isinstance(event, UserTurnMade) and event.rule:
        return {OFFER_RULE: "↳ why: accepts the offer just made",
                DECLINE_RULE: "↳ why: declines the offer just made",
                VENUE_RULE: f"↳ why: it names a place the {event.skill} skill answers about, "
                            "and no skill covered its words"}.get(event.rule)
    return None


def _register_explainers() -> None:
    try:
        from .explain import register_explainer
    except ImportError:  # pragma: no cover
        return

    def slot_filled(ctx, item):
        ev = item.event
        value = spoken(ev.value, ev.value_type)
        if ev.source == "said":
            sentence = f"{possessive(ev.skill)} {ev.slot} is {value} because you said so in turn {ev.turn}."
        elif ev.source == "carried":
            sentence = (f"{possessive(ev.skill)} {ev.slot} is {value}: carried from {possessive(ev.from_skill)} "
                        f"{ev.from_slot} when {ev.skill} became active ({ev.reason}).")
        elif ev.source == "inferred":
            sentence = (f"{possessive(ev.skill)} {ev.slot} is {value}: {ev.reason or 'inferred'}, from "
                        f"{possessive(ev.from_skill)} {ev.from_slot}.")
        else:
            sentence = f"{possessive(ev.skill)} {ev.slot} is {value}: {ev.reason or 'the system offered it'}."
        if ev.revises is not None:
            sentence += f" It revises the value of event {ev.revises.value.rsplit(':', 1)[-1]}."
        return ctx.explanation(item, kind="dialogue value", sentence=sentence,
                               what=describe_slot_filled(ev), source=ev.rule,
                               source_kind="rule" if ev.rule else None)

    def system_turn(ctx, item):
        ev = item.event
        return ctx.explanation(item, kind="system turn", what=f'said "{ev.text}"')

    register_explainer(SlotFilled, slot_filled)
    register_explainer(SystemTurnMade, system_turn, salient=True)


_register_explainers()
