"""Alert messages and how each kind of channel carries them: a JSON webhook, Slack, a Prefect
notification block, a local JSONL file.

A webhook URL is a secret: it is resolved just before sending and never appears in an error
message, a log line or anything written to disk. Errors are reduced to what is safe to keep
(an HTTP status, an exception type), because httpx puts the URL in its exception messages.
"""

from __future__ import annotations

import html
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import groupby
from pathlib import Path
from typing import Any

import httpx

from flows.config import AlertsConfig, ChannelConfig
from flows.errors import QcatError, SecretError
from flows.secrets import resolve_secret

SCHEMA = "qcat.alerts/v1"
USER_AGENT = "qcat-alerts/1"
MAX_BACKOFF_SECONDS = 60.0
SLACK_SECTION = 3000  # the most characters Slack takes in a section's text
SLACK_BLOCKS = 50  # the most blocks Slack takes in a message: a longer one is refused whole


class ChannelError(QcatError):
    """A channel refused or could not take a message; the text is safe to log and store."""


class ChannelSetupError(ChannelError):
    """The channel cannot be used as configured (no such block, not a URL): retrying will not help."""


@dataclass(frozen=True)
class Message:
    """What one delivery carries: a digest, the critical digest, one alert (per_event), or a test."""

    channel: ChannelConfig
    kind: str  # digest | per_event | critical | test
    alerts: tuple[dict[str, Any], ...]

    @property
    def keys(self) -> list[str]:
        return [alert["key"] for alert in self.alerts]


@dataclass(frozen=True)
class Outcome:
    """`error` is the last failed attempt's, also when a retry then succeeded."""

    ok: bool
    tries: int
    first_at: datetime
    last_at: datetime
    error: str | None = None


def messages(channel: ChannelConfig, alerts: list[dict[str, Any]]) -> list[Message]:
    """Critical alerts go first, in a digest of their own (a batch removal is one message, not hundreds);
    per_event channels get every alert, critical ones first, as its own message."""
    critical = [alert for alert in alerts if alert["critical"]]
    rest = [alert for alert in alerts if not alert["critical"]]
    if channel.mode == "per_event":
        return [Message(channel, "critical", (alert,)) for alert in critical] + [Message(channel, "per_event", (alert,)) for alert in rest]
    return [Message(channel, kind, tuple(group)) for kind, group in (("critical", critical), ("digest", rest)) if group]


def headline(message: Message) -> str:
    count = len(message.alerts)
    if message.kind == "test":
        return f"qcat: test message for alert channel {message.channel.name}"
    if message.kind == "per_event":
        return f"qcat: {message.alerts[0]['summary']}"
    if _single(message):
        return f"qcat CRITICAL: {message.alerts[0]['summary']}"
    prefix = "qcat CRITICAL" if message.kind == "critical" else "qcat"
    return f"{prefix}: {count} catalog alert{'s' if count != 1 else ''}"


def text(message: Message) -> str:
    """The human version: grouped by license, at most `max_items` lines, then "and N more"."""
    lines = [headline(message)]
    if message.kind == "per_event" or _single(message):
        return lines[0]
    shown = message.alerts[: message.channel.max_items]
    for license, group in groupby(_by_license(shown), key=lambda alert: alert["license"]):
        lines.append(f"{license}:")
        lines += [f"  {alert['line']}" for alert in group]
    hidden = len(message.alerts) - len(shown)
    if hidden:
        lines.append(f"... and {hidden} more")
    return "\n".join(lines)


def webhook_payload(message: Message, sent_at: datetime) -> dict[str, Any]:
    """The documented, versioned JSON body: the full list of alerts, whatever `max_items` says."""
    return {
        "schema": SCHEMA,
        "channel": message.channel.name,
        "kind": message.kind,
        "sent_at": sent_at.isoformat(),
        "count": len(message.alerts),
        "critical_count": sum(1 for alert in message.alerts if alert["critical"]),
        "summary": text(message),
        "alerts": list(message.alerts),
    }


