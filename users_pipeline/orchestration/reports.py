"""What each materialization reports: metadata and check results, built from the objects that
own the facts, so the asset functions stay a few lines each."""

from __future__ import annotations

import time
from collections.abc import Callable

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    DagsterLogManager,
    MaterializeResult,
    MetadataValue,
    Output,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
)

from users_pipeline.contract.columns import table_columns
from users_pipeline.contract.record import RecordContract
from users_pipeline.http.paginators import Page
from users_pipeline.http.stats import CrawlStats
from users_pipeline.snapshot.manifest import Manifest
from users_pipeline.warehouse.archived_days import DayLoadReport
from users_pipeline.warehouse.result import LoadResult

PROGRESS_LOG_SECONDS = 2.0
ROWS_MATCH_ARCHIVE = "rows_match_archive"


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


def fetch_report(
    snapshot: Manifest, stats: CrawlStats, uri: str, seconds: float, max_reject_share: float
) -> MaterializeResult:
    reject_share = snapshot.rejected_records / max(snapshot.records, 1)
    return MaterializeResult(
        metadata={
            "dagster/row_count": snapshot.records,
            "dagster/uri": MetadataValue.path(uri),
            "source_url": snapshot.source_url,
            "pages": snapshot.pages,
            "crawl_complete": snapshot.crawl_complete,
            "crawl_attempts": snapshot.crawl_attempts,
            "valid_records": snapshot.valid_records,
            "rejected_records": snapshot.rejected_records,
            "schema_drift_fields": ", ".join(snapshot.unknown_fields) or "none",
            "bytes": snapshot.bytes,
            "sha256": snapshot.sha256,
            "requests": stats.requests,
            "retries": stats.retries,
            "rate_limit_waits": stats.rate_limit_waits,
            "seconds_waited": round(stats.seconds_waited, 3),
            "http_statuses": ", ".join(
                f"{code}: {n}" for code, n in sorted(stats.statuses.items())
            ),
            "rate_limit_remaining": stats.rate_limit_remaining,
            "fetch_seconds": round(seconds, 3),
        },
        check_results=[
            AssetCheckResult(
                check_name="crawl_is_complete",
                passed=snapshot.crawl_complete,
                description="; ".join(snapshot.crawl_problems) or "complete",
                metadata={
                    "attempts": snapshot.crawl_attempts,
                    "records": snapshot.records,
                    "distinct_ids": snapshot.distinct_ids,
                    "total_at_start": snapshot.total_at_start,
                    "total_at_end": snapshot.total_at_end,
                    "repeated_ids": snapshot.repeated_ids,
                    "short_pages": str(snapshot.short_pages),
                },
            ),
            AssetCheckResult(
                check_name="rejects_within_limit",
                passed=reject_share <= max_reject_share,
                description=(
                    f"{snapshot.rejected_records} of {snapshot.records} records rejected"
                    f" ({reject_share:.2%}, limit {max_reject_share:.2%})"
                ),
                metadata={"rejected": snapshot.rejected_records, "share": reject_share},
            ),
        ],
    )


def log_load(log: DagsterLogManager, loaded: DayLoadReport, table: str) -> None:
    archived, result = loaded.archived, loaded.result
    if not archived.snapshot.crawl_complete:
        log.warning(f"{archived.uri} is from an incomplete crawl: no one was deleted")
    if result.skipped:
        log.info(f"{archived.day} was already loaded from this object: nothing to do")
    for note in [*result.table_changes, *result.notices]:
        log.warning(f"{table}: {note}")
    log.info(f"{archived.day}: {load_summary(result)}")


def check_output(context: AssetExecutionContext, check_name: str) -> Output:
    """The output of a check whose results were reported as events, one per day (see
    `load_events`): Dagster still expects the check's output once per run."""
    key = AssetCheckKey(context.asset_key, check_name)
    return Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(key))


def load_summary(result: LoadResult) -> str:
    return (
        f"{result.staged} rows: {result.inserted} inserted, {result.updated} updated,"
        f" {result.unchanged} unchanged, {result.unseen} no longer seen, {result.deleted} marked"
        f" deleted, {result.rejected}"
        f" rejected; table has {result.table_rows} ({result.current_rows} current)"
    )


def load_events(
    loaded: DayLoadReport, asset_key: AssetKey, table: str, schema: TableSchema
) -> tuple[AssetMaterialization, AssetCheckEvaluation]:
    """One loaded day as its own materialization and `rows_match_archive` result, so a range
    loaded in one run marks exactly the days it loaded."""
    result, snapshot, day = loaded.result, loaded.archived.snapshot, loaded.archived.day.isoformat()
    matches = (result.staged, result.rejected) == (
        snapshot.valid_records,
        snapshot.rejected_records,
    )
    materialization = AssetMaterialization(
        asset_key,
        partition=day,
        metadata={
            "dagster/row_count": result.table_rows,
            "dagster/table_name": table,
            "dagster/column_schema": schema,
            "source_uri": loaded.archived.uri,
            "source_sha256": snapshot.sha256,
            "rows_in_snapshot": result.staged,
            "rows_inserted": result.inserted,
            "rows_updated": result.updated,
            "rows_unchanged": result.unchanged,
            "rows_rejected": result.rejected,
            "rows_no_longer_seen": result.unseen,
            "rows_marked_deleted": result.deleted,
            "current_rows": result.current_rows,
            "table_changes": "; ".join(result.table_changes) or "none",
            "history_notices": "; ".join(result.notices) or "none",
            "load_seconds": round(loaded.seconds, 3),
            "preview": MetadataValue.md(loaded.preview),
        },
    )
    check = AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=ROWS_MATCH_ARCHIVE,
        passed=matches,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"loaded {result.staged} and rejected {result.rejected}; the manifest says"
            f" {snapshot.valid_records} valid and {snapshot.rejected_records} rejected"
        ),
        partition=day,
    )
    return materialization, check


def column_schema(contract: RecordContract) -> TableSchema:
    """`dagster/column_schema`: the table's columns as the contract declares them."""
    return TableSchema(
        columns=[
            TableColumn(
                column.name,
                column.sql_type,
                description=column.description,
                constraints=TableColumnConstraints(nullable=column.nullable),
            )
            for column in table_columns(contract)
        ]
    )
