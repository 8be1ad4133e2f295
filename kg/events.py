"""Event types: frozen records of what happened, and their RDF.

Every input (an utterance heard, a device state changed, a sensor observed, a person arrived …)
and every conclusion (an inferred fact, later goals, hunches, suggestions) is an ``Event``. The log
writes each one into its own named graph, with its provenance:

    GRAPH <urn:hearth:h1:event:42> {
      <…event:42> a hearth:DeviceStateChanged ;
          hearth:seq 42 ; prov:generatedAtTime "…"^^xsd:dateTime ; hearth:recordedAt "…" ;
          prov:wasAttributedTo <urn:hearth:h1:device:light.kitchen> ;
          hearth:device <urn:hearth:h1:device:light.kitchen> ; hearth:attribute "state" ;
          hearth:value "on" .
    }

The JSON form (one object a line in ``hearth ingest`` files) uses the field names below; see
``docs/events.md``. ``Event.from_json`` validates a JSON object and names the bad field.

>>> e = Event.from_json({"type": "PersonArrived", "time": "2026-11-25T18:00:00Z",
...                      "person": "alice"})
>>> e.person, e.agent()
('alice', 'person:alice')
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pyoxigraph import Literal, NamedNode, Quad, RdfFormat, Triple
import pyoxigraph as ox

from .errors import EventError, RDFSyntaxError
from .terms import HouseholdIRIs, format_datetime, parse_datetime, to_python, to_term
from .vocab import HEARTH, PROP, PROV, RDF, SCHEMA, SOSA, XSD

# Field kinds: how a JSON value is checked and how it becomes an RDF term.
#   device/area/floor/person/session: a local id, becomes a household IRI
#   text: a non-empty string; value: a string, number or boolean; time: ISO 8601 with a zone
#   event: an event reference (sequence number or event IRI); events: a list of those
#   json: any JSON value, stored as a JSON string; property: a property name


def f(kind: str, predicate: NamedNode | None = None, *, required: bool = True, default=None):
    """Declares an event field: its kind, the predicate on the event node, and if it is required."""
    meta = {"kind": kind, "predicate": predicate, "required": required}
    if required:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


_ID_KINDS = {"device", "area", "floor", "person", "session"}


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event. ``time`` is when it happened; ``by`` the agent it is attributed to
    (``person:ID``, ``device:ID``, ``component:ID`` or an IRI); ``derived_from`` the events a
    conclusion was drawn from."""

    time: dt.datetime
    by: str | None = None
    derived_from: tuple[NamedNode, ...] = ()

    rdf_type: ClassVar[NamedNode] = HEARTH.Event
    is_conclusion: ClassVar[bool] = False
    # Which projections this event type can change (the log re-reads only those on replay).
    changes_state: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.by is None:  # resolved once, so an event equals itself after a round trip
            object.__setattr__(self, "by", self.default_by())
        for fd in _time_fields(type(self)):  # an ISO 8601 string is taken, as from_json takes it
            value = getattr(self, fd.name)
            if isinstance(value, str):
                object.__setattr__(self, fd.name, _check_field(type(self), fd, value, None))

    # -- identity ----------------------------------------------------------------------------
    @classmethod
    def type_name(cls) -> str:
        return cls.__name__

    def default_by(self) -> str:
        return "component:hearth"

    def agent(self) -> str:
        return self.by or self.default_by()

    # -- RDF -------------------------------------------------------------------------------
    def payload(self, ev: NamedNode, seq: int, ids: HouseholdIRIs) -> list[tuple]:
        """The event's own triples (beyond type and provenance), as (s, p, o) tuples."""
        out = []
        for fd in dataclasses.fields(self):
            meta = fd.metadata
            pred = meta.get("predicate")
            value = getattr(self, fd.name)
            if pred is None or value is None:
                continue
            for v in (value if meta["kind"] == "events" else [value]):
                out.append((ev, pred, _field_term(meta["kind"], v, ids)))
        return out

    def quads(self, seq: int, ids: HouseholdIRIs, recorded_at: dt.datetime) -> list[Quad]:
        """The whole named graph of this event: type, provenance and payload."""
        ev = ids.event(seq)
        triples = [
            (ev, RDF.type, self.rdf_type),
            (ev, HEARTH.seq, Literal(str(seq), datatype=XSD.integer)),
            (ev, PROV.generatedAtTime, Literal(format_datetime(self.time), datatype=XSD.dateTime)),
            (ev, HEARTH.recordedAt, Literal(format_datetime(recorded_at), datatype=XSD.dateTime)),
            (ev, PROV.wasAttributedTo, ids.agent(self.agent())),
        ]
        triples.extend((ev, PROV.wasDerivedFrom, src) for src in self.derived_from)
        triples.extend(self.payload(ev, seq, ids))
        return [Quad(s, p, o, ev) for s, p, o in triples]

    # -- JSON ------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, obj: Any, *, ids: HouseholdIRIs | None = None) -> "Event":
        """Validates a JSON object and builds the event; errors name the field."""
        if not isinstance(obj, dict):
            raise EventError(f"an event is a JSON object, got {type(obj).__name__}")
        name = obj.get("type")
        if not isinstance(name, str):
            raise EventError("every event needs a 'type', e.g. \"SensorObserved\"", field="type")
        event_cls = event_type(name)
        return event_cls._from_fields(obj, ids)

    @classmethod
    def _from_fields(cls, obj: dict, ids: HouseholdIRIs | None) -> "Event":
        known = {fd.name for fd in dataclasses.fields(cls)} | {"type"}
        for key in obj:
            if key == "seq" and key not in known:
                raise EventError(
                    "'seq' is given by the log when an event is appended, not by its input: drop "
                    "it (`hearth events --json` prints it for reading; `hearth export` copies a "
                    "whole household, conclusions and all)", field="seq")
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise EventError(f"{cls.type_name()} has no field {key!r}{hint}; its fields are "
                                 f"{', '.join(sorted(known - {'type'}))}", field=key)
        kwargs: dict[str, Any] = {}
        for fd in dataclasses.fields(cls):
            if fd.name not in obj or obj[fd.name] is None:
                if fd.metadata.get("required") or fd.name == "time":
                    raise EventError(f"{cls.type_name()} needs {fd.name!r}", field=fd.name)
                continue
            kwargs[fd.name] = _check_field(cls, fd, obj[fd.name], ids)
        event = cls(**kwargs)
        if cls.is_conclusion and not event.derived_from:
            raise EventError(f"{cls.type_name()} is a conclusion: it needs derived_from, the "
                             "events it was drawn from", field="derived_from")
        event.check()
        return event

    def check(self) -> None:
        """Cross-field checks beyond each field's kind (overridden where needed)."""

    def to_json(self) -> dict:
        out: dict[str, Any] = {"type": self.type_name()}
        for fd in dataclasses.fields(self):
            value = getattr(self, fd.name)
            if value is None or value == () or (fd.name == "by" and value is None):
                continue
            out[fd.name] = _json_value(fd.metadata.get("kind"), value, fd.name)
        return out

    # -- back from RDF (replay) -------------------------------------------------------------
    @classmethod
    def from_quads(cls, quads: Iterable[Quad], ids: HouseholdIRIs) -> "Event":
        """Rebuilds an event from its named graph."""
        quads = list(quads)
        if not quads:
            raise EventError("the event graph is empty")
        ev = quads[0].graph_name
        props: dict[NamedNode, list] = {}
        types = []
        for q in quads:
            if q.subject == ev:
                if q.predicate == RDF.type:
                    types.append(q.object)
                else:
                    props.setdefault(q.predicate, []).append(q.object)
        by_type = {c.rdf_type: c for c in EVENT_TYPES.values()}
        event_cls = next((by_type[t] for t in types if t in by_type), None)
        if event_cls is None:
            raise EventError(f"{ev} has no known event type (types: {types})")
        return event_cls._from_rdf(ev, props, quads, ids)

    @classmethod
    def _from_rdf(cls, ev, props, quads, ids) -> "Event":
        kwargs: dict[str, Any] = {
            "time": to_python(props[PROV.generatedAtTime][0]),
            "by": agent_ref(props[PROV.wasAttributedTo][0], ids),
            "derived_from": tuple(props.get(PROV.wasDerivedFrom, ())),
        }
        for fd in dataclasses.fields(cls):
            pred = fd.metadata.get("predicate")
            if pred is None or pred not in props:
                continue
            values = [_from_term(fd.metadata["kind"], t, ids) for t in props[pred]]
            kwargs[fd.name] = tuple(values) if fd.metadata["kind"] == "events" else values[0]
        return cls(**kwargs)


