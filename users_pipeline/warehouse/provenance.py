"""Where a day being loaded came from, as its manifest says. No Dagster imports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class DayProvenance:
    """The day's snapshot and the object it is read from: only a complete crawl may mark
    records deleted, and the `_loads` log keeps the object's URI and sha256. `records`, the
    valid records its manifest counts, is room to keep their row hashes in (0: unknown)."""

    snapshot_date: date
    crawl_complete: bool
    source_uri: str
    sha256: str
    records: int = 0
