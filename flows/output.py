"""Printing query results: a readable table for people, JSON or CSV for scripts.

Rates are printed exactly as stored (Python's shortest round-trip repr), never rounded, so
that what a table shows is what a script gets. Times are shown in the zone of `--tz`.
Formatting works column by column: a year of history can mean tens of thousands of rows, and
the read-only commands have a fraction of a second in all.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from itertools import repeat
from typing import Any, TextIO

from flows.timespec import in_zone

FORMATS = ("table", "json", "csv")
# characters a terminal acts on rather than shows: ESC starts sequences that recolour, move the cursor
# or retitle the window, a carriage return overwrites the line, direction marks and bidi controls
# reorder it, line separators break it (the same class as sql/printable.sql)
UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
NUMERIC_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE"}
)
# JSON and CSV keep the database's column names; a terminal needs shorter headers
HEADERS = {
    "input_cost_per_micro_credit": "input",
    "output_cost_per_micro_credit": "output",
    "input_pct_change": "input %",
    "output_pct_change": "output %",
    "context_window": "context",
    "max_output_tokens": "max output",
    "enqueued_at": "enqueued",
    "last_attempt_at": "last attempt",
    "last_error": "last error",
}


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    title: str = ""
    utc: bool = False  # naive timestamps are UTC (qcat's own queries fetch them so, for speed)
    # the columns before these, laid out already by DuckDB: header, rule and rows, each ending where these begin
    lines: list[str] | None = None
    types: list[str] | None = None  # DuckDB's type of each column, when a query gave them
    short_headers: bool = True  # table headers from HEADERS; `qcat sql` keeps the names its query gave


def render(result: Result, fmt: str, zone: tzinfo, stream: TextIO) -> None:
    kinds = result.types or [None] * len(result.columns)
    mixed = [_is_mixed(kind) for kind in kinds]
    columns = [_localise(column, zone, result.utc, kind) for column, kind in zip(zip(*result.rows), kinds)] or [[] for _ in result.columns]
    if fmt == "json":
        # one object per line, each encoded by json's C encoder (indent= would use the slow Python one)
        plain = [_convert(column, _json_value, each) for column, each in zip(columns, mixed)]
        lines = [_json_line(result.columns, row) for row in zip(*plain)]
        stream.write("[\n" + ",\n".join(lines) + ("\n]\n" if lines else "]\n"))
    elif fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(zip(*(_convert(column, _csv_value, each) for column, each in zip(columns, mixed))))
    else:
        stream.write(_table(result, columns, zone, mixed))


def _is_mixed(kind: str | None) -> bool:
    """A column whose values come in several Python types (`qcat sql` on a UNION or a VARIANT): text
    beside numbers beside times. Each value is then formatted by its own type, not by the column's first."""
    return kind is not None and (kind.startswith("UNION(") or kind == "VARIANT")


def _table(result: Result, columns: Sequence[Sequence[Any]], zone: tzinfo, mixed: Sequence[bool]) -> str:
    headers = [HEADERS.get(name, name) for name in result.columns] if result.short_headers else result.columns
    texts = [_texts(name, column, each) for name, column, each in zip(result.columns, columns, mixed)]
    widths = [max(len(header), max(map(len, text), default=0)) for header, text in zip(headers, texts)]
    pads = [str.rjust if _is_numeric(column, kind) else str.ljust for column, kind in zip(columns, result.types or repeat(None))]
    # padded column by column, then joined row by row: map and join run in C
    padded = [list(map(pad, [header, *text], repeat(width))) for pad, header, text, width in zip(pads, headers, texts, widths)]
    rows = list(map(str.rstrip, map("  ".join, zip(*padded)))) or [""]
    rows.insert(1, "  ".join("-" * width for width in widths))
    if result.lines is not None:
        rows = [before + after for before, after in zip(result.lines, rows, strict=True)]
    count = len(rows) - 2
    lines = [printable(result.title)] if result.title else []
    lines += rows
    lines.append(f"({count} row{'s' if count != 1 else ''}; times in {zone})")
    return "\n".join(lines) + "\n"


def _texts(name: str, column: Sequence[Any], mixed: bool) -> Sequence[str]:
    shown = _convert(column, lambda sample: _formatter(name, sample), mixed)
    shown = shown if None not in shown else ["-" if text is None else text for text in shown]
    # one search over the whole column: ids and names come from the gateway, and are almost always clean
    return list(map(printable, shown)) if UNPRINTABLE.search("".join(shown)) else shown


def printable(text: str) -> str:
    """Text from the gateway shown on a terminal: what the terminal would act on appears as its
    escape (\\x1b, \\u202e) instead. JSON and CSV keep every value as it is."""
    return UNPRINTABLE.sub(lambda match: f"\\x{ord(match[0]):02x}" if ord(match[0]) < 0x100 else f"\\u{ord(match[0]):04x}", text)


def _each_distinct(convert: Callable[[Any], Any], column: Sequence[Any]) -> list[Any]:
    """Times repeat (a night's pulls share a few instants): convert each distinct one once."""
    done = {value: convert(value) for value in set(column) if value is not None}
    done[None] = None
    return list(map(done.__getitem__, column))


def _formatter(name: str, sample: Any) -> Callable[[Any], str] | None:
    """How a column whose first value is `sample` is shown; None: as it is (text)."""
    if isinstance(sample, str):
        return None
    if isinstance(sample, datetime):
        return lambda value: value.isoformat(" ", "seconds")[:19]
    if isinstance(sample, float):
        if name.endswith("pct") or name.endswith("pct_change"):
            return lambda value: f"{value:+.2f}%"
        if name.endswith("ratio"):
            return lambda value: f"{value:.3f}x"
        return repr
    if isinstance(sample, list):
        return lambda value: ", ".join("NULL" if item is None else _text(item) for item in value)
    if isinstance(sample, dict):
        return lambda value: json.dumps(_nested(value), ensure_ascii=False)
    return _TEXTS.get(type(sample), str)


