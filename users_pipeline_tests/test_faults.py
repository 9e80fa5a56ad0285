"""Faults injected into the real parts: every case checks the end state of Postgres (and S3 where
it is involved), not just that something raised. Run alone with `pytest -m faults`."""

import socket
import threading
import time
from datetime import date, timedelta

import orjson
import psycopg
import pytest
from dagster_aws.s3 import S3Resource

from users_pipeline.offline import Faults, generate_users
from users_pipeline.orchestration.resources import ArchiveResource
from users_pipeline.storage.archive import ArchiveError
from users_pipeline.storage.files import file_digest
from users_pipeline.storage.s3 import S3Archive
from users_pipeline.warehouse.table_name import TableName
from users_pipeline_tests.conftest import DAY as RUN_DAY
from users_pipeline_tests.conftest import S3_TEST_CREDENTIALS, UsersApi
from users_pipeline_tests.orchestration.test_resources import failure_messages
from users_pipeline_tests.s3_fault_proxy import S3FaultProxy
from users_pipeline_tests.test_pipeline import LAYOUT, run, table_rows
from users_pipeline_tests.warehouse.test_load import contents, load, rows

pytestmark = pytest.mark.faults
DAY = date(2026, 4, 1)


@pytest.fixture
def table(users_table: str) -> TableName:
    return TableName.parse(users_table)


@pytest.fixture
def loaded(postgres_url, pg, table) -> list[tuple]:
    """The table after one good day: what every failed load must leave behind."""
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, rows(500), day=DAY)
    return contents(pg, table)


def next_day_rows() -> list[tuple]:
    return [(*row[:4], "inactive") for row in rows(800)]


def test_backend_killed_in_the_middle_of_the_copy(postgres_url, pg, table, loaded):
    with psycopg.connect(postgres_url) as conn:
        victim = conn.info.backend_pid

        def batches_then_kill():
            yield next_day_rows()[:400]
            pg.execute("SELECT pg_terminate_backend(%s)", (victim,))
            time.sleep(0.2)
            yield next_day_rows()[400:]

        with pytest.raises(psycopg.OperationalError):
            load(conn, table, batches_then_kill(), day=DAY + timedelta(days=1))
    assert contents(pg, table) == loaded
    with psycopg.connect(postgres_url) as conn:  # a re-run completes the day
        result = load(conn, table, next_day_rows(), day=DAY + timedelta(days=1))
    assert (result.inserted, result.updated) == (300, 500)


def test_backend_killed_in_the_middle_of_the_upsert(postgres_url, pg, table, loaded):
    # A trigger that stalls the upsert's first row gives the killer a moment inside it.
    pg.execute(
        "CREATE FUNCTION pg_temp.stall() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN PERFORM pg_sleep(5); RETURN NEW; END $$"
    )
    pg.execute(f"CREATE TRIGGER stall BEFORE UPDATE ON {table} FOR EACH STATEMENT"
               " EXECUTE FUNCTION pg_temp.stall()")  # fmt: skip
    with psycopg.connect(postgres_url) as conn:
        victim = conn.info.backend_pid

        def kill_when_stalled() -> None:
            for _ in range(100):
                waiting = pg.execute(
                    "SELECT wait_event FROM pg_stat_activity WHERE pid = %s", (victim,)
                ).fetchone()
                if waiting and waiting[0] == "PgSleep":
                    pg.execute("SELECT pg_terminate_backend(%s)", (victim,))
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_when_stalled)
        killer.start()
        with pytest.raises(psycopg.OperationalError):
            load(conn, table, next_day_rows(), day=DAY + timedelta(days=1))
        killer.join()
    assert contents(pg, table) == loaded


