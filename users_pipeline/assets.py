"""The three assets: API -> day file -> archive object -> Postgres table.

Each asset reads the previous one's output from its deterministic location (the day's files, the
day's object keys), never through an IO manager, so any of them can be materialized alone, in a
fresh process, for any day: a backfill of `pg_users_table` replays the archive with no API call.
The assets are built for a record contract: everything about the record comes from it.
"""

import os
import time
from dataclasses import dataclass
from datetime import date, timedelta

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    DailyPartitionsDefinition,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    asset,
)
from pydantic import Field

from users_pipeline.contract import RecordContract
from users_pipeline.day_load import ArchivedDay, load_archived_day, preview
from users_pipeline.days import FIRST_DAY_SETTING, check_fetchable, first_day, utc_today
from users_pipeline.reports import (
    column_schema,
    fetch_report,
    load_report,
    load_summary,
    progress_logger,
)
from users_pipeline.resources import (
    failure_on_pipeline_error,
)
from users_pipeline.snapshot import DaySnapshot, day_lock, take_snapshot
from users_pipeline.snapshot_file import FileDigest, file_digest

GROUP = "users"

# Daily snapshots from USERS_FIRST_DAY through today (end_offset=1), so today's can be taken now.
daily_partitions = DailyPartitionsDefinition(
    start_date=first_day(os.environ.get(FIRST_DAY_SETTING), utc_today()).isoformat(),
    end_offset=1,
)


