"""End to end through the Dagster UI, as a user runs it: `dagster dev` (webserver and daemon) on
the Postgres-backed instance of `deploy/dagster.yaml`, driven in headless Chromium, with the API,
S3 and Postgres real and on 127.0.0.1.

One `dagster dev` serves the whole module (it takes seconds to start); each test checks one part
so that a failure names the part that broke. The schedule ticks every minute here, and the
browser tests run while its first tick is due, to keep the module short.

`UPDATE_SCREENSHOTS=1` writes the screenshots to `docs/` for the README; otherwise they go to the
test's tmp dir, so a normal run leaves the repository clean.
"""

import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dagster_aws.s3 import S3Resource
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy.engine import make_url

from users_pipeline_tests.conftest import S3_TEST_CREDENTIALS
from users_pipeline_tests.dagster_ui import CHROMIUM, DagsterDev, chromium, graph_links, wait_for
from users_pipeline_tests.gorest_server import GoRestServer, generate_users

pytestmark = pytest.mark.ui
# The UI renders live data with a lag on a busy 2-core machine: 5 s (Playwright's default) is
# not always enough.
expect.set_options(timeout=20_000)
REPO = Path(__file__).resolve().parents[1]
LOCATION = "users_pipeline"
ASSETS = ["raw_users_json", "s3_users_object", "pg_users_table"]
LINKS = [("raw_users_json", "s3_users_object"), ("s3_users_object", "pg_users_table")]
SCHEDULE = "users_daily_schedule"
# The first tick comes at the next minute boundary once the daemon is up: at most ~70 s.
SCHEDULE_TIMEOUT = 150
RUN_TIMEOUT = 60


@dataclass
class Deployment:
    dagster: DagsterDev
    home: Path
    storage_url: str  # Dagster's own database (runs, events, ticks), as a libpq URL
    database_url: str
    users_table: str
    s3: Any
    bucket: str
    users: list[dict]
    started_on: date  # the UTC day when dagster dev started: the schedule's first partition
    started_at: float  # time.monotonic()

    @property
    def asset_graph_url(self) -> str:
        return f"{self.dagster.url}/locations/{LOCATION}/asset-groups/users"


@pytest.fixture(scope="module")
def deployment(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_url: str,
    s3_endpoint: str,
) -> Iterator[Deployment]:
    """Everything `dagster dev` needs, started once; stopped, with its database and schema
    dropped, even when a test fails (then its log tail is printed)."""
    base = tmp_path_factory.mktemp("ui")
    home = base / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home)
    suffix = uuid.uuid4().hex[:12]
    storage_db, users_table, bucket = f"dagster_{suffix}", f"ui_{suffix}.users", f"ui-{suffix}"
    storage = make_url(postgres_url).set(database=storage_db)
    # psycopg2, named: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, on which
    # dagster-postgres fails to store any event ("NOTIFY run_events, $1": a syntax error).
    dagster_postgres_url = storage.set(drivername="postgresql+psycopg2")
    s3 = S3Resource(
        endpoint_url=s3_endpoint, region_name="us-east-1", **S3_TEST_CREDENTIALS
    ).get_client()
    s3.create_bucket(Bucket=bucket)
    failures_before = request.session.testsfailed

    with ExitStack() as stack:
        admin = stack.enter_context(psycopg.connect(postgres_url, autocommit=True))
        gorest = stack.enter_context(GoRestServer(generate_users(2751)))
        admin.execute(f"CREATE DATABASE {storage_db}")
        stack.callback(admin.execute, f"DROP DATABASE {storage_db} WITH (FORCE)")
        stack.callback(admin.execute, f"DROP SCHEMA IF EXISTS ui_{suffix} CASCADE")
        settings = {
            "DAGSTER_HOME": str(home),
            "DAGSTER_POSTGRES_URL": dagster_postgres_url.render_as_string(hide_password=False),
            "USERS_SCHEDULE_CRON": "* * * * *",
            "USERS_API_URL": gorest.url,
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": s3_endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": S3_TEST_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": S3_TEST_CREDENTIALS["aws_secret_access_key"],
            "DATABASE_URL": postgres_url,
            "USERS_TABLE": users_table,
            "USERS_PIPELINE_DATA_DIR": str(base / "data"),
        }
        started_on, started_at = datetime.now(timezone.utc).date(), time.monotonic()
        dagster = DagsterDev(base, settings, module="users_pipeline")
        stack.callback(dagster.stop)
        stack.callback(print_log_on_failure, request, failures_before, dagster)
        dagster.wait_until_loaded(LOCATION, timeout=90)
        # The "join the community" pop-up covers the page on a new instance's first visit.
        dagster.graphql("mutation { setNuxSeen }")
        yield Deployment(
            dagster=dagster,
            home=home,
            storage_url=storage.render_as_string(hide_password=False),
            database_url=postgres_url,
            users_table=users_table,
            s3=s3,
            bucket=bucket,
            users=gorest.users,
            started_on=started_on,
            started_at=started_at,
        )


