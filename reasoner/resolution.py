"""Resolution: an unfamiliar request → what its words mean → suggestions the household can act on.

When understanding flags an utterance as unfamiliar (``UtteranceInterpreted.out_of_scope``), the
``resolution`` component looks its words up and offers what the household's skills could do::

    "make it cozy" → dim the lights in the Living Room? (lights.set, brightness 30)
                   → turn the heating up to 21 °C?      (climate.set_temperature)
    because: cozy is dim; cozy is warm (commonsense); cozy is related to warm (conceptnet)

Five steps, each a function of its own:

1. **Key terms** (:func:`key_terms`): spaCy (a blank English pipeline with the lookup lemmatizer)
   splits the utterance; each content word gets its lemma and part of speech from the offline
   lexicon, and multiword phrases are kept whole: the commonsense graph's labels and keywords
   ("too bright", "fresh air"), WordNet's collocations ("living room"), and light-verb frames
   ("make it cozy", "it's too X", "I'm X", "feels X").
2. **Facts** about each term, in one shape (:class:`connectors.facts.Fact`): (a) the household
   graph and ``commonsense.ttl``, through SPARQL (what a thing is, what it affords, what a quality
   has as aspects, what it is related to, which actions achieve it: :class:`Commonsense`);
   (b) the offline WordNet lexicon (synonyms, similar words, hypernyms, glosses); (c) when online,
   ConceptNet, Wikidata and Wikipedia through :func:`connectors.facts.gather_facts` over the
   interactive transport (short timeouts, at most one quick retry, a total budget; a source that
   fails is reported as a value and skipped). Facts from the lexicon and the web lead back into
   the commonsense graph when their objects name one of its concepts ("toasty" → ConceptNet
   "toasty is related to warm" → cs:Warm).
3. **Candidates** among the household's intents (the skill catalogue, as its graph holds it) and
   devices: every commonsense path from a term to an action kind (cs:Cozy hasAspect cs:Dim
   achievedBy cs:DimLights) gives the catalogue intent that carries the action out (by command and
   device class), weighted along the path; needs and goals reached on the way (cs:WeatherForecast)
   point to intents by meaning.
4. **Ranking**: the path weight, blended with the embedding similarity between the utterance (and
   its expanded facts) and each intent, encoded with its label, its samples and the commonsense
   actions and qualities it serves.
5. **Slots** where the facts say: the device or area (named in the utterance, where it was heard,
   where such devices are on, or the only one), and values from the action's direction (dim →
   brightness 30 %, warmer → 21 °C or one degree above the current target).

Every suggestion carries one sentence of explanation and its sources (the facts it rests on).

In the graph, facts from the lexicon and the web enter as :class:`FactsFetched` events (one per
source and term, attributed to the source, with the time the answer was fetched), and each
suggestion as a ``SuggestionMade`` (``kind`` "resolution") derived from the utterance's reading
and from the ``FactsFetched`` events it rests on.

>>> [(t.text, t.pos) for t in key_terms("make it cozy")]
[('make it cozy', 'PHRASE'), ('cozy', 'ADJ')]
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import datetime as dt
import json
import logging
import os
import re
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pyoxigraph import Literal, NamedNode

from connectors.facts import Fact, FactsResult, SourceFailure, gather_facts
from kg import events as E
from kg.errors import EventError, HearthError
from kg.events import f, register_event_type
from kg.household import Household
from kg.log import Appended
from kg.terms import format_datetime, to_python
from kg.vocab import HEARTH, HEARTH_NS, PROV, RDF, XSD

from .patterns import SuggestionMade
from .pipeline import register_component
from .skills import Catalogue, IntentSpec

log = logging.getLogger("hearth.reasoner.resolution")

__all__ = [
    "Commonsense", "FactsFetched", "KeyTerm", "Resolution", "ResolutionComponent",
    "ResolutionError", "Resolver", "Suggestion", "describe_facts_fetched", "key_terms", "main",
    "resolve", "resolution_events", "SOURCE_AGENTS",
]

AGENT = "component:resolution"
CS = "https://w3id.org/hearth/commonsense#"
H = HEARTH_NS
COMMONSENSE = "commonsense"
HOUSEHOLD = "household"

#: The agent each knowledge source's facts are attributed to (``prov:wasAttributedTo``).
SOURCE_AGENTS = {
    "conceptnet": "https://conceptnet.io/",
    "wikidata": "https://www.wikidata.org/",
    "wikipedia": "https://en.wikipedia.org/",
    "wordnet": "https://wordnet.princeton.edu/",
    "dbpedia": "https://dbpedia.org/",
}


class ResolutionError(HearthError, RuntimeError):
    """Resolution cannot run as configured (no catalogue, a bad option)."""


# ============================================================================================
# 1. Key terms
# ============================================================================================

@dataclass(frozen=True)
class KeyTerm:
    """A word or phrase worth looking up: ``text`` as said, its ``lemma``, its part of speech
    (NOUN, VERB, ADJ, ADV, or PHRASE for a multiword phrase), where it is in the utterance, and a
    ``weight`` (light verbs and vague nouns such as "make" or "place" count less)."""

    text: str
    lemma: str
    pos: str
    start: int
    end: int
    weight: float = 1.0

    @property
    def forms(self) -> tuple[str, ...]:
        """The ways to look it up: as said (lower case) and its lemma."""
        return tuple(dict.fromkeys((self.text.lower(), self.lemma.lower())))


# Words that carry no meaning of their own in a request to an assistant.
_LIGHT_VERBS = {"make", "get", "do", "have", "be", "let", "want", "need", "feel", "keep", "go",
                "put", "take", "give", "set", "turn", "can", "could", "would", "will", "please",
                "like", "help", "try", "start", "seem", "look", "become", "stay"}
_VAGUE = {"it", "room", "place", "house", "home", "thing", "things", "stuff", "bit", "way",
          "lot", "little", "kind", "sort", "something", "everything", "anything", "here",
          "there", "now", "today", "tonight", "time", "one", "mood"}
_FRAME_HEADS = {"make", "get", "keep", "want", "need", "like", "feel", "feels", "felt", "is",
                "are", "am", "'s", "’s", "'m", "’m", "be", "getting", "making", "so", "too",
                "really", "very", "pretty", "quite", "rather", "way", "bit", "little", "more",
                "less", "it", "its", "the", "this", "here", "in", "a"}
_NLP_LOCK = threading.Lock()
_NLP: list = []


def _nlp():
    with _NLP_LOCK:
        if not _NLP:
            import spacy
            nlp = spacy.blank("en")
            try:
                nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
                nlp.initialize()
            except (ValueError, OSError, ImportError) as err:  # no spacy-lookups-data
                log.info("spaCy lookup lemmatizer unavailable (%s); using the lexicon", err)
                nlp = spacy.blank("en")
            _NLP.append(nlp)
        return _NLP[0]


def _lexicon():
    from connectors.lexicon import Lexicon
    try:
        return Lexicon.default()
    except HearthError as err:  # LexiconUnavailable: resolve with the graph alone
        log.warning("offline lexicon unavailable: %s", err)
        return None


_POS = {"n": "NOUN", "v": "VERB", "a": "ADJ", "r": "ADV"}


def _pos_of(word: str, lex) -> str | None:
    if lex is None:
        return None
    senses = lex.synsets(word)
    return _POS.get(senses[0].pos) if senses else None


def key_terms(text: str, *, phrases: Iterable[str] = (), lexicon: Any = "default"
              ) -> list[KeyTerm]:
    """The words and phrases of ``text`` worth looking up, longest phrases first, then the
    content words left to right. ``phrases``: known multiword phrases (the commonsense graph's
    labels and keywords) to keep whole.

    >>> [t.lemma for t in key_terms("it's way too bright in the living room",
    ...                             phrases=["too bright"])]
    ['living room', 'too bright', 'way']
    """
    from spacy.lang.en.stop_words import STOP_WORDS

    lex = _lexicon() if lexicon == "default" else lexicon
    doc = _nlp()(text)
    tokens = [t for t in doc if not t.is_punct and not t.is_space]
    known = {" ".join(p.lower().split()) for p in phrases}
    out: list[KeyTerm] = []
    covered: set[int] = set()
    # multiword phrases: known ones, then WordNet collocations, longest first
    for n in (4, 3, 2):
        for i in range(len(tokens) - n + 1):
            span = tokens[i:i + n]
            if any(t.i in covered for t in span):
                continue
            words = " ".join(t.lower_ for t in span)
            lemmas = " ".join((t.lemma_ or t.lower_).lower() for t in span)
            hit = words if words in known else lemmas if lemmas in known else None
            if hit is None and lex is not None and not (
                    span[0].is_stop or span[-1].is_stop) and words in lex:
                if "_" in (lex.lookup(words).lemma or ""):
                    hit = words
            if hit is None:
                continue
            start, end = span[0].idx, span[-1].idx + len(span[-1])
            out.append(KeyTerm(text[start:end], hit, "PHRASE", start, end, 1.0))
            covered.update(t.i for t in span)
    frame = _frame(tokens)
    words: list[KeyTerm] = []
    for t in tokens:
        low = t.lower_
        if t.i in covered or low in STOP_WORDS and low not in ("off", "on", "up", "down") \
                or not any(c.isalpha() for c in low) or low in ("'s", "’s", "'m", "n't"):
            continue
        lemma = (t.lemma_ or low).lower()
        pos = _pos_of(low, lex) or _pos_of(lemma, lex) or "NOUN"
        weight = 0.3 if lemma in _LIGHT_VERBS or low in _VAGUE or lemma in _VAGUE else 1.0
        if low in ("off", "on", "up", "down"):
            pos, weight = "ADV", 0.3
        words.append(KeyTerm(t.text, lemma, pos, t.idx, t.idx + len(t), weight))
    if frame is not None:
        head, last = frame
        start, end = tokens[head].idx, tokens[last].idx + len(tokens[last])
        out.append(KeyTerm(text[start:end], text[start:end].lower(), "PHRASE", start, end, 0.5))
    out.sort(key=lambda k: (-(k.end - k.start), k.start))
    return out + words


def _frame(tokens) -> tuple[int, int] | None:
    """A light-verb frame around the last content word: "make it cozy", "it's too bright",
    "I'm freezing", "feels stuffy" (the head's index and the last token's)."""
    content = [i for i, t in enumerate(tokens)
               if not t.is_stop and any(c.isalpha() for c in t.text)]
    if not content or len(tokens) < 2:
        return None
    last = content[-1]
    head = last
    while head > 0 and tokens[head - 1].lower_ in _FRAME_HEADS | {"i", "we", "you"}:
        head -= 1
    if head == last or head < last - 5:
        return None
    return head, last


# ============================================================================================
# 2a. The household graph and commonsense, through SPARQL
# ============================================================================================

# How much a step along a commonsense relation keeps of the evidence.
EDGE_WEIGHTS = {
    H + "achievedBy": 1.0, H + "hasAspect": 0.9, H + "affords": 0.8, H + "relatedTo": 0.65,
    H + "uses": 0.6, H + "broader": 0.6, H + "needs": 0.6, H + "servesGoal": 0.5,
}
_RELATED_BACK = H + "relatedTo#inverse"
EDGE_WEIGHTS[_RELATED_BACK] = 0.35
_RELATION_OF_EDGE = {  # how a commonsense relation is said, as a Fact relation
    H + "hasAspect": "HasProperty", H + "relatedTo": "RelatedTo", H + "achievedBy": "MannerOf",
    H + "affords": "UsedFor", H + "uses": "UsedFor", H + "broader": "IsA",
    H + "needs": "HasPrerequisite", H + "servesGoal": "MotivatedByGoal",
    _RELATED_BACK: "RelatedTo",
}
_CONCEPT_TYPES = ("Quality", "Affordance", "ObjectKind", "ActionKind", "AreaKind", "GoalKind",
                  "Need", "ActivityKind")

_Q_CONCEPTS = """SELECT ?c ?type ?label ?comment WHERE {
  VALUES ?type { %s }
  ?c a ?type ; rdfs:label ?label . OPTIONAL { ?c rdfs:comment ?comment } }""" % " ".join(
    f"hearth:{t}" for t in _CONCEPT_TYPES)
_Q_WORDS = """SELECT ?c ?word ?how WHERE {
  { ?c skos:altLabel ?word BIND("altLabel" AS ?how) } UNION
  { ?c hearth:keyword ?word BIND("keyword" AS ?how) } }"""
_Q_EDGES = """SELECT ?s ?p ?o WHERE {
  VALUES ?p { hearth:hasAspect hearth:relatedTo hearth:achievedBy hearth:affords hearth:uses
              hearth:broader hearth:needs hearth:servesGoal hearth:deviceType hearth:objectKind
              hearth:typicalArea hearth:oppositeOf } ?s ?p ?o }"""
_Q_ACTIONS = """SELECT ?a ?command ?attribute ?direction WHERE { ?a a hearth:ActionKind ;
  hearth:command ?command . OPTIONAL { ?a hearth:attribute ?attribute }
  OPTIONAL { ?a hearth:direction ?direction } }"""
_Q_CLASSES = """SELECT ?class ?super WHERE { ?class rdfs:subClassOf* hearth:Device .
  ?class rdfs:subClassOf* ?super . FILTER(STRSTARTS(STR(?super), "https://w3id.org/hearth#")) }"""
_Q_DIGEST = "SELECT ?d WHERE { GRAPH ?g { ?g hearth:ontologyDigest ?d } }"
_Q_TARGET_VALUE = """SELECT ?s ?v WHERE { ?s hearth:targetValue ?v }"""


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[^\W_]+(?:'[^\W_]+)?", text.casefold()))


@dataclass(frozen=True)
class ActionInfo:
    iri: str
    label: str
    command: str
    device_types: tuple[str, ...]
    object_kinds: tuple[str, ...]
    attribute: str | None
    direction: str | None


@dataclass(frozen=True)
class Path_:
    """A way from a term to a concept: its weight and the facts along it."""

    weight: float
    facts: tuple[Fact, ...]


class Commonsense:
    """The household's concepts (its ontology graph: ``commonsense.ttl`` and anything the
    household asserted) read once through SPARQL, as an index from words to concepts and the
    relations between them. Rebuilt when the ontology or the household's asserted facts change
    (:meth:`of`)."""

    def __init__(self, home: Household):
        self.labels: dict[str, str] = {}
        self.comments: dict[str, str] = {}
        self.types: dict[str, set[str]] = {}
        self.words: dict[str, list[tuple[str, str]]] = {}  # word → [(concept, how)]
        self.edges: dict[str, list[tuple[str, str]]] = {}  # concept → [(predicate, concept)]
        self.props: dict[str, dict[str, list[str]]] = {}  # concept → predicate → values
        self.actions: dict[str, ActionInfo] = {}
        self.classes: dict[str, set[str]] = {}
        self.target_values: dict[str, Any] = {}
        for row in home.query(_Q_CONCEPTS):
            c = row["c"].value
            self.labels.setdefault(c, row["label"].value)
            self.types.setdefault(c, set()).add(row["type"].value.removeprefix(H))
            if row.get("comment") is not None:
                self.comments.setdefault(c, row["comment"].value)
        for c, label in self.labels.items():
            self._word(label, c, "label")
        for row in home.query(_Q_WORDS):
            c = row["c"].value
            if c in self.labels:
                self._word(row["word"].value, c, row["how"].value)
        for row in home.query(_Q_EDGES):
            s, p, o = row["s"].value, row["p"].value, row["o"].value
            self.props.setdefault(s, {}).setdefault(p, []).append(o)
            if p in EDGE_WEIGHTS and s in self.labels and o in self.labels:
                self.edges.setdefault(s, []).append((p, o))
                if p == H + "relatedTo":  # symmetric, but read backwards it says less
                    self.edges.setdefault(o, []).append((_RELATED_BACK, s))
        for row in home.query(_Q_CLASSES):
            self.classes.setdefault(row["class"].value, set()).add(row["super"].value)
        for row in home.query(_Q_ACTIONS):
            a = row["a"].value
            props = self.props.get(a, {})
            self.actions[a] = ActionInfo(
                a, self.labels.get(a, a.rsplit("#", 1)[-1]), row["command"].value,
                tuple(props.get(H + "deviceType", ())), tuple(props.get(H + "objectKind", ())),
                row["attribute"].value if row.get("attribute") is not None else None,
                row["direction"].value if row.get("direction") is not None else None)
        try:
            for row in home.query(_Q_TARGET_VALUE):
                self.target_values[row["s"].value] = to_python(row["v"])
        except HearthError:
            pass
        self.phrases = tuple(w for w in self.words if " " in w)

    def _word(self, text: str, concept: str, how: str) -> None:
        key = _norm(text)
        if key:
            entry = self.words.setdefault(key, [])
            if (concept, how) not in entry:
                entry.append((concept, how))

    # -- lookups -----------------------------------------------------------------------------
    def label(self, concept: str) -> str:
        return self.labels.get(concept, concept.rsplit("#", 1)[-1].rsplit("/", 1)[-1])

    def concepts_for(self, word: str) -> list[tuple[str, str]]:
        """(concept, how) for a word or phrase: how is label, altLabel or keyword."""
        key = _norm(word)
        found = self.words.get(key)
        if found is None and key.endswith("s"):
            found = self.words.get(key[:-1])
        return list(found or ())

    def word_fact(self, word: str, concept: str, how: str) -> Fact:
        """The fact that links a word to a concept, as a sentence."""
        label = self.label(concept)
        kinds = self.types.get(concept, set())
        if how == "keyword" and "Quality" in kinds and _norm(word) != _norm(label):
            text = f"'{word}' calls for {label}"
            rel = "CausesDesire"
        elif how == "label":
            text = f"{word} is {label}"
            rel = "Synonym"
        else:
            text = f"{word} means {label}"
            rel = "Synonym"
        return Fact(word, rel, label, 1.0, source=COMMONSENSE, source_url=concept,
                    license="Apache-2.0", surface_text=text)

    def edge_fact(self, s: str, p: str, o: str) -> Fact:
        a, b = self.label(s), self.label(o)
        if p == H + "achievedBy":
            kinds = self.types.get(s, set())
            text = f"{b} makes it {a}" if "Quality" in kinds else f"{b} gives {a}"
        elif p == H + "hasAspect":
            text = f"{a} is {b}"
        elif p == H + "affords":
            text = f"a {a} gives {b}"
        elif p in (H + "relatedTo", _RELATED_BACK):
            text = f"{a} is related to {b}"
        elif p == H + "needs":
            text = f"{a} needs {b}"
        elif p == H + "uses":
            text = f"{a} uses a {b}"
        elif p == H + "broader":
            text = f"{a} is a kind of {b}"
        else:
            text = f"{a} {p.rsplit('#', 1)[-1]} {b}"
        return Fact(a, _RELATION_OF_EDGE.get(p, "RelatedTo"), b, EDGE_WEIGHTS.get(p, 0.5),
                    source=COMMONSENSE, source_url=s, license="Apache-2.0", surface_text=text)

    def reach(self, concept: str, *, depth: int = 3) -> dict[str, Path_]:
        """Every concept reachable from ``concept`` along the weighted relations, with the best
        path to it (``concept`` itself at weight 1)."""
        best: dict[str, Path_] = {concept: Path_(1.0, ())}
        frontier = [concept]
        for _ in range(depth):
            nxt = []
            for c in frontier:
                here = best[c]
                for p, o in self.edges.get(c, ()):
                    w = here.weight * EDGE_WEIGHTS[p]
                    if o not in best or best[o].weight < w - 1e-9:
                        best[o] = Path_(w, here.facts + (self.edge_fact(c, p, o),))
                        nxt.append(o)
            frontier = nxt
        return best

    def action_paths(self, concept: str, *, depth: int = 3, per_action: int = 3
                     ) -> dict[str, list[Path_]]:
        """Every simple path (up to ``depth`` relations) from ``concept`` to an action kind,
        the best ``per_action`` of each, best first: several paths to one action are several
        reasons for it (cozy → dim → dim the lights, and cozy → soft light → dim the lights)."""
        found: dict[str, list[Path_]] = {}

        def walk(c: str, weight: float, facts: tuple[Fact, ...], seen: frozenset) -> None:
            if c in self.actions:
                found.setdefault(c, []).append(Path_(weight, facts))
            if len(facts) >= depth:
                return
            for p, o in self.edges.get(c, ()):
                if o not in seen:
                    walk(o, weight * EDGE_WEIGHTS[p], facts + (self.edge_fact(c, p, o),),
                         seen | {o})

        walk(concept, 1.0, (), frozenset({concept}))
        return {a: sorted(paths, key=lambda p: -p.weight)[:per_action]
                for a, paths in found.items()}

    def device_classes(self, cls: str) -> set[str]:
        return self.classes.get(cls, {cls})

    # -- the shared instance -------------------------------------------------------------------
    _cache: "weakref.WeakKeyDictionary[Household, tuple[Any, Commonsense]]"
    _lock = threading.Lock()

    @classmethod
    def of(cls, home: Household) -> "Commonsense":
        """This household's index, rebuilt when its ontology graph or asserted facts change."""
        key = _knowledge_key(home)
        with cls._lock:
            got = cls._cache.get(home)
            if got is not None and got[0] == key:
                return got[1]
        made = cls(home)
        with cls._lock:
            cls._cache[home] = (key, made)
        return made


