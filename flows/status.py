"""`qcat status`: is every configured catalog fresh and healthy? For cron, monitoring and CI.

Reads DuckDB read-only and asks Prefect's REST API (when one is configured) for the next run
over plain HTTP, so that it answers in a fraction of a second without importing Prefect.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx

from flows.config import Config
from flows.config import parse_span as config_span
from flows.database import db_path, open_database
from flows.sqlfiles import run

FAILING = frozenset({"auth_error", "unavailable", "invalid"})
DEPLOYMENT_NAME = "qcat-nightly"


@dataclass(frozen=True)
class CatalogStatus:
    license: str
    provider: str
    last_pull_at: datetime | None
    last_status: str | None
    last_models: int | None
    last_ok_at: datetime | None
    problem: str | None


def parse_span(text: str) -> timedelta:
    """'36h', '2d', '90m', '45s': how old a last good pull may be before the catalog is stale."""
    return config_span(text, "--stale-after")


def catalog_statuses(config: Config, stale_after: timedelta, now: datetime | None = None) -> list[CatalogStatus]:
    now = now or datetime.now(timezone.utc)
    rows = {(row[0], row[1]): row[2:] for row in _last_pulls(config)}
    statuses = []
    for license, provider in config.catalogs:
        last_pull_at, last_status, last_models, last_ok_at = rows.get((license.name, provider), (None, None, None, None))
        if last_pull_at is None:
            problem = "never pulled"
        elif last_status in FAILING:
            problem = f"failing ({last_status})"
        elif last_status == "suspect":
            problem = "suspect shrink pending"
        elif last_ok_at is None or now - last_ok_at > stale_after:
            problem = "stale"
        else:
            problem = None
        statuses.append(CatalogStatus(license.name, provider, last_pull_at, last_status, last_models, last_ok_at, problem))
    return statuses


def next_scheduled_run() -> str:
    """When the served or deployed nightly flow runs next, as the Prefect API says."""
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        return "unknown (PREFECT_API_URL is not set; `qcat serve` or a Prefect server schedules runs)"
    try:
        deployments = httpx.post(f"{api}/deployments/filter", json={"deployments": {"name": {"any_": [DEPLOYMENT_NAME]}}}, timeout=5).json()
        if not deployments:
            return f"none (no {DEPLOYMENT_NAME} deployment on {api})"
        runs = httpx.post(
            f"{api}/flow_runs/filter",
            json={
                "deployments": {"id": {"any_": [d["id"] for d in deployments]}},
                "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
                "sort": "EXPECTED_START_TIME_ASC",
                "limit": 1,
            },
            timeout=5,
        ).json()
    except (httpx.HTTPError, ValueError) as exc:
        return f"unknown (Prefect API at {api} unreachable: {type(exc).__name__})"
    return runs[0]["expected_start_time"] if runs else "none scheduled"


def _last_pulls(config: Config) -> list[tuple]:
    path = db_path(config.data_dir)
    if not path.exists():
        return []
    con = open_database(path, read_only=True, wait_seconds=10)
    try:
        return run(con, "catalog_last_pulls").fetchall()
    finally:
        con.close()
