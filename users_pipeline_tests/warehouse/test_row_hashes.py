"""The next day against the previous day's row hashes, against the real PostgreSQL: the rows it
writes, the ones it leaves, and when it falls back to the full join of the day and the table."""

import random
from dataclasses import asdict
from datetime import date, timedelta
from decimal import Decimal

import orjson
import psycopg
import pytest

from users_pipeline.contract.exact_values import JsonText, Numeric
from users_pipeline.contract.field import Field
from users_pipeline.contract.record import RecordContract
from users_pipeline.contract.validation import split_batches
from users_pipeline.snapshot.jsonl import JsonBatch, iter_json_batches
from users_pipeline.warehouse.load import load_day
from users_pipeline.warehouse.provenance import DayProvenance
from users_pipeline.warehouse.table_name import TableName
from users_pipeline_tests.conftest import USERS_CONTRACT
from users_pipeline_tests.warehouse.test_load import (
    ASSET,
    DAY,
    TABLE_SETTING,
    contents,
    load,
    random_history,
    row_versions,
    rows,
)

DAY2, DAY3, DAY4 = (DAY + timedelta(days=n) for n in (1, 2, 3))


@pytest.fixture
def table(users_table: str) -> TableName:
    return TableName.parse(users_table, TABLE_SETTING)


def kept_day(pg: psycopg.Connection, table: TableName) -> date | None:
    """The day whose row hashes the table keeps."""
    found = pg.execute(f"SELECT DISTINCT snapshot_date FROM {table.hashes}").fetchall()
    assert len(found) <= 1
    return found[0][0] if found else None


def edit_by_hand(pg: psycopg.Connection, table: TableName, key: int) -> None:
    """Change a stored row behind the load's back: only a full join of the day sees it."""
    pg.execute(f"UPDATE {table} SET name = 'edited by hand' WHERE id = %s", (key,))


def name_of(pg: psycopg.Connection, table: TableName, key: int) -> str:
    return pg.execute(f"SELECT name FROM {table} WHERE id = %s", (key,)).fetchone()[0]


def test_the_next_day_writes_changed_gone_and_new_rows_then_a_row_changed_back(
    pg, table, postgres_url
):
    first = rows(50)
    changed = (*first[0][:4], "inactive")
    second = [changed, *first[1:-1], (9000000, "New", "new@example.test", "male", "active")]
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, first)
        before = row_versions(pg, table)
        result = load(conn, table, second, day=DAY2)
        after = row_versions(pg, table)
        assert {key for key in after if before.get(key) != after[key]} == {
            first[0][0],
            first[-1][0],
            9000000,
        }
        assert (result.inserted, result.updated, result.unseen, result.deleted) == (1, 1, 1, 1)
        assert (result.staged, result.unchanged, result.table_rows, result.current_rows) == (
            50,
            48,
            51,
            50,
        )
        assert kept_day(pg, table) == DAY2
        # The changed row back as it was, and the gone one back: both written again.
        result = load(conn, table, first, day=DAY3)
    assert (result.inserted, result.updated, result.unseen, result.deleted) == (0, 2, 1, 1)
    assert (result.staged, result.unchanged, result.table_rows, result.current_rows) == (
        50,
        48,
        51,
        50,
    )
    assert {type(value) for value in asdict(result).values()} == {int, list, bool}
    stored = {row[0]: row for row in contents(pg, table)}
    assert stored[first[0][0]][:5] == first[0]
    assert stored[first[-1][0]][-2:] == (None, None)  # seen again, current again
    assert stored[9000000][-2:] == (DAY2, DAY3)


def test_the_next_day_leaves_rows_whose_hash_is_the_previous_days(pg, table, postgres_url):
    """The hashes, not the table, decide what is unchanged: a row changed by hand stays so."""
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, rows(20))
        edit_by_hand(pg, table, 7000003)
        result = load(conn, table, rows(20), day=DAY2)
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, 20)
    assert name_of(pg, table, 7000003) == "edited by hand"


def test_a_past_day_falls_back_to_the_full_join_and_keeps_the_latest_hashes(
    pg, table, postgres_url
):
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, rows(20), day=DAY)
        load(conn, table, rows(20), day=DAY3)
        past = [(*row[:4], "inactive") for row in rows(25)]
        result = load(conn, table, past, day=DAY2)
        assert (result.inserted, result.updated) == (5, 0)  # the table keeps the later values
        assert kept_day(pg, table) == DAY3
        edit_by_hand(pg, table, 7000003)
        load(conn, table, rows(20), day=DAY4)  # against DAY3's hashes
    assert name_of(pg, table, 7000003) == "edited by hand"
    assert {row[0]: row[-2:] for row in contents(pg, table)}[7000022] == (DAY2, DAY3)


