"""The README is executable documentation: its commands match CI and its SQL runs."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from flows.config import load_config
from flows.database import db_path
from flows.simulator import SimulatorServer
from tests.conftest import night, nightly_plain, write_config

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_first_blocks_are_the_demo_and_the_tests_and_ci_runs_the_second() -> None:
    demo, tests = blocks("bash")[:2]
    assert README.index(demo) < README.index(tests) < README.index("```sql")
    assert demo.strip().endswith("qcat demo")
    ci_command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci_command == tests.strip()


def test_example_queries_run(simulator: SimulatorServer, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"], "acme-research": ["default"]}))
    for n in range(3):
        simulator.day = n
        nightly_plain(config, night(n))
    [script] = blocks("sql")
    con = duckdb.connect(str(db_path(config.data_dir)), read_only=True)
    try:
        results = [con.execute(statement).fetchall() for statement in script.split(";") if statement.strip()]
    finally:
        con.close()
    assert len(results) == 4
    assert results[2], "acme-research is cheaper (factor 0.85), so acme-prod pays more somewhere"


def test_query_examples_answer_on_demo_licenses(simulator: SimulatorServer, tmp_path: Path) -> None:
    """The `$ qcat ...` examples, as written, on three weeks of the demo's licenses ending yesterday
    (their spans count back from now), and what each one answers."""
    providers = ["default", "openrouter", "anthropic"]
    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": providers, "acme-research": providers}))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    pulled = [now - timedelta(days=ago) for ago in (21, 11, 1)]
    for day, when in zip((0, 10, 20), pulled):
        simulator.day = day
        nightly_plain(config, when)
    [examples] = blocks("console")
    commands = [line.removeprefix("$ ") for line in examples.splitlines() if line.startswith("$ qcat") or line.startswith("$ echo")]
    named = {command.split("qcat ")[1].split()[0]: command for command in commands}
    assert list(named) == ["changes", "rates", "history", "compare", "sql"]
    out = {}
    for name, command in named.items():
        runnable = command.replace("qcat ", f"{sys.executable} -m flows.cli ", 1) if command.startswith("qcat") else command.replace("| qcat", f"| {sys.executable} -m flows.cli")
        result = subprocess.run(["bash", "-o", "pipefail", "-c", runnable], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        out[name] = result.stdout

    # rate changes of 10% or more, in either direction, and nothing else: worked out here in exact
    # decimals from the stored rates (the simulator's 10% moves are 9.99999999999999x in floating point)
    changes = table_rows(out["changes"])
    assert changes and all(" rate_changed " in row for row in changes)
    con = duckdb.connect(str(db_path(config.data_dir)), read_only=True)
    try:
        moves = con.execute(
            "select license, provider, model_id, old_input_cost_per_micro_credit, new_input_cost_per_micro_credit, "
            "old_output_cost_per_micro_credit, new_output_cost_per_micro_credit from catalog_events where event_type = 'rate_changed'"
        ).fetchall()
    finally:
        con.close()
    expected = [move[:3] for move in moves if moved_ten_percent(*move[3:5]) or moved_ten_percent(*move[5:7])]
    rate_pairs = [pair for move in moves for pair in (move[3:5], move[5:7]) if pair[0]]
    assert any(9.99 < abs((new - old) / old * 100) < 10 for old, new in rate_pairs), "no 10% move that floating point puts under 10"
    assert sorted(tuple(row.split()[2:5]) for row in changes) == sorted(expected)

    # the rates in effect a week ago: set by the first two pulls, not by yesterday's
    with (tmp_path / "rates.csv").open(newline="") as handle:
        rates = list(csv.DictReader(handle))
    assert rates and all(row["license"] == "acme-prod" and row["model_id"].startswith("anthropic/") for row in rates)
    assert {datetime.fromisoformat(row["valid_from"]) for row in rates} <= set(pulled[:2])

    # one model's versions, in New York time
    history = table_rows(out["history"])
    new_york = [when.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M:%S") for when in pulled]
    assert history and all(row.startswith("acme-prod ") for row in history)
    valid_from = [" ".join(row.split()[2:4]) for row in history]
    assert set(valid_from) <= set(new_york) and valid_from[0] == new_york[0]
    assert out["history"].rstrip().endswith(f"({len(history)} rows; times in America/New_York)")

    # acme-research's rates are 0.85 of acme-prod's in the simulator
    spread = json.loads((tmp_path / "spread.json").read_text())
    assert spread and all((row["license_a"], row["license_b"], row["provider_a"]) == ("acme-prod", "acme-research", "openrouter") for row in spread)
    assert all(row["input_ratio"] == pytest.approx(1 / 0.85) for row in spread if row["input_b"])

    assert len(table_rows(out["sql"])) == 5


def moved_ten_percent(old: float, new: float) -> bool:
    before, after = Decimal(repr(old)), Decimal(repr(new))
    return before != after and (before == 0 or abs(after - before) / before * 100 >= 10)


def table_rows(output: str) -> list[str]:
    """The data rows of a table as qcat prints it: between the dashed rule and the closing count."""
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("---")) + 1
    return [line for line in lines[start:] if line and not line.startswith("(")]
