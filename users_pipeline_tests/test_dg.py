"""The `dg` CLI in a subprocess, from the repository root as the README runs it: `[tool.dg]` in
pyproject.toml makes the checkout a dg project whose code location is the one the `dagster` CLI
loads."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from users_pipeline.snapshot.days import utc_today
from users_pipeline.storage.layout import SourceLayout
from users_pipeline_tests.conftest import S3_TEST_CREDENTIALS
from users_pipeline_tests.dagster_ui import INHERITED, DagsterDev, free_port

pytestmark = pytest.mark.cli
DG = str(Path(sys.executable).with_name("dg"))
ROOT = Path(__file__).resolve().parents[1]
ASSETS = ["pg_users_table", "raw_users_json", "s3_users_object"]


def isolated(tmp_path: Path, **settings: str) -> dict[str, str]:
    """Only the given settings reach dg: nothing of the developer's environment but what finds
    programs, and a home and Dagster instance of the test's own (no user `dg.toml`, and nothing
    written to `~/.dagster` or the checkout)."""
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "dagster_home").mkdir(exist_ok=True)
    inherited = {name: os.environ[name] for name in INHERITED if name in os.environ}
    return inherited | {
        "HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "USERS_PIPELINE_DATA_DIR": str(tmp_path / "data"),
        **settings,
    }


def dg(
    tmp_path: Path, *args: str, cwd: Path = ROOT, **settings: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DG, *args], cwd=cwd, env=isolated(tmp_path, **settings), capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip


def test_help_lists_the_commands(tmp_path):
    result = dg(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    assert all(command in result.stdout for command in ["check", "dev", "launch", "list"])


def test_check_yaml_passes(tmp_path):
    result = dg(tmp_path, "check", "yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All component YAML validated successfully." in result.stdout


def test_check_defs_loads_the_code_location_with_nothing_configured(tmp_path):
    result = dg(tmp_path, "check", "defs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully." in result.stdout
    # `.venv/bin/dg` runs the project in its own interpreter: no warning that no venv is active.
    assert "virtual environment" not in result.stdout + result.stderr


def test_list_defs_shows_the_pipeline(tmp_path):
    table = dg(tmp_path, "list", "defs")
    assert table.returncode == 0, table.stdout + table.stderr
    assert all(name in table.stdout for name in [*ASSETS, "users_daily_schedule"])

    listed = dg(tmp_path, "list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    defs = json.loads(listed.stdout)
    # The users pipeline, whatever else the project defines beside it.
    assert set(ASSETS) <= {asset["asset_key"] for asset in defs["assets"]}
    assert "users_daily" in {job["name"] for job in defs["jobs"]}
    schedules = {schedule["name"]: schedule["cron_schedule"] for schedule in defs["schedules"]}
    assert schedules["users_daily_schedule"] == "15 0 * * *"
    assert {"clock", "users_api", "data_dir", "archive", "postgres"} <= {
        resource["name"] for resource in defs["resources"]
    }


def test_launch_takes_todays_snapshot_with_settings_from_the_environment(
    tmp_path, gorest, s3, bucket, postgres_url, users_table, pg
):
    day = utc_today()
    # `dg launch`, like `dagster asset materialize`, reads the `.env` of its working directory,
    # which could name a developer's database: it runs elsewhere and targets the checkout.
    result = dg(
        tmp_path, "launch", "--target-path", str(ROOT), "--assets", "*",
        "--partition", day.isoformat(), cwd=tmp_path,
        USERS_API_URL=gorest.url,
        S3_BUCKET=bucket,
        S3_ENDPOINT_URL=s3.endpoint_url,
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID=S3_TEST_CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=S3_TEST_CREDENTIALS["aws_secret_access_key"],
        DATABASE_URL=postgres_url,
        USERS_TABLE=users_table,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]

    assert "page 28/28, 2751/2751 users" in result.stderr
    rows = pg.execute(f"SELECT id, name, email, gender, status FROM {users_table} ORDER BY id")
    assert rows.fetchall() == sorted(tuple(user.values()) for user in gorest.users)
    key = SourceLayout("users").keys(day).records
    archived = s3.get_client().head_object(Bucket=bucket, Key=key)
    assert archived["ContentLength"] > 0


class DgDev(DagsterDev):
    """`dg dev` from the repository root: started, polled and stopped (with its whole process
    group) as `DagsterDev` does `dagster dev`."""

    def __init__(self, tmp_path: Path, settings: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "dg-dev.log"
        command = [DG, "dev", "-h", "127.0.0.1", "-p", str(self.port)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=settings, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip


def test_dev_serves_the_code_location(tmp_path):
    dev = DgDev(tmp_path, isolated(tmp_path))
    try:
        dev.wait_until_loaded("users_pipeline", timeout=90)
        nodes = dev.graphql("{ assetNodes { assetKey { path } } }")["assetNodes"]
        assert set(ASSETS) <= {"/".join(node["assetKey"]["path"]) for node in nodes}
    finally:
        dev.stop()
