"""Loading one day's rows into a source's table, in one transaction. No Dagster imports.

The table's columns, their types and every column list come from the source's `RecordContract`.
A load COPYs the day's rows into a staging table, then finds the day's changes in one join and
upserts them by the key (into an empty table the COPY goes straight in); how the history of
each record is kept is told in `statements`. An advisory lock per table serializes concurrent
loads of the same table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import psycopg
from psycopg import sql

from users_pipeline.contract.record import RecordContract, Row
from users_pipeline.contract.validation import Reject
from users_pipeline.warehouse.bookkeeping import lost_history, record_load
from users_pipeline.warehouse.copy_rows import copy_rows
from users_pipeline.warehouse.history import changes_stamp
from users_pipeline.warehouse.provenance import DayProvenance
from users_pipeline.warehouse.result import LoadResult
from users_pipeline.warehouse.schema import ensure_table
from users_pipeline.warehouse.statements import (
    CHANGES,
    MARK_DELETED,
    SAVE_CHANGES,
    UNSEEN,
    UPSERT,
    WOULD_DELETE,
    LoadStatements,
)
from users_pipeline.warehouse.table_name import TableName


class _Written(NamedTuple):
    staged: int
    inserted: int
    updated: int
    unseen: int
    deleted: int
    table_rows: int
    current_rows: int


def load_day(
    conn: psycopg.Connection,
    table: TableName,
    contract: RecordContract,
    row_batches: Iterable[Sequence[Row]],
    provenance: DayProvenance,
    rejects: list[Reject],
    asset: str,
    on_deletes: Callable[[int, int], None] = lambda deletes, current_rows: None,
) -> LoadResult:
    """Upsert one day's rows, record its rejects and soft deletes, in one transaction.

    `rejects` is filled while `row_batches` is consumed (see `validation.split_batches`).
    `asset` is what loads the table, named in the notices of what to run. A new latest day
    whose complete crawl lacks current rows tells `on_deletes` how many of how many current
    rows it would mark deleted, before it writes any: raising there refuses the day. Any error
    leaves every table as it was.
    """
    with conn.transaction(), conn.cursor() as cursor:
        _lock_and_plan(cursor, table)
        setup = ensure_table(conn, table, contract, defer_key=True)
        statements = LoadStatements(cursor, table, contract, provenance)
        (was_empty,) = statements.fetch("SELECT NOT EXISTS (SELECT FROM {target})")
        notices = lost_history(statements, setup, was_empty, asset)
        statements.place_in_history()
        if was_empty:
            written = _copy_into_empty(statements, row_batches, created=setup.created)
        else:
            written = _upsert_through_staging(statements, row_batches, on_deletes)
        record_load(statements, written.staged, rejects)
    return LoadResult(
        **written._asdict(),
        unchanged=written.staged - written.inserted - written.updated,
        rejected=len(rejects),
        table_changes=setup.changes,
        notices=notices,
    )


def _lock_and_plan(cursor: psycopg.Cursor, table: TableName) -> None:
    """Wait for any other load of the table, then set the planner for the day's changes.

    They are found by hashing the day against the table (`CHANGES`): in memory (a million
    records take about 100 MB), not in batches spilled to disk, and by parallel workers on a
    big table. The planner expects half the records to differ, while a day's changes are
    usually few: passing them between workers costs next to nothing."""
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"users_pipeline:{table}",))
    cursor.execute(
        "SET LOCAL work_mem = '128MB'; SET LOCAL parallel_setup_cost = 0;"
        " SET LOCAL parallel_tuple_cost = 0; SET LOCAL min_parallel_table_scan_size = '1MB'"
    )


def _copy_into_empty(
    statements: LoadStatements, row_batches: Iterable[Sequence[Row]], created: bool
) -> _Written:
    """A first load or a rebuild: the rows go straight in, with no upsert."""
    target = statements.fragments["target"]
    staged = copy_rows(
        statements.cursor, target, statements.contract, row_batches, constants=True, freeze=created
    )
    if created:
        # Building the key of a table this load created once, after the COPY, takes a
        # quarter less time than updating it row by row (measured at 100k and 1M rows).
        statements.run("ALTER TABLE {target} ADD PRIMARY KEY ({key})")
    if not statements.is_latest:
        # Days without rows survive an emptied table: one of them is later than this.
        statements.run("UPDATE {target} SET (last_seen, deleted_at) = ROW(%(seen)s, %(gone)s)")
    current_rows = 0 if statements.params["gone"] else staged
    return _Written(staged, staged, 0, 0, 0, staged, current_rows)


def _upsert_through_staging(
    statements: LoadStatements,
    row_batches: Iterable[Sequence[Row]],
    on_deletes: Callable[[int, int], None],
) -> _Written:
    """The day through a staging table: its changes in one join, then written."""
    # Unlogged, not temporary: parallel workers can read it (see `CHANGES`). Nobody else
    # sees it: it is dropped before the commit, or rolled back with the statements.
    statements.run("CREATE UNLOGGED TABLE {staging} ({staging_columns})")
    staging = statements.fragments["staging"]
    staged = copy_rows(
        statements.cursor, staging, statements.contract, row_batches, constants=False, freeze=True
    )
    # Its size and keys are all the planner needs to hash it (statistics of the values
    # would cost as much as the comparison).
    statements.run("ANALYZE {staging} ({key})")
    statements.run(CHANGES, unchanged=statements.unchanged_condition())
    statements.run("DROP TABLE {staging}")
    if statements.params["newer"]:
        params = statements.params
        stamp = changes_stamp(params["snapshot_date"], params["sha256"], params["previous_latest"])
        for statement in SAVE_CHANGES:
            statements.run(statement, stamp=sql.Literal(stamp))
    if statements.params["deleted_now"]:
        (deletes,) = statements.fetch(WOULD_DELETE)
        if deletes:
            (current_rows,) = statements.fetch(
                "SELECT count(*) FROM {target} WHERE deleted_at IS NULL"
            )
            on_deletes(deletes, current_rows)
    inserted, updated = statements.fetch(UPSERT)
    unseen = statements.run(UNSEEN) if statements.is_latest else 0
    deleted = unseen if statements.params["deleted_now"] else 0
    deleted += statements.run(MARK_DELETED) if statements.provenance.crawl_complete else 0
    table_rows, current_rows = statements.fetch(
        "SELECT count(*), count(*) FILTER (WHERE deleted_at IS NULL) FROM {target}"
    )
    return _Written(staged, inserted, updated, unseen, deleted, table_rows, current_rows)
