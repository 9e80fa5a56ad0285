"""End to end through the Dagster UI, as a user runs it: `dagster dev` (webserver and daemon) on
the Postgres-backed instance of `deploy/dagster.yaml`, driven in headless Chromium, with the API,
S3 and Postgres real and on 127.0.0.1.

One `dagster dev` serves the whole module (it takes seconds to start); each test checks one part
so that a failure names the part that broke, and none relies on another having run. The
schedule ticks every minute here, and the browser tests run while its first tick is due, to keep
the module short. Both load today, the only day the API can give: the UI's run is told apart
from the schedule's by having no schedule tag. Without Chromium the browser tests skip and the
schedule's still run.

The browser tests walk a newcomer's first hour: today's run, a past day refused, a never-fetched
day's rebuild refused, and, once the schedule's run is done, a failed check with its reasons and
the fix through the launchpad, asserting the words on screen at each step.

`UPDATE_SCREENSHOTS=1` writes the screenshots to `docs/` for the README; otherwise they go to the
test's tmp dir, so a normal run leaves the repository clean.
"""

import copy
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from dagster_aws.s3 import S3Resource
from playwright.sync_api import BrowserContext, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy.engine import make_url

from users_pipeline.offline import GoRestServer, generate_users
from users_pipeline.offline.records import INVALID_KINDS, invalid_count, spoil
from users_pipeline.orchestration.checks import REJECTS_WITHIN_LIMIT
from users_pipeline.settings import FIRST_DAY_SETTING
from users_pipeline.snapshot.days import utc_today
from users_pipeline.storage.layout import SourceLayout
from users_pipeline_tests.conftest import S3_TEST_CREDENTIALS
from users_pipeline_tests.dagster_ui import CHROMIUM, DagsterDev, chromium, graph_links, wait_for

pytestmark = pytest.mark.ui
# The UI renders live data with a lag on a busy 2-core machine: 5 s (Playwright's default) is
# not always enough.
expect.set_options(timeout=20_000)
REPO = Path(__file__).resolve().parents[1]
LOCATION = "users_pipeline"
ASSETS = ["raw_users_json", "s3_users_object", "pg_users_table"]
# The graph's assets: the table's step also brings each day into its history.
DAILY_ASSETS = [*ASSETS, "pg_users_history"]
LINKS = [
    ("raw_users_json", "s3_users_object"),
    ("s3_users_object", "pg_users_table"),
    ("pg_users_table", "pg_users_history"),
]
SCHEDULE = "users_daily_schedule"
# The first tick comes at the next minute boundary once the daemon is up: at most ~70 s.
SCHEDULE_TIMEOUT = 150
RUN_TIMEOUT = 60
# Whether an element is inside every scrolled box around it: a mask covers an element even where
# a scrolled box hides it.
IN_SIGHT_JS = """
(element) => {
  const box = element.getBoundingClientRect();
  for (let outer = element.parentElement; outer; outer = outer.parentElement) {
    if (!/auto|scroll|hidden/.test(getComputedStyle(outer).overflowY)) continue;
    const frame = outer.getBoundingClientRect();
    if (box.bottom <= frame.top || box.top >= frame.bottom) return false;
  }
  return true;
}
"""
# A tenth of the users invalid: over the 1% limit, loaded with the limit the next step gives.
INVALID_SHARE = 0.1
RAISED_LIMIT_YAML = "ops:\n  raw_users_json:\n    config:\n      max_reject_share: 0.1"
NO_BROWSER = f"needs Debian's Chromium at {CHROMIUM}: apt-get install chromium"


@dataclass
class Deployment:
    dagster: DagsterDev
    home: Path
    storage_url: str  # Dagster's own database (runs, events, ticks), as a libpq URL
    database_url: str
    users_table: str
    s3: Any
    bucket: str
    api: GoRestServer  # in process: a test may replace its users
    users: list[dict]  # the users it serves at the start
    started_on: date  # the UTC day when dagster dev started: the first tick's, unless midnight
    started_at: float  # time.monotonic()

    @property
    def asset_graph_url(self) -> str:
        return f"{self.dagster.url}/locations/{LOCATION}/asset-groups/users"

    def asset_url(self, asset: str) -> str:
        return f"{self.dagster.url}/assets/{asset}"

    def private(self, page: Page, *more: Locator) -> dict[str, Any]:
        """Screenshot options that grey out what is the test's own, not the README's: this
        run's schema and bucket where they are in sight, and `more` (a tmp path)."""
        names = re.compile(f"{re.escape(self.users_table)}|{re.escape(self.bucket)}")
        shown = [text for text in page.get_by_text(names).all() if text.evaluate(IN_SIGHT_JS)]
        return {"mask": [*shown, *more], "mask_color": "#d9d9d9"}


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
    instance = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    # The daemon looks at the run queue every second, not every 5 s: each run starts sooner.
    instance["run_coordinator"]["config"]["dequeue_interval_seconds"] = 1
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
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
        started_on, started_at = utc_today(), time.monotonic()
        # The partitions start yesterday: the days a deployment started then can have.
        settings[FIRST_DAY_SETTING] = (started_on - timedelta(days=1)).isoformat()
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
            api=gorest,
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
        if os.environ.get("CI"):  # CI installs it: a missing browser there is a failure
            pytest.fail(NO_BROWSER)
        pytest.skip(NO_BROWSER)
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    page = browser.new_page()
    yield page
    page.close()


