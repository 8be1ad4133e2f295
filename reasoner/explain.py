"""Self-explanation: one ``explain()`` for every conclusion the engine draws, and ``why_not()``.

``explain(home, conclusion)`` takes any conclusion (an inferred triple, a ``FactInferred``, an
activity, a suggestion, a hunch, a reading of an utterance, a resolution suggestion, a command the
engine issued on its own, and whatever later components register) and returns an
:class:`Explanation`:

* ``sentence``: why, in words a person understands;
* ``kind`` and ``source``: what drew it (a rule, a pattern, a hunch kind, a model);
* ``evidence``: the tree of the conclusions and events it came from, down to the input events
  (``input_events()``); for an inferred triple also ``derivations``, every rule derivation
  (:func:`reasoner.rules.explain`);
* ``attribution``: when the conclusion rests on a learned score (an intent's confidence, a
  hunch's anomaly score, a suggestion's rank), the Shapley values of the features a person
  recognises: the words, the time of day, who is home, how long a device had been on, the facts a
  suggestion rests on (:mod:`reasoner.attribution`).

It renders as text (:meth:`Explanation.text`), JSON (:meth:`Explanation.to_json`) and RDF
(:meth:`Explanation.to_rdf`); :func:`record` appends it to the household as an
``ExplanationProvided`` event derived from the conclusion, so SPARQL can ask why::

    SELECT ?why WHERE { ?e a hearth:ExplanationProvided ; hearth:explains ?c ; hearth:text ?why .
                        ?c hearth:device ?d . ?d rdfs:label "Porch Light" }

``why_not(home, what)`` says why something did not happen: for a pattern, the closest partial
match and the step that was missing or out of its window; for a hunch, which feature held the
score under the threshold (:func:`reasoner.attribution.why_not`); for an automatic action, that
the household had not opted in, or why the hunch that would have offered it was not raised.

Asking out loud: the ``explanations`` skill (``ontologies/skills/explanations.yaml``) reads "why
did you do that?", "why did you turn on the hall light?" and "why didn't you …?"; the
``explanations`` pipeline component answers each with an ``ExplanationProvided`` about the most
recent matching conclusion (:func:`answer`).

**Plugging in.** Later conclusions (carried slot values, goal offers, learned rewrites) register
how they are explained, by event type::

    @register_explainer(GoalOffered)                      # the sentence (optional)
    def _offer(ctx, item):
        return ctx.explanation(item, kind="goal offer", sentence="…", source=MODEL_IRI)

    register_scorer(GoalOffered, lambda ctx, item: LearnedScore(features, score_fn=…,
                    phrase="offered the driving time", threshold=0.5))

A conclusion type with a scorer gets Shapley attributions (and :func:`learned_score` hands its
decisions to a deletion test); a near miss that was never recorded is explained from its
``LearnedScore`` by :func:`why_not_scored`; :func:`context_features` gives the features a person
recognises about a moment (time of day, day of week, who is home, device states, recent
requests). A type with neither gets the default explanation (what it is and the evidence it
cites).

>>> from kg.household import Hearth
>>> from kg import events as E
>>> home = Hearth.in_memory().create_household("doc", time="2026-11-21T06:00:00Z")
>>> heard = home.append(E.UtteranceHeard(time=home.event(1).time, text="hello"))
>>> made = home.append(E.CommandIssued(time=heard.event.time, by="component:demo",
...                                    device="light.hall", command="turn_on",
...                                    derived_from=(heard.iri,)))
>>> why = explain(home, made.seq)
>>> why.kind, [home.ids.seq_of(e) for e in why.input_events()]
('action', [2])
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, ClassVar
from urllib.parse import unquote

from pyoxigraph import Literal, NamedNode, Triple

from kg import events as E
from kg.errors import EventError
from kg.events import f, register_event_type
from kg.household import Household
from kg.log import Appended
from kg.terms import format_datetime
from kg.vocab import HEARTH, HEARTH_NS, PROV, RDF, RDFS

from . import attribution as A
from .errors import ReasonerError
from .pipeline import register_component

__all__ = [
    "Explanation", "Observed", "LearnedScore", "WhyNot", "ExplanationProvided", "ExplainError",
    "ExplainContext", "ExplanationsComponent", "explain", "why_not", "record", "answer",
    "find_conclusion", "learned_score", "register_explainer", "register_scorer", "EXPLAINERS",
    "SCORERS", "INTENTS", "MODEL_NS", "context_features",
    "describe_explanation", "explanation_event", "Answer", "why_not_scored",
]

AGENT = "component:explanations"
MODEL_NS = "https://w3id.org/hearth/model/"
INTENT_MODEL = MODEL_NS + "intent-classifier"
RESOLUTION_MODEL = MODEL_NS + "resolution"
TEMPLATE_MODEL = MODEL_NS + "home-assistant-templates"
KNOWN_READING = MODEL_NS + "known-phrases"  # taught commands, routine phrases, answers
INTENTS = ("explanations.why", "explanations.why_not")

# Terms this module adds to the vocabulary (see the report to the lead; not yet in hearth.ttl).
EXPLANATION_PROVIDED = NamedNode(HEARTH_NS + "ExplanationProvided")
EXPLANATION = NamedNode(HEARTH_NS + "Explanation")
P_EXPLAINS = NamedNode(HEARTH_NS + "explains")
P_EXPLANATION_KIND = NamedNode(HEARTH_NS + "explanationKind")
P_CONCLUSION_KIND = NamedNode(HEARTH_NS + "conclusionKind")
P_DRAWN_BY = NamedNode(HEARTH_NS + "drawnBy")
P_RESTS_ON = NamedNode(HEARTH_NS + "restsOn")
P_HAS_ATTRIBUTION = NamedNode(HEARTH_NS + "hasAttribution")
P_MISSING = NamedNode(HEARTH_NS + "missing")
P_HELD_BACK_BY = NamedNode(HEARTH_NS + "heldBackBy")

#: The SHACL shape proposed for ``ExplanationProvided`` (for ontologies/shapes/events.ttl).


class ExplainError(ReasonerError, ValueError):
    """A conclusion cannot be found or explained; the message says what was given and what
    can be."""


# ================================================================================================
# Values
# ================================================================================================

@dataclass(frozen=True)
class Observed:
    """An input event at a leaf of an explanation: what it was, in words, and the part it
    played (``role``: a pattern step, "premise", "opt-in" …)."""

    iri: NamedNode
    seq: int
    event_type: str
    sentence: str
    time: dt.datetime
    role: str | None = None

    def to_json(self) -> dict:
        out = {"event": self.iri.value, "seq": self.seq, "type": self.event_type,
               "sentence": self.sentence, "time": format_datetime(self.time)}
        if self.role:
            out["role"] = self.role
        return out


@dataclass(frozen=True)
class Explanation:
    """Why the engine concluded something (see the module docstring).

    ``conclusion``: the event's IRI, or the triple for an inferred triple; ``what``: the
    conclusion in words; ``kind``: fact, triple, activity, suggestion, resolution, hunch,
    interpretation, action, lookup, explanation, withdrawal or a registered kind; ``by``: the
    agent that drew it; ``source`` and ``source_kind``: the rule, pattern, hunch kind or model
    (an IRI) and which of these it is; ``evidence``: explanations of the conclusions it was drawn
    from and the input events, in log order; ``details``: numbers (confidence, score,
    threshold, recorded versus re-scored values).
    """

    conclusion: NamedNode | Triple
    kind: str
    what: str
    sentence: str
    by: str | None = None
    source: str | None = None
    source_kind: str | None = None
    evidence: tuple["Explanation | Observed", ...] = ()
    attribution: A.Attribution | None = None
    derivations: tuple = ()          # reasoner.rules.Explanation, for inferred triples
    seq: int | None = None
    time: dt.datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    # -- the tree ------------------------------------------------------------------------------
    def input_events(self) -> list[NamedNode]:
        """The input events at the leaves (of the evidence and of every rule derivation), in
        log order."""
        found: dict[NamedNode, int] = {}
        for item in self.evidence:
            if isinstance(item, Observed):
                found[item.iri] = item.seq
            else:
                for iri in item.input_events():
                    found[iri] = int(iri.value.rsplit(":", 1)[-1])
        for d in self.derivations:
            for iri in d.input_events():
                found.setdefault(iri, int(iri.value.rsplit(":", 1)[-1]))
        return sorted(found, key=found.get)

    def conclusions(self) -> list["Explanation"]:
        """This explanation and every explanation in its evidence, depth first."""
        out = [self]
        for item in self.evidence:
            if isinstance(item, Explanation):
                out.extend(item.conclusions())
        return out

    @property
    def event_iri(self) -> NamedNode | None:
        return self.conclusion if isinstance(self.conclusion, NamedNode) else None

    # -- renderings ------------------------------------------------------------------------------
    def text(self, *, indent: int = 0, numbers: bool = True) -> str:
        """The sentence, then the evidence as an indented tree (one line a node)."""
        pad = "  " * indent
        lines = [pad + (self.sentence if numbers or self.attribution is None else
                        _plain(self))]
        for item in self.evidence:
            if isinstance(item, Observed):
                role = f" [{item.role}]" if item.role else ""
                lines.append(f"{pad}  #{item.seq} {item.sentence} at {item.time:%H:%M}{role}")
            else:
                seq = f"#{item.seq} " if item.seq is not None else ""
                sub = item.text(indent=indent + 1, numbers=numbers).lstrip()
                lines.append(f"{pad}  {seq}{sub}")
        if self.kind == "triple" and self.derivations:
            lines.extend(pad + "  " + line for d in self.derivations
                         for line in d.text().splitlines()[1:])
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def to_json(self) -> dict:
        """A JSON object (nested for the evidence)."""
        out: dict[str, Any] = {
            "conclusion": (self.conclusion.value if isinstance(self.conclusion, NamedNode)
                           else _triple_text(self.conclusion)),
            "seq": self.seq, "kind": self.kind, "what": self.what, "sentence": self.sentence,
            "by": self.by, "source": self.source, "source_kind": self.source_kind,
            "time": format_datetime(self.time) if self.time else None,
            "details": _jsonable(dict(self.details)),
            "attribution": self.attribution.as_dict() if self.attribution else None,
            "evidence": [item.to_json() for item in self.evidence],
            "input_events": [e.value for e in self.input_events()],
        }
        if self.derivations:
            out["derivations"] = [_derivation_json(d) for d in self.derivations]
        return out

    def to_rdf(self, ids, *, node: NamedNode | None = None, kind: str = "why") -> list[Triple]:
        """The explanation as triples: ``node`` (by default a content-hash IRI, typed
        ``hearth:Explanation``) ``hearth:explains`` the conclusion, with its sentence
        (``hearth:text``), kind, what drew it (``hearth:drawnBy``), the input events it rests on
        (``hearth:restsOn``), and the attributions in its tree (``hearth:hasAttribution``, in the
        attribution vocabulary: :func:`reasoner.attribution.attribution_to_rdf`)."""
        typed = node is None
        if node is None:
            digest = hashlib.sha256(repr((_conclusion_key(self.conclusion), self.sentence))
                                    .encode()).hexdigest()[:20]
            node = ids.node("explanation", digest)
        out = [Triple(node, RDF.type, EXPLANATION)] if typed else []
        out += [Triple(node, P_EXPLANATION_KIND, Literal(kind)),
                Triple(node, HEARTH.text, Literal(self.sentence)),
                Triple(node, P_CONCLUSION_KIND, Literal(self.kind))]
        for target in _explained_events(self):
            out.append(Triple(node, P_EXPLAINS, target))
        if self.source and _is_iri(self.source):
            out.append(Triple(node, P_DRAWN_BY, NamedNode(self.source)))
        for leaf in self.input_events():
            out.append(Triple(node, P_RESTS_ON, leaf))
        out += attribution_triples(self, ids, node)
        return out


@dataclass(frozen=True)
class LearnedScore:
    """A learned score behind a conclusion, ready to be attributed: the ``features`` a person
    recognises, a score function over them (``score_fn(present)`` or ``score_batch(masks)``, as
    :func:`reasoner.attribution.attribute` takes), ``phrase``: what the score led to, past tense
    ("offered the driving time"), ``threshold``: the decision threshold when there is one (for
    why-not), ``recorded``: the score the conclusion recorded, ``options`` for ``attribute``
    (method, samples, deadline_ms, max_exact), ``source``: the model's IRI."""

    features: tuple[A.Feature, ...]
    score_fn: A.ScoreFn | None = None
    score_batch: A.ScoreBatch | None = None
    phrase: str | None = None
    threshold: float | None = None
    recorded: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None

    def decision(self, name: str = "") -> A.ScoredDecision:
        return A.ScoredDecision(tuple(self.features), self.score_fn, self.score_batch, name)

    def attribute(self, **overrides) -> A.Attribution:
        return A.attribute(self.score_fn, self.features, score_batch=self.score_batch,
                           **{**self.options, **overrides})


