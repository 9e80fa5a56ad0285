"""What a run logs while it works: the fetch's progress, and what each day's load did."""

from __future__ import annotations

import time
from collections.abc import Callable

from dagster import DagsterLogManager

from users_pipeline.http.paginators import Page
from users_pipeline.warehouse.archived_days import DayLoadReport
from users_pipeline.warehouse.history import HistoryResult
from users_pipeline.warehouse.result import LoadResult

PROGRESS_LOG_SECONDS = 2.0


def progress_logger(log: Callable[[str], None], records_name: str) -> Callable[[Page, int], None]:
    """`page 7/28, 700/2751 users` (`records_name`: users), at most every PROGRESS_LOG_SECONDS,
    and for the last page."""
    last_log = 0.0

    def on_page(page: Page, records: int) -> None:
        nonlocal last_log
        if page.is_last or time.monotonic() - last_log >= PROGRESS_LOG_SECONDS:
            count = f"{records}/{page.total or '?'} {records_name}"
            log(f"page {page.number}/{page.page_count or '?'}, {count}")
            last_log = time.monotonic()

    return on_page


def log_load(log: DagsterLogManager, loaded: DayLoadReport, table: str) -> None:
    archived, result = loaded.archived, loaded.result
    snapshot = archived.snapshot
    if not snapshot.crawl_complete:
        log.warning(f"{archived.uri} is from an incomplete crawl: no one was deleted")
    elif not snapshot.soft_deletes:
        log.info(f"{archived.uri}: soft deletes are off for this source, so no one was deleted")
    if result.skipped:
        log.info(f"{archived.day} was already loaded from this object: nothing to do")
    for note in [*result.table_changes, *result.notices]:
        log.warning(f"{table}: {note}")
    log.info(f"{archived.day}: {load_summary(result)}")


def history_summary(applied: HistoryResult) -> str:
    if applied.skipped:
        return "already in the history from this snapshot: nothing to do"
    replayed = f", {len(applied.replayed)} later day(s) replayed" if applied.replayed else ""
    return (
        f"{applied.opened} versions opened, {applied.closed} closed{replayed}; the history has"
        f" {applied.versions} ({applied.current} current)"
    )


def load_summary(result: LoadResult) -> str:
    return (
        f"{result.staged} rows: {result.inserted} inserted, {result.updated} updated,"
        f" {result.unchanged} unchanged, {result.unseen} no longer seen, {result.deleted} marked"
        f" deleted, {result.rejected}"
        f" rejected; table has {result.table_rows} ({result.current_rows} current)"
    )
