"""One GET to the API's host over urllib3, set up once per client.

HTTP goes through urllib3 directly, not `requests`: a million records are 10,000 requests, and
`requests` spends about 2.5 times urllib3's CPU on each (merging settings, hooks, cookies,
re-reading the environment and ~/.netrc per request; `python -m benchmarks.http_stacks`). What
`requests` did for us is done once, when the transport is made (see `pool_manager`).
"""

from __future__ import annotations

import ipaddress
import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

import certifi
import urllib3
from urllib3.exceptions import HTTPError, LocationValueError, NewConnectionError

from users_pipeline.http.errors import ApiError
from users_pipeline.settings import MAX_CONCURRENCY, SettingNames

BODY_CHUNK_BYTES = 256 * 1024
# What urllib3 decodes here: gzip and deflate, plus br and zstd when their packages are installed.
ACCEPT_ENCODING = urllib3.make_headers(accept_encoding=True)["accept-encoding"]


class NoResponse(Exception):
    """A request that got no usable response (refused, reset, cut body, TLS, proxy, timeout);
    the message is its one-line cause. Worth another attempt."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]
    content: bytes


def int_header(headers: Mapping[str, str], name: str) -> int | None:
    """A header's integer value; None when it is absent, empty or not a number."""
    value = headers.get(name)
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def redact_url(url: str) -> str:
    """The URL with any user:password part replaced, safe for logs and errors."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def validate_url(url: str, names: SettingNames) -> str:
    """Refuse anything but an absolute http(s) URL before a single request is made."""
    parts = urlsplit(url)
    try:
        port_ok = parts.port != 0
    except ValueError:  # not a number from 0 to 65535
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ApiError(f"{names('api.url')} must be an http(s) URL, got {redact_url(url)!r}")
    return url


class Transport:
    """GETs to one API URL: credentials in the URL become Basic auth (as `requests` sends them),
    else the token is a Bearer header; redirects are never followed; a body over
    `max_body_bytes` fails instead of filling memory."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None,
        timeout_seconds: float,
        max_body_bytes: int,
        names: SettingNames,
    ) -> None:
        self.display_url = redact_url(validate_url(url, names))
        self.timeout_seconds = timeout_seconds
        self.max_body_bytes = max_body_bytes
        self._names = names
        parts = urlsplit(url)
        # Credentials in the URL go in a header, never in the request line (a proxy logs that).
        host = parts.netloc.rpartition("@")[2]
        query = f"{parts.query}&" if parts.query else ""
        self._url_prefix = f"{parts.scheme}://{host}{parts.path or '/'}?{query}"
        self._headers = {
            "User-Agent": "users-pipeline/0.1",
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        if parts.username is not None or parts.password is not None:
            self._headers["Authorization"] = basic_auth(parts.username, parts.password)
        elif token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._pool = pool_manager(url)

    def url_with(self, params: Mapping[str, object]) -> str:
        """The API URL with `params` added to its own query."""
        return self._url_prefix + urlencode(params)

    def get(self, url: str, where: str) -> Response:
        """One GET of `url`, its body read whole; `NoResponse` when none usable came back."""
        try:
            # retries=False: the caller retries, with pacing and backoff, and urllib3 raises the
            # error itself instead of wrapping it in MaxRetryError.
            response = self._pool.request(
                "GET",
                url,
                headers=self._headers,
                timeout=self.timeout_seconds,
                retries=False,
                redirect=False,
                preload_content=False,
            )
            content = self._read_body(response, where)
        except HTTPError as error:
            raise NoResponse(self._cause(error)) from None
        return Response(response.status, response.headers, content)

    def close(self) -> None:
        self._pool.clear()

    def _read_body(self, response: urllib3.BaseHTTPResponse, where: str) -> bytes:
        """The body, decompressed, at most `max_body_bytes` of it. A body read to its end
        leaves the connection to the next request; one left unread closes it."""
        chunks, size = [], 0
        try:
            for chunk in response.stream(BODY_CHUNK_BYTES):
                size += len(chunk)
                if size > self.max_body_bytes:
                    limit = f"{self._names('api.max_page_bytes')}={self.max_body_bytes}"
                    raise ApiError(f"{where}: body larger than {limit}")
                chunks.append(chunk)
        finally:
            response.close()
            response.release_conn()
        return b"".join(chunks)

    def _cause(self, error: HTTPError) -> str:
        """The cause of a request that got no usable response, for the one-line error."""
        # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: a refusal is not a
        # timeout.
        if isinstance(error, urllib3.exceptions.TimeoutError) and not isinstance(
            error, NewConnectionError
        ):
            return f"timed out after {self.timeout_seconds:g} s"
        return f"cannot connect ({root_cause(error)}); check {self._names('api.url')}"


def root_cause(error: BaseException) -> str:
    """The innermost reason of an urllib3 error, e.g. 'Connection refused'."""
    while error.__context__ is not None and error.__context__ is not error:
        error = error.__context__
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    if "] " in text:  # "[Errno 111] Connection refused"
        text = text.split("] ", 1)[1]
    return text[:200]


def pool_manager(url: str) -> urllib3.PoolManager:
    """Connections to `url`'s host, shared by the fetching threads, set up as `requests` sets
    them up from the environment, once instead of per request:

    - TLS certificates are always verified, against certifi's CA bundle, or the file or folder
      named by REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE;
    - the proxy is HTTPS_PROXY / HTTP_PROXY by the URL's scheme, else ALL_PROXY (lower case
      too), unless NO_PROXY covers the host (`bypasses_proxy`). HTTPS goes through a CONNECT
      tunnel, so the proxy never sees the token; credentials in the proxy's URL become
      Proxy-Authorization.

    ~/.netrc is not read: `requests` would send a login it found there for the API's host in
    place of the token.
    """
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    bundle = bundle or certifi.where()
    where = "ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"
    options = {"maxsize": MAX_CONCURRENCY, "cert_reqs": "CERT_REQUIRED", where: bundle}
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or bypasses_proxy(parts.hostname or "", parts.port):
        return urllib3.PoolManager(**options)
    if "://" not in proxy:
        proxy = f"http://{proxy}"
    proxy_parts = urlsplit(proxy)
    proxy_headers = {}
    if proxy_parts.username is not None:
        proxy_headers["Proxy-Authorization"] = basic_auth(
            proxy_parts.username, proxy_parts.password
        )
    try:
        return urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, **options)
    except LocationValueError as error:  # e.g. socks5://, which needs PySocks
        raise ApiError(f"proxy {redact_url(proxy)} from the environment: {error}") from None


def bypasses_proxy(host: str, port: int | None) -> bool:
    """NO_PROXY as `requests` reads it: urllib's rules (`*`, host names, domain suffixes, with
    or without a port), and, for an IP address, CIDR ranges such as 10.0.0.0/8."""
    if urllib.request.proxy_bypass(f"{host}:{port}" if port else host):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    for entry in no_proxy.replace(" ", "").split(","):
        try:
            if "/" in entry and address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:  # not a range: urllib has judged it above
            continue
    return False


def basic_auth(user: str | None, password: str | None) -> str:
    """An Authorization value from a URL's percent-encoded credentials."""
    credentials = f"{unquote(user or '')}:{unquote(password or '')}"
    return urllib3.make_headers(basic_auth=credentials)["authorization"]
