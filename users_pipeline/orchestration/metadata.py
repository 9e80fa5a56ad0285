"""What each materialization records, built from the objects that own the facts."""

from __future__ import annotations

from datetime import date

from dagster import (
    AssetKey,
    AssetMaterialization,
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
)

from users_pipeline.contract.columns import TableColumn as ContractColumn
from users_pipeline.contract.columns import history_columns, table_columns
from users_pipeline.contract.record import RecordContract
from users_pipeline.http.stats import CrawlStats
from users_pipeline.snapshot.manifest import Manifest
from users_pipeline.warehouse.archived_days import DayLoadReport
from users_pipeline.warehouse.history import HistoryResult


def fetch_metadata(
    manifest: Manifest, stats: CrawlStats, uri: str, seconds: float
) -> dict[str, object]:
    return {
        "dagster/row_count": manifest.records,
        "dagster/uri": MetadataValue.path(uri),
        "source_url": manifest.source_url,
        "pages": manifest.pages,
        "crawl_complete": manifest.crawl_complete,
        "crawl_attempts": manifest.crawl_attempts,
        "pages_resumed": manifest.pages_resumed,
        "valid_records": manifest.valid_records,
        "rejected_records": manifest.rejected_records,
        "schema_drift_fields": ", ".join(manifest.unknown_fields) or "none",
        "bytes": manifest.bytes,
        "sha256": manifest.sha256,
        "requests": stats.requests,
        "retries": stats.retries,
        "rate_limit_waits": stats.rate_limit_waits,
        "seconds_waited": round(stats.seconds_waited, 3),
        "http_statuses": ", ".join(f"{code}: {n}" for code, n in sorted(stats.statuses.items())),
        "rate_limit_remaining": stats.rate_limit_remaining,
        "fetch_seconds": round(seconds, 3),
    }


def load_materialization(
    loaded: DayLoadReport, asset_key: AssetKey, table: str, schema: TableSchema
) -> AssetMaterialization:
    """One loaded day as its own materialization, so a range loaded in one run marks exactly
    the days it loaded."""
    result, manifest = loaded.result, loaded.archived.snapshot
    return AssetMaterialization(
        asset_key,
        partition=loaded.archived.day.isoformat(),
        metadata={
            "dagster/row_count": result.table_rows,
            "dagster/table_name": table,
            "dagster/column_schema": schema,
            "source_uri": loaded.archived.uri,
            "source_sha256": manifest.sha256,
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


def column_schema(contract: RecordContract, history: bool = False) -> TableSchema:
    """`dagster/column_schema`: the table's columns (or its history's) as the contract
    declares them."""
    columns: tuple[ContractColumn, ...] = (
        history_columns(contract) if history else table_columns(contract)
    )
    return TableSchema(
        columns=[
            TableColumn(
                column.name,
                column.sql_type,
                description=column.description,
                constraints=TableColumnConstraints(nullable=column.nullable),
            )
            for column in columns
        ]
    )


def history_materialization(
    day: date,
    applied: HistoryResult,
    asset_key: AssetKey,
    table: str,
    schema: TableSchema,
    seconds: float,
) -> AssetMaterialization:
    return AssetMaterialization(
        asset_key,
        partition=day.isoformat(),
        metadata={
            "dagster/row_count": applied.versions,
            "dagster/table_name": f"{table}_history",
            "dagster/column_schema": schema,
            "versions_opened": applied.opened,
            "versions_closed": applied.closed,
            "current_versions": applied.current,
            "days_replayed": ", ".join(map(str, applied.replayed)) or "none",
            "already_in_history": applied.skipped,
            "as_of": f"SELECT * FROM {table}_as_of('{day}')",
            "history_seconds": round(seconds, 3),
        },
    )
