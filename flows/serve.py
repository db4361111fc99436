"""`qcat serve`: the nightly flow on its schedule, on one machine, until stopped.

Prefect cannot schedule against its temporary API server, so without PREFECT_API_URL this
starts a real local Prefect server on loopback (its state under the data directory unless
PREFECT_HOME says otherwise), serves the deployment against it, and stops it on the way out.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import httpx
from rich.console import Console

from flows.config import Config
from flows.errors import QcatError, port_unavailable
from flows.prefect_api import require_reachable
from flows.runner import interrupt_on_termination, prefect_defaults
from flows.secrets import printable_url
from flows.status import SERVE_MARKER, local_prefect_home

FLOW_NAME = "qcat-nightly"
DEPLOYMENT = f"{FLOW_NAME}/{FLOW_NAME}"
HEALTH_TIMEOUT_SECONDS = 90.0


def _check_port_free(port: int) -> None:
    """A port already taken is the user's to change: say so before the server fails on it. Only a
    listener takes it: connections the last server closed linger for a minute (TIME_WAIT), and the
    server, binding with SO_REUSEADDR as servers do, starts despite them; so must a restart."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise port_unavailable("127.0.0.1", port, exc) from None


class LocalPrefectServer:
    """`prefect server start` as a child process that lives exactly as long as `qcat serve`."""

    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def start(self) -> None:
        _check_port_free(self.port)
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PREFECT_HOME": str(self.home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env.pop("PREFECT_API_URL", None)
        log = open(self.home / "server.log", "ab")
        command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise QcatError(f"the local Prefect server exited at start; see {self.home / 'server.log'}")
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    self._leave_marker()
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        self.stop()
        raise QcatError(f"the local Prefect server did not become healthy in {HEALTH_TIMEOUT_SECONDS:.0f} s; see {self.home / 'server.log'}")

    def _leave_marker(self) -> None:
        """Tell `qcat status` in other shells where this server is (status.served_api)."""
        marker = self.home / SERVE_MARKER
        temporary = marker.with_name(f".{marker.name}.{os.getpid()}")
        temporary.write_text(json.dumps({"api_url": self.api_url, "pid": os.getpid()}), encoding="utf-8")
        temporary.replace(marker)

    def stop(self) -> None:
        """SIGTERM to the whole process group (the server has workers), then SIGKILL if it lingers."""
        (self.home / SERVE_MARKER).unlink(missing_ok=True)
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def serve(config: Config, port: int, once_now: bool, interval_seconds: float | None, console: Console) -> None:
    prefect_defaults()
    server: LocalPrefectServer | None = None
    require_reachable()
    if not os.environ.get("PREFECT_API_URL"):
        home = local_prefect_home(config)
        server = LocalPrefectServer(home, port)
        console.print(f"Starting a local Prefect server on {server.url} (state in {home})...", soft_wrap=True)
        server.start()
        os.environ["PREFECT_API_URL"] = server.api_url
    # SIGTERM only: a service manager's SIGHUP (often "reload") keeps its default, and `nohup` its ignore
    interrupt_on_termination((signal.SIGTERM,))
    try:
        _serve_deployment(config, once_now, interval_seconds, console)
    except KeyboardInterrupt:
        console.print("Stopping.")
    finally:
        if server is not None:
            server.stop()


def _serve_deployment(config: Config, once_now: bool, interval_seconds: float | None, console: Console) -> None:
    from prefect.schedules import Cron, Interval

    from flows.nightly import nightly

    if interval_seconds is not None:
        schedule = Interval(timedelta(seconds=interval_seconds))
        when = f"every {interval_seconds:g} s"
    else:
        schedule = Cron(config.schedule.cron, timezone=config.schedule.timezone)
        when = f"cron '{config.schedule.cron}' ({config.schedule.timezone})"
    dashboard = printable_url(os.environ["PREFECT_API_URL"]).removesuffix("/api")
    console.print(f"Serving {DEPLOYMENT} {when}; Prefect dashboard: {dashboard}. Ctrl-C stops.", soft_wrap=True)
    threading.Thread(target=_announce, args=(once_now, console), daemon=True).start()
    nightly.serve(
        name=FLOW_NAME,
        schedules=[schedule],
        parameters={"config_path": str(config.source.resolve()) if config.source else None},
        limit=1,
        global_limit=1,
        print_starting_message=False,
    )


def _announce(once_now: bool, console: Console) -> None:
    """Once the deployment exists: trigger the immediate run if asked, and say when the next is due."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.deployments import run_deployment

    with get_client(sync_client=True) as client:
        deployment = None
        for _ in range(120):
            try:
                deployment = client.read_deployment_by_name(DEPLOYMENT)
                break
            except Exception:  # noqa: BLE001 - not registered yet
                time.sleep(0.5)
        if deployment is None:
            return
        triggered: list[UUID] = []
        if once_now:
            run = run_deployment(DEPLOYMENT, timeout=0)
            triggered.append(run.id)
            console.print(f"Triggered a run now: {run.name}")
        for _ in range(60):
            # the run just triggered is Scheduled too until a worker takes it: the next run is the schedule's
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                flow_run_filter=FlowRunFilter(
                    id=FlowRunFilterId(not_any_=triggered) if triggered else None,
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                limit=1,
            )
            if runs:
                console.print(f"Next scheduled run: {runs[0].expected_start_time:%Y-%m-%d %H:%M:%S %Z}")
                return
            time.sleep(1)
