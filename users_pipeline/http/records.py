"""A page's body and the records in it: a bare JSON array, or the list at a `data_selector`.

Paths into a body (`data_selector`, a style's `total_path`, `cursor_path`, ...) are written as
dlt users write them: dotted names (`data.items`) or the same as simple JSONPath (`$.data.items`).
"""

from __future__ import annotations

from collections.abc import Mapping

from users_pipeline import exact_json
from users_pipeline.http.errors import ApiError
from users_pipeline.http.transport import Response

# What a path may not contain: the JSONPath that selects more than one value or filters.
UNSUPPORTED_PATH_CHARACTERS = frozenset("[]*?()@'\"")
MAX_KEYS_SHOWN = 20  # of a body's top-level keys, in a message


class BodyPath:
    """A path to one value in a parsed JSON body, through objects only."""

    def __init__(self, path: str, setting: str) -> None:
        text = path.removeprefix("$").removeprefix(".") if path.startswith("$") else path
        self.names = tuple(text.split(".")) if text else ()
        if not path or UNSUPPORTED_PATH_CHARACTERS & set(path) or "" in self.names:
            raise ApiError(
                f"{setting} {path!r} is not a path of field names, such as 'data.items' or"
                " '$.data.items'"
            )
        self.path = path
        self.setting = setting

    def find(self, body: object) -> tuple[bool, object]:
        """(True, the value) when the path is in `body`, else (False, None)."""
        value = body
        for name in self.names:
            if not isinstance(value, Mapping) or name not in value:
                return False, None
            value = value[name]
        return True, value

    def value(self, body: object) -> object:
        """The value at the path; ApiError naming the path and the keys the body had."""
        found, value = self.find(body)
        if not found:
            keys = sorted(map(str, body)) if isinstance(body, Mapping) else []
            shown = ", ".join(keys[:MAX_KEYS_SHOWN] + ["..."] * (len(keys) > MAX_KEYS_SHOWN))
            had = f"its top-level keys: {shown}" if keys else f"it is a {type(body).__name__}"
            raise ApiError(f"{self.setting} {self.path!r} is not in the body ({had})")
        return value


def parse_body(content: bytes) -> object:
    """The body's JSON value, every number as the API wrote it; the one place a page's JSON is
    parsed. ValueError for a body that is not JSON."""
    return exact_json.loads(content)


def read_body(response: Response, where: str) -> object:
    """The response's JSON body; ApiError, naming what came instead, for any other body."""
    try:
        return parse_body(response.content)
    except ValueError as error:
        content_type = response.headers.get("Content-Type", "no content-type")
        raise ApiError(f"{where}: body is not JSON ({content_type}, {error})") from None


def page_records(body: object, selector: BodyPath | None, where: str, records_name: str) -> list:
    """The records of a parsed body: the body itself, or the list at `selector`; ApiError naming
    the path and the keys the body had, or what came instead of a list."""
    records = body
    if selector is not None:
        try:
            records = selector.value(body)
        except ApiError as error:
            raise ApiError(f"{where}: {error}") from None
    if not isinstance(records, list):
        at = f" at {selector.setting} {selector.path!r}" if selector is not None else ""
        raise ApiError(
            f"{where}: expected a JSON array of {records_name}{at}, got {type(records).__name__}"
        )
    return records
