"""Alerts: which changes of a run alert (rules), the ledger entries they become, and their delivery.

A load enqueues (under the writer lock, with the load's connection) the alerts of the pulls it
applied; the send step then delivers what is due outside the lock and records the outcomes
under it. Every (alert, channel) pair is enqueued once, and a pair recorded as sent is never
sent again. The alert sender's own lock keeps two runs from sending the same pair at once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from typing import Any

import duckdb

from flows import ledger
from flows.channels import ChannelError, Message, deliver, messages
from flows.config import AlertRule, AlertsConfig, ChannelConfig, Config
from flows.database import db_path, open_database
from flows.errors import ArchiveError
from flows.history import connect
from flows.lock import writer_lock
from flows.sqlfiles import run

SEND_LOCK = ".qcat-alerts.lock"
RATES = (("input", "input_cost_per_micro_credit"), ("output", "output_cost_per_micro_credit"))
VALUES = ("name", "input_cost_per_micro_credit", "output_cost_per_micro_credit", "context_window", "max_output_tokens")
# the values an event of each type carries in `old` and `new`; the others are not part of the change
CHANGED = {
    "rate_changed": ("input_cost_per_micro_credit", "output_cost_per_micro_credit"),
    "renamed": ("name",),
    "limits_changed": ("context_window", "max_output_tokens"),
}
SYMBOLS = {"added": "✚", "readded": "✚", "removed": "✖", "renamed": "✎", "limits_changed": "↔", "catalog_failing": "⚠"}


@dataclass(frozen=True)
class Alert:
    """An item of the qcat.alerts/v1 payload, and the channels the matching rules feed."""

    item: dict[str, Any]
    channels: tuple[str, ...]

    @property
    def key(self) -> str:
        return self.item["key"]


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
    items = [_event_item(row) for row in _dicts(run(con, "alert_event_candidates", {"pull_ids": pull_ids}))]
    params = {"pull_ids": pull_ids, "failing_after": settings.failing_after}
    items += [_catalog_item(row) for row in _dicts(run(con, "alert_catalog_candidates", params))]
    names = tuple(channel.name for channel in settings.channels)
    alerts = []
    for item in items:
        verdicts = [(rule, critical) for rule in settings.rules for passes, critical in [_judge(rule, item)] if passes]
        if not verdicts:
            continue
        item["critical"] = any(critical for _, critical in verdicts)
        channels = {name for rule, _ in verdicts for name in (rule.channels or names)}
        alerts.append(Alert(item, tuple(name for name in names if name in channels)))
    alerts.sort(key=lambda alert: _order(alert.item))
    return alerts


def enqueue(con: duckdb.DuckDBPyConnection, config: Config, pull_ids: Sequence[str], now: datetime | None = None) -> int:
    """Enqueue the pulls' alerts on their channels; pairs the ledger already holds are left as they are."""
    if not config.alerts.channels:
        return 0
    now = now or datetime.now(timezone.utc)
    alerts = candidates(con, config.alerts, pull_ids)
    keys = sorted({alert.key for alert in alerts})
    known = set(run(con, "alert_deliveries_known", {"alert_keys": keys}).fetchall()) if keys else set()
    ops = [
        ledger.Op("enqueue", alert.key, channel, now, critical=alert.item["critical"], alert=alert.item)
        for alert in alerts
        for channel in alert.channels
        if (alert.key, channel) not in known
    ]
    ledger.append(con, config.data_dir, ops)
    return len(ops)


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
                expired = [ledger.Op("expired", key, channel, now) for key, channel, _, _, too_old in rows if too_old]
                ledger.append(con, data_dir, expired)
            finally:
                con.close()
        report.expired = len(expired)
        due: dict[str, list[dict[str, Any]]] = {}
        for key, channel, alert, critical, too_old in rows:
            if not too_old:
                due.setdefault(channel, []).append({**json.loads(alert), "critical": critical})
        outcomes = []
        for channel in config.alerts.channels:
            outcomes += _send_channel(channel, sorted(due.get(channel.name, []), key=_order), config.alerts, report)
        if outcomes:
            with writer_lock(data_dir, wait):
                con = connect(db_path(data_dir), wait)
                try:
                    ledger.append(con, data_dir, outcomes)
                finally:
                    con.close()
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


