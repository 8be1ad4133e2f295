"""Routines and blueprints: actions chained under a trigger; templates a household fills in.

A **routine** (``RoutineDefined``) runs its actions (devices as household IRIs, as
:class:`reasoner.teaching.Action`) when its trigger fires:

* ``phrase``: someone says it ("good night"), ``{"kind": "phrase", "phrase": "good night"}``;
* ``time``: every day (or on some ``days``) at a time, ``{"kind": "time", "at": "22:30"}``;
* ``state``: a device's attribute takes a value (or goes above or below one),
  ``{"kind": "state", "device": "<IRI>", "to": "on"}``;
* ``event``: an event of a type, optionally with some field values,
  ``{"kind": "event", "event_type": "PersonArrived", "match": {"person": "ann"}}``;
* ``activity``: the engine infers an activity (:mod:`reasoner.patterns`,
  :mod:`reasoner.activities`), ``{"kind": "activity", "activity": "cs:LeavingHome"}``.

The ``routines`` pipeline component watches for triggers. When one fires it concludes a
``RoutineRan`` (derived from the triggering event and the routine's definition, saying which
trigger), and then one ``CommandIssued`` per action, derived from that run, so ``explain()`` walks
from a light turned on back to the motion that triggered it and to the routine (or blueprint) that
asked for it. A time trigger fires when the first event at or after its time arrives (the log has
no clock of its own); :func:`run_due` lets a scheduler fire them on time.

A **blueprint** (Home Assistant's idea) is a routine with typed parameters, authored as YAML in
``ontologies/blueprints/`` (``!input name`` marks where a parameter goes) and compiled to Turtle
(``ontologies/blueprints/blueprints.ttl``, ``python -m reasoner.routines compile``)::

    blueprint: motion-light
    label: Motion-activated light
    parameters:
      - {name: sensor, type: MotionSensor, description: The motion sensor that triggers it}
      - {name: light, type: Light}
      - {name: brightness, type: Percentage, default: 100}
    trigger: {kind: state, device: !input sensor, to: "on"}
    actions:
      - {device: !input light, command: set, attribute: brightness, value: !input brightness}

:func:`instantiate` checks each value against its parameter's type in the household graph (a
device of that ontology class, an area, a person, a time "HH:MM", a percentage …) and refuses a
wrong one with a :class:`BlueprintError` that names the parameter, what was given, and what
would fit; the routine it defines names the blueprint and the values it was given.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import json
import logging
import re
import sys
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import yaml
from pyoxigraph import Literal, NamedNode

import ontologies
from kg import events as E
from kg.errors import EventError
from kg.events import f, register_event_type
from kg.household import Household
from kg.log import Appended
from kg.vocab import CS, HEARTH_NS, PROV, RDF, RDFS

from .errors import ReasonerError
from .pipeline import register_component
from .teaching import (KNOWN_PHRASES, Action, ActionResolver, TeachingError, command_events,
                       device_local, phrase_variants, register_describers)

log = logging.getLogger("hearth.reasoner.routines")

__all__ = [
    "AGENT", "Blueprint", "BlueprintError", "Parameter", "Routine", "RoutineDefined",
    "RoutineRan", "RoutineRemoved", "RoutineError", "RoutinesComponent", "RoutineState",
    "Trigger", "TRIGGER_KINDS", "PARAMETER_TYPES", "BLUEPRINTS_DIR", "COMPILED_TTL",
    "BLUEPRINT_BASE", "ROUTINE_TYPES", "DESCRIBERS", "compile_blueprints", "define_routine",
    "instantiate", "load_blueprints", "blueprints_from_rdf", "routine_state", "run_due",
    "remove_routine", "routine_iri", "blueprint_from_yaml",
]

AGENT = "component:routines"
BLUEPRINTS_DIR = ontologies.path("blueprints")
COMPILED_TTL = BLUEPRINTS_DIR / "blueprints.ttl"
BLUEPRINT_BASE = "https://w3id.org/hearth/blueprint/"
TRIGGER_KINDS = ("phrase", "time", "state", "event", "activity")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAYS_FULL = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class RoutineError(ReasonerError, ValueError):
    """A routine cannot be defined or run as given: the message says what to change."""


class BlueprintError(RoutineError):
    """A blueprint file is malformed, or a value does not fit a blueprint's parameter."""


def _h(name: str) -> NamedNode:
    return NamedNode(HEARTH_NS + name)


ROUTINE = _h("Routine")
ROUTINE_DEFINED = _h("RoutineDefined")
ROUTINE_REMOVED = _h("RoutineRemoved")
ROUTINE_RAN = _h("RoutineRan")
BLUEPRINT = _h("Blueprint")
BLUEPRINT_PARAMETER = _h("BlueprintParameter")
P_NAME = _h("name")
P_ROUTINE = _h("routine")
P_TRIGGER = _h("trigger")
P_ACTIONS = _h("actions")
P_BLUEPRINT = _h("blueprint")
P_INPUTS = _h("inputs")
P_FORGETS = _h("forgets")
P_TEXT = _h("text")
P_PERSON = _h("person")
P_HAS_PARAMETER = _h("hasParameter")
P_PARAMETER_TYPE = _h("parameterType")
P_DEFAULT = _h("defaultValue")
P_REQUIRED = _h("required")


# ================================================================================================
# Triggers
# ================================================================================================

