"""`qcat import`: saved responses become the same history as live pulls, whatever their order, once."""

from __future__ import annotations

import os
import json
import random
from pathlib import Path

import duckdb
import pytest

from flows.archive import read_raw, read_records
from flows.config import load_config
from flows.database import db_path
from flows.simulator import SimulatorServer
from tests.conftest import model, night, nightly_plain, qcat, write_config

NIGHTS = 12
SHRINK_NIGHT = 5  # the catalog comes back empty once: a suspect pull, dismissed the next night


def history(data_dir: Path) -> dict[str, list[tuple]]:
    """Everything but the ids, which derive from pull ids (random for live pulls)."""
    con = duckdb.connect(str(db_path(data_dir)), read_only=True)
    try:
        return {
            "model_versions": con.execute("select * exclude (valid_from_pull_id, valid_to_pull_id) from model_versions order by all").fetchall(),
            "catalog_events": con.execute("select * exclude (event_id, pull_id) from catalog_events order by all").fetchall(),
            "pulls": con.execute(
                "select observed_at, status, model_count, content_sha256, resolution, removed_count from pulls where status in ('ok', 'suspect') order by all"
            ).fetchall(),
        }
    finally:
        con.close()


def archive_files(data_dir: Path) -> list[str]:
    return sorted(path.relative_to(data_dir).as_posix() for path in (data_dir / "archive").rglob("*") if path.is_file())


@pytest.fixture
def saved(simulator: SimulatorServer, tmp_path: Path) -> tuple[Path, Path]:
    """A live history of one catalog, and its responses saved as a git-scraping job would."""
    live = tmp_path / "live"
    live.mkdir()
    config = load_config(write_config(live, simulator.base_url))
    for n in range(NIGHTS):
        simulator.day = n
        simulator.clear_faults()
        if n == SHRINK_NIGHT:
            simulator.add_fault("empty_list", count=None, license="acme-prod", provider="default")
        if n == SHRINK_NIGHT + 2:
            simulator.add_fault("unavailable", count=None, license="acme-prod", provider="default")
        nightly_plain(config, night(n))
    folder = tmp_path / "scraped"
    folder.mkdir()
    for record in read_records(config.data_dir):
        body = read_raw(config.data_dir, record)
        if body is not None and record.status == "ok":
            (folder / f"models-{record.observed_at:%Y-%m-%dT%H-%M-%SZ}.json").write_bytes(body)
    return config.data_dir, folder


def test_import_in_any_order_equals_the_live_history_and_twice_changes_nothing(saved: tuple[Path, Path], tmp_path: Path) -> None:
    live_data, folder = saved
    files = sorted(folder.iterdir())
    assert len(files) == NIGHTS - 1, "the outage night saved no response"
    home = tmp_path / "imported"
    home.mkdir()
    write_config(home, "http://127.0.0.1:9/v1")
    shuffled = random.Random(3).sample(files, len(files))
    later, earlier = [f for f in shuffled if f.name > files[6].name], [f for f in shuffled if f.name <= files[6].name]
    first = qcat(home, "import", *map(str, later), "--license", "acme-prod")
    assert first.returncode == 0, first.stderr
    second = qcat(home, "import", *map(str, earlier), "--license", "acme-prod", "--provider", "default")
    assert second.returncode == 0, second.stderr
    assert "replayed" in second.stdout, "files older than the loaded history make the catalog replay"
    assert history(home / "data") == history(live_data)

    before = (history(home / "data"), archive_files(home / "data"))
    again = qcat(home, "import", str(folder), "--license", "acme-prod")
    assert again.returncode == 0, again.stderr
    assert f"0 of {len(files)} responses archived ({len(files)} already in the archive), 0 loaded, 0 events" in again.stdout
    assert (history(home / "data"), archive_files(home / "data")) == before

    con = duckdb.connect(str(db_path(home / "data")), read_only=True)
    assert con.execute("select origin, count(*) from pulls group by 1").fetchall() == [("import", len(files))]
    assert con.execute("select status, resolution from pulls where model_count = 0").fetchall() == [("suspect", "dismissed")]
    con.close()


