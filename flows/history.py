"""Derive DuckDB history (pulls, model_versions, catalog_events) from archived pulls.

Pulls are applied in rounds: a round holds at most one pull per catalog, so that each step is
one set-based statement for all catalogs at once. A nightly run is one round, in one
transaction. The same code rebuilds the whole database from the archive, which is why replaying
the archive yields the same rows and the same event ids as the live loads did.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from flows.archive import MODELS_SCHEMA, PullRecord, archive_root, list_records, read_record, read_records
from flows.errors import ArchiveError
from flows.sqlfiles import run

DB_NAME = "catalog.duckdb"
SCHEMA = ("pulls", "model_versions", "catalog_events", "catalog_state")
PULL_COLUMNS = pa.schema(
    [
        ("pull_id", pa.string()),
        ("license", pa.string()),
        ("provider", pa.string()),
        ("observed_at", pa.timestamp("us", tz="UTC")),
        ("status", pa.string()),
        ("http_status", pa.int32()),
        ("attempts", pa.int32()),
        ("model_count", pa.int32()),
        ("content_sha256", pa.string()),
        ("error", pa.string()),
        ("resolution", pa.string()),
        ("removed_count", pa.int32()),
        ("warnings", pa.list_(pa.string())),
    ]
)


@dataclass(frozen=True)
class LoadReport:
    pulls: int
    events: int | None = None
    replayed_catalogs: tuple[tuple[str, str], ...] = ()


STAGE_COLUMNS = [
    "pull_id",
    "model_id",
    "name",
    "input_cost_per_micro_credit",
    "output_cost_per_micro_credit",
    "context_window",
    "max_output_tokens",
]
STAGE_SCHEMA = pa.schema([MODELS_SCHEMA.field(name) for name in STAGE_COLUMNS])
# Decoding a small Parquet file costs a fixed ~0.5 ms in pyarrow, which releases the GIL:
# reading them on a few threads hides most of it.
READ_THREADS = 4


class ModelReader:
    """Reads the models of archived pulls, optionally ahead of need."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.root = archive_root(data_dir)
        self.pool = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="qcat-parquet")
        self.pending: dict[str, Future[pa.Table]] = {}

    def prefetch(self, records: Iterable[PullRecord]) -> None:
        for record in records:
            if record.status == "ok" and record.pull_id not in self.pending:
                self.pending[record.pull_id] = self.pool.submit(self._read, record)

    def table(self, records: Sequence[PullRecord]) -> pa.Table:
        self.prefetch(records)
        tables = [self.pending.pop(record.pull_id).result() for record in records]
        return pa.concat_tables(tables)

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)

    def _read(self, record: PullRecord) -> pa.Table:
        if record.models_file is None:
            raise ArchiveError(f"pull {record.pull_id} ({record.license}/{record.provider}) is ok but has no models file")
        return pq.ParquetFile(self.root / record.models_file, read_dictionary=["pull_id"]).read(columns=STAGE_COLUMNS, use_threads=False)


@dataclass
class Verdict:
    record: PullRecord
    status: str
    resolution: str | None = None
    removed_count: int | None = None


def db_path(data_dir: Path) -> Path:
    return data_dir / DB_NAME


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute("set TimeZone = 'UTC'")
    if not con.execute("select 1 from duckdb_views() where view_name = 'catalog_state'").fetchall():
        for name in SCHEMA:
            run(con, name)
    return con


def load_pending(
    con: duckdb.DuckDBPyConnection,
    data_dir: Path,
    max_removed_share: float,
    known_new: Sequence[PullRecord] = (),
) -> LoadReport:
    """Load archived pulls that DuckDB lacks, in time order: `known_new` and any found in the
    day folders from each catalog's latest loaded day on (left behind by a crashed run).

    Whoever holds the writer lock loads everything pending, so two overlapping runs cannot
    apply their pulls out of order. A pull older than what its catalog already applied (a run
    that archived late) makes that catalog replay from the archive rather than bend history.
    """
    watermarks = {(license, provider): (day, last) for license, provider, day, last in run(con, "pull_watermarks").fetchall()}
    files = list_records(data_dir, {key: day for key, (day, _) in watermarks.items()})
    candidates = {record.pull_id: record for record in known_new}
    unknown = set(files) | set(candidates)
    known = {row[0] for row in run(con, "pulls_known", {"pull_ids": sorted(unknown)}).fetchall()}
    pending = [candidates.get(pull_id) or read_record(files[pull_id]) for pull_id in sorted(unknown - known)]
    late = sorted(
        {
            (record.license, record.provider)
            for record in pending
            if (record.license, record.provider) in watermarks and record.observed_at <= watermarks[(record.license, record.provider)][1]
        }
    )
    if late:
        pending = [record for record in pending if (record.license, record.provider) not in late]
        pending += [record for record in read_records(data_dir) if (record.license, record.provider) in late]
    if not pending:
        return LoadReport(0)
    reader = ModelReader(data_dir)
    con.begin()
    try:
        for license, provider in late:
            run(con, "catalog_forget", {"license": license, "provider": provider})
        for round_records in _rounds(pending):
            _apply_round(con, reader, round_records, max_removed_share)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    finally:
        reader.close()
    return LoadReport(len(pending), replayed_catalogs=tuple(late))


