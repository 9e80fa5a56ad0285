"""What a crawl cost, counted by every fetching thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class CrawlStats:
    """Requests, retries, waits and statuses of one client: reported as metadata so a user sees
    retries and the rate budget left."""

    requests: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    seconds_waited: float = 0.0
    rate_limit_remaining: int | None = None
    statuses: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_request(self) -> None:
        with self._lock:
            self.requests += 1

    def add_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def add_response(self, status: int, rate_limit_remaining: int | None) -> None:
        with self._lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.rate_limit_remaining = rate_limit_remaining

    def add_wait(self, seconds: float) -> None:
        with self._lock:
            self.seconds_waited += seconds

    def add_rate_limit_wait(self) -> None:
        with self._lock:
            self.rate_limit_waits += 1
