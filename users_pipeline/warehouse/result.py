"""What one load did to the table. No Dagster imports."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LoadResult:
    """What one load did to the table."""

    staged: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    deleted: int  # records absent from this complete snapshot, newly marked deleted
    unseen: int  # records of the previous latest snapshot absent from this one
    table_rows: int
    current_rows: int
    table_changes: list[str] = field(default_factory=list)  # what bringing the tables up changed
    # History the bookkeeping lost (a dropped `_loads` or `_rejects`), and what to run about it.
    notices: list[str] = field(default_factory=list)
    skipped: bool = False  # already loaded from the same object: nothing was read or written

    @classmethod
    def of_skipped_day(
        cls, rows_loaded: int, rows_rejected: int, table_rows: int, current_rows: int
    ) -> LoadResult:
        """A day already loaded from the same object, as its `_loads` row recorded it."""
        return cls(
            staged=rows_loaded,
            inserted=0,
            updated=0,
            unchanged=rows_loaded,
            rejected=rows_rejected,
            deleted=0,
            unseen=0,
            table_rows=table_rows,
            current_rows=current_rows,
            skipped=True,
        )
