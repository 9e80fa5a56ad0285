"""Taking a day's snapshot: crawl every page, prove the crawl complete, validate, write the files.

A paginated list that changes while it is crawled (GoRest recreates its users daily) can skip or
repeat records without any error. `CrawlAudit` checks the crawl against what the API said about
itself; a drifted crawl is re-crawled a bounded number of times and then passes or fails
explicitly. Records are validated here too, so the day's rejects and its manifest exist before
anything is archived. No Dagster imports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from users_pipeline.contract.keyset import KeySet
from users_pipeline.contract.record import Field, RecordContract
from users_pipeline.contract.validation import RecordValidator
from users_pipeline.http.client import Page, UsersApiClient
from users_pipeline.snapshot.jsonl import JsonLinesWriter
from users_pipeline.snapshot.manifest import Manifest
from users_pipeline.storage.files import write_whole
from users_pipeline.storage.layout import DayFiles
from users_pipeline.storage.locks import day_lock


@dataclass
class CrawlAudit:
    """What one crawl saw, compared with what the API reported about its own list."""

    page_size: int
    key: Field  # the record's key: a valid key seen on two pages shows the list shifted
    total_at_start: int | None = None
    total_at_end: int | None = None
    page_count: int | None = None
    pages_fetched: int = 0
    records: int = 0
    repeated_ids: int = 0
    unexpected_limits: set[int] = field(default_factory=set)
    short_pages: list[int] = field(default_factory=list)
    oversized_pages: list[int] = field(default_factory=list)
    _ids: KeySet = field(default_factory=KeySet, repr=False)

    def observe(self, page: Page) -> None:
        if self.pages_fetched == 0:
            self.total_at_start = page.total
        self.total_at_end = page.total
        self.page_count = page.page_count
        self.pages_fetched += 1
        self.records += len(page.records)
        if page.limit is not None and page.limit != self.page_size:
            self.unexpected_limits.add(page.limit)
        if not page.is_last(self.page_size) and len(page.records) < self.page_size:
            self.short_pages.append(page.number)
        if len(page.records) > self.page_size:
            self.oversized_pages.append(page.number)
        self.repeated_ids += self._ids.seen_before(_page_keys(page, self.key)).count(True)

    @property
    def distinct_ids(self) -> int:
        """Distinct valid keys seen."""
        return len(self._ids)

    @property
    def problems(self) -> list[str]:
        """Why this crawl cannot be trusted to be the whole list exactly once (empty = complete)."""
        found = []
        if self.unexpected_limits:
            found.append(
                f"asked for {self.page_size} per page, the API served"
                f" X-Pagination-Limit {sorted(self.unexpected_limits)}"
            )
        if self.total_at_start != self.total_at_end:
            found.append(
                f"total changed during the crawl: {self.total_at_start} -> {self.total_at_end}"
            )
        if self.repeated_ids:
            found.append(
                f"{self.repeated_ids} ids appeared on more than one page (the list shifted)"
            )
        if self.oversized_pages:
            found.append(
                f"pages with more than the {self.page_size} records asked for:"
                f" {self.oversized_pages[:10]}"
            )
        if self.short_pages:
            found.append(f"short or empty pages before the last: {self.short_pages[:10]}")
        if self.total_at_end is not None and self.records != self.total_at_end:
            found.append(f"fetched {self.records} records, the API reports {self.total_at_end}")
        return found

    @property
    def complete(self) -> bool:
        return not self.problems


def _page_keys(page: Page, key: Field) -> list[int]:
    """The page's valid keys, each once. Only a key seen on two pages shows the list shifted
    between requests: an invalid key identifies no record, and a key twice on one page (one
    response, one state of the list) is a duplicate record, which validation rejects."""
    keys = (record.get(key.name) for record in page.records if isinstance(record, dict))
    return list(dict.fromkeys(value for value in keys if value is not None and key.accepts(value)))


def take_snapshot(
    client: UsersApiClient,
    files: DayFiles,
    contract: RecordContract,
    *,
    max_crawls: int = 3,
    on_page: Callable[[Page, int], None] = lambda page, records: None,
    on_drift: Callable[[int, list[str]], None] = lambda attempt, problems: None,
) -> Manifest:
    """Crawl into the day file until a crawl is complete or `max_crawls` ran out, then write the
    rejects and the manifest beside it. Each crawl replaces the previous file."""
    with day_lock(files.folder):
        return _take_snapshot(client, files, contract, max_crawls, on_page, on_drift)


def _take_snapshot(
    client: UsersApiClient,
    files: DayFiles,
    contract: RecordContract,
    max_crawls: int,
    on_page: Callable[[Page, int], None],
    on_drift: Callable[[int, list[str]], None],
) -> Manifest:
    started = _now()
    for attempt in range(1, max_crawls + 1):
        audit = CrawlAudit(page_size=client.page_size, key=contract.key)
        validator = RecordValidator(contract)
        with (
            JsonLinesWriter(files.records) as day,
            JsonLinesWriter(files.rejects) as rejects,
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
    manifest = Manifest(
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
    write_whole(files.manifest, manifest.to_json())
    return manifest


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