def partition_day(context: AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


@dataclass(frozen=True)
class Thresholds:
    """How strict a source's snapshots are, as its defs.yaml sets them."""

    max_crawls: int = 3  # crawls to try while the list drifts
    max_reject_share: float = 0.01  # largest share of invalid records a day may have and load


class SnapshotConfig(Config):
    """A run's own thresholds, set in the launchpad or with `--config-json`; unset, the
    source's (defs.yaml)."""

    max_crawls: int | None = Field(default=None, description="Crawls to try while the list drifts")
    max_reject_share: float | None = Field(
        default=None, description="Largest share of invalid records a day may have and still load"
    )

    def thresholds(self, source: Thresholds) -> Thresholds:
        return Thresholds(
            source.max_crawls if self.max_crawls is None else self.max_crawls,
            source.max_reject_share if self.max_reject_share is None else self.max_reject_share,
        )


class LoadConfig(Config):
    reload: bool = Field(
        default=False,
        description="Load the day even if it was already loaded from the same archived object",
    )


@dataclass(frozen=True)
class SourceNames:
    """What one source's definitions are called: its assets are `raw_<name>_json`,
    `s3_<name>_object` and `pg_<name>_table`, and it reads its own three resources."""

    name: str = "users"
    api: str = "users_api"
    archive: str = "archive"
    postgres: str = "postgres"

    @property
    def raw(self) -> str:
        return f"raw_{self.name}_json"

    @property
    def archived(self) -> str:
        return f"s3_{self.name}_object"

    @property
    def table(self) -> str:
        return f"pg_{self.name}_table"


def build_assets(
    contract: RecordContract,
    source: SourceNames = SourceNames(),
    group: str = GROUP,
    thresholds: Thresholds = Thresholds(),
) -> list[AssetsDefinition]:
    """`raw_<name>_json` -> `s3_<name>_object` -> `pg_<name>_table` for records of `contract`."""
    schema = column_schema(contract)
    daily = {"partitions_def": daily_partitions, "group_name": group}

    @asset(
        **daily,
        name=source.raw,
        kinds={"python", "json"},
        required_resource_keys={"clock", "data_dir", source.api},
        description=(
            f"Every page of the {source.name} API for the day as one JSON Lines file in the data"
            " dir, with its rejects and a manifest proving the crawl complete."
        ),
        check_specs=[
            AssetCheckSpec(
                "crawl_is_complete",
                asset=source.raw,
                blocking=True,
                description="Every record exactly once: count equals X-Pagination-Total at start"
                " and end, no valid id on two pages, no short page before the last, page size as"
                " asked.",
            ),
            AssetCheckSpec(
                "rejects_within_limit",
                asset=source.raw,
                blocking=True,
                description="Invalid records are at most max_reject_share of the day"
                f" ({thresholds.max_reject_share:.0%}).",
            ),
        ],
    )
    @failure_on_pipeline_error()
    def fetch_day(context: AssetExecutionContext, config: SnapshotConfig) -> MaterializeResult:
        resources, limits = context.resources, config.thresholds(thresholds)
        day = partition_day(context)
        check_fetchable(day, resources.clock.today())
        files = resources.data_dir.day_files(day, source.name)
        started = time.monotonic()
        with getattr(resources, source.api).get_client() as client:
            context.log.info(f"fetching {client.display_url} ({client.page_size} per page)")
            snapshot = take_snapshot(
                client,
                files,
                contract,
                max_crawls=limits.max_crawls,
                on_page=progress_logger(context.log.info, client.page_size),
                on_drift=lambda attempt, problems: context.log.warning(
                    f"crawl {attempt} is not complete: {'; '.join(problems)}"
                ),
            )
        if snapshot.unknown_fields:
            context.log.warning(f"schema drift: new fields {snapshot.unknown_fields} kept raw")
        uri, seconds = str(files.records.absolute()), time.monotonic() - started
        return fetch_report(snapshot, client.stats, uri, seconds, limits.max_reject_share)

    @asset(
        **daily,
        name=source.archived,
        kinds={"s3"},
        deps=[fetch_day],
        required_resource_keys={"data_dir", source.archive},
        description=(
            f"The day's records as JSON Lines at <prefix>/dt=YYYY-MM-DD/{source.name}.jsonl, its"
            " rejects and manifest under <prefix>/_rejects/ and <prefix>/_manifests/."
        ),
    )
    @failure_on_pipeline_error()
    def archive_day(context: AssetExecutionContext) -> MaterializeResult:
        day, archive = partition_day(context), getattr(context.resources, source.archive)
        files = context.resources.data_dir.day_files(day, source.name)
        keys = archive.layout(source.name).keys(day)
        store = archive.get_archive()
        if not files.manifest.is_file():
            raise Failure(
                f"no snapshot of {day} was taken here ({files.manifest} does not exist):"
                f" {source.raw} takes a day's snapshot on that day only; a day already archived"
                f" loads with {source.table} alone"
            )
        with day_lock(files.folder, shared=True):
            snapshot = DaySnapshot.from_manifest(files.manifest.read_bytes())
            records = FileDigest(snapshot.bytes, snapshot.sha256)
            users = store.put(files.records, keys.records, records)
            rejects_digest = FileDigest(snapshot.rejects_bytes, snapshot.rejects_sha256)
            rejects = store.put(files.rejects, keys.rejects, rejects_digest)
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

    @asset(
        **daily,
        name=source.table,
        kinds={"postgres"},
        deps=[archive_day],
        required_resource_keys={source.archive, source.postgres},
        description=(
            f"The {source.name} table, upserted by {contract.key.name} from the day's archived"
            " object (never from the API), with soft deletes in deleted_at."
        ),
        # Loaded by 03:00 UTC each day, from a run that started after midnight.
        freshness_policy=FreshnessPolicy.cron(
            deadline_cron="0 3 * * *", lower_bound_delta=timedelta(hours=3)
        ),
        check_specs=[
            AssetCheckSpec(
                "rows_match_archive",
                asset=source.table,
                description="Rows loaded and rejected equal the archived manifest's counts.",
            )
        ],
    )
    @failure_on_pipeline_error()
    def load_day(context: AssetExecutionContext, config: LoadConfig) -> MaterializeResult:
        archive = getattr(context.resources, source.archive)
        postgres = getattr(context.resources, source.postgres)
        day, store, table = partition_day(context), archive.get_archive(), postgres.table
        keys, manifest = archive.layout(source.name).find_day(store, day)
        snapshot = DaySnapshot.from_manifest(manifest)
        archived = ArchivedDay(day, keys, snapshot, store.uri(keys.records))
        if not archived.snapshot.crawl_complete:
            context.log.warning(f"{archived.uri} is from an incomplete crawl: no one is deleted")
        context.log.info(f"loading {archived.uri} into {table} ({postgres.display_url})")
        started = time.monotonic()
        with postgres.connect() as conn:
            result = load_archived_day(conn, store, archived, table, contract, config.reload)
            first_rows = preview(conn, table, contract, day)
        if result.skipped:
            context.log.info(f"{day} was already loaded from this object: nothing to do")
        for note in [*result.table_changes, *result.notices]:
            context.log.warning(f"{table}: {note}")
        context.log.info(load_summary(result))
        seconds = time.monotonic() - started
        return load_report(result, snapshot, str(table), archived.uri, schema, first_rows, seconds)

    return [fetch_day, archive_day, load_day]
