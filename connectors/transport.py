"""One HTTP transport for every connector: timeouts, retries, per-host rate limits, a cache, an
offline mode and a descriptive User-Agent, with every ``requests`` error translated at this boundary.

What one :meth:`Transport.request` does, in order:

1. Builds the URL with its parameters sorted (so equal requests share a cache key).
2. Cache: a fresh entry is returned at once (``Response.from_cache``). In offline mode any entry,
   fresh or expired, is returned (``Response.stale`` tells which), and no entry raises
   :class:`~connectors.errors.OfflineMiss`.
3. Takes a token from the host's bucket (``rate_limits``: requests per second per host), sleeping
   if needed; a 429/503 with ``Retry-After`` also pauses the host's bucket for that long.
4. Sends with a (connect, read) timeout and a total timeout for the whole body.
5. Retries, up to ``RetryPolicy.attempts`` tries in all: 429 and 503 always (the server did not
   act on the request), waiting what ``Retry-After`` asks (seconds or an HTTP date) or, without it,
   an exponential backoff with jitter; other 5xx, read timeouts and broken connections only for
   idempotent requests (GET, HEAD, or a SPARQL query sent by POST with ``idempotent=True``);
   connect timeouts and refused connections always (nothing was sent). A ``Retry-After`` longer
   than ``max_retry_after_s``, or a wait that would pass ``deadline_s``, stops the retries.
6. 2xx answers are cached for ``ttl_s``; 404/410 too, for ``not_found_ttl_s`` (so offline mode
   knows "does not exist" from "never asked"). When every try failed and an expired entry is no
   older than ``stale_if_error_s`` past its expiry, that entry is returned with ``stale=True``.

Tests inject ``clock`` and ``sleep`` (monotonic time for rate limits and backoff), ``wall_clock``
(Unix time for cache expiry and HTTP dates) and ``random`` (jitter).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import os
import random as _random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit, quote

from .cache import Cache, CachedResponse, SqliteCache, cache_key, default_cache_dir
from .errors import (BadResponse, ConnectionFailed, ConnectorError, ConnectorTimeout, NotFound,
                     OfflineMiss, RateLimited, RequestRejected, ServiceError)

log = logging.getLogger("hearth.connectors")

PROJECT_URL = "https://w3id.org/hearth"

#: Requests per second per host, unless the caller says otherwise. ConceptNet asks for at most
#: 3600 an hour (bursts of 120 a minute); Wikimedia asks clients to keep requests serial and
#: modest, and the Wikidata Query Service limits query time per minute.
DEFAULT_RATE_LIMITS: Mapping[str, float] = {
    "api.conceptnet.io": 1.0,
    "query.wikidata.org": 1.0,
    "www.wikidata.org": 5.0,
    ".wikipedia.org": 5.0,
    "dbpedia.org": 2.0,
}
DEFAULT_RATE = 2.0

_RETRY_AFTER_STATUSES = (429, 503)
_RETRYABLE_5XX = (500, 502, 503, 504)
_IDEMPOTENT = ("GET", "HEAD", "OPTIONS")


def hearth_version() -> str:
    try:
        from importlib.metadata import version
        return version("hearth")
    except Exception:  # not installed (running from a source tree)
        return "0.1.0"


def user_agent_string(contact: str | None = None) -> str:
    """The User-Agent Wikimedia's policy asks for: client/version (project URL; contact) library.

    >>> user_agent_string("ops@example.org").startswith("hearth/")
    True
    >>> "(+https://w3id.org/hearth; ops@example.org)" in user_agent_string("ops@example.org")
    True
    """
    import requests
    contact = contact if contact is not None else os.environ.get("HEARTH_CONTACT")
    inside = f"+{PROJECT_URL}; {contact}" if contact else f"+{PROJECT_URL}"
    return f"hearth/{hearth_version()} ({inside}) python-requests/{requests.__version__}"


@dataclass(frozen=True)
class Timeout:
    """Seconds: to connect, between two bytes read, and for the whole answer (None: no limit)."""

    connect: float = 3.05
    read: float = 10.0
    total: float | None = 30.0

    @classmethod
    def of(cls, value: "Timeout | float | tuple[float, float]") -> "Timeout":
        if isinstance(value, Timeout):
            return value
        if isinstance(value, tuple):
            return cls(connect=float(value[0]), read=float(value[1]))
        return cls(connect=float(value), read=float(value), total=float(value) * 3)


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all. Backoff before try k+1 (k from 0): ``b = min(backoff_max_s,
    backoff_s * 2**k)``, then a uniform draw in [b/2, b] (equal jitter). ``deadline_s`` bounds the
    time spent on one request across its tries; None for no bound."""

    attempts: int = 3
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    max_retry_after_s: float = 30.0
    deadline_s: float | None = 60.0

    def backoff(self, attempt: int, draw: float) -> float:
        b = min(self.backoff_max_s, self.backoff_s * (2 ** attempt))
        return b / 2 + draw * b / 2