Commonsense._cache = weakref.WeakKeyDictionary()


def _knowledge_key(home: Household) -> tuple:
    digest = next(iter(home.store.quads(home.ids.ontology_graph, HEARTH.ontologyDigest, None,
                                        home.ids.ontology_graph)), None)
    asserted = home.log.seqs_of_types([E.FactsAsserted])
    return (digest.object.value if digest is not None else None, tuple(asserted))


# ============================================================================================
# 2b/2c. The lexicon and the web, through gather_facts
# ============================================================================================

_LEXICON_RELATIONS = {"Synonym": 0.9, "SimilarTo": 0.8, "RelatedTo": 0.6, "IsA": 0.7,
                      "DerivedFrom": 0.5, "DefinedAs": 0.4, "HasContext": 0.4, "Antonym": 0.0}
_WEB_RELATIONS = {"RelatedTo": 0.7, "Synonym": 0.9, "SimilarTo": 0.8, "IsA": 0.5,
                  "HasProperty": 0.7, "UsedFor": 0.6, "CapableOf": 0.5, "Causes": 0.5,
                  "CausesDesire": 0.6, "MotivatedByGoal": 0.5, "HasSubevent": 0.4,
                  "AtLocation": 0.3, "PartOf": 0.4, "HasA": 0.3, "DefinedAs": 0.4,
                  "MannerOf": 0.5, "Entails": 0.5, "HasPrerequisite": 0.4, "Antonym": 0.0,
                  "DistinctFrom": 0.0, "NotDesires": 0.0, "ExternalURL": 0.0,
                  "EtymologicallyRelatedTo": 0.1, "FormOf": 0.6, "DerivedFrom": 0.5}
