"""The archive under <data_dir>/archive: the source of truth that DuckDB is derived from.

Per pull, three kinds of file, Hive-partitioned by license, provider and the pull's UTC date:
  raw/     the exact response body (gzip), whenever the server answered with one;
  models/  the validated catalog as typed Parquet, for successful pulls;
  pulls/   the pull record (JSON): every attempt, failures included. It is written last, so
           it is the commit point: a pull without a record never reached DuckDB.
Files are written to a temporary name and hard-linked into place, which is atomic and refuses
to overwrite an existing file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import secrets
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import pyarrow as pa
import pyarrow.parquet as pq

from flows import __version__
from flows.catalog import Catalog
from flows.config import NAME_PATTERN, HistoryConfig
from flows.errors import ArchiveError, ConfigError

if TYPE_CHECKING:  # the HTTP client is not needed to read the archive (rebuild, queries)
    from flows.client import FetchResult

# what a pull can end as (suspect is DuckDB's verdict on an ok pull, never a record's status)
PullStatus = Literal["ok", "auth_error", "unavailable", "invalid"]
RECORD_STATUSES = frozenset(get_args(PullStatus))
MODELS_SCHEMA = pa.schema(
    [
        ("pull_id", pa.string()),
        ("observed_at", pa.timestamp("us", tz="UTC")),
        ("model_id", pa.string()),
        ("name", pa.string()),
        ("input_cost_per_micro_credit", pa.float64()),
        ("output_cost_per_micro_credit", pa.float64()),
        ("context_window", pa.int64()),
        ("max_output_tokens", pa.int64()),
        ("extra", pa.string()),
    ]
)


@dataclass(frozen=True)
class PullRecord:
    """What the pull log says about one pull; DuckDB's `pulls` row is derived from it."""

    pull_id: str
    license: str
    provider: str
    observed_at: datetime
    status: str
    http_status: int | None
    attempts: int
    model_count: int | None
    content_sha256: str | None
    error: str | None
    warnings: tuple[str, ...] = ()
    raw_file: str | None = None
    models_file: str | None = None
    origin: str = "live"  # live: pulled by qcat; import: loaded by `qcat import` (never alerts)
    # the shrink guard's thresholds when a valid pull was archived: loads and rebuilds judge the pull
    # by them, so that changing `history.max_removed_share` or `max_added_share` later cannot rewrite
    # history. None on failed pulls, and in records archived before qcat kept them: those are
    # judged by the configuration
    max_removed_share: float | None = None
    max_added_share: float | None = None
    attempt_log: tuple[dict[str, Any], ...] = field(default=(), compare=False)

    def to_json(self) -> bytes:
        document = asdict(self)
        document["observed_at"] = self.observed_at.isoformat()
        document["qcat_version"] = __version__
        return json.dumps(document, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, text: bytes, where: str | Path) -> PullRecord:
        try:
            document = json.loads(text)
            document.pop("qcat_version", None)
            document["observed_at"] = datetime.fromisoformat(document["observed_at"])
            document["warnings"] = tuple(document.get("warnings", ()))
            document["attempt_log"] = tuple(document.get("attempt_log", ()))
            record = cls(**document)
        except (ValueError, KeyError, TypeError) as exc:
            raise ArchiveError(f"pull record {where} is unreadable: {exc}") from None
        problem = record._contradiction(str(where).replace(os.sep, "/"))
        if problem:
            raise ArchiveError(f"pull record {where} is unreadable: {problem}")
        return record

    def _contradiction(self, path: str) -> str | None:
        """A record edited by hand can parse and still say what cannot be: a time without a zone
        (no order with the others), a status no pull has, or a catalog, day or id other than the
        folders and file name it lies in (loads and rebuilds find records by those)."""
        if self.observed_at.tzinfo is None:
            return f"observed_at {self.observed_at.isoformat()} has no UTC offset"
        if self.status not in RECORD_STATUSES:
            return f"status {self.status!r} is not one of {', '.join(sorted(RECORD_STATUSES))}"
        for name, share, top, allowed in (
            ("max_removed_share", self.max_removed_share, 1.0, "a number from 0 to 1"),
            ("max_added_share", self.max_added_share, math.inf, "a finite number of 0 or more"),
        ):
            # type(), not isinstance(): True is an int, and no share
            if share is not None and not (type(share) in (int, float) and math.isfinite(share) and 0 <= share <= top):
                return f"{name} {share!r} is not {allowed}"
        day = self.observed_at.astimezone(timezone.utc).date().isoformat()
        place = (f"license={self.license}", f"provider={self.provider}", f"date={day}", f"{self.pull_id}.json")
        if not f"/{path}".endswith("/" + "/".join(place)):
            return f"it is pull {'/'.join(place)}, in the wrong place"
        return None


