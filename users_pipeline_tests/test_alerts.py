"""Alerts and dead runs with the real daemon: `dagster-daemon run` on an instance made from
`deploy/dagster.yaml` (its storage in PostgreSQL), runs launched with `dagster job launch` and the
CLI, and a local webhook that records what it is posted.

One daemon serves the module (its queue looked at every second, as in the UI test): each test
looks only at the posts and runs it made, and makes what it needs (today's archived day), so it
runs alone too. Its sensor's first tick comes before any run, so today's deadline (00:00 here)
has passed with nothing loaded: that alert is the first post.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from sqlalchemy.engine import make_url

from users_pipeline.offline import GoRestServer, generate_users
from users_pipeline.offline.faults import Faults
from users_pipeline.orchestration.launcher import process_alive
from users_pipeline.snapshot.days import utc_today
from users_pipeline.storage.layout import SourceLayout
from users_pipeline_tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.daemon
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WEBSERVER = "http://dagster.example:3000"
TOKEN = "api-secret-token"
POLL_SECONDS = 5  # deploy/dagster.yaml's run_monitoring.poll_interval_seconds
ENGINE_EVENT = DagsterEventType.ENGINE_EVENT
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 90) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


class Deployment:
    """The daemon, its instance, the API it fetches from and the webhook it posts to."""

    def __init__(self, home: Path, env: dict[str, str], gorest: GoRestServer, hook, table: str):
        self.home, self.env, self.gorest, self.hook, self.table = home, env, gorest, hook, table
        self.instance: DagsterInstance | None = None
        self.daemon: subprocess.Popen | None = None

    def start_daemon(self) -> None:
        with (self.home / "daemon.log").open("a") as log:
            self.daemon = subprocess.Popen(
                [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                cwd=self.home, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def crash(self) -> None:
        """What a reboot does to the daemon: its whole process group killed at once (the code
        server and the run workers it started with it)."""
        os.killpg(self.daemon.pid, signal.SIGKILL)
        self.daemon.wait()

    def stop_daemon(self) -> None:
        self.daemon.send_signal(signal.SIGINT)
        try:
            self.daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.daemon.pid, signal.SIGKILL)
            self.daemon.wait()

    def command(self, *args: str) -> list[str]:
        return [str(BIN / "dagster"), *args]

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(*args), cwd=self.home, env=self.env, capture_output=True, text=True,
            timeout=180,
        )  # fmt: skip

    def launch(self) -> str:
        """Today's users_daily run, queued for the daemon to launch; its run id."""
        run_id = str(uuid.uuid4())
        tags = json.dumps({"dagster/partition": utc_today().isoformat()})
        result = self.cli(
            "job", "launch", "-w", "workspace.yaml", "-j", "users_daily",
            "--tags", tags, "--run-id", run_id,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        return run_id

    def materialize(self, select: str, day: str, *config: str) -> list[str]:
        """The command of a run in the CLI's own process, as `dagster asset materialize`."""
        return self.command(
            "asset", "materialize", "-m", "users_pipeline", "--select", select,
            "--partition", day, *config,
        )  # fmt: skip

    def archive_today(self) -> Path:
        """Today's archived manifest, after a run of every asset if no run has archived it."""
        data, today = Path(self.env["USERS_PIPELINE_DATA_DIR"]), utc_today()
        manifest = data / "archive" / SourceLayout("users").keys(today).manifest
        if not manifest.exists():
            result = subprocess.run(
                self.materialize("*", today.isoformat()), cwd=self.home, env=self.env,
                capture_output=True, text=True, timeout=180,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr[-3000:]
        return manifest

    def file_texts(self) -> list[str]:
        """Every file of the instance: the daemon's log, the sensor's and the runs' captured
        logs, the data dir."""
        files = [path for path in self.home.rglob("*") if path.is_file()]
        return [path.read_text(errors="replace") for path in files]

    def finished(self, run_id: str) -> DagsterRunStatus:
        def status():
            run = self.instance.get_run_by_id(run_id)
            return run.status if run and run.is_finished else None

        return wait_for(f"run {run_id} to finish", status)

    def runs_since(self, since: float, job: str = "__ASSET_JOB") -> list[str]:
        after = datetime.fromtimestamp(since, timezone.utc)
        records = self.instance.get_run_records(RunsFilter(created_after=after, job_name=job))
        return [record.dagster_run.run_id for record in records]

    def tick_after(self, moment: float) -> None:
        """Wait for the alert sensor to have evaluated once after `moment` (a timestamp)."""

        def ticked():
            state = self.instance.all_instigator_state()
            sensor = next(s for s in state if s.name == "users_alerts")
            origin, selector = sensor.instigator_origin_id, sensor.selector_id
            ticks = self.instance.get_ticks(origin, selector, limit=1)
            return ticks and ticks[0].timestamp > moment and ticks[0].status.value != "STARTED"

        wait_for("an alert sensor tick", ticked)

    def alert_for(self, run_id: str) -> list[str]:
        """The alert of a run, by its lines."""
        return wait_for(f"the alert of run {run_id}", lambda: self.hook.posted(run_id))[0].split(
            "\n"
        )

    def worker_pid(self, run_id: str) -> int:
        """The run worker's pid, from its "Started process for run (pid: N)" event."""

        def pid():
            records = self.instance.get_records_for_run(run_id, of_type=ENGINE_EVENT).records
            for record in records:
                message = record.event_log_entry.message or ""
                if message.startswith("Started process for run"):
                    return int(message.split("pid: ")[1].rstrip(")."))
            return None

        return wait_for("the run worker's pid", pid)

    def retry_of(self, run_id: str) -> str:
        """The run that run retries launched for `run_id`."""
        tags = {"dagster/parent_run_id": run_id}
        return wait_for("the retry", lambda: self.instance.get_runs(RunsFilter(tags=tags)))[
            0
        ].run_id

    def table_rows(self) -> list[tuple]:
        with psycopg.connect(self.env["DATABASE_URL"]) as conn:
            return conn.execute(
                f"SELECT id, name, email, gender, status FROM {self.table} ORDER BY id"
            ).fetchall()

    def served(self) -> list[tuple]:
        return sorted(tuple(user.values()) for user in self.gorest.users)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, postgres_url) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("dagster_home")
    instance = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    # The daemon looks at the run queue every second, not every 5 s: each run starts sooner.
    instance["run_coordinator"]["config"]["dequeue_interval_seconds"] = 1
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
    shutil.copy(ROOT / "workspace.yaml", home / "workspace.yaml")
    database, schema = f"dagster_{uuid.uuid4().hex[:8]}", f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    dagster_url = (
        make_url(postgres_url)
        .set(drivername="postgresql+psycopg2", database=database)
        .render_as_string(hide_password=False)
    )
    with GoRestServer(generate_users(300), token=TOKEN) as gorest, WebhookReceiver() as hook:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", str(home)),
            "PYTHONPATH": str(ROOT),
            "DAGSTER_HOME": str(home),
            "DAGSTER_POSTGRES_URL": dagster_url,
            "USERS_API_URL": gorest.url,
            "USERS_API_TOKEN": TOKEN,
            "USERS_API_MAX_ATTEMPTS": "1",
            "USERS_API_CONCURRENCY": "1",
            "DATABASE_URL": postgres_url,
            "USERS_TABLE": f"{schema}.users",
            "USERS_PIPELINE_DATA_DIR": str(home / "data"),
            "USERS_LOADED_BY": "00:00",
            "ALERT_WEBHOOK_URL": hook.url,
            "DAGSTER_WEBSERVER_URL": WEBSERVER,
        }
        deployment = Deployment(home, env, gorest, hook, f"{schema}.users")
        deployment.start_daemon()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DAGSTER_POSTGRES_URL", dagster_url)
            deployment.instance = DagsterInstance.from_config(str(home))
            try:
                wait_for("the first alert", lambda: hook.texts, timeout=120)
                yield deployment
            finally:
                deployment.stop_daemon()
                deployment.instance.dispose()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {database} WITH (FORCE)")
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_a_day_not_loaded_by_its_deadline_is_alerted(deployment):
    """The sensor's first tick comes after today's deadline, 00:00 here, with nothing loaded."""
    today = utc_today().isoformat()
    assert deployment.hook.texts[0] == (
        f"*users* {today}: not loaded by 00:00 UTC\n"
        f"pg_users_table has no materialization for {today}: no run loaded the day by its deadline."
    )


