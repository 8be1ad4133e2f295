"""Rules: named, documented SPARQL CONSTRUCT rules, forward-chained incrementally, with derivations.

A rule is one ``.rq`` file: a comment saying what it means, then a CONSTRUCT whose WHERE clause
is triple patterns with FILTER and BIND (no OPTIONAL, UNION, NOT EXISTS or property paths, so that
every conclusion has a definite set of premises). The file name is the rule's name; its IRI is
``https://w3id.org/hearth/rule/<name>``. The built-in rules are in ``ontologies/rules/``.

    # A device in an area of some kind is near what that kind of room offers.
    CONSTRUCT { ?d ex:near ?k } WHERE { ?d hearth:inArea ?a . ?a hearth:ofKind ?k }

What rules see: the household's event graphs (not retracted), the ontology graph, and the
descriptions of floors, areas, devices and people in the state graph (each traced to the event
that added it). Current device states are not premises: they change without a retraction.

**Incremental.** Rules are indexed by the predicates (and, for ``rdf:type``, the classes) of their
body patterns. A new event's triples are the seeds: a seed fires only the rules with a body
pattern it unifies with, and that rule is evaluated with the seed's values bound (a SPARQL
substitution), after a cheap existence check of the other patterns that the seed binds. Rules are
never re-run over the whole graph, except once when the engine first meets a household (``sync``).

**Derivations.** Every distinct derivation (rule + premise triples) is recorded as one
``FactInferred`` event: its ``rdf`` is the instantiated template, ``rule`` the rule IRI, and
``derived_from`` the events holding each premise (the input event graphs, or the ``FactInferred``
events that derived them). A derivation already recorded is not recorded again. A conclusion
that already held is recorded as another derivation (so that it survives the loss of the first)
but is not propagated again, and a derivation whose premises rest only on its own conclusion
(``a knows b`` ⇒ ``b knows a`` ⇒ ``a knows b``) is not recorded at all. Chains unfold through
the pipeline's rounds: each round's conclusions are the next round's seeds (the pipeline's
``max_depth`` bounds a chain's length; ``RulesEngine.saturate`` has no such bound).

**Withdrawal.** When an event is retracted, the derivations that depended on it are found
(delete-and-rederive): every derivation downstream of a lost premise is suspect; suspects whose
premises still hold without them (another derivation, another event) are kept, and the rest are
withdrawn, each by a new ``EventRetracted`` of its ``FactInferred``. Nothing is deleted.

>>> from kg.household import Hearth
>>> home = Hearth.in_memory().create_household("doc", time="2026-11-25T07:00:00Z")
>>> engine = RulesEngine(RuleSet.from_texts({"knows-back": '''
...     # Knowing someone is mutual.
...     PREFIX ex: <urn:ex:>
...     CONSTRUCT { ?b ex:knows ?a } WHERE { ?a ex:knows ?b }'''}))
>>> _ = home.assert_facts("<urn:ex:ann> <urn:ex:knows> <urn:ex:bob> .")
>>> added = engine.saturate(home)
>>> [type(a.event).__name__ for a in added]
['FactInferred']
>>> why = explain(home, ("urn:ex:bob", "urn:ex:knows", "urn:ex:ann"))
>>> [d.kind for d in why.derivations], sorted(home.ids.seq_of(e) for e in why.input_events())
(['inferred'], [2])
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import weakref
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox
from pyoxigraph import BlankNode, Literal, NamedNode, Triple

import ontologies
from kg import events as E
from kg.errors import HearthError
from kg.household import Household
from kg.log import Appended
from kg.store import OxigraphStore
from kg.terms import to_term
from kg.vocab import HEARTH, PREFIXES, PROV, RDF

from .pipeline import ReasonerError, register_component

log = logging.getLogger("hearth.reasoner.rules")

RULES_DIR = ontologies.path("rules")
RULE_NS = "https://w3id.org/hearth/rule/"
CS = "https://w3id.org/hearth/commonsense#"
AGENT = "component:rules"

__all__ = ["Rule", "RuleSet", "RulesEngine", "RuleSyntaxError", "Explanation", "Derivation",
           "explain", "RULES_DIR", "RULE_NS"]


class RuleSyntaxError(HearthError, ValueError):
    """A rule file is not a rule hearth can run: the message says where and what to change."""


# ---------------------------------------------------------------------------------------------
# Parsing rules


@dataclass(frozen=True)
class Var:
    """A variable of a rule pattern."""

    name: str

    def __repr__(self) -> str:
        return f"?{self.name}"


Pattern = tuple  # (subject, predicate, object): each a Var or a pyoxigraph term

_IRIREF = re.compile(r'<[^<>"{}|^`\\\x00-\x20]*>')


def _mask(text: str) -> str:
    """The text with comments, strings and IRIs blanked out (same length), so that keywords and
    braces can be found with plain searches."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            end = text.find("\n", i)
            end = n if end < 0 else end
            out[i:end] = " " * (end - i)
            i = end
        elif c in "\"'":
            quote = c * 3 if text.startswith(c * 3, i) else c
            j = i + len(quote)
            while j < n and not text.startswith(quote, j):
                j += 2 if text[j] == "\\" else 1
            j = min(n, j + len(quote))
            out[i:j] = " " * (j - i)
            i = j
        elif c == "<" and (m := _IRIREF.match(text, i)):
            out[i:m.end()] = " " * (m.end() - i)
            i = m.end()
        else:
            i += 1
    return "".join(out)