def archive_root(data_dir: Path) -> Path:
    return data_dir / "archive"


def new_pull_id(observed_at: datetime) -> str:
    """Sortable by time, unique without coordination between concurrent runs."""
    return f"{observed_at.astimezone(timezone.utc):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}"


def partition(data_dir: Path, kind: str, license: str, provider: str, day: date) -> Path:
    """The folder for one catalog and day; refuses any name that could leave the archive."""
    for label, value in (("license", license), ("provider", provider)):
        if not NAME_PATTERN.fullmatch(value):
            raise ArchiveError(f"{label} name {value!r} is not a safe path segment")
    root = archive_root(data_dir).resolve()
    folder = (root / kind / f"license={license}" / f"provider={provider}" / f"date={day.isoformat()}").resolve()
    if root not in folder.parents:
        raise ArchiveError(f"archive path for license {license!r} escapes {root}")
    return folder


def archive_pull(
    data_dir: Path,
    license: str,
    provider: str,
    observed_at: datetime,
    result: FetchResult,
    guard: HistoryConfig,
    pull_id: str | None = None,
    origin: str = "live",
) -> PullRecord:
    """Archive one pull; `pull_id` is given only by imports, whose ids derive from the content.
    A valid pull keeps the shrink guard's thresholds it is to be judged by."""
    observed_at = observed_at.astimezone(timezone.utc)
    pull_id = pull_id or new_pull_id(observed_at)
    day = observed_at.date()
    root = archive_root(data_dir)
    raw_file = models_file = None
    sha = None
    if result.body is not None:
        sha = hashlib.sha256(result.body).hexdigest()
        raw_path = partition(data_dir, "raw", license, provider, day) / f"{pull_id}.body.gz"
        write_new(raw_path, gzip.compress(result.body, compresslevel=6, mtime=0))
        raw_file = raw_path.relative_to(root.resolve()).as_posix()
    if result.catalog is not None:
        models_path = partition(data_dir, "models", license, provider, day) / f"{pull_id}.parquet"
        write_new_parquet(models_path, models_table(pull_id, observed_at, result.catalog))
        models_file = models_path.relative_to(root.resolve()).as_posix()
    record = PullRecord(
        pull_id=pull_id,
        license=license,
        provider=provider,
        observed_at=observed_at,
        status=result.status,
        http_status=result.http_status,
        attempts=len(result.attempts),
        model_count=len(result.catalog.models) if result.catalog is not None else None,
        content_sha256=sha,
        error=result.error,
        warnings=result.warnings + (result.catalog.warnings if result.catalog is not None else ()),
        raw_file=raw_file,
        models_file=models_file,
        origin=origin,
        max_removed_share=guard.max_removed_share if result.catalog is not None else None,
        max_added_share=guard.max_added_share if result.catalog is not None else None,
        attempt_log=tuple(asdict(attempt) for attempt in result.attempts),
    )
    write_record(data_dir, record)
    return record


def archive_failure(data_dir: Path, license: str, provider: str, observed_at: datetime, status: str, error: str) -> PullRecord:
    """A pull that never reached the API (e.g. its key is missing) is logged like any other."""
    observed_at = observed_at.astimezone(timezone.utc)
    record = PullRecord(new_pull_id(observed_at), license, provider, observed_at, status, None, 0, None, None, error)
    write_record(data_dir, record)
    return record


def write_record(data_dir: Path, record: PullRecord) -> None:
    write_new(record_path(data_dir, record.license, record.provider, record.observed_at, record.pull_id), record.to_json())


def discard_uncommitted(data_dir: Path, license: str, provider: str, observed_at: datetime, pull_id: str) -> None:
    """Remove the data files of a pull whose record was never written (a crash mid-archive).

    Without a record they are not part of the archive; an import, whose pull ids derive from
    the content, would otherwise find them in the way when it archives the same pull again.
    """
    day = observed_at.astimezone(timezone.utc).date()
    partition(data_dir, "raw", license, provider, day).joinpath(f"{pull_id}.body.gz").unlink(missing_ok=True)
    partition(data_dir, "models", license, provider, day).joinpath(f"{pull_id}.parquet").unlink(missing_ok=True)


