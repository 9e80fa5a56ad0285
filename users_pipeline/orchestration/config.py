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
            return Thresholds(self.max_crawls, self.max_reject_share, source.soft_deletes)

    return FetchConfig


class LoadConfig(Config):
    reload: bool = Field(
        default=False,
        description="Load the day even if it was already loaded from the same archived object",
    )
