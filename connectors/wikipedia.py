"""Wikipedia page summaries (REST ``/api/rest_v1/page/summary/<title>``), disambiguation pages
included.

A summary whose ``type`` is ``disambiguation`` is completed with its candidates: the articles the
disambiguation page links to, fetched with the action API as
``action=query&generator=links&titles=<page>&gplnamespace=0&prop=description`` (one request
gives each candidate's title and short description; the REST ``/page/links`` route does not
exist and mobile-sections is deprecated). Missing pages, the page itself and other
"(disambiguation)" pages are dropped; candidates whose title starts with the asked term come
first, then the rest, each group in title order.

Wikipedia's text is CC BY-SA 4.0: facts built from it must credit Wikipedia (we keep the page
URL as ``source_url``) and be shared under the same licence.

>>> page_path("living room")
'living_room'
>>> page_path("AC/DC")
'AC%2FDC'
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .errors import BadResponse, RequestRejected
from .facts import Fact
from .transport import Response, Transport, default_transport

LICENSE = "CC-BY-SA-4.0"


def site_url(language: str = "en") -> str:
    return f"https://{language}.wikipedia.org"


def page_path(title: str) -> str:
    """A title as the REST API wants it in a path: spaces as '_', '/' and '?' escaped."""
    title = "_".join(title.strip().split())
    if not title:
        raise ValueError("the title is empty")
    return quote(title, safe="_-.,()'!:*~@$;")


@dataclass(frozen=True)
class DisambiguationCandidate:
    title: str
    description: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class WikipediaSummary:
    """``type`` is ``standard``, ``disambiguation``, ``no-extract`` or ``mainpage``."""

    title: str
    type: str
    description: str | None
    extract: str
    url: str | None
    pageid: int | None = None
    language: str = "en"
    candidates: tuple[DisambiguationCandidate, ...] = ()
    fetched_at: dt.datetime | None = None
    from_cache: bool = False

    @property
    def is_disambiguation(self) -> bool:
        return self.type == "disambiguation"

    @property
    def first_sentence(self) -> str:
        match = re.match(r"(.+?[.!?])(\s|$)", self.extract.strip(), re.S)
        return (match.group(1) if match else self.extract).strip()


class WikipediaClient:
    """``base_url`` is the site root (``https://en.wikipedia.org``): the REST API lives under
    ``/api/rest_v1`` and the action API at ``/w/api.php``, both overridable."""

    name = "wikipedia"

    def __init__(self, *, transport: Transport | None = None, language: str = "en",
                 base_url: str | None = None, rest_path: str = "/api/rest_v1",
                 action_path: str = "/w/api.php", ttl_s: float = 86400.0):
        self._transport = transport
        self.language = language
        self.base_url = (base_url or site_url(language)).rstrip("/")
        self.rest_url = self.base_url + rest_path
        self.action_url = self.base_url + action_path
        self.ttl_s = ttl_s

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = default_transport()
        return self._transport

    def summary(self, title: str, *, candidates: bool = True,
                max_candidates: int = 50) -> WikipediaSummary:
        """The page's summary; a disambiguation page also gets its ``candidates`` (unless
        ``candidates=False``). Raises NotFound for a page that does not exist."""
        response = self.transport.get(f"{self.rest_url}/page/summary/{page_path(title)}",
                                      headers={"Accept": "application/json"}, ttl_s=self.ttl_s,
                                      source=self.name)
        data = _object(response, self.name)
        page_type = data.get("type")
        if not isinstance(page_type, str) or not isinstance(data.get("title"), str):
            raise BadResponse(f"wikipedia: the summary at {response.url} has no 'type' or "
                              "'title'", url=response.url, source=self.name)
        titles = data.get("titles") if isinstance(data.get("titles"), dict) else {}
        canonical = titles.get("canonical") or data["title"]
        urls = data.get("content_urls") if isinstance(data.get("content_urls"), dict) else {}
        desktop = urls.get("desktop") if isinstance(urls.get("desktop"), dict) else {}
        summary = WikipediaSummary(
            title=data["title"], type=page_type, description=data.get("description") or None,
            extract=str(data.get("extract") or ""), url=desktop.get("page"),
            pageid=data.get("pageid") if isinstance(data.get("pageid"), int) else None,
            language=str(data.get("lang") or self.language),
            fetched_at=response.fetched_datetime, from_cache=response.from_cache)
        if summary.is_disambiguation and candidates:
            found = self.disambiguation_candidates(canonical, limit=max_candidates)
            summary = WikipediaSummary(**{**summary.__dict__, "candidates": found})
        return summary

    def disambiguation_candidates(self, title: str, *,
                                  limit: int = 50) -> tuple[DisambiguationCandidate, ...]:
        """The articles a (disambiguation) page links to, with their short descriptions."""
        title = " ".join(title.replace("_", " ").split())
        params: dict[str, Any] = {
            "action": "query", "format": "json", "formatversion": 2, "generator": "links",
            "titles": title, "gplnamespace": 0, "gpllimit": min(max(limit, 1), 500),
            "prop": "description", "redirects": 1}
        found: dict[str, DisambiguationCandidate] = {}
        for _ in range(10):  # continuation pages; a disambiguation page rarely needs two
            response = self.transport.get(self.action_url, params=params, ttl_s=self.ttl_s,
                                          source=self.name)
            data = _object(response, self.name)
            error = data.get("error")
            if isinstance(error, dict):
                raise RequestRejected(f"wikipedia: the API refused {response.url}: "
                                      f"{error.get('code')}: {error.get('info')}",
                                      url=response.url, source=self.name)
            query = data.get("query", {})
            pages = query.get("pages", []) if isinstance(query, dict) else None
            if isinstance(pages, dict):  # formatversion=1 shape: {pageid: page}
                pages = list(pages.values())
            if not isinstance(pages, list):
                raise BadResponse(f"wikipedia: {response.url} has no 'query.pages' list",
                                  url=response.url, source=self.name)
            for page in pages:
                if not isinstance(page, dict) or page.get("missing") is not None \
                        or page.get("invalid") is not None:
                    continue
                name = page.get("title")
                if not isinstance(name, str) or name == title or name.endswith("(disambiguation)"):
                    continue
                found.setdefault(name, DisambiguationCandidate(
                    name, page.get("description") or None,
                    f"{self.base_url}/wiki/{page_path(name)}"))
            more = data.get("continue")
            if not isinstance(more, dict) or len(found) >= limit:
                break
            params = {**params, **{k: v for k, v in more.items() if isinstance(v, (str, int))}}
        stem = title.lower()
        ordered = sorted(found.values(),
                         key=lambda c: (not c.title.lower().startswith(stem), c.title.lower()))
        return tuple(ordered[:limit])

    def facts(self, term: str, *, limit: int = 20) -> tuple[Fact, ...]:
        """Its short description and first sentence (DefinedAs); for a disambiguation page, one
        RelatedTo fact per candidate ("lamp may refer to …")."""
        page = self.summary(term, max_candidates=limit)
        base = dict(source=self.name, license=LICENSE, fetched_at=page.fetched_at)
        out: list[Fact] = []
        if page.is_disambiguation:
            for rank, cand in enumerate(page.candidates):
                text = f"{term} may refer to {cand.title}" + (
                    f" ({cand.description})" if cand.description else "")
                out.append(Fact(term, "RelatedTo", cand.title, round(0.5 * 0.97 ** rank, 4),
                                source_url=cand.url, surface_text=text, **base))
            return tuple(out[:limit])
        if page.description:
            out.append(Fact(term, "DefinedAs", page.description, 0.8, source_url=page.url, **base))
        if page.extract:
            out.append(Fact(term, "DefinedAs", page.first_sentence, 0.6, source_url=page.url,
                            **base))
        return tuple(out[:limit])


def _object(response: Response, source: str) -> dict:
    data = response.json()
    if not isinstance(data, dict):
        raise BadResponse(f"{source}: {response.url} answered with JSON that is not an object",
                          url=response.url, source=source)
    return data


__all__ = ["WikipediaClient", "WikipediaSummary", "DisambiguationCandidate", "page_path",
           "site_url"]
