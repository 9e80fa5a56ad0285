"""Pagination styles, one small class each: how a crawl asks for its pages and knows the last.

The page loop (`client.RestClient`) knows no style. It asks the paginator for the first request,
lets each response update the paginator's state, in page order, and asks for the next request
while the paginator has a next page; a style that knows every later request from the first
response (`requests_ahead`) lets the loop fetch them concurrently. The styles, their settings
and their defaults are dlt's (`rest_client/paginators.py`), so a dlt `paginator:` block carries
over unchanged; GoRest's `X-Pagination-*` headers are one more style, `gorest`, the default. The
loop guard is the Singer SDK's `BaseAPIPaginator.advance`. Each style also says what it lets the
crawl audit prove (`CrawlProofs`).
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from users_pipeline.http.errors import ApiError
from users_pipeline.http.records import BodyPath
from users_pipeline.http.transport import int_header, redact_url
from users_pipeline.settings import (
    DEFAULT_PAGINATOR,
    GOREST_DEFAULT_PAGE_SIZE,
    GOREST_MAX_PAGE_SIZE,
    SettingNames,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What one request asks: its query parameters (added to the configured URL and its fixed
    `params`), or a next URL the API gave, followed as it is; and how messages name it."""

    params: dict[str, int | str]
    label: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class PageResponse:
    """A page's response as a paginator reads it: its headers, its parsed body, and the records
    the `data_selector` found in the body."""

    headers: Mapping[str, str]
    body: object
    records: list


@dataclass(frozen=True, slots=True)
class Page:
    """One page of records, with what the API stated about it, as its style reads them."""

    number: int  # its place in the crawl, from 1
    records: list[dict]
    is_last: bool  # the style's rule for the end of the list said so
    total: int | None = None  # records in the whole list, where the API states it
    page_count: int | None = None  # pages the crawl takes, where the API states it
    served_page_size: int | None = None  # the page size the API says it served


@dataclass(frozen=True)
class CrawlProofs:
    """What a style lets the crawl audit prove, besides no key on two pages and the end reached
    by the style's own rule."""

    # The records asked for per page: every page but the last is full, none larger. None when
    # the API chooses.
    page_size: int | None
    # Where the API states the page size it served, for messages ("X-Pagination-Limit").
    served_page_size_from: str | None = None
    # The API states the list's size in records, so a crawl can prove it saw the whole list:
    # only then may records missing from it be taken as deleted.
    states_total: bool = False
    # Where the API states the number of pages, when it does ("total_path 'total_pages'"): the
    # crawl proves it fetched them all, and that the number did not change.
    page_count_from: str | None = None


class Paginator(Protocol):
    """One crawl's pagination state. A client walks a fresh copy for each crawl."""

    proofs: CrawlProofs

    @property
    def has_next_page(self) -> bool: ...

    def first_request(self) -> PageRequest: ...

    def update_state(self, response: PageResponse) -> Page:
        """The next page of the crawl, from its response; ApiError for a loop."""
        ...

    def next_request(self) -> PageRequest: ...

    def requests_ahead(self) -> Iterator[PageRequest] | None:
        """Every later page's request, when the responses so far tell them all; else None."""
        ...


class LoopGuard:
    """Refuses a page token the API already served in this crawl: an API that serves the same
    page again would otherwise be crawled forever."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._seen: set[Hashable] = set()

    def advance(self, token: Hashable, shown: str | None = None) -> None:
        """Remember `token`; ApiError naming it (as `shown`, else its repr) if it came before."""
        if token in self._seen:
            raise ApiError(f"{self.name} {shown or repr(token)} came twice: the pagination loops")
        self._seen.add(token)


def setting(names: SettingNames, key: str) -> str:
    """A paginator setting's name in messages."""
    return names(f"api.paginator.{key}")


def optional_path(path: str | None, names: SettingNames, key: str) -> BodyPath | None:
    """The body path a paginator setting names, if it is set."""
    return None if path is None else BodyPath(path, setting(names, key))


def stated_bool(path: BodyPath, body: object) -> bool:
    """A true/false the body states at `path` (dlt also reads "true"/"false" text)."""
    value = path.value(body)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ApiError(f"{path.setting} {path.path!r} is {value!r}, not true or false")
    return value


