"""The Postgres side: a source's table, and loading a day's snapshot into it. No Dagster imports.

The table's columns, their types and every column list below come from the source's
`RecordContract`. A load is one transaction: COPY the day's rows into a temporary staging table,
then one set-based upsert by the key (into an empty table the COPY goes straight in). The upsert
only writes a row whose values differ and whose snapshot is not older than the one already
stored, so re-running a day writes nothing and replaying an old day never overwrites newer data.
An advisory lock per table serializes concurrent loads of the same table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import msgspec
import psycopg
from psycopg import sql

from users_pipeline.contract import Field, RecordContract, Row
from users_pipeline.errors import PipelineError
from users_pipeline.records import Reject

# PostgreSQL truncates identifiers at 63 bytes; 55 leaves room for the `_rejects` sibling.
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,54}")
# The snapshot_date of rows adopted from a table made elsewhere: before any real day.
ADOPTED_SNAPSHOT_DATE = date(1970, 1, 1)


class WarehouseConfigError(PipelineError):
    """A setting that cannot name a table; the message names the setting."""


@dataclass(frozen=True)
class TableColumn:
    name: str
    sql_type: str  # as PostgreSQL's format_type spells it
    nullable: bool
    description: str


# The columns the pipeline keeps beside the contract's: the history of each record.
HISTORY_COLUMNS = (
    TableColumn("snapshot_date", "date", False, "Latest daily snapshot the record was seen in"),
    TableColumn("deleted_at", "date", True, "First complete snapshot without it; NULL = current"),
)


def table_columns(contract: RecordContract) -> tuple[TableColumn, ...]:
    """The table's columns: the contract's fields in order, then the history columns."""
    declared = tuple(
        TableColumn(f.name, f.sql_type, f.nullable, f.description) for f in contract.fields
    )
    return declared + HISTORY_COLUMNS


@dataclass(frozen=True)
class TableName:
    """A `table` or `schema.table` name from configuration, validated so it can only be quoted
    as identifiers: `users; DROP TABLE x` is refused, never executed."""

    schema: str | None
    name: str
    setting: str = field(default="USERS_TABLE", compare=False)  # where the name came from

    @classmethod
    def parse(cls, text: str, setting: str = "USERS_TABLE") -> TableName:
        parts = text.split(".")
        if len(parts) > 2 or not all(IDENTIFIER.fullmatch(part) for part in parts):
            raise WarehouseConfigError(
                f"{setting}={text!r} is not a table name: use `table` or `schema.table`"
                " with letters, digits and underscores"
            )
        schema, name = (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
        return cls(schema, name, setting)

    @property
    def identifier(self) -> sql.Identifier:
        return (
            sql.Identifier(self.name)
            if self.schema is None
            else sql.Identifier(self.schema, self.name)
        )

    @property
    def regclass(self) -> str:
        """The name as text for `::regclass` and `to_regclass`, quoted like `identifier` (the
        parts never contain quotes), so `Users` is not read as `users`."""
        return ".".join(f'"{part}"' for part in (self.schema, self.name) if part is not None)

    def sibling(self, suffix: str) -> TableName:
        """`users_loads` beside `users`, in the same schema."""
        return TableName(self.schema, f"{self.name}_{suffix}", self.setting)

    def __str__(self) -> str:
        return self.name if self.schema is None else f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class LoadResult:
    """What one load did to the table."""

    staged: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    deleted: int  # users absent from this complete snapshot, newly marked deleted
    deletion_recomputed: int  # users seen in it whose deleted_at changed (usually: came back)
    table_rows: int
    current_rows: int
    table_changes: list[str] = field(default_factory=list)  # when an existing table was adopted
    # History the bookkeeping lost (a dropped `_loads` or `_rejects`), and what to run about it.
    notices: list[str] = field(default_factory=list)
    skipped: bool = False  # already loaded from the same object: nothing was read or written


@dataclass(frozen=True)
class TableSetup:
    """What `ensure_table` found."""

    created: bool  # by this call (without its primary key, if it was asked to defer it)
    changes: list[str]  # what adopting an existing table changed in it
    loads_created: bool  # the `_loads` log did not exist
    rejects_created: bool  # the `_rejects` quarantine did not exist


def ensure_table(
    conn: psycopg.Connection, table: TableName, contract: RecordContract, defer_key: bool = False
) -> TableSetup:
    """Create the schema, the table and its `_loads` log and `_rejects` quarantine on first use,
    or bring an existing table to the contract (see `_adopt`). With `defer_key`, a table created
    here has no primary key yet: the caller adds it, in the same transaction, once the rows are
    in."""
    if table.schema is not None:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(table.schema)))
    created, loads_created, rejects_created = conn.execute(
        "SELECT to_regclass(%s) IS NULL, to_regclass(%s) IS NULL, to_regclass(%s) IS NULL",
        (table.regclass, table.sibling("loads").regclass, table.sibling("rejects").regclass),
    ).fetchone()
    if created:
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
    changes = [] if created else _adopt(conn, table, contract)
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (snapshot_date date PRIMARY KEY,"
            " crawl_complete boolean NOT NULL, source_uri text NOT NULL, sha256 text NOT NULL,"
            " rows_loaded bigint NOT NULL, rows_rejected bigint NOT NULL,"
            " loaded_at timestamptz NOT NULL DEFAULT now())"
        ).format(table.sibling("loads").identifier)
    )
    # `user_id` holds the rejected record's key as text, whatever the source (the column name is
    # kept for the tables that exist).
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (snapshot_date date, record_number bigint,"
            " user_id text, reason text NOT NULL, record json,"
            " PRIMARY KEY (snapshot_date, record_number))"
        ).format(table.sibling("rejects").identifier)
    )
    return TableSetup(created, changes, loads_created, rejects_created)


@dataclass(frozen=True)
class ExistingColumn:
    sql_type: str  # format_type's spelling
    not_null: bool
    has_default: bool


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


def _adopt(conn: psycopg.Connection, table: TableName, contract: RecordContract) -> list[str]:
    """Bring an existing table (the article's `CREATE TABLE users`: no primary key, duplicates
    from append runs; or one made before the contract gained a field) to the contract, keeping
    every distinct row. A column whose type cannot hold the declared values stops the load before
    anything is written; so do ids whose duplicate rows differ, since no merge is safe."""
    target, key = table.identifier, contract.key
    existing = _existing_columns(conn, table)
    if key.name not in existing:
        raise WarehouseConfigError(
            f"{table.setting}={table} exists without its key column {key.name}: point"
            f" {table.setting} at another table or rename this one; nothing was changed"
        )
    fits = {
        column.name: _fit(existing[column.name].sql_type, column.sql_type)
        for column in table_columns(contract)
        if column.name in existing
    }
    for column in table_columns(contract):
        if column.name in fits and fits[column.name] is None:
            raise WarehouseConfigError(
                f"{table.setting}={table} column {column.name} is {existing[column.name].sql_type},"
                f" but the contract declares {column.sql_type}: change the column or the"
                " declaration; nothing was changed"
            )
    changes = []
    for column in table_columns(contract):
        if fits.get(column.name) == "widen":
            statement = sql.SQL("ALTER TABLE {} ALTER {} TYPE {}")
            conn.execute(
                statement.format(target, sql.Identifier(column.name), sql.SQL(column.sql_type))
            )
            changes.append(f"widened column {column.name} to {column.sql_type}")
        if column.name in existing:
            continue
        # Added nullable: the rows already there have no value. Adopted rows get the date before
        # any snapshot, so any real day supersedes them.
        adopted = column.name == "snapshot_date"
        default = f" NOT NULL DEFAULT DATE '{ADOPTED_SNAPSHOT_DATE}'" if adopted else ""
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                target, sql.Identifier(column.name), sql.SQL(column.sql_type + default)
            )
        )
        if adopted:
            conn.execute(sql.SQL("ALTER TABLE {} ALTER snapshot_date DROP DEFAULT").format(target))
        changes.append(f"added column {column.name}")
    declared = {column.name: column for column in table_columns(contract)}
    for name, found in existing.items():
        column = declared.get(name)
        # A column the load may leave empty must accept NULL: a nullable field, or one the
        # contract no longer declares (its column is kept; new rows have no value for it).
        if found.not_null and (column.nullable if column else not found.has_default):
            statement = sql.SQL("ALTER TABLE {} ALTER {} DROP NOT NULL")
            conn.execute(statement.format(target, sql.Identifier(name)))
            changes.append(f"column {name} accepts NULL")
    has_key = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_index WHERE indrelid = %s::regclass AND indisprimary)",
        (table.regclass,),
    ).fetchone()[0]
    if has_key:
        return changes
    return changes + _add_key(conn, table, contract)


def _add_key(conn: psycopg.Connection, table: TableName, contract: RecordContract) -> list[str]:
    """Merge identical duplicate rows and make the key the primary key, or refuse."""
    key = sql.Identifier(contract.key.name)
    values = sql.SQL(", ").join(
        sql.Identifier(f.name) for f in contract.fields if not f.key
    )
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


@dataclass(frozen=True)
class DayLoad:
    """The day being loaded, from its manifest: only a complete crawl may mark users deleted."""

    snapshot_date: date
    crawl_complete: bool
    source_uri: str
    sha256: str


def load_snapshot(
    conn: psycopg.Connection,
    table: TableName,
    contract: RecordContract,
    row_batches: Iterable[Sequence[Row]],
    day: DayLoad,
    rejects: list[Reject],
) -> LoadResult:
    """Upsert one day's rows, record its rejects and soft deletes, in one transaction.

    `rejects` is filled while `row_batches` is consumed (see `records.split_batches`). Into an
    empty table the rows are copied straight in (a first load or a rebuild needs no upsert);
    otherwise they go through a staging table. Any error leaves every table as it was.
    """
    with conn.transaction(), conn.cursor() as cursor:
        load = _DayLoad(cursor, table, contract, day)
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"users_pipeline:{table}",))
        setup = ensure_table(conn, table, contract, defer_key=True)
        load.run("SELECT NOT EXISTS (SELECT FROM {target})")
        (was_empty,) = cursor.fetchone()
        notices = load.lost_history(setup, was_empty)
        if was_empty:
            # Into an empty table no upsert is needed: the rows go straight in.
            staged = load.copy_rows(row_batches, into="target")
            if setup.created:
                # Building the key of a table this load created once, after the COPY, takes a
                # quarter less time than updating it row by row (measured at 100k and 1M rows).
                load.run("ALTER TABLE {target} ADD PRIMARY KEY ({key})")
            inserted, updated = staged, 0
        else:
            load.run("CREATE TEMPORARY TABLE _load_staging ({staging_columns}) ON COMMIT DROP")
            staged = load.copy_rows(row_batches, into="staging")
            cursor.execute("ANALYZE _load_staging")
            load.run(_MOVE_FORWARD_UNCHANGED)
            load.run(_UPSERT)
            inserted, updated = cursor.fetchone()
        load.run(
            _RECORD_LOAD, rows_loaded=sql.Literal(staged), rows_rejected=sql.Literal(len(rejects))
        )
        load.replace_rejects(rejects)
        if was_empty:
            # Every row was just inserted, not deleted, and nobody can be missing from the day:
            # only a later complete snapshot already loaded changes that. No scan is needed.
            load.run(_LATER_COMPLETE_DAY)
            deletion_recomputed = (
                load.run(_RECOMPUTE_DELETED_FOR_SEEN) if cursor.fetchone()[0] else 0
            )
            deleted, table_rows, current_rows = 0, staged, staged - deletion_recomputed
        else:
            deletion_recomputed = load.run(_RECOMPUTE_DELETED_FOR_SEEN)
            deleted = load.run(_MARK_DELETED) if day.crawl_complete else 0
            load.run("SELECT count(*), count(*) FILTER (WHERE deleted_at IS NULL) FROM {target}")
            table_rows, current_rows = cursor.fetchone()
    return LoadResult(
        staged=staged,
        inserted=inserted,
        updated=updated,
        unchanged=staged - inserted - updated,
        rejected=len(rejects),
        deleted=deleted,
        deletion_recomputed=deletion_recomputed,
        table_rows=table_rows,
        current_rows=current_rows,
        table_changes=setup.changes,
        notices=notices,
    )


class _DayLoad:
    """The statements of one load, sharing its cursor, parameters, and the table names and
    column lists that fill the statements' `{...}` fields."""

    def __init__(
        self, cursor: psycopg.Cursor, table: TableName, contract: RecordContract, day: DayLoad
    ) -> None:
        self.cursor = cursor
        self.table = table
        self.contract = contract
        self.day = day
        self.params = {
            "snapshot_date": day.snapshot_date,
            "crawl_complete": day.crawl_complete,
            "source_uri": day.source_uri,
            "sha256": day.sha256,
            "adopted": ADOPTED_SNAPSHOT_DATE,
        }
        self.fragments = {
            "target": table.identifier,
            "loads": table.sibling("loads").identifier,
            "rejects": table.sibling("rejects").identifier,
            **_column_fragments(contract),
        }

    def run(self, statement: str, **fragments: sql.Composable) -> int:
        self.cursor.execute(sql.SQL(statement).format(**self.fragments, **fragments), self.params)
        return self.cursor.rowcount

    def copy_rows(self, row_batches: Iterable[Sequence[Row]], into: str) -> int:
        """COPY every row, a batch at a time as CSV formatted in C (`_csv_batch`). Batches are
        small (see `BATCH_BYTES`), so the server parses one on its core while this process
        decodes and formats the next. Into the target, each row ends with the constants and the
        snapshot date."""
        names = [field.name for field in self.contract.source_fields]
        target: sql.Composable = sql.Identifier("_load_staging")
        row_end = "\n"
        if into == "target":
            names += [field.name for field in self.contract.constants] + ["snapshot_date"]
            target = self.fragments["target"]
            ends = [*(field.value for field in self.contract.constants), self.day.snapshot_date]
            row_end = "".join(f",{_csv_value(value)}" for value in ends) + "\n"
        statement = sql.SQL(
            "COPY {} ({}) FROM STDIN WITH (FORMAT csv, ESCAPE '\\', NULL 'null', ENCODING 'UTF8')"
        ).format(target, sql.SQL(", ").join(map(sql.Identifier, names)))
        copied = 0
        end = row_end.encode()
        with self.cursor.copy(statement) as copy:
            for batch in row_batches:
                if batch:
                    copy.write(_csv_batch(batch, end))
                    copied += len(batch)
        return copied

    def lost_history(self, setup: TableSetup, was_empty: bool) -> list[str]:
        """Keep the bookkeeping true to the table, and say what a dropped table lost.

        The `_loads` log of an empty table (dropped or emptied) lists no day with rows, so every
        day loads in full again. A log or quarantine that had to be created beside a table with
        history cannot know the other days: the notice says which to load again."""
        table = self.table
        loads, rejects = table.sibling("loads"), table.sibling("rejects")
        notices = []
        rebuild = "materialize pg_users_table for each of them"
        if was_empty:
            forgotten = self.days(
                "DELETE FROM {loads} WHERE rows_loaded > 0 AND snapshot_date <> %(snapshot_date)s"
                " RETURNING snapshot_date"
            )
            if forgotten:
                notices.append(
                    f"{table} was empty while {loads} listed {forgotten}:"
                    f" they will load in full again; to rebuild the table, {rebuild}"
                )
        elif setup.loads_created:
            seen = self.days(
                "SELECT DISTINCT snapshot_date FROM {target}"
                " WHERE snapshot_date NOT IN (%(snapshot_date)s, %(adopted)s)"
            )
            if seen:
                notices.append(
                    f"{loads} was missing, so it now lists only"
                    f" {self.day.snapshot_date}, while {table} holds users last seen on {seen};"
                    f" to rebuild its history, {rebuild}"
                )
        if setup.rejects_created and not setup.loads_created:
            with_rejects = self.days(
                "SELECT snapshot_date FROM {loads}"
                " WHERE rows_rejected > 0 AND snapshot_date <> %(snapshot_date)s"
            )
            if with_rejects:
                notices.append(
                    f"{rejects} was missing, so it now holds only the rejects"
                    f" of {self.day.snapshot_date}, while {loads} lists"
                    f" rejects on {with_rejects}; to restore them, {rebuild} with"
                    " config reload: true"
                )
        return notices

    def days(self, statement: str) -> str:
        """The dates a statement returns, as `3 days (2026-05-01 to 2026-05-03)`, or ''."""
        self.run(statement)
        found = sorted(day for (day,) in self.cursor.fetchall())
        if not found:
            return ""
        if len(found) == 1:
            return f"1 day ({found[0]})"
        return f"{len(found)} days ({found[0]} to {found[-1]})"

    def replace_rejects(self, rejects: list[Reject]) -> None:
        self.run("DELETE FROM {rejects} WHERE snapshot_date = %(snapshot_date)s")
        statement = sql.SQL(
            "COPY {} (snapshot_date, record_number, user_id, reason, record) FROM STDIN"
        ).format(self.fragments["rejects"])
        with self.cursor.copy(statement) as copy:
            for reject in rejects:
                copy.write_row(reject.as_row(self.day.snapshot_date, self.contract.key.name))


