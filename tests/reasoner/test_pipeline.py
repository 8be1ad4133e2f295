"""The reasoner pipeline: named components, conclusions appended until nothing new comes out."""

from __future__ import annotations

import datetime as dt

import pytest

from kg import events as E
from reasoner.pipeline import Pipeline, ReasonerError, make_component, register_component

T = dt.datetime(2026, 11, 25, 7, tzinfo=dt.timezone.utc)


class LightsOnFact:
    """Concludes a fact from every light that turns on."""

    name = "lights-on"
    consumes = (E.DeviceStateChanged,)
    produces = (E.FactInferred,)

    def process(self, home, appended):
        return [E.FactInferred(time=a.event.time, derived_from=(a.iri,),
                               rdf=f"<{home.iri('device', a.event.device).value}> "
                                   "<urn:x:wasOnAt> \"1\" .", rule="urn:x:rule:on")
                for a in appended if a.event.value == "on"]


class EchoInference:
    """Concludes a second fact from each first one (one more round of the fixpoint)."""

    name = "echo"
    consumes = (E.FactInferred,)
    produces = (E.FactInferred,)

    def process(self, home, appended):
        return [E.FactInferred(time=a.event.time, derived_from=(a.iri,), rule="urn:x:rule:echo",
                               rdf="<urn:x:a> <urn:x:echoed> \"1\" .")
                for a in appended if a.event.rule == "urn:x:rule:on"]


def test_conclusions_flow_to_a_fixpoint(memory_home):
    Pipeline([LightsOnFact(), EchoInference()]).attach(memory_home)
    memory_home.append(E.DeviceStateChanged(time=T, device="lamp", value="on"))
    memory_home.append(E.DeviceStateChanged(time=T, device="lamp", value="off"))
    kinds = [(type(e).__name__, getattr(e, "rule", None)) for _, e in memory_home.events(start=2)]
    assert kinds == [("DeviceStateChanged", None), ("FactInferred", "urn:x:rule:on"),
                     ("FactInferred", "urn:x:rule:echo"), ("DeviceStateChanged", None)]
    echo = memory_home.event(4)
    assert echo.derived_from == (memory_home.ids.event(3),)


def test_a_loop_stops_at_the_depth_limit(memory_home):
    class Forever:
        name = "forever"
        consumes = ()
        produces = (E.FactInferred,)

        def process(self, home, appended):
            return [E.FactInferred(time=T, derived_from=(a.iri,), rdf="<urn:a> <urn:b> <urn:c> .")
                    for a in appended]

    Pipeline([Forever()], max_depth=3).attach(memory_home)
    memory_home.append(E.UtteranceHeard(time=T, text="hello"))
    assert memory_home.head == 2 + 3


def test_components_are_made_by_name_and_errors_list_the_known_ones():
    register_component("lights-on")(LightsOnFact)
    assert make_component("lights-on").name == "lights-on"
    with pytest.raises(ReasonerError, match="Did you mean 'lights-on'"):
        make_component("light-on")
    p = Pipeline.from_names(["lights-on"])
    p.add(EchoInference(), before="lights-on")
    assert p.names == ["echo", "lights-on"]
    with pytest.raises(ReasonerError, match="already has"):
        p.add(EchoInference())


def test_attaching_prepares_each_component_and_a_failed_preparation_is_only_logged(memory_home, caplog):
    prepared = []

    class Ready(LightsOnFact):
        def prepare(self, home):
            prepared.append(home)

    class Broken(EchoInference):
        def prepare(self, home):
            raise RuntimeError("no tables today")

    with caplog.at_level("WARNING", logger="hearth.reasoner"):
        Pipeline([Ready(), Broken()]).attach(memory_home)
    assert prepared == [memory_home]
    assert "echo could not prepare" in caplog.text and "no tables today" in caplog.text
    # the pipeline runs as before: preparing is only a head start
    memory_home.append(E.DeviceStateChanged(time=T, device="lamp", value="on"))
    assert [type(e).__name__ for _, e in memory_home.events(start=2)] == [
        "DeviceStateChanged", "FactInferred", "FactInferred"]


def test_understanding_builds_the_households_gazetteer_when_attached(memory_home):
    from reasoner.understanding import UnderstandingComponent, Understander

    # no models load: preparing builds only the household's parts
    understander = Understander(ha=None, resolve_by_meaning=False)
    memory_home.append(E.DeviceAdded(time=T, device="lamp", name="reading lamp", kind="light"))
    Pipeline([UnderstandingComponent(understander)]).attach(memory_home)
    extractor = understander.parts(memory_home).extractor
    assert extractor.rebuilds == 1 and "reading lamp" in extractor.gazetteer.names["DEVICE"]
    assert understander._encoder is None and understander._classifier is None
    extractor.refresh()
    assert extractor.rebuilds == 1  # nothing changed: the first utterance does not rebuild it
