"""One field of a record: its type and rules, the column it loads into, and the words for why a
value is refused. No Dagster imports.

Validity is decided in one place, the msgspec type; the reasons only put a refusal into words, so
the fast path and the reasons can never disagree on which records are valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal

import msgspec

from users_pipeline import exact_json
from users_pipeline.contract.columns import COLUMN_NAME, RESERVED_NAMES
from users_pipeline.contract.exact_values import JsonText, Numeric, decode_exact
from users_pipeline.errors import PipelineError

FIELD_TYPES = (
    "bigint", "integer", "numeric", "text", "enum", "boolean", "date", "timestamp", "json",
    "constant",
)  # fmt: skip
INTEGER_RANGES = {"bigint": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}
TEXT_TYPES = ("text", "enum", "constant")
KEY_TYPES = (*INTEGER_RANGES, "text")
EXACT_TYPES = {"json": JsonText, "numeric": Numeric}  # decoded by `decode_exact`
DEFAULT_ENUM_LENGTH = 255  # enums are text columns: varchar(255), as the article's table has


class ContractError(PipelineError):
    """A declaration that cannot work; the message names the field."""


@dataclass(frozen=True)
class Field:
    """One field of a record, and the column it loads into.

    `type` is one of FIELD_TYPES. Text rules: `max_length` (the column's varchar width; no limit
    means a `text` column), `pattern` (a regex the whole value must match), `not_blank`. Integer
    rules: `minimum`. `values` lists an enum's allowed values. `unique` rejects a repeat of the
    value (case-insensitive) within one snapshot. A `constant` is not read from the record: every
    row gets `value` (as `inserted_from` records which tool loaded it). A `nullable` field may be
    null or absent.

    A `numeric` is an exact decimal (a price, an amount), stored as PostgreSQL `numeric` with
    the digits and scale the API sent. It takes a JSON number, or a string holding one in JSON's
    syntax (`"12.50"`: many APIs send amounts as strings to keep them exact), never NaN,
    infinity or padding. A `json` is an object or list kept whole, stored as `jsonb`.

    `path` reads the value from inside the record, through objects, one key per dotted part
    (`address.city`); without it, the value is the record's `name`. The key is a non-nullable
    integer, bigint or text at the record's top level.
    """

    name: str
    type: str
    description: str = ""
    key: bool = False
    nullable: bool = False
    max_length: int | None = None
    pattern: str | None = None
    not_blank: bool = False
    minimum: int | None = None
    values: tuple[str, ...] = ()
    unique: bool = False
    value: str | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))
        for problem in _declaration_problems(self):
            raise ContractError(f"field {self.name!r}: {problem}")

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys that lead from the record to the value, outermost first."""
        return tuple(self.path.split(".")) if self.path else (self.name,)

    @property
    def location(self) -> str:
        """Where the value is in the record, as the reasons name it: `address.city`, `id`."""
        return ".".join(self.keys)

    @property
    def width(self) -> int | None:
        if self.type == "enum" and not self.max_length:
            return DEFAULT_ENUM_LENGTH
        return self.max_length

    @property
    def sql_type(self) -> str:
        """The column type, as PostgreSQL's `format_type` spells it."""
        if self.type in TEXT_TYPES:
            return f"character varying({self.width})" if self.width else "text"
        return {"timestamp": "timestamp with time zone", "json": "jsonb"}.get(self.type, self.type)

    @property
    def text_regex(self) -> str:
        """The whole rule for a text value as one anchored regex, for msgspec: no NUL (which
        PostgreSQL text cannot store), something besides whitespace, the declared pattern."""
        regex = r"\A(?=[^\x00]*\Z)"
        if self.not_blank:
            regex += r"(?=\s*\S)"
        return regex + (f"(?:{self.pattern})\\Z" if self.pattern else "")

    def msgspec_type(self, checked: bool = True) -> Any:
        """The type msgspec decodes this field into; with `checked=False`, the bare type (for a
        day whose every record the fetch already validated)."""
        if self.type in INTEGER_RANGES:
            low, high = INTEGER_RANGES[self.type]
            low = max(low, self.minimum) if self.minimum is not None else low
            kind = Annotated[int, msgspec.Meta(ge=low, le=high)] if checked else int
        elif self.type == "text":
            meta = msgspec.Meta(max_length=self.width, pattern=self.text_regex)
            kind = Annotated[str, meta] if checked else str
        elif self.type == "enum":
            kind = Literal[self.values] if checked else str
        elif self.type == "timestamp":
            kind = Annotated[datetime, msgspec.Meta(tz=True)] if checked else datetime
        elif self.type == "numeric":
            kind = Numeric if checked else Decimal
        elif self.type == "json":
            kind = JsonText
        else:
            kind = {"boolean": bool, "date": date}[self.type]
        return kind | None if self.nullable else kind

    @cached_property
    def checked_type(self) -> Any:
        return self.msgspec_type()

    def accepts(self, value: object) -> bool:
        """Whether the field's msgspec type takes `value` (as a batch decode would)."""
        try:
            msgspec.convert(value, self.checked_type, dec_hook=decode_exact)
        except msgspec.ValidationError:
            return False
        return True

    def lookup(self, record: dict) -> object:
        """The value at the field's keys (None where an object on the way is null), or the
        reason, in words, that there is none."""
        value: object = record
        for depth, key in enumerate(self.keys):
            if value is None:
                return None
            if not isinstance(value, dict):
                outer = ".".join(self.keys[:depth])
                kind = exact_json.type_name(value)
                return Absent(f"{outer} is {kind}, not an object", missing=False)
            if key not in value:
                return Absent(f"{self.location} is missing", missing=True)
            value = value[key]
        return value

    def problem(self, record: dict) -> str | None:
        """Why this field of a record is refused, in words (None: it is valid)."""
        value = self.lookup(record)
        if isinstance(value, Absent):
            return None if self.nullable and value.missing else value.reason
        if value is None:
            return None if self.nullable else f"{self.location} is null"
        return None if self.accepts(value) else _reason(self, value)


