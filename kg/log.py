"""The append-only event log of one household: the spine of hearth.

Each event gets the next sequence number and is written as its own named graph, together with
the change it makes to the state graph, all or nothing (in one transaction, or as one record of
the embedded store's write-ahead log: see ``OxigraphStore.append_logged``). Nothing is
overwritten: a correction is a new event (``EventRetracted``). ``replay()`` reads the events back
in order, and the state is rebuilt from them identically.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pyoxigraph import DefaultGraph, NamedNode, Quad

from . import events as E
from .errors import EventError, StoreError
from .projection import HouseholdState, state_from_quads
from .shapes import ShapeChecker
from .store import Store
from .terms import HouseholdIRIs
from .vocab import HEARTH, RDF


@dataclass(frozen=True)
class Appended:
    """An acknowledged event: it is in the store and survives a crash from now on."""

    seq: int
    iri: NamedNode
    event: E.Event


# RocksDB keeps written quads in memory until it flushes them; flushing every so many quads keeps
# a long ingest's resident memory flat (about 0.8 kB a quad until then).
FLUSH_EVERY_QUADS = 200_000
# Decoded events kept in memory (an event never changes once written), so that the reasoners
# re-reading the last few events of every turn do not decode them from quads again.
DECODED_CACHE_SIZE = 4096
# Events appended a few at a time leave many small files in the store, which every query then
# reads; after so many quads written that way, the store compacts itself in the background.
COMPACT_AFTER_SMALL_QUADS = 100_000
SMALL_COMMIT_QUADS = 1_000


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class EventLog:
    """Appends, reads and replays one household's events; keeps its state projection current."""

    def __init__(self, store: Store, ids: HouseholdIRIs, *,
                 checker: ShapeChecker | None = None,
                 clock: Callable[[], dt.datetime] = _utcnow):
        self.store = store
        self.ids = ids
        self.checker = checker or ShapeChecker.default()
        self.clock = clock
        self._lock = threading.RLock()
        self._unflushed = 0
        self._small_quads = 0
        self.head = self._find_head()
        self.state = self._load_state()
        self._listeners: list[Callable[[list[Appended]], None]] = []
        self._decoded: OrderedDict[int, E.Event] = OrderedDict()

    # -- reading ---------------------------------------------------------------------------
    def _exists(self, seq: int) -> bool:
        ev = self.ids.event(seq)
        return next(iter(self.store.quads(ev, HEARTH.seq, None, ev)), None) is not None

    def _find_head(self) -> int:
        """The last sequence number. Events are numbered 1..head without gaps (each append is
        atomic), so a galloping search finds it in O(log n) lookups."""
        if not self._exists(1):
            return 0
        hi = 1
        while self._exists(hi * 2):
            hi *= 2
        lo, hi = hi, hi * 2  # lo exists, hi does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._exists(mid):
                lo = mid
            else:
                hi = mid
        return lo

    def quads_of(self, seq: int) -> list[Quad]:
        ev = self.ids.event(seq)
        return list(self.store.quads(None, None, None, ev))

    def get(self, seq: int) -> E.Event:
        """The event with this sequence number (decoded once, then kept in a small cache: events
        are frozen and a written event never changes)."""
        if not 1 <= seq <= self.head:
            raise EventError(f"no event {seq} in household {self.ids.household_id!r}: its events "
                             f"are numbered 1 to {self.head}")
        cache = self._decoded
        with self._lock:
            event = cache.get(seq)
            if event is not None:
                cache.move_to_end(seq)
                return event
        event = E.Event.from_quads(self.quads_of(seq), self.ids)
        with self._lock:
            cache[seq] = event
            if len(cache) > DECODED_CACHE_SIZE:
                cache.popitem(last=False)
        return event

    def replay(self, *, start: int = 1, end: int | None = None,
               types: Iterable[type[E.Event]] | None = None) -> Iterator[tuple[int, E.Event]]:
        """The events in order, optionally only those of some types."""
        end = self.head if end is None else min(end, self.head)
        if types is None:
            for seq in range(start, end + 1):
                yield seq, self.get(seq)
            return
        for seq in self.seqs_of_types(types, start=start, end=end):
            yield seq, self.get(seq)

    def seqs_of_types(self, types: Iterable[type[E.Event]], *, start: int = 1,
                      end: int | None = None) -> list[int]:
        end = self.head if end is None else end
        seqs = []
        for cls in set(types):
            for q in self.store.quads(None, RDF.type, cls.rdf_type, None):
                if q.subject == q.graph_name and q.subject.value.startswith(self.ids.base):
                    seq = self.ids.seq_of(q.subject)
                    if start <= seq <= end:
                        seqs.append(seq)
        return sorted(seqs)

    # -- state -------------------------------------------------------------------------------
    def _load_state(self) -> HouseholdState:
        quads = list(self.store.quads(None, None, None, self.ids.state_graph))
        if quads:
            state = state_from_quads(quads, self.ids)
            if state.seq <= self.head:
                return state
        return self.rebuild_state(write=bool(self.head))

    def replayed_state(self, pending: list[tuple[int, E.Event]] = ()) -> HouseholdState:
        """The state rebuilt from the log alone (plus pending, unwritten events)."""
        changing = [c for c in E.EVENT_TYPES.values() if c.changes_state]
        items = list(self.replay(types=changing)) + list(pending)
        retracted = {e.retracts for _, e in items if isinstance(e, E.EventRetracted)}
        state = HouseholdState(self.ids.household_id)
        for seq, event in items:
            if self.ids.event(seq) in retracted and not isinstance(event, E.EventRetracted):
                continue
            state.apply(seq, event, self.ids)
        return state

    def rebuild_state(self, *, write: bool = True) -> HouseholdState:
        """Replays the log into a fresh state and (optionally) rewrites the state graph."""
        with self._lock:
            state = self.replayed_state()
            if write:
                old = list(self.store.quads(None, None, None, self.ids.state_graph))
                new = state.to_quads(self.ids)
                self._commit([], old, new)
            self.state = state
            return state

    # -- appending ---------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[list[Appended]], None]) -> None:
        """Calls ``listener(appended)`` after every committed append (reasoners hook in here)."""
        self._listeners.append(listener)

    def append(self, event: E.Event) -> Appended:
        """Validates, numbers and writes one event with its provenance; returns once durable."""
        return self.append_many([event])[0]

    def append_many(self, events: Iterable[E.Event], *,
                    on_progress: Callable[[int], None] | None = None) -> list[Appended]:
        """Writes events all or nothing: all of them, or none if any is invalid."""
        events = list(events)
        if not events:
            return []
        with self._lock:
            recorded = self.clock()
            quads: list[Quad] = []
            appended: list[Appended] = []
            state = self.state
            trial = None  # a copy of the state, made only if some event changes it
            removed: dict[Quad, None] = {}
            added: dict[Quad, None] = {}
            needs_rebuild = False
            for i, event in enumerate(events):
                seq = self.head + 1 + i
                try:
                    event.check()
                    self._check_references(event, seq)
                    event_quads = event.quads(seq, self.ids, recorded)
                    self.checker.check(event_quads, label=f"{event.type_name()} event")
                except EventError as err:
                    raise (err.at_line(i + 1) if len(events) > 1 and err.line is None else err)
                except ValueError as err:
                    raise EventError(f"{event.type_name()} event {i + 1}: {err}") from err
                quads.extend(event_quads)
                appended.append(Appended(seq, self.ids.event(seq), event))
                if event.changes_state:
                    if isinstance(event, E.EventRetracted) and self._retracts_state(event.retracts):
                        needs_rebuild = True
                    if trial is None:
                        trial = _copy_state(state)
                    rem, add = trial.apply(seq, event, self.ids)
                    for q in rem:
                        if q in added:
                            del added[q]
                        else:
                            removed[q] = None
                    for q in add:
                        if q in removed:
                            del removed[q]
                        else:
                            added[q] = None
                if on_progress is not None and (i + 1) % 1000 == 0:
                    on_progress(i + 1)
            if needs_rebuild:
                pending = [(a.seq, a.event) for a in appended]
                trial = self.replayed_state(pending)
                old = list(self.store.quads(None, None, None, self.ids.state_graph))
                removed = dict.fromkeys(old)
                added = dict.fromkeys(trial.to_quads(self.ids))
            self._commit(quads, list(removed), list(added))
            self.head += len(events)
            if trial is not None:
                self.state = trial
            if on_progress is not None:
                on_progress(len(events))
        for listener in self._listeners:
            listener(appended)
        return appended

    def _retracts_state(self, target: NamedNode) -> bool:
        seq = self.ids.seq_of(target)
        return self.get(seq).changes_state

    def _check_references(self, event: E.Event, seq: int) -> None:
        if event.is_conclusion and not event.derived_from:
            raise EventError(f"{event.type_name()} is a conclusion: it needs derived_from, the "
                             "events it was drawn from", field="derived_from")
        refs = list(event.derived_from)
        if isinstance(event, E.EventRetracted):
            refs.append(event.retracts)
        for ref in refs:
            try:
                target = self.ids.seq_of(ref)
            except ValueError as err:
                raise EventError(str(err), field="derived_from") from None
            if target >= seq:
                raise EventError(f"{ref.value} is not an earlier event of household "
                                 f"{self.ids.household_id!r} (this event will be {seq})",
                                 field="retracts" if isinstance(event, E.EventRetracted)
                                 else "derived_from")
        if isinstance(event, E.EventRetracted) and event.retracts in self.state.retracted:
            raise EventError(f"{event.retracts.value} is already retracted", field="retracts")

    def _commit(self, quads: list[Quad], removed: list[Quad], added: list[Quad]) -> None:
        """All or nothing: event graphs in, state graph changed."""
        self._unflushed += len(quads) + len(added)
        logged = getattr(self.store, "append_logged", None)
        if not removed and logged is not None:
            # one record of the store's write-ahead log: durable now, all or nothing, in RocksDB
            # with the next read or bulk write
            logged(quads + added)
        elif not removed:
            self.store.extend(quads + added)
        else:
            self._update(quads, removed, added)
        if self._unflushed >= FLUSH_EVERY_QUADS:
            self.store.flush()
            self._unflushed = 0
        written = len(quads) + len(added)
        if written < SMALL_COMMIT_QUADS:
            self._small_quads += written
            compact = getattr(self.store, "compact_in_background", None)
            if self._small_quads >= COMPACT_AFTER_SMALL_QUADS and compact is not None:
                if compact():
                    self._small_quads = 0

    def _update(self, quads: list[Quad], removed: list[Quad], added: list[Quad]) -> None:
        parts = ["DELETE DATA {\n" + _graph_blocks(removed) + "}"]
        if quads or added:
            parts.append("INSERT DATA {\n" + _graph_blocks(quads + added) + "}")
        self.store.update(" ;\n".join(parts))

    def replace_graph(self, old: list[Quad], new: list[Quad]) -> None:
        """Swaps a derived graph (the ontology copy) in one transaction; never an event graph."""
        if any(q.graph_name.value.startswith(self.ids.base + "event:") for q in old + new):
            raise StoreError("event graphs are append-only")
        self._commit(new, old, []) if old else self.store.extend(new)

    def flush(self) -> None:
        self.store.flush()


def _graph_blocks(quads: list[Quad]) -> str:
    # str() of a pyoxigraph term is its escaped N-Triples form: no text reaches SPARQL unescaped.
    by_graph: dict = {}
    for q in quads:
        by_graph.setdefault(q.graph_name, []).append(f"{q.subject} {q.predicate} {q.object} .")
    out = []
    for g, lines in by_graph.items():
        if isinstance(g, DefaultGraph):
            raise StoreError("hearth writes only to named graphs")
        out.append(f"GRAPH {g} {{\n" + "\n".join(lines) + "\n}\n")
    return "".join(out)


def _copy_state(state: HouseholdState) -> HouseholdState:
    return HouseholdState(
        household_id=state.household_id, name=state.name, floors=dict(state.floors),
        areas=dict(state.areas), devices=dict(state.devices), people=dict(state.people),
        device_states=dict(state.device_states), presence=dict(state.presence),
        definitions=dict(state.definitions), retracted=set(state.retracted), seq=state.seq)
