"""Slots: what an utterance names (devices, areas, people, media) and says (numbers, times,
dates, durations, percentages, temperatures), and which graph node each name means.

Three layers:

* :func:`parse_quantities`: a small rule parser for numbers ("twenty one", "5 and a half"),
  percentages ("30 percent", "half"), temperatures ("21 degrees celsius", "70°F"), durations
  ("an hour and a half", "1 hour 30 minutes"), times ("at 7 pm", "half past six", "in 10
  minutes", "tomorrow at 9") and dates ("tomorrow", "on Friday", "this weekend", "June 3rd"),
  resolved against when the utterance was heard;
* :class:`SlotExtractor`: a blank English spaCy pipeline whose ``entity_ruler`` holds gazetteers
  drawn from the household graph (device names, areas, floors, people, media titles, and the
  words for kinds of device from the ontology: "lamp", "thermostat", "oven"), with the quantities
  merged in (the longest span wins). Gazetteers are rebuilt only when the household's devices,
  areas, floors or people change, not on every state change;
* :class:`EntityResolver`: a mention ("the lamp in the kitchen", "kitchen lamp", "reading
  light") → ranked graph nodes with scores, by exact name, fuzzy name (rapidfuzz), kind of device
  and area (from the ontology), and sentence embeddings (any encoder with ``encode(texts)``).

>>> import datetime as dt
>>> now = dt.datetime(2026, 11, 25, 14, 0, tzinfo=dt.timezone.utc)
>>> [(q.label, q.value) for q in parse_quantities("set a timer for an hour and a half", now=now)]
[('DURATION', datetime.timedelta(seconds=5400))]
>>> [(q.label, q.value) for q in parse_quantities("dim it to 30 percent at 7", now=now)]
[('PERCENT', 30), ('TIME', datetime.datetime(2026, 11, 25, 19, 0, tzinfo=datetime.timezone.utc))]
"""

from __future__ import annotations

import datetime as dt
import math
import re
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from kg.errors import HearthError

__all__ = [
    "Candidate", "Encoder", "EntityResolver", "Mention", "Quantity", "SlotExtractor",
    "SlotsError", "parse_number", "parse_quantities", "to_json_value",
]


class SlotsError(HearthError, ValueError):
    """A slot could not be parsed or resolved as asked."""


class Encoder(Protocol):
    """What entity resolution needs from a sentence encoder (MiniLM, a static model …)."""

    def encode(self, texts: Sequence[str]) -> Any:
        """One vector a text (a 2-D array-like)."""


# ============================================================================================
# Quantities
# ============================================================================================

_TOKEN = re.compile(r"\d{1,2}:\d{2}|\d+/\d+|\d+(?:\.\d+)?|[^\W\d_]+|%|°")

UNITS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
UNITS["oh"] = 0
TENS = {w: 10 * n for n, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty "
                                        "ninety".split()) if n >= 2}
ORDINALS = {w: n for n, w in enumerate(
    "_ first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth".split())
    if n >= 1}
ORDINALS.update({"twentieth": 20, "thirtieth": 30})
_ORD_SUFFIX = {"st", "nd", "rd", "th"}
MONTHS = {m: n for n, m in enumerate(
    "_ january february march april may june july august september october november "
    "december".split()) if n}
MONTHS.update({m[:3]: n for m, n in list(MONTHS.items())})
MONTHS["sept"] = 9
MONTHS.pop("may", None)
MONTHS["may"] = 5
WEEKDAYS = {d: n for n, d in enumerate(
    "monday tuesday wednesday thursday friday saturday sunday".split())}
WEEKDAYS.update({"mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3, "thur": 3, "thurs": 3,
                 "fri": 4, "sat": 5, "sun": 6})
DAY_PARTS = {"morning": "morning", "afternoon": "afternoon", "evening": "evening",
             "night": "night", "tonight": "night"}
DURATION_UNITS = {
    "second": 1, "seconds": 1, "sec": 1, "secs": 1,
    "minute": 60, "minutes": 60, "min": 60, "mins": 60,
    "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600,
    "day": 86400, "days": 86400, "week": 604800, "weeks": 604800,
}
_FRACTIONS = {"half": 0.5, "quarter": 0.25, "third": 1 / 3}
_TIME_PREPS = {"at", "by", "around", "about", "after", "before", "until", "till", "from"}
_DATE_PREPS = {"on", "for", "by", "until", "till", "from", "since"}
# words after a bare number that make it something other than a clock time
_NOT_CLOCK = set(DURATION_UNITS) | {"percent", "per", "%", "degrees", "degree", "°", "people",
                                    "persons", "tickets", "seats", "of", "times", "pc"}


@dataclass(frozen=True)
class Quantity:
    """A number, percentage, temperature, duration, time or date found in a text.

    ``value``: int/float (NUMBER, PERCENT), ``{"value", "unit"}`` (TEMPERATURE), timedelta
    (DURATION), datetime (TIME, resolved against ``now``), date or (first, last) dates (DATE).
    ``attrs`` keeps the details (meridiem given or guessed, part of day, relative offset …)."""

    label: str
    value: Any
    start: int
    end: int
    text: str
    attrs: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class _Tok:
    text: str  # lower case
    start: int
    end: int


