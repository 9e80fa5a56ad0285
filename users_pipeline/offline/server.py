"""`GoRestServer`: a local stand-in for GoRest v2's list API (users, posts, comments, todos), with
switches to inject faults, and the HTTP server under it that can cut clients off like an outage.
Beside GoRest's lists it serves generated customers in every pagination style other APIs use,
each behind its own auth, with an OAuth2 token endpoint (see `styles`).

Tests and the README's offline quickstart need GoRest's exact behaviour (pagination headers, the
silent `per_page` cap, a rate limit whose reset is in seconds, JSON errors) without internet, and
tests also need failures GoRest will not produce on demand: 5xx, 429, HTML bodies, dropped
connections, slow responses. Standard library only, so serving adds no dependency to the
pipeline's.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Sequence
from http.server import ThreadingHTTPServer

from users_pipeline.offline.faults import Faults
from users_pipeline.offline.handler import RequestHandler
from users_pipeline.offline.pages import API_PATH, RESOURCES
from users_pipeline.offline.records import generate_users
from users_pipeline.offline.styles import (
    DEFAULT_TOKEN_EXPIRES_AFTER,
    STYLES,
    TOKEN_PATH,
    Credentials,
    TokenIssuer,
    style_url,
)


class GoRestServer:
    """GoRest v2's lists on 127.0.0.1, served live from `resources`, with `faults` applied.

    `users` (2751 generated ones by default) is served at `url`; `resources` may add posts,
    comments and todos (see `generate_resources`), any left out are served empty. Each list is
    `urls[name]` and `resources[name]`, and `users` is `resources["users"]`: replace or mutate
    any of them while serving. Binds on construction so the URLs are known at once (port 0 picks a
    free port); `start()` serves from a daemon thread. `on_request(page)` runs before any list
    request is answered, and every request is logged in `requests` as
    `{"path", "query", "headers", "status"}` (status None when the connection was dropped;
    token requests also log their `form`, without the client secret).

    `customers` (none by default; a list from `generate_customers`, or `GeneratedCustomers` to
    make them as they are asked for) are served live in each pagination
    style at `style_urls[style]`, accepting `credentials`, with OAuth2 tokens from `token_url`
    that each serve `token_expires_after` requests (None: any number). GoRest's token, rate
    limit and faults, other than the delay, apply to GoRest's lists only.
    """

    def __init__(
        self,
        users: list[dict] | None = None,
        *,
        resources: dict[str, list[dict]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        faults: Faults | None = None,
        customers: Sequence[dict] | None = None,
        credentials: Credentials | None = None,
        token_expires_after: int | None = DEFAULT_TOKEN_EXPIRES_AFTER,
    ) -> None:
        others = resources or {}
        unknown = sorted(set(others) - set(RESOURCES[1:]))
        if unknown:
            raise ValueError(f"no such GoRest list besides users: {', '.join(unknown)}")
        self.resources: dict[str, list[dict]] = {name: others.get(name, []) for name in RESOURCES}
        self.users = generate_users(2751) if users is None else users
        self.token = token
        self.faults = faults or Faults()
        self.customers: Sequence[dict] = [] if customers is None else customers
        self.credentials = credentials or Credentials()
        self.tokens = TokenIssuer(token_expires_after)
        self.requests: list[dict] = []
        self.on_request: Callable[[int], None] | None = None
        self._requests_lock = threading.Lock()
        self._httpd = TrackingHTTPServer((host, port), self)
        origin = f"http://{host}:{self._httpd.server_address[1]}"
        self.urls = {name: f"{origin}{API_PATH}/{name}" for name in RESOURCES}
        self.url = self.urls["users"]
        self.style_urls = {style: style_url(origin, style) for style in STYLES}
        self.token_url = f"{origin}{TOKEN_PATH}"
        self._thread: threading.Thread | None = None

    @property
    def users(self) -> list[dict]:
        return self.resources["users"]

    @users.setter
    def users(self, users: list[dict]) -> None:
        self.resources["users"] = users

    def start(self) -> GoRestServer:
        # A short poll interval makes stop() quick: tests start and stop one server each.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="gorest-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close the socket, and drop open keep-alive connections."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
        self._httpd.close_connections()

    def __enter__(self) -> GoRestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def log_request(self, entry: dict) -> None:
        """Append to `requests`: handler threads answer requests at the same time."""
        with self._requests_lock:
            self.requests.append(entry)


class TrackingHTTPServer(ThreadingHTTPServer):
    """Tracks open connections so `stop()` can cut keep-alive clients off like a real outage."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], gorest: GoRestServer) -> None:
        self.gorest = gorest
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on an offline machine.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: socket.socket, client_address: tuple[str, int]) -> None:
        # A client that timed out or a stop() mid-response is expected; anything else is a bug.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # the client may have closed it already
                connection.shutdown(socket.SHUT_RDWR)
