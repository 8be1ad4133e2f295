"""Temporal patterns: declared sequences of signals with order and time windows ⇒ conclusions.

A pattern is a YAML file in ``ontologies/patterns/`` (or anywhere, passed by path):

    pattern: leaving-home                 # its IRI: https://w3id.org/hearth/pattern/<name>
    steps:                                # step id: a signal of ontologies/commonsense.ttl
      heating: cs:ThermostatTurnedDown
      door: cs:FrontDoorLocked
    order: any                            # or "given": the steps happen in the order listed
    within: 10 min                        # from the first step to the last
    when:                                 # OWL-Time relations between steps (instants)
      - door after heating within 5 min   #   A before|after B [within N min], A within N min of B
    conclude:
      activity: cs:LeavingHome            # ⇒ ActivityInferred; or ⇒ SuggestionMade:
      suggestion: {kind: reminder, text: "…{door.time:%H:%M}…", target: door.by}  # or this
      confidence: 0.9

A step's time is its event's time; ``step.start`` and ``step.end`` are the start and end of what
the event describes (a calendar entry), or its time for an instant. Which events give a signal
(event type, device class, kind of object or room, attribute, value, direction, keywords) is
commonsense.ttl's to say; ``reasoner.signals`` reads it.

The ``patterns`` component follows the household's events. When a new event gives a step's
signal, it looks for the most recent unused events that fill the other steps and satisfy the
window, the order and the relations (so the match is as tight as it can be); if it finds them,
it concludes, with every step's event as evidence (``derived_from``). An event is evidence for a
pattern at most once. When an evidence event is retracted, the conclusion is withdrawn.

Text templates take ``{step.field}``: ``time``, ``start``, ``end`` (datetimes, with a format
after ``:``), ``title``, ``location``, ``at`` (" at <location>" or ""), ``person`` (the name of
the person the event is about), ``device`` (the device's name), ``by`` (the name of the person the
event is attributed to).
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import re
import string
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import yaml
from pyoxigraph import Literal, NamedNode

import ontologies
from kg import events as E
from kg.errors import EventError, HearthError
from kg.events import f, register_event_type
from kg.household import Household
from kg.log import Appended
from kg.terms import format_datetime, to_python
from kg.vocab import HEARTH, HEARTH_NS, PREFIXES, PROV, RDF, XSD

from .pipeline import register_component
from .signals import CS, OF_KIND, Knowledge, Step, Timeline

log = logging.getLogger("hearth.reasoner.patterns")

PATTERNS_DIR = ontologies.path("patterns")
PATTERN_NS = "https://w3id.org/hearth/pattern/"
AGENT = "component:patterns"

# Terms of ontologies/hearth.ttl that kg.vocab does not list yet (see the report to the lead).
ACTIVITY_INFERRED = NamedNode(HEARTH_NS + "ActivityInferred")
SUGGESTION_MADE = NamedNode(HEARTH_NS + "SuggestionMade")
P_ACTIVITY = NamedNode(HEARTH_NS + "activity")
P_CONFIDENCE = NamedNode(HEARTH_NS + "confidence")
P_PATTERN = NamedNode(HEARTH_NS + "pattern")
P_SUGGESTION_KIND = NamedNode(HEARTH_NS + "suggestionKind")

__all__ = ["ActivityInferred", "SuggestionMade", "Pattern", "PatternError", "PatternsComponent",
           "Relation", "load_patterns", "builtin_patterns", "PATTERNS_DIR"]


class PatternError(HearthError, ValueError):
    """A pattern file cannot be used: the message says which field and what to write."""


# ---------------------------------------------------------------------------------------------
# Conclusion event types


@register_event_type
@dataclass(frozen=True, kw_only=True)
class ActivityInferred(E.Event):
    """The engine concluded that an activity (``activity``: an ActivityKind IRI such as
    cs:LeavingHome) went on from ``start`` to ``end``, from the events in ``derived_from``.

    In RDF the activity is a node of its own: ``event hearth:activity <…:activity:N>``, which is
    ``a hearth:Activity ; hearth:ofKind cs:LeavingHome ; hearth:start … ; hearth:end …``.
    """

    activity: str = f("iri")
    start: dt.datetime = f("time")
    end: dt.datetime = f("time")
    confidence: float = f("number", P_CONFIDENCE)
    pattern: str | None = f("iri", P_PATTERN, required=False)
    rdf_type: ClassVar = ACTIVITY_INFERRED
    is_conclusion: ClassVar = True

    def default_by(self) -> str:
        return AGENT

    def check(self) -> None:
        if self.end < self.start:
            raise EventError("ActivityInferred.end is before its start", field="end")
        if not 0 <= self.confidence <= 1:
            raise EventError("ActivityInferred.confidence must be between 0 and 1",
                             field="confidence")

    def payload(self, ev, seq, ids):
        node = ids.node("activity", str(seq))
        out = super().payload(ev, seq, ids)
        out += [(ev, P_ACTIVITY, node), (node, RDF.type, HEARTH.Activity),
                (node, OF_KIND, NamedNode(self.activity)),
                (node, HEARTH.start, Literal(format_datetime(self.start), datatype=XSD.dateTime)),
                (node, HEARTH.end, Literal(format_datetime(self.end), datatype=XSD.dateTime))]
        return out

    @classmethod
    def _from_rdf(cls, ev, props, quads, ids):
        node = props[P_ACTIVITY][0]
        about = {q.predicate: q.object for q in quads if q.subject == node}
        return cls(time=to_python(props[PROV.generatedAtTime][0]),
                   by=E.agent_ref(props[PROV.wasAttributedTo][0], ids),
                   derived_from=tuple(props.get(PROV.wasDerivedFrom, ())),
                   activity=about[OF_KIND].value, start=to_python(about[HEARTH.start]),
                   end=to_python(about[HEARTH.end]),
                   confidence=to_python(props[P_CONFIDENCE][0]),
                   pattern=props[P_PATTERN][0].value if P_PATTERN in props else None)


@register_event_type
@dataclass(frozen=True, kw_only=True)
class SuggestionMade(E.Event):
    """The assistant offers something to a person: ``text`` (what it says), ``kind`` (reminder,
    offer …), ``target`` (the person or device it is for, an IRI), ``action`` (the command it
    would run, if any), with its evidence in ``derived_from``."""

    text: str = f("text", HEARTH.text)
    kind: str = f("text", P_SUGGESTION_KIND)
    target: str | None = f("iri", HEARTH.target, required=False)
    action: str | None = f("text", HEARTH.command, required=False)
    confidence: float | None = f("number", P_CONFIDENCE, required=False)
    pattern: str | None = f("iri", P_PATTERN, required=False)
    intent: str | None = f("text", HEARTH.intentName, required=False)
    slots: Any = f("json", HEARTH.slots, required=False)
    rdf_type: ClassVar = SUGGESTION_MADE
    is_conclusion: ClassVar = True

    def default_by(self) -> str:
        return AGENT



# ---------------------------------------------------------------------------------------------
# Patterns

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)"
                       r"\s*$", re.IGNORECASE)
_RELATION = re.compile(
    r"^\s*(?P<a>[A-Za-z_][\w]*(?:\.(?:start|end|time))?)\s+(?:"
    r"(?P<kind>before|after)\s+(?P<b>[A-Za-z_][\w]*(?:\.(?:start|end|time))?)"
    r"(?:\s+within\s+(?P<w1>.+?))?"
    r"|within\s+(?P<w2>.+?)\s+of\s+(?P<b2>[A-Za-z_][\w]*(?:\.(?:start|end|time))?))\s*$")


def parse_duration(text, where: str = "duration") -> dt.timedelta:
    """'10 min', '90 s', '1.5 h' (or a number of minutes) as a timedelta."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return dt.timedelta(minutes=text)
    m = _DURATION.match(str(text))
    if m is None:
        raise PatternError(f"{where}: {text!r} is not a duration; write e.g. '10 min', '90 s' "
                           "or '2 h'")
    n, unit = float(m.group(1)), m.group(2).lower()
    if unit.startswith("s"):
        return dt.timedelta(seconds=n)
    if unit.startswith("h"):
        return dt.timedelta(hours=n)
    return dt.timedelta(minutes=n)


