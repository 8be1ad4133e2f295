"""OWL 2 RL over a household: the closure of its ontology and data, and ontology editing.

``closure(home)`` is every triple the household's graphs hold (the ontology, the state, every
event graph that is not retracted) plus every triple OWL 2 RL entails from them. It runs
``reasonable`` (a Rust materialiser, ~100× faster than owlrl); ``engine="owlrl"`` runs the
pure-Python owlrl instead, which also applies the schema rules (scm-*) and the reflexive
``owl:sameAs`` that reasonable leaves out, and offers plain RDFS (``engine="rdfs"``). On the
household's own resources (its devices, events, areas …) both engines entail the same triples.

Literals go in and out unchanged: rdflib's literal normalisation is switched off while terms are
converted (otherwise ``"…Z"^^xsd:dateTime`` comes back as ``"…+00:00"`` and looks entailed), and
plain literals are passed as ``xsd:string`` (which reasonable returns them as anyway).

``record_closure(home)`` appends the entailed triples about the household's own resources as one
``FactInferred`` whose rule is the OWL 2 RL profile (``http://www.w3.org/ns/owl-profile/RL``).
The reasoners give no per-triple provenance, so ``derived_from`` names the events whose graphs
describe (as subject) the resources those triples are about.

``load_ontology(home)`` gives the household's ontology as owlready2 objects, for people who edit
ontologies as Python classes; ``save_ontology_edits(onto, home)`` records what they added as a
``FactsAsserted`` event (the shipped ontology is never changed; its axioms cannot be removed).

>>> from kg.household import Hearth
>>> home = Hearth.in_memory().create_household("doc", time="2026-11-25T07:00:00Z")
>>> _ = home.append({"type": "DeviceAdded", "time": "2026-11-25T07:00:00Z",
...                  "device": "lamp", "name": "Lamp", "kind": "light"})
>>> lamp = home.iri("device", "lamp")
>>> Triple(lamp, RDF.type, HEARTH.Device) in closure(home)  # a Light is an Actuator is a Device
True
"""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pyoxigraph as ox
from pyoxigraph import BlankNode, Literal, NamedNode, Triple

from kg import events as E
from kg.household import Household
from kg.log import Appended
from kg.vocab import HEARTH, OWL, PROV, RDF, XSD

from .pipeline import ReasonerError

OWL_RL = "http://www.w3.org/ns/owl-profile/RL"
AGENT = "component:owl"
EDITOR = "component:owlready2"
ENGINES = ("reasonable", "owlrl", "rdfs")
_SAME_AS = NamedNode(OWL.base + "sameAs")
_THING = NamedNode(OWL.base + "Thing")

__all__ = ["closure", "entailed", "record_closure", "household_triples", "reason",
           "load_ontology", "save_ontology_edits", "OWL_RL", "ENGINES"]


def household_triples(home: Household, *, state: bool = True) -> set[Triple]:
    """Everything the household's graphs hold now: the ontology, the state graph (unless
    ``state=False``) and every event graph that is not retracted."""
    retracted = home.state.retracted
    skip = {home.ids.state_graph} if not state else set()
    return {q.triple for q in home.store.quads(None, None, None, None)
            if q.graph_name not in retracted and q.graph_name not in skip}


def closure(home: Household, *, engine: str = "reasonable", state: bool = True) -> set[Triple]:
    """The household's triples and all that OWL 2 RL entails from them."""
    triples = household_triples(home, state=state)
    return triples | reason(triples, engine=engine)


def entailed(home: Household, *, engine: str = "reasonable", state: bool = True) -> set[Triple]:
    """Only what OWL 2 RL entails beyond what the household's graphs hold."""
    return reason(household_triples(home, state=state), engine=engine)


