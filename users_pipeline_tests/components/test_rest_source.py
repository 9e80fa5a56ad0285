"""Sources declared in YAML: a second `defs.yaml` (GoRest's todos) beside the users one is
ingested end to end with no Python change, into its own files, keys, table and rejects; the
real API server, S3 endpoint and PostgreSQL."""

import importlib
import re
from datetime import timedelta

import psycopg
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    define_asset_job,
)

from users_pipeline.components.yaml_model import SourceDefinitionError
from users_pipeline.definitions import SourceClashError, load_sources
from users_pipeline.offline import GoRestServer, generate_resources, generate_users
from users_pipeline.orchestration.execution import ExecutionSettingError, day_handover
from users_pipeline.orchestration.resources import DataDirResource
from users_pipeline_tests.conftest import DAY, FixedClock, deployment_settings
from users_pipeline_tests.orchestration.test_resources import failure_messages


@pytest.fixture
def load_project(project, s3, bucket, postgres_url, tmp_path, monkeypatch):
    """The project's definitions, loaded with the test's S3 and PostgreSQL and `settings` in the
    environment, as a deployment's would be; today is DAY."""

    def load(**settings: str) -> Definitions:
        shared = deployment_settings(s3, bucket, postgres_url)
        for name, value in {**shared, **settings}.items():
            monkeypatch.setenv(name, value)
        return Definitions.merge(
            load_sources(importlib.import_module(project.name)),
            Definitions(
                resources={
                    "clock": FixedClock(day=DAY.isoformat()),
                    "data_dir": DataDirResource(path=str(tmp_path / "data")),
                }
            ),
        )

    return load


