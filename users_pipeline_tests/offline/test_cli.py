"""The `users-pipeline-gorest` command and `python -m users_pipeline.gorest_server`."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import requests

from users_pipeline.offline import STYLES, generate_customers

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


FETCH_RATE_HEADERS = """
import os, urllib.error, urllib.request
for _ in range(2):
    try:
        urllib.request.urlopen(os.environ["USERS_API_URL"]).close()
    except urllib.error.HTTPError as error:
        print(error.code, error.headers["Retry-After"], error.headers["RateLimit-Policy"])
"""


def test_cli_states_the_rate_limit_as_asked(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        *("--users", "3", "--rate-limit", "1", "--rate-window-seconds", "7"),
        *("--rate-headers", "ietf", "--retry-after", "seconds"),
        *("--", sys.executable, "-c", FETCH_RATE_HEADERS),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "429 7 1;w=7\n"


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
    announced = result.stderr.splitlines()[:4]
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


FETCH_EVERY_STYLE = """
import base64, json, os, time, urllib.parse, urllib.request

env = os.environ

def get(variable, query="", headers=None):
    request = urllib.request.Request(env[variable] + query, headers=headers or {})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, None

bearer = {"Authorization": "Bearer " + env["CUSTOMERS_BEARER_TOKEN"]}
basic = base64.b64encode(f"{env['CUSTOMERS_USERNAME']}:{env['CUSTOMERS_PASSWORD']}".encode())
form = urllib.parse.urlencode({
    "grant_type": "client_credentials",
    "client_id": env["CUSTOMERS_CLIENT_ID"],
    "client_secret": env["CUSTOMERS_CLIENT_SECRET"],
}).encode()
with urllib.request.urlopen(env["CUSTOMERS_TOKEN_URL"], data=form) as response:
    oauth = {"Authorization": "Bearer " + json.load(response)["access_token"]}
answers = [
    get("CUSTOMERS_CURSOR_URL", "?limit=100", {"X-API-Key": env["CUSTOMERS_API_KEY"]}),
    get("CUSTOMERS_HEADER_LINK_URL", "", bearer),
    get("CUSTOMERS_JSON_LINK_URL", "?page_size=100"),
    get("CUSTOMERS_OFFSET_URL", "?limit=100", {"Authorization": "Basic " + basic.decode()}),
    get("CUSTOMERS_PAGE_NUMBER_URL", "?per_page=100", oauth),
    get("CUSTOMERS_PAGE_NUMBER_URL", "?per_page=100", oauth),
    get("CUSTOMERS_PAGE_NUMBER_URL", "?per_page=100", oauth),
    get("CUSTOMERS_HEADER_CURSOR_URL", "?limit=100&api_key=" + env["CUSTOMERS_API_KEY"]),
    get("CUSTOMERS_SINGLE_PAGE_URL", "", {"Cookie": "api_key=" + env["CUSTOMERS_API_KEY"]}),
]
print([status for status, _ in answers])
print(answers[0][1]["data"][0]["id"], len(answers[-1][1]["data"]["customers"]))
print([get("USERS_API_URL")[0] for _ in range(2)])
time.sleep(0.3)
print(get("USERS_API_URL")[0])
"""


def test_cli_exports_each_style_url_and_credential_to_the_command(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        *("--users", "3", "--customers", "12", "--seed", "4"),
        *("--api-key", "k3y", "--bearer-token", "b34r", "--basic-user", "ann"),
        *("--basic-password", "pw", "--client-id", "app", "--client-secret", "s3cr3t"),
        *("--token-expires-after", "2", "--rate-limit", "1", "--rate-window-seconds", "0.2"),
        *("--", sys.executable, "-c", FETCH_EVERY_STYLE),
    )
    assert result.returncode == 0, result.stderr
    statuses, first, rate_limited, after_the_window = result.stdout.splitlines()
    assert statuses == "[200, 200, 200, 200, 200, 200, 401, 200, 200]"
    assert first.split() == [generate_customers(1, seed=4)[0]["id"], "12"]
    assert (rate_limited, after_the_window) == ("[200, 429]", "200")
    announced = result.stderr.splitlines()[4:]
    assert [line.split(" at http://127.0.0.1:")[0] for line in announced] == [
        *(f"{style} pagination serving 12 customers" for style in STYLES),
        "OAuth2 client credentials token",
    ]
    assert announced[-1].endswith("/oauth/token")
    assert not [secret for secret in ("k3y", "b34r", "s3cr3t") if secret in result.stderr]
