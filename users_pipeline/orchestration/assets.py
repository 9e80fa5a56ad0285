"""A source's three assets: API -> day file -> archive object -> Postgres table.

Each asset reads the previous one's output from its deterministic location (the day's files, the
day's object keys), never through an IO manager, so any of them can be materialized alone, in a
fresh process, for any day: a backfill of the table asset replays the archive with no API call.
The assets are built for a record contract: everything about the record comes from it.
"""

import time
from collections.abc import Iterator
from datetime import date, timedelta

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    FreshnessPolicy,
    MaterializeResult,
    asset,
)

from users_pipeline.contract.record import RecordContract
from users_pipeline.http.client import RestClient
from users_pipeline.orchestration.checks import (
    ROWS_MATCH_ARCHIVE,
    check_output,
    fetch_check_results,
    fetch_check_specs,
    load_check_spec,
    rows_match_archive,
)
from users_pipeline.orchestration.config import LoadConfig, Thresholds, fetch_config
from users_pipeline.orchestration.execution import step_tags
from users_pipeline.orchestration.failures import failure_on_pipeline_error
from users_pipeline.orchestration.logs import log_load, progress_logger
from users_pipeline.orchestration.metadata import (
    column_schema,
    fetch_metadata,
    load_materialization,
)
from users_pipeline.orchestration.names import SourceNames
from users_pipeline.orchestration.partitions import daily_partitions, partition_days
from users_pipeline.orchestration.resources import ArchiveResource
from users_pipeline.snapshot.crawl import take_snapshot
from users_pipeline.snapshot.days import check_fetchable, never_taken, not_archived
from users_pipeline.snapshot.manifest import Manifest
from users_pipeline.snapshot.rejects import count_reasons
from users_pipeline.snapshot.verdicts import Rerun
from users_pipeline.storage import upload
from users_pipeline.storage.layout import DayFiles
from users_pipeline.warehouse.archived_days import load_archived_days


def build_assets(
    contract: RecordContract,
    source: SourceNames,
    group: str,
    thresholds: Thresholds | None = None,
    defs_yaml: str | None = None,
) -> list[AssetsDefinition]:
    """`raw_<name>_json` -> `s3_<name>_object` -> `pg_<name>_table` for records of `contract`.

    A backfill of a range, from the UI or `--partition-range`, is one run (single-run policy):
    the table asset loads its days in date order; the fetch refuses any day but today, the
    upload any day not fetched here. Without `thresholds`, the defaults of `settings`;
    `defs_yaml`, the source's file as a failed check names it."""
    thresholds = thresholds or Thresholds()
    daily = {
        "partitions_def": daily_partitions,
        "group_name": group,
        "backfill_policy": BackfillPolicy.single_run(),
    }
    fetch = _fetch_asset(contract, source, thresholds, defs_yaml, daily)
    archived = _upload_asset(source, fetch, daily)
    return [fetch, archived, _load_asset(contract, source, archived, daily)]


def _fetch_asset(
    contract: RecordContract,
    source: SourceNames,
    thresholds: Thresholds,
    defs_yaml: str | None,
    daily: dict,
) -> AssetsDefinition:
    run_config = fetch_config(thresholds)

    @asset(
        **daily,
        name=source.raw,
        kinds={"python", "json"},
        op_tags=step_tags("fetch"),
        required_resource_keys={"clock", "data_dir", source.api, source.archive},
        description=(
            f"Every page of the {source.name} API for the day as one JSON Lines file in the data"
            " dir, with its rejects and a manifest proving the crawl complete."
        ),
        check_specs=fetch_check_specs(source.raw, thresholds.max_reject_share, daily_partitions),
    )
    @failure_on_pipeline_error()
    def fetch_day(context: AssetExecutionContext, config: run_config) -> MaterializeResult:
        resources, limits = context.resources, config.thresholds()
        # Only today can be fetched, so a range (a single-run backfill) is refused here too.
        today, archive = resources.clock.today(), getattr(resources, source.archive)
        layout = archive.layout(source.name)

        def archived(day: date) -> bool:  # asked of a past day only: today makes no S3 client
            return layout.has_day(archive.get_archive(), day)

        for day in partition_days(context):
            check_fetchable(day, today, source.name, source.table, archived)
        files = resources.data_dir.day_files(today, source.name)
        started = time.monotonic()
        with getattr(resources, source.api).get_client(source.name) as client:
            manifest = _snapshot(context, client, files, contract, limits, source.name)
        rejects_uri = files.rejects.absolute().as_uri()
        if resources.data_dir.handover == "archive":
            rejects_uri = _stage(archive, files, today, source.name)
        uri, seconds = files.records.absolute().as_uri(), time.monotonic() - started
        checks = fetch_check_results(
            manifest,
            limits,
            Rerun(source.raw, today, defs_yaml),
            count_reasons(files.rejects, contract),
            rejects_uri,
        )
        return MaterializeResult(
            metadata=fetch_metadata(manifest, client.stats, uri, seconds), check_results=checks
        )

    return fetch_day


