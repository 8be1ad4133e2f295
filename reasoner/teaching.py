"""Interactive teaching: new commands taught in words, used from then on; new intents from a few
examples.

**Teaching a command in a dialogue.** "reading mode" → no skill covers it → the ``teaching``
component asks (a ``TeachingRequested`` conclusion: "I don't know 'reading mode' yet. Can you
teach me?") → the same person's next utterance, "lights all the way up in the living room", is
resolved against the household graph into actions (device IRIs, a command, an attribute and a
value: :func:`resolve_actions`) → a ``CommandTaught`` event, derived from both utterances and the
question. From then on, hearing "reading mode" (or "turn on reading mode", "reading mode
please") issues the actions as ``CommandIssued`` events derived from the utterance and from the
``CommandTaught`` that defines them, which is how ``explain()`` says "you taught me this at
19:02".

**In one sentence.** "movie mode means lights at twenty percent" (or "when I say movie mode,
lights at twenty percent") teaches at once.

**Confirm, edit, forget, scope.** Every ``CommandTaught`` carries the assistant's confirmation
(``reply``: "OK: from now on 'movie mode' sets the Reading Lamp and the Ceiling Light to 20%").
Teaching a phrase again in the same scope is a revision: the new ``CommandTaught`` names the one it
replaces (``prov:wasRevisionOf``); nothing is overwritten. "forget reading mode" is a
``CommandForgotten`` event that names the definition it withdraws. A command is taught for the
whole household (the default), for one person ("… just for me": only their utterances use it) or
for one room ("… only in here": only utterances heard by a device in that room); the most specific
definition that applies wins (room, then person, then household).

**Few-shot intents.** ``IntentDefined`` (an intent's id, its skill, ~10 example utterances, and
optionally the actions it performs) is added at once to the understanding component's classifier
(``add_intent``, :class:`reasoner.intents.IntentClassifier`'s imprinting: nothing else is
retrained) and to its catalogue, so the very next utterance can be read as it.

State is a projection of the log (:func:`teaching_state`), rebuilt by replaying these events;
SPARQL reads the same events (:data:`TAUGHT_QUERY`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import unquote

from pyoxigraph import NamedNode

from kg import events as E
from kg.errors import EventError
from kg.events import f, register_event_type
from kg.household import Household
from kg.log import Appended
from kg.vocab import HEARTH_NS, PROV, RDF

from .errors import ReasonerError
from .pipeline import register_component

log = logging.getLogger("hearth.reasoner.teaching")

__all__ = [
    "AGENT", "Action", "CommandForgotten", "CommandTaught", "IntentDefined", "TaughtCommand",
    "TeachingComponent", "TeachingError", "TeachingRequested", "TeachingState", "TAUGHT_QUERY",
    "TEACHING_TYPES", "DESCRIBERS", "SCOPES", "ActionResolver", "resolve_actions",
    "teaching_state", "normalize_phrase", "phrase_variants", "command_events", "describe_actions",
    "imprint_intent", "install_intents", "KNOWN_PHRASES", "register_describers", "split_scope",
    "device_local", "teach", "forget", "define_intent",
]

AGENT = "component:teaching"
SCOPES = ("household", "user", "room")


class TeachingError(ReasonerError, ValueError):
    """A command or an intent cannot be taught as asked: the message says what to change."""


def _h(name: str) -> NamedNode:
    return NamedNode(HEARTH_NS + name)


COMMAND_TAUGHT = _h("CommandTaught")
COMMAND_FORGOTTEN = _h("CommandForgotten")
TEACHING_REQUESTED = _h("TeachingRequested")
INTENT_DEFINED = _h("IntentDefined")
DEFINITION = _h("Definition")
P_ACTIONS = _h("actions")
P_SCOPE = _h("scope")
P_REPLY = _h("reply")
P_FORGETS = _h("forgets")
P_EXAMPLES = _h("examples")
P_PHRASE = _h("phrase")
P_TEXT = _h("text")
P_PERSON = _h("person")
P_AREA = _h("area")
P_SPEAKER = _h("speaker")
P_DEVICE = _h("device")
P_INTENT = _h("intentName")
P_SKILL = _h("skillName")


# ================================================================================================
# Actions: what a taught command (or a routine) does, resolved against the household graph
# ================================================================================================

@dataclass(frozen=True)
class Action:
    """One thing to do: ``command`` on ``device`` (an IRI of the household), optionally setting
    ``attribute`` to ``value`` ("set" the "brightness" to 100)."""

    device: str
    command: str
    attribute: str | None = None
    value: Any = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {"device": self.device, "command": self.command}
        if self.attribute is not None:
            out["attribute"] = self.attribute
        if self.value is not None:
            out["value"] = self.value
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "Action":
        if not isinstance(obj, Mapping) or not obj.get("device") or not obj.get("command"):
            raise TeachingError(f"an action is an object with 'device' (an IRI) and 'command', "
                                f"got {obj!r}")
        return cls(str(obj["device"]), str(obj["command"]), obj.get("attribute"),
                   obj.get("value"))


def _check_actions(actions: Any, where: str) -> None:
    if not isinstance(actions, list) or not actions:
        raise EventError(f"{where}.actions is a non-empty list of actions", field="actions")
    for a in actions:
        if not isinstance(a, dict) or not isinstance(a.get("device"), str) or \
                not isinstance(a.get("command"), str):
            raise EventError(f"{where}.actions: each action has a 'device' IRI and a 'command', "
                             f"got {a!r}", field="actions")


def device_local(home: Household, iri: str) -> str:
    """The local id of one of the household's device IRIs (the id itself if given one)."""
    head = f"{home.ids.base}device:"
    return unquote(iri[len(head):]) if iri.startswith(head) else iri


def command_events(home: Household, actions: Iterable[Action | Mapping], *, time: dt.datetime,
                   derived_from: Sequence[NamedNode], by: str = AGENT) -> list[E.CommandIssued]:
    """One ``CommandIssued`` per action (a setting's command names its attribute's value: "set"
    with value 100 for brightness), each derived from ``derived_from``."""
    out = []
    for a in actions:
        a = a if isinstance(a, Action) else Action.from_json(a)
        out.append(E.CommandIssued(time=time, by=by, device=device_local(home, a.device),
                                   command=a.command, value=a.value,
                                   attribute=a.attribute if a.value is not None else None,
                                   derived_from=tuple(derived_from)))
    return out


