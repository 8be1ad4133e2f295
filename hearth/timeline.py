"""Readable sentences for events, and a timeline printed with rich."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from rich.console import Console
from rich.text import Text

from kg import events as E
from kg.projection import HouseholdState

# Sentences for event types beyond kg's own (type → function(event, state)).
DESCRIBERS: dict[type, Callable[[E.Event, HouseholdState], str]] = {}


def _reasoner_describers() -> None:
    from reasoner.annotations import DESCRIBERS as REASONER
    for cls, fn in REASONER.items():
        DESCRIBERS.setdefault(cls, fn)


_reasoner_describers()

_STATE_WORDS = {("on",): "turned on", ("off",): "turned off", ("locked",): "locked",
                ("unlocked",): "unlocked", ("open",): "opened", ("closed",): "closed",
                ("heat",): "set to heat", ("cool",): "set to cool", ("idle",): "went idle",
                ("playing",): "started playing"}


def _agent(event: E.Event, state: HouseholdState) -> str:
    kind, _, local = event.agent().partition(":")
    if kind == "person":
        return state.name_of("person", local)
    return ""


def describe(event: E.Event, state: HouseholdState) -> str:
    """One sentence a person reads easily."""
    custom = DESCRIBERS.get(type(event))
    if custom is not None:
        return custom(event, state)
    name = lambda kind, ident: state.name_of(kind, ident) if ident else ""  # noqa: E731
    if isinstance(event, E.DeviceStateChanged):
        device = name("device", event.device)
        if event.attribute == "state":
            words = _STATE_WORDS.get((str(event.value),), f"is now {event.value}")
            return f"{device} {words}"
        if event.attribute == "temperature":
            return f"{device} set to {event.value} °"
        return f"{device}: {event.attribute} is now {event.value}"
    if isinstance(event, E.SensorObserved):
        unit = {"Cel": " °C"}.get(event.unit or "", f" {event.unit}" if event.unit else "")
        if isinstance(event.value, bool):
            return f"{name('device', event.sensor)} {'detected' if event.value else 'cleared'} " \
                   f"{event.property}"
        return f"{name('device', event.sensor)} read {event.value}{unit}"
    if isinstance(event, E.UtteranceHeard):
        who = name("person", event.speaker) or "Someone"
        return f'{who} said "{event.text}"'
    if isinstance(event, E.PersonArrived):
        return f"{name('person', event.person)} arrived home"
    if isinstance(event, E.PersonLeft):
        return f"{name('person', event.person)} left"
    if isinstance(event, E.CalendarEntryAdded):
        return (f"Calendar: {event.title}, {event.start:%H:%M}–{event.end:%H:%M}"
                + (f" at {event.location}" if event.location else ""))
    if isinstance(event, E.CommandIssued):
        what = event.command.replace("_", " ")
        attribute = getattr(event, "attribute", None)
        if event.value is not None:
            what += (f" {attribute.replace('_', ' ')} to {event.value}"
                     if attribute and attribute != "state" and event.command == "set"
                     else f" to {event.value}")
        return f"Asked the {name('device', event.device)} to {what}"
    if isinstance(event, E.DefinitionTaught):
        return f'Learned that "{event.phrase}" means {event.meaning}'
    if isinstance(event, E.HouseholdCreated):
        return f"Household {event.name} created"
    if isinstance(event, E.DeviceAdded):
        return f"{event.name} ({event.kind}) added" + (
            f" in {name('area', event.area)}" if event.area else "")
    if isinstance(event, E.AreaAdded):
        return f"Area {event.name} added"
    if isinstance(event, E.FloorAdded):
        return f"Floor {event.name} added"
    if isinstance(event, E.PersonAdded):
        return f"{event.name} joined the household"
    if isinstance(event, E.EventRetracted):
        return f"Retracted event {event.retracts.value.rsplit(':', 1)[-1]}: {event.reason}"
    if isinstance(event, E.FactsAsserted):
        return f"{event.rdf.count(chr(10))} facts asserted"
    if isinstance(event, E.FactInferred):
        return f"Inferred {event.rdf.count(chr(10))} facts"
    return event.type_name()


def part_of_day(when: dt.datetime) -> str:
    h = when.hour
    return ("Night" if h < 5 else "Morning" if h < 12 else "Afternoon" if h < 17
            else "Evening" if h < 22 else "Night")


SETUP_TYPES = (E.HouseholdCreated, E.FloorAdded, E.AreaAdded, E.DeviceAdded, E.PersonAdded)
_SETUP_WORDS = {"FloorAdded": "floor", "AreaAdded": "area", "DeviceAdded": "device",
                "PersonAdded": "person", "DeviceStateChanged": "initial device state",
                "PersonArrived": "person at home", "SensorObserved": "reading",
                "RoutineDefined": "routine", "CommandTaught": "taught command",
                "FactsAsserted": "fact set"}


def _plural(word: str, n: int) -> str:
    if n == 1:
        return f"1 {word}"
    if word == "person":
        return f"{n} people"
    if word == "person at home":
        return f"{n} people at home"
    return f"{n} {word}s"


def print_timeline(console: Console, items: Iterable[tuple[int, E.Event]],
                   state: HouseholdState, *, show_readings: bool = False,
                   annotate: Callable[[int, E.Event], list[str]] | None = None) -> None:
    """Prints events grouped by part of the day. The household's set-up (its first events, up to
    the last one stamped with the creation time) is summed up in one line."""
    setup: dict[str, int] = {}
    setup_time = None
    in_setup = True
    current_part = None
    for seq, event in items:
        if isinstance(event, E.HouseholdCreated):
            setup_time = event.time
        if in_setup and (isinstance(event, SETUP_TYPES) or event.time == setup_time):
            if not isinstance(event, E.HouseholdCreated):
                setup[event.type_name()] = setup.get(event.type_name(), 0) + 1
            continue
        if in_setup and setup:
            parts = ", ".join(_plural(_SETUP_WORDS.get(k, k), n) for k, n in setup.items())
            console.print(f"  [dim]set up: {parts}[/]")
        in_setup = False
        if isinstance(event, E.SensorObserved) and not show_readings and not isinstance(
                event.value, bool):
            continue
        part = part_of_day(event.time)
        day = f"{event.time:%A %d %B}"
        if part != current_part:
            console.print()
            console.print(Text(f"{part} · {day}", style="bold"))
            current_part = part
        who = _agent(event, state)
        line = Text(f"  {event.time:%H:%M}  ", style="cyan")
        line.append(describe(event, state))
        if who and not isinstance(event, E.UtteranceHeard):
            line.append(f"  ({who})", style="dim")
        line.append(f"  #{seq}", style="dim")
        console.print(line)
        for note in (annotate(seq, event) if annotate else []):
            console.print(Text(f"           {note}", style="italic"))
