"""SHACL shapes for events, checked fast on every append.

``ontologies/shapes/events.ttl`` is the single source of truth. pyshacl validates against it in
full (``validate_with_pyshacl``), but at 10,000 events a second it is far too slow, so
``ShapeChecker`` compiles the subset of SHACL Core those shapes use (targetClass,
targetSubjectsOf, property paths that are single predicates, minCount, maxCount, datatype,
nodeKind, class, in) into plain Python checks. A test keeps the two in agreement.

>>> checker = ShapeChecker.default()
>>> len(checker.shapes) > 5
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pyoxigraph as ox
from pyoxigraph import BlankNode, Literal, NamedNode, RdfFormat

import ontologies

from .errors import ShapeViolation
from .vocab import RDF, SH

SHAPES_PATH = ontologies.path("shapes", "events.ttl")


@dataclass(frozen=True)
class PropertyConstraint:
    path: NamedNode
    min_count: int = 0
    max_count: int | None = None
    datatype: NamedNode | None = None
    node_kind: NamedNode | None = None
    class_: NamedNode | None = None
    allowed: frozenset | None = None
    message: str | None = None


@dataclass(frozen=True)
class NodeShape:
    name: NamedNode
    target_class: tuple[NamedNode, ...]
    target_subjects_of: tuple[NamedNode, ...]
    properties: tuple[PropertyConstraint, ...]


_SUPPORTED = {SH.path, SH.minCount, SH.maxCount, SH.datatype, SH.nodeKind, SH["class"], SH["in"],
              SH.message, SH.name, SH.description, NamedNode("http://www.w3.org/2000/01/rdf-schema#comment")}


class ShapeChecker:
    """Checks a graph's triples against compiled node shapes."""

    def __init__(self, shapes: list[NodeShape]):
        self.shapes = shapes
        self._by_class: dict[NamedNode, list[NodeShape]] = {}
        self._by_subjects_of: dict[NamedNode, list[NodeShape]] = {}
        for shape in shapes:
            for c in shape.target_class:
                self._by_class.setdefault(c, []).append(shape)
            for p in shape.target_subjects_of:
                self._by_subjects_of.setdefault(p, []).append(shape)

    @classmethod
    @lru_cache(maxsize=1)
    def default(cls) -> "ShapeChecker":
        return cls.from_file(SHAPES_PATH)

    @classmethod
    def from_file(cls, path: str | Path) -> "ShapeChecker":
        quads = list(ox.parse(path=str(path), format=RdfFormat.TURTLE))
        return cls(compile_shapes([q.triple for q in quads]))

    def check(self, triples: Iterable, *, label: str = "the event") -> None:
        """Raises ShapeViolation naming the first broken constraint."""
        problems = self.violations(triples)
        if problems:
            raise ShapeViolation(f"{label} breaks its shape: {problems[0]}"
                                 + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                                 field=problems[0].split(":", 1)[0])

    def violations(self, triples: Iterable) -> list[str]:
        index: dict = {}
        for t in triples:
            s, p, o = (t.subject, t.predicate, t.object) if hasattr(t, "subject") else t
            props = index.get(s)
            if props is None:
                props = index[s] = {}
            values = props.get(p)
            if values is None:
                props[p] = [o]
            else:
                values.append(o)
        problems: list[str] = []
        by_class, by_subjects_of = self._by_class, self._by_subjects_of
        for subject, props in index.items():
            shapes: dict[NamedNode, NodeShape] = {}
            for c in props.get(RDF.type, ()):
                for shape in by_class.get(c, ()):
                    shapes[shape.name] = shape
            for p in props:
                for shape in by_subjects_of.get(p, ()):
                    shapes[shape.name] = shape
            for shape in shapes.values():
                for pc in shape.properties:
                    values = props.get(pc.path, ())
                    if _fast_ok(values, pc, index):
                        continue
                    problems.extend(_check(subject, values, pc, index))
        return problems


def _fast_ok(values, pc: PropertyConstraint, index) -> bool:
    """The common case, checked without building any message."""
    n = len(values)
    if n < pc.min_count or (pc.max_count is not None and n > pc.max_count):
        return False
    if pc.class_ is not None or pc.allowed is not None:
        return False  # rare constraints: the full check decides
    datatype, kind = pc.datatype, pc.node_kind
    for v in values:
        if datatype is not None and not (type(v) is Literal and v.datatype == datatype):
            return False
        if kind is not None and not _kind_ok(v, kind):
            return False
    return True