def test_a_second_source_by_yaml_alone_loads_beside_users(
    load_project, s3, bucket, postgres_url, users_table, tmp_path
):
    schema = users_table.split(".")[0]
    users = generate_users(300)
    server = GoRestServer(users, resources=generate_resources(users))
    with server:
        defs = load_project(
            USERS_API_URL=server.url,
            TODOS_API_URL=server.urls["todos"],
            USERS_TABLE=f"{schema}.users",
            TODOS_TABLE=f"{schema}.todos",
        )
        with DagsterInstance.ephemeral() as instance:
            for job in ("users_daily", "todos_daily"):
                result = defs.resolve_job_def(job).execute_in_process(
                    partition_key=DAY.isoformat(), instance=instance
                )
                assert result.success, job
        todos = server.resources["todos"]

    with psycopg.connect(postgres_url) as conn:
        loaded = conn.execute(
            f"SELECT id, user_id, title, status FROM {schema}.todos ORDER BY id"
        ).fetchall()
        users = conn.execute(f"SELECT count(*) FROM {schema}.users").fetchone()[0]
        rejects = conn.execute(f"SELECT count(*) FROM {schema}.todos_rejects").fetchone()[0]
    assert loaded == sorted((t["id"], t["user_id"], t["title"], t["status"]) for t in todos)
    assert (users, rejects) == (len(server.users), 0)
    keys = {o["Key"] for o in s3.get_client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert f"todos/dt={DAY}/todos.jsonl" in keys and f"users/dt={DAY}/users.jsonl" in keys
    assert (tmp_path / "data" / "raw" / "todos" / f"dt={DAY}" / "todos.jsonl").is_file()
    asset_keys = {spec.key.to_user_string() for spec in defs.resolve_all_asset_specs()}
    assert {"raw_todos_json", "s3_todos_object", "pg_todos_table"} < asset_keys


def test_each_source_has_an_alert_sensor_only_with_a_webhook(load_project, monkeypatch):
    """Unset, nothing changes: no sensor. Set, one per source, on by default; the deadline and
    the jobs' max runtime come from each source's YAML."""
    monkeypatch.delenv("ALERT_WEBHOOK_URL", raising=False)
    assert list(load_project().sensors or []) == []

    defs = load_project(
        ALERT_WEBHOOK_URL="https://hooks.example/services/T0/B0/key", USERS_LOADED_BY="06:30"
    )
    sensors = {sensor.name: sensor for sensor in defs.sensors}
    assert set(sensors) == {"users_alerts", "todos_alerts"}
    assert all(s.default_status == DefaultSensorStatus.RUNNING for s in sensors.values())
    assert "hooks.example" not in sensors["users_alerts"].description
    table = defs.resolve_assets_def("pg_users_table")
    policy = table.specs_by_key[AssetKey("pg_users_table")].freshness_policy
    assert (policy.deadline_cron, policy.lower_bound_delta) == ("30 6 * * *", timedelta(hours=6.5))
    assert defs.resolve_job_def("users_daily").tags["dagster/max_runtime"] == "7200"


def test_two_sources_claiming_one_table_fail_when_the_definitions_load(project):
    yaml = (project / "todos" / "defs.yaml").read_text()
    table = "table: {env: [TODOS_TABLE], default: todos}"
    (project / "todos" / "defs.yaml").write_text(yaml.replace(table, "table: {default: users}"))

    with pytest.raises(SourceClashError) as raised:
        load_sources(importlib.import_module(project.name))

    assert str(raised.value) == (
        "resources postgres and todos_postgres both use the table 'users': give each source in"
        " sources/ its own"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("  name: todos", "  name: todos\n  colour: blue"),
            "attributes.colour at {yaml}:5: Extra",
        ),
        (
            ("type: bigint, key: true", "type: big, key: true"),
            "attributes.record.0.type at {yaml}:11: Input should be 'bigint',",
        ),
        (
            ("  name: todos", '  name: todos\n  schedule_cron: {default: "61 * * * *"}'),
            "{yaml}: schedule_cron '61 * * * *' is not a cron schedule",
        ),
        (
            ("  name: todos", '  name: todos\n  loaded_by: {default: "3am"}'),
            "{yaml}: loaded_by '3am' is not a time of day like 03:00 (UTC)",
        ),
        (
            ("  name: todos", "  name: todos\n  max_runtime_seconds: {default: an hour}"),
            "{yaml}: max_runtime_seconds 'an hour' is not a number of seconds",
        ),
        (
            ("[TODOS_API_URL], default", "[TODOS_API_URL], required: true, default"),
            "{yaml}: api.url is required, and none of TODOS_API_URL is set",
        ),
        (
            ("{name: title, type: text,", "{name: id, type: text,"),
            "{yaml}: record: field 'id' is declared more than once",
        ),
        (
            (
                "  name: todos",
                "  name: todos\n  api: {url: {default: x}, page_size: {default: many}}",
            ),
            "{yaml}: api.page_size: Input should be a valid integer",
        ),
    ],
    ids=[
        "unknown key",
        "unknown type",
        "bad cron",
        "bad deadline",
        "bad max runtime",
        "required variable",
        "field twice",
        "wrong type",
    ],
)
def test_a_bad_yaml_fails_when_the_definitions_load_with_one_line(
    project, monkeypatch, change, message
):
    monkeypatch.delenv("TODOS_API_URL", raising=False)
    yaml = project / "todos" / "defs.yaml"
    text = yaml.read_text()
    if change[1].startswith("  name: todos\n  api:"):
        text = text.replace(
            '  api:\n    url: {env: [TODOS_API_URL], default: "https://gorest.co.in/public/v2/todos"}\n',
            "",
        )
    yaml.write_text(text.replace(*change, 1))

    with pytest.raises(SourceDefinitionError) as raised:
        load_sources(importlib.import_module(project.name))

    assert str(raised.value).startswith(message.format(yaml=yaml))
    assert "\n" not in str(raised.value)


def test_two_sources_given_one_table_by_their_variables_fail_when_the_definitions_load(
    project, monkeypatch
):
    monkeypatch.setenv("USERS_TABLE", "analytics.people")
    monkeypatch.setenv("TODOS_TABLE", "analytics.people")

    with pytest.raises(SourceClashError, match="both use the table 'analytics.people'"):
        load_sources(importlib.import_module(project.name))


