"""Misbehaviour the server injects on demand, and GoRest's sliding rate-limit window."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Literal

from users_pipeline.settings import GOREST_MAX_PAGE_SIZE

# GoRest's sliding rate-limit window.
GOREST_RATE_WINDOW_SECONDS = 60.0
# Rate-limit headers GoRest would send to a client that has budget to spare.
UNLIMITED_RATE = 1_000_000
# A forced 429 looks like a spent budget: nothing left, retry in a second.
X_RATELIMIT_EXHAUSTED = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"}


@dataclass
class Faults:
    """Misbehaviour to inject; tests may change any field between requests.

    Every list gets the same faults, as one GoRest client shares one rate limit: a page number
    here means that page of whichever list is asked for. To fail one list only, serve it from a
    server of its own. Replacing `server.faults` with a fresh `Faults()` also resets the rate-limit
    window, so a shared server does not carry one test's spent budget into the next.
    """

    delay_seconds: float = 0.0
    # page -> statuses to answer with, one popped per request for that page, before serving it.
    statuses: dict[int, list[int]] = field(default_factory=dict)
    # page -> raw body served with status 200 and the normal headers instead of the JSON.
    bodies: dict[int, bytes] = field(default_factory=dict)
    # Requests for these pages get the connection closed without any response, every time.
    disconnect_pages: set[int] = field(default_factory=set)
    # Requests per sliding window (at least 1); None = unlimited.
    rate_limit: int | None = None
    window_seconds: float = GOREST_RATE_WINDOW_SECONDS
    # How the budget is stated: GoRest's X-RateLimit-*, the IETF draft's RateLimit-* with a
    # RateLimit-Policy naming the window, or not at all.
    rate_headers: Literal["gorest", "ietf", "none"] = "gorest"
    # A rate-limit 429 also says when to retry: in seconds, as an HTTP date, or not (GoRest).
    retry_after: Literal["seconds", "date"] | None = None
    # 429s the rate limit answered (forced statuses not counted): what a client did not avoid.
    rate_limited: int = field(default=0, init=False)
    # GoRest's per_page cap: above it, pages silently hold GoRest's default page size of records.
    # Lower it to see what a client does when the cap changes under it.
    max_page_size: int = GOREST_MAX_PAGE_SIZE
    _request_times: deque[float] = field(default_factory=deque, init=False, repr=False)
    # Requests are served from many threads at once.
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def take_rate_slot(self) -> tuple[bool, dict[str, str]]:
        """Count this request in the sliding window (429s count too, as on GoRest).

        Returns whether it is allowed and the rate-limit headers, Reset being the whole seconds
        until the next request would be allowed (0 while budget remains).
        """
        limit = self.rate_limit
        if limit is None:
            return True, self._rate_headers(UNLIMITED_RATE, UNLIMITED_RATE, 0)
        now = time.monotonic()
        with self._lock:
            times = self._request_times
            while times and times[0] <= now - self.window_seconds:
                times.popleft()
            allowed = len(times) < limit
            times.append(now)
            remaining = max(0, limit - len(times))
            reset = 0
            if remaining == 0:
                # The next request fits once all but limit - 1 of these have left the window.
                reset = math.ceil(times[len(times) - limit] + self.window_seconds - now)
            if not allowed:
                self.rate_limited += 1
        headers = self._rate_headers(limit, remaining, reset)
        if not allowed and self.retry_after == "seconds":
            headers["Retry-After"] = str(reset)
        elif not allowed and self.retry_after == "date":
            headers["Retry-After"] = formatdate(math.ceil(time.time()) + reset, usegmt=True)
        return allowed, headers

    def pop_status(self, page: int) -> int | None:
        """The next status forced on `page`, if any is left."""
        with self._lock:
            queue = self.statuses.get(page)
            return queue.pop(0) if queue else None

    def _rate_headers(self, limit: int, remaining: int, reset: int) -> dict[str, str]:
        if self.rate_headers == "none":
            return {}
        prefix = "X-RateLimit" if self.rate_headers == "gorest" else "RateLimit"
        headers = {
            f"{prefix}-Limit": str(limit),
            f"{prefix}-Remaining": str(remaining),
            f"{prefix}-Reset": str(reset),
        }
        if self.rate_headers == "ietf":
            headers["RateLimit-Policy"] = f"{limit};w={self.window_seconds:g}"
        return headers