def preview(config: Config) -> tuple[list[Alert], list[Message]]:
    """What the last live run's alerts and messages are, from DuckDB read-only: nothing sent, nothing written."""
    path = db_path(config.data_dir)
    if not path.exists():
        raise ArchiveError(f"{path} does not exist yet: run `qcat run` first")
    con = open_database(path, read_only=True, wait_seconds=config.lock_timeout_seconds)
    try:
        pull_ids = [row[0] for row in run(con, "alert_last_run").fetchall()]
        alerts = candidates(con, config.alerts, pull_ids)
    finally:
        con.close()
    found = [
        message
        for channel in config.alerts.channels
        for message in messages(channel, [alert.item for alert in alerts if channel.name in alert.channels])
    ]
    return alerts, found


def deliveries(config: Config, state: str | None = None) -> list[tuple]:
    """The ledger, newest first, read-only; empty before the first run that had alerts."""
    path = db_path(config.data_dir)
    if not path.exists():
        return []
    con = open_database(path, read_only=True, wait_seconds=config.lock_timeout_seconds)
    try:
        return run(con, "alert_deliveries_list", {"state": state}).fetchall()
    except duckdb.CatalogException:
        return []
    finally:
        con.close()


def send_test(config: Config, channel: ChannelConfig) -> None:
    """Send the sample message through the channel, with the configured retries; nothing is recorded."""
    outcome = deliver(sample_message(channel), config.alerts)
    if not outcome.ok:
        raise ChannelError(f"alert channel {channel.name!r} ({channel.type}): {outcome.error}")


def sample_message(channel: ChannelConfig, now: datetime | None = None) -> Message:
    """What `qcat alerts test` sends: one made-up rate increase, marked as a test."""
    now = now or datetime.now(timezone.utc)
    row = {
        "event_id": "test",
        "license": "example-license",
        "provider": "default",
        "model_id": "example/model",
        "event_type": "rate_changed",
        "pull_id": f"test-{now:%Y%m%dT%H%M%SZ}",
        "observed_at": now,
        "previous_observed_at": None,
        "old_name": "Example model",
        "new_name": "Example model",
        "old_input_cost_per_micro_credit": 0.001,
        "new_input_cost_per_micro_credit": 0.0012,
        "input_pct_change": 20.0,
        "old_output_cost_per_micro_credit": 0.002,
        "new_output_cost_per_micro_credit": 0.002,
        "output_pct_change": 0.0,
        "old_context_window": None,
        "new_context_window": None,
        "old_max_output_tokens": None,
        "new_max_output_tokens": None,
    }
    item = _event_item(row)
    item["key"] = "test:" + row["pull_id"]
    return Message(channel, "test", (item,))


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
        for pct in _pcts(item)
        if abs(pct) >= rule.min_pct
        and (("rate_increase" in rule.event_types and rule.direction != "decrease" and pct > 0)
             or ("rate_decrease" in rule.event_types and rule.direction != "increase" and pct < 0))
    ]
    critical = any(abs(pct) >= rule.critical_pct or kind in rule.critical_event_types for pct, kind in passing)
    return bool(passing), critical


def _matches(value: str | None, patterns: tuple[str, ...]) -> bool:
    return not patterns or value is None or any(fnmatchcase(value, pattern) for pattern in patterns)


def _pcts(item: dict[str, Any]) -> list[float]:
    """Percent changes of the rates that changed; from 0 it is infinite (a free model now costs)."""
    old, new = item["old"], item["new"]
    found = []
    for _, column in RATES:
        before, after = old[column], new[column]
        if before is None or after is None or before == after:
            continue
        # rounded so that 0.002 -> 0.0021 is the 5% a person reads, not 4.999999999999996%
        found.append(math.inf if before == 0 else round((after - before) / before * 100, 9))
    return found


def _values(row: dict[str, Any], side: str) -> dict[str, Any] | None:
    kind = row["event_type"]
    if (kind in ("added", "readded") and side == "old") or (kind == "removed" and side == "new"):
        return None
    return {name: row[f"{side}_{name}"] for name in CHANGED.get(kind, VALUES)}


