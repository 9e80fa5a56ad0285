"""The table's guards, through the real assets, API server, S3 endpoint and PostgreSQL: a new
latest day that would mark more than `max_delete_share` of the current rows deleted loads
nothing until it is accepted, an acceptance lasts into a rebuild, and a day's row count far from
the previous day's is a warning."""

from datetime import timedelta

import orjson

from users_pipeline.storage.layout import SourceLayout
from users_pipeline_tests.conftest import DAY, pg_users_table
from users_pipeline_tests.snapshot.test_days import FAILURE, step_failure
from users_pipeline_tests.test_pipeline import run, table_rows
from users_pipeline_tests.test_rebuild import load_range
from users_pipeline_tests.test_trust import check_results

NEXT_DAY = DAY + timedelta(days=1)


def with_share(share: float) -> dict:
    return {"ops": {"pg_users_table": {"config": {"max_delete_share": share}}}}


def test_an_api_serving_half_its_users_deletes_nothing_until_the_day_is_accepted(
    resources, gorest, pg, users_table, s3, bucket
):
    run(resources)
    before = table_rows(pg, users_table)
    everyone = gorest.users
    gorest.users = everyone[: len(everyone) // 2]  # totals that agree: a complete crawl
    gone = len(everyone) - len(gorest.users)

    refused = run(resources, day=NEXT_DAY, raise_on_error=False)

    said = (
        f"{NEXT_DAY}: would mark {gone:,} of {len(everyone):,} current rows of {users_table}"
        " deleted (50.0%, the limit is 20.0%): nothing loaded; if they are really gone, accept"
        " the day by loading it with max_delete_share: 0.51"
    )
    assert step_failure(refused) == FAILURE + said
    assert check_results(refused)["deletes_within_limit"] == (False, said.partition(": ")[2])
    assert table_rows(pg, users_table) == before  # the day's rows not written either
    assert pg.execute(f"SELECT count(*) FROM {users_table}_loads").fetchone() == (1,)

    accepted = run(resources, day=NEXT_DAY, assets=[pg_users_table], run_config=with_share(0.51))

    passed, description = check_results(accepted)["deletes_within_limit"]
    assert passed and description.startswith(f"Marks {gone:,} of {len(everyone):,} current")
    assert description.endswith(" (max_delete_share 0.51)") and ": accepted on " in description
    (current,) = pg.execute(f"SELECT count(*) FROM {users_table} WHERE deleted_at IS NULL")
    assert current == (len(gorest.users),)
    key = SourceLayout("users").acceptance_key(NEXT_DAY)
    record = orjson.loads(s3.get_client().get_object(Bucket=bucket, Key=key)["Body"].read())
    assert (record["deletes"], record["current_rows"], record["max_delete_share"]) == (
        gone, len(everyone), 0.51
    )  # fmt: skip

    # A rebuild from the archive, with the source's own limit, loads the day without asking.
    daily = pg.execute(f"SELECT * FROM {users_table} ORDER BY id").fetchall()
    pg.execute(f"DROP TABLE {users_table}, {users_table}_loads, {users_table}_rejects")
    rebuilt = load_range(resources, DAY, NEXT_DAY)

    assert rebuilt.success
    assert pg.execute(f"SELECT * FROM {users_table} ORDER BY id").fetchall() == daily


def test_a_past_day_loaded_later_deletes_no_current_row_and_is_not_guarded(
    resources, gorest, pg, users_table
):
    everyone = gorest.users
    days = [DAY, NEXT_DAY, NEXT_DAY + timedelta(days=1)]
    for day, users in zip(days, [everyone, everyone[::2], everyone], strict=True):
        gorest.users = users
        run(resources, day=day, run_config=with_share(1.0))
    daily = pg.execute(f"SELECT * FROM {users_table} ORDER BY id").fetchall()
    pg.execute(f"DROP TABLE {users_table}, {users_table}_loads, {users_table}_rejects")

    for day in (days[0], days[2], days[1]):  # the half day last, as a past day
        result = run(resources, day=day, assets=[pg_users_table])
        assert result.success

    assert pg.execute(f"SELECT * FROM {users_table} ORDER BY id").fetchall() == daily


def test_a_row_count_far_from_the_previous_days_is_a_warning(resources, gorest, pg, users_table):
    run(resources)
    gorest.users = gorest.users[: len(gorest.users) * 85 // 100]  # 15% fewer: below the guard

    result = run(resources, day=NEXT_DAY)

    assert result.success
    passed, description = check_results(result)["row_count_trend"]
    assert not passed
    assert description == f"2,338 rows against 2,751 on {DAY} (-15.0%, the limit is 10.0%)"
    (evaluation,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "row_count_trend"
    ]
    assert evaluation.severity.value == "WARN"
