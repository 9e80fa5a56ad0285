"""The load path alone, without Dagster: COPY + upsert against the real PostgreSQL."""

from datetime import date

import psycopg
import pytest

from users_pipeline.records import UserRow
from users_pipeline.warehouse import (
    TableName,
    WarehouseConfigError,
    ensure_users_table,
    load_snapshot,
)

DAY = date(2026, 3, 1)


def rows(count: int, status: str = "active") -> list[UserRow]:
    return [
        UserRow(7000000 + i, f"User {i}", f"user{i}@example.test", "female", status)
        for i in range(count)
    ]


@pytest.fixture
def table(users_table: str) -> TableName:
    return TableName.parse(users_table)


def contents(pg: psycopg.Connection, table: TableName) -> list[tuple]:
    return pg.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()


def test_first_load_creates_the_table_and_inserts(postgres_url, pg, table):
    with psycopg.connect(postgres_url) as conn:
        result = load_snapshot(conn, table, rows(3), DAY)
    assert (result.staged, result.inserted, result.updated, result.unchanged) == (3, 3, 0, 0)
    assert contents(pg, table)[0] == (
        7000000,
        "User 0",
        "user0@example.test",
        "female",
        "active",
        "dagster",
        DAY,
    )
    primary_key = pg.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
        " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = %s::regclass AND i.indisprimary",
        (str(table),),
    ).fetchall()
    assert primary_key == [("id",)]


def test_an_unchanged_rerun_writes_zero_rows(postgres_url, pg, table):
    with psycopg.connect(postgres_url) as conn:
        load_snapshot(conn, table, rows(100), DAY)
        xmins_before = pg.execute(f"SELECT xmin::text FROM {table} ORDER BY id").fetchall()
        result = load_snapshot(conn, table, rows(100), DAY)
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, 100)
    assert pg.execute(f"SELECT xmin::text FROM {table} ORDER BY id").fetchall() == xmins_before


def test_a_failure_mid_load_leaves_the_table_as_it_was(postgres_url, pg, table):
    with psycopg.connect(postgres_url) as conn:
        load_snapshot(conn, table, rows(10), DAY)
    before = contents(pg, table)

    def rows_then_crash():
        yield from rows(5, status="inactive")
        raise RuntimeError("source broke mid-stream")

    with psycopg.connect(postgres_url) as conn, pytest.raises(RuntimeError, match="mid-stream"):
        load_snapshot(conn, table, rows_then_crash(), date(2026, 3, 2))
    assert contents(pg, table) == before


@pytest.mark.parametrize(
    "name", ["users; DROP TABLE x", "a.b.c", "", "1users", 'us"ers', "public.", "x" * 64]
)
def test_table_names_that_are_not_identifiers_are_refused(name: str):
    with pytest.raises(WarehouseConfigError, match="USERS_TABLE=.* is not a table name"):
        TableName.parse(name)


def test_schema_qualified_names_create_the_schema(postgres_url, pg, users_table):
    table = TableName.parse(users_table)
    with psycopg.connect(postgres_url) as conn:
        ensure_users_table(conn, table)
        conn.commit()
    assert pg.execute("SELECT to_regclass(%s)", (users_table,)).fetchone()[0] is not None
