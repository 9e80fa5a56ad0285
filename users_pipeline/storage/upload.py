"""Uploading days to the archive: their files, from the data dir where the fetch wrote them.
No Dagster imports.

When the steps of a run may execute on different machines (`USERS_PIPELINE_HANDOVER=archive`),
the fetch also uploads the day under the archive's `_staging/` keys (`upload_day` to the
layout's `staging_keys`), and the upload step, finding no day file on its own disk, downloads
it from there first (`fetch_staged_day`).
The handover uploads and downloads; it never copies objects server-side (S3's CopyObject of a
multipart object is the one operation moto gets wrong above 8 MiB, and an upload verifies the
same way as every other).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from users_pipeline.errors import PipelineError
from users_pipeline.snapshot.days import Snapshot
from users_pipeline.snapshot.manifest import Manifest
from users_pipeline.storage.archive import (
    Archive,
    ArchivedObject,
    MissingObjectError,
    verified_chunks,
)
from users_pipeline.storage.files import FileDigest, file_digest, replaced_when_done, write_whole
from users_pipeline.storage.layout import DayFiles, DayKeys, SourceLayout
from users_pipeline.storage.locks import day_lock


class SnapshotNotTakenHereError(PipelineError):
    """Days to archive whose snapshot is not in this data dir."""

    def __init__(self, message: str, days: Sequence[date], next_step: str) -> None:
        super().__init__(message, next_step)
        self.days = days


@dataclass(frozen=True)
class UploadedDay:
    records: ArchivedObject
    rejects: ArchivedObject
    manifest: ArchivedObject
    rejected_records: int

    def metadata(self) -> dict[str, object]:
        return {
            "dagster/uri": self.records.uri,
            "bytes": self.records.bytes,
            "sha256": self.records.sha256,
            "manifest_uri": self.manifest.uri,
            "rejects_uri": self.rejects.uri,
            "rejected_records": self.rejected_records,
        }


def upload_days(
    store: Archive,
    days: Sequence[date],
    files_of: Callable[[date], DayFiles],
    keys_of: Callable[[date], DayKeys],
    not_here: str,
    staged_keys_of: Callable[[date], DayKeys] | None = None,
) -> list[UploadedDay]:
    """Upload each day's records, rejects and manifest, in date order. Every day must have been
    fetched into this data dir, or staged in the archive (with `staged_keys_of`): if one was
    not, nothing is uploaded and the error names it, followed by `not_here` (what to run
    instead). A staged day's objects are deleted once the day is archived."""
    # A staged day is the latest fetch of it, wherever that ran: it replaces a copy of the day
    # this machine may have fetched earlier.
    staged = [
        day
        for day in (days if staged_keys_of else ())
        if fetch_staged_day(store, staged_keys_of(day), files_of(day))
    ]
    missing = [day for day in days if not files_of(day).manifest.is_file()]
    if missing:
        where = files_of(missing[0]).manifest
        raise SnapshotNotTakenHereError(
            f"no snapshot of {', '.join(map(str, missing))} was taken here ({where} does not"
            f" exist): {not_here}",
            missing,
            not_here,
        )
    uploaded = [upload_day(store, files_of(day), keys_of(day)) for day in sorted(days)]
    for day in staged:
        keys = staged_keys_of(day)  # the manifest first: a day half deleted is not staged
        for key in (keys.manifest, keys.records, keys.rejects):
            store.delete(key)
    return uploaded


def snapshot_of(store: Archive, layout: SourceLayout, files: DayFiles, day: date) -> Snapshot:
    """Where a day's snapshot is: archived, waiting in this data dir or in the archive's staging
    keys for the upload, or nowhere."""
    if layout.has_day(store, day):
        return Snapshot.ARCHIVED
    if files.manifest.is_file():
        return Snapshot.NOT_ARCHIVED
    try:
        store.stat(layout.staging_keys(day).manifest)
    except MissingObjectError:
        return Snapshot.NONE
    return Snapshot.NOT_ARCHIVED


def fetch_staged_day(store: Archive, staging: DayKeys, files: DayFiles) -> bool:
    """Bring a day staged by a fetch (on another machine, or this one) into this data dir, each
    file verified against the staged manifest and renamed into place, the manifest last (its
    presence says the day is complete, as after a fetch). False when no day is staged."""
    try:
        manifest = store.read_bytes(staging.manifest)
    except MissingObjectError:
        return False
    if files.manifest.is_file() and files.manifest.read_bytes() == manifest:
        return True  # fetched here: the files are already these
    snapshot = Manifest.from_json(manifest)
    with day_lock(files.folder):
        _download(store, staging.records, files.records, snapshot.sha256)
        _download(store, staging.rejects, files.rejects, snapshot.rejects_sha256)
        write_whole(files.manifest, manifest)
    return True


def _download(store: Archive, key: str, path: Path, sha256: str) -> None:
    with store.read_chunks(key) as chunks, replaced_when_done(path) as file:
        for chunk in verified_chunks(chunks, sha256, store.uri(key)):
            file.write(chunk)


def upload_day(store: Archive, files: DayFiles, keys: DayKeys) -> UploadedDay:
    with day_lock(files.folder, shared=True):
        snapshot = Manifest.from_json(files.manifest.read_bytes())
        records_digest = FileDigest(snapshot.bytes, snapshot.sha256)
        records = store.put(files.records, keys.records, records_digest)
        rejects_digest = FileDigest(snapshot.rejects_bytes, snapshot.rejects_sha256)
        rejects = store.put(files.rejects, keys.rejects, rejects_digest)
        # The manifest goes last: its presence says the day's objects are all in place.
        manifest = store.put(files.manifest, keys.manifest, file_digest(files.manifest))
    return UploadedDay(records, rejects, manifest, snapshot.rejected_records)
