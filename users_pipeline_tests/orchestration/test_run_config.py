"""The launchpad's "Scaffold all default config": what a run may change, with the source's own
values, and no path of the machine that loaded the definitions nor a name internal to the code."""

import importlib
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.snap.snap_to_yaml import default_values_yaml_from_type_snap
from dagster._serdes import serialize_value

import users_pipeline
from users_pipeline.definitions import load_sources
from users_pipeline.orchestration.assets import build_assets
from users_pipeline.orchestration.config import Thresholds
from users_pipeline.orchestration.resources import ClockResource, DataDirResource
from users_pipeline_tests.conftest import USERS, USERS_CONTRACT


def scaffold(defs: dg.Definitions, job: str) -> dict:
    """The run config the launchpad's scaffold button fills in, as the webserver computes it."""
    snapshot = defs.resolve_job_def(job).get_job_snapshot()
    schema = snapshot.config_schema_snapshot
    root = schema.get_config_snap(snapshot.mode_def_snaps[0].root_config_key)
    return yaml.safe_load(default_values_yaml_from_type_snap(schema, root))


SHARED = {"clock": ClockResource(), "data_dir": DataDirResource()}  # as the definitions make


def test_the_scaffold_shows_the_run_config_with_the_sources_values(monkeypatch, tmp_path):
    monkeypatch.setenv("USERS_PIPELINE_DATA_DIR", str(tmp_path / "data"))
    defs = dg.Definitions.merge(load_sources(), dg.Definitions(resources=SHARED))

    config = scaffold(defs, "users_daily")

    assert config["ops"] == {
        "raw_users_json": {"config": {"max_crawls": 3, "max_reject_share": 0.01}},
        "pg_users_table": {"config": {"max_delete_share": 0.2, "reload": False}},
    }
    resources = config["resources"]
    assert resources["data_dir"] == {"config": {"handover": "local"}}
    assert "local_dir" not in resources["archive"]["config"]
    assert "embedded_dir" not in resources["postgres"]["config"]
    assert str(tmp_path) not in yaml.safe_dump(config)


def test_each_source_offers_its_own_thresholds():
    assets = build_assets(USERS_CONTRACT, USERS.names, "users", Thresholds(5, 0.2))
    job = dg.define_asset_job("strict", selection=assets)
    resources = {**load_sources().resources, **SHARED}
    defs = dg.Definitions(assets=assets, jobs=[job], resources=resources)

    assert scaffold(defs, "strict")["ops"]["raw_users_json"] == {
        "config": {"max_crawls": 5, "max_reject_share": 0.2}
    }


def test_resource_config_holds_no_machine_path_or_internal_name(project, monkeypatch, tmp_path):
    """Every resource field a run may set, in the job's whole config schema (defaults and
    descriptions too), of both the shipped users source and a todos one beside it."""
    monkeypatch.setenv("USERS_PIPELINE_DATA_DIR", str(tmp_path / "data"))
    sources = load_sources(importlib.import_module(project.name))
    defs = dg.Definitions.merge(sources, dg.Definitions(resources=SHARED))

    checkout = str(Path(users_pipeline.__file__).parent.parent)
    for job in ("users_daily", "todos_daily"):
        snapshot = defs.resolve_job_def(job).get_job_snapshot()
        schema = serialize_value(snapshot.config_schema_snapshot)
        defaults = [
            v for r in scaffold(defs, job)["resources"].values() for v in r["config"].values()
        ]
        assert "setting_names" not in schema
        assert str(tmp_path) not in schema and checkout not in schema
        assert not [value for value in defaults if str(value).startswith("/")]


@pytest.mark.parametrize(
    ("key", "settings", "named"),
    [
        ("users_api", {"USERS_API_URL": "ftp://127.0.0.1/users"}, "USERS_API_URL"),
        ("todos_api", {"TODOS_API_URL": "ftp://127.0.0.1/todos"}, "TODOS_API_URL"),
        ("todos_postgres", {"TODOS_TABLE": "todos; drop"}, "TODOS_TABLE='todos; drop'"),
    ],
)
def test_messages_still_name_each_sources_own_variables(project, monkeypatch, key, settings, named):
    """A resource rebuilt from its config at run time, as Dagster does, keeps its source's names."""
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    resource = load_sources(importlib.import_module(project.name)).resources[key]

    with (
        pytest.raises(dg.DagsterResourceFunctionError) as raised,
        dg.build_resources({key: resource}),
    ):
        pass

    assert named in raised.value.__cause__.description
