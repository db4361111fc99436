"""The questions behind `qcat rates`, `history`, `changes`, `compare` and `sql`.

Plain functions over a read-only connection, so that tests ask them directly and the CLI only
parses arguments and prints. Filters name catalogs the database must know: a mistyped license
is an error, not an empty answer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone, tzinfo
from typing import Any

from flows.database import first_line, is_interrupted
from flows.engine import duckdb
from flows.errors import UsageError
from flows.output import Result
from flows.sqlfiles import run
from flows.timespec import in_zone

EVENT_TYPES = ("added", "removed", "readded", "rate_changed", "limits_changed", "renamed")
ALERT_STATES = ("pending", "sent", "failed", "expired")
DIRECTIONS = ("increase", "decrease")
# what makes --model text a glob (config.GLOB_CHARACTERS is another matter: paths DuckDB expands)
GLOB_MARKS = frozenset("*?[")


@dataclass(frozen=True)
class Filters:
    licenses: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    model: str | None = None

    def params(self) -> dict[str, Any]:
        return {"licenses": list(self.licenses), "providers": list(self.providers), "model_glob": model_glob(self.model)}


def model_glob(pattern: str | None) -> str | None:
    """A glob matches the whole id; plain text matches anywhere in it, its backslashes as they are
    (DuckDB's glob reads one as an escape). Both ignore case (the SQL lowers both sides)."""
    if not pattern:
        return None
    if GLOB_MARKS & set(pattern):
        return pattern
    literal = pattern.replace("\\", "\\\\")
    return f"*{literal}*"


def check_filters(con: duckdb.DuckDBPyConnection, filters: Filters, options: tuple[str, str] = ("--license", "--provider")) -> None:
    """`options`: the command line's names for the licenses and providers given, for the error."""
    if not filters.licenses and not filters.providers:
        return
    catalogs = run(con, "query_catalogs").fetchall()
    for option, kind, wanted, known in (
        (options[0], "license", filters.licenses, sorted({license for license, _ in catalogs})),
        (options[1], "provider", filters.providers, sorted({provider for _, provider in catalogs})),
    ):
        for name in wanted:
            if name not in known:
                raise UsageError(f"{option}: no catalog with {kind} {name!r} in the database (known: {', '.join(known) or 'none yet'})")


def rates(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime | None, zone: tzinfo = timezone.utc) -> Result:
    return _result(_ask_rates(con, "query_rates", filters, as_of), _rates_title(as_of, zone))


def rates_table(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime | None, zone: tzinfo = timezone.utc) -> Result:
    """What `rates` shows as a table, laid out by DuckDB but for its times (query_rates_table.sql says why)."""
    run(con, "printable")
    rows = _ask_rates(con, "query_rates_table", filters, as_of).fetchall()
    lines = [line for line, _ in rows]
    return Result(["valid_from"], [(valid_from,) for _, valid_from in rows[2:]], _rates_title(as_of, zone), utc=True, lines=lines, types=["TIMESTAMP"])


def _ask_rates(con: duckdb.DuckDBPyConnection, query: str, filters: Filters, as_of: datetime | None) -> duckdb.DuckDBPyConnection:
    """Both forms select through the rates_filtered macro (sql/rates_filtered.sql), created here."""
    check_filters(con, filters)
    run(con, "rates_filtered")
    return run(con, query, {"as_of": as_of, **filters.params()})


def _rates_title(as_of: datetime | None, zone: tzinfo) -> str:
    title = f"Rates as of {in_zone(as_of, zone):%Y-%m-%d %H:%M:%S.%f} {zone}" if as_of else "Current rates"
    return f"{title} (micro-credits per token)"


def history(con: duckdb.DuckDBPyConnection, model_id: str, filters: Filters) -> Result:
    check_filters(con, filters)
    params = {"model_id": model_id, "licenses": list(filters.licenses), "providers": list(filters.providers)}
    result = _result(run(con, "query_history", params), f"History of {model_id} (micro-credits per token)")
    if not result.rows:
        similar = [row[0] for row in run(con, "query_model_ids", {"model_glob": model_glob(model_id)}).fetchall()]
        hint = f"; ids containing it: {', '.join(similar)}" if similar else ""
        raise UsageError(f"no model {model_id!r} in the selected catalogs{hint}")
    return result


def changes(
    con: duckdb.DuckDBPyConnection,
    filters: Filters,
    since: datetime,
    until: datetime,
    types: tuple[str, ...] = (),
    min_pct: float | None = None,
    direction: str | None = None,
    zone: tzinfo = timezone.utc,
    compact: bool = False,
) -> Result:
    """`compact`: the table view, what changed in words instead of twenty columns."""
    for event_type in types:
        if event_type not in EVENT_TYPES:
            raise UsageError(f"--type: {event_type!r} is not an event type ({', '.join(EVENT_TYPES)})")
    if direction is not None and direction not in DIRECTIONS:
        raise UsageError(f"--direction: {direction!r} is not one of {', '.join(DIRECTIONS)}")
    others = sorted(set(types) - {"rate_changed"})
    if others and (min_pct is not None or direction is not None):
        raise UsageError(f"--min-pct and --direction select rate changes; they cannot apply to --type {', '.join(others)}")
    if min_pct is not None and not (0 <= min_pct < math.inf):
        raise UsageError(f"--min-pct: {min_pct} is not a size of change: give a percentage of 0 or more")
    if since >= until:
        raise UsageError(f"--since ({since:%Y-%m-%d %H:%M} UTC) is not before --until ({until:%Y-%m-%d %H:%M} UTC)")
    check_filters(con, filters)
    params = {"since": since, "until": until, "types": list(types), "min_pct": min_pct, "direction": direction, **filters.params()}
    window = f"{in_zone(since, zone):%Y-%m-%d %H:%M} to {in_zone(until, zone):%Y-%m-%d %H:%M} {zone}"
    return _result(run(con, "query_changes_table" if compact else "query_changes", params), f"Changes from {window}")


def alert_deliveries(con: duckdb.DuckDBPyConnection, state: str | None, since: datetime | None, zone: tzinfo, compact: bool = False) -> Result:
    """`compact`: the table view, a critical alert's summary marked as such in place of its own
    column, and the columns that identify the alert left to JSON and CSV."""
    title = "Alert deliveries" + (f" enqueued since {in_zone(since, zone):%Y-%m-%d %H:%M} {zone}" if since else "")
    result = _result(run(con, "alert_deliveries_list", {"state": state, "since": since}), title)
    if not compact:
        return result
    rows = [
        (state, channel, f"CRITICAL {summary}" if critical else summary, attempts, enqueued_at, last_attempt_at, last_error)
        for state, channel, critical, summary, attempts, enqueued_at, last_attempt_at, last_error, *_ in result.rows
    ]
    return Result(["state", "channel", "alert", "attempts", "enqueued_at", "last_attempt_at", "last_error"], rows, title, result.utc)


def compact_history(result: Result) -> Result:
    """The table view of `history`: each rate beside its change, and removals spelled out."""
    rows = []
    previous: dict[str, Any] = {}
    for row in result.rows:
        version = dict(zip(result.columns, row))
        if (previous.get("license"), previous.get("provider")) != (version["license"], version["provider"]):
            previous = {}
        rates = [_with_pct(version, previous.get(f"{rate}_cost_per_micro_credit"), rate) for rate in ("input", "output")]
        previous = version
        ended = "removed" if version["removed_at_end"] else ("changed" if version["valid_to"] else "current")
        limits = " / ".join("-" if version[limit] is None else str(version[limit]) for limit in ("context_window", "max_output_tokens"))
        rows.append((version["license"], version["provider"], version["valid_from"], version["valid_to"], version["change"], *rates, version["name"], limits, ended))
    columns = ["license", "provider", "valid_from", "valid_to", "began with", "input", "output", "name", "context / max output", "ended"]
    return Result(columns, rows, result.title, result.utc)


def _with_pct(version: dict[str, Any], previous: float | None, rate: str) -> str:
    """A rate beside its move from the catalog's previous version (rows come in that order); a move
    from 0 has no percentage, and shown bare it would look unmoved."""
    value, pct = version[f"{rate}_cost_per_micro_credit"], version[f"{rate}_pct_change"]
    if pct is None and previous == 0 and value != 0:
        return f"{value!r} (from 0)"
    return f"{value!r} ({pct:+.2f}%)" if pct else repr(value)


def compare(con: duckdb.DuckDBPyConnection, by: str, pair: tuple[str, str], filters: Filters) -> Result:
    check_filters(con, Filters(licenses=pair) if by == "license" else Filters(providers=pair), ("--licenses", "--providers"))
    check_filters(con, filters)
    params = {"by": by, "a": pair[0], "b": pair[1], **filters.params()}
    return _result(run(con, "query_compare", params), f"{by.capitalize()} {pair[0]} against {pair[1]}: ratio = {pair[0]} / {pair[1]}")


MISSING_EXTENSION = re.compile(r'Extension "(\w+)" is an existing extension')
INSTALL = re.compile(r"\binstall\b", re.IGNORECASE)


def adhoc(con: duckdb.DuckDBPyConnection, query: str) -> Result:
    """One SELECT (or an EXPLAIN of one): the database is opened read-only, but COPY, ATTACH, INSTALL and the
    like would still write files (into the archive, say) or reach the network."""
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise UsageError(f"query failed: {first_line(exc)}") from None
    if len(statements) != 1:
        raise UsageError(f"qcat sql runs one query at a time; {len(statements)} statements were given")
    statement = statements[0]
    if statement.type == duckdb.StatementType.EXPLAIN:
        # EXPLAIN ANALYZE runs the statement it explains: that one must be a SELECT too
        statement = _explained(con, statement.query)
    if statement.type != duckdb.StatementType.SELECT:
        raise UsageError(f"qcat sql answers SELECT queries only, not {_kind(statement)}: the history is read-only here")
    run(con, "adhoc_settings")
    try:
        cursor = con.execute(query)
        # rows past DuckDB's first chunk are computed while they are fetched: an error there is the query's too
        return Result([], []) if cursor.description is None else replace(_result(cursor, "", utc=False), short_headers=False)
    except duckdb.Error as exc:
        if is_interrupted(exc):
            raise
        missing = MISSING_EXTENSION.search(str(exc))
        if missing:
            name = missing.group(1)
            raise UsageError(f"query failed: it needs DuckDB's {name} extension, which qcat sql does not install (INSTALL {name} in DuckDB first)") from None
        raise UsageError(f"query failed: {first_line(exc)}") from None


def plan_lines(result: Result) -> Result:
    """The table view of an EXPLAIN: its plan is one text of many lines, which a table would show
    on one line with its breaks escaped. Each line of it becomes a row; the key heads its first."""
    if result.columns != ["explain_key", "explain_value"]:
        return result
    rows = [(key if index == 0 else "", line) for key, plan in result.rows for index, line in enumerate(str(plan).splitlines())]
    return Result(result.columns, rows, result.title, result.utc)


def _kind(statement: duckdb.Statement) -> str:
    """What the user wrote: DuckDB files INSTALL under the LOAD statement type."""
    if statement.type == duckdb.StatementType.LOAD and INSTALL.search(statement.query):
        return "INSTALL"
    return statement.type.name


def _explained(con: duckdb.DuckDBPyConnection, query: str) -> duckdb.Statement:
    """The statement an EXPLAIN shows: what follows `explain`, an optional `analyze`, and an
    optional list of options in parentheses (comments skipped). A parenthesis may also open the
    statement itself, as in `explain (select 1) union (select 2)`."""
    spans = duckdb.tokenize(query)
    ends = [start for start, _ in spans[1:]] + [len(query)]
    words = [(start, query[start:end].strip().lower()) for (start, kind), end in zip(spans, ends) if kind != duckdb.token_type.comment]
    position = 1
    if position < len(words) and words[position][1] in ("analyze", "analyse"):
        position += 1
    inner = _statements(con, query, words, position)
    if len(inner) != 1 and position < len(words) and words[position][1] == "(":
        depth = 0
        for position in range(position, len(words)):
            depth += {"(": 1, ")": -1}.get(words[position][1], 0)
            if depth == 0:
                break
        inner = _statements(con, query, words, position + 1)
    if len(inner) != 1:
        raise UsageError("qcat sql explains one SELECT query at a time")
    return inner[0]


def _statements(con: duckdb.DuckDBPyConnection, query: str, words: list[tuple[int, str]], position: int) -> list[duckdb.Statement]:
    """The statements of the query from its `position`-th word on; none where that is no SQL."""
    if position >= len(words):
        return []
    try:
        return con.extract_statements(query[words[position][0] :])
    except duckdb.Error:
        return []


def _result(cursor: duckdb.DuckDBPyConnection, title: str, utc: bool = True) -> Result:
    description = cursor.description or []
    return Result([column[0] for column in description], cursor.fetchall(), title, utc, types=[str(column[1]) for column in description])
