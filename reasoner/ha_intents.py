"""Home Assistant's intent sentences, matched with hassil against slot lists from the graph.

Home Assistant describes its intents as data: sentence templates (alternatives ``(a|b)``,
optionals ``[a]``, lists ``{area}``, expansion rules ``<turn>``) grouped by intent. hassil, Home
Assistant's own matcher, matches a sentence against them given *slot lists*: the names of the
areas, floors and devices of the home. Here those lists are drawn live from the household graph
(its ``HouseholdState``), so a template stops matching a device the moment it is removed or
renamed, and starts matching a new one as soon as it is added.

Where the sentences come from:

* ``HomeAssistantIntents.from_folder(DIR)``: a checkout of the Home Assistant intents repository
  (``DIR/sentences/en/*.yaml`` and ``DIR/sentences/en/<Intent>/*.yaml``, or that language folder
  itself). Templates that use an expansion rule no file defines are left out and counted;
* ``HomeAssistantIntents.from_package()``: the ``home-assistant-intents`` package's compiled data;
* ``HomeAssistantIntents.default()``: ``$HEARTH_HA_INTENTS`` if set, else the package, else none.

>>> from kg.household import Hearth
>>> home = Hearth.in_memory().create_household("doc", time="2026-11-25T07:00:00Z")
>>> _ = home.append({"type": "DeviceAdded", "time": "2026-11-25T07:00:00Z",
...                  "device": "light.desk", "name": "Desk Lamp", "kind": "light"})
>>> ha = HomeAssistantIntents.from_dict({"language": "en", "intents": {"HassTurnOn": {"data": [
...     {"sentences": ["turn on [the] {name}"]}]}}})
>>> m = ha.recognize("turn on the desk lamp", SlotLists.for_household(home))
>>> m.intent, m.slots, m.entities["name"].node
('HassTurnOn', {'name': 'Desk Lamp'}, 'urn:hearth:doc:device:light.desk')
"""

from __future__ import annotations

import logging
import os
import random
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kg.errors import HearthError

log = logging.getLogger("hearth.reasoner.ha_intents")

__all__ = ["HAEntity", "HAIntentsError", "HAMatch", "HomeAssistantIntents", "SlotLists",
           "ha_domain"]

# hearth device kinds as Home Assistant entity domains (when a device id is not an entity id).
KIND_DOMAINS = {
    "light": "light", "switch": "switch", "climate": "climate", "thermostat": "climate",
    "lock": "lock", "cover": "cover", "garage_door": "cover", "door": "cover", "fan": "fan",
    "media_player": "media_player", "tv": "media_player", "speaker": "media_player",
    "vacuum": "vacuum", "appliance": "switch", "sensor": "sensor",
    "binary_sensor": "binary_sensor", "contact_sensor": "binary_sensor",
    "motion_sensor": "binary_sensor", "temperature_sensor": "sensor",
}
HA_DOMAINS = {
    "light", "switch", "climate", "lock", "cover", "fan", "media_player", "vacuum", "sensor",
    "binary_sensor", "input_boolean", "scene", "script", "valve", "water_heater", "humidifier",
    "lawn_mower", "todo", "weather", "timer", "camera", "alarm_control_panel", "person",
    "button", "input_button", "shopping_list", "assist_satellite", "calendar",
}


class HAIntentsError(HearthError, ValueError):
    """Home Assistant intent data could not be read."""


def ha_domain(device_id: str, kind: str | None) -> str | None:
    """The Home Assistant domain of a device: the prefix of its entity id, else its kind's."""
    head, dot, _ = device_id.partition(".")
    if dot and head in HA_DOMAINS:
        return head
    return KIND_DOMAINS.get(kind or "")


def _expand(name: str) -> list[str]:
    """A name written as a template ("Trader Joe[']s") as all the ways it can be said."""
    from hassil import is_template, parse_sentence, sample_expression
    if not is_template(name):
        return [name.strip()]
    try:
        out = [n.strip() for n in sample_expression(parse_sentence(name).expression)]
    except Exception:  # a name that only looks like a template
        return [name.strip()]
    return list(dict.fromkeys(n for n in out if n)) or [name.strip()]


# --------------------------------------------------------------------------------------------
# Slot lists from the household graph


