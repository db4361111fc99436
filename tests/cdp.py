"""A small Chrome DevTools Protocol client for tests: Debian's chromium, headless, driven over a websocket.

No selenium or playwright: the protocol is a handful of JSON messages, and `websockets` comes
with Prefect.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

CHROMIUM = "chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-port=0",
)


class Page:
    """One tab: send commands, keep every event that arrives meanwhile."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        self._next_id += 1
        message_id = self._next_id
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._socket.recv(timeout=max(0.01, deadline - time.monotonic())))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not any(e["method"] == method for e in self.events):
            message = json.loads(self._socket.recv(timeout=max(0.01, deadline - time.monotonic())))
            if "method" in message:
                self.events.append(message)
        return next(e for e in self.events if e["method"] == method)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> bytes:
        """The whole page, not just the viewport."""
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        png = base64.b64decode(self.send("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True})["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return png


@contextmanager
def chromium_page(width: int = 1280, height: int = 900, timezone: str = "UTC") -> Iterator[Page]:
    """A fresh headless chromium (own profile, no background traffic, the reader's time zone) and its blank tab; killed afterwards."""
    binary = shutil.which(CHROMIUM)
    if binary is None:
        raise RuntimeError("chromium is not installed: install Debian's chromium package (apt-get install -y chromium); the report test needs a real browser")
    # a helper process that outlives the kill must not fail the test over its temporary profile
    with tempfile.TemporaryDirectory(prefix="qcat-chromium-", ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "TZ": timezone},
            start_new_session=True,
        )
        try:
            port = _devtools_port(Path(profile) / "DevToolsActivePort", process)
            target = next(t for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json() if t["type"] == "page")
            with connect(target["webSocketDebuggerUrl"], max_size=256 * 1024 * 1024, open_timeout=10) as socket:
                page = Page(socket)
                page.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
                yield page
        finally:
            _kill_group(process)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the browser and its helper processes at once (they share its session): killed alone, the
    browser leaves helpers that go on writing to the profile while it is being removed."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def _devtools_port(path: Path, process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text().split()[0])
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with code {process.returncode} before it opened its DevTools port")
        time.sleep(0.05)
    raise RuntimeError("chromium did not open its DevTools port within 30 s")
