"""The record contract: a wrong declaration fails when it is made, with one line naming the field;
a right one derives the table's columns and the validation."""

import orjson
import pytest

from users_pipeline.contract.columns import table_columns
from users_pipeline.contract.field import ContractError, Field
from users_pipeline.contract.record import RecordContract
from users_pipeline.contract.validation import RecordValidator
from users_pipeline_tests.conftest import USERS_CONTRACT

KEY = Field("id", "bigint", key=True)


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
        (lambda: Field("id", "enum", key=True, values=("a",)), "field 'id': the key is a non-"),
        (
            lambda: Field("id", "text", key=True, path="customer.id"),
            "field 'id': the key is a non-nullable integer, bigint or text, with no path",
        ),
        (lambda: Field("city", "text", path="address..city"), "field 'city': path 'address..c"),
        (lambda: Field("tool", "constant", value="x", path="a"), "field 'tool': a constant is"),
        (
            lambda: RecordContract(
                (KEY, Field("city", "text", path="address.city"), Field("address", "json"))
            ),
            "field 'address': field 'city' reads from inside field 'address' (address)",
        ),
        (
            lambda: RecordContract((KEY, Field("uid", "bigint", path="id"))),
            "field 'uid': id is read by field 'id' too",
        ),
        (
            lambda: Field("id", "bigint", key=True, nullable=True),
            "field 'id': the key is a non-nullable integer",
        ),
        (lambda: Field("n", "boolean", minimum=0), "field 'n': minimum applies to integer"),
        (lambda: Field("e", "text", pattern="("), "field 'e': pattern '(' is not a regular"),
        (lambda: Field("deleted_at", "date"), "field 'deleted_at': deleted_at is a column the"),
        (
            lambda: Field("snapshot_date", "date"),
            "field 'snapshot_date': snapshot_date is a column the",
        ),
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
