"""A day's manifest: the proof of its crawl and the identity of its files."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import orjson


@dataclass(frozen=True)
class Manifest:
    """What a day's crawl saw and the size and sha256 of the day's files: written beside them
    last, so its presence says the day is complete, and archived with them."""

    source_url: str
    fetch_started_at: str
    fetch_finished_at: str
    crawl_attempts: int
    crawl_complete: bool
    crawl_problems: list[str]
    total_at_start: int | None
    total_at_end: int | None
    distinct_ids: int
    repeated_ids: int
    short_pages: list[int]
    pages: int
    records: int
    valid_records: int
    rejected_records: int
    unknown_fields: list[str]
    bytes: int
    sha256: str
    rejects_bytes: int
    rejects_sha256: str
    # Whether records absent from this day are marked deleted (a manifest without it predates
    # pagination styles that state no total, so its crawl states one).
    soft_deletes: bool = True
    # Pages an interrupted crawl of the day had saved, which this crawl went on from (0: none).
    pages_resumed: int = 0

    @property
    def marks_deletions(self) -> bool:
        """Only a complete crawl of a day that marks deletions proves a record gone."""
        return self.crawl_complete and self.soft_deletes

    def to_json(self) -> bytes:
        """One line, like every object in the archive: a lake table of manifests reads it."""
        return orjson.dumps(asdict(self), option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        return cls(**orjson.loads(data))
