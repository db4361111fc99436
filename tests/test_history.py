"""History semantics over the real pipeline: simulator over HTTP, Parquet archive, DuckDB file."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from flows.archive import PullRecord, archive_root, read_raw, read_records
from flows.config import Config, load_config
from flows.database import db_path
from flows.history import SCHEMA_VERSION, connect
from flows.replay import rebuild_database
from flows.simulator import SimulatorServer
from tests.conftest import KEY_VARS, model, night, nightly_plain, play_nights, write_config

TABLES = {
    "pulls": "pull_id",
    "model_versions": "license, provider, model_id, valid_from, valid_from_pull_id",
    "catalog_events": "event_id",
}


def serve(simulator: SimulatorServer, models: list[dict]) -> None:
    simulator.clear_faults()
    simulator.add_fault("override", count=None, license="acme-prod", provider="default", models=models)


def query(config: Config, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db_path(config.data_dir)), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def snapshot(config: Config) -> dict[str, list[tuple]]:
    return {table: query(config, f"select * from {table} order by {order}") for table, order in TABLES.items()}


def assert_rebuild_reproduces(config: Config) -> None:
    """`qcat rebuild` derives from the archive alone the very rows the live loads left."""
    live = snapshot(config)
    rebuild_database(config)
    assert snapshot(config) == live


def events(config: Config) -> list[tuple]:
    return query(config, "select model_id, event_type from catalog_events order by observed_at, model_id, event_type")


BASE = [model("m-a"), model("m-b"), model("m-c"), model("m-d")]


def test_baseline_creates_versions_and_no_events(simulator: SimulatorServer, config: Config) -> None:
    serve(simulator, BASE)
    [summary] = nightly_plain(config, night(0))
    assert (summary.status, summary.models, summary.events) == ("ok", 4, 0)
    assert query(config, "select count(*), count(*) filter (where is_current and valid_to is null) from model_versions") == [(4, 4)]
    assert events(config) == []


def test_every_event_type_with_old_and_new_values(simulator: SimulatorServer, config: Config) -> None:
    serve(simulator, BASE)
    nightly_plain(config, night(0))
    serve(simulator, [model("m-a", inp=0.0015), model("m-b", ctx=200000), model("m-c", name="Renamed C"), model("m-e")])
    [summary] = nightly_plain(config, night(1))
    assert summary.events == 5
    serve(simulator, [model("m-a", inp=0.0015), model("m-b", ctx=200000), model("m-c", name="Renamed C"), model("m-e"), model("m-d", out=0.003)])
    nightly_plain(config, night(2))
    assert events(config) == [
        ("m-a", "rate_changed"),
        ("m-b", "limits_changed"),
        ("m-c", "renamed"),
        ("m-d", "removed"),
        ("m-e", "added"),
        ("m-d", "readded"),
    ]
    rate = query(
        config,
        "select old_input_cost_per_micro_credit, new_input_cost_per_micro_credit, input_pct_change, output_pct_change, previous_observed_at "
        "from catalog_events where event_type = 'rate_changed'",
    )
    assert rate == [(0.001, 0.0015, pytest.approx(50.0), 0.0, night(0))]
    assert query(config, "select old_context_window, new_context_window from catalog_events where event_type = 'limits_changed'") == [(128000, 200000)]
    assert query(config, "select old_name, new_name from catalog_events where event_type = 'renamed'") == [("M-C", "Renamed C")]
    assert query(config, "select new_output_cost_per_micro_credit from catalog_events where event_type = 'readded'") == [(0.003,)]
    versions = query(config, "select valid_from, valid_to, is_current from model_versions where model_id = 'm-d' order by valid_from")
    assert versions == [(night(0), night(1), False), (night(2), None, True)]
    assert query(config, "select count(*) from model_versions where is_current") == [(5,)]


def test_rates_compare_exactly(simulator: SimulatorServer, config: Config) -> None:
    serve(simulator, [model("tiny", inp=0.0016), model("free", inp=0.0, out=0.0), model("same", inp=0.1), model("cut", inp=0.0015), model("nine", inp=0.001), model("small", inp=0.00001)])
    nightly_plain(config, night(0))
    serve(
        simulator,
        [model("tiny", inp=0.0016000000000001), model("free", inp=0.0004, out=0.0), model("same", inp=0.1), model("cut", inp=0.00135), model("nine", inp=0.00091), model("small", inp=0.000010001)],
    )
    nightly_plain(config, night(1))
    rows = query(
        config,
        "select model_id, old_input_cost_per_micro_credit, new_input_cost_per_micro_credit, input_pct_change "
        "from catalog_events where event_type = 'rate_changed' order by model_id",
    )
    assert rows == [
        # (0.00135 - 0.0015) / 0.0015 * 100 is -9.999999999999998 in floating point: stored as the -10 it is
        ("cut", 0.0015, 0.00135, -10.0),
        ("free", 0.0, 0.0004, None),
        ("nine", 0.001, 0.00091, -9.0),
        ("small", 0.00001, 0.000010001, 0.01),  # 0.009999999999988044 in floating point
        ("tiny", 0.0016, 0.0016000000000001, pytest.approx(6.2e-12, rel=0.1)),  # a move in the last digit stays a move
    ]
    assert query(config, "select input_cost_per_micro_credit from model_versions where model_id = 'tiny' and is_current") == [(0.0016000000000001,)]
    # what `qcat changes --min-pct 10` asks: the 10% cut and the move from 0, not the 9% one
    found = query(config, "select model_id from changes_between(timestamp '2026-01-01', timestamp '2027-01-01', min_pct := 10) order by 1")
    assert found == [("cut",), ("free",)]


def test_identical_pulls_and_reloads_never_duplicate(simulator: SimulatorServer, config: Config) -> None:
    serve(simulator, BASE)
    nightly_plain(config, night(0))
    serve(simulator, BASE[:3] + [model("m-d", inp=0.002)])
    nightly_plain(config, night(1))
    before = snapshot(config)
    [summary] = nightly_plain(config, night(2))
    assert summary.events == 0
    after = snapshot(config)
    assert after["model_versions"] == before["model_versions"]
    assert after["catalog_events"] == before["catalog_events"]
    assert len(after["pulls"]) == 3
    from flows.pipeline import load_and_summarise

    again = load_and_summarise(config, read_records(config.data_dir))
    assert [s.events for s in again] == [0, 0, 0]
    assert snapshot(config) == after


@pytest.mark.parametrize(
    ("fault", "status", "message"),
    [
        ("unavailable", "unavailable", "503"),
        ("malformed_json", "invalid", "not JSON"),
        ("truncated", "invalid", "not JSON"),
        ("html_200", "invalid", "HTML"),
        ("duplicate_conflict", "invalid", "listed twice with different content"),
        ("empty_list", "suspect", None),
    ],
)
def test_failed_pulls_change_nothing_and_keep_the_body(
    simulator: SimulatorServer, config: Config, fault: str, status: str, message: str | None
) -> None:
    serve(simulator, BASE)
    nightly_plain(config, night(0))
    before = snapshot(config)
    simulator.clear_faults()
    simulator.add_fault(fault, count=None)
    [summary] = nightly_plain(config, night(1))
    assert summary.status == status
    assert summary.events == 0
    if message:
        assert message in summary.error
        assert "\n" not in summary.error
    after = snapshot(config)
    assert after["model_versions"] == before["model_versions"]
    assert after["catalog_events"] == []
    [record] = [r for r in read_records(config.data_dir) if r.observed_at == night(1)]
    body = read_raw(config.data_dir, record)
    assert body is not None and len(body) > 0
    if fault == "html_200":
        assert body.lstrip().lower().startswith(b"<!doctype html")


def test_rebuild_of_an_archive_of_failed_pulls_only(simulator: SimulatorServer, config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    good_key = os.environ[KEY_VARS["acme-prod"]]
    monkeypatch.setenv("QCAT_TEST_KEY_ACME_PROD", "revoked-key")
    nightly_plain(config, night(0))
    monkeypatch.setenv("QCAT_TEST_KEY_ACME_PROD", good_key)
    simulator.add_fault("unavailable", count=None)
    nightly_plain(config, night(1))
    live = snapshot(config)
    assert [row[4] for row in live["pulls"]] == ["auth_error", "unavailable"]
    assert rebuild_database(config).pulls == 2
    assert snapshot(config) == live


def test_missing_key_fails_only_that_license(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "anthropic"], "acme-research": ["default"]}))
    monkeypatch.delenv("QCAT_TEST_KEY_ACME_RESEARCH")
    summaries = nightly_plain(config, night(0))
    by_catalog = {(s.license, s.provider): s for s in summaries}
    assert by_catalog[("acme-prod", "default")].status == "ok"
    assert by_catalog[("acme-prod", "anthropic")].status == "ok"
    broken = by_catalog[("acme-research", "default")]
    assert broken.status == "auth_error"
    assert "QCAT_TEST_KEY_ACME_RESEARCH" in broken.error
    assert query(config, "select status, attempts from pulls where license = 'acme-research'") == [("auth_error", 0)]


def test_auth_error_is_recorded_without_events(simulator: SimulatorServer, config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    nightly_plain(config, night(0))
    monkeypatch.setenv("QCAT_TEST_KEY_ACME_PROD", "revoked-key")
    [summary] = nightly_plain(config, night(1))
    assert summary.status == "auth_error" and "rejected" in summary.error
    assert query(config, "select http_status, attempts from pulls where status = 'auth_error'") == [(401, 1)]
    assert events(config) == []


def test_shrink_guard_dismissed_when_models_come_back(simulator: SimulatorServer, config: Config) -> None:
    full = [model(f"m-{i}") for i in range(10)]
    serve(simulator, full)
    nightly_plain(config, night(0))
    serve(simulator, full[:3])
    [held] = nightly_plain(config, night(1))
    assert (held.status, held.events) == ("suspect", 0)
    assert held.error == "lacks 7 of the catalog's 10 current models: held back until the next valid pull confirms or dismisses it"
    assert query(config, "select resolution, removed_count from pulls where status = 'suspect'") == [("pending", 7)]
    serve(simulator, full)
    [back] = nightly_plain(config, night(2))
    assert (back.status, back.events) == ("ok", 0)
    assert query(config, "select resolution from pulls where status = 'suspect'") == [("dismissed",)]
    assert query(config, "select count(*) from model_versions where is_current") == [(10,)]
    assert events(config) == []


def test_shrink_guard_confirmed_removes_at_the_suspect_pull(simulator: SimulatorServer, config: Config) -> None:
    full = [model(f"m-{i}") for i in range(10)]
    serve(simulator, full)
    nightly_plain(config, night(0))
    serve(simulator, full[:3])
    nightly_plain(config, night(1))
    [confirming] = nightly_plain(config, night(2))
    assert (confirming.status, confirming.events) == ("ok", 7), "the run reports the removals it confirmed"
    suspect_id = query(config, "select pull_id from pulls where status = 'suspect' and resolution = 'confirmed'")[0][0]
    removed = query(config, "select pull_id, observed_at, count(*) from catalog_events where event_type = 'removed' group by all")
    assert removed == [(suspect_id, night(1), 7)]
    assert query(config, "select count(*) from model_versions where is_current") == [(3,)]
    assert query(config, "select distinct valid_to from model_versions where not is_current") == [(night(1),)]
    # the whole catalog back: more than twice what is current, but no more than it ever listed
    serve(simulator, full)
    [back] = nightly_plain(config, night(3))
    assert (back.status, back.events) == ("ok", 7)


def test_a_catalog_swapped_for_another_is_held_back_and_dismissed(simulator: SimulatorServer, config: Config) -> None:
    """A gateway that ignores the provider header answers with another provider's catalog: the
    models of this one are all there, and more than as many again are new. Nothing of it may become
    history, nor the next honest pull a mass removal."""
    serve(simulator, BASE)
    nightly_plain(config, night(0))
    serve(simulator, BASE + [model(f"other-{i}") for i in range(5)])  # 9 models: more than twice the 4 it ever listed
    [held] = nightly_plain(config, night(1))
    assert (held.status, held.events) == ("suspect", 0)
    assert held.error == "lists 5 models beyond the catalog's 4 current ones: held back until the next valid pull confirms or dismisses it"
    serve(simulator, BASE)
    [honest] = nightly_plain(config, night(2))
    assert (honest.status, honest.events) == ("ok", 0)
    assert query(config, "select resolution from pulls where status = 'suspect'") == [("dismissed",)]
    assert events(config) == []
    assert_rebuild_reproduces(config)


def test_a_catalog_that_more_than_doubles_is_confirmed_by_the_next_pull(simulator: SimulatorServer, config: Config) -> None:
    grown = BASE[:3] + [model(f"new-{i}") for i in range(6)]  # 9 models: more than twice the 4 it ever listed
    serve(simulator, BASE)
    nightly_plain(config, night(0))
    serve(simulator, grown)
    [held] = nightly_plain(config, night(1))
    assert held.error == (
        "lacks 1 of the catalog's 4 current models and lists 6 models beyond the catalog's 4 current ones: "
        "held back until the next valid pull confirms or dismisses it"
    )
    [confirming] = nightly_plain(config, night(2))
    assert (confirming.status, confirming.events) == ("ok", 7), "the run reports what it confirmed"
    suspect_id = query(config, "select pull_id from pulls where status = 'suspect' and resolution = 'confirmed'")[0][0]
    assert query(config, "select event_type, pull_id, count(*) from catalog_events group by all order by 1") == [
        ("added", suspect_id, 6),
        ("removed", suspect_id, 1),
    ]
    assert_rebuild_reproduces(config)


def test_small_removal_below_the_guard_applies_at_once(simulator: SimulatorServer, config: Config) -> None:
    full = [model(f"m-{i}") for i in range(10)]
    serve(simulator, full)
    nightly_plain(config, night(0))
    serve(simulator, full[:5])
    [summary] = nightly_plain(config, night(1))
    assert (summary.status, summary.events) == ("ok", 5)


@pytest.mark.parametrize(
    ("before", "after", "archived_under", "events"),
    [
        ([model(f"m-{i}") for i in range(10)], [model(f"m-{i}") for i in range(3)], {"max_removed_share": 0.9}, 7),
        (BASE, BASE + [model(f"new-{i}") for i in range(8)], {"max_added_share": 2.5}, 8),  # three times the peak
    ],
    ids=["shrink", "growth"],
)
def test_a_pull_is_judged_by_the_shares_it_was_archived_under(
    simulator: SimulatorServer, config: Config, before: list[dict], after: list[dict], archived_under: dict[str, float], events: int
) -> None:
    """A crashed run's pull, loaded by a later run whose qcat.toml is stricter, keeps the verdict it
    was archived for: loads and rebuilds must agree whatever the configuration says."""
    from flows.archive import archive_pull
    from flows.client import fetch_catalog, make_http_client
    from flows.pipeline import load_and_summarise

    serve(simulator, before)
    nightly_plain(config, night(0))
    serve(simulator, after)
    with make_http_client(config.api) as client:
        result = fetch_catalog(client, config.api, "sim-key-acme-prod", "default")
    record = archive_pull(config.data_dir, "acme-prod", "default", night(1), result, replace(config.history, **archived_under))
    assert all(getattr(config.history, key) < share for key, share in archived_under.items()), "the configuration would hold it back"
    [summary] = load_and_summarise(config, [record])
    assert (summary.status, summary.events) == ("ok", events)
    assert_rebuild_reproduces(config)


def test_a_pull_dated_by_a_clock_that_ran_ahead_stops_further_loads(simulator: SimulatorServer, config: Config) -> None:
    """Pulls loaded after it would count as earlier: its rates would stay current, and the catalog
    would seem to go back to them. The next run archives its pull and loads nothing."""
    from flows.errors import ArchiveError

    ahead = datetime.now(timezone.utc) + timedelta(days=30)
    serve(simulator, BASE)
    nightly_plain(config, ahead)
    pulls = query(config, "select count(*) from pulls")
    serve(simulator, [model("m-a", inp=0.002)] + BASE[1:])
    folder = config.data_dir / "archive" / "pulls" / "license=acme-prod" / "provider=default" / f"date={ahead.date().isoformat()}"
    with pytest.raises(ArchiveError, match=rf"^acme-prod/default: its latest pull is dated {ahead.date().isoformat()}T.*after this machine's clock.*so nothing was loaded") as caught:
        nightly_plain(config, datetime.now(timezone.utc))
    assert f"move every pull record dated after now out of archive/pulls/ (this one is in {folder}) and run `qcat rebuild --drop-missing`" in str(caught.value)
    assert query(config, "select count(*) from pulls") == pulls
    assert len(read_records(config.data_dir)) == 2, "the new pull is archived, to load once the clock is dealt with"


def test_late_pull_replays_its_catalog(simulator: SimulatorServer, config: Config) -> None:
    """A run that archived after a newer run loaded must not bend history: its catalog replays."""
    from flows.archive import archive_pull
    from flows.client import fetch_catalog, make_http_client
    from flows.pipeline import load_and_summarise

    serve(simulator, BASE)
    nightly_plain(config, night(0))
    serve(simulator, [model("m-a", inp=0.005)])
    with make_http_client(config.api) as client:
        late_result = fetch_catalog(client, config.api, "sim-key-acme-prod", "default")
    serve(simulator, BASE)
    nightly_plain(config, night(2))
    late = archive_pull(config.data_dir, "acme-prod", "default", night(1), late_result, config.history)
    load_and_summarise(config, [late])
    live = snapshot(config)
    assert [row[4] for row in live["pulls"]] == ["ok", "suspect", "ok"]
    rebuild_database(config)
    assert snapshot(config) == live


def test_rebuild_reproduces_a_long_history(simulator: SimulatorServer, tmp_path: Path) -> None:
    """25 nights of simulated evolution with outages, broken bodies and both guard outcomes."""
    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "anthropic"], "acme-research": ["default"]}))
    faults = {
        4: ("unavailable", "acme-prod", "default", {}),
        7: ("malformed_json", "acme-research", "default", {}),
        9: ("mass_removal", "acme-prod", "default", {"keep_share": 0.2}),
        14: ("mass_removal", "acme-research", "default", {"keep_share": 0.1}),
        15: ("mass_removal", "acme-research", "default", {"keep_share": 0.1}),
        18: ("html_200", "acme-prod", "anthropic", {}),
        20: ("empty_list", "acme-prod", "anthropic", {}),
        21: ("empty_list", "acme-prod", "anthropic", {}),
    }
    for n in range(25):
        simulator.day = n
        simulator.clear_faults()
        if n in faults:
            kind, license, provider, params = faults[n]
            simulator.add_fault(kind, count=None, license=license, provider=provider, **params)
        nightly_plain(config, night(n))
    live = snapshot(config)
    kinds = {row[4] for row in live["catalog_events"]}
    assert kinds == {"added", "removed", "readded", "rate_changed", "limits_changed", "renamed"}
    statuses = {(row[4], row[10]) for row in live["pulls"]}
    assert {("ok", None), ("unavailable", None), ("invalid", None), ("suspect", "dismissed"), ("suspect", "confirmed")} <= statuses
    emptied = query(config, "select count(*) from catalog_events where license = 'acme-prod' and provider = 'anthropic' and observed_at = $1 and event_type = 'removed'", [night(20)])
    assert emptied[0][0] > 0, "two empty pulls in a row: the first is confirmed and removes everything"
    report = rebuild_database(config)
    assert report.pulls == 75
    assert snapshot(config) == live
    rebuild_database(config)
    assert snapshot(config) == live


def test_rebuild_splits_values_that_come_back(simulator: SimulatorServer, config: Config) -> None:
    """A rate back at an earlier value, or a model back with its old values, opens a new version.

    The rebuild groups rows by their values, so it must split such values into separate runs
    to agree with the nightly load.
    """
    nights = [
        [model("m-a"), model("m-b"), model("m-c")],
        [model("m-a", inp=0.002), model("m-b"), model("m-c")],
        [model("m-a"), model("m-c")],
        [model("m-a"), model("m-b"), model("m-c")],
        [model("m-a", inp=0.002), model("m-b"), model("m-c")],
        [model("m-a", inp=0.002), model("m-b")],
        [model("m-a"), model("m-b"), model("m-c")],
    ]
    for n, models in enumerate(nights):
        serve(simulator, models)
        nightly_plain(config, night(n))
    assert events(config) == [
        ("m-a", "rate_changed"),
        ("m-a", "rate_changed"),
        ("m-b", "removed"),
        ("m-b", "readded"),
        ("m-a", "rate_changed"),
        ("m-c", "removed"),
        ("m-a", "rate_changed"),
        ("m-c", "readded"),
    ]
    versions = "select model_id, input_cost_per_micro_credit, valid_from, valid_to from model_versions where model_id <> 'm-b' order by all"
    assert [(m, rate, start, end) for m, rate, start, end in query(config, versions)] == [
        ("m-a", 0.001, night(0), night(1)),
        ("m-a", 0.001, night(2), night(4)),
        ("m-a", 0.001, night(6), None),
        ("m-a", 0.002, night(1), night(2)),
        ("m-a", 0.002, night(4), night(6)),
        ("m-c", 0.001, night(0), night(5)),
        ("m-c", 0.001, night(6), None),
    ]
    assert_rebuild_reproduces(config)


def test_folders_named_like_columns_above_the_data_dir_change_nothing(simulator: SimulatorServer, tmp_path: Path) -> None:
    """DuckDB would read key=value folders in a path as columns: name=prod must not rename every model."""
    folder = tmp_path / "name=prod" / "model_id=x" / "pull_id=y"
    folder.mkdir(parents=True)
    config = load_config(write_config(folder, simulator.base_url))
    serve(simulator, BASE)
    nightly_plain(config, night(0))
    serve(simulator, [model("m-a", inp=0.0015), model("m-b", name="Renamed B"), model("m-c"), model("m-e")])
    nightly_plain(config, night(1))
    assert query(config, "select model_id, name from model_versions where is_current order by all") == [
        ("m-a", "M-A"), ("m-b", "Renamed B"), ("m-c", "M-C"), ("m-e", "M-E"),
    ]
    assert events(config) == [("m-a", "rate_changed"), ("m-b", "renamed"), ("m-d", "removed"), ("m-e", "added")]
    assert_rebuild_reproduces(config)


def test_a_negative_zero_rate_is_zero_in_the_load_and_the_rebuild(simulator: SimulatorServer, config: Config) -> None:
    """-0.0 equals 0.0, so it is no change; both paths must also store the same sign."""
    for n, rate in enumerate([0.0, 0.001, -0.0, 0.0]):
        serve(simulator, [model("m-a", inp=rate), model("m-b")])
        nightly_plain(config, night(n))
    signs = "select input_cost_per_micro_credit from model_versions where model_id = 'm-a' order by valid_from"
    live = [math.copysign(1.0, rate) for (rate,) in query(config, signs)]
    assert live == [1.0, 1.0, 1.0]
    assert [row[1] for row in events(config)] == ["rate_changed", "rate_changed"]
    rebuild_database(config)
    assert [math.copysign(1.0, rate) for (rate,) in query(config, signs)] == live


def test_archive_layout_and_parquet_rows(simulator: SimulatorServer, config: Config) -> None:
    simulator.add_fault("extra_fields", count=1)
    nightly_plain(config, night(0))
    [record] = read_records(config.data_dir)
    parquet = archive_root(config.data_dir) / record.models_file
    assert parquet.parent.relative_to(archive_root(config.data_dir)).as_posix() == "models/license=acme-prod/provider=default/date=2026-03-01"
    rows = duckdb.sql(f"select pull_id, observed_at, extra, license, provider from read_parquet('{parquet}', hive_partitioning = true)").fetchall()
    assert {row[0] for row in rows} == {record.pull_id}
    assert {row[3:] for row in rows} == {("acme-prod", "default")}
    assert all('"modality"' in row[2] for row in rows)
    assert (archive_root(config.data_dir) / record.raw_file).name.endswith(".body.gz")


def test_suspect_is_dismissed_when_any_lacked_model_is_back(simulator: SimulatorServer, config: Config) -> None:
    """A second shrink that lists some of the models the first lacked confirms nothing."""
    full = [model(f"m-{letter}") for letter in "abcdefghij"]
    serve(simulator, full)
    nightly_plain(config, night(0))
    serve(simulator, full[:3])
    nightly_plain(config, night(1))
    serve(simulator, full[3:7])
    [second] = nightly_plain(config, night(2))
    assert second.status == "suspect"
    serve(simulator, full)
    nightly_plain(config, night(3))
    assert query(config, "select status, resolution from pulls order by observed_at") == [
        ("ok", None),
        ("suspect", "dismissed"),
        ("suspect", "dismissed"),
        ("ok", None),
    ]
    assert events(config) == []
    assert_rebuild_reproduces(config)


def archived_by_a_crashed_run(simulator: SimulatorServer, config: Config, observed_at: datetime) -> PullRecord:
    """acme-prod/default pulled (m-a's input at 0.002) and archived, but never loaded: what a run
    that died between archiving and loading leaves."""
    from flows.client import make_http_client
    from flows.pipeline import pull_one

    serve(simulator, [model("m-a", inp=0.002), *BASE[1:]])
    with make_http_client(config.api) as client:
        return pull_one(config, config.licenses[0], "default", observed_at, client)


def test_a_pull_archived_by_a_crashed_run_loads_with_the_next_run(simulator: SimulatorServer, config: Config) -> None:
    serve(simulator, BASE)
    nightly_plain(config, night(0))
    orphan = archived_by_a_crashed_run(simulator, config, night(1))
    serve(simulator, [model("m-a", inp=0.003), *BASE[1:]])
    nightly_plain(config, night(2))
    assert [row[0] for row in query(config, "select pull_id from pulls order by observed_at")][1] == orphan.pull_id
    rates = query(config, "select observed_at, new_input_cost_per_micro_credit from catalog_events order by observed_at")
    assert rates == [(night(1), 0.002), (night(2), 0.003)]


def test_a_rebuild_clears_what_a_killed_rebuild_or_load_left(simulator: SimulatorServer, config: Config) -> None:
    serve(simulator, BASE)
    nightly_plain(config, night(0))
    live = snapshot(config)
    database = db_path(config.data_dir)
    scratch = database.with_name(database.name + ".rebuild")
    scratch.write_bytes(b"the start of a database a killed rebuild was writing")
    scratch.with_name(scratch.name + ".wal").write_bytes(b"its log")
    killed_load = "import duckdb, os, sys; con = duckdb.connect(sys.argv[1]); con.execute(\"update pulls set error = 'half done'\"); os._exit(9)"
    subprocess.run([sys.executable, "-c", killed_load, str(database)], check=False)
    assert database.with_name(database.name + ".wal").exists(), "a load killed after its commit leaves its log for the old file"
    rebuild_database(config)
    assert snapshot(config) == live
    assert not scratch.exists() and not scratch.with_name(scratch.name + ".wal").exists()


def test_a_pull_dated_before_midnight_archived_after_a_later_load_still_loads(simulator: SimulatorServer, config: Config) -> None:
    """A run that crossed midnight archives its pull (dated the day before) after another run loaded a
    later one: the next load looks back a day before its catalog's latest load and replays it in."""
    serve(simulator, BASE)
    nightly_plain(config, night(0))
    after_midnight = night(1).replace(hour=0, minute=10)
    serve(simulator, [model("m-a", inp=0.003), *BASE[1:]])
    nightly_plain(config, after_midnight)
    orphan = archived_by_a_crashed_run(simulator, config, after_midnight - timedelta(minutes=20))
    assert orphan.observed_at.date() < after_midnight.date()
    serve(simulator, [model("m-a", inp=0.003), *BASE[1:]])
    nightly_plain(config, night(2))
    assert orphan.pull_id in {row[0] for row in query(config, "select pull_id from pulls")}
    rates = query(config, "select observed_at, new_input_cost_per_micro_credit from catalog_events order by observed_at")
    assert rates == [(orphan.observed_at, 0.002), (after_midnight, 0.003)]
    assert_rebuild_reproduces(config)


@pytest.mark.parametrize("upgraded", [False, True], ids=["this layout", "upgraded from layout 8"])
def test_pulls_of_one_instant_apply_in_pull_id_order_and_guard_what_is_current(simulator: SimulatorServer, config: Config, upgraded: bool) -> None:
    """Two pulls of a catalog at the same instant (a night run twice with the same date) apply in
    (observed_at, pull_id) order, in the load as in the rebuild: the shrink guard must then count
    the models the later one left current, not the earlier one's (layout 8 took either)."""
    from flows.archive import archive_pull
    from flows.client import fetch_catalog, make_http_client
    from flows.pipeline import load_and_summarise

    ten = [model(f"m-{n}") for n in range(10)]
    serve(simulator, ten)
    nightly_plain(config, night(0))
    records = []
    with make_http_client(config.api) as client:
        for suffix, models in (("a", ten), ("b", ten[:6])):
            serve(simulator, models)
            result = fetch_catalog(client, config.api, os.environ[KEY_VARS["acme-prod"]], "default")
            records.append(archive_pull(config.data_dir, "acme-prod", "default", night(1), result, config.history, pull_id=f"same-instant-{suffix}"))
    load_and_summarise(config, records)
    assert query(config, "select last_applied_pull_id, last_applied_model_count from catalog_state") == [("same-instant-b", 6)]
    if upgraded:
        con = duckdb.connect(str(db_path(config.data_dir)))
        con.execute(
            "create or replace view catalog_state as select license, provider, max(observed_at) as last_pulled_at, "
            "arg_max(pull_id, observed_at) filter (where status = 'ok' or resolution = 'confirmed') as last_applied_pull_id, "
            "max(observed_at) filter (where status = 'ok' or resolution = 'confirmed') as last_applied_at, "
            "arg_max(model_count, observed_at) filter (where status = 'ok' or resolution = 'confirmed') as last_applied_model_count, "
            "any_value(pull_id) filter (where resolution = 'pending') as pending_suspect_pull_id from pulls group by license, provider"
        )
        con.execute("update qcat_schema set version = 8")
        con.close()
        assert query(config, "select last_applied_model_count from catalog_state") == [(10,)], "layout 8 took the earlier pull"
    serve(simulator, ten[:2])
    nightly_plain(config, night(2))
    assert query(config, "select status, resolution, removed_count from pulls where observed_at = $1", [night(2)]) == [("suspect", "pending", 4)]
    expected = snapshot(config)
    rebuild_database(config)
    assert snapshot(config) == expected


def test_a_layout_that_differs_in_views_only_is_upgraded_in_place(simulator: SimulatorServer, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "anthropic"]}))
    nightly_plain(config, night(0))
    expected = snapshot(config)
    con = duckdb.connect(str(db_path(config.data_dir)))
    # layout 5, as an older qcat left it: catalog_state without last_pulled_at
    con.execute("create or replace view catalog_state as select license, provider, null as pending_suspect_pull_id from pulls")
    con.execute("update qcat_schema set version = 5")
    con.close()
    simulator.add_fault("unavailable", count=None, license="acme-prod", provider="anthropic")
    nightly_plain(config, night(1))
    assert query(config, "select max(version) from qcat_schema") == [(SCHEMA_VERSION,)]
    assert query(config, "select count(*) from pulls") == [(len(expected["pulls"]) * 2,)], "the night after the upgrade loaded"
    assert query(config, "select provider, last_pulled_at = last_applied_at from catalog_state where license = 'acme-prod' order by 1") == [
        ("anthropic", False),
        ("default", True),
    ]


