"""A source's asset checks: what each proves, and its result for a fetched or loaded day.

Every check is per day (partitioned like its asset), so a day that fails or is refused never
changes another day's check status. The fetch's two checks block: a day that fails them is not
archived or loaded. The load's checks are reported once per loaded day, so a range loaded in one
run marks exactly the days it loaded; a day refused for its deletes fails its check and the run.
"""

from __future__ import annotations

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MetadataValue,
    Output,
    PartitionsDefinition,
)

from users_pipeline.orchestration.config import Thresholds
from users_pipeline.snapshot.manifest import Manifest
from users_pipeline.snapshot.rejects import RejectReasons
from users_pipeline.snapshot.verdicts import Rerun, Verdict, crawl_verdict, rejects_verdict
from users_pipeline.warehouse.archived_days import DayLoadReport
from users_pipeline.warehouse.guards import DeleteGuard, DeletesRefused, count_verdict

CRAWL_IS_COMPLETE = "crawl_is_complete"
REJECTS_WITHIN_LIMIT = "rejects_within_limit"
ROWS_MATCH_ARCHIVE = "rows_match_archive"
DELETES_WITHIN_LIMIT = "deletes_within_limit"
ROW_COUNT_TREND = "row_count_trend"
LOAD_CHECKS = (ROWS_MATCH_ARCHIVE, DELETES_WITHIN_LIMIT, ROW_COUNT_TREND)


def fetch_check_specs(
    asset: str, max_reject_share: float, partitions: PartitionsDefinition
) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(
            CRAWL_IS_COMPLETE,
            asset=asset,
            partitions_def=partitions,
            blocking=True,
            description="Every record exactly once: the count equals the total the API states at"
            " start and end, no valid key on two pages, no short page before the last, page size"
            " as asked.",
        ),
        AssetCheckSpec(
            REJECTS_WITHIN_LIMIT,
            asset=asset,
            partitions_def=partitions,
            blocking=True,
            description="Invalid records are at most max_reject_share of the day"
            f" ({max_reject_share:.0%}).",
        ),
    ]


def load_check_specs(
    asset: str, limits: Thresholds, partitions: PartitionsDefinition
) -> list[AssetCheckSpec]:
    descriptions = {
        ROWS_MATCH_ARCHIVE: "Rows loaded and rejected equal the archived manifest's counts.",
        DELETES_WITHIN_LIMIT: "A new latest day marks at most max_delete_share of the current"
        f" rows deleted ({limits.max_delete_share:.0%}), unless accepted; above it the day"
        " loads nothing.",
        ROW_COUNT_TREND: "Warns when the day's rows differ from the previous loaded day's by"
        f" more than max_count_change ({limits.max_count_change:.0%}).",
    }
    return [
        AssetCheckSpec(name, asset=asset, partitions_def=partitions, description=description)
        for name, description in descriptions.items()
    ]


def fetch_check_results(
    manifest: Manifest,
    limits: Thresholds,
    rerun: Rerun,
    reasons: RejectReasons,
    rejects_uri: str,
) -> list[AssetCheckResult]:
    """The fetch's two checks; one that failed also shows the rejects counted by reason, where
    the rejects are, and the next step (see `snapshot.verdicts`)."""
    verdicts = {
        CRAWL_IS_COMPLETE: crawl_verdict(manifest, limits.max_crawls, rerun),
        REJECTS_WITHIN_LIMIT: rejects_verdict(manifest, limits.max_reject_share, rerun),
    }
    return [
        AssetCheckResult(
            check_name=name,
            passed=verdict.passed,
            description=verdict.description,
            metadata=_explained(verdict, reasons, rejects_uri),
        )
        for name, verdict in verdicts.items()
    ]


def _explained(verdict: Verdict, reasons: RejectReasons, rejects_uri: str) -> dict[str, object]:
    metadata: dict[str, object] = dict(verdict.facts)
    if not verdict.passed or reasons.counts:
        metadata["reasons"] = MetadataValue.md(reasons.table())
        metadata["rejects"] = MetadataValue.url(rejects_uri)
    if verdict.next_step:
        metadata["next step"] = MetadataValue.md(verdict.next_step)
    return metadata


def load_evaluations(
    loaded: DayLoadReport, guard: DeleteGuard, limits: Thresholds, asset_key: AssetKey
) -> list[AssetCheckEvaluation]:
    """The load's checks of one loaded day."""
    day = loaded.archived.day
    trend = count_verdict(loaded.result.staged, loaded.previous, limits.max_count_change)
    return [
        rows_match_archive(loaded, asset_key),
        day_evaluation(DELETES_WITHIN_LIMIT, guard.verdict(day), asset_key, day.isoformat()),
        day_evaluation(ROW_COUNT_TREND, trend, asset_key, day.isoformat(), warn=True),
    ]


def refused_evaluation(refused: DeletesRefused, asset_key: AssetKey) -> AssetCheckEvaluation:
    return day_evaluation(DELETES_WITHIN_LIMIT, refused.verdict, asset_key, refused.day.isoformat())


def rows_match_archive(loaded: DayLoadReport, asset_key: AssetKey) -> AssetCheckEvaluation:
    result, manifest = loaded.result, loaded.archived.snapshot
    return AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=ROWS_MATCH_ARCHIVE,
        passed=(result.staged, result.rejected)
        == (manifest.valid_records, manifest.rejected_records),
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"loaded {result.staged} and rejected {result.rejected}; the manifest says"
            f" {manifest.valid_records} valid and {manifest.rejected_records} rejected"
        ),
        partition=loaded.archived.day.isoformat(),
    )


def day_evaluation(
    check_name: str, verdict: Verdict, asset_key: AssetKey, day: str, warn: bool = False
) -> AssetCheckEvaluation:
    """A load check's result for one day, from its verdict (see `warehouse.guards`)."""
    metadata: dict[str, object] = dict(verdict.facts)
    if verdict.next_step:
        metadata["next step"] = MetadataValue.md(verdict.next_step)
    return AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=check_name,
        passed=verdict.passed,
        severity=AssetCheckSeverity.WARN if warn else AssetCheckSeverity.ERROR,
        description=verdict.description,
        metadata=metadata,
        partition=day,
    )


def check_output(context: AssetExecutionContext, check_name: str) -> Output:
    """The output of a check whose results were reported as events, one per day (see
    `rows_match_archive`): Dagster still expects the check's output once per run."""
    key = AssetCheckKey(context.asset_key, check_name)
    return Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(key))
