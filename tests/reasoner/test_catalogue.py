"""Catalogue value suggestions: close values are suggested, far ones are not, diffuse slots refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasoner.catalogue import suggest_values
from reasoner.errors import IntentDataError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "intents" / "catalogue_values.json"
SLOTS = json.loads(FIXTURE.read_text())


def test_a_slot_needs_two_values():
    with pytest.raises(IntentDataError, match="at least two"):
        suggest_values(["kitchen", "  "], ["attic"], encoder="minilm")


@pytest.mark.slow
@pytest.mark.parametrize("slot", ["fruit", "room"])
def test_close_values_are_suggested_and_far_ones_are_not(slot):
    s = SLOTS[slot]
    result = suggest_values(s["values"], s["candidates"])
    assert not result.diffuse
    assert set(result.values) == set(s["close"])
    assert {r.value for r in result.rejected} == set(s["far"])
    sims = [x.similarity for x in result.suggestions]
    assert sims == sorted(sims, reverse=True)
    assert all(x >= result.threshold for x in sims)
    assert result.threshold > result.background - 0.1


@pytest.mark.slow
def test_a_diffuse_slot_is_refused_with_a_reason():
    s = SLOTS["diffuse"]
    result = suggest_values(s["values"], s["candidates"])
    assert result.diffuse
    assert result.suggestions == ()
    assert "diffuse" in result.reason
    assert {r.value for r in result.rejected} == set(s["candidates"])


@pytest.mark.slow
def test_values_already_in_the_slot_are_not_suggested_again():
    s = SLOTS["fruit"]
    result = suggest_values(s["values"], ["Apple", "banana", "cherry"])
    assert result.values == ["cherry"]


@pytest.mark.slow
def test_limit_keeps_the_best_suggestions():
    s = SLOTS["room"]
    full = suggest_values(s["values"], s["candidates"])
    top = suggest_values(s["values"], s["candidates"], limit=2)
    assert top.values == full.values[:2]
