"""Latent goals: what the user is likely to want next, whether it is worth offering, and the offer.

After every user turn of a conversation (``reasoner.dialogue``), the ``goals`` component ranks the
intents the assistant could offer next (those with an offer in ``ontologies/dialogue.yaml``) by a
logistic score over features a person recognises, each read from one source of evidence:

* ``commonsense``: a goal or activity of ``ontologies/commonsense.ttl`` needs both what was asked
  for and what the intent gives (a trip to the beach needs the weather forecast and the driving
  time; a night out needs film listings, a table and a ride); the share of the conversation's
  requests the goal explains, over the number of its needs still open that a skill could meet;
* ``keyword``: what was said, or a place named (its kind, from the directory), matches the goal's
  keywords ("Half Moon Bay" is a beach);
* ``day`` and ``time``: today and now are the goal's typical day and time of day;
* ``learned``: how likely the intent's skill comes next after the skills used so far, by the
  SGD-trained :class:`reasoner.transitions.TransitionModel` (updated by this household's own
  transitions, a :class:`~reasoner.transitions.TransitionHistory` kept per household), as its lift over
  chance in log scale (0: as likely as any candidate; 1: certain; negative: less likely);
* ``household``: how often this household itself went from the last skill to this one before;
* ``slots``: how much of the intent the conversation fills already (rules and carryover, as the
  dialogue would fill them: the destination is known);
* ``done``: the skill is already part of this conversation (a negative weight).

The score is ``sigmoid(bias + Σ weight·value)``: additive in the log-odds, so a feature's absence
(its value set to 0) is well defined and :func:`offer_score` gives the explain engine a
``score_fn(present)`` for Shapley attributions of the ranking and of the trigger. The **trigger**
offers the top intent only when its probability reaches ``threshold``, its offer can be said (its
required slots are filled), it was not offered before in the conversation, the last offer was not
just declined, and the assistant is not waiting for an answer. Each ranking is a ``GoalsRanked``
event (with the feature values, the weights and the threshold, so its score can be recomputed
exactly); an offer is a ``SuggestionMade`` (kind "offer", ``intent`` and ``slots`` with their
provenance) derived from it, which the dialogue turns into a system turn.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
import threading
import time as _time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pyoxigraph import NamedNode

import ontologies
from kg import events as E
from kg.errors import EventError
from kg.events import f, register_event_type
from kg.household import Household
from kg.log import Appended
from kg.vocab import HEARTH, HEARTH_NS

from .dialogue import (DialogueComponent, DialogueSpec, Directory, Session,
                       UserTurnMade, _model_dirs, _SharedMiniLM, default_spec, dialogue_state,
                       service_schemas, spoken)
from .errors import ReasonerError
from .pipeline import register_component

log = logging.getLogger("hearth.reasoner.goals")

__all__ = [
    "AGENT", "Candidate", "FEATURES", "GoalKind", "GoalKnowledge", "GoalModel", "GoalRanker",
    "GoalsComponent", "GoalsRanked", "Ranking", "offer_score", "load_transition_model",
    "GOALS_MODEL", "why_offered", "learned_score", "calibrate", "sgd_rows", "fit_models",
    "OfferScore", "DESCRIBERS",
]

AGENT = "component:goals"
GOALS_MODEL = "https://w3id.org/hearth/model/latent-goals"
CS = "https://w3id.org/hearth/commonsense#"
FEATURES = ("commonsense", "keyword", "day", "time", "learned", "household", "slots", "done")

GOALS_RANKED = NamedNode(HEARTH_NS + "GoalsRanked")
P_RANKING = NamedNode(HEARTH_NS + "ranking")
P_OFFERED_INTENT = NamedNode(HEARTH_NS + "offeredIntent")
P_GOAL_MODEL = NamedNode(HEARTH_NS + "goalModel")
P_TURN_INDEX = NamedNode(HEARTH_NS + "turnIndex")


class GoalsError(ReasonerError, ValueError):
    """Goal knowledge or a goal model cannot be used: the message says what to fix."""


# ================================================================================================
# Commonsense goals
# ================================================================================================

@dataclass(frozen=True)
class GoalKind:
    """A goal or activity that needs several things (``needs``: need IRIs)."""

    iri: str
    label: str
    needs: frozenset[str]
    keywords: frozenset[str] = frozenset()
    days: frozenset[str] = frozenset()
    times: frozenset[str] = frozenset()


@dataclass
class GoalKnowledge:
    """The goals and activities of ``ontologies/commonsense.ttl`` with what they need, their
    keywords and typical days and times; the times of day; labels."""

    goals: dict[str, GoalKind]
    times_of_day: list[tuple[str, int, int]]      # (IRI, start minute, end minute)
    labels: dict[str, str]

    @classmethod
    def load(cls, path: str | Path | None = None) -> "GoalKnowledge":
        from pyoxigraph import RdfFormat, Store
        path = Path(path) if path is not None else ontologies.path("commonsense.ttl")
        store = Store()
        try:
            store.load(path=str(path), format=RdfFormat.TURTLE)
        except (OSError, SyntaxError) as err:
            raise GoalsError(f"cannot read the commonsense knowledge {path}: {err}") from err
        pre = ("PREFIX hearth: <https://w3id.org/hearth#> "
               "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> ")
        labels = {r["s"].value: r["l"].value for r in store.query(
            pre + "SELECT ?s ?l WHERE { ?s rdfs:label ?l }")}
        raw: dict[str, dict[str, set]] = {}
        for prop, key in (("needs", "needs"), ("keyword", "keywords"), ("typicalDay", "days"),
                          ("typicalTime", "times")):
            for r in store.query(pre + f"""SELECT ?g ?v WHERE {{ ?g a ?k ; hearth:{prop} ?v .
                    FILTER(?k IN (hearth:GoalKind, hearth:ActivityKind)) }}"""):
                raw.setdefault(r["g"].value, {}).setdefault(key, set()).add(r["v"].value)
        goals = {g: GoalKind(g, labels.get(g, g.rsplit("#", 1)[-1]),
                             frozenset(d.get("needs", ())),
                             frozenset(k.lower() for k in d.get("keywords", ())),
                             frozenset(d.get("days", ())), frozenset(d.get("times", ())))
                 for g, d in raw.items() if d.get("needs")}
        times = []
        for r in store.query(pre + """SELECT ?t ?s ?e WHERE { ?t a hearth:TimeOfDay ;
                hearth:startsAt ?s ; hearth:endsAt ?e }"""):
            s = [int(x) for x in r["s"].value.split(":")[:2]]
            e = [int(x) for x in r["e"].value.split(":")[:2]]
            times.append((r["t"].value, s[0] * 60 + s[1], e[0] * 60 + e[1]))
        return cls(goals, times, labels)

    def time_of_day(self, when) -> set[str]:
        m = when.hour * 60 + when.minute
        return {t for t, s, e in self.times_of_day
                if ((s <= m < e) if s < e else (m >= s or m < e))}

    @staticmethod
    def day_type(when) -> str:
        return CS + ("Weekend" if when.weekday() >= 5 else "Weekday")

    def label(self, iri: str) -> str:
        return self.labels.get(iri, iri.rsplit("#", 1)[-1])


_KNOWLEDGE: list[GoalKnowledge] = []
_KNOWLEDGE_LOCK = threading.Lock()


def default_knowledge() -> GoalKnowledge:
    with _KNOWLEDGE_LOCK:
        if not _KNOWLEDGE:
            _KNOWLEDGE.append(GoalKnowledge.load())
        return _KNOWLEDGE[0]


# ================================================================================================
# The score
# ================================================================================================

@dataclass(frozen=True)
class GoalModel:
    """The weights of the offer score and the trigger's threshold (probability).

    ``learned`` carries the weight logistic regression gives it on SGD's dev dialogues
    (``python -m reasoner.goals calibrate``: 1.84). The others are priors: SGD cannot give
    keyword, day, time or household evidence, and its machine-assembled dialogues chain services
    with little regard to goals, so it gives ``commonsense`` little weight (0.27) where a
    household's requests do serve goals; the threshold asks that the offer be more likely
    wanted than not. The calibration's held-out figures are in the report of issue 5.

    >>> m = GoalModel()
    >>> round(m.probability({"commonsense": 1.0, "keyword": 1.0, "day": 1.0, "slots": 0.5}), 2)
    0.55
    >>> round(m.probability({"commonsense": 1.0, "keyword": 1.0, "day": 1.0, "slots": 0.5},
    ...                     present={"commonsense", "slots"}), 2)   # keyword and day absent
    0.18
    """

    bias: float = -4.8
    weights: Mapping[str, float] = field(default_factory=lambda: {
        "commonsense": 2.5, "keyword": 1.0, "day": 0.75, "time": 0.5, "learned": 1.8,
        "household": 2.5, "slots": 1.5, "done": -3.0})
    threshold: float = 0.5

    def logit(self, values: Mapping[str, float], present: Iterable[str] | None = None) -> float:
        names = values if present is None else [n for n in present if n in values]
        return self.bias + sum(self.weights.get(n, 0.0) * float(values[n]) for n in names)

    def probability(self, values: Mapping[str, float],
                    present: Iterable[str] | None = None) -> float:
        z = self.logit(values, present)
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def to_json(self) -> dict:
        return {"bias": self.bias, "weights": dict(self.weights), "threshold": self.threshold}

    @classmethod
    def from_json(cls, d: Mapping) -> "GoalModel":
        return cls(float(d["bias"]), dict(d["weights"]), float(d["threshold"]))


@dataclass
class Candidate:
    """An intent the assistant could offer, with its feature ``values`` and their ``labels``
    (words a person recognises), its score, the goals behind it and the values it would carry."""

    intent: str
    skill: str
    need: str
    values: dict[str, float]
    labels: dict[str, str]
    goals: tuple[str, ...]
    logit: float = 0.0
    probability: float = 0.0
    slots: dict[str, dict] = field(default_factory=dict)
    text: str | None = None

    def to_json(self) -> dict:
        return {"intent": self.intent, "need": self.need, "goals": list(self.goals),
                "logit": round(self.logit, 4), "probability": round(self.probability, 4),
                "features": {k: round(v, 4) for k, v in self.values.items()},
                "labels": self.labels, "text": self.text}


@dataclass
class Ranking:
    candidates: list[Candidate]
    offer: Candidate | None
    reason: str


class GoalRanker:
    """Ranks the intents to offer after a turn of ``session`` (see the module docstring)."""

    def __init__(self, *, spec: DialogueSpec | None = None, knowledge: GoalKnowledge | None = None,
                 model: GoalModel | None = None, transitions=None):
        self.spec = spec or default_spec()
        self.knowledge = knowledge or default_knowledge()
        self.model = model or GoalModel()
        self.transitions = transitions
        schemas = service_schemas(self.spec)
        self._services = {k: v.name for k, v in schemas.items()}
        if transitions is not None and any(transitions.schemas.get(s.name) != s
                                           for s in schemas.values()):
            transitions.register_schemas(list(schemas.values()))
        self.offerable = {i: n for i, n in self.spec.needs.items() if i in self.spec.offers}
        self.offerable_needs = set(self.offerable.values())

    # -- features ----------------------------------------------------------------------------------
    def rank(self, session: Session, *, when, dialogue: DialogueComponent | None = None,
             directory: Directory | None = None,
             history: Sequence[tuple] = ()) -> Ranking:
        """The candidates after ``session``'s latest turn, best first, and the offer (or why not).
        ``history``: the household's transitions in earlier conversations (skills so far, next
        skill, and optionally when); ``dialogue``: for the values an offer would carry."""
        k = self.knowledge
        directory = directory or (dialogue.directory if dialogue is not None else Directory())
        skills = session.skills()
        met = {self.spec.needs[fr.intent] for fr in session.frames.values()
               if fr.intent in self.spec.needs}
        met_labels = sorted(k.label(n) for n in met)
        last = session.turns[-1] if session.turns else None
        last_user = next((t for t in reversed(session.turns) if t.role == "user"), None)
        words = " ".join(t.text for t in session.turns if t.role == "user").lower()
        places = [(v.value, directory.get(v.value)) for v in session.values()
                  if self.spec.root(v.value_type) == "Place"]
        times_now = k.time_of_day(when)
        day_now = k.day_type(when)
        learned = self._learned(skills, when, history)
        last_skill = last_user.skill if last_user else (skills[-1] if skills else None)
        counts = Counter((t[0][-1], t[1]) for t in history if t[0])
        out_of = Counter(t[0][-1] for t in history if t[0])
        offered_before = {t.intent for t in session.turns if t.act == "offer_intent"}
        by_need: dict[str, Candidate] = {}
        for intent, need in self.offerable.items():
            skill = intent.split(".")[0]
            values: dict[str, float] = {}
            labels: dict[str, str] = {}
            support = []
            for g in k.goals.values():
                if need not in g.needs or need in met or not (g.needs & met):
                    continue
                coverage = len(g.needs & met) / len(met)
                open_ = len((g.needs - met) & self.offerable_needs) or 1
                support.append((coverage / open_, g))
            evidence = {g.iri: (self._keyword(g, words, places), day_now in g.days,
                                bool(g.times & times_now)) for _, g in support}

            def strength(item):
                kw, day, tod = evidence[item[1].iri]
                return (-item[0], -(2 * (kw is not None) + day + tod), item[1].label)
            support.sort(key=strength)
            if support:
                cs, goal = support[0]
                values["commonsense"] = cs
                labels["commonsense"] = (f"{_a(goal.label)} needs {k.label(need)} as well as "
                                         f"{' and '.join(met_labels)}")
                kws = [(s, evidence[g.iri][0]) for s, g in support if evidence[g.iri][0]]
                if kws:
                    values["keyword"], labels["keyword"] = max(kws, key=lambda x: x[0])
                day = max((s for s, g in support if evidence[g.iri][1]), default=0.0)
                if day:
                    values["day"] = day
                    labels["day"] = f"on a {when:%A}"
                tod = max((s for s, g in support if evidence[g.iri][2]), default=0.0)
                if tod:
                    values["time"] = tod
                    labels["time"] = f"in the {k.label(sorted(times_now)[0])}"
            lift = learned.get(skill)
            if lift:
                values["learned"] = lift
                labels["learned"] = (f"people who ask for {_names(self.spec, skills)} "
                                     f"{'often' if lift > 0 else 'rarely'} ask for {skill} next "
                                     "(learned from dialogues)")
            if last_skill and out_of[last_skill]:
                n = counts[(last_skill, skill)]
                if n:
                    values["household"] = n / (out_of[last_skill] + 1)
                    labels["household"] = (f"this household asked for {skill} after {last_skill} "
                                           f"{n} time{'s' if n != 1 else ''} before")
            if skill in session.frames:
                values["done"] = 1.0
                labels["done"] = f"{skill} is already part of this conversation"
            cand = Candidate(intent, skill, need, values, labels,
                             tuple(g.iri for _, g in support))
            self._slots(cand, session, dialogue, directory)
            cand.logit = self.model.logit(cand.values)
            cand.probability = self.model.probability(cand.values)
            best = by_need.get(need)
            if best is None or cand.logit > best.logit:
                by_need[need] = cand
        ranked = sorted(by_need.values(), key=lambda c: (-c.logit, c.intent))
        offer, reason = self._trigger(ranked, session, last, offered_before)
        return Ranking(ranked, offer, reason)

    def _keyword(self, goal: GoalKind, words: str, places) -> str | None:
        """Words for how the conversation matches ``goal``'s keywords, or None."""
        for kw in sorted(goal.keywords):
            pattern = rf"(?<!\w){re.escape(kw)}(?!\w)"
            for value, venue in places:
                if venue is None:
                    continue
                text = " ".join([venue.kind, venue.description, *venue.keywords]).lower()
                if re.search(pattern, text):
                    return f"{value} is {_a(kw)}"
            if re.search(pattern, words):
                return f'you said "{kw}"'
        return None

    def _learned(self, skills: Sequence[str], when, history: Sequence[tuple]) -> dict[str, float]:
        if self.transitions is None:
            return {}
        from .transitions import TransitionHistory

        path = [self._services[s] for s in skills if s in self._services]
        if not path:
            return {}
        cands = [v for k, v in self._services.items() if v not in path]
        if not cands:
            return {}
        # this household's own transitions only: the model is shared by every household
        own = TransitionHistory()
        for t in history:
            h = [self._services[s] for s in t[0] if s in self._services]
            if h and t[1] in self._services:
                own.add(h, self._services[t[1]], hour=t[2].hour if len(t) > 2 else None)
        ranked = self.transitions.rank(path, cands, hour=when.hour, household=own)
        top = max(r.score for r in ranked)
        z = sum(math.exp(r.score - top) for r in ranked)
        n = len(ranked)
        by_service = {r.service: _lift(math.exp(r.score - top) / z, n) for r in ranked}
        return {k: by_service[v] for k, v in self._services.items() if v in by_service}

    def _slots(self, cand: Candidate, session: Session, dialogue, directory: Directory) -> None:
        template = self.spec.offers.get(cand.intent)
        held = {}
        if dialogue is not None:
            frame = session.frames.get(cand.skill)
            keep = set(frame.slots) if frame else set()
            for p in dialogue.prefill(session, cand.skill, cand.intent, keep=keep,
                                      learned=False):
                held[p.slot] = {"value": p.value, "value_type": p.value_type, "source": p.source,
                                "from_skill": p.source_value.skill,
                                "from_slot": p.source_value.slot,
                                "event": p.source_value.event.value,
                                **({"rule": p.rule.iri} if p.rule else {})}
        slot_names = self.spec.intents.get(cand.intent, [])
        required = set(template.requires if template else ())
        catalogue = self.spec.catalogue or _catalogue()
        required |= {s.name for s in catalogue.intent(cand.intent).slots if s.required} \
            if cand.intent in catalogue else set()
        optional = [s for s in slot_names if s not in required]
        denom = len(required) + 0.5 * len(optional)
        got = sum(1 for s in required if s in held) + 0.5 * sum(1 for s in optional if s in held)
        if denom and got:
            cand.values["slots"] = got / denom
            shown = [f"the {s.replace('_', ' ')} ({_show(held[s], directory)})"
                     for s in slot_names if s in held][:3]
            cand.labels["slots"] = " and ".join(shown) + (" is" if len(shown) == 1 else " are") + \
                " known already"
        cand.slots = held
        if template is not None:
            cand.text = template.render({k: _show(v, directory) for k, v in held.items()})

    def _trigger(self, ranked: list[Candidate], session: Session, last,
                 offered_before: set[str]) -> tuple[Candidate | None, str]:
        if not ranked:
            return None, "nothing the assistant could offer follows from this conversation"
        if last is not None and last.role == "system" and last.act == "request":
            return None, "the assistant is waiting for an answer"
        users = [t for t in session.turns if t.role == "user"]
        if users and users[-1].skill is None and _DECLINE.match(users[-1].text):
            return None, "the last offer was just declined"
        for c in ranked:
            if c.intent in offered_before:
                continue
            if c.probability < self.model.threshold:
                return None, (f"the best offer, {c.intent}, scores {c.probability:.2f}, under the "
                              f"threshold {self.model.threshold:.2f}")
            if c.text is None:
                continue   # it cannot be said: a value it needs is not known
            return c, f"{c.intent} scores {c.probability:.2f} (threshold {self.model.threshold:.2f})"
        return None, "every offer that scores high enough was made already or cannot be said"


