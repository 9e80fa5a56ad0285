"""The attempts of one request, against the GoRest-compatible server: what is retried, the
backoff, and one clear line when it is final."""

import socket

import pytest

from users_pipeline.http.errors import ApiError
from users_pipeline.offline import Faults, GoRestServer
from users_pipeline_tests.http.harness import crawl, no_sleep_client


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
        pytest.raises(ApiError) as error,
    ):
        crawl(client)
    message = str(error.value)
    assert "\n" not in message
    assert gorest.url in message and "page 2" in message and "503" in message
    assert "gave up after 3 attempts" in message
    assert len([r for r in gorest.requests if r["query"].get("page") == "2"]) == 3


def test_max_attempts_below_one_is_refused_naming_the_setting(gorest: GoRestServer):
    with pytest.raises(ApiError, match="USERS_API_MAX_ATTEMPTS must be at least 1, got 0"):
        no_sleep_client(gorest.url, max_attempts=0)


def test_timeouts_are_retried(gorest: GoRestServer):
    gorest.faults = Faults(delay_seconds=0.5)
    client = no_sleep_client(gorest.url, timeout_seconds=0.1, max_attempts=2)
    with client, pytest.raises(ApiError, match=r"timed out after 0.1 s \(gave up after 2"):
        next(client.iter_pages())


def test_unreachable_api_names_the_setting():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/public/v2/users"
    with no_sleep_client(url, max_attempts=2) as client, pytest.raises(ApiError) as error:
        next(client.iter_pages())
    assert "Connection refused" in str(error.value) and "USERS_API_URL" in str(error.value)


def test_401_fails_at_once_naming_the_token_setting(gorest: GoRestServer):
    gorest.token = "right"
    with (
        no_sleep_client(gorest.url, token="wrong") as client,
        pytest.raises(ApiError) as error,
    ):
        next(client.iter_pages())
    assert "401" in str(error.value) and "USERS_API_TOKEN" in str(error.value)
    assert "wrong" not in str(error.value)
    assert len(gorest.requests) == 1


def test_credentials_in_the_url_refused_name_the_url_setting_never_the_password(
    gorest: GoRestServer,
):
    gorest.token = "right"
    url = gorest.url.replace("http://", "http://ann:s3cret@")
    with no_sleep_client(url) as client, pytest.raises(ApiError) as error:
        next(client.iter_pages())
    assert str(error.value).endswith(
        "HTTP 401 'Authentication failed'; check the credentials in USERS_API_URL"
    )
    assert "s3cret" not in str(error.value)
