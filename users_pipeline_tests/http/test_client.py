"""The API client against the GoRest-compatible server: paging, retries, pacing, clear errors."""

import socket

import pytest

from users_pipeline.http.client import UsersApiClient, UsersApiError, redact_url
from users_pipeline.offline import Faults, GoRestServer


def crawl(client: UsersApiClient) -> list[dict]:
    return [record for page in client.iter_pages() for record in page.records]


class FakeTime:
    """A clock that only moves when the client sleeps: waits are recorded, not endured."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def no_sleep_client(url: str, waits: list[float] | None = None, **options) -> UsersApiClient:
    fake = FakeTime()
    if waits is not None:
        fake.waits = waits
    return UsersApiClient(url, sleep=fake.sleep, clock=fake.clock, **options)


def test_fetches_every_page_in_order(gorest: GoRestServer):
    with UsersApiClient(gorest.url) as client:
        assert crawl(client) == gorest.users
        assert client.stats.requests == 28


def test_sends_the_page_size_and_the_token_only_as_a_header(gorest: GoRestServer):
    gorest.token = "secret-token"
    with UsersApiClient(gorest.url, token="secret-token", page_size=50) as client:
        assert len(crawl(client)) == len(gorest.users)
    first = gorest.requests[0]
    assert first["query"] == {"page": "1", "per_page": "50"}
    assert first["headers"]["authorization"] == "Bearer secret-token"


def test_without_pagination_headers_stops_at_a_short_page(gorest: GoRestServer):
    """Other APIs may not send X-Pagination-Pages: a page shorter than asked is the last."""
    gorest.users = gorest.users[:250]
    with UsersApiClient(gorest.url) as client:
        pages = list(client.iter_pages())
    assert [len(page.records) for page in pages] == [100, 100, 50]


def test_page_size_above_the_cap_is_refused_before_any_request(gorest: GoRestServer):
    with pytest.raises(UsersApiError, match="USERS_API_PAGE_SIZE must be between 1 and 100"):
        UsersApiClient(gorest.url, page_size=500)
    assert gorest.requests == []


@pytest.mark.parametrize("url", ["ftp://example.test/users", "gorest.co.in/public/v2/users", ""])
def test_a_url_that_is_not_http_is_refused(url: str):
    with pytest.raises(UsersApiError, match="USERS_API_URL must be an http"):
        UsersApiClient(url)


def test_retries_5xx_with_exponential_backoff(gorest: GoRestServer):
    gorest.faults = Faults(statuses={3: [503, 500, 502]})
    waits: list[float] = []
    with no_sleep_client(gorest.url, waits, backoff_seconds=1.0) as client:
        assert crawl(client) == gorest.users
        assert client.stats.retries == 3
    assert len(waits) == 3
    assert 0.5 <= waits[0] <= 1 and 1 <= waits[1] <= 2 and 2 <= waits[2] <= 4


def test_gives_up_after_max_attempts_with_one_line_naming_the_url(gorest: GoRestServer):
    gorest.faults = Faults(statuses={2: [503] * 10})
    with (
        no_sleep_client(gorest.url, max_attempts=3) as client,
        pytest.raises(UsersApiError) as error,
    ):
        crawl(client)
    message = str(error.value)
    assert "\n" not in message
    assert gorest.url in message and "page 2" in message and "503" in message
    assert "gave up after 3 attempts" in message
    assert len([r for r in gorest.requests if r["query"].get("page") == "2"]) == 3


def test_a_429_waits_the_reset_seconds(gorest: GoRestServer):
    gorest.faults = Faults(statuses={2: [429]})
    waits: list[float] = []
    with no_sleep_client(gorest.url, waits) as client:
        assert crawl(client) == gorest.users
        assert client.stats.rate_limit_waits == 1
    assert max(waits) >= 1  # X-RateLimit-Reset: 1 second to wait


def test_paces_before_the_budget_runs_out_instead_of_provoking_429(gorest: GoRestServer):
    gorest.faults = Faults(rate_limit=10, window_seconds=1.0)
    with UsersApiClient(gorest.url) as client:
        assert crawl(client) == gorest.users
    assert not [r for r in gorest.requests if r["status"] == 429]


def test_timeouts_are_retried(gorest: GoRestServer):
    gorest.faults = Faults(delay_seconds=0.5)
    client = no_sleep_client(gorest.url, timeout_seconds=0.1, max_attempts=2)
    with client, pytest.raises(UsersApiError, match=r"timed out after 0.1 s \(gave up after 2"):
        client.fetch_page(1)


def test_unreachable_api_names_the_setting():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/public/v2/users"
    with no_sleep_client(url, max_attempts=2) as client, pytest.raises(UsersApiError) as error:
        client.fetch_page(1)
    assert "Connection refused" in str(error.value) and "USERS_API_URL" in str(error.value)


def test_401_fails_at_once_naming_the_token_setting(gorest: GoRestServer):
    gorest.token = "right"
    with (
        no_sleep_client(gorest.url, token="wrong") as client,
        pytest.raises(UsersApiError) as error,
    ):
        client.fetch_page(1)
    assert "401" in str(error.value) and "USERS_API_TOKEN" in str(error.value)
    assert "wrong" not in str(error.value)
    assert len(gorest.requests) == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html><body>Service unavailable</body></html>", "body is not JSON"),
        (b'[{"id": 1, "name": "trunc', "body is not JSON"),
        (b'{"data": []}', "expected a JSON array of users, got dict"),
    ],
)
def test_a_body_that_is_not_a_list_of_users_is_a_clear_error(gorest, body, expected):
    gorest.faults = Faults(bodies={1: body})
    with no_sleep_client(gorest.url) as client, pytest.raises(UsersApiError, match=expected):
        client.fetch_page(1)


def test_credentials_in_the_url_are_redacted():
    assert (
        redact_url("https://user:pw@api.test:8443/users?x=1")
        == "https://***@api.test:8443/users?x=1"
    )
    assert redact_url("https://api.test/users") == "https://api.test/users"


def test_concurrent_fetching_yields_pages_in_order(gorest: GoRestServer):
    """Pages complete out of order under latency; they must come out in order all the same.
    (How much faster it is: the benchmark measures that, not a timed test.)"""
    gorest.faults = Faults(delay_seconds=0.01)
    with UsersApiClient(gorest.url, concurrency=8) as client:
        pages = list(client.iter_pages())
    assert [page.number for page in pages] == list(range(1, 29))
    assert [r for page in pages for r in page.records] == gorest.users


def test_concurrent_fetching_stays_within_the_rate_limit(gorest: GoRestServer):
    gorest.faults = Faults(rate_limit=20, window_seconds=1.0)
    with UsersApiClient(gorest.url, concurrency=4) as client:
        assert crawl(client) == gorest.users
    assert not [r for r in gorest.requests if r["status"] == 429]


def test_default_concurrency_follows_the_rate_limit(gorest: GoRestServer):
    gorest.faults = Faults(rate_limit=90)  # GoRest's budget: 90 a minute
    with UsersApiClient(gorest.url) as client:
        client.fetch_page(1)
        assert client._workers() == 3


def test_a_failing_page_fails_a_concurrent_crawl(gorest: GoRestServer):
    gorest.faults = Faults(statuses={17: [404]})
    with UsersApiClient(gorest.url, concurrency=4) as client, pytest.raises(UsersApiError) as error:
        crawl(client)
    assert "page 17: HTTP 404" in str(error.value)
