"""Every pagination style serves every customer once, wrapped as its API wraps them, behind its
own auth, over real HTTP with `requests`."""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from users_pipeline.offline import STYLES, Credentials, Faults, GoRestServer

CREDENTIALS = Credentials()
# How a client of each style proves who it is, as keyword arguments of `requests.get`;
# page_number's OAuth2 token is fetched per test (see `auth_for`).
AUTH = {
    "cursor": {"headers": {"X-API-Key": CREDENTIALS.api_key}},
    "header_link": {"headers": {"Authorization": f"Bearer {CREDENTIALS.bearer_token}"}},
    "json_link": {},
    "offset": {"auth": (CREDENTIALS.username, CREDENTIALS.password)},
    "header_cursor": {"params": {"api_key": CREDENTIALS.api_key}},
    "single_page": {"cookies": {"api_key": CREDENTIALS.api_key}},
}
WRONG_AUTH = {
    "cursor": [{"headers": {"X-API-Key": "nope"}}, {"params": {"api_key": CREDENTIALS.api_key}}],
    "header_link": [
        {"headers": {"Authorization": "Bearer nope"}},
        {"headers": {"Authorization": CREDENTIALS.bearer_token}},
    ],
    "offset": [{"auth": (CREDENTIALS.username, "nope")}, {"auth": ("nope", CREDENTIALS.password)}],
    "page_number": [
        {"headers": {"Authorization": "Bearer nope"}},
        {"headers": {"Authorization": f"Bearer {CREDENTIALS.bearer_token}"}},
    ],
    "header_cursor": [
        {"params": {"api_key": "nope"}},
        {"headers": {"X-API-Key": CREDENTIALS.api_key}},
    ],
    "single_page": [
        {"cookies": {"api_key": "nope"}},
        {"params": {"api_key": CREDENTIALS.api_key}},
    ],
}


def auth_for(server: GoRestServer, session: requests.Session, style: str) -> dict:
    if style != "page_number":
        return AUTH[style]
    server.tokens.expires_after = None
    token = session.post(
        server.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": CREDENTIALS.client_id,
            "client_secret": CREDENTIALS.client_secret,
        },
    ).json()["access_token"]
    return {"headers": {"Authorization": f"Bearer {token}"}}


def fetch(session: requests.Session, url: str, auth: dict, **params: object) -> requests.Response:
    """GET with the style's auth, the auth's query parameters merged into `params`."""
    options = {key: value for key, value in auth.items() if key != "params"}
    return session.get(url, params={**params, **auth.get("params", {})}, **options)


def decoded(response: requests.Response) -> object:
    """The body with its decimals exact, as the server wrote them."""
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    return json.loads(response.content, parse_float=Decimal)


def crawl(
    server: GoRestServer, session: requests.Session, style: str, **params: object
) -> tuple[list[dict], list[requests.Response]]:
    """Every record of `style`, walked by the style's own rule, and each page's response."""
    auth = auth_for(server, session, style)
    url = server.style_urls[style]
    records: list[dict] = []
    responses: list[requests.Response] = []
    asked: dict[str, object] = dict(params)
    page = 1
    while url:
        response = fetch(session, url, auth, **asked)
        responses.append(response)
        body = decoded(response)
        if style in ("cursor", "header_cursor"):
            next_cursor = (
                (body["next_cursor"] if body["has_more"] else None)
                if style == "cursor"
                else response.headers.get("Next-Cursor")
            )
            records += body["data"] if style == "cursor" else body
            asked = {**params, "cursor": next_cursor}
            url = url if next_cursor else ""
        elif style == "header_link":
            records += body
            url = response.links.get("next", {}).get("url", "")
            asked = {}
        elif style == "json_link":
            records += body["results"]
            url = body["next"] or ""
            asked = {}
        elif style == "offset":
            records += body["items"]
            offset = int(asked.get("offset", 0)) + int(params.get("limit", 10))
            asked = {**params, "offset": offset}
            url = url if offset < body["total"] else ""
        elif style == "page_number":
            records += body["data"]
            page += 1
            asked = {**params, "page": page}
            url = url if page <= body["total_pages"] else ""
        else:
            records += body["data"]["customers"]
            url = ""
    return records, responses


# Pages of 10 over 47 customers: five, but header_link's 30 per page and single_page's one body.
PAGES = {style: 5 for style in STYLES} | {"header_link": 2, "single_page": 1}


@pytest.mark.parametrize("style", STYLES)
def test_each_style_serves_every_customer_once_exactly(
    styles_server: GoRestServer, session: requests.Session, customers: list[dict], style: str
) -> None:
    records, responses = crawl(styles_server, session, style)
    assert records == customers
    assert len(responses) == PAGES[style]
    assert b'"balance":12345678901234567890.123,' in responses[0].content
    assert b'"balance":-0.10000000000000000555,' in responses[0].content
    assert "Dún Laoghaire".encode() in responses[0].content, "UTF-8, not \\u escapes"
    served = [request for request in styles_server.requests if request["path"] != "/oauth/token"]
    assert {request["path"] for request in served} == {
        urlsplit(styles_server.style_urls[style]).path
    }


