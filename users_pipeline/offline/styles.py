"""The customers in each pagination style other APIs use, each behind the auth real APIs pair it
with, and an OAuth2 client-credentials token endpoint whose tokens run out after a number of
requests, so a client's every style and auth type can be tested end to end over real HTTP.

GET endpoints, at `GoRestServer.style_urls[style]`, named by dlt's paginator types, all serving
`GoRestServer.customers` (see the `customers` module); each with its query, body and headers,
and auth:

- `/styles/cursor/customers`: `?cursor=&limit=`;
  `{"object": "list", "data": [...], "has_more": bool, "next_cursor": "..."}`;
  header `X-API-Key: API_KEY`.
- `/styles/header_link/customers`: `?page=&per_page=` (per_page 30 by default, like GitHub);
  a bare array and `Link: <URL>; rel="prev", <URL>; rel="next", <URL>; rel="last",
  <URL>; rel="first"` as GitHub sends it (each only where it exists, no Link for one page);
  `Authorization: Bearer BEARER_TOKEN`.
- `/styles/json_link/customers`: `?page=&page_size=`, like Django REST framework:
  `{"count": N, "next": URL or null, "previous": URL or null, "results": [...]}`; no auth.
- `/styles/offset/customers`: `?offset=&limit=` (offset 0 by default);
  `{"items": [...], "total": N}`; HTTP basic auth `USERNAME:PASSWORD`.
- `/styles/page_number/customers`: `?page=&per_page=`;
  `{"data": [...], "page": p, "total_pages": P, "total_records": N}`;
  `Authorization: Bearer TOKEN` with a token from `POST /oauth/token`.
- `/styles/header_cursor/customers`: `?cursor=&limit=`; a bare array and
  `Next-Cursor: CURSOR` (absent on the last page); `?api_key=API_KEY`.
- `/styles/single_page/customers`: every record in `{"data": {"customers": [...]}}`;
  cookie `api_key=API_KEY`.

- Pages start at 1; `limit`, `per_page` and `page_size` default to 10 (`per_page` of
  header_link to GitHub's 30) and go up to 100. A value out of range gets a 400.
- `next_cursor` is always present, like a cursor that marks a position: only `has_more` says
  the end. Cursors are opaque; an unknown one gets a 400.
- Next URLs (Link, `next`) keep every query parameter of the request, with the page changed.
- A refused credential gets 401 `{"message": "Authentication failed"}`.

`POST /oauth/token` (form `grant_type=client_credentials`, the client's id and secret either in
the form as `client_id`/`client_secret`, as dlt sends them, or as HTTP basic auth) answers
`{"access_token": ..., "token_type": "bearer", "expires_in": 3600}` (and `scope` when asked).
Each token serves `token_expires_after` data requests, then gets 401: the clock plays no part.
Wrong client credentials get 401 `{"error": "invalid_client"}`, another grant 400
`{"error": "unsupported_grant_type"}`.

Faults, per request with `fault=`: `loop` makes the next cursor or next URL, from the second page
on, the one just asked for (with `has_more: true`); `foreign_next` points header_link's and
json_link's next URLs at host 127.0.0.2, same port and path.
"""

from __future__ import annotations

import base64
import binascii
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import Message
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from users_pipeline.offline.bodies import JSON_TYPE, error_body, exact_json

if TYPE_CHECKING:
    from users_pipeline.offline.server import GoRestServer

STYLES_PATH = "/styles"
STYLED_RESOURCE = "customers"
TOKEN_PATH = "/oauth/token"
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
GITHUB_DEFAULT_PER_PAGE = 30
API_KEY_HEADER = "X-API-Key"
API_KEY_PARAM = "api_key"  # header_cursor's query parameter and single_page's cookie
NEXT_CURSOR_HEADER = "Next-Cursor"
FOREIGN_HOST = "127.0.0.2"
FAULTS = ("loop", "foreign_next")
# Stated in every token response; the server counts requests instead.
TOKEN_LIFETIME_SECONDS = 3600
DEFAULT_TOKEN_EXPIRES_AFTER = 5
CURSOR_PREFIX = "after:"
CHALLENGES = {
    "basic": f'Basic realm="{STYLED_RESOURCE}"',
    "bearer": f'Bearer realm="{STYLED_RESOURCE}"',
}