def rebuild(data_dir: Path, max_removed_share: float) -> LoadReport:
    """Build a fresh database beside the live one from the archive alone, then swap it in.

    Readers keep the old file until the swap; a failed rebuild leaves the live file untouched.
    The caller holds the writer lock.
    """
    from flows.replay import replay

    target = db_path(data_dir)
    scratch = target.with_name(target.name + ".rebuild")
    for leftover in (scratch, scratch.with_name(scratch.name + ".wal")):
        leftover.unlink(missing_ok=True)
    records = read_records(data_dir)
    con = connect(scratch)
    try:
        con.begin()
        replay(con, data_dir, records, max_removed_share)
        con.commit()
        events = sum(count for _, _, count in run(con, "event_counts").fetchall())
        con.execute("checkpoint")
    finally:
        con.close()
    os.replace(scratch, target)
    return LoadReport(len(records), events)


def _rounds(records: Sequence[PullRecord]) -> list[list[PullRecord]]:
    """The n-th round holds the n-th pending pull of each catalog, in time order."""
    per_catalog: dict[tuple[str, str], int] = defaultdict(int)
    rounds: list[list[PullRecord]] = []
    for record in sorted(records, key=lambda r: (r.observed_at, r.pull_id)):
        key = (record.license, record.provider)
        index = per_catalog[key]
        per_catalog[key] += 1
        if index == len(rounds):
            rounds.append([])
        rounds[index].append(record)
    return rounds


def _apply_round(con: duckdb.DuckDBPyConnection, reader: ModelReader, records: list[PullRecord], max_removed_share: float) -> None:
    """Diff every valid pull of the round at once; the shrink guard then holds back the suspects."""
    verdicts = {record.pull_id: Verdict(record, record.status) for record in records}
    valid = [record for record in records if record.status == "ok"]
    if valid:
        guard_rows = _diff(con, reader, valid)
        confirmed = [
            pending
            for pull_id, current, missing, pending in guard_rows
            if pending and trips(verdicts[pull_id].record.model_count or 0, current, missing, max_removed_share)
        ]
        if confirmed:
            _confirm(con, reader, confirmed)
            guard_rows = _diff(con, reader, valid)
        held: list[str] = []
        for pull_id, current, missing, pending in guard_rows:
            verdicts[pull_id].removed_count = missing
            if trips(verdicts[pull_id].record.model_count or 0, current, missing, max_removed_share):
                verdicts[pull_id].status, verdicts[pull_id].resolution = "suspect", "pending"
                held.append(pull_id)
            elif pending:
                run(con, "pulls_resolve", {"pull_id": pending, "resolution": "dismissed"})
        if held:
            run(con, "changes_discard", {"pull_ids": held})
        _apply_changes(con)
    insert_pulls(con, verdicts.values())


def _diff(con: duckdb.DuckDBPyConnection, reader: ModelReader, records: list[PullRecord]) -> list[tuple]:
    register(con, "stage_models", reader.table(records))
    register(con, "apply_pulls", _round_pulls(records))
    run(con, "changes")
    return run(con, "guard_check").fetchall()


def _confirm(con: duckdb.DuckDBPyConnection, reader: ModelReader, suspect_ids: list[str]) -> None:
    """The next valid pull tripped the guard too: the suspect pull was right after all.

    It is applied at its own time (the models were first seen missing then), and the new pull
    is judged afterwards against the state it left.
    """
    suspects = [read_record(path) for path in list_records(reader.data_dir).values() if path.stem in suspect_ids]
    _diff(con, reader, suspects)
    _apply_changes(con)
    for pull_id in suspect_ids:
        run(con, "pulls_resolve", {"pull_id": pull_id, "resolution": "confirmed"})


def trips(model_count: int, current: int, missing: int, max_removed_share: float) -> bool:
    """More than the allowed share of current models gone, or an empty catalog replacing a full one."""
    return current > 0 and (model_count == 0 or missing / current > max_removed_share)


def _apply_changes(con: duckdb.DuckDBPyConnection) -> None:
    for step in ("catalog_events_insert", "model_versions_close", "model_versions_insert"):
        run(con, step)


def _round_pulls(records: Sequence[PullRecord]) -> pa.Table:
    return pa.table(
        {
            "pull_id": [r.pull_id for r in records],
            "license": [r.license for r in records],
            "provider": [r.provider for r in records],
            "observed_at": pa.array([r.observed_at for r in records], pa.timestamp("us", tz="UTC")),
            "model_count": pa.array([r.model_count for r in records], pa.int64()),
        }
    )


def insert_pulls(con: duckdb.DuckDBPyConnection, verdicts: Iterable[Verdict]) -> None:
    rows = list(verdicts)
    table = pa.table(
        {
            "pull_id": [v.record.pull_id for v in rows],
            "license": [v.record.license for v in rows],
            "provider": [v.record.provider for v in rows],
            "observed_at": [v.record.observed_at for v in rows],
            "status": [v.status for v in rows],
            "http_status": [v.record.http_status for v in rows],
            "attempts": [v.record.attempts for v in rows],
            "model_count": [v.record.model_count for v in rows],
            "content_sha256": [v.record.content_sha256 for v in rows],
            "error": [v.record.error for v in rows],
            "resolution": [v.resolution for v in rows],
            "removed_count": [v.removed_count for v in rows],
            "warnings": [list(v.record.warnings) for v in rows],
        },
        schema=PULL_COLUMNS,
    )
    register(con, "incoming_pulls", table)
    run(con, "pulls_insert")


def register(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    con.unregister(name)
    con.register(name, table)
