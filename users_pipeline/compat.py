"""The project's own older formats, in one place, each piece saying when it can be deleted.

Each piece turns an older format into the current one where the pipeline meets it (the table
setup, the JSON Lines reader, the archive layout), so the rest of the code knows only the current
formats. No Dagster imports; the contract imports the former column names from here, so this
module imports no other module of the package at load time.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from users_pipeline.warehouse.table_name import TableName

# --- Tables ---
# A deployed table in an older format is migrated in the first load's own transaction, which
# reports the change among its table changes.

# `snapshot_date`: every record's latest snapshot, rewritten daily (a write per record a day),
# before `last_seen`. Delete once every deployed table has been loaded since `last_seen` came;
# a field may then take the name again.
FORMER_LAST_SEEN = "snapshot_date"
FORMER_COLUMNS = frozenset({FORMER_LAST_SEEN})


def migrate_snapshot_date(
    conn: psycopg.Connection, table: TableName, columns: Collection[str]
) -> str | None:
    """Turn the former `snapshot_date` of a table with these `columns` into `last_seen`: the
    same dates, NULL for the records seen in the latest snapshot loaded. The change made, or
    None: the table has no former column."""
    if FORMER_LAST_SEEN not in columns or "deleted_at" not in columns or "last_seen" in columns:
        return None
    target, loads = table.identifier, table.loads
    conn.execute(
        sql.SQL("ALTER TABLE {} RENAME {} TO last_seen").format(
            target, sql.Identifier(FORMER_LAST_SEEN)
        )
    )
    conn.execute(sql.SQL("ALTER TABLE {} ALTER last_seen DROP NOT NULL").format(target))
    has_log = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (loads.regclass,)).fetchone()[0]
    latest_in = (
        sql.SQL("SELECT max(snapshot_date) FROM {}").format(loads.identifier)
        if has_log
        else sql.SQL("SELECT max(last_seen) FROM {}").format(target)
    )
    latest_seen = conn.execute(
        sql.SQL(
            "UPDATE {} SET last_seen = NULL WHERE last_seen = ({}) AND deleted_at IS NULL"
        ).format(target, latest_in)
    ).rowcount
    return (
        f"replaced {FORMER_LAST_SEEN} by last_seen, NULL for the {latest_seen} records in"
        " the latest snapshot"
    )


# `user_id`: the `_rejects` quarantine's column of the rejected record's key, named for the
# users source, before `record_key`. Delete once every deployed quarantine has been loaded into
# since `record_key` came.
FORMER_RECORD_KEY = "user_id"


def migrate_rejects_key(conn: psycopg.Connection, rejects: TableName) -> str | None:
    """Rename an existing quarantine's `user_id` to `record_key`: the change made, or None."""
    found = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = %s::regclass"
        " AND attname = %s AND NOT attisdropped)",
        (rejects.regclass, FORMER_RECORD_KEY),
    ).fetchone()[0]
    if not found:
        return None
    conn.execute(
        sql.SQL("ALTER TABLE {} RENAME {} TO record_key").format(
            rejects.identifier, sql.Identifier(FORMER_RECORD_KEY)
        )
    )
    return f"renamed column {FORMER_RECORD_KEY} of {rejects} to record_key"


# --- Files ---
# Days archived before the archive became JSON Lines: the records as one JSON array (`[` on the
# first line, `{...},` lines, `]` on the last) at `<prefix>/dt=DAY/<name>.json`, the manifest
# beside them as `manifest.json`, and the rejects under `<prefix>/rejects/`. Delete once no
# archive a deployment may rebuild from holds a day in that layout (re-archive such days by
# loading and exporting them, or drop them).


def is_json_array_file(first_line: bytes) -> bool:
    """Whether a day file begins like the former JSON-array format."""
    return first_line.strip() == b"["


def json_array_batches(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """The rest of a JSON array after its `[` line, as JSON arrays of the records in each block
    of whole lines: `{...},` lines, then `]` alone on the last."""
    for block in blocks:
        body = block.strip()
        if body == b"]" or body.endswith(b"\n]"):
            body = body[:-1].rstrip()
        if body := body.rstrip(b","):
            yield b"[" + body + b"]"


def json_array_day_keys(key: Callable[..., str], name: str, partition: str) -> tuple[str, ...]:
    """The records, rejects and manifest keys of a day archived in the former layout, built
    with the layout's own `key` (prefix and all)."""
    return (
        key(partition, f"{name}.json"),
        key("rejects", partition, "rejects.json"),
        key(partition, "manifest.json"),
    )
