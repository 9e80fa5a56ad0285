"""The latest day's rows as a 128-bit hash per key, so the next day stages only what differs.

Each row is hashed by its record's line of the day file (xxHash's XXH3-128 of the bytes the API
sent), which is read before the row is decoded: under one contract, the same line always gives
the same row, so the next day decodes only the lines whose hash differs (rows handed over
without their lines are hashed as `copy_rows` formats them). The hashes of the latest day
loaded are kept by key in `<table>_hashes`: integer keys and their hashes, sorted by key, in
parts of `PART_ROWS`, 24 bytes a row. The next day looks each of its rows up there: a row whose
hash is the same is the row the table holds (every record of the latest day is stored as that
day sent it, with `last_seen` NULL), and is neither staged nor joined; the keys the day lacks
are the previous day's records that are gone. The table's own history columns still decide
everything else (see `statements`).

The hashes are used only if they were made by the latest day the `_loads` log lists (its date
and sha256) under this very contract, and only for a new latest day. Anything else falls back
to the full join of the day against the table: a past day, a table the load empties or adopts,
a lost log (which also leaves the only rows with the unknown `last_seen`, none of them hashed),
a text key. The table is unlogged: a crash empties it, which only costs one full join. No
Dagster imports.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import compress
from operator import itemgetter

import numpy as np
import xxhash
from psycopg import sql

from users_pipeline.contract.field import INTEGER_RANGES
from users_pipeline.contract.record import RecordContract, Row
from users_pipeline.contract.validation import LinedRows
from users_pipeline.warehouse.copy_rows import encode_json_lines
from users_pipeline.warehouse.statements import LoadStatements

PART_ROWS = 1 << 13  # keys and hashes per row of `<table>_hashes`: 192 KiB, little to hold
_HASH = np.dtype((np.uint64, 2))  # XXH3-128, as two 64-bit words

# Stored as they are: the hashes do not compress, and trying costs time (before PostgreSQL 16,
# CREATE TABLE cannot say so itself).
_CREATE = (
    "CREATE UNLOGGED TABLE IF NOT EXISTS {hashes} (part integer PRIMARY KEY,"
    " snapshot_date date NOT NULL, sha256 text NOT NULL, contract text NOT NULL,"
    " keys bytea NOT NULL, hashes bytea NOT NULL);"
    " ALTER TABLE {hashes} ALTER keys SET STORAGE EXTERNAL, ALTER hashes SET STORAGE EXTERNAL"
)
# Every part made by the latest day the log lists, under this contract; how many rows, the
# lowest key and the highest (the first and last 8 bytes of the parts, in key order).
_USABLE = (
    "SELECT count(*) = count(*) FILTER (WHERE (h.snapshot_date, h.sha256, h.contract)"
    " = (l.snapshot_date, l.sha256, %(contract)s)), sum(length(h.keys)) / 8,"
    " (array_agg(substring(h.keys FOR 8) ORDER BY h.part))[1],"
    " (array_agg(substring(h.keys FROM length(h.keys) - 7) ORDER BY h.part DESC))[1]"
    " FROM {hashes} AS h, (SELECT snapshot_date, sha256 FROM {loads}"
    " ORDER BY snapshot_date DESC LIMIT 1) AS l"
)


def contract_digest(contract: RecordContract) -> str:
    """What the hashes depend on besides the records: every column, its type, where in the
    record it is read, each constant, and what is hashed (a record's line)."""
    fields = [(f.name, f.type, f.sql_type, f.value, f.key, f.keys) for f in contract.fields]
    return xxhash.xxh3_64_hexdigest(repr(["record lines", fields]).encode())


def line_hashes(batch: Sequence[Row]) -> np.ndarray:
    """The hash of each row of a batch, in order: of its record's line of the day file
    (`LinedRows`), which needs no decoding; else of the row as `copy_rows` formats it."""
    if isinstance(batch, LinedRows):
        lines = batch.lines
    else:
        lines = encode_json_lines(batch).split(b"\n")[:-1]
    return np.frombuffer(b"".join(map(xxhash.xxh3_128_digest, lines)), dtype=_HASH)


class DayHashes:
    """A day's keys and row hashes as its rows are copied, in their order."""

    def __init__(self, contract: RecordContract, expected_rows: int = 0) -> None:
        self._key = itemgetter(contract.key_index)
        self.keys = np.empty(expected_rows, dtype=np.int64)
        self.hashes = np.empty(expected_rows, dtype=_HASH)
        self.count = 0

    def select(self, batch: Sequence[Row]) -> Sequence[Row]:
        """Keep the batch's hashes; every row is copied."""
        start, end = self.count, self.count + len(batch)
        if end > self.keys.size:  # more rows than expected: grow by half
            size = max(end, self.keys.size * 3 // 2, 1024)
            self.keys = np.resize(self.keys, size)
            self.hashes = np.resize(self.hashes, (size, 2))
        rows = batch.rows if isinstance(batch, LinedRows) else batch  # all copied: decoded
        self.keys[start:end] = np.fromiter(map(self._key, rows), np.int64, len(rows))
        self.hashes[start:end] = line_hashes(batch)
        self.count = end
        return rows

    def parts(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The keys and hashes sorted by key, `PART_ROWS` at a time. Keys in order, or in
        reverse, need no sort; else they are sorted in place, with no second copy of the day:
        each key is shifted left to make room for its position, so one sort of the keys orders
        both (an argsort would take another 8 bytes a row)."""
        keys, hashes = self.keys[: self.count], self.hashes[: self.count]
        if not keys.size:
            return
        rising = keys[1:] > keys[:-1]
        if rising.all() or not rising.any():  # as an API pages in key order: no sort
            if not rising.all():
                keys, hashes = keys[::-1], hashes[::-1]
            for start in range(0, keys.size, PART_ROWS):
                yield keys[start : start + PART_ROWS], hashes[start : start + PART_ROWS]
            return
        del rising
        low, bits = keys.min(), max(1, (keys.size - 1).bit_length())
        if (int(keys.max()) - int(low)) >> (63 - bits):  # keys too far apart to shift
            order = np.argsort(keys)
            for start in range(0, keys.size, PART_ROWS):
                taken = order[start : start + PART_ROWS]
                yield keys[taken], hashes[taken]
            return
        keys -= low
        keys <<= bits
        for start in range(0, keys.size, PART_ROWS):
            part = keys[start : start + PART_ROWS]
            part |= np.arange(start, start + part.size)
        keys.sort()
        for start in range(0, keys.size, PART_ROWS):
            part = keys[start : start + PART_ROWS]
            yield (part >> bits) + low, hashes[part & ((1 << bits) - 1)]


class ChangedRows:
    """The day's rows against the previous day's hashes (sorted by key, changed in place into
    this day's): `select` keeps only the rows whose hash differs or whose key is new. Keys are
    held less the lowest, in 32 bits when they fit: 20 bytes a row instead of 24."""

    def __init__(
        self, contract: RecordContract, keys: np.ndarray, hashes: np.ndarray, low: int
    ) -> None:
        self._key = itemgetter(contract.key_index)
        self.keys, self.hashes, self.low = keys, hashes, low
        self.seen = np.zeros(keys.size, dtype=bool)
        self._new: list[tuple[np.ndarray, np.ndarray]] = []
        self._changed = 0

    def select(self, batch: Sequence[Row]) -> Sequence[Row]:
        keys = batch.keys() if isinstance(batch, LinedRows) else map(self._key, batch)
        keys, hashes = np.fromiter(keys, np.int64, len(batch)), line_hashes(batch)
        held = keys - self.low
        inside = (held >= 0) & (held <= int(self.keys[-1]))
        held = held.astype(self.keys.dtype)
        at = np.searchsorted(self.keys, held).clip(max=self.keys.size - 1)
        known = inside & (self.keys[at] == held)
        same = known & (self.hashes[at] == hashes).all(axis=1)
        self.seen[at[known]] = True
        changed = known & ~same
        self.hashes[at[changed]] = hashes[changed]
        self._changed += int(changed.sum())
        if not known.all():
            self._new.append((keys[~known], hashes[~known]))
        if same.all():
            return []
        kept = (~same).tolist()
        return batch.subset(kept) if isinstance(batch, LinedRows) else list(compress(batch, kept))

    def new_keys(self) -> np.ndarray:
        """The keys of this day that the previous day lacked, sorted."""
        return np.sort(np.concatenate([keys for keys, _ in self._new] or [np.empty(0, np.int64)]))

    def same_as_before(self) -> bool:
        """Whether this day's rows are the previous day's, every one."""
        return not (self._new or self._changed) and bool(self.seen.all())

    def gone(self) -> list[int]:
        """The previous day's keys this day lacks."""
        return self._keys(slice(None), ~self.seen).tolist()

    def _keys(self, part: slice, kept: np.ndarray) -> np.ndarray:
        """The keys of `part` that `kept` picks, as they are."""
        return self.keys[part][kept].astype(np.int64) + self.low

    def parts(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """This day's keys and hashes, sorted by key: the previous day's seen again, with the
        new ones merged in where they belong."""
        new_keys = np.concatenate([keys for keys, _ in self._new] or [np.empty(0, np.int64)])
        new_hashes = np.concatenate([h for _, h in self._new] or [np.empty((0, 2), np.uint64)])
        order = np.argsort(new_keys)
        new_keys, new_hashes = new_keys[order], new_hashes[order]
        # How many new keys sort before the end of each part of old ones (the last takes the rest).
        starts = range(0, self.keys.size, PART_ROWS)
        last_of_each = self.keys[PART_ROWS - 1 :: PART_ROWS].astype(np.int64) + self.low
        ends = np.searchsorted(new_keys, last_of_each, side="right")
        pieces: list[tuple[np.ndarray, np.ndarray]] = []
        for number, start in enumerate(starts):
            first = ends[number - 1] if number else 0
            end = ends[number] if number < len(starts) - 1 else new_keys.size
            part = slice(start, start + PART_ROWS)
            kept = self.seen[part]
            keys, hashes = self._keys(part, kept), self.hashes[part][kept]
            if end > first:  # new keys among these: merged in
                keys = np.concatenate([keys, new_keys[first:end]])
                hashes = np.concatenate([hashes, new_hashes[first:end]])
                order = np.argsort(keys, kind="stable")
                keys, hashes = keys[order], hashes[order]
            pieces.append((keys, hashes))
            if sum(piece.size for piece, _ in pieces) >= PART_ROWS:
                yield from _in_parts(pieces)
        yield from _in_parts(pieces, last=True)


def _in_parts(
    pieces: list[tuple[np.ndarray, np.ndarray]], last: bool = False
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Sorted pieces of keys and hashes as parts of PART_ROWS, taken off the front of `pieces`;
    what does not fill a part stays in it, unless `last`."""
    if not pieces:
        return
    keys = np.concatenate([keys for keys, _ in pieces])
    hashes = np.concatenate([hashes for _, hashes in pieces])
    pieces.clear()
    full = keys.size if last else keys.size - keys.size % PART_ROWS
    for start in range(0, full, PART_ROWS):
        end = min(start + PART_ROWS, full)
        yield keys[start:end], hashes[start:end]
    if full < keys.size:
        pieces.append((keys[full:], hashes[full:]))


def hashed(contract: RecordContract) -> bool:
    """Whether a table of this contract keeps row hashes: integer keys only."""
    return contract.key.type in INTEGER_RANGES


def previous_hashes(statements: LoadStatements) -> ChangedRows | None:
    """The latest day's hashes, to compare this day with, if they may be used (see above)."""
    if statements.cursor.execute(
        "SELECT to_regclass(%s) IS NULL", (statements.table.hashes.regclass,)
    ).fetchone()[0]:
        return None
    statements.params["contract"] = contract_digest(statements.contract)
    usable, rows, lowest, highest = statements.fetch(_USABLE)
    if not usable or not rows:
        return None
    low, high = (int.from_bytes(end, "little", signed=True) for end in (lowest, highest))
    keys = np.empty(rows, dtype=np.uint32 if high - low < 1 << 32 else np.int64)
    hashes = np.empty(rows, dtype=_HASH)
    filled = 0
    select = sql.SQL("SELECT keys, hashes FROM {} ORDER BY part").format(
        statements.fragments["hashes"]
    )
    # One part at a time, so the day is never held twice.
    with statements.cursor.connection.cursor(name="_load_hashes", binary=True) as parts:
        parts.itersize = 1
        for part_keys, part_hashes in parts.execute(select):
            part = np.frombuffer(part_keys, dtype="<i8")
            keys[filled : filled + part.size] = part - low
            hashes[filled : filled + part.size] = np.frombuffer(part_hashes, dtype=_HASH)
            filled += part.size
    return ChangedRows(statements.contract, keys, hashes, low)


def keep_hashes(statements: LoadStatements, day: DayHashes | ChangedRows | None) -> None:
    """Replace the kept hashes with this day's (None: keep none). A day the same as the
    previous one only puts its date and sha256 on them."""
    if isinstance(day, ChangedRows) and day.same_as_before():
        statements.run(
            "UPDATE {hashes} SET (snapshot_date, sha256) = (%(snapshot_date)s, %(sha256)s)"
        )
        return
    exists = not statements.cursor.execute(
        "SELECT to_regclass(%s) IS NULL", (statements.table.hashes.regclass,)
    ).fetchone()[0]
    if exists:
        statements.run("TRUNCATE {hashes}")  # as cheap as it gets: loads of the table queue
    if day is None:
        return
    if not exists:
        statements.run(_CREATE)
    copy = sql.SQL(
        "COPY {} (part, snapshot_date, sha256, contract, keys, hashes) FROM STDIN"
        " (FORMAT binary, FREEZE)"
    ).format(statements.fragments["hashes"])
    made_by = (statements.provenance.snapshot_date, statements.provenance.sha256)
    contract = contract_digest(statements.contract)
    with statements.cursor.copy(copy) as rows:
        rows.set_types(["integer", "date", "text", "text", "bytea", "bytea"])
        for number, (keys, hashes) in enumerate(day.parts()):
            rows.write_row(
                (number, *made_by, contract, keys.astype("<i8").tobytes(), hashes.tobytes())
            )