@dataclass(frozen=True)
class Trigger:
    """When a routine runs (see the module docstring for the kinds and their fields)."""

    kind: str
    phrase: str | None = None
    at: str | None = None
    days: tuple[str, ...] = ()
    device: str | None = None
    attribute: str = "state"
    to: Any = None
    above: float | None = None
    below: float | None = None
    event_type: str | None = None
    match: tuple[tuple[str, Any], ...] = ()
    activity: str | None = None

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], home: Household | None = None) -> "Trigger":
        if not isinstance(obj, Mapping):
            raise RoutineError(f"a trigger is an object with a 'kind', got {obj!r}")
        kind = obj.get("kind")
        if kind not in TRIGGER_KINDS:
            raise RoutineError(f"unknown trigger kind {kind!r}; kinds: {', '.join(TRIGGER_KINDS)}")
        extra = set(obj) - {"kind", *_TRIGGER_FIELDS[kind]}
        if extra:
            raise RoutineError(f"a {kind} trigger has no field {sorted(extra)[0]!r}; its fields "
                               f"are {', '.join(sorted(_TRIGGER_FIELDS[kind]))}")
        need = {"phrase": "phrase", "time": "at", "state": "device", "event": "event_type",
                "activity": "activity"}[kind]
        if not obj.get(need):
            raise RoutineError(f"a {kind} trigger needs {need!r}")
        at = obj.get("at")
        if at is not None and not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", str(at)):
            raise RoutineError(f"a time trigger's 'at' is a time of day 'HH:MM', not {at!r}")
        bad = [d for d in obj.get("days") or () if str(d)[:3].lower() not in DAYS
               or not DAYS_FULL[DAYS.index(str(d)[:3].lower())].startswith(str(d).lower())]
        if bad:
            raise RoutineError(f"unknown day {bad[0]!r}; days: {', '.join(DAYS_FULL)} (or their "
                               "first three letters)")
        days = tuple(str(d)[:3].lower() for d in obj.get("days") or ())
        device = obj.get("device")
        if device and home is not None and not str(device).startswith(home.ids.base):
            device = home.iri("device", device).value
        event_type = obj.get("event_type")
        if event_type:
            E.event_type(event_type)  # an unknown type fails here, naming the known ones
        activity = obj.get("activity")
        if activity and activity.startswith("cs:"):
            activity = CS.base + activity[3:]
        match = obj.get("match") or {}
        return cls(kind=kind, phrase=obj.get("phrase"), at=str(at) if at else None, days=days,
                   device=device, attribute=obj.get("attribute") or "state", to=obj.get("to"),
                   above=obj.get("above"), below=obj.get("below"), event_type=event_type,
                   match=tuple(sorted(match.items())), activity=activity)

    def to_json(self) -> dict:
        out: dict[str, Any] = {"kind": self.kind}
        for name in _TRIGGER_FIELDS[self.kind]:
            value = getattr(self, name)
            if name == "match":
                value = dict(value)
            if name == "days":
                value = list(value)
            if value not in (None, (), [], {}) and not (name == "attribute" and value == "state"):
                out[name] = value
        return out

    # -- matching --------------------------------------------------------------------------------
    def fires_on(self, home: Household, event: E.Event) -> bool:
        if self.kind == "phrase":
            if not isinstance(event, E.UtteranceHeard):
                return False
            target = phrase_variants(self.phrase)[-1]
            return target in phrase_variants(event.text)
        if self.kind == "state":
            if not isinstance(event, E.DeviceStateChanged) or event.attribute != self.attribute:
                return False
            if self.device not in (home.iri("device", event.device).value, event.device):
                return False
            if self.to is not None and str(event.value).casefold() != str(self.to).casefold():
                return False
            if self.above is not None or self.below is not None:
                if isinstance(event.value, bool) or not isinstance(event.value, (int, float)):
                    return False
                if self.above is not None and not event.value > self.above:
                    return False
                if self.below is not None and not event.value < self.below:
                    return False
            return True
        if self.kind == "event":
            if event.type_name() != self.event_type:
                return False
            data = event.to_json()
            return all(data.get(k) == v for k, v in self.match)
        if self.kind == "activity":
            return getattr(event, "activity", None) == self.activity and \
                type(event).__name__ == "ActivityInferred"
        return False

    def due(self, now: dt.datetime) -> dt.datetime | None:
        """For a time trigger: the latest time it was due at or before ``now``."""
        if self.kind != "time":
            return None
        hh, mm = (int(x) for x in self.at.split(":"))
        day = now
        for back in range(8):
            when = (now - dt.timedelta(days=back)).replace(hour=hh, minute=mm, second=0,
                                                           microsecond=0)
            if when <= now and (not self.days or DAYS[when.weekday()] in self.days):
                return when
        return None

    def describe(self, home: Household | None = None) -> str:
        if self.kind == "phrase":
            return f"someone said '{self.phrase}'"
        if self.kind == "time":
            days = f" on {', '.join(self.days)}" if self.days else ""
            return f"it was {self.at}{days}"
        if self.kind == "state":
            name = self.device
            if home is not None:
                name = home.state.name_of("device", device_local(home, self.device))
            cond = (f"became {self.to}" if self.to is not None else
                    f"went above {self.above}" if self.above is not None else
                    f"went below {self.below}" if self.below is not None else "changed")
            what = "" if self.attribute == "state" else f"'s {self.attribute}"
            return f"the {name}{what} {cond}"
        if self.kind == "event":
            fields = ", ".join(f"{k} {v}" for k, v in self.match)
            return f"a {self.event_type} event happened" + (f" ({fields})" if fields else "")
        label = self.activity.rsplit("#", 1)[-1]
        return f"I inferred the activity {_words(label)}"


