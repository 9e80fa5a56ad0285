"""The load path alone, without Dagster: COPY + upsert against the real PostgreSQL."""

import random
from datetime import date, timedelta

import psycopg
import pytest

from users_pipeline.contract.field import Field
from users_pipeline.contract.record import RecordContract, Row
from users_pipeline.contract.validation import Reject
from users_pipeline.warehouse.bookkeeping import already_loaded
from users_pipeline.warehouse.load import load_day
from users_pipeline.warehouse.provenance import DayProvenance
from users_pipeline.warehouse.table_name import TableName
from users_pipeline_tests.conftest import USERS_CONTRACT

DAY = date(2026, 3, 1)
ASSET = "pg_users_table"  # what loads the users table, named in the notices
TABLE_SETTING = "USERS_TABLE"  # what its name is read from, named in the errors


def rows(count: int, status: str = "active") -> list[Row]:
    return [
        (7000000 + i, f"User {i}", f"user{i}@example.test", "female", status) for i in range(count)
    ]


@pytest.fixture
def table(users_table: str) -> TableName:
    return TableName.parse(users_table, TABLE_SETTING)


def load(conn, table, day_rows, day=DAY, complete=True, rejects=()):
    """Load rows as one batch (or a generator of batches) for `day`."""
    batches = [day_rows] if isinstance(day_rows, list) else day_rows
    provenance = DayProvenance(day, complete, "s3://b/k", "0" * 64)
    return load_day(conn, table, USERS_CONTRACT, batches, provenance, list(rejects), ASSET)


def contents(pg: psycopg.Connection, table: TableName) -> list[tuple]:
    return pg.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()


def test_first_load_creates_the_table_and_inserts(postgres_url, pg, table):
    with psycopg.connect(postgres_url) as conn:
        result = load(conn, table, rows(3))
    assert (result.staged, result.inserted, result.updated, result.unchanged) == (3, 3, 0, 0)
    assert contents(pg, table)[0] == (
        7000000,
        "User 0",
        "user0@example.test",
        "female",
        "active",
        "dagster",
        None,
        None,
    )
    primary_key = pg.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
        " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = %s::regclass AND i.indisprimary",
        (str(table),),
    ).fetchall()
    assert primary_key == [("id",)]


def test_an_unchanged_rerun_writes_zero_rows(postgres_url, pg, table):
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, rows(100))
        xmins_before = pg.execute(f"SELECT xmin::text FROM {table} ORDER BY id").fetchall()
        result = load(conn, table, rows(100))
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, 100)
    assert pg.execute(f"SELECT xmin::text FROM {table} ORDER BY id").fetchall() == xmins_before


def test_a_failure_mid_load_leaves_the_table_as_it_was(postgres_url, pg, table):
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, rows(10))
    before = contents(pg, table)

    def rows_then_crash():
        yield rows(5, status="inactive")
        raise RuntimeError("source broke mid-stream")

    with psycopg.connect(postgres_url) as conn, pytest.raises(RuntimeError, match="mid-stream"):
        load(conn, table, rows_then_crash(), date(2026, 3, 2))
    assert contents(pg, table) == before


# Text that CSV, JSON escaping or COPY could each get wrong: quotes, backslashes before quotes
# and letters, separators, a row boundary look-alike, control characters, COPY's end marker.
AWKWARD_TEXT = [
    'O\'Brien, "Jr."',
    'back\\slash \\\\ \\" \\n \\N',
    "tab\tline\nbreak\r\ncarriage\rbell\x07 del\x7f",
    "]\n[ ],[ \\.",
    "\\.",
    "Zoë 😀 \u2028 \u00a0",
]