def print_log_on_failure(
    request: pytest.FixtureRequest, failures_before: int, dagster: DagsterDev
) -> None:
    """Show the `dagster dev` log tail with the failures, past pytest's output capture (a
    module fixture's teardown output is otherwise never shown)."""
    if request.session.testsfailed == failures_before:
        return
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else nullcontext():
        sys.stdout.write(f"\n--- dagster dev log tail ---\n{dagster.log_tail()}\n")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    if not Path(CHROMIUM).exists():
        message = f"no {CHROMIUM}: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):  # CI installs it: a missing browser there is a failure
            pytest.fail(message)
        pytest.skip(message)
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    page = browser.new_page()
    yield page
    page.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        return REPO / "docs"
    return tmp_path


def tags(run: dict[str, Any]) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in run["tags"]}


def materialized(run: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        ("/".join(event["assetKey"]["path"]), event["partition"])
        for event in run["assetMaterializations"]
    }


def archived_users(deployment: Deployment, day: date) -> list[dict]:
    key = f"users/dt={day.isoformat()}/users.json"
    return json.loads(deployment.s3.get_object(Bucket=deployment.bucket, Key=key)["Body"].read())


def test_the_asset_graph_shows_the_three_assets_and_their_links(
    deployment: Deployment, page: Page, screenshots: Path
) -> None:
    page.goto(deployment.asset_graph_url)

    for name in ASSETS:
        expect(page.get_by_text(name, exact=True)).to_be_visible()
    expect(page.locator("svg > path[marker-end]")).to_have_count(len(LINKS))
    # Each node's last row says "Loading..." until its live data arrives.
    expect(page.get_by_text(re.compile(r"^\d+ partitions$"))).to_have_count(len(ASSETS))
    assert graph_links(page, ASSETS) == LINKS
    page.screenshot(path=screenshots / "asset-graph.png")


