"""The HTTP layer's one error type."""

from users_pipeline.errors import PipelineError


class ApiError(PipelineError):
    """A request or a crawl that cannot succeed: one line naming the URL, the page and the cause,
    and the setting to check."""