_TRIGGER_FIELDS = {"phrase": ("phrase",), "time": ("at", "days"),
                   "state": ("device", "attribute", "to", "above", "below"),
                   "event": ("event_type", "match"), "activity": ("activity",)}


def _words(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", camel).lower()


# ================================================================================================
# Events
# ================================================================================================

def routine_iri(home_or_ids, routine: str) -> NamedNode:
    ids = getattr(home_or_ids, "ids", home_or_ids)
    return ids.node("routine", routine)


@register_event_type
@dataclass(frozen=True, kw_only=True)
class RoutineDefined(E.Event):
    """A routine ``routine`` (its id in the household) runs ``actions`` (JSON list of actions)
    when ``trigger`` (JSON) fires. From a blueprint: ``blueprint`` (its IRI) and the ``inputs``
    it was given. ``revises``: the definition it replaces. In RDF the routine is also a node,
    ``<…:routine:ID> a hearth:Routine``, that the event names with ``hearth:routine``."""

    routine: str = f("text", P_NAME)
    trigger: Any = f("json", P_TRIGGER)
    actions: Any = f("json", P_ACTIONS)
    label: str | None = f("text", RDFS.label, required=False)
    blueprint: str | None = f("iri", P_BLUEPRINT, required=False)
    inputs: Any = f("json", P_INPUTS, required=False)
    person: str | None = f("person", P_PERSON, required=False)
    revises: NamedNode | None = f("event", PROV.wasRevisionOf, required=False)
    rdf_type: ClassVar = ROUTINE_DEFINED

    def default_by(self) -> str:
        return f"person:{self.person}" if self.person else "component:hearth"

    def check(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.routine):
            raise EventError(f"RoutineDefined.routine {self.routine!r} is an id of letters, "
                             "digits and . _ -", field="routine")
        try:
            Trigger.from_json(self.trigger)
        except RoutineError as err:
            raise EventError(f"RoutineDefined.trigger: {err}", field="trigger") from None
        if not isinstance(self.actions, list) or not self.actions or not all(
                isinstance(a, dict) and isinstance(a.get("device"), str)
                and isinstance(a.get("command"), str) for a in self.actions):
            raise EventError("RoutineDefined.actions is a non-empty list of actions, each with "
                             "a 'device' IRI and a 'command'", field="actions")

    def payload(self, ev, seq, ids):
        node = routine_iri(ids, self.routine)
        return super().payload(ev, seq, ids) + [
            (ev, P_ROUTINE, node), (node, RDF.type, ROUTINE),
            (node, P_NAME, Literal(self.routine))]


@register_event_type
@dataclass(frozen=True, kw_only=True)
class RoutineRemoved(E.Event):
    """The routine ``routine`` no longer runs; ``forgets`` names the definition withdrawn."""

    routine: str = f("text", P_NAME)
    forgets: NamedNode = f("event", P_FORGETS)
    person: str | None = f("person", P_PERSON, required=False)
    rdf_type: ClassVar = ROUTINE_REMOVED

    def default_by(self) -> str:
        return f"person:{self.person}" if self.person else "component:hearth"

    def payload(self, ev, seq, ids):
        return super().payload(ev, seq, ids) + [(ev, P_ROUTINE, routine_iri(ids, self.routine))]


@register_event_type
@dataclass(frozen=True, kw_only=True)
class RoutineRan(E.Event):
    """The routine ``routine`` ran because its trigger fired (``text``: which, in words); derived
    from the triggering event (when there is one) and the routine's ``RoutineDefined``."""

    routine: str = f("text", P_NAME)
    text: str = f("text", P_TEXT)
    rdf_type: ClassVar = ROUTINE_RAN
    is_conclusion: ClassVar = True

    def default_by(self) -> str:
        return AGENT

    def payload(self, ev, seq, ids):
        return super().payload(ev, seq, ids) + [(ev, P_ROUTINE, routine_iri(ids, self.routine))]


ROUTINE_TYPES = (RoutineDefined, RoutineRemoved, RoutineRan)


# ================================================================================================
# The projection: routines in force and when each last ran
# ================================================================================================

@dataclass(frozen=True)
class Routine:
    id: str
    trigger: Trigger
    actions: tuple[dict, ...]
    seq: int
    iri: NamedNode
    time: dt.datetime
    label: str | None = None
    blueprint: str | None = None
    inputs: Mapping[str, Any] | None = None


@dataclass
class RoutineState:
    routines: dict[str, Routine] = field(default_factory=dict)
    last_run: dict[str, dt.datetime] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    seq: int = 0

    def apply(self, seq: int, event: E.Event, home: Household) -> None:
        if isinstance(event, RoutineDefined):
            self.routines[event.routine] = Routine(
                event.routine, Trigger.from_json(event.trigger), tuple(event.actions), seq,
                home.ids.event(seq), event.time, event.label, event.blueprint, event.inputs)
        elif isinstance(event, RoutineRemoved):
            current = self.routines.get(event.routine)
            if current is not None and current.iri == event.forgets:
                del self.routines[event.routine]
        elif isinstance(event, RoutineRan):
            last = self.last_run.get(event.routine)
            if last is None or event.time > last:
                self.last_run[event.routine] = event.time
            self.runs[event.routine] = self.runs.get(event.routine, 0) + 1

    def phrases(self) -> set[str]:
        return {phrase_variants(r.trigger.phrase)[-1] for r in self.routines.values()
                if r.trigger.kind == "phrase"}


_STATES: "weakref.WeakKeyDictionary[Household, RoutineState]" = weakref.WeakKeyDictionary()
_LOCK = threading.RLock()


def routine_state(home: Household) -> RoutineState:
    """The routines of ``home`` now (a projection of its log, kept up to date incrementally; a
    retraction rebuilds it)."""
    types = ROUTINE_TYPES + (E.EventRetracted,)
    with _LOCK:
        state = _STATES.get(home)
        start = state.seq + 1 if state is not None else 1
        new = list(home.events(start=start, types=types)) if home.head >= start else []
        if state is None or any(isinstance(e, E.EventRetracted) for _, e in new):
            state = RoutineState()
            new = list(home.events(types=types))
        retracted = home.state.retracted
        for seq, event in new:
            if not isinstance(event, E.EventRetracted) and home.ids.event(seq) not in retracted:
                state.apply(seq, event, home)
        state.seq = max(state.seq, home.head)
        _STATES[home] = state
        return state


def _known_phrase(home: Household, variants: list[str]) -> bool:
    phrases = routine_state(home).phrases()
    return bool(phrases) and any(v in phrases for v in variants)


KNOWN_PHRASES.append(_known_phrase)


def pre_read(home: Household, heard: Appended):
    """A routine's trigger phrase, known before any classifier reads it (a pre-reader of
    :mod:`reasoner.understanding`): ``("routines.run", (the RoutineDefined,))`` or None."""
    if not isinstance(heard.event, E.UtteranceHeard):
        return None
    state = routine_state(home)
    if not state.phrases():
        return None
    for routine in state.routines.values():
        if routine.trigger.kind == "phrase" and routine.trigger.fires_on(home, heard.event):
            return "routines.run", (routine.iri,)
    return None


def _register_pre_reader() -> None:
    from .understanding import register_pre_reader
    register_pre_reader(pre_read, {"routines.run": "a routine's phrase"})


_register_pre_reader()


# ================================================================================================
# Defining routines
# ================================================================================================

_RESOLVER = ActionResolver()


def _actions(home: Household, actions: Any) -> list[dict]:
    """Actions as given (objects, or words to resolve: "lights off in the kitchen") → JSON
    objects with device IRIs."""
    if isinstance(actions, (str, Mapping)):
        actions = [actions]
    out: list[dict] = []
    for a in actions or ():
        if isinstance(a, str):
            try:
                out.extend(x.to_json() for x in _RESOLVER.resolve(home, a))
            except TeachingError as err:
                raise RoutineError(f"the action {a!r} does not resolve: {err}") from None
            continue
        a = Action.from_json(a) if not isinstance(a, Action) else a
        device = a.device if a.device.startswith(home.ids.base) else \
            home.iri("device", a.device).value
        local = device_local(home, device)
        if local not in home.state.devices:
            known = ", ".join(sorted(home.state.devices)) or "none"
            raise RoutineError(f"no device {local!r} in household {home.id!r}; devices: {known}")
        out.append(dataclasses.replace(a, device=device).to_json())
    if not out:
        raise RoutineError("a routine needs at least one action")
    return out


def define_routine(home: Household, routine: str, *, trigger: Mapping[str, Any], actions: Any,
                   label: str | None = None, person: str | None = None,
                   time: dt.datetime | None = None, blueprint: str | None = None,
                   inputs: Mapping[str, Any] | None = None) -> Appended:
    """Appends a ``RoutineDefined`` (a revision when ``routine`` exists); actions may be words
    ("lights off in the kitchen"), resolved against the household now."""
    trig = Trigger.from_json(trigger, home)
    current = routine_state(home).routines.get(routine)
    event = RoutineDefined(time=time or dt.datetime.now(dt.timezone.utc), routine=routine,
                           trigger=trig.to_json(), actions=_actions(home, actions), label=label,
                           blueprint=blueprint, inputs=dict(inputs) if inputs else None,
                           person=person, revises=current.iri if current else None)
    return home.append(event)


def remove_routine(home: Household, routine: str, *, person: str | None = None,
                   time: dt.datetime | None = None) -> Appended:
    current = routine_state(home).routines.get(routine)
    if current is None:
        known = ", ".join(sorted(routine_state(home).routines)) or "none"
        raise RoutineError(f"no routine {routine!r} in household {home.id!r}; routines: {known}")
    return home.append(RoutineRemoved(time=time or dt.datetime.now(dt.timezone.utc),
                                      routine=routine, forgets=current.iri, person=person))


# ================================================================================================
# Running them: the component
# ================================================================================================

def _run(home: Household, routine: Routine, when: dt.datetime, cause: NamedNode | None
         ) -> RoutineRan:
    derived = ((cause,) if cause is not None else ()) + (routine.iri,)
    return RoutineRan(time=when, routine=routine.id, text=routine.trigger.describe(home),
                      derived_from=derived)


def run_due(home: Household, now: dt.datetime) -> list[Appended]:
    """Runs the time-triggered routines due at or before ``now`` that have not run since (for a
    scheduler; the component also does this whenever an event arrives)."""
    events = RoutinesComponent().due(home, now, cause=None)
    return home.append_many(events) if events else []


class RoutinesComponent:
    """The ``routines`` pipeline component: a ``RoutineRan`` when a trigger fires, then the
    run's ``CommandIssued`` events."""

    name = "routines"
    consumes: tuple = ()  # every event: any may fire a trigger or reveal that a time has come
    produces = (RoutineRan, E.CommandIssued)

    def __init__(self) -> None:
        register_describers(DESCRIBERS)

    def process(self, home: Household, appended: Sequence[Appended]) -> list[E.Event]:
        out: list[E.Event] = []
        state = routine_state(home)
        if not state.routines and not any(isinstance(a.event, RoutineRan) for a in appended):
            return out
        for a in appended:
            event = a.event
            if isinstance(event, RoutineRan):
                routine = self._definition(home, event)
                if routine is not None:
                    out.extend(command_events(home, routine.actions, time=event.time,
                                              derived_from=(a.iri,), by=AGENT))
                continue
            if isinstance(event, (RoutineDefined, RoutineRemoved, E.CommandIssued)) or \
                    event.agent() == AGENT:
                continue
            for routine in list(state.routines.values()):
                if routine.trigger.kind != "time" and routine.trigger.fires_on(home, event):
                    out.append(_run(home, routine, event.time, a.iri))
            out.extend(self.due(home, event.time, cause=a.iri, pending=out))
        return out

    def _definition(self, home: Household, ran: RoutineRan) -> Routine | None:
        for ref in ran.derived_from:
            ev = home.event(home.ids.seq_of(ref))
            if isinstance(ev, RoutineDefined):
                return Routine(ev.routine, Trigger.from_json(ev.trigger), tuple(ev.actions),
                               home.ids.seq_of(ref), ref, ev.time)
        return None

    def due(self, home: Household, now: dt.datetime, *, cause: NamedNode | None,
            pending: Sequence[E.Event] = ()) -> list[RoutineRan]:
        state = routine_state(home)
        out = []
        for routine in state.routines.values():
            when = routine.trigger.due(now)
            if when is None or when < routine.time:
                continue
            last = state.last_run.get(routine.id)
            if last is not None and last >= when:
                continue
            if any(isinstance(p, RoutineRan) and p.routine == routine.id and p.time == when
                   for p in pending):
                continue
            out.append(_run(home, routine, when, cause))
        return out


@register_component("routines")
def routines_component(**config) -> RoutinesComponent:
    """The ``routines`` component (no settings)."""
    return RoutinesComponent(**config)


# ================================================================================================
# Blueprints
# ================================================================================================

# Parameter types: device classes of the ontology (any hearth:Device subclass), and these.
PARAMETER_TYPES = {
    "Area": HEARTH_NS + "Area", "Person": HEARTH_NS + "Person",
    "Time": "http://www.w3.org/2006/time#Instant", "Percentage": HEARTH_NS + "Percentage",
    "Number": HEARTH_NS + "Quantity", "Temperature": HEARTH_NS + "Temperature",
    "Text": HEARTH_NS + "FreeText", "ActivityKind": HEARTH_NS + "ActivityKind",
}
_CLASS_TYPES = {v: k for k, v in PARAMETER_TYPES.items()}


class _Loader(yaml.SafeLoader):
    """YAML with ``!input name``: where a parameter's value goes (kept as ``{"!input": name}``)."""


_Loader.add_constructor("!input", lambda loader, node: {"!input": loader.construct_scalar(node)})


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    description: str = ""
    default: Any = None
    required: bool = True

    @property
    def type_iri(self) -> str:
        return PARAMETER_TYPES.get(self.type, HEARTH_NS + self.type)


@dataclass(frozen=True)
class Blueprint:
    """A routine template: ``parameters`` typed by ontology classes; ``trigger`` and ``actions``
    with ``{"!input": name}`` where a parameter's value goes."""

    id: str
    label: str
    description: str
    parameters: tuple[Parameter, ...]
    trigger: Mapping[str, Any]
    actions: tuple[Mapping[str, Any], ...]

    @property
    def iri(self) -> str:
        return BLUEPRINT_BASE + quote(self.id, safe="._-~")

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise BlueprintError(self._no_parameter(name))

    def _no_parameter(self, name: str) -> str:
        names = [p.name for p in self.parameters]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (f"blueprint {self.id!r} has no parameter {name!r}{hint}; its parameters: "
                f"{', '.join(names) or 'none'}")


def _check_blueprint(bp: Blueprint, where: str) -> None:
    names = {p.name for p in bp.parameters}
    used: set[str] = set()

    def walk(x):
        if isinstance(x, dict):
            if set(x) == {"!input"}:
                used.add(x["!input"])
                return
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)
    walk(bp.trigger)
    walk(list(bp.actions))
    unknown = used - names
    if unknown:
        raise BlueprintError(f"{where}: '!input {sorted(unknown)[0]}' names no parameter; "
                             f"parameters: {', '.join(sorted(names))}")
    if bp.trigger.get("kind") not in TRIGGER_KINDS:
        raise BlueprintError(f"{where}: the trigger's kind is one of {', '.join(TRIGGER_KINDS)}")
    if not bp.actions:
        raise BlueprintError(f"{where}: a blueprint needs at least one action")


