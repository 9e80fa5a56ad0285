"""Taking a day's snapshot: crawl every page, prove the crawl complete, validate, write the files.

A paginated list that changes while it is crawled (GoRest recreates its users daily) can skip or
repeat records without any error. `CrawlAudit` checks the crawl against what the API said about
itself; a drifted crawl is re-crawled a bounded number of times and then passes or fails
explicitly. Records are validated here too, so the day's rejects and its manifest exist before
anything is archived. No Dagster imports.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import orjson

from users_pipeline.contract.record import RecordContract
from users_pipeline.contract.validation import SnapshotValidator
from users_pipeline.http.paginators import Page
from users_pipeline.snapshot.audit import CrawlAudit
from users_pipeline.snapshot.jsonl import SnapshotWriter
from users_pipeline.snapshot.page_source import PageSource
from users_pipeline.storage.layout import DayFiles
from users_pipeline.storage.locks import file_lock


@dataclass(frozen=True)
class DaySnapshot:
    """The result of taking a snapshot, and the content of the day's manifest."""

    source_url: str
    fetch_started_at: str
    fetch_finished_at: str
    crawl_attempts: int
    crawl_complete: bool
    crawl_problems: list[str]
    total_at_start: int | None
    total_at_end: int | None
    distinct_ids: int
    repeated_ids: int
    short_pages: list[int]
    pages: int
    records: int
    valid_records: int
    rejected_records: int
    unknown_fields: list[str]
    bytes: int
    sha256: str
    rejects_bytes: int
    rejects_sha256: str

    def manifest_json(self) -> bytes:
        """One line, like every object in the archive: a lake table of manifests reads it."""
        return orjson.dumps(asdict(self), option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)

    @classmethod
    def from_manifest(cls, data: bytes) -> DaySnapshot:
        return cls(**orjson.loads(data))


@contextmanager
def day_lock(folder: Path, shared: bool = False) -> Iterator[None]:
    """Serialize work on one day's folder on this machine: a fetch rewrites the day's three files
    (exclusive), which an upload (shared) or a second fetch must not see half-way."""
    folder.mkdir(parents=True, exist_ok=True)
    with file_lock(folder / ".lock", shared=shared):
        yield


def take_snapshot(
    client: PageSource,
    files: DayFiles,
    contract: RecordContract,
    *,
    max_crawls: int = 3,
    on_page: Callable[[Page, int], None] = lambda page, records: None,
    on_drift: Callable[[int, list[str]], None] = lambda attempt, problems: None,
) -> DaySnapshot:
    """Crawl into the day file until a crawl is complete or `max_crawls` ran out, then write the
    rejects and the manifest beside it. Each crawl replaces the previous file."""
    with day_lock(files.folder):
        return _take_snapshot(client, files, contract, max_crawls, on_page, on_drift)


def _take_snapshot(
    client: PageSource,
    files: DayFiles,
    contract: RecordContract,
    max_crawls: int,
    on_page: Callable[[Page, int], None],
    on_drift: Callable[[int, list[str]], None],
) -> DaySnapshot:
    started = _now()
    for attempt in range(1, max_crawls + 1):
        audit = CrawlAudit(client.proofs, key=contract.key)
        validator = SnapshotValidator(contract)
        with (
            SnapshotWriter(files.records) as day,
            SnapshotWriter(files.rejects) as rejects,
        ):
            for page in client.iter_pages():
                audit.observe(page)
                _, rejected = validator.split(page.records, first_number=day.records + 1)
                rejects.write([asdict(reject) for reject in rejected])
                day.write(page.records)
                on_page(page, day.records)
        if audit.complete:
            break
        on_drift(attempt, audit.problems)
    snapshot = DaySnapshot(
        source_url=client.display_url,
        fetch_started_at=started,
        fetch_finished_at=_now(),
        crawl_attempts=attempt,
        crawl_complete=audit.complete,
        crawl_problems=audit.problems,
        total_at_start=audit.total_at_start,
        total_at_end=audit.total_at_end,
        distinct_ids=audit.distinct_ids,
        repeated_ids=audit.repeated_ids,
        short_pages=audit.short_pages,
        pages=audit.pages_fetched,
        records=day.records,
        valid_records=day.records - rejects.records,
        rejected_records=rejects.records,
        unknown_fields=sorted(validator.unknown_fields),
        bytes=day.digest.bytes,
        sha256=day.digest.sha256,
        rejects_bytes=rejects.digest.bytes,
        rejects_sha256=rejects.digest.sha256,
    )
    partial = files.manifest.with_name(files.manifest.name + ".partial")
    partial.write_bytes(snapshot.manifest_json())
    os.replace(partial, files.manifest)  # never a half-written manifest
    return snapshot


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
