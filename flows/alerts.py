"""Alerts: which changes of a run alert (rules), the ledger entries they become, and their delivery.

A load enqueues (under the writer lock, with the load's connection) the alerts of the pulls it
applied; the send step then delivers what is due outside the lock and records the outcomes
under it. Every (alert, channel) pair is enqueued once, and a pair recorded as sent is never
sent again. The alert sender's own lock keeps two runs from sending the same pair at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from typing import Any

from flows import ledger
from flows.alert_items import catalog_item, event_item, order, rate_pcts, sample_item
from flows.channels import ChannelError, Message, deliver, messages
from flows.config import AlertRule, AlertsConfig, ChannelConfig, Config
from flows.database import db_path, open_database
from flows.engine import duckdb
from flows.errors import LockTimeout, UsageError
from flows.history import LoadReport, connect
from flows.lock import writer_lock
from flows.sqlfiles import as_dicts, run

SEND_LOCK = ".qcat-alerts.lock"


@dataclass(frozen=True)
class Alert:
    """An item of the qcat.alerts/v1 payload, and the channels the matching rules feed, each with
    whether a rule that feeds it makes the alert critical there (in configuration order)."""

    item: dict[str, Any]
    channels: dict[str, bool]

    @property
    def key(self) -> str:
        return self.item["key"]

    def to(self, channel: str) -> dict[str, Any]:
        """The item as `channel` gets it: one rule's critical level never reaches another rule's channels."""
        return {**self.item, "critical": self.channels[channel]}


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    expired: int = 0
    errors: list[str] = field(default_factory=list)


def candidates(con: duckdb.DuckDBPyConnection, settings: AlertsConfig, pull_ids: Sequence[str]) -> list[Alert]:
    """The alerts of these pulls that pass the rules; imported pulls never alert."""
    pull_ids = list(pull_ids)
    if not pull_ids:
        return []
    items = [event_item(row) for row in as_dicts(run(con, "alert_event_candidates", {"pull_ids": pull_ids}))]
    params = {"pull_ids": pull_ids, "failing_after": settings.failing_after}
    items += [catalog_item(row) for row in as_dicts(run(con, "alert_catalog_candidates", params))]
    names = tuple(channel.name for channel in settings.channels)
    alerts = []
    for item in items:
        judged = [(rule, _judge(rule, item)) for rule in settings.rules]
        verdicts = [(rule, critical) for rule, (passes, critical) in judged if passes]
        if not verdicts:
            continue
        critical_on: dict[str, bool] = {}
        for rule, critical in verdicts:
            for name in rule.channels or names:
                critical_on[name] = critical_on.get(name, False) or critical
        item = {**item, "critical": any(critical_on.values())}
        alerts.append(Alert(item, {name: critical_on[name] for name in names if name in critical_on}))
    alerts.sort(key=lambda alert: order(alert.item))
    return alerts


def enqueue(con: duckdb.DuckDBPyConnection, config: Config, load: LoadReport, now: datetime | None = None) -> None:
    """Write to the ledger log the alerts of the pulls a load applied; `ledger.sync` then applies it.

    Called inside the load's transaction: the log file exists before the load commits, so a crash
    cannot leave a change without its alert (a log file whose load never committed only repeats
    pairs that the retried load enqueues again, and the ledger keeps each pair once).
    A catalog replayed because of a late pull derives its history again: what of it is news, `_news` says.
    """
    if not config.alerts.channels or not load.applied:
        return
    now = now or datetime.now(timezone.utc)
    replayed_until = {(license, provider): until for license, provider, until in load.replayed_until}
    alerts = [alert for alert in candidates(con, config.alerts, load.applied) if _news(alert.item, load, replayed_until)]
    keys = sorted({alert.key for alert in alerts})
    known = set(run(con, "alert_deliveries_known", {"alert_keys": keys}).fetchall()) if keys else set()
    ops = [
        ledger.Op("enqueue", alert.key, channel, now, critical=critical, alert=alert.to(channel))
        for alert in alerts
        for channel, critical in alert.channels.items()
        if (alert.key, channel) not in known
    ]
    ledger.write(config.data_dir, ops)


def _news(item: dict[str, Any], load: LoadReport, replayed_until: dict[tuple[str, str], datetime]) -> bool:
    """Whether an alert of this load is news: see LoadReport. Catalog alerts of a replay are keyed by
    pulls, so the ledger keeps one per key however often a replay derives them."""
    catalog = (item["license"], item["provider"])
    if catalog in load.live_replays:
        return item["event_id"] is None or item["event_id"] not in load.known_events
    until = replayed_until.get(catalog)
    return until is None or datetime.fromisoformat(item["observed_at"]) > until


def deliver_due(config: Config, now: datetime | None = None) -> DeliveryReport:
    """Expire what is too old, then send every pending or failed delivery of the configured channels.

    HTTP happens outside the writer lock (a slow channel must not hold up a load); the sender's
    own lock makes a second run wait and then find the pairs already sent.
    """
    report = DeliveryReport()
    if not config.alerts.channels:
        return report
    now = now or datetime.now(timezone.utc)
    data_dir, wait = config.data_dir, config.lock_timeout_seconds
    with writer_lock(data_dir, wait, name=SEND_LOCK):
        with writer_lock(data_dir, wait):
            con = connect(db_path(data_dir), wait)
            try:
                ledger.sync(con, data_dir)
                rows = run(con, "alert_deliveries_due", {"expire_before": now - config.alerts.expire_after}).fetchall()
                expired = [ledger.Op("expired", key, channel, now) for key, channel, _, too_old in rows if too_old]
                ledger.append(con, data_dir, expired)
            finally:
                con.close()
        report.expired = len(expired)
        due: dict[str, list[dict[str, Any]]] = {}
        for _, channel, alert, too_old in rows:
            if not too_old:
                due.setdefault(channel, []).append(json.loads(alert))
        for channel in config.alerts.channels:
            outcomes = _send_channel(channel, sorted(due.get(channel.name, []), key=order), config.alerts, report)
            if outcomes:
                # recorded channel by channel: a later channel's trouble cannot unrecord (and resend) this one's
                _record(config, outcomes)
    return report


def _send_channel(channel: ChannelConfig, alerts: list[dict[str, Any]], settings: AlertsConfig, report: DeliveryReport) -> list[ledger.Op]:
    """A channel that still fails after the retries is not tried again this run: the rest stay pending."""
    ops = []
    for message in messages(channel, alerts):
        outcome = deliver(message, settings)
        state = "sent" if outcome.ok else "failed"
        ops += [ledger.Op(state, key, channel.name, outcome.last_at, outcome.first_at, outcome.tries, outcome.error) for key in message.keys]
        if outcome.ok:
            report.sent += len(message.keys)
        else:
            report.failed += len(message.keys)
            report.errors.append(f"alert channel {channel.name!r}: {outcome.error}")
            break
    return ops


def _record(config: Config, ops: list[ledger.Op]) -> None:
    """The outcomes go to the ledger's log at once, without the writer lock: the log is the ledger,
    and whoever syncs next applies it. A rebuild or load holding the lock for long then delays
    only DuckDB's copy; waiting for it instead could lose the outcomes, and send them again."""
    ledger.write(config.data_dir, ops)
    try:
        with writer_lock(config.data_dir, config.lock_timeout_seconds):
            con = connect(db_path(config.data_dir), config.lock_timeout_seconds)
            try:
                ledger.sync(con, config.data_dir)
            finally:
                con.close()
    except LockTimeout:
        return


