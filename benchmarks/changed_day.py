"""A day on which 1% of the users changed, built from a fetched day and archived as another day.

The daily steady state is a snapshot that differs a little from the day before, and the load is
meant to write only what differs. `change_users` derives such a day from a fetched one: of 1% of
its users, half get the other `status`, a quarter disappear, and as many new users appear (ids
above the largest, emails of their own). `archive_records` writes it as a day of its own with the
product's code: the day file by `JsonLinesWriter` (as the fetch writes it), the manifest as the
fetched day's with the new file's counts and sha256s (`Manifest`), all three objects uploaded
by `upload_day` (as the upload step does). Loaded after a day with the same users, its load
must write exactly the changed users into the table: the changed ones updated, the gone ones
marked gone, the new ones inserted, as `pg_stat_user_tables` counts them
(`benchmarks.table_writes`). `benchmarks.rebuild` uses the same two functions to make its
archived days differ.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import orjson

from benchmarks.services import s3_resource
from users_pipeline.orchestration.resources import ArchiveResource
from users_pipeline.snapshot.jsonl import JsonLinesWriter
from users_pipeline.snapshot.manifest import Manifest
from users_pipeline.storage.layout import DayFiles
from users_pipeline.storage.upload import upload_day

CHANGED_SHARE = 0.01
FLIPPED_STATUS = {"active": "inactive", "inactive": "active"}


@dataclass(frozen=True)
class Changes:
    """How a day differs from the one it was derived from, in users."""

    changed: int  # still there, with another status
    gone: int  # no longer in the snapshot
    new: int  # not in it before

    @property
    def total(self) -> int:
        return self.changed + self.gone + self.new


def read_records(day_file: Path) -> list[dict]:
    """A JSON Lines day file's records, as the API served them."""
    return [orjson.loads(line) for line in day_file.read_bytes().splitlines() if line.strip()]


def change_users(
    records: list[dict], share: float = CHANGED_SHARE, seed: int = 0
) -> tuple[list[dict], Changes]:
    """A copy of `records` in which `share` of the users differ: half changed, a quarter gone,
    a quarter new (appended, as a new user would be on the API's last page)."""
    total = max(4, round(len(records) * share))
    changes = Changes(changed=total // 2, gone=total // 4, new=total - total // 2 - total // 4)
    rng = random.Random(seed)
    picked = rng.sample(range(len(records)), changes.changed + changes.gone)
    flipped, gone = set(picked[: changes.changed]), set(picked[changes.changed :])
    result = []
    for index, record in enumerate(records):
        if index in gone:
            continue
        if index in flipped:
            record = {**record, "status": FLIPPED_STATUS.get(record["status"], "active")}
        result.append(record)
    next_id = max(record["id"] for record in records) + 1
    for number in range(changes.new):
        user_id = next_id + number
        result.append(
            {
                "id": user_id,
                "name": f"New User {user_id}",
                "email": f"new.user.{user_id}@example.com",
                "gender": "female" if number % 2 else "male",
                "status": "active",
            }
        )
    return result, changes


def archive_records(
    endpoint: str,
    bucket: str,
    records: list[dict],
    like: Manifest,
    files: DayFiles,
    day: date,
) -> Manifest:
    """Write `records` as a day's file, rejects and manifest in `files`' folder (the manifest
    is `like`'s, the fetched day's, with this file's counts and digests), and archive them as
    `day`'s snapshot, replacing any archived before. Returns the manifest."""
    with JsonLinesWriter(files.records) as day_file:
        day_file.write(records)
    with JsonLinesWriter(files.rejects) as rejects:
        pass  # every record is valid
    per_page = max(1, like.records // max(1, like.pages))
    count = day_file.records
    snapshot = replace(
        like,
        total_at_start=count,
        total_at_end=count,
        distinct_ids=count,
        repeated_ids=0,
        pages=-(-count // per_page),
        records=count,
        valid_records=count,
        rejected_records=0,
        bytes=day_file.digest.bytes,
        sha256=day_file.digest.sha256,
        rejects_bytes=rejects.digest.bytes,
        rejects_sha256=rejects.digest.sha256,
    )
    files.manifest.write_bytes(snapshot.to_json())
    archive = ArchiveResource(s3=s3_resource(endpoint), bucket=bucket, prefix="users")
    upload_day(archive.get_archive(), files, archive.layout("users").keys(day))
    return snapshot
