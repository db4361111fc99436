"""A Prefect API that qcat did not start (PREFECT_API_URL), asked the way Prefect's own client asks it."""

from __future__ import annotations

import base64
import os

import httpx

from flows.errors import ConfigError
from flows.secrets import printable_url


def prefect_api(api: str) -> httpx.Client:
    """Authenticated as Prefect's own client is: a self-hosted server's `PREFECT_API_AUTH_STRING` as
    basic auth (the whole string, encoded), otherwise a Cloud `PREFECT_API_KEY` as a bearer token."""
    headers = {}
    if auth_string := os.environ.get("PREFECT_API_AUTH_STRING"):
        headers["Authorization"] = "Basic " + base64.b64encode(auth_string.encode()).decode()
    elif key := os.environ.get("PREFECT_API_KEY"):
        headers["Authorization"] = f"Bearer {key}"
    return httpx.Client(base_url=api.rstrip("/") + "/", headers=headers, timeout=5)


def require_reachable() -> None:
    """A PREFECT_API_URL where no Prefect API answers surfaces deep inside Prefect, after its client's
    retries (a minute and more), as an error about a connection: said here in one line, before any
    flow starts. Only what is surely wrong is refused (no server, no such path, no URL at all): the
    probe sends no credentials and trusts any certificate, so that whatever else answers (a login,
    Prefect Cloud, a proxy's redirect, a self-signed server) is left for Prefect's client to judge."""
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        return
    try:
        with httpx.Client(base_url=api.rstrip("/") + "/", timeout=5, verify=False, follow_redirects=True) as client:
            response = client.get("health")
    except (httpx.TransportError, httpx.InvalidURL, ValueError) as exc:
        problem = f"no Prefect API answers there ({type(exc).__name__})"
    else:
        if response.status_code != 404:
            return
        problem = "its /health is not found (HTTP 404): no Prefect API at that address (a Prefect server's ends in /api)"
    raise ConfigError(
        f"PREFECT_API_URL {printable_url(api)}: {problem}; start that Prefect server, or unset PREFECT_API_URL "
        "to run with a temporary one"
    )
