"""Each auth type as the API receives it, OAuth2's token life (reuse, expiry, renewal after a
401), and one line naming the setting, never the secret, when a credential is refused. Real
servers on 127.0.0.1, no mocks."""

from __future__ import annotations

import base64
import socket
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
import trustme

from users_pipeline.http.auth import (
    AUTH_TYPES,
    DEFAULT_TOKEN_EXPIRATION_SECONDS,
    OAuth2ClientCredentials,
    make_auth,
)
from users_pipeline.http.errors import ApiError
from users_pipeline.http.pacing import RateBudget
from users_pipeline.http.retry import Retrying
from users_pipeline.http.stats import CrawlStats
from users_pipeline.http.transport import Transport
from users_pipeline.settings import DEFAULT_MAX_PAGE_BYTES, SettingNames
from users_pipeline_tests.http.harness import FakeTime, Handler, Server
from users_pipeline_tests.http.test_transport import ForwardingProxy, environment  # noqa: F401

CUSTOMERS = SettingNames(
    {
        "api.url": "CUSTOMERS_URL",
        "api.auth.token": "CUSTOMERS_TOKEN",
        "api.auth.api_key": "CUSTOMERS_KEY",
        "api.auth.username": "CUSTOMERS_USER",
        "api.auth.password": "CUSTOMERS_PASSWORD",
        "api.auth.access_token_url": "CUSTOMERS_TOKEN_URL",
        "api.auth.client_id": "CUSTOMERS_CLIENT_ID",
        "api.auth.client_secret": "CUSTOMERS_CLIENT_SECRET",
    }
)
CLIENT_ID, CLIENT_SECRET = "app-7", "cl13nt-s3cret"


@dataclass
class TokenIssuer:
    """An OAuth2 token endpoint and the API it guards: a token is good for `uses` requests,
    so a test expires it by counting requests, not by waiting."""

    uses: int | None = None
    expires_in: int | None = 3600
    answer: tuple[int, dict] | None = None  # the token endpoint's fixed answer, if any
    forms: list[dict] = field(default_factory=list)
    left: dict[str, int | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, form: dict[str, str]) -> tuple[int, dict]:
        with self.lock:
            self.forms.append(form)
            if self.answer:
                return self.answer
            if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
                return 401, {"error": "invalid_client"}
            token = f"token-{len(self.forms)}"
            self.left[token] = self.uses
            body = {"access_token": token, "token_type": "bearer"}
            return 200, body if self.expires_in is None else {**body, "expires_in": self.expires_in}

    def accepts(self, authorization: str | None) -> bool:
        with self.lock:
            token = (authorization or "").removeprefix("Bearer ")
            if token not in self.left or self.left[token] == 0:
                return False
            if self.left[token] is not None:
                self.left[token] -= 1
            return True


def api(issuer: TokenIssuer | None = None) -> type[Handler]:
    """GET /data answers `{"ok": true}` (a 401 when `issuer` refuses its token), POST
    /oauth/token is `issuer`'s endpoint; every request is logged."""

    class Api(Handler):
        def do_GET(self) -> None:
            self.log("GET")
            ok = issuer is None or issuer.accepts(self.headers.get("Authorization"))
            body = {"ok": True} if ok else {"message": "Authentication failed"}
            self.answer(200 if ok else 401, orjson.dumps(body), [])

        def do_POST(self) -> None:
            form = self.log("POST")["form"]
            status, body = issuer.issue(form) if issuer else (404, {})
            self.answer(status, orjson.dumps(body), [("Content-Type", "application/json")])

        def log(self, method: str) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            entry = {
                "method": method,
                "path": urlsplit(self.path).path,
                "query": {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()},
                "headers": {name.lower(): value for name, value in self.headers.items()},
                "form": {k: v[0] for k, v in parse_qs(body).items()},
            }
            self.server.log.append(entry)  # type: ignore[attr-defined]
            return entry

    return Api


@contextmanager
def fetching(url: str, auth, max_attempts: int = 3) -> Iterator[tuple[Retrying, CrawlStats]]:
    """GETs as the client makes them: the transport, and the attempt loop over it."""
    transport = Transport(
        url, auth=auth, timeout_seconds=10, max_body_bytes=DEFAULT_MAX_PAGE_BYTES, names=CUSTOMERS
    )
    stats, fake = CrawlStats(), FakeTime()
    budget = RateBudget(stats, fake.sleep, fake.clock)
    options = {"max_attempts": max_attempts, "backoff_seconds": 0.1, "max_backoff_seconds": 1}
    try:
        yield Retrying(transport, budget, stats, CUSTOMERS, **options), stats
    finally:
        transport.close()


