"""Pull one catalog from the Quantized API with bounded, polite retries.

A pull never raises for anything the server or the network does: it returns a typed result so
that one broken catalog is recorded (and archived) instead of stopping the others.
"""

from __future__ import annotations

import codecs
import email.utils
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx

from flows.archive import PullStatus
from flows.catalog import Catalog, InvalidCatalog, parse_catalog
from flows.config import ApiConfig

USER_AGENT = "qcat/0.1 (+catalog snapshots)"
# a key shorter than this is not looked for in responses: it could match ordinary text, and
# replacing that would falsify the catalog
MIN_REDACTED_KEY = 8
# what an escaped key's characters start with: a body holding none of them holds the key only as it is
ESCAPE_MARKS = (b"\\u", b"&#", b"%")
HTML_NAMES = {"&": b"&amp;", "<": b"&lt;", ">": b"&gt;", '"': b"&quot;", "'": b"&apos;"}
WIDE_CODECS = ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
# UTF-32's little-endian mark begins like UTF-16's: checked first, as json.detect_encoding does
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass(frozen=True)
class Attempt:
    number: int
    http_status: int | None
    error: str | None
    elapsed_ms: int


@dataclass(frozen=True)
class FetchResult:
    status: PullStatus
    http_status: int | None
    attempts: tuple[Attempt, ...]
    body: bytes | None
    catalog: Catalog | None
    error: str | None
    warnings: tuple[str, ...] = ()


def make_http_client(api: ApiConfig) -> httpx.Client:
    """One client per run so that connections are reused across catalogs of the same host."""
    timeout = httpx.Timeout(api.timeout_seconds, connect=min(10.0, api.timeout_seconds))
    limits = httpx.Limits(max_connections=api.max_concurrency, max_keepalive_connections=api.max_concurrency)
    return httpx.Client(timeout=timeout, limits=limits, headers={"User-Agent": USER_AGENT})


def fetch_catalog(
    client: httpx.Client,
    api: ApiConfig,
    api_key: str,
    provider: str,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> FetchResult:
    url = f"{api.base_url}/models"
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
    if provider != "default":
        headers["X-Quantized-Provider"] = provider
    jitter = rng or random.Random()
    attempts: list[Attempt] = []
    body: bytes | None = None
    warnings: tuple[str, ...] = ()
    for number in range(1, api.max_attempts + 1):
        started = time.monotonic()
        try:
            response = client.get(url, headers=headers)
        except httpx.RequestError as exc:  # transport errors, and a body that fails to decode
            error = _redact(f"{type(exc).__name__} calling {url}: {exc}", api_key)
            attempts.append(Attempt(number, None, error, _ms(started)))
            delay = _backoff(api, number, jitter)
            if number == api.max_attempts:
                break
            sleep(delay)
            continue
        body, warnings = _without_key(response.content, api_key)
        status = response.status_code
        if status in (401, 403):
            error = f"HTTP {status}: the API key was rejected (invalid, expired or lacking access)"
            attempts.append(Attempt(number, status, error, _ms(started)))
            return FetchResult("auth_error", status, tuple(attempts), body, None, error, warnings)
        if status == 429 or 500 <= status <= 599:
            error = f"HTTP {status}" + (": catalog provider unavailable" if status == 503 else "")
            attempts.append(Attempt(number, status, error, _ms(started)))
            delay = _backoff(api, number, jitter)
            retry_after = _retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                if retry_after > api.max_backoff_seconds:
                    error += f" and asked to retry after {retry_after:.0f} s, beyond api.max_backoff_seconds"
                    attempts[-1] = Attempt(number, status, error, attempts[-1].elapsed_ms)
                    break
                delay = max(delay, retry_after)
            if number == api.max_attempts:
                break
            sleep(delay)
            continue
        if status != 200:
            error = f"HTTP {status} from {url}: not a catalog (check api.base_url)"
            attempts.append(Attempt(number, status, error, _ms(started)))
            return FetchResult("invalid", status, tuple(attempts), body, None, error, warnings)
        try:
            catalog = parse_catalog(body)
        except InvalidCatalog as exc:
            error = _redact(str(exc), api_key)
            attempts.append(Attempt(number, status, error, _ms(started)))
            return FetchResult("invalid", status, tuple(attempts), body, None, error, warnings)
        attempts.append(Attempt(number, status, None, _ms(started)))
        return FetchResult("ok", status, tuple(attempts), body, catalog, None, warnings)
    last = attempts[-1]
    error = f"gave up after {len(attempts)} attempt(s); last: {last.error}"
    return FetchResult("unavailable", last.http_status, tuple(attempts), body, None, error, warnings)


def _backoff(api: ApiConfig, attempt: int, rng: random.Random) -> float:
    """Exponential backoff with jitter, so that many catalogs failing together do not retry in step."""
    ceiling = min(api.max_backoff_seconds, api.backoff_seconds * 2 ** (attempt - 1))
    return ceiling * (0.5 + rng.random() / 2)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]+", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _without_key(body: bytes, api_key: str) -> tuple[bytes, tuple[str, ...]]:
    """A server that echoes what it received (often in a 401 body) would put the key in the archive,
    for good: archived files are never rewritten. The key is replaced before anything reads the
    body, so that the parsed catalog, errors, Parquet and DuckDB cannot carry it either. Found
    however it was written: JSON, HTML and URL escapes of any of its characters, in UTF-8 or in the
    UTF-16 or UTF-32 that JSON readers accept too. Every other byte stays as it came."""
    if len(api_key) < MIN_REDACTED_KEY:
        return body, ()
    wide = _wide_parts(body)
    if wide is None:
        cleaned, found = _redacted(body, api_key)
    else:
        codec, head, units, tail = wide
        try:
            # searched in a UTF-8 copy; lone surrogates (which JSON readers accept) pass through both ways
            text, found = _redacted(units.decode(codec, "surrogatepass").encode("utf-8", "surrogatepass"), api_key)
            cleaned = head + text.decode("utf-8", "surrogatepass").encode(codec, "surrogatepass") + tail if found else body
        except UnicodeError:  # not text even so: the key's own code units are searched for below
            cleaned, found = body, 0
    # the key as it is in every wide encoding, wherever it stands: a UTF-16 body without a byte-order
    # mark that starts with a character above U+00FF reads as UTF-8 above. Keys are ASCII: their wide
    # code units put a NUL beside each character, which no body means as anything but the key
    for codec in WIDE_CODECS:
        wide_key = api_key.encode(codec)
        if wide_key in cleaned:
            cleaned, found = cleaned.replace(wide_key, "***".encode(codec)), found + 1
    if not found:
        return body, ()
    return cleaned, ("the response carried the API key; it was replaced by *** before archiving",)


