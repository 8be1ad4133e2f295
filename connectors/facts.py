"""What every knowledge source gives the resolution pipeline: facts about a term, one shape for all.

Each source (the offline :class:`~connectors.lexicon.Lexicon`, and the ConceptNet, Wikidata and
Wikipedia clients) has a ``name`` and a ``facts(term, *, limit)`` method returning
:class:`Fact` values whose ``relation`` is one of ConceptNet's relation names (:data:`RELATIONS`),
so "what is it" is ``IsA``, "what is it used for" is ``UsedFor``, "what is it related to" is
``RelatedTo``/``Synonym``/``SimilarTo``, and a definition is ``DefinedAs``. A fact keeps where it
came from (``source``, ``source_url``, ``license``) and when it was fetched, so it can enter the
graph as an event with its provenance, and a sentence of explanation can cite it
(``surface_text`` when the source wrote one).

:func:`gather_facts` asks several sources and returns the facts and, as values, the sources that
failed (offline, rate-limited, unreachable), so the layer above can say what it did not consult.

>>> f = Fact("cozy", "RelatedTo", "warm", source="conceptnet", weight=0.9)
>>> f.explain()
'cozy is related to warm (conceptnet)'
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .errors import ConnectorError

#: Relation names, as ConceptNet 5 spells them (without the ``/r/`` prefix), and how to say them.
RELATIONS: dict[str, str] = {
    "RelatedTo": "is related to", "IsA": "is a", "PartOf": "is part of", "HasA": "has",
    "UsedFor": "is used for", "CapableOf": "can", "AtLocation": "is found at",
    "Causes": "causes", "HasSubevent": "involves", "HasPrerequisite": "needs",
    "HasProperty": "is", "MotivatedByGoal": "is done to", "Desires": "wants",
    "CreatedBy": "is created by", "Synonym": "means the same as", "Antonym": "is the opposite of",
    "DistinctFrom": "is distinct from", "DerivedFrom": "is derived from",
    "SymbolOf": "is a symbol of", "DefinedAs": "is", "MannerOf": "is a way to",
    "LocatedNear": "is near", "SimilarTo": "is similar to", "EtymologicallyRelatedTo":
    "is etymologically related to", "FormOf": "is a form of", "MadeOf": "is made of",
    "ReceivesAction": "can be", "CausesDesire": "makes you want", "Entails": "entails",
    "InstanceOf": "is an instance of", "HasContext": "is used in the context of",
    "ExternalURL": "is described at",
}


@dataclass(frozen=True)
class Fact:
    """One statement about a term from one source.

    ``weight`` is the source's confidence scaled to 0..1 (ConceptNet weights are divided by
    their usual maximum; WordNet facts decay with sense rank). ``fetched_at`` is when the answer
    left the service (for a cached answer, when it was first fetched); None for offline data.
    """

    subject: str
    relation: str
    object: str
    weight: float = 1.0
    source: str = ""
    source_url: str | None = None
    fetched_at: dt.datetime | None = None
    license: str | None = None
    surface_text: str | None = None

    def explain(self) -> str:
        """One clause for an explanation, citing the source."""
        if self.surface_text:
            text = self.surface_text.replace("[[", "").replace("]]", "")
        else:
            verb = RELATIONS.get(self.relation, self.relation)
            text = f"{self.subject} {verb} {self.object}"
        return f"{text} ({self.source})" if self.source else text


@runtime_checkable
class KnowledgeSource(Protocol):
    """Anything that can say things about a term."""

    name: str

    def facts(self, term: str, *, limit: int = 20) -> Sequence[Fact]: ...


@dataclass(frozen=True)
class SourceFailure:
    """A source that could not answer, as a value: ``kind`` is the error's class name
    (``OfflineMiss``, ``RateLimited``, ``ConnectorTimeout`` …)."""

    source: str
    kind: str
    message: str


@dataclass(frozen=True)
class FactsResult:
    """The facts gathered about one term, best first, and the sources that failed."""

    term: str
    facts: tuple[Fact, ...]
    failures: tuple[SourceFailure, ...] = ()
    elapsed_ms: float = 0.0
    by_source: dict[str, int] = field(default_factory=dict)

    def objects(self, *relations: str) -> tuple[str, ...]:
        """The distinct objects of the facts with these relations (all when none given)."""
        seen: dict[str, None] = {}
        for f in self.facts:
            if not relations or f.relation in relations:
                seen.setdefault(f.object, None)
        return tuple(seen)


def gather_facts(term: str, sources: Iterable[KnowledgeSource], *, limit: int = 20,
                 min_weight: float = 0.0) -> FactsResult:
    """Asks each source in turn; a :class:`ConnectorError` becomes a :class:`SourceFailure`.

    >>> class Toy:
    ...     name = "toy"
    ...     def facts(self, term, *, limit=20):
    ...         return [Fact(term, "IsA", "thing", source="toy")]
    >>> gather_facts("lamp", [Toy()]).objects("IsA")
    ('thing',)
    """
    started = time.perf_counter()
    facts: list[Fact] = []
    failures: list[SourceFailure] = []
    counts: dict[str, int] = {}
    for source in sources:
        name = getattr(source, "name", type(source).__name__)
        try:
            got = [f for f in source.facts(term, limit=limit) if f.weight >= min_weight]
        except ConnectorError as err:
            failures.append(SourceFailure(name, type(err).__name__, str(err)))
            continue
        counts[name] = len(got)
        facts.extend(got)
    facts.sort(key=lambda f: -f.weight)
    return FactsResult(term, tuple(facts), tuple(failures),
                       (time.perf_counter() - started) * 1000.0, counts)


def default_sources(transport=None, *, online: bool = True) -> list[KnowledgeSource]:
    """The offline lexicon first, then (when ``online``) ConceptNet, Wikidata and Wikipedia over
    ``transport`` (default: the shared on-disk-cached one; pass ``Transport.interactive()``
    for a person waiting). A transport in offline mode still answers from its cache."""
    from .lexicon import Lexicon
    sources: list[KnowledgeSource] = [Lexicon.default()]
    if online:
        from .conceptnet import ConceptNetClient
        from .wikidata import WikidataClient
        from .wikipedia import WikipediaClient
        sources += [ConceptNetClient(transport=transport), WikidataClient(transport=transport),
                    WikipediaClient(transport=transport)]
    return sources


__all__ = ["Fact", "FactsResult", "KnowledgeSource", "SourceFailure", "RELATIONS", "gather_facts",
           "default_sources"]
