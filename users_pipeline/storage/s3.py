"""The archive in an S3 bucket (AWS, MinIO, anything S3-compatible), through a boto3 client from
dagster-aws's `S3Resource`. No Dagster imports."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError

from users_pipeline.settings import SettingNames
from users_pipeline.storage.archive import (
    ArchivedObject,
    ArchiveError,
    MissingObjectError,
    check_source,
    verified,
)
from users_pipeline.storage.files import CHUNK_BYTES, FileDigest


class S3Archive:
    """A bucket reached through a boto3 S3 client. Uploads are multipart above 8 MiB (boto3's
    transfer manager) and only become visible when complete, so a failed upload never leaves a
    partial day object."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        endpoint: str | None = None,
        names: SettingNames | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.endpoint = endpoint or "AWS S3"
        self.names = names or SettingNames()

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def check_writable(self, key: str) -> None:
        """Write and delete a probe, so a missing or read-only bucket fails before any fetch."""
        with self._errors(key, "writing"):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=b"")
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def put(self, path: Path, key: str, digest: FileDigest) -> ArchivedObject:
        check_source(path, digest)
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
        return verified(self.stat(key), digest)

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
                    f"{self.names('archive.bucket')}={self.bucket!r} does not exist at"
                    f" {self.endpoint}"
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
                f" (check {self.names('archive.endpoint_url')})"
            ) from None
