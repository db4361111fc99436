"""Loopback simulator of the Quantized gateway ``GET /v1/models`` endpoint.

The catalog-snapshot pipeline has to be exercised against a real HTTP server
(timeouts, keep-alive, broken bodies) and against a catalog that changes over
time in every way the history model must capture, without touching the real
gateway.  ``CatalogSimulator`` produces that evolving catalog deterministically;
``SimulatorServer`` serves it and can be steered (day, faults) in-process or over
HTTP from another process such as a CLI under test.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import random
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from flows.errors import port_unavailable

logger = logging.getLogger(__name__)

PROVIDERS: tuple[str, ...] = ("default", "openrouter", "anthropic")
PROVIDER_HEADER = "X-Quantized-Provider"
SIMDATA_DIR = Path(__file__).parent / "simdata"

FAULT_KINDS: frozenset[str] = frozenset({
    "unavailable", "server_error", "rate_limited", "latency", "malformed_json", "truncated",
    "html_200", "empty_list", "mass_removal", "envelope", "duplicate_identical",
    "duplicate_conflict", "extra_fields", "override", "drop_connection", "echo_key",
})
_REQUIRED_PARAMS: dict[str, str] = {"latency": "seconds", "override": "models"}


def _is_number(value: Any) -> bool:
    """JSON's numbers as Python reads them: bool is an int there, and NaN would pass a range check."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_header_value(value: Any) -> bool:
    """What an HTTP header can carry as it is (http.server writes Latin-1): printable, no line break
    that would start another header."""
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isprintable() and max(map(ord, value), default=0) < 256)


# the parameters each fault kind takes, and what a valid value is; a value the simulator could not
# serve is refused when the fault is added, not when a request meets it (a dropped connection then)
_PARAMS: dict[str, dict[str, tuple[str, Callable[[Any], bool]]]] = {
    "latency": {"seconds": ("a number of seconds, 0 or more", lambda v: _is_number(v) and 0 <= v <= 3600)},
    "mass_removal": {"keep_share": ("a number from 0 to 1", lambda v: _is_number(v) and 0 <= v <= 1)},
    "echo_key": {"status": ("an HTTP status code", lambda v: isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 599)},
    "rate_limited": {"retry_after": ("a Retry-After header value (printable Latin-1)", _is_header_value)},
    "override": {"models": ("the JSON body to serve", lambda v: True)},
}
_ERROR_FAULTS: dict[str, tuple[int, str]] = {
    "unavailable": (503, "model catalog provider unavailable"),
    "server_error": (500, "internal server error"),
    "rate_limited": (429, "rate limited"),
}
_RATE_FACTORS = (0.8, 0.9, 1.1, 1.25, 1.5, 2.0)
_NEW_PAID_RATES = (0.0002, 0.0005, 0.001, 0.002)
_RENAME_SUFFIX = " (legacy)"
_HTML_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    "<body><h1>502 Bad Gateway</h1><p>The upstream catalog service is unreachable.</p></body></html>\n"
)


@dataclass(frozen=True)
class SimLicense:
    """A gateway license; its key authenticates and its factor makes its prices distinct."""

    name: str
    api_key: str
    rate_factor: float


DEMO_LICENSES: tuple[SimLicense, ...] = (
    SimLicense("acme-prod", "sim-key-acme-prod", 1.0),
    SimLicense("acme-research", "sim-key-acme-research", 0.85),
)


def synthetic_licenses(n: int) -> tuple[SimLicense, ...]:
    """Many licenses with distinct but reproducible factors, so benchmarks store distinct rows."""
    return tuple(
        SimLicense(f"lic-{i:03d}", f"sim-key-lic-{i:03d}", round(0.7 + 0.6 * ((i * 37) % 61) / 60, 4))
        for i in range(n)
    )


def _round6(value: float) -> float:
    """Six significant digits so license-adjusted rates look like published prices."""
    return float(f"{value:.6g}")