def _event_item(row: dict[str, Any]) -> dict[str, Any]:
    item = _blank(row["license"], row["provider"], row["pull_id"], row["observed_at"])
    item.update(
        key=f"event:{row['event_id']}",
        type=row["event_type"],
        model_id=row["model_id"],
        name=row["new_name"] or row["old_name"],
        event_id=row["event_id"],
        previous_observed_at=_iso(row["previous_observed_at"]),
        old=_values(row, "old"),
        new=_values(row, "new"),
        input_pct_change=row["input_pct_change"],
        output_pct_change=row["output_pct_change"],
    )
    if item["type"] == "rate_changed":
        signs = {pct > 0 for pct in _pcts(item)}
        item["direction"] = "mixed" if len(signs) > 1 else "increase" if True in signs else "decrease"
    return _described(item)


def _catalog_item(row: dict[str, Any]) -> dict[str, Any]:
    item = _blank(row["license"], row["provider"], row["pull_id"], row["observed_at"])
    item.update(
        key=f"catalog:{row['license']}/{row['provider']}:{row['reason']}:{row['streak_first_pull_id']}",
        type="catalog_failing",
        reason=row["reason"],
        status=row["status"],
        error=row["error"],
        failing_pulls=row["streak_length"],
        failing_since=_iso(row["streak_since"]),
        removed_count=row["removed_count"],
        model_count=row["model_count"],
    )
    return _described(item)


def _blank(license: str, provider: str, pull_id: str, observed_at: datetime) -> dict[str, Any]:
    """Every item carries every field of the v1 schema, null where it does not apply."""
    return {
        "key": None, "type": None, "reason": None, "direction": None, "critical": False,
        "license": license, "provider": provider, "model_id": None, "name": None,
        "event_id": None, "pull_id": pull_id, "observed_at": _iso(observed_at), "previous_observed_at": None,
        "old": None, "new": None, "input_pct_change": None, "output_pct_change": None,
        "status": None, "error": None, "failing_pulls": None, "failing_since": None,
        "removed_count": None, "model_count": None, "summary": None, "line": None,
    }


def _described(item: dict[str, Any]) -> dict[str, Any]:
    """`line` reads under a license heading; `summary` stands alone."""
    subject, detail = _detail(item)
    symbol = {"increase": "▲", "decrease": "▼", "mixed": "▲▼"}.get(item["direction"]) or SYMBOLS[item["type"]]
    item["line"] = f"{symbol} {item['provider']} {subject}: {detail}"
    item["summary"] = f"{symbol} {item['license']}/{item['provider']} {subject}: {detail}"
    return item


def _detail(item: dict[str, Any]) -> tuple[str, str]:
    kind, old, new = item["type"], item["old"], item["new"]
    if kind == "catalog_failing":
        reason = item["reason"]
        if reason == "auth_error":
            return "catalog", f"auth error ({item['error']})"
        if reason == "suspect":
            return "catalog", f"suspect shrink held back: the pull lacks {item['removed_count']} current models ({item['model_count']} listed)"
        since = datetime.fromisoformat(item["failing_since"])
        return "catalog", f"{item['status']} for {item['failing_pulls']} pulls in a row since {since:%Y-%m-%d %H:%M} UTC ({item['error']})"
    subject = item["model_id"]
    if kind == "rate_changed":
        return subject, ", ".join(_rate_change(label, old[column], new[column]) for label, column in RATES if old[column] != new[column])
    if kind in ("added", "readded"):
        return subject, f"{'added' if kind == 'added' else 'back'} (input {_num(new['input_cost_per_micro_credit'])}, output {_num(new['output_cost_per_micro_credit'])})"
    if kind == "removed":
        return subject, f"removed (was input {_num(old['input_cost_per_micro_credit'])}, output {_num(old['output_cost_per_micro_credit'])})"
    if kind == "renamed":
        return subject, f"renamed {old['name']!r} → {new['name']!r}"
    changes = [
        f"{label} {_num(old[column])} → {_num(new[column])}"
        for label, column in (("context window", "context_window"), ("max output", "max_output_tokens"))
        if old[column] != new[column]
    ]
    return subject, ", ".join(changes)


def _rate_change(label: str, before: float, after: float) -> str:
    if before == 0:
        return f"{label} {_num(before)} → {_num(after)} (was free)"
    pct = (after - before) / before * 100
    return f"{label} {pct:+.1f}% ({_num(before)} → {_num(after)})"


def _num(value: float | int | None) -> str:
    return "none" if value is None else f"{value:.6g}"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value is not None else None


def _order(item: dict[str, Any]) -> tuple:
    return (item["license"], not item["critical"], item["provider"], item["model_id"] or "", item["type"], item["key"])


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]
