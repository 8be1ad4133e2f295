"""Shapley-value attributions for learned scores, over features a person recognises.

A learned score (an intent's confidence, a goal's rank, an offer trigger, a hunch's anomaly score,
a carryover decision) is explained by how much each *feature* moved it: the words, the time of day,
the day of week, recent requests, device states, who is home. A feature is a player in a
cooperative game whose value is the score with only some features present; the absent ones are set
to their *baseline* by the caller's score function. This module never looks inside a model, so it
works with any scoring function.

    attribution = attribute(score_fn, features)          # exact for few features, sampled otherwise
    render(attribution, conclusion="offered the driving time")
    why_not(score_fn, features, threshold=0.5)          # what held a near miss back
    deletion_test(score_fn, features, attribution, k=3, rng=rng)   # faithfulness
    attribution_to_rdf(attribution, conclusion_iri, ids)           # the same, as triples

Estimators (``method``):

* ``"exact"``: every coalition is scored once (2**n evaluations, memoised) and the Shapley values
  are the weighted sums of marginal contributions. ``"auto"`` uses it for up to ``max_exact``
  features (12 by default), and falls back to sampling when a deadline would be missed.
* ``"permutation"`` (the default sampler): antithetic permutation sampling. Each permutation is
  paired with its reverse; the pair's average marginal contributions are one sample. Every pair
  sums exactly to ``score - base_score`` (efficiency holds exactly), and a pair is exact for any
  game with at most pairwise interactions (an additive or a pairwise model needs a single pair).
* ``"kernel"``: KernelSHAP with paired (complementary) sampling and the exact kernel matrix
  (Covert & Lee, 2021); also exactly efficient. Cheaper per sample (2 evaluations per pair against
  2(n-1)), noisier per evaluation on the scores measured in ``bench/explain.py``.

Sampled values carry a standard error each (the spread of the per-pair estimates over the square
root of their number); ``Attribution.error_estimate`` is the largest of them.

Score functions come in two shapes: ``score_fn(present: frozenset[str]) -> float`` for one
coalition at a time, or ``score_batch(masks) -> array`` for many (``masks`` is a boolean array of
shape (m, n), column j for ``features[j]``) so that vectorised models (a logistic regression over
embeddings) score a whole batch in one call. :func:`tabular_scorer` builds the second from a
``predict`` over numeric feature values.

>>> feats = [Feature("weather", "you asked about the weather at Half Moon Bay"),
...          Feature("saturday", "on a Saturday morning"),
...          Feature("lamp", "the lamp was on")]
>>> weights = {"weather": 0.41, "saturday": 0.22, "lamp": 0.0}
>>> a = attribute(lambda present: 0.1 + sum(weights[f] for f in present), feats)
>>> [(c.feature.name, round(c.value, 2)) for c in a.ranked()]
[('weather', 0.41), ('saturday', 0.22), ('lamp', 0.0)]
>>> a.method, a.exact, round(a.efficiency_gap, 12)
('exact', True, 0.0)
>>> render(a, conclusion="offered the driving time")
'I offered the driving time because you asked about the weather at Half Moon Bay (+0.41) and on a Saturday morning (+0.22).'
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from pyoxigraph import Literal, NamedNode, Triple

from kg.errors import HearthError

__all__ = [
    "Feature", "Contribution", "Attribution", "WhyNotResult", "DeletionResult", "ScoredDecision",
    "ExplanationEval", "AttributionError", "AttributionDeadlineError",
    "attribute", "render", "why_not", "render_why_not", "deletion_test", "evaluate_explanations",
    "tabular_scorer", "attribution_to_rdf", "ATTRIBUTION_NS", "METHODS",
]

ATTRIBUTION_NS = "https://w3id.org/hearth#"
METHODS = ("auto", "exact", "sampled", "permutation", "kernel")
SAMPLER = "permutation"          # what "sampled" means: the more accurate in bench/explain.py
DEFAULT_SAMPLES = 4096           # coalitions scored at most by a sampler
MAX_EXACT = 12                   # "auto" enumerates up to this many features
EXACT_LIMIT = 20                 # "exact" refuses more (2**20 evaluations)
_EXACT_CHUNK = 512               # coalitions scored between deadline checks
_clock = time.perf_counter       # one name, so tests can drive time

ScoreFn = Callable[[frozenset], float]
ScoreBatch = Callable[[np.ndarray], Any]


class AttributionError(HearthError, ValueError):
    """Features, options or a score function cannot be used for an attribution."""


class AttributionDeadlineError(AttributionError, TimeoutError):
    """Exact Shapley values were asked for but cannot be computed before the deadline."""


# ------------------------------------------------------------------------------------------------
# Values
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Feature:
    """One thing a person recognises that a score depends on.

    ``name`` is a stable id (what score functions receive); ``label`` the words a person reads
    ("on a Saturday morning"); ``value`` the observed value and ``baseline`` what the feature is set
    to when absent (both are for the caller's score function, the RDF and :func:`tabular_scorer`;
    numbers or 1-d arrays there). For :func:`why_not`, give ``baseline`` the value the feature would
    have in the closest case that did cross the threshold, and ``baseline_label`` its words
    ("on a weekend"). ``evidence``: IRIs of the events or things the feature was read from.
    """

    name: str
    label: str
    value: Any = None
    baseline: Any = None
    baseline_label: str | None = None
    evidence: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise AttributionError(f"a feature needs a non-empty name, got {self.name!r}")
        if not isinstance(self.label, str) or not self.label.strip():
            raise AttributionError(f"feature {self.name!r} needs a label a person can read")
        if isinstance(self.evidence, str):
            object.__setattr__(self, "evidence", (self.evidence,))


@dataclass(frozen=True)
class Contribution:
    """A feature's Shapley value, with its standard error (0 when exact)."""

    feature: Feature
    value: float
    std_error: float = 0.0


