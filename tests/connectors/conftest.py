"""A scripted HTTP server on 127.0.0.1 (random port) standing in for the web services, and a fake
clock so retries, backoff, rate limits and cache expiry run without real waiting."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.cache import MemoryCache
from connectors.transport import RetryPolicy, Timeout, Transport

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "connectors"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass
class Reply:
    """One scripted answer. ``body`` may be bytes, a str, a JSON-able object, or ``fixture:NAME``.
    ``delay`` waits before answering; ``truncate`` promises more bytes than it sends, then hangs
    up; ``drip`` sends the body one byte per ``drip`` seconds."""

    status: int = 200
    body: object = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate: bool = False
    drip: float = 0.0

    def payload(self) -> tuple[bytes, str]:
        body = self.body
        if isinstance(body, str) and body.startswith("fixture:"):
            name = body[len("fixture:"):]
            ctype = ("application/n-triples" if name.endswith(".nt")
                     else "application/sparql-results+json" if name.startswith("sparql_")
                     or name.startswith("wikidata_sparql") else "application/json")
            return fixture_bytes(name), ctype
        if isinstance(body, bytes):
            return body, "application/octet-stream"
        if isinstance(body, str):
            return body.encode("utf-8"), "text/plain; charset=utf-8"
        return json.dumps(body).encode("utf-8"), "application/json"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


class FakeService:
    """Routes by (method, path); each route plays its replies in order and repeats the last."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, *replies: Reply, method: str = "GET") -> None:
        with self.lock:
            self.routes[(method, path)] = list(replies) or [Reply()]

    def reset(self) -> None:
        with self.lock:
            self.routes.clear()
            self.seen.clear()

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def _next(self, method: str, path: str) -> Reply:
        with self.lock:
            replies = self.routes.get((method, path))
            if not replies:
                return Reply(404, {"error": f"no route for {method} {path}"})
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def _handler(self):
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def setup(self):
                super().setup()
                # headers and body go out in two writes: without this, Nagle's algorithm and
                # the client's delayed ACK add ~40 ms to every request
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with service.lock:
                    service.seen.append(Seen(method, parts.path, parse_qs(parts.query),
                                             {k: v for k, v in self.headers.items()}, body))
                reply = service._next(method, parts.path)
                if reply.delay:
                    time.sleep(reply.delay)
                payload, ctype = reply.payload()
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": ctype, **reply.headers}
                    for k, v in headers.items():
                        self.send_header(k, v)
                    declared = len(payload) + 100 if reply.truncate else len(payload)
                    self.send_header("Content-Length", str(declared))
                    if reply.truncate:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    if reply.drip:
                        for i in range(len(payload)):
                            self.wfile.write(payload[i:i + 1])
                            self.wfile.flush()
                            time.sleep(reply.drip)
                    else:
                        self.wfile.write(payload)
                    self.wfile.flush()
                    if reply.truncate:
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def _service():
    service = FakeService()
    yield service
    service.close()


@pytest.fixture
def service(_service):
    _service.reset()
    yield _service
    _service.reset()


class FakeClock:
    """Monotonic and wall clocks that move only when someone sleeps."""

    def __init__(self, start_wall: float = 1_700_000_000.0):
        self.now = 0.0
        self.start_wall = start_wall
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.start_wall + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def make_transport(clock):
    """Transports on the fake clock with a memory cache, fast timeouts and no rate limit on
    127.0.0.1 unless a test asks for one."""
    made = []

    def make(**kwargs) -> Transport:
        options = dict(cache=MemoryCache(), offline=False,
                       timeout=Timeout(connect=2.0, read=0.5, total=5.0),
                       retry=RetryPolicy(attempts=3, backoff_s=0.5, backoff_max_s=8.0,
                                         max_retry_after_s=30.0, deadline_s=120.0),
                       rate_limits={"127.0.0.1": 1000.0}, contact="tests@example.org",
                       clock=clock.monotonic, sleep=clock.sleep, wall_clock=clock.wall,
                       random=lambda: 0.5)
        options.update(kwargs)
        transport = Transport(**options)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()
