"""Record validation and the snapshot file format."""

import json
import random
from pathlib import Path

import orjson
import pytest

from users_pipeline.records import (
    MAX_ID,
    SnapshotValidator,
    UserRow,
    _field_problem,
    _valid_row,
    is_valid_id,
)
from users_pipeline.snapshot_file import (
    BATCH_BYTES,
    SnapshotFormatError,
    SnapshotWriter,
    iter_snapshot_arrays,
    parse_array,
)

GOOD = {"id": 7000001, "name": "Zoë Ó Briain", "email": "zoe@example.test", "gender": "female",
        "status": "active"}  # fmt: skip


def check(record: object, validator: SnapshotValidator | None = None) -> UserRow | str:
    rows, rejects = (validator or SnapshotValidator()).split([record])
    return rows[0] if rows else rejects[0].reason


def records_of(chunks) -> list:
    return [record for array in iter_snapshot_arrays(chunks) for record in parse_array(array)]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": "7000001"}, "id '7000001' is not a positive 64-bit integer"),
        ({"id": 7000001.0}, "not a positive 64-bit integer"),
        ({"id": -3}, "not a positive 64-bit integer"),
        ({"id": True}, "not a positive 64-bit integer"),
        ({"id": 2**63}, "not a positive 64-bit integer"),
        ({"name": "  "}, "name is empty"),
        ({"name": None}, "name is NoneType, not a string"),
        ({"name": "x" * 256}, "over the column limit 255"),
        ({"name": "a\x00b"}, "NUL character"),
        ({"email": "not-an-email"}, "is not an email address"),
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
    """`is_valid_id` (which the crawl audit uses too), the fast path, the reasons and the msgspec
    decoder accept exactly the same ids."""
    record = {**GOOD, "id": user_id}
    assert is_valid_id(user_id) is valid
    assert (_valid_row(record) is not None) is valid
    assert (_field_problem(record) is None) is valid
    rows, rejects = SnapshotValidator().split_json(orjson.dumps([record]))
    assert (bool(rows), bool(rejects)) == (valid, not valid)


def test_missing_fields_and_non_objects_are_rejected():
    assert check({"id": 1}) == "missing field(s) name, email, gender, status"
    assert check([1, 2]) == "record is a JSON list, not an object"
    assert check("text") == "record is a JSON str, not an object"


def test_duplicates_within_a_snapshot_are_rejected_across_batches():
    validator = SnapshotValidator()
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
    rows, rejects = SnapshotValidator().split(records)
    assert len(rows) == 200_000
    assert [(r.record_number, r.reason) for r in rejects] == [
        (200_001, "duplicate id 5 in this snapshot"),
        (200_002, "duplicate email 'U7@example.test' in this snapshot"),
    ]


def test_rejects_keep_the_whole_record_and_its_number():
    bad = {**GOOD, "id": 2, "email": "b@example.test", "gender": "x", "extra": [1]}
    rows, rejects = SnapshotValidator().split([GOOD, bad, GOOD], first_number=11)
    assert rows == [tuple(GOOD.values())]
    assert [(r.record_number, r.reason) for r in rejects] == [
        (12, "gender 'x' is not one of ['female', 'male']"),
        (13, "duplicate id 7000001 in this snapshot"),
    ]
    assert rejects[0].record == bad


def test_unknown_fields_are_noticed_and_do_not_block():
    validator = SnapshotValidator()
    assert isinstance(check({**GOOD, "created_at": "2026-01-01"}, validator), tuple)
    assert validator.unknown_fields == {"created_at"}


def test_the_fast_path_and_the_explanation_agree():
    """Every record the fast path refuses has a reason in words, and no accepted one has."""
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
        valid = _field_problem(record) is None
        assert (_valid_row(record) is not None) == valid, record
        # The msgspec path decides alone when a batch is clean: it must agree too.
        rows, _ = SnapshotValidator().split_json(orjson.dumps([record]))
        assert bool(rows) == valid, record


def test_snapshot_file_is_valid_json_with_one_record_per_line(tmp_path: Path):
    path = tmp_path / "day.json"
    records = [GOOD, {**GOOD, "id": 2, "name": 'line\nbreak, "quoted" \\ tab\t ] ['}]
    with SnapshotWriter(path) as writer:
        writer.write(records[:1])
        writer.write([])
        writer.write(records[1:])
    data = path.read_bytes()
    assert json.loads(data) == records
    assert len(data.splitlines()) == 4
    assert writer.records == 2
    for size in (1, 7, 64, len(data)):  # chunk boundaries anywhere
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert records_of(chunks) == records


def test_a_large_snapshot_is_read_in_small_arrays(tmp_path: Path):
    path = tmp_path / "day.json"
    records = [{**GOOD, "id": number} for number in range(1, 5001)]
    with SnapshotWriter(path) as writer:
        writer.write(records)
    data = path.read_bytes()
    arrays = list(iter_snapshot_arrays([data[: len(data) // 3], data[len(data) // 3 :]]))
    assert len(arrays) > 3
    assert max(map(len, arrays)) <= 2 * BATCH_BYTES + 1024
    assert [record for array in arrays for record in parse_array(array)] == records


def test_an_empty_snapshot_reads_as_no_records(tmp_path: Path):
    path = tmp_path / "day.json"
    with SnapshotWriter(path):
        pass
    assert records_of([path.read_bytes()]) == []


def test_a_failed_write_leaves_no_file(tmp_path: Path):
    path = tmp_path / "day.json"
    with pytest.raises(RuntimeError), SnapshotWriter(path) as writer:
        writer.write([GOOD])
        raise RuntimeError("fetch failed")
    assert list(tmp_path.iterdir()) == []


def test_other_json_arrays_still_read_and_damage_is_detected():
    assert records_of([json.dumps([GOOD]).encode()]) == [GOOD]
    with pytest.raises(SnapshotFormatError, match="truncated"):
        records_of([b"[\n", json.dumps(GOOD).encode() + b",\n"])
    with pytest.raises(SnapshotFormatError, match="not an array"):
        records_of([b'{"a": 1}'])
    with pytest.raises(SnapshotFormatError, match="after its closing"):
        records_of([b"[\n", json.dumps(GOOD).encode(), b"\n]\n", b'{"id": 1}\n'])