def pulls_at(data_dir: Path, license: str, provider: str, observed_at: datetime) -> list[PullRecord]:
    """The catalog's pulls at this very instant, live or imported, as their records say."""
    folder = record_path(data_dir, license, provider, observed_at, "x").parent
    records = map(read_record, folder.glob("*.json")) if folder.is_dir() else ()
    return [record for record in records if record.observed_at == observed_at]


def record_path(data_dir: Path, license: str, provider: str, observed_at: datetime, pull_id: str) -> Path:
    return partition(data_dir, "pulls", license, provider, observed_at.astimezone(timezone.utc).date()) / f"{pull_id}.json"


def models_table(pull_id: str, observed_at: datetime, catalog: Catalog) -> pa.Table:
    models = catalog.models
    count = len(models)
    return pa.Table.from_arrays(
        [
            pa.array([pull_id] * count, pa.string()),
            pa.array([observed_at] * count, pa.timestamp("us", tz="UTC")),
            pa.array([m.model_id for m in models], pa.string()),
            pa.array([m.name for m in models], pa.string()),
            pa.array([m.input_cost for m in models], pa.float64()),
            pa.array([m.output_cost for m in models], pa.float64()),
            pa.array([m.context_window for m in models], pa.int64()),
            pa.array([m.max_output_tokens for m in models], pa.int64()),
            pa.array([m.extra_json for m in models], pa.string()),
        ],
        schema=MODELS_SCHEMA,
    )


def write_new(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _publish(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_new_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        pq.write_table(table, temporary, compression="snappy")
        _publish(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _publish(temporary: Path, path: Path) -> None:
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise ArchiveError(f"{path} already exists; archive files are never overwritten") from None


def list_records(
    data_dir: Path,
    since: dict[tuple[str, str], date] | None = None,
    until: date | None = None,
    catalogs: set[tuple[str, str]] | None = None,
) -> dict[str, str]:
    """Pull record files by pull id, from folder names alone (plain strings: a rebuild lists
    thousands, and pathlib objects would cost more than reading them).

    With `since` and `until`, a known catalog's day folders are visited only in that range, by
    name, so that the cost does not grow with the length of its history; with `catalogs`, only
    those catalogs' folders are visited.
    """
    pulls_root = archive_root(data_dir) / "pulls"
    found: dict[str, str] = {}
    if not pulls_root.is_dir():
        return found
    for license_entry in os.scandir(pulls_root):
        for provider_entry in os.scandir(license_entry.path):
            key = (license_entry.name.partition("=")[2], provider_entry.name.partition("=")[2])
            if catalogs is not None and key not in catalogs:
                continue
            cutoff = (since or {}).get(key)
            if cutoff is not None and until is not None:
                names = [f"date={(cutoff + timedelta(days=n)).isoformat()}" for n in range((until - cutoff).days + 1)]
                days = [os.path.join(provider_entry.path, name) for name in names]
            else:
                floor = f"date={cutoff.isoformat()}" if cutoff is not None else ""
                days = [entry.path for entry in os.scandir(provider_entry.path) if entry.name >= floor]
            for day in days:
                try:
                    entries = list(os.scandir(day))
                except (FileNotFoundError, NotADirectoryError):
                    continue
                for entry in entries:
                    if entry.name.endswith(".json") and not entry.name.startswith("."):
                        found[entry.name[: -len(".json")]] = entry.path
    return found


def read_record(path: str | Path) -> PullRecord:
    with open(path, "rb") as handle:
        return PullRecord.from_json(handle.read(), path)


def read_records(data_dir: Path, catalogs: set[tuple[str, str]] | None = None) -> list[PullRecord]:
    """Every pull record of the archive (or of these catalogs), in load order."""
    records = [read_record(path) for path in list_records(data_dir, catalogs=catalogs).values()]
    records.sort(key=lambda record: (record.observed_at, record.pull_id))
    return records


def require_archive(data_dir: Path, work: str) -> None:
    """A folder without an archive is refused rather than taken for an empty one: a mistyped data
    directory would otherwise look like a history with nothing in it."""
    if not archive_root(data_dir).is_dir():
        raise ConfigError(f"storage.data_dir: {data_dir} holds no archive (no archive/ folder), so there is nothing to {work}")


def read_raw(data_dir: Path, record: PullRecord) -> bytes | None:
    if record.raw_file is None:
        return None
    return gzip.decompress((archive_root(data_dir) / record.raw_file).read_bytes())
