"""The fake GoRest must behave like GoRest, or the pipeline tests prove nothing about production.

Everything goes over real HTTP with `requests`, a client library independent of the pipeline's own.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from users_pipeline.offline.gorest import (
    MAX_DEFAULT_RELATED,
    Faults,
    GoRestServer,
    generate_resources,
    generate_users,
)

# The installed console command, run outside the repository: the offline quickstart must work
# from any directory.
GOREST_COMMAND = str(Path(sys.executable).with_name("users-pipeline-gorest"))


@pytest.fixture(scope="module")
def users() -> list[dict]:
    return generate_users(2751)


@pytest.fixture
def server(users: list[dict]) -> Iterator[GoRestServer]:
    with GoRestServer([dict(user) for user in users]) as running:
        yield running


@pytest.fixture(scope="module")
def related(users: list[dict]) -> dict[str, list[dict]]:
    """Posts, comments and todos as the command serves them next to 2751 users."""
    return generate_resources(users)


@pytest.fixture
def full_server(users: list[dict], related: dict[str, list[dict]]) -> Iterator[GoRestServer]:
    copies = {name: [dict(record) for record in listed] for name, listed in related.items()}
    with GoRestServer([dict(user) for user in users], resources=copies) as running:
        yield running


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as client:
        yield client


def test_generated_users_look_like_gorest_users(users: list[dict]) -> None:
    ids = [user["id"] for user in users]
    emails = [user["email"] for user in users]
    assert generate_users(2751) == users, "same seed, same users"
    assert generate_users(50, seed=1) != users[:50]
    assert all(1_000_000 <= user_id <= 9_999_999 for user_id in ids)
    assert ids == sorted(set(ids)), "unique and increasing"
    assert ids[-1] - ids[0] + 1 > len(ids), "some ids skipped, like deleted users"
    assert len(set(emails)) == len(emails)
    assert all(email == email.lower() and email.isascii() for email in emails)
    assert [user["name"] for user in users[:3]] == ["Zoë Ó Briain", "Jürgen Weiß", "Ærøskøbing Åse"]
    assert users[0]["email"] == "zoe_o_briain@example.test"
    assert {user["gender"] for user in users} == {"male", "female"}
    assert {user["status"] for user in users} == {"active", "inactive"}
    assert all(list(user) == ["id", "name", "email", "gender", "status"] for user in users)


def test_pages_and_headers_match_gorest(
    server: GoRestServer, session: requests.Session, users: list[dict]
) -> None:
    first = session.get(server.url, params={"page": 1, "per_page": 100})
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "application/json; charset=utf-8"
    assert first.json() == users[:100]
    assert "Zoë Ó Briain".encode() in first.content, "UTF-8, not \\u escapes"
    assert "Link" not in first.headers
    assert {name: first.headers[name] for name in first.headers if name.startswith("X-")} == {
        "X-Pagination-Total": "2751",
        "X-Pagination-Pages": "28",
        "X-Pagination-Page": "1",
        "X-Pagination-Limit": "100",
        "X-Links-Current": f"{server.url}?page=1&per_page=100",
        "X-Links-Next": f"{server.url}?page=2&per_page=100",
        "X-Links-Previous": "",
        "X-RateLimit-Limit": first.headers["X-RateLimit-Limit"],
        "X-RateLimit-Remaining": first.headers["X-RateLimit-Remaining"],
        "X-RateLimit-Reset": "0",
    }

    last = session.get(server.url, params={"page": 28, "per_page": 100})
    assert last.json() == users[2700:]
    assert len(last.json()) == 51
    assert last.headers["X-Links-Next"] == ""
    assert last.headers["X-Links-Previous"] == f"{server.url}?page=27&per_page=100"

    beyond = session.get(server.url, params={"page": 29, "per_page": 100})
    assert beyond.status_code == 200
    assert beyond.json() == []
    assert beyond.headers["X-Pagination-Page"] == "29"


def test_walking_every_page_returns_every_user_once(
    server: GoRestServer, session: requests.Session, users: list[dict]
) -> None:
    crawled = []
    for page in range(1, 29):
        crawled += session.get(server.url, params={"page": page, "per_page": 100}).json()
    assert crawled == users
    assert {request["headers"]["connection"] for request in server.requests} == {"keep-alive"}


@pytest.mark.parametrize(
    ("params", "page", "limit"),
    [
        ({}, 1, 10),
        ({"per_page": 500}, 1, 10),
        ({"per_page": 100}, 1, 100),
        ({"page": "abc", "per_page": "x"}, 1, 10),
        ({"page": 0, "per_page": 0}, 1, 10),
        ({"page": 3, "per_page": 7}, 3, 7),
    ],
)
def test_page_and_per_page_fall_back_like_gorest(
    server: GoRestServer,
    session: requests.Session,
    users: list[dict],
    params: dict,
    page: int,
    limit: int,
) -> None:
    response = session.get(server.url, params=params)
    assert response.status_code == 200
    assert response.json() == users[(page - 1) * limit : page * limit]
    assert response.headers["X-Pagination-Page"] == str(page)
    assert response.headers["X-Pagination-Limit"] == str(limit)


def test_links_omit_the_default_per_page(server: GoRestServer, session: requests.Session) -> None:
    response = session.get(server.url, params={"page": 2})
    assert response.headers["X-Links-Current"] == f"{server.url}?page=2"
    assert response.headers["X-Links-Previous"] == f"{server.url}?page=1"


def test_users_are_served_live(server: GoRestServer, session: requests.Session) -> None:
    server.users = [{"id": 1234567, "name": "Åse", "email": "a@example.test"}]
    response = session.get(server.url)
    assert response.json() == server.users
    assert response.headers["X-Pagination-Total"] == "1"
    server.users.clear()
    assert session.get(server.url).headers["X-Pagination-Pages"] == "0"


def test_token_is_required_when_configured(users: list[dict], session: requests.Session) -> None:
    with GoRestServer(users, token="s3cret") as server:
        missing = session.get(server.url)
        wrong = session.get(server.url, headers={"Authorization": "Bearer nope"})
        right = session.get(server.url, headers={"Authorization": "Bearer s3cret"})
    assert (missing.status_code, missing.json()) == (401, {"message": "Authentication failed"})
    assert wrong.status_code == 401
    assert right.status_code == 200


def test_any_token_is_accepted_when_none_is_configured(
    server: GoRestServer, session: requests.Session
) -> None:
    response = session.get(server.url, headers={"Authorization": "Bearer whatever"})
    assert response.status_code == 200
    assert server.requests[-1]["headers"]["authorization"] == "Bearer whatever"


def test_unknown_paths_and_methods_get_json_errors(
    server: GoRestServer, session: requests.Session
) -> None:
    for path in ("/albums", "/users/7000001", "/users/posts", ""):
        missing = session.get(server.url.replace("/users", path))
        assert (missing.status_code, missing.json()) == (404, {"message": "Resource not found"})
        assert missing.headers["Content-Type"] == "application/json; charset=utf-8"
    assert session.post(server.url).json()["message"].startswith("Unsupported method")


def test_rate_limit_answers_429_with_seconds_to_wait(
    server: GoRestServer, session: requests.Session
) -> None:
    server.faults = Faults(rate_limit=3, window_seconds=1)
    allowed = [session.get(server.url) for _ in range(3)]
    assert [response.status_code for response in allowed] == [200, 200, 200]
    assert [response.headers["X-RateLimit-Remaining"] for response in allowed] == ["2", "1", "0"]
    assert [response.headers["X-RateLimit-Limit"] for response in allowed] == ["3"] * 3
    assert [response.headers["X-RateLimit-Reset"] for response in allowed[:2]] == ["0", "0"]
    assert allowed[2].headers["X-RateLimit-Reset"] == "1"

    limited = session.get(server.url)
    assert limited.status_code == 429
    assert limited.json() == {"message": "Too many requests"}
    assert "Retry-After" not in limited.headers
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) > 0


def test_rate_limit_window_slides_and_counts_429s(
    server: GoRestServer, session: requests.Session
) -> None:
    server.faults = Faults(rate_limit=2, window_seconds=0.3)
    assert [session.get(server.url).status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(0.1)
    assert session.get(server.url).status_code == 429, "the 429 itself still fills the window"
    time.sleep(0.5)
    assert session.get(server.url).status_code == 200


def test_status_queue_fails_a_page_then_serves_it(
    server: GoRestServer, session: requests.Session, users: list[dict]
) -> None:
    server.faults.statuses = {3: [503, 429]}
    unavailable = session.get(server.url, params={"page": 3})
    forced_429 = session.get(server.url, params={"page": 3})
    other_page = session.get(server.url, params={"page": 2})
    recovered = session.get(server.url, params={"page": 3})
    assert unavailable.status_code == 503
    assert unavailable.json() == {"message": "Service Unavailable"}
    assert forced_429.status_code == 429
    assert forced_429.json() == {"message": "Too many requests"}
    assert forced_429.headers["X-RateLimit-Remaining"] == "0"
    assert int(forced_429.headers["X-RateLimit-Reset"]) > 0
    assert "Retry-After" not in forced_429.headers
    assert other_page.status_code == 200
    assert recovered.json() == users[20:30]
    assert [request["status"] for request in server.requests] == [503, 429, 200, 200]
    assert server.requests[0]["query"] == {"page": "3"}
    assert server.requests[0]["path"] == "/public/v2/users"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html>oops</html>", "text/html; charset=UTF-8"),
        (b'[{"id": 1', "application/json; charset=utf-8"),
    ],
)
def test_body_override_keeps_status_and_headers(
    server: GoRestServer, session: requests.Session, body: bytes, content_type: str
) -> None:
    server.faults.bodies[2] = body
    response = session.get(server.url, params={"page": 2, "per_page": 100})
    assert response.status_code == 200
    assert response.content == body
    assert response.headers["Content-Type"] == content_type
    assert response.headers["X-Pagination-Pages"] == "28"
    assert session.get(server.url, params={"page": 1}).status_code == 200


def test_disconnect_closes_without_a_response(
    server: GoRestServer, session: requests.Session
) -> None:
    server.faults.disconnect_pages.add(2)
    with pytest.raises(requests.ConnectionError):
        session.get(server.url, params={"page": 2})
    assert session.get(server.url, params={"page": 1}).status_code == 200
    assert [request["status"] for request in server.requests] == [None, 200]


def test_delay_slows_every_request(server: GoRestServer, session: requests.Session) -> None:
    server.faults.delay_seconds = 0.1
    started = time.monotonic()
    session.get(server.url)
    assert time.monotonic() - started >= 0.1
    with pytest.raises(requests.Timeout):
        session.get(server.url, timeout=0.02)


def test_on_request_hook_can_change_users_mid_crawl(
    server: GoRestServer, session: requests.Session, users: list[dict]
) -> None:
    seen: list[int] = []

    def delete_first_user_on_page_2(page: int) -> None:
        seen.append(page)
        if page == 2:
            del server.users[0]

    server.on_request = delete_first_user_on_page_2
    session.get(server.url, params={"page": 1, "per_page": 100})
    page_2 = session.get(server.url, params={"page": 2, "per_page": 100})
    assert seen == [1, 2]
    assert page_2.headers["X-Pagination-Total"] == "2750"
    assert page_2.json() == users[101:201], "everyone shifted left: users[100] is never served"


def test_stop_cuts_off_keep_alive_clients(users: list[dict], session: requests.Session) -> None:
    server = GoRestServer(users).start()
    assert session.get(server.url).status_code == 200
    server.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(server.url)


RELATED_FIELDS = {
    "posts": ["id", "user_id", "title", "body"],
    "comments": ["id", "post_id", "name", "email", "body"],
    "todos": ["id", "user_id", "title", "due_on", "status"],
}
# GoRest's due dates: midnight in India, with milliseconds.
DUE_ON = re.compile(r"\d{4}-\d{2}-\d{2}T00:00:00\.000\+05:30")


def test_generated_lists_look_like_gorest_lists(
    users: list[dict], related: dict[str, list[dict]]
) -> None:
    assert generate_resources(users) == related, "same seed, same records"
    assert generate_resources(users, seed=1)["todos"] != related["todos"]
    assert {name: len(listed) for name, listed in related.items()} == dict.fromkeys(
        RELATED_FIELDS, 2751
    )
    for name, fields in RELATED_FIELDS.items():
        ids = [record["id"] for record in related[name]]
        assert ids == sorted(set(ids)), f"{name}: unique and increasing"
        assert ids[-1] - ids[0] + 1 > len(ids), f"{name}: some ids skipped"
        assert all(list(record) == fields for record in related[name]), name
    assert all(post["title"] and post["body"] for post in related["posts"])
    commenters = {comment["name"] for comment in related["comments"]}
    assert any(not name.isascii() for name in commenters)
    assert all(comment["email"].isascii() for comment in related["comments"])
    assert all(DUE_ON.fullmatch(todo["due_on"]) for todo in related["todos"])
    assert {todo["status"] for todo in related["todos"]} == {"pending", "completed"}


def test_foreign_keys_point_at_generated_records(
    users: list[dict], related: dict[str, list[dict]]
) -> None:
    user_ids = {user["id"] for user in users}
    post_ids = {post["id"] for post in related["posts"]}
    assert {post["user_id"] for post in related["posts"]} <= user_ids
    assert {todo["user_id"] for todo in related["todos"]} <= user_ids
    assert {comment["post_id"] for comment in related["comments"]} <= post_ids
    assert len({post["user_id"] for post in related["posts"]}) > 1000, "spread over users"


def test_related_counts_follow_users_up_to_a_cap_or_as_asked() -> None:
    few = generate_users(3)
    assert {name: len(listed) for name, listed in generate_resources(few).items()} == {
        "posts": 3,
        "comments": 3,
        "todos": 3,
    }
    asked = generate_resources(few, posts=5, comments=0, todos=7)
    assert {name: len(listed) for name, listed in asked.items()} == {
        "posts": 5,
        "comments": 0,
        "todos": 7,
    }
    assert generate_resources([], posts=5, comments=5) == {"posts": [], "comments": [], "todos": []}
    many = [{"id": user_id} for user_id in range(MAX_DEFAULT_RELATED + 1)]
    assert len(generate_resources(many, comments=0)["posts"]) == MAX_DEFAULT_RELATED


@pytest.mark.parametrize("name", list(RELATED_FIELDS))
def test_every_list_pages_like_users(
    full_server: GoRestServer,
    session: requests.Session,
    related: dict[str, list[dict]],
    name: str,
) -> None:
    url = full_server.urls[name]
    assert url == full_server.url.replace("/users", f"/{name}")
    first = session.get(url, params={"page": 1, "per_page": 100})
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "application/json; charset=utf-8"
    assert first.json() == related[name][:100]
    assert {header: first.headers[header] for header in first.headers if header[:2] == "X-"} == {
        "X-Pagination-Total": "2751",
        "X-Pagination-Pages": "28",
        "X-Pagination-Page": "1",
        "X-Pagination-Limit": "100",
        "X-Links-Current": f"{url}?page=1&per_page=100",
        "X-Links-Next": f"{url}?page=2&per_page=100",
        "X-Links-Previous": "",
        "X-RateLimit-Limit": first.headers["X-RateLimit-Limit"],
        "X-RateLimit-Remaining": first.headers["X-RateLimit-Remaining"],
        "X-RateLimit-Reset": "0",
    }
    crawled = first.json()
    for page in range(2, 29):
        crawled += session.get(url + "/", params={"page": page, "per_page": 100}).json()
    assert crawled == related[name]
    last = session.get(url, params={"page": 28, "per_page": 100})
    assert (last.headers["X-Links-Next"], len(last.json())) == ("", 51)
    assert last.headers["X-Links-Previous"] == f"{url}?page=27&per_page=100"
    default = session.get(url, params={"page": 2})
    assert default.json() == related[name][10:20]
    assert default.headers["X-Links-Previous"] == f"{url}?page=1"


@pytest.mark.parametrize("name", list(RELATED_FIELDS))
def test_every_list_caps_per_page_like_users(
    full_server: GoRestServer,
    session: requests.Session,
    related: dict[str, list[dict]],
    name: str,
) -> None:
    above = session.get(full_server.urls[name], params={"per_page": 101})
    assert above.json() == related[name][:10]
    assert above.headers["X-Pagination-Limit"] == "10"
    assert above.headers["X-Pagination-Pages"] == "276"
    full_server.faults.max_page_size = 50
    lowered = session.get(full_server.urls[name], params={"per_page": 60})
    assert lowered.headers["X-Pagination-Limit"] == "10"


def test_served_foreign_keys_point_at_served_records(
    full_server: GoRestServer, session: requests.Session
) -> None:
    served = {}
    for name, url in full_server.urls.items():
        served[name] = []
        for page in range(1, 29):
            served[name] += session.get(url, params={"page": page, "per_page": 100}).json()
    user_ids = {user["id"] for user in served["users"]}
    post_ids = {post["id"] for post in served["posts"]}
    assert len(user_ids) == len(post_ids) == 2751
    assert {post["user_id"] for post in served["posts"]} <= user_ids
    assert {todo["user_id"] for todo in served["todos"]} <= user_ids
    assert {comment["post_id"] for comment in served["comments"]} <= post_ids


def test_faults_rate_limit_and_token_apply_to_every_list(
    users: list[dict], related: dict[str, list[dict]], session: requests.Session
) -> None:
    faults = Faults(rate_limit=3, statuses={2: [503]}, disconnect_pages={3})
    with GoRestServer(users, resources=related, faults=faults, token="t") as server:
        pages: list[int] = []
        server.on_request = pages.append
        todos = server.urls["todos"]
        assert session.get(todos, params={"page": 1}).status_code == 401
        auth = {"Authorization": "Bearer t"}
        assert session.get(todos, params={"page": 2}, headers=auth).status_code == 503
        with pytest.raises(requests.ConnectionError):  # dropped before the rate limit counts
            session.get(server.urls["comments"], params={"page": 3}, headers=auth)
        posts = session.get(server.urls["posts"], params={"page": 2}, headers=auth)
        limited = session.get(server.url, headers=auth)
    assert posts.json() == related["posts"][10:20]
    assert posts.headers["X-RateLimit-Remaining"] == "0", "one budget for every list"
    assert limited.status_code == 429
    assert pages == [1, 2, 3, 2, 1]
    assert [request["path"] for request in server.requests] == [
        "/public/v2/todos",
        "/public/v2/todos",
        "/public/v2/comments",
        "/public/v2/posts",
        "/public/v2/users",
    ]


def test_other_lists_are_empty_unless_given_and_served_live(
    users: list[dict], session: requests.Session
) -> None:
    with GoRestServer(users) as server:
        empty = session.get(server.urls["todos"])
        server.resources["todos"] = [{"id": 1, "user_id": users[0]["id"], "title": "x"}]
        live = session.get(server.urls["todos"])
    assert (empty.status_code, empty.json()) == (200, [])
    assert empty.headers["X-Pagination-Total"] == "0"
    assert live.json() == server.resources["todos"]
    assert server.users is server.resources["users"]
    with pytest.raises(ValueError, match="albums"):
        GoRestServer(users, resources={"albums": []})


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
        [sys.executable, "-m", "users_pipeline.offline.gorest", "--users", "5"],
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
