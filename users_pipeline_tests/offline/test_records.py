"""Generated records must look like GoRest's, down to the names that break ASCII-only code."""

from __future__ import annotations

import re

from users_pipeline.offline import generate_resources, generate_users
from users_pipeline.offline.records import MAX_DEFAULT_RELATED


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