def describe_actions(home: Household, actions: Iterable[Action | Mapping]) -> str:
    """"sets the Reading Lamp and the Ceiling Light to 100% brightness; turns on the TV"."""
    groups: dict[tuple, list[str]] = {}
    for a in actions:
        a = a if isinstance(a, Action) else Action.from_json(a)
        name = home.state.name_of("device", device_local(home, a.device))
        groups.setdefault((a.command, a.attribute, a.value), []).append(f"the {name}")
    parts = []
    for (command, attribute, value), names in groups.items():
        who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        if attribute is not None and value is not None:
            unit = "%" if attribute in ("brightness", "position", "volume", "percentage") else \
                "°" if attribute == "temperature" else ""
            parts.append(f"sets {who} to {value}{unit}" + (
                f" {attribute}" if attribute in ("brightness", "volume", "position") else ""))
        else:
            words = {"turn_on": "turns on", "turn_off": "turns off", "lock": "locks",
                     "unlock": "unlocks", "open": "opens", "close": "closes", "play": "plays",
                     "pause": "pauses"}.get(command, f"asks {{}} to {command}")
            parts.append(words.format(who) if "{}" in words else f"{words} {who}")
    return "; ".join(parts)


# -- the words of commands --------------------------------------------------------------------

# (attribute, command) a "level" sets, by device kind
_LEVEL = {"light": ("brightness", "set"), "cover": ("position", "set_position"),
          "garage_door": ("position", "set_position"), "media_player": ("volume", "volume_set"),
          "tv": ("volume", "volume_set"), "speaker": ("volume", "volume_set"),
          "fan": ("percentage", "set"), "climate": ("temperature", "set_temperature"),
          "thermostat": ("temperature", "set_temperature")}
_SWITCHABLE = {"light", "switch", "fan", "media_player", "tv", "speaker", "appliance", "vacuum",
               "climate", "thermostat", "device"}
_CAPABLE = {"turn_on": _SWITCHABLE, "turn_off": _SWITCHABLE, "lock": {"lock"},
            "unlock": {"lock"}, "open": {"cover", "garage_door", "door", "lock"},
            "close": {"cover", "garage_door", "door"},
            "play": {"media_player", "tv", "speaker"}, "pause": {"media_player", "tv", "speaker"}}
_SENSORS = {"sensor", "binary_sensor", "contact_sensor", "motion_sensor", "temperature_sensor"}

