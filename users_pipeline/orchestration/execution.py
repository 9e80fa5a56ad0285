"""Where a run's steps execute, and how the day passes between them.

By default every step of a run executes in the run's own process (the graph is a straight line,
so nothing could run in parallel, and each extra process would pay Python's start and Dagster's
import again), and the fetch leaves the day on the local disk for the archive step. Two settings
change that, read when the definitions load (the workers load them too):

- `USERS_PIPELINE_EXECUTOR=celery`: each step is a task on Dagster's Celery executor, taken by
  whichever worker is free (`dagster-celery worker start`), with the broker and result backend of
  `CELERY_BROKER_URL` and `CELERY_RESULT_BACKEND`. A task is acknowledged only once it finished,
  so a worker killed mid-step leaves it on the broker, and another worker runs the step again
  after the visibility timeout (`CELERY_VISIBILITY_TIMEOUT`, seconds; longer than any step).
  Fetches go to the queue `CELERY_FETCH_QUEUE` and the archive and load steps to
  `CELERY_LOAD_QUEUE` when set (say, fetches on machines the API allows, loads near the
  database); unset, every step goes to dagster-celery's default queue.
- `USERS_PIPELINE_HANDOVER=archive`: the fetch also uploads the day to the archive's `_staging/`
  keys, so the archive step can run on a machine with another disk (see `storage.upload`).
"""

from __future__ import annotations

import os

import dagster as dg

from users_pipeline.errors import PipelineError
from users_pipeline.settings import (
    CELERY_BACKEND_SETTING,
    CELERY_BROKER_SETTING,
    DEFAULT_VISIBILITY_TIMEOUT_SECONDS,
    EXECUTOR_SETTING,
    EXECUTORS,
    HANDOVER_SETTING,
    HANDOVERS,
    QUEUE_SETTINGS,
    VISIBILITY_TIMEOUT_SETTING,
)


class ExecutionSettingError(PipelineError):
    """A setting of this module with a value it does not know; the message names it."""


def _choice(setting: str, choices: tuple[str, ...]) -> str:
    value = (os.environ.get(setting) or choices[0]).strip()
    if value not in choices:
        raise ExecutionSettingError(f"{setting}={value!r} is not one of: {', '.join(choices)}")
    return value


def step_tags(kind: str) -> dict[str, str]:
    """The op tags of a `fetch` or `load` step: its Celery queue, if one is set for its kind."""
    queue = (os.environ.get(QUEUE_SETTINGS[kind]) or "").strip()
    return {"dagster-celery/queue": queue} if queue else {}


def day_handover() -> str:
    """`local` (the default: a run's steps share one disk) or `archive`."""
    return _choice(HANDOVER_SETTING, HANDOVERS)


def executor() -> dg.ExecutorDefinition:
    """The executor of every source's job, from `USERS_PIPELINE_EXECUTOR`."""
    if _choice(EXECUTOR_SETTING, EXECUTORS) == "in_process":
        return dg.in_process_executor
    try:
        from dagster_celery import celery_executor
    except ImportError:
        raise ExecutionSettingError(
            f"{EXECUTOR_SETTING}=celery needs dagster-celery: pip install 'users_pipeline[celery]'"
        ) from None
    timeout = os.environ.get(VISIBILITY_TIMEOUT_SETTING) or DEFAULT_VISIBILITY_TIMEOUT_SECONDS
    if not str(timeout).isdigit():
        raise ExecutionSettingError(f"{VISIBILITY_TIMEOUT_SETTING}={timeout!r} is not seconds")
    return celery_executor.configured(
        {
            "broker": {"env": CELERY_BROKER_SETTING},
            "backend": {"env": CELERY_BACKEND_SETTING},
            "config_source": celery_settings(int(timeout)),
        },
        name="celery",
    )


def celery_settings(visibility_timeout: int) -> dict[str, object]:
    """The Celery settings the run process and every worker share (the workers' YAML repeats
    them: see the README)."""
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "broker_transport_options": {
            "visibility_timeout": visibility_timeout,
            # Look for the tasks of dead workers every second, not every ~100 s (kombu's default).
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        },
    }
