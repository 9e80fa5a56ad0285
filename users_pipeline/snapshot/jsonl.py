"""The day's snapshot file: JSON Lines, one record per line and nothing else on the line.

That is what line-oriented lake readers need (Athena's JSON SerDe, Spark's `json` reader,
BigQuery's newline-delimited JSON, DuckDB's `read_ndjson`), and it lets the pipeline write pages
as they arrive and read records back a batch at a time, so no step holds the day in memory.
Records are written as the API served them, unknown fields included.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import BinaryIO

import orjson

from users_pipeline.errors import PipelineError

CHUNK_BYTES = 1024 * 1024
# Records are handed on in arrays of about this size. A load formats one while the server parses
# the previous one from the socket's buffer; with megabyte arrays each side mostly waits for the
# other (measured: a million-row load took 1.6 s at 32-64 KiB, 2.6 s at 1 MiB).
BATCH_BYTES = 64 * 1024
_LINE = orjson.OPT_APPEND_NEWLINE


@dataclass(frozen=True)
class FileDigest:
    """Size and sha256 of a file: what the archive and the manifest compare."""

    bytes: int
    sha256: str


class SnapshotWriter:
    """Writes records to `<path>.partial` and renames on success, so a failed fetch never
    leaves a file that looks like a complete day."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = 0
        self._partial = path.with_name(path.name + ".partial")
        self._hash = hashlib.sha256()
        self._bytes = 0
        self._file: BinaryIO | None = None

    def __enter__(self) -> SnapshotWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self._partial, "wb")  # noqa: SIM115 - closed in __exit__
        return self

    def write(self, records: Sequence[dict]) -> None:
        """Append one page, a line per record."""
        self._write(b"".join([orjson.dumps(record, option=_LINE) for record in records]))
        self.records += len(records)

    def __exit__(self, exc_type: object, *rest: object) -> None:
        assert self._file is not None
        try:
            if exc_type is None:
                self._file.flush()
                os.fsync(self._file.fileno())
        finally:
            self._file.close()
        if exc_type is None:
            os.replace(self._partial, self.path)
        else:
            self._partial.unlink(missing_ok=True)

    @property
    def digest(self) -> FileDigest:
        return FileDigest(bytes=self._bytes, sha256=self._hash.hexdigest())

    def _write(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self._hash.update(data)
        self._bytes += len(data)


def file_digest(path: Path) -> FileDigest:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return FileDigest(bytes=size, sha256=digest.hexdigest())


class SnapshotFormatError(PipelineError):
    """A batch of the archived object is not JSON."""


def iter_snapshot_arrays(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The records of a snapshot file as JSON arrays of bytes of about BATCH_BYTES (hundreds of
    records), ready to be parsed and validated in one call each.

    Lines are joined with commas inside brackets. A day archived as a JSON array (first line `[`,
    then `{...},` lines, last line `]`) reads too. Reads to the end, so wrappers such as a
    checksum see every byte: that checksum, not the format, is what catches a truncated object.
    """
    blocks = _line_blocks(chunks)
    first = next(blocks, b"")
    header, _, rest = first.partition(b"\n")
    if header.strip() == b"[":
        yield from _legacy_arrays(chain([rest], blocks))
        return
    for block in chain([first], blocks):
        if body := block.strip():
            yield b"[" + body.replace(b"\n", b",") + b"]"


def parse_array(data: bytes) -> list:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise SnapshotFormatError(f"snapshot is not valid JSON: {error}") from None
    if not isinstance(body, list):
        raise SnapshotFormatError(f"snapshot is a JSON {type(body).__name__}, not an array")
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


def _legacy_arrays(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """The rest of a JSON array after its `[` line: `{...},` lines, then `]` alone on the last."""
    for block in blocks:
        body = block.strip()
        if body == b"]" or body.endswith(b"\n]"):
            body = body[:-1].rstrip()
        if body := body.rstrip(b","):
            yield b"[" + body + b"]"
