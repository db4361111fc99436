"""fetch_catalog over real loopback HTTP against the simulator, including its fault switches."""

from __future__ import annotations

import codecs
import html
import json
import logging
import random
import urllib.parse
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest

from flows.client import FetchResult, fetch_catalog, make_http_client
from flows.config import ApiConfig
from flows.simulator import DEMO_LICENSES, PROVIDER_HEADER, PROVIDERS, CatalogSimulator, SimulatorServer
from tests.conftest import JsonAnswer, loopback_http

PROD, RESEARCH = DEMO_LICENSES
UNKNOWN_KEY = "sim-key-not-a-license-7f3a9c"


class RecordingSleep:
    """Records every backoff delay and really sleeps it, so Retry-After is observable in time."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        time.sleep(seconds)


class ResponseCounter:
    """Counts responses received, i.e. requests the simulator will have logged."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, response: httpx.Response) -> None:
        self.count += 1


@pytest.fixture(scope="module")
def responses() -> ResponseCounter:
    return ResponseCounter()


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(CatalogSimulator(max_models=30)) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _reset(server: SimulatorServer, responses: ResponseCounter) -> Iterator[None]:
    """One server for the module, so no test may see another's faults, day or request log."""
    server.clear_faults()
    server.day = 0
    server.requests.clear()
    responses.count = 0
    yield
    server.clear_faults()
    # The simulator logs a request just after answering it: let this test's entries land now,
    # not after the next test has cleared the log.
    logged(server, responses.count)


@pytest.fixture(scope="module")
def api(server: SimulatorServer) -> ApiConfig:
    return ApiConfig(base_url=server.base_url, backoff_seconds=0.01, max_backoff_seconds=0.5, max_attempts=4,
                     timeout_seconds=5)


@pytest.fixture(scope="module")
def http(api: ApiConfig, responses: ResponseCounter) -> Iterator[httpx.Client]:
    with make_http_client(api) as client:
        client.event_hooks["response"].append(responses)
        yield client


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def pull(http: httpx.Client, api: ApiConfig, sleep: RecordingSleep):
    def _pull(key: str = PROD.api_key, provider: str = "default", config: ApiConfig | None = None) -> FetchResult:
        return fetch_catalog(http, config or api, key, provider, sleep=sleep, rng=random.Random(7))

    return _pull


def served(server: SimulatorServer, license: str = PROD.name, provider: str = "default") -> list[dict[str, Any]]:
    return server.simulator.catalog(license, provider, server.day)


def as_api(result: FetchResult) -> list[dict[str, Any]]:
    """The parsed models in the API's own shape, to compare with what the simulator served."""
    assert result.catalog is not None, result.error
    return [
        {
            "id": m.model_id,
            "name": m.name,
            "cost": {"input_cost_per_micro_credit": m.input_cost, "output_cost_per_micro_credit": m.output_cost},
            "context_window": m.context_window,
            "max_output_tokens": m.max_output_tokens,
        }
        for m in result.catalog.models
    ]


def logged(server: SimulatorServer, count: int, timeout: float = 2.0) -> list[dict[str, Any]]:
    """The simulator's request log, once it holds `count` entries.

    The simulator appends to its log just after it has sent the response, so a client can read
    the log before its own request is in it.
    """
    deadline = time.monotonic() + timeout
    while len(server.requests) < count and time.monotonic() < deadline:
        time.sleep(0.002)
    return list(server.requests)


def statuses(result: FetchResult) -> list[int | None]:
    return [attempt.http_status for attempt in result.attempts]


def fetch_from(api: ApiConfig, handler: type[BaseHTTPRequestHandler], key: str = PROD.api_key,
               sleep: Callable[[float], None] = time.sleep) -> tuple[FetchResult, str]:
    """One pull from a gateway on 127.0.0.1 that `handler` plays (what the simulator does not): the
    result, and the gateway's root URL."""
    with loopback_http(handler) as base, make_http_client(api) as client:
        return fetch_catalog(client, replace(api, base_url=base + "/v1"), key, "default", sleep=sleep), base


def answering(status: int, body: bytes) -> type[JsonAnswer]:
    """A gateway that gives every request the same answer."""
    class Answer(JsonAnswer):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.answer(status, body)

    return Answer


def echo_401(api: ApiConfig, key: str, body: Callable[[str], bytes]) -> FetchResult:
    """A pull from a gateway that refuses the key and quotes it back inside `body`."""
    class EchoingGateway(JsonAnswer):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            self.answer(401, body(self.headers["Authorization"].removeprefix("Bearer ")))

    return fetch_from(api, EchoingGateway, key)[0]


def raw_response(http: httpx.Client, server: SimulatorServer, key: str = PROD.api_key) -> httpx.Response:
    """The same request fetch_catalog makes, without any interpretation."""
    return http.get(f"{server.base_url}/models", headers={"Authorization": f"Bearer {key}"})


def model(model_id: str = "m1", **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": model_id,
        "name": f"Model {model_id}",
        "cost": {"input_cost_per_micro_credit": 0.001, "output_cost_per_micro_credit": 0.002},
        "context_window": 128000,
        "max_output_tokens": 4096,
    }
    item.update(changes)
    return item


# --- successful pulls ----------------------------------------------------------------------


def test_ok_pull_parses_every_model_exactly_as_served(server: SimulatorServer, pull, sleep: RecordingSleep) -> None:
    result = pull()
    expected = served(server)
    assert result.status == "ok" and result.error is None
    assert result.http_status == 200
    assert [(a.number, a.http_status, a.error) for a in result.attempts] == [(1, 200, None)]
    assert result.attempts[0].elapsed_ms >= 0
    assert len(expected) > 10
    assert as_api(result) == expected  # same order, same ids, rates equal to the float
    assert all(m.extra_json is None for m in result.catalog.models)
    assert result.catalog.warnings == ()
    assert result.body == json.dumps(expected).encode()
    assert sleep.delays == []


