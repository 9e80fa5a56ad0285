"""Text keys, nested fields, json and numeric from the API's bytes through the day file into
the real PostgreSQL: numbers exactly as sent, re-loads that write nothing, soft deletes."""

from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from users_pipeline import exact_json
from users_pipeline.contract.validation import Reject, split_batches
from users_pipeline.snapshot.jsonl import JsonLinesWriter, iter_json_batches
from users_pipeline.warehouse.load import load_day
from users_pipeline.warehouse.provenance import DayProvenance
from users_pipeline.warehouse.result import LoadResult
from users_pipeline.warehouse.table_name import TableName
from users_pipeline_tests.contract.test_shapes import CUSTOMERS
from users_pipeline_tests.warehouse.test_load import AWKWARD_TEXT

DAY = date(2026, 3, 1)
CUS_1 = (
    b'{"id":"cus_1","address":{"city":"Cork","country":"IE"},'
    b'"balance":12345678901234567890.123,"metadata":{"tier":"gold","limit":1.50,"n":[1,2]}}'
)
CUS_2 = b'{"id":"cus_2","address":{"country":"FR"},"balance":"12.5","extra":0.1}'
NO_COUNTRY = b'{"id":"cus_3","address":{"city":"Lyon"},"balance":99999999999999999999.99}'


@pytest.fixture
def table(users_table: str) -> TableName:
    return TableName.parse(users_table.replace(".users", ".customers"), "CUSTOMERS_TABLE")


def day_file(tmp_path: Path, day: date, *records: bytes) -> Path:
    """The day file the fetch writes from a page with these records, as the API sent them."""
    path = tmp_path / f"{day}.jsonl"
    with JsonLinesWriter(path) as writer:
        writer.write(exact_json.loads(b"[" + b",".join(records) + b"]"))  # type: ignore[arg-type]
    return path


def load(
    conn: psycopg.Connection, table: TableName, path: Path, day: date, checked: bool = False
) -> LoadResult:
    """Load a day file; `checked`, as for a day whose fetch found no reject: types only."""
    rejects: list[Reject] = []
    batches = iter_json_batches([path.read_bytes()])
    rows = split_batches(batches, rejects, CUSTOMERS, checked=checked)
    provenance = DayProvenance(day, True, str(path), "0" * 64)
    return load_day(conn, table, CUSTOMERS, rows, provenance, rejects, "customers_table")


def test_the_day_file_and_the_table_keep_what_the_api_sent(tmp_path, postgres_url, pg, table):
    path = day_file(tmp_path, DAY, CUS_1, CUS_2, NO_COUNTRY)
    assert path.read_bytes() == b"\n".join([CUS_1, CUS_2, NO_COUNTRY]) + b"\n"
    with psycopg.connect(postgres_url) as conn:
        first = load(conn, table, path, DAY)
        again = load(conn, table, path, DAY)
    assert (first.inserted, first.rejected) == (2, 1)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    stored = pg.execute(
        f"SELECT id, city, country, balance::text, metadata, metadata->>'limit' FROM {table}"
        " ORDER BY id"
    ).fetchall()
    assert stored == [
        (
            "cus_1",
            "Cork",
            "IE",
            "12345678901234567890.123",
            {"tier": "gold", "limit": 1.5, "n": [1, 2]},
            "1.50",
        ),
        ("cus_2", None, "FR", "12.5", None, None),
    ]
    rejected = pg.execute(f"SELECT record_key, reason, record::text FROM {table}_rejects")
    assert rejected.fetchall() == [
        ("cus_3", "missing field(s) address.country", NO_COUNTRY.decode())
    ]


def test_a_change_of_scale_is_a_change_and_text_keys_are_soft_deleted(
    tmp_path, postgres_url, pg, table
):
    day2, day3 = DAY + timedelta(days=1), DAY + timedelta(days=2)
    rescaled = CUS_2.replace(b'"12.5"', b'"12.50"')
    state = f"SELECT id, balance::text, metadata->>'limit', deleted_at FROM {table} ORDER BY id"
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, day_file(tmp_path, DAY, CUS_1, CUS_2), DAY, checked=True)
        second = load(conn, table, day_file(tmp_path, day2, CUS_1, rescaled), day2, checked=True)
        third = load(conn, table, day_file(tmp_path, day3, CUS_1), day3, checked=True)
    assert (second.inserted, second.updated, second.unchanged) == (0, 1, 1)
    assert (third.deleted, third.updated, third.unchanged) == (1, 0, 1)
    assert pg.execute(state).fetchall() == [
        ("cus_1", "12345678901234567890.123", "1.50", None),
        ("cus_2", "12.50", None, day3),
    ]


def test_any_json_text_loads_whole(tmp_path, postgres_url, pg, table):
    """Text that CSV, JSON escaping or COPY could get wrong, inside a json field: into the
    empty table, then through the staging table."""
    texts = [*AWKWARD_TEXT, "\\u0000 is six characters here", ""]
    metadata = {"texts": texts, AWKWARD_TEXT[0]: {"deep": [None, True, 0.5]}}
    record = {"id": "cus_1", "address": {"country": "IE"}, "balance": 0, "metadata": metadata}
    changed = {**record, "metadata": {**metadata, "texts": texts[::-1]}}
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, day_file(tmp_path, DAY, exact_json.dumps(record)), DAY)
        first = pg.execute(f"SELECT metadata FROM {table}").fetchone()[0]
        day2 = DAY + timedelta(days=1)
        result = load(conn, table, day_file(tmp_path, day2, exact_json.dumps(changed)), day2)
    assert first == metadata
    assert result.updated == 1
    assert pg.execute(f"SELECT metadata FROM {table}").fetchone()[0] == changed["metadata"]
