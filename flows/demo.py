"""`qcat demo`: thirty simulated nights through the real pipeline, with no configuration.

It starts the simulator on loopback, writes a throwaway qcat.toml next to the demo data, and
runs the real Prefect flow once per simulated night with that night's date, including a night
where a provider is down and one where a catalog suddenly shrinks, so that the output shows
what the history and the shrink guard do.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flows.config import check_data_dir
from flows.database import db_path
from flows.engine import duckdb
from flows.errors import UsageError
from flows.simulator import DEMO_LICENSES, PROVIDERS, CatalogSimulator, SimulatorServer
from flows.sqlfiles import run

MARKER = ".qcat-demo"
OUTAGE_NIGHT = 11
SHRINK_NIGHT = 18


def run_demo(data_dir: Path, nights: int, console: Console) -> None:
    data_dir = check_data_dir(data_dir.resolve(), "--data-dir")
    _reset(data_dir)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from flows.runner import run_nightly

    # the last night is the latest 03:00 UTC so far, as if the schedule had run: `qcat status` then
    # finds every catalog fresh, and spans back from now find the nights
    now = datetime.now(timezone.utc)
    last_night = datetime.combine(now.date(), time(3), timezone.utc)
    last_night -= timedelta(days=1) if last_night > now else timedelta(0)
    first_night = last_night - timedelta(days=nights - 1)
    with SimulatorServer(CatalogSimulator(DEMO_LICENSES, seed=42)) as simulator:
        config_path = _write_config(data_dir, simulator.base_url)
        console.print(f"Simulator on {simulator.base_url}; {len(DEMO_LICENSES) * len(PROVIDERS)} catalogs; data in {data_dir}", soft_wrap=True)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as progress:
            nightly_task = progress.add_task("starting Prefect (the first night takes ~15 s)", total=nights)
            for night in range(nights):
                simulator.day = night
                _inject_faults(simulator, night)
                observed_at = first_night + timedelta(days=night)
                run_nightly(str(config_path), observed_at)
                progress.update(nightly_task, advance=1, description=f"night of {observed_at:%Y-%m-%d}")
    _report(data_dir, config_path, console)


def _reset(data_dir: Path) -> None:
    """Demo data is regenerated on every run, but never at the expense of a folder we did not make."""
    if data_dir.exists() and any(data_dir.iterdir()):
        if not (data_dir / MARKER).exists():
            raise UsageError(f"{data_dir} exists and was not made by qcat demo; choose another --data-dir")
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / MARKER).write_text("made by qcat demo; replaced on every demo run\n")


def _write_config(data_dir: Path, base_url: str) -> Path:
    lines = [
        "# written by qcat demo for its simulator; the port changes on every demo",
        "[api]",
        f'base_url = "{base_url}"',
        "max_attempts = 3",
        "backoff_seconds = 0.05",
        "[storage]",
        'data_dir = "."',
        "# alerts go to a local file: `qcat alerts` lists them, alerts.jsonl holds them",
        "[alerts]",
        "[[alerts.channels]]",
        'name = "demo-file"',
        'type = "jsonl"',
        'path = "alerts.jsonl"',
    ]
    for license in DEMO_LICENSES:
        variable = "QCAT_DEMO_KEY_" + license.name.upper().replace("-", "_")
        os.environ[variable] = license.api_key
        lines += ["[[licenses]]", f'name = "{license.name}"', f'api_key_env = "{variable}"', f"providers = {list(PROVIDERS)!r}".replace("'", '"')]
    path = data_dir / "qcat.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _inject_faults(simulator: SimulatorServer, night: int) -> None:
    if night == OUTAGE_NIGHT:
        simulator.add_fault("unavailable", count=None, license="acme-research", provider="anthropic")
    elif night == OUTAGE_NIGHT + 1 or night == SHRINK_NIGHT + 1:
        simulator.clear_faults()
    elif night == SHRINK_NIGHT:
        simulator.add_fault("mass_removal", count=None, license="acme-prod", provider="openrouter", keep_share=0.3)


def _report(data_dir: Path, config_path: Path, console: Console) -> None:
    con = duckdb.connect(str(db_path(data_dir)), read_only=True)
    try:
        console.print(_table("Pulls by status", run(con, "demo_pulls_by_status")))
        console.print(_table("What changed, per catalog", run(con, "demo_events_by_catalog")))
        console.print(_table("Largest rate changes", run(con, "demo_largest_rate_changes")))
    finally:
        con.close()
    config = shlex.quote(str(config_path))  # the commands below are meant to be pasted into a shell
    qcat = _command_name()
    console.print(
        f"\nThe archive (source of truth) is under {data_dir / 'archive'}; the history is in {db_path(data_dir)}.\n"
        f"Alerts the rules let through went to {data_dir / 'alerts.jsonl'}; list them: {qcat} alerts --config {config}\n"
        f"Ask it:   {qcat} changes --since 7d --config {config}\n"
        f"          {qcat} rates --license acme-prod --model claude --config {config}\n"
        f"          {qcat} compare --licenses acme-prod,acme-research --config {config}\n"
        f"          {qcat} sql \"from price_change_stats order by rate_changes desc, license, provider, model_id limit 5\" --config {config}\n"
        f"Rebuild it from the archive alone: {qcat} rebuild --config {config}",
        highlight=False,
        soft_wrap=True,  # commands and paths to paste: a line break inside one would break it
    )


def _command_name() -> str:
    """qcat as this run was started, for the hints: `.venv/bin/qcat` when the shell would not find
    this very program by its bare name (the README's first command leaves the venv inactive)."""
    started = Path(sys.argv[0])
    found = shutil.which("qcat")
    if started.name != "qcat" or (found is not None and Path(found).resolve() == started.resolve()):
        return "qcat"
    return shlex.quote(sys.argv[0])


def _table(title: str, result: duckdb.DuckDBPyConnection) -> Table:
    table = Table(title=title, title_justify="left")
    for column in result.description:
        table.add_column(column[0])
    for row in result.fetchall():
        table.add_row(*("" if value is None else str(value) for value in row))
    return table
