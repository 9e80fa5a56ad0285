"""The archive: objects under keys that `layout.SourceLayout` builds.

Two stores with one key layout: an S3 bucket (`s3.S3Archive`: AWS, MinIO, anything
S3-compatible) or, with no bucket configured, a local directory; either may store its objects
gzipped. No Dagster imports. Objects carry their sha256 so a load can prove it read what was
archived.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from users_pipeline.errors import PipelineError
from users_pipeline.storage.files import CHUNK_BYTES, FileDigest, file_digest, replaced_when_done


class ArchiveError(PipelineError):
    """The archive cannot be read or written; the message names the setting or object."""


class MissingObjectError(ArchiveError):
    """The key holds no object (as opposed to an archive that cannot be read)."""


@dataclass(frozen=True)
class ArchivedObject:
    uri: str
    bytes: int
    sha256: str


class Archive(Protocol):
    def uri(self, key: str) -> str: ...

    def check_writable(self, key: str) -> None: ...

    def put(self, path: Path, key: str, digest: FileDigest) -> ArchivedObject: ...

    def read_bytes(self, key: str) -> bytes: ...

    def stat(self, key: str) -> ArchivedObject: ...

    def read_chunks(self, key: str) -> AbstractContextManager[Iterator[bytes]]: ...

    def delete(self, key: str) -> None: ...


def verified_chunks(chunks: Iterator[bytes], sha256: str, uri: str) -> Iterator[bytes]:
    """Yield the object's bytes, then fail if they did not hash to the manifest's sha256.

    The check runs after the last line and before the caller commits anything, so a corrupted or
    swapped object is never loaded.
    """
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != sha256:
        raise ArchiveError(
            f"{uri} has sha256 {digest.hexdigest()}, but the manifest recorded {sha256}"
        )


def check_source(path: Path, digest: FileDigest) -> None:
    """The file to archive must still be the one its manifest describes."""
    actual = file_digest(path)
    if actual != digest:
        raise ArchiveError(
            f"{path} changed since its manifest ({actual.bytes} bytes, expected {digest.bytes}):"
            " fetch the day again"
        )


def verified(stored: ArchivedObject, digest: FileDigest) -> ArchivedObject:
    """Write then verify: the stored object must be the file that was meant to be archived."""
    if (stored.bytes, stored.sha256) != (digest.bytes, digest.sha256):
        raise ArchiveError(
            f"{stored.uri} holds {stored.bytes} bytes with sha256 {stored.sha256[:12]}... after"
            f" the upload, expected {digest.bytes} bytes with sha256 {digest.sha256[:12]}..."
        )
    return stored


class LocalArchive:
    """A directory standing in for a bucket: same keys, atomic writes by rename."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key

    def uri(self, key: str) -> str:
        return self._path(key).resolve().as_uri()

    def check_writable(self, key: str) -> None:
        probe = self._path(key)
        try:
            probe.parent.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise ArchiveError(f"cannot write to the local archive {self.root}: {error}") from None

    def read_bytes(self, key: str) -> bytes:
        with self.read_chunks(key) as chunks:
            return b"".join(chunks)

    def put(self, path: Path, key: str, digest: FileDigest) -> ArchivedObject:
        """Copy under a temporary name, then rename: readers see the old object or the new."""
        check_source(path, digest)
        with open(path, "rb") as source, replaced_when_done(self._path(key)) as target:
            shutil.copyfileobj(source, target, CHUNK_BYTES)
        return verified(self.stat(key), digest)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def stat(self, key: str) -> ArchivedObject:
        path = self._path(key)
        if not path.is_file():
            raise MissingObjectError(f"{path} does not exist in the local archive")
        digest = file_digest(path)
        return ArchivedObject(uri=self.uri(key), bytes=digest.bytes, sha256=digest.sha256)

    @contextmanager
    def read_chunks(self, key: str) -> Iterator[Iterator[bytes]]:
        path = self._path(key)
        if not path.is_file():
            raise MissingObjectError(f"{path} does not exist in the local archive")
        with open(path, "rb") as file:
            yield iter(lambda: file.read(CHUNK_BYTES), b"")


class GzipArchive:
    """Any archive, with every object stored gzip-compressed under its key plus `.gz`.

    JSON of users shrinks about 7x at level 1 for about half a second per million records. The
    manifest's sha256 stays that of the uncompressed day file, which is what a load verifies.
    """

    def __init__(self, inner: Archive, level: int = 1) -> None:
        self.inner = inner
        self.level = level

    def uri(self, key: str) -> str:
        return self.inner.uri(key + ".gz")

    def check_writable(self, key: str) -> None:
        self.inner.check_writable(key)

    def put(self, path: Path, key: str, digest: FileDigest) -> ArchivedObject:
        check_source(path, digest)
        compressed = path.with_name(path.name + ".gz.partial")
        try:
            with open(path, "rb") as source, gzip.open(compressed, "wb", self.level) as target:
                shutil.copyfileobj(source, target, CHUNK_BYTES)
            return self.inner.put(compressed, key + ".gz", file_digest(compressed))
        finally:
            compressed.unlink(missing_ok=True)

    def stat(self, key: str) -> ArchivedObject:
        return self.inner.stat(key + ".gz")

    def read_bytes(self, key: str) -> bytes:
        return gzip.decompress(self.inner.read_bytes(key + ".gz"))

    def delete(self, key: str) -> None:
        self.inner.delete(key + ".gz")

    @contextmanager
    def read_chunks(self, key: str) -> Iterator[Iterator[bytes]]:
        with self.inner.read_chunks(key + ".gz") as chunks:
            yield _gunzipped(chunks)


def _gunzipped(chunks: Iterator[bytes]) -> Iterator[bytes]:
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    for chunk in chunks:
        if data := decompressor.decompress(chunk):
            yield data
    if tail := decompressor.flush():
        yield tail
    if not decompressor.eof:
        raise ArchiveError("gzip object ends early (truncated upload?)")
