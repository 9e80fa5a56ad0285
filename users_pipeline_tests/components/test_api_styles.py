"""Any REST API in one YAML file: the example sources (`examples/sources/`), one per pagination
style, each with its auth, load exactly what the bundled server served, and a re-run writes no
row; the real server over HTTP, S3 endpoint and PostgreSQL."""

import importlib
import os
import shutil
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterInstance, Definitions, ScaffoldRequest

from users_pipeline.components.scaffold import RestSourceScaffolder
from users_pipeline.components.yaml_model import AuthSettings, SourceDefinitionError
from users_pipeline.definitions import load_sources
from users_pipeline.http.auth import AUTH_TYPES
from users_pipeline.offline import GoRestServer, generate_customers
from users_pipeline.offline.cli import server_environment
from users_pipeline.orchestration.resources import AuthConfig, DataDirResource
from users_pipeline.snapshot.days import utc_today
from users_pipeline_tests.conftest import DAY, FixedClock, deployment_settings

EXAMPLES = Path(__file__).parents[2] / "examples" / "sources"
STYLES = sorted(folder.name.removeprefix("customers_") for folder in EXAMPLES.glob("customers_*"))
# Three pages of 100: an OAuth2 token that serves two data requests expires mid-crawl.
CUSTOMERS = 250
TOKEN_REQUESTS = 2


@pytest.fixture
def examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The example sources as an importable sources package."""
    package = f"examples_{uuid.uuid4().hex[:8]}"
    shutil.copytree(EXAMPLES, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module(package)
    sys.modules.pop(package, None)


@pytest.fixture(scope="module")
def server():
    with GoRestServer(
        [], customers=generate_customers(CUSTOMERS), token_expires_after=TOKEN_REQUESTS
    ) as running:
        yield running


def load(examples, server, s3, bucket, postgres_url, tmp_path, monkeypatch, schema):
    settings = {**deployment_settings(s3, bucket, postgres_url), **server_environment(server)}
    for style in STYLES:
        settings[f"CUSTOMERS_{style.upper()}_TABLE"] = f"{schema}.customers_{style}"
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return Definitions.merge(
        load_sources(examples),
        Definitions(
            resources={
                "clock": FixedClock(day=DAY.isoformat()),
                "data_dir": DataDirResource(path=str(tmp_path / "data")),
            }
        ),
    )


def served_rows(customers: list[dict]) -> list[tuple]:
    """What the table must hold: the served records, the decimals exact."""
    rows = []
    for customer in customers:
        address = customer["address"] or {}
        rows.append(
            (
                customer["id"],
                customer["name"],
                Decimal(str(customer["balance"])),
                address.get("city"),
                address.get("country"),
                customer["metadata"],
            )
        )
    return sorted(rows)


@pytest.mark.parametrize("style", STYLES)
def test_each_styles_example_loads_what_the_server_served_and_a_rerun_writes_nothing(
    style, examples, server, s3, bucket, postgres_url, users_table, tmp_path, monkeypatch
):
    schema = users_table.split(".")[0]
    defs = load(examples, server, s3, bucket, postgres_url, tmp_path, monkeypatch, schema)
    job = defs.resolve_job_def(f"customers_{style}_daily")
    with DagsterInstance.ephemeral() as instance:
        first = job.execute_in_process(partition_key=DAY.isoformat(), instance=instance)
        again = job.execute_in_process(partition_key=DAY.isoformat(), instance=instance)
    assert first.success and again.success
    with psycopg.connect(postgres_url) as conn:
        loaded = conn.execute(
            "SELECT id, name, balance, city, country, metadata"
            f" FROM {schema}.customers_{style} ORDER BY id"
        ).fetchall()
    assert loaded == served_rows(server.customers)
    written = again.asset_materializations_for_node(f"pg_customers_{style}_table")[0].metadata
    assert written["rows_inserted"].value == written["rows_updated"].value == 0
    if style == "page_number":  # the OAuth2 token expired mid-crawl and was renewed
        fetched = first.asset_materializations_for_node(f"raw_customers_{style}_json")[0]
        assert "401: 1" in fetched.metadata["http_statuses"].value


CLI_DEFINITIONS = """
from importlib import import_module

import dagster as dg

from users_pipeline.components.scaffold import RestSourceScaffolder
from users_pipeline.components.yaml_model import AuthSettings, SourceDefinitionError
from users_pipeline.definitions import load_sources
from users_pipeline.http.auth import AUTH_TYPES
from users_pipeline.orchestration.resources import ClockResource, DataDirResource

