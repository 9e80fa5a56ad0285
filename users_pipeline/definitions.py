"""Definitions: the assets, the daily job and schedule, and resources for this environment.

Every setting comes from an environment variable (or `.env`, which the Dagster CLI loads). Unset
optional settings fall back to the embedded defaults: a local archive directory and an embedded
PostgreSQL under the data dir, so a fresh machine runs the whole graph with nothing configured.
"""

import os
from datetime import timezone
from pathlib import Path

from dagster import (
    AssetSelection,
    DagsterRunStatus,
    DefaultScheduleStatus,
    Definitions,
    EnvVar,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    in_process_executor,
    schedule,
)
from dagster_aws.s3 import S3Resource

from users_pipeline.assets import GROUP, pg_users_table, raw_users_json, s3_users_object
from users_pipeline.days import stale_tick_reason
from users_pipeline.resources import (
    ArchiveResource,
    ClockResource,
    DataDirResource,
    PostgresResource,
    UsersApiResource,
)
from users_pipeline.users_api import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_PAGE_BYTES,
    DEFAULT_USERS_API_URL,
    MAX_PAGE_SIZE,
)


def _env(*names: str, default: object = None) -> object:
    """`EnvVar` of the first of `names` that is set (resolved at run time, masked in the UI),
    else the default. Later names are the article's spellings, so its `.env` works unchanged."""
    for name in names:
        if os.environ.get(name):
            return EnvVar(name)
    return default


def _env_int(name: str, default: int | None = None) -> object:
    return EnvVar.int(name) if os.environ.get(name) else default


def build_resources() -> dict[str, object]:
    data_dir = Path(os.environ.get("USERS_PIPELINE_DATA_DIR") or ".data")
    return {
        "clock": ClockResource(),
        "users_api": UsersApiResource(
            url=_env("USERS_API_URL", "API_USERS", default=DEFAULT_USERS_API_URL),
            token=_env("USERS_API_TOKEN"),
            page_size=_env_int("USERS_API_PAGE_SIZE", MAX_PAGE_SIZE),
            max_attempts=_env_int("USERS_API_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS),
            concurrency=_env_int("USERS_API_CONCURRENCY"),
            max_page_bytes=_env_int("USERS_API_MAX_PAGE_BYTES", DEFAULT_MAX_PAGE_BYTES),
        ),
        "data_dir": DataDirResource(path=str(data_dir)),
        "archive": ArchiveResource(
            s3=S3Resource(
                endpoint_url=_env("S3_ENDPOINT_URL"),
                region_name=_env("AWS_REGION"),
                aws_access_key_id=_env("AWS_ACCESS_KEY_ID", "AWS_KEY"),
                aws_secret_access_key=_env("AWS_SECRET_ACCESS_KEY", "AWS_SECRET"),
                aws_session_token=_env("AWS_SESSION_TOKEN"),
            ),
            bucket=_env("S3_BUCKET"),
            prefix=_env("S3_PREFIX", default="users"),
            local_dir=str(data_dir / "archive"),
            gzip=os.environ.get("ARCHIVE_GZIP", "").lower() in ("1", "true", "yes"),
        ),
        "postgres": PostgresResource(
            database_url=_env("DATABASE_URL"),
            host=_env("PG_HOST"),
            port=_env_int("PG_PORT"),
            user=_env("PG_USER"),
            password=_env("PG_PASS"),
            dbname=_env("PG_DB"),
            users_table=_env("USERS_TABLE", default="users"),
            embedded_dir=str(data_dir / "postgres"),
        ),
    }


# The graph is a straight line, so steps cannot run in parallel: running them in one process
# saves a Python start and Dagster import per step (see the README's measurements).
users_daily_job = define_asset_job(
    "users_daily",
    selection=AssetSelection.groups(GROUP),
    executor_def=in_process_executor,
    description="Fetch, archive and load one day's users snapshot.",
)


SCHEDULE_NAME = "users_daily_schedule"


@schedule(
    name=SCHEDULE_NAME,
    job=users_daily_job,
    # USERS_SCHEDULE_CRON moves the tick (the daemon test fires it every minute).
    cron_schedule=os.environ.get("USERS_SCHEDULE_CRON") or "15 0 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every day at 00:15 UTC, snapshot the users API for that day.",
)
def users_daily_schedule(
    context: ScheduleEvaluationContext, clock: ClockResource
) -> RunRequest | SkipReason:
    """The tick's own date is the day to snapshot. A tick evaluated after its day ended (late,
    or caught up after an outage) is skipped: that day can no longer be fetched. A day that
    already has a queued, running or successful scheduled run is skipped, so a frequent cron
    does not fetch the API again."""
    tick_day = context.scheduled_execution_time.astimezone(timezone.utc).date()
    stale = stale_tick_reason(tick_day, clock.today())
    if stale:
        return SkipReason(stale)
    day = tick_day.isoformat()
    earlier = context.instance.get_runs(
        RunsFilter(
            tags={"dagster/schedule_name": SCHEDULE_NAME, "dagster/partition": day},
            statuses=[
                DagsterRunStatus.QUEUED,
                DagsterRunStatus.NOT_STARTED,
                DagsterRunStatus.STARTING,
                DagsterRunStatus.STARTED,
                DagsterRunStatus.SUCCESS,
            ],
        ),
        limit=1,
    )
    if earlier:
        return SkipReason(f"{day} already has run {earlier[0].run_id}")
    return RunRequest(run_key=f"users-{day}", partition_key=day)


defs = Definitions(
    assets=[raw_users_json, s3_users_object, pg_users_table],
    jobs=[users_daily_job],
    schedules=[users_daily_schedule],
    resources=build_resources(),
    executor=in_process_executor,
)