def test_each_license_sees_its_own_rates_and_the_current_day(server: SimulatorServer, pull) -> None:
    server.day = 6
    prod, research = pull(PROD.api_key), pull(RESEARCH.api_key)
    assert as_api(prod) == served(server, PROD.name)
    assert as_api(research) == served(server, RESEARCH.name)
    assert as_api(prod) != as_api(research)
    assert as_api(prod) != server.simulator.catalog(PROD.name, "default", 0)


def test_provider_header_selects_the_catalog(server: SimulatorServer, pull) -> None:
    default, anthropic = pull(provider="default"), pull(provider="anthropic")
    assert as_api(default) == served(server, provider="default")
    assert as_api(anthropic) == served(server, provider="anthropic")
    assert len(anthropic.catalog.models) != len(default.catalog.models)
    assert {m.model_id for m in anthropic.catalog.models} != {m.model_id for m in default.catalog.models}


def test_the_simulator_logs_the_provider_and_license_of_every_request(server: SimulatorServer, pull) -> None:
    for provider in PROVIDERS:
        assert pull(provider=provider).status == "ok"
    assert logged(server, len(PROVIDERS)) == [
        {"path": "/v1/models", "license": PROD.name, "provider": provider, "status": 200} for provider in PROVIDERS
    ]


def test_default_provider_sends_no_provider_header(server: SimulatorServer, http: httpx.Client, api: ApiConfig) -> None:
    seen: list[httpx.Request] = []
    http.event_hooks["request"].append(seen.append)
    try:
        fetch_catalog(http, api, PROD.api_key, "default")
        fetch_catalog(http, api, PROD.api_key, "openrouter")
    finally:
        http.event_hooks["request"].remove(seen.append)
    assert [r.headers.get(PROVIDER_HEADER) for r in seen] == [None, "openrouter"]
    assert all(r.headers["Authorization"] == f"Bearer {PROD.api_key}" for r in seen)
    assert all(r.headers["Accept"] == "application/json" for r in seen)
    assert all(r.headers["User-Agent"].startswith("qcat/") for r in seen)


def test_unknown_provider_is_invalid_without_retry(pull, sleep: RecordingSleep) -> None:
    result = pull(provider="bedrock")
    assert result.status == "invalid"
    assert result.http_status == 400 and statuses(result) == [400]
    assert sleep.delays == []
    assert "HTTP 400" in result.error


# --- retries -------------------------------------------------------------------------------


def test_503_twice_then_success(server: SimulatorServer, pull, sleep: RecordingSleep) -> None:
    server.add_fault("unavailable", count=2)
    result = pull()
    assert result.status == "ok" and result.error is None
    assert statuses(result) == [503, 503, 200]
    assert [a.number for a in result.attempts] == [1, 2, 3]
    assert all("503" in a.error for a in result.attempts[:2])
    assert result.attempts[2].error is None
    assert as_api(result) == served(server)
    assert [r["status"] for r in logged(server, 3)] == [503, 503, 200]
    # Exponential backoff with 50-100% jitter: 0.01 then 0.02 at most.
    assert len(sleep.delays) == 2
    assert 0.005 <= sleep.delays[0] <= 0.01
    assert 0.01 <= sleep.delays[1] <= 0.02


def test_503_exhausted_is_unavailable(server: SimulatorServer, pull, api: ApiConfig, sleep: RecordingSleep) -> None:
    server.add_fault("unavailable", count=None)
    result = pull()
    assert result.status == "unavailable"
    assert len(result.attempts) == api.max_attempts == 4
    assert statuses(result) == [503] * 4
    assert result.http_status == 503
    assert result.catalog is None
    assert "503" in result.error and "gave up after 4 attempt" in result.error
    assert "\n" not in result.error
    assert len(sleep.delays) == 3  # no pointless sleep after the last attempt
    assert all(0 < d <= api.max_backoff_seconds for d in sleep.delays)
    assert json.loads(result.body) == {"error": "model catalog provider unavailable"}
    assert len(logged(server, 4)) == 4


def test_backoff_is_capped_by_max_backoff_seconds(server: SimulatorServer, pull, api: ApiConfig,
                                                   sleep: RecordingSleep) -> None:
    server.add_fault("unavailable", count=None)
    config = replace(api, backoff_seconds=0.04, max_backoff_seconds=0.05)
    assert pull(config=config).status == "unavailable"
    assert len(sleep.delays) == 3
    assert all(d <= 0.05 for d in sleep.delays)
    assert sleep.delays[2] >= 0.025  # would be 0.08-0.16 uncapped


def test_unknown_key_is_auth_error_without_retry(server: SimulatorServer, pull, sleep: RecordingSleep) -> None:
    result = pull(key=UNKNOWN_KEY)
    assert result.status == "auth_error"
    assert result.http_status == 401
    assert len(result.attempts) == 1 and statuses(result) == [401]
    assert sleep.delays == []
    assert "401" in result.error and "rejected" in result.error
    assert UNKNOWN_KEY not in result.error and UNKNOWN_KEY not in result.attempts[0].error
    assert result.catalog is None
    assert logged(server, 1) == [{"path": "/v1/models", "license": None, "provider": "default", "status": 401}]


def test_forbidden_key_is_auth_error_without_retry(server: SimulatorServer, pull, sleep: RecordingSleep) -> None:
    """403 (a key without access to this catalog) is the key's fault like 401: asking again cannot help."""
    server.add_fault("echo_key", count=None, status=403)
    result = pull()
    assert result.status == "auth_error"
    assert result.http_status == 403 and statuses(result) == [403]
    assert sleep.delays == []
    assert result.error == "HTTP 403: the API key was rejected (invalid, expired or lacking access)"
    assert len(logged(server, 1)) == 1  # no second try


