"""DuckDB as qcat uses it: the engine (the `_duckdb` extension), without the `duckdb` package's Python layer.

`import duckdb` also builds DuckDB's pure-Python relational API and reads the package's metadata:
0.1 s or more at every start here, a third of what a read-only command may take in all. qcat only
sends SQL text and fetches rows, which the engine serves alone (the package re-exports these very
classes and exceptions from it). pyproject.toml pins duckdb 2.x, where the engine is `_duckdb`;
tests/test_queries.py checks that the read-only commands never load the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import _duckdb as duckdb

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["duckdb", "register"]


def register(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """Hand DuckDB an Arrow table under `name` (replacing any before it). Scanning Arrow needs the
    bridge that the duckdb package sets up when it is imported: the writers that do this pay for it."""
    import duckdb as duckdb_package  # noqa: F401 - imported for its side effect: the engine's Arrow bridge

    con.unregister(name)
    con.register(name, table)
