"""Bringing an existing table to the contract: columns added, widened or refused, and the
pipeline's own older formats migrated in the load's own transaction."""

from datetime import date, timedelta

import psycopg
import pytest

from users_pipeline.contract.record import RecordContract
from users_pipeline.contract.validation import RecordValidator, Reject
from users_pipeline.warehouse.load import load_day
from users_pipeline.warehouse.provenance import DayProvenance
from users_pipeline.warehouse.table_name import TableName, WarehouseConfigError
from users_pipeline_tests.contract.test_record import EXTRA, KEY
from users_pipeline_tests.warehouse.test_load import (
    ASSET,
    DAY,
    TABLE_SETTING,
    contents,
    load,
    random_history,
    rows,
)


@pytest.fixture
def table(users_table: str) -> TableName:
    return TableName.parse(users_table, TABLE_SETTING)


def test_the_former_snapshot_date_table_is_migrated_in_the_load(postgres_url, pg, table):
    """A table kept with a `snapshot_date` per row (rewritten every day) becomes the `last_seen`
    table the same days would have built, in the next load's transaction."""
    history = random_history(4, seed=7)
    migrated = TableName(table.schema, "migrated")
    with psycopg.connect(postgres_url) as conn:
        for day, day_rows, complete in history:
            load(conn, table, day_rows, day=day, complete=complete)
        for day, day_rows, complete in history[:3]:
            load(conn, migrated, day_rows, day=day, complete=complete)
    # The former representation of the first three days: each row's latest snapshot.
    latest = history[2][0]
    pg.execute(f"ALTER TABLE {migrated} RENAME last_seen TO snapshot_date")
    pg.execute(f"UPDATE {migrated} SET snapshot_date = %s WHERE snapshot_date IS NULL", (latest,))
    pg.execute(f"ALTER TABLE {migrated} ALTER snapshot_date SET NOT NULL")
    pg.commit()
    day, day_rows, complete = history[3]
    with psycopg.connect(postgres_url) as conn:
        result = load(conn, migrated, day_rows, day=day, complete=complete)
    assert result.table_changes[0].startswith("replaced snapshot_date by last_seen, NULL for the")
    assert contents(pg, migrated) == contents(pg, table)


# The quarantine's DDL before its key column was `record_key`.
FORMER_REJECTS = (
    "CREATE TABLE {} (snapshot_date date, record_number bigint, user_id text,"
    " reason text NOT NULL, record json, PRIMARY KEY (snapshot_date, record_number))"
)


def test_the_former_rejects_table_is_migrated_in_the_load_and_keeps_its_rows(
    postgres_url, pg, table
):
    earlier = DAY - timedelta(days=1)
    pg.execute(f"CREATE SCHEMA IF NOT EXISTS {table.schema}")
    pg.execute(FORMER_REJECTS.format(table.rejects))
    pg.execute(
        f"INSERT INTO {table.rejects} VALUES (%s, 4, '7', 'status is null', '{{\"id\": 7}}')",
        (earlier,),
    )
    bad = Reject(2, "email 'x' is not an email address", {"id": 9, "email": "x"})
    with psycopg.connect(postgres_url) as conn:
        result = load(conn, table, rows(3), rejects=[bad])
        again = load(conn, table, rows(3), rejects=[bad])

    assert result.table_changes == [f"renamed column user_id of {table.rejects} to record_key"]
    assert again.table_changes == []
    stored = pg.execute(
        f"SELECT snapshot_date, record_number, record_key, reason FROM {table.rejects} ORDER BY 1"
    )
    assert stored.fetchall() == [(earlier, 4, "7", "status is null"), (DAY, 2, "9", bad.reason)]


def load_with(conn, table, contract, records, day=date(2026, 3, 1)):
    """Validate `records` with `contract` and load them as `day`'s snapshot."""
    rows, rejects = RecordValidator(contract).split(records)
    assert rejects == []
    provenance = DayProvenance(day, True, "u", "0" * 64)
    return load_day(conn, table, contract, [rows], provenance, [], ASSET)


PEOPLE = [{"id": 1, "age": 30, "verified": True}, {"id": 2, "age": 41, "verified": False}]


def test_a_column_whose_type_conflicts_stops_the_load_before_the_copy(postgres_url, pg, table):
    pg.execute(f"CREATE SCHEMA IF NOT EXISTS {table.schema}")
    pg.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, age text, verified boolean)")
    pg.execute(f"INSERT INTO {table} VALUES (9, 'old', true)")

    with psycopg.connect(postgres_url) as conn, pytest.raises(WarehouseConfigError) as raised:
        load_with(conn, table, EXTRA, PEOPLE)

    assert str(raised.value) == (
        f"USERS_TABLE={table} column age is text, but the contract declares integer: change the"
        " column or the declaration; nothing was changed"
    )
    assert pg.execute(f"SELECT * FROM {table}").fetchall() == [(9, "old", True)]
    columns = pg.execute(f"SELECT * FROM {table} LIMIT 0").description
    assert [column.name for column in columns] == ["id", "age", "verified"]


def test_a_declared_field_adds_a_nullable_column_and_a_dropped_one_keeps_its_column(
    postgres_url, pg, table
):
    fewer = RecordContract(EXTRA.fields[:3])  # without born and seen_at
    with psycopg.connect(postgres_url) as conn:
        load_with(conn, table, fewer, PEOPLE)
        added = load_with(conn, table, EXTRA, [{**PEOPLE[0], "born": "1990-01-31"}, PEOPLE[1]],
                          day=date(2026, 3, 2))  # fmt: skip
        dropped = load_with(conn, table, RecordContract((KEY, EXTRA.fields[2])),
                            [{"id": 3, "verified": True}], day=date(2026, 3, 3))  # fmt: skip
    assert added.table_changes == ["added column born", "added column seen_at"]
    assert dropped.table_changes == ["column age accepts NULL"]
    rows = pg.execute(f"SELECT id, age, verified, born, seen_at FROM {table} ORDER BY id")
    assert rows.fetchall() == [
        (1, 30, True, date(1990, 1, 31), None),
        (2, 41, False, None, None),
        (3, None, True, None, None),
    ]
