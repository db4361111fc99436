"""Typed errors that the CLI and the flow turn into one-line messages and stable exit codes."""


class QcatError(Exception):
    """Base class: its message is meant for a person and must never contain a secret."""

    exit_code = 1


class ConfigError(QcatError):
    """The configuration file is missing, unreadable or invalid."""

    exit_code = 2


class SecretError(QcatError):
    """An API key could not be resolved for a license (reported as that catalog's failure)."""


class ArchiveError(QcatError):
    """The archive is unreadable or inconsistent, so DuckDB cannot be derived from it."""


class StorageError(QcatError):
    """The data directory failed qcat (a full disk, a read-only mount, an I/O error): not a bug of qcat's."""


class LockTimeout(QcatError):
    """Another qcat process holds the data directory's writer lock for too long."""

    exit_code = 3


class UsageError(QcatError):
    """A command-line argument or query cannot be understood."""

    exit_code = 2


def port_unavailable(host: str, port: int, exc: OSError) -> UsageError:
    """A port that cannot be listened on is the user's to change, in `qcat simulate` as in `qcat serve`."""
    return UsageError(f"--port: cannot listen on {host}:{port} ({exc.strerror}); choose another port")
