"""Styles where each response names the next: a cursor in the body or a header, a next URL in
the body or in RFC 8288 `Link` headers, in dlt's vocabulary."""

from __future__ import annotations

import re
from collections.abc import Iterator

from users_pipeline.http.errors import ApiError
from users_pipeline.http.paginators.base import (
    CrawlProofs,
    LoopGuard,
    Page,
    PageRequest,
    PageResponse,
    Resumable,
    optional_path,
    setting,
    stated_bool,
    stated_token,
)
from users_pipeline.http.records import BodyPath
from users_pipeline.http.transport import redact_url
from users_pipeline.settings import (
    SettingNames,
)


class ReferencePaginator(Resumable):
    """A reference to the next page that the API gives with each page (a cursor, a next URL):
    the last page is the one that gives none. The loop guard: a reference that came before."""

    proofs = CrawlProofs(None)
    resume_fields = ("_number", "_next", "has_next_page")

    def __init__(self, guard: LoopGuard) -> None:
        self._guard = guard
        self._number = 0
        self._next: str | int | None = None
        self.has_next_page = True

    def first_request(self) -> PageRequest:
        return PageRequest({}, "page 1")

    def update_state(self, response: PageResponse) -> Page:
        self._number += 1
        self._next = self._next_reference(response)
        if self._next is not None:
            self._guard.advance(self._next, self._shown(self._next))
        self.has_next_page = self._next is not None
        return Page(self._number, response.records, is_last=not self.has_next_page)

    def requests_ahead(self) -> Iterator[PageRequest] | None:
        return None

    def _next_reference(self, response: PageResponse) -> str | int | None:
        """The reference to the next page in `response`; None for the last page."""
        raise NotImplementedError

    def _shown(self, reference: str | int) -> str:
        return repr(reference)


class CursorPaginator(ReferencePaginator):
    """A cursor in the body at `cursor_path`, sent back in `cursor_param`. The last page: no
    cursor, or a false `has_more_path`, or (when `stop_after_empty_page`) no records."""

    style = "cursor"

    def __init__(
        self,
        names: SettingNames,
        *,
        cursor_path: str = "cursors.next",
        cursor_param: str = "cursor",
        stop_after_empty_page: bool = False,
        has_more_path: str | None = None,
    ) -> None:
        super().__init__(LoopGuard(f"cursor at {cursor_path}"))
        self._cursor_path = BodyPath(cursor_path, setting(names, "cursor_path"))
        self._cursor_param = cursor_param
        self._stop_after_empty_page = stop_after_empty_page
        self._has_more_path = optional_path(has_more_path, names, "has_more_path")

    def _next_reference(self, response: PageResponse) -> str | int | None:
        cursor = stated_token(self._cursor_path, response.body)
        if self._stop_after_empty_page and not response.records:
            return None
        if self._has_more_path is None:
            return cursor
        if not stated_bool(self._has_more_path, response.body):
            return None
        if cursor is None:
            raise ApiError(
                f"{self._has_more_path.setting} {self._has_more_path.path!r} says more, but"
                f" {self._cursor_path.setting} {self._cursor_path.path!r} gives no cursor"
            )
        return cursor

    def next_request(self) -> PageRequest:
        return PageRequest({self._cursor_param: self._next}, f"page {self._number + 1}")


class HeaderCursorPaginator(ReferencePaginator):
    """A cursor in the response header `cursor_key`, sent back in `cursor_param`."""

    style = "header_cursor"

    def __init__(
        self, names: SettingNames, *, cursor_key: str = "next", cursor_param: str = "cursor"
    ) -> None:
        super().__init__(LoopGuard(f"cursor in header {cursor_key}"))
        self._cursor_key, self._cursor_param = cursor_key, cursor_param

    def _next_reference(self, response: PageResponse) -> str | int | None:
        return response.headers.get(self._cursor_key) or None

    def next_request(self) -> PageRequest:
        return PageRequest({self._cursor_param: self._next}, f"page {self._number + 1}")


class NextUrlPaginator(ReferencePaginator):
    """A next URL the API gives, followed as it is (the client keeps it on the API's origin)."""

    def next_request(self) -> PageRequest:
        return PageRequest({}, f"page {self._number + 1}", url=str(self._next))

    def _shown(self, reference: str | int) -> str:
        return repr(redact_url(str(reference)))


class JsonLinkPaginator(NextUrlPaginator):
    """The next page's URL in the body at `next_url_path`."""

    style = "json_link"

    def __init__(self, names: SettingNames, *, next_url_path: str = "next") -> None:
        super().__init__(LoopGuard(f"next URL at {next_url_path}"))
        self._next_url_path = BodyPath(next_url_path, setting(names, "next_url_path"))

    def _next_reference(self, response: PageResponse) -> str | int | None:
        return stated_token(self._next_url_path, response.body)


class HeaderLinkPaginator(NextUrlPaginator):
    """The next page's URL in the `Link` header (RFC 8288), the link whose `rel` names
    `links_next_key`, as GitHub sends it."""

    style = "header_link"

    def __init__(self, names: SettingNames, *, links_next_key: str = "next") -> None:
        super().__init__(LoopGuard(f"Link rel={links_next_key} URL"))
        self._links_next_key = links_next_key

    def _next_reference(self, response: PageResponse) -> str | int | None:
        return link_with_rel(response.headers.get("Link", ""), self._links_next_key)


# One link of a Link header: <URI> and its parameters, up to the comma between links (a comma
# in a quoted parameter value or inside <...> belongs to the link).
LINK = re.compile(r'\s*<([^>]*)>((?:\s*;\s*[^;,="]+(?:\s*=\s*(?:"[^"]*"|[^;,]*))?)*)\s*(?:,|$)')
LINK_PARAM = re.compile(r'\s*;\s*([^;,="\s]+)\s*(?:=\s*(?:"([^"]*)"|([^;,]*)))?')


def link_with_rel(header: str, rel: str) -> str | None:
    """The URI of the first link in a Link header whose `rel` (a space-separated list of
    relation types, compared without case) includes `rel`; None when there is none."""
    for link in LINK.finditer(header):
        for param in LINK_PARAM.finditer(link.group(2)):
            name, quoted, bare = param.groups()
            value = quoted if quoted is not None else (bare or "")
            if name.lower() == "rel" and rel.lower() in value.lower().split():
                return link.group(1).strip()
    return None
