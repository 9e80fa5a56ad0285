"""A contract with a field of each extra type, served by the bundled API server and ingested end to
end through the three assets (real S3 endpoint, real PostgreSQL), with no edit but the
declaration: the assets, the table, the COPY and the column schema all follow it."""

import random
from datetime import date, datetime, timezone

import pytest
from dagster import materialize

from users_pipeline.contract.field import Field
from users_pipeline.contract.record import RecordContract
from users_pipeline.orchestration.assets import build_assets
from users_pipeline_tests.conftest import DAY, USERS, USERS_CONTRACT, FixedClock
from users_pipeline_tests.test_pipeline import materializations

EXTRA_FIELDS = (
    Field("logins", "integer", "Times signed in", minimum=0),
    Field("verified", "boolean", "E-mail confirmed"),
    Field("born", "date", "Date of birth", nullable=True),
    Field("last_seen_at", "timestamp", "Last activity", nullable=True),
    Field("tier", "enum", "Plan", values=("free", "pro"), nullable=True),
    Field("note", "text", "Free text", nullable=True),
)
CONTRACT = RecordContract((*USERS_CONTRACT.fields, *EXTRA_FIELDS))
AWKWARD = ['say "null"', "null", "back\\slash, comma", "tab\tand\nnewline", "", "é 😀"]


@pytest.fixture
def api_users(api_users: list[dict]) -> list[dict]:
    """The usual users, each with the extra fields: values of every kind, NULLs and absences
    included, and text that needs escaping in CSV."""
    rng = random.Random(5)
    for number, user in enumerate(api_users):
        user["logins"] = rng.randint(0, 10_000)
        user["verified"] = rng.random() < 0.5
        born = f"19{rng.randint(40, 99)}-0{rng.randint(1, 9)}-1{number % 10}"
        user["born"] = rng.choice([None, born])
        if number % 3:
            user["last_seen_at"] = f"2026-05-{1 + number % 28:02d}T0{number % 10}:30:00+02:00"
        user["tier"] = rng.choice([None, "free", "pro"])
        user["note"] = AWKWARD[number % len(AWKWARD)] if number % 4 else None
    return api_users


def expected_row(user: dict) -> tuple:
    seen = user.get("last_seen_at")
    return (
        user["id"],
        user["logins"],
        user["verified"],
        None if user["born"] is None else date.fromisoformat(user["born"]),
        None if seen is None else datetime.fromisoformat(seen).astimezone(timezone.utc),
        user["tier"],
        user["note"],
    )


def test_a_contract_with_extra_fields_loads_every_value(resources, gorest, pg, users_table):
    result = materialize(
        build_assets(CONTRACT, USERS.names, "users"),
        resources={**resources, "clock": FixedClock(day=DAY.isoformat())},
        partition_key=DAY.isoformat(),
    )

    assert result.success
    loaded = pg.execute(
        f"SELECT id, logins, verified, born, last_seen_at, tier, note FROM {users_table}"
        " ORDER BY id"
    ).fetchall()
    assert loaded == sorted(map(expected_row, gorest.users))
    (raw,) = result.asset_materializations_for_node("raw_users_json")
    assert raw.metadata["schema_drift_fields"].value == "none"
    (table,) = materializations(result, "pg_users_table")
    schema = {c.name: c.type for c in table.metadata["dagster/column_schema"].value.columns}
    assert [schema[field.name] for field in EXTRA_FIELDS] == [
        "integer",
        "boolean",
        "date",
        "timestamp with time zone",
        "character varying(255)",
        "text",
    ]
    types = dict(
        pg.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema || '.' || table_name = %s",
            (users_table,),
        ).fetchall()
    )
    assert types["last_seen_at"] == "timestamp with time zone" and types["verified"] == "boolean"


def test_the_same_day_loaded_again_through_staging_changes_nothing(
    resources, gorest, pg, users_table
):
    resources = {**resources, "clock": FixedClock(day=DAY.isoformat())}
    assets = build_assets(CONTRACT, USERS.names, "users")
    materialize(assets, resources=resources, partition_key=DAY.isoformat())
    before = pg.execute(f"SELECT * FROM {users_table} ORDER BY id").fetchall()

    again = materialize(
        build_assets(CONTRACT, USERS.names, "users")[2:],
        resources=resources,
        partition_key=DAY.isoformat(),
        run_config={"ops": {"pg_users_table": {"config": {"reload": True}}}},
    )

    (event,) = materializations(again, "pg_users_table")
    assert (event.metadata["rows_updated"].value, event.metadata["rows_inserted"].value) == (0, 0)
    assert pg.execute(f"SELECT * FROM {users_table} ORDER BY id").fetchall() == before
