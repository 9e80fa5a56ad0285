"""The three assets: API -> day file -> archive object -> Postgres table.

Each asset reads the previous one's output from its deterministic location (the day's file, the
day's object key), never through an IO manager, so any of them can be materialized alone, in a
fresh process, for any day: a backfill of `pg_users_table` replays the archive with no API call.
"""

import time
from datetime import date

import pandas as pd
from dagster import (
    AssetExecutionContext,
    DailyPartitionsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset,
)

from users_pipeline.archive import verified_lines
from users_pipeline.records import SnapshotValidator, valid_rows
from users_pipeline.resources import (
    ArchiveResource,
    DataDirResource,
    PostgresResource,
    UsersApiResource,
    failure_on_pipeline_error,
)
from users_pipeline.snapshot_file import SnapshotWriter, file_digest, iter_snapshot_records
from users_pipeline.warehouse import USERS_COLUMNS, load_snapshot, snapshot_preview

GROUP = "users"
PROGRESS_LOG_SECONDS = 2.0

# Daily snapshots from 2026-01-01 through today (end_offset=1), so today's can be taken now.
daily_partitions = DailyPartitionsDefinition(start_date="2026-01-01", end_offset=1)


def partition_day(context: AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


@asset(
    partitions_def=daily_partitions,
    group_name=GROUP,
    kinds={"python", "json"},
    description="Every page of the users API for the day, as one JSON array in the data dir.",
)
@failure_on_pipeline_error()
def raw_users_json(
    context: AssetExecutionContext, users_api: UsersApiResource, data_dir: DataDirResource
) -> MaterializeResult:
    path = data_dir.snapshot_path(partition_day(context))
    started = time.monotonic()
    last_log = 0.0
    with users_api.get_client() as client, SnapshotWriter(path) as writer:
        context.log.info(f"fetching {client.display_url} ({client.page_size} per page)")
        for page in client.iter_pages():
            writer.write(page.records)
            last_page = page.page_count is not None and page.number >= page.page_count
            if last_page or time.monotonic() - last_log >= PROGRESS_LOG_SECONDS:
                context.log.info(
                    f"page {page.number}/{page.page_count or '?'},"
                    f" {writer.records}/{page.total or '?'} users"
                )
                last_log = time.monotonic()
    stats = client.stats
    return MaterializeResult(
        metadata={
            "dagster/row_count": writer.records,
            "dagster/uri": MetadataValue.path(str(path.absolute())),
            "source_url": client.display_url,
            "pages": page.number,
            "reported_total": page.total,
            "bytes": writer.digest.bytes,
            "sha256": writer.digest.sha256,
            "requests": stats.requests,
            "retries": stats.retries,
            "rate_limit_waits": stats.rate_limit_waits,
            "rate_limit_remaining": stats.rate_limit_remaining,
            "fetch_seconds": round(time.monotonic() - started, 3),
        }
    )


@asset(
    partitions_def=daily_partitions,
    group_name=GROUP,
    kinds={"s3"},
    deps=[raw_users_json],
    description="The day's raw JSON in the archive at <prefix>/dt=YYYY-MM-DD/users.json.",
)
@failure_on_pipeline_error()
def s3_users_object(
    context: AssetExecutionContext, data_dir: DataDirResource, archive: ArchiveResource
) -> MaterializeResult:
    day = partition_day(context)
    path = data_dir.snapshot_path(day)
    if not path.is_file():
        raise Failure(f"{path} does not exist: materialize raw_users_json for {day} first")
    stored = archive.get_archive().put(path, archive.key(day), file_digest(path))
    context.log.info(f"archived {stored.bytes} bytes to {stored.uri}")
    return MaterializeResult(
        metadata={
            "dagster/uri": stored.uri,
            "bytes": stored.bytes,
            "sha256": stored.sha256,
        }
    )


@asset(
    partitions_def=daily_partitions,
    group_name=GROUP,
    kinds={"postgres"},
    deps=[s3_users_object],
    description=(
        "The users table, upserted by id from the day's archived object (never from the API),"
        " with inserted_from = 'dagster'."
    ),
)
@failure_on_pipeline_error()
def pg_users_table(
    context: AssetExecutionContext, archive: ArchiveResource, postgres: PostgresResource
) -> MaterializeResult:
    day = partition_day(context)
    store = archive.get_archive()
    key = archive.key(day)
    expected = store.stat(key)
    context.log.info(f"loading {expected.uri} into {postgres.table} ({postgres.display_url})")
    started = time.monotonic()
    with store.read_lines(key) as lines, postgres.connect() as conn:
        records = iter_snapshot_records(verified_lines(lines, expected))
        result = load_snapshot(conn, postgres.table, valid_rows(records, SnapshotValidator()), day)
        columns, preview = snapshot_preview(conn, postgres.table, day)
    context.log.info(
        f"{result.staged} rows: {result.inserted} inserted, {result.updated} updated,"
        f" {result.unchanged} unchanged; table has {result.table_rows}"
    )
    return MaterializeResult(
        metadata={
            "dagster/row_count": result.table_rows,
            "dagster/table_name": str(postgres.table),
            "dagster/column_schema": USERS_TABLE_SCHEMA,
            "source_uri": expected.uri,
            "source_sha256": expected.sha256,
            "rows_in_snapshot": result.staged,
            "rows_inserted": result.inserted,
            "rows_updated": result.updated,
            "rows_unchanged": result.unchanged,
            "load_seconds": round(time.monotonic() - started, 3),
            "preview": MetadataValue.md(
                pd.DataFrame(preview, columns=columns).to_markdown(index=False)
            ),
        }
    )


USERS_TABLE_SCHEMA = TableSchema(
    columns=[
        TableColumn(column.name, column.sql_type.split(" ")[0], description=column.description)
        for column in USERS_COLUMNS
    ]
)