def stated_int(path: BodyPath, body: object) -> int:
    """A whole number the body states at `path`, as a number or as text."""
    value = path.value(body)
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(f"{path.setting} {path.path!r} is {value!r}, not a whole number")
    return value


def stated(
    path: BodyPath | None, body: object, read: Callable[[BodyPath, object], T], required: bool
) -> T | None:
    """What `read` reads at `path`; None when no path is set, or when it is absent and not
    `required`."""
    if path is None or not (required or path.find(body)[0]):
        return None
    return read(path, body)


def stated_token(path: BodyPath, body: object) -> str | int | None:
    """A cursor or next URL at `path`; None (the end of the list) when absent, null or empty."""
    found, value = path.find(body)
    if not found or value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ApiError(f"{path.setting} {path.path!r} is {value!r}, not a text or a number")
    return value


class GoRestPaginator:
    """GoRest's page numbers: `page` from 1 and `per_page` (1..GOREST_MAX_PAGE_SIZE; above it
    GoRest silently serves GOREST_DEFAULT_PAGE_SIZE), with the list's facts in `X-Pagination-*`
    headers. The last page is the one numbered `X-Pagination-Pages`; without that header, a
    short page (fewer records than the limit it was served with)."""

    style = "gorest"

    def __init__(self, page_size: int, names: SettingNames) -> None:
        if not 1 <= page_size <= GOREST_MAX_PAGE_SIZE:
            raise ApiError(
                f"{names('api.page_size')} must be between 1 and {GOREST_MAX_PAGE_SIZE}, got"
                f" {page_size} (GoRest silently serves {GOREST_DEFAULT_PAGE_SIZE} records per"
                f" page above {GOREST_MAX_PAGE_SIZE})"
            )
        self.page_size = page_size
        self.proofs = CrawlProofs(
            page_size, served_page_size_from="X-Pagination-Limit", states_total=True
        )
        self.has_next_page = True
        self._number = 0  # the last page whose response was read
        self._page_count: int | None = None
        self._served = LoopGuard("X-Pagination-Page")

    def first_request(self) -> PageRequest:
        return self._request(1)

    def update_state(self, response: PageResponse) -> Page:
        headers, records = response.headers, response.records
        self._number += 1
        served = int_header(headers, "X-Pagination-Page")
        if served is not None:
            self._served.advance(served)
        self._page_count = int_header(headers, "X-Pagination-Pages")
        limit = int_header(headers, "X-Pagination-Limit")
        if self._page_count is not None:
            is_last = self._number >= self._page_count
        else:
            is_last = len(records) < (limit or self.page_size)
        self.has_next_page = not is_last
        total = int_header(headers, "X-Pagination-Total")
        return Page(self._number, records, is_last, total, self._page_count, limit)

    def next_request(self) -> PageRequest:
        return self._request(self._number + 1)

    def requests_ahead(self) -> Iterator[PageRequest] | None:
        if self._page_count is None:
            return None
        return map(self._request, range(self._number + 1, self._page_count + 1))

    def _request(self, number: int) -> PageRequest:
        return PageRequest({"page": number, "per_page": self.page_size}, f"page {number}")


