"""Benchmarks for the issue's speed targets; not part of the test run.

    .venv/bin/python -m tests.benchmark [--days 365] [--catalogs 50] [--models 500] [--skip-flow]
    .venv/bin/python -m tests.benchmark --queries DIR [--days 365]   # read-only commands and the report

Figures printed here are the ones quoted in the README. A synthetic archive of nightly pulls
(rate changes, additions, removals and returns every night) is written with the archive's own
writers, then loaded night by night, then rebuilt; finally the real Prefect flow pulls 50
catalogs from the simulator with 200 ms of latency per request.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import flows
from flows.archive import PullRecord, models_table, new_pull_id, partition, write_new_parquet, write_record
from flows.catalog import Catalog, Model
from flows.config import Config, parse_config
from flows.database import db_path
from flows.history import connect
from flows.lock import writer_lock
from flows.pipeline import load_with_alerts, summarise
from flows.replay import rebuild_database

# early enough that a 365-night run dates no pull after the clock (loads refuse such pulls)
START = datetime(2025, 1, 1, 3, 0, tzinfo=timezone.utc)
PROVIDERS = ("default", "openrouter", "anthropic")


def generate(data_dir: Path, days: int, catalogs: int, models: int, seed: int = 7, start: datetime = START) -> Iterator[list[PullRecord]]:
    """Nightly archives of `catalogs` catalogs of about `models` models, evolving every night.

    Yields each night's records as soon as they are archived, so that loads see the archive
    as it would be on that night. Every catalog lists the same model ids at rates of its own, and
    catalogs are spread over licenses of three providers each, so that license and provider
    comparisons have something to compare.
    """
    rng = random.Random(seed)
    states = []
    for c in range(catalogs):
        states.append({f"vendor-{i % 7}/model-{i:04d}": Model(f"vendor-{i % 7}/model-{i:04d}", f"Model {i}", round(rng.uniform(1e-5, 0.01), 8), round(rng.uniform(1e-5, 0.04), 8), 128000, 8192, None) for i in range(models)})
    removed: list[dict[str, Model]] = [{} for _ in range(catalogs)]
    for day in range(days):
        when = start + timedelta(days=day)
        records = []
        for c in range(catalogs):
            state = states[c]
            if day:
                for model_id in rng.sample(sorted(state), k=max(1, len(state) // 100)):
                    old = state[model_id]
                    state[model_id] = Model(model_id, old.name, round(old.input_cost * rng.choice((0.8, 0.9, 1.1, 1.25)), 10), old.output_cost, old.context_window, old.max_output_tokens, None)
                if rng.random() < 0.3:
                    gone = rng.choice(sorted(state))
                    removed[c][gone] = state.pop(gone)
                if removed[c] and rng.random() < 0.3:
                    back = rng.choice(sorted(removed[c]))
                    state[back] = removed[c].pop(back)
                if rng.random() < 0.3:
                    new_id = f"vendor-new/model-{day:03d}-{c:02d}"
                    state[new_id] = Model(new_id, "New", 0.001, 0.002, 32000, None, None)
            records.append(_archive(data_dir, f"lic-{c // 3:03d}", PROVIDERS[c % 3], when, Catalog(tuple(state.values()))))
        yield records


def _archive(data_dir: Path, license: str, provider: str, when: datetime, catalog: Catalog) -> PullRecord:
    pull_id = new_pull_id(when)
    path = partition(data_dir, "models", license, provider, when.date()) / f"{pull_id}.parquet"
    write_new_parquet(path, models_table(pull_id, when, catalog))
    record = PullRecord(pull_id, license, provider, when, "ok", 200, 1, len(catalog.models), "0" * 64, None,
                        models_file=path.relative_to((data_dir / "archive").resolve()).as_posix())
    write_record(data_dir, record)
    return record


def bench_history(days: int, catalogs: int, models: int) -> None:
    with tempfile.TemporaryDirectory(prefix="qcat-bench-") as folder:
        data_dir = Path(folder)
        config = parse_config({"storage": {"data_dir": str(data_dir)}, "licenses": [{"name": "x", "api_key_env": "X"}]}, base_dir=data_dir)
        nights = [_timed_night(config, records) for records in generate(data_dir, days, catalogs, models)]
        loads = [night["load"] for night in nights]
        early = statistics.median(loads[5:15])
        late = statistics.median(loads[-10:])
        print(
            f"nightly load of {catalogs} catalogs, archive to commit on an open connection: night 1 (baseline) {loads[0]:.3f} s; "
            f"median nights 6-15 {early:.3f} s; median last 10 nights {late:.3f} s ({late / early:.2f}x)"
        )
        for phase in ("open", "load", "summary_and_close", "total"):
            print(f"  {phase}: median {statistics.median(night[phase] for night in nights[5:]):.3f} s over nights 6-{days}")
        _write_config(data_dir)
        for _ in range(3):
            started = time.perf_counter()
            peak = _peak_rss_of_rebuild(data_dir)
            print(f"qcat rebuild of {days} nights ({days * catalogs} pulls): {time.perf_counter() - started:.2f} s as a whole process, peak RSS {peak:.0f} MB")
        bench_report(data_dir)


def _timed_night(config: Config, records: list[PullRecord]) -> dict[str, float]:
    """`load_and_summarise` step by step: opening DuckDB and checkpointing it on close are fixed
    costs of any writer, reported apart from the load itself (reading the archive, the diff, the
    writes and the commit)."""
    with writer_lock(config.data_dir, config.lock_timeout_seconds):
        started = time.perf_counter()
        con = connect(db_path(config.data_dir))
        opened = time.perf_counter()
        report = load_with_alerts(con, config, records)
        loaded = time.perf_counter()
        summarise(con, records, report)
        con.close()
        closed = time.perf_counter()
    return {"open": opened - started, "load": loaded - opened, "summary_and_close": closed - loaded, "total": closed - started}


def bench_report(data_dir: Path) -> None:
    """`qcat report` as a user runs it, on the default window and on the largest one it allows."""
    for args in ((), ("--since", "365d", "--top", "100")):
        out = data_dir / "report.html"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "flows.cli", "report", "--config", str(data_dir / "qcat.toml"), "--out", str(out), *args], check=True, capture_output=True)
        elapsed = time.perf_counter() - started
        size = out.stat().st_size / 1e6
        print(f"qcat report {' '.join(args) or '(--since 30d --top 25)'}: {elapsed:.2f} s as a whole process (target < 10 s), {size:.2f} MB")
        if size > 5:
            raise SystemExit(f"the report is {size:.1f} MB: too large to e-mail")


def _write_config(data_dir: Path) -> None:
    """A config whose data folder is its own, so that the commands run there as a user would."""
    (data_dir / "qcat.toml").write_text('[storage]\ndata_dir = "."\n[[licenses]]\nname = "x"\napi_key_env = "X"\n')


def _peak_rss_of_rebuild(data_dir: Path) -> float:
    """`qcat rebuild` as a user runs it, in a child process that reports its own peak memory."""
    code = (
        "import resource, runpy, sys\nsys.argv = ['qcat', 'rebuild', '--config', sys.argv[1]]\n"
        "try:\n    runpy.run_module('flows.cli', run_name='__main__')\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(data_dir / "qcat.toml")], capture_output=True, text=True, check=True)
    return int(done.stderr.split()[-1]) / 1024


def bench_flow(catalogs: int, latency: float) -> None:
    """The whole nightly flow against the simulator; Prefect's start-up is reported on its own.

    The simulator runs in its own process, as the real gateway would, so that serving 50
    catalogs does not compete with the pipeline for this process's interpreter lock.
    """
    import httpx

    from flows.runner import prefect_defaults, run_nightly
    from flows.simulator import synthetic_licenses

    prefect_defaults()
    licenses = synthetic_licenses(catalogs)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", SIMULATOR_PROCESS, str(port), str(catalogs), str(latency)])
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base)
        with tempfile.TemporaryDirectory(prefix="qcat-bench-flow-") as folder:
            lines = ["[api]", f'base_url = "{base}/v1"', "max_concurrency = 8", "[storage]", 'data_dir = "data"']
            for license in licenses:
                variable = "QCAT_BENCH_" + license.name.upper().replace("-", "_")
                os.environ[variable] = license.api_key
                lines += ["[[licenses]]", f'name = "{license.name}"', f'api_key_env = "{variable}"', 'providers = ["openrouter"]']
            config_path = Path(folder) / "qcat.toml"
            config_path.write_text("\n".join(lines) + "\n")
            started = time.perf_counter()
            run_nightly(str(config_path), START)
            first = time.perf_counter() - started
            runs = []
            for night in range(1, 4):
                httpx.post(f"{base}/_sim/day", json={"day": night})
                started = time.perf_counter()
                summaries = run_nightly(str(config_path), START + timedelta(days=night))
                runs.append(time.perf_counter() - started)
                assert all(s.status == "ok" for s in summaries), summaries
    finally:
        server.terminate()
        server.wait(10)
    ideal = math.ceil(catalogs / 8) * latency
    warm = statistics.median(runs)
    print(
        f"nightly flow, {catalogs} catalogs x ~450 models, {latency * 1000:.0f} ms latency, 8 concurrent: "
        f"{warm:.2f} s per run (median of 3 warm runs; ideal fetch {ideal:.2f} s, target < {2 * (ideal + 1):.2f} s); "
        f"first run in a fresh process {first:.2f} s, i.e. Prefect start-up about {first - warm:.1f} s"
    )


SIMULATOR_PROCESS = """
import sys, threading
from flows.simulator import CatalogSimulator, SimulatorServer, synthetic_licenses
port, catalogs, latency = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
server = SimulatorServer(CatalogSimulator(synthetic_licenses(catalogs)), port=port).start()
server.add_fault("latency", count=None, seconds=latency)
threading.Event().wait()
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(base: str) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/_sim/requests", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the simulator did not start")


