"""`qcat rates`, `history`, `changes`, `compare` and `sql`: exact answers on a known history,
asked the way a user asks them (separate processes), plus the time arguments they accept."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from flows.config import load_config
from flows.database import db_path, open_database
from flows.errors import UsageError
from flows.history import connect
from flows.output import UNPRINTABLE, render
from flows.queries import Filters, rates, rates_table
from flows.simulator import CatalogSimulator, SimulatorServer
from flows.timespec import parse_instant, parse_span, parse_zone
from tests.conftest import API_KEYS, KEY_VARS, model, night, play_nights, qcat, qcat_watching_imports, write_config

NIGHTS = {
    0: {
        ("acme-prod", "default"): [model("a", 0.001, 0.002), model("b", 0.003, 0.004)],
        ("acme-prod", "anthropic"): [model("a", 0.0012, 0.002)],
        ("acme-research", "default"): [model("a", 0.0008, 0.002), model("b", 0.003, 0.004)],
    },
    1: {("acme-prod", "default"): [model("a", 0.0015, 0.002)]},
    2: {("acme-prod", "default"): [model("a", 0.0015, 0.001), model("b", 0.003, 0.004), model("c", 0.0, 0.0)]},
    3: {("acme-prod", "default"): [model("a", 0.0015, 0.001, name="Alpha"), model("b", 0.003, 0.004), model("c", 0.0001, 0.0)]},
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One history for the whole module: the questions below only read it."""
    folder = tmp_path_factory.mktemp("queries")
    saved = {variable: os.environ.get(variable) for variable in KEY_VARS.values()}
    os.environ.update({KEY_VARS[name]: API_KEYS[name] for name in KEY_VARS})
    try:
        with SimulatorServer(CatalogSimulator(max_models=40)) as simulator:
            config = load_config(write_config(folder, simulator.base_url, {"acme-prod": ["default", "anthropic"], "acme-research": ["default"]}))
            play_nights(simulator, config, NIGHTS)
    finally:
        for variable, value in saved.items():
            os.environ.pop(variable) if value is None else os.environ.__setitem__(variable, value)
    yield folder