@dataclass(frozen=True)
class Credentials:
    """The fixed test credentials the endpoints accept; the defaults are what tests use."""

    api_key: str = "offline-api-key"
    bearer_token: str = "offline-bearer-token"
    username: str = "offline-user"
    password: str = "offline-password"
    client_id: str = "offline-client"
    client_secret: str = "offline-client-secret"


class TokenIssuer:
    """OAuth2 access tokens that each serve `expires_after` data requests (None: any number), so
    a test sees a token expire mid-crawl the same way on a slow machine."""

    def __init__(self, expires_after: int | None = DEFAULT_TOKEN_EXPIRES_AFTER) -> None:
        self.expires_after = expires_after
        self.issued = 0
        self._uses_left: dict[str, int | None] = {}
        self._lock = threading.Lock()  # requests are served from many threads at once

    def issue(self) -> str:
        with self._lock:
            self.issued += 1
            token = f"offline-access-token-{self.issued}"
            self._uses_left[token] = self.expires_after
        return token

    def spend(self, token: str) -> bool:
        """Whether `token` may serve one more request, counting this one."""
        with self._lock:
            if token not in self._uses_left:
                return False
            left = self._uses_left[token]
            if left is None:
                return True
            if left <= 0:
                return False
            self._uses_left[token] = left - 1
            return True


class BadRequest(Exception):
    """A query parameter the endpoint cannot serve; its message names the parameter."""


@dataclass(frozen=True)
class StyleRequest:
    url: str  # the endpoint's URL, without the query
    query: dict[str, str]
    headers: Message

    @property
    def fault(self) -> str | None:
        return self.query.get("fault")


Page = tuple[object, dict[str, str]]


@dataclass(frozen=True)
class Endpoint:
    page: Callable[[Sequence[dict], StyleRequest], Page]
    authorized: Callable[[GoRestServer, StyleRequest], bool]
    challenge: str | None = None


def style_name(path: str) -> str | None:
    """'/styles/cursor/customers' -> 'cursor'; None for any other path."""
    prefix, _, rest = path.rstrip("/").partition(f"{STYLES_PATH}/")
    style, _, resource = rest.partition("/")
    if prefix or resource != STYLED_RESOURCE or style not in ENDPOINTS:
        return None
    return style


def style_url(origin: str, style: str) -> str:
    return f"{origin}{STYLES_PATH}/{style}/{STYLED_RESOURCE}"


def answer_style(
    server: GoRestServer, style: str, query: dict[str, str], headers: Message
) -> tuple[int, bytes, dict[str, str]]:
    """Status, body and headers of one GET of `style`'s endpoint: auth first, then the page."""
    endpoint = ENDPOINTS[style]
    request = StyleRequest(server.style_urls[style], query, headers)
    response_headers = {"Content-Type": JSON_TYPE}
    if not endpoint.authorized(server, request):
        if endpoint.challenge is not None:
            response_headers["WWW-Authenticate"] = endpoint.challenge
        return 401, error_body(401), response_headers
    try:
        if request.fault not in (None, *FAULTS):
            raise BadRequest(f"fault must be one of {', '.join(FAULTS)}")
        body, page_headers = endpoint.page(server.customers, request)
    except BadRequest as refused:
        return 400, error_body(400, str(refused)), response_headers
    response_headers.update(page_headers)
    return 200, exact_json(body), response_headers


