"""One writer per data directory, across processes.

DuckDB allows a single read-write process per file; an explicit lock lets a second run wait its
turn with a clear message instead of failing half-way with DuckDB's lock error.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flows.errors import LockTimeout

LOCK_NAME = ".qcat-writer.lock"


@contextmanager
def writer_lock(data_dir: Path, timeout_seconds: float, poll_seconds: float = 0.1, name: str = LOCK_NAME) -> Iterator[None]:
    """`name` picks another lock of the same kind (the alert sender's, held while it sends)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / name
    handle = open(path, "a+")
    try:
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    raise LockTimeout(
                        f"another qcat writer (pid {holder}) has held {data_dir} for over "
                        f"{timeout_seconds:.0f} s; try again later (storage.lock_timeout_seconds)"
                    ) from None
                time.sleep(poll_seconds)
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()
