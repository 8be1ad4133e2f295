"""Hunches: routine anomalies, learned from the household's own history, offered to a person.

**The baseline.** For every device that is switched on and off (lights, switches, fans, the
television, media players), ``Baseline`` counts the minutes it spent in each state by time of
day (the parts of the day of commonsense.ttl: early morning, morning, … night) and by whether
anyone was home: ``P(on | device, part of day, anyone home)``. It is smoothed with a prior worth
two hours (a light is on 10% of the time at night or when nobody is home, 40% otherwise), so a
new household starts from common sense and its own habits take over as days pass. The episode
going on now is not counted until it ends (a light left on does not make itself usual).

**The hunch kinds** come from commonsense.ttl (``hearth:HunchKind``): each names its conditions
(signals that must hold together), its typical time, how long the conditions must have held
(``hearth:windowMinutes``), the action to offer and the sentence to say. The kinds whose
conditions are a device being on (a light, the television, a fan), nobody moving in its room
(its area's motion sensors have seen nobody for the window) or nobody being home are evaluated
here: cs:LightLeftOnInEmptyRoomAtNight, cs:LightsOnWhileNobodyHome, cs:TelevisionOnInEmptyRoom,
cs:FanOnWhileAway.

**The score** is ``1 - P(actual state)`` under the baseline, for the context now. When the
conditions hold and the score reaches the threshold (0.75 by default), a ``HunchRaised`` event
carries the device, the expected and actual state, the score, the sentence, the action to offer,
and its evidence (``derived_from``: the event that turned the device on, and the last motion or
departure that makes the room or home empty). A hunch is raised once per episode.

**Acting.** Where the household opted in (a ``FactsAsserted`` of ``<household> hearth:optsInTo
hearth:AutomaticHunches``, or of a single hunch kind such as cs:LightsOnWhileNobodyHome), the
component follows each hunch with a ``CommandIssued`` derived from it; otherwise it only offers.
"""

from __future__ import annotations

import datetime as dt
import statistics
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pyoxigraph import NamedNode

from kg import events as E
from kg.errors import EventError
from kg.events import f, register_event_type
from kg.household import Household
from kg.log import Appended
from kg.vocab import HEARTH, HEARTH_NS

from .patterns import withdraw_conclusions
from .pipeline import register_component
from .signals import CS, Knowledge, Step, Timeline

AGENT = "component:hunches"
HUNCH_RAISED = NamedNode(HEARTH_NS + "HunchRaised")
P_EXPECTED = NamedNode(HEARTH_NS + "expected")
P_ACTUAL = NamedNode(HEARTH_NS + "actual")
P_SCORE = NamedNode(HEARTH_NS + "score")
P_HUNCH_KIND = NamedNode(HEARTH_NS + "hunchKind")
OPTS_IN_TO = NamedNode(HEARTH_NS + "optsInTo")
HUNCH_ANSWERED = NamedNode(HEARTH_NS + "HunchAnswered")
P_HUNCH = NamedNode(HEARTH_NS + "hunch")
P_ACCEPTED = NamedNode(HEARTH_NS + "accepted")
AUTOMATIC_HUNCHES = NamedNode(HEARTH_NS + "AutomaticHunches")

# the kinds of device whose on/off habits are learned
TRACKED_KINDS = {"light", "switch", "fan", "tv", "media_player", "speaker", "appliance"}
ON_WORDS = {"on", "playing", "paused", "heat", "cool", "open", "cleaning"}
DEVICE_CONDITIONS = {CS + "LightTurnedOn", CS + "TelevisionTurnedOn", CS + "FanTurnedOn"}
ROOM_EMPTY = CS + "NoMotionInRoom"
NOBODY_HOME = CS + "NobodyHome"

__all__ = ["HunchRaised", "Baseline", "HunchesComponent", "opt_in"]


@register_event_type
@dataclass(frozen=True, kw_only=True)
class HunchRaised(E.Event):
    """A hunch about a device: it is ``actual`` where the household's habits say ``expected``;
    ``score`` (0–1) says how unusual that is, ``suggestion`` what to tell a person, ``action``
    the command to offer (or run, where the household opted in), ``kind`` the hunch kind."""

    device: str = f("device", HEARTH.device)
    expected: Any = f("value", P_EXPECTED)
    actual: Any = f("value", P_ACTUAL)
    score: float = f("number", P_SCORE)
    suggestion: str = f("text", HEARTH.text)
    action: str | None = f("text", HEARTH.command, required=False)
    kind: str | None = f("iri", P_HUNCH_KIND, required=False)
    since: dt.datetime | None = f("time", HEARTH.since, required=False)
    rdf_type: ClassVar = HUNCH_RAISED
    is_conclusion: ClassVar = True

    def default_by(self) -> str:
        return AGENT

    def check(self) -> None:
        if not 0 <= self.score <= 1:
            raise EventError("HunchRaised.score must be between 0 and 1", field="score")




