"""The current state of a household: a projection of its event log.

``HouseholdState`` holds what the log says now: the household's name, floors, areas, devices,
people, each device's current state and attributes, who is home, and taught definitions. It is
never edited directly: ``apply(seq, event)`` folds one event in and returns the change to the
state graph (quads to remove, quads to add), which the log writes in the same transaction as the
event. Replaying the log from the start rebuilds it identically.

Every state value keeps the event it came from (``prov:wasDerivedFrom``), so SPARQL can ask why a
device is on.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from pyoxigraph import Literal, NamedNode, Quad

from . import events as E
from .terms import HouseholdIRIs, format_datetime, to_python, to_term
from .vocab import HEARTH, PROV, RDF, RDFS, XSD


@dataclass(frozen=True)
class StateValue:
    value: Any
    since: dt.datetime
    event: NamedNode


@dataclass(frozen=True)
class Thing:
    """A floor, area, device or person of the household."""

    id: str
    name: str
    kind: str | None = None
    area: str | None = None
    floor: str | None = None
    device_class: str | None = None
    added_by: NamedNode | None = None


@dataclass
class HouseholdState:
    household_id: str
    name: str | None = None
    floors: dict[str, Thing] = field(default_factory=dict)
    areas: dict[str, Thing] = field(default_factory=dict)
    devices: dict[str, Thing] = field(default_factory=dict)
    people: dict[str, Thing] = field(default_factory=dict)
    device_states: dict[tuple[str, str], StateValue] = field(default_factory=dict)
    presence: dict[str, StateValue] = field(default_factory=dict)
    definitions: dict[str, StateValue] = field(default_factory=dict)
    retracted: set[NamedNode] = field(default_factory=set)
    seq: int = 0  # the last state-changing event applied

    # -- reading -----------------------------------------------------------------------------
    def device_state(self, device: str, attribute: str = "state") -> Any:
        sv = self.device_states.get((device, attribute))
        return None if sv is None else sv.value

    def who_is_home(self) -> list[str]:
        return sorted(p for p, sv in self.presence.items() if sv.value == "home")

    def devices_in(self, area: str) -> list[Thing]:
        return [d for d in self.devices.values() if d.area == area]

    def name_of(self, kind: str, ident: str) -> str:
        table = {"device": self.devices, "area": self.areas, "person": self.people,
                 "floor": self.floors}[kind]
        thing = table.get(ident)
        return thing.name if thing else ident

    def snapshot(self) -> dict:
        """A plain, comparable summary (replay tests compare these)."""
        return {
            "name": self.name,
            "floors": {k: v.name for k, v in self.floors.items()},
            "areas": {k: (v.name, v.floor) for k, v in self.areas.items()},
            "devices": {k: (v.name, v.kind, v.area) for k, v in self.devices.items()},
            "people": {k: v.name for k, v in self.people.items()},
            "device_states": {f"{d}/{a}": (sv.value, format_datetime(sv.since), sv.event.value)
                              for (d, a), sv in sorted(self.device_states.items())},
            "presence": {p: (sv.value, sv.event.value) for p, sv in sorted(self.presence.items())},
            "definitions": {k: (json.dumps(sv.value, sort_keys=True), sv.event.value)
                            for k, sv in sorted(self.definitions.items())},
            "retracted": sorted(r.value for r in self.retracted),
            "seq": self.seq,
        }

    # -- folding events in --------------------------------------------------------------------
    def apply(self, seq: int, event: E.Event, ids: HouseholdIRIs) -> tuple[list[Quad], list[Quad]]:
        """Folds one event into the state; returns the state graph's (removed, added) quads.

        Events that do not change state return two empty lists. A retraction of a
        state-changing event is handled by the caller (a rebuild), see ``EventLog``.
        """
        if not event.changes_state:
            return [], []
        before = self._quads_of(event, ids)
        ev = ids.event(seq)
        t = event.time
        if isinstance(event, E.HouseholdCreated):
            self.name = event.name
        elif isinstance(event, E.FloorAdded):
            self.floors[event.floor] = Thing(event.floor, event.name, added_by=ev)
        elif isinstance(event, E.AreaAdded):
            self.areas[event.area] = Thing(event.area, event.name, floor=event.floor, added_by=ev)
        elif isinstance(event, E.DeviceAdded):
            self.devices[event.device] = Thing(event.device, event.name, kind=event.kind,
                                               area=event.area, device_class=event.device_class,
                                               added_by=ev)
        elif isinstance(event, E.PersonAdded):
            self.people[event.person] = Thing(event.person, event.name, added_by=ev)
        elif isinstance(event, E.DeviceStateChanged):
            self.device_states[(event.device, event.attribute)] = StateValue(event.value, t, ev)
        elif isinstance(event, E.PersonArrived):
            self.presence[event.person] = StateValue("home", t, ev)
        elif isinstance(event, E.PersonLeft):
            self.presence[event.person] = StateValue("away", t, ev)
        elif isinstance(event, E.DefinitionTaught):
            self.definitions[event.phrase.strip().lower()] = StateValue(event.meaning, t, ev)
        elif isinstance(event, E.EventRetracted):
            self.retracted.add(event.retracts)
        else:
            apply_extension = STATE_REDUCERS.get(type(event))
            if apply_extension is None:
                raise TypeError(f"{type(event).__name__} changes state but has no reducer")
            apply_extension(self, seq, event, ids)
        old_seq = self.seq
        self.seq = seq
        after = self._quads_of(event, ids)
        removed = [q for q in before if q not in after]
        added = [q for q in after if q not in before]
        removed.append(_seq_quad(ids, old_seq))
        added.append(_seq_quad(ids, seq))
        return removed, added

    def _quads_of(self, event: E.Event, ids: HouseholdIRIs) -> list[Quad]:
        """The state quads an event can touch (compared before and after applying it)."""
        g = ids.state_graph
        if isinstance(event, E.HouseholdCreated):
            return self._household_quads(ids)
        if isinstance(event, E.FloorAdded):
            return _thing_quads("floor", self.floors.get(event.floor), ids)
        if isinstance(event, E.AreaAdded):
            return _thing_quads("area", self.areas.get(event.area), ids)
        if isinstance(event, E.DeviceAdded):
            return _thing_quads("device", self.devices.get(event.device), ids)
        if isinstance(event, E.PersonAdded):
            return _thing_quads("person", self.people.get(event.person), ids)
        if isinstance(event, E.DeviceStateChanged):
            key = (event.device, event.attribute)
            return _state_quads(ids.device(event.device), event.attribute,
                                self.device_states.get(key), ids)
        if isinstance(event, (E.PersonArrived, E.PersonLeft)):
            sv = self.presence.get(event.person)
            out = _state_quads(ids.person(event.person), "presence", sv, ids)
            if sv is not None:
                out.append(Quad(ids.person(event.person), HEARTH.isHome,
                                to_term(sv.value == "home"), g))
            return out
        if isinstance(event, E.DefinitionTaught):
            key = event.phrase.strip().lower()
            return _definition_quads(key, self.definitions.get(key), ids)
        if isinstance(event, E.EventRetracted):
            if event.retracts not in self.retracted:
                return []
            return [Quad(event.retracts, HEARTH.isRetracted, to_term(True), g)]
        quads_of = STATE_QUADS.get(type(event))
        return quads_of(self, event, ids) if quads_of else []

    def _household_quads(self, ids: HouseholdIRIs) -> list[Quad]:
        if self.name is None:
            return []
        g = ids.state_graph
        h = ids.household
        return [Quad(h, RDF.type, HEARTH.Household, g),
                Quad(h, HEARTH.householdId, Literal(ids.household_id), g),
                Quad(h, RDFS.label, Literal(self.name), g)]

    def to_quads(self, ids: HouseholdIRIs) -> list[Quad]:
        """The whole state graph."""
        out = self._household_quads(ids)
        for kind, table in (("floor", self.floors), ("area", self.areas),
                            ("device", self.devices), ("person", self.people)):
            for thing in table.values():
                out.extend(_thing_quads(kind, thing, ids))
        for (device, attribute), sv in self.device_states.items():
            out.extend(_state_quads(ids.device(device), attribute, sv, ids))
        for person, sv in self.presence.items():
            out.extend(_state_quads(ids.person(person), "presence", sv, ids))
            out.append(Quad(ids.person(person), HEARTH.isHome, to_term(sv.value == "home"),
                            ids.state_graph))
        for key, sv in self.definitions.items():
            out.extend(_definition_quads(key, sv, ids))
        for r in self.retracted:
            out.append(Quad(r, HEARTH.isRetracted, to_term(True), ids.state_graph))
        for extra in STATE_QUADS_ALL:
            out.extend(extra(self, ids))
        out.append(_seq_quad(ids, self.seq))
        return out


# Other packages that add state-changing event types register a reducer and the quads it touches.
STATE_REDUCERS: dict[type, Any] = {}
STATE_QUADS: dict[type, Any] = {}
STATE_QUADS_ALL: list[Any] = []


def _seq_quad(ids: HouseholdIRIs, seq: int) -> Quad:
    return Quad(ids.household, HEARTH.stateSeq, Literal(str(seq), datatype=XSD.integer),
                ids.state_graph)


def _thing_quads(kind: str, thing: Thing | None, ids: HouseholdIRIs) -> list[Quad]:
    if thing is None:
        return []
    g = ids.state_graph
    node = ids.node(kind, thing.id)
    cls = {"floor": HEARTH.Floor, "area": HEARTH.Area, "person": HEARTH.Person}.get(kind)
    if kind == "device":
        cls = E.DEVICE_KINDS.get(thing.kind or "device", HEARTH.Device)
    out = [Quad(node, RDF.type, cls, g), Quad(node, RDFS.label, Literal(thing.name), g),
           Quad(node, HEARTH.household, ids.household, g)]
    if thing.area:
        out.append(Quad(node, HEARTH.inArea, ids.area(thing.area), g))
    if thing.floor:
        out.append(Quad(node, HEARTH.onFloor, ids.floor(thing.floor), g))
    if kind == "device" and thing.kind:
        out.append(Quad(node, HEARTH.kind, Literal(thing.kind), g))
    if thing.device_class:
        out.append(Quad(node, HEARTH.deviceClass, Literal(thing.device_class), g))
    if thing.added_by is not None:
        out.append(Quad(node, PROV.wasDerivedFrom, thing.added_by, g))
    return out


def _state_quads(owner: NamedNode, attribute: str, sv: StateValue | None,
                 ids: HouseholdIRIs) -> list[Quad]:
    if sv is None:
        return []
    g = ids.state_graph
    node = NamedNode(f"{owner.value}/{_slug(attribute)}")
    return [Quad(owner, HEARTH.currentState, node, g),
            Quad(node, RDF.type, HEARTH.DeviceState, g),
            Quad(node, HEARTH.stateOf, owner, g),
            Quad(node, HEARTH.attribute, Literal(attribute), g),
            Quad(node, HEARTH.value, to_term(sv.value), g),
            Quad(node, HEARTH.since, Literal(format_datetime(sv.since), datatype=XSD.dateTime), g),
            Quad(node, PROV.wasDerivedFrom, sv.event, g)]


def _definition_quads(key: str, sv: StateValue | None, ids: HouseholdIRIs) -> list[Quad]:
    if sv is None:
        return []
    g = ids.state_graph
    node = ids.node("definition", key)
    return [Quad(node, RDF.type, HEARTH.Definition, g),
            Quad(node, HEARTH.phrase, Literal(key), g),
            Quad(node, HEARTH.meaning, Literal(json.dumps(sv.value, sort_keys=True)), g),
            Quad(node, HEARTH.since, Literal(format_datetime(sv.since), datatype=XSD.dateTime), g),
            Quad(node, PROV.wasDerivedFrom, sv.event, g)]


def _slug(text: str) -> str:
    from urllib.parse import quote
    return quote(text, safe="._-~")


def state_from_quads(quads: list[Quad], ids: HouseholdIRIs) -> HouseholdState:
    """Reads a state graph back (the fast path when opening a household)."""
    by_subject: dict = {}
    for q in quads:
        by_subject.setdefault(q.subject, {}).setdefault(q.predicate, []).append(q.object)
    state = HouseholdState(ids.household_id)
    h = by_subject.get(ids.household, {})
    if RDFS.label in h:
        state.name = h[RDFS.label][0].value
    if HEARTH.stateSeq in h:
        state.seq = int(h[HEARTH.stateSeq][0].value)
    kinds = {HEARTH.Floor: "floor", HEARTH.Area: "area", HEARTH.Person: "person"}
    for subject, props in by_subject.items():
        types = props.get(RDF.type, [])
        if not types or RDFS.label not in props:
            continue
        t = types[0]
        kind = kinds.get(t, "device" if HEARTH.household in props else None)
        if kind is None:
            continue
        local = _local(subject, ids, kind)
        thing = Thing(
            id=local, name=props[RDFS.label][0].value,
            kind=props[HEARTH.kind][0].value if HEARTH.kind in props else None,
            area=_local(props[HEARTH.inArea][0], ids, "area") if HEARTH.inArea in props else None,
            floor=_local(props[HEARTH.onFloor][0], ids, "floor") if HEARTH.onFloor in props else None,
            device_class=props[HEARTH.deviceClass][0].value if HEARTH.deviceClass in props else None,
            added_by=props[PROV.wasDerivedFrom][0] if PROV.wasDerivedFrom in props else None)
        {"floor": state.floors, "area": state.areas, "device": state.devices,
         "person": state.people}[kind][local] = thing
    for subject, props in by_subject.items():
        if HEARTH.DeviceState in props.get(RDF.type, ()):
            owner = props[HEARTH.stateOf][0]
            sv = StateValue(to_python(props[HEARTH.value][0]), to_python(props[HEARTH.since][0]),
                            props[PROV.wasDerivedFrom][0])
            attribute = props[HEARTH.attribute][0].value
            if owner.value.startswith(ids.base + "person:"):
                state.presence[_local(owner, ids, "person")] = sv
            else:
                state.device_states[(_local(owner, ids, "device"), attribute)] = sv
        elif HEARTH.Definition in props.get(RDF.type, ()):
            state.definitions[props[HEARTH.phrase][0].value] = StateValue(
                json.loads(props[HEARTH.meaning][0].value), to_python(props[HEARTH.since][0]),
                props[PROV.wasDerivedFrom][0])
        if HEARTH.isRetracted in props:
            state.retracted.add(subject)
    return state


def _local(node: NamedNode, ids: HouseholdIRIs, kind: str) -> str:
    from urllib.parse import unquote
    head = f"{ids.base}{kind}:"
    return unquote(node.value[len(head):]) if node.value.startswith(head) else node.value