_VERBS = [  # (pattern, command or ("level", value)); the first that matches wins
    (r"\ball the way up\b|\bfull(?:y)? (?:brightness|blast|on)\b|\bmax(?:imum)?\b|"
     r"\bbrightest\b|\bas bright as\b|\bfull\b", ("level", 100)),
    (r"\ball the way down\b|\bdimmest\b|\blowest\b|\bminimum\b", ("level", 1)),
    (r"\bdim(?:med)?\b|\blow\b|\bsoft\b", ("level", 30)),
    (r"\bunlock", "unlock"), (r"\block", "lock"),
    (r"\bopen", "open"), (r"\bclose|\bshut\b", "close"),
    (r"\bpause|\bstop\b", "pause"), (r"\bplay\b", "play"),
    (r"\boff\b|\bout\b|\bkill\b", "turn_off"),
    (r"\bon\b|\bup\b|\bbright\b|\bstart\b", "turn_on"),
]
_WORD = re.compile(r"[\w']+")


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2].endswith(("sh", "ch", "x", "s")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


class ActionResolver:
    """Turns words ("lights all the way up in the living room") into :class:`Action` s on the
    household's devices, with the gazetteers of :class:`reasoner.slots.SlotExtractor` (device,
    area and device-kind names from the graph; numbers and percentages).

    ``room``: the area an utterance was heard in, used when the words name no area ("lights at
    twenty percent" said in the living room means the living room's lights)."""

    def __init__(self) -> None:
        self._extractors: "weakref.WeakKeyDictionary[Household, Any]" = \
            weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def extractor(self, home: Household):
        from .slots import SlotExtractor
        with self._lock:
            ex = self._extractors.get(home)
            if ex is None:
                ex = self._extractors[home] = SlotExtractor(home)
            return ex

    def resolve(self, home: Household, text: str, *, room: str | None = None,
                hint_command: str | None = None, now: dt.datetime | None = None,
                taught: "TeachingState | None" = None, speaker: str | None = None
                ) -> list[Action]:
        """The actions ``text`` asks for; raises :class:`TeachingError` saying which words could
        not be resolved."""
        clauses = [c for c in re.split(r"\s*(?:,|;|\band then\b|\bthen\b|\band\b)\s*", text)
                   if c and c.strip()]
        if not clauses:
            raise TeachingError("there are no words to resolve into actions")
        out: list[Action] = []
        for clause in clauses:
            out.extend(self._clause(home, clause.strip(), room=room, hint=hint_command, now=now,
                                    taught=taught, speaker=speaker))
        seen, unique = set(), []
        for a in out:
            key = (a.device, a.command, a.attribute, _json_key(a.value))
            if key not in seen:
                seen.add(key)
                unique.append(a)
        return unique

    def _clause(self, home, clause, *, room, hint, now, taught, speaker) -> list[Action]:
        if taught is not None:  # "movie mode" may be defined by another taught phrase
            known = taught.lookup(clause, speaker=speaker, area=room)
            if known is not None:
                return [Action.from_json(a) for a in known.actions]
        ex = self.extractor(home)
        mentions = ex.extract(clause, now=now)
        gaz = ex.refresh()
        low = clause.casefold()
        named = [n for m in mentions if m.label == "DEVICE" for n in m.nodes]
        areas = [n for m in mentions if m.label == "AREA" for n in m.nodes]
        kinds = [n for m in mentions if m.label == "DEVICE_TYPE" for n in m.nodes]
        taken = [(m.start, m.end) for m in mentions if m.label in ("DEVICE", "AREA")]
        if not kinds:  # "lights all the way up": a kind of device read as a verb by the parser
            for w in _WORD.finditer(low):
                if any(a <= w.start() < b for a, b in taken):
                    continue
                for form in (w.group(), _singular(w.group())):
                    entry = gaz.type_words.get(form)
                    if entry:
                        kinds.append(entry["kind"] or entry["class"])
                        break
        level = None
        command = None
        for m in mentions:
            if m.label == "PERCENT":
                level = m.value
            elif m.label == "TEMPERATURE" and isinstance(m.value, dict):
                level = m.value.get("value")
        if level is None:
            for pattern, what in _VERBS:
                if re.search(pattern, low):
                    if isinstance(what, tuple):
                        level = what[1]
                    else:
                        command = what
                    break
        if level is None and command is None:
            command = hint
        if level is None and command is None:
            raise TeachingError(f"I could not tell what to do in {clause!r}: say it with a "
                                "setting, such as 'on', 'off' or 'at 50 percent'")
        if named:
            devices = list(dict.fromkeys(named))
        else:
            where = areas or ([home.ids.area(room).value] if room else [])
            devices = [iri for iri, d in gaz.devices.items()
                       if (not where or d["area"] in where)
                       and (not kinds or any(k in d["classes"] or k in d["object_kinds"]
                                             for k in kinds))
                       and d["kind"] not in _SENSORS]
            if not kinds and not areas:
                raise TeachingError(f"I could not tell which devices {clause!r} is about: name a "
                                    "device, a kind of device or a room")
        actions = []
        for iri in devices:
            kind = gaz.devices.get(iri, {}).get("kind") or "device"
            if level is not None:
                attribute, cmd = _LEVEL.get(kind, (None, None))
                if attribute is None:
                    continue
                value = level if not isinstance(level, float) or not level.is_integer() \
                    else int(level)
                if attribute == "brightness" and value == 0:
                    actions.append(Action(iri, "turn_off"))
                else:
                    actions.append(Action(iri, cmd, attribute, value))
            elif named or kind in _CAPABLE.get(command, {kind}):
                actions.append(Action(iri, command))
        if not actions:
            what = f"'{command}'" if command else "a setting"
            raise TeachingError(f"no device in {clause!r} takes {what}; devices here: " + (
                ", ".join(sorted(gaz.devices[i]["name"] for i in devices)) or "none"))
        return actions


def _json_key(value: Any) -> Any:
    return repr(value)


_RESOLVER = ActionResolver()


def resolve_actions(home: Household, text: str, *, room: str | None = None,
                    now: dt.datetime | None = None) -> list[Action]:
    """The actions some words ask for in ``home`` (see :class:`ActionResolver`).

    >>> from kg.household import Hearth
    >>> home = Hearth.in_memory().create_household("doc", time="2026-11-25T07:00:00Z")
    >>> _ = home.append_many([
    ...     {"type": "AreaAdded", "time": "2026-11-25T07:00:00Z", "area": "den", "name": "Den"},
    ...     {"type": "DeviceAdded", "time": "2026-11-25T07:00:00Z", "device": "light.den",
    ...      "name": "Den Lamp", "kind": "light", "area": "den"}])
    >>> [(a.device, a.command, a.attribute, a.value)
    ...  for a in resolve_actions(home, "lights at 40 percent in the den")]
    [('urn:hearth:doc:device:light.den', 'set', 'brightness', 40)]
    """
    return _RESOLVER.resolve(home, text, room=room, now=now)


# ================================================================================================
# Phrases
# ================================================================================================

_WAKE = re.compile(r"^(?:(?:hey|ok|okay|hi)\s+)?(?:alexa|hearth|google|siri|computer|jarvis)\b"
                   r"[\s,]*", re.I)
_LEAD = ("please", "now", "could you", "can you", "would you", "go to", "switch to", "turn on",
         "switch on", "put on", "start", "activate", "enable", "set", "time for", "it's",
         "let's do", "do")
_TRAIL = ("please", "now", "on", "mode on", "thanks", "thank you")


def normalize_phrase(text: str, *, commas: bool = False) -> str:
    """A phrase as teaching compares it: lower case, no wake word, no punctuation (but commas,
    if asked: they separate a phrase from its meaning).

    >>> normalize_phrase("Alexa, Reading Mode!")
    'reading mode'
    """
    t = _WAKE.sub("", text.strip())
    t = re.sub(r"[^\w\s'%°,-]" if commas else r"[^\w\s'%°-]", " ", t.casefold())
    return re.sub(r"\s+,", ",", " ".join(t.split())).strip(" ,")


def phrase_variants(text: str) -> list[str]:
    """The phrase and its forms without a polite or verb wrapper: "turn on reading mode please"
    → ["turn on reading mode please", "reading mode please", "reading mode"]."""
    t = normalize_phrase(text)
    out = [t]
    changed = True
    while changed and t:
        changed = False
        for lead in _LEAD:
            if t.startswith(lead + " "):
                t = t[len(lead) + 1:]
                changed = True
        for trail in _TRAIL:
            if t.endswith(" " + trail):
                t = t[:-len(trail) - 1]
                changed = True
        if changed and t:
            out.append(t)
    return list(dict.fromkeys(out))


_DEFINE = [
    re.compile(r"^(?:from now on,? )?(?:when i say |if i say )(?P<phrase>.+?)"
               r"(?:,| i mean| it means| means| that means| then)\s+(?P<meaning>.+)$"),
    re.compile(r"^(?:from now on,? )?(?P<phrase>.+?) (?:means|should mean|is when you|= )\s*"
               r"(?P<meaning>.+)$"),
    re.compile(r"^(?:teach you|learn) (?P<phrase>.+?)[:,]\s*(?P<meaning>.+)$"),
]
_FORGET = re.compile(r"^(?:please )?(?:forget|unlearn|delete|remove|stop using)(?: about)?"
                     r"(?: the)?(?: command| phrase| what)? (?P<phrase>.+?)(?: means| is)?"
                     r"(?: please)?$")
_UNDO = re.compile(r"^(?:no,? )?(?:that's wrong|that is wrong|that's not (?:it|right)|"
                   r"undo(?: that)?|scratch that|wrong)$|^no$")
_CANCEL = re.compile(r"^(?:no|nope|never ?mind|cancel|forget it|stop|not now|no thanks?)\b")
_QUESTION = re.compile(r"^(?:who|what|when|where|why|how|which|is|are|was|were|can|could|do|"
                       r"does|did|will|would|should|tell)\b")
_SCOPE_WORDS = [
    ("user", re.compile(r"[,\s]*\b(?:just|only) for me\b|[,\s]*\bfor me only\b")),
    ("room", re.compile(r"[,\s]*\b(?:just|only) (?:in )?(?:this room|here|in here)\b|"
                        r"[,\s]*\bin (?:this room|here) only\b")),
    ("household", re.compile(r"[,\s]*\bfor (?:everyone|everybody|the whole house(?:hold)?)\b")),
]


def split_scope(text: str) -> tuple[str, str | None]:
    """The words without a scope phrase, and the scope they named (None: none)."""
    for scope, pattern in _SCOPE_WORDS:
        if pattern.search(text):
            return " ".join(pattern.sub(" ", text).split()).strip(" ,"), scope
    return text, None


# Other modules whose phrases teaching must not ask about (routines' phrase triggers):
# functions (home, phrase variants) → bool.
KNOWN_PHRASES: list[Callable[[Household, list[str]], bool]] = []


# ================================================================================================
# Events
# ================================================================================================

class _TeachingEvent(E.Event):
    def default_by(self) -> str:
        if getattr(self, "person", None):
            return f"person:{self.person}"
        return AGENT


@register_event_type
@dataclass(frozen=True, kw_only=True)
class CommandTaught(_TeachingEvent):
    """A person taught a phrase as a command: ``actions`` (a list of ``{device, command,
    attribute?, value?}``, devices as household IRIs), in a ``scope`` ("household", "user":
    ``person``'s utterances only, "room": utterances heard in ``area`` only); ``person`` is also
    who taught it in the other scopes. ``text``: the words
    that defined it; ``reply``: the assistant's confirmation; ``revises``: the definition it
    replaces (``prov:wasRevisionOf``). Taught in a dialogue, it is derived from the utterances
    and the question."""

    phrase: str = f("text", P_PHRASE)
    actions: Any = f("json", P_ACTIONS)
    scope: str = f("text", P_SCOPE, required=False, default="household")
    person: str | None = f("person", P_PERSON, required=False)
    area: str | None = f("area", P_AREA, required=False)
    text: str | None = f("text", P_TEXT, required=False)
    reply: str | None = f("text", P_REPLY, required=False)
    revises: NamedNode | None = f("event", PROV.wasRevisionOf, required=False)
    rdf_type: ClassVar = COMMAND_TAUGHT

    def check(self) -> None:
        if self.scope not in SCOPES:
            raise EventError(f"CommandTaught.scope is one of {', '.join(SCOPES)}, not "
                             f"{self.scope!r}", field="scope")
        if self.scope == "user" and not self.person:
            raise EventError("a command taught for one user names the person", field="person")
        if self.scope == "room" and not self.area:
            raise EventError("a command taught for one room names the area", field="area")
        if not normalize_phrase(self.phrase):
            raise EventError("CommandTaught.phrase has no words", field="phrase")
        _check_actions(self.actions, "CommandTaught")

    def payload(self, ev, seq, ids):
        return super().payload(ev, seq, ids) + [(ev, RDF.type, DEFINITION)]


@register_event_type
@dataclass(frozen=True, kw_only=True)
class CommandForgotten(_TeachingEvent):
    """A taught command is no longer used: ``forgets`` names the ``CommandTaught`` withdrawn."""

    phrase: str = f("text", P_PHRASE)
    forgets: NamedNode = f("event", P_FORGETS)
    person: str | None = f("person", P_PERSON, required=False)
    reply: str | None = f("text", P_REPLY, required=False)
    rdf_type: ClassVar = COMMAND_FORGOTTEN


@register_event_type
@dataclass(frozen=True, kw_only=True)
class TeachingRequested(E.Event):
    """The assistant did not know ``phrase`` and asked ``speaker`` to teach it (``reply``: what
    it said). The speaker's next utterance is read as the meaning."""

    phrase: str = f("text", P_PHRASE)
    reply: str = f("text", P_REPLY)
    speaker: str | None = f("person", P_SPEAKER, required=False)
    device: str | None = f("device", P_DEVICE, required=False)
    rdf_type: ClassVar = TEACHING_REQUESTED
    is_conclusion: ClassVar = True

    def default_by(self) -> str:
        return AGENT


@register_event_type
@dataclass(frozen=True, kw_only=True)
class IntentDefined(E.Event):
    """A new intent ``intent`` of ``skill`` defined by a few ``examples`` (a JSON list of
    utterances; "[words](slot)" marks a slot), usable at once; optional ``actions`` it performs.
    ``person``: who defined it (a user or a skill builder)."""

    intent: str = f("text", P_INTENT)
    skill: str = f("text", P_SKILL)
    examples: Any = f("json", P_EXAMPLES)
    actions: Any = f("json", P_ACTIONS, required=False)
    person: str | None = f("person", P_PERSON, required=False)
    rdf_type: ClassVar = INTENT_DEFINED

    def default_by(self) -> str:
        return f"person:{self.person}" if self.person else "component:hearth"

    def check(self) -> None:
        if not isinstance(self.examples, list) or not self.examples or not all(
                isinstance(x, str) and x.strip() for x in self.examples):
            raise EventError("IntentDefined.examples is a non-empty list of utterances",
                             field="examples")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.skill):
            raise EventError(f"IntentDefined.skill {self.skill!r} is a lower-case name such as "
                             "'garden'", field="skill")
        if not self.intent.startswith(self.skill + "."):
            raise EventError(f"IntentDefined.intent is '<skill>.<name>', such as "
                             f"'{self.skill}.water_plants', not {self.intent!r}", field="intent")
        if self.actions is not None:
            _check_actions(self.actions, "IntentDefined")


