"""The event log: append-only, numbered, atomic, and the state it projects rebuilt by replay."""

from __future__ import annotations

import datetime as dt
import random
import threading

import pytest

from kg import events as E
from kg.errors import EventError
from kg.household import Hearth

T0 = dt.datetime(2026, 11, 25, 6, tzinfo=dt.timezone.utc)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def furnish(home):
    home.append_many([
        E.AreaAdded(time=at(0), area="kitchen", name="Kitchen"),
        E.DeviceAdded(time=at(0), device="light.k", name="Kitchen Light", kind="light",
                      area="kitchen"),
        E.DeviceAdded(time=at(0), device="lock.front", name="Front Door", kind="lock"),
        E.DeviceAdded(time=at(0), device="t1", name="Thermometer", kind="temperature_sensor"),
        E.PersonAdded(time=at(0), person="ann", name="Ann"),
        E.PersonAdded(time=at(0), person="bob", name="Bob"),
    ])


def random_events(n: int, seed: int = 1) -> list[E.Event]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = at(i + 1)
        kind = rng.choice(["light", "lock", "obs", "arrive", "leave", "say", "teach", "bright"])
        if kind == "light":
            out.append(E.DeviceStateChanged(time=t, device="light.k", value=rng.choice(["on", "off"])))
        elif kind == "bright":
            out.append(E.DeviceStateChanged(time=t, device="light.k", attribute="brightness",
                                            value=rng.randint(0, 100)))
        elif kind == "lock":
            out.append(E.DeviceStateChanged(time=t, device="lock.front",
                                            value=rng.choice(["locked", "unlocked"])))
        elif kind == "obs":
            out.append(E.SensorObserved(time=t, sensor="t1", property="temperature",
                                        value=round(rng.uniform(15, 25), 1)))
        elif kind == "arrive":
            out.append(E.PersonArrived(time=t, person=rng.choice(["ann", "bob"])))
        elif kind == "leave":
            out.append(E.PersonLeft(time=t, person=rng.choice(["ann", "bob"])))
        elif kind == "teach":
            out.append(E.DefinitionTaught(time=t, phrase=rng.choice(["reading mode", "movie mode"]),
                                          meaning={"brightness": rng.randint(0, 100)}))
        else:
            out.append(E.UtteranceHeard(time=t, text="turn on the lights", speaker="ann"))
    return out


def state_graph(home):
    return sorted(str(q) for q in home.store.quads(None, None, None, home.ids.state_graph))


def test_sequence_numbers_are_contiguous_from_one(home):
    furnish(home)
    appended = [home.append(e) for e in random_events(20)]
    assert [a.seq for a in appended] == list(range(8, 28))
    assert home.head == 27
    assert [seq for seq, _ in home.events()] == list(range(1, 28))


def test_every_event_is_its_own_named_graph_with_provenance(home):
    furnish(home)
    a = home.append(E.DeviceStateChanged(time=at(5), device="light.k", value="on", by="person:ann"))
    rows = home.query("""
        SELECT ?type ?seq ?when ?who WHERE { GRAPH ?g {
            ?g a ?type ; hearth:seq ?seq ; prov:generatedAtTime ?when ; prov:wasAttributedTo ?who } }""",
        bindings={"g": a.iri})
    (row,) = rows
    assert row["type"].value.endswith("#DeviceStateChanged")
    assert row.to_python()["seq"] == a.seq
    assert row.to_python()["when"] == at(5)
    assert row["who"] == home.iri("person", "ann")


@pytest.mark.parametrize("batch", [1, 7, 300])
def test_replaying_the_log_rebuilds_the_same_state(tmp_path, batch):
    hearth = Hearth.open(tmp_path / "h")
    home = hearth.create_household("h1", time=T0)
    furnish(home)
    events = random_events(300, seed=batch)
    for i in range(0, len(events), batch):
        home.append_many(events[i:i + batch])
    live_state, live_graph = home.state.snapshot(), state_graph(home)
    assert home.log.replayed_state().snapshot() == live_state
    home.rebuild_state()
    assert state_graph(home) == live_graph
    hearth.close()
    reopened = Hearth.open(tmp_path / "h").household("h1")
    assert reopened.head == home.head
    assert reopened.state.snapshot() == live_state


def test_state_values_say_which_event_they_came_from(home):
    furnish(home)
    a = home.append(E.DeviceStateChanged(time=at(3), device="light.k", value="on"))
    rows = home.query("""SELECT ?v ?ev WHERE { ?d hearth:currentState ?s .
                         ?s hearth:attribute "state" ; hearth:value ?v ; prov:wasDerivedFrom ?ev }""",
                      bindings={"d": home.iri("device", "light.k")})
    assert [(r["v"].value, r["ev"]) for r in rows] == [("on", a.iri)]


def test_a_bad_event_in_a_batch_writes_nothing(home):
    furnish(home)
    head, snap, graph = home.head, home.state.snapshot(), state_graph(home)
    batch = random_events(10)
    batch.insert(6, E.FactInferred(time=at(9), rdf="<urn:a> <urn:b> <urn:c> .",
                                   derived_from=(home.ids.event(999),)))
    with pytest.raises(EventError) as err:
        home.append_many(batch)
    assert err.value.line == 7
    assert "not an earlier event" in str(err.value)
    assert (home.head, home.state.snapshot(), state_graph(home)) == (head, snap, graph)
    assert not home.query("ASK { GRAPH ?g { ?g hearth:seq ?s FILTER(?s > ?head) } }",
                          bindings={"head": head})