defs = dg.Definitions.merge(
    load_sources(import_module("{package}")),
    dg.Definitions(
        resources={{"clock": ClockResource(), "data_dir": DataDirResource(path="data")}}
    ),
)
"""


@pytest.mark.cli
def test_a_cursor_source_loads_through_the_real_cli(
    examples, s3, bucket, postgres_url, users_table, tmp_path
):
    """`dagster asset materialize` of the cursor example, around the bundled server's CLI, which
    exports the endpoints' URLs and credentials (the real UTC date, as a user runs it)."""
    schema = users_table.split(".")[0]
    module = tmp_path / "cli_examples.py"
    module.write_text(CLI_DEFINITIONS.format(package=examples.__name__))
    env = {
        **os.environ,
        **deployment_settings(s3, bucket, postgres_url),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "CUSTOMERS_CURSOR_TABLE": f"{schema}.customers",
    }
    command = [
        str(Path(sys.executable).with_name("users-pipeline-gorest")), "--customers", "250", "--",
        str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m",
        "cli_examples", "--select", "group:customers_cursor",
        "--partition", utc_today().isoformat(),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    with psycopg.connect(postgres_url) as conn:
        ids = conn.execute(f"SELECT id FROM {schema}.customers ORDER BY id").fetchall()
    assert [row[0] for row in ids] == sorted(c["id"] for c in generate_customers(250))


def test_the_scaffolded_starter_loads_once_its_url_is_set(tmp_path, monkeypatch):
    """What `dg scaffold defs users_pipeline.components.RestSource customers` writes."""
    package = tmp_path / f"scaffolded_{uuid.uuid4().hex[:8]}"
    package.mkdir()
    (package / "__init__.py").touch()
    request = ScaffoldRequest(
        type_name="users_pipeline.components.RestSource",
        target_path=package / "customers",
        scaffold_format="yaml",
        project_root=None,
        params=None,
    )
    RestSourceScaffolder().scaffold(request)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CUSTOMERS_API_URL", "https://api.example.com/v1/customers")
    try:
        source = load_sources(importlib.import_module(package.name))
    finally:
        sys.modules.pop(package.name, None)
    clock = FixedClock(day=DAY.isoformat())
    shared = Definitions(resources={"clock": clock, "data_dir": DataDirResource()})
    defs = Definitions.merge(source, shared)
    asset_keys = {spec.key.to_user_string() for spec in defs.resolve_all_asset_specs()}
    assert asset_keys == {
        "raw_customers_json", "s3_customers_object", "pg_customers_table", "pg_customers_history"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("api", "message"),
    [
        ("paginator: {type: scroll}", "api.paginator.type 'scroll' is not a pagination style"),
        ("paginator: {type: auto}", "api.paginator.type"),
        ("paginator: {type: offset}", "api.paginator.limit is required"),
        ("paginator: {type: cursor, limit: 10}", "api.paginator.limit does not belong"),
        ("paginator: {type: cursor, cursor_body_path: a}", "api.paginator.cursor_body_path"),
        ("data_selector: 'data[0]'", "api.data_selector 'data[0]' is not a path"),
        ("params: {tags: [a, b]}", "api.params.tags must be a text"),
        ("auth: {type: digest}", "api.auth.type must be one of"),
        ("auth: {type: api_key}", "api.auth.api_key is required for api_key auth"),
        ("auth: {type: bearer, token: {env: [T]}, name: x}", "api.auth.name does not belong"),
        ("auth: {type: bearer, token: abc123}", "api.auth.token is a secret"),
    ],
    ids=[
        "unknown style",
        "auto",
        "missing key",
        "foreign key",
        "body path",
        "selector",
        "params",
        "unknown auth",
        "missing credential",
        "auth key",
        "literal secret",
    ],  # fmt: skip
)
def test_a_bad_api_block_fails_when_the_definitions_load_with_one_line(
    examples, monkeypatch, api, message
):
    yaml = Path(examples.__file__).parent / "customers_cursor" / "defs.yaml"
    text = yaml.read_text()
    start, end = text.index("    data_selector:"), text.index("  archive:")
    text = text[:start] + f"    {api}\n" + text[end:]
    yaml.write_text(text)
    for style in STYLES:
        monkeypatch.setenv(f"CUSTOMERS_{style.upper()}_URL", "https://api.example.com/customers")

    with pytest.raises(SourceDefinitionError) as raised:
        load_sources(examples)

    assert str(raised.value).startswith(f"{yaml}: ") and message in str(raised.value)
    assert "\n" not in str(raised.value) and "abc123" not in str(raised.value)


@pytest.mark.parametrize(
    ("style", "change", "env", "message"),
    [
        ("cursor", ("params: {limit: 100}", "params: {limit: 100, fault: loop}"), {},
         "came twice: the pagination loops"),
        ("json_link", ("params: {page_size: 100}", "params: {page_size: 100, fault: foreign_next}"),
         {}, "next URL on http://127.0.0.2"),
        ("json_link", ("data_selector: results", "data_selector: data.items"), {},
         "api.data_selector 'data.items' is not in the body"),
        ("page_number", None, {"CUSTOMERS_CLIENT_SECRET": "wrong-secret"},
         "CUSTOMERS_CLIENT_ID / CUSTOMERS_CLIENT_SECRET"),
        ("header_link", None, {"CUSTOMERS_BEARER_TOKEN": "wrong-token"},
         "check CUSTOMERS_BEARER_TOKEN (bearer auth)"),
    ],
    ids=["cursor loop", "foreign next url", "missing selector", "refused client", "refused token"],
)  # fmt: skip
def test_a_run_that_cannot_crawl_fails_in_one_line_before_anything_is_archived(
    style, change, env, message, examples, server, s3, bucket, postgres_url, users_table,
    tmp_path, monkeypatch,
):  # fmt: skip
    yaml = Path(examples.__file__).parent / f"customers_{style}" / "defs.yaml"
    if change:
        yaml.write_text(yaml.read_text().replace(*change))
    schema = users_table.split(".")[0]
    defs = load(examples, server, s3, bucket, postgres_url, tmp_path, monkeypatch, schema)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = defs.resolve_job_def(f"customers_{style}_daily").execute_in_process(
        partition_key=DAY.isoformat(), raise_on_error=False
    )

    assert not result.success
    failure = next(
        event.event_specific_data.error.message.splitlines()
        for event in result.all_events
        if event.is_step_failure
    )
    assert message in failure[0] and "wrong-" not in " ".join(failure[:1])
    listed = s3.get_client().list_objects_v2(Bucket=bucket, Prefix=f"customers_{style}/")
    assert listed["KeyCount"] == 0


def test_the_yaml_and_the_run_config_take_every_auth_types_keys():
    keys = {key for auth in AUTH_TYPES.values() for key in (*auth.required, *auth.optional)}
    assert set(AuthSettings.model_fields) == {"type", *keys} == set(AuthConfig.model_fields)
