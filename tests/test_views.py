"""The query views and macros in sql/ answer the questions users ask, exactly, on a known history."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from flows.config import load_config
from flows.database import db_path
from flows.replay import rebuild_database
from flows.simulator import SimulatorServer
from tests.conftest import model, night, play_nights, write_config

NIGHTS = {
    0: {
        ("acme-prod", "default"): [model("a", 0.001, 0.002), model("b", 0.003, 0.004)],
        ("acme-prod", "anthropic"): [model("a", 0.0012, 0.002)],
        ("acme-research", "default"): [model("a", 0.0008, 0.002), model("b", 0.003, 0.004)],
    },
    1: {("acme-prod", "default"): [model("a", 0.0015, 0.002)]},
    2: {("acme-prod", "default"): [model("a", 0.0015, 0.001), model("b", 0.003, 0.004)]},
    # b leaves both licenses; under acme-prod it comes back at another rate, under acme-research never
    3: {("acme-prod", "default"): [model("a", 0.0015, 0.001)], ("acme-research", "default"): [model("a", 0.0008, 0.002)]},
    4: {("acme-prod", "default"): [model("a", 0.0015, 0.001), model("b", 0.0035, 0.004)]},
}


@pytest.fixture
def database(simulator: SimulatorServer, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "anthropic"], "acme-research": ["default"]}))
    play_nights(simulator, config, NIGHTS)
    rebuild_database(config)
    con = duckdb.connect(str(db_path(config.data_dir)), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    yield con
    con.close()


def test_rates_as_of_is_exact_on_interval_boundaries(database: duckdb.DuckDBPyConnection) -> None:
    query = "select model_id, input_cost_per_micro_credit from rates_as_of($ts) where license = 'acme-prod' and provider = 'default' order by 1"
    assert database.execute(query, {"ts": night(1) - timedelta(microseconds=1)}).fetchall() == [("a", 0.001), ("b", 0.003)]
    assert database.execute(query, {"ts": night(1)}).fetchall() == [("a", 0.0015)]
    assert database.execute(query, {"ts": night(2)}).fetchall() == [("a", 0.0015), ("b", 0.003)]
    assert database.execute(query, {"ts": night(0) - timedelta(seconds=1)}).fetchall() == []


def test_rate_changes_are_bracketed_and_signed(database: duckdb.DuckDBPyConnection) -> None:
    rows = database.execute(
        "select model_id, rate, old_rate, new_rate, abs_change, pct_change, direction, last_seen_old_at, observed_at "
        "from rate_changes order by observed_at, rate"
    ).fetchall()
    assert rows == [
        ("a", "input", 0.001, 0.0015, pytest.approx(0.0005), pytest.approx(50.0), "increase", night(0), night(1)),
        ("a", "output", 0.002, 0.001, pytest.approx(-0.001), pytest.approx(-50.0), "decrease", night(1), night(2)),
        ("b", "input", 0.003, 0.0035, pytest.approx(0.0005), pytest.approx(16.666666), "increase", night(2), night(4)),
    ]
    assert database.execute("select model_id, while_removed from rate_changes order by observed_at, rate").fetchall() == [("a", False), ("a", False), ("b", True)]


def test_model_lifecycle_counts_departures_and_returns(database: duckdb.DuckDBPyConnection) -> None:
    rows = database.execute(
        "select license, model_id, first_seen_at, last_seen_at, is_listed, times_removed, times_readded, last_removed_at "
        "from model_lifecycle where provider = 'default' order by license, model_id"
    ).fetchall()
    assert rows == [
        ("acme-prod", "a", night(0), night(4), True, 0, 0, None),
        ("acme-prod", "b", night(0), night(4), True, 2, 2, night(3)),
        ("acme-research", "a", night(0), night(4), True, 0, 0, None),
        ("acme-research", "b", night(0), night(2), False, 1, 0, night(3)),
    ]


def test_spreads_compare_licenses_and_providers(database: duckdb.DuckDBPyConnection) -> None:
    licenses = database.execute(
        "select model_id, license_a, license_b, input_a, input_b, input_ratio from license_rate_spread order by model_id"
    ).fetchall()
    assert licenses == [
        ("a", "acme-prod", "acme-research", 0.0015, 0.0008, pytest.approx(1.875)),
    ]
    providers = database.execute("select license, model_id, provider_a, provider_b, input_ratio from provider_rate_spread").fetchall()
    assert providers == [("acme-prod", "a", "anthropic", "default", pytest.approx(0.8))]


def test_price_change_stats(database: duckdb.DuckDBPyConnection) -> None:
    rows = database.execute(
        "select model_id, rate_changes, first_input, last_input, first_output, last_output, largest_increase_pct, largest_decrease_pct "
        "from price_change_stats where license = 'acme-prod' and provider = 'default' order by model_id"
    ).fetchall()
    assert rows == [
        ("a", 2, 0.001, 0.0015, 0.002, 0.001, pytest.approx(50.0), pytest.approx(-50.0)),
        ("b", 1, 0.003, 0.0035, 0.004, 0.004, pytest.approx(16.666666), None),
    ]


def test_readme_examples_run(database: duckdb.DuckDBPyConnection) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Query views", 1)[1].split("DuckDB lets one process", 1)[0]
    examples = re.findall(r"\| `(from [^`]+)` \|", section)
    assert len(examples) == 9
    for example in examples:
        database.execute(example).fetchall()


def test_changes_between_answers_in_utc_in_any_session_time_zone(simulator: SimulatorServer, tmp_path: Path) -> None:
    """The macro is the users' own entry point: a plain duckdb session runs in the machine's zone, and
    model ids keep the gateway's case."""
    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"]}))
    unnamed = {**model("Vendor/Unnamed"), "name": None}
    play_nights(
        simulator,
        config,
        {
            0: {("acme-prod", "default"): [unnamed, model("Vendor/Free", 0.0, 0.002)]},
            1: {("acme-prod", "default"): [model("Vendor/Unnamed", name="Now Named"), model("Vendor/Free", 0.0, 0.003)]},
        },
    )
    con = duckdb.connect(str(db_path(config.data_dir)), read_only=True)
    try:
        con.execute("set TimeZone = 'America/New_York'")
        rows = con.execute(
            "select observed_at, previous_observed_at, model_id, event_type, change, input_pct_change, output_pct_change "
            "from changes_between($since, $until, model_glob := 'VENDOR/*')",
            {"since": night(0), "until": night(2)},
        ).fetchall()
    finally:
        con.close()
    utc = [night(1).replace(tzinfo=None), night(0).replace(tzinfo=None)]
    assert rows == [
        (*utc, "Vendor/Free", "rate_changed", "output 0.002 -> 0.003 (+50.00%)", 0.0, pytest.approx(50.0)),
        (*utc, "Vendor/Unnamed", "renamed", "none -> Now Named", None, None),
    ]
