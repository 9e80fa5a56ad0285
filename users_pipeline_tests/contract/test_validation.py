"""Record validation: what a valid user record is, and why one is rejected."""

import random

import orjson
import pytest

from users_pipeline.contract.record import Row
from users_pipeline.contract.validation import RecordValidator
from users_pipeline_tests.conftest import USERS_CONTRACT

MAX_ID = 2**63 - 1
ID_RULE = "is not a positive 64-bit integer"
GOOD = {"id": 7000001, "name": "Zoë Ó Briain", "email": "zoe@example.test", "gender": "female",
        "status": "active"}  # fmt: skip


def split_json(records: list) -> tuple[list, list]:
    """A batch through the JSON path, as a load reads it."""
    return RecordValidator(USERS_CONTRACT).split_json(orjson.dumps(records))


def check(record: object, validator: RecordValidator | None = None) -> Row | str:
    rows, rejects = (validator or RecordValidator(USERS_CONTRACT)).split([record])
    return rows[0] if rows else rejects[0].reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": "7000001"}, f"id '7000001' {ID_RULE}"),
        ({"id": 7000001.0}, ID_RULE),
        ({"id": -3}, ID_RULE),
        ({"id": True}, ID_RULE),
        ({"id": 2**63}, ID_RULE),
        ({"name": "  "}, "name is empty"),
        ({"name": None}, "name is null"),
        ({"name": "x" * 256}, "over the column limit 255"),
        ({"name": "a\x00b"}, "NUL character"),
        ({"email": "not-an-email"}, "email 'not-an-email' does not match [^@"),
        ({"gender": "other"}, "gender 'other' is not one of"),
        ({"gender": ["male"]}, "gender is list, not a string"),
        ({"status": "ACTIVE"}, "status 'ACTIVE' is not one of"),
    ],
)
def test_invalid_records_get_a_reason(change: dict, reason: str):
    assert reason in check({**GOOD, **change})


@pytest.mark.parametrize(
    ("user_id", "valid"),
    [
        (1, True),
        (7000001, True),
        (MAX_ID, True),
        (0, False),
        (-1, False),
        (MAX_ID + 1, False),
        (True, False),
        (False, False),
        (1.0, False),
        (7000001.0, False),
        ("7000001", False),
        ("not-a-number", False),
        (None, False),
        ([1], False),
        ({"id": 1}, False),
    ],
)
def test_every_path_applies_the_one_id_rule(user_id: object, valid: bool):
    """The key's rule (which the crawl audit uses too), both validation paths and the reasons
    accept exactly the same ids."""
    record = {**GOOD, "id": user_id}
    assert USERS_CONTRACT.key.accepts(user_id) is valid
    assert (USERS_CONTRACT.key.problem(record) is None) is valid
    for split in (RecordValidator(USERS_CONTRACT).split, split_json):
        rows, rejects = split([record])
        assert (bool(rows), bool(rejects)) == (valid, not valid)


def test_missing_fields_and_non_objects_are_rejected():
    assert check({"id": 1}) == "missing field(s) name, email, gender, status"
    assert check([1, 2]) == "record is a JSON list, not an object"
    assert check("text") == "record is a JSON str, not an object"


def test_duplicates_within_a_snapshot_are_rejected_across_batches():
    validator = RecordValidator(USERS_CONTRACT)
    assert check(GOOD, validator) == tuple(GOOD.values())
    assert check({**GOOD, "email": "x@example.test"}, validator) == (
        "duplicate id 7000001 in this snapshot"
    )
    assert "duplicate email" in check({**GOOD, "id": 2, "email": "ZOE@example.test"}, validator)


def test_duplicates_are_found_among_many_keys_in_one_batch():
    """Past 65,536 keys the set moves to its compact form: lookups must still find them."""
    records = [dict(GOOD, id=i, email=f"u{i}@example.test") for i in range(1, 200_001)]
    records += [
        dict(GOOD, id=5, email="new@example.test"),
        dict(GOOD, id=10**6, email="U7@example.test"),
    ]
    rows, rejects = RecordValidator(USERS_CONTRACT).split(records)
    assert len(rows) == 200_000
    assert [(r.record_number, r.reason) for r in rejects] == [
        (200_001, "duplicate id 5 in this snapshot"),
        (200_002, "duplicate email 'U7@example.test' in this snapshot"),
    ]


def test_rejects_keep_the_whole_record_and_its_number():
    bad = {**GOOD, "id": 2, "email": "b@example.test", "gender": "x", "extra": [1]}
    rows, rejects = RecordValidator(USERS_CONTRACT).split([GOOD, bad, GOOD], first_number=11)
    assert rows == [tuple(GOOD.values())]
    assert [(r.record_number, r.reason) for r in rejects] == [
        (12, "gender 'x' is not one of ['female', 'male']"),
        (13, "duplicate id 7000001 in this snapshot"),
    ]
    assert rejects[0].record == bad


def test_unknown_fields_are_noticed_and_do_not_block():
    validator = RecordValidator(USERS_CONTRACT)
    assert isinstance(check({**GOOD, "created_at": "2026-01-01"}, validator), tuple)
    assert validator.unknown_fields == {"created_at"}


def test_the_fast_path_and_the_explanation_agree():
    """Every record the msgspec type refuses has a field's reason in words, no accepted record
    breaks a field's rule, and the page and JSON paths agree."""
    rng = random.Random(3)
    values = [
        None,
        "",
        " ",
        "x",
        "a@b.c",
        "male",
        "active",
        1,
        -1,
        2**63,
        1.5,
        True,
        [],
        {},
        "\x00",
    ]
    for _ in range(5000):
        record = {**GOOD}
        for name in rng.sample(list(GOOD), rng.randint(0, 3)):
            record[name] = rng.choice(values)
        rows, rejects = RecordValidator(USERS_CONTRACT).split([record])
        # The reason names a field rule, never the fallback; an accepted record breaks none.
        assert [r.reason for r in rejects if r.reason == "record failed validation"] == [], record
        problems = [field.problem(record) for field in USERS_CONTRACT.source_fields]
        assert bool(rows) == (problems == [None] * len(problems)), record
        assert split_json([record]) == (rows, rejects), record
