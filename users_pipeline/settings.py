"""Every default of the pipeline and every environment variable name it reads, stated once.

Two kinds of settings:

- a source's own (its API URL, token, page size, table, prefix, cron) are named in its
  `sources/<name>/defs.yaml`, which lists the variables each is read from; only their defaults are
  here. Messages name them through `SettingNames`, so a todos source's errors say `TODOS_API_URL`;
- the pipeline's (data dir, first day, executor, handover, Celery) are shared by every source and
  keep the names deployments already set.

Standard library only: the bundled GoRest-compatible server imports it too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

# --- The pipeline's own settings (every source shares them) -------------------------------------

DATA_DIR_SETTING = "USERS_PIPELINE_DATA_DIR"
DEFAULT_DATA_DIR = ".data"
# Under the data dir: day files as fetched, the local archive (without a bucket), the embedded
# PostgreSQL (without a database URL).
RAW_FOLDER = "raw"
LOCAL_ARCHIVE_FOLDER = "archive"
EMBEDDED_POSTGRES_FOLDER = "postgres"

FIRST_DAY_SETTING = "USERS_FIRST_DAY"
DEFAULT_FIRST_DAY = date(2026, 1, 1)  # unset: `users-pipeline-init` writes today's into ENV_FILE
ENV_FILE = ".env"  # every Dagster command loads it from its working directory

EXECUTOR_SETTING = "USERS_PIPELINE_EXECUTOR"
EXECUTORS = ("in_process", "celery")  # the first is the default
HANDOVER_SETTING = "USERS_PIPELINE_HANDOVER"
HANDOVERS = ("local", "archive")  # the first is the default
CELERY_BROKER_SETTING = "CELERY_BROKER_URL"
CELERY_BACKEND_SETTING = "CELERY_RESULT_BACKEND"
VISIBILITY_TIMEOUT_SETTING = "CELERY_VISIBILITY_TIMEOUT"
DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 3600
# The Celery queue of each kind of step (unset: dagster-celery's default queue).
QUEUE_SETTINGS = {"fetch": "CELERY_FETCH_QUEUE", "load": "CELERY_LOAD_QUEUE"}

# --- Defaults of a source's settings (its defs.yaml names the variables) ------------------------

# GoRest caps `per_page` at 100 and silently serves its default, 10, above the cap.
GOREST_MAX_PAGE_SIZE = 100
GOREST_DEFAULT_PAGE_SIZE = 10
DEFAULT_PAGE_SIZE = GOREST_MAX_PAGE_SIZE
DEFAULT_PAGINATOR = "gorest"  # the pagination style, by its name in `http.paginators`
DEFAULT_MAX_ATTEMPTS = 5  # per request, before the run fails
DEFAULT_MAX_PAGE_BYTES = 16 * 1024 * 1024  # a larger body fails the run instead of filling memory
DEFAULT_TIMEOUT_SECONDS = 30.0  # per request
DEFAULT_BACKOFF_SECONDS = 1.0  # the first retry's wait; doubles with each attempt
MAX_BACKOFF_SECONDS = 60.0
MAX_CONCURRENCY = 16  # pages in flight at once, at most
DEFAULT_CONCURRENCY = 4  # when the API states no rate limit
DEFAULT_SCHEDULE_CRON = "15 0 * * *"  # UTC
DEFAULT_MAX_CRAWLS = 3  # crawls to try while the list drifts
DEFAULT_MAX_REJECT_SHARE = 0.01  # the largest share of invalid records a day may have and load
# The largest share of the current rows a new latest day may mark deleted, and still load.
DEFAULT_MAX_DELETE_SHARE = 0.2
# The largest change in a day's row count against the previous loaded day's, before a warning.
DEFAULT_MAX_COUNT_CHANGE = 0.1
# Archive and database settings every source reads unless its YAML names others.
SHARED_ARCHIVE_SETTINGS = {
    "bucket": "S3_BUCKET",
    "endpoint_url": "S3_ENDPOINT_URL",
    "region": "AWS_REGION",
    "access_key_id": "AWS_ACCESS_KEY_ID",
    "secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "session_token": "AWS_SESSION_TOKEN",
    "gzip": "ARCHIVE_GZIP",
}
SHARED_POSTGRES_SETTINGS = {
    "database_url": "DATABASE_URL",
    "host": "PG_HOST",
    "port": "PG_PORT",
    "user": "PG_USER",
    "password": "PG_PASS",
    "dbname": "PG_DB",
}


def data_dir() -> Path:
    """Where day files land and the embedded defaults live, for every source."""
    return Path(os.environ.get(DATA_DIR_SETTING) or DEFAULT_DATA_DIR)


@dataclass(frozen=True)
class SettingNames:
    """What a source's settings are called in messages: the environment variable its YAML reads
    each from, else the YAML key itself (`api.url`), for a setting given no variable."""

    names: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, key: str) -> str:
        return self.names.get(key, key)
