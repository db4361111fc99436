"""`qcat repair`: check every archived pull against its record, and derive again what can be derived.

A pull's Parquet file is derived: the same validation that made it turns the pull's raw response
into it again, so a damaged or missing one is regenerated from an intact raw body (the record holds
the body's sha256, so a damaged body is never mistaken for the original). The raw body and the pull
record are originals: when one of them is damaged, repair says so and changes nothing, since only a
backup can bring it back. A damaged file is moved out of the archive to <data_dir>/damaged/, never
deleted.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from flows.archive import (
    MODELS_SCHEMA,
    PullRecord,
    archive_root,
    list_records,
    models_table,
    read_raw,
    read_record,
    record_path,
    require_archive,
    write_new_parquet,
)
from flows.catalog import InvalidCatalog, parse_catalog
from flows.config import Config, check_writable
from flows.database import first_line, pulls_out_of_reach, pulls_without_record
from flows.errors import ArchiveError
from flows.lock import writer_lock

DAMAGED_DIR = "damaged"
RESTORE = "an original: restore it from a backup"


@dataclass(frozen=True)
class Finding:
    """One damaged archived file, what is wrong with it and what repair did (or would do) about it."""

    file: Path
    problem: str
    action: str
    repaired: bool = False
    repairable: bool = False
    by_rebuild: bool = False  # nothing is damaged: `qcat rebuild` mends it


@dataclass(frozen=True)
class RepairReport:
    pulls: int
    findings: tuple[Finding, ...]

    @property
    def left(self) -> tuple[Finding, ...]:
        """Damage still in the archive once repair is done."""
        return tuple(finding for finding in self.findings if not finding.repaired)


def repair_archive(config: Config, dry_run: bool = False, progress: Callable[[int, int], None] | None = None) -> RepairReport:
    """Holds the writer lock while it repairs, so that no load reads a file being replaced; a dry
    run only reads, and files appear in the archive whole (written aside, then linked in)."""
    data_dir = config.data_dir
    require_archive(data_dir, "repair")
    if dry_run:
        return check(data_dir, dry_run=True, progress=progress)
    check_writable(data_dir)
    with writer_lock(data_dir, config.lock_timeout_seconds):
        return check(data_dir, dry_run=False, progress=progress)


def check(data_dir: Path, dry_run: bool, progress: Callable[[int, int], None] | None = None) -> RepairReport:
    records = list_records(data_dir)
    paths = sorted(records.values())
    findings: list[Finding] = []
    for done, path in enumerate(paths, start=1):
        findings += _check_pull(data_dir, Path(path), dry_run)
        if progress is not None:
            progress(done, len(paths))
    findings += _records_lost(data_dir, list(records))
    findings += _never_loaded(data_dir, records)
    return RepairReport(len(paths), tuple(findings))


def _never_loaded(data_dir: Path, records: dict[str, str]) -> list[Finding]:
    """The other way round: an archived pull that DuckDB lacks and that no nightly load will find."""
    problem = "archived, but catalog.duckdb never loaded this pull, and nightly loads no longer look that far back"
    return [Finding(Path(records[pull_id]), problem, "`qcat rebuild` loads it", by_rebuild=True) for pull_id in pulls_out_of_reach(data_dir, records)]


def _records_lost(data_dir: Path, pull_ids: list[str]) -> list[Finding]:
    """A record deleted since its pull was loaded leaves nothing to walk: only the database still
    knows the pull. (Data files without a record are no loss: an archive write cut short leaves
    them, and the pull was never part of the history.)"""
    rows = pulls_without_record(data_dir, pull_ids)
    problem = "missing, though catalog.duckdb loaded this pull (a rebuild now would leave it out of the history)"
    # named under data_dir as given, as the other findings are (record_path resolves links)
    paths = [data_dir / record_path(data_dir, *row[1:], row[0]).relative_to(data_dir.resolve()) for row in rows]
    return [Finding(path, problem, f"cannot repair: the pull record is {RESTORE}") for path in paths]


def _check_pull(data_dir: Path, path: Path, dry_run: bool) -> list[Finding]:
    try:
        record = read_record(path)
    except (OSError, ArchiveError) as exc:
        reason = str(exc).partition(" is unreadable: ")[2] if isinstance(exc, ArchiveError) else _reason(exc)
        problem = f"unreadable pull record ({reason})"
        return [Finding(path, problem, f"cannot repair: the pull record is {RESTORE}")]
    root = archive_root(data_dir)
    # by name, not by where links lead: a file of the archive may be a link, damaged or not
    top = Path(os.path.normpath(root))
    strays = [name for name in (record.raw_file, record.models_file) if name and top not in Path(os.path.normpath(root / name)).parents]
    if strays:
        # never read or write where a damaged or crafted record points outside the archive
        problem = f"names a file outside the archive ({', '.join(strays)})"
        return [Finding(path, problem, f"cannot repair: the pull record is {RESTORE}")]
    body, raw_problem = _raw_body(data_dir, record) if record.raw_file else (None, None)
    findings = []
    if raw_problem is not None:
        findings.append(Finding(root / str(record.raw_file), raw_problem, f"cannot repair: the raw response is {RESTORE}"))
    if record.models_file:
        models_path = root / record.models_file
        problem = _models_problem(models_path, record, body)
        if problem is not None:
            findings.append(_regenerate(data_dir, record, models_path, problem, body, dry_run))
    return findings


def _regenerate(data_dir: Path, record: PullRecord, path: Path, problem: str, body: bytes | None, dry_run: bool) -> Finding:
    """`body`: the pull's raw response as checked against its record (None: none was kept, or it is damaged)."""
    if record.raw_file is None:
        return Finding(path, problem, f"cannot repair: the pull kept no raw response; the file is {RESTORE}")
    if body is None:
        return Finding(path, problem, "cannot repair: its raw response is damaged too; restore either from a backup")
    try:
        table = models_table(record.pull_id, record.observed_at, parse_catalog(body))
    except InvalidCatalog as exc:
        return Finding(path, problem, f"cannot repair: its raw response no longer validates ({exc}); restore the file from a backup")
    if table.num_rows != record.model_count:
        action = f"cannot repair: its raw response gives {table.num_rows} models where the pull record says {record.model_count}; restore the file from a backup"
        return Finding(path, problem, action)
    if dry_run:
        return Finding(path, problem, "would be regenerated from the raw response", repairable=True)
    kept = _move_aside(data_dir, path)
    write_new_parquet(path, table)
    moved = f" (the damaged file is kept as {kept.relative_to(data_dir)})" if kept is not None else ""
    return Finding(path, problem, f"regenerated from the raw response{moved}", repaired=True, repairable=True)


