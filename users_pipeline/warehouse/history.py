"""Every version of every record, derived from the archived days: `<table>_history`. No Dagster
imports.

A version is a record's values over a span of snapshot days: `valid_from` is the first day with
those values, `valid_to` the first day on which they no longer held (changed, or absent from a
complete snapshot), NULL while they still hold. The history is a function of the days it holds
(`<table>_hdays`), read in date order, with the rules the table follows: only a complete
crawl's absences close a version (an incomplete day's prove nothing), a rejected record counts
as absent, and a record that returns opens a new version.

A new latest day is applied to the current versions: those it contradicts are closed, and its
new values opened. When the table's load of that day found its changes against the history's
latest day (`<table>_changes`, the usual daily case), only those few are compared; otherwise the
archived day is staged and compared whole. A day before the history's latest (a past day loaded
late, or a day loaded again) truncates the history at that day, which leaves exactly the
versions of the days before it, and replays it and every later day from the archive, so loads
in any order end in the same history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import psycopg
from psycopg import sql

from users_pipeline.contract.columns import history_columns
from users_pipeline.contract.record import RecordContract, Row
from users_pipeline.warehouse.copy_rows import copy_rows
from users_pipeline.warehouse.statements import column_fragments
from users_pipeline.warehouse.table_name import TableName

# Each day held, with the history's counts once it was applied: the history after a day is a
# function of the days up to it, so the counts after the latest day held are the history's,
# also once later days are cut off (and no day's count needs a scan of the history).
_HISTORY_DAYS = (
    "CREATE TABLE IF NOT EXISTS {history_days} (snapshot_date date PRIMARY KEY,"
    " crawl_complete boolean NOT NULL, sha256 text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now());"
    " ALTER TABLE {history_days} ADD COLUMN IF NOT EXISTS versions bigint,"
    " ADD COLUMN IF NOT EXISTS current_versions bigint"
)
_COUNTS = (
    "SELECT versions, current_versions FROM {history_days} ORDER BY snapshot_date DESC LIMIT 1"
)
_COUNTED = "SELECT count(*), count(*) FILTER (WHERE valid_to IS NULL) FROM {history}"
_KEYS = (
    "ALTER TABLE {history} ADD PRIMARY KEY ({key}, valid_from)",
    "CREATE UNIQUE INDEX ON {history} ({key}) WHERE valid_to IS NULL",
)
# Its columns are spelled out, not the history's row type, so the function never stands in
# the way of dropping the history (a rebuild); it is made again with each day applied.
_AS_OF = (
    "DROP FUNCTION IF EXISTS {as_of}(date)",
    "CREATE FUNCTION {as_of}(day date) RETURNS TABLE ({returned})"
    " LANGUAGE sql STABLE AS $$ SELECT {selected} FROM {history}"
    " WHERE valid_from <= day AND (valid_to IS NULL OR valid_to > day) $$",
)
# The day's changes against the current versions, from the whole staged day: a record whose
# values differ or that is new (seen), or, on a complete day, a current version it lacks.
_STAGED_CHANGES = (
    "CREATE TEMPORARY TABLE _history_changes ON COMMIT DROP AS"
    " SELECT coalesce(s.{key}, t.{key}) AS {key}, {source_values}, s.{key} IS NOT NULL AS seen"
    " FROM {staging} AS s FULL JOIN (SELECT * FROM {history} WHERE valid_to IS NULL) AS t"
    " ON t.{key} = s.{key}"
    " WHERE CASE WHEN s.{key} IS NOT NULL THEN t.{key} IS NULL OR NOT ({same_values})"
    " ELSE %(complete)s END"
)
# Changes this few against the current versions are looked up one by one in the history's
# index; the planner, which cannot tell that a day's changes are few, would rather read the
# whole history (at a million versions, 0.39 s against 0.09 s for 10,000 changes).
FEW_CHANGES_SHARE = 0.05
_LOOK_UP = ("SET LOCAL enable_hashjoin = off", "SET LOCAL enable_mergejoin = off")
_JOIN = ("SET LOCAL enable_hashjoin = on", "SET LOCAL enable_mergejoin = on")
# The table's changes may name records the history already agrees with (one back, unchanged,
# after an incomplete day): each is compared again.
_CLOSE = (
    "UPDATE {history} AS t SET valid_to = %(day)s FROM {changes} AS s"
    " WHERE s.{key} = t.{key} AND t.valid_to IS NULL"
    " AND CASE WHEN s.seen THEN NOT ({same_values}) ELSE %(complete)s END"
)
_OPEN = (
    "INSERT INTO {history} ({key}, {values}, valid_from)"
    " SELECT s.{key}, {staged_values}, %(day)s FROM {changes} AS s WHERE s.seen"
    " AND NOT EXISTS (SELECT FROM {history} AS t WHERE t.{key} = s.{key} AND t.valid_to IS NULL)"
)
# The history as the days before `day` left it.
_TRUNCATE = (
    "DELETE FROM {history} WHERE valid_from >= %(day)s",
    "UPDATE {history} SET valid_to = NULL WHERE valid_to >= %(day)s",
    "DELETE FROM {history_days} WHERE snapshot_date >= %(day)s",
)


@dataclass(frozen=True)
class HistoryDay:
    """A day as the archive holds it, and its valid rows as they are read (once, if at all)."""

    day: date
    sha256: str
    complete: bool  # its absences close versions
    rows: Callable[[], Iterable[Sequence[Row]]]


@dataclass(frozen=True)
class HistoryResult:
    """What applying a day did: versions opened and closed (replayed later days included)."""

    opened: int
    closed: int
    replayed: list[date]  # later days applied again after a past day
    versions: int  # rows in the history
    current: int  # of which current
    skipped: bool = False  # the history already held this very snapshot of the day


def apply_day(
    conn: psycopg.Connection,
    table: TableName,
    contract: RecordContract,
    day: HistoryDay,
    archived: Callable[[date], HistoryDay],
) -> HistoryResult:
    """Bring `day` into the history, in one transaction; `archived` gives any later day the
    history holds, to replay after a past day."""
    with conn.transaction(), conn.cursor() as cursor:
        history = _History(cursor, table, contract)
        held = history.ensure()
        if held.get(day.day) == day.sha256:
            return history.result(0, 0, [], skipped=True)
        later = sorted(d for d in held if d > day.day)
        if later or day.day in held:
            for statement in _TRUNCATE:
                history.run(statement, day=day.day)
        opened, closed = history.apply(day)
        for again in later:
            more = history.apply(archived(again))
            opened, closed = opened + more[0], closed + more[1]
        return history.result(opened, closed, later)


class _History:
    """The statements of one history transaction, on one cursor."""

    def __init__(self, cursor: psycopg.Cursor, table: TableName, contract: RecordContract):
        self.cursor, self.table, self.contract = cursor, table, contract
        self.fragments = {
            "history": table.history.identifier,
            "history_days": table.history_days.identifier,
            "changes": sql.Identifier("_history_changes"),
            "table_changes": table.changes.identifier,
            "staging": sql.Identifier("_history_staging"),
            "loads": table.loads.identifier,
            "as_of": table.as_of,
            **column_fragments(contract),
        }

    def run(self, statement: str, **params: object) -> int:
        self.cursor.execute(sql.SQL(statement).format(**self.fragments), params or None)
        return self.cursor.rowcount

    def one(self, statement: str, **params: object) -> tuple:
        self.run(statement, **params)
        return self.cursor.fetchone()

    def ensure(self) -> dict[date, str]:
        """Create the history beside the table on first use and the as-of function, or bring
        an existing one to the contract; the days it holds, with each one's sha256."""
        self.cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))",
            (f"users_pipeline:{self.table.history}",),
        )
        self.run("SET LOCAL work_mem = '128MB'")
        (exists,) = self.one("SELECT to_regclass(%(name)s)", name=self.table.history.regclass)
        history, columns = self.fragments["history"], history_columns(self.contract)
        if exists is None:
            listed = sql.SQL(", ").join(
                sql.SQL("{} {}{}").format(
                    sql.Identifier(column.name),
                    sql.SQL(column.sql_type),
                    sql.SQL("" if column.nullable else " NOT NULL"),
                )
                for column in columns
            )
            self.cursor.execute(sql.SQL("CREATE TABLE {} ({})").format(history, listed))
        for column in columns if exists else ():  # a field declared since: NULL before
            self.cursor.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                    history, sql.Identifier(column.name), sql.SQL(column.sql_type)
                )
            )
        self.run(_HISTORY_DAYS)
        returned = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(column.name), sql.SQL(column.sql_type))
            for column in columns
        )
        selected = sql.SQL(", ").join(sql.Identifier(column.name) for column in columns)
        for statement in _AS_OF:
            self.cursor.execute(
                sql.SQL(statement).format(returned=returned, selected=selected, **self.fragments)
            )
        return self.held()

    def held(self) -> dict[date, str]:
        """The days the history holds, with the sha256 of each one's snapshot."""
        self.run("SELECT snapshot_date, sha256 FROM {history_days}")
        return dict(self.cursor.fetchall())

    def apply(self, day: HistoryDay) -> tuple[int, int]:
        """`day` after every day the history holds: (versions opened, versions closed)."""
        params = {"day": day.day, "complete": day.complete}
        held = self.held()
        versions, current = self.counts() if held else (0, 0)
        if not held:
            opened, closed = self._copy_first(day), 0
        else:
            few = self._changes(day, held) <= FEW_CHANGES_SHARE * current
            for statement in _LOOK_UP if few else ():
                self.run(statement)
            closed = self.run(_CLOSE, **params)
            opened = self.run(_OPEN, **params)
            for statement in _JOIN if few else ():
                self.run(statement)
            self.run("DROP TABLE IF EXISTS _history_staging, _history_changes")
        self.run(
            "INSERT INTO {history_days} (snapshot_date, crawl_complete, sha256, versions,"
            " current_versions) VALUES (%(day)s, %(complete)s, %(sha256)s, %(versions)s,"
            " %(current)s)",
            **params,
            sha256=day.sha256,
            versions=versions + opened,
            current=current + opened - closed,
        )
        return opened, closed

    def counts(self) -> tuple[int, int]:
        """The history's versions, and of them current, as its latest day left them (counted
        where a day held from before the counts were kept has none)."""
        counts = self.one(_COUNTS)
        return self.one(_COUNTED) if counts is None or None in counts else counts

    def result(
        self, opened: int, closed: int, replayed: list[date], skipped: bool = False
    ) -> HistoryResult:
        return HistoryResult(opened, closed, replayed, *self.counts(), skipped)

    def _copy_first(self, day: HistoryDay) -> int:
        """The first day into an empty history, every record's version opened that day, as
        fast as the table's first load: a COPY into a table emptied in this transaction,
        frozen, its keys built after."""
        self.run("TRUNCATE {history}")
        default = sql.Literal(day.day).as_string(self.cursor)
        self.run(f"ALTER TABLE {{history}} ALTER valid_from SET DEFAULT {default}")
        copied = copy_rows(
            self.cursor, self.fragments["history"], self.contract, day.rows(),
            constants=True, freeze=True,
        )  # fmt: skip
        self.run("ALTER TABLE {history} ALTER valid_from DROP DEFAULT")
        (keyed,) = self.one(
            "SELECT EXISTS (SELECT FROM pg_index WHERE indrelid = %(name)s::regclass"
            " AND indisprimary)",
            name=self.table.history.regclass,
        )
        for statement in () if keyed else _KEYS:
            self.run(statement)
        return copied

    def _changes(self, day: HistoryDay, held: dict[date, str]) -> int:
        """`_history_changes`: the day's changes against the current versions, and how many.
        The table's own, when its load of this very snapshot found them against the same days
        the history holds; else from the whole archived day, staged."""
        if self._table_changes_hold(day, held):
            return self.run(
                "CREATE TEMPORARY TABLE _history_changes ON COMMIT DROP AS"
                " SELECT * FROM {table_changes}"
            )
        self.run("CREATE TEMPORARY TABLE _history_staging ({staging_columns}) ON COMMIT DROP")
        copy_rows(
            self.cursor, self.fragments["staging"], self.contract, day.rows(),
            constants=False, freeze=False,
        )  # fmt: skip
        self.run("ANALYZE _history_staging")
        return self.run(_STAGED_CHANGES, complete=day.complete)

    def _table_changes_hold(self, day: HistoryDay, held: dict[date, str]) -> bool:
        (stamp,) = self.one(
            "SELECT obj_description(to_regclass(%(name)s), 'pg_class')",
            name=self.table.changes.regclass,
        )
        if stamp != changes_stamp(day.day, day.sha256, max(held)):
            return False
        self.run(
            "SELECT snapshot_date, sha256 FROM {loads} WHERE snapshot_date < %(day)s", day=day.day
        )
        return dict(self.cursor.fetchall()) == held


def changes_stamp(day: date, sha256: str, since: date) -> str:
    """What the table's load writes on `<table>_changes`: the snapshot whose changes it holds,
    and the latest day before it they were found against."""
    return f"{day} {sha256} since {since}"
