"""Load and validate qcat.toml.

Scripts and other tools write these files, so key names are fixed and every error names the
offending key in dotted form (`licenses[1].name`), the way a person would look for it.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flows import timespec
from flows.errors import ConfigError, UsageError

# DuckDB expands these in the archive paths that it reads
GLOB_CHARACTERS = frozenset("*?[]")
DEFAULT_BASE_URL = "https://api.quantized.us/v1"
DEFAULT_CONFIG_NAME = "qcat.toml"
CONFIG_ENV = "QCAT_CONFIG"
# Names become path segments (Hive partitions), so only characters that cannot escape a folder.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# what api_key_env and url_env accept: environment variable names as POSIX tools spell them. A key
# pasted there instead (sk_live_4f9a...) must fail here, or errors would name it as a variable
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
KNOWN_PROVIDERS = ("default", "openrouter", "anthropic")
# Prefect block document names. Checked so that a URL or key pasted in their place is refused
# before it can be echoed into errors, logs, DuckDB or the ledger: their errors never show the value.
BLOCK_NAME = r"[a-z0-9][a-z0-9-]*"
# cron fields in order: name, lowest and highest value, and the names that stand for values from the lowest on
CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    ("day-of-week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
CRON_ITEM = re.compile(r"^(?P<start>\*|[0-9]+|[a-z]{3})(?:-(?P<end>[0-9]+|[a-z]{3}))?(?:/(?P<step>[0-9]+))?$")
MIN_EXPIRE_AFTER = timedelta(hours=1)
MAX_EXPIRE_AFTER = timedelta(days=365)


@dataclass(frozen=True)
class ApiConfig:
    base_url: str = DEFAULT_BASE_URL
    timeout_seconds: float = 30.0
    max_concurrency: int = 8
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    allow_insecure_http: bool = False


@dataclass(frozen=True)
class ScheduleConfig:
    cron: str = "0 3 * * *"
    timezone: str = "UTC"


@dataclass(frozen=True)
class HistoryConfig:
    """The shrink guard's thresholds: the share of a catalog's current models a pull may lack, and the
    share of the most models it ever listed that a pull may list beyond that."""

    max_removed_share: float = 0.5
    max_added_share: float = 1.0


ALERT_EVENT_TYPES = ("rate_increase", "rate_decrease", "removed", "added", "readded", "renamed", "limits_changed", "catalog_failing")
DEFAULT_ALERT_EVENT_TYPES = ("rate_increase", "rate_decrease", "removed", "added", "readded", "catalog_failing")
CHANNEL_TYPES = ("webhook", "slack", "prefect", "jsonl")
DIRECTIONS = ("any", "increase", "decrease")


@dataclass(frozen=True)
class AlertRule:
    """Which events alert, and on which channels; filters are glob patterns, empty = all."""

    event_types: tuple[str, ...] = DEFAULT_ALERT_EVENT_TYPES
    min_pct: float = 5.0
    direction: str = "any"
    licenses: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    critical_pct: float = 50.0
    critical_event_types: tuple[str, ...] = ("removed",)


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    type: str
    url_env: str | None = None
    url_secret: str | None = None
    block: str | None = None
    path: Path | None = None
    mode: str = "digest"
    max_items: int = 25


@dataclass(frozen=True)
class AlertsConfig:
    channels: tuple[ChannelConfig, ...] = ()
    rules: tuple[AlertRule, ...] = (AlertRule(),)
    failing_after: int = 3
    expire_after: timedelta = timedelta(days=7)
    attempts: int = 3
    backoff_seconds: float = 1.0
    timeout_seconds: float = 10.0

    def channel(self, name: str) -> ChannelConfig:
        for channel in self.channels:
            if channel.name == name:
                return channel
        known = ", ".join(c.name for c in self.channels) or "none configured"
        raise ConfigError(f"alerts.channels: no channel named {name!r} ({known})")


@dataclass(frozen=True)
class LicenseConfig:
    name: str
    providers: tuple[str, ...]
    api_key_env: str | None = None
    api_key_secret: str | None = None


@dataclass(frozen=True)
class Config:
    data_dir: Path
    licenses: tuple[LicenseConfig, ...]
    api: ApiConfig = field(default_factory=ApiConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    lock_timeout_seconds: float = 600.0
    source: Path | None = None

    @property
    def catalogs(self) -> list[tuple[LicenseConfig, str]]:
        return [(lic, provider) for lic in self.licenses for provider in lic.providers]


def resolve_config_path(explicit: str | Path | None) -> Path:
    """--config wins over QCAT_CONFIG, which wins over ./qcat.toml."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return Path(DEFAULT_CONFIG_NAME)


