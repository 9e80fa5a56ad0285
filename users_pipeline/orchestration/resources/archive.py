"""The archive: an S3 bucket, or a local directory with the same keys."""

import threading
from pathlib import Path
from typing import Any

from dagster import InitResourceContext
from dagster_aws.s3 import S3Resource
from pydantic import Field

from users_pipeline.orchestration.failures import failure_on_pipeline_error
from users_pipeline.orchestration.resources.source import SourceResource
from users_pipeline.settings import LOCAL_ARCHIVE_FOLDER, data_dir
from users_pipeline.storage.archive import Archive, GzipArchive, LocalArchive
from users_pipeline.storage.layout import SourceLayout
from users_pipeline.storage.s3 import S3Archive

_S3_CLIENTS: dict[tuple, Any] = {}
_S3_CLIENTS_LOCK = threading.Lock()


def s3_client(s3: S3Resource) -> Any:
    """One boto3 client per S3 configuration and process. Building one loads botocore's service
    model, a third of a second each time the fetch, the upload or the load asks for the archive;
    boto3 clients are thread-safe, so steps and threads share it."""
    settings = tuple(sorted(s3.model_dump().items()))
    with _S3_CLIENTS_LOCK:
        if settings not in _S3_CLIENTS:
            _S3_CLIENTS[settings] = s3.get_client()
        return _S3_CLIENTS[settings]


class ArchiveResource(SourceResource):
    """The raw archive: the S3 bucket when `bucket` is set, else a local directory with the
    same key layout (the zero-configuration default)."""

    s3: S3Resource
    bucket: str | None = Field(default=None, description="The bucket; unset = local directory")
    prefix: str = Field(description="The key prefix of the source's objects")
    local_dir: str | None = Field(
        default=None,
        description=f"Directory used without a bucket; unset: <data dir>/{LOCAL_ARCHIVE_FOLDER}",
    )
    gzip: bool = Field(default=False, description="Store every object gzipped as `<key>.gz`")

    @failure_on_pipeline_error()
    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.get_archive().check_writable(SourceLayout(self.prefix, self.prefix).write_check_key)

    def get_archive(self) -> Archive:
        if self.bucket:
            endpoint = self.s3.endpoint_url
            archive = S3Archive(s3_client(self.s3), self.bucket, endpoint, self.setting_names)
        else:
            local_dir = (
                Path(self.local_dir) if self.local_dir else data_dir() / LOCAL_ARCHIVE_FOLDER
            )
            archive = LocalArchive(local_dir)
        return GzipArchive(archive) if self.gzip else archive

    def layout(self, source: str) -> SourceLayout:
        """The keys of `source`'s days under this archive's prefix."""
        return SourceLayout(source, self.prefix)
