"""`qcat report`: exact content on a known history, and the page itself in a real headless chromium."""

from __future__ import annotations

import json
import os
import re
import stat
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.config import Config, load_config
from flows.simulator import CatalogSimulator, SimulatorServer
from tests.cdp import Page, chromium_page
from tests.conftest import API_KEYS, KEY_VARS, Watched, model, night, nightly_plain, play_nights, qcat_watching_imports, write_config

ARTIFACTS = Path(__file__).resolve().parent.parent / "data" / "test-artifacts"
EVIL = "</script><script>alert(1)</script>"
EVIL_ID = f"x{EVIL}"
NIGHTS = {
    0: {
        ("acme-prod", "default"): [model("a", 0.001, 0.002), model("b", 0.003, 0.004), model(EVIL_ID, 0.002, 0.002, name=EVIL)],
        ("acme-prod", "anthropic"): [model("a", 0.0012, 0.002)],
        ("acme-research", "default"): [model("a", 0.0008, 0.002), model("b", 0.003, 0.004)],
    },
    1: {("acme-prod", "default"): [model("a", 0.0015, 0.002), model(EVIL_ID, 0.002, 0.002, name=EVIL)]},
    2: {("acme-prod", "default"): [model("a", 0.0015, 0.001), model("b", 0.003, 0.004), model(EVIL_ID, 0.0025, 0.002, name=EVIL)]},
    3: {
        ("acme-prod", "default"): [model("a", 0.0015, 0.001), model("b", 0.0035, 0.004), model(EVIL_ID, 0.0025, 0.002, name=EVIL)],
        ("acme-research", "default"): [model("a", 0.0008, 0.002, name="Model A"), model("b", 0.003, 0.004, ctx=200000), model("c", 0.002, 0.003)],
    },
}


def seconds(n: int) -> int:
    return int(night(n).timestamp())


def iso(n: int) -> str:
    return night(n).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Config]:
    """Four nights through the live pipeline: rate moves, a removal and return, an addition, two licenses."""
    folder = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch, SimulatorServer(CatalogSimulator(max_models=40)) as simulator:
        for license, variable in KEY_VARS.items():
            patch.setenv(variable, API_KEYS[license])
        config = load_config(write_config(folder, simulator.base_url, {"acme-prod": ["default", "anthropic"], "acme-research": ["default"]}))
        play_nights(simulator, config, NIGHTS)
        yield config


def qcat_report(config_path: Path, *args: str) -> Watched:
    """The command in its own process; it must import neither Prefect nor pyarrow."""
    return qcat_watching_imports("report", "--config", str(config_path), *args)


@pytest.fixture(scope="module")
def report(history: Config) -> Path:
    out = history.data_dir.parent / "report.html"
    result = qcat_report(history.source, "--out", str(out), "--since", "3d")
    assert result.returncode == 0, result.stderr
    assert result.heavy_imports == []
    assert "3 catalogs, 9 changes and 3 models with rate changes since 2026-03-01 03:00 UTC, 3 charted" in result.stdout
    return out


def embedded(path: Path) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', path.read_text(encoding="utf-8"), re.S)
    assert match
    return json.loads(match.group(1))


