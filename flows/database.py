"""Where catalog.duckdb lives and how to open it while another process may hold it.

DuckDB allows one writing process or several reading ones; writers and readers alike wait a
while for the other side instead of failing on DuckDB's lock error. Kept free of pyarrow so
that read-only commands start fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from flows.engine import duckdb
from flows.errors import ArchiveError, LockTimeout, QcatError, UsageError
from flows.sqlfiles import run

T = TypeVar("T")

DB_NAME = "catalog.duckdb"
# bumped whenever a table, view or derived value changes: an older file must be rebuilt from the
# archive, unless SQL alone can bring it to this layout (history.UPGRADES)
SCHEMA_VERSION = 11
# what a file of another layout gives this qcat's queries: names it lacks, columns named otherwise
LAYOUT_ERRORS = (duckdb.CatalogException, duckdb.BinderException)
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


def pulls_without_record(data_dir: Path, archived: list[str]) -> list[tuple[str, str, str, datetime]]:
    """Pulls catalog.duckdb loaded whose records are not among the archive's (`archived` pull ids):
    lost originals, which a rebuild would leave out of the history. As (pull_id, license,
    provider, observed_at), in time order."""
    return _if_readable(data_dir, lambda con: run(con, "pulls_unarchived", {"pull_ids": archived}).fetchall()) or []


def pulls_out_of_reach(data_dir: Path, archived: dict[str, str]) -> list[str]:
    """Archived pulls (`archived`: record path by pull id) that catalog.duckdb never loaded and that
    no nightly load will find: each load looks for pulls a run left behind only from the day before
    its catalog's latest pull on (a crash between archiving and loading, found much later, or an
    import stopped half-way)."""

    def ask(con: duckdb.DuckDBPyConnection) -> tuple[set[str], dict[tuple[str, str], datetime]]:
        known = {row[0] for row in run(con, "pulls_known", {"pull_ids": sorted(archived)}).fetchall()}
        return known, {(row[0], row[1]): row[2] for row in run(con, "catalog_last_pulls").fetchall()}

    answer = _if_readable(data_dir, ask)
    if answer is None:
        return []
    known, latest = answer
    out_of_reach = []
    for pull_id in sorted(set(archived) - known):
        # the record's folder: .../license=L/provider=P/date=D
        license, provider, day = (part.partition("=")[2] for part in Path(archived[pull_id]).parent.parts[-3:])
        last = latest.get((license, provider))
        if last is not None and date.fromisoformat(day) < last.date() - timedelta(days=1):
            out_of_reach.append(pull_id)
    return out_of_reach


def _if_readable(data_dir: Path, ask: Callable[[duckdb.DuckDBPyConnection], T]) -> T | None:
    """`ask`'s answer from catalog.duckdb, or None where there is no readable file to ask: checks of
    the archive against it leave making it again to `qcat rebuild`."""
    path = db_path(data_dir)
    if not path.exists():
        return None
    try:
        con = open_database(path, read_only=True, wait_seconds=0)
    except (QcatError, duckdb.Error):
        return None
    try:
        return ask(con)
    except duckdb.Error:
        return None
    finally:
        con.close()


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


def is_interrupted(exc: BaseException) -> bool:
    """Ctrl-C while DuckDB runs a query stops the query, and DuckDB's Python layer reports it in
    place of the KeyboardInterrupt it consumed: a RuntimeError of its own (or its InterruptException)."""
    return isinstance(exc, duckdb.InterruptException) or (isinstance(exc, RuntimeError) and str(exc) == "Query interrupted")


def damage(path: Path, exc: BaseException) -> ArchiveError:
    return ArchiveError(f"{path} is damaged ({first_line(exc)}){REBUILD_HINT}")


@contextmanager
def reading(path: Path, wait_seconds: float, on_wait: Callable[[], None] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only session for the commands that answer questions. A query that fails on the file's
    tables or views means a file of another layout, which cannot answer (a writer upgrades or
    refuses it) and says so; on a file of this layout, it is qcat's own SQL that is wrong."""
    con = open_database(path, read_only=True, wait_seconds=wait_seconds, on_wait=on_wait)
    try:
        yield con
    except LAYOUT_ERRORS as exc:
        try:
            version = run(con, "qcat_schema_version").fetchone()[0]
        except duckdb.Error:
            version = None
        if version == SCHEMA_VERSION:
            raise
        raise UsageError(f"{path} lacks what this qcat expects ({first_line(exc)}): run `qcat rebuild`") from None
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All of the block's writes or none: committed when it ends, rolled back when it raises."""
    con.begin()
    try:
        yield
        con.commit()
    except BaseException:
        rollback(con)
        raise


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Undo a failed transaction without hiding why it failed: after a fatal error (a full disk)
    DuckDB has ended the transaction itself, and rollback's own complaint would replace the cause."""
    try:
        con.rollback()
    except duckdb.Error:
        pass
