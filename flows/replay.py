"""Rebuild the whole history at once from the archive (`qcat rebuild`).

Pull by pull, a year of 50 catalogs is 365 rounds of diffs; set-based, it is one pass over every
archived model row, read by DuckDB straight from the Parquet files, keeping only the rows where a
model's values start or stop (`replay_edges`), from which versions and events follow. The shrink
guard is the only sequential part, and it needs only counts: it is walked here in Python, per
catalog, to decide which pulls are applied; when it holds any back, the pass runs again without them.
The result is the same rows and event ids as the pull-by-pull load in `history.py`, which the
rebuild tests check on histories with every event type and both guard outcomes.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from flows import ledger
from flows.archive import PullRecord, read_records, require_archive
from flows.config import Config, HistoryConfig, check_writable
from flows.database import db_path, open_database, pulls_without_record
from flows.engine import duckdb, register
from flows.errors import ArchiveError
from flows.history import LoadReport, Verdict, connect, explained, insert_pulls, models_files, trips
from flows.lock import writer_lock
from flows.sqlfiles import run


@dataclass
class _Catalog:
    """The guard's view of one catalog while walking its pulls in order."""

    applied: list[PullRecord] = field(default_factory=list)
    pending: PullRecord | None = None
    previous_valid: PullRecord | None = None
    peak: int = 0  # the most models an applied pull listed

    def apply(self, record: PullRecord) -> None:
        self.applied.append(record)
        self.peak = max(self.peak, record.model_count or 0)


def rebuild_database(config: Config, drop_missing: bool = False) -> LoadReport:
    """`qcat rebuild`: kept apart from the nightly pipeline so that it starts without the HTTP client."""
    require_archive(config.data_dir, "rebuild from")
    check_writable(config.data_dir)
    with explained(config.data_dir), writer_lock(config.data_dir, config.lock_timeout_seconds):
        return rebuild(config.data_dir, config.history, drop_missing, config.lock_timeout_seconds)


def rebuild(data_dir: Path, guard: HistoryConfig, drop_missing: bool = False, wait_seconds: float = 0.0) -> LoadReport:
    """Build a fresh database beside the live one from the archive alone, then swap it in.

    The alert ledger is restored from its log; a rebuild never sends anything. Pulls the live
    database loaded whose records are gone from the archive would silently leave the history:
    the rebuild refuses, unless `drop_missing` says that is the point (an import undone).

    Readers keep the old file until the swap; a failed rebuild leaves the live file untouched.
    The caller holds the writer lock; the swap waits up to `wait_seconds` for any other process
    that has the live file open for writing.
    """
    target = db_path(data_dir)
    scratch = target.with_name(target.name + ".rebuild")
    _discard(scratch)
    records = read_records(data_dir)
    lost = [] if drop_missing else pulls_without_record(data_dir, [record.pull_id for record in records])
    if lost:
        pull_id, license, provider, observed_at = lost[0]
        first = f"{license}/{provider} pull {pull_id} of {observed_at.isoformat()}"
        raise ArchiveError(
            f"{target}: {len(lost)} loaded pull{'s' if len(lost) > 1 else ''} lost {'their records' if len(lost) > 1 else 'its record'} "
            f"from the archive (first: {first}), and a rebuild would drop {'them' if len(lost) > 1 else 'it'} from the history: restore "
            "the archive from a backup (`qcat repair --dry-run` lists what is missing), or run `qcat rebuild --drop-missing`"
        )
    try:
        con = connect(scratch)
        try:
            run(con, "rebuild_threads")
            con.begin()
            replay(con, data_dir, records, guard)
            con.commit()
            ledger.sync(con, data_dir)
            events = sum(count for _, _, count in run(con, "event_counts").fetchall())
            run(con, "checkpoint")
        finally:
            con.close()
    except BaseException:
        # an interrupted or failed rebuild leaves no half-built file beside the live one
        _discard(scratch)
        raise
    try:
        with _held(target, wait_seconds):
            # a WAL left by a killed load belongs to the old file and would make the new one unopenable
            target.with_name(target.name + ".wal").unlink(missing_ok=True)
            os.replace(scratch, target)
    except BaseException:
        _discard(scratch)
        raise
    return LoadReport(len(records), events)


@contextmanager
def _held(target: Path, wait_seconds: float) -> Iterator[None]:
    """The live file, open read-only for the swap: a process writing to it (a DuckDB session, say)
    would go on writing to a file nobody sees once it is replaced, so the swap waits for it as a load
    would, and holding it keeps new writers out meanwhile. Readers keep reading the old file. A file
    that cannot be opened (missing, damaged) has no writer to wait for: it is what a rebuild replaces."""
    try:
        con = open_database(target, read_only=True, wait_seconds=wait_seconds) if target.exists() else None
    except ArchiveError:
        con = None
    try:
        yield
    finally:
        if con is not None:
            con.close()