def test_a_failed_run_is_alerted_when_the_webhook_is_back_and_a_refusal_is_not(deployment):
    gorest, hook = deployment.gorest, deployment.hook
    gorest.faults.statuses = {1: [503]}
    hook.fail_next = 1  # the first try is refused: the sensor keeps the alert for its next tick
    started = time.time()
    # Meanwhile, in the CLI's own process: a past day's fetch, refused before any request.
    yesterday = date.fromordinal(utc_today().toordinal() - 1).isoformat()
    refused = subprocess.Popen(
        deployment.materialize("raw_users_json", yesterday), cwd=deployment.home,
        env=deployment.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    run_id = deployment.launch()
    assert deployment.finished(run_id) == DagsterRunStatus.FAILURE

    alert = deployment.alert_for(run_id)
    assert alert[0] == f"*users* {utc_today()}: run failed at step raw_users_json"
    assert "503" in alert[1]
    assert alert[-1] == f"Run: {WEBSERVER}/runs/{run_id}"
    assert hook.refused == 1
    # A step failure is not retried: it would fail, and be alerted, the same way again.
    assert deployment.instance.get_runs(RunsFilter(tags={"dagster/parent_run_id": run_id})) == []

    output, _ = refused.communicate(timeout=120)
    assert refused.returncode != 0
    assert f"cannot fetch the users of {yesterday}" in output
    [refused_run] = deployment.runs_since(started)
    assert deployment.finished(refused_run) == DagsterRunStatus.FAILURE
    deployment.tick_after(time.time())
    assert hook.posted(refused_run) == []
    assert any("alert not sent" in text for text in deployment.file_texts())  # logged


def test_a_dead_run_is_failed_alerted_and_retried_until_its_day_is_loaded(deployment):
    """Two deaths, each retried by run retries: a run worker killed by its pid, which its code
    server sees exit; then the retry's worker killed with the daemon's whole process group, as
    a reboot does, so nobody is left to see it exit. That run would stay STARTED for good: the
    launcher's health check finds its pid gone, and run monitoring fails it within a poll of
    the restarted daemon. The second retry loads the day."""
    gorest, instance, today = deployment.gorest, deployment.instance, utc_today()
    gorest.faults = Faults(delay_seconds=1.0)  # 3 pages of 100, a second each
    first = deployment.launch()
    pid = deployment.worker_pid(first)
    wait_for("the first page", lambda: gorest.requests)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    assert deployment.finished(first) == DagsterRunStatus.FAILURE
    assert time.monotonic() - killed < POLL_SECONDS
    alert = deployment.alert_for(first)
    assert alert[0] == f"*users* {today}: run failed"
    assert f"Run execution process for {first} was terminated by signal 9" in alert[1]
    assert alert[2] == "Run retries will try the day again."

    second = deployment.retry_of(first)
    pid = deployment.worker_pid(second)
    gorest.requests.clear()
    wait_for("the retry's first page", lambda: gorest.requests)
    deployment.crash()
    wait_for("the worker to die", lambda: not process_alive(pid, time.time()), timeout=10)
    assert instance.get_run_by_id(second).status == DagsterRunStatus.STARTED
    gorest.faults = Faults()
    deployment.start_daemon()
    restarted = time.monotonic()
    assert deployment.finished(second) == DagsterRunStatus.FAILURE
    # The daemon loads the code location (about 10 s here), then fails the run at its first poll.
    assert time.monotonic() - restarted < 30 + POLL_SECONDS
    alert = deployment.alert_for(second)
    assert alert[:3] == [
        f"*users* {today}: run failed",
        f"Detected run worker status NOT_FOUND: 'run worker pid {pid} is gone'."
        f" Marking run {second} as failed.",
        "Run retries will try the day again.",
    ]

    third = deployment.retry_of(second)
    assert deployment.finished(third) == DagsterRunStatus.SUCCESS
    assert deployment.table_rows() == deployment.served()


def test_a_failed_check_of_a_run_that_did_not_fail_is_alerted(deployment):
    """The archived manifest is made to count one record more than the archive holds: the
    table's check fails, its run (the CLI's, in its own process, as `__ASSET_JOB`) does not."""
    today, manifest = utc_today(), deployment.archive_today()
    counts = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**counts, "valid_records": counts["valid_records"] + 1}))
    started = time.time()
    reload = '{"ops": {"pg_users_table": {"config": {"reload": true}}}}'
    result = subprocess.run(
        deployment.materialize("pg_users_table", today.isoformat(), "--config-json", reload),
        cwd=deployment.home, env=deployment.env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    [run_id] = deployment.runs_since(started)

    alert = deployment.alert_for(run_id)
    assert alert[0] == f"*users* {today}: check pg_users_table:rows_match_archive failed (ERROR)"
    assert "the manifest says" in alert[1]
    assert alert[-1] == f"Run: {WEBSERVER}/runs/{run_id}"


def test_each_alert_is_posted_once_and_none_holds_a_secret(deployment):
    hook = deployment.hook
    deployment.tick_after(time.time())
    assert hook.texts and len(hook.texts) == len(set(hook.texts))
    produced = [*hook.texts, *deployment.file_texts()]
    for secret in (TOKEN, "s3cr3tWebhookKey"):
        assert not [text[:80] for text in produced if secret in text]
