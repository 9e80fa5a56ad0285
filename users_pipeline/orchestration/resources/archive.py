"""The archive: an S3 bucket, or a local directory with the same keys."""

from pathlib import Path

from dagster import ConfigurableResource, InitResourceContext
from dagster_aws.s3 import S3Resource
from pydantic import Field

from users_pipeline.orchestration.failures import failure_on_pipeline_error
from users_pipeline.storage.archive import Archive, GzipArchive, LocalArchive, S3Archive
from users_pipeline.storage.layout import DEFAULT_SOURCE, SourceLayout


class ArchiveResource(ConfigurableResource):
    """The raw archive: the S3 bucket when `bucket` is set, else a local directory with the
    same key layout (the zero-configuration default)."""

    setting_names: dict[str, str] = Field(
        default={}, description="What each setting is called in messages (its variable)"
    )
    s3: S3Resource
    bucket: str | None = Field(default=None, description="S3_BUCKET; unset = local directory")
    prefix: str = Field(default=DEFAULT_SOURCE, description="S3_PREFIX: key prefix for day objects")
    local_dir: str = Field(default=".data/archive", description="Directory used without a bucket")
    gzip: bool = Field(default=False, description="ARCHIVE_GZIP: store objects as `<key>.gz`")

    @failure_on_pipeline_error()
    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.get_archive().check_writable(self.layout().write_check_key)

    def get_archive(self) -> Archive:
        if self.bucket:
            archive = S3Archive(self.s3.get_client(), self.bucket, self.s3.endpoint_url)
        else:
            archive = LocalArchive(Path(self.local_dir))
        return GzipArchive(archive) if self.gzip else archive

    def layout(self, source: str = DEFAULT_SOURCE) -> SourceLayout:
        """The keys of `source`'s days under this archive's prefix."""
        return SourceLayout(source, self.prefix)


