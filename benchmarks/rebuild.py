"""Rebuilding a table from 30 archived days: one run of the range against 30 one-day runs.

When the table is lost, or the pipeline starts from an archive that already holds months, the
history is rebuilt from the archived days. `pg_users_table` has a single-run backfill policy:
`dagster asset materialize --partition-range FIRST...LAST` loads every day of the range in one
run and one process, in date order, each day in its own transaction. Without it, a backfill is a
run per day, and each pays a Python start, the Dagster import and loading the definitions (about
3 s here) to load a day that takes a few hundredths of a second. This measures both.

Setup: a GoRest server of 10,000 users is crawled once by the pipeline's own fetch (the CLI, as
below, `--select raw_users_json`), and that snapshot is archived under each of the 30 days before
today. Every fifth day, 1% of the users differ from the day before (`benchmarks.changed_day`:
changed, gone, new), so the rebuild has history to get right, not only the same day 30 times.

Measured, each as the command a user would type, in a subprocess, configured through the
environment as the README documents (`benchmarks.versus_dlt.clean_environment`: no stray
settings, no DAGSTER_HOME), USERS_FIRST_DAY the first archived day:
(a) one run, `--partition-range FIRST...LAST`, into an empty table;
(b) 30 runs, `--partition DAY` in date order, into another empty table.
Reported: both wall times, (b) / (a) (the target: at least 5x), and whether the two tables are
equal row for row (`SELECT * ORDER BY id`) with `_loads` logs listing the same 30 days.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from benchmarks.changed_day import archive_records, change_users, read_records
from benchmarks.services import S3_CREDENTIALS, VENV_BIN, create_bucket, gorest_server
from benchmarks.versus_dlt import (
    checkpoint,
    clean_environment,
    drop_schemas,
    log_slice,
    ours_details,
    timed,
)
from users_pipeline.snapshot.days import utc_today
from users_pipeline.snapshot.manifest import Manifest
from users_pipeline.storage.layout import SourceLayout

REBUILD_DAYS = 30
REBUILD_USERS = 10_000
CHANGE_EVERY = 5  # every fifth day differs from the day before by 1% of the users
TARGET_SPEEDUP = 5.0
SCHEMA = "rebuild"
BUCKET = "rebuild"
TABLES = {"one_run": f"{SCHEMA}.one_run", "day_by_day": f"{SCHEMA}.day_by_day"}
MATERIALIZE = [str(VENV_BIN / "dagster"), "asset", "materialize", "-m", "users_pipeline"]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cli_environment(
    api_url: str, s3_endpoint: str, database_url: str, table: str, data_dir: Path, first_day: date
) -> dict[str, str]:
    return clean_environment(
        USERS_API_URL=api_url,
        S3_BUCKET=BUCKET,
        S3_PREFIX="users",
        S3_ENDPOINT_URL=s3_endpoint,
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID=S3_CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=S3_CREDENTIALS["aws_secret_access_key"],
        DATABASE_URL=database_url,
        USERS_TABLE=table,
        USERS_PIPELINE_DATA_DIR=str(data_dir),
        USERS_FIRST_DAY=first_day.isoformat(),
    )


def archive_days(
    folder: Path, s3_endpoint: str, today: date, days: list[date]
) -> list[dict[str, Any]]:
    """Today's fetched snapshot archived under each of `days`, every CHANGE_EVERY-th day 1%
    different from the day before; returns what changed on which day."""
    fetched = SourceLayout("users").day_files(folder / "data", today)
    records = read_records(fetched.records)
    like = Manifest.from_json(fetched.manifest.read_bytes())
    changed_days = []
    for number, day in enumerate(days):
        if number and number % CHANGE_EVERY == 0:
            records, changes = change_users(records, seed=number)
            changed_days.append({"day": day.isoformat(), "users": len(records), **asdict(changes)})
        files = SourceLayout("users").day_files(folder / "archived", day)
        archive_records(s3_endpoint, BUCKET, records, like, files, day)
    return changed_days


def table_contents(database_url: str, table: str) -> tuple[list[tuple], list[tuple]]:
    """The users table (`SELECT * ORDER BY id`) and its `_loads` log without `loaded_at`."""
    schema, name = table.split(".")
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            sql.SQL("SELECT * FROM {} ORDER BY id").format(sql.Identifier(schema, name))
        ).fetchall()
        loads = conn.execute(
            sql.SQL(
                "SELECT snapshot_date, crawl_complete, sha256, rows_loaded, rows_rejected"
                " FROM {} ORDER BY snapshot_date"
            ).format(sql.Identifier(schema, f"{name}_loads"))
        ).fetchall()
    return rows, loads


def bench_rebuild(
    workdir: Path,
    s3_endpoint: str,
    database_url: str,
    *,
    days: int = REBUILD_DAYS,
    users: int = REBUILD_USERS,
) -> dict[str, Any]:
    folder = workdir / "rebuild"
    log = folder / "cli.log"
    today = utc_today()
    dates = [today - timedelta(days=days - offset) for offset in range(days)]
    first, last = dates[0], dates[-1]
    create_bucket(s3_endpoint, BUCKET)

    def env(api_url: str, table: str) -> dict[str, str]:
        return cli_environment(api_url, s3_endpoint, database_url, table, folder / "data", first)

    progress(f"rebuild: fetching {users:,} users, archiving them under {first}...{last}")
    with gorest_server(users, folder.parent / "gorest_rebuild.log") as api_url:
        fetch = [*MATERIALIZE, "--select", "raw_users_json", "--partition", today.isoformat()]
        timed(fetch, env(api_url, TABLES["one_run"]), folder, log)
    changed_days = archive_days(folder, s3_endpoint, today, dates)

    drop_schemas(database_url, SCHEMA)
    load = [*MATERIALIZE, "--select", "pg_users_table"]
    checkpoint(database_url)
    progress(f"  one run of --partition-range {first}...{last}")
    start = log.stat().st_size
    one_run = timed(
        [*load, "--partition-range", f"{first}...{last}"],
        env(api_url, TABLES["one_run"]),
        folder,
        log,
    )
    one_run_step = ours_details(log_slice(log, start))["steps"].get("pg_users_table")
    progress(f"    {one_run:.2f} s")
    checkpoint(database_url)
    progress(f"  {days} runs of --partition DAY")
    samples = []
    started = time.perf_counter()
    for day in dates:
        samples.append(
            timed(
                [*load, "--partition", day.isoformat()],
                env(api_url, TABLES["day_by_day"]),
                folder,
                log,
            )
        )
    day_by_day = time.perf_counter() - started
    progress(f"    {day_by_day:.2f} s")

    (one_rows, one_loads), (daily_rows, daily_loads) = (
        table_contents(database_url, table) for table in TABLES.values()
    )
    expected_rows = users + sum(change["new"] for change in changed_days)
    problems = []
    if one_rows != daily_rows:
        problems.append("the one-run table and the day-by-day table differ")
    if one_loads != daily_loads:
        problems.append("the one-run and day-by-day _loads logs differ")
    if len(one_loads) != days:
        problems.append(f"the one run loaded {len(one_loads)} days, expected {days}")
    if len(one_rows) != expected_rows:
        problems.append(f"the rebuilt table has {len(one_rows):,} rows, expected {expected_rows:,}")
    speedup = day_by_day / one_run
    if speedup < TARGET_SPEEDUP:
        problems.append(
            f"one run is {speedup:.1f}x faster than day by day, target {TARGET_SPEEDUP:g}x"
        )
    return {
        "users": users,
        "days": days,
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "changed_days": changed_days,
        "one_run_seconds": one_run,
        "one_run_step_seconds": one_run_step,
        "day_by_day_seconds": day_by_day,
        "day_by_day_samples": samples,
        "speedup": speedup,
        "target_speedup": TARGET_SPEEDUP,
        "tables_equal": one_rows == daily_rows and one_loads == daily_loads,
        "rows": len(one_rows),
        "rows_deleted": sum(1 for row in one_rows if row[-1] is not None),
        "problems": problems,
    }


def format_rebuild(result: dict[str, Any]) -> str:
    equal = "yes" if result["tables_equal"] else "NO"
    step = result["one_run_step_seconds"]
    inside = f", of which the load step {step:.2f} s" if step is not None else ""
    return (
        f"rebuild of {result['days']} archived days of {result['users']:,} users"
        f" ({result['first_day']}...{result['last_day']}, {len(result['changed_days'])} days"
        f" with 1% changed): one run {result['one_run_seconds']:.2f} s{inside};"
        f" {result['days']} one-day runs {result['day_by_day_seconds']:.2f} s;"
        f" {result['speedup']:.1f}x (target {result['target_speedup']:g}x);"
        f" tables equal: {equal} ({result['rows']:,} rows, {result['rows_deleted']:,} deleted)"
    )
