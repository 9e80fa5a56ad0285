"""The three assets: API -> day file -> archive object -> Postgres table.

Each asset reads the previous one's output from its deterministic location (the day's folder, the
day's object keys), never through an IO manager, so any of them can be materialized alone, in a
fresh process, for any day: a backfill of `pg_users_table` replays the archive with no API call.
"""

import os
import time
from datetime import date, timedelta

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    DailyPartitionsDefinition,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
    asset,
)
from pydantic import Field

from users_pipeline.archive import verified_chunks
from users_pipeline.days import FIRST_DAY_SETTING, check_fetchable, first_day, utc_today
from users_pipeline.records import Reject, split_batches
from users_pipeline.resources import (
    ArchiveResource,
    ClockResource,
    DataDirResource,
    PostgresResource,
    UsersApiResource,
    failure_on_pipeline_error,
)
from users_pipeline.snapshot import (
    DaySnapshot,
    day_lock,
    take_snapshot,
)
from users_pipeline.snapshot_file import FileDigest, file_digest, iter_snapshot_arrays
from users_pipeline.users_api import Page
from users_pipeline.users_contract import USERS_CONTRACT
from users_pipeline.warehouse import (
    DayLoad,
    already_loaded,
    load_snapshot,
    snapshot_preview,
    table_columns,
)

GROUP = "users"
PROGRESS_LOG_SECONDS = 2.0

# Daily snapshots from USERS_FIRST_DAY through today (end_offset=1), so today's can be taken now.
daily_partitions = DailyPartitionsDefinition(
    start_date=first_day(os.environ.get(FIRST_DAY_SETTING), utc_today()).isoformat(),
    end_offset=1,
)


def partition_day(context: AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


class SnapshotConfig(Config):
    """How strict a day's snapshot is; set per run in the launchpad or with `--config-json`."""

    max_crawls: int = Field(default=3, description="Crawls to try while the list drifts")
    max_reject_share: float = Field(
        default=0.01, description="Largest share of invalid records a day may have and still load"
    )


@asset(
    partitions_def=daily_partitions,
    group_name=GROUP,
    kinds={"python", "json"},
    description=(
        "Every page of the users API for the day as one JSON Lines file in the data dir, with"
        " its rejects and a manifest proving the crawl complete."
    ),
    check_specs=[
        AssetCheckSpec(
            "crawl_is_complete",
            asset="raw_users_json",
            blocking=True,
            description="Every user exactly once: count equals X-Pagination-Total at start and"
            " end, no valid id on two pages, no short page before the last, page size as asked.",
        ),
        AssetCheckSpec(
            "rejects_within_limit",
            asset="raw_users_json",
            blocking=True,
            description="Invalid records are at most max_reject_share of the day (default 1%).",
        ),
    ],
)
@failure_on_pipeline_error()
def raw_users_json(
    context: AssetExecutionContext,
    config: SnapshotConfig,
    clock: ClockResource,
    users_api: UsersApiResource,
    data_dir: DataDirResource,
) -> MaterializeResult:
    check_fetchable(partition_day(context), clock.today())
    last_log = 0.0

    def log_progress(page: Page, records: int) -> None:
        nonlocal last_log
        last_page = page.page_count is not None and page.number >= page.page_count
        if last_page or time.monotonic() - last_log >= PROGRESS_LOG_SECONDS:
            context.log.info(
                f"page {page.number}/{page.page_count or '?'}, {records}/{page.total or '?'} users"
            )
            last_log = time.monotonic()

    def log_drift(attempt: int, problems: list[str]) -> None:
        context.log.warning(f"crawl {attempt} is not complete: {'; '.join(problems)}")

    files = data_dir.day_files(partition_day(context))
    started = time.monotonic()
    with users_api.get_client() as client:
        context.log.info(f"fetching {client.display_url} ({client.page_size} per page)")
        snapshot = take_snapshot(
            client,
            files,
            USERS_CONTRACT,
            max_crawls=config.max_crawls,
            on_page=log_progress,
            on_drift=log_drift,
        )
        stats = client.stats
    reject_share = snapshot.rejected_records / max(snapshot.records, 1)
    if snapshot.unknown_fields:
        context.log.warning(f"schema drift: new fields {snapshot.unknown_fields} kept in the raw")
    return MaterializeResult(
        metadata={
            "dagster/row_count": snapshot.records,
            "dagster/uri": MetadataValue.path(str(files.records.absolute())),
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
            "fetch_seconds": round(time.monotonic() - started, 3),
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
                passed=reject_share <= config.max_reject_share,
                description=(
                    f"{snapshot.rejected_records} of {snapshot.records} records rejected"
                    f" ({reject_share:.2%}, limit {config.max_reject_share:.2%})"
                ),
                metadata={"rejected": snapshot.rejected_records, "share": reject_share},
            ),
        ],
    )