def test_cursor_wraps_like_stripe_and_only_has_more_ends_it(
    styles_server: GoRestServer, session: requests.Session, customers: list[dict]
) -> None:
    _, responses = crawl(styles_server, session, "cursor", limit=20)
    bodies = [decoded(response) for response in responses]
    assert [list(body) for body in bodies] == [["object", "data", "has_more", "next_cursor"]] * 3
    assert [body["object"] for body in bodies] == ["list"] * 3
    assert [len(body["data"]) for body in bodies] == [20, 20, 7]
    assert [body["has_more"] for body in bodies] == [True, True, False]
    assert all(isinstance(body["next_cursor"], str) for body in bodies), "always a position"
    url, auth = styles_server.style_urls["cursor"], AUTH["cursor"]
    past_end = decoded(fetch(session, url, auth, cursor=bodies[2]["next_cursor"]))
    assert (past_end["data"], past_end["has_more"]) == ([], False)
    assert past_end["next_cursor"] == bodies[2]["next_cursor"]
    assert [request["query"] for request in styles_server.requests[:2]] == [
        {"limit": "20"},
        {"limit": "20", "cursor": bodies[0]["next_cursor"]},
    ]


def test_header_cursor_sends_the_cursor_in_a_header_until_the_last_page(
    styles_server: GoRestServer, session: requests.Session
) -> None:
    _, responses = crawl(styles_server, session, "header_cursor", limit=25)
    assert [len(decoded(response)) for response in responses] == [25, 22]
    assert "Next-Cursor" in responses[0].headers
    assert "Next-Cursor" not in responses[1].headers


def test_header_link_links_like_github(
    styles_server: GoRestServer, session: requests.Session, customers: list[dict]
) -> None:
    url, auth = styles_server.style_urls["header_link"], AUTH["header_link"]
    first = fetch(session, url, auth)
    assert decoded(first) == customers[:30], "GitHub's 30 per page"
    assert first.headers["Link"] == (
        f'<{url}?page=2&per_page=30>; rel="next", <{url}?page=2&per_page=30>; rel="last"'
    )
    middle = fetch(session, url, auth, page=2, per_page=10, state="open")
    assert decoded(middle) == customers[10:20]
    assert middle.headers["Link"] == ", ".join(
        [
            f'<{url}?page=1&per_page=10&state=open>; rel="prev"',
            f'<{url}?page=3&per_page=10&state=open>; rel="next"',
            f'<{url}?page=5&per_page=10&state=open>; rel="last"',
            f'<{url}?page=1&per_page=10&state=open>; rel="first"',
        ]
    )
    last = fetch(session, url, auth, page=5, per_page=10)
    assert set(last.links) == {"prev", "first"}
    assert "Link" not in fetch(session, url, auth, per_page=100).headers, "one page, no links"
    assert decoded(fetch(session, url, auth, page=6, per_page=10)) == []


def test_json_link_pages_like_django_rest_framework(
    styles_server: GoRestServer, session: requests.Session, customers: list[dict]
) -> None:
    url = styles_server.style_urls["json_link"]
    first = decoded(fetch(session, url, {}, page_size=20, status="any"))
    assert list(first) == ["count", "next", "previous", "results"]
    assert first["count"] == 47
    assert first["previous"] is None
    assert first["next"] == f"{url}?page_size=20&status=any&page=2", "the query carried over"
    assert first["results"] == customers[:20]
    last = decoded(session.get(url, params={"page": 3, "page_size": 20}))
    assert (last["next"], len(last["results"])) == (None, 7)
    assert last["previous"] == f"{url}?page=2&page_size=20"


def test_offset_and_page_number_state_their_totals(
    styles_server: GoRestServer, session: requests.Session, customers: list[dict]
) -> None:
    offset_url = styles_server.style_urls["offset"]
    page = decoded(fetch(session, offset_url, AUTH["offset"], offset=45, limit=5))
    assert page == {"items": customers[45:], "total": 47}
    beyond = decoded(fetch(session, offset_url, AUTH["offset"], offset=47))
    assert beyond == {"items": [], "total": 47}
    numbered_url = styles_server.style_urls["page_number"]
    auth = auth_for(styles_server, session, "page_number")
    numbered = decoded(fetch(session, numbered_url, auth, page=3, per_page=20))
    assert numbered == {"data": customers[40:], "page": 3, "total_pages": 3, "total_records": 47}


def test_single_page_serves_everything_in_one_nested_body(
    styles_server: GoRestServer, session: requests.Session, customers: list[dict]
) -> None:
    body = decoded(fetch(session, styles_server.style_urls["single_page"], AUTH["single_page"]))
    assert body == {"data": {"customers": customers}}


@pytest.mark.parametrize("style", [style for style in STYLES if style != "json_link"])
def test_each_style_refuses_a_missing_or_wrong_credential(
    styles_server: GoRestServer, session: requests.Session, style: str
) -> None:
    url = styles_server.style_urls[style]
    for auth in [{}, *WRONG_AUTH[style]]:
        refused = fetch(session, url, auth)
        assert (refused.status_code, refused.json()) == (401, {"message": "Authentication failed"})
    challenge = refused.headers.get("WWW-Authenticate", "")
    expected = {"offset": "Basic", "header_link": "Bearer", "page_number": "Bearer"}
    assert challenge.split(" ")[0] == expected.get(style, "")
    assert fetch(session, url, auth_for(styles_server, session, style)).status_code == 200


