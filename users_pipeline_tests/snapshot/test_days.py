"""Which days can be fetched: only today, since the API has no history. Past days load from the
archive. Runs go through the real API server, S3 endpoint and PostgreSQL; "today" is injected."""

import logging
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

import pytest
from dagster import AssetKey, DagsterInstance, build_schedule_context
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

from users_pipeline import defs
from users_pipeline.components.schedule import cron_in_words
from users_pipeline.orchestration.failures import REFUSED
from users_pipeline.orchestration.partitions import daily_partitions
from users_pipeline.orchestration.resources import DataDirResource
from users_pipeline.settings import DEFAULT_FIRST_DAY
from users_pipeline.snapshot.days import FirstDayError, first_day
from users_pipeline.storage.layout import SourceLayout
from users_pipeline_tests.conftest import (
    DAY,
    FixedClock,
    pg_users_table,
    raw_users_json,
    s3_users_object,
)
from users_pipeline_tests.test_pipeline import expected_rows, run, table_rows

LATER = DAY + timedelta(days=1)
FAILURE = "users_pipeline.orchestration.failures.PipelineFailure: "
NEVER_TAKEN = (
    f"no users snapshot was taken on {DAY}, and none can be now (the API serves only the"
    " present): nothing can load that day; today's run loads today"
)


