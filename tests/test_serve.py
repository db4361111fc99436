"""`qcat serve` end to end: a real local Prefect server, the served deployment firing on a
short interval against the simulator, then a clean stop that leaves no process behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
import yaml

from flows.config import load_config
from flows.database import db_path
from flows.simulator import SimulatorServer
from tests.conftest import write_config

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def processes_with(marker: str) -> list[int]:
    """Live processes whose environment mentions `marker` (the test's own PREFECT_HOME)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def archived_pulls(data_dir: Path) -> int:
    return len(list((data_dir / "archive" / "pulls").rglob("*.json"))) if data_dir.exists() else 0


def test_serve_runs_on_schedule_and_stops_cleanly(simulator: SimulatorServer, tmp_path: Path) -> None:
    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"], "acme-research": ["anthropic"]})
    data_dir = load_config(path).data_dir
    home = tmp_path / "prefect-home"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    # the runner looks for due runs every 2 s instead of 10: the test sees its runs sooner
    env |= {"PREFECT_HOME": str(home), "COLUMNS": "200", "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    log = open(tmp_path / "serve.log", "w")
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve", "--config", str(path), "--port", str(port), "--interval", "4", "--once-now"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while archived_pulls(data_dir) < 6 and time.monotonic() < deadline and serve.poll() is None:
            time.sleep(1)
        assert archived_pulls(data_dir) >= 6, (tmp_path / "serve.log").read_text()[-3000:]
        # from another shell, where PREFECT_API_URL is not set: status finds the server serve started
        status = subprocess.run(
            [sys.executable, "-m", "flows.cli", "status", "--config", str(path)], env=env, capture_output=True, text=True, timeout=60,
        )
        assert status.returncode == 0, status.stdout + status.stderr
        assert re.search(r"Next scheduled run: \d{4}-\d\d-\d\dT", status.stdout), status.stdout
    finally:
        serve.send_signal(signal.SIGTERM)
        code = serve.wait(60)
        log.close()
    output = (tmp_path / "serve.log").read_text()
    assert code == 0, output[-3000:]
    assert "Prefect dashboard: http://127.0.0.1:" in output and "Next scheduled run:" in output
    assert "Triggered a run now" in output
    deadline = time.monotonic() + 30
    while processes_with(str(home)) and time.monotonic() < deadline:  # children may take a moment to be reaped
        time.sleep(0.2)
    assert processes_with(str(home)) == [], "the local Prefect server and the runs it served are gone"
    after = subprocess.run([sys.executable, "-m", "flows.cli", "status", "--config", str(path)], env=env, capture_output=True, text=True, timeout=60)
    assert "Next scheduled run: unknown (PREFECT_API_URL is not set and no `qcat serve` is running" in after.stdout, after.stdout
    con = duckdb.connect(str(db_path(data_dir)), read_only=True)
    try:
        runs, ok = con.execute("select count(distinct observed_at), count(*) filter (where status = 'ok') from pulls").fetchone()
        assert runs >= 2 and ok >= 4
        assert con.execute("select count(*) from catalog_events").fetchone() == (0,), "the same content every run: no events"
        duplicates = con.execute(
            "select count(*) from (select license, provider, model_id from model_versions group by all having count(*) > 1)"
        ).fetchone()
        assert duplicates == (0,), "runs with the same content never duplicate a version"
    finally:
        con.close()


def test_serve_once_now_announces_the_schedules_next_run_not_the_triggered_one(simulator: SimulatorServer, tmp_path: Path) -> None:
    # a schedule 30 minutes off the clock: its next run cannot be mistaken for the run triggered now
    minute = (datetime.now(timezone.utc) + timedelta(minutes=30)).minute
    path = write_config(tmp_path, simulator.base_url, extra=f'[schedule]\ncron = "{minute} 4 * * *"\ntimezone = "UTC"')
    home = tmp_path / "prefect-home"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    env |= {"PREFECT_HOME": str(home), "COLUMNS": "200"}
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "serve", "--config", str(path), "--port", str(free_port()), "--once-now"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while "Next scheduled run:" not in log_path.read_text() and time.monotonic() < deadline and serve.poll() is None:
                time.sleep(0.5)
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(60)
    output = log_path.read_text()
    assert "Triggered a run now" in output, output[-3000:]
    assert re.search(rf"Next scheduled run: \d{{4}}-\d\d-\d\d 04:{minute:02d}:00 UTC", output), output[-3000:]


def test_prefect_yaml_deploys_the_nightly_flow() -> None:
    document = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    [deployment] = document["deployments"]
    assert deployment["entrypoint"] == "flows/nightly.py:nightly"
    assert deployment["work_pool"]["name"] and deployment["concurrency_limit"] == 1
    assert [s["cron"] for s in deployment["schedules"]] == ["0 3 * * *"]
    import importlib

    path, _, attribute = deployment["entrypoint"].partition(":")
    assert (ROOT / path).is_file()
    flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), attribute)
    assert flow.name == "qcat-nightly"


def test_a_taken_port_stops_serve_before_it_starts_a_prefect_server(tmp_path: Path) -> None:
    from flows.errors import UsageError
    from flows.serve import LocalPrefectServer

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = LocalPrefectServer(tmp_path / "prefect", port)
        with pytest.raises(UsageError, match=rf"^--port: cannot listen on 127\.0\.0\.1:{port} \("):
            server.start()
    assert server.process is None and not (tmp_path / "prefect").exists()


def test_connections_a_stopped_server_left_behind_do_not_take_its_port() -> None:
    """A restart right after a stop (a service manager's) finds the old server's closed connections
    lingering in TIME_WAIT on its port; only a listener takes a port."""
    from flows.serve import _check_port_free

    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the Prefect server's (uvicorn's) does
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = listener.accept()
            accepted.close()  # the server's side closes first: it is the side left in TIME_WAIT
            client.recv(1)
    assert f":{port:04X} " in Path("/proc/net/tcp").read_text(), "a connection lingers on the port"
    _check_port_free(port)