def context_features(home: Household, *, before: int | None = None,
                     devices: Sequence[str] = (), recent: int = 3) -> list[A.Feature]:
    """Features a person recognises about the moment just before event ``before`` (default:
    now), for a scorer of a later conclusion (a goal's rank, an offer's trigger, a carryover
    decision) to attribute its score to: the time of day, the day of the week, who is home, the
    states of ``devices`` and the last ``recent`` requests. Each feature's ``value`` is what it
    was and ``evidence`` the events it was read from; the scorer decides what its absence means
    (``baseline``).

    >>> from kg.household import Hearth
    >>> home = Hearth.in_memory().create_household("ctx", time="2026-11-21T08:40:00-08:00")
    >>> _ = home.append({"type": "UtteranceHeard", "time": "2026-11-21T08:40:00-08:00",
    ...                  "text": "what's the weather at Half Moon Bay"})
    >>> [(f.name, f.label) for f in context_features(home)][:2]
    [('time_of_day', 'in the morning'), ('day_of_week', 'on a Saturday')]
    """
    from .signals import Timeline
    end = home.head + 1 if before is None else before
    if end <= 1:
        return []
    tl = Timeline(home)
    seqs = tl.history(end, recent=dt.timedelta(0))
    for _ in tl.catch_up(end, only=seqs):
        pass
    state = tl.state
    last = home.event(end - 1)
    now = last.time
    k = tl.knowledge
    part = k.part_of_day(now.timetz().replace(tzinfo=None))
    iri = home.ids.event(end - 1).value
    out = [A.Feature("time_of_day", f"in the {k.labels.get(part, 'day')}" if part else
                     f"at {now:%H:%M}", value=k.labels.get(part, part), evidence=(iri,)),
           A.Feature("day_of_week", f"on a {now:%A}", value=f"{now:%A}", evidence=(iri,))]
    home_now = [state.name_of("person", p) for p in state.who_is_home()]
    verb = "was" if len(home_now) == 1 else "were"
    out.append(A.Feature("who_is_home", f"{', '.join(home_now)} {verb} home" if home_now
                         else "nobody was home", value=", ".join(home_now)))
    for device in devices:
        sv = state.device_states.get((device, "state"))
        name = state.name_of("device", device)
        out.append(A.Feature(f"device:{device}", f"the {name} was {sv.value}" if sv else
                             f"the {name}'s state was unknown", value=sv.value if sv else None,
                             evidence=(sv.event.value,) if sv else ()))
    found = 0
    for seq in range(end - 1, 0, -1):
        if found >= recent:
            break
        ev = home.event(seq)
        if isinstance(ev, E.UtteranceHeard):
            found += 1
            out.append(A.Feature(f"request:{found}", f'you asked "{ev.text}"' if found == 1
                                 else f'you had asked "{ev.text}" before', value=ev.text,
                                 evidence=(home.ids.event(seq).value,)))
    return out


@dataclass(frozen=True)
class WhyNot:
    """Why something did not happen.

    ``kind``: pattern, hunch, automation or nothing (nothing the engine knows would have done
    it); ``closest``: the closest candidate, in words; ``missing``: the steps or conditions that
    were missing or out of their window; ``held_back``: the features that kept a score under its
    threshold (most negative first, from :func:`reasoner.attribution.why_not`, in ``result``);
    ``about``: the pattern, hunch kind or device (an IRI); ``happened``: the conclusion, when it
    did happen after all; ``evidence``: the events of the closest candidate.
    """

    what: str
    kind: str
    sentence: str
    closest: str | None = None
    missing: tuple[str, ...] = ()
    held_back: tuple[A.Contribution, ...] = ()
    about: str | None = None
    result: A.WhyNotResult | None = None
    happened: NamedNode | None = None
    evidence: tuple[Observed, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        lines = [self.sentence]
        lines += [f"  #{o.seq} {o.sentence} at {o.time:%H:%M}" + (f" [{o.role}]" if o.role
                                                                    else "")
                  for o in self.evidence]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def to_json(self) -> dict:
        return {"what": self.what, "kind": self.kind, "sentence": self.sentence,
                "closest": self.closest, "missing": list(self.missing),
                "held_back": [{"feature": c.feature.name, "label": c.feature.label,
                               "value": c.value} for c in self.held_back],
                "about": self.about,
                "happened": self.happened.value if self.happened is not None else None,
                "change": ([f.name for f in self.result.change] if self.result is not None and
                           self.result.change else None),
                "score": self.result.score if self.result is not None else None,
                "threshold": self.result.threshold if self.result is not None else None,
                "evidence": [o.to_json() for o in self.evidence],
                "details": _jsonable(dict(self.details))}

    def to_rdf(self, ids, *, node: NamedNode | None = None) -> list[Triple]:
        typed = node is None
        if node is None:
            digest = hashlib.sha256(repr((self.what, self.sentence)).encode()).hexdigest()[:20]
            node = ids.node("explanation", digest)
        out = [Triple(node, RDF.type, EXPLANATION)] if typed else []
        out += [Triple(node, P_EXPLANATION_KIND, Literal("why-not")),
                Triple(node, HEARTH.text, Literal(self.sentence)),
                Triple(node, P_CONCLUSION_KIND, Literal(self.kind))]
        if self.about and _is_iri(self.about):
            out.append(Triple(node, P_DRAWN_BY, NamedNode(self.about)))
        if self.happened is not None:
            out.append(Triple(node, P_EXPLAINS, self.happened))
        out += [Triple(node, P_RESTS_ON, o.iri) for o in self.evidence]
        out += [Triple(node, P_MISSING, Literal(m)) for m in self.missing]
        out += [Triple(node, P_HELD_BACK_BY, Literal(c.feature.label)) for c in self.held_back]
        return out


# ================================================================================================
# The event: an explanation given
# ================================================================================================

@register_event_type
@dataclass(frozen=True, kw_only=True)
class ExplanationProvided(E.Event):
    """The engine explained a conclusion (``kind`` "why") or why something did not happen
    ("why-not"), in answer to a question (then derived from the question's reading) or when asked
    through the API (derived from the conclusion). ``explains``: the conclusion; ``text``: the
    sentence; ``conclusion_kind``: what kind of conclusion (hunch, activity …); ``drawn_by``: the
    rule, pattern, hunch kind or model; ``rests_on``: the input events at the leaves; for a
    why-not, ``missing`` (steps or conditions) and ``held_back`` (features, in words); ``rdf``: the
    attributions, in the attribution vocabulary (N-Triples), kept in the event's graph."""

    text: str = f("text", HEARTH.text)
    kind: str = f("text", P_EXPLANATION_KIND)
    explains: NamedNode | None = f("event", P_EXPLAINS, required=False)
    conclusion_kind: str | None = f("text", P_CONCLUSION_KIND, required=False)
    drawn_by: str | None = f("iri", P_DRAWN_BY, required=False)
    rests_on: tuple[NamedNode, ...] = f("events", P_RESTS_ON, required=False, default=())
    missing: tuple[str, ...] = f("json", required=False, default=())
    held_back: tuple[str, ...] = f("json", required=False, default=())
    rdf: str | None = f("rdf", required=False)
    rdf_type: ClassVar = EXPLANATION_PROVIDED
    is_conclusion: ClassVar = True

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "missing", tuple(self.missing or ()))
        object.__setattr__(self, "held_back", tuple(self.held_back or ()))

    def default_by(self) -> str:
        return AGENT

    def check(self) -> None:
        if self.kind not in ("why", "why-not"):
            raise EventError(f"ExplanationProvided.kind is 'why' or 'why-not', not {self.kind!r}",
                             field="kind")
        if self.rdf:
            E.parse_triples(self.rdf)

    def payload(self, ev, seq, ids):
        out = super().payload(ev, seq, ids)
        out += [(ev, P_MISSING, Literal(str(m))) for m in self.missing or ()]
        out += [(ev, P_HELD_BACK_BY, Literal(str(m))) for m in self.held_back or ()]
        if self.rdf:
            triples = E.parse_triples(self.rdf)
            out += [(t.subject, t.predicate, t.object) for t in triples]
            out += [(ev, P_HAS_ATTRIBUTION, t.subject) for t in triples
                    if t.predicate == RDF.type and t.object == HEARTH.Attribution]
        return out

    @classmethod
    def _from_rdf(cls, ev, props, quads, ids):
        event = super()._from_rdf(ev, props, quads, ids)
        rest = "".join(f"{q.subject} {q.predicate} {q.object} .\n" for q in quads
                       if q.subject != ev)
        return replace(event, rdf=rest or None,
                       missing=tuple(t.value for t in props.get(P_MISSING, ())),
                       held_back=tuple(t.value for t in props.get(P_HELD_BACK_BY, ())))


# ================================================================================================
# The registry of explainers and scorers
# ================================================================================================

Explainer = Callable[["ExplainContext", Appended], Explanation]
Scorer = Callable[["ExplainContext", Appended], "LearnedScore | None"]

EXPLAINERS: dict[type, Explainer] = {}
SCORERS: dict[type, Scorer] = {}
SALIENT: set[type] = set()       # what "why did you do that?" can be about


def register_explainer(event_type: type, fn: Explainer | None = None, *, salient: bool = False):
    """Registers how conclusions of ``event_type`` are explained: ``fn(ctx, item)`` returns an
    :class:`Explanation` (build it with ``ctx.explanation(item, kind=…, sentence=…)``, which
    fills in the evidence). ``salient``: "why did you do that?" may be about it (something the
    assistant did or said). Usable as a decorator."""
    def wrap(fn: Explainer) -> Explainer:
        EXPLAINERS[event_type] = fn
        if salient:
            SALIENT.add(event_type)
        return fn
    return wrap(fn) if fn is not None else wrap


def register_scorer(event_type: type, fn: Scorer | None = None):
    """Registers the learned score behind conclusions of ``event_type``: ``fn(ctx, item)``
    returns a :class:`LearnedScore` (or None when that conclusion has none). Explanations then
    carry Shapley attributions, why-not works on its threshold, and the evaluation samples it.
    Usable as a decorator."""
    def wrap(fn: Scorer) -> Scorer:
        SCORERS[event_type] = fn
        return fn
    return wrap(fn) if fn is not None else wrap


