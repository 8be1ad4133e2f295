"""Commonsense signals, and a household followed event by event (shared by patterns and hunches).

``Knowledge`` reads what ``ontologies/commonsense.ttl`` says from a household's ontology graph:
the signals (which events, of which devices, with which values, give an activity or a situation
away), the times of day, the activity and hunch kinds, and the class hierarchy of devices.

``Timeline`` follows a household's events in order and says, for each one, which signals it
gives: it keeps the state just before the event (for "turned down": the previous value), who is
home after it (for "nobody is home"), the last readings of sensors, motion by area, and the kinds
devices and areas are of (``hearth:ofKind``, asserted or inferred by the rules; when nothing is
recorded, the device's name is matched against the object kinds' labels, as the built-in rules
do).

>>> k = Knowledge.shipped()
>>> sorted(k.signals[CS + "ThermostatTurnedDown"].event_types)
['https://w3id.org/hearth#DeviceStateChanged']
>>> k.part_of_day(dt.time(23, 30))
'https://w3id.org/hearth/commonsense#Night'
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import pyoxigraph as ox
from pyoxigraph import Literal, NamedNode

import ontologies
from kg import events as E
from kg.household import Household
from kg.projection import HouseholdState
from kg.terms import to_python
from kg.vocab import HEARTH, HEARTH_NS, PROP, RDF, RDFS

CS = "https://w3id.org/hearth/commonsense#"
SKOS_ALT = "http://www.w3.org/2004/02/skos/core#altLabel"
OF_KIND = NamedNode(HEARTH_NS + "ofKind")

_H = HEARTH_NS
_TRUE_WORDS = {"on", "true", "1", "open", "detected", "yes"}
_FALSE_WORDS = {"off", "false", "0", "closed", "clear", "no"}
_ON_ALIASES = {"open": _TRUE_WORDS, "detected": _TRUE_WORDS,
               "closed": _FALSE_WORDS, "clear": _FALSE_WORDS}


@dataclass(frozen=True)
class Signal:
    """One commonsense signal (see hearth:Signal in ontologies/hearth.ttl)."""

    iri: str
    label: str
    event_types: frozenset[str]
    device_type: str | None = None
    object_kind: str | None = None
    area_kind: str | None = None
    attribute: str | None = None
    value: object = None
    direction: str | None = None
    for_property: str | None = None
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class HunchKind:
    iri: str
    label: str
    conditions: tuple[str, ...]
    action: str | None          # the action kind's IRI
    command: str | None         # its command ("turn_off" …)
    template: str
    times: tuple[str, ...] = ()  # typical times of day (IRIs)
    window_minutes: int = 0


def _lex(term) -> str:
    return term.value


class Knowledge:
    """What the ontology says, in Python structures (read once per ontology version)."""

    def __init__(self, triples: Iterable):
        by: dict[str, dict[str, list]] = {}
        for t in triples:
            s, p, o = t.subject, t.predicate, t.object
            if isinstance(s, NamedNode):
                by.setdefault(s.value, {}).setdefault(p.value, []).append(o)
        self._by = by
        rtype = RDF.type.value

        def of_type(cls: str) -> list[str]:
            return [s for s, props in by.items()
                    if any(isinstance(o, NamedNode) and o.value == cls
                           for o in props.get(rtype, ()))]

        def one(s, p, default=None):
            values = by.get(s, {}).get(p)
            return values[0] if values else default

        self.labels: dict[str, str] = {}
        for s, props in by.items():
            labels = props.get(RDFS.label.value)
            if labels:
                en = [x for x in labels if isinstance(x, Literal) and x.language in (None, "en")]
                self.labels[s] = (en or labels)[0].value
        # superclasses (reflexive, transitive) of every class named in rdfs:subClassOf
        direct: dict[str, set[str]] = {}
        for s, props in by.items():
            for o in props.get(RDFS.subClassOf.value, ()):
                if isinstance(o, NamedNode):
                    direct.setdefault(s, set()).add(o.value)
        self.superclasses: dict[str, frozenset[str]] = {}
        for c in direct:
            seen, work = {c}, [c]
            while work:
                for sup in direct.get(work.pop(), ()):
                    if sup not in seen:
                        seen.add(sup)
                        work.append(sup)
            self.superclasses[c] = frozenset(seen)
        self.signals: dict[str, Signal] = {}
        for s in of_type(_H + "Signal"):
            props = by[s]
            value = one(s, _H + "value")
            self.signals[s] = Signal(
                iri=s, label=self.labels.get(s, s),
                event_types=frozenset(o.value for o in props.get(_H + "eventType", ())),
                device_type=_opt(one(s, _H + "deviceType")),
                object_kind=_opt(one(s, _H + "objectKind")),
                area_kind=_opt(one(s, _H + "areaKind")),
                attribute=_opt(one(s, _H + "attribute")),
                value=None if value is None else to_python(value),
                direction=_opt(one(s, _H + "direction")),
                for_property=_opt(one(s, _H + "forProperty")),
                keywords=tuple(o.value.lower() for o in props.get(_H + "keyword", ())))
        self.times_of_day: dict[str, tuple[dt.time, dt.time]] = {}
        for s in of_type(_H + "TimeOfDay"):
            start, end = one(s, _H + "startsAt"), one(s, _H + "endsAt")
            if start is not None and end is not None:
                self.times_of_day[s] = (dt.time.fromisoformat(start.value),
                                        dt.time.fromisoformat(end.value))
        self.hunch_kinds: dict[str, HunchKind] = {}
        for s in of_type(_H + "HunchKind"):
            action = _opt(one(s, _H + "offersAction"))
            self.hunch_kinds[s] = HunchKind(
                iri=s, label=self.labels.get(s, s),
                conditions=tuple(o.value for o in by[s].get(_H + "hasCondition", ())),
                action=action, command=_opt(one(action, _H + "command")) if action else None,
                template=_opt(one(s, _H + "explanationTemplate")) or "",
                times=tuple(o.value for o in by[s].get(_H + "typicalTime", ())),
                window_minutes=int(_opt(one(s, _H + "windowMinutes")) or 0))
        # names of object and area kinds, for matching devices and areas by name
        self.object_kinds: dict[str, tuple[str | None, tuple[str, ...]]] = {}
        for s in of_type(_H + "ObjectKind"):
            names = [o.value.lower() for p in (RDFS.label.value, SKOS_ALT)
                     for o in by[s].get(p, ())]
            self.object_kinds[s] = (_opt(one(s, _H + "deviceType")), tuple(names))
        self.area_kinds: dict[str, tuple[str, ...]] = {}
        for s in of_type(_H + "AreaKind"):
            self.area_kinds[s] = tuple(o.value.lower() for p in (RDFS.label.value, SKOS_ALT)
                                       for o in by[s].get(p, ()))

    def value(self, subject: str, predicate: str, default=None):
        """One value of a property of an ontology resource, as a Python value."""
        values = self._by.get(subject, {}).get(predicate)
        return to_python(values[0]) if values else default

    def values(self, subject: str, predicate: str) -> list:
        return [to_python(v) if isinstance(v, Literal) else v.value
                for v in self._by.get(subject, {}).get(predicate, ())]

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def shipped(cls) -> "Knowledge":
        """From the shipped ontology files (no household needed)."""
        return _shipped()

    @classmethod
    def of(cls, home: Household) -> "Knowledge":
        """From a household's ontology graph, cached by the ontology's digest."""
        g = home.ids.ontology_graph
        digest = next(iter(home.store.quads(g, HEARTH.ontologyDigest, None, g)), None)
        key = digest.object.value if digest is not None else None
        cached = _CACHE.get(key)
        if cached is None:
            cached = cls(q.triple for q in home.store.quads(None, None, None, g))
            if key is not None:
                _CACHE[key] = cached
        return cached

    # -- time of day -----------------------------------------------------------------------
    def part_of_day(self, t: dt.time) -> str | None:
        """The commonsense time of day (an IRI) a clock time falls in."""
        for iri, (start, end) in self.times_of_day.items():
            if start <= end:
                if start <= t < end:
                    return iri
            elif t >= start or t < end:  # runs past midnight
                return iri
        return None

    def is_time(self, when: dt.datetime, times: Iterable[str]) -> bool:
        return self.part_of_day(when.timetz().replace(tzinfo=None)) in set(times)

    def is_subclass(self, cls: str, sup: str) -> bool:
        return cls == sup or sup in self.superclasses.get(cls, ())


_CACHE: dict[str | None, Knowledge] = {}


@lru_cache(maxsize=1)
def _shipped() -> Knowledge:
    triples = []
    for name in ("hearth.ttl", "commonsense.ttl"):
        p = ontologies.path(name)
        if p.exists():
            triples.extend(q.triple for q in ox.parse(path=str(p), format=ox.RdfFormat.TURTLE))
    return Knowledge(triples)


def _opt(term):
    if term is None:
        return None
    return term.value if isinstance(term, (NamedNode, Literal)) else str(term)


def values_match(expected, actual) -> bool:
    """Whether an event's value is the signal's value, with Home Assistant's synonyms: a contact
    sensor's 'on', 1 or true is 'open', a motion sensor's 'detected'; 'off', 0, false are
    'closed' or 'clear'."""
    if isinstance(expected, bool):
        word = str(actual).lower()
        return word in (_TRUE_WORDS if expected else _FALSE_WORDS)
    exp = str(expected).lower()
    act = str(actual).lower() if not isinstance(actual, bool) else ("true" if actual else "false")
    if exp in _ON_ALIASES:
        return act in _ON_ALIASES[exp]
    return act == exp


def truthy(value) -> bool | None:
    """A binary reading as a bool ('on', 'detected', 1, true …), None if it is not binary."""
    word = ("true" if value else "false") if isinstance(value, bool) else str(value).lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    return None


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _words_in(keyword: str, text: str) -> bool:
    return re.search(r"(?<![a-z0-9])" + re.escape(keyword) + r"(?![a-z0-9])", text) is not None


@dataclass
class Step:
    """One event as the timeline saw it: the signals it gives, and the household around it."""

    seq: int
    iri: NamedNode
    event: E.Event
    signals: frozenset[str]
    previous: object = None         # the attribute's or reading's value before this event
    nobody_home: bool | None = None  # after this event


@dataclass
class MotionState:
    """Motion in one area: whether it is being detected now, and when someone was last seen."""

    detected: bool = False
    last_detected: dt.datetime | None = None
    last_event: NamedNode | None = None


class Timeline:
    """A household followed event by event (see the module docstring)."""

    def __init__(self, home: Household, knowledge: Knowledge | None = None):
        self.home = home
        self.knowledge = knowledge or Knowledge.of(home)
        self.state = HouseholdState(home.id)
        self.readings: dict[tuple[str, str], object] = {}
        self.motion: dict[str, MotionState] = {}      # area id -> motion there
        self.person_area: dict[str, str] = {}         # person id -> area id (when known)
        self.seq = 0
        self._kinds: dict[str, set[str]] | None = None

    # -- following events --------------------------------------------------------------------
    def catch_up(self, before: int, *, only: Iterable[int] | None = None) -> Iterator[Step]:
        """Steps through the log's events up to (not including) ``before``; with ``only``, just
        those events (see ``history``), the others are passed over."""
        retracted = self.home.state.retracted
        seqs = range(self.seq + 1, before) if only is None else \
            sorted(s for s in set(only) if self.seq < s < before)
        for seq in seqs:
            iri = self.home.ids.event(seq)
            if iri in retracted:
                continue
            yield self.advance(seq, iri, self.home.event(seq))
        self.seq = max(self.seq, before - 1)

    def history(self, before: int, *, recent: dt.timedelta,
                properties: Iterable[str] = ()) -> list[int]:
        """The events a component needs to know a household's past without reading all of it:
        those that change the state, calendar entries, observations of the given properties,
        and every event of the last ``recent`` (before ``before``)."""
        log = self.home.log
        changing = [c for c in E.EVENT_TYPES.values() if c.changes_state]
        seqs = set(log.seqs_of_types([*changing, E.CalendarEntryAdded], end=before - 1))
        for prop in properties:
            rows = self.home.query(
                "SELECT ?seq WHERE { GRAPH ?e { ?e hearth:seq ?seq . "
                "?o sosa:observedProperty ?p } }", {"p": PROP[prop]})
            seqs.update(int(r["seq"].value) for r in rows)
        if before > 1:
            cutoff = self.home.event(before - 1).time - recent
            seq = before - 1
            while seq >= 1 and before - seq <= 10_000:
                if self.home.event(seq).time < cutoff:
                    break
                seqs.add(seq)
                seq -= 1
        return sorted(s for s in seqs if s < before)

    def advance(self, seq: int, iri: NamedNode, event: E.Event) -> Step:
        """The signals of one event (given the state before it); then folds it in."""
        if seq <= self.seq:
            raise ValueError(f"event {seq} is not after the timeline's position {self.seq}")
        self.seq = seq
        if isinstance(event, (E.FactInferred, E.FactsAsserted, E.EventRetracted)):
            self._kinds = None  # kinds may have changed
        previous = None
        if isinstance(event, E.DeviceStateChanged):
            previous = self.state.device_state(event.device, event.attribute)
        elif isinstance(event, E.SensorObserved):
            previous = self.readings.get((event.sensor, event.property))
        nobody = None
        if isinstance(event, (E.PersonLeft, E.PersonArrived)):
            home_after = set(self.state.who_is_home())
            (home_after.discard if isinstance(event, E.PersonLeft) else home_after.add)(
                event.person)
            nobody = not home_after
        step = Step(seq, iri, event, frozenset(), previous, nobody)
        step.signals = frozenset(s.iri for s in self.knowledge.signals.values()
                                 if self.matches(s, step))
        self._fold(seq, event)
        return step

    def _fold(self, seq: int, event: E.Event) -> None:
        if event.changes_state and not isinstance(event, E.EventRetracted):
            try:
                self.state.apply(seq, event, self.home.ids)
            except TypeError:
                pass  # a state-changing type without a reducer here: not ours to follow
        if isinstance(event, E.SensorObserved):
            self.readings[(event.sensor, event.property)] = event.value
            if event.property in ("motion", "occupancy", "presence"):
                self._motion(event.sensor, event.value, event.time, self.home.ids.event(seq))
        elif isinstance(event, E.DeviceStateChanged) and event.attribute == "state":
            d = self.state.devices.get(event.device)
            if d is not None and d.kind == "motion_sensor":
                self._motion(event.device, event.value, event.time, self.home.ids.event(seq))
        elif isinstance(event, E.PersonArrived):
            if event.area:
                self.person_area[event.person] = event.area
        elif isinstance(event, E.PersonLeft):
            self.person_area.pop(event.person, None)

    def _motion(self, sensor: str, value, when: dt.datetime, iri: NamedNode) -> None:
        d = self.state.devices.get(sensor)
        if d is None or d.area is None:
            return
        m = self.motion.setdefault(d.area, MotionState())
        on = truthy(value)
        if on is None:
            return
        if on or m.detected:  # the last moment someone was seen there: detection, or its end
            m.last_detected = when
            m.last_event = iri
        m.detected = on

    # -- questions about the household ---------------------------------------------------------
    def device_class(self, device: str) -> str | None:
        d = self.state.devices.get(device)
        if d is None:
            return None
        return E.DEVICE_KINDS.get(d.kind or "device", HEARTH.Device).value

    def kinds_of(self, thing: NamedNode) -> set[str]:
        """The commonsense kinds a device or area is of (``hearth:ofKind``, asserted or
        inferred, not retracted)."""
        if self._kinds is None:
            kinds: dict[str, set[str]] = {}
            retracted = self.home.state.retracted
            for q in self.home.store.quads(None, OF_KIND, None, None):
                if q.graph_name in retracted:
                    continue
                kinds.setdefault(q.subject.value, set()).add(q.object.value)
            self._kinds = kinds
        return self._kinds.get(thing.value, set())

    def device_kinds(self, device: str) -> set[str]:
        kinds = self.kinds_of(self.home.ids.device(device))
        if kinds:
            return kinds
        d = self.state.devices.get(device)  # nothing recorded: match the name, as the rules do
        if d is None:
            return set()
        cls = self.device_class(device)
        name = f" {d.name.lower()} "
        return {k for k, (dtype, names) in self.knowledge.object_kinds.items()
                if (dtype == cls or (cls == HEARTH.Switch.value and
                                     dtype == HEARTH.Appliance.value))
                and any(f" {n} " in name for n in names)}

    def area_kinds(self, area: str) -> set[str]:
        kinds = self.kinds_of(self.home.ids.area(area))
        if kinds:
            return kinds
        a = self.state.areas.get(area)
        if a is None:
            return set()
        name = a.name.lower()
        return {k for k, names in self.knowledge.area_kinds.items() if name in names}

    def area_of(self, device: str) -> str | None:
        d = self.state.devices.get(device)
        return d.area if d else None

    def who_is_home(self) -> list[str]:
        return self.state.who_is_home()

    # -- signals -------------------------------------------------------------------------------
    def matches(self, sig: Signal, step: Step) -> bool:
        """Whether an event gives a signal (see hearth:Signal for what each property means)."""
        event = step.event
        if event.rdf_type.value not in sig.event_types:
            return False
        if isinstance(event, (E.DeviceStateChanged, E.SensorObserved)):
            device = event.device if isinstance(event, E.DeviceStateChanged) else event.sensor
            if not self._device_ok(sig, device):
                return False
            if isinstance(event, E.DeviceStateChanged):
                if event.attribute != (sig.attribute or "state"):
                    return False
            elif sig.for_property and PROP[event.property].value != sig.for_property:
                return False
            if sig.value is not None and not values_match(sig.value, event.value):
                return False
            if sig.direction:
                before, after = _number(step.previous), _number(event.value)
                if before is None or after is None:
                    return False
                if (after - before) * (1 if sig.direction == "up" else -1) <= 0:
                    return False
            return True
        if isinstance(event, (E.PersonLeft, E.PersonArrived)):
            if sig.attribute == "isHome":
                return step.nobody_home is (not truthy(sig.value)) if sig.value is not None \
                    else True
            return True
        if isinstance(event, E.CalendarEntryAdded):
            return self._keywords(sig, event.title.lower())
        if isinstance(event, E.UtteranceHeard):
            return self._keywords(sig, event.text.lower())
        return not (sig.device_type or sig.object_kind or sig.area_kind or sig.value is not None
                    or sig.keywords)

    def _keywords(self, sig: Signal, text: str) -> bool:
        return not sig.keywords or any(_words_in(k, text) for k in sig.keywords)

    def _device_ok(self, sig: Signal, device: str) -> bool:
        if sig.device_type:
            cls = self.device_class(device)
            if cls is None or not self.knowledge.is_subclass(cls, sig.device_type):
                return False
        if sig.object_kind and sig.object_kind not in self.device_kinds(device):
            return False
        if sig.area_kind:
            area = self.area_of(device)
            if area is None or sig.area_kind not in self.area_kinds(area):
                return False
        return True
