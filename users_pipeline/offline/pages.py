"""GoRest's lists as served: where each one is, which page a request asks for, and that page
with GoRest's pagination headers."""

from __future__ import annotations

import json
import math

from users_pipeline.settings import GOREST_DEFAULT_PAGE_SIZE

API_PATH = "/public/v2"
# The lists served at API_PATH/<name>, users first: the pipeline's own list.
RESOURCES = ("users", "posts", "comments", "todos")


def list_name(path: str) -> str | None:
    """'/public/v2/todos/' -> 'todos'; None for anything that is not one of the lists."""
    parent, _, name = path.rstrip("/").rpartition("/")
    return name if parent == API_PATH and name in RESOURCES else None


def page_number(query: dict[str, str]) -> int:
    return _query_int(query, "page", 1)


def page_size(query: dict[str, str], cap: int) -> int:
    """The `per_page` asked for, or GoRest's default above `cap`: GoRest caps it silently."""
    asked = _query_int(query, "per_page", GOREST_DEFAULT_PAGE_SIZE)
    return GOREST_DEFAULT_PAGE_SIZE if asked > cap else asked


def page_response(
    listed: list[dict], url: str, page: int, per_page: int
) -> tuple[bytes, dict[str, str]]:
    """The JSON body and pagination headers of one page of `listed`, the list served at `url`.

    `listed` is sliced, not copied: a million users would cost a million pointer copies.
    """
    total = len(listed)
    page_count = math.ceil(total / per_page)
    start = (page - 1) * per_page
    records = listed[start : start + per_page]
    body = json.dumps(records, ensure_ascii=False, separators=(",", ":"))
    headers = {
        "X-Pagination-Total": str(total),
        "X-Pagination-Pages": str(page_count),
        "X-Pagination-Page": str(page),
        "X-Pagination-Limit": str(per_page),
        "X-Links-Current": _page_url(url, page, per_page),
        "X-Links-Next": _page_url(url, page + 1, per_page) if page < page_count else "",
        "X-Links-Previous": _page_url(url, page - 1, per_page) if page > 1 else "",
    }
    return body.encode("utf-8"), headers


def _page_url(url: str, page: int, per_page: int) -> str:
    # Like GoRest (Yii), per_page appears in links only when it is not the default.
    if per_page == GOREST_DEFAULT_PAGE_SIZE:
        return f"{url}?page={page}"
    return f"{url}?page={page}&per_page={per_page}"


def _query_int(query: dict[str, str], name: str, default: int) -> int:
    """GoRest ignores a non-integer or non-positive page/per_page and uses the default."""
    try:
        value = int(query.get(name, default))
    except ValueError:
        return default
    return value if value >= 1 else default
