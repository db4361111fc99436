"""`qcat import`: catalog responses saved before qcat existed become archived pulls.

Each file is validated like a live response, archived with `origin = "import"` (so it never
alerts), and loaded through the same code as live pulls, in time order whatever order the files
came in: a file older than the history already loaded makes its catalog replay from the archive.
A pull's id derives from its catalog, time and bytes, so importing the same files again finds
them archived and changes nothing, except to load any that an earlier import archived but could not
load (the database was busy, say): the nightly load looks only at recent days of the archive.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from pathlib import Path

from flows.archive import PullRecord, archive_pull, discard_uncommitted, pulls_at
from flows.catalog import Catalog, InvalidCatalog, parse_catalog
from flows.client import FetchResult
from flows.config import NAME_PATTERN, Config
from flows.database import db_path
from flows.errors import UsageError
from flows.history import connect, explained
from flows.lock import writer_lock
from flows.pipeline import LOADED_NOTE, load_with_alerts
from flows.sqlfiles import as_dicts, run
from flows.timespec import FUTURE_SLACK, to_utc

SIDECAR_SUFFIX = ".meta.json"
# 2026-03-12, 20260312T0300Z, 2026-03-12T03-00-00Z, 2026-03-12_03:00:00.5+02:00, 20260312-030000 ...
# (an offset needs its colon: 2026-03-12-0300 is 03:00 in --tz, not a date at UTC-3)
NAME_TIME = re.compile(
    r"(?<![\d.])(?P<date>\d{4}-\d{2}-\d{2}|\d{8})"
    r"(?:[T_ -](?P<hour>\d{2})[:-]?(?P<minute>\d{2})(?:[:-]?(?P<second>\d{2})(?:\.(?P<fraction>\d{1,6}))?)?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?(?![\d:])(?![-.]\d)"
)


@dataclass(frozen=True)
class SavedResponse:
    path: Path
    observed_at: datetime
    body: bytes


@dataclass(frozen=True)
class ImportReport:
    """`loaded`: the import's pulls that this import loaded; `held`: those the shrink guard holds back, and why."""

    files: int
    archived: int
    already_archived: int
    loaded: int
    events: int
    replayed: bool
    held: tuple[tuple[PullRecord, str], ...]


def collect(paths: list[Path], observed_at: datetime | None, zone: tzinfo) -> list[SavedResponse]:
    """The files to import, each with its observation time: --observed-at, a sidecar, or its name."""
    files = sorted({file for path in paths for file in _catalog_files(path)})
    now = datetime.now(timezone.utc)
    if not files:
        raise UsageError(f"no .json files in {', '.join(str(path) for path in paths)}")
    if observed_at is not None and len(files) != 1:
        raise UsageError(f"--observed-at gives the time of one file; {len(files)} were given (name the times in the file names or sidecars)")
    saved = [SavedResponse(file, observed_at or _observed_at(file, zone), _read(file)) for file in files]
    for response in saved:
        if response.observed_at > now + FUTURE_SLACK:
            raise UsageError(f"{response.path}: observed at {response.observed_at.isoformat()}, which is in the future")
    by_time: dict[datetime, SavedResponse] = {}
    for response in saved:
        other = by_time.setdefault(response.observed_at, response)
        if other.body != response.body:
            raise UsageError(f"{other.path} and {response.path} differ but were both observed at {response.observed_at.isoformat()}")
    return sorted(by_time.values(), key=lambda response: response.observed_at)


def import_responses(config: Config, license: str, provider: str, responses: list[SavedResponse]) -> ImportReport:
    """Validate every file first: a bad file stops the import before anything is archived."""
    for label, name in (("--license", license), ("--provider", provider)):
        if not NAME_PATTERN.fullmatch(name):
            raise UsageError(f"{label}: {name!r} is not a name of lowercase letters, digits, - and _")
    configured = sorted(f"{entry.name}/{name}" for entry, name in config.catalogs)
    if f"{license}/{provider}" not in configured:
        # the archive never forgets: a mistyped license would stay a catalog for good
        raise UsageError(f"{license}/{provider} is not a catalog of {config.source} (configured: {', '.join(configured)}); add it there first")
    for response in responses:
        _parse(license, provider, response)
    archived: list[PullRecord] = []
    records: list[PullRecord] = []
    with writer_lock(config.data_dir, config.lock_timeout_seconds):
        for response in responses:
            record = _pulled_already(config, license, provider, response)
            if record is None:
                # parsed again rather than kept: a few thousand parsed catalogs would take gigabytes
                result = FetchResult("ok", None, (), response.body, _parse(license, provider, response), None)
                pull_id = import_pull_id(license, provider, response)
                discard_uncommitted(config.data_dir, license, provider, response.observed_at, pull_id)
                record = archive_pull(
                    config.data_dir, license, provider, response.observed_at, result, config.history, pull_id, origin="import"
                )
                archived.append(record)
            records.append(record)
        with explained(config.data_dir, "nothing was loaded: the imported pulls are archived; run the same import again to load them"):
            con = connect(db_path(config.data_dir), config.lock_timeout_seconds)
            try:
                pull_ids = [record.pull_id for record in records]
                known = {row[0] for row in run(con, "pulls_known", {"pull_ids": pull_ids}).fetchall()}
                loaded = load_with_alerts(con, config, records)
                with explained(config.data_dir, LOADED_NOTE):
                    produced = run(con, "event_counts_of_pulls", {"pull_ids": list(loaded.applied)}).fetchall()
                    summary = as_dicts(run(con, "run_summary", {"pull_ids": pull_ids}))
                    held = {row["pull_id"]: row["error"] for row in summary if row["resolution"] == "pending"}
            finally:
                con.close()
    return ImportReport(
        len(responses),
        len(archived),
        len(responses) - len(archived),
        len(set(pull_ids) - known),
        sum(count for *_, count in produced),
        bool(loaded.replayed_until),
        tuple((record, held[record.pull_id]) for record in records if record.pull_id in held),
    )


