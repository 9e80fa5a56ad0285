"""users_pipeline against dlt, side by side, end to end: `python -m benchmarks.versus_dlt`.

    python -m benchmarks.versus_dlt [--sizes 100000,1000000] [--repeats 2]
                                    [--output benchmarks/results/versus_dlt.json] [--keep]

For each size N, one GoRest-compatible server (`users_pipeline.offline`, on 127.0.0.1)
serves the same N users to both tools, which load into the same PostgreSQL (the pipeline's
embedded server). Each tool runs as the command its user would type, in a subprocess, and its
wall time is what is measured: Python start, imports, fetch, archive and load all included.

- ours: `dagster asset materialize -m users_pipeline --select raw_users_json,s3_users_object,
  pg_users_table --partition <today UTC>`, configured as the README documents: USERS_API_URL,
  the archive in a bucket of moto's S3 server (S3_BUCKET, S3_ENDPOINT_URL, AWS_*), DATABASE_URL,
  USERS_TABLE in its own schema, a fresh USERS_PIPELINE_DATA_DIR, no DAGSTER_HOME.
- dlt: `python benchmarks/dlt_users.py`, dlt's `rest_api` source merged on `id` into its own
  dataset (see that module for the paginator GoRest needs). dlt has no archive step: it loads
  straight from the API, so it does less work than ours.

Each tool runs twice in a row: a first run into an empty schema, then the same command again
(same day, same users, same data dir or dlt working directory): an unchanged re-run. The two
tools do different work there: ours crawls and archives again, then its load finds the day
already loaded from an identical object and skips it; dlt extracts, normalizes and merges all N
rows again. Both tables must then hold N rows. The whole sequence is repeated
`--repeats` times from empty schemas, the tools taking turns in alternating order, since the
machine is shared and noisy; every sample is kept and the medians are compared. Each run's
time is also split into phases from the tools' own logs (Dagster's step times; dlt's trace).

dlt is a benchmark-only dependency (the `bench` extra: `pip install -e '.[bench]'`); it installs
into the project's venv without changing any pinned package, so both commands run from the same
Python. `compare(...)` is importable for `benchmarks.run`, and can reuse its PostgreSQL and S3.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from benchmarks.services import (
    ROOT,
    S3_CREDENTIALS,
    VENV_BIN,
    create_bucket,
    embedded_postgres,
    gorest_server,
    moto_s3,
    run_until_interrupted,
)
from users_pipeline.snapshot.days import utc_today

DEFAULT_SIZES = (100_000,)
DEFAULT_REPEATS = 2
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "versus_dlt.json"
ASSETS = "raw_users_json,s3_users_object,pg_users_table"
DLT_SCRIPT = ROOT / "benchmarks" / "dlt_users.py"
TOOLS = ("ours", "dlt")
# Settings either tool could pick up from the caller's shell or a stray config, removed so that
# each command sees only what this benchmark sets.
FOREIGN_SETTINGS = re.compile(
    r"^(USERS_|POSTS_|COMMENTS_|TODOS_|S3_|AWS_|PG_|API_|ARCHIVE_|DATABASE_URL$|DAGSTER_"
    r"|DLT_|RUNTIME__|DESTINATION__|SOURCES__|NORMALIZE__|LOAD__|EXTRACT__)"
)
STEP_FINISHED = re.compile(r'Finished execution of step "(\w+)" in ([\d.hms]+)\.')
STEPS_FINISHED = re.compile(r"Finished steps in process \(pid: \d+\) in ([\d.hms]+)")
DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:([\d.]+)s)?")
ALREADY_LOADED = "was already loaded from this object: nothing to do"
LOAD_SUMMARY = re.compile(r"\d[\d,]* rows: [^\n]*?table has [^\n]*")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class CommandRun:
    """One timed command: its wall time, the table's rows after it, and what its log said."""

    tool: str
    run: str  # "first" or "rerun"
    wall_seconds: float
    rows: int
    details: dict[str, Any] = field(default_factory=dict)


class CommandFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Services:
    """Where both tools find PostgreSQL and S3 (shared by every size)."""

    database_url: str
    s3_endpoint: str
    workdir: Path


def clean_environment(**settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not FOREIGN_SETTINGS.match(key)}
    env["AWS_EC2_METADATA_DISABLED"] = "true"  # no instance-metadata lookups for credentials
    env.update(settings)
    return env


