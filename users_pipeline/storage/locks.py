"""Locks: a shared or exclusive lock on a file, held by this process until the block ends, and
the lock on a day's folder built on it.

Why a platform seam rather than filelock's `ReadWriteLock`, its portable shared/exclusive lock:
that lock is a SQLite database, one instance per path per process by default, which raises
`RuntimeError` instead of waiting when another thread holds the opposite mode; in a folder the
group or others can write (umask 002) it adds directories of hard links beside the file, which a
killed process leaves behind; and it exists only since filelock 3.21, which Dagster does not
require. So: `flock` on POSIX, where shared and exclusive both exist, the kernel drops a dead
process's lock, and every test runs; on Windows, which has no `fcntl`, filelock's `FileLock` for
both modes: a shared holder then waits for another, slower when two uploads of a day meet but
never wrong. `fcntl` is imported only when a lock is taken, so the package imports everywhere.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path


def file_lock(path: Path, *, shared: bool = False) -> AbstractContextManager[None]:
    """Wait for `path` (created if missing) shared with other shared holders, or alone."""
    if sys.platform == "win32":
        return exclusive_file_lock(path)
    return posix_file_lock(path, shared=shared)


@contextmanager
def posix_file_lock(path: Path, *, shared: bool = False) -> Iterator[None]:
    """`flock`: per open file, so two holders in one process exclude each other too."""
    import fcntl

    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield


@contextmanager
def exclusive_file_lock(path: Path) -> Iterator[None]:
    """filelock's platform lock, exclusive in both modes (Windows has no shared `flock`)."""
    from filelock import FileLock

    with FileLock(path):
        yield


@contextmanager
def day_lock(folder: Path, shared: bool = False) -> Iterator[None]:
    """Serialize work on one day's folder on this machine: a fetch rewrites the day's three files
    (exclusive), which an upload (shared) or a second fetch must not see half-way."""
    folder.mkdir(parents=True, exist_ok=True)
    with file_lock(folder / ".lock", shared=shared):
        yield