def _iri(text: str, where: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise PatternError(f"{where}: expected an IRI such as cs:LeavingHome")
    text = text.strip()
    if text.startswith("<") and text.endswith(">"):
        return text[1:-1]
    prefix, sep, local = text.partition(":")
    known = {**PREFIXES, "cs": CS}
    if sep and prefix in known:
        return known[prefix] + local
    if sep and local.startswith("//") or text.startswith("urn:"):
        return text
    raise PatternError(f"{where}: {text!r} is not an IRI; use a prefixed name "
                       f"({', '.join(sorted(known))}) or <full IRI>")


@dataclass(frozen=True)
class Relation:
    """An OWL-Time relation between two step instants: ``a before b``, ``a after b`` (strictly),
    or ``a within w of b``; ``window`` bounds the gap. Each side is (step, "time"|"start"|"end")."""

    a: tuple[str, str]
    kind: str
    b: tuple[str, str]
    window: dt.timedelta | None = None

    @classmethod
    def parse(cls, text: str, steps: Sequence[str], where: str) -> "Relation":
        m = _RELATION.match(text or "")
        if m is None:
            raise PatternError(f"{where}: {text!r} is not a relation; write 'A before B', "
                               "'A after B within 10 min' or 'A within 5 min of B' (A and B are "
                               "step ids, optionally with .start or .end)")
        kind = m.group("kind") or "within"
        b = m.group("b") or m.group("b2")
        window = m.group("w1") or m.group("w2")
        sides = []
        for side in (m.group("a"), b):
            step, _, part = side.partition(".")
            if step not in steps:
                close = difflib.get_close_matches(step, steps, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise PatternError(f"{where}: no step {step!r}{hint}; steps: {', '.join(steps)}")
            sides.append((step, part or "time"))
        return cls(sides[0], kind, sides[1],
                   parse_duration(window, where) if window else None)

    def holds(self, ta: dt.datetime, tb: dt.datetime) -> bool:
        if self.kind == "before" and not ta < tb:
            return False
        if self.kind == "after" and not ta > tb:
            return False
        return self.window is None or abs(ta - tb) <= self.window

    def __str__(self) -> str:
        a = self.a[0] if self.a[1] == "time" else ".".join(self.a)
        b = self.b[0] if self.b[1] == "time" else ".".join(self.b)
        w = f" within {self.window}" if self.window else ""
        return f"{a} within{w[7:]} of {b}" if self.kind == "within" else f"{a} {self.kind} {b}{w}"


@dataclass(frozen=True)
class Pattern:
    """A declared temporal pattern (see the module docstring)."""

    name: str
    iri: str
    label: str
    doc: str
    steps: tuple[tuple[str, str], ...]   # (step id, signal IRI), in the order declared
    order: str = "any"
    within: dt.timedelta | None = None
    relations: tuple[Relation, ...] = ()
    conclusion: Mapping[str, Any] = field(default_factory=dict)
    confidence: float = 1.0
    source: str | None = None

    @property
    def step_ids(self) -> list[str]:
        return [s for s, _ in self.steps]

    @property
    def horizon(self) -> dt.timedelta:
        """How long a step's event can wait for the others."""
        spans = [self.within] + [r.window for r in self.relations]
        spans = [s for s in spans if s is not None]
        return max(spans) if spans else dt.timedelta(hours=1)

    @classmethod
    def from_dict(cls, data: Mapping, *, source: str | None = None, doc: str = "") -> "Pattern":
        where = source or "pattern"
        if not isinstance(data, Mapping):
            raise PatternError(f"{where}: a pattern is a mapping with 'pattern', 'steps' and "
                               "'conclude'")
        known = {"pattern", "label", "steps", "order", "within", "when", "conclude"}
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise PatternError(f"{where}: unknown field {key!r}{hint}; fields: "
                                   f"{', '.join(sorted(known))}")
        name = data.get("pattern")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][\w.-]*", name):
            raise PatternError(f"{where}: 'pattern' must name it (letters, digits, '-', '_')")
        where = f"pattern {name!r}"
        steps = data.get("steps")
        if not isinstance(steps, Mapping) or not steps:
            raise PatternError(f"{where}: 'steps' maps step ids to signals, e.g. "
                               "{door: cs:FrontDoorLocked}")
        step_list = tuple((str(k), _iri(v, f"{where}, step {k!r}")) for k, v in steps.items())
        ids = [s for s, _ in step_list]
        order = data.get("order", "any")
        if order not in ("any", "given"):
            raise PatternError(f"{where}: 'order' is 'any' or 'given', not {order!r}")
        within = parse_duration(data["within"], f"{where}, within") if "within" in data else None
        when = data.get("when") or []
        if isinstance(when, str):
            when = [when]
        relations = tuple(Relation.parse(w, ids, f"{where}, when") for w in when)
        conclude = data.get("conclude")
        if not isinstance(conclude, Mapping) or not ({"activity", "suggestion"} & set(conclude)):
            raise PatternError(f"{where}: 'conclude' needs 'activity: cs:SomeActivity' or "
                               "'suggestion: {kind: …, text: …}'")
        conclusion = dict(conclude)
        if "activity" in conclusion:
            conclusion["activity"] = _iri(conclusion["activity"], f"{where}, conclude.activity")
        if "suggestion" in conclusion:
            s = conclusion["suggestion"]
            if not isinstance(s, Mapping) or "text" not in s:
                raise PatternError(f"{where}: conclude.suggestion needs at least 'text'")
            s = dict(s)
            for key in ("action", "hunch"):
                if key in s:
                    s[key] = _iri(s[key], f"{where}, conclude.suggestion.{key}")
            _check_template(s["text"], ids, f"{where}, conclude.suggestion.text")
            if "target" in s:
                step, _, attr = str(s["target"]).partition(".")
                if step not in ids or attr not in ("by", "person", "device"):
                    raise PatternError(f"{where}: conclude.suggestion.target is step.by, "
                                       "step.person or step.device")
            conclusion["suggestion"] = s
        confidence = float(conclusion.pop("confidence", 1.0))
        if not 0 < confidence <= 1:
            raise PatternError(f"{where}: confidence must be in (0, 1]")
        return cls(name=name, iri=PATTERN_NS + name, label=str(data.get("label", name)),
                   doc=doc, steps=step_list, order=order, within=within, relations=relations,
                   conclusion=conclusion, confidence=confidence, source=source)

    @classmethod
    def from_file(cls, path: str | Path) -> "Pattern":
        path = Path(path)
        text = path.read_text()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise PatternError(f"{path} is not valid YAML: {err}") from None
        doc = " ".join(line.lstrip("#").strip() for line in text.splitlines()
                       if line.startswith("#"))
        return cls.from_dict(data, source=str(path), doc=doc)

    def check_against(self, knowledge: Knowledge) -> None:
        """Every step's signal must be one commonsense.ttl defines."""
        for step, sig in self.steps:
            if sig not in knowledge.signals:
                names = [s.rsplit("#", 1)[-1] for s in knowledge.signals]
                close = difflib.get_close_matches(sig.rsplit("#", 1)[-1], names, n=3)
                hint = f" Did you mean {', '.join('cs:' + c for c in close)}?" if close else ""
                raise PatternError(f"pattern {self.name!r}, step {step!r}: {sig} is not a signal "
                                   f"of the ontology.{hint}")
        activity = self.conclusion.get("activity")
        if activity:
            signalled = set(knowledge.values(activity, HEARTH_NS + "signalledBy"))
            odd = [sig for _, sig in self.steps if signalled and sig not in signalled]
            if odd:
                log.info("pattern %s: %s do not signal %s in commonsense.ttl", self.name,
                         ", ".join(odd), activity)


def _check_template(text: str, steps: Sequence[str], where: str) -> None:
    for _, name, _, _ in string.Formatter().parse(text):
        if name is None:
            continue
        step, _, attr = name.partition(".")
        if step not in steps or attr.startswith("_") or not attr:
            raise PatternError(f"{where}: {{{name}}} is not step.field (steps: "
                               f"{', '.join(steps)}; fields: {', '.join(_FIELDS)})")


_FIELDS = ("time", "start", "end", "title", "location", "at", "person", "device", "by")


def load_patterns(*paths: str | Path) -> list[Pattern]:
    """Patterns from YAML files, or every ``*.yaml`` file in the given folders."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted([*p.glob("*.yaml"), *p.glob("*.yml")]))
        elif p.exists():
            files.append(p)
        else:
            raise PatternError(f"no pattern file or folder at {p}")
    patterns = [Pattern.from_file(f) for f in files]
    names = [p.name for p in patterns]
    for n in set(names):
        if names.count(n) > 1:
            raise PatternError(f"two patterns are named {n!r}; rename one")
    return patterns


def builtin_patterns() -> list[Pattern]:
    """The patterns shipped in ``ontologies/patterns/``."""
    return load_patterns(PATTERNS_DIR)


# ---------------------------------------------------------------------------------------------
# Matching


@dataclass
class _Seen:
    """An event that filled (or may fill) steps of a pattern."""

    seq: int
    iri: NamedNode
    event: E.Event
    steps: frozenset[str]

    def at(self, part: str) -> dt.datetime:
        if part != "time":
            value = getattr(self.event, part, None)
            if isinstance(value, dt.datetime):
                return value
        return self.event.time

    @property
    def last_useful(self) -> dt.datetime:
        end = getattr(self.event, "end", None)
        return max(self.event.time, end) if isinstance(end, dt.datetime) else self.event.time


@dataclass
class _Household:
    timeline: Timeline
    buffers: dict[str, list[_Seen]] = field(default_factory=dict)
    used: dict[str, set[int]] = field(default_factory=dict)


class _SafeFormatter(string.Formatter):
    def get_field(self, field_name, args, kwargs):
        if any(part.startswith("_") for part in re.split(r"[.\[]", field_name)):
            raise PatternError(f"template field {field_name!r} is not allowed")
        return super().get_field(field_name, args, kwargs)


class PatternsComponent:
    """The ``patterns`` pipeline component (see the module docstring)."""

    name = "patterns"
    consumes: tuple = ()
    produces = (ActivityInferred, SuggestionMade, E.EventRetracted)

    def __init__(self, patterns: Iterable[Pattern] | None = None):
        self.patterns = list(builtin_patterns() if patterns is None else patterns)
        knowledge = Knowledge.shipped()
        for p in self.patterns:
            p.check_against(knowledge)
        self._homes: "weakref.WeakKeyDictionary[Household, _Household]" = \
            weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"PatternsComponent({', '.join(p.name for p in self.patterns)})"

    def process(self, home: Household, appended: Sequence[Appended]) -> list[E.Event]:
        batch = sorted(appended, key=lambda a: a.seq)
        if not batch:
            return []
        h = self._homes.get(home)
        if h is None:
            # meeting the household: follow its history (buffers fill, nothing is concluded)
            h = self._homes[home] = _Household(Timeline(home))
            recent = max((p.horizon for p in self.patterns), default=dt.timedelta(hours=1))
            past = h.timeline.history(batch[0].seq, recent=recent)
            for step in h.timeline.catch_up(batch[0].seq, only=past):
                self._note(h, step, home, conclude=False)
        out: list[E.Event] = []
        for a in batch:
            if a.seq <= h.timeline.seq:
                continue
            for step in h.timeline.catch_up(a.seq):  # events we were not told about
                out.extend(self._note(h, step, home))
            if isinstance(a.event, E.EventRetracted):
                out.extend(self._on_retracted(home, h, a))
                h = self._homes[home]
                if a.seq <= h.timeline.seq:
                    continue
            out.extend(self._note(h, h.timeline.advance(a.seq, a.iri, a.event), home))
        return out

    def _note(self, h: _Household, step: Step, home: Household, *,
              conclude: bool = True) -> list[E.Event]:
        out = []
        if not step.signals:
            return out
        for p in self.patterns:
            mine = frozenset(sid for sid, sig in p.steps if sig in step.signals)
            if not mine:
                continue
            seen = _Seen(step.seq, step.iri, step.event, mine)
            buf = h.buffers.setdefault(p.name, [])
            used = h.used.setdefault(p.name, set())
            horizon = p.horizon
            now = step.event.time
            buf[:] = [s for s in buf if s.last_useful + horizon >= now and s.seq not in used]
            if conclude:
                match = self._match(p, seen, buf)
                if match is not None:
                    used.update(s.seq for s in match.values())
                    buf[:] = [s for s in buf if s.seq not in used]
                    out.append(self._conclude(p, match, step, h, home))
                    continue
            buf.append(seen)
        return out

    def _match(self, p: Pattern, new: _Seen, buf: list[_Seen]) -> dict[str, _Seen] | None:
        """The tightest assignment of events to steps that uses the new event."""
        ids = p.step_ids
        ranked = sorted(buf, key=lambda s: (s.event.time, s.seq), reverse=True)
        for first in sorted(new.steps, key=ids.index):
            assigned = {first: new}
            if self._search(p, ids, assigned, ranked):
                return assigned
        return None

    def _search(self, p: Pattern, ids: list[str], assigned: dict, ranked: list) -> bool:
        if not self._consistent(p, ids, assigned):
            return False
        todo = [s for s in ids if s not in assigned]
        if not todo:
            return True
        step = todo[0]
        taken = {s.seq for s in assigned.values()}
        for cand in ranked:
            if step in cand.steps and cand.seq not in taken:
                assigned[step] = cand
                if self._search(p, ids, assigned, ranked):
                    return True
                del assigned[step]
        return False

    def _consistent(self, p: Pattern, ids: list[str], assigned: dict[str, _Seen]) -> bool:
        times = [s.event.time for s in assigned.values()]
        if p.within is not None and max(times) - min(times) > p.within:
            return False
        if p.order == "given":
            placed = [(ids.index(k), v) for k, v in assigned.items()]
            placed.sort()
            for (_, a), (_, b) in zip(placed, placed[1:]):
                if (a.event.time, a.seq) > (b.event.time, b.seq):
                    return False
        for r in p.relations:
            if r.a[0] in assigned and r.b[0] in assigned:
                if not r.holds(assigned[r.a[0]].at(r.a[1]), assigned[r.b[0]].at(r.b[1])):
                    return False
        return True

    def _conclude(self, p: Pattern, match: dict[str, _Seen], step: Step, h: _Household,
                  home: Household) -> E.Event:
        evidence = tuple(s.iri for s in sorted(match.values(), key=lambda s: s.seq))
        when = step.event.time
        if "activity" in p.conclusion:
            times = [s.event.time for s in match.values()]
            return ActivityInferred(time=when, activity=p.conclusion["activity"],
                                    start=min(times), end=max(times), confidence=p.confidence,
                                    pattern=p.iri, derived_from=evidence)
        s = p.conclusion["suggestion"]
        fields = {k: self._fields(v, h, home) for k, v in match.items()}
        text = _SafeFormatter().format(s["text"], **fields)
        target = None
        if "target" in s:
            step_id, _, attr = str(s["target"]).partition(".")
            target = self._target(match[step_id].event, attr, home)
        action = None
        if s.get("action"):
            h_knowledge = h.timeline.knowledge
            action = h_knowledge.value(s["action"], HEARTH_NS + "command")
        return SuggestionMade(time=when, text=text, kind=str(s.get("kind", "suggestion")),
                              target=target, action=action, confidence=p.confidence,
                              pattern=p.iri, derived_from=evidence)

    def _fields(self, seen: _Seen, h: _Household, home: Household) -> SimpleNamespace:
        ev = seen.event
        state = h.timeline.state
        person = getattr(ev, "person", None)
        device = getattr(ev, "device", None) or getattr(ev, "sensor", None)
        kind, _, local = ev.agent().partition(":")
        location = getattr(ev, "location", None)
        return SimpleNamespace(
            time=ev.time, start=seen.at("start"), end=seen.at("end"),
            title=getattr(ev, "title", "") or "", location=location or "",
            at=f" at {location}" if location else "",
            person=state.name_of("person", person) if person else "",
            device=state.name_of("device", device) if device else "",
            by=state.name_of("person", local) if kind == "person" else "")

    def _target(self, ev: E.Event, attr: str, home: Household) -> str | None:
        if attr == "by":
            kind, _, local = ev.agent().partition(":")
            return home.ids.agent(ev.agent()).value if kind in ("person", "device") else None
        if attr == "person" and getattr(ev, "person", None):
            return home.ids.person(ev.person).value
        if attr == "device" and getattr(ev, "device", None):
            return home.ids.device(ev.device).value
        return None

    def _on_retracted(self, home: Household, h: _Household, a: Appended) -> list[E.Event]:
        """Withdraws the conclusions drawn from a retracted event; follows the history again
        when the retracted event had changed the state."""
        target = a.event.retracts
        out = withdraw_conclusions(home, target, (ACTIVITY_INFERRED, SUGGESTION_MADE),
                                   by=AGENT, when=a.event.time)
        retracted_seq = home.ids.seq_of(target)
        for buf in h.buffers.values():
            buf[:] = [s for s in buf if s.seq != retracted_seq]
        if home.event(retracted_seq).changes_state:
            fresh = _Household(Timeline(home, h.timeline.knowledge), h.buffers, h.used)
            past = fresh.timeline.history(a.seq + 1, recent=dt.timedelta(0))
            for step in fresh.timeline.catch_up(a.seq + 1, only=past):
                pass
            self._homes[home] = fresh
        return out


def withdraw_conclusions(home: Household, target: NamedNode, types: Sequence[NamedNode], *,
                         by: str, when: dt.datetime) -> list[E.Event]:
    """EventRetracted events for the (not yet retracted) conclusions of the given types that
    were derived from ``target``."""
    out = []
    retracted = home.state.retracted
    for q in home.store.quads(None, PROV.wasDerivedFrom, target, None):
        g = q.graph_name
        if q.subject != g or g in retracted:
            continue
        if any(next(iter(home.store.quads(g, RDF.type, t, g)), None) is not None for t in types):
            out.append(E.EventRetracted(
                time=when, by=by, retracts=g,
                reason=f"its evidence, event {target.value.rsplit(':', 1)[-1]}, was retracted"))
    return out


@register_component("patterns")
def patterns_component(*, paths: Sequence[str] = (), builtin: bool = True) -> PatternsComponent:
    """The ``patterns`` component: the shipped patterns (unless ``builtin=False``) and any pattern
    files or folders in ``paths``."""
    patterns = builtin_patterns() if builtin else []
    if paths:
        patterns += load_patterns(*paths)
    return PatternsComponent(patterns)


def describe_activity(event: ActivityInferred, state) -> str:
    """A sentence for the timeline."""
    label = Knowledge.shipped().labels.get(event.activity, event.activity.rsplit("#", 1)[-1])
    return f"Inferred: {label} ({event.start:%H:%M}–{event.end:%H:%M})"


def describe_suggestion(event: SuggestionMade, state) -> str:
    return f"Suggestion ({event.kind}): {event.text}"
