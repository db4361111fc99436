"""Derive DuckDB history (pulls, model_versions, catalog_events) from archived pulls.

Pulls are applied in rounds: a round holds at most one pull per catalog, so that each step is
one set-based statement for all catalogs at once. A nightly run is one round, in one
transaction. `replay.py` rebuilds the whole history at once from the same archive; the rebuild
tests check that both give the same rows and event ids.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa

from flows.archive import PullRecord, archive_root, list_records, read_record, read_records, record_path
from flows.config import HistoryConfig
from flows.database import SCHEMA_VERSION, damage, db_path, first_line, is_damage, open_database, rollback, transaction
from flows.engine import duckdb, register
from flows.errors import ArchiveError, QcatError, StorageError
from flows.sqlfiles import run
from flows.timespec import FUTURE_SLACK

# layout -> the steps (sql/ files) that reach the next one where no table changed shape: views and
# macros created again, derived columns computed again, constraints added. A writer upgrades such a
# file in place, so that the next nightly run loads (and alerts) as usual
UPGRADES = {
    5: ("catalog_state", "current_rates"),
    6: ("pct_change", "catalog_events_pct_update"),
    7: ("pct_change", "catalog_events_pct_update", "changes_between", "model_versions_ended_not_null"),
    8: ("catalog_state",),
    9: ("changes_between", "rate_changes", "price_change_stats", "model_lifecycle", "rate_spread"),
    10: ("model_versions", "changes_between", "model_lifecycle", "price_change_stats", "catalog_state"),
}
# a new file's tables and views, created in this order
SCHEMA = (
    "qcat_schema",
    "pulls",
    "model_versions_current",
    "model_versions_ended",
    "model_versions_ended_not_null",
    "model_versions",
    "catalog_events",
    "pct_change",
    "catalog_state",
    "alert_deliveries",
    "alert_log",
)
VIEWS = (
    "changes_between",
    "current_rates",
    "rates_as_of",
    "rate_changes",
    "model_lifecycle",
    "rate_spread",
    "license_rate_spread",
    "provider_rate_spread",
    "price_change_stats",
)
# an archived file named in an error, as DuckDB quotes its path
ARCHIVED_FILE = re.compile(r"[\"']([^\"']*/license=[^/]+/provider=[^/]+/date=[^/]+/[^/\"']+\.parquet)[\"']")
CATALOG_FOLDERS = re.compile(r"/license=([^/]+)/provider=([^/]+)/")
# each writer connection's setup: the temporary macros that loads and rebuilds share (not part of the
# layout) and its thread count
WRITER_SETUP = ("archive_models", "event_id", "writer_threads")
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
        ("origin", pa.string()),
    ]
)


@dataclass(frozen=True)
class LoadReport:
    """What a load or rebuild did; `applied` lists every pull whose events it (re)derived.

    `replayed_until` gives, for each catalog replayed because of a late pull, when its history
    ended before the load. Where imports alone were late, what the replay re-derives up to then is
    not news (imported history never alerts). Where a live pull was late (`live_replays`), it saw
    what no loaded pull had, and so did the pulls a confirmation applied: there, the news is every
    event beyond what the catalog's events said before the replay (a thing said once before and
    twice now is news once); `known_events` are the others (a change seen earlier than before, say,
    which alerted when first loaded).
    """

    pulls: int
    events: int | None = None
    applied: tuple[str, ...] = ()
    replayed_until: tuple[tuple[str, str, datetime], ...] = ()
    live_replays: frozenset[tuple[str, str]] = frozenset()
    known_events: frozenset[str] = frozenset()


@contextmanager
def explained(data_dir: Path, outcome: str = "") -> Iterator[None]:
    """Deriving DuckDB failed for a reason outside qcat (a damaged database file, an archived file
    that cannot be read, a full or read-only disk): one typed error that says so, and `outcome`,
    what became of the work. Anything else (a bug in qcat's own SQL, say) stays an internal error."""
    try:
        yield
    except (OSError, duckdb.Error) as exc:
        failure = _failure(exc, data_dir)
        if failure is None:
            raise
        raise type(failure)(f"{failure}; {outcome}" if outcome else str(failure)) from None


def _failure(exc: OSError | duckdb.Error, data_dir: Path) -> QcatError | None:
    if is_damage(exc):
        return damage(db_path(data_dir), exc)
    reason = first_line(exc)
    quoted = ARCHIVED_FILE.search(reason)
    if quoted:
        file, reason = quoted.group(1), reason.replace(quoted.group(0), "").strip()
    elif isinstance(exc, OSError) and exc.filename and str(archive_root(data_dir)) in str(exc.filename):
        file, reason = str(exc.filename), exc.strerror or reason
    else:
        file = None
    if file is not None:
        catalog = CATALOG_FOLDERS.search(file)
        where = f"{catalog.group(1)}/{catalog.group(2)}: " if catalog else ""
        return ArchiveError(f"{where}cannot read the archived file {file} ({reason}); {_remedy(file)}")
    if isinstance(exc, (OSError, duckdb.IOException)) or "could not write file" in reason.lower():
        return StorageError(f"the data directory {data_dir} could not be written or read: {reason}")
    return None


def _remedy(file: str) -> str:
    """A Parquet file derives from its pull's raw response; the other archived files are originals."""
    if file.endswith(".parquet"):
        return "`qcat repair` regenerates it from the pull's raw response"
    return "restore it from a backup, or move that pull's files out of the archive"


def models_files(data_dir: Path, records: Sequence[PullRecord]) -> list[str]:
    """The archived Parquet files of valid pulls, for the archive_models macro (sql/archive_models.sql).

    DuckDB reads small files several at a time on its own threads, faster than handing it
    tables decoded in Python; the config refuses data folders whose names it would take for a
    pattern.
    """
    root = f"{archive_root(data_dir)}/"
    files = []
    for record in records:
        if record.models_file is None:
            raise ArchiveError(f"pull {record.pull_id} ({record.license}/{record.provider}) is ok but has no models file")
        files.append(root + record.models_file)
    return files


@dataclass
class Verdict:
    """What the shrink guard made of a pull: its final status, and for suspects their fate."""

    record: PullRecord
    status: str
    resolution: str | None = None
    removed_count: int | None = None


def connect(path: Path, wait_seconds: float = 0.0) -> duckdb.DuckDBPyConnection:
    """Open the database for writing: a new file gets its tables and views, a file of a layout that
    UPGRADES reaches is upgraded, any other layout is refused. On failure the connection is
    closed, so that no half-open writer keeps readers and the next run locked out."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = open_database(path, read_only=False, wait_seconds=wait_seconds)
    try:
        _prepare(con, path)
    except BaseException:
        con.close()
        raise
    return con


def _prepare(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    try:
        version = run(con, "qcat_schema_version").fetchone()[0]
    except duckdb.CatalogException:
        version = None if run(con, "table_count").fetchone()[0] else SCHEMA_VERSION
        if version is not None:
            _create(con)
    if version in UPGRADES:
        version = _upgrade(con, version)
    if version != SCHEMA_VERSION:
        raise ArchiveError(
            f"{path} was built by {'an older' if (version or 0) < SCHEMA_VERSION else 'a newer'} qcat (layout "
            f"{version or 1}, this qcat needs {SCHEMA_VERSION}): run `qcat rebuild` to derive it again from the archive"
        )
    for step in WRITER_SETUP:
        run(con, step)


def _create(con: duckdb.DuckDBPyConnection) -> None:
    """A new file's tables, views and layout row, all or nothing: a run killed in between would
    leave tables without a layout, a file no qcat would open again without a rebuild."""
    with transaction(con):
        for name in SCHEMA + VIEWS:
            run(con, name)
        run(con, "qcat_schema_insert", {"version": SCHEMA_VERSION})


def _upgrade(con: duckdb.DuckDBPyConnection, version: int) -> int:
    """Step a file through the layouts in UPGRADES, all or nothing: a file is never left between two
    layouts. Returns the layout it reached."""
    with transaction(con):
        while version in UPGRADES:
            for name in UPGRADES[version]:
                run(con, name)
            version += 1
            run(con, "qcat_schema_upgrade", {"version": version})
    return version


def load_pending(
    con: duckdb.DuckDBPyConnection,
    data_dir: Path,
    guard: HistoryConfig,
    known_new: Sequence[PullRecord] = (),
    before_commit: Callable[[duckdb.DuckDBPyConnection, LoadReport], None] | None = None,
) -> LoadReport:
    """Load archived pulls that DuckDB lacks, in time order: `known_new` and any found in the
    day folders from each catalog's latest loaded day on (left behind by a crashed run).

    Whoever holds the writer lock loads everything pending, so two overlapping runs cannot
    apply their pulls out of order. A pull older than what its catalog already applied (a run
    that archived late) makes that catalog replay from the archive rather than bend history.
    `before_commit` sees the load's outcome inside its transaction (alerts are enqueued there, so
    that a crash cannot commit a change without its alert).
    """
    heads = _catalog_heads(con)
    watermarks = {key: head.last_pulled_at for key, head in heads.items() if head.last_pulled_at is not None}
    _refuse_future_pulls(data_dir, watermarks)
    # from the day before each catalog's latest load: a run that crossed midnight may have
    # archived a pull dated then after another run loaded a later one
    # up to this run's day (today for a live run; the simulated day for the demo and benchmarks)
    until = max((record.observed_at.date() for record in known_new), default=datetime.now(timezone.utc).date())
    files = list_records(data_dir, {key: last.date() - timedelta(days=1) for key, last in watermarks.items()}, until)
    candidates = {record.pull_id: record for record in known_new}
    unknown = set(files) | set(candidates)
    known = {row[0] for row in run(con, "pulls_known", {"pull_ids": sorted(unknown)}).fetchall()}
    pending = [candidates.get(pull_id) or read_record(files[pull_id]) for pull_id in sorted(unknown - known)]
    late_records = [r for r in pending if (r.license, r.provider) in watermarks and r.observed_at <= watermarks[(r.license, r.provider)]]
    late = sorted({(record.license, record.provider) for record in late_records})
    live_late = frozenset((record.license, record.provider) for record in late_records if record.origin == "live")
    if late:
        pending = [record for record in pending if (record.license, record.provider) not in late]
        pending += read_records(data_dir, set(late))
    if not pending:
        return LoadReport(0)
    con.begin()
    try:
        said_before = {catalog: _event_signatures(con, catalog) for catalog in live_late}
        for license, provider in late:
            run(con, "catalog_forget", {"license": license, "provider": provider})
        confirmed: list[str] = []
        for index, round_records in enumerate(_rounds(pending)):
            # the first round finds the catalogs as the load did (unless some were just forgotten);
            # later rounds, as the round before left them
            first_heads = heads if index == 0 and not late else None
            confirmed += _apply_round(con, data_dir, round_records, guard, first_heads)
        report = LoadReport(
            len(pending),
            applied=tuple(r.pull_id for r in pending) + tuple(confirmed),
            replayed_until=tuple((license, provider, watermarks[(license, provider)]) for license, provider in late),
            live_replays=live_late,
            known_events=frozenset(event_id for catalog, said in said_before.items() for event_id in _already_said(con, catalog, said)),
        )
        if before_commit is not None:
            before_commit(con, report)
        con.commit()
    except BaseException:
        rollback(con)
        raise
    return report


def _refuse_future_pulls(data_dir: Path, watermarks: dict[tuple[str, str], datetime]) -> None:
    """A loaded pull dated after this machine's clock was stamped by a clock that ran ahead: every
    pull loaded after it would count as earlier, so its stale rates would stay current and the
    catalog would seem to go back to them. Nothing more loads until it is dealt with (the new pulls
    stay archived)."""
    now = datetime.now(timezone.utc)
    ahead = sorted((key, last) for key, last in watermarks.items() if last > now + FUTURE_SLACK)
    if ahead:
        (license, provider), last = ahead[0]
        others = f" (and {len(ahead) - 1} more catalogs)" if len(ahead) > 1 else ""
        folder = record_path(data_dir, license, provider, last, "x").parent
        raise ArchiveError(
            f"{license}/{provider}{others}: its latest pull is dated {last.isoformat()}, after this machine's clock "
            f"({now.isoformat(timespec='seconds')}): a clock ran ahead when it was pulled, and pulls loaded now would "
            "count as earlier, so nothing was loaded (new pulls stay archived). Set the clock right and wait, or move "
            f"every pull record dated after now out of archive/pulls/ (this one is in {folder}) and run "
            "`qcat rebuild --drop-missing`"
        )


def _event_signatures(con: duckdb.DuckDBPyConnection, catalog: tuple[str, str]) -> list[tuple[str, str]]:
    """(event id, what the event says, wherever it was seen), oldest first (sql/catalog_event_signatures.sql)."""
    return run(con, "catalog_event_signatures", {"license": catalog[0], "provider": catalog[1]}).fetchall()


def _already_said(con: duckdb.DuckDBPyConnection, catalog: tuple[str, str], said: list[tuple[str, str]]) -> list[str]:
    """The replayed events that say what the catalog's events said before the replay (`said`), one
    for one: first each event still there unchanged, then the earliest of the others that says the
    same thing (a change the late pull dates earlier). A price that went 1 -> 2, then (the late pull
    shows) back to 1 and up to 2 again has said 1 -> 2 once before and twice now: one of them is
    news, or the last alert would leave 1 as the price."""
    now = _event_signatures(con, catalog)
    unchanged = set(said) & set(now)
    left = Counter(signature for event_id, signature in said if (event_id, signature) not in unchanged)
    known = [event_id for event_id, _ in unchanged]
    for event_id, signature in now:
        if (event_id, signature) not in unchanged and left[signature]:
            left[signature] -= 1
            known.append(event_id)
    return known


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


@dataclass(frozen=True)
class _Head:
    """A catalog as DuckDB has it: when its latest pull was loaded and its last applied one observed
    (none yet: the next valid pull is its baseline), how many models are current (what the shrink
    guard compares with), and any suspect pull held back."""

    last_pulled_at: datetime | None
    last_applied_at: datetime | None
    current_count: int
    peak_count: int
    pending_suspect_pull_id: str | None


NO_HEAD = _Head(None, None, 0, 0, None)


def _catalog_heads(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], _Head]:
    return {(row[0], row[1]): _Head(*row[2:]) for row in run(con, "catalog_heads").fetchall()}


def _apply_round(
    con: duckdb.DuckDBPyConnection,
    data_dir: Path,
    records: list[PullRecord],
    guard: HistoryConfig,
    catalogs: dict[tuple[str, str], _Head] | None,
) -> list[str]:
    """Diff every valid pull of the round at once; the shrink guard then holds back the suspects.

    `catalogs`: the heads of the catalogs if already known (else they are queried). Returns the
    earlier suspect pulls that this round confirmed (and so applied).
    """
    confirmed: list[PullRecord] = []
    verdicts = {record.pull_id: Verdict(record, record.status) for record in records}
    valid = [record for record in records if record.status == "ok"]
    if valid:
        heads, missing = _diff(con, data_dir, valid, catalogs)
        suspects = [record for record in valid if heads[record.pull_id].pending_suspect_pull_id]
        if suspects:
            confirmed = _settle_suspects(con, data_dir, suspects, heads)
            if confirmed:
                _apply_suspects(con, data_dir, confirmed)
                heads, missing = _diff(con, data_dir, valid)
        held: list[str] = []
        for record in valid:
            verdict = verdicts[record.pull_id]
            verdict.removed_count = missing.get(record.pull_id, 0)
            if trips(record, heads[record.pull_id].current_count, verdict.removed_count, heads[record.pull_id].peak_count, guard):
                verdict.status, verdict.resolution = "suspect", "pending"
                held.append(record.pull_id)
        if held:
            run(con, "changes_discard", {"pull_ids": held})
        _apply_changes(con)
    insert_pulls(con, verdicts.values())
    return [record.pull_id for record in confirmed]


def _diff(
    con: duckdb.DuckDBPyConnection, data_dir: Path, records: list[PullRecord], catalogs: dict[tuple[str, str], _Head] | None = None
) -> tuple[dict[str, _Head], dict[str, int]]:
    """Stage what each pull changes in `changes`; returns, by pull id, the head of the pull's
    catalog and how many of its current models the pull lacks (the shrink guard's input)."""
    catalogs = _catalog_heads(con) if catalogs is None else catalogs
    heads = {record.pull_id: catalogs.get((record.license, record.provider), NO_HEAD) for record in records}
    register(con, "apply_pulls", _round_pulls(records, heads))
    run(con, "changes", {"files": models_files(data_dir, records)})
    return heads, dict(run(con, "guard_check").fetchall())


def _settle_suspects(con: duckdb.DuckDBPyConnection, data_dir: Path, later: list[PullRecord], heads: dict[str, _Head]) -> list[PullRecord]:
    """The next valid pull confirms a suspect pull only if every model it lacked is still missing
    and every new model it listed is still there.

    Any disagreement means the suspect pull was a glitch: it is dismissed and the new pull is
    judged on its own against the last applied state.
    """
    suspects = _records(con, data_dir, [heads[record.pull_id].pending_suspect_pull_id for record in later])
    params = {"files": models_files(data_dir, later), "suspect_files": models_files(data_dir, suspects)}
    disagreeing = {suspect: count for _, suspect, count in run(con, "suspect_returns", params).fetchall()}
    for suspect_id, count in disagreeing.items():
        if count:
            run(con, "pulls_resolve", {"pull_id": suspect_id, "resolution": "dismissed"})
    return [record for record in suspects if disagreeing.get(record.pull_id) == 0]


def _apply_suspects(con: duckdb.DuckDBPyConnection, data_dir: Path, suspects: list[PullRecord]) -> None:
    """Confirmed suspect pulls apply at their own time: the models were first seen missing then."""
    _diff(con, data_dir, suspects)
    _apply_changes(con)
    for record in suspects:
        run(con, "pulls_resolve", {"pull_id": record.pull_id, "resolution": "confirmed"})


def _records(con: duckdb.DuckDBPyConnection, data_dir: Path, pull_ids: list[str]) -> list[PullRecord]:
    rows = run(con, "pulls_located", {"pull_ids": pull_ids}).fetchall()
    return [read_record(record_path(data_dir, license, provider, observed_at, pull_id)) for pull_id, license, provider, observed_at in rows]


def trips(record: PullRecord, current: int, missing: int, peak: int, guard: HistoryConfig) -> bool:
    """More than the allowed share of the current models gone, or an empty catalog replacing a full
    one; or more models than the catalog ever listed (`peak`, over its applied pulls) by more than
    the allowed share of that peak, as when a gateway answers with another provider's catalog. The
    peak, not the current count, so that a catalog coming back after a confirmed shrink is not
    held again. The shares are those the pull was archived under; `guard` (the configuration's)
    only judges pulls archived before records kept them."""
    removed_share = guard.max_removed_share if record.max_removed_share is None else record.max_removed_share
    added_share = guard.max_added_share if record.max_added_share is None else record.max_added_share
    shrinks = current > 0 and (not record.model_count or missing / current > removed_share)
    grows = peak > 0 and (record.model_count or 0) > peak * (1 + added_share)
    return shrinks or grows


def _apply_changes(con: duckdb.DuckDBPyConnection) -> None:
    for step in ("catalog_events_insert", "model_versions_close", "model_versions_insert"):
        run(con, step)


def _round_pulls(records: Sequence[PullRecord], heads: dict[str, _Head]) -> pa.Table:
    return pa.table(
        {
            "pull_id": [r.pull_id for r in records],
            "license": [r.license for r in records],
            "provider": [r.provider for r in records],
            "observed_at": pa.array([r.observed_at for r in records], pa.timestamp("us", tz="UTC")),
            "previous_observed_at": pa.array([heads[r.pull_id].last_applied_at for r in records], pa.timestamp("us", tz="UTC")),
            "pending_suspect_pull_id": pa.array([heads[r.pull_id].pending_suspect_pull_id for r in records], pa.string()),
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
            "origin": [v.record.origin for v in rows],
        },
        schema=PULL_COLUMNS,
    )
    register(con, "incoming_pulls", table)
    run(con, "pulls_insert")
