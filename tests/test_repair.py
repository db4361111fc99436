"""`qcat repair` on real archives: derived Parquet files come back as they were, originals are only reported."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.archive import archive_root, read_records
from flows.config import Config
from flows.errors import ConfigError
from flows.replay import rebuild_database
from flows.repair import check, repair_archive
from flows.simulator import SimulatorServer
from tests.conftest import night, nightly_plain, qcat, write_config
from tests.test_history import snapshot


@pytest.fixture
def archived(simulator: SimulatorServer, tmp_path: Path) -> Config:
    """Two nights of three catalogs, pulled and loaded as the nightly job does."""
    from flows.config import load_config

    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "openrouter", "anthropic"]}))
    for n in range(2):
        simulator.day = n
        nightly_plain(config, night(n))
    return config


def files(config: Config, kind: str) -> list[Path]:
    return sorted(archive_root(config.data_dir).joinpath(kind).glob("*/*/*/*"))


def test_a_sound_archive_has_nothing_to_repair(archived: Config) -> None:
    report = repair_archive(archived)
    assert (report.pulls, report.findings) == (6, ())


def test_a_folder_without_an_archive_is_refused(config: Config) -> None:
    with pytest.raises(ConfigError, match=r"holds no archive \(no archive/ folder\), so there is nothing to repair$"):
        repair_archive(config, dry_run=True)


def test_damaged_missing_and_foreign_parquet_files_are_regenerated_as_they_were(archived: Config) -> None:
    truncated, missing, foreign, linked, altered, _ = files(archived, "models")
    originals = {path: pq.read_table(path) for path in (truncated, missing, foreign, linked, altered)}
    live = snapshot(archived)
    damaged_bytes = truncated.read_bytes()[:900]
    truncated.write_bytes(damaged_bytes)
    missing.unlink()
    # the same rows under another pull's id: only the id tells them apart
    other_pull = originals[foreign].set_column(0, "pull_id", pa.array(["20260301T030000000000Z-0000beef"] * originals[foreign].num_rows))
    foreign.unlink()
    pq.write_table(other_pull, foreign)
    linked.unlink()
    linked.symlink_to(archived.data_dir / "gone.parquet")
    # one rate one ulp off, as a flipped bit leaves it: the file reads cleanly, and a rebuild would see a price change
    rates = originals[altered].column("input_cost_per_micro_credit").to_pylist()
    rates[0] = math.nextafter(rates[0], math.inf)
    altered.unlink()
    column = originals[altered].schema.get_field_index("input_cost_per_micro_credit")
    pq.write_table(originals[altered].set_column(column, "input_cost_per_micro_credit", pa.array(rates, pa.float64())), altered)

    dry = repair_archive(archived, dry_run=True)
    assert {f.file: f.problem.split(" (")[0] for f in dry.findings} == {
        truncated: "unreadable Parquet",
        missing: "missing",
        foreign: "holds rows of another pull",
        linked: "a link to nothing",
        altered: "its values differ from the raw response it was made from",
    }
    assert all(f.repairable and not f.repaired for f in dry.findings) and dry.left == dry.findings
    assert truncated.read_bytes() == damaged_bytes and not missing.exists(), "a dry run changes nothing"

    report = repair_archive(archived)
    assert all(f.repaired for f in report.findings) and report.left == ()
    for path, table in originals.items():
        assert pq.read_table(path).equals(table), path
    kept = archived.data_dir / "damaged" / truncated.relative_to(archive_root(archived.data_dir))
    assert kept.read_bytes() == damaged_bytes, "the damaged file is kept, outside the archive"
    assert check(archived.data_dir, dry_run=True).findings == ()
    rebuild_database(archived)
    assert snapshot(archived) == live


def test_originals_are_reported_and_left_alone(archived: Config) -> None:
    raw_only, both, *_ = files(archived, "raw")
    records = {record.raw_file: record for record in read_records(archived.data_dir)}
    root = archive_root(archived.data_dir)
    both_models = root / str(records[both.relative_to(root).as_posix()].models_file)
    raw_only.write_bytes(gzip.compress(gzip.decompress(raw_only.read_bytes()).replace(b"}", b" }", 1)))
    packed = bytearray(both.read_bytes())
    packed[30:60] = bytes(byte ^ 0xFF for byte in packed[30:60])  # a gzip header, then a broken deflate stream
    both.write_bytes(bytes(packed))
    both_models.write_bytes(b"not parquet")
    record, stray = files(archived, "pulls")[-2:]
    record.write_bytes(b'{"pull_id": ')
    document = json.loads(stray.read_text())
    document["models_file"] = "../../qcat.toml"  # a record pointing out of the archive is never followed
    stray.write_text(json.dumps(document))

    report = repair_archive(archived)
    problems = {f.file: (f.problem.split(" (")[0], f.action) for f in report.findings}
    assert problems == {
        raw_only: ("its content differs from the response the pull received", "cannot repair: the raw response is an original: restore it from a backup"),
        both: ("unreadable gzip", "cannot repair: the raw response is an original: restore it from a backup"),
        both_models: ("unreadable Parquet", "cannot repair: its raw response is damaged too; restore either from a backup"),
        record: ("unreadable pull record", "cannot repair: the pull record is an original: restore it from a backup"),
        stray: ("names a file outside the archive", "cannot repair: the pull record is an original: restore it from a backup"),
    }
    assert report.left == report.findings and not any(f.repairable for f in report.findings)
    assert both_models.read_bytes() == b"not parquet", "a file that cannot be regenerated stays where it is"
    assert not (archived.data_dir / "damaged").exists()


def test_an_archived_pull_no_load_will_reach_is_reported(archived: Config) -> None:
    """A run that died between archiving and loading, found only long after: nightly loads look
    back one day from each catalog's latest pull, so only a rebuild would bring it in. One archived
    within that reach is no finding: the next run loads it."""
    from flows.client import make_http_client
    from flows.pipeline import pull_one

    folder = archived.data_dir.parent
    [license] = archived.licenses
    with make_http_client(archived.api) as client:
        old = pull_one(archived, license, "default", night(-3), client)
        pull_one(archived, license, "default", night(2), client)
    record = archived.data_dir / "archive" / "pulls" / "license=acme-prod" / "provider=default" / f"date={night(-3).date().isoformat()}" / f"{old.pull_id}.json"
    dry = qcat(folder, "repair", "--dry-run")
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert dry.stdout.splitlines() == [
        f"{record.relative_to(archived.data_dir)}: archived, but catalog.duckdb never loaded this pull, and nightly loads no longer "
        "look that far back: `qcat rebuild` loads it",
        "Checked 8 archived pulls: 1 file to load with `qcat rebuild`.",
    ]
    assert qcat(folder, "rebuild").returncode == 0
    assert qcat(folder, "repair", "--dry-run").stdout == "Checked 8 archived pulls: no damage.\n"


def test_qcat_repair_mends_what_stopped_the_rebuild(archived: Config) -> None:
    folder = archived.data_dir.parent
    healthy = qcat(folder, "rates", "--format", "csv").stdout
    models_file = files(archived, "models")[0]
    models_file.write_bytes(models_file.read_bytes()[:1000])
    stopped = qcat(folder, "rebuild")
    assert stopped.returncode == 1
    assert stopped.stderr.endswith("; `qcat repair` regenerates it from the pull's raw response\n"), stopped.stderr
    assert sorted(path.name for path in archived.data_dir.glob("catalog.duckdb*")) == ["catalog.duckdb"], "the stopped rebuild left nothing half-built"

    dry = qcat(folder, "repair", "--dry-run")
    assert dry.returncode == 1, dry.stderr
    relative = models_file.relative_to(archived.data_dir)
    assert dry.stdout.splitlines() == [
        f"{relative}: unreadable Parquet (Parquet magic bytes not found in footer. Either the file is corrupted or this is not a parquet file.): would be regenerated from the raw response",
        "Checked 6 archived pulls: 1 file to regenerate (run without --dry-run).",
    ]
    mended = qcat(folder, "repair")
    assert mended.returncode == 0, mended.stderr
    assert mended.stdout.splitlines()[-1] == "Checked 6 archived pulls: 1 file regenerated."
    assert qcat(folder, "repair").stdout == "Checked 6 archived pulls: no damage.\n"
    assert qcat(folder, "rebuild").returncode == 0
    assert qcat(folder, "rates", "--format", "csv").stdout == healthy


def test_a_record_deleted_after_its_pull_loaded_is_reported(archived: Config) -> None:
    """Nothing in the archive points at a deleted record any more: only the database still knows
    the pull, and a rebuild would quietly drop it from the history."""
    folder = archived.data_dir.parent
    record = files(archived, "pulls")[2]
    pull = json.loads(record.read_text())
    record.unlink()
    for args in (("repair", "--dry-run"), ("repair",)):
        result = qcat(folder, *args)
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stdout.splitlines() == [
            f"{record.relative_to(archived.data_dir)}: missing, though catalog.duckdb loaded this pull (a rebuild now would leave it "
            "out of the history): cannot repair: the pull record is an original: restore it from a backup",
            "Checked 5 archived pulls: 1 file to restore from a backup.",
        ]
    refused = qcat(folder, "rebuild")
    assert (refused.returncode, refused.stdout) == (1, ""), refused.stderr
    assert refused.stderr == (
        f"qcat: error: {archived.data_dir / 'catalog.duckdb'}: 1 loaded pull lost its record from the archive (first: "
        f"{pull['license']}/{pull['provider']} pull {pull['pull_id']} of {pull['observed_at']}), and a rebuild would drop it from the "
        "history: restore the archive from a backup (`qcat repair --dry-run` lists what is missing), or run `qcat rebuild --drop-missing`\n"
    )
    assert len(snapshot(archived)["pulls"]) == 6, "a refused rebuild leaves the database as it was"
    dropped = qcat(folder, "rebuild", "--drop-missing")
    assert dropped.returncode == 0, dropped.stderr
    assert [row[0] for row in snapshot(archived)["pulls"]].count(pull["pull_id"]) == 0 and len(snapshot(archived)["pulls"]) == 5
    assert qcat(folder, "repair", "--dry-run").returncode == 0, "what the database loads is what the archive holds again"


def test_rows_of_another_pull_are_damage_even_when_the_raw_response_cannot_tell(archived: Config) -> None:
    """One row's pull id changed, and the raw response it was made from damaged too: with nothing
    to compare values against, the pull ids alone say the file is not this pull's."""
    raw = files(archived, "raw")[0]
    root = archive_root(archived.data_dir)
    records = {record.raw_file: record for record in read_records(archived.data_dir)}
    models = root / str(records[raw.relative_to(root).as_posix()].models_file)
    table = pq.read_table(models)
    ids = table.column("pull_id").to_pylist()
    ids[0] = "20260301T030000000000Z-0000beef"
    models.unlink()
    pq.write_table(table.set_column(0, "pull_id", pa.array(ids)), models)
    raw.write_bytes(gzip.compress(gzip.decompress(raw.read_bytes()).replace(b"}", b" }", 1)))
    report = repair_archive(archived, dry_run=True)
    problems = {f.file: f.problem.split(" (")[0] for f in report.findings}
    assert problems == {
        raw: "its content differs from the response the pull received",
        models: "holds rows of another pull",
    }
