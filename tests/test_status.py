"""`qcat status` as cron or monitoring would call it: exit codes and output, without Prefect."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from flows.config import load_config
from flows.database import db_path
from flows.simulator import SimulatorServer
from tests.conftest import JsonAnswer, Watched, loopback_http, night, nightly_plain, qcat_watching_imports, write_config


def status(path: Path, *args: str) -> Watched:
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    return qcat_watching_imports("status", "--config", str(path), *args, env=env)


def test_fresh_catalogs_exit_zero(simulator: SimulatorServer, tmp_path: Path) -> None:
    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "anthropic"]})
    nightly_plain(load_config(path), datetime.now(timezone.utc))
    result = status(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("acme-prod") == 2 and "stale" not in result.stdout
    assert "PREFECT_API_URL is not set" in result.stdout
    assert "prefect" not in result.heavy_imports


def test_status_asks_the_server_a_running_qcat_serve_started(simulator: SimulatorServer, tmp_path: Path) -> None:
    """`qcat serve` leaves where its Prefect server is (tests/test_serve.py runs the real one); a
    marker whose process is gone (a serve that was killed) counts for nothing."""
    from flows.status import SERVE_MARKER, local_prefect_home

    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"]})
    config = load_config(path)
    nightly_plain(config, datetime.now(timezone.utc))
    marker = local_prefect_home(config) / SERVE_MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    marker.write_text(f'{{"api_url": "http://127.0.0.1:9/api", "pid": {gone.pid}}}')
    assert "PREFECT_API_URL is not set and no `qcat serve` is running for this data directory" in status(path).stdout
    class NoDeployments(JsonAnswer):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            self.rfile.read(int(self.headers["Content-Length"]))
            self.answer(200, b"[]")

    with loopback_http(NoDeployments) as api:
        marker.write_text(f'{{"api_url": "{api}/api", "pid": {os.getpid()}}}')
        asked = status(path)
    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert f"Next scheduled run: none (no qcat-nightly deployment on {api}/api (`qcat serve`, process {os.getpid()}))" in asked.stdout


def test_stale_and_never_pulled_catalogs_exit_one(simulator: SimulatorServer, tmp_path: Path) -> None:
    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"]})
    nightly_plain(load_config(path), night(0))
    path.write_text(path.read_text().replace('providers = ["default"]', 'providers = ["default", "openrouter"]'))
    result = status(path)
    assert result.returncode == 1
    assert "stale" in result.stdout and "never pulled" in result.stdout
    assert "2 of 2 catalogs stale or failing" in result.stderr
    assert status(path, "--stale-after", "100000d").returncode == 1, "a never-pulled catalog still fails"
    path.write_text(path.read_text().replace('providers = ["default", "openrouter"]', 'providers = ["default"]'))
    assert status(path, "--stale-after", "100000d").returncode == 0


def test_a_catalog_never_pulled_shows_dashes_not_none(simulator: SimulatorServer, tmp_path: Path) -> None:
    """What it does not have yet (a last pull, a status, a model count) is a dash in every column."""
    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"]})
    nightly_plain(load_config(path), datetime.now(timezone.utc))
    path.write_text(path.read_text().replace('providers = ["default"]', 'providers = ["default", "openrouter"]'))
    result = status(path)
    assert result.returncode == 1, result.stdout + result.stderr
    [row] = [line for line in result.stdout.splitlines() if "openrouter" in line]
    assert [cell.strip() for cell in row.split("│")[1:-1]] == ["acme-prod", "openrouter", "-", "-", "-", "-", "never pulled"], result.stdout


@pytest.mark.parametrize(
    ("fault", "problem"),
    [("unavailable", "failing (unavailable)"), ("mass_removal", "suspect pull pending")],
    ids=["failing", "shrink held back"],
)
def test_a_failing_or_held_back_catalog_exits_one(simulator: SimulatorServer, tmp_path: Path, fault: str, problem: str) -> None:
    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"]})
    config = load_config(path)
    nightly_plain(config, datetime.now(timezone.utc))
    simulator.add_fault(fault, count=None)
    nightly_plain(config, datetime.now(timezone.utc))
    result = status(path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert problem in result.stdout and "1 of 1 catalogs stale or failing" in result.stderr
    [row] = [line for line in result.stdout.splitlines() if "acme-prod" in line]
    models = row.split("│")[5].strip()
    served = len(simulator.simulator.catalog("acme-prod", "default", simulator.day))
    # the failed pull listed no models (not the last good pull's count); the suspect pull lists its own
    assert models == ("-" if fault == "unavailable" else str(int(served * 0.2))), row


def test_a_catalog_dated_in_the_future_exits_one(simulator: SimulatorServer, tmp_path: Path) -> None:
    """Its last pull is never stale by the clock, yet loads stop behind it: it needs a person."""
    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"]})
    nightly_plain(load_config(path), datetime.now(timezone.utc) + timedelta(days=3))
    result = status(path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "dated in the future" in result.stdout and "1 of 1 catalogs stale or failing" in result.stderr


def test_bad_span_is_a_usage_error(tmp_path: Path, simulator: SimulatorServer) -> None:
    path = write_config(tmp_path, simulator.base_url)
    result = status(path, "--stale-after", "soon")
    assert result.returncode == 2 and "--stale-after" in result.stderr and "Traceback" not in result.stderr


def test_a_prefect_api_that_answers_an_error_object_leaves_the_next_run_unknown(simulator: SimulatorServer, tmp_path: Path) -> None:
    """The simulator answers `/deployments/filter` with 404 and {"error": ...}, not a list. The API's
    address is shown without the credentials or query string it may carry."""
    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"]})
    nightly_plain(load_config(path), datetime.now(timezone.utc))
    api = simulator.base_url.replace("http://", "http://admin:s3cret@") + "?token=t0ken"
    result = qcat_watching_imports("status", "--config", str(path), env={**os.environ, "PREFECT_API_URL": api})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"unknown (Prefect API at {simulator.base_url} answered HTTP 404)" in result.stdout
    assert "s3cret" not in result.stdout + result.stderr and "t0ken" not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_password_protected_prefect_server_is_asked_with_its_auth_string(simulator: SimulatorServer, tmp_path: Path) -> None:
    """As Prefect's own client does: PREFECT_API_AUTH_STRING (user:password) as basic auth."""
    expected = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    seen: list[str | None] = []

    class PrefectApi(JsonAnswer):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.headers.get("Authorization"))
            allowed = self.headers.get("Authorization") == expected
            self.answer(200 if allowed else 401, b"[]" if allowed else b'{"exception_message": "Unauthorized"}')

    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"]})
    nightly_plain(load_config(path), datetime.now(timezone.utc))
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    with loopback_http(PrefectApi) as base_url:
        api = f"{base_url}/api"
        refused = qcat_watching_imports("status", "--config", str(path), env={**env, "PREFECT_API_URL": api})
        allowed = qcat_watching_imports("status", "--config", str(path), env={**env, "PREFECT_API_URL": api, "PREFECT_API_AUTH_STRING": "admin:s3cret"})
    assert f"unknown (Prefect API at {api} answered HTTP 401)" in refused.stdout, refused.stdout + refused.stderr
    assert "none (no qcat-nightly" in allowed.stdout, allowed.stdout + allowed.stderr
    assert seen == [None, expected]


def test_status_waits_for_a_load_and_says_so(simulator: SimulatorServer, tmp_path: Path) -> None:
    """A monitoring call during a load must not look hung: it says why it waits, then answers."""
    path = write_config(tmp_path, simulator.base_url)
    nightly_plain(load_config(path), datetime.now(timezone.utc))
    writer = duckdb.connect(str(db_path(load_config(path).data_dir)))
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "status", "--config", str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert "catalog.duckdb is busy (a load is writing); waiting up to 60 s" in process.stderr.readline()
        assert process.poll() is None, "still waiting while the writer holds the file"
    finally:
        writer.close()
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0 and "acme-prod" in stdout


def test_a_catalog_whose_last_response_was_invalid_exits_one(simulator: SimulatorServer, tmp_path: Path) -> None:
    """A gateway answering 200 with a body that is no catalog: the last good pull is fresh, yet the catalog fails."""
    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"]})
    config = load_config(path)
    nightly_plain(config, datetime.now(timezone.utc))
    simulator.add_fault("malformed_json", count=None)
    nightly_plain(config, datetime.now(timezone.utc))
    result = status(path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "failing (invalid)" in result.stdout and "1 of 1 catalogs stale or failing" in result.stderr
