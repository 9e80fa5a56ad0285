"""The run launcher's health check: which pid is a live run worker, on this machine."""

import os
import subprocess
import sys
import time

import psutil

from users_pipeline.orchestration.launcher import process_alive


def test_a_running_process_that_started_before_the_run_event_is_alive():
    assert process_alive(os.getpid(), time.time())


def test_a_pid_held_by_a_process_started_after_the_run_event_is_not_the_worker():
    """After a reboot a dead worker's pid may belong to a newer process."""
    started = psutil.Process(os.getpid()).create_time()
    assert not process_alive(os.getpid(), started - 60)


def test_an_exited_worker_is_dead_whether_or_not_its_parent_reaped_it():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not process_alive(child.pid, time.time())  # a zombie: exited, not yet reaped
    child.wait()
    assert not process_alive(child.pid, time.time())  # gone