def test_a_layout_9_file_gets_its_views_and_macros_again_in_place(simulator: SimulatorServer, config: Config) -> None:
    """Layout 10 changed what five views and macros return (ties of one instant, rate_spread's
    ratios at 0, changes_between's min_pct): the first writer to open a layout 9 file makes them again."""
    serve(simulator, [model("a", inp=0.001), model("b", inp=0.0)])
    nightly_plain(config, night(0))
    serve(simulator, [model("a", inp=0.0012), model("c")])
    nightly_plain(config, night(1))
    reads = {
        "changes_between": "select * from changes_between('2000-01-01', '2100-01-01', min_pct := 5) order by all",
        "rate_changes": "select * from rate_changes order by all",
        "price_change_stats": "select * from price_change_stats order by all",
        "model_lifecycle": "select * from model_lifecycle order by all",
        "rate_spread": "select * from rate_spread('license') order by all",
    }
    expected = {name: query(config, sql) for name, sql in reads.items()}
    assert expected["changes_between"] and expected["rate_changes"] and expected["model_lifecycle"], "something to compare"
    con = duckdb.connect(str(db_path(config.data_dir)))
    # layout 9, as far as this test can tell: the five answer something else
    con.execute("create or replace macro changes_between(since, until, min_pct := null) as table select 1 as stale")
    con.execute("create or replace macro rate_spread(differ_by) as table select 1 as stale")
    for view in ("rate_changes", "price_change_stats", "model_lifecycle"):
        con.execute(f"create or replace view {view} as select 1 as stale")
    con.execute("update qcat_schema set version = 9")
    con.close()
    connect(db_path(config.data_dir)).close()
    assert query(config, "select max(version) from qcat_schema") == [(SCHEMA_VERSION,)]
    assert {name: query(config, sql) for name, sql in reads.items()} == expected


