"""How strict a source is, as its YAML sets it, and what a run may override in the launchpad."""

from __future__ import annotations

from dataclasses import dataclass, replace

from dagster import Config
from pydantic import Field

from users_pipeline.settings import (
    DEFAULT_MAX_COUNT_CHANGE,
    DEFAULT_MAX_CRAWLS,
    DEFAULT_MAX_DELETE_SHARE,
    DEFAULT_MAX_REJECT_SHARE,
)


@dataclass(frozen=True)
class Thresholds:
    """How strict a source's snapshots are, as its defs.yaml sets them."""

    max_crawls: int = DEFAULT_MAX_CRAWLS
    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE
    soft_deletes: bool | None = None  # unset: where the pagination style proves the whole list
    max_delete_share: float = DEFAULT_MAX_DELETE_SHARE
    max_count_change: float = DEFAULT_MAX_COUNT_CHANGE


def fetch_config(source: Thresholds) -> type[Config]:
    """The fetch's run config, with the source's thresholds (defs.yaml) as its defaults: the
    launchpad's scaffold shows them, and a run changes them there or with `--config-json`."""

    class FetchConfig(Config):
        max_crawls: int = Field(
            default=source.max_crawls, description="Crawls to try while the list drifts"
        )
        max_reject_share: float = Field(
            default=source.max_reject_share,
            description="Largest share of invalid records a day may have and still load",
        )

        def thresholds(self) -> Thresholds:
            return replace(
                source, max_crawls=self.max_crawls, max_reject_share=self.max_reject_share
            )

    return FetchConfig


def load_config(source: Thresholds) -> type[Config]:
    """The table's run config, with the source's `max_delete_share` as its default."""

    class LoadConfig(Config):
        reload: bool = Field(
            default=False,
            description="Load the day even if it was already loaded from the same archived object",
        )
        max_delete_share: float = Field(
            default=source.max_delete_share,
            description="Largest share of the current rows a new latest day may mark deleted;"
            " a run that lets a day through above the source's limit records it as accepted",
        )

    return LoadConfig
