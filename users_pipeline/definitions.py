"""Definitions: every source declared under `sources/`, and the resources they share.

Each source (`sources/<name>/defs.yaml`, a `RestSource` component) brings its assets, daily job
and schedule, and its own resources, whose settings come from the environment variables its YAML
names (or `.env`, which the Dagster CLI loads). The clock and the data dir are shared. Unset
optional settings fall back to the embedded defaults: a local archive directory and an embedded
PostgreSQL under the data dir, so a fresh machine runs the whole graph with nothing configured.

`dg.load_from_defs_folder` looks for the project's `pyproject.toml`, which an installed wheel
does not have; the component tree is loaded from the `users_pipeline.sources` module instead, so
`dagster asset materialize -m users_pipeline` works from any directory and from a wheel.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from types import ModuleType

import dagster as dg
import yaml
from dagster.components.core.component_tree import ComponentTree
from pydantic import ValidationError

from users_pipeline import sources as sources_module
from users_pipeline.components.rest_source import RestSource
from users_pipeline.components.yaml_model import SourceDefinitionError
from users_pipeline.errors import PipelineError
from users_pipeline.orchestration.execution import day_handover, executor
from users_pipeline.orchestration.resources import (
    ArchiveResource,
    ClockResource,
    DataDirResource,
    PostgresResource,
)

SOURCES = Path(sources_module.__file__).parent


class SourceClashError(PipelineError):
    """Two sources claim the same table or archive prefix."""


def load_sources(module: ModuleType = sources_module) -> dg.Definitions:
    """Every source's assets, job, schedule and resources, from the `sources` folders."""
    root = Path(module.__file__).parent.parent
    tree = ComponentTree.from_module(defs_module=module, project_root=root)
    with warnings.catch_warnings():
        # Dagster's own loader uses its preview and beta APIs; that is not the user's concern.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        try:
            # Source by source, not `tree.build_defs()`: the whole tree's root also describes
            # every installed component library for Dagster's catalog, a third of a second on
            # every start (each CLI command and each run) for a listing this project never shows.
            folders = sorted(Path(module.__file__).parent.iterdir())
            defs = dg.Definitions.merge(
                *(
                    tree.build_defs_at_path(path)
                    for path in folders
                    if (path / "defs.yaml").exists()
                )
            )
        except Exception as error:  # Dagster wraps the cause: say it in one line
            raise _one_line(error) from None
    _check_no_clash(defs)
    return defs


def _one_line(error: BaseException) -> Exception:
    """The first problem a failed load found, as one line naming the file, the key and why."""
    while error.__cause__ is not None or error.__context__ is not None:
        if isinstance(error, (SourceDefinitionError, ValidationError)):
            break
        error = error.__cause__ or error.__context__
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        # Pydantic names the list type in the path (`record.list[FieldModel].0`): not YAML.
        where = re.sub(r"\.list\[\w+\]", "", ".".join(str(part) for part in first["loc"]))
        return SourceDefinitionError(f"{where}: {first['msg']}")
    if isinstance(error, SourceDefinitionError):
        return error
    return SourceDefinitionError(str(error).splitlines()[0])


def _check_no_clash(defs: dg.Definitions) -> None:
    """Two sources must never write one table or one prefix, whether YAML names them or the
    environment variables it points to (read here, in the environment the runs get too)."""
    claimed: dict[tuple[str, str], str] = {}
    for key, resource in (defs.resources or {}).items():
        if isinstance(resource, PostgresResource):
            kind, value = "table", resource.table
        elif isinstance(resource, ArchiveResource):
            kind, value = "prefix", resource.prefix
        else:
            continue
        name = value.get_value() if isinstance(value, dg.EnvVar) else value
        claim = (kind, (name or "").strip("/"))
        if claim in claimed:
            first, second = sorted((claimed[claim], key))
            raise SourceClashError(
                f"resources {first} and {second} both use the {kind} {claim[1]!r}:"
                " give each source in sources/ its own"
            )
        claimed[claim] = key


def source_component(name: str) -> RestSource:
    """The component of `sources/<name>/defs.yaml`."""
    document = yaml.safe_load((SOURCES / name / "defs.yaml").read_text())
    return RestSource.resolve_from_dict(document["attributes"])


# One process per run unless USERS_PIPELINE_EXECUTOR says otherwise (see `execution`).
defs = dg.Definitions.merge(
    load_sources(),
    dg.Definitions(
        resources={
            "clock": ClockResource(),
            "data_dir": DataDirResource(handover=day_handover()),
        },
        executor=executor(),
    ),
)
