"""Faults and the rate limit answer like GoRest under strain, on every list."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import pytest
import requests

from users_pipeline.offline import Faults, GoRestServer


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
    assert server.faults.rate_limited == 2, "the 429s the window sent, counted"


def test_rate_limit_stated_as_the_ietf_draft_with_retry_after_as_a_date(
    server: GoRestServer, session: requests.Session
) -> None:
    server.faults = Faults(rate_limit=2, window_seconds=3, rate_headers="ietf", retry_after="date")
    allowed = [session.get(server.url) for _ in range(2)]
    assert [response.headers["RateLimit-Remaining"] for response in allowed] == ["1", "0"]
    assert allowed[0].headers["RateLimit-Limit"] == "2"
    assert allowed[0].headers["RateLimit-Policy"] == "2;w=3"
    assert "X-RateLimit-Limit" not in allowed[0].headers
    limited = session.get(server.url)
    assert limited.status_code == 429
    retry_at = parsedate_to_datetime(limited.headers["Retry-After"])
    assert 2 <= (retry_at - datetime.now(timezone.utc)).total_seconds() <= 4


def test_rate_limit_stated_nowhere_but_in_retry_after_seconds(
    server: GoRestServer, session: requests.Session
) -> None:
    server.faults = Faults(
        rate_limit=1, window_seconds=2, rate_headers="none", retry_after="seconds"
    )
    assert not [name for name in session.get(server.url).headers if "ratelimit" in name.lower()]
    assert session.get(server.url).headers["Retry-After"] == "2"
    assert server.faults.rate_limited == 1


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