def blueprint_from_yaml(path: Path) -> Blueprint:
    try:
        doc = yaml.load(path.read_text(), Loader=_Loader)
    except yaml.YAMLError as err:
        raise BlueprintError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(doc, dict) or "blueprint" not in doc:
        raise BlueprintError(f"{path}: a blueprint file starts with 'blueprint: <id>'")
    params = []
    for p in doc.get("parameters") or ():
        if not isinstance(p, dict) or not p.get("name") or not p.get("type"):
            raise BlueprintError(f"{path}: each parameter has a 'name' and a 'type', got {p!r}")
        params.append(Parameter(p["name"], p["type"], p.get("description", ""),
                                p.get("default"), bool(p.get("required", "default" not in p))))
    bp = Blueprint(str(doc["blueprint"]), doc.get("label") or doc["blueprint"],
                   doc.get("description") or "", tuple(params), doc.get("trigger") or {},
                   tuple(doc.get("actions") or ()))
    _check_blueprint(bp, str(path))
    return bp


def load_blueprints(folder: str | Path | None = None) -> dict[str, Blueprint]:
    """The blueprints authored as YAML in ``folder`` (default ``ontologies/blueprints``)."""
    folder = Path(folder) if folder is not None else BLUEPRINTS_DIR
    out: dict[str, Blueprint] = {}
    for p in sorted(folder.glob("*.yaml")):
        bp = blueprint_from_yaml(p)
        if bp.id in out:
            raise BlueprintError(f"blueprint {bp.id!r} is defined twice (again in {p})")
        out[bp.id] = bp
    return out


