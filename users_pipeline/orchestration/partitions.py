"""The daily partitions every source shares: one per day, from the first day through today."""

from __future__ import annotations

import os
from datetime import date

from dagster import AssetExecutionContext, DailyPartitionsDefinition

from users_pipeline.settings import FIRST_DAY_SETTING
from users_pipeline.snapshot.days import first_day, utc_today

# Through today (end_offset=1), so today's snapshot can be taken now.
daily_partitions = DailyPartitionsDefinition(
    start_date=first_day(os.environ.get(FIRST_DAY_SETTING), utc_today()).isoformat(),
    end_offset=1,
)


def partition_days(context: AssetExecutionContext) -> list[date]:
    """The run's days: one for a daily run, every day of a range for a single-run backfill."""
    return [date.fromisoformat(key) for key in context.partition_keys]
