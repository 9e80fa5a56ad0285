"""The history against one computed independently, from random multi-day histories loaded in any
order, twice, with incomplete days and records that return: the table's load and the history's
step on the real PostgreSQL, without Dagster."""

from __future__ import annotations

import hashlib
import random
from datetime import date, timedelta

import psycopg
import pytest

from users_pipeline.warehouse.history import HistoryDay, apply_day
from users_pipeline.warehouse.load import load_day
from users_pipeline.warehouse.provenance import DayProvenance
from users_pipeline.warehouse.table_name import TableName
from users_pipeline_tests.conftest import USERS_CONTRACT
from users_pipeline_tests.test_pipeline import materializations, run
from users_pipeline_tests.warehouse.test_load import ASSET, TABLE_SETTING

FIRST = date(2026, 3, 1)
Snapshot = tuple[dict[int, tuple], bool]  # the day's valid rows by id, and whether complete


def user(number: int, status: str, name: str = "") -> tuple:
    return (number, name or f"User {number}", f"u{number}@example.test", "female", status)


def random_days(rng: random.Random, count: int, users: int = 30) -> dict[date, Snapshot]:
    """Days of `users` ids, each present or not (gone, back), changing status or name now and
    then; one day in four an incomplete crawl."""
    days, values = {}, {n: user(n, "active") for n in range(1, users + 1)}
    for offset in range(count):
        for n in rng.sample(sorted(values), users // 5):
            values[n] = user(n, rng.choice(["active", "inactive"]), rng.choice(["", "Zoë"]))
        present = {n: v for n, v in values.items() if rng.random() < 0.8}
        days[FIRST + timedelta(days=offset)] = (present, rng.random() >= 0.25)
    return days


def expected_history(days: dict[date, Snapshot]) -> set[tuple]:
    """Versions as the rules define them, walking the days in date order."""
    versions, open_ = set(), {}  # id -> (values, valid_from)
    for day in sorted(days):
        rows, complete = days[day]
        for number in set(open_) | set(rows):
            current, seen = open_.get(number), rows.get(number)
            if seen is not None and current is not None and current[0] == seen:
                continue
            if current is not None and (seen is not None or complete):
                versions.add((*current[0], "dagster", current[1], day))
                del open_[number]
            if seen is not None:
                open_[number] = (seen, day)
    return versions | {(*values, "dagster", since, None) for values, since in open_.values()}


def snapshot_of(day: date, days: dict[date, Snapshot]) -> HistoryDay:
    rows, complete = days[day]
    batch = [rows[n] for n in sorted(rows)]
    sha256 = hashlib.sha256(repr((day, batch, complete)).encode()).hexdigest()
    return HistoryDay(day, sha256, complete, rows=lambda: [batch])


def load(conn: psycopg.Connection, table: TableName, day: date, days: dict[date, Snapshot]):
    """The table's load of the day, then the history's step, as a run of both assets does."""
    found = snapshot_of(day, days)
    provenance = DayProvenance(day, found.complete, "s3://b/k", found.sha256)
    load_day(conn, table, USERS_CONTRACT, found.rows(), provenance, [], ASSET)
    return apply_day(conn, table, USERS_CONTRACT, found, lambda later: snapshot_of(later, days))


def history(pg: psycopg.Connection, table: TableName) -> set[tuple]:
    return set(pg.execute(f"SELECT * FROM {table}_history").fetchall())


def current_table(pg: psycopg.Connection, table: TableName) -> set[tuple]:
    return set(pg.execute(f"SELECT * FROM {table} WHERE deleted_at IS NULL").fetchall())


def current_history(pg: psycopg.Connection, table: TableName) -> set[tuple]:
    rows = pg.execute(f"SELECT * FROM {table}_history WHERE valid_to IS NULL").fetchall()
    return {(*row[:-2], None, None) for row in rows}


@pytest.fixture
def table(users_table: str) -> TableName:
    return TableName.parse(users_table, TABLE_SETTING)


@pytest.mark.parametrize("seed", range(6))
def test_any_load_order_gives_the_history_of_the_days_in_date_order(postgres_url, pg, table, seed):
    rng = random.Random(seed)
    days = random_days(rng, 6)
    order = rng.sample(sorted(days), len(days)) if seed else sorted(days)
    order += rng.sample(order, 2)  # two days loaded twice
    with psycopg.connect(postgres_url) as conn:
        for day in order:
            applied = load(conn, table, day, days)
            # The current versions are the table's current rows, whatever was loaded so far.
            assert {row[:6] for row in current_history(pg, table)} == {
                row[:6] for row in current_table(pg, table)
            }
            # The counts carried from day to day are the history's.
            assert (applied.versions, applied.current) == (
                len(history(pg, table)),
                len(current_history(pg, table)),
            )

    assert history(pg, table) == expected_history(days)


def test_a_day_fetched_again_replaces_its_versions(postgres_url, pg, table):
    days = random_days(random.Random(11), 4)
    with psycopg.connect(postgres_url) as conn:
        for day in sorted(days):
            load(conn, table, day, days)
        second = FIRST + timedelta(days=1)
        rows, complete = days[second]
        days[second] = ({n: user(n, "inactive", "Again") for n in rows}, complete)
        applied = load(conn, table, second, days)

    assert applied.replayed == sorted(days)[2:]
    assert history(pg, table) == expected_history(days)


def test_an_unchanged_day_writes_no_version_and_a_loaded_one_nothing_at_all(
    postgres_url, pg, table
):
    days = {FIRST: ({n: user(n, "active") for n in range(1, 101)}, True)}
    days[FIRST + timedelta(days=1)] = days[FIRST]
    with psycopg.connect(postgres_url) as conn:
        first = load(conn, table, FIRST, days)
        same = load(conn, table, FIRST + timedelta(days=1), days)
        again = load(conn, table, FIRST + timedelta(days=1), days)

    assert (first.opened, first.versions, first.current) == (100, 100, 100)
    assert (same.opened, same.closed, same.skipped) == (0, 0, False)
    assert again.skipped


def test_the_as_of_function_reads_a_day(postgres_url, pg, table):
    days = {
        FIRST: ({1: user(1, "active"), 2: user(2, "active")}, True),
        FIRST + timedelta(days=2): ({1: user(1, "inactive")}, True),
    }
    with psycopg.connect(postgres_url) as conn:
        for day in sorted(days):
            load(conn, table, day, days)

    def as_of(day: date) -> list[tuple]:
        return pg.execute(
            f"SELECT id, status FROM {table}_as_of(%s) ORDER BY id", (day,)
        ).fetchall()

    assert as_of(FIRST - timedelta(days=1)) == []
    assert as_of(FIRST + timedelta(days=1)) == [(1, "active"), (2, "active")]
    assert as_of(FIRST + timedelta(days=2)) == [(1, "inactive")]


def test_the_history_asset_materializes_each_day_and_reads_as_of_a_day(
    resources, gorest, pg, users_table
):
    """Through Dagster: the four assets for two days, the second with one user changed."""
    run(resources, day=FIRST)
    gorest.users[0]["status"] = "inactive" if gorest.users[0]["status"] == "active" else "active"
    result = run(resources, day=FIRST + timedelta(days=1))

    (event,) = materializations(result, "pg_users_history")
    metadata = {key: value.value for key, value in event.metadata.items()}
    assert event.partition == str(FIRST + timedelta(days=1))
    assert (metadata["versions_opened"], metadata["versions_closed"]) == (1, 1)
    assert metadata["dagster/row_count"] == len(gorest.users) + 1
    assert metadata["dagster/table_name"] == f"{users_table}_history"
    columns = [column.name for column in metadata["dagster/column_schema"].columns]
    assert columns[-2:] == ["valid_from", "valid_to"]
    first = gorest.users[0]["id"]
    statuses = [
        pg.execute(
            f"SELECT status FROM {users_table}_as_of(%s) WHERE id = %s", (day, first)
        ).fetchone()[0]
        for day in (FIRST, FIRST + timedelta(days=1))
    ]
    assert statuses[0] != statuses[1] == gorest.users[0]["status"]


def test_a_rebuild_after_every_table_is_dropped_gives_the_same_history(postgres_url, pg, table):
    days = random_days(random.Random(5), 5)
    with psycopg.connect(postgres_url) as conn:
        for day in sorted(days):
            load(conn, table, day, days)
        before = history(pg, table)
        pg.execute(
            f"DROP TABLE {table}, {table}_loads, {table}_rejects, {table}_history,"
            f" {table}_hdays, {table}_changes, {table}_hashes"
        )
        for day in sorted(days):
            load(conn, table, day, days)

    assert history(pg, table) == before == expected_history(days)
