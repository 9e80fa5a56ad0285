"""Definitions: every source declared under `defs/`, and the resources they share.

Each source (`defs/<name>/defs.yaml`, a `RestSource` component) brings its assets, daily job and
schedule, and its own resources, whose settings come from the environment variables its YAML
names (or `.env`, which the Dagster CLI loads). The clock and the data dir are shared. Unset
optional settings fall back to the embedded defaults: a local archive directory and an embedded
PostgreSQL under the data dir, so a fresh machine runs the whole graph with nothing configured.
"""

from dagster import Definitions, in_process_executor

from users_pipeline.components import data_dir
from users_pipeline.resources import ClockResource, DataDirResource
from users_pipeline.sources import load_sources

# Each source's graph is a straight line, so steps cannot run in parallel: running them in one
# process saves a Python start and Dagster import per step (see the README's measurements).
defs = Definitions.merge(
    load_sources(),
    Definitions(
        resources={"clock": ClockResource(), "data_dir": DataDirResource(path=str(data_dir()))},
        executor=in_process_executor,
    ),
)
