"""The one exception type for errors a user caused and can fix, in the service and the scripts."""


class UserError(Exception):
    """An error the user caused and can fix: its message names the thing and the fix, and it is
    printed as one line, without a traceback."""