def answer_token_request(
    server: GoRestServer, form: dict[str, str], headers: Message
) -> tuple[int, bytes, dict[str, str]]:
    """The OAuth2 token endpoint's answer (RFC 6749 section 4.4) to one POST."""
    response_headers = {"Content-Type": JSON_TYPE, "Cache-Control": "no-store"}
    credentials = server.credentials
    if not _client_authenticated(credentials, form, headers):
        response_headers["WWW-Authenticate"] = CHALLENGES["basic"]
        return 401, exact_json({"error": "invalid_client"}), response_headers
    if form.get("grant_type") != "client_credentials":
        return 400, exact_json({"error": "unsupported_grant_type"}), response_headers
    body: dict[str, object] = {
        "access_token": server.tokens.issue(),
        "token_type": "bearer",
        "expires_in": TOKEN_LIFETIME_SECONDS,
    }
    if "scope" in form:
        body["scope"] = form["scope"]
    return 200, exact_json(body), response_headers


def _client_authenticated(credentials: Credentials, form: dict[str, str], headers: Message) -> bool:
    if headers.get("Authorization") is not None:
        expected = _basic(credentials.client_id, credentials.client_secret)
        return headers.get("Authorization") == expected
    return (form.get("client_id"), form.get("client_secret")) == (
        credentials.client_id,
        credentials.client_secret,
    )


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


# Auth checks.


def _api_key_in_header(server: GoRestServer, request: StyleRequest) -> bool:
    return request.headers.get(API_KEY_HEADER) == server.credentials.api_key


def _api_key_in_query(server: GoRestServer, request: StyleRequest) -> bool:
    return request.query.get(API_KEY_PARAM) == server.credentials.api_key


def _api_key_in_cookie(server: GoRestServer, request: StyleRequest) -> bool:
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(request.headers.get("Cookie", ""))
    except CookieError:
        return False
    morsel = cookies.get(API_KEY_PARAM)
    return morsel is not None and morsel.value == server.credentials.api_key


def _bearer_token(server: GoRestServer, request: StyleRequest) -> bool:
    return request.headers.get("Authorization") == f"Bearer {server.credentials.bearer_token}"


def _basic_auth(server: GoRestServer, request: StyleRequest) -> bool:
    credentials = server.credentials
    return request.headers.get("Authorization") == _basic(
        credentials.username, credentials.password
    )


def _oauth2_token(server: GoRestServer, request: StyleRequest) -> bool:
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    return scheme == "Bearer" and server.tokens.spend(token)


def _anyone(server: GoRestServer, request: StyleRequest) -> bool:
    return True


# Pages.


def _cursor_page(customers: Sequence[dict], request: StyleRequest) -> Page:
    records, has_more, next_cursor = _cursor_walk(customers, request)
    body = {"object": "list", "data": records, "has_more": has_more, "next_cursor": next_cursor}
    return body, {}


def _header_cursor_page(customers: Sequence[dict], request: StyleRequest) -> Page:
    records, has_more, next_cursor = _cursor_walk(customers, request)
    return records, {NEXT_CURSOR_HEADER: next_cursor} if has_more else {}


def _header_link_page(customers: Sequence[dict], request: StyleRequest) -> Page:
    page = _int_param(request.query, "page", 1, 1)
    per_page = _page_size(request.query, "per_page", GITHUB_DEFAULT_PER_PAGE)
    page_count = math.ceil(len(customers) / per_page)
    links = []
    if page > 1:
        links.append((_page_url(request, page - 1, per_page, "per_page"), "prev"))
    next_page = _next_page(request, page, page_count)
    if next_page is not None:
        links.append((_next_url(request, next_page, per_page, "per_page"), "next"))
    if page < page_count:
        links.append((_page_url(request, page_count, per_page, "per_page"), "last"))
    if page > 1:
        links.append((_page_url(request, 1, per_page, "per_page"), "first"))
    headers = {"Link": ", ".join(f'<{url}>; rel="{rel}"' for url, rel in links)} if links else {}
    return _slice(customers, page, per_page), headers


def _json_link_page(customers: Sequence[dict], request: StyleRequest) -> Page:
    page = _int_param(request.query, "page", 1, 1)
    page_size = _page_size(request.query, "page_size", DEFAULT_PAGE_SIZE)
    next_page = _next_page(request, page, math.ceil(len(customers) / page_size))
    next_url = None if next_page is None else _next_url(request, next_page, page_size, "page_size")
    body = {
        "count": len(customers),
        "next": next_url,
        "previous": _page_url(request, page - 1, page_size, "page_size") if page > 1 else None,
        "results": _slice(customers, page, page_size),
    }
    return body, {}