def test_any_text_loads_byte_for_byte(postgres_url, pg, table):
    plain = rows(3)
    awkward = [
        (8000000 + i, text, f"{text}@example.test", "female", text)
        for i, text in enumerate(AWKWARD_TEXT)
    ]
    tool = 'tool "x" \\ y, z'
    fields = [f for f in USERS_CONTRACT.fields if f.type != "constant"]
    contract = RecordContract((*fields, Field("inserted_from", "constant", value=tool)))
    changed = [(*row[:4], row[4] + "!") for row in awkward]
    with psycopg.connect(postgres_url) as conn:
        # Into the empty table one text per batch (each formatted alone: in C where JSON's
        # escapes allow, in Python where not), then through the staging table all together.
        batches = [plain, *([row] for row in awkward)]
        provenance = DayProvenance(DAY, True, "u", "0" * 64)
        load_day(conn, table, contract, batches, provenance, [], ASSET)
        first = contents(pg, table)
        load(conn, table, iter([plain, changed]), day=DAY + timedelta(days=1))
    assert first == [(*row, tool, None, None) for row in plain + awkward]
    assert [row[:5] for row in contents(pg, table)] == plain + changed


def test_a_rebuilt_table_replays_like_the_daily_runs(postgres_url, pg, users_table):
    """Emptying the table but not its `_loads` log, then loading the days again, ends in the
    same state as the daily runs. The log of the empty table forgets its days, so an earlier
    day is current until the later days are loaded again (the log never claims rows the table
    no longer holds)."""
    history = random_history(3, seed=1)
    table = TableName.parse(users_table, TABLE_SETTING)
    with psycopg.connect(postgres_url) as conn:
        for day, day_rows, _ in history:
            load(conn, table, day_rows, day=day, complete=True)
        daily = contents(pg, table)
        conn.execute(f"DELETE FROM {table}")
        conn.commit()
        first_day, first_rows, _ = history[0]
        result = load(conn, table, first_rows, day=first_day, complete=True)
        assert (result.table_rows, result.current_rows) == (len(first_rows), len(first_rows))
        assert result.notices == [
            f"{table} was empty while {table}_loads listed 2 days ({history[1][0]} to"
            f" {history[2][0]}): they will load in full again; to rebuild the table, materialize"
            " pg_users_table for those days (one run: --partition-range FIRST...LAST)"
        ]
        for day, day_rows, _ in history[1:]:
            load(conn, table, day_rows, day=day, complete=True)
    assert contents(pg, table) == daily


def test_a_later_empty_snapshot_still_deletes_a_replayed_day(postgres_url, pg, table):
    """A complete day with no users claims nothing the empty table lacks: the log keeps it,
    and an earlier day loaded again is deleted as of it."""
    later = DAY + timedelta(days=1)
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, rows(3))
        load(conn, table, [], day=later)
        daily = contents(pg, table)
        conn.execute(f"TRUNCATE {table}")
        conn.commit()
        result = load(conn, table, rows(3))
    assert (result.current_rows, result.notices) == (0, [])
    assert contents(pg, table) == daily
    assert {row[-2:] for row in daily} == {(DAY, later)}


def test_a_mixed_case_table_name_is_kept_as_written(postgres_url, pg, table):
    mixed = TableName(table.schema, "Users_Mixed")
    with psycopg.connect(postgres_url) as conn:
        load(conn, mixed, rows(2))
        result = load(conn, mixed, rows(3), day=DAY + timedelta(days=1))
        assert already_loaded(conn, mixed, DAY + timedelta(days=1), "0" * 64) is not None
    assert (result.inserted, result.unchanged) == (1, 2)
    assert pg.execute(f'SELECT count(*) FROM {table.schema}."Users_Mixed"').fetchone()[0] == 3


def deleted_at(pg, table) -> dict[int, date | None]:
    return dict(pg.execute(f"SELECT id, deleted_at FROM {table} ORDER BY id").fetchall())


def test_users_missing_from_a_complete_snapshot_are_soft_deleted_and_come_back(
    postgres_url, pg, table
):
    everyone = rows(3)
    day2, day3 = DAY + timedelta(days=1), DAY + timedelta(days=2)
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, everyone)
        result = load(conn, table, everyone[:2], day=day2)
        assert result.deleted == 1
        assert deleted_at(pg, table) == {7000000: None, 7000001: None, 7000002: day2}
        load(conn, table, everyone, day=day3)
    assert deleted_at(pg, table) == {7000000: None, 7000001: None, 7000002: None}
    current = pg.execute(f"SELECT count(*) FROM {table} WHERE deleted_at IS NULL").fetchone()[0]
    assert current == 3


