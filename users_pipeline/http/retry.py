"""The attempts of one GET: what is worth another try, how long to back off, and what is final.

Connection errors, timeouts, 5xx and 429 are retried with exponential backoff and jitter, up to
`max_attempts`; a 429 first waits its `Retry-After`, else the rate budget's reset. A 401 is
retried once at once when the auth can renew its token (an OAuth2 token revoked early); else a 401
or 403 names the credentials' settings. A redirect is refused (credentials only ever go to the
configured URL), any other 4xx fails at once.
"""

from __future__ import annotations

import random
from urllib.parse import urlsplit

import orjson

from users_pipeline.http.auth import refusal_hint
from users_pipeline.http.errors import ApiError
from users_pipeline.http.pacing import RateBudget
from users_pipeline.http.stats import CrawlStats
from users_pipeline.http.transport import NoResponse, Response, Transport
from users_pipeline.settings import MAX_BACKOFF_SECONDS, SettingNames

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504, 429})


class Retrying:
    """GETs through `transport`, paced by `budget`, each tried up to `max_attempts` times."""

    def __init__(
        self,
        transport: Transport,
        budget: RateBudget,
        stats: CrawlStats,
        names: SettingNames,
        *,
        max_attempts: int,
        backoff_seconds: float,
        max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
    ) -> None:
        if max_attempts < 1:
            raise ApiError(f"{names('api.max_attempts')} must be at least 1, got {max_attempts}")
        self._transport = transport
        self._budget = budget
        self._stats = stats
        self._names = names
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds

    def get(self, url: str, where: str) -> Response:
        """The 200 response to GET `url`; `where` begins every message ("GET <url> page 3")."""
        attempt, renewed = 1, False
        while True:
            slot = self._budget.wait_turn()
            self._stats.add_request()
            try:
                response = self._transport.get(url, where)
            except NoResponse as failure:
                self._budget.lost(slot)
                cause = str(failure)
            else:
                self._budget.observe(slot, response.status, response.headers)
                if response.status == 200:
                    return response
                if response.status == 401 and not renewed and self._renew_token():
                    renewed = True
                    self._stats.add_retry()
                    continue
                cause = self._retryable_cause(response, where)
                if response.status == 429:
                    self._budget.rate_limited(response.headers)
            if attempt == self.max_attempts:
                raise ApiError(f"{where}: {cause} (gave up after {attempt} attempts)")
            self._stats.add_retry()
            self._budget.wait_at_least(self._backoff(attempt))
            attempt += 1

    def _renew_token(self) -> bool:
        """Have the auth drop its token, so that the next request fetches another, if it has
        tokens to renew."""
        renew = getattr(self._transport.auth, "renew", None)
        if renew is None:
            return False
        renew()
        return True

    def _retryable_cause(self, response: Response, where: str) -> str:
        """Why `response` is not a page, when another attempt may get one; else ApiError."""
        status = response.status
        if 300 <= status < 400:
            netloc = urlsplit(response.headers.get("Location", "")).netloc
            location = netloc.rpartition("@")[2] or "?"  # never a user:password in it
            raise ApiError(
                f"{where}: HTTP {status} redirect to {location} not followed (credentials only"
                f" go to {self._names('api.url')}); set the final URL"
            )
        cause = f"HTTP {status}{api_message(response.content)}"
        if status in (401, 403):
            raise ApiError(f"{where}: {cause}; {refusal_hint(self._transport.auth, self._names)}")
        if status not in RETRYABLE_STATUSES:
            raise ApiError(f"{where}: {cause}")
        return cause

    def _backoff(self, attempt: int) -> float:
        """Exponential, capped, with jitter: threads that failed together retry apart."""
        backoff = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))
        return backoff * random.uniform(0.5, 1)


def api_message(content: bytes) -> str:
    """GoRest errors are `{"message": ...}`: show the message, never the whole body."""
    try:
        message = orjson.loads(content).get("message")
    except (orjson.JSONDecodeError, AttributeError):
        return ""
    return f" {str(message)[:200]!r}" if message else ""
