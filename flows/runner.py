"""Call the nightly flow in this process and turn its final state back into summaries.

Prefect's defaults suit a long-lived server; a command-line run on a laptop or in CI wants no
telemetry, a generous start-up limit for the temporary API server, and no heartbeat thread.
"""

from __future__ import annotations

import os
from datetime import datetime

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
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.nightly import nightly

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        state = nightly(config_path=config_path, observed_at=observed_at, return_state=True)
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    return result
