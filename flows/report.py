"""`qcat report`: one self-contained HTML file of the catalogs, recent changes, price histories and spreads.

The page must open from an e-mail attachment with no network: the charting library (uPlot,
vendored in report_assets/) and the data are inlined, the data once, as JSON that the page's
script turns into tables and charts (text only, so model names cannot inject markup). A
Content-Security-Policy forbids every fetch and every script but the two we ship. The window
ends at the latest pull rather than at the clock, so the same database gives the same report.
Kept free of Prefect and pyarrow so that it starts fast.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from string import Template
from typing import Any

from flows.config import Config
from flows.database import db_path, reading
from flows.engine import duckdb
from flows.errors import UsageError
from flows.sqlfiles import as_dicts, run
from flows.timespec import parse_instant

ASSETS = Path(__file__).resolve().parent / "report_assets"
MAX_CHANGES = 500
RATES = ("input", "output")


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    size_bytes: int
    since: datetime
    until: datetime
    catalogs: int
    changes: int
    charted_models: int
    changed_models: int


def parse_since(text: str, until: datetime) -> datetime:
    """Like the query commands' --since, but spans count back from the latest pull, not the clock,
    so that the same database always gives the same report."""
    return parse_instant(text, "--since", timezone.utc, until, now_is="the latest pull")


def write_report(config: Config, out: Path, since: str, top: int, on_wait: Callable[[], None] | None = None) -> ReportSummary:
    """Render from a read-only session and replace `out` atomically: a reader never sees half a report."""
    if not out.name or out.name in (".", ".."):
        raise UsageError(f"--out: {out} names no file; give a file name such as report.html")
    if out.exists() and not out.is_file():
        # replacing it would swap a folder's or a device's name for the report, not write into it
        raise UsageError(f"--out: {out} exists and is not a regular file; give a file name such as report.html")
    if not out.parent.is_dir():
        raise UsageError(f"--out: folder {out.parent} does not exist")
    path = db_path(config.data_dir)
    if not path.exists():
        raise UsageError(f"no database at {path}: pull first (`qcat run`) or rebuild it from an archive (`qcat rebuild`)")
    with reading(path, config.lock_timeout_seconds, on_wait) as con:
        data = report_data(con, since, top)
    page = render(data).encode("utf-8")
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(page)
        os.replace(temporary, out)
    except OSError as exc:
        raise UsageError(f"--out: cannot write {out}: {exc.strerror or exc}") from None
    finally:
        temporary.unlink(missing_ok=True)
    return ReportSummary(
        out,
        len(page),
        data["window"]["since"],
        data["window"]["until"],
        len(data["catalogs"]),
        data["changes"]["total"],
        len(data["charts"]["models"]),
        data["charts"]["total"],
    )


def report_data(con: duckdb.DuckDBPyConnection, since_text: str, top: int) -> dict[str, Any]:
    first_pull_at, until = run(con, "report_window").fetchone()
    if until is None:
        raise UsageError("the database has no pulls yet: nothing to report (`qcat run` pulls the catalogs)")
    since = parse_since(since_text, until)
    if since > until:
        raise UsageError(f"--since: {since_text!r} is after the latest pull ({until:%Y-%m-%d %H:%M} UTC)")
    charted = as_dicts(run(con, "report_charted_models", {"since": since, "limit": top}))
    versions = as_dicts(run(con, "report_chart_versions", {"since": since, "until": until, "model_ids": [m["model_id"] for m in charted]}))
    changes = as_dicts(run(con, "report_changes", {"since": since, "limit": MAX_CHANGES}))
    spreads = as_dicts(run(con, "report_license_spreads", {"limit": top}))
    return {
        "generated_at": datetime.now(timezone.utc),
        "window": {"since": since, "until": until, "first_pull_at": first_pull_at, "since_text": since_text},
        "catalogs": as_dicts(run(con, "report_catalogs", {"since": since})),
        "changes": {"total": changes[0]["total"] if changes else 0, "rows": [_without(r, "total") for r in changes]},
        "charts": {"total": charted[0]["total"] if charted else 0, "models": _charts(charted, versions, until)},
        "spreads": {"total": spreads[0]["total"] if spreads else 0, "rows": [_without(r, "total") for r in spreads]},
    }


def render(data: dict[str, Any]) -> str:
    """Fill the page; the JSON is escaped so that no '<' in a model name can close its script element."""
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_iso)
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    library, script = _asset("uPlot.iife.min.js"), _asset("report.js")
    return Template(_asset("report.html")).substitute(
        csp_script_hashes=" ".join(f"'sha256-{_sha256(s)}'" for s in (library, script)),
        style=_asset("uPlot.min.css") + _asset("report.css"),
        data=payload,
        library=library,
        script=script,
    )


def _charts(charted: list[dict[str, Any]], versions: list[dict[str, Any]], until: datetime) -> list[dict[str, Any]]:
    """Per charted model and catalog, the steps of each rate that moved: [Unix seconds, rate], null while unlisted.

    Steps rather than one value per instant and catalog keep the file small when a model is
    listed by fifty catalogs; the page expands them into uPlot's columns.
    """
    by_model: dict[str, dict[tuple[str, str], list[dict[str, Any]]]] = {}
    for version in versions:
        by_model.setdefault(version["model_id"], {}).setdefault((version["license"], version["provider"]), []).append(version)
    charts = []
    for model in charted:
        rates = [rate for rate in RATES if model[f"{rate}_changed"]]
        own = by_model.get(model["model_id"], {})
        latest = max((rows[-1] for rows in own.values()), key=lambda version: version["valid_from"], default=None)
        charts.append({
            "model_id": model["model_id"],
            "name": latest and latest["name"],
            "changed": rates,
            "changes": model["changes"],
            "largest_pct": model["largest_pct"],
            "last_change_at": model["last_change_at"],
            "series": [
                {"license": license, "provider": provider, **{rate: _steps(rows, rate, until) for rate in rates}}
                for (license, provider), rows in sorted(own.items())
            ],
        })
    return charts


def _steps(versions: list[dict[str, Any]], rate: str, until: datetime) -> list[list[Any]]:
    """Half-open versions in time order as steps: a rate from valid_from on, null from a removal on."""
    steps: list[list[Any]] = []
    listed_until: datetime | None = None
    for version in versions:
        if listed_until is not None and listed_until < version["valid_from"]:
            steps.append([int(listed_until.timestamp()), None])
        if not steps or steps[-1][1] != version[rate]:
            steps.append([int(version["valid_from"].timestamp()), version[rate]])
        listed_until = version["valid_to"]
    if listed_until is not None and listed_until <= until:
        steps.append([int(listed_until.timestamp()), None])
    return steps


def _iso(value: object) -> str:
    """Times reach the page as ISO strings in UTC; rates stay JSON numbers, exact doubles."""
    if not isinstance(value, datetime):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _without(row: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != key}


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
