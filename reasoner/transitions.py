"""Next-service ranking (latent goals): what the user is likely to want next.

Given the services (skills) and intents requested so far in a conversation, and optionally the
context values held and the hour of day, :class:`TransitionModel` ranks candidate services by how
likely the user turns to them next. It is learned from the service sequences of Schema-Guided
Dialogue train dialogues and backs off, for services or service pairs never seen in training, to
their domains and to their schema descriptions:

* ``svc``: service-level transitions ``last -> candidate``, smoothed towards the domain level;
* ``dom``: domain-level transitions (``Restaurants_1`` -> ``Restaurants``), first and second order;
* ``any``: transitions from any earlier service of the conversation, not only the last;
* ``rev`` and ``cooc``: the reverse transition and co-occurrence in a dialogue in either order
  (a flight then a hotel suggests a hotel then a flight);
* ``knn``: a description kernel: transitions between services whose descriptions (service and
  intents, MiniLM) resemble the last service and the candidate;
* ``prior``: how often a domain is a follow-up service at all;
* ``carry``: how many of the candidate's required slots could be filled from the context values
  by type (a city held makes a hotel search easy to offer);
* ``same_domain``: whether the candidate's domain is already in the conversation.

The features are combined by a conditional logit (softmax over the candidates of a point) whose
weights are fitted on cross-fitted features: the counts behind a training point's features never
include its own dialogue.

A household's own transitions are kept apart, in a :class:`TransitionHistory` (one per household,
never shared): :meth:`TransitionModel.rank` reads it as evidence that updates the population
ranking, a Dirichlet posterior whose prior is the model's distribution worth ``household_prior``
transitions. What a household did after this very service counts first; if it never used this
service before, what it did after the service's domain. So a household's habits win once it has
shown them a few times, and no household's history reaches another's ranking.

Scored on SGD by :func:`evaluate` (``python -m reasoner.transitions --data DIR --split dev
--json``): a *point* is a user turn in which a service's frame appears for the first time while
an earlier service was active (the same points as :mod:`reasoner.carryover`); before reading
that turn, the model ranks the candidates: every service of the split's schema not already
active in the dialogue, the same set for the model and the baseline. The baseline ranks by
domain transition counts from train (last service's domain -> candidate's domain), backing off to
how often the candidate's domain follows any service, then to the service's own frequency.
``--online`` adds a prequential reading: the dialogues are visited in a seeded random order as
one assistant's history; each point is ranked before its dialogue is learned from, then the
model's :class:`TransitionHistory` and the baseline's counts both take the dialogue in.

:func:`validate_on_train` cross-validates both inside a training split, by folds of dialogues,
of SGD generation files or of domain combinations (``hearth eval sgd ... --validate-train``).
On SGD train (5 folds each), top-3 of the model against the baseline: 0.7425 vs 0.627 by
dialogue (every combination of services also in training), 0.4952 vs 0.5041 by file (19% of the
points' last-to-next domain pairs unseen), 0.1078 vs 0.1088 by combination (85% unseen). What
is learned ranks combinations that recur, and neither counts nor descriptions rank a new one:
SGD dev holds 35% unseen pairs (model 0.4439, baseline 0.4753); a household's own history is
what ranks them (``--online``).

>>> DomainBaseline().fit([(("Restaurants_1",), "RideSharing_2")]).rank(
...     ["Restaurants_1"], ["Media_1", "RideSharing_1"])[0].service
'RideSharing_1'
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from reasoner.carryover import (
    CarryoverError,
    ContextValue,
    MiniLMEmbedder,
    ServiceSchema,
    load_sgd_dialogues,
    load_sgd_schemas,
    service_domain,
    sgd_context,
    sgd_split_paths,
    slot_type,
)

__all__ = [
    "DomainBaseline",
    "RankedService",
    "TransitionHistory",
    "TransitionModel",
    "TransitionPoint",
    "evaluate",
    "iter_transition_points",
    "main",
    "validate_on_train",
]

FORMAT_VERSION = 1
FEATURES = ("svc", "dom", "dom2", "any", "rev", "cooc", "knn", "prior", "carry", "same_domain")
_CARRY_TYPES = {"city", "date", "party_size", "address", "venue", "place", "time"}


@dataclass(frozen=True)
class RankedService:
    service: str
    score: float
    reasons: tuple[str, ...] = ()


@dataclass
class TransitionPoint:
    """The services active before a new service appears, and that new service."""

    dialogue_id: str
    turn_index: int
    history: tuple[str, ...]
    next_service: str
    intents: tuple[str, ...] = ()
    context: list[ContextValue] = field(default_factory=list)


def iter_transition_points(
    dialogues: Iterable[Mapping[str, Any]],
    schemas: Mapping[str, ServiceSchema] | None = None,
    *,
    with_context: bool = False,
) -> list[TransitionPoint]:
    """Every point of the dialogues: history (services in order of first use), their active
    intents so far, and the service that appears next; with the context values if asked."""
    out: list[TransitionPoint] = []
    for dia in dialogues:
        turns = dia.get("turns", [])
        seen: list[str] = []
        intents: list[str] = []
        for i, turn in enumerate(turns):
            if turn.get("speaker") != "USER":
                continue
            earlier = tuple(seen)
            for frame in turn.get("frames", ()):
                svc = frame.get("service", "")
                if svc in seen:
                    continue
                if earlier:
                    ctx = sgd_context(turns[:i], schemas) if (with_context and schemas) else []
                    out.append(TransitionPoint(dia.get("dialogue_id", ""), i, earlier, svc,
                                               tuple(intents), ctx))
            for frame in turn.get("frames", ()):
                svc = frame.get("service", "")
                if svc not in seen:
                    seen.append(svc)
                intent = (frame.get("state") or {}).get("active_intent", "NONE")
                if intent and intent != "NONE" and f"{svc}:{intent}" not in intents:
                    intents.append(f"{svc}:{intent}")
    return out


def _histories(points: Iterable[TransitionPoint | tuple]) -> list[tuple[tuple[str, ...], str]]:
    return [(tuple(p.history), p.next_service) if isinstance(p, TransitionPoint) else
            (tuple(p[0]), p[1]) for p in points]


# --------------------------------------------------------------------------------------------------
# Baseline


class DomainBaseline:
    """Domain transition counts from train, backing off to overall domain then service frequency."""

    def __init__(self) -> None:
        self.trans: Counter = Counter()
        self.dom_next: Counter = Counter()
        self.svc_next: Counter = Counter()

    def fit(self, points: Iterable[TransitionPoint | tuple]) -> "DomainBaseline":
        for history, nxt in _histories(points):
            self.observe(history, nxt)
        return self

    def observe(self, history: Sequence[str], next_service: str) -> None:
        self.trans[(service_domain(history[-1]), service_domain(next_service))] += 1
        self.dom_next[service_domain(next_service)] += 1
        self.svc_next[next_service] += 1

    def rank(self, history: Sequence[str], candidates: Iterable[str], *,
             own: TransitionHistory | None = None) -> list[RankedService]:
        """Candidates by domain transition counts; with ``own``, a household's own domain
        transitions first and these counts as the tie-break."""
        last = service_domain(history[-1]) if history else ""
        keyed = []
        for c in candidates:
            name = c.name if isinstance(c, ServiceSchema) else c
            d = service_domain(name)
            keys = (self.trans[(last, d)], self.dom_next[d], self.svc_next[name])
            keyed.append((((own.dom[(last, d)],) if own is not None else ()) + keys, name))
        keyed.sort(key=lambda x: (tuple(-v for v in x[0]), x[1]))
        return [RankedService(n, float(k[0]), (f"{last} -> {service_domain(n)} {k[0]} times",))
                for k, n in keyed]


# --------------------------------------------------------------------------------------------------
# Counts


class _Counts:
    """Transition counts at service and domain level (weights allow household observations)."""

    def __init__(self) -> None:
        self.svc: Counter = Counter()        # (last service, next service)
        self.svc_out: Counter = Counter()    # last service
        self.dom: Counter = Counter()        # (last domain, next domain)
        self.dom_out: Counter = Counter()
        self.dom2: Counter = Counter()       # (previous domain, last domain, next domain)
        self.dom2_out: Counter = Counter()
        self.any: Counter = Counter()        # (any earlier domain, next domain)
        self.any_out: Counter = Counter()
        self.cooc: Counter = Counter()       # frozenset of two domains
        self.dom_count: Counter = Counter()  # domain appearances in histories
        self.dom_next: Counter = Counter()
        self.total = 0.0

    def add(self, history: Sequence[str], nxt: str, weight: float = 1.0) -> None:
        last, dn = history[-1], service_domain(nxt)
        dl = service_domain(last)
        self.svc[(last, nxt)] += weight
        self.svc_out[last] += weight
        self.dom[(dl, dn)] += weight
        self.dom_out[dl] += weight
        if len(history) >= 2:
            dp = service_domain(history[-2])
            self.dom2[(dp, dl, dn)] += weight
            self.dom2_out[(dp, dl)] += weight
        for h in {service_domain(x) for x in history}:
            self.any[(h, dn)] += weight
            self.any_out[h] += weight
            self.cooc[frozenset((h, dn))] += weight
            self.dom_count[h] += weight
        self.dom_next[dn] += weight
        self.total += weight

    @classmethod
    def of(cls, pairs: Iterable[tuple[tuple[str, ...], str]]) -> "_Counts":
        c = cls()
        for h, n in pairs:
            c.add(h, n)
        return c

    def to_json(self) -> dict:
        def enc(counter):
            return [[list(k) if isinstance(k, (tuple, frozenset)) else k, v] for k, v in counter.items()]

        return {name: enc(getattr(self, name)) for name in (
            "svc", "svc_out", "dom", "dom_out", "dom2", "dom2_out", "any", "any_out", "cooc",
            "dom_count", "dom_next")} | {"total": self.total}

    @classmethod
    def from_json(cls, d: Mapping) -> "_Counts":
        c = cls()
        for name in ("svc", "dom", "dom2", "any"):
            getattr(c, name).update({tuple(k): v for k, v in d[name]})
        c.cooc.update({frozenset(k): v for k, v in d["cooc"]})
        for name in ("svc_out", "dom_out", "any_out", "dom_count", "dom_next"):
            getattr(c, name).update({k: v for k, v in d[name]})
        c.dom2_out.update({tuple(k): v for k, v in d["dom2_out"]})
        c.total = d["total"]
        return c


class TransitionHistory:
    """One household's own transitions: which service it turned to next, after what, and when.

    >>> h = TransitionHistory()
    >>> h.add(["Weather_1"], "RideSharing_1", hour=19)
    >>> len(h), h.after("Weather_1")
    (1, 1.0)
    """

    def __init__(self) -> None:
        self.svc: Counter = Counter()      # (last service, next service)
        self.svc_out: Counter = Counter()  # last service
        self.dom: Counter = Counter()      # (last domain, next domain)
        self.dom_out: Counter = Counter()  # last domain
        self.hours: Counter = Counter()    # (hour bucket, next domain)

    def add(self, history: Sequence[str], next_service: str, *, hour: int | None = None,
            weight: float = 1.0) -> None:
        """Count one transition: ``history`` (services so far, in order) then ``next_service``."""
        if history:
            last = history[-1]
            self.svc[(last, next_service)] += weight
            self.svc_out[last] += weight
            self.dom[(service_domain(last), service_domain(next_service))] += weight
            self.dom_out[service_domain(last)] += weight
        if hour is not None:
            self.hours[(_hour_bucket(hour), service_domain(next_service))] += weight

    @classmethod
    def of(cls, transitions: Iterable[tuple]) -> "TransitionHistory":
        """From ``(history, next_service)`` or ``(history, next_service, hour)`` tuples."""
        h = cls()
        for t in transitions:
            h.add(t[0], t[1], hour=t[2] if len(t) > 2 else None)
        return h

    def after(self, service: str) -> float:
        """How many transitions left ``service``."""
        return self.svc_out[service]

    def __len__(self) -> int:
        return int(sum(self.svc_out.values()))

    def to_json(self) -> dict:
        return {name: [[list(k), v] for k, v in getattr(self, name).items()]
                for name in ("svc", "dom", "hours")}

    @classmethod
    def from_json(cls, d: Mapping) -> "TransitionHistory":
        h = cls()
        for name in ("svc", "dom", "hours"):
            getattr(h, name).update({tuple(k): v for k, v in d.get(name, ())})
        for (a, _), v in h.svc.items():
            h.svc_out[a] += v
        for (a, _), v in h.dom.items():
            h.dom_out[a] += v
        return h


# --------------------------------------------------------------------------------------------------
# The model


class TransitionModel:
    """Ranks the next service from the services used so far; see the module docstring."""

    def __init__(
        self,
        *,
        embedder: Callable[[Sequence[str]], np.ndarray] | None = None,
        knn_sharpness: float = 10.0,
        n_folds: int = 5,
        l2: float = 0.05,
        household_prior: float = 5.0,
        holdout: float = 1 / 3,
        seed: int = 13,
    ) -> None:
        self.holdout = holdout
        self.embedder = embedder if embedder is not None else MiniLMEmbedder()
        self.knn_sharpness = knn_sharpness
        self.n_folds = n_folds
        self.l2 = l2
        # how many of a household's own transitions the population ranking is worth
        self.household_prior = household_prior
        self.seed = seed
        self.schemas: dict[str, ServiceSchema] = {}
        self._emb: dict[str, np.ndarray] = {}
        self._counts: _Counts | None = None
        self.weights: np.ndarray | None = None
        # the history :meth:`observe` fills, for a model that serves a single household
        self.history = TransitionHistory()

    # ---- services

    def register_schemas(self, schemas: Iterable[ServiceSchema | Mapping] | Mapping[str, ServiceSchema]) -> None:
        """Add candidate service schemas and embed their descriptions once."""
        items = schemas.values() if isinstance(schemas, Mapping) else schemas
        todo = []
        for s in items:
            schema = s if isinstance(s, ServiceSchema) else ServiceSchema.from_sgd(s)
            self.schemas[schema.name] = schema
            if schema.name not in self._emb:
                todo.append(schema)
        if todo:
            texts = [f"{s.domain}: {s.description}. " + " ".join(
                i.description for i in s.intents) for s in todo]
            for s, v in zip(todo, self.embedder(texts)):
                v = np.asarray(v, dtype=np.float64)
                self._emb[s.name] = v / (np.linalg.norm(v) or 1.0)

    @property
    def is_fitted(self) -> bool:
        return self.weights is not None and self._counts is not None

    # ---- features

    def _features(self, counts: _Counts, history: Sequence[str], candidates: Sequence[str],
                  context: Sequence[ContextValue] = ()) -> np.ndarray:
        last = history[-1]
        dl = service_domain(last)
        doms = {service_domain(c) for c in candidates} | set(counts.dom_next)
        nd = max(len(doms), 1)
        hist_doms = {service_domain(h) for h in history}
        F = np.zeros((len(candidates), len(FEATURES)))
        # description kernel: where do services like the last one go, and which candidates
        # resemble those destinations
        beta = self.knn_sharpness
        known = [s for s in counts.svc_out if s in self._emb]
        lv = self._emb.get(last)
        dest: dict[str, float] = defaultdict(float)
        if lv is not None and known:
            for p in known:
                w = math.exp(beta * (float(lv @ self._emb[p]) - 1.0))
                if w < 1e-4:
                    continue
                for (a, n), cnt in ((k, v) for k, v in counts.svc.items() if k[0] == p):
                    dest[n] += w * cnt / counts.svc_out[p]
        dest_names = [n for n in dest if n in self._emb]
        dest_w = np.array([dest[n] for n in dest_names])
        dest_m = np.array([self._emb[n] for n in dest_names]) if dest_names else None
        ctx_types = Counter(slot_type(c.slot) for c in context)
        knn = np.zeros(len(candidates))
        if dest_m is not None:
            for j, c in enumerate(candidates):
                cv = self._emb.get(c)
                if cv is not None:
                    knn[j] = float(np.exp(beta * (dest_m @ cv - 1.0)) @ dest_w) / (float(dest_w.sum()) or 1.0)
        for j, c in enumerate(candidates):
            dc = service_domain(c)
            p_dom = (counts.dom[(dl, dc)] + 0.5 * (counts.dom_next[dc] + 1) / (counts.total + nd)) / (
                counts.dom_out[dl] + 0.5)
            if not counts.dom_next[dc]:
                # a domain never seen next: back off to services that read like it
                p_dom = max(p_dom, knn[j])
            n_same = max(sum(1 for x in candidates if service_domain(x) == dc), 1)
            F[j, 0] = math.log((counts.svc[(last, c)] + 2.0 * p_dom / n_same) / (counts.svc_out[last] + 2.0))
            F[j, 1] = math.log(p_dom)
            if len(history) >= 2:
                key = (service_domain(history[-2]), dl)
                F[j, 2] = math.log((counts.dom2[(*key, dc)] + p_dom) / (counts.dom2_out[key] + 1.0))
            else:
                F[j, 2] = F[j, 1]
            F[j, 3] = max(math.log((counts.any[(h, dc)] + 0.5 * p_dom) / (counts.any_out[h] + 0.5))
                          for h in hist_doms)
            F[j, 4] = math.log((counts.dom[(dc, dl)] + 0.5) / (counts.dom_out[dc] + 0.5 * nd))
            F[j, 5] = math.log((counts.cooc[frozenset((dl, dc))] + 0.5) / (counts.dom_count[dl] + 0.5 * nd))
            F[j, 6] = math.log(knn[j] + 1e-4)
            F[j, 7] = math.log((counts.dom_next[dc] + 1.0) / (counts.total + nd))
            schema = self.schemas.get(c)
            if schema is not None and ctx_types:
                req = schema.required_slots
                F[j, 8] = math.log1p(sum(1 for s in schema.slots if s.name in req and
                                         slot_type(s) in _CARRY_TYPES and ctx_types[slot_type(s)]))
            F[j, 9] = float(dc in hist_doms)
        return F

    # ---- fitting

    def fit(
        self,
        dialogues: Iterable[Mapping[str, Any]],
        schemas: Iterable[ServiceSchema | Mapping] | Mapping[str, ServiceSchema],
        *,
        points: Sequence[TransitionPoint] | None = None,
    ) -> "TransitionModel":
        """Count transitions and fit the feature weights (conditional logit over candidates)."""
        from scipy.optimize import minimize

        self.register_schemas(schemas)
        if points is None:
            points = iter_transition_points(dialogues, self.schemas, with_context=True)
        points = [p for p in points if p.history]
        if not points:
            raise CarryoverError(
                "no transition points: a point needs a second service after a first one; pass "
                "multi-service SGD dialogues"
            )
        services = sorted(self.schemas)
        rng = np.random.default_rng(self.seed)
        dias = sorted({p.dialogue_id for p in points})
        fold = dict(zip(dias, rng.permutation(len(dias)) % self.n_folds))
        # cross-fitted features: a point's counts never include its own dialogue, and a third of
        # the domain pairs are held out with it, so that the weights learn how to rank when a
        # combination of domains was never seen (as happens with new services and new households)
        pairs = sorted({(service_domain(p.history[-1]), service_domain(p.next_service)) for p in points})
        blocks = []
        for f in range(self.n_folds):
            held = {pr for pr, r in zip(pairs, rng.random(len(pairs))) if r < self.holdout}
            counts = _Counts.of((p.history, p.next_service) for p in points
                                if fold[p.dialogue_id] != f and
                                (service_domain(p.history[-1]), service_domain(p.next_service)) not in held)
            for p in points:
                if fold[p.dialogue_id] != f:
                    continue
                cands = [s for s in services if s not in p.history]
                if p.next_service not in cands:
                    continue
                F = self._features(counts, p.history, cands, p.context)
                blocks.append((F, cands.index(p.next_service)))
        mu = np.mean(np.vstack([b[0] for b in blocks]), axis=0)
        sd = np.std(np.vstack([b[0] for b in blocks]), axis=0) + 1e-9
        self._mu, self._sd = mu, sd
        Zs = [((F - mu) / sd, y) for F, y in blocks]

        def nll(w):
            loss, grad = 0.0, np.zeros_like(w)
            for Z, y in Zs:
                s = Z @ w
                s -= s.max()
                e = np.exp(s)
                p = e / e.sum()
                loss -= math.log(p[y] + 1e-12)
                grad -= Z[y] - p @ Z
            n = len(Zs)
            return loss / n + self.l2 * (w @ w), grad / n + 2 * self.l2 * w

        # more evidence for a transition never lowers a candidate: every weight is non-negative,
        # except the penalty for a domain already in the conversation
        bounds = [(None, 0.0) if f == "same_domain" else (0.0, None) for f in FEATURES]
        res = minimize(nll, np.zeros(len(FEATURES)), jac=True, method="L-BFGS-B", bounds=bounds)
        self.weights = res.x
        self._counts = _Counts.of((p.history, p.next_service) for p in points)
        self.train_summary = {"points": len(points), "nll": round(float(res.fun), 4)}
        return self

    # ---- ranking

    def rank(
        self,
        history: Sequence[str],
        candidates: Iterable[str | ServiceSchema] | None = None,
        *,
        context: Sequence[ContextValue] = (),
        hour: int | None = None,
        household: TransitionHistory | None = None,
    ) -> list[RankedService]:
        """Candidate services, most likely next first.

        ``candidates`` default to every registered service not in ``history``. ``household``: that
        household's own transitions (default: :attr:`history`, what :meth:`observe` counted),
        which update the population ranking (see the module docstring); with ``hour`` (0-23),
        also what the household asked for at that time of day.
        """
        if not self.is_fitted:
            raise CarryoverError(
                "this TransitionModel is not fitted: call .fit(dialogues, schemas) or "
                "TransitionModel.load(path) first"
            )
        if not history:
            raise CarryoverError("rank needs the services used so far (history is empty)")
        names = [c.name if isinstance(c, ServiceSchema) else c for c in
                 (candidates if candidates is not None else self.schemas)]
        cands = [c for c in names if c not in history]
        if not cands:
            return []
        unknown = [c for c in cands if c not in self._emb and c in self.schemas]
        if unknown:
            self.register_schemas([self.schemas[c] for c in unknown])
        F = self._features(self._counts, list(history), cands, context)
        scores = ((F - self._mu) / self._sd) @ self.weights
        own = self.history if household is None else household
        notes: list[tuple[str, ...]] = [()] * len(cands)
        if own.svc_out or own.hours:
            scores, notes = self._posterior(scores, history[-1], cands, own, hour)
        order = np.argsort(-scores, kind="stable")
        out = []
        for j in order:
            contrib = ((F[j] - self._mu) / self._sd) * self.weights
            top = np.argsort(-contrib)[:2]
            reasons = notes[j] + tuple(f"{FEATURES[k]} {contrib[k]:+.2f}" for k in top)
            out.append(RankedService(cands[j], float(scores[j]), reasons))
        return out

    def _posterior(self, scores: np.ndarray, last: str, cands: Sequence[str],
                   own: TransitionHistory, hour: int | None) -> tuple[np.ndarray, list]:
        """The model's distribution over ``cands`` updated by one household's own transitions."""
        p = np.exp(scores - scores.max())
        p /= p.sum()
        notes: list[tuple[str, ...]] = [()] * len(cands)
        if own.after(last):
            seen, total = np.array([own.svc[(last, c)] for c in cands]), own.after(last)
            after = last
        else:
            # never after this service: what the household did after its domain, each domain's
            # count shared among that domain's candidates as the model prefers them
            after = service_domain(last)
            total = own.dom_out[after]
            doms = [service_domain(c) for c in cands]
            mass: dict[str, float] = defaultdict(float)
            for d, q in zip(doms, p):
                mass[d] += q
            seen = np.array([own.dom[(after, d)] * q / mass[d] for d, q in zip(doms, p)])
        if total:
            p = (seen + self.household_prior * p) / (total + self.household_prior)
            notes = [(f"household {n:.3g} of {total:.3g} after {after}",) if n else ()
                     for n in seen]
        if hour is not None and own.hours:
            bucket = _hour_bucket(hour)
            at = sum(v for (b, _), v in own.hours.items() if b == bucket)
            p = p * np.array([(own.hours[(bucket, service_domain(c))] + 1.0) / (at + 10.0) * 10.0
                              for c in cands])
        return np.log(p + 1e-12), notes

    def observe(self, history: Sequence[str], next_service: str, *, hour: int | None = None) -> None:
        """Count one transition (and its hour of day) into :attr:`history`, the household history
        :meth:`rank` reads when given none: for a model that serves one household. A model shared
        by several households leaves it empty and is given each household's own history."""
        self.history.add(history, next_service, hour=hour)

    # ---- persistence

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to a JSON file (counts, weights, service embeddings)."""
        if not self.is_fitted:
            raise CarryoverError("nothing to save: fit the TransitionModel first")
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "format_version": FORMAT_VERSION,
            "features": list(FEATURES),
            "knn_sharpness": self.knn_sharpness, "n_folds": self.n_folds, "l2": self.l2,
            "household_prior": self.household_prior, "holdout": self.holdout, "seed": self.seed,
            "weights": self.weights.tolist(), "mu": self._mu.tolist(), "sd": self._sd.tolist(),
            "counts": self._counts.to_json(),
            "history": self.history.to_json(),
            "embeddings": {k: v.tolist() for k, v in self._emb.items()},
            "schemas": [_schema_json(s) for s in self.schemas.values()],
        }
        p.write_text(json.dumps(data), encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | os.PathLike, *, embedder=None) -> "TransitionModel":
        p = Path(path)
        if not p.is_file():
            raise CarryoverError(f"no saved TransitionModel at {p}; write one with TransitionModel.save(path)")
        data = json.loads(p.read_text(encoding="utf-8"))
        if data.get("format_version") != FORMAT_VERSION or data.get("features") != list(FEATURES):
            raise CarryoverError(f"{p} was saved by another version of the transition model; refit it")
        m = cls(embedder=embedder, knn_sharpness=data["knn_sharpness"], n_folds=data["n_folds"],
                l2=data["l2"], household_prior=data.get("household_prior", 5.0),
                holdout=data["holdout"], seed=data["seed"])
        m.weights = np.array(data["weights"])
        m._mu, m._sd = np.array(data["mu"]), np.array(data["sd"])
        m._counts = _Counts.from_json(data["counts"])
        # files written before the history was kept apart have no "history": it starts empty
        m.history = TransitionHistory.from_json(data.get("history", {}))
        m._emb = {k: np.array(v) for k, v in data["embeddings"].items()}
        for sj in data["schemas"]:
            s = ServiceSchema.from_sgd(sj)
            m.schemas[s.name] = s
        return m


def _hour_bucket(hour: int) -> int:
    return int(hour) % 24 // 3


def _schema_json(s: ServiceSchema) -> dict:
    from reasoner.carryover import _schema_to_json

    return _schema_to_json(s)


# --------------------------------------------------------------------------------------------------
# Evaluation


def evaluate(
    model: TransitionModel,
    baseline: DomainBaseline,
    points: Sequence[TransitionPoint],
    candidates: Sequence[str],
    *,
    online: bool = False,
    seed: int = 13,
) -> dict[str, float]:
    """Top-1/top-3 accuracy of the model and the baseline on the same points and candidates.

    ``online``: dialogues are visited in a seeded random order as one assistant's history; after
    each dialogue its transitions are learned, by the model as a :class:`TransitionHistory` and
    by the baseline as counts added to train's (``baseline_*``). ``history_baseline_*`` ranks by
    the history's own domain transitions first (train's counts break ties): what the history
    alone gives. Neither ``model`` nor ``baseline`` is changed.
    """
    by_dia: dict[str, list[TransitionPoint]] = defaultdict(list)
    for p in points:
        by_dia[p.dialogue_id].append(p)
    order = sorted(by_dia)
    if online:
        random.Random(seed).shuffle(order)
    history = TransitionHistory()
    counted = copy.deepcopy(baseline)
    rankers = {
        "": lambda p, c: model.rank(p.history, c, context=p.context, household=history),
        "baseline_": lambda p, c: counted.rank(p.history, c),
    }
    if online:
        rankers["history_baseline_"] = lambda p, c: baseline.rank(p.history, c, own=history)
    hits: Counter = Counter()
    n = 0
    for d in order:
        for p in by_dia[d]:
            cands = [c for c in candidates if c not in p.history]
            if p.next_service not in cands:
                continue
            n += 1
            for key, rank in rankers.items():
                r = [x.service for x in rank(p, cands)]
                hits[key + "1"] += r[0] == p.next_service
                hits[key + "3"] += p.next_service in r[:3]
        if online:
            for p in by_dia[d]:
                history.add(p.history, p.next_service)
                counted.observe(p.history, p.next_service)
    n = max(n, 1)
    return {"points": n} | {f"{key}next_service_top{k}": round(hits[f"{key}{k}"] / n, 4)
                            for key in rankers for k in (1, 3)}


def next_service_figures(train_points: Sequence[TransitionPoint], test_points: Sequence[TransitionPoint],
                         train_schemas: Mapping[str, ServiceSchema],
                         test_schemas: Mapping[str, ServiceSchema], *,
                         online: bool = False) -> dict[str, float]:
    """Fits the model and the baseline on ``train_points`` once and scores both on
    ``test_points`` among the test schema's services (:func:`evaluate`); with ``online``, also
    prequentially (keys prefixed ``online_``)."""
    model = TransitionModel().fit([], train_schemas, points=train_points)
    model.register_schemas(test_schemas)
    baseline = DomainBaseline().fit(train_points)
    out = evaluate(model, baseline, test_points, sorted(test_schemas))
    if online:
        again = evaluate(model, baseline, test_points, sorted(test_schemas), online=True)
        out |= {f"online_{k}": v for k, v in again.items() if k != "points"}
    return out


# How :func:`validate_on_train` groups the training dialogues into folds.
GROUPINGS = ("dialogue", "file", "combination")


def _group_of(points: Sequence[TransitionPoint], grouping: str) -> dict[str, str]:
    """Each dialogue id's group: itself (``dialogue``); the file it came from (``file``: SGD ids
    are ``{file}_{index}``, and a file's dialogues were generated from the same one to three
    combinations of services); or the set of service domains it visits (``combination``)."""
    if grouping == "dialogue":
        return {p.dialogue_id: p.dialogue_id for p in points}
    if grouping == "file":
        return {p.dialogue_id: p.dialogue_id.rpartition("_")[0] or p.dialogue_id for p in points}
    if grouping == "combination":
        doms: dict[str, set[str]] = defaultdict(set)
        for p in points:
            doms[p.dialogue_id].update(service_domain(s) for s in (*p.history, p.next_service))
        return {d: "+".join(sorted(v)) for d, v in doms.items()}
    raise CarryoverError(f"grouping must be one of {', '.join(GROUPINGS)}, not {grouping!r}")


def validate_on_train(
    points: Sequence[TransitionPoint],
    schemas: Mapping[str, ServiceSchema],
    *,
    grouping: str = "file",
    n_folds: int = 5,
    seed: int = 0,
    embedder=None,
    log: Callable[[str], None] = lambda msg: None,
) -> dict[str, float]:
    """Next-service figures of the model and the baseline cross-validated inside a training split.

    The dialogues are split into ``n_folds`` folds by group (:data:`GROUPINGS`): each fold is
    ranked by a model and a baseline fitted on the other folds, among every service of
    ``schemas``. ``dialogue`` folds keep each combination of services in training; ``file`` folds
    hold out SGD's generation files, so that some domain pairs of a fold were never seen (as in
    SGD dev, where 35% of the points' last-to-next domain pairs are not in train);
    ``combination`` folds hold out every dialogue visiting the same domains. ``unseen_pair_share``
    says how many points' last-to-next domain pair the training folds never held.
    """
    group = _group_of(points, grouping)
    embedder = embedder if embedder is not None else MiniLMEmbedder()
    names = sorted(set(group.values()))
    k = max(2, min(n_folds, len(names)))
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(names, rng.permutation(len(names)) % k))
    fold = [fold_of[group[p.dialogue_id]] for p in points]
    totals: Counter = Counter()
    unseen = 0
    for f in range(k):
        train = [p for p, g in zip(points, fold) if g != f]
        test = [p for p, g in zip(points, fold) if g == f]
        if not train or not test:
            continue
        t0 = time.perf_counter()
        model = TransitionModel(embedder=embedder).fit([], schemas, points=train)
        figures = evaluate(model, DomainBaseline().fit(train), test, sorted(schemas))
        seen = {(service_domain(p.history[-1]), service_domain(p.next_service)) for p in train}
        # over the points evaluate scores (their next service is a candidate)
        unseen += sum((service_domain(p.history[-1]), service_domain(p.next_service)) not in seen
                      for p in test if p.next_service in schemas and p.next_service not in p.history)
        for key, value in figures.items():
            totals[key] += value if key == "points" else value * figures["points"]
        log(f"next service, {grouping} fold {f}: {figures} ({time.perf_counter() - t0:.0f} s)")
    n = max(totals.pop("points", 0), 1)
    return {"grouping": grouping, "folds": k, "points": n, "unseen_pair_share": round(unseen / n, 4)} | {
        key: round(value / n, 4) for key, value in sorted(totals.items())}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m reasoner.transitions --data DIR --split dev --json``."""
    ap = argparse.ArgumentParser(prog="reasoner.transitions", description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True,
                    help="SGD folder with {split}_dialogues.json.gz and {split}_schema.json")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--train-split", default="train")
    ap.add_argument("--online", action="store_true", help="also report the household-history (online) figures")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    train_dialogues, train_schema = sgd_split_paths(args.data, args.train_split)
    test_dialogues, test_schema = sgd_split_paths(args.data, args.split)
    tr_s = load_sgd_schemas(train_schema)
    te_s = load_sgd_schemas(test_schema)
    train_pts = iter_transition_points(load_sgd_dialogues(train_dialogues), tr_s, with_context=True)
    test_pts = iter_transition_points(load_sgd_dialogues(test_dialogues), te_s, with_context=True)
    result = {"split": args.split, "candidates": len(te_s)}
    result |= next_service_figures(train_pts, test_pts, tr_s, te_s, online=args.online)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
