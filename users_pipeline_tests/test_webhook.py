"""The webhook alerts are posted to: its URL, a secret, appears in no error and no log line."""

import logging

import pytest

from users_pipeline.alerts.webhook import AlertNotSent, Webhook


def test_a_webhook_that_fails_raises_no_secret(caplog):
    """Neither the error nor the HTTP library's own log lines name the webhook's key."""
    webhook = Webhook("http://127.0.0.1:9/services/T000/B000/SecretKey123", timeout_seconds=2)
    with caplog.at_level(logging.DEBUG), pytest.raises(AlertNotSent) as raised:
        webhook.post("hello")
    assert str(raised.value).startswith("ALERT_WEBHOOK_URL (http://127.0.0.1/***)")
    assert "SecretKey123" not in str(raised.value)
    assert caplog.records  # urllib3 logged the connection attempt
    assert not [record for record in caplog.records if "SecretKey123" in record.getMessage()]


def test_every_part_of_a_webhook_url_that_can_hold_its_key_is_redacted():
    webhook = Webhook("https://bot:pw@chat.example/hooks/abc123?token=xyz789")
    text = webhook.redact(
        "POST https://bot:pw@chat.example/hooks/abc123?token=xyz789 failed;"
        " url: /hooks/abc123?token=xyz789; path /hooks/abc123"
    )
    for secret in ("abc123", "xyz789", "bot:pw"):
        assert secret not in text
    assert webhook.display == "ALERT_WEBHOOK_URL (https://chat.example/***)"