def test_a_folder_import_rebuilds_to_the_same_tables(saved: tuple[Path, Path], tmp_path: Path) -> None:
    _, folder = saved
    write_config(tmp_path, "http://127.0.0.1:9/v1")
    assert qcat(tmp_path, "import", str(folder), "-l", "acme-prod").returncode == 0
    imported = history(tmp_path / "data")
    rebuilt = qcat(tmp_path, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert history(tmp_path / "data") == imported


def write(path: Path, models: list[dict]) -> Path:
    path.write_text(json.dumps(models))
    return path


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("2026-03-12.json", "2026-03-12 00:00:00+00"),
        ("models-2026-03-12T03-15-00Z.json", "2026-03-12 03:15:00+00"),
        ("20260312T031500Z.json", "2026-03-12 03:15:00+00"),
        ("snapshot_2026-03-12_03:15:30.25+02:00.json", "2026-03-12 01:15:30.25+00"),
        ("models-20260312-031500.json", "2026-03-12 03:15:00+00"),
        ("2026-03-12-0315.json", "2026-03-12 03:15:00+00"),
    ],
)
def test_observation_time_from_the_file_name(tmp_path: Path, name: str, expected: str) -> None:
    write_config(tmp_path, "http://127.0.0.1:9/v1")
    file = write(tmp_path / name, [model("a")])
    result = qcat(tmp_path, "import", str(file), "-l", "acme-prod")
    assert result.returncode == 0, result.stderr
    con = duckdb.connect(str(db_path(tmp_path / "data")), read_only=True)
    assert con.execute("select observed_at::varchar from pulls").fetchall() == [(expected,)]
    con.close()


def test_observation_time_from_a_sidecar_or_the_option(tmp_path: Path) -> None:
    write_config(tmp_path, "http://127.0.0.1:9/v1")
    folder = tmp_path / "saved"
    folder.mkdir()
    write(folder / "latest.json", [model("a", 0.002)])
    (folder / "latest.meta.json").write_text(json.dumps({"observed_at": "2026-04-01T08:00:00+02:00"}))
    assert qcat(tmp_path, "import", str(folder), "-l", "acme-prod").returncode == 0
    single = write(tmp_path / "catalog.json", [model("a", 0.001)])
    result = qcat(tmp_path, "import", str(single), "-l", "acme-prod", "--observed-at", "2026-03-31T12:00", "--tz", "Europe/Paris")
    assert result.returncode == 0, result.stderr
    con = duckdb.connect(str(db_path(tmp_path / "data")), read_only=True)
    assert con.execute("select observed_at::varchar from pulls order by 1").fetchall() == [("2026-03-31 10:00:00+00",), ("2026-04-01 06:00:00+00",)]
    assert con.execute("select model_id, old_input_cost_per_micro_credit, new_input_cost_per_micro_credit from catalog_events").fetchall() == [("a", 0.001, 0.002)]
    con.close()