def _group_end(masked: str, start: int) -> int:
    """The index of the brace closing the group opened at ``start``."""
    depth = 0
    for k in range(start, len(masked)):
        if masked[k] == "{":
            depth += 1
        elif masked[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    raise RuleSyntaxError("a group is not closed: a '}' is missing")


def _split_construct(text: str, name: str) -> tuple[str, str]:
    """(prologue with the PREFIX lines, the WHERE group's inside) of a CONSTRUCT query."""
    masked = _mask(text)
    m = re.search(r"\bCONSTRUCT\b", masked, re.IGNORECASE)
    if m is None:
        raise RuleSyntaxError(f"rule {name!r} is not a CONSTRUCT query: write "
                              "'CONSTRUCT { conclusion } WHERE { premises }'")
    t_open = masked.find("{", m.end())
    if t_open < 0 or masked[m.end():t_open].strip():
        raise RuleSyntaxError(f"rule {name!r}: CONSTRUCT must be followed by its template "
                              "'{ … }' (the short form 'CONSTRUCT WHERE' cannot name premises)")
    t_close = _group_end(masked, t_open)
    w_open = masked.find("{", t_close)
    between = masked[t_close + 1:w_open].strip().upper() if w_open >= 0 else "?"
    if w_open < 0 or between not in ("", "WHERE"):
        raise RuleSyntaxError(f"rule {name!r}: expected 'WHERE {{ … }}' after the template")
    w_close = _group_end(masked, w_open)
    if masked[w_close + 1:].strip():
        raise RuleSyntaxError(f"rule {name!r}: nothing may follow the WHERE group (no ORDER BY, "
                              f"LIMIT or VALUES): found {text[w_close + 1:].strip()[:40]!r}")
    return text[:m.start()], text[w_open + 1:w_close]


def _doc_of(text: str) -> str:
    lines = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#"):
            lines.append(s.lstrip("#").strip())
        elif s:
            break
    return " ".join(x for x in lines if x)


def _from_rdflib(term, name: str, where: str):
    from rdflib import BNode, Literal as RLiteral, URIRef, Variable
    if isinstance(term, Variable):
        return Var(str(term))
    if isinstance(term, URIRef):
        return NamedNode(str(term))
    if isinstance(term, RLiteral):
        if term.language:
            return Literal(str(term), language=term.language)
        if term.datatype:
            return Literal(str(term), datatype=NamedNode(str(term.datatype)))
        return Literal(str(term))
    if isinstance(term, BNode):
        raise RuleSyntaxError(f"rule {name!r}: a blank node in the {where} cannot be traced to "
                              "premises; use a variable (or an IRI) instead")
    raise RuleSyntaxError(f"rule {name!r}: the {where} uses a property path or an unsupported "
                          f"term ({term!r}); write one triple pattern per step")


_BODY_OPS = {"BGP", "Filter", "Extend", "Join", "Project", "ToMultiSet", "SelectQuery"}


def _walk_body(node, name: str, triples: list) -> None:
    kind = getattr(node, "name", None)
    if kind == "BGP":
        triples.extend(node.triples)
        return
    if kind not in _BODY_OPS:
        raise RuleSyntaxError(
            f"rule {name!r}: {kind or type(node).__name__} is not allowed in a rule's WHERE "
            "clause; "
            "use triple patterns, FILTER and BIND only (no OPTIONAL, UNION, MINUS, subqueries or "
            "property paths), so that every conclusion has definite premises")
    if kind == "Filter":
        text = repr(node.expr)
        if "EXISTS" in text:
            raise RuleSyntaxError(f"rule {name!r}: FILTER (NOT) EXISTS makes a rule depend on "
                                  "what is absent, which retractions cannot follow; drop it")
    for key in ("p", "p1", "p2"):
        child = node[key] if key in node else None
        if child is not None:
            _walk_body(child, name, triples)


@dataclass(frozen=True, eq=False)
class Rule:
    """One rule: ``name``, ``iri``, ``doc`` (its comment), the original ``text``, the ``body``
    and ``template`` triple patterns, and ``select``, the body as a SELECT query."""

    name: str
    iri: str
    doc: str
    text: str
    body: tuple[Pattern, ...]
    template: tuple[Pattern, ...]
    select: str
    source: str | None = None

    @classmethod
    def from_text(cls, text: str, *, name: str, source: str | None = None) -> "Rule":
        """Parses a rule (a SPARQL CONSTRUCT); raises RuleSyntaxError saying what to change."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise RuleSyntaxError(f"rule name {name!r}: use letters, digits, '.', '_' and '-'")
        from rdflib.plugins.sparql import prepareQuery
        prologue, body_text = _split_construct(text, name)
        try:
            parsed = prepareQuery(text, initNs={**PREFIXES, "cs": CS})
        except Exception as err:  # rdflib raises pyparsing and its own exceptions
            raise RuleSyntaxError(f"rule {name!r} does not parse as SPARQL: {err}") from None
        algebra = parsed.algebra
        if algebra.name != "ConstructQuery":
            raise RuleSyntaxError(f"rule {name!r} is a {algebra.name}, not a CONSTRUCT query")
        raw_body: list = []
        _walk_body(algebra["p"], name, raw_body)
        if not raw_body:
            raise RuleSyntaxError(f"rule {name!r} has no triple patterns in its WHERE clause")
        body = tuple(tuple(_from_rdflib(t, name, "WHERE clause") for t in tp) for tp in raw_body)
        template = tuple(tuple(_from_rdflib(t, name, "template") for t in tp)
                         for tp in algebra["template"])
        if not template:
            raise RuleSyntaxError(f"rule {name!r} concludes nothing: its template is empty")
        bound = {str(v) for v in algebra["p"]["_vars"]}
        for tp in template:
            for t in tp:
                if isinstance(t, Var) and t.name not in bound:
                    raise RuleSyntaxError(f"rule {name!r}: ?{t.name} in the template is not "
                                          "bound by the WHERE clause")
        for tp in body:
            if not isinstance(tp[1], (Var, NamedNode)):
                raise RuleSyntaxError(f"rule {name!r}: a predicate must be an IRI or a variable")
        select = f"{prologue}SELECT * WHERE {{{body_text}}}"
        return cls(name=name, iri=RULE_NS + name, doc=_doc_of(text), text=text, body=body,
                   template=template, select=select, source=source)

    @classmethod
    def from_file(cls, path: str | Path) -> "Rule":
        path = Path(path)
        return cls.from_text(path.read_text(), name=path.stem, source=str(path))

    def __repr__(self) -> str:
        return f"Rule({self.name!r}, {len(self.body)} premises → {len(self.template)} triples)"

    def instantiate(self, patterns: Sequence[Pattern], row: Mapping[str, object]
                    ) -> list[Triple] | None:
        """The patterns with the row's values; None if one cannot be a triple (an unbound
        variable, a literal subject …)."""
        out = []
        for tp in patterns:
            terms = []
            for t in tp:
                if isinstance(t, Var):
                    t = row.get(t.name)
                    if t is None:
                        return None
                terms.append(t)
            try:
                out.append(Triple(*terms))
            except TypeError:
                return None
        return out


def _unify(pattern: Pattern, triple: Triple, bindings: dict | None = None) -> dict | None:
    b = dict(bindings) if bindings else {}
    for term, value in zip(pattern, (triple.subject, triple.predicate, triple.object)):
        if type(term) is Var:
            current = b.get(term.name)
            if current is None:
                b[term.name] = value
            elif current != value:
                return None
        elif term != value:
            return None
    return b


class RuleSet:
    """Rules, indexed by what their premises can match.

    >>> rs = RuleSet.builtin()
    >>> "device-kind" in rs.names
    True
    """

    def __init__(self, rules: Iterable[Rule] = ()):
        self.rules: list[Rule] = []
        self._by_name: dict[str, Rule] = {}
        self._by_iri: dict[str, Rule] = {}
        # (predicate, class or None) -> [(rule, pattern index)]; "*" for variable predicates
        self._index: dict[object, list[tuple[Rule, int]]] = {}
        for rule in rules:
            self.add(rule)

    @classmethod
    def builtin(cls) -> "RuleSet":
        """The rules shipped in ``ontologies/rules/``."""
        return cls.from_paths(RULES_DIR)

    @classmethod
    def from_paths(cls, *paths: str | Path) -> "RuleSet":
        """Rules from ``.rq`` files, or every ``.rq`` file in the given folders."""
        files: list[Path] = []
        for p in map(Path, paths):
            if p.is_dir():
                files.extend(sorted(p.glob("*.rq")))
            elif p.exists():
                files.append(p)
            else:
                raise RuleSyntaxError(f"no rule file or folder at {p}")
        return cls(Rule.from_file(f) for f in files)

    @classmethod
    def from_texts(cls, texts: Mapping[str, str]) -> "RuleSet":
        """Rules from texts, by name: ``RuleSet.from_texts({"my-rule": "CONSTRUCT …"})``."""
        return cls(Rule.from_text(text, name=name) for name, text in texts.items())

    def add(self, rule: Rule) -> None:
        if rule.name in self._by_name:
            raise RuleSyntaxError(f"there are two rules named {rule.name!r} "
                                  f"({self._by_name[rule.name].source} and {rule.source}); "
                                  "rename one")
        self.rules.append(rule)
        self._by_name[rule.name] = rule
        self._by_iri[rule.iri] = rule
        _KNOWN_RULES[rule.iri] = rule
        for i, (s, p, o) in enumerate(rule.body):
            if isinstance(p, Var):
                key: object = "*"
            elif p == RDF.type and not isinstance(o, Var):
                key = (p, o)
            else:
                key = (p, None)
            self._index.setdefault(key, []).append((rule, i))

    def __add__(self, other: "RuleSet") -> "RuleSet":
        return RuleSet([*self.rules, *other.rules])

    def __iter__(self):
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.rules]

    def get(self, name_or_iri: str) -> Rule:
        rule = self._by_name.get(name_or_iri) or self._by_iri.get(name_or_iri)
        if rule is None:
            import difflib
            close = difflib.get_close_matches(name_or_iri, self._by_name, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise KeyError(f"no rule {name_or_iri!r}.{hint} Rules: {', '.join(self.names)}")
        return rule

    def by_iri(self, iri: str) -> Rule | None:
        return self._by_iri.get(iri)

    def triggered_by(self, triple: Triple) -> list[tuple[Rule, int]]:
        """The (rule, body pattern index) pairs a triple can match, from the index."""
        p = triple.predicate
        out = list(self._index.get((p, None), ()))
        if p == RDF.type:
            out.extend(self._index.get((p, triple.object), ()))
        out.extend(self._index.get("*", ()))
        return out


_KNOWN_RULES: dict[str, Rule] = {}  # every rule loaded in this process, by IRI (for explain)


# ---------------------------------------------------------------------------------------------
# The engine


@dataclass
class _Derivation:
    rule: str
    premises: tuple[Triple, ...]
    conclusions: tuple[Triple, ...]
    derived_from: tuple[NamedNode, ...]
    new: tuple[Triple, ...] = ()  # conclusions that did not hold before (pending only)


@dataclass
class _Book:
    """What the engine knows of one household: its recorded derivations, indexed."""

    derivations: dict[NamedNode, _Derivation] = field(default_factory=dict)
    by_premise: dict[Triple, set[NamedNode]] = field(default_factory=dict)
    by_conclusion: dict[Triple, set[NamedNode]] = field(default_factory=dict)
    by_source: dict[NamedNode, set[Triple]] = field(default_factory=dict)
    keys: dict[tuple, NamedNode] = field(default_factory=dict)
    pending: dict[int, tuple[E.FactInferred, _Derivation, tuple]] = field(default_factory=dict)
    pending_keys: set[tuple] = field(default_factory=set)
    pending_conclusions: set[Triple] = field(default_factory=set)
    withdrawn: set[NamedNode] = field(default_factory=set)
    seen: int = 0

    def record(self, iri: NamedNode, d: _Derivation, key: tuple) -> None:
        self.derivations[iri] = d
        self.keys[key] = iri
        for p in d.premises:
            self.by_premise.setdefault(p, set()).add(iri)
        for c in d.conclusions:
            self.by_conclusion.setdefault(c, set()).add(iri)

    def forget(self, iri: NamedNode) -> None:
        d = self.derivations.pop(iri, None)
        if d is None:
            return
        self.keys.pop((d.rule, frozenset(d.premises)), None)
        for p in d.premises:
            self.by_premise.get(p, set()).discard(iri)
        for c in d.conclusions:
            self.by_conclusion.get(c, set()).discard(iri)


def _key(rule: str, premises: Iterable[Triple]) -> tuple:
    return (rule, frozenset(premises))


def _fi_key(rule: str | None, triples: Iterable[Triple], derived_from: Iterable) -> tuple:
    return (rule, frozenset(triples), frozenset(derived_from))


class RulesEngine:
    """The ``rules`` pipeline component: forward chaining with recorded derivations.

    ``stats`` counts what it did: ``evaluations`` (rule queries run for a seed),
    ``evaluations:<rule>``, ``skipped`` (seeds the existence check ruled out), ``covered``
    (seeds an evaluation for the same rule and subject already covered),
    ``full_evaluations`` (rules run over the whole graph: only in ``sync``, when the engine first
    meets a household), ``derivations`` (recorded), ``withdrawn``.
    """

    name = "rules"
    consumes: tuple = ()  # every event: any event's triples may match a premise
    produces = (E.FactInferred, E.EventRetracted)

    def __init__(self, rules: RuleSet | None = None):
        self.rules = RuleSet.builtin() if rules is None else rules
        self.stats: Counter = Counter()
        self._books: "weakref.WeakKeyDictionary[Household, _Book]" = weakref.WeakKeyDictionary()
        self._prefixes: dict[str, dict[str, str]] = {}

    def __repr__(self) -> str:
        return f"RulesEngine({len(self.rules)} rules: {', '.join(self.rules.names)})"

    # -- the component protocol ------------------------------------------------------------
    def process(self, home: Household, appended: Sequence[Appended]) -> list[E.Event]:
        """Conclusions (FactInferred) and withdrawals (EventRetracted) from appended events."""
        book = self._books.get(home)
        out: list[E.Event] = []
        if book is None:
            book = self._books[home] = _Book()
            _ENGINES[home] = self
            out.extend(self.sync(home))
        batch = sorted(appended, key=lambda a: a.seq)
        if batch and batch[0].seq > book.seen + 1:  # events we were not told about: catch up
            missing = [Appended(s, home.ids.event(s), home.event(s))
                       for s in range(book.seen + 1, batch[0].seq)]
            batch = missing + batch
        todo: list[tuple[Appended, tuple]] = []
        for a in batch:  # register our own conclusions first: they are holders from now on
            if a.seq <= book.seen:
                continue
            book.seen = a.seq
            seeds = self._register(home, book, a)
            todo.append((a, seeds))
        for a, seeds in todo:
            if isinstance(a.event, E.EventRetracted):
                out.extend(self._on_retracted(home, book, a))
            else:
                out.extend(self._fire(home, book, seeds, a.event.time))
        return out

    def saturate(self, home: Household, *, max_rounds: int = 1000) -> list[Appended]:
        """Runs the rules to a fixpoint without a pipeline, appending what they conclude."""
        added: list[Appended] = []
        batch: list[Appended] = []
        for _ in range(max_rounds):
            events = self.process(home, batch)
            if not events:
                return added
            batch = home.append_many(events)
            added.extend(batch)
        raise ReasonerError(f"the rules did not reach a fixpoint in {max_rounds} rounds: a rule "
                            "keeps making new resources; check rules that BIND new IRIs")

    # -- seeds ---------------------------------------------------------------------------------
    def _register(self, home: Household, book: _Book, a: Appended) -> tuple:
        """Records one of our own conclusions coming back from the log; returns the seeds of an
        appended event: the triples it adds."""
        ev = a.event
        if isinstance(ev, E.EventRetracted):
            return ()
        if isinstance(ev, E.FactInferred):
            pend = book.pending.pop(id(ev), None)
            if pend is None and ev.rule and self.rules.by_iri(ev.rule) is not None:
                # read back from the log (a catch-up): match it by content
                key = _fi_key(ev.rule, E.parse_triples(ev.rdf), ev.derived_from)
                for k, (pev, pd, pkey) in list(book.pending.items()):
                    if _fi_key(pd.rule, pd.conclusions, pd.derived_from) == key:
                        pend = book.pending.pop(k)
                        break
            if pend is not None:
                _, d, key = pend
                book.pending_keys.discard(key)
                book.pending_conclusions.difference_update(d.new)
                book.record(a.iri, d, key)
                self.stats["derivations"] += 1
                return d.new
        seeds = [q.triple for q in home.store.quads(None, None, None, a.iri)]
        if ev.changes_state:  # what it added to the descriptions of things in the state graph
            state = home.ids.state_graph
            for q in home.store.quads(None, PROV.wasDerivedFrom, a.iri, state):
                if _is_thing(home, q.subject):
                    seeds.extend(x.triple for x in home.store.quads(q.subject, None, None, state))
        return tuple(seeds)

    def _fire(self, home: Household, book: _Book, seeds: Iterable[Triple],
              when: dt.datetime) -> list[E.Event]:
        out = []
        done: set = set()
        for seed in seeds:
            for rule, i in self.rules.triggered_by(seed):
                bindings = _unify(rule.body[i], seed)
                if bindings is None:
                    continue
                if not self._may_match(home, rule, i, bindings):
                    self.stats["skipped"] += 1
                    continue
                # Bind the seed's subject only: its solutions include every one the other
                # seeds about the same subject could give (a device's type and its label …), so
                # each (rule, subject) is evaluated once per event. Rows that do not use the
                # seed are derivations already recorded, and are skipped as such.
                subject = rule.body[i][0]
                if isinstance(subject, Var):
                    bindings = {subject.name: bindings[subject.name]}
                key = (rule.name, frozenset(bindings.items()))
                if key in done:
                    self.stats["covered"] += 1
                    continue
                done.add(key)
                self.stats["evaluations"] += 1
                self.stats[f"evaluations:{rule.name}"] += 1
                for row in self._select(home, rule, bindings):
                    event = self._derive(home, book, rule, row, when)
                    if event is not None:
                        out.append(event)
        return out

    def _may_match(self, home: Household, rule: Rule, seed_index: int, bindings: dict) -> bool:
        """A cheap semi-join: every other premise whose subject and predicate the seed fixes
        must have at least one triple."""
        quads = home.store.quads
        for k, (s, p, o) in enumerate(rule.body):
            if k == seed_index:
                continue
            s = bindings.get(s.name) if isinstance(s, Var) else s
            p = bindings.get(p.name) if isinstance(p, Var) else p
            if s is None or p is None or isinstance(s, Literal):
                continue
            o = bindings.get(o.name) if isinstance(o, Var) else o
            if next(iter(quads(s, p, o, None)), None) is None:
                return False
        return True

    def _select(self, home: Household, rule: Rule, bindings: Mapping[str, object]
                ) -> list[dict]:
        """The rule body's solutions with some variables bound (never pasted as text)."""
        prefixes = self._prefixes.get(home.id)
        if prefixes is None:
            prefixes = self._prefixes[home.id] = {**home.prefixes(), "cs": CS}
        store = home.store
        if isinstance(store, OxigraphStore):
            subs = {ox.Variable(k): v for k, v in bindings.items()}
            solutions = store.raw.query(rule.select, prefixes=prefixes,
                                        use_default_graph_as_union=True, substitutions=subs)
            names = [v.value for v in solutions.variables]
            rows = []
            for s in solutions:
                row = dict(bindings)
                for n, v in zip(names, s):
                    if v is not None:
                        row[n] = v
                rows.append(row)
            return rows
        result = home.query(rule.select, dict(bindings) or None)
        rows = []
        for r in result:
            row = dict(bindings)
            row.update({k: v for k, v in r.asdict().items() if v is not None})
            rows.append(row)
        return rows

    # -- derivations -----------------------------------------------------------------------
    def _holders(self, home: Household, book: _Book, triple: Triple) -> list[tuple[str, object]]:
        """Where a triple holds now: ("event", iri) an input event or another component's
        conclusion, ("inferred", iri) one of our derivations, ("projection", iri) the state graph
        describing a thing the event added, ("ontology", None)."""
        out = []
        ids = home.ids
        retracted = home.state.retracted
        event_head = ids.base + "event:"
        for q in home.store.quads(triple.subject, triple.predicate, triple.object, None):
            g = q.graph_name
            if g == ids.ontology_graph:
                out.append(("ontology", None))
            elif g == ids.state_graph:
                src = _thing_source(home, triple.subject)
                if src is not None and src not in retracted:
                    out.append(("projection", src))
            elif isinstance(g, NamedNode) and g.value.startswith(event_head):
                if g in retracted or g in book.withdrawn:
                    continue
                out.append(("inferred" if g in book.derivations else "event", g))
        return out

    def _derive(self, home: Household, book: _Book, rule: Rule, row: dict,
                when: dt.datetime) -> E.FactInferred | None:
        premises = rule.instantiate(rule.body, row)
        conclusions = rule.instantiate(rule.template, row)
        if premises is None or not conclusions:
            return None
        key = _key(rule.iri, premises)
        if key in book.keys or key in book.pending_keys:
            return None  # this derivation is recorded already
        sources: dict[NamedNode, None] = {}
        for p in premises:
            holders = self._holders(home, book, p)
            if not holders:
                return None  # held only by retracted or withdrawn graphs
            for _, g in holders:
                if g is not None:
                    sources[g] = None
        if not sources:
            return None  # ontology-level entailment: OWL RL's job (reasoner.owl)
        new = tuple(c for c in conclusions
                    if c not in book.pending_conclusions and not self._holders(home, book, c))
        if len(new) < len(conclusions) and self._circular(home, book, premises, conclusions):
            return None  # it would only support what it rests on
        d = _Derivation(rule.iri, tuple(premises), tuple(conclusions),
                        tuple(sorted(sources, key=lambda n: home.ids.seq_of(n))), new)
        event = E.FactInferred(time=when, by=AGENT, rule=rule.iri, derived_from=d.derived_from,
                               rdf="".join(f"{c} .\n" for c in conclusions))
        book.pending[id(event)] = (event, d, key)
        book.pending_keys.add(key)
        book.pending_conclusions.update(new)
        for p in premises:
            for kind, g in self._holders(home, book, p):
                if kind == "projection":
                    book.by_source.setdefault(g, set()).add(p)
        return event

    def _circular(self, home: Household, book: _Book, premises: Sequence[Triple],
                  conclusions: Sequence[Triple], limit: int = 64) -> bool:
        """Whether some premise rests (only through our derivations) on one of the conclusions:
        such a derivation adds no support, so it is not recorded."""
        targets = set(conclusions)
        seen: set[Triple] = set()
        work = list(premises)
        while work and len(seen) < limit:
            p = work.pop()
            if p in targets:
                return True
            if p in seen:
                continue
            seen.add(p)
            holders = self._holders(home, book, p)
            if any(kind != "inferred" for kind, _ in holders):
                continue  # well founded without our derivations
            for _, g in holders:
                work.extend(book.derivations[g].premises)
        return False

    # -- retractions ---------------------------------------------------------------------------
    def _on_retracted(self, home: Household, book: _Book, a: Appended) -> list[E.Event]:
        target = a.event.retracts
        if target in book.withdrawn:
            return []  # our own withdrawal, coming back
        if target in book.derivations:
            return self._cascade(home, book, set(book.derivations[target].conclusions),
                                 {target}, {target}, a)
        lost = {q.triple for q in home.store.quads(None, None, None, target)}
        lost |= book.by_source.pop(target, set())
        return self._cascade(home, book, lost, set(), set(), a)

    def _cascade(self, home: Household, book: _Book, lost: set[Triple],
                 suspects: set[NamedNode], dead: set[NamedNode], cause: Appended
                 ) -> list[E.Event]:
        """Delete and rederive: suspects are every derivation downstream of a lost triple; those
        whose premises still hold without the unrestored suspects are kept."""
        suspect_triples: set[Triple] = set()
        work = list(lost)
        while work:
            t = work.pop()
            if t in suspect_triples:
                continue
            suspect_triples.add(t)
            for d in book.by_premise.get(t, ()):
                if d not in suspects:
                    suspects.add(d)
                    work.extend(book.derivations[d].conclusions)
        restored: set[NamedNode] = set()

        def holds(t: Triple) -> bool:
            if t not in suspect_triples:
                return True
            for kind, g in self._holders(home, book, t):
                if kind == "inferred" and g in suspects and g not in restored:
                    continue
                return True
            return False

        changed = True
        while changed:
            changed = False
            for d in suspects - restored - dead:
                if all(holds(p) for p in book.derivations[d].premises):
                    restored.add(d)
                    changed = True
        out: list[E.Event] = []
        cause_ref = f"event {cause.event.retracts.value.rsplit(':', 1)[-1]}"
        for d in sorted(suspects - restored, key=lambda n: home.ids.seq_of(n)):
            if d in dead:
                book.forget(d)
                continue
            missing = next((p for p in book.derivations[d].premises if not holds(p)), None)
            book.withdrawn.add(d)
            book.forget(d)
            self.stats["withdrawn"] += 1
            out.append(E.EventRetracted(
                time=cause.event.time, by=AGENT, retracts=d,
                reason=f"its premise {missing} no longer holds ({cause_ref} was retracted)"))
        return out

    # -- meeting a household ---------------------------------------------------------------
    def sync(self, home: Household) -> list[E.Event]:
        """Brings the engine up to date with a household's log, once, when it first meets it:
        evaluates every rule in full, keeps the recorded derivations that still hold, and
        returns the missing conclusions and the withdrawals of those that no longer hold."""
        book = self._books.setdefault(home, _Book())
        _ENGINES[home] = self
        recorded: dict[NamedNode, E.FactInferred] = {}
        for seq in home.log.seqs_of_types([E.FactInferred]):
            iri = home.ids.event(seq)
            if iri in home.state.retracted:
                continue
            ev = home.event(seq)
            if ev.rule and self.rules.by_iri(ev.rule) is not None:
                recorded[iri] = ev
        # every derivation the graph supports now (with our recorded conclusions in it)
        candidates: dict[tuple, tuple[Rule, list[Triple], list[Triple], dict]] = {}
        for rule in self.rules:
            self.stats["full_evaluations"] += 1
            for row in self._select(home, rule, {}):
                premises = rule.instantiate(rule.body, row)
                conclusions = rule.instantiate(rule.template, row)
                if premises is not None and conclusions:
                    candidates.setdefault(_key(rule.iri, premises),
                                          (rule, premises, conclusions, row))
        by_conclusions: dict[tuple, list[tuple]] = {}
        for key, (rule, premises, conclusions, _) in candidates.items():
            by_conclusions.setdefault((rule.iri, frozenset(conclusions)), []).append(key)
        holders: dict[Triple, list] = {}

        def held(t):
            if t not in holders:
                holders[t] = self._holders(home, book, t)
            return holders[t]

        def base(t):  # held by something other than our recorded conclusions
            return any(not (kind == "event" and g in recorded) for kind, g in held(t))

        matched: dict[NamedNode, tuple] = {}
        for iri, ev in recorded.items():
            sources = set(ev.derived_from)
            for key in by_conclusions.get((ev.rule, frozenset(E.parse_triples(ev.rdf))), ()):
                premises = candidates[key][1]
                if all(any(g is None or g in sources for _, g in held(p)) for p in premises):
                    matched[iri] = key
                    break
        valid: dict[NamedNode, tuple] = {}
        established: set[Triple] = set()
        changed = True
        while changed:
            changed = False
            for iri, key in matched.items():
                if iri in valid:
                    continue
                if all(base(p) or p in established for p in candidates[key][1]):
                    valid[iri] = key
                    established.update(candidates[key][2])
                    changed = True
        for iri, key in valid.items():
            rule, premises, conclusions, _ = candidates[key]
            book.record(iri, _Derivation(rule.iri, tuple(premises), tuple(conclusions),
                                         recorded[iri].derived_from), key)
        book.seen = home.head
        out: list[E.Event] = []
        when = home.event(home.head).time if home.head else dt.datetime.now(dt.timezone.utc)
        for iri in sorted(set(recorded) - set(valid), key=lambda n: home.ids.seq_of(n)):
            book.withdrawn.add(iri)
            self.stats["withdrawn"] += 1
            out.append(E.EventRetracted(time=when, by=AGENT, retracts=iri,
                                        reason="its premises no longer hold"))
        holders.clear()  # the recorded ones are registered now: classify holders afresh
        for key, (rule, _, _, row) in candidates.items():
            if key not in book.keys:
                event = self._derive(home, book, rule, row, when)
                if event is not None:
                    out.append(event)
        return out

    # -- explanations --------------------------------------------------------------------------
    def premises_of(self, home: Household, inference: NamedNode) -> tuple[Triple, ...] | None:
        """The premise triples of one of this engine's recorded derivations."""
        book = self._books.get(home)
        if book is not None and inference in book.derivations:
            return book.derivations[inference].premises
        return None


