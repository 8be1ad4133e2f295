"""Households: the graph-level API, scoped to one household.

A ``Hearth`` holds households; each household's events and state live in a dataset of its own
(a folder of its own on disk, or an endpoint of its own), so nothing reached through one
household's API can read another's graphs.

>>> hearth = Hearth.in_memory()
>>> home = hearth.create_household("h1", name="The Smiths", time="2026-11-25T07:00:00Z")
>>> _ = home.append({"type": "DeviceAdded", "time": "2026-11-25T07:00:00Z",
...                  "device": "light.kitchen", "name": "Kitchen Light", "kind": "light"})
>>> _ = home.append({"type": "DeviceStateChanged", "time": "2026-11-25T07:01:00Z",
...                  "device": "light.kitchen", "value": "on"})
>>> home.state.device_state("light.kitchen")
'on'
>>> rows = home.query("SELECT ?name WHERE { ?d rdfs:label ?name ; hearth:currentState ?s . "
...                   "?s hearth:value ?v }", bindings={"v": "on"})
>>> [r["name"].value for r in rows]
['Kitchen Light']
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pyoxigraph import NamedNode, Quad, RdfFormat, Triple

import ontologies

from . import events as E
from .errors import EventError, HouseholdExistsError, QueryError, StoreError, UnknownHouseholdError
from .log import Appended, EventLog
from .projection import HouseholdState
from .query import SelectResult, bind, wrap
from .store import OxigraphStore, SparqlEndpointStore, Store, rdf_format
from .terms import HouseholdIRIs, check_household_id, parse_datetime
from .vocab import HEARTH, PREFIXES

FORMAT_VERSION = 1
ONTOLOGY_FILES = ("hearth.ttl", "commonsense.ttl", "skills/skills.ttl", "blueprints/blueprints.ttl")


def _ontology_files() -> list[Path]:
    return [p for p in (ontologies.path(n) for n in ONTOLOGY_FILES) if p.exists()]


def _ontology_digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for p in files:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


class Household:
    """One household: its event log, its current state, and queries over its graphs."""

    def __init__(self, household_id: str, store: Store):
        self.id = household_id
        self.ids = HouseholdIRIs(household_id)
        self.store = store
        self.log = EventLog(store, self.ids)
        self._ensure_ontology()

    def __repr__(self) -> str:
        return f"Household({self.id!r}, {self.log.head} events, {self.store!r})"

    # -- events ------------------------------------------------------------------------------
    @property
    def state(self) -> HouseholdState:
        """The current state: the projection of the log (do not mutate it)."""
        return self.log.state

    @property
    def head(self) -> int:
        """The sequence number of the last event."""
        return self.log.head

    def _as_event(self, event: E.Event | Mapping[str, Any]) -> E.Event:
        if isinstance(event, E.Event):
            return event
        return E.Event.from_json(dict(event), ids=self.ids)

    def append(self, event: E.Event | Mapping[str, Any]) -> Appended:
        """Validates and appends one event (an Event or its JSON form); returns once stored."""
        return self.log.append(self._as_event(event))

    def append_many(self, events: Iterable[E.Event | Mapping[str, Any]], **kwargs) -> list[Appended]:
        """Appends several events in one transaction: all or nothing."""
        return self.log.append_many([self._as_event(e) for e in events], **kwargs)

    def retract(self, event: int | NamedNode, *, reason: str,
                time: dt.datetime | None = None, by: str | None = None) -> Appended:
        """Records that an earlier event no longer holds (a correction; nothing is deleted)."""
        target = self.ids.event(event) if isinstance(event, int) else event
        return self.append(E.EventRetracted(
            time=time or dt.datetime.now(dt.timezone.utc), by=by, retracts=target, reason=reason))

    def event(self, seq: int) -> E.Event:
        return self.log.get(seq)

    def events(self, *, start: int = 1, end: int | None = None,
               types: Iterable[type[E.Event]] | None = None) -> Iterator[tuple[int, E.Event]]:
        """(seq, event) pairs in log order."""
        return self.log.replay(start=start, end=end, types=types)

    def rebuild_state(self) -> HouseholdState:
        """Replays the whole log into a fresh state and rewrites the state graph."""
        return self.log.rebuild_state()

    # -- queries -----------------------------------------------------------------------------
    def prefixes(self) -> dict[str, str]:
        return {**PREFIXES, **self.ids.prefixes()}

    def query(self, sparql: str, bindings: Mapping[str, object] | None = None, *,
              timeout_s: float | None = None) -> SelectResult | bool | list[Triple]:
        """Runs a SPARQL query over this household's graphs (their union is the default graph).

        ``bindings`` maps variable names to values (str, numbers, datetimes, IRIs as
        ``NamedNode``); they are bound as RDF terms, never pasted into the text. The prefixes
        ``hearth: sosa: saref: prov: time: schema: rdfs: xsd: …`` and this household's
        ``device: area: person: event: …`` are predeclared.
        """
        prefixes = self.prefixes()
        try:
            return wrap(self.store.query(bind(sparql, bindings), prefixes=prefixes,
                                         timeout_s=timeout_s))
        except QueryError:
            if not bindings:
                raise
            # A value the grammar refuses where the variable stood (a literal as a subject):
            # bind it as a VALUES join instead, which matches nothing rather than failing.
            return wrap(self.store.query(bind(sparql, bindings, mode="values"),
                                         prefixes=prefixes, timeout_s=timeout_s))

    def iri(self, kind: str, local: str) -> NamedNode:
        """The IRI of one of this household's things: ``iri("device", "light.kitchen")``."""
        return self.ids.node(kind, local)

    # -- RDF in and out --------------------------------------------------------------------
    def assert_facts(self, rdf: str | bytes | Path, *, format: str | None = None,
                     by: str | None = None, time: dt.datetime | None = None) -> Appended:
        """Adds facts from RDF text or a file, as one FactsAsserted event (malformed RDF is
        refused with the parser's line and column, and nothing is stored)."""
        from pyoxigraph import parse
        from .errors import RDFSyntaxError
        path = rdf if isinstance(rdf, Path) else None
        fmt = rdf_format(format, path) if (format or path) else RdfFormat.TURTLE
        data = path.read_bytes() if path else rdf
        try:
            triples = [q.triple for q in parse(data, format=fmt)]
        except SyntaxError as err:
            raise RDFSyntaxError(
                f"{path or 'the RDF'} does not parse as {fmt.name}: {err}. Fix it and try again; "
                "nothing was stored.") from err
        text = "".join(f"{t.subject} {t.predicate} {t.object} .\n" for t in triples)
        return self.append(E.FactsAsserted(time=time or dt.datetime.now(dt.timezone.utc),
                                           by=by, rdf=text))

    def export(self, output: str | Path | None = None, *, format: str = "trig") -> bytes | None:
        """The household's dataset (event graphs, state graph, ontology) as TriG or N-Quads."""
        fmt = rdf_format(format)
        return self.store.dump(output, format=fmt)

    def rdflib(self):
        """A read-only rdflib ``Dataset`` over this household (through oxrdflib), for users who
        want rdflib's API. Writes must go through events, so the view refuses them."""
        if not isinstance(self.store, OxigraphStore):
            raise StoreError("the rdflib view needs the embedded store; query remote stores "
                             "with household.query()")
        from rdflib import Dataset
        return Dataset(store=_ReadOnlyOxigraphStore(store=self.store))

    # -- ontology ------------------------------------------------------------------------------
    def _ensure_ontology(self) -> None:
        """Loads the shipped ontologies into the ontology graph, once per ontology version."""
        files = _ontology_files()
        if not files:
            return
        digest = _ontology_digest(files)
        g = self.ids.ontology_graph
        current = next(iter(self.store.quads(g, HEARTH.ontologyDigest, None, g)), None)
        if current is not None and current.object.value == digest:
            return
        from pyoxigraph import Literal, parse
        quads = []
        for p in files:
            quads.extend(Quad(q.subject, q.predicate, q.object, g)
                         for q in parse(path=str(p), format=RdfFormat.TURTLE))
        quads.append(Quad(g, HEARTH.ontologyDigest, Literal(digest), g))
        old = list(self.store.quads(None, None, None, g))
        self.log.replace_graph(old, quads)

    def flush(self) -> None:
        self.log.flush()

    def optimize(self) -> None:
        """Compacts the household's storage after a large ingest: incremental writes leave many
        small files that every query must look through (several times slower until compacted)."""
        self.store.optimize()

    def close(self) -> None:
        self.store.close()


