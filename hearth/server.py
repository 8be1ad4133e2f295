"""``hearth serve``: households over HTTP, for assistants and SPARQL clients.

``create_app(hearth, tokens)`` builds an ASGI app (FastAPI on Starlette; ``uvicorn`` runs it):

- ``GET|POST /households/{id}/sparql``: a SPARQL 1.1 Protocol query endpoint over the household's
  graphs (their union is the default graph; hearth's prefixes are predeclared). Results by content
  negotiation: SPARQL JSON, XML, CSV or TSV for SELECT/ASK; Turtle, N-Triples, RDF/XML or JSON-LD
  for CONSTRUCT/DESCRIBE. Queries run in a bounded pool of worker threads with a deadline (504 when
  a query runs past it, 503 when no worker is free) and a row limit (a cut result says so in the
  ``Hearth-Truncated`` header, and in JSON results as ``"truncated": true``). An update sent here
  is refused with 400.
- ``POST /households/{id}/update``: SPARQL Update, with a write token. Only ``INSERT DATA`` of
  triples is taken, recorded as one ``FactsAsserted`` event; everything else is refused with a
  message saying what to do instead: nothing bypasses the event log.
- ``POST /households/{id}/events``: one event (``application/json``) or a JSON Lines batch
  (``application/x-ndjson``), validated entirely and appended all-or-nothing; errors name the line
  and field, as ``hearth ingest`` does.
- ``GET /households/{id}/events?start=&limit=&type=``: the log, a page at a time.
- ``GET /households/{id}/state``: the current state (the projection of the log).
- ``GET /households/{id}/conversations`` and ``…/conversations/{session}``: the conversations,
  and one conversation's dialogue state (frames, and where each slot value came from).
- ``GET /households/{id}/events/{seq}/why?attributions=``: why a conclusion was drawn (the
  explanation's sentence, evidence down to the input events, Shapley attributions).
- ``POST /households/{id}/utterances``: appends an ``UtteranceHeard`` and answers with that event,
  the conclusions the reasoner appended in response, and the state. The answer has slots for the
  interpretation, dialogue state (frames and where each slot value came from), suggestions and
  hunches (each with the sentence that explains it) and explanations, filled by ``responders``
  (see ``UTTERANCE_SLOTS``; by default :func:`reasoner_answer`).
- ``GET /openapi.json``: the OpenAPI description of all of it.

Every ``/households/{id}/…`` request needs ``Authorization: Bearer <token>``: a token belongs to
one household and has the scope ``read`` or ``write`` (which includes read). Tokens are kept
hashed (SHA-256) in ``<hearth folder>/tokens.json``; ``hearth token create/list/revoke`` manage
them, and a running server sees changes at once.

>>> tokens = TokenStore.in_memory()
>>> secret, record = tokens.create("h1", "read", label="kitchen speaker")
>>> tokens.verify(secret).household, tokens.verify(secret).scope
('h1', 'read')
>>> tokens.verify(secret).allows("h1", "write")
False
>>> _ = tokens.revoke(record.id)
>>> tokens.verify(secret) is None
True

Web libraries are imported inside ``create_app`` so that other ``hearth`` commands stay quick.
"""

import asyncio
import concurrent.futures
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import os
import queue
import secrets
import signal
import threading
import time
import xml.sax.saxutils as saxutils
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import typer

from kg import events as E
from kg.errors import EventError, HearthError, QueryError, StoreLockedError, \
    UnknownHouseholdError
from kg.household import Hearth, Household
from kg.log import Appended
from kg.terms import format_datetime

# ---------------------------------------------------------------------------------------------
# Errors


class ServerError(HearthError, RuntimeError):
    """The HTTP server is misconfigured."""


class TokenError(HearthError, ValueError):
    """A token cannot be created, found or revoked."""


# ---------------------------------------------------------------------------------------------
# Tokens

SCOPES = ("read", "write")
_TOKEN_PREFIX = "hth"


@dataclass(frozen=True)
class TokenRecord:
    """A stored token: never the secret, only its SHA-256."""

    id: str
    household: str
    scope: str
    sha256: str
    created: str
    label: str | None = None

    def public(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "sha256"}


