"""What the reasoner concluded about a household, as one-line explanations for a timeline.

``attach`` runs the ``rules``, ``patterns`` and ``hunches`` components after every append;
``DESCRIBERS`` gives a sentence for each of their conclusion types (the timeline uses them);
``timeline_items`` is the log without the rules' bookkeeping (``FactInferred``, withdrawals);
``annotations`` maps the sequence number of each conclusion (an activity, a suggestion, a hunch,
a command issued on one) to the line that explains it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from kg import events as E
from kg.household import Household

from .hunches import HunchRaised, describe_hunch
from .patterns import ActivityInferred, SuggestionMade, describe_activity, describe_suggestion
from .pipeline import Pipeline
from .signals import Knowledge

DEMO_COMPONENTS = ("rules", "patterns", "hunches")

__all__ = ["attach", "annotations", "timeline_items", "explain_event", "DESCRIBERS"]


DESCRIBERS = {ActivityInferred: describe_activity, SuggestionMade: describe_suggestion,
              HunchRaised: describe_hunch}


def _understanding_describers() -> None:
    from .resolution import FactsFetched, describe_facts_fetched
    from .understanding import UtteranceInterpreted, describe_interpretation
    DESCRIBERS[UtteranceInterpreted] = describe_interpretation
    DESCRIBERS[FactsFetched] = describe_facts_fetched
    from .activities import ActivityCorroborated, describe_corroboration
    DESCRIBERS[ActivityCorroborated] = describe_corroboration
    from .explain import ExplanationProvided, describe_explanation
    DESCRIBERS[ExplanationProvided] = describe_explanation
    from . import dialogue, goals
    DESCRIBERS.update(dialogue.DESCRIBERS)
    DESCRIBERS.update(goals.DESCRIBERS)
    from . import learning, routines, teaching
    DESCRIBERS.update(learning.DESCRIBERS)
    DESCRIBERS.update(teaching.DESCRIBERS)
    DESCRIBERS.update(routines.DESCRIBERS)


_understanding_describers()


def attach(home: Household, names: Sequence[str] = DEMO_COMPONENTS, *,
           config: dict[str, dict] | None = None) -> Pipeline:
    """Runs the reasoner after every append to ``home`` from now on."""
    return Pipeline.from_names(names, config=config).attach(home)


def timeline_items(home: Household) -> Iterator[tuple[int, E.Event]]:
    """The log for a timeline: everything but the rules' inferred facts and the reasoner's own
    withdrawals."""
    for seq, event in home.events():
        if isinstance(event, E.FactInferred):
            continue
        if isinstance(event, E.EventRetracted) and event.agent().startswith("component:"):
            continue
        yield seq, event


def annotations(home: Household, *, describe: Callable[[E.Event, object], str]
                ) -> dict[int, list[str]]:
    """``{seq: [line]}``: for every conclusion that is not retracted, why it was drawn;
    ``describe(event, state)`` says what an evidence event was."""
    retracted = home.state.retracted
    out: dict[int, list[str]] = {}
    types = [ActivityInferred, SuggestionMade, HunchRaised, E.CommandIssued]
    for seq, event in home.events(types=types):
        if home.ids.event(seq) in retracted:
            continue
        line = explain_event(home, event, describe)
        if line:
            out.setdefault(seq, []).append(line)
    return out


def explain_event(home: Household, event: E.Event,
                  describe: Callable[[E.Event, object], str]) -> str | None:
    """One line saying why a conclusion was drawn."""
    state = home.state

    def evidence() -> str:
        parts = []
        for ref in sorted(event.derived_from, key=home.ids.seq_of):
            ev = home.event(home.ids.seq_of(ref))
            who = ev.agent().partition(":")
            by = f" by {state.name_of('person', who[2])}" if who[0] == "person" else ""
            parts.append(f"{describe(ev, state)}{by} at {ev.time:%H:%M}")
        return "; ".join(parts)

    if isinstance(event, ActivityInferred):
        name = (event.pattern or "").rsplit("/", 1)[-1]
        source = f"pattern {name}" if name else f"{event.agent().partition(':')[2]} model"
        return (f"↳ why: {evidence()}, all within {_minutes(event)} min "
                f"({source}, confidence {event.confidence:.2f})")
    if isinstance(event, SuggestionMade):
        name = (event.pattern or "").rsplit("/", 1)[-1]
        return f"↳ why: {evidence()}" + (f" (pattern {name})" if name else "")
    if isinstance(event, HunchRaised):
        k = Knowledge.of(home)
        kind = k.labels.get(event.kind or "", "hunch")
        return (f"↳ why: {evidence()}; expected {event.expected}, found {event.actual}, "
                f"score {event.score:.2f} ({kind})")
    if isinstance(event, E.CommandIssued) and event.derived_from and \
            event.agent() == "component:hunches":
        return "↳ done automatically: the household opted in to acting on hunches"
    return None


def _minutes(event: ActivityInferred) -> int:
    return max(1, round((event.end - event.start).total_seconds() / 60))
