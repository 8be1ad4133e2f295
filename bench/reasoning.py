"""Reasoning benchmark: incremental rules on a 1M-triple household, and OWL 2 RL closures.

    python bench/reasoning.py --json

1. **Incremental rules.** A household of 1,000,000 observation triples (bench/store.py's
   generator: 1,000 temperature sensors over 30 days, 5 triples a reading, each reading its own
   event) plus named areas and devices, with the built-in rules (ontologies/rules/) attached.
   Then ``--events`` new events are ingested one at a time, a household's mix: readings (85%),
   device state changes (10%), utterances (3%) and new devices whose names match object kinds
   (2%, these derive facts). For each, the time the rules take for it is measured: the rules
   component's ``process`` and the appending of its conclusions, to a fixpoint
   (``Pipeline.run``), after the event itself was appended. The baseline, in the same run, is
   what incremental evaluation avoids: re-running every rule over the whole graph after an event.
   Keys: ``incremental_p50_ms``, ``incremental_p95_ms``, ``incremental_p99_ms``,
   ``incremental_p50_ms_by_type``, ``incremental_p95_ms_by_type``, ``events_by_type``,
   ``append_p95_ms`` (the event's own append, for scale),
   ``evaluations_per_event``, ``full_rerun_ms`` and ``ratio_full_vs_incremental_p95``.

2. **OWL 2 RL closure** of the household's ontology and data at ``--closure-triples`` (100,000)
   triples: ``closure_s`` is ``reasoner.owl.closure(home)`` (reading the graphs, converting
   terms, reasonable, converting back); ``reasonable_s`` is reasonable alone on the same triples
   (loaded from an N-Triples file), in the same run; ``ratio_vs_reasonable`` is their ratio;
   ``entailed_triples`` and ``entailed_triples_reasonable`` the numbers of entailed triples.
   owlrl takes about 6 minutes at 100,000 triples on this kind of machine (NOTES.md), so it runs
   at ``--owlrl-triples`` (10,000) unless ``--owlrl-full`` is given: ``owlrl_s`` and
   ``reasonable_s_small`` on the same small household, with the numbers of triples each entails
   about the household's own resources (``owlrl_household_entailed``,
   ``reasonable_household_entailed``: equal) and in all (owlrl also applies the schema rules and
   reflexive owl:sameAs that reasonable leaves out).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib.util
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_spec = importlib.util.spec_from_file_location("bench_store", ROOT / "bench" / "store.py")
bench_store = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_store)

START = bench_store.START
AREAS = ["Kitchen", "Living Room", "Hall", "Bedroom", "Bathroom", "Garage", "Office", "Lounge"]
NAMED = [("light", "Light"), ("light", "Lamp"), ("lock", "Front Door Lock"),
         ("garage_door", "Garage Door"), ("tv", "TV"), ("climate", "Thermostat"),
         ("switch", "Kettle"), ("switch", "Toaster"), ("fan", "Fan"), ("speaker", "Speaker")]


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(q / 100 * (len(values) - 1))))
    return values[k]


def build_household(hearth, name: str, n_obs: int, devices: int, days: int, *,
                    named_per_area: int = 3):
    """bench/store.py's sensor household, plus named areas and devices."""
    from kg import events as E
    home = hearth.create_household(name, time=START)
    setup = [E.AreaAdded(time=START, area=f"area{i}", name=AREAS[i % len(AREAS)])
             for i in range(25)]
    setup += [E.DeviceAdded(time=START, device=f"dev{d}", name=f"Device {d}",
                            kind="temperature_sensor", area=bench_store.area_of(d))
              for d in range(devices)]
    for i in range(25):
        for j in range(named_per_area):
            kind, label = NAMED[(i + j) % len(NAMED)]
            setup.append(E.DeviceAdded(time=START, device=f"named{i}_{j}",
                                       name=f"{AREAS[i % len(AREAS)]} {label}", kind=kind,
                                       area=f"area{i}"))
    home.append_many(setup)
    batch = []
    readings = bench_store.observations(n_obs, devices, days) if n_obs else ()
    for d, t, v in readings:
        batch.append(E.SensorObserved(time=t, sensor=f"dev{d}", property="temperature",
                                      value=v))
        if len(batch) == 10_000:
            home.append_many(batch)
            batch = []
    if batch:
        home.append_many(batch)
    return home


