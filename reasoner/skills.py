"""The skill catalogue: skills, their intents, typed slots and sample utterances, in the graph.

Skills are authored as YAML, one file a skill, in ``ontologies/skills/`` and compiled to Turtle
(``ontologies/skills/skills.ttl``; its vocabulary is in ``ontologies/hearth.ttl``), which the
household loads into its ontology graph, so every household can ask about its skills in SPARQL::

    SELECT ?intent ?text WHERE {
      ?skill a hearth:Skill ; hearth:name "lights" ; hearth:hasIntent ?intent .
      ?intent hearth:hasSample/hearth:text ?text }

A YAML file::

    skill: lights
    label: Lights
    description: Switches lights on and off …
    intents:
      - name: turn_on                      # the intent's id is "lights.turn_on"
        label: turn lights on
        command: turn_on                   # optional: the device command it issues
        attribute: temperature             # optional: the device attribute it reads
        device_types: [Light]              # optional: hearth device classes it acts on
        home_assistant: {intent: HassTurnOn, domains: [light]}   # optional
        slots:
          - {name: area, type: Area, required: false}
        samples:
          - "lights on in the [hallway](area) please"              # "[words](slot)" marks slots

Slot types are ontology classes (``SLOT_TYPES``): Device, Area, Floor, Person, Place, Time, Date,
Duration, Temperature, Percentage, Number, Media, Color, Text.

``Catalogue.load()`` reads the YAML; ``Catalogue.from_household(home)`` reads the same catalogue
back from a household's graph (so skills a household adds as facts count too);
``python -m reasoner.skills compile`` rewrites ``skills.ttl`` (a test checks it is current).

>>> cat = Catalogue.load()
>>> cat.intent("lights.turn_on").slot("area").type
'Area'
>>> parse_markup("dim the [lounge](area) lights")
('dim the lounge lights', (SampleSlot(name='area', start=8, end=14, text='lounge'),))
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import ontologies
from kg.errors import HearthError

__all__ = [
    "Catalogue", "CatalogueError", "IntentSpec", "Sample", "SampleSlot", "SkillSpec", "SlotSpec",
    "SKILL_BASE", "SLOT_TYPES", "compile_catalogue", "parse_markup",
]

HEARTH = "https://w3id.org/hearth#"
SKILL_BASE = "https://w3id.org/hearth/skill/"
SKILLS_DIR = ontologies.path("skills")
COMPILED_TTL = SKILLS_DIR / "skills.ttl"

# Slot types: the word used in the YAML → the ontology class of the values.
SLOT_TYPES = {
    "Device": HEARTH + "Device",
    "Area": HEARTH + "Area",
    "Floor": HEARTH + "Floor",
    "Person": HEARTH + "Person",
    "Place": "https://schema.org/Place",
    "Time": "http://www.w3.org/2006/time#Instant",
    "Date": HEARTH + "Date",
    "Duration": HEARTH + "Duration",
    "Temperature": HEARTH + "Temperature",
    "Percentage": HEARTH + "Percentage",
    "Number": HEARTH + "Quantity",
    "Media": HEARTH + "MediaItem",
    "Color": HEARTH + "Color",
    "Text": HEARTH + "FreeText",
}
_TYPE_OF_CLASS = {v: k for k, v in SLOT_TYPES.items()}

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_MARK = re.compile(r"\[([^\[\]]+)\]\(([a-z][a-z0-9_]*)\)")


class CatalogueError(HearthError, ValueError):
    """A skill file or the catalogue in the graph is malformed."""


@dataclass(frozen=True)
class SampleSlot:
    name: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Sample:
    text: str
    slots: tuple[SampleSlot, ...] = ()

    @property
    def markup(self) -> str:
        out, at = [], 0
        for s in sorted(self.slots, key=lambda s: s.start):
            out.append(self.text[at:s.start])
            out.append(f"[{s.text}]({s.name})")
            at = s.end
        out.append(self.text[at:])
        return "".join(out)


@dataclass(frozen=True)
class SlotSpec:
    name: str
    type: str
    required: bool = False

    @property
    def type_iri(self) -> str:
        return SLOT_TYPES[self.type]


@dataclass(frozen=True)
class IntentSpec:
    skill: str
    name: str
    label: str
    slots: tuple[SlotSpec, ...] = ()
    samples: tuple[Sample, ...] = ()
    command: str | None = None
    attribute: str | None = None
    device_types: tuple[str, ...] = ()
    ha_intent: str | None = None
    ha_domains: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.skill}.{self.name}"

    @property
    def iri(self) -> str:
        return f"{SKILL_BASE}{self.skill}/{self.name}"

    def slot(self, name: str) -> SlotSpec:
        for s in self.slots:
            if s.name == name:
                return s
        raise CatalogueError(f"intent {self.id} has no slot {name!r}; its slots are "
                             f"{', '.join(s.name for s in self.slots) or 'none'}")

    def slots_of_type(self, *types: str) -> list[SlotSpec]:
        return [s for s in self.slots if s.type in types]


@dataclass(frozen=True)
class SkillSpec:
    name: str
    label: str
    description: str
    intents: tuple[IntentSpec, ...] = ()

    @property
    def iri(self) -> str:
        return SKILL_BASE + self.name


def parse_markup(markup: str) -> tuple[str, tuple[SampleSlot, ...]]:
    """A sample's plain text and its marked slots ("[words](slot)")."""
    out: list[str] = []
    slots: list[SampleSlot] = []
    at = 0
    length = 0
    for m in _MARK.finditer(markup):
        before = markup[at:m.start()]
        out.append(before)
        length += len(before)
        words = m.group(1)
        slots.append(SampleSlot(m.group(2), length, length + len(words), words))
        out.append(words)
        length += len(words)
        at = m.end()
    out.append(markup[at:])
    text = "".join(out)
    if "[" in text or "](" in text:
        raise CatalogueError(f"sample {markup!r} has a malformed slot mark: write '[words](slot)'")
    return text, tuple(slots)


