"""The record contract: a wrong declaration fails when it is made, with one line naming the field;
a right one derives the table's columns and the validation."""

from datetime import date

import orjson
import psycopg
import pytest

from users_pipeline.contract.record import ContractError, Field, RecordContract
from users_pipeline.contract.validation import RecordValidator
from users_pipeline.warehouse.load import (
    DayLoad,
    TableName,
    WarehouseConfigError,
    load_snapshot,
    table_columns,
)
from users_pipeline_tests.conftest import USERS_CONTRACT

KEY = Field("id", "bigint", key=True)


@pytest.fixture
def table(users_table: str) -> TableName:
    return TableName.parse(users_table)


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda: Field("age", "int"), "field 'age': unknown type 'int': use one of bigint,"),
        (
            lambda: Field("age", "integer", max_length=3),
            "field 'age': max_length applies to text, not integer",
        ),
        (lambda: Field("kind", "enum"), "field 'kind': an enum lists its values"),
        (lambda: Field("name", "text", values=("a",)), "field 'name': an enum lists its values"),
        (lambda: Field("tool", "constant"), "field 'tool': a constant has a value"),
        (lambda: Field("id", "text", key=True), "field 'id': the key is a non-nullable integer"),
        (
            lambda: Field("id", "bigint", key=True, nullable=True),
            "field 'id': the key is a non-nullable integer",
        ),
        (lambda: Field("n", "boolean", minimum=0), "field 'n': minimum applies to integer"),
        (lambda: Field("e", "text", pattern="("), "field 'e': pattern '(' is not a regular"),
        (lambda: Field("deleted_at", "date"), "field 'deleted_at': deleted_at is a column the"),
        (lambda: Field("bad name", "text"), "field 'bad name': a name is letters, digits"),
        (lambda: RecordContract((KEY, Field("a", "text"), Field("a", "date"))), "field 'a' is"),
        (lambda: RecordContract((Field("a", "text"),)), "no field is the key"),
        (
            lambda: RecordContract((KEY, Field("n", "integer", key=True))),
            "fields 'id', 'n' are all marked key",
        ),
    ],
)
def test_a_wrong_declaration_fails_with_one_line_naming_the_field(declare, message):
    with pytest.raises(ContractError) as raised:
        declare()
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_the_users_contract_is_gorests_five_fields_and_the_loading_tool():
    columns = [(c.name, c.sql_type, c.nullable) for c in table_columns(USERS_CONTRACT)]
    assert columns == [
        ("id", "bigint", False),
        ("name", "character varying(255)", False),
        ("email", "character varying(255)", False),
        ("gender", "character varying(255)", False),
        ("status", "character varying(255)", False),
        ("inserted_from", "character varying(255)", False),
        ("last_seen", "date", True),
        ("deleted_at", "date", True),
    ]


EXTRA = RecordContract(
    (
        KEY,
        Field("age", "integer", minimum=0),
        Field("verified", "boolean"),
        Field("born", "date", nullable=True),
        Field("seen_at", "timestamp", nullable=True),
    )
)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"id": 1, "age": -1, "verified": True}, "age -1 is not a non-negative 32-bit integer"),
        (
            {"id": 1, "age": 2**31, "verified": True},
            f"age {2**31} is not a non-negative 32-bit integer",
        ),
        ({"id": 1, "age": 3, "verified": 1}, "verified 1 is not true or false"),
        ({"id": 1, "age": 3, "verified": None}, "verified is null"),
        ({"id": 1, "age": 3}, "missing field(s) verified"),
        (
            {"id": 1, "age": 3, "verified": True, "born": "1990-13-01"},
            "born '1990-13-01' is not a date (YYYY-MM-DD)",
        ),
        (
            {"id": 1, "age": 3, "verified": True, "seen_at": "2026-01-01T10:00:00"},
            "seen_at '2026-01-01T10:00:00' is not an RFC 3339 timestamp with a time zone",
        ),
    ],
)
def test_typed_fields_are_checked_and_explained(record, reason):
    for split in ("split", "split_json"):
        validator = RecordValidator(EXTRA)
        batch = [record] if split == "split" else orjson.dumps([record])
        rows, rejects = getattr(validator, split)(batch)
        assert (rows, [r.reason for r in rejects]) == ([], [reason])


def test_nullable_fields_may_be_null_or_absent():
    rows, rejects = RecordValidator(EXTRA).split(
        [
            {"id": 1, "age": 3, "verified": False, "born": None},
            {"id": 2, "age": 0, "verified": True, "born": "1990-01-31", "seen_at": "2026-01-01Z"},
        ]
    )
    assert [r.reason for r in rejects] == [
        "seen_at '2026-01-01Z' is not an RFC 3339 timestamp with a time zone"
    ]
    assert rows == [(1, 3, False, None, None)]


def load_with(conn, table, contract, records, day=date(2026, 3, 1)):
    """Validate `records` with `contract` and load them as `day`'s snapshot."""
    rows, rejects = RecordValidator(contract).split(records)
    assert rejects == []
    return load_snapshot(conn, table, contract, [rows], DayLoad(day, True, "u", "0" * 64), [])


PEOPLE = [{"id": 1, "age": 30, "verified": True}, {"id": 2, "age": 41, "verified": False}]


def test_a_column_whose_type_conflicts_stops_the_load_before_the_copy(postgres_url, pg, table):
    pg.execute(f"CREATE SCHEMA IF NOT EXISTS {table.schema}")
    pg.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, age text, verified boolean)")
    pg.execute(f"INSERT INTO {table} VALUES (9, 'old', true)")

    with psycopg.connect(postgres_url) as conn, pytest.raises(WarehouseConfigError) as raised:
        load_with(conn, table, EXTRA, PEOPLE)

    assert str(raised.value) == (
        f"USERS_TABLE={table} column age is text, but the contract declares integer: change the"
        " column or the declaration; nothing was changed"
    )
    assert pg.execute(f"SELECT * FROM {table}").fetchall() == [(9, "old", True)]
    columns = pg.execute(f"SELECT * FROM {table} LIMIT 0").description
    assert [column.name for column in columns] == ["id", "age", "verified"]


def test_a_declared_field_adds_a_nullable_column_and_a_dropped_one_keeps_its_column(
    postgres_url, pg, table
):
    fewer = RecordContract(EXTRA.fields[:3])  # without born and seen_at
    with psycopg.connect(postgres_url) as conn:
        load_with(conn, table, fewer, PEOPLE)
        added = load_with(conn, table, EXTRA, [{**PEOPLE[0], "born": "1990-01-31"}, PEOPLE[1]],
                          day=date(2026, 3, 2))  # fmt: skip
        dropped = load_with(conn, table, RecordContract((KEY, EXTRA.fields[2])),
                            [{"id": 3, "verified": True}], day=date(2026, 3, 3))  # fmt: skip
    assert added.table_changes == ["added column born", "added column seen_at"]
    assert dropped.table_changes == ["column age accepts NULL"]
    rows = pg.execute(f"SELECT id, age, verified, born, seen_at FROM {table} ORDER BY id")
    assert rows.fetchall() == [
        (1, 30, True, date(1990, 1, 31), None),
        (2, 41, False, None, None),
        (3, None, True, None, None),
    ]
