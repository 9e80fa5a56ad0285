"""The table can always be rebuilt from the archive: after its users table, its `_loads` log or
its `_rejects` quarantine is dropped or emptied, re-materializing `pg_users_table` for archived
days (no reload config) brings it back, and the bookkeeping never claims what the table no longer
holds. Three daily runs through the real API server, S3 endpoint and PostgreSQL."""

import random
from datetime import timedelta

import pytest

from users_pipeline.gorest_server import generate_users
from users_pipeline_tests.conftest import DAY, pg_users_table
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