QUESTIONS = {
    "qcat rates --as-of <180 days ago> (every catalog, ~27,500 rows)": ["rates", "--as-of", "180d"],
    "qcat rates --as-of <180 days ago> --license lic-001 (3 catalogs)": ["rates", "--as-of", "180d", "--license", "lic-001"],
    "qcat history vendor-0/model-0042 (50 catalogs)": ["history", "vendor-0/model-0042"],
    "qcat changes --since 30d (every catalog)": ["changes", "--since", "30d"],
    "qcat changes --since 30d --format json": ["changes", "--since", "30d", "--format", "json"],
    "qcat rates --as-of <180 days ago> --format csv (every catalog)": ["rates", "--as-of", "180d", "--format", "csv"],
    'qcat sql "select 1" (start-up alone)': ["sql", "select 1"],
}


def bench_queries(data_dir: Path, days: int, catalogs: int, models: int) -> None:
    """The read-only commands as whole processes, on a history that ends today (made once, kept)."""
    if not (data_dir / "catalog.duckdb").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        start = datetime.combine(datetime.now(timezone.utc).date() - timedelta(days=days - 1), START.timetz())
        for _ in generate(data_dir, days, catalogs, models, start=start):
            pass
        config = parse_config({"storage": {"data_dir": str(data_dir)}, "licenses": [{"name": "x", "api_key_env": "X"}]}, base_dir=data_dir)
        rebuild_database(config)
        _write_config(data_dir)
    for label, args in QUESTIONS.items():
        seconds = []
        for _ in range(7):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=data_dir, stdout=subprocess.DEVNULL, check=True)
            seconds.append(time.perf_counter() - started)
        print(f"{label}: median {statistics.median(seconds):.3f} s, max {max(seconds):.3f} s (7 runs, whole process)")
    bench_report(data_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--catalogs", type=int, default=50)
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--skip-flow", action="store_true")
    parser.add_argument("--queries", type=Path, metavar="DIR", help="time the read-only commands on a history kept in DIR")
    args = parser.parse_args()
    print(json.dumps({"cpus": os.cpu_count(), "python": sys.version.split()[0], "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE")}))
    # commands are timed as after their first run, when Python has cached qcat's compiled modules;
    # with PYTHONDONTWRITEBYTECODE set (as on the machine this was built on) it never would, and
    # each start would compile them again (about 0.02 s)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(flows.__file__).parent)], check=True)
    if args.queries:
        bench_queries(args.queries, args.days, args.catalogs, args.models)
        return
    bench_history(args.days, args.catalogs, args.models)
    if not args.skip_flow:
        bench_flow(args.catalogs, 0.2)


if __name__ == "__main__":
    main()
