"""A setting that cannot work fails the run at its start, in one line naming the setting, before
anything is fetched or written."""

import socket

import pytest
from dagster import DagsterResourceFunctionError, build_resources
from dagster_aws.s3 import S3Resource

from users_pipeline.orchestration.resources import PostgresResource
from users_pipeline.settings import SettingNames
from users_pipeline_tests.conftest import S3_TEST_CREDENTIALS, UsersApi, UsersArchive
from users_pipeline_tests.test_pipeline import run


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def failure_messages(result) -> str:
    """Every failure's message and causes: a resource's own error arrives as the cause of
    Dagster's 'Error executing resource_fn'."""
    messages = []
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None) if event.is_failure else None
        while error is not None:
            messages.append(error.message)
            error = error.cause
    return "\n".join(messages)


def bad_settings(s3, bucket, postgres_url) -> dict[str, tuple[str, object, str]]:
    port = closed_port()
    return {
        "missing bucket": (
            "archive",
            UsersArchive(s3=s3, bucket="no-such-bucket-here", prefix="users"),
            "S3_BUCKET='no-such-bucket-here' does not exist",
        ),
        "S3 endpoint down": (
            "archive",
            UsersArchive(
                s3=S3Resource(
                    endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1, **S3_TEST_CREDENTIALS
                ),
                bucket=bucket,
                prefix="users",
            ),
            "check S3_ENDPOINT_URL",
        ),
        "Postgres unreachable": (
            "postgres",
            PostgresResource(
                table="users", database_url=f"postgresql://loader:pw-secret@127.0.0.1:{port}/db"
            ),
            f"cannot connect to DATABASE_URL (postgresql://loader:***@127.0.0.1:{port}/db)",
        ),
        "not a database URL": (
            "postgres",
            PostgresResource(table="users", database_url="mysql://x@y/z"),
            "DATABASE_URL must be a postgresql:// URL",
        ),
        "API URL not http": (
            "users_api",
            UsersApi(url="ftp://127.0.0.1/users"),
            "USERS_API_URL must be an http(s) URL",
        ),
    }


@pytest.mark.parametrize(
    "case",
    ["missing bucket", "S3 endpoint down", "Postgres unreachable", "not a database URL",
     "API URL not http"],
)  # fmt: skip
def test_a_setting_that_cannot_work_fails_before_any_fetch(
    case, resources, gorest, s3, bucket, postgres_url, tmp_path
):
    name, resource, expected = bad_settings(s3, bucket, postgres_url)[case]
    resources[name] = resource

    result = run(resources, raise_on_error=False)

    assert not result.success
    messages = failure_messages(result)
    assert expected in messages
    assert "pw-secret" not in messages
    assert gorest.requests == []
    assert not (tmp_path / "data" / "raw").exists()


TodosPostgres = PostgresResource.for_source(
    SettingNames(
        {
            "postgres.table": "TODOS_TABLE",
            "postgres.database_url": "TODOS_DATABASE_URL",
            "postgres.host": "TODOS_PG_HOST",
            "postgres.port": "TODOS_PG_PORT",
            "postgres.user": "TODOS_PG_USER",
            "postgres.password": "TODOS_PG_PASS",
        }
    )
)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"table": "todos; DROP TABLE x"}, "TODOS_TABLE='todos; DROP TABLE x' is not a table name"),
        ({"database_url": "mysql://x@y/z"}, "TODOS_DATABASE_URL must be a postgresql:// URL"),
        (
            {"host": "127.0.0.1", "port": closed_port(), "user": "loader", "password": "pw-secret"},
            "cannot connect to TODOS_PG_HOST/TODOS_PG_PORT/TODOS_PG_USER/TODOS_PG_PASS (host=",
        ),
    ],
    ids=["table", "database URL", "host"],
)
def test_a_sources_database_errors_name_its_own_settings(settings, expected):
    resource = TodosPostgres(**{"table": "todos", **settings})

    resources = build_resources({"todos_postgres": resource})
    with pytest.raises(DagsterResourceFunctionError) as raised, resources:
        pass

    message = raised.value.__cause__.description  # the resource's own one-line Failure
    assert expected in message
    assert "USERS" not in message and "pw-secret" not in message