@dataclass
class SlotLists:
    """hassil slot lists for one household: ``name`` (devices and people), ``area``, ``floor``.

    Values are the names as the household writes them (as Home Assistant's tests expect);
    each carries its graph node in metadata (``iri``, ``id``) and, for devices, the matching
    context Home Assistant's templates ask for (``domain``, ``device_class``)."""

    lists: dict[str, Any]
    fingerprint: int
    names: dict[str, list[dict]] = field(default_factory=dict)  # value → metadata of each thing

    @classmethod
    def for_household(cls, home) -> "SlotLists":
        """The lists for ``home``, rebuilt only when its devices, areas, floors or people
        changed (a state change such as a light turning on keeps them)."""
        state = home.state
        fp = household_fingerprint(state)
        cache = _SLOT_CACHE.get(home)
        if cache is not None and cache.fingerprint == fp:
            return cache
        lists = cls.build(state, home.ids)
        _SLOT_CACHE[home] = lists
        return lists

    @classmethod
    def build(cls, state, ids) -> "SlotLists":
        from hassil import TextSlotList
        names: dict[str, list[dict]] = {}
        name_values = []
        for thing in state.devices.values():
            domain = ha_domain(thing.id, thing.kind)
            context = {"domain": domain} if domain else {}
            if thing.device_class:
                context["device_class"] = thing.device_class
            meta = {"iri": ids.device(thing.id).value, "id": thing.id, "kind": "device",
                    "domain": domain, "area": thing.area}
            for variant in _expand(thing.name):
                name_values.append((variant, variant, context, meta))
                names.setdefault(variant.casefold(), []).append(meta)
        for person in state.people.values():
            meta = {"iri": ids.person(person.id).value, "id": person.id, "kind": "person",
                    "domain": "person", "area": None}
            for variant in _expand(person.name):
                name_values.append((variant, variant, {"domain": "person"}, meta))
                names.setdefault(variant.casefold(), []).append(meta)
        areas = []
        for area in state.areas.values():
            meta = {"iri": ids.area(area.id).value, "id": area.id, "kind": "area"}
            areas.extend((v, v, None, meta) for v in _expand(area.name))
        floors = []
        for floor in state.floors.values():
            meta = {"iri": ids.floor(floor.id).value, "id": floor.id, "kind": "floor"}
            floors.extend((v, v, None, meta) for v in _expand(floor.name))
        lists = {"name": TextSlotList.from_tuples(name_values, name="name"),
                 "area": TextSlotList.from_tuples(areas, name="area"),
                 "floor": TextSlotList.from_tuples(floors, name="floor")}
        return cls(lists, household_fingerprint(state), names)


_SLOT_CACHE: "weakref.WeakKeyDictionary[Any, SlotLists]" = weakref.WeakKeyDictionary()


def household_fingerprint(state) -> int:
    """Changes when a device, area, floor or person is added, renamed, moved or removed, and
    not when a device changes state: what names and gazetteers depend on."""
    return hash((
        tuple((t.id, t.name, t.kind, t.area, t.device_class) for t in state.devices.values()),
        tuple((t.id, t.name, t.floor) for t in state.areas.values()),
        tuple((t.id, t.name) for t in state.floors.values()),
        tuple((t.id, t.name) for t in state.people.values()),
    ))


# --------------------------------------------------------------------------------------------
# Matching


@dataclass(frozen=True)
class HAEntity:
    """One slot of a match: its value, the words it came from and, for names, areas and
    floors, the graph node it names (``node``: an IRI; None for a name several things share,
    where ``candidates`` lists them)."""

    name: str
    value: Any
    text: str
    span: tuple[int, int] | None
    node: str | None = None
    candidates: tuple[str, ...] = ()
    is_wildcard: bool = False


@dataclass(frozen=True)
class HAMatch:
    """A template match: the Home Assistant intent and its slots as Home Assistant's tests
    define them (``slots``: slot name → value), with graph nodes in ``entities``."""

    intent: str
    slots: dict[str, Any]
    entities: dict[str, HAEntity]
    domain: str | None
    context: dict[str, Any]
    response: str | None
    template: str | None

    def to_json(self) -> dict:
        return {"intent": self.intent, "slots": self.slots, "domain": self.domain,
                "nodes": {k: e.node for k, e in self.entities.items() if e.node}}