_DECLINE = re.compile(r"^\s*(no|nope|nah|not now|no thanks|no thank you)\b", re.IGNORECASE)
_CATALOGUE: list = []


def _catalogue():
    if not _CATALOGUE:
        _CATALOGUE.append(default_spec().catalogue)
    return _CATALOGUE[0]


def _lift(p: float, n: int) -> float:
    """A probability among ``n`` candidates as its lift over chance, in log scale: 0 at 1/n,
    1 when certain, negative (down to -1) when less likely than chance."""
    if n < 2 or p <= 0:
        return 0.0 if n < 2 else -1.0
    return max(-1.0, 1.0 + math.log(p) / math.log(n))


def _a(label: str) -> str:
    return label if label.split(" ")[0] in ("a", "an", "the") else \
        ("an " if label[:1].lower() in "aeiou" else "a ") + label


def _names(spec: DialogueSpec, skills: Sequence[str]) -> str:
    return " and ".join(skills) if skills else "nothing"


def _show(held: Mapping[str, Any], directory: Directory) -> str:
    value = held.get("value")
    if isinstance(value, str):
        for v in directory.venues.values():
            if v.address and v.address == value:
                return f"{v.name}, {v.address}"
    return spoken(value, held.get("value_type"))


# ================================================================================================
# The events
# ================================================================================================