def test_429_retry_after_is_honoured(server: SimulatorServer, pull, api: ApiConfig, sleep: RecordingSleep) -> None:
    server.add_fault("rate_limited", count=1, retry_after=1)
    started = time.monotonic()
    result = pull(config=replace(api, max_backoff_seconds=1.0))  # no longer than the limit: honoured
    assert time.monotonic() - started >= 1.0
    assert result.status == "ok"
    assert statuses(result) == [429, 200]
    assert "429" in result.attempts[0].error
    assert sleep.delays == [pytest.approx(1.0)]
    assert sleep.delays[0] >= 1.0  # the exponential backoff alone would be 0.01 at most


def test_retry_after_as_a_past_http_date_means_retry_now(server: SimulatorServer, pull, sleep: RecordingSleep) -> None:
    past = format_datetime(datetime.now(timezone.utc) - timedelta(hours=1), usegmt=True)
    server.add_fault("rate_limited", count=1, retry_after=past)
    result = pull()
    assert result.status == "ok" and statuses(result) == [429, 200]
    assert len(sleep.delays) == 1 and sleep.delays[0] <= 0.01


def test_retry_after_zero_still_waits_the_jittered_backoff(server: SimulatorServer, pull, sleep: RecordingSleep) -> None:
    """Retry-After only ever lengthens the wait: catalogs told "0" together must not retry in step."""
    server.add_fault("rate_limited", count=1, retry_after=0)
    result = pull()
    assert result.status == "ok" and statuses(result) == [429, 200]
    assert len(sleep.delays) == 1 and 0.005 <= sleep.delays[0] <= 0.01  # the first backoff, 50-100% of 0.01


# the three forms of an HTTP-date (RFC 9110 5.6.7): a recipient must read the two obsolete ones too;
# asctime's has no zone, and "-0000" says the zone is unknown: both are GMT
HTTP_DATE_FORMS: dict[str, Callable[[datetime], str]] = {
    "IMF-fixdate": lambda when: format_datetime(when, usegmt=True),
    "rfc850": lambda when: when.strftime("%A, %d-%b-%y %H:%M:%S GMT"),
    "asctime": lambda when: when.strftime("%a %b %d %H:%M:%S %Y"),
    "rfc2822 with -0000": lambda when: when.strftime("%a, %d %b %Y %H:%M:%S -0000"),
}


@pytest.mark.parametrize("form", HTTP_DATE_FORMS)
def test_retry_after_as_an_http_date_in_any_form(server: SimulatorServer, pull, sleep: RecordingSleep, form: str) -> None:
    now = datetime.now(timezone.utc)
    server.add_fault("rate_limited", count=1, retry_after=HTTP_DATE_FORMS[form](now - timedelta(hours=1)))
    past = pull()
    assert past.status == "ok" and statuses(past) == [429, 200]
    assert len(sleep.delays) == 1 and sleep.delays[0] <= 0.01  # retry now, after the plain backoff
    server.add_fault("rate_limited", count=None, retry_after=HTTP_DATE_FORMS[form](now + timedelta(hours=1)))
    future = pull()  # an hour is beyond max_backoff_seconds = 0.5
    assert (future.status, future.http_status, len(future.attempts), len(sleep.delays)) == ("unavailable", 429, 1, 1)
    assert "beyond api.max_backoff_seconds" in future.error, future.error


def test_retry_after_beyond_max_backoff_gives_up_early(server: SimulatorServer, pull, sleep: RecordingSleep) -> None:
    server.add_fault("rate_limited", count=None, retry_after=60)
    result = pull()
    assert result.status == "unavailable"
    assert result.http_status == 429
    assert len(result.attempts) == 1 and sleep.delays == []
    assert "429" in result.error and "60 s" in result.error and "max_backoff_seconds" in result.error
    assert len(logged(server, 1)) == 1  # no second try


def test_retry_after_just_beyond_max_backoff_gives_up_too(server: SimulatorServer, pull, sleep: RecordingSleep) -> None:
    server.add_fault("rate_limited", count=None, retry_after=1)
    result = pull()  # max_backoff_seconds = 0.5
    assert (result.status, len(result.attempts), sleep.delays) == ("unavailable", 1, [])
    assert "asked to retry after 1 s, beyond api.max_backoff_seconds" in result.error


@pytest.mark.parametrize("retry_after", ["\u00b2", "1.5", "-1", "soon"])
def test_unparsable_retry_after_is_ignored_not_raised(server: SimulatorServer, pull, sleep: RecordingSleep,
                                                      retry_after: str) -> None:
    """'\u00b2' (sent as latin-1 byte 0xB2) passes str.isdigit() but not float()."""
    server.add_fault("rate_limited", count=1, retry_after=retry_after)
    result = pull()
    assert result.status == "ok" and statuses(result) == [429, 200]
    assert len(sleep.delays) == 1 and sleep.delays[0] <= 0.01  # plain backoff


def test_500_is_retried(server: SimulatorServer, pull, sleep: RecordingSleep) -> None:
    server.add_fault("server_error", count=1)
    result = pull()
    assert result.status == "ok"
    assert statuses(result) == [500, 200]
    assert result.attempts[0].error == "HTTP 500"
    assert len(sleep.delays) == 1
    assert as_api(result) == served(server)


