"""How the server answers one request: GoRest's checks in GoRest's order, with the faults applied
on the way, and GoRest-style JSON errors."""

from __future__ import annotations

import json
import time
from http.client import responses as STATUS_PHRASES
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from users_pipeline.offline.faults import X_RATELIMIT_EXHAUSTED, Faults
from users_pipeline.offline.pages import list_name, page_number, page_response, page_size

if TYPE_CHECKING:
    from users_pipeline.offline.server import GoRestServer, TrackingHTTPServer

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=UTF-8"
# GoRest's own wording; any other status gets its standard reason phrase.
ERROR_MESSAGES = {
    401: "Authentication failed",
    404: "Resource not found",
    429: "Too many requests",
}


class RequestHandler(BaseHTTPRequestHandler):
    """Serves GET requests for the lists of the `GoRestServer` behind `server.gorest`."""

    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses one connection for many pages
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: TrackingHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        """Silenced: tests read `GoRestServer.requests` instead of stderr noise."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests and unsupported methods get GoRest-style JSON errors too."""
        self.close_connection = True
        self._send(code, _error_body(code, message), {"Content-Type": JSON_TYPE})

    def do_GET(self) -> None:
        gorest = self.server.gorest
        faults = gorest.faults
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        entry = {
            "path": parts.path,
            "query": query,
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "status": None,
        }
        name = list_name(parts.path)
        page = page_number(query)
        if name is not None and gorest.on_request is not None:
            gorest.on_request(page)
        if faults.delay_seconds > 0:
            time.sleep(faults.delay_seconds)
        if name is not None and page in faults.disconnect_pages:
            gorest.log_request(entry)
            self.close_connection = True
            return
        status, body, headers = self._respond(gorest, faults, query, name, page)
        entry["status"] = status
        gorest.log_request(entry)
        self._send(status, body, headers)

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
            return 429, _error_body(429), headers
        expected_auth = f"Bearer {gorest.token}"
        if gorest.token is not None and self.headers.get("Authorization") != expected_auth:
            return 401, _error_body(401), headers
        if name is None:
            return 404, _error_body(404), headers
        forced = faults.pop_status(page)
        if forced == 429:
            headers.update(X_RATELIMIT_EXHAUSTED)
        if forced is not None:
            return forced, _error_body(forced), headers
        body, page_headers = _served_page(gorest, faults, query, name, page)
        headers.update(page_headers)
        return 200, body, headers

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


def _error_body(status: int, message: str | None = None) -> bytes:
    text = message or ERROR_MESSAGES.get(status) or STATUS_PHRASES.get(status, "Error")
    return json.dumps({"message": text}).encode("utf-8")
