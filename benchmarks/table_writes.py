"""Rows written into a table by a step, as PostgreSQL counts them, not as the step reports them.

The load's metadata says what it meant to write (`rows_inserted`, `rows_updated`, ...); the
steady-state claim ("a day without changes writes zero rows, a day where 1% changed writes only
those") is about what reached the table. So the benchmark reads the table's cumulative counters in
`pg_stat_user_tables` before and after the step, and reports the difference of
`n_tup_ins + n_tup_upd + n_tup_del`: every row version the step inserted, updated (HOT or not) or
deleted in that table, whichever statement did it. The staging table, the `_loads` log and the
`_rejects` quarantine are other relations and are not counted.

A backend sends its counters to the shared statistics when it goes idle (at most once a second)
and, always, when it exits. The step runs in a subprocess whose connection is closed when it
exits, so before reading, this waits until no other client backend is connected (a backend's
pending statistics are flushed before it leaves `pg_stat_activity`), then reads, after
`pg_stat_force_next_flush()` in its own session, until two reads agree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

SETTLE_TIMEOUT_SECONDS = 15.0
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class TableWrites:
    """A table's cumulative row counters (zero for a table that does not exist)."""

    relid: int | None
    inserted: int = 0
    updated: int = 0
    deleted: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.deleted

    def since(self, before: TableWrites) -> TableWrites:
        """What was written between `before` and this reading. A table dropped and created
        again in between is a new relation, whose counters started at zero."""
        if before.relid != self.relid:
            before = TableWrites(self.relid)
        return TableWrites(
            self.relid,
            self.inserted - before.inserted,
            self.updated - before.updated,
            self.deleted - before.deleted,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "deleted": self.deleted,
            "total": self.total,
        }


_OTHER_CLIENTS = (
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
)
_COUNTERS = (
    "SELECT relid, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables"
    " WHERE relid = to_regclass(%s)"
)


def table_writes(database_url: str, table: str) -> TableWrites:
    """The counters of `table` (`schema.table`) once every other session has ended and the
    counters are stable; raises if other sessions are still connected after a while."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
        while conn.execute(_OTHER_CLIENTS).fetchone()[0]:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"other sessions still connected after {SETTLE_TIMEOUT_SECONDS:g} s:"
                    f" cannot read {table}'s write counters"
                )
            time.sleep(POLL_SECONDS)
        previous = None
        deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
        while True:
            # Autocommit: each read is its own transaction, so no cached statistics snapshot.
            conn.execute("SELECT pg_stat_force_next_flush()")
            row = conn.execute(_COUNTERS, (table,)).fetchone()
            reading = TableWrites(*row) if row else TableWrites(None)
            if reading == previous or time.monotonic() > deadline:
                return reading
            previous = reading
            time.sleep(POLL_SECONDS)
