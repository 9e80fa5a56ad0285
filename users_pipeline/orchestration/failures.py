"""A PipelineError as Dagster's `Failure`: the run shows our one-line message first."""

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import Failure

from users_pipeline.errors import PipelineError


@contextmanager
def failure_on_pipeline_error() -> Iterator[None]:
    """Report a PipelineError as a Dagster `Failure`, so the run shows its one-line message at
    the top instead of under a wrapped framework error. Also usable as a decorator."""
    try:
        yield
    except PipelineError as error:
        raise Failure(description=str(error)) from None