NO_RETRY = RetryPolicy(attempts=1)

#: For a voice assistant waiting on an answer: a slow source is skipped, not waited for.
INTERACTIVE_TIMEOUT = Timeout(connect=1.0, read=2.0, total=3.0)
INTERACTIVE_RETRY = RetryPolicy(attempts=2, backoff_s=0.2, backoff_max_s=1.0,
                                max_retry_after_s=1.0, deadline_s=4.0)


@dataclass(frozen=True)
class Response:
    """An HTTP answer, fetched now or read from the cache. Header names are lower-case."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str
    fetched_at: float
    from_cache: bool = False
    stale: bool = False
    source: str | None = None

    @property
    def text(self) -> str:
        charset = "utf-8"
        ctype = self.headers.get("content-type", "")
        for part in ctype.split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip('"')
        return self.content.decode(charset, errors="replace")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def fetched_datetime(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.fetched_at, tz=dt.timezone.utc)

    def json(self) -> Any:
        try:
            return json.loads(self.content)
        except (ValueError, UnicodeDecodeError) as err:
            snippet = self.content[:120].decode("utf-8", errors="replace")
            raise BadResponse(
                f"{self.source or 'the service'} answered {self.url} with something that is not "
                f"JSON ({err}); it began {snippet!r}. The service may be down or behind a proxy: "
                "try again later or check the base URL", url=self.url, source=self.source,
                status=self.status) from err


class TokenBucket:
    """``rate`` tokens a second, up to ``capacity``; :meth:`acquire` sleeps until one is free."""

    def __init__(self, rate: float, capacity: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = float(rate)
        self.capacity = float(capacity if capacity is not None else max(1.0, rate))
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._paused_until = float("-inf")
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def acquire(self) -> float:
        """Takes one token; returns how long it waited. Waiters for one host queue on its lock."""
        waited = 0.0
        with self._lock:
            while True:
                now = self._clock()
                self._refill(now)
                if now < self._paused_until:
                    wait = self._paused_until - now
                elif self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return waited
                else:
                    wait = (1.0 - self._tokens) / self.rate
                self._sleep(wait)
                waited += wait

    def pause(self, seconds: float) -> None:
        """No token for ``seconds`` (the host sent Retry-After)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date.

    >>> parse_retry_after("120", now=0.0)
    120.0
    >>> parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", now=40.0)
    60.0
    >>> parse_retry_after("soon", now=0.0) is None
    True
    """
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, when.timestamp() - now)


def build_url(url: str, params: Mapping[str, Any] | None = None) -> str:
    """``url`` with ``params`` appended in sorted order (None values dropped).

    >>> build_url("https://x.org/w/api.php", {"search": "living room", "action": "q"})
    'https://x.org/w/api.php?action=q&search=living%20room'
    """
    if not params:
        return url
    items = sorted((k, v) for k, v in params.items() if v is not None)
    pairs = []
    for key, value in items:
        if isinstance(value, (list, tuple)):
            pairs.extend((key, str(v)) for v in value)
        else:
            pairs.append((key, str(value)))
    query = urlencode(pairs, quote_via=quote, safe="/:")
    parts = urlsplit(url)
    joined = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))


class Transport:
    """HTTP for connectors. ``cache=None`` keeps nothing; pass :class:`~connectors.cache.SqliteCache`
    or :class:`~connectors.cache.MemoryCache`, or use :meth:`Transport.default`.

    ``offline=None`` reads ``HEARTH_OFFLINE`` (1/true/yes). ``rate_limits`` maps a host (or a
    suffix starting with '.') to requests per second; it is merged over
    :data:`DEFAULT_RATE_LIMITS`, and other hosts get ``default_rate``.
    """

    def __init__(self, *, cache: Cache | None = None, offline: bool | None = None,
                 timeout: Timeout | float | tuple[float, float] = Timeout(),
                 retry: RetryPolicy = RetryPolicy(),
                 rate_limits: Mapping[str, float] | None = None, default_rate: float = DEFAULT_RATE,
                 default_ttl_s: float = 7 * 86400.0, not_found_ttl_s: float = 86400.0,
                 stale_if_error_s: float = 30 * 86400.0, contact: str | None = None,
                 user_agent: str | None = None, headers: Mapping[str, str] | None = None,
                 max_bytes: int = 16 * 1024 * 1024, session=None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 wall_clock: Callable[[], float] = time.time,
                 random: Callable[[], float] = _random.random):
        import requests  # imported here so the offline lexicon never pays for it

        self._requests = requests
        self.cache = cache
        self.offline = _env_flag("HEARTH_OFFLINE") if offline is None else bool(offline)
        self.timeout = Timeout.of(timeout)
        self.retry = retry
        self.rate_limits = {**DEFAULT_RATE_LIMITS, **(rate_limits or {})}
        self.default_rate = default_rate
        self.default_ttl_s = default_ttl_s
        self.not_found_ttl_s = not_found_ttl_s
        self.stale_if_error_s = stale_if_error_s
        self.max_bytes = max_bytes
        self.user_agent = user_agent or user_agent_string(contact)
        self._clock, self._sleep, self._wall, self._random = clock, sleep, wall_clock, random
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = self.user_agent
        if headers:
            self._session.headers.update(headers)
        self._buckets: dict[str, TokenBucket] = {}
        self._buckets_lock = threading.Lock()

    @classmethod
    def default(cls, *, cache_dir: str | os.PathLike | None = None, **kwargs) -> "Transport":
        """A transport with the on-disk cache in ``cache_dir`` (default: ``$HEARTH_CACHE_DIR`` or
        ``~/.cache/hearth``)."""
        folder = cache_dir if cache_dir is not None else default_cache_dir()
        return cls(cache=SqliteCache(folder), **kwargs)

    @classmethod
    def interactive(cls, *, cache_dir: str | os.PathLike | None = None, **kwargs) -> "Transport":
        """:meth:`default` with short timeouts and at most one quick retry (4 s in all), for
        lookups a person is waiting on; an expired cache entry is served rather than waiting."""
        kwargs.setdefault("timeout", INTERACTIVE_TIMEOUT)
        kwargs.setdefault("retry", INTERACTIVE_RETRY)
        return cls.default(cache_dir=cache_dir, **kwargs)

    def __repr__(self) -> str:
        mode = "offline" if self.offline else "online"
        return f"Transport({mode}, cache={self.cache!r})"

    # -- rate limits ----------------------------------------------------------------------------
    def rate_for(self, host: str) -> float:
        host = host.lower()
        if host in self.rate_limits:
            return self.rate_limits[host]
        for pattern, rate in self.rate_limits.items():
            if pattern.startswith(".") and host.endswith(pattern):
                return rate
        return self.default_rate

    def bucket(self, host: str) -> TokenBucket:
        with self._buckets_lock:
            found = self._buckets.get(host)
            if found is None:
                found = self._buckets[host] = TokenBucket(
                    self.rate_for(host), clock=self._clock, sleep=self._sleep)
            return found

    # -- requests -------------------------------------------------------------------------------
    def get(self, url: str, **kwargs) -> Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> Response:
        return self.request("POST", url, **kwargs)

    def request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None, data: bytes | str | None = None,
                ttl_s: float | None = None, use_cache: bool | None = None,
                idempotent: bool | None = None, source: str | None = None) -> Response:
        """Sends one request (with retries) or answers it from the cache; see the module doc.

        ``use_cache`` defaults to True for GET/HEAD; ``idempotent`` defaults to True for
        GET/HEAD/OPTIONS. Raises a :class:`~connectors.errors.ConnectorError` subclass for
        404 (:class:`NotFound`), other 4xx (:class:`RequestRejected`), 5xx
        (:class:`ServiceError`), 429 (:class:`RateLimited`), timeouts, unreachable hosts, and
        offline misses; never a ``requests`` exception.
        """
        method = method.upper()
        full_url = build_url(url, params)
        body = data.encode("utf-8") if isinstance(data, str) else data
        all_headers = dict(headers or {})
        accept = next((v for k, v in all_headers.items() if k.lower() == "accept"), None)
        cacheable = (method in ("GET", "HEAD")) if use_cache is None else use_cache
        if idempotent is None:
            idempotent = method in _IDEMPOTENT
        key = cache_key(method, full_url, body=body, accept=accept)
        entry = self.cache.get(key) if (cacheable and self.cache is not None) else None
        now = self._wall()
        if entry is not None and (entry.is_fresh(now=now) or self.offline):
            return self._from_entry(entry, stale=not entry.is_fresh(now=now), source=source)
        if self.offline:
            raise OfflineMiss(
                f"{source or 'connector'}: offline mode is on and {full_url} is not in the cache"
                f"{'' if self.cache is not None else ' (this transport has no cache)'}. Go online "
                "(offline=False, or unset HEARTH_OFFLINE) to fetch it, or rely on the offline "
                "lexicon", url=full_url, source=source)
        try:
            response = self._fetch(method, full_url, body, all_headers,
                                   idempotent=idempotent, source=source)
        except (ServiceError, RateLimited, ConnectorTimeout, ConnectionFailed) as err:
            if entry is not None and now - entry.expires_at <= self.stale_if_error_s:
                log.warning("%s; answering from a cache entry %.0f s past its expiry",
                            err, now - entry.expires_at)
                return self._from_entry(entry, stale=True, source=source)
            raise
        if cacheable and self.cache is not None and (response.status < 300
                                                     or response.status in (404, 410)):
            ttl = self.not_found_ttl_s if response.status >= 400 else (
                self.default_ttl_s if ttl_s is None else ttl_s)
            kept = {k: v for k, v in response.headers.items()  # the body is stored decoded
                    if k not in ("content-encoding", "content-length", "transfer-encoding")}
            self.cache.put(key, CachedResponse(
                response.status, kept, response.content,
                stored_at=response.fetched_at, expires_at=response.fetched_at + ttl,
                url=response.url))
        return self._checked(response)

    # -- internals ------------------------------------------------------------------------------
    def _from_entry(self, entry: CachedResponse, *, stale: bool, source: str | None) -> Response:
        response = Response(entry.status, {k.lower(): v for k, v in entry.headers.items()},
                            entry.body, entry.url, entry.stored_at, from_cache=True, stale=stale,
                            source=source)
        return self._checked(response)

    def _checked(self, response: Response) -> Response:
        if response.status in (404, 410):
            raise NotFound(
                f"{response.source or 'the service'} has no {response.url} ({response.status})",
                url=response.url, source=response.source, status=response.status)
        return response

    def _fetch(self, method: str, url: str, body: bytes | None, headers: dict[str, str], *,
               idempotent: bool, source: str | None) -> Response:
        policy = self.retry
        started = self._clock()
        host = urlsplit(url).hostname or ""
        bucket = self.bucket(host)
        last: ConnectorError | None = None
        who = source or host
        tries = 0
        for attempt in range(max(1, policy.attempts)):
            if attempt:
                wait = self._wait_before_retry(last, attempt - 1)
                if policy.deadline_s is not None and (
                        self._clock() - started + wait > policy.deadline_s):
                    log.info("%s: not retrying %s: waiting %.1f s would pass the %.1f s deadline",
                             who, url, wait, policy.deadline_s)
                    break
                log.info("%s: retry %d of %s in %.2f s after: %s", who, attempt, url, wait, last)
                self._sleep(wait)
            bucket.acquire()
            tries += 1
            try:
                response = self._send_once(method, url, body, headers, source=source)
            except ConnectorTimeout as err:
                last = err
                if not (idempotent or getattr(err, "never_sent", False)):
                    break
                continue
            except ConnectionFailed as err:
                last = err
                if not (idempotent or getattr(err, "never_sent", False)):
                    break
                continue
            status = response.status
            if status < 400 or status in (404, 410):
                return response
            detail = _error_detail(response)
            if status in _RETRY_AFTER_STATUSES:
                wait = parse_retry_after(response.headers.get("retry-after"), now=self._wall())
                if wait is not None:
                    bucket.pause(wait)
                if status == 429:
                    last = RateLimited(
                        f"{who} is rate-limiting us (429) at {url}"
                        + (f"; it asks to wait {wait:.0f} s" if wait is not None else "")
                        + f". {detail}Slow down, or raise rate_limits for {host}",
                        retry_after=wait, url=url, source=source, status=status)
                else:
                    last = ServiceError(
                        f"{who} is unavailable (503) at {url}"
                        + (f", retry after {wait:.0f} s" if wait is not None else "")
                        + f". {detail}Try again later, or work offline", url=url, source=source,
                        status=status)
                last.retry_after = wait
                if wait is not None and wait > policy.max_retry_after_s:
                    if status == 503:
                        raise last
                    raise RateLimited(
                        f"{who} asks to wait {wait:.0f} s before the next request to {url}, longer "
                        f"than the {policy.max_retry_after_s:.0f} s this transport waits. "
                        f"{detail}Try again later", retry_after=wait, url=url, source=source,
                        status=status)
                continue
            if status in _RETRYABLE_5XX or status >= 500:
                last = ServiceError(
                    f"{who} failed with {status} at {url}. {detail}Try again later, or work "
                    "offline", url=url, source=source, status=status)
                last.retry_after = None
                if not idempotent or status not in _RETRYABLE_5XX:
                    break
                continue
            raise RequestRejected(
                f"{who} refused the request {method} {url} ({status}). {detail}Check the "
                "request (query syntax, parameters, credentials)", url=url, source=source,
                status=status)
        assert last is not None
        if tries > 1:
            last.args = (f"{last.args[0]} (gave up after {tries} tries)",)
        raise last

    def _wait_before_retry(self, last: ConnectorError | None, attempt: int) -> float:
        retry_after = getattr(last, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        return self.retry.backoff(attempt, self._random())

    def _send_once(self, method: str, url: str, body: bytes | None, headers: dict[str, str], *,
                   source: str | None) -> Response:
        import urllib3

        exc = self._requests.exceptions
        who = source or (urlsplit(url).hostname or "the service")
        timeout = self.timeout
        started = self._clock()
        try:
            raw = self._session.request(method, url, data=body, headers=headers,
                                        timeout=(timeout.connect, timeout.read), stream=True,
                                        allow_redirects=True)
            try:
                declared = raw.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise BadResponse(
                        f"{who} answered {url} with {declared} bytes, more than the "
                        f"{self.max_bytes} allowed (max_bytes=)", url=url, source=source,
                        status=raw.status_code)
                chunks, size = [], 0
                for chunk in _chunks(raw):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise BadResponse(
                            f"{who} answered {url} with more than {self.max_bytes} bytes "
                            "(max_bytes=)", url=url, source=source, status=raw.status_code)
                    if timeout.total is not None and self._clock() - started > timeout.total:
                        raise ConnectorTimeout(
                            f"{who} took more than {timeout.total} s to send {url}",
                            url=url, source=source)
                    chunks.append(chunk)
                return Response(raw.status_code, {k.lower(): v for k, v in raw.headers.items()},
                                b"".join(chunks), raw.url or url, self._wall(), source=source)
            finally:
                raw.close()
        except ConnectorError:
            raise
        except exc.ConnectTimeout as err:
            raise _never_sent(ConnectorTimeout(
                f"{who}: could not connect to {url} within {timeout.connect} s. Check the "
                "network, or work offline", url=url, source=source)) from err
        except (exc.ReadTimeout, exc.Timeout) as err:
            raise ConnectorTimeout(
                f"{who}: {url} sent nothing for {timeout.read} s. The service is slow or down; "
                "try again later, raise timeout=, or work offline", url=url, source=source) from err
        except exc.SSLError as err:
            raise ConnectionFailed(f"{who}: TLS failed for {url}: {err}", url=url,
                                   source=source) from err
        except exc.ConnectionError as err:
            failed = ConnectionFailed(
                f"{who}: cannot reach {url}: {_short(err)}. Check the network and the base URL, "
                "or work offline", url=url, source=source)
            raise (_never_sent(failed) if _refused(err) else failed) from err
        except (exc.InvalidURL, exc.MissingSchema, exc.InvalidSchema, exc.URLRequired) as err:
            raise RequestRejected(f"{who}: {url!r} is not a usable URL: {err}", url=url,
                                  source=source) from err
        except exc.RequestException as err:
            raise ConnectionFailed(f"{who}: request to {url} failed: {_short(err)}", url=url,
                                   source=source) from err
        except urllib3.exceptions.ReadTimeoutError as err:  # read1() is not wrapped by requests
            raise ConnectorTimeout(
                f"{who}: {url} sent nothing for {timeout.read} s. The service is slow or down; "
                "try again later, raise timeout=, or work offline", url=url, source=source) from err
        except urllib3.exceptions.DecodeError as err:
            raise BadResponse(f"{who}: the compressed answer from {url} does not decode: {err}",
                              url=url, source=source) from err
        except (OSError, ValueError, urllib3.exceptions.HTTPError) as err:
            # anything urllib3/http.client let through
            raise ConnectionFailed(f"{who}: request to {url} failed: {err!r}", url=url,
                                   source=source) from err

    def close(self) -> None:
        self._session.close()
        close = getattr(self.cache, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "Transport":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_default: Transport | None = None
_default_lock = threading.Lock()


def default_transport() -> Transport:
    """The process-wide transport the clients use when given none: the on-disk cache in
    :func:`~connectors.cache.default_cache_dir`, offline when ``HEARTH_OFFLINE`` is set."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Transport.default()
        return _default


