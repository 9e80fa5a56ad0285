"""The columns of a source's table: the contract's fields, then the history the pipeline keeps.

Also the one rule for the names of columns and tables. No Dagster imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from users_pipeline.compat import FORMER_COLUMNS

if TYPE_CHECKING:
    from users_pipeline.contract.record import RecordContract


@dataclass(frozen=True)
class TableColumn:
    name: str
    sql_type: str  # as PostgreSQL's format_type spells it
    nullable: bool
    description: str


# The history of each record, kept beside the contract's fields.
LAST_SEEN = TableColumn(
    "last_seen", "date", True, "Latest snapshot with the record; NULL: the latest one loaded"
)
DELETED_AT = TableColumn(
    "deleted_at", "date", True, "First complete snapshot without it; NULL = current"
)
HISTORY_COLUMNS = (LAST_SEEN, DELETED_AT)
# The span of each version of a record in `<table>_history`.
VALID_FROM = TableColumn("valid_from", "date", False, "First snapshot day with these values")
VALID_TO = TableColumn(
    "valid_to", "date", True, "First snapshot day on which they no longer held; NULL = current"
)
VERSION_COLUMNS = (VALID_FROM, VALID_TO)
# The last_seen of rows whose last sighting is unknown (adopted from a table made elsewhere, or
# left by a lost `_loads` log): before any real day, so any real day supersedes them.
UNKNOWN_LAST_SEEN = date(1970, 1, 1)
# Names no field may take: the columns the pipeline keeps, and former names it migrates from.
PIPELINE_COLUMNS = frozenset(column.name for column in HISTORY_COLUMNS + VERSION_COLUMNS)
RESERVED_NAMES = PIPELINE_COLUMNS | FORMER_COLUMNS


def table_columns(contract: RecordContract) -> tuple[TableColumn, ...]:
    """The table's columns: the contract's fields in order, then the history columns."""
    declared = tuple(
        TableColumn(f.name, f.sql_type, f.nullable, f.description) for f in contract.fields
    )
    return declared + HISTORY_COLUMNS


def history_columns(contract: RecordContract) -> tuple[TableColumn, ...]:
    """`<table>_history`'s columns: the contract's fields in order, then the version's span."""
    return tuple(table_columns(contract)[: len(contract.fields)]) + VERSION_COLUMNS


def _identifier(max_length: int) -> re.Pattern[str]:
    """A name of letters, digits and underscores, not starting with a digit: it can only be
    quoted as an identifier, never read as SQL."""
    return re.compile(rf"[A-Za-z_][A-Za-z0-9_]{{0,{max_length - 1}}}")


# PostgreSQL truncates names at 63 bytes. A column may use them all; a table leaves room for
# the suffixes of the tables the warehouse keeps beside it, which must not be truncated into
# another table's name.
MAX_NAME_BYTES = 63
SIBLING_SUFFIXES = ("_loads", "_rejects", "_staging", "_hashes", "_history", "_hdays", "_changes")
COLUMN_NAME = _identifier(MAX_NAME_BYTES)
TABLE_NAME = _identifier(MAX_NAME_BYTES - max(map(len, SIBLING_SUFFIXES)))
