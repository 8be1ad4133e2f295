"""Per-turn dialogue update latency: understanding + dialogue state + carryover + goal ranking, on
scripted multi-skill conversations, beside understanding alone in the same run.

    python bench/dialogue.py [--rounds 5] [--threads 1] [--json]

Each round replays the conversations below (weather then the drive, a night out with a film,
dinner, a ride and a change of showing, a restaurant then a ride …) into a fresh in-memory
household holding the demo day's home, with the pipeline ``understanding`` → ``dialogue`` (the
demo's fixture answering, so turns carry, infer and revise values) → ``goals``. A warm-up round
first loads the models; each timed round clears the encoder's sentence cache, so every utterance
is encoded afresh. Attaching the pipeline prepares each household (``Pipeline.prepare``: its
gazetteer and slot rules, ~0.1 s), as opening a household does, so that is not a turn's cost.

* ``turn_p50_ms``/``turn_p95_ms``: one user turn's update: the time the three components spend
  in ``process`` over every round of the pipeline that turn wakes (understanding, the dialogue's
  turn, carried and inferred values, the skill's answer, propagated revisions, the goal ranking
  and its offer). The target is p95 ≤ 20 ms on 2 cores.
* ``baseline_p50_ms``/``baseline_p95_ms``: understanding alone, on the same turns (its share of
  the same runs); ``p95_ratio``: turn / baseline.
* ``dialogue_p95_ms``: the dialogue and goals components alone (the update beyond understanding).
* ``turn_with_log_p95_ms``: the whole append of the utterance, with every event the turn
  concludes written to the store (shape checks, the transaction).
* ``carryover_model``/``transition_model``: whether the learned models were found (see
  ``reasoner.dialogue.load_carryover_model`` and ``reasoner.goals.load_transition_model``; pass
  ``--carryover-model``/``--transition-model``); ``events_per_turn``; ``offers``.

With ``--json`` the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (start, [utterances]): one conversation each, a minute between turns
CONVERSATIONS = (
    ("08:40", ["what's the weather at Half Moon Bay", "how long will it take to drive there"]),
    ("18:30", ["what's on at Rolling Hills Cine Plaza tonight",
               "book two tickets for the 7 pm showing", "find a restaurant nearby",
               "book a table there", "get us a ride there",
               "get tickets for the 8:30 showing instead"]),
    ("12:10", ["find an italian restaurant near Rolling Hills Cine Plaza",
               "book a table for four at Osteria Nina at 7:30 pm", "get me a taxi to Osteria Nina"]),
    ("09:15", ["will it rain in Half Moon Bay tomorrow", "give me directions to Half Moon Bay",
               "what's on at the cinema this weekend"]),
    ("17:05", ["showtimes at Rolling Hills Cine Plaza", "get tickets for the 8:30 showing",
               "I need a ride to Rolling Hills Cine Plaza"]),
    ("07:30", ["what's the weather like in Rolling Hills Park", "how long is the drive to "
               "Rolling Hills Park", "what's on the calendar today"]),
)


def _pct(values: list[float], q: float) -> float:
    import numpy as np
    return round(float(np.percentile(values, q)), 2)


class Timed:
    """Wraps a component: adds up the time its ``process`` takes into ``clock[name]``."""

    def __init__(self, component, clock: dict[str, float]):
        self.component = component
        self.clock = clock
        self.name = component.name
        self.consumes = component.consumes
        self.produces = component.produces

    def prepare(self, home):  # not timed: done once when a household's pipeline is attached
        prepare = getattr(self.component, "prepare", None)
        if prepare is not None:
            prepare(home)

    def process(self, home, appended):
        started = time.perf_counter()
        try:
            return self.component.process(home, appended)
        finally:
            self.clock[self.name] = self.clock.get(self.name, 0.0) + time.perf_counter() - started


def build(events, components, clock):
    from kg.household import Hearth
    from reasoner.pipeline import Pipeline
    home = Hearth.in_memory().create_household("bench", name="Demo", time=events[0].time)
    home.append_many(events)
    Pipeline([Timed(c, clock) for c in components]).attach(home)
    return home


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: one short sentence gains little from more, and on a "
                        "shared 2-core machine a second thread mostly waits for the other jobs)")
    p.add_argument("--carryover-model", help="a saved CarryoverModel folder (default: search)")
    p.add_argument("--transition-model", help="a saved TransitionModel file (default: search)")
    p.add_argument("--json", action="store_true", help="print one JSON object last")
    args = p.parse_args()

    from hearth.demo import DEMO_DAY
    from kg import events as E
    from kg.ingest import parse_lines
    from reasoner.dialogue import Carryover, DialogueComponent, load_carryover_model
    from reasoner.fixture_skills import FixtureSkills
    from reasoner.goals import GoalsComponent, load_transition_model
    from reasoner.understanding import UnderstandingComponent, default_understander

    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    events, _ = parse_lines(DEMO_DAY.read_text().splitlines())
    events = [e for e in events if not isinstance(e, E.UtteranceHeard)]
    day = events[-1].time.date()
    tz = events[0].time.tzinfo
    carry_model = load_carryover_model(args.carryover_model)
    transitions = load_transition_model(args.transition_model)
    carryover = Carryover(model=carry_model)
    if transitions is not None:  # embed the skills' descriptions once, not in every round
        from reasoner.dialogue import default_spec, service_schemas
        transitions.register_schemas(list(service_schemas(default_spec()).values()))
    skills = FixtureSkills.load()
    understander = default_understander()

    def components():
        import copy
        return [UnderstandingComponent(understander),
                DialogueComponent(carryover=carryover, responder=skills),
                GoalsComponent(transitions=copy.deepcopy(transitions))]

    def run(record: bool):
        clock: dict[str, float] = {}
        home = build(events, components(), clock)
        out = []
        for n, (start, utterances) in enumerate(CONVERSATIONS):
            h, m = map(int, start.split(":"))
            for i, text in enumerate(utterances):
                when = dt.datetime(day.year, day.month, day.day, h, m, tzinfo=tz) + \
                    dt.timedelta(minutes=i)
                clock.clear()
                before = home.head
                started = time.perf_counter()
                home.append(E.UtteranceHeard(time=when, text=text, speaker="maya",
                                             session=f"c{n}"))
                wall = (time.perf_counter() - started) * 1000
                if record:
                    out.append({k: v * 1000 for k, v in clock.items()} |
                               {"wall": wall, "events": home.head - before})
        offers = sum(1 for _, e in home.events(start=1) if e.type_name() == "SuggestionMade"
                     and e.agent() == "component:goals")
        return out, offers

    run(record=False)                       # warm-up: models, classifier, caches
    encoder = understander.encoder
    clear = getattr(getattr(encoder, "cache", None), "clear", lambda: None)
    turns, offers = [], 0
    for _ in range(args.rounds):
        clear()
        got, offers = run(record=True)
        turns += got
    turn_ms = [t.get("understanding", 0) + t.get("dialogue", 0) + t.get("goals", 0) for t in turns]
    base_ms = [t.get("understanding", 0) for t in turns]
    dia_ms = [t.get("dialogue", 0) + t.get("goals", 0) for t in turns]
    wall_ms = [t["wall"] for t in turns]
    try:
        import torch
        threads = torch.get_num_threads()
    except ImportError:
        threads = os.cpu_count()
    result = {
        "turn_p50_ms": _pct(turn_ms, 50), "turn_p95_ms": _pct(turn_ms, 95),
        "baseline_p50_ms": _pct(base_ms, 50), "baseline_p95_ms": _pct(base_ms, 95),
        "p95_ratio": round(_pct(turn_ms, 95) / max(_pct(base_ms, 95), 1e-9), 2),
        "dialogue_p50_ms": _pct(dia_ms, 50), "dialogue_p95_ms": _pct(dia_ms, 95),
        "turn_with_log_p50_ms": _pct(wall_ms, 50), "turn_with_log_p95_ms": _pct(wall_ms, 95),
        "turns": len(turns) // args.rounds, "rounds": args.rounds,
        "events_per_turn": round(sum(t["events"] for t in turns) / len(turns), 1),
        "offers": offers, "carryover_model": carry_model is not None,
        "transition_model": transitions is not None, "threads": threads,
    }
    print(f"turn update p95 {result['turn_p95_ms']} ms (p50 {result['turn_p50_ms']}) vs "
          f"understanding alone p95 {result['baseline_p95_ms']} ms: ratio {result['p95_ratio']}; "
          f"dialogue + goals p95 {result['dialogue_p95_ms']} ms; with the log written p95 "
          f"{result['turn_with_log_p95_ms']} ms")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
