"""The fetch's checks on a real instance: each day keeps its own check status, and a failed
check says what failed, why, where the rejects are and how to load the day anyway."""

import json
from datetime import timedelta

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance, materialize
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from users_pipeline.definitions import load_sources
from users_pipeline.offline import Faults, generate_users
from users_pipeline.orchestration.checks import CRAWL_IS_COMPLETE, REJECTS_WITHIN_LIMIT
from users_pipeline.orchestration.resources import DataDirResource
from users_pipeline_tests.conftest import DAY, FixedClock
from users_pipeline_tests.test_pipeline import ASSETS, LAYOUT

FETCH_CHECKS = [
    AssetCheckKey(AssetKey("raw_users_json"), name)
    for name in (CRAWL_IS_COMPLETE, REJECTS_WITHIN_LIMIT)
]


@pytest.fixture
def api_users() -> list[dict]:
    return generate_users(300)  # three pages


def run_on(instance, resources, day, today=None, assets=ASSETS):
    return materialize(
        assets,
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


def check_evaluations(result) -> dict:
    return {
        event.event_specific_data.check_name: event.event_specific_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def shown(evaluation) -> dict[str, object]:
    return {key: value.value for key, value in evaluation.metadata.items()}


def test_a_failed_reject_check_says_why_where_and_how_to_load_the_day(resources, gorest, tmp_path):
    for user in gorest.users[:20]:
        user["email"] = f"broken-{user['id']}"
    for user in gorest.users[20:30]:
        user["status"] = "suspended"

    # As the definitions build them from sources/users/defs.yaml.
    shipped = list(load_sources().assets)

    result = run_on(DagsterInstance.ephemeral(), resources, DAY, assets=shipped)

    rejects = check_evaluations(result)[REJECTS_WITHIN_LIMIT]
    assert rejects.passed is False
    assert rejects.description == "30 of 300 records rejected (10.0%, the limit is 1.0%)"
    metadata = shown(rejects)
    assert not [value for value in metadata.values() if isinstance(value, float)]
    assert (metadata["share"], metadata["limit"]) == ("10.0%", "1.0%")
    first = gorest.users[0]["id"]
    assert metadata["reasons"].splitlines()[2:] == [
        r"| email does not match \[^@\\s\]+@\[^@\\s\]+\\.\[^@\\s\]+ | 20 |"
        rf" email 'broken-{first}' does not match \[^@\\s\]+@\[^@\\s\]+\\.\[^@\\s\]+ |",
        "| status is not one of \\['active', 'inactive'\\] | 10 |"
        " status 'suspended' is not one of \\['active', 'inactive'\\] |",
    ]
    rejects_file = LAYOUT.day_files(tmp_path / "data", DAY).rejects
    assert metadata["rejects"] == rejects_file.as_uri()
    assert rejects_file.is_file()
    step = metadata["next step"]
    assert "max_reject_share: 0.1\n" in step
    assert "set `max_reject_share` in `users_pipeline/sources/users/defs.yaml`" in step
    config_json = step.split("--config-json '")[1].split("'")[0]
    assert "--select 'raw_users_json*' --partition 2026-06-01" in step

    again = materialize(
        shipped,
        resources={**resources, "clock": FixedClock(day=DAY.isoformat())},
        partition_key=DAY.isoformat(),
        run_config=json.loads(config_json),
    )

    assert check_evaluations(again)[REJECTS_WITHIN_LIMIT].passed is True


def test_a_failed_crawl_check_names_the_next_step(resources, gorest, bucket, tmp_path):
    gorest.faults = Faults(bodies={2: b"[]"})
    # Steps on different machines: the rejects to read are the archive's staged object.
    resources["data_dir"] = DataDirResource(path=str(tmp_path / "data"), handover="archive")

    result = run_on(DagsterInstance.ephemeral(), resources, DAY)

    crawl = check_evaluations(result)[CRAWL_IS_COMPLETE]
    assert (
        crawl.passed is False and "short or empty pages before the last: [2]" in crawl.description
    )
    metadata = shown(crawl)
    assert metadata["reasons"] == "No record was rejected."
    assert metadata["rejects"] == f"s3://{bucket}/{LAYOUT.staging_keys(DAY).rejects}"
    assert "max_crawls: 6\n" in metadata["next step"]
