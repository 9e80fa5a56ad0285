"""The whole list in one response."""

from __future__ import annotations

from collections.abc import Iterator

from users_pipeline.http.errors import ApiError
from users_pipeline.http.paginators.base import (
    CrawlProofs,
    Page,
    PageRequest,
    PageResponse,
    Resumable,
)
from users_pipeline.settings import (
    SettingNames,
)


class SinglePagePaginator(Resumable):
    """The whole list in one response."""

    style = "single_page"
    resume_fields = ("has_next_page",)
    proofs = CrawlProofs(None)

    def __init__(self, names: SettingNames) -> None:
        self.has_next_page = True

    def first_request(self) -> PageRequest:
        return PageRequest({}, "the only page")

    def update_state(self, response: PageResponse) -> Page:
        self.has_next_page = False
        return Page(1, response.records, is_last=True)

    def next_request(self) -> PageRequest:
        raise ApiError("a single page has no next page")

    def requests_ahead(self) -> Iterator[PageRequest] | None:
        return None