@dataclass(frozen=True)
class Grant:
    """What a verified token may do."""

    token_id: str
    household: str
    scope: str
    label: str | None = None

    def allows(self, household: str, scope: str) -> bool:
        return self.household == household and (scope == "read" or self.scope == "write")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """Bearer tokens, kept hashed: in a JSON file (re-read when it changes) or in memory.

    A token reads ``hth_<id>_<secret>``: the id names it in listings and revocations; the secret
    (256 random bits) is shown once, when it is created.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self._records: dict[str, TokenRecord] = {}
        self._stamp: tuple | None = None
        self._lock = threading.Lock()
        self._reload(force=True)

    @classmethod
    def in_memory(cls, tokens: Mapping[str, tuple[str, str] | Grant] | None = None) -> "TokenStore":
        """Tokens held in memory; ``tokens`` maps token strings you chose to (household, scope)."""
        store = cls(None)
        for secret, grant in (tokens or {}).items():
            household, scope = ((grant.household, grant.scope) if isinstance(grant, Grant)
                                else grant)
            _check_scope(scope)
            if len(secret) < 16:
                raise TokenError("a token needs at least 16 characters: use "
                                 "TokenStore.create() to make a strong one")
            token_id = _digest(secret)[:8]
            store._records[token_id] = TokenRecord(token_id, household, scope, _digest(secret),
                                                   _now_text())
        return store

    # -- the file ----------------------------------------------------------------------------
    def _file_stamp(self) -> tuple | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _reload(self, *, force: bool = False) -> None:
        if self.path is None:
            return
        stamp = self._file_stamp()  # one stat() a request: a revocation applies at once
        if stamp == self._stamp and not force:
            return
        records: dict[str, TokenRecord] = {}
        if stamp is not None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                for item in data.get("tokens", []):
                    rec = TokenRecord(**item)
                    records[rec.id] = rec
            except (OSError, ValueError, TypeError) as err:
                raise TokenError(f"the token file {self.path} cannot be read ({err}); fix or "
                                 "remove it and create tokens again") from err
        self._records = records
        self._stamp = stamp

    def _write(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        data = {"format": 1, "tokens": [dataclasses.asdict(r) for r in self._records.values()]}
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        self._stamp = self._file_stamp()

    def _locked_edit(self):
        """An exclusive lock across processes for read-modify-write of the file."""
        import contextlib
        import fcntl

        @contextlib.contextmanager
        def edit():
            with self._lock:
                if self.path is None:
                    yield
                    return
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path.with_name(self.path.name + ".lock"), "w") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    self._reload(force=True)
                    yield
                    self._write()
        return edit()

    # -- API -----------------------------------------------------------------------------------
    def create(self, household: str, scope: str = "read", *,
               label: str | None = None) -> tuple[str, TokenRecord]:
        """Makes a token for one household; returns (the token, its record). Only the record is
        stored: keep the token, it cannot be shown again."""
        from kg.terms import check_household_id
        try:
            check_household_id(household)
        except ValueError as err:
            raise TokenError(str(err)) from None
        _check_scope(scope)
        with self._locked_edit():
            token_id = secrets.token_hex(4)
            while token_id in self._records:
                token_id = secrets.token_hex(4)
            token = f"{_TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
            record = TokenRecord(token_id, household, scope, _digest(token), _now_text(), label)
            self._records[token_id] = record
        return token, record

    def revoke(self, token_id: str) -> TokenRecord:
        """Removes a token by its id (as ``list()`` shows it); it stops working at once."""
        with self._locked_edit():
            record = self._records.pop(token_id, None)
            if record is None:
                known = ", ".join(sorted(self._records)) or "none"
                raise TokenError(f"no token with id {token_id!r}; ids: {known} "
                                 "(see `hearth token list`)")
        return record

    def list(self, household: str | None = None) -> list[TokenRecord]:
        with self._lock:
            self._reload(force=True)
            records = list(self._records.values())
        return sorted((r for r in records if household is None or r.household == household),
                      key=lambda r: (r.household, r.created, r.id))

    def verify(self, token: str) -> Grant | None:
        """The grant of a token, or None if it is unknown, revoked or mistyped."""
        with self._lock:
            self._reload()
            records = self._records
        digest = _digest(token)
        parts = token.split("_", 2)
        # Tokens made by create() carry their id; those given to in_memory() are filed under
        # their digest's head.
        candidates = [records.get(digest[:8])]
        if len(parts) == 3 and parts[0] == _TOKEN_PREFIX:
            candidates.insert(0, records.get(parts[1]))
        for rec in candidates:
            if rec is not None and hmac.compare_digest(rec.sha256, digest):
                return Grant(rec.id, rec.household, rec.scope, rec.label)
        return None


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise TokenError(f"unknown scope {scope!r}: use 'read' or 'write' (write includes read)")


def _now_text() -> str:
    return format_datetime(dt.datetime.now(dt.timezone.utc).replace(microsecond=0))


def _as_token_store(tokens: "TokenStore | str | Path | Mapping | None") -> TokenStore:
    if isinstance(tokens, TokenStore):
        return tokens
    if isinstance(tokens, (str, Path)):
        return TokenStore(tokens)
    if isinstance(tokens, Mapping):
        return TokenStore.in_memory(tokens)
    raise ServerError("create_app needs tokens: a TokenStore, the path of a tokens.json, or a "
                      "mapping {token: (household, scope)}")


# ---------------------------------------------------------------------------------------------
# Limits


@dataclass(frozen=True)
class ServerLimits:
    """How much one request may take.

    ``query_workers`` threads run SPARQL queries; one household may hold at most
    ``queries_per_household`` of them, so its slow queries never take every worker. A query past
    ``query_timeout_s`` is answered 504 and stopped at its next result row; the engine cannot
    be interrupted inside a sort or an aggregate, so such a query keeps its worker until the
    engine returns (its answer is dropped).
    """

    query_timeout_s: float = 10.0
    max_rows: int = 10_000
    query_workers: int = 4
    queries_per_household: int = 2
    max_query_bytes: int = 1 << 20
    max_body_bytes: int = 32 << 20
    max_page: int = 1000

    def __post_init__(self):
        if self.query_workers < 1 or self.queries_per_household < 1 or self.max_rows < 1:
            raise ServerError("query_workers, queries_per_household and max_rows must be >= 1")
        if self.query_timeout_s <= 0:
            raise ServerError("query_timeout_s must be positive")


# ---------------------------------------------------------------------------------------------
# Content negotiation

SOLUTIONS_TYPES = {  # media type offered → serializer
    "application/sparql-results+json": "json", "application/json": "json",
    "application/sparql-results+xml": "xml", "application/xml": "xml", "text/xml": "xml",
    "text/csv": "csv", "text/tab-separated-values": "tsv",
}
GRAPH_TYPES = {
    "text/turtle": "TURTLE", "application/n-triples": "N_TRIPLES", "text/plain": "N_TRIPLES",
    "application/rdf+xml": "RDF_XML", "application/ld+json": "JSON_LD",
}


def parse_accept(header: str | None) -> list[tuple[str, float]]:
    """(media range, q) pairs of an Accept header; a missing header accepts anything."""
    if not header or not header.strip():
        return [("*/*", 1.0)]
    out = []
    for part in header.split(","):
        items = [p.strip() for p in part.split(";")]
        media = items[0].lower()
        if not media:
            continue
        q = 1.0
        for param in items[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
        out.append((media, q))
    return out


def negotiate(accept: list[tuple[str, float]], offers: Sequence[str]) -> str | None:
    """The offer the client prefers (by q, then by the order of ``offers``), or None.

    >>> negotiate(parse_accept("text/csv;q=0.5, application/sparql-results+xml"),
    ...           ["application/sparql-results+json", "application/sparql-results+xml", "text/csv"])
    'application/sparql-results+xml'
    >>> negotiate(parse_accept("text/html"), ["text/turtle"]) is None
    True
    """
    best, best_q = None, 0.0
    for offer in offers:
        main, _, sub = offer.partition("/")
        q, specificity = 0.0, -1
        for media, mq in accept:
            m_main, _, m_sub = media.partition("/")
            if media == offer:
                spec = 2
            elif m_main == main and m_sub == "*":
                spec = 1
            elif media == "*/*" or media == "*":
                spec = 0
            else:
                continue
            if spec > specificity:
                q, specificity = mq, spec
        if q > best_q:
            best, best_q = offer, q
    return best


# ---------------------------------------------------------------------------------------------
# Result serializers (SPARQL 1.1 Query Results JSON, XML, CSV and TSV)


from kg.query import json_term as _json_term  # noqa: E402


def _xml_term(term) -> str:
    from pyoxigraph import BlankNode, Literal, NamedNode
    esc = saxutils.escape
    if isinstance(term, NamedNode):
        return f"<uri>{esc(term.value)}</uri>"
    if isinstance(term, BlankNode):
        return f"<bnode>{esc(term.value)}</bnode>"
    if isinstance(term, Literal):
        if term.language:
            lang = saxutils.quoteattr(term.language)
            return f"<literal xml:lang={lang}>{esc(term.value)}</literal>"
        if term.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
            return (f"<literal datatype={saxutils.quoteattr(term.datatype.value)}>"
                    f"{esc(term.value)}</literal>")
        return f"<literal>{esc(term.value)}</literal>"
    return (f"<triple><subject>{_xml_term(term.subject)}</subject><predicate>"
            f"{_xml_term(term.predicate)}</predicate><object>{_xml_term(term.object)}</object>"
            "</triple>")


def _csv_cell(term) -> str:
    from pyoxigraph import BlankNode
    if term is None:
        return ""
    text = f"_:{term.value}" if isinstance(term, BlankNode) else getattr(term, "value", str(term))
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _tsv_cell(term) -> str:
    if term is None:
        return ""
    return str(term).replace("\t", "\\t")


def serialize_solutions(variables: list[str], rows: list[tuple], fmt: str, *,
                        truncated: bool = False) -> bytes:
    """SELECT results in ``json``, ``xml``, ``csv`` or ``tsv``."""
    if fmt == "json":
        doc: dict[str, Any] = {"head": {"vars": variables}, "results": {"bindings": [
            {v: _json_term(t) for v, t in zip(variables, row) if t is not None} for row in rows]}}
        if truncated:
            doc["truncated"] = True
        return json.dumps(doc, ensure_ascii=False).encode("utf-8")
    if fmt == "xml":
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n'
               '<sparql xmlns="http://www.w3.org/2005/sparql-results#"><head>']
        out.extend(f"<variable name={saxutils.quoteattr(v)}/>" for v in variables)
        out.append("</head><results>")
        for row in rows:
            out.append("<result>")
            out.extend(f"<binding name={saxutils.quoteattr(v)}>{_xml_term(t)}</binding>"
                       for v, t in zip(variables, row) if t is not None)
            out.append("</result>")
        out.append("</results></sparql>\n")
        return "".join(out).encode("utf-8")
    if fmt == "csv":
        lines = [",".join(_csv_cell_text(v) for v in variables)]
        lines.extend(",".join(_csv_cell(t) for t in row) for row in rows)
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")
    if fmt == "tsv":
        lines = ["\t".join("?" + v for v in variables)]
        lines.extend("\t".join(_tsv_cell(t) for t in row) for row in rows)
        return ("\n".join(lines) + "\n").encode("utf-8")
    raise ServerError(f"unknown results format {fmt!r}")


def _csv_cell_text(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\r\n') else text


def serialize_boolean(value: bool, fmt: str) -> bytes:
    word = "true" if value else "false"
    if fmt == "json":
        return json.dumps({"head": {}, "boolean": value}).encode()
    if fmt == "xml":
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<sparql xmlns="http://www.w3.org/2005/'
                f'sparql-results#"><head/><boolean>{word}</boolean></sparql>\n').encode()
    return f"{word}\n".encode()


# ---------------------------------------------------------------------------------------------
# Running queries: a bounded pool of threads, deadlines, row limits


@dataclass
class QueryAnswer:
    """What a query worker produced: a body to send, or an error to report."""

    status: int
    body: bytes = b""
    media_type: str = "application/problem+json"
    truncated: bool = False
    rows: int = 0
    title: str = ""
    detail: str = ""


def query_form(sparql: str) -> str | None:
    """SELECT, ASK, CONSTRUCT or DESCRIBE: the query's form, read past prefixes and comments."""
    from kg.query import query_form as form
    try:
        return form(sparql)
    except QueryError:
        return None