def agent_ref(term: NamedNode, ids: HouseholdIRIs) -> str:
    value = term.value
    for kind in ("person", "device", "component"):
        head = f"{ids.base}{kind}:"
        if value.startswith(head):
            from urllib.parse import unquote
            return f"{kind}:{unquote(value[len(head):])}"
    return value


def _field_term(kind: str, value: Any, ids: HouseholdIRIs):
    if kind in _ID_KINDS:
        return ids.node(kind, value)
    if kind == "property":
        return PROP[value]
    if kind in ("event", "events"):
        return value if isinstance(value, NamedNode) else ids.event(int(value))
    if kind == "json":
        return Literal(json.dumps(value, sort_keys=True))
    if kind == "iri":
        return NamedNode(value)
    return to_term(value)


def _from_term(kind: str, term, ids: HouseholdIRIs):
    from urllib.parse import unquote
    if kind in _ID_KINDS:
        head = f"{ids.base}{kind}:"
        return unquote(term.value[len(head):]) if term.value.startswith(head) else term.value
    if kind == "property":
        return term.value[len(PROP.base):] if term.value.startswith(PROP.base) else term.value
    if kind in ("event", "events"):
        return term
    if kind == "json":
        return json.loads(term.value)
    if kind == "iri":
        return term.value
    return to_python(term)