TEACHING_TYPES = (CommandTaught, CommandForgotten, TeachingRequested, IntentDefined)


# ================================================================================================
# The projection: taught commands now in force, open questions, defined intents
# ================================================================================================

@dataclass(frozen=True)
class TaughtCommand:
    phrase: str
    actions: tuple[dict, ...]
    scope: str
    person: str | None
    area: str | None
    seq: int
    iri: NamedNode
    time: dt.datetime
    text: str | None = None
    revises: NamedNode | None = None

    @property
    def key(self) -> tuple:
        return _key(self.phrase, self.scope, self.person, self.area)


def _key(phrase: str, scope: str, person: str | None, area: str | None) -> tuple:
    return (normalize_phrase(phrase), scope, person if scope == "user" else None,
            area if scope == "room" else None)


@dataclass
class TeachingState:
    """What teaching knows now: the commands in force (by phrase and scope), the questions it
    asked (speaker → the latest ``TeachingRequested``), the intents defined."""

    commands: dict[tuple, TaughtCommand] = field(default_factory=dict)
    requests: dict[str | None, tuple[int, TeachingRequested]] = field(default_factory=dict)
    taught_by: dict[str | None, tuple[int, CommandTaught]] = field(default_factory=dict)
    intents: dict[str, tuple[int, IntentDefined]] = field(default_factory=dict)
    seq: int = 0

    def apply(self, seq: int, event: E.Event, home: Household) -> None:
        if isinstance(event, CommandTaught):
            tc = TaughtCommand(normalize_phrase(event.phrase), tuple(event.actions), event.scope,
                               event.person, event.area, seq, home.ids.event(seq), event.time,
                               event.text, event.revises)
            self.commands[tc.key] = tc
            if event.derived_from:  # taught in a dialogue: "no, that's wrong" may undo it
                self.taught_by[event.by.partition(":")[2] if event.by.startswith("person:")
                               else None] = (seq, event)
        elif isinstance(event, CommandForgotten):
            for k, tc in list(self.commands.items()):
                if tc.iri == event.forgets:
                    del self.commands[k]
        elif isinstance(event, TeachingRequested):
            self.requests[event.speaker] = (seq, event)
        elif isinstance(event, IntentDefined):
            self.intents[event.intent] = (seq, event)
        self.seq = max(self.seq, seq)

    def candidates(self, phrase: str, *, speaker: str | None = None, area: str | None = None
                   ) -> list[TaughtCommand]:
        """The definitions of ``phrase`` that apply to ``speaker`` in ``area``, the most specific
        first (room, user, household)."""
        out = []
        for variant in phrase_variants(phrase):
            for scope, person, where in (("room", None, area), ("user", speaker, None),
                                         ("household", None, None)):
                if scope == "room" and area is None or scope == "user" and speaker is None:
                    continue
                tc = self.commands.get(_key(variant, scope, person, where))
                if tc is not None and tc not in out:
                    out.append(tc)
            if out:
                break
        return out

    def lookup(self, phrase: str, *, speaker: str | None = None, area: str | None = None
               ) -> TaughtCommand | None:
        found = self.candidates(phrase, speaker=speaker, area=area)
        return found[0] if found else None

    def phrases(self) -> list[str]:
        return sorted({tc.phrase for tc in self.commands.values()})


