"""The nightly job as plain functions: pull and archive one catalog; load what was archived.

The Prefect flow only wires these together, and tests call them directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx

from flows import ledger
from flows.alerts import enqueue as enqueue_alerts
from flows.archive import PullRecord, archive_failure, archive_pull, pulls_at
from flows.client import fetch_catalog, make_http_client
from flows.config import Config, LicenseConfig
from flows.database import db_path
from flows.engine import duckdb
from flows.errors import LockTimeout, SecretError, UsageError
from flows.history import LoadReport, connect, explained, load_pending
from flows.lock import writer_lock
from flows.secrets import resolve_api_key
from flows.sqlfiles import run
from flows.timespec import FUTURE_SLACK

FAILED_STATUSES = frozenset({"auth_error", "unavailable", "invalid", "error"})
ARCHIVED_NOTE = "this run's pulls are archived and load with the next run"
# a step after the load committed (the alert ledger's sync, a summary) must not say that nothing was loaded
LOADED_NOTE = "the pulls were loaded before it failed (what is left is done by the next run)"


@dataclass(frozen=True)
class CatalogSummary:
    license: str
    provider: str
    status: str
    models: int | None
    events: int
    error: str | None
    pull_id: str | None


def pull_one(config: Config, license: LicenseConfig, provider: str, observed_at: datetime, client: httpx.Client) -> PullRecord:
    """Fetch and archive one catalog; a missing key is archived as that catalog's failed pull."""
    try:
        api_key = resolve_api_key(license)
    except SecretError as exc:
        return archive_failure(config.data_dir, license.name, provider, observed_at, "auth_error", str(exc))
    result = fetch_catalog(client, config.api, api_key, provider)
    return archive_pull(config.data_dir, license.name, provider, observed_at, result, config.history)


def instant_refused(config: Config, observed_at: datetime) -> UsageError | None:
    """A run given its instant (simulated dates, a backfill) must not date pulls in the future, nor
    pull a catalog again at an instant it already has: two pulls of one catalog at one instant have
    no order between them, and which one counts as the later would be chance."""
    if observed_at > datetime.now(timezone.utc) + FUTURE_SLACK:
        return UsageError(f"observed_at {observed_at.isoformat()} is in the future")
    taken = [f"{license.name}/{provider}" for license, provider in config.catalogs if pulls_at(config.data_dir, license.name, provider, observed_at)]
    if not taken:
        return None
    return UsageError(
        f"observed_at {observed_at.isoformat()}: {', '.join(taken)} already {'have pulls' if len(taken) > 1 else 'has a pull'} at that instant; "
        "two pulls of a catalog at one instant have no order, so choose another instant"
    )


def pull_all(
    config: Config, observed_at: datetime, report: Callable[[str, str, PullRecord | None, str | None], None] | None = None
) -> tuple[list[PullRecord], list[CatalogSummary]]:
    """Pull and archive every catalog, at most `api.max_concurrency` at a time.

    API failures come back as records; anything else (a full disk, a bug) is caught per
    catalog and reported as status `error`, so that one catalog never stops the others.
    """
    records: list[PullRecord] = []
    crashed: list[CatalogSummary] = []
    with make_http_client(config.api) as client, ThreadPoolExecutor(config.api.max_concurrency, thread_name_prefix="qcat-pull") as pool:
        futures = [
            (license.name, provider, pool.submit(pull_one, config, license, provider, observed_at, client))
            for license, provider in config.catalogs
        ]
        for license, provider, future in futures:
            try:
                record = future.result()
            except Exception as exc:  # noqa: BLE001 - isolate the catalog, report it, carry on
                lines = str(exc).strip().splitlines()
                error = f"{type(exc).__name__}: {lines[0] if lines else ''}"
                crashed.append(CatalogSummary(license, provider, "error", None, 0, error, None))
                if report is not None:
                    report(license, provider, None, error)
                continue
            records.append(record)
            if report is not None:
                report(license, provider, record, record.error)
    return records, crashed


def load_and_summarise(config: Config, records: list[PullRecord]) -> list[CatalogSummary]:
    """Load everything archived but not yet in DuckDB, enqueue its alerts, then report on this run's pulls."""
    try:
        with explained(config.data_dir, f"nothing was loaded: {ARCHIVED_NOTE}"), writer_lock(config.data_dir, config.lock_timeout_seconds):
            con = connect(db_path(config.data_dir), config.lock_timeout_seconds)
            try:
                report = load_with_alerts(con, config, records)
                with explained(config.data_dir, LOADED_NOTE):
                    return summarise(con, records, report)
            finally:
                con.close()
    except LockTimeout as exc:
        raise LockTimeout(f"{exc}; {ARCHIVED_NOTE}") from None


def summarise(con: duckdb.DuckDBPyConnection, records: list[PullRecord], report: LoadReport) -> list[CatalogSummary]:
    """Each of this run's pulls as the shrink guard left it, with the events its catalog got from the load."""
    produced = run(con, "event_counts_of_pulls", {"pull_ids": list(report.applied)}).fetchall()
    events = {(license, provider): count for license, provider, count in produced}
    rows = run(con, "run_summary", {"pull_ids": [record.pull_id for record in records]}).fetchall()
    by_id = {row[0]: row for row in rows}
    summaries = []
    for record in records:
        _, license, provider, status, models, error, _ = by_id[record.pull_id]
        summaries.append(CatalogSummary(license, provider, status, models, events.get((license, provider), 0), error, record.pull_id))
    return summaries


def load_with_alerts(con: duckdb.DuckDBPyConnection, config: Config, records: Sequence[PullRecord]) -> LoadReport:
    """Load what the archive holds beyond DuckDB, its alerts enqueued in the load's transaction.

    `qcat import` loads this way too: live pulls left by a crashed run may be among what it loads
    (imported pulls themselves never alert).
    """
    report = load_pending(
        con, config.data_dir, config.history, records, before_commit=lambda con, load: enqueue_alerts(con, config, load)
    )
    with explained(config.data_dir, LOADED_NOTE):
        ledger.sync(con, config.data_dir)
    return report


def failed(summaries: list[CatalogSummary]) -> list[CatalogSummary]:
    """Catalogs that need a person: failed pulls and pulls the guard held back as suspect."""
    return [s for s in summaries if s.status in FAILED_STATUSES or s.status == "suspect"]