def _lookup(table: Mapping[type, Any], event: E.Event):
    for cls in type(event).__mro__:
        if cls in table:
            return table[cls]
    return None


# ================================================================================================
# The context explainers work in
# ================================================================================================

class ExplainContext:
    """What explainers share while explaining one conclusion: the household, sentences for
    events, the models (from the household's pipeline when it has them), and explanations
    already built (a tree is a DAG: each conclusion is explained once).

    ``options``: ``attributions`` (True: for the conclusion asked about and the hunches behind
    actions; "all": everywhere; False: never), ``understander``, ``resolver``,
    ``hunch_threshold``, ``prior_weight``, ``patterns`` (a list of :class:`Pattern`),
    ``attribution`` (options for :func:`reasoner.attribution.attribute`)."""

    def __init__(self, home: Household, **options):
        self.home = home
        self.ids = home.ids
        self.options = options
        self._memo: dict[tuple[int, bool], Explanation] = {}
        self._events: dict[int, E.Event] = {}
        self._describe = options.get("describe")
        self._knowledge = None
        self.depth = 0

    # -- the household ---------------------------------------------------------------------------
    @property
    def state(self):
        return self.home.state

    @property
    def knowledge(self):
        if self._knowledge is None:
            from .signals import Knowledge
            self._knowledge = Knowledge.of(self.home)
        return self._knowledge

    def event(self, seq: int) -> E.Event:
        ev = self._events.get(seq)
        if ev is None:
            ev = self._events[seq] = self.home.event(seq)
        return ev

    def component(self, name: str):
        """The household's pipeline component of that name (its models, its settings), from
        ``home.pipeline`` or a pipeline attached to its log; None when it has none."""
        pipelines = [getattr(self.home, "pipeline", None)]
        pipelines += [getattr(listener, "pipeline", None)
                      for listener in getattr(self.home.log, "_listeners", ())]
        for pipeline in pipelines:
            if pipeline is None:
                continue
            try:
                return pipeline.get(name)
            except ReasonerError:
                continue
        return None

    def describe(self, event: E.Event) -> str:
        """One sentence for an event (``hearth.timeline.describe`` when it is there)."""
        if self._describe is None:
            try:
                from hearth.timeline import describe
            except ImportError:  # the reasoner used without the facade
                def describe(ev, state):
                    return ev.type_name()
            self._describe = describe
        return self._describe(event, self.state)

    def name(self, kind: str, ident: str | None) -> str:
        return self.state.name_of(kind, ident) if ident else ""

    def local(self, iri: str | NamedNode | None, kind: str) -> str | None:
        """The local id of a household IRI of ``kind`` (device, area …), else None."""
        if iri is None:
            return None
        value = iri.value if isinstance(iri, NamedNode) else str(iri)
        head = f"{self.ids.base}{kind}:"
        return unquote(value[len(head):]) if value.startswith(head) else None

    def label(self, iri: str | None) -> str:
        if not iri:
            return ""
        return self.knowledge.labels.get(iri, iri.rsplit("#", 1)[-1].rsplit("/", 1)[-1])

    # -- building explanations -------------------------------------------------------------------
    def observed(self, seq: int, *, role: str | None = None) -> Observed:
        ev = self.event(seq)
        kind, _, local = ev.agent().partition(":")
        by = f" by {self.name('person', local)}" if kind == "person" else ""
        return Observed(self.ids.event(seq), seq, ev.type_name(), self.describe(ev) + by,
                        ev.time, role)

    def evidence(self, item: Appended, *, attributions: bool = False,
                 roles: Mapping[int, str] | None = None
                 ) -> tuple[Explanation | Observed, ...]:
        """The explanations of the conclusions ``item`` was drawn from, and its input events,
        in log order."""
        out: list[Explanation | Observed] = []
        for ref in sorted(set(item.event.derived_from), key=self.ids.seq_of):
            seq = self.ids.seq_of(ref)
            role = (roles or {}).get(seq)
            if self.event(seq).derived_from:
                out.append(self.explain_seq(seq, attributions=attributions))
            else:
                out.append(self.observed(seq, role=role))
        return tuple(out)

    def explain_seq(self, seq: int, *, attributions: bool | None = None) -> Explanation:
        """The explanation of the event ``seq`` (memoised)."""
        want = self._want_attributions(attributions)
        key = (seq, want)
        got = self._memo.get(key)
        if got is not None:
            return got
        ev = self.event(seq)
        item = Appended(seq, self.ids.event(seq), ev)
        self.depth += 1
        saved = self.options.get("_attribute")
        self.options["_attribute"] = want
        try:
            fn = _lookup(EXPLAINERS, ev) or _default_explainer
            if not ev.derived_from:
                fn = _input_explainer
            got = fn(self, item)
        finally:
            self.depth -= 1
            self.options["_attribute"] = saved
        if self.ids.event(seq) in self.state.retracted and "retracted" not in got.details:
            got = replace(got, details={**got.details, "retracted": True},
                          sentence="(Withdrawn since.) " + got.sentence)
        self._memo[key] = got
        return got

    def _want_attributions(self, asked: bool | None) -> bool:
        setting = self.options.get("attributions", True)
        if setting is False:
            return False
        if setting == "all":
            return True
        if asked is not None:
            return bool(asked)
        return self.depth == 0

    @property
    def wants_attribution(self) -> bool:
        """Whether the explainer running now should compute attributions."""
        return bool(self.options.get("_attribute", self.depth <= 1))

    def learned_score(self, item: Appended) -> LearnedScore | None:
        fn = _lookup(SCORERS, item.event)
        return fn(self, item) if fn is not None else None

    def attribute(self, score: LearnedScore) -> A.Attribution:
        return score.attribute(**dict(self.options.get("attribution", {})))

    def explanation(self, item: Appended, *, kind: str, sentence: str | None = None,
                    what: str | None = None, source: str | None = None,
                    source_kind: str | None = None, attribution: A.Attribution | None = None,
                    evidence: Sequence[Explanation | Observed] | None = None,
                    details: Mapping[str, Any] | None = None,
                    roles: Mapping[int, str] | None = None, **extra) -> Explanation:
        """An :class:`Explanation` of ``item`` with its evidence filled in (unless given).
        Without a ``sentence``, one is made from the attribution (when there is one) or the
        evidence."""
        ev = item.event
        what = what or self.describe(ev)
        if evidence is None:
            evidence = self.evidence(item, roles=roles)
        if sentence is None:
            sentence = (A.render(attribution, conclusion=f"concluded: {what}") if attribution
                        else f"I concluded: {what}, because {self.because(evidence)}.")
        return Explanation(conclusion=item.iri, kind=kind, what=what, sentence=sentence,
                           by=ev.agent(), source=source, source_kind=source_kind,
                           evidence=tuple(evidence), attribution=attribution, seq=item.seq,
                           time=ev.time, details=dict(details or {}), **extra)

    def because(self, evidence: Iterable[Explanation | Observed]) -> str:
        parts = []
        for item in evidence:
            if isinstance(item, Observed):
                parts.append(f"{item.sentence} at {item.time:%H:%M}")
            else:
                parts.append(f"{_lower(item.what)} at {item.time:%H:%M}" if item.time
                             else _lower(item.what))
        return "; ".join(parts) if parts else "nothing I recorded"


# ================================================================================================
# Built-in explainers
# ================================================================================================

def _input_explainer(ctx: ExplainContext, item: Appended) -> Explanation:
    obs = ctx.observed(item.seq)
    return Explanation(item.iri, "input", obs.sentence,
                       f"Nothing to explain: {_lower(obs.sentence)} is something I observed "
                       f"(event {item.seq}), not something I concluded.", by=item.event.agent(),
                       evidence=(obs,), seq=item.seq, time=item.event.time)


def _default_explainer(ctx: ExplainContext, item: Appended) -> Explanation:
    score = ctx.learned_score(item) if ctx.wants_attribution else None
    attribution = ctx.attribute(score) if score is not None else None
    evidence = ctx.evidence(item)
    what = ctx.describe(item.event)
    agent = item.event.agent().partition(":")[2] or item.event.agent()
    if attribution is not None:
        sentence = A.render(attribution, conclusion=score.phrase or f"concluded: {what}")
    else:
        sentence = f"The {agent} component concluded: {what}, from {ctx.because(evidence)}."
    return ctx.explanation(item, kind=_kind_name(item.event), sentence=sentence, what=what,
                           source=score.source if score else None,
                           source_kind="model" if score else None, attribution=attribution,
                           evidence=evidence,
                           details=_score_details(score, attribution))


@lru_cache(maxsize=1)
def _builtin_rules():
    from .rules import RuleSet
    return RuleSet.builtin()


def _rule_of(ctx: ExplainContext, iri: str | None):
    if not iri:
        return None
    engine = ctx.component("rules")
    rules = getattr(engine, "rules", None)
    rule = rules.by_iri(iri) if rules is not None else None
    return rule or _builtin_rules().by_iri(iri)


def _fact_inferred(ctx: ExplainContext, item: Appended) -> Explanation:
    from .rules import explain as explain_triple
    ev = item.event
    triples = E.parse_triples(ev.rdf)
    words = "; ".join(_triple_words(ctx, t) for t in triples)
    rule = _rule_of(ctx, ev.rule)
    name = rule.name if rule else (ev.rule or "?").rsplit("/", 1)[-1]
    doc = f" ({_first_sentence(rule.doc)})" if rule and rule.doc else ""
    evidence = ctx.evidence(item)
    derivations = tuple(explain_triple(ctx.home, t) for t in triples) \
        if ctx.options.get("derivations", True) and ctx.depth <= 1 else ()
    sentence = (f"I inferred that {words} by the rule {name}{doc}, from "
                f"{ctx.because(evidence)}.")
    return ctx.explanation(item, kind="fact", what=f"inferred that {words}", sentence=sentence,
                           source=ev.rule, source_kind="rule", evidence=evidence,
                           derivations=derivations,
                           details={"rule": name, "derivations": len(derivations) or None})


def _pattern_of(ctx: ExplainContext, iri: str | None):
    if not iri:
        return None
    for p in _patterns(ctx):
        if p.iri == iri:
            return p
    return None


def _patterns(ctx: ExplainContext):
    given = ctx.options.get("patterns")
    if given is not None:
        return list(given)
    comp = ctx.component("patterns")
    if comp is not None and getattr(comp, "patterns", None) is not None:
        return list(comp.patterns)
    return list(_cached_builtin_patterns())


@lru_cache(maxsize=1)
def _cached_builtin_patterns():
    from .patterns import builtin_patterns
    return tuple(builtin_patterns())


def _pattern_clause(pattern) -> str:
    if pattern is None:
        return ""
    within = f", all within {_duration(pattern.within)}" if pattern.within else ""
    rel = "; " + "; ".join(_relation_words(r) for r in pattern.relations) \
        if pattern.relations else ""
    return f"{within}{rel} (pattern {pattern.name})"


def _activity(ctx: ExplainContext, item: Appended) -> Explanation:
    ev = item.event
    pattern = _pattern_of(ctx, ev.pattern)
    label = ctx.label(ev.activity)
    evidence = ctx.evidence(item)
    what = f"{label} ({ev.start:%H:%M}–{ev.end:%H:%M})"
    sentence = (f"I concluded {what} because {ctx.because(evidence)}"
                f"{_pattern_clause(pattern)}; the pattern's confidence is {ev.confidence:.2f}.")
    return ctx.explanation(item, kind="activity", what=what, sentence=sentence,
                           source=ev.pattern, source_kind="pattern", evidence=evidence,
                           details={"confidence": ev.confidence,
                                    "pattern": pattern.name if pattern else None})