class RangePaginator:
    """A number in the query that steps by a fixed amount per page (a page number, an offset).
    The last page is the first of: an empty page (`stop_after_empty_page`), the stated total
    reached (`total_path`), the maximum reached, a false `has_more_path`. The loop guard: a page
    with the same records as an earlier one means the API ignores the number."""

    def __init__(
        self,
        names: SettingNames,
        *,
        param: str,
        start: int,
        step: int,
        total_path: str | None,
        total_counts_pages: bool,
        end_offset: int,
        maximum: tuple[str, int | None],
        stop_after_empty_page: bool,
        has_more_path: str | None,
        fixed: Mapping[str, int | str],
    ) -> None:
        maximum_key, self._maximum = maximum
        rules = (total_path, self._maximum, has_more_path, stop_after_empty_page or None)
        if all(rule is None for rule in rules):
            raise ApiError(
                f"{names('api.paginator')} {self.style} has no rule for the last page: set"
                f" total_path, {maximum_key}, has_more_path or stop_after_empty_page: true"
            )
        self._param, self._step, self._fixed = param, step, dict(fixed)
        self._start = self._value = start
        self._total_path = optional_path(total_path, names, "total_path")
        self._has_more_path = optional_path(has_more_path, names, "has_more_path")
        self._total_counts_pages = total_counts_pages
        self._end_offset = end_offset  # the value at the end of a list of `total`
        self._stop_after_empty_page = stop_after_empty_page
        self._end: int | None = None  # the value at the end of the list, once stated
        self._number = 0
        self._first_served: dict[Hashable, int] = {}  # a page's fingerprint: the value it had
        self.has_next_page = True

    def first_request(self) -> PageRequest:
        return self._request(self._value)

    def update_state(self, response: PageResponse) -> Page:
        records, value = response.records, self._value
        self._number += 1
        self._refuse_a_repeat(records, value)
        # The empty page that ends the list need not state the rest (as in dlt).
        empty_end = self._stop_after_empty_page and not records
        total = stated(self._total_path, response.body, stated_int, required=not empty_end)
        if total is not None:
            self._end = total + self._end_offset
        self._value += self._step
        ends = [end for end in (self._end, self._maximum) if end is not None]
        has_more = stated(self._has_more_path, response.body, stated_bool, not empty_end)
        is_last = empty_end or any(self._value >= end for end in ends) or has_more is False
        self.has_next_page = not is_last
        if self._total_counts_pages:
            return Page(self._number, records, is_last, page_count=self._pages(total))
        return Page(self._number, records, is_last, total=total)

    def next_request(self) -> PageRequest:
        return self._request(self._value)

    def requests_ahead(self) -> Iterator[PageRequest] | None:
        if self._end is None or not self.has_next_page:
            return None
        end = self._end if self._maximum is None else min(self._end, self._maximum)
        return map(self._request, range(self._value, end, self._step))

    def _pages(self, total: int | None) -> int | None:
        """The pages this crawl takes, from the stated page count and its first page."""
        return None if total is None else max(0, total + self._end_offset - self._start)

    def _refuse_a_repeat(self, records: list, value: int) -> None:
        if not records:
            return
        fingerprint = (len(records), repr(records[0]), repr(records[-1]))
        first = self._first_served.setdefault(fingerprint, value)
        if first != value:
            raise ApiError(
                f"{self._param}={value} served the records of {self._param}={first} again:"
                f" the API ignores {self._param}, the pagination loops"
            )

    def _request(self, value: int) -> PageRequest:
        return PageRequest({**self._fixed, self._param: value}, f"{self._param} {value}")


class PageNumberPaginator(RangePaginator):
    """Page numbers from `page` (else `base_page`, the API's first page) in `page_param`.
    `total_path` states the number of pages, as in dlt."""

    style = "page_number"

    def __init__(
        self,
        names: SettingNames,
        *,
        base_page: int = 0,
        page: int | None = None,
        page_param: str = "page",
        total_path: str | None = "total",
        maximum_page: int | None = None,
        stop_after_empty_page: bool = True,
        has_more_path: str | None = None,
    ) -> None:
        super().__init__(
            names,
            param=page_param,
            start=base_page if page is None else page,
            step=1,
            total_path=total_path,
            total_counts_pages=True,
            end_offset=base_page,
            maximum=("maximum_page", maximum_page),
            stop_after_empty_page=stop_after_empty_page,
            has_more_path=has_more_path,
            fixed={},
        )
        counted = total_path and f"{setting(names, 'total_path')} {total_path!r}"
        self.proofs = CrawlProofs(None, page_count_from=counted)


class OffsetPaginator(RangePaginator):
    """Record offsets from `offset` in `offset_param`, `limit` records a page in `limit_param`.
    `total_path` states the number of records, so the crawl can prove it saw them all."""

    style = "offset"

    def __init__(
        self,
        names: SettingNames,
        *,
        limit: int,
        offset: int = 0,
        offset_param: str = "offset",
        limit_param: str = "limit",
        total_path: str | None = "total",
        maximum_offset: int | None = None,
        stop_after_empty_page: bool = True,
        has_more_path: str | None = None,
    ) -> None:
        if limit < 1:
            raise ApiError(f"{setting(names, 'limit')} must be at least 1, got {limit}")
        super().__init__(
            names,
            param=offset_param,
            start=offset,
            step=limit,
            total_path=total_path,
            total_counts_pages=False,
            end_offset=0,
            maximum=("maximum_offset", maximum_offset),
            stop_after_empty_page=stop_after_empty_page,
            has_more_path=has_more_path,
            fixed={limit_param: limit},
        )
        self.proofs = CrawlProofs(limit, states_total=total_path is not None)


