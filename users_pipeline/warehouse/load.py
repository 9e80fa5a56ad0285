"""Loading one day's rows into a source's table, in one transaction. No Dagster imports.

The table's columns, their types and every column list come from the source's `RecordContract`.
A load COPYs the day's rows into a staging table, then finds the day's changes in one join and
upserts them by the key (into an empty table the COPY goes straight in); how the history of
each record is kept is told in `statements`. A new latest day stages only the rows whose hash
differs from the previous day's, when it may (see `row_hashes`). An advisory lock per table
serializes concurrent loads of the same table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import numpy as np
import psycopg
from psycopg import sql

from users_pipeline.contract.record import RecordContract, Row
from users_pipeline.contract.validation import Reject
from users_pipeline.warehouse.bookkeeping import lost_history, record_load
from users_pipeline.warehouse.copy_rows import copy_rows
from users_pipeline.warehouse.history import changes_stamp
from users_pipeline.warehouse.provenance import DayProvenance
from users_pipeline.warehouse.result import LoadResult
from users_pipeline.warehouse.row_hashes import (
    ChangedRows,
    DayHashes,
    hashed,
    keep_hashes,
    previous_hashes,
)
from users_pipeline.warehouse.schema import TableSetup, ensure_table
from users_pipeline.warehouse.statements import (
    BEFORE_STAGED,
    CHANGES,
    MARK_DELETED,
    SAVE_CHANGES,
    STAGED_CHANGES,
    UNSEEN,
    UNSEEN_KEYS,
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
        written = _write_day(statements, row_batches, setup, was_empty, on_deletes)
        record_load(statements, written.staged, rejects)
    return LoadResult(
        **written._asdict(),
        unchanged=written.staged - written.inserted - written.updated,
        rejected=len(rejects),
        table_changes=setup.changes,
        notices=notices,
    )


def _write_day(
    statements: LoadStatements,
    row_batches: Iterable[Sequence[Row]],
    setup: TableSetup,
    was_empty: bool,
    on_deletes: Callable[[int, int], None],
) -> _Written:
    """Write the day by the cheapest way that is right for it, and keep its row hashes if it
    is the latest day: against the previous day's hashes if they may be used (only the rows
    whose hash differs are staged), else straight into an empty table, else through the full
    join."""
    latest = statements.is_latest and hashed(statements.contract)
    previous = None
    if latest and not (was_empty or setup.changes):
        previous = previous_hashes(statements)
    day: DayHashes | ChangedRows | None = previous
    if day is None and latest:
        day = DayHashes(statements.contract, expected_rows=statements.provenance.records)
    if was_empty:
        written = _copy_into_empty(statements, row_batches, setup.created, day)
    elif previous is not None:
        written = _upsert_changed_rows(statements, row_batches, previous, on_deletes)
    else:
        written = _upsert_through_staging(statements, row_batches, day, on_deletes)
    if day is not None or was_empty:  # an emptied table's hashes describe nothing
        keep_hashes(statements, day)
    return written


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
    statements: LoadStatements,
    row_batches: Iterable[Sequence[Row]],
    created: bool,
    day: DayHashes | None,
) -> _Written:
    """A first load or a rebuild: the rows go straight in, with no upsert."""
    target = statements.fragments["target"]
    staged = copy_rows(
        statements.cursor,
        target,
        statements.contract,
        row_batches,
        constants=True,
        freeze=created,
        selection=day,
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
    day: DayHashes | None,
    on_deletes: Callable[[int, int], None],
) -> _Written:
    """The day through a staging table: its changes in one join, then written."""
    # Unlogged, not temporary: parallel workers can read it (see `CHANGES`). Nobody else
    # sees it: it is dropped before the commit, or rolled back with the statements.
    statements.run("CREATE UNLOGGED TABLE {staging} ({staging_columns})")
    staging = statements.fragments["staging"]
    staged = copy_rows(
        statements.cursor,
        staging,
        statements.contract,
        row_batches,
        constants=False,
        freeze=True,
        selection=day,
    )
    # Its size and keys are all the planner needs to hash it (statistics of the values
    # would cost as much as the comparison).
    statements.run("ANALYZE {staging} ({key})")
    statements.run(CHANGES, unchanged=statements.unchanged_condition())
    statements.run("DROP TABLE {staging}")
    _save_changes(statements)
    _ask_before_deleting(statements, on_deletes)
    inserted, updated = statements.fetch(UPSERT, skip_unchanged=sql.SQL(""))
    unseen, deleted = _soft_delete(statements)
    table_rows, current_rows = statements.fetch(
        "SELECT count(*), count(*) FILTER (WHERE deleted_at IS NULL) FROM {target}"
    )
    return _Written(staged, inserted, updated, unseen, deleted, table_rows, current_rows)


def _upsert_changed_rows(
    statements: LoadStatements,
    row_batches: Iterable[Sequence[Row]],
    previous: ChangedRows,
    on_deletes: Callable[[int, int], None],
) -> _Written:
    """A new latest day whose rows with the previous day's hash are left as they are: only the
    others are COPYed, into the changes, and the upsert skips those the table already holds.
    The table is read once, for its counts before the day (counted forward from there) and
    the records absent before it."""
    table_rows, current_rows, absent = statements.fetch(BEFORE_STAGED)
    statements.run(STAGED_CHANGES)
    changes = sql.Identifier("_load_changes")
    staged = copy_rows(
        statements.cursor,
        changes,
        statements.contract,
        row_batches,
        constants=False,
        freeze=True,
        selection=previous,
    )
    returning = previous.new_keys()  # of records the table may hold: absent, or deleted
    absent_back = int(np.isin(returning, absent).sum())
    gone, absent = previous.gone(), np.setdiff1d(absent, returning).tolist()
    statements.params |= {"gone_keys": gone, "absent_keys": absent}
    statements.run(UNSEEN_KEYS)
    _save_changes(statements)
    # Every record the day lacks is current: the previous day's, or absent and not deleted.
    _ask_before_deleting(statements, on_deletes, (len(gone) + len(absent), current_rows))
    skip = sql.SQL("WHERE NOT ({})").format(statements.unchanged_condition("excluded"))
    inserted, updated = statements.fetch(UPSERT, skip_unchanged=skip)
    unseen, deleted = _soft_delete(statements)
    revived = returning.size - inserted - absent_back
    current_rows += inserted + revived - deleted
    return _Written(staged, inserted, updated, unseen, deleted, table_rows + inserted, current_rows)


def _save_changes(statements: LoadStatements) -> None:
    """Keep a new latest day's changes for the history step, stamped with the snapshot and the
    day they were found against (see `history`)."""
    if not statements.params["newer"]:
        return
    params = statements.params
    stamp = changes_stamp(params["snapshot_date"], params["sha256"], params["previous_latest"])
    for statement in SAVE_CHANGES:
        statements.run(statement, stamp=sql.Literal(stamp))


def _ask_before_deleting(
    statements: LoadStatements,
    on_deletes: Callable[[int, int], None],
    known: tuple[int, int] | None = None,
) -> None:
    """Tell `on_deletes` how many of the current rows a new latest day, complete, would mark
    deleted (both `known`, or counted), before any is written: it may refuse the day."""
    if not statements.params["deleted_now"]:
        return
    if known is None:
        (deletes,) = statements.fetch(WOULD_DELETE)
        if not deletes:
            return
        count = "SELECT count(*) FROM {target} WHERE deleted_at IS NULL"
        known = (deletes, statements.fetch(count)[0])
    if known[0]:
        on_deletes(*known)


def _soft_delete(statements: LoadStatements) -> tuple[int, int]:
    """The stored records the day lacks, in `_load_changes`: the previous latest day's get
    their last sighting (a new latest day only), and a complete crawl deletes them all. The
    records no longer seen, and those newly deleted."""
    unseen = statements.run(UNSEEN) if statements.is_latest else 0
    deleted = unseen if statements.params["deleted_now"] else 0
    deleted += statements.run(MARK_DELETED) if statements.provenance.crawl_complete else 0
    return unseen, deleted