def _check(subject, values, pc: PropertyConstraint, index) -> list[str]:
    out = []
    name = pc.path.value.rsplit("#", 1)[-1].rsplit("/", 1)[-1]
    where = f"{name}: {subject}"
    if len(values) < pc.min_count:
        out.append(f"{where} needs at least {pc.min_count} {pc.path}" +
                   (f" ({pc.message})" if pc.message else ""))
    if pc.max_count is not None and len(values) > pc.max_count:
        out.append(f"{where} has {len(values)} values of {pc.path}, at most {pc.max_count} allowed")
    for v in values:
        if pc.datatype is not None and not (isinstance(v, Literal) and v.datatype == pc.datatype):
            out.append(f"{where}: {pc.path} {v} is not a literal of type {pc.datatype.value}")
        if pc.node_kind is not None and not _kind_ok(v, pc.node_kind):
            out.append(f"{where}: {pc.path} {v} is not a {pc.node_kind.value.rsplit('#', 1)[-1]}")
        if pc.class_ is not None and pc.class_ not in index.get(v, {}).get(RDF.type, ()):
            out.append(f"{where}: {pc.path} {v} is not typed {pc.class_.value}")
        if pc.allowed is not None and v not in pc.allowed:
            out.append(f"{where}: {pc.path} {v} is not one of the allowed values")
    return out


_IRI, _LITERAL = SH.IRI, SH.Literal


def _kind_ok(term, kind: NamedNode) -> bool:
    if kind == _IRI:
        return type(term) is NamedNode
    if kind == _LITERAL:
        return type(term) is Literal
    if kind == SH.BlankNodeOrIRI:
        return isinstance(term, (NamedNode, BlankNode))
    raise ValueError(f"sh:nodeKind {kind.value} is not supported by the compiled checker")


def compile_shapes(triples: list) -> list[NodeShape]:
    """Node shapes from SHACL triples; refuses constructs the checker would silently ignore."""
    by_subject: dict = {}
    for t in triples:
        by_subject.setdefault(t.subject, {}).setdefault(t.predicate, []).append(t.object)
    shapes = []
    for subject, props in by_subject.items():
        if SH.NodeShape not in props.get(RDF.type, ()):
            continue
        constraints = []
        for node in props.get(SH.property, ()):
            p = by_subject[node]
            unknown = set(p) - _SUPPORTED
            if unknown:
                raise ValueError(f"shape {subject}: unsupported SHACL terms {unknown}")
            allowed = None
            if SH["in"] in p:
                allowed = frozenset(_rdf_list(by_subject, p[SH["in"]][0]))
            constraints.append(PropertyConstraint(
                path=_one(p, SH.path), min_count=int(_one(p, SH.minCount, Literal("0")).value),
                max_count=int(p[SH.maxCount][0].value) if SH.maxCount in p else None,
                datatype=_one(p, SH.datatype, None), node_kind=_one(p, SH.nodeKind, None),
                class_=_one(p, SH["class"], None), allowed=allowed,
                message=p[SH.message][0].value if SH.message in p else None))
        shapes.append(NodeShape(
            name=subject,
            target_class=tuple(props.get(SH.targetClass, ())),
            target_subjects_of=tuple(props.get(SH.targetSubjectsOf, ())),
            properties=tuple(constraints)))
    return shapes


def _one(props, key, default=...):
    if key in props:
        return props[key][0]
    if default is ...:
        raise ValueError(f"missing {key}")
    return default


def _rdf_list(by_subject, node):
    out = []
    while node != RDF.nil:
        out.append(by_subject[node][RDF.first][0])
        node = by_subject[node][RDF.rest][0]
    return out


def validate_with_pyshacl(nquads_or_turtle: str) -> tuple[bool, str]:
    """Full SHACL validation with pyshacl (slow; for tests and `hearth validate`)."""
    import pyshacl
    from rdflib import Dataset, Graph

    shapes = Graph().parse(SHAPES_PATH, format="turtle")
    data = Dataset()
    data.parse(data=nquads_or_turtle, format="nquads")
    union = Graph()
    for s, p, o, _ in data.quads((None, None, None, None)):
        union.add((s, p, o))
    conforms, _, text = pyshacl.validate(union, shacl_graph=shapes, inference="none")
    return bool(conforms), text
