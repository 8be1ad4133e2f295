"""The demo's skill backends: a fake catalogue of places, showtimes, restaurants and travel times.

**A demo fixture, not a live service.** ``hearth/data/night_out.yaml`` holds made-up cinemas,
films, restaurants and drive times; :class:`FixtureSkills` answers the weather, routes, movies,
restaurants and ride-share skills from it, as a :class:`reasoner.dialogue.Responder`, so that
``hearth demo`` can show a night out (a film, dinner nearby, a ride) and its revisions offline.

>>> skills = FixtureSkills.load()
>>> skills.directory.get("dinner at Osteria Nina instead").name
'Osteria Nina'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kg.terms import format_datetime

from .dialogue import (Directory, DialogueError, Request, Response, Session, Venue, as_datetime,
                       default_spec, spoken)

__all__ = ["FixtureSkills", "FIXTURE_PATH", "DEMO_UTTERANCES", "attach_demo", "demo_annotations",
           "demo_events", "is_bookkeeping"]

FIXTURE_PATH = Path(__file__).resolve().parents[1] / "hearth" / "data" / "night_out.yaml"


@dataclass(frozen=True)
class _Showing:
    title: str
    start: dt.datetime
    minutes: int

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(minutes=self.minutes)


class FixtureSkills:
    """Answers from the fixture (see the module docstring)."""

    def __init__(self, data: Mapping[str, Any]):
        self.data = dict(data)
        tz = self.data.get("timezone", "+00:00")
        sign = -1 if tz.startswith("-") else 1
        h, m = (int(x) for x in tz.lstrip("+-").split(":"))
        self.tz = dt.timezone(sign * dt.timedelta(hours=h, minutes=m))
        kinds = default_spec().kinds
        venues = []
        for p in self.data.get("places", []):
            venues.append(Venue(p["name"], kinds.get(p.get("kind", ""), "Place"), p.get("address"),
                                p.get("description", ""), (p.get("kind", ""),)))
        for c in self.data.get("cinemas", []):
            venues.append(Venue(c["name"], kinds.get("cinema", "Place"), c.get("address"),
                                "a cinema", ("cinema",)))
        for r in self.data.get("restaurants", []):
            venues.append(Venue(r["name"], kinds.get("restaurant", "Place"), r.get("address"),
                                f"a {r.get('cuisine', '')} restaurant".replace("  ", " "),
                                ("restaurant", r.get("cuisine", ""))))
        self.directory = Directory(venues)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "FixtureSkills":
        path = Path(path) if path is not None else FIXTURE_PATH
        try:
            return cls(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        except (OSError, yaml.YAMLError) as err:
            raise DialogueError(f"cannot read the demo fixture {path}: {err}") from err

    # -- lookups ---------------------------------------------------------------------------------
    def _named(self, table: str, name: Any) -> dict | None:
        venue = self.directory.get(name) if name else None
        if venue is None:
            return None
        return next((x for x in self.data.get(table, []) if x["name"] == venue.name), None)

    def _at(self, day: dt.date, hhmm: str) -> dt.datetime:
        h, m = (int(x) for x in hhmm.split(":"))
        return dt.datetime(day.year, day.month, day.day, h, m, tzinfo=self.tz)

    def _showings(self, cinema: dict, day: dt.date) -> list[_Showing]:
        out = [_Showing(film["title"], self._at(day, t), int(film["minutes"]))
               for film in cinema.get("films", []) for t in film.get("times", [])]
        return sorted(out, key=lambda s: (s.start, s.title))

    def _restaurants_near(self, place: Any) -> list[dict]:
        venue = self.directory.get(place) if place else None
        near = [r for r in self.data.get("restaurants", [])
                if venue is None or r.get("near") == venue.name or r["name"] == venue.name]
        return sorted(near, key=lambda r: r.get("walk_minutes", 99))

    def _hours(self, r: dict, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """When restaurant ``r`` opens and takes its last table on ``day``."""
        return (self._at(day, r.get("opens", "00:00")), self._at(day, r.get("last_table", "23:59")))

    def _open_at(self, r: dict, when: dt.datetime) -> bool:
        opens, last = self._hours(r, when.date())
        return opens <= when <= last

    # -- answering --------------------------------------------------------------------------------
    def respond(self, request: Request) -> Response | None:
        handler = getattr(self, f"_{request.skill}", None)
        return handler(request) if handler is not None else None

    def _weather(self, req: Request) -> Response | None:
        place = self._named("places", req.values.get("name"))
        if place is None:
            return None
        return Response(f"At {place['name']} today: {place['forecast']}.", "inform")

    def _routes(self, req: Request) -> Response | None:
        name = req.values.get("destination")
        venue = self.directory.get(name)
        entry = next((x for t in ("places", "cinemas") for x in self.data.get(t, [])
                      if venue is not None and x["name"] == venue.name), None)
        if entry is None or "drive_minutes" not in entry:
            return None
        return Response(f"The drive to {entry['name']} takes about {entry['drive_minutes']} "
                        "minutes in current traffic.", "inform")

    def _movies(self, req: Request) -> Response | None:
        cinema = self._named("cinemas", req.values.get("place"))
        if cinema is None:
            return None
        day = req.time.astimezone(self.tz).date()
        showings = [s for s in self._showings(cinema, day) if s.start >= req.time]
        if not showings:
            return Response(f"Nothing else is showing at {cinema['name']} today.", "inform")
        if req.intent == "movies.buy_tickets":
            return self._tickets(req, cinema, showings)
        by_title: dict[str, list[str]] = {}
        for s in showings:
            by_title.setdefault(s.title, []).append(spoken(format_datetime(s.start)))
        listing = "; ".join(f"{t} at {' and '.join(times)}" for t, times in by_title.items())
        first = showings[0]
        return Response(f"Tonight at {cinema['name']}: {listing}.", "offer", offers={
            "movie": first.title, "time": format_datetime(first.start),
            "end_time": format_datetime(first.end), "address": cinema.get("address")})

    def _tickets(self, req: Request, cinema: dict, showings: list[_Showing]) -> Response:
        title = req.values.get("movie")
        wanted = as_datetime(req.values.get("time"))
        films = [s for s in showings if not title or s.title.casefold() == str(title).casefold()]
        films = films or showings
        if wanted is not None:
            pick = min(films, key=lambda s: abs((s.start - wanted).total_seconds()))
        else:
            pick = films[0]
        n = req.values.get("tickets") or 2
        verb = "Moved your" if req.status == "done" and "time" in req.changed else "Booked"
        text = (f"{verb} {n} tickets for {pick.title} at {spoken(format_datetime(pick.start))} "
                f"at {cinema['name']}; it ends at {spoken(format_datetime(pick.end))}.")
        if verb == "Moved your":
            text = (f"Moved your {n} tickets to the {spoken(format_datetime(pick.start))} showing "
                    f"of {pick.title}; it ends at {spoken(format_datetime(pick.end))}.")
        return Response(text, "confirm", offers={
            "movie": pick.title, "time": format_datetime(pick.start), "tickets": n,
            "end_time": format_datetime(pick.end), "address": cinema.get("address")})

    def _restaurants(self, req: Request) -> Response | None:
        when = as_datetime(req.values.get("time"))
        if req.intent == "restaurants.reserve":
            r = self._named("restaurants", req.values.get("restaurant"))
            if r is None:
                return None
            when = when or req.time
            n = req.values.get("party_size") or 2
            opens, last = self._hours(r, when.date())
            if not opens <= when <= last:
                hours = f"takes its last table at {spoken(format_datetime(last))}"
                if when < opens:
                    hours = f"opens at {spoken(format_datetime(opens))} and {hours}"
                return Response(f"{r['name']} {hours}.", "inform")
            return Response(f"Booked a table for {n} at {r['name']} at "
                            f"{spoken(format_datetime(when))}.", "confirm", offers={
                                "restaurant": r["name"], "address": r["address"],
                                "time": format_datetime(when), "party_size": n})
        near = self._restaurants_near(req.values.get("place"))
        cuisine = req.values.get("cuisine")
        if cuisine:
            near = [r for r in near if r.get("cuisine", "").casefold() == str(cuisine).casefold()] \
                or near
        if when is not None:
            near = [r for r in near if self._open_at(r, when)] or near
        if not near:
            return None
        r = near[0]
        where = req.values.get("place")
        text = f"{r['name']} ({r['address']}) is {r.get('walk_minutes', '?')} minutes' walk"
        text += f" from {where}" if where else " away"
        text += f" and has a table at {spoken(format_datetime(when))}." if when else "."
        return Response(text, "offer", offers={"restaurant": r["name"], "address": r["address"]})

    def _rideshare(self, req: Request) -> Response | None:
        dest = req.values.get("destination")
        if not dest:
            return Response("Where to?", "request")
        when = as_datetime(req.values.get("time"))
        n = req.values.get("riders") or 1
        pickup = req.values.get("pickup")
        text = f"Booked a car for {n}: it picks you up" + (f" at {pickup}" if pickup else "")
        text += f" at {spoken(format_datetime(when))}" if when else " now"
        text += f" and takes you to {self._place_name(dest, req.frames)}."
        return Response(text, "confirm")

    def _place_name(self, value: Any, frames: Mapping[str, Mapping[str, Any]]) -> str:
        for r in self.data.get("restaurants", []):
            if value in (r["name"], r.get("address")):
                return f"{r['name']} ({r['address']})"
        return str(value)

    # -- revisions of what was already booked -----------------------------------------------------
    def revise(self, session: Session, revised: Mapping[str, Mapping[str, Any]],
               time: dt.datetime) -> Response | None:
        moved, other = [], []
        frames = {k: fr.values() for k, fr in session.frames.items()}
        table = revised.get("restaurants") or {}
        if "time" in table:
            name = frames.get("restaurants", {}).get("restaurant", "the restaurant")
            moved.append(f"your table at {name} to {spoken(table['time'])}")
        ride = revised.get("rideshare") or {}
        if "time" in ride:
            moved.append(f"your ride to {spoken(ride['time'])}")
        if "destination" in ride:
            other.append(f"your ride now goes to {self._place_name(ride['destination'], frames)}")
        if "pickup" in ride:
            other.append(f"your ride now picks you up at {ride['pickup']}")
        sentences = []
        if moved:
            sentences.append("I've moved " + " and ".join(moved) + ".")
        if other:
            text = "; ".join(other)
            sentences.append(text[0].upper() + text[1:] + ".")
        if not sentences:
            return None
        return Response(" ".join(sentences), "confirm")


# ================================================================================================
# The demo's wiring (hearth demo)
# ================================================================================================

#: Utterances for hearth/data/demo_day.jsonl: the night out after "what's playing at Rolling Hills
#: Cine Plaza" (18:30, session s3), with the film then moved to a later showing.
DEMO_UTTERANCES = (
    ("18:31", "book two tickets for the 7 pm showing"),
    ("18:32", "find a restaurant nearby"),
    ("18:33", "book a table there"),
    ("18:34", "get us a ride there"),
    ("18:40", "get tickets for the 8:30 showing instead"),
)


def demo_events(*, date: str = "2026-11-21", offset: str = "-08:00", speaker: str = "maya",
                device: str = "media_player.kitchen_speaker", session: str = "s3") -> list[dict]:
    """:data:`DEMO_UTTERANCES` as ``UtteranceHeard`` JSON lines for the demo day."""
    return [{"type": "UtteranceHeard", "time": f"{date}T{hhmm}:00{offset}", "text": text,
             "speaker": speaker, "device": device, "session": session}
            for hhmm, text in DEMO_UTTERANCES]


def attach_demo(home, skills: "FixtureSkills | None" = None) -> "FixtureSkills":
    """Makes ``home``'s conversations answer from the demo fixture: its ``dialogue`` component
    gets :class:`FixtureSkills` as its responder (and the ``dialogue`` and ``goals`` components
    are added after ``understanding`` when the pipeline lacks them). Call it right after creating
    the demo household, before its events are appended."""
    from .dialogue import DialogueComponent
    from .goals import GoalsComponent
    skills = skills or FixtureSkills.load()
    pipeline = home.pipeline
    names = pipeline.names
    if "dialogue" not in names:
        where = {"after": "understanding"} if "understanding" in names else {}
        pipeline.add(DialogueComponent(responder=skills), **where)
    else:
        pipeline.get("dialogue").responder = skills
    if "goals" not in pipeline.names:
        pipeline.add(GoalsComponent(), after="dialogue")
    return skills


def is_bookkeeping(event) -> bool:
    """Dialogue events a demo timeline can leave out: turns and frames (the utterance and its
    reading are shown), values the user said (the reading shows them), rankings that offered
    nothing, and the system turn that repeats an offer (the offer is shown)."""
    from .dialogue import FrameIntentChanged, FrameOpened, SlotFilled, SystemTurnMade, UserTurnMade
    from .goals import GoalsRanked
    if isinstance(event, UserTurnMade):
        return event.rule is None      # shown when the dialogue read it beyond understanding
    if isinstance(event, (FrameOpened, FrameIntentChanged, GoalsRanked)):
        return True
    if isinstance(event, SlotFilled):
        return event.source == "said" or (event.source == "offered" and event.revises is None)
    if isinstance(event, SystemTurnMade):
        return event.act == "offer_intent"
    return False


def demo_annotations(home, notes: dict[int, list[str]] | None = None) -> dict[int, list[str]]:
    """``{seq: [line]}``: why each dialogue value was carried, inferred or revised, and why each
    offer was made (Shapley values of its features), for the demo's timeline. Given the
    timeline's other ``notes`` (``reasoner.annotations.annotations``), returns them merged, the
    goals' offers explained by their features instead of their bare evidence."""
    from .dialogue import SlotFilled, UserTurnMade, why_line
    from .goals import AGENT as GOALS, why_offered
    from .patterns import SuggestionMade
    out: dict[int, list[str]] = {k: list(v) for k, v in (notes or {}).items()}
    for seq, event in home.events(types=[SlotFilled, SuggestionMade, UserTurnMade]):
        line = None
        if isinstance(event, SuggestionMade):
            if event.agent() == GOALS:
                why = why_offered(home, seq)
                line = f"↳ why: {why}" if why else None
                out.pop(seq, None)
        else:
            line = why_line(event)
        if line:
            out.setdefault(seq, []).append(line)
    return out
