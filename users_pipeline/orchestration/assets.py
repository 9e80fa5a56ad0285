"""A source's three assets: API -> day file -> archive object -> Postgres table.

Each asset reads the previous one's output from its deterministic location (the day's files, the
day's object keys), never through an IO manager, so any of them can be materialized alone, in a
fresh process, for any day: a backfill of the table asset replays the archive with no API call.
The assets are built for a record contract: everything about the record comes from it.
"""

import time
from collections.abc import Callable, Iterator
from datetime import date

import psycopg
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    Config,
    FreshnessPolicy,
    MaterializeResult,
    asset,
    multi_asset,
)

from users_pipeline.alerts.deadline import Deadline
from users_pipeline.contract.record import RecordContract
from users_pipeline.http.stats import CrawlStats
from users_pipeline.orchestration.checks import (
    LOAD_CHECKS,
    check_output,
    fetch_check_results,
    fetch_check_specs,
    load_check_specs,
    load_evaluations,
    refused_evaluation,
)
from users_pipeline.orchestration.config import Thresholds, fetch_config, load_config
from users_pipeline.orchestration.descriptions import (
    fetch_description,
    history_description,
    load_description,
    upload_description,
)
from users_pipeline.orchestration.execution import step_tags
from users_pipeline.orchestration.failures import failure_on_pipeline_error
from users_pipeline.orchestration.logs import history_summary, log_load, progress_logger
from users_pipeline.orchestration.metadata import (
    column_schema,
    fetch_metadata,
    history_materialization,
    load_materialization,
)
from users_pipeline.orchestration.names import SourceNames
from users_pipeline.orchestration.partitions import daily_partitions, partition_days
from users_pipeline.settings import DEFAULT_LOADED_BY
from users_pipeline.snapshot.crawl import take_snapshot
from users_pipeline.snapshot.days import Snapshot, check_fetchable, never_taken, not_archived
from users_pipeline.snapshot.manifest import Manifest
from users_pipeline.snapshot.rejects import count_reasons
from users_pipeline.snapshot.verdicts import Rerun
from users_pipeline.storage import upload
from users_pipeline.storage.layout import DayFiles
from users_pipeline.warehouse.archived_days import DayLoadReport, load_archived_days
from users_pipeline.warehouse.archived_days import history_day as history_day_of
from users_pipeline.warehouse.guards import DeleteGuard, DeletesRefused
from users_pipeline.warehouse.history import HistoryDay, apply_day


def build_assets(
    contract: RecordContract,
    source: SourceNames,
    group: str,
    thresholds: Thresholds | None = None,
    defs_yaml: str | None = None,
    deadline: Deadline | None = None,
) -> list[AssetsDefinition]:
    """`raw_<name>_json` -> `s3_<name>_object` -> `pg_<name>_table` -> `pg_<name>_history` for
    records of `contract`.

    A backfill of a range, from the UI or `--partition-range`, is one run (single-run policy):
    the table asset loads its days in date order; the fetch refuses any day but today, the
    upload any day not fetched here. Without `thresholds`, the defaults of `settings`;
    `defs_yaml`, the source's file as a failed check names it; `deadline`, the time each day
    must be loaded by (its freshness policy)."""
    thresholds = thresholds or Thresholds()
    daily = {
        "partitions_def": daily_partitions,
        "group_name": group,
        "backfill_policy": BackfillPolicy.single_run(),
    }
    fetch = _fetch_asset(contract, source, thresholds, defs_yaml, daily)
    archived = _upload_asset(source, fetch, daily)
    deadline = deadline or Deadline.parse(DEFAULT_LOADED_BY)
    load = _load_asset(contract, source, thresholds, defs_yaml, archived, daily, deadline)
    return [fetch, archived, load]


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
        description=fetch_description(source),
        check_specs=fetch_check_specs(source.raw, thresholds.max_reject_share, daily_partitions),
    )
    @failure_on_pipeline_error()
    def fetch_day(context: AssetExecutionContext, config: run_config) -> MaterializeResult:
        limits, today = config.thresholds(), _fetchable_today(context, source)
        files = context.resources.data_dir.day_files(today, source.name)
        started = time.monotonic()
        manifest, stats = _snapshot(context, source, files, contract, limits)
        rejects_uri = _hand_over(context, source, files, today)
        uri, seconds = files.records.absolute().as_uri(), time.monotonic() - started
        rerun, reasons = Rerun(source.raw, today, defs_yaml), count_reasons(files.rejects, contract)
        checks = fetch_check_results(manifest, limits, rerun, reasons, rejects_uri)
        metadata = fetch_metadata(manifest, stats, uri, seconds)
        return MaterializeResult(metadata=metadata, check_results=checks)

    return fetch_day