@dataclass(frozen=True)
class _Model:
    """Immutable so consecutive day states can share unchanged models."""

    id: str
    name: str
    input_rate: float
    output_rate: float
    context_window: int | None
    max_output_tokens: int | None

    def to_api(self, rate_factor: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "cost": {
                "input_cost_per_micro_credit": _round6(self.input_rate * rate_factor),
                "output_cost_per_micro_credit": _round6(self.output_rate * rate_factor),
            },
            "context_window": self.context_window,
            "max_output_tokens": self.max_output_tokens,
        }


@dataclass(frozen=True)
class _DayState:
    """One provider's catalog on one day plus what later days may bring back."""

    active: dict[str, _Model]
    reserve: tuple[str, ...]
    removed: dict[str, tuple[_Model, int | None]]  # id -> (model, day it returns or None)


@functools.cache
def _load_seed(provider: str) -> tuple[_Model, ...]:
    """Cached across simulators because tests and benchmarks build many of them."""
    raw = json.loads((SIMDATA_DIR / f"{provider}.json").read_text(encoding="utf-8"))
    models = (
        _Model(m["id"], m["name"], float(m["cost"]["input_cost_per_micro_credit"]),
               float(m["cost"]["output_cost_per_micro_credit"]), m["context_window"], m["max_output_tokens"])
        for m in raw
    )
    return tuple(sorted(models, key=lambda m: m.id))


class CatalogSimulator:
    """Pure, deterministic catalog evolution; no I/O besides reading seed files once."""

    def __init__(self, licenses: Sequence[SimLicense] = DEMO_LICENSES, seed: int = 42,
                 max_models: int | None = None) -> None:
        self._licenses = {lic.name: lic for lic in licenses}
        self._by_key = {lic.api_key: lic for lic in licenses}
        if len(self._licenses) != len(licenses) or len(self._by_key) != len(licenses):
            raise ValueError("license names and api keys must be unique")
        self.seed = seed
        self.max_models = max_models
        self._seed_models = {p: {m.id: m for m in _load_seed(p)[:max_models]} for p in PROVIDERS}
        self._days: dict[str, list[_DayState]] = {p: [self._day_zero(p)] for p in PROVIDERS}
        self._lock = threading.Lock()  # server threads share the day cache

    @property
    def licenses(self) -> tuple[SimLicense, ...]:
        return tuple(self._licenses.values())

    def license_for_key(self, api_key: str) -> SimLicense | None:
        return self._by_key.get(api_key)

    def catalog(self, license_name: str, provider: str, day: int) -> list[dict[str, Any]]:
        """Fresh dicts on every call so callers (fault injection) may mutate them freely."""
        lic = self._licenses.get(license_name)
        if lic is None:
            raise ValueError(f"unknown license {license_name!r}")
        active = self._state(provider, day).active
        return [active[model_id].to_api(lic.rate_factor) for model_id in sorted(active)]

    def _rng(self, provider: str, tag: int | str) -> random.Random:
        """String seeds hash via SHA-512, so every (seed, provider, day) stream is stable across runs."""
        return random.Random(f"{self.seed}:{provider}:{tag}")

    def _day_zero(self, provider: str) -> _DayState:
        ids = list(self._seed_models[provider])
        n_reserve = max(1, round(len(ids) * 0.05)) if len(ids) >= 2 else 0
        reserve = tuple(self._rng(provider, "reserve").sample(ids, n_reserve))
        held = set(reserve)
        active = {i: m for i, m in self._seed_models[provider].items() if i not in held}
        return _DayState(active, reserve, {})

    def _state(self, provider: str, day: int) -> _DayState:
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}")
        if day < 0:
            raise ValueError("day must be >= 0")
        with self._lock:
            days = self._days[provider]
            while len(days) <= day:
                days.append(self._next_day(provider, days[-1], len(days)))
            return days[day]

    def _next_day(self, provider: str, prev: _DayState, day: int) -> _DayState:
        rng = self._rng(provider, day)
        active, removed, reserve = dict(prev.active), dict(prev.removed), list(prev.reserve)
        for model_id, (model, returns_on) in sorted(removed.items()):
            if returns_on == day:
                active[model_id] = model
                del removed[model_id]
        n_changes = round(len(active) * 0.01 * rng.uniform(0.5, 1.5))
        if n_changes == 0 and rng.random() < 0.8:
            n_changes = 1
        for model_id in rng.sample(sorted(active), min(n_changes, len(active))):
            active[model_id] = _change_rates(active[model_id], rng)
        if reserve and rng.random() < 0.3:
            model_id = reserve.pop(0)
            active[model_id] = self._seed_models[provider][model_id]
        if len(active) > 1 and rng.random() < 0.25:
            model_id = rng.choice(sorted(active))
            returns_on = day + rng.randint(2, 7) if rng.random() < 0.6 else None
            removed[model_id] = (active.pop(model_id), returns_on)
        if active and rng.random() < 0.15:
            model_id = rng.choice(sorted(active))
            active[model_id] = _change_limits(active[model_id], rng)
        if active and rng.random() < 0.12:
            model = active[rng.choice(sorted(active))]
            name = model.name.removesuffix(_RENAME_SUFFIX) if model.name.endswith(_RENAME_SUFFIX) \
                else model.name + _RENAME_SUFFIX
            active[model.id] = replace(model, name=name)
        return _DayState(active, tuple(reserve), removed)


