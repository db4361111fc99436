"""Prefect wiring of the nightly job: pull every catalog concurrently, then load and summarise."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from flows.archive import PullRecord
from flows.client import make_http_client
from flows.config import Config, LicenseConfig, load_config
from flows.pipeline import CatalogSummary, failed, load_and_summarise, pull_one

ARTIFACT_KEY = "qcat-nightly-summary"


@task(name="pull-catalog", cache_policy=NO_CACHE, task_run_name="pull {license.name}/{provider}")
def pull_catalog(config: Config, license: LicenseConfig, provider: str, observed_at: datetime, client: httpx.Client) -> PullRecord:
    record = pull_one(config, license, provider, observed_at, client)
    message = f"{license.name}/{provider}: {record.status}"
    if record.status == "ok":
        get_run_logger().info(f"{message}, {record.model_count} models archived")
    else:
        get_run_logger().warning(f"{message}: {record.error}")
    return record


@task(name="load-history", cache_policy=NO_CACHE)
def load_history(config: Config, records: list[PullRecord]) -> list[CatalogSummary]:
    return load_and_summarise(config, records)


@flow(name="qcat-nightly")
def nightly(config_path: str | None = None, observed_at: datetime | None = None) -> list[CatalogSummary] | State:
    """One pull of every configured catalog; `observed_at` exists for simulated dates (the demo).

    A run in which any catalog failed ends Failed (so Prefect's UI and automations see it) but
    still carries every catalog's summary, without a traceback for what is not a crash.
    """
    config = load_config(config_path)
    when = (observed_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    records: list[PullRecord] = []
    crashed: list[CatalogSummary] = []
    with make_http_client(config.api) as client, ThreadPoolTaskRunner(max_workers=config.api.max_concurrency) as runner:
        futures = [
            (license, provider, runner.submit(pull_catalog, {"config": config, "license": license, "provider": provider, "observed_at": when, "client": client}))
            for license, provider in config.catalogs
        ]
        for license, provider, future in futures:
            outcome = future.result(raise_on_failure=False)
            if isinstance(outcome, PullRecord):
                records.append(outcome)
            else:
                crashed.append(CatalogSummary(license.name, provider, "error", None, 0, _one_line(outcome), None))
    summaries = load_history(config, records) + crashed
    create_table_artifact(
        key=ARTIFACT_KEY,
        table=[
            {"license": s.license, "provider": s.provider, "status": s.status, "models": s.models, "events": s.events, "error": s.error or ""}
            for s in summaries
        ],
        description=f"qcat nightly run observed at {when.isoformat()}",
    )
    bad = failed(summaries)
    if bad:
        names = ", ".join(f"{s.license}/{s.provider} ({s.status})" for s in bad)
        return Failed(message=f"{len(bad)} of {len(summaries)} catalogs need attention: {names}", data=summaries)
    return summaries


def _one_line(error: object) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"
