"""Resolve secrets at the last moment, from the environment or a Prefect Secret block: a license's
API key, an alert channel's webhook URL.

They are never flow parameters (Prefect stores those in clear); a key never leaves this module
except as an Authorization header, a webhook URL only as the address of a request.
"""

from __future__ import annotations

import logging
import os
from urllib.parse import urlsplit, urlunsplit

from flows.config import LicenseConfig
from flows.errors import SecretError

# httpcore logs every request's and response's headers at DEBUG: with the root logger at DEBUG (or
# httpcore among Prefect's extra loggers) a gateway echoing the key in a header, or a redirect to a
# webhook's URL, would reach the logs. Its loggers (httpcore.http11, ...) inherit this level;
# Prefect's logging setup sets only the levels of the loggers it names. Set here because whoever
# holds a key or a webhook URL got it from this module
logging.getLogger("httpcore").setLevel(logging.INFO)


def resolve_api_key(license: LicenseConfig) -> str:
    return _header_safe(*resolve_secret(license.api_key_env, license.api_key_secret, "api_key_secret"))


def resolve_secret(env_name: str | None, secret_name: str | None, setting: str) -> tuple[str, str]:
    """The value, and where it came from (for messages, which must name the source, never the value).

    A Secret block is named by its setting (`setting`), not by its name: what was typed there may be
    the secret itself, and a key can look like a block name (sk-proj-4f9a...)."""
    if env_name is not None:
        value = os.environ.get(env_name, "").strip()
        if not value:
            raise SecretError(f"environment variable {env_name} is not set or empty")
        return value, f"environment variable {env_name}"
    source = f"the Prefect Secret block named by {setting}"
    return _secret_block(str(secret_name), source), source


def _header_safe(value: str, source: str) -> str:
    """A key httpx cannot put in a header would come back quoted inside its error message."""
    if not all(33 <= ord(character) <= 126 for character in value):
        raise SecretError(f"{source} holds a key with spaces, line breaks or non-ASCII characters")
    return value


def _secret_block(name: str, source: str) -> str:
    from prefect.blocks.system import Secret

    try:
        value = Secret.load(name).get()
    except ValueError:  # Prefect's message quotes the name
        raise SecretError(f"{source} cannot be loaded: no Secret block is saved under that name") from None
    except Exception as exc:  # noqa: BLE001 - the type only: Prefect's HTTP errors quote the block's name in their URL
        raise SecretError(f"{source} cannot be loaded: {type(exc).__name__}") from None
    if not isinstance(value, str) or not value.strip():
        raise SecretError(f"{source} does not hold a non-empty string")
    return value.strip()


def printable_url(url: str) -> str:
    """A URL as fit to print: scheme, host, port and path. Its user info and query string can hold
    credentials (http://admin:pass@host/api, ?token=...), which no output may show. One that does not
    parse (an unclosed IPv6 bracket) is not shown at all: where its credentials end is unknown."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a URL that does not parse)"
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
