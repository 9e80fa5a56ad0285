"""The `_loads` log and the `_rejects` quarantine beside a table: whether a day is already
loaded, what a dropped or emptied table lost, and recording a statements. No Dagster imports."""

from __future__ import annotations

from datetime import date

import psycopg
from psycopg import sql

from users_pipeline.contract.columns import UNKNOWN_LAST_SEEN
from users_pipeline.contract.validation import Reject
from users_pipeline.warehouse.result import LoadResult
from users_pipeline.warehouse.schema import TableSetup
from users_pipeline.warehouse.statements import LoadStatements
from users_pipeline.warehouse.table_name import TableName

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
_IN_ONE_RUN = "(one run: --partition-range FIRST...LAST)"


def already_loaded(
    conn: psycopg.Connection, table: TableName, day: date, sha256: str
) -> LoadResult | None:
    """The no-op result if `<table>_loads` says this day was loaded from this very object.

    Loading it again would change nothing (loads are idempotent), so a re-run costs two queries
    instead of a read of the whole day. Deleting the day's row from `<table>_loads` forces a
    reload; so does a missing table, log or quarantine, or an empty table (the load then finds
    out what was lost).
    """
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL"
            " AND to_regclass(%s) IS NOT NULL",
            (table.regclass, table.loads.regclass, table.rejects.regclass),
        )
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(
            sql.SQL(
                "SELECT l.rows_loaded, l.rows_rejected, counts.all_rows, counts.current_rows"
                " FROM {loads} AS l, (SELECT count(*) AS all_rows, count(*)"
                " FILTER (WHERE deleted_at IS NULL) AS current_rows FROM {target}) AS counts"
                " WHERE l.snapshot_date = %s AND l.sha256 = %s AND counts.all_rows > 0"
            ).format(target=table.identifier, loads=table.loads.identifier),
            (day, sha256),
        )
        found = cursor.fetchone()
    if found is None:
        return None
    rows_loaded, rows_rejected, table_rows, current_rows = found
    return LoadResult.of_skipped_day(rows_loaded, rows_rejected, table_rows, current_rows)


def previous_load(conn: psycopg.Connection, table: TableName, day: date) -> tuple[date, int] | None:
    """The latest day `<table>_loads` lists before `day`, and the valid rows it loaded."""
    query = sql.SQL(
        "SELECT snapshot_date, rows_loaded FROM {} WHERE snapshot_date < %s"
        " ORDER BY snapshot_date DESC LIMIT 1"
    ).format(table.loads.identifier)
    with conn.cursor() as cursor:
        cursor.execute(query, (day,))
        found = cursor.fetchone()
    return None if found is None else (found[0], found[1])


def lost_history(
    statements: LoadStatements, setup: TableSetup, was_empty: bool, asset: str
) -> list[str]:
    """Keep the bookkeeping true to the table, and say what a dropped table lost; `asset` is
    what loads the table, named in what to run about it.

    The `_loads` log of an empty table (dropped or emptied) lists no day with rows, so every
    day loads in full again. A log created beside a table with rows leaves the records it
    held as the latest snapshot's with an unknown last sighting. A quarantine created beside
    a log cannot know the other days' rejects. The notices say what to load again."""
    rebuild = f"materialize {asset} for those days {_IN_ONE_RUN}"
    notices = []
    if was_empty:
        notices += _forgotten_days(statements, rebuild)
    elif setup.loads_created:
        notices += _unknown_sightings(statements, rebuild)
    if setup.rejects_created and not setup.loads_created:
        notices += _lost_rejects(statements, asset)
    return notices


def _forgotten_days(statements: LoadStatements, rebuild: str) -> list[str]:
    """Forget the days the log lists with rows the empty table no longer holds."""
    forgotten = _days(
        statements,
        "DELETE FROM {loads} WHERE rows_loaded > 0 AND snapshot_date <> %(snapshot_date)s"
        " RETURNING snapshot_date",
    )
    if not forgotten:
        return []
    table = statements.table
    return [
        f"{table} was empty while {table.loads} listed {forgotten}:"
        f" they will load in full again; to rebuild the table, {rebuild}"
    ]


def _unknown_sightings(statements: LoadStatements, rebuild: str) -> list[str]:
    """Without a log, the records seen in the latest snapshot were last seen on a day unknown."""
    unknown = statements.run("UPDATE {target} SET last_seen = %(unknown)s WHERE last_seen IS NULL")
    if not unknown:
        return []
    table, day = statements.table, statements.provenance.snapshot_date
    return [
        f"{table.loads} was missing, so it now lists only {day}, and the {unknown} records"
        f" {table} held as seen in the latest snapshot now count as last seen on"
        f" {UNKNOWN_LAST_SEEN}; to rebuild its history from the archived days, {rebuild}"
    ]


def _lost_rejects(statements: LoadStatements, asset: str) -> list[str]:
    """A new quarantine holds this day's rejects only, while the log lists others."""
    with_rejects = _days(
        statements,
        "SELECT snapshot_date FROM {loads}"
        " WHERE rows_rejected > 0 AND snapshot_date <> %(snapshot_date)s",
    )
    if not with_rejects:
        return []
    table, day = statements.table, statements.provenance.snapshot_date
    return [
        f"{table.rejects} was missing, so it now holds only the rejects of {day}, while"
        f" {table.loads} lists rejects on {with_rejects}; to restore them, materialize {asset}"
        f" for those days with config reload: true {_IN_ONE_RUN}"
    ]


def _days(statements: LoadStatements, statement: str) -> str:
    """The dates a statement returns, as `3 days (2026-05-01 to 2026-05-03)`, or ''."""
    statements.run(statement)
    found = sorted(day for (day,) in statements.cursor.fetchall())
    if not found:
        return ""
    if len(found) == 1:
        return f"1 day ({found[0]})"
    return f"{len(found)} days ({found[0]} to {found[-1]})"


def record_load(statements: LoadStatements, staged: int, rejects: list[Reject]) -> None:
    """Log the day in `_loads`, and replace its rejects in `_rejects`."""
    statements.run(
        _RECORD_LOAD, rows_loaded=sql.Literal(staged), rows_rejected=sql.Literal(len(rejects))
    )
    statements.run("DELETE FROM {rejects} WHERE snapshot_date = %(snapshot_date)s")
    statement = sql.SQL(
        "COPY {} (snapshot_date, record_number, record_key, reason, record) FROM STDIN"
    ).format(statements.fragments["rejects"])
    with statements.cursor.copy(statement) as copy:
        for reject in rejects:
            copy.write_row(
                reject.as_row(statements.provenance.snapshot_date, statements.contract.key.name)
            )
