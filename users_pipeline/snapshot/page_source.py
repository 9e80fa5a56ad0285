"""What taking a snapshot needs from the API client, and nothing more."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from users_pipeline.http.paginators import CrawlProofs, Page


class PageSource(Protocol):
    """A list's pages in order (a fresh crawl each call), where they come from (safe to show),
    and what their pagination style lets the audit prove."""

    @property
    def display_url(self) -> str: ...

    @property
    def proofs(self) -> CrawlProofs: ...

    def iter_pages(self) -> Iterator[Page]: ...
