"""The demo day, reasoned over: leaving home, the pickup reminder and the porch-light hunch."""

from __future__ import annotations

import pytest

from hearth.demo import DEMO_DAY
from hearth import Hearth
from hearth.timeline import DESCRIBERS, describe
from kg import events as E
from kg.ingest import parse_lines
from reasoner.annotations import annotations, timeline_items
from reasoner.hunches import HunchRaised
from reasoner.patterns import ActivityInferred, SuggestionMade


@pytest.fixture(scope="module")
def demo_home():
    events, _ = parse_lines(DEMO_DAY.read_text().splitlines())
    home = Hearth.in_memory().create_household("rivera", name="The Riveras",
                                               time=events[0].time)
    for e in events:
        home.append(e)
    return home


def one(home, cls):
    (found,) = [(s, e) for s, e in home.events(types=[cls])]
    return found


def test_the_demo_day_shows_leaving_home(demo_home):
    seq, act = one(demo_home, ActivityInferred)
    assert (f"{act.start:%H:%M}", f"{act.end:%H:%M}") == ("09:04", "09:08")
    assert describe(act, demo_home.state) == "Inferred: leaving home (09:04–09:08)"
    (line,) = annotations(demo_home, describe=describe)[seq]
    assert "Thermostat set to 16 ° by Leo at 09:04" in line and "Garage Door opened" in line


def test_the_demo_day_shows_the_pickup_reminder(demo_home):
    (seq, s), = [(q, e) for q, e in demo_home.events(types=[SuggestionMade])
                 if e.kind == "reminder"]
    assert f"{s.time:%H:%M}" == "16:55" and "ends at 17:00" in s.text
    assert "Living Room TV turned on by Leo at 16:55" in annotations(demo_home, describe=describe)[seq][0]


def test_the_demo_day_shows_the_porch_light_hunch(demo_home):
    seq, h = one(demo_home, HunchRaised)
    assert h.device == "light.porch" and h.time.hour >= 22
    assert "Porch Light turned on by Maya at 19:05" in annotations(demo_home, describe=describe)[seq][0]
    assert HunchRaised in DESCRIBERS


def test_the_timeline_leaves_out_the_rules_bookkeeping(demo_home):
    kinds = {type(e) for _, e in timeline_items(demo_home)}
    assert E.FactInferred not in kinds and ActivityInferred in kinds
    assert set(annotations(demo_home, describe=describe)) <= {s for s, _ in timeline_items(demo_home)}


def test_the_demo_day_resolves_reading_mode(demo_home):
    found = [e for _, e in demo_home.events(types=[SuggestionMade]) if e.kind == "resolution"]
    assert found and all("reading mode" in e.text for e in found)
    assert any(e.intent and e.intent.startswith("lights.") for e in found)