def _models_problem(path: Path, record: PullRecord, body: bytes | None) -> str | None:
    """What makes the file unusable as this pull's models, if anything: the load and the rebuild
    read it as they find it, so a readable file of the wrong shape is damage too, and so is one
    whose values differ from what its intact raw response (`body`) gives: a flipped bit in a rate
    reads cleanly, and a rebuild would turn it into price changes that never happened."""
    if not path.is_file():
        return _absence(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        # pyarrow quotes the path before its reason; the path is said already
        reason = _reason(exc)
        return f"unreadable Parquet ({reason.partition(repr(str(path)) + ': ')[2] or reason})"
    if table.schema.remove_metadata() != MODELS_SCHEMA:
        return "not in the layout of an archived catalog (its columns differ)"
    if table.num_rows != record.model_count:
        return f"{table.num_rows} rows where the pull record says {record.model_count} models"
    if set(table.column("pull_id").unique().to_pylist()) - {record.pull_id}:
        return "holds rows of another pull"
    derived = _derived(record, body) if body is not None else None
    if derived is not None and not table.replace_schema_metadata(None).equals(derived):
        return "its values differ from the raw response it was made from"
    return None


def _derived(record: PullRecord, body: bytes) -> pa.Table | None:
    """The models table the raw response gives; None if it no longer validates (a check added
    since it was archived), which leaves the archived file as the pull's word."""
    try:
        return models_table(record.pull_id, record.observed_at, parse_catalog(body))
    except InvalidCatalog:
        return None


def _raw_body(data_dir: Path, record: PullRecord) -> tuple[bytes | None, str | None]:
    """The pull's raw response if it is the one the pull received, else what is wrong with it."""
    path = archive_root(data_dir) / str(record.raw_file)
    if not path.is_file():
        return None, _absence(path)
    try:
        body = read_raw(data_dir, record)
    except (OSError, EOFError, zlib.error) as exc:
        return None, f"unreadable gzip ({_reason(exc)})"
    if body is None or hashlib.sha256(body).hexdigest() != record.content_sha256:
        return None, "its content differs from the response the pull received (sha256 mismatch)"
    return body, None


def _absence(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return "a link to nothing"
    return "not a file" if path.exists() else "missing"


def _move_aside(data_dir: Path, path: Path) -> Path | None:
    """Keep what was there under <data_dir>/damaged/, at the same place as in the archive."""
    if not path.exists() and not path.is_symlink():
        return None
    target = data_dir / DAMAGED_DIR / path.relative_to(archive_root(data_dir))
    target.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = target, 1
    while candidate.exists():
        candidate, n = target.with_name(f"{target.name}.{n}"), n + 1
    os.replace(path, candidate)
    return candidate


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or first_line(exc)
