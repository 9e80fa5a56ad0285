"""A set of 64-bit keys in 8 bytes each, so checking a day of millions of users for duplicates
does not grow memory with the day (a Python set costs about 70 bytes a key), and checking a batch
is a few vectorized numpy calls rather than a Python loop."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class KeySet:
    """Keys kept in a few sorted numpy runs whose sizes at least double from newest to oldest
    (as in a log-structured merge tree): a batch is looked up in each run by binary search and
    becomes a new run, merged into older ones when it grows as large. So a day of 100-key pages
    and a day of 10,000-key chunks both cost O(n log n) in all, never O(n) per batch."""

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    def __len__(self) -> int:
        return sum(run.size for run in self._runs)

    def seen_before(self, keys: Sequence[int]) -> list[bool]:
        """For each key in order: was it in the set already (or earlier in `keys`)? Adds all."""
        if not keys:
            return []
        batch = np.fromiter(keys, dtype=np.int64, count=len(keys))
        uniques, first_index, inverse = np.unique(batch, return_index=True, return_inverse=True)
        known = np.zeros(uniques.size, dtype=bool)
        for run in self._runs:
            positions = np.searchsorted(run, uniques)
            positions[positions == run.size] = 0
            known |= run[positions] == uniques
        seen = known[inverse]
        repeated = np.ones(batch.size, dtype=bool)  # later copies of a key within the batch
        repeated[first_index] = False
        seen |= repeated
        new = uniques[~known]
        if new.size:
            self._runs.append(new)
        while len(self._runs) > 1 and self._runs[-2].size <= 2 * self._runs[-1].size:
            newest = self._runs.pop()
            merged = np.concatenate([self._runs.pop(), newest])
            merged.sort(kind="stable")  # two sorted runs: timsort merges them in linear time
            self._runs.append(merged)
        return seen.tolist()