@register_event_type
@dataclass(frozen=True, kw_only=True)
class HunchAnswered(E.Event):
    """A person's answer to a hunch: ``accepted`` ("yes, turn it off") or not ("no, leave it
    on"). The household's baseline learns from it: a rejection makes the device's state usual at
    that time of day, an acceptance makes it rarer (``Baseline.answered``)."""

    hunch: NamedNode = f("event", P_HUNCH)
    accepted: bool = f("value", P_ACCEPTED)
    rdf_type: ClassVar = HUNCH_ANSWERED

    def check(self) -> None:
        if not isinstance(self.accepted, bool):
            raise EventError("HunchAnswered.accepted must be true or false", field="accepted")


def answer_hunch(home: Household, hunch: int | NamedNode | Appended, accepted: bool, *,
                 by: str | None = None, time: dt.datetime | None = None) -> Appended:
    """Records a person's answer to a hunch (a ``HunchAnswered`` event)."""
    if isinstance(hunch, Appended):
        hunch = hunch.iri
    elif isinstance(hunch, int):
        hunch = home.ids.event(hunch)
    raised = home.event(home.ids.seq_of(hunch))
    if not isinstance(raised, HunchRaised):
        raise EventError(f"{hunch.value} is a {raised.type_name()}, not a HunchRaised: only a "
                         "hunch can be answered", field="hunch")
    return home.append(HunchAnswered(time=time or raised.time, by=by, hunch=hunch,
                                     accepted=accepted))


def is_on(value) -> bool:
    return str(value).lower() in ON_WORDS


# ---------------------------------------------------------------------------------------------
# The baseline


@dataclass
class Estimate:
    """P(on) for a device in a context, and what it rests on (for explanations)."""

    p_on: float
    minutes_on: float
    minutes: float
    prior_on: float

    @property
    def expected(self) -> str:
        return "on" if self.p_on >= 0.5 else "off"

    def describe(self) -> str:
        if self.minutes < 60:
            return (f"no habit learned yet for this time ({self.minutes:.0f} min seen); "
                    f"common sense says it is on {self.prior_on:.0%} of the time")
        return (f"on {self.minutes_on / self.minutes:.0%} of {self.minutes / 60:.1f} h seen at "
                "this time of day")