@pytest.mark.parametrize(
    ("files", "extra", "message"),
    [
        ({"catalog.json": [model("a")]}, (), "catalog.json: no observation time in its name"),
        ({"2026-03-12.json": [model("a")], "2026-03-13.json": [model("a")]}, ("--observed-at", "2026-03-12"), "--observed-at gives the time of one file; 2 were given"),
        ({"2026-03-12.json": [{"id": "a", "cost": {"input_cost_per_micro_credit": -1}}]}, (), "acme-prod/default:"),
        ({"2026-03-12.json": [model("a")], "2026-03-12T00-00-00Z.json": [model("b")]}, (), "differ but were both observed at 2026-03-12T00:00:00+00:00"),
        ({"2026-03-12.json": [model("a")]}, ("--provider", "Not Safe"), "--provider: 'Not Safe' is not a name"),
        ({"2026-03-12.json": [model("a")]}, ("--provider", "anthropic"), "acme-prod/anthropic is not a catalog of"),
        ({"gpt-4o-2024-05-13_2026-03-12T03-00Z.json": [model("a")]}, (), "its name holds 2 dates (2024-05-13, 2026-03-12T03-00Z)"),
        ({"2999-01-01.json": [model("a")]}, (), "observed at 2999-01-01T00:00:00+00:00, which is in the future"),
        ({"0001-01-01.json": [model("a")]}, ("--tz", "Etc/GMT-14"), "0001-01-01.json: '0001-01-01' in its name is not a valid time"),
    ],
)
def test_bad_input_is_refused_before_anything_is_archived(tmp_path: Path, files: dict[str, list], extra: tuple[str, ...], message: str) -> None:
    write_config(tmp_path, "http://127.0.0.1:9/v1")
    folder = tmp_path / "saved"
    folder.mkdir()
    for name, models in files.items():
        write(folder / name, models)
    result = qcat(tmp_path, "import", str(folder), "-l", "acme-prod", *extra)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "archive").exists()


def test_a_path_that_is_not_a_file_is_named_as_such(tmp_path: Path) -> None:
    write_config(tmp_path, "http://127.0.0.1:9/v1")
    pipe = tmp_path / "2026-03-12.json"
    os.mkfifo(pipe)
    for path, message in ((pipe, "not a regular file"), (tmp_path / "missing.json", "no such file or directory")):
        result = qcat(tmp_path, "import", str(path), "-l", "acme-prod", "--observed-at", "2026-03-12")
        assert result.returncode == 2 and f"{path}: {message}" in result.stderr, result.stderr
    # the same entries in a folder: named alike, and a pipe never blocks the read
    folder = tmp_path / "saved"
    folder.mkdir()
    write(folder / "2026-03-10.json", [model("a")])
    for entry, make, message in (
        (folder / "2026-03-11.json", lambda p: p.symlink_to(tmp_path / "gone.json"), "no such file or directory"),
        (folder / "2026-03-12.json", os.mkfifo, "not a regular file"),
        (folder / "2026-03-13.json", Path.mkdir, "not a regular file"),
    ):
        make(entry)
        result = qcat(tmp_path, "import", str(folder), "-l", "acme-prod")
        assert (result.returncode, result.stderr) == (2, f"qcat: error: {entry}: {message}" + (" (a saved response is a file, or a folder of them)" if "regular" in message else "") + "\n")
        if entry.is_dir():
            entry.rmdir()
        else:
            entry.unlink()
    unreadable = folder / "2026-03-14.json"
    unreadable.symlink_to("/proc/self/mem")  # a regular file whose read fails, even for root
    result = qcat(tmp_path, "import", str(folder), "-l", "acme-prod")
    assert (result.returncode, result.stderr) == (2, f"qcat: error: {unreadable}: cannot be read (Input/output error)\n")
    assert not (tmp_path / "data" / "archive").exists()


def test_a_response_at_the_instant_of_a_live_pull_is_that_pull_or_a_contradiction(saved: tuple[Path, Path], tmp_path: Path) -> None:
    live_data, folder = saved
    home = live_data.parent
    first = sorted(folder.iterdir())[0]
    same = qcat(home, "import", str(first), "-l", "acme-prod")
    assert same.returncode == 0, same.stderr
    assert "0 of 1 responses archived (1 already in the archive), 0 loaded" in same.stdout
    edited = tmp_path / first.name
    edited.write_text(json.dumps([model("a", 123.0)]))
    before = archive_files(live_data)
    clash = qcat(home, "import", str(edited), "-l", "acme-prod")
    assert clash.returncode == 2 and "differs from pull" in clash.stderr and "archived at the same instant 2026-03-01T03:00:00+00:00" in clash.stderr
    assert archive_files(live_data) == before


