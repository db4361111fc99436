"""`qcat` as a user runs it: separate processes, exit codes, output, and secrets kept out of everything."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest

from flows.config import load_config
from flows.database import db_path
from flows.simulator import SimulatorServer
from tests.conftest import API_KEYS, qcat_watching_imports, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")


def qcat(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI in its own process against the session's Prefect API (no second server)."""
    from prefect.settings import PREFECT_API_URL

    environment = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=240
    )


def snapshot(path: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {table: con.execute(f"select * from {table} order by all").fetchall() for table in ("pulls", "model_versions", "catalog_events")}
    finally:
        con.close()


def test_run_prints_a_table_and_exits_zero(simulator: SimulatorServer, tmp_path: Path) -> None:
    write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "anthropic"]})
    result = qcat("run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "acme-prod" in result.stdout and "anthropic" in result.stdout and "ok" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_run_exits_one_when_a_catalog_fails(simulator: SimulatorServer, tmp_path: Path) -> None:
    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "anthropic"]})
    simulator.add_fault("html_200", count=None, provider="anthropic")
    result = qcat("run", "--config", str(path), cwd=tmp_path.parent)
    assert result.returncode == 1
    assert "invalid" in result.stdout and "HTML" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_a_shrink_held_back_exits_one(simulator: SimulatorServer, tmp_path: Path) -> None:
    """Cron and Prefect must see the guard hold a pull back, though every pull succeeded."""
    path = write_config(tmp_path, simulator.base_url)
    assert qcat("run", "--config", str(path), cwd=tmp_path).returncode == 0
    simulator.add_fault("mass_removal", count=None)
    held = qcat("run", "--config", str(path), cwd=tmp_path)
    assert held.returncode == 1, held.stdout + held.stderr
    assert "suspect" in held.stdout and "Traceback" not in held.stdout + held.stderr


@pytest.mark.parametrize(
    ("fault", "share", "exit_code", "status"),
    [
        ("mass_removal", "0.9", 0, "ok"),  # 80% gone: within the configured share, applied
        ("empty_list", "1.0", 1, "suspect"),  # an empty catalog is held back whatever the share
    ],
)
def test_the_shrink_guard_takes_its_share_from_qcat_toml(
    simulator: SimulatorServer, tmp_path: Path, fault: str, share: str, exit_code: int, status: str
) -> None:
    path = write_config(tmp_path, simulator.base_url, extra=f"[history]\nmax_removed_share = {share}")
    assert qcat("run", "--config", str(path), cwd=tmp_path).returncode == 0
    simulator.add_fault(fault, count=None)
    result = qcat("run", "--config", str(path), cwd=tmp_path)
    assert result.returncode == exit_code, result.stdout + result.stderr
    con = duckdb.connect(str(db_path(load_config(path).data_dir)), read_only=True)
    try:
        assert con.execute("select status from pulls order by observed_at desc limit 1").fetchone() == (status,)
    finally:
        con.close()


