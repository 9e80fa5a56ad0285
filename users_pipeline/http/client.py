"""The page loop: every page of one list endpoint, in order, whatever its pagination style.

No Dagster imports: the fetch asset calls `RestClient.iter_pages()` and decides what to log. The
style is a paginator (`paginators`), named in the source's settings; each GET goes through the
attempt loop (`retry`), paced by the API's rate budget (`pacing`), over one urllib3 pool
(`transport`), and its body's records are read by `records`.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

from users_pipeline.http.auth import make_auth
from users_pipeline.http.errors import ApiError
from users_pipeline.http.pacing import RateBudget
from users_pipeline.http.paginators import (
    CrawlProofs,
    Page,
    PageRequest,
    PageResponse,
    Paginator,
    make_paginator,
)
from users_pipeline.http.records import page_records
from users_pipeline.http.retry import Retrying
from users_pipeline.http.stats import CrawlStats
from users_pipeline.http.transport import Transport
from users_pipeline.settings import (
    DEFAULT_BACKOFF_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_PAGE_BYTES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_PAGINATOR,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_BACKOFF_SECONDS,
    MAX_CONCURRENCY,
    SettingNames,
)


class RestClient:
    """Fetches every page of one list endpoint, a bare JSON array of records per page.

    When the paginator knows every later request from the first response, those pages are
    fetched by up to `concurrency` threads (default: as many as the rate limit allows), and
    still yielded in order. Messages name the source's settings by `setting_names` and its
    records by `records_name`.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        paginator: str = DEFAULT_PAGINATOR,
        page_size: int = DEFAULT_PAGE_SIZE,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
        max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
        concurrency: int | None = None,
        max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES,
        setting_names: SettingNames | None = None,
        records_name: str = "records",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        names = setting_names or SettingNames()
        self.paginator = make_paginator(paginator, page_size, names)
        if concurrency is not None and not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ApiError(
                f"{names('api.concurrency')} must be between 1 and {MAX_CONCURRENCY},"
                f" got {concurrency}"
            )
        self.concurrency = concurrency
        self.records_name = records_name
        self.stats = CrawlStats()
        self._budget = RateBudget(self.stats, sleep, clock)
        self._transport = Transport(
            url,
            auth=make_auth(None, names, token=token),
            timeout_seconds=timeout_seconds,
            max_body_bytes=max_page_bytes,
            names=names,
        )
        self._retrying = Retrying(
            self._transport,
            self._budget,
            self.stats,
            names,
            max_attempts=max_attempts,
            backoff_seconds=backoff_seconds,
            max_backoff_seconds=max_backoff_seconds,
        )

    @property
    def display_url(self) -> str:
        return self._transport.display_url

    @property
    def proofs(self) -> CrawlProofs:
        return self.paginator.proofs

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def iter_pages(self) -> Iterator[Page]:
        """Every page in order, until the paginator has no next page. Each crawl walks a fresh
        copy of the paginator, as dlt's RESTClient does."""
        paginator = copy.deepcopy(self.paginator)
        request = paginator.first_request()
        yield self._read(paginator, request, self._fetch(request))
        ahead, threads = paginator.requests_ahead(), self.threads()
        if ahead is None or threads == 1:
            while paginator.has_next_page:
                request = paginator.next_request()
                yield self._read(paginator, request, self._fetch(request))
        else:
            self._budget.share(threads)
            for request, response in in_order(self._fetch, ahead, threads):
                yield self._read(paginator, request, response)

    def threads(self) -> int:
        """Pages fetched at once: the configured concurrency, else what the rate limit allows."""
        return self.concurrency or self._budget.threads()

    def _fetch(self, request: PageRequest) -> PageResponse:
        where = self._where(request)
        response = self._retrying.get(self._transport.url_with(request.params), where)
        return PageResponse(response.headers, page_records(response, where, self.records_name))

    def _read(self, paginator: Paginator, request: PageRequest, response: PageResponse) -> Page:
        """The page, once the paginator has read its response (in page order)."""
        try:
            return paginator.update_state(response)
        except ApiError as error:
            raise ApiError(f"{self._where(request)}: {error}") from None

    def _where(self, request: PageRequest) -> str:
        return f"GET {self.display_url} {request.label}"


def in_order(
    fetch: Callable[[PageRequest], PageResponse], requests: Iterator[PageRequest], threads: int
) -> Iterator[tuple[PageRequest, PageResponse]]:
    """Keep `threads` requests in flight and yield the responses in order as they complete."""
    with ThreadPoolExecutor(threads, thread_name_prefix="api-pages") as pool:
        window = deque((r, pool.submit(fetch, r)) for r in islice(requests, threads * 2))
        try:
            while window:
                request, future = window.popleft()
                response = future.result()
                for later in islice(requests, 1):
                    window.append((later, pool.submit(fetch, later)))
                yield request, response
        finally:
            for _, future in window:
                future.cancel()
