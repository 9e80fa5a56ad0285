"""Whether a crawl saw the whole list exactly once, as far as its pagination style can prove.

A paginated list that changes while it is crawled (GoRest recreates its users daily) can skip or
repeat records without any error. `CrawlAudit` checks the crawl against what the API stated
about its own list, as far as its style lets it (`CrawlProofs`): the totals its pages state, the
page count, the page size the style asked for and the size the API says it served; and, for
every style, the end of the list reached by the style's own rule and no key on two pages.

Only a style that states the list's size (`CrawlProofs.states_total`) can prove a crawl saw the
whole list: a cursor or link crawl cannot see a record the list skipped while it was walked, so
its absences mark no one deleted unless the source says so (`take_snapshot`'s `soft_deletes`).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from users_pipeline.contract.field import Field
from users_pipeline.contract.keyset import KeySet
from users_pipeline.http.paginators import CrawlProofs, Page


@dataclass
class CrawlAudit:
    """What one crawl saw, compared with what the API reported about its own list."""

    proofs: CrawlProofs
    key: Field  # the record's key: a valid key seen on two pages shows the list shifted
    total_at_start: int | None = None
    total_at_end: int | None = None
    page_count_at_start: int | None = None
    page_count_at_end: int | None = None
    pages_fetched: int = 0
    reached_last_page: bool = False  # the style's rule said the last page was the last
    records: int = 0
    repeated_ids: int = 0
    unexpected_page_sizes: set[int] = field(default_factory=set)
    short_pages: list[int] = field(default_factory=list)
    oversized_pages: list[int] = field(default_factory=list)
    _ids: KeySet = field(default_factory=KeySet, repr=False)
    # Short pages not yet followed by records: the end of the list, if only empty pages follow
    # (a style that stops after an empty page asks for one more).
    _short_so_far: list[int] = field(default_factory=list, repr=False)

    def observe(self, page: Page) -> None:
        if self.pages_fetched == 0:
            self.total_at_start, self.page_count_at_start = page.total, page.page_count
        self.total_at_end, self.page_count_at_end = page.total, page.page_count
        self.pages_fetched += 1
        self.reached_last_page = page.is_last
        self.records += len(page.records)
        size = self.proofs.page_size
        if size is not None:
            served = page.served_page_size
            if served is not None and served != size:
                self.unexpected_page_sizes.add(served)
            if page.records:
                self.short_pages += self._short_so_far
                self._short_so_far = []
            if not page.is_last and len(page.records) < size:
                self._short_so_far.append(page.number)
            if len(page.records) > size:
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
        if self.unexpected_page_sizes:
            found.append(
                f"asked for {self.proofs.page_size} per page, the API served"
                f" {self.proofs.served_page_size_from} {sorted(self.unexpected_page_sizes)}"
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
                f"pages with more than the {self.proofs.page_size} records asked for:"
                f" {self.oversized_pages[:10]}"
            )
        if self.short_pages:
            found.append(f"short or empty pages before the last: {self.short_pages[:10]}")
        if self.total_at_end is not None and self.records != self.total_at_end:
            found.append(f"fetched {self.records} records, the API reports {self.total_at_end}")
        found += self._page_count_problems()
        if self.pages_fetched and not self.reached_last_page:
            found.append(f"the crawl stopped at page {self.pages_fetched}, not the last page")
        return found

    def _page_count_problems(self) -> list[str]:
        counted_by = self.proofs.page_count_from
        start, end = self.page_count_at_start, self.page_count_at_end
        if counted_by is None or end is None:
            return []
        if start != end:
            return [f"page count ({counted_by}) changed during the crawl: {start} -> {end}"]
        if self.pages_fetched != end:
            return [f"fetched {self.pages_fetched} pages, the API reports {end} ({counted_by})"]
        return []

    @property
    def complete(self) -> bool:
        return not self.problems


def _page_keys(page: Page, key: Field) -> list[Hashable]:
    """The page's valid keys, each once. Only a key seen on two pages shows the list shifted
    between requests: an invalid key identifies no record, and a key twice on one page (one
    response, one state of the list) is a duplicate record, which validation rejects."""
    keys = (record.get(key.name) for record in page.records if isinstance(record, dict))
    return list(dict.fromkeys(value for value in keys if value is not None and key.accepts(value)))
