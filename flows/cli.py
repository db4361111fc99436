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
from rich.markup import escape
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


alerts_app = typer.Typer(no_args_is_help=False, help="Alert deliveries: list them, test a channel, preview the last run's alerts.")
app.add_typer(alerts_app, name="alerts")
ALERT_STATES = ("pending", "sent", "failed", "expired")


@alerts_app.callback(invoke_without_command=True)
def alerts_command(
    ctx: typer.Context,
    config: ConfigOption = None,
    state: Annotated[str | None, typer.Option(help="Only deliveries in this state: pending, sent, failed or expired.")] = None,
) -> None:
    """List alert deliveries, newest first (does not import Prefect)."""
    if ctx.invoked_subcommand is not None:
        return
    from flows.alerts import deliveries
    from flows.config import load_config

    if state is not None and state not in ALERT_STATES:
        raise typer.BadParameter(f"{state!r} is not one of {', '.join(ALERT_STATES)}", param_hint="--state")
    settings = _guard(lambda: load_config(config))
    rows = _guard(lambda: deliveries(settings, state))
    table = Table(title="qcat alerts")
    for column in ("state", "channel", "alert", "attempts", "enqueued (UTC)", "last attempt (UTC)", "last error"):
        table.add_column(column, justify="right" if column == "attempts" else "left")
    for row_state, channel, critical, summary, attempts, enqueued_at, last_attempt_at, _, last_error in rows:
        table.add_row(
            row_state,
            channel,
            ("[red]CRITICAL[/] " if critical else "") + escape(summary),
            str(attempts),
            f"{enqueued_at:%Y-%m-%d %H:%M}",
            f"{last_attempt_at:%Y-%m-%d %H:%M}" if last_attempt_at else "-",
            escape(last_error or ""),
        )
    out.print(table)


@alerts_app.command("test")
def alerts_test_command(
    channel: Annotated[str, typer.Option("--channel", help="Name of an [[alerts.channels]] entry.")],
    config: ConfigOption = None,
) -> None:
    """Send a sample message through one channel; exit 1 with the reason if it fails."""
    from flows.alerts import send_test
    from flows.config import load_config

    settings = _guard(lambda: load_config(config))
    target = _guard(lambda: settings.alerts.channel(channel))
    _guard(lambda: send_test(settings, target))
    out.print(f"Sent a test message to alert channel {channel!r} ({target.type}).", markup=False, highlight=False)


@alerts_app.command("preview")
def alerts_preview_command(config: ConfigOption = None) -> None:
    """Show the alerts of the last run and the messages each channel would get; sends and writes nothing."""
    from flows.alerts import preview
    from flows.channels import text
    from flows.config import load_config

    settings = _guard(lambda: load_config(config))
    alerts, messages = _guard(lambda: preview(settings))
    out.print(f"The last run has {len(alerts)} alert{'s' if len(alerts) != 1 else ''} passing the rules.", highlight=False)
    if not settings.alerts.channels:
        out.print("No [[alerts.channels]] configured:", highlight=False)
        for alert in alerts:
            out.print(f"  {alert.item['summary']}", markup=False, highlight=False)
    for message in messages:
        out.print(f"--- {message.channel.name} ({message.channel.type}, {message.kind}) ---", markup=False, highlight=False)
        out.print(text(message), markup=False, highlight=False)


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
