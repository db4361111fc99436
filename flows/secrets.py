"""Resolve a license's API key at the last moment, from the environment or a Prefect Secret block.

Keys are never flow parameters (Prefect stores those in clear) and never leave this function
except as an Authorization header.
"""

from __future__ import annotations

import os

from flows.config import LicenseConfig
from flows.errors import SecretError


def resolve_api_key(license: LicenseConfig) -> str:
    if license.api_key_env is not None:
        value = os.environ.get(license.api_key_env, "").strip()
        if not value:
            raise SecretError(f"environment variable {license.api_key_env} is not set or empty")
        return _header_safe(value, f"environment variable {license.api_key_env}")
    name = str(license.api_key_secret)
    return _header_safe(_secret_block(name), f"Prefect Secret block {name!r}")


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
