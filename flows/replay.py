"""Rebuild the whole history at once from the archive (`qcat rebuild`).

Pull by pull, a year of 50 catalogs is 365 rounds of diffs; set-based, it is one pass of window
functions over every archived model row, keeping only the rows where a model's values start or
stop (`replay_edges`), from which versions and events follow. The shrink guard is the only sequential part, and it
needs only counts: it is walked here in Python, per catalog, to decide which pulls are applied.
The result is the same rows and event ids as the pull-by-pull load in `history.py`, which the
rebuild tests check on histories with every event type and both guard outcomes.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from flows import ledger
from flows.archive import PullRecord, read_records
from flows.database import db_path
from flows.history import LoadReport, ModelReader, Verdict, connect, insert_pulls, register, trips
from flows.sqlfiles import run


@dataclass
class _Catalog:
    """The guard's view of one catalog while walking its pulls in order."""

    applied: list[PullRecord] = field(default_factory=list)
    pending: PullRecord | None = None
    previous_valid: PullRecord | None = None


def rebuild(data_dir: Path, max_removed_share: float) -> LoadReport:
    """Build a fresh database beside the live one from the archive alone, then swap it in.

    The alert ledger is restored from its log; a rebuild never sends anything.

    Readers keep the old file until the swap; a failed rebuild leaves the live file untouched.
    The caller holds the writer lock.
    """
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
        ledger.sync(con, data_dir)
        events = sum(count for _, _, count in run(con, "event_counts").fetchall())
        con.execute("checkpoint")
    finally:
        con.close()
    # a WAL left by a killed load belongs to the old file and would make the new one unopenable
    target.with_name(target.name + ".wal").unlink(missing_ok=True)
    os.replace(scratch, target)
    return LoadReport(len(records), events)


def replay(con: duckdb.DuckDBPyConnection, data_dir: Path, records: list[PullRecord], max_removed_share: float) -> None:
    valid = [record for record in records if record.status == "ok"]
    reader = ModelReader(data_dir)
    try:
        register(con, "history_models", reader.table(valid))
    finally:
        reader.close()
    register(con, "sequenced_pulls", _sequenced(valid))
    run(con, "replay_edges")
    adjacent = dict(run(con, "replay_missing").fetchall())
    verdicts = {record.pull_id: Verdict(record, record.status) for record in records}
    catalogs: dict[tuple[str, str], _Catalog] = defaultdict(_Catalog)
    for record in valid:
        _judge(con, catalogs[(record.license, record.provider)], record, verdicts, adjacent, max_removed_share)
    applied = [record for catalog in catalogs.values() for record in catalog.applied]
    if len(applied) != len(valid):
        register(con, "sequenced_pulls", _sequenced(applied))
        run(con, "replay_edges")
    run(con, "replay_model_versions")
    run(con, "replay_catalog_events")
    insert_pulls(con, verdicts.values())


def _judge(
    con: duckdb.DuckDBPyConnection,
    catalog: _Catalog,
    record: PullRecord,
    verdicts: dict[str, Verdict],
    adjacent: dict[str, int],
    max_removed_share: float,
) -> None:
    """The same decisions as history._apply_round, one catalog and one pull at a time."""
    missing = _missing(con, catalog, record, adjacent)
    current = catalog.applied[-1].model_count if catalog.applied else 0
    if catalog.pending is not None:
        suspect = catalog.pending
        catalog.pending = None
        params = {"applied": catalog.applied[-1].pull_id, "suspect": suspect.pull_id, "later": record.pull_id}
        if run(con, "replay_suspect_returns", params).fetchall()[0][0] == 0:
            verdicts[suspect.pull_id].resolution = "confirmed"
            catalog.applied.append(suspect)
            missing = _missing(con, catalog, record, adjacent)
            current = suspect.model_count
        else:
            verdicts[suspect.pull_id].resolution = "dismissed"
    verdict = verdicts[record.pull_id]
    verdict.removed_count = missing
    if trips(record.model_count or 0, current or 0, missing, max_removed_share):
        verdict.status, verdict.resolution = "suspect", "pending"
        catalog.pending = record
    else:
        catalog.applied.append(record)
    catalog.previous_valid = record


def _missing(con: duckdb.DuckDBPyConnection, catalog: _Catalog, record: PullRecord, adjacent: dict[str, int]) -> int:
    """Models of the last applied pull that this pull lacks; precomputed unless a held pull sits between."""
    if not catalog.applied:
        return 0
    last = catalog.applied[-1]
    if last is catalog.previous_valid:
        return adjacent.get(record.pull_id, 0)
    return run(con, "replay_missing_between", {"earlier": last.pull_id, "later": record.pull_id}).fetchall()[0][0]


def _sequenced(records: list[PullRecord]) -> pa.Table:
    """Pulls numbered 1, 2, ... within each catalog in time order."""
    ordered = sorted(records, key=lambda r: (r.license, r.provider, r.observed_at, r.pull_id))
    seqs: list[int] = []
    counter: dict[tuple[str, str], int] = defaultdict(int)
    for record in ordered:
        counter[(record.license, record.provider)] += 1
        seqs.append(counter[(record.license, record.provider)])
    return pa.table(
        {
            "pull_id": [r.pull_id for r in ordered],
            "license": [r.license for r in ordered],
            "provider": [r.provider for r in ordered],
            "observed_at": pa.array([r.observed_at for r in ordered], pa.timestamp("us", tz="UTC")),
            "seq": pa.array(seqs, pa.int64()),
        }
    )