def test_embedded_data_is_exact(report: Path) -> None:
    data = embedded(report)
    assert data["window"] | {} == {"since": iso(0), "until": iso(3), "first_pull_at": iso(0), "since_text": "3d"}
    assert [(c["license"], c["provider"], c["models"], c["last_status"], c["rate_changed"], c["added"], c["removed"], c["readded"], c["other"]) for c in data["catalogs"]] == [
        ("acme-prod", "anthropic", 1, "ok", 0, 0, 0, 0, 0),
        ("acme-prod", "default", 3, "ok", 4, 0, 1, 1, 0),
        ("acme-research", "default", 3, "ok", 0, 1, 0, 0, 2),
    ]
    assert data["changes"]["total"] == 9
    assert [(r["observed_at"], r["license"], r["model_id"], r["event_type"]) for r in data["changes"]["rows"]] == [
        (iso(3), "acme-prod", "b", "rate_changed"),
        (iso(3), "acme-research", "a", "renamed"),
        (iso(3), "acme-research", "b", "limits_changed"),
        (iso(3), "acme-research", "c", "added"),
        (iso(2), "acme-prod", "a", "rate_changed"),
        (iso(2), "acme-prod", EVIL_ID, "rate_changed"),
        (iso(2), "acme-prod", "b", "readded"),
        (iso(1), "acme-prod", "a", "rate_changed"),
        (iso(1), "acme-prod", "b", "removed"),
    ]
    first_move = data["changes"]["rows"][7]
    assert (first_move["old_input"], first_move["new_input"], first_move["input_pct_change"]) == (0.001, 0.0015, pytest.approx(50.0))

    charts = data["charts"]
    assert charts["total"] == 3
    a, evil, b = charts["models"]
    assert (a["model_id"], a["changed"], a["changes"], a["largest_pct"], a["last_change_at"]) == ("a", ["input", "output"], 2, pytest.approx(50.0), iso(2))
    assert a["series"] == [
        {"license": "acme-prod", "provider": "anthropic", "input": [[seconds(0), 0.0012]], "output": [[seconds(0), 0.002]]},
        {"license": "acme-prod", "provider": "default", "input": [[seconds(0), 0.001], [seconds(1), 0.0015]], "output": [[seconds(0), 0.002], [seconds(2), 0.001]]},
        {"license": "acme-research", "provider": "default", "input": [[seconds(0), 0.0008]], "output": [[seconds(0), 0.002]]},
    ]
    assert (evil["model_id"], evil["name"], evil["changed"]) == (EVIL_ID, EVIL, ["input"])
    assert evil["series"] == [{"license": "acme-prod", "provider": "default", "input": [[seconds(0), 0.002], [seconds(2), 0.0025]]}]

    # removed on night 1, back on night 2: a gap (null) where acme-prod/default did not list it
    assert (b["model_id"], b["changed"], b["largest_pct"]) == ("b", ["input"], pytest.approx(100 / 6))
    assert [s["input"] for s in b["series"]] == [[[seconds(0), 0.003], [seconds(1), None], [seconds(2), 0.003], [seconds(3), 0.0035]], [[seconds(0), 0.003]]]

    assert data["spreads"]["total"] == 2
    assert data["spreads"]["rows"] == [
        {
            "provider": "default", "model_id": "a", "license_a": "acme-research", "license_b": "acme-prod",
            "input_a": 0.0008, "input_b": 0.0015, "input_ratio": pytest.approx(0.0008 / 0.0015),
            "output_a": 0.002, "output_b": 0.001, "output_ratio": pytest.approx(2.0), "spread": pytest.approx(2.0),
        },
        {
            "provider": "default", "model_id": "b", "license_a": "acme-prod", "license_b": "acme-research",
            "input_a": 0.0035, "input_b": 0.003, "input_ratio": pytest.approx(0.0035 / 0.003),
            "output_a": 0.004, "output_b": 0.004, "output_ratio": pytest.approx(1.0), "spread": pytest.approx(0.0035 / 0.003),
        },
    ]


def test_iso_since_and_top_bound_the_report(history: Config, tmp_path: Path) -> None:
    out = tmp_path / "narrow.html"
    result = qcat_report(history.source, "--out", str(out), "--since", "2026-03-02", "--top", "1")
    assert result.returncode == 0, result.stderr
    data = embedded(out)
    assert data["window"]["since"] == "2026-03-02T00:00:00Z"
    assert [m["model_id"] for m in data["charts"]["models"]] == ["a"] and data["charts"]["total"] == 3
    # the rate in effect when the window opens (midnight) starts the line
    assert data["charts"]["models"][0]["series"][1]["input"] == [[seconds(1) - 3 * 3600, 0.001], [seconds(1), 0.0015]]
    assert [(r["license_a"], r["model_id"]) for r in data["spreads"]["rows"]] == [("acme-research", "a")] and data["spreads"]["total"] == 2
    assert data["changes"]["total"] == 9


def test_events_before_the_window_are_left_out(history: Config, tmp_path: Path) -> None:
    """From night 2 on: night 1's rate move of a and removal of b are history, not news."""
    out = tmp_path / "late.html"
    assert qcat_report(history.source, "--out", str(out), "--since", "2026-03-03").returncode == 0
    data = embedded(out)
    assert data["changes"]["total"] == 7
    assert {r["observed_at"] for r in data["changes"]["rows"]} == {iso(2), iso(3)}
    assert [(c["provider"], c["rate_changed"], c["added"], c["removed"], c["readded"], c["other"]) for c in data["catalogs"]] == [
        ("anthropic", 0, 0, 0, 0, 0),
        ("default", 3, 0, 0, 1, 0),
        ("default", 0, 1, 0, 0, 2),
    ]
    a = next(m for m in data["charts"]["models"] if m["model_id"] == "a")
    assert (a["changed"], a["changes"], a["last_change_at"]) == (["output"], 1, iso(2))