@dataclass(frozen=True)
class Attribution:
    """How much each feature moved a score from ``base_score`` (no feature present) to ``score``.

    ``contributions`` are in the order the features were given; :meth:`ranked` sorts them by size.
    ``efficiency_gap`` is ``score - base_score - sum(values)``: zero up to rounding for every method
    here. ``evaluations`` counts the distinct coalitions scored; ``elapsed_ms`` the wall time.
    """

    base_score: float
    score: float
    contributions: tuple[Contribution, ...]
    method: str
    exact: bool
    error_estimate: float
    evaluations: int = 0
    elapsed_ms: float = 0.0
    pairs: int = 0              # sampled pairs (antithetic or complementary); 0 when exact

    @property
    def efficiency_gap(self) -> float:
        return self.score - self.base_score - sum(c.value for c in self.contributions)

    @property
    def values(self) -> dict[str, float]:
        return {c.feature.name: c.value for c in self.contributions}

    def __getitem__(self, name: str) -> Contribution:
        for c in self.contributions:
            if c.feature.name == name:
                return c
        raise KeyError(f"no feature {name!r} in this attribution; it has: "
                       f"{', '.join(c.feature.name for c in self.contributions)}")

    def ranked(self) -> list[Contribution]:
        """Contributions by decreasing absolute value (ties keep the given order)."""
        return sorted(self.contributions, key=lambda c: -abs(c.value))

    def top(self, k: int, *, sign: int = 0) -> list[Contribution]:
        """The ``k`` largest contributions: ``sign=1`` the most positive, ``-1`` the most negative,
        ``0`` the largest in absolute value."""
        if sign > 0:
            ordered = sorted(self.contributions, key=lambda c: -c.value)
            return [c for c in ordered if c.value > 0][:k]
        if sign < 0:
            return [c for c in sorted(self.contributions, key=lambda c: c.value) if c.value < 0][:k]
        return self.ranked()[:k]

    def as_dict(self) -> dict:
        return {"base_score": self.base_score, "score": self.score, "method": self.method,
                "exact": self.exact, "error_estimate": self.error_estimate,
                "efficiency_gap": self.efficiency_gap, "evaluations": self.evaluations,
                "elapsed_ms": self.elapsed_ms,
                "contributions": [{"feature": c.feature.name, "label": c.feature.label,
                                   "value": c.value, "std_error": c.std_error}
                                  for c in self.contributions]}


# ------------------------------------------------------------------------------------------------
# The game: memoised, batched scoring of coalitions
# ------------------------------------------------------------------------------------------------

class _Game:
    """Scores coalitions (boolean masks over the features), each distinct one once."""

    def __init__(self, features: Sequence[Feature], score_fn: ScoreFn | None,
                 score_batch: ScoreBatch | None):
        if score_fn is None and score_batch is None:
            raise AttributionError("give a score function: score_fn(present) -> float, or "
                                   "score_batch(masks) -> array")
        if score_fn is not None and not callable(score_fn):
            raise AttributionError(f"score_fn must be callable, got {type(score_fn).__name__}")
        if score_batch is not None and not callable(score_batch):
            raise AttributionError("score_batch must be callable, got "
                                   f"{type(score_batch).__name__}")
        self.features = list(features)
        self.names = [f.name for f in self.features]
        self.n = len(self.names)
        self.score_fn = score_fn
        self.score_batch = score_batch
        self.cache: dict = {}
        self.evaluations = 0
        self._weights = (np.int64(1) << np.arange(self.n, dtype=np.int64)) if self.n <= 62 else None

    def keys(self, masks: np.ndarray) -> list:
        if self._weights is not None:
            return (masks.astype(np.int64) @ self._weights).tolist()
        return [row.tobytes() for row in np.packbits(masks, axis=1)]

    def values(self, masks: np.ndarray) -> np.ndarray:
        masks = np.asarray(masks, dtype=bool)
        if masks.ndim == 1:
            masks = masks[None, :]
        keys = self.keys(masks)
        cache = self.cache
        todo: dict = {}
        for i, key in enumerate(keys):
            if key not in cache and key not in todo:
                todo[key] = i
        if todo:
            rows = masks[list(todo.values())]
            scores = self._score(rows)
            cache.update(zip(todo, scores))
            self.evaluations += len(todo)
        return np.fromiter((cache[k] for k in keys), dtype=float, count=len(keys))

    def value(self, present: Iterable[str]) -> float:
        present = set(present)
        return float(self.values(np.array([[n in present for n in self.names]]))[0])

    def _score(self, rows: np.ndarray) -> list[float]:
        if self.score_batch is not None:
            out = np.asarray(self.score_batch(rows), dtype=float).reshape(-1)
            if out.shape[0] != rows.shape[0]:
                raise AttributionError(f"score_batch returned {out.shape[0]} scores for "
                                       f"{rows.shape[0]} masks; it must return one per row")
        else:
            names = self.names
            out = np.empty(rows.shape[0])
            for i, row in enumerate(rows):
                s = self.score_fn(frozenset(names[j] for j in np.flatnonzero(row)))
                try:
                    out[i] = float(s)
                except (TypeError, ValueError) as err:
                    raise AttributionError(f"the score function returned {s!r} for "
                                           f"{sorted(names[j] for j in np.flatnonzero(row))}; "
                                           "it must return a number") from err
        bad = ~np.isfinite(out)
        if bad.any():
            row = rows[int(np.flatnonzero(bad)[0])]
            raise AttributionError(f"the score function returned {out[bad][0]} for the features "
                                   f"{[self.names[j] for j in np.flatnonzero(row)]}; scores must "
                                   "be finite numbers")
        return out.tolist()


