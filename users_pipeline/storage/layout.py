"""Where a source's days live: the local day folder and the archive keys, named in one place.

For the source `users` under the prefix `users`:

    <data dir>/raw/users/dt=2026-11-24/users.jsonl    the day file, as fetched
                                      /rejects.jsonl  records kept out of the table, with why
                                      /manifest.json  counts, sha256s, the crawl's verdict
                                      /pages.jsonl    while a crawl runs: its pages so far
    users/dt=2026-11-24/users.jsonl                   the archived records
    users/_rejects/dt=2026-11-24/users.jsonl          the archived rejects
    users/_manifests/dt=2026-11-24/users.json         the archived manifest
    users/_accepted/dt=2026-11-24/users.json          deletes above the limit, accepted

Every object is JSON Lines: records and rejects one per line (`.jsonl`), the manifest one object
on one line. The prefix holds one lake table: Hive, Spark, Athena and Arrow skip names that start
with `_`, so a table over `users/` reads only records, partitioned by `dt`, and `_rejects/` and
`_manifests/` are tables of their own. The source's name is in every file name and in the local
folder, so two sources never overwrite each other. Days archived in the former layout are still
found: `find_day` falls back to it (see `compat`). No Dagster imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from users_pipeline import compat
from users_pipeline.settings import RAW_FOLDER
from users_pipeline.storage.archive import Archive, MissingObjectError


@dataclass(frozen=True)
class DayFiles:
    """A day's files on the machine that fetched it."""

    folder: Path
    records: Path
    rejects: Path
    manifest: Path
    journal: Path  # the pages a crawl in progress has written (see `snapshot.journal`)


@dataclass(frozen=True)
class DayKeys:
    """A day's objects in the archive."""

    records: str
    rejects: str
    manifest: str


@dataclass(frozen=True)
class SourceLayout:
    """The names of one source's days: `name` names the files, `prefix` (by default the name)
    is the archive's folder for them."""

    name: str
    prefix: str | None = None

    def day_files(self, data_dir: Path, day: date) -> DayFiles:
        folder = data_dir / RAW_FOLDER / self.name / _partition(day)
        return DayFiles(
            folder=folder,
            records=folder / f"{self.name}.jsonl",
            rejects=folder / "rejects.jsonl",
            manifest=folder / "manifest.json",
            journal=folder / "pages.jsonl",
        )

    def keys(self, day: date) -> DayKeys:
        return DayKeys(
            records=self._key(_partition(day), f"{self.name}.jsonl"),
            rejects=self._key("_rejects", _partition(day), f"{self.name}.jsonl"),
            manifest=self._key("_manifests", _partition(day), f"{self.name}.json"),
        )

    def acceptance_key(self, day: date) -> str:
        """Where a day's mass delete, once accepted, is recorded (see `warehouse.guards`)."""
        return self._key("_accepted", _partition(day), f"{self.name}.json")

    def staging_keys(self, day: date) -> DayKeys:
        """Where a fetch on one machine leaves the day for the archive step on another (see
        `storage.upload`): under `_staging/`, which lake readers skip like `_rejects/`."""
        return DayKeys(
            records=self._key("_staging", _partition(day), f"{self.name}.jsonl"),
            rejects=self._key("_staging", _partition(day), "rejects.jsonl"),
            manifest=self._key("_staging", _partition(day), "manifest.json"),
        )

    def legacy_keys(self, day: date) -> DayKeys:
        """Where a day archived in the former JSON-array layout was put (see `compat`)."""
        return DayKeys(*compat.json_array_day_keys(self._key, self.name, _partition(day)))

    @property
    def write_check_key(self) -> str:
        return self._key("_write_check")

    def find_day(self, store: Archive, day: date) -> tuple[DayKeys, bytes]:
        """The day's keys and its manifest, under today's keys or else the legacy ones; if
        neither exists, the error names today's manifest."""
        keys = self.keys(day)
        try:
            return keys, store.read_bytes(keys.manifest)
        except MissingObjectError as missing:
            legacy = self.legacy_keys(day)
            try:
                return legacy, store.read_bytes(legacy.manifest)
            except MissingObjectError:
                raise missing from None

    def has_day(self, store: Archive, day: date) -> bool:
        try:
            self.find_day(store, day)
        except MissingObjectError:
            return False
        return True

    def _key(self, *parts: str) -> str:
        prefix = (self.name if self.prefix is None else self.prefix).strip("/")
        return "/".join((prefix, *parts) if prefix else parts)


def _partition(day: date) -> str:
    """Hive-style, so lake engines read the day as a `dt` column."""
    return f"dt={day.isoformat()}"
