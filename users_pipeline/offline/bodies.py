"""JSON bodies as the server writes them: GoRest-style errors, and records whose decimals go out
exactly as their text."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from http.client import responses as STATUS_PHRASES

JSON_TYPE = "application/json; charset=utf-8"
# GoRest's own wording; any other status gets its standard reason phrase.
ERROR_MESSAGES = {
    401: "Authentication failed",
    404: "Resource not found",
    429: "Too many requests",
}
# `json` writes a number only from a float, which would round 12345678901234567890.123, so a
# Decimal goes out as a string starting with NUL (which JSON escapes as \u0000, and no served
# text starts with) and the quotes and mark are then cut away, leaving the number's own text.
DECIMAL_MARK = "\x00"
MARKED_DECIMAL = re.compile(r'"\\u0000([-+.0-9Ee]+)"')


def error_body(status: int, message: str | None = None) -> bytes:
    text = message or ERROR_MESSAGES.get(status) or STATUS_PHRASES.get(status, "Error")
    return json.dumps({"message": text}).encode("utf-8")


def exact_json(value: object) -> bytes:
    """Compact UTF-8 JSON of `value`, each finite `Decimal` in it written as its exact text."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_mark_decimal)
    return MARKED_DECIMAL.sub(r"\1", text).encode("utf-8")


def _mark_decimal(value: object) -> str:
    if isinstance(value, Decimal) and value.is_finite():
        return f"{DECIMAL_MARK}{value}"
    raise TypeError(f"cannot serve {type(value).__name__} as JSON: {value!r}")
