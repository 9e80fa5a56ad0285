"""What every pagination style shares: a request, a response, a page, the proofs a style
lets the audit make, the paginator protocol, the loop guard, and reading stated values from a
body. No Dagster imports."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from users_pipeline.http.errors import ApiError
from users_pipeline.http.records import BodyPath
from users_pipeline.settings import (
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
    # The crawl's place after this page (`Paginator.checkpoint`), set by the page loop.
    checkpoint: Mapping[str, Any] | None = None


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

    def checkpoint(self) -> dict[str, Any]:
        """Where the crawl stands after the last page read, as JSON values."""
        ...

    def resume(self, checkpoint: Mapping[str, Any]) -> None:
        """Continue a crawl from a `checkpoint` another copy of this paginator took;
        ResumeError if it is not one."""
        ...


class ResumeError(ValueError):
    """A checkpoint this paginator cannot continue from."""


class Resumable:
    """A style whose place in a crawl is a few values (`resume_fields`): what the next request
    and the end of the list depend on. The loop guard's history is not among them, so a
    resumed crawl's guard starts afresh: a loop back to a page before the resume is caught one
    turn later, when its pages come around again."""

    resume_fields: ClassVar[tuple[str, ...]]

    def checkpoint(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.resume_fields}

    def resume(self, checkpoint: Mapping[str, Any]) -> None:
        if sorted(checkpoint) != sorted(self.resume_fields):
            raise ResumeError(f"a checkpoint of {sorted(checkpoint)}, not {self.resume_fields}")
        for name, value in checkpoint.items():
            setattr(self, name, value)


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
