"""The tables of a source: its table, the `_loads` log of the days loaded and the `_rejects`
quarantine, created on first use or brought to the contract. No Dagster imports."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from users_pipeline.compat import migrate_rejects_key
from users_pipeline.contract.columns import table_columns
from users_pipeline.contract.record import RecordContract
from users_pipeline.warehouse.adoption import adopt
from users_pipeline.warehouse.table_name import TableName

_LOADS = (
    "CREATE TABLE IF NOT EXISTS {} (snapshot_date date PRIMARY KEY,"
    " crawl_complete boolean NOT NULL, source_uri text NOT NULL, sha256 text NOT NULL,"
    " rows_loaded bigint NOT NULL, rows_rejected bigint NOT NULL,"
    " loaded_at timestamptz NOT NULL DEFAULT now())"
)
# `record_key` holds the rejected record's key as text, whatever the source's key is called.
_REJECTS = (
    "CREATE TABLE IF NOT EXISTS {} (snapshot_date date, record_number bigint,"
    " record_key text, reason text NOT NULL, record json,"
    " PRIMARY KEY (snapshot_date, record_number))"
)


@dataclass(frozen=True)
class TableSetup:
    """What `ensure_table` found."""

    created: bool  # by this call (without its primary key, if it was asked to defer it)
    changes: list[str]  # what bringing the existing tables to the current format changed
    loads_created: bool  # the `_loads` log did not exist
    rejects_created: bool  # the `_rejects` quarantine did not exist


def ensure_table(
    conn: psycopg.Connection, table: TableName, contract: RecordContract, defer_key: bool = False
) -> TableSetup:
    """Create the schema, the table and its `_loads` log and `_rejects` quarantine on first use,
    or bring existing ones to the contract (see `adopt`). With `defer_key`, a table created here
    has no primary key yet: the caller adds it, in the same transaction, once the rows are in."""
    if table.schema is not None:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(table.schema)))
    created, loads_created, rejects_created = conn.execute(
        "SELECT to_regclass(%s) IS NULL, to_regclass(%s) IS NULL, to_regclass(%s) IS NULL",
        (table.regclass, table.loads.regclass, table.rejects.regclass),
    ).fetchone()
    if created:
        _create_table(conn, table, contract, defer_key)
    changes = [] if created else adopt(conn, table, contract)
    renamed = None if rejects_created else migrate_rejects_key(conn, table.rejects)
    if renamed:
        changes.append(renamed)
    conn.execute(sql.SQL(_LOADS).format(table.loads.identifier))
    conn.execute(sql.SQL(_REJECTS).format(table.rejects.identifier))
    return TableSetup(created, changes, loads_created, rejects_created)


def _create_table(
    conn: psycopg.Connection, table: TableName, contract: RecordContract, defer_key: bool
) -> None:
    columns = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(column.name),
            sql.SQL(column.sql_type),
            sql.SQL("" if column.nullable else " NOT NULL"),
        )
        for column in table_columns(contract)
    ]
    if not defer_key:
        columns.append(sql.SQL("PRIMARY KEY ({})").format(sql.Identifier(contract.key.name)))
    conn.execute(
        sql.SQL("CREATE TABLE {} ({})").format(table.identifier, sql.SQL(", ").join(columns))
    )