def test_every_5xx_up_to_599_is_retried(api: ApiConfig, sleep: RecordingSleep) -> None:
    """599 (a proxy's network timeout) is a server error like 500: the next attempt may succeed."""
    answered: list[int] = []

    class Gateway(JsonAnswer):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            answered.append(599 if not answered else 200)
            self.answer(answered[-1], json.dumps([ONE_MODEL]).encode())

    result, _ = fetch_from(api, Gateway, sleep=sleep)
    assert result.status == "ok" and statuses(result) == [599, 200] == answered
    assert result.attempts[0].error == "HTTP 599" and len(sleep.delays) == 1


def test_backoff_delays_are_jittered(server: SimulatorServer, http: httpx.Client, api: ApiConfig) -> None:
    """Catalogs failing together must not retry in step: each draws its own 50-100% of the backoff."""
    delays: list[float] = []
    for seed in range(3):
        server.add_fault("unavailable", count=1)
        result = fetch_catalog(http, api, PROD.api_key, "default", sleep=delays.append, rng=random.Random(seed))
        assert result.status == "ok" and statuses(result) == [503, 200]
    assert len(delays) == 3 and all(0.005 <= d <= 0.01 for d in delays), delays
    assert len(set(delays)) == 3, delays


@pytest.mark.parametrize("status", [203, 206])
def test_a_success_other_than_200_is_not_taken_for_the_catalog(api: ApiConfig, sleep: RecordingSleep, status: int) -> None:
    """206 is part of a list, 203 a proxy's rewrite of it: taken for the catalog, what is missing would look removed."""
    body = json.dumps([ONE_MODEL]).encode()
    result, base = fetch_from(api, answering(status, body), sleep=sleep)
    assert (result.status, result.http_status, result.body, result.catalog) == ("invalid", status, body, None)
    assert result.error == f"HTTP {status} from {base}/v1/models: not a catalog (check api.base_url)"
    assert sleep.delays == []


def test_dropped_connection_is_retried_then_ok(server: SimulatorServer, pull, sleep: RecordingSleep) -> None:
    server.add_fault("drop_connection", count=2)
    result = pull()
    assert result.status == "ok"
    assert statuses(result) == [None, None, 200]
    for attempt in result.attempts[:2]:
        assert "RemoteProtocolError" in attempt.error and "disconnected" in attempt.error.lower()
        assert "\n" not in attempt.error
    assert len(sleep.delays) == 2
    assert [r["status"] for r in logged(server, 3)] == [None, None, 200]
    assert as_api(result) == served(server)


def test_a_key_echoed_in_a_broken_header_line_is_masked_even_escaped(api: ApiConfig, sleep: RecordingSleep) -> None:
    """A proxy that sends the request's Authorization line back as a header line without a colon:
    h11's error quotes it by repr, escaping the key's backslash and quotes."""
    key = "qk\\live\"SECRET'key-0123456789"

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.wfile.write(b"HTTP/1.1 200 OK\r\n" + self.headers["Authorization"].encode() + b"\r\nContent-Length: 0\r\n\r\n")

        def log_message(self, *args: object) -> None:
            pass

    result, base = fetch_from(api, Echo, key, sleep)
    assert result.status == "unavailable"
    assert all(attempt.error == "RemoteProtocolError calling " + base + "/v1/models: illegal header line: bytearray(b'Bearer ***')"
               for attempt in result.attempts), result.attempts[0].error
    assert "SECRET" not in (result.error or "")