def _check_features(features: Sequence[Feature]) -> list[Feature]:
    features = list(features)
    for f in features:
        if not isinstance(f, Feature):
            raise AttributionError(f"features must be Feature values, got {type(f).__name__}: "
                                   f"{f!r}")
    seen: set[str] = set()
    for f in features:
        if f.name in seen:
            raise AttributionError(f"two features are named {f.name!r}; names must be unique")
        seen.add(f.name)
    return features


# ------------------------------------------------------------------------------------------------
# Estimators
# ------------------------------------------------------------------------------------------------

class _Deadline:
    def __init__(self, deadline_ms: float | None, started: float):
        self.at = None if deadline_ms is None else started + deadline_ms / 1000.0

    def remaining(self) -> float:
        return math.inf if self.at is None else self.at - _clock()


def _exact(game: _Game, deadline: _Deadline, strict: bool) -> np.ndarray | None:
    """Exact Shapley values, or None when the deadline would pass (``strict``: raise instead)."""
    n = game.n
    total = 1 << n
    codes = np.arange(total, dtype=np.int64)
    masks = ((codes[:, None] >> np.arange(n, dtype=np.int64)) & 1).astype(bool)
    values = np.empty(total)
    done = 0
    started = _clock()
    while done < total:
        stop = min(total, done + _EXACT_CHUNK)
        values[done:stop] = game.values(masks[done:stop])
        done = stop
        if done < total and deadline.at is not None:
            per = (_clock() - started) / done
            if per * (total - done) > deadline.remaining():
                if strict:
                    raise AttributionDeadlineError(
                        f"exact Shapley values over {n} features score 2**{n} = {total} coalitions;"
                        f" at {per * 1000:.3f} ms each they would pass the deadline. Use "
                        "method='auto' or 'sampled', or allow more time (deadline_ms)")
                return None
    sizes = masks.sum(axis=1)
    # w(s) = s! (n-s-1)! / n!: the weight of a coalition of size s without the feature
    w = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
                  for s in range(n)])
    phi = np.empty(n)
    for i in range(n):
        bit = np.int64(1) << i
        without = codes[(codes & bit) == 0]
        phi[i] = float(np.sum(w[sizes[without]] * (values[without | bit] - values[without])))
    return phi


class _PermutationSampler:
    """Antithetic permutations: each sample is a permutation and its reverse, averaged."""

    name = "permutation"

    def __init__(self, game: _Game, rng: np.random.Generator):
        self.game, self.rng = game, rng
        self.cost = max(1, 2 * (game.n - 1))   # new coalitions per pair, at most

    def draw(self, pairs: int) -> np.ndarray:
        n = self.game.n
        forward = np.argsort(self.rng.random((pairs, n)), axis=1)
        perms = np.empty((2 * pairs, n), dtype=np.int64)
        perms[0::2], perms[1::2] = forward, forward[:, ::-1]
        ranks = np.argsort(perms, axis=1)                         # position of each feature
        masks = ranks[:, None, :] < np.arange(n + 1)[None, :, None]  # prefixes, (2p, n+1, n)
        vals = self.game.values(masks.reshape(-1, n)).reshape(2 * pairs, n + 1)
        marginal = np.take_along_axis(np.diff(vals, axis=1), ranks, axis=1)
        return (marginal[0::2] + marginal[1::2]) / 2.0