def _is_thing(home: Household, node) -> bool:
    state = home.ids.state_graph
    for t in (HEARTH.DeviceState, HEARTH.Definition):
        if next(iter(home.store.quads(node, RDF.type, t, state)), None) is not None:
            return False
    return True


def _thing_source(home: Household, node) -> NamedNode | None:
    """The event that added a floor, area, device or person described in the state graph."""
    if not isinstance(node, NamedNode) or node == home.ids.household:
        return None
    state = home.ids.state_graph
    q = next(iter(home.store.quads(node, PROV.wasDerivedFrom, None, state)), None)
    if q is None or not _is_thing(home, node):
        return None
    return q.object


_ENGINES: "weakref.WeakKeyDictionary[Household, RulesEngine]" = weakref.WeakKeyDictionary()


@register_component("rules")
def rules_component(*, paths: Sequence[str] = (), builtin: bool = True) -> RulesEngine:
    """The ``rules`` component: the built-in rules (unless ``builtin=False``) and any rule files
    or folders in ``paths``."""
    rules = RuleSet.builtin() if builtin else RuleSet()
    if paths:
        rules = rules + RuleSet.from_paths(*paths)
    return RulesEngine(rules)


# ---------------------------------------------------------------------------------------------
# Explanations


@dataclass(frozen=True)
class Derivation:
    """One way a triple holds.

    ``kind``: "asserted" (an input event's graph holds it), "inferred" (a FactInferred, with the
    rule and the premises' explanations), "projection" (the state graph describes a thing, as
    the event that added it said), "ontology" (the shipped ontology), or "conclusion" (another
    component's conclusion, whose premises are not known)."""

    kind: str
    event: NamedNode | None = None
    seq: int | None = None
    event_type: str | None = None
    rule: str | None = None
    premises: tuple["Explanation", ...] = ()


