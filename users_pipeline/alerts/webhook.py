"""A Slack-compatible incoming webhook: `POST {"text": ...}` (Slack, Mattermost, Rocket.Chat).

The URL is a secret: a Slack webhook's path is its key. Nothing this module logs or raises holds
it: errors name the webhook by its scheme and host only, and the HTTP library's own log lines
(urllib3 logs each request line at DEBUG) are redacted while a post is under way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from users_pipeline.settings import ALERT_TIMEOUT_SECONDS, ALERT_WEBHOOK_SETTING

# The loggers urllib3 names a request's path in (its records do not pass through a parent's
# filters, so each gets its own).
HTTP_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry")
HIDDEN = "***"


class AlertNotSent(Exception):
    """The webhook did not take the alert; the message holds no secret. Tried again later."""


@dataclass(frozen=True)
class Webhook:
    url: str
    timeout_seconds: float = ALERT_TIMEOUT_SECONDS

    @property
    def display(self) -> str:
        """The webhook as messages name it: `https://hooks.slack.com/***`."""
        parts = urlsplit(self.url)
        return f"{ALERT_WEBHOOK_SETTING} ({parts.scheme}://{parts.hostname or '?'}/{HIDDEN})"

    def redact(self, text: str) -> str:
        """`text` with the URL, its path, query and any credentials in it hidden."""
        parts = urlsplit(self.url)
        userinfo = parts.netloc.rpartition("@")[0]
        secrets = [self.url, parts.path, parts.query, userinfo, self.url.split("://", 1)[-1]]
        if parts.query:
            secrets.append(f"{parts.path}?{parts.query}")
        for secret in sorted((s for s in secrets if len(s) > 1), key=len, reverse=True):
            text = text.replace(secret, HIDDEN)
        return text

    def post(self, text: str) -> None:
        """Post one message; `AlertNotSent` (secret-free) unless the webhook answered 2xx."""
        try:
            with self._redacted_http_logs():
                response = requests.post(
                    self.url,
                    json={"text": text},
                    timeout=self.timeout_seconds,
                    allow_redirects=False,
                )
        except requests.RequestException as error:
            cause = self.redact(str(error).splitlines()[0] if str(error) else type(error).__name__)
            raise AlertNotSent(f"{self.display}: {cause}") from None
        if not 200 <= response.status_code < 300:
            body = self.redact(response.text[:200].replace("\n", " ").strip())
            raise AlertNotSent(f"{self.display} answered {response.status_code} {body}".strip())

    @contextmanager
    def _redacted_http_logs(self) -> Iterator[None]:
        redactor = _Redactor(self)
        loggers = [logging.getLogger(name) for name in HTTP_LOGGERS]
        for logger in loggers:
            logger.addFilter(redactor)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeFilter(redactor)


class _Redactor(logging.Filter):
    """Rewrites a log record's message with the webhook's secrets hidden."""

    def __init__(self, webhook: Webhook) -> None:
        super().__init__()
        self.webhook = webhook

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.webhook.redact(record.getMessage()), None
        return True
