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
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from flows.errors import QcatError

EXIT_CATALOG_FAILED = 1
EXIT_INTERNAL = 70

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Snapshots and history of Quantized model catalogs.")
out = Console()
err = Console(stderr=True)
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


def _print_summary(summaries: list) -> None:
    table = Table(title="qcat run")
    for column in ("license", "provider", "status", "models", "events", "error"):
        table.add_column(column, justify="right" if column in ("models", "events") else "left")
    for s in summaries:
        style = "green" if s.status == "ok" else "red"
        table.add_row(s.license, s.provider, f"[{style}]{s.status}[/]", "" if s.models is None else str(s.models), str(s.events), s.error or "")
    out.print(table)


def _exit_code(summaries: list) -> int:
    from flows.pipeline import failed

    return EXIT_CATALOG_FAILED if failed(summaries) else 0


if __name__ == "__main__":
    sys.exit(main())
