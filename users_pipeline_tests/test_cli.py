"""The real `dagster` CLI in a subprocess, as users and the README run it, and the schedule."""

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import psycopg
import pytest

from users_pipeline.snapshot.days import utc_today
from users_pipeline.storage.layout import SourceLayout
from users_pipeline.warehouse.embedded import start_embedded_postgres
from users_pipeline_tests.conftest import S3_TEST_CREDENTIALS

pytestmark = pytest.mark.cli
DAGSTER = str(Path(sys.executable).with_name("dagster"))
SETTINGS = {
    "USERS_API_URL", "USERS_API_TOKEN", "S3_BUCKET", "S3_PREFIX", "S3_ENDPOINT_URL", "AWS_REGION",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL", "USERS_TABLE",
    "USERS_PIPELINE_DATA_DIR", "DAGSTER_HOME",
}  # fmt: skip


def dagster(cwd: Path, *args: str, **settings: str) -> subprocess.CompletedProcess:
    """Run the CLI with only the given settings (none inherited), in a directory of its own so
    no `.env` of the developer's is picked up."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS} | settings
    return subprocess.run(
        [DAGSTER, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


def materialize(cwd: Path, day: date | None = None, **settings: str):
    """All three assets for `day`, by default today: the real UTC date, as a user runs it."""
    day = day or utc_today()
    return dagster(
        cwd, "asset", "materialize", "-m", "users_pipeline", "--select", "*",
        "--partition", day.isoformat(), **settings,
    )  # fmt: skip


def test_definitions_validate_with_nothing_configured(tmp_path):
    result = dagster(tmp_path, "definitions", "validate", "-m", "users_pipeline")
    assert result.returncode == 0, result.stderr
    assert "Validation successful" in result.stdout + result.stderr


def test_materialize_all_through_the_cli_twice_gives_the_same_table(
    tmp_path, gorest, s3, bucket, postgres_url, users_table, pg
):
    pg.execute("DROP ROLE IF EXISTS pipeline_user")
    pg.execute("CREATE ROLE pipeline_user LOGIN SUPERUSER PASSWORD 'pg-secret-password'")
    database_url = postgres_url.replace("postgresql://postgres:", "postgresql://pipeline_user:")
    database_url = database_url.replace(":@", ":pg-secret-password@", 1)
    gorest.token = "api-secret-token"
    settings = {
        "USERS_API_URL": gorest.url,
        "USERS_API_TOKEN": "api-secret-token",
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": s3.endpoint_url,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": S3_TEST_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": "aws-secret-key-value",
        "DATABASE_URL": database_url,
        "USERS_TABLE": users_table,
        "USERS_PIPELINE_DATA_DIR": str(tmp_path / "data"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    (tmp_path / "dagster_home").mkdir()

    first = materialize(tmp_path, **settings)
    assert first.returncode == 0, first.stderr[-3000:]
    rows = pg.execute(f"SELECT id, name, email, gender, status FROM {users_table} ORDER BY id")
    loaded = rows.fetchall()
    second = materialize(tmp_path, **settings)
    assert second.returncode == 0, second.stderr[-3000:]

    served = sorted(tuple(user.values()) for user in gorest.users)
    assert loaded == served
    assert pg.execute(f"SELECT count(*) FROM {users_table}").fetchone()[0] == len(served)
    assert "page 28/28, 2751/2751 users" in first.stdout + first.stderr
    assert "0 inserted, 0 updated, 2751 unchanged" in second.stdout + second.stderr
    # Secrets hygiene: nothing the runs produced holds a secret: output, the instance's event
    # log and stored metadata, the data dir, and every archived object.
    produced = [(first.stdout + first.stderr + second.stdout + second.stderr).encode()]
    produced += [path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()]
    client = s3.get_client()
    for listed in client.list_objects_v2(Bucket=bucket)["Contents"]:
        produced.append(client.get_object(Bucket=bucket, Key=listed["Key"])["Body"].read())
    assert any(b"STEP_SUCCESS" in blob for blob in produced)  # the event log was searched
    for secret in (b"api-secret-token", b"aws-secret-key-value", b"pg-secret-password"):
        assert not [blob[:80] for blob in produced if secret in blob]


def test_quickstart_runs_on_embedded_defaults(tmp_path, gorest):
    """No DATABASE_URL, no S3_BUCKET: a local archive and an embedded PostgreSQL in the data dir;
    the first day written by `users-pipeline-init` into `.env`, which the CLI loads."""
    day = utc_today()
    init = subprocess.run(
        [sys.executable, "-m", "users_pipeline.init"], cwd=tmp_path, capture_output=True, text=True
    )
    assert init.stdout == f".env: USERS_FIRST_DAY={day} (the first daily partition)\n"
    result = materialize(tmp_path, day, USERS_API_URL=gorest.url)
    assert result.returncode == 0, result.stderr[-3000:]

    archived = tmp_path / ".data" / "archive" / SourceLayout("users").keys(day).records
    assert archived.is_file()
    server = start_embedded_postgres(tmp_path / ".data" / "postgres")
    try:
        with psycopg.connect(server.get_uri()) as conn:
            count = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    finally:
        server.cleanup()
    assert count == len(gorest.users)


def test_a_bad_setting_fails_with_one_line_naming_it(tmp_path, gorest):
    result = materialize(tmp_path, USERS_API_URL=gorest.url, USERS_TABLE="users; DROP TABLE x")
    assert result.returncode != 0
    assert "USERS_TABLE='users; DROP TABLE x' is not a table name" in result.stdout + result.stderr
    assert gorest.requests == []  # failed before any fetch