def as_json(home: Path, *args: str) -> list[dict]:
    result = qcat(home, *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def rates_of(rows: list[dict], license: str = "acme-prod", provider: str = "default") -> dict[str, tuple[float, float]]:
    return {
        row["model_id"]: (row["input_cost_per_micro_credit"], row["output_cost_per_micro_credit"])
        for row in rows
        if row["license"] == license and row["provider"] == provider
    }


def test_rates_as_of_is_exact_on_an_interval_boundary(home: Path) -> None:
    just_before = as_json(home, "rates", "--as-of", "2026-03-02T02:59:59.999999Z")
    assert rates_of(just_before) == {"a": (0.001, 0.002), "b": (0.003, 0.004)}
    at_the_pull = as_json(home, "rates", "--as-of", "2026-03-02T03:00:00Z")
    assert rates_of(at_the_pull) == {"a": (0.0015, 0.002)}
    assert [row["valid_from"] for row in at_the_pull if row["provider"] == "default" and row["license"] == "acme-prod"] == ["2026-03-02T03:00:00+00:00"]


def test_rates_as_of_a_date_means_the_end_of_that_day_and_zones_apply(home: Path) -> None:
    assert rates_of(as_json(home, "rates", "--as-of", "2026-03-02")) == {"a": (0.0015, 0.002)}
    assert rates_of(as_json(home, "rates", "--as-of", "2026-03-01")) == {"a": (0.001, 0.002), "b": (0.003, 0.004)}
    assert as_json(home, "rates", "--as-of", "9999-12-31") == as_json(home, "rates"), "the calendar's last day: the current rates"
    # 04:00 in Paris in March is 03:00 UTC: exactly night 1's pull, shown in Paris time
    rows = as_json(home, "rates", "--as-of", "2026-03-02T04:00", "--tz", "Europe/Paris", "--license", "acme-prod", "--provider", "default")
    assert rates_of(rows) == {"a": (0.0015, 0.002)}
    assert rows[0]["valid_from"] == "2026-03-02T04:00:00+01:00"


def test_rates_now_filters_by_license_provider_and_model_pattern(home: Path) -> None:
    rows = as_json(home, "rates", "--license", "acme-prod,acme-research", "--model", "A")
    assert sorted((row["license"], row["provider"], row["model_id"]) for row in rows) == [
        ("acme-prod", "anthropic", "a"),
        ("acme-prod", "default", "a"),
        ("acme-research", "default", "a"),
    ]
    assert [row["model_id"] for row in as_json(home, "rates", "-l", "acme-prod", "-p", "default", "-m", "[bc]")] == ["b", "c"]
    assert [row["name"] for row in as_json(home, "rates", "-l", "acme-prod", "-p", "default", "-m", "a")] == ["Alpha"]


@pytest.fixture(scope="module")
def odd_values(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Versions with every kind of value a table must lay out: null name and limits, text wider than
    its header, doubles at the edges of their range, instants with microseconds."""
    path = tmp_path_factory.mktemp("odd") / "catalog.duckdb"
    con = connect(path)
    ended = ("lic-a", "default", "m-1", None, 5e-324, 1e22, None, None, "2026-03-01 03:00:00.123456+00", "2026-03-02 03:00:00+00", False)
    con.execute("insert into model_versions_ended values (?, ?, ?, ?, ?, ?, ?, ?, ?::timestamptz, ?::timestamptz, ?, 'p0', 'p1')", ended)
    current = [
        ("lic-a", "default", "m-1", "Modèle ünicode", 0.1 + 0.2, 0.0, 200000, 64000, "2026-03-02 03:00:00+00"),
        ("lic-a", "openrouter", "vendor/a-model-id-wider-than-its-header", "N", 1e-05, 123456789012345680.0, 8192, None, "2026-03-01 23:30:00+00"),
        ("lic-b", "anthropic", "m-2", "x", 0.0016000000000001, 1.5e-07, 1, 0, "2026-02-28 22:00:00+00"),
        ("lic-b", "anthropic", "m-3", "late", 0.002, 0.004, 1, 0, "2026-11-20 03:00:00+00"),
        # from a hostile gateway: an escape sequence, a bidi override, a carriage return, a line break
        ("lic-b", "anthropic", "m-\x1b[2J4", "na\u202eme\r\n\x85\u2028\u200f", 0.002, 0.004, 1, 0, "2026-03-01 03:00:00+00"),
    ]
    con.executemany("insert into model_versions_current values (?, ?, ?, ?, ?, ?, ?, ?, ?::timestamptz, null, true, 'p0', null)", current)
    con.close()
    return path


# America/Vancouver: DuckDB's own zone rules for it differ from the system's in late 2026, which is
# why times are left to Python
@pytest.mark.parametrize("zone_name", ["UTC", "Asia/Kolkata", "America/St_Johns", "America/Vancouver"])
def test_the_rates_table_duckdb_lays_out_reads_as_python_lays_it_out(odd_values: Path, zone_name: str) -> None:
    zone = parse_zone(zone_name)
    shown = {}
    con = open_database(odd_values, read_only=True, wait_seconds=0)
    try:
        for label, as_of, filters in (
            ("now", None, Filters()),
            ("as of", datetime(2026, 3, 1, 12, tzinfo=timezone.utc), Filters()),
            ("one model", None, Filters(model="wider")),
            ("none", None, Filters(model="no-such-model")),
        ):
            by_python, by_duckdb = io.StringIO(), io.StringIO()
            render(rates(con, filters, as_of, zone), "table", zone, by_python)
            render(rates_table(con, filters, as_of, zone), "table", zone, by_duckdb)
            assert by_duckdb.getvalue() == by_python.getvalue(), label
            shown[label] = by_duckdb.getvalue()
    finally:
        con.close()
    assert " 5e-324 " in shown["as of"] and " 1e+22 " in shown["as of"] and "Modèle ünicode" in shown["now"]
    assert " m-\\x1b[2J4 " in shown["now"] and " na\\u202eme\\x0d\\x0a\\x85\\u2028\\u200f " in shown["now"], "what a terminal acts on shows as its escape"
    assert not UNPRINTABLE.search(shown["now"].replace("\n", "")) and shown["now"].count("\n") == 9, "title, header, rule, 5 rows, footer"
    assert "(0 rows;" in shown["none"]


@pytest.mark.parametrize(
    "args",
    [("rates", "--as-of", "2026-03-02"), ("rates", "--format", "json"), ("history", "a"), ("changes", "--since", "30d"), ("compare", "--licenses", "acme-prod,acme-research"), ("sql", "select 1")],
)
def test_read_only_commands_load_duckdbs_engine_alone(home: Path, args: tuple[str, ...]) -> None:
    """No read-only command imports the duckdb package, Prefect or pyarrow: the package's Python layer
    alone costs 0.1 s of the 0.3 s an answer may take (tests/benchmark.py measures the whole answer)."""
    result = qcat_watching_imports(*args, "--config", str(home / "qcat.toml"))
    assert result.returncode == 0, result.stderr
    assert result.heavy_imports == []


def test_history_shows_a_model_removed_and_back(home: Path) -> None:
    rows = as_json(home, "history", "b", "--license", "acme-prod", "--provider", "default")
    assert [(row["valid_from"], row["valid_to"], row["change"], row["removed_at_end"]) for row in rows] == [
        ("2026-03-01T03:00:00+00:00", "2026-03-02T03:00:00+00:00", "baseline", True),
        ("2026-03-03T03:00:00+00:00", None, "readded", False),
    ]
    table = qcat(home, "history", "b", "-l", "acme-prod", "-p", "default")
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert "removed" in lines[3] and "readded" in lines[4] and "current" in lines[4]


def test_history_gives_each_rate_its_change(home: Path) -> None:
    rows = as_json(home, "history", "a", "-l", "acme-prod", "-p", "default")
    assert [(row["change"], row["input_cost_per_micro_credit"], row["input_pct_change"], row["output_pct_change"], row["name"]) for row in rows] == [
        ("baseline", 0.001, None, None, "A"),
        ("rate_changed", 0.0015, pytest.approx(50.0), 0.0, "A"),
        ("rate_changed", 0.0015, 0.0, -50.0, "A"),
        ("renamed", 0.0015, 0.0, 0.0, "Alpha"),
    ]


def test_history_table_says_a_rate_rose_from_zero(home: Path) -> None:
    """A move from 0 has no percentage: the table says so rather than show the rate as unmoved."""
    table = qcat(home, "history", "c", "-l", "acme-prod", "-p", "default")
    assert table.returncode == 0, table.stderr
    first, second = table.stdout.splitlines()[3:5]
    assert "(from 0)" not in first and "added" in first
    assert "0.0001 (from 0)" in second and "rate_changed" in second, table.stdout


def test_history_of_an_unknown_model_suggests_close_ids(home: Path) -> None:
    result = qcat(home, "history", "A")
    assert result.returncode == 2
    assert result.stderr.strip() == "qcat: error: no model 'A' in the selected catalogs; ids containing it: a"


def test_changes_since_a_relative_span(home: Path) -> None:
    # half an hour to a span's end at the least: qcat reads the clock again, a moment later
    hours = math.ceil((datetime.now(timezone.utc) - night(2)).total_seconds() / 3600 + 0.5)
    rows = as_json(home, "changes", "--since", f"{hours}h")
    assert sorted((row["observed_at"], row["model_id"], row["event_type"]) for row in rows) == [
        ("2026-03-03T03:00:00+00:00", "a", "rate_changed"),
        ("2026-03-03T03:00:00+00:00", "b", "readded"),
        ("2026-03-03T03:00:00+00:00", "c", "added"),
        ("2026-03-04T03:00:00+00:00", "a", "renamed"),
        ("2026-03-04T03:00:00+00:00", "c", "rate_changed"),
    ]
    assert as_json(home, "changes", "--since", f"{hours - 2 * 24}h") == [], "a span ending before the last night's pull"


def test_changes_filters_by_type_size_and_direction(home: Path) -> None:
    window = ("--since", "2026-03-01", "--until", "2026-03-05")
    rows = as_json(home, "changes", *window, "--type", "rate_changed", "--min-pct", "40")
    assert [(row["model_id"], row["observed_at"][:10], row["change"]) for row in rows] == [
        ("a", "2026-03-02", "input 0.001 -> 0.0015 (+50.00%)"),
        ("a", "2026-03-03", "output 0.002 -> 0.001 (-50.00%)"),
        ("c", "2026-03-04", "input 0.0 -> 0.0001 (from 0)"),
    ]
    assert [row["observed_at"][:10] for row in as_json(home, "changes", *window, "--min-pct", "60")] == ["2026-03-04"], "a move from 0 always counts"
    decreases = as_json(home, "changes", *window, "--direction", "decrease")
    assert [(row["model_id"], row["old_output_cost_per_micro_credit"], row["new_output_cost_per_micro_credit"]) for row in decreases] == [("a", 0.002, 0.001)]
    removals = as_json(home, "changes", *window, "-t", "removed,readded", "-l", "acme-prod")
    assert [(row["model_id"], row["event_type"], row["previous_observed_at"]) for row in removals] == [
        ("b", "removed", "2026-03-01T03:00:00+00:00"),
        ("b", "readded", "2026-03-02T03:00:00+00:00"),
    ]


def test_compare_two_licenses_and_two_providers(home: Path) -> None:
    rows = as_json(home, "compare", "--licenses", "acme-prod,acme-research")
    assert [(row["model_id"], row["provider_a"], row["input_a"], row["input_b"]) for row in rows] == [("b", "default", 0.003, 0.003), ("a", "default", 0.0015, 0.0008)][::-1]
    assert rows[0]["input_ratio"] == 0.0015 / 0.0008 and rows[0]["output_ratio"] == 0.001 / 0.002
    providers = as_json(home, "compare", "--providers", "default,anthropic", "--license", "acme-prod")
    assert [(row["model_id"], row["license_a"], row["input_a"], row["input_b"], row["output_ratio"]) for row in providers] == [("a", "acme-prod", 0.0015, 0.0012, 0.5)]


def test_csv_and_json_agree_and_keep_exact_rates(home: Path) -> None:
    result = qcat(home, "rates", "--format", "csv")
    assert result.returncode == 0, result.stderr
    from_csv = list(csv.DictReader(io.StringIO(result.stdout)))
    from_json = as_json(home, "rates")
    assert len(from_csv) == len(from_json) == 6
    for line, document in zip(from_csv, from_json):
        assert float(line["input_cost_per_micro_credit"]) == document["input_cost_per_micro_credit"]
        assert line["valid_from"] == document["valid_from"]
        assert line["context_window"] == str(document["context_window"])


def test_sql_is_read_only_and_reads_stdin(home: Path) -> None:
    rows = as_json(home, "sql", "select event_type, count(*) as n from catalog_events group by 1 order by 1")
    assert rows == [
        {"event_type": "added", "n": 1},
        {"event_type": "rate_changed", "n": 3},
        {"event_type": "readded", "n": 1},
        {"event_type": "removed", "n": 1},
        {"event_type": "renamed", "n": 1},
    ]
    nested = "select [timestamptz '2026-03-01 03:00:00+00'] as l, {'at': timestamptz '2026-03-01 03:00:00+00'} as s"
    assert as_json(home, "sql", nested) == [{"l": ["2026-03-01T03:00:00+00:00"], "s": {"at": "2026-03-01T03:00:00+00:00"}}]
    not_numbers = "select ['nan'::double, 1.5] as l, {'up': 'inf'::double, 'ids': [uuid '00000000-0000-0000-0000-000000000001']} as s"
    assert as_json(home, "sql", not_numbers) == [{"l": [None, 1.5], "s": {"up": None, "ids": ["00000000-0000-0000-0000-000000000001"]}}]
    mixed = "select * from (values (1::union(i int, d double)), ('nan'::double::union(i int, d double))) t(u)"
    assert as_json(home, "sql", mixed) == [{"u": 1}, {"u": None}], "a NaN after an integer in a column of several types"
    assert qcat(home, "sql", "--format", "csv", "select true as t, [false] as l").stdout == 't,l\ntrue,[false]\n'
    assert qcat(home, "sql", "select true as t, [false, null] as l").stdout.splitlines()[2].split() == ["true", "false,", "NULL"]
    assert as_json(home, "sql", "select map([true], [1]) as m, map([interval 90 minutes], [2]) as d") == [{"m": {"true": 1}, "d": {"01:30:00": 2}}]
    named = qcat(home, "sql", "select 0.001 as input_cost_per_micro_credit, 2 as context_window").stdout.splitlines()
    assert named[0].split() == ["input_cost_per_micro_credit", "context_window"], "qcat sql keeps the names its query gave, to copy into the next"
    python_spells = "select interval 3 days as i, interval '-25 hours' as n, from_hex('AA615C') as b, [interval 90 minutes] as l"
    assert as_json(home, "sql", python_spells) == [{"i": "3 days", "n": "-1 day -01:00:00", "b": "\\xAAa\\x5C", "l": ["01:30:00"]}]
    assert qcat(home, "sql", "--format", "csv", python_spells).stdout == 'i,n,b,l\n3 days,-1 day -01:00:00,\\xAAa\\x5C,"[""01:30:00""]"\n'
    assert qcat(home, "sql", python_spells).stdout.splitlines()[2].split() == ["3", "days", "-1", "day", "-01:00:00", "\\xAAa\\x5C", "01:30:00"]
    values = ("'x'", "1", "timestamptz '2026-03-01 03:00:00+00'", "timestamp '2026-03-01 03:00'", "2.5::double", "null", "[1, 2]")
    variant = "select v from (values " + ", ".join(f"({i}, {v}::variant)" for i, v in enumerate(values)) + ") t(i, v) order by i"
    shown = qcat(home, "sql", "--tz", "Europe/Paris", variant)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[2:9] == ["x", "1", "2026-03-01 04:00:00", "2026-03-01 03:00:00", "2.5", "-", "1, 2"], "each value of a VARIANT shown by its own type"
    listed = qcat(home, "sql", "--tz", "Europe/Paris", "--format", "csv", variant)
    assert listed.stdout == 'v\nx\n1\n2026-03-01T04:00:00+01:00\n2026-03-01T03:00:00\n2.5\n""\n"[1, 2]"\n', listed.stderr
    assert as_json(home, "sql", "--tz", "Europe/Paris", variant) == [
        {"v": value} for value in ("x", 1, "2026-03-01T04:00:00+01:00", "2026-03-01T03:00:00", 2.5, None, [1, 2])
    ]
    keyed = "select map([timestamptz '2026-03-01 03:00:00+00'], ['x']) as m"
    assert as_json(home, "sql", keyed) == [{"m": {"2026-03-01T03:00:00+00:00": "x"}}]
    zoned = as_json(home, "sql", "--tz", "Europe/Paris", f"select {nested[7:]}, map([timestamptz '2026-07-01 03:00:00+00'], [timestamp '2026-07-01 03:00']) as m")
    assert zoned == [{"l": ["2026-03-01T04:00:00+01:00"], "s": {"at": "2026-03-01T04:00:00+01:00"}, "m": {"2026-07-01T05:00:00+02:00": "2026-07-01T03:00:00"}}], "times inside values follow --tz; a timestamp without a zone stays as it is"
    table = qcat(home, "sql", "--tz", "Europe/Paris", "select {'at': timestamptz '2026-03-01 03:00:00+00'} as s")
    assert '{"at": "2026-03-01T04:00:00+01:00"}' in table.stdout, table.stdout
    assert qcat(home, "sql", "--format", "csv", not_numbers).stdout == 'l,s\n"[null, 1.5]","{""up"": null, ""ids"": [""00000000-0000-0000-0000-000000000001""]}"\n'
    piped = qcat(home, "sql", "--format", "csv", stdin="select count(*) as pulls from pulls\n")
    assert piped.stdout == "pulls\n12\n"
    refusals = (
        ("delete from pulls", "DELETE"),
        ("copy (select 1) to 'copied.csv'", "COPY"),
        ("attach 'other.duckdb'", "ATTACH"),
        # EXPLAIN ANALYZE runs what it explains, however it is spelled
        ("explain analyze copy (select 1) to 'copied.csv'", "COPY"),
        ("/* why */ EXPLAIN (FORMAT json, ANALYZE) copy (select 1) to 'copied.csv'", "COPY"),
        ("explain analyse delete from pulls", "DELETE"),
        ("install httpfs", "INSTALL"),  # DuckDB files it under LOAD
        ("load httpfs", "LOAD"),
    )
    for statement, kind in refusals:
        refused = qcat(home, "sql", statement)
        assert refused.returncode == 2
        assert refused.stderr.strip() == f"qcat: error: qcat sql answers SELECT queries only, not {kind}: the history is read-only here"
    assert not (home / "copied.csv").exists() and not (home / "other.duckdb").exists()
    for query in ("explain analyze select count(*) from pulls", "explain analyze (select 1) union (select 2)", "explain (analyze) (select 1)"):
        explained = qcat(home, "sql", query)
        assert (explained.returncode, explained.stderr) == (0, "") and "analyzed_plan" in explained.stdout, f"EXPLAIN ANALYZE of a SELECT is fine: {query}"
    plan = qcat(home, "sql", "explain select count(*) from pulls")
    assert plan.returncode == 0 and "\\x0a" not in plan.stdout, "a plan's lines are the table's rows, not one row of escaped breaks"
    assert plan.stdout.splitlines()[2].startswith("physical_plan  ") and plan.stdout.count("physical_plan") == 1, plan.stdout
    assert "\n" in json.loads(qcat(home, "sql", "explain select 1", "-f", "json").stdout)[0]["explain_value"], "scripts get the plan as DuckDB gives it"
    assert qcat(home, "sql", "select 1; select 2").stderr.strip() == "qcat: error: qcat sql runs one query at a time; 2 statements were given"
    user_home = home / "user-home"  # where DuckDB would download an extension to
    remote = subprocess.run(
        [sys.executable, "-m", "flows.cli", "sql", "select * from read_csv('http://127.0.0.1:9/x.csv')"],
        cwd=home, env={**os.environ, "HOME": str(user_home)}, capture_output=True, text=True, timeout=60,
    )
    assert (remote.returncode, remote.stderr) == (2, "qcat: error: query failed: it needs DuckDB's httpfs extension, which qcat sql does not install (INSTALL httpfs in DuckDB first)\n")
    assert not user_home.exists(), "nothing installed, nothing downloaded"
    assert as_json(home, "sql", "select count(*) as n from pulls") == [{"n": 12}], "nothing was deleted"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("rates", "--license", "acme-typo"), "--license: no catalog with license 'acme-typo' in the database (known: acme-prod, acme-research)"),
        (("rates", "--provider", "bedrock"), "--provider: no catalog with provider 'bedrock'"),
        (("changes", "--since", "yesterday-ish"), "--since: 'yesterday-ish' is not a time"),
        (("changes", "--type", "price_up"), "--type: 'price_up' is not an event type"),
        (("changes", "--since", "2026-03-05", "--until", "2026-03-01"), "is not before --until"),
        (("rates", "--tz", "Mars/Olympus"), "--tz: unknown time zone 'Mars/Olympus'"),
        (("rates", "--tz", "Europe"), "--tz: unknown time zone 'Europe'"),
        (("changes", "--license", ""), "--license: '' names nothing"),
        (("rates", "-l", "acme-prod", "-l", " , "), "--license: ' , ' names nothing"),
        (("rates", "--provider", ","), "--provider: ',' names nothing"),
        (("rates", "-l", "acme-prod,"), "--license: 'acme-prod,' has an empty name between its commas"),
        (("changes", "--type", "rate_changed, ,added"), "--type: 'rate_changed, ,added' has an empty name between its commas"),
        (("changes", "--type", " "), "--type: ' ' names nothing"),
        (("rates", "--model", ""), "--model: '' names nothing"),
        (("compare", "--licenses", ""), "--licenses: '' names nothing"),
        (("rates", "--format", "xml"), "--format: 'xml' is not one of table, json, csv"),
        (("compare", "--licenses", "acme-prod"), "--licenses: 'acme-prod' is not two different names"),
        (("compare", "--licenses", "acme-prod,acme-prod"), "--licenses: 'acme-prod,acme-prod' is not two different names"),
        (("compare", "--licenses", "acme-prod,acme-typo"), "--licenses: no catalog with license 'acme-typo'"),
        (("compare", "--providers", "default,bedrock"), "--providers: no catalog with provider 'bedrock'"),
        (("compare",), "give exactly one of --licenses A,B or --providers P,Q"),
        (("sql", "select * from no_such_table"), "query failed: Catalog Error"),
        (("changes", "--type", "added", "--min-pct", "5"), "--min-pct and --direction select rate changes; they cannot apply to --type added"),
        (("changes", "--since", "99999999999d"), "--since: '99999999999d' is longer than any calendar can count"),
        (("rates", "--as-of", "9999-12-31T23:00", "--tz", "America/New_York"), "--as-of: '9999-12-31T23:00' falls outside the years 1 to 9999 once in UTC"),
        (("rates", "--as-of", "9999-12-31T23:00Z", "--tz", "Asia/Tokyo"), "--tz Asia/Tokyo: 9999-12-31T23:00:00+00:00 falls outside the years 1 to 9999 in that zone"),
        (("changes", "--since", "0001-01-01T00:00", "--tz", "Etc/GMT-14"), "--since: '0001-01-01T00:00' falls outside the years 1 to 9999"),
        (("changes", "--min-pct", "nan"), "--min-pct: nan is not a size of change"),
        (("changes", "--min-pct", "-5"), "--min-pct: -5.0 is not a size of change"),
        (("changes", "--sinse", "7d"), "No such option: --sinse"),
        (("rates", "--license"), "Option '--license' requires an argument."),
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(home: Path, args: tuple[str, ...], message: str) -> None:
    result = qcat(home, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize(("fmt", "head"), [("csv", "range\n0\n"), ("json", '[\n{"range": 0},\n'), ("table", " range\n------\n")])
def test_a_reader_that_leaves_early_stops_the_output_quietly(home: Path, fmt: str, head: str) -> None:
    piped = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{sys.executable} -m flows.cli sql \"from range(200000)\" --format {fmt} | head -2"],
        cwd=home, capture_output=True, text=True, timeout=60,
    )
    assert (piped.returncode, piped.stdout, piped.stderr) == (141, head, "")


def test_no_database_yet_is_a_clear_error(tmp_path: Path) -> None:
    write_config(tmp_path, "http://127.0.0.1:9/v1")
    result = qcat(tmp_path, "rates")
    assert result.returncode == 2
    assert "no database at" in result.stderr and "qcat run" in result.stderr
    typo = qcat(tmp_path, "alerts", "--state", "lost")
    assert (typo.returncode, typo.stderr) == (2, "qcat: error: --state: 'lost' is not one of pending, sent, failed, expired\n"), "a typo is named first"


def test_a_database_of_another_layout_asks_for_a_rebuild(tmp_path: Path) -> None:
    """Missing views and tables, or columns named otherwise: the readers say what to do, no internal error."""
    write_config(tmp_path, "http://127.0.0.1:9/v1", {"a": ["default"], "b": ["default"]})
    (tmp_path / "data").mkdir()
    con = duckdb.connect(str(db_path(tmp_path / "data")))
    con.execute("create table pulls (pull_id varchar)")  # as another tool, or a far older qcat, left it
    con.close()
    questions = (("rates",), ("changes", "--since", "7d"), ("history", "x"), ("compare", "--licenses", "a,b"), ("status",), ("report", "--out", "r.html"))
    for question in questions:
        result = qcat(tmp_path, *question)
        assert result.returncode == 2, (question, result.stdout, result.stderr)
        assert result.stderr.startswith(f"qcat: error: {db_path(tmp_path / 'data')} lacks what this qcat expects ("), result.stderr
        assert result.stderr.endswith("): run `qcat rebuild`\n") and len(result.stderr.splitlines()) == 1, result.stderr


def test_sql_without_a_query_is_a_usage_error(home: Path) -> None:
    for args, stdin in ((("sql",), ""), (("sql", "-"), "  \n")):
        result = qcat(home, *args, stdin=stdin)
        assert (result.returncode, result.stderr) == (2, "qcat: error: sql: no query given (as an argument, or on stdin)\n")


def test_a_reader_waits_for_a_writer_and_says_so(home: Path) -> None:
    """DuckDB lets one process write or several read: a query during a load waits, then answers."""
    writer = duckdb.connect(str(db_path(home / "data")))
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "rates", "--format", "json"], cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        notice = process.stderr.readline()
        assert "catalog.duckdb is busy (a load is writing); waiting up to 60 s" in notice
        assert process.poll() is None, "still waiting while the writer holds the file"
    finally:
        writer.close()
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0 and len(json.loads(stdout)) == 6


def holding_open(path: Path, seconds: float, read_only: bool) -> subprocess.Popen[str]:
    """Another process with the database open for `seconds` (read-only, or as a writer), once it has it."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=sys.argv[3] == 'ro'); "
         "print('open', flush=True); time.sleep(float(sys.argv[2]))", str(path), str(seconds), "ro" if read_only else "rw"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
    return holder


def test_a_writer_waits_for_a_reader(home: Path) -> None:
    """A long query holds the file read-only; a load waits for it instead of failing."""
    reader = holding_open(db_path(home / "data"), 1.5, read_only=True)
    opened = threading.Event()

    def write() -> None:
        from flows.history import connect

        con = connect(db_path(home / "data"), wait_seconds=30)
        opened.set()
        con.close()

    thread = threading.Thread(target=write)
    thread.start()
    assert not opened.wait(0.3), "the writer must wait while the reader holds the file"
    reader.wait(timeout=30)
    thread.join(timeout=30)
    assert opened.is_set()


def test_time_arguments() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    paris = parse_zone("Europe/Paris")
    assert parse_instant("7d", "--since", timezone.utc, now) == datetime(2026, 11, 18, 12, 0, tzinfo=timezone.utc)
    assert parse_instant("36h", "--since", timezone.utc, now) == datetime(2026, 11, 24, 0, 0, tzinfo=timezone.utc)
    assert parse_instant("2w", "--since", timezone.utc, now) == now - timedelta(weeks=2)
    assert parse_instant("now", "--until", paris, now) == now
    assert parse_instant("2026-03-12", "--since", timezone.utc, now) == datetime(2026, 3, 12, tzinfo=timezone.utc)
    assert parse_instant("2026-03-12", "--since", paris, now) == datetime(2026, 3, 11, 23, 0, tzinfo=timezone.utc)
    assert parse_instant("2026-03-12", "--as-of", timezone.utc, now, date_is_end=True) == datetime(2026, 3, 12, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert parse_instant("9999-12-31", "--as-of", timezone.utc, now, date_is_end=True) == datetime.max.replace(tzinfo=timezone.utc)
    assert parse_instant("9999-12-31", "--as-of", paris, now, date_is_end=True) == datetime(9999, 12, 31, 22, 59, 59, 999999, tzinfo=timezone.utc)
    assert parse_instant("9999-12-31", "--as-of", ZoneInfo("America/New_York"), now, date_is_end=True) == datetime.max.replace(tzinfo=timezone.utc)
    assert parse_instant("2026-07-01T08:30", "--as-of", paris, now) == datetime(2026, 7, 1, 6, 30, tzinfo=timezone.utc)
    assert parse_instant("2026-07-01T08:30Z", "--as-of", paris, now) == datetime(2026, 7, 1, 8, 30, tzinfo=timezone.utc)
    assert parse_instant("2026-07-01T08:30-05:00", "--as-of", paris, now) == datetime(2026, 7, 1, 13, 30, tzinfo=timezone.utc)
    assert parse_span("90m", "--stale-after") == timedelta(minutes=90)
    assert isinstance(parse_zone("UTC"), type(timezone.utc)) and parse_zone("Asia/Tokyo") == ZoneInfo("Asia/Tokyo")
    for bad in ("7 days", "2026-13-01", "tomorrow", ""):
        with pytest.raises(UsageError, match="--since"):
            parse_instant(bad, "--since", timezone.utc, now)
    assert math.isclose(parse_span("1.5d", "--since").total_seconds(), 36 * 3600)


def test_plain_model_text_matches_backslashes_as_they_are(tmp_path: Path) -> None:
    write_config(tmp_path, "http://127.0.0.1:9/v1")
    saved = tmp_path / "2026-03-01.json"
    saved.write_text(json.dumps([model("back\\slash"), model("backslash"), model("glob*star")]))
    assert qcat(tmp_path, "import", str(saved), "-l", "acme-prod").returncode == 0

    def ids(*args: str) -> list[str]:
        return sorted(row["model_id"] for row in as_json(tmp_path, *args))

    assert ids("rates", "--model", "K\\S") == ["back\\slash"]
    assert ids("rates", "--model", "\\") == ["back\\slash"]
    assert ids("changes", "--since", "0001-01-01", "--model", "\\") == []
    assert ids("rates", "--model", "glob\\*star") == ["glob*star"], "a glob keeps DuckDB's escapes"


def test_history_tells_a_limit_of_zero_from_none(tmp_path: Path) -> None:
    write_config(tmp_path, "http://127.0.0.1:9/v1")
    first, second = tmp_path / "2026-03-01.json", tmp_path / "2026-03-02.json"
    first.write_text(json.dumps([model("a", ctx=0, max_out=None)]))
    second.write_text(json.dumps([model("a", ctx=None, max_out=0)]))
    assert qcat(tmp_path, "import", str(first), str(second), "-l", "acme-prod").returncode == 0
    table = qcat(tmp_path, "history", "a")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert "0 / -" in lines[3] and "- / 0" in lines[4] and "limits_changed" in lines[4], table.stdout


def test_gateway_text_cannot_drive_the_terminal_but_json_keeps_it(tmp_path: Path) -> None:
    write_config(tmp_path, "http://127.0.0.1:9/v1")
    evil = "evil\x1b]0;owned\x07"
    first, second = tmp_path / "2026-03-01.json", tmp_path / "2026-03-02.json"
    first.write_text(json.dumps([model(evil, 1.0, name="\u202eeman")]))
    second.write_text(json.dumps([model(evil, 2.0, name="\u202eeman")]))
    assert qcat(tmp_path, "import", str(first), str(second), "-l", "acme-prod").returncode == 0
    for args in (("changes", "--since", "2026-01-01"), ("rates",), ("history", evil)):
        table = qcat(tmp_path, *args)
        assert table.returncode == 0 and "evil\\x1b]0;owned\\x07" in table.stdout, table.stdout + table.stderr
        assert not UNPRINTABLE.search(table.stdout.replace("\n", "")), args
    missing = qcat(tmp_path, "history", "owned")
    assert missing.returncode == 2 and missing.stderr.endswith("ids containing it: evil\\x1b]0;owned\\x07\n"), missing.stderr
    assert [row["model_id"] for row in as_json(tmp_path, "changes", "--since", "2026-01-01")] == [evil]


def test_compare_puts_the_largest_spread_first_whichever_side_is_cheaper(tmp_path: Path) -> None:
    """A at a tenth of B is a larger spread than A at 1.5 times B."""
    write_config(tmp_path, "http://127.0.0.1:9/v1", {"acme-prod": ["default"], "acme-research": ["default"]})
    prod, research = tmp_path / "prod" / "2026-03-01.json", tmp_path / "research" / "2026-03-01.json"
    prod.parent.mkdir()
    research.parent.mkdir()
    prod.write_text(json.dumps([model("cheap", 0.0001, 0.002), model("dear", 0.0015, 0.002)]))
    research.write_text(json.dumps([model("cheap", 0.001, 0.002), model("dear", 0.001, 0.002)]))
    assert qcat(tmp_path, "import", str(prod), "-l", "acme-prod").returncode == 0
    assert qcat(tmp_path, "import", str(research), "-l", "acme-research").returncode == 0
    rows = as_json(tmp_path, "compare", "--licenses", "acme-prod,acme-research")
    assert [(row["model_id"], row["input_ratio"]) for row in rows] == [("cheap", pytest.approx(0.1)), ("dear", pytest.approx(1.5))]


def test_history_of_every_catalog_measures_each_against_its_own_past(home: Path) -> None:
    rows = as_json(home, "history", "a")
    assert [(row["license"], row["provider"], row["input_pct_change"]) for row in rows] == [
        ("acme-prod", "anthropic", None),
        ("acme-prod", "default", None),
        ("acme-prod", "default", pytest.approx(50.0)),
        ("acme-prod", "default", 0.0),
        ("acme-prod", "default", 0.0),
        ("acme-research", "default", None),
    ]


def test_history_says_a_model_that_never_came_back_was_removed(tmp_path: Path) -> None:
    write_config(tmp_path, "http://127.0.0.1:9/v1")
    first, second = tmp_path / "2026-03-01.json", tmp_path / "2026-03-02.json"
    first.write_text(json.dumps([model("a"), model("b")]))
    second.write_text(json.dumps([model("a")]))
    assert qcat(tmp_path, "import", str(first), str(second), "-l", "acme-prod").returncode == 0
    rows = as_json(tmp_path, "history", "b")
    assert [(row["valid_to"], row["removed_at_end"]) for row in rows] == [("2026-03-02T00:00:00+00:00", True)]
    table = qcat(tmp_path, "history", "b")
    assert "removed" in table.stdout.splitlines()[3], table.stdout


def test_changes_until_excludes_its_own_instant(home: Path) -> None:
    """[since, until): a pull observed exactly at --until belongs to the next window."""
    rows = as_json(home, "changes", "--since", "2026-03-01", "--until", "2026-03-03T03:00Z")
    assert [(row["observed_at"], row["model_id"], row["event_type"]) for row in rows] == [
        ("2026-03-02T03:00:00+00:00", "a", "rate_changed"),
        ("2026-03-02T03:00:00+00:00", "b", "removed"),
    ]


def test_changes_filter_by_provider(home: Path) -> None:
    window = ("--since", "2026-03-01", "--until", "2026-03-05")
    everything = as_json(home, "changes", *window)
    assert len(everything) == 7
    assert as_json(home, "changes", *window, "--provider", "default") == everything, "every change is in a default catalog"
    assert as_json(home, "changes", *window, "--provider", "anthropic") == []


def test_sql_tables_sign_percent_changes(home: Path) -> None:
    table = qcat(home, "sql", "select model_id, rate, pct_change from rate_changes where pct_change is not null order by observed_at, rate")
    assert table.returncode == 0, table.stderr
    assert [line.split() for line in table.stdout.splitlines()[2:4]] == [["a", "input", "+50.00%"], ["a", "output", "-50.00%"]], table.stdout


def test_an_arabic_letter_mark_from_the_gateway_shows_as_its_escape(tmp_path: Path) -> None:
    """U+061C reorders text like the other bidi controls: every table shows it escaped, as the rates table (DuckDB's printable) does."""
    write_config(tmp_path, "http://127.0.0.1:9/v1")
    marked = "mark\u061cid"
    first, second = tmp_path / "2026-03-01.json", tmp_path / "2026-03-02.json"
    first.write_text(json.dumps([model(marked, 1.0)]))
    second.write_text(json.dumps([model(marked, 2.0)]))
    assert qcat(tmp_path, "import", str(first), str(second), "-l", "acme-prod").returncode == 0
    for args in (("changes", "--since", "2026-01-01"), ("rates",), ("history", marked), ("sql", "select model_id from current_rates")):
        table = qcat(tmp_path, *args)
        assert table.returncode == 0 and "mark\\u061cid" in table.stdout and "\u061c" not in table.stdout, (args, table.stdout)


def test_a_reader_kept_waiting_is_told_once(home: Path) -> None:
    """The busy notice is printed when the wait begins, not once per poll (ten lines a second)."""
    holder = holding_open(db_path(home / "data"), 2.0, read_only=False)
    told: list[None] = []
    con = open_database(db_path(home / "data"), read_only=True, wait_seconds=30, on_wait=lambda: told.append(None))
    con.close()
    holder.wait(timeout=30)
    assert len(told) == 1


def test_a_database_an_older_qcat_numbered_asks_for_a_rebuild(tmp_path: Path) -> None:
    """A file that records its layout, an older one: readers say what to do, as for a file without one."""
    write_config(tmp_path, "http://127.0.0.1:9/v1")
    (tmp_path / "data").mkdir()
    con = duckdb.connect(str(db_path(tmp_path / "data")))
    con.execute("create table qcat_schema (version integer not null)")
    con.execute("insert into qcat_schema values (5)")
    con.execute("create table pulls (pull_id varchar)")
    con.close()
    for question in (("rates",), ("changes", "--since", "7d")):
        result = qcat(tmp_path, *question)
        assert result.returncode == 2, (question, result.stdout, result.stderr)
        assert result.stderr.startswith(f"qcat: error: {db_path(tmp_path / 'data')} lacks what this qcat expects ("), result.stderr
        assert result.stderr.endswith("): run `qcat rebuild`\n") and len(result.stderr.splitlines()) == 1, result.stderr


def test_a_date_ends_after_an_hour_that_dst_repeats_at_midnight() -> None:
    """Chile turns its clocks back at midnight: 2026-04-04 ends with 23:00 to 24:00 twice, so an
    --as-of of that day must reach the second one (03:59:59.999999 UTC), not stop an hour short."""
    now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    santiago = parse_zone("America/Santiago")
    assert parse_instant("2026-04-04", "--as-of", santiago, now, date_is_end=True) == datetime(2026, 4, 5, 3, 59, 59, 999999, tzinfo=timezone.utc)
    assert parse_instant("2026-04-05", "--since", santiago, now) == datetime(2026, 4, 5, 4, 0, tzinfo=timezone.utc)


def test_time_arguments_in_any_case_and_in_seconds() -> None:
    """What the messages promise: spans in seconds (45s), `now` however it is typed, `--tz utc`."""
    now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    assert parse_span("45s", "--since") == timedelta(seconds=45)
    assert parse_instant("45s", "--since", timezone.utc, now) == datetime(2026, 11, 25, 11, 59, 15, tzinfo=timezone.utc)
    assert parse_instant("NOW", "--until", timezone.utc, now) == parse_instant(" Now ", "--until", timezone.utc, now) == now
    assert parse_zone("utc") is timezone.utc and parse_zone("Utc") is timezone.utc


def test_a_zone_written_as_a_path_is_an_unknown_zone() -> None:
    """zoneinfo refuses paths with a ValueError: that is a bad --tz (exit 2), not an internal error."""
    for name in ("/etc/localtime", "../UTC", "Europe//Paris"):
        with pytest.raises(UsageError, match=f"--tz: unknown time zone {name!r}"):
            parse_zone(name)


def test_every_bidi_control_from_the_gateway_shows_as_its_escape(tmp_path: Path) -> None:
    """The isolates (U+2066 to U+2069) and the direction marks reorder a line like the overrides:
    every table shows them escaped, those Python lays out as the one DuckDB lays out."""
    write_config(tmp_path, "http://127.0.0.1:9/v1")
    marked = "iso\u2066l\u2067r\u2068f\u2069p\u200el\u200fr"
    escaped = "iso\\u2066l\\u2067r\\u2068f\\u2069p\\u200el\\u200fr"
    first, second = tmp_path / "2026-03-01.json", tmp_path / "2026-03-02.json"
    first.write_text(json.dumps([model(marked, 1.0, name=marked)]))
    second.write_text(json.dumps([model(marked, 2.0, name=marked)]))
    assert qcat(tmp_path, "import", str(first), str(second), "-l", "acme-prod").returncode == 0
    for args in (("changes", "--since", "2026-01-01"), ("rates",), ("history", marked), ("sql", "select model_id, name from current_rates")):
        table = qcat(tmp_path, *args)
        assert table.returncode == 0 and escaped in table.stdout, (args, table.stdout)
        assert not UNPRINTABLE.search(table.stdout.replace("\n", "")), (args, table.stdout)
    assert [row["model_id"] for row in as_json(tmp_path, "rates")] == [marked], "JSON keeps the id as it is"


def test_compare_table_shows_each_ratio_as_a_over_b(home: Path) -> None:
    table = qcat(home, "compare", "--licenses", "acme-prod,acme-research")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == "License acme-prod against acme-research: ratio = acme-prod / acme-research"
    header = lines[1].split()
    rows = [dict(zip(header, line.split())) for line in lines[3:-1]]
    assert [(row["model_id"], row["input_a"], row["input_b"], row["input_ratio"], row["output_ratio"]) for row in rows] == [
        ("a", "0.0015", "0.0008", "1.875x", "0.500x"),
        ("b", "0.003", "0.003", "1.000x", "1.000x"),
    ], table.stdout
    assert lines[-1] == "(2 rows; times in UTC)"


def test_times_are_shown_in_utc_whatever_the_machines_zone(home: Path) -> None:
    """qcat fetches its times as naive UTC: the machine's own zone (TZ) must never be read into them."""
    for machine_zone in ("America/New_York", "Asia/Kolkata"):
        env = {**os.environ, "TZ": machine_zone}
        answer = subprocess.run(
            [sys.executable, "-m", "flows.cli", "rates", "--as-of", "2026-03-02T03:00Z", "-l", "acme-prod", "-p", "default", "--format", "json"],
            cwd=home, env=env, capture_output=True, text=True, timeout=60,
        )
        assert answer.returncode == 0, answer.stderr
        assert [row["valid_from"] for row in json.loads(answer.stdout)] == ["2026-03-02T03:00:00+00:00"], machine_zone
        table = subprocess.run(
            [sys.executable, "-m", "flows.cli", "history", "b", "-l", "acme-prod", "-p", "default", "--tz", "Europe/Paris"],
            cwd=home, env=env, capture_output=True, text=True, timeout=60,
        )
        assert table.returncode == 0, table.stderr
        assert table.stdout.splitlines()[3].split()[2:6] == ["2026-03-01", "04:00:00", "2026-03-02", "04:00:00"], (machine_zone, table.stdout)


def test_csv_keeps_every_value_exactly_and_plainly(tmp_path: Path) -> None:
    """Rates to their last digit, null as an empty field (not None), lines ending in \\n alone, and a
    header even when nothing matched: what a script or a spreadsheet reads."""
    write_config(tmp_path, "http://127.0.0.1:9/v1")
    saved = tmp_path / "2026-03-01.json"
    tiny = 1.2345678901234567e-07  # seventeen significant digits, as 0.1 + 0.2 needs
    bare = {"id": "bare", "cost": {"input_cost_per_micro_credit": 0.1 + 0.2, "output_cost_per_micro_credit": 5e-324}}
    saved.write_text(json.dumps([bare, model("full", 0.0016000000000001, tiny)]))
    assert qcat(tmp_path, "import", str(saved), "-l", "acme-prod").returncode == 0
    done = subprocess.run([sys.executable, "-m", "flows.cli", "rates", "--format", "csv"], cwd=tmp_path, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert b"\r" not in done.stdout
    rows = list(csv.DictReader(io.StringIO(done.stdout.decode())))
    assert [(row["model_id"], row["input_cost_per_micro_credit"], row["output_cost_per_micro_credit"]) for row in rows] == [
        ("bare", "0.30000000000000004", "5e-324"),
        ("full", "0.0016000000000001", repr(tiny)),
    ]
    assert float(rows[0]["input_cost_per_micro_credit"]) == 0.1 + 0.2 and float(rows[1]["output_cost_per_micro_credit"]) == tiny
    assert (rows[0]["name"], rows[0]["context_window"], rows[0]["max_output_tokens"]) == ("", "", ""), "null is an empty field"
    nothing = qcat(tmp_path, "changes", "--since", "2026-01-01", "--format", "csv")
    assert nothing.returncode == 0 and nothing.stdout.startswith("observed_at,license,provider,model_id,event_type,change,") and nothing.stdout.count("\n") == 1


def test_changes_table_gives_its_window_in_tz_and_the_change_in_words(home: Path) -> None:
    table = qcat(home, "changes", "--since", "2026-03-01", "--until", "2026-03-05", "--tz", "Europe/Paris")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == "Changes from 2026-03-01 00:00 to 2026-03-05 00:00 Europe/Paris"
    assert lines[1].split() == ["observed_at", "license", "provider", "model_id", "event_type", "change"], "what changed in words, not every column"
    assert [re.split(r"\s{2,}", line) for line in lines[3:-1]] == [
        ["2026-03-02 04:00:00", "acme-prod", "default", "a", "rate_changed", "input 0.001 -> 0.0015 (+50.00%)"],
        ["2026-03-02 04:00:00", "acme-prod", "default", "b", "removed", "was input 0.003, output 0.004"],
        ["2026-03-03 04:00:00", "acme-prod", "default", "a", "rate_changed", "output 0.002 -> 0.001 (-50.00%)"],
        ["2026-03-03 04:00:00", "acme-prod", "default", "b", "readded", "input 0.003, output 0.004"],
        ["2026-03-03 04:00:00", "acme-prod", "default", "c", "added", "input 0.0, output 0.0"],
        ["2026-03-04 04:00:00", "acme-prod", "default", "a", "renamed", "A -> Alpha"],
        ["2026-03-04 04:00:00", "acme-prod", "default", "c", "rate_changed", "input 0.0 -> 0.0001 (from 0)"],
    ], table.stdout
    assert lines[-1] == "(7 rows; times in Europe/Paris)"
    rates_table = qcat(home, "rates", "--as-of", "2026-03-02T04:00", "--tz", "Europe/Paris", "-l", "acme-prod", "-p", "default")
    assert rates_table.stdout.splitlines()[0] == "Rates as of 2026-03-02 04:00:00.000000 Europe/Paris (micro-credits per token)", rates_table.stdout


def test_history_table_gives_each_rate_its_move_and_says_how_each_version_ended(home: Path) -> None:
    table = qcat(home, "history", "a", "-l", "acme-prod", "-p", "default")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert re.split(r"\s{2,}", lines[1]) == ["license", "provider", "valid_from", "valid_to", "began with", "input", "output", "name", "context / max output", "ended"]
    assert [re.split(r"\s{2,}", line)[4:] for line in lines[3:-1]] == [
        ["baseline", "0.001", "0.002", "A", "128000 / 8192", "changed"],
        ["rate_changed", "0.0015 (+50.00%)", "0.002", "A", "128000 / 8192", "changed"],
        ["rate_changed", "0.0015", "0.001 (-50.00%)", "A", "128000 / 8192", "changed"],
        ["renamed", "0.0015", "0.001", "Alpha", "128000 / 8192", "current"],
    ], table.stdout


def test_sql_shows_a_time_without_a_zone_as_it_is(home: Path) -> None:
    """--tz moves times that have a zone; a naive timestamp (changes_between's observed_at) has none to move from."""
    query = "select timestamp '2026-07-01 03:00' as naive, timestamptz '2026-07-01 03:00:00+00' as aware"
    assert as_json(home, "sql", "--tz", "Europe/Paris", query) == [{"naive": "2026-07-01T03:00:00", "aware": "2026-07-01T05:00:00+02:00"}]
    table = qcat(home, "sql", "--tz", "Europe/Paris", query)
    assert table.stdout.splitlines()[2] == "2026-07-01 03:00:00  2026-07-01 05:00:00", table.stdout


def test_compare_lists_models_without_any_ratio_last(tmp_path: Path) -> None:
    """A rate of 0 gives no ratio and no spread to order by: such a model comes after every spread."""
    write_config(tmp_path, "http://127.0.0.1:9/v1", {"acme-prod": ["default"], "acme-research": ["default"]})
    prod, research = tmp_path / "prod" / "2026-03-01.json", tmp_path / "research" / "2026-03-01.json"
    prod.parent.mkdir()
    research.parent.mkdir()
    prod.write_text(json.dumps([model("free", 0.0, 0.0), model("dear", 0.0015, 0.002), model("half-free", 0.0, 0.004)]))
    research.write_text(json.dumps([model("free", 0.0, 0.0), model("dear", 0.001, 0.002), model("half-free", 0.001, 0.002)]))
    assert qcat(tmp_path, "import", str(prod), "-l", "acme-prod").returncode == 0
    assert qcat(tmp_path, "import", str(research), "-l", "acme-research").returncode == 0
    rows = as_json(tmp_path, "compare", "--licenses", "acme-prod,acme-research")
    assert [(row["model_id"], row["input_ratio"], row["output_ratio"]) for row in rows] == [
        ("half-free", None, 2.0),
        ("dear", pytest.approx(1.5), 1.0),
        ("free", None, None),
    ]


def test_a_block_found_damaged_in_a_query_is_a_damaged_database(home: Path, tmp_path: Path) -> None:
    """DuckDB reads most blocks only when a query needs them: one found damaged then is a damaged
    database as much as a file that will not open (exit 1, run `qcat rebuild`), never an internal error."""
    (tmp_path / "qcat.toml").write_text((home / "qcat.toml").read_text())
    (tmp_path / "data").mkdir()
    database = db_path(tmp_path / "data")
    pristine = db_path(home / "data").read_bytes()
    found_in_a_query = []
    for offset in range(3 * 4096, len(pristine), 256 * 1024):  # past the file's headers, one block at a time
        database.write_bytes(pristine[: offset + 8] + b"\xaa" * 4096 + pristine[offset + 8 + 4096 :])
        for args in (("rates", "--format", "csv"), ("changes", "--since", "2026-01-01", "--format", "csv"), ("history", "a")):
            result = qcat(tmp_path, *args)
            assert result.returncode in (0, 1), (offset, args, result.stderr)
            if result.returncode == 1:
                assert " is damaged (" in result.stderr and result.stderr.endswith("derive it again from the archive with `qcat rebuild`\n"), result.stderr
                assert len(result.stderr.splitlines()) == 1, result.stderr
                if not result.stderr.startswith(f"qcat: error: {database} "):  # the file opened: the damage showed in the query
                    found_in_a_query.append((offset, args))
    assert found_in_a_query, "no damaged block was left for a query to find: damage a larger history"


def test_sql_tables_show_lists_and_structs_as_text(home: Path) -> None:
    """A list as its items, a struct as JSON with its text as it is (not \\u00e8, which would read as
    an escaped control character), times inside both in --tz."""
    query = "select [timestamptz '2026-03-01 03:00:00+00', timestamptz '2026-07-01 03:00:00+00'] as l, {'name': 'Modèle'} as s"
    table = qcat(home, "sql", "--tz", "Europe/Paris", query)
    assert table.returncode == 0, table.stderr
    assert re.split(r"\s{2,}", table.stdout.splitlines()[2]) == ["2026-03-01 04:00:00+01:00, 2026-07-01 05:00:00+02:00", '{"name": "Modèle"}'], table.stdout


def test_a_query_failing_past_its_first_rows_is_a_bad_query(home: Path) -> None:
    """DuckDB computes rows past its first chunk (2048) only as they are fetched: an error there is
    the query's, exit 2 with one line, as for one in the first rows (not an internal error, 70)."""
    for query in ("select error('boom') as x", "select case when i = 3000 then error('boom') else i end as x from range(5000) t(i)"):
        result = qcat(home, "sql", query)
        assert (result.returncode, result.stderr) == (2, "qcat: error: query failed: Invalid Input Error: boom\n"), (query, result.stderr)
