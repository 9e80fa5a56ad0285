"""Dagster's default run launcher, with the run worker health check it lacks.

`DefaultRunLauncher` starts each run in a process forked by the code location's server and
cannot tell when that process died, so a run whose worker was killed (SIGKILL, OOM, a reboot)
stays STARTED: it holds a place in the run queue and the schedule takes its day as taken. This
launcher answers run monitoring's health check from the worker's pid, which the run's first
event records ("Started process for run (pid: N)"), so run monitoring marks a dead run failed
at its next poll, and run retries try the day again.

Only a worker on this machine can be checked. A run with no such event (one the CLI runs in its
own process, or a code server on another host) is reported running: the run's maximum runtime
is its bound.
"""

from __future__ import annotations

import json
import socket

import psutil
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

# The run tag in which the launcher records the code server it launched the run on.
GRPC_INFO_TAG = ".dagster/grpc_info"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", socket.gethostname()}
# A process created later than this after the run's start event is another one with its pid.
CREATE_TIME_SLACK_SECONDS = 1.0


def process_alive(pid: int, started_by: float) -> bool:
    """Whether process `pid` runs, and is the one that started by `started_by` (a timestamp):
    after a reboot the pid may be another process's. A killed child its parent has not reaped
    yet (a zombie) is dead."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return process.create_time() <= started_by + CREATE_TIME_SLACK_SECONDS
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process: it exists, and cannot be judged
        return True


def run_worker(instance: DagsterInstance, run: DagsterRun) -> tuple[int, float] | None:
    """The pid of the run's worker and when it reported starting, if it runs on this machine."""
    grpc = json.loads(run.tags.get(GRPC_INFO_TAG) or "{}")
    if not grpc.get("socket") and grpc.get("host") not in LOCAL_HOSTS:
        return None
    events = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)
    for record in events.records:  # the worker's own start comes before any step's process
        data = record.event_log_entry.dagster_event.engine_event_data
        pid = data.metadata.get("pid") if data else None
        if pid is not None:
            return int(pid.value), record.timestamp
    return None


class PidCheckingRunLauncher(DefaultRunLauncher):
    """`DefaultRunLauncher` whose run workers run monitoring can check (see the module)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        worker = run_worker(self._instance, run)
        if worker is None:
            return CheckRunHealthResult(
                WorkerStatus.RUNNING, "no run worker on this machine to check: max runtime applies"
            )
        pid, started = worker
        if process_alive(pid, started):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker pid {pid} is running")
        return CheckRunHealthResult(WorkerStatus.NOT_FOUND, f"run worker pid {pid} is gone")