def _wide_parts(body: bytes) -> tuple[str, bytes, bytes, bytes] | None:
    """A UTF-16 or UTF-32 body as its codec, its byte-order mark (kept as it came: Python's utf-16
    codec would write this machine's byte order), its whole code units, and a cut-off tail."""
    encoding = json.detect_encoding(body)
    if encoding.startswith("utf-8"):
        return None
    head = b""
    for mark, codec in BYTE_ORDER_MARKS:
        if body.startswith(mark):
            head, encoding = mark, codec
            break
    units = body[len(head):]
    cut = len(units) - len(units) % (4 if "32" in encoding else 2)
    return encoding, head, units[:cut], units[cut:]


def _redacted(text: bytes, api_key: str) -> tuple[bytes, int]:
    longest_run = max(re.findall(r"[A-Za-z0-9]+", api_key) or [""], key=len).encode()
    if longest_run not in text and not any(escape in text for escape in ESCAPE_MARKS):
        return text, 0  # every unescaped form of the key holds its longest alphanumeric run: most bodies stop here
    return _key_pattern(api_key).subn(b"***", text)


def _key_pattern(api_key: str) -> re.Pattern[bytes]:
    """Each character as it is or escaped, independently: with a backslash (JSON's \\/ and \\"),
    as \\u00XX, as an HTML entity (&#NN;, &#xHH;, &amp; ...) or as URL %HH bytes, hex in either case."""
    parts = []
    for char in api_key:
        forms = [re.escape(char.encode())]
        if not char.isalnum():
            forms.append(rb"\\" + re.escape(char.encode()))
        if ord(char) <= 0xFFFF:
            forms.append(rb"\\u" + _hex(f"{ord(char):04x}"))
        forms.append(b"&#0*" + str(ord(char)).encode() + b";")
        forms.append(b"&#[xX]0*" + _hex(f"{ord(char):x}") + b";")
        if char in HTML_NAMES:
            forms.append(re.escape(HTML_NAMES[char]))
        forms.append(b"".join(b"%" + _hex(f"{byte:02x}") for byte in char.encode()))
        parts.append(b"(?:" + b"|".join(forms) + b")")
    return re.compile(b"".join(parts))


def _hex(digits: str) -> bytes:
    return b"".join(b"[" + digit.lower().encode() + digit.upper().encode() + b"]" if digit.isalpha() else digit.encode() for digit in digits)


def _redact(text: str, secret: str) -> str:
    """Belt and braces: the key travels in a header, but no message may ever carry it, escaped
    either (h11 quotes a bad header line by repr, so a key's backslash or quote comes back escaped)."""
    return _redacted(text.encode(), secret)[0].decode() if secret else text


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
