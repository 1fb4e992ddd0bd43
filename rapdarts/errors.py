"""User-facing errors.

Anything a user can cause (a typo in an op name, a missing data directory, a malformed JSON file)
raises :class:`RapdartsError`. The CLI prints its message as one line without a traceback, so the
message must name the culprit and the fix.
"""


class RapdartsError(Exception):
    """An error caused by input or environment; its message is shown to the user verbatim."""


class Interrupted(Exception):
    """A run stopped by the user (Ctrl-C); the message is the command that continues it."""
