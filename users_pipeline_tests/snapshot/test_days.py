"""Which days can be fetched: only today, since the API has no history. Past days load from the
archive. Runs go through the real API server, S3 endpoint and PostgreSQL; "today" is injected."""

import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

import pytest
from dagster import AssetKey, DagsterInstance, build_schedule_context

from users_pipeline import defs
from users_pipeline.settings import DEFAULT_FIRST_DAY
from users_pipeline.snapshot.days import FirstDayError, first_day
from users_pipeline.storage.layout import SourceLayout
from users_pipeline_tests.conftest import DAY, FixedClock, pg_users_table, s3_users_object
from users_pipeline_tests.test_pipeline import expected_rows, run, table_rows

LATER = DAY + timedelta(days=1)
FAILURE = "dagster._core.definitions.events.Failure: "


def step_failure(result) -> str:
    (failure,) = (e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    return failure.event_specific_data.error.message.strip()


@pytest.mark.parametrize("today", [LATER, DAY - timedelta(days=1)], ids=["past", "future"])
def test_a_day_other_than_today_is_refused_before_any_request_or_write(
    resources, gorest, pg, users_table, tmp_path, today
):
    result = run(resources, day=DAY, today=today, raise_on_error=False)

    assert not result.success
    assert step_failure(result) == FAILURE + (
        f"cannot fetch the users of {DAY} on {today} (UTC): the API serves only the present"
        f" list, so a day's snapshot is taken on that day; to rebuild {DAY} from the archive,"
        " materialize pg_users_table for it (or for a range of days)"
    )
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


def test_a_past_day_in_the_archive_loads_on_any_later_day(resources, gorest, pg, users_table):
    run(resources, day=DAY)
    pg.execute(f"DROP TABLE {users_table}, {users_table}_loads, {users_table}_rejects")
    requests = len(gorest.requests)

    result = run(resources, assets=[pg_users_table], day=DAY, today=DAY + timedelta(days=30))

    assert result.success
    assert len(gorest.requests) == requests
    assert table_rows(pg, users_table) == expected_rows(gorest.users)


def test_archiving_a_day_never_fetched_says_where_past_days_come_from(resources, tmp_path):
    result = run(resources, assets=[s3_users_object], day=DAY, today=LATER, raise_on_error=False)

    manifest = SourceLayout("users").day_files(tmp_path / "data", DAY).manifest
    assert step_failure(result) == FAILURE + (
        f"no snapshot of {DAY} was taken here ({manifest} does not exist): raw_users_json takes"
        " a day's snapshot on that day only; a day already archived loads with pg_users_table"
        " alone"
    )


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


def test_the_daily_schedule_targets_all_three_assets_for_the_day_of_its_tick():
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
    }
    assert schedule.default_status.value == "RUNNING"


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