class QueryRunner:
    """Runs SPARQL queries off the event loop, each with a deadline.

    pyoxigraph releases the GIL while it evaluates, so a running query never stalls the server;
    it cannot be cancelled, so a query past its deadline is stopped at its next result row, and
    the workers are shared out so that one household cannot hold them all.
    """

    def __init__(self, limits: ServerLimits):
        self.limits = limits
        self._pool = _DaemonPool(limits.query_workers, "hearth-sparql")
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}

    def held(self, household: str) -> int:
        with self._lock:
            return self._held.get(household, 0)

    def _release(self, household: str) -> None:
        with self._lock:
            self._held[household] -= 1
            if not self._held[household]:
                del self._held[household]

    async def run(self, home: Household, sparql: str, *, solutions_type: str | None,
                  graph_type: str | None) -> QueryAnswer:
        limits = self.limits
        hid = home.id
        timeout = limits.query_timeout_s
        deadline = time.monotonic() + timeout
        loop = asyncio.get_running_loop()
        slots = self._slots.get(hid)
        if slots is None:
            slots = self._slots[hid] = asyncio.Semaphore(limits.queries_per_household)
        # Wait for one of the household's slots; a slot is given back only when its query has
        # really ended (a query the engine cannot interrupt keeps it until the engine returns).
        try:
            await asyncio.wait_for(slots.acquire(), timeout=timeout)
        except asyncio.TimeoutError:
            return QueryAnswer(503, title="Too many queries", detail=(
                f"household {hid!r} has {self.held(hid)} queries running, the most one household "
                f"may have, and none ended within {timeout:g} s; retry later (a query stops at "
                "its deadline unless the engine is sorting or aggregating)"))
        with self._lock:
            self._held[hid] = self._held.get(hid, 0) + 1

        def release(_future=None) -> None:
            self._release(hid)
            try:
                loop.call_soon_threadsafe(slots.release)
            except RuntimeError:  # the loop is closed: the server has stopped
                pass

        try:
            future = self._pool.submit(self._execute, home, sparql, deadline,
                                       solutions_type, graph_type)
        except RuntimeError:  # the pool is shut down: the server is stopping
            release()
            return QueryAnswer(503, title="Shutting down", detail="the server is stopping")
        future.add_done_callback(release)
        waiter = asyncio.wrap_future(future)
        done, _ = await asyncio.wait({waiter}, timeout=max(0.0, deadline - time.monotonic()))
        if done:
            return waiter.result()
        waiter.add_done_callback(_swallow)
        if future.cancel():
            return QueryAnswer(503, title="Query workers busy", detail=(
                f"no query worker became free within {timeout:g} s; retry later"))
        return QueryAnswer(504, title="Query timeout", detail=(
            f"the query ran past the {timeout:g} s limit and was abandoned. Narrow it (a LIMIT, "
            "more specific patterns, fewer cross products) and try again"))

    def _execute(self, home: Household, sparql: str, deadline: float,
                 solutions_type: str | None, graph_type: str | None) -> QueryAnswer:
        try:
            return self._evaluate(home, sparql, deadline, solutions_type, graph_type)
        except QueryError as err:
            return QueryAnswer(400, title="Bad query", detail=str(err))
        except (HearthError, OSError, RuntimeError, ValueError) as err:
            return QueryAnswer(500, title="Query failed", detail=f"the query failed: {err}")

    def _evaluate(self, home, sparql, deadline, solutions_type, graph_type) -> QueryAnswer:
        import pyoxigraph as ox
        from pyoxigraph import QueryBoolean, QuerySolutions

        def expired() -> QueryAnswer:
            return QueryAnswer(504, title="Query timeout",
                               detail="the query ran past its time limit")

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return expired()
        prefixes = home.prefixes()
        raw = home.store.query(sparql, prefixes=prefixes, timeout_s=remaining)
        max_rows = self.limits.max_rows
        if isinstance(raw, (QueryBoolean, bool)):
            fmt_type = solutions_type
            if fmt_type is None:
                return _not_acceptable("ASK", SOLUTIONS_TYPES)
            return QueryAnswer(200, serialize_boolean(bool(raw), SOLUTIONS_TYPES[fmt_type]),
                               fmt_type, rows=1)
        if isinstance(raw, QuerySolutions):
            if solutions_type is None:
                return _not_acceptable("SELECT", SOLUTIONS_TYPES)
            variables = [v.value for v in raw.variables]
            rows: list[tuple] = []
            truncated = False
            for solution in raw:
                if len(rows) >= max_rows:
                    truncated = True
                    break
                rows.append(tuple(solution))
                if time.monotonic() > deadline:
                    return expired()
            if time.monotonic() > deadline:
                return expired()
            body = serialize_solutions(variables, rows, SOLUTIONS_TYPES[solutions_type],
                                       truncated=truncated)
            return QueryAnswer(200, body, solutions_type, truncated=truncated, rows=len(rows))
        if graph_type is None:
            return _not_acceptable("CONSTRUCT/DESCRIBE", GRAPH_TYPES)
        triples = []
        truncated = False
        for triple in raw:
            if len(triples) >= max_rows:
                truncated = True
                break
            triples.append(triple)
            if time.monotonic() > deadline:
                return expired()
        fmt = getattr(ox.RdfFormat, GRAPH_TYPES[graph_type])
        kwargs = {"prefixes": prefixes} if fmt == ox.RdfFormat.TURTLE else {}
        body = ox.serialize(triples, format=fmt, **kwargs)
        return QueryAnswer(200, body, graph_type, truncated=truncated, rows=len(triples))

    def close(self) -> None:
        self._pool.shutdown()


class _DaemonPool:
    """A fixed set of daemon worker threads. Unlike ThreadPoolExecutor's, they are not joined
    at exit, so a query the engine cannot interrupt does not hold the process open."""

    def __init__(self, workers: int, name: str):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(workers)]
        for t in self._threads:
            t.start()

    def submit(self, fn, *args) -> concurrent.futures.Future:
        if self._closed:
            raise RuntimeError("the pool is shut down")
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((future, fn, args))
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as err:  # handed to the waiter, never lost
                future.set_exception(err)
            del item, future, args

    def shutdown(self) -> None:
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)


def _swallow(future) -> None:
    if not future.cancelled():
        future.exception()


def _not_acceptable(form: str, offers: Mapping[str, str]) -> QueryAnswer:
    return QueryAnswer(406, title="Not acceptable", detail=(
        f"{form} results can be sent as {', '.join(offers)}; the Accept header allows none"))


# ---------------------------------------------------------------------------------------------
# JSON views of events and state


def event_json(home: Household, seq: int, event: E.Event) -> dict:
    """An event as the API shows it: ``seq``, ``iri`` and its JSON form (docs/events.md)."""
    return {"seq": seq, "iri": home.ids.event(seq).value, **event.to_json()}


def state_json(home: Household) -> dict:
    """The household's current state, for assistants."""
    st = home.state
    seq_of = home.ids.seq_of

    def since(sv) -> dict:
        return {"since": format_datetime(sv.since), "event": seq_of(sv.event)}

    devices: dict[str, dict] = {}
    for did, thing in st.devices.items():
        devices[did] = {"name": thing.name, "kind": thing.kind, "area": thing.area,
                        "device_class": thing.device_class, "state": {}}
    for (did, attribute), sv in sorted(st.device_states.items()):
        entry = devices.setdefault(did, {"name": did, "kind": None, "area": None,
                                         "device_class": None, "state": {}})
        entry["state"][attribute] = {"value": sv.value, **since(sv)}
    people = {pid: {"name": thing.name, "presence": None} for pid, thing in st.people.items()}
    for pid, sv in st.presence.items():
        people.setdefault(pid, {"name": pid, "presence": None})["presence"] = {
            "value": sv.value, **since(sv)}
    return {
        "household": home.id,
        "name": st.name,
        "head": home.head,
        "floors": {k: {"name": v.name} for k, v in st.floors.items()},
        "areas": {k: {"name": v.name, "floor": v.floor} for k, v in st.areas.items()},
        "devices": devices,
        "people": people,
        "home": st.who_is_home(),
        "definitions": {k: {"meaning": sv.value, **since(sv)}
                        for k, sv in sorted(st.definitions.items())},
        "retracted": sorted(seq_of(r) for r in st.retracted),
    }


def conclusions_of(home: Household, appended: Sequence[Appended], *,
                   scan: int = 1000) -> list[Appended]:
    """The events appended after ``appended`` that were derived from them, directly or through
    one another (what the reasoner concluded in response)."""
    if not appended:
        return []
    sources = {a.iri for a in appended}
    out = []
    last = appended[-1].seq
    for seq in range(last + 1, min(home.head, last + scan) + 1):
        event = home.event(seq)
        if any(src in sources for src in event.derived_from):
            iri = home.ids.event(seq)
            sources.add(iri)
            out.append(Appended(seq, iri, event))
    return out


# The utterance answer's slots that later components fill (see create_app's ``responders``).
UTTERANCE_SLOTS = ("interpretation", "dialogue", "suggestions", "hunches", "explanations")