def _suggestion(ctx: ExplainContext, item: Appended) -> Explanation:
    ev = item.event
    if ev.kind == "resolution" or ev.agent() == "component:resolution":
        return _resolution_suggestion(ctx, item)
    pattern = _pattern_of(ctx, ev.pattern)
    evidence = ctx.evidence(item)
    score = ctx.learned_score(item) if ctx.wants_attribution else None
    attribution = ctx.attribute(score) if score is not None else None
    if attribution is not None:
        sentence = A.render(attribution, conclusion=f'suggested "{ev.text}"')
    else:
        sentence = (f'I suggested "{ev.text}" because {ctx.because(evidence)}'
                    f"{_pattern_clause(pattern)}.")
    return ctx.explanation(item, kind="suggestion", what=f'suggested "{ev.text}"',
                           sentence=sentence, source=ev.pattern or (score.source if score
                                                                    else None),
                           source_kind="pattern" if ev.pattern else None,
                           attribution=attribution, evidence=evidence,
                           details={"confidence": ev.confidence, **_score_details(
                               score, attribution)})


def _phrase_of_resolution(text: str) -> str:
    m = re.search(r"→ (.*?)\?", text)
    return m.group(1) if m else text


def _resolution_suggestion(ctx: ExplainContext, item: Appended) -> Explanation:
    ev = item.event
    heard = _heard_of(ctx, item.event)
    phrase = _phrase_of_resolution(ev.text)
    said = f' for "{heard.text}"' if heard is not None else ""
    evidence = ctx.evidence(item)
    score = ctx.learned_score(item) if ctx.wants_attribution else None
    attribution = ctx.attribute(score) if score is not None else None
    if attribution is not None:
        sentence = A.render(attribution, conclusion=f"suggested to {phrase}{said}")
        sentence += f" No skill covers those words; {_because_of_resolution(ev.text)}."
    else:
        sentence = (f"I suggested to {phrase}{said}: no skill covers those words, and "
                    f"{_because_of_resolution(ev.text)}.")
    return ctx.explanation(item, kind="resolution", what=f"suggested to {phrase}{said}",
                           sentence=sentence, source=RESOLUTION_MODEL, source_kind="model",
                           attribution=attribution, evidence=evidence,
                           details={"confidence": ev.confidence,
                                    **_score_details(score, attribution)})


def _because_of_resolution(text: str) -> str:
    _, _, rest = text.partition("? ")
    return rest.strip() or "the commonsense graph links them to it"


def _hunch(ctx: ExplainContext, item: Appended) -> Explanation:
    ev = item.event
    label = ctx.label(ev.kind) or "hunch"
    device = ctx.name("device", ev.device)
    evidence = ctx.evidence(item)
    score = ctx.learned_score(item) if ctx.wants_attribution else None
    attribution = ctx.attribute(score) if score is not None else None
    what = f"a hunch about the {device} ({label}, score {ev.score:.2f})"
    if attribution is not None:
        sentence = A.render(attribution, conclusion=f"had {what}")
    else:
        sentence = (f"I had {what}: expected {ev.expected}, found {ev.actual}, because "
                    f"{ctx.because(evidence)}.")
    threshold = score.threshold if score is not None else None
    return ctx.explanation(item, kind="hunch", what=what, sentence=sentence, source=ev.kind,
                           source_kind="hunch kind", attribution=attribution, evidence=evidence,
                           details={"score": ev.score, "threshold": threshold,
                                    "expected": ev.expected, "actual": ev.actual,
                                    "said": ev.suggestion, **_score_details(score, attribution)})


def _interpretation(ctx: ExplainContext, item: Appended) -> Explanation:
    ev = item.event
    heard = _heard_of(ctx, ev)
    text = heard.text if heard is not None else "the utterance"
    evidence = ctx.evidence(item)
    reading = "something no skill covers" if ev.out_of_scope else ev.intent
    what = f'you said "{text}", which I read as {reading} (confidence {ev.confidence:.2f})'
    if ev.method == "known":
        from .understanding import PRE_READ_LABELS
        label = PRE_READ_LABELS.get(ev.intent, ev.intent)
        return ctx.explanation(
            item, kind="interpretation", what=what, evidence=evidence,
            sentence=f'I recognised "{text}" as {label}.',
            source=KNOWN_READING, source_kind="household", details={"confidence": ev.confidence,
                                                                    "method": ev.method})
    if ev.method == "template":
        return ctx.explanation(
            item, kind="interpretation", what=what, evidence=evidence,
            sentence=(f'I read "{text}" as {ev.intent} because it matched one of Home '
                      "Assistant's sentence templates exactly."),
            source=TEMPLATE_MODEL, source_kind="template", details={"confidence": ev.confidence,
                                                                    "method": ev.method})
    score = ctx.learned_score(item) if ctx.wants_attribution else None
    attribution = ctx.attribute(score) if score is not None else None
    if attribution is not None:
        sentence = A.render(attribution, conclusion=(
            f'found no skill for "{text}" (confidence {ev.confidence:.2f})' if ev.out_of_scope
            else f'read "{text}" as {ev.intent} (confidence {ev.confidence:.2f})'))
    elif ev.out_of_scope:
        sentence = (f'I found no skill for "{text}": the intent classifier\'s best match was '
                    f"below its threshold (confidence {ev.confidence:.2f}).")
    else:
        sentence = (f'I read "{text}" as {ev.intent}: the intent classifier\'s best match '
                    f"(confidence {ev.confidence:.2f}).")
    return ctx.explanation(item, kind="interpretation", what=what, sentence=sentence,
                           source=INTENT_MODEL, source_kind="model", attribution=attribution,
                           evidence=evidence, details={"confidence": ev.confidence,
                                                       "method": ev.method,
                                                       **_score_details(score, attribution)})


_COMMAND_WORDS = {"turn_on": "turned on", "turn_off": "turned off", "lock": "locked",
                  "unlock": "unlocked", "open": "opened", "close": "closed",
                  "notify": "sent a reminder to", "set": "set", "pause": "paused",
                  "play": "played"}


def _action(ctx: ExplainContext, item: Appended) -> Explanation:
    """A command the engine issued on its own (a CommandIssued with derived_from)."""
    from .hunches import HunchRaised
    ev = item.event
    device = ctx.name("device", ev.device)
    done = _COMMAND_WORDS.get(ev.command, f"asked to {ev.command}")
    what = f"{done} the {device}" if not done.startswith("asked") else \
        f"asked the {device} to {ev.command}"
    evidence = list(ctx.evidence(item, attributions=True))
    reasons, extra = [], []
    for e in evidence:
        if isinstance(e, Explanation) and e.seq is not None and \
                isinstance(ctx.event(e.seq), HunchRaised):
            hunch = ctx.event(e.seq)
            opt = _opt_in_event(ctx, hunch.kind, before=item.seq)
            reasons.append(e.sentence.rstrip(".").replace(" because ", ", as ", 1))
            if opt is not None:
                extra.append(ctx.observed(opt, role="opt-in"))
                reasons.append(f"the household opted in to my acting on such hunches "
                               f"(event {opt} at {ctx.event(opt).time:%H:%M})")
        elif isinstance(e, Explanation) and e.kind in ("suggestion", "resolution"):
            reasons.append(f"I had {e.what} (event {e.seq}) and it was accepted")
        elif isinstance(e, Explanation):
            reasons.append(f"{_lower(e.what)} (event {e.seq})")
        else:
            reasons.append(f"{_lower(e.sentence)} at {e.time:%H:%M}")
    evidence += extra
    sentence = f"I {what} on my own at {ev.time:%H:%M} because " + "; and ".join(reasons) + "."
    return ctx.explanation(item, kind="action", what=f"I {what}", sentence=sentence,
                           source=_first_source(evidence), source_kind="hunch kind"
                           if any(isinstance(e, Explanation) and e.kind == "hunch"
                                  for e in evidence) else None,
                           evidence=sorted(evidence, key=lambda x: x.seq or 0),
                           details={"command": ev.command, "device": ev.device})


def _first_source(evidence) -> str | None:
    for e in evidence:
        if isinstance(e, Explanation) and e.source:
            return e.source
    return None


def _opt_in_event(ctx: ExplainContext, kind: str | None, *, before: int) -> int | None:
    from .hunches import AUTOMATIC_HUNCHES, OPTS_IN_TO
    wanted = {AUTOMATIC_HUNCHES} | ({NamedNode(kind)} if kind else set())
    found = None
    for q in ctx.home.store.quads(ctx.ids.household, OPTS_IN_TO, None, None):
        g = q.graph_name
        if q.object in wanted and isinstance(g, NamedNode) and \
                g.value.startswith(ctx.ids.base + "event:") and g not in ctx.state.retracted:
            seq = ctx.ids.seq_of(g)
            if seq < before and (found is None or seq > found):
                found = seq
    return found


def _command(ctx: ExplainContext, item: Appended) -> Explanation:
    if item.event.derived_from:
        return _action(ctx, item)
    return _input_explainer(ctx, item)


def _lookup_facts(ctx: ExplainContext, item: Appended) -> Explanation:
    ev = item.event
    from .resolution import _source_name
    evidence = ctx.evidence(item)
    what = f"looked up '{ev.term}' in {_source_name(ev.source)}"
    return ctx.explanation(item, kind="lookup", what=what,
                           sentence=f"I {what} because {ctx.because(evidence)}; it gave "
                                    f"{len(ev.facts)} fact{'s' if len(ev.facts) != 1 else ''}.",
                           source=ev.agent() if _is_iri(ev.agent()) else None,
                           source_kind="knowledge source", evidence=evidence)


def _explanation_provided(ctx: ExplainContext, item: Appended) -> Explanation:
    ev = item.event
    evidence = ctx.evidence(item, attributions=False)
    heard = _heard_of(ctx, ev)
    asked = f'you asked "{heard.text}"' if heard is not None else "I was asked"
    what = "explained why" + ("" if ev.kind == "why" else " not")
    return ctx.explanation(item, kind="explanation", what=what, evidence=evidence,
                           sentence=f"I {what} because {asked}: {ev.text}",
                           source=ev.drawn_by, details={"kind": ev.kind})


def _retraction(ctx: ExplainContext, item: Appended) -> Explanation:
    ev = item.event
    target = ctx.ids.seq_of(ev.retracts)
    return ctx.explanation(item, kind="withdrawal", what=f"withdrew event {target}",
                           sentence=f"I withdrew event {target} because {ev.reason}.")


def _register_builtins() -> None:
    from .hunches import HunchRaised
    from .patterns import ActivityInferred, SuggestionMade
    from .resolution import FactsFetched
    from .understanding import UtteranceInterpreted
    register_explainer(E.FactInferred, _fact_inferred)
    register_explainer(ActivityInferred, _activity, salient=True)
    register_explainer(SuggestionMade, _suggestion, salient=True)
    register_explainer(HunchRaised, _hunch, salient=True)
    register_explainer(UtteranceInterpreted, _interpretation)
    register_explainer(E.CommandIssued, _command, salient=True)
    register_explainer(FactsFetched, _lookup_facts)
    register_explainer(ExplanationProvided, _explanation_provided)
    register_explainer(E.EventRetracted, _retraction)
    register_scorer(UtteranceInterpreted, _interpretation_score)
    register_scorer(HunchRaised, _hunch_score)
    register_scorer(SuggestionMade, _suggestion_score)


# ================================================================================================
# Built-in scorers: the learned scores, re-scored over features a person recognises
# ================================================================================================