@register_event_type
@dataclass(frozen=True, kw_only=True)
class GoalsRanked(E.Event):
    """After turn ``turn`` of ``session``: the intents ranked to offer next (``ranking``: JSON, each
    with its feature values and their words, score and probability, the goals behind it), the
    ``offered`` one if the trigger fired, the score's ``model`` (bias, weights, threshold) and
    ``reason``: why it offered or did not."""

    session: str = f("session", HEARTH.session)
    turn: int = f("number", P_TURN_INDEX)
    ranking: Any = f("json", P_RANKING)
    offered: str | None = f("text", P_OFFERED_INTENT, required=False)
    model: Any = f("json", P_GOAL_MODEL)
    reason: str = f("text", HEARTH.reason)
    rdf_type: ClassVar = GOALS_RANKED
    is_conclusion: ClassVar = True

    def default_by(self) -> str:
        return AGENT

    def check(self) -> None:
        if not isinstance(self.ranking, list):
            raise EventError("GoalsRanked.ranking is a JSON list", field="ranking")
        if not isinstance(self.model, dict) or "weights" not in self.model:
            raise EventError("GoalsRanked.model holds bias, weights and threshold", field="model")

    def candidate(self, intent: str | None = None) -> dict | None:
        intent = intent or self.offered or (self.ranking[0]["intent"] if self.ranking else None)
        return next((c for c in self.ranking if c["intent"] == intent), None)