def test_debug_logging_never_shows_a_header_echoing_the_key(api: ApiConfig, sleep: RecordingSleep, caplog: pytest.LogCaptureFixture) -> None:
    """Root logging at DEBUG (PREFECT_LOGGING_ROOT_LEVEL=DEBUG): httpcore would log the response's headers."""
    from flows import secrets  # noqa: F401 - whoever holds a key imported it, and it quiets httpcore
    key = "qk-echoed-in-a-header-0123456789"

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(503)
            self.send_header("X-Echo", self.headers["Authorization"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    caplog.set_level(logging.DEBUG)
    result, _ = fetch_from(api, Echo, key, sleep)
    assert result.status == "unavailable"
    assert "HTTP Request: GET" in caplog.text, "logging was on"
    assert key not in caplog.text and "echoed" not in caplog.text


def test_dropped_connection_every_time_is_unavailable(server: SimulatorServer, pull) -> None:
    server.add_fault("drop_connection", count=None)
    result = pull()
    assert result.status == "unavailable"
    assert result.http_status is None and result.body is None
    assert statuses(result) == [None] * 4
    assert "gave up after 4 attempt" in result.error and "RemoteProtocolError" in result.error


def test_timeout_is_retried_then_unavailable(server: SimulatorServer, api: ApiConfig, sleep: RecordingSleep,
                                             responses: ResponseCounter) -> None:
    short = replace(api, timeout_seconds=0.3)
    server.add_fault("latency", count=None, seconds=1.0)
    gave_up_at = None
    try:
        with make_http_client(short) as client:
            client.event_hooks["response"].append(responses)
            started = time.monotonic()
            result = fetch_catalog(client, short, PROD.api_key, "default", sleep=sleep, rng=random.Random(7))
            gave_up_at = time.monotonic()
            server.clear_faults()
            assert result.status == "unavailable"
            assert statuses(result) == [None] * 4
            assert all("ReadTimeout" in a.error and "timed out" in a.error for a in result.attempts)
            assert "timed out" in result.error and "gave up after 4 attempt" in result.error
            # Each attempt was cut at the timeout rather than served late.
            assert 4 * 0.3 <= gave_up_at - started < 4 * 1.0
            assert len(sleep.delays) == 3
            # The same client recovers as soon as the gateway is fast again.
            again = fetch_catalog(client, short, PROD.api_key, "default", sleep=sleep)
            assert again.status == "ok" and statuses(again) == [200]
    finally:
        server.clear_faults()
        # A slow handler sleeps first and only then takes a response fault, so one still asleep
        # would consume the next test's fault. The last one started ~0.3 s before the client gave
        # up and wakes 1 s after it started.
        time.sleep(max(0.0, (gave_up_at or time.monotonic()) + 0.8 - time.monotonic()))


# --- bodies that are not a catalog -----------------------------------------------------------

INVALID_BODY_CASES = [
    ("malformed_json", ["not JSON"]),
    ("truncated", ["not JSON"]),
    ("html_200", ["not JSON", "HTML"]),
    ("duplicate_conflict", ["listed twice with different content"]),
]


@pytest.mark.parametrize(("fault", "phrases"), INVALID_BODY_CASES, ids=[c[0] for c in INVALID_BODY_CASES])
def test_unusable_body_is_invalid_and_kept_byte_for_byte(server: SimulatorServer, http: httpx.Client, pull,
                                                         sleep: RecordingSleep, fault: str, phrases: list[str]) -> None:
    server.add_fault(fault, count=2)
    raw = raw_response(http, server)  # consumes the first use: the exact bytes the server sends
    assert raw.status_code == 200
    result = pull()
    assert result.status == "invalid"
    assert result.http_status == 200 and statuses(result) == [200]
    assert sleep.delays == []  # the server answered; asking again would not help
    assert result.catalog is None
    assert result.body == raw.content
    for phrase in phrases:
        assert phrase in result.error, result.error
    assert "\n" not in result.error and len(result.error) < 300
    assert result.attempts[0].error == result.error


ONE_MODEL = {"id": "m", "name": "M", "cost": {"input_cost_per_micro_credit": 0.001, "output_cost_per_micro_credit": 0.002},
             "context_window": None, "max_output_tokens": None}
UNREADABLE_BODY_CASES = [
    # bodies the simulator does not make: (id, body, the one-line error)
    ("huge-integer", json.dumps([ONE_MODEL | {"serial": 1}]).replace('"serial": 1', '"serial": ' + "7" * 5000).encode(),
     "response JSON holds an integer too long to read (over 4300 digits)"),
    ("one-page-of-many", json.dumps({"object": "list", "data": [ONE_MODEL], "has_more": True}).encode(),
     "response is one page of a longer list (has_more set): a partial catalog would fake removals"),
    ("next-cursor", json.dumps({"data": [ONE_MODEL], "next_cursor": "abc"}).encode(),
     "response is one page of a longer list (next_cursor set): a partial catalog would fake removals"),
    ("next-url", json.dumps({"data": [ONE_MODEL], "next": "https://gateway.example/v1/models?page=2"}).encode(),
     "response is one page of a longer list (next set): a partial catalog would fake removals"),
    ("next-page", json.dumps({"data": [ONE_MODEL], "next_page": 2}).encode(),
     "response is one page of a longer list (next_page set): a partial catalog would fake removals"),
    ("next-page-token", json.dumps({"data": [ONE_MODEL], "next_page_token": "t2"}).encode(),
     "response is one page of a longer list (next_page_token set): a partial catalog would fake removals"),
    ("deeply-nested", b"[" * 100_000 + b"]" * 100_000, "response JSON is nested too deeply to be a catalog"),
    ("html-without-doctype", b"<html><body><h1>502 Bad Gateway</h1></body></html>\n",
     "response body is not JSON (Expecting value: line 1 column 1); it looks like an HTML page"),
]


@pytest.mark.parametrize(("body", "error"), [c[1:] for c in UNREADABLE_BODY_CASES], ids=[c[0] for c in UNREADABLE_BODY_CASES])
def test_a_body_that_cannot_be_the_whole_catalog_is_invalid_and_kept(api: ApiConfig, sleep: RecordingSleep, body: bytes, error: str) -> None:
    result, _ = fetch_from(api, answering(200, body), sleep=sleep)
    assert (result.status, result.error, result.body) == ("invalid", error, body)


def test_a_last_page_envelope_is_the_whole_catalog(api: ApiConfig, sleep: RecordingSleep) -> None:
    envelope = {"object": "list", "data": [ONE_MODEL], "has_more": False, "next_cursor": None}
    result, _ = fetch_from(api, answering(200, json.dumps(envelope).encode()), sleep=sleep)
    assert result.status == "ok" and [m.model_id for m in result.catalog.models] == ["m"]


@pytest.mark.parametrize("markers", [{"next": ""}, {"next_page_token": ""}, {"next_cursor": ""}, {"next": []}],
                         ids=["empty-next", "empty-token", "empty-cursor", "no-next-links"])
def test_an_empty_next_marker_is_the_last_page(api: ApiConfig, sleep: RecordingSleep, markers: dict[str, Any]) -> None:
    """Gateways end a paged list with an empty cursor as often as with null: that page is the whole list."""
    result, _ = fetch_from(api, answering(200, json.dumps({"object": "list", "data": [ONE_MODEL], **markers}).encode()), sleep=sleep)
    assert result.status == "ok", result.error
    assert [m.model_id for m in result.catalog.models] == ["m"]


def test_conflicting_duplicate_names_the_model(server: SimulatorServer, pull) -> None:
    server.add_fault("duplicate_conflict", count=1)
    result = pull()
    first_id = served(server)[0]["id"]
    assert result.error == f"model {first_id!r} is listed twice with different content"


@pytest.mark.parametrize(("first", "second"), [(1, True), (0, False), ([1], [True]), ({"on": 1}, {"on": True})])
def test_duplicates_differing_in_true_and_1_conflict(server: SimulatorServer, pull, first: Any, second: Any) -> None:
    """Python's == takes true for 1: the second entry's value would be dropped unseen as "identical"."""
    server.add_fault("override", count=1, models=[model("m", flag=first), model("m", flag=second)])
    result = pull()
    assert (result.status, result.error) == ("invalid", "model 'm' is listed twice with different content")


def test_duplicates_differing_only_in_how_a_number_is_written_are_identical(server: SimulatorServer, pull) -> None:
    """1 and 1.0 are one JSON number, as the rates compare."""
    server.add_fault("override", count=1, models=[model("m", flag=1, context_window=1000), model("m", flag=1.0, context_window=1000)])
    result = pull()
    assert result.status == "ok", result.error
    assert [m.model_id for m in result.catalog.models] == ["m"] and len(result.catalog.warnings) == 1


def test_identical_duplicate_is_kept_once_with_a_warning(server: SimulatorServer, pull) -> None:
    server.add_fault("duplicate_identical", count=1)
    result = pull()
    expected = served(server)
    assert result.status == "ok"
    assert len(json.loads(result.body)) == len(expected) + 1
    assert as_api(result) == expected
    assert len(result.catalog.warnings) == 1
    assert repr(expected[0]["id"]) in result.catalog.warnings[0]
    assert "identical" in result.catalog.warnings[0]


def test_data_envelope_is_accepted(server: SimulatorServer, pull) -> None:
    server.add_fault("envelope", count=1)
    result = pull()
    assert result.status == "ok"
    assert set(json.loads(result.body)) == {"data", "object"}
    assert as_api(result) == served(server)


def test_unknown_fields_are_kept_in_extra_json(server: SimulatorServer, pull) -> None:
    server.add_fault("extra_fields", count=1)
    result = pull()
    assert result.status == "ok"
    assert as_api(result) == served(server)  # known fields are unaffected
    for parsed, raw in zip(result.catalog.models, json.loads(result.body), strict=True):
        assert parsed.extra_json is not None
        assert json.loads(parsed.extra_json) == {
            "provider_meta": {"tier": "standard"},
            "modality": "text",
            "cost": {"cache_read_cost_per_micro_credit": raw["cost"]["cache_read_cost_per_micro_credit"]},
        }


INVALID_MODEL_CASES = [
    # (id, served models, phrases the one-line error must contain)
    ("missing-id", [{k: v for k, v in model().items() if k != "id"}], ["model #0", "id"]),
    ("empty-id", [model("")], ["model #0", "id"]),
    ("blank-id", [model("m0"), model("   ")], ["model #1", "id"]),
    ("numeric-id", [model(42)], ["model #0", "id"]),
    ("negative-rate", [model("m1", cost={"input_cost_per_micro_credit": -0.001, "output_cost_per_micro_credit": 0.002})],
     ["'m1'", "cost.input_cost_per_micro_credit", "non-negative"]),
    ("string-rate", [model("m2", cost={"input_cost_per_micro_credit": 0.001, "output_cost_per_micro_credit": "0.002"})],
     ["'m2'", "cost.output_cost_per_micro_credit", "must be a number", '"0.002"']),
    ("nan-rate", [model("m3", cost={"input_cost_per_micro_credit": float("nan"), "output_cost_per_micro_credit": 0.1})],
     ["'m3'", "cost.input_cost_per_micro_credit", "finite"]),
    ("infinite-rate", [model("m4", cost={"input_cost_per_micro_credit": 0.1, "output_cost_per_micro_credit": float("inf")})],
     ["'m4'", "cost.output_cost_per_micro_credit", "finite"]),
    ("huge-int-rate", [model("m5", cost={"input_cost_per_micro_credit": 10**400, "output_cost_per_micro_credit": 0})],
     ["'m5'", "cost.input_cost_per_micro_credit", "finite", "got 1000000000000000000000000000000000000..."]),
    ("bool-rate", [model("m6", cost={"input_cost_per_micro_credit": True, "output_cost_per_micro_credit": 0})],
     ["'m6'", "cost.input_cost_per_micro_credit", "must be a number", "true"]),
    ("missing-rate", [model("m7", cost={"input_cost_per_micro_credit": 0.1})],
     ["'m7'", "cost.output_cost_per_micro_credit", "null"]),
    ("no-cost", [model("m8", cost=None)], ["'m8'", "cost must be an object"]),
    ("float-context", [model("m9", context_window=1000.5)], ["'m9'", "context_window", "1000.5"]),
    ("negative-context", [model("m10", context_window=-1)], ["'m10'", "context_window", "non-negative"]),
    ("context-beyond-int64", [model("m15", context_window=2**63)], ["'m15'", "context_window", "non-negative integer"]),
    ("bool-max-output", [model("m11", max_output_tokens=True)], ["'m11'", "max_output_tokens", "true"]),
    ("string-name", [model("m12", name=["x"])], ["'m12'", "name must be a string"]),
    ("not-an-object", [model("ok"), "m13"], ["model #1", "str"]),
    ("surrogate-id", [model("x\ud800")], ["model 'x\\ud800'", "id holds a lone UTF-16 surrogate"]),
    ("surrogate-name", [model("m14", name="a\udfff")], ["'m14'", "name holds a lone UTF-16 surrogate"]),
    ("bad-model-after-good-ones", [model("a"), model("b"), model("c", context_window="big")], ["'c'", "context_window"]),
    ("object-without-data", {"models": [model()]}, ["dict", "list of models"]),
]


@pytest.mark.parametrize(("models", "phrases"), [c[1:] for c in INVALID_MODEL_CASES], ids=[c[0] for c in INVALID_MODEL_CASES])
def test_invalid_model_makes_the_whole_pull_invalid(server: SimulatorServer, pull, models: Any,
                                                    phrases: list[str]) -> None:
    server.add_fault("override", count=1, models=models)
    result = pull()
    assert result.status == "invalid"
    assert result.catalog is None  # all or nothing, never a partial catalog
    assert result.http_status == 200 and len(result.attempts) == 1
    assert result.body == json.dumps(models).encode()
    for phrase in phrases:
        assert phrase in result.error, result.error
    assert "\n" not in result.error


def test_integer_costs_parse_to_floats(server: SimulatorServer, pull) -> None:
    server.add_fault("override", count=1, models=[
        model("free", cost={"input_cost_per_micro_credit": 0, "output_cost_per_micro_credit": 1},
              context_window=None, max_output_tokens=None),
    ])
    result = pull()
    assert b'"input_cost_per_micro_credit": 0,' in result.body  # really served as JSON integers
    assert result.status == "ok"
    (parsed,) = result.catalog.models
    assert (parsed.input_cost, parsed.output_cost) == (0.0, 1.0)
    assert type(parsed.input_cost) is float and type(parsed.output_cost) is float
    assert (parsed.context_window, parsed.max_output_tokens) == (None, None)
    assert parsed.extra_json is None


def test_limits_at_both_ends_of_their_range_are_kept(server: SimulatorServer, pull) -> None:
    """0 is a real limit (an embedding model writes no output tokens), and so is the largest int64."""
    server.add_fault("override", count=1, models=[
        model("embed", context_window=0, max_output_tokens=0),
        model("huge", context_window=2**63 - 1, max_output_tokens=2**63 - 1),
    ])
    result = pull()
    assert result.status == "ok", result.error
    assert [(m.model_id, m.context_window, m.max_output_tokens) for m in result.catalog.models] == [
        ("embed", 0, 0), ("huge", 2**63 - 1, 2**63 - 1)]


def test_rates_keep_their_exact_precision(server: SimulatorServer, pull) -> None:
    rates = [(0.0016, 0.0016000000000001), (1e-12, 123456.789012345), (5e-324, 0.1 + 0.2)]
    server.add_fault("override", count=1, models=[
        model(f"p{i}", cost={"input_cost_per_micro_credit": a, "output_cost_per_micro_credit": b})
        for i, (a, b) in enumerate(rates)
    ])
    result = pull()
    assert result.status == "ok"
    assert b"0.0016000000000001" in result.body
    got = [(m.input_cost, m.output_cost) for m in result.catalog.models]
    assert got == rates
    assert got[0][0] != got[0][1]
    assert [repr(m.output_cost) for m in result.catalog.models][:2] == ["0.0016000000000001", "123456.789012345"]


# --- secrets -------------------------------------------------------------------------------


def test_a_key_quoted_back_is_replaced_before_anything_reads_the_body(server: SimulatorServer, pull) -> None:
    """The archive keeps bodies for good: a gateway that echoes the credentials it got must not put
    the key there, nor a cut copy of it into an error (values are shortened to 40 characters)."""
    server.add_fault("echo_key")
    refused = pull()
    assert refused.status == "auth_error" and refused.body is not None
    assert json.loads(refused.body) == {"error": "invalid api key", "received": "Bearer ***"}
    assert refused.warnings == ("the response carried the API key; it was replaced by *** before archiving",)
    server.add_fault("override", models=[model("m", cost={"input_cost_per_micro_credit": f"Bearer {PROD.api_key}", "output_cost_per_micro_credit": 0.002})])
    invalid = pull()
    assert invalid.status == "invalid" and invalid.warnings
    assert PROD.api_key[:12] not in (invalid.error or "") and "Bearer ***" in (invalid.error or ""), invalid.error
    assert PROD.api_key.encode() not in (invalid.body or b"")
    assert pull().warnings == (), "a body without the key is kept as it came"


def _each_character(text: str, escape: Callable[[str], str]) -> str:
    return "".join(map(escape, text))


# how servers write back the key they got (the part after "Bearer "), inside a JSON string
ECHOING_ENCODERS: dict[str, Callable[[str], str]] = {
    "json": lambda key: json.dumps(key)[1:-1],
    "escaped slashes": lambda key: json.dumps(key)[1:-1].replace("/", "\\/"),
    "html-safe": lambda key: json.dumps(key)[1:-1].replace("<", "\\u003c").replace(">", "\\u003E").replace("&", "\\u0026"),
    "every character as \\uXXXX": lambda key: _each_character(key, lambda char: f"\\u{ord(char):04x}"),
    "html entities": lambda key: json.dumps(html.escape(key))[1:-1],
    "numeric html entities": lambda key: _each_character(key, lambda char: f"&#x{ord(char):X};" if char.isalpha() else f"&#{ord(char)};"),
    "url-encoded": lambda key: urllib.parse.quote(key, safe=""),
    "url-encoded letters too": lambda key: _each_character(key, lambda char: f"%{ord(char):02x}"),
    "mixed": lambda key: _each_character(key, lambda char: f"%{ord(char):02X}" if char.isdigit() else f"\\u{ord(char):04X}" if char.isupper() else json.dumps(char)[1:-1]),
}


# the encodings JSON readers accept, as servers write them: byte-order marks of either order, or none
CHARSETS: dict[str, Callable[[str], bytes]] = {
    "utf-8": str.encode,
    "utf-16, this machine's order and mark": lambda text: text.encode("utf-16"),
    "utf-16-be with its mark": lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
    "utf-32-be": lambda text: text.encode("utf-32-be"),
    "utf-16-le cut off mid-character": lambda text: text.encode("utf-16-le") + b"\n",
    "utf-32 with its little-endian mark": lambda text: codecs.BOM_UTF32_LE + text.encode("utf-32-le"),
    "utf-32-le cut off mid-character": lambda text: text.encode("utf-32-le") + b"\n\x00",
    "utf-16-le with a lone surrogate": lambda text: text.replace("}", ', "odd": "\ud800"}').encode("utf-16-le", "surrogatepass"),
}


@pytest.mark.parametrize("encoder", ECHOING_ENCODERS)
@pytest.mark.parametrize("charset", CHARSETS)
def test_a_key_quoted_back_escaped_is_found_too(api: ApiConfig, encoder: str, charset: str) -> None:
    """Servers write a key's characters as they like (`\\/`, `\\u0026`, `&amp;`, `%2F`), in any of
    the encodings JSON readers accept; each form decodes to the key, so each must be replaced, and
    every other byte kept as it came."""
    key = 'sk/live"<x>&\\9f3Kq2'

    def body(echoed: str) -> bytes:
        return CHARSETS[charset]('{"error": "invalid api key", "received": "Bearer ' + echoed + '"}')

    result = echo_401(api, key, lambda echoed: body(ECHOING_ENCODERS[encoder](echoed)))
    assert result.status == "auth_error" and result.warnings
    assert result.body == body("***")


# escapes HTML readers decode to the key too, that the forms above do not write
MORE_ECHOING_ENCODERS: dict[str, Callable[[str], str]] = {
    "decimal entities with leading zeros": lambda key: _each_character(key, lambda char: f"&#{ord(char):05d};"),
    "hex entities with a capital X": lambda key: _each_character(key, lambda char: f"&#X{ord(char):x};"),
    "xml's named entities": lambda key: json.dumps(key.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                                                   .replace('"', "&quot;").replace("'", "&apos;"))[1:-1],
}


@pytest.mark.parametrize("encoder", MORE_ECHOING_ENCODERS)
def test_a_key_quoted_back_in_other_html_escapes_is_found_too(api: ApiConfig, encoder: str) -> None:
    key = "sk/it's<9f3Kq2>&x"

    def body(echoed: str) -> bytes:
        return ('{"error": "invalid api key", "received": "Bearer ' + MORE_ECHOING_ENCODERS[encoder](echoed) + '"}').encode()

    result = echo_401(api, key, body)
    assert result.status == "auth_error" and result.warnings
    assert result.body == b'{"error": "invalid api key", "received": "Bearer ***"}'


def test_a_key_of_exactly_the_shortest_length_looked_for_is_replaced(api: ApiConfig) -> None:
    key = "k3y-8chr"  # MIN_REDACTED_KEY characters

    def body(echoed: str) -> bytes:
        return json.dumps({"error": "invalid api key", "received": f"Bearer {echoed}"}).encode()

    result = echo_401(api, key, body)
    assert result.status == "auth_error" and result.warnings
    assert result.body == body("***")


def test_a_key_in_a_wide_body_that_is_not_text_is_found_as_it_is(api: ApiConfig) -> None:
    """UTF-32 with a code unit beyond Unicode decodes to nothing: the key's own code units are still replaced."""
    key = "sk-live-9f3Kq2abc"

    def body(echoed: str) -> bytes:
        return (('{"received": "Bearer ' + echoed + '", "odd": "').encode("utf-32-be") + b"\x00\x11\x00\x00"
                + '"}'.encode("utf-32-be"))

    result = echo_401(api, key, body)
    assert result.status == "auth_error" and result.warnings
    assert result.body == body("***")


def test_a_key_in_utf16_without_a_byte_order_mark_is_found(api: ApiConfig) -> None:
    """A plain-text 401 in UTF-16 whose first character is above U+00FF reads as UTF-8 to JSON's
    detection: the key's wide code units are replaced all the same."""
    key = "sk-live-9f3Kq2abc"
    for codec in ("utf-16-le", "utf-16-be"):
        def body(echoed: str, codec: str = codec) -> bytes:
            return ("Ошибка: ключ " + echoed + " отклонён").encode(codec)

        result = echo_401(api, key, body)
        assert result.status == "auth_error" and result.warnings, codec
        assert result.body == body("***"), codec


def test_a_key_too_short_to_look_for_in_bodies_is_still_kept_out_of_errors(api: ApiConfig, sleep: RecordingSleep) -> None:
    """Below MIN_REDACTED_KEY characters the body is archived as it came, but no message may carry the key."""
    key = "k-42xy"

    class EchoingGateway(JsonAnswer):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            self.answer(200, json.dumps([model(self.headers["Authorization"].removeprefix("Bearer "), cost=None)]).encode())

    result, _ = fetch_from(api, EchoingGateway, key, sleep)
    assert result.status == "invalid" and result.warnings == ()
    assert result.error == "model '***': cost must be an object with input and output rates"
    assert result.attempts[0].error == result.error


@pytest.mark.parametrize(("fault", "params"), [
    ("unavailable", {"count": None}),
    ("server_error", {"count": None}),
    ("drop_connection", {"count": None}),
    ("rate_limited", {"count": None, "retry_after": 3600}),
    ("malformed_json", {}),
    ("html_200", {}),
    ("override", {"models": [model(PROD.api_key, context_window="x")]}),  # the key echoed back as an id
    ("override", {"models": [model(PROD.api_key), model(PROD.api_key, name="other")]}),
])
def test_the_api_key_never_appears_in_errors(server: SimulatorServer, pull, fault: str, params: dict[str, Any]) -> None:
    server.add_fault(fault, **params)
    result = pull()
    assert result.status != "ok"
    texts = [result.error, *(a.error for a in result.attempts), repr(result.attempts)]
    assert all(PROD.api_key not in (text or "") for text in texts), texts
    requests = logged(server, len(result.attempts))
    assert requests and all(r["license"] == PROD.name for r in requests)  # the key did authenticate