def load_config(path: str | Path | None = None) -> Config:
    config_path = resolve_config_path(path)
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"configuration file {config_path} not found (use --config PATH or QCAT_CONFIG; "
            "see qcat.example.toml)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"configuration file {config_path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {config_path} is not valid TOML: {exc}") from None
    return parse_config(raw, base_dir=config_path.resolve().parent, source=config_path)


def check_data_dir(path: Path, where: str) -> Path:
    """DuckDB reads the archive's files by path and takes these characters for a pattern: it could
    read another folder's files."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{where}: {path} exists and is not a folder")
    if GLOB_CHARACTERS & set(str(path)):
        raise ConfigError(
            f"{where}: {path} contains one of {' '.join(sorted(GLOB_CHARACTERS))}, which DuckDB would read as a "
            "file pattern when it reads the archive; choose a folder whose path has none of them"
        )
    return path


def make_data_dir(config: Config) -> Config:
    """Writers create the data directory first: one that cannot be made is then one configuration
    error, not a failure inside every step that writes."""
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"storage.data_dir: cannot create {config.data_dir}: {exc.strerror or exc}") from None
    check_writable(config.data_dir)
    return config


def check_writable(data_dir: Path) -> None:
    """A folder that exists but refuses files (a read-only mount, another user's) is found before
    the work starts, not as a failure of every catalog's archive write and then of the load."""
    try:
        tempfile.TemporaryFile(dir=data_dir, prefix=".qcat-probe-").close()
    except OSError as exc:
        raise ConfigError(f"storage.data_dir: cannot write in {data_dir}: {exc.strerror or exc}") from None


def parse_config(raw: dict[str, Any], base_dir: Path, source: Path | None = None) -> Config:
    """Validate a parsed TOML document; relative paths are resolved against base_dir."""
    _only_keys(raw, "", {"api", "storage", "schedule", "history", "licenses", "alerts"})
    api_raw = _table(raw, "api")
    _only_keys(api_raw, "api.", set(ApiConfig.__dataclass_fields__))
    allow_insecure_http = _boolean(api_raw, "api.allow_insecure_http", False)
    api = ApiConfig(
        base_url=_gateway_url(api_raw, "api.base_url", allow_insecure_http),
        timeout_seconds=_number(api_raw, "api.timeout_seconds", 30.0, minimum=0.1),
        max_concurrency=_integer(api_raw, "api.max_concurrency", 8, minimum=1, maximum=256),
        max_attempts=_integer(api_raw, "api.max_attempts", 5, minimum=1, maximum=20),
        backoff_seconds=_number(api_raw, "api.backoff_seconds", 1.0, minimum=0.0),
        max_backoff_seconds=_number(api_raw, "api.max_backoff_seconds", 30.0, minimum=0.0),
        allow_insecure_http=allow_insecure_http,
    )
    storage_raw = _table(raw, "storage")
    _only_keys(storage_raw, "storage.", {"data_dir", "lock_timeout_seconds"})
    data_dir = Path(_string(storage_raw, "storage.data_dir", "data")).expanduser()
    if not data_dir.is_absolute():
        data_dir = base_dir / data_dir
    schedule_raw = _table(raw, "schedule")
    _only_keys(schedule_raw, "schedule.", {"cron", "timezone"})
    schedule = ScheduleConfig(
        cron=_cron(schedule_raw, "schedule.cron", "0 3 * * *"),
        timezone=_timezone(schedule_raw, "schedule.timezone", "UTC"),
    )
    history_raw = _table(raw, "history")
    _only_keys(history_raw, "history.", {"max_removed_share", "max_added_share"})
    history = HistoryConfig(
        max_removed_share=_number(history_raw, "history.max_removed_share", 0.5, minimum=0.0, maximum=1.0),
        max_added_share=_number(history_raw, "history.max_added_share", 1.0, minimum=0.0),
    )
    return Config(
        data_dir=check_data_dir(data_dir.resolve(), "storage.data_dir"),
        licenses=_licenses(raw.get("licenses")),
        api=api,
        schedule=schedule,
        history=history,
        alerts=_alerts(_table(raw, "alerts"), base_dir),
        lock_timeout_seconds=_number(
            storage_raw, "storage.lock_timeout_seconds", 600.0, minimum=0.0
        ),
        source=source,
    )


def _licenses(value: Any) -> tuple[LicenseConfig, ...]:
    if not value:
        raise ConfigError("licenses: at least one [[licenses]] entry is required")
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigError("licenses: must be an array of tables ([[licenses]])")
    licenses: list[LicenseConfig] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        where = f"licenses[{index}]."
        _only_keys(item, where, {"name", "api_key_env", "api_key_secret", "providers"})
        name = _string(item, where + "name", None)
        if not NAME_PATTERN.fullmatch(name):
            raise ConfigError(
                f"{where}name: {name!r} is not allowed: use 1-64 lowercase letters, digits, "
                "'-' or '_', starting with a letter or digit"
            )
        if name in seen:
            raise ConfigError(f"{where}name: {name!r} is configured twice")
        seen.add(name)
        key_env = item.get("api_key_env")
        key_secret = item.get("api_key_secret")
        if (key_env is None) == (key_secret is None):
            raise ConfigError(f"{where[:-1]}: set exactly one of api_key_env or api_key_secret")
        if key_env is not None:
            key_env = _string(item, where + "api_key_env", None)
            if not ENV_NAME.fullmatch(key_env):
                raise ConfigError(
                    f"{where}api_key_env: must name an environment variable (upper-case letters, digits and _, "
                    "e.g. QUANTIZED_KEY_ACME_PROD), not hold a key"
                )
        if key_secret is not None:
            key_secret = _secret_name(item, where + "api_key_secret", "keys belong in an environment variable (api_key_env)")
        providers = item.get("providers", ["default"])
        if not isinstance(providers, list) or not providers:
            raise ConfigError(f"{where}providers: must be a non-empty array of provider names")
        for provider in providers:
            if provider not in KNOWN_PROVIDERS:
                raise ConfigError(
                    f"{where}providers: {_toml(provider)} is not one of {', '.join(KNOWN_PROVIDERS)}"
                )
        if len(set(providers)) != len(providers):
            raise ConfigError(f"{where}providers: lists a provider twice")
        licenses.append(LicenseConfig(name, tuple(providers), key_env, key_secret))
    return tuple(licenses)


def parse_span(text: object, key: str) -> timedelta:
    """A span in the configuration: the command line's syntax, reported as a configuration error."""
    if not isinstance(text, str):
        raise ConfigError(f"{key}: {_toml(text)} is not a span like 7d, 36h, 2w, 90m or 45s")
    try:
        return timespec.parse_span(text, key)
    except UsageError as exc:
        raise ConfigError(str(exc)) from None


def _expire_after(raw: dict[str, Any], key: str) -> timedelta:
    text = raw.get(key.rsplit(".", 1)[-1], "7d")
    span = parse_span(text, key)
    if not MIN_EXPIRE_AFTER <= span <= MAX_EXPIRE_AFTER:
        raise ConfigError(f"{key}: must be between 1h and 365d, got {text!r}")
    return span


RULE_KEYS = set(AlertRule.__dataclass_fields__) - {"channels"}


def _alerts(raw: dict[str, Any], base_dir: Path) -> AlertsConfig:
    """[alerts] holds the defaults of every [[alerts.rules]] entry; no rules = one default rule."""
    _only_keys(raw, "alerts.", RULE_KEYS | {"failing_after", "expire_after", "attempts", "backoff_seconds", "timeout_seconds", "channels", "rules"})
    defaults = _rule(raw, "alerts.", AlertRule())
    channels = _channels(raw.get("channels", []), base_dir)
    names = {channel.name for channel in channels}
    rules_raw = raw.get("rules")
    rules = (defaults,)
    if rules_raw is not None:
        if not isinstance(rules_raw, list) or not rules_raw or not all(isinstance(item, dict) for item in rules_raw):
            raise ConfigError("alerts.rules: must be a non-empty array of tables ([[alerts.rules]])")
        rules = tuple(_rule(item, f"alerts.rules[{index}].", defaults, names) for index, item in enumerate(rules_raw))
    return AlertsConfig(
        channels=channels,
        rules=rules,
        failing_after=_integer(raw, "alerts.failing_after", 3, minimum=1, maximum=365),
        expire_after=_expire_after(raw, "alerts.expire_after"),
        attempts=_integer(raw, "alerts.attempts", 3, minimum=1, maximum=10),
        backoff_seconds=_number(raw, "alerts.backoff_seconds", 1.0, minimum=0.0, maximum=60.0),
        timeout_seconds=_number(raw, "alerts.timeout_seconds", 10.0, minimum=0.1, maximum=300.0),
    )


def _rule(raw: dict[str, Any], where: str, defaults: AlertRule, channel_names: set[str] | None = None) -> AlertRule:
    if channel_names is not None:
        _only_keys(raw, where, RULE_KEYS | {"channels"})
    direction = raw.get("direction", defaults.direction)
    if direction not in DIRECTIONS:
        raise ConfigError(f"{where}direction: must be one of {', '.join(DIRECTIONS)}, got {_toml(direction)}")
    channels = _strings(raw, where + "channels", ()) if channel_names is not None else ()
    if channel_names is not None and "channels" in raw and not channels:
        raise ConfigError(f"{where}channels: must name at least one channel (leave the key out to feed them all; a rule that feeds none is a mistake)")
    for name in channels:
        if channel_names is not None and name not in channel_names:
            raise ConfigError(f"{where}channels: no [[alerts.channels]] entry is named {name!r}")
    event_types = _choices(raw, where + "event_types", defaults.event_types, ALERT_EVENT_TYPES)
    if not event_types:
        raise ConfigError(f"{where}event_types: must list at least one event type (a rule that passes nothing is a mistake)")
    return AlertRule(
        event_types=event_types,
        min_pct=_number(raw, where + "min_pct", defaults.min_pct, minimum=0.0),
        direction=direction,
        licenses=_strings(raw, where + "licenses", defaults.licenses),
        providers=_strings(raw, where + "providers", defaults.providers),
        models=_strings(raw, where + "models", defaults.models),
        channels=channels,
        critical_pct=_number(raw, where + "critical_pct", defaults.critical_pct, minimum=0.0),
        critical_event_types=_choices(raw, where + "critical_event_types", defaults.critical_event_types, ALERT_EVENT_TYPES),
    )


def _channels(value: Any, base_dir: Path) -> tuple[ChannelConfig, ...]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigError("alerts.channels: must be an array of tables ([[alerts.channels]])")
    channels: list[ChannelConfig] = []
    for index, item in enumerate(value):
        where = f"alerts.channels[{index}]."
        _only_keys(item, where, {"name", "type", "url_env", "url_secret", "block", "path", "mode", "max_items"})
        name = _string(item, where + "name", None)
        if not NAME_PATTERN.fullmatch(name):
            raise ConfigError(f"{where}name: {name!r} is not allowed: use 1-64 lowercase letters, digits, '-' or '_'")
        if name in {channel.name for channel in channels}:
            raise ConfigError(f"{where}name: {name!r} is configured twice")
        kind = _string(item, where + "type", None)
        if kind not in CHANNEL_TYPES:
            raise ConfigError(f"{where}type: must be one of {', '.join(CHANNEL_TYPES)}, got {kind!r}")
        needs = {"webhook": ("url_env", "url_secret"), "slack": ("url_env", "url_secret"), "prefect": ("block",), "jsonl": ("path",)}[kind]
        given = [key for key in ("url_env", "url_secret", "block", "path") if key in item]
        if len([key for key in given if key in needs]) != 1 or set(given) - set(needs):
            raise ConfigError(f"{where[:-1]}: a {kind} channel takes exactly one of {' or '.join(needs)}")
        url_env = _string(item, where + "url_env", None) if "url_env" in item else None
        if url_env is not None and not ENV_NAME.fullmatch(url_env):
            raise ConfigError(f"{where}url_env: must name an environment variable (upper-case letters, digits and _), not hold a URL")
        block = _string(item, where + "block", None) if "block" in item else None
        if block is not None and not re.fullmatch(f"{BLOCK_NAME}/{BLOCK_NAME}", block):
            raise ConfigError(
                f"{where}block: must be <block-type-slug>/<block-name>, e.g. slack-webhook/team-alerts "
                "(lowercase letters, digits and '-'); URLs and keys belong inside the block"
            )
        path = None
        if "path" in item:
            path = Path(_string(item, where + "path", None)).expanduser()
            path = path if path.is_absolute() else base_dir / path
        mode = item.get("mode", "digest")
        if mode not in ("digest", "per_event"):
            raise ConfigError(f"{where}mode: must be digest or per_event, got {_toml(mode)}")
        channels.append(
            ChannelConfig(
                name=name,
                type=kind,
                url_env=url_env,
                url_secret=_secret_name(item, where + "url_secret", "URLs belong in an environment variable (url_env)") if "url_secret" in item else None,
                block=block,
                path=path,
                mode=mode,
                max_items=_integer(item, where + "max_items", 25, minimum=1, maximum=1000),
            )
        )
    return tuple(channels)


def _secret_name(table: dict[str, Any], key: str, instead: str) -> str:
    """The value is never shown: what was typed there may well be the secret itself."""
    value = _string(table, key, None)
    if not re.fullmatch(BLOCK_NAME, value):
        raise ConfigError(
            f"{key}: must be the name of a Prefect Secret block (lowercase letters, digits and '-'); "
            f"{instead} or inside the Secret block"
        )
    return value


def _strings(table: dict[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = table.get(key.rsplit(".", 1)[-1], default)
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ConfigError(f"{key}: must be an array of non-empty strings")
    return tuple(value)


def _choices(table: dict[str, Any], key: str, default: tuple[str, ...], allowed: tuple[str, ...]) -> tuple[str, ...]:
    values = _strings(table, key, default)
    for value in values:
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(allowed)}")
    return values


def _only_keys(table: dict[str, Any], prefix: str, allowed: set[str]) -> None:
    """Unknown keys are usually typos that would silently fall back to a default."""
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{prefix}{key if key.isprintable() else repr(key)}: unknown key (expected one of {', '.join(sorted(allowed))})"
            )


def _table(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: must be a table ([{key}])")
    return value


def _string(table: dict[str, Any], key: str, default: str | None) -> str:
    value = table.get(key.rsplit(".", 1)[-1], default)
    if value is None:
        raise ConfigError(f"{key}: is required")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}: must be a non-empty string")
    return value


def _number(
    table: dict[str, Any],
    key: str,
    default: float,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    value = table.get(key.rsplit(".", 1)[-1], default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{key}: must be a finite number, got {_toml(value)}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key}: must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{key}: must be at most {maximum}, got {value}")
    return float(value)


def _toml(value: Any) -> str:
    """A value quoted back as the file spells it where Python's repr differs: true, not True."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _boolean(table: dict[str, Any], key: str, default: bool) -> bool:
    value = table.get(key.rsplit(".", 1)[-1], default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: must be true or false, got {_toml(value)}")
    return value


def _integer(table: dict[str, Any], key: str, default: int, minimum: int, maximum: int) -> int:
    value = table.get(key.rsplit(".", 1)[-1], default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}: must be an integer, got {_toml(value)}")
    if not minimum <= value <= maximum:
        raise ConfigError(f"{key}: must be between {minimum} and {maximum}, got {value}")
    return value


def _url(table: dict[str, Any], key: str, default: str) -> str:
    """Credentials are looked for first: a URL carrying them is refused without being echoed."""
    value = _string(table, key, default).rstrip("/")
    if "?" in value or "@" in value or "#" in value:
        raise ConfigError(f"{key}: must not carry a query string or credentials; keys go in headers")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - read for its ValueError: a port that is no number, or out of range
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # that, or an unclosed [ipv6 bracket
        valid = False
    if not valid or re.search(r"\s", value):
        raise ConfigError(f"{key}: must be an http(s) URL with a host and no spaces, got {value!r}")
    return value


def _gateway_url(table: dict[str, Any], key: str, allow_insecure_http: bool) -> str:
    """Every request carries a license's key: over plain http, anyone on the path reads it. The
    simulator and tunnels on this machine (loopback) need no TLS; any other host needs https, or
    the explicit `allow_insecure_http` of a network the user trusts."""
    value = _url(table, key, DEFAULT_BASE_URL)
    parts = urlsplit(value)
    host = parts.hostname or ""
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(host):
        raise ConfigError(
            f"{key}: http:// would send every license's API key unencrypted to {host}; use https://, or set "
            "api.allow_insecure_http = true for a gateway on a network you trust"
        )
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cron(table: dict[str, Any], key: str, default: str) -> str:
    """Checked here, field by field, so that a schedule Prefect would refuse fails when the file is
    read (`qcat run` too), not when `qcat serve` hands it over."""
    value = _string(table, key, default)
    fields = value.split()
    if len(fields) != 5:
        raise ConfigError(f"{key}: must be a 5-field cron expression, got {value!r}")
    for field_value, (name, low, high, names) in zip(fields, CRON_FIELDS):
        for item in field_value.lower().split(","):
            if not _cron_item(item, low, high, names):
                raise ConfigError(f"{key}: {name} field {field_value!r} is not valid: use *, */n, or values {low} to {high} as a, a-b or a-b/n")
    return value


def _cron_item(item: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    """One comma-separated item of a field: *, a, a-b, each with an optional /step (step > 0)."""
    match = CRON_ITEM.match(item)
    if match is None or (match["start"] == "*" and match["end"] is not None) or int(match["step"] or 1) == 0:
        return False
    bounds = [names.index(text) + low if text in names else int(text) if text.isdigit() else None
              for text in (match["start"], match["end"]) if text not in (None, "*")]
    # a range may wrap (sat-sun), as Prefect's cron reads it
    return None not in bounds and all(low <= bound <= high for bound in bounds)


def _timezone(table: dict[str, Any], key: str, default: str) -> str:
    value = _string(table, key, default)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(f"{key}: unknown time zone {value!r}") from None
    return value