class HomeAssistantIntents:
    """Home Assistant's intents for one language, ready to match (a hassil ``Intents``)."""

    def __init__(self, intents, *, skipped: Iterable[str] = (), source: str = ""):
        self.intents = intents
        self.skipped = list(skipped)
        self.source = source

    def __repr__(self) -> str:
        n = sum(len(d.sentence_texts) for i in self.intents.intents.values() for d in i.data)
        return (f"HomeAssistantIntents({len(self.intents.intents)} intents, {n} templates, "
                f"{len(self.skipped)} skipped, from {self.source or 'a dict'})")

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "") -> "HomeAssistantIntents":
        from hassil import Intents
        data = dict(data)
        data.setdefault("language", "en")
        data, skipped = _drop_unresolved(data)
        try:
            intents = Intents.from_dict(data)
        except Exception as err:
            raise HAIntentsError(f"the Home Assistant intents{' in ' + source if source else ''}"
                                 f" do not load: {err}") from err
        return cls(intents, skipped=skipped, source=source)

    @classmethod
    def from_folder(cls, folder: str | Path, *, language: str = "en") -> "HomeAssistantIntents":
        """Sentences from a Home Assistant intents checkout (or its ``sentences/<lang>``)."""
        folder = Path(folder)
        lang_dir = folder / "sentences" / language
        if not lang_dir.is_dir():
            lang_dir = folder
        files = sorted(lang_dir.glob("*.yaml"))
        if not files:
            raise HAIntentsError(
                f"no Home Assistant sentence files in {folder}: expected "
                f"{folder}/sentences/{language}/*.yaml (the intents repository layout) or a "
                "folder of *.yaml sentence files")
        from hassil.util import merge_dict
        data: dict[str, Any] = {}
        for path in files:
            merge_dict(data, _read_yaml(path))
        # The per-intent layout: sentences/<lang>/<Intent>/<slot combination>.yaml hold
        # bare "data" blocks; "name_domains" restricts which names a block may match.
        for path in sorted(lang_dir.glob("*/*.yaml")):
            raw = _read_yaml(path)
            blocks = []
            for block in raw.get("data") or []:
                block = dict(block)
                domains = block.get("name_domains")
                if domains and any("{name}" in s for s in block.get("sentences", [])) \
                        and "domain" not in (block.get("requires_context") or {}):
                    block["requires_context"] = {**(block.get("requires_context") or {}),
                                                 "domain": list(domains)}
                blocks.append(block)
            merge_dict(data, {"intents": {path.parent.name: {"data": blocks}}})
        data.setdefault("language", language)
        return cls.from_dict(data, source=str(lang_dir))

    @classmethod
    def from_package(cls, *, language: str = "en") -> "HomeAssistantIntents":
        """Sentences from the ``home-assistant-intents`` package (compiled, all domains)."""
        try:
            import home_assistant_intents
        except ImportError as err:
            raise HAIntentsError("the home-assistant-intents package is not installed: "
                                 "`pip install home-assistant-intents`, or load a folder with "
                                 "HomeAssistantIntents.from_folder(DIR)") from err
        data = home_assistant_intents.get_intents(language)
        if data is None:
            raise HAIntentsError(f"home-assistant-intents has no language {language!r}; it has "
                                 f"{', '.join(home_assistant_intents.get_languages())}")
        return cls.from_dict(data, source=f"home-assistant-intents ({language})")

    @classmethod
    def default(cls, *, language: str = "en") -> "HomeAssistantIntents | None":
        """``$HEARTH_HA_INTENTS`` (a folder) if set, else the package's data, else None."""
        folder = os.environ.get("HEARTH_HA_INTENTS")
        if folder:
            return cls.from_folder(folder, language=language)
        try:
            return cls.from_package(language=language)
        except HAIntentsError:
            return None

    # -- matching --------------------------------------------------------------------------
    def recognize(self, text: str, lists: SlotLists, *,
                  context: Mapping[str, Any] | None = None) -> HAMatch | None:
        """The best template match for ``text`` (one naming a device first, then the most
        literal text matched), or None.

        ``context`` holds what the situation tells: ``{"area": "Kitchen"}`` for the area of
        the device that heard the utterance (templates like "lights on in here" need it)."""
        from hassil import recognize_best
        # as Home Assistant does: a match naming a device beats one naming only an area
        # ("turn on the kitchen light" is the Kitchen Light when there is one)
        result = recognize_best(text, self.intents, slot_lists=lists.lists,
                                intent_context=dict(context or {}), best_slot_name="name")
        if result is None:
            return None
        return self._match(result, lists)

    def _match(self, result, lists: SlotLists) -> HAMatch:
        entities: dict[str, HAEntity] = {}
        for e in result.entities.values():
            meta = e.metadata or {}
            node = meta.get("iri")
            candidates: tuple[str, ...] = ()
            if e.name == "name" and not e.is_wildcard:
                same = [m["iri"] for m in lists.names.get(str(e.value).casefold(), [])]
                if len(same) > 1:
                    candidates = tuple(same)
            entities[e.name] = HAEntity(e.name, e.value, e.text, e.text_span, node, candidates,
                                        e.is_wildcard)
        domain = None
        if "domain" in entities and isinstance(entities["domain"].value, str):
            domain = entities["domain"].value
        elif "name" in entities and result.entities["name"].metadata:
            domain = result.entities["name"].metadata.get("domain")
        elif isinstance(result.context.get("domain"), str):
            domain = result.context["domain"]
        template = result.intent_sentence.text if result.intent_sentence is not None else None
        return HAMatch(result.intent.name, {k: e.value for k, e in entities.items()}, entities,
                       domain, dict(result.context), result.response, template)

    # -- samples ---------------------------------------------------------------------------
    def samples(self, lists: SlotLists, *, per_template: int = 2, per_intent: int = 40,
                seed: int = 0, wildcards: Mapping[str, Sequence[str]] | None = None
                ) -> list[tuple[str, str, str | None]]:
        """(sentence, Home Assistant intent, domain) triples drawn at random from the templates,
        with names from ``lists`` (only names that meet a template's required context), a few
        per template and at most ``per_intent`` for each intent and domain; deterministic for a
        seed. The domain is the one the sentence acts on (a block's ``domain`` slot, or the
        domain of the name drawn), or None."""
        rng = random.Random(seed)
        wild = {k: list(v) for k, v in (wildcards or WILDCARD_SAMPLES).items()}
        out: list[tuple[str, str, str | None]] = []
        for name in sorted(self.intents.intents):
            intent = self.intents.intents[name]
            drawn: dict[str, str | None] = {}
            for data in intent.data:
                env = _SampleEnv(
                    lists={**self.intents.slot_lists, **lists.lists, **data.slot_lists},
                    rules={**self.intents.expansion_rules, **data.expansion_rules},
                    required=dict(data.requires_context or {}), wildcards=wild)
                fixed = (data.slots or {}).get("domain")
                for sentence in data.sentences:
                    kept = 0
                    for _ in range(per_template * 3):
                        picked: dict = {}
                        text = _draw(sentence.expression, env, rng, picked)
                        text = " ".join(text.split()) if text else ""
                        if not text or text in drawn:
                            continue
                        drawn[text] = fixed if isinstance(fixed, str) else \
                            picked.get("domain") or data.inferred_domain
                        kept += 1
                        if kept >= per_template:
                            break
            texts = list(drawn)
            rng.shuffle(texts)
            per_domain: dict[str | None, int] = {}
            for t in texts:  # at most per_intent for each (intent, domain)
                n = per_domain.get(drawn[t], 0)
                if n < per_intent:
                    per_domain[drawn[t]] = n + 1
                    out.append((t, name, drawn[t]))
        return out