def test_a_layout_10_file_gets_null_safe_changes_between_in_place(simulator: SimulatorServer, config: Config) -> None:
    serve(simulator, [model("a", inp=0.001), model("b")])
    nightly_plain(config, night(0))
    serve(simulator, [model("a", inp=0.0012), model("c")])
    nightly_plain(config, night(1))
    versions = query(config, "select * from model_versions order by all")
    con = duckdb.connect(str(db_path(config.data_dir)))
    # layout 10, as far as this test can tell: a null list filtered everything out
    con.execute("create or replace macro changes_between(since, until, types := []) as table select 1 where false")
    con.execute("create or replace view model_versions as select * from model_versions_current")
    con.execute("update qcat_schema set version = 10")
    con.close()
    connect(db_path(config.data_dir)).close()
    assert query(config, "select max(version) from qcat_schema") == [(SCHEMA_VERSION,)]
    assert query(config, "select count(*) from changes_between(null, null, types := null, licenses := null)") == [(3,)]
    assert query(config, "select * from model_versions order by all") == versions


def test_a_layout_6_file_gets_its_percent_changes_again_in_place(simulator: SimulatorServer, config: Config) -> None:
    serve(simulator, [model("cut", inp=0.0015)])
    nightly_plain(config, night(0))
    serve(simulator, [model("cut", inp=0.00135)])
    nightly_plain(config, night(1))
    con = duckdb.connect(str(db_path(config.data_dir)))
    # layout 6, as an older qcat left it: percent changes as floating point leaves them
    con.execute("create or replace macro pct_change(old_rate, new_rate) as case when old_rate <> 0 then (new_rate - old_rate) / old_rate * 100 end")
    con.execute("update catalog_events set input_pct_change = pct_change(old_input_cost_per_micro_credit, new_input_cost_per_micro_credit)")
    con.execute("update qcat_schema set version = 6")
    con.close()
    assert query(config, "select input_pct_change from catalog_events") == [(-9.999999999999998,)]
    nightly_plain(config, night(2))
    assert query(config, "select max(version) from qcat_schema") == [(SCHEMA_VERSION,)]
    assert query(config, "select input_pct_change, output_pct_change from catalog_events") == [(-10.0, 0.0)]
    assert query(config, "select pct_change from rate_changes") == [(-10.0,)], "the views compute with the new macro too"


