"""A set of 64-bit keys in 8 bytes each, so checking a day of millions of users for duplicates
does not grow memory with the day (a Python set costs about 70 bytes a key), and checking a batch
is a few vectorized numpy calls rather than a Python loop."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class KeySet:
    """Keys kept in one sorted numpy array; each batch is looked up with a binary search and then
    merged in (two sorted runs: timsort merges them in linear time)."""

    def __init__(self) -> None:
        self._sorted = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return self._sorted.size

    def seen_before(self, keys: Sequence[int]) -> list[bool]:
        """For each key in order: was it in the set already (or earlier in `keys`)? Adds all."""
        if not keys:
            return []
        batch = np.fromiter(keys, dtype=np.int64, count=len(keys))
        uniques, first_index = np.unique(batch, return_index=True)
        seen = np.ones(batch.size, dtype=bool)  # repeats within the batch...
        seen[first_index] = False
        if self._sorted.size:  # ...and keys already in the set
            positions = np.searchsorted(self._sorted, batch)
            positions[positions == self._sorted.size] = 0
            seen |= self._sorted[positions] == batch
            positions = np.searchsorted(self._sorted, uniques)
            positions[positions == self._sorted.size] = 0
            uniques = uniques[self._sorted[positions] != uniques]
        merged = np.concatenate([self._sorted, uniques])
        merged.sort(kind="stable")
        self._sorted = merged
        return seen.tolist()
