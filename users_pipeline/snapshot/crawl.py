"""Taking a day's snapshot: crawl every page, prove the crawl complete, validate, write the files.

A paginated list that changes while it is crawled (GoRest recreates its users daily) can skip or
repeat records without any error. `CrawlAudit` checks the crawl against what the API said about
itself; a drifted crawl is re-crawled a bounded number of times and then passes or fails
explicitly. Records are validated here too, so the day's rejects and its manifest exist before
anything is archived. No Dagster imports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from users_pipeline.contract.record import RecordContract
from users_pipeline.contract.validation import RecordValidator
from users_pipeline.http.paginators import Page
from users_pipeline.settings import DEFAULT_MAX_CRAWLS
from users_pipeline.snapshot.audit import CrawlAudit
from users_pipeline.snapshot.jsonl import JsonLinesWriter
from users_pipeline.snapshot.manifest import Manifest
from users_pipeline.snapshot.page_source import PageSource
from users_pipeline.storage.files import write_whole
from users_pipeline.storage.layout import DayFiles
from users_pipeline.storage.locks import day_lock


def take_snapshot(
    client: PageSource,
    files: DayFiles,
    contract: RecordContract,
    *,
    max_crawls: int = DEFAULT_MAX_CRAWLS,
    soft_deletes: bool | None = None,
    on_page: Callable[[Page, int], None] = lambda page, records: None,
    on_drift: Callable[[int, list[str]], None] = lambda attempt, problems: None,
) -> Manifest:
    """Crawl into the day file until a crawl is complete or `max_crawls` ran out, then write the
    rejects and the manifest beside it. Each crawl replaces the previous file. Records absent
    from the day are marked deleted only with `soft_deletes`; unset, where the pagination style
    states a total (a cursor or link crawl cannot see a record the list skipped while walked)."""
    if soft_deletes is None:
        soft_deletes = client.proofs.states_total
    with day_lock(files.folder):
        return _take_snapshot(client, files, contract, max_crawls, soft_deletes, on_page, on_drift)


def _take_snapshot(
    client: PageSource,
    files: DayFiles,
    contract: RecordContract,
    max_crawls: int,
    soft_deletes: bool,
    on_page: Callable[[Page, int], None],
    on_drift: Callable[[int, list[str]], None],
) -> Manifest:
    """Re-crawl while the list drifted under the crawl, `max_crawls` times at most."""
    started = _now()
    for attempt in range(1, max_crawls + 1):
        crawl = _crawl(client, files, contract, on_page)
        if crawl.audit.complete:
            break
        on_drift(attempt, crawl.audit.problems)
    manifest = _manifest(crawl, client.display_url, started, attempt, soft_deletes)
    write_whole(files.manifest, manifest.to_json())
    return manifest


@dataclass(frozen=True)
class _Crawl:
    """One walk over every page into the day file and its rejects, audited as it went."""

    audit: CrawlAudit
    validator: RecordValidator
    day: JsonLinesWriter
    rejects: JsonLinesWriter


def _crawl(
    client: PageSource,
    files: DayFiles,
    contract: RecordContract,
    on_page: Callable[[Page, int], None],
) -> _Crawl:
    audit = CrawlAudit(client.proofs, key=contract.key)
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
    return _Crawl(audit, validator, day, rejects)


def _manifest(
    crawl: _Crawl, source_url: str, started: str, attempts: int, soft_deletes: bool
) -> Manifest:
    """The last crawl's proof of completeness, counts and digests."""
    audit, day, rejects = crawl.audit, crawl.day, crawl.rejects
    return Manifest(
        source_url=source_url,
        fetch_started_at=started,
        fetch_finished_at=_now(),
        crawl_attempts=attempts,
        crawl_complete=audit.complete,
        soft_deletes=soft_deletes,
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
        unknown_fields=sorted(crawl.validator.unknown_fields),
        bytes=day.digest.bytes,
        sha256=day.digest.sha256,
        rejects_bytes=rejects.digest.bytes,
        rejects_sha256=rejects.digest.sha256,
    )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
