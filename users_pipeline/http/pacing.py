"""The API's rate budget, read from its `X-RateLimit-*` headers and shared by the fetching threads.

Like Airbyte's HTTPAPIBudget, the client slows down before the budget runs out instead of
provoking a 429. GoRest's `X-RateLimit-Reset` is the seconds to wait (not a timestamp), and its
429 has no `Retry-After`: the reset is the wait then too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from users_pipeline.http.stats import CrawlStats
from users_pipeline.http.transport import int_header
from users_pipeline.settings import DEFAULT_CONCURRENCY, MAX_CONCURRENCY

RATE_LIMIT_UNKNOWN = 100_000  # a stated limit this high means "no real limit"
REQUESTS_PER_THREAD = 30  # per rate-limit window: GoRest's 90 a minute make 3 threads


class RateBudget:
    """When the next request, from any thread, may start; every wait is counted in `stats`."""

    def __init__(
        self,
        stats: CrawlStats,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
    ) -> None:
        self._stats = stats
        self._sleep = sleep
        self._clock = clock
        self._not_before = 0.0
        self._limit: int | None = None
        self._in_flight = 0
        self._lock = threading.Lock()

    def wait_turn(self) -> None:
        """Sleep until the time the last responses asked every thread to wait for."""
        with self._lock:
            wait = self._not_before - self._clock()
        if wait > 0:
            self._stats.add_wait(wait)
            self._sleep(wait)

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Pace from a response's budget: with it spent, wait the reset (at least a second, as
        concurrent requests may still be in flight); with under a tenth of it left, spread what
        is left over the reset."""
        remaining = int_header(headers, "X-RateLimit-Remaining")
        limit = int_header(headers, "X-RateLimit-Limit")
        reset = int_header(headers, "X-RateLimit-Reset")
        self._stats.add_response(status, remaining)
        self._limit = limit
        if remaining is None:
            return
        if remaining <= self._in_flight:  # requests already in flight will spend the rest
            self.wait_at_least(float(max(reset or 0, 1)))
        elif reset and limit and remaining < limit / 10:
            self.wait_at_least(reset / (remaining + 1))

    def rate_limited(self, headers: Mapping[str, str]) -> None:
        """After a 429: wait the reset, or a second when the API states none."""
        self._stats.add_rate_limit_wait()
        self.wait_at_least(float(int_header(headers, "X-RateLimit-Reset") or 1))

    def wait_at_least(self, seconds: float) -> None:
        """No request, from any thread, starts sooner than `seconds` from now."""
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + seconds)

    def threads(self) -> int:
        """Threads the stated limit allows: one per REQUESTS_PER_THREAD a window, at most
        MAX_CONCURRENCY, DEFAULT_CONCURRENCY when the API states no limit."""
        if self._limit is None or self._limit >= RATE_LIMIT_UNKNOWN:
            return DEFAULT_CONCURRENCY
        return max(1, min(MAX_CONCURRENCY, self._limit // REQUESTS_PER_THREAD))

    def share(self, threads: int) -> None:
        """The budget is now spent by `threads` at once: when it is down to what the others may
        have in flight, wait the reset."""
        self._in_flight = threads - 1