def get_data(server: Server, auth, times: int = 1, **options) -> list[dict]:
    """GET /data `times` over one transport; what the server saw."""
    url = f"http://127.0.0.1:{server.port}/data"
    with fetching(url, auth, **options) as (retrying, _):
        for page in range(1, times + 1):
            assert retrying.get(url, f"GET {url} page {page}").status == 200
    return server.requests


def unused_port() -> int:
    """A port nothing listens on: a connection to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def oauth2(port: int, **settings) -> OAuth2ClientCredentials:
    """OAuth2 against the `api` server on `port`, as a source's `api.auth` block makes it."""
    return OAuth2ClientCredentials(
        access_token_url=f"http://127.0.0.1:{port}/oauth/token",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        names=CUSTOMERS,
        **settings,
    )


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"type": "bearer", "token": "t0k"}, {"authorization": "Bearer t0k"}),
        ({"type": "api_key", "api_key": "k3y"}, {"authorization": "k3y"}),
        ({"type": "api_key", "name": "X-API-Key", "api_key": "k3y"}, {"x-api-key": "k3y"}),
        (
            {"type": "api_key", "name": "session", "api_key": "k3y", "location": "cookie"},
            {"cookie": "session=k3y"},
        ),
        (
            {"type": "http_basic", "username": "ann", "password": "p:ss"},
            {"authorization": "Basic " + base64.b64encode(b"ann:p:ss").decode()},
        ),
    ],
)
def test_each_header_auth_reaches_the_api(config: dict, expected: dict):
    with Server(api()) as server:
        [request] = get_data(server, make_auth(config, CUSTOMERS))
    assert expected.items() <= request["headers"].items()


@pytest.mark.parametrize("location", ["query", "param"])
def test_an_api_key_in_the_query_is_added_to_it(location: str):
    config = {"type": "api_key", "name": "key", "api_key": "k3y", "location": location}
    with Server(api()) as server:
        url = f"http://127.0.0.1:{server.port}/data?x=1"
        with fetching(url, make_auth(config, CUSTOMERS)) as (retrying, _):
            retrying.get(url, "GET page 1")
    assert server.requests[0]["query"] == {"x": "1", "key": "k3y"}
    assert "authorization" not in server.requests[0]["headers"]


def test_the_older_token_setting_is_a_bearer_token_named_by_its_own_setting():
    auth = make_auth(None, SettingNames({"api.token": "USERS_API_TOKEN"}), token="t0k")
    with Server(api()) as server:
        [request] = get_data(server, auth)
    assert request["headers"]["authorization"] == "Bearer t0k"
    assert auth.refused() == "check USERS_API_TOKEN (bearer auth)"
    assert make_auth(None, CUSTOMERS) is None


