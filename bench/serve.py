"""HTTP benchmark: `hearth serve` under a mixed load of SPARQL queries and utterances, against the
raw Oxigraph server on the same data and the same SPARQL load, measured in the same run.

    python bench/serve.py --json

A generated household (30 devices in 6 areas, 2 people, a day of state changes and sensor readings)
is written through hearth's event log; its whole dataset is copied into a plain Oxigraph store.
Both servers run as processes of their own on 127.0.0.1 (Oxigraph with --union-default-graph, so
the same query text works on both); this process is the client, with a few threads on keep-alive
connections. hearth serves with ``--no-reasoner``: this measures the server and the store (an
utterance is appended and answered, no model runs); a turn's reasoning is ``bench/dialogue.py``'s.

Phases: the mixed load on hearth (3 SPARQL queries in 4 are one of four assistant-style queries,
1 in 4 is an utterance, which appends an event); then the SPARQL-only load, alternating short
rounds between hearth and Oxigraph so that the machine's noise hits both alike.

Keys: requests_per_s and p95_ms (the mixed load on hearth), utterance_p95_ms, errors (every
non-2xx answer or failed request on hearth, in all phases), sparql_requests_per_s and
sparql_p95_ms (hearth, SPARQL only), oxigraph_requests_per_s, oxigraph_p95_ms, oxigraph_errors,
ratio_vs_oxigraph_server (hearth's SPARQL requests a second / Oxigraph's: below 1 is slower).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PREFIXES = ("PREFIX hearth: <https://w3id.org/hearth#>\n"
            "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
            "PREFIX sosa: <http://www.w3.org/ns/sosa/>\n")
HOUSEHOLD = "bench"
AREAS = ["kitchen", "living_room", "bedroom", "bathroom", "hall", "office"]
START = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.timezone.utc)
UTTERANCES = ["turn on the kitchen light", "is anyone home", "set the heating to 21",
              "what's the temperature in the office", "switch off all the lights",
              "good night", "open the blinds in the bedroom"]


def _q_device_state(rng) -> str:
    return (PREFIXES + 'SELECT ?v ?since WHERE { ?d rdfs:label "%s" ; hearth:currentState ?s . '
            '?s hearth:attribute "state" ; hearth:value ?v ; hearth:since ?since }'
            % f"Light {rng.randrange(12)}")


def _q_who_is_home(rng) -> str:
    return PREFIXES + "SELECT ?name WHERE { ?p hearth:isHome true ; rdfs:label ?name }"


def _q_latest_readings(rng) -> str:
    sensor = f"urn:hearth:{HOUSEHOLD}:device:sensor.t{rng.randrange(6)}"
    return (PREFIXES + f"SELECT ?v ?t WHERE {{ ?o sosa:madeBySensor <{sensor}> ; "
            "sosa:resultTime ?t ; sosa:hasSimpleResult ?v } ORDER BY DESC(?t) LIMIT 5")


def _q_lights_on_by_area(rng) -> str:
    return (PREFIXES + "SELECT ?area (COUNT(?d) AS ?n) WHERE { ?d hearth:inArea ?area ; "
            'hearth:currentState ?s . ?s hearth:attribute "state" ; hearth:value "on" } '
            "GROUP BY ?area")


QUERIES = [_q_device_state, _q_who_is_home, _q_latest_readings, _q_lights_on_by_area]


def household_events(n_changes: int, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    t = START.isoformat().replace("+00:00", "Z")
    events = [{"type": "AreaAdded", "time": t, "area": a, "name": a.replace("_", " ").title()}
              for a in AREAS]
    events += [{"type": "DeviceAdded", "time": t, "device": f"light.l{i}", "name": f"Light {i}",
                "kind": "light", "area": AREAS[i % len(AREAS)]} for i in range(12)]
    events += [{"type": "DeviceAdded", "time": t, "device": f"switch.s{i}", "name": f"Switch {i}",
                "kind": "switch", "area": AREAS[i % len(AREAS)]} for i in range(12)]
    events += [{"type": "DeviceAdded", "time": t, "device": f"sensor.t{i}",
                "name": f"Thermometer {i}", "kind": "temperature_sensor", "area": AREAS[i]}
               for i in range(6)]
    events += [{"type": "PersonAdded", "time": t, "person": p, "name": p.title()}
               for p in ("ann", "bo")]
    events.append({"type": "PersonArrived", "time": t, "person": "ann"})
    for k in range(n_changes):
        when = (START + dt.timedelta(seconds=20 * k)).isoformat().replace("+00:00", "Z")
        if k % 2:
            events.append({"type": "SensorObserved", "time": when,
                           "sensor": f"sensor.t{(k // 2) % 6}",
                           "property": "temperature", "value": round(rng.uniform(17, 24), 1),
                           "unit": "°C"})
        else:
            kind = "light.l" if k % 4 else "switch.s"
            events.append({"type": "DeviceStateChanged", "time": when,
                           "device": f"{kind}{rng.randrange(12)}",
                           "value": rng.choice(["on", "off"])})
    return events


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(port: int, proc: subprocess.Popen, path: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server on port {port} did not start "
                                 f"(exit code {proc.poll()})")
            time.sleep(0.1)


class Target:
    """One server and how to send it a SPARQL query or an utterance."""

    def __init__(self, name: str, port: int, sparql_path: str, token: str | None = None):
        self.name, self.port, self.sparql_path, self.token = name, port, sparql_path, token

    def headers(self) -> dict:
        h = {"Accept": "application/sparql-results+json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h


def _client(target: Target, stop_at: float, utterance_share: float, seed: int,
            out: dict) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
    headers = target.headers()
    while time.monotonic() < stop_at:
        utter = rng.random() < utterance_share
        if utter:
            body = json.dumps({"text": rng.choice(UTTERANCES), "speaker": "ann"})
            method, path = "POST", f"/households/{HOUSEHOLD}/utterances"
            req_headers = {**headers, "Content-Type": "application/json",
                           "Accept": "application/json"}
        else:
            query = rng.choice(QUERIES)(rng)
            method, path, body = "GET", target.sparql_path + "?" + urlencode({"query": query}), None
            req_headers = headers
        t0 = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=req_headers)
            response = conn.getresponse()
            payload = response.read()
            ok = 200 <= response.status < 300
            if ok and not utter and b'"bindings"' not in payload:
                ok = False
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
        ms = (time.perf_counter() - t0) * 1000
        (out["utter_ms"] if utter else out["sparql_ms"]).append(ms)
        if not ok:
            out["errors"] += 1
    conn.close()


def run_load(target: Target, seconds: float, *, clients: int, utterance_share: float,
             seed: int) -> dict:
    out = {"sparql_ms": [], "utter_ms": [], "errors": 0}
    per = [{"sparql_ms": [], "utter_ms": [], "errors": 0} for _ in range(clients)]
    stop_at = time.monotonic() + seconds
    threads = [threading.Thread(target=_client, args=(target, stop_at, utterance_share,
                                                      seed * 100 + i, per[i]))
               for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    for p in per:
        out["sparql_ms"] += p["sparql_ms"]
        out["utter_ms"] += p["utter_ms"]
        out["errors"] += p["errors"]
    out["elapsed"] = elapsed
    return out


def p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="Print one JSON object as the last line.")
    p.add_argument("--events", type=int, default=3000, help="State changes and readings.")
    p.add_argument("--clients", type=int, default=4, help="Client threads.")
    p.add_argument("--mixed-s", type=float, default=12.0, help="Seconds of mixed load.")
    p.add_argument("--sparql-s", type=float, default=20.0,
                   help="Seconds of SPARQL-only load, shared by the two servers.")
    args = p.parse_args()
    log = (lambda *a: print(*a, file=sys.stderr, flush=True))

    from hearth.server import TokenStore
    from kg.household import Hearth

    tmp = Path(tempfile.mkdtemp(prefix="hearth-bench-serve-"))
    procs: list[subprocess.Popen] = []
    try:
        root = tmp / "hearth"
        with Hearth.open(root) as hearth:
            home = hearth.create_household(HOUSEHOLD, name="Bench home",
                                           time=START.isoformat())
            home.append_many(household_events(args.events))
            data = home.export(format="nq")
            n_events = home.head
        import pyoxigraph as ox
        baseline = ox.Store(str(tmp / "oxigraph"))
        baseline.load(data, format=ox.RdfFormat.N_QUADS)
        baseline.flush()
        n_quads = len(baseline)
        del baseline
        token, _ = TokenStore(root / "tokens.json").create(HOUSEHOLD, "write", label="bench")
        log(f"household: {n_events} events, {n_quads} quads")

        hearth_port, oxigraph_port = _free_port(), _free_port()
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "hearth.server", "--dir", str(root), "--port",
             str(hearth_port), "--no-access-log", "--query-workers", "4", "--no-reasoner"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        oxigraph = shutil.which("oxigraph") or str(Path(sys.executable).with_name("oxigraph"))
        procs.append(subprocess.Popen(
            [oxigraph, "serve", "--location", str(tmp / "oxigraph"), "--bind",
             f"127.0.0.1:{oxigraph_port}", "--union-default-graph"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait_http(hearth_port, procs[0], "/")
        _wait_http(oxigraph_port, procs[1], "/query?query=ASK%7B%7D")
        hearth_t = Target("hearth", hearth_port, f"/households/{HOUSEHOLD}/sparql", token)
        oxigraph_t = Target("oxigraph", oxigraph_port, "/query")

        # every query answers rows on both, the same rows
        rng = random.Random(1)
        for make in QUERIES:
            q = make(rng)
            answers = []
            for t in (hearth_t, oxigraph_t):
                conn = http.client.HTTPConnection("127.0.0.1", t.port, timeout=30)
                conn.request("GET", t.sparql_path + "?" + urlencode({"query": q}),
                             headers=t.headers())
                r = conn.getresponse()
                body = r.read()
                conn.close()
                if r.status != 200:
                    raise SystemExit(f"{t.name} answered {r.status} to {make.__name__}: "
                                     f"{body[:300]!r}")
                rows = json.loads(body)["results"]["bindings"]
                answers.append(sorted(json.dumps(b, sort_keys=True) for b in rows))
            if not answers[0] or answers[0] != answers[1]:
                raise SystemExit(f"{make.__name__}: hearth and Oxigraph disagree or answer "
                                 f"nothing: {answers[0][:2]} {answers[1][:2]}")

        for t in (hearth_t, oxigraph_t):  # warm up
            run_load(t, 1.0, clients=args.clients, utterance_share=0.0, seed=0)
        log("mixed load on hearth …")
        mixed = run_load(hearth_t, args.mixed_s, clients=args.clients, utterance_share=0.25,
                         seed=1)
        log("SPARQL-only load, alternating …")
        rounds = 4
        totals = {"hearth": {"n": 0, "s": 0.0, "ms": [], "errors": 0},
                  "oxigraph": {"n": 0, "s": 0.0, "ms": [], "errors": 0}}
        for r in range(rounds):
            for t in ((hearth_t, oxigraph_t) if r % 2 == 0 else (oxigraph_t, hearth_t)):
                res = run_load(t, args.sparql_s / rounds / 2, clients=args.clients,
                               utterance_share=0.0, seed=10 + r)
                tot = totals[t.name]
                tot["n"] += len(res["sparql_ms"])
                tot["s"] += res["elapsed"]
                tot["ms"] += res["sparql_ms"]
                tot["errors"] += res["errors"]
        n_mixed = len(mixed["sparql_ms"]) + len(mixed["utter_ms"])
        hearth_rps = totals["hearth"]["n"] / totals["hearth"]["s"]
        oxigraph_rps = totals["oxigraph"]["n"] / totals["oxigraph"]["s"]
        result = {
            "requests_per_s": round(n_mixed / mixed["elapsed"], 1),
            "p95_ms": round(p95(mixed["sparql_ms"] + mixed["utter_ms"]), 2),
            "utterance_p95_ms": round(p95(mixed["utter_ms"]), 2),
            "utterances": len(mixed["utter_ms"]),
            "errors": mixed["errors"] + totals["hearth"]["errors"],
            "sparql_requests_per_s": round(hearth_rps, 1),
            "sparql_p95_ms": round(p95(totals["hearth"]["ms"]), 2),
            "oxigraph_requests_per_s": round(oxigraph_rps, 1),
            "oxigraph_p95_ms": round(p95(totals["oxigraph"]["ms"]), 2),
            "oxigraph_errors": totals["oxigraph"]["errors"],
            "ratio_vs_oxigraph_server": round(hearth_rps / oxigraph_rps, 3),
            "clients": args.clients,
            "household_events": n_events,
        }
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    if not args.json:
        for k, v in result.items():
            print(f"{k:26} {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