def step_failure(result) -> str:
    (failure,) = (e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    return failure.event_specific_data.error.message.strip()


def next_step(result) -> str:
    (failure,) = (e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    return failure.event_specific_data.user_failure_data.metadata["next step"].value


def refused(result) -> bool:
    (failure,) = (e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    return REFUSED in failure.event_specific_data.user_failure_data.metadata


def log_before_failure(resources, today) -> tuple[int, str]:
    """The level and text of what the run logged just before its step failed."""
    with DagsterInstance.ephemeral() as instance:
        result = run(
            resources, [raw_users_json], today=today, raise_on_error=False, instance=instance
        )
        entries = instance.all_logs(result.run_id)
    (at,) = (
        i
        for i, entry in enumerate(entries)
        if entry.dagster_event and entry.dagster_event.event_type_value == "STEP_FAILURE"
    )
    return entries[at - 1].level, entries[at - 1].user_message


@pytest.mark.parametrize(
    ("today", "advice"),
    [
        (LATER, f"no snapshot of {DAY} was taken then, so nothing can load that day; today's run"
         " loads today"),
        (DAY - timedelta(days=1), f"{DAY}'s own run takes it on {DAY}"),
    ],
    ids=["past", "future"],
)  # fmt: skip
def test_a_day_other_than_today_is_refused_before_any_request_or_write(
    resources, gorest, pg, users_table, tmp_path, today, advice
):
    result = run(resources, day=DAY, today=today, raise_on_error=False)

    assert not result.success
    refusal = (
        f"cannot fetch the users of {DAY} on {today} (UTC): the API serves only the present"
        f" list, so a day's snapshot is taken on that day; {advice}"
    )
    assert step_failure(result) == FAILURE + refusal
    assert next_step(result) == advice
    assert refused(result)
    assert gorest.requests == []
    assert not (tmp_path / "data").exists()
    assert result.get_asset_materialization_events() == []
    assert (
        resources["archive"]
        .s3.get_client()
        .list_objects_v2(Bucket=resources["archive"].bucket)
        .get("Contents")
        is None
    )
    assert pg.execute("SELECT to_regclass(%s)", (users_table,)).fetchone() == (None,)


def test_a_refusal_is_logged_as_an_error_line_of_its_own_just_before_the_failure(resources):
    level, message = log_before_failure(resources, today=LATER)

    assert level == logging.ERROR
    assert message == (
        f"cannot fetch the users of {DAY} on {LATER} (UTC): the API serves only the present list,"
        f" so a day's snapshot is taken on that day; no snapshot of {DAY} was taken then, so"
        " nothing can load that day; today's run loads today"
    )


def test_a_refused_past_day_fails_that_day_only(resources):
    yesterday = DAY - timedelta(days=1)
    with DagsterInstance.ephemeral() as instance:
        assert run(resources, day=DAY, instance=instance).success
        assert not run(resources, day=yesterday, today=DAY, raise_on_error=False,
                       instance=instance).success  # fmt: skip

        # What the UI's partition bar shows, from Dagster's own status cache.
        statuses = {
            name: get_and_update_asset_status_cache_value(
                instance, AssetKey(name), daily_partitions
            )
            for name in ("raw_users_json", "s3_users_object", "pg_users_table", "pg_users_history")
        }
    for name, status in statuses.items():
        materialized = status.deserialize_materialized_partition_subsets(daily_partitions)
        failed = status.deserialize_failed_partition_subsets(daily_partitions)
        assert (set(materialized.get_partition_keys()), set(failed.get_partition_keys())) == (
            {DAY.isoformat()},
            {yesterday.isoformat()},
        ), name


def test_loading_today_before_it_is_archived_says_what_takes_it(resources):
    result = run(resources, assets=[pg_users_table], day=DAY, raise_on_error=False)

    manifest = f"s3://{resources['archive'].bucket}/{SourceLayout('users').keys(DAY).manifest}"
    advice = (
        f"materialize raw_users_json and s3_users_object for {DAY} first (today's run does all"
        " three)"
    )
    assert step_failure(result) == FAILURE + (
        f"no users snapshot of {DAY} is archived yet ({manifest} does not exist): {advice}"
    )
    assert next_step(result) == advice


def test_an_archived_past_day_is_refused_with_the_asset_that_rebuilds_it(resources, tmp_path):
    run(resources, day=DAY)
    elsewhere = {**resources, "data_dir": DataDirResource(path=str(tmp_path / "elsewhere"))}

    fetch = run(resources, day=DAY, today=LATER, raise_on_error=False)
    upload = run(elsewhere, assets=[s3_users_object], day=DAY, today=LATER, raise_on_error=False)

    assert next_step(fetch) == (
        f"to rebuild {DAY} from the archive, materialize pg_users_table for it (or for a range of"
        " days)"
    )
    manifest = SourceLayout("users").day_files(tmp_path / "elsewhere", DAY).manifest
    assert step_failure(upload) == FAILURE + (
        f"no snapshot of {DAY} was taken here ({manifest} does not exist): raw_users_json takes"
        " a day's snapshot on that day only; a day already archived loads with pg_users_table"
        " alone"
    )


def test_a_past_day_in_the_archive_loads_on_any_later_day(resources, gorest, pg, users_table):
    run(resources, day=DAY)
    pg.execute(f"DROP TABLE {users_table}, {users_table}_loads, {users_table}_rejects")
    requests = len(gorest.requests)

    result = run(resources, assets=[pg_users_table], day=DAY, today=DAY + timedelta(days=30))

    assert result.success
    assert len(gorest.requests) == requests
    assert table_rows(pg, users_table) == expected_rows(gorest.users)


@pytest.mark.parametrize(
    "asset", [s3_users_object, pg_users_table], ids=["s3_users_object", "pg_users_table"]
)
def test_a_past_day_never_fetched_is_named_as_such_by_every_asset(resources, asset):
    result = run(resources, assets=[asset], day=DAY, today=LATER, raise_on_error=False)

    assert step_failure(result) == FAILURE + NEVER_TAKEN
    assert next_step(result) == "nothing can load that day; today's run loads today"
    assert refused(result)  # the person who asked sees it: no alert is posted


def test_a_past_day_fetched_but_never_archived_says_to_archive_it_first(resources):
    run(resources, assets=[raw_users_json], day=DAY)

    fetch = run(resources, assets=[raw_users_json], day=DAY, today=LATER, raise_on_error=False)
    load = run(resources, assets=[pg_users_table], day=DAY, today=LATER, raise_on_error=False)
    upload_then_load = run(
        resources, assets=[s3_users_object, pg_users_table], day=DAY, today=LATER
    )

    archive_first = (
        f"materialize s3_users_object for {DAY} where it was fetched, then pg_users_table"
    )
    assert next_step(fetch) == f"its snapshot was taken but never archived: {archive_first}"
    manifest = f"s3://{resources['archive'].bucket}/{SourceLayout('users').keys(DAY).manifest}"
    assert step_failure(load) == FAILURE + (
        f"the users snapshot of {DAY} was taken but never archived ({manifest} does not exist):"
        f" {archive_first}"
    )
    assert upload_then_load.success


def evaluate_schedule(tick: datetime, today: date):
    schedule = defs.get_schedule_def("users_daily_schedule")
    with (
        DagsterInstance.local_temp() as instance,
        build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            repository_def=defs.get_repository_def(),
            resources={"clock": FixedClock(day=today.isoformat())},
        ) as context,
    ):
        return schedule.evaluate_tick(context)


def test_the_daily_schedule_targets_every_asset_for_the_day_of_its_tick():
    (request,) = evaluate_schedule(
        datetime(2026, 11, 24, 0, 15, tzinfo=timezone.utc), today=date(2026, 11, 24)
    ).run_requests

    assert request.partition_key == "2026-11-24"
    schedule = defs.get_schedule_def("users_daily_schedule")
    job = defs.resolve_job_def(schedule.job_name)
    assert job.asset_layer.executable_asset_keys == {
        AssetKey("raw_users_json"),
        AssetKey("s3_users_object"),
        AssetKey("pg_users_table"),
        AssetKey("pg_users_history"),
    }
    assert schedule.default_status.value == "RUNNING"
    assert schedule.description == (
        "Snapshots the users API daily at 00:15 UTC, for the tick's own day."
    )


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("15 0 * * *", "daily at 00:15 UTC"),
        ("5 13 * * *", "daily at 13:05 UTC"),
        ("*/30 * * * *", "on the cron schedule `*/30 * * * *` (UTC)"),
        ("0 6 * * 1-5", "on the cron schedule `0 6 * * 1-5` (UTC)"),
    ],
)
def test_a_schedule_says_when_it_runs_in_words(cron, words):
    assert cron_in_words(cron) == words


