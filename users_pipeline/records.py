"""What a valid user record is, and why one is rejected.

The rules follow the API's contract (GoRest v2) and the `users` table's column limits, so a record
that passes always loads: nothing fails half-way through a COPY.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

import orjson

from users_pipeline.keyset import KeySet

USER_FIELDS = ("id", "name", "email", "gender", "status")
USER_FIELD_COUNT = len(USER_FIELDS)
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


class SnapshotValidator:
    """Checks a day's records batch by batch, remembering ids and e-mails (in `KeySet`s, so
    memory stays flat) to reject a repeat of either. The first occurrence wins; a later record
    repeating an id or e-mail seen in any earlier record of the day is rejected."""

    def __init__(self) -> None:
        self._ids = KeySet()
        self._emails = KeySet()
        self.unknown_fields: set[str] = set()

    def split(self, records: list, first_number: int = 1) -> tuple[list[UserRow], list[Reject]]:
        """The rows to load from one batch, and its rejects numbered from `first_number`."""
        candidates: list[tuple[int, UserRow, dict]] = []
        rejects: list[Reject] = []
        for number, record in enumerate(records, start=first_number):
            row = _valid_row(record)
            if row is None:
                rejects.append(Reject(number, _problem(record), record))
                continue
            candidates.append((number, row, record))
            if len(record) > USER_FIELD_COUNT:
                self.unknown_fields.update(name for name in record if name not in USER_FIELDS)
        repeated_ids = self._ids.seen_before([row.id for _, row, _ in candidates])
        # hash() of the case-folded e-mail: 64 bits, collision odds ~1e-8 at a million users.
        repeated_emails = self._emails.seen_before(
            [hash(row.email.casefold()) for _, row, _ in candidates]
        )
        rows = []
        for (number, row, record), repeated_id, repeated_email in zip(
            candidates, repeated_ids, repeated_emails, strict=True
        ):
            if repeated_id:
                rejects.append(Reject(number, f"duplicate id {row.id} in this snapshot", record))
            elif repeated_email:
                reason = f"duplicate email {row.email!r} in this snapshot"
                rejects.append(Reject(number, reason, record))
            else:
                rows.append(row)
        rejects.sort(key=lambda reject: reject.record_number)
        return rows, rejects


def _valid_row(record: object) -> UserRow | None:
    """The fast path: one conjunction of every field rule, no message built."""
    try:
        user_id = record["id"]  # type: ignore[index]
        name = record["name"]  # type: ignore[index]
        email = record["email"]  # type: ignore[index]
        gender = record["gender"]  # type: ignore[index]
        status = record["status"]  # type: ignore[index]
    except (KeyError, TypeError, IndexError):
        return None
    if (
        type(record) is dict
        and type(user_id) is int
        and 0 < user_id <= MAX_ID
        and type(name) is str
        and type(email) is str
        and type(gender) is str
        and type(status) is str
        and gender in GENDERS
        and status in STATUSES
        and len(name) <= MAX_TEXT_LENGTH
        and len(email) <= MAX_TEXT_LENGTH
        and "\x00" not in name
        and "\x00" not in email
        and name.strip()
        and EMAIL_PATTERN.fullmatch(email)
    ):
        return UserRow(user_id, name, email, gender, status)
    return None


def _problem(record: object) -> str:
    """Why `_valid_row` refused a record, in words: the slow path, run only for rejects."""
    if not isinstance(record, dict):
        return f"record is a JSON {type(record).__name__}, not an object"
    return _field_problem(record) or "record failed validation"


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


def split_batches(batches: Iterable[list], rejects: list[Reject]) -> Iterator[list[UserRow]]:
    """Validate a day's record batches in order: yield the rows, collect the rejects."""
    validator = SnapshotValidator()
    number = 1
    for batch in batches:
        rows, rejected = validator.split(batch, first_number=number)
        number += len(batch)
        rejects.extend(rejected)
        yield rows