@dataclass(frozen=True)
class UtteranceContext:
    """What a responder sees: the household, the utterance event and what was concluded."""

    home: Household
    utterance: Appended
    conclusions: list[Appended]


Responder = Callable[[UtteranceContext], Mapping[str, Any]]


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    return str(value)


def _why(home: Household, seq: int) -> str | None:
    from reasoner.explain import explain
    try:
        return explain(home, seq, attributions=False).sentence
    except HearthError:
        return None


def dialogue_json(home: Household, session: str) -> dict | None:
    """A conversation's state: its turns so far and one frame per skill, each slot value with
    where it came from (said, carried from another skill, inferred by a rule, offered)."""
    from reasoner.dialogue import dialogue_state
    found = dialogue_state(home).sessions.get(session)
    if found is None:
        return None
    frames = {}
    for skill, frame in found.frames.items():
        frames[skill] = {"intent": frame.intent, "status": frame.status, "slots": {
            name: {"value": _plain(v.value), "type": v.value_type, "source": v.source,
                   "origin": v.describe(), "event": v.event.value,
                   **({"revises": v.revises.value} if v.revises is not None else {})}
            for name, v in frame.slots.items()}}
    return {"session": session, "turns": len(found.turns), "skills": found.skills(),
            "frames": frames}


def conversations_json(home: Household) -> list[dict]:
    """Every conversation of the household, the latest first: its id, who spoke, how many turns,
    the skills in the order they became active, and when it was last spoken to."""
    from reasoner.dialogue import dialogue_state
    sessions = list(dialogue_state(home).sessions.values())
    sessions.sort(key=lambda s: s.last_time or dt.datetime.min.replace(tzinfo=dt.timezone.utc),
                  reverse=True)
    return [{"session": s.id, "speaker": s.speaker, "device": s.device, "turns": len(s.turns),
             "skills": s.skills(),
             "last_time": format_datetime(s.last_time) if s.last_time else None}
            for s in sessions]


def why_json(home: Household, seq: int, *, attributions: bool = True) -> dict:
    """Why the engine concluded event ``seq``: :meth:`reasoner.explain.Explanation.to_json`
    with ``text``, the explanation as an indented tree."""
    from reasoner.explain import explain
    why = explain(home, seq, attributions=attributions)
    return {**why.to_json(), "text": why.text()}


def reasoner_answer(ctx: UtteranceContext) -> dict[str, Any]:
    """The default responder: the reading of the utterance, the conversation it belongs to, and
    the suggestions, hunches and explanations concluded from it, each suggestion and hunch with
    the sentence that explains it."""
    from reasoner.dialogue import UserTurnMade
    from reasoner.explain import ExplanationProvided
    from reasoner.hunches import HunchRaised
    from reasoner.patterns import SuggestionMade
    from reasoner.understanding import UtteranceInterpreted
    home = ctx.home
    out: dict[str, Any] = {"suggestions": [], "hunches": [], "explanations": []}
    session = None
    for c in ctx.conclusions:
        ev = c.event
        if isinstance(ev, UtteranceInterpreted) and "interpretation" not in out:
            out["interpretation"] = event_json(home, c.seq, ev)
        elif isinstance(ev, UserTurnMade) and session is None:
            session = ev.session
        elif isinstance(ev, SuggestionMade):
            out["suggestions"].append({**event_json(home, c.seq, ev), "why": _why(home, c.seq)})
        elif isinstance(ev, HunchRaised):
            out["hunches"].append({**event_json(home, c.seq, ev), "why": _why(home, c.seq)})
        elif isinstance(ev, ExplanationProvided):
            out["explanations"].append(event_json(home, c.seq, ev))
    if session is not None:
        out["dialogue"] = dialogue_json(home, session)
    return out


# ---------------------------------------------------------------------------------------------
# The API models (for the OpenAPI description and for clients)


def api_models():
    """The pydantic models of the JSON API (built on first use: pydantic is a web dependency)."""
    global _MODELS
    if _MODELS is None:
        _MODELS = _build_models()
    return _MODELS


_MODELS = None


def _build_models():
    from types import SimpleNamespace

    from pydantic import BaseModel, ConfigDict, Field

    class Problem(BaseModel):
        """An error (RFC 9457 problem details); ``line`` and ``field`` locate a bad event."""
        type: str = "about:blank"
        title: str
        status: int
        detail: str
        line: Optional[int] = None
        field: Optional[str] = None

    class EventOut(BaseModel):
        """An event: its sequence number and IRI, then its JSON form (docs/events.md)."""
        model_config = ConfigDict(extra="allow")
        seq: int
        iri: str
        type: str
        time: str
        by: Optional[str] = None

    class EventRef(BaseModel):
        seq: int
        iri: str
        type: str

    class AppendResult(BaseModel):
        household: str
        count: int
        first_seq: int
        last_seq: int
        events: list[EventRef] = Field(description="The appended events (GET /events for all "
                                                   "their fields)")
        conclusions: list[EventOut] = Field(
            description="Events the reasoner appended in response, derived from these")

    class EventPage(BaseModel):
        household: str
        head: int = Field(description="The sequence number of the last event")
        events: list[EventOut]
        next_start: Optional[int] = Field(description="Where the next page starts; null at the end")

    class Since(BaseModel):
        since: str
        event: int

    class StateValueOut(Since):
        value: Any

    class DeviceOut(BaseModel):
        name: str
        kind: Optional[str]
        area: Optional[str]
        device_class: Optional[str]
        state: dict[str, StateValueOut]

    class PersonOut(BaseModel):
        name: str
        presence: Optional[StateValueOut]

    class AreaOut(BaseModel):
        name: str
        floor: Optional[str]

    class FloorOut(BaseModel):
        name: str

    class DefinitionOut(Since):
        meaning: Any

    class StateOut(BaseModel):
        household: str
        name: Optional[str]
        head: int
        floors: dict[str, FloorOut]
        areas: dict[str, AreaOut]
        devices: dict[str, DeviceOut]
        people: dict[str, PersonOut]
        home: list[str] = Field(description="Who is home")
        definitions: dict[str, DefinitionOut]
        retracted: list[int] = Field(description="Sequence numbers of retracted events")

    class UtteranceIn(BaseModel):
        """Something the assistant heard."""
        model_config = ConfigDict(extra="forbid")
        text: str
        time: Optional[str] = Field(None, description="ISO 8601 with a zone; default: now")
        speaker: Optional[str] = Field(None, description="A person id")
        device: Optional[str] = Field(None, description="The device that heard it")
        session: Optional[str] = Field(None, description="A conversation id")

    class UtteranceResult(BaseModel):
        """The answer to an utterance. ``interpretation``, ``dialogue``, ``suggestions``,
        ``hunches`` and ``explanations`` are filled by the components that produce them, and
        are null or empty without them."""
        household: str
        utterance: EventOut
        conclusions: list[EventOut]
        state: StateOut
        interpretation: Optional[dict[str, Any]] = None
        dialogue: Optional[dict[str, Any]] = None
        suggestions: list[dict[str, Any]] = []
        hunches: list[dict[str, Any]] = []
        explanations: list[dict[str, Any]] = []

    class UpdateResult(BaseModel):
        household: str
        triples: int
        appended: EventOut

    class ConversationSummary(BaseModel):
        session: str
        speaker: Optional[str] = None
        device: Optional[str] = None
        turns: int
        skills: list[str] = Field(description="In the order they became active")
        last_time: Optional[str] = None

    class ConversationList(BaseModel):
        household: str
        conversations: list[ConversationSummary]

    class ConversationOut(BaseModel):
        """A conversation's state; each slot value has ``value``, ``type``, ``source`` (said,
        carried, inferred, offered), ``origin`` (in words), ``event`` (the SlotFilled that put it
        there) and ``revises`` (the one it replaced), where there is one."""
        household: str
        session: str
        turns: int
        skills: list[str]
        frames: dict[str, dict[str, Any]]

    class WhyOut(BaseModel):
        """An explanation: ``sentence``; ``evidence``, nested down to the input events;
        ``attribution`` of a learned score, or null; ``text``, all of it as an indented tree."""
        household: str
        conclusion: str
        seq: Optional[int] = None
        kind: str
        sentence: str
        evidence: list[dict[str, Any]]
        attribution: Optional[dict[str, Any]] = None
        input_events: list[str]
        text: str

    return SimpleNamespace(**{c.__name__: c for c in (
        Problem, EventOut, AppendResult, EventPage, StateOut, UtteranceIn, UtteranceResult,
        UpdateResult, DeviceOut, PersonOut, ConversationSummary, ConversationList,
        ConversationOut, WhyOut)})