class _KernelSampler:
    """KernelSHAP with paired sampling and the exact kernel matrix (Covert & Lee, 2021)."""

    name = "kernel"

    def __init__(self, game: _Game, rng: np.random.Generator, v0: float, v1: float):
        self.game, self.rng = game, rng
        self.cost = 2
        n = game.n
        sizes = np.arange(1, n)
        p = 1.0 / (sizes * (n - sizes))
        self.sizes, self.p = sizes, p / p.sum()
        off = float(np.sum(self.p * sizes * (sizes - 1))) / (n * (n - 1))
        diag = float(np.sum(self.p * sizes)) / n
        a_inv = np.linalg.inv((diag - off) * np.eye(n) + off * np.ones((n, n)))
        ones = np.ones(n)
        a_inv_1 = a_inv @ ones
        denom = ones @ a_inv_1
        # phi = C b + d: the constrained least-squares solution is linear in b
        self.C = a_inv - np.outer(a_inv_1, a_inv_1) / denom
        self.d = a_inv_1 * (v1 - v0) / denom
        self.v0 = v0

    def draw(self, pairs: int) -> np.ndarray:
        n = self.game.n
        s = self.rng.choice(self.sizes, size=pairs, p=self.p)
        ranks = np.argsort(np.argsort(self.rng.random((pairs, n)), axis=1), axis=1)
        z = ranks < s[:, None]
        masks = np.empty((2 * pairs, n), dtype=bool)
        masks[0::2], masks[1::2] = z, ~z
        vals = self.game.values(masks).reshape(pairs, 2) - self.v0
        b = (z * vals[:, :1] + (~z) * vals[:, 1:]) / 2.0
        return b @ self.C.T + self.d