def _heard_of(ctx: ExplainContext, event: E.Event, depth: int = 4) -> E.UtteranceHeard | None:
    """The utterance a conclusion was (eventually) drawn from."""
    for ref in event.derived_from:
        src = ctx.event(ctx.ids.seq_of(ref))
        if isinstance(src, E.UtteranceHeard):
            return src
    if depth > 0:
        for ref in event.derived_from:
            src = ctx.event(ctx.ids.seq_of(ref))
            if src.derived_from:
                found = _heard_of(ctx, src, depth - 1)
                if found is not None:
                    return found
    return None


def _heard_item(ctx: ExplainContext, event: E.Event) -> int | None:
    for ref in event.derived_from:
        seq = ctx.ids.seq_of(ref)
        if isinstance(ctx.event(seq), E.UtteranceHeard):
            return seq
    return None


def _understander(ctx: ExplainContext):
    given = ctx.options.get("understander")
    if given is not None:
        return given
    comp = ctx.component("understanding")
    if comp is not None and getattr(comp, "understander", None) is not None:
        return comp.understander
    from .understanding import default_understander
    return default_understander()


INTENT_OPTIONS = {"max_exact": 6, "samples": 128, "deadline_ms": 350}
RESOLUTION_OPTIONS = {"max_exact": 6, "samples": 160, "deadline_ms": 400}


def _interpretation_score(ctx: ExplainContext, item: Appended) -> LearnedScore | None:
    ev = item.event
    if ev.method != "classifier":
        return None
    heard = _heard_of(ctx, ev)
    if heard is None:
        return None
    from .understanding import score_features
    classifier = _understander(ctx).classifier
    features, score_batch = score_features(heard.text, None if ev.out_of_scope else ev.intent,
                                           classifier=classifier)
    heard_seq = _heard_item(ctx, ev)
    if heard_seq is not None:
        iri = ctx.ids.event(heard_seq).value
        features = [replace(x, evidence=(iri,)) for x in features]
    return LearnedScore(tuple(features), score_batch=score_batch,
                        phrase=(f'found no skill for "{heard.text}"' if ev.out_of_scope else
                                f'read "{heard.text}" as {ev.intent}'),
                        recorded=ev.confidence, options=dict(INTENT_OPTIONS),
                        source=INTENT_MODEL)


def _hunch_settings(ctx: ExplainContext) -> tuple[float, float]:
    comp = ctx.component("hunches")
    threshold = ctx.options.get("hunch_threshold", getattr(comp, "threshold", 0.75))
    prior = ctx.options.get("prior_weight", getattr(comp, "prior_weight", 120.0))
    return float(threshold), float(prior)


def _hunch_score(ctx: ExplainContext, item: Appended) -> LearnedScore | None:
    from .hunches import hunch_situations, score_features
    ev = item.event
    threshold, prior = _hunch_settings(ctx)
    found = hunch_situations(ctx.home, before=item.seq, device=ev.device, kind=ev.kind,
                             threshold=threshold, prior_weight=prior)
    if not found:
        return None
    features, score_fn = score_features(found[0])
    return LearnedScore(tuple(features), score_fn=score_fn,
                        phrase=f"had a hunch about the {found[0].device_name} "
                               f"({found[0].kind_label}, score {ev.score:.2f})",
                        threshold=threshold, recorded=ev.score, options={"method": "exact"},
                        source=ev.kind)


def _resolver(ctx: ExplainContext):
    given = ctx.options.get("resolver")
    if given is not None:
        return given
    comp = ctx.component("resolution")
    if comp is not None and getattr(comp, "resolver", None) is not None:
        return comp.resolver
    from .resolution import default_resolver
    return default_resolver()


def _suggestion_score(ctx: ExplainContext, item: Appended) -> LearnedScore | None:
    ev = item.event
    if ev.agent() == "component:goals":
        from .goals import learned_score as goal_score
        return goal_score(ctx, item)
    if ev.kind != "resolution" or not ev.intent:
        return None
    heard = _heard_of(ctx, ev)
    if heard is None:
        return None
    from .resolution import score_features
    got = score_features(ctx.home, heard.text, ev, resolver=_resolver(ctx), device=heard.device,
                         time=heard.time)
    if got is None:
        return None
    features, score_fn = got
    return LearnedScore(tuple(features), score_fn=score_fn,
                        phrase=f"suggested to {_phrase_of_resolution(ev.text)}",
                        recorded=ev.confidence, options=dict(RESOLUTION_OPTIONS),
                        source=RESOLUTION_MODEL)


def _score_details(score: LearnedScore | None, attribution: A.Attribution | None) -> dict:
    if score is None or attribution is None:
        return {}
    return {"recorded_score": score.recorded, "rescored": round(attribution.score, 4),
            "base_score": round(attribution.base_score, 4), "method": attribution.method,
            "attribution_ms": round(attribution.elapsed_ms, 1)}


# ================================================================================================
# The entry points
# ================================================================================================

def _as_seq(home: Household, conclusion) -> int | None:
    if isinstance(conclusion, Appended):
        return conclusion.seq
    if isinstance(conclusion, bool):
        raise ExplainError(f"cannot explain {conclusion!r}")
    if isinstance(conclusion, int):
        return conclusion
    if isinstance(conclusion, NamedNode) or (isinstance(conclusion, str) and
                                             conclusion.startswith(home.ids.base + "event:")):
        try:
            return home.ids.seq_of(conclusion)
        except ValueError as err:
            raise ExplainError(str(err)) from None
    return None


def explain(home: Household, conclusion, **options) -> Explanation:
    """Why the engine concluded something (see the module docstring).

    ``conclusion``: an event (its sequence number, IRI or the ``Appended`` that ``append``
    returned) or a triple (a pyoxigraph ``Triple`` or an ``(s, p, o)`` tuple). ``options``: see
    :class:`ExplainContext`; ``record=True`` also appends the explanation as an
    ``ExplanationProvided`` event (:func:`record`).
    """
    do_record = options.pop("record", False)
    ctx = ExplainContext(home, **options)
    if isinstance(conclusion, (Triple, tuple)):
        result = _explain_triple(ctx, conclusion)
    else:
        seq = _as_seq(home, conclusion)
        if seq is None:
            raise ExplainError(
                f"cannot explain {type(conclusion).__name__} {conclusion!r}: give an event's "
                "sequence number, its IRI, the Appended returned by append(), or a triple "
                "(s, p, o)")
        if not 1 <= seq <= home.head:
            raise ExplainError(f"no event {seq} in household {home.id!r}: its events are "
                               f"numbered 1 to {home.head}")
        result = ctx.explain_seq(seq)
    if do_record:
        record(home, result)
    return result


def _explain_triple(ctx: ExplainContext, triple) -> Explanation:
    from .rules import _as_triple, explain as explain_triple
    t = _as_triple(triple)
    why = explain_triple(ctx.home, t)
    words = _triple_words(ctx, t)
    evidence: list[Explanation | Observed] = []
    parts = []
    ctx.depth += 1  # the derivations are here already: the inner facts need not repeat them
    for d in why.derivations:
        if d.kind == "inferred" and d.seq is not None:
            inner = ctx.explain_seq(d.seq)
            evidence.append(inner)
            name = (d.rule or "?").rsplit("/", 1)[-1]
            parts.append(f"the rule {name} inferred it (event {d.seq})")
        elif d.kind in ("asserted", "conclusion", "projection") and d.seq is not None:
            if ctx.event(d.seq).derived_from:
                evidence.append(ctx.explain_seq(d.seq))
            else:
                evidence.append(ctx.observed(d.seq, role=d.kind))
            parts.append({"asserted": f"event {d.seq} ({d.event_type}) stated it",
                          "conclusion": f"the conclusion of event {d.seq} holds it",
                          "projection": f"event {d.seq} ({d.event_type}) described it"}[d.kind])
        elif d.kind == "ontology":
            parts.append("the ontology says so")
    ctx.depth -= 1
    if not why.holds:
        sentence = f"I do not hold that {words}: no event, rule or ontology statement says so."
    else:
        n = len(why.derivations)
        sentence = (f"I hold that {words} because " + "; and ".join(parts) +
                    (f" ({n} derivations)." if n > 1 else "."))
    rules = [d.rule for d in why.derivations if d.rule]
    return Explanation(conclusion=t, kind="triple", what=words, sentence=sentence,
                       source=rules[0] if rules else None,
                       source_kind="rule" if rules else None, evidence=tuple(evidence),
                       derivations=(why,), details={"holds": why.holds,
                                                    "derivations": len(why.derivations)})


def learned_score(home: Household, conclusion, **options) -> LearnedScore | None:
    """The learned score behind a conclusion event, with its features and score function
    (None when it has none): what :func:`explain` attributes and the evaluation deletes from."""
    ctx = ExplainContext(home, **options)
    seq = _as_seq(home, conclusion)
    if seq is None:
        raise ExplainError(f"learned_score takes an event, not {conclusion!r}")
    return ctx.learned_score(Appended(seq, home.ids.event(seq), home.event(seq)))


def attribution_triples(explanation: Explanation, ids, node: NamedNode | None
                        ) -> list[Triple]:
    """The attributions of an explanation's tree as triples, each linked from ``node`` with
    ``hearth:hasAttribution`` (no links when ``node`` is None)."""
    out: list[Triple] = []
    seen = set()
    for e in explanation.conclusions():
        if e.attribution is None or not isinstance(e.conclusion, NamedNode):
            continue
        triples = A.attribution_to_rdf(e.attribution, e.conclusion, ids)
        head = triples[0].subject
        if head in seen:
            continue
        seen.add(head)
        if node is not None:
            out.append(Triple(node, P_HAS_ATTRIBUTION, head))
        out.extend(triples)
    return out


def _explained_events(explanation: Explanation) -> list[NamedNode]:
    if isinstance(explanation.conclusion, NamedNode):
        return [explanation.conclusion]
    return [e.conclusion for e in explanation.evidence
            if isinstance(e, Explanation) and isinstance(e.conclusion, NamedNode)][:1]


def _ntriples(triples: Iterable[Triple]) -> str:
    return "".join(f"{t.subject} {t.predicate} {t.object} .\n" for t in triples)


def explanation_event(home: Household, explanation: Explanation | WhyNot, *,
                      question: NamedNode | None = None,
                      time: dt.datetime | None = None) -> ExplanationProvided:
    """The ``ExplanationProvided`` event that records an explanation (not yet appended): derived
    from the question's reading (when there is one) and from what it explains."""
    ids = home.ids
    if isinstance(explanation, WhyNot):
        derived = [question] if question is not None else []
        if explanation.happened is not None:
            derived.append(explanation.happened)
        derived += [o.iri for o in explanation.evidence]
        if not derived:
            raise ExplainError("a why-not with no question and no evidence cannot be recorded: "
                               "record it as the answer to a question")
        return ExplanationProvided(
            time=time or home.event(home.head).time, kind="why-not", text=explanation.sentence,
            explains=explanation.happened, conclusion_kind=explanation.kind,
            drawn_by=explanation.about if explanation.about and _is_iri(explanation.about)
            else None, rests_on=tuple(o.iri for o in explanation.evidence),
            missing=tuple(explanation.missing),
            held_back=tuple(c.feature.label for c in explanation.held_back[:3]),
            derived_from=tuple(dict.fromkeys(derived)))
    targets = _explained_events(explanation)
    derived = ([question] if question is not None else []) + targets
    if not derived:
        derived = list(explanation.input_events())[:1]
    if not derived:
        raise ExplainError("this explanation has nothing to be derived from")
    rdf = [t for t in attribution_triples(explanation, ids, None)]
    event = ExplanationProvided(
        time=time or (explanation.time or home.event(home.head).time), kind="why",
        text=explanation.sentence, explains=targets[0] if targets else None,
        conclusion_kind=explanation.kind,
        drawn_by=explanation.source if explanation.source and _is_iri(explanation.source)
        else None, rests_on=tuple(explanation.input_events()),
        derived_from=tuple(dict.fromkeys(derived)), rdf=_ntriples(rdf) if rdf else None)
    return event


