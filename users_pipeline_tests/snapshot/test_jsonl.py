"""The day file: JSON Lines written page by page, read back in small arrays; old arrays read."""

import json
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from users_pipeline import exact_json
from users_pipeline.snapshot.jsonl import (
    BATCH_BYTES,
    JsonLinesWriter,
    RecordsFormatError,
    iter_json_arrays,
    parse_array,
)

GOOD = {"id": 7000001, "name": "Zoë Ó Briain", "email": "zoe@example.test", "gender": "female",
        "status": "active"}  # fmt: skip
AWKWARD = {**GOOD, "id": 2, "name": 'line\nbreak, "quoted" \\ tab\t ] [ },{'}


def records_of(chunks) -> list:
    return [record for array in iter_json_arrays(chunks) for record in parse_array(array)]


def every_split(data: bytes) -> list[list[bytes]]:
    """The same bytes cut into chunks of several sizes: chunk boundaries anywhere."""
    return [[data[i : i + size] for i in range(0, len(data), size)] for size in (1, 7, 64, 4096)]


def legacy_array(records: list) -> bytes:
    """A day file as days were archived before JSON Lines: `[`, `{...},` lines, `]`."""
    if not records:
        return b"[\n]\n"
    return b"[\n" + b",\n".join(map(orjson.dumps, records)) + b"\n]\n"


def test_the_day_file_is_one_json_object_per_line_and_nothing_else(tmp_path: Path):
    path = tmp_path / "users.jsonl"
    records = [GOOD, AWKWARD, {**GOOD, "id": 3, "created_at": "2026-06-01T00:00:00Z"}]
    with JsonLinesWriter(path) as writer:
        writer.write(records[:1])
        writer.write([])
        writer.write(records[1:])
    data = path.read_bytes()
    assert writer.records == 3
    assert data.endswith(b"\n")
    assert [json.loads(line) for line in data.split(b"\n")[:-1]] == records
    for chunks in every_split(data):
        assert records_of(chunks) == records


def test_a_large_day_is_read_in_small_arrays(tmp_path: Path):
    path = tmp_path / "users.jsonl"
    records = [{**GOOD, "id": number} for number in range(1, 5001)]
    with JsonLinesWriter(path) as writer:
        writer.write(records)
    data = path.read_bytes()
    arrays = list(iter_json_arrays([data[: len(data) // 3], data[len(data) // 3 :]]))
    assert len(arrays) > 3
    assert max(map(len, arrays)) <= BATCH_BYTES + 1024
    assert [record for array in arrays for record in parse_array(array)] == records


def test_an_empty_day_is_an_empty_file_and_reads_as_no_records(tmp_path: Path):
    path = tmp_path / "users.jsonl"
    with JsonLinesWriter(path):
        pass
    assert path.read_bytes() == b""
    assert records_of([b""]) == []


def test_a_failed_write_leaves_no_file(tmp_path: Path):
    path = tmp_path / "users.jsonl"
    with pytest.raises(RuntimeError), JsonLinesWriter(path) as writer:
        writer.write([GOOD])
        raise RuntimeError("fetch failed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("records", [[], [GOOD], [GOOD, AWKWARD, ["not", "an", "object"]]])
def test_a_day_archived_as_a_json_array_still_reads(records: list):
    for chunks in every_split(legacy_array(records)):
        assert records_of(chunks) == records
    many = [{**GOOD, "id": number} for number in range(1, 5001)]
    assert records_of([legacy_array(many)]) == many


def test_lines_without_a_final_newline_or_with_crlf_read_too():
    lines = [orjson.dumps(GOOD), orjson.dumps(AWKWARD)]
    assert records_of([b"\n".join(lines)]) == [GOOD, AWKWARD]
    assert records_of([b"\r\n".join(lines) + b"\r\n"]) == [GOOD, AWKWARD]


def test_a_damaged_line_is_reported():
    with pytest.raises(RecordsFormatError, match="not valid JSON"):
        records_of([orjson.dumps(GOOD) + b"\n" + orjson.dumps(GOOD)[:20]])


def test_the_day_file_keeps_every_number_as_the_api_sent_it(tmp_path: Path):
    line = b'{"id":"cus_1","balance":12345678901234567890.123,"n":123456789012345678901234567890}'
    path = tmp_path / "customers.jsonl"
    with JsonLinesWriter(path) as writer:
        writer.write(exact_json.loads(b"[" + line + b"," + line + b"]"))  # type: ignore[arg-type]
    assert path.read_bytes() == line + b"\n" + line + b"\n"
    assert records_of([path.read_bytes()])[0]["balance"] == Decimal("12345678901234567890.123")
