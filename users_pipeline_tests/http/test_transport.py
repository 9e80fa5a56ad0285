"""The client's HTTP stack: proxies and NO_PROXY from the environment, read once per client,
verified TLS with REQUESTS_CA_BUNDLE honoured, credentials only where they belong (never a
redirect, a next URL on another origin, or ~/.netrc's). Real servers on 127.0.0.1, no mocks."""

from __future__ import annotations

import base64
import http.client
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import orjson
import pytest
import trustme

from users_pipeline.http.errors import ApiError
from users_pipeline.http.transport import Transport, redact_url
from users_pipeline.offline import GoRestServer
from users_pipeline_tests.http.harness import USERS_API, Handler, Server, crawl, users_client

PROXY_VARIABLES = ["http_proxy", "https_proxy", "all_proxy", "no_proxy"]


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy setting from the machine running the tests: each test sets its own."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


class ForwardingProxy(Handler):
    """A plain HTTP proxy: forwards absolute-URI GETs to their host, logging each."""

    def do_GET(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.log.append({"url": self.path, "headers": headers})  # type: ignore[attr-defined]
        target = urlsplit(self.path)
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        forwarded = {k: v for k, v in headers.items() if not k.startswith(("proxy-", "connection"))}
        upstream.request("GET", f"{target.path}?{target.query}", headers=forwarded)
        response = upstream.getresponse()
        body = response.read()
        upstream.close()
        skipped = {"content-length", "transfer-encoding", "connection"}
        kept = [(k, v) for k, v in response.getheaders() if k.lower() not in skipped]
        self.answer(response.status, body, kept)


def test_the_proxy_from_the_environment_carries_every_request(gorest: GoRestServer, environment):
    with Server(ForwardingProxy) as proxy:
        environment.setenv("HTTP_PROXY", f"http://carol:pa%40ss@127.0.0.1:{proxy.port}")
        with users_client(gorest.url) as client:
            assert crawl(client) == gorest.users
    assert len(proxy.requests) == len(gorest.requests) == 28
    assert all(request["url"].startswith(gorest.url + "?") for request in proxy.requests)
    expected = "Basic " + base64.b64encode(b"carol:pa@ss").decode()
    assert {request["headers"]["proxy-authorization"] for request in proxy.requests} == {expected}


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "127.0.0.0/8", "example.test, 127.0.0.1", "*"])
def test_no_proxy_bypasses_the_proxy(gorest: GoRestServer, environment, no_proxy: str):
    with Server(ForwardingProxy) as proxy:
        environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        environment.setenv("NO_PROXY", no_proxy)
        with users_client(gorest.url) as client:
            assert crawl(client) == gorest.users
    assert proxy.requests == []
    assert len(gorest.requests) == 28


def test_the_environment_is_read_once_per_client(gorest: GoRestServer, environment):
    with Server(ForwardingProxy) as proxy, users_client(gorest.url) as client:
        environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        assert crawl(client) == gorest.users
    assert proxy.requests == []


