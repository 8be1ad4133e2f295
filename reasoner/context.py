"""Context for understanding: the household's state and its last events fill and re-rank slots.

An utterance alone often leaves its target open. What the home is doing, and what was just said
or done, closes it:

* **Reference** ("turn it off", "dim that"): "it" is the thing last talked about or acted on:
  the target of the latest interpretation (``UtteranceInterpreted``: a device, or an area and a
  kind of device) or the device of the latest command or state change that fits the intent;
* **Salience** ("what's the temperature" while the oven is on): a question about an attribute,
  with no device named, is about the device that has that attribute and is doing something
  now (an appliance that is on), before the thermostat that always reports it;
* **Where** ("turn on the lights", heard by the kitchen speaker): the area of the device that
  heard the utterance;
* **Re-ranking**: among several devices a name fits, the ones whose state makes the command
  meaningful (turning off what is on) come first.

``apply_context(home, interpretation, …)`` returns the interpretation with slots filled or
re-ranked and a note for each change saying why, naming the event it rests on.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kg import events as E

if TYPE_CHECKING:  # pragma: no cover
    from .skills import Catalogue, IntentSpec
    from .understanding import Interpretation

__all__ = ["ACTIVE_STATES", "PRONOUNS", "apply_context", "recent_events"]

HEARTH_NS = "https://w3id.org/hearth#"
PRONOUNS = {"it", "that", "this", "them", "those", "these", "one"}
ACTIVE_STATES = {"on", "heat", "heating", "cool", "cooling", "bake", "baking", "cooking",
                 "running", "playing", "open", "opening", "cleaning", "preheating", "auto"}
# the state that makes a command worth giving: turning off what is on …
_COMMAND_WANTS = {"turn_off": ACTIVE_STATES, "close": {"open", "opening"},
                  "lock": {"unlocked", "unlocking"}, "pause": {"playing"},
                  "turn_on": {"off", "idle", "standby"}, "open": {"closed", "closing"},
                  "unlock": {"locked", "locking"}, "play": {"paused", "idle"}}
_TARGET_SLOTS = ("name", "area", "floor", "domain", "device_class")
_SELF = {"me", "my", "i", "mine", "myself"}
_ATTRIBUTE_NAMES = {"temperature": ("temperature", "current_temperature"),
                    "state": ("state",)}


def recent_events(home, *, n: int = 20,
                  before: int | None = None) -> list[tuple[int, Any, E.Event]]:
    """The last ``n`` events before sequence number ``before`` (default: all), newest first,
    as (seq, event IRI, event), skipping retracted ones."""
    end = (home.head if before is None else before - 1)
    if end < 1:
        return []
    start = max(1, end - n + 1)
    out = []
    retracted = home.state.retracted
    for seq, event in home.events(start=start, end=end):
        iri = home.ids.event(seq)
        if iri in retracted:
            continue
        out.append((seq, iri, event))
    return list(reversed(out))


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def _classes_of(home, resolver) -> dict[str, set[str]]:
    gaz = resolver.extractor.refresh() if resolver is not None else None
    return {iri: r["classes"] for iri, r in gaz.devices.items()} if gaz else {}


def _fits(classes: set[str], intent: "IntentSpec | None") -> bool:
    if intent is None or not intent.device_types:
        return True
    wanted = {HEARTH_NS + t for t in intent.device_types}
    return bool(classes & wanted)


def _when(value: dt.datetime) -> str:
    return value.strftime("%H:%M")


def apply_context(home, interpretation: "Interpretation", *, catalogue: "Catalogue | None" = None,
                  resolver=None, events: int = 20, before: int | None = None,
                  device: str | None = None, speaker: str | None = None,
                  now: dt.datetime | None = None) -> "Interpretation":
    """``interpretation`` with slots filled or re-ranked from the state and the last
    ``events`` events (those before sequence number ``before``), and notes saying why.

    ``device``: the local id of the device that heard the utterance, if known; ``speaker``: the
    local id of the person who said it ("remind me" is for them).
    """
    from .understanding import SlotValue  # the types live with the facade

    interp = interpretation
    if interp.out_of_scope or interp.intent is None:
        return interp
    intent = catalogue.intent(interp.intent) if catalogue is not None and \
        interp.intent in catalogue else None
    slots = dict(interp.slots)
    notes = list(interp.context_notes)
    state = home.state
    ids = home.ids
    classes = _classes_of(home, resolver)
    history = recent_events(home, n=events, before=before)
    has_target = any(k in slots and slots[k].value is not None for k in ("name", "area", "floor"))
    words = _words(interp.text)
    takes_device = intent is None or any(s.name == "name" and s.type == "Device"
                                         for s in intent.slots)

    # -- reference: "it", "that" ------------------------------------------------------------
    if not has_target and takes_device and words & PRONOUNS:
        found = _referent(home, history, intent, classes, catalogue)
        if found is not None:
            new_slots, note, node, domain = found
            slots.update(new_slots)
            notes.append(note)
            has_target = True
            better = _retarget(catalogue, intent, classes.get(node, set()) if node else set(),
                               domain)
            if better is not None and better.id != intent.id:
                notes.append(f"intent = {better.id}: what 'it' names is what {better.id} acts "
                             f"on ({intent.id} does not)")
                interp = replace(interp, intent=better.id, skill=better.skill)
                intent = better

    # -- salience: the attribute asked about, on the device that is busy now -----------------
    if not has_target and intent is not None and intent.attribute and intent.command is None \
            and takes_device:
        found = _salient_device(home, intent, classes, now or _now(history))
        if found is not None:
            iri, note = found
            thing = state.devices[_local(iri, ids, "device")]
            slots["name"] = SlotValue(thing.name, iri, None, "context", 0.8)
            notes.append(note)
            has_target = True

    # -- where: the area of the device that heard it --------------------------------------------
    if not has_target and device and intent is not None and any(
            s.name == "area" for s in intent.slots):
        heard_by = state.devices.get(device)
        if heard_by is not None and heard_by.area and heard_by.area in state.areas:
            area = state.areas[heard_by.area]
            slots["area"] = SlotValue(area.name, ids.area(area.id).value, None, "context", 0.7)
            notes.append(f"area = {area.name}: the utterance was heard by {heard_by.name}, "
                         f"which is in the {area.name}")

    # -- who: "remind me", "my calendar" is the speaker ---------------------------------------
    person_slots = [sl.name for sl in intent.slots if sl.type == "Person"] if intent else []
    if speaker and person_slots and person_slots[0] not in slots and words & _SELF:
        person = state.people.get(speaker)
        if person is not None:
            slots[person_slots[0]] = SlotValue(person.name, ids.person(person.id).value, None,
                                               "context", 0.9)
            notes.append(f"{person_slots[0]} = {person.name}: the speaker said "
                         f"'{sorted(words & _SELF)[0]}'")

    # -- re-rank ambiguous devices by what the command would change -----------------------------
    name = slots.get("name")
    if name is not None and name.node is None and name.candidates and intent is not None \
            and intent.command in _COMMAND_WANTS:
        wants = _COMMAND_WANTS[intent.command]
        ranked = sorted(name.candidates, key=lambda c: (
            str(state.device_state(_local(c.node, ids, "device")) or "").lower() not in wants,
            -c.score))
        useful = [c for c in ranked
                  if str(state.device_state(_local(c.node, ids, "device")) or "").lower() in wants]
        if len(useful) == 1:
            best = useful[0]
            slots["name"] = replace(name, value=best.name, node=best.node,
                                    candidates=tuple(ranked), source=name.source + "+state")
            notes.append(f"name = {best.name}: of {len(ranked)} devices that fit, only it is "
                         f"{state.device_state(_local(best.node, ids, 'device'))}, so only it "
                         f"can be {intent.command.replace('_', ' ')}ed")
        elif ranked != list(name.candidates):
            slots["name"] = replace(name, candidates=tuple(ranked))
    return replace(interp, slots=slots, context_notes=notes)


def _now(history) -> dt.datetime:
    return history[0][2].time if history else dt.datetime.now(dt.timezone.utc)


def _local(iri: str, ids, kind: str) -> str:
    from urllib.parse import unquote
    head = f"{ids.base}{kind}:"
    return unquote(iri[len(head):]) if iri.startswith(head) else iri


def _controllable(classes: set[str]) -> bool:
    return bool(classes & {HEARTH_NS + "Actuator", HEARTH_NS + "Appliance"})


def _retarget(catalogue, intent, classes: set[str], domain: str | None = None):
    """The intent with the same command that acts on this kind of device (or Home Assistant
    domain): "turn it off" read as devices.turn_off, about a light, is lights.turn_off. The
    intent itself when it fits; None when none does."""
    if intent is None:
        return None
    if (classes and _fits(classes, intent)) or (domain and domain in intent.ha_domains):
        return intent
    if catalogue is None or intent.command is None:
        return None
    fitting = []
    for other in catalogue.intents():
        if other.command != intent.command:
            continue
        if domain and domain in other.ha_domains:
            return other
        if classes and other.device_types and _fits(classes, other):
            fitting.append(other)
    if not fitting:
        return intent if not classes and not domain else None
    # the most specific: the fewest device types
    return min(fitting, key=lambda i: (len(i.device_types), i.id))


def _referent(home, history, intent, classes, catalogue):
    """The target of the latest interpretation or device action that fits the intent (or an
    intent with the same command): (slots, note, device node, domain)."""
    from .understanding import SlotValue, UtteranceInterpreted
    state, ids = home.state, home.ids
    for seq, iri, event in history:
        if isinstance(event, UtteranceInterpreted) and not event.out_of_scope:
            slots = event.slots if isinstance(event.slots, dict) else json.loads(event.slots)
            target = {k: v for k, v in slots.items() if k in _TARGET_SLOTS and v}
            if not target:
                continue
            node = (target.get("name") or {}).get("node")
            domain = (target.get("domain") or {}).get("value")
            if _retarget(catalogue, intent, classes.get(node, set()) if node else set(),
                         domain) is None:
                continue
            heard = home.event(ids.seq_of(event.derived_from[0])) if event.derived_from else None
            said = f" ('{heard.text}')" if isinstance(heard, E.UtteranceHeard) else ""
            new = {k: SlotValue(v.get("value"), v.get("node"), None, "context", 0.85)
                   for k, v in target.items()}
            what = ", ".join(f"{k} = {v.get('value')}" for k, v in target.items())
            return new, f"'it' = the target of the last request{said}, event {seq}: {what}", \
                node, domain
        if isinstance(event, (E.CommandIssued, E.DeviceStateChanged)):
            if isinstance(event, E.DeviceStateChanged) and event.attribute != "state":
                continue
            thing = state.devices.get(event.device)
            if thing is None:
                continue
            node = ids.device(thing.id).value
            cls = classes.get(node, set())
            if intent is not None and intent.command and not _controllable(cls):
                continue  # a sensor's reading is not something one turns off
            if _retarget(catalogue, intent, cls) is None:
                continue
            how = (f"was told to {event.command.replace('_', ' ')}"
                   if isinstance(event, E.CommandIssued) else f"turned {event.value}")
            return ({"name": SlotValue(thing.name, node, None, "context", 0.75)},
                    f"'it' = {thing.name}: the last device that {how} "
                    f"(event {seq}, {_when(event.time)})", node, None)
    return None


def _salient_device(home, intent, classes, now: dt.datetime) -> tuple[str, str] | None:
    """The device an attribute question is about: one that has the attribute, ranked busy
    appliance first (most recently switched), then thermostats and sensors."""
    state, ids = home.state, home.ids
    names = _ATTRIBUTE_NAMES.get(intent.attribute, (intent.attribute,))
    ranked = []
    for thing in state.devices.values():
        iri = ids.device(thing.id).value
        has = [a for a in names if (thing.id, a) in state.device_states]
        cls = classes.get(iri, set())
        if not has and not (intent.attribute == "temperature" and
                            HEARTH_NS + "TemperatureSensor" in cls):
            continue
        if not _fits(cls, intent):
            continue
        sv = state.device_states.get((thing.id, "state"))
        active = sv is not None and str(sv.value).lower() in ACTIVE_STATES
        appliance = HEARTH_NS + "Appliance" in cls
        since = sv.since if sv is not None else dt.datetime.min.replace(tzinfo=dt.timezone.utc)
        ranked.append(((active and appliance, active, since), iri, thing, sv))
    if not ranked:
        return None
    ranked.sort(key=lambda r: r[0], reverse=True)
    (busy_appliance, active, _), iri, thing, sv = ranked[0]
    if busy_appliance:
        note = (f"name = {thing.name}: it is {sv.value} (since {_when(sv.since)}, event "
                f"{ids.seq_of(sv.event)}), so '{intent.attribute}' means the {thing.name}'s")
    elif len(ranked) == 1:
        note = f"name = {thing.name}: the only device that reports {intent.attribute}"
    else:
        note = (f"name = {thing.name}: the first of {len(ranked)} devices that report "
                f"{intent.attribute}{' and it is ' + str(sv.value) if active else ''}")
    return iri, note


def slots_json(slots: dict) -> str:
    return json.dumps({k: v.to_json() for k, v in slots.items()}, sort_keys=True)


def describe(interp: "Interpretation") -> str:
    """One line for people: the reading and why."""
    if interp.out_of_scope:
        return f"unfamiliar: {interp.text!r}"
    parts = [f"{interp.intent} ({interp.confidence:.2f})"]
    parts.extend(f"{k}={v.value}" for k, v in interp.slots.items())
    if interp.context_notes:
        parts.append("because " + "; ".join(interp.context_notes))
    return " ".join(parts)
