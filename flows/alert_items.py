"""What an alert says: the items of the qcat.alerts/v1 payload, built from catalog events and failing pulls.

Every item carries every field of the schema (null where it does not apply), a one-line
`summary`, and the `line` it shows as under its license's heading in a digest.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

RATES = (("input", "input_cost_per_micro_credit"), ("output", "output_cost_per_micro_credit"))
VALUES = ("name", "input_cost_per_micro_credit", "output_cost_per_micro_credit", "context_window", "max_output_tokens")
# the values an event of each type carries in `old` and `new`; the others are not part of the change
CHANGED = {
    "rate_changed": ("input_cost_per_micro_credit", "output_cost_per_micro_credit"),
    "renamed": ("name",),
    "limits_changed": ("context_window", "max_output_tokens"),
}
SYMBOLS = {"added": "✚", "readded": "✚", "removed": "✖", "renamed": "✎", "limits_changed": "↔", "catalog_failing": "⚠"}


def sample_item(now: datetime | None = None) -> dict[str, Any]:
    """A made-up 20% rate increase, for `qcat alerts test`."""
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
    item = event_item(row)
    item["key"] = "test:" + row["pull_id"]
    return item


def rate_pcts(item: dict[str, Any]) -> list[float]:
    """Percent changes of the rates that changed, as catalog_events holds them (a 5% move reads 5.0,
    not 4.999999999999996, so a rule's min_pct and `qcat changes --min-pct` agree); from 0 it is
    infinite (a free model now costs)."""
    old, new = item["old"], item["new"]
    return [math.inf if old[column] == 0 else item[f"{label}_pct_change"] for label, column in RATES if old[column] != new[column]]


def _values(row: dict[str, Any], side: str) -> dict[str, Any] | None:
    kind = row["event_type"]
    if (kind in ("added", "readded") and side == "old") or (kind == "removed" and side == "new"):
        return None
    return {name: row[f"{side}_{name}"] for name in CHANGED.get(kind, VALUES)}


def event_item(row: dict[str, Any]) -> dict[str, Any]:
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
        signs = {pct > 0 for pct in rate_pcts(item)}
        item["direction"] = "mixed" if len(signs) > 1 else "increase" if True in signs else "decrease"
    return _described(item)


def catalog_item(row: dict[str, Any]) -> dict[str, Any]:
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
        added_count=row["added_count"],
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
        "removed_count": None, "added_count": None, "model_count": None, "summary": None, "line": None,
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
            changes = [f"lacks {item['removed_count']} current models"] if item["removed_count"] else []
            changes += [f"lists {item['added_count']} models beyond them"] if item["added_count"] else []
            return "catalog", f"suspect pull held back: it {' and '.join(changes)} ({item['model_count']} listed)"
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


def order(item: dict[str, Any]) -> tuple:
    """A model's alerts in the order they happened (a replay can bring several moves of one rate),
    so that the last one names the price in force; `observed_at` is UTC ISO text, which sorts as time."""
    return (item["license"], not item["critical"], item["provider"], item["model_id"] or "", item["observed_at"] or "", item["type"], item["key"])
