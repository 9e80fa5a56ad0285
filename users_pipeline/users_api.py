"""Client for GoRest-style paginated user APIs: walks every page, paces itself, retries.

No Dagster imports: the asset calls `UsersApiClient.iter_pages()` and decides what to log.
GoRest facts this relies on (see the README): `page`/`per_page` query parameters, `per_page`
capped at 100 (larger values silently return 10 records), `X-Pagination-*` headers, and a
rate limit whose `X-RateLimit-Reset` is *seconds to wait*, with no `Retry-After` on a 429.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from urllib.parse import urlsplit, urlunsplit

import orjson
import requests

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


class UsersApiError(PipelineError):
    """A request that cannot succeed: the message is one line naming the URL and the cause."""


def redact_url(url: str) -> str:
    """The URL with any user:password part replaced, safe for logs and errors."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def validate_api_url(url: str) -> str:
    """Refuse anything but an absolute http(s) URL before a single request is made."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsersApiError(f"USERS_API_URL must be an http(s) URL, got {redact_url(url)!r}")
    return url


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


def _int_header(response: requests.Response, name: str) -> int | None:
    value = response.headers.get(name)
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
        self._headers = {"Accept": "application/json", "User-Agent": "users-pipeline/0.1"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._local = threading.local()
        self._sessions: list[requests.Session] = []

    @property
    def display_url(self) -> str:
        return redact_url(self.url)

    def close(self) -> None:
        for session in self._sessions:
            session.close()

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
        response, content = self._get({"page": number, "per_page": self.page_size}, number)
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError as error:
            raise UsersApiError(
                f"GET {self.display_url} page {number}: body is not JSON"
                f" ({response.headers.get('Content-Type', 'no content-type')}, {error})"
            ) from None
        if not isinstance(body, list):
            raise UsersApiError(
                f"GET {self.display_url} page {number}: expected a JSON array of users,"
                f" got {type(body).__name__}"
            )
        return Page(
            number=number,
            records=body,
            total=_int_header(response, "X-Pagination-Total"),
            page_count=_int_header(response, "X-Pagination-Pages"),
            limit=_int_header(response, "X-Pagination-Limit"),
        )

    def _get(self, params: dict[str, int], number: int) -> tuple[requests.Response, bytes]:
        """One page with retries; a retryable failure on the last attempt becomes UsersApiError.

        Redirects are not followed (the token must only ever go to USERS_API_URL), and a body
        over `max_page_bytes` is refused before it is read whole."""
        where = f"GET {self.display_url} page {number}"
        for attempt in range(1, self.max_attempts + 1):
            self._pace()
            with self._lock:
                self.stats.requests += 1
            try:
                response = self._session().get(
                    self.url,
                    params=params,
                    timeout=self.timeout_seconds,
                    allow_redirects=False,
                    stream=True,
                )
                content = self._read_body(response, where)
            except requests.Timeout:
                cause = f"timed out after {self.timeout_seconds:g} s"
            except requests.ConnectionError as error:
                cause = f"cannot connect ({_root_cause(error)}); check USERS_API_URL"
            else:
                self._remember_budget(response)
                if response.status_code == 200:
                    return response, content
                if 300 <= response.status_code < 400:
                    location = urlsplit(response.headers.get("Location", "")).netloc or "?"
                    raise UsersApiError(
                        f"{where}: HTTP {response.status_code} redirect to {location} not"
                        " followed (the token only goes to USERS_API_URL); set the final URL"
                    )
                cause = f"HTTP {response.status_code}{_api_message(content)}"
                if response.status_code in (401, 403):
                    raise UsersApiError(f"{where}: {cause}; check USERS_API_TOKEN")
                if response.status_code not in RETRYABLE_STATUSES:
                    raise UsersApiError(f"{where}: {cause}")
                if response.status_code == 429:
                    reset = _int_header(response, "X-RateLimit-Reset")
                    self._wait_at_least(float(reset or 1), rate_limited=True)
            if attempt == self.max_attempts:
                raise UsersApiError(f"{where}: {cause} (gave up after {attempt} attempts)")
            with self._lock:
                self.stats.retries += 1
            backoff = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))
            self._wait_at_least(backoff * random.uniform(0.5, 1))
        raise AssertionError("unreachable")

    def _read_body(self, response: requests.Response, where: str) -> bytes:
        """The body, at most `max_page_bytes` of it: a runaway page fails instead of filling
        memory."""
        chunks, size = [], 0
        try:
            with response:
                for chunk in response.iter_content(chunk_size=BODY_CHUNK_BYTES):
                    size += len(chunk)
                    if size > self.max_page_bytes:
                        limit = f"USERS_API_MAX_PAGE_BYTES={self.max_page_bytes}"
                        raise UsersApiError(f"{where}: body larger than {limit}")
                    chunks.append(chunk)
        except (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as error:
            raise requests.ConnectionError(error) from error  # a cut body: retried
        return b"".join(chunks)

    def _session(self) -> requests.Session:
        """One session per thread: connections are reused, never shared between threads."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers.update(self._headers)
            with self._lock:
                self._sessions.append(session)
        return session

    def _remember_budget(self, response: requests.Response) -> None:
        """Pace from the rate-limit headers, like Airbyte's HTTPAPIBudget: with the budget spent,
        wait the reset (at least a second, as concurrent requests may still be in flight); with
        under a tenth of it left, spread what is left over the reset."""
        remaining = _int_header(response, "X-RateLimit-Remaining")
        limit = _int_header(response, "X-RateLimit-Limit")
        reset = _int_header(response, "X-RateLimit-Reset")
        with self._lock:
            self.stats.statuses[response.status_code] = (
                self.stats.statuses.get(response.status_code, 0) + 1
            )
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


def _root_cause(error: BaseException) -> str:
    """The innermost reason of a requests error, e.g. 'Connection refused'."""
    while error.__context__ is not None and error.__context__ is not error:
        error = error.__context__
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    if "] " in text:  # "[Errno 111] Connection refused"
        text = text.split("] ", 1)[1]
    return text[:200]