def _json_value(kind: str | None, value: Any, name: str):
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if kind in ("event", "events") or name == "derived_from":
        items = value if isinstance(value, tuple) else (value,)
        refs = [v.value if isinstance(v, NamedNode) else v for v in items]
        return refs if isinstance(value, tuple) else refs[0]
    return value


_LOCAL_ID_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-~:/@ ")


_TIME_FIELDS: dict[type, tuple[dataclasses.Field, ...]] = {}


def _time_fields(cls) -> tuple[dataclasses.Field, ...]:
    """The fields of an event class that hold a date-time (computed once per class)."""
    found = _TIME_FIELDS.get(cls)
    if found is None:
        found = _TIME_FIELDS[cls] = tuple(fd for fd in dataclasses.fields(cls) if fd.name == "time"
                                          or fd.metadata.get("kind") == "time")
    return found


def _check_field(cls, fd, value, ids):
    kind = fd.metadata.get("kind")
    name = fd.name
    where = cls.type_name()
    if name == "time" or kind == "time":
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                raise EventError(f"{where}.{name} has no time zone", field=name)
            return value
        if not isinstance(value, str):
            raise EventError(f"{where}.{name} must be an ISO 8601 date-time string", field=name)
        try:
            return parse_datetime(value)
        except ValueError as err:
            raise EventError(f"{where}.{name}: {err}", field=name) from None
    if name == "by":
        if not isinstance(value, str):
            raise EventError("'by' must be 'person:ID', 'device:ID', 'component:ID' or an IRI",
                             field=name)
        try:
            (ids or HouseholdIRIs("x")).agent(value)
        except ValueError as err:
            raise EventError(str(err), field=name) from None
        return value
    if name == "derived_from" or kind in ("event", "events"):
        items = value if isinstance(value, (list, tuple)) else [value]
        if kind == "event" and isinstance(value, (list, tuple)):
            raise EventError(f"{where}.{name} is one event reference, not a list", field=name)
        refs = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, str, NamedNode)):
                raise EventError(f"{where}.{name}: an event reference is a sequence number or an "
                                 "event IRI", field=name)
            if isinstance(item, int):
                if item < 1:
                    raise EventError(f"{where}.{name}: sequence numbers start at 1", field=name)
                refs.append(item if ids is None else ids.event(item))
            elif isinstance(item, NamedNode):
                refs.append(item)
            else:
                try:
                    if ids is not None:
                        ids.seq_of(item)
                    refs.append(NamedNode(item))
                except ValueError as err:
                    raise EventError(f"{where}.{name}: {err}", field=name) from None
        if name == "derived_from" or kind == "events":
            return tuple(refs)
        return refs[0]
    if kind in _ID_KINDS:
        if not isinstance(value, str) or not value.strip():
            raise EventError(f"{where}.{name} must be a non-empty id string", field=name)
        if not set(value) <= _LOCAL_ID_OK:
            raise EventError(f"{where}.{name} {value!r} has characters an id cannot hold: use "
                             "letters, digits and . _ - ~ : / @ or spaces", field=name)
        return value
    if kind == "property":
        if not isinstance(value, str) or not value.replace("_", "").isalnum():
            raise EventError(f"{where}.{name} must be a property name such as 'temperature'",
                             field=name)
        return value
    if kind == "text":
        if not isinstance(value, str) or not value.strip():
            raise EventError(f"{where}.{name} must be a non-empty string", field=name)
        return value
    if kind == "value":
        if not isinstance(value, (str, int, float, bool)):
            raise EventError(f"{where}.{name} must be a string, a number or a boolean", field=name)
        if isinstance(value, float) and value != value:
            raise EventError(f"{where}.{name} is NaN", field=name)
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EventError(f"{where}.{name} must be a number", field=name)
        return value
    if kind == "json":
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise EventError(f"{where}.{name} must be JSON", field=name) from None
        return value
    if kind == "iri":
        try:
            NamedNode(value)
        except (TypeError, ValueError) as err:
            raise EventError(f"{where}.{name} is not an IRI: {err}", field=name) from None
        return value
    if kind == "rdf":
        if not isinstance(value, str):
            raise EventError(f"{where}.{name} must be RDF text (Turtle or N-Triples)", field=name)
        return value
    raise AssertionError(f"unknown field kind {kind}")