#: The SHACL shape proposed for GoalsRanked (for ontologies/shapes/events.ttl).


def describe_goals_ranked(event: GoalsRanked, state=None) -> str:
    top = event.ranking[0]["intent"] if event.ranking else "nothing"
    if event.offered:
        return f"Goals ranked after turn {event.turn}: offering {event.offered}"
    return f"Goals ranked after turn {event.turn}: {top} first, no offer ({event.reason})"


DESCRIBERS = {GoalsRanked: describe_goals_ranked}


# ================================================================================================
# Scores for explanations (reasoner.explain attributes them with Shapley values)
# ================================================================================================

@dataclass(frozen=True)
class OfferScore:
    """A goal score as a game over named features: ``score_fn(present)`` is the probability with
    only the ``present`` features (the others at their baseline, 0); ``recorded`` the probability
    the ranking recorded; ``threshold`` the trigger's."""

    features: tuple
    score_fn: Any
    threshold: float
    recorded: float
    phrase: str
    intent: str


def offer_score(home: Household, conclusion: int | Appended | E.Event,
                intent: str | None = None) -> OfferScore | None:
    """The offer score behind a ``GoalsRanked`` (for ``intent``: default the offered one, else
    the top one) or a ``SuggestionMade`` the goals component made: the features a person
    recognises and ``score_fn(present: frozenset[str]) -> float``. None for other conclusions."""
    from .attribution import Feature
    from .patterns import SuggestionMade
    event = conclusion.event if isinstance(conclusion, Appended) else (
        home.event(conclusion) if isinstance(conclusion, int) else conclusion)
    if isinstance(event, SuggestionMade):
        if event.agent() != AGENT:
            return None
        ranked = next((home.event(home.ids.seq_of(r)) for r in event.derived_from
                       if isinstance(home.event(home.ids.seq_of(r)), GoalsRanked)), None)
        if ranked is None:
            return None
        intent = intent or event.intent
        event = ranked
    if not isinstance(event, GoalsRanked):
        return None
    cand = event.candidate(intent)
    if cand is None:
        return None
    model = GoalModel.from_json(event.model)
    values = {k: float(v) for k, v in cand["features"].items() if v}
    feats = tuple(Feature(name, cand["labels"].get(name, name), value=values[name], baseline=0.0)
                  for name in FEATURES if name in values)

    def score_fn(present) -> float:
        return model.probability(values, present)

    what = cand.get("text") or cand["intent"]
    return OfferScore(feats, score_fn, model.threshold, float(cand["probability"]),
                      f'offered "{what}"' if event.offered == cand["intent"]
                      else f"ranked {cand['intent']}", cand["intent"])