def _snapshot(
    context: AssetExecutionContext,
    client: RestClient,
    files: DayFiles,
    contract: RecordContract,
    limits: Thresholds,
    name: str,
) -> Manifest:
    """Today's snapshot, its progress, drift and new fields logged."""
    context.log.info(f"fetching {client.display_url} ({client.proofs.page_size} per page)")
    manifest = take_snapshot(
        client,
        files,
        contract,
        max_crawls=limits.max_crawls,
        soft_deletes=limits.soft_deletes,
        on_page=progress_logger(context.log.info, name),
        on_drift=lambda attempt, problems: context.log.warning(
            f"crawl {attempt} is not complete: {'; '.join(problems)}"
        ),
    )
    if manifest.unknown_fields:
        context.log.warning(f"schema drift: new fields {manifest.unknown_fields} kept raw")
    return manifest


def _stage(archive: ArchiveResource, files: DayFiles, today: date, name: str) -> str:
    """The day staged in the archive for an upload step on another machine (see
    `storage.upload`); the rejects' URI there, since the fetch's disk may be out of reach."""
    store = archive.get_archive()
    staging = archive.layout(name).staging_keys(today)
    upload.upload_day(store, files, staging)
    return store.uri(staging.rejects)


def _upload_asset(source: SourceNames, fetch: AssetsDefinition, daily: dict) -> AssetsDefinition:
    @asset(
        **daily,
        name=source.object,
        kinds={"s3"},
        op_tags=step_tags("load"),
        deps=[fetch],
        required_resource_keys={"clock", "data_dir", source.archive},
        description=(
            f"The day's records as JSON Lines at <prefix>/dt=YYYY-MM-DD/{source.name}.jsonl, its"
            " rejects and manifest under <prefix>/_rejects/ and <prefix>/_manifests/."
        ),
    )
    @failure_on_pipeline_error()
    def upload_day(context: AssetExecutionContext) -> MaterializeResult:
        archive, data_dir = getattr(context.resources, source.archive), context.resources.data_dir
        layout, store = archive.layout(source.name), archive.get_archive()
        try:
            uploaded = upload.upload_days(
                store,
                partition_days(context),
                files_of=lambda day: data_dir.day_files(day, source.name),
                keys_of=layout.keys,
                # Fetched on another machine: the day waits in the archive's staging keys.
                staged_keys_of=layout.staging_keys if data_dir.handover == "archive" else None,
                not_here=f"{source.raw} takes a day's snapshot on that day only; a day already"
                f" archived loads with {source.table} alone",
            )
        except upload.SnapshotNotTakenHereError as error:
            today = context.resources.clock.today()
            for day in error.days:
                if day < today and not layout.has_day(store, day):
                    raise never_taken(day, source.name) from None
            raise
        for day in uploaded:
            context.log.info(f"archived {day.records.bytes} bytes to {day.records.uri}")
        # One result for the run: every day of it was uploaded, or none was marked.
        return MaterializeResult(metadata={**uploaded[-1].metadata(), "days": len(uploaded)})

    return upload_day


def _load_asset(
    contract: RecordContract, source: SourceNames, upload_asset: AssetsDefinition, daily: dict
) -> AssetsDefinition:
    schema = column_schema(contract)

    @asset(
        **daily,
        name=source.table,
        kinds={"postgres"},
        op_tags=step_tags("load"),
        deps=[upload_asset],
        required_resource_keys={"clock", source.archive, source.postgres},
        description=(
            f"The {source.name} table, upserted by {contract.key.name} from the day's archived"
            " object (never from the API), with soft deletes in deleted_at. A range of days loads"
            " in one run, each day its own transaction and materialization."
        ),
        # Each loaded day is its own materialization (see `metadata.load_materialization`).
        output_required=False,
        # Loaded by 03:00 UTC each day, from a run that started after midnight.
        freshness_policy=FreshnessPolicy.cron(
            deadline_cron="0 3 * * *", lower_bound_delta=timedelta(hours=3)
        ),
        check_specs=[load_check_spec(source.table, daily_partitions)],
    )
    def load_day(context: AssetExecutionContext, config: LoadConfig) -> Iterator[object]:
        archive = getattr(context.resources, source.archive)
        postgres = getattr(context.resources, source.postgres)
        days, table = partition_days(context), postgres.table_name
        today = context.resources.clock.today()
        context.log.info(f"loading {len(days)} day(s) into {table} ({postgres.display_url})")
        with failure_on_pipeline_error(), postgres.connect() as conn:
            for loaded in load_archived_days(
                conn,
                archive.get_archive(),
                archive.layout(source.name),
                table,
                contract,
                days,
                source.table,
                config.reload,
                on_missing=lambda day, reason: context.log.warning(f"{day} skipped: {reason}"),
                explain_missing=lambda day, missing: not_archived(
                    day, today, source.name, str(missing), f"{source.raw} and {source.object}"
                ),
            ):
                log_load(context.log, loaded, str(table))
                yield load_materialization(loaded, context.asset_key, str(table), schema)
                yield rows_match_archive(loaded, context.asset_key)
        yield check_output(context, ROWS_MATCH_ARCHIVE)

    return load_day