def test_a_layout_7_file_gets_its_constraints_and_unmoved_percent_changes_in_place(simulator: SimulatorServer, config: Config) -> None:
    serve(simulator, [model("free", inp=0.0, out=0.002), model("gone")])
    nightly_plain(config, night(0))
    serve(simulator, [model("free", inp=0.0, out=0.003)])
    nightly_plain(config, night(1))
    con = duckdb.connect(str(db_path(config.data_dir)))
    # layout 7, as an older qcat left it: no percent change for a rate unmoved at 0, and ended
    # versions created without constraints
    con.execute("create or replace macro pct_change(old_rate, new_rate) as case when old_rate <> 0 then printf('%.10g', (new_rate - old_rate) / old_rate * 100)::double end")
    con.execute("update catalog_events set input_pct_change = pct_change(old_input_cost_per_micro_credit, new_input_cost_per_micro_credit)")
    con.execute("alter table model_versions_ended alter column license drop not null")
    con.execute("alter table model_versions_ended alter column valid_to drop not null")
    con.execute("alter table model_versions_ended alter column valid_to_pull_id drop not null")
    con.execute("update qcat_schema set version = 7")
    con.close()
    assert query(config, "select input_pct_change from catalog_events where event_type = 'rate_changed'") == [(None,)]
    nightly_plain(config, night(2))
    assert query(config, "select max(version) from qcat_schema") == [(SCHEMA_VERSION,)]
    assert query(config, "select input_pct_change, output_pct_change from catalog_events where event_type = 'rate_changed'") == [(0.0, 50.0)]
    nullable = "select column_name from information_schema.columns where table_name = 'model_versions_ended' and is_nullable = 'YES' order by 1"
    assert query(config, nullable) == [("context_window",), ("max_output_tokens",), ("name",)]