@dataclass
class Baseline:
    """Minutes in each state, by (device, part of day, anyone home); evening off times."""

    knowledge: Knowledge
    prior_weight: float = 120.0
    minutes: dict[tuple[str, str, bool], Counter] = field(default_factory=dict)
    off_times: dict[str, list[float]] = field(default_factory=dict)
    _open: dict[str, tuple[str, dt.datetime, bool]] = field(default_factory=dict)

    def prior_on(self, part: str | None, anyone_home: bool) -> float:
        return 0.1 if (part == CS + "Night" or not anyone_home) else 0.4

    def estimate(self, device: str, part: str | None, anyone_home: bool) -> Estimate:
        counts = self.minutes.get((device, part, anyone_home), Counter())
        on = sum(m for s, m in counts.items() if is_on(s))
        total = sum(counts.values())
        prior = self.prior_on(part, anyone_home)
        p = (on + self.prior_weight * prior) / (total + self.prior_weight)
        return Estimate(p, on, total, prior)

    def usual_off_time(self, device: str) -> dt.time | None:
        """The median clock time the device is switched off in the evening or night."""
        times = self.off_times.get(device, [])
        if len(times) < 2:
            return None
        m = statistics.median(times) % (24 * 60)
        return dt.time(int(m // 60), int(m % 60))

    # -- learning from events ----------------------------------------------------------------
    def answered(self, device: str, state: str, when: dt.datetime, anyone_home: bool,
                 accepted: bool) -> None:
        """A person's answer to a hunch about ``device`` being ``state``: rejected, that state
        counts as usual then (as many minutes of it as the baseline had seen of any state there,
        at least ``prior_weight``: one "no, leave it on" weighs as much as the habit so far);
        accepted, the other state gains ``prior_weight`` minutes."""
        part = self.knowledge.part_of_day(when.timetz().replace(tzinfo=None))
        counts = self.minutes.setdefault((device, part, anyone_home), Counter())
        if accepted:
            counts["off" if is_on(state) else "on"] += self.prior_weight
        else:
            counts[str(state).lower()] += max(self.prior_weight, sum(counts.values()))

    def state_changed(self, device: str, value, when: dt.datetime, anyone_home: bool) -> None:
        self._close(device, when)
        self._open[device] = (str(value).lower(), when, anyone_home)
        if not is_on(value) and (when.hour >= 18 or when.hour < 5):
            minutes = when.hour * 60 + when.minute + (24 * 60 if when.hour < 12 else 0)
            self.off_times.setdefault(device, []).append(minutes)

    def presence_changed(self, when: dt.datetime, anyone_home: bool) -> None:
        for device, (state, since, home) in list(self._open.items()):
            if home != anyone_home:
                self._close(device, when)
                self._open[device] = (state, when, anyone_home)

    def _close(self, device: str, until: dt.datetime) -> None:
        opened = self._open.pop(device, None)
        if opened is None:
            return
        state, since, anyone_home = opened
        t = since
        while t < until:  # split at the parts of the day
            local = t.timetz().replace(tzinfo=None)
            part = self.knowledge.part_of_day(local)
            end = self._part_end(t, part)
            chunk_end = min(until, end)
            key = (device, part, anyone_home)
            self.minutes.setdefault(key, Counter())[state] += (chunk_end - t).total_seconds() / 60
            t = chunk_end

    def _part_end(self, t: dt.datetime, part: str | None) -> dt.datetime:
        span = self.knowledge.times_of_day.get(part) if part else None
        if span is None:
            return t + dt.timedelta(hours=1)
        end = t.replace(hour=span[1].hour, minute=span[1].minute, second=0, microsecond=0)
        while end <= t:
            end += dt.timedelta(days=1)
        return end


# ---------------------------------------------------------------------------------------------
# The component


@dataclass
class _Household:
    timeline: Timeline
    baseline: Baseline
    raised: set[tuple] = field(default_factory=set)
    nobody_since: tuple[dt.datetime, NamedNode] | None = None


class HunchesComponent:
    """The ``hunches`` pipeline component (see the module docstring)."""

    name = "hunches"
    consumes: tuple = ()
    produces = (HunchRaised, E.CommandIssued, E.EventRetracted)

    def __init__(self, *, threshold: float = 0.75, prior_weight: float = 120.0):
        self.threshold = threshold
        self.prior_weight = prior_weight
        self._homes: "weakref.WeakKeyDictionary[Household, _Household]" = \
            weakref.WeakKeyDictionary()

    def process(self, home: Household, appended: Sequence[Appended]) -> list[E.Event]:
        batch = sorted(appended, key=lambda a: a.seq)
        if not batch:
            return []
        h = self._homes.get(home)
        if h is None:  # learn from the history, raise nothing about the past
            h = self._start(home, batch[0].seq)
        out: list[E.Event] = []
        for a in batch:
            if a.seq <= h.timeline.seq:
                continue
            for step in h.timeline.catch_up(a.seq):
                self._learn(h, step)
            if isinstance(a.event, HunchRaised):
                h.timeline.advance(a.seq, a.iri, a.event)
                out.extend(self._act(home, a))
                continue
            if isinstance(a.event, E.EventRetracted):
                out.extend(withdraw_conclusions(home, a.event.retracts, (HUNCH_RAISED,),
                                                by=AGENT, when=a.event.time))
                if home.event(home.ids.seq_of(a.event.retracts)).changes_state:
                    h = self._start(home, a.seq + 1, raised=h.raised)
                    continue
            step = h.timeline.advance(a.seq, a.iri, a.event)
            self._learn(h, step)
            out.extend(self._check(home, h, a.event.time))
        return out

    def _start(self, home: Household, before: int, raised: set | None = None) -> _Household:
        timeline = Timeline(home)
        h = _Household(timeline, Baseline(timeline.knowledge, self.prior_weight),
                       raised if raised is not None else set())
        past = timeline.history(before, recent=dt.timedelta(hours=1),
                                properties=("motion", "occupancy", "presence"))
        answers = home.log.seqs_of_types([HunchAnswered], end=before - 1)
        past = sorted(set(past) | {s for s in answers if s < before})
        for step in timeline.catch_up(before, only=past):
            self._learn(h, step)
        self._homes[home] = h
        return h

    def baseline(self, home: Household) -> Baseline | None:
        """What the component has learned of a household (None before it has met it)."""
        h = self._homes.get(home)
        return h.baseline if h else None

    def _learn(self, h: _Household, step: Step) -> None:
        ev = step.event
        state = h.timeline.state
        anyone = bool(state.who_is_home())
        if isinstance(ev, E.DeviceStateChanged) and ev.attribute == "state":
            d = state.devices.get(ev.device)
            if d is not None and d.kind in TRACKED_KINDS:
                h.baseline.state_changed(ev.device, ev.value, ev.time, anyone)
        elif isinstance(ev, HunchAnswered):
            raised = h.timeline.home.event(h.timeline.home.ids.seq_of(ev.hunch))
            h.baseline.answered(raised.device, str(raised.actual), raised.time, anyone,
                                ev.accepted)
        elif isinstance(ev, (E.PersonArrived, E.PersonLeft)):
            h.baseline.presence_changed(ev.time, anyone)
            if not anyone and h.nobody_since is None:
                h.nobody_since = (ev.time, step.iri)
            elif anyone:
                h.nobody_since = None

    # -- hunches -----------------------------------------------------------------------------
    def _check(self, home: Household, h: _Household, now: dt.datetime) -> list[E.Event]:
        tl = h.timeline
        k = tl.knowledge
        out = []
        state = tl.state
        anyone = bool(state.who_is_home())
        part = k.part_of_day(now.timetz().replace(tzinfo=None))
        for kind in k.hunch_kinds.values():
            device_conditions = [c for c in kind.conditions if c in DEVICE_CONDITIONS]
            others = [c for c in kind.conditions if c not in DEVICE_CONDITIONS]
            if len(device_conditions) != 1 or not set(others) <= {ROOM_EMPTY, NOBODY_HOME}:
                continue  # a kind this component does not evaluate
            if kind.times and part not in kind.times:
                continue
            window = dt.timedelta(minutes=kind.window_minutes)
            signal = k.signals[device_conditions[0]]
            for (device, attribute), sv in state.device_states.items():
                if attribute != "state" or not is_on(sv.value):
                    continue
                if (device, sv.event) in {(d, e) for _, d, e in h.raised}:
                    continue  # one hunch per episode
                cls = tl.device_class(device)
                if cls is None or not k.is_subclass(cls, signal.device_type or cls):
                    continue
                if now - sv.since < window:
                    continue
                evidence = [sv.event]
                facts: dict[str, object] = {}
                if ROOM_EMPTY in others:
                    empty = self._room_empty(tl, device, now, window, sv.since)
                    if empty is None:
                        continue
                    facts["idle_minutes"], last = empty
                    if last is not None:
                        evidence.append(last)
                if NOBODY_HOME in others:
                    if anyone or h.nobody_since is None or now - h.nobody_since[0] < window:
                        continue
                    facts["left_at"] = f"{h.nobody_since[0]:%H:%M}"
                    evidence.append(h.nobody_since[1])
                est = h.baseline.estimate(device, part, anyone)
                score = round(1 - est.p_on, 3)
                if score < self.threshold:
                    continue
                h.raised.add((kind.iri, device, sv.event))
                out.append(self._hunch(home, h, kind, device, sv, est, score, now, facts,
                                       evidence))
        return out

    def _room_empty(self, tl: Timeline, device: str, now: dt.datetime, window: dt.timedelta,
                    on_since: dt.datetime) -> tuple[int, NamedNode | None] | None:
        """(minutes nobody has moved in the device's area, the last motion event), or None if
        someone is there, or nobody can tell (no motion sensor in the area)."""
        area = tl.area_of(device)
        if area is None:
            return None
        sensors = [d for d in tl.state.devices.values()
                   if d.area == area and d.kind == "motion_sensor"]
        if not sensors or area in tl.person_area.values():
            return None
        m = tl.motion.get(area)
        if m is not None and m.detected:
            return None
        quiet_since = max(on_since, m.last_detected) if m and m.last_detected else on_since
        if now - quiet_since < window:
            return None
        return int((now - quiet_since).total_seconds() // 60), (m.last_event if m else None)

    def _hunch(self, home, h, kind, device, sv, est, score, now, facts, evidence) -> HunchRaised:
        tl = h.timeline
        k = tl.knowledge
        state = tl.state
        area = tl.area_of(device)
        usual = h.baseline.usual_off_time(device)
        if usual is None and kind.times:
            usual = k.times_of_day.get(kind.times[0], (None,))[0]
        values = {
            "device": state.name_of("device", device), "area": state.name_of("area", area)
            if area else "room", "since": f"{sv.since:%H:%M}", "time": f"{now:%H:%M}",
            "usual_time": f"{usual:%H:%M}" if usual else "this time",
            "minutes": int((now - sv.since).total_seconds() // 60), **facts}
        text = kind.template.format_map(_Blank(values)) if kind.template else \
            f"The {values['device']} is on; shall I turn it off?"
        return HunchRaised(time=now, device=device, expected=est.expected, actual=sv.value,
                           score=score, suggestion=text, action=kind.command, kind=kind.iri,
                           since=sv.since, derived_from=tuple(dict.fromkeys(evidence)))

    # -- acting where opted in -----------------------------------------------------------------
    def _act(self, home: Household, a: Appended) -> list[E.Event]:
        hunch = a.event
        if not hunch.action or not opted_in(home, hunch.kind):
            return []
        return [E.CommandIssued(time=hunch.time, by=AGENT, device=hunch.device,
                                command=hunch.action, derived_from=(a.iri,))]


class _Blank(dict):
    def __missing__(self, key):
        return "?"


def opted_in(home: Household, kind: str | None = None) -> bool:
    """Whether the household opted in to acting on hunches (all, or this kind), by a fact
    asserted in an event that is not retracted."""
    wanted = {AUTOMATIC_HUNCHES} | ({NamedNode(kind)} if kind else set())
    retracted = home.state.retracted
    for q in home.store.quads(home.ids.household, OPTS_IN_TO, None, None):
        if q.object in wanted and q.graph_name not in retracted and \
                q.graph_name.value.startswith(home.ids.base + "event:"):
            return True
    return False


def opt_in(home: Household, kind: str | None = None, *, time: dt.datetime | None = None,
           by: str | None = None):
    """Records that the household lets hunches act (all of them, or one kind) as an event."""
    target = f"<{kind}>" if kind else str(AUTOMATIC_HUNCHES)
    return home.append(E.FactsAsserted(
        time=time or dt.datetime.now(dt.timezone.utc), by=by,
        rdf=f"{home.ids.household} {OPTS_IN_TO} {target} .\n"))


@register_component("hunches")
def hunches_component(*, threshold: float = 0.75, prior_weight: float = 120.0
                      ) -> HunchesComponent:
    """The ``hunches`` component."""
    return HunchesComponent(threshold=threshold, prior_weight=prior_weight)


def describe_hunch(event: HunchRaised, state) -> str:
    return f"Hunch ({event.score:.2f}): {event.suggestion}"


# ---------------------------------------------------------------------------------------------
# Explaining a hunch's score (used by reasoner.explain; nothing above depends on it)


@dataclass
class HunchSituation:
    """What the decision to raise a hunch of ``kind`` about ``device`` rested on at ``time``,
    as the component saw it (its baseline learned from the log before that moment).

    ``quiet_minutes``: how long nobody had moved in the device's area (room kinds) or how long
    everyone had been out (nobody-home kinds), 0 when someone was there; None when the kind has
    no such condition. ``evidence`` maps each feature name to the events it was read from."""

    device: str
    device_name: str
    area_name: str
    kind: Any                      # signals.HunchKind
    kind_label: str
    time: dt.datetime
    part: str | None
    anyone_home: bool
    on_since: dt.datetime
    on_minutes: float
    quiet: str | None              # "room", "away" or None
    quiet_minutes: float | None
    quiet_since: dt.datetime | None
    baseline: Baseline
    knowledge: Knowledge
    threshold: float
    evidence: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def window(self) -> float:
        return float(self.kind.window_minutes)

    @property
    def estimate(self) -> Estimate:
        return self.baseline.estimate(self.device, self.part, self.anyone_home)

    @property
    def score(self) -> float:
        """The anomaly score, as ``HunchRaised.score`` records it."""
        return round(1 - self.estimate.p_on, 3)

    def decision(self, *, part: str | None = None, anyone_home: bool | None = None,
                 habit: bool = True, on_minutes: float | None = None,
                 quiet_minutes: float | None = None) -> float:
        """The anomaly score where every condition of the kind holds, else 0: what the
        component compares with its threshold. Arguments override the situation's values
        (``habit=False``: what common sense alone expects, no learned minutes)."""
        part = self.part if part is None else part
        anyone = self.anyone_home if anyone_home is None else anyone_home
        on = self.on_minutes if on_minutes is None else on_minutes
        quiet = self.quiet_minutes if quiet_minutes is None else quiet_minutes
        if self.kind.times and part not in self.kind.times:
            return 0.0
        if on < self.window:
            return 0.0
        if self.quiet == "room" and (quiet is None or quiet < self.window):
            return 0.0
        if self.quiet == "away" and (anyone or quiet is None or quiet < self.window):
            return 0.0
        if habit:
            p_on = self.baseline.estimate(self.device, part, anyone).p_on
        else:
            p_on = self.baseline.prior_on(part, anyone)
        return 1.0 - p_on

    def part_label(self, part: str | None) -> str:
        return self.knowledge.labels.get(part or "", "this time of day") if part else \
            "this time of day"


def hunch_situations(home: Household, *, before: int, device: str | None = None,
                     kind: str | None = None, threshold: float = 0.75,
                     prior_weight: float = 120.0) -> list[HunchSituation]:
    """Every (device that is on, hunch kind the component evaluates) pair just before event
    ``before``, with what the decision rests on, whether or not a hunch was raised: the
    candidates of a "why" and a "why not". Learns the baseline from the log as the component
    does when it meets a household."""
    comp = HunchesComponent(threshold=threshold, prior_weight=prior_weight)
    h = comp._start(home, before)
    tl, k = h.timeline, h.timeline.knowledge
    state = tl.state
    if before <= 1:
        return []
    now = home.event(before - 1).time
    anyone = bool(state.who_is_home())
    part = k.part_of_day(now.timetz().replace(tzinfo=None))
    out = []
    for hk in k.hunch_kinds.values():
        if kind is not None and hk.iri != kind:
            continue
        device_conditions = [c for c in hk.conditions if c in DEVICE_CONDITIONS]
        others = [c for c in hk.conditions if c not in DEVICE_CONDITIONS]
        if len(device_conditions) != 1 or not set(others) <= {ROOM_EMPTY, NOBODY_HOME}:
            continue
        signal = k.signals[device_conditions[0]]
        for (dev, attribute), sv in state.device_states.items():
            if attribute != "state" or not is_on(sv.value):
                continue
            if device is not None and dev != device:
                continue
            cls = tl.device_class(dev)
            if cls is None or not k.is_subclass(cls, signal.device_type or cls):
                continue
            evidence = {"on_for": (sv.event.value,)}
            quiet = quiet_minutes = quiet_since = None
            if ROOM_EMPTY in others:
                area = tl.area_of(dev)
                sensors = [d for d in state.devices.values()
                           if area is not None and d.area == area and d.kind == "motion_sensor"]
                if not sensors:
                    continue  # nobody can tell whether the room is empty: not a candidate
                quiet = "room"
                empty = comp._room_empty(tl, dev, now, dt.timedelta(0), sv.since)
                if empty is None:
                    quiet_minutes = 0.0
                else:
                    quiet_minutes = float(empty[0])
                    quiet_since = now - dt.timedelta(minutes=empty[0])
                    if empty[1] is not None:
                        evidence["quiet"] = (empty[1].value,)
            if NOBODY_HOME in others:
                quiet = "away"
                if not anyone and h.nobody_since is not None:
                    quiet_since = h.nobody_since[0]
                    quiet_minutes = (now - quiet_since).total_seconds() / 60
                    evidence["quiet"] = (h.nobody_since[1].value,)
                else:
                    quiet_minutes = 0.0
            area = tl.area_of(dev)
            out.append(HunchSituation(
                device=dev, device_name=state.name_of("device", dev),
                area_name=state.name_of("area", area) if area else "room", kind=hk,
                kind_label=hk.label, time=now, part=part, anyone_home=anyone,
                on_since=sv.since, on_minutes=(now - sv.since).total_seconds() / 60,
                quiet=quiet, quiet_minutes=quiet_minutes, quiet_since=quiet_since,
                baseline=h.baseline, knowledge=k, threshold=threshold, evidence=evidence))
    return out


def score_features(situation: HunchSituation, *, contrastive: bool = False):
    """Features a person recognises for a hunch decision, and its score function
    ``score_fn(present) -> float`` (:meth:`HunchSituation.decision` with the absent features at
    their baselines), for :func:`reasoner.attribution.attribute`.

    The features: the time of day, who is home (for room kinds), the device's learned habit,
    how long it had been on, and how long its room had been empty (or everyone out). Baselines
    are an ordinary moment (``contrastive=False``: the part of day the device is most often on,
    someone home, no habit learned, just switched on, someone just there) or, for
    :func:`reasoner.attribution.why_not`, the closest case where the kind's conditions hold
    (``contrastive=True``: its typical time, the window reached, no habit learned).
    """
    from .attribution import Feature

    s = situation
    k = s.knowledge
    window = s.window
    parts = list(k.times_of_day)
    if contrastive:
        base_part = s.part if (not s.kind.times or s.part in s.kind.times) else s.kind.times[0]
    else:
        ranked = sorted((p for p in parts if p != s.part),
                        key=lambda p: -s.baseline.estimate(s.device, p, True).p_on)
        base_part = ranked[0] if ranked else s.part
    features = [Feature("time_of_day", f"it was {s.part_label(s.part)}",
                        value=s.part_label(s.part), baseline=s.part_label(base_part),
                        baseline_label=f"it had been {s.part_label(base_part)}")]
    if s.quiet != "away":
        base_home = s.anyone_home if contrastive else True
        features.append(Feature(
            "who_is_home", "someone was home" if s.anyone_home else "nobody was home",
            value=s.anyone_home, baseline=base_home,
            baseline_label="someone had been home" if base_home else "nobody had been home"))
    est = s.estimate
    if est.minutes >= 1:
        rate = est.minutes_on / est.minutes
        habit = (f"the {s.device_name} is {'usually on' if rate >= 0.5 else 'rarely on'} "
                 f"then ({rate:.0%} of {est.minutes / 60:.1f} h seen)")
    else:
        habit = f"I had not yet seen the {s.device_name} at this time of day"
    features.append(Feature("habit", habit, value=round(est.p_on, 4),
                            baseline=round(s.baseline.prior_on(s.part, s.anyone_home), 4),
                            baseline_label="I had not learned its habits yet"))
    on_base = (window if s.on_minutes < window else s.on_minutes) if contrastive else 0.0
    features.append(Feature(
        "on_for", f"it had been on since {s.on_since:%H:%M} ({s.on_minutes:.0f} min)",
        value=round(s.on_minutes, 1), baseline=on_base,
        baseline_label=f"it had been on for {window:.0f} minutes" if contrastive
        else "it had just been switched on", evidence=s.evidence.get("on_for", ())))
    q_base: float | None = None
    if s.quiet is not None:
        q = s.quiet_minutes or 0.0
        q_base = (window if q < window else q) if contrastive else 0.0
        if s.quiet == "room":
            label = (f"nobody had moved in the {s.area_name} for {q:.0f} min" if q > 0
                     else f"someone was in the {s.area_name}")
            base_label = (f"nobody had been in the {s.area_name} for {window:.0f} minutes"
                          if contrastive else f"someone had just been in the {s.area_name}")
        else:
            label = (f"everyone had been out since {s.quiet_since:%H:%M}" if q > 0 and
                     s.quiet_since else "someone was home")
            base_label = (f"everyone had been out for {window:.0f} minutes" if contrastive
                          else "someone had been home")
        features.append(Feature("quiet", label, value=round(q, 1), baseline=q_base,
                                baseline_label=base_label, evidence=s.evidence.get("quiet", ())))
    base_anyone = next((f.baseline for f in features if f.name == "who_is_home"),
                       s.anyone_home)

    def score_fn(present: frozenset) -> float:
        anyone = s.anyone_home if "who_is_home" in present else base_anyone
        quiet = s.quiet_minutes if "quiet" in present else q_base
        if s.quiet == "away":  # being out is one feature: nobody home, and for how long
            anyone = s.anyone_home if "quiet" in present else not contrastive
        return s.decision(part=s.part if "time_of_day" in present else base_part,
                          anyone_home=anyone, habit="habit" in present,
                          on_minutes=s.on_minutes if "on_for" in present else on_base,
                          quiet_minutes=quiet)

    return features, score_fn