def timed(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> float:
    """Wall seconds of `command`, its output appended to `log`; fails with the log's tail."""
    cwd.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as log_file:
        log_file.write(f"$ {' '.join(command)}\n".encode())
        log_file.flush()
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only us; we stop its whole group below
        )
        try:
            returncode = process.wait()
        except BaseException:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        wall = time.perf_counter() - started
    if returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise CommandFailed(f"{command[0]} exited with {returncode}; end of {log}:\n{tail}")
    return wall


def sql_run(database_url: str, *statements: sql.Composable) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def drop_schemas(database_url: str, *schemas: str) -> None:
    """Empty state for a first run: dlt keeps its state and staging tables in the schema too."""
    sql_run(
        database_url,
        *(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            for schema in schemas
        ),
    )


def checkpoint(database_url: str) -> None:
    """Flush dirty buffers first, so no command pays for the previous one's writes."""
    sql_run(database_url, sql.SQL("CHECKPOINT"))


def count_rows(database_url: str, schema: str, table: str) -> int:
    with psycopg.connect(database_url) as conn:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def log_slice(log: Path, start: int) -> str:
    with open(log, "rb") as file:
        file.seek(start)
        return file.read().decode(errors="replace")


def dagster_duration(text: str) -> float:
    """Seconds from Dagster's duration format: 8.3ms, 533ms, 5.6s, 4m52s, 1h4m."""
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    match = DURATION.fullmatch(text)
    if not match:
        raise ValueError(f"not a Dagster duration: {text!r}")
    hours, minutes, seconds = (float(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def ours_details(output: str) -> dict[str, Any]:
    """Each step's time as Dagster logs it, the time inside the run's process, and the load's
    summary; the rest of the wall time is Python start, imports, loading the definitions and
    Dagster's own bookkeeping around the run."""
    steps = {name: dagster_duration(text) for name, text in STEP_FINISHED.findall(output)}
    in_process = [dagster_duration(text) for text in STEPS_FINISHED.findall(output)]
    summary = LOAD_SUMMARY.findall(output)
    return {
        "steps": steps,
        "steps_in_process_seconds": in_process[-1] if in_process else None,
        "load_summary": summary[-1] if summary else None,
        "load_skipped": ALREADY_LOADED in output,
    }


def dlt_details(output: str) -> dict[str, Any]:
    """The script's JSON line (dlt's import and step timings), if it printed one."""
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {}


def phases(tool: str, wall: float, details: dict[str, Any]) -> dict[str, float]:
    """Where a command's wall time went, in comparable pieces; "outside" is what the tool's own
    timings do not cover: Python start, imports, loading definitions or config, and exit."""
    steps = details.get("steps", {})
    if tool == "ours":
        inside = details.get("steps_in_process_seconds") or sum(steps.values())
        names = {"raw_users_json": "fetch", "s3_users_object": "archive", "pg_users_table": "load"}
        pieces = {label: steps.get(name, 0.0) for name, label in names.items()}
    else:
        inside = steps.get("run", 0.0)
        pieces = {name: steps.get(name, 0.0) for name in ("extract", "normalize", "load")}
    return {"outside": wall - inside, **pieces}


def run_ours(services: Services, api_url: str, users: int, repeat: int) -> list[CommandRun]:
    """The README's command, a first run into an empty schema and an unchanged re-run."""
    schema, table = f"versus_ours_{users}", "users"
    folder = services.workdir / f"ours_{users}_{repeat}"
    bucket = f"versus-{users}-{repeat}"
    drop_schemas(services.database_url, schema)
    create_bucket(services.s3_endpoint, bucket)
    env = clean_environment(
        USERS_API_URL=api_url,
        S3_BUCKET=bucket,
        S3_ENDPOINT_URL=services.s3_endpoint,
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID=S3_CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=S3_CREDENTIALS["aws_secret_access_key"],
        DATABASE_URL=services.database_url,
        USERS_TABLE=f"{schema}.{table}",
        USERS_PIPELINE_DATA_DIR=str(folder / "data"),
    )
    day = utc_today().isoformat()  # the same day for both runs: the re-run is a re-run
    command = [str(VENV_BIN / "dagster"), "asset", "materialize", "-m", "users_pipeline"]
    command += ["--select", ASSETS, "--partition", day]
    return [
        _timed_run("ours", run, command, env, folder, services, schema, table, ours_details)
        for run in ("first", "rerun")
    ]


def dlt_database_url(database_url: str) -> str:
    """The same server spelled so dlt accepts it: dlt requires a host in the URL, while the
    embedded server listens on a socket named only by `?host=/dir`, which libpq prefers to the
    URL's host, so a placeholder host changes nothing."""
    parts = urllib.parse.urlsplit(database_url)
    if parts.hostname or "host=" not in parts.query:
        return database_url
    user = parts.netloc.rstrip("@")
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}@localhost"))


def run_dlt(services: Services, api_url: str, users: int, repeat: int) -> list[CommandRun]:
    """dlt's pipeline script, a first run into an empty dataset and an unchanged re-run (same
    pipeline name and working directory, so dlt merges)."""
    dataset = f"versus_dlt_{users}"
    folder = services.workdir / f"dlt_{users}_{repeat}"
    drop_schemas(services.database_url, dataset, f"{dataset}_staging")
    env = clean_environment(
        DLT_DATA_DIR=str(folder / "dlt_home"),  # nothing in ~/.dlt
        RUNTIME__DLTHUB_TELEMETRY="false",
    )
    command = [sys.executable, str(DLT_SCRIPT), f"--api-url={api_url}"]
    command += [f"--database-url={dlt_database_url(services.database_url)}"]
    command += [f"--dataset={dataset}"]
    command += [f"--pipelines-dir={folder / 'pipelines'}"]
    return [
        _timed_run("dlt", run, command, env, folder, services, dataset, "users", dlt_details)
        for run in ("first", "rerun")
    ]


def _timed_run(
    tool: str,
    run: str,
    command: list[str],
    env: dict[str, str],
    folder: Path,
    services: Services,
    schema: str,
    table: str,
    details: Any,
) -> CommandRun:
    checkpoint(services.database_url)
    log = folder.parent / f"{folder.name}.log"
    start = log.stat().st_size if log.exists() else 0
    wall = timed(command, env, folder, log)
    result = CommandRun(
        tool=tool,
        run=run,
        wall_seconds=wall,
        rows=count_rows(services.database_url, schema, table),
        details=details(log_slice(log, start)),
    )
    result.details["phases"] = phases(tool, wall, result.details)
    progress(f"    {tool} {run}: {wall:.2f} s, {result.rows:,} rows")
    return result


def bench_size(services: Services, users: int, repeats: int) -> dict[str, Any]:
    """Both tools against one server of `users` users, `repeats` times in alternating order."""
    runs: list[CommandRun] = []
    progress(f"N={users:,}: starting the GoRest server")
    with gorest_server(users, services.workdir / f"gorest_{users}.log") as api_url:
        for repeat in range(1, repeats + 1):
            order = TOOLS if repeat % 2 else TOOLS[::-1]
            progress(f"  repeat {repeat}/{repeats}: {' then '.join(order)}")
            for tool in order:
                bench = run_ours if tool == "ours" else run_dlt
                runs += bench(services, api_url, users, repeat)
    return summarize(users, runs)


def summarize(users: int, runs: list[CommandRun]) -> dict[str, Any]:
    """Medians per tool and run, dlt/ours ratios, and any table that does not hold N rows."""
    samples = {
        f"{tool}_{run}": [r.wall_seconds for r in runs if r.tool == tool and r.run == run]
        for tool in TOOLS
        for run in ("first", "rerun")
    }
    median = {key: statistics.median(values) for key, values in samples.items()}
    problems = [
        f"{r.tool} {r.run}: table has {r.rows:,} rows, expected {users:,}"
        for r in runs
        if r.rows != users
    ]
    return {
        "users": users,
        "median_seconds": median,
        "samples_seconds": samples,
        "dlt_vs_ours": {
            run: median[f"dlt_{run}"] / median[f"ours_{run}"] for run in ("first", "rerun")
        },
        "rows": {tool: [r.rows for r in runs if r.tool == tool] for tool in TOOLS},
        "runs": [asdict(r) for r in runs],
        "problems": problems,
    }


def require_dlt() -> None:
    if importlib.util.find_spec("dlt") is None:
        raise SystemExit(
            f"dlt is not installed in {sys.prefix}: pip install -e '.[bench]' (benchmark only)"
        )


@contextmanager
def shared_services(
    workdir: Path, database_url: str | None, s3_endpoint: str | None
) -> Iterator[Services]:
    """The caller's PostgreSQL and S3 if given, else ones started here and stopped on exit."""
    with ExitStack() as stack:
        if database_url is None:
            database_url = stack.enter_context(embedded_postgres(workdir / "pg"))
        if s3_endpoint is None:
            s3_endpoint = stack.enter_context(moto_s3(workdir / "moto.log"))
        yield Services(database_url, s3_endpoint, workdir)


def compare(
    sizes: list[int] | tuple[int, ...] = DEFAULT_SIZES,
    repeats: int = DEFAULT_REPEATS,
    *,
    workdir: Path | None = None,
    database_url: str | None = None,
    s3_endpoint: str | None = None,
) -> list[dict[str, Any]]:
    """One result per size (see `summarize`). Starts PostgreSQL and moto S3 unless given;
    a `workdir` given is left in place (logs, data files), else a temporary one is removed."""
    require_dlt()
    own_workdir = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="versus_dlt_")) if workdir is None else workdir
    try:
        with shared_services(folder, database_url, s3_endpoint) as services:
            return [bench_size(services, users, repeats) for users in sizes]
    finally:
        if own_workdir:
            shutil.rmtree(folder, ignore_errors=True)


