"""Parameterized SPARQL: user values are bound as RDF terms, never pasted into the query text.

``bind(query, {"device": iri, "since": when})`` replaces the bound variables with their values,
each written as one escaped N-Triples term (IRIs are validated, literals escaped), found by a
tokenizer that skips strings, IRIs and comments. Nothing else in the text changes, so no value can
change the query's structure.

>>> bind("SELECT ?o WHERE { ?s ?p ?o }", {"s": NamedNode("urn:x:a")})
'SELECT ?o WHERE { <urn:x:a> ?p ?o }'
>>> print(bind("SELECT ?s WHERE { ?s ?p ?o }", {"o": 'say "hi"', "s": NamedNode("urn:x:a")}))
SELECT ?s WHERE { <urn:x:a> ?p "say \\"hi\\""  BIND(<urn:x:a> AS ?s) }
>>> print(bind("SELECT ?s WHERE { ?s ?p ?o }", {"o": 1}, mode="values"))
SELECT ?s WHERE { VALUES ?o { "1"^^<http://www.w3.org/2001/XMLSchema#integer> }  ?s ?p ?o }
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from pyoxigraph import BlankNode, Literal, NamedNode, QueryBoolean, QuerySolutions, Triple

from .errors import QueryError
from .terms import Term, to_python, to_term

_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_IRIREF = re.compile(r'<[^<>"{}|^`\\\x00-\x20]*>')
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_VARNAME = re.compile(r"[A-Za-z0-9_\u00B7\u00C0-\uFFFF]+")
_FORMS = ("SELECT", "ASK", "CONSTRUCT", "DESCRIBE")


def _scan(sparql: str) -> Iterator[tuple[int, int, str]]:
    """Yields (start, end, token) for the structural tokens of a SPARQL text: braces,
    parentheses, keywords (upper-cased) and variables (``?name``), skipping comments, strings and
    IRIs, which may contain any of them."""
    i, n = 0, len(sparql)
    while i < n:
        c = sparql[i]
        if c == "#":
            end = sparql.find("\n", i)
            i = n if end < 0 else end + 1
        elif c in "\"'":
            quote = c * 3 if sparql.startswith(c * 3, i) else c
            j = i + len(quote)
            while j < n and not sparql.startswith(quote, j):
                j += 2 if sparql[j] == "\\" else 1
            if j >= n:
                raise QueryError("the query has an unterminated string; close it and try again")
            i = j + len(quote)
        elif c == "<":
            m = _IRIREF.match(sparql, i)
            i = m.end() if m else i + 1
        elif c in "{}()":
            yield i, i + 1, c
            i += 1
        elif c in "?$":
            m = _VARNAME.match(sparql, i + 1)
            if m:
                yield i, m.end(), "?" + m.group(0)
                i = m.end()
            else:
                i += 1
        elif c.isalpha() or c == "_":
            m = _WORD.match(sparql, i)
            if sparql[i - 1:i] == ":" or sparql[m.end():m.end() + 1] == ":":
                i = m.end()  # part of a prefixed name, not a keyword
                continue
            yield i, m.end(), m.group(0).upper()
            i = m.end()
        else:
            i += 1


def _where_group(tokens: list[tuple[int, int, str]]) -> tuple[int, int]:
    """Indexes (into tokens) of the braces opening and closing the outermost WHERE group."""
    form_at = next((k for k, t in enumerate(tokens) if t[2] in _FORMS), None)
    if form_at is None:
        raise QueryError("bindings need a SELECT, ASK, CONSTRUCT or DESCRIBE query")
    skip_template = tokens[form_at][2] == "CONSTRUCT"
    if skip_template and form_at + 1 < len(tokens) and tokens[form_at + 1][2] == "WHERE":
        raise QueryError("the short form 'CONSTRUCT WHERE { … }' cannot take bindings: write "
                         "'CONSTRUCT { template } WHERE { pattern }'")
    depth_brace = depth_paren = 0
    opening = None
    for k in range(form_at + 1, len(tokens)):
        tok = tokens[k][2]
        if tok == "(":
            depth_paren += 1
        elif tok == ")":
            depth_paren -= 1
        elif tok == "WHERE" and depth_brace == 0 and depth_paren == 0:
            skip_template = False
        elif tok == "{":
            if depth_brace == 0 and depth_paren == 0 and not skip_template and opening is None:
                opening = k
            depth_brace += 1
        elif tok == "}":
            depth_brace -= 1
            if depth_brace == 0:
                if opening is not None:
                    return opening, k
                skip_template = False  # CONSTRUCT {template} {pattern}: next group is the pattern
    raise QueryError("the query has no WHERE group to bind values in")


def where_group_start(sparql: str) -> int:
    """The index just after the ``{`` opening the query's outermost WHERE group."""
    tokens = list(_scan(sparql))
    return tokens[_where_group(tokens)[0]][1]


def term_text(value: object) -> str:
    term = to_term(value)
    if isinstance(term, BlankNode):
        raise QueryError("a blank node cannot be bound: bind the IRI of the node instead")
    return str(term)  # N-Triples form: IRIs validated, literals escaped


def _subquery_projection_vars(tokens, lo: int, hi: int) -> set[str]:
    """Variables projected by SELECTs nested inside the WHERE group (between token lo and hi)."""
    out: set[str] = set()
    k = lo
    while k < hi:
        if tokens[k][2] == "SELECT":
            k += 1
            while k < hi and tokens[k][2] not in ("{", "WHERE"):
                if tokens[k][2].startswith("?"):
                    out.add(tokens[k][2][1:])
                k += 1
        k += 1
    return out


def bind(sparql: str, bindings: Mapping[str, object] | None, *, mode: str = "substitute") -> str:
    """The query with its variables bound to values, safely.

    Each occurrence of a bound variable in the WHERE clause is replaced by the value written as
    one escaped N-Triples term (as parameterized query strings do), so the engine sees a constant
    and plans with it; where the variable is also projected, grouped or ordered on, a
    ``BIND(value AS ?var)`` at the end of the WHERE group keeps it in the results. A list value
    becomes a ``VALUES`` block (several rows), as does a variable a subquery projects, and every
    variable with ``mode="values"`` (a join at the start of the group: slower to plan with, but
    valid wherever a variable is, e.g. a literal in a subject position simply matches nothing).
    """
    if not bindings:
        return sparql
    values: dict[str, list[str]] = {}
    for name, value in bindings.items():
        var = name[1:] if name[:1] in "?$" else name
        if not _VAR.match(var):
            raise QueryError(f"binding name {name!r} is not a SPARQL variable name (letters, "
                             "digits and '_', not starting with a digit)")
        items = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
        if not items:
            raise QueryError(f"binding {name!r} has no values: give at least one")
        values[var] = [term_text(v) for v in items]
    tokens = list(_scan(sparql))
    opening, closing = _where_group(tokens)
    inner_projected = _subquery_projection_vars(tokens, opening, closing)
    seen_inside: set[str] = set()
    seen_outside: set[str] = set()
    edits: list[tuple[int, int, str]] = []
    as_values = {v for v, texts in values.items()
                 if mode == "values" or len(texts) > 1 or v in inner_projected}
    for k, (start, end, tok) in enumerate(tokens):
        if not tok.startswith("?") or tok[1:] not in values:
            continue
        var = tok[1:]
        if opening < k < closing:
            seen_inside.add(var)
            if var not in as_values:
                edits.append((start, end, values[var][0]))
        else:
            seen_outside.add(var)
    unused = set(values) - seen_inside - seen_outside
    if unused:
        raise QueryError(f"the query does not use {', '.join('?' + v for v in sorted(unused))}: "
                         "check the binding names")
    head = " ".join(f"VALUES ?{v} {{ {' '.join(values[v])} }}" for v in sorted(as_values))
    tail = " ".join(f"BIND({values[v][0]} AS ?{v})" for v in sorted(seen_outside - as_values))
    open_at = tokens[opening][1]
    close_at = tokens[closing][0]
    if head:
        edits.append((open_at, open_at, f" {head} "))
    if tail:
        edits.append((close_at, close_at, f" {tail} "))
    out = sparql
    for start, end, text in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        out = out[:start] + text + out[end:]
    return out


class Row(Sequence):
    """One solution: index by position or by variable name; unbound variables are None."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: tuple):
        self._index = index
        self._values = values

    def __getitem__(self, key):
        if isinstance(key, str):
            try:
                return self._values[self._index[key.lstrip("?")]]
            except KeyError:
                raise KeyError(f"no variable {key!r} in this result; it has "
                               f"{', '.join(self._index)}") from None
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: str, default=None):
        i = self._index.get(key.lstrip("?"))
        return default if i is None or self._values[i] is None else self._values[i]

    def asdict(self) -> dict[str, Term | None]:
        return {k: self._values[i] for k, i in self._index.items()}

    def to_python(self) -> dict[str, Any]:
        return {k: to_python(self._values[i]) for k, i in self._index.items()}

    def __repr__(self) -> str:
        return "Row(" + ", ".join(f"{k}={self._values[i]}" for k, i in self._index.items()) + ")"


class SelectResult(Sequence):
    """The rows of a SELECT query, materialized."""

    def __init__(self, variables: list[str], rows: list[tuple]):
        self.variables = variables
        self._index = {v: i for i, v in enumerate(variables)}
        self._rows = rows

    @classmethod
    def from_solutions(cls, solutions: QuerySolutions) -> "SelectResult":
        variables = [v.value for v in solutions.variables]
        return cls(variables, [tuple(s) for s in solutions])

    def __getitem__(self, i):
        if isinstance(i, slice):
            return SelectResult(self.variables, self._rows[i])
        return Row(self._index, self._rows[i])

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Row]:
        index = self._index
        return (Row(index, r) for r in self._rows)

    def column(self, name: str) -> list:
        i = self._index[name.lstrip("?")]
        return [r[i] for r in self._rows]

    def scalar(self):
        """The single value of a one-row, one-column result, as a Python value."""
        if len(self._rows) != 1 or len(self.variables) != 1:
            raise QueryError(f"expected one value, got {len(self._rows)} rows of "
                             f"{len(self.variables)} columns")
        return to_python(self._rows[0][0])

    def to_python(self) -> list[dict[str, Any]]:
        return [Row(self._index, r).to_python() for r in self._rows]

    def __repr__(self) -> str:
        return f"SelectResult({self.variables}, {len(self._rows)} rows)"

    # -- serializations (SPARQL 1.1 Query Results JSON and CSV/TSV) -------------------------
    def to_json(self) -> dict:
        return {"head": {"vars": self.variables},
                "results": {"bindings": [
                    {v: json_term(t) for v, t in zip(self.variables, row) if t is not None}
                    for row in self._rows]}}

    def to_csv(self, *, delimiter: str = ",") -> str:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(self.variables)
        for row in self._rows:
            writer.writerow(["" if t is None else t.value for t in row])
        return out.getvalue()


def json_term(term: Term) -> dict:
    """A term in the SPARQL 1.1 Query Results JSON form."""
    if isinstance(term, NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, Literal):
        out = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
        elif term.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
            out["datatype"] = term.datatype.value
        return out
    if isinstance(term, Triple):
        return {"type": "triple", "value": {"subject": json_term(term.subject),
                                            "predicate": json_term(term.predicate),
                                            "object": json_term(term.object)}}
    raise TypeError(term)


def wrap(raw) -> "SelectResult | bool | list[Triple]":
    """A store's raw answer as hearth's result types."""
    if isinstance(raw, QuerySolutions):
        return SelectResult.from_solutions(raw)
    if isinstance(raw, (QueryBoolean, bool)):
        return bool(raw)
    return list(raw)


def results_json(result: "SelectResult | bool | list[Triple]") -> str:
    if isinstance(result, bool):
        return json.dumps({"head": {}, "boolean": result})
    if isinstance(result, SelectResult):
        return json.dumps(result.to_json())
    raise QueryError("CONSTRUCT and DESCRIBE results are RDF: serialize them as Turtle or N-Triples")


def keywords(sparql: str) -> set[str]:
    """The keywords of a SPARQL text (upper-cased), outside strings, IRIs and comments."""
    return {tok for _, _, tok in _scan(sparql) if tok[0].isalpha()}


def query_form(sparql: str) -> str | None:
    """SELECT, ASK, CONSTRUCT or DESCRIBE: the query's form, read past prefixes and comments."""
    for _, _, tok in _scan(sparql):
        if tok in _FORMS:
            return tok
    return None


def is_update(sparql: str) -> bool:
    """Whether a SPARQL text is an update (so a query endpoint can refuse it)."""
    words = keywords(sparql)
    forms = words & set(_FORMS)
    updates = words & {"INSERT", "DELETE", "LOAD", "CLEAR", "DROP", "CREATE", "ADD", "MOVE", "COPY"}
    return bool(updates) and not forms


def triples_text(triples: Iterable[Triple]) -> str:
    return "".join(f"{t.subject} {t.predicate} {t.object} .\n" for t in triples)