def test_a_rebuild_judges_each_shrink_by_the_share_it_was_archived_under(simulator: SimulatorServer, tmp_path: Path) -> None:
    """Tightening history.max_removed_share applies from the next pull on: a rebuild must not turn
    a removal applied under the old share into a suspect pull (nor the reverse)."""
    path = write_config(tmp_path, simulator.base_url, extra="[history]\nmax_removed_share = 0.9")
    assert qcat("run", "--config", str(path), cwd=tmp_path).returncode == 0
    simulator.add_fault("mass_removal", count=None)
    assert qcat("run", "--config", str(path), cwd=tmp_path).returncode == 0
    database = db_path(load_config(path).data_dir)
    live = snapshot(database)
    assert [row[4] for row in live["pulls"]].count("ok") == len(live["pulls"])
    path.write_text(path.read_text().replace("max_removed_share = 0.9", "max_removed_share = 0.5"))
    result = qcat("rebuild", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert snapshot(database) == live
    # records archived before qcat kept the shares are judged by the configuration
    for record in (tmp_path / "data" / "archive" / "pulls").glob("*/*/*/*.json"):
        document = json.loads(record.read_text())
        record.write_text(json.dumps({key: value for key, value in document.items() if not key.startswith("max_")}))
    assert qcat("rebuild", "--config", str(path), cwd=tmp_path).returncode == 0
    assert [row[4] for row in snapshot(database)["pulls"]].count("suspect") == 1, "the shrink is judged by the stricter 0.5 now"


def test_an_error_quoting_the_api_is_printed_as_sent(simulator: SimulatorServer, tmp_path: Path) -> None:
    """Error texts quote what the API sent (a model id here), which must never be read as markup."""
    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"]})
    model = {"id": "x[/]y", "name": "X", "cost": {"input_cost_per_micro_credit": -1, "output_cost_per_micro_credit": 1},
             "context_window": None, "max_output_tokens": None}
    simulator.add_fault("override", count=None, provider="default", models=[model])
    result = qcat("run", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "invalid" in result.stdout and "'x[/]y'" in result.stdout, result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_a_data_dir_that_cannot_be_made_stops_a_run_before_it_pulls(simulator: SimulatorServer, tmp_path: Path) -> None:
    path = write_config(tmp_path, simulator.base_url)
    path.write_text(path.read_text().replace('data_dir = "data"', 'data_dir = "qcat.toml/data"'))
    result = qcat("run", "--config", str(path), cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr == f"qcat: error: storage.data_dir: cannot create {tmp_path.resolve() / 'qcat.toml' / 'data'}: Not a directory\n"
    assert simulator.requests == [], "nothing was pulled"


def test_a_data_dir_that_refuses_files_stops_a_run_before_it_pulls(simulator: SimulatorServer, tmp_path: Path) -> None:
    """/proc exists and is a folder, but nobody, root included, can create a file in it: as a
    read-only mount, it is found before the pulls rather than as every catalog's failure."""
    path = write_config(tmp_path, simulator.base_url)
    path.write_text(path.read_text().replace('data_dir = "data"', 'data_dir = "/proc"'))
    result = qcat("run", "--config", str(path), cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.startswith("qcat: error: storage.data_dir: cannot write in /proc: ") and len(result.stderr.splitlines()) == 1
    assert simulator.requests == [], "nothing was pulled"


def test_a_damaged_database_says_so_and_a_rebuild_mends_it(simulator: SimulatorServer, tmp_path: Path) -> None:
    from tests.conftest import night, nightly_plain

    path = write_config(tmp_path, simulator.base_url)
    nightly_plain(load_config(path), night(0))
    database = db_path(load_config(path).data_dir)
    healthy = qcat("rates", "--format", "csv", cwd=tmp_path)
    with database.open("r+b") as file:  # a block of the tables overwritten, as a bad disk sector would
        file.seek(12288)
        file.write(b"\xaa" * 4096)
    for command in (("rates",), ("status",)):
        damaged = qcat(*command, cwd=tmp_path)
        assert damaged.returncode == 1, damaged.stdout + damaged.stderr
        assert damaged.stderr.startswith(f"qcat: error: {database} is damaged (Corrupt database file: "), damaged.stderr
        assert damaged.stderr.rstrip().endswith("derive it again from the archive with `qcat rebuild`") and len(damaged.stderr.splitlines()) == 1
    assert qcat("rebuild", cwd=tmp_path).returncode == 0
    assert qcat("rates", "--format", "csv", cwd=tmp_path).stdout == healthy.stdout
    with database.open("r+b") as file:  # a copy that stopped short
        file.truncate(20000)
    cut = qcat("rates", cwd=tmp_path)
    assert cut.returncode == 1 and cut.stderr.startswith(f"qcat: error: {database} is damaged (IO Error: Could not read enough bytes"), cut.stderr
    assert cut.stderr.rstrip().endswith("derive it again from the archive with `qcat rebuild`") and len(cut.stderr.splitlines()) == 1
    assert qcat("rebuild", cwd=tmp_path).returncode == 0
    assert qcat("rates", "--format", "csv", cwd=tmp_path).stdout == healthy.stdout


def test_an_unreadable_archived_file_is_named_and_the_database_left_as_it_was(simulator: SimulatorServer, tmp_path: Path) -> None:
    from tests.conftest import night, nightly_plain

    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "anthropic"]})
    nightly_plain(load_config(path), night(0))
    healthy = qcat("rates", "--format", "csv", cwd=tmp_path).stdout
    [models_file] = (tmp_path / "data" / "archive" / "models").glob("license=acme-prod/provider=anthropic/*/*.parquet")
    content = models_file.read_bytes()
    models_file.write_bytes(content[:1000])
    result = qcat("rebuild", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith(f"qcat: error: acme-prod/anthropic: cannot read the archived file {models_file} (") and len(result.stderr.splitlines()) == 1
    assert qcat("rates", "--format", "csv", cwd=tmp_path).stdout == healthy, "a failed rebuild leaves the database as it was"
    models_file.write_bytes(content)
    [record] = (tmp_path / "data" / "archive" / "pulls").glob("license=acme-prod/provider=anthropic/*/*.json")
    saved = record.read_bytes()
    record.unlink()
    record.mkdir()  # a pull record that cannot be read as a file
    result = qcat("rebuild", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == f"qcat: error: acme-prod/anthropic: cannot read the archived file {record} (Is a directory); restore it from a backup, or move that pull's files out of the archive\n"
    record.rmdir()
    record.write_bytes(saved)
    assert qcat("rebuild", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ({"observed_at": "2026-03-01T03:00:00"}, "observed_at 2026-03-01T03:00:00 has no UTC offset"),
        ({"status": "weird"}, "status 'weird' is not one of auth_error, invalid, ok, unavailable"),
        ({"license": "other"}, "it is pull license=other/provider=anthropic/date=2026-03-01/"),
        ({"observed_at": "2026-03-02T03:00:00+00:00"}, "/date=2026-03-02/"),
        ({"max_removed_share": 2}, "max_removed_share 2 is not a number from 0 to 1"),
        ({"max_removed_share": "half"}, "max_removed_share 'half' is not a number from 0 to 1"),
        ({"max_added_share": -1}, "max_added_share -1 is not a finite number of 0 or more"),
    ],
)
def test_a_hand_edited_pull_record_that_contradicts_itself_stops_a_rebuild_by_name(
    simulator: SimulatorServer, tmp_path: Path, edit: dict[str, str], problem: str
) -> None:
    from tests.conftest import night, nightly_plain

    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "anthropic"]})
    nightly_plain(load_config(path), night(0))
    [record] = (tmp_path / "data" / "archive" / "pulls").glob("license=acme-prod/provider=anthropic/*/*.json")
    record.write_text(json.dumps(json.loads(record.read_text()) | edit))
    result = qcat("rebuild", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith(f"qcat: error: pull record {record} is unreadable: ") and problem in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_rebuild_refuses_a_folder_without_an_archive(simulator: SimulatorServer, tmp_path: Path) -> None:
    write_config(tmp_path, simulator.base_url)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "catalog.duckdb").write_bytes(b"kept as it is")
    result = qcat("rebuild", cwd=tmp_path)
    assert result.returncode == 2 and "holds no archive" in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    assert (tmp_path / "data" / "catalog.duckdb").read_bytes() == b"kept as it is"


