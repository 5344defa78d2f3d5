"""Exception hierarchy: one class per user-facing failure, each with its exit code.

Exit codes follow sysexits(3) so that a shell pipeline can branch on them; the
CLI turns any :class:`LowopsError` into a one-line message and this code.
"""

from __future__ import annotations


class LowopsError(Exception):
    """Base class of every error lowops reports to a user."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        assert message, "every lowops error says what failed and what to do"
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(LowopsError):
    """A command-line value is malformed (a window label, a version id)."""

    exit_code = 2


class WindowError(UsageError):
    """A window label cannot be parsed or lies outside what can be processed."""


class UnknownVersionError(UsageError):
    """A model version id that the registry does not hold."""


class NotPendingError(UsageError):
    """Approve or reject named a version that is not waiting for approval."""


class NothingToRollBackError(UsageError):
    """Rollback found no earlier live version in the deploy history."""


class DataError(LowopsError):
    """The data does not fit the contract: missing column, wrong type, unknown categories."""

    exit_code = 65


class SmokeTestFailed(DataError):
    """A version failed its smoke test; the message names the check and why."""


class DatabaseError(LowopsError):
    """The database is unreachable, refused the login or failed the query."""

    exit_code = 69


class ClusterError(LowopsError):
    """The Dask scheduler does not answer, or a local cluster cannot start."""

    exit_code = 69


class WriteError(LowopsError):
    """A file cannot be written: disk full, permission, read-only filesystem."""

    exit_code = 73


class LockHeldError(LowopsError):
    """Another lowops process holds the repository lock."""

    exit_code = 75


class IntegrityError(LowopsError):
    """A digest does not match, a pointer dangles, or an artifact was tampered with."""

    exit_code = 77


class ConfigError(LowopsError):
    """The configuration is invalid: the message names the file and key path."""

    exit_code = 78


class NotTrainedError(ConfigError):
    """The project has no live model yet, so nothing can score."""
