"""Caches for HTTP answers: on disk (SQLite, one file in a cache folder) or in memory.

An entry is keyed by :func:`cache_key` (method, URL with its query, the ``Accept`` header and the
body) and keeps the status, headers, body, when it was stored and when it expires. Freshness is the
caller's decision (the transport serves fresh entries, serves expired ones when offline or when a
fetch fails within ``stale_if_error``), so ``get`` returns expired entries too.

>>> cache = MemoryCache()
>>> key = cache_key("GET", "https://example.org/x?a=1")
>>> cache.put(key, CachedResponse(200, {}, b"{}", stored_at=100.0, expires_at=160.0,
...                               url="https://example.org/x?a=1"))
>>> entry = cache.get(key)
>>> entry.status, entry.is_fresh(now=130.0), entry.is_fresh(now=170.0)
(200, True, False)
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .errors import ConnectorError


@dataclass(frozen=True)
class CachedResponse:
    """One stored answer. Times are Unix seconds (wall clock: entries outlive the process)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    stored_at: float
    expires_at: float
    url: str = ""
    meta: Mapping[str, str] = field(default_factory=dict)

    def is_fresh(self, *, now: float) -> bool:
        return now < self.expires_at

    def age(self, *, now: float) -> float:
        return max(0.0, now - self.stored_at)


class Cache(Protocol):
    """What the transport needs from a cache; any object with these methods will do."""

    def get(self, key: str) -> CachedResponse | None: ...

    def put(self, key: str, entry: CachedResponse) -> None: ...

    def delete(self, key: str) -> None: ...

    def clear(self) -> None: ...


def cache_key(method: str, url: str, *, body: bytes | None = None, accept: str | None = None) -> str:
    """A stable key for a request: the URL must already carry its query string in a fixed order
    (the transport sorts parameters before building it)."""
    digest = hashlib.sha256()
    for part in (method.upper(), url, accept or "", ):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    digest.update(body or b"")
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """``$HEARTH_CACHE_DIR``, else ``$XDG_CACHE_HOME/hearth``, else ``~/.cache/hearth``."""
    if os.environ.get("HEARTH_CACHE_DIR"):
        return Path(os.environ["HEARTH_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hearth"


class MemoryCache:
    """An in-process LRU cache; for tests and short-lived tools."""

    def __init__(self, max_entries: int = 10_000):
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CachedResponse] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> CachedResponse | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: CachedResponse) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key        TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    status     INTEGER NOT NULL,
    headers    TEXT NOT NULL,
    body       BLOB NOT NULL,
    stored_at  REAL NOT NULL,
    expires_at REAL NOT NULL,
    meta       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS responses_expires ON responses (expires_at);
"""


class SqliteCache:
    """Answers stored in ``<folder>/http-cache.sqlite3`` (one SQLite file, WAL journal, so several
    processes can share it). ``max_stale_s`` bounds how long past expiry an entry is kept at all:
    :meth:`purge` drops entries older than that.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     cache = SqliteCache(folder)
    ...     cache.put("k", CachedResponse(200, {"Content-Type": "application/json"}, b"[1]",
    ...                                  stored_at=0.0, expires_at=10.0))
    ...     cache.get("k").body, len(cache)
    ...     cache.close()
    (b'[1]', 1)
    """

    FILENAME = "http-cache.sqlite3"

    def __init__(self, folder: str | Path | None = None, *, max_stale_s: float = 90 * 86400.0,
                 clock: Callable[[], float] = time.time):
        self.folder = Path(folder) if folder is not None else default_cache_dir()
        self.path = self.folder / self.FILENAME
        self.max_stale_s = max_stale_s
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise ConnectorError(
                f"cannot open the HTTP cache at {self.path}: {err}. Point HEARTH_CACHE_DIR (or "
                "cache_dir=) at a writable folder, or pass cache=MemoryCache()") from err

    def __repr__(self) -> str:
        return f"SqliteCache({str(self.folder)!r})"

    def get(self, key: str) -> CachedResponse | None:
        try:
            with self._lock:
                row = self._db.execute(
                    "SELECT url, status, headers, body, stored_at, expires_at, meta "
                    "FROM responses WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as err:
            raise ConnectorError(f"cannot read the HTTP cache at {self.path}: {err}") from err
        if row is None:
            return None
        url, status, headers, body, stored_at, expires_at, meta = row
        return CachedResponse(status, json.loads(headers), bytes(body), stored_at, expires_at,
                              url=url, meta=json.loads(meta))

    def put(self, key: str, entry: CachedResponse) -> None:
        try:
            with self._lock:
                self._db.execute(
                    "INSERT OR REPLACE INTO responses "
                    "(key, url, status, headers, body, stored_at, expires_at, meta) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, entry.url, entry.status, json.dumps(dict(entry.headers)),
                     sqlite3.Binary(entry.body), entry.stored_at, entry.expires_at,
                     json.dumps(dict(entry.meta))))
        except sqlite3.Error as err:
            raise ConnectorError(f"cannot write the HTTP cache at {self.path}: {err}") from err

    def delete(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM responses WHERE key = ?", (key,))

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM responses")

    def purge(self, *, now: float | None = None) -> int:
        """Drops entries expired for longer than ``max_stale_s``; returns how many."""
        cutoff = (self._clock() if now is None else now) - self.max_stale_s
        with self._lock:
            return self._db.execute("DELETE FROM responses WHERE expires_at < ?", (cutoff,)).rowcount

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "SqliteCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
