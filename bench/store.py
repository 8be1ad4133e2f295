"""Store benchmark: a generated household through hearth's event log, against raw pyoxigraph and
rdflib's in-memory graph on the same data, measured in the same run.

    python bench/store.py --triples 1000000 --json

The household: SOSA observations of 1,000 devices over 30 days (5 triples each), plus each device's
type, label and area. Hearth writes them as events (one named graph per observation, with
provenance, validated against the shapes); the baselines load the bare triples. Each system runs
in its own process; raw pyoxigraph runs in hearth's process after ``rss_mb`` (hearth's own peak
resident memory) is read, and its queries alternate with hearth's so that the machine's noise
hits both alike.

Keys: ingest_events_per_s (single events appended one at a time through the log, each validated,
numbered and acknowledged on its own: durable in the store's write-ahead log when `append`
returns, in RocksDB by the end of the timing), batch_ingest_events_per_s (the same through
`append_many`, 10,000 events at a time, all or nothing, as `hearth ingest` does),
load_triples_per_s (payload triples a second while writing the
household), q_latest_ms, q_window_avg_ms, q_join_ms (medians), ratio_vs_oxigraph and
ratio_vs_rdflib (hearth time / baseline time for each query), rss_mb. ratio_vs_oxigraph compares
with raw pyoxigraph holding the bare SOSA triples in its default graph; ratio_vs_oxigraph_same_quads
with raw pyoxigraph holding hearth's own dataset (one named graph per event, with provenance), so
the two together separate what hearth's layer costs from what the event layout costs.
compaction_wait_s: how long the background compaction that the single appends started (kg.log)
still ran after the last append; the queries are measured once it is done (the steady state).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SOSA = "http://www.w3.org/ns/sosa/"
HEARTH = "https://w3id.org/hearth#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
PROP = "https://w3id.org/hearth/property/"
BASE = "urn:hearth:bench:"
START = dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc)
PREFIXES = f"PREFIX sosa: <{SOSA}>\nPREFIX hearth: <{HEARTH}>\nPREFIX xsd: <{XSD}>\n"

# The three queries. Hearth binds ?s, ?start, ?end as parameters; the baselines get the same
# values written into the text (they have no safe binding, and are not given user input).
Q_LATEST = """SELECT ?v ?t WHERE { ?o sosa:madeBySensor ?s ; sosa:resultTime ?t ;
    sosa:hasSimpleResult ?v } ORDER BY DESC(?t) LIMIT 1"""
Q_WINDOW = """SELECT ?s (AVG(?v) AS ?avg) WHERE { ?o sosa:madeBySensor ?s ; sosa:resultTime ?t ;
    sosa:hasSimpleResult ?v FILTER(?t >= ?start && ?t < ?end) } GROUP BY ?s"""
Q_JOIN = """SELECT ?a (COUNT(?o) AS ?n) (MAX(?v) AS ?max) WHERE { ?o sosa:madeBySensor ?s ;
    sosa:hasSimpleResult ?v . ?s hearth:inArea ?a FILTER(?v > 24.0) } GROUP BY ?a"""


def observations(n_obs: int, devices: int, days: int, seed: int = 7):
    """(device index, time, value) for n_obs readings spread evenly over the devices and days."""
    rng = random.Random(seed)
    per_device = n_obs // devices
    step = days * 86400 / per_device
    for k in range(per_device):
        for d in range(devices):
            t = START + dt.timedelta(seconds=k * step + (d * 7) % step)
            yield d, t, round(rng.gauss(21.0, 2.0), 2)


def device_iri(d: int) -> str:
    return f"{BASE}device:dev{d}"


def area_of(d: int) -> str:
    return f"area{d % 25}"


def write_ntriples(path: Path, n_obs: int, devices: int, days: int) -> int:
    count = 0
    with open(path, "w") as out:
        for d in range(devices):
            s = device_iri(d)
            out.write(f"<{s}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{HEARTH}TemperatureSensor> .\n"
                      f"<{s}> <{RDFS}label> \"Device {d}\" .\n"
                      f"<{s}> <{HEARTH}inArea> <{BASE}area:{area_of(d)}> .\n")
            count += 3
        for i, (d, t, v) in enumerate(observations(n_obs, devices, days)):
            o = f"<{BASE}obs:{i}>"
            ts = t.isoformat().replace("+00:00", "Z")
            out.write(f"{o} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{SOSA}Observation> .\n"
                      f"{o} <{SOSA}madeBySensor> <{device_iri(d)}> .\n"
                      f"{o} <{SOSA}observedProperty> <{PROP}temperature> .\n"
                      f"{o} <{SOSA}hasSimpleResult> \"{v}\"^^<{XSD}double> .\n"
                      f"{o} <{SOSA}resultTime> \"{ts}\"^^<{XSD}dateTime> .\n")
            count += 5
    return count


def query_params(rep: int, devices: int, days: int):
    day = START + dt.timedelta(days=(rep * 7) % days)
    return {"s": device_iri((rep * 37) % devices), "start": day, "end": day + dt.timedelta(days=1)}


def inline(query: str, params: dict) -> str:
    out = query
    out = out.replace("?s ;", f"<{params['s']}> ;") if "LIMIT 1" in query else out
    for k in ("start", "end"):
        ts = params[k].isoformat().replace("+00:00", "Z")
        out = out.replace(f"?{k}", f"\"{ts}\"^^xsd:dateTime")
    return PREFIXES + out


def timed(fn, reps: int) -> float:
    times = []
    for rep in range(reps):
        t = time.perf_counter()
        fn(rep)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- workers (each in its own process) -----------------------------------------------------------
def worker_rdflib(args) -> dict:
    from rdflib import Graph
    g = Graph()
    t = time.perf_counter()
    g.parse(args.data, format="nt")
    load_s = time.perf_counter() - t

    def run(q):
        def go(rep):
            list(g.query(inline(q, query_params(rep, args.devices, args.days))))
        return go
    reps = max(1, args.reps // 3)
    return {"load_s": load_s, "q_latest_ms": timed(run(Q_LATEST), reps * 3),
            "q_window_avg_ms": timed(run(Q_WINDOW), reps), "q_join_ms": timed(run(Q_JOIN), reps),
            "rss_mb": rss_mb()}


def worker_hearth(args) -> dict:
    """Builds the household through hearth, then measures its queries interleaved with raw
    pyoxigraph's on the same triples (loaded in this process after hearth's memory was read, so
    the machine's noise hits both alike)."""
    import pyoxigraph as ox
    from pyoxigraph import NamedNode
    from kg import events as E
    from kg.household import Hearth

    hearth = Hearth.open(args.location) if args.location else Hearth.in_memory()
    home = hearth.create_household("bench", time=START)
    home.append_many([E.DeviceAdded(time=START, device=f"dev{d}", name=f"Device {d}",
                                    kind="temperature_sensor", area=area_of(d))
                      for d in range(args.devices)])

    def event(d, t, v):
        return E.SensorObserved(time=t, sensor=f"dev{d}", property="temperature", value=v)

    # the household, through append_many (10,000 events at a time, as `hearth ingest` does)
    t = time.perf_counter()
    batch, written = [], 0
    for d, ts, v in observations(args.obs, args.devices, args.days):
        batch.append(event(d, ts, v))
        if len(batch) == 10_000:
            home.append_many(batch)
            written += len(batch)
            batch = []
    if batch:
        home.append_many(batch)
        written += len(batch)
    home.optimize()  # as `hearth ingest` does after a large ingest
    load_s = time.perf_counter() - t
    # single events, each validated, numbered and acknowledged on its own (kg.store's log)
    extra = [event(d, ts + dt.timedelta(days=args.days), v)
             for d, ts, v in observations(args.single, args.devices, 1, seed=99)]
    t = time.perf_counter()
    for e in extra:
        home.append(e)
    apply = getattr(home.store, "apply_pending", None)
    if apply is not None:  # the last appends are acknowledged (in the log): time them into RocksDB
        apply()
    single_s = time.perf_counter() - t
    # the single appends started a background compaction (kg.log): queries are measured in the
    # steady state, once it is done; how long that took after the last append is reported
    t = time.perf_counter()
    wait = getattr(home.store, "wait_compacted", None)
    if wait is not None:
        wait()
    compaction_wait_s = time.perf_counter() - t
    home.query(Q_WINDOW, {"start": START, "end": START + dt.timedelta(days=1)})  # warm up
    hearth_rss = rss_mb()

    # the baseline: the bare triples in raw pyoxigraph, same storage mode
    raw = ox.Store(args.location + "-baseline") if args.location else ox.Store()
    t = time.perf_counter()
    if args.location:
        raw.bulk_load(path=args.data, format=ox.RdfFormat.N_TRIPLES)
    else:
        raw.load(path=args.data, format=ox.RdfFormat.N_TRIPLES)
    raw_load_s = time.perf_counter() - t
    list(raw.query(inline(Q_WINDOW, query_params(0, args.devices, args.days))))  # warm up
    # and raw pyoxigraph holding hearth's own quads (events as named graphs, with provenance):
    # what the same data costs without hearth's layer on top
    dump = (args.location + "-dump.nq") if args.location else None
    same = ox.Store(args.location + "-same") if args.location else ox.Store()
    if dump:
        home.store.raw.dump(dump, format=ox.RdfFormat.N_QUADS)
        same.bulk_load(path=dump, format=ox.RdfFormat.N_QUADS)
        same.optimize()
    else:
        same.extend(home.store.raw.quads_for_pattern(None, None, None, None))

    def hearth_query(q, rep):
        p = query_params(rep, args.devices, args.days)
        bindings = {}
        if "?start" in q:
            bindings = {"start": p["start"], "end": p["end"]}
        if "LIMIT 1" in q:
            bindings = {"s": NamedNode(p["s"].replace(BASE, home.ids.base))}
        return len(home.query(q, bindings))

    def raw_query(q, rep):
        return len(list(raw.query(inline(q, query_params(rep, args.devices, args.days)))))

    def same_query(q, rep):
        text = inline(q, query_params(rep, args.devices, args.days)).replace(BASE, home.ids.base)
        return len(list(same.query(text, use_default_graph_as_union=True)))

    out = {"load_s": load_s, "events": written, "single_s": single_s, "rss_mb": hearth_rss,
           "compaction_wait_s": compaction_wait_s,
           "head": home.head, "baseline": {"load_s": raw_load_s}, "same_layout": {}}
    for key, q, reps in (("q_latest_ms", Q_LATEST, args.reps * 20),
                         ("q_window_avg_ms", Q_WINDOW, args.reps),
                         ("q_join_ms", Q_JOIN, args.reps)):
        h_times, r_times, s_times = [], [], []
        for rep in range(reps):
            counts = []
            for fn, times in ((hearth_query, h_times), (raw_query, r_times),
                              (same_query, s_times)):
                t = time.perf_counter()
                counts.append(fn(q, rep))
                times.append((time.perf_counter() - t) * 1000)
            if len(set(counts)) != 1:
                raise SystemExit(f"{key}: hearth, pyoxigraph and pyoxigraph on hearth's quads "
                                 f"found {counts} rows")
        out[key] = statistics.median(h_times)
        out["baseline"][key] = statistics.median(r_times)
        out["same_layout"][key] = statistics.median(s_times)
    hearth.close()
    return out