def _event_schemas() -> dict:
    """A JSON Schema for each registered event type, from its declared fields."""
    kinds = {"time": {"type": "string", "format": "date-time"},
             "value": {"type": ["string", "number", "boolean"]},
             "number": {"type": "number"}, "json": {},
             "event": {"type": ["integer", "string"]}}
    out = {}
    for name, cls in sorted(E.EVENT_TYPES.items()):
        props: dict[str, Any] = {"type": {"const": name}, "by": {"type": "string"},
                                 "derived_from": {"type": "array",
                                                  "items": {"type": ["integer", "string"]}}}
        required = ["type", "time"]
        for fd in dataclasses.fields(cls):
            kind = fd.metadata.get("kind")
            if fd.name in ("by", "derived_from"):
                continue
            props[fd.name] = kinds.get(kind or ("time" if fd.name == "time" else ""),
                                       {"type": "string"})
            if fd.metadata.get("required") and fd.name not in required:
                required.append(fd.name)
        if cls.is_conclusion:
            required.append("derived_from")
        out[name] = {"type": "object", "title": name, "properties": props, "required": required,
                     "additionalProperties": False}
    return out


# ---------------------------------------------------------------------------------------------
# The app

JSON_LINES_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines",
                    "application/jsonlines", "application/x-jsonlines")


class _Problem(Exception):
    def __init__(self, status: int, title: str, detail: str, *, headers=None, **extra):
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.headers = headers or {}
        self.extra = {k: v for k, v in extra.items() if v is not None}