def test_an_upgrade_that_fails_leaves_the_file_as_it_was_and_open_to_others(simulator: SimulatorServer, config: Config) -> None:
    nightly_plain(config, night(0))
    path = db_path(config.data_dir)
    con = duckdb.connect(str(path))
    con.execute("create or replace view catalog_state as select 'layout 5' as marker")
    # a layout record that cannot take the new one: recording it fails after the views were replaced
    con.execute("drop table qcat_schema")
    con.execute("create view qcat_schema as select 5 as version")
    con.close()
    # the failure is kept, as a flow run's state keeps it: its traceback must not hold the file open
    with pytest.raises(duckdb.Error) as failure:
        connect(path)
    reader = duckdb.connect(str(path), read_only=True)
    try:
        assert reader.execute("from catalog_state").fetchall() == [("layout 5",)], "the upgrade rolled back whole"
    finally:
        reader.close()
    assert "qcat_schema" in str(failure.value)


def test_a_database_from_an_older_layout_asks_for_a_rebuild(config: Config, simulator: SimulatorServer) -> None:
    from flows.errors import ArchiveError

    nightly_plain(config, night(0))
    expected = snapshot(config)
    con = duckdb.connect(str(db_path(config.data_dir)))
    con.execute("drop table qcat_schema")
    con.close()
    with pytest.raises(ArchiveError, match=r"built by an older qcat \(layout 1, this qcat needs \d+\): run `qcat rebuild`"):
        nightly_plain(config, night(1))
    rebuild_database(config)
    assert query(config, "select count(*) from pulls") == [(2,)], "the pull that met the old file was archived and loads now"
    assert snapshot(config)["model_versions"] == expected["model_versions"]