def _is_numeric(column: Sequence[Any], kind: str | None) -> bool:
    """Numbers align right: known by the column's type when there is one (a column of nulls has no sample)."""
    if kind is not None:
        return kind in NUMERIC_TYPES or kind.startswith("DECIMAL")
    sample = _sample(column)
    return isinstance(sample, int | float) and not isinstance(sample, bool)


def _localise(column: Sequence[Any], zone: tzinfo, utc: bool, kind: str | None = None) -> Sequence[Any]:
    if _is_mixed(kind):
        return [_nested_in_zone(value, zone) for value in column]
    sample = _sample(column)
    if isinstance(sample, list | dict):
        # walked only when its type holds times with a zone (or is unknown): lists can be long
        return [_nested_in_zone(value, zone) for value in column] if kind is None or "WITH TIME ZONE" in kind else column
    if not isinstance(sample, datetime) or (sample.tzinfo is None and not utc):
        return column
    return _each_distinct(lambda value: in_zone(value if value.tzinfo else value.replace(tzinfo=timezone.utc), zone), column)


def _nested_in_zone(value: Any, zone: tzinfo) -> Any:
    """Times with a zone inside lists, structs and maps (`qcat sql`) follow --tz like a column's."""
    if isinstance(value, datetime):
        return in_zone(value, zone) if value.tzinfo else value
    if isinstance(value, list | tuple):
        return [_nested_in_zone(item, zone) for item in value]
    if isinstance(value, dict):
        return {_nested_in_zone(key, zone): _nested_in_zone(item, zone) for key, item in value.items()}
    return value


def _convert(column: Sequence[Any], value_of: Callable[[Any], Callable[[Any], Any] | None], mixed: bool = False) -> Sequence[Any]:
    """Convert a whole column with the function its first non-null value calls for (a mixed
    column: each value with the function it calls for)."""
    if mixed:
        return [value if value is None or (convert := value_of(value)) is None else convert(value) for value in column]
    sample = _sample(column)
    convert = value_of(sample)
    if convert is None:
        return column
    if isinstance(sample, datetime):
        return _each_distinct(convert, column)
    if None not in column:
        return list(map(convert, column))
    return [convert(value) if value is not None else None for value in column]


def _sample(column: Sequence[Any]) -> Any:
    return next((value for value in column if value is not None), None)


def _json_value(sample: Any) -> Callable[[Any], Any] | None:
    """JSON has no timestamps and no NaN: ISO strings and null instead."""
    if isinstance(sample, datetime):
        return datetime.isoformat
    if isinstance(sample, float):
        return lambda value: value if math.isfinite(value) else None
    if isinstance(sample, list | dict):
        return _nested
    if sample is None or isinstance(sample, int | str | bool):
        return None
    return _TEXTS.get(type(sample), str)


def _json_line(columns: list[str], row: tuple[Any, ...]) -> str:
    return json.dumps(dict(zip(columns, row)), allow_nan=False)


def _nested(value: Any) -> Any:
    """Values inside lists and structs (`qcat sql` can return any DuckDB type), by the rules of a
    column's: times as ISO text, NaN and infinities as null, other types as text."""
    if isinstance(value, list | tuple):
        return [_nested(item) for item in value]
    if isinstance(value, dict):
        return {key.isoformat() if isinstance(key, datetime) else _text(key): _nested(item) for key, item in value.items()}
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, int | str | bool):
        return value
    return value.isoformat() if isinstance(value, datetime) else _text(value)


def _csv_value(sample: Any) -> Callable[[Any], Any] | None:
    if isinstance(sample, datetime):
        return datetime.isoformat
    if isinstance(sample, float):
        return repr
    if isinstance(sample, list | dict):
        return lambda value: json.dumps(_nested(value), allow_nan=False)
    return _TEXTS.get(type(sample))


def _interval(value: timedelta) -> str:
    """An INTERVAL in DuckDB's notation (3 days, 01:30:00, -1 day -01:00:00), not Python's (3 days,
    0:00:00). Python receives one length of time, so it is written in days of 24 hours and a clock:
    a month shows as 30 days, and 25 hours as 1 day 01:00:00 where DuckDB keeps 25:00:00."""
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    days, rest = divmod(abs(micros), 86_400 * 1_000_000)
    seconds, fraction = divmod(rest, 1_000_000)
    clock = f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" + (f".{fraction:06d}".rstrip("0") if fraction else "")
    parts = [f"{sign}{days} day{'s' if days != 1 else ''}"] if days else []
    return " ".join(parts + [clock] if rest or not days else parts)


def _blob(value: bytes) -> str:
    """A BLOB as DuckDB writes one: printable ASCII as it is, other bytes and the backslash as \\xAA."""
    return "".join(chr(byte) if 32 <= byte <= 126 and byte != 92 else f"\\x{byte:02X}" for byte in value)


# values of types Python would write its own way (True, b'...', 3 days, 0:00:00), written as DuckDB
# and JSON do
_TEXTS: dict[type, Callable[[Any], str]] = {bool: lambda value: "true" if value else "false", timedelta: _interval, bytes: _blob}


def _text(value: Any) -> str:
    return _TEXTS.get(type(value), str)(value)
