"""The day's snapshot file: a JSON array of the API's records, one record per line.

One record per line keeps the file valid JSON (any tool can read it whole) while letting the
pipeline write pages as they arrive and read records back one at a time, so no step holds the
day in memory. Records are written as the API served them, unknown fields included.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson

from users_pipeline.errors import PipelineError

CHUNK_BYTES = 1024 * 1024
# Records are handed on in arrays of about this size. A load formats one while the server parses
# the previous one from the socket's buffer; with megabyte arrays each side mostly waits for the
# other (measured: a million-row load took 1.6 s at 32-64 KiB, 2.6 s at 1 MiB).
BATCH_BYTES = 64 * 1024


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
        self._write(b"[")
        return self

    def write(self, records: Sequence[dict]) -> None:
        """Append one page: a separator and one line per record."""
        if not records:
            return
        separator = b",\n" if self.records else b"\n"
        self._write(separator + b",\n".join(map(orjson.dumps, records)))
        self.records += len(records)

    def __exit__(self, exc_type: object, *rest: object) -> None:
        assert self._file is not None
        try:
            if exc_type is None:
                self._write(b"\n]\n")
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
    """The archived object is not a JSON array of objects."""


def iter_snapshot_arrays(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The records of a snapshot file as JSON arrays of bytes of about BATCH_BYTES (hundreds of
    records), ready to be parsed and validated in one call each.

    A chunk is cut at its last newline: one record per line is what makes this safe, since a JSON
    encoder never writes a raw newline inside a value. Any other JSON array (say, uploaded by hand
    on one line) comes out whole, which costs memory but still loads. Reads to the end, so
    wrappers such as a checksum see every byte.
    """
    iterator = iter(chunks)
    pending = b"".join(_until_first_newline(iterator))
    header, _, pending = pending.partition(b"\n")
    if header.strip() != b"[":
        yield header + b"\n" + pending + b"".join(iterator)
        return
    closed = False
    for chunk in iterator:
        pending += chunk
        cut = pending.rfind(b"\n")
        if cut < 0:
            continue
        complete, pending = pending[: cut + 1], pending[cut + 1 :]
        for lines in _batches_of_lines(complete):
            array, closed = _array_of_lines(lines, closed)
            if array:
                yield array
    array, closed = _array_of_lines(pending, closed)
    if array:
        yield array
    if not closed:
        raise SnapshotFormatError("snapshot ends before its closing ']' (truncated upload?)")


def parse_array(data: bytes) -> list:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise SnapshotFormatError(f"snapshot is not valid JSON: {error}") from None
    if not isinstance(body, list):
        raise SnapshotFormatError(f"snapshot is a JSON {type(body).__name__}, not an array")
    return body


def _until_first_newline(iterator: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in iterator:
        yield chunk
        if b"\n" in chunk:
            return


def _batches_of_lines(lines: bytes) -> Iterator[bytes]:
    """Complete lines, cut at newlines into pieces of about BATCH_BYTES."""
    start = 0
    while len(lines) - start > 2 * BATCH_BYTES:
        cut = lines.find(b"\n", start + BATCH_BYTES - 1)
        yield lines[start : cut + 1]
        start = cut + 1
    yield lines[start:]


def _array_of_lines(lines: bytes, closed: bool) -> tuple[bytes, bool]:
    """`[...]` around complete `{...},` lines; notice the closing `]`, refuse data after it."""
    body = lines.strip()
    if closed:
        if body:
            raise SnapshotFormatError("snapshot has data after its closing ']'")
        return b"", True
    if body.endswith(b"]") and (body == b"]" or body[-2:-1] in (b"\n", b"\r")):
        body, closed = body[:-1].rstrip(), True
    body = body.rstrip(b",")
    return (b"[" + body + b"]" if body else b""), closed
