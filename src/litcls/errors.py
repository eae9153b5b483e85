"""The one exception type for user mistakes: the CLI prints its message, never a traceback."""


class UserError(Exception):
    """A problem the user can fix (bad flag, bad folder); the message says which and how."""