def test_an_unreadable_file_of_the_night_fails_the_load_by_name_and_loads_once_restored(simulator: SimulatorServer, config: Config) -> None:
    """One load is one transaction: nothing of the night is applied while one of its files cannot be
    read, and nothing is lost either, as every pull stays archived for the next run."""
    from flows.client import make_http_client
    from flows.errors import ArchiveError
    from flows.pipeline import load_and_summarise, pull_one

    serve(simulator, BASE)
    nightly_plain(config, night(0))
    before = snapshot(config)
    serve(simulator, [model("m-a", inp=0.002), *BASE[1:]])
    with make_http_client(config.api) as client:
        records = [pull_one(config, license, provider, night(1), client) for license, provider in config.catalogs]
    models_file = archive_root(config.data_dir) / records[0].models_file
    content = models_file.read_bytes()
    models_file.write_bytes(content[: len(content) // 2])
    with pytest.raises(ArchiveError, match=rf"^acme-prod/default: cannot read the archived file {models_file} \(.*; nothing was loaded: this run's pulls are archived"):
        load_and_summarise(config, records)
    assert snapshot(config) == before
    models_file.write_bytes(content)
    [summary] = load_and_summarise(config, records)
    assert (summary.status, summary.events) == ("ok", 1)


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        ({"context_window": None}, ("limits_changed", "old_context_window", None, "new_context_window", 128000)),
        ({"max_output_tokens": None}, ("limits_changed", "old_max_output_tokens", None, "new_max_output_tokens", 8192)),
        ({"name": None}, ("renamed", "old_name", None, "new_name", "M-A")),
    ],
    ids=["context window", "max output", "name"],
)
def test_a_value_that_appears_from_null_is_a_change(simulator: SimulatorServer, config: Config, before: dict, expected: tuple) -> None:
    """null -> value is a change like any other (`<>` would see none: it is null on nulls), in the
    load and the rebuild alike."""
    event_type, old_column, old, new_column, new = expected
    serve(simulator, [{**model("m-a"), **before}, *BASE[1:]])
    nightly_plain(config, night(0))
    serve(simulator, BASE)
    [summary] = nightly_plain(config, night(1))
    assert summary.events == 1
    assert query(config, f"select model_id, event_type, {old_column}, {new_column} from catalog_events") == [("m-a", event_type, old, new)]
    column = new_column.removeprefix("new_")
    assert query(config, f"select {column} from model_versions where model_id = 'm-a' and is_current") == [(new,)]
    assert_rebuild_reproduces(config)


@pytest.mark.parametrize("sibling", [("acme-prod", "anthropic"), ("acme-research", "default")], ids=["another provider", "another license"])
def test_a_model_gone_from_one_catalog_is_added_to_another(simulator: SimulatorServer, tmp_path: Path, sibling: tuple[str, str]) -> None:
    """`readded` means back in this catalog: having been in another catalog, of another provider or of
    another license, does not count."""
    gone = ("acme-prod", "default")
    licenses: dict[str, list[str]] = {}
    for license, provider in (gone, sibling):
        licenses.setdefault(license, []).append(provider)
    config = load_config(write_config(tmp_path, simulator.base_url, licenses))
    others = [model(f"o-{n}") for n in range(4)]
    play_nights(simulator, config, {0: {gone: BASE, sibling: others}, 1: {gone: BASE[:3]}, 2: {sibling: [*others, model("m-d")]}})
    assert query(config, "select license, provider, model_id, event_type from catalog_events order by observed_at") == [
        (*gone, "m-d", "removed"),
        (*sibling, "m-d", "added"),
    ]
    assert_rebuild_reproduces(config)


def test_a_pull_of_the_latest_instant_archived_late_replays_its_catalog(simulator: SimulatorServer, config: Config) -> None:
    """Pulls of one instant apply in pull id order: one archived after the other loaded, with the
    smaller id, belongs before it, so the catalog replays rather than make its rate current."""
    from flows.archive import archive_pull
    from flows.client import fetch_catalog, make_http_client
    from flows.pipeline import load_and_summarise

    serve(simulator, BASE)
    nightly_plain(config, night(0))
    with make_http_client(config.api) as client:
        serve(simulator, [model("m-a", inp=0.005), *BASE[1:]])
        earlier = fetch_catalog(client, config.api, os.environ[KEY_VARS["acme-prod"]], "default")
        serve(simulator, [model("m-a", inp=0.003), *BASE[1:]])
        later = fetch_catalog(client, config.api, os.environ[KEY_VARS["acme-prod"]], "default")
    load_and_summarise(config, [archive_pull(config.data_dir, "acme-prod", "default", night(1), later, config.history, pull_id="same-instant-b")])
    load_and_summarise(config, [archive_pull(config.data_dir, "acme-prod", "default", night(1), earlier, config.history, pull_id="same-instant-a")])
    assert query(config, "select input_cost_per_micro_credit from model_versions where model_id = 'm-a' and is_current") == [(0.003,)]
    assert_rebuild_reproduces(config)