@dataclass(frozen=True)
class Explanation:
    """Why a triple holds: every derivation of it, each down to input events."""

    triple: Triple
    derivations: tuple[Derivation, ...]
    circular: bool = False

    @property
    def holds(self) -> bool:
        return bool(self.derivations)

    def inferences(self) -> list[Derivation]:
        return [d for d in self.derivations if d.kind == "inferred"]

    def input_events(self) -> set[NamedNode]:
        """The events at the leaves of the tree (input events and other components'
        conclusions)."""
        out: set[NamedNode] = set()
        for d in self.derivations:
            if d.kind == "inferred":
                for p in d.premises:
                    out |= p.input_events()
            elif d.event is not None:
                out.add(d.event)
        return out

    def text(self, prefixes: Mapping[str, str] | None = None, *, indent: int = 0) -> str:
        """The tree, one line a node."""
        prefixes = {**PREFIXES, "cs": CS} if prefixes is None else prefixes
        pad = "  " * indent
        lines = [pad + _short(self.triple, prefixes)]
        if self.circular:
            lines[0] += "  (circular: see above)"
        for d in self.derivations:
            if d.kind == "inferred":
                name = d.rule.rsplit("/", 1)[-1] if d.rule else "?"
                lines.append(f"{pad}  inferred by rule {name} (event {d.seq}) from:")
                lines.extend(p.text(prefixes, indent=indent + 2) for p in d.premises)
            elif d.kind == "ontology":
                lines.append(f"{pad}  in the ontology")
            elif d.kind == "projection":
                lines.append(f"{pad}  as event {d.seq} ({d.event_type}) described it")
            else:
                lines.append(f"{pad}  {d.kind} by event {d.seq} ({d.event_type})")
        if not self.derivations and not self.circular:
            lines.append(f"{pad}  does not hold")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


