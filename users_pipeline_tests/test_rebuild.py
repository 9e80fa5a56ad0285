"""The table can always be rebuilt from the archive: after its users table, its `_loads` log or
its `_rejects` quarantine is dropped or emptied, re-materializing `pg_users_table` for archived
days (no reload config) brings it back, and the bookkeeping never claims what the table no longer
holds. A range of days rebuilds in one run and one process, each day its own transaction,
materialization and check result. Three daily runs through the real API server, S3 endpoint
and PostgreSQL."""

import random
from datetime import timedelta

import pytest
from dagster import AssetKey, DagsterInstance, materialize

from users_pipeline.offline import generate_users
from users_pipeline_tests.conftest import DAY, FixedClock, deployment_settings, pg_users_table
from users_pipeline_tests.test_cli import dagster
from users_pipeline_tests.test_pipeline import RELOAD, metadata, run

DAYS = [DAY + timedelta(days=offset) for offset in range(3)]
INVALID = {"id": 0, "name": "", "email": "not-an-email", "gender": "x", "status": "y"}


def everything(pg, users_table: str) -> dict[str, list[tuple]]:
    """The three tables' contents, without `loaded_at`."""
    return {
        "users": pg.execute(f"SELECT * FROM {users_table} ORDER BY id").fetchall(),
        "loads": pg.execute(
            f"SELECT snapshot_date, crawl_complete, source_uri, sha256, rows_loaded,"
            f" rows_rejected FROM {users_table}_loads ORDER BY snapshot_date"
        ).fetchall(),
        "rejects": pg.execute(
            f"SELECT * FROM {users_table}_rejects ORDER BY snapshot_date, record_number"
        ).fetchall(),
    }


@pytest.fixture
def api_users() -> list[dict]:
    return generate_users(500)  # five pages: enough to rebuild, and quick


def loaded_at(pg, users_table: str, day):
    """When `day` was last loaded: a skipped re-run leaves it as it was."""
    query = f"SELECT loaded_at FROM {users_table}_loads WHERE snapshot_date = %s"
    return pg.execute(query, (day,)).fetchone()[0]


@pytest.fixture
def daily(resources, gorest, pg, users_table) -> dict[str, list[tuple]]:
    """Three days of runs: users leave, change and come; the first day has two invalid
    records. Returns the tables as the daily runs left them."""
    rng = random.Random(3)
    everyone = list(gorest.users)
    for number, day in enumerate(DAYS):
        gorest.users = [dict(user) for user in everyone if rng.random() < 0.9]
        for user in rng.sample(gorest.users, 20):
            user["status"] = "inactive" if user["status"] == "active" else "active"
        if number == 0:
            gorest.users[10:10] = [dict(INVALID), dict(INVALID, id=-5)]
        assert run(resources, day=day).success
    tables = everything(pg, users_table)
    assert any(row[-1] is not None for row in tables["users"])  # some users were soft-deleted
    assert {row[0] for row in tables["rejects"]} == {DAYS[0]}
    return tables


def replay(resources, days, run_config=None) -> list:
    """Re-materialize `pg_users_table` for `days`, on a later day: from the archive only."""
    today = DAYS[-1] + timedelta(days=1)
    results = [
        run(resources, assets=[pg_users_table], day=day, today=today, run_config=run_config)
        for day in days
    ]
    assert all(result.success for result in results)
    return [metadata(result, "pg_users_table") for result in results]


@pytest.mark.parametrize("empty", ["DROP TABLE {t}", "TRUNCATE {t}"], ids=["drop", "truncate"])
def test_a_dropped_or_emptied_table_is_rebuilt_from_the_archive(
    resources, gorest, pg, users_table, daily, empty
):
    pg.execute(empty.format(t=users_table))
    requests = len(gorest.requests)

    loaded = replay(resources, DAYS)

    assert len(gorest.requests) == requests
    assert everything(pg, users_table) == daily
    assert [m["rows_inserted"] > 0 for m in loaded] == [True, True, True]
    assert loaded[0]["history_notices"] == (
        f"{users_table} was empty while {users_table}_loads listed 2 days ({DAYS[1]} to"
        f" {DAYS[2]}): they will load in full again; to rebuild the table, materialize"
        " pg_users_table for those days (one run: --partition-range FIRST...LAST)"
    )
    assert [m["history_notices"] for m in loaded[1:]] == ["none", "none"]


def test_a_dropped_log_loads_the_day_in_full_and_says_what_to_run(
    resources, pg, users_table, daily
):
    pg.execute(f"DROP TABLE {users_table}_loads")

    (latest,) = replay(resources, DAYS[-1:])

    # Without the log, nothing says which snapshot was the latest: its users are written again.
    assert latest["rows_updated"] == latest["rows_in_snapshot"] > 0
    assert latest["history_notices"] == (
        f"{users_table}_loads was missing, so it now lists only {DAYS[-1]}, and the"
        f" {latest['rows_in_snapshot']} records {users_table} held as seen in the latest snapshot"
        " now count as last seen on 1970-01-01; to rebuild its history from the archived days,"
        " materialize pg_users_table for those days (one run: --partition-range FIRST...LAST)"
    )
    replay(resources, DAYS[:-1])
    assert everything(pg, users_table) == daily


