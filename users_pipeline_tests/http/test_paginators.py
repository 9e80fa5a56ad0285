"""The pagination styles over real HTTP. GoRest's page numbers, read from the GoRest-compatible
server's real responses: the one rule for the last page, the requests known ahead, the page size
it accepts, and the loop guard. dlt's styles against a small list API (`list_api`): each crawls
to the end by its own rule, refuses a loop in one line, and refuses a setting it cannot honour,
naming it, before any request."""

from collections.abc import Iterator

import orjson
import pytest
import urllib3

from users_pipeline.http.client import RestClient
from users_pipeline.http.errors import ApiError
from users_pipeline.http.paginators import (
    PAGINATORS,
    GoRestPaginator,
    PageRequest,
    PageResponse,
    link_with_rel,
    make_paginator,
)
from users_pipeline.http.transport import Transport
from users_pipeline.offline import GoRestServer
from users_pipeline.settings import DEFAULT_MAX_PAGE_BYTES, SettingNames
from users_pipeline_tests.http.harness import (
    USERS_API,
    Handler,
    Server,
    crawl,
    rest_client,
    users_client,
)
from users_pipeline_tests.http.list_api import ListApi


@pytest.fixture
def transport(gorest: GoRestServer) -> Iterator[Transport]:
    transport = Transport(
        gorest.url,
        auth=None,
        timeout_seconds=10,
        max_body_bytes=DEFAULT_MAX_PAGE_BYTES,
        names=USERS_API,
    )
    yield transport
    transport.close()


def respond(transport: Transport, request: PageRequest, page_count: bool = True) -> PageResponse:
    """The server's response to `request`; without its X-Pagination-Pages, like an API that
    does not state a page count."""
    response = transport.get(transport.url_with(request.params), request.label)
    headers = {
        name: value
        for name, value in response.headers.items()
        if page_count or name.lower() != "x-pagination-pages"
    }
    body = orjson.loads(response.content)
    return PageResponse(headers, body, body)


def walk(paginator: GoRestPaginator, transport: Transport, page_count: bool = True) -> list:
    pages = [paginator.update_state(respond(transport, paginator.first_request(), page_count))]
    while paginator.has_next_page:
        request = paginator.next_request()
        pages.append(paginator.update_state(respond(transport, request, page_count)))
    return pages


def test_the_last_page_is_the_one_numbered_x_pagination_pages(gorest, transport):
    pages = walk(GoRestPaginator(100, USERS_API), transport)

    assert [page.number for page in pages] == list(range(1, 29))
    assert [page.is_last for page in pages] == [False] * 27 + [True]
    last = pages[-1]
    assert (last.total, last.page_count, last.served_page_size) == (2751, 28, 100)
    assert [record for page in pages for record in page.records] == gorest.users


def test_the_later_requests_are_known_from_the_first_page(transport):
    paginator = GoRestPaginator(100, USERS_API)
    paginator.update_state(respond(transport, paginator.first_request()))

    ahead = list(paginator.requests_ahead())

    assert [request.params for request in ahead] == [
        {"page": number, "per_page": 100} for number in range(2, 29)
    ]
    assert ahead[-1].label == "page 28"


@pytest.mark.parametrize(("users", "sizes"), [(250, [100, 100, 50]), (200, [100, 100, 0])])
def test_without_a_page_count_a_short_page_is_the_last(gorest, transport, users, sizes):
    gorest.users = gorest.users[:users]
    paginator = GoRestPaginator(100, USERS_API)

    pages = walk(paginator, transport, page_count=False)

    assert [len(page.records) for page in pages] == sizes
    assert pages[-1].is_last and paginator.requests_ahead() is None


def test_a_page_served_twice_fails_naming_it(transport):
    paginator = GoRestPaginator(100, USERS_API)
    paginator.update_state(respond(transport, paginator.first_request()))

    with pytest.raises(ApiError, match="^X-Pagination-Page 1 came twice: the pagination loops$"):
        paginator.update_state(respond(transport, paginator.first_request()))


