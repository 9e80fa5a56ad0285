"""Client for GoRest-style paginated user APIs: walks every page, paces itself, retries.

No Dagster imports: the asset calls `UsersApiClient.iter_pages()` and decides what to log.
GoRest facts this relies on (see the README): `page`/`per_page` query parameters, `per_page`
capped at 100 (larger values silently return 10 records), `X-Pagination-*` headers, and a
rate limit whose `X-RateLimit-Reset` is *seconds to wait*, with no `Retry-After` on a 429.

HTTP goes through urllib3 directly, not `requests`: a million users are 10,000 requests, and
`requests` spends about 2.5 times urllib3's CPU on each (merging settings, hooks, cookies,
re-reading the environment and ~/.netrc per request; `python -m benchmarks.http_stacks`). What
`requests` did for us is done once, when the client is made (see `_pool_manager`).
"""

from __future__ import annotations

import ipaddress
import os
import random
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

import certifi
import orjson
import urllib3
from urllib3.exceptions import HTTPError, LocationValueError, NewConnectionError

from users_pipeline.errors import PipelineError

DEFAULT_USERS_API_URL = "https://gorest.co.in/public/v2/users"
MAX_PAGE_SIZE = 100
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_MAX_PAGE_BYTES = 16 * 1024 * 1024
MAX_CONCURRENCY = 16
DEFAULT_CONCURRENCY = 4
RATE_LIMIT_UNKNOWN = 100_000  # a stated limit this high means "no real limit"
BODY_CHUNK_BYTES = 256 * 1024
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504, 429})
# What urllib3 decodes here: gzip and deflate, plus br and zstd when their packages are installed.
ACCEPT_ENCODING = urllib3.make_headers(accept_encoding=True)["accept-encoding"]


class UsersApiError(PipelineError):
    """A request that cannot succeed: the message is one line naming the URL and the cause."""


def redact_url(url: str) -> str:
    """The URL with any user:password part replaced, safe for logs and errors."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def validate_api_url(url: str) -> str:
    """Refuse anything but an absolute http(s) URL before a single request is made."""
    parts = urlsplit(url)
    try:
        port_ok = parts.port != 0
    except ValueError:  # not a number from 0 to 65535
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise UsersApiError(f"USERS_API_URL must be an http(s) URL, got {redact_url(url)!r}")
    return url


def _pool_manager(url: str) -> urllib3.PoolManager:
    """Connections to `url`'s host, shared by the fetching threads, set up as `requests` sets
    them up from the environment, once instead of per request:

    - TLS certificates are always verified, against certifi's CA bundle, or the file or folder
      named by REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE;
    - the proxy is HTTPS_PROXY / HTTP_PROXY by the URL's scheme, else ALL_PROXY (lower case
      too), unless NO_PROXY covers the host (`_bypasses_proxy`). HTTPS goes through a CONNECT
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
    if not proxy or _bypasses_proxy(parts.hostname or "", parts.port):
        return urllib3.PoolManager(**options)
    if "://" not in proxy:
        proxy = f"http://{proxy}"
    proxy_parts = urlsplit(proxy)
    proxy_headers = {}
    if proxy_parts.username is not None:
        proxy_headers["Proxy-Authorization"] = _basic_auth(
            proxy_parts.username, proxy_parts.password
        )
    try:
        return urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, **options)
    except LocationValueError as error:  # e.g. socks5://, which needs PySocks
        raise UsersApiError(f"proxy {redact_url(proxy)} from the environment: {error}") from None


def _bypasses_proxy(host: str, port: int | None) -> bool:
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


def _basic_auth(user: str | None, password: str | None) -> str:
    """An Authorization value from a URL's percent-encoded credentials."""
    credentials = f"{unquote(user or '')}:{unquote(password or '')}"
    return urllib3.make_headers(basic_auth=credentials)["authorization"]


@dataclass(frozen=True)
class Page:
    """One page of users with the pagination facts the server reported for it."""

    number: int
    records: list[dict]
    total: int | None
    page_count: int | None
    limit: int | None

    def is_last(self, page_size: int) -> bool:
        """The one rule for the end of a list: the number reaches `X-Pagination-Pages`, or, for
        an API that does not send it, the page is short (fewer records than its limit)."""
        if self.page_count is not None:
            return self.number >= self.page_count
        return len(self.records) < (self.limit or page_size)


@dataclass
class CrawlStats:
    """What a crawl cost: reported as metadata so a user sees retries and budget left."""

    requests: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    seconds_waited: float = 0.0
    rate_limit_remaining: int | None = None
    statuses: dict[int, int] = field(default_factory=dict)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


