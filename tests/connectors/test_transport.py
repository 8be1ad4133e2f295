"""The transport against a scripted local server: retries, Retry-After, timeouts, rate limits,
cache, offline mode, and no ``requests`` exception escaping."""

from __future__ import annotations

import email.utils
import pickle
import re
import socket

import pytest
import requests

from connectors.cache import CachedResponse, MemoryCache, SqliteCache, cache_key
from connectors.errors import (BadResponse, ConnectionFailed, ConnectorError, ConnectorTimeout,
                               NotFound, OfflineMiss, RateLimited, RequestRejected, ServiceError)
from connectors.transport import (RetryPolicy, Timeout, TokenBucket, Transport, build_url,
                                  parse_retry_after)

from .conftest import Reply


def _no_requests_error_in_chain(err: BaseException) -> bool:
    """The raised error is ours; requests' errors may only appear as its __cause__."""
    return isinstance(err, ConnectorError) and not isinstance(err, requests.RequestException)


def test_get_parses_json_and_sends_a_descriptive_user_agent(service, make_transport):
    service.route("/x", Reply(200, {"ok": True}))
    response = make_transport().get(service.url("/x"))
    assert response.json() == {"ok": True}
    agent = service.seen[0].headers["User-Agent"]
    assert re.fullmatch(r"hearth/\S+ \(\+https://w3id\.org/hearth; tests@example\.org\) "
                        r"python-requests/\S+", agent), agent


def test_parameters_are_sorted_so_equal_requests_share_a_cache_entry(service, make_transport):
    service.route("/s", Reply(200, {"n": 1}))
    transport = make_transport()
    first = transport.get(service.url("/s"), params={"b": "2", "a": "x y"})
    second = transport.get(service.url("/s"), params={"a": "x y", "b": "2"})
    assert (first.from_cache, second.from_cache) == (False, True)
    assert len(service.seen) == 1
    assert service.seen[0].param("a") == "x y"


def test_fresh_cache_entry_answers_without_the_network(service, make_transport):
    service.route("/c", Reply(200, {"v": 1}))
    transport = make_transport()
    transport.get(service.url("/c"), ttl_s=60)
    again = transport.get(service.url("/c"), ttl_s=60)
    assert again.from_cache and not again.stale and again.json() == {"v": 1}
    assert len(service.requests_to("/c")) == 1


def test_cache_entry_expires_after_its_ttl(service, make_transport, clock):
    service.route("/c", Reply(200, {"v": 1}), Reply(200, {"v": 2}))
    transport = make_transport()
    transport.get(service.url("/c"), ttl_s=60)
    clock.advance(61)
    again = transport.get(service.url("/c"), ttl_s=60)
    assert not again.from_cache and again.json() == {"v": 2}
    assert len(service.requests_to("/c")) == 2


def test_offline_mode_answers_from_cache_even_when_expired(service, make_transport, clock):
    service.route("/c", Reply(200, {"v": 1}))
    cache = MemoryCache()
    make_transport(cache=cache).get(service.url("/c"), ttl_s=60)
    clock.advance(3600)
    offline = make_transport(cache=cache, offline=True)
    answer = offline.get(service.url("/c"))
    assert answer.from_cache and answer.stale and answer.json() == {"v": 1}
    assert len(service.seen) == 1


def test_offline_miss_raises_without_touching_the_network(service, make_transport):
    service.route("/c", Reply(200, {"v": 1}))
    with pytest.raises(OfflineMiss) as caught:
        make_transport(offline=True).get(service.url("/c"))
    assert isinstance(caught.value, LookupError) and isinstance(caught.value, OSError)
    assert "offline" in str(caught.value) and caught.value.url.endswith("/c")
    assert service.seen == []


def test_offline_mode_comes_from_the_environment(monkeypatch, make_transport):
    monkeypatch.setenv("HEARTH_OFFLINE", "1")
    assert make_transport(offline=None).offline is True
    monkeypatch.setenv("HEARTH_OFFLINE", "0")
    assert make_transport(offline=None).offline is False