def reason(triples: Iterable[Triple], *, engine: str = "reasonable") -> set[Triple]:
    """The triples an engine entails from ``triples`` that are not among them."""
    if engine not in ENGINES:
        raise ReasonerError(f"no OWL engine {engine!r}; engines: {', '.join(ENGINES)}")
    triples = triples if isinstance(triples, (set, frozenset)) else set(triples)
    with _exact_literals():
        to_rdf = _ToRdflib()
        rows = [to_rdf.triple(t) for t in triples]
        if engine == "reasonable":
            import reasonable
            r = reasonable.PyReasoner()
            r.from_graph(rows)
            out = r.reason()
        else:
            import owlrl
            from rdflib import Graph
            g = Graph()
            for row in rows:
                g.add(row)
            semantics = owlrl.OWLRL_Semantics if engine == "owlrl" else owlrl.RDFS_Semantics
            owlrl.DeductiveClosure(semantics).expand(g)
            out = g
        given = set(rows)
        back = _FromRdflib()
        result = set()
        for row in out:
            if row in given:
                continue
            t = back.triple(row)
            if t is not None and t not in triples:
                result.add(t)
    return result


def record_closure(home: Household, *, engine: str = "reasonable",
                   time: dt.datetime | None = None) -> Appended | None:
    """Appends the OWL 2 RL entailments about the household's own resources (not trivial ones:
    ``a owl:Thing``, reflexive ``owl:sameAs``) as one FactInferred; None if there are none new."""
    triples = household_triples(home)
    own = {home.ids.event(s) for s in home.log.seqs_of_types([E.FactInferred])
           if next(iter(home.store.quads(home.ids.event(s), HEARTH.rule, NamedNode(OWL_RL),
                                          None)), None) is not None}
    new = {t for t in reason(triples, engine=engine)  # not about our own records (no regress)
           if _about_household(t, home) and t.subject not in own}
    if not new:
        return None
    subjects = {t.subject for t in new}
    head = home.ids.base + "event:"
    sources: set[NamedNode] = set()
    for q in home.store.quads(None, None, None, None):
        g = q.graph_name
        if q.subject in subjects and isinstance(g, NamedNode) and g.value.startswith(head) \
                and g not in home.state.retracted:
            sources.add(g)
        elif q.subject in subjects and g == home.ids.state_graph:
            for src in home.store.quads(q.subject, PROV.wasDerivedFrom, None, g):
                sources.add(src.object)
    if not sources:
        return None
    when = time or (home.event(home.head).time if home.head else
                    dt.datetime.now(dt.timezone.utc))
    return home.append(E.FactInferred(
        time=when, by=AGENT, rule=OWL_RL, rdf="".join(f"{t} .\n" for t in sorted(new, key=str)),
        derived_from=tuple(sorted(sources, key=lambda n: home.ids.seq_of(n)))))


def _about_household(t: Triple, home: Household) -> bool:
    if not (isinstance(t.subject, NamedNode) and t.subject.value.startswith(home.ids.base)):
        return False
    if t.predicate == RDF.type and t.object == _THING:
        return False
    return not (t.predicate == _SAME_AS and t.subject == t.object)


# -- term conversion (pyoxigraph ↔ rdflib) -----------------------------------------------------

@contextlib.contextmanager
def _exact_literals():
    import rdflib
    old = rdflib.NORMALIZE_LITERALS
    rdflib.NORMALIZE_LITERALS = False
    try:
        yield
    finally:
        rdflib.NORMALIZE_LITERALS = old


class _ToRdflib:
    def __init__(self):
        from rdflib import BNode, Literal as RLiteral, URIRef
        self._classes = (BNode, RLiteral, URIRef)
        self._cache: dict = {}

    def term(self, t):
        out = self._cache.get(t)
        if out is None:
            BNode, RLiteral, URIRef = self._classes
            if isinstance(t, NamedNode):
                out = URIRef(t.value)
            elif isinstance(t, BlankNode):
                out = BNode(t.value)
            elif t.language:
                out = RLiteral(t.value, lang=t.language)
            else:
                out = RLiteral(t.value, datatype=URIRef(t.datatype.value))
            self._cache[t] = out
        return out

    def triple(self, t: Triple) -> tuple:
        return (self.term(t.subject), self.term(t.predicate), self.term(t.object))


