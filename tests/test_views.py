"""The query views and macros in sql/ answer the questions users ask, exactly, on a known history."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from flows.config import Config, load_config
from flows.database import db_path
from flows.replay import rebuild_database
from flows.simulator import SimulatorServer
from tests.conftest import KEY_VARS, model, night, play_nights, qcat, write_config
from tests.test_report import embedded

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


def _read(config: Config, query: str, params: dict | None = None) -> list[tuple]:
    con = duckdb.connect(str(db_path(config.data_dir)), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(query, params or {}).fetchall()
    finally:
        con.close()


def test_min_pct_and_direction_judge_each_rate_alone(simulator: SimulatorServer, tmp_path: Path) -> None:
    """Input down 10% and output up 50% in one event: a decrease of 50% or more is not there,
    as an alert rule with the same min_pct and direction would judge it."""
    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"]}))
    play_nights(simulator, config, {0: {("acme-prod", "default"): [model("a", 0.001, 0.002)]}, 1: {("acme-prod", "default"): [model("a", 0.0009, 0.003)]}})

    def passing(**filters: object) -> int:
        arguments = "".join(f", {name} := ${name}" for name in filters)
        query = f"select count(*) from changes_between($since, $until{arguments})"
        return _read(config, query, {"since": night(0), "until": night(2), **filters})[0][0]

    assert passing() == 1
    assert passing(min_pct=50, direction="decrease") == 0
    assert passing(min_pct=50, direction="increase") == 1
    assert passing(min_pct=10, direction="decrease") == 1
    assert passing(direction="decrease") == 1
    assert passing(min_pct=51) == 0
    assert passing(types=None, licenses=None, providers=None, model_glob=None, min_pct=None, direction=None) == 1, "null filters nothing"
    assert _read(config, "select count(*) from changes_between(null, null)") == [(1,)]
    with pytest.raises(duckdb.InvalidInputException, match="direction must be 'increase' or 'decrease'"):
        passing(direction="down")
    with pytest.raises(duckdb.InvalidInputException, match="direction must be 'increase' or 'decrease'"):
        _read(config, "from changes_between($since, $until, direction := 'down')", {"since": night(5), "until": night(6)})  # nothing to judge


def test_zero_rates_give_no_ratio_either_way_and_a_typo_is_an_error(simulator: SimulatorServer, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"], "acme-research": ["default"]}))
    play_nights(
        simulator,
        config,
        {0: {("acme-prod", "default"): [model("free", 0.0, 0.002)], ("acme-research", "default"): [model("free", 0.001, 0.0)]}},
    )
    assert _read(config, "select license_a, input_ratio, output_ratio from rate_spread('license') order by license_a") == [
        ("acme-prod", None, None),
        ("acme-research", None, None),
    ]
    assert _read(config, "select input_ratio, output_ratio from license_rate_spread") == [(None, None)]
    with pytest.raises(duckdb.InvalidInputException, match="differ_by must be 'license' or 'provider'"):
        _read(config, "from rate_spread('licence') where model_id = 'none such'")


def test_pulls_of_one_instant_keep_their_order_in_the_views(simulator: SimulatorServer, tmp_path: Path) -> None:
    """A night run three times with the same date: pulls x-a, x-b and x-c apply in that order at one
    instant, leaving versions of zero length. b leaves in x-a, returns in x-b at another rate and
    moves again in x-c; the views must follow the pulls' order, not whichever tie comes first."""
    from flows.archive import archive_pull
    from flows.client import fetch_catalog, make_http_client
    from flows.pipeline import load_and_summarise

    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"]}))
    play_nights(simulator, config, {0: {("acme-prod", "default"): [model("a", 0.001), model("b", 0.01)]}})
    records = []
    with make_http_client(config.api) as client:
        for suffix, models in (
            ("a", [model("a", 0.002)]),
            ("b", [model("a", 0.003), model("b", 0.02)]),
            ("c", [model("a", 0.003), model("b", 0.03)]),
        ):
            simulator.clear_faults()
            simulator.add_fault("override", count=None, license="acme-prod", provider="default", models=models)
            result = fetch_catalog(client, config.api, os.environ[KEY_VARS["acme-prod"]], "default")
            records.append(archive_pull(config.data_dir, "acme-prod", "default", night(1), result, config.history, pull_id=f"x-{suffix}"))
    load_and_summarise(config, records)
    for built in ("loaded", "rebuilt"):
        if built == "rebuilt":
            rebuild_database(config)
        stats = _read(config, "select model_id, rate_changes, first_input, last_input from price_change_stats order by model_id")
        assert stats == [("a", 2, 0.001, 0.003), ("b", 2, 0.01, 0.03)], built
        moves = _read(config, "select model_id, pull_id, old_rate, new_rate, while_removed from rate_changes where rate = 'input' order by model_id, pull_id")
        assert moves == [
            ("a", "x-a", 0.001, 0.002, False),
            ("a", "x-b", 0.002, 0.003, False),
            ("b", "x-b", 0.01, 0.02, True),
            ("b", "x-c", 0.02, 0.03, False),
        ], built
        assert _read(config, "select model_id, times_removed, times_readded, last_seen_at from model_lifecycle order by 1") == [
            ("a", 0, 0, night(1)),
            ("b", 1, 1, night(1)),
        ], built
        changes = _read(config, "select model_id, event_type, pull_id from changes_between($since, $until)", {"since": night(1), "until": night(2)})
        assert changes == [
            ("a", "rate_changed", "x-a"),
            ("b", "removed", "x-a"),
            ("a", "rate_changed", "x-b"),
            ("b", "readded", "x-b"),
            ("b", "rate_changed", "x-c"),
        ], built
    history = json.loads(qcat(tmp_path, "history", "b", "--format", "json").stdout)
    assert [(row["input_cost_per_micro_credit"], row["change"], row["removed_at_end"]) for row in history] == [
        (0.01, "baseline", True),
        (0.02, "readded", False),
        (0.03, "rate_changed", False),
    ]
    history = json.loads(qcat(tmp_path, "history", "a", "--format", "json").stdout)
    assert [(row["input_cost_per_micro_credit"], row["change"]) for row in history] == [(0.001, "baseline"), (0.002, "rate_changed"), (0.003, "rate_changed")]
    out = tmp_path / "report.html"
    assert qcat(tmp_path, "report", "--out", str(out)).returncode == 0
    charts = {chart["model_id"]: chart["series"] for chart in embedded(out)["charts"]["models"]}
    assert charts["a"][0]["input"] == [[int(night(0).timestamp()), 0.001], [int(night(1).timestamp()), 0.002], [int(night(1).timestamp()), 0.003]]
    assert charts["b"][0]["input"][-1] == [int(night(1).timestamp()), 0.03], "listed at the end: the empty versions come first"