# Values for wildcard lists when sampling sentences (free text: a song, a shopping item …).
WILDCARD_SAMPLES = {
    "search_query": ["some jazz", "the beatles", "my running playlist", "the news"],
    "shopping_list_item": ["milk", "eggs", "washing powder", "two lemons"],
    "todo_list_item": ["call the bank", "mow the lawn", "book the dentist"],
    "message": ["dinner is ready", "time to leave", "the car is here"],
    "timer_name": ["pizza", "pasta", "laundry"],
    "timer_command": ["turn off the oven", "tell me to check the rice"],
    "zone": ["work", "school", "the gym"],
}


@dataclass
class _SampleEnv:
    lists: dict
    rules: dict
    required: dict
    wildcards: dict


def _context_ok(context: Mapping[str, Any] | None, required: Mapping[str, Any]) -> bool:
    for key, want in required.items():
        if isinstance(want, dict):  # {"slot": true}: filled from the situation, not a name
            continue
        have = (context or {}).get(key)
        if isinstance(want, list):
            if have not in want:
                return False
        elif have != want:
            return False
    return True


def _draw(expr, env: _SampleEnv, rng: random.Random, picked: dict, depth: int = 0) -> str | None:
    """One random sentence from a template expression (None if a list has nothing to offer)."""
    from hassil.expression import (Alternative, ListReference, Permutation, RuleReference,
                                   Sequence as Seq, TextChunk)
    from hassil.intents import RangeSlotList, TextSlotList, WildcardSlotList
    if depth > 40:
        return None
    if isinstance(expr, TextChunk):
        return expr.original_text if expr.original_text is not None else expr.text
    if isinstance(expr, Alternative):
        if not expr.items:
            return ""
        return _draw(rng.choice(expr.items), env, rng, picked, depth + 1)
    if isinstance(expr, Permutation):
        items = list(expr.items)
        rng.shuffle(items)
        parts = [_draw(i, env, rng, picked, depth + 1) for i in items]
        return None if any(p is None for p in parts) else " ".join(parts)
    if isinstance(expr, Seq):
        parts = [_draw(i, env, rng, picked, depth + 1) for i in expr.items]
        return None if any(p is None for p in parts) else "".join(parts)
    if isinstance(expr, RuleReference):
        rule = env.rules.get(expr.rule_name)
        return None if rule is None else _draw(rule.expression, env, rng, picked, depth + 1)
    if isinstance(expr, ListReference):
        slot_list = env.lists.get(expr.list_name)
        if isinstance(slot_list, TextSlotList):
            values = slot_list.values
            if expr.list_name == "name" and env.required:
                values = [v for v in values if _context_ok(v.context, env.required)]
            if not values:
                return None
            value = rng.choice(values)
            if value.metadata and value.metadata.get("domain"):
                picked.setdefault("domain", value.metadata["domain"])
            elif value.context and value.context.get("domain"):
                picked.setdefault("domain", value.context["domain"])
            return _draw(value.text_in, env, rng, picked, depth + 1)
        if isinstance(slot_list, RangeSlotList):
            n = rng.randrange(slot_list.start, slot_list.stop + 1, slot_list.step)
            return str(n)
        if isinstance(slot_list, WildcardSlotList) or slot_list is None:
            options = env.wildcards.get(expr.list_name)
            return rng.choice(options) if options else None
        return None
    return None


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise HAIntentsError(f"{path} is not valid YAML: {err}") from None
    return data or {}