def test_a_login_in_netrc_never_replaces_the_credentials(
    gorest: GoRestServer, environment, tmp_path
):
    """requests would send it as Basic auth to a host it names, when no auth is set."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login eve password stolen\n")
    environment.setenv("NETRC", str(netrc))
    with users_client(gorest.url) as client:
        next(client.iter_pages())
    assert "authorization" not in gorest.requests[0]["headers"]


@pytest.fixture
def transport() -> Iterator[Transport]:
    transport = Transport(
        "http://api.test/v1/customers?status=active",
        auth=None,
        timeout_seconds=1,
        max_body_bytes=1,
        names=USERS_API,
    )
    yield transport
    transport.close()


@pytest.mark.parametrize(
    ("next_url", "followed"),
    [
        ("/v1/customers?cursor=2", "http://api.test/v1/customers?cursor=2"),
        ("?page=2", "http://api.test/v1/customers?page=2"),
        ("HTTP://API.test:80/v2/customers", "http://API.test:80/v2/customers"),
        ("http://ann:pw@api.test/v1/customers", "http://api.test/v1/customers"),
    ],
)
def test_a_next_url_on_the_api_urls_origin_is_followed(transport, next_url, followed):
    assert transport.follow(next_url, "GET page 1") == followed


@pytest.mark.parametrize(
    ("next_url", "origin"),
    [
        ("https://api.test/v1/customers", "https://api.test"),
        ("http://api.test:8080/v1/customers", "http://api.test:8080"),
        ("//elsewhere.test/v1/customers", "http://elsewhere.test"),
        ("http://eve:secret@elsewhere.test/", "http://***@elsewhere.test"),
    ],
)
def test_a_next_url_on_another_origin_is_refused(transport, next_url, origin):
    with pytest.raises(ApiError) as error:
        transport.follow(next_url, "GET page 1")
    assert str(error.value) == (
        f"GET page 1: next URL on {origin} not followed (credentials only go to USERS_API_URL)"
    )


def test_credentials_in_the_url_go_in_a_header_never_in_the_request_line(
    gorest: GoRestServer, environment
):
    """As with `requests`: they are sent as Basic auth, and the request line a proxy logs holds
    only the host, the path and the query."""
    url = gorest.url.replace("http://", "http://dave:s%3Acret@")
    with Server(ForwardingProxy) as proxy:
        environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        with users_client(url) as client:
            next(client.iter_pages())
    assert proxy.requests[0]["url"] == f"{gorest.url}?page=1&per_page=100"
    expected = "Basic " + base64.b64encode(b"dave:s:cret").decode()
    assert gorest.requests[0]["headers"]["authorization"] == expected


def test_a_proxy_of_another_kind_is_one_line_naming_it(environment):
    environment.setenv("ALL_PROXY", "socks5://joe:secret@127.0.0.1:1080")
    with pytest.raises(ApiError) as error:
        users_client("https://api.test/users")
    message = str(error.value)
    assert "proxy socks5://***@127.0.0.1:1080 from the environment" in message
    assert "\n" not in message and "secret" not in message


def test_a_redirect_to_another_host_is_not_followed_so_the_token_stays_home(environment):
    with GoRestServer() as elsewhere:

        class Redirect(Handler):
            def do_GET(self) -> None:
                self.server.log.append(dict(self.headers))  # type: ignore[attr-defined]
                self.answer(302, b"", [("Location", f"{elsewhere.url}?page=1")])

        with Server(Redirect) as api:
            url = f"http://127.0.0.1:{api.port}/public/v2/users"
            with (
                users_client(url, token="home-token") as client,
                pytest.raises(ApiError) as error,
            ):
                next(client.iter_pages())
        assert elsewhere.requests == []
    assert f"HTTP 302 redirect to {urlsplit(elsewhere.url).netloc} not followed" in str(error.value)
    assert api.requests[0]["Authorization"] == "Bearer home-token"


@pytest.fixture
def tls_api() -> Iterator[tuple[str, list[dict], trustme.CA]]:
    """One page of users over HTTPS, with a certificate from a CA no system trusts."""
    users = [{"id": 7, "name": "Ann", "email": "ann@example.test", "gender": "female"}]

    class OnePage(Handler):
        def do_GET(self) -> None:
            headers = [("Content-Type", "application/json"), ("X-Pagination-Pages", "1")]
            self.answer(200, orjson.dumps(users), headers)

    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with Server(OnePage, tls=context) as server:
        yield f"https://127.0.0.1:{server.port}/public/v2/users", users, ca


def test_tls_certificates_are_verified(tls_api, environment):
    url, _, _ = tls_api
    with users_client(url, max_attempts=1) as client, pytest.raises(ApiError) as error:
        next(client.iter_pages())
    assert "cannot connect (certificate verify failed" in str(error.value)


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_ca_bundle_from_the_environment_is_trusted(tls_api, environment, tmp_path, variable):
    url, users, ca = tls_api
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    environment.setenv(variable, str(bundle))
    with users_client(url) as client:
        assert crawl(client) == users


@pytest.mark.parametrize("url", ["ftp://example.test/users", "gorest.co.in/public/v2/users", ""])
def test_a_url_that_is_not_http_is_refused(url: str):
    with pytest.raises(ApiError, match="USERS_API_URL must be an http"):
        users_client(url)


def test_credentials_in_the_url_are_redacted():
    assert (
        redact_url("https://user:pw@api.test:8443/users?x=1")
        == "https://***@api.test:8443/users?x=1"
    )
    assert redact_url("https://api.test/users") == "https://api.test/users"
