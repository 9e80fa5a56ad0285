"""Archiving days' snapshots: their files, from the data dir where the fetch wrote them, to the
archive. No Dagster imports."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from users_pipeline.archive import Archive, ArchivedObject
from users_pipeline.errors import PipelineError
from users_pipeline.layout import DayFiles, DayKeys
from users_pipeline.snapshot import DaySnapshot, day_lock
from users_pipeline.snapshot_file import FileDigest, file_digest


class SnapshotNotTakenHereError(PipelineError):
    """A day to archive whose snapshot is not in this data dir."""


@dataclass(frozen=True)
class ArchivedDaySnapshot:
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


def archive_days(
    store: Archive,
    days: Sequence[date],
    files_of: Callable[[date], DayFiles],
    keys_of: Callable[[date], DayKeys],
    not_here: str,
) -> list[ArchivedDaySnapshot]:
    """Upload each day's records, rejects and manifest, in date order. Every day must have been
    fetched into this data dir: if one was not, nothing is uploaded and the error names it,
    followed by `not_here` (what to run instead)."""
    missing = [day for day in days if not files_of(day).manifest.is_file()]
    if missing:
        where = files_of(missing[0]).manifest
        raise SnapshotNotTakenHereError(
            f"no snapshot of {', '.join(map(str, missing))} was taken here ({where} does not"
            f" exist): {not_here}"
        )
    return [archive_day(store, files_of(day), keys_of(day)) for day in sorted(days)]


def archive_day(store: Archive, files: DayFiles, keys: DayKeys) -> ArchivedDaySnapshot:
    with day_lock(files.folder, shared=True):
        snapshot = DaySnapshot.from_manifest(files.manifest.read_bytes())
        records_digest = FileDigest(snapshot.bytes, snapshot.sha256)
        records = store.put(files.records, keys.records, records_digest)
        rejects_digest = FileDigest(snapshot.rejects_bytes, snapshot.rejects_sha256)
        rejects = store.put(files.rejects, keys.rejects, rejects_digest)
        # The manifest goes last: its presence says the day's objects are all in place.
        manifest = store.put(files.manifest, keys.manifest, file_digest(files.manifest))
    return ArchivedDaySnapshot(records, rejects, manifest, snapshot.rejected_records)