_STATES: "weakref.WeakKeyDictionary[Household, TeachingState]" = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()
_REPLAYED = TEACHING_TYPES + (E.EventRetracted,)


def teaching_state(home: Household) -> TeachingState:
    """The teaching projection of ``home``'s log (kept per household, brought up to date with the
    events appended since; a retraction of a teaching event rebuilds it)."""
    with _STATES_LOCK:
        state = _STATES.get(home)
        start = state.seq + 1 if state is not None else 1
        new = list(home.events(start=start, types=_REPLAYED)) if home.head >= start else []
        mine = {home.ids.event(s) for s, e in new if not isinstance(e, E.EventRetracted)}
        rebuild = state is None or any(
            isinstance(e, E.EventRetracted) and e.retracts not in mine
            and home.ids.seq_of(e.retracts) < start for _, e in new)
        if rebuild:
            state = TeachingState()
            new = list(home.events(types=_REPLAYED))
        retracted = home.state.retracted
        for seq, event in new:
            if isinstance(event, E.EventRetracted) or home.ids.event(seq) in retracted:
                state.seq = max(state.seq, seq)
                continue
            state.apply(seq, event, home)
        state.seq = max(state.seq, home.head)
        _STATES[home] = state
        return state


#: The commands taught and not forgotten nor revised, with who taught them and when.
TAUGHT_QUERY = """
SELECT ?taught ?phrase ?scope ?person ?area ?actions ?when WHERE {
  ?taught a hearth:CommandTaught ; hearth:phrase ?phrase ; hearth:actions ?actions ;
          prov:generatedAtTime ?when .
  OPTIONAL { ?taught hearth:scope ?scope } OPTIONAL { ?taught hearth:person ?person }
  OPTIONAL { ?taught hearth:area ?area }
  FILTER NOT EXISTS { ?later prov:wasRevisionOf ?taught }
  FILTER NOT EXISTS { ?gone hearth:forgets ?taught }
  FILTER NOT EXISTS { ?taught hearth:isRetracted true }
} ORDER BY ?phrase
"""


# ================================================================================================
# Few-shot intents: into the understanding component's classifier and catalogue
# ================================================================================================

def imprint_intent(understander: Any, event: IntentDefined) -> None:
    """Adds ``event``'s intent to ``understander`` (a :class:`reasoner.understanding.Understander`)
    at once: its classifier imprints it (``add_intent``) and its catalogue learns the intent, so
    its slots are filled and its skill named. Nothing else is retrained."""
    from .skills import IntentSpec, Sample, SkillSpec, parse_markup
    samples = []
    for markup in event.examples:
        text, marks = parse_markup(markup)
        samples.append(Sample(text, marks))
    texts = [s.text for s in samples]
    classifier = understander.classifier  # trained first if it was not yet
    add = getattr(classifier, "add_intent", None)
    if add is not None:
        add(event.intent, texts, replace=True)
    elif hasattr(classifier, "vectors") and hasattr(classifier, "labels"):
        _imprint_nearest(classifier, event.intent, texts)
    else:
        raise TeachingError(
            f"the understanding classifier ({type(classifier).__name__}) cannot learn an intent "
            "at run time: it needs add_intent(name, examples, replace=True), as "
            "reasoner.intents.IntentClassifier has")
    catalogue = understander.catalogue
    name = event.intent.split(".", 1)[1]
    slot_names = sorted({m.name for s in samples for m in s.slots})
    from .skills import SlotSpec
    spec = IntentSpec(skill=event.skill, name=name, label=name.replace("_", " "),
                      slots=tuple(SlotSpec(n, "Text") for n in slot_names),
                      samples=tuple(samples))
    old = catalogue.skills.get(event.skill)
    intents = tuple(i for i in (old.intents if old else ()) if i.name != name) + (spec,)
    catalogue.skills[event.skill] = SkillSpec(event.skill, old.label if old else event.skill,
                                              old.description if old else
                                              "A skill taught by the household.", intents)
    catalogue.__post_init__()  # re-index the intents


def _imprint_nearest(classifier: Any, name: str, texts: list[str]) -> None:
    """Adds samples to a :class:`reasoner.understanding.NearestSampleClassifier` (which scores an
    intent by its nearest samples, so new samples are all it needs)."""
    import numpy as np
    from .understanding import _normalize
    vecs = _normalize(classifier.encoder.encode(texts))
    labels = list(classifier.labels)
    if name not in labels:
        labels.append(name)
    index = labels.index(name)
    keep = classifier.y != index if name in classifier.labels else np.ones(len(classifier.y), bool)
    classifier.vectors = np.vstack([classifier.vectors[keep], vecs])
    classifier.y = np.concatenate([classifier.y[keep], np.full(len(texts), index)])
    classifier.labels = labels


_INSTALLED: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def install_intents(home: Household, understander: Any) -> list[str]:
    """Brings ``understander`` up to date with the intents ``home`` defined (each once)."""
    done = _INSTALLED.setdefault(understander, {})
    added = []
    for intent, (seq, event) in teaching_state(home).intents.items():
        key = (home.id, intent)
        if done.get(key) == seq:
            continue
        imprint_intent(understander, event)
        done[key] = seq
        added.append(intent)
    return added


# ================================================================================================
# Teaching without a dialogue (the facade's teach / forget / define_intent)
# ================================================================================================

def _now(time: dt.datetime | None) -> dt.datetime:
    return time or dt.datetime.now(dt.timezone.utc)


