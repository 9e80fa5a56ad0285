"""What taking a snapshot needs from the API client, and nothing more."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from users_pipeline.http.paginators import CrawlProofs, Page


class PageSource(Protocol):
    """A list's pages in order (a fresh crawl each call, or the rest of one after a page's
    checkpoint), where they come from (safe to show), what their pagination style lets the
    audit prove, and what the checkpoints are valid for."""

    @property
    def display_url(self) -> str: ...

    @property
    def proofs(self) -> CrawlProofs: ...

    @property
    def crawl_identity(self) -> str: ...

    def iter_pages(self, after: Mapping[str, Any] | None = None) -> Iterator[Page]: ...
