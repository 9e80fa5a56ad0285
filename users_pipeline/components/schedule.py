"""A source's daily schedule: each tick snapshots the API for the tick's own day."""

from __future__ import annotations

from datetime import timezone

import dagster as dg

from users_pipeline.orchestration.resources import ClockResource
from users_pipeline.snapshot.days import stale_tick_reason

# A day with a run in one of these states is not fetched again by a later tick.
_TAKEN = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.SUCCESS,
]


def cron_in_words(cron: str) -> str:
    """`m h * * *` as "daily at HH:MM UTC"; any other cron as itself."""
    fields = cron.split()
    if len(fields) == 5 and fields[2:] == ["*", "*", "*"]:
        minute, hour = fields[0], fields[1]
        if minute.isdigit() and hour.isdigit() and int(minute) < 60 and int(hour) < 24:
            return f"daily at {int(hour):02d}:{int(minute):02d} UTC"
    return f"on the cron schedule `{cron}` (UTC)"


def daily_schedule(source: str, job: dg.UnresolvedAssetJobDefinition, cron: str):
    """At `cron` (UTC), the source's job for the tick's own day."""
    name = f"{source}_daily_schedule"

    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Snapshots the {source} API {cron_in_words(cron)}, for the tick's own day.",
    )
    def _schedule(
        context: dg.ScheduleEvaluationContext, clock: ClockResource
    ) -> dg.RunRequest | dg.SkipReason:
        """The tick's own date is the day to snapshot. A tick evaluated after its day ended
        (late, or caught up after an outage) is skipped: that day can no longer be fetched. A
        day that already has a queued, running or successful scheduled run is skipped, so a
        frequent cron does not fetch the API again."""
        tick_day = context.scheduled_execution_time.astimezone(timezone.utc).date()
        stale = stale_tick_reason(tick_day, clock.today())
        if stale:
            return dg.SkipReason(stale)
        day = tick_day.isoformat()
        earlier = context.instance.get_runs(
            dg.RunsFilter(
                tags={"dagster/schedule_name": name, "dagster/partition": day},
                statuses=_TAKEN,
            ),
            limit=1,
        )
        if earlier:
            return dg.SkipReason(f"{day} already has run {earlier[0].run_id}")
        return dg.RunRequest(run_key=f"{source}-{day}", partition_key=day)

    return _schedule
