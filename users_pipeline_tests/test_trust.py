"""Trustworthy ingestion, end to end: each case ends correct, or failed with a clear reason,
never silently short. Lists drift, pages go missing, records are invalid, days replay."""

import json
import random
from datetime import timedelta

import pytest

from users_pipeline.offline import Faults
from users_pipeline.orchestration.resources import ApiResource
from users_pipeline_tests.conftest import DAY, pg_users_table, raw_users_json, s3_users_object
from users_pipeline_tests.test_pipeline import (
    ACCEPT_DELETES,
    LAYOUT,
    RELOAD,
    archived_users,
    expected_rows,
    json_lines,
    metadata,
    run,
    table_rows,
)

# Records 151 and 2451 of the 2,751 served 100 a page: on pages 2 and 25, far apart.
FAR_APART = (150, 2450)


def check_results(result) -> dict[str, tuple[bool, str]]:
    evaluations = [
        event.event_specific_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    return {e.check_name: (e.passed, e.description) for e in evaluations}


def materialized(result) -> set[str]:
    return {
        event.asset_key.to_user_string()
        for event in result.all_events
        if event.event_type_value == "ASSET_MATERIALIZATION"
    }


def table_exists(pg, users_table: str) -> bool:
    return pg.execute("SELECT to_regclass(%s)", (users_table,)).fetchone()[0] is not None


def archived_object(resources: dict, key: str) -> bytes:
    archive = resources["archive"]
    return archive.s3.get_client().get_object(Bucket=archive.bucket, Key=key)["Body"].read()


def drift_once(gorest, on_page: int, change) -> list[int]:
    """Change the served list when `on_page` is first requested; return crawl count seen."""
    crawls = [0]

    def hook(page: int) -> None:
        if page == 1:
            crawls[0] += 1
        if page == on_page and crawls[0] == 1:
            change(gorest.users)

    gorest.on_request = hook
    return crawls


def test_a_list_that_shifts_mid_crawl_is_recrawled_until_complete(
    resources, gorest, pg, users_table
):
    crawls = drift_once(gorest, 10, lambda users: users.__delitem__(slice(0, 50)))

    result = run(resources)

    assert crawls[0] == 2
    assert check_results(result)["crawl_is_complete"][0] is True
    raw = metadata(result, "raw_users_json")
    assert raw["crawl_attempts"] == 2 and raw["crawl_complete"] is True
    assert [row[0] for row in table_rows(pg, users_table)] == sorted(u["id"] for u in gorest.users)


def test_a_total_that_changes_mid_crawl_is_recrawled(resources, gorest, pg, users_table):
    extra = [dict(u, id=u["id"] + 10**6, email="x" + u["email"]) for u in gorest.users[:30]]
    drift_once(gorest, 15, lambda users: users.extend(extra))

    result = run(resources)

    assert metadata(result, "raw_users_json")["crawl_attempts"] == 2
    assert len(table_rows(pg, users_table)) == 2751 + 30


def test_a_list_that_never_settles_fails_the_check_and_loads_nothing(
    resources, gorest, pg, users_table
):
    run(resources)
    before = table_rows(pg, users_table)
    counter = iter(range(10**6))
    gorest.on_request = lambda page: (
        page == 5
        and gorest.users.append(
            dict(gorest.users[0], id=9_000_000 + next(counter), email=f"{next(counter)}@new.test")
        )
    )

    result = run(resources, day=DAY + timedelta(days=1), raise_on_error=False)

    passed, description = check_results(result)["crawl_is_complete"]
    assert passed is False and "total changed during the crawl" in description
    assert metadata(result, "raw_users_json")["crawl_attempts"] == 3
    assert materialized(result) == {"raw_users_json"}
    assert table_rows(pg, users_table) == before


def test_a_truncated_crawl_fails_instead_of_loading_short(resources, gorest, pg, users_table):
    gorest.faults = Faults(bodies={20: b"[]"})

    result = run(resources, raise_on_error=False)

    passed, description = check_results(result)["crawl_is_complete"]
    assert passed is False
    assert "short or empty pages before the last: [20]" in description
    assert materialized(result) == {"raw_users_json"}
    assert not table_exists(pg, users_table)


def test_per_page_silently_capped_by_the_server_is_caught(resources, gorest, pg, users_table):
    gorest.faults = Faults(max_page_size=50)  # like GoRest above 100: 10 per page instead

    result = run(resources, raise_on_error=False)

    passed, description = check_results(result)["crawl_is_complete"]
    assert passed is False and "X-Pagination-Limit [10]" in description
    assert not table_exists(pg, users_table)


def test_a_third_of_users_disappearing_is_soft_deleted(resources, gorest, pg, users_table):
    run(resources)
    gone = {u["id"] for u in gorest.users[::3]}
    gorest.users = [u for u in gorest.users if u["id"] not in gone]
    next_day = DAY + timedelta(days=1)

    result = run(resources, day=next_day, run_config=ACCEPT_DELETES)

    loaded = metadata(result, "pg_users_table")
    assert loaded["rows_marked_deleted"] == len(gone)
    assert loaded["current_rows"] == len(gorest.users)
    deleted = pg.execute(f"SELECT id, deleted_at FROM {users_table} WHERE deleted_at IS NOT NULL")
    assert dict(deleted.fetchall()) == dict.fromkeys(gone, next_day)


def test_invalid_records_are_quarantined_and_the_rest_loads(resources, gorest, pg, users_table):
    bad = {
        0: {"email": "not-an-email"},
        5: {"gender": "unknown"},
        9: {"id": "7000010"},
        12: {"id": 7000013.0},
    }
    for index, change in bad.items():
        gorest.users[index].update(change)
    gorest.users[3]["created_at"] = "2026-06-01T00:00:00Z"  # a new field: schema drift

    result = run(resources)

    assert check_results(result)["rejects_within_limit"][0] is True
    assert check_results(result)["rows_match_archive"][0] is True
    raw = metadata(result, "raw_users_json")
    assert (raw["rejected_records"], raw["schema_drift_fields"]) == (4, "created_at")
    assert len(table_rows(pg, users_table)) == 2751 - 4
    rejects = pg.execute(
        f"SELECT record_number, reason FROM {users_table}_rejects ORDER BY 1"
    ).fetchall()
    assert [number for number, _ in rejects] == [1, 6, 10, 13]
    assert "email 'not-an-email' does not match" in rejects[0][1]
    archived_rejects = json_lines(archived_object(resources, LAYOUT.keys(DAY).rejects))
    assert [r["record"] for r in archived_rejects] == [gorest.users[i] for i in bad]
    assert archived_users(resources)[3]["created_at"] == "2026-06-01T00:00:00Z"


@pytest.mark.parametrize(
    "bad_id",
    ["not-a-number", "7000151", 7000151.0, True, None, "missing", 0, -7000151, 2**63],
    ids=["string", "numeric-string", "float", "bool", "null", "missing", "zero", "negative",
         "above-bigint"],
)  # fmt: skip
def test_an_invalid_id_on_pages_far_apart_is_quarantined_not_taken_for_a_shift(
    resources, gorest, pg, users_table, bad_id
):
    for index in FAR_APART:
        if bad_id == "missing":
            del gorest.users[index]["id"]
        else:
            gorest.users[index]["id"] = bad_id
    reason = {"missing": "missing field(s) id", None: "id is null"}.get(
        bad_id, f"id {bad_id!r} is not a positive 64-bit integer"
    )

    result = run(resources)

    assert result.success
    assert check_results(result)["crawl_is_complete"] == (True, "complete")
    raw = metadata(result, "raw_users_json")
    assert (raw["crawl_attempts"], raw["rejected_records"]) == (1, len(FAR_APART))
    expected_rejects = [(index + 1, reason) for index in FAR_APART]
    fetched_rejects = json_lines(archived_object(resources, LAYOUT.keys(DAY).rejects))
    assert [(r["record_number"], r["reason"]) for r in fetched_rejects] == expected_rejects
    loaded_rejects = pg.execute(
        f"SELECT record_number, reason FROM {users_table}_rejects ORDER BY 1"
    )
    assert loaded_rejects.fetchall() == expected_rejects
    valid = [user for index, user in enumerate(gorest.users) if index not in FAR_APART]
    assert table_rows(pg, users_table) == expected_rows(valid)


def test_a_valid_id_twice_on_one_page_is_a_duplicate_not_a_shift(
    resources, gorest, pg, users_table
):
    first, second = gorest.users[150], gorest.users[151]  # both on page 2
    first["id"] = second["id"]

    result = run(resources)

    assert check_results(result)["crawl_is_complete"] == (True, "complete")
    assert metadata(result, "raw_users_json")["crawl_attempts"] == 1
    rejects = pg.execute(f"SELECT record_number, reason FROM {users_table}_rejects").fetchall()
    assert rejects == [(152, f"duplicate id {second['id']} in this snapshot")]
    assert table_rows(pg, users_table) == expected_rows(
        [user for user in gorest.users if user is not second]
    )


def test_a_valid_id_on_pages_far_apart_is_a_shift_and_fails_the_day(
    resources, gorest, pg, users_table
):
    gorest.users[FAR_APART[1]]["id"] = gorest.users[FAR_APART[0]]["id"]

    result = run(resources, raise_on_error=False)

    passed, description = check_results(result)["crawl_is_complete"]
    assert passed is False
    assert description == "1 ids appeared on more than one page (the list shifted)"
    assert metadata(result, "raw_users_json")["crawl_attempts"] == 3
    assert materialized(result) == {"raw_users_json"}
    assert not table_exists(pg, users_table)


def test_a_list_shifting_by_one_repeats_a_user_and_is_recrawled(resources, gorest, pg, users_table):
    """A user added at the front as one leaves at the end: the total and the count stay the
    same, and only the repeat shows the drift (page 9's last user is page 10's first again)."""
    newcomer = dict(gorest.users[0], id=9_000_001, email="newcomer@example.test")
    crawls = drift_once(gorest, 10, lambda users: (users.insert(0, newcomer), users.pop()))

    result = run(resources)

    assert crawls[0] == 2
    raw = metadata(result, "raw_users_json")
    assert (raw["crawl_attempts"], raw["rejected_records"]) == (2, 0)
    assert table_rows(pg, users_table) == expected_rows(gorest.users)


def test_too_many_rejects_fail_the_day_before_anything_is_archived(
    resources, gorest, pg, users_table
):
    for user in gorest.users[:50]:  # 1.8% > 1%
        user["status"] = "suspended"

    result = run(resources, raise_on_error=False)

    passed, description = check_results(result)["rejects_within_limit"]
    assert passed is False
    assert "50 of 2,751 records rejected (1.8%, the limit is 1.0%)" in description
    assert materialized(result) == {"raw_users_json"}
    assert not table_exists(pg, users_table)


def test_the_manifest_describes_the_day_without_secrets(resources, gorest):
    gorest.token = "manifest-secret"
    resources["users_api"] = ApiResource(url=gorest.url, token="manifest-secret")

    run(resources)

    raw = archived_object(resources, LAYOUT.keys(DAY).manifest)
    manifest = json.loads(raw)
    assert manifest["source_url"] == gorest.url
    assert manifest["records"] == manifest["valid_records"] == 2751
    assert manifest["crawl_complete"] is True and manifest["crawl_problems"] == []
    assert manifest["pages"] == 28 and manifest["rejected_records"] == 0
    assert manifest["fetch_started_at"] <= manifest["fetch_finished_at"]
    assert b"manifest-secret" not in raw


def test_a_tampered_archive_object_is_not_loaded(resources, pg, users_table):
    run(resources)
    before = table_rows(pg, users_table)
    archive = resources["archive"]
    key = LAYOUT.keys(DAY).records
    body = archived_object(resources, key).replace(b'"active"', b'"inactive"')
    archive.s3.get_client().put_object(Bucket=archive.bucket, Key=key, Body=body)

    result = run(resources, assets=[pg_users_table], raise_on_error=False, run_config=RELOAD)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "but the manifest recorded" in failure.event_specific_data.error.message
    assert table_rows(pg, users_table) == before


def test_backfill_from_the_archive_in_any_order_matches_the_daily_runs(
    resources, gorest, pg, users_table
):
    rng = random.Random(7)
    days = [DAY + timedelta(days=offset) for offset in range(5)]
    everyone = list(gorest.users)
    for day in days:
        gorest.users = [dict(u) for u in everyone if rng.random() < 0.8]
        for user in rng.sample(gorest.users, 100):
            user["status"] = "inactive" if user["status"] == "active" else "active"
        run(resources, day=day, run_config=ACCEPT_DELETES)
    daily = pg.execute(f"SELECT * FROM {users_table} ORDER BY id").fetchall()
    pg.execute(f"DROP TABLE {users_table}, {users_table}_loads, {users_table}_rejects")
    requests_before = len(gorest.requests)

    for day in rng.sample(days, len(days)):
        run(resources, assets=[pg_users_table], day=day, run_config=ACCEPT_DELETES)

    assert len(gorest.requests) == requests_before
    assert pg.execute(f"SELECT * FROM {users_table} ORDER BY id").fetchall() == daily
    assert any(row[-1] is not None for row in daily)  # some users were soft-deleted


def test_a_day_file_changed_after_its_manifest_is_not_archived(resources, s3, bucket, tmp_path):
    run(resources, assets=[raw_users_json])
    day_file = LAYOUT.day_files(tmp_path / "data", DAY).records
    day_file.write_bytes(day_file.read_bytes().replace(b'"active"', b'"banned"', 1))

    result = run(resources, assets=[s3_users_object], raise_on_error=False)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "changed since its manifest" in failure.event_specific_data.error.message
    assert s3.get_client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0
