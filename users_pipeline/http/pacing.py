"""The API's rate budget, shared by the fetching threads: a client-side sliding window fed by the
API's headers, so that the whole budget is used and no window ever holds more than the limit.

Like Airbyte's MovingWindowCallRatePolicy, every request start is kept in one log, and a request
starts only when each window it is counted in has room. The windows are:

- the stated one: `X-RateLimit-Limit` (GoRest) or the IETF draft's `RateLimit-Limit` requests,
  over the window `RateLimit-Policy` names (`90;w=60`), else over a window learned from the
  responses (below);
- the declared one: `requests_per_minute` for an API that states no budget. With both, both are
  kept, so the lower rate wins.

GoRest states its window's length nowhere, but under a sliding window `Remaining` says which of
our requests are still in it: after request k, with r remaining, request k - (limit - r) (minus
those still in flight, which the server may not have counted yet) has left, so the window is no
longer than the time since that request was sent. With nothing remaining, `Reset` (seconds to
wait, whole seconds) bounds it too. The shortest such bound, never shorter than the real window,
is the window; each request leaves the log that long after its response came back. Until it is
known, requests start only while the last `Remaining`, less what is in flight since, has room.

A 429 (or any response) with `Retry-After`, in seconds or as an HTTP date, holds every thread back
until then; a 429 without one waits the `Reset`, or a second.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from users_pipeline.http.stats import CrawlStats
from users_pipeline.settings import DEFAULT_CONCURRENCY, MAX_CONCURRENCY

RATE_LIMIT_UNKNOWN = 100_000  # a stated limit this high means "no real limit"
REQUESTS_PER_THREAD = 30  # per rate-limit window: GoRest's 90 a minute make 3 threads
DECLARED_WINDOW_SECONDS = 60.0  # `requests_per_minute`
ANSWER_POLL_SECONDS = 0.01  # while the window is unknown and spent, until an answer says more


@dataclass
class Slot:
    """One request's place in the log: its number, when it started and when its answer came."""

    number: int
    started: float
    answered: float | None = None


@dataclass(frozen=True)
class StatedBudget:
    """What one response says of the budget; None where it says nothing."""

    limit: int | None
    remaining: int | None
    reset_seconds: float | None
    window_seconds: float | None
    retry_after_seconds: float | None


