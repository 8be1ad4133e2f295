"""The errors a connector raises: one tree, and no ``requests`` exception ever escapes it.

Every error is a :class:`ConnectorError`, which is a :class:`kg.errors.HearthError` and an
:class:`OSError` (a remote service failing is an I/O failure), and each subclass also inherits the
builtin it resembles, so ``except TimeoutError`` or ``except LookupError`` keeps working::

    ConnectorError (HearthError, OSError)      a knowledge source could not answer
    ├── ConnectorTimeout (TimeoutError)        no answer within the connect/read/total timeout
    ├── ConnectionFailed (ConnectionError)     the host could not be reached (DNS, refused, reset)
    ├── RateLimited                            429 (or 503 with Retry-After) beyond what we wait for
    ├── ServiceError                           the service failed: a 5xx status, after retries
    ├── RequestRejected                        a 4xx other than 404/429: the request itself is wrong
    ├── NotFound (LookupError)                 404, or the service says the thing does not exist
    ├── BadResponse (ValueError)               the body is not the JSON/RDF shape the client expects
    ├── OfflineMiss (LookupError)              offline mode, and the answer is not in the cache
    └── LexiconUnavailable (FileNotFoundError) the offline lexicon's data files are not installed

Each carries ``url`` and ``source`` (the connector's name) when known; HTTP errors carry ``status``.
"""

from __future__ import annotations

from kg.errors import HearthError


class ConnectorError(HearthError, OSError):
    """A knowledge source (web service or offline lexicon) could not answer."""

    def __init__(self, message: str, *, url: str | None = None, source: str | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.url = url
        self.source = source
        self.status = status

    def __str__(self) -> str:  # OSError would render a 1-tuple of args oddly after pickling
        return str(self.args[0]) if self.args else ""

    def __reduce__(self):
        return (_rebuild, (type(self), self.args[0] if self.args else "", self.__dict__))


def _rebuild(cls, message, state):
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class ConnectorTimeout(ConnectorError, TimeoutError):
    """The service did not answer within the connect, read or total timeout."""


class ConnectionFailed(ConnectorError, ConnectionError):
    """The host could not be reached: DNS failure, connection refused or reset, TLS failure."""


class RateLimited(ConnectorError):
    """The service asked us to slow down (429, or 503 with ``Retry-After``) for longer than the
    transport is allowed to wait. ``retry_after`` is in seconds, or None when the service gave none."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServiceError(ConnectorError):
    """The service failed (a 5xx status) and kept failing through the retries."""


class RequestRejected(ConnectorError):
    """The service refused the request itself (400, 401, 403, 405, 413, ...): retrying will not
    help; the message quotes the service's own explanation."""


class NotFound(ConnectorError, LookupError):
    """The service answered that the page, entity or concept does not exist (404)."""


class BadResponse(ConnectorError, ValueError):
    """The service answered, but not in the shape the client expects (malformed JSON, missing
    fields, unexpected content type)."""


class OfflineMiss(ConnectorError, LookupError):
    """Offline mode is on and the answer is not in the cache."""


class LexiconUnavailable(ConnectorError, FileNotFoundError):
    """The offline lexicon's data files could not be found."""


__all__ = ["ConnectorError", "ConnectorTimeout", "ConnectionFailed", "RateLimited", "ServiceError",
           "RequestRejected", "NotFound", "BadResponse", "OfflineMiss", "LexiconUnavailable"]