def test_oauth2_posts_the_client_credentials_as_dlt_does_and_reuses_the_token():
    issuer = TokenIssuer()
    with Server(api(issuer)) as server:
        auth = oauth2(server.port, access_token_request_data={"scope": "customers:read"})
        requests = get_data(server, auth, times=5)
    token_request, *data_requests = requests
    assert token_request["path"] == "/oauth/token"
    assert token_request["form"] == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": "customers:read",
    }
    assert token_request["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in token_request["headers"]
    assert [r["headers"]["authorization"] for r in data_requests] == ["Bearer token-1"] * 5


@pytest.mark.parametrize(
    ("expires_in", "lifetime"), [(60, 60), (None, DEFAULT_TOKEN_EXPIRATION_SECONDS)]
)
def test_an_expired_token_is_fetched_again(expires_in: int | None, lifetime: int):
    """`expires_in` when the endpoint says, else `default_token_expiration`."""
    issuer, now = TokenIssuer(expires_in=expires_in), [0.0]
    with Server(api(issuer)) as server:
        auth = oauth2(server.port, clock=lambda: now[0])
        url = f"http://127.0.0.1:{server.port}/data"
        with fetching(url, auth) as (retrying, _):
            for seconds in (0, lifetime - 1, lifetime, lifetime + 1):
                now[0] = seconds
                retrying.get(url, "GET page 1")
    tokens = [r["headers"]["authorization"] for r in server.requests if r["method"] == "GET"]
    assert tokens == ["Bearer token-1"] * 2 + ["Bearer token-2"] * 2
    assert len(issuer.forms) == 2


def test_a_token_refused_before_it_expires_is_renewed_once():
    issuer = TokenIssuer(uses=3)
    with Server(api(issuer)) as server:
        url = f"http://127.0.0.1:{server.port}/data"
        with fetching(url, oauth2(server.port)) as (retrying, stats):
            for page in range(1, 8):
                assert retrying.get(url, f"GET page {page}").status == 200
    statuses = [r["headers"]["authorization"] for r in server.requests if r["method"] == "GET"]
    assert statuses == ["Bearer token-1"] * 4 + ["Bearer token-2"] * 4 + ["Bearer token-3"]
    assert len(issuer.forms) == 3 and stats.retries == 2


def test_a_new_token_refused_too_fails_the_request_in_one_line():
    issuer = TokenIssuer(uses=0)
    with Server(api(issuer)) as server, pytest.raises(ApiError) as error:
        get_data(server, oauth2(server.port), max_attempts=5)
    assert str(error.value) == (
        f"GET http://127.0.0.1:{server.port}/data page 1: HTTP 401 'Authentication failed';"
        " check CUSTOMERS_CLIENT_ID / CUSTOMERS_CLIENT_SECRET (oauth2_client_credentials auth)"
    )
    assert [r["method"] for r in server.requests] == ["POST", "GET", "POST", "GET"]


def test_threads_refused_the_same_token_fetch_one_new_token():
    """Three threads send the first token at once and are all refused: one fetches a new
    token, and the other two retry with it."""
    refused_together = threading.Barrier(3, timeout=10)

    @dataclass
    class RevokesTheFirstToken(TokenIssuer):
        def accepts(self, authorization: str | None) -> bool:
            if authorization == "Bearer token-1":
                refused_together.wait()
                return False
            return super().accepts(authorization)

    issuer = RevokesTheFirstToken()
    with Server(api(issuer)) as server:
        url = f"http://127.0.0.1:{server.port}/data"
        with fetching(url, oauth2(server.port)) as (retrying, stats):

            def fetch(page: int) -> int:
                return retrying.get(url, f"GET page {page}").status

            with ThreadPoolExecutor(3) as pool:
                assert list(pool.map(fetch, range(3))) == [200] * 3
    tokens = [r["headers"]["authorization"] for r in server.requests if r["method"] == "GET"]
    assert sorted(tokens) == ["Bearer token-1"] * 3 + ["Bearer token-2"] * 3
    assert len(issuer.forms) == 2 and stats.retries == 3


@pytest.mark.parametrize(
    ("answer", "cause"),
    [
        (
            (401, {"error": "invalid_client", "error_description": CLIENT_SECRET}),
            "refused CUSTOMERS_CLIENT_ID / CUSTOMERS_CLIENT_SECRET: HTTP 401 'invalid_client'",
        ),
        (
            (400, {"error": CLIENT_SECRET}),
            "refused CUSTOMERS_CLIENT_ID / CUSTOMERS_CLIENT_SECRET: HTTP 400",
        ),
        ((200, {"token_type": "bearer"}), "returned no access_token (HTTP 200)"),
    ],
)
def test_a_token_endpoint_that_refuses_fails_in_one_line_without_the_secret(answer, cause):
    issuer = TokenIssuer(answer=answer)
    with Server(api(issuer)) as server, pytest.raises(ApiError) as error:
        get_data(server, oauth2(server.port))
    endpoint = f"http://127.0.0.1:{server.port}/oauth/token"
    assert str(error.value) == f"oauth2_client_credentials: the token endpoint {endpoint} {cause}"
    assert len(issuer.forms) == 1 and [r["method"] for r in server.requests] == ["POST"]


def test_a_token_endpoint_that_is_down_is_retried_like_the_api():
    issuer = TokenIssuer(answer=(503, {}))
    with Server(api(issuer)) as server, pytest.raises(ApiError) as error:
        get_data(server, oauth2(server.port), max_attempts=2)
    assert str(error.value).endswith(
        f"the token endpoint http://127.0.0.1:{server.port}/oauth/token: HTTP 503"
        " (gave up after 2 attempts)"
    )
    assert [r["method"] for r in server.requests] == ["POST", "POST"]


def test_a_token_endpoint_that_cannot_be_reached_names_its_setting():
    closed_port = unused_port()
    with Server(api()) as server, pytest.raises(ApiError) as error:
        get_data(server, oauth2(closed_port), max_attempts=1)
    assert str(error.value) == (
        f"GET http://127.0.0.1:{server.port}/data page 1: oauth2_client_credentials: the token"
        f" endpoint http://127.0.0.1:{closed_port}/oauth/token: cannot connect (Connection"
        " refused); check CUSTOMERS_TOKEN_URL (gave up after 1 attempts)"
    )
    assert server.requests == []


@pytest.mark.parametrize(
    ("config", "hint"),
    [
        (
            {"type": "api_key", "name": "X-API-Key", "api_key": "k3y"},
            "CUSTOMERS_KEY (api_key auth)",
        ),
        ({"type": "bearer", "token": "k3y"}, "CUSTOMERS_TOKEN (bearer auth)"),
        (
            {"type": "http_basic", "username": "ann", "password": "k3y"},
            "CUSTOMERS_USER / CUSTOMERS_PASSWORD (http_basic auth)",
        ),
    ],
)
def test_a_refused_credential_names_its_settings_never_its_value(config: dict, hint: str):
    with Server(api(TokenIssuer())) as server, pytest.raises(ApiError) as error:
        get_data(server, make_auth(config, CUSTOMERS))
    url = f"http://127.0.0.1:{server.port}/data"
    assert str(error.value) == f"GET {url} page 1: HTTP 401 'Authentication failed'; check {hint}"
    assert len(server.requests) == 1


def test_a_token_endpoint_elsewhere_gets_the_proxy_and_the_ca_bundle_of_the_environment(
    tmp_path,
    environment,  # noqa: F811
):
    """The token URL is the one other origin that gets a request, with the same settings:
    here the API goes through the environment's proxy, the token endpoint is HTTPS with a
    certificate from REQUESTS_CA_BUNDLE's CA (and NO_PROXY spares it)."""
    issuer = TokenIssuer()
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with (
        Server(api(issuer), tls=context) as tokens,
        Server(api(issuer)) as data,
        Server(ForwardingProxy) as proxy,
    ):
        environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        environment.setenv("NO_PROXY", "localhost")
        environment.setenv("REQUESTS_CA_BUNDLE", str(bundle))
        config = {
            "type": "oauth2_client_credentials",
            "access_token_url": f"https://localhost:{tokens.port}/oauth/token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
        get_data(data, make_auth(config, CUSTOMERS), times=2)
    assert [r["method"] for r in tokens.requests] == ["POST"]
    assert [r["url"] for r in proxy.requests] == [f"http://127.0.0.1:{data.port}/data"] * 2
    assert [r["headers"]["authorization"] for r in data.requests] == ["Bearer token-1"] * 2


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"type": "oauth2"},
            "CUSTOMERS_AUTH_TYPE must be one of bearer, api_key, http_basic,"
            " oauth2_client_credentials; got 'oauth2'",
        ),
        ({"token": "t"}, "CUSTOMERS_AUTH_TYPE must be one of bearer, api_key, http_basic,"
            " oauth2_client_credentials; missing"),
        ({"type": "api_key", "name": "X-Key"}, "CUSTOMERS_KEY is required for api_key auth"),
        ({"type": "api_key", "api_key": None}, "CUSTOMERS_KEY is required for api_key auth"),
        (
            {"type": "bearer", "token": "t", "location": "query"},
            "api.auth.location does not belong to bearer auth; its keys: token",
        ),
        (
            {"type": "api_key", "api_key": "k", "location": "body"},
            "api.auth.location must be one of header, query, param, cookie, got 'body'",
        ),
        (
            {"type": "oauth2_client_credentials", "access_token_url": "/oauth/token",
             "client_id": "i", "client_secret": "s"},
            "CUSTOMERS_TOKEN_URL must be an http(s) URL, got '/oauth/token'",
        ),
        (
            {"type": "oauth2_client_credentials", "access_token_url": "https://a.test/t",
             "client_id": "i", "client_secret": "s", "default_token_expiration": "1h"},
            "api.auth.default_token_expiration must be whole seconds",
        ),
    ],
)  # fmt: skip
def test_an_auth_block_that_cannot_work_is_refused_without_a_request(config, message):
    names = SettingNames({**CUSTOMERS.names, "api.auth.type": "CUSTOMERS_AUTH_TYPE"})
    with pytest.raises(ApiError) as error:
        make_auth(config, names)
    assert str(error.value) == message


