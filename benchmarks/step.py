"""Materialize one users_pipeline asset for one day in this process, and report it as JSON.

`benchmarks.run` starts this module in a fresh subprocess per step, so each step pays (and is
measured with) its own Python start and Dagster import, and its peak RSS is its own. Resources are
built exactly like `users_pipeline_tests/conftest.py` builds them. The last stdout line is one
JSON object: the materialization's scalar metadata, its check results, and this runner's timings.

    python -m benchmarks.step pg_users_table [--reload] --api-url URL --data-dir DIR
        --s3-endpoint URL --bucket NAME --database-url URI --table bench.users_10000
        --day 2026-11-25
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

ASSETS = ("raw_users_json", "s3_users_object", "pg_users_table")
SKIPPED_METADATA = {"preview", "dagster/column_schema"}  # large or not JSON scalars


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.step", description=__doc__)
    parser.add_argument("asset", choices=ASSETS)
    parser.add_argument("--api-url", required=True, help="GoRest-compatible users endpoint")
    parser.add_argument("--data-dir", required=True, help="DataDirResource path")
    parser.add_argument("--s3-endpoint", required=True, help="S3 endpoint URL (moto)")
    parser.add_argument("--bucket", required=True, help="archive bucket")
    parser.add_argument("--database-url", required=True, help="PostgreSQL URI")
    parser.add_argument("--table", required=True, help="users table, schema.table")
    parser.add_argument("--day", required=True, help="partition key, YYYY-MM-DD")
    parser.add_argument(
        "--reload", action="store_true", help="pg_users_table only: run config reload=True"
    )
    return parser.parse_args(argv)


def build_resources(args: argparse.Namespace) -> dict[str, object]:
    """The pipeline's resources, as `users_pipeline_tests/conftest.py` builds them."""
    from benchmarks.services import s3_resource
    from users_pipeline.orchestration.resources import (
        ApiResource,
        ArchiveResource,
        ClockResource,
        DataDirResource,
        PostgresResource,
    )

    s3 = s3_resource(args.s3_endpoint)
    return {
        "clock": ClockResource(),
        "users_api": ApiResource(url=args.api_url),
        "data_dir": DataDirResource(path=args.data_dir),
        "archive": ArchiveResource(s3=s3, bucket=args.bucket, prefix="users"),
        "postgres": PostgresResource(database_url=args.database_url, table=args.table),
    }


def peak_rss_mib() -> float | None:
    """VmHWM of this process (its peak RSS since exec), a cross-check of the launcher's
    `ru_maxrss`."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def json_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def main(argv: list[str] | None = None) -> int:
    runner_started = time.perf_counter()
    args = parse_args(argv)
    # Imported here so `runner_seconds` includes importing Dagster and the pipeline.
    from dagster import DagsterInstance, materialize

    from users_pipeline import defs

    asset = defs.get_assets_def(args.asset)
    run_config = None
    if args.reload:
        run_config = {"ops": {args.asset: {"config": {"reload": True}}}}
    resources = build_resources(args)
    with DagsterInstance.ephemeral() as instance:
        started = time.perf_counter()
        result = materialize(
            [asset],
            resources=resources,
            partition_key=args.day,
            run_config=run_config,
            instance=instance,
        )
        materialize_seconds = time.perf_counter() - started
        step_stats = instance.get_run_step_stats(result.run_id)
    # The table's step also materializes the history (`pg_users_history`): reported beside it.
    materialized = {
        event.asset_key.to_user_string(): {
            key: entry.value
            for key, entry in event.event_specific_data.materialization.metadata.items()
            if key not in SKIPPED_METADATA and json_scalar(entry.value)
        }
        for event in result.get_asset_materialization_events()
    }
    metadata = materialized.pop(args.asset)
    checks = {
        evaluation.check_name: evaluation.passed
        for evaluation in result.get_asset_check_evaluations()
    }
    step_seconds = [
        stats.end_time - stats.start_time
        for stats in step_stats
        if stats.start_time is not None and stats.end_time is not None
    ]
    report = {
        "asset": args.asset,
        "reload": args.reload,
        "metadata": metadata,
        "also_materialized": materialized,
        "checks": checks,
        "materialize_seconds": round(materialize_seconds, 4),
        "dagster_step_seconds": round(sum(step_seconds), 4) if step_seconds else None,
        "runner_seconds": round(time.perf_counter() - runner_started, 4),
        "vm_hwm_mib": peak_rss_mib(),
    }
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
