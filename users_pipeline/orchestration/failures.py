"""A PipelineError as a Dagster failure: the run shows our one-line message first."""

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from dagster import DagsterInvariantViolationError, Failure, OpExecutionContext

from users_pipeline.errors import PipelineError, RefusalError

NEXT_STEP = "next step"
# Marks a failure that refused the request before doing anything: the alerts skip it.
REFUSED = "refused"


class PipelineFailure(Failure):
    """A run stopped by a `PipelineError`. Dagster's step-failure panel names the failure by
    this class and prints its stack below the message: the name says the project stopped the
    run on purpose, the description says why."""


@contextmanager
def failure_on_pipeline_error() -> Iterator[None]:
    """Report a PipelineError as a `PipelineFailure`, its one line also logged as an ERROR of
    its own just before the failure event, so the run's log reads it first. Also usable as a
    decorator, on a step or a resource's setup (which has no step to log to)."""
    try:
        yield
    except PipelineError as error:
        message = str(error)
        # A resource's setup has no step to log to: Dagster reports it as the run's failure.
        with suppress(DagsterInvariantViolationError):
            OpExecutionContext.get().log.error(message)
        metadata: dict[str, object] = {NEXT_STEP: error.next_step} if error.next_step else {}
        if isinstance(error, RefusalError):
            metadata[REFUSED] = True
        raise PipelineFailure(description=message, metadata=metadata or None) from None
