"""A set of keys, integer or text, that stays small at millions of keys, so checking a day for
duplicates does not grow memory much with the day (a Python set costs about 70 bytes an integer
and 100 a short string), and checking a batch is a few vectorized numpy calls rather than a
Python loop over the set."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class KeySet:
    """Integer keys in 8 bytes each; text keys as a 64-bit hash beside their UTF-8 bytes (about
    20 bytes more than the text), so a hash collision is told from a repeat exactly. A set holds
    one kind: the kind of the first keys it is given."""

    def __init__(self) -> None:
        self._ints: _SortedRuns | None = None
        self._texts: _TextKeys | None = None

    def __len__(self) -> int:
        return len(self._ints or ()) + len(self._texts or ())

    def seen_before(self, keys: Sequence[int] | Sequence[str]) -> list[bool]:
        """For each key in order: was it in the set already (or earlier in `keys`)? Adds all."""
        if not keys:
            return []
        if isinstance(keys[0], str):
            if self._ints is not None:
                raise TypeError("this KeySet holds integer keys, not text")
            self._texts = self._texts or _TextKeys()
            return self._texts.seen_before(keys)  # type: ignore[arg-type]
        if self._texts is not None:
            raise TypeError("this KeySet holds text keys, not integers")
        self._ints = self._ints or _SortedRuns()
        return _int_keys_seen(self._ints, keys)  # type: ignore[arg-type]


class _SortedRuns:
    """Distinct int64 values in a few sorted numpy runs whose sizes at least double from newest
    to oldest (as in a log-structured merge tree), each value with an int64 payload: a batch is
    looked up in each run by binary search and becomes a new run, merged into older ones when it
    grows as large. So a day of 100-key pages and a day of 10,000-key chunks both cost
    O(n log n) in all, never O(n) per batch."""

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray | None]] = []

    def __len__(self) -> int:
        return sum(values.size for values, _ in self._runs)

    def find(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each of `values` (distinct): whether the runs hold it, and its payload (or -1)."""
        found = np.zeros(values.size, dtype=bool)
        payloads = np.full(values.size, -1, dtype=np.int64)
        for run, run_payloads in self._runs:
            positions = np.searchsorted(run, values)
            positions[positions == run.size] = 0
            here = run[positions] == values
            found |= here
            if run_payloads is not None:
                payloads[here] = run_payloads[positions[here]]
        return found, payloads

    def add(self, values: np.ndarray, payloads: np.ndarray | None = None) -> None:
        """Add `values` (sorted, distinct, none held yet), each with its payload."""
        if not values.size:
            return
        self._runs.append((values, payloads))
        while len(self._runs) > 1 and self._runs[-2][0].size <= 2 * self._runs[-1][0].size:
            newer, newer_payloads = self._runs.pop()
            older, older_payloads = self._runs.pop()
            merged = np.concatenate([older, newer])
            if newer_payloads is None or older_payloads is None:
                merged.sort(kind="stable")  # two sorted runs: timsort merges them in linear time
                self._runs.append((merged, None))
                continue
            order = np.argsort(merged, kind="stable")
            payloads = np.concatenate([older_payloads, newer_payloads])[order]
            self._runs.append((merged[order], payloads))


def _int_keys_seen(runs: _SortedRuns, keys: Sequence[int]) -> list[bool]:
    batch = np.fromiter(keys, dtype=np.int64, count=len(keys))
    uniques, first_index, inverse = np.unique(batch, return_index=True, return_inverse=True)
    known, _ = runs.find(uniques)
    seen = known[inverse]
    repeated = np.ones(batch.size, dtype=bool)  # later copies of a key within the batch
    repeated[first_index] = False
    runs.add(uniques[~known])
    return (seen | repeated).tolist()


class _TextKeys:
    """Text keys by their 64-bit hash in `_SortedRuns`, the payload each key's number; the
    keys' UTF-8 bytes one after another in `_bytes`, key n ending at `_ends[n]`. A batch is
    looked up by hash in numpy; only a key whose hash was seen (a repeat, or rarely another key
    with the same hash) is compared with the text stored for that hash. A key whose hash
    another key holds is kept in `_collided`, a plain set."""

    def __init__(self) -> None:
        self._hashes = _SortedRuns()
        self._bytes = bytearray()
        self._ends = np.zeros(1024, dtype=np.int64)  # grown by doubling; `_count` are used
        self._count = 0
        self._collided: set[str] = set()

    def __len__(self) -> int:
        return self._count + len(self._collided)

    def seen_before(self, keys: Sequence[str]) -> list[bool]:
        hashes = np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys))
        uniques, first_index, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        found, numbers = self._hashes.find(uniques)
        new = np.flatnonzero(~found)
        positions = np.sort(first_index[new])  # of the new keys, in the batch's order
        first_number = self._append(
            keys if positions.size == len(keys) else [keys[i] for i in positions.tolist()]
        )
        numbers[new] = first_number + np.argsort(inverse[positions])
        self._hashes.add(uniques[new], numbers[new])
        repeated = np.ones(len(keys), dtype=bool)  # later copies of a hash within the batch
        repeated[first_index] = False
        seen = found[inverse] | repeated
        for position in np.flatnonzero(seen).tolist():  # in order: `_collided` grows as it goes
            key = keys[position]
            if self._stored(int(numbers[inverse[position]])) != key:
                seen[position] = key in self._collided
                self._collided.add(key)
        return seen.tolist()

    def _append(self, new: Sequence[str]) -> int:
        """Store the texts of `new` keys, numbered in order from the number returned."""
        joined = "".join(new)
        if joined.isascii():
            data = joined.encode()
            lengths = np.fromiter(map(len, new), dtype=np.int64, count=len(new))
        else:
            encoded = [key.encode() for key in new]
            data = b"".join(encoded)
            lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        first, count = self._count, self._count + len(new)
        if count > self._ends.size:
            self._ends = np.resize(self._ends, max(count, 2 * self._ends.size))
        start = self._ends[first - 1] if first else 0
        self._ends[first:count] = start + np.cumsum(lengths)
        self._bytes += data
        self._count = count
        return first

    def _stored(self, number: int) -> str:
        start = int(self._ends[number - 1]) if number else 0
        return self._bytes[start : int(self._ends[number])].decode()