@pytest.fixture(scope="module")
def scheduled_run(deployment: Deployment) -> dict[str, Any]:
    """The schedule's first successful run, waited for from when `dagster dev` started: a
    fixture, so each test that checks it stands alone and the module waits for it once."""

    def succeeded() -> dict[str, Any] | None:
        runs = deployment.dagster.runs(**{"dagster/schedule_name": SCHEDULE})
        for run in runs:
            if run["status"] in ("FAILURE", "CANCELED"):
                day = date.fromisoformat(tags(run)["dagster/partition"])
                skip_if_the_day_ended(day, f"scheduled run {run['runId']}")
                errors = deployment.dagster.error_messages(run["runId"])
                raise AssertionError(f"scheduled run {run['runId']}: {run['status']} {errors}")
        return next((run for run in runs if run["status"] == "SUCCESS"), None)

    remaining = deployment.started_at + SCHEDULE_TIMEOUT - time.monotonic()
    found = wait_for(succeeded, remaining, f"a run of {SCHEDULE} to succeed", interval=2)
    return deployment.dagster.run(found["runId"])


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        return REPO / "docs"
    return tmp_path


def skip_if_the_day_ended(day: date, what: str) -> None:
    """Skip when `day` is over: a run for it whose fetch began after midnight UTC is refused, as
    it must be (the API has no history), so near midnight its failure says nothing."""
    if utc_today() != day:
        pytest.skip(
            f"{what} for {day} ran past midnight UTC, when that day can no longer be fetched;"
            " run the test again"
        )


def tags(run: dict[str, Any]) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in run["tags"]}


def materialized(run: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        ("/".join(event["assetKey"]["path"]), event["partition"])
        for event in run["assetMaterializations"]
    }


def metadata(run: dict[str, Any], asset: str) -> dict[str, Any]:
    """The int and text metadata of the run's materialization of `asset`."""
    event = next(e for e in run["assetMaterializations"] if e["assetKey"]["path"] == [asset])
    return {e["label"]: e.get("intValue", e.get("text")) for e in event["metadataEntries"]}


def launch_from_dialog(page: Page, button: str, assets: str, day: date) -> str:
    """Launch `day` from the Materialize dialog that `button` opens for `assets` (as the
    dialog's title names them), open the run's page from the "Launched run" toast, and return
    the run's id."""
    page.get_by_role("button", name=button).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"Launch runs to materialize {assets}")).to_be_visible()
    partitions = dialog.get_by_placeholder("No matching partitions")
    partitions.fill(day.isoformat())
    partitions.press("Enter")  # the typed selection applies on Enter
    dialog.get_by_role("button", name="Launch 1 run", exact=True).click()
    view = page.get_by_role("link", name="View", exact=True)  # in the "Launched run" toast
    run_path = view.get_attribute("href")
    view.click()
    page.wait_for_url(f"**{run_path}")
    return run_path.rsplit("/", 1)[1]


def pick_launchpad_partition(page: Page, launchpad: Locator, day: date) -> None:
    """Pick `day` from the launchpad's list of partitions. The list loads after the dialog
    opens, and on a busy machine it can arrive after the typed text and drop it, so the day is
    typed again until its entry shows."""
    partition = launchpad.get_by_placeholder("Partition")
    entry = page.get_by_text(day.isoformat(), exact=True)
    for _ in range(5):
        partition.fill(day.isoformat())
        try:
            entry.click(timeout=6_000)
            return
        except PlaywrightTimeoutError:
            partition.fill("")
    entry.click()  # fails with Playwright's own account of what it waited for