def test_an_api_that_ignores_the_page_fails_the_crawl_in_one_line(gorest: GoRestServer):
    """It serves page 1 for every page, full and with no page count: without the guard, the
    crawl would never end."""
    first_page = urllib3.request("GET", f"{gorest.url}?page=1&per_page=100")
    headers = [
        (name, value)
        for name, value in first_page.headers.items()
        if name.lower() not in ("x-pagination-pages", "content-length")
    ]

    class IgnoresPage(Handler):
        def do_GET(self) -> None:
            self.answer(200, first_page.data, headers)

    with Server(IgnoresPage) as api:
        url = f"http://127.0.0.1:{api.port}/public/v2/users"
        with users_client(url) as client, pytest.raises(ApiError) as error:
            list(client.iter_pages())
    assert str(error.value) == (
        f"GET {url} page 2: X-Pagination-Page 1 came twice: the pagination loops"
    )


def test_page_size_above_the_cap_is_refused_before_any_request(gorest: GoRestServer):
    with pytest.raises(ApiError, match="USERS_API_PAGE_SIZE must be between 1 and 100"):
        users_client(gorest.url, page_size=500)
    assert gorest.requests == []


def test_an_unknown_style_is_refused_naming_the_setting(gorest: GoRestServer):
    with pytest.raises(ApiError, match=r"^api.paginator 'cursors' is not a pagination style"):
        users_client(gorest.url, paginator="cursors")


@pytest.fixture
def api() -> Iterator[ListApi]:
    with ListApi() as api:
        yield api


def list_client(api: ListApi, path: str, **options) -> RestClient:
    """A client of the list API at `path`, its settings named by their YAML keys."""
    return rest_client(f"{api.url}/{path}", **options)


CURSOR = {
    "type": "cursor",
    "cursor_path": "next_cursor",
    "cursor_param": "starting_after",
    "has_more_path": "has_more",
}
PAGE_NUMBER = {"type": "page_number", "base_page": 1, "total_path": "total_pages"}
# Each style as a dlt user writes it for the list API's path, and the requests its crawl takes.
STYLES = [
    pytest.param("page_number", PAGE_NUMBER, "data", 3, id="page_number-total"),
    pytest.param(
        "page_number",
        {"type": "page_number", "base_page": 1, "total_path": None},
        "data",
        4,  # the fourth page is the empty one
        id="page_number-empty-page",
    ),
    pytest.param(
        "page_number",
        {**PAGE_NUMBER, "total_path": None, "has_more_path": "has_more"},
        "data",
        3,
        id="page_number-has-more",
    ),
    pytest.param("offset", {"type": "offset", "limit": 10}, "$.items", 3, id="offset"),
    pytest.param("cursor", CURSOR, "results", 3, id="cursor-has-more"),
    pytest.param(
        "cursor",
        {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "starting_after"},
        "results",
        3,
        id="cursor-null",
    ),
    pytest.param("json_link", {"type": "json_link"}, "data", 3, id="json_link"),
    pytest.param("header_link", "header_link", None, 3, id="header_link"),
    pytest.param(
        "header_cursor",
        {"type": "header_cursor", "cursor_key": "X-Next-Cursor"},
        None,
        3,
        id="header_cursor",
    ),
    pytest.param("single_page", "single_page", None, 1, id="single_page"),
]


@pytest.mark.parametrize(("path", "paginator", "data_selector", "requests"), STYLES)
def test_every_style_crawls_the_whole_list_and_stops_by_its_rule(
    api: ListApi, path, paginator, data_selector, requests
):
    params = {"per_page": 10} if path == "page_number" else None
    with list_client(
        api, path, paginator=paginator, data_selector=data_selector, params=params
    ) as client:
        pages = list(client.iter_pages())

    assert [record for page in pages for record in page.records] == api.records
    assert [page.is_last for page in pages] == [False] * (requests - 1) + [True]
    assert len(api.requests) == requests


