"""The `qcat` command. Errors become one line on stderr and a documented exit code.

Exit codes: 0 success; 1 at least one catalog failed or was held back as suspect; 2 bad
configuration or usage; 3 another process holds the data directory too long; 70 internal error.
Prefect is imported only by the commands that run flows, so read-only commands start fast.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone, tzinfo
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TextIO, TypeVar

import typer

from flows.engine import duckdb
from flows.errors import QcatError, UsageError
from flows.output import FORMATS, Result, printable, render
from flows.queries import Filters
from flows.timespec import parse_instant, parse_zone

if TYPE_CHECKING:
    from rich.console import Console

    from flows.pipeline import CatalogSummary
    from flows.repair import RepairReport

EXIT_CATALOG_FAILED = 1
EXIT_INTERNAL = 70

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Snapshots and history of Quantized model catalogs.")
ConfigOption = Annotated[str | None, typer.Option("--config", "-c", help="qcat.toml to use (default: $QCAT_CONFIG, then ./qcat.toml)")]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="table (for people), json or csv (for scripts).")]
TzOption = Annotated[str, typer.Option("--tz", help="Time zone of the times shown, and of times given without an offset.")]
SqlTzOption = Annotated[str, typer.Option("--tz", help="Time zone of the times shown; times written in the query are read as UTC.")]
LicenseOption = Annotated[list[str] | None, typer.Option("--license", "-l", help="Only these licenses (repeat it, or separate with commas).")]
ProviderOption = Annotated[list[str] | None, typer.Option("--provider", "-p", help="Only these providers (repeat it, or separate with commas).")]
ModelOption = Annotated[str | None, typer.Option("--model", "-m", help="Model ids matching a glob (gpt-4o*) or containing this text; ignores case.")]
T = TypeVar("T")
Question = Callable[["duckdb.DuckDBPyConnection", tzinfo, datetime], Result]


def main() -> None:
    """Usage errors (an unknown option, a missing value) become one line on stderr and exit 2, like
    every other error: typer would draw them in a box."""
    # click's exceptions, or the copy of them that newer typers vendor
    errors = sys.modules[typer.BadParameter.__module__]
    try:
        code = _app_for(sys.argv[1] if len(sys.argv) > 1 else None)(standalone_mode=False)
    except getattr(errors, "NoArgsIsHelpError", ()) as exc:
        sys.stdout.write(exc.format_message() + "\n")
        sys.exit(exc.exit_code)
    except errors.ClickException as exc:
        context = getattr(exc, "ctx", None)
        hint = f" (see `{context.command_path} --help`)" if context is not None else ""
        say(f"qcat: error: {exc.format_message()}{hint}")
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _app_for(name: str | None) -> typer.Typer:
    """typer builds the parser of every command at each start, a tenth of a query's time budget:
    when the first argument names a command, only that one is built (help and typos get them all)."""
    commands = [info for info in app.registered_commands if info.name == name]
    groups = [info for info in app.registered_groups if info.name == name]
    if not commands and not groups:
        return app
    only = typer.Typer(add_completion=False, help=app.info.help)
    only.registered_commands = commands
    only.registered_groups = groups
    # a callback keeps it a group, so that the command's name is still read as the first argument
    only.callback()(lambda: None)
    return only


@cache
def out() -> Console:
    """Rich is imported only by the commands that draw with it, so queries start faster.

    Nothing printed is read as markup or emoji codes: it quotes the API (a model id in an error),
    paths and configuration, any of which may hold brackets, and `vendor/model:free: output ...`
    holds `:free:`, which rich would draw as a picture. Styles are given as `Text` instead."""
    from rich.console import Console

    # piped output (logs, CI, scripts) gets wide tables instead of rich's 80 columns
    return Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160, markup=False, emoji=False)


def say(message: str) -> None:
    """One plain line on stderr: errors and notices must reach scripts and logs unformatted (and a
    model id quoted in one cannot drive the terminal)."""
    sys.stderr.write(printable(message) + "\n")
    sys.stderr.flush()


@app.command("run")
def run_command(config: ConfigOption = None) -> None:
    """Pull every configured catalog now, archive it and load the history."""
    from flows.config import load_config, make_data_dir

    settings = _guard(lambda: make_data_dir(load_config(config)))
    from flows.runner import interrupt_on_termination, run_nightly

    interrupt_on_termination()
    summaries = _guard(lambda: run_nightly(str(settings.source)))
    _print_summary(summaries)
    raise typer.Exit(_exit_code(summaries))


@app.command("demo")
def demo_command(
    days: Annotated[int, typer.Option(min=2, max=365, help="Simulated nightly pulls to run.")] = 30,
    data_dir: Annotated[Path, typer.Option(help="Where the demo's archive and database go (a folder the demo made is replaced; any other is refused).")] = Path("data/demo"),
) -> None:
    """Run simulated nights (30 by default) against the built-in simulator and show what changed."""
    from flows.demo import run_demo
    from flows.runner import interrupt_on_termination

    interrupt_on_termination()
    _guard(lambda: run_demo(data_dir, days, out()))


@app.command("rebuild")
def rebuild_command(
    config: ConfigOption = None,
    drop_missing: Annotated[
        bool, typer.Option("--drop-missing", help="Rebuild even if pulls in catalog.duckdb lost their archived records: they leave the history.")
    ] = False,
) -> None:
    """Recreate catalog.duckdb from the archive alone."""
    from flows.config import load_config
    from flows.replay import rebuild_database

    settings = _guard(lambda: load_config(config))
    with out().status("Rebuilding from the archive..."):
        report = _guard(lambda: rebuild_database(settings, drop_missing))
    out().print(f"Rebuilt {settings.data_dir / 'catalog.duckdb'} from {report.pulls} archived pulls: {report.events} events.", highlight=False, soft_wrap=True)


@app.command("repair")
def repair_command(
    config: ConfigOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what is damaged and what would be regenerated.")] = False,
) -> None:
    """Check every archived pull; regenerate damaged or missing Parquet files from their raw responses."""
    from flows.config import load_config
    from flows.repair import repair_archive

    settings = _guard(lambda: load_config(config))
    with out().status("Checking the archive...") as status:
        report = _guard(lambda: repair_archive(settings, dry_run, lambda done, total: status.update(f"Checking archived pulls: {done}/{total}")))
    _print_findings(settings.data_dir, report)
    raise typer.Exit(EXIT_CATALOG_FAILED if report.left else 0)


@app.command("simulate")
def simulate_command(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed of the catalog evolution.")] = 42,
    day: Annotated[int, typer.Option(help="Simulated day to serve (POST /_sim/day changes it).")] = 0,
) -> None:
    """Serve the Quantized API simulator on loopback until Ctrl-C.

    Point a config's api.base_url at http://127.0.0.1:PORT/v1; its keys are sim-key-acme-prod and sim-key-acme-research.
    """
    import logging

    from flows.simulator import serve_forever

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    _guard(lambda: serve_forever("127.0.0.1", port, seed, day))


@app.command("serve")
def serve_command(
    config: ConfigOption = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the local Prefect server started when PREFECT_API_URL is not set.")] = 4200,
    once_now: Annotated[bool, typer.Option("--once-now", help="Also trigger one run right away, through the deployment.")] = False,
    interval: Annotated[float | None, typer.Option(min=1, help="Run every N seconds instead of the configured cron (to try a setup).")] = None,
) -> None:
    """Run the nightly flow on its schedule until Ctrl-C or SIGTERM."""
    from flows.config import load_config, make_data_dir
    from flows.serve import serve

    settings = _guard(lambda: make_data_dir(load_config(config)))
    _guard(lambda: serve(settings, port, once_now, interval, out()))


@app.command("status")
def status_command(
    config: ConfigOption = None,
    stale_after: Annotated[str, typer.Option(help="Age of the last good pull after which a catalog is stale (36h, 2d, 90m).")] = "36h",
) -> None:
    """Last pull of each catalog, the next scheduled run, and which catalogs are stale or failing."""
    from flows.config import load_config
    from flows.database import db_path
    from flows.status import catalog_statuses, next_scheduled_run
    from flows.timespec import parse_span

    settings = _guard(lambda: load_config(config))
    span = _guard(lambda: parse_span(stale_after, "--stale-after"))
    statuses = _guard(lambda: catalog_statuses(settings, span, on_wait=_busy(db_path(settings.data_dir), settings.lock_timeout_seconds)))
    from rich.table import Table
    from rich.text import Text

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
            Text(printable(s.problem), style="red") if s.problem else Text("ok", style="green"),
        )
    out().print(table)
    out().print(f"Next scheduled run: {next_scheduled_run(settings)}", highlight=False, soft_wrap=True)
    problems = [s for s in statuses if s.problem]
    if problems:
        say(f"qcat: {len(problems)} of {len(statuses)} catalogs stale or failing")
        raise typer.Exit(EXIT_CATALOG_FAILED)


@app.command("import")
def import_command(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...", help="Saved /v1/models responses: .json files, or folders of them.")],
    license: Annotated[str, typer.Option("--license", "-l", help="The license these responses were pulled with.")],
    provider: Annotated[str, typer.Option("--provider", "-p", help="The provider they list (default: the gateway's default).")] = "default",
    observed_at: Annotated[str | None, typer.Option("--observed-at", help="When the one file given was pulled (otherwise: a sidecar or the file name).")] = None,
    tz: Annotated[str, typer.Option("--tz", help="Time zone of observation times written without an offset.")] = "UTC",
    config: ConfigOption = None,
) -> None:
    """Archive and load catalog responses saved before qcat, as if they had been pulled live."""
    from flows.config import load_config, make_data_dir
    from flows.importer import collect, import_responses

    settings = _guard(lambda: make_data_dir(load_config(config)))
    zone = _guard(lambda: parse_zone(tz))
    when = _guard(lambda: parse_instant(observed_at, "--observed-at", zone, datetime.now(timezone.utc)) if observed_at else None)
    responses = _guard(lambda: collect(paths, when, zone))
    report = _guard(lambda: import_responses(settings, license, provider, responses))
    replayed = "; the catalog's history was replayed from the archive, in time order" if report.replayed else ""
    sys.stdout.write(
        f"{license}/{provider}: {report.archived} of {report.files} responses archived "
        f"({report.already_archived} already in the archive), {report.loaded} loaded, {report.events} events{replayed}.\n"
    )
    for record, reason in report.held:
        say(f"{license}/{provider}: the pull observed at {record.observed_at.isoformat()} is suspect: it {reason}.")
    if report.held:
        raise typer.Exit(EXIT_CATALOG_FAILED)


@app.command("rates")
def rates_command(
    as_of: Annotated[str | None, typer.Option("--as-of", help="An instant (2026-03-12T08:00, a date = its end, 30d = 30 days ago).")] = None,
    license: LicenseOption = None,
    provider: ProviderOption = None,
    model: ModelOption = None,
    fmt: FormatOption = "table",
    tz: TzOption = "UTC",
    config: ConfigOption = None,
) -> None:
    """The rates of every license and provider, now or at an instant."""
    from flows.queries import rates, rates_table

    def question(con: duckdb.DuckDBPyConnection, zone: tzinfo, now: datetime) -> Result:
        instant = parse_instant(as_of, "--as-of", zone, now, date_is_end=True) if as_of else None
        return (rates_table if fmt == "table" else rates)(con, _filters(license, provider, model), instant, zone)

    _ask(config, fmt, tz, question)


@app.command("history")
def history_command(
    model_id: Annotated[str, typer.Argument(metavar="MODEL", help="The exact model id.")],
    license: LicenseOption = None,
    provider: ProviderOption = None,
    fmt: FormatOption = "table",
    tz: TzOption = "UTC",
    config: ConfigOption = None,
) -> None:
    """Every version of one model in each catalog: rates, how each began, removals."""
    from flows.queries import compact_history, history

    def question(con: duckdb.DuckDBPyConnection, zone: tzinfo, now: datetime) -> Result:
        result = history(con, model_id, _filters(license, provider, None))
        return compact_history(result) if fmt == "table" else result

    _ask(config, fmt, tz, question)


@app.command("changes")
def changes_command(
    since: Annotated[str, typer.Option(help="From this instant on (7d, 36h, 2026-03-01, 2026-03-01T12:00Z).")] = "7d",
    until: Annotated[str, typer.Option(help="Up to this instant, excluded.")] = "now",
    event_type: Annotated[list[str] | None, typer.Option("--type", "-t", help="added, removed, readded, rate_changed, limits_changed, renamed (repeat or use commas).")] = None,
    min_pct: Annotated[float | None, typer.Option("--min-pct", help="Only rate changes where a rate moved at least this many percent.")] = None,
    direction: Annotated[str | None, typer.Option(help="Only rate changes where a rate went this way (with --min-pct, by at least that much): increase or decrease.")] = None,
    license: LicenseOption = None,
    provider: ProviderOption = None,
    model: ModelOption = None,
    fmt: FormatOption = "table",
    tz: TzOption = "UTC",
    config: ConfigOption = None,
) -> None:
    """What changed in the catalogs: additions, removals, returns, rate, limit and name changes."""
    from flows.queries import changes

    def question(con: duckdb.DuckDBPyConnection, zone: tzinfo, now: datetime) -> Result:
        start = parse_instant(since, "--since", zone, now)
        end = parse_instant(until, "--until", zone, now)
        return changes(con, _filters(license, provider, model), start, end, _split(event_type, "--type"), min_pct, direction, zone, compact=fmt == "table")

    _ask(config, fmt, tz, question)


@app.command("compare")
def compare_command(
    licenses: Annotated[str | None, typer.Option(help="Two licenses, A,B: the same models and providers side by side.")] = None,
    providers: Annotated[str | None, typer.Option(help="Two providers, P,Q: the same models and licenses side by side.")] = None,
    license: LicenseOption = None,
    provider: ProviderOption = None,
    model: ModelOption = None,
    fmt: FormatOption = "table",
    tz: TzOption = "UTC",
    config: ConfigOption = None,
) -> None:
    """Current rates of two licenses (or two providers) for the models both list; ratio = A / B."""
    from flows.queries import compare

    def question(con: duckdb.DuckDBPyConnection, zone: tzinfo, now: datetime) -> Result:
        if (licenses is None) == (providers is None):
            raise UsageError("compare: give exactly one of --licenses A,B or --providers P,Q")
        by, text = ("license", licenses) if licenses is not None else ("provider", providers)
        pair = _split([text or ""], f"--{by}s")
        if len(pair) != 2 or pair[0] == pair[1]:
            raise UsageError(f"--{by}s: {text!r} is not two different names separated by a comma")
        return compare(con, by, (pair[0], pair[1]), _filters(license, provider, model))

    _ask(config, fmt, tz, question)


@app.command("sql")
def sql_command(
    query: Annotated[str | None, typer.Argument(help="A query; read from stdin when absent or '-'.")] = None,
    fmt: FormatOption = "table",
    tz: SqlTzOption = "UTC",
    config: ConfigOption = None,
) -> None:
    """Run a query against catalog.duckdb opened read-only."""
    from flows.queries import adhoc, plan_lines

    text = sys.stdin.read() if query in (None, "-") else query
    if not text.strip():
        _usage_error("sql: no query given (as an argument, or on stdin)")
    _ask(config, fmt, tz, lambda con, zone, now: plan_lines(adhoc(con, text)) if fmt == "table" else adhoc(con, text))


def _ask(config: str | None, fmt: str, tz: str, question: Question) -> None:
    """Open the database read-only (waiting while a load writes), ask, and print the answer."""
    from flows.config import load_config
    from flows.database import db_path, reading

    settings = _guard(lambda: load_config(config))
    zone = _guard(lambda: parse_zone(tz))

    def answer() -> Result:
        if fmt not in FORMATS:
            raise UsageError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
        path = db_path(settings.data_dir)
        if not path.exists():
            raise UsageError(f"no database at {path} yet: `qcat run` pulls and loads, `qcat rebuild` derives it from an archive")

        with reading(path, settings.lock_timeout_seconds, _busy(path, settings.lock_timeout_seconds)) as con:
            return question(con, zone, datetime.now(timezone.utc))

    result = _guard(answer)
    _guard(lambda: _write(lambda stream: render(result, fmt, zone, stream)))


def _write(render_to: Callable[[TextIO], None]) -> None:
    """Write the whole answer to stdout's file descriptor until it is all out. Python's buffered
    stdout drops the rest without an error when a reader leaves during a large write (`qcat changes
    | head`), which ends a truncated answer with status 0; the next write here fails instead (141)."""
    text = io.StringIO()
    render_to(text)
    data = memoryview(text.getvalue().encode(sys.stdout.encoding or "utf-8"))
    sys.stdout.flush()
    while data:
        data = data[os.write(sys.stdout.fileno(), data) :]


def _busy(path: Path, seconds: float) -> Callable[[], None]:
    """What a reader says once when a load holds the database: it is waiting, not hung."""
    return lambda: say(f"qcat: {path.name} is busy (a load is writing); waiting up to {seconds:.0f} s")


def _usage_error(message: str) -> NoReturn:
    say(f"qcat: error: {message}")
    raise typer.Exit(UsageError.exit_code)


def _split(values: list[str] | None, option: str) -> tuple[str, ...]:
    """Names given once each or separated by commas. A value that names nothing (`-l "$LICENSE"`
    with the variable unset) is refused: read as no filter, it would answer for every catalog; so is
    an empty name among others (`-l "acme-prod,$OTHER"`), which would quietly answer for fewer."""
    names: list[str] = []
    for value in values or ():
        parts = [part.strip() for part in value.split(",")]
        if not any(parts):
            raise UsageError(f"{option}: {value!r} names nothing")
        if not all(parts):
            raise UsageError(f"{option}: {value!r} has an empty name between its commas")
        names += parts
    return tuple(names)


def _filters(license: list[str] | None, provider: list[str] | None, model: str | None) -> Filters:
    if model is not None and not model.strip():
        raise UsageError(f"--model: {model!r} names nothing")
    return Filters(_split(license, "--license"), _split(provider, "--provider"), model)


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
    from flows.database import db_path

    busy = _busy(db_path(settings.data_dir), settings.lock_timeout_seconds)
    report = _guard(lambda: write_report(settings, out_path, since, top, busy))
    sys.stdout.write(
        f"Wrote {report.path} ({report.size_bytes / 1e6:.2f} MB): {report.catalogs} catalogs, {report.changes} changes and "
        f"{report.changed_models} models with rate changes since {report.since:%Y-%m-%d %H:%M} UTC, {report.charted_models} charted.\n"
    )


alerts_app = typer.Typer(no_args_is_help=False, help="Alert deliveries: list them, test a channel, preview the last run's alerts.")
app.add_typer(alerts_app, name="alerts")


@alerts_app.callback(invoke_without_command=True)
def alerts_command(
    ctx: typer.Context,
    config: ConfigOption = None,
    state: Annotated[str | None, typer.Option(help="Only deliveries in this state: pending, sent, failed or expired.")] = None,
    since: Annotated[str | None, typer.Option(help="Only deliveries enqueued from this instant on (7d, 2026-03-01).")] = None,
    fmt: FormatOption = "table",
    tz: TzOption = "UTC",
) -> None:
    """List alert deliveries, newest first (does not import Prefect)."""
    if ctx.invoked_subcommand is not None:
        # typer's click may be its own vendored copy: its ParameterSource is compared by name
        if any(getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE" for name in ("config", "state", "since", "fmt", "tz")):
            _usage_error(f"give --config after `alerts {ctx.invoked_subcommand}`; --state, --since, --format and --tz belong to `qcat alerts` alone")
        return
    from flows.queries import ALERT_STATES, alert_deliveries

    if state is not None and state not in ALERT_STATES:
        # before the database is opened: a typo is a typo even where there is no database yet
        _usage_error(f"--state: {state!r} is not one of {', '.join(ALERT_STATES)}")

    def question(con: duckdb.DuckDBPyConnection, zone: tzinfo, now: datetime) -> Result:
        start = parse_instant(since, "--since", zone, now) if since else None
        return alert_deliveries(con, state, start, zone, compact=fmt == "table")

    _ask(config, fmt, tz, question)


@alerts_app.command("test")
def alerts_test_command(
    # help text is rich markup, where [alerts.channels] alone would be a style tag
    channel: Annotated[str, typer.Option("--channel", help="Name of an [\\[alerts.channels]] entry.")],
    config: ConfigOption = None,
) -> None:
    """Send a sample message through one channel; exit 1 with the reason if it fails."""
    from flows.alerts import send_test
    from flows.config import load_config
    from flows.runner import prefect_defaults

    prefect_defaults()  # a Prefect block or Secret channel imports Prefect: no telemetry tracebacks

    settings = _guard(lambda: load_config(config))
    target = _guard(lambda: settings.alerts.channel(channel))
    _guard(lambda: send_test(settings, target))
    out().print(f"Sent a test message to alert channel {channel!r} ({target.type}).", highlight=False)


@alerts_app.command("preview")
def alerts_preview_command(config: ConfigOption = None) -> None:
    """Show the alerts of the last run and the messages each channel would get; sends and writes nothing."""
    from flows.alerts import preview
    from flows.channels import Message, text
    from flows.config import load_config

    settings = _guard(lambda: load_config(config))
    alerts, messages = _guard(lambda: preview(settings))
    out().print(f"The last run has {len(alerts)} alert{'s' if len(alerts) != 1 else ''} passing the rules.", highlight=False)
    if not settings.alerts.channels:
        out().print(f"No [[alerts.channels]] configured: {'these would go nowhere' if alerts else 'nothing would be sent'}.", highlight=False)
        for alert in alerts:
            out().print(f"  {printable(alert.item['summary'])}", highlight=False)
    for message in messages:
        out().print(f"--- {message.channel.name} ({message.channel.type}, {message.kind}) ---", highlight=False)
        # the gateway's ids and names made printable before they are laid out in lines
        shown = tuple(alert | {"summary": printable(alert["summary"]), "line": printable(alert["line"])} for alert in message.alerts)
        out().print(text(Message(message.channel, message.kind, shown)), highlight=False, soft_wrap=True)


def _guard(action: Callable[[], T]) -> T:
    """The edge where typed errors become one line and an exit code, never a traceback."""
    try:
        return action()
    except QcatError as exc:
        say(f"qcat: error: {exc}")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        _interrupted()
    except BrokenPipeError:
        # the reader left (`qcat changes | head`): stop quietly, with the status a shell gives SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(141) from None
    except OSError as exc:
        # the machine's doing (a full disk, a permission), not a bug: the work failed, exit 1
        say(f"qcat: error: {exc}")
        raise typer.Exit(QcatError.exit_code) from None
    except Exception as exc:  # noqa: BLE001 - the last line of defence before a traceback
        from flows.database import DB_NAME, damage, is_damage, is_interrupted

        if is_interrupted(exc):
            _interrupted()
        if os.environ.get("QCAT_DEBUG"):
            raise
        if is_damage(exc):
            say(f"qcat: error: {damage(Path(DB_NAME), exc)}")
            raise typer.Exit(QcatError.exit_code) from None
        say(f"qcat: internal error: {type(exc).__name__}: {exc} (set QCAT_DEBUG=1 for a traceback)")
        raise typer.Exit(EXIT_INTERNAL) from None


def _interrupted() -> NoReturn:
    say("qcat: interrupted")
    raise typer.Exit(130) from None


def _print_summary(summaries: list[CatalogSummary]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="qcat run")
    for column in ("license", "provider", "status", "models", "events", "error"):
        table.add_column(column, justify="right" if column in ("models", "events") else "left")
    for s in summaries:
        style = "green" if s.status == "ok" else "red"
        table.add_row(s.license, s.provider, Text(s.status, style=style), "" if s.models is None else str(s.models), str(s.events), printable(s.error or ""))
    out().print(table)


def _print_findings(data_dir: Path, report: RepairReport) -> None:
    for finding in report.findings:
        out().print(f"{finding.file.relative_to(data_dir)}: {finding.problem}: {finding.action}", highlight=False, soft_wrap=True)
    counts = {
        "regenerated": sum(f.repaired for f in report.findings),
        "to regenerate (run without --dry-run)": sum(f.repairable and not f.repaired for f in report.findings),
        "to restore from a backup": sum(not f.repairable and not f.by_rebuild for f in report.findings),
        "to load with `qcat rebuild`": sum(f.by_rebuild for f in report.findings),
    }
    summary = ", ".join(f"{n} file{'s' * (n != 1)} {label}" for label, n in counts.items() if n) or "no damage"
    out().print(f"Checked {report.pulls} archived pulls: {summary}.", highlight=False)


def _exit_code(summaries: list[CatalogSummary]) -> int:
    from flows.pipeline import failed

    return EXIT_CATALOG_FAILED if failed(summaries) else 0


if __name__ == "__main__":
    sys.exit(main())
