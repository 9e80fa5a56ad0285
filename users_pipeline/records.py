"""What a valid user record is, and why one is rejected.

The rules follow the API's contract (GoRest v2) and the `users` table's column limits, so a record
that passes always loads: nothing fails half-way through a COPY.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal, get_args

import msgspec
import orjson

from users_pipeline.keyset import KeySet
from users_pipeline.snapshot_file import parse_array

USER_FIELDS = ("id", "name", "email", "gender", "status")
USER_FIELD_COUNT = len(USER_FIELDS)
Gender = Literal["female", "male"]
Status = Literal["active", "inactive"]
GENDERS = frozenset(get_args(Gender))
STATUSES = frozenset(get_args(Status))
MAX_TEXT_LENGTH = 255  # varchar(255), the article's column type
MAX_ID = 2**63 - 1  # bigint
# Deliberately loose: one @, no spaces, a dot in the domain. Mail servers decide the rest.
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


# A validated user, in the table's column order: (id, name, email, gender, status). A plain
# tuple, since a million of them are built per load (a NamedTuple costs five times as much).
UserRow = tuple[int, str, str, str, str]
ID, EMAIL = 0, 2


def is_valid_id(value: object) -> bool:
    """The one rule for an id: a JSON integer (not a bool, float or string) that fits the
    table's positive bigint key. Validation rejects any other id, and the crawl audit follows
    only these: a repeated invalid id says nothing about whether the list shifted."""
    return type(value) is int and 0 < value <= MAX_ID


# The same rule as a msgspec type, checked in C while decoding (test_records checks that the two
# agree on every form of id).
UserId = Annotated[int, msgspec.Meta(gt=0, le=MAX_ID)]


class SnapshotValidator:
    """Checks a day's records batch by batch, remembering ids and e-mails (in `KeySet`s, so
    memory stays flat) to reject a repeat of either. The first occurrence wins; a later record
    repeating an id or e-mail seen in any earlier record of the day is rejected."""

    def __init__(self) -> None:
        self._ids = KeySet()
        self._emails = KeySet()
        self.unknown_fields: set[str] = set()

    def split(self, records: list, first_number: int = 1) -> tuple[list[UserRow], list[Reject]]:
        """The rows to load from one batch of parsed records, and its rejects numbered from
        `first_number`."""
        candidates: list[tuple[int, UserRow, object]] = []
        rejects: list[Reject] = []
        for number, record in enumerate(records, start=first_number):
            row = _valid_row(record)
            if row is None:
                rejects.append(Reject(number, _problem(record), record))
                continue
            candidates.append((number, row, record))
            if len(record) > USER_FIELD_COUNT:
                self.unknown_fields.update(name for name in record if name not in USER_FIELDS)
        return self._without_repeats(candidates, rejects)

    def split_json(self, array: bytes, first_number: int = 1) -> tuple[list[UserRow], list[Reject]]:
        """Like `split`, for a batch given as a JSON array. When every record is valid (the usual
        case) msgspec decodes and checks the whole batch in C; otherwise it is checked record by
        record to say why. (Fields the table does not have are not looked at here: the fetch
        reports them.)"""
        try:
            users = _decode_users(array)
        except msgspec.DecodeError:
            return self.split(parse_array(array), first_number)
        candidates = [
            (number, row, row) for number, row in enumerate(map(_as_row, users), start=first_number)
        ]
        return self._without_repeats(candidates, [])

    def _without_repeats(
        self, candidates: list[tuple[int, UserRow, object]], rejects: list[Reject]
    ) -> tuple[list[UserRow], list[Reject]]:
        repeated_ids = self._ids.seen_before([row[ID] for _, row, _ in candidates])
        # hash() of the case-folded e-mail: 64 bits, collision odds ~1e-8 at a million users.
        repeated_emails = self._emails.seen_before(
            [hash(row[EMAIL].casefold()) for _, row, _ in candidates]
        )
        if True not in repeated_ids and True not in repeated_emails:
            return [row for _, row, _ in candidates], rejects
        rows = []
        for (number, row, record), repeated_id, repeated_email in zip(
            candidates, repeated_ids, repeated_emails, strict=True
        ):
            if not (repeated_id or repeated_email):
                rows.append(row)
                continue
            reason = (
                f"duplicate id {row[ID]} in this snapshot"
                if repeated_id
                else f"duplicate email {row[EMAIL]!r} in this snapshot"
            )
            as_dict = (
                record if isinstance(record, dict) else dict(zip(USER_FIELDS, row, strict=True))
            )
            rejects.append(Reject(number, reason, as_dict))
        rejects.sort(key=lambda reject: reject.record_number)
        return rows, rejects


class _FastUser(msgspec.Struct, gc=False, array_like=False):
    """The rules of `_valid_row`, for msgspec to check while decoding. `test_records` checks
    that both accept exactly the same records."""

    id: UserId
    # No NUL anywhere, and something besides whitespace.
    name: Annotated[str, msgspec.Meta(max_length=MAX_TEXT_LENGTH, pattern=r"\A(?=[^\x00]*\Z)\s*\S")]
    email: Annotated[
        str,
        msgspec.Meta(
            max_length=MAX_TEXT_LENGTH, pattern=r"\A[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+\Z"
        ),
    ]
    gender: Gender
    status: Status


_decode_users = msgspec.json.Decoder(list[_FastUser]).decode
# A decoded user as a UserRow: twice as fast as msgspec.structs.astuple.
_as_row = operator.attrgetter(*USER_FIELDS)


class _TypedUser(msgspec.Struct, gc=False):
    """Only the types: for a day whose every record the fetch already checked."""

    id: int
    name: str
    email: str
    gender: str
    status: str


_decode_typed_users = msgspec.json.Decoder(list[_TypedUser]).decode


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
        and is_valid_id(user_id)
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
        return (user_id, name, email, gender, status)
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
    if not is_valid_id(user_id):
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


def split_batches(
    arrays: Iterable[bytes], rejects: list[Reject], checked: bool = False
) -> Iterator[list[UserRow]]:
    """Validate a day's batches (JSON arrays, in order): yield the rows, collect the rejects.

    `checked`: the fetch validated these very bytes and found every record valid (its manifest
    says 0 rejected, and the caller verifies the sha256 before committing), so only the types
    are decoded, about four times faster.
    """
    if checked:
        for array in arrays:
            yield list(map(_as_row, _decode_typed_users(array)))
        return
    validator = SnapshotValidator()
    number = 1
    for array in arrays:
        rows, rejected = validator.split_json(array, first_number=number)
        number += len(rows) + len(rejected)
        rejects.extend(rejected)
        yield rows