def test_a_tick_late_enough_to_fall_on_the_next_day_is_skipped():
    tick = datetime(2026, 11, 24, 23, 59, tzinfo=timezone.utc)

    on_time = evaluate_schedule(tick, today=date(2026, 11, 24))
    late = evaluate_schedule(tick, today=date(2026, 11, 25))

    assert [request.partition_key for request in on_time.run_requests] == ["2026-11-24"]
    assert late.run_requests == []
    assert late.skip_message == (
        "the tick for 2026-11-24 was evaluated on 2026-11-25 (UTC), after its day ended: the API"
        " serves only the present list, so 2026-11-24 has no snapshot to take"
    )


def test_first_day_defaults_and_refuses_a_future_or_malformed_day():
    today = date(2026, 11, 25)
    assert first_day(None, today) == DEFAULT_FIRST_DAY == date(2026, 1, 1)
    assert first_day("2026-11-25", today) == today
    with pytest.raises(FirstDayError, match=r"USERS_FIRST_DAY='2026-11-26' is in the future"):
        first_day("2026-11-26", today)
    with pytest.raises(FirstDayError, match=r"USERS_FIRST_DAY='yesterday' is not a date"):
        first_day("yesterday", today)


def partitions_of(first: str) -> subprocess.CompletedProcess:
    """The partition keys the definitions have when loaded with USERS_FIRST_DAY=first."""
    script = (
        "from users_pipeline.orchestration.partitions import daily_partitions as p;"
        "keys = p.get_partition_keys(); print(keys[0], keys[-1], len(keys))"
    )
    env = {**os.environ, "USERS_FIRST_DAY": first}
    return subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )


def test_partitions_start_on_the_first_day_setting():
    today = datetime.now(timezone.utc).date()
    first = today - timedelta(days=2)

    loaded = partitions_of(first.isoformat())

    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.split() == [first.isoformat(), today.isoformat(), "3"]


def test_a_first_day_in_the_future_fails_the_definitions_with_one_line():
    tomorrow = datetime.now(timezone.utc).date() + timedelta(days=1)

    loaded = partitions_of(tomorrow.isoformat())

    assert loaded.returncode != 0
    assert f"FirstDayError: USERS_FIRST_DAY='{tomorrow}' is in the future" in loaded.stderr
