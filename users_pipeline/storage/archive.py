"""The raw archive: objects under keys that `layout.SourceLayout` builds.

Two stores with one key layout: an S3 bucket (AWS, MinIO, anything S3-compatible, through a boto3
client from dagster-aws's `S3Resource`) or, with no bucket configured, a local directory. No
Dagster imports. Objects carry their sha256 so a load can prove it read what was archived.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError

from users_pipeline.errors import PipelineError
from users_pipeline.snapshot.jsonl import CHUNK_BYTES, FileDigest, file_digest


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


def _check_source(path: Path, digest: FileDigest) -> None:
    """The file to archive must still be the one its manifest describes."""
    actual = file_digest(path)
    if actual != digest:
        raise ArchiveError(
            f"{path} changed since its manifest ({actual.bytes} bytes, expected {digest.bytes}):"
            " materialize raw_users_json again"
        )


def _verified(stored: ArchivedObject, digest: FileDigest) -> ArchivedObject:
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
        return str(self._path(key).resolve())

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
        _check_source(path, digest)
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(path, partial)
        os.replace(partial, target)
        return _verified(self.stat(key), digest)

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


class S3Archive:
    """A bucket reached through a boto3 S3 client. Uploads are multipart above 8 MiB (boto3's
    transfer manager) and only become visible when complete, so a failed upload never leaves a
    partial day object."""

    def __init__(self, client: Any, bucket: str, endpoint: str | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.endpoint = endpoint or "AWS S3"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def check_writable(self, key: str) -> None:
        """Write and delete a probe, so a missing or read-only bucket fails before any fetch."""
        with self._errors(key, "writing"):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=b"")
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def put(self, path: Path, key: str, digest: FileDigest) -> ArchivedObject:
        _check_source(path, digest)
        with self._errors(key, "writing"):
            self.client.upload_file(
                str(path),
                self.bucket,
                key,
                ExtraArgs={
                    "ContentType": "application/json",
                    "Metadata": {"sha256": digest.sha256},
                },
            )
        return _verified(self.stat(key), digest)

    def stat(self, key: str) -> ArchivedObject:
        with self._errors(key, "reading"):
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        return ArchivedObject(
            uri=self.uri(key),
            bytes=head["ContentLength"],
            sha256=head["Metadata"].get("sha256", ""),
        )

    def read_bytes(self, key: str) -> bytes:
        with self._errors(key, "reading"):
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def delete(self, key: str) -> None:
        with self._errors(key, "deleting"):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    @contextmanager
    def read_chunks(self, key: str) -> Iterator[Iterator[bytes]]:
        with self._errors(key, "reading"):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield body.iter_chunks(chunk_size=CHUNK_BYTES)
        finally:
            body.close()

    @contextmanager
    def _errors(self, key: str, action: str) -> Iterator[None]:
        """Turn botocore's errors into one line naming the bucket, key or endpoint."""
        try:
            yield
        except (ClientError, S3UploadFailedError) as raised:
            # upload_file wraps the ClientError it got in S3UploadFailedError
            error = raised if isinstance(raised, ClientError) else raised.__context__
            if not isinstance(error, ClientError):
                raise ArchiveError(f"S3 error {action} {self.uri(key)}: {raised}") from None
            code = error.response.get("Error", {}).get("Code", "")
            if code == "NoSuchBucket":
                raise ArchiveError(
                    f"S3_BUCKET={self.bucket!r} does not exist at {self.endpoint}"
                ) from None
            if code in ("NoSuchKey", "404", "NotFound"):
                raise MissingObjectError(f"{self.uri(key)} does not exist") from None
            if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise ArchiveError(
                    f"access denied {action} {self.uri(key)} ({code}); check the AWS credentials"
                ) from None
            raise ArchiveError(f"S3 error {action} {self.uri(key)}: {code or error}") from None
        except BotoCoreError as error:
            raise ArchiveError(
                f"S3 endpoint {self.endpoint} failed {action} {self.uri(key)}: {error}"
                " (check S3_ENDPOINT_URL)"
            ) from None


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
        _check_source(path, digest)
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