def test_the_file_is_self_contained_and_escapes_model_names(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert page.count("</script>") == 3  # the data, uPlot and ours: no model name closed a script element
    assert EVIL not in page
    assert all(key not in page for key in API_KEYS.values())
    assert "default-src 'none'" in page
    assert not list(report.parent.glob(".*.tmp"))  # written beside the target, then renamed over it


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ("lately", "qcat: error: --since: 'lately' is not a time: use an ISO date (2026-03-12), an ISO time (2026-03-12T08:30, 2026-03-12T08:30Z) or a span back from the latest pull (7d, 36h)"),
        ("2030-01-01", "qcat: error: --since: '2030-01-01' is after the latest pull (2026-03-04 03:00 UTC)"),
    ],
)
def test_bad_since_exits_two_with_one_line(history: Config, tmp_path: Path, since: str, message: str) -> None:
    result = qcat_report(history.source, "--out", str(tmp_path / "r.html"), "--since", since)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [message] and result.heavy_imports == []
    assert not (tmp_path / "r.html").exists()


def test_top_is_bounded(history: Config, tmp_path: Path) -> None:
    for top in ("0", "101"):
        result = qcat_report(history.source, "--out", str(tmp_path / "r.html"), "--top", top)
        assert result.returncode == 2 and "--top" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_missing_database_and_folder_are_clear_errors(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, "http://127.0.0.1:9/v1")
    result = qcat_report(config_path, "--out", str(tmp_path / "r.html"))
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == f"qcat: error: no database at {tmp_path / 'data' / 'catalog.duckdb'}: pull first (`qcat run`) or rebuild it from an archive (`qcat rebuild`)"
    result = qcat_report(config_path, "--out", str(tmp_path / "nowhere" / "r.html"))
    assert result.returncode == 2 and f"--out: folder {tmp_path / 'nowhere'} does not exist" in result.stderr