@asset(
    partitions_def=daily_partitions,
    group_name=GROUP,
    kinds={"s3"},
    deps=[raw_users_json],
    description=(
        "The day's records as JSON Lines at <prefix>/dt=YYYY-MM-DD/users.jsonl, its rejects"
        " and manifest under <prefix>/_rejects/ and <prefix>/_manifests/."
    ),
)
@failure_on_pipeline_error()
def s3_users_object(
    context: AssetExecutionContext, data_dir: DataDirResource, archive: ArchiveResource
) -> MaterializeResult:
    day = partition_day(context)
    files, keys = data_dir.day_files(day), archive.layout().keys(day)
    if not files.manifest.is_file():
        raise Failure(
            f"no snapshot of {day} was taken here ({files.manifest} does not exist):"
            " raw_users_json takes a day's snapshot on that day only; a day already archived"
            " loads with pg_users_table alone"
        )
    store = archive.get_archive()
    with day_lock(files.folder, shared=True):
        snapshot = DaySnapshot.from_manifest(files.manifest.read_bytes())
        users = store.put(files.records, keys.records, FileDigest(snapshot.bytes, snapshot.sha256))
        rejects = store.put(
            files.rejects,
            keys.rejects,
            FileDigest(snapshot.rejects_bytes, snapshot.rejects_sha256),
        )
        # The manifest goes last: its presence says the day's objects are all in place.
        manifest = store.put(files.manifest, keys.manifest, file_digest(files.manifest))
    context.log.info(f"archived {users.bytes} bytes to {users.uri}")
    return MaterializeResult(
        metadata={
            "dagster/uri": users.uri,
            "bytes": users.bytes,
            "sha256": users.sha256,
            "manifest_uri": manifest.uri,
            "rejects_uri": rejects.uri,
            "rejected_records": snapshot.rejected_records,
        }
    )


class LoadConfig(Config):
    reload: bool = Field(
        default=False,
        description="Load the day even if it was already loaded from the same archived object",
    )


@asset(
    partitions_def=daily_partitions,
    group_name=GROUP,
    kinds={"postgres"},
    deps=[s3_users_object],
    description=(
        "The users table, upserted by id from the day's archived object (never from the API),"
        " with inserted_from = 'dagster' and soft deletes in deleted_at."
    ),
    # Loaded by 03:00 UTC each day, from a run that started after midnight.
    freshness_policy=FreshnessPolicy.cron(
        deadline_cron="0 3 * * *", lower_bound_delta=timedelta(hours=3)
    ),
    check_specs=[
        AssetCheckSpec(
            "rows_match_archive",
            asset="pg_users_table",
            description="Rows loaded and rejected equal the archived manifest's counts.",
        )
    ],
)
@failure_on_pipeline_error()
def pg_users_table(
    context: AssetExecutionContext,
    config: LoadConfig,
    archive: ArchiveResource,
    postgres: PostgresResource,
) -> MaterializeResult:
    day = partition_day(context)
    store = archive.get_archive()
    keys, manifest = archive.layout().find_day(store, day)
    snapshot = DaySnapshot.from_manifest(manifest)
    uri = store.uri(keys.records)
    if not snapshot.crawl_complete:
        context.log.warning(f"{uri} is from an incomplete crawl: no user will be marked deleted")
    context.log.info(f"loading {uri} into {postgres.table} ({postgres.display_url})")
    started = time.monotonic()
    with postgres.connect() as conn:
        result = (
            None if config.reload else already_loaded(conn, postgres.table, day, snapshot.sha256)
        )
        if result is not None:
            context.log.info(f"{day} was already loaded from this object: nothing to do")
        else:
            rejects: list[Reject] = []
            with store.read_chunks(keys.records) as chunks:
                arrays = iter_snapshot_arrays(verified_chunks(chunks, snapshot.sha256, uri))
                day_load = DayLoad(day, snapshot.crawl_complete, uri, snapshot.sha256)
                # The manifest holds the fetch's verdict on these exact bytes: with no reject,
                # the records need no second check (the sha256 is verified before commit).
                checked = snapshot.rejected_records == 0
                rows = split_batches(arrays, rejects, USERS_CONTRACT, checked=checked)
                result = load_snapshot(
                    conn, postgres.table, USERS_CONTRACT, rows, day_load, rejects
                )
        columns, preview = snapshot_preview(conn, postgres.table, USERS_CONTRACT.key.name, day)
    if result.table_changes:
        context.log.warning(
            f"adopted existing table {postgres.table}: {'; '.join(result.table_changes)}"
        )
    for notice in result.notices:
        context.log.warning(notice)
    context.log.info(
        f"{result.staged} rows: {result.inserted} inserted, {result.updated} updated,"
        f" {result.unchanged} unchanged, {result.deleted} marked deleted, {result.rejected}"
        f" rejected; table has {result.table_rows} ({result.current_rows} current)"
    )
    matches = (result.staged, result.rejected) == (
        snapshot.valid_records,
        snapshot.rejected_records,
    )
    return MaterializeResult(
        metadata={
            "dagster/row_count": result.table_rows,
            "dagster/table_name": str(postgres.table),
            "dagster/column_schema": USERS_TABLE_SCHEMA,
            "source_uri": uri,
            "source_sha256": snapshot.sha256,
            "rows_in_snapshot": result.staged,
            "rows_inserted": result.inserted,
            "rows_updated": result.updated,
            "rows_unchanged": result.unchanged,
            "rows_rejected": result.rejected,
            "rows_marked_deleted": result.deleted,
            "rows_deletion_recomputed": result.deletion_recomputed,
            "current_rows": result.current_rows,
            "table_changes": "; ".join(result.table_changes) or "none",
            "history_notices": "; ".join(result.notices) or "none",
            "load_seconds": round(time.monotonic() - started, 3),
            "preview": MetadataValue.md(
                pd.DataFrame(preview, columns=columns).to_markdown(index=False)
            ),
        },
        check_results=[
            AssetCheckResult(
                check_name="rows_match_archive",
                passed=matches,
                severity=AssetCheckSeverity.ERROR,
                description=(
                    f"loaded {result.staged} and rejected {result.rejected}; the manifest says"
                    f" {snapshot.valid_records} valid and {snapshot.rejected_records} rejected"
                ),
            )
        ],
    )


USERS_TABLE_SCHEMA = TableSchema(
    columns=[
        TableColumn(
            column.name,
            column.sql_type,
            description=column.description,
            constraints=TableColumnConstraints(nullable=column.nullable),
        )
        for column in table_columns(USERS_CONTRACT)
    ]
)
