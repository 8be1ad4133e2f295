"""The Python API for assistant builders: a hearth of households that reason as events arrive.

>>> from hearth import Hearth
>>> hearth = Hearth.in_memory()
>>> home = hearth.create_household("smiths", name="The Smiths", time="2026-11-21T06:00:00-08:00")
>>> _ = home.append({"type": "DeviceAdded", "time": "2026-11-21T06:00:00-08:00",
...                  "device": "light.porch", "name": "Porch Light", "kind": "light",
...                  "area": "porch"})
>>> _ = home.observe("light.porch", "on", time="2026-11-21T19:05:00-08:00")
>>> home.state.device_state("light.porch")
'on'
>>> {"rules", "patterns", "hunches"} <= set(home.pipeline.names)
True
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyoxigraph import NamedNode, Triple

from kg import events as E
from kg import household as kg_household
from kg.errors import EventError
from kg.log import Appended
from kg.terms import parse_datetime
from reasoner.pipeline import FACTORIES, Pipeline, populate_registry

DEFAULT_COMPONENTS = ("learning", "understanding", "teaching", "dialogue", "goals", "resolution",
                      "rules", "patterns", "activities", "hunches", "routines", "explanations")


def _when(time: str | dt.datetime | None) -> dt.datetime:
    if time is None:
        return dt.datetime.now(dt.timezone.utc)
    return parse_datetime(time) if isinstance(time, str) else time


@dataclass(frozen=True)
class Heard:
    """What came of an utterance: the event itself and every conclusion drawn from it."""

    utterance: Appended
    conclusions: list[Appended] = field(default_factory=list)

    def of_type(self, cls: type[E.Event]) -> list[Appended]:
        return [a for a in self.conclusions if isinstance(a.event, cls)]


class Household(kg_household.Household):
    """A household whose reasoner runs after every append (``household.pipeline``)."""

    def __init__(self, household_id: str, store, *,
                 components: Sequence[str] = DEFAULT_COMPONENTS):
        super().__init__(household_id, store)
        populate_registry()
        self.pipeline = Pipeline.from_names([n for n in components if n in FACTORIES])
        self.pipeline.attach(self)

    # -- inputs ------------------------------------------------------------------------------
    def observe(self, device: str, value: Any, *, attribute: str | None = None,
                property: str | None = None, unit: str | None = None,
                time: str | dt.datetime | None = None, by: str | None = None) -> Appended:
        """Records what a device or sensor reports: a sensor reading when ``property`` is given
        (``observe("t1", 21.5, property="temperature", unit="Cel")``), otherwise a change of the
        device's state or of one ``attribute`` (``observe("light.kitchen", "on")``)."""
        when = _when(time)
        if property is not None:
            if attribute is not None:
                raise EventError("give either property= (a sensor reading) or attribute= "
                                 "(a device's state), not both", field="attribute")
            event: E.Event = E.SensorObserved(time=when, by=by, sensor=device,
                                              property=property, value=value, unit=unit)
        else:
            event = E.DeviceStateChanged(time=when, by=by, device=device, value=value,
                                         attribute=attribute or "state")
        return self.append(event)

    def hear(self, text: str, *, speaker: str | None = None, device: str | None = None,
             session: str | None = None, time: str | dt.datetime | None = None) -> Heard:
        """Records an utterance and returns it with the conclusions the reasoner drew."""
        before = self.head
        appended = self.append(E.UtteranceHeard(time=_when(time), text=text, speaker=speaker,
                                                device=device, session=session))
        return Heard(appended, self._conclusions_since(before + 1))

    def _conclusions_since(self, first: int) -> list[Appended]:
        out = []
        for seq, event in self.events(start=first + 1):
            if event.derived_from:
                out.append(Appended(seq, self.ids.event(seq), event))
        return out

    # -- conclusions and why ---------------------------------------------------------------
    def conclusions(self, *, start: int = 1,
                    types: Sequence[type[E.Event]] | None = None) -> list[Appended]:
        """Every conclusion still standing (not retracted), in log order."""
        retracted = self.state.retracted
        items = self.events(start=start, types=types) if types else self.events(start=start)
        return [Appended(seq, self.ids.event(seq), e) for seq, e in items
                if e.derived_from and self.ids.event(seq) not in retracted]

    def explain(self, conclusion: int | NamedNode | Appended | Triple | tuple, **options):
        """Why the engine concluded something (``reasoner.explain.explain``): the sentence, the
        rule, pattern or model that drew it, its evidence down to the input events, and for a
        learned score the Shapley attribution over features a person recognises.
        ``conclusion`` is a sequence number, an event IRI, the ``Appended`` that ``append``
        returned, or an inferred triple. ``record=True`` also writes it to the log."""
        from reasoner.explain import explain
        return explain(self, conclusion, **options)

    def why_not(self, what, **options):
        """Why a suggestion, hunch or automation did not happen: the closest candidate, and
        what was missing or held its score back (``reasoner.explain.why_not``)."""
        from reasoner.explain import why_not
        return why_not(self, what, **options)


    def answer_hunch(self, hunch: int | NamedNode | Appended, accepted: bool, *,
                     by: str | None = None, time: str | dt.datetime | None = None) -> Appended:
        """A person's answer to a hunch ("yes, turn it off" / "no, leave it on"): an event the
        household's routine baseline learns from (``reasoner.hunches.answer_hunch``)."""
        from reasoner.hunches import answer_hunch
        return answer_hunch(self, hunch, accepted, by=by,
                            time=_when(time) if time is not None else None)

    # -- teaching, routines, blueprints, new intents ------------------------------------------
    def teach(self, phrase: str, meaning, *, scope: str = "household", person: str | None = None,
              area: str | None = None, time: str | dt.datetime | None = None) -> Appended:
        """Teaches a phrase as a command (``reasoner.teaching.teach``): ``meaning`` in words
        ("lights at twenty percent in the living room") or as actions; ``scope`` household, user
        (``person``) or room (``area``). Teaching it again in the same scope is a revision."""
        from reasoner.teaching import teach
        return teach(self, phrase, meaning, scope=scope, person=person, area=area,
                     time=_when(time))

    def forget(self, phrase: str, *, person: str | None = None, area: str | None = None,
               time: str | dt.datetime | None = None) -> Appended:
        """Forgets a taught command (an event: what was taught stays in the log)."""
        from reasoner.teaching import forget
        return forget(self, phrase, person=person, area=area, time=_when(time))

    def define_intent(self, intent: str, examples: Sequence[str], *, actions=None,
                      person: str | None = None, time: str | dt.datetime | None = None) -> Appended:
        """A new intent from ~10 examples, usable at once without retraining the others."""
        from reasoner.teaching import define_intent
        return define_intent(self, intent, examples, actions=actions, person=person,
                             time=_when(time))

    def add_routine(self, routine: str, *, trigger: Mapping[str, Any], actions,
                    label: str | None = None, person: str | None = None,
                    time: str | dt.datetime | None = None) -> Appended:
        """A routine: actions (words or action dicts) under a trigger (a phrase, a time, a state
        change, an event, an inferred activity; ``reasoner.routines.define_routine``)."""
        from reasoner.routines import define_routine
        return define_routine(self, routine, trigger=trigger, actions=actions, label=label,
                              person=person, time=_when(time))

    def remove_routine(self, routine: str, *, person: str | None = None,
                       time: str | dt.datetime | None = None) -> Appended:
        from reasoner.routines import remove_routine
        return remove_routine(self, routine, person=person, time=_when(time))

    def instantiate(self, blueprint: str, routine: str | None = None, *,
                    inputs: Mapping[str, Any] | None = None, person: str | None = None,
                    time: str | dt.datetime | None = None, **values) -> Appended:
        """A routine from a blueprint (``ontologies/blueprints/``), its typed parameters given as
        keywords (or ``inputs`` for names that clash with these arguments)."""
        from reasoner.routines import instantiate
        return instantiate(self, blueprint, routine, inputs={**(inputs or {}), **values},
                           person=person, time=_when(time))


class Hearth(kg_household.Hearth):
    """Households with the reasoner attached (see ``kg.household.Hearth`` for the stores)."""

    household_class = Household