class RateBudget:
    """When the next request, from any thread, may start; every wait is counted in `stats`.
    `requests_per_minute` is at least 1 (`endpoint.list_endpoint` checks it)."""

    def __init__(
        self,
        stats: CrawlStats,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        *,
        requests_per_minute: int | None = None,
    ) -> None:
        self._stats = stats
        self._sleep = sleep
        self._clock = clock
        self._declared = requests_per_minute
        self._limit: int | None = None
        self._window: float | None = None  # the stated limit's window, once stated or learned
        self._server_room: int | None = None  # the last Remaining, less what started since
        self._not_before = 0.0
        self._log: deque[Slot] = deque()
        self._started = 0
        self._lock = threading.Lock()

    def wait_turn(self) -> Slot:
        """Sleep until a request may start without overshooting any window, and take its slot."""
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait(now)
                if wait <= 0:
                    return self._take(now)
            self._stats.add_wait(wait)
            self._sleep(wait)

    def observe(self, slot: Slot, status: int, headers: Mapping[str, str]) -> None:
        """Learn from the response to `slot`'s request what the budget is and how much is left."""
        stated = read_budget(headers)
        self._stats.add_response(status, stated.remaining)
        with self._lock:
            now = self._clock()
            slot.answered = now
            if stated.limit is not None:
                self._limit = stated.limit if stated.limit < RATE_LIMIT_UNKNOWN else None
            if stated.window_seconds is not None:
                self._window = stated.window_seconds
            if self._limit is not None and stated.remaining is not None:
                self._learn(slot, now, stated)
            if stated.retry_after_seconds is not None:
                self._hold(now + stated.retry_after_seconds)

    def lost(self, slot: Slot) -> None:
        """The request got no response: it may still have counted, so it stays in the log."""
        with self._lock:
            slot.answered = self._clock()

    def rate_limited(self, headers: Mapping[str, str]) -> None:
        """After a 429: wait its Retry-After (already held by `observe`), else the reset, else a
        second."""
        self._stats.add_rate_limit_wait()
        stated = read_budget(headers)
        if stated.retry_after_seconds is None:
            self.wait_at_least(stated.reset_seconds or 1.0)

    def wait_at_least(self, seconds: float) -> None:
        """No request, from any thread, starts sooner than `seconds` from now."""
        with self._lock:
            self._hold(self._clock() + seconds)

    def threads(self) -> int:
        """Threads the budget allows: one per REQUESTS_PER_THREAD a window, at most
        MAX_CONCURRENCY, DEFAULT_CONCURRENCY when neither the API nor the source states one."""
        limits = [limit for limit in (self._limit, self._declared) if limit is not None]
        if not limits:
            return DEFAULT_CONCURRENCY
        return max(1, min(MAX_CONCURRENCY, min(limits) // REQUESTS_PER_THREAD))

    def _wait(self, now: float) -> float:
        """Seconds until a request may start (0 or less: now)."""
        waits = [self._not_before - now]
        if self._declared is not None:
            waits.append(self._window_wait(now, self._declared, DECLARED_WINDOW_SECONDS))
        if self._limit is not None and self._window is not None:
            stated = self._window_wait(now, self._limit, self._window)
            if self._server_room is None or self._server_room <= 0:
                waits.append(stated)
        elif self._server_room is not None and self._server_room <= 0 and self._in_flight():
            # The window is not known yet: an answer in flight will say more.
            waits.append(ANSWER_POLL_SECONDS)
        return max(waits)

    def _window_wait(self, now: float, limit: int, window: float) -> float:
        """Seconds until fewer than `limit` of the log's requests are in the last `window`."""
        leaving = sorted(
            now + window if slot.answered is None else slot.answered + window for slot in self._log
        )
        inside = [time for time in leaving if time > now]
        if len(inside) < limit:
            return 0.0
        return inside[len(inside) - limit] - now

    def _in_flight(self) -> bool:
        return any(slot.answered is None for slot in self._log)

    def _take(self, now: float) -> Slot:
        slot = Slot(self._started, now)
        self._started += 1
        self._log.append(slot)
        if self._server_room is not None:
            self._server_room -= 1
        self._forget(now)
        return slot

    def _learn(self, slot: Slot, now: float, stated: StatedBudget) -> None:
        """Bound the window by what `Remaining` and `Reset` say of our own requests, and note the
        room the server states."""
        assert self._limit is not None and stated.remaining is not None
        # Requests the server may not have counted yet: earlier ones not answered before this one
        # started, and every later one.
        uncounted_before = sum(
            1
            for other in self._log
            if other.number < slot.number
            and (other.answered is None or other.answered > slot.started)
        )
        later = self._started - 1 - slot.number
        room = stated.remaining - uncounted_before - later
        self._server_room = room if self._server_room is None else max(self._server_room, room)
        if stated.window_seconds is None:
            counted = self._limit - stated.remaining
            left = self._slot(slot.number - counted - uncounted_before)
            if left is not None:
                self._bound_window(now - left.started)
            if stated.remaining == 0 and stated.reset_seconds:
                freed_by = self._slot(slot.number - self._limit + 1 - uncounted_before)
                if freed_by is not None:
                    self._bound_window(now + stated.reset_seconds - freed_by.started)
        if stated.remaining == 0 and stated.reset_seconds and self._window is None:
            # Spent by requests before ours: wait the time the server says, then try one.
            self._hold(now + stated.reset_seconds)
            self._server_room = 1

    def _bound_window(self, seconds: float) -> None:
        if seconds > 0 and (self._window is None or seconds < self._window):
            self._window = seconds

    def _slot(self, number: int) -> Slot | None:
        """The log's slot of request `number`, if still kept."""
        if not self._log or number < self._log[0].number:
            return None
        index = number - self._log[0].number
        return self._log[index] if index < len(self._log) else None

    def _forget(self, now: float) -> None:
        """Drop answered requests that left every window, keeping the last `limit` (and those
        that may be in flight beside them) to learn from."""
        stated = (self._window or math.inf) if self._limit is not None else 0.0
        longest = max(DECLARED_WINDOW_SECONDS if self._declared else 0.0, stated)
        keep = max(self._limit or 0, self._declared or 0) + MAX_CONCURRENCY
        log = self._log
        while len(log) > keep and log[0].answered is not None:
            if log[0].answered + longest > now:
                break
            log.popleft()

    def _hold(self, until: float) -> None:
        self._not_before = max(self._not_before, until)


def read_budget(headers: Mapping[str, str]) -> StatedBudget:
    """The budget as GoRest's `X-RateLimit-*` states it, else as the IETF draft's `RateLimit-*`
    (with `RateLimit-Policy: 90;w=60`), and `Retry-After` in seconds or as an HTTP date."""
    prefix = "X-RateLimit" if "X-RateLimit-Limit" in headers else "RateLimit"
    limit = number(headers.get(f"{prefix}-Limit"))
    remaining = number(headers.get(f"{prefix}-Remaining"))
    return StatedBudget(
        limit=None if limit is None else int(limit),
        remaining=None if remaining is None else int(remaining),
        reset_seconds=number(headers.get(f"{prefix}-Reset")),
        window_seconds=policy_window(headers.get("RateLimit-Policy")),
        retry_after_seconds=retry_after(headers.get("Retry-After")),
    )


def number(value: str | None) -> float | None:
    """A header's number (the first item of a list such as `90, 90;w=60`); None when absent or
    not a number."""
    if not value:
        return None
    try:
        parsed = float(value.split(",")[0].split(";")[0].strip())
    except ValueError:
        return None
    return parsed if math.isfinite(parsed) and parsed >= 0 else None


def policy_window(policy: str | None) -> float | None:
    """The window of `RateLimit-Policy`'s first policy (`90;w=60` or `"p";q=90;w=60`)."""
    if not policy:
        return None
    for parameter in policy.split(",")[0].split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip() == "w":
            window = number(value)
            return window if window else None
    return None


def retry_after(value: str | None) -> float | None:
    """`Retry-After`'s seconds to wait, from seconds or an HTTP date; None when absent."""
    if not value:
        return None
    seconds = number(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