def _short(t: Triple, prefixes: Mapping[str, str]) -> str:
    def one(term):
        if isinstance(term, NamedNode):
            for p, base in sorted(prefixes.items(), key=lambda kv: -len(kv[1])):
                if term.value.startswith(base):
                    return f"{p}:{term.value[len(base):]}"
        return str(term)
    return " ".join(one(x) for x in (t.subject, t.predicate, t.object))


def _as_triple(triple) -> Triple:
    if isinstance(triple, Triple):
        return triple
    s, p, o = triple
    s = NamedNode(s) if isinstance(s, str) else s
    p = NamedNode(p) if isinstance(p, str) else p
    if isinstance(o, str) and re.match(r"^[a-z][a-z0-9+.-]*:\S+$", o) and " " not in o:
        o = NamedNode(o)
    elif not isinstance(o, (NamedNode, BlankNode, Literal, Triple)):
        o = to_term(o)
    return Triple(s, p, o)


def explain(home: Household, triple, *, rules: RuleSet | None = None) -> Explanation:
    """Every derivation of a triple, down to input events.

    ``triple`` is a pyoxigraph ``Triple`` or an (s, p, o) tuple (IRIs as strings are read as
    IRIs). Premises of inferences come from the engine attached to the household, or are
    reconstructed from the log (the rule is re-evaluated with the conclusion bound, and the
    solution whose premises the inference's events hold is taken).
    """
    return _explain(home, _as_triple(triple), rules, ())