# How far a hop through each source is trusted: WordNet's senses are many and unranked by
# context, so its synonyms lead astray more often than ConceptNet's curated relations.
_SOURCE_TRUST = {"wordnet": 0.7, "conceptnet": 0.9, "wikidata": 0.8, "wikipedia": 0.6}
_GLOSS_STOP = {"the", "a", "an", "of", "or", "and", "to", "in", "on", "by", "with", "for", "as",
               "that", "which", "is", "be", "it", "its", "something", "someone", "especially",
               "usually", "having", "being", "not", "very", "from", "at", "into", "up", "out",
               "small", "space", "state", "quality", "make", "made", "cause", "become"}


def _other_end(fact: Fact, term: str) -> str:
    """The end of a fact that is not the term it was asked about (ConceptNet keeps direction)."""
    t = _norm(term)
    if _norm(fact.subject) == t or (t and _norm(fact.subject).endswith(" " + t)):
        return fact.object
    if _norm(fact.object) == t:
        return fact.subject
    return fact.object


def _gloss_words(text: str) -> list[str]:
    words = [w for w in _norm(text).split() if w not in _GLOSS_STOP and len(w) > 2]
    return words[:12]


# ============================================================================================
# 3–5. Candidates, ranking and slots
# ============================================================================================

# Commands of commonsense actions that a catalogue intent carries out under another name, with
# the slot values they imply.
COMMAND_ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "dim": ("set", {"brightness": 30}),
    "brighten": ("set", {"brightness": 100}),
    "volume_down": ("volume_set", {"volume": 20}),
    "volume_up": ("volume_set", {"volume": 70}),
    "play": ("play_media", {}),
    "start": ("turn_on", {}),
    "stop": ("turn_off", {}),
}
#: Comfortable targets when an action only gives a direction (a household or the ontology can
#: say otherwise with ``hearth:targetValue`` on the action).
COMFORT = {("temperature", "up"): 21, ("temperature", "down"): 18}


@dataclass(frozen=True)
class Suggestion:
    """One thing the household could do about an unfamiliar request.

    ``intent``: a catalogue intent id; ``slots``: the slots the facts fill (as
    :class:`reasoner.understanding.SlotValue`); ``score`` 0–1; ``explanation``: one sentence with
    its sources; ``sources``: the facts it rests on; ``action``: the commonsense action kind, if a
    path led to one; ``target``: the device (or area) IRI it acts on; ``phrase``: what it would do,
    in words ("dim the lights in the Living Room")."""

    intent: str
    skill: str | None
    slots: dict
    score: float
    explanation: str
    sources: tuple[Fact, ...]
    phrase: str
    action: str | None = None
    command: str | None = None
    target: str | None = None
    ontology_score: float = 0.0
    embedding_score: float = 0.0

    def to_json(self) -> dict:
        return {
            "intent": self.intent, "skill": self.skill,
            "slots": {k: v.to_json() for k, v in self.slots.items()},
            "score": round(float(self.score), 4), "explanation": self.explanation,
            "sources": [_fact_json(f) for f in self.sources], "phrase": self.phrase,
            "action": self.action, "command": self.command, "target": self.target,
        }


def _fact_json(fact: Fact) -> dict:
    out = {"source": fact.source, "fact": fact.explain().removesuffix(f" ({fact.source})"),
           "subject": fact.subject, "relation": fact.relation, "object": fact.object,
           "url": fact.source_url}
    if fact.fetched_at is not None:
        out["fetched_at"] = format_datetime(fact.fetched_at)
    if fact.license:
        out["license"] = fact.license
    return out


@dataclass(frozen=True)
class Resolution:
    """What resolution made of one utterance: its key terms, every fact gathered (by term),
    the ranked suggestions, the offer to make (``question``, joining the suggestions that
    together answer the request), the sources that failed, and how long it took."""

    text: str
    terms: tuple[KeyTerm, ...]
    facts: dict[str, FactsResult]
    suggestions: tuple[Suggestion, ...]
    question: str | None
    failures: tuple[SourceFailure, ...] = ()
    elapsed_ms: float = 0.0
    online: bool = False
    plan: tuple[int, ...] = ()

    def to_json(self) -> dict:
        return {"text": self.text, "question": self.question,
                "suggestions": [s.to_json() for s in self.suggestions],
                "plan": list(self.plan),
                "terms": [t.text for t in self.terms],
                "failures": [{"source": f.source, "kind": f.kind, "message": f.message}
                             for f in self.failures],
                "online": self.online, "elapsed_ms": round(self.elapsed_ms, 2)}

    def used_facts(self) -> list[Fact]:
        """The facts from outside the graph (lexicon, web) that some suggestion rests on."""
        seen: dict[Fact, None] = {}
        for s in self.suggestions:
            for fact in s.sources:
                if fact.source not in (COMMONSENSE, HOUSEHOLD):
                    seen.setdefault(fact, None)
        return list(seen)


@dataclass
class _Cand:
    intent: IntentSpec
    onto: float = 0.0
    facts: tuple[Fact, ...] = ()
    action: ActionInfo | None = None
    root: str | None = None
    values: dict = field(default_factory=dict)
    emb: float = 0.0


class _IntentIndex:
    """The catalogue's intents as embeddings: each intent's label, samples and what commonsense
    says it does (the labels and comments of the actions it carries out, and of the qualities
    and affordances those achieve), encoded once per catalogue and encoder."""

    def __init__(self, catalogue: Catalogue, knowledge: Commonsense, encoder, lexicon):
        self.intents = catalogue.intents()
        texts, owner = [], []
        for n, intent in enumerate(self.intents):
            for text in _intent_texts(intent, knowledge, lexicon):
                texts.append(text)
                owner.append(n)
        self.owner = np.array(owner)
        labels = sorted(set(knowledge.labels.values()))
        vectors = _encode_cached(encoder, texts + labels)
        self.vectors = vectors[:len(texts)]
        self.texts = texts
        # the concepts' labels, so an utterance is expanded without encoding anything new
        self.labels = dict(zip(labels, vectors[len(texts):]))

    def scores(self, queries: np.ndarray, *, k: int = 3) -> np.ndarray:
        """(queries × intents): the mean of each intent's k most similar texts."""
        sims = queries @ self.vectors.T
        out = np.full((len(queries), len(self.intents)), -1.0, dtype=np.float32)
        for n in range(len(self.intents)):
            cols = sims[:, self.owner == n]
            kk = min(k, cols.shape[1])
            out[:, n] = -np.sort(-cols, axis=1)[:, :kk].mean(axis=1)
        return out