def _change_rates(model: _Model, rng: random.Random) -> _Model:
    """Free models become paid; paid rates are repriced by a realistic factor or, rarely, made free."""
    sides = rng.choice((("input_rate",), ("output_rate",), ("input_rate", "output_rate")))
    changes: dict[str, float] = {}
    for side in sides:
        rate = getattr(model, side)
        if rate == 0:
            changes[side] = rng.choice(_NEW_PAID_RATES)
        elif rng.random() < 0.03:
            changes[side] = 0.0
        else:
            changes[side] = _round6(rate * rng.choice(_RATE_FACTORS))
    return replace(model, **changes)


def _change_limits(model: _Model, rng: random.Random) -> _Model:
    """Unknown (null) limits become known; known ones double or halve, always to a different value."""
    side = rng.choice(("context_window", "max_output_tokens"))
    value: int | None = getattr(model, side)
    if value is None:
        return replace(model, **{side: 131072 if side == "context_window" else 8192})
    halved = value // 2
    return replace(model, **{side: halved if halved >= 1024 and rng.random() < 0.4 else value * 2})


@dataclass
class _Fault:
    kind: str
    remaining: int | None
    license: str | None
    provider: str | None
    params: dict[str, Any]

    def matches(self, license_name: str | None, provider: str) -> bool:
        return (self.license is None or self.license == license_name) and \
            (self.provider is None or self.provider == provider)


