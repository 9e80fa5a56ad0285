"""Which records of a day are valid, by a `RecordContract`, and why one is rejected.

Every batch is decoded and checked in one msgspec call, in C. A batch holding an invalid record is
checked again record by record, to keep the valid ones and say why the others were refused. The
rules match the table's column types, so a record that passes always loads: nothing fails
half-way through a COPY.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import compress, count
from operator import itemgetter

import msgspec

from users_pipeline import exact_json
from users_pipeline.contract.exact_values import decode_exact
from users_pipeline.contract.keyset import KeySet
from users_pipeline.contract.record import RecordContract, Row
from users_pipeline.snapshot.jsonl import JsonBatch, parse_array


class RecordValidator:
    """Checks a day's records batch by batch, remembering keys and unique values (in `KeySet`s,
    so memory stays flat) to reject a repeat of either. The first occurrence wins; a later record
    repeating a key or unique value seen in any earlier record of the day is rejected."""

    def __init__(self, contract: RecordContract) -> None:
        self.contract = contract
        struct = contract.struct()
        self._decode_batch = _batch_decoder(struct).decode
        self._struct = struct
        self._keys = KeySet()
        self._uniques = {index: KeySet() for index in contract.unique_indexes}
        self.unknown_fields: set[str] = set()

    def split(self, records: list, first_number: int = 1) -> tuple[list[Row], list[Reject]]:
        """The rows to load from one batch of parsed records (a page), and its rejects numbered
        from `first_number`. Fields the contract does not declare are noted in `unknown_fields`."""
        names = self.contract.field_names
        for record in records:
            if isinstance(record, dict) and not names.issuperset(record):
                self.unknown_fields.update(name for name in record if name not in names)
        return self._split(exact_json.dumps(records), records, first_number)

    def split_json(self, array: bytes, first_number: int = 1) -> tuple[list[Row], list[Reject]]:
        """Like `split`, for a batch given as a JSON array."""
        return self._split(array, None, first_number)

    def _split(
        self, array: bytes, records: list | None, first_number: int
    ) -> tuple[list[Row], list[Reject]]:
        try:
            decoded = self._decode_batch(array)
        except msgspec.DecodeError:
            records = parse_array(array) if records is None else records
            return self._split_each(records, first_number)
        rows = map(self.contract.as_row, decoded)
        if records is not None:
            candidates = list(zip(count(first_number), rows, records))
            return self._without_repeats(candidates, [])
        candidates = [(number, row, None) for number, row in enumerate(rows, start=first_number)]
        return self._without_repeats(candidates, [], lambda: parse_array(array))

    def _split_each(self, records: list, first_number: int) -> tuple[list[Row], list[Reject]]:
        """The slow path, for a batch with an invalid record: each record on its own."""
        candidates: list[tuple[int, Row, object]] = []
        rejects: list[Reject] = []
        for number, record in enumerate(records, start=first_number):
            try:
                decoded = msgspec.convert(record, self._struct, dec_hook=decode_exact)
                row = self.contract.as_row(decoded)
            except msgspec.ValidationError:
                rejects.append(Reject(number, self.contract.problem(record), record))
                continue
            candidates.append((number, row, record))
        return self._without_repeats(candidates, rejects)

    def _without_repeats(
        self,
        candidates: list[tuple[int, Row, object]],
        rejects: list[Reject],
        records: Callable[[], list] | None = None,
    ) -> tuple[list[Row], list[Reject]]:
        """The candidates without the repeats of a key or unique value, which join the rejects.
        Without `records`, each candidate holds its record; with it, `records()` gives every
        candidate's, in order (parsing a batch again only when a repeat needs its record)."""
        key_index = self.contract.key_index
        repeats = [self._keys.seen_before([row[key_index] for _, row, _ in candidates])]
        # hash() of the case-folded value: 64 bits, collision odds ~1e-8 at a million users.
        repeats += [
            keys.seen_before([hash(row[index].casefold()) for _, row, _ in candidates])
            for index, keys in self._uniques.items()
        ]
        if not any(True in repeated for repeated in repeats):
            return [row for _, row, _ in candidates], rejects
        indexes = [key_index, *self._uniques]
        rows = []
        originals = records() if records is not None else [record for _, _, record in candidates]
        for position, ((number, row, _), record) in enumerate(
            zip(candidates, originals, strict=True)
        ):
            index = next((i for i, r in zip(indexes, repeats, strict=True) if r[position]), None)
            if index is None:
                rows.append(row)
                continue
            field = self.contract.source_fields[index]
            value = row[index]
            shown = value if field.key and not isinstance(value, str) else repr(value)
            reason = f"duplicate {field.location} {shown} in this snapshot"
            rejects.append(Reject(number, reason, record))
        rejects.sort(key=lambda reject: reject.record_number)
        return rows, rejects


@dataclass(frozen=True)
class Reject:
    """A record kept out of the table, with its number in the day's file and the reason."""

    record_number: int
    reason: str
    record: object

    def as_row(self, snapshot_date: date, key: str) -> tuple:
        """The row of the `_rejects` table: the record kept whole as JSON text."""
        key_value = self.record.get(key) if isinstance(self.record, dict) else None
        return (
            snapshot_date,
            self.record_number,
            None if key_value is None else str(key_value),
            self.reason,
            exact_json.dumps(self.record).decode(),
        )


