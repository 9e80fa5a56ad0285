"""The Postgres side: the users table, and loading a day's snapshot into it. No Dagster imports.

A load is one transaction: COPY the day's rows into a temporary staging table, then one set-based
upsert by `id`. The upsert only writes a row whose values differ and whose snapshot is not older
than the one already stored, so re-running a day writes nothing and replaying an old day never
overwrites newer data. An advisory lock per table serializes concurrent loads of the same table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import psycopg
from psycopg import sql

from users_pipeline.errors import PipelineError
from users_pipeline.records import MAX_TEXT_LENGTH, UserRow

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
VALUE_COLUMNS = ("name", "email", "gender", "status", "inserted_from")


class WarehouseConfigError(PipelineError):
    """A setting that cannot name a table; the message names the setting."""


@dataclass(frozen=True)
class TableColumn:
    name: str
    sql_type: str
    description: str


USERS_COLUMNS = (
    TableColumn("id", "bigint PRIMARY KEY", "The API's user id"),
    TableColumn("name", f"varchar({MAX_TEXT_LENGTH}) NOT NULL", "Full name, byte for byte"),
    TableColumn("email", f"varchar({MAX_TEXT_LENGTH}) NOT NULL", "Email, unique in a snapshot"),
    TableColumn("gender", f"varchar({MAX_TEXT_LENGTH}) NOT NULL", "male or female"),
    TableColumn("status", f"varchar({MAX_TEXT_LENGTH}) NOT NULL", "active or inactive"),
    TableColumn("inserted_from", f"varchar({MAX_TEXT_LENGTH}) NOT NULL", "Which tool loaded it"),
    TableColumn("snapshot_date", "date NOT NULL", "Latest daily snapshot the user was seen in"),
)


@dataclass(frozen=True)
class TableName:
    """A `table` or `schema.table` name from configuration, validated so it can only be quoted
    as identifiers: `users; DROP TABLE x` is refused, never executed."""

    schema: str | None
    name: str

    @classmethod
    def parse(cls, text: str, setting: str = "USERS_TABLE") -> TableName:
        parts = text.split(".")
        if len(parts) > 2 or not all(IDENTIFIER.fullmatch(part) for part in parts):
            raise WarehouseConfigError(
                f"{setting}={text!r} is not a table name: use `table` or `schema.table`"
                " with letters, digits and underscores"
            )
        return cls(None, parts[0]) if len(parts) == 1 else cls(parts[0], parts[1])

    @property
    def identifier(self) -> sql.Identifier:
        return (
            sql.Identifier(self.name)
            if self.schema is None
            else sql.Identifier(self.schema, self.name)
        )

    def __str__(self) -> str:
        return self.name if self.schema is None else f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class LoadResult:
    """What one load did to the table."""

    staged: int
    inserted: int
    updated: int
    unchanged: int
    table_rows: int


def ensure_users_table(conn: psycopg.Connection, table: TableName) -> None:
    """Create the schema and table on first use; an existing table is left as it is."""
    if table.schema is not None:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(table.schema)))
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(column.name), sql.SQL(column.sql_type))
        for column in USERS_COLUMNS
    )
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(table.identifier, columns))


def load_snapshot(
    conn: psycopg.Connection,
    table: TableName,
    rows: Iterable[UserRow],
    snapshot_date: date,
    inserted_from: str = "dagster",
) -> LoadResult:
    """Upsert one day's rows in one transaction; any error leaves the table as it was."""
    params = {"snapshot_date": snapshot_date, "inserted_from": inserted_from}
    target = table.identifier
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"users_pipeline:{table}",))
        ensure_users_table(conn, table)
        cursor.execute(
            "CREATE TEMPORARY TABLE users_staging"
            " (id bigint, name text, email text, gender text, status text)"
            " ON COMMIT DROP"
        )
        staged = 0
        with cursor.copy("COPY users_staging (id, name, email, gender, status) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                staged += 1
        cursor.execute("ANALYZE users_staging")
        same_values = sql.SQL(" AND ").join(
            sql.SQL("t.{0} IS NOT DISTINCT FROM s.{0}").format(sql.Identifier(name))
            for name in VALUE_COLUMNS[:-1]
        ) + sql.SQL(" AND t.inserted_from IS NOT DISTINCT FROM %(inserted_from)s")
        # Unchanged users seen in a newer snapshot only move their snapshot_date forward.
        cursor.execute(
            sql.SQL(
                "UPDATE {target} AS t SET snapshot_date = %(snapshot_date)s"
                " FROM users_staging AS s"
                " WHERE t.id = s.id AND t.snapshot_date < %(snapshot_date)s AND {same_values}"
            ).format(target=target, same_values=same_values),
            params,
        )
        value_list = sql.SQL(", ").join(map(sql.Identifier, VALUE_COLUMNS))
        cursor.execute(
            sql.SQL(
                "WITH written AS ("
                " INSERT INTO {target} AS t (id, {values}, snapshot_date)"
                " SELECT id, name, email, gender, status, %(inserted_from)s, %(snapshot_date)s"
                " FROM users_staging"
                " ON CONFLICT (id) DO UPDATE SET ({values}, snapshot_date)"
                " = ROW({excluded}, excluded.snapshot_date)"
                " WHERE t.snapshot_date <= excluded.snapshot_date"
                " AND ({current}) IS DISTINCT FROM ({excluded})"
                " RETURNING (xmax = 0) AS inserted)"
                " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)"
                " FROM written"
            ).format(
                target=target,
                values=value_list,
                excluded=sql.SQL(", ").join(
                    sql.SQL("excluded.{}").format(sql.Identifier(name)) for name in VALUE_COLUMNS
                ),
                current=sql.SQL(", ").join(
                    sql.SQL("t.{}").format(sql.Identifier(name)) for name in VALUE_COLUMNS
                ),
            ),
            params,
        )
        inserted, updated = cursor.fetchone()
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(target))
        (table_rows,) = cursor.fetchone()
    return LoadResult(
        staged=staged,
        inserted=inserted,
        updated=updated,
        unchanged=staged - inserted - updated,
        table_rows=table_rows,
    )


def snapshot_preview(
    conn: psycopg.Connection, table: TableName, snapshot_date: date, limit: int = 5
) -> tuple[list[str], list[tuple]]:
    """The first rows of the table as of one snapshot, for the materialization's preview."""
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT * FROM {} WHERE snapshot_date = %s ORDER BY id LIMIT %s").format(
                table.identifier
            ),
            (snapshot_date, limit),
        )
        columns = [column.name for column in cursor.description or ()]
        return columns, cursor.fetchall()