def _intent_texts(intent: IntentSpec, knowledge: Commonsense, lexicon) -> list[str]:
    texts = [intent.label] + [s.text for s in intent.samples]
    about = []
    for action in knowledge.actions.values():
        if _action_intent_match(action, intent, knowledge) is None:
            continue
        about.append(action.label)
        for s, edges in knowledge.edges.items():
            if (H + "achievedBy", action.iri) in edges:
                about.append(knowledge.label(s))
    if about:
        texts.append(f"{intent.label}: " + ", ".join(dict.fromkeys(about)))
    if lexicon is not None:
        head = intent.label.split()[0]
        glosses = lexicon.glosses(head, pos="v", max_senses=1)
        if glosses:
            texts.append(f"{intent.label}: {glosses[0]}")
    return texts


def _action_intent_match(action: ActionInfo, intent: IntentSpec, knowledge: Commonsense
                         ) -> tuple[float, dict] | None:
    """Whether ``intent`` carries out ``action``: the command (or its alias) and a device class
    in common give weight 1, the command alone 0.7; None when the command differs."""
    command, values = action.command, {}
    if intent.command is None:
        return None
    if intent.command != command:
        alias = COMMAND_ALIASES.get(command)
        if alias is None or alias[0] != intent.command:
            return None
        values = dict(alias[1])
    if not action.device_types or not intent.device_types:
        return 1.0, values
    wanted = {H + t for t in intent.device_types}
    for cls in action.device_types:
        if knowledge.device_classes(cls) & wanted:
            return 1.0, values
    return 0.7, values


def _encode_cached(encoder, texts: list[str]) -> np.ndarray:
    """Embeddings of ``texts``, normalized, kept on disk under ``~/.cache/hearth`` (or
    ``$HEARTH_CACHE``) keyed by the encoder and the texts (an encoder without a name: not kept)."""
    from .embeddings import cache_dir
    from .understanding import encode_cached
    cache = cache_dir() if getattr(encoder, "name", None) else None
    return encode_cached(encoder, texts, cache, kind="resolution-intents")


