"""Call the nightly flow in this process and turn its final state back into summaries.

Prefect's defaults suit a long-lived server; a command-line run on a laptop or in CI wants no
telemetry, a generous start-up limit for the temporary API server, and no heartbeat thread.
"""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import datetime
from typing import Any

from flows.pipeline import CatalogSummary
from flows.prefect_api import require_reachable

PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    # the temporary API server logs event-flush tracebacks when it stops with the process
    "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL",
}


def prefect_defaults() -> None:
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)


def run_nightly(config_path: str | None, observed_at: datetime | None = None) -> list[CatalogSummary]:
    prefect_defaults()
    require_reachable()
    if not os.environ.get("PREFECT_API_URL"):
        temporary_server_apart()
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.nightly import nightly

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        state = nightly(config_path=config_path, observed_at=observed_at, return_state=True)
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    return result


class _OwnProcessGroup:
    """The subprocess module as Prefect's server module sees it: its children start in a process
    group of their own, and uvicorn (the server) under flows/prefect_server.py, which stops it when
    qcat is gone. Everything but Popen is the module's."""

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    @staticmethod
    def Popen(args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:  # noqa: N802 - subprocess's name
        if args[1:3] == ["-m", "uvicorn"]:
            args = [args[0], "-m", "flows.prefect_server", str(os.getpid()), *args[3:]]
        return subprocess.Popen(args, process_group=0, **kwargs)


def temporary_server_apart() -> None:
    """Prefect's temporary API server is a child process, and by default in qcat's process group: a
    terminal's Ctrl-C stops it along with qcat, and Prefect then spends minutes retrying to record
    the interrupted run on it before qcat can exit, with an internal error (150 s and exit 70 here).
    In a group of its own it outlives the Ctrl-C, records the crash, and is stopped when qcat exits,
    as Prefect always stops it."""
    import prefect.server.api.server as server

    server.subprocess = _OwnProcessGroup()  # type: ignore[assignment]


def interrupt_on_termination(signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGHUP)) -> None:
    """SIGTERM (a service manager, `kill`) and SIGHUP (a closed terminal) end a command the way Ctrl-C
    does, so that Prefect records the crash and stops its temporary server at exit: by default
    Python would die on the spot and leave that server running. Only where the signal still has its
    default action: `nohup` ignores SIGHUP on purpose, and that must hold."""
    for signum in signals:
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
