"""The archive against moto's S3 server on 127.0.0.1 and against a local directory."""

import gzip
from datetime import date
from pathlib import Path

import pytest

from users_pipeline.snapshot.jsonl import JsonLinesWriter, iter_json_arrays, parse_array
from users_pipeline.storage.archive import (
    ArchiveError,
    GzipArchive,
    LocalArchive,
    MissingObjectError,
    verified_chunks,
)
from users_pipeline.storage.files import file_digest
from users_pipeline.storage.layout import SourceLayout
from users_pipeline.storage.s3 import S3Archive
from users_pipeline_tests.conftest import USERS

DAY = date(2026, 2, 3)
KEY = SourceLayout("users").keys(DAY).records


@pytest.fixture
def day_file(tmp_path: Path, api_users: list[dict]) -> Path:
    path = tmp_path / "users.jsonl"
    with JsonLinesWriter(path) as writer:
        writer.write(api_users[:1000])
        writer.write(api_users[1000:])
    return path


def read_back(archive, key: str) -> list[dict]:
    expected = archive.stat(key)
    with archive.read_chunks(key) as chunks:
        arrays = iter_json_arrays(verified_chunks(chunks, expected.sha256, expected.uri))
        return [record for array in arrays for record in parse_array(array)]


def test_s3_round_trip_keeps_every_record_and_the_sha256(s3, bucket, day_file, api_users):
    archive = S3Archive(s3.get_client(), bucket)
    key = KEY

    stored = archive.put(day_file, key, file_digest(day_file))

    assert stored.uri == f"s3://{bucket}/{key}"
    assert (stored.bytes, stored.sha256) == (
        day_file.stat().st_size,
        file_digest(day_file).sha256,
    )
    assert read_back(archive, key) == api_users
    head = s3.get_client().head_object(Bucket=bucket, Key=key)
    assert head["Metadata"]["sha256"] == stored.sha256


def test_rerunning_a_day_overwrites_exactly_that_key(s3, bucket, day_file, tmp_path):
    archive = S3Archive(s3.get_client(), bucket)
    archive.put(day_file, KEY, file_digest(day_file))
    key = SourceLayout("users").keys(date(2026, 2, 4)).records
    archive.put(day_file, key, file_digest(day_file))
    smaller = tmp_path / "smaller.jsonl"
    with JsonLinesWriter(smaller) as writer:
        writer.write([{"id": 1}])

    archive.put(smaller, KEY, file_digest(smaller))

    listed = s3.get_client().list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted((o["Key"], o["Size"]) for o in listed) == [
        ("users/dt=2026-02-03/users.jsonl", smaller.stat().st_size),
        ("users/dt=2026-02-04/users.jsonl", day_file.stat().st_size),
    ]


def test_a_missing_bucket_names_the_setting(s3, day_file):
    names = USERS.setting_names("archive")
    archive = S3Archive(s3.get_client(), "no-such-bucket", s3.endpoint_url, names)
    with pytest.raises(ArchiveError, match="S3_BUCKET='no-such-bucket' does not exist"):
        archive.put(day_file, KEY, file_digest(day_file))


def test_a_missing_object_is_named(s3, bucket):
    archive = S3Archive(s3.get_client(), bucket)
    with pytest.raises(MissingObjectError, match=f"s3://{bucket}/users/dt=2026-02-03/users.jsonl"):
        archive.stat(KEY)


def test_an_object_changed_after_archiving_fails_verification(s3, bucket, day_file):
    archive = S3Archive(s3.get_client(), bucket)
    key = KEY
    stored = archive.put(day_file, key, file_digest(day_file))
    tampered = day_file.read_bytes().replace(b"@example.test", b"@evil.test__")
    s3.get_client().put_object(Bucket=bucket, Key=key, Body=tampered)

    with archive.read_chunks(key) as chunks, pytest.raises(ArchiveError, match="sha256"):
        list(verified_chunks(chunks, stored.sha256, stored.uri))


def test_local_archive_has_the_same_layout(tmp_path, day_file, api_users):
    archive = LocalArchive(tmp_path / "archive")
    key = KEY

    stored = archive.put(day_file, key, file_digest(day_file))

    where = tmp_path / "archive" / "users" / "dt=2026-02-03" / "users.jsonl"
    assert stored.uri == where.resolve().as_uri()
    assert stored.uri.startswith("file:///")
    assert read_back(archive, key) == api_users
    with pytest.raises(MissingObjectError, match="does not exist in the local archive"):
        archive.stat(SourceLayout("users").keys(date(2026, 2, 4)).records)


def test_gzip_archive_stores_dot_gz_and_reads_back_the_same_records(
    s3, bucket, day_file, api_users
):
    archive = GzipArchive(S3Archive(s3.get_client(), bucket))
    key = KEY

    stored = archive.put(day_file, key, file_digest(day_file))

    assert stored.uri == f"s3://{bucket}/{key}.gz"
    assert stored.bytes < day_file.stat().st_size / 4
    body = s3.get_client().get_object(Bucket=bucket, Key=key + ".gz")["Body"].read()
    assert gzip.decompress(body) == day_file.read_bytes()
    with archive.read_chunks(key) as chunks:
        content = verified_chunks(chunks, file_digest(day_file).sha256, stored.uri)
        assert [r for a in iter_json_arrays(content) for r in parse_array(a)] == api_users
