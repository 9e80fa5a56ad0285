"""How strict a source is, as its YAML sets it, and what a run may override in the launchpad."""

from __future__ import annotations

from dataclasses import dataclass

from dagster import Config
from pydantic import Field

from users_pipeline.settings import DEFAULT_MAX_CRAWLS, DEFAULT_MAX_REJECT_SHARE


@dataclass(frozen=True)
class Thresholds:
    """How strict a source's snapshots are, as its defs.yaml sets them."""

    max_crawls: int = DEFAULT_MAX_CRAWLS
    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE
    soft_deletes: bool | None = None  # unset: where the pagination style proves the whole list


class FetchConfig(Config):
    """A fetch's own thresholds, set in the launchpad or with `--config-json`; unset, the
    source's (defs.yaml)."""

    max_crawls: int | None = Field(default=None, description="Crawls to try while the list drifts")
    max_reject_share: float | None = Field(
        default=None, description="Largest share of invalid records a day may have and still load"
    )

    def thresholds(self, source: Thresholds) -> Thresholds:
        return Thresholds(
            source.max_crawls if self.max_crawls is None else self.max_crawls,
            source.max_reject_share if self.max_reject_share is None else self.max_reject_share,
            source.soft_deletes,
        )


class LoadConfig(Config):
    reload: bool = Field(
        default=False,
        description="Load the day even if it was already loaded from the same archived object",
    )
