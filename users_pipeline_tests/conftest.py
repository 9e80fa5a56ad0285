"""Real parts for the tests: PostgreSQL, an S3 endpoint and a GoRest-compatible API, all on
this machine. Nothing here reaches the internet.

- PostgreSQL: `TEST_DATABASE_URL` when set, else an embedded server started for the session.
  Each test gets its own schema, so tables never leak between tests.
- S3: moto's server mode on 127.0.0.1, reached over HTTP through `S3Resource(endpoint_url=...)`;
  each test gets its own bucket.
- API: `GoRestServer` on 127.0.0.1, one per test, with fault switches.
- Today: `FixedClock`, so an in-process run can take the snapshot of the day it names. (Tests
  that run the CLI in a subprocess use the real UTC date.)
"""

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
from dagster_aws.s3 import S3Resource
from moto.server import ThreadedMotoServer

from users_pipeline.definitions import SOURCES, source_component
from users_pipeline.offline import GoRestServer, generate_users
from users_pipeline.orchestration.assets import build_assets
from users_pipeline.orchestration.resources import (
    ApiResource,
    ArchiveResource,
    ClockResource,
    DataDirResource,
    PostgresResource,
)
from users_pipeline.warehouse.embedded import start_embedded_postgres

DAY = date(2026, 6, 1)
# The users source, as sources/users/defs.yaml declares it.
USERS = source_component("users")
USERS_CONTRACT = USERS.contract
# The users source's assets, as the definitions build them from sources/users/defs.yaml.
raw_users_json, s3_users_object, pg_users_table = build_assets(USERS_CONTRACT, USERS.names, "users")
# The users source's resources, as its component makes them: messages name USERS_API_URL, ...
UsersApi = ApiResource.for_source(USERS.setting_names("api"))
UsersArchive = ArchiveResource.for_source(USERS.setting_names("archive"))
UsersPostgres = PostgresResource.for_source(USERS.setting_names("postgres"))
S3_TEST_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def deployment_settings(s3: S3Resource, bucket: str, database_url: str) -> dict[str, str]:
    """The archive and database settings of a deployment, pointed at this test's real parts."""
    return {
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": s3.endpoint_url,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": S3_TEST_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": S3_TEST_CREDENTIALS["aws_secret_access_key"],
        "DATABASE_URL": database_url,
    }


class FixedClock(ClockResource):
    """A clock whose today is `day` (YYYY-MM-DD)."""

    day: str

    def today(self) -> date:
        return date.fromisoformat(self.day)


# Everything a user writes to add GoRest's todos: no Python.
TODOS_YAML = """
type: users_pipeline.components.RestSource
attributes:
  name: todos
  api:
    url: {env: [TODOS_API_URL], default: "https://gorest.co.in/public/v2/todos"}
  archive:
    prefix: {env: [TODOS_PREFIX], default: todos}
  postgres:
    table: {env: [TODOS_TABLE], default: todos}
  record:
    - {name: id, type: bigint, key: true, minimum: 1}
    - {name: user_id, type: bigint, minimum: 1}
    - {name: title, type: text, max_length: 255}
    - {name: due_on, type: timestamp, nullable: true}
    - {name: status, type: enum, values: [pending, completed]}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A sources folder holding the shipped users source and a todos one, importable."""
    package = f"sources_{uuid.uuid4().hex[:8]}"
    folder = tmp_path / package
    shutil.copytree(SOURCES, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "todos").mkdir()
    (folder / "todos" / "defs.yaml").write_text(TODOS_YAML)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield folder
    sys.modules.pop(package, None)


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("TEST_DATABASE_URL"):
        yield os.environ["TEST_DATABASE_URL"]
        return
    server = start_embedded_postgres(tmp_path_factory.mktemp("pg") / "data")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture
def users_table(postgres_url: str) -> Iterator[str]:
    """A `schema.users` name in a schema of this test's own, dropped afterwards."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    yield f"{schema}.users"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def pg(postgres_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: str) -> S3Resource:
    return S3Resource(endpoint_url=s3_endpoint, region_name="us-east-1", **S3_TEST_CREDENTIALS)


@pytest.fixture
def bucket(s3: S3Resource) -> str:
    name = f"users-{uuid.uuid4().hex[:12]}"
    s3.get_client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def api_users() -> list[dict]:
    return generate_users(2751)


@pytest.fixture
def gorest(api_users: list[dict]) -> Iterator[GoRestServer]:
    with GoRestServer(api_users) as server:
        yield server


@pytest.fixture
def resources(
    gorest: GoRestServer,
    s3: S3Resource,
    bucket: str,
    postgres_url: str,
    users_table: str,
    tmp_path: Path,
) -> dict[str, object]:
    """The pipeline's resources pointed at this test's real parts; tests override entries."""
    return {
        "clock": FixedClock(day=DAY.isoformat()),
        "users_api": UsersApi(url=gorest.url, backoff_seconds=0.01),
        "data_dir": DataDirResource(path=str(tmp_path / "data")),
        "archive": UsersArchive(s3=s3, bucket=bucket, prefix="users"),
        "postgres": UsersPostgres(database_url=postgres_url, table=users_table),
    }