class _BodyLimit:
    """Refuses request bodies over ``limit`` bytes (413) before anything reads them whole:
    FastAPI reads a JSON body before it checks the token."""

    def __init__(self, app, *, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit
        detail = f"the body is over the limit of {limit} bytes: split it into smaller requests"
        length = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            body = json.dumps({"type": "about:blank", "title": "Body too large", "status": 413,
                               "detail": detail}).encode()
            await send({"type": "http.response.start", "status": 413, "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})
            return
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _Problem(413, "Body too large", detail)
            return message

        await self.app(scope, counted, send)


def create_app(hearth: Hearth, tokens: "TokenStore | str | Path | Mapping", *,
               limits: ServerLimits | None = None,
               on_open: Callable[[Household], None] | None = None,
               responders: Sequence[Responder] | None = None):
    """The ASGI app serving ``hearth``'s households.

    ``tokens``: a ``TokenStore``, the path of a tokens file, or ``{token: (household, scope)}``.
    ``on_open(household)`` is called once for each household the server opens (attach a reasoner
    pipeline there: its conclusions come back in the answers). ``responders`` fill the utterance
    answer's slots (``UTTERANCE_SLOTS``): each gets an ``UtteranceContext`` and returns some of
    them, e.g. ``{"interpretation": {...}}``; by default :func:`reasoner_answer` fills them from
    the reasoner's conclusions.
    """
    responders = (reasoner_answer,) if responders is None else tuple(responders)
    import contextlib

    from fastapi import Depends, FastAPI, Query, Request, Security
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException

    import hearth as hearth_pkg

    token_store = _as_token_store(tokens)
    limits = limits or ServerLimits()
    models = api_models()
    runner = QueryRunner(limits)
    open_lock = threading.Lock()
    attached: set[str] = set()
    write_locks: dict[str, threading.Lock] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        runner.close()

    app = FastAPI(
        title="hearth", version=hearth_pkg.__version__, lifespan=lifespan,
        docs_url=None, redoc_url=None,
        description=(
            "Households' knowledge graphs over HTTP: a SPARQL 1.1 Protocol endpoint per "
            "household and a JSON API for assistants. Every /households/{id}/ request needs "
            "'Authorization: Bearer <token>' (`hearth token create ID --scope read|write`). "
            "Errors are RFC 9457 problem details (application/problem+json)."))
    app.state.tokens = token_store
    app.state.limits = limits
    app.state.queries = runner
    app.add_middleware(_BodyLimit, limit=limits.max_body_bytes)

    bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                        description="A household token: hth_<id>_<secret>")

    class JSON(JSONResponse):
        def render(self, content) -> bytes:
            return json.dumps(content, ensure_ascii=False, default=str).encode("utf-8")

    def problem(status: int, title: str, detail: str, headers=None, **extra) -> Response:
        body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
        return JSON(body, status_code=status, headers=headers,
                    media_type="application/problem+json")

    @app.exception_handler(_Problem)
    async def _on_problem(_request, exc: _Problem):
        return problem(exc.status, exc.title, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(_request, exc: RequestValidationError):
        err = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        name = ".".join(loc) or None
        return problem(400, "Bad request", f"{name or 'the request'}: {err.get('msg', 'invalid')}",
                       field=name)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(_request, exc: StarletteHTTPException):
        from http import HTTPStatus
        try:
            title = HTTPStatus(exc.status_code).phrase
        except ValueError:
            title = "Error"
        return problem(exc.status_code, title, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(HearthError)
    async def _on_hearth(_request, exc: HearthError):
        if isinstance(exc, EventError):
            return problem(400, "Bad event", str(exc), line=exc.line, field=exc.field)
        if isinstance(exc, UnknownHouseholdError):
            return problem(404, "Unknown household", str(exc))
        if isinstance(exc, StoreLockedError):  # another process (a `hearth` command) has it open
            return problem(503, "Household busy", str(exc), {"Retry-After": "5"})
        if isinstance(exc, ValueError):
            return problem(400, "Bad request", str(exc))
        return problem(500, "Server error", str(exc))

    # -- helpers ---------------------------------------------------------------------------
    def authorize(household: str, credentials, scope: str) -> Grant:
        realm = 'Bearer realm="hearth"'
        if credentials is None:
            raise _Problem(401, "Unauthorized", (
                "this endpoint needs a bearer token: send 'Authorization: Bearer <token>'; "
                f"create one with `hearth token create {household}`"),
                headers={"WWW-Authenticate": realm})
        try:
            grant = token_store.verify(credentials.credentials)
        except TokenError as err:
            raise _Problem(500, "Server error", str(err)) from None
        if grant is None:
            raise _Problem(401, "Unauthorized", (
                "the bearer token is not valid (unknown, revoked or mistyped); "
                "`hearth token list` shows the tokens that exist"),
                headers={"WWW-Authenticate": realm + ', error="invalid_token"'})
        if grant.household != household:
            raise _Problem(403, "Forbidden", (
                f"this token is for household {grant.household!r}; it gives no access to "
                f"{household!r}"),
                headers={"WWW-Authenticate": realm + ', error="insufficient_scope"'})
        if not grant.allows(household, scope):
            raise _Problem(403, "Forbidden", (
                f"this token can only read household {household!r}; writing needs a write "
                f"token (`hearth token create {household} --scope write`)"),
                headers={"WWW-Authenticate": realm + ', error="insufficient_scope"'})
        return grant

    def open_home(household: str) -> Household:
        with open_lock:
            try:
                home = hearth.household(household)
            except ValueError as err:  # a malformed id
                raise _Problem(404, "Unknown household", str(err)) from None
            if household not in attached:
                attached.add(household)
                write_locks[household] = threading.Lock()
                if on_open is not None:
                    on_open(home)
            return home

    async def read_body(request: Request, limit: int) -> bytes:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise _Problem(413, "Body too large", f"the body has {length} bytes; the limit is "
                           f"{limit}: split it into smaller requests")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _Problem(413, "Body too large", f"the body is over the limit of {limit} "
                               "bytes: split it into smaller requests")
            chunks.append(chunk)
        return b"".join(chunks)

    def content_type(request: Request) -> str:
        return request.headers.get("content-type", "").split(";")[0].strip().lower()

    def decode(body: bytes, what: str) -> str:
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as err:
            raise _Problem(400, "Bad request", f"the {what} is not UTF-8: {err}") from None

    def form_fields(body: bytes) -> dict[str, list[str]]:
        from urllib.parse import parse_qs
        return parse_qs(decode(body, "form"), keep_blank_values=True)

    def append_and_conclude(home: Household, events: list[E.Event],
                            numbers: list[int] | None) -> tuple[list[Appended], list[Appended]]:
        from kg.ingest import append_events
        # One writer per household: the reasoner's run after an append finishes before the next
        # append starts, so every append is reasoned over and its conclusions are its own.
        with write_locks[home.id]:
            result = append_events(home, events, numbers)
            appended = [Appended(seq, home.ids.event(seq), ev)
                        for seq, ev in zip(range(result.first_seq, result.last_seq + 1), events)]
            return appended, conclusions_of(home, appended)

    def out(home: Household, items: Iterable[Appended]) -> list[dict]:
        return [event_json(home, a.seq, a.event) for a in items]

    def require(scope: str):
        async def grant(household: str,
                        credentials: Optional[HTTPAuthorizationCredentials] = Security(bearer),
                        ) -> Grant:
            return authorize(household, credentials, scope)
        return Depends(grant)

    # Dependencies run before the body is validated: a request without a good token learns
    # nothing else.
    read_grant, write_grant = require("read"), require("write")
    household_path = "/households/{household}"
    problem_responses = {
        code: {"model": models.Problem, "description": text,
               "content": {"application/problem+json": {}}}
        for code, text in ((400, "Bad request"), (401, "No or invalid token"),
                           (403, "The token does not allow this"),
                           (404, "No such household"))}

    # -- SPARQL ----------------------------------------------------------------------------
    sparql_offers = list(SOLUTIONS_TYPES)
    graph_offers = list(GRAPH_TYPES)
    sparql_responses = {
        **problem_responses,
        200: {"description": "Query results, by content negotiation. A result cut at the row "
                             "limit carries 'Hearth-Truncated: true' (and, in JSON, "
                             "\"truncated\": true)",
              "content": {t: {} for t in sparql_offers + graph_offers}},
        406: {"description": "No acceptable results format", "model": models.Problem},
        413: {"description": "The query is too long", "model": models.Problem},
        415: {"description": "Unsupported request content type", "model": models.Problem},
        503: {"description": "No query worker is free", "model": models.Problem},
        504: {"description": "The query ran past the time limit", "model": models.Problem},
    }

    async def answer_query(request: Request, household: str, sparql: str | None) -> Response:
        if not sparql or not sparql.strip():
            raise _Problem(400, "Bad request", "no query: give it as ?query=… (GET), as the body "
                           "(POST application/sparql-query) or as query=… (POST form)")
        for name in ("default-graph-uri", "named-graph-uri"):
            if name in request.query_params:
                raise _Problem(400, "Bad request", (
                    f"{name} is not supported: the default graph is the union of the household's "
                    "graphs; reach one graph with GRAPH <iri> { … } in the query"))
        if len(sparql.encode("utf-8")) > limits.max_query_bytes:
            raise _Problem(413, "Query too long",
                           f"the query is over {limits.max_query_bytes} bytes")
        from kg.query import is_update
        if is_update(sparql):
            raise _Problem(400, "Update sent to the query endpoint", (
                "this is a SPARQL update; the query endpoint only answers queries. hearth's "
                "graph changes only through events: POST the update to "
                f"/households/{household}/update with a write token (INSERT DATA becomes a "
                "FactsAsserted event), or POST events to /households/{household}/events"))
        accept = parse_accept(request.headers.get("accept"))
        solutions_type = negotiate(accept, sparql_offers)
        graph_type = negotiate(accept, graph_offers)
        form = query_form(sparql)
        if form in ("SELECT", "ASK") and solutions_type is None:
            answer = _not_acceptable(form, SOLUTIONS_TYPES)
        elif form in ("CONSTRUCT", "DESCRIBE") and graph_type is None:
            answer = _not_acceptable(form, GRAPH_TYPES)
        else:
            home = await run_in_threadpool(open_home, household)
            answer = await runner.run(home, sparql, solutions_type=solutions_type,
                                      graph_type=graph_type)
        if answer.status != 200:
            headers = {"Retry-After": "1"} if answer.status == 503 else None
            return problem(answer.status, answer.title, answer.detail, headers)
        headers = {"Hearth-Rows": str(answer.rows), "Vary": "Accept"}
        if answer.truncated:
            headers["Hearth-Truncated"] = "true"
            headers["Hearth-Row-Limit"] = str(limits.max_rows)
        media = answer.media_type
        if media.startswith("text/") or media.endswith("xml"):
            media += "; charset=utf-8"
        return Response(answer.body, headers=headers, media_type=media)

    @app.get(household_path + "/sparql", tags=["SPARQL"], summary="SPARQL query (GET)",
             responses=sparql_responses, response_class=Response)
    async def sparql_get(request: Request, household: str,
                         query: Optional[str] = Query(None, description="The SPARQL query"),
                         grant: Grant = read_grant):
        """A SPARQL 1.1 query over the household's graphs (hearth's prefixes are predeclared).
        Read scope."""
        return await answer_query(request, household, query)

    @app.post(household_path + "/sparql", tags=["SPARQL"], summary="SPARQL query (POST)",
              responses=sparql_responses, response_class=Response,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/sparql-query": {"schema": {"type": "string"}},
                  "application/x-www-form-urlencoded": {"schema": {
                      "type": "object", "properties": {"query": {"type": "string"}},
                      "required": ["query"]}}}}})
    async def sparql_post(request: Request, household: str,
                          grant: Grant = read_grant):
        """A SPARQL 1.1 query, as the body (application/sparql-query) or a form field.
        Read scope."""
        ctype = content_type(request)
        body = await read_body(request, limits.max_query_bytes)
        if ctype == "application/sparql-query":
            sparql = decode(body, "query")
        elif ctype == "application/x-www-form-urlencoded":
            fields = form_fields(body)
            if "update" in fields:
                raise _Problem(400, "Update sent to the query endpoint", (
                    f"update=… goes to /households/{household}/update (with a write token); "
                    "this endpoint only answers queries"))
            values = fields.get("query", [])
            if len(values) > 1:
                raise _Problem(400, "Bad request", "give one query=… field, not several")
            sparql = values[0] if values else None
        elif ctype == "application/sparql-update":
            raise _Problem(400, "Update sent to the query endpoint", (
                f"SPARQL updates go to /households/{household}/update (with a write token); "
                "this endpoint only answers queries"))
        else:
            raise _Problem(415, "Unsupported media type", (
                f"send the query as application/sparql-query or as an "
                f"application/x-www-form-urlencoded query=… field, not {ctype or 'no type'}"))
        return await answer_query(request, household, sparql)

    @app.post(household_path + "/update", tags=["SPARQL"], summary="SPARQL update",
              response_model=None,
              responses={**problem_responses, 200: {"model": models.UpdateResult}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/sparql-update": {"schema": {"type": "string"}},
                  "application/x-www-form-urlencoded": {"schema": {
                      "type": "object", "properties": {"update": {"type": "string"}},
                      "required": ["update"]}}}}})
    async def sparql_update(request: Request, household: str,
                            grant: Grant = write_grant):
        """SPARQL Update with a write token. The graph is an append-only log, so only
        ``INSERT DATA { triples }`` is taken: it is recorded as one FactsAsserted event.
        Deletions are refused: retract the event that asserted the facts instead."""
        ctype = content_type(request)
        body = await read_body(request, limits.max_query_bytes)
        if ctype == "application/sparql-update":
            text = decode(body, "update")
        elif ctype == "application/x-www-form-urlencoded":
            text = (form_fields(body).get("update") or [""])[0]
        else:
            raise _Problem(415, "Unsupported media type", (
                "send the update as application/sparql-update or as an "
                f"application/x-www-form-urlencoded update=… field, not {ctype or 'no type'}"))
        home = await run_in_threadpool(open_home, household)
        triples = update_to_triples(text, home)

        def record():
            from kg.query import triples_text
            event = E.FactsAsserted(time=dt.datetime.now(dt.timezone.utc),
                                    rdf=triples_text(triples))
            appended, _ = append_and_conclude(home, [event], None)
            return {"household": household, "triples": len(triples),
                    "appended": event_json(home, appended[0].seq, appended[0].event)}
        return JSON(await run_in_threadpool(record))

    # -- events ----------------------------------------------------------------------------
    @app.post(household_path + "/events", tags=["Events"], summary="Append events",
              status_code=201, response_model=None,
              responses={**problem_responses, 201: {"model": models.AppendResult},
                         413: {"model": models.Problem}, 415: {"model": models.Problem}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"oneOf": [
                      {"$ref": f"#/components/schemas/{n}Event"} for n in sorted(E.EVENT_TYPES)]}},
                  "application/x-ndjson": {"schema": {
                      "type": "string", "description": "JSON Lines: one event a line"}}}}})
    async def post_events(request: Request, household: str,
                          grant: Grant = write_grant):
        """Appends one event (application/json) or a batch (JSON Lines), validated entirely
        first: a bad event is reported with its line and field, and then nothing is stored.
        Write scope."""
        ctype = content_type(request)
        body = await read_body(request, limits.max_body_bytes)
        text = decode(body, "body")

        def parse(home: Household):
            from kg.ingest import parse_lines
            if ctype == "application/json":
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as err:
                    raise EventError(f"the body is not valid JSON: {err.msg} at line {err.lineno} "
                                     f"column {err.colno}") from None
                if isinstance(obj, list):
                    raise EventError("a JSON body is one event; send a batch as JSON Lines "
                                     "(Content-Type: application/x-ndjson), one event a line")
                return [E.Event.from_json(obj, ids=home.ids)], None
            if ctype in JSON_LINES_TYPES:
                return parse_lines(text.splitlines(), home)
            raise _Problem(415, "Unsupported media type", (
                "send one event as application/json or a batch as application/x-ndjson (JSON "
                f"Lines), not {ctype or 'no type'}"))

        def work():
            home = open_home(household)
            events, numbers = parse(home)
            if not events:
                raise EventError("the body holds no events (blank lines and # comments are "
                                 "skipped)")
            appended, conclusions = append_and_conclude(home, events, numbers)
            return {"household": household, "count": len(appended),
                    "first_seq": appended[0].seq, "last_seq": appended[-1].seq,
                    "events": [{"seq": a.seq, "iri": a.iri.value, "type": a.event.type_name()}
                               for a in appended],
                    "conclusions": out(home, conclusions)}
        return JSON(await run_in_threadpool(work), status_code=201)

    @app.get(household_path + "/events", tags=["Events"], summary="Read the log",
             response_model=None,
             responses={**problem_responses, 200: {"model": models.EventPage}})
    def get_events(household: str,
                   start: int = Query(1, ge=1, description="The first sequence number"),
                   limit: int = Query(100, ge=1, le=limits.max_page,
                                      description="How many events at most"),
                   types: Optional[list[str]] = Query(None, alias="type",
                                                      description="Only these event types"),
                   grant: Grant = read_grant):
        """The household's events in log order, a page at a time. Read scope."""
        home = open_home(household)
        if types:
            classes = [E.event_type(t) for t in types]
            seqs = home.log.seqs_of_types(classes, start=start)
            page, more = seqs[:limit], len(seqs) > limit
            next_start = seqs[limit] if more else None
            events = [event_json(home, s, home.event(s)) for s in page]
        else:
            end = min(home.head, start + limit - 1)
            events = [event_json(home, s, e) for s, e in home.events(start=start, end=end)]
            next_start = end + 1 if end < home.head else None
        return JSON({"household": household, "head": home.head, "events": events,
                     "next_start": next_start})

    # -- state and utterances ----------------------------------------------------------------
    @app.get(household_path + "/state", tags=["Households"], summary="The current state",
             response_model=None,
             responses={**problem_responses, 200: {"model": models.StateOut}})
    def get_state(household: str, grant: Grant = read_grant):
        """Devices and their states, areas, people and who is home, taught definitions: the
        projection of the log. Read scope."""
        return JSON(state_json(open_home(household)))

    @app.get(household_path + "/conversations", tags=["Conversations"],
             summary="The conversations", response_model=None,
             responses={**problem_responses, 200: {"model": models.ConversationList}})
    def get_conversations(household: str, grant: Grant = read_grant):
        """Every conversation (dialogue session), the latest first: who spoke, how many turns,
        the skills in the order they became active. Read scope."""
        home = open_home(household)
        return JSON({"household": household, "conversations": conversations_json(home)})

    @app.get(household_path + "/conversations/{session}", tags=["Conversations"],
             summary="A conversation's dialogue state", response_model=None,
             responses={**problem_responses, 200: {"model": models.ConversationOut}})
    def get_conversation(household: str, session: str, grant: Grant = read_grant):
        """Its turns so far and one frame per skill, each slot value with where it came from
        (said, carried from another skill, inferred by a rule, offered) and the event that put
        it there. Read scope."""
        home = open_home(household)
        found = dialogue_json(home, session)
        if found is None:
            known = [c["session"] for c in conversations_json(home)[:10]]
            raise _Problem(404, "Unknown conversation",
                           f"household {household!r} has no conversation {session!r}; "
                           + (f"its latest are {', '.join(known)} (GET .../conversations lists "
                              "them all)" if known else "it has had none yet"))
        return JSON({"household": household, **found})

    @app.get(household_path + "/events/{seq}/why", tags=["Events"],
             summary="Why a conclusion was drawn", response_model=None,
             responses={**problem_responses, 200: {"model": models.WhyOut}})
    def get_why(household: str, seq: int, attributions: bool = True,
                grant: Grant = read_grant):
        """The explanation of event ``seq``: a sentence, the evidence down to the input events,
        and (``attributions``, default true) the Shapley values of the learned score that
        decided, where one did. Read scope."""
        home = open_home(household)
        if not 1 <= seq <= home.head:
            raise _Problem(404, "Unknown event", f"household {household!r} has events 1 to "
                           f"{home.head}; there is no event {seq}")
        return JSON({"household": household, **why_json(home, seq, attributions=attributions)})

    @app.post(household_path + "/utterances", tags=["Households"], summary="Hear an utterance",
              status_code=201, response_model=None,
              responses={**problem_responses, 201: {"model": models.UtteranceResult}})
    def post_utterance(household: str, utterance: models.UtteranceIn,
                       grant: Grant = write_grant):
        """Appends an UtteranceHeard event; answers with it, the conclusions the reasoner drew
        from it, and the state. Write scope."""
        home = open_home(household)
        obj = {"type": "UtteranceHeard", **utterance.model_dump(exclude_none=True)}
        obj.setdefault("time", format_datetime(dt.datetime.now(dt.timezone.utc)))
        event = E.Event.from_json(obj, ids=home.ids)
        appended, conclusions = append_and_conclude(home, [event], None)
        result: dict[str, Any] = {
            "household": household, "utterance": event_json(home, appended[0].seq, event),
            "conclusions": out(home, conclusions), "state": state_json(home),
            "interpretation": None, "dialogue": None, "suggestions": [], "hunches": [],
            "explanations": []}
        context = UtteranceContext(home, appended[0], conclusions)
        for responder in responders:
            filled = dict(responder(context) or {})
            unknown = set(filled) - set(UTTERANCE_SLOTS)
            if unknown:
                raise ServerError(f"responder {responder!r} returned {sorted(unknown)}; it may "
                                  f"fill only {', '.join(UTTERANCE_SLOTS)}")
            result.update(filled)
        return JSON(result, status_code=201)

    @app.get("/", tags=["Server"], summary="About this server", response_model=None)
    def about():
        """The server's name and version (no token needed; lists no households)."""
        return JSON({"name": "hearth", "version": hearth_pkg.__version__,
                     "openapi": "/openapi.json"})

    # The event schemas referenced by POST /events, added to the generated description.
    def openapi():
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            comps = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, sub in _event_schemas().items():
                comps[f"{name}Event"] = sub
            # Errors are problem+json, and invalid requests get 400 (not FastAPI's 422).
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    responses.pop("422", None)
                    for response in responses.values():
                        content = response.get("content", {})
                        if "application/problem+json" in content and "application/json" in content:
                            content["application/problem+json"] = content.pop("application/json")
            for name in ("HTTPValidationError", "ValidationError"):
                comps.pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app