def workload(n: int, devices: int, seed: int = 11):
    """The ingested events: readings, state changes, utterances, new devices."""
    from kg import events as E
    rng = random.Random(seed)
    t = START + dt.timedelta(days=40)
    out = []
    for i in range(n):
        t += dt.timedelta(seconds=rng.randint(1, 30))
        r = rng.random()
        if r < 0.85:
            out.append(E.SensorObserved(time=t, sensor=f"dev{rng.randrange(devices)}",
                                        property="temperature", value=round(rng.gauss(21, 2), 2)))
        elif r < 0.95:
            a, j = rng.randrange(25), rng.randrange(3)
            out.append(E.DeviceStateChanged(time=t, device=f"named{a}_{j}",
                                            value=rng.choice(["on", "off"])))
        elif r < 0.98:
            out.append(E.UtteranceHeard(time=t, text="turn on the lights"))
        else:
            kind, label = NAMED[rng.randrange(len(NAMED))]
            a = rng.randrange(25)
            out.append(E.DeviceAdded(time=t, device=f"new{i}", kind=kind, area=f"area{a}",
                                     name=f"{AREAS[a % len(AREAS)]} {label} {i}"))
    return out


def bench_incremental(args) -> dict:
    from kg.household import Hearth
    from reasoner.pipeline import Pipeline
    from reasoner.rules import RulesEngine

    hearth = Hearth.open(Path(args.tmp) / "inc") if args.store == "disk" else Hearth.in_memory()
    n_obs = args.triples // 5
    t0 = time.perf_counter()
    home = build_household(hearth, "inc", n_obs, args.devices, args.days)
    build_s = time.perf_counter() - t0
    quads = sum(1 for _ in home.store.quads(None, None, None, None))
    log(f"household: {n_obs * 5} observation triples, {quads} quads, {home.head} events, "
        f"built in {build_s:.1f} s")
    engine = RulesEngine()
    pipeline = Pipeline([engine])
    t0 = time.perf_counter()
    pipeline.run(home, [home.append(workload(1, args.devices, seed=1)[0])])  # meets: sync
    sync_s = time.perf_counter() - t0
    log(f"rules met the household (one full evaluation, {engine.stats['derivations']} "
        f"derivations) in {sync_s:.2f} s")
    events = workload(args.events, args.devices)
    # warm up (caches, the first queries' plans)
    for e in workload(50, args.devices, seed=3):
        pipeline.run(home, [home.append(e)])
    evals0 = engine.stats["evaluations"]
    times, appends, by_type = [], [], {}
    conclusions = 0
    gc.disable()
    try:
        for e in events:
            t0 = time.perf_counter()
            a = home.append(e)
            t1 = time.perf_counter()
            added = pipeline.run(home, [a])
            t2 = time.perf_counter()
            conclusions += len(added)
            appends.append((t1 - t0) * 1000)
            times.append((t2 - t1) * 1000)
            by_type.setdefault(type(e).__name__, []).append((t2 - t1) * 1000)
    finally:
        gc.enable()
    evaluations = engine.stats["evaluations"] - evals0
    # the baseline: every rule over the whole graph, as a non-incremental engine would do
    full = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        for rule in engine.rules:
            engine._select(home, rule, {})
        full.append((time.perf_counter() - t0) * 1000)
    hearth.close()
    p95 = pct(times, 95)
    return {
        "household_triples": n_obs * 5, "household_quads": quads, "events_ingested": len(events),
        "incremental_p50_ms": round(pct(times, 50), 4), "incremental_p95_ms": round(p95, 4),
        "incremental_p99_ms": round(pct(times, 99), 3), "incremental_max_ms": round(max(times), 3),
        "incremental_p50_ms_by_type": {k: round(pct(v, 50), 3) for k, v in by_type.items()},
        "incremental_p95_ms_by_type": {k: round(pct(v, 95), 3) for k, v in by_type.items()},
        "events_by_type": {k: len(v) for k, v in by_type.items()},
        "append_p95_ms": round(pct(appends, 95), 3),
        "evaluations_per_event": round(evaluations / len(events), 3),
        "conclusions": conclusions, "rules": len(engine.rules),
        "full_rerun_ms": round(statistics.median(full), 2),
        "ratio_full_vs_incremental_p95": round(statistics.median(full) / p95, 1),
        "build_s": round(build_s, 1), "sync_s": round(sync_s, 2),
    }


