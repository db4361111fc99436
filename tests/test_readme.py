"""The README is executable documentation: its commands match CI and its SQL runs."""

from __future__ import annotations

import re
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
