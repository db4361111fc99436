"""The one way Python reaches the SQL in sql/: by file name, with values bound as parameters."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from flows.engine import duckdb

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


@cache
def sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def run(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """Execute a file's statements in order (DuckDB prepares one statement at a time)."""
    statements = [statement for statement in sql(name).split(";\n") if statement.strip()]
    for statement in statements[:-1]:
        con.execute(statement, params) if params else con.execute(statement)
    return con.execute(statements[-1], params) if params else con.execute(statements[-1])


def as_dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The rows of a query as dicts by column name, for code that reads them by name."""
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]