def _chunks(raw, size: int = 64 * 1024):
    """The body as it arrives: ``read1`` returns whatever one read gives (so the total timeout
    is checked between reads even when a server drips bytes); ``iter_content`` waits for full
    chunks and is the fallback for an old urllib3."""
    read1 = getattr(raw.raw, "read1", None)
    if read1 is None:
        yield from raw.iter_content(size)
        return
    while True:
        chunk = read1(size, decode_content=True)
        if not chunk:
            return
        yield chunk


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _never_sent(err: ConnectorError) -> ConnectorError:
    err.never_sent = True
    return err


def _refused(err: Exception) -> bool:
    text = repr(err)
    return ("Connection refused" in text or "NewConnectionError" in text
            or "Name or service not known" in text or "NameResolutionError" in text)


def _short(err: Exception) -> str:
    text = str(err)
    return text if len(text) < 300 else text[:300] + "…"


def _error_detail(response: Response) -> str:
    """The service's own words about an error, when it sent some, as one short sentence."""
    text = response.content[:2000].decode("utf-8", errors="replace").strip()
    if not text:
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for k in ("detail", "info", "message", "title", "error"):
            value = data.get(k)
            if isinstance(value, dict):
                value = value.get("info") or value.get("message")
            if isinstance(value, str) and value:
                text = value
                break
    text = " ".join(text.split())
    if len(text) > 200:
        text = text[:200] + "…"
    return f"It said: {text!r}. "


__all__ = ["Transport", "Response", "Timeout", "RetryPolicy", "NO_RETRY", "TokenBucket",
           "INTERACTIVE_TIMEOUT", "INTERACTIVE_RETRY",
           "DEFAULT_RATE_LIMITS", "default_transport", "user_agent_string", "parse_retry_after",
           "build_url"]
