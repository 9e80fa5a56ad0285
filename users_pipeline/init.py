"""`users-pipeline-init`: the first day of a new deployment, written where every process reads it.

The daily partitions start on `USERS_FIRST_DAY`, and the webserver, the daemon, each run worker
and each Celery worker must agree on it, whatever disk each runs on. Every Dagster command loads
`.env` from its working directory, so a deployment run from one directory shares the `.env`
written here. Without it the partitions start on the default first day, and the UI counts every
day since then as missing although none of them could have been fetched. Standard library only.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import date
from pathlib import Path

from users_pipeline.errors import PipelineError
from users_pipeline.settings import ENV_FILE, FIRST_DAY_SETTING
from users_pipeline.snapshot.days import first_day, utc_today

_SET = re.compile(rf"^\s*(?:export\s+)?{FIRST_DAY_SETTING}\s*=\s*['\"]?([^'\"#\s]*)", re.MULTILINE)


def write_first_day(env_file: Path, day: date) -> str:
    """Set the first day in `env_file` unless it already sets one (a deployment's partitions
    never move under it); what was done, in one line."""
    text = env_file.read_text() if env_file.exists() else ""
    kept = _SET.search(text)
    if kept:
        return f"{env_file} keeps {FIRST_DAY_SETTING}={kept.group(1)}"
    separator = "" if not text or text.endswith("\n") else "\n"
    env_file.write_text(
        f"{text}{separator}# The first daily partition: this deployment's first snapshot."
        f" Every Dagster command run from this directory reads it.\n"
        f"{FIRST_DAY_SETTING}={day.isoformat()}\n"
    )
    return f"{env_file}: {FIRST_DAY_SETTING}={day.isoformat()} (the first daily partition)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="users-pipeline-init",
        description=f"Write {FIRST_DAY_SETTING} (today, UTC, unless given) into {ENV_FILE}, so"
        " that every Dagster process started from this directory has the same daily partitions.",
    )
    parser.add_argument("--first-day", help="YYYY-MM-DD, not in the future (default: today)")
    parser.add_argument("--env-file", type=Path, default=Path(ENV_FILE), help="default: .env")
    args = parser.parse_args(argv)
    today = utc_today()
    try:
        day = first_day(args.first_day, today) if args.first_day else today
        print(write_first_day(args.env_file, day))
    except (PipelineError, OSError) as error:
        print(f"users-pipeline-init: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
