"""The `qcat` command. Errors become one line on stderr and a documented exit code.

Exit codes: 0 success; 1 at least one catalog failed or was held back as suspect; 2 bad
configuration or usage; 3 another writer holds the data directory; 70 internal error.
Prefect is imported only by the commands that run flows, so read-only commands start fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from flows.errors import QcatError

if TYPE_CHECKING:
    from flows.pipeline import CatalogSummary

EXIT_CATALOG_FAILED = 1
EXIT_INTERNAL = 70

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Snapshots and history of Quantized model catalogs.")
# piped output (logs, CI, scripts) gets wide tables instead of rich's 80 columns
out = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() or os.environ.get("COLUMNS") else 200)
ConfigOption = Annotated[str | None, typer.Option("--config", "-c", help="qcat.toml to use (default: $QCAT_CONFIG, then ./qcat.toml)")]
T = TypeVar("T")


def main() -> None:
    app()


@app.command("run")
def run_command(config: ConfigOption = None) -> None:
    """Pull every configured catalog now, archive it and load the history."""
    from flows.config import load_config

    settings = _guard(lambda: load_config(config))
    from flows.runner import run_nightly

    summaries = _guard(lambda: run_nightly(str(settings.source)))
    _print_summary(summaries)
    raise typer.Exit(_exit_code(summaries))


@app.command("demo")
def demo_command(
    days: Annotated[int, typer.Option(min=2, max=365, help="Simulated nightly pulls to run.")] = 30,
    data_dir: Annotated[Path, typer.Option(help="Where the demo's archive and database go (replaced on each demo).")] = Path("data/demo"),
) -> None:
    """Run 30 simulated nights against the built-in simulator and show what changed."""
    from flows.demo import run_demo

    _guard(lambda: run_demo(data_dir, days, out))


@app.command("rebuild")
def rebuild_command(config: ConfigOption = None) -> None:
    """Recreate catalog.duckdb from the archive alone."""
    from flows.config import load_config
    from flows.pipeline import rebuild_database

    settings = _guard(lambda: load_config(config))
    with out.status("Rebuilding from the archive..."):
        report = _guard(lambda: rebuild_database(settings))
    out.print(f"Rebuilt {settings.data_dir / 'catalog.duckdb'} from {report.pulls} archived pulls: {report.events} events.")


@app.command("simulate")
def simulate_command(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed of the catalog evolution.")] = 42,
    day: Annotated[int, typer.Option(help="Simulated day to serve (POST /_sim/day changes it).")] = 0,
) -> None:
    """Serve the Quantized API simulator on loopback until Ctrl-C."""
    import logging

    from flows.simulator import serve_forever

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    _guard(lambda: serve_forever("127.0.0.1", port, seed, day))


@app.command("serve")
def serve_command(
    config: ConfigOption = None,
    port: Annotated[int, typer.Option(help="Port of the local Prefect server started when PREFECT_API_URL is not set.")] = 4200,
    once_now: Annotated[bool, typer.Option("--once-now", help="Also trigger one run right away, through the deployment.")] = False,
    interval: Annotated[float | None, typer.Option(min=1, help="Run every N seconds instead of the configured cron (to try a setup).")] = None,
) -> None:
    """Run the nightly flow on its schedule until Ctrl-C or SIGTERM."""
    from flows.config import load_config
    from flows.serve import serve

    settings = _guard(lambda: load_config(config))
    _guard(lambda: serve(settings, port, once_now, interval, out))


@app.command("status")
def status_command(
    config: ConfigOption = None,
    stale_after: Annotated[str, typer.Option(help="Age of the last good pull after which a catalog is stale (36h, 2d, 90m).")] = "36h",
) -> None:
    """Last pull of each catalog, the next scheduled run, and which catalogs are stale or failing."""
    from flows.config import load_config
    from flows.status import catalog_statuses, next_scheduled_run, parse_span

    settings = _guard(lambda: load_config(config))
    span = _guard(lambda: parse_span(stale_after))
    statuses = _guard(lambda: catalog_statuses(settings, span))
    table = Table(title="qcat status")
    for column in ("license", "provider", "last pull (UTC)", "status", "models", "last ok (UTC)", "problem"):
        table.add_column(column)
    for s in statuses:
        table.add_row(
            s.license,
            s.provider,
            f"{s.last_pull_at:%Y-%m-%d %H:%M}" if s.last_pull_at else "-",
            s.last_status or "-",
            "-" if s.last_models is None else str(s.last_models),
            f"{s.last_ok_at:%Y-%m-%d %H:%M}" if s.last_ok_at else "-",
            f"[red]{s.problem}[/]" if s.problem else "[green]ok[/]",
        )
    out.print(table)
    out.print(f"Next scheduled run: {next_scheduled_run()}")
    problems = [s for s in statuses if s.problem]
    if problems:
        err.print(f"qcat: {len(problems)} of {len(statuses)} catalogs stale or failing", highlight=False)
        raise typer.Exit(EXIT_CATALOG_FAILED)


@app.command("report")
def report_command(
    out_path: Annotated[Path, typer.Option("--out", help="HTML file to write (replaced atomically).")],
    config: ConfigOption = None,
    since: Annotated[str, typer.Option(help="Window of recent changes and charts: a span back from the latest pull (30d, 36h) or an ISO date.")] = "30d",
    top: Annotated[int, typer.Option(min=1, max=100, help="Models charted and license spreads listed (at most 100, to keep the file small).")] = 25,
) -> None:
    """Write one self-contained HTML report: catalogs, recent changes, price histories, license spreads."""
    from flows.config import load_config
    from flows.report import write_report

    settings = _guard(lambda: load_config(config))
    report = _guard(lambda: write_report(settings, out_path, since, top))
    out.print(
        f"Wrote {report.path} ({report.size_bytes / 1e6:.2f} MB): {report.catalogs} catalogs, {report.changes} changes and "
        f"{report.changed_models} models with rate changes since {report.since:%Y-%m-%d %H:%M} UTC, {report.charted_models} charted.",
        highlight=False,
    )


def _guard(action: Callable[[], T]) -> T:
    """The edge where typed errors become one line and an exit code, never a traceback."""
    try:
        return action()
    except QcatError as exc:
        err.print(f"qcat: error: {exc}", markup=False, highlight=False)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("qcat: interrupted")
        raise typer.Exit(130) from None
    except OSError as exc:
        err.print(f"qcat: error: {exc}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INTERNAL) from None
    except Exception as exc:  # noqa: BLE001 - the last line of defence before a traceback
        if os.environ.get("QCAT_DEBUG"):
            raise
        err.print(f"qcat: internal error: {type(exc).__name__}: {exc} (set QCAT_DEBUG=1 for a traceback)", markup=False, highlight=False)
        raise typer.Exit(EXIT_INTERNAL) from None


def _print_summary(summaries: list[CatalogSummary]) -> None:
    table = Table(title="qcat run")
    for column in ("license", "provider", "status", "models", "events", "error"):
        table.add_column(column, justify="right" if column in ("models", "events") else "left")
    for s in summaries:
        style = "green" if s.status == "ok" else "red"
        table.add_row(s.license, s.provider, f"[{style}]{s.status}[/]", "" if s.models is None else str(s.models), str(s.events), s.error or "")
    out.print(table)


def _exit_code(summaries: list[CatalogSummary]) -> int:
    from flows.pipeline import failed

    return EXIT_CATALOG_FAILED if failed(summaries) else 0


if __name__ == "__main__":
    sys.exit(main())
