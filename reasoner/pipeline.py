"""The reasoner as an ordered pipeline of named components.

Each component reads the household (its graph, state and the events just appended) and returns
new events (conclusions: inferred facts, activities, hunches, suggestions …); it never writes the
graph itself. The pipeline appends what the components return, which may in turn wake other
components, until nothing new comes out (a fixpoint, with a depth limit against loops).

    pipeline = Pipeline.from_names(["rules", "hunches"], config={"hunches": {...}})
    pipeline.attach(household)        # runs after every append from now on

Components are made by factories registered by name (``register_component``); an unknown name
is an error that lists the known ones.
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from kg.events import Event
from kg.household import Household
from kg.log import Appended

from .errors import ReasonerError

__all__ = ["Component", "Pipeline", "ReasonerError", "make_component", "populate_registry",
           "register_component"]

log = logging.getLogger("hearth.reasoner")


@runtime_checkable
class Component(Protocol):
    """A pipeline step. ``consumes``: the event types that wake it (empty: every event);
    ``produces``: the event types it may return (declared, so a pipeline can be checked)."""

    name: str
    consumes: tuple[type[Event], ...]
    produces: tuple[type[Event], ...]

    def process(self, home: Household, appended: Sequence[Appended]) -> list[Event]:
        """New events concluded from the appended ones (each with ``derived_from`` set)."""


FACTORIES: dict[str, Callable[..., Component]] = {}

# The modules whose components ship with hearth; populate_registry() imports them (explicitly,
# once, rather than as a side effect of importing the package).
BUILTIN_MODULES = ("reasoner.rules", "reasoner.patterns", "reasoner.hunches",
                   "reasoner.understanding", "reasoner.resolution", "reasoner.activities",
                   "reasoner.explain", "reasoner.dialogue", "reasoner.goals",
                   "reasoner.teaching", "reasoner.routines", "reasoner.learning")


def populate_registry() -> dict[str, Callable[..., Component]]:
    """Registers the built-in components; returns the registry."""
    import importlib
    for module in BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
    return FACTORIES


def register_component(name: str):
    """Registers a component factory under a name: ``@register_component("rules")``."""
    def wrap(factory):
        if name in FACTORIES and FACTORIES[name] is not factory:
            raise ReasonerError(f"a component named {name!r} is already registered")
        FACTORIES[name] = factory
        return factory
    return wrap


def make_component(name: str, **config: Any) -> Component:
    if name not in FACTORIES:
        populate_registry()
    try:
        factory = FACTORIES[name]
    except KeyError:
        close = difflib.get_close_matches(name, FACTORIES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ReasonerError(f"no component factory {name!r}.{hint} Available: "
                            f"{', '.join(sorted(FACTORIES)) or 'none'}") from None
    return factory(**config)


@dataclass
class Pipeline:
    components: list[Component] = field(default_factory=list)
    max_depth: int = 8

    @classmethod
    def from_names(cls, names: Iterable[str], *, config: dict[str, dict] | None = None
                   ) -> "Pipeline":
        config = config or {}
        return cls([make_component(n, **config.get(n, {})) for n in names])

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.components]

    def get(self, name: str) -> Component:
        for c in self.components:
            if c.name == name:
                return c
        raise ReasonerError(f"no component {name!r} in this pipeline: {', '.join(self.names)}")

    def add(self, component: Component, *, before: str | None = None,
            after: str | None = None) -> None:
        if component.name in self.names:
            raise ReasonerError(f"the pipeline already has a component {component.name!r}")
        if before is not None:
            self.components.insert(self.names.index(self.get(before).name), component)
        elif after is not None:
            self.components.insert(self.names.index(self.get(after).name) + 1, component)
        else:
            self.components.append(component)

    def remove(self, name: str) -> Component:
        component = self.get(name)
        self.components.remove(component)
        return component

    def attach(self, home: Household) -> "Pipeline":
        """Runs the pipeline after every append to ``home`` from now on."""
        runner = _Runner(self, home)
        self.prepare(home)
        home.log.subscribe(runner)
        return self

    def prepare(self, home: Household) -> None:
        """Lets each component that has a ``prepare(home)`` get ready for ``home`` (build its
        per-household tables now rather than on the first event). A failure here is logged, not
        raised: the component builds what it needs when the first event comes, as it would anyway."""
        for component in self.components:
            prepare = getattr(component, "prepare", None)
            if prepare is None:
                continue
            try:
                prepare(home)
            except Exception as err:  # noqa: BLE001 - warming up is optional
                log.warning("component %s could not prepare for household %s: %s",
                            component.name, getattr(home, "id", home), err)

    def run(self, home: Household, appended: Sequence[Appended]) -> list[Appended]:
        """Runs the components over some appended events to a fixpoint; returns what it added."""
        return _Runner(self, home).drain(list(appended))


class _Runner:
    """Turns log notifications into pipeline runs, without re-entering itself.

    Appends from several threads are each drained in their own thread; the conclusions a drain
    appends come back to the listener in the same thread, which skips them (drain handles them).
    """

    def __init__(self, pipeline: Pipeline, home: Household):
        self.pipeline = pipeline
        self.home = home
        self._local = threading.local()

    @property
    def busy(self) -> bool:
        return getattr(self._local, "busy", False)

    def __call__(self, appended: list[Appended]) -> None:
        if self.busy:
            return  # our own conclusions: drain() below already handles them
        self.drain(appended)

    def drain(self, appended: list[Appended]) -> list[Appended]:
        self._local.busy = True
        added: list[Appended] = []
        try:
            batch = appended
            for _ in range(self.pipeline.max_depth):
                if not batch:
                    break
                new: list[Appended] = []
                for component in self.pipeline.components:
                    wanted = [a for a in batch if not component.consumes
                              or isinstance(a.event, component.consumes)]
                    if not wanted:
                        continue
                    events = component.process(self.home, wanted)
                    if events:
                        new.extend(self.home.log.append_many(events))
                added.extend(new)
                batch = new
            else:
                log.warning("reasoner pipeline stopped after %d rounds: components keep "
                            "concluding new events", self.pipeline.max_depth)
        finally:
            self._local.busy = False
        return added
