"""Files as every step writes and checks them: whole or not at all, with their size and sha256.

A file is written to `<name>.partial` and renamed over its name only once complete, so a reader
(or a run after a kill -9) sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class FileDigest:
    """Size and sha256 of a file: what the archive and the manifest compare."""

    bytes: int
    sha256: str


def file_digest(path: Path) -> FileDigest:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return FileDigest(bytes=size, sha256=digest.hexdigest())


def partial_path(path: Path) -> Path:
    """Where `path` is written before it is complete."""
    return path.with_name(path.name + ".partial")


@contextmanager
def replaced_when_done(path: Path) -> Iterator[BinaryIO]:
    """A file to write that becomes `path`, synced to disk, when the block ends without an
    error; on an error it is deleted and `path` is left as it was."""
    partial = partial_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(partial, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


@contextmanager
def continued_until_done(path: Path, keep_bytes: int) -> Iterator[BinaryIO]:
    """Like `replaced_when_done`, but continuing the first `keep_bytes` an interrupted writer
    left in `<name>.partial` (0: none kept), and leaving the partial file on an error, for the
    next writer to continue, unless it is empty."""
    partial = partial_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(partial, "r+b" if keep_bytes else "wb") as file:
        file.truncate(keep_bytes)
        file.seek(keep_bytes)
        try:
            yield file
        except BaseException:
            if not file.tell():
                partial.unlink()
            raise
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)


def write_whole(path: Path, data: bytes) -> None:
    """`data` as the content of `path`, all of it or none."""
    with replaced_when_done(path) as file:
        file.write(data)
