"""A process killed with SIGKILL in the middle of ingest loses no acknowledged event and leaves
no partial one (a real subprocess, a real on-disk store)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from kg.household import Hearth
from kg.shapes import ShapeChecker

WRITER = textwrap.dedent("""
    import sys, datetime as dt
    from kg.household import Hearth
    from kg import events as E
    mode, path = sys.argv[1], sys.argv[2]
    hearth = Hearth.open(path)
    home = hearth.household_or_create("h1", time="2026-11-25T06:00:00Z")
    home.append(E.DeviceAdded(time=dt.datetime.now(dt.timezone.utc), device="t1", name="T",
                              kind="temperature_sensor"))
    t0 = dt.datetime(2026, 11, 25, 7, tzinfo=dt.timezone.utc)
    i = 0
    if mode == "single":
        while True:
            i += 1
            a = home.append(E.DeviceStateChanged(time=t0 + dt.timedelta(seconds=i), device="t1",
                                                 attribute="reading", value=i))
            print(a.seq, flush=True)  # the acknowledgement
    elif mode == "observations":  # through the store's write-ahead log
        while True:
            i += 1
            a = home.append(E.SensorObserved(time=t0 + dt.timedelta(seconds=i), sensor="t1",
                                             property="temperature", value=float(i)))
            print(a.seq, flush=True)
    else:
        while True:
            batch = [E.SensorObserved(time=t0 + dt.timedelta(seconds=i + k), sensor="t1",
                                      property="temperature", value=float(k)) for k in range(20000)]
            i += len(batch)
            print("writing", flush=True)
            done = home.append_many(batch)
            print("acked", done[-1].seq, flush=True)
""")


def run_and_kill(tmp_path, mode: str, *, after_lines: int, delay: float = 0.0) -> list[str]:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen([sys.executable, str(script), mode, str(tmp_path / "hearth")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    try:
        while len(lines) < after_lines:
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"writer died: {proc.stderr.read()}")
            lines.append(line.strip())
        time.sleep(delay)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # whatever it printed before dying is acknowledged too
    lines.extend(l.strip() for l in proc.stdout.read().splitlines() if l.strip())
    return lines


def check_every_event_is_whole(home):
    checker = ShapeChecker.default()
    for seq in range(1, home.head + 1):
        quads = home.log.quads_of(seq)
        assert quads, f"event {seq} is missing"
        checker.check(quads)
        home.event(seq)  # parses back


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
def test_sigkill_during_single_appends_loses_no_acknowledged_event(tmp_path, delay):
    acked = run_and_kill(tmp_path, "single", after_lines=300, delay=delay)
    last_acked = int(acked[-1])
    with Hearth.open(tmp_path / "hearth") as hearth:
        home = hearth.household("h1")
        assert home.head >= last_acked
        # nothing after the head is half-written
        assert not home.log.quads_of(home.head + 1)
        check_every_event_is_whole(home)
        assert home.state.device_state("t1", "reading") == home.head - 2
        assert home.log.replayed_state().snapshot() == home.state.snapshot()


def test_sigkill_during_a_batch_leaves_all_or_nothing(tmp_path):
    lines = run_and_kill(tmp_path, "batch", after_lines=3, delay=0.3)
    acked = [int(l.split()[1]) for l in lines if l.startswith("acked")]
    with Hearth.open(tmp_path / "hearth") as hearth:
        home = hearth.household("h1")
        written = home.head - 2
        assert written % 20000 == 0, f"a partial batch: {written} events"
        assert home.head >= max(acked)
        n = home.query("SELECT (COUNT(*) AS ?n) WHERE { ?o a sosa:Observation }").scalar()
        assert n == written


@pytest.mark.parametrize("delay", [0.0, 0.1, 0.5])
def test_sigkill_during_logged_single_appends_loses_no_acknowledged_event(tmp_path, delay):
    acked = run_and_kill(tmp_path, "observations", after_lines=300, delay=delay)
    last_acked = int(acked[-1])
    from kg.store import WAL_NAME
    # the killed writer left acknowledged events in the log only (empty for a few microseconds
    # after each bulk write, never for long)
    assert (tmp_path / "hearth" / "households" / "h1" / WAL_NAME).stat().st_size > 0
    with Hearth.open(tmp_path / "hearth") as hearth:
        home = hearth.household("h1")
        assert home.head >= last_acked
        assert not home.log.quads_of(home.head + 1)
        check_every_event_is_whole(home)
        n = home.query("SELECT (COUNT(*) AS ?n) WHERE { ?o a sosa:Observation }").scalar()
        assert n == home.head - 2
        values = [r["v"].value for r in home.query(
            "SELECT ?v WHERE { ?o sosa:hasSimpleResult ?v } ORDER BY ?v")]
        assert sorted(float(v) for v in values) == [float(i) for i in range(1, n + 1)]
