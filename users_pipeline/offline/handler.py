"""How the server answers one request: GoRest's checks in GoRest's order, with the faults applied
on the way, and GoRest-style JSON errors; the pagination styles and the OAuth2 token endpoint
answer by their own rules (see `styles`)."""

from __future__ import annotations

import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from users_pipeline.offline.bodies import JSON_TYPE, error_body
from users_pipeline.offline.faults import X_RATELIMIT_EXHAUSTED, Faults
from users_pipeline.offline.pages import list_name, page_number, page_response, page_size
from users_pipeline.offline.styles import (
    TOKEN_PATH,
    answer_style,
    answer_token_request,
    style_name,
)

if TYPE_CHECKING:
    from users_pipeline.offline.server import GoRestServer, TrackingHTTPServer

HTML_TYPE = "text/html; charset=UTF-8"


class RequestHandler(BaseHTTPRequestHandler):
    """Serves the lists, the styles and the token endpoint of the `GoRestServer` behind
    `server.gorest`."""

    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses one connection for many pages
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: TrackingHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        """Silenced: tests read `GoRestServer.requests` instead of stderr noise."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests and unsupported methods get GoRest-style JSON errors too."""
        self.close_connection = True
        self._send(code, error_body(code, message), {"Content-Type": JSON_TYPE})

    def do_GET(self) -> None:
        gorest = self.server.gorest
        faults = gorest.faults
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        entry = self._entry(parts.path, query)
        name = list_name(parts.path)
        page = page_number(query)
        if name is not None and gorest.on_request is not None:
            gorest.on_request(page)
        if faults.delay_seconds > 0:
            time.sleep(faults.delay_seconds)
        style = style_name(parts.path)
        if style is not None:
            self._answer(entry, *answer_style(gorest, style, query, self.headers))
            return
        if name is not None and page in faults.disconnect_pages:
            gorest.log_request(entry)
            self.close_connection = True
            return
        self._answer(entry, *self._respond(gorest, faults, query, name, page))

    def do_POST(self) -> None:
        """Only the OAuth2 token endpoint takes a POST, as a form."""
        gorest = self.server.gorest
        parts = urlsplit(self.path)
        if parts.path != TOKEN_PATH:
            self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r})")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.send_error(HTTPStatus.BAD_REQUEST, "Bad Content-Length")
            return
        form = dict(parse_qsl(self.rfile.read(length).decode("utf-8", "replace")))
        entry = self._entry(parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)))
        # Kept for tests to see what a client asked for (a scope), the secret left out.
        entry["form"] = {key: value for key, value in form.items() if key != "client_secret"}
        if gorest.faults.delay_seconds > 0:
            time.sleep(gorest.faults.delay_seconds)
        self._answer(entry, *answer_token_request(gorest, form, self.headers))

    def _respond(
        self,
        gorest: GoRestServer,
        faults: Faults,
        query: dict[str, str],
        name: str | None,
        page: int,
    ) -> tuple[int, bytes, dict[str, str]]:
        """Status, body and headers, checked in GoRest's order: rate limit, auth, route."""
        allowed, headers = faults.take_rate_slot()
        headers["Content-Type"] = JSON_TYPE
        if not allowed:
            return 429, error_body(429), headers
        expected_auth = f"Bearer {gorest.token}"
        if gorest.token is not None and self.headers.get("Authorization") != expected_auth:
            return 401, error_body(401), headers
        if name is None:
            return 404, error_body(404), headers
        forced = faults.pop_status(page)
        if forced == 429:
            headers.update(X_RATELIMIT_EXHAUSTED)
        if forced is not None:
            return forced, error_body(forced), headers
        body, page_headers = _served_page(gorest, faults, query, name, page)
        headers.update(page_headers)
        return 200, body, headers

    def _entry(self, path: str, query: dict[str, str]) -> dict:
        """A request as `GoRestServer.requests` logs it, its status to be filled in."""
        headers = {name.lower(): value for name, value in self.headers.items()}
        return {"path": path, "query": query, "headers": headers, "status": None}

    def _answer(self, entry: dict, status: int, body: bytes, headers: dict[str, str]) -> None:
        entry["status"] = status
        self.server.gorest.log_request(entry)
        self._send(status, body, headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _served_page(
    gorest: GoRestServer, faults: Faults, query: dict[str, str], name: str, page: int
) -> tuple[bytes, dict[str, str]]:
    """Page `page` of list `name` with its pagination headers, or the body `faults` serves in
    its place under the same headers."""
    per_page = page_size(query, faults.max_page_size)
    body, headers = page_response(gorest.resources[name], gorest.urls[name], page, per_page)
    override = faults.bodies.get(page)
    if override is None:
        return body, headers
    headers["Content-Type"] = HTML_TYPE if override.startswith(b"<") else JSON_TYPE
    return override, headers
