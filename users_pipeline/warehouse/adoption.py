"""Bringing an existing table to the contract, keeping every distinct row. No Dagster imports.

The table may be the article's `CREATE TABLE users` (no primary key, duplicates from append
runs), one made before the contract gained a field, or one in an older format of the pipeline's
own (see `compat`). A column whose type cannot hold the declared values stops the load before
anything is written; so do keys whose duplicate rows differ, since no merge is safe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg import sql

from users_pipeline.compat import migrate_snapshot_date
from users_pipeline.contract.columns import LAST_SEEN, UNKNOWN_LAST_SEEN, table_columns
from users_pipeline.contract.record import RecordContract
from users_pipeline.warehouse.table_name import TableName, WarehouseConfigError


@dataclass(frozen=True)
class ExistingColumn:
    sql_type: str  # format_type's spelling
    not_null: bool
    has_default: bool


def adopt(conn: psycopg.Connection, table: TableName, contract: RecordContract) -> list[str]:
    """Bring the existing `table` to the contract: what it changed, in words."""
    existing = _existing_columns(conn, table)
    if contract.key.name not in existing:
        raise WarehouseConfigError(
            f"{table.setting}={table} exists without its key column {contract.key.name}: point"
            f" {table.setting} at another table or rename this one; nothing was changed"
        )
    changes = []
    migrated = migrate_snapshot_date(conn, table, existing.keys())
    if migrated:
        changes.append(migrated)
        existing = _existing_columns(conn, table)
    changes += _add_and_widen(conn, table, contract, existing)
    changes += _accept_nulls(conn, table, contract, existing)
    has_key = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_index WHERE indrelid = %s::regclass AND indisprimary)",
        (table.regclass,),
    ).fetchone()[0]
    return changes if has_key else changes + _add_key(conn, table, contract)


def _existing_columns(conn: psycopg.Connection, table: TableName) -> dict[str, ExistingColumn]:
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod), attnotnull, atthasdef"
        " FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        (table.regclass,),
    ).fetchall()
    return {name: ExistingColumn(kind, not_null, default) for name, kind, not_null, default in rows}


_VARCHAR = re.compile(r"character varying\((\d+)\)")


def _fit(existing: str, declared: str) -> str | None:
    """How a column of type `existing` takes every value of type `declared`: "holds" as it is,
    "widen" after a cheap, lossless widening (the article's `VARCHAR(50)` and `INT` columns),
    or None: it cannot."""
    if existing == declared or (existing, declared) == ("bigint", "integer"):
        return "holds"
    if (existing, declared) == ("integer", "bigint"):
        return "widen"
    width, existing_width = _VARCHAR.fullmatch(declared), _VARCHAR.fullmatch(existing)
    if width and existing == "text":
        return "holds"
    if width and existing_width:
        return "holds" if int(existing_width[1]) >= int(width[1]) else "widen"
    return None


def _fits(
    table: TableName, contract: RecordContract, existing: dict[str, ExistingColumn]
) -> dict[str, str | None]:
    """How each existing column of the contract's fits it (see `_fit`), or the error of the
    first that cannot."""
    fits = {}
    for column in table_columns(contract):
        found = existing.get(column.name)
        if found is None:
            continue
        fits[column.name] = _fit(found.sql_type, column.sql_type)
        if fits[column.name] is None:
            raise WarehouseConfigError(
                f"{table.setting}={table} column {column.name} is {found.sql_type},"
                f" but the contract declares {column.sql_type}: change the column or the"
                " declaration; nothing was changed"
            )
    return fits


def _add_and_widen(
    conn: psycopg.Connection,
    table: TableName,
    contract: RecordContract,
    existing: dict[str, ExistingColumn],
) -> list[str]:
    """Widen the columns that need it and add the missing ones, once every existing column is
    known to fit."""
    fits = _fits(table, contract, existing)
    target, changes = table.identifier, []
    for column in table_columns(contract):
        name, kind = sql.Identifier(column.name), sql.SQL(column.sql_type)
        if fits.get(column.name) == "widen":
            conn.execute(sql.SQL("ALTER TABLE {} ALTER {} TYPE {}").format(target, name, kind))
            changes.append(f"widened column {column.name} to {column.sql_type}")
        if column.name in existing:
            continue
        # Added nullable: the rows already there have no value. Adopted rows were last seen
        # on an unknown day: the date before any snapshot.
        if column == LAST_SEEN:
            kind = sql.SQL("{} DEFAULT {}").format(kind, sql.Literal(UNKNOWN_LAST_SEEN))
        conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(target, name, kind))
        if column == LAST_SEEN:
            conn.execute(sql.SQL("ALTER TABLE {} ALTER {} DROP DEFAULT").format(target, name))
        changes.append(f"added column {column.name}")
    return changes


def _accept_nulls(
    conn: psycopg.Connection,
    table: TableName,
    contract: RecordContract,
    existing: dict[str, ExistingColumn],
) -> list[str]:
    """Let the columns the load may leave empty accept NULL: a nullable field's, or one the
    contract no longer declares (its column is kept; new rows have no value for it)."""
    declared = {column.name: column for column in table_columns(contract)}
    changes = []
    for name, found in existing.items():
        column = declared.get(name)
        if found.not_null and (column.nullable if column else not found.has_default):
            statement = sql.SQL("ALTER TABLE {} ALTER {} DROP NOT NULL")
            conn.execute(statement.format(table.identifier, sql.Identifier(name)))
            changes.append(f"column {name} accepts NULL")
    return changes


def _add_key(conn: psycopg.Connection, table: TableName, contract: RecordContract) -> list[str]:
    """Merge identical duplicate rows and make the key the primary key, or refuse."""
    key = sql.Identifier(contract.key.name)
    values = sql.SQL(", ").join(sql.Identifier(f.name) for f in contract.fields if not f.key)
    nulls, conflicting, example = conn.execute(
        sql.SQL(
            "SELECT (SELECT count(*) FROM {t} WHERE {k} IS NULL), count(*), min({k}) FROM"
            " (SELECT {k} FROM {t} WHERE {k} IS NOT NULL GROUP BY {k}"
            "  HAVING count(DISTINCT ({values})) > 1) AS d"
        ).format(t=table.identifier, k=key, values=values)
    ).fetchone()
    if nulls or conflicting:
        name = contract.key.name
        problem = (
            f"{nulls} rows without an {name}" if nulls else
            f"{conflicting} ids with differing duplicate rows (e.g. {name} {example})"
        )  # fmt: skip
        raise WarehouseConfigError(
            f"{table.setting}={table} has {problem}: keep one row per {name} (or point"
            f" {table.setting} at a new table), then re-run; nothing was changed"
        )
    changes = []
    merge = sql.SQL("DELETE FROM {t} AS a USING {t} AS b WHERE a.{k} = b.{k} AND a.ctid > b.ctid")
    merged = conn.execute(merge.format(t=table.identifier, k=key)).rowcount
    if merged:
        changes.append(f"merged {merged} identical duplicate rows")
    conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(table.identifier, key))
    changes.append(f"added primary key ({contract.key.name})")
    return changes