def test_a_correction_is_a_new_event_and_state_follows_it(home):
    furnish(home)
    on = home.append(E.DeviceStateChanged(time=at(1), device="light.k", value="on"))
    off = home.append(E.DeviceStateChanged(time=at(2), device="light.k", value="off"))
    assert home.state.device_state("light.k") == "off"
    r = home.retract(off.seq, reason="the switch bounced", time=at(3))
    assert r.seq == off.seq + 1
    assert home.state.device_state("light.k") == "on"
    assert home.state.device_states[("light.k", "state")].event == on.iri
    # nothing was deleted: the retracted event is still in the log
    assert home.event(off.seq) == E.DeviceStateChanged(time=at(2), device="light.k", value="off")
    assert home.query("ASK { ?e hearth:isRetracted true }", bindings={"e": off.iri})
    assert home.log.replayed_state().snapshot() == home.state.snapshot()
    with pytest.raises(EventError, match="already retracted"):
        home.retract(off.seq, reason="again")


def test_retracting_an_observation_leaves_state_alone(home):
    furnish(home)
    obs = home.append(E.SensorObserved(time=at(1), sensor="t1", property="temperature", value=99.0))
    snap = home.state.snapshot()
    home.retract(obs.seq, reason="outlier", time=at(2))
    assert {k: v for k, v in home.state.snapshot().items() if k not in ("retracted", "seq")} == \
        {k: v for k, v in snap.items() if k not in ("retracted", "seq")}
    rows = home.query("""SELECT (COUNT(?o) AS ?n) WHERE { ?o a sosa:Observation .
                         GRAPH ?g { ?o a sosa:Observation } FILTER NOT EXISTS { ?g hearth:isRetracted true } }""")
    assert rows.scalar() == 0


def test_conclusions_must_cite_earlier_events(home):
    with pytest.raises(EventError, match="not an earlier event"):
        home.append(E.FactInferred(time=at(1), rdf="<urn:a> <urn:b> <urn:c> .",
                                   derived_from=(home.ids.event(5),)))
    ok = home.append(E.FactInferred(time=at(1), rdf="<urn:a> <urn:b> <urn:c> .",
                                    derived_from=(home.ids.event(1),), rule="urn:hearth:rule:r1"))
    assert home.query("ASK { ?e prov:wasDerivedFrom ?src ; hearth:rule <urn:hearth:rule:r1> }",
                      bindings={"e": ok.iri, "src": home.ids.event(1)})


def test_concurrent_appends_get_distinct_contiguous_numbers(home):
    furnish(home)
    seqs: list[int] = []
    lock = threading.Lock()

    def worker(k):
        for e in random_events(40, seed=k):
            a = home.append(e)
            with lock:
                seqs.append(a.seq)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seqs) == list(range(8, 8 + 160))
    assert home.log.replayed_state().snapshot() == home.state.snapshot()


def test_listeners_hear_committed_appends(home):
    heard = []
    home.log.subscribe(lambda appended: heard.extend(a.seq for a in appended))
    home.append_many(random_events(3))
    assert heard == [2, 3, 4]


def test_reading_an_event_that_does_not_exist(home):
    with pytest.raises(EventError, match="numbered 1 to 1"):
        home.event(2)


def test_decoded_events_are_kept_in_a_bounded_cache_and_read_the_same(tmp_path, monkeypatch):
    import kg.log as L
    monkeypatch.setattr(L, "DECODED_CACHE_SIZE", 8)
    hearth = Hearth.open(tmp_path / "h")
    home = hearth.create_household("h1", name="Cache", time=T0)
    furnish(home)
    written = random_events(30)
    home.append_many(written)
    first = [home.log.get(seq) for seq in range(1, home.head + 1)]
    assert len(home.log._decoded) == 8               # bounded: the least recently read went
    assert home.log.get(home.head) is first[-1]      # kept: decoded once
    assert home.log.get(2) is not first[1] and home.log.get(2) == first[1]  # dropped, decoded again
    assert first[-30:] == [E.Event.from_quads(home.log.quads_of(s), home.ids)
                           for s in range(home.head - 29, home.head + 1)]
    assert [e.time for e in first[-30:]] == [e.time for e in written]
    hearth.close()
    reopened = Hearth.open(tmp_path / "h").household("h1")  # a new log reads the same events
    assert [reopened.log.get(s) for s in range(1, reopened.head + 1)] == first
    with pytest.raises(EventError, match="numbered 1 to"):
        reopened.log.get(reopened.head + 1)


def test_events_appended_one_by_one_are_compacted_in_the_background(tmp_path, monkeypatch):
    from kg import log as L
    monkeypatch.setattr(L, "COMPACT_AFTER_SMALL_QUADS", 200)
    hearth = Hearth.open(tmp_path / "h")
    home = hearth.create_household("h1", time=T0)
    furnish(home)
    started = []
    real = home.store.compact_in_background
    monkeypatch.setattr(home.store, "compact_in_background",
                        lambda: started.append(home.head) or real())
    for i in range(60):
        home.append(E.SensorObserved(time=at(i + 1), sensor="t1", property="temperature",
                                     value=20 + i % 3))
    assert started, "no compaction started after many small writes"
    assert home.store.wait_compacted(timeout=60)
    # nothing was lost or changed by compacting while appending
    assert [s for s, _ in home.events()] == list(range(1, home.head + 1))
    assert home.log.replayed_state().snapshot() == home.state.snapshot()
    head = home.head
    hearth.close()   # waits for a compaction still running
    assert Hearth.open(tmp_path / "h").household("h1").head == head


def test_a_store_in_memory_does_not_compact():
    from kg.store import OxigraphStore
    assert OxigraphStore().compact_in_background() is False
