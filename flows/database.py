"""Where catalog.duckdb lives and how to open it while another process may hold it.

DuckDB allows one writing process or several reading ones; writers and readers alike wait a
while for the other side instead of failing on DuckDB's lock error. Kept free of pyarrow so
that read-only commands start fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from flows.engine import duckdb
from flows.errors import ArchiveError, LockTimeout
from flows.sqlfiles import run

DB_NAME = "catalog.duckdb"


def db_path(data_dir: Path) -> Path:
    return data_dir / DB_NAME


def open_database(
    path: Path, read_only: bool, wait_seconds: float, on_wait: Callable[[], None] | None = None
) -> duckdb.DuckDBPyConnection:
    """`on_wait` is called once, when the file turns out to be busy, so a person knows why."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise ArchiveError(f"cannot open {path}: {str(exc).splitlines()[0]}") from None
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"{path} is open in another process for over {wait_seconds:.0f} s "
                    "(a load writing, or a query session); try again when it is closed"
                ) from None
            if on_wait is not None:
                on_wait()
                on_wait = None
            time.sleep(0.1)
    run(con, "session_settings")
    return con
