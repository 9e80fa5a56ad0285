"""The rate budget against the GoRest-compatible server: a 429 waits the reset, the client slows
down before the budget runs out, and its threads follow the stated limit."""

from users_pipeline.offline import Faults, GoRestServer
from users_pipeline_tests.http.harness import crawl, no_sleep_client, users_client


def test_a_429_waits_the_reset_seconds(gorest: GoRestServer):
    gorest.faults = Faults(statuses={2: [429]})
    waits: list[float] = []
    with no_sleep_client(gorest.url, waits) as client:
        assert crawl(client) == gorest.users
        assert client.stats.rate_limit_waits == 1
    assert max(waits) >= 1  # X-RateLimit-Reset: 1 second to wait


def test_paces_before_the_budget_runs_out_instead_of_provoking_429(gorest: GoRestServer):
    gorest.faults = Faults(rate_limit=10, window_seconds=1.0)
    with users_client(gorest.url) as client:
        assert crawl(client) == gorest.users
    assert not [r for r in gorest.requests if r["status"] == 429]


def test_concurrent_fetching_stays_within_the_rate_limit(gorest: GoRestServer):
    gorest.faults = Faults(rate_limit=20, window_seconds=1.0)
    with users_client(gorest.url, concurrency=4) as client:
        assert crawl(client) == gorest.users
    assert not [r for r in gorest.requests if r["status"] == 429]


def test_default_concurrency_follows_the_rate_limit(gorest: GoRestServer):
    gorest.faults = Faults(rate_limit=90)  # GoRest's budget: 90 a minute
    with users_client(gorest.url) as client:
        next(client.iter_pages())
        assert client.threads() == 3