def learned_score(ctx, item: Appended):
    """For ``reasoner.explain``: the :class:`~reasoner.explain.LearnedScore` of a goals ranking or
    of a goals offer (a ``SuggestionMade`` by the goals component), else None."""
    from .explain import LearnedScore
    got = offer_score(ctx.home, item)
    if got is None:
        return None
    return LearnedScore(got.features, score_fn=got.score_fn, phrase=got.phrase,
                        threshold=got.threshold, recorded=got.recorded,
                        options={"method": "exact"}, source=GOALS_MODEL)


def why_offered(home: Household, conclusion) -> str | None:
    """The offer's (or ranking's) reasons in one sentence, by exact Shapley values."""
    from .attribution import attribute, render
    got = offer_score(home, conclusion)
    if got is None or not got.features:
        return None
    return render(attribute(got.score_fn, list(got.features), method="exact"),
                  conclusion=got.phrase)


def _register_explainers() -> None:
    try:
        from .explain import register_explainer, register_scorer
    except ImportError:  # pragma: no cover
        return

    def ranked(ctx, item):
        ev = item.event
        score = learned_score(ctx, item) if getattr(ctx, "wants_attribution", True) else None
        attribution = ctx.attribute(score) if score is not None else None
        sentence = f"I ranked what to offer after turn {ev.turn}: {ev.reason}."
        if attribution is not None:
            from .attribution import render
            sentence = render(attribution, conclusion=score.phrase) + f" ({ev.reason})"
        return ctx.explanation(item, kind="goal ranking", sentence=sentence,
                               what=f"ranked what to offer after turn {ev.turn}",
                               source=GOALS_MODEL, source_kind="model",
                               attribution=attribution)

    register_explainer(GoalsRanked, ranked)
    register_scorer(GoalsRanked, learned_score)


