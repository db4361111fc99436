"""Shared fixtures: a real simulator on loopback, real config files, one Prefect harness per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flows.client import make_http_client
from flows.config import Config, load_config
from flows.pipeline import CatalogSummary, load_and_summarise, pull_one
from flows.runner import prefect_defaults
from flows.simulator import DEMO_LICENSES, CatalogSimulator, SimulatorServer

prefect_defaults()

KEY_VARS = {lic.name: "QCAT_TEST_KEY_" + lic.name.upper().replace("-", "_") for lic in DEMO_LICENSES}
API_KEYS = {lic.name: lic.api_key for lic in DEMO_LICENSES}
T0 = datetime(2026, 3, 1, 3, 0, tzinfo=timezone.utc)


def model(model_id: str, inp: float = 0.001, out: float = 0.002, name: str | None = None, ctx: int | None = 128000, max_out: int | None = 8192) -> dict[str, Any]:
    return {
        "id": model_id,
        "name": name if name is not None else model_id.upper(),
        "cost": {"input_cost_per_micro_credit": inp, "output_cost_per_micro_credit": out},
        "context_window": ctx,
        "max_output_tokens": max_out,
    }


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(CatalogSimulator(max_models=40)) as server:
        yield server


@pytest.fixture(autouse=True)
def api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for license, variable in KEY_VARS.items():
        monkeypatch.setenv(variable, API_KEYS[license])


def write_config(
    folder: Path,
    base_url: str,
    licenses: dict[str, list[str]] | None = None,
    extra: str = "",
) -> Path:
    """A real qcat.toml, as a user would write it; keys come from environment variables."""
    licenses = licenses or {"acme-prod": ["default"]}
    lines = [
        "[api]",
        f'base_url = "{base_url}"',
        "timeout_seconds = 5",
        "max_attempts = 3",
        "backoff_seconds = 0.01",
        "max_backoff_seconds = 0.2",
        "[storage]",
        'data_dir = "data"',
        "lock_timeout_seconds = 60",
        extra,
    ]
    for name, providers in licenses.items():
        providers_toml = ", ".join(f'"{p}"' for p in providers)
        lines += ["[[licenses]]", f'name = "{name}"', f'api_key_env = "{KEY_VARS.get(name, "QCAT_TEST_MISSING")}"', f"providers = [{providers_toml}]"]
    path = folder / "qcat.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def config(tmp_path: Path, simulator: SimulatorServer) -> Config:
    return load_config(write_config(tmp_path, simulator.base_url))


def nightly_plain(config: Config, when: datetime) -> list[CatalogSummary]:
    """The nightly job without Prefect: the same plain functions the flow wires together."""
    with make_http_client(config.api) as client:
        records = [pull_one(config, license, provider, when, client) for license, provider in config.catalogs]
    return load_and_summarise(config, records)


def night(n: int) -> datetime:
    return T0 + timedelta(days=n)


def qcat(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`qcat ARGS` as a user runs it from `cwd`: its own process, output captured."""
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120)


def play_nights(simulator: SimulatorServer, config: Config, nights: dict[int, dict[tuple[str, str], list[dict[str, Any]]]]) -> None:
    """Serve exact catalogs night by night (a catalog keeps its last list until told otherwise)."""
    served: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for n, catalogs in sorted(nights.items()):
        served |= catalogs
        simulator.clear_faults()
        for (license, provider), models in served.items():
            simulator.add_fault("override", count=None, license=license, provider=provider, models=models)
        nightly_plain(config, night(n))


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for the whole session: starting one costs several seconds."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield


# run by qcat_watching_imports: the command's arguments come as JSON; its last line on stderr lists
# the heavy packages it imported (`duckdb` is the package's Python layer, not DuckDB's engine)
WATCH_IMPORTS = (
    "import json, sys\nfrom flows.cli import main\nsys.argv = ['qcat', *json.loads(sys.argv[1])]\n"
    "try:\n    main()\nfinally:\n    print(json.dumps(sorted({'prefect', 'pyarrow', 'duckdb'} & set(sys.modules))), file=sys.stderr)\n"
)


@dataclass(frozen=True)
class Watched:
    returncode: int
    stdout: str
    stderr: str
    heavy_imports: list[str]


def qcat_watching_imports(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Watched:
    """`qcat ARGS` in its own process, started as the entry point starts it, and which of Prefect,
    pyarrow and the duckdb package it imported: commands that only read or rebuild must not pay
    Prefect's start-up, and those that only read not even the others'."""
    done = subprocess.run(
        [sys.executable, "-c", WATCH_IMPORTS, json.dumps(args)],
        env={**(os.environ if env is None else env), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    *lines, last = done.stderr.splitlines()
    return Watched(done.returncode, done.stdout, "".join(f"{line}\n" for line in lines), json.loads(last))


class JsonAnswer(BaseHTTPRequestHandler):
    """A handler for servers the simulator does not play (another gateway, a Prefect API): it
    answers with `answer` and logs nothing."""

    def answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def loopback_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 for the length of the block; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # shutdown() waits out serve_forever's poll: 0.5 s by default, at every use
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