def test_json_link_needs_no_credential(
    styles_server: GoRestServer, session: requests.Session
) -> None:
    response = session.get(styles_server.style_urls["json_link"], auth=("any", "thing"))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("style", "params", "named"),
    [
        ("cursor", {"limit": 0}, "limit"),
        ("cursor", {"limit": 101}, "limit"),
        ("cursor", {"cursor": "not-ours"}, "cursor"),
        ("header_cursor", {"cursor": "YWZ0ZXI6LTE"}, "cursor"),  # after:-1
        ("header_link", {"per_page": "x"}, "per_page"),
        ("json_link", {"page": 0}, "page"),
        ("offset", {"offset": -1}, "offset"),
        ("page_number", {"per_page": 500}, "per_page"),
        ("single_page", {"fault": "teapot"}, "fault"),
    ],
)
def test_parameters_out_of_range_get_a_400_naming_them(
    styles_server: GoRestServer, session: requests.Session, style: str, params: dict, named: str
) -> None:
    auth = auth_for(styles_server, session, style)
    response = fetch(session, styles_server.style_urls[style], auth, **params)
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"{named} ")


@pytest.mark.parametrize("style", ["cursor", "header_cursor"])
def test_loop_fault_serves_the_same_cursor_twice(
    styles_server: GoRestServer, session: requests.Session, style: str
) -> None:
    url, auth = styles_server.style_urls[style], AUTH[style]

    def next_cursor(response: requests.Response) -> str:
        if style == "cursor":
            body = decoded(response)
            assert body["has_more"] is True
            return body["next_cursor"]
        return response.headers["Next-Cursor"]

    first = next_cursor(fetch(session, url, auth, limit=40, fault="loop"))
    second = next_cursor(fetch(session, url, auth, limit=40, fault="loop", cursor=first))
    third = next_cursor(fetch(session, url, auth, limit=40, fault="loop", cursor=second))
    assert first == second == third, "has_more stays true past the end"


@pytest.mark.parametrize("style", ["header_link", "json_link"])
def test_loop_fault_serves_the_same_next_url_twice(
    styles_server: GoRestServer, session: requests.Session, style: str
) -> None:
    auth = AUTH[style]

    def next_url(response: requests.Response) -> str:
        if style == "header_link":
            return response.links["next"]["url"]
        return decoded(response)["next"]

    second_page = next_url(fetch(session, styles_server.style_urls[style], auth, fault="loop"))
    assert parse_qs(urlsplit(second_page).query)["page"] == ["2"]
    assert next_url(fetch(session, second_page, auth)) == second_page


@pytest.mark.parametrize("style", ["header_link", "json_link"])
def test_foreign_next_fault_points_the_next_url_at_another_host(
    styles_server: GoRestServer, session: requests.Session, style: str
) -> None:
    url = styles_server.style_urls[style]
    response = fetch(session, url, AUTH[style], page=2, per_page=10, fault="foreign_next")
    if style == "header_link":
        links = {rel: link["url"] for rel, link in response.links.items()}
    else:
        body = decoded(response)
        links = {"next": body["next"], "prev": body["previous"]}
    served, foreign = urlsplit(url), urlsplit(links.pop("next"))
    assert (foreign.hostname, foreign.port, foreign.path) == ("127.0.0.2", served.port, served.path)
    assert {urlsplit(link).hostname for link in links.values()} == {"127.0.0.1"}


def test_customers_are_served_live_and_set_apart_from_gorest(
    customers: list[dict], session: requests.Session
) -> None:
    with GoRestServer(
        [], customers=customers[:5], token="gorest", faults=Faults(rate_limit=1)
    ) as server:
        url, auth = server.style_urls["cursor"], AUTH["cursor"]
        assert len(decoded(fetch(session, url, auth))["data"]) == 5
        server.customers.append(customers[5])
        assert len(decoded(fetch(session, url, auth))["data"]) == 6
        server.customers = []
        assert decoded(fetch(session, url, auth))["data"] == []
        gorest = {"Authorization": "Bearer gorest"}
        assert session.get(server.url, headers=gorest).status_code == 200, "styles use no budget"
        assert session.get(server.url, headers=gorest).status_code == 429
        assert fetch(session, url, auth).status_code == 200


def test_other_paths_under_styles_are_gorest_404s(
    server: GoRestServer, session: requests.Session
) -> None:
    assert server.customers == []
    origin = server.url.removesuffix("/public/v2/users")
    for path in ("/styles/cursor", "/styles/teapot/customers", "/styles/cursor/customers/x"):
        missing = session.get(origin + path)
        assert (missing.status_code, missing.json()) == (404, {"message": "Resource not found"})
    assert session.get(origin + "/styles/cursor/customers/").status_code == 401