def test_an_incomplete_crawl_deletes_nothing(postgres_url, pg, table):
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, rows(10))
        result = load(conn, table, rows(4), day=DAY + timedelta(days=1), complete=False)
    assert result.deleted == 0
    assert set(deleted_at(pg, table).values()) == {None}


def test_rejects_are_quarantined_once_per_day(postgres_url, pg, table):
    bad = Reject(2, "email 'x' is not an email address", {"id": 9, "email": "x", "n": "\x00"})
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, rows(1), rejects=[bad])
        result = load(conn, table, rows(1), rejects=[bad])
    assert result.rejected == 1
    stored = pg.execute(
        "SELECT snapshot_date, record_number, record_key, reason, record::text"
        f" FROM {table}_rejects"
    ).fetchall()
    assert stored == [(DAY, 2, "9", bad.reason, '{"id":9,"email":"x","n":"\\u0000"}')]


def random_history(days: int, seed: int) -> list[tuple[date, list[Row], bool]]:
    """Days where users come, go, change and return, and some crawls are incomplete."""
    rng = random.Random(seed)
    pool = rows(40)
    history = []
    for offset in range(days):
        present = [u for u in pool if rng.random() < 0.7]
        changed = [(*u[:4], rng.choice(["active", "inactive"])) for u in present]
        history.append((DAY + timedelta(days=offset), changed, rng.random() < 0.8))
    return history


@pytest.mark.parametrize("seed", range(8))
def test_replay_in_any_order_ends_like_the_daily_runs(postgres_url, pg, users_table, seed):
    """Days replayed out of order, some twice (a retried run, a backfill over loaded days)."""
    history = random_history(6 + seed % 3, seed)
    daily = TableName.parse(users_table, TABLE_SETTING)
    replayed = TableName(daily.schema, "replayed")
    rng = random.Random(seed)
    shuffled = rng.sample(history, len(history)) + rng.choices(history, k=seed % 4)
    with psycopg.connect(postgres_url) as conn:
        for day, day_rows, complete in history:
            load(conn, daily, day_rows, day=day, complete=complete)
        for day, day_rows, complete in shuffled:
            load(conn, replayed, day_rows, day=day, complete=complete)
    assert contents(pg, replayed) == contents(pg, daily)


def row_versions(pg, table) -> dict[int, str]:
    """Each row's xmin: it changes exactly when a load writes a new version of the row."""
    return dict(pg.execute(f"SELECT id, xmin::text FROM {table}").fetchall())


def test_a_day_without_changes_writes_no_row(postgres_url, pg, table):
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, rows(500))
        before = row_versions(pg, table)
        result = load(conn, table, rows(500), day=DAY + timedelta(days=1))
    assert (result.inserted, result.updated, result.unseen, result.deleted) == (0, 0, 0, 0)
    assert row_versions(pg, table) == before
    assert contents(pg, table)[0][-2:] == (None, None)  # seen in the latest snapshot, current


def test_a_day_with_changes_writes_only_the_changed_users(postgres_url, pg, table):
    """1% of the users change: half a value, a quarter disappear, a quarter are new."""
    day2 = DAY + timedelta(days=1)
    first = rows(800)
    second = [(*row[:4], "inactive") if i < 4 else row for i, row in enumerate(first)]
    second = second[:-2] + [(9000000 + i, "New", f"new{i}@example.test", "male", "active")
                            for i in range(2)]  # fmt: skip
    with psycopg.connect(postgres_url) as conn:
        load(conn, table, first)
        before = row_versions(pg, table)
        result = load(conn, table, second, day=day2)
    after = row_versions(pg, table)
    written = {key for key in after if before.get(key) != after[key]}
    gone = {row[0] for row in first[-2:]}
    assert written == {row[0] for row in first[:4]} | gone | {9000000, 9000001}
    assert (result.inserted, result.updated, result.unseen, result.deleted) == (2, 4, 2, 2)
    stored = {row[0]: row[-2:] for row in contents(pg, table)}
    assert {key: stored[key] for key in gone} == dict.fromkeys(gone, (DAY, day2))
    assert stored[7000000] == stored[9000000] == (None, None)