def test_a_port_in_use_is_a_usage_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = qcat("simulate", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"qcat: error: --port: cannot listen on 127.0.0.1:{port}") and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[api]\nbase_url = "ftp://x"\n[[licenses]]\nname = "a"\napi_key_env = "K"\n', "api.base_url"),
        ('[[licenses]]\nname = "../escape"\napi_key_env = "K"\n', "licenses[0].name"),
        ("[[licenses]\n", "not valid TOML"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_two(tmp_path: Path, toml: str, expected: str) -> None:
    (tmp_path / "qcat.toml").write_text(toml)
    result = qcat("run", cwd=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_two_concurrent_runs_serialise_their_loads(simulator: SimulatorServer, tmp_path: Path) -> None:
    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "openrouter"], "acme-research": ["default"]})
    simulator.day = 2
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: qcat("run", "--config", str(path), cwd=tmp_path), range(2)))
    assert [r.returncode for r in results] == [0, 0], [r.stderr[-2000:] for r in results]
    database = db_path(load_config(path).data_dir)
    con = duckdb.connect(str(database), read_only=True)
    try:
        assert con.execute("select count(*), count(distinct pull_id) from pulls").fetchone() == (6, 6)
        duplicates = con.execute(
            "select count(*) from (select license, provider, model_id from model_versions where is_current group by all having count(*) > 1)"
        ).fetchone()
        assert duplicates == (0,)
        assert con.execute("select count(*) from catalog_events").fetchone() == (0,)
    finally:
        con.close()
    live = snapshot(database)
    rebuilt = qcat("rebuild", "--config", str(path), cwd=tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "6 archived pulls" in rebuilt.stdout
    assert snapshot(database) == live


def test_api_keys_never_leave_the_process(simulator: SimulatorServer, tmp_path: Path) -> None:
    """Keys (good and rejected ones) appear in no file under the data directory, no output, no log."""
    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "openrouter"], "acme-research": ["default"]})
    rejected = "sk-rejected-4f9a1c0e7b"
    outputs = []
    for day, env in ((0, {}), (1, {"QCAT_TEST_KEY_ACME_RESEARCH": rejected})):
        simulator.day = day
        if day == 1:
            simulator.add_fault("echo_key", count=None, license="acme-prod", provider="default")
            simulator.add_fault("malformed_json", count=1, license="acme-prod", provider="openrouter")
        result = qcat("run", "--config", str(path), cwd=tmp_path, env=env)
        outputs.append(result.stdout + result.stderr)
    assert "auth_error" in outputs[1]
    secrets = [API_KEYS["acme-prod"], API_KEYS["acme-research"], rejected]
    data_dir = load_config(path).data_dir
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files) and any(p.name.endswith(".gz") for p in files)
    echoed = []
    for file in files:
        content = file.read_bytes()
        if file.name.endswith(".gz"):
            content += gzip.decompress(content)
            echoed += [file.name] if b'"received": "Bearer ***"' in content else []
        for secret in secrets:
            assert secret.encode() not in content, f"{secret} found in {file}"
    assert len(echoed) == 1, "the gateway quoted the key back in its 401: archived with the key replaced"
    for output in outputs:
        for secret in secrets:
            assert secret not in output
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    prefect_db = Path(str(PREFECT_SERVER_DATABASE_CONNECTION_URL.value()).split(":///", 1)[1])
    logged = b"".join(p.read_bytes() for p in prefect_db.parent.glob(prefect_db.name + "*"))
    assert b"acme-research/default" in logged, "the Prefect database holds the runs' logs"
    for secret in secrets:
        assert secret.encode() not in logged


