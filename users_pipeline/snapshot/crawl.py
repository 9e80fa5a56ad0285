"""Taking a day's snapshot: crawl every page, prove the crawl complete, validate, write the files.

A paginated list that changes while it is crawled (GoRest recreates its users daily) can skip or
repeat records without any error. `CrawlAudit` checks the crawl against what the API said about
itself; a drifted crawl is re-crawled a bounded number of times and then passes or fails
explicitly. Records are validated here too, so the day's rejects and its manifest exist before
anything is archived. A crawl killed half-way is continued by the next run of the day, from
the pages its journal names (see `journal`). No Dagster imports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from users_pipeline.contract.record import RecordContract
from users_pipeline.contract.validation import RecordValidator
from users_pipeline.http.paginators import Page
from users_pipeline.settings import DEFAULT_MAX_CRAWLS
from users_pipeline.snapshot.audit import CrawlAudit
from users_pipeline.snapshot.journal import (
    JournalWriter,
    ResumeRefused,
    SavedCrawl,
    resumed_pages,
    saved_crawl,
)
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
    on_resume: Callable[[str], None] = lambda line: None,
) -> Manifest:
    """Crawl into the day file until a crawl is complete or `max_crawls` ran out, then write the
    rejects and the manifest beside it. Each crawl replaces the previous file; the first goes
    on from an interrupted crawl's pages, if the day has some (`on_resume` says how it went),
    and the interrupted crawl counts for none of the `max_crawls`. Records absent from the day
    are marked deleted only with `soft_deletes`; unset, where the pagination style states a
    total (a cursor or link crawl cannot see a record the list skipped while walked)."""
    if soft_deletes is None:
        soft_deletes = client.proofs.states_total
    with day_lock(files.folder):
        return _take_snapshot(
            client, files, contract, max_crawls, soft_deletes, on_page, on_drift, on_resume
        )


def _take_snapshot(
    client: PageSource,
    files: DayFiles,
    contract: RecordContract,
    max_crawls: int,
    soft_deletes: bool,
    on_page: Callable[[Page, int], None],
    on_drift: Callable[[int, list[str]], None],
    on_resume: Callable[[str], None],
) -> Manifest:
    """Re-crawl while the list drifted under the crawl, `max_crawls` times at most."""
    started = _now()
    saved = saved_crawl(files.journal, files.records, client.crawl_identity)
    for attempt in range(1, max_crawls + 1):
        crawl = _resumed(client, files, contract, on_page, saved, on_resume)
        saved = None
        if crawl.audit.complete:
            break
        on_drift(attempt, crawl.audit.problems)
    manifest = _manifest(crawl, client.display_url, started, attempt, soft_deletes)
    write_whole(files.manifest, manifest.to_json())
    files.journal.unlink()
    return manifest


def _resumed(
    client: PageSource,
    files: DayFiles,
    contract: RecordContract,
    on_page: Callable[[Page, int], None],
    saved: SavedCrawl | None,
    on_resume: Callable[[str], None],
) -> _Crawl:
    """A crawl that goes on from `saved`, else from page 1."""
    if saved is None:
        return _crawl(client, files, contract, on_page, None)
    on_resume(
        f"resuming an interrupted crawl after page {len(saved.pages)}"
        f" ({saved.records} records saved)"
    )
    try:
        return _crawl(client, files, contract, on_page, saved)
    except ResumeRefused as refused:
        on_resume(f"cannot resume ({refused}): crawling again from page 1")
        return _crawl(client, files, contract, on_page, None)


@dataclass(frozen=True)
class _Crawl:
    """One walk over every page into the day file and its rejects, audited as it went."""

    audit: CrawlAudit
    validator: RecordValidator
    day: JsonLinesWriter
    rejects: JsonLinesWriter
    pages_resumed: int


def _crawl(
    client: PageSource,
    files: DayFiles,
    contract: RecordContract,
    on_page: Callable[[Page, int], None],
    saved: SavedCrawl | None,
) -> _Crawl:
    """One crawl, from page 1 or on from `saved`; each page's records are in the day file before
    the journal names the page."""
    audit = CrawlAudit(client.proofs, key=contract.key)
    validator = RecordValidator(contract)
    with (
        JsonLinesWriter(files.records, keep_bytes=saved.end if saved else 0) as day,
        JsonLinesWriter(files.rejects) as rejects,
        JournalWriter(files.journal, client.crawl_identity, saved) as journal,
    ):
        for page, kept in _pages(client, saved, files):
            audit.observe(page)
            _, rejected = validator.split(page.records, first_number=day.records + 1)
            rejects.write([asdict(reject) for reject in rejected])
            if kept is None:
                day.write(page.records)
                journal.record(page, day.digest.bytes)
            else:
                day.kept(kept, len(page.records))
            on_page(page, day.records)
    return _Crawl(audit, validator, day, rejects, len(saved.pages) if saved else 0)


def _pages(
    client: PageSource, saved: SavedCrawl | None, files: DayFiles
) -> Iterator[tuple[Page, bytes | None]]:
    if saved is None:
        return ((page, None) for page in client.iter_pages())
    return resumed_pages(client, saved, files.records)


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
        pages_resumed=crawl.pages_resumed,
    )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
