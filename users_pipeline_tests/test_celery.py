"""Dagster's Celery executor on a real broker, set up as the README tells a user to.

A Redis server (Debian's `redis-server`) on 127.0.0.1, two workers (`dagster-celery worker
start`), each with a data dir of its own: two "machines" that share only what machines share, the
broker, the instance's PostgreSQL (`deploy/dagster.yaml`), the users' DATABASE_URL and S3. The
day goes from the fetch to the archive step through the archive (`USERS_PIPELINE_HANDOVER`):
routed by queue, the fetch runs on one worker and the archive and load steps on the other.
The runs are the real CLI's. The API serves only the present, so the days are today's snapshot
and, after 2% of the users changed, today's again (as when a day is fetched twice).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus
from sqlalchemy import make_url

from users_pipeline.orchestration.execution import celery_settings
from users_pipeline.snapshot.days import utc_today
from users_pipeline.storage.layout import SourceLayout
from users_pipeline_tests.conftest import deployment_settings
from users_pipeline_tests.test_cli import SETTINGS, dagster

pytestmark = pytest.mark.celery
REPO = Path(__file__).resolve().parent.parent
REDIS_SERVER = "/usr/bin/redis-server"
NO_REDIS = f"needs Debian's redis-server at {REDIS_SERVER}: apt-get install redis-server"
CELERY = str(Path(sys.executable).with_name("dagster-celery"))
VISIBILITY_TIMEOUT_SECONDS = 5  # a killed worker's step goes to the other worker after this
WORKERS = ("machine1", "machine2")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    if not Path(REDIS_SERVER).exists():
        if os.environ.get("CI"):  # CI installs it: a missing broker there is a failure
            pytest.fail(NO_REDIS)
        pytest.skip(NO_REDIS)
    port = free_port()
    server = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--daemonize", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert time.monotonic() < deadline and server.poll() is None, "redis did not start"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@dataclass
class Cluster:
    """The settings every process gets, the workers, and the instance they share."""

    settings: dict[str, str]
    workers: dict[str, subprocess.Popen]
    home: Path

    def materialize(self, *args: str, **settings: str) -> subprocess.CompletedProcess:
        select = ("--select", "*", "--partition", utc_today().isoformat())
        return dagster(self.home.parent, "asset", "materialize", "-m", "users_pipeline",
                       *(args or select), **(self.settings | settings))  # fmt: skip

    def instance(self) -> DagsterInstance:
        return DagsterInstance.from_config(str(self.home))

    def step_workers(self, run_id: str) -> dict[str, list[str]]:
        """Step -> the workers that executed it, from the run's events in the instance."""
        ran: dict[str, list[str]] = {}
        with self.instance() as instance:
            for entry in instance.all_logs(run_id):
                event = entry.dagster_event
                metadata = (
                    event.event_specific_data.metadata if event and event.is_engine_event else {}
                )
                if "Celery worker" in (metadata or {}):
                    worker = metadata["Celery worker"].value.split("@")[0]
                    ran.setdefault(entry.step_key, []).append(worker)
        return ran


@pytest.fixture
def queues() -> dict[str, str]:
    """Each step kind's queue and the worker serving it; by default, one queue for all."""
    return {}