@dataclass(frozen=True)
class Absent:
    """No value at a field's keys, and why (see `Field.lookup`)."""

    reason: str
    missing: bool  # a key on the way is absent (rather than not an object)


def _declaration_problems(self: Field) -> list[str]:
    """What makes this declaration unusable, checked once when it is made."""
    problems = []
    if not COLUMN_NAME.fullmatch(self.name):
        problems.append("a name is letters, digits and underscores")
    elif self.name in RESERVED_NAMES:
        problems.append(f"{self.name} is a column the pipeline adds")
    if self.type not in FIELD_TYPES:
        return [*problems, f"unknown type {self.type!r}: use one of {', '.join(FIELD_TYPES)}"]
    if self.max_length is not None and self.type not in TEXT_TYPES:
        problems.append(f"max_length applies to text, not {self.type}")
    if self.max_length is not None and self.max_length < 1:
        problems.append("max_length must be at least 1")
    if (self.pattern is not None or self.not_blank) and self.type != "text":
        problems.append(f"pattern and not_blank apply to text, not {self.type}")
    if self.minimum is not None and self.type not in INTEGER_RANGES:
        problems.append(f"minimum applies to integer and bigint, not {self.type}")
    if (self.type == "enum") != bool(self.values):
        problems.append("an enum lists its values, and only an enum has values")
    if (self.type == "constant") != (self.value is not None):
        problems.append("a constant has a value, and only a constant has one")
    if self.unique and self.type != "text":
        problems.append(f"unique applies to text, not {self.type}")
    if self.key and (self.type not in KEY_TYPES or self.nullable or self.path is not None):
        problems.append("the key is a non-nullable integer, bigint or text, with no path")
    if self.path is not None and not all(self.path.split(".")):
        problems.append(f"path {self.path!r} names a key between each pair of dots")
    if self.path is not None and self.type == "constant":
        problems.append("a constant is not read from the record: it has no path")
    if self.pattern is not None:
        try:
            re.compile(self.pattern)
        except re.error as error:
            problems.append(f"pattern {self.pattern!r} is not a regular expression: {error}")
    return problems


def _integer_rule(self: Field) -> str:
    low, high = INTEGER_RANGES[self.type]
    bits = "64-bit" if self.type == "bigint" else "32-bit"
    if self.minimum is None or self.minimum <= low:
        return f"a {bits} integer"
    if self.minimum in (0, 1):
        return f"a {'positive' if self.minimum else 'non-negative'} {bits} integer"
    return f"an integer from {self.minimum} to {high}"


def _shown(value: object) -> str:
    """A value as the reasons show it: a number as JSON wrote it, anything else as Python's."""
    return str(value) if isinstance(value, Decimal) else repr(value)


def _reason(self: Field, value: object) -> str:
    where = self.location
    if self.type in EXACT_TYPES:
        try:
            decode_exact(EXACT_TYPES[self.type], value)
        except (TypeError, ValueError) as refused:
            return f"{where} {refused}"
    if self.type in INTEGER_RANGES:
        return f"{where} {_shown(value)} is not {_integer_rule(self)}"
    if self.type == "boolean":
        return f"{where} {_shown(value)} is not true or false"
    if not isinstance(value, str):
        return f"{where} is {exact_json.type_name(value)}, not a string"
    if self.type == "enum":
        return f"{where} {value!r} is not one of {sorted(self.values)}"
    if self.type == "date":
        return f"{where} {value!r} is not a date (YYYY-MM-DD)"
    if self.type == "timestamp":
        return f"{where} {value!r} is not an RFC 3339 timestamp with a time zone"
    if self.width and len(value) > self.width:
        return f"{where} is {len(value)} characters, over the column limit {self.width}"
    if "\x00" in value:
        return f"{where} contains a NUL character, which PostgreSQL text cannot store"
    if self.not_blank and not re.search(r"\S", value):
        return f"{where} is empty"
    return f"{where} {value!r} does not match {self.pattern}"