def _parse(license: str, provider: str, response: SavedResponse) -> Catalog:
    try:
        return parse_catalog(response.body)
    except InvalidCatalog as exc:
        raise UsageError(f"{license}/{provider}: {response.path}: {exc}") from None


def _pulled_already(config: Config, license: str, provider: str, response: SavedResponse) -> PullRecord | None:
    """A pull of this catalog at this very instant with the same bytes (a live pull, say) is this
    response; one with other bytes is a contradiction that would fake two changes in no time."""
    same_instant = [record for record in pulls_at(config.data_dir, license, provider, response.observed_at) if record.content_sha256 is not None]
    digest = hashlib.sha256(response.body).hexdigest()
    for record in same_instant:
        if record.content_sha256 != digest:
            raise UsageError(f"{license}/{provider}: {response.path} differs from pull {record.pull_id}, archived at the same instant {response.observed_at.isoformat()}")
    return same_instant[0] if same_instant else None


def import_pull_id(license: str, provider: str, response: SavedResponse) -> str:
    """Shaped like a live pull's id (time first, so it sorts), but derived from the content."""
    digest = hashlib.sha256(f"{license}\0{provider}\0{response.observed_at.isoformat()}\0".encode() + response.body).hexdigest()
    return f"{response.observed_at:%Y%m%dT%H%M%S%fZ}-{digest[:8]}"


def _catalog_files(path: Path) -> list[Path]:
    """A folder's .json entries are checked like a path given alone: a folder named
    2026-03-12.json, a dangling link or a pipe (whose read would block) stops the import by name."""
    files = [path]
    if path.is_dir():
        files = [file for file in path.rglob("*.json") if not file.name.endswith(SIDECAR_SUFFIX) and not file.name.startswith(".")]
    for file in files:
        if not file.exists():
            raise UsageError(f"{file}: no such file or directory")
        if not file.is_file():
            raise UsageError(f"{file}: not a regular file (a saved response is a file, or a folder of them)")
    return files


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise UsageError(f"{file}: cannot be read ({exc.strerror or exc})") from None


def _observed_at(file: Path, zone: tzinfo) -> datetime:
    sidecar = file.with_name(file.name.removesuffix(".json") + SIDECAR_SUFFIX)
    if sidecar.is_file():
        try:
            return to_utc(datetime.fromisoformat(json.loads(sidecar.read_text())["observed_at"]), zone)
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{sidecar}: expected {{\"observed_at\": \"<ISO time>\"}} ({type(exc).__name__}: {exc})") from None
    matches = list(NAME_TIME.finditer(file.stem))
    if not matches:
        raise UsageError(f"{file}: no observation time in its name (2026-03-12T03-00-00Z), no sidecar {sidecar.name}, and no --observed-at")
    if len(matches) > 1:
        raise UsageError(f"{file}: its name holds {len(matches)} dates ({', '.join(m.group(0) for m in matches)}); give the time in a sidecar {sidecar.name}")
    [match] = matches
    date = match["date"].replace("-", "")
    text = f"{date[:4]}-{date[4:6]}-{date[6:]}T{match['hour'] or '00'}:{match['minute'] or '00'}:{match['second'] or '00'}"
    if match["fraction"]:
        text += "." + match["fraction"].ljust(6, "0")
    if match["zone"]:
        text += "+00:00" if match["zone"] == "Z" else match["zone"]
    try:
        return to_utc(datetime.fromisoformat(text), zone)
    except ValueError:
        raise UsageError(f"{file}: {match.group(0)!r} in its name is not a valid time") from None