def test_suspects_of_two_catalogs_in_one_round_are_each_settled_against_their_own(simulator: SimulatorServer, tmp_path: Path) -> None:
    """acme-prod's pull lacks 7 of its 10 models and acme-research's lists 15 strangers besides its
    10, on the same night: both held. The next night both are whole again: both dismissed, whatever
    the other catalog's suspect listed."""
    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"], "acme-research": ["default"]}))
    ten = [model(f"m-{n}") for n in range(10)]
    prod, research = ("acme-prod", "default"), ("acme-research", "default")
    play_nights(simulator, config, {
        0: {prod: ten, research: ten},
        1: {prod: ten[:3], research: [*ten, *(model(f"x-{n}") for n in range(15))]},
        2: {prod: ten, research: ten},
    })
    assert query(config, "select license, resolution from pulls where status = 'suspect' order by 1") == [("acme-prod", "dismissed"), ("acme-research", "dismissed")]
    assert events(config) == []
    assert_rebuild_reproduces(config)


def test_archive_files_are_never_overwritten(tmp_path: Path) -> None:
    from flows.archive import write_new
    from flows.errors import ArchiveError

    path = tmp_path / "archive" / "x.json"
    write_new(path, b"original")
    with pytest.raises(ArchiveError, match="never overwritten"):
        write_new(path, b"replacement")
    assert path.read_bytes() == b"original"
    assert [entry.name for entry in path.parent.iterdir()] == ["x.json"], "no temporary file left behind"


def test_an_archive_write_that_fails_leaves_no_file_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pull record is the commit point: one that could not be written whole (a full disk) must not
    be found, half-written, by the next load."""
    from flows import archive

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(archive.os, "fsync", full_disk)
    path = tmp_path / "archive" / "x.json"
    with pytest.raises(OSError, match="No space left"):
        archive.write_new(path, b'{"pull_id": "x"}')
    assert list(path.parent.iterdir()) == []


def test_read_records_gives_pulls_of_one_instant_in_pull_id_order(tmp_path: Path) -> None:
    """Load order: a rebuild applies pulls of one instant as the nightly load does, by pull id."""
    from flows.archive import archive_failure

    made = [archive_failure(tmp_path, license, "default", night(0), "auth_error", "no key") for license in ("a", "b", "c") for _ in range(8)]
    made += [archive_failure(tmp_path, "a", "default", night(1), "auth_error", "no key")]
    assert [r.pull_id for r in read_records(tmp_path)] == sorted(r.pull_id for r in made[:-1]) + [made[-1].pull_id]


def test_a_pull_a_crashed_run_archived_earlier_the_same_day_loads_with_the_rerun(simulator: SimulatorServer, config: Config) -> None:
    """The rerun looks for pulls left behind up to and including its own day."""
    serve(simulator, BASE)
    nightly_plain(config, night(0))
    orphan = archived_by_a_crashed_run(simulator, config, night(1))
    nightly_plain(config, night(1) + timedelta(hours=6))  # the crashed run started again, the same day
    assert [row[0] for row in query(config, "select pull_id from pulls order by observed_at")][1] == orphan.pull_id
    assert query(config, "select observed_at, new_input_cost_per_micro_credit from catalog_events") == [(night(1), 0.002)]


def test_list_records_since_a_day_includes_that_day(tmp_path: Path) -> None:
    from flows.archive import archive_failure, list_records

    made = [archive_failure(tmp_path, "a", "default", night(n), "auth_error", "no key") for n in range(3)]
    since = {("a", "default"): night(1).date()}
    assert sorted(list_records(tmp_path, since)) == sorted(r.pull_id for r in made[1:])
    assert sorted(list_records(tmp_path, since, night(1).date())) == [made[1].pull_id]


@pytest.mark.parametrize("key", ["sim-key acme-prod", "sim-key-acme-prod\r\nX-Injected: 1", "sim-key-acmé-prod"])
def test_a_key_no_header_can_carry_is_an_auth_error_naming_its_variable(
    simulator: SimulatorServer, config: Config, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv(KEY_VARS["acme-prod"], key)
    [summary] = nightly_plain(config, night(0))
    assert (summary.status, summary.error) == (
        "auth_error", f"environment variable {KEY_VARS['acme-prod']} holds a key with spaces, line breaks or non-ASCII characters"
    )
    assert simulator.requests == [], "nothing was sent"


def test_a_key_read_with_its_line_end_still_works(simulator: SimulatorServer, config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key copied from a file keeps its newline (KEY=$(<file) does not strip a \\r)."""
    from tests.conftest import API_KEYS

    monkeypatch.setenv(KEY_VARS["acme-prod"], f"  {API_KEYS['acme-prod']}\r\n")
    [summary] = nightly_plain(config, night(0))
    assert summary.status == "ok" and summary.models > 0


def test_rebuild_reports_the_pulls_and_events_it_rebuilt(simulator: SimulatorServer, config: Config) -> None:
    """`qcat rebuild` prints these counts: they must be the rebuilt history's, not zero."""
    play_nights(simulator, config, {
        0: {("acme-prod", "default"): [model("a"), model("b")]},
        1: {("acme-prod", "default"): [model("a", 0.002), model("c")]},
    })
    report = rebuild_database(config)
    con = duckdb.connect(str(db_path(config.data_dir)), read_only=True)
    try:
        events = con.execute("select count(*) from catalog_events").fetchone()[0]
    finally:
        con.close()
    assert (report.pulls, report.events) == (2, events) and events == 3


# ---- from a seventh audit (hand mutation of the history semantics: the guard, the diff, the rebuild)


def test_growth_to_exactly_the_allowed_share_applies_and_one_more_model_is_held(simulator: SimulatorServer, config: Config) -> None:
    """max_added_share = 1.0 allows a catalog to double its peak: 4 -> 8 is growth, 8 -> 17 a swapped catalog."""
    serve(simulator, BASE)
    nightly_plain(config, night(0))
    serve(simulator, BASE + [model(f"new-{i}") for i in range(4)])
    [doubled] = nightly_plain(config, night(1))
    assert (doubled.status, doubled.events) == ("ok", 4)
    serve(simulator, BASE + [model(f"new-{i}") for i in range(13)])  # 17 models: one past twice the peak of 8
    [held] = nightly_plain(config, night(2))
    assert held.status == "suspect"


def test_a_catalog_swapped_again_after_a_dismissal_is_held_again(simulator: SimulatorServer, config: Config) -> None:
    """The grow guard measures against the most models an *applied* pull listed: a dismissed swap
    must not raise that peak, or the gateway's next swap would become history."""
    swapped = BASE + [model(f"other-{i}") for i in range(5)]
    serve(simulator, BASE)
    nightly_plain(config, night(0))
    serve(simulator, swapped)
    nightly_plain(config, night(1))
    serve(simulator, BASE)
    nightly_plain(config, night(2))
    serve(simulator, swapped)
    [again] = nightly_plain(config, night(3))
    assert (again.status, again.events) == ("suspect", 0)
    assert query(config, "select resolution from pulls where status = 'suspect' order by observed_at") == [("dismissed",), ("pending",)]
    assert events(config) == []
    assert_rebuild_reproduces(config)