def finished_run_page(deployment: Deployment, page: Page, run_id: str) -> dict[str, Any]:
    """The run once finished, its page reloaded: a live run page can lag behind."""
    run = deployment.dagster.wait_until_finished(run_id, RUN_TIMEOUT)
    page.reload()
    expect(page.get_by_text(f"RUN_{run['status']}", exact=True)).to_be_visible()
    return run


def filled(page: Page, asset: str) -> Locator:
    """The asset graph's "N% filled" of `asset`'s node."""
    return page.locator("foreignObject", has_text=asset).get_by_text(re.compile(r"^\d+% filled"))


def show_markdown(page: Page, label: str) -> Locator:
    """The dialog that shows a markdown metadata entry, opened from its row."""
    page.locator("tr", has_text=label).get_by_text("[Show Markdown]").click()
    return page.get_by_role("dialog")


def archived_users(deployment: Deployment, day: date) -> list[dict]:
    key = SourceLayout("users").keys(day).records
    body = deployment.s3.get_object(Bucket=deployment.bucket, Key=key)["Body"].read()
    return [json.loads(line) for line in body.splitlines()]


def test_the_asset_graph_shows_the_assets_and_their_links(
    deployment: Deployment, page: Page
) -> None:
    page.goto(deployment.asset_graph_url)

    for name in DAILY_ASSETS:
        expect(page.get_by_text(name, exact=True)).to_be_visible()
    expect(page.locator("svg > path[marker-end]")).to_have_count(len(LINKS))
    # Each node's last row says "Loading..." until its live data arrives.
    expect(page.get_by_text(re.compile(r"^\d+ partitions$"))).to_have_count(len(DAILY_ASSETS))
    assert sorted(graph_links(page, DAILY_ASSETS)) == sorted(LINKS)


def test_today_materialized_from_the_ui_lands_in_s3_and_postgres(
    deployment: Deployment, page: Page, screenshots: Path
) -> None:
    page.goto(deployment.asset_graph_url)

    # Today, read as the run is launched: the only day the API can give. The schedule loads it
    # too; the run is told apart by its id (from the UI's toast) and its lack of schedule tag.
    day = utc_today()
    run_id = launch_from_dialog(page, "Materialize all", "4 assets", day)

    run = deployment.dagster.wait_until_finished(run_id, RUN_TIMEOUT)
    if run["status"] != "SUCCESS":
        skip_if_the_day_ended(day, f"run {run_id}")
    assert run["status"] == "SUCCESS", (run["status"], deployment.dagster.error_messages(run_id))
    assert tags(run)["dagster/partition"] == day.isoformat()
    assert "dagster/schedule_name" not in tags(run)
    assert materialized(run) == {(name, day.isoformat()) for name in DAILY_ASSETS}
    # This run fetched and loaded every user itself, whatever the schedule did that day.
    assert metadata(run, "raw_users_json")["dagster/row_count"] == len(deployment.users)
    assert metadata(run, "pg_users_table")["rows_in_snapshot"] == len(deployment.users)
    with psycopg.connect(deployment.storage_url) as conn:
        stored = conn.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,)).fetchall()
    assert stored == [("SUCCESS",)]  # in Dagster's Postgres run storage
    # A live run page can lag behind in its Gantt chart: reload it as a finished run.
    page.reload()
    expect(page.get_by_text("RUN_SUCCESS", exact=True)).to_be_visible()
    for name in ASSETS:  # each step drawn green, as succeeded, in the Gantt chart
        step = page.locator(f'.chart-element.box[data-tooltip="{name}"]')
        expect(step).to_have_attribute("style", re.compile("accent-green"))
    page.screenshot(path=screenshots / "run-succeeded.png", **deployment.private(page))
    # The partitions are the days that can exist, yesterday and today: today's run fills half.
    page.goto(deployment.asset_graph_url)
    expect(page.get_by_text("50% filled", exact=True)).to_have_count(len(DAILY_ASSETS))
    expect(page.get_by_text("0% filled", exact=True)).to_have_count(0)
    # The picture waits for the schedule's run of today, if one is under way, to end.
    expect(page.get_by_text(re.compile("^Materializing"))).to_have_count(0)
    expect(page.get_by_text("2 / 2 Passed", exact=True)).to_be_visible()
    expect(page.get_by_text("3 / 3 Passed", exact=True)).to_be_visible()
    page.screenshot(path=screenshots / "asset-graph.png")

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


