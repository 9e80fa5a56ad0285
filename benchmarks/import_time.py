"""How long `import users_pipeline.definitions` takes in a fresh Python.

Every run, CLI command and step subprocess pays it before doing any work: importing the
definitions imports Dagster, reads the sources' YAML and builds the definitions. A day's load
takes hundredths of a second at 10,000 users, so at small sizes this import is most of a run.

Measured: the wall time of `python -c "import users_pipeline.definitions"`, a fresh process each
time, median of 5 (with the bare interpreter's start, `python -c pass`, for scale), in the
environment the CLI gets (`benchmarks.versus_dlt.clean_environment`, a private data dir). Then
one run under `-X importtime`, whose self times are summed per top-level package: where the
import time goes.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.services import ROOT
from benchmarks.versus_dlt import clean_environment

REPEATS = 5
TOP_PACKAGES = 8
IMPORT = "import users_pipeline.definitions"


def wall_seconds(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started


def self_time_by_package(importtime_output: str) -> dict[str, float]:
    """Seconds of `-X importtime`'s self times, summed per top-level package."""
    seconds: Counter[str] = Counter()
    for line in importtime_output.splitlines():
        if not line.startswith("import time:"):
            continue
        self_us, _, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if self_us.isdigit():
            seconds[name.split(".")[0]] += int(self_us) / 1e6
    return dict(seconds)


def measure_import_time(workdir: Path, repeats: int = REPEATS) -> dict[str, Any]:
    env = clean_environment(USERS_PIPELINE_DATA_DIR=str(workdir / "import_time_data"))
    python = sys.executable
    samples, bare = [], []
    for _ in range(repeats):  # in turns, so a slow moment hits both
        samples.append(wall_seconds([python, "-c", IMPORT], env))
        bare.append(wall_seconds([python, "-c", "pass"], env))
    traced = subprocess.run(
        [python, "-X", "importtime", "-c", IMPORT],
        cwd=ROOT,
        env=env,
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    packages = self_time_by_package(traced.stderr)
    top = sorted(packages.items(), key=lambda item: item[1], reverse=True)[:TOP_PACKAGES]
    return {
        "statement": IMPORT,
        "seconds": statistics.median(samples),
        "samples": samples,
        "bare_python_seconds": statistics.median(bare),
        "bare_python_samples": bare,
        "importtime_total_seconds": sum(packages.values()),
        "importtime_top_packages": dict(top),
    }


def format_import_time(result: dict[str, Any]) -> str:
    packages = result["importtime_top_packages"]
    top = ", ".join(f"{name} {seconds:.2f}" for name, seconds in packages.items())
    return (
        f"import time: `{result['statement']}` {result['seconds']:.2f} s in a fresh process"
        f" (median of {len(result['samples'])}; bare python {result['bare_python_seconds']:.2f} s);"
        f" -X importtime self time {result['importtime_total_seconds']:.2f} s, by package: {top}"
    )