def test_a_lost_log_falls_back_to_the_full_join(pg, table, postgres_url):
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, rows(20))
        edit_by_hand(pg, table, 7000003)
        pg.execute(f"DROP TABLE {table.loads}")
        result = load(conn, table, rows(20), day=DAY2)
    assert result.notices  # the lost history is told
    assert name_of(pg, table, 7000003) == "User 3"
    assert kept_day(pg, table) == DAY2


def test_an_adopted_table_falls_back_to_the_full_join(pg, table, postgres_url):
    """A table made elsewhere, then loaded: no hashes, then a full join, then hashes."""
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, rows(20))
        pg.execute(f"DROP TABLE {table.loads}, {table.hashes}")
        pg.execute(f"UPDATE {table} SET last_seen = NULL")
        edit_by_hand(pg, table, 7000003)
        load(conn, table, rows(20), day=DAY2)
        assert name_of(pg, table, 7000003) == "User 3"
        edit_by_hand(pg, table, 7000004)
        load(conn, table, rows(20), day=DAY3)
    assert name_of(pg, table, 7000004) == "edited by hand"


def test_an_emptied_table_forgets_its_hashes(pg, table, postgres_url):
    """Emptied, the table forgets its days (see `lost_history`): an earlier day is the latest."""
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, rows(20), day=DAY2)
        pg.execute(f"DELETE FROM {table}")
        load(conn, table, rows(10), day=DAY)
        assert kept_day(pg, table) == DAY
        result = load(conn, table, rows(20), day=DAY2)
    assert (result.inserted, result.updated, result.unchanged) == (10, 0, 10)


def test_hashes_see_every_field_type(pg, users_table, postgres_url):
    """A decimal's scale, a JSON value, a boolean, a date, a timestamp: each change is seen."""
    table = TableName.parse(users_table, TABLE_SETTING)
    contract = RecordContract(
        (
            Field("id", "bigint", key=True),
            Field("price", "numeric"),
            Field("doc", "json"),
            Field("ok", "boolean"),
            Field("on", "date"),
            Field("label", "text", nullable=True),
        )
    )
    base = (Numeric("12.5"), JsonText('{"a":1}'), True, date(2026, 1, 1), None)
    changes = [
        (Numeric("12.50"), *base[1:]),
        (base[0], JsonText('{"a":2}'), *base[2:]),
        (*base[:2], False, *base[3:]),
        (*base[:3], date(2026, 1, 2), base[4]),
        (*base[:4], "now"),
    ]
    first = [(key, *base) for key in range(len(changes) + 3)]
    second = [(key, *change) for key, change in enumerate(changes)] + first[len(changes) :]

    def load_as(day_rows, day):
        provenance = DayProvenance(day, True, "s3://b/k", "0" * 64)
        return load_day(conn, table, contract, [day_rows], provenance, [], ASSET)

    with psycopg.connect(postgres_url) as conn:
        load_as(first, DAY)
        result = load_as(second, DAY2)
    assert (result.updated, result.unchanged) == (len(changes), 3)
    stored = pg.execute(f"SELECT price::text, doc::text FROM {table} ORDER BY id").fetchall()
    assert stored[0] == ("12.50", '{"a": 1}')
    assert stored[1][1] == '{"a": 2}'
    assert Decimal(stored[-1][0]) == Decimal("12.5")


@pytest.mark.parametrize("seed", range(6))
def test_random_days_end_like_the_full_join(pg, users_table, postgres_url, seed):
    """Days loaded against the previous day's hashes end in the table, and report the counts,
    that the full join of every day gives (its hashes dropped before each load), past days
    replayed in between included."""
    history = random_history(8, seed)
    rng = random.Random(seed)
    replays = [day for day in history if rng.random() < 0.3]
    hashed = TableName.parse(users_table, TABLE_SETTING)
    joined = TableName(hashed.schema, "joined")
    with psycopg.connect(postgres_url) as conn:
        for position, (day, day_rows, complete) in enumerate(history):
            steps = [(day, day_rows, complete)]
            if replays and rng.random() < 0.4:
                steps.append(rng.choice(replays[: position + 1] or replays))
            for step_day, step_rows, step_complete in steps:
                if rng.random() < 0.5:  # in another order than the keys'
                    step_rows = rng.sample(step_rows, len(step_rows))
                pg.execute(f"DROP TABLE IF EXISTS {joined.hashes}")
                by_join = load(conn, joined, step_rows, day=step_day, complete=step_complete)
                by_hash = load(conn, hashed, step_rows, day=step_day, complete=step_complete)
                assert asdict(by_hash) == asdict(by_join)
    assert contents(pg, hashed) == contents(pg, joined)


