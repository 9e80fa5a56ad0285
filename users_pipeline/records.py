"""What a valid user record is, and why one is rejected.

The rules follow the API's contract (GoRest v2) and the `users` table's column limits, so a record
that passes always loads: nothing fails half-way through a COPY.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

import orjson

USER_FIELDS = ("id", "name", "email", "gender", "status")
GENDERS = frozenset({"male", "female"})
STATUSES = frozenset({"active", "inactive"})
MAX_TEXT_LENGTH = 255  # varchar(255), the article's column type
MAX_ID = 2**63 - 1  # bigint
# Deliberately loose: one @, no spaces, a dot in the domain. Mail servers decide the rest.
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class UserRow(NamedTuple):
    """A validated user, in the table's column order."""

    id: int
    name: str
    email: str
    gender: str
    status: str


@dataclass
class SnapshotValidator:
    """Checks records one at a time, remembering ids and emails to catch duplicates in a day."""

    seen_ids: set[int] = field(default_factory=set)
    seen_emails: set[str] = field(default_factory=set)
    unknown_fields: set[str] = field(default_factory=set)

    def check(self, record: object) -> UserRow | str:
        """The row to load, or the reason the record is rejected."""
        if not isinstance(record, dict):
            return f"record is a JSON {type(record).__name__}, not an object"
        reason = _field_problem(record)
        if reason:
            return reason
        row = UserRow(*(record[name] for name in USER_FIELDS))
        if row.id in self.seen_ids:
            return f"duplicate id {row.id} in this snapshot"
        email_key = row.email.casefold()
        if email_key in self.seen_emails:
            return f"duplicate email {row.email!r} in this snapshot"
        self.seen_ids.add(row.id)
        self.seen_emails.add(email_key)
        if len(record) > len(USER_FIELDS):
            self.unknown_fields.update(name for name in record if name not in USER_FIELDS)
        return row


def _field_problem(record: dict) -> str | None:
    missing = [name for name in USER_FIELDS if name not in record]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    user_id = record["id"]
    if type(user_id) is not int or not 0 < user_id <= MAX_ID:
        return f"id {user_id!r} is not a positive 64-bit integer"
    for name in USER_FIELDS[1:]:
        value = record[name]
        if not isinstance(value, str):
            return f"{name} is {type(value).__name__}, not a string"
        if len(value) > MAX_TEXT_LENGTH:
            return f"{name} is {len(value)} characters, over the column limit {MAX_TEXT_LENGTH}"
        if "\x00" in value:
            return f"{name} contains a NUL character, which PostgreSQL text cannot store"
    if not record["name"].strip():
        return "name is empty"
    if not EMAIL_PATTERN.fullmatch(record["email"]):
        return f"email {record['email']!r} is not an email address"
    if record["gender"] not in GENDERS:
        return f"gender {record['gender']!r} is not one of {sorted(GENDERS)}"
    if record["status"] not in STATUSES:
        return f"status {record['status']!r} is not one of {sorted(STATUSES)}"
    return None


@dataclass(frozen=True)
class Reject:
    """A record kept out of the table, with its number in the day's file and the reason."""

    record_number: int
    reason: str
    record: object

    def as_row(self, snapshot_date: date) -> tuple:
        """The row of the `_rejects` table: the record kept whole as JSON text."""
        user_id = self.record.get("id") if isinstance(self.record, dict) else None
        return (
            snapshot_date,
            self.record_number,
            None if user_id is None else str(user_id),
            self.reason,
            orjson.dumps(self.record).decode(),
        )


def split_rows(
    records: Iterable[object],
    validator: SnapshotValidator,
    rejects: list[Reject],
    first_number: int = 1,
) -> Iterator[UserRow]:
    """Yield the rows to load; invalid records are appended to `rejects` instead."""
    for number, record in enumerate(records, start=first_number):
        checked = validator.check(record)
        if isinstance(checked, str):
            rejects.append(Reject(number, checked, record))
        else:
            yield checked