def test_disk_full_during_the_upsert_leaves_the_table_as_it_was(postgres_url, pg, table, loaded):
    pg.execute(
        "CREATE FUNCTION pg_temp.disk_full() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'"
        " USING ERRCODE = 'disk_full'; END $$"
    )
    pg.execute(f"CREATE TRIGGER disk_full BEFORE INSERT ON {table} FOR EACH ROW"
               " EXECUTE FUNCTION pg_temp.disk_full()")  # fmt: skip
    with psycopg.connect(postgres_url) as conn, pytest.raises(psycopg.errors.DiskFull):
        load(conn, table, next_day_rows(), day=DAY + timedelta(days=1))
    assert contents(pg, table) == loaded
    pg.execute(f"DROP TRIGGER disk_full ON {table}")
    with psycopg.connect(postgres_url) as conn:
        assert load(conn, table, next_day_rows(), day=DAY + timedelta(days=1)).inserted == 300


def test_two_loads_of_the_same_day_at_once_give_one_row_per_user(postgres_url, pg, table):
    results = []

    def load_day() -> None:
        with psycopg.connect(postgres_url) as conn:
            results.append(load(conn, table, rows(2000), day=DAY))

    threads = [threading.Thread(target=load_day) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted((r.inserted, r.unchanged) for r in results) == [(0, 2000), (2000, 0)]
    assert pg.execute(f"SELECT count(*), count(DISTINCT id) FROM {table}").fetchone() == (
        2000,
        2000,
    )


def test_a_daily_run_overlapping_a_backfill_loses_no_update(postgres_url, pg, users_table):
    daily = TableName.parse(users_table)
    serial = TableName(daily.schema, "serial")
    days = [
        (
            DAY + timedelta(days=i),
            [(*r[:4], ("inactive", "active")[i % 2]) for r in rows(1000 + 100 * i)],
        )
        for i in range(4)
    ]
    with psycopg.connect(postgres_url) as conn:
        for day, day_rows in days:
            load(conn, serial, day_rows, day=day)

    def backfill() -> None:
        with psycopg.connect(postgres_url) as conn:
            for day, day_rows in days[:3]:
                load(conn, daily, day_rows, day=day)

    def daily_run() -> None:
        with psycopg.connect(postgres_url) as conn:
            load(conn, daily, days[3][1], day=days[3][0])

    threads = [threading.Thread(target=backfill), threading.Thread(target=daily_run)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert contents(pg, daily) == contents(pg, serial)


def test_two_pipeline_runs_of_the_same_day_at_once(resources, gorest, pg, users_table):
    outcomes = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(run(resources, raise_on_error=False)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result.success for result in outcomes)
    loaded = table_rows(pg, users_table)
    assert len(loaded) == len({row[0] for row in loaded}) == len(gorest.users)


def api_faults(gorest) -> dict[str, tuple[dict, str]]:
    """name -> (changes to the pipeline's API settings / server faults, expected message)."""
    big_page = orjson.dumps(gorest.users[:10] * 1000)
    return {
        "timeouts": ({"delay_seconds": 0.5}, "page 1: timed out after 0.2 s"),
        "5xx burst past the retry budget": ({"statuses": {3: [503] * 10}}, "page 3: HTTP 503"),
        "429 storm": ({"statuses": {2: [429] * 10}}, "page 2: HTTP 429"),
        "truncated body": ({"bodies": {4: b'[{"id": 1, "na'}}, "page 4: body is not JSON"),
        "non-JSON body": ({"bodies": {2: b"upstream error"}}, "page 2: body is not JSON"),
        "HTML error page with 200": (
            {"bodies": {5: b"<html><body>Bad gateway</body></html>"}},
            "page 5: body is not JSON (text/html",
        ),
        "object instead of list": ({"bodies": {1: b'{"data": []}'}}, "got dict"),
        "dropped connections": ({"disconnect_pages": {6}}, "page 6: cannot connect"),
        "page over the size limit": ({"bodies": {2: big_page}}, "larger than USERS_API_MAX_PAGE"),
        "redirect elsewhere": ({"statuses": {1: [302]}}, "redirect to ? not followed"),
    }  # fmt: skip


@pytest.mark.parametrize(
    "case",
    ["timeouts", "5xx burst past the retry budget", "429 storm", "truncated body", "non-JSON body",
     "HTML error page with 200", "object instead of list", "dropped connections",
     "page over the size limit", "redirect elsewhere"],
)  # fmt: skip
def test_api_faults_fail_the_day_and_write_nothing(
    case, resources, gorest, s3, bucket, pg, users_table, tmp_path
):
    faults, expected = api_faults(gorest)[case]
    gorest.faults = Faults(**faults)
    resources["users_api"] = UsersApi(
        url=gorest.url,
        max_attempts=3,
        backoff_seconds=0.01,
        timeout_seconds=0.2,
        max_page_bytes=1_000_000,
    )

    result = run(resources, raise_on_error=False)

    assert not result.success
    assert expected in failure_messages(result)
    assert not LAYOUT.day_files(tmp_path / "data", RUN_DAY).records.exists()
    assert s3.get_client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert pg.execute("SELECT to_regclass(%s)", (users_table,)).fetchone()[0] is None


def test_connection_refused_fails_the_day_and_writes_nothing(
    resources, s3, bucket, pg, users_table
):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    url = f"http://127.0.0.1:{closed}/public/v2/users"
    resources["users_api"] = UsersApi(url=url, max_attempts=2, backoff_seconds=0.01)

    result = run(resources, raise_on_error=False)

    assert "cannot connect (Connection refused); check USERS_API_URL" in failure_messages(result)
    assert s3.get_client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert pg.execute("SELECT to_regclass(%s)", (users_table,)).fetchone()[0] is None


def test_a_page_of_ten_thousand_records_fails_the_crawl_check(
    resources, gorest, s3, bucket, pg, users_table
):
    gorest.faults = Faults(bodies={2: orjson.dumps(generate_users(10_000, seed=9))})

    result = run(resources, raise_on_error=False)

    evaluations = {
        e.event_specific_data.check_name: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert evaluations["crawl_is_complete"].passed is False
    assert (
        "more than the 100 records asked for: [2]" in evaluations["crawl_is_complete"].description
    )
    assert s3.get_client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert pg.execute("SELECT to_regclass(%s)", (users_table,)).fetchone()[0] is None


def test_access_denied_on_the_bucket_fails_the_run_before_any_fetch(
    resources, gorest, s3, s3_endpoint, bucket, pg, users_table
):
    deny_writes = lambda method, path: (403, "AccessDenied") if method == "PUT" else None  # noqa: E731
    with S3FaultProxy(s3_endpoint, deny_writes) as proxy:
        resources["archive"] = ArchiveResource(
            s3=S3Resource(endpoint_url=proxy.url, region_name="us-east-1", **S3_TEST_CREDENTIALS),
            bucket=bucket,
            prefix="users",
        )
        result = run(resources, raise_on_error=False)

    assert not result.success
    assert f"access denied writing s3://{bucket}/users/_write_check (AccessDenied)" in (
        failure_messages(result)
    )
    assert gorest.requests == []
    assert s3.get_client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert pg.execute("SELECT to_regclass(%s)", (users_table,)).fetchone()[0] is None


def test_a_multipart_upload_failing_half_way_leaves_the_previous_object(
    s3, s3_endpoint, bucket, tmp_path
):
    key = LAYOUT.keys(RUN_DAY).records
    previous = tmp_path / "previous.jsonl"
    previous.write_bytes(b'{"id": 1}\n')
    S3Archive(s3.get_client(), bucket).put(previous, key, file_digest(previous))
    large = tmp_path / "large.jsonl"  # 12 MiB: two parts of boto3's default 8 MiB
    large.write_bytes(b'{"id": 1, "pad": "' + b"x" * (12 << 20) + b'"}\n')
    fail_part_two = lambda method, path: (  # noqa: E731
        (500, "InternalError") if method == "PUT" and "partNumber=2" in path else None
    )

    with S3FaultProxy(s3_endpoint, fail_part_two) as proxy:
        client = S3Resource(
            endpoint_url=proxy.url, region_name="us-east-1", max_attempts=2, **S3_TEST_CREDENTIALS
        ).get_client()
        with pytest.raises(ArchiveError, match=f"s3://{bucket}/{key}"):
            S3Archive(client, bucket).put(large, key, file_digest(large))
        assert any("partNumber=1" in path for _, path in proxy.requests)  # it was multipart

    stored = s3.get_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert stored == previous.read_bytes()  # no partial object became the day's object
    assert s3.get_client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