def test_429_waits_what_retry_after_asks_then_succeeds(service, make_transport, clock):
    service.route("/r", Reply(429, {"detail": "slow down"}, {"Retry-After": "7"}),
                  Reply(200, {"ok": 1}))
    response = make_transport().get(service.url("/r"))
    assert response.json() == {"ok": 1}
    assert clock.sleeps == [7.0]  # the host's bucket was paused for the same 7 s, not twice
    assert len(service.seen) == 2


def test_503_with_an_http_date_retry_after_is_honoured(service, make_transport, clock):
    when = email.utils.formatdate(clock.wall() + 12, usegmt=True)
    service.route("/d", Reply(503, b"busy", {"Retry-After": when}), Reply(200, {"ok": 1}))
    make_transport().get(service.url("/d"))
    assert len(clock.sleeps) == 1 and 11.0 <= clock.sleeps[0] <= 12.0


def test_5xx_then_success_retries_with_exponential_backoff(service, make_transport, clock):
    service.route("/f", Reply(500), Reply(502), Reply(200, {"ok": 1}))
    response = make_transport().get(service.url("/f"))
    assert response.json() == {"ok": 1}
    # equal jitter with random()=0.5: b/2 + 0.25*b for b = 0.5, 1.0
    assert clock.sleeps == [pytest.approx(0.375), pytest.approx(0.75)]


def test_backoff_stays_within_its_jitter_bounds():
    policy = RetryPolicy(backoff_s=0.5, backoff_max_s=4.0)
    for attempt in range(6):
        b = min(4.0, 0.5 * 2 ** attempt)
        assert policy.backoff(attempt, 0.0) == b / 2
        assert policy.backoff(attempt, 1.0) == b


def test_persistent_5xx_raises_service_error_with_status(service, make_transport):
    service.route("/f", Reply(500, {"detail": "database on fire"}))
    with pytest.raises(ServiceError) as caught:
        make_transport().get(service.url("/f"))
    err = caught.value
    assert err.status == 500 and "database on fire" in str(err) and "3 tries" in str(err)
    assert len(service.seen) == 3


def test_post_is_not_retried_on_500_unless_idempotent(service, make_transport):
    service.route("/p", Reply(500), Reply(200, {"ok": 1}), method="POST")
    transport = make_transport()
    with pytest.raises(ServiceError):
        transport.post(service.url("/p"), data=b"x")
    assert len(service.seen) == 1
    assert transport.post(service.url("/p"), data=b"x", idempotent=True).json() == {"ok": 1}


def test_retry_after_beyond_the_cap_raises_rate_limited_at_once(service, make_transport, clock):
    service.route("/r", Reply(429, b"", {"Retry-After": "3600"}))
    with pytest.raises(RateLimited) as caught:
        make_transport().get(service.url("/r"))
    assert caught.value.retry_after == 3600.0 and caught.value.status == 429
    assert clock.sleeps == [] and len(service.seen) == 1


def test_persistent_429_raises_rate_limited(service, make_transport):
    service.route("/r", Reply(429, b"", {"Retry-After": "1"}))
    with pytest.raises(RateLimited) as caught:
        make_transport().get(service.url("/r"))
    assert caught.value.retry_after == 1.0 and len(service.seen) == 3


def test_other_4xx_is_rejected_without_retrying(service, make_transport):
    service.route("/bad", Reply(400, {"error": {"code": "badquery", "info": "parse error"}}))
    with pytest.raises(RequestRejected) as caught:
        make_transport().get(service.url("/bad"))
    assert caught.value.status == 400 and "parse error" in str(caught.value)
    assert len(service.seen) == 1


