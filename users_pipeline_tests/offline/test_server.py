"""The server's auth, routes, live lists and stop, over real HTTP."""

from __future__ import annotations

import pytest
import requests

from users_pipeline.offline import GoRestServer


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


def test_stop_cuts_off_keep_alive_clients(users: list[dict], session: requests.Session) -> None:
    server = GoRestServer(users).start()
    assert session.get(server.url).status_code == 200
    server.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(server.url)


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
