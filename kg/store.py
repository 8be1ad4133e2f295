"""One store interface, three backends.

- ``OxigraphStore(path)``: the embedded, durable default (RocksDB on disk through pyoxigraph);
- ``OxigraphStore()``: the same engine in memory, for tests and notebooks;
- ``SparqlEndpointStore(query_url, update_url, ...)``: a remote SPARQL 1.1 endpoint
  (query, update and the graph store protocol), for households that outgrow one machine.

A store holds one RDF dataset. Every write method is atomic: all of it lands or none of it does.
Queries see the union of the named graphs as their default graph (hearth keeps everything in
named graphs: one per event, plus a state graph and the ontology).

>>> from pyoxigraph import NamedNode, Literal, Quad
>>> store = OxigraphStore()
>>> g = NamedNode("urn:g")
>>> store.extend([Quad(NamedNode("urn:a"), NamedNode("urn:p"), Literal("1"), g)])
>>> [str(s["o"]) for s in store.query("SELECT ?o WHERE { ?s ?p ?o }")]
['"1"']
"""

from __future__ import annotations


import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

import pyoxigraph as ox
from pyoxigraph import DefaultGraph, NamedNode, Quad, QueryBoolean, QuerySolutions, RdfFormat

from .errors import EndpointError, QueryError, RDFSyntaxError, StoreError, StoreLockedError

log = logging.getLogger("hearth.kg.store")

# the embedded store's write-ahead log of single appends (see OxigraphStore.append_logged)
WAL_NAME = "hearth-wal.nq"
WAL_COMMIT = b"#hearth-commit\n"
# appends waiting in the log are written to RocksDB in one bulk write once there are this many
BULK_QUADS = 20_000

RawResult = QuerySolutions | QueryBoolean | Iterator[ox.Triple]

FORMATS = {
    "nt": RdfFormat.N_TRIPLES, "ntriples": RdfFormat.N_TRIPLES, "n-triples": RdfFormat.N_TRIPLES,
    "nq": RdfFormat.N_QUADS, "nquads": RdfFormat.N_QUADS, "n-quads": RdfFormat.N_QUADS,
    "ttl": RdfFormat.TURTLE, "turtle": RdfFormat.TURTLE,
    "trig": RdfFormat.TRIG, "rdf": RdfFormat.RDF_XML, "xml": RdfFormat.RDF_XML,
    "rdfxml": RdfFormat.RDF_XML, "owl": RdfFormat.RDF_XML, "jsonld": RdfFormat.JSON_LD,
    "json-ld": RdfFormat.JSON_LD, "n3": RdfFormat.N3,
}


def rdf_format(name: str | RdfFormat | None, path: str | Path | None = None) -> RdfFormat:
    """An RDF format from a short name (``ttl``, ``nq`` …) or a file name's extension."""
    if isinstance(name, RdfFormat):
        return name
    key = (name or (Path(path).suffix.lstrip(".") if path else "")).lower()
    try:
        return FORMATS[key]
    except KeyError:
        raise RDFSyntaxError(
            f"unknown RDF format {key or '(none)'!r}: use one of {', '.join(sorted(FORMATS))}"
        ) from None


@runtime_checkable
class Store(Protocol):
    """What hearth needs from an RDF store. Every write is atomic."""

    def query(self, sparql: str, *, prefixes: dict[str, str] | None = None,
              timeout_s: float | None = None) -> RawResult:
        """Runs a SPARQL query; the default graph is the union of the named graphs."""

    def update(self, sparql: str) -> None:
        """Runs a SPARQL update in one transaction."""

    def extend(self, quads: Iterable[Quad]) -> None:
        """Adds quads in one transaction."""

    def quads(self, subject=None, predicate=None, object=None, graph=None) -> Iterator[Quad]:
        """Quads matching a pattern; ``None`` matches anything."""

    def load(self, data: bytes | str | IO[bytes], *, format: RdfFormat,
             graph: NamedNode | None = None) -> None:
        """Parses RDF and adds it in one transaction; nothing is added if it does not parse."""

    def bulk_load(self, path: str | Path, *, format: RdfFormat) -> None:
        """Loads a big file fast, without the all-or-nothing guarantee (for generated data)."""

    def named_graphs(self) -> Iterator[NamedNode]:
        """The names of the graphs in the store."""

    def dump(self, output: IO[bytes] | str | Path | None = None, *,
             format: RdfFormat = RdfFormat.N_QUADS, graph: NamedNode | None = None) -> bytes | None:
        """Serializes the dataset (or one graph)."""

    def flush(self) -> None:
        """Makes every acknowledged write durable."""

    def optimize(self) -> None:
        """Compacts the storage after many writes, so that queries read less (may take seconds)."""

    def close(self) -> None:
        """Releases the store."""