_UPDATE_REFUSED = {"LOAD", "CLEAR", "DROP", "CREATE", "ADD", "MOVE", "COPY", "WITH", "USING",
                   "WHERE", "GRAPH"}


def update_to_triples(text: str, home: Household) -> list:
    """The triples of an ``INSERT DATA`` update, or a 400 problem saying what to do instead."""
    import pyoxigraph as ox
    from kg.query import keywords
    try:
        words = keywords(text)
    except QueryError as err:
        raise _Problem(400, "Bad update", str(err)) from None
    hid = home.id
    if "DELETE" in words:
        raise _Problem(400, "Deletion refused", (
            "hearth's graph is an append-only event log: facts are never deleted. Retract the "
            f"event that asserted them: POST /households/{hid}/events with "
            '{"type": "EventRetracted", "time": …, "retracts": SEQ, "reason": …}; '
            "find SEQ with SELECT ?e WHERE { GRAPH ?e { <s> <p> <o> } }"))
    refused = words & _UPDATE_REFUSED
    if refused or not {"INSERT", "DATA"} <= words:
        what = f" ({', '.join(sorted(refused))})" if refused else ""
        raise _Problem(400, "Update refused", (
            f"only INSERT DATA {{ triples }} is taken{what}: it becomes one FactsAsserted event. "
            "Changes of state are events: POST them to "
            f"/households/{hid}/events (docs/events.md)"))
    scratch = ox.Store()  # parses the update and collects its triples, away from the household
    try:
        scratch.update(text, prefixes=home.prefixes())
    except SyntaxError as err:
        raise _Problem(400, "Bad update", f"the update does not parse: {err}") from None
    quads = list(scratch)
    if any(not isinstance(q.graph_name, ox.DefaultGraph) for q in quads):
        raise _Problem(400, "Update refused", "INSERT DATA into a named graph is refused: each "
                       "event has its own graph, named by the log")
    if not quads:
        raise _Problem(400, "Bad update", "the update inserts no triples")
    return [q.triple for q in quads]


