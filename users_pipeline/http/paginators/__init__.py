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

from users_pipeline.http.paginators.base import (
    CrawlProofs,
    LoopGuard,
    Page,
    PageRequest,
    PageResponse,
    Paginator,
    ResumeError,
)
from users_pipeline.http.paginators.gorest import GoRestPaginator
from users_pipeline.http.paginators.ranges import OffsetPaginator, PageNumberPaginator
from users_pipeline.http.paginators.references import (
    CursorPaginator,
    HeaderCursorPaginator,
    HeaderLinkPaginator,
    JsonLinkPaginator,
    link_with_rel,
)
from users_pipeline.http.paginators.registry import PAGINATORS, make_paginator
from users_pipeline.http.paginators.single_page import SinglePagePaginator

__all__ = [
    "PAGINATORS",
    "CrawlProofs",
    "CursorPaginator",
    "GoRestPaginator",
    "HeaderCursorPaginator",
    "HeaderLinkPaginator",
    "JsonLinkPaginator",
    "LoopGuard",
    "OffsetPaginator",
    "Page",
    "PageNumberPaginator",
    "PageRequest",
    "PageResponse",
    "Paginator",
    "ResumeError",
    "SinglePagePaginator",
    "link_with_rel",
    "make_paginator",
]