def record(home: Household, explanation: Explanation | WhyNot, *,
           question: NamedNode | None = None) -> Appended:
    """Appends an explanation to the household as an ``ExplanationProvided`` event."""
    return home.append(explanation_event(home, explanation, question=question))


# ================================================================================================
# Why not
# ================================================================================================

def why_not(home: Household, what, *, at: int | None = None,
            lookback: dt.timedelta = dt.timedelta(hours=12), **options) -> WhyNot:
    """Why something did not happen, as of event ``at`` (default: the last one).

    ``what``: a pattern's name or IRI ("leaving-home"); a hunch kind (its IRI, "cs:Name" or
    name); a device id, alone or with an action (``("light.porch", "turn_off")`` or
    ``{"device": …, "action": …}``): an automatic action; or words ("remind me", "turn off the
    porch light"). ``lookback``: how far back a pattern's partial matches are looked for.
    """
    ctx = ExplainContext(home, **options)
    at = home.head if at is None else int(at)
    if not 1 <= at <= home.head:
        raise ExplainError(f"no event {at} in household {home.id!r} (1 to {home.head})")
    target = _parse_what(ctx, what)
    kind = target["kind"]
    if kind == "pattern":
        return _pattern_why_not(ctx, target["pattern"], at, lookback)
    if kind == "hunch":
        return _hunch_why_not(ctx, at, kind=target["hunch"], device=target.get("device"),
                              lookback=lookback)
    if kind == "device":
        return _automation_why_not(ctx, at, target["device"], target.get("action"), lookback)
    return WhyNot(str(what), "nothing", target["sentence"])


def why_not_scored(score: LearnedScore, what: str, **options) -> WhyNot:
    """Why a scored candidate that was not acted on stayed under its threshold: for a later
    component's near misses (a goal it did not offer, a value it did not carry), given the
    candidate's :class:`LearnedScore` with ``threshold`` and baselines set to the closest case
    that would have crossed (:func:`reasoner.attribution.why_not`). ``what``: what did not
    happen, as a bare verb phrase ("offer the driving time")."""
    if score.threshold is None:
        raise ExplainError("why_not_scored needs the score's threshold (LearnedScore.threshold)")
    result = A.why_not(score.score_fn, score.features, score.threshold,
                       score_batch=score.score_batch, **{**score.options, **options})
    return WhyNot(what, "score", A.render_why_not(result, conclusion=what),
                  missing=tuple(f.name for f in (result.change or ())),
                  held_back=result.held_back, about=score.source, result=result,
                  details={"score": result.score, "threshold": result.threshold})


def _hunch_kinds(ctx: ExplainContext) -> dict:
    return ctx.knowledge.hunch_kinds


def _parse_what(ctx: ExplainContext, what) -> dict:
    if isinstance(what, Mapping):
        device, action = what.get("device"), what.get("action")
        if what.get("pattern"):
            return _parse_what(ctx, what["pattern"])
        if what.get("hunch"):
            return _parse_what(ctx, what["hunch"])
        if device:
            return {"kind": "device", "device": _device_id(ctx, device), "action": action}
        raise ExplainError(f"why_not({what!r}): give 'device' (and 'action'), 'pattern' or "
                           "'hunch'")
    if isinstance(what, (tuple, list)) and len(what) == 2:
        return {"kind": "device", "device": _device_id(ctx, what[0]), "action": what[1]}
    if not isinstance(what, str) or not what.strip():
        raise ExplainError(f"why_not() needs a pattern, a hunch kind, a device (and action) or "
                           f"words, got {what!r}")
    text = what.strip()
    patterns = _patterns(ctx)
    for p in patterns:
        if text in (p.name, p.iri):
            return {"kind": "pattern", "pattern": p}
    kinds = _hunch_kinds(ctx)
    from .signals import CS
    iri = CS + text[3:] if text.startswith("cs:") else text
    if iri in kinds:
        return {"kind": "hunch", "hunch": iri}
    if CS + text in kinds:
        return {"kind": "hunch", "hunch": CS + text}
    if text in ctx.state.devices:
        return {"kind": "device", "device": text, "action": None}
    # words: a device named in them, an action, or the pattern or hunch kind they are about
    device = _device_in_text(ctx, text)
    action = _action_in_text(text)
    if device is not None:
        return {"kind": "device", "device": device, "action": action}
    words = set(_words(text))
    best, best_overlap = None, 0
    for p in patterns:
        vocab = set(_words(" ".join([p.name.replace("-", " "), p.label,
                                     str(p.conclusion.get("suggestion", {}).get("kind", "")
                                         if isinstance(p.conclusion.get("suggestion"), Mapping)
                                         else ""),
                                     ctx.label(p.conclusion.get("activity"))])))
        overlap = len(words & _stems(vocab)) + len(_stems(words) & _stems(vocab))
        if overlap > best_overlap:
            best, best_overlap = {"kind": "pattern", "pattern": p}, overlap
    for k in kinds.values():
        overlap = len(_stems(words) & _stems(set(_words(k.label))))
        if overlap > best_overlap:
            best, best_overlap = {"kind": "hunch", "hunch": k.iri}, overlap
    if best is not None:
        return best
    names = [p.name for p in patterns] + [k.rsplit("#", 1)[-1] for k in kinds]
    close = difflib.get_close_matches(text, names, n=2)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return {"kind": "nothing", "sentence": (
        f'I do not know what "{text}" would have been{hint}: ask about a pattern '
        f"({', '.join(p.name for p in patterns)}), a hunch or a device.")}


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z]+", text.lower()) if w not in _STOP]


_STOP = {"the", "a", "an", "you", "me", "we", "us", "i", "to", "of", "in", "on", "off", "why",
         "didn", "did", "not", "t", "don", "do", "that", "it", "is", "was", "were", "are",
         "about", "anything", "something", "how", "come", "my", "our", "when", "at", "for"}


def _stems(words: Iterable[str]) -> set[str]:
    out = set()
    for w in words:
        for suffix in ("ing", "ers", "er", "ed", "s"):
            if w.endswith(suffix) and len(w) - len(suffix) >= 4:
                w = w[:-len(suffix)]
                break
        out.add(w)
    return out


