"""The http tests' parts: the users source's client, a clock that only moves when the client
sleeps, and a real HTTP server on 127.0.0.1 for one test. No mocks."""

from __future__ import annotations

import inspect
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from users_pipeline.http.auth import YAML_KEYS, make_auth
from users_pipeline.http.client import RestClient
from users_pipeline.http.endpoint import list_endpoint
from users_pipeline.settings import SettingNames
from users_pipeline_tests.conftest import USERS

# What the users source's settings are called, as its defs.yaml names them.
USERS_API = USERS.setting_names("api")


def users_client(url: str, token: str | None = None, **options) -> RestClient:
    """The client as the users source makes it: its messages name USERS_API_* and users, and
    its token is a bearer token."""
    auth = make_auth(None, USERS_API, token=token)
    return rest_client(url, USERS_API, auth=auth, records_name="users", **options)


def rest_client(url: str, names: SettingNames = YAML_KEYS, **options) -> RestClient:
    """A client of `url` whose messages name settings by `names`; the endpoint's settings among
    `options` (`paginator`, `data_selector`, ...) are checked as a source's are."""
    keys = inspect.signature(list_endpoint).parameters.keys() - {"names"}
    endpoint = {key: options.pop(key) for key in keys & options.keys()}
    endpoint = list_endpoint(names=names, **endpoint)
    return RestClient(url, endpoint=endpoint, setting_names=names, **options)


def crawl(client: RestClient) -> list[dict]:
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


def no_sleep_client(url: str, waits: list[float] | None = None, **options) -> RestClient:
    fake = FakeTime()
    if waits is not None:
        fake.waits = waits
    return users_client(url, sleep=fake.sleep, clock=fake.clock, **options)


class Server:
    """A ThreadingHTTPServer on 127.0.0.1 answering GETs with `handler`, for one test; HTTPS
    with a `tls` context."""

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None
    ) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.requests: list[dict] = []
        self.httpd.log = self.requests  # type: ignore[attr-defined]

    def __enter__(self) -> Server:
        # A short poll interval makes the exit quick: shutdown() waits for the next poll.
        kwargs = {"poll_interval": 0.02}
        threading.Thread(target=self.httpd.serve_forever, kwargs=kwargs, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The headers and the body go out in two writes: without this, the body waits for the
    # client's delayed ACK of the headers (40 ms a response).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        """Silenced: tests read `Server.requests`."""

    def answer(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
