"""`qcat status` as cron or monitoring would call it: exit codes and output, without Prefect."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from flows.config import load_config
from flows.simulator import SimulatorServer
from tests.conftest import Watched, night, nightly_plain, qcat_watching_imports, write_config


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


def test_failing_catalog_exits_one(simulator: SimulatorServer, tmp_path: Path) -> None:
    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"]})
    config = load_config(path)
    nightly_plain(config, datetime.now(timezone.utc))
    simulator.add_fault("unavailable", count=None)
    nightly_plain(config, datetime.now(timezone.utc))
    result = status(path)
    assert result.returncode == 1
    assert "failing (unavailable)" in result.stdout


def test_bad_span_is_a_usage_error(tmp_path: Path, simulator: SimulatorServer) -> None:
    path = write_config(tmp_path, simulator.base_url)
    result = status(path, "--stale-after", "soon")
    assert result.returncode == 2 and "--stale-after" in result.stderr and "Traceback" not in result.stderr