def _explain(home: Household, t: Triple, rules: RuleSet | None, path: tuple) -> Explanation:
    if t in path:
        return Explanation(t, (), circular=True)
    ids = home.ids
    retracted = home.state.retracted
    engine = _ENGINES.get(home)
    withdrawn = set()
    if engine is not None and home in engine._books:
        withdrawn = engine._books[home].withdrawn
    out: list[Derivation] = []
    seen_graphs = set()
    for q in home.store.quads(t.subject, t.predicate, t.object, None):
        g = q.graph_name
        if g in seen_graphs:
            continue
        seen_graphs.add(g)
        if g == ids.ontology_graph:
            out.append(Derivation("ontology"))
            continue
        if g == ids.state_graph:
            src = _thing_source(home, t.subject)
            if src is not None and src not in retracted:
                out.append(Derivation("projection", src, ids.seq_of(src),
                                      home.event(ids.seq_of(src)).type_name()))
            continue
        if not (isinstance(g, NamedNode) and g.value.startswith(ids.base + "event:")):
            continue
        if g in retracted or g in withdrawn:
            continue
        seq = ids.seq_of(g)
        ev = home.event(seq)
        if isinstance(ev, E.FactInferred) and ev.rule:
            premises = engine.premises_of(home, g) if engine is not None else None
            if premises is None:
                premises = _reconstruct(home, ev, rules)
            if premises is not None:
                out.append(Derivation("inferred", g, seq, ev.type_name(), ev.rule, tuple(
                    _explain(home, p, rules, path + (t,)) for p in premises)))
                continue
        kind = "conclusion" if ev.is_conclusion else "asserted"
        out.append(Derivation(kind, g, seq, ev.type_name(),
                              getattr(ev, "rule", None)))
    return Explanation(t, tuple(out))


def _reconstruct(home: Household, ev: E.FactInferred, rules: RuleSet | None
                 ) -> tuple[Triple, ...] | None:
    """The premises of a recorded inference, found again from the log."""
    rule = (rules.by_iri(ev.rule) if rules is not None else None) or _KNOWN_RULES.get(ev.rule)
    if rule is None:
        return None
    conclusions = E.parse_triples(ev.rdf)
    sources = set(ev.derived_from)

    def unify_all(k, b):
        if k == len(rule.template):
            yield b
            return
        for c in conclusions:
            b2 = _unify(rule.template[k], c, b)
            if b2 is not None:
                yield from unify_all(k + 1, b2)

    engine = RulesEngine(RuleSet([rule]))
    book = _Book()
    for bindings in unify_all(0, {}):
        for row in engine._select(home, rule, bindings):
            premises = rule.instantiate(rule.body, row)
            if premises is None:
                continue
            if all(any(g is None or g in sources for _, g in engine._holders(home, book, p))
                   for p in premises):
                return tuple(premises)
    return None
