"""DuckDB as qcat uses it: the engine (the `_duckdb` extension), without the `duckdb` package's Python layer.

`import duckdb` also builds DuckDB's pure-Python relational API and reads the package's metadata:
0.1 s or more at every start here, a third of what a read-only command may take in all. qcat only
sends SQL text and fetches rows, which the engine serves alone (the package re-exports these very
classes and exceptions from it). pyproject.toml pins duckdb 2.x, where the engine is `_duckdb`.
Handing DuckDB an Arrow table needs the bridge that the package sets up, so the modules that do
(history, ledger: the writers) import `duckdb` itself.
"""

import _duckdb as duckdb

__all__ = ["duckdb"]