def spawn(worker: str, args, **extra) -> dict:
    cmd = [sys.executable, __file__, "--worker", worker, "--data", str(args.data),
           "--devices", str(args.devices), "--days", str(args.days), "--reps", str(args.reps),
           "--obs", str(args.obs), "--single", str(args.single)]
    if extra.get("location"):
        cmd += ["--location", str(extra["location"])]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{worker} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--triples", type=int, default=1_000_000, help="observation triples (5 per reading)")
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--reps", type=int, default=5, help="repetitions of the slow queries")
    p.add_argument("--single", type=int, default=20_000, help="events appended one at a time")
    p.add_argument("--store", choices=["disk", "memory"], default="disk",
                   help="hearth's embedded store on disk (the default) or in memory; the "
                        "pyoxigraph baseline uses the same")
    p.add_argument("--skip-rdflib", action="store_true", help="rdflib takes minutes at 1M triples")
    p.add_argument("--json", action="store_true")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--location", help=argparse.SUPPRESS)
    p.add_argument("--obs", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        result = {"rdflib": worker_rdflib,
                  "hearth": worker_hearth}[args.worker](args)
        print(json.dumps(result))
        return

    args.obs = args.triples // 5
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
        tmp = Path(tmp)
        args.data = tmp / "household.nt"
        n_triples = write_ntriples(args.data, args.obs, args.devices, args.days)
        disk = args.store == "disk"
        log = (lambda *a: print(*a, file=sys.stderr, flush=True))
        log(f"{n_triples} triples ({args.obs} observations of {args.devices} devices over "
            f"{args.days} days); store: {args.store}")
        hearth = spawn("hearth", args, location=tmp / "hearth" if disk else None)
        ox = hearth.pop("baseline")
        same = hearth.pop("same_layout")
        log("hearth", hearth)
        log("pyoxigraph", ox)
        rdf = None if args.skip_rdflib else spawn("rdflib", args)
        if rdf:
            log("rdflib", rdf)

    keys = ("q_latest_ms", "q_window_avg_ms", "q_join_ms")
    result = {
        "triples": n_triples, "store": args.store, "events": hearth["head"],
        "ingest_events_per_s": round(args.single / hearth["single_s"]),
        "batch_ingest_events_per_s": round(hearth["events"] / hearth["load_s"]),
        "load_triples_per_s": round(hearth["events"] * 5 / hearth["load_s"]),
        "compaction_wait_s": round(hearth["compaction_wait_s"], 2),
        **{k: round(hearth[k], 3) for k in keys},
        "ratio_vs_oxigraph": {k: round(hearth[k] / ox[k], 3) for k in keys},
        "ratio_vs_oxigraph_same_quads": {k: round(hearth[k] / same[k], 3) for k in keys},
        "ratio_vs_rdflib": ({k: round(hearth[k] / rdf[k], 4) for k in keys} if rdf else None),
        "rss_mb": round(hearth["rss_mb"], 1),
        "baseline_oxigraph": {**{k: round(ox[k], 3) for k in keys},
                              "load_triples_per_s": round(n_triples / ox["load_s"]),
                              },
        "baseline_rdflib": ({**{k: round(rdf[k], 3) for k in keys},
                             "load_triples_per_s": round(n_triples / rdf["load_s"])}
                            if rdf else None),
    }
    if not args.json:
        for k, v in result.items():
            print(f"{k:28} {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
