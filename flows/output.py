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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Any, TextIO

FORMATS = ("table", "json", "csv")
# JSON and CSV keep the database's column names; a terminal needs shorter headers
HEADERS = {
    "input_cost_per_micro_credit": "input",
    "output_cost_per_micro_credit": "output",
    "input_pct_change": "input %",
    "output_pct_change": "output %",
    "context_window": "context",
    "max_output_tokens": "max output",
}


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    title: str = ""
    utc: bool = False  # naive timestamps are UTC (qcat's own queries fetch them so, for speed)


def render(result: Result, fmt: str, zone: tzinfo, stream: TextIO) -> None:
    columns = [_localise(column, zone, result.utc) for column in zip(*result.rows)] or [[] for _ in result.columns]
    if fmt == "json":
        plain = [[_plain(value) for value in column] for column in columns]
        documents = [dict(zip(result.columns, row)) for row in zip(*plain)]
        stream.write(json.dumps(documents, indent=1, allow_nan=False) + "\n")
    elif fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(zip(*([_csv_cell(value) for value in column] for column in columns)))
    else:
        stream.write(_table(result, columns, zone))


def _table(result: Result, columns: Sequence[Sequence[Any]], zone: tzinfo) -> str:
    headers = [HEADERS.get(name, name) for name in result.columns]
    texts = [_texts(name, column) for name, column in zip(result.columns, columns)]
    widths = [max([len(header), *map(len, text)]) for header, text in zip(headers, texts)]
    aligns = [">" if _is_numeric(column) else "<" for column in columns]
    pattern = "  ".join(f"{{:{align}{width}}}" for align, width in zip(aligns, widths))
    lines = [result.title] if result.title else []
    lines.append(pattern.format(*headers).rstrip())
    lines.append("  ".join("-" * width for width in widths))
    lines.extend(pattern.format(*row).rstrip() for row in zip(*texts))
    count = len(result.rows)
    lines.append(f"({count} row{'s' if count != 1 else ''}; times in {zone})")
    return "\n".join(lines) + "\n"


def _texts(name: str, column: Sequence[Any]) -> list[str]:
    show = _formatter(name, column)
    return [show(value) if value is not None else "-" for value in column]


def _formatter(name: str, column: Sequence[Any]) -> Callable[[Any], str]:
    sample = next((value for value in column if value is not None), None)
    if isinstance(sample, datetime):
        return lambda value: value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(sample, float):
        if name.endswith("pct") or name.endswith("pct_change"):
            return lambda value: f"{value:+.2f}%"
        if name.endswith("ratio"):
            return lambda value: f"{value:.3f}x"
        return repr
    if isinstance(sample, list):
        return lambda value: ", ".join(map(str, value))
    return str


def _is_numeric(column: Sequence[Any]) -> bool:
    sample = next((value for value in column if value is not None), None)
    return isinstance(sample, int | float) and not isinstance(sample, bool)


def _localise(column: Sequence[Any], zone: tzinfo, utc: bool) -> Sequence[Any]:
    sample = next((value for value in column if value is not None), None)
    if not isinstance(sample, datetime) or (sample.tzinfo is None and not utc):
        return column
    if sample.tzinfo is None:
        return [value.replace(tzinfo=timezone.utc).astimezone(zone) if value is not None else None for value in column]
    return [value.astimezone(zone) if value is not None else None for value in column]


def _plain(value: Any) -> Any:
    """JSON has no timestamps and no NaN: ISO strings and null instead."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | float | str | bool | list | dict) or value is None:
        return value
    return str(value)


def _csv_cell(value: Any) -> Any:
    plain = _plain(value)
    if plain is None:
        return ""
    if isinstance(plain, float):
        return repr(plain)
    if isinstance(plain, list):
        return json.dumps(plain)
    return plain
