"""The one exception type for errors a user caused and can fix."""


class PipelineError(Exception):
    """An error the user caused and can fix; printed without a traceback."""
