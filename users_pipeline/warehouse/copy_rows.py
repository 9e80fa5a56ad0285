"""COPY of a day's rows, a batch at a time as CSV formatted in C. No Dagster imports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Protocol

import msgspec
import psycopg
from psycopg import sql

from users_pipeline.contract.exact_values import copy_text
from users_pipeline.contract.record import RecordContract, Row


class RowSelection(Protocol):
    def select(self, batch: Sequence[Row]) -> Sequence[Row]:
        """The rows of `batch` to copy."""
        ...


def copy_rows(
    cursor: psycopg.Cursor,
    into: sql.Composable,
    contract: RecordContract,
    row_batches: Iterable[Sequence[Row]],
    *,
    constants: bool,
    freeze: bool,
    selection: RowSelection | None = None,
) -> int:
    """COPY the rows into the table `into`, a batch at a time (`_csv_batch`): the day's rows.
    Batches are small (see `BATCH_BYTES`), so the server parses one on its core while this
    process decodes and formats the next. With `constants`, each row ends with the contract's
    constants (a staging table has no column for them). A `selection` sees every batch, and
    picks the rows copied (see `row_hashes`).

    `freeze`, for a table created in this transaction, writes the rows frozen: the first
    read after the load (the next day's) then has no hint bits to set, page by page."""
    names = [field.name for field in contract.source_fields]
    row_end = "\n"
    if constants:
        names += [field.name for field in contract.constants]
        ends = [field.value for field in contract.constants]
        row_end = "".join(f",{_csv_value(value)}" for value in ends) + "\n"
    statement = sql.SQL(
        "COPY {} ({}) FROM STDIN"
        " WITH (FORMAT csv, ESCAPE '\\', NULL 'null', ENCODING 'UTF8', FREEZE {})"
    ).format(into, sql.SQL(", ").join(map(sql.Identifier, names)), sql.Literal(freeze))
    rows = 0
    end = row_end.encode()
    with cursor.copy(statement) as copy:
        for batch in row_batches:
            rows += len(batch)
            if selection is not None:
                batch = selection.select(batch)
            if batch:
                batch = batch if isinstance(batch, list) else list(batch)
                copy.write(_csv_batch(batch, encode_json_lines(batch), end))
    return rows


# A decimal is written as a string ("12.50"), as is a `json` field's JSON text: quoted, as
# numeric and jsonb columns read them.
encode_json_lines = msgspec.json.Encoder(enc_hook=copy_text).encode_lines


def _csv_batch(batch: Sequence[Row], lines: bytes, row_end: bytes) -> bytes:
    r"""Rows (`lines`, as `encode_json_lines` wrote them) as CSV lines in the `ESCAPE '\'`,
    `NULL 'null'` dialect, each ending with `row_end`.

    msgspec writes each row as a JSON array on its own line, in C: `[1,"Zoë",true,null,...]`.
    Without its brackets that line is already a row of this dialect, provided its only escapes
    are `\\` and `\"`, which the dialect reads back as `\` and `"`: strings, dates and timestamps
    are quoted, numbers and booleans are not, and an unquoted `null` is NULL (a quoted "null" is
    text). (JSON never writes a raw newline inside a value, so `]\n[` is always a row boundary.)
    A batch with any other escape, such as a control character in a name, is formatted in
    Python instead, the characters raw inside quotes.
    """
    if b"\\" in lines and b"\\" in lines.replace(b"\\\\", b"").replace(b'\\"', b""):
        end = row_end.decode()
        return "".join(",".join(map(_csv_value, row)) + end for row in batch).encode()
    return lines.replace(b"]\n[", row_end)[1:-2] + row_end


def _csv_value(value: object) -> str:
    """One value as msgspec would write it in `_csv_batch`, with raw characters inside quotes."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, date | datetime):
        return f'"{value.isoformat()}"'
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
