"""Helpers for the end-to-end UI test: `dagster dev` in a subprocess, its GraphQL API, polling,
and headless Chromium through Playwright.

Kept apart from the test so the test reads as the checks it makes.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import requests
from playwright.sync_api import BrowserContext, Page, sync_playwright

T = TypeVar("T")
DAGSTER = str(Path(sys.executable).with_name("dagster"))
CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium, never a downloaded one; nothing may reach the network.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
# The only variables `dagster dev` inherits: nothing of the developer's (AWS_*, PG_*, S3_*, ...)
# may reach the pipeline, so the test sees exactly the settings it passes.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH")
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}

RUN_QUERY = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      runId status
      tags { key value }
      assetMaterializations {
        assetKey { path } partition
        metadataEntries {
          label ... on IntMetadataEntry { intValue } ... on TextMetadataEntry { text }
        }
      }
    }
  }
}
"""
RUNS_QUERY = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""
DRY_RUN_MUTATION = """
mutation DryRun($selector: ScheduleSelector!, $timestamp: Float) {
  scheduleDryRun(selectorData: $selector, timestamp: $timestamp) {
    __typename
    ... on DryRunInstigationTick {
      evaluationResult { runRequests { runKey } skipReason error { message } }
    }
    ... on PythonError { message }
  }
}
"""
ERRORS_QUERY = """
query Errors($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection {
      events { ... on MessageEvent { level message } ... on ErrorEvent { error { message } } }
    }
  }
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
    """Poll `check` until it returns something other than None; fail naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class DagsterDev:
    """`dagster dev` (webserver, daemon, code server) in a process group of its own, so that
    stopping it also stops every process it started, run workers included."""

    def __init__(self, cwd: Path, settings: dict[str, str], module: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = cwd / "dagster-dev.log"
        env = {name: os.environ[name] for name in INHERITED if name in os.environ} | settings
        command = [DAGSTER, "dev", "-m", module, "-h", "127.0.0.1", "-p", str(self.port)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def wait_until_loaded(self, location: str, timeout: float) -> None:
        """Wait for the webserver to answer and the code location to load; fail at once with
        the load error or the log if either cannot happen."""

        def loaded() -> bool | None:
            if self.process.poll() is not None:
                raise AssertionError(f"dagster dev exited with {self.process.returncode}")
            try:
                data = self.graphql(
                    "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus"
                    " locationOrLoadError { __typename ... on PythonError { message } } } } } }"
                )
            except requests.ConnectionError:
                return None
            for entry in data["workspaceOrError"]["locationEntries"]:
                error = entry["locationOrLoadError"] or {}
                if entry["name"] == location and error.get("__typename") == "PythonError":
                    raise AssertionError(f"{location} failed to load: {error['message']}")
                if entry["name"] == location and entry["loadStatus"] == "LOADED":
                    return True
            return None

        try:
            wait_for(loaded, timeout, f"code location {location} to load in dagster dev")
        except AssertionError as error:
            raise AssertionError(
                f"{error}\n--- dagster dev log tail ---\n{self.log_tail()}"
            ) from None

    def run(self, run_id: str) -> dict[str, Any]:
        result = self.graphql(RUN_QUERY, runId=run_id)["runOrError"]
        assert result["__typename"] == "Run", result
        return result

    def runs(self, **tags: str) -> list[dict[str, Any]]:
        run_filter = {"tags": [{"key": key, "value": value} for key, value in tags.items()]}
        return self.graphql(RUNS_QUERY, filter=run_filter)["runsOrError"]["results"]

    def schedule_dry_run(self, location: str, schedule: str, timestamp: float) -> dict[str, Any]:
        """What the schedule's first tick at or after `timestamp` would do now, against this
        instance's runs (the UI's "Test schedule"): its run requests and skip reason. Nothing is
        launched."""
        selector = {
            "repositoryLocationName": location,
            "repositoryName": "__repository__",
            "scheduleName": schedule,
        }
        result = self.graphql(DRY_RUN_MUTATION, selector=selector, timestamp=timestamp)
        result = result["scheduleDryRun"]
        assert result["__typename"] == "DryRunInstigationTick", result
        return result["evaluationResult"]

    def error_messages(self, run_id: str) -> list[str]:
        """The run's ERROR-level log lines, with the error behind each: what to show when a run
        did not succeed."""
        events = self.graphql(ERRORS_QUERY, runId=run_id)["logsForRun"].get("events", [])
        return [
            " ".join(filter(None, [event["message"], (event.get("error") or {}).get("message")]))
            for event in events
            if event.get("level") == "ERROR"
        ]

    def wait_until_finished(self, run_id: str, timeout: float) -> dict[str, Any]:
        """The run once it succeeded, failed or was canceled: for a caller that can explain a
        failure (a run refused because its day ended) before asserting success."""

        def finished() -> dict[str, Any] | None:
            run = self.run(run_id)
            return run if run["status"] in FINISHED else None

        return wait_for(finished, timeout, f"run {run_id} to finish")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to `dagster dev`, which shuts its services down; SIGKILL to the whole group
        after `timeout`, and for anything left behind (a run worker, an orphaned server)."""
        if self.process.poll() is None:
            self.process.terminate()
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@contextmanager
def chromium(user_data_dir: Path) -> Iterator[BrowserContext]:
    """Headless Debian Chromium with a fresh profile, a fixed 1400x900 viewport and UTC clock,
    so screenshots are the same size and show the same times wherever they are taken."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir,
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 900},
            timezone_id="UTC",
            locale="en-US",
        )
        try:
            yield context
        finally:
            context.close()


GRAPH_JS = """
(names) => {
  const box = (name) => {
    const label = [...document.querySelectorAll('foreignObject')]
      .find((node) => node.textContent.includes(name));
    return label && {name, x: +label.getAttribute('x'), y: +label.getAttribute('y'),
                     width: +label.getAttribute('width'), height: +label.getAttribute('height')};
  };
  const nodes = names.map(box).filter(Boolean);
  const svg = document.querySelector('foreignObject').closest('svg');
  const edges = [...svg.querySelectorAll(':scope > path[marker-end]')].map((path) => {
    const start = path.getPointAtLength(0);
    const end = path.getPointAtLength(path.getTotalLength());
    return {x1: start.x, y1: start.y, x2: end.x, y2: end.y};
  });
  return {nodes, edges};
}
"""


def graph_links(page: Page, names: list[str]) -> list[tuple[str, str]]:
    """The (upstream, downstream) pairs the asset graph draws an arrow between.

    The graph is an SVG: each asset a `foreignObject` box, each link a `path` with an arrow
    head, in the same coordinates. An arrow starts at the right side of its upstream box and
    ends just left of its downstream box, so each end is matched to the nearest box side.
    """
    graph = page.evaluate(GRAPH_JS, names)
    nodes = graph["nodes"]
    assert sorted(node["name"] for node in nodes) == sorted(names), graph

    def nearest(x: float, y: float, side: Callable[[dict], float]) -> str:
        inside = [node for node in nodes if node["y"] <= y <= node["y"] + node["height"]]
        return min(inside or nodes, key=lambda node: abs(side(node) - x))["name"]

    return sorted(
        (
            nearest(edge["x1"], edge["y1"], lambda node: node["x"] + node["width"]),
            nearest(edge["x2"], edge["y2"], lambda node: node["x"]),
        )
        for edge in graph["edges"]
    )