_register_explainers()


# ================================================================================================
# Models
# ================================================================================================

def load_transition_model(path: str | Path | None = None, *, search: bool = True):
    """A fitted :class:`reasoner.transitions.TransitionModel`: from ``path``, else
    ``$HEARTH_TRANSITION_MODEL`` or ``~/.cache/hearth/dialogue/transitions.json`` (``python -m
    reasoner.goals fit`` writes it); None when there is none (the ``learned`` feature is then
    absent)."""
    from .transitions import TransitionModel
    candidates = [Path(path)] if path is not None else []
    if search and path is None:
        candidates += [p if p.suffix == ".json" else p / "transitions.json"
                       for p in _model_dirs("HEARTH_TRANSITION_MODEL", "transitions.json")]
    for p in candidates:
        if p.is_file():
            try:
                return TransitionModel.load(p, embedder=_SharedMiniLM())
            except Exception as err:
                if path is not None:
                    raise GoalsError(f"cannot load the transition model {p}: {err}") from err
                log.warning("cannot use the transition model in %s: %s", p, err)
        elif path is not None:
            raise GoalsError(f"no transition model at {p}; fit one with `python -m reasoner.goals "
                             "fit --sgd DIR`")
    return None


# ================================================================================================
# The pipeline component
# ================================================================================================

class GoalsComponent:
    """The ``goals`` pipeline component: a ``GoalsRanked`` after each user turn of a conversation,
    and a ``SuggestionMade`` (derived from it) when the trigger fires."""

    name = "goals"
    consumes = (UserTurnMade, GoalsRanked)
    produces: tuple = (GoalsRanked,)

    def __init__(self, *, model: GoalModel | Mapping | None = None, transitions: Any = "auto",
                 knowledge: GoalKnowledge | None = None, spec: DialogueSpec | None = None,
                 dialogue: DialogueComponent | None = None):
        from .patterns import SuggestionMade
        self._SuggestionMade = SuggestionMade
        self.produces = (GoalsRanked, SuggestionMade)
        self.model = GoalModel.from_json(model) if isinstance(model, Mapping) else model
        self._transitions_arg = transitions
        self._knowledge = knowledge
        self._spec = spec
        self._dialogue = dialogue
        self._ranker: GoalRanker | None = None
        self._lock = threading.Lock()

    @property
    def ranker(self) -> GoalRanker:
        with self._lock:
            if self._ranker is None:
                arg = self._transitions_arg
                if arg == "auto":
                    transitions = load_transition_model()
                elif isinstance(arg, (str, Path)):
                    transitions = load_transition_model(arg)
                else:
                    transitions = arg or None
                self._ranker = GoalRanker(spec=self._spec, knowledge=self._knowledge,
                                          model=self.model, transitions=transitions)
            return self._ranker

    def dialogue(self, home: Household) -> DialogueComponent:
        if self._dialogue is not None:
            return self._dialogue
        pipeline = getattr(home, "pipeline", None)
        for p in [pipeline] + [getattr(x, "pipeline", None)
                               for x in getattr(home.log, "_listeners", ())]:
            if p is None:
                continue
            for c in p.components:
                if isinstance(c, DialogueComponent):
                    return c
        self._dialogue = DialogueComponent(carryover=None)
        return self._dialogue

    def process(self, home: Household, appended: Sequence[Appended]) -> list[E.Event]:
        state = dialogue_state(home)
        out: list[E.Event] = []
        for a in appended:
            ev = a.event
            if isinstance(ev, UserTurnMade):
                out.extend(self._rank(home, state, a))
            elif isinstance(ev, GoalsRanked) and ev.offered:
                out.extend(self._offer(home, a))
        return out

    def _rank(self, home: Household, state, item: Appended) -> list[E.Event]:
        ev = item.event
        session = state.sessions.get(ev.session)
        if session is None:
            return []
        history = [(h, n, t) for h, n, t, sid in state.transitions
                   if sid != ev.session and t <= ev.time]
        dialogue = self.dialogue(home)
        ranking = self.ranker.rank(session, when=ev.time, dialogue=dialogue, history=history)
        return [GoalsRanked(time=ev.time, derived_from=(item.iri,), session=ev.session,
                            turn=ev.turn, ranking=[c.to_json() | {"slots": c.slots}
                                                   for c in ranking.candidates[:5]],
                            offered=ranking.offer.intent if ranking.offer else None,
                            model=self.ranker.model.to_json(), reason=ranking.reason)]

    def _offer(self, home: Household, item: Appended) -> list[E.Event]:
        ev = item.event
        cand = ev.candidate()
        if cand is None or not cand.get("text"):
            return []
        turn_iri = ev.derived_from[0]
        turn = home.event(home.ids.seq_of(turn_iri))
        target = home.ids.person(turn.speaker).value if getattr(turn, "speaker", None) else None
        sources = tuple(NamedNode(s["event"]) for s in (cand.get("slots") or {}).values()
                        if s.get("event"))
        return [self._SuggestionMade(
            time=ev.time, by=AGENT, derived_from=(item.iri, turn_iri) + tuple(dict.fromkeys(sources)),
            text=cand["text"], kind="offer", target=target,
            confidence=float(cand["probability"]), intent=cand["intent"],
            slots=cand.get("slots") or {})]