def test_a_dropped_quarantine_loads_the_day_in_full_and_says_what_to_run(
    resources, pg, users_table, daily
):
    pg.execute(f"DROP TABLE {users_table}_rejects")
    before = loaded_at(pg, users_table, DAYS[-1])

    (latest,) = replay(resources, DAYS[-1:])

    assert loaded_at(pg, users_table, DAYS[-1]) > before  # loaded again, not skipped
    assert latest["history_notices"] == (
        f"{users_table}_rejects was missing, so it now holds only the rejects of {DAYS[-1]},"
        f" while {users_table}_loads lists rejects on 1 day ({DAYS[0]}); to restore them,"
        " materialize pg_users_table for those days with config reload: true (one run:"
        " --partition-range FIRST...LAST)"
    )
    replay(resources, DAYS[:1], run_config=RELOAD)
    assert everything(pg, users_table) == daily


@pytest.mark.parametrize(
    "dropped",
    [("", "_loads"), ("", "_rejects"), ("_loads", "_rejects"), ("", "_loads", "_rejects")],
    ids=["table+log", "table+quarantine", "log+quarantine", "all"],
)
def test_any_combination_dropped_is_rebuilt_by_replaying_every_day(
    resources, pg, users_table, daily, dropped
):
    pg.execute(f"DROP TABLE {', '.join(users_table + suffix for suffix in dropped)}")

    replay(resources, DAYS)

    assert everything(pg, users_table) == daily


def test_an_untouched_day_is_still_skipped(resources, pg, users_table, daily):
    before = loaded_at(pg, users_table, DAYS[-1])

    (again,) = replay(resources, DAYS[-1:])

    assert loaded_at(pg, users_table, DAYS[-1]) == before  # not loaded again
    assert again["history_notices"] == "none"
    assert everything(pg, users_table) == daily


LATER = DAYS[-1] + timedelta(days=1)  # the rebuild happens on a later day


def load_range(resources, first, last, instance=None):
    """`pg_users_table` over `first...last` as one run, as a UI backfill or `--partition-range`
    launches it (a single-run backfill policy: the run carries the range in its tags)."""
    return materialize(
        [pg_users_table],
        resources={**resources, "clock": FixedClock(day=LATER.isoformat())},
        instance=instance or DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )


def drop_all(pg, users_table: str) -> None:
    for suffix in ("", "_loads", "_rejects"):
        pg.execute(f"DROP TABLE {users_table}{suffix}")


def test_a_range_rebuilds_the_table_in_one_run_a_materialization_per_day(
    resources, gorest, pg, users_table, daily
):
    drop_all(pg, users_table)
    requests = len(gorest.requests)

    result = load_range(resources, DAYS[0], DAYS[-1])

    assert result.success
    assert len(gorest.requests) == requests  # from the archive only
    assert everything(pg, users_table) == daily
    days = [day.isoformat() for day in DAYS]
    loaded = result.asset_materializations_for_node("pg_users_table")
    assert [event.partition for event in loaded] == days
    assert [event.metadata["rows_inserted"].value > 0 for event in loaded] == [True] * 3
    checks = [
        (check.partition, check.passed)
        for check in result.get_asset_check_evaluations()
        if check.check_name == "rows_match_archive"
    ]
    assert checks == [(day, True) for day in days]


@pytest.mark.parametrize("order", [(2, 0, 1), (1, 2, 0), (2, 1, 0)])
def test_days_loaded_in_any_order_then_as_a_range_equal_the_daily_runs(
    resources, pg, users_table, daily, order
):
    drop_all(pg, users_table)
    for index in order:
        run(resources, assets=[pg_users_table], day=DAYS[index], today=LATER)
    assert everything(pg, users_table) == daily

    drop_all(pg, users_table)
    assert load_range(resources, DAYS[0], DAYS[-1]).success
    assert everything(pg, users_table) == daily


def test_days_missing_from_the_archive_are_named_and_never_marked(
    resources, pg, users_table, daily
):
    drop_all(pg, users_table)
    instance = DagsterInstance.ephemeral()

    result = load_range(resources, DAYS[0] - timedelta(days=2), DAYS[-1], instance)

    assert result.success
    assert everything(pg, users_table) == daily
    marked = instance.get_materialized_partitions(AssetKey("pg_users_table"))
    assert marked == {day.isoformat() for day in DAYS}
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    for missing in (DAYS[0] - timedelta(days=2), DAYS[0] - timedelta(days=1)):
        assert [m for m in messages if m.startswith(f"{missing} skipped: ")], missing


@pytest.mark.cli
def test_the_cli_loads_a_partition_range_and_refuses_to_fetch_one(
    tmp_path, resources, gorest, s3, bucket, postgres_url, users_table, pg, daily
):
    drop_all(pg, users_table)
    settings = deployment_settings(s3, bucket, postgres_url) | {
        "USERS_API_URL": gorest.url,
        "S3_PREFIX": "users",
        "USERS_TABLE": users_table,
        "USERS_PIPELINE_DATA_DIR": str(tmp_path / "data"),
    }
    days = f"{DAYS[0]}...{DAYS[-1]}"
    select = ("asset", "materialize", "-m", "users_pipeline", "--partition-range", days)

    fetch = dagster(tmp_path, *select, "--select", "*", **settings)
    assert fetch.returncode != 0
    assert f"cannot fetch the users of {DAYS[0]} on" in fetch.stdout + fetch.stderr
    loaded = dagster(tmp_path, *select, "--select", "pg_users_table", **settings)

    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert everything(pg, users_table) == daily
    output = loaded.stdout + loaded.stderr
    assert output.count("RUN_SUCCESS") == 1
    assert [day for day in DAYS if f"{day}: " in output] == DAYS  # each day's load summary
