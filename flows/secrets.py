"""Resolve secrets at the last moment, from the environment or a Prefect Secret block: a license's
API key, an alert channel's webhook URL.

They are never flow parameters (Prefect stores those in clear); a key never leaves this module
except as an Authorization header, a webhook URL only as the address of a request.
"""

from __future__ import annotations

import os

from flows.config import LicenseConfig
from flows.errors import SecretError


def resolve_api_key(license: LicenseConfig) -> str:
    return _header_safe(*resolve_secret(license.api_key_env, license.api_key_secret))


def resolve_secret(env_name: str | None, secret_name: str | None) -> tuple[str, str]:
    """The value, and where it came from (for messages, which must name the source, never the value)."""
    if env_name is not None:
        value = os.environ.get(env_name, "").strip()
        if not value:
            raise SecretError(f"environment variable {env_name} is not set or empty")
        return value, f"environment variable {env_name}"
    name = str(secret_name)
    return _secret_block(name), f"Prefect Secret block {name!r}"


def _header_safe(value: str, source: str) -> str:
    """A key httpx cannot put in a header would come back quoted inside its error message."""
    if not all(33 <= ord(character) <= 126 for character in value):
        raise SecretError(f"{source} holds a key with spaces, line breaks or non-ASCII characters")
    return value


def _secret_block(name: str) -> str:
    from prefect.blocks.system import Secret

    try:
        value = Secret.load(name).get()
    except ValueError as exc:
        raise SecretError(f"Prefect Secret block {name!r} cannot be loaded: {str(exc).splitlines()[0]}") from None
    if not isinstance(value, str) or not value.strip():
        raise SecretError(f"Prefect Secret block {name!r} does not hold a non-empty string")
    return value.strip()