def test_a_past_day_is_refused_in_one_line_and_no_other_day_changes(
    deployment: Deployment, page: Page
) -> None:
    today = utc_today()
    yesterday = today - timedelta(days=1)
    page.goto(deployment.asset_graph_url)
    # The picture waits for the schedule's run of today, if one is under way, to end.
    expect(page.get_by_text(re.compile("^Materializing"))).to_have_count(0)
    before = {name: filled(page, name).inner_text() for name in DAILY_ASSETS}

    run_id = launch_from_dialog(page, "Materialize all", "4 assets", yesterday)

    assert finished_run_page(deployment, page, run_id)["status"] == "FAILURE"
    # Our one line, as an ERROR line of its own, and first in Dagster's step failure.
    refusal = (
        f"cannot fetch the users of {yesterday} on {today} (UTC): the API serves only the present"
        f" list, so a day's snapshot is taken on that day; no snapshot of {yesterday} was taken"
        " then, so nothing can load that day; today's run loads today"
    )
    expect(page.get_by_text(refusal, exact=True)).to_be_visible()
    expect(page.get_by_text(f"PipelineFailure: {refusal}").first).to_be_visible()
    # Yesterday failed; today's partitions stay as they were.
    page.goto(deployment.asset_graph_url)
    for name in DAILY_ASSETS:
        expect(filled(page, name)).to_have_text(f"{before[name]} (1 failed)")


def test_a_never_fetched_day_cannot_be_rebuilt_and_says_so(
    deployment: Deployment, page: Page
) -> None:
    yesterday = utc_today() - timedelta(days=1)
    page.goto(deployment.asset_url("pg_users_table"))

    run_id = launch_from_dialog(page, "Materialize…", "pg_users_table", yesterday)

    assert finished_run_page(deployment, page, run_id)["status"] == "FAILURE"
    expect(
        page.get_by_text(
            f"no users snapshot was taken on {yesterday}, and none can be now (the API serves"
            " only the present): nothing can load that day; today's run loads today",
            exact=True,
        )
    ).to_be_visible()


def test_the_daemon_fires_the_schedule_for_today(
    deployment: Deployment, scheduled_run: dict[str, Any]
) -> None:
    day = tags(scheduled_run)["dagster/partition"]
    # The tick's UTC date: the day the test started, unless a midnight passed since.
    assert day in {deployment.started_on.isoformat(), utc_today().isoformat()}
    assert materialized(scheduled_run) == {(name, day) for name in DAILY_ASSETS}
    assert metadata(scheduled_run, "pg_users_table")["rows_in_snapshot"] == len(deployment.users)
    assert len(archived_users(deployment, date.fromisoformat(day))) == len(deployment.users)


def test_a_later_tick_of_the_same_day_launches_nothing(
    deployment: Deployment, scheduled_run: dict[str, Any]
) -> None:
    # The tick of the last minute, evaluated now: waiting for the daemon's next would take a
    # minute more.
    evaluation = deployment.dagster.schedule_dry_run(LOCATION, SCHEDULE, time.time() - 60)
    skip_if_the_day_ended(date.fromisoformat(tags(scheduled_run)["dagster/partition"]), SCHEDULE)
    assert evaluation["runRequests"] == [], evaluation
    assert scheduled_run["runId"] in (evaluation["skipReason"] or ""), evaluation


def test_the_schedule_runs_are_recorded_in_the_postgres_run_storage(
    deployment: Deployment, scheduled_run: dict[str, Any]
) -> None:
    shown = {run["runId"] for run in deployment.dagster.runs()}
    with psycopg.connect(deployment.storage_url) as conn:
        statuses = dict(conn.execute("SELECT run_id, status FROM runs").fetchall())
        scheduled_days = [
            day
            for (day,) in conn.execute(
                "SELECT value FROM run_tags WHERE key = 'dagster/partition' AND run_id IN"
                " (SELECT run_id FROM run_tags WHERE key = 'dagster/schedule_name')"
            )
        ]

    assert statuses[scheduled_run["runId"]] == "SUCCESS"
    # One scheduled run per day, however often the cron ticks: later ticks skip a day that has
    # one. A run of the same day launched from the UI is no scheduled run, and does not count.
    assert len(scheduled_days) == len(set(scheduled_days)), scheduled_days
    assert shown <= set(statuses)  # the UI lists the runs of this database...
    assert list(deployment.home.rglob("*.db")) == []  # ...and no SQLite storage beside it


@pytest.fixture(scope="module")
def invalid_users(deployment: Deployment, scheduled_run: dict[str, Any]) -> Iterator[int]:
    """How many users the API serves invalid from now on (a tenth, of each kind), once the
    schedule took today from valid ones; the valid ones again at the end."""
    count = invalid_count(INVALID_SHARE, len(deployment.users))
    deployment.api.users = spoil(copy.deepcopy(deployment.users), count)
    yield count
    deployment.api.users = deployment.users


