"""Loading one archived day into its table: the whole load path in one place. No Dagster imports.

The archived object is streamed, checked against the manifest's sha256 before the commit,
validated by the contract and upserted in one transaction; a day already loaded from the same
object is skipped with one query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
import psycopg

from users_pipeline.archive import Archive, verified_chunks
from users_pipeline.contract import RecordContract
from users_pipeline.layout import DayKeys
from users_pipeline.records import Reject, split_batches
from users_pipeline.snapshot import DaySnapshot
from users_pipeline.snapshot_file import iter_snapshot_arrays
from users_pipeline.warehouse import (
    DayLoad,
    LoadResult,
    TableName,
    already_loaded,
    load_snapshot,
    snapshot_preview,
)


@dataclass(frozen=True)
class ArchivedDay:
    """A day in the archive, as its manifest describes it."""

    day: date
    keys: DayKeys
    snapshot: DaySnapshot
    uri: str


def load_archived_day(
    conn: psycopg.Connection,
    store: Archive,
    archived: ArchivedDay,
    table: TableName,
    contract: RecordContract,
    reload: bool = False,
) -> LoadResult:
    """Load the day, unless it was already loaded from this very object (and not `reload`)."""
    snapshot = archived.snapshot
    loaded = None if reload else already_loaded(conn, table, archived.day, snapshot.sha256)
    if loaded is not None:
        return loaded
    rejects: list[Reject] = []
    with store.read_chunks(archived.keys.records) as chunks:
        arrays = iter_snapshot_arrays(verified_chunks(chunks, snapshot.sha256, archived.uri))
        day = DayLoad(archived.day, snapshot.crawl_complete, archived.uri, snapshot.sha256)
        # The manifest holds the fetch's verdict on these exact bytes: with no reject, the
        # records need no second check (the sha256 is verified before commit).
        rows = split_batches(arrays, rejects, contract, checked=snapshot.rejected_records == 0)
        return load_snapshot(conn, table, contract, rows, day, rejects)


def preview(
    conn: psycopg.Connection, table: TableName, contract: RecordContract, day: date
) -> pd.DataFrame:
    """The first rows of the table as of `day`, for the materialization's preview."""
    columns, rows = snapshot_preview(conn, table, contract.key.name, day)
    return pd.DataFrame(rows, columns=columns)