def _offset_page(customers: Sequence[dict], request: StyleRequest) -> Page:
    offset = _int_param(request.query, "offset", 0, 0)
    limit = _page_size(request.query, "limit", DEFAULT_PAGE_SIZE)
    return {"items": customers[offset : offset + limit], "total": len(customers)}, {}


def _page_number_page(customers: Sequence[dict], request: StyleRequest) -> Page:
    page = _int_param(request.query, "page", 1, 1)
    per_page = _page_size(request.query, "per_page", DEFAULT_PAGE_SIZE)
    body = {
        "data": _slice(customers, page, per_page),
        "page": page,
        "total_pages": math.ceil(len(customers) / per_page),
        "total_records": len(customers),
    }
    return body, {}


def _single_page(customers: Sequence[dict], request: StyleRequest) -> Page:
    return {"data": {STYLED_RESOURCE: customers[:]}}, {}


ENDPOINTS = {
    "cursor": Endpoint(_cursor_page, _api_key_in_header),
    "header_link": Endpoint(_header_link_page, _bearer_token, CHALLENGES["bearer"]),
    "json_link": Endpoint(_json_link_page, _anyone),
    "offset": Endpoint(_offset_page, _basic_auth, CHALLENGES["basic"]),
    "page_number": Endpoint(_page_number_page, _oauth2_token, CHALLENGES["bearer"]),
    "header_cursor": Endpoint(_header_cursor_page, _api_key_in_query),
    "single_page": Endpoint(_single_page, _api_key_in_cookie),
}
STYLES = tuple(ENDPOINTS)


def _cursor_walk(customers: Sequence[dict], request: StyleRequest) -> tuple[list[dict], bool, str]:
    """The page after the request's cursor, whether more follow, and the cursor past it."""
    limit = _page_size(request.query, "limit", DEFAULT_PAGE_SIZE)
    asked = request.query.get("cursor")
    start = 0 if asked is None else _cursor_position(asked)
    records = customers[start : start + limit]
    end = start + len(records)
    if request.fault == "loop" and asked is not None:
        return records, True, asked
    return records, end < len(customers), _cursor(end)


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{position}".encode()).decode().rstrip("=")


def _cursor_position(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        position = int(text.removeprefix(CURSOR_PREFIX)) if text.startswith(CURSOR_PREFIX) else -1
    except (binascii.Error, UnicodeDecodeError, ValueError):
        position = -1
    if position < 0:
        raise BadRequest("cursor is not one this API gave")
    return position


def _next_page(request: StyleRequest, page: int, page_count: int) -> int | None:
    if request.fault == "loop" and page > 1:
        return page
    return page + 1 if page < page_count else None


def _next_url(request: StyleRequest, page: int, size: int, size_param: str) -> str:
    url = _page_url(request, page, size, size_param)
    if request.fault != "foreign_next":
        return url
    parts = urlsplit(url)
    return parts._replace(netloc=f"{FOREIGN_HOST}:{parts.port}").geturl()


def _page_url(request: StyleRequest, page: int, size: int, size_param: str) -> str:
    """The request's URL with every parameter kept but the page and its size."""
    return f"{request.url}?{urlencode({**request.query, 'page': page, size_param: size})}"


def _slice(customers: Sequence[dict], page: int, size: int) -> list[dict]:
    return customers[(page - 1) * size : page * size]


def _page_size(query: dict[str, str], name: str, default: int) -> int:
    return _int_param(query, name, default, 1, MAX_PAGE_SIZE)


def _int_param(
    query: dict[str, str], name: str, default: int, lowest: int, highest: int | None = None
) -> int:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = lowest - 1
    if value < lowest or (highest is not None and value > highest):
        bounds = f"from {lowest} to {highest}" if highest is not None else f"{lowest} or more"
        raise BadRequest(f"{name} must be an integer {bounds}")
    return value