def slack_payload(message: Message) -> dict[str, Any]:
    """Block Kit: a header, one section per license, and a context line for what did not fit."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": headline(message)[:150]}}]
    shown = message.alerts[: message.channel.max_items]
    listed = 0
    for license, group in groupby(_by_license(shown), key=lambda alert: alert["license"]):
        if len(blocks) == SLACK_BLOCKS - 1:
            break  # the last block says how many more
        # a section holds 3000 characters: whole lines up to that, the rest counted below
        section = f"*{license}*"[:SLACK_SECTION]
        for alert in group:
            line = ("🔴 " if alert["critical"] else "• ") + _slack_text(alert["line"])
            if len(section) + 1 + len(line) > SLACK_SECTION:
                break
            section, listed = f"{section}\n{line}", listed + 1
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": section}})
    hidden = len(message.alerts) - listed
    if hidden:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"... and {hidden} more"}]})
    return {"text": _slack_text(text(message))[:3000], "blocks": blocks}


def _slack_text(text: str) -> str:
    """Model ids and names come from the gateway: Slack would read `<!channel>` in them as a
    mention and `<url|label>` as a link; escaped, they show as sent."""
    return html.escape(text, quote=False)


def jsonl_lines(message: Message) -> str:
    return "".join(json.dumps(alert, sort_keys=True, ensure_ascii=False) + "\n" for alert in message.alerts)


def deliver(message: Message, settings: AlertsConfig) -> Outcome:
    """Send, retrying with exponential backoff within the run; the outcome is what the ledger records.

    Never raises: one channel's trouble must not keep the outcomes of the others from the ledger.
    """
    first_at = datetime.now(timezone.utc)
    error = None
    for attempt in range(1, settings.attempts + 1):
        if attempt > 1:
            time.sleep(min(MAX_BACKOFF_SECONDS, settings.backoff_seconds * 2 ** (attempt - 2)))
        try:
            send(message, settings.timeout_seconds)
            return Outcome(True, attempt, first_at, datetime.now(timezone.utc), error)
        except (SecretError, ChannelSetupError) as exc:
            # a missing URL or block will not appear by retrying
            return Outcome(False, attempt, first_at, datetime.now(timezone.utc), str(exc))
        except ChannelError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - unforeseen, so most likely setup (a bad URL, no Prefect API): not retried
            # only the type: an exception's text may quote the URL
            return Outcome(False, attempt, first_at, datetime.now(timezone.utc), type(exc).__name__)
    return Outcome(False, settings.attempts, first_at, datetime.now(timezone.utc), error)


def send(message: Message, timeout_seconds: float) -> None:
    channel = message.channel
    if channel.type == "jsonl":
        _append(channel, jsonl_lines(message))
    elif channel.type == "prefect":
        _notify(channel, text(message), headline(message))
    elif channel.type == "slack":
        _post(channel, slack_payload(message), timeout_seconds)
    else:
        _post(channel, webhook_payload(message, datetime.now(timezone.utc)), timeout_seconds)


class _HideWebhookUrls(logging.Filter):
    """httpx logs every request's URL at INFO: keep webhook URLs out of any log a user configures."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(str(arg) in self.urls for arg in record.args):
            record.args = tuple("<webhook URL>" if str(arg) in self.urls else arg for arg in record.args)
        return True


_hidden = _HideWebhookUrls()
logging.getLogger("httpx").addFilter(_hidden)


def _post(channel: ChannelConfig, payload: dict[str, Any], timeout_seconds: float) -> None:
    # a Secret block that cannot be read (no Prefect API) is a SecretError: a setup failure
    url, source = resolve_secret(channel.url_env, channel.url_secret, "url_secret")
    try:
        address = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise ChannelSetupError(f"{source} does not hold a valid http(s) URL") from None
    if address.scheme not in ("http", "https") or not address.host:
        raise ChannelSetupError(f"{source} does not hold an http(s) URL")
    _hidden.urls.add(str(address))
    try:
        response = httpx.post(address, json=payload, timeout=timeout_seconds, headers={"User-Agent": USER_AGENT})
    except httpx.InvalidURL:
        raise ChannelSetupError(f"{source} does not hold a valid http(s) URL") from None
    except httpx.HTTPError as exc:
        raise ChannelError(_safe_error(exc)) from None
    if not response.is_success:
        raise ChannelError(f"HTTP {response.status_code}")


def _notify(channel: ChannelConfig, body: str, subject: str) -> None:
    from prefect.blocks.core import Block

    try:
        block = Block.load(str(channel.block))
    except ValueError:  # Prefect's way of saying there is no such block
        raise ChannelSetupError(f"Prefect block {channel.block!r} cannot be loaded: no block of that type and name is saved") from None
    except Exception as exc:  # noqa: BLE001 - no Prefect API, or another failure: the type only, as the text quotes the API's URL
        raise ChannelSetupError(f"Prefect block {channel.block!r} cannot be loaded: {type(exc).__name__}") from None
    if not hasattr(block, "notify"):
        raise ChannelSetupError(f"Prefect block {channel.block!r} is not a notification block")
    try:
        with block.raise_on_failure():
            block.notify(body, subject)
    except Exception as exc:  # noqa: BLE001 - any block's failure is this channel's failure, stated safely
        raise ChannelError(_safe_error(exc)) from None


def _append(channel: ChannelConfig, lines: str) -> None:
    path = Path(str(channel.path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(lines)
    except OSError as exc:
        raise ChannelError(f"cannot append to {path}: {exc.strerror or type(exc).__name__}") from None


def _safe_error(exc: BaseException) -> str:
    """The status or the kind of failure, never the exception's text (which holds the URL)."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


def _single(message: Message) -> bool:
    """A critical alert on a per_event channel travels alone: its headline is the whole message."""
    return message.kind == "critical" and message.channel.mode == "per_event"


def _by_license(alerts: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    return sorted(alerts, key=lambda alert: (alert["license"], not alert["critical"]))