DEFAULT, ANTHROPIC = ("acme-prod", "default"), ("acme-prod", "anthropic")
LONG_NIGHTS = {
    0: {
        DEFAULT: [model("x", 0.001, 0.002), model("y", 0.001, 0.002), model("z", 0.001, 0.002), model("s", 0.001, 0.002), model("r", 0.001, 0.002)],
        ANTHROPIC: [model("x", 0.005, 0.002), model("w", 0.001, 0.002)],
    },
    # x and r leave; y moves both rates in one event; z is cut 10%; x moves under anthropic
    1: {DEFAULT: [model("y", 0.002, 0.004), model("z", 0.0009, 0.002), model("s", 0.001, 0.002)], ANTHROPIC: [model("x", 0.006, 0.002), model("w", 0.001, 0.002)]},
    # r is back at its old rate; z is cut 50%; x moves again under anthropic, later than it left default
    2: {
        DEFAULT: [model("y", 0.002, 0.004), model("z", 0.00045, 0.002), model("s", 0.001, 0.002), model("r", 0.001, 0.002)],
        ANTHROPIC: [model("x", 0.007, 0.002), model("w", 0.001, 0.002)],
    },
    # x is back under default at another rate
    3: {DEFAULT: [model("x", 0.002, 0.002), model("y", 0.002, 0.004), model("z", 0.00045, 0.002), model("s", 0.001, 0.002), model("r", 0.001, 0.002)]},
    # x and r leave again; r never comes back
    4: {DEFAULT: [model("y", 0.002, 0.004), model("z", 0.00045, 0.002), model("s", 0.001, 0.002)]},
    # x is back a second time, at yet another rate
    5: {DEFAULT: [model("x", 0.003, 0.002), model("y", 0.002, 0.004), model("z", 0.00045, 0.002), model("s", 0.001, 0.002)]},
}


@pytest.fixture
def long_history(simulator: SimulatorServer, tmp_path: Path) -> Config:
    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": ["default", "anthropic"]}))
    play_nights(simulator, config, LONG_NIGHTS)
    return config


def test_a_return_compares_with_the_last_version_of_its_own_catalog(long_history: Config) -> None:
    """x leaves default twice and comes back each time at another rate: each return is measured
    against the version just before it (not the first one), and never against the same id under
    another provider, whose versions ended later."""
    moves = _read(
        long_history,
        "select provider, model_id, rate, old_rate, new_rate, while_removed, last_seen_old_at, observed_at "
        "from rate_changes where model_id = 'x' order by provider, observed_at, rate",
    )
    assert moves == [
        ("anthropic", "x", "input", 0.005, 0.006, False, night(0), night(1)),
        ("anthropic", "x", "input", 0.006, 0.007, False, night(1), night(2)),
        ("default", "x", "input", 0.001, 0.002, True, night(0), night(3)),
        ("default", "x", "input", 0.002, 0.003, True, night(3), night(5)),
    ]


def test_price_change_stats_counts_events_keeps_quiet_models_and_the_deepest_cut(long_history: Config) -> None:
    rows = _read(
        long_history,
        "select model_id, rate_changes, first_input, last_input, largest_increase_pct, largest_decrease_pct "
        "from price_change_stats where provider = 'default' order by model_id",
    )
    assert rows == [
        ("r", 0, 0.001, 0.001, None, None),  # left twice, never at another rate: still listed, with 0 changes
        ("s", 0, 0.001, 0.001, None, None),  # never moved
        ("x", 2, 0.001, 0.003, pytest.approx(100.0), None),
        ("y", 1, 0.001, 0.002, pytest.approx(100.0), None),  # one event moving both rates counts once
        ("z", 2, 0.001, 0.00045, None, pytest.approx(-50.0)),  # -10% then -50%: the largest cut is -50%
    ]


def test_model_lifecycle_follows_the_latest_departure_and_return(long_history: Config) -> None:
    rows = _read(
        long_history,
        "select model_id, is_listed, times_removed, times_readded, last_seen_at, last_removed_at, last_readded_at "
        "from model_lifecycle where provider = 'default' and model_id in ('r', 'x') order by model_id",
    )
    assert rows == [
        ("r", False, 2, 1, night(3), night(4), night(2)),  # last seen by the pull before its latest removal
        ("x", True, 2, 2, night(5), night(4), night(5)),
    ]