def environment() -> dict[str, Any]:
    packages = ("dagster", "dlt", "psycopg", "psycopg2-binary", "moto")
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "python": sys.version,
        "packages": {name: importlib.metadata.version(name) for name in packages},
    }


def format_table(results: list[dict[str, Any]]) -> str:
    headers = ["N", "run", "ours s", "dlt s", "dlt/ours", "ours samples", "dlt samples", "rows"]
    rows = []
    for result in results:
        median, samples = result["median_seconds"], result["samples_seconds"]
        for run in ("first", "rerun"):
            rows.append(
                [
                    f"{result['users']:,}",
                    run,
                    f"{median[f'ours_{run}']:.2f}",
                    f"{median[f'dlt_{run}']:.2f}",
                    f"{result['dlt_vs_ours'][run]:.1f}x",
                    ", ".join(f"{s:.2f}" for s in samples[f"ours_{run}"]),
                    ", ".join(f"{s:.2f}" for s in samples[f"dlt_{run}"]),
                    "ok" if not result["problems"] else "WRONG",
                ]
            )
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return " | ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))

    return "\n".join([line(headers), "-+-".join("-" * w for w in widths), *map(line, rows)])


def format_phases(results: list[dict[str, Any]]) -> str:
    """One line per size, tool and run: the median seconds of each phase (see `phases`)."""
    lines = []
    for result in results:
        for tool in TOOLS:
            for run in ("first", "rerun"):
                samples = [
                    r["details"]["phases"]
                    for r in result["runs"]
                    if r["tool"] == tool and r["run"] == run
                ]
                pieces = ", ".join(
                    f"{name} {statistics.median(sample[name] for sample in samples):.2f}"
                    for name in samples[0]
                )
                lines.append(f"{result['users']:>9,} {tool:>4} {run:>5}: {pieces}")
    return "\n".join(lines)


def parse_sizes(text: str) -> list[int]:
    sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--sizes needs positive integers, got {text!r}")
    return sizes


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.versus_dlt", description=__doc__)
    parser.add_argument("--sizes", type=parse_sizes, default=list(DEFAULT_SIZES))
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    args = parser.parse_args(argv)
    # Unwind (stopping every server) on Ctrl-C and SIGTERM, as benchmarks.run does.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    env = environment()
    workdir = Path(tempfile.mkdtemp(prefix="versus_dlt_")) if args.keep else None
    if workdir is not None:
        progress(f"work directory {workdir} (kept)")
    results = compare(args.sizes, args.repeats, workdir=workdir)
    print(f"users_pipeline vs dlt, {env['date']}, {env['cpu_count']} cores, wall s (medians)")
    print(format_table(results))
    print("where the time went (medians, s; outside = start, imports, definitions, exit):")
    print(format_phases(results))
    problems = [f"N={r['users']:,}: {p}" for r in results for p in r["problems"]]
    for problem in problems:
        print(f"PROBLEM {problem}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"environment": env, "sizes": results}, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 1 if problems else 0


if __name__ == "__main__":
    run_until_interrupted(main)