def _rule_refs(expression) -> set[str]:
    from hassil.expression import RuleReference
    out: set[str] = set()
    stack = [expression]
    while stack:
        e = stack.pop()
        if isinstance(e, RuleReference):
            out.add(e.rule_name)
        stack.extend(getattr(e, "items", None) or [])
        inner = getattr(e, "expression", None)
        if inner is not None:
            stack.append(inner)
    return out


def _drop_unresolved(data: dict) -> tuple[dict, list[str]]:
    """Leaves out templates that use an expansion rule nobody defines (newer data files can
    reference rules of a newer common file), so the rest still loads; returns them."""
    from hassil import parse_sentence
    rules = dict(data.get("expansion_rules") or {})

    def refs(text: str) -> set[str] | None:
        try:
            return _rule_refs(parse_sentence(text, keep_text=True))
        except Exception:
            return None

    def resolvable(text: str, local: dict, seen: frozenset = frozenset()) -> bool:
        names = refs(text)
        if names is None:
            return False
        for name in names:
            if name in seen:
                continue
            body = local.get(name, rules.get(name))
            if body is None or not resolvable(body, local, seen | {name}):
                return False
        return True

    skipped: list[str] = []
    intents = {}
    for name, intent in (data.get("intents") or {}).items():
        blocks = []
        for block in intent.get("data") or []:
            local = block.get("expansion_rules") or {}
            keep = [s for s in block.get("sentences") or [] if resolvable(s, local)]
            skipped.extend(f"{name}: {s}" for s in block.get("sentences") or [] if s not in keep)
            if keep:
                blocks.append({**block, "sentences": keep})
        if blocks:
            intents[name] = {**intent, "data": blocks}
    if skipped:
        log.info("left out %d Home Assistant templates that use undefined rules", len(skipped))
    return {**data, "intents": intents}, skipped
