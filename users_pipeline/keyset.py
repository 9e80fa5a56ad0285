"""A set of 64-bit keys in about 8 bytes each, so checking a day of millions of users for
duplicates does not grow memory with the day (a Python set costs about 70 bytes a key)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RECENT_LIMIT = 1 << 18


class KeySet:
    """Keys live in a sorted numpy array, plus a Python set of recent keys that is merged into
    the array every 262,144 additions (about 20 MB at most): lookups are vectorized per batch,
    and merges are few (timsort merges the sorted array and the new run)."""

    def __init__(self) -> None:
        self._sorted = np.empty(0, dtype=np.int64)
        self._recent: set[int] = set()

    def __len__(self) -> int:
        return self._sorted.size + len(self._recent)

    def seen_before(self, keys: Sequence[int]) -> list[bool]:
        """For each key in order: was it in the set already (or earlier in `keys`)? Adds all."""
        if not keys:
            return []
        in_sorted = [False] * len(keys)
        if self._sorted.size:
            batch = np.fromiter(keys, dtype=np.int64, count=len(keys))
            positions = np.searchsorted(self._sorted, batch)
            positions[positions == self._sorted.size] = 0
            in_sorted = (self._sorted[positions] == batch).tolist()
        recent = self._recent
        seen = []
        for key, old in zip(keys, in_sorted, strict=True):
            if old or key in recent:
                seen.append(True)
            else:
                recent.add(key)
                seen.append(False)
        if len(recent) >= RECENT_LIMIT:
            merged = np.concatenate([self._sorted, np.fromiter(recent, dtype=np.int64)])
            merged.sort(kind="stable")
            self._sorted = merged
            recent.clear()
        return seen
