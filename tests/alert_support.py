"""Alert test support: real HTTP receivers on 127.0.0.1 (recording, failing first, slow, down) and config snippets."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import duckdb

from flows.config import Config
from flows.database import db_path
from flows.simulator import SimulatorServer
from tests.conftest import model


class Receiver:
    """Accepts POSTs and records their JSON bodies; answers `status` to the first `fail_first` requests."""

    def __init__(self, fail_first: int = 0, status: int = 503, delay_seconds: float = 0.0) -> None:
        self.fail_first = fail_first
        self.status = status
        self.delay_seconds = delay_seconds
        self.requests = 0
        self.bodies: list[Any] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests += 1
                    failing = receiver.requests <= receiver.fail_first
                    if not failing:
                        receiver.bodies.append(json.loads(body))
                if receiver.delay_seconds:
                    time.sleep(receiver.delay_seconds)
                self.send_response(receiver.status if failing else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # shutdown() waits out serve_forever's poll (0.5 s by default)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000/secret-token-{id(self)}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()


def down_url() -> str:
    """A URL on a port nothing listens on: connection refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/down-secret-token"


HOOK_ENV = "QCAT_TEST_ALERT_HOOK"
SLACK_ENV = "QCAT_TEST_ALERT_SLACK"
FAST = "backoff_seconds = 0.01\ntimeout_seconds = 2\n"


def channel(name: str, kind: str = "webhook", **keys: str | int) -> str:
    """One [[alerts.channels]] table; a webhook or slack channel reads its URL from HOOK_ENV unless told."""
    if kind in ("webhook", "slack") and "url_env" not in keys and "url_secret" not in keys:
        keys["url_env"] = HOOK_ENV
    lines = ["[[alerts.channels]]", f'name = "{name}"', f'type = "{kind}"']
    lines += [f"{key} = {value}" if isinstance(value, int) else f'{key} = "{value}"' for key, value in keys.items()]
    return "\n".join(lines) + "\n"


def alerts_toml(settings: str = "", *tables: str) -> str:
    """An [alerts] table (fast retries for tests) followed by channel and rule tables."""
    return "[alerts]\n" + FAST + settings + "\n" + "".join(tables)


BASE = [model("m-a"), model("m-b"), model("m-c")]


def serve(simulator: SimulatorServer, catalogs: dict[str, list[dict]], provider: str = "default") -> None:
    """Serve exactly these models to each license's catalog."""
    simulator.clear_faults()
    for license, models in catalogs.items():
        simulator.add_fault("override", count=None, license=license, provider=provider, models=models)


def ledger(config: Config) -> list[tuple]:
    con = duckdb.connect(str(db_path(config.data_dir)), read_only=True)
    try:
        return con.execute(
            "select alert_key, channel, state, critical, attempts, enqueued_at, first_attempt_at, last_attempt_at, sent_at, last_error, summary, alert "
            "from alert_deliveries order by all"
        ).fetchall()
    finally:
        con.close()