def _tokens(text: str) -> list[_Tok]:
    return [_Tok(m.group(0).lower(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def _word(toks: list[_Tok], i: int) -> str:
    return toks[i].text if 0 <= i < len(toks) else ""


def _num_token(t: str) -> float | None:
    if "/" in t:
        a, b = t.split("/")
        return int(a) / int(b) if int(b) else None
    try:
        return int(t) if t.isdigit() else float(t)
    except ValueError:
        return None


def _int_words(toks: list[_Tok], i: int) -> tuple[int, int] | None:
    """A number written in words ("twenty one", "a hundred and five") starting at i."""
    total = current = 0
    prev = None
    j = i
    while j < len(toks):
        w = toks[j].text
        if w in UNITS and w != "oh" and (prev in (None, "scale", "and")
                                         or (prev == "tens" and UNITS[w] < 10)):
            current += UNITS[w]
            prev = "unit"
        elif w in TENS and prev in (None, "scale", "and"):
            current += TENS[w]
            prev = "tens"
        elif w == "hundred" and prev in ("unit", "a"):
            current = (current or 1) * 100
            prev = "scale"
        elif w == "thousand" and prev in ("unit", "tens", "scale", "a"):
            total += (current or 1) * 1000
            current = 0
            prev = "scale"
        elif w == "and" and prev == "scale" and _word(toks, j + 1) in {**UNITS, **TENS}:
            prev = "and"
        elif w in ("a", "one") and prev is None and _word(toks, j + 1) in ("hundred", "thousand"):
            current = 1
            prev = "a"
        else:
            break
        j += 1
    if prev in (None, "a", "and"):
        return None
    return total + current, j


def parse_number(toks: list[_Tok], i: int) -> tuple[float, int] | None:
    """A number at token i (digits, a fraction, words, "N and a half"); (value, next index)."""
    w = _word(toks, i)
    if w in ("minus", "negative") and i + 1 < len(toks):
        got = parse_number(toks, i + 1)
        return (-got[0], got[1]) if got else None
    value = _num_token(w) if w[:1].isdigit() else None
    if value is not None:
        j = i + 1
    else:
        words = _int_words(toks, i)
        if words is None:
            return None
        value, j = words
        if _word(toks, j) == "point" and _word(toks, j + 1) in UNITS:
            digits = []
            k = j + 1
            while _word(toks, k) in UNITS:
                digits.append(str(UNITS[_word(toks, k)]))
                k += 1
            value = float(f"{value}.{''.join(digits)}")
            j = k
    # "5 and a half", "one and a 1/2", "2 and a quarter"
    if _word(toks, j) == "and" and _word(toks, j + 1) in ("a", "an", "one"):
        frac_word = _word(toks, j + 2)
        frac = _FRACTIONS.get(frac_word)
        if frac is None and "/" in frac_word:
            frac = _num_token(frac_word)
        if frac is not None and frac < 1:
            value = value + frac
            j += 3
    return value, j


def _clean(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 4)


def _amount(toks: list[_Tok], i: int) -> tuple[float, int] | None:
    """How many of a unit: "half an", "a quarter of an", "an", "a couple of", "3", "1/2 a"."""
    w = _word(toks, i)
    nxt = _word(toks, i + 1)
    if w == "half" and nxt in ("a", "an"):
        return 0.5, i + 2
    if w in ("a", "an") and nxt == "half" and _word(toks, i + 2) in DURATION_UNITS:
        return 0.5, i + 2
    if w in ("a", "one") and nxt == "quarter":
        k = i + 2
    elif w == "quarter":
        k = i + 1
    elif w == "three" and nxt == "quarters":
        k = i + 2
    else:
        k = None
    if k is not None:
        value = 0.75 if w == "three" else 0.25
        if _word(toks, k) == "of":
            k += 1
        if _word(toks, k) in ("a", "an"):
            k += 1
        return value, k
    if w in ("a", "an"):
        if nxt == "couple" and _word(toks, i + 2) == "of":
            return 2, i + 3
        if nxt == "few":
            return 3, i + 2
        return 1, i + 1
    got = parse_number(toks, i)
    if got is None:
        return None
    value, j = got
    if value < 1 and _word(toks, j) in ("a", "an"):
        j += 1
    return value, j


def _duration(toks: list[_Tok], i: int) -> tuple[dt.timedelta, int] | None:
    seconds = 0.0
    j = i
    found = False
    while True:
        got = _amount(toks, j)
        if got is None:
            break
        amount, k = got
        unit = DURATION_UNITS.get(_word(toks, k))
        if unit is None:
            break
        seconds += amount * unit
        found = True
        j = k + 1
        if _word(toks, j) == "and" and _word(toks, j + 1) in ("a", "an") \
                and _word(toks, j + 2) in ("half", "quarter"):
            seconds += _FRACTIONS[_word(toks, j + 2)] * unit
            j += 3
        if _word(toks, j) == "and":
            nxt = _amount(toks, j + 1)
            if nxt is not None and _word(toks, nxt[1]) in DURATION_UNITS:
                j += 1
    if not found:
        return None
    return dt.timedelta(seconds=round(seconds)), j


def _meridiem(toks: list[_Tok], j: int) -> tuple[str | None, int]:
    w = _word(toks, j)
    if w in ("am", "pm"):
        return w, j + 1
    if w in ("a", "p") and _word(toks, j + 1) == "m":
        return w + "m", j + 2
    if w == "o" and _word(toks, j + 1) == "clock":
        return None, j + 2
    return None, j


def _clock(toks: list[_Tok], i: int) -> tuple[dict, int] | None:
    """A clock time at token i: {"hour", "minute", "meridiem"} and the next index."""
    w = _word(toks, i)
    if w in ("noon", "midday"):
        return {"hour": 12, "minute": 0, "meridiem": "pm"}, i + 1
    if w == "midnight":
        return {"hour": 0, "minute": 0, "meridiem": "am"}, i + 1
    # half past six, quarter to eight, ten past nine, 20 to 5
    offset = None
    k = i
    if w == "half" and _word(toks, i + 1) == "past":
        offset, k = 30, i + 1
    elif w == "quarter" or (w == "a" and _word(toks, i + 1) == "quarter"):
        k = i + 1 if w == "quarter" else i + 2
        if _word(toks, k) in ("past", "after", "to", "before"):
            offset = 15 if _word(toks, k) in ("past", "after") else -15
    else:
        got = parse_number(toks, i)
        if got is not None and float(got[0]).is_integer() and 0 < got[0] < 60:
            k = got[1] + (1 if _word(toks, got[1]) in ("minutes", "minute") else 0)
            if _word(toks, k) in ("past", "after", "to", "before") and \
                    parse_number(toks, k + 1) is not None:
                offset = int(got[0]) if _word(toks, k) in ("past", "after") else -int(got[0])
    if offset is not None and _word(toks, k) in ("past", "after", "to", "before"):
        got = parse_number(toks, k + 1)
        if got is None or not float(got[0]).is_integer() or not 0 <= got[0] <= 23:
            return None
        hour = int(got[0])
        minute = offset if offset >= 0 else 60 + offset
        if offset < 0:
            hour = (hour - 1) % 24
        mer, j = _meridiem(toks, got[1])
        return {"hour": hour, "minute": minute, "meridiem": mer}, j
    if ":" in w:
        h, m = (int(x) for x in w.split(":"))
        if h > 23 or m > 59:
            return None
        mer, j = _meridiem(toks, i + 1)
        return {"hour": h, "minute": m, "meridiem": mer}, j
    got = parse_number(toks, i)
    if got is None or not float(got[0]).is_integer() or not 0 <= got[0] <= 24:
        return None
    hour, j = int(got[0]), got[1]
    minute = 0
    # "seven thirty", "7 45 pm": minutes in words or digits right after the hour
    mins = parse_number(toks, j)
    if mins is not None and float(mins[0]).is_integer() and 0 <= mins[0] < 60 and \
            _meridiem(toks, mins[1])[0] is not None:
        minute, j = int(mins[0]), mins[1]
    mer, k = _meridiem(toks, j)
    explicit = k > j
    return {"hour": hour, "minute": minute, "meridiem": mer, "explicit": explicit}, k


def _time(toks: list[_Tok], i: int, now: dt.datetime) -> tuple[dict, int] | None:
    w = _word(toks, i)
    prep = w if w in _TIME_PREPS else None
    k = i + 1 if prep else i
    if w == "in" or (w in ("within", "after") and _duration(toks, i + 1)):
        got = _duration(toks, i + 1)
        if got is None:
            return None
        delta, j = got
        return {"relative": delta, "prep": w}, j
    got = _clock(toks, k)
    if got is None:
        return None
    clock, j = got
    bare = not clock.pop("explicit", True) and clock.get("meridiem") is None \
        and ":" not in _word(toks, k) and _word(toks, k) not in ("noon", "midday", "midnight",
                                                                  "half", "quarter", "a")
    if bare and (prep is None or _word(toks, j) in _NOT_CLOCK):
        return None  # a bare number is a time only after "at", "by" …
    # "in the morning", "in the evening", "tonight" right after
    part = None
    if _word(toks, j) == "in" and _word(toks, j + 1) == "the" and _word(toks, j + 2) in DAY_PARTS:
        part = DAY_PARTS[_word(toks, j + 2)]
        j += 3
    clock["part"] = part
    clock["prep"] = prep
    return clock, j


def _next_weekday(today: dt.date, weekday: int, *, strictly_after: bool) -> dt.date:
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and strictly_after:
        ahead = 7
    return today + dt.timedelta(days=ahead)


def _date(toks: list[_Tok], i: int, now: dt.datetime) -> tuple[Any, int, dict] | None:
    today = now.date()
    w = _word(toks, i)
    k = i + 1 if w in _DATE_PREPS else i
    attrs: dict = {}
    w = _word(toks, k)
    if w == "every":
        attrs["recurring"] = True
        k += 1
        w = _word(toks, k)
        if w == "day":
            return today, k + 1, attrs
        if w in DAY_PARTS:
            attrs["part"] = DAY_PARTS[w]
            return today, k + 1, attrs
    mod = None
    if (w in ("this", "next", "last", "coming") and _word(toks, k + 1) in (
            *WEEKDAYS, "weekend", "week", "morning", "afternoon", "evening", "night", "day")) \
            or (w == "the" and _word(toks, k + 1) in ("weekend", "day")):
        mod = w
        k += 1
        w = _word(toks, k)

    def with_part(day: dt.date, j: int) -> tuple[Any, int, dict]:
        if _word(toks, j) in DAY_PARTS:
            attrs["part"] = DAY_PARTS[_word(toks, j)]
            j += 1
        return day, j, attrs

    if w == "day" and mod == "the" and _word(toks, k + 1) == "after" and \
            _word(toks, k + 2) == "tomorrow":
        return with_part(today + dt.timedelta(days=2), k + 3)
    if w == "today":
        return with_part(today, k + 1)
    if w == "tonight":
        attrs["part"] = "night"
        return today, k + 1, attrs
    if w == "tomorrow":
        return with_part(today + dt.timedelta(days=1), k + 1)
    if w == "yesterday":
        return with_part(today - dt.timedelta(days=1), k + 1)
    if w == "day" and _word(toks, k + 1) == "after" and _word(toks, k + 2) == "tomorrow":
        return with_part(today + dt.timedelta(days=2), k + 3)
    if w in ("morning", "afternoon", "evening", "night") and mod in ("this", None) and \
            (mod or _word(toks, k - 1) == "tonight"):
        attrs["part"] = DAY_PARTS[w]
        return today, k + 1, attrs
    if w == "weekend" and mod is not None:
        sat = _next_weekday(today, 5, strictly_after=False)
        if today.weekday() == 6:
            sat = today - dt.timedelta(days=1)
        if mod == "next" and today.weekday() >= 4:
            sat += dt.timedelta(days=7)
        if mod == "last":
            sat -= dt.timedelta(days=7)
        return (max(sat, today) if mod != "last" else sat, sat + dt.timedelta(days=1)), k + 1, \
            attrs
    if w == "week" and mod in ("this", "next", "last", "coming"):
        monday = today - dt.timedelta(days=today.weekday())
        shift = {"next": 7, "last": -7}.get(mod, 0)
        first = monday + dt.timedelta(days=shift)
        return (max(first, today) if mod in ("this", "coming") else first,
                first + dt.timedelta(days=6)), k + 1, attrs
    # a weekday's full name is a date; "sat", "sun" only after "on", "next" … ("I sat down")
    if w in WEEKDAYS and (mod is not None or k > i or len(w) > 4 or w == "monday"):
        day = _next_weekday(today, WEEKDAYS[w], strictly_after=(mod == "next"))
        if mod == "last":
            day = day - dt.timedelta(days=7)
        return with_part(day, k + 1)
    # "the 14th", "the first" [of June], "June 3rd", "3 June", "3rd of June"
    j = k + 1 if w == "the" else k
    day_num, j2 = _ordinal(toks, j)
    if day_num is not None:
        month = None
        if _word(toks, j2) == "of" and _word(toks, j2 + 1) in MONTHS:
            month, j2 = MONTHS[_word(toks, j2 + 1)], j2 + 2
        elif _word(toks, j2) in MONTHS:
            month, j2 = MONTHS[_word(toks, j2)], j2 + 1
        elif not (k > i or w == "the") or toks[j].text.isdigit() and \
                _word(toks, j + 1) not in _ORD_SUFFIX:
            return None  # a bare number is no date
        day = _day_of(today, day_num, month)
        return (day, j2, attrs) if day else None
    if w in MONTHS and w not in ("mar", "sun", "sat", "wed"):
        day_num, j2 = _ordinal(toks, k + 1, allow_cardinal=True)
        if day_num is not None:
            day = _day_of(today, day_num, MONTHS[w])
            return (day, j2, attrs) if day else None
    return None


def _ordinal(toks: list[_Tok], j: int, *, allow_cardinal: bool = False) -> tuple[int | None, int]:
    w = _word(toks, j)
    if w.isdigit() and 1 <= int(w) <= 31:
        if _word(toks, j + 1) in _ORD_SUFFIX:
            return int(w), j + 2
        return int(w), j + 1
    if w in TENS and _word(toks, j + 1) in ORDINALS and ORDINALS[_word(toks, j + 1)] < 10:
        return TENS[w] + ORDINALS[_word(toks, j + 1)], j + 2
    if w in ORDINALS:
        return ORDINALS[w], j + 1
    if allow_cardinal:
        got = _int_words(toks, j)
        if got and 1 <= got[0] <= 31:
            return got
    return None, j


def _day_of(today: dt.date, day: int, month: int | None) -> dt.date | None:
    """The next date (from today) with this day of the month (and month)."""
    for add in range(0, 14):
        y, m = today.year, today.month
        if month is None:
            m = (today.month - 1 + add) % 12 + 1
            y = today.year + (today.month - 1 + add) // 12
        else:
            m = month
            y = today.year + add
        try:
            candidate = dt.date(y, m, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def _resolve_time(clock: dict, now: dt.datetime, day: dt.date | None,
                  part: str | None) -> tuple[dt.datetime, dict]:
    """A clock time as a datetime: the given day, or the next time it comes round."""
    attrs = {"meridiem": clock.get("meridiem") or "guessed"}
    part = clock.get("part") or part
    hour, minute = clock["hour"], clock["minute"]
    mer = clock.get("meridiem")
    if mer == "pm" and hour < 12:
        hour += 12
    elif mer == "am" and hour == 12:
        hour = 0
    if part:
        attrs["part"] = part
    tz = now.tzinfo
    if mer is None and hour <= 12:
        options = sorted({hour % 24, (hour + 12) % 24}) if hour != 12 else [12]
        if part in ("afternoon", "evening", "night"):
            options = [max(options)]
        elif part == "morning":
            options = [min(options)]
        if day is not None:
            pick = options[-1] if (len(options) > 1 and 1 <= clock["hour"] <= 6) else options[0]
            return dt.datetime.combine(day, dt.time(pick, minute), tz), attrs
        for d in (0, 1):
            for h in options:
                candidate = dt.datetime.combine(now.date() + dt.timedelta(days=d),
                                                dt.time(h, minute), tz)
                if candidate >= now:
                    return candidate, attrs
    hour %= 24
    base = day or now.date()
    candidate = dt.datetime.combine(base, dt.time(hour, minute), tz)
    if day is None and candidate < now:
        candidate += dt.timedelta(days=1)
    return candidate, attrs


def _temperature(toks: list[_Tok], i: int) -> tuple[dict, int] | None:
    got = parse_number(toks, i)
    if got is None:
        return None
    value, j = got
    w = _word(toks, j)
    unit = None
    if w in ("degrees", "degree", "°", "deg"):
        j += 1
        w = _word(toks, j)
        if w in ("celsius", "centigrade", "c"):
            unit, j = "°C", j + 1
        elif w in ("fahrenheit", "f"):
            unit, j = "°F", j + 1
        elif w == "°":
            j += 1
    elif w in ("celsius", "centigrade"):
        unit, j = "°C", j + 1
    elif w == "fahrenheit":
        unit, j = "°F", j + 1
    else:
        return None
    return {"value": _clean(value), "unit": unit}, j


def _percent(toks: list[_Tok], i: int) -> tuple[float, int, dict] | None:
    got = parse_number(toks, i)
    if got is not None:
        value, j = got
        w = _word(toks, j)
        if w in ("percent", "%", "pc"):
            return value, j + 1, {}
        if w == "per" and _word(toks, j + 1) == "cent":
            return value, j + 2, {}
    # fractions of the way: "half", "a third", "three quarters"
    w, nxt = _word(toks, i), _word(toks, i + 1)
    if w in ("a", "one") and nxt in ("half", "third", "quarter"):
        return round(100 * _FRACTIONS[nxt], 1), i + 2, {"approximate": True}
    if w == "half":
        return 50, i + 1, {"approximate": True}
    if w == "two" and nxt == "thirds":
        return 66.7, i + 2, {"approximate": True}
    if w == "three" and nxt == "quarters":
        return 75, i + 2, {"approximate": True}
    return None


_PRIORITY = {"TIME": 0, "DATE": 1, "DURATION": 2, "TEMPERATURE": 3, "PERCENT": 4, "NUMBER": 5}


def parse_quantities(text: str, *, now: dt.datetime | None = None) -> list[Quantity]:
    """The numbers, percentages, temperatures, durations, times and dates in ``text``, left to
    right, each the longest reading at its position; times and dates are resolved against
    ``now`` (an aware datetime; default: the current time in UTC).

    >>> now = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.timezone.utc)  # a Wednesday
    >>> [(q.label, str(q.value)) for q in parse_quantities("tomorrow at half past six", now=now)]
    [('TIME', '2026-11-26 18:30:00+00:00')]
    >>> [(q.label, q.value) for q in parse_quantities("make it 21 degrees for two people")]
    [('TEMPERATURE', {'value': 21, 'unit': None}), ('NUMBER', 2)]
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        raise SlotsError("parse_quantities needs an aware datetime for 'now' (with a time zone)")
    toks = _tokens(text)
    found: list[tuple[str, Any, int, int, dict]] = []
    i = 0
    while i < len(toks):
        options: list[tuple[str, Any, int, dict]] = []
        got_time = _time(toks, i, now)
        if got_time:
            options.append(("TIME", got_time[0], got_time[1], {}))
        got_date = _date(toks, i, now)
        if got_date:
            options.append(("DATE", got_date[0], got_date[1], got_date[2]))
        got_dur = _duration(toks, i)
        if got_dur:
            options.append(("DURATION", got_dur[0], got_dur[1], {}))
        got_temp = _temperature(toks, i)
        if got_temp:
            options.append(("TEMPERATURE", got_temp[0], got_temp[1], {}))
        got_pct = _percent(toks, i)
        if got_pct:
            options.append(("PERCENT", _clean(got_pct[0]), got_pct[1], got_pct[2]))
        got_num = parse_number(toks, i)
        if got_num:
            options.append(("NUMBER", _clean(got_num[0]), got_num[1], {}))
        if not options:
            i += 1
            continue
        label, value, j, attrs = max(options, key=lambda o: (o[2], -_PRIORITY[o[0]]))
        found.append((label, value, i, j, attrs))
        i = j
    # a date next to a time is one moment: "tomorrow at 9", "at 6 pm on Friday"
    merged: list[tuple[str, Any, int, int, dict]] = []
    for item in found:
        if merged and merged[-1][3] == item[2] and {merged[-1][0], item[0]} == {"DATE", "TIME"} \
                and "relative" not in (merged[-1][1] if merged[-1][0] == "TIME" else item[1]) \
                and not isinstance((merged[-1] if merged[-1][0] == "DATE" else item)[1], tuple):
            date_item = merged[-1] if merged[-1][0] == "DATE" else item
            time_item = item if date_item is merged[-1] else merged[-1]
            merged[-1] = ("TIME", dict(time_item[1], day=date_item[1],
                                       part=time_item[1].get("part") or date_item[4].get("part")),
                          merged[-1][2], item[3], {})
        else:
            merged.append(item)
    out = []
    for label, value, i, j, attrs in merged:
        start, end = toks[i].start, toks[j - 1].end
        if label == "TIME":
            clock = value
            if "relative" in clock:
                value = now + clock["relative"]
                attrs = {"relative": clock["relative"]}
            else:
                value, attrs = _resolve_time(clock, now, clock.get("day"), clock.get("part"))
                if clock.get("prep"):
                    attrs["prep"] = clock["prep"]
        out.append(Quantity(label, value, start, end, text[start:end], attrs))
    return out


def to_json_value(value: Any) -> Any:
    """A slot value as JSON: timedelta → ISO 8601 duration, datetime/date → ISO 8601."""
    if isinstance(value, dt.timedelta):
        seconds = int(value.total_seconds())
        h, rest = divmod(seconds, 3600)
        m, s = divmod(rest, 60)
        return "PT" + (f"{h}H" if h else "") + (f"{m}M" if m else "") + \
            (f"{s}S" if s or not (h or m) else "")
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ============================================================================================
# Gazetteers from the graph (spaCy)
# ============================================================================================

@dataclass(frozen=True)
class Mention:
    """A span of the utterance with what it is: a gazetteer label (DEVICE, AREA, FLOOR, PERSON,
    MEDIA, DEVICE_TYPE) with the graph nodes it may name, or a quantity label with its value."""

    label: str
    text: str
    start: int
    end: int
    value: Any = None
    nodes: tuple[str, ...] = ()
    attrs: dict = field(default_factory=dict, compare=False)


_GAZETTEER_LABELS = ("DEVICE", "AREA", "FLOOR", "PERSON", "MEDIA", "DEVICE_TYPE")
_QUANTITY_LABELS = tuple(_PRIORITY)


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", text.casefold()))


def _plural_forms(word: str) -> list[str]:
    forms = {word, word + "s"}
    if word.endswith(("s", "x", "ch", "sh")):
        forms.add(word + "es")
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        forms.add(word[:-1] + "ies")
    return sorted(forms)


@dataclass
class _Gazetteer:
    """What the graph names: normalized name → nodes, per label; device records."""

    fingerprint: int
    names: dict[str, dict[str, list[str]]]
    devices: dict[str, dict]  # iri → record
    classes: dict[str, set[str]]  # device class IRI → it and its superclasses
    type_words: dict[str, dict]  # normalized word → {"class": iri, "kind": iri|None}
    areas: dict[str, dict]  # iri → {"id", "name"}


_DEVICE_CLASS_QUERY = """
SELECT ?class ?super WHERE {
  ?class rdfs:subClassOf* hearth:Device . ?class rdfs:subClassOf* ?super .
  FILTER(STRSTARTS(STR(?super), "https://w3id.org/hearth#")) }"""
_TYPE_WORD_QUERY = """
SELECT ?word ?class ?kind WHERE {
  { ?class rdfs:subClassOf* hearth:Device . ?class rdfs:label|skos:altLabel ?word .
    FILTER(STRSTARTS(STR(?class), "https://w3id.org/hearth#")) }
  UNION
  { ?kind a hearth:ObjectKind ; hearth:deviceType ?class ; rdfs:label|skos:altLabel ?word } }"""
_MEDIA_QUERY = """
SELECT DISTINCT ?title ?item WHERE { ?item a hearth:MediaItem ; rdfs:label ?title }"""
_MEDIA_ATTRIBUTES = ("media_title", "media_artist", "media_album_name", "media_series_title",
                     "source")

# The ontology's words for kinds of device change only with the shipped files: read once.
_ONTOLOGY_CACHE: dict[str, tuple] = {}


def _ontology_tables(home) -> tuple[dict[str, set[str]], dict[str, dict]]:
    key = "tables"
    if key in _ONTOLOGY_CACHE:
        return _ONTOLOGY_CACHE[key]
    classes: dict[str, set[str]] = {}
    for row in home.query(_DEVICE_CLASS_QUERY):
        classes.setdefault(row["class"].value, set()).add(row["super"].value)
    words: dict[str, dict] = {}
    for row in home.query(_TYPE_WORD_QUERY):
        word = _norm(row["word"].value)
        if not word or len(word) < 2:
            continue
        entry = {"class": row["class"].value,
                 "kind": row["kind"].value if row.get("kind") is not None else None}
        old = words.get(word)
        # prefer the most specific class, and an object kind over a bare class
        if old is None or (entry["kind"] and not old["kind"]) or \
                len(classes.get(entry["class"], ())) > len(classes.get(old["class"], ())):
            words[word] = entry
    if classes:
        _ONTOLOGY_CACHE[key] = (classes, words)
    return classes, words


def _build_gazetteer(home, fingerprint: int) -> _Gazetteer:
    from kg.events import DEVICE_KINDS
    from .ha_intents import _expand
    state, ids = home.state, home.ids
    classes, type_words = _ontology_tables(home)
    names: dict[str, dict[str, list[str]]] = {label: {} for label in _GAZETTEER_LABELS}
    devices: dict[str, dict] = {}
    areas = {ids.area(a.id).value: {"id": a.id, "name": a.name} for a in state.areas.values()}
    for d in state.devices.values():
        iri = ids.device(d.id).value
        cls = DEVICE_KINDS.get(d.kind or "device", DEVICE_KINDS["device"]).value
        variants = _expand(d.name)
        area = state.areas.get(d.area) if d.area else None
        kinds = {entry["kind"] for word, entry in type_words.items() if entry["kind"]
                 and f" {word} " in f" {_norm(d.name)} "
                 and entry["class"] in classes.get(cls, {cls})}
        devices[iri] = {"iri": iri, "id": d.id, "name": variants[0], "variants": variants,
                        "kind": d.kind, "class": cls, "classes": classes.get(cls, {cls}),
                        "object_kinds": kinds, "area": ids.area(d.area).value if d.area else None,
                        "area_name": area.name if area else None}
        for v in variants:
            names["DEVICE"].setdefault(_norm(v), []).append(iri)
    for a in state.areas.values():
        for v in _expand(a.name):
            names["AREA"].setdefault(_norm(v), []).append(ids.area(a.id).value)
    for f in state.floors.values():
        for v in _expand(f.name):
            names["FLOOR"].setdefault(_norm(v), []).append(ids.floor(f.id).value)
    for p in state.people.values():
        for v in _expand(p.name):
            names["PERSON"].setdefault(_norm(v), []).append(ids.person(p.id).value)
    for (device, attribute), sv in state.device_states.items():
        if attribute in _MEDIA_ATTRIBUTES and isinstance(sv.value, str) and sv.value.strip():
            names["MEDIA"].setdefault(_norm(sv.value), []).append(ids.device(device).value)
    try:
        for row in home.query(_MEDIA_QUERY):
            names["MEDIA"].setdefault(_norm(row["title"].value), []).append(row["item"].value)
    except HearthError:
        pass
    for word, entry in type_words.items():
        names["DEVICE_TYPE"].setdefault(word, []).append(entry["kind"] or entry["class"])
    return _Gazetteer(fingerprint, names, devices, classes, type_words, areas)


class SlotExtractor:
    """Finds what an utterance names and says, with spaCy gazetteers from one household.

    >>> from kg.household import Hearth
    >>> home = Hearth.in_memory().create_household("doc", time="2026-11-25T07:00:00Z")
    >>> _ = home.append({"type": "AreaAdded", "time": "2026-11-25T07:00:00Z",
    ...                  "area": "kitchen", "name": "Kitchen"})
    >>> ex = SlotExtractor(home)
    >>> [(m.label, m.text) for m in ex.extract("turn the lamps in the kitchen up to 80%")]
    [('DEVICE_TYPE', 'lamps'), ('AREA', 'kitchen'), ('PERCENT', '80%')]
    """

    def __init__(self, home):
        self._home = weakref.ref(home)
        self._nlp = None
        self._ruler = None
        self.gazetteer: _Gazetteer | None = None
        self.rebuilds = 0

    @property
    def home(self):
        home = self._home()
        if home is None:
            raise SlotsError("the household of this extractor was closed")
        return home

    def _pipeline(self):
        if self._nlp is None:
            import spacy
            nlp = spacy.blank("en")
            ruler = nlp.add_pipe("entity_ruler", config={"overwrite_ents": True,
                                                         "validate": False})
            nlp.initialize()
            self._nlp, self._ruler = nlp, ruler
        return self._nlp

    def refresh(self) -> _Gazetteer:
        """The gazetteer, rebuilt if the household's devices, areas, floors or people changed."""
        from .ha_intents import household_fingerprint
        home = self.home
        fp = household_fingerprint(home.state)
        media = tuple(sorted((d, str(sv.value)) for (d, a), sv in home.state.device_states.items()
                             if a in _MEDIA_ATTRIBUTES))
        fp = hash((fp, media))
        if self.gazetteer is not None and self.gazetteer.fingerprint == fp:
            return self.gazetteer
        gaz = _build_gazetteer(home, fp)
        nlp = self._pipeline()
        patterns = []
        owner: dict[str, str] = {}  # a name the household gives a thing beats a generic word
        for label in _GAZETTEER_LABELS:
            for name in gaz.names[label]:
                owner.setdefault(name, label)
        for label, table in gaz.names.items():
            for name in table:
                if owner[name] != label:
                    continue
                words = [t.text for t in nlp.tokenizer(name)]
                if not words:
                    continue
                pattern = [{"LOWER": w} for w in words[:-1]]
                last = words[-1]
                pattern.append({"LOWER": {"IN": _plural_forms(last)}} if last.isalpha()
                               else {"LOWER": last})
                patterns.append({"label": label, "pattern": pattern, "id": f"{label}|{name}"})
        self._ruler.clear()  # patterns are added after initialize(), which would wipe them
        self._ruler.add_patterns(patterns)
        self.gazetteer = gaz
        self.rebuilds += 1
        return gaz

    def extract(self, text: str, *, now: dt.datetime | None = None) -> list[Mention]:
        """Mentions in ``text``, left to right; overlapping ones resolved to the longest."""
        gaz = self.refresh()
        doc = self._nlp(text)
        spans = []
        for ent in doc.ents:
            key = ent.ent_id_.split("|", 1)[1] if "|" in ent.ent_id_ else _norm(ent.text)
            nodes = tuple(gaz.names.get(ent.label_, {}).get(key, ()))
            attrs = {}
            if ent.label_ != "DEVICE_TYPE" and key in gaz.names["DEVICE_TYPE"]:
                attrs["type_word"] = key  # a device called "Light" is also a light
            spans.append(Mention(ent.label_, ent.text, ent.start_char, ent.end_char, None,
                                 nodes, attrs))
        spans = [m for m in spans if not (m.label == "DEVICE_TYPE" and _is_verb(doc, m))]
        for q in parse_quantities(text, now=now):
            spans.append(Mention(q.label, q.text, q.start, q.end, q.value, (), dict(q.attrs)))
        return _longest_first(spans)


_DETERMINERS = {"the", "my", "our", "a", "an", "it", "that", "this", "them", "those", "these",
                "all", "everything", "every", "your"}
_PARTICLES = {"on", "off", "up", "out", "down"}


def _is_verb(doc, m: Mention) -> bool:
    """"switch the telly off", "lock the door", "light up the hall": a word for a kind of device
    used as the verb (before a determiner, or a particle when no determiner comes before it)."""
    span = doc.char_span(m.start, m.end)
    if span is None or len(span) != 1:
        return False
    nxt = doc[span.end].lower_ if span.end < len(doc) else ""
    prev = doc[span.start - 1].lower_ if span.start > 0 else ""
    return nxt in _DETERMINERS or (nxt in _PARTICLES and prev not in _DETERMINERS)


def _longest_first(spans: list[Mention]) -> list[Mention]:
    """Drops spans overlapping a longer one (a gazetteer name wins a tie: "PM2.5 sensor")."""
    order = sorted(spans, key=lambda m: (-(m.end - m.start), m.label in _QUANTITY_LABELS,
                                         m.start))
    kept: list[Mention] = []
    for m in order:
        if all(m.end <= k.start or m.start >= k.end for k in kept):
            kept.append(m)
    return sorted(kept, key=lambda m: m.start)


# ============================================================================================
# Entity resolution
# ============================================================================================

@dataclass(frozen=True)
class Candidate:
    """A graph node a mention may mean, with a score (0–1) and how it was found: ``exact``
    (its name), ``fuzzy`` (a name close in spelling), ``type+area`` (the kind of device and where
    it is), ``embedding`` (close in meaning), or several joined with '+'."""

    node: str
    id: str
    name: str
    score: float
    method: str

    def to_json(self) -> dict:
        return {"node": self.node, "id": self.id, "name": self.name,
                "score": round(self.score, 4), "method": self.method}


# how far each kind of evidence alone is trusted
_WEIGHTS = {"exact": 1.0, "fuzzy": 1.0, "type": 1.0, "area": 1.0, "embedding": 0.85}

_STOP = {"the", "a", "an", "my", "our", "your", "this", "that", "these", "those", "in", "on",
         "at", "of", "from", "by", "to", "all", "every", "please", "turn", "switch", "set", "it"}


class EntityResolver:
    """Resolves mentions to the household's devices, areas, floors and people.

    ``encoder``: optional, anything with ``encode(texts) -> 2-D array`` (MiniLM, a static
    model); the description of each device ("Kitchen Ceiling, a light in the Kitchen") is encoded
    once and kept until the device changes.
    """

    def __init__(self, home, *, encoder: Encoder | None = None,
                 extractor: SlotExtractor | None = None, min_score: float = 0.45):
        self.extractor = extractor or SlotExtractor(home)
        self.encoder = encoder
        self.min_score = min_score
        self._vectors: dict[str, np.ndarray] = {}

    def _encode(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            vecs = np.asarray(self.encoder.encode(missing), dtype=np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True) + 1e-12
            self._vectors.update(zip(missing, vecs))
        return np.stack([self._vectors[t] for t in texts])

    @staticmethod
    def describe(record: dict, gaz: _Gazetteer) -> str:
        cls_label = record["kind"] or "device"
        where = f" in the {record['area_name']}" if record["area_name"] else ""
        return f"{record['name']}, a {cls_label.replace('_', ' ')}{where}"

    def resolve(self, mention: str, *, kind: str = "device", area: str | None = None,
                device_types: Iterable[str] = (), limit: int = 5,
                mentions: Sequence[Mention] | None = None) -> list[Candidate]:
        """Ranked nodes ``mention`` may mean (best first, scores ≥ ``min_score``).

        ``kind``: "device", "area", "floor" or "person". ``area``: an area IRI the device must
        be in (e.g. from another slot). ``device_types``: hearth class names the device should be
        of (an intent's types, such as "Light"): others are scored down, not dropped.
        """
        gaz = self.extractor.refresh()
        if kind != "device":
            return self._resolve_name(mention, kind, gaz, limit)
        found = list(mentions) if mentions is not None else self.extractor.extract(mention)
        named = [m for m in found if m.label == "DEVICE"]
        types = [m for m in found if m.label == "DEVICE_TYPE"]
        areas = {n for m in found if m.label == "AREA" for n in m.nodes}
        if area:
            areas.add(area)
        wanted = {"https://w3id.org/hearth#" + t for t in device_types}
        words = " ".join(w for w in _norm(mention).split() if w not in _STOP)
        evidence: dict[str, dict[str, float]] = {}  # iri → method → score

        def bump(iri: str, score: float, method: str) -> None:
            methods = evidence.setdefault(iri, {})
            methods[method] = max(score, methods.get(method, 0.0))

        for m in named:
            for iri in m.nodes:
                bump(iri, 1.0, "exact")
        if words:
            from rapidfuzz import fuzz, process
            choices = {iri: _norm(r["name"]) for iri, r in gaz.devices.items()}
            for choice, score, iri in process.extract(words, choices, scorer=fuzz.token_set_ratio,
                                                      limit=20, score_cutoff=60):
                ratio = fuzz.ratio(words, choice) / 100
                bump(iri, 0.55 * score / 100 + 0.4 * ratio, "fuzzy")
        type_classes = set()
        type_kinds = set()
        type_words = [_norm(m.text) for m in types] + [m.attrs["type_word"] for m in named
                                                       if m.attrs.get("type_word")]
        for word in type_words:
            entry = gaz.type_words.get(word) or gaz.type_words.get(word.rstrip("s")) or \
                gaz.type_words.get(word[:-2] if word.endswith("es") else word)
            if entry is None:
                continue
            type_classes.add(entry["class"])
            if entry["kind"]:
                type_kinds.add(entry["kind"])
        if type_classes or areas:
            for iri, r in gaz.devices.items():
                type_ok = not type_classes or bool(r["classes"] & type_classes)
                kind_ok = not type_kinds or bool(r["object_kinds"] & type_kinds)
                area_ok = not areas or r["area"] in areas
                if not (type_ok and area_ok):
                    continue
                where = "+area" if areas else ""
                if type_classes:  # the kind of object ("oven") counts more than its class
                    bump(iri, 0.9 if type_kinds and kind_ok else 0.8 if not type_kinds
                         else 0.65, "type" + where)
                else:
                    bump(iri, 0.55, "area")  # somewhere in the area: weak on its own
        if self.encoder is not None and words and gaz.devices:
            iris = list(gaz.devices)
            vec = self._encode([mention])[0]
            mat = self._encode([self.describe(gaz.devices[i], gaz) for i in iris])
            sims = np.clip((mat @ vec - 0.15) / 0.7, 0.0, 1.0)
            for idx in np.argsort(-sims)[:limit]:
                bump(iris[idx], float(sims[idx]), "embedding")
            meaning = dict(zip(iris, sims.tolist()))
            for iri in evidence:  # a tie-breaker among the others
                bump(iri, meaning[iri], "embedding")
        out = []
        for iri, methods in evidence.items():
            r = gaz.devices[iri]
            # the strongest evidence, raised a little by the rest (a noisy-OR of the others)
            weighted = sorted(((_WEIGHTS.get(m.split("+")[0], 0.8) * v, m)
                               for m, v in methods.items()), reverse=True)
            score, method = weighted[0]
            rest = 1.0
            for v, _ in weighted[1:]:
                rest *= 1 - 0.25 * v
            score = score + (1 - score) * (1 - rest)
            used = [m for v, m in weighted if v >= 0.3]
            method = "+".join(dict.fromkeys(part for m in used for part in m.split("+")))
            if type_classes and not (r["classes"] & type_classes) and "exact" not in methods:
                score *= 0.5
            if "exact" in methods and type_classes and any(
                    m.attrs.get("type_word") for m in named if iri in m.nodes) and areas and \
                    r["area"] not in areas:
                score *= 0.5  # "the bedroom light" is a light in the bedroom, not "Light"
            if areas and r["area"] not in areas:
                score *= 0.4
            if wanted and not (r["classes"] & wanted):
                score *= 0.7
            score = round(min(1.0, score), 4)
            if score >= self.min_score:
                out.append(Candidate(iri, r["id"], r["name"], score, method or "embedding"))
        out.sort(key=lambda c: (-c.score, c.name))
        return out[:limit]

    def _resolve_name(self, mention: str, kind: str, gaz: _Gazetteer,
                      limit: int) -> list[Candidate]:
        label = {"area": "AREA", "floor": "FLOOR", "person": "PERSON"}.get(kind)
        if label is None:
            raise SlotsError(f"cannot resolve a {kind!r}: resolve a device, area, floor or "
                             "person")
        table = gaz.names[label]
        words = " ".join(w for w in _norm(mention).split() if w not in _STOP)
        out: dict[str, Candidate] = {}
        if words in table:
            for iri in table[words]:
                out[iri] = Candidate(iri, iri.rsplit(":", 1)[-1], words, 1.0, "exact")
        if words:
            from rapidfuzz import fuzz, process
            for choice, score, _ in process.extract(words, list(table), scorer=fuzz.WRatio,
                                                    limit=limit, score_cutoff=70):
                for iri in table[choice]:
                    if iri not in out:
                        out[iri] = Candidate(iri, iri.rsplit(":", 1)[-1], choice,
                                             score / 100 * 0.9, "fuzzy")
        ranked = sorted(out.values(), key=lambda c: (-c.score, c.name))
        return [c for c in ranked if c.score >= self.min_score][:limit]