def _syntax_error(err: SyntaxError, what: str) -> QueryError:
    return QueryError(f"{what} does not parse: {err}. Fix the SPARQL text; nothing was changed.")


class OxigraphStore:
    """The embedded store: durable on disk at ``path``, or in memory when ``path`` is None."""

    def __init__(self, path: str | Path | None = None, *, sync: bool | None = None):
        self.path = Path(path) if path is not None else None
        self._compactor: threading.Thread | None = None
        self._lock = threading.RLock()
        self._pending: list[Quad] = []
        self._wal_fd: int | None = None
        # fsync every acknowledged append (survives a power cut, not only a killed process)
        self._sync = os.environ.get("HEARTH_FSYNC") == "1" if sync is None else sync
        try:
            self._store = ox.Store(str(self.path)) if self.path is not None else ox.Store()
        except OSError as err:
            text = str(err)
            if "lock" in text.lower():
                raise StoreLockedError(
                    f"the store at {self.path} is open in another process ({text}). Close that "
                    "process, or open a read-only copy with OxigraphStore.read_only(path)."
                ) from err
            raise StoreError(f"cannot open the store at {self.path}: {text}") from err
        if self.path is not None:
            self._recover()

    # -- the write-ahead log ----------------------------------------------------------------
    # Single events are acknowledged once their quads are in a log file inside the store's
    # folder (like RocksDB's own log, that survives the process being killed; with sync=True or
    # HEARTH_FSYNC=1 also a power cut) and reach RocksDB in batches: before anything else reads
    # or writes the store, or once BULK_QUADS are waiting. Each record ends with a commit line,
    # so a record cut short by a crash was never acknowledged and is dropped.
    def _recover(self) -> None:
        wal = self.path / WAL_NAME
        if wal.exists():
            data = wal.read_bytes()
            end = data.rfind(WAL_COMMIT)
            complete = data[:end + len(WAL_COMMIT)] if end >= 0 else b""
            if complete:
                try:
                    self._store.load(complete, format=RdfFormat.N_QUADS)  # one transaction
                    self._store.flush()
                except (SyntaxError, OSError) as err:
                    raise StoreError(
                        f"the write-ahead log {wal} cannot be replayed: {err}. Nothing in it was "
                        "applied and the file is kept: move it aside to open the store without "
                        "the events it holds.") from err
                log.info("replayed %d bytes of acknowledged events from %s", len(complete), wal)
        self._wal_fd = os.open(wal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.ftruncate(self._wal_fd, 0)

    def append_logged(self, quads: list[Quad]) -> None:
        """Adds quads all or nothing, durable once this returns, and applies them to the store
        lazily: every read and write of this store sees them first. Faster than ``extend``
        for many small appends in a row, which RocksDB then takes in batches."""
        if self.path is None:
            return self.extend(quads)
        data = ox.serialize(quads, format=RdfFormat.N_QUADS) + WAL_COMMIT
        with self._lock:
            if self._wal_fd is None:
                raise StoreError("the store is closed")
            view = memoryview(data)
            size = os.lseek(self._wal_fd, 0, os.SEEK_END)
            while view:
                try:
                    view = view[os.write(self._wal_fd, view):]
                except OSError as err:
                    os.ftruncate(self._wal_fd, size)  # no torn record before the next one
                    raise StoreError(f"writing the store's log failed: {err}. The event was "
                                     "not acknowledged; append it again.") from err
            if self._sync:
                os.fsync(self._wal_fd)
            self._pending.extend(quads)
            if len(self._pending) >= BULK_QUADS:
                self._drain()

    def apply_pending(self) -> None:
        """Writes the acknowledged appends still waiting in the log into RocksDB (every read
        does this by itself; benchmarks call it to time an ingest to the end)."""
        self._drain()

    def _drain(self) -> None:
        """Applies the quads waiting in the log to the store, then empties the log."""
        with self._lock:
            if not self._pending:
                return
            pending = self._pending
            try:
                if len(pending) >= BULK_QUADS:
                    self._store.bulk_extend(pending)  # not atomic: replayed from the log if cut
                else:
                    self._store.extend(pending)
            except OSError as err:
                raise StoreError(f"applying acknowledged events to the store failed: {err}. "
                                 "They stay in its log and are applied when it opens.") from err
            self._pending = []
            os.ftruncate(self._wal_fd, 0)

    @classmethod
    def read_only(cls, path: str | Path) -> "OxigraphStore":
        """Opens a store on disk for reading only (safe while no other process writes it; events
        still waiting in the writer's log are not seen until the writer applies them)."""
        self = cls.__new__(cls)
        self.path = Path(path)
        self._compactor = None
        self._lock = threading.RLock()
        self._pending, self._wal_fd, self._sync = [], None, False
        try:
            self._store = ox.Store.read_only(str(path))
        except OSError as err:
            raise StoreError(f"cannot open the store at {path} read-only: {err}") from err
        return self

    @property
    def raw(self) -> ox.Store:
        """The pyoxigraph store underneath, for tools that need it (benchmarks, oxrdflib), with
        every acknowledged write applied."""
        if self._pending:
            self._drain()
        return self._store

    def __repr__(self) -> str:
        return f"OxigraphStore({str(self.path)!r})" if self.path else "OxigraphStore(in memory)"

    def query(self, sparql, *, prefixes=None, timeout_s=None):
        if self._pending:
            self._drain()
        try:
            return self._store.query(sparql, prefixes=prefixes, use_default_graph_as_union=True)
        except SyntaxError as err:
            raise _syntax_error(err, "the query") from err
        except OSError as err:
            raise StoreError(f"reading the store failed: {err}") from err
        except RuntimeError as err:
            raise QueryError(f"the query failed: {err}") from err

    def update(self, sparql):
        if self._pending:
            self._drain()
        try:
            self._store.update(sparql)
        except SyntaxError as err:
            raise _syntax_error(err, "the update") from err
        except OSError as err:
            raise StoreError(f"writing the store failed, nothing was changed: {err}") from err

    def extend(self, quads):
        if self._pending:
            self._drain()
        try:
            self._store.extend(quads)
        except OSError as err:
            raise StoreError(f"writing the store failed, nothing was changed: {err}") from err

    def quads(self, subject=None, predicate=None, object=None, graph=None):
        if self._pending:
            self._drain()
        return self._store.quads_for_pattern(subject, predicate, object, graph)

    def load(self, data, *, format, graph=None):
        if self._pending:
            self._drain()
        try:
            if isinstance(data, (bytes, str)):
                self._store.load(data, format=format, to_graph=graph)
            else:
                self._store.load(input=data, format=format, to_graph=graph)
        except SyntaxError as err:
            raise RDFSyntaxError(
                f"the {format.name} data does not parse: {err}. Fix it and load again; "
                "nothing was added.") from err
        except OSError as err:
            raise StoreError(f"writing the store failed, nothing was added: {err}") from err

    def bulk_load(self, path, *, format):
        if self._pending:
            self._drain()
        try:
            self._store.bulk_load(path=str(path), format=format)
        except SyntaxError as err:
            raise RDFSyntaxError(f"{path} does not parse as {format.name}: {err}") from err

    def named_graphs(self):
        if self._pending:
            self._drain()
        return (g for g in self._store.named_graphs() if isinstance(g, NamedNode))

    def dump(self, output=None, *, format=RdfFormat.N_QUADS, graph=None):
        if self._pending:
            self._drain()
        if isinstance(output, Path):
            output = str(output)
        kwargs = {"from_graph": graph} if graph is not None else {}
        return self._store.dump(output, format=format, **kwargs)

    def flush(self):
        if self.path is not None:
            self._drain()
            self._store.flush()

    def optimize(self):
        if self.path is not None:
            self.wait_compacted()
            self._store.flush()
            self._store.optimize()

    def compact_in_background(self) -> bool:
        """Starts compacting the storage on a thread of its own (one at a time; reads and writes
        go on meanwhile: RocksDB compacts without holding the interpreter). Many small writes
        (events appended one by one) leave many small files that every query reads; compacting
        them keeps queries as fast as after a bulk load. False when one is already running or
        the store is in memory."""
        if self.path is None or (self._compactor is not None and self._compactor.is_alive()):
            return False
        store = self._store

        def run():
            try:
                store.flush()
                store.optimize()
            except OSError as err:  # the next compaction tries again; nothing is lost
                log.warning("background compaction of %s failed: %s", self.path, err)

        self._compactor = threading.Thread(target=run, name="hearth-compact", daemon=True)
        self._compactor.start()
        return True

    def wait_compacted(self, timeout: float | None = None) -> bool:
        """Waits for a background compaction to finish; True when none is running."""
        if self._compactor is not None:
            self._compactor.join(timeout)
            if self._compactor.is_alive():
                return False
            self._compactor = None
        return True

    def close(self):
        self.wait_compacted()
        self.flush()
        if self._wal_fd is not None:
            os.close(self._wal_fd)
            self._wal_fd = None
        self._store = None


class SparqlEndpointStore:
    """A remote dataset behind SPARQL 1.1 Protocol endpoints.

    ``query_url`` answers queries, ``update_url`` takes updates and ``store_url`` (optional) is the
    graph store protocol endpoint used for bulk loads. The endpoint must treat the default graph as
    the union of the named graphs (``oxigraph serve --union-default-graph``, or Fuseki's
    ``unionDefaultGraph``). Queries are retried with backoff on connection errors and 5xx answers;
    updates are retried only when the connection failed before the request was sent.

    ``SparqlEndpointStore.oxigraph("http://127.0.0.1:7878")`` fills in Oxigraph server's paths.
    """

    def __init__(self, query_url: str, update_url: str | None = None, store_url: str | None = None,
                 *, timeout_s: float = 30.0, retries: int = 3, backoff_s: float = 0.2,
                 auth: tuple[str, str] | None = None, headers: dict[str, str] | None = None,
                 batch_quads: int = 20_000):
        import requests  # imported here: only remote users pay for it

        self.query_url = query_url
        self.update_url = update_url or query_url
        self.store_url = store_url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.batch_quads = batch_quads
        self._requests = requests
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "hearth (+https://w3id.org/hearth) python-requests"
        if headers:
            self._session.headers.update(headers)
        if auth:
            self._session.auth = auth

    @classmethod
    def oxigraph(cls, base_url: str, **kwargs) -> "SparqlEndpointStore":
        base = base_url.rstrip("/")
        return cls(f"{base}/query", f"{base}/update", f"{base}/store", **kwargs)

    def __repr__(self) -> str:
        return f"SparqlEndpointStore({self.query_url!r})"

    # -- HTTP -----------------------------------------------------------------------------
    def _send(self, method: str, url: str, *, idempotent: bool, timeout_s: float | None = None,
              **kwargs):
        req = self._requests
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                response = self._session.request(method, url, timeout=timeout_s or self.timeout_s,
                                                 **kwargs)
            except req.exceptions.ConnectionError as err:
                # A refused connection never reached the server, so even an update is safe to resend.
                last = err
                if not (idempotent or _never_sent(err)) or attempt == self.retries:
                    break
            except req.exceptions.Timeout as err:
                last = err
                if not idempotent or attempt == self.retries:
                    break
            except req.exceptions.RequestException as err:
                raise EndpointError(f"request to {url} failed: {err}", url=url) from err
            else:
                if response.status_code < 400:
                    return response
                if response.status_code in (429, 502, 503, 504) and attempt < self.retries and (
                        idempotent or response.status_code in (429, 503)):
                    time.sleep(_retry_after(response, self.backoff_s * 2 ** attempt))
                    continue
                body = response.text[:500].strip()
                if response.status_code == 400:
                    raise QueryError(f"the endpoint {url} refused the request (400): {body}")
                if response.status_code in (401, 403):
                    raise EndpointError(
                        f"the endpoint {url} refused access ({response.status_code}): check the "
                        "credentials given as auth= or headers=", status=response.status_code,
                        url=url)
                raise EndpointError(f"the endpoint {url} answered {response.status_code}: {body}",
                                    status=response.status_code, url=url)
            time.sleep(self.backoff_s * 2 ** attempt)
        raise EndpointError(
            f"the endpoint {url} could not be reached after {attempt + 1} attempt(s): {last}. "
            "Check that the server runs and the URL is right.", url=url) from last

    # -- Store protocol -----------------------------------------------------------------------
    def query(self, sparql, *, prefixes=None, timeout_s=None):
        if prefixes:
            sparql = "".join(f"PREFIX {p}: <{iri}>\n" for p, iri in prefixes.items()) + sparql
        response = self._send(
            "POST", self.query_url, idempotent=True, timeout_s=timeout_s,
            data=sparql.encode("utf-8"),
            headers={"Content-Type": "application/sparql-query; charset=utf-8",
                     "Accept": "application/sparql-results+json, application/n-triples;q=0.9"})
        ctype = response.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            if ctype in ("application/n-triples", "text/plain", "application/n-quads"):
                return iter([q.triple for q in ox.parse(response.content, format=RdfFormat.N_QUADS)])
            if ctype == "text/turtle":
                return iter([q.triple for q in ox.parse(response.content, format=RdfFormat.TURTLE)])
            if ctype == "application/sparql-results+xml":
                return ox.parse_query_results(response.content, format=ox.QueryResultsFormat.XML)
            return ox.parse_query_results(response.content, format=ox.QueryResultsFormat.JSON)
        except SyntaxError as err:
            raise EndpointError(
                f"the endpoint {self.query_url} sent results that do not parse ({ctype}): {err}",
                url=self.query_url) from err

    def update(self, sparql):
        self._send("POST", self.update_url, idempotent=False, data=sparql.encode("utf-8"),
                   headers={"Content-Type": "application/sparql-update; charset=utf-8"})

    def extend(self, quads):
        # One request is one transaction on the server; a very large batch is split, which gives
        # up atomicity only past batch_quads quads.
        batch: list[str] = []
        for quad in quads:
            batch.append(_quad_data(quad))
            if len(batch) >= self.batch_quads:
                self.update("INSERT DATA {\n" + "\n".join(batch) + "\n}")
                batch = []
        if batch:
            self.update("INSERT DATA {\n" + "\n".join(batch) + "\n}")

    def quads(self, subject=None, predicate=None, object=None, graph=None):
        terms = {"s": subject, "p": predicate, "o": object}
        where = " ".join(str(t) if t is not None else f"?{k}" for k, t in terms.items())
        if graph is None:
            pattern = f"GRAPH ?g {{ {where} }}"
        elif isinstance(graph, DefaultGraph):
            raise StoreError("hearth keeps no triples in the default graph of a remote store")
        else:
            pattern = f"GRAPH {graph} {{ {where} }}"
        for row in self.query(f"SELECT * WHERE {{ {pattern} }}"):
            yield Quad(subject or row["s"], predicate or row["p"], object or row["o"],
                       graph if graph is not None else row["g"])

    def load(self, data, *, format, graph=None):
        try:
            parsed = list(ox.parse(data if isinstance(data, (bytes, str)) else data.read(),
                                   format=format))
        except SyntaxError as err:
            raise RDFSyntaxError(
                f"the {format.name} data does not parse: {err}. Fix it and load again; "
                "nothing was added.") from err
        if graph is not None:
            parsed = [Quad(q.subject, q.predicate, q.object, graph) for q in parsed]
        self.extend(parsed)

    def bulk_load(self, path, *, format):
        if self.store_url is None:
            with open(path, "rb") as handle:
                self.load(handle, format=format)
            return
        with open(path, "rb") as handle:
            self._send("POST", self.store_url, idempotent=False, data=handle,
                       headers={"Content-Type": format.media_type}, timeout_s=max(self.timeout_s, 600))

    def named_graphs(self):
        for row in self.query("SELECT DISTINCT ?g WHERE { GRAPH ?g { } }"):
            yield row["g"]

    def dump(self, output=None, *, format=RdfFormat.N_QUADS, graph=None):
        if graph is not None:
            triples = self.query(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH {graph} {{ ?s ?p ?o }} }}")
            data = ox.serialize(list(triples), format=format)
        else:
            rows = self.query("SELECT * WHERE { GRAPH ?g { ?s ?p ?o } }")
            data = ox.serialize([Quad(r["s"], r["p"], r["o"], r["g"]) for r in rows], format=format)
        if output is None:
            return data
        if isinstance(output, (str, Path)):
            Path(output).write_bytes(data)
        else:
            output.write(data)
        return None

    def flush(self):
        pass

    def optimize(self):
        pass  # the server manages its own storage

    def close(self):
        self._session.close()


def _quad_data(quad: Quad) -> str:
    # str() of a pyoxigraph term is its N-Triples form, with every special character escaped.
    if isinstance(quad.graph_name, DefaultGraph):
        return f"{quad.subject} {quad.predicate} {quad.object} ."
    return f"GRAPH {quad.graph_name} {{ {quad.subject} {quad.predicate} {quad.object} }}"


def _never_sent(err: Exception) -> bool:
    text = str(err)
    return "Connection refused" in text or "NewConnectionError" in text


def _retry_after(response, default: float) -> float:
    value = response.headers.get("Retry-After")
    if value is None:
        return default
    try:
        return min(float(value), 30.0)
    except ValueError:
        return default


def open_store(location: str | Path | None) -> Store:
    """A store from a location: None or ``:memory:`` (in memory), an ``http(s)://`` base URL of an
    Oxigraph server, or a folder on disk."""
    if location is None or str(location) == ":memory:":
        return OxigraphStore()
    text = str(location)
    if text.startswith(("http://", "https://")):
        return SparqlEndpointStore.oxigraph(text)
    return OxigraphStore(Path(text))