def test_rebuild_does_not_import_prefect(simulator: SimulatorServer, tmp_path: Path) -> None:
    path = write_config(tmp_path, simulator.base_url)
    assert qcat("run", "--config", str(path), cwd=tmp_path).returncode == 0
    result = qcat_watching_imports("rebuild", "--config", str(path))
    assert "Rebuilt" in result.stdout
    assert "prefect" not in result.heavy_imports


def test_demo_runs_simulated_nights(tmp_path: Path) -> None:
    demo = tmp_path / "my demo"
    result = qcat("demo", "--days", "3", "--data-dir", str(demo), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "What changed, per catalog" in result.stdout
    assert f"qcat rebuild --config '{demo / 'qcat.toml'}'" in result.stdout, "the hints paste into a shell as they are"
    con = duckdb.connect(str(demo / "catalog.duckdb"), read_only=True)
    try:
        assert con.execute("select count(distinct observed_at), count(*) from pulls").fetchone() == (3, 18)
        assert con.execute("select count(*) from catalog_events").fetchone()[0] > 0
        deliveries = con.execute("select state, count(*) from alert_deliveries group by all").fetchall()
    finally:
        con.close()
    lines = (demo / "alerts.jsonl").read_text().splitlines()
    assert deliveries == [("sent", len(lines))] and lines, "the demo's alerts went to its JSONL channel"
    fresh = qcat("status", "--config", str(demo / "qcat.toml"), cwd=tmp_path)
    assert fresh.returncode == 0, "its last night is the latest 03:00 UTC so far: every catalog fresh\n" + fresh.stdout + fresh.stderr
    (demo / "leftover.txt").write_text("from the first demo")
    # as the README's first command runs it: the venv's script, the venv not on PATH
    script = Path(sys.executable).parent / "qcat"
    path = os.pathsep.join(part for part in os.environ["PATH"].split(os.pathsep) if Path(part).resolve() != script.parent.resolve())
    # and in a narrow terminal: the hints must not break across lines
    again = subprocess.run([str(script), "demo", "--days", "2", "--data-dir", str(demo)], cwd=tmp_path, env={**os.environ, "PATH": path, "COLUMNS": "60"},
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{script} rebuild --config '{demo / 'qcat.toml'}'" in again.stdout, "hints name the script the shell cannot find by name alone"
    assert not (demo / "leftover.txt").exists(), "a folder the demo made is replaced, not added to"
    con = duckdb.connect(str(demo / "catalog.duckdb"), read_only=True)
    try:
        assert con.execute("select count(distinct observed_at) from pulls").fetchone() == (2,), "only the new demo's nights"
    finally:
        con.close()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("keep me")
    refused = qcat("demo", "--days", "2", "--data-dir", str(tmp_path / "mine"), cwd=tmp_path)
    assert refused.returncode == 2 and "not made by qcat demo" in refused.stderr
    assert (tmp_path / "mine" / "precious.txt").exists()


def test_a_busy_data_directory_exits_three_without_a_traceback(simulator: SimulatorServer, tmp_path: Path) -> None:
    from flows.lock import writer_lock

    path = write_config(tmp_path, simulator.base_url)
    path.write_text(path.read_text().replace("lock_timeout_seconds = 60", "lock_timeout_seconds = 1"))
    data_dir = load_config(path).data_dir
    with writer_lock(data_dir, 1):
        held = qcat("run", "--config", str(path), cwd=tmp_path)
    assert held.returncode == 3
    assert "another qcat writer" in held.stderr and "Traceback" not in held.stdout + held.stderr
    assert held.stderr.strip().endswith("; this run's pulls are archived and load with the next run"), held.stderr
    assert qcat("run", "--config", str(path), cwd=tmp_path).returncode == 0
    reader = duckdb.connect(str(db_path(data_dir)), read_only=True)
    try:
        busy = qcat("run", "--config", str(path), cwd=tmp_path)
    finally:
        reader.close()
    assert busy.returncode == 3
    assert "open in another process" in busy.stderr and "Traceback" not in busy.stdout + busy.stderr
    con = duckdb.connect(str(db_path(data_dir)), read_only=True)
    try:
        assert con.execute("select count(*) from pulls").fetchone() == (2,), "the held run's pull loaded with the next run"
    finally:
        con.close()
    assert len(list((data_dir / "archive" / "pulls").rglob("*.json"))) == 3, "the busy run's pull is archived, to load later"
    live = db_path(data_dir).stat().st_ino
    writer = duckdb.connect(str(db_path(data_dir)))
    try:
        swapped = qcat("rebuild", "--config", str(path), cwd=tmp_path)
    finally:
        writer.close()
    assert swapped.returncode == 3 and "open in another process" in swapped.stderr, swapped.stderr
    assert db_path(data_dir).stat().st_ino == live, "a session writing to the file keeps it: the rebuild waits for it, then gives up"
    assert not list(data_dir.glob("*.rebuild*")), "nothing half-built is left beside the live file"
    assert qcat("rebuild", "--config", str(path), cwd=tmp_path).returncode == 0
    assert db_path(data_dir).stat().st_ino != live


def test_a_prefect_api_url_where_no_prefect_answers_is_one_line_before_any_pull(simulator: SimulatorServer, tmp_path: Path) -> None:
    """Prefect itself would retry for over a minute, then fail with a connection error (exit 70)."""
    from tests.alert_support import down_url

    path = write_config(tmp_path, simulator.base_url)
    nothing = down_url().replace("/hooks/down-secret-token", "/api")
    not_prefect = simulator.base_url.removesuffix("/v1") + "/api"
    for api, problem in (
        (nothing, "no Prefect API answers there (ConnectError)"),
        (not_prefect, "its /health is not found (HTTP 404): no Prefect API at that address (a Prefect server's ends in /api)"),
        ("http://[::1", "no Prefect API answers there (InvalidURL)"),
    ):
        shown = api if api != "http://[::1" else "(a URL that does not parse)"
        for command in ("run", "serve"):
            refused = qcat(command, "--config", str(path), cwd=tmp_path, env={"PREFECT_API_URL": api})
            assert refused.returncode == 2, refused.stderr
            assert refused.stderr == f"qcat: error: PREFECT_API_URL {shown}: {problem}; start that Prefect server, or unset PREFECT_API_URL to run with a temporary one\n"
            assert "Serving" not in refused.stdout
    assert simulator.requests == [], "nothing was pulled"


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigkill"])
def test_an_interrupted_qcat_run_exits_130(simulator: SimulatorServer, tmp_path: Path, how: str) -> None:
    """A terminal's Ctrl-C reaches the whole foreground process group. Prefect's temporary API server
    (no PREFECT_API_URL here) must not be in it: killed with qcat, it left Prefect retrying to record
    the interrupted run for minutes, then an internal error (exit 70). SIGTERM to qcat alone ends it
    the same way (Python would die on the spot, leaving that server running). Killed outright, qcat
    cannot stop that server: it stops itself once qcat is gone, and with it the output it holds."""
    import signal
    import time

    path = write_config(tmp_path, simulator.base_url)
    simulator.add_fault("latency", count=None, seconds=3)
    environment = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    run = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", "--config", str(path)],
        cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        while simulator.in_flight == 0 and run.poll() is None:
            time.sleep(0.05)
        assert run.poll() is None, "qcat run ended before its pull was in flight: " + run.communicate()[1]
        if how == "ctrl-c":
            os.killpg(run.pid, signal.SIGINT)  # as the terminal sends it: to qcat and its process group
        elif how == "sigterm":
            run.send_signal(signal.SIGTERM)
        else:
            os.killpg(run.pid, signal.SIGKILL)
        # the output ends when every process holding it has: Prefect's server too
        _, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    if how == "sigkill":
        assert run.returncode == -signal.SIGKILL, "the temporary server, out of qcat's group, stopped itself once qcat was gone"
        return
    assert run.returncode == 130, err
    assert "\nqcat: interrupted\n" in err and "internal error" not in err, err


def test_a_signal_ignored_on_purpose_stays_ignored() -> None:
    """`nohup qcat run` ignores SIGHUP, so that closing the terminal does not stop it: qcat's own
    handlers replace only a signal's default action."""
    code = (
        "import signal\nfrom flows.runner import interrupt_on_termination\n"
        "signal.signal(signal.SIGHUP, signal.SIG_IGN)\ninterrupt_on_termination()\n"
        "print(signal.getsignal(signal.SIGHUP) is signal.SIG_IGN, signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["True", "True"], done.stderr


INTERRUPTED_QUERY = """
import os, signal, sys, threading, time
import _duckdb as duckdb
import typer
from flows.cli import _guard

con = duckdb.connect(config={"threads": 1})
con.execute("set enable_progress_bar = true")
con.execute("set enable_progress_bar_print = false")

def ctrl_c_once_it_runs() -> None:
    while con.query_progress() < 0:
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=ctrl_c_once_it_runs, daemon=True).start()
try:
    _guard(lambda: con.execute("select count(*) from range(1000000000000) t(i) where i % 7 = 3").fetchall())
except typer.Exit as exc:
    sys.exit(exc.exit_code)
"""


def test_ctrl_c_during_a_query_is_an_interruption() -> None:
    """DuckDB stops the query and reports its own RuntimeError in place of the KeyboardInterrupt: at
    the edge it is still Ctrl-C (exit 130), not an internal error. The signal is sent once DuckDB
    reports progress, so it lands inside the query, which runs on one thread: there DuckDB looks for
    Ctrl-C between its chunks of work (on two it may not notice it before the query ends)."""
    done = subprocess.run([sys.executable, "-c", INTERRUPTED_QUERY], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (130, "qcat: interrupted\n")


def test_every_command_starts_from_its_own_name() -> None:
    """`qcat NAME` builds only that command's parser (a faster start): each must still answer."""
    from typer.testing import CliRunner

    from flows.cli import _app_for, app

    runner = CliRunner()
    names = [info.name for info in app.registered_commands] + [info.name for info in app.registered_groups]
    listing = runner.invoke(_app_for("--help"), ["--help"])
    assert listing.exit_code == 0 and all(name in listing.output for name in names), listing.output
    for name in names:
        shown = runner.invoke(_app_for(name), [name, "--help"])
        assert shown.exit_code == 0 and f" {name} [OPTIONS]" in shown.output, (name, shown.output)
    typo = runner.invoke(_app_for("histroy"), ["histroy"])
    assert typo.exit_code == 2 and "No such command 'histroy'" in typo.output


@pytest.mark.parametrize(
    ("failure", "code", "line"),
    [
        (KeyError("rates"), 70, "qcat: internal error: KeyError: 'rates' (set QCAT_DEBUG=1 for a traceback)"),
        (KeyboardInterrupt(), 130, "qcat: interrupted"),
    ],
)
def test_the_edge_turns_what_is_not_qcats_own_error_into_one_line_and_a_code(
    failure: BaseException, code: int, line: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer

    from flows.cli import _guard

    def fail() -> None:
        raise failure

    monkeypatch.delenv("QCAT_DEBUG", raising=False)
    with pytest.raises(typer.Exit) as stopped:
        _guard(fail)
    assert stopped.value.exit_code == code and capsys.readouterr().err == line + "\n"
    if code == 70:
        monkeypatch.setenv("QCAT_DEBUG", "1")
        with pytest.raises(KeyError):
            _guard(fail)


def test_help_shows_toml_table_names_whole() -> None:
    """Typer reads help text as rich markup, where `[name]` is a style tag and vanishes."""
    from typer.testing import CliRunner

    from flows.cli import _app_for

    shown = CliRunner().invoke(_app_for("alerts"), ["alerts", "test", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "Name of an [[alerts.channels]] entry." in shown.output, shown.output


def test_run_exits_one_when_a_catalog_crashes(simulator: SimulatorServer, tmp_path: Path) -> None:
    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "openrouter"]})
    blocked = load_config(path).data_dir / "archive" / "raw" / "license=acme-prod" / "provider=openrouter"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the catalog's folder goes")
    result = qcat("run", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "NotADirectoryError" in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_a_held_lock_names_the_pid_that_holds_it(tmp_path: Path) -> None:
    """The message tells a person which process to look at: never a pid a writer long gone left behind."""
    from flows.errors import LockTimeout
    from flows.lock import LOCK_NAME, writer_lock

    (tmp_path / LOCK_NAME).write_text("99999999")
    with writer_lock(tmp_path, 1):
        with pytest.raises(LockTimeout) as caught, writer_lock(tmp_path, 0):
            pass
    assert f"another qcat writer (pid {os.getpid()}) has held {tmp_path}" in str(caught.value)


def test_a_held_lock_is_waited_for_as_long_as_configured(tmp_path: Path) -> None:
    import time

    from flows.errors import LockTimeout
    from flows.lock import writer_lock

    with writer_lock(tmp_path, 1):
        started = time.monotonic()
        with pytest.raises(LockTimeout), writer_lock(tmp_path, 1.0):
            pass
        waited = time.monotonic() - started
    # at least the timeout, and not twice it (a generous bound: the wait polls)
    assert 1.0 <= waited < 1.9, waited


def test_the_edge_turns_an_os_error_into_exit_one(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk or a permission is the machine's doing, not a bug: exit 1 as documented, not 70."""
    import errno

    import typer

    from flows.cli import _guard

    def fail() -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.delenv("QCAT_DEBUG", raising=False)
    with pytest.raises(typer.Exit) as stopped:
        _guard(fail)
    assert stopped.value.exit_code == 1 and capsys.readouterr().err == f"qcat: error: [Errno {errno.ENOSPC}] {os.strerror(errno.ENOSPC)}\n"