@pytest.mark.parametrize(
    ("path", "paginator", "data_selector", "failure"),
    [
        pytest.param(
            "page_number",
            PAGE_NUMBER,
            "data",
            "GET {url}/page_number page 2: page=2 served the records of page=1 again: the API"
            " ignores page, the pagination loops",
            id="page_number",
        ),
        pytest.param(
            "offset",
            {"type": "offset", "limit": 10},
            "items",
            "GET {url}/offset offset 10: offset=10 served the records of offset=0 again: the API"
            " ignores offset, the pagination loops",
            id="offset",
        ),
        pytest.param(
            "cursor",
            CURSOR,
            "results",
            "GET {url}/cursor page 2: cursor at next_cursor 'cus_20' came twice: the pagination"
            " loops",
            id="cursor",
        ),
        pytest.param(
            "json_link",
            "json_link",
            "data",
            "GET {url}/json_link?page=2 page 2: next URL at next '{url}/json_link?page=2' came"
            " twice: the pagination loops",
            id="json_link",
        ),
        pytest.param(
            "header_link",
            "header_link",
            None,
            "GET {url}/header_link?page=2 page 2: Link rel=next URL '{url}/header_link?page=2'"
            " came twice: the pagination loops",
            id="header_link",
        ),
        pytest.param(
            "header_cursor",
            {"type": "header_cursor", "cursor_key": "X-Next-Cursor"},
            None,
            "GET {url}/header_cursor page 2: cursor in header X-Next-Cursor '10' came twice: the"
            " pagination loops",
            id="header_cursor",
        ),
    ],
)
def test_a_style_whose_api_loops_fails_in_one_line_naming_the_repeat(
    api: ListApi, path, paginator, data_selector, failure
):
    """The API serves its second page for every later request (dlt#3358: a cursor paginator
    that never stops)."""
    api.loops = True
    with (
        list_client(api, path, paginator=paginator, data_selector=data_selector) as client,
        pytest.raises(ApiError) as error,
    ):
        crawl(client)
    assert str(error.value) == failure.format(url=api.url)


def test_pages_known_ahead_are_fetched_concurrently_in_order(api: ListApi):
    """Offsets and page numbers are all known once the first page states the total."""
    api.records += [{"id": number, "name": f"user {number}"} for number in range(26, 101)]
    offset = {"type": "offset", "limit": 10}
    with list_client(api, "offset", paginator=offset, data_selector="items", concurrency=4) as c:
        pages = list(c.iter_pages())
    assert [page.number for page in pages] == list(range(1, 11))
    assert [record for page in pages for record in page.records] == api.records
    assert sorted(int(query["offset"]) for query in api.requests) == list(range(0, 100, 10))


def test_fixed_params_go_on_every_request_under_the_styles_own(api: ListApi):
    params = {"limit": 5, "status": "active", "expand": True}
    offset = {"type": "offset", "limit": 10}
    with list_client(api, "offset", paginator=offset, data_selector="items", params=params) as c:
        assert crawl(c) == api.records
    # Pages known ahead are fetched concurrently: they may reach the server in any order.
    assert sorted(api.requests, key=lambda query: int(query["offset"])) == [
        {"limit": "10", "status": "active", "expand": "true", "offset": str(offset)}
        for offset in (0, 10, 20)
    ]


def test_a_next_url_is_followed_as_it_is_and_a_relative_one_on_the_apis_origin(api: ListApi):
    """The fixed params go on the first request, built from the configured URL; the API's next
    URLs carry what it wants."""
    with list_client(
        api, "json_link", paginator="json_link", data_selector="data", params={"relative": 1}
    ) as client:
        assert crawl(client) == api.records
    assert api.requests == [{"relative": "1"}, {"page": "2"}, {"page": "3"}]


