"""One error hierarchy for hearth.

Every error says what happened, what is available, and what to do. Each subclasses the builtin it
resembles, so callers that catch ``ValueError`` or ``OSError`` keep working.

    HearthError
    ├── StoreError (OSError)           the store could not be opened, read or written
    │   ├── StoreLockedError           another process holds the embedded store
    │   └── EndpointError              a remote SPARQL endpoint failed or refused
    ├── QueryError (ValueError)        a SPARQL query or update is malformed, or a binding is bad
    ├── EventError (ValueError)        an event is malformed (names the field, and the line in a file)
    │   └── ShapeViolation             an event's RDF breaks a SHACL shape
    ├── RDFSyntaxError (ValueError)    RDF text could not be parsed
    ├── UnknownHouseholdError (KeyError)
    └── HouseholdExistsError (ValueError)
"""

from __future__ import annotations


class HearthError(Exception):
    """Base class of every error hearth raises on purpose."""


class StoreError(HearthError, OSError):
    """The store could not be opened, read or written."""


class StoreLockedError(StoreError):
    """Another process has the embedded store open for writing."""


class EndpointError(StoreError):
    """A remote SPARQL endpoint failed, timed out or refused the request."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.status = status
        self.url = url


class QueryError(HearthError, ValueError):
    """A SPARQL query or update is malformed, or a binding cannot be used."""


class EventError(HearthError, ValueError):
    """An event is malformed. ``field`` and ``line`` say where, when known."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None):
        self.field = field
        self.line = line
        self.reason = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def at_line(self, line: int) -> "EventError":
        """The same error, located at ``line`` of an input file."""
        err = type(self).__new__(type(self))
        EventError.__init__(err, self.reason, field=self.field, line=line)
        return err


class ShapeViolation(EventError):
    """An event's RDF breaks one of the SHACL shapes in ``ontologies/shapes``."""


class RDFSyntaxError(HearthError, ValueError):
    """RDF text could not be parsed."""


class UnknownHouseholdError(HearthError, KeyError):
    """No household has this id."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want the sentence
        return str(self.args[0]) if self.args else ""


class HouseholdExistsError(HearthError, ValueError):
    """A household with this id already exists."""
