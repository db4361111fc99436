"""The real Prefect flow against the simulator, inside one session-wide Prefect test harness."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from flows.config import Config, load_config
from flows.database import db_path
from flows.errors import UsageError
from flows.simulator import SimulatorServer
from tests.conftest import night, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_flow_pulls_every_catalog_and_isolates_a_failure(simulator: SimulatorServer, tmp_path: Path) -> None:
    from prefect.artifacts import Artifact

    from flows.nightly import ARTIFACT_KEY, nightly

    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "openrouter", "anthropic"], "acme-research": ["default"]})
    simulator.add_fault("unavailable", count=None, license="acme-prod", provider="openrouter")
    state = nightly(config_path=str(path), observed_at=night(0), return_state=True)
    assert state.is_failed()
    assert "acme-prod/openrouter (unavailable)" in state.message
    summaries = {(s.license, s.provider): s for s in state.result(raise_on_failure=False)}
    assert summaries[("acme-prod", "openrouter")].status == "unavailable"
    assert {summaries[key].status for key in summaries if key != ("acme-prod", "openrouter")} == {"ok"}
    assert all(s.models and s.models > 0 for s in summaries.values() if s.status == "ok")
    artifact = Artifact.get(ARTIFACT_KEY)
    assert artifact is not None and "acme-prod" in str(artifact.data) and "unavailable" in str(artifact.data)

    simulator.clear_faults()
    simulator.day = 3
    state = nightly(config_path=str(path), observed_at=night(1), return_state=True)
    assert state.is_completed()
    summaries = {(s.license, s.provider): s for s in state.result()}
    assert summaries[("acme-prod", "openrouter")].events == 0, "the first good pull after an outage is the baseline"
    assert sum(s.events for s in summaries.values()) > 0

    # the same instant again (a re-run of a backfill): which pull came later would be chance
    asked = len(simulator.requests)
    again = nightly(config_path=str(path), observed_at=night(1), return_state=True)
    assert again.is_failed() and again.message == (
        f"observed_at {night(1).isoformat()}: acme-prod/default, acme-prod/openrouter, acme-prod/anthropic, acme-research/default "
        "already have pulls at that instant; two pulls of a catalog at one instant have no order, so choose another instant"
    )
    assert isinstance(again.result(raise_on_failure=False), UsageError)
    tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
    future = nightly(config_path=str(path), observed_at=tomorrow, return_state=True)
    assert future.is_failed() and future.message == f"observed_at {tomorrow.isoformat()} is in the future"
    assert len(simulator.requests) == asked, "nothing was pulled"
    config = load_config(path)
    con = duckdb.connect(str(db_path(config.data_dir)), read_only=True)
    try:
        assert con.execute("select count(*) from pulls").fetchone() == (8,)
    finally:
        con.close()


def test_flow_bounds_concurrency(simulator: SimulatorServer, tmp_path: Path) -> None:
    """With max_concurrency = 2 and 0.3 s per request, the simulator answers two of the four catalogs at once, never more."""
    from flows.nightly import nightly

    path = write_config(
        tmp_path, simulator.base_url, {"acme-prod": ["default", "openrouter"], "acme-research": ["default", "openrouter"]}
    )
    path.write_text(path.read_text().replace("[api]", "[api]\nmax_concurrency = 2"))
    simulator.add_fault("latency", count=None, seconds=0.3)
    summaries = nightly(config_path=str(path), observed_at=night(0))
    assert [s.status for s in summaries] == ["ok"] * 4
    assert simulator.peak_in_flight == 2


def test_keys_from_prefect_secret_blocks(simulator: SimulatorServer, tmp_path: Path) -> None:
    from prefect.blocks.system import Secret

    from flows.nightly import nightly

    Secret(value="sim-key-acme-research").save("qcat-test-acme-research", overwrite=True)
    path = tmp_path / "qcat.toml"
    path.write_text(
        f'[api]\nbase_url = "{simulator.base_url}"\nmax_attempts = 1\n'
        '[[licenses]]\nname = "acme-research"\napi_key_secret = "qcat-test-acme-research"\nproviders = ["anthropic"]\n'
        '[[licenses]]\nname = "acme-prod"\napi_key_secret = "qcat-test-no-such-block"\nproviders = ["default"]\n'
    )
    state = nightly(config_path=str(path), observed_at=night(0), return_state=True)
    summaries = {s.license: s for s in state.result(raise_on_failure=False)}
    assert summaries["acme-research"].status == "ok" and summaries["acme-research"].models > 0
    assert summaries["acme-prod"].status == "auth_error"
    # named by its setting, never by its name: a key pasted there can look like a block name
    assert summaries["acme-prod"].error == "the Prefect Secret block named by api_key_secret cannot be loaded: no Secret block is saved under that name"
    assert "qcat-test-no-such-block" not in summaries["acme-prod"].error
    assert "\n" not in summaries["acme-prod"].error


def test_a_failing_prefect_api_never_names_the_secret_block() -> None:
    """Prefect's HTTP errors quote the block's name in the URL they failed on, and what was typed as
    a block name may be a pasted key: the message keeps the error's type only."""
    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    from flows.config import LicenseConfig
    from flows.errors import SecretError
    from flows.secrets import resolve_api_key
    from tests.alert_support import Receiver

    pasted = "4f9a0c1e2b3d4a5f6e7d8c9b0a1f2e3d"
    with Receiver() as broken, temporary_settings(
        updates={PREFECT_API_URL: broken.url.split("/hooks/")[0] + "/api", PREFECT_CLIENT_MAX_RETRIES: 0}
    ):  # it answers GET with 501
        with pytest.raises(SecretError) as caught:
            resolve_api_key(LicenseConfig("acme-prod", ("default",), None, pasted))
    assert str(caught.value) == "the Prefect Secret block named by api_key_secret cannot be loaded: PrefectHTTPStatusError"


