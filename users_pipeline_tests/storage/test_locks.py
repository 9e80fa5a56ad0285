"""The day lock: uploads share a day, a fetch has it alone, and the package imports without fcntl.

Holders are threads of one process, the hardest case for a file lock (two processes exclude each
other whenever two threads do).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from users_pipeline.storage.locks import day_lock, exclusive_file_lock

WAIT = 1.0  # how long a holder that should get in may take; a blocked one is watched this long


def acquired_while_held(
    held: AbstractContextManager[None], other: Callable[[], AbstractContextManager[None]]
) -> tuple[bool, bool]:
    """Whether `other` got in while `held` was held, and whether it got in once released."""
    entered = threading.Event()

    def take() -> None:
        with other():
            entered.set()

    with held:
        thread = threading.Thread(target=take, daemon=True)
        thread.start()
        while_held = entered.wait(WAIT)
    after = entered.wait(10)
    thread.join(10)
    return while_held, after


@pytest.mark.skipif(sys.platform == "win32", reason="Windows shares nothing: both modes exclusive")
def test_uploads_share_a_day(tmp_path: Path) -> None:
    shared = acquired_while_held(
        day_lock(tmp_path, shared=True), lambda: day_lock(tmp_path, shared=True)
    )
    assert shared == (True, True)


def test_a_fetch_waits_for_an_upload_and_an_upload_for_a_fetch(tmp_path: Path) -> None:
    fetch_after_upload = acquired_while_held(
        day_lock(tmp_path, shared=True), lambda: day_lock(tmp_path)
    )
    upload_after_fetch = acquired_while_held(
        day_lock(tmp_path), lambda: day_lock(tmp_path, shared=True)
    )
    assert fetch_after_upload == (False, True)
    assert upload_after_fetch == (False, True)


def test_the_windows_lock_is_exclusive(tmp_path: Path) -> None:
    """The lock Windows uses for both modes, run here through filelock's backend for this OS."""
    lock_file = tmp_path / ".lock"
    result = acquired_while_held(
        exclusive_file_lock(lock_file), lambda: exclusive_file_lock(lock_file)
    )
    assert result == (False, True)


def test_the_package_imports_without_fcntl() -> None:
    """Windows has no fcntl: the package and the day lock's module must import without it."""
    code = (
        "import sys\n"
        "sys.modules['fcntl'] = None\n"  # `import fcntl` now raises ImportError, as on Windows
        "import users_pipeline, users_pipeline.snapshot.crawl\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
