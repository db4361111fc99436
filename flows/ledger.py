"""The alert delivery ledger: an append-only log under archive/alerts, and `alert_deliveries` derived from it.

DuckDB must stay rebuildable from files, so every ledger change (an enqueue, a delivery outcome,
an expiry) is first written as one small JSON file of operations (atomic, never overwritten),
then applied. `sync` applies every log file that DuckDB has not applied yet, in the order they
were written; the live path and `qcat rebuild` run the same code, so they give the same rows.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa

from flows import __version__
from flows.archive import archive_root, write_new
from flows.database import transaction
from flows.engine import duckdb, register
from flows.errors import ArchiveError
from flows.sqlfiles import run

OPS_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("op", pa.string()),
        ("alert_key", pa.string()),
        ("channel", pa.string()),
        ("op_at", pa.timestamp("us", tz="UTC")),
        ("first_at", pa.timestamp("us", tz="UTC")),
        ("tries", pa.int32()),
        ("error", pa.string()),
        ("critical", pa.bool_()),
        ("alert_type", pa.string()),
        ("license", pa.string()),
        ("provider", pa.string()),
        ("model_id", pa.string()),
        ("pull_id", pa.string()),
        ("observed_at", pa.timestamp("us", tz="UTC")),
        ("summary", pa.string()),
        ("alert", pa.string()),
    ]
)


@dataclass(frozen=True)
class Op:
    """One ledger change. `op` is enqueue, or the outcome of a delivery: sent, failed or expired."""

    op: str
    alert_key: str
    channel: str
    at: datetime
    first_at: datetime | None = None
    tries: int = 0
    error: str | None = None
    critical: bool = False
    alert: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "alert_key": self.alert_key,
            "channel": self.channel,
            "at": self.at.isoformat(),
            "first_at": self.first_at.isoformat() if self.first_at else None,
            "tries": self.tries,
            "error": self.error,
            "critical": self.critical,
            "alert": self.alert,
        }

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Op:
        return cls(
            op=item["op"],
            alert_key=item["alert_key"],
            channel=item["channel"],
            at=datetime.fromisoformat(item["at"]),
            first_at=datetime.fromisoformat(item["first_at"]) if item.get("first_at") else None,
            tries=int(item.get("tries", 0)),
            error=item.get("error"),
            critical=bool(item.get("critical", False)),
            alert=item.get("alert"),
        )


def log_root(data_dir: Path) -> Path:
    return archive_root(data_dir) / "alerts"


def append(con: duckdb.DuckDBPyConnection, data_dir: Path, ops: Sequence[Op]) -> None:
    """Write the ops to the log, then bring DuckDB up to date with it. The caller holds the writer lock."""
    write(data_dir, ops)
    sync(con, data_dir)


def write(data_dir: Path, ops: Sequence[Op]) -> None:
    """Files are named by the wall clock (not by the ops' times, which tests and the demo
    simulate), so that name order is write order."""
    if not ops:
        return
    written = datetime.now(timezone.utc)
    path = log_root(data_dir) / f"date={written.date().isoformat()}" / f"{written:%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}.json"
    document = {"qcat_version": __version__, "ops": [op.to_json() for op in ops]}
    write_new(path, json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False).encode())


def sync(con: duckdb.DuckDBPyConnection, data_dir: Path) -> int:
    """Apply the log files DuckDB lacks, oldest first, in one transaction; returns how many."""
    files = log_files(data_dir)
    if not files:
        return 0
    applied = {row[0] for row in run(con, "alert_log_files").fetchall()}
    new = [name for name in files if name not in applied]
    if not new:
        return 0
    ops = [op for name in new for op in _read(log_root(data_dir) / name)]
    register(con, "ledger_ops", _ops_table(ops))
    try:
        with transaction(con):
            run(con, "alert_deliveries_enqueue")
            run(con, "alert_deliveries_outcomes")
            run(con, "alert_log_insert", {"files": new})
    finally:
        con.unregister("ledger_ops")
    return len(new)


def log_files(data_dir: Path) -> list[str]:
    """Log files relative to the log root, in the order they were written."""
    root = log_root(data_dir)
    if not root.is_dir():
        return []
    names = [
        f"{day.name}/{entry.name}"
        for day in os.scandir(root)
        if day.is_dir()
        for entry in os.scandir(day.path)
        if entry.name.endswith(".json") and not entry.name.startswith(".")
    ]
    return sorted(names, key=lambda name: name.rpartition("/")[2])


def _read(path: Path) -> list[Op]:
    try:
        return [Op.from_json(item) for item in json.loads(path.read_bytes())["ops"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArchiveError(f"alert ledger log {path} is unreadable: {exc}") from None


def _ops_table(ops: list[Op]) -> pa.Table:
    alerts = [op.alert or {} for op in ops]
    return pa.table(
        {
            "seq": list(range(len(ops))),
            "op": [op.op for op in ops],
            "alert_key": [op.alert_key for op in ops],
            "channel": [op.channel for op in ops],
            "op_at": [op.at for op in ops],
            "first_at": [op.first_at for op in ops],
            "tries": [op.tries for op in ops],
            "error": [op.error for op in ops],
            "critical": [op.critical for op in ops],
            "alert_type": [alert.get("type") for alert in alerts],
            "license": [alert.get("license") for alert in alerts],
            "provider": [alert.get("provider") for alert in alerts],
            "model_id": [alert.get("model_id") for alert in alerts],
            "pull_id": [alert.get("pull_id") for alert in alerts],
            "observed_at": [datetime.fromisoformat(alert["observed_at"]) if alert else None for alert in alerts],
            "summary": [alert.get("summary") for alert in alerts],
            "alert": [json.dumps(op.alert, sort_keys=True, ensure_ascii=False) if op.alert else None for op in ops],
        },
        schema=OPS_SCHEMA,
    )
