"""Run one command from a small process and report its wall time and own peak RSS.

Linux carries a process's peak RSS across fork and exec: a child's `ru_maxrss` (from `wait4`) is
at least the peak RSS the *spawning* process ever had, even if it has freed that memory since.
The benchmark process has Dagster imported and, between steps, a whole day of records in memory,
so a step it spawned directly would report the benchmark's peak instead of its own. Steps are
therefore spawned through this launcher: it imports nothing but the standard library (about
10 MiB), launches the command with `subprocess.Popen`, collects it with `os.wait4(pid, 0)`, and
writes the result as JSON to REPORT_PATH.

    python -m benchmarks.spawn REPORT_PATH -- COMMAND [ARG...]

The command inherits stdin, stdout, stderr, the working directory and the environment. The
launcher exits with the command's exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

KIB_PER_MIB = 1024


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    report_path, command = args[0], args[2:]
    started = time.perf_counter()
    process = subprocess.Popen(command)
    try:
        _, status, usage = os.wait4(process.pid, 0)
    except BaseException:
        process.kill()
        process.wait()
        raise
    wall_seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    report = {
        "returncode": process.returncode,
        "wall_seconds": wall_seconds,
        "peak_rss_mib": usage.ru_maxrss / KIB_PER_MIB,  # ru_maxrss is in KiB on Linux
        "user_seconds": usage.ru_utime,
        "system_seconds": usage.ru_stime,
    }
    with open(report_path, "w") as file:
        json.dump(report, file)
    return process.returncode if process.returncode >= 0 else 128 - process.returncode


if __name__ == "__main__":
    sys.exit(main())
