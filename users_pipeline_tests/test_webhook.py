"""The webhook alerts are posted to: its URL, a secret, appears in no error and no log line."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from users_pipeline.alerts.webhook import HTTP_LOGGERS, AlertNotSent, Webhook
from users_pipeline_tests.webhook_receiver import SECRET_PATH, WebhookReceiver


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def http_library_logs() -> Iterator[Records]:
    """What urllib3 logs at DEBUG, whatever another test did to its loggers' levels."""
    records, saved = Records(), []
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.disabled))
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        logger.addHandler(records)
    try:
        yield records
    finally:
        for logger, level, disabled in saved:
            logger.removeHandler(records)
            logger.setLevel(level)
            logger.disabled = disabled


def test_the_http_librarys_request_line_hides_the_webhooks_key():
    with WebhookReceiver() as hook, http_library_logs() as logs:
        webhook = Webhook(hook.url)
        webhook.post("hello")
        hook.fail_next = 1
        with pytest.raises(AlertNotSent) as raised:
            webhook.post("again")
    assert hook.texts == ["hello"]
    assert str(raised.value) == "ALERT_WEBHOOK_URL (http://127.0.0.1/***) answered 500 no_service"
    assert any('"POST *** HTTP/1.1" 200' in message for message in logs.messages)
    assert not [message for message in logs.messages if SECRET_PATH in message]


def test_a_webhook_out_of_reach_raises_no_secret():
    webhook = Webhook("http://127.0.0.1:9/services/T000/B000/SecretKey123", timeout_seconds=2)
    with pytest.raises(AlertNotSent) as raised:
        webhook.post("hello")
    assert str(raised.value).startswith("ALERT_WEBHOOK_URL (http://127.0.0.1/***): ")
    assert "SecretKey123" not in str(raised.value)


def test_every_part_of_a_webhook_url_that_can_hold_its_key_is_redacted():
    webhook = Webhook("https://bot:pw@chat.example/hooks/abc123?token=xyz789")
    text = webhook.redact(
        "POST https://bot:pw@chat.example/hooks/abc123?token=xyz789 failed;"
        " url: /hooks/abc123?token=xyz789; path /hooks/abc123"
    )
    for secret in ("abc123", "xyz789", "bot:pw"):
        assert secret not in text
    assert webhook.display == "ALERT_WEBHOOK_URL (https://chat.example/***)"
