"""The one error type users see: a one-line message naming the setting, URL, object or record."""


class PipelineError(RuntimeError):
    """A failure the user can act on. Messages never contain secrets: URLs are redacted and
    tokens, keys and passwords are never formatted into them.

    `next_step`, when the error knows one, is what to do about it; the message already ends
    with it, and the run's failure shows it again as its own entry."""

    def __init__(self, message: str, next_step: str | None = None) -> None:
        super().__init__(message)
        self.next_step = next_step


class RefusalError(PipelineError):
    """A request the pipeline declines before doing anything, such as a past day's fetch: the
    person who asked sees why in the run, so it raises no alert (see `alerts`)."""
