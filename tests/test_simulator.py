"""Behaviour of the Quantized gateway simulator, exercised over real loopback HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flows.simulator import (
    DEMO_LICENSES,
    PROVIDERS,
    SIMDATA_DIR,
    CatalogSimulator,
    SimulatorServer,
    synthetic_licenses,
)

PROD, RESEARCH = DEMO_LICENSES
REPO_ROOT = Path(__file__).resolve().parent.parent


def _seed(provider: str) -> list[dict[str, Any]]:
    return json.loads((SIMDATA_DIR / f"{provider}.json").read_text())


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(CatalogSimulator()) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=5) as c:
        yield c


@pytest.fixture(autouse=True)
def _reset(server: SimulatorServer) -> Iterator[None]:
    """The server is shared by the module, so no test may leak faults, day or log entries."""
    yield
    server.clear_faults()
    server.day = 0
    server.requests.clear()


def get_models(client: httpx.Client, license_key: str = PROD.api_key, provider: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {license_key}"}
    if provider is not None:
        headers["X-Quantized-Provider"] = provider
    return client.get("/models", headers=headers)


def test_missing_or_unknown_key_is_401(client: httpx.Client, server: SimulatorServer) -> None:
    no_auth = client.get("/models")
    unknown = get_models(client, "sim-key-nobody")
    assert (no_auth.status_code, unknown.status_code) == (401, 401)
    assert unknown.json() == {"error": "invalid api key"}
    assert unknown.headers["content-type"] == "application/json"
    assert [r["license"] for r in server.requests] == [None, None]


def test_unknown_provider_is_400(client: httpx.Client) -> None:
    assert get_models(client, provider="bedrock").status_code == 400
    assert get_models(client, provider="OpenRouter").status_code == 400


def test_provider_header_selects_catalog(client: httpx.Client, server: SimulatorServer) -> None:
    sizes = {}
    for provider in PROVIDERS:
        resp = get_models(client, provider=None if provider == "default" else provider)
        assert resp.status_code == 200
        models = resp.json()
        seed_ids = {m["id"] for m in _seed(provider)}
        ids = [m["id"] for m in models]
        assert ids == sorted(ids) and set(ids) < seed_ids
        assert 0.93 * len(seed_ids) <= len(ids) < len(seed_ids)  # ~5% held back as reserve
        assert models == server.simulator.catalog(PROD.name, provider, 0)
        sizes[provider] = len(ids)
    assert get_models(client, provider="default").json() == get_models(client).json()
    assert sizes["anthropic"] * 10 < sizes["openrouter"]
    assert set(models[0]) == {"id", "name", "cost", "context_window", "max_output_tokens"}


def test_license_rate_factor(client: httpx.Client) -> None:
    prod = {m["id"]: m for m in get_models(client, PROD.api_key, "openrouter").json()}
    research = {m["id"]: m for m in get_models(client, RESEARCH.api_key, "openrouter").json()}
    assert prod.keys() == research.keys()
    assert prod["anthropic/claude-3-haiku"]["cost"]["input_cost_per_micro_credit"] == 0.001
    assert research["anthropic/claude-3-haiku"]["cost"]["input_cost_per_micro_credit"] == 0.00085
    free = 0
    for model_id, model in prod.items():
        for side, rate in model["cost"].items():
            assert research[model_id]["cost"][side] == float(f"{rate * 0.85:.6g}")
            free += rate == 0
        assert {**research[model_id], "cost": None} == {**model, "cost": None}
    assert free > 0


def test_determinism() -> None:
    first = CatalogSimulator(seed=42)
    day30 = {p: first.catalog(PROD.name, p, 30) for p in PROVIDERS}
    again = CatalogSimulator(seed=42)
    assert again.catalog(PROD.name, "default", 17) == first.catalog(PROD.name, "default", 17)
    assert {p: again.catalog(PROD.name, p, 30) for p in PROVIDERS} == day30
    other = CatalogSimulator(seed=7)
    assert {p: other.catalog(PROD.name, p, 30) for p in PROVIDERS} != day30


def _history_events(sim: CatalogSimulator, provider: str, days: int = 30) -> dict[str, int]:
    seed_ids = {m["id"] for m in _seed(provider)}
    events = dict.fromkeys(("rate", "zero_flip", "added", "removed", "readded", "limits", "rename"), 0)
    prev = {m["id"]: m for m in sim.catalog(PROD.name, provider, 0)}
    seen = set(prev)
    for day in range(1, days + 1):
        cur = {m["id"]: m for m in sim.catalog(PROD.name, provider, day)}
        for model_id in cur.keys() - prev.keys():
            assert model_id in seed_ids
            events["readded" if model_id in seen else "added"] += 1
        events["removed"] += len(prev.keys() - cur.keys())
        for model_id in cur.keys() & prev.keys():
            old, new = prev[model_id], cur[model_id]
            if old["cost"] != new["cost"]:
                events["rate"] += 1
                events["zero_flip"] += any((old["cost"][k] == 0) != (new["cost"][k] == 0) for k in old["cost"])
            limits = ("context_window", "max_output_tokens")
            events["limits"] += any(old[k] != new[k] for k in limits)
            events["rename"] += old["name"] != new["name"]
        seen |= cur.keys()
        prev = cur
    return events


@pytest.mark.parametrize("provider", PROVIDERS)
def test_thirty_day_history_has_every_kind_of_change(provider: str) -> None:
    events = _history_events(CatalogSimulator(seed=42), provider)
    assert all(count > 0 for kind, count in events.items() if kind != "zero_flip"), events
    assert events["rate"] <= 0.03 * len(_seed(provider)) * 30 + 30  # a few per day, not a reshuffle


def test_some_rate_flips_between_free_and_paid() -> None:
    sim = CatalogSimulator(seed=42)
    assert sum(_history_events(sim, p)["zero_flip"] for p in PROVIDERS) > 0


def test_max_models_truncates_seed_universe() -> None:
    sim = CatalogSimulator(max_models=10)
    first_ten = sorted(m["id"] for m in _seed("openrouter"))[:10]
    for day in (0, 30):
        ids = [m["id"] for m in sim.catalog(PROD.name, "openrouter", day)]
        assert set(ids) <= set(first_ten) and 0 < len(ids) <= 10


def test_synthetic_licenses() -> None:
    lics = synthetic_licenses(120)
    assert [lic.name for lic in lics[:2]] == ["lic-000", "lic-001"]
    assert lics[119].api_key == "sim-key-lic-119"
    assert all(0.7 <= lic.rate_factor <= 1.3 for lic in lics)
    assert len({lic.rate_factor for lic in lics}) > 50
    assert synthetic_licenses(120) == lics
    sim = CatalogSimulator(lics, max_models=5)
    assert sim.license_for_key("sim-key-lic-007") == lics[7]
    assert sim.catalog("lic-007", "anthropic", 3)


def test_unavailable_counts_down(client: httpx.Client, server: SimulatorServer) -> None:
    server.add_fault("unavailable", count=2)
    statuses = [get_models(client).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    server.add_fault("unavailable")
    assert get_models(client).json() == {"error": "model catalog provider unavailable"}


def test_faults_apply_after_authentication(client: httpx.Client, server: SimulatorServer) -> None:
    server.add_fault("unavailable", count=1)
    assert get_models(client, "sim-key-bad").status_code == 401
    assert get_models(client).status_code == 503  # the 401 did not consume the fault


def test_persistent_fault_until_cleared(client: httpx.Client, server: SimulatorServer) -> None:
    server.add_fault("server_error", count=None)
    assert [get_models(client).status_code for _ in range(3)] == [500, 500, 500]
    server.clear_faults()
    assert get_models(client).status_code == 200


def test_rate_limited_has_retry_after(client: httpx.Client, server: SimulatorServer) -> None:
    server.add_fault("rate_limited", retry_after=7)
    server.add_fault("rate_limited")
    first, second = get_models(client), get_models(client)
    assert (first.status_code, first.headers["retry-after"]) == (429, "7")
    assert (second.status_code, second.headers["retry-after"]) == (429, "1")


def test_latency_stacks_with_other_faults(client: httpx.Client, server: SimulatorServer) -> None:
    server.add_fault("latency", count=None, seconds=0.5)
    server.add_fault("unavailable")
    started = time.perf_counter()
    statuses = [get_models(client).status_code, get_models(client, "sim-key-bad").status_code]
    assert time.perf_counter() - started >= 1.0
    assert statuses == [503, 401]
    server.clear_faults()
    started = time.perf_counter()
    assert get_models(client).status_code == 200
    assert time.perf_counter() - started < 0.5, "the latency went with the other faults"


def test_broken_200_bodies(client: httpx.Client, server: SimulatorServer) -> None:
    full = get_models(client, provider="anthropic")
    for kind in ("malformed_json", "truncated"):
        server.add_fault(kind)
        resp = get_models(client, provider="anthropic")
        assert resp.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(resp.content)
        assert int(resp.headers["content-length"]) == len(resp.content)
        if kind == "truncated":
            assert resp.content == full.content[: len(full.content) // 2]
    server.add_fault("html_200")
    html = get_models(client, provider="anthropic")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert html.text.lstrip().lower().startswith("<!doctype html")


def test_shape_faults(client: httpx.Client, server: SimulatorServer) -> None:
    full = get_models(client).json()
    server.add_fault("empty_list")
    assert get_models(client).json() == []
    server.add_fault("mass_removal", keep_share=0.1)
    assert get_models(client).json() == full[: int(len(full) * 0.1)]
    server.add_fault("mass_removal")
    assert len(get_models(client).json()) == int(len(full) * 0.2)
    server.add_fault("envelope")
    assert get_models(client).json() == {"data": full, "object": "list"}
    server.add_fault("duplicate_identical")
    assert get_models(client).json() == [*full, full[0]]
    server.add_fault("duplicate_conflict")
    conflicting = get_models(client).json()
    assert conflicting[:-1] == full and conflicting[-1]["id"] == full[0]["id"]
    assert conflicting[-1]["cost"]["input_cost_per_micro_credit"] != full[0]["cost"]["input_cost_per_micro_credit"]
    server.add_fault("extra_fields")
    extra = get_models(client).json()
    assert [m["id"] for m in extra] == [m["id"] for m in full]
    assert all(m["modality"] == "text" and m["provider_meta"] == {"tier": "standard"} for m in extra)
    assert all("cache_read_cost_per_micro_credit" in m["cost"] for m in extra)


def test_override_keeps_full_float_precision(client: httpx.Client, server: SimulatorServer) -> None:
    crafted = [
        {"id": "m/a", "name": "A", "cost": {"input_cost_per_micro_credit": 0.0016000000000001,
                                            "output_cost_per_micro_credit": 0}, "context_window": None,
         "max_output_tokens": 4096},
    ]
    server.add_fault("override", models=crafted)
    resp = get_models(client)
    assert resp.json() == crafted
    assert "0.0016000000000001" in resp.text


def test_drop_connection_is_a_transport_error(client: httpx.Client, server: SimulatorServer) -> None:
    server.add_fault("drop_connection")
    with pytest.raises(httpx.TransportError):
        get_models(client)
    assert get_models(client).status_code == 200
    assert [r["status"] for r in server.requests] == [None, 200]


def test_faults_filtered_by_license_and_provider(client: httpx.Client, server: SimulatorServer) -> None:
    server.add_fault("unavailable", count=None, license=RESEARCH.name)
    server.add_fault("empty_list", count=None, provider="anthropic")
    assert get_models(client, RESEARCH.api_key).status_code == 503
    assert get_models(client, RESEARCH.api_key, "anthropic").status_code == 503  # first match wins
    assert len(get_models(client, PROD.api_key).json()) > 100
    assert get_models(client, PROD.api_key, "anthropic").json() == []
    assert len(get_models(client, PROD.api_key, "openrouter").json()) > 100


def test_add_fault_validates(server: SimulatorServer) -> None:
    for bad in ({"kind": "explode"}, {"kind": "latency"}, {"kind": "override"},
                {"kind": "unavailable", "count": 0}, {"kind": "unavailable", "license": "nobody"},
                {"kind": "unavailable", "provider": "bedrock"}):
        with pytest.raises(ValueError):
            server.add_fault(**bad)


def test_day_serves_evolved_catalog(client: httpx.Client, server: SimulatorServer) -> None:
    server.day = 12
    assert get_models(client, provider="openrouter").json() == server.simulator.catalog(PROD.name, "openrouter", 12)
    assert get_models(client, provider="openrouter").json() != server.simulator.catalog(PROD.name, "openrouter", 0)
    with pytest.raises(ValueError):
        server.day = -1


def test_control_endpoints(client: httpx.Client, server: SimulatorServer) -> None:
    root = server.base_url.removesuffix("/v1")
    with httpx.Client(base_url=root, timeout=5) as control:
        assert control.post("/_sim/day", json={"day": 4}).json() == {"day": 4}
        assert server.day == 4
        assert control.post("/_sim/day", json={"day": "x"}).status_code == 400
        fault = {"kind": "unavailable", "count": None, "license": PROD.name, "provider": "default", "params": {}}
        assert control.post("/_sim/faults", json=fault).status_code == 201
        assert control.post("/_sim/faults", json={"kind": "bogus"}).status_code == 400
        assert control.post("/_sim/faults", json={"kind": "rate_limited", "params": {"retry_after": 3}}).is_success
        assert get_models(client).status_code == 503
        assert get_models(client).status_code == 503
        assert get_models(client, RESEARCH.api_key).headers["retry-after"] == "3"
        assert control.delete("/_sim/faults").status_code == 200
        for kind, params, complaint in (
            ("mass_removal", {"keep_share": "lots"}, "param 'keep_share' must be a number from 0 to 1, got 'lots'"),
            ("mass_removal", {"keep_share": 1.5}, "param 'keep_share' must be a number from 0 to 1"),
            ("latency", {"seconds": -1}, "param 'seconds' must be a number of seconds"),
            ("echo_key", {"status": "401"}, "param 'status' must be an HTTP status code"),
            ("unavailable", {"retry_after": 3}, "fault 'unavailable' takes no params, not 'retry_after'"),
            ("rate_limited", {"retry_after": "\u2603"}, "param 'retry_after' must be a Retry-After header value"),
            ("rate_limited", {"retry_after": "1\r\nX-Injected: yes"}, "param 'retry_after' must be a Retry-After header value"),
            ("mass_removal", {"keep": 0.5}, "fault 'mass_removal' takes 'keep_share', not 'keep'"),
        ):
            refused = control.post("/_sim/faults", json={"kind": kind, "params": params})
            assert refused.status_code == 400 and complaint in refused.json()["error"], refused.text
        assert get_models(client).json() == server.simulator.catalog(PROD.name, "default", 4), "a refused fault is not added"
        log = control.get("/_sim/requests").json()
    # a slow request left over from an earlier test (latency fault) may still land first in the log
    log = log[-4:]
    assert [(r["license"], r["status"]) for r in log] == [
        (PROD.name, 503), (PROD.name, 503), (RESEARCH.name, 429), (PROD.name, 200)]
    assert {r["path"] for r in log} == {"/v1/models"} and {r["provider"] for r in log} == {"default"}


def test_request_log_never_contains_keys(client: httpx.Client, server: SimulatorServer) -> None:
    for lic in DEMO_LICENSES:
        get_models(client, lic.api_key, "anthropic")
    get_models(client, "sim-key-unknown-secret")
    dumped = json.dumps(server.requests)
    assert "sim-key" not in dumped and "Bearer" not in dumped
    assert [r["license"] for r in server.requests] == [PROD.name, RESEARCH.name, None]
    assert set(server.requests[0]) == {"path", "license", "provider", "status"}


def test_lifecycle() -> None:
    srv = SimulatorServer(CatalogSimulator(max_models=5))
    with pytest.raises(RuntimeError):
        _ = srv.base_url
    with srv, httpx.Client(headers={"Authorization": f"Bearer {PROD.api_key}"}, timeout=2) as pooled:
        url = srv.base_url
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url)
        assert pooled.get(f"{url}/models").status_code == 200
        assert pooled.get(f"{url}/nope").status_code == 404
        srv.stop()
        with pytest.raises(httpx.TransportError):  # the idle keep-alive connection is closed too
            pooled.get(f"{url}/models")
    srv.stop()  # idempotent


def test_serve_forever_runs_in_another_process() -> None:
    code = ("import logging; logging.basicConfig(level=logging.INFO);"
            "from flows.simulator import serve_forever; serve_forever('127.0.0.1', 0, 42, 3)")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
            assert match and "acme-prod" in line and "acme-research" in line, line
            resp = httpx.get(f"{match.group(1)}/models", headers={"Authorization": f"Bearer {RESEARCH.api_key}"})
            assert resp.json() == CatalogSimulator().catalog(RESEARCH.name, "default", 3)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=5) == 0
        finally:
            proc.kill()


def test_a_known_key_under_another_scheme_is_401(client: httpx.Client, server: SimulatorServer) -> None:
    """Like the gateway, only `Bearer <key>` authenticates: a client that sends the key otherwise must fail here too."""
    for auth in (f"Token {PROD.api_key}", f"Basic {PROD.api_key}", PROD.api_key):
        answer = client.get("/models", headers={"Authorization": auth})
        assert (answer.status_code, answer.json()) == (401, {"error": "invalid api key"}), auth
    assert get_models(client).status_code == 200