def _normalize(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


# ============================================================================================
# The resolver
# ============================================================================================

class Resolver:
    """Resolves unfamiliar utterances in a household. Holds the encoder, the catalogue, the
    offline lexicon and (optionally) the online sources; one instance serves many households.

    ``encoder``: ``"default"`` (MiniLM, shared with understanding), None (ontology links only),
    or any object with ``encode(texts)``. ``online``: consult the web sources; ``sources``: the
    online sources to use (default: ConceptNet, Wikidata and Wikipedia over
    ``Transport.interactive()``). ``budget_s``: how long the web lookups of one utterance may
    take in all; ``max_online_terms``: how many terms are looked up on the web.
    """

    def __init__(self, *, catalogue: Catalogue | None = None, encoder: Any = "default",
                 lexicon: Any = "default", online: bool = False,
                 sources: Sequence[Any] | None = None, transport: Any = None,
                 budget_s: float = 3.0, max_online_terms: int = 2, max_suggestions: int = 5,
                 min_score: float = 0.2, facts_per_term: int = 20):
        self._catalogue = catalogue
        self._encoder = encoder
        self._lexicon = lexicon
        self.online = online
        self._sources = list(sources) if sources is not None else None
        self._transport = transport
        self.budget_s = budget_s
        self.max_online_terms = max_online_terms
        self.max_suggestions = max_suggestions
        self.min_score = min_score
        self.facts_per_term = facts_per_term
        self._index: dict[tuple, _IntentIndex] = {}
        self._lock = threading.Lock()
        self._extractors: "weakref.WeakKeyDictionary[Household, Any]" = \
            weakref.WeakKeyDictionary()

    # -- parts -----------------------------------------------------------------------------
    @property
    def lexicon(self):
        if self._lexicon == "default":
            self._lexicon = _lexicon()
        return self._lexicon

    @property
    def encoder(self):
        if self._encoder == "default":
            try:
                from .understanding import default_encoder
                self._encoder = default_encoder()
            except HearthError as err:
                log.warning("no sentence encoder (%s): ranking by ontology links only", err)
                self._encoder = None
        return self._encoder

    def sources(self) -> list[Any]:
        """The online knowledge sources (built on first use)."""
        if self._sources is None:
            from connectors.facts import default_sources
            from connectors.transport import Transport
            transport = self._transport or Transport.interactive()
            self._sources = default_sources(transport, online=True)[1:]
        return self._sources

    def catalogue(self, home: Household) -> Catalogue:
        if self._catalogue is not None:
            return self._catalogue
        try:
            return Catalogue.from_household(home)
        except HearthError:
            return Catalogue.load()

    def _intent_index(self, home: Household, catalogue: Catalogue, knowledge: Commonsense
                      ) -> _IntentIndex | None:
        encoder = self.encoder
        if encoder is None:
            return None
        key = (id(encoder), tuple(sorted(i.id for i in catalogue.intents())),
               _knowledge_key(home)[0])
        with self._lock:
            index = self._index.get(key)
        if index is None:
            index = _IntentIndex(catalogue, knowledge, encoder, self.lexicon)
            with self._lock:
                self._index[key] = index
        return index

    def _extractor(self, home: Household):
        from .slots import SlotExtractor
        ex = self._extractors.get(home)
        if ex is None:
            ex = self._extractors[home] = SlotExtractor(home)
        return ex

    # -- facts ---------------------------------------------------------------------------------
    def gather(self, terms: Sequence[KeyTerm], *, online: bool | None = None
               ) -> tuple[dict[str, FactsResult], list[SourceFailure]]:
        """Facts about each term from the lexicon and, when online, the web sources (in
        parallel, within ``budget_s``)."""
        online = self.online if online is None else online
        results: dict[str, list[Fact]] = {}
        failures: list[SourceFailure] = []
        lex = self.lexicon
        looked = [t for t in terms if t.weight >= 0.5]
        if lex is not None:
            for t in looked:
                got = gather_facts(t.lemma, [lex], limit=self.facts_per_term)
                results.setdefault(t.lemma, []).extend(got.facts)
                failures.extend(got.failures)
        if online:
            # the content words and known phrases, not the frames around them
            web_terms = [t for t in looked if t.weight >= 0.9][:self.max_online_terms]
            failures.extend(self._gather_online(web_terms, results))
        out = {term: FactsResult(term, tuple(facts)) for term, facts in results.items()}
        return out, failures

    def _gather_online(self, terms: Sequence[KeyTerm], results: dict[str, list[Fact]]
                       ) -> list[SourceFailure]:
        sources = self.sources()
        jobs = [(t.lemma, s) for t in terms for s in sources]
        if not jobs:
            return []
        failures: list[SourceFailure] = []
        pool = cf.ThreadPoolExecutor(max_workers=min(8, len(jobs)),
                                     thread_name_prefix="hearth-resolution")
        futures = {pool.submit(gather_facts, term, [source], limit=self.facts_per_term):
                   (term, source) for term, source in jobs}
        try:
            done, pending = cf.wait(futures, timeout=self.budget_s)
            for fut in done:
                term, source = futures[fut]
                name = getattr(source, "name", type(source).__name__)
                try:
                    got = fut.result()
                except Exception as err:  # a bug in a source must not sink the answer
                    failures.append(SourceFailure(name, type(err).__name__, str(err)))
                    continue
                results.setdefault(term, []).extend(got.facts)
                failures.extend(got.failures)
            for fut in pending:
                term, source = futures[fut]
                name = getattr(source, "name", type(source).__name__)
                failures.append(SourceFailure(
                    name, "ConnectorTimeout", f"{name}: no answer about {term!r} within the "
                    f"{self.budget_s:.1f} s budget of an interactive lookup"))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return failures

    # -- the whole thing -------------------------------------------------------------------
    def resolve(self, home: Household, text: str, *, device: str | None = None,
                speaker: str | None = None, time: dt.datetime | None = None,
                online: bool | None = None) -> Resolution:
        """Suggestions for an unfamiliar ``text`` said in ``home`` (heard by ``device``)."""
        if not isinstance(text, str) or not text.strip():
            raise ResolutionError(f"resolve() needs the words of an utterance, got {text!r}")
        started = _now()
        online = self.online if online is None else online
        knowledge = Commonsense.of(home)
        catalogue = self.catalogue(home)
        terms = key_terms(text, phrases=knowledge.phrases, lexicon=self.lexicon)
        facts, failures = self.gather(terms, online=online)
        roots = self._roots(terms, facts, knowledge)
        cands = self._candidates(roots, catalogue, knowledge)
        mentions = self._extractor(home).extract(text, now=time)
        index = self._intent_index(home, catalogue, knowledge)
        if index is not None:
            self._embed(text, roots, knowledge, index, cands)
        suggestions = self._rank(home, text, cands, mentions, device, knowledge)
        plan = _plan(suggestions)
        question = _question(text, suggestions, plan)
        return Resolution(text, tuple(terms), facts, tuple(suggestions), question,
                          tuple(failures), (_now() - started) * 1000.0, bool(online),
                          tuple(plan))

    def _roots(self, terms: Sequence[KeyTerm], facts: Mapping[str, FactsResult],
               knowledge: Commonsense) -> dict[str, Path_]:
        """The commonsense concepts the terms lead to, each with its best path (the term's own
        words first, then the objects of the lexicon's and the web's facts about it)."""
        roots: dict[str, Path_] = {}

        def add(concept: str, weight: float, path: tuple[Fact, ...]) -> None:
            if weight <= 0:
                return
            old = roots.get(concept)
            if old is None or old.weight < weight - 1e-9:
                roots[concept] = Path_(weight, path)

        for t in terms:
            for form in t.forms:
                for concept, how in knowledge.concepts_for(form):
                    w = t.weight * (1.0 if how in ("label", "keyword") else 0.9)
                    same = how == "label" and _norm(form) == _norm(knowledge.label(concept))
                    add(concept, w, () if same else
                        (knowledge.word_fact(t.text, concept, how),))
            got = facts.get(t.lemma)
            if got is None:
                continue
            for fact in got.facts:
                rel_w = (_LEXICON_RELATIONS if fact.source == "wordnet" else
                         _WEB_RELATIONS).get(fact.relation, 0.3)
                if rel_w <= 0:
                    continue
                other = _other_end(fact, t.lemma)
                gloss = fact.relation == "DefinedAs"
                words = _gloss_words(other) if gloss else [other]
                for word in words:
                    for concept, how in knowledge.concepts_for(word):
                        if gloss and how != "label":
                            continue  # a word of a definition, read as another's synonym: too far
                        w = t.weight * rel_w * max(0.3, min(1.0, fact.weight)) * (
                            0.85 if how in ("label", "keyword") else 0.75) * (
                            0.6 if gloss else 1.0) * _SOURCE_TRUST.get(fact.source, 0.8)
                        same = how == "label" and _norm(word) == _norm(knowledge.label(concept))
                        add(concept, w, (fact,) if same else
                            (fact, knowledge.word_fact(word, concept, how)))
        return roots

    def _candidates(self, roots: Mapping[str, Path_], catalogue: Catalogue,
                    knowledge: Commonsense) -> dict[tuple[str, str | None], _Cand]:
        """Intents that carry out the actions the roots lead to. The evidence of several paths
        (from several terms, or through several concepts) adds up as a noisy-OR."""
        intents = catalogue.intents()
        reasons: dict[str, list[tuple[float, tuple[Fact, ...], str]]] = {}
        for root, start in roots.items():
            for action, paths in knowledge.action_paths(root).items():
                for path in paths:
                    reasons.setdefault(action, []).append(
                        (start.weight * path.weight, start.facts + path.facts, root))
        cands: dict[tuple[str, str | None], _Cand] = {}
        for action_iri, why in reasons.items():
            action = knowledge.actions[action_iri]
            why.sort(key=lambda r: -r[0])
            miss = 1.0
            for w, _, _ in why[:4]:
                miss *= 1.0 - min(1.0, w)
            weight = 1.0 - miss
            facts = _dedupe(f for _, fs, _ in why[:2] for f in fs)
            matches = [(intent, _action_intent_match(action, intent, knowledge))
                       for intent in intents]
            matches = [(i, m) for i, m in matches if m is not None]
            if any(m[0] >= 1.0 for _, m in matches):  # a class mismatch only as a last resort
                matches = [(i, m) for i, m in matches if m[0] >= 1.0]
            for intent, (mw, values) in matches:
                cands[(intent.id, action_iri)] = _Cand(intent, weight * mw, facts, action,
                                                       why[0][2], values)
        return cands

    def _embed(self, text: str, roots: Mapping[str, Path_], knowledge: Commonsense,
               index: _IntentIndex, cands: dict) -> None:
        """Embedding similarity between the utterance (alone, and moved towards the concepts
        its words lead to) and every intent; adds the intents the ontology did not reach. Only
        the utterance is encoded: the concepts' labels were encoded with the intents."""
        vec = _normalize(self.encoder.encode([text]))[0]
        queries = [vec]
        related = sorted(((p.weight, knowledge.label(c)) for c, p in roots.items()
                          if knowledge.label(c) in index.labels), reverse=True)[:6]
        if related:
            total = sum(w for w, _ in related)
            mean = sum(w * index.labels[label] for w, label in related) / total
            queries.append(vec + 0.6 * mean)
        sims = index.scores(_normalize(np.stack(queries)))
        sim = sims.max(axis=0)
        by_intent = {i.id: n for n, i in enumerate(index.intents)}
        for cand in cands.values():
            n = by_intent.get(cand.intent.id)
            if n is not None:
                cand.emb = float(sim[n])
        for n in np.argsort(-sim)[:3]:
            intent = index.intents[n]
            if not any(k[0] == intent.id for k in cands):
                cands[(intent.id, None)] = _Cand(intent, 0.0, (), None, None, {}, float(sim[n]))

    def _rank(self, home: Household, text: str, cands: Mapping, mentions, device: str | None,
              knowledge: Commonsense) -> list[Suggestion]:
        out: list[Suggestion] = []
        for cand in cands.values():
            emb = float(np.clip((cand.emb - 0.2) / 0.5, 0.0, 1.0))
            if cand.onto > 0:
                score = (0.6 * min(1.0, cand.onto) + 0.4 * emb) if self._encoder is not None \
                    else 0.75 * min(1.0, cand.onto)
            else:
                score = 0.55 * emb
            slots, target, phrase, fit = _fill(home, cand, mentions, device, knowledge, text)
            score *= fit
            if score < self.min_score:
                continue
            sources = _dedupe(cand.facts)
            out.append(Suggestion(
                cand.intent.id, cand.intent.skill, slots, round(score, 4),
                _explanation(text, phrase, sources), sources, phrase,
                cand.action.iri if cand.action else None,
                cand.intent.command, target, round(cand.onto, 4), round(cand.emb, 4)))
        out.sort(key=lambda s: (-s.score, s.intent))
        best: dict[str, Suggestion] = {}
        for s in out:  # one suggestion per intent and target
            best.setdefault(f"{s.intent}|{s.target}", s)
        ranked = list(best.values())
        return ranked[:self.max_suggestions]


def _now() -> float:
    return time.perf_counter()


def _dedupe(facts: Iterable[Fact]) -> tuple[Fact, ...]:
    return tuple(dict.fromkeys(facts))


# -- slots ---------------------------------------------------------------------------------------

def _fill(home: Household, cand: _Cand, mentions, heard_by: str | None,
          knowledge: Commonsense, text: str):
    """The slots a suggestion can fill, the node it acts on, a phrase for it, and a factor for
    how well the household can do it (no device of the kind: 0.5)."""
    from .understanding import SlotValue

    intent, action = cand.intent, cand.action
    state, ids = home.state, home.ids
    slots: dict[str, SlotValue] = {}
    slot_names = {s.name: s for s in intent.slots}
    areas = [m for m in mentions if m.label == "AREA" and m.nodes]
    named = [m for m in mentions if m.label == "DEVICE" and m.nodes]
    quantities = {m.label: m for m in mentions if m.value is not None}
    area_iri = areas[0].nodes[0] if areas else None
    area_source = "text" if area_iri else None
    if area_iri is None and heard_by and heard_by in state.devices:
        where = state.devices[heard_by].area
        if where:
            area_iri, area_source = ids.area(where).value, "context"
    # the devices the action (or intent) can act on
    wanted: set[str] = set()
    if action is not None and action.device_types:
        wanted = set(action.device_types)
    elif intent.device_types:
        wanted = {H + t for t in intent.device_types}
    kinds = set(action.object_kinds) if action is not None else set()
    from kg.events import DEVICE_KINDS
    devices = []
    for d in state.devices.values():
        cls = DEVICE_KINDS.get(d.kind or "device", DEVICE_KINDS["device"]).value
        supers = knowledge.device_classes(cls)
        named_kind = any(_norm(knowledge.label(k)) in _norm(d.name) or any(
            w in _norm(d.name).split() for w, entries in knowledge.words.items()
            if any(c == k for c, _ in entries) and " " not in w) for k in kinds)
        if kinds and named_kind:
            devices.append(d)
        elif wanted and supers & wanted and not kinds:
            devices.append(d)
    named_iris = {n for m in named for n in m.nodes}
    if named_iris:
        chosen = [d for d in devices if ids.device(d.id).value in named_iris]
        devices = chosen or devices
    if area_iri:
        here = [d for d in devices if d.area and ids.area(d.area).value == area_iri]
        devices = here or devices
    fit = 1.0
    if (wanted or kinds) and not devices and intent.device_types:
        fit = 0.5
    direction = action.direction if action is not None else None
    if devices and area_iri is None and len({d.area for d in devices}) > 1:
        # where devices of the kind are on: the room in use (dimming a light that is off, or
        # turning off one that is, makes no sense either)
        on = [d for d in devices if str(state.device_state(d.id)).lower() in ("on", "playing",
                                                                             "heat", "open")]
        if on and (direction == "down" or (action and action.command in ("turn_off", "dim",
                                                                        "pause", "close"))):
            devices = on
        if len({d.area for d in devices}) > 1 and on and len({d.area for d in on}) == 1:
            devices = [d for d in devices if d.area == on[0].area]
    fit *= _state_fit(action.command if action is not None else intent.command, devices, state)
    target = None
    if len(devices) == 1:
        d = devices[0]
        target = ids.device(d.id).value
        if "name" in slot_names:
            slots["name"] = SlotValue(d.name, target, None, "resolution", 1.0)
    areas_of = {d.area for d in devices if d.area}
    if area_iri is None and len(areas_of) == 1:
        area_iri = ids.area(next(iter(areas_of))).value
        area_source = "resolution"
    if area_iri and "area" in slot_names:
        local = area_iri.rsplit(":", 1)[-1]
        from urllib.parse import unquote
        thing = state.areas.get(unquote(local))
        slots["area"] = SlotValue(thing.name if thing else local, area_iri, None,
                                  area_source or "resolution", 1.0)
        if target is None:
            target = area_iri
    # values: said in the utterance, else implied by the action
    for name, spec in slot_names.items():
        if name in slots:
            continue
        said = None
        if spec.type == "Temperature":
            said = quantities.get("TEMPERATURE") or quantities.get("NUMBER")
        elif spec.type == "Percentage":
            said = quantities.get("PERCENT")
        if said is not None:
            from .slots import to_json_value
            value = said.value if spec.type != "Temperature" or said.label == "TEMPERATURE" \
                else {"value": said.value, "unit": None}
            slots[name] = SlotValue(to_json_value(value), None, (said.start, said.end),
                                    "parser", 1.0)
            continue
        if name in cand.values:
            slots[name] = SlotValue(cand.values[name], None, None, "commonsense", 0.8)
        elif spec.type == "Temperature" and action is not None and action.attribute == \
                "temperature" and direction in ("up", "down"):
            slots[name] = SlotValue({"value": _target_temperature(state, devices, direction,
                                                                  knowledge, action),
                                     "unit": "°C"}, None, None, "commonsense", 0.7)
    return slots, target, _phrase(intent, action, slots, devices, state), fit


_ACTIVE = {"on", "playing", "heat", "cool", "heat_cool", "auto", "open", "opening", "unlocked",
           "cleaning", "paused"}
_NEEDS_ACTIVE = {"turn_off", "pause", "dim", "volume_down", "stop", "close"}
_NEEDS_IDLE = {"turn_on", "play", "start", "open"}


def _state_fit(command: str | None, devices, state) -> float:
    """Dimming, pausing or switching off needs something on; switching on, something off. A
    suggestion the household's state makes pointless counts less (unknown states count as
    either)."""
    if not devices or command is None:
        return 1.0
    states = [str(state.device_state(d.id)).lower() for d in devices
              if state.device_state(d.id) is not None]
    if not states:
        return 0.8 if command in _NEEDS_ACTIVE else 1.0
    active = [s in _ACTIVE and s != "paused" for s in states]
    if command in _NEEDS_ACTIVE and not any(active):
        return 0.6
    if command in _NEEDS_IDLE and all(active):
        return 0.6
    return 1.0


def _target_temperature(state, devices, direction: str, knowledge: Commonsense,
                        action: ActionInfo) -> float | int:
    default = knowledge.target_values.get(action.iri, COMFORT.get(("temperature", direction)))
    current = None
    for d in devices:
        value = state.device_state(d.id, "temperature")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            current = value
            break
    if current is None:
        return default
    if direction == "up":
        return current + 1 if current >= default else default
    return current - 1 if current <= default else default


def _phrase(intent: IntentSpec, action: ActionInfo | None, slots: dict, devices, state) -> str:
    what = action.label if action is not None else intent.label
    if "name" in slots:
        dev = slots["name"].value
        words = what.split()
        # "dim the lights" on one lamp: "dim the Living Room Lamp"
        if action is not None and len(words) >= 3 and words[1] == "the":
            what = f"{words[0]} the {dev}" + (" " + " ".join(words[3:]) if len(words) > 3
                                               else "")
        else:
            what = f"{what}: {dev}"
    elif "area" in slots:
        what = f"{what} in the {slots['area'].value}"
    for name in ("temperature", "brightness", "volume", "position"):
        if name in slots:
            value = slots[name].value
            if isinstance(value, dict):
                shown = f"{_num(value.get('value'))} {value.get('unit') or '°'}".strip()
            else:
                shown = f"{_num(value)} %"
            what = f"{what} to {shown}" if name != "temperature" or "set" not in what \
                else f"{what} to {shown}"
    return what


def _num(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _explanation(text: str, phrase: str, sources: Sequence[Fact]) -> str:
    because = _because(sources)
    return f"'{text}' → {phrase}?" + (f" {because}" if because else "")


def _because(sources: Sequence[Fact], limit: int = 3) -> str:
    """The facts a suggestion rests on as one clause, grouped by source: "cozy is dim and cozy
    is warm (commonsense); cozy is related to warm (conceptnet)"."""
    groups: dict[str, list[str]] = {}
    for fact in sources:
        clause = fact.explain().removesuffix(f" ({fact.source})")
        groups.setdefault(fact.source or "?", [])
        if clause not in groups[fact.source or "?"]:
            groups[fact.source or "?"].append(clause)
    parts = []
    order = sorted(groups, key=lambda s: (s == COMMONSENSE, s))  # cite outside sources first
    for source in order:
        clauses = groups[source][:limit]
        parts.append(f"{' and '.join(clauses)} ({_source_name(source)})")
    return "; ".join(parts)


def _source_name(source: str) -> str:
    return {"conceptnet": "ConceptNet", "wordnet": "WordNet", "wikidata": "Wikidata",
            "wikipedia": "Wikipedia", COMMONSENSE: "commonsense"}.get(source, source)


def _plan(suggestions: Sequence[Suggestion]) -> list[int]:
    """The suggestions that together answer the request: the best one, and those from other
    actions of the same request that score nearly as well ("cozy": dim the lights and warm
    the room)."""
    if not suggestions:
        return []
    best = suggestions[0]
    plan = [0]
    if best.action is None:
        return plan
    seen_intents = {best.intent}
    for n, s in enumerate(suggestions[1:], start=1):
        if s.action is None or s.intent in seen_intents or s.score < 0.75 * best.score:
            continue
        plan.append(n)
        seen_intents.add(s.intent)
        if len(plan) == 3:
            break
    return plan


def _question(text: str, suggestions: Sequence[Suggestion], plan: Sequence[int]) -> str | None:
    if not plan:
        return None
    chosen = [suggestions[n] for n in plan]
    phrases = [s.phrase for s in chosen]
    said = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    because = _because(_dedupe(f for s in chosen for f in s.sources[:2]))
    return f"'{text}' → {said}?" + (f" {because}" if because else "")


# ============================================================================================
# The process-wide resolver
# ============================================================================================

_DEFAULT: dict[bool, Resolver] = {}
_DEFAULT_LOCK = threading.Lock()


def default_resolver(*, online: bool = False) -> Resolver:
    with _DEFAULT_LOCK:
        if online not in _DEFAULT:
            _DEFAULT[online] = Resolver(online=online)
        return _DEFAULT[online]


def resolve(home: Household, text: str, *, online: bool = False, device: str | None = None,
            speaker: str | None = None, time: dt.datetime | None = None) -> Resolution:
    """Suggestions for an unfamiliar utterance said in ``home`` (see the module docstring).
    ``online``: also ask ConceptNet, Wikidata and Wikipedia (interactive timeouts; answers come
    from the on-disk cache when they are there)."""
    return default_resolver(online=online).resolve(home, text, device=device,
                                                   speaker=speaker, time=time)


# ============================================================================================
# Events: facts fetched, and the suggestions
# ============================================================================================

FACTS_FETCHED = NamedNode(H + "FactsFetched")
FETCHED_FACT = NamedNode(H + "FetchedFact")
P_TERM = NamedNode(H + "term")
P_SOURCE = NamedNode(H + "source")
P_FETCHED_AT = NamedNode(H + "fetchedAt")
P_FACT = NamedNode(H + "fact")
P_SUBJECT = NamedNode(H + "factSubject")
P_RELATION = NamedNode(H + "factRelation")
P_OBJECT = NamedNode(H + "factObject")
P_WEIGHT = NamedNode(H + "weight")
P_SURFACE = NamedNode(H + "surfaceText")
_PRIMARY = NamedNode("http://www.w3.org/ns/prov#hadPrimarySource")
_LICENSE = NamedNode("http://purl.org/dc/terms/license")


@register_event_type
@dataclass(frozen=True, kw_only=True)
class FactsFetched(E.Event):
    """Facts about a ``term`` that a knowledge source (``source``: conceptnet, wikidata,
    wikipedia, wordnet …) gave, attributed to that source, with ``fetched_at``: when the answer
    left the service (for a cached answer, when it was first fetched; absent for offline data).
    ``facts``: a list of ``{subject, relation, object, weight, url, license, surface_text}``.
    ``derived_from``: the reading of the utterance the facts were fetched for, if any.

    In RDF each fact is a node of its own in the event's graph::

        <…event:57> a hearth:FactsFetched ; prov:wasAttributedTo <https://conceptnet.io/> ;
            prov:wasDerivedFrom <…event:56> ; hearth:term "toasty" ; hearth:source "conceptnet" ;
            hearth:fetchedAt "2026-…"^^xsd:dateTime ; hearth:fact <…fact:57.1> .
        <…fact:57.1> a hearth:FetchedFact ; hearth:factSubject "toasty" ;
            hearth:factRelation "RelatedTo" ; hearth:factObject "warm" ; hearth:weight 0.67 ;
            prov:hadPrimarySource <https://api.conceptnet.io/a/…> ;
            dcterms:license "CC-BY-4.0" ; hearth:surfaceText "[[toasty]] is related to [[warm]]" .
    """

    term: str = f("text", P_TERM)
    source: str = f("text", P_SOURCE)
    facts: Any = f("json")
    fetched_at: dt.datetime | None = f("time", P_FETCHED_AT, required=False)
    rdf_type: ClassVar = FACTS_FETCHED

    def default_by(self) -> str:
        return SOURCE_AGENTS.get(self.source, f"https://w3id.org/hearth/source/{self.source}")

    def check(self) -> None:
        if not isinstance(self.facts, (list, tuple)):
            raise EventError("FactsFetched.facts must be a list of facts", field="facts")
        for n, item in enumerate(self.facts, start=1):
            if not isinstance(item, dict) or not all(
                    isinstance(item.get(k), str) and item.get(k) for k in
                    ("subject", "relation", "object")):
                raise EventError(f"FactsFetched.facts[{n}] needs 'subject', 'relation' and "
                                 "'object' strings", field="facts")

    def payload(self, ev, seq, ids):
        out = super().payload(ev, seq, ids)
        for n, item in enumerate(self.facts, start=1):
            node = ids.node("fact", f"{seq}.{n}")
            out += [(ev, P_FACT, node), (node, RDF.type, FETCHED_FACT),
                    (node, P_SUBJECT, Literal(item["subject"])),
                    (node, P_RELATION, Literal(item["relation"])),
                    (node, P_OBJECT, Literal(item["object"]))]
            if item.get("weight") is not None:
                out.append((node, P_WEIGHT, Literal(repr(float(item["weight"])),
                                                    datatype=XSD.double)))
            if item.get("url"):
                try:
                    out.append((node, _PRIMARY, NamedNode(item["url"])))
                except ValueError:
                    out.append((node, _PRIMARY, Literal(item["url"])))
            if item.get("license"):
                out.append((node, _LICENSE, Literal(item["license"])))
            if item.get("surface_text"):
                out.append((node, P_SURFACE, Literal(item["surface_text"])))
        return out

    @classmethod
    def _from_rdf(cls, ev, props, quads, ids):
        by_node: dict = {}
        for q in quads:
            if q.subject != ev:
                by_node.setdefault(q.subject, {})[q.predicate] = q.object
        facts = []
        nodes = sorted(props.get(P_FACT, ()), key=lambda n: int(n.value.rsplit(".", 1)[-1]))
        for node in nodes:
            about = by_node.get(node, {})
            item = {"subject": about[P_SUBJECT].value, "relation": about[P_RELATION].value,
                    "object": about[P_OBJECT].value}
            if P_WEIGHT in about:
                item["weight"] = to_python(about[P_WEIGHT])
            if _PRIMARY in about:
                item["url"] = about[_PRIMARY].value
            if _LICENSE in about:
                item["license"] = about[_LICENSE].value
            if P_SURFACE in about:
                item["surface_text"] = about[P_SURFACE].value
            facts.append(item)
        return cls(time=to_python(props[PROV.generatedAtTime][0]),
                   by=E.agent_ref(props[PROV.wasAttributedTo][0], ids),
                   derived_from=tuple(props.get(PROV.wasDerivedFrom, ())),
                   term=props[P_TERM][0].value, source=props[P_SOURCE][0].value,
                   facts=facts,
                   fetched_at=to_python(props[P_FETCHED_AT][0]) if P_FETCHED_AT in props
                   else None)


def describe_facts_fetched(event: FactsFetched, state) -> str:
    """A timeline sentence for fetched facts."""
    return (f"Looked up '{event.term}' in {_source_name(event.source)}: "
            f"{len(event.facts)} fact{'s' if len(event.facts) != 1 else ''}")


def _fact_item(fact: Fact) -> dict:
    item = {"subject": fact.subject, "relation": fact.relation, "object": fact.object,
            "weight": round(float(fact.weight), 4)}
    if fact.source_url:
        item["url"] = fact.source_url
    if fact.license:
        item["license"] = fact.license
    if fact.surface_text:
        item["surface_text"] = fact.surface_text
    return item


def fetched_events(resolution: Resolution, *, time: dt.datetime,
                   derived_from: Sequence[NamedNode] = (), limit: int = 20
                   ) -> list[FactsFetched]:
    """One :class:`FactsFetched` per source and term: every fact the web sources gave, and the
    lexicon's facts that some suggestion rests on (the rest can be looked up again offline)."""
    used = set(resolution.used_facts())
    groups: dict[tuple[str, str], list[Fact]] = {}
    for term, got in resolution.facts.items():
        for fact in got.facts:
            if fact.source in (COMMONSENSE, HOUSEHOLD):
                continue
            if fact.source == "wordnet" and fact not in used:
                continue
            groups.setdefault((fact.source, term), []).append(fact)
    out = []
    for (source, term), facts in groups.items():
        facts = sorted(facts, key=lambda x: (x not in used, -x.weight))[:limit]
        when = [x.fetched_at for x in facts if x.fetched_at is not None]
        fetched = min(when) if when else None
        if fetched is not None and fetched.tzinfo is None:
            fetched = fetched.replace(tzinfo=dt.timezone.utc)
        out.append(FactsFetched(time=time, term=term, source=source,
                                facts=[_fact_item(x) for x in facts], fetched_at=fetched,
                                derived_from=tuple(derived_from)))
    return out


def suggestion_events(resolution: Resolution, *, time: dt.datetime,
                      derived_from: Sequence[NamedNode],
                      fetched: Mapping[tuple[str, str], NamedNode] | None = None,
                      limit: int = 3) -> list[SuggestionMade]:
    """A ``SuggestionMade`` (kind "resolution") for each suggestion of the plan (or the best
    ones), derived from the utterance's reading and from the ``FactsFetched`` events
    (``fetched``: (source, term) → event IRI) holding the facts it rests on."""
    fetched = fetched or {}
    picks = list(resolution.plan) or list(range(min(1, len(resolution.suggestions))))
    out = []
    for n in picks[:limit]:
        s = resolution.suggestions[n]
        evidence = list(derived_from)
        for fact in s.sources:
            for (source, term), iri in fetched.items():
                if source == fact.source and iri not in evidence and any(
                        fact in got.facts for t, got in resolution.facts.items() if t == term):
                    evidence.append(iri)
        out.append(SuggestionMade(time=time, by=AGENT, text=s.explanation, kind="resolution",
                                  target=s.target, action=s.command,
                                  confidence=float(round(min(1.0, max(0.0, s.score)), 4)),
                                  intent=s.intent,
                                  slots={k: v.to_json() for k, v in s.slots.items()} or None,
                                  derived_from=tuple(evidence)))
    return out


def resolution_events(resolution: Resolution, *, time: dt.datetime,
                      derived_from: Sequence[NamedNode], head: int, ids) -> list[E.Event]:
    """The events that record a resolution in one batch appended after ``head``: the
    ``FactsFetched`` first, then the suggestions, which cite them by the sequence numbers they
    will get (use only when the batch is appended at once, as :func:`main` does)."""
    facts = fetched_events(resolution, time=time, derived_from=derived_from)
    iris = {(e.source, e.term): ids.event(head + 1 + n) for n, e in enumerate(facts)}
    return [*facts, *suggestion_events(resolution, time=time, derived_from=derived_from,
                                       fetched=iris)]


# ============================================================================================
# The pipeline component
# ============================================================================================

class ResolutionComponent:
    """The ``resolution`` component: for each ``UtteranceInterpreted`` that is out of scope,
    resolves the utterance and concludes ``FactsFetched`` events (the facts from outside the
    graph) and then, once they are in the log, ``SuggestionMade`` events citing them."""

    name = "resolution"

    def __init__(self, resolver: Resolver | None = None):
        self._resolver = resolver
        self._pending: dict[str, tuple[Resolution, dt.datetime]] = {}
        self._lock = threading.Lock()

    @property
    def consumes(self):
        from .understanding import UtteranceInterpreted
        return (UtteranceInterpreted, FactsFetched)

    @property
    def produces(self):
        return (FactsFetched, SuggestionMade)

    @property
    def resolver(self) -> Resolver:
        if self._resolver is None:
            self._resolver = default_resolver(online=False)
        return self._resolver

    def process(self, home: Household, appended: Sequence[Appended]) -> list[E.Event]:
        from .understanding import UtteranceInterpreted
        out: list[E.Event] = []
        fetched: dict[str, dict[tuple[str, str], NamedNode]] = {}
        for a in appended:
            event = a.event
            if isinstance(event, FactsFetched):
                for ref in event.derived_from:
                    if ref.value in self._pending:
                        fetched.setdefault(ref.value, {})[(event.source, event.term)] = a.iri
                continue
            if not isinstance(event, UtteranceInterpreted) or not event.out_of_scope:
                continue
            heard = self._heard(home, event)
            if heard is None:
                continue
            try:
                resolution = self.resolver.resolve(home, heard.text, device=heard.device,
                                                   speaker=heard.speaker, time=heard.time)
            except HearthError as err:
                log.warning("could not resolve %r: %s", heard.text, err)
                continue
            facts = fetched_events(resolution, time=event.time, derived_from=(a.iri,))
            if facts:
                with self._lock:
                    self._pending[a.iri.value] = (resolution, event.time)
                out.extend(facts)
            else:
                out.extend(suggestion_events(resolution, time=event.time, derived_from=(a.iri,)))
        for key, iris in fetched.items():
            with self._lock:
                resolution, when = self._pending.pop(key)
            out.extend(suggestion_events(resolution, time=when, derived_from=(NamedNode(key),),
                                         fetched=iris))
        return out

    @staticmethod
    def _heard(home: Household, event) -> E.UtteranceHeard | None:
        for ref in event.derived_from:
            try:
                source = home.event(home.ids.seq_of(ref))
            except (ValueError, EventError):
                continue
            if isinstance(source, E.UtteranceHeard):
                return source
        return None


@register_component("resolution")
def resolution_component(*, resolver: Resolver | None = None, **config) -> ResolutionComponent:
    """The ``resolution`` component. ``config`` goes to :class:`Resolver`; it is offline unless
    ``online=True`` (the pipeline runs while a person waits: web lookups are opt-in)."""
    if resolver is None and config:
        resolver = Resolver(**config)
    return ResolutionComponent(resolver)


# ============================================================================================
# hearth resolve "TEXT" --household H [--json]
# ============================================================================================

def main(argv: Sequence[str] | None = None) -> int:
    """``hearth resolve "TEXT" --household H [--dir DIR] [--offline|--online] [--json]``:
    prints the suggestions, and with ``--json`` one JSON object as the last line:
    ``{"suggestions": [{"intent", "slots", "score", "explanation", "sources", …}], "question",
    …}``. ``--record`` also appends the utterance, the facts fetched and the suggestions to the
    household's log."""
    import argparse

    parser = argparse.ArgumentParser(prog="hearth resolve", description=(
        "Suggest what an unfamiliar request could mean, from the household's graph, "
        "commonsense, the offline lexicon and (online) ConceptNet, Wikidata and Wikipedia."))
    parser.add_argument("text", help="the utterance")
    parser.add_argument("--household", "-H", required=True, help="the household id")
    parser.add_argument("--dir", default=os.environ.get("HEARTH_HOME"),
                        help="the hearth folder (default: ./.hearth, or $HEARTH_HOME)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--online", dest="online", action="store_true", default=None,
                      help="also ask the web sources (default unless HEARTH_OFFLINE is set)")
    mode.add_argument("--offline", dest="online", action="store_false",
                      help="use only the graph, commonsense and the offline lexicon")
    parser.add_argument("--device", help="the device that heard it (for the room)")
    parser.add_argument("--speaker", help="who said it")
    parser.add_argument("--limit", type=int, default=5, help="how many suggestions")
    parser.add_argument("--no-embeddings", action="store_true",
                        help="rank by ontology links only (no sentence encoder)")
    parser.add_argument("--record", action="store_true",
                        help="append the utterance, fetched facts and suggestions to the log")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    online = args.online
    if online is None:
        online = os.environ.get("HEARTH_OFFLINE", "").strip().lower() not in (
            "1", "true", "yes", "on")
    from kg.household import Hearth
    try:
        hearth = Hearth.open(Path(args.dir or ".hearth"))
    except HearthError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        try:
            home = hearth.household(args.household)
        except HearthError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        resolver = Resolver(online=online, max_suggestions=args.limit,
                            encoder=None if args.no_embeddings else "default")
        resolution = resolver.resolve(home, args.text, device=args.device, speaker=args.speaker)
        if args.record:
            now = dt.datetime.now(dt.timezone.utc)
            heard = home.append(E.UtteranceHeard(time=now, text=args.text, speaker=args.speaker,
                                                 device=args.device))
            home.append_many(resolution_events(resolution, time=now, derived_from=(heard.iri,),
                                               head=home.head, ids=home.ids))
        _print(resolution)
        if args.json:
            print(json.dumps(resolution.to_json(), ensure_ascii=False))
    finally:
        hearth.close()
    return 0


def _print(resolution: Resolution) -> None:
    if resolution.question:
        print(resolution.question)
    if not resolution.suggestions:
        print(f"No suggestion for '{resolution.text}': nothing the household can do is linked "
              "to its words.")
    for n, s in enumerate(resolution.suggestions, start=1):
        slots = ", ".join(f"{k}={v.value}" for k, v in s.slots.items())
        print(f"{n}. {s.intent} ({s.score:.2f}){': ' + slots if slots else ''}")
    for fail in resolution.failures:
        print(f"   ({fail.source} not consulted: {fail.kind})")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


# ============================================================================================
# Explaining a suggestion's score: the words and facts it rests on (reasoner.explain)
# ============================================================================================

class _CachingEncoder:
    """An encoder that encodes each distinct text once (re-scoring many masked utterances)."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.cache: dict[str, np.ndarray] = {}
        self.name = getattr(encoder, "name", None)
        self.dim = getattr(encoder, "dim", None)

    def encode(self, texts):
        texts = list(texts)
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            self.cache.update(zip(todo, np.asarray(self.encoder.encode(todo))))
        return np.stack([self.cache[t] for t in texts])


_WORD_SPAN = re.compile(r"[\w'’-]+")


def _same_suggestion(s: Suggestion, intent: str, command: str | None, target: str | None,
                     *, strict: bool) -> bool:
    if s.intent != intent or (command is not None and s.command != command):
        return False
    return not strict or target is None or s.target == target


def score_features(home: Household, text: str, suggestion: Any, *,
                   resolver: Resolver | None = None, device: str | None = None,
                   time: dt.datetime | None = None, max_facts: int = 4):
    """Features a person recognises for the score of one suggestion for ``text``: its words and
    the facts it rests on (the first ``max_facts`` of its sources); and ``score_fn(present)``,
    which runs the resolver's own steps again (key terms, facts, candidates, embedding, ranking,
    offline) with the absent words left out of the utterance and the absent facts left out of
    the commonsense graph and the lexicon, and returns that suggestion's score (0 when it is no
    longer made). ``suggestion``: a :class:`Suggestion`, a ``SuggestionMade`` or a mapping with
    ``intent``, ``command`` (or ``action``) and ``target``. Returns None when the resolver no
    longer makes that suggestion for ``text``."""
    from .attribution import Feature

    def get(name):
        if isinstance(suggestion, Mapping):
            return suggestion.get(name)
        return getattr(suggestion, name, None)

    intent = get("intent")
    command = get("command") if get("command") is not None else get("action")
    target = get("target")
    if not intent:
        raise ResolutionError("score_features needs the suggestion's intent")
    base = resolver or default_resolver()
    knowledge = Commonsense.of(home)
    catalogue = base.catalogue(home)
    index = base._intent_index(home, catalogue, knowledge)
    r = copy.copy(base)
    r.min_score, r.max_suggestions = 0.0, 10 ** 6
    if base.encoder is not None:
        r._encoder = _CachingEncoder(base.encoder)
    gathered: dict[tuple[str, bool], FactsResult | None] = {}
    mentions: dict[str, Any] = {}

    def facts_of(terms) -> dict[str, FactsResult]:
        out: dict[str, FactsResult] = {}
        for t in terms:
            key = (t.lemma, t.weight >= 0.5)
            if key not in gathered:
                got, _ = r.gather([t], online=False)
                gathered[key] = got.get(t.lemma)
            if gathered[key] is not None:
                prev = out.get(t.lemma)
                facts = (prev.facts if prev else ()) + gathered[key].facts
                out[t.lemma] = FactsResult(t.lemma, _dedupe(facts))
        return out

    def run(words_text: str, kv: Commonsense, dropped: frozenset, only_intent: bool = True
            ) -> list[Suggestion]:
        terms = key_terms(words_text, phrases=knowledge.phrases, lexicon=r.lexicon)
        facts = {k: FactsResult(k, tuple(x for x in v.facts if x not in dropped))
                 for k, v in facts_of(terms).items()}
        roots = r._roots(terms, facts, kv)
        cands = r._candidates(roots, catalogue, kv)
        if words_text not in mentions:
            mentions[words_text] = r._extractor(home).extract(words_text, now=time)
        if index is not None:
            r._embed(words_text, roots, kv, index, cands)
        if only_intent:  # other intents' suggestions do not change this one's score
            cands = {key: c for key, c in cands.items() if c.intent.id == intent}
        return r._rank(home, words_text, cands, mentions[words_text], device, kv)

    full = run(text, knowledge, frozenset(), only_intent=False)
    match = next((s for s in full if _same_suggestion(s, intent, command, target, strict=True)),
                 None) or next((s for s in full if _same_suggestion(s, intent, command, target,
                                                                    strict=False)), None)
    if match is None:
        return None
    spans = [(m.start(), m.end()) for m in _WORD_SPAN.finditer(text)]
    facts = list(_dedupe(match.sources))[:max_facts]
    features = [Feature(f"w{i}", f'you said "{text[a:b]}"', value=text[a:b], baseline="")
                for i, (a, b) in enumerate(spans)]
    features += [Feature(f"f{i}", fact.explain().replace(f" ({fact.source})",
                                                         f" ({_source_name(fact.source)})"),
                         value=fact.surface_text or fact.object, baseline=None)
                 for i, fact in enumerate(facts)]

    # what leaving a fact out removes: a word's link to a concept, or a commonsense relation
    removals: list[tuple[list, list]] = []
    for fact in facts:
        words_out, edges_out = [], []
        if fact.source == COMMONSENSE and fact.source_url:
            key = _norm(fact.subject)
            for concept, how in knowledge.words.get(key, ()):
                if knowledge.word_fact(fact.subject, concept, how) == fact:
                    words_out.append((key, (concept, how)))
            for p, o in knowledge.edges.get(fact.source_url, ()):
                if knowledge.edge_fact(fact.source_url, p, o) == fact:
                    edges_out.append((fact.source_url, (p, o)))
        removals.append((words_out, edges_out))

    def view(absent: list[int]) -> Commonsense:
        if not absent:
            return knowledge
        kv = copy.copy(knowledge)
        kv.words = dict(knowledge.words)
        kv.edges = dict(knowledge.edges)
        for i in absent:
            words_out, edges_out = removals[i]
            for key, entry in words_out:
                kv.words[key] = [e for e in kv.words.get(key, ()) if e != entry]
            for s, edge in edges_out:
                kv.edges[s] = [e for e in kv.edges.get(s, ()) if e != edge]
        return kv

    def masked_text(present: frozenset) -> str:
        if all(f"w{i}" in present for i in range(len(spans))):
            return text
        out, at = [], 0
        for i, (a, b) in enumerate(spans):
            if f"w{i}" not in present:
                out.append(text[at:a])
                at = b
        out.append(text[at:])
        return " ".join("".join(out).split())

    def score_fn(present: frozenset) -> float:
        words_text = masked_text(present)
        if not words_text.strip():
            return 0.0
        absent = [i for i in range(len(facts)) if f"f{i}" not in present]
        dropped = frozenset(facts[i] for i in absent if facts[i].source != COMMONSENSE)
        found = run(words_text, view(absent), dropped)
        scores = [s.score for s in found if _same_suggestion(s, intent, command, target,
                                                              strict=False)]
        return float(max(scores, default=0.0))

    return features, score_fn
