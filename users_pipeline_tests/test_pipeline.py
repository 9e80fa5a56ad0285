"""The three assets end to end through `materialize()`, against the real API server, S3
endpoint and PostgreSQL. Expected values come from what the server served and S3 holds."""

import json
from datetime import timedelta

import psycopg
import pytest
from dagster import materialize

from users_pipeline.orchestration.resources import ArchiveResource
from users_pipeline.storage.layout import SourceLayout
from users_pipeline_tests.conftest import (
    DAY,
    FixedClock,
    UsersApi,
    pg_users_table,
    raw_users_json,
    s3_users_object,
)

ASSETS = [raw_users_json, s3_users_object, pg_users_table]
LAYOUT = SourceLayout("users")  # the users source under the default prefix, as the resources use it


RELOAD = {"ops": {"pg_users_table": {"config": {"reload": True}}}}


def run(
    resources: dict,
    assets=ASSETS,
    day=DAY,
    raise_on_error=True,
    run_config=None,
    today=None,
    instance=None,
):
    """Materialize `assets` for `day`, on a clock whose today is `today` (by default `day`
    itself: the day's snapshot is taken on that day), in `instance` (by default a fresh one)."""
    return materialize(
        assets,
        resources={**resources, "clock": FixedClock(day=(today or day).isoformat())},
        partition_key=day.isoformat(),
        raise_on_error=raise_on_error,
        run_config=run_config,
        instance=instance,
    )


# A run that lets a day mark any share of the current rows deleted (the guard's limit is 20%).
ACCEPT_DELETES = {"ops": {"pg_users_table": {"config": {"max_delete_share": 1.0}}}}


def metadata(result, asset_name: str) -> dict:
    (event,) = result.asset_materializations_for_node(asset_name)
    return {key: value.value for key, value in event.metadata.items()}


def table_rows(pg: psycopg.Connection, users_table: str) -> list[tuple]:
    return pg.execute(
        f"SELECT id, name, email, gender, status, inserted_from, last_seen"
        f" FROM {users_table} ORDER BY id"
    ).fetchall()


def json_lines(data: bytes) -> list:
    return [json.loads(line) for line in data.splitlines()]


def archived_users(resources: dict, day=DAY) -> list[dict]:
    archive = resources["archive"]
    key = LAYOUT.keys(day).records
    body = archive.s3.get_client().get_object(Bucket=archive.bucket, Key=key)
    return json_lines(body["Body"].read())


def expected_rows(users: list[dict]) -> list[tuple]:
    """The rows of users seen in the latest snapshot loaded: `last_seen` NULL."""
    return sorted(
        (u["id"], u["name"], u["email"], u["gender"], u["status"], "dagster", None) for u in users
    )


def test_full_graph_loads_every_page_into_s3_and_postgres(resources, gorest, pg, users_table):
    result = run(resources)

    assert result.success
    served = gorest.users
    assert archived_users(resources) == served
    assert table_rows(pg, users_table) == expected_rows(served)
    raw = metadata(result, "raw_users_json")
    assert raw["dagster/row_count"] == len(served) == 2751
    assert raw["pages"] == 28
    archived = metadata(result, "s3_users_object")
    assert (
        archived["dagster/uri"] == f"s3://{resources['archive'].bucket}/users/dt={DAY}/users.jsonl"
    )
    assert archived["sha256"] == raw["sha256"]
    loaded = metadata(result, "pg_users_table")
    assert (loaded["rows_inserted"], loaded["rows_updated"], loaded["rows_unchanged"]) == (
        2751,
        0,
        0,
    )
    assert loaded["dagster/row_count"] == 2751
    first = min(served, key=lambda user: user["id"])
    assert first["email"] in loaded["preview"] and "inserted_from" in loaded["preview"]


def test_rerunning_a_day_changes_nothing(resources, pg, users_table):
    run(resources)
    before = table_rows(pg, users_table)

    again = run(resources)
    forced = run(resources, run_config=RELOAD)  # really reads and upserts the day again

    for result in (again, forced):
        loaded = metadata(result, "pg_users_table")
        assert (loaded["rows_inserted"], loaded["rows_updated"], loaded["rows_unchanged"]) == (
            0,
            0,
            2751,
        )
    assert table_rows(pg, users_table) == before


def test_each_asset_materializes_alone_from_the_previous_output(resources, gorest, pg, users_table):
    for asset in ASSETS:
        assert run(resources, assets=[asset]).success
    assert table_rows(pg, users_table) == expected_rows(gorest.users)


def test_replaying_the_load_alone_makes_no_api_request(resources, gorest, pg, users_table):
    run(resources)
    requests_before = len(gorest.requests)
    pg.execute(f"TRUNCATE {users_table}")

    run(resources, assets=[pg_users_table])

    assert len(gorest.requests) == requests_before
    assert table_rows(pg, users_table) == expected_rows(gorest.users)


@pytest.mark.parametrize(
    "name",
    [
        'O\'Brien, "Jr."',
        "tab\there",
        "new\nline\r\nand CR",
        "back\\slash \\N \\. end\\",
        "Zoë Ó Briain 張偉 😀 Ærøskøbing",
        "comma,separated,\ttab",
    ],
)
def test_names_survive_byte_for_byte(resources, gorest, pg, users_table, name):
    gorest.users[0]["name"] = name

    run(resources)

    stored = pg.execute(
        f"SELECT name FROM {users_table} WHERE id = %s", (gorest.users[0]["id"],)
    ).fetchone()
    assert stored[0] == name
    assert archived_users(resources)[0]["name"] == name


def test_a_newer_day_refreshes_values_and_an_older_day_never_overwrites(
    resources, gorest, pg, users_table
):
    run(resources)
    later = DAY + timedelta(days=1)
    gorest.users[0]["status"] = "inactive" if gorest.users[0]["status"] == "active" else "active"
    newest = dict(gorest.users[0])

    result = run(resources, day=later)
    loaded = metadata(result, "pg_users_table")
    assert (loaded["rows_inserted"], loaded["rows_updated"]) == (0, 1)

    # Replaying the older day from the archive must not bring the old status back.
    run(resources, assets=[pg_users_table], day=DAY)
    row = pg.execute(
        f"SELECT status, last_seen FROM {users_table} WHERE id = %s", (newest["id"],)
    ).fetchone()
    assert row == (newest["status"], None)


def test_unauthorized_api_fails_before_writing_anything(
    resources, gorest, pg, users_table, tmp_path
):
    run(resources)
    loaded_before = table_rows(pg, users_table)
    gorest.token = "the-right-token"
    resources["users_api"] = UsersApi(url=gorest.url, token="wrong-secret-token")

    result = run(resources, day=DAY + timedelta(days=1), raise_on_error=False)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "401" in message and "USERS_API_TOKEN" in message
    assert "wrong-secret-token" not in str(result.all_events)
    day_dir = LAYOUT.day_files(tmp_path / "data", DAY + timedelta(days=1)).folder
    assert [path.name for path in day_dir.iterdir()] == [".lock"]  # no day file, no manifest
    assert table_rows(pg, users_table) == loaded_before


def test_a_gzip_archive_runs_the_same_graph(resources, gorest, pg, users_table):
    archive = resources["archive"]
    resources["archive"] = ArchiveResource(
        s3=archive.s3, bucket=archive.bucket, prefix="users", gzip=True
    )

    result = run(resources)

    assert metadata(result, "s3_users_object")["dagster/uri"].endswith("users.jsonl.gz")
    assert table_rows(pg, users_table) == expected_rows(gorest.users)
