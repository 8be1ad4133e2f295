"""The embedded store's write-ahead log: single appends are durable when acknowledged, every read
sees them, a crash replays complete records and drops a torn one."""

from __future__ import annotations

import datetime as dt

import pytest
from pyoxigraph import Literal, NamedNode, Quad

from kg import events as E
from kg import store as S
from kg.errors import StoreError
from kg.household import Hearth
from kg.store import OxigraphStore

G = NamedNode("urn:test:g")
P = NamedNode("urn:test:p")


def quad(i: int, g: NamedNode = G) -> Quad:
    return Quad(NamedNode(f"urn:test:s{i}"), P, Literal(f"value {i}\nwith a line break"), g)


def values(store) -> set[int]:
    return {int(q.subject.value.removeprefix("urn:test:s")) for q in store.quads(None, P, None)}


def test_every_read_sees_what_was_acknowledged(tmp_path):
    store = OxigraphStore(tmp_path / "db")
    store.append_logged([quad(1), quad(2)])
    assert (tmp_path / "db" / S.WAL_NAME).stat().st_size > 0  # in the log, not yet in RocksDB
    assert values(store) == {1, 2}
    assert (tmp_path / "db" / S.WAL_NAME).stat().st_size == 0  # applied, so the log is empty
    store.append_logged([quad(3)])
    n = store.query("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    assert int(next(iter(n))["n"].value) == 3
    store.append_logged([quad(4)])
    assert str(store.dump(format=S.RdfFormat.N_QUADS)).count("urn:test:s4") == 1
    store.close()


def test_a_crash_replays_complete_records_and_drops_a_torn_one(tmp_path):
    store = OxigraphStore(tmp_path / "db")
    store.append_logged([quad(1)])
    store.close()
    # what a process killed in the middle of its third append leaves behind
    wal = tmp_path / "db" / S.WAL_NAME
    rec = [S.ox.serialize([quad(i)], format=S.RdfFormat.N_QUADS) + S.WAL_COMMIT for i in (2, 3, 4)]
    wal.write_bytes(rec[0] + rec[1] + rec[2][: len(rec[2]) // 2])
    store = OxigraphStore(tmp_path / "db")
    assert values(store) == {1, 2, 3}
    assert wal.stat().st_size == 0
    store.close()
    assert values(OxigraphStore(tmp_path / "db")) == {1, 2, 3}


def test_a_log_that_does_not_parse_is_kept_and_named(tmp_path):
    OxigraphStore(tmp_path / "db").close()
    wal = tmp_path / "db" / S.WAL_NAME
    wal.write_bytes(b"<urn:a> <urn:b> broken <urn:g> .\n" + S.WAL_COMMIT)
    with pytest.raises(StoreError, match="write-ahead log .* cannot be replayed.*move it aside"):
        OxigraphStore(tmp_path / "db")
    assert wal.read_bytes().startswith(b"<urn:a>")  # nothing lost


def test_many_appends_reach_rocksdb_in_bulk_and_survive_reopening(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "BULK_QUADS", 50)
    store = OxigraphStore(tmp_path / "db")
    for i in range(120):
        store.append_logged([quad(i)])
    assert len(store._pending) < 50  # two bulk writes happened on the way
    store.close()
    assert values(OxigraphStore(tmp_path / "db")) == set(range(120))


def test_fsync_mode_writes_the_same(tmp_path):
    store = OxigraphStore(tmp_path / "db", sync=True)
    store.append_logged([quad(1)])
    assert values(store) == {1}


def test_in_memory_store_appends_directly():
    store = OxigraphStore()
    store.append_logged([quad(1)])
    assert store._pending == [] and values(store) == {1}


def test_household_reads_its_single_events_at_once(tmp_path):
    t0 = dt.datetime(2026, 11, 25, 7, tzinfo=dt.timezone.utc)
    with Hearth.open(tmp_path / "hearth") as hearth:
        home = hearth.create_household("h1", time=t0)
        home.append(E.DeviceAdded(time=t0, device="t1", name="Thermometer",
                                  kind="temperature_sensor"))
        view = home.rdflib()
        for k in range(5):
            home.append(E.SensorObserved(time=t0 + dt.timedelta(minutes=k), sensor="t1",
                                         property="temperature", value=20.0 + k))
        assert home.query("SELECT (COUNT(*) AS ?n) WHERE { ?o a sosa:Observation }").scalar() == 5
        home.append(E.SensorObserved(time=t0, sensor="t1", property="temperature", value=30.0))
        # the rdflib view made earlier sees the sixth reading too
        from rdflib import RDF, URIRef
        obs = URIRef("http://www.w3.org/ns/sosa/Observation")
        assert len(list(view.quads((None, RDF.type, obs, None)))) == 6
        head = home.head
    with Hearth.open(tmp_path / "hearth") as hearth:
        home = hearth.household("h1")
        assert home.head == head
        assert home.log.replayed_state().snapshot() == home.state.snapshot()


def test_threads_appending_and_reading_at_once_lose_nothing(tmp_path, monkeypatch):
    import threading

    monkeypatch.setattr(S, "BULK_QUADS", 200)  # bulk writes happen while others read
    t0 = dt.datetime(2026, 11, 25, 7, tzinfo=dt.timezone.utc)
    with Hearth.open(tmp_path / "hearth") as hearth:
        home = hearth.create_household("h1", time=t0)
        home.append(E.DeviceAdded(time=t0, device="t1", name="T", kind="temperature_sensor"))
        errors: list[BaseException] = []
        seen: dict[int, list[int]] = {0: [], 1: []}

        def writer(w: int) -> None:
            try:
                for k in range(150):
                    home.append(E.SensorObserved(time=t0 + dt.timedelta(seconds=k), sensor="t1",
                                                 property="temperature", value=float(w * 1000 + k)))
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)

        def reader(r: int) -> None:
            try:
                for _ in range(60):
                    seen[r].append(home.query(
                        "SELECT (COUNT(*) AS ?n) WHERE { ?o a sosa:Observation }").scalar())
            except BaseException as err:  # noqa: BLE001
                errors.append(err)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
        threads += [threading.Thread(target=reader, args=(r,)) for r in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        for counts in seen.values():  # each reader sees the count only grow, never a torn batch
            assert len(counts) == 60 and counts == sorted(counts)
        n = home.query("SELECT (COUNT(*) AS ?n) WHERE { ?o a sosa:Observation }").scalar()
        assert n == 450 and home.head == 2 + 450
    with Hearth.open(tmp_path / "hearth") as hearth:
        home = hearth.household("h1")
        assert home.head == 452
        values = {float(r["v"].value) for r in home.query(
            "SELECT ?v WHERE { ?o sosa:hasSimpleResult ?v }")}
        assert values == {float(w * 1000 + k) for w in range(3) for k in range(150)}