class _FromRdflib:
    def __init__(self):
        self._cache: dict = {}

    def term(self, t):
        out = self._cache.get(t)
        if out is None:
            from rdflib import BNode, URIRef
            if isinstance(t, URIRef):
                out = NamedNode(str(t))
            elif isinstance(t, BNode):
                out = BlankNode(str(t))
            elif t.language:
                out = Literal(str(t), language=t.language)
            elif t.datatype:
                out = Literal(str(t), datatype=NamedNode(str(t.datatype)))
            else:
                out = Literal(str(t), datatype=XSD.string)
            self._cache[t] = out
        return out

    def triple(self, row) -> Triple | None:
        try:
            return Triple(self.term(row[0]), self.term(row[1]), self.term(row[2]))
        except (TypeError, ValueError):
            return None  # e.g. a literal in subject position (generalised RDF)


# -- owlready2 --------------------------------------------------------------------------------

def _edit_triples(home: Household) -> set[Triple]:
    """Triples of earlier ontology edits (FactsAsserted by the owlready2 helper)."""
    out: set[Triple] = set()
    for seq in home.log.seqs_of_types([E.FactsAsserted]):
        iri = home.ids.event(seq)
        if iri in home.state.retracted:
            continue
        agent = next(iter(home.store.quads(iri, PROV.wasAttributedTo, None, iri)), None)
        if agent is not None and agent.object == home.ids.agent(EDITOR):
            out.update(E.parse_triples(home.event(seq).rdf))
    return out


def _ontology_triples(home: Household | None) -> set[Triple]:
    if home is None:
        import ontologies
        triples: set[Triple] = set()
        for name in ("hearth.ttl", "commonsense.ttl"):
            triples.update(q.triple for q in ox.parse(path=str(ontologies.path(name)),
                                                     format=ox.RdfFormat.TURTLE))
        return triples
    g = home.ids.ontology_graph
    base = {q.triple for q in home.store.quads(None, None, None, g)
            if q.predicate != HEARTH.ontologyDigest}
    return base | _edit_triples(home)


def load_ontology(home: Household | None = None, *, world=None):
    """The household's ontology (the shipped one with the household's earlier edits; the shipped
    files when ``home`` is None) as an owlready2 ontology.

    >>> onto = load_ontology()
    >>> hearth = onto.get_namespace("https://w3id.org/hearth#")
    >>> hearth.Light.is_a
    [hearth.Actuator]
    """
    import owlready2
    triples = _ontology_triples(home)
    world = world or owlready2.World()
    with tempfile.NamedTemporaryFile(suffix=".nt", delete=False) as f:
        path = Path(f.name)
    try:
        ox.serialize(triples, str(path), format=ox.RdfFormat.N_TRIPLES)
        with open(path, "rb") as fh:
            onto = world.get_ontology("https://w3id.org/hearth").load(fileobj=fh,
                                                                        format="ntriples")
    finally:
        path.unlink(missing_ok=True)
    return onto


def save_ontology_edits(onto, home: Household, *,
                        time: dt.datetime | None = None) -> Appended | None:
    """Records what was added to an ontology loaded with ``load_ontology(home)`` as one
    FactsAsserted event (attributed to ``component:owlready2``); None if nothing was added.
    Removing axioms is refused: the shipped ontology and earlier events are never changed."""
    before = {t for t in _ontology_triples(home) if not _has_blank(t)}
    with tempfile.NamedTemporaryFile(suffix=".nt", delete=False) as f:
        path = Path(f.name)
    try:
        onto.world.save(str(path), format="ntriples")
        after = {q.triple for q in ox.parse(path=str(path), format=ox.RdfFormat.N_TRIPLES)}
    finally:
        path.unlink(missing_ok=True)
    after = {t for t in after if not _has_blank(t) and t.subject.value != "http://anonymous"}
    removed = before - after
    if removed:
        sample = ", ".join(str(t) for t in sorted(removed, key=str)[:3])
        raise ReasonerError(
            f"{len(removed)} axioms were removed ({sample} …); the shipped ontology and earlier "
            "edits are kept as they are. Load the ontology again and only add to it.")
    added = after - before
    if not added:
        return None
    text = "".join(f"{t} .\n" for t in sorted(added, key=str))
    return home.append(E.FactsAsserted(time=time or dt.datetime.now(dt.timezone.utc),
                                       by=EDITOR, rdf=text))


def _has_blank(t: Triple) -> bool:
    return isinstance(t.subject, BlankNode) or isinstance(t.object, BlankNode)
