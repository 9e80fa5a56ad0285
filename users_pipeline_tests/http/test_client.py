"""The page loop against the GoRest-compatible server: every page once, in order, sequentially or
concurrently, and a page that cannot be read fails the crawl. Against the list API: the records
at the `data_selector`, and a selector that finds no list fails in one line."""

from collections.abc import Iterator

import pytest

from users_pipeline.http.errors import ApiError
from users_pipeline.offline import Faults, GoRestServer
from users_pipeline_tests.http.harness import crawl, no_sleep_client, rest_client, users_client
from users_pipeline_tests.http.list_api import ListApi


def test_fetches_every_page_in_order(gorest: GoRestServer):
    with users_client(gorest.url) as client:
        assert crawl(client) == gorest.users
        assert client.stats.requests == 28


def test_sends_the_page_size_and_the_token_only_as_a_header(gorest: GoRestServer):
    gorest.token = "secret-token"
    with users_client(gorest.url, token="secret-token", page_size=50) as client:
        assert len(crawl(client)) == len(gorest.users)
    first = gorest.requests[0]
    assert first["query"] == {"page": "1", "per_page": "50"}
    assert first["headers"]["authorization"] == "Bearer secret-token"


def test_without_pagination_headers_stops_at_a_short_page(gorest: GoRestServer):
    """Other APIs may not send X-Pagination-Pages: a page shorter than asked is the last."""
    gorest.users = gorest.users[:250]
    with users_client(gorest.url) as client:
        pages = list(client.iter_pages())
    assert [len(page.records) for page in pages] == [100, 100, 50]


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
    with no_sleep_client(gorest.url) as client, pytest.raises(ApiError, match=expected):
        next(client.iter_pages())


def test_concurrent_fetching_yields_pages_in_order(gorest: GoRestServer):
    """Pages complete out of order under latency; they must come out in order all the same.
    (How much faster it is: the benchmark measures that, not a timed test.)"""
    gorest.faults = Faults(delay_seconds=0.01)
    with users_client(gorest.url, concurrency=8) as client:
        pages = list(client.iter_pages())
    assert [page.number for page in pages] == list(range(1, 29))
    assert [r for page in pages for r in page.records] == gorest.users


def test_a_failing_page_fails_a_concurrent_crawl(gorest: GoRestServer):
    gorest.faults = Faults(statuses={17: [404]})
    with users_client(gorest.url, concurrency=4) as client, pytest.raises(ApiError) as error:
        crawl(client)
    assert "page 17: HTTP 404" in str(error.value)


def test_each_crawl_starts_again_from_the_first_page(gorest: GoRestServer):
    with users_client(gorest.url, concurrency=1) as client:
        assert crawl(client) == crawl(client) == gorest.users


@pytest.fixture
def api() -> Iterator[ListApi]:
    with ListApi() as api:
        yield api


@pytest.mark.parametrize("selector", ["results", "$.results", "meta.results", "$.meta.results"])
def test_the_records_are_read_at_the_data_selector_dotted_or_as_jsonpath(api: ListApi, selector):
    nested = selector.lstrip("$.").startswith("meta")
    prefix = "meta." if nested else ""
    paginator = {
        "type": "cursor",
        "cursor_path": f"{prefix}next_cursor",
        "cursor_param": "starting_after",
        "has_more_path": f"$.{prefix}has_more",
    }
    params = {"nested": 1} if nested else None
    url = f"{api.url}/cursor"
    with rest_client(url, paginator=paginator, data_selector=selector, params=params) as client:
        assert crawl(client) == api.records


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("data", "api.data_selector 'data' is not in the body (its top-level keys: items, total)"),
        (
            "$.items.data",
            "api.data_selector '$.items.data' is not in the body (its top-level keys: items,"
            " total)",
        ),
        ("total", "expected a JSON array of users at api.data_selector 'total', got int"),
        (None, "expected a JSON array of users, got dict"),
    ],
)
def test_a_missing_selector_or_a_non_list_fails_in_one_line_naming_what_came(
    api: ListApi, selector, expected
):
    paginator = {"type": "offset", "limit": 10}
    url = f"{api.url}/offset"
    with (
        users_client(url, paginator=paginator, data_selector=selector) as client,
        pytest.raises(ApiError) as error,
    ):
        crawl(client)
    assert str(error.value) == f"GET {url} offset 0: {expected}"


def test_a_fixed_param_that_is_not_a_single_value_is_refused_naming_it(api: ListApi):
    with pytest.raises(ApiError) as error:
        users_client(api.url, params={"status": ["active", "inactive"]})
    assert str(error.value) == (
        "api.params.status must be a text, a number or true/false, got ['active', 'inactive']"
    )


def test_a_selector_on_a_bare_array_names_what_the_body_is(api: ListApi):
    url = f"{api.url}/single_page"
    with (
        users_client(url, paginator="single_page", data_selector="data") as client,
        pytest.raises(ApiError) as error,
    ):
        crawl(client)
    assert str(error.value) == (
        f"GET {url} the only page: api.data_selector 'data' is not in the body (it is a list)"
    )