class _ReadOnlyOxigraphStore:
    """oxrdflib's store with every write refused."""

    def __new__(cls, *, store: OxigraphStore):
        from oxrdflib import OxigraphStore as RdflibOxigraph

        class ReadOnly(RdflibOxigraph):
            def _refuse(self, *args, **kwargs):
                raise StoreError("this rdflib view is read-only: record changes as events "
                                 "with household.append()")
            add = addN = remove = update = add_graph = remove_graph = _refuse

            @property
            def _inner(self):
                return store.raw  # with the events appended since the view was made

        return ReadOnly()


class Hearth:
    """A home for households: on disk (the default), in memory, or on remote SPARQL endpoints.

    ``Hearth.open(path)`` keeps each household in ``path/households/<id>/`` (an Oxigraph store).
    """

    household_class: type[Household] = Household  # the facade in hearth/ swaps in its own

    def __init__(self, *, root: Path | None, remote: Mapping[str, Store] | None = None):
        self.root = root
        self._remote = dict(remote) if remote is not None else None
        self._memory: dict[str, Store] = {}
        self._open: dict[str, Household] = {}

    @classmethod
    def open(cls, path: str | Path) -> "Hearth":
        """A hearth kept on disk in the folder ``path`` (created if missing)."""
        root = Path(path)
        meta = root / "hearth.json"
        if root.exists() and any(root.iterdir()) and not meta.exists():
            raise StoreError(f"{root} exists and is not a hearth folder (no hearth.json): "
                             "choose an empty or new folder")
        (root / "households").mkdir(parents=True, exist_ok=True)
        if not meta.exists():
            meta.write_text(json.dumps({"format": FORMAT_VERSION}) + "\n")
        version = json.loads(meta.read_text()).get("format")
        if version != FORMAT_VERSION:
            raise StoreError(f"{root} holds hearth format {version}; this hearth reads format "
                             f"{FORMAT_VERSION}")
        return cls(root=root)

    @classmethod
    def in_memory(cls) -> "Hearth":
        """A hearth whose households live in memory (tests, notebooks)."""
        return cls(root=None)

    @classmethod
    def remote(cls, endpoints: Mapping[str, str | Store]) -> "Hearth":
        """Households on remote SPARQL 1.1 endpoints: ``{"h1": "http://host:7878"}`` (an Oxigraph
        server base URL) or ``{"h1": SparqlEndpointStore(...)}``. Each household needs a dataset
        of its own, served with the union of its named graphs as the default graph."""
        stores = {check_household_id(k): (SparqlEndpointStore.oxigraph(v) if isinstance(v, str)
                                          else v) for k, v in endpoints.items()}
        return cls(root=None, remote=stores)

    def __repr__(self) -> str:
        where = self.root or ("remote" if self._remote is not None else "memory")
        return f"Hearth({str(where)!r}, households={self.households()})"

    def _dir(self, household_id: str) -> Path:
        return self.root / "households" / household_id

    def households(self) -> list[str]:
        """The ids of the households that exist."""
        if self.root is not None:
            return sorted(p.name for p in (self.root / "households").iterdir()
                          if p.is_dir() and not p.name.startswith("."))
        if self._remote is not None:
            return sorted(k for k, s in self._remote.items() if k in self._open or
                          _has_events(s, HouseholdIRIs(k)))
        return sorted(self._memory)

    def _store_for(self, household_id: str, *, create: bool) -> Store:
        if self.root is not None:
            path = self._dir(household_id)
            if not create and not path.exists():
                raise self._unknown(household_id)
            return OxigraphStore(path)
        if self._remote is not None:
            if household_id not in self._remote:
                raise UnknownHouseholdError(
                    f"no endpoint is configured for household {household_id!r}; configured: "
                    f"{', '.join(sorted(self._remote)) or 'none'}")
            return self._remote[household_id]
        if not create and household_id not in self._memory:
            raise self._unknown(household_id)
        return self._memory.setdefault(household_id, OxigraphStore())

    def _unknown(self, household_id: str) -> UnknownHouseholdError:
        known = self.households()
        return UnknownHouseholdError(
            f"no household {household_id!r}; known: {', '.join(known) or 'none'}. Create it "
            f"with `hearth household create {household_id}` or hearth.create_household()")

    def household(self, household_id: str) -> Household:
        """An existing household (UnknownHouseholdError if there is none by that id)."""
        check_household_id(household_id)
        if household_id in self._open:
            return self._open[household_id]
        store = self._store_for(household_id, create=False)
        home = self.household_class(household_id, store)
        if home.head == 0:
            raise self._unknown(household_id)
        self._open[household_id] = home
        return home

    def create_household(self, household_id: str, *, name: str | None = None,
                         time: str | dt.datetime | None = None) -> Household:
        """Creates a household; its first event is HouseholdCreated."""
        check_household_id(household_id)
        if household_id in self.households():
            raise HouseholdExistsError(f"household {household_id!r} already exists; open it with "
                                       "hearth.household(id)")
        when = parse_datetime(time) if isinstance(time, str) else (
            time or dt.datetime.now(dt.timezone.utc))
        store = self._store_for(household_id, create=True)
        try:
            home = self.household_class(household_id, store)
            if home.head:
                raise HouseholdExistsError(f"household {household_id!r} already has events")
            home.append(E.HouseholdCreated(time=when, name=name or household_id))
        except Exception:
            if self.root is not None and household_id not in self._open:
                store.close()
                shutil.rmtree(self._dir(household_id), ignore_errors=True)
            self._memory.pop(household_id, None)
            raise
        self._open[household_id] = home
        return home

    def household_or_create(self, household_id: str, **kwargs) -> Household:
        try:
            return self.household(household_id)
        except UnknownHouseholdError:
            return self.create_household(household_id, **kwargs)

    def close(self) -> None:
        for home in self._open.values():
            home.close()
        self._open.clear()

    def __enter__(self) -> "Hearth":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _has_events(store: Store, ids: HouseholdIRIs) -> bool:
    ev = ids.event(1)
    try:
        return next(iter(store.quads(ev, HEARTH.seq, None, ev)), None) is not None
    except StoreError:
        return False
