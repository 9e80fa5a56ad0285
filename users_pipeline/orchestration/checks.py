"""A source's asset checks: what each proves, and its result for a fetched or loaded day.

Every check is per day (partitioned like its asset), so a day that fails or is refused never
changes another day's check status. The fetch's two checks block: a day that fails them is not
archived or loaded. The load's check is reported once per loaded day, so a range loaded in one run
marks exactly the days it loaded.
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
    Output,
    PartitionsDefinition,
)

from users_pipeline.snapshot.manifest import Manifest
from users_pipeline.warehouse.archived_days import DayLoadReport

CRAWL_IS_COMPLETE = "crawl_is_complete"
REJECTS_WITHIN_LIMIT = "rejects_within_limit"
ROWS_MATCH_ARCHIVE = "rows_match_archive"


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


def load_check_spec(asset: str, partitions: PartitionsDefinition) -> AssetCheckSpec:
    return AssetCheckSpec(
        ROWS_MATCH_ARCHIVE,
        asset=asset,
        partitions_def=partitions,
        description="Rows loaded and rejected equal the archived manifest's counts.",
    )


def fetch_check_results(manifest: Manifest, max_reject_share: float) -> list[AssetCheckResult]:
    reject_share = manifest.rejected_records / max(manifest.records, 1)
    return [
        AssetCheckResult(
            check_name=CRAWL_IS_COMPLETE,
            passed=manifest.crawl_complete,
            description="; ".join(manifest.crawl_problems) or "complete",
            metadata={
                "attempts": manifest.crawl_attempts,
                "records": manifest.records,
                "distinct_ids": manifest.distinct_ids,
                "total_at_start": manifest.total_at_start,
                "total_at_end": manifest.total_at_end,
                "repeated_ids": manifest.repeated_ids,
                "short_pages": str(manifest.short_pages),
            },
        ),
        AssetCheckResult(
            check_name=REJECTS_WITHIN_LIMIT,
            passed=reject_share <= max_reject_share,
            description=(
                f"{manifest.rejected_records} of {manifest.records} records rejected"
                f" ({reject_share:.2%}, limit {max_reject_share:.2%})"
            ),
            metadata={"rejected": manifest.rejected_records, "share": reject_share},
        ),
    ]


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


def check_output(context: AssetExecutionContext, check_name: str) -> Output:
    """The output of a check whose results were reported as events, one per day (see
    `rows_match_archive`): Dagster still expects the check's output once per run."""
    key = AssetCheckKey(context.asset_key, check_name)
    return Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(key))