# --------------------------------------------------------------------------------------------
# The event types. Input events describe what the assistant heard or sensed; conclusions what
# the engine inferred. Other packages register more with ``register_event_type``.

EVENT_TYPES: dict[str, type[Event]] = {}


def register_event_type(cls: type[Event]) -> type[Event]:
    """Makes an event type known to the JSON reader and to replay (by class name)."""
    name = cls.type_name()
    if name in EVENT_TYPES and EVENT_TYPES[name] is not cls:
        raise ValueError(f"event type {name} is already registered")
    EVENT_TYPES[name] = cls
    return cls


def event_type(name: str) -> type[Event]:
    try:
        return EVENT_TYPES[name]
    except KeyError:
        close = difflib.get_close_matches(name, EVENT_TYPES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise EventError(f"unknown event type {name!r}.{hint} Known types: "
                         f"{', '.join(sorted(EVENT_TYPES))}", field="type") from None


@register_event_type
@dataclass(frozen=True, kw_only=True)
class HouseholdCreated(Event):
    """The first event of every household."""

    name: str = f("text", HEARTH.name)
    rdf_type: ClassVar = HEARTH.HouseholdCreated
    changes_state: ClassVar = True


@register_event_type
@dataclass(frozen=True, kw_only=True)
class FloorAdded(Event):
    floor: str = f("floor", HEARTH.floor)
    name: str = f("text", HEARTH.name)
    rdf_type: ClassVar = HEARTH.FloorAdded
    changes_state: ClassVar = True


@register_event_type
@dataclass(frozen=True, kw_only=True)
class AreaAdded(Event):
    """A room or other area of the home, optionally on a floor."""

    area: str = f("area", HEARTH.area)
    name: str = f("text", HEARTH.name)
    floor: str | None = f("floor", HEARTH.floor, required=False)
    rdf_type: ClassVar = HEARTH.AreaAdded
    changes_state: ClassVar = True


# Device kinds (Home Assistant domains and common names) and the ontology class each maps to.
DEVICE_KINDS = {
    "light": HEARTH.Light, "switch": HEARTH.Switch, "climate": HEARTH.Thermostat,
    "thermostat": HEARTH.Thermostat, "lock": HEARTH.Lock, "cover": HEARTH.Cover,
    "garage_door": HEARTH.GarageDoor, "door": HEARTH.Door, "fan": HEARTH.Fan,
    "media_player": HEARTH.MediaPlayer, "tv": HEARTH.Television, "speaker": HEARTH.Speaker,
    "vacuum": HEARTH.Vacuum, "appliance": HEARTH.Appliance, "sensor": HEARTH.Sensor,
    "binary_sensor": HEARTH.Sensor, "contact_sensor": HEARTH.ContactSensor,
    "motion_sensor": HEARTH.MotionSensor, "temperature_sensor": HEARTH.TemperatureSensor,
    "device": HEARTH.Device,
}


@register_event_type
@dataclass(frozen=True, kw_only=True)
class DeviceAdded(Event):
    """A device or sensor joined the household. ``kind`` is one of ``DEVICE_KINDS``."""

    device: str = f("device", HEARTH.device)
    name: str = f("text", HEARTH.name)
    kind: str = f("text", HEARTH.kind)
    area: str | None = f("area", HEARTH.area, required=False)
    device_class: str | None = f("text", HEARTH.deviceClass, required=False)
    rdf_type: ClassVar = HEARTH.DeviceAdded
    changes_state: ClassVar = True

    def check(self) -> None:
        if self.kind not in DEVICE_KINDS:
            close = difflib.get_close_matches(self.kind, DEVICE_KINDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise EventError(f"unknown device kind {self.kind!r}{hint}; known kinds: "
                             f"{', '.join(sorted(DEVICE_KINDS))}", field="kind")


@register_event_type
@dataclass(frozen=True, kw_only=True)
class PersonAdded(Event):
    person: str = f("person", HEARTH.person)
    name: str = f("text", HEARTH.name)
    rdf_type: ClassVar = HEARTH.PersonAdded
    changes_state: ClassVar = True


@register_event_type
@dataclass(frozen=True, kw_only=True)
class SensorObserved(Event):
    """A sensor reading, recorded as a SOSA observation (its own node in the event graph)."""

    sensor: str = f("device")
    property: str = f("property")
    value: Any = f("value")
    unit: str | None = f("text", required=False)
    rdf_type: ClassVar = HEARTH.SensorObserved

    def default_by(self) -> str:
        return f"device:{self.sensor}"

    def payload(self, ev, seq, ids):
        obs = ids.observation(seq)
        out = [
            (obs, RDF.type, SOSA.Observation),
            (obs, SOSA.madeBySensor, ids.device(self.sensor)),
            (obs, SOSA.observedProperty, PROP[self.property]),
            (obs, SOSA.hasSimpleResult, to_term(self.value)),
            (obs, SOSA.resultTime, Literal(format_datetime(self.time), datatype=XSD.dateTime)),
        ]
        if self.unit:
            out.append((obs, HEARTH.unit, Literal(self.unit)))
        return out

    @classmethod
    def _from_rdf(cls, ev, props, quads, ids):
        obs = {q.predicate: q.object for q in quads if q.subject != ev}
        from urllib.parse import unquote
        sensor = obs[SOSA.madeBySensor].value
        return cls(time=to_python(props[PROV.generatedAtTime][0]),
                   by=agent_ref(props[PROV.wasAttributedTo][0], ids),
                   sensor=unquote(sensor[len(ids.base + "device:"):]),
                   property=obs[SOSA.observedProperty].value[len(PROP.base):],
                   value=to_python(obs[SOSA.hasSimpleResult]),
                   unit=obs[HEARTH.unit].value if HEARTH.unit in obs else None)


@register_event_type
@dataclass(frozen=True, kw_only=True)
class DeviceStateChanged(Event):
    """A device's state (``attribute`` "state") or one of its attributes took a new value."""

    device: str = f("device", HEARTH.device)
    value: Any = f("value", HEARTH.value)
    attribute: str = f("text", HEARTH.attribute, required=False, default="state")
    rdf_type: ClassVar = HEARTH.DeviceStateChanged
    changes_state: ClassVar = True

    def default_by(self) -> str:
        return f"device:{self.device}"


@register_event_type
@dataclass(frozen=True, kw_only=True)
class CommandIssued(Event):
    """Someone (or a routine) asked a device to act: turn_on, set_temperature, lock …; a
    setting names the ``attribute`` its value is for ("set", brightness, 100)."""

    device: str = f("device", HEARTH.device)
    command: str = f("text", HEARTH.command)
    value: Any = f("value", HEARTH.value, required=False)
    attribute: str | None = f("text", HEARTH.attribute, required=False)
    rdf_type: ClassVar = HEARTH.CommandIssued


@register_event_type
@dataclass(frozen=True, kw_only=True)
class UtteranceHeard(Event):
    text: str = f("text", HEARTH.text)
    speaker: str | None = f("person", HEARTH.speaker, required=False)
    device: str | None = f("device", HEARTH.device, required=False)
    session: str | None = f("session", HEARTH.session, required=False)
    rdf_type: ClassVar = HEARTH.UtteranceHeard

    def check(self) -> None:
        if isinstance(self.text, str) and not self.text.strip():
            raise EventError("UtteranceHeard.text is empty: an utterance is recorded with its "
                             "words (leave silence and empty transcripts out of the log)",
                             field="text")

    def default_by(self) -> str:
        if self.speaker:
            return f"person:{self.speaker}"
        if self.device:
            return f"device:{self.device}"
        return "component:hearth"


@register_event_type
@dataclass(frozen=True, kw_only=True)
class PersonArrived(Event):
    person: str = f("person", HEARTH.person)
    area: str | None = f("area", HEARTH.area, required=False)
    rdf_type: ClassVar = HEARTH.PersonArrived
    changes_state: ClassVar = True

    def default_by(self) -> str:
        return f"person:{self.person}"


@register_event_type
@dataclass(frozen=True, kw_only=True)
class PersonLeft(Event):
    person: str = f("person", HEARTH.person)
    rdf_type: ClassVar = HEARTH.PersonLeft
    changes_state: ClassVar = True

    def default_by(self) -> str:
        return f"person:{self.person}"


@register_event_type
@dataclass(frozen=True, kw_only=True)
class CalendarEntryAdded(Event):
    title: str = f("text", HEARTH.title)
    start: dt.datetime = f("time", HEARTH.start)
    end: dt.datetime = f("time", HEARTH.end)
    person: str | None = f("person", HEARTH.person, required=False)
    location: str | None = f("text", SCHEMA.location, required=False)
    rdf_type: ClassVar = HEARTH.CalendarEntryAdded

    def check(self) -> None:
        if self.end < self.start:
            raise EventError("CalendarEntryAdded.end is before its start", field="end")


@register_event_type
@dataclass(frozen=True, kw_only=True)
class DefinitionTaught(Event):
    """A user taught a phrase a meaning ("reading mode" → lights all the way up)."""

    phrase: str = f("text", HEARTH.phrase)
    meaning: Any = f("json", HEARTH.meaning)
    person: str | None = f("person", HEARTH.person, required=False)
    rdf_type: ClassVar = HEARTH.DefinitionTaught
    changes_state: ClassVar = True


@register_event_type
@dataclass(frozen=True, kw_only=True)
class FactsAsserted(Event):
    """Facts given as RDF (Turtle or N-Triples), kept in the event's graph."""

    rdf: str = f("rdf")
    rdf_type: ClassVar = HEARTH.FactsAsserted

    def check(self) -> None:
        parse_triples(self.rdf)

    def payload(self, ev, seq, ids):
        return [(t.subject, t.predicate, t.object) for t in parse_triples(self.rdf)]

    @classmethod
    def _from_rdf(cls, ev, props, quads, ids):
        return cls(time=to_python(props[PROV.generatedAtTime][0]),
                   by=agent_ref(props[PROV.wasAttributedTo][0], ids), rdf=_facts_text(ev, quads))


_META = {HEARTH.seq, PROV.generatedAtTime, HEARTH.recordedAt, PROV.wasAttributedTo,
         PROV.wasDerivedFrom, HEARTH.rule}


def _facts_text(ev: NamedNode, quads: list[Quad]) -> str:
    """The facts of an event graph: everything but the event node's own type and provenance."""
    facts = [q for q in quads if not (q.subject == ev and (
        q.predicate in _META or (q.predicate == RDF.type and q.object.value.startswith(HEARTH.base))))]
    return "".join(f"{q.subject} {q.predicate} {q.object} .\n" for q in facts)


@register_event_type
@dataclass(frozen=True, kw_only=True)
class EventRetracted(Event):
    """A correction: the event ``retracts`` no longer holds. Nothing is deleted; projections and
    queries that honour retractions skip it."""

    retracts: NamedNode = f("event", HEARTH.retracts)
    reason: str = f("text", HEARTH.reason)
    rdf_type: ClassVar = HEARTH.EventRetracted
    changes_state: ClassVar = True


@register_event_type
@dataclass(frozen=True, kw_only=True)
class FactInferred(Event):
    """A conclusion: facts derived by a rule or a model from earlier events."""

    rdf: str = f("rdf")
    rule: str | None = f("iri", HEARTH.rule, required=False)
    rdf_type: ClassVar = HEARTH.FactInferred
    is_conclusion: ClassVar = True

    def check(self) -> None:
        parse_triples(self.rdf)

    def default_by(self) -> str:
        return "component:reasoner"

    def payload(self, ev, seq, ids):
        out = [(t.subject, t.predicate, t.object) for t in parse_triples(self.rdf)]
        if self.rule:
            out.append((ev, HEARTH.rule, NamedNode(self.rule)))
        return out

    @classmethod
    def _from_rdf(cls, ev, props, quads, ids):
        return cls(time=to_python(props[PROV.generatedAtTime][0]),
                   by=agent_ref(props[PROV.wasAttributedTo][0], ids),
                   derived_from=tuple(props.get(PROV.wasDerivedFrom, ())),
                   rdf=_facts_text(ev, quads),
                   rule=props[HEARTH.rule][0].value if HEARTH.rule in props else None)


def parse_triples(text: str) -> list[Triple]:
    """Parses Turtle (which N-Triples is a subset of) into triples; reports the line on error."""
    try:
        quads = list(ox.parse(text, format=RdfFormat.TURTLE))
    except SyntaxError as err:
        raise RDFSyntaxError(f"the RDF does not parse as Turtle: {err}") from err
    return [q.triple for q in quads]