class LinedRows(Sequence[Row]):
    """A batch's valid rows with the file lines of their records, in the same order, so that a
    row can be found unchanged by its line before it is decoded (see `warehouse.row_hashes`).
    Rows of a day the fetch found all valid are decoded when first read, and `subset` decodes
    only the lines it keeps."""

    def __init__(self, lines: list[bytes], decoders: _LineDecoders, rows: list[Row] | None = None):
        self.lines, self._decoders, self._rows = lines, decoders, rows

    def __len__(self) -> int:
        return len(self.lines)

    def __getitem__(self, index):  # type: ignore[override]
        return self.rows[index]

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    @property
    def rows(self) -> list[Row]:
        if self._rows is None:
            self._rows = self._decoders.rows(self.lines)
        return self._rows

    def keys(self) -> list[object]:
        if self._rows is not None:
            return list(map(self._decoders.key_of_row, self._rows))
        return self._decoders.keys(self.lines)

    def subset(self, kept: list[bool]) -> list[Row]:
        """The rows whose `kept` is true, decoding no other."""
        if self._rows is not None:
            return list(compress(self._rows, kept))
        return self._decoders.rows(list(compress(self.lines, kept)))


class _LineDecoders:
    """A contract's decoders of a batch of record lines: whole rows (types only), or keys."""

    def __init__(self, contract: RecordContract) -> None:
        key_struct, self._key = contract.key_struct
        self._decode_keys = _batch_decoder(key_struct).decode
        self._decode_rows = _batch_decoder(contract.struct(checked=False)).decode
        self._as_row = contract.as_row
        self.key_of_row = itemgetter(contract.key_index)

    def rows(self, lines: list[bytes]) -> list[Row]:
        return self.rows_of(_array(lines))

    def rows_of(self, array: bytes) -> list[Row]:
        return list(map(self._as_row, self._decode_rows(array)))

    def keys(self, lines: list[bytes]) -> list[object]:
        return list(map(self._key, self._decode_keys(_array(lines))))


def _array(lines: list[bytes]) -> bytes:
    return b"[" + b",".join(lines) + b"]"


def split_batches(
    batches: Iterable[JsonBatch],
    rejects: list[Reject],
    contract: RecordContract,
    checked: bool = False,
) -> Iterator[Sequence[Row]]:
    """Validate a day's batches (in order): yield the rows, collect the rejects. A batch read
    with its records' lines yields `LinedRows`.

    `checked`: the fetch validated these very bytes and found every record valid (its manifest
    says 0 rejected, and the caller verifies the sha256 before committing), so only the types
    are decoded, about four times faster, and only as far as the rows are read.
    """
    decoders = _LineDecoders(contract)
    validator = None if checked else RecordValidator(contract)
    number = 1
    for array, lines in batches:
        if validator is None:
            yield decoders.rows_of(array) if lines is None else LinedRows(lines, decoders)
            continue
        rows, rejected = validator.split_json(array, first_number=number)
        if lines is not None:
            refused = {reject.record_number - number for reject in rejected}
            valid = [line for index, line in enumerate(lines) if index not in refused]
            if len(valid) == len(rows):  # else (never seen) the rows are hashed as formatted
                rows = LinedRows(valid, decoders, rows)
        number += len(rows) + len(rejected)
        rejects.extend(rejected)
        yield rows


def _batch_decoder(struct: type[msgspec.Struct]) -> msgspec.json.Decoder:
    """Decodes a JSON array of records, each number exact (see `exact_json`)."""
    return msgspec.json.Decoder(list[struct], dec_hook=decode_exact, float_hook=Decimal)


# A field whose value an example must not show.
_SECRET_NAME = re.compile(r"pass(word)?|secret|token|api_?key|credential", re.IGNORECASE)
_EXAMPLE_CHARS = 160


def reason_kind(contract: RecordContract, reason: str, record: object) -> tuple[str, str]:
    """What kind of problem `reason` is, without the record's value ("email does not match
    ..."), so a day's rejects count by what was wrong rather than by each value; and the reason
    as an example to show, shortened, a secret-looking field's value masked.

    A reason names the field's location first (after "duplicate " for a repeat), then the value
    as shown (see `field._reason`)."""
    if isinstance(record, dict):
        for field in contract.source_fields:
            for lead in (f"{field.location} ", f"duplicate {field.location} "):
                if reason.startswith(lead):
                    rest = _without_value(reason[len(lead) :], field.lookup(record))
                    if rest is not None:
                        masked = _SECRET_NAME.search(field.name) is not None
                        return lead + rest, _shortened(lead + "*** " + rest if masked else reason)
    return reason, _shortened(reason)


def _without_value(text: str, value: object) -> str | None:
    """`text` (a reason after its field's location) without the value it begins with, or None
    when it does not show the value."""
    if isinstance(value, str) and text.startswith(f"is {len(value)} characters, "):
        return "is " + text.removeprefix(f"is {len(value)} characters, ")
    for shown in dict.fromkeys((repr(value), str(value))):
        if text.startswith(shown + " "):
            return text[len(shown) + 1 :]
    return None


def _shortened(text: str) -> str:
    return text if len(text) <= _EXAMPLE_CHARS else text[: _EXAMPLE_CHARS - 1] + "…"
