"""The peer `benchmarks.versus_dlt` compares with: dlt's `rest_api` source into PostgreSQL.

    python -m benchmarks.dlt_users --api-url http://127.0.0.1:PORT/public/v2/users
        --database-url postgresql://... --dataset versus_dlt_100000
        --pipelines-dir DIR [--pipeline-name users_versus]

What a dlt user would write for the same job: GoRest's users, every page, merged into
`<dataset>.users` on `id` (`write_disposition="merge"`), so an unchanged re-run with the same
pipeline name and working directory is a real merge that leaves the row count as it was.

GoRest states its pages in headers only (`X-Pagination-*`, no RFC `Link`), so dlt's default
`header_link` paginator would stop after page 1: pages are walked by number from 1, 100 a page,
until the first empty page (one extra request), as NOTES.md records.

Only dlt (the `bench` extra) and the standard library are imported, so the process pays dlt's
own start-up and nothing of the pipeline's. The last stdout line is one JSON object: dlt's step
timings from the pipeline's trace and the time spent importing dlt.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before dlt is imported: the import is part of what we report

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

import dlt  # noqa: E402
from dlt.sources.rest_api import rest_api_source  # noqa: E402

IMPORTED = time.perf_counter()

PAGE_SIZE = 100  # GoRest's cap


def users_source(api_url: str) -> Any:
    """dlt's declarative REST source for GoRest's users endpoint, merged on `id`."""
    base_url, path = api_url.rstrip("/").rsplit("/", 1)
    return rest_api_source(
        {
            "client": {
                "base_url": base_url + "/",
                "paginator": {
                    "type": "page_number",
                    "base_page": 1,
                    "page_param": "page",
                    "total_path": None,
                    "stop_after_empty_page": True,
                },
            },
            "resources": [
                {
                    "name": "users",
                    "endpoint": {"path": path, "params": {"per_page": PAGE_SIZE}},
                    "write_disposition": "merge",
                    "primary_key": "id",
                }
            ],
        }
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dlt_users", description=__doc__)
    parser.add_argument("--api-url", required=True, help="GoRest-compatible users endpoint")
    parser.add_argument("--database-url", required=True, help="postgresql://user:pass@host/db")
    parser.add_argument("--dataset", required=True, help="dlt dataset (a Postgres schema)")
    parser.add_argument("--pipelines-dir", required=True, help="dlt's working directory")
    parser.add_argument("--pipeline-name", default="users_versus")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pipeline = dlt.pipeline(
        pipeline_name=args.pipeline_name,
        pipelines_dir=args.pipelines_dir,
        destination=dlt.destinations.postgres(credentials=args.database_url),
        dataset_name=args.dataset,
    )
    info = pipeline.run(users_source(args.api_url))
    print(info, file=sys.stderr)
    trace = pipeline.last_trace
    steps = {
        step.step: (step.finished_at - step.started_at).total_seconds()
        for step in trace.steps
        if step.finished_at is not None
    }
    report = {
        "import_seconds": IMPORTED - STARTED,
        "steps": steps,  # extract, normalize, load (and run, which spans them)
        "script_seconds": time.perf_counter() - STARTED,
        "dlt_version": dlt.__version__,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