@register_component("goals")
def goals_component(**config) -> GoalsComponent:
    """The ``goals`` component; ``config`` goes to :class:`GoalsComponent` (``model=…`` for other
    weights or threshold, ``transitions=None`` to rank without the learned model)."""
    return GoalsComponent(**config)


# ================================================================================================
# Fitting the learned models on Schema-Guided Dialogue (python -m reasoner.goals fit)
# ================================================================================================

def fit_models(sgd: str | Path, out: str | Path | None = None, *, carryover: bool = True,
               log_fn=print) -> dict[str, str]:
    """Fits the transition model (and the carryover model) on SGD's train split and saves them
    where :func:`load_transition_model` and :func:`reasoner.dialogue.load_carryover_model` look
    (``~/.cache/hearth/dialogue/`` by default)."""
    from .carryover import (CarryoverModel, iter_carry_points, load_sgd_dialogues,
                            load_sgd_schemas, sgd_split_paths)
    from .transitions import TransitionModel, iter_transition_points
    if out is None:
        from .embeddings import cache_dir
        out = cache_dir() / "dialogue"
    out = Path(out)
    dialogues, schema = sgd_split_paths(Path(sgd), "train")
    schemas = load_sgd_schemas(schema)
    raw = load_sgd_dialogues(dialogues)
    saved = {}
    t0 = _time.perf_counter()
    points = iter_transition_points(raw, schemas, with_context=True)
    tm = TransitionModel(embedder=_SharedMiniLM()).fit([], schemas, points=points)
    saved["transitions"] = str(tm.save(out / "transitions.json"))
    log_fn(f"transition model: {len(points)} points, {_time.perf_counter() - t0:.0f} s")
    if carryover:
        t0 = _time.perf_counter()
        cm = CarryoverModel(embedder=_SharedMiniLM()).fit(
            [], schemas, points=list(iter_carry_points(raw, schemas)))
        saved["carryover"] = str(cm.save(out / "carryover"))
        log_fn(f"carryover model: {_time.perf_counter() - t0:.0f} s")
    return saved


# SGD domains read as the commonsense needs they meet (for calibration on SGD's dialogues)
SGD_NEEDS = {"Weather": CS + "WeatherForecast", "Movies": CS + "FilmListings",
             "Media": CS + "FilmListings", "Restaurants": CS + "RestaurantTable",
             "RideSharing": CS + "Ride", "Calendar": CS + "TodaysAgenda",
             "Buses": CS + "PublicTransportTimes", "Trains": CS + "PublicTransportTimes"}
SGD_FEATURES = ("commonsense", "learned", "slots", "done")


def sgd_rows(points, transitions, schemas, knowledge: GoalKnowledge | None = None):
    """For each SGD transition point, every candidate service's features (those SGD can give:
    ``SGD_FEATURES``) and whether it came next: ``[(dialogue id, [(service, values, hit)])]``."""
    from .carryover import service_domain, slot_type
    k = knowledge or default_knowledge()
    offerable = set(SGD_NEEDS.values())
    names = sorted(schemas)
    out = []
    for p in points:
        cands = [c for c in names if c not in p.history]
        if p.next_service not in cands:
            continue
        learned = {}
        if transitions is not None:
            ranked = transitions.rank(list(p.history), cands)
            top = max(r.score for r in ranked)
            z = sum(math.exp(r.score - top) for r in ranked)
            learned = {r.service: _lift(math.exp(r.score - top) / z, len(ranked))
                       for r in ranked}
        met = {SGD_NEEDS[d] for d in (service_domain(h) for h in p.history) if d in SGD_NEEDS}
        held = Counter(slot_type(c.slot) for c in p.context)
        doms = {service_domain(h) for h in p.history}
        rows = []
        for c in cands:
            values = {}
            need = SGD_NEEDS.get(service_domain(c))
            if need is not None and need not in met and met:
                best = 0.0
                for g in k.goals.values():
                    if need in g.needs and g.needs & met:
                        open_ = len((g.needs - met) & offerable) or 1
                        best = max(best, len(g.needs & met) / len(met) / open_)
                if best:
                    values["commonsense"] = best
            if learned.get(c):
                values["learned"] = learned[c]
            req = schemas[c].required_slots
            if req:
                got = sum(1 for sl in schemas[c].slots if sl.name in req and held[slot_type(sl)])
                if got:
                    values["slots"] = got / len(req)
            if service_domain(c) in doms:
                values["done"] = 1.0
            rows.append((c, values, c == p.next_service))
        out.append((p.dialogue_id, rows))
    return out


