"""The day's records as a JSON Lines file: one record per line and nothing else on the line.

That is what line-oriented lake readers need (Athena's JSON SerDe, Spark's `json` reader,
BigQuery's newline-delimited JSON, DuckDB's `read_ndjson`), and it lets the pipeline write pages
as they arrive and read records back a batch at a time, so no step holds the day in memory.
Records are written as the API served them, unknown fields included, every number with the
digits it was sent with (see `exact_json`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from itertools import chain
from pathlib import Path
from typing import BinaryIO, NamedTuple

from users_pipeline import compat, exact_json
from users_pipeline.errors import PipelineError
from users_pipeline.storage.files import FileDigest, continued_until_done, replaced_when_done

# Records are handed on in arrays of about this size. A load formats one while the server parses
# the previous one from the socket's buffer; with megabyte arrays each side mostly waits for the
# other (measured: a million-row load took 1.6 s at 32-64 KiB, 2.6 s at 1 MiB).
BATCH_BYTES = 64 * 1024


class JsonLinesWriter:
    """Writes records a page at a time, counting and hashing what it writes; the file appears
    only once complete (see `storage.files`), so a failed fetch never leaves a file that looks
    like a complete day.

    With `keep_bytes`, the writer continues what an interrupted one left (see
    `continued_until_done`): `kept` counts and hashes those lines, and each page is flushed to
    the operating system as it is written, so a kill -9 loses none of it."""

    def __init__(self, path: Path, *, keep_bytes: int | None = None) -> None:
        self.path = path
        self.records = 0
        self._keep_bytes = keep_bytes
        self._hash = hashlib.sha256()
        self._bytes = 0
        self._done = ExitStack()
        self._file: BinaryIO | None = None

    def __enter__(self) -> JsonLinesWriter:
        if self._keep_bytes is None:
            self._file = self._done.enter_context(replaced_when_done(self.path))
        else:
            self._file = self._done.enter_context(continued_until_done(self.path, self._keep_bytes))
        return self

    def write(self, records: Sequence[dict]) -> None:
        """Append one page, a line per record."""
        assert self._file is not None
        data = exact_json.dumps_lines(records)
        self._file.write(data)
        if self._keep_bytes is not None:
            self._file.flush()
        self._count(data, len(records))

    def kept(self, data: bytes, records: int) -> None:
        """Count lines an interrupted writer left, in order, as if written here."""
        self._count(data, records)

    def _count(self, data: bytes, records: int) -> None:
        self._hash.update(data)
        self._bytes += len(data)
        self.records += records

    def __exit__(self, *exc_info: object) -> None:
        self._done.__exit__(*exc_info)

    @property
    def digest(self) -> FileDigest:
        return FileDigest(bytes=self._bytes, sha256=self._hash.hexdigest())


class RecordsFormatError(PipelineError):
    """A batch of the archived object is not JSON."""


class JsonBatch(NamedTuple):
    """Records as one JSON array, and each record's line of the file, in order (None for a day
    in the former JSON-array format, whose lines are not records)."""

    array: bytes
    lines: list[bytes] | None


def iter_json_batches(chunks: Iterable[bytes]) -> Iterator[JsonBatch]:
    """The records of a JSON Lines file as batches of about BATCH_BYTES (hundreds of records),
    each an array ready to be parsed and validated in one call.

    Lines are joined with commas inside brackets. A day archived in the former JSON-array format
    reads too (see `compat`). Reads to the end, so wrappers such as a
    checksum see every byte: that checksum, not the format, is what catches a truncated object.
    """
    blocks = _line_blocks(chunks)
    first = next(blocks, b"")
    header, _, rest = first.partition(b"\n")
    if compat.is_json_array_file(header):
        for array in compat.json_array_batches(chain([rest], blocks)):
            yield JsonBatch(array, None)
        return
    for block in chain([first], blocks):
        if body := block.strip():
            lines = body.split(b"\n")
            yield JsonBatch(b"[" + b",".join(lines) + b"]", lines)


def iter_json_arrays(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The records of a JSON Lines file as JSON arrays (see `iter_json_batches`)."""
    return (batch.array for batch in iter_json_batches(chunks))


def parse_array(data: bytes) -> list:
    try:
        body = exact_json.loads(data)
    except exact_json.DecodeError as error:
        raise RecordsFormatError(f"records are not valid JSON: {error}") from None
    if not isinstance(body, list):
        raise RecordsFormatError(f"records are a JSON {type(body).__name__}, not an array")
    return body


def _line_blocks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Whole lines, about BATCH_BYTES at a time (the last may lack its newline). Cutting at a
    newline is safe: a JSON encoder never writes a raw newline inside a value."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        start = 0
        while len(pending) - start > BATCH_BYTES:
            cut = pending.find(b"\n", start + BATCH_BYTES - 1)
            if cut < 0:
                break
            yield pending[start : cut + 1]
            start = cut + 1
        pending = pending[start:]
    if pending:
        yield pending