@pytest.mark.parametrize("spread", [1, 1 << 33, 1 << 60])
def test_keys_near_or_far_apart(pg, table, postgres_url, spread):
    """Keys held in 32 bits, in 64, or too far apart to sort by shifting: the same days."""
    keys = [0, -3 * spread, 3 * spread, -spread, spread]  # in no order
    first = [(key, f"User {key}", f"u{key}@example.test", "female", "active") for key in keys]
    new = (4 * spread, "New", "n@x.test", "male", "active")
    second = [(*first[0][:4], "inactive"), *first[2:], new]
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, first)
        result = load(conn, table, second, day=DAY2)
        assert (result.inserted, result.updated, result.unseen, result.unchanged) == (1, 1, 1, 3)
        result = load(conn, table, first, day=DAY3)
    assert (result.inserted, result.updated, result.unseen, result.unchanged) == (0, 2, 1, 3)
    assert [row[:5] for row in contents(pg, table) if row[-1] is None] == sorted(first)


def test_a_day_the_same_as_the_previous_keeps_its_hashes_under_its_date(pg, table, postgres_url):
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, rows(20))
        before = pg.execute(f"SELECT part, keys, hashes FROM {table.hashes}").fetchall()
        load(conn, table, rows(20), day=DAY2)
        assert kept_day(pg, table) == DAY2
        assert pg.execute(f"SELECT part, keys, hashes FROM {table.hashes}").fetchall() == before
        edit_by_hand(pg, table, 7000003)
        load(conn, table, rows(20), day=DAY3)  # still against the same hashes
    assert name_of(pg, table, 7000003) == "edited by hand"


def day_file_batches(day_rows: list[tuple], invalid: int | None) -> list[JsonBatch]:
    """The rows as a day file's batches, as the load reads an archived day (several batches),
    with an invalid record before the row at `invalid` if given."""
    names = [field.name for field in USERS_CONTRACT.source_fields]
    records = [dict(zip(names, row, strict=True)) for row in day_rows]
    if invalid is not None:
        records.insert(invalid, {**records[invalid], "id": 1, "status": "suspended"})
    lines = b"".join(orjson.dumps(record) + b"\n" for record in records)
    return list(iter_json_batches(lines[i : i + 1000] for i in range(0, len(lines), 1000)))


def load_file_day(conn, table, day_rows, invalid, provenance) -> tuple[dict, list]:
    """Load the rows as an archived day's file: the result, and the deletes the guard was told."""
    rejects: list = []
    checked = invalid is None
    batches = split_batches(day_file_batches(day_rows, invalid), rejects, USERS_CONTRACT, checked)
    told: list = []
    result = load_day(
        conn, table, USERS_CONTRACT, batches, provenance, rejects, ASSET,
        on_deletes=lambda *deletes: told.append(deletes),
    )  # fmt: skip
    return asdict(result), told


@pytest.mark.parametrize("seed", range(4))
def test_days_read_from_their_files_end_like_the_full_join(pg, users_table, postgres_url, seed):
    """Rows told unchanged by their record's line, decoded only when they differ: days with
    every record valid (their types only decoded) and days with a reject, past days replayed
    in between, end as the full join of every day leaves them, and tell the delete guard the
    same."""
    history = random_history(8, seed)
    rng = random.Random(seed)
    hashed = TableName.parse(users_table, TABLE_SETTING)
    joined = TableName(hashed.schema, "joined")
    with psycopg.connect(postgres_url) as conn:
        for day, day_rows, complete in [*history, *rng.sample(history, 2)]:
            invalid = rng.randrange(len(day_rows)) if day_rows and rng.random() < 0.4 else None
            provenance = DayProvenance(day, complete, "s3://b/k", "0" * 64)
            by_join = load_file_day(conn, joined, day_rows, invalid, provenance)
            pg.execute(f"DROP TABLE IF EXISTS {joined.hashes}")
            by_hash = load_file_day(conn, hashed, day_rows, invalid, provenance)
            assert by_hash == by_join  # the results, and what the delete guard was told
            assert by_hash[0]["rejected"] == (invalid is not None)
    assert contents(pg, hashed) == contents(pg, joined)