def _sample(sampler, game: _Game, budget: int, deadline: _Deadline, tolerance: float | None):
    """Draws pairs in growing chunks until the budget of scored coalitions (memoised repeats are
    free), the deadline or the tolerance stops it. One chunk is always drawn; the pairs asked for
    are capped at four times the budget's worth, for games small enough to be all memoised."""
    chunks: list[np.ndarray] = []
    drawn = 0
    min_pairs = 4 if sampler.name == "permutation" else 16
    chunk = 1 if sampler.name == "permutation" else 8
    max_pairs = 4 * max(1, budget // sampler.cost)
    while drawn < max_pairs:
        left = budget - game.evaluations
        if drawn and left < sampler.cost:
            break
        pairs = max(1, min(chunk, left // sampler.cost, max_pairs - drawn)) if drawn else chunk
        t = _clock()
        chunks.append(sampler.draw(pairs))
        per_pair = (_clock() - t) / pairs
        drawn += pairs
        if tolerance is not None and drawn >= min_pairs:
            se = np.vstack(chunks).std(axis=0, ddof=1) / math.sqrt(drawn)
            if float(se.max()) <= tolerance:
                break
        chunk = max(1, min(chunk * 2, 4096))
        remaining = deadline.remaining()
        if remaining < math.inf:
            fits = int(0.8 * remaining / max(per_pair, 1e-9))
            if fits < 1:
                break
            chunk = min(chunk, fits)
    samples = np.vstack(chunks)
    mean = samples.mean(axis=0)
    if drawn > 1:
        se = samples.std(axis=0, ddof=1) / math.sqrt(drawn)
    else:
        se = np.full(game.n, math.inf)
    return mean, se, drawn


def _attribute(game: _Game, *, method: str, samples: int | None, seed: int | None,
               deadline_ms: float | None, tolerance: float | None, max_exact: int,
               started: float) -> Attribution:
    if method not in METHODS:
        raise AttributionError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    budget = DEFAULT_SAMPLES if samples is None else int(samples)
    if budget < 2:
        raise AttributionError(f"samples={samples} is too few: it counts the coalitions a sampler "
                               "scores and must be at least 2")
    n = game.n
    deadline = _Deadline(deadline_ms, started)
    full = np.ones((1, n), dtype=bool)
    v0, v1 = game.values(np.vstack([~full, full]))
    phi = se = None
    used, pairs = None, 0
    if n == 0:
        phi, se, used = np.zeros(0), np.zeros(0), "exact"
    elif method == "exact" or (method == "auto" and n <= max_exact):
        if n > EXACT_LIMIT:
            raise AttributionError(f"exact Shapley values over {n} features would score 2**{n} "
                                   f"coalitions; exact stops at {EXACT_LIMIT} features. Use "
                                   "method='auto' or 'sampled'")
        phi = _exact(game, deadline, strict=(method == "exact"))
        if phi is not None:
            se, used = np.zeros(n), "exact"
    if phi is None:
        name = SAMPLER if method in ("auto", "sampled") else method
        rng = np.random.default_rng(seed)
        sampler = (_PermutationSampler(game, rng) if name == "permutation"
                   else _KernelSampler(game, rng, float(v0), float(v1)))
        # the budget counts the sampler's own evaluations, not those of an abandoned enumeration
        phi, se, pairs = _sample(sampler, game, budget + game.evaluations - 2, deadline, tolerance)
        used = name
    contributions = tuple(Contribution(f, float(v), float(e))
                          for f, v, e in zip(game.features, phi, se))
    return Attribution(
        base_score=float(v0), score=float(v1), contributions=contributions, method=used,
        exact=used == "exact", error_estimate=float(se.max()) if n else 0.0,
        evaluations=game.evaluations, elapsed_ms=(_clock() - started) * 1000,
        pairs=pairs)


def attribute(score_fn: ScoreFn | None, features: Sequence[Feature], *,
              score_batch: ScoreBatch | None = None, method: str = "auto",
              samples: int | None = None, seed: int | None = 0,
              deadline_ms: float | None = None, tolerance: float | None = None,
              max_exact: int = MAX_EXACT) -> Attribution:
    """Shapley values of ``features`` for a score.

    ``score_fn(present)`` gets the frozenset of present feature names and returns the score with
    the others at their baselines; or pass ``score_fn=None`` and ``score_batch(masks)`` (boolean
    array, one row per coalition, column j for ``features[j]``) returning one score per row.

    ``method``: ``"auto"`` (exact up to ``max_exact`` features, else sampled), ``"exact"``,
    ``"sampled"`` (the default sampler, antithetic permutations), ``"permutation"`` or
    ``"kernel"``. ``samples``: the most coalitions a sampler scores (default 4096; memoised
    repeats are free). ``seed``: the
    sampler's seed (fixed by default, so the same decision gets the same explanation).
    ``deadline_ms``: counted from the call; "auto" leaves exact enumeration when it would pass the
    deadline, samplers stop drawing before it (one antithetic pair is always drawn, so a score
    function slower than the deadline can overrun it by that much). ``tolerance``: samplers stop
    once every standard error is at most this.

    >>> feats = [Feature("a", "A"), Feature("b", "B")]
    >>> a = attribute(lambda s: float(len(s) == 2), feats)     # both needed: split evenly
    >>> [c.value for c in a.contributions]
    [0.5, 0.5]
    """
    started = _clock()
    game = _Game(_check_features(features), score_fn, score_batch)
    return _attribute(game, method=method, samples=samples, seed=seed, deadline_ms=deadline_ms,
                      tolerance=tolerance, max_exact=max_exact, started=started)


def tabular_scorer(predict: Callable[[np.ndarray], Any], features: Sequence[Feature]) -> ScoreBatch:
    """A ``score_batch`` for a model over numeric inputs: each feature's ``value`` and ``baseline``
    are numbers or equal-length 1-d arrays (an embedding block); a row of the model's input is
    their concatenation, with absent features at their baselines. ``predict(X)`` returns one score
    per row (e.g. ``lambda X: clf.predict_proba(X)[:, k]``).

    >>> feats = [Feature("x", "x", value=2.0, baseline=0.0),
    ...          Feature("e", "e", value=[1, 1], baseline=[0, 0])]
    >>> score = tabular_scorer(lambda X: X.sum(axis=1), feats)
    >>> score(np.array([[True, False], [True, True]])).tolist()
    [2.0, 4.0]
    """
    features = _check_features(features)
    values, baselines, widths = [], [], []
    for f in features:
        v = np.atleast_1d(np.asarray(f.value if f.value is not None else 0.0, dtype=float))
        b = np.atleast_1d(np.asarray(f.baseline if f.baseline is not None else 0.0, dtype=float))
        if v.ndim != 1 or v.shape != b.shape and b.size != 1:
            raise AttributionError(f"feature {f.name!r}: value and baseline must be numbers or "
                                   f"1-d arrays of one length, got {v.shape} and {b.shape}")
        values.append(v)
        baselines.append(np.broadcast_to(b, v.shape))
        widths.append(v.size)
    x = np.concatenate(values) if values else np.zeros(0)
    base = np.concatenate(baselines) if baselines else np.zeros(0)
    columns = np.repeat(np.arange(len(features)), widths)

    def score_batch(masks: np.ndarray) -> np.ndarray:
        present = np.asarray(masks, dtype=bool)[:, columns]
        return np.asarray(predict(np.where(present, x, base)), dtype=float).reshape(-1)

    return score_batch


# ------------------------------------------------------------------------------------------------
# Sentences
# ------------------------------------------------------------------------------------------------

def _number(c: Contribution, exact: bool) -> str:
    text = f"{c.value:+.2f}"
    if not exact and math.isfinite(c.std_error) and c.std_error >= 0.005:
        text += f" ± {c.std_error:.2f}"
    return text


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def render(attribution: Attribution, *, top: int = 3, conclusion: str | None = None,
           numbers: bool = True, min_share: float = 0.02) -> str:
    """One sentence: what moved the score, the largest reasons first.

    ``conclusion`` is what the engine did, as a past-tense phrase ("offered the driving time");
    without it the sentence speaks of the score. Reasons push the score the way it went (from
    ``base_score`` to ``score``); the largest push the other way follows "although". Contributions
    under ``min_share`` of the total absolute attribution are left out; ``numbers=False`` drops the
    values (for speech). Sampled values show their standard error when it is 0.005 or more.

    >>> a = Attribution(0.1, 0.6, (Contribution(Feature("w", "it rained"), 0.6),
    ...                            Contribution(Feature("t", "it was late"), -0.1)),
    ...                 "exact", True, 0.0)
    >>> render(a, conclusion="closed the windows")
    'I closed the windows because it rained (+0.60), although it was late (-0.10).'
    >>> render(a, numbers=False)
    'The score was 0.60 rather than 0.10 because it rained, although it was late.'
    """
    head = (f"I {conclusion}" if conclusion else
            f"The score was {attribution.score:.2f} rather than {attribution.base_score:.2f}")
    total = sum(abs(c.value) for c in attribution.contributions)
    if total <= 1e-12:
        return f"{head}; no single thing made a difference."
    up = attribution.score >= attribution.base_score
    floor = min_share * total

    def words(c: Contribution) -> str:
        if not numbers:
            return c.feature.label
        return f"{c.feature.label} ({_number(c, attribution.exact)})"

    reasons = [c for c in attribution.top(top, sign=1 if up else -1) if abs(c.value) >= floor]
    against = [c for c in attribution.top(1, sign=-1 if up else 1) if abs(c.value) >= floor]
    if not reasons:
        return f"{head}; no single thing made a difference."
    text = f"{head} because {_join([words(c) for c in reasons])}"
    if against:
        text += f", although {words(against[0])}"
    return text + "."


# ------------------------------------------------------------------------------------------------
# Why not
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WhyNotResult:
    """Why a score stayed below a threshold.

    ``held_back``: the negative contributions, most negative first. ``change``: the smallest set of
    features found whose change to their baselines makes the score reach the threshold (verified by
    re-scoring; an exhaustive search when the attribution is exact, else greedy over the
    attributions, then pruned until no feature can be left out),
    ``None`` when no set does; ``changed_score`` the score with that change. ``crossed`` is true
    when the score already reached the threshold (then nothing held it back).
    """

    score: float
    threshold: float
    crossed: bool
    held_back: tuple[Contribution, ...]
    change: tuple[Feature, ...] | None
    changed_score: float | None
    attribution: Attribution
    minimal: str = "none"       # "smallest" (exact search), "irreducible" (greedy, pruned), "none"


def _smallest_change(game: _Game, attribution: Attribution, threshold: float,
                     exhaustive: bool) -> tuple[tuple[int, ...] | None, float | None, str]:
    n = game.n
    everything = np.ones(n, dtype=bool)

    def score_without(idx: Sequence[int]) -> float:
        mask = everything.copy()
        mask[list(idx)] = False
        return float(game.values(mask[None, :])[0])

    if exhaustive:
        for size in range(1, n + 1):
            combos = list(itertools.combinations(range(n), size))
            masks = np.ones((len(combos), n), dtype=bool)
            for row, combo in enumerate(combos):
                masks[row, list(combo)] = False
            scores = game.values(masks)
            if (scores >= threshold).any():
                best = int(np.argmax(scores))
                return combos[best], float(scores[best]), "smallest"
        return None, None, "none"
    order = sorted(range(n), key=lambda i: attribution.contributions[i].value)
    chosen: list[int] = []
    reached = None
    for i in order:
        chosen.append(i)
        s = score_without(chosen)
        if s >= threshold:
            reached = s
            break
    if reached is None:
        return None, None, "none"
    for i in sorted(chosen, key=lambda i: -attribution.contributions[i].value):  # weakest first
        if len(chosen) == 1:
            break
        rest = [j for j in chosen if j != i]
        s = score_without(rest)
        if s >= threshold:
            chosen, reached = rest, s
    return tuple(sorted(chosen)), reached, "irreducible"


def why_not(score_fn: ScoreFn | None, features: Sequence[Feature], threshold: float, *,
            score_batch: ScoreBatch | None = None, attribution: Attribution | None = None,
            max_exact: int = MAX_EXACT, **options) -> WhyNotResult:
    """What held a score below ``threshold``, and the smallest change that would have crossed it.

    A feature's change is setting it to its baseline, so give each feature the baseline it has in
    the closest case that crossed (a contrastive explanation: its Shapley values then split the gap
    between that case and this one). ``options`` go to :func:`attribute`; pass ``attribution`` to
    reuse one already computed.

    >>> feats = [Feature("beach", "you asked about the beach", value=0, baseline=1),
    ...          Feature("sat", "on a Saturday", value=1, baseline=1)]
    >>> score = lambda present: 0.2 if "beach" in present else 0.8   # present = actual value
    >>> r = why_not(score, feats, threshold=0.5)
    >>> [f.name for f in r.change], r.changed_score
    (['beach'], 0.8)
    """
    started = _clock()
    game = _Game(_check_features(features), score_fn, score_batch)
    if attribution is None:
        attribution = _attribute(game, method=options.pop("method", "auto"),
                                 samples=options.pop("samples", None),
                                 seed=options.pop("seed", 0),
                                 deadline_ms=options.pop("deadline_ms", None),
                                 tolerance=options.pop("tolerance", None), max_exact=max_exact,
                                 started=started)
        if options:
            raise AttributionError(f"unknown options {sorted(options)}; why_not takes those of "
                                   "attribute()")
    elif [c.feature.name for c in attribution.contributions] != game.names:
        raise AttributionError("the attribution is over other features than those given: "
                               f"{[c.feature.name for c in attribution.contributions]} vs "
                               f"{game.names}")
    held = tuple(attribution.top(len(attribution.contributions), sign=-1))
    if attribution.score >= threshold:
        return WhyNotResult(attribution.score, threshold, True, (), (), attribution.score,
                            attribution, "smallest")
    # exhaustive where the attribution was exact (its coalitions are memoised, or few to score)
    idx, reached, minimal = _smallest_change(game, attribution, threshold,
                                             exhaustive=attribution.exact and game.n <= max_exact)
    change = None if idx is None else tuple(game.features[i] for i in idx)
    return WhyNotResult(attribution.score, threshold, False, held, change, reached, attribution,
                        minimal)


def render_why_not(result: WhyNotResult, *, conclusion: str | None = None, top: int = 3,
                   numbers: bool = True) -> str:
    """A sentence for a near miss: what held it back, and what would have changed it.

    ``conclusion`` is what did not happen, as a bare verb phrase ("offer the driving time"). A
    changed feature is told by its ``baseline_label`` ("you had asked about the beach"), else as
    "it had not been that <label>".

    >>> feats = [Feature("beach", "you asked about the city",
    ...                  baseline_label="you had asked about the beach")]
    >>> r = why_not(lambda p: 0.2 if p else 0.8, feats, threshold=0.5)
    >>> render_why_not(r, conclusion="offer the driving time")
    'I did not offer the driving time because you asked about the city (-0.60); I would have if you had asked about the beach (0.80, needed 0.50).'
    """
    if result.crossed:
        return (f"The score {result.score:.2f} reached the threshold {result.threshold:.2f}; "
                "nothing held it back.")
    what = f"I did not {conclusion}" if conclusion else f"The score stayed at {result.score:.2f}"
    would = "I would have" if conclusion else f"it would have reached {result.threshold:.2f}"
    exact = result.attribution.exact
    words = [f"{c.feature.label} ({_number(c, exact)})" if numbers else c.feature.label
             for c in result.held_back[:top]]
    text = f"{what} because {_join(words)}" if words else f"{what}: no feature held it back"
    if result.change:
        parts = [f.baseline_label or f"it had not been that {f.label}" for f in result.change]
        text += f"; {would} if {_join(parts)}"
        if numbers:
            text += f" ({result.changed_score:.2f}, needed {result.threshold:.2f})"
    else:
        text += "; no change of these features would have been enough"
    return text + "."


# ------------------------------------------------------------------------------------------------
# Faithfulness
# ------------------------------------------------------------------------------------------------

class DeletionResult(NamedTuple):
    """Score drops (full score minus the score without the removed features)."""

    top_k_drop: float
    random_k_drop: float


def deletion_test(score_fn: ScoreFn | None, features: Sequence[Feature], attribution: Attribution,
                  k: int, *, rng: np.random.Generator | int | None = None,
                  score_batch: ScoreBatch | None = None, repeats: int = 8) -> DeletionResult:
    """Removes (sets to baseline) the ``k`` most positively attributed features, and separately
    ``k`` features drawn at random (averaged over ``repeats`` draws), and re-scores. A faithful
    attribution makes the first drop clearly larger than the second.

    >>> feats = [Feature(n, n) for n in "abcd"]
    >>> score = lambda present: 1.0 * ("a" in present) + 0.1 * len(present)
    >>> a = attribute(score, feats)
    >>> top, rand = deletion_test(score, feats, a, 1, rng=0, repeats=100)
    >>> round(top, 2), round(rand, 2)       # random: 0.1, and 1.0 more when "a" is drawn
    (1.1, 0.29)
    """
    features = _check_features(features)
    names = [f.name for f in features]
    if [c.feature.name for c in attribution.contributions] != names:
        raise AttributionError("the attribution is over other features than those given: "
                               f"{[c.feature.name for c in attribution.contributions]} vs {names}")
    n = len(features)
    k = max(0, min(int(k), n))
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    game = _Game(features, score_fn, score_batch)
    full = float(game.values(np.ones((1, n), dtype=bool))[0])
    order = sorted(range(n), key=lambda i: -attribution.contributions[i].value)[:k]
    mask = np.ones((1, n), dtype=bool)
    mask[0, order] = False
    top_drop = full - float(game.values(mask)[0])
    masks = np.ones((max(1, repeats), n), dtype=bool)
    for row in masks:
        row[rng.choice(n, size=k, replace=False)] = False
    random_drop = full - float(game.values(masks).mean())
    return DeletionResult(top_drop, random_drop)


@dataclass(frozen=True)
class ScoredDecision:
    """A decision the engine scored, ready to be explained: its features and score function."""

    features: tuple[Feature, ...]
    score_fn: ScoreFn | None = None
    score_batch: ScoreBatch | None = None
    name: str = ""


@dataclass(frozen=True)
class ExplanationEval:
    """The deletion test over many decisions (means), and explanation times."""

    decisions: int
    k: int
    top_k_drop: float
    random_k_drop: float
    top_beats_random: float           # share of decisions whose top-k drop exceeds the random one
    explain_p50_ms: float
    explain_p95_ms: float
    methods: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"decisions": self.decisions, "k": self.k, "top_k_drop": self.top_k_drop,
                "random_k_drop": self.random_k_drop, "top_beats_random": self.top_beats_random,
                "explain_p50_ms": self.explain_p50_ms, "explain_p95_ms": self.explain_p95_ms,
                "methods": dict(self.methods)}


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else math.nan


def evaluate_explanations(decisions: Iterable[ScoredDecision], *, k: int = 3, seed: int = 0,
                          repeats: int = 8, **options) -> ExplanationEval:
    """Explains every decision (timed) and runs :func:`deletion_test` on it; ``options`` go to
    :func:`attribute`. This is what ``hearth eval explanations --json`` reports for learned scores.
    """
    rng = np.random.default_rng(seed)
    tops, randoms, times, methods = [], [], [], {}
    for d in decisions:
        t = _clock()
        a = attribute(d.score_fn, d.features, score_batch=d.score_batch, **options)
        times.append((_clock() - t) * 1000)
        methods[a.method] = methods.get(a.method, 0) + 1
        r = deletion_test(d.score_fn, d.features, a, k, rng=rng, score_batch=d.score_batch,
                          repeats=repeats)
        tops.append(r.top_k_drop)
        randoms.append(r.random_k_drop)
    if not times:
        raise AttributionError("no decisions to evaluate; give at least one ScoredDecision")
    return ExplanationEval(
        decisions=len(times), k=k, top_k_drop=float(np.mean(tops)),
        random_k_drop=float(np.mean(randoms)),
        top_beats_random=float(np.mean([t > r for t, r in zip(tops, randoms)])),
        explain_p50_ms=_percentile(times, 50), explain_p95_ms=_percentile(times, 95),
        methods=methods)


# ------------------------------------------------------------------------------------------------
# RDF
# ------------------------------------------------------------------------------------------------

def _term(local: str) -> NamedNode:
    return NamedNode(ATTRIBUTION_NS + local)


_RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
_PROV_DERIVED = NamedNode("http://www.w3.org/ns/prov#wasDerivedFrom")
_XSD_INTEGER = NamedNode("http://www.w3.org/2001/XMLSchema#integer")


def attribution_to_rdf(attribution: Attribution, conclusion_iri: NamedNode | str,
                       ids) -> list[Triple]:
    """The attribution as triples (``hearth:Attribution`` with one ``hearth:Contribution`` per
    feature), minted with ``ids.node(kind, local)`` (a :class:`kg.terms.HouseholdIRIs`). The IRIs
    are content hashes, so re-explaining the same values gives the same triples. A contribution
    names the events it was read from with ``prov:wasDerivedFrom`` (``Feature.evidence``).

    >>> from kg.terms import HouseholdIRIs
    >>> a = Attribution(0.1, 0.5, (Contribution(Feature("w", "it rained"), 0.4),),
    ...                 "exact", True, 0.0)
    >>> triples = attribution_to_rdf(a, "urn:hearth:home:event:7", HouseholdIRIs("home"))
    >>> sorted(t.predicate.value.split("#")[1] for t in triples)[:4]
    ['attributionOf', 'baseScore', 'contribution', 'errorEstimate']
    """
    conclusion = (conclusion_iri if isinstance(conclusion_iri, NamedNode)
                  else NamedNode(str(conclusion_iri)))
    digest = hashlib.sha256(repr((conclusion.value, attribution.method, attribution.base_score,
                                  attribution.score,
                                  [(c.feature.name, c.value) for c in attribution.contributions])
                                 ).encode()).hexdigest()[:20]
    node = ids.node("attribution", digest)
    triples = [
        Triple(node, _RDF_TYPE, _term("Attribution")),
        Triple(node, _term("attributionOf"), conclusion),
        Triple(node, _term("method"), Literal(attribution.method)),
        Triple(node, _term("exactValues"), Literal(bool(attribution.exact))),
        Triple(node, _term("baseScore"), Literal(float(attribution.base_score))),
        Triple(node, _term("score"), Literal(float(attribution.score))),
        Triple(node, _term("errorEstimate"), Literal(float(attribution.error_estimate))),
    ]
    rank = {id(c): r for r, c in enumerate(attribution.ranked(), start=1)}
    for i, c in enumerate(attribution.contributions):
        part = ids.node("attribution", f"{digest}.{i}")
        triples += [
            Triple(node, _term("contribution"), part),
            Triple(part, _RDF_TYPE, _term("Contribution")),
            Triple(part, _term("featureName"), Literal(c.feature.name)),
            Triple(part, _term("featureLabel"), Literal(c.feature.label, language="en")),
            Triple(part, _term("shapleyValue"), Literal(float(c.value))),
            Triple(part, _term("standardError"), Literal(float(c.std_error))),
            Triple(part, _term("rank"), Literal(str(rank[id(c)]), datatype=_XSD_INTEGER)),
        ]
        if c.feature.value is not None and isinstance(c.feature.value, (str, int, float, bool)):
            triples.append(Triple(part, _term("featureValue"), Literal(str(c.feature.value))))
        for iri in c.feature.evidence:
            triples.append(Triple(part, _PROV_DERIVED, NamedNode(iri)))
    return triples