def test_a_day_materialized_from_the_ui_lands_in_s3_and_postgres(
    deployment: Deployment, page: Page, screenshots: Path
) -> None:
    # Not today: the schedule's runs are for today, and this run must be told apart from them.
    day = deployment.started_on - timedelta(days=1)
    page.goto(deployment.asset_graph_url)

    page.get_by_role("button", name="Materialize all").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Launch runs to materialize 3 assets")).to_be_visible()
    partitions = dialog.get_by_placeholder("No matching partitions")
    partitions.fill(day.isoformat())
    partitions.press("Enter")  # the typed selection applies on Enter
    dialog.get_by_role("button", name="Launch 1 run", exact=True).click()
    view = page.get_by_role("link", name="View", exact=True)  # in the "Launched run" toast
    run_path = view.get_attribute("href")
    view.click()
    page.wait_for_url(f"**{run_path}")
    run_id = run_path.rsplit("/", 1)[1]

    run = deployment.dagster.wait_for_success(run_id, RUN_TIMEOUT)
    assert tags(run)["dagster/partition"] == day.isoformat()
    assert "dagster/schedule_name" not in tags(run)
    assert materialized(run) == {(name, day.isoformat()) for name in ASSETS}
    # A live run page can lag behind in its Gantt chart: reload it as a finished run.
    page.reload()
    expect(page.get_by_text("RUN_SUCCESS", exact=True)).to_be_visible()
    for name in ASSETS:  # each step drawn green, as succeeded, in the Gantt chart
        step = page.locator(f'.chart-element.box[data-tooltip="{name}"]')
        expect(step).to_have_attribute("style", re.compile("accent-green"))
    page.screenshot(path=screenshots / "run-succeeded.png")

    served = sorted(deployment.users, key=lambda user: user["id"])
    assert sorted(archived_users(deployment, day), key=lambda user: user["id"]) == served
    with psycopg.connect(deployment.database_url) as conn:
        rows = conn.execute(
            f"SELECT id, name, email, gender, status, inserted_from FROM {deployment.users_table}"
            " ORDER BY id"
        ).fetchall()
        loads = conn.execute(
            f"SELECT rows_loaded FROM {deployment.users_table}_loads WHERE snapshot_date = %s",
            (day,),
        ).fetchall()
    assert [row[:5] for row in rows] == [tuple(user.values()) for user in served]
    assert {row[5] for row in rows} == {"dagster"}
    assert loads == [(len(served),)]


def test_the_daemon_fires_the_schedule_for_today(deployment: Deployment) -> None:
    def schedule_run() -> dict[str, Any] | None:
        runs = deployment.dagster.runs(**{"dagster/schedule_name": SCHEDULE})
        failed = [run for run in runs if run["status"] in ("FAILURE", "CANCELED")]
        assert not failed, [deployment.dagster.error_messages(run["runId"]) for run in failed]
        return next((run for run in runs if run["status"] == "SUCCESS"), None)

    remaining = deployment.started_at + SCHEDULE_TIMEOUT - time.monotonic()
    found = wait_for(schedule_run, remaining, f"a run of {SCHEDULE} to succeed", interval=2)

    run = deployment.dagster.run(found["runId"])
    day = tags(run)["dagster/partition"]
    # The tick's UTC date: the day the test started, unless a midnight passed since.
    assert day in {deployment.started_on.isoformat(), datetime.now(timezone.utc).date().isoformat()}
    assert materialized(run) == {(name, day) for name in ASSETS}
    assert len(archived_users(deployment, date.fromisoformat(day))) == len(deployment.users)


def test_both_runs_are_recorded_in_the_postgres_run_storage(deployment: Deployment) -> None:
    shown = {run["runId"] for run in deployment.dagster.runs()}
    with psycopg.connect(deployment.storage_url) as conn:
        statuses = dict(conn.execute("SELECT run_id, status FROM runs").fetchall())
        run_tags: dict[str, dict[str, str]] = {run_id: {} for run_id in statuses}
        for run_id, key, value in conn.execute("SELECT run_id, key, value FROM run_tags"):
            run_tags[run_id][key] = value

    scheduled = [run for run in run_tags if "dagster/schedule_name" in run_tags[run]]
    from_ui = [run for run in run_tags if run not in scheduled]
    # One scheduled run per day, however often the cron ticks (later ticks skip the day).
    assert [statuses[run] for run in scheduled] == ["SUCCESS"], statuses
    assert [statuses[run] for run in from_ui] == ["SUCCESS"], statuses
    yesterday = (deployment.started_on - timedelta(days=1)).isoformat()
    assert run_tags[from_ui[0]]["dagster/partition"] == yesterday
    assert shown <= set(statuses)  # the UI lists the runs of this database...
    assert list(deployment.home.rglob("*.db")) == []  # ...and no SQLite storage beside it
