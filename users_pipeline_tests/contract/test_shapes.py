"""Record shapes beyond flat integer-keyed records: text keys, fields at nested paths, `json`
and `numeric` values, and numbers kept exactly as the API wrote them."""

from decimal import Decimal

import pytest

from users_pipeline import exact_json
from users_pipeline.contract.columns import table_columns
from users_pipeline.contract.field import Field
from users_pipeline.contract.keyset import KeySet
from users_pipeline.contract.record import RecordContract
from users_pipeline.contract.validation import RecordValidator

CUSTOMERS = RecordContract(
    (
        Field("id", "text", key=True),
        Field("city", "text", path="address.city", nullable=True),
        Field("country", "text", path="address.country"),
        Field("balance", "numeric"),
        Field("metadata", "json", nullable=True),
    )
)
BODY = (
    b'[{"id":"cus_1","address":{"city":"Cork","country":"IE"},'
    b'"balance":12345678901234567890.123,"metadata":{"tier":"gold","limit":1.50,"tags":[1,2]}}]'
)


def split(records: list) -> tuple[list, list[str]]:
    rows, rejects = RecordValidator(CUSTOMERS).split(records)
    json_rows, json_rejects = RecordValidator(CUSTOMERS).split_json(exact_json.dumps(records))
    assert (json_rows, json_rejects) == (rows, rejects)
    return rows, [reject.reason for reject in rejects]


def test_numbers_keep_the_text_the_api_sent():
    body = b"[12345678901234567890.123,123456789012345678901234567890,12.50,-0.0,1e2,7]"
    parsed = exact_json.loads(body)
    assert parsed == [
        Decimal("12345678901234567890.123"),
        123456789012345678901234567890,
        Decimal("12.50"),
        Decimal("-0.0"),
        Decimal("100"),
        7,
    ]
    assert exact_json.dumps(parsed) == body.replace(b"1e2", b"1E+2")
    assert exact_json.dumps_lines([{"a": parsed[0]}, [1]]) == (
        b'{"a":12345678901234567890.123}\n[1]\n'
    )
    with pytest.raises(exact_json.DecodeError):
        exact_json.loads(b"[1,")


def test_the_columns_of_text_keys_nested_fields_json_and_numeric():
    columns = [(c.name, c.sql_type, c.nullable) for c in table_columns(CUSTOMERS)][:5]
    assert columns == [
        ("id", "text", False),
        ("city", "text", True),
        ("country", "text", False),
        ("balance", "numeric", False),
        ("metadata", "jsonb", True),
    ]


def test_a_row_holds_the_nested_value_the_exact_decimal_and_the_json_text():
    rows, reasons = split(exact_json.loads(BODY))
    assert reasons == []
    assert rows == [
        (
            "cus_1",
            "Cork",
            "IE",
            Decimal("12345678901234567890.123"),
            '{"tier":"gold","limit":1.50,"tags":[1,2]}',
        )
    ]
    assert str(rows[0][3]) == "12345678901234567890.123"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"address": {"city": "Cork"}}, "missing field(s) address.country"),
        ({"address": None}, "address.country is null"),
        ({"address": "Cork"}, "address is str, not an object"),
        ({"address": {"country": None}}, "address.country is null"),
        ({"address": {"country": 3}}, "address.country is int, not a string"),
        ({"balance": True}, "balance is bool, not a number"),
        ({"balance": "NaN"}, "balance 'NaN' is not a decimal number"),
        ({"balance": " 12"}, "balance ' 12' is not a decimal number"),
        ({"balance": "1e200000"}, "balance 1E+200000 is out of the range of PostgreSQL numeric"),
        ({"metadata": "gold"}, "metadata is str, not an object or list"),
        (
            {"metadata": {"a": "\x00"}},
            "metadata contains a NUL character, which PostgreSQL jsonb cannot store",
        ),
        ({"id": 7}, "id is int, not a string"),
    ],
)
def test_a_refused_shape_names_its_path(change, reason):
    record = {**exact_json.loads(BODY)[0], **change}
    assert split([record]) == ([], [reason])


def test_optional_nested_fields_may_be_absent_and_numeric_strings_are_exact():
    records = [
        {"id": "a", "address": {"country": "IE"}, "balance": "12.50"},
        {"id": "b", "address": {"country": "IE", "city": None}, "balance": 3, "metadata": []},
        {"id": "c", "address": {"country": "IE"}, "balance": 1.5},  # a float from orjson
    ]
    rows, reasons = split(records)
    assert reasons == []
    assert [(row[1], str(row[3]), row[4]) for row in rows] == [
        (None, "12.50", None),
        (None, "3", "[]"),
        (None, "1.5", None),
    ]


def test_an_integer_field_refuses_a_fractional_number_as_before():
    contract = RecordContract((Field("id", "bigint", key=True), Field("n", "integer")))
    for body in (b'[{"id":1,"n":3.0}]', b'[{"id":1,"n":1.5}]'):
        rows, rejects = RecordValidator(contract).split(exact_json.loads(body))
        number = body.split(b":")[-1][:3].decode()
        assert (rows, [r.reason for r in rejects]) == ([], [f"n {number} is not a 32-bit integer"])


def test_text_keys_repeated_across_batches_are_duplicates():
    validator = RecordValidator(CUSTOMERS)
    record = exact_json.loads(BODY)[0]
    assert validator.split([record])[1] == []
    rejects = validator.split_json(exact_json.dumps([{**record, "balance": 1}]), first_number=2)[1]
    assert [(r.record_number, r.reason, r.record["balance"]) for r in rejects] == [
        (2, "duplicate id 'cus_1' in this snapshot", 1)
    ]


class Colliding(str):
    """A text whose hash is every other's: the KeySet must tell them apart by their text."""

    def __hash__(self) -> int:
        return 42


def test_a_text_keyset_finds_repeats_and_tells_hash_collisions_apart():
    keys = KeySet()
    first = [f"cus_{i:024d}" for i in range(70_000)]
    assert keys.seen_before(first) == [False] * 70_000
    assert keys.seen_before(["cus_new", first[5], "cus_new", "Zoë"]) == [False, True, True, False]
    assert len(keys) == 70_002
    colliding = [Colliding("a"), Colliding("b"), Colliding("a"), Colliding("c")]
    assert keys.seen_before(colliding) == [False, False, True, False]
    assert keys.seen_before([Colliding("c"), Colliding("d"), "Zoë"]) == [True, False, True]
    assert len(keys) == 70_006
    with pytest.raises(TypeError, match="holds text keys"):
        keys.seen_before([1])