def _lit(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def compile_blueprints(blueprints: Mapping[str, Blueprint] | None = None) -> str:
    """The blueprints as Turtle: each a ``hearth:Blueprint`` (a ``prov:Plan``) with its typed
    ``hearth:BlueprintParameter`` s, its trigger and actions templates as JSON."""
    blueprints = load_blueprints() if blueprints is None else blueprints
    lines = ["# Generated by `python -m reasoner.routines compile` from ontologies/blueprints/"
             "*.yaml: do not edit.",
             "@prefix hearth: <https://w3id.org/hearth#> .",
             "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .",
             "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .", ""]
    for bp in sorted(blueprints.values(), key=lambda b: b.id):
        params = [f"<{bp.iri}/parameter/{quote(p.name, safe='._-~')}>" for p in bp.parameters]
        lines.append(f"<{bp.iri}> a hearth:Blueprint ;")
        lines.append(f"    hearth:name {_lit(bp.id)} ;")
        lines.append(f"    rdfs:label {_lit(bp.label)}@en ;")
        if bp.description:
            lines.append(f"    rdfs:comment {_lit(bp.description)}@en ;")
        if params:
            lines.append(f"    hearth:hasParameter {', '.join(params)} ;")
        lines.append(f"    hearth:trigger {_lit(json.dumps(bp.trigger, sort_keys=True))} ;")
        lines.append(f"    hearth:actions {_lit(json.dumps(list(bp.actions), sort_keys=True))} .")
        for p, node in zip(bp.parameters, params):
            lines.append(f"{node} a hearth:BlueprintParameter ;")
            lines.append(f"    hearth:name {_lit(p.name)} ;")
            if p.description:
                lines.append(f"    rdfs:comment {_lit(p.description)}@en ;")
            if p.default is not None:
                lines.append(f"    hearth:defaultValue {_lit(json.dumps(p.default))} ;")
            lines.append(f"    hearth:required {'true' if p.required else 'false'} ;")
            lines.append(f"    hearth:parameterType <{p.type_iri}> .")
        lines.append("")
    return "\n".join(lines)


def blueprints_from_rdf(text: str) -> dict[str, Blueprint]:
    """Blueprints read back from their Turtle (as :func:`compile_blueprints` writes it)."""
    import pyoxigraph as ox
    store = ox.Store()
    store.load(text.encode(), format=ox.RdfFormat.TURTLE)
    q = """
    PREFIX hearth: <https://w3id.org/hearth#> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
    SELECT ?bp ?id ?label ?comment ?trigger ?actions WHERE {
      ?bp a hearth:Blueprint ; hearth:name ?id ; rdfs:label ?label ; hearth:trigger ?trigger ;
          hearth:actions ?actions . OPTIONAL { ?bp rdfs:comment ?comment } }"""
    qp = """
    PREFIX hearth: <https://w3id.org/hearth#> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
    SELECT ?bp ?p ?name ?type ?comment ?default ?required WHERE {
      ?bp hearth:hasParameter ?p . ?p hearth:name ?name ; hearth:parameterType ?type ;
          hearth:required ?required .
      OPTIONAL { ?p rdfs:comment ?comment } OPTIONAL { ?p hearth:defaultValue ?default } }"""
    out = {}
    for row in store.query(q):
        params = []
        for pr in store.query(qp, substitutions={ox.Variable("bp"): row["bp"]}):
            iri = pr["type"].value
            type_ = _CLASS_TYPES.get(iri, iri[len(HEARTH_NS):] if iri.startswith(HEARTH_NS)
                                     else iri)
            params.append((pr["p"].value, Parameter(
                pr["name"].value, type_, pr["comment"].value if pr["comment"] else "",
                json.loads(pr["default"].value) if pr["default"] else None,
                pr["required"].value == "true")))
        bp = Blueprint(row["id"].value, row["label"].value,
                       row["comment"].value if row["comment"] else "",
                       tuple(p for _, p in sorted(params, key=lambda x: x[0])),
                       json.loads(row["trigger"].value), tuple(json.loads(row["actions"].value)))
        out[bp.id] = bp
    return out


# -- checking values against parameter types ---------------------------------------------------

_SUPERS: dict[str, set[str]] = {}


def _superclasses(home: Household, cls: str) -> set[str]:
    if cls not in _SUPERS:
        rows = home.query("SELECT ?s WHERE { ?c rdfs:subClassOf* ?s }",
                          bindings={"c": NamedNode(cls)})
        _SUPERS[cls] = {r["s"].value for r in rows} | {cls}
    return _SUPERS[cls]


def _is_device_class(home: Household, iri: str) -> bool:
    return HEARTH_NS + "Device" in _superclasses(home, iri)


def _fit(home: Household, bp: Blueprint, p: Parameter, value: Any) -> Any:
    """``value`` checked against ``p``'s type: the form the routine keeps (a device or area IRI,
    a person id, "HH:MM", a number, text)."""
    where = f"blueprint {bp.id!r}: parameter {p.name!r}"
    state = home.state
    if p.type == "Area":
        local = str(value).rsplit(":", 1)[-1] if str(value).startswith(home.ids.base) else value
        if local not in state.areas:
            by_name = [a.id for a in state.areas.values()
                       if a.name.casefold() == str(value).casefold()]
            if len(by_name) != 1:
                raise BlueprintError(
                    f"{where} is an Area; {value!r} is not an area of this household. Areas: "
                    + (", ".join(f"{a.id} ({a.name})" for a in state.areas.values()) or "none"))
            local = by_name[0]
        return home.iri("area", local).value
    if p.type == "Person":
        if value not in state.people:
            raise BlueprintError(f"{where} is a Person; {value!r} is not a person of this "
                                 f"household. People: {', '.join(sorted(state.people)) or 'none'}")
        return value
    if p.type == "Time":
        if not isinstance(value, str) or not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", value):
            raise BlueprintError(f"{where} is a Time of day 'HH:MM', such as '22:30'; got "
                                 f"{value!r}")
        return value
    if p.type in ("Percentage", "Number", "Temperature"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BlueprintError(f"{where} is a {p.type} (a number); got {value!r}")
        if p.type == "Percentage" and not 0 <= value <= 100:
            raise BlueprintError(f"{where} is a Percentage between 0 and 100; got {value!r}")
        return value
    if p.type == "Text":
        if not isinstance(value, str) or not value.strip():
            raise BlueprintError(f"{where} is Text (some words); got {value!r}")
        return value
    if p.type == "ActivityKind":
        iri = CS.base + value[3:] if isinstance(value, str) and value.startswith("cs:") else value
        ok = False
        if isinstance(iri, str) and re.match(r"^[a-z][a-z0-9+.-]*:", iri):
            ok = bool(home.query("ASK { ?k a hearth:ActivityKind }",
                                 bindings={"k": NamedNode(iri)}))
        if not ok:
            raise BlueprintError(f"{where} is an ActivityKind of the commonsense ontology, such "
                                 f"as 'cs:LeavingHome'; got {value!r}")
        return iri
    # a device class
    cls = p.type_iri
    if not _is_device_class(home, cls):
        raise BlueprintError(f"{where} has type {p.type!r}, which is neither a device class of "
                             f"the ontology nor one of {', '.join(PARAMETER_TYPES)}")
    local = device_local(home, str(value))

    def class_of(thing) -> str:
        return E.DEVICE_KINDS.get(thing.kind or "device", E.DEVICE_KINDS["device"]).value

    fitting = sorted(d.id for d in state.devices.values()
                     if cls in _superclasses(home, class_of(d)))
    if local not in state.devices:
        raise BlueprintError(f"{where} is a {p.type}; there is no device {local!r} in this "
                             f"household. {p.type} devices here: {', '.join(fitting) or 'none'}")
    thing = state.devices[local]
    kind_cls = class_of(thing)
    if cls not in _superclasses(home, kind_cls):
        raise BlueprintError(
            f"{where} is a {p.type}; {local!r} ({thing.name}) is a {kind_cls.rsplit('#', 1)[-1]}, "
            f"not a {p.type}. {p.type} devices here: {', '.join(fitting) or 'none'}")
    return home.iri("device", local).value


def _substitute(x: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(x, dict):
        if set(x) == {"!input"}:
            return values[x["!input"]]
        return {k: _substitute(v, values) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_substitute(v, values) for v in x]
    return x


def _expand_actions(home: Household, actions: list) -> list[dict]:
    """Template actions → actions on devices: ``{"area": IRI, "device_type": "Light",
    "command": …}`` becomes one action per device of that class in that area."""
    out = []
    for a in actions:
        if "device" in a:
            out.append({k: v for k, v in a.items() if v is not None})
            continue
        cls = HEARTH_NS + str(a.get("device_type", "Device"))
        area = a.get("area")
        for d in sorted(home.state.devices.values(), key=lambda d: d.id):
            kind_cls = E.DEVICE_KINDS.get(d.kind or "device", E.DEVICE_KINDS["device"]).value
            if area and home.iri("area", d.area or "-").value != area:
                continue
            if cls in _superclasses(home, kind_cls):
                out.append({"device": home.iri("device", d.id).value,
                            **{k: v for k, v in a.items()
                               if k not in ("area", "device_type") and v is not None}})
    return out


def instantiate(home: Household, blueprint: Blueprint | str, routine: str | None = None, *,
                inputs: Mapping[str, Any] | None = None, label: str | None = None,
                person: str | None = None, time: dt.datetime | None = None,
                blueprints: Mapping[str, Blueprint] | None = None, **values: Any) -> Appended:
    """Makes a routine of ``blueprint`` (an id or a :class:`Blueprint`) with these parameter
    values (``inputs`` and/or keywords), each checked against its type in ``home``'s graph;
    appends its ``RoutineDefined`` (naming the blueprint and the values) and returns it.

    Raises :class:`BlueprintError` naming the parameter that is missing, unknown or of the wrong
    type, and what would fit."""
    if isinstance(blueprint, str):
        catalogue = blueprints if blueprints is not None else load_blueprints()
        if blueprint not in catalogue:
            close = difflib.get_close_matches(blueprint, catalogue, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise BlueprintError(f"no blueprint {blueprint!r}{hint}; blueprints: "
                                 f"{', '.join(sorted(catalogue)) or 'none'}")
        blueprint = catalogue[blueprint]
    given = {**dict(inputs or {}), **values}
    for name in given:
        if name not in {p.name for p in blueprint.parameters}:
            raise BlueprintError(blueprint._no_parameter(name))
    fitted: dict[str, Any] = {}
    for p in blueprint.parameters:
        if p.name in given and given[p.name] is not None:
            fitted[p.name] = _fit(home, blueprint, p, given[p.name])
        elif p.default is not None:
            fitted[p.name] = _fit(home, blueprint, p, p.default)
        elif p.required:
            raise BlueprintError(f"blueprint {blueprint.id!r}: parameter {p.name!r} ({p.type}) "
                                 "is required" + (f": {p.description}" if p.description else ""))
        else:
            fitted[p.name] = None
    trigger = {k: v for k, v in _substitute(dict(blueprint.trigger), fitted).items()
               if v is not None}
    actions = _expand_actions(home, _substitute(list(blueprint.actions), fitted))
    if not actions:
        raise BlueprintError(f"blueprint {blueprint.id!r}: with these values it has no device to "
                             f"act on ({json.dumps(given, sort_keys=True, default=str)})")
    if routine is None:
        taken = set(routine_state(home).routines)
        n = 1
        while f"{blueprint.id}-{n}" in taken:
            n += 1
        routine = f"{blueprint.id}-{n}"
    return define_routine(home, routine, trigger=trigger, actions=actions,
                          label=label or blueprint.label, person=person, time=time,
                          blueprint=blueprint.iri,
                          inputs={k: v for k, v in given.items()})


# ================================================================================================
# Sentences and explanations
# ================================================================================================

def describe_routine_defined(event: RoutineDefined, state=None) -> str:
    trig = Trigger.from_json(event.trigger)
    base = f"Routine {event.label or event.routine}" + (" (from a blueprint)" if event.blueprint
                                                        else "")
    return f"{base}: when {trig.describe()}"


def describe_routine_removed(event: RoutineRemoved, state=None) -> str:
    return f"Routine {event.routine} removed"


def describe_routine_ran(event: RoutineRan, state=None) -> str:
    return f"Ran the routine {event.routine} because {event.text}"


DESCRIBERS = {RoutineDefined: describe_routine_defined, RoutineRemoved: describe_routine_removed,
              RoutineRan: describe_routine_ran}


def _register() -> None:
    try:
        from .explain import register_explainer
    except ImportError:  # pragma: no cover
        return

    def ran(ctx, item):
        ev = item.event
        definition = next((ctx.event(ctx.ids.seq_of(r)) for r in ev.derived_from
                           if isinstance(ctx.event(ctx.ids.seq_of(r)), RoutineDefined)), None)
        origin = ""
        if definition is not None:
            who = ctx.name("person", definition.person) if definition.person else "someone"
            origin = f"; {who} set it up at {definition.time:%H:%M on %d %B}" + (
                f" from the blueprint {definition.blueprint.rsplit('/', 1)[-1]}"
                if definition.blueprint else "")
        what = f"the routine {ev.routine} ran ({ev.text})"
        return ctx.explanation(item, kind="routine", what=what,
                               sentence=f"I ran the routine {ev.routine} because "
                                        f"{ev.text}{origin}.",
                               source=definition.blueprint if definition is not None else None,
                               source_kind="blueprint" if definition is not None and
                               definition.blueprint else None)

    register_explainer(RoutineRan, ran, salient=True)


_register()


# ================================================================================================
# python -m reasoner.routines compile
# ================================================================================================

def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["compile"]:
        print("usage: python -m reasoner.routines compile   (rewrites "
              f"{COMPILED_TTL.relative_to(BLUEPRINTS_DIR.parent.parent)})", file=sys.stderr)
        return 2
    COMPILED_TTL.write_text(compile_blueprints())
    print(f"wrote {COMPILED_TTL}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