class _HTTPServer(ThreadingHTTPServer):
    request_queue_size = 128  # benchmarks open many concurrent connections
    owner: SimulatorServer

    def __init__(self, address: tuple[str, int]) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Skip HTTPServer's reverse-DNS lookup (getfqdn), which can stall for seconds in sandboxes."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Idle keep-alive handlers would otherwise keep answering pooled clients after stop()."""
        with self.connections_lock:
            for conn in self.connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # the peer already closed it


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real gateway behind a load balancer
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall
    server: _HTTPServer
    on_status: Any = None  # called with the status just before a response is written

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/v1/models":
            self.server.owner._serve_models(self, path)
        elif path == "/_sim/requests":
            with self.server.owner._lock:
                log = list(self.server.owner.requests)
            self.send_json(200, log)
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if path == "/_sim/day":
                self.server.owner.day = body["day"]
                self.send_json(200, {"day": self.server.owner.day})
            elif path == "/_sim/faults":
                self.server.owner.add_fault(body["kind"], body.get("count", 1), body.get("license"),
                                            body.get("provider"), **(body.get("params") or {}))
                self.send_json(201, {"ok": True})
            else:
                self.send_json(404, {"error": "not found"})
        except KeyError as exc:
            self.send_json(400, {"error": f"bad control request: {exc.args[0]!r} is missing"})
        except (ValueError, TypeError) as exc:
            self.send_json(400, {"error": f"bad control request: {exc}"})

    def do_DELETE(self) -> None:
        if self.path.split("?", 1)[0] == "/_sim/faults":
            self.server.owner.clear_faults()
            self.send_json(200, {"ok": True})
        else:
            self.send_json(404, {"error": "not found"})

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> int:
        return self.send_body(status, json.dumps(payload).encode(), "application/json", headers)

    def send_body(self, status: int, body: bytes, content_type: str,
                  headers: dict[str, str] | None = None) -> int:
        if self.on_status is not None:
            self.on_status(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        return status


class SimulatorServer:
    """A real loopback HTTP server so clients are tested with their actual transport stack."""

    def __init__(self, simulator: CatalogSimulator | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.simulator = simulator or CatalogSimulator()
        self.host, self.port = host, port
        self.requests: list[dict[str, Any]] = []
        # catalog requests being answered at once, and the most there were: what a client's
        # concurrency bound looks like from the server's side
        self.in_flight = 0
        self.peak_in_flight = 0
        self._day = 0
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("simulator server is not started")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def day(self) -> int:
        with self._lock:
            return self._day

    @day.setter
    def day(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"day must be a non-negative int, got {value!r}")
        with self._lock:
            self._day = value

    def start(self) -> SimulatorServer:
        if self._httpd is not None:
            raise RuntimeError("simulator server already started")
        self._httpd = _HTTPServer((self.host, self.port))
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"quantized-sim:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None or self._thread is None:
            return
        self._httpd.shutdown()
        self._thread.join()
        self._httpd.close_connections()
        self._httpd.server_close()
        self._httpd, self._thread = None, None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def add_fault(self, kind: str, count: int | None = 1, license: str | None = None,
                  provider: str | None = None, **params: Any) -> None:
        """Validated eagerly so a typo in a test fails at setup, not as a mysteriously passing request."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ValueError(f"count must be a positive int or None, got {count!r}")
        if license is not None and license not in {lic.name for lic in self.simulator.licenses}:
            raise ValueError(f"unknown license {license!r}")
        if provider is not None and provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}")
        if kind in _REQUIRED_PARAMS and _REQUIRED_PARAMS[kind] not in params:
            raise ValueError(f"fault {kind!r} requires param {_REQUIRED_PARAMS[kind]!r}")
        accepted = _PARAMS.get(kind, {})
        for name, value in params.items():
            if name not in accepted:
                raise ValueError(f"fault {kind!r} takes {', '.join(map(repr, accepted)) or 'no params'}, not {name!r}")
            wanted, valid = accepted[name]
            if not valid(value):
                raise ValueError(f"fault {kind!r}: param {name!r} must be {wanted}, got {value!r}")
        with self._lock:
            self._faults.append(_Fault(kind, count, license, provider, params))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, license_name: str | None, provider: str, latency: bool) -> _Fault | None:
        """Consume one use of the first matching fault; latency is a separate stream so it can stack."""
        with self._lock:
            for fault in self._faults:
                if (fault.kind == "latency") == latency and fault.matches(license_name, provider):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def _serve_models(self, handler: _Handler, path: str) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            self._answer_models(handler, path)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer_models(self, handler: _Handler, path: str) -> None:
        auth = handler.headers.get("Authorization", "")
        scheme, _, key = auth.partition(" ")
        lic = self.simulator.license_for_key(key.strip()) if scheme.lower() == "bearer" else None
        provider = handler.headers.get(PROVIDER_HEADER, "default")  # strict: a miscased value is a client bug
        slow = self._take_fault(lic.name if lic else None, provider, latency=True)
        if slow is not None:
            time.sleep(float(slow.params["seconds"]))

        def log(status: int | None) -> None:
            """Before the response is written, so a client that has its answer also sees its entry."""
            with self._lock:
                self.requests.append({"path": path, "license": lic.name if lic else None,
                                      "provider": provider, "status": status})

        handler.on_status = log
        try:
            if lic is None:
                handler.send_json(401, {"error": "invalid api key"})
            elif provider not in PROVIDERS:
                handler.send_json(400, {"error": f"unknown provider {provider!r}"})
            else:
                fault = self._take_fault(lic.name, provider, latency=False)
                if self._respond(handler, self.simulator.catalog(lic.name, provider, self.day), fault, auth) is None:
                    log(None)  # dropped connection: nothing was written
        finally:
            handler.on_status = None  # keep-alive reuses the handler for the next request

    @staticmethod
    def _respond(handler: _Handler, models: list[dict[str, Any]], fault: _Fault | None, auth: str) -> int | None:
        """Returns the status sent, or None when the connection was dropped without a response."""
        kind, params = (fault.kind, fault.params) if fault else ("", {})
        if kind == "drop_connection":
            handler.close_connection = True
            return None
        if kind == "echo_key":  # a gateway that quotes the credentials it refused
            return handler.send_json(int(params.get("status", 401)), {"error": "invalid api key", "received": auth})
        if kind in _ERROR_FAULTS:
            status, message = _ERROR_FAULTS[kind]
            retry = {"Retry-After": str(params.get("retry_after", 1))} if kind == "rate_limited" else None
            return handler.send_json(status, {"error": message}, retry)
        if kind == "html_200":
            return handler.send_body(200, _HTML_ERROR_PAGE.encode(), "text/html; charset=utf-8")
        payload: Any = models
        if kind == "empty_list":
            payload = []
        elif kind == "mass_removal":
            payload = models[: int(len(models) * float(params.get("keep_share", 0.2)))]
        elif kind == "envelope":
            payload = {"data": models, "object": "list"}
        elif kind == "duplicate_identical" and models:
            payload = [*models, json.loads(json.dumps(models[0]))]
        elif kind == "duplicate_conflict" and models:
            clash = json.loads(json.dumps(models[0]))
            rate = clash["cost"]["input_cost_per_micro_credit"]
            clash["cost"]["input_cost_per_micro_credit"] = _round6(rate * 1.5) if rate else 0.001
            payload = [*models, clash]
        elif kind == "extra_fields":
            for model in models:
                model["provider_meta"] = {"tier": "standard"}
                model["modality"] = "text"
                model["cost"]["cache_read_cost_per_micro_credit"] = \
                    _round6(model["cost"]["input_cost_per_micro_credit"] * 0.1)
        elif kind == "override":
            payload = params["models"]
        body = json.dumps(payload)  # ASCII-only, so halving characters halves bytes
        if kind == "malformed_json":
            body = body.replace("}, {", "} {", 1)[:-1]  # lost comma and closing bracket
        elif kind == "truncated":
            body = body[: len(body) // 2]
        return handler.send_body(200, body.encode(), "application/json")


def serve_forever(host: str, port: int, seed: int, day: int) -> None:
    """Blocking entry point for the CLI's demo mode; Ctrl-C is the normal way to stop it."""
    server = SimulatorServer(CatalogSimulator(DEMO_LICENSES, seed=seed), host=host, port=port)
    server.day = day
    try:
        server.start()
    except OSError as exc:
        raise port_unavailable(host, port, exc) from None
    try:
        logger.info("Quantized simulator serving %s (seed=%d, day=%d); licenses: %s", server.base_url,
                    seed, day, ", ".join(f"{lic.name} (key {lic.api_key})" for lic in DEMO_LICENSES))
        threading.Event().wait()
    except KeyboardInterrupt:
        logger.info("Quantized simulator stopping")
    finally:
        server.stop()
