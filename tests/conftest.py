"""Shared fixtures: stores of every backend, households, and a real Oxigraph server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_addoption(parser):
    parser.addoption("--live", action="store_true", help="also run tests that call real services")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--live") or os.environ.get("HEARTH_LIVE") == "1":
        return
    skip = pytest.mark.skip(reason="calls a real service: run with --live or HEARTH_LIVE=1")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _oxigraph_binary() -> str:
    found = shutil.which("oxigraph") or str(Path(sys.executable).with_name("oxigraph"))
    if not Path(found).exists():
        pytest.fail("the oxigraph server is missing: `pip install oxigraph` (make test does)")
    return found


class OxigraphServer:
    """A real `oxigraph serve` process on 127.0.0.1, with the union default graph."""

    def __init__(self, location: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [_oxigraph_binary(), "serve", "--location", str(location),
             "--bind", f"127.0.0.1:{self.port}", "--union-default-graph"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        import requests
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"{self.url}/query", params={"query": "ASK {}"}, timeout=1)
                break
            except requests.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    pytest.fail(f"oxigraph server did not start: {err}")
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def oxigraph_server(tmp_path):
    server = OxigraphServer(tmp_path / "server")
    yield server
    server.stop()


@pytest.fixture(params=["memory", "disk", "server"])
def store(request, tmp_path):
    """The same store test suite runs against every backend."""
    from kg.store import OxigraphStore, SparqlEndpointStore
    if request.param == "memory":
        yield OxigraphStore()
    elif request.param == "disk":
        s = OxigraphStore(tmp_path / "store")
        yield s
        s.close()
    else:
        server = OxigraphServer(tmp_path / "server")
        s = SparqlEndpointStore.oxigraph(server.url, timeout_s=10)
        yield s
        s.close()
        server.stop()


@pytest.fixture
def hearth(tmp_path):
    from kg.household import Hearth
    h = Hearth.open(tmp_path / "hearth")
    yield h
    h.close()


@pytest.fixture
def home(hearth):
    return hearth.create_household("h1", name="Test home", time="2026-11-25T06:00:00Z")


@pytest.fixture
def memory_home():
    from kg.household import Hearth
    return Hearth.in_memory().create_household("h1", name="Test home",
                                                time="2026-11-25T06:00:00Z")