@pytest.fixture
def cluster(
    tmp_path, monkeypatch, redis_url, gorest, s3, bucket, postgres_url, users_table, queues
) -> Iterator[Cluster]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home)
    storage_db = f"dagster_{uuid.uuid4().hex[:12]}"
    storage = make_url(postgres_url).set(database=storage_db, drivername="postgresql+psycopg2")
    settings = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_POSTGRES_URL": storage.render_as_string(hide_password=False),
        "USERS_PIPELINE_EXECUTOR": "celery",
        "USERS_PIPELINE_HANDOVER": "archive",
        "CELERY_BROKER_URL": f"{redis_url}/0",
        "CELERY_RESULT_BACKEND": f"{redis_url}/1",
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_SECONDS),
        **deployment_settings(s3, bucket, postgres_url),
        "USERS_API_URL": gorest.url,
        "USERS_TABLE": users_table,
        "USERS_PIPELINE_DATA_DIR": str(tmp_path / "launcher"),
    } | {f"CELERY_{kind.upper()}_QUEUE": kind for kind in queues}
    # The workers' configuration: the broker, the backend and the same Celery settings the run
    # process uses (the README's celery.yaml).
    worker_config = tmp_path / "celery.yaml"
    execution = {
        "broker": settings["CELERY_BROKER_URL"],
        "backend": settings["CELERY_RESULT_BACKEND"],
        "config_source": celery_settings(VISIBILITY_TIMEOUT_SECONDS),
    }
    worker_config.write_text(yaml.safe_dump({"execution": {"config": execution}}))
    environment = {k: v for k, v in os.environ.items() if k not in SETTINGS} | settings
    # `dagster-celery worker start` runs `celery` from the PATH, as in an activated venv.
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", settings["DAGSTER_POSTGRES_URL"])  # the instance
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {storage_db}")
        workers: dict[str, subprocess.Popen] = {}
        try:
            # The instance's tables exist before two workers race to create them.
            subprocess.run([sys.executable, "-c", "import dagster; dagster.DagsterInstance.get()"],
                           env=environment, check=True, timeout=60)  # fmt: skip
            for name in WORKERS:
                log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 (closed with the worker)
                workers[name] = subprocess.Popen(
                    [CELERY, "worker", "start", "-A", "dagster_celery.app", "-y",
                     str(worker_config), "-n", name,
                     *(arg for kind, worker in queues.items() if worker == name
                       for arg in ("-q", kind)),
                     "--", "--concurrency", "1"],
                    env=environment | {"USERS_PIPELINE_DATA_DIR": str(tmp_path / name)},
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            for name, worker in workers.items():
                log = tmp_path / f"{name}.log"

                def ready(log: Path = log, worker: subprocess.Popen = worker) -> bool:
                    assert worker.poll() is None, log.read_text()[-2000:]
                    return b" ready." in log.read_bytes()

                wait_for(ready, 60, f"worker {name}")
            yield Cluster(settings, workers, home)
        finally:
            for worker in workers.values():
                stop(worker)
            admin.execute(f"DROP DATABASE IF EXISTS {storage_db} WITH (FORCE)")


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def table(pg, name: str) -> list[tuple]:
    return pg.execute(f"SELECT * FROM {name} ORDER BY id").fetchall()


def archived_records(s3, bucket: str, prefix: str) -> list[dict]:
    key = SourceLayout("users", prefix).keys(utc_today()).records
    body = s3.get_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return [json.loads(line) for line in body.splitlines()]


def seen_last(pg, name: str) -> list[int]:
    """The users of the latest snapshot loaded."""
    return [
        id for (id,) in pg.execute(f"SELECT id FROM {name} WHERE last_seen IS NULL ORDER BY id")
    ]


def change_two_percent(gorest) -> None:
    users = gorest.users
    for user in users[:28]:
        user["status"] = "inactive" if user["status"] == "active" else "active"
    new = [dict(users[0], id=9_000_000 + n, email=f"new{n}@example.test") for n in range(14)]
    gorest.users = users[14:] + new


@pytest.mark.parametrize("queues", [{"fetch": "machine1", "load": "machine2"}])
def test_two_workers_run_the_days_like_one_process(cluster, gorest, s3, bucket, pg, users_table):
    single = f"{users_table.split('.')[0]}.single"
    days = []
    for day in ("as served", "2% changed"):
        if day == "2% changed":
            change_two_percent(gorest)
        result = cluster.materialize()
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        with cluster.instance() as instance:
            days.append(instance.get_runs(limit=1)[0].run_id)
        # The same day in one process, into its own table and prefix: the reference.
        alone = cluster.materialize(
            USERS_PIPELINE_EXECUTOR="in_process", USERS_TABLE=single, S3_PREFIX="single"
        )
        assert alone.returncode == 0, alone.stderr[-3000:]

    # Fetches on machine1, the archive and load steps on machine2: the day crossed machines.
    expected = {"raw_users_json": ["machine1"]} | dict.fromkeys(
        ["s3_users_object", "pg_users_table"], ["machine2"]
    )
    assert [cluster.step_workers(run_id) for run_id in days] == [expected, expected]
    assert table(pg, users_table) == table(pg, single)
    assert archived_records(s3, bucket, "users") == archived_records(s3, bucket, "single")
    assert seen_last(pg, users_table) == sorted(user["id"] for user in gorest.users)
    staged = s3.get_client().list_objects_v2(Bucket=bucket, Prefix="users/_staging/")
    assert staged.get("KeyCount", 0) == 0  # handed over, then cleaned up


def test_a_worker_killed_mid_step_hands_the_step_to_the_other(cluster, gorest, pg, users_table):
    gorest.faults.delay_seconds = 0.3  # a fetch of a few seconds, to be killed in
    run = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m",
         "users_pipeline", "--select", "*", "--partition", utc_today().isoformat()],
        cwd=cluster.home.parent, env={**os.environ, **cluster.settings},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        with cluster.instance() as instance:
            wait_for(lambda: instance.get_runs(limit=1), 60, "the run")
            run_id = instance.get_runs(limit=1)[0].run_id
        wait_for(lambda: "raw_users_json" in cluster.step_workers(run_id), 60, "the fetch step")
        (killed,) = cluster.step_workers(run_id)["raw_users_json"]
        wait_for(lambda: len(gorest.requests) > 2, 30, "the fetch to be under way")
        os.killpg(cluster.workers[killed].pid, signal.SIGKILL)
        killed_at = time.monotonic()
        output, _ = run.communicate(timeout=180)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, output.decode()[-3000:]
    with cluster.instance() as instance:
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.SUCCESS
    (survivor,) = set(WORKERS) - {killed}
    # Celery delivers a task at least once: on a loaded machine the survivor may be handed the
    # step twice, never the killed worker again; the table below shows the outcome is the same.
    first, *then = cluster.step_workers(run_id)["raw_users_json"]
    assert first == killed and set(then) == {survivor}
    assert time.monotonic() - killed_at < 120
    assert seen_last(pg, users_table) == sorted(user["id"] for user in gorest.users)
