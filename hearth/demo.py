"""The demo household: a day in the Riveras' home, replayed into the embedded store."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from kg.ingest import parse_lines
from reasoner.annotations import annotations, timeline_items
from reasoner.fixture_skills import attach_demo, demo_annotations, is_bookkeeping

from .household import Hearth
from .timeline import describe, print_timeline

DEMO_DAY = Path(__file__).with_name("data") / "demo_day.jsonl"
HOUSEHOLD = "rivera"


def run_demo(console: Console, household_dir: Path | None = None) -> Path:
    """Replays the built-in day into an embedded store and prints its timeline."""
    keep = household_dir is not None
    root = Path(household_dir) if keep else Path(tempfile.mkdtemp(prefix="hearth-demo-"))
    hearth = Hearth.open(root)
    if HOUSEHOLD in hearth.households():
        console.print(f"[yellow]{root} already holds the demo household; replaying into a "
                      "fresh one[/]")
        hearth.close()
        root = Path(tempfile.mkdtemp(prefix="hearth-demo-", dir=root.parent))
        hearth = Hearth.open(root)
    events, _ = parse_lines(DEMO_DAY.read_text().splitlines())
    home = hearth.create_household(HOUSEHOLD, name="The Riveras", time=events[0].time)
    attach_demo(home)  # films, restaurants and rides answer from a built-in demo fixture
    appended = [home.append(e) for e in events]  # one at a time, as a live home would

    console.print(Panel.fit(
        f"[bold]A day in the Riveras' home[/]\n{len(appended)} events replayed into the embedded "
        f"store at {root}", border_style="cyan"))
    notes = demo_annotations(home, annotations(home, describe=describe))
    items = [(s, e) for s, e in timeline_items(home) if not is_bookkeeping(e)]
    print_timeline(console, items, home.state, annotate=lambda seq, event: notes.get(seq, []))

    state = home.state
    lights_on = [d.name for d in state.devices.values()
                 if d.kind == "light" and state.device_state(d.id) == "on"]
    console.print()
    console.print("[bold]Now[/]")
    console.print(f"  home: {', '.join(state.name_of('person', p) for p in state.who_is_home())}")
    console.print(f"  lights on: {', '.join(lights_on) or 'none'}")
    console.print(f"  thermostat: {state.device_state('climate.thermostat', 'temperature')} °")
    n = home.query("SELECT (COUNT(*) AS ?n) WHERE { ?o a sosa:Observation }").scalar()
    console.print(f"  {n} sensor observations, {home.head} events in the log")
    hearth.close()
    if keep:
        console.print(f"\nThe graph is kept in {root}. Try:\n"
                      f"  hearth query --dir {root} --household {HOUSEHOLD} "
                      "'SELECT ?device ?value WHERE { ?d rdfs:label ?device ; "
                      "hearth:currentState [ hearth:attribute \"state\" ; hearth:value ?value ] }'")
    return root
