"""GoRest's page numbers, read from the GoRest-compatible server's real responses: the one rule
for the last page, the requests known ahead, the page size it accepts, and the loop guard."""

from collections.abc import Iterator

import orjson
import pytest
import urllib3

from users_pipeline.http.errors import ApiError
from users_pipeline.http.paginators import GoRestPaginator, PageRequest, PageResponse
from users_pipeline.http.transport import Transport
from users_pipeline.offline import GoRestServer
from users_pipeline.settings import DEFAULT_MAX_PAGE_BYTES
from users_pipeline_tests.http.harness import USERS_API, Handler, Server, users_client


@pytest.fixture
def transport(gorest: GoRestServer) -> Iterator[Transport]:
    transport = Transport(
        gorest.url,
        token=None,
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
