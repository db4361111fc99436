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
# the database is derived: whatever happened to the file, the archive can make it again
REBUILD_HINT = "; derive it again from the archive with `qcat rebuild`"


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
                raise _unopenable(path, exc) from None
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"{path} is open in another process for over {wait_seconds:.0f} s "
                    "(a load writing, or a query session); try again when it is closed"
                ) from None
            if on_wait is not None:
                on_wait()
                on_wait = None
            time.sleep(0.1)
        except duckdb.Error as exc:
            raise _unopenable(path, exc) from None
    run(con, "session_settings")
    return con


def _unopenable(path: Path, exc: duckdb.Error) -> ArchiveError:
    return damage(path, exc) if is_damage(exc) else ArchiveError(f"cannot open {path}: {first_line(exc)}")


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def is_damage(exc: BaseException) -> bool:
    """DuckDB reports a damaged file as a bare Error (a block whose checksum fails), a cut one (a
    copy that stopped short) as a read past its end, wherever the block is first read: at open, or
    in any later query; and a file that is no database at all as such when it opens it."""
    message = str(exc).lower()
    cut = "could not read enough bytes" in message and f'/{DB_NAME}"' in message
    return isinstance(exc, duckdb.Error) and ("corrupt database file" in message or cut or "not a valid duckdb database" in message)


def damage(path: Path, exc: BaseException) -> ArchiveError:
    return ArchiveError(f"{path} is damaged ({first_line(exc)}){REBUILD_HINT}")


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Undo a failed transaction without hiding why it failed: after a fatal error (a full disk)
    DuckDB has ended the transaction itself, and rollback's own complaint would replace the cause."""
    try:
        con.rollback()
    except duckdb.Error:
        pass