# ---------------------------------------------------------------------------------------------
# Commands: `hearth serve` and `hearth token …` (registered in hearth/cli.py)

DEFAULT_DIR = Path(".hearth")


def _root(directory: Path | None) -> Path:
    return Path(directory) if directory is not None else DEFAULT_DIR


def tokens_path(directory: Path | None, tokens_file: Path | None = None) -> Path:
    """Where the tokens live: ``--tokens FILE``, else ``<hearth folder>/tokens.json``."""
    return Path(tokens_file) if tokens_file is not None else _root(directory) / "tokens.json"


def serve(directory: Path | None = None, *, host: str = "127.0.0.1", port: int = 8080,
          tokens_file: Path | None = None, limits: ServerLimits | None = None,
          reasoners: Sequence[str] | None = None, access_log: bool = True,
          log_level: str = "info") -> None:
    """Serves the households of a hearth folder until interrupted. ``reasoners``: the
    components run on each household after every append; by default the same as the Python
    facade's (``hearth.household.DEFAULT_COMPONENTS``); ``()`` serves the graph alone."""
    import uvicorn

    root = _root(directory)
    if not (root / "hearth.json").exists():
        raise ServerError(f"{root} is not a hearth folder (no hearth.json): create a household "
                          f"first with `hearth household create ID --dir {root}`")
    tokens = TokenStore(tokens_path(directory, tokens_file))
    from reasoner.pipeline import FACTORIES, Pipeline, populate_registry
    populate_registry()  # the reasoner's event types are known to POST /events either way
    if reasoners is None:
        from .household import DEFAULT_COMPONENTS
        reasoners = [n for n in DEFAULT_COMPONENTS if n in FACTORIES]
    on_open = None
    if reasoners:
        Pipeline.from_names(reasoners)  # fail now on an unknown name, not at the first request

        def attach_reasoner(home: Household) -> None:
            Pipeline.from_names(reasoners).attach(home)
        on_open = attach_reasoner
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again for the
    # previous handler: make that an orderly exit, so the households are closed (flushed).
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_quietly)
    with Hearth.open(root) as hearth:
        app = create_app(hearth, tokens, limits=limits, on_open=on_open)
        config = uvicorn.Config(app, host=host, port=port, access_log=access_log,
                                log_level=log_level, timeout_graceful_shutdown=5)
        try:
            uvicorn.Server(config).run()
        except KeyboardInterrupt:
            pass


def _exit_quietly(_signum, _frame) -> None:
    raise SystemExit(0)


serve_app = typer.Typer(name="serve", help="Serve the households over HTTP (SPARQL and JSON).",
                        pretty_exceptions_enable=False)
token_app = typer.Typer(name="token", no_args_is_help=True, pretty_exceptions_enable=False,
                        help="Create, list and revoke the bearer tokens of `hearth serve`.")

_DirOption = typer.Option(None, "--dir", envvar="HEARTH_HOME",
                          help="The hearth folder (default: ./.hearth, or $HEARTH_HOME).")
_TokensOption = typer.Option(None, "--tokens", envvar="HEARTH_TOKENS",
                             help="The token file (default: tokens.json in the hearth folder).")


def _fail(err: Exception) -> None:
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(2)


@serve_app.callback(invoke_without_command=True)
def serve_command(
        directory: Optional[Path] = _DirOption,
        host: str = typer.Option("127.0.0.1", help="The address to listen on."),
        port: int = typer.Option(8080, help="The port to listen on."),
        tokens_file: Optional[Path] = _TokensOption,
        query_timeout: float = typer.Option(10.0, help="Seconds a SPARQL query may run."),
        max_rows: int = typer.Option(10_000, help="Rows (or triples) a result may hold."),
        query_workers: int = typer.Option(4, help="Threads running SPARQL queries."),
        reasoner: list[str] = typer.Option([], help="Reasoner components to run on each "
                                                    "household (repeat for several; default: "
                                                    "all of the built-in ones, as in Python)."),
        no_reasoner: bool = typer.Option(False, "--no-reasoner",
                                         help="Serve the graph alone: no reasoner runs."),
        access_log: bool = typer.Option(True, help="Log every request.")):
    """Serve the households of a hearth folder: SPARQL and the JSON API, with bearer tokens."""
    try:
        limits = ServerLimits(query_timeout_s=query_timeout, max_rows=max_rows,
                              query_workers=query_workers,
                              queries_per_household=max(1, query_workers // 2))
        if host not in ("127.0.0.1", "localhost", "::1"):
            typer.echo("note: tokens travel in clear over plain HTTP: put a TLS proxy in front "
                       "when serving beyond this machine", err=True)
        if not TokenStore(tokens_path(directory, tokens_file)).list():
            typer.echo("note: no tokens yet, so every household request will be refused; "
                       "create one with `hearth token create HOUSEHOLD`", err=True)
        if no_reasoner and reasoner:
            raise ServerError("give --reasoner NAME or --no-reasoner, not both")
        serve(directory, host=host, port=port, tokens_file=tokens_file, limits=limits,
              reasoners=() if no_reasoner else (list(reasoner) or None),
              access_log=access_log)
    except HearthError as err:
        _fail(err)


@token_app.command("create")
def token_create(household: str = typer.Argument(..., help="The household the token is for."),
                 scope: str = typer.Option("read", help="read, or write (includes read)."),
                 label: Optional[str] = typer.Option(None, help="A note: who or what uses it."),
                 directory: Optional[Path] = _DirOption,
                 tokens_file: Optional[Path] = _TokensOption):
    """Create a token and print it (it is shown once; only its hash is kept)."""
    try:
        root = _root(directory)
        if (root / "hearth.json").exists():
            if not (root / "households" / household).is_dir():
                known = sorted(p.name for p in (root / "households").glob("*") if p.is_dir())
                raise TokenError(f"no household {household!r} in {root}; known: "
                                 f"{', '.join(known) or 'none'}. Create it first with "
                                 f"`hearth household create {household}`")
        elif tokens_file is None:
            raise TokenError(f"{root} is not a hearth folder (no hearth.json): give --dir, or "
                             "--tokens FILE for a server started elsewhere")
        token, record = TokenStore(tokens_path(directory, tokens_file)).create(
            household, scope, label=label)
    except HearthError as err:
        _fail(err)
    typer.echo(token)
    typer.echo(f"created {scope} token {record.id} for household {household!r}; it is shown "
               "only this once", err=True)


@token_app.command("list")
def token_list(household: Optional[str] = typer.Option(None, "--household", "-H",
                                                       help="Only this household's tokens."),
               as_json: bool = typer.Option(False, "--json", help="One JSON object a line."),
               directory: Optional[Path] = _DirOption,
               tokens_file: Optional[Path] = _TokensOption):
    """List the tokens (ids, households, scopes; never the secrets)."""
    try:
        records = TokenStore(tokens_path(directory, tokens_file)).list(household)
    except HearthError as err:
        _fail(err)
    for r in records:
        if as_json:
            typer.echo(json.dumps(r.public()))
        else:
            typer.echo(f"{r.id}  {r.household}  {r.scope:5}  {r.created}  {r.label or ''}".rstrip())
    if not records and not as_json:
        typer.echo("no tokens", err=True)


@token_app.command("revoke")
def token_revoke(token_id: str = typer.Argument(..., help="The token's id (`hearth token list`)."),
                 directory: Optional[Path] = _DirOption,
                 tokens_file: Optional[Path] = _TokensOption):
    """Revoke a token: a running server refuses it from now on."""
    try:
        record = TokenStore(tokens_path(directory, tokens_file)).revoke(token_id)
    except HearthError as err:
        _fail(err)
    typer.echo(f"revoked token {record.id} ({record.scope}, household {record.household!r})")


if __name__ == "__main__":  # pragma: no cover  (python -m hearth.server --dir DIR --port N)
    serve_app()