def teach(home: Household, phrase: str, meaning: str | Sequence[Mapping[str, Any]], *,
          scope: str = "household", person: str | None = None, area: str | None = None,
          time: dt.datetime | None = None) -> Appended:
    """Teaches ``phrase`` as a command and appends its ``CommandTaught``: ``meaning`` in words
    ("lights at twenty percent in the living room", resolved against the household now; in the
    "room" scope, words without a room mean ``area``'s devices) or as actions (``{"device":
    "light.reading", "command": "set", "attribute": "brightness", "value": 100}``, devices as
    local ids or IRIs). Teaching a phrase again in the same scope revises the definition.

    >>> from kg.household import Hearth
    >>> home = Hearth.in_memory().create_household("doc", time="2026-11-25T07:00:00Z")
    >>> _ = home.append({"type": "DeviceAdded", "time": "2026-11-25T07:00:00Z",
    ...                  "device": "light.den", "name": "Den Lamp", "kind": "light"})
    >>> teach(home, "reading mode", "the den lamp at 100 percent").event.reply
    "OK: from now on, 'reading mode' sets the Den Lamp to 100% brightness."
    """
    if scope not in SCOPES:
        raise TeachingError(f"scope is one of {', '.join(SCOPES)}, not {scope!r}")
    if scope == "user" and not person:
        raise TeachingError("a command taught for one user needs person=")
    if scope == "room" and not area:
        raise TeachingError("a command taught for one room needs area=")
    if area is not None and area not in home.state.areas:
        raise TeachingError(f"no area {area!r} in household {home.id!r}; areas: "
                            f"{', '.join(sorted(home.state.areas)) or 'none'}")
    if person is not None and person not in home.state.people:
        raise TeachingError(f"no person {person!r} in household {home.id!r}; people: "
                            f"{', '.join(sorted(home.state.people)) or 'none'}")
    phrase = normalize_phrase(phrase)
    if not phrase:
        raise TeachingError("the phrase to teach has no words")
    state = teaching_state(home)
    if isinstance(meaning, str):
        actions = _RESOLVER.resolve(home, meaning, room=area, now=time, taught=state,
                                    speaker=person)
        text = meaning
    else:
        actions = []
        for a in meaning:
            a = Action.from_json(a)
            device = a.device if a.device.startswith(home.ids.base) else \
                home.iri("device", a.device).value
            if device_local(home, device) not in home.state.devices:
                raise TeachingError(f"no device {device_local(home, device)!r} in household "
                                    f"{home.id!r}; devices: "
                                    f"{', '.join(sorted(home.state.devices)) or 'none'}")
            actions.append(dataclasses.replace(a, device=device))
        if not actions:
            raise TeachingError("a taught command needs at least one action")
        text = None
    key_person = person if scope == "user" else None
    key_area = area if scope == "room" else None
    previous = state.commands.get(_key(phrase, scope, key_person, key_area))
    reply = _confirm(home, phrase, actions, scope, key_person, key_area, previous is not None)
    return home.append(CommandTaught(
        time=_now(time), by=f"person:{person}" if person else None, phrase=phrase,
        actions=[a.to_json() for a in actions], scope=scope, person=person, area=key_area,
        text=text, reply=reply, revises=previous.iri if previous else None))


def forget(home: Household, phrase: str, *, person: str | None = None, area: str | None = None,
           time: dt.datetime | None = None) -> Appended:
    """Withdraws the definition of ``phrase`` that applies to ``person`` in ``area`` (the most
    specific one) with a ``CommandForgotten`` event."""
    target = teaching_state(home).lookup(phrase, speaker=person, area=area)
    if target is None:
        known = ", ".join(f"'{p}'" for p in teaching_state(home).phrases()) or "none"
        raise TeachingError(f"no taught command '{normalize_phrase(phrase)}' applies here; taught "
                            f"commands: {known}")
    return home.append(CommandForgotten(
        time=_now(time), by=f"person:{person}" if person else None, phrase=target.phrase,
        forgets=target.iri, person=person, reply=f"OK, I've forgotten '{target.phrase}'."))


def define_intent(home: Household, intent: str, examples: Sequence[str], *,
                  actions: Sequence[Mapping[str, Any]] | None = None, person: str | None = None,
                  time: dt.datetime | None = None) -> Appended:
    """Defines a new intent (``"<skill>.<name>"``) by a few examples and appends its
    ``IntentDefined``; the ``teaching`` component adds it to the understanding component's
    classifier at once. ``actions`` (optional): what it does when heard."""
    skill = intent.split(".", 1)[0] if "." in intent else intent
    resolved = None
    if actions:
        resolved = []
        for a in actions:
            a = Action.from_json(a)
            device = a.device if a.device.startswith(home.ids.base) else \
                home.iri("device", a.device).value
            resolved.append(dataclasses.replace(a, device=device).to_json())
    return home.append(IntentDefined(time=_now(time), intent=intent, skill=skill,
                                     examples=list(examples), actions=resolved, person=person))


# ================================================================================================
# The component
# ================================================================================================

def _ask(phrase: str) -> str:
    return f"I don't know '{phrase}' yet. Can you teach me?"


def _confirm(home: Household, phrase: str, actions: Sequence[Action], scope: str,
             person: str | None, area: str | None, revised: bool) -> str:
    whom = {"household": "", "user": f" for {home.state.name_of('person', person)}",
            "room": f" in the {home.state.name_of('area', area)}"}[scope]
    verb = "now" if revised else "from now on"
    return f"OK: {verb}, '{phrase}'{whom} {describe_actions(home, actions)}."


