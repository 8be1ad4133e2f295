"""Ingesting event files: JSON Lines, one event a line (see docs/events.md).

Every line is validated before anything is written; a bad line is reported with its line number
and field, and the batch is all-or-nothing: either every event lands or none.

>>> from kg.household import Hearth
>>> home = Hearth.in_memory().create_household("h1", time="2026-11-25T06:00:00Z")
>>> lines = ['{"type": "PersonAdded", "time": "2026-11-25T06:00:00Z", "person": "sam", "name": "Sam"}',
...          '{"type": "PersonArrived", "time": "2026-11-25T18:00:00Z", "persn": "sam"}']
>>> ingest_lines(home, lines)
Traceback (most recent call last):
...
kg.errors.EventError: line 2, field 'persn': PersonArrived has no field 'persn' (did you mean 'person'?); its fields are area, by, derived_from, person, time
>>> home.head  # nothing was written
1
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from . import events as E
from .errors import EventError
from .household import Household


# After this many events in one ingest, the store is compacted so queries stay fast.
OPTIMIZE_AFTER_EVENTS = 10_000


@dataclass(frozen=True)
class IngestResult:
    count: int
    first_seq: int | None
    last_seq: int | None


def parse_lines(lines: Iterable[str], household: Household | None = None,
                ) -> tuple[list[E.Event], list[int]]:
    """Events from JSON lines (blank lines and lines starting with '#' are skipped), and the
    line number each came from."""
    ids = household.ids if household is not None else None
    events, numbers = [], []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            raise EventError(f"not valid JSON: {err.msg} at column {err.colno}",
                             line=number) from None
        try:
            events.append(E.Event.from_json(obj, ids=ids))
        except EventError as err:
            raise err.at_line(number) from None
        except ValueError as err:  # e.g. malformed RDF inside a FactsAsserted event
            raise EventError(str(err), line=number) from None
        numbers.append(number)
    return events, numbers


def append_events(household: Household, events: list[E.Event], numbers: list[int] | None = None,
                  *, on_progress: Callable[[int], None] | None = None) -> IngestResult:
    """Appends parsed events all or nothing, reporting a shape error at its source line."""
    if not events:
        return IngestResult(0, None, None)
    try:
        appended = household.append_many(events, on_progress=on_progress)
        if len(appended) >= OPTIMIZE_AFTER_EVENTS:
            household.optimize()
    except EventError as err:
        if err.line is not None and numbers:
            raise err.at_line(numbers[err.line - 1]) from None
        if len(events) == 1 and numbers:
            raise err.at_line(numbers[0]) from None
        raise
    return IngestResult(len(appended), appended[0].seq, appended[-1].seq)


def ingest_lines(household: Household, lines: Iterable[str], **kwargs) -> IngestResult:
    events, numbers = parse_lines(lines, household)
    return append_events(household, events, numbers, **kwargs)


def ingest_file(household: Household, path: str | Path, **kwargs) -> IngestResult:
    """Validates every line of a JSON Lines file, then appends them all at once (all or nothing)."""
    with open(path, encoding="utf-8") as handle:
        return ingest_lines(household, handle, **kwargs)