@pytest.fixture(scope="module")
def rejected_run(
    deployment: Deployment, invalid_users: int, browser: BrowserContext
) -> dict[str, Any]:
    """Today's run from the UI while the API serves invalid users: its blocking check fails."""
    page = browser.new_page()
    page.goto(deployment.asset_graph_url)
    run = deployment.dagster.wait_until_finished(
        launch_from_dialog(page, "Materialize all", "4 assets", utc_today()), RUN_TIMEOUT
    )
    page.close()
    return run


def test_a_failed_check_shows_its_reasons_and_the_next_step(
    deployment: Deployment,
    invalid_users: int,
    rejected_run: dict[str, Any],
    page: Page,
    screenshots: Path,
) -> None:
    page.goto(f"{deployment.dagster.url}/runs/{rejected_run['runId']}")
    expect(page.get_by_text("RUN_FAILURE", exact=True)).to_be_visible()
    expect(page.get_by_text("Check rejects_within_limit failed").first).to_be_visible()

    page.goto(f"{deployment.asset_url('raw_users_json')}?view=checks")
    page.get_by_text(REJECTS_WITHIN_LIMIT, exact=True).first.click()
    records = len(deployment.users)
    expect(
        page.get_by_text(
            f"{invalid_users:,} of {records:,} records rejected (10.0%, the limit is 1.0%)",
            exact=True,
        )
    ).to_be_visible()
    expect(page.get_by_text(utc_today().isoformat(), exact=True).first).to_be_visible()  # its day
    rejects = page.locator("tr", has_text="rejects").locator("td").nth(1)
    expect(rejects.get_by_role("link").first).to_have_attribute(
        "href", re.compile(r"^file://.+/rejects\.jsonl$")
    )

    reasons = show_markdown(page, "reasons")
    expect(reasons.locator("thead")).to_have_text(re.compile(r"^\s*reason\s*count\s*example\s*$"))
    rows = reasons.locator("tbody tr")
    expect(rows).to_have_count(len(INVALID_KINDS))  # one reason per kind of invalid user
    counts = [int(row.locator("td").nth(1).inner_text()) for row in rows.all()]
    assert sum(counts) == invalid_users, counts
    expect(rows.first.locator("td").first).to_have_text(re.compile(r"^(email|name|gender|status) "))
    page.screenshot(path=screenshots / "check-failed.png", **deployment.private(page, rejects))
    reasons.get_by_role("button", name="Close").click()

    next_step = show_markdown(page, "next step")
    expect(next_step.locator("pre").first).to_have_text(RAISED_LIMIT_YAML)
    expect(next_step.get_by_text("--config-json", exact=False)).to_be_visible()
    expect(next_step.get_by_text("defs.yaml", exact=False).first).to_be_visible()


def test_the_launchpad_loads_the_day_with_the_limit_the_next_step_gives(
    deployment: Deployment, invalid_users: int, rejected_run: dict[str, Any], page: Page
) -> None:
    # The YAML as the failed check's next step shows it, typed into the launchpad.
    page.goto(f"{deployment.asset_url('raw_users_json')}?view=checks")
    page.get_by_text(REJECTS_WITHIN_LIMIT, exact=True).first.click()
    config = show_markdown(page, "next step").locator("pre").first.inner_text()

    page.goto(deployment.asset_graph_url)
    page.locator("button:right-of(:text('Materialize all'))").first.click()  # its menu
    page.get_by_text("Open launchpad", exact=True).click()
    launchpad = page.get_by_role("dialog")
    day = utc_today()
    pick_launchpad_partition(page, launchpad, day)
    launchpad.locator(".CodeMirror").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(config)  # as pasted: typing it would be indented twice
    expect(launchpad.get_by_text("No errors", exact=True)).to_be_visible()
    launchpad.get_by_role("button", name="Materialize").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]+$"))
    run_id = page.url.rsplit("/", 1)[1]

    run = finished_run_page(deployment, page, run_id)
    if run["status"] != "SUCCESS":
        skip_if_the_day_ended(day, f"run {run_id}")
    assert run["status"] == "SUCCESS", (run["status"], deployment.dagster.error_messages(run_id))
    assert tags(run)["dagster/partition"] == day.isoformat()
    assert metadata(run, "raw_users_json")["rejected_records"] == invalid_users
    valid = len(deployment.users) - invalid_users
    assert metadata(run, "pg_users_table")["rows_in_snapshot"] == valid
