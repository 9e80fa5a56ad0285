"""How a list endpoint is walked and read, checked in one place: when the definitions load (no
request is made) and when a run makes its client. A setting that cannot work fails in one line
naming it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from users_pipeline.http.errors import ApiError
from users_pipeline.http.paginators import Paginator, make_paginator
from users_pipeline.http.records import BodyPath
from users_pipeline.settings import DEFAULT_PAGE_SIZE, MAX_CONCURRENCY, SettingNames


@dataclass(frozen=True)
class ListEndpoint:
    """A list endpoint's pagination style, the query parameters of every request, where a
    body's records are (None: the body is the array), how many pages may be in flight
    (None: as the rate limit allows), and the rate the API allows when its responses state none
    (None: unlimited; where they state one too, both apply, so the lower wins)."""

    paginator: Paginator
    params: Mapping[str, object]
    data_selector: BodyPath | None
    concurrency: int | None
    requests_per_minute: int | None = None


def list_endpoint(
    paginator: str | Mapping[str, object] | None = None,
    *,
    names: SettingNames,
    page_size: int = DEFAULT_PAGE_SIZE,
    params: Mapping[str, object] | None = None,
    data_selector: str | None = None,
    concurrency: int | None = None,
    requests_per_minute: int | None = None,
) -> ListEndpoint:
    """The settings of `api.paginator` (unset: GoRest's, `page_size` a page), `api.params`,
    `api.data_selector`, `api.concurrency` and `api.requests_per_minute`, checked; messages
    name them by `names`."""
    if concurrency is not None and not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ApiError(
            f"{names('api.concurrency')} must be between 1 and {MAX_CONCURRENCY}, got {concurrency}"
        )
    if requests_per_minute is not None and requests_per_minute < 1:
        raise ApiError(
            f"{names('api.requests_per_minute')} must be at least 1, got {requests_per_minute}"
        )
    return ListEndpoint(
        make_paginator(paginator, page_size=page_size, names=names),
        fixed_params(params or {}, names),
        None if data_selector is None else BodyPath(data_selector, names("api.data_selector")),
        concurrency,
        requests_per_minute,
    )


def fixed_params(params: Mapping[str, object], names: SettingNames) -> dict[str, object]:
    """The fixed query parameters of a source's settings; each a text, a number or true/false
    (sent as `true`/`false`)."""
    checked: dict[str, object] = {}
    for key, value in params.items():
        if isinstance(value, bool):
            checked[str(key)] = str(value).lower()
        elif isinstance(value, str | int | float):
            checked[str(key)] = value
        else:
            raise ApiError(
                f"{names(f'api.params.{key}')} must be a text, a number or true/false,"
                f" got {value!r}"
            )
    return checked
