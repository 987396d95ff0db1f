"""Exceptions raised by twin.

Every user mistake (a bad file, a bad argument) raises :class:`InputError` with one message
that names the file or argument, what was expected and what was found. The CLI prints that
message as one line and exits with status 2; it never shows a traceback for these.
"""


class TwinError(Exception):
    """Base class of every error twin raises on purpose."""


class InputError(TwinError, ValueError):
    """A file, scene key or argument is invalid."""


class BackendUnavailableError(TwinError, ImportError):
    """A ray-casting backend was asked for but cannot run on this machine."""


class MissingDependencyError(TwinError, ImportError):
    """An optional extra (``twin[viz]``, ``twin[gpu]``) that a feature needs is not installed.

    Not an input mistake: the CLI exits with its own status (4) and names the extra to install.
    """
