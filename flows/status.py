"""`qcat status`: is every configured catalog fresh and healthy? For cron, monitoring and CI.

Reads DuckDB read-only and asks Prefect's REST API (when one is configured) for the next run
over plain HTTP, so that it answers in a fraction of a second without importing Prefect.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from flows.config import Config
from flows.database import db_path, reading
from flows.prefect_api import prefect_api
from flows.secrets import printable_url
from flows.sqlfiles import run
from flows.timespec import FUTURE_SLACK

FAILING = frozenset({"auth_error", "unavailable", "invalid"})
DEPLOYMENT_NAME = "qcat-nightly"
SERVE_MARKER = "qcat-serve.json"


@dataclass(frozen=True)
class CatalogStatus:
    license: str
    provider: str
    last_pull_at: datetime | None
    last_status: str | None
    last_models: int | None
    last_ok_at: datetime | None
    problem: str | None


def catalog_statuses(
    config: Config, stale_after: timedelta, now: datetime | None = None, on_wait: Callable[[], None] | None = None
) -> list[CatalogStatus]:
    """`on_wait`: called once if a load holds the database, so that a person knows why nothing shows."""
    now = now or datetime.now(timezone.utc)
    rows = {(row[0], row[1]): row[2:] for row in _last_pulls(config, on_wait)}
    statuses = []
    for license, provider in config.catalogs:
        last_pull_at, last_status, last_models, last_ok_at = rows.get((license.name, provider), (None, None, None, None))
        if last_pull_at is None:
            problem = "never pulled"
        elif last_status in FAILING:
            problem = f"failing ({last_status})"
        elif last_status == "suspect":
            problem = "suspect pull pending"
        elif last_pull_at > now + FUTURE_SLACK:
            problem = "dated in the future"
        elif last_ok_at is None or now - last_ok_at > stale_after:
            problem = "stale"
        else:
            problem = None
        statuses.append(CatalogStatus(license.name, provider, last_pull_at, last_status, last_models, last_ok_at, problem))
    return statuses


def local_prefect_home(config: Config) -> Path:
    """Where `qcat serve` keeps the state of the Prefect server it starts."""
    return Path(os.environ.get("PREFECT_HOME") or config.data_dir / "prefect")


def served_api(config: Config) -> tuple[str, int] | None:
    """The API of the Prefect server a running `qcat serve` started, and that process's id, as it
    left them in its Prefect home: without them `qcat status` in another shell, where
    PREFECT_API_URL is not set, could not say when the served flow runs next. A marker left by a
    `qcat serve` that was killed names a process that is gone, and counts for nothing."""
    try:
        marker = json.loads((local_prefect_home(config) / SERVE_MARKER).read_text(encoding="utf-8"))
        api, pid = str(marker["api_url"]), int(marker["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except PermissionError:
        pass  # alive, run by another user
    except OSError:
        return None
    return api, pid


def next_scheduled_run(config: Config) -> str:
    """When the served or deployed nightly flow runs next, as the Prefect API says."""
    api = os.environ.get("PREFECT_API_URL")
    served = None if api else served_api(config)
    if served is not None:
        api = served[0]
    if not api:
        return "unknown (PREFECT_API_URL is not set and no `qcat serve` is running for this data directory)"
    shown = printable_url(api) if served is None else f"{printable_url(api)} (`qcat serve`, process {served[1]})"
    try:
        with prefect_api(api) as client:
            deployments = _listed(client, "/deployments/filter", {"deployments": {"name": {"any_": [DEPLOYMENT_NAME]}}})
            if not deployments:
                return f"none (no {DEPLOYMENT_NAME} deployment on {shown})"
            runs = _listed(
                client,
                "/flow_runs/filter",
                {
                    "deployments": {"id": {"any_": [d.get("id") for d in deployments]}},
                    "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
                    "sort": "EXPECTED_START_TIME_ASC",
                    "limit": 1,
                },
            )
    except httpx.HTTPStatusError as exc:
        return f"unknown (Prefect API at {shown} answered HTTP {exc.response.status_code})"
    except (httpx.HTTPError, ValueError) as exc:
        return f"unknown (Prefect API at {shown} unreachable or not answering as Prefect does: {type(exc).__name__})"
    return str(runs[0].get("expected_start_time")) if runs else "none scheduled"


def _listed(client: httpx.Client, path: str, body: dict) -> list[dict]:
    response = client.post(path.lstrip("/"), json=body)
    response.raise_for_status()
    found = response.json()
    if not isinstance(found, list) or not all(isinstance(item, dict) for item in found):
        raise ValueError("not a list of objects")
    return found


def _last_pulls(config: Config, on_wait: Callable[[], None] | None) -> list[tuple]:
    path = db_path(config.data_dir)
    if not path.exists():
        return []
    with reading(path, config.lock_timeout_seconds, on_wait) as con:
        return run(con, "catalog_last_pulls").fetchall()
