"""Every list pages like GoRest: its headers, links, `per_page` fallbacks and cap."""

from __future__ import annotations

import pytest
import requests

from users_pipeline.offline import GoRestServer

# The lists served next to users.
OTHER_LISTS = ["posts", "comments", "todos"]


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


@pytest.mark.parametrize("name", OTHER_LISTS)
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


@pytest.mark.parametrize("name", OTHER_LISTS)
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
