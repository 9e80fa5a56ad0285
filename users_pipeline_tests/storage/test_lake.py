"""The archive read by a real lake engine: DuckDB's newline-delimited JSON reader over the local
archive (same keys as the bucket; DuckDB reads S3 only through its httpfs extension, a download).
"""

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from users_pipeline.orchestration.resources import ArchiveResource
from users_pipeline.storage.files import file_digest
from users_pipeline_tests.conftest import DAY
from users_pipeline_tests.snapshot.test_jsonl import legacy_array
from users_pipeline_tests.test_pipeline import LAYOUT, expected_rows, metadata, run, table_rows

NEXT_DAY = DAY + timedelta(days=1)
FIELDS = ("id", "name", "email", "gender", "status")


def local_archive(resources: dict, tmp_path: Path, gzip: bool = False) -> Path:
    """Point the pipeline at a local archive directory and return that directory."""
    root = tmp_path / "archive"
    resources["archive"] = ArchiveResource(
        s3=resources["archive"].s3, prefix="users", local_dir=str(root), gzip=gzip
    )
    return root


def lake_rows(query: str, *params: object) -> list[tuple]:
    return duckdb.connect().execute(query, [str(param) for param in params]).fetchall()


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_duckdb_reads_a_day_exactly_and_its_valid_records_are_the_loaded_rows(
    resources, gorest, pg, users_table, tmp_path, gzip
):
    root = local_archive(resources, tmp_path, gzip)
    gorest.users[0]["email"] = "not-an-email"
    gorest.users[9]["id"] = "7000010"
    gorest.users[3]["created_at"] = "2026-06-01T00:00:00Z"
    run(resources)
    suffix = ".gz" if gzip else ""
    keys = LAYOUT.keys(DAY)

    records = lake_rows(
        "SELECT json FROM read_json_objects(?, format='newline_delimited')",
        root / (keys.records + suffix),
    )
    rejected = lake_rows(
        "SELECT record_number FROM read_json(?, format='newline_delimited')",
        root / (keys.rejects + suffix),
    )

    day = [json.loads(text) for (text,) in records]
    assert day == gorest.users
    assert sorted(number for (number,) in rejected) == [1, 10]
    valid = [record for number, record in enumerate(day, 1) if (number,) not in rejected]
    assert table_rows(pg, users_table) == expected_rows(valid)


def test_a_lake_table_over_the_prefix_reads_only_user_records(
    resources, gorest, pg, users_table, tmp_path
):
    root = local_archive(resources, tmp_path)
    everyone = [dict(user) for user in gorest.users]
    gorest.users[7]["status"] = "suspended"  # a reject on the first day
    run(resources, day=DAY)
    gorest.users = everyone[:-1]  # the next day, one user fewer and none invalid
    run(resources, day=NEXT_DAY)
    table = f"{root}/users/*/*"  # the prefix, one level of dt= folders: what a lake table reads

    columns = lake_rows(
        "SELECT column_name FROM (DESCRIBE SELECT * FROM"
        " read_json(?, format='newline_delimited', hive_partitioning=true))",
        table,
    )
    per_day = lake_rows(
        "SELECT dt, count(*), count(DISTINCT filename) FROM"
        " read_json(?, format='newline_delimited', hive_partitioning=true, filename=true)"
        " GROUP BY dt ORDER BY dt",
        table,
    )
    next_day = lake_rows(
        f"SELECT {', '.join(FIELDS)}, 'dagster', dt FROM"
        " read_json(?, format='newline_delimited', hive_partitioning=true)"
        " WHERE dt = ? ORDER BY id",
        table,
        NEXT_DAY,
    )

    assert sorted(name for (name,) in columns) == sorted([*FIELDS, "dt"])
    assert per_day == [(DAY, 2751, 1), (NEXT_DAY, 2750, 1)]
    # The table's users of the latest snapshot (last_seen NULL) are the lake's of that day.
    latest = [(*row[:-1], NEXT_DAY) for row in table_rows(pg, users_table) if row[-1] is None]
    assert next_day == latest

    # A day archived before JSON Lines (a JSON array in `users.json`) is told apart by its name.
    old_records, old_manifest = tmp_path / "users.json", tmp_path / "manifest.json"
    old_records.write_bytes(legacy_array(everyone))
    old_manifest.write_bytes(b'{\n  "records": 2751\n}')
    store, old_keys = resources["archive"].get_archive(), LAYOUT.legacy_keys(DAY - timedelta(1))
    store.put(old_records, old_keys.records, file_digest(old_records))
    store.put(old_manifest, old_keys.manifest, file_digest(old_manifest))
    assert lake_rows(
        "SELECT count(*) FROM read_json(?, format='newline_delimited', hive_partitioning=true)",
        table + ".jsonl*",
    ) == [(2751 + 2750,)]


def test_local_mode_names_its_files_and_objects_by_file_uris(resources, pg, users_table, tmp_path):
    root = local_archive(resources, tmp_path)

    result = run(resources)

    fetched = metadata(result, "raw_users_json")["dagster/uri"]
    assert fetched == LAYOUT.day_files(tmp_path / "data", DAY).records.resolve().as_uri()
    archived = (root / LAYOUT.keys(DAY).records).resolve().as_uri()
    assert metadata(result, "s3_users_object")["dagster/uri"] == archived
    assert metadata(result, "pg_users_table")["source_uri"] == archived
    (stored,) = pg.execute(f"SELECT source_uri FROM {users_table}_loads").fetchone()
    assert stored == archived