def _fetchable_today(context: AssetExecutionContext, source: SourceNames) -> date:
    """Today, the only day a snapshot can be taken of, so a range (a single-run backfill) is
    refused too; a past day is refused as archived or as never fetched."""
    today = context.resources.clock.today()
    for day in partition_days(context):
        check_fetchable(day, today, source.name, source.assets, _snapshot_of(context, source))
    return today


def _snapshot_of(context: AssetExecutionContext, source: SourceNames) -> Callable[[date], Snapshot]:
    """Where a day's snapshot is, asked of a past day only: today makes no S3 client."""
    archive, data_dir = getattr(context.resources, source.archive), context.resources.data_dir

    def snapshot_of(day: date) -> Snapshot:
        files = data_dir.day_files(day, source.name)
        return upload.snapshot_of(archive.get_archive(), archive.layout(source.name), files, day)

    return snapshot_of


def _snapshot(
    context: AssetExecutionContext,
    source: SourceNames,
    files: DayFiles,
    contract: RecordContract,
    limits: Thresholds,
) -> tuple[Manifest, CrawlStats]:
    """Today's snapshot, its progress, drift and new fields logged, and what the crawl cost."""
    with getattr(context.resources, source.api).get_client(source.name) as client:
        context.log.info(f"fetching {client.display_url} ({client.proofs.page_size} per page)")
        manifest = take_snapshot(
            client,
            files,
            contract,
            max_crawls=limits.max_crawls,
            soft_deletes=limits.soft_deletes,
            on_page=progress_logger(context.log.info, source.name),
            on_drift=lambda attempt, problems: context.log.warning(
                f"crawl {attempt} is not complete: {'; '.join(problems)}"
            ),
            on_resume=context.log.info,
        )
    if manifest.unknown_fields:
        context.log.warning(f"schema drift: new fields {manifest.unknown_fields} kept raw")
    return manifest, client.stats


def _hand_over(
    context: AssetExecutionContext, source: SourceNames, files: DayFiles, today: date
) -> str:
    """The day handed over to the upload step, and the URI its rejects can be read at: the data
    dir's, or with the archive handover the archive's staging keys (see `storage.upload`), for
    an upload step on another machine, out of reach of the fetch's disk."""
    if context.resources.data_dir.handover != "archive":
        return files.rejects.absolute().as_uri()
    archive = getattr(context.resources, source.archive)
    store = archive.get_archive()
    staging = archive.layout(source.name).staging_keys(today)
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
        description=upload_description(source),
    )
    @failure_on_pipeline_error()
    def upload_day(context: AssetExecutionContext) -> MaterializeResult:
        uploaded = _archive_days(context, source)
        for day in uploaded:
            context.log.info(f"archived {day.records.bytes} bytes to {day.records.uri}")
        # One result for the run: every day of it was uploaded, or none was marked.
        return MaterializeResult(metadata={**uploaded[-1].metadata(), "days": len(uploaded)})

    return upload_day


