"""Record validation and the snapshot file format."""

import json
from pathlib import Path

import pytest

from users_pipeline.records import Reject, SnapshotValidator, UserRow, split_rows
from users_pipeline.snapshot_file import (
    SnapshotFormatError,
    SnapshotWriter,
    iter_snapshot_records,
)

GOOD = {"id": 7000001, "name": "Zoë Ó Briain", "email": "zoe@example.test", "gender": "female",
        "status": "active"}  # fmt: skip


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
        ({"status": "ACTIVE"}, "status 'ACTIVE' is not one of"),
    ],
)
def test_invalid_records_get_a_reason(change: dict, reason: str):
    checked = SnapshotValidator().check({**GOOD, **change})
    assert isinstance(checked, str) and reason in checked


def test_missing_fields_and_non_objects_are_rejected():
    validator = SnapshotValidator()
    assert validator.check({"id": 1}) == "missing field(s) name, email, gender, status"
    assert validator.check([1, 2]) == "record is a JSON list, not an object"


def test_duplicates_within_a_snapshot_are_rejected():
    validator = SnapshotValidator()
    assert validator.check(GOOD) == UserRow(**GOOD)
    assert (
        validator.check({**GOOD, "email": "x@example.test"})
        == "duplicate id 7000001 in this snapshot"
    )
    assert "duplicate email" in validator.check({**GOOD, "id": 2, "email": "ZOE@example.test"})


def test_unknown_fields_are_noticed_and_do_not_block():
    validator = SnapshotValidator()
    assert isinstance(validator.check({**GOOD, "created_at": "2026-01-01"}), UserRow)
    assert validator.unknown_fields == {"created_at"}


def test_invalid_records_are_set_aside_with_their_number_and_reason():
    bad = {**GOOD, "id": 2, "email": "b@example.test", "gender": "x"}
    rejects: list[Reject] = []

    rows = list(split_rows([GOOD, bad, GOOD], SnapshotValidator(), rejects))

    assert rows == [UserRow(**GOOD)]
    assert [(r.record_number, r.reason) for r in rejects] == [
        (2, "gender 'x' is not one of ['female', 'male']"),
        (3, "duplicate id 7000001 in this snapshot"),
    ]
    assert rejects[0].record == bad


def test_snapshot_file_is_valid_json_with_one_record_per_line(tmp_path: Path):
    path = tmp_path / "day.json"
    records = [GOOD, {**GOOD, "id": 2, "name": 'line\nbreak, "quoted" \\ tab\t'}]
    with SnapshotWriter(path) as writer:
        writer.write(records[:1])
        writer.write([])
        writer.write(records[1:])
    assert json.loads(path.read_bytes()) == records
    assert len(path.read_bytes().splitlines()) == 4
    with open(path, "rb") as file:
        assert list(iter_snapshot_records(file)) == records
    assert writer.records == 2


def test_a_failed_write_leaves_no_file(tmp_path: Path):
    path = tmp_path / "day.json"
    with pytest.raises(RuntimeError), SnapshotWriter(path) as writer:
        writer.write([GOOD])
        raise RuntimeError("fetch failed")
    assert list(tmp_path.iterdir()) == []


def test_other_json_arrays_still_read_and_truncation_is_detected():
    assert list(iter_snapshot_records([json.dumps([GOOD]).encode()])) == [GOOD]
    with pytest.raises(SnapshotFormatError, match="truncated"):
        list(iter_snapshot_records([b"[\n", json.dumps(GOOD).encode() + b",\n"]))
    with pytest.raises(SnapshotFormatError, match="not an array"):
        list(iter_snapshot_records([b'{"a": 1}']))