def test_read_timeout_raises_connector_timeout_after_retries(service, make_transport):
    service.route("/slow", Reply(200, {"late": True}, delay=0.6))
    transport = make_transport(timeout=Timeout(connect=2.0, read=0.15, total=5.0),
                               retry=RetryPolicy(attempts=2, backoff_s=0.01))
    with pytest.raises(ConnectorTimeout) as caught:
        transport.get(service.url("/slow"))
    assert isinstance(caught.value, TimeoutError)
    assert _no_requests_error_in_chain(caught.value)
    assert len(service.requests_to("/slow")) == 2


def test_total_timeout_stops_a_server_that_drips(service):
    service.route("/drip", Reply(200, b"x" * 40, drip=0.02))
    transport = Transport(timeout=Timeout(connect=2.0, read=1.0, total=0.2),
                          retry=RetryPolicy(attempts=1), rate_limits={"127.0.0.1": 1000.0})
    try:
        with pytest.raises(ConnectorTimeout):
            transport.get(service.url("/drip"))
    finally:
        transport.close()


def test_refused_connection_raises_connection_failed(make_transport):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(ConnectionFailed) as caught:
        make_transport().get(f"http://127.0.0.1:{port}/x")
    assert isinstance(caught.value, ConnectionError)
    assert _no_requests_error_in_chain(caught.value)


def test_truncated_body_raises_a_connector_error_not_a_requests_error(service, make_transport):
    service.route("/cut", Reply(200, b'{"partial": ', truncate=True))
    with pytest.raises(ConnectorError) as caught:
        make_transport(retry=RetryPolicy(attempts=1)).get(service.url("/cut"))
    assert _no_requests_error_in_chain(caught.value)


def test_malformed_json_raises_bad_response(service, make_transport):
    service.route("/j", Reply(200, b'{"edges": [', {"Content-Type": "application/json"}))
    response = make_transport().get(service.url("/j"))
    with pytest.raises(BadResponse) as caught:
        response.json()
    assert isinstance(caught.value, ValueError) and "not JSON" in str(caught.value)


def test_body_larger_than_max_bytes_raises_bad_response(service, make_transport):
    service.route("/big", Reply(200, b"x" * 5000))
    with pytest.raises(BadResponse):
        make_transport(max_bytes=1000).get(service.url("/big"))


def test_404_raises_not_found_and_offline_mode_remembers_it(service, make_transport):
    service.route("/gone", Reply(404, {"detail": "Page or revision not found."}))
    cache = MemoryCache()
    with pytest.raises(NotFound) as caught:
        make_transport(cache=cache).get(service.url("/gone"))
    assert isinstance(caught.value, LookupError) and caught.value.status == 404
    with pytest.raises(NotFound):  # not OfflineMiss: we know it does not exist
        make_transport(cache=cache, offline=True).get(service.url("/gone"))


def test_expired_entry_is_served_stale_when_the_service_fails(service, make_transport, clock):
    service.route("/c", Reply(200, {"v": 1}), Reply(503))
    transport = make_transport(retry=RetryPolicy(attempts=2, backoff_s=0.1))
    transport.get(service.url("/c"), ttl_s=10)
    clock.advance(20)
    answer = transport.get(service.url("/c"), ttl_s=10)
    assert answer.stale and answer.from_cache and answer.json() == {"v": 1}


def test_stale_if_error_has_a_limit(service, make_transport, clock):
    service.route("/c", Reply(200, {"v": 1}), Reply(500))
    transport = make_transport(retry=RetryPolicy(attempts=1), stale_if_error_s=100)
    transport.get(service.url("/c"), ttl_s=10)
    clock.advance(500)
    with pytest.raises(ServiceError):
        transport.get(service.url("/c"), ttl_s=10)


def test_rate_limit_spaces_requests_to_one_host(service, make_transport, clock):
    service.route("/rl", Reply(200, {}))
    transport = make_transport(cache=None, rate_limits={"127.0.0.1": 2.0})
    for _ in range(5):
        transport.get(service.url("/rl"))
    # a bucket of 2 tokens refilled at 2/s: the 3 requests past the burst wait 0.5 s each
    assert sum(clock.sleeps) == pytest.approx(1.5)
    assert len(service.seen) == 5