def preview(config: Config) -> tuple[list[Alert], list[Message]]:
    """What the last live run's alerts and messages are, from DuckDB read-only: nothing sent, nothing written."""
    path = db_path(config.data_dir)
    if not path.exists():
        raise UsageError(f"no database at {path} yet: run `qcat run` first")
    con = open_database(path, read_only=True, wait_seconds=config.lock_timeout_seconds)
    try:
        pull_ids = [row[0] for row in run(con, "alert_last_run").fetchall()]
        alerts = candidates(con, config.alerts, pull_ids)
    finally:
        con.close()
    found = [
        message
        for channel in config.alerts.channels
        # in the order the channel would get them: by its own critical level
        for message in messages(channel, sorted((alert.to(channel.name) for alert in alerts if channel.name in alert.channels), key=order))
    ]
    return alerts, found


def sample_message(channel: ChannelConfig) -> Message:
    """What `qcat alerts test` sends: one made-up rate increase, marked as a test."""
    return Message(channel, "test", (sample_item(),))


def send_test(config: Config, channel: ChannelConfig) -> None:
    """Send the sample message through the channel, with the configured retries; nothing is recorded."""
    outcome = deliver(sample_message(channel), config.alerts)
    if not outcome.ok:
        raise ChannelError(f"alert channel {channel.name!r} ({channel.type}): {outcome.error}")


def _judge(rule: AlertRule, item: dict[str, Any]) -> tuple[bool, bool]:
    """Whether the rule passes the alert, and whether it makes it critical."""
    if not _matches(item["license"], rule.licenses) or not _matches(item["provider"], rule.providers):
        return False, False
    kind = item["type"]
    if kind == "catalog_failing":
        passes = kind in rule.event_types
        return passes, passes and (item["reason"] == "auth_error" or kind in rule.critical_event_types)
    if not _matches(item["model_id"], rule.models):
        return False, False
    if kind != "rate_changed":
        return kind in rule.event_types, kind in rule.event_types and kind in rule.critical_event_types
    passing = [
        (pct, "rate_increase" if pct > 0 else "rate_decrease")
        for pct in rate_pcts(item)
        if abs(pct) >= rule.min_pct
        and (("rate_increase" in rule.event_types and rule.direction != "decrease" and pct > 0)
             or ("rate_decrease" in rule.event_types and rule.direction != "increase" and pct < 0))
    ]
    critical = any(abs(pct) >= rule.critical_pct or kind in rule.critical_event_types for pct, kind in passing)
    return bool(passing), critical


def _matches(value: str | None, patterns: tuple[str, ...]) -> bool:
    """Case is ignored, as by `--model`: a rule written as `Anthropic/*` must not miss silently."""
    return not patterns or value is None or any(fnmatchcase(value.lower(), pattern.lower()) for pattern in patterns)