def closure_household(hearth, name: str, target: int):
    """A household whose ontology and data hold about ``target`` triples."""
    from kg import events as E
    from reasoner.owl import household_triples
    devices = max(10, target // 2000)
    home = build_household(hearth, name, 0, devices, 1, named_per_area=2)
    rng = random.Random(5)
    people = [f"p{i}" for i in range(4)]
    home.append_many([E.PersonAdded(time=START, person=p, name=p.upper()) for p in people])
    t = START
    size = len(household_triples(home))
    while size < target:
        batch = []
        for _ in range(max(50, (target - size) // 12)):
            t += dt.timedelta(seconds=37)
            r = rng.random()
            if r < 0.6:
                batch.append(E.SensorObserved(time=t, sensor=f"dev{rng.randrange(devices)}",
                                              property="temperature", value=rng.randint(15, 25)))
            elif r < 0.85:
                batch.append(E.DeviceStateChanged(
                    time=t, device=f"named{rng.randrange(25)}_{rng.randrange(2)}",
                    value=rng.choice(["on", "off"])))
            elif r < 0.95:
                batch.append(E.UtteranceHeard(time=t, text="what's on", speaker=rng.choice(people)))
            else:
                p = rng.choice(people)
                batch.append(E.PersonArrived(time=t, person=p) if rng.random() < 0.5
                             else E.PersonLeft(time=t, person=p))
        home.append_many(batch)
        size = len(household_triples(home))
    return home


def raw_reasonable(triples, path: Path) -> tuple[float, int]:
    import pyoxigraph as ox
    import reasonable
    ox.serialize(triples, str(path), format=ox.RdfFormat.N_TRIPLES)
    t0 = time.perf_counter()
    r = reasonable.PyReasoner()
    r.load_file(str(path))
    out = r.reason()
    elapsed = time.perf_counter() - t0
    return elapsed, len(out) - len(triples)


def household_entailed(home, triples) -> int:
    base = home.ids.base
    thing = "http://www.w3.org/2002/07/owl#Thing"
    return sum(1 for t in triples if t.subject.value.startswith(base)
               and getattr(t.object, "value", None) != thing
               and not (t.predicate.value.endswith("#sameAs") and t.subject == t.object))


def bench_closure(args) -> dict:
    from kg.household import Hearth
    from reasoner.owl import closure, household_triples, reason

    hearth = Hearth.in_memory()
    home = closure_household(hearth, "big", args.closure_triples)
    triples = household_triples(home)
    log(f"closure household: {len(triples)} triples ({home.head} events)")
    mine, raw, entailed = [], [], None
    for rep in range(args.closure_reps):  # alternate, so the machine's noise hits both
        t0 = time.perf_counter()
        c = closure(home)
        mine.append(time.perf_counter() - t0)
        entailed = len(c) - len(triples)
        del c
        s, raw_entailed = raw_reasonable(triples, Path(args.tmp) / "big.ttl")
        raw.append(s)
        log(f"  closure {mine[-1]:.2f} s, reasonable alone {raw[-1]:.2f} s")
    out = {"closure_triples": len(triples), "closure_s": round(statistics.median(mine), 3),
           "reasonable_s": round(statistics.median(raw), 3),
           "ratio_vs_reasonable": round(statistics.median(mine) / statistics.median(raw), 3),
           "entailed_triples": entailed, "entailed_triples_reasonable": raw_entailed}
    # owlrl on a household of its size (or the same one with --owlrl-full)
    small_home = home if args.owlrl_full else closure_household(hearth, "small",
                                                                args.owlrl_triples)
    small = household_triples(small_home)
    t0 = time.perf_counter()
    by_owlrl = reason(small, engine="owlrl")
    owlrl_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    by_reasonable = reason(small, engine="reasonable")
    closure_small_s = time.perf_counter() - t0
    raw_small_s, _ = raw_reasonable(small, Path(args.tmp) / "small.ttl")
    out.update({
        "owlrl_triples": len(small), "owlrl_s": round(owlrl_s, 2),
        "reasonable_s_small": round(raw_small_s, 3), "closure_s_small": round(closure_small_s, 3),
        "ratio_owlrl_vs_reasonable": round(owlrl_s / raw_small_s, 1),
        "owlrl_entailed": len(by_owlrl), "reasonable_entailed_small": len(by_reasonable),
        "owlrl_household_entailed": household_entailed(small_home, by_owlrl),
        "reasonable_household_entailed": household_entailed(small_home, by_reasonable),
    })
    hearth.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--triples", type=int, default=1_000_000,
                   help="observation triples of the rules household (5 per reading)")
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--events", type=int, default=2000, help="events ingested and timed")
    p.add_argument("--reps", type=int, default=3, help="repetitions of the full re-run baseline")
    p.add_argument("--store", choices=["memory", "disk"], default="memory")
    p.add_argument("--closure-triples", type=int, default=100_000)
    p.add_argument("--closure-reps", type=int, default=3)
    p.add_argument("--owlrl-triples", type=int, default=10_000)
    p.add_argument("--owlrl-full", action="store_true",
                   help="run owlrl on the --closure-triples household too (minutes)")
    p.add_argument("--skip-rules", action="store_true")
    p.add_argument("--skip-closure", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="hearth-reasoning-") as tmp:
        args.tmp = tmp
        if not args.skip_rules:
            result.update(bench_incremental(args))
            log("rules:", {k: v for k, v in result.items()})
        if not args.skip_closure:
            result.update(bench_closure(args))
    if not args.json:
        for k, v in result.items():
            print(f"{k:34} {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
