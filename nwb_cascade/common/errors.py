"""The base class of every error nwb-cascade raises on purpose.

Each such error carries a message that names the problem and what to do about it; the command
line prints it in one line (exit status 2).  Specific errors derive from :class:`NWBCascadeError`
and, where callers expect one, from the matching built-in (``ValueError`` for bad input,
``OSError`` for files and the network).
"""


class NWBCascadeError(Exception):
    """A problem with the input, a file, a model or the network, with what to do about it."""


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (Ctrl-C, SIGTERM); the message says in which state it left the file.

    A ``KeyboardInterrupt``, not an ``Exception``: no ``except Exception`` on the way may swallow it.
    """

    def __init__(self, message: str, signal_number: int | None = None) -> None:
        super().__init__(message)
        self.signal_number = signal_number
