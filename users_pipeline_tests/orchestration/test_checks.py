"""The fetch's checks on a real instance: each day keeps its own check status, and a failed
check says what failed, why, where the rejects are and how to load the day anyway."""

from datetime import timedelta

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance, materialize
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from users_pipeline.offline import generate_users
from users_pipeline.orchestration.checks import CRAWL_IS_COMPLETE, REJECTS_WITHIN_LIMIT
from users_pipeline_tests.conftest import DAY, FixedClock
from users_pipeline_tests.test_pipeline import ASSETS

FETCH_CHECKS = [
    AssetCheckKey(AssetKey("raw_users_json"), name)
    for name in (CRAWL_IS_COMPLETE, REJECTS_WITHIN_LIMIT)
]


@pytest.fixture
def api_users() -> list[dict]:
    return generate_users(300)  # three pages


def run_on(instance, resources, day, today=None):
    return materialize(
        ASSETS,
        resources={**resources, "clock": FixedClock(day=(today or day).isoformat())},
        partition_key=day.isoformat(),
        instance=instance,
        raise_on_error=False,
    )


def check_statuses(instance) -> dict[tuple[str, str | None], str]:
    infos = instance.event_log_storage.get_asset_check_partition_info(FETCH_CHECKS)
    return {
        (info.check_key.name, info.partition_key): info.latest_execution_status.value
        for info in infos
    }


def test_each_day_keeps_its_own_check_status(resources, gorest):
    bad_day, refused_day = DAY + timedelta(days=1), DAY - timedelta(days=1)
    with DagsterInstance.ephemeral() as instance:
        assert run_on(instance, resources, DAY).success
        for user in gorest.users[:30]:
            user["email"] = "broken"
        assert not run_on(instance, resources, bad_day).success
        # A past day is refused before any check runs: only its own checks did not execute.
        assert not run_on(instance, resources, refused_day, today=bad_day).success

        statuses = check_statuses(instance)

    planned, passed, failed = (status.value for status in AssetCheckExecutionRecordStatus)
    # Planned in a failed run: the UI reads "Execution failed", for that day alone.
    assert statuses == {
        (CRAWL_IS_COMPLETE, str(DAY)): passed,
        (REJECTS_WITHIN_LIMIT, str(DAY)): passed,
        (CRAWL_IS_COMPLETE, str(bad_day)): passed,
        (REJECTS_WITHIN_LIMIT, str(bad_day)): failed,
        (CRAWL_IS_COMPLETE, str(refused_day)): planned,
        (REJECTS_WITHIN_LIMIT, str(refused_day)): planned,
    }
