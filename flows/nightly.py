"""Prefect wiring of the nightly job: pull every catalog, load and summarise, then send alerts.

The pulls run on a plain thread pool inside one task: a Prefect task per catalog costs tens of
milliseconds of orchestration each, which for 50 catalogs outweighed the pulls themselves.
Each catalog's outcome is logged and listed in the run's artifact.
"""

from __future__ import annotations

from datetime import datetime, timezone

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed, State

from flows.alerts import DeliveryReport, deliver_due
from flows.archive import PullRecord
from flows.config import Config, load_config
from flows.errors import QcatError
from flows.pipeline import CatalogSummary, failed, instant_refused, load_and_summarise, pull_all

ARTIFACT_KEY = "qcat-nightly-summary"


@task(name="pull-catalogs", cache_policy=NO_CACHE)
def pull_catalogs(config: Config, observed_at: datetime) -> tuple[list[PullRecord], list[CatalogSummary]]:
    logger = get_run_logger()

    def report(license: str, provider: str, record: PullRecord | None, error: str | None) -> None:
        if record is not None and record.status == "ok":
            logger.info(f"{license}/{provider}: ok, {record.model_count} models archived")
        else:
            logger.warning(f"{license}/{provider}: {record.status if record else 'error'}: {error}")

    return pull_all(config, observed_at, report)


@task(name="load-history", cache_policy=NO_CACHE)
def load_history(config: Config, records: list[PullRecord]) -> list[CatalogSummary] | QcatError:
    """A busy or unreadable data directory is an expected failure: one log line, no traceback."""
    try:
        return load_and_summarise(config, records)
    except QcatError as exc:
        get_run_logger().error(str(exc))
        return exc


@task(name="send-alerts", cache_policy=NO_CACHE)
def send_alerts(config: Config) -> DeliveryReport | None:
    """Delivery trouble is logged and never fails the run: the ledger keeps it for the next run."""
    logger = get_run_logger()
    try:
        report = deliver_due(config)
    except QcatError as exc:
        logger.error(f"alerts: {exc}")
        return None
    except OSError as exc:  # a full disk, say, when the ledger records what was sent: the load is committed already
        where = f" {exc.filename}" if exc.filename else ""
        logger.error(f"alerts: the alert ledger could not be written{where} ({exc.strerror or exc}); what this run sent may be sent again next run")
        return None
    for error in report.errors:
        logger.warning(error)
    if report.sent or report.failed or report.expired:
        logger.info(f"alerts: {report.sent} deliveries sent, {report.failed} failed, {report.expired} expired")
    return report


@flow(name="qcat-nightly")
def nightly(config_path: str | None = None, observed_at: datetime | None = None) -> list[CatalogSummary] | State:
    """One pull of every configured catalog; `observed_at` exists for simulated dates (the demo).

    A run in which any catalog failed ends Failed (so Prefect's UI and automations see it) but
    still carries every catalog's summary, without a traceback for what is not a crash.
    """
    config = load_config(config_path)
    when = (observed_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    refused = instant_refused(config, when) if observed_at is not None else None
    if refused is not None:
        return Failed(message=str(refused), data=refused)
    records, crashed = pull_catalogs(config, when)
    loaded = load_history(config, records)
    if isinstance(loaded, QcatError):
        return Failed(message=str(loaded), data=loaded)
    send_alerts(config)
    summaries = loaded + crashed
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