_encode_json_lines = msgspec.json.Encoder().encode_lines


def _csv_batch(batch: Sequence[Row], row_end: bytes) -> bytes:
    r"""Rows as CSV lines in the `ESCAPE '\'`, `NULL 'null'` dialect, each ending with `row_end`.

    msgspec writes each row as a JSON array on its own line, in C: `[1,"Zoë",true,null,...]`.
    Without its brackets that line is already a row of this dialect, provided its only escapes
    are `\\` and `\"`, which the dialect reads back as `\` and `"`: strings, dates and timestamps
    are quoted, numbers and booleans are not, and an unquoted `null` is NULL (a quoted "null" is
    text). (JSON never writes a raw newline inside a value, so `]\n[` is always a row boundary.)
    A batch with any other escape, such as a control character in a name, is formatted in
    Python instead, the characters raw inside quotes.
    """
    lines = _encode_json_lines(batch)
    if b"\\" in lines and b"\\" in lines.replace(b"\\\\", b"").replace(b'\\"', b""):
        end = row_end.decode()
        return "".join(",".join(map(_csv_value, row)) + end for row in batch).encode()
    return lines.replace(b"]\n[", row_end)[1:-2] + row_end


def _csv_value(value: object) -> str:
    """One value as msgspec would write it in `_csv_batch`, with raw characters inside quotes."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, date | datetime):
        return f'"{value.isoformat()}"'
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def already_loaded(
    conn: psycopg.Connection, table: TableName, day: date, sha256: str
) -> LoadResult | None:
    """The no-op result if `<table>_loads` says this day was loaded from this very object.

    Loading it again would change nothing (loads are idempotent), so a re-run costs two queries
    instead of a read of the whole day. Deleting the day's row from `<table>_loads` forces a
    reload; so does a missing table, log or quarantine, or an empty table (the load then finds
    out what was lost).
    """
    loads = table.sibling("loads")
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL"
            " AND to_regclass(%s) IS NOT NULL",
            (table.regclass, loads.regclass, table.sibling("rejects").regclass),
        )
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(
            sql.SQL(
                "SELECT l.rows_loaded, l.rows_rejected, counts.all_rows, counts.current_rows"
                " FROM {loads} AS l, (SELECT count(*) AS all_rows, count(*)"
                " FILTER (WHERE deleted_at IS NULL) AS current_rows FROM {target}) AS counts"
                " WHERE l.snapshot_date = %s AND l.sha256 = %s AND counts.all_rows > 0"
            ).format(target=table.identifier, loads=loads.identifier),
            (day, sha256),
        )
        found = cursor.fetchone()
    if found is None:
        return None
    rows_loaded, rows_rejected, table_rows, current_rows = found
    return LoadResult(
        staged=rows_loaded,
        inserted=0,
        updated=0,
        unchanged=rows_loaded,
        rejected=rows_rejected,
        deleted=0,
        deletion_recomputed=0,
        table_rows=table_rows,
        current_rows=current_rows,
        skipped=True,
    )


# Unchanged records seen in a newer snapshot only move their snapshot_date forward.
_MOVE_FORWARD_UNCHANGED = (
    "UPDATE {target} AS t SET snapshot_date = %(snapshot_date)s FROM _load_staging AS s"
    " WHERE t.{key} = s.{key} AND t.snapshot_date < %(snapshot_date)s AND {same_values}"
)
# Write a row only when its values differ and the stored snapshot is not newer; records stored
# with the same values (moved forward above) or from a newer snapshot are not even offered.
_UPSERT = (
    "WITH written AS ("
    " INSERT INTO {target} AS t ({key}, {values}, snapshot_date)"
    " SELECT s.{key}, {staged_values}, %(snapshot_date)s"
    " FROM _load_staging AS s"
    " WHERE NOT EXISTS (SELECT FROM {target} AS t WHERE t.{key} = s.{key}"
    "  AND (t.snapshot_date > %(snapshot_date)s OR {same_values}))"
    " ON CONFLICT ({key}) DO UPDATE"
    " SET ({values}, snapshot_date) = ROW({excluded_values}, excluded.snapshot_date)"
    " WHERE t.snapshot_date <= excluded.snapshot_date"
    " AND ROW({current_values}) IS DISTINCT FROM ROW({excluded_values})"
    " RETURNING (xmax = 0) AS inserted)"
    " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written"
)
_RECORD_LOAD = (
    "INSERT INTO {loads} AS l"
    " (snapshot_date, crawl_complete, source_uri, sha256, rows_loaded, rows_rejected)"
    " VALUES (%(snapshot_date)s, %(crawl_complete)s, %(source_uri)s, %(sha256)s,"
    " {rows_loaded}, {rows_rejected})"
    " ON CONFLICT (snapshot_date) DO UPDATE SET"
    " (crawl_complete, source_uri, sha256, rows_loaded, rows_rejected, loaded_at)"
    " = ROW(excluded.crawl_complete, excluded.source_uri, excluded.sha256, excluded.rows_loaded,"
    " excluded.rows_rejected, now())"
)
# Whether a complete snapshot later than this day was loaded already (a replay, or a rebuild).
_LATER_COMPLETE_DAY = (
    "SELECT EXISTS (SELECT FROM {loads} WHERE crawl_complete AND snapshot_date > %(snapshot_date)s)"
)
# A record's deleted_at is the first complete snapshot after the last one it was seen in. The two
# statements below keep that true whatever order days are loaded in, so a replay in any order
# ends in the same state as the daily runs did. First, records whose latest snapshot is this day:
_RECOMPUTE_DELETED_FOR_SEEN = (
    "UPDATE {target} AS t SET deleted_at = later.first_complete"
    " FROM (SELECT min(snapshot_date) AS first_complete FROM {loads}"
    "  WHERE crawl_complete AND snapshot_date > %(snapshot_date)s) AS later"
    " WHERE t.snapshot_date = %(snapshot_date)s"
    " AND t.deleted_at IS DISTINCT FROM later.first_complete"
)
# Then, if this day's crawl was complete, records last seen before it and absent from it.
_MARK_DELETED = (
    "UPDATE {target} AS t SET deleted_at = %(snapshot_date)s"
    " WHERE t.snapshot_date <= %(snapshot_date)s"
    " AND (t.deleted_at IS NULL OR t.deleted_at > %(snapshot_date)s)"
    " AND NOT EXISTS (SELECT FROM _load_staging AS s WHERE s.{key} = t.{key})"
)


def _column_fragments(contract: RecordContract) -> dict[str, sql.Composable]:
    """The column lists of the statements above, from the contract. The values are every field
    but the key, constants included; a constant's staged value is its literal."""
    values = [field for field in contract.fields if not field.key]

    def listed(items: Iterable[sql.Composable]) -> sql.Composable:
        return sql.SQL(", ").join(items)

    def staged(field: Field) -> sql.Composable:
        if field.type == "constant":
            return sql.SQL("{}::{}").format(sql.Literal(field.value), sql.SQL(field.sql_type))
        return sql.SQL("s.{}").format(sql.Identifier(field.name))

    def column(prefix: str, field: Field) -> sql.Composable:
        return sql.SQL(prefix + ".{}").format(sql.Identifier(field.name))

    return {
        "key": sql.Identifier(contract.key.name),
        "values": listed(sql.Identifier(field.name) for field in values),
        "staged_values": listed(map(staged, values)),
        "excluded_values": listed(column("excluded", field) for field in values),
        "current_values": listed(column("t", field) for field in values),
        "same_values": sql.SQL(" AND ").join(
            sql.SQL("{} IS NOT DISTINCT FROM {}").format(column("t", field), staged(field))
            for field in values
        ),
        "staging_columns": listed(
            sql.SQL("{} {}").format(sql.Identifier(field.name), sql.SQL(field.sql_type))
            for field in contract.source_fields
        ),
    }


def snapshot_preview(
    conn: psycopg.Connection, table: TableName, key: str, snapshot_date: date, limit: int = 5
) -> tuple[list[str], list[tuple]]:
    """The first rows of the table as of one snapshot, for the materialization's preview."""
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT * FROM {} WHERE snapshot_date = %s ORDER BY {} LIMIT %s").format(
                table.identifier, sql.Identifier(key)
            ),
            (snapshot_date, limit),
        )
        columns = [column.name for column in cursor.description or ()]
        return columns, cursor.fetchall()
