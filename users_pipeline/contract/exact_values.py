"""The values msgspec has no rule for: a `json` field's object or list, kept whole as its JSON
text, and a `numeric` field's exact decimal. No Dagster imports.

msgspec decodes each into its class here through `decode_exact` (its `dec_hook`), which refuses
what the column could not store, so a record that decodes always loads.
"""

from __future__ import annotations

import re
from decimal import Decimal

from users_pipeline import exact_json

# PostgreSQL's numeric holds up to 131072 digits before the decimal point and 16383 after.
NUMERIC_INTEGER_DIGITS = 131072
NUMERIC_FRACTION_DIGITS = 16383
# A number as JSON writes one: what a `numeric` field takes from a string ("12.50").
JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
# A NUL escaped in JSON text (`\u0000` after an even run of backslashes): jsonb cannot store it.
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


class JsonText(str):
    """A `json` field's value: its object or list as compact JSON text, numbers as sent."""

    __slots__ = ()


class Numeric(Decimal):
    """A `numeric` field's value: the decimal the API sent, with its scale (`12.50`)."""

    __slots__ = ()


def decode_exact(kind: type, value: object) -> object:
    """msgspec's `dec_hook`: `value` (as parsed, numbers exact) as a `kind`; a TypeError or
    ValueError is msgspec's ValidationError, so the value is refused like any other."""
    if kind is JsonText:
        return json_text(value)
    if kind is Numeric:
        return numeric(value)
    raise TypeError(f"no rule for {kind.__name__}")


def json_text(value: object) -> JsonText:
    if not isinstance(value, dict | list):
        raise TypeError(f"is {exact_json.type_name(value)}, not an object or list")
    text = exact_json.dumps(value).decode()
    if _ESCAPED_NUL.search(text):
        raise ValueError("contains a NUL character, which PostgreSQL jsonb cannot store")
    return JsonText(text)


def numeric(value: object) -> Numeric:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str | float):
        raise TypeError(f"is {exact_json.type_name(value)}, not a number")
    if isinstance(value, str) and not JSON_NUMBER.fullmatch(value):
        raise ValueError(f"{value!r} is not a decimal number")
    number = Numeric(repr(value) if isinstance(value, float) else value)
    exponent = number.as_tuple().exponent
    if (
        not isinstance(exponent, int)  # NaN or infinity, which JSON cannot write
        or number.adjusted() >= NUMERIC_INTEGER_DIGITS
        or -exponent > NUMERIC_FRACTION_DIGITS
    ):
        raise ValueError(f"{number} is out of the range of PostgreSQL numeric")
    return number


def copy_text(value: object) -> str:
    """msgspec's `enc_hook` for a row written for COPY: a `json` or `numeric` value as text."""
    if isinstance(value, JsonText | Numeric):
        return str(value)
    raise TypeError(f"cannot COPY a {type(value).__name__}")
