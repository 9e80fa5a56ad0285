"""The Postgres side: a source's table, and loading a day's snapshot into it. No Dagster imports.

The table's columns, their types and every column list below come from the source's
`RecordContract`. A load is one transaction: COPY the day's rows into a temporary staging table,
then one set-based upsert by the key (into an empty table the COPY goes straight in).

A row's `last_seen` is kept relative to the latest snapshot loaded: NULL while the record is in
it, a date once it is not. So a day writes a row version only for a record that is new, changed,
gone or back; a day on which nothing changed writes none, and re-running a day writes nothing.
An older day replayed never overwrites newer data, and replaying days in any order ends in the
same table. An advisory lock per table serializes concurrent loads of the same table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import msgspec
import psycopg
from psycopg import sql

from users_pipeline.contract.record import Field, RecordContract, Row
from users_pipeline.contract.validation import Reject
from users_pipeline.errors import PipelineError

# PostgreSQL truncates identifiers at 63 bytes; 55 leaves room for the siblings (`_rejects`,
# `_staging`).
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,54}")
# The last_seen of rows whose last sighting is unknown (adopted from a table made elsewhere, or
# left by a lost `_loads` log): before any real day, so any real day supersedes them.
UNKNOWN_LAST_SEEN = date(1970, 1, 1)


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
    TableColumn(
        "last_seen", "date", True, "Latest snapshot with the record; NULL: the latest one loaded"
    ),
    TableColumn("deleted_at", "date", True, "First complete snapshot without it; NULL = current"),
)
# The column that held every record's latest snapshot (a write per record a day), before
# `last_seen`: a table that has it is migrated.
FORMER_SNAPSHOT_COLUMN = "snapshot_date"


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
    deleted: int  # records absent from this complete snapshot, newly marked deleted
    unseen: int  # records of the previous latest snapshot absent from this one
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
    changes = []
    if {FORMER_SNAPSHOT_COLUMN, "deleted_at"} <= existing.keys() and "last_seen" not in existing:
        changes.append(_migrate_snapshot_date(conn, table))
        existing = _existing_columns(conn, table)
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
    for column in table_columns(contract):
        if fits.get(column.name) == "widen":
            statement = sql.SQL("ALTER TABLE {} ALTER {} TYPE {}")
            conn.execute(
                statement.format(target, sql.Identifier(column.name), sql.SQL(column.sql_type))
            )
            changes.append(f"widened column {column.name} to {column.sql_type}")
        if column.name in existing:
            continue
        # Added nullable: the rows already there have no value. Adopted rows were last seen
        # on an unknown day: the date before any snapshot.
        adopted = column.name == "last_seen"
        default = f" DEFAULT DATE '{UNKNOWN_LAST_SEEN}'" if adopted else ""
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                target, sql.Identifier(column.name), sql.SQL(column.sql_type + default)
            )
        )
        if adopted:
            conn.execute(sql.SQL("ALTER TABLE {} ALTER last_seen DROP DEFAULT").format(target))
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


def _migrate_snapshot_date(conn: psycopg.Connection, table: TableName) -> str:
    """Turn the former `snapshot_date` (every record's latest snapshot, rewritten daily) into
    `last_seen`: the same dates, NULL for the records seen in the latest snapshot loaded."""
    target, loads = table.identifier, table.sibling("loads")
    conn.execute(
        sql.SQL("ALTER TABLE {} RENAME {} TO last_seen").format(
            target, sql.Identifier(FORMER_SNAPSHOT_COLUMN)
        )
    )
    conn.execute(sql.SQL("ALTER TABLE {} ALTER last_seen DROP NOT NULL").format(target))
    has_log = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (loads.regclass,)).fetchone()[0]
    latest_in = (
        sql.SQL("SELECT max(snapshot_date) FROM {}").format(loads.identifier)
        if has_log
        else sql.SQL("SELECT max(last_seen) FROM {}").format(target)
    )
    latest_seen = conn.execute(
        sql.SQL(
            "UPDATE {} SET last_seen = NULL WHERE last_seen = ({}) AND deleted_at IS NULL"
        ).format(target, latest_in)
    ).rowcount
    return (
        f"replaced {FORMER_SNAPSHOT_COLUMN} by last_seen, NULL for the {latest_seen} records in"
        " the latest snapshot"
    )


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
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"users_pipeline:{table}",))
        # The day's changes are found by hashing the day against the table (`_CHANGES`): in
        # memory (a million records take about 100 MB), not in batches spilled to disk, and by
        # parallel workers on a big table. The planner expects half the records to differ, while
        # a day's changes are usually few: passing them between workers costs next to nothing.
        cursor.execute(
            "SET LOCAL work_mem = '128MB'; SET LOCAL parallel_setup_cost = 0;"
            " SET LOCAL parallel_tuple_cost = 0; SET LOCAL min_parallel_table_scan_size = '1MB'"
        )
        setup = ensure_table(conn, table, contract, defer_key=True)
        load = _DayLoad(cursor, table, contract, day)
        load.run("SELECT NOT EXISTS (SELECT FROM {target})")
        (was_empty,) = cursor.fetchone()
        notices = load.lost_history(setup, was_empty)
        load.place_in_history()
        if was_empty:
            staged = load.copy_rows(row_batches, into="target", freeze=setup.created)
            if setup.created:
                # Building the key of a table this load created once, after the COPY, takes a
                # quarter less time than updating it row by row (measured at 100k and 1M rows).
                load.run("ALTER TABLE {target} ADD PRIMARY KEY ({key})")
            if not load.is_latest:
                # Days without rows survive an emptied table: one of them is later than this.
                load.run("UPDATE {target} SET (last_seen, deleted_at) = ROW(%(seen)s, %(gone)s)")
            inserted, updated, unseen, deleted = staged, 0, 0, 0
            table_rows, current_rows = staged, 0 if load.params["gone"] else staged
        else:
            # Unlogged, not temporary: parallel workers can read it (see `_CHANGES`). Nobody else
            # sees it: it is dropped before the commit, or rolled back with the load.
            load.run("CREATE UNLOGGED TABLE {staging} ({staging_columns})")
            staged = load.copy_rows(row_batches, into="staging", freeze=True)
            # Its size and keys are all the planner needs to hash it (statistics of the values
            # would cost as much as the comparison).
            load.run("ANALYZE {staging} ({key})")
            load.run(_CHANGES, unchanged=load.unchanged_condition())
            load.run("DROP TABLE {staging}")
            load.run(_UPSERT)
            inserted, updated = cursor.fetchone()
            unseen = load.run(_UNSEEN) if load.is_latest else 0
            deleted = unseen if load.params["deleted_now"] else 0
            deleted += load.run(_MARK_DELETED) if day.crawl_complete else 0
            load.run("SELECT count(*), count(*) FILTER (WHERE deleted_at IS NULL) FROM {target}")
            table_rows, current_rows = cursor.fetchone()
        load.run(
            _RECORD_LOAD, rows_loaded=sql.Literal(staged), rows_rejected=sql.Literal(len(rejects))
        )
        load.replace_rejects(rejects)
    return LoadResult(
        staged=staged,
        inserted=inserted,
        updated=updated,
        unchanged=staged - inserted - updated,
        rejected=len(rejects),
        deleted=deleted,
        unseen=unseen,
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
        self.params: dict[str, object] = {
            "snapshot_date": day.snapshot_date,
            "crawl_complete": day.crawl_complete,
            "source_uri": day.source_uri,
            "sha256": day.sha256,
            "unknown": UNKNOWN_LAST_SEEN,
        }
        self.fragments = {
            "target": table.identifier,
            "loads": table.sibling("loads").identifier,
            "rejects": table.sibling("rejects").identifier,
            "staging": table.sibling("staging").identifier,
            **_column_fragments(contract),
        }

    def place_in_history(self) -> None:
        """Where this day stands among the days loaded: the latest (or a new latest) one, whose
        records get `last_seen` NULL, or an older one, whose records get its date and the
        `deleted_at` of the first complete snapshot after it."""
        day = self.day.snapshot_date
        self.run(
            "SELECT max(snapshot_date), min(snapshot_date) FILTER"
            " (WHERE crawl_complete AND snapshot_date > %(snapshot_date)s) FROM {loads}"
        )
        previous_latest, first_complete_after = self.cursor.fetchone()
        self.params["is_latest"] = previous_latest is None or day >= previous_latest
        newer = previous_latest is not None and day > previous_latest
        self.params |= {
            "seen": None if self.is_latest else day,
            "gone": None if self.is_latest else first_complete_after,
            # The records of the previous latest snapshot that this one lacks were last seen
            # in it (in an earlier load of this very day, if it is loaded again).
            "previous_latest": previous_latest or day,
            "deleted_now": day if newer and self.day.crawl_complete else None,
        }

    @property
    def is_latest(self) -> bool:
        return bool(self.params.get("is_latest", True))

    def unchanged_condition(self) -> sql.Composable:
        """When a stored row `t` already says what this day says about its record."""
        if self.is_latest:
            return sql.SQL("t.last_seen IS NULL AND {}").format(self.fragments["same_values"])
        return sql.SQL(
            "(t.last_seen IS NULL OR t.last_seen > %(snapshot_date)s"
            " OR (t.last_seen = %(snapshot_date)s AND {}))"
        ).format(self.fragments["same_values"])

    def run(self, statement: str, **fragments: sql.Composable) -> int:
        self.cursor.execute(sql.SQL(statement).format(**self.fragments, **fragments), self.params)
        return self.cursor.rowcount

    def copy_rows(self, row_batches: Iterable[Sequence[Row]], into: str, freeze: bool) -> int:
        """COPY every row, a batch at a time as CSV formatted in C (`_csv_batch`). Batches are
        small (see `BATCH_BYTES`), so the server parses one on its core while this process
        decodes and formats the next. Into the target, each row ends with the constants.

        `freeze`, for a table created in this transaction, writes the rows frozen: the first
        read after the load (the next day's) then has no hint bits to set, page by page."""
        names = [field.name for field in self.contract.source_fields]
        target = self.fragments["staging"]
        row_end = "\n"
        if into == "target":
            names += [field.name for field in self.contract.constants]
            target = self.fragments["target"]
            ends = [field.value for field in self.contract.constants]
            row_end = "".join(f",{_csv_value(value)}" for value in ends) + "\n"
        statement = sql.SQL(
            "COPY {} ({}) FROM STDIN"
            " WITH (FORMAT csv, ESCAPE '\\', NULL 'null', ENCODING 'UTF8', FREEZE {})"
        ).format(target, sql.SQL(", ").join(map(sql.Identifier, names)), sql.Literal(freeze))
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
        day loads in full again. A log created beside a table with rows leaves the records it
        held as the latest snapshot's with an unknown last sighting. A quarantine created beside
        a log cannot know the other days' rejects. The notices say what to load again."""
        table = self.table
        loads, rejects = table.sibling("loads"), table.sibling("rejects")
        notices = []
        in_one_run = "(one run: --partition-range FIRST...LAST)"
        rebuild = f"materialize pg_users_table for those days {in_one_run}"
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
            unknown = self.run(
                "UPDATE {target} SET last_seen = %(unknown)s WHERE last_seen IS NULL"
            )
            if unknown:
                notices.append(
                    f"{loads} was missing, so it now lists only {self.day.snapshot_date}, and the"
                    f" {unknown} records {table} held as seen in the latest snapshot now count as"
                    f" last seen on {UNKNOWN_LAST_SEEN}; to rebuild its history from the archived"
                    f" days, {rebuild}"
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
                    f" rejects on {with_rejects}; to restore them, materialize"
                    f" pg_users_table for those days with config reload: true {in_one_run}"
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
        unseen=0,
        table_rows=table_rows,
        current_rows=current_rows,
        skipped=True,
    )


# The day's changes, found in one pass over the table and the staged day (the costly part of a
# load): every record the day says something new about (`unchanged_condition`: new, changed,
# back, or, for an older day, seen later than the stored row says), and every stored record the
# day lacks that the statements below update. A day without changes yields no row.
_CHANGES = (
    "CREATE TEMPORARY TABLE _load_changes ON COMMIT DROP AS"
    " SELECT coalesce(s.{key}, t.{key}) AS {key}, {source_values}, s.{key} IS NOT NULL AS seen"
    " FROM {staging} AS s FULL JOIN {target} AS t ON t.{key} = s.{key}"
    " WHERE CASE WHEN s.{key} IS NOT NULL THEN t.{key} IS NULL OR NOT ({unchanged})"
    " WHEN t.last_seen IS NULL THEN %(is_latest)s"
    " ELSE %(crawl_complete)s AND t.last_seen < %(snapshot_date)s"
    " AND (t.deleted_at IS NULL OR t.deleted_at > %(snapshot_date)s) END"
)
# Write the records the day says something new about.
_UPSERT = (
    "WITH written AS ("
    " INSERT INTO {target} AS t ({key}, {values}, last_seen, deleted_at)"
    " SELECT s.{key}, {staged_values}, %(seen)s, %(gone)s"
    " FROM _load_changes AS s WHERE s.seen"
    " ON CONFLICT ({key}) DO UPDATE"
    " SET ({values}, last_seen, deleted_at)"
    " = ROW({excluded_values}, excluded.last_seen, excluded.deleted_at)"
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
# A record's deleted_at is the first complete snapshot after the last one it was seen in. With
# the upsert above, the two statements below keep that true whatever order days are loaded in,
# so a replay in any order ends in the same table as the daily runs. For a new latest day, the
# records of the previous latest snapshot that it lacks get their last sighting, and are
# deleted if this day's crawl is complete:
_UNSEEN = (
    "UPDATE {target} AS t SET (last_seen, deleted_at) = ROW(%(previous_latest)s, %(deleted_now)s)"
    " FROM _load_changes AS c WHERE c.{key} = t.{key} AND NOT c.seen AND t.last_seen IS NULL"
)
# Then, if this day's crawl was complete, records last seen before it and absent from it.
_MARK_DELETED = (
    "UPDATE {target} AS t SET deleted_at = %(snapshot_date)s"
    " FROM _load_changes AS c WHERE c.{key} = t.{key} AND NOT c.seen"
    " AND t.last_seen < %(snapshot_date)s"
    " AND (t.deleted_at IS NULL OR t.deleted_at > %(snapshot_date)s)"
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
        "source_values": listed(
            sql.SQL("s.{0} AS {0}").format(sql.Identifier(field.name))
            for field in contract.source_fields
            if not field.key
        ),
        "staging_columns": listed(
            sql.SQL("{} {}").format(sql.Identifier(field.name), sql.SQL(field.sql_type))
            for field in contract.source_fields
        ),
    }


def snapshot_preview(
    conn: psycopg.Connection, table: TableName, key: str, snapshot_date: date, limit: int = 5
) -> tuple[list[str], list[tuple]]:
    """The first rows whose latest sighting is this snapshot, for the materialization's preview:
    `last_seen` NULL if it is the latest loaded, its date if not."""
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "SELECT * FROM {t} WHERE last_seen IS NOT DISTINCT FROM"
                " (SELECT CASE WHEN max(snapshot_date) > %(day)s THEN %(day)s END FROM {loads})"
                " ORDER BY {key} LIMIT %(limit)s"
            ).format(
                t=table.identifier, loads=table.sibling("loads").identifier, key=sql.Identifier(key)
            ),
            {"day": snapshot_date, "limit": limit},
        )
        columns = [column.name for column in cursor.description or ()]
        return columns, cursor.fetchall()