@dataclass
class Catalogue:
    """The skills, indexed by name, and their intents, indexed by id ("lights.turn_on")."""

    skills: dict[str, SkillSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._intents = {i.id: i for s in self.skills.values() for i in s.intents}

    # -- reading -----------------------------------------------------------------------------
    @classmethod
    def load(cls, folder: str | Path | None = None) -> "Catalogue":
        """The catalogue authored as YAML in ``folder`` (default ``ontologies/skills``)."""
        folder = Path(folder) if folder is not None else SKILLS_DIR
        files = sorted(folder.glob("*.yaml"))
        if not files:
            raise CatalogueError(f"no skill files (*.yaml) in {folder}")
        skills = [skill_from_yaml(p) for p in files]
        seen: dict[str, Path] = {}
        for p, s in zip(files, skills):
            if s.name in seen:
                raise CatalogueError(f"skill {s.name!r} is defined in both {seen[s.name]} and {p}")
            seen[s.name] = p
        return cls({s.name: s for s in skills})

    @classmethod
    def from_household(cls, home) -> "Catalogue":
        """The catalogue as a household's graph holds it (the ontology graph and any facts)."""
        return cls.from_rows(_rows(home))

    @classmethod
    def from_rows(cls, rows: dict[str, list[dict]]) -> "Catalogue":
        slots: dict[str, list[SlotSpec]] = {}
        for r in rows["slots"]:
            type_ = _TYPE_OF_CLASS.get(r["type"])
            if type_ is None:
                continue  # a slot type this engine does not know how to fill
            slots.setdefault(r["intent"], []).append(SlotSpec(r["name"], type_, r["required"]))
        samples: dict[str, list[Sample]] = {}
        for r in rows["samples"]:
            text, marks = parse_markup(r["markup"]) if r.get("markup") else (r["text"], ())
            samples.setdefault(r["intent"], []).append(Sample(text, marks))
        devtypes: dict[str, list[str]] = {}
        for r in rows["device_types"]:
            devtypes.setdefault(r["intent"], []).append(r["class"].removeprefix(HEARTH))
        domains: dict[str, list[str]] = {}
        for r in rows["domains"]:
            domains.setdefault(r["intent"], []).append(r["domain"])
        intents: dict[str, list[IntentSpec]] = {}
        for r in rows["intents"]:
            iri = r["intent"]
            intents.setdefault(r["skill"], []).append(IntentSpec(
                skill=r["skill_name"], name=r["name"].split(".", 1)[-1], label=r["label"],
                slots=tuple(sorted(slots.get(iri, []), key=lambda s: s.name)),
                samples=tuple(sorted(samples.get(iri, []), key=lambda s: s.text)),
                command=r.get("command"), attribute=r.get("attribute"),
                device_types=tuple(sorted(devtypes.get(iri, []))), ha_intent=r.get("ha_intent"),
                ha_domains=tuple(sorted(domains.get(iri, [])))))
        skills = {}
        for r in rows["skills"]:
            skills[r["name"]] = SkillSpec(r["name"], r["label"], r.get("description") or "",
                                          tuple(sorted(intents.get(r["skill"], []),
                                                       key=lambda i: i.name)))
        return cls(skills)

    def intent(self, intent_id: str) -> IntentSpec:
        try:
            return self._intents[intent_id]
        except KeyError:
            close = difflib.get_close_matches(intent_id, self._intents, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise CatalogueError(f"no intent {intent_id!r} in the catalogue.{hint} Intents: "
                                 f"{', '.join(sorted(self._intents))}") from None

    def __contains__(self, intent_id: str) -> bool:
        return intent_id in self._intents

    def intents(self) -> list[IntentSpec]:
        return list(self._intents.values())

    def samples(self) -> Iterator[tuple[str, IntentSpec]]:
        """(text, intent) for every sample of every intent."""
        for intent in self._intents.values():
            for s in intent.samples:
                yield s.text, intent

    def for_home_assistant(self, ha_intent: str, domain: str | None) -> IntentSpec | None:
        """The catalogue intent a Home Assistant intent corresponds to, narrowed by the entity
        domain it acted on: HassTurnOn on a lock is ``locks.lock``; None when none does."""
        fallback = None
        for intent in self._intents.values():
            if intent.ha_intent != ha_intent:
                continue
            if not intent.ha_domains:
                fallback = fallback or intent
            elif domain in intent.ha_domains:
                return intent
        return fallback

    # -- writing -----------------------------------------------------------------------------
    def to_turtle(self) -> str:
        """The catalogue as Turtle (instances only; the vocabulary is in hearth.ttl)."""
        lines = [
            "@prefix hearth: <https://w3id.org/hearth#> .",
            "@prefix schema: <https://schema.org/> .",
            "@prefix time:   <http://www.w3.org/2006/time#> .",
            "@prefix rdfs:   <http://www.w3.org/2000/01/rdf-schema#> .",
            "@prefix xsd:    <http://www.w3.org/2001/XMLSchema#> .",
            "",
        ]
        for skill in sorted(self.skills.values(), key=lambda s: s.name):
            lines.append(f"<{skill.iri}> a hearth:Skill ;")
            lines.append(f"    hearth:name {_lit(skill.name)} ;")
            lines.append(f"    rdfs:label {_lit(skill.label, 'en')} ;")
            lines.append(f"    rdfs:comment {_lit(skill.description, 'en')} ;")
            lines.append("    hearth:hasIntent " + ", ".join(
                f"<{i.iri}>" for i in skill.intents) + " .")
            lines.append("")
            for intent in skill.intents:
                lines.extend(_intent_turtle(intent))
        return "\n".join(lines) + "\n"


def _lit(text: str, lang: str | None = None) -> str:
    from pyoxigraph import Literal
    return str(Literal(text, language=lang)) if lang else str(Literal(text))


def _intent_turtle(intent: IntentSpec) -> list[str]:
    iri = intent.iri
    props = [f"hearth:name {_lit(intent.id)}", f"rdfs:label {_lit(intent.label, 'en')}"]
    if intent.command:
        props.append(f"hearth:command {_lit(intent.command)}")
    if intent.attribute:
        props.append(f"hearth:attribute {_lit(intent.attribute)}")
    for t in intent.device_types:
        props.append(f"hearth:deviceType hearth:{t}")
    if intent.ha_intent:
        props.append(f"hearth:haIntent {_lit(intent.ha_intent)}")
    for d in intent.ha_domains:
        props.append(f"hearth:haDomain {_lit(d)}")
    for s in intent.slots:
        props.append(f"hearth:hasSlot <{iri}/slot/{s.name}>")
    for n, _ in enumerate(intent.samples, start=1):
        props.append(f"hearth:hasSample <{iri}/sample/{n}>")
    out = [f"<{iri}> a hearth:Intent ;"]
    out.extend(f"    {p} ;" for p in props[:-1])
    out.append(f"    {props[-1]} .")
    for s in intent.slots:
        out.append(f"<{iri}/slot/{s.name}> a hearth:Slot ; hearth:name {_lit(s.name)} ; "
                   f"hearth:slotType <{s.type_iri}> ; hearth:required "
                   f"\"{str(s.required).lower()}\"^^xsd:boolean .")
    for n, sample in enumerate(intent.samples, start=1):
        extra = f" ; hearth:markup {_lit(sample.markup)}" if sample.slots else ""
        out.append(f"<{iri}/sample/{n}> a hearth:Sample ; hearth:text "
                   f"{_lit(sample.text)}{extra} .")
    out.append("")
    return out


def skill_from_yaml(path: Path) -> SkillSpec:
    """One skill file, checked: errors name the file, the intent and what is wrong."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise CatalogueError(f"{path} is not valid YAML: {err}") from None
    where = str(path)
    if not isinstance(data, dict) or not isinstance(data.get("skill"), str):
        raise CatalogueError(f"{where}: a skill file starts with 'skill: <name>'")
    name = data["skill"]
    if not _NAME.match(name):
        raise CatalogueError(f"{where}: skill name {name!r} must be lower case letters, digits "
                             "and '_'")
    intents = []
    for n, raw in enumerate(data.get("intents") or [], start=1):
        intents.append(_intent_from_yaml(name, raw, f"{where}, intent {n}"))
    if not intents:
        raise CatalogueError(f"{where}: skill {name!r} has no intents")
    names = [i.name for i in intents]
    for n in names:
        if names.count(n) > 1:
            raise CatalogueError(f"{where}: skill {name!r} defines intent {n!r} twice")
    return SkillSpec(name, str(data.get("label") or name), str(data.get("description") or ""),
                     tuple(sorted(intents, key=lambda i: i.name)))


def _intent_from_yaml(skill: str, raw: dict, where: str) -> IntentSpec:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) \
            or not _NAME.match(raw["name"]):
        raise CatalogueError(f"{where}: an intent needs a 'name' of lower case letters and '_'")
    where = f"{where} ({raw['name']})"
    slots = []
    for s in raw.get("slots") or []:
        if not isinstance(s, dict) or "name" not in s or "type" not in s:
            raise CatalogueError(f"{where}: a slot is {{name: …, type: …}}")
        if s["type"] not in SLOT_TYPES:
            close = difflib.get_close_matches(str(s["type"]), SLOT_TYPES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CatalogueError(f"{where}: slot {s['name']!r} has unknown type {s['type']!r}"
                                 f"{hint}; types: {', '.join(SLOT_TYPES)}")
        slots.append(SlotSpec(str(s["name"]), s["type"], bool(s.get("required", False))))
    names = {s.name for s in slots}
    samples = []
    for markup in raw.get("samples") or []:
        text, marks = parse_markup(str(markup))
        for m in marks:
            if m.name not in names:
                raise CatalogueError(f"{where}: sample {markup!r} marks slot {m.name!r}, which "
                                     f"the intent does not have (slots: {', '.join(names)})")
        samples.append(Sample(text, marks))
    ha = raw.get("home_assistant") or {}
    from kg.vocab import HEARTH as H
    for t in raw.get("device_types") or []:
        if t not in H:
            raise CatalogueError(f"{where}: device type {t!r} is not a hearth class")
    return IntentSpec(
        skill=skill, name=raw["name"], label=str(raw.get("label") or raw["name"]),
        slots=tuple(sorted(slots, key=lambda s: s.name)),
        samples=tuple(sorted(samples, key=lambda s: s.text)),
        command=raw.get("command"), attribute=raw.get("attribute"),
        device_types=tuple(sorted(raw.get("device_types") or [])),
        ha_intent=ha.get("intent"), ha_domains=tuple(sorted(ha.get("domains") or [])))


_QUERIES = {
    "skills": """SELECT ?skill ?name ?label ?description WHERE {
        ?skill a hearth:Skill ; hearth:name ?name ; rdfs:label ?label .
        OPTIONAL { ?skill rdfs:comment ?description } }""",
    "intents": """SELECT ?skill ?skill_name ?intent ?name ?label ?command ?attribute ?ha_intent
        WHERE { ?skill a hearth:Skill ; hearth:name ?skill_name ; hearth:hasIntent ?intent .
        ?intent hearth:name ?name ; rdfs:label ?label .
        OPTIONAL { ?intent hearth:command ?command }
        OPTIONAL { ?intent hearth:attribute ?attribute }
        OPTIONAL { ?intent hearth:haIntent ?ha_intent } }""",
    "slots": """SELECT ?intent ?name ?type ?required WHERE { ?intent a hearth:Intent ;
        hearth:hasSlot ?slot . ?slot hearth:name ?name ; hearth:slotType ?type .
        OPTIONAL { ?slot hearth:required ?required } }""",
    "samples": """SELECT ?intent ?text ?markup WHERE { ?intent a hearth:Intent ;
        hearth:hasSample ?sample . ?sample hearth:text ?text .
        OPTIONAL { ?sample hearth:markup ?markup } }""",
    "device_types": """SELECT ?intent ?class WHERE { ?intent a hearth:Intent ;
        hearth:deviceType ?class }""",
    "domains": """SELECT ?intent ?domain WHERE { ?intent a hearth:Intent ;
        hearth:haDomain ?domain }""",
}


def _rows(home) -> dict[str, list[dict]]:
    from pyoxigraph import Literal, NamedNode
    out: dict[str, list[dict]] = {}
    for key, sparql in _QUERIES.items():
        rows = []
        for row in home.query(sparql):
            item = {}
            for k, v in row.asdict().items():
                if v is None:
                    continue
                if isinstance(v, NamedNode):
                    item[k] = v.value
                elif isinstance(v, Literal) and v.datatype.value.endswith("#boolean"):
                    item[k] = v.value in ("true", "1")
                else:
                    item[k] = v.value
            item.setdefault("required", False)
            rows.append(item)
        out[key] = rows
    if not out["skills"]:
        raise CatalogueError(
            "this household's graph holds no skills: its ontology graph lacks the catalogue "
            "(ontologies/skills/skills.ttl must be among kg.household.ONTOLOGY_FILES); use "
            "Catalogue.load() to read the YAML instead")
    return out


def compile_catalogue(folder: str | Path | None = None, output: str | Path | None = None) -> Path:
    """Compiles the YAML skills into one Turtle file; returns its path."""
    folder = Path(folder) if folder is not None else SKILLS_DIR
    output = Path(output) if output is not None else folder / "skills.ttl"
    output.write_text(compiled_text(folder), encoding="utf-8")
    return output


def compiled_text(folder: str | Path | None = None) -> str:
    folder = Path(folder) if folder is not None else SKILLS_DIR
    header = ("# GENERATED by `python -m reasoner.skills compile` from ontologies/skills/*.yaml:"
              "\n# edit those, not this file. Its vocabulary is in ontologies/hearth.ttl.\n\n")
    return header + Catalogue.load(folder).to_turtle()


def main(argv: Iterable[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] != ["compile"]:
        print("usage: python -m reasoner.skills compile [FOLDER]", file=sys.stderr)
        return 2
    path = compile_catalogue(args[1] if len(args) > 1 else None)
    cat = Catalogue.load(path.parent)
    print(f"wrote {path}: {len(cat.skills)} skills, {len(cat.intents())} intents, "
          f"{sum(1 for _ in cat.samples())} samples")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
