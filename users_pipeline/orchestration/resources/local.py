"""The resources of this machine: today's date, and the data dir where a day's files land."""

from datetime import date
from pathlib import Path
from typing import Literal

from dagster import ConfigurableResource
from pydantic import Field

from users_pipeline.settings import DATA_DIR_SETTING, DEFAULT_DATA_DIR, HANDOVER_SETTING, data_dir
from users_pipeline.snapshot.days import utc_today
from users_pipeline.storage.layout import DayFiles, SourceLayout


class ClockResource(ConfigurableResource):
    """Today's date in UTC: the only day whose snapshot the API can give. It has no setting, so
    no run can pretend to be another day; in-process tests bind a subclass with a fixed day."""

    def today(self) -> date:
        return utc_today()


class DataDirResource(ConfigurableResource):
    """The local working directory where each day's fetched snapshot lands before archiving."""

    # Unset, read where the run executes: the launchpad shows no path of the machine that
    # loaded the definitions.
    path: str | None = Field(
        default=None, description=f"Unset: {DATA_DIR_SETTING}, else {DEFAULT_DATA_DIR}"
    )
    handover: Literal["local", "archive"] = Field(
        default="local",
        description=f"{HANDOVER_SETTING}: `local` when a run's steps share this disk;"
        " `archive` when they may run on different machines (the day goes through the archive)",
    )

    def day_files(self, day: date, source: str) -> DayFiles:
        """`<data dir>/raw/<source>/dt=YYYY-MM-DD/`: the day file, its rejects and manifest."""
        return SourceLayout(source).day_files(self.directory, day)

    @property
    def directory(self) -> Path:
        return Path(self.path) if self.path else data_dir()
