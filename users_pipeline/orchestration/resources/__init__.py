"""Dagster resources, one per outside system, wiring the plain modules to configuration.

Each resource checks its settings when a run starts (`setup_for_execution`), so a bad setting
fails the run with one line naming it before anything is fetched or written.
"""

from users_pipeline.orchestration.resources.api import ApiResource, AuthConfig
from users_pipeline.orchestration.resources.archive import ArchiveResource
from users_pipeline.orchestration.resources.local import ClockResource, DataDirResource
from users_pipeline.orchestration.resources.postgres import PostgresResource
from users_pipeline.orchestration.resources.source import SourceResource

__all__ = [
    "ApiResource",
    "AuthConfig",
    "ArchiveResource",
    "ClockResource",
    "DataDirResource",
    "PostgresResource",
    "SourceResource",
]