class UsersApiClient:
    """Fetches every page of a users list endpoint.

    Retries connection errors, timeouts, 5xx and 429 with exponential backoff and jitter, up to
    `max_attempts` per page; a 429 waits `X-RateLimit-Reset` seconds. Before the budget runs out
    it slows down instead of provoking a 429. Pages after the first may be fetched by up to
    `concurrency` threads (default: from the rate limit), and are still yielded in order.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        timeout_seconds: float = 30.0,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        concurrency: int | None = None,
        max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = validate_api_url(url)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise UsersApiError(
                f"USERS_API_PAGE_SIZE must be between 1 and {MAX_PAGE_SIZE}, got {page_size}"
                " (GoRest silently serves 10 records per page above 100)"
            )
        if max_attempts < 1:
            raise UsersApiError(f"USERS_API_MAX_ATTEMPTS must be at least 1, got {max_attempts}")
        if concurrency is not None and not 1 <= concurrency <= MAX_CONCURRENCY:
            raise UsersApiError(
                f"USERS_API_CONCURRENCY must be between 1 and {MAX_CONCURRENCY}, got {concurrency}"
            )
        self.page_size = page_size
        self.timeout_seconds = timeout_seconds
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.concurrency = concurrency
        self.max_page_bytes = max_page_bytes
        self.stats = CrawlStats()
        self._sleep = sleep
        self._clock = clock
        self._not_before = 0.0
        self._rate_limit: int | None = None
        self._reserve = 0
        self._lock = threading.Lock()
        parts = urlsplit(url)
        # Credentials in the URL go in a header, never in the request line (a proxy logs that).
        host = parts.netloc.rpartition("@")[2]
        query = f"{parts.query}&" if parts.query else ""
        self._page_url = f"{parts.scheme}://{host}{parts.path or '/'}?{query}"  # + page=...
        self._headers = {
            "User-Agent": "users-pipeline/0.1",
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        if parts.username is not None or parts.password is not None:
            # Sent as Basic auth instead of the token, as requests did.
            self._headers["Authorization"] = _basic_auth(parts.username, parts.password)
        elif token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._pool = _pool_manager(url)

    @property
    def display_url(self) -> str:
        return redact_url(self.url)

    def close(self) -> None:
        self._pool.clear()

    def __enter__(self) -> UsersApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def iter_pages(self) -> Iterator[Page]:
        """Yield pages 1..N in order, N from `X-Pagination-Pages` (or until a short page)."""
        first = self.fetch_page(1)
        yield first
        workers = self._workers()
        if first.page_count is None or workers == 1:
            yield from self._pages_one_by_one(first)
        else:
            yield from self._pages_concurrently(range(2, first.page_count + 1), workers)

    def _workers(self) -> int:
        """The configured concurrency, or one from the rate limit: a thread per 30 requests a
        window (GoRest's 90 a minute: 3), 4 when the API states no limit."""
        if self.concurrency is not None:
            return self.concurrency
        if self._rate_limit is None or self._rate_limit >= RATE_LIMIT_UNKNOWN:
            return DEFAULT_CONCURRENCY
        return max(1, min(MAX_CONCURRENCY, self._rate_limit // 30))

    def _pages_one_by_one(self, page: Page) -> Iterator[Page]:
        while not page.is_last(self.page_size):
            page = self.fetch_page(page.number + 1)
            yield page

    def _pages_concurrently(self, numbers: range, workers: int) -> Iterator[Page]:
        """Keep `workers` requests in flight and yield pages in order as they complete."""
        self._reserve = workers - 1
        pending = iter(numbers)
        with ThreadPoolExecutor(workers, thread_name_prefix="users-api") as pool:
            window = deque(pool.submit(self.fetch_page, n) for n in islice(pending, workers * 2))
            try:
                while window:
                    page = window.popleft().result()
                    for number in islice(pending, 1):
                        window.append(pool.submit(self.fetch_page, number))
                    yield page
            finally:
                for future in window:
                    future.cancel()

    def fetch_page(self, number: int) -> Page:
        headers, content = self._get({"page": number, "per_page": self.page_size}, number)
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError as error:
            raise UsersApiError(
                f"GET {self.display_url} page {number}: body is not JSON"
                f" ({headers.get('Content-Type', 'no content-type')}, {error})"
            ) from None
        if not isinstance(body, list):
            raise UsersApiError(
                f"GET {self.display_url} page {number}: expected a JSON array of users,"
                f" got {type(body).__name__}"
            )
        return Page(
            number=number,
            records=body,
            total=_int_header(headers, "X-Pagination-Total"),
            page_count=_int_header(headers, "X-Pagination-Pages"),
            limit=_int_header(headers, "X-Pagination-Limit"),
        )

    def _get(self, params: dict[str, int], number: int) -> tuple[Mapping[str, str], bytes]:
        """One page with retries; a retryable failure on the last attempt becomes UsersApiError.

        Redirects are not followed (the token must only ever go to USERS_API_URL), and a body
        over `max_page_bytes` is refused before it is read whole."""
        where = f"GET {self.display_url} page {number}"
        url = self._page_url + urlencode(params)
        for attempt in range(1, self.max_attempts + 1):
            self._pace()
            with self._lock:
                self.stats.requests += 1
            try:
                # retries=False: our loop retries, with pacing and backoff, and urllib3 raises
                # the error itself instead of wrapping it in MaxRetryError.
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
            except HTTPError as error:  # refused, reset, cut body, TLS, proxy, timeout
                cause = _failure(error, self.timeout_seconds)
            else:
                status = response.status
                self._remember_budget(status, response.headers)
                if status == 200:
                    return response.headers, content
                if 300 <= status < 400:
                    location = urlsplit(response.headers.get("Location", "")).netloc or "?"
                    raise UsersApiError(
                        f"{where}: HTTP {status} redirect to {location} not"
                        " followed (the token only goes to USERS_API_URL); set the final URL"
                    )
                cause = f"HTTP {status}{_api_message(content)}"
                if status in (401, 403):
                    raise UsersApiError(f"{where}: {cause}; check USERS_API_TOKEN")
                if status not in RETRYABLE_STATUSES:
                    raise UsersApiError(f"{where}: {cause}")
                if status == 429:
                    reset = _int_header(response.headers, "X-RateLimit-Reset")
                    self._wait_at_least(float(reset or 1), rate_limited=True)
            if attempt == self.max_attempts:
                raise UsersApiError(f"{where}: {cause} (gave up after {attempt} attempts)")
            with self._lock:
                self.stats.retries += 1
            backoff = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))
            self._wait_at_least(backoff * random.uniform(0.5, 1))
        raise AssertionError("unreachable")

    def _read_body(self, response: urllib3.BaseHTTPResponse, where: str) -> bytes:
        """The body, decompressed, at most `max_page_bytes` of it: a runaway page fails instead
        of filling memory. A body read to its end leaves the connection to the next request;
        one left unread closes it."""
        chunks, size = [], 0
        try:
            for chunk in response.stream(BODY_CHUNK_BYTES):
                size += len(chunk)
                if size > self.max_page_bytes:
                    limit = f"USERS_API_MAX_PAGE_BYTES={self.max_page_bytes}"
                    raise UsersApiError(f"{where}: body larger than {limit}")
                chunks.append(chunk)
        finally:
            response.close()
            response.release_conn()
        return b"".join(chunks)

    def _remember_budget(self, status: int, headers: Mapping[str, str]) -> None:
        """Pace from the rate-limit headers, like Airbyte's HTTPAPIBudget: with the budget spent,
        wait the reset (at least a second, as concurrent requests may still be in flight); with
        under a tenth of it left, spread what is left over the reset."""
        remaining = _int_header(headers, "X-RateLimit-Remaining")
        limit = _int_header(headers, "X-RateLimit-Limit")
        reset = _int_header(headers, "X-RateLimit-Reset")
        with self._lock:
            self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
            self.stats.rate_limit_remaining = remaining
            self._rate_limit = limit
        if remaining is None:
            return
        if remaining <= self._reserve:  # requests already in flight will spend the rest
            self._wait_at_least(float(max(reset or 0, 1)))
        elif reset and limit and remaining < limit / 10:
            self._wait_at_least(reset / (remaining + 1))

    def _wait_at_least(self, seconds: float, rate_limited: bool = False) -> None:
        """No request, from any thread, starts sooner than `seconds` from now."""
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + seconds)
            self.stats.rate_limit_waits += rate_limited

    def _pace(self) -> None:
        """Sleep until the time the last responses asked every thread to wait for."""
        with self._lock:
            wait = self._not_before - self._clock()
            if wait > 0:
                self.stats.seconds_waited += wait
        if wait > 0:
            self._sleep(wait)


def _api_message(content: bytes) -> str:
    """GoRest errors are `{"message": ...}`: show the message, never the whole body."""
    try:
        message = orjson.loads(content).get("message")
    except (orjson.JSONDecodeError, AttributeError):
        return ""
    return f" {str(message)[:200]!r}" if message else ""


def _failure(error: HTTPError, timeout_seconds: float) -> str:
    """The cause of a request that got no usable response, for the one-line error."""
    # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: a refusal is not a timeout.
    if isinstance(error, urllib3.exceptions.TimeoutError) and not isinstance(
        error, NewConnectionError
    ):
        return f"timed out after {timeout_seconds:g} s"
    return f"cannot connect ({_root_cause(error)}); check USERS_API_URL"


def _root_cause(error: BaseException) -> str:
    """The innermost reason of an urllib3 error, e.g. 'Connection refused'."""
    while error.__context__ is not None and error.__context__ is not error:
        error = error.__context__
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    if "] " in text:  # "[Errno 111] Connection refused"
        text = text.split("] ", 1)[1]
    return text[:200]