def test_suspects_of_two_catalogs_in_one_round_are_each_confirmed_by_their_own(simulator: SimulatorServer, tmp_path: Path) -> None:
    """Two licenses see the same provider's models under the same ids. On night 1 acme-prod's pull
    lacks 7 of its 10 and acme-research's lists 15 strangers besides the 10: both held. Night 2 says
    the same: both confirmed, though acme-research's pull lists every model acme-prod lacks."""
    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"], "acme-research": ["default"]}))
    ten = [model(f"m-{n}") for n in range(10)]
    prod, research = ("acme-prod", "default"), ("acme-research", "default")
    play_nights(simulator, config, {
        0: {prod: ten, research: ten},
        1: {prod: ten[:3], research: [*ten, *(model(f"x-{n}") for n in range(15))]},
        2: {},
    })
    assert query(config, "select license, resolution from pulls where status = 'suspect' order by 1") == [("acme-prod", "confirmed"), ("acme-research", "confirmed")]
    assert query(config, "select license, event_type, observed_at, count(*) from catalog_events group by all order by all") == [
        ("acme-prod", "removed", night(1), 7),
        ("acme-research", "added", night(1), 15),
    ]
    assert_rebuild_reproduces(config)


def test_a_shrink_is_confirmed_by_a_pull_that_also_lists_a_model_of_a_sibling_catalog(simulator: SimulatorServer, tmp_path: Path) -> None:
    """acme-prod/default's shrink is confirmed by a pull lacking the same models; that it also lists
    a model current in acme-prod/anthropic (new to default) is no disagreement with the suspect."""
    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "anthropic"]}))
    ten = [model(f"m-{n}") for n in range(10)]
    others = [model(f"o-{n}") for n in range(4)]
    default, anthropic = ("acme-prod", "default"), ("acme-prod", "anthropic")
    play_nights(simulator, config, {0: {default: ten, anthropic: others}, 1: {default: ten[:3]}, 2: {default: [*ten[:3], others[0]]}})
    assert query(config, "select status, resolution from pulls where provider = 'default' order by observed_at") == [
        ("ok", None), ("suspect", "confirmed"), ("ok", None),
    ]
    assert query(config, "select event_type, observed_at, count(*) from catalog_events group by all order by 2, 1") == [
        ("removed", night(1), 7), ("added", night(2), 1),
    ]
    assert_rebuild_reproduces(config)


def test_a_sibling_catalogs_models_listed_besides_this_ones_are_dismissed(simulator: SimulatorServer, tmp_path: Path) -> None:
    """A gateway that mixes acme-prod/anthropic's models into acme-prod/default's answer: that they are
    current in the sibling catalog does not make them this catalog's, so the next honest pull
    (lacking them again) dismisses the suspect."""
    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "anthropic"]}))
    others = [model(f"o-{n}") for n in range(5)]
    default, anthropic = ("acme-prod", "default"), ("acme-prod", "anthropic")
    play_nights(simulator, config, {0: {default: BASE, anthropic: others}, 1: {default: [*BASE, *others]}, 2: {default: BASE}})
    assert query(config, "select status, resolution from pulls where provider = 'default' order by observed_at") == [
        ("ok", None), ("suspect", "dismissed"), ("ok", None),
    ]
    assert events(config) == []
    assert_rebuild_reproduces(config)


def test_a_pull_that_confirms_a_shrink_and_shrinks_further_is_held_itself(simulator: SimulatorServer, config: Config) -> None:
    """10 -> 4 is held; the next pull lists 1 of those 4 and none of the 6: it confirms the shrink,
    then is judged against the 4 now current (3 of 4 gone), not the 10 before, in the load and the
    rebuild alike."""
    ten = [model(f"m-{n}") for n in range(10)]
    for n, models in enumerate([ten, ten[:4], ten[:1]]):
        serve(simulator, models)
        nightly_plain(config, night(n))
    assert query(config, "select status, resolution, removed_count from pulls order by observed_at") == [
        ("ok", None, 0), ("suspect", "confirmed", 6), ("suspect", "pending", 3),
    ]
    assert query(config, "select count(*) from model_versions where is_current") == [(4,)]
    assert_rebuild_reproduces(config)


def test_a_suspect_stays_pending_through_a_failed_pull_while_another_catalogs_is_settled(simulator: SimulatorServer, tmp_path: Path) -> None:
    """Both catalogs shrink on night 1. On night 2 acme-prod is whole again (dismissed) and
    acme-research fails: a failed pull settles nothing, and settling acme-prod's suspect must not
    touch acme-research's. Night 3 confirms it, the removals dated at the suspect pull."""
    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"], "acme-research": ["default"]}))
    ten = [model(f"m-{n}") for n in range(10)]
    play_nights(simulator, config, {0: {("acme-prod", "default"): ten, ("acme-research", "default"): ten}})
    for n, research_fails in ((1, False), (2, True), (3, False)):
        simulator.clear_faults()
        if research_fails:
            simulator.add_fault("unavailable", count=None, license="acme-research")  # the first matching fault wins
        simulator.add_fault("override", count=None, license="acme-prod", provider="default", models=ten[:3] if n == 1 else ten)
        simulator.add_fault("override", count=None, license="acme-research", provider="default", models=ten[:3])
        nightly_plain(config, night(n))
        if n == 2:
            assert query(config, "select license, status, resolution from pulls where observed_at >= $1 order by 2, 1", [night(1)]) == [
                ("acme-prod", "ok", None),
                ("acme-prod", "suspect", "dismissed"),
                ("acme-research", "suspect", "pending"),
                ("acme-research", "unavailable", None),
            ]
    assert query(config, "select resolution from pulls where license = 'acme-research' and status = 'suspect'") == [("confirmed",)]
    removed = query(config, "select license, observed_at, count(*) from catalog_events where event_type = 'removed' group by all")
    assert removed == [("acme-research", night(1), 7)]
    assert_rebuild_reproduces(config)


def test_rebuild_splits_names_that_alternate(simulator: SimulatorServer, config: Config) -> None:
    """A name that goes X -> Y -> X -> Y: both names come back after a gap, and the rebuild must keep
    their runs apart by name, as the nightly load does."""
    for n, name in enumerate(["X", "Y", "X", "Y"]):
        serve(simulator, [model("m-a", name=name), *BASE[1:]])
        nightly_plain(config, night(n))
    assert query(config, "select old_name, new_name from catalog_events order by observed_at") == [("X", "Y"), ("Y", "X"), ("X", "Y")]
    assert_rebuild_reproduces(config)


def test_event_ids_are_the_md5_of_pull_catalog_model_and_type(simulator: SimulatorServer, config: Config) -> None:
    """Alert keys (event:<id>) in archive/alerts outlive the database: a rebuild by a later qcat must
    give every event the id it had, so the formula is fixed, not just consistent between paths."""
    import hashlib

    serve(simulator, BASE)
    nightly_plain(config, night(0))
    serve(simulator, [model("m-a", inp=0.002, ctx=64000), *BASE[1:]])
    nightly_plain(config, night(1))
    rows = query(config, "select event_id, pull_id, license, provider, model_id, event_type from catalog_events order by event_type")
    assert [row[5] for row in rows] == ["limits_changed", "rate_changed"]
    for event_id, *parts in rows:
        assert event_id == hashlib.md5("|".join(parts).encode()).hexdigest()


def test_percent_changes_keep_ten_significant_digits(simulator: SimulatorServer, config: Config) -> None:
    serve(simulator, [model("m-a", inp=0.0015)])
    nightly_plain(config, night(0))
    serve(simulator, [model("m-a", inp=0.001612345679)])
    nightly_plain(config, night(1))
    assert query(config, "select input_pct_change from catalog_events") == [(7.489711933,)]
