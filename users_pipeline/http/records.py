"""The records in a page's body: a bare JSON array of them."""

from __future__ import annotations

import orjson

from users_pipeline.http.errors import ApiError
from users_pipeline.http.transport import Response


def page_records(response: Response, where: str, records_name: str) -> list:
    """The body's records; ApiError, naming what came instead, for any other body."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError as error:
        content_type = response.headers.get("Content-Type", "no content-type")
        raise ApiError(f"{where}: body is not JSON ({content_type}, {error})") from None
    if not isinstance(body, list):
        raise ApiError(
            f"{where}: expected a JSON array of {records_name}, got {type(body).__name__}"
        )
    return body