@pytest.mark.parametrize(("share", "loads"), [(None, False), (0.5, True)], ids=["default", "0.5"])
def test_a_sources_reject_threshold_comes_from_its_yaml(
    project, load_project, users_table, share, loads
):
    if share is not None:
        yaml = project / "todos" / "defs.yaml"
        yaml.write_text(
            yaml.read_text().replace("  name: todos", f"  name: todos\n  max_reject_share: {share}")
        )
    users = generate_users(100)
    todos = generate_resources(users)["todos"]
    for todo in todos[::10]:
        todo["status"] = "someday"  # 10% invalid
    schema = users_table.split(".")[0]
    with GoRestServer(users, resources={"todos": todos}) as server:
        defs = load_project(TODOS_API_URL=server.urls["todos"], TODOS_TABLE=f"{schema}.todos")
        result = defs.resolve_job_def("todos_daily").execute_in_process(
            partition_key=DAY.isoformat(), raise_on_error=False
        )

    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["rejects_within_limit"] is loads
    assert result.success is loads


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("USERS_PIPELINE_EXECUTOR", "celeri", "USERS_PIPELINE_EXECUTOR='celeri' is not one of"),
        ("CELERY_VISIBILITY_TIMEOUT", "1h", "CELERY_VISIBILITY_TIMEOUT='1h' is not seconds"),
    ],
)
def test_a_bad_execution_setting_fails_when_the_definitions_load_with_one_line(
    project, monkeypatch, setting, value, message
):
    monkeypatch.setenv("USERS_PIPELINE_EXECUTOR", "celery")
    monkeypatch.setenv(setting, value)

    with pytest.raises(SourceDefinitionError) as raised:
        load_sources(importlib.import_module(project.name))

    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_a_bad_handover_setting_is_named(monkeypatch):
    monkeypatch.setenv("USERS_PIPELINE_HANDOVER", "nfs")
    with pytest.raises(ExecutionSettingError, match="USERS_PIPELINE_HANDOVER='nfs' is not one of"):
        day_handover()


@pytest.mark.parametrize(
    ("settings", "job", "day", "named"),
    [
        ({"TODOS_API_URL": "ftp://127.0.0.1/todos"}, "todos_daily", DAY, "TODOS_API_URL"),
        ({"TODOS_TABLE": "todos; drop"}, "todos_daily", DAY, "TODOS_TABLE='todos; drop'"),
        ({}, "todos_daily", DAY - timedelta(days=1), "cannot fetch the todos of"),
        ({}, "s3_todos_object", DAY - timedelta(days=1), "no todos snapshot was taken on"),
        ({"TOKEN": "secret"}, "todos_daily", DAY, "no credentials were sent; set api.auth"),
    ],
    ids=["url", "table", "past day", "not fetched here", "token"],
)
def test_a_misconfigured_second_source_names_only_its_own_settings_and_assets(
    load_project, users_table, settings, job, day, named
):
    """Generic code speaks of the source it runs for: a todos source's errors name TODOS_*
    variables, todos assets and its YAML keys, never the users source's."""
    schema = users_table.split(".")[0]
    token = settings.pop("TOKEN", None)
    users = generate_users(20)
    with GoRestServer(users, resources=generate_resources(users), token=token) as server:
        defs = load_project(
            **{"TODOS_API_URL": server.urls["todos"], "TODOS_TABLE": f"{schema}.todos", **settings}
        )
        if job.startswith("s3_"):
            target = define_asset_job("upload_only", selection=[job])
            defs = Definitions.merge(defs, Definitions(jobs=[target]))
            job = "upload_only"
        result = defs.resolve_job_def(job).execute_in_process(
            partition_key=day.isoformat(), raise_on_error=False
        )

    messages = failure_messages(result)
    assert not result.success
    assert named in messages
    assert not re.search(r"\busers\b|USERS_|pg_users|raw_users|s3_users", messages), messages