def test_an_import_that_could_not_load_loads_when_run_again(tmp_path: Path) -> None:
    path = write_config(tmp_path, "http://127.0.0.1:9/v1")
    path.write_text(path.read_text().replace("lock_timeout_seconds = 60", "lock_timeout_seconds = 1"))
    nights = [write(tmp_path / f"2025-09-0{day}.json", [model("a", float(day))]) for day in range(1, 6)]
    assert qcat(tmp_path, "import", *map(str, nights), "-l", "acme-prod").returncode == 0
    (tmp_path / "late").mkdir()
    late = write(tmp_path / "late" / "2025-09-02T12-00-00Z.json", [model("a", 99.0)])
    holder = duckdb.connect(str(db_path(tmp_path / "data")))  # a query session left open
    try:
        busy = qcat(tmp_path, "import", str(late), "-l", "acme-prod")
    finally:
        holder.close()
    assert busy.returncode == 3 and "is open in another process" in busy.stderr, busy.stderr
    assert len(read_records(tmp_path / "data")) == 6, "archived before the load failed"
    # older than the loaded history's last day: no nightly load would look that far back
    again = qcat(tmp_path, "import", str(late), "-l", "acme-prod")
    assert again.returncode == 0, again.stderr
    assert "0 of 1 responses archived (1 already in the archive), 1 loaded" in again.stdout and "replayed" in again.stdout
    con = duckdb.connect(str(db_path(tmp_path / "data")), read_only=True)
    rates = con.execute("select old_input_cost_per_micro_credit, new_input_cost_per_micro_credit from catalog_events order by observed_at").fetchall()
    con.close()
    assert rates == [(1.0, 2.0), (2.0, 99.0), (99.0, 3.0), (3.0, 4.0), (4.0, 5.0)]
    loaded = history(tmp_path / "data")
    assert "0 loaded" in qcat(tmp_path, "import", str(late), "-l", "acme-prod").stdout
    assert qcat(tmp_path, "rebuild").returncode == 0
    assert history(tmp_path / "data") == loaded


def test_an_import_held_back_by_the_shrink_guard_says_so(tmp_path: Path) -> None:
    write_config(tmp_path, "http://127.0.0.1:9/v1")
    full = write(tmp_path / "2025-09-01.json", [model("a"), model("b")])
    empty = write(tmp_path / "2025-09-02.json", [])
    result = qcat(tmp_path, "import", str(full), str(empty), "-l", "acme-prod")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == (
        "acme-prod/default: the pull observed at 2025-09-02T00:00:00+00:00 is suspect: it lacks 2 of the catalog's 2 current models: "
        "held back until the next valid pull confirms or dismisses it.\n"
    )
    confirmed = qcat(tmp_path, "import", str(write(tmp_path / "2025-09-03.json", [])), "-l", "acme-prod")
    assert (confirmed.returncode, confirmed.stderr) == (0, ""), confirmed.stderr


def test_times_without_an_offset_in_names_and_sidecars_are_read_in_tz(tmp_path: Path) -> None:
    write_config(tmp_path, "http://127.0.0.1:9/v1")
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "models-2026-03-12T03-00-00.json").write_text(json.dumps([model("a", 0.001)]))
    (folder / "latest.json").write_text(json.dumps([model("a", 0.002)]))
    (folder / "latest.meta.json").write_text(json.dumps({"observed_at": "2026-03-13T03:00:00"}))
    result = qcat(tmp_path, "import", str(folder), "-l", "acme-prod", "--tz", "Asia/Kolkata")
    assert result.returncode == 0, result.stderr
    con = duckdb.connect(str(db_path(tmp_path / "data")), read_only=True)
    try:
        assert con.execute("select observed_at::varchar from pulls order by 1").fetchall() == [("2026-03-11 21:30:00+00",), ("2026-03-12 21:30:00+00",)]
    finally:
        con.close()