def _discard(scratch: Path) -> None:
    for leftover in (scratch, scratch.with_name(scratch.name + ".wal")):
        leftover.unlink(missing_ok=True)


def replay(con: duckdb.DuckDBPyConnection, data_dir: Path, records: list[PullRecord], guard: HistoryConfig) -> None:
    valid = [record for record in records if record.status == "ok"]
    if not valid:
        # failed pulls only (say, a key that never worked): there is no model to derive anything from
        insert_pulls(con, (Verdict(record, record.status) for record in records))
        return
    files = dict(zip((record.pull_id for record in valid), models_files(data_dir, valid), strict=True))
    _edges(con, valid, files)
    adjacent = dict(run(con, "replay_missing").fetchall())
    verdicts = {record.pull_id: Verdict(record, record.status) for record in records}
    catalogs: dict[tuple[str, str], _Catalog] = defaultdict(_Catalog)
    for record in valid:
        _judge(con, catalogs[(record.license, record.provider)], record, verdicts, adjacent, files, guard)
    applied = [record for catalog in catalogs.values() for record in catalog.applied]
    if len(applied) != len(valid):
        # the pulls held back take no part in the history: its edges are found again without them
        _edges(con, applied, files)
    run(con, "replay_model_versions")
    run(con, "replay_catalog_events")
    insert_pulls(con, verdicts.values())


def _edges(con: duckdb.DuckDBPyConnection, records: list[PullRecord], files: dict[str, str]) -> None:
    """DuckDB reads the archived rows straight from Parquet inside the pass: a year of history is
    never held in Python, and its reader is twice as fast as pyarrow's on small files."""
    register(con, "sequenced_pulls", _sequenced(records))
    run(con, "replay_edges", {"files": [files[record.pull_id] for record in records]})


def _judge(
    con: duckdb.DuckDBPyConnection,
    catalog: _Catalog,
    record: PullRecord,
    verdicts: dict[str, Verdict],
    adjacent: dict[str, int],
    files: dict[str, str],
    guard: HistoryConfig,
) -> None:
    """The same decisions as history._apply_round, one catalog and one pull at a time."""
    missing = _missing(con, catalog, record, adjacent, files)
    current = catalog.applied[-1].model_count if catalog.applied else 0
    if catalog.pending is not None:
        suspect = catalog.pending
        catalog.pending = None
        pulls = (catalog.applied[-1].pull_id, suspect.pull_id, record.pull_id)
        params = {"applied": pulls[0], "suspect": pulls[1], "later": pulls[2], "files": [files[pull_id] for pull_id in pulls]}
        if run(con, "replay_suspect_returns", params).fetchall()[0][0] == 0:
            verdicts[suspect.pull_id].resolution = "confirmed"
            catalog.apply(suspect)
            missing = _missing(con, catalog, record, adjacent, files)
            current = suspect.model_count
        else:
            verdicts[suspect.pull_id].resolution = "dismissed"
    verdict = verdicts[record.pull_id]
    verdict.removed_count = missing
    if trips(record, current or 0, missing, catalog.peak, guard):
        verdict.status, verdict.resolution = "suspect", "pending"
        catalog.pending = record
    else:
        catalog.apply(record)
    catalog.previous_valid = record


def _missing(con: duckdb.DuckDBPyConnection, catalog: _Catalog, record: PullRecord, adjacent: dict[str, int], files: dict[str, str]) -> int:
    """Models of the last applied pull that this pull lacks; precomputed unless a held pull sits between."""
    if not catalog.applied:
        return 0
    last = catalog.applied[-1]
    if last is catalog.previous_valid:
        return adjacent.get(record.pull_id, 0)
    params = {"earlier": last.pull_id, "later": record.pull_id, "files": [files[last.pull_id], files[record.pull_id]]}
    return run(con, "replay_missing_between", params).fetchall()[0][0]


def _sequenced(records: list[PullRecord]) -> pa.Table:
    """Pulls numbered 1, 2, ... within each catalog in time order; catalogs numbered too, so that
    the pass over every model row groups on a number rather than on two strings."""
    ordered = sorted(records, key=lambda r: (r.license, r.provider, r.observed_at, r.pull_id))
    seqs: list[int] = []
    catalog_nos: list[int] = []
    counter: dict[tuple[str, str], int] = {}
    numbers: dict[tuple[str, str], int] = {}
    for record in ordered:
        key = (record.license, record.provider)
        counter[key] = counter.get(key, 0) + 1
        seqs.append(counter[key])
        catalog_nos.append(numbers.setdefault(key, len(numbers)))
    return pa.table(
        {
            "pull_id": [r.pull_id for r in ordered],
            "license": [r.license for r in ordered],
            "provider": [r.provider for r in ordered],
            "observed_at": pa.array([r.observed_at for r in ordered], pa.timestamp("us", tz="UTC")),
            "catalog_no": pa.array(catalog_nos, pa.int32()),
            "seq": pa.array(seqs, pa.int64()),
        }
    )
