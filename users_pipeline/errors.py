"""The one error type users see: a one-line message naming the setting, URL, object or record."""


class PipelineError(RuntimeError):
    """A failure the user can act on. Messages never contain secrets: URLs are redacted and
    tokens, keys and passwords are never formatted into them."""