class TeachingComponent:
    """The ``teaching`` pipeline component (see the module docstring).

    ``default_scope``: the scope of a command taught without naming one; ``answer_minutes``: how
    long a question waits for its answer; ``max_words``: an unfamiliar utterance longer than this
    (or a question) is not offered for teaching; ``ask_below``: a classifier's reading less
    confident than this, with no slot filled, counts as unfamiliar too ("reading mode" read as
    setting a fan mode, with no fan and no mode); ``from_heard``: read ``UtteranceHeard`` itself
    (a pipeline without ``understanding``) rather than ``UtteranceInterpreted``."""

    name = "teaching"
    produces = (CommandTaught, CommandForgotten, TeachingRequested, E.CommandIssued)

    def __init__(self, *, default_scope: str = "household", answer_minutes: float = 2.0,
                 max_words: int = 4, ask_below: float = 0.75, from_heard: bool = False,
                 resolver: ActionResolver | None = None, understander: Any = None):
        if default_scope not in SCOPES:
            raise TeachingError(f"default_scope is one of {', '.join(SCOPES)}, not "
                                f"{default_scope!r}")
        from .understanding import UtteranceInterpreted
        self._Interpreted = UtteranceInterpreted
        self.consumes = ((E.UtteranceHeard,) if from_heard else (UtteranceInterpreted,)) + (
            IntentDefined,)
        self.default_scope = default_scope
        self.answer_window = dt.timedelta(minutes=answer_minutes)
        self.max_words = max_words
        self.ask_below = ask_below
        self.from_heard = from_heard
        self.resolver = resolver or _RESOLVER
        self._understander = understander
        register_describers(DESCRIBERS)

    # -- parts ---------------------------------------------------------------------------------
    def understander(self, home: Household, *, private: bool = False):
        """The understander of the household's pipeline (for intents defined by examples);
        ``private``: made the household's own first (``Understander.private_copy``), so that
        the intents it learns stay in this household."""
        if self._understander is not None:
            return self._understander
        for listener in getattr(home.log, "_listeners", ()):
            pipeline = getattr(listener, "pipeline", None)
            if pipeline is None:
                continue
            for c in pipeline.components:
                if c.name == "understanding":
                    found = c.understander
                    if private and not getattr(found, "private", True):
                        found = c._understander = found.private_copy()
                    return found
        return None

    # -- the pipeline step -----------------------------------------------------------------------
    def process(self, home: Household, appended: Sequence[Appended]) -> list[E.Event]:
        out: list[E.Event] = []
        defines = any(isinstance(a.event, IntentDefined) for a in appended)
        if defines or teaching_state(home).intents:  # defined now, or earlier (before attaching)
            understander = self.understander(home, private=True)
            if understander is not None:
                install_intents(home, understander)
        for a in appended:
            if isinstance(a.event, IntentDefined):
                continue
            if isinstance(a.event, E.UtteranceHeard):
                out.extend(self.handle(home, a, None))
            elif isinstance(a.event, self._Interpreted):
                heard = self._heard_of(home, a.event)
                if heard is not None:
                    out.extend(self.handle(home, heard, a))
        return out

    def _heard_of(self, home: Household, event) -> Appended | None:
        for ref in event.derived_from:
            seq = home.ids.seq_of(ref)
            ev = home.event(seq)
            if isinstance(ev, E.UtteranceHeard):
                return Appended(seq, ref, ev)
        return None

    def _room(self, home: Household, heard: E.UtteranceHeard) -> str | None:
        if heard.device and heard.device in home.state.devices:
            return home.state.devices[heard.device].area
        return None

    def handle(self, home: Household, heard: Appended, interp: Appended | None
               ) -> list[E.Event]:
        """What teaching makes of one utterance (and its reading, when there is one)."""
        ev: E.UtteranceHeard = heard.event
        text = normalize_phrase(ev.text)
        if not text:
            return []
        state = teaching_state(home)
        room = self._room(home, ev)
        speaker = ev.speaker
        # 0. "no, that's wrong" just after being taught something: undo it
        if _UNDO.match(text):
            undone = self._undo(home, state, heard)
            if undone:
                return undone
        # 1. "forget reading mode"
        m = _FORGET.match(text)
        if m:
            target = state.lookup(m.group("phrase"), speaker=speaker, area=room)
            if target is not None:
                reply = f"OK, I've forgotten '{target.phrase}'."
                return [CommandForgotten(time=ev.time, phrase=target.phrase, forgets=target.iri,
                                         person=speaker, reply=reply,
                                         derived_from=(heard.iri,))]
        # 2. "movie mode means lights at twenty percent"
        with_commas = normalize_phrase(ev.text, commas=True)
        for pattern in _DEFINE:
            m = pattern.match(with_commas)
            if m:
                meaning, scope = split_scope(m.group("meaning"))
                phrase = normalize_phrase(m.group("phrase")).strip(" ,")
                if phrase and meaning:
                    return self._teach(home, state, phrase, meaning, scope, heard, (heard.iri,),
                                       interp, ask_again=True)
        # 3. the answer to a question asked a moment ago
        pending = self._pending(home, state, heard)
        if pending is not None:
            req_seq, req = pending
            if _CANCEL.match(text):
                return []
            meaning, scope = split_scope(normalize_phrase(ev.text, commas=True))
            origin = tuple(req.derived_from) + (home.ids.event(req_seq), heard.iri)
            return self._teach(home, state, req.phrase, meaning, scope, heard,
                               tuple(dict.fromkeys(origin)), interp, ask_again=False)
        # 4. a taught command
        taught = state.lookup(text, speaker=speaker, area=room)
        if taught is not None:
            return command_events(home, taught.actions, time=ev.time,
                                  derived_from=(heard.iri, taught.iri))
        # 4b. an intent defined by examples, with actions of its own
        if interp is not None and not interp.event.out_of_scope:
            defined = state.intents.get(interp.event.intent)
            if defined is not None and defined[1].actions:
                return command_events(home, defined[1].actions, time=ev.time,
                                      derived_from=(interp.iri, home.ids.event(defined[0])))
        # 5. something unfamiliar (or read only weakly, with nothing filled in) and short: ask
        unfamiliar = True
        if interp is not None:
            reading = interp.event
            unfamiliar = reading.out_of_scope or (
                reading.method == "classifier" and reading.confidence < self.ask_below
                and not reading.slots)
        variants = phrase_variants(text)
        if not unfamiliar or _QUESTION.match(text) or len(text.split()) > self.max_words:
            return []
        if any(check(home, variants) for check in KNOWN_PHRASES):
            return []
        phrase = variants[-1]
        cause = (heard.iri, interp.iri) if interp is not None else (heard.iri,)
        return [TeachingRequested(time=ev.time, phrase=phrase, reply=_ask(phrase),
                                  speaker=speaker, device=ev.device, derived_from=cause)]

    def _pending(self, home: Household, state: TeachingState, heard: Appended
                 ) -> tuple[int, TeachingRequested] | None:
        return pending_request(home, state, heard, self.answer_window)

    def _undo(self, home: Household, state: TeachingState, heard: Appended) -> list[E.Event]:
        """Undoes what the speaker taught in their previous utterance: a new command is
        forgotten; a revision is revised back to the meaning before it."""
        got = state.taught_by.get(heard.event.speaker)
        if got is None:
            return []
        seq, taught = got
        current = state.commands.get(_key(taught.phrase, taught.scope, taught.person,
                                          taught.area))
        if current is None or current.seq != seq or seq >= heard.seq or \
                heard.event.time - taught.time > self.answer_window:
            return []
        for s, e in home.events(start=seq + 1, end=heard.seq - 1, types=(E.UtteranceHeard,)):
            if e.speaker == heard.event.speaker:
                return []  # not right after the teaching
        ev = heard.event
        if taught.revises is None:
            return [CommandForgotten(time=ev.time, phrase=taught.phrase,
                                     forgets=home.ids.event(seq), person=ev.speaker,
                                     reply=f"OK, I won't use '{taught.phrase}'.",
                                     derived_from=(heard.iri, home.ids.event(seq)))]
        before = home.event(home.ids.seq_of(taught.revises))
        actions = [Action.from_json(a) for a in before.actions]
        reply = (f"OK, back to what it was: '{taught.phrase}' "
                 f"{describe_actions(home, actions)}.")
        return [CommandTaught(time=ev.time, by=f"person:{ev.speaker}" if ev.speaker else AGENT,
                              phrase=taught.phrase, actions=list(before.actions),
                              scope=taught.scope, person=taught.person, area=taught.area,
                              text=before.text, reply=reply, revises=home.ids.event(seq),
                              derived_from=(heard.iri, home.ids.event(seq)))]

    def _teach(self, home, state, phrase, meaning, scope, heard, derived_from, interp, *,
               ask_again: bool) -> list[E.Event]:
        ev: E.UtteranceHeard = heard.event
        scope = scope or self.default_scope
        room = self._room(home, ev)
        person = ev.speaker if scope == "user" else None
        area = room if scope == "room" else None
        if scope == "user" and not person or scope == "room" and not area:
            scope, person, area = "household", None, None
        hint = None
        if interp is not None and interp.event.intent:
            from .skills import CatalogueError
            understander = self.understander(home)
            try:
                spec = understander.catalogue.intent(interp.event.intent) if understander else None
            except CatalogueError:
                spec = None
            hint = spec.command if spec is not None else None
        try:
            actions = self.resolver.resolve(home, meaning, room=room, hint_command=hint,
                                            now=ev.time, taught=state, speaker=ev.speaker)
        except TeachingError as err:
            log.info("could not teach %r as %r: %s", phrase, meaning, err)
            if not ask_again:
                return []
            reply = (f"Sorry, I couldn't work out what '{phrase}' should do ({err}). "
                     "Can you say it another way?")
            return [TeachingRequested(time=ev.time, phrase=phrase, reply=reply,
                                      speaker=ev.speaker, device=ev.device,
                                      derived_from=(heard.iri,))]
        previous = state.commands.get(_key(phrase, scope, person, area))
        reply = _confirm(home, phrase, actions, scope, person, area, previous is not None)
        return [CommandTaught(time=ev.time, by=f"person:{ev.speaker}" if ev.speaker else AGENT,
                              phrase=phrase, actions=[a.to_json() for a in actions], scope=scope,
                              person=person or (ev.speaker if scope != "user" else None),
                              area=area, text=meaning, reply=reply,
                              revises=previous.iri if previous else None,
                              derived_from=derived_from)]


