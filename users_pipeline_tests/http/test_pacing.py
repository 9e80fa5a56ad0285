"""The rate budget against the GoRest-compatible server: the client fills a sliding window
without overshooting it, from GoRest's headers, the IETF draft's, `Retry-After` or a declared
rate; a 429 waits the reset, and the threads follow the stated limit."""

import math
import time

import pytest
import requests

from users_pipeline.http.errors import ApiError
from users_pipeline.offline import Faults, GoRestServer, generate_users
from users_pipeline_tests.http.harness import FakeTime, crawl, no_sleep_client, users_client


def budget_used(pages: int, limit: int, window_seconds: float, seconds: float) -> float:
    """The floor over the time taken: no window holds more than `limit`, so the last page
    cannot come before floor((pages - 1) / limit) windows."""
    return math.floor((pages - 1) / limit) * window_seconds / seconds


def timed_crawl(server: GoRestServer, **options) -> tuple[list[dict], float]:
    with users_client(server.url, **options) as client:
        started = time.perf_counter()
        crawled = crawl(client)
        return crawled, time.perf_counter() - started


def test_fills_gorests_sliding_window_without_429s():
    # GoRest states no window length: the client learns it from Remaining and Reset. A declared
    # rate far above the stated one changes nothing: the lower wins.
    with GoRestServer(generate_users(6100)) as server:
        server.faults = Faults(rate_limit=30, window_seconds=2.0)
        crawled, seconds = timed_crawl(server, requests_per_minute=10_000)
        assert crawled == server.users
        assert budget_used(61, 30, 2.0, seconds) >= 0.9
        assert server.faults.rate_limited <= 2


def test_fills_the_window_the_ietf_drafts_headers_state():
    with GoRestServer(generate_users(3100)) as server:
        server.faults = Faults(rate_limit=30, window_seconds=2.0, rate_headers="ietf")
        crawled, seconds = timed_crawl(server)
        assert crawled == server.users
        assert budget_used(31, 30, 2.0, seconds) >= 0.9
        assert server.faults.rate_limited <= 2


def test_a_429_waits_its_retry_after_date():
    # Another client spent the budget; the server states none, only when to retry (an HTTP
    # date, about 2 s on). Waiting a second and backing off would meet a second 429.
    with GoRestServer(generate_users(300)) as server:
        server.faults = Faults(
            rate_limit=3, window_seconds=2.0, rate_headers="none", retry_after="date"
        )
        for _ in range(3):
            requests.get(server.url, timeout=5)
        crawled, seconds = timed_crawl(server)
        assert crawled == server.users
        assert server.faults.rate_limited == 1
        assert seconds >= 1.0


def test_a_declared_rate_paces_an_api_that_states_none(gorest: GoRestServer):
    fake = FakeTime()
    with users_client(gorest.url, sleep=fake.sleep, clock=fake.clock, requests_per_minute=10) as c:
        assert crawl(c) == gorest.users  # 28 pages: 10 a minute, the last two minutes on
        assert c.threads() == 1
    assert 120 <= fake.now < 121


def test_a_declared_rate_below_one_is_refused_naming_its_setting():
    with pytest.raises(
        ApiError, match=r"^USERS_API_REQUESTS_PER_MINUTE must be at least 1, got 0$"
    ):
        users_client("http://127.0.0.1:9/users", requests_per_minute=0)


def test_a_429_waits_the_reset_seconds(gorest: GoRestServer):
    gorest.faults = Faults(statuses={2: [429]})
    waits: list[float] = []
    with no_sleep_client(gorest.url, waits) as client:
        assert crawl(client) == gorest.users
        assert client.stats.rate_limit_waits == 1
    assert max(waits) >= 1  # X-RateLimit-Reset: 1 second to wait


def test_concurrent_fetching_stays_within_the_rate_limit(gorest: GoRestServer):
    gorest.faults = Faults(rate_limit=20, window_seconds=1.0)
    with users_client(gorest.url, concurrency=4) as client:
        assert crawl(client) == gorest.users
    assert gorest.faults.rate_limited == 0


def test_default_concurrency_follows_the_rate_limit(gorest: GoRestServer):
    gorest.faults = Faults(rate_limit=90)  # GoRest's budget: 90 a minute
    with users_client(gorest.url) as client:
        next(client.iter_pages())
        assert client.threads() == 3
