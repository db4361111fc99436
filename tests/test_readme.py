"""The README is executable documentation: its commands match CI and its SQL runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb

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


def test_query_examples_run_on_demo_licenses(simulator: SimulatorServer, tmp_path: Path) -> None:
    """The `$ qcat ...` examples, on a short history of the demo's licenses and providers."""
    providers = ["default", "openrouter", "anthropic"]
    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": providers, "acme-research": providers}))
    for n in range(3):
        simulator.day = n
        nightly_plain(config, night(n))
    [examples] = blocks("console")
    commands = [line.removeprefix("$ ") for line in examples.splitlines() if line.startswith("$ qcat") or line.startswith("$ echo")]
    assert len(commands) == 5
    for command in commands:
        runnable = command.replace("qcat ", f"{sys.executable} -m flows.cli ", 1) if command.startswith("qcat") else command.replace("| qcat", f"| {sys.executable} -m flows.cli")
        result = subprocess.run(["bash", "-o", "pipefail", "-c", runnable], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{command}: {result.stderr}"
    assert (tmp_path / "rates.csv").read_text().startswith("license,provider,model_id,name,input_cost_per_micro_credit")
