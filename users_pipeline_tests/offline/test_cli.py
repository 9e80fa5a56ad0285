"""The `users-pipeline-gorest` command and `python -m users_pipeline.gorest_server`."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import requests

# The installed console command, run outside the repository: the offline quickstart must work
# from any directory.
GOREST_COMMAND = str(Path(sys.executable).with_name("users-pipeline-gorest"))


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GOREST_COMMAND, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )


FETCH_PAGE_1 = """
import json, os, sys, urllib.request
request = urllib.request.Request(
    os.environ["USERS_API_URL"] + "?page=1",
    headers={"Authorization": "Bearer " + os.environ["USERS_API_TOKEN"]},
)
with urllib.request.urlopen(request) as response:
    users = json.load(response)
print(users[0]["name"])
sys.exit(len(users) + 7)
"""


def test_cli_runs_a_command_against_the_server_and_returns_its_exit_code(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path, "--users", "12", "--token", "t0k", "--", sys.executable, "-c", FETCH_PAGE_1
    )
    assert result.returncode == 17, result.stderr
    assert result.stdout == "Zoë Ó Briain\n"
    assert "serving 12 users at http://127.0.0.1:" in result.stderr


FETCH_EVERY_LIST = """
import json, os, urllib.request
for name in ("USERS", "POSTS", "COMMENTS", "TODOS"):
    request = urllib.request.Request(
        os.environ[name + "_API_URL"] + "?per_page=100",
        headers={"Authorization": "Bearer " + os.environ[name + "_API_TOKEN"]},
    )
    with urllib.request.urlopen(request) as response:
        print(name, len(json.load(response)))
"""


def test_cli_exports_every_list_url_to_the_command(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        *("--users", "12", "--posts", "20", "--comments", "30", "--token", "t0k"),
        *("--", sys.executable, "-c", FETCH_EVERY_LIST),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "USERS 12\nPOSTS 20\nCOMMENTS 30\nTODOS 12\n"
    announced = result.stderr.splitlines()
    assert [line.split(" at http://127.0.0.1:")[0] for line in announced] == [
        "GoRest-compatible server serving 12 users",
        "GoRest-compatible server serving 20 posts",
        "GoRest-compatible server serving 30 comments",
        "GoRest-compatible server serving 12 todos",
    ]
    assert announced[3].endswith("/public/v2/todos")


def test_cli_reports_a_missing_command(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--users", "1", "--", "no-such-command-for-gorest-tests")
    assert result.returncode == 127
    assert "command not found" in result.stderr


def test_module_serves_until_sigterm(tmp_path: Path, session: requests.Session) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "users_pipeline.gorest_server", "--users", "5"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        prefix = "GoRest-compatible server serving 5 users at "
        assert line.startswith(prefix)
        url = line.removeprefix(prefix).strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/public/v2/users")
        assert len(session.get(url).json()) == 5
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