def test_a_next_url_on_another_origin_is_refused_before_it_is_requested(api: ListApi):
    api.next_url = "http://127.0.0.2:9/steal"
    with (
        list_client(api, "json_link", paginator="json_link", data_selector="data") as client,
        pytest.raises(ApiError) as error,
    ):
        crawl(client)
    assert str(error.value) == (
        "GET http://127.0.0.2:9/steal page 2: next URL on http://127.0.0.2:9 not followed"
        " (credentials only go to api.url)"
    )
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    ("header", "url"),
    [
        ('<https://a.test/x?page=2>; rel="next", <https://a.test/x?page=9>; rel="last"', "page=2"),
        (
            '<https://a.test/x?page=1>; rel="prev", <https://a.test/x?page=3>; rel="last next"',
            "page=3",
        ),
        ("<https://a.test/x?ids=1,2>; rel=next", "ids=1,2"),
        ('<https://a.test/x?t=1>; title="a, b; c"; rel="NEXT"', "t=1"),
        ('<https://a.test/x?page=2>; rel="nextish"', None),
        ('<https://a.test/x?page=2>; rel="prev"', None),
        ("", None),
    ],
)
def test_the_link_header_is_read_as_rfc_8288_writes_it(header: str, url: str | None):
    found = link_with_rel(header, "next")
    assert (found and found.split("?")[1]) == url


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"type": "offset"}, "api.paginator.limit is required by the offset style"),
        (
            {"type": "offset", "limit": "ten"},
            "api.paginator.limit must be a whole number, got 'ten'",
        ),
        ({"type": "offset", "limit": True}, "api.paginator.limit must be a whole number, got True"),
        ({"type": "offset", "limit": 0}, "api.paginator.limit must be at least 1, got 0"),
        (
            {"type": "cursor", "page_param": "page"},
            "api.paginator.page_param does not belong to the cursor style (its settings:"
            " cursor_path, cursor_param, stop_after_empty_page, has_more_path)",
        ),
        (
            {"type": "gorest", "per_page": 50},
            "api.paginator.per_page does not belong to the gorest style (its settings: none)",
        ),
        (
            {"type": "cursor", "cursor_body_path": "next"},
            "api.paginator.cursor_body_path is not supported: requests are GETs with the page in"
            " the query (use cursor_param)",
        ),
        (
            {"type": "page_number", "total_path": None, "stop_after_empty_page": False},
            "api.paginator page_number has no rule for the last page: set total_path,"
            " maximum_page, has_more_path or stop_after_empty_page: true",
        ),
        (
            {"type": "cursor", "cursor_path": "data[*].next"},
            "api.paginator.cursor_path 'data[*].next' is not a path of field names, such as"
            " 'data.items' or '$.data.items'",
        ),
        ({"limit": 10}, "api.paginator.type is missing: name the style (known: {known})"),
        (
            {"type": "auto"},
            "api.paginator.type 'auto' is not supported: name the style, so the crawl audit"
            " knows what it can prove (known: {known})",
        ),
        ("pages", "api.paginator 'pages' is not a pagination style (known: {known})"),
        (7, "api.paginator must be a style's name or a mapping with its type, got 7"),
    ],
)
def test_a_setting_a_style_cannot_honour_is_refused_in_one_line_naming_it(config, message):
    """At load, without the network: validation makes the paginator."""
    with pytest.raises(ApiError) as error:
        make_paginator(config, page_size=100, names=SettingNames())
    assert str(error.value) == message.format(known=", ".join(PAGINATORS))


def test_a_dlt_paginator_block_carries_over_with_dlts_defaults():
    """dlt's defaults: page_number from page 0 with `total` pages, offset from 0 with `limit`
    and `offset`, a cursor at `cursors.next` sent back as `cursor`."""
    names = SettingNames()
    page_number = make_paginator("page_number", page_size=100, names=names)
    offset = make_paginator({"type": "offset", "limit": 50}, page_size=100, names=names)
    cursor = make_paginator({"type": "cursor"}, page_size=100, names=names)

    assert page_number.first_request().params == {"page": 0}
    assert offset.first_request().params == {"limit": 50, "offset": 0}
    cursor.update_state(PageResponse({}, {"cursors": {"next": "abc"}}, []))
    assert cursor.next_request().params == {"cursor": "abc"}
    assert offset.proofs.page_size == 50 and offset.proofs.states_total
    assert not page_number.proofs.states_total and not cursor.proofs.states_total


def test_a_total_the_body_does_not_state_fails_naming_the_path_and_the_keys(api: ListApi):
    offset = {"type": "offset", "limit": 10, "total_path": "count"}
    with (
        list_client(api, "offset", paginator=offset, data_selector="items") as client,
        pytest.raises(ApiError) as error,
    ):
        crawl(client)
    assert str(error.value) == (
        f"GET {api.url}/offset offset 0: api.paginator.total_path 'count' is not in the body"
        " (its top-level keys: items, total)"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"has_more": True, "next_cursor": None},
            "api.paginator.has_more_path 'has_more' says more, but api.paginator.cursor_path"
            " 'next_cursor' gives no cursor",
        ),
        (
            {"has_more": "maybe", "next_cursor": "c"},
            "api.paginator.has_more_path 'has_more' is 'maybe', not true or false",
        ),
        (
            {"has_more": True, "next_cursor": {"id": 3}},
            "api.paginator.cursor_path 'next_cursor' is {'id': 3}, not a text or a number",
        ),
    ],
)
def test_a_cursor_page_that_cannot_lead_on_fails_naming_the_settings(body: dict, message: str):
    paginator = make_paginator(CURSOR, page_size=100, names=SettingNames())
    with pytest.raises(ApiError) as error:
        paginator.update_state(PageResponse({}, body, [{"id": 1}]))
    assert str(error.value) == message
