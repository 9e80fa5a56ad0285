"""Loading archived days into their table: the whole load path in one place. No Dagster imports.

Each archived object is streamed, checked against the manifest's sha256 before the commit,
validated by the contract and upserted in its own transaction; a day already loaded from the
same object is skipped with one query. A range of days loads in date order on one connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import psycopg

from users_pipeline.contract.record import RecordContract, Row
from users_pipeline.contract.validation import Reject, split_batches
from users_pipeline.errors import PipelineError
from users_pipeline.snapshot.jsonl import iter_json_batches
from users_pipeline.snapshot.manifest import Manifest
from users_pipeline.storage.archive import Archive, MissingObjectError, verified_chunks
from users_pipeline.storage.layout import DayKeys, SourceLayout
from users_pipeline.warehouse.bookkeeping import already_loaded, previous_load
from users_pipeline.warehouse.history import HistoryDay
from users_pipeline.warehouse.load import load_day
from users_pipeline.warehouse.preview import preview
from users_pipeline.warehouse.provenance import DayProvenance
from users_pipeline.warehouse.result import LoadResult
from users_pipeline.warehouse.table_name import TableName

# Told a day (its date and sha256) would mark deletes of current_rows deleted; may refuse it.
DeletesHook = Callable[[date, str, int, int], None]


@dataclass(frozen=True)
class ArchivedDay:
    """A day in the archive, as its manifest describes it."""

    day: date
    keys: DayKeys
    snapshot: Manifest
    uri: str


@dataclass(frozen=True)
class DayLoadReport:
    """One day of a load: what was loaded, what it did, and the rows it left, for the report."""

    archived: ArchivedDay
    result: LoadResult
    preview: str  # Markdown
    seconds: float
    previous: tuple[date, int] | None  # the latest day loaded before it, and its valid rows


def find_archived_day(store: Archive, layout: SourceLayout, day: date) -> ArchivedDay:
    keys, manifest = layout.find_day(store, day)
    return ArchivedDay(day, keys, Manifest.from_json(manifest), store.uri(keys.records))


def load_archived_days(
    conn: psycopg.Connection,
    store: Archive,
    layout: SourceLayout,
    table: TableName,
    contract: RecordContract,
    days: Sequence[date],
    asset: str,
    reload: bool = False,
    on_missing: Callable[[date, str], None] = lambda day, reason: None,
    explain_missing: Callable[[date, MissingObjectError], PipelineError] = lambda day, error: error,
    on_deletes: DeletesHook = lambda day, sha256, deletes, current_rows: None,
) -> Iterator[DayLoadReport]:
    """Load `days` in date order, each in its own transaction, yielding each as it commits.

    A day missing from the archive fails a one-day load with `explain_missing`'s error (what
    the day's absence means); in a range it is reported to `on_missing` and skipped, so a
    rebuild loads every day there is. `asset` is what loads the table, named in the notices of
    what to run. `on_deletes` may refuse a day that would mark current rows deleted (see
    `load.load_day`).
    """
    for day in sorted(days):
        try:
            archived = find_archived_day(store, layout, day)
        except MissingObjectError as missing:
            explained = explain_missing(day, missing)
            if len(days) == 1:
                raise explained from None
            on_missing(day, str(explained))
            continue
        started = time.monotonic()
        result = load_archived_day(
            conn, store, archived, table, contract, asset, reload, on_deletes
        )
        first_rows = preview(conn, table, contract.key.name, day)
        previous = previous_load(conn, table, day)
        yield DayLoadReport(archived, result, first_rows, time.monotonic() - started, previous)


def load_archived_day(
    conn: psycopg.Connection,
    store: Archive,
    archived: ArchivedDay,
    table: TableName,
    contract: RecordContract,
    asset: str,
    reload: bool = False,
    on_deletes: DeletesHook = lambda day, sha256, deletes, current_rows: None,
) -> LoadResult:
    """Load the day, unless it was already loaded from this very object (and not `reload`)."""
    snapshot = archived.snapshot
    loaded = None if reload else already_loaded(conn, table, archived.day, snapshot.sha256)
    if loaded is not None:
        return loaded
    rejects: list[Reject] = []
    provenance = DayProvenance(
        archived.day,
        snapshot.marks_deletions,
        archived.uri,
        snapshot.sha256,
        snapshot.valid_records,
    )
    rows = archived_rows(store, archived, contract, rejects)
    return load_day(
            conn, table, contract, rows, provenance, rejects, asset,
        on_deletes=lambda deletes, current_rows: on_deletes(
            archived.day, snapshot.sha256, deletes, current_rows
        ),
    )  # fmt: skip


def archived_rows(
    store: Archive, archived: ArchivedDay, contract: RecordContract, rejects: list[Reject]
) -> Iterator[Sequence[Row]]:
    """The day's valid rows, a batch at a time, its rejects appended to `rejects`; the object
    is read as the batches are, and its sha256 checked at its end."""
    snapshot = archived.snapshot
    with store.read_chunks(archived.keys.records) as chunks:
        batches = iter_json_batches(verified_chunks(chunks, snapshot.sha256, archived.uri))
        # The manifest holds the fetch's verdict on these exact bytes: with no reject, the
        # records need no second check.
        yield from split_batches(batches, rejects, contract, checked=snapshot.rejected_records == 0)


def history_day(
    store: Archive, layout: SourceLayout, contract: RecordContract, day: date
) -> HistoryDay:
    """An archived day as the history reads it (its rows only if it needs them)."""
    archived = find_archived_day(store, layout, day)
    snapshot = archived.snapshot
    return HistoryDay(
        day,
        snapshot.sha256,
        snapshot.marks_deletions,
        rows=lambda: archived_rows(store, archived, contract, []),
    )
