"""Catalogue value suggestions: new values for a slot, from sentence embeddings.

A slot's values (rooms, fruit, radio stations …) are embedded and compared with their centroid.
Two distributions of cosine-to-centroid decide: the values' own (each value against the centroid
of the *others*, leave-one-out, so a value does not vouch for itself) and that of unrelated words
(a fixed background list of everyday words, or the caller's own). A candidate is suggested when it
is likelier to be drawn from the values' distribution than from the background's (two normal
fits, equal priors). A slot is too diffuse to suggest for when its values are no closer to their
centroid than unrelated words are: when the values' low quantile does not clear the background's
high quantile, any candidate that passed would be no better than a random word.

>>> r = suggest_values(["kitchen", "bedroom", "bathroom"], ["attic", "volcano"])   # doctest: +SKIP
>>> [s.value for s in r.suggestions], r.diffuse                                   # doctest: +SKIP
(['attic'], False)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reasoner.embeddings import Encoder, get_encoder
from reasoner.errors import IntentDataError

__all__ = ["ValueSuggestion", "SuggestionResult", "suggest_values", "BACKGROUND_WORDS"]

# Everyday words and phrases from many unrelated fields: what "unrelated" looks like to the encoder.
BACKGROUND_WORDS: tuple[str, ...] = (
    "table", "democracy", "running", "blue", "yesterday", "mountain", "teacher", "violin",
    "insurance", "happiness", "bicycle", "thunderstorm", "grammar", "elbow", "tomato", "invoice",
    "galaxy", "carpenter", "silence", "football", "pencil", "ocean", "vaccine", "loyalty",
    "staircase", "election", "butterfly", "spreadsheet", "desert", "whisper", "copper", "novel",
    "airport", "breakfast", "algebra", "puppy", "volcano", "password", "jacket", "harvest",
    "sculpture", "battery", "friendship", "recipe", "glacier", "trumpet", "mortgage", "lantern",
    "seventeen", "next week", "a long walk", "the red car", "my neighbour", "very quickly",
    "tax return", "old photographs", "broken window", "fresh bread", "city council", "wet paint",
)


@dataclass(frozen=True)
class ValueSuggestion:
    value: str
    similarity: float  # cosine to the values' centroid


@dataclass(frozen=True)
class SuggestionResult:
    """Suggested values (best first), or ``diffuse=True`` with the reason none can be trusted."""

    suggestions: tuple[ValueSuggestion, ...]
    diffuse: bool
    threshold: float  # a candidate needs at least this cosine to the centroid (members meet background)
    coherence: float  # mean leave-one-out cosine of the values to their centroid
    background: float  # the background quantile the threshold has to clear
    reason: str
    rejected: tuple[ValueSuggestion, ...] = ()  # candidates below the threshold, best first

    @property
    def values(self) -> list[str]:
        return [s.value for s in self.suggestions]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.linalg.norm(x)), 1e-12)


def _boundary(members: np.ndarray, background: np.ndarray) -> float:
    """The cosine where a normal fit to the members becomes likelier than one to the background."""
    mu_m, mu_b = float(members.mean()), float(background.mean())
    # a handful of values gives a shaky spread: never trust it below 0.03
    sd_m, sd_b = max(float(members.std(ddof=1)), 0.03), max(float(background.std(ddof=1)), 0.03)
    if mu_m <= mu_b:
        return mu_m
    xs = np.linspace(mu_b, mu_m, 512)
    log_m = -0.5 * ((xs - mu_m) / sd_m) ** 2 - np.log(sd_m)
    log_b = -0.5 * ((xs - mu_b) / sd_b) ** 2 - np.log(sd_b)
    above = np.flatnonzero(log_m >= log_b)
    return float(xs[above[0]]) if len(above) else mu_m


def suggest_values(
    values: Sequence[str],
    candidates: Sequence[str],
    *,
    encoder: Encoder | str = "minilm",
    member_quantile: float = 0.1,
    background: Sequence[str] | None = None,
    background_quantile: float = 0.95,
    limit: int | None = None,
) -> SuggestionResult:
    """Suggest which ``candidates`` belong with a slot's ``values``.

    Args:
        values: the slot's current values (at least two).
        candidates: words or phrases to consider (values already present are skipped).
        encoder: the sentence encoder (or its name).
        member_quantile: the slot is diffuse when this quantile of the values' leave-one-out
            cosines to their centroid does not clear the background's ``background_quantile``.
        background: unrelated words that define "not close"; default ``BACKGROUND_WORDS``.
        background_quantile: see ``member_quantile``.
        limit: at most this many suggestions.
    """
    vals = list(dict.fromkeys(v.strip() for v in values if isinstance(v, str) and v.strip()))
    if len(vals) < 2:
        raise IntentDataError(
            f"a slot needs at least two distinct values to suggest more (got {len(vals)}); add values first"
        )
    known = {v.casefold() for v in vals}
    cands = [c for c in dict.fromkeys(c.strip() for c in candidates if isinstance(c, str) and c.strip())
             if c.casefold() not in known]
    bg = [b for b in (BACKGROUND_WORDS if background is None else background) if b.casefold() not in known]
    if len(bg) < 5:
        raise IntentDataError("the background needs at least five words unrelated to the slot")
    enc = get_encoder(encoder)
    V = enc.encode(vals)
    C = enc.encode(cands) if cands else np.zeros((0, V.shape[1]), np.float32)
    B = enc.encode(bg)

    total = V.sum(axis=0)
    centroid = _unit(total)
    # leave-one-out: how close is each value to the centroid of the other values?
    loo = np.array([float(V[i] @ _unit(total - V[i])) for i in range(len(V))])
    member_floor = float(np.quantile(loo, member_quantile))
    bg_sim = B @ centroid
    bg_level = float(np.quantile(bg_sim, background_quantile))
    coherence = float(loo.mean())
    threshold = _boundary(loo, bg_sim)

    sims = C @ centroid if len(C) else np.zeros(0)
    order = np.argsort(-sims)
    ranked = [ValueSuggestion(cands[i], float(sims[i])) for i in order]
    if member_floor <= bg_level:
        return SuggestionResult(
            suggestions=(),
            diffuse=True,
            threshold=threshold,
            coherence=coherence,
            background=bg_level,
            reason=(
                f"the slot is too diffuse to suggest for: its values sit at cosine {member_floor:.2f} "
                f"(the {member_quantile:.0%} quantile) from their centroid, no closer than unrelated "
                f"words do ({background_quantile:.0%} of them are below {bg_level:.2f}); split it into "
                "narrower slots or add values that share a theme"
            ),
            rejected=tuple(ranked),
        )
    picked = [s for s in ranked if s.similarity >= threshold]
    if limit is not None:
        picked = picked[:limit]
    chosen = {s.value for s in picked}
    return SuggestionResult(
        suggestions=tuple(picked),
        diffuse=False,
        threshold=threshold,
        coherence=coherence,
        background=bg_level,
        reason=(
            f"{len(picked)} of {len(cands)} candidates sit closer to the values' centroid than "
            f"cosine {threshold:.2f}, where the values' spread (mean {coherence:.2f}) and unrelated "
            f"words' (up to {bg_level:.2f}) meet"
        ),
        rejected=tuple(s for s in ranked if s.value not in chosen),
    )