@register_component("teaching")
def teaching_component(**config) -> TeachingComponent:
    """The ``teaching`` component; ``config`` goes to :class:`TeachingComponent`."""
    return TeachingComponent(**config)


# ================================================================================================
# Sentences and explanations
# ================================================================================================

def describe_command_taught(event: CommandTaught, state=None) -> str:
    who = {"household": "", "user": " (for one person)", "room": " (in one room)"}[event.scope]
    verb = "Re-taught" if event.revises else "Taught"
    return f"{verb} '{event.phrase}'{who}: {event.text or 'a command'}"


def describe_command_forgotten(event: CommandForgotten, state=None) -> str:
    return f"Forgot '{event.phrase}'"


def describe_teaching_requested(event: TeachingRequested, state=None) -> str:
    return f'Assistant: "{event.reply}"'


def describe_intent_defined(event: IntentDefined, state=None) -> str:
    return f"New intent {event.intent} from {len(event.examples)} examples"


DESCRIBERS = {CommandTaught: describe_command_taught,
              CommandForgotten: describe_command_forgotten,
              TeachingRequested: describe_teaching_requested,
              IntentDefined: describe_intent_defined}


def _register() -> None:
    try:
        from .explain import register_explainer
    except ImportError:  # pragma: no cover
        return

    def taught(ctx, item):
        ev = item.event
        who = ctx.name("person", ev.person) if ev.person else None
        what = f"you taught me '{ev.phrase}' at {ev.time:%H:%M}"
        by = f"{who} taught me this at {ev.time:%H:%M}" if who else \
            f"you taught me this at {ev.time:%H:%M}"
        sentence = (f"I know '{ev.phrase}' because {by}" + (
            f": \"{ev.text}\"" if ev.text else "") + ".")
        if ev.revises is not None:
            sentence += f" It revises what I learned in event {ctx.ids.seq_of(ev.revises)}."
        return ctx.explanation(item, kind="taught command", what=what, sentence=sentence,
                               details={"scope": ev.scope, "actions": ev.actions})

    def asked(ctx, item):
        ev = item.event
        return ctx.explanation(item, kind="teaching question", what=f'asked "{ev.reply}"',
                               sentence=f"I asked to be taught '{ev.phrase}' because no skill "
                                        "covers it.")

    register_explainer(CommandTaught, taught)
    register_explainer(TeachingRequested, asked, salient=True)


def pending_request(home: Household, state: TeachingState, heard: Appended,
                    window: dt.timedelta = dt.timedelta(minutes=2)
                    ) -> tuple[int, TeachingRequested] | None:
    """The question ("Can you teach me?") that ``heard`` answers: asked of the same speaker
    less than ``window`` before, with nothing else said by them in between."""
    got = state.requests.get(heard.event.speaker)
    if got is None:
        return None
    seq, req = got
    if seq >= heard.seq or heard.event.time - req.time > window:
        return None
    # answered already: the speaker said something between the question and now
    for s, e in home.events(start=seq + 1, end=heard.seq - 1, types=(E.UtteranceHeard,)):
        if e.speaker == heard.event.speaker:
            return None
    return got


def pre_read(home: Household, heard: Appended):
    """What teaching knows an utterance to be before any classifier reads it (a pre-reader of
    :mod:`reasoner.understanding`): a taught command (with the ``CommandTaught`` it rests on),
    a definition ("movie mode means …"), "forget …" of a taught phrase, or the answer to the
    question just asked; None otherwise."""
    ev = heard.event
    if not isinstance(ev, E.UtteranceHeard):
        return None
    text = normalize_phrase(ev.text)
    if not text:
        return None
    state = teaching_state(home)
    device = home.state.devices.get(ev.device) if ev.device else None
    room = device.area if device is not None else None
    m = _FORGET.match(text)
    if m and state.lookup(m.group("phrase"), speaker=ev.speaker, area=room) is not None:
        return "teaching.forget"
    with_commas = normalize_phrase(ev.text, commas=True)
    if any(p.match(with_commas) for p in _DEFINE):
        return "teaching.define"
    if not _CANCEL.match(text) and pending_request(home, state, heard) is not None:
        return "teaching.answer"
    taught = state.lookup(text, speaker=ev.speaker, area=room)
    if taught is not None:
        return "teaching.command", (taught.iri,)
    return None


def register_describers(describers: Mapping[type, Callable]) -> None:
    """Adds sentences for these event types to the timeline's (hearth's facade, when it is
    there); called when a component is made, not at import (the facade imports the reasoner)."""
    try:
        from hearth import timeline
    except ImportError:  # pragma: no cover: the reasoner used without the facade
        return
    for cls, fn in describers.items():
        timeline.DESCRIBERS.setdefault(cls, fn)


_register()


def _register_pre_reader() -> None:
    from .understanding import register_pre_reader
    register_pre_reader(pre_read, {
        "teaching.command": "a command the household taught me",
        "teaching.define": "teaching me a command",
        "teaching.forget": "asking me to forget a taught command",
        "teaching.answer": "the answer to my question (teaching me a command)"})


_register_pre_reader()
