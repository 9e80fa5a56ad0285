"""Where a day lives: keys and local files from one layout, sources apart, old days still found
and loaded (a day archived as a JSON array, plain and gzip, against moto's S3 server)."""

from dataclasses import asdict, replace
from datetime import date, timedelta
from pathlib import Path

import orjson
import pytest

from users_pipeline.orchestration.resources import ArchiveResource
from users_pipeline.snapshot.manifest import Manifest
from users_pipeline.storage.archive import LocalArchive, MissingObjectError
from users_pipeline.storage.files import file_digest
from users_pipeline.storage.layout import SourceLayout
from users_pipeline_tests.conftest import DAY, pg_users_table, raw_users_json
from users_pipeline_tests.snapshot.test_jsonl import legacy_array
from users_pipeline_tests.test_pipeline import (
    expected_rows,
    json_lines,
    metadata,
    run,
    table_rows,
)

OLD_DAY = DAY - timedelta(days=30)


def test_keys_are_hive_style_and_records_alone_under_the_prefix():
    keys = SourceLayout("users").keys(date(2026, 2, 3))
    assert keys.records == "users/dt=2026-02-03/users.jsonl"
    assert keys.rejects == "users/_rejects/dt=2026-02-03/users.jsonl"
    assert keys.manifest == "users/_manifests/dt=2026-02-03/users.json"
    assert SourceLayout("users", "/raw/users/").keys(DAY).rejects == (
        f"raw/users/_rejects/dt={DAY}/users.jsonl"
    )
    assert SourceLayout("users", "").keys(DAY).manifest == f"_manifests/dt={DAY}/users.json"
    assert SourceLayout("users").write_check_key == "users/_write_check"


def test_the_local_day_folder_is_named_after_the_source(tmp_path: Path):
    files = SourceLayout("users").day_files(tmp_path, DAY)
    assert files.folder == tmp_path / "raw" / "users" / f"dt={DAY}"
    assert [path.name for path in (files.records, files.rejects, files.manifest)] == [
        "users.jsonl",
        "rejects.jsonl",
        "manifest.json",
    ]


def test_two_sources_never_share_a_file_or_a_key(tmp_path: Path):
    def everything(layout: SourceLayout) -> set:
        files, keys = layout.day_files(tmp_path, DAY), layout.keys(DAY)
        return {files.records, files.rejects, files.manifest, *asdict(keys).values()}

    for prefix in (None, "shared"):
        users, posts = SourceLayout("users", prefix), SourceLayout("posts", prefix)
        assert not everything(users) & everything(posts)
        assert SourceLayout("users").day_files(tmp_path, DAY).folder != (
            SourceLayout("posts").day_files(tmp_path, DAY).folder
        )


def test_find_day_prefers_the_json_lines_day_and_falls_back_to_the_old_keys(tmp_path: Path):
    store, layout = LocalArchive(tmp_path), SourceLayout("users")
    manifest = tmp_path / "manifest.json"

    def put(key: str, text: bytes) -> None:
        manifest.write_bytes(text)
        store.put(manifest, key, file_digest(manifest))

    with pytest.raises(MissingObjectError, match=r"_manifests/dt=2026-06-01/users\.json"):
        layout.find_day(store, DAY)
    put(layout.legacy_keys(DAY).manifest, b'{"old": true}')
    assert layout.find_day(store, DAY) == (layout.legacy_keys(DAY), b'{"old": true}')
    put(layout.keys(DAY).manifest, b'{"new": true}\n')
    assert layout.find_day(store, DAY) == (layout.keys(DAY), b'{"new": true}\n')


def archive_as_before_json_lines(resources: dict, tmp_path: Path, day: date) -> Manifest:
    """Take today's snapshot, then archive it for `day` the way days were archived before JSON
    Lines: a JSON array with one record per line at `users.json`, an indented manifest beside it,
    rejects under `rejects/`."""
    run(resources, assets=[raw_users_json])
    files = SourceLayout("users").day_files(tmp_path / "data", DAY)
    old_day = tmp_path / "old"
    old_day.mkdir()
    for source, name in ((files.records, "users.json"), (files.rejects, "rejects.json")):
        (old_day / name).write_bytes(legacy_array(json_lines(source.read_bytes())))
    day_file = file_digest(old_day / "users.json")
    rejects_file = file_digest(old_day / "rejects.json")
    snapshot = replace(
        Manifest.from_json(files.manifest.read_bytes()),
        bytes=day_file.bytes,
        sha256=day_file.sha256,
        rejects_bytes=rejects_file.bytes,
        rejects_sha256=rejects_file.sha256,
    )
    (old_day / "manifest.json").write_bytes(
        orjson.dumps(asdict(snapshot), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    )
    archive = resources["archive"]
    store, keys = archive.get_archive(), archive.layout("users").legacy_keys(day)
    for name, key in (("users.json", keys.records), ("rejects.json", keys.rejects)):
        store.put(old_day / name, key, file_digest(old_day / name))
    store.put(old_day / "manifest.json", keys.manifest, file_digest(old_day / "manifest.json"))
    return snapshot


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_a_day_archived_as_a_json_array_still_loads(
    resources, gorest, pg, users_table, tmp_path, gzip
):
    archive = resources["archive"]
    resources["archive"] = ArchiveResource(
        s3=archive.s3, bucket=archive.bucket, prefix="users", gzip=gzip
    )
    gorest.users[7]["status"] = "suspended"  # one reject: the load validates every record
    snapshot = archive_as_before_json_lines(resources, tmp_path, OLD_DAY)

    result = run(resources, assets=[pg_users_table], day=OLD_DAY, today=DAY)

    loaded = metadata(result, "pg_users_table")
    legacy_key = SourceLayout("users").legacy_keys(OLD_DAY).records
    assert loaded["source_uri"] == f"s3://{archive.bucket}/{legacy_key}" + (".gz" if gzip else "")
    assert (loaded["rows_inserted"], loaded["rows_rejected"]) == (2750, 1)
    assert (snapshot.valid_records, snapshot.rejected_records) == (2750, 1)
    valid = [user for index, user in enumerate(gorest.users) if index != 7]
    assert table_rows(pg, users_table) == expected_rows(valid)