def test_a_catalog_that_crashes_is_listed_and_fails_the_run(simulator: SimulatorServer, tmp_path: Path) -> None:
    """Not an API failure but a crash of its own (here its archive folder cannot be made): the other
    catalog is pulled and loaded, and the crashed one is in the summary, the artifact and the state."""
    import json

    from prefect.artifacts import Artifact

    from flows.nightly import ARTIFACT_KEY, nightly

    path = write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "openrouter"]})
    blocked = load_config(path).data_dir / "archive" / "raw" / "license=acme-prod" / "provider=openrouter"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the catalog's folder goes")
    state = nightly(config_path=str(path), observed_at=night(0), return_state=True)
    assert state.is_failed()
    assert state.message == "1 of 2 catalogs need attention: acme-prod/openrouter (error)"
    summaries = {(s.license, s.provider): s for s in state.result(raise_on_failure=False)}
    assert summaries[("acme-prod", "default")].status == "ok"
    crashed = summaries[("acme-prod", "openrouter")]
    assert (crashed.status, crashed.models, crashed.events, crashed.pull_id) == ("error", None, 0, None)
    assert crashed.error.startswith("NotADirectoryError: ")
    artifact = Artifact.get(ARTIFACT_KEY)
    rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    assert {(row["provider"], row["status"], row["error"]) for row in rows} == {("default", "ok", ""), ("openrouter", "error", crashed.error)}


def test_instants_ahead_of_the_clock_are_refused_beyond_the_slack(config: Config) -> None:
    from flows.pipeline import instant_refused

    assert instant_refused(config, datetime.now(timezone.utc) + timedelta(minutes=5)) is None, "within the slack"
    ahead = datetime.now(timezone.utc) + timedelta(minutes=20)
    refused = instant_refused(config, ahead)
    assert isinstance(refused, UsageError) and str(refused) == f"observed_at {ahead.isoformat()} is in the future"


def test_only_the_very_instant_already_pulled_is_refused(simulator: SimulatorServer, config: Config) -> None:
    """A backfill of several instants of one day is fine; pulling one of them again is not."""
    from flows.pipeline import instant_refused
    from tests.conftest import nightly_plain

    nightly_plain(config, night(0))
    assert instant_refused(config, night(0) + timedelta(hours=1)) is None
    assert instant_refused(config, night(0) - timedelta(seconds=1)) is None
    assert "acme-prod/default already has a pull at that instant" in str(instant_refused(config, night(0)))