def calibrate(rows, *, base: GoalModel | None = None, target_precision: float = 0.5,
              l2: float = 1e-3, seed: int = 13) -> dict:
    """Fits the bias and the weights of ``SGD_FEATURES`` by logistic regression on half of the
    dialogues' candidates (labels: the service that came next), keeps ``base``'s weights for the
    features SGD cannot give (keyword, day, time, household), and reports on the other half: the
    ranking (top-1, top-3, against the learned transitions alone), the reliability of the top
    candidate's probability (expected calibration error, 10 bins), and the lowest threshold at
    which offering the top candidate is right at least ``target_precision`` of the time (chosen
    on the fitting half)."""
    import numpy as np
    from scipy.optimize import minimize
    base = base or GoalModel()
    rng = np.random.default_rng(seed)
    ids = sorted({d for d, _ in rows})
    half = set(rng.permutation(ids)[: len(ids) // 2].tolist())
    fit_rows = [r for d, rs in rows if d in half for r in rs]
    X = np.array([[v.get(f, 0.0) for f in SGD_FEATURES] for _, v, _ in fit_rows])
    y = np.array([hit for _, _, hit in fit_rows], dtype=float)

    def loss(w):
        z = w[0] + X @ w[1:]
        p = 1 / (1 + np.exp(-z))
        eps = 1e-9
        g = p - y
        return (-(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)).mean() + l2 * w[1:] @ w[1:],
                np.concatenate([[g.mean()], X.T @ g / len(y) + 2 * l2 * w[1:]]))
    w = minimize(loss, np.zeros(len(SGD_FEATURES) + 1), jac=True, method="L-BFGS-B").x
    model = GoalModel(float(w[0]), {**dict(base.weights),
                                    **{f: float(x) for f, x in zip(SGD_FEATURES, w[1:])}},
                      base.threshold)

    def tops(part):
        out = []
        for d, rs in rows:
            if (d in half) != part:
                continue
            scored = sorted(rs, key=lambda r: -model.logit(r[1]))
            learned = sorted(rs, key=lambda r: -r[1].get("learned", 0.0))
            rank = next(i for i, r in enumerate(scored) if r[2])
            lrank = next(i for i, r in enumerate(learned) if r[2])
            out.append((model.probability(scored[0][1]), scored[0][2], rank, lrank))
        return out
    fit_tops, test_tops = tops(True), tops(False)
    threshold = 1.0
    for t in sorted({round(p, 3) for p, *_ in fit_tops}):
        offered = [hit for p, hit, *_ in fit_tops if p >= t]
        if offered and sum(offered) / len(offered) >= target_precision:
            threshold = t
            break
    offered = [hit for p, hit, *_ in test_tops if p >= threshold]
    bins = [[] for _ in range(10)]
    for p, hit, *_ in test_tops:
        bins[min(int(p * 10), 9)].append((p, hit))
    ece = sum(len(b) * abs(np.mean([p for p, _ in b]) - np.mean([h for _, h in b]))
              for b in bins if b) / max(len(test_tops), 1)
    n = max(len(test_tops), 1)
    return {
        "points_fit": len(fit_tops), "points_test": len(test_tops),
        "top1": round(sum(r == 0 for *_, r, _ in test_tops) / n, 4),
        "top3": round(sum(r < 3 for *_, r, _ in test_tops) / n, 4),
        "learned_top1": round(sum(lr == 0 for *_, lr in test_tops) / n, 4),
        "learned_top3": round(sum(lr < 3 for *_, lr in test_tops) / n, 4),
        "ece": round(float(ece), 4), "threshold": round(threshold, 3),
        "offer_rate": round(len(offered) / n, 4),
        "offer_precision": round(sum(offered) / len(offered), 4) if offered else None,
        "model": GoalModel(model.bias, model.weights, round(threshold, 3)).to_json(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reasoner.goals")
    sub = ap.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit the transition and carryover models on SGD train")
    fit.add_argument("--sgd", required=True, help="SGD folder (train_dialogues.json.gz, …)")
    fit.add_argument("--out", help="where to save (default ~/.cache/hearth/dialogue)")
    fit.add_argument("--no-carryover", action="store_true", help="fit the transition model only")
    cal = sub.add_parser("calibrate", help="fit the offer score's SGD-given weights and the "
                         "trigger's threshold on SGD dev, and report them on held-out dialogues")
    cal.add_argument("--sgd", required=True, help="SGD folder (dev_dialogues.json.gz, …)")
    cal.add_argument("--split", default="dev")
    cal.add_argument("--transition-model", help="a saved TransitionModel (default: search)")
    cal.add_argument("--precision", type=float, default=0.5,
                     help="the precision offers must reach (default 0.5)")
    cal.add_argument("--json", action="store_true", help="print one JSON object last")
    args = ap.parse_args(argv)
    if args.command == "fit":
        saved = fit_models(args.sgd, args.out, carryover=not args.no_carryover,
                           log_fn=lambda m: print(m, file=sys.stderr))
        print(json.dumps(saved))
        return 0
    from .carryover import load_sgd_dialogues, load_sgd_schemas, sgd_split_paths
    from .transitions import iter_transition_points
    dialogues, schema = sgd_split_paths(Path(args.sgd), args.split)
    schemas = load_sgd_schemas(schema)
    transitions = load_transition_model(args.transition_model)
    if transitions is not None:
        transitions.register_schemas(schemas)
    points = iter_transition_points(load_sgd_dialogues(dialogues), schemas, with_context=True)
    result = calibrate(sgd_rows(points, transitions, schemas), target_precision=args.precision)
    result["transition_model"] = transitions is not None
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
