"""The bundled server can serve users that break the contract: a share or a count of them,
spread over the list, one broken field each, the same for the same seed."""

from __future__ import annotations

import json
import sys
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

from users_pipeline.offline import generate_users
from users_pipeline.offline.records import INVALID_KINDS, invalid_count
from users_pipeline_tests.offline.test_cli import run_cli
from users_pipeline_tests.test_pipeline import run


def broken_fields(valid: list[dict], served: list[dict]) -> dict[int, str]:
    """Position -> the one field that differs from the valid list."""
    changed = {}
    for position, (before, after) in enumerate(zip(valid, served, strict=True)):
        fields = [field for field in before if before[field] != after[field]]
        if fields:
            (changed[position],) = fields
    return changed


def test_invalid_users_are_spread_over_the_list_in_every_kind_and_follow_the_seed():
    valid = generate_users(1000, seed=3)

    served = generate_users(1000, seed=3, invalid=100)

    broken = broken_fields(valid, served)
    assert len(broken) == 100
    assert {later - earlier for earlier, later in pairwise(sorted(broken))} == {10}
    assert Counter(broken.values()) == {field: 25 for field, _kind in INVALID_KINDS}
    assert generate_users(1000, seed=3, invalid=100) == served
    assert generate_users(1000, seed=4, invalid=100) != generate_users(1000, seed=4)
    assert invalid_count(0.1, 2751) == 275
    with pytest.raises(ValueError, match="cannot make 11 of 10 users invalid"):
        generate_users(10, invalid=11)


FETCH_ALL = """
import json, os, urllib.request
users, page = [], 1
while True:
    url = f"{os.environ['USERS_API_URL']}?page={page}&per_page=100"
    with urllib.request.urlopen(url) as response:
        batch = json.load(response)
    if not batch:
        break
    users += batch
    page += 1
print(json.dumps(users))
"""


@pytest.mark.parametrize("switch", [("--invalid-share", "0.1"), ("--invalid-count", "25")])
def test_the_server_command_serves_invalid_users_over_http(tmp_path: Path, switch):
    result = run_cli(
        tmp_path, "--users", "250", "--seed", "2", *switch, "--", sys.executable, "-c", FETCH_ALL
    )

    assert result.returncode == 0, result.stderr
    served = json.loads(result.stdout)
    assert served == generate_users(250, seed=2, invalid=25)
    assert len(broken_fields(generate_users(250, seed=2), served)) == 25


@pytest.fixture
def api_users() -> list[dict]:
    return generate_users(2751, invalid=invalid_count(0.1, 2751))


def test_a_day_with_a_tenth_invalid_fails_its_blocking_reject_check(resources, pg, users_table):
    result = run(resources, raise_on_error=False)

    assert not result.success
    evaluations = {
        event.asset_check_evaluation_data.check_name: event.asset_check_evaluation_data.passed
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert evaluations["rejects_within_limit"] is False
    assert result.asset_materializations_for_node("s3_users_object") == []
    assert pg.execute("SELECT to_regclass(%s)", (users_table,)).fetchone() == (None,)