def _device_id(ctx: ExplainContext, device: str) -> str:
    if device in ctx.state.devices:
        return device
    local = ctx.local(device, "device")
    if local is not None and local in ctx.state.devices:
        return local
    found = _device_in_text(ctx, device)
    if found is None:
        names = [d.name for d in ctx.state.devices.values()]
        close = difflib.get_close_matches(str(device), list(ctx.state.devices) + names, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ExplainError(f"no device {device!r} in household {ctx.home.id!r}.{hint}")
    return found


def _device_in_text(ctx: ExplainContext, text: str) -> str | None:
    """The device whose name (or most of it) the words mention: the longest name first."""
    low = f" {' '.join(re.findall(r'[a-z0-9]+', text.lower()))} "
    best, best_len = None, 0
    for d in ctx.state.devices.values():
        name = " ".join(re.findall(r"[a-z0-9]+", d.name.lower()))
        if name and f" {name} " in low and len(name) > best_len:
            best, best_len = d.id, len(name)
    return best


_ACTION_WORDS = [(r"\bunlock", "unlock"), (r"\block", "lock"), (r"\boff\b", "turn_off"),
                 (r"\bon\b", "turn_on"), (r"\bopen", "open"), (r"\bclos", "close"),
                 (r"\bremind", "notify")]


def _action_in_text(text: str) -> str | None:
    low = text.lower()
    for pattern, action in _ACTION_WORDS:
        if re.search(pattern, low):
            return action
    return None


# -- patterns ---------------------------------------------------------------------------------

def _pattern_why_not(ctx: ExplainContext, pattern, at: int, lookback: dt.timedelta) -> WhyNot:
    from .patterns import PatternsComponent, _Seen
    from .signals import Timeline
    home = ctx.home
    now = ctx.event(at).time
    label = pattern.label
    ids = pattern.step_ids
    sig_label = {sid: ctx.knowledge.signals[sig].label if sig in ctx.knowledge.signals
                 else ctx.label(sig) for sid, sig in pattern.steps}
    # did it happen after all?
    for seq in range(at, 0, -1):
        ev = ctx.event(seq)
        if ev.time < now - lookback:
            break
        if getattr(ev, "pattern", None) == pattern.iri and \
                ctx.ids.event(seq) not in ctx.state.retracted:
            what = ctx.describe(ev)
            return WhyNot(label, "pattern", f"It did happen: {_lower(what)} at "
                          f"{ev.time:%H:%M} (event {seq}, pattern {pattern.name}).",
                          closest=what, about=pattern.iri, happened=ctx.ids.event(seq))
    tl = Timeline(home, ctx.knowledge)
    seqs = tl.history(at + 1, recent=lookback)
    cands: dict[str, list] = {sid: [] for sid in ids}
    for step in tl.catch_up(at + 1, only=seqs):
        if step.event.time < now - lookback or step.iri in ctx.state.retracted:
            continue
        for sid, sig in pattern.steps:
            if sig in step.signals:
                cands[sid].append(_Seen(step.seq, step.iri, step.event, frozenset({sid})))
    for sid in ids:  # the most recent first, a few per step
        cands[sid] = sorted(cands[sid], key=lambda s: -s.seq)[:6]
    comp = PatternsComponent([pattern])
    best: dict[str, Any] = {}
    best_key = (-1, dt.datetime.min.replace(tzinfo=dt.timezone.utc))

    def search(i: int, assigned: dict) -> None:
        nonlocal best, best_key
        if i == len(ids):
            if assigned:
                key = (len(assigned), max(s.event.time for s in assigned.values()))
            else:
                key = (0, best_key[1])
            if key > best_key:
                best, best_key = dict(assigned), key
            return
        sid = ids[i]
        taken = {s.seq for s in assigned.values()}
        for c in cands[sid]:
            if c.seq in taken:
                continue
            assigned[sid] = c
            if comp._consistent(pattern, ids, assigned):
                search(i + 1, assigned)
            del assigned[sid]
        search(i + 1, assigned)

    search(0, {})
    missing, reasons = [], []
    for sid in ids:
        if sid in best:
            continue
        missing.append(sid)
        if not cands[sid]:
            reasons.append(f"nothing gave '{sig_label[sid]}' (step {sid})")
            continue
        reasons.append(_why_step_failed(ctx, comp, pattern, ids, best, sid, cands[sid],
                                        sig_label[sid]))
    needs = ", ".join(f"{sig_label[sid]}" for sid in ids)
    within = f", all within {_duration(pattern.within)}" if pattern.within else ""
    rels = f" ({'; '.join(_relation_words(r) for r in pattern.relations)})" \
        if pattern.relations else ""
    seen = [f"{ctx.describe(s.event)} at {s.event.time:%H:%M} ({sid})"
            for sid, s in sorted(best.items(), key=lambda kv: kv[1].seq)]
    sentence = (f"I did not conclude '{label}' (pattern {pattern.name}): it needs {needs}"
                f"{within}{rels}. ")
    if seen:
        sentence += f"The closest I saw: {'; '.join(seen)}. "
    else:
        sentence += f"I saw none of its steps in the {_duration(lookback)} before. "
    sentence += "Missing: " + "; ".join(reasons) + "." if reasons else \
        "Every step was there, but those events had already been used."
    evidence = tuple(ctx.observed(s.seq, role=sid)
                     for sid, s in sorted(best.items(), key=lambda kv: kv[1].seq))
    closest = "; ".join(seen) if seen else None
    return WhyNot(label, "pattern", sentence, closest=closest, missing=tuple(missing),
                  about=pattern.iri, evidence=evidence,
                  details={"steps": ids, "filled": sorted(best), "reasons": reasons})


def _why_step_failed(ctx, comp, pattern, ids, best, sid, cands, sig_label) -> str:
    """Why a step that some event did give could not join the closest partial match."""
    c = min(cands, key=lambda s: min((abs((s.event.time - b.event.time).total_seconds())
                                      for b in best.values()), default=0))
    said = f"{ctx.describe(c.event)} at {c.event.time:%H:%M}"
    trial = {**best, sid: c}
    times = [s.event.time for s in trial.values()]
    if pattern.within is not None and max(times) - min(times) > pattern.within:
        gap = max(times) - min(times)
        return (f"'{sig_label}' (step {sid}): {said} was out of the window: the steps spread "
                f"over {_duration(gap)}, more than {_duration(pattern.within)}")
    for r in pattern.relations:
        if r.a[0] in trial and r.b[0] in trial and \
                not r.holds(trial[r.a[0]].at(r.a[1]), trial[r.b[0]].at(r.b[1])):
            return f"'{sig_label}' (step {sid}): {said} did not meet '{_relation_words(r)}'"
    if pattern.order == "given":
        return f"'{sig_label}' (step {sid}): {said} came out of the order the pattern needs"
    return f"'{sig_label}' (step {sid}): {said} did not fit with the others"


# -- hunches and automatic actions ----------------------------------------------------------------

def _hunch_why_not(ctx: ExplainContext, at: int, *, kind: str | None = None,
                   device: str | None = None, lookback: dt.timedelta,
                   kinds: Sequence[str] | None = None) -> WhyNot:
    from .hunches import HunchRaised, hunch_situations, score_features
    threshold, prior = _hunch_settings(ctx)
    label = ctx.label(kind) if kind else "a hunch"
    dev_name = ctx.name("device", device) if device else None
    what = f"the hunch '{label}'" + (f" about the {dev_name}" if dev_name else "")
    situations = hunch_situations(ctx.home, before=at + 1, device=device, kind=kind,
                                  threshold=threshold, prior_weight=prior)
    if kinds is not None:
        situations = [s for s in situations if s.kind.iri in kinds]
    now = ctx.event(at).time
    if not situations:
        if device is not None:
            state = ctx.state.device_state(device)
            reason = (f"the {dev_name} was {state} at {now:%H:%M}" if state is not None
                      else f"I know nothing of the {dev_name}'s state")
            if state is not None and str(state).lower() in ("on", "playing"):
                reason = (f"I cannot tell whether anyone is in the {dev_name}'s room (no motion "
                          "sensor there)")
            return WhyNot(what, "hunch", f"I had no hunch about the {dev_name}: {reason}.",
                          about=kind or ctx.ids.device(device).value)
        return WhyNot(what, "hunch", f"I had no hunch of that kind: nothing it is about was on "
                      f"at {now:%H:%M}.", about=kind)
    best = max(situations, key=lambda s: s.decision())
    # raised already in this episode?
    for seq in range(at, 0, -1):
        ev = ctx.event(seq)
        if ev.time < best.on_since:
            break
        if isinstance(ev, HunchRaised) and ev.device == best.device and \
                (kind is None or ev.kind == kind):
            return WhyNot(what, "hunch", f"I did raise it: {ctx.describe(ev)} at {ev.time:%H:%M} "
                          f"(event {seq}).", closest=ctx.describe(ev), about=ev.kind,
                          happened=ctx.ids.event(seq))
    features, score_fn = score_features(best, contrastive=True)
    result = A.why_not(score_fn, features, threshold)
    phrase = f"raise the hunch '{best.kind_label}' about the {best.device_name}"
    sentence = A.render_why_not(result, conclusion=phrase)
    if result.crossed:
        sentence = (f"Everything for the hunch '{best.kind_label}' about the {best.device_name} "
                    f"held at {now:%H:%M} (score {result.score:.2f}); I check again at the next "
                    "event.")
    evidence = tuple(ctx.observed(ctx.ids.seq_of(iri))
                     for iris in best.evidence.values() for iri in iris
                     if ctx.ids.seq_of(iri) <= at)
    return WhyNot(what, "hunch", sentence,
                  closest=f"the {best.device_name}: {best.kind_label} "
                          f"(score {result.score:.2f}, needed {threshold:.2f})",
                  missing=tuple(f.name for f in (result.change or ())),
                  held_back=result.held_back, about=best.kind.iri, result=result,
                  evidence=evidence, details={"device": best.device,
                                              "threshold": threshold})


def _automation_why_not(ctx: ExplainContext, at: int, device: str, action: str | None,
                        lookback: dt.timedelta) -> WhyNot:
    from .hunches import HunchRaised, opted_in
    dev_name = ctx.name("device", device)
    done = _COMMAND_WORDS.get(action or "", f"do {action}" if action else "act on")
    verb = {"turned on": "turn on", "turned off": "turn off", "locked": "lock",
            "unlocked": "unlock", "opened": "open", "closed": "close",
            "sent a reminder to": "remind"}.get(done, done)
    what = f"{verb} the {dev_name}"
    now = ctx.event(at).time
    for seq in range(at, 0, -1):  # did it, after all?
        ev = ctx.event(seq)
        if ev.time < now - lookback:
            break
        if isinstance(ev, E.CommandIssued) and ev.derived_from and ev.device == device and \
                (action is None or ev.command == action) and \
                ctx.ids.event(seq) not in ctx.state.retracted:
            return WhyNot(what, "automation", f"I did, at {ev.time:%H:%M} (event {seq}): "
                          f"{ctx.describe(ev)}.", closest=ctx.describe(ev),
                          happened=ctx.ids.event(seq), about=ctx.ids.device(device).value)
    tl_class = _device_class(ctx, device)
    kinds = [k for k in _hunch_kinds(ctx).values()
             if (action is None or k.command == action) and _kind_fits(ctx, k, tl_class)]
    # a hunch raised about it, not acted on?
    for seq in range(at, 0, -1):
        ev = ctx.event(seq)
        if ev.time < now - lookback:
            break
        if isinstance(ev, HunchRaised) and ev.device == device and \
                (action is None or ev.action == action):
            if ctx.ids.event(seq) in ctx.state.retracted:
                continue
            acted = _acted_on(ctx, seq, at)
            if acted is not None:
                return WhyNot(what, "automation", f"I did, at {ctx.event(acted).time:%H:%M} "
                              f"(event {acted}): {ctx.describe(ctx.event(acted))}.",
                              about=ev.kind, happened=ctx.ids.event(acted))
            if not opted_in(ctx.home, ev.kind):
                return WhyNot(
                    what, "automation",
                    f"I did not {what} on my own: I had a hunch about it at {ev.time:%H:%M} "
                    f"({ctx.label(ev.kind)}) and offered to, but the household has not opted in "
                    "to my acting on hunches (say so, or assert <household> hearth:optsInTo "
                    "hearth:AutomaticHunches, and I will).",
                    closest=ctx.describe(ev), missing=("opt-in",), about=ev.kind,
                    evidence=(ctx.observed(seq, role="hunch"),),
                    details={"hunch": seq, "opted_in": False})
            return WhyNot(what, "automation", f"I had a hunch about the {dev_name} at "
                          f"{ev.time:%H:%M} and the household opted in, but the hunch offered "
                          f"no action I could take.", closest=ctx.describe(ev), about=ev.kind)
    if kinds:
        out = _hunch_why_not(ctx, at, device=device, lookback=lookback,
                             kinds=[k.iri for k in kinds])
        return replace(out, what=what, sentence=(f"I did not {what} on my own because I had no "
                                                 f"hunch to: " + _lower(out.sentence)))
    patterns = [p for p in _patterns(ctx) if isinstance(p.conclusion.get("suggestion"), Mapping)
                and action and ctx.knowledge.value(p.conclusion["suggestion"].get("action", ""),
                                                   HEARTH_NS + "command") == action]
    if patterns:
        out = _pattern_why_not(ctx, patterns[0], at, lookback)
        return replace(out, what=what)
    return WhyNot(what, "nothing",
                  f"Nothing I know of would {what} on its own: no hunch or pattern offers "
                  f"to{' ' + verb if action else ''}; you can ask me to, or teach me a routine.",
                  about=ctx.ids.device(device).value)


def _device_class(ctx: ExplainContext, device: str) -> str | None:
    d = ctx.state.devices.get(device)
    if d is None:
        return None
    return E.DEVICE_KINDS.get(d.kind or "device", HEARTH.Device).value


def _kind_fits(ctx: ExplainContext, kind, cls: str | None) -> bool:
    from .hunches import DEVICE_CONDITIONS
    if cls is None:
        return False
    for c in kind.conditions:
        if c in DEVICE_CONDITIONS:
            sig = ctx.knowledge.signals.get(c)
            if sig is not None and ctx.knowledge.is_subclass(cls, sig.device_type or cls):
                return True
    return False


def _acted_on(ctx: ExplainContext, hunch_seq: int, at: int) -> int | None:
    iri = ctx.ids.event(hunch_seq)
    for q in ctx.home.store.quads(None, PROV.wasDerivedFrom, iri, None):
        if q.subject == q.graph_name and q.subject.value.startswith(ctx.ids.base + "event:"):
            seq = ctx.ids.seq_of(q.subject)
            if seq <= at and isinstance(ctx.event(seq), E.CommandIssued):
                return seq
    return None


# ================================================================================================
# Asking out loud
# ================================================================================================

_NEGATION = re.compile(r"\b(not|never|no)\b|n['’]t\b", re.IGNORECASE)
_SKIP = {"FactInferred", "FactsFetched", "ExplanationProvided", "EventRetracted"}


def find_conclusion(home: Household, *, device: str | None = None, area: str | None = None,
                    action: str | None = None, before: int | None = None,
                    words: Sequence[str] = (), limit: int = 5000) -> Appended | None:
    """The most recent conclusion (before event ``before``) that a question is about: about the
    device (or area) and the action when they are given, else the most recent thing the engine
    did or said (a registered salient type: an action, a suggestion, a hunch, an activity);
    ``words`` (the question's content words, "driving time") prefer the most recent such thing
    whose text shares the most of them."""
    ids = home.ids
    end = (home.head + 1 if before is None else before) - 1
    retracted = home.state.retracted
    salient = tuple(SALIENT)
    best, best_score = None, 0
    wanted = {w.lower() for w in words}
    latest = None
    for seq in range(end, max(0, end - limit), -1):
        ev = home.event(seq)
        if not ev.derived_from or ev.type_name() in _SKIP or ids.event(seq) in retracted \
                or getattr(ev, "intent", None) in INTENTS:
            continue
        if device is None and area is None and action is None:
            if isinstance(ev, salient) and _is_engine_act(ev):
                if not wanted:
                    return Appended(seq, ids.event(seq), ev)
                said = str(getattr(ev, "text", "") or "")
                if _voices(home, ev, said, salient):
                    continue  # saying a conclusion out loud: the conclusion itself is found next
                latest = latest or Appended(seq, ids.event(seq), ev)
                shared = len(wanted & set(_WORD.findall(said.lower())))
                if shared > best_score:
                    best, best_score = Appended(seq, ids.event(seq), ev), shared
            continue
        score = 0
        if device is not None:
            if not _mentions_device(home, ev, device):
                continue
            score += 2
        elif area is not None:
            if not _mentions_area(home, ev, area):
                continue
            score += 1
        if action is not None:
            done = _action_of(ev)
            if done == action:
                score += 2
            elif done is not None:
                continue  # it did something else to the device
        if isinstance(ev, E.CommandIssued):
            score += 1  # what was done outweighs what was offered
        if score > best_score:
            best, best_score = Appended(seq, ids.event(seq), ev), score
    return best or latest


_WORD = re.compile(r"[a-z0-9']+")
# the words of a "why did you …?" question that do not say what it is about
_QUESTION_WORDS = frozenset("""why how come what made did didn't you do does that this it the a an
    to me us i my we our say said suggest suggested offer offered remind reminded think is are was
    of for about on off explain can could tell please""".split())


def _voices(home: Household, ev: E.Event, text: str, salient: tuple) -> bool:
    """``ev`` says out loud what a salient conclusion it comes from says."""
    if not text:
        return False
    for iri in ev.derived_from:
        try:
            src = home.event(home.ids.seq_of(iri))
        except (EventError, ValueError):
            continue
        if isinstance(src, salient) and getattr(src, "text", None) == text:
            return True
    return False


def question_words(text: str) -> list[str]:
    """The content words of a "why …?" question: ``"why did you offer the driving time"`` →
    ``["driving", "time"]``."""
    return [w for w in _WORD.findall(text.lower()) if w not in _QUESTION_WORDS]


def _is_engine_act(ev: E.Event) -> bool:
    return not isinstance(ev, E.CommandIssued) or bool(ev.derived_from)


def _action_of(ev: E.Event) -> str | None:
    if isinstance(ev, E.CommandIssued):
        return ev.command
    action = getattr(ev, "action", None)
    if action is None and getattr(ev, "intent", None):  # a reading: the intent's command
        name = ev.intent.rsplit(".", 1)[-1]
        action = name if name in _COMMAND_WORDS else None
    return action


def _mentions_device(home: Household, ev: E.Event, device: str) -> bool:
    if getattr(ev, "device", None) == device:
        return True
    iri = home.ids.device(device).value
    if getattr(ev, "target", None) == iri:
        return True
    slots = getattr(ev, "slots", None)
    if isinstance(slots, Mapping):
        return any(isinstance(v, Mapping) and v.get("node") == iri for v in slots.values())
    return False


def _mentions_area(home: Household, ev: E.Event, area: str) -> bool:
    dev = getattr(ev, "device", None)
    if dev is not None and home.state.devices.get(dev) is not None:
        return home.state.devices[dev].area == area
    return getattr(ev, "target", None) == home.ids.area(area).value


def _slot_node(slots: Any, name: str) -> str | None:
    if not isinstance(slots, Mapping):
        return None
    v = slots.get(name)
    if isinstance(v, Mapping) and v.get("node") and v.get("source") != "context":
        return v["node"]
    return None


@dataclass(frozen=True)
class Answer:
    """What a question got: the sentence said, the explanation (or why-not) it came from, and
    the event that records it (not yet appended)."""

    question: str
    sentence: str
    explanation: Explanation | WhyNot | None
    event: ExplanationProvided


def answer(home: Household, interpreted: Appended, **options) -> Answer | None:
    """Answers an explanation question (an ``UtteranceInterpreted`` of the ``explanations``
    skill) from the same explanations as :func:`explain`, about the most recent matching
    conclusion; None when the reading is not such a question."""
    ev = interpreted.event
    if getattr(ev, "intent", None) not in INTENTS:
        return None
    ctx = ExplainContext(home, **options)
    heard = _heard_of(ctx, ev)
    text = heard.text if heard is not None else ""
    negated = bool(_NEGATION.search(text)) or (ev.intent == "explanations.why_not"
                                              and not text)
    device = ctx.local(_slot_node(ev.slots, "name"), "device")
    area = ctx.local(_slot_node(ev.slots, "area"), "area")
    if device is None and text:
        device = _device_in_text(ctx, text)
    action = _action_in_text(text) if text else None
    before = ctx.ids.seq_of(ev.derived_from[0]) if ev.derived_from else interpreted.seq
    if negated:
        what = {"device": device, "action": action} if device else (text or "that")
        try:
            result: Explanation | WhyNot | None = why_not(home, what, at=interpreted.seq - 1,
                                                          **options)
        except ExplainError as err:
            result = WhyNot(text, "nothing", str(err))
        sentence = result.sentence
        event = explanation_event(home, result, question=interpreted.iri, time=ev.time)
        return Answer(text, sentence, result, event)
    found = find_conclusion(home, device=device, area=area, action=action, before=before,
                            words=question_words(text) if text else ())
    if found is None:
        sentence = _nothing_to_explain(ctx, device, area, action, before)
        event = ExplanationProvided(time=ev.time, kind="why", text=sentence,
                                 derived_from=(interpreted.iri,))
        return Answer(text, sentence, None, event)
    result = ctx.explain_seq(found.seq, attributions=True)
    event = explanation_event(home, result, question=interpreted.iri, time=ev.time)
    return Answer(text, result.sentence, result, event)


_STATE_OF_ACTION = {"turn_on": {"on", "playing"}, "turn_off": {"off", "idle"},
                    "lock": {"locked"}, "unlock": {"unlocked"}, "open": {"open"},
                    "close": {"closed"}}


def _nothing_to_explain(ctx: ExplainContext, device, area, action, before) -> str:
    """No conclusion of mine: who did it, when the log says someone or something else did."""
    if device is not None:
        name = ctx.name("device", device)
        wanted = _STATE_OF_ACTION.get(action or "")
        for seq in range(before - 1, 0, -1):
            ev = ctx.event(seq)
            if ev.derived_from or getattr(ev, "device", None) != device:
                continue
            if isinstance(ev, E.DeviceStateChanged) and ev.attribute == "state" and \
                    (wanted is None or str(ev.value).lower() in wanted):
                pass
            elif isinstance(ev, E.CommandIssued) and (action is None or ev.command == action):
                pass
            else:
                continue
            kind, _, local = ev.agent().partition(":")
            who = (f"{ctx.name('person', local)} did that" if kind == "person" else
                   f"the {local} did that" if kind == "component" else
                   "the device reported it")
            return (f"I did not decide that: {ctx.describe(ev)} at {ev.time:%H:%M}, and "
                    f"{who}, so I have no reasons of my own to give.")
        return f"I have not done or suggested anything about the {name}."
    return "I have not done or suggested anything I could explain yet."


class ExplanationsComponent:
    """The ``explanations`` pipeline component: answers "why did you …?" and "why didn't you
    …?" (``UtteranceInterpreted`` events of the ``explanations`` skill) with an
    ``ExplanationProvided`` derived from the question's reading."""

    name = "explanations"
    produces = (ExplanationProvided,)

    def __init__(self, **options):
        self.options = options

    @property
    def consumes(self):
        from .understanding import UtteranceInterpreted
        return (UtteranceInterpreted,)

    def process(self, home: Household, appended: Sequence[Appended]) -> list[E.Event]:
        out: list[E.Event] = []
        for a in appended:
            if getattr(a.event, "intent", None) not in INTENTS:
                continue
            got = answer(home, a, **self.options)
            if got is not None:
                out.append(got.event)
        return out


@register_component("explanations")
def explanations_component(**options) -> ExplanationsComponent:
    """The ``explanations`` component; ``options`` go to :func:`explain` (e.g.
    ``attributions=False`` to answer from derivations alone)."""
    return ExplanationsComponent(**options)


def describe_explanation(event: ExplanationProvided, state) -> str:
    """A timeline sentence for an explanation given (for ``hearth.timeline.DESCRIBERS``)."""
    return f"Explained{' why not' if event.kind == 'why-not' else ''}: {event.text}"


# ================================================================================================
# Words
# ================================================================================================

_PREDICATE_WORDS = {HEARTH_NS + "ofKind": "is a", RDF.type.value: "is a",
                    HEARTH_NS + "inArea": "is in", HEARTH_NS + "onFloor": "is on",
                    RDFS.subClassOf.value: "is a kind of"}


def _term_words(ctx: ExplainContext, term) -> str:
    if isinstance(term, NamedNode):
        v = term.value
        if v.startswith(ctx.ids.base):
            kind, _, local = v[len(ctx.ids.base):].partition(":")
            if kind in ("device", "area", "floor", "person"):
                return f"the {ctx.name(kind, unquote(local))}"
            return unquote(local) or v
        return ctx.label(v)
    if isinstance(term, Literal):
        return f'"{term.value}"'
    return str(term)


def _triple_words(ctx: ExplainContext, t: Triple) -> str:
    p = t.predicate.value
    verb = _PREDICATE_WORDS.get(p)
    if verb is None:
        local = p.rsplit("#", 1)[-1].rsplit("/", 1)[-1]
        verb = re.sub(r"(?<!^)(?=[A-Z])", " ", local).lower()
    return f"{_term_words(ctx, t.subject)} {verb} {_term_words(ctx, t.object)}"


def _triple_text(t: Triple) -> str:
    return f"{t.subject} {t.predicate} {t.object}"


def _conclusion_key(c) -> str:
    return c.value if isinstance(c, NamedNode) else _triple_text(c)


def _derivation_json(why) -> dict:
    return {"triple": _triple_text(why.triple), "circular": why.circular,
            "derivations": [{"kind": d.kind, "event": d.event.value if d.event else None,
                             "seq": d.seq, "event_type": d.event_type, "rule": d.rule,
                             "premises": [_derivation_json(p) for p in d.premises]}
                            for d in why.derivations]}


def _first_sentence(text: str) -> str:
    """The gist of a rule's comment: its first sentence, up to a colon."""
    head = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
    return head.split(": ", 1)[0].rstrip(".")


def _relation_words(r) -> str:
    """A pattern's relation between steps, in words: "tv before practice.end within 10 min"."""
    def side(s):
        return s[0] if s[1] == "time" else f"{s[0]}'s {s[1]}"
    within = f" within {_duration(r.window)}" if r.window else ""
    if r.kind == "within":
        return f"{side(r.a)} within {_duration(r.window)} of {side(r.b)}"
    return f"{side(r.a)} {r.kind} {side(r.b)}{within}"


def _duration(d: dt.timedelta | None) -> str:
    if d is None:
        return ""
    minutes = d.total_seconds() / 60
    if minutes >= 120 and minutes % 60 == 0:
        return f"{minutes / 60:.0f} h"
    return f"{minutes:.0f} min"


def _lower(text: str) -> str:
    """The text with a lower-case first letter, unless it starts with a name ("Porch Light …")
    or "I"."""
    words = text.split(maxsplit=2)
    if not words or words[0] == "I" or words[0].isupper() or \
            (len(words) > 1 and words[1][:1].isupper()):
        return text
    return text[:1].lower() + text[1:]


def _plain(e: Explanation) -> str:
    if e.attribution is None:
        return e.sentence
    return A.render(e.attribution, conclusion=e.what, numbers=False)


def _kind_name(event: E.Event) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", event.type_name()).lower()


def _is_iri(text: str | None) -> bool:
    return bool(text) and bool(re.match(r"^[a-z][a-z0-9+.-]*:\S+$", text)) and \
        not text.startswith(("component:", "person:", "device:"))


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, NamedNode):
        return value.value
    if isinstance(value, float):
        return round(value, 6)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


_register_builtins()