def test_cache_hits_do_not_spend_rate_limit_tokens(service, make_transport, clock):
    service.route("/rl", Reply(200, {}))
    transport = make_transport(rate_limits={"127.0.0.1": 0.1})
    for _ in range(10):
        transport.get(service.url("/rl"))
    assert clock.sleeps == [] and len(service.seen) == 1


def test_token_bucket_pause_blocks_until_it_ends(clock):
    bucket = TokenBucket(10.0, clock=clock.monotonic, sleep=clock.sleep)
    bucket.pause(3.0)
    assert bucket.acquire() == pytest.approx(3.0)


def test_host_suffix_rates_apply_to_subdomains(make_transport):
    transport = make_transport(rate_limits={".example.org": 0.5}, default_rate=9.0)
    assert transport.rate_for("en.example.org") == 0.5
    assert transport.rate_for("api.conceptnet.io") == 1.0
    assert transport.rate_for("other.net") == 9.0


@pytest.mark.parametrize("value, expected", [
    ("0", 0.0), ("12", 12.0), ("1.5", 1.5), ("-4", 0.0), ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
    ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0), ("later", None), (None, None),
])
def test_parse_retry_after(value, expected):
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp()
    assert parse_retry_after(value, now=now) == expected


def test_build_url_drops_none_and_keeps_existing_query():
    assert build_url("http://h/p?x=1", {"b": None, "a": "é"}) == "http://h/p?x=1&a=%C3%A9"


def test_sqlite_cache_persists_across_instances_and_purges(tmp_path):
    key = cache_key("GET", "http://h/p", accept="application/json")
    with SqliteCache(tmp_path, max_stale_s=100) as cache:
        cache.put(key, CachedResponse(200, {"Content-Type": "application/json"}, b"{}",
                                      stored_at=0.0, expires_at=10.0, url="http://h/p"))
        cache.put("old", CachedResponse(200, {}, b"", stored_at=0.0, expires_at=-500.0))
    with SqliteCache(tmp_path, max_stale_s=100) as again:
        entry = again.get(key)
        assert entry.body == b"{}" and entry.headers["Content-Type"] == "application/json"
        assert again.purge(now=50.0) == 1 and len(again) == 1


def test_cache_key_depends_on_method_body_and_accept():
    base = cache_key("GET", "http://h/q")
    assert base != cache_key("POST", "http://h/q")
    assert base != cache_key("GET", "http://h/q", body=b"x")
    assert base != cache_key("GET", "http://h/q", accept="text/turtle")


def test_transport_with_sqlite_cache_answers_offline_in_a_new_process_state(service, tmp_path,
                                                                             make_transport):
    service.route("/c", Reply(200, {"v": 1}))
    make_transport(cache=SqliteCache(tmp_path)).get(service.url("/c"))
    answer = make_transport(cache=SqliteCache(tmp_path), offline=True).get(service.url("/c"))
    assert answer.from_cache and answer.json() == {"v": 1}


def test_errors_survive_pickling_with_their_fields():
    err = RateLimited("slow down", retry_after=5.0, url="http://h", source="x", status=429)
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), str(back), back.retry_after, back.status) == (
        RateLimited, "slow down", 5.0, 429)


def test_gzip_answers_are_decoded_and_cached_decoded(service, make_transport):
    import gzip
    service.route("/gz", Reply(200, gzip.compress(b'{"zipped": true}'),
                               {"Content-Encoding": "gzip", "Content-Type": "application/json"}))
    transport = make_transport()
    assert transport.get(service.url("/gz")).json() == {"zipped": True}
    assert transport.get(service.url("/gz")).json() == {"zipped": True}  # from the cache


def test_corrupt_gzip_is_a_bad_response(service, make_transport):
    service.route("/gz", Reply(200, b"\x1f\x8bnot gzip at all", {"Content-Encoding": "gzip"}))
    with pytest.raises(BadResponse):
        make_transport().get(service.url("/gz"))