class ReferencePaginator:
    """A reference to the next page that the API gives with each page (a cursor, a next URL):
    the last page is the one that gives none. The loop guard: a reference that came before."""

    proofs = CrawlProofs(None)

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


class SinglePagePaginator:
    """The whole list in one response."""

    style = "single_page"
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


STYLES = (
    GoRestPaginator,
    PageNumberPaginator,
    OffsetPaginator,
    CursorPaginator,
    JsonLinkPaginator,
    HeaderLinkPaginator,
    HeaderCursorPaginator,
    SinglePagePaginator,
)
# The styles a source can name in its settings (`api.paginator`), by dlt's names.
PAGINATORS: dict[str, type] = {style.style: style for style in STYLES}
# dlt's request-body keys (for POST): this client sends GETs, so these are refused by name.
BODY_PATH_SUFFIX = "_body_path"


def make_paginator(
    config: str | Mapping[str, object] | None, *, page_size: int, names: SettingNames
) -> Paginator:
    """The paginator a source's `api.paginator` setting names: None for GoRest's (the default,
    the only one `api.page_size` sizes), a style's name, or a mapping of `type` and the style's
    settings, as in dlt. Any setting that cannot be honoured fails here, before any request."""
    if config is None:
        config = DEFAULT_PAGINATOR
    if isinstance(config, str):
        style_name, settings, type_setting = config, {}, names("api.paginator")
    elif isinstance(config, Mapping):
        settings = {str(key): value for key, value in config.items()}
        style_name, type_setting = settings.pop("type", None), setting(names, "type")
    else:
        raise ApiError(
            f"{names('api.paginator')} must be a style's name or a mapping with its type,"
            f" got {config!r}"
        )
    style = paginator_style(style_name, type_setting)
    if style is GoRestPaginator:
        check_settings(style, settings, names)
        return GoRestPaginator(page_size, names)
    return style(names, **check_settings(style, settings, names))


def paginator_style(name: object, type_setting: str) -> type:
    """The class of the style `name`; ApiError naming what is known."""
    known = ", ".join(PAGINATORS)
    if name is None:
        raise ApiError(f"{type_setting} is missing: name the style (known: {known})")
    if name == "auto":
        raise ApiError(
            f"{type_setting} 'auto' is not supported: name the style, so the crawl audit knows"
            f" what it can prove (known: {known})"
        )
    if not isinstance(name, str) or name not in PAGINATORS:
        raise ApiError(f"{type_setting} {name!r} is not a pagination style (known: {known})")
    return PAGINATORS[name]


def check_settings(style: type, settings: dict[str, object], names: SettingNames) -> dict:
    """`settings` when each belongs to `style` and has its type and every required one is
    there; else ApiError naming the setting and what is allowed."""
    parameters = {
        name: parameter
        for name, parameter in inspect.signature(style).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }
    hints = typing.get_type_hints(style.__init__)
    for key, value in settings.items():
        if key.endswith(BODY_PATH_SUFFIX):
            raise ApiError(
                f"{setting(names, key)} is not supported: requests are GETs with the page in"
                f" the query (use {key.removesuffix(BODY_PATH_SUFFIX)}_param)"
            )
        if key not in parameters:
            allowed = ", ".join(parameters) or "none"
            raise ApiError(
                f"{setting(names, key)} does not belong to the {style.style} style"
                f" (its settings: {allowed})"
            )
        if not accepts(hints[key], value):
            raise ApiError(
                f"{setting(names, key)} must be {type_description(hints[key])}, got {value!r}"
            )
    for key, parameter in parameters.items():
        if parameter.default is inspect.Parameter.empty and key not in settings:
            raise ApiError(f"{setting(names, key)} is required by the {style.style} style")
    return settings


def accepts(hint: object, value: object) -> bool:
    """Whether a YAML value has a setting's type (`int`, `str | None`, ...); true/false is no
    number."""
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if isinstance(value, bool):
        return bool in allowed
    return any(isinstance(value, kind) for kind in allowed if kind is not bool)


def type_description(hint: object) -> str:
    """A setting's type as messages name it: "a whole number or null"."""
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    words = {int: "a whole number", str: "a text", bool: "true or false", type(None): "null"}
    return " or ".join(words[kind] for kind in allowed)
