"""Knowledge sources for resolving unfamiliar requests: an offline lexicon and web connectors.

- :mod:`connectors.lexicon`: WordNet 3.0, offline (synonyms, hypernyms, glosses, related terms).
- :mod:`connectors.conceptnet`, :mod:`connectors.wikidata`, :mod:`connectors.wikipedia`,
  :mod:`connectors.sparql`: thin clients returning frozen dataclasses.
- :mod:`connectors.transport`: the one HTTP layer under them (timeouts, retries honouring
  Retry-After, per-host rate limits, cache, offline mode, User-Agent);
  :mod:`connectors.cache`: on-disk (SQLite) and in-memory caches.
- :mod:`connectors.facts`: the shape every source answers in (:class:`~connectors.facts.Fact`)
  and :func:`~connectors.facts.gather_facts`, which asks several sources and reports the ones
  that failed as values.
- :mod:`connectors.errors`: one error tree under ``ConnectorError``; no ``requests`` exception
  escapes a connector.

Nothing heavy is imported here: ``requests`` loads only with the transport.
"""