def test_both_the_older_token_and_an_auth_block_are_refused():
    with pytest.raises(ApiError, match="set api.token or api.auth.type, not both"):
        make_auth({"type": "bearer", "token": "a"}, SettingNames(), token="b")


def test_the_auth_types_say_which_keys_are_secrets():
    assert {name: sorted(auth.secrets) for name, auth in AUTH_TYPES.items()} == {
        "bearer": ["token"],
        "api_key": ["api_key"],
        "http_basic": ["password"],
        "oauth2_client_credentials": ["client_id", "client_secret"],
    }
    oauth = AUTH_TYPES["oauth2_client_credentials"]
    assert oauth.required == ("access_token_url", "client_id", "client_secret")
    assert oauth.optional == ("access_token_request_data", "default_token_expiration")


def test_an_api_key_in_the_query_never_shows_in_a_connection_error():
    url = f"http://127.0.0.1:{unused_port()}/data"
    config = {"type": "api_key", "name": "key", "api_key": "k3y", "location": "query"}
    with (
        fetching(url, make_auth(config, CUSTOMERS), max_attempts=1) as (retrying, _),
        pytest.raises(ApiError) as error,
    ):
        retrying.get(url, f"GET {url} page 1")
    assert "Connection refused" in str(error.value) and "k3y" not in str(error.value)
