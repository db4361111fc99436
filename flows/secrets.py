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
    if not isinstance(value, str) or not value.strip():
        raise SecretError(f"{source} does not hold a non-empty string")
    return value.strip()
