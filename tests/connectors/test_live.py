"""Calls to the real services: opt in with ``HEARTH_LIVE=1`` (and the ``live`` marker).

Each test makes one or two small requests through a transport with a throwaway cache, so the
services' limits are respected and nothing is left behind.
"""

from __future__ import annotations

import os

import pytest

from connectors.cache import MemoryCache
from connectors.conceptnet import ConceptNetClient
from connectors.sparql import SparqlClient
from connectors.transport import Timeout, Transport
from connectors.wikidata import WikidataClient
from connectors.wikipedia import WikipediaClient

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(os.environ.get("HEARTH_LIVE") != "1",
                       reason="calls real internet services: set HEARTH_LIVE=1 to run"),
]


@pytest.fixture(scope="module")
def transport():
    t = Transport(cache=MemoryCache(), timeout=Timeout(connect=5.0, read=20.0, total=60.0))
    yield t
    t.close()


def test_live_wikidata_search_and_entity(transport):
    client = WikidataClient(transport=transport)
    found = client.search("lamp")
    assert found.entities and found.entities[0].id.startswith("Q")
    details = client.entity("Q1138737")
    assert details.label and details.subclass_of


def test_live_conceptnet_lookup(transport):
    found = ConceptNetClient(transport=transport).lookup("cozy", limit=10)
    assert found.edges and all(e.start.language == "en" for e in found.edges)


def test_live_wikipedia_disambiguation(transport):
    page = WikipediaClient(transport=transport).summary("Mercury", max_candidates=20)
    assert page.is_disambiguation and any("planet" in c.title for c in page.candidates)


def test_live_dbpedia_ask(transport):
    assert SparqlClient(transport=transport).ask("ASK { dbr:Lamp ?p ?o }") is True