def test_an_out_that_is_not_a_file_name_is_refused_and_left_alone(history: Config, tmp_path: Path) -> None:
    """The report replaces --out by renaming over it: a folder's or a device's name must never be
    taken (as root, `--out /dev/full` would have replaced the device)."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    for out, message in ((tmp_path, "exists and is not a regular file"), (pipe, "exists and is not a regular file"), (Path("."), "names no file")):
        result = qcat_report(history.source, "--out", str(out))
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"--out: {out} {message}" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert stat.S_ISFIFO(pipe.stat().st_mode) and tmp_path.is_dir()


CHART_PIXELS = """
[...document.querySelectorAll('.uplot canvas')].map((canvas) => {
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let drawn = 0;
    for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) drawn += 1; }
    return drawn;
})
"""


def test_the_page_renders_in_headless_chromium(report: Path) -> None:
    url = report.resolve().as_uri()
    # a reader far from UTC still sees UTC times (pulls are at 03:00 UTC, 22:00 the day before in New York)
    with chromium_page(timezone="America/New_York") as page:
        load(page, url)
        assert page.evaluate("document.documentElement.dataset.charts") == "4"
        drawn = page.evaluate(CHART_PIXELS)
        assert len(drawn) == 4 and all(n > 2000 for n in drawn), drawn
        text = page.evaluate("document.body.innerText")
        assert EVIL in text and "input 1,000 \u2192 1,500 (+50%)" in text and "2\u00d7" in text
        assert "A \u2192 Model A" in text and "context window 128,000 \u2192 200,000" in text
        assert page.evaluate("[...document.querySelectorAll('#spreads td.wide')].map((td) => td.innerText)") == ["2\u00d7", "1.17\u00d7"]
        assert page.evaluate("document.querySelectorAll('#catalogs tbody tr').length") == 3
        assert page.evaluate("document.querySelectorAll('#changes tbody tr').length") == 9

        legend = hover_first_chart(page)
        assert "1,500 (0.0015)" in legend and re.search(r"2026-03-0[23] 03:00", legend), legend

        png = page.screenshot(ARTIFACTS / "report.png")
    assert_clean(page, url)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 1000 and height > 1000


def test_a_move_from_zero_leads_its_instant_in_the_changes(config: Config, simulator: SimulatorServer, tmp_path: Path) -> None:
    """It has no percentage, yet it is the largest move there is: the list is capped, and it must
    not be the first to fall off."""
    nights = {
        0: {("acme-prod", "default"): [model("free", 0.0, 0.002), model("small", 0.001, 0.002)]},
        1: {("acme-prod", "default"): [model("free", 0.001, 0.002), model("small", 0.0015, 0.002)]},
    }
    play_nights(simulator, config, nights)
    out = tmp_path / "from-zero.html"
    assert qcat_report(config.source, "--out", str(out)).returncode == 0
    rows = embedded(out)["changes"]["rows"]
    assert [(r["model_id"], r["input_pct_change"]) for r in rows] == [("free", None), ("small", pytest.approx(50.0))]


def test_a_history_without_changes_renders_its_empty_sections(config: Config, tmp_path: Path) -> None:
    nightly_plain(config, night(0))
    out = tmp_path / "first-night.html"
    assert qcat_report(config.source, "--out", str(out)).returncode == 0
    url = out.resolve().as_uri()
    with chromium_page() as page:
        load(page, url)
        assert page.evaluate("document.documentElement.dataset.charts") == "0"
        text = page.evaluate("document.body.innerText")
    assert_clean(page, url)
    assert "1 catalog listing" in text and "No changes since 2026-01-30 03:00." in text and "No rate changed since" in text and "No model costs differently" in text


def load(page: Page, url: str) -> None:
    for domain in ("Page", "Runtime", "Log", "Network"):
        page.send(f"{domain}.enable")
    page.send("Page.navigate", {"url": url})
    page.wait_for("Page.loadEventFired")


def assert_clean(page: Page, url: str) -> None:
    """No error of any kind, no dialog (an injected alert), and no request but the file itself."""
    assert [e for e in page.events if is_error(e)] == []
    assert not any(e["method"] == "Page.javascriptDialogOpening" for e in page.events)
    assert {e["params"]["request"]["url"] for e in page.events if e["method"] == "Network.requestWillBeSent"} == {url}


def hover_first_chart(page: Page) -> str:
    """Move the mouse over the middle of the first chart, as a reader would, and read its legend."""
    box = page.evaluate(
        "(() => { const over = document.querySelector('.uplot .u-over'); over.scrollIntoView({block: 'center'});"
        " const b = over.getBoundingClientRect(); return [b.x + b.width / 2, b.y + b.height / 2]; })()"
    )
    page.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": box[0], "y": box[1]})
    return page.evaluate("new Promise((done) => requestAnimationFrame(() => done(document.querySelector('.uplot .u-legend').innerText)))")


def is_error(event: dict[str, Any]) -> bool:
    params = event.get("params", {})
    return (
        event["method"] == "Runtime.exceptionThrown"
        or (event["method"] == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"))
        or (event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error")
    )


def test_a_since_at_a_pull_instant_includes_that_pulls_changes(history: Config, tmp_path: Path) -> None:
    """The window is [since, until]: a --since exactly at night 1's pull keeps night 1's changes in
    every section, and a version that ended right then is not drawn."""
    out = tmp_path / "at-night-1.html"
    assert qcat_report(history.source, "--out", str(out), "--since", iso(1)).returncode == 0
    data = embedded(out)
    assert data["window"]["since"] == iso(1)
    assert data["changes"]["total"] == 9
    assert [(r["observed_at"], r["model_id"], r["event_type"]) for r in data["changes"]["rows"][-2:]] == [(iso(1), "a", "rate_changed"), (iso(1), "b", "removed")]
    assert [(c["provider"], c["rate_changed"], c["removed"], c["readded"]) for c in data["catalogs"]] == [("anthropic", 0, 0, 0), ("default", 4, 1, 1), ("default", 0, 0, 0)]
    a = next(m for m in data["charts"]["models"] if m["model_id"] == "a")
    assert (a["changed"], a["changes"]) == (["input", "output"], 2)
    assert a["series"][1]["input"] == [[seconds(1), 0.0015]]


def test_spreads_names_removals_and_a_failed_last_pull(simulator: SimulatorServer, tmp_path: Path) -> None:
    """Equal rates are no spread; a tie between the two orders names the first license first, once,
    even where the two orders' ratios differ in the last bit (1.5x each way: 0.00105 / 0.0007 is
    not 1 / (0.0007 / 0.00105) in floating point); a model's chart is titled by its latest name, ends unlisted when the latest pull removed it;
    and a catalog whose latest pull failed says so."""
    config = load_config(write_config(tmp_path, simulator.base_url, {"acme-prod": ["default"], "acme-research": ["default"]}))
    prod, research = ("acme-prod", "default"), ("acme-research", "default")
    keep = [model(f"k{i}") for i in range(6)]
    tie = model("u", 0.00105, 0.0007)
    play_nights(simulator, config, {
        0: {
            prod: [*keep, model("e", 0.001, 0.002), model("t", 0.002, 0.001), tie, model("m", 0.001, 0.002, name="M"), model("gone", 0.001, 0.002)],
            research: [*keep, model("e", 0.001, 0.002), model("t", 0.001, 0.002), model("u", 0.0007, 0.00105), model("m", 0.001, 0.002, name="M")],
        },
        1: {prod: [*keep, model("e", 0.001, 0.002), model("t", 0.002, 0.001), tie, model("m", 0.0012, 0.002, name="New M"), model("gone", 0.002, 0.002)]},
    })
    simulator.clear_faults()
    simulator.add_fault("override", count=None, license="acme-prod", provider="default", models=[*keep, model("e", 0.001, 0.002), model("t", 0.002, 0.001), tie, model("m", 0.0012, 0.002, name="New M")])
    simulator.add_fault("server_error", count=None, license="acme-research", provider="default")
    nightly_plain(config, night(2))
    out = tmp_path / "spreads.html"
    result = qcat_report(config.source, "--out", str(out))
    assert result.returncode == 0, result.stderr
    data = embedded(out)
    assert [(r["model_id"], r["license_a"], r["license_b"], r["spread"]) for r in data["spreads"]["rows"]] == [
        ("t", "acme-prod", "acme-research", pytest.approx(2.0)),
        ("u", "acme-prod", "acme-research", pytest.approx(1.5)),
        ("m", "acme-prod", "acme-research", pytest.approx(1.2)),
    ]
    assert data["spreads"]["total"] == 3
    charts = {m["model_id"]: m for m in data["charts"]["models"]}
    assert charts["m"]["name"] == "New M"
    assert charts["gone"]["series"] == [{"license": "acme-prod", "provider": "default", "input": [[seconds(0), 0.001], [seconds(1), 0.002], [seconds(2), None]]}]
    assert [(c["license"], c["last_status"], c["last_pull_at"], c["last_applied_at"]) for c in data["catalogs"]] == [
        ("acme-prod", "ok", iso(2), iso(2)),
        ("acme-research", "unavailable", iso(2), iso(1)),
    ]


def test_a_move_from_zero_is_charted_first_even_beside_a_measured_move(config: Config, simulator: SimulatorServer, tmp_path: Path) -> None:
    """A model whose input left 0 moved most, even when its output's small move has a percentage.
    Both its rates moved in one pull: one change, as its events count it."""
    nights = {
        0: {("acme-prod", "default"): [model("z", 0.0, 0.002), model("big", 0.001, 0.002)]},
        1: {("acme-prod", "default"): [model("z", 0.001, 0.0021), model("big", 0.003, 0.002)]},
    }
    play_nights(simulator, config, nights)
    out = tmp_path / "top-one.html"
    assert qcat_report(config.source, "--out", str(out), "--top", "1").returncode == 0
    charts = embedded(out)["charts"]
    assert ([m["model_id"] for m in charts["models"]], charts["total"]) == (["z"], 2)
    assert (charts["models"][0]["changed"], charts["models"][0]["changes"]) == (["input", "output"], 1)


def test_a_since_at_the_latest_pull_reports_that_pull(history: Config, tmp_path: Path) -> None:
    """--since the latest pull itself is a window of one instant, not after the history's end."""
    out = tmp_path / "last-night.html"
    result = qcat_report(history.source, "--out", str(out), "--since", iso(3))
    assert result.returncode == 0, result.stderr
    data = embedded(out)
    assert (data["window"]["since"], data["window"]["until"], data["changes"]["total"]) == (iso(3), iso(3), 4)
