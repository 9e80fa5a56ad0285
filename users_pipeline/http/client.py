"""The page loop: every page of one list endpoint, in order, whatever its pagination style.

No Dagster imports: the fetch asset calls `RestClient.iter_pages()` and decides what to log. The
style is a paginator (`paginators`), named in the source's settings; each GET goes through the
attempt loop (`retry`), paced by the API's rate budget (`pacing`), over a `requests` session per
fetching thread (`transport`), authenticated by `auth`, and its body's records are read by
`records` (at the `data_selector`). Its settings are checked by `endpoint`, as at definitions load.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any

import orjson
from requests.auth import AuthBase

from users_pipeline.http.endpoint import ListEndpoint, list_endpoint
from users_pipeline.http.errors import ApiError
from users_pipeline.http.pacing import RateBudget
from users_pipeline.http.paginators import (
    CrawlProofs,
    Page,
    PageRequest,
    PageResponse,
    Paginator,
)
from users_pipeline.http.records import page_records, read_body
from users_pipeline.http.retry import Retrying
from users_pipeline.http.stats import CrawlStats
from users_pipeline.http.transport import Transport, redact_url
from users_pipeline.settings import (
    DEFAULT_BACKOFF_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_PAGE_BYTES,
    DEFAULT_TIMEOUT_SECONDS,
    SettingNames,
)


class RestClient:
    """Fetches every page of one list endpoint, walked and read as `endpoint` says (unset: GoRest's
    pages of bare JSON arrays). Every request built from `url` carries the endpoint's fixed
    `params`, under the pagination style's own.

    When the paginator knows every later request from the first response, those pages are
    fetched by up to the endpoint's `concurrency` threads (default: as many as the rate limit
    allows), and still yielded in order. Messages name the source's settings by `setting_names`
    and its records by `records_name`.
    """

    def __init__(
        self,
        url: str,
        *,
        endpoint: ListEndpoint | None = None,
        auth: AuthBase | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
        max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES,
        setting_names: SettingNames | None = None,
        records_name: str = "records",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        names = setting_names or SettingNames()
        self.endpoint = endpoint or list_endpoint(names=names)
        self.records_name = records_name
        self.stats = CrawlStats()
        self._budget = RateBudget(
            self.stats, sleep, clock, requests_per_minute=self.endpoint.requests_per_minute
        )
        self._transport = Transport(
            url,
            auth=auth,
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
        )

    @property
    def display_url(self) -> str:
        return self._transport.display_url

    @property
    def proofs(self) -> CrawlProofs:
        return self.endpoint.paginator.proofs

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def crawl_identity(self) -> str:
        """What a crawl's checkpoints are valid for: the URL, the style and every request's
        fixed parameters, as a sha256 (a query parameter may be a secret)."""
        paginator, selector = self.endpoint.paginator, self.endpoint.data_selector
        facts = {
            "url": self.display_url,
            "style": type(paginator).__name__,
            "first": paginator.first_request().params,
            "params": dict(self.endpoint.params),
            "data_selector": None if selector is None else selector.path,
        }
        return hashlib.sha256(orjson.dumps(facts, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def iter_pages(self, after: Mapping[str, Any] | None = None) -> Iterator[Page]:
        """Every page in order, until the paginator has no next page; or, `after` a page's
        checkpoint, every page after it. Each crawl walks a fresh copy of the paginator, as
        dlt's RESTClient does."""
        paginator = copy.deepcopy(self.endpoint.paginator)
        if after is None:
            request = paginator.first_request()
            yield self._read(paginator, request, self._fetch(request))
        else:
            paginator.resume(after)
        ahead, threads = paginator.requests_ahead(), self.threads()
        if ahead is None or threads == 1:
            while paginator.has_next_page:
                request = paginator.next_request()
                yield self._read(paginator, request, self._fetch(request))
        else:
            for request, response in in_order(self._fetch, ahead, threads):
                yield self._read(paginator, request, response)
                if not paginator.has_next_page:
                    break

    def threads(self) -> int:
        """Pages fetched at once: the configured concurrency, else what the rate limit allows."""
        return self.endpoint.concurrency or self._budget.threads()

    def _fetch(self, request: PageRequest) -> PageResponse:
        where = self._where(request)
        if request.url is None:
            url = self._transport.url_with({**self.endpoint.params, **request.params})
        else:
            url = self._transport.follow(request.url, where)
        response = self._retrying.get(url, where)
        body = read_body(response, where)
        records = page_records(body, self.endpoint.data_selector, where, self.records_name)
        return PageResponse(response.headers, body, records)

    def _read(self, paginator: Paginator, request: PageRequest, response: PageResponse) -> Page:
        """The page, once the paginator has read its response (in page order), with the
        crawl's checkpoint after it."""
        try:
            page = paginator.update_state(response)
        except ApiError as error:
            raise ApiError(f"{self._where(request)}: {error}") from None
        return dataclasses.replace(page, checkpoint=paginator.checkpoint())

    def _where(self, request: PageRequest) -> str:
        url = self.display_url if request.url is None else redact_url(request.url)
        return f"GET {url} {request.label}"


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