def _archive_days(context: AssetExecutionContext, source: SourceNames) -> list[upload.UploadedDay]:
    """The run's days uploaded from the data dir, or from the archive's staging keys with the
    archive handover; a past day in neither was never fetched, and the error says so."""
    archive, data_dir = getattr(context.resources, source.archive), context.resources.data_dir
    layout, store = archive.layout(source.name), archive.get_archive()
    try:
        return upload.upload_days(
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


def _load_asset(
    contract: RecordContract,
    source: SourceNames,
    limits: Thresholds,
    defs_yaml: str | None,
    upload_asset: AssetsDefinition,
    daily: dict,
    deadline: Deadline,
) -> AssetsDefinition:
    """The table and its history, in one step: each day is loaded, then brought into the
    history, before the next day is loaded (the history reads the table's changes of the day).
    Either can be materialized alone; each day is its own materialization of each."""
    run_config = load_config(limits)
    table_key, history_key = AssetKey(source.table), AssetKey(source.history)

    @multi_asset(
        **daily,
        name=source.table,
        specs=_load_specs(contract, source, upload_asset, deadline),
        can_subset=True,
        op_tags=step_tags("load"),
        required_resource_keys={"clock", "data_dir", source.archive, source.postgres},
        check_specs=load_check_specs(source.table, limits, daily_partitions),
    )
    def load_day(context: AssetExecutionContext, config: run_config) -> Iterator[object]:
        postgres = getattr(context.resources, source.postgres)
        days, table = partition_days(context), str(postgres.table_name)
        context.log.info(f"loading {len(days)} day(s) into {table} ({postgres.display_url})")
        guard = _delete_guard(context, source, limits, config, table, defs_yaml)
        selected = context.selected_asset_keys
        history = _History(context, source, contract, guard) if history_key in selected else None
        with failure_on_pipeline_error(), postgres.connect() as conn:
            if table_key not in selected:
                for day in days:
                    yield from history.day(conn, day)  # type: ignore[union-attr]
                return
            tables = _TableDays(context, source, contract, config, guard)
            yield from tables.load(conn, limits, history)
        for name in LOAD_CHECKS:
            yield check_output(context, name, table_key)

    return load_day


def _load_specs(
    contract: RecordContract,
    source: SourceNames,
    upload_asset: AssetsDefinition,
    deadline: Deadline,
) -> list[AssetSpec]:
    """The table, below the archive object, and its history, below the table."""
    table_key = AssetKey(source.table)
    return [
        AssetSpec(
            table_key, deps=[upload_asset.key], kinds={"postgres"}, skippable=True,
            description=load_description(source, contract),
            # Loaded by the deadline each day, from a run that started that day.
            freshness_policy=FreshnessPolicy.cron(
                deadline_cron=deadline.cron, lower_bound_delta=deadline.window
            ),
        ),
        AssetSpec(
            AssetKey(source.history), deps=[table_key], kinds={"postgres"}, skippable=True,
            description=history_description(source),
        ),
    ]  # fmt: skip


def _delete_guard(
    context: AssetExecutionContext,
    source: SourceNames,
    limits: Thresholds,
    config: Config,
    table: str,
    defs_yaml: str | None,
) -> DeleteGuard:
    """The guard of the run's days, over the archive they load from, where accepted deletes
    are recorded."""
    archive = getattr(context.resources, source.archive)
    return DeleteGuard(
        limits.max_delete_share, config.max_delete_share, archive.get_archive(),
        archive.layout(source.name), table, source.table, defs_yaml,
    )  # fmt: skip


class _History:
    """Brings the run's days into the source's history, from the archive the days load from
    (the guard's: one client for the step)."""

    def __init__(
        self,
        context: AssetExecutionContext,
        source: SourceNames,
        contract: RecordContract,
        guard: DeleteGuard,
    ) -> None:
        self.store, self.layout = guard.store, guard.layout
        self.table = getattr(context.resources, source.postgres).table_name
        self.context, self.contract, self.key = context, contract, AssetKey(source.history)
        self.schema = column_schema(contract, history=True)

    def day(self, conn: psycopg.Connection, day: date) -> Iterator[object]:
        started = time.monotonic()
        applied = apply_day(conn, self.table, self.contract, self._archived(day), self._archived)
        self.context.log.info(f"{day}: {history_summary(applied)}")
        seconds = time.monotonic() - started
        yield history_materialization(day, applied, self.key, str(self.table), self.schema, seconds)

    def _archived(self, day: date) -> HistoryDay:
        return history_day_of(self.store, self.layout, self.contract, day)


class _TableDays:
    """Loads the run's days into the source's table, each with its checks, from the archive the
    guard records accepted deletes in (one client for the step)."""

    def __init__(
        self,
        context: AssetExecutionContext,
        source: SourceNames,
        contract: RecordContract,
        config: Config,
        guard: DeleteGuard,
    ) -> None:
        self.table = getattr(context.resources, source.postgres).table_name
        self.context, self.source, self.contract, self.config = context, source, contract, config
        self.guard, self.key, self.schema = guard, AssetKey(source.table), column_schema(contract)

    def load(
        self, conn: psycopg.Connection, limits: Thresholds, history: "_History | None"
    ) -> Iterator[object]:
        """Each day loaded with its checks (a refused day's failed check, then the failure),
        and with `history`, brought into the history."""
        try:
            for loaded in self._archived(conn):
                log_load(self.context.log, loaded, str(self.table))
                yield load_materialization(loaded, self.key, str(self.table), self.schema)
                yield from load_evaluations(loaded, self.guard, limits, self.key)
                if history is not None:
                    yield from history.day(conn, loaded.archived.day)
        except DeletesRefused as refused:
            yield refused_evaluation(refused, self.key)
            raise

    def _archived(self, conn: psycopg.Connection) -> Iterator[DayLoadReport]:
        """The run's days loaded from the guard's archive, each as it commits; a day not
        archived is skipped in a range, and fails a one-day run naming the assets that
        archive it."""
        context, source = self.context, self.source
        today, snapshot_of = context.resources.clock.today(), _snapshot_of(context, source)
        return load_archived_days(
            conn,
            self.guard.store,
            self.guard.layout,
            self.table,
            self.contract,
            partition_days(context),
            source.table,
            self.config.reload,
            on_deletes=self.guard,
            on_missing=lambda day, reason: context.log.warning(f"{day} skipped: {reason}"),
            explain_missing=lambda day, missing: not_archived(
                day, today, source.name, str(missing), source.assets, snapshot_of(day)
            ),
        )
