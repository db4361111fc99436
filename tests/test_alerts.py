"""Alerts over the real pipeline (simulator over HTTP, Parquet archive, DuckDB) and real HTTP receivers.

Plain functions throughout (the nightly job without Prefect, then `deliver_due`), for speed;
tests/test_alerts_flow.py runs the Prefect flow and the CLI.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from flows import alerts
from flows import ledger as ledger_log
from flows.archive import read_records
from flows.config import RULE_KEYS, AlertsConfig, Config, load_config
from flows.database import db_path
from flows.errors import ConfigError
from flows.history import connect
from flows.importer import collect, import_responses
from flows.client import make_http_client
from flows.pipeline import load_and_summarise, pull_one
from flows.replay import rebuild_database
from flows.simulator import SimulatorServer
from tests.alert_support import BASE, HOOK_ENV, SLACK_ENV, Receiver, alerts_toml, channel, down_url, ledger, serve
from tests.conftest import model, night, nightly_plain, write_config

V1_FIELDS = {
    "key", "type", "reason", "direction", "critical", "license", "provider", "model_id", "name", "event_id",
    "pull_id", "observed_at", "previous_observed_at", "old", "new", "input_pct_change", "output_pct_change",
    "status", "error", "failing_pulls", "failing_since", "removed_count", "added_count", "model_count", "summary", "line",
}


def make_config(tmp_path: Path, simulator: SimulatorServer, alerts_section: str, licenses: dict[str, list[str]] | None = None) -> Config:
    return load_config(write_config(tmp_path, simulator.base_url, licenses, extra=alerts_section))


def states(config: Config) -> list[tuple[str, str, str, int]]:
    """(summary, channel, state, attempts) of every delivery."""
    return sorted((row[10], row[1], row[2], row[4]) for row in ledger(config))


def event_ids(config: Config) -> dict[str, str]:
    con = duckdb.connect(str(db_path(config.data_dir)), read_only=True)
    try:
        return {f"{model_id}/{kind}": event_id for model_id, kind, event_id in con.execute("select model_id, event_type, event_id from catalog_events").fetchall()}
    finally:
        con.close()


def hooked_baseline(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook: Receiver) -> Config:
    """acme-prod/default alerting to `hook`, its baseline (BASE) loaded on night 0."""
    monkeypatch.setenv(HOOK_ENV, hook.url)
    config = make_config(tmp_path, simulator, alerts_toml("", channel("hook")))
    serve(simulator, {"acme-prod": BASE})
    nightly_plain(config, night(0))
    return config


def two_nights(simulator: SimulatorServer, config: Config, first: dict[str, list[dict]], second: dict[str, list[dict]]) -> None:
    serve(simulator, first)
    nightly_plain(config, night(0))
    serve(simulator, second)
    nightly_plain(config, night(1))


def sent(hook: Receiver) -> list[str]:
    """What the hook received, alert by alert, as its summary lines."""
    return [item["summary"] for body in hook.bodies for item in body["alerts"]]


def test_webhook_payload_is_the_documented_v1_schema(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Receiver() as hook:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        config = make_config(tmp_path, simulator, alerts_toml("", channel("hook")))
        two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": [model("m-a", inp=0.0011), model("m-b"), model("m-c"), model("m-d", name="Delta")]})
        report = alerts.deliver_due(config)
    assert (report.sent, report.failed, report.expired, report.errors) == (2, 0, 0, [])
    [body] = hook.bodies
    assert set(body) == {"schema", "channel", "kind", "sent_at", "count", "critical_count", "summary", "alerts"}
    assert (body["schema"], body["channel"], body["kind"], body["count"], body["critical_count"]) == ("qcat.alerts/v1", "hook", "digest", 2, 0)
    assert body["summary"] == (
        "qcat: 2 catalog alerts\n"
        "acme-prod:\n"
        "  ▲ default m-a: input +10.0% (0.001 → 0.0011)\n"
        "  ✚ default m-d: added (input 0.001, output 0.002)"
    )
    ids = event_ids(config)
    rate, added = body["alerts"]
    assert set(rate) == V1_FIELDS and set(added) == V1_FIELDS
    pull_id = rate["pull_id"]
    assert rate == {
        "key": f"event:{ids['m-a/rate_changed']}", "type": "rate_changed", "reason": None, "direction": "increase",
        "critical": False, "license": "acme-prod", "provider": "default", "model_id": "m-a", "name": None,
        "event_id": ids["m-a/rate_changed"], "pull_id": pull_id, "observed_at": "2026-03-02T03:00:00+00:00",
        "previous_observed_at": "2026-03-01T03:00:00+00:00",
        "old": {"input_cost_per_micro_credit": 0.001, "output_cost_per_micro_credit": 0.002},
        "new": {"input_cost_per_micro_credit": 0.0011, "output_cost_per_micro_credit": 0.002},
        "input_pct_change": pytest.approx(10.0), "output_pct_change": 0.0,
        "status": None, "error": None, "failing_pulls": None, "failing_since": None, "removed_count": None, "added_count": None, "model_count": None,
        "summary": "▲ acme-prod/default m-a: input +10.0% (0.001 → 0.0011)",
        "line": "▲ default m-a: input +10.0% (0.001 → 0.0011)",
    }
    assert (added["type"], added["name"], added["old"], added["pull_id"]) == ("added", "Delta", None, pull_id)
    assert added["new"] == {"name": "Delta", "input_cost_per_micro_credit": 0.001, "output_cost_per_micro_credit": 0.002, "context_window": 128000, "max_output_tokens": 8192}
    assert [(row[1], row[2], row[4]) for row in ledger(config)] == [("hook", "sent", 1)] * 2


def test_slack_digest_groups_by_license_with_arrows_and_percentages(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Receiver() as slack:
        monkeypatch.setenv(SLACK_ENV, slack.url)
        config = make_config(
            tmp_path, simulator, alerts_toml("", channel("team", "slack", url_env=SLACK_ENV)), {"acme-prod": ["default"], "acme-research": ["default"]}
        )
        two_nights(
            simulator,
            config,
            {"acme-prod": BASE, "acme-research": BASE},
            {
                # ids and names come from the gateway: Slack must show them, not read them as a mention
                "acme-prod": [model("m-a", inp=0.0012), model("m-b"), model("m-c"), model("m-n <!here> & co", inp=0.5, out=1.5)],
                "acme-research": [model("m-a", inp=0.0011, out=0.0015), model("m-b", out=0.0018), model("m-c")],
            },
        )
        alerts.deliver_due(config)
    [body] = slack.bodies
    assert body["blocks"] == [
        {"type": "header", "text": {"type": "plain_text", "text": "qcat: 4 catalog alerts"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*acme-prod*\n• ▲ default m-a: input +20.0% (0.001 → 0.0012)\n• ✚ default m-n &lt;!here&gt; &amp; co: added (input 0.5, output 1.5)"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*acme-research*\n• ▲▼ default m-a: input +10.0% (0.001 → 0.0011), output -25.0% (0.002 → 0.0015)\n• ▼ default m-b: output -10.0% (0.002 → 0.0018)"}},
    ]
    assert body["text"].startswith("qcat: 4 catalog alerts\nacme-prod:\n  ▲ default m-a") and "m-n &lt;!here&gt; &amp; co: added" in body["text"]


def test_a_slack_section_keeps_whole_lines_and_counts_the_rest(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Long model ids: 25 lines overflow Slack's 3000 characters per section; what does not fit is
    counted in the closing line, never cut mid-line or dropped unsaid."""
    with Receiver() as slack:
        monkeypatch.setenv(SLACK_ENV, slack.url)
        config = make_config(tmp_path, simulator, alerts_toml("", channel("team", "slack", url_env=SLACK_ENV)))
        base = [model(f"m-{n}") for n in range(30)]
        long_ids = [model(f"vendor/{'x' * 150}-{n:02d}") for n in range(30)]
        two_nights(simulator, config, {"acme-prod": base}, {"acme-prod": base + long_ids})
        alerts.deliver_due(config)
    [message] = slack.bodies
    [section] = [block for block in message["blocks"] if block["type"] == "section"]
    lines = section["text"]["text"].splitlines()[1:]
    assert 0 < len(lines) < 25 and len(section["text"]["text"]) <= 3000
    assert all(line.endswith("output 0.002)") for line in lines)
    assert message["blocks"][-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": f"... and {30 - len(lines)} more"}]}


def test_a_slack_digest_of_many_licenses_stays_within_fifty_blocks(tmp_path: Path) -> None:
    """Slack refuses a message of more than 50 blocks whole: one section per license must stop
    before that, and the closing line counts every alert left out."""
    from flows.alerts import sample_item
    from flows.channels import Message, slack_payload

    config = load_config(write_config(tmp_path, "http://127.0.0.1:9", extra=alerts_toml("", channel("team", "slack", url_env=SLACK_ENV, max_items=100))))
    alerts_of_60_licenses = tuple(sample_item() | {"license": f"lic-{n:02d}"} for n in range(60))
    payload = slack_payload(Message(config.alerts.channel("team"), "digest", alerts_of_60_licenses))
    sections = [block for block in payload["blocks"] if block["type"] == "section"]
    assert len(payload["blocks"]) == 50 and len(sections) == 48
    assert payload["blocks"][-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": "... and 12 more"}]}


def test_digest_is_bounded_but_the_json_payload_carries_everything(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Receiver() as hook, Receiver() as slack, Receiver() as each:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        monkeypatch.setenv(SLACK_ENV, slack.url)
        monkeypatch.setenv("QCAT_TEST_ALERT_EACH", each.url)
        tables = (
            channel("hook", max_items=4),
            channel("team", "slack", url_env=SLACK_ENV, max_items=4),
            channel("each", url_env="QCAT_TEST_ALERT_EACH", mode="per_event"),
        )
        config = make_config(tmp_path, simulator, alerts_toml("", *tables))
        # six current models, six new ones: a catalog that doubles, which the guard lets through
        base = BASE + [model(f"old-{n}") for n in range(3)]
        two_nights(simulator, config, {"acme-prod": base}, {"acme-prod": base + [model(f"new-{n}") for n in range(6)]})
        alerts.deliver_due(config)
    [digest] = hook.bodies
    assert digest["count"] == 6 and len(digest["alerts"]) == 6
    assert [a["model_id"] for a in digest["alerts"]] == [f"new-{n}" for n in range(6)]
    assert digest["summary"].splitlines()[-2:] == ["  ✚ default new-3: added (input 0.001, output 0.002)", "... and 2 more"]
    [message] = slack.bodies
    assert message["blocks"][1]["text"]["text"].count("\n•") == 4, "four lines under the license"
    assert message["blocks"][-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": "... and 2 more"}]}
    assert sorted((b["kind"], b["count"], b["alerts"][0]["model_id"]) for b in each.bodies) == [("per_event", 1, f"new-{n}") for n in range(6)]


def test_thresholds_directions_filters_and_channel_routing(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOOK_ENV, down_url())
    rules = (
        '[[alerts.rules]]\nchannels = ["all"]\nevent_types = ["rate_increase", "rate_decrease", "added"]\n'
        '[[alerts.rules]]\nchannels = ["prod-increases"]\ndirection = "increase"\nmin_pct = 1\nmodels = ["M-A*", "m-C"]\nlicenses = ["ACME-p*"]\n'  # case ignored, as by --model
    )
    config = make_config(
        tmp_path, simulator, alerts_toml("min_pct = 10\n", channel("all"), channel("prod-increases"), rules), {"acme-prod": ["default"], "acme-research": ["default"]}
    )
    before = [model("m-a1"), model("m-a2"), model("m-b"), model("m-c"), model("m-z", inp=0.0), model("m-gone")]
    after = [model("m-a1", inp=0.00105), model("m-a2", inp=0.0008), model("m-b", inp=0.00112), model("m-c", inp=0.00102), model("m-z", inp=0.001), model("m-n")]
    two_nights(simulator, config, {"acme-prod": before, "acme-research": before}, {"acme-prod": after, "acme-research": after})
    con = connect(db_path(config.data_dir))
    try:
        pull_ids = [row[0] for row in con.execute("select pull_id from pulls where observed_at = $t", {"t": night(1)}).fetchall()]
        found = alerts.candidates(con, config.alerts, pull_ids)
    finally:
        con.close()
    routed = {(a.item["license"], a.item["model_id"]): a.channels for a in found}
    expected_research = {
        ("acme-research", "m-a2"): {"all": False},  # -20%
        ("acme-research", "m-b"): {"all": False},  # +12%
        ("acme-research", "m-z"): {"all": True},  # 0 -> x passes any threshold and counts as critical
        ("acme-research", "m-n"): {"all": False},
    }
    assert routed == {
        **expected_research,
        **{("acme-prod", m): value for (_, m), value in expected_research.items()},
        ("acme-prod", "m-a1"): {"prod-increases": False},  # +5%: under 10% but over the second rule's 1%
        ("acme-prod", "m-c"): {"prod-increases": False},  # +2%
    }, "m-gone's removal is no event type of these rules; research m-a1/m-c fail the license filter"
    zero = next(a.item for a in found if a.item["model_id"] == "m-z")
    assert (zero["direction"], zero["input_pct_change"], zero["line"]) == ("increase", None, "▲ default m-z: input 0 → 0.001 (was free)")


def test_a_move_of_exactly_critical_pct_is_critical(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOOK_ENV, down_url())
    config = make_config(tmp_path, simulator, alerts_toml("min_pct = 1\ncritical_pct = 5\n", channel("hook")))
    two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": [model("m-a", out=0.0021), model("m-b", inp=0.00104), BASE[2]]})
    assert sorted((row[10], row[3]) for row in ledger(config)) == [
        ("▲ acme-prod/default m-a: output +5.0% (0.002 → 0.0021)", True),
        ("▲ acme-prod/default m-b: input +4.0% (0.001 → 0.00104)", False),
    ]


def test_a_rule_makes_an_alert_critical_on_its_own_channels_only(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pager rule that marks additions critical must not turn the team channel's digest into pages."""
    monkeypatch.setenv(HOOK_ENV, down_url())
    rules = (
        '[[alerts.rules]]\nchannels = ["team"]\nevent_types = ["added", "removed"]\ncritical_event_types = []\n'
        '[[alerts.rules]]\nchannels = ["pager"]\nevent_types = ["added"]\ncritical_event_types = ["added"]\n'
    )
    config = make_config(tmp_path, simulator, alerts_toml("", channel("team"), channel("pager"), rules))
    two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": [*BASE[:-1], model("m-new")]})
    critical = {(row[1], row[10]): (row[3], json.loads(row[11])["critical"]) for row in ledger(config)}
    assert critical == {
        ("team", "✚ acme-prod/default m-new: added (input 0.001, output 0.002)"): (False, False),
        ("team", "✖ acme-prod/default m-c: removed (was input 0.001, output 0.002)"): (False, False),
        ("pager", "✚ acme-prod/default m-new: added (input 0.001, output 0.002)"): (True, True),
    }, "the ledger and the payload each channel gets agree on the channel's own level"
    found, previewed = alerts.preview(config)  # the last run's alerts: night 1's
    added = next(a for a in found if a.item["model_id"] == "m-new")
    assert (added.channels, added.to("team")["critical"], added.to("pager")["critical"]) == ({"team": False, "pager": True}, False, True)
    assert [(m.channel.name, m.kind, [a["model_id"] for a in m.alerts]) for m in previewed] == [
        ("team", "digest", ["m-c", "m-new"]),
        ("pager", "critical", ["m-new"]),
    ], "the preview orders each channel's alerts as the channel gets them"


def test_a_five_percent_change_meets_a_five_percent_threshold(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """0.002 -> 0.0021 is 4.999999999999996% in floating point: people mean 5%."""
    monkeypatch.setenv(HOOK_ENV, down_url())
    config = make_config(tmp_path, simulator, alerts_toml("", channel("hook")))
    two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": [model("m-a", out=0.0021), model("m-b", out=0.00209), model("m-c")]})
    assert [row[10] for row in ledger(config)] == ["▲ acme-prod/default m-a: output +5.0% (0.002 → 0.0021)"]


def test_critical_alerts_go_first_in_one_bounded_message_and_auth_errors_always_are(
    simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch removal is one critical message per channel, not one per model; per_event channels get one each."""
    with Receiver() as hook, Receiver() as slack, Receiver() as each:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        monkeypatch.setenv(SLACK_ENV, slack.url)
        monkeypatch.setenv("QCAT_TEST_ALERT_EACH", each.url)
        # removals are critical (the default); an unreachable critical threshold keeps the rate change out
        tables = (
            channel("hook", max_items=2),
            channel("team", "slack", url_env=SLACK_ENV, max_items=2),
            channel("each", url_env="QCAT_TEST_ALERT_EACH", mode="per_event"),
        )
        config = make_config(tmp_path, simulator, alerts_toml("critical_pct = 1000\n", *tables), {"acme-prod": ["default"], "acme-broken": ["default"]})
        gone, kept = [model(f"m-x{n}") for n in range(4)], [model(f"m-k{n}") for n in range(4)]  # under the suspect share
        two_nights(simulator, config, {"acme-prod": BASE + gone + kept}, {"acme-prod": [model("m-a", inp=0.01), model("m-b"), *kept]})
        report = alerts.deliver_due(config)
    auth = "⚠ acme-broken/default catalog: auth error (environment variable QCAT_TEST_MISSING is not set or empty)"
    removed = [f"✖ acme-prod/default {m}: removed (was input 0.001, output 0.002)" for m in ("m-c", "m-x0", "m-x1", "m-x2", "m-x3")]
    rate = "▲ acme-prod/default m-a: input +900.0% (0.001 → 0.01)"
    assert [(b["kind"], b["count"], b["critical_count"], [a["summary"] for a in b["alerts"]]) for b in hook.bodies] == [
        ("critical", 6, 6, [auth, *removed]),
        ("digest", 1, 0, [rate]),
    ], "every critical alert in the JSON, in one message sent before the digest"
    assert hook.bodies[0]["summary"] == (
        "qcat CRITICAL: 6 catalog alerts\n"
        "acme-broken:\n"
        "  ⚠ default catalog: auth error (environment variable QCAT_TEST_MISSING is not set or empty)\n"
        "acme-prod:\n"
        "  ✖ default m-c: removed (was input 0.001, output 0.002)\n"
        "... and 4 more"
    )
    critical, digest = slack.bodies
    assert critical["blocks"] == [
        {"type": "header", "text": {"type": "plain_text", "text": "qcat CRITICAL: 6 catalog alerts"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*acme-broken*\n🔴 ⚠ default catalog: auth error (environment variable QCAT_TEST_MISSING is not set or empty)"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*acme-prod*\n🔴 ✖ default m-c: removed (was input 0.001, output 0.002)"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "... and 4 more"}]},
    ]
    assert digest["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "qcat: 1 catalog alert"}}
    assert [(b["kind"], b["count"], b["summary"]) for b in each.bodies] == [
        *[("critical", 1, f"qcat CRITICAL: {summary}") for summary in (auth, *removed)],
        ("per_event", 1, f"qcat: {rate}"),
    ]
    assert (report.sent, report.failed) == (21, 0), "7 alerts on each of 3 channels"


def test_an_outage_alerts_once_it_is_long_enough_even_if_failing_after_drops_past_it(
    simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four pulls down with failing_after = 5, then the setting lowered to 3: the fifth pull alerts
    (no pull was ever exactly 3 into the outage after the change), and the sixth does not again."""
    with Receiver() as hook:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        sent: list[list[str]] = []
        for n in range(7):
            config = make_config(tmp_path, simulator, alerts_toml(f"failing_after = {5 if n < 5 else 3}\n", channel("hook")))
            simulator.clear_faults()
            if n:
                simulator.add_fault("unavailable", count=None)
            nightly_plain(config, night(n))
            before = len(hook.bodies)
            alerts.deliver_due(config)
            sent.append([a["summary"] for body in hook.bodies[before:] for a in body["alerts"]])
    assert sent[:5] == [[]] * 5
    assert [len(s) for s in sent[5:]] == [1, 0]
    assert sent[5][0].startswith("⚠ acme-prod/default catalog: unavailable for 5 pulls in a row since 2026-03-02 03:00 UTC")


def test_failing_catalogs_alert_once_per_streak_and_suspect_shrinks(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Receiver() as hook:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        config = make_config(tmp_path, simulator, alerts_toml("failing_after = 2\n", channel("hook")), {"acme-prod": ["default"], "acme-broken": ["default"]})
        sent: list[list[str]] = []
        for n, (fault, models) in enumerate([(None, BASE), ("unavailable", BASE), ("invalid", BASE), ("unavailable", BASE), (None, []), (None, [])]):
            simulator.clear_faults()
            if fault is not None:  # the first matching fault wins: before the override
                simulator.add_fault({"unavailable": "unavailable", "invalid": "malformed_json"}[fault], count=None, license="acme-prod")
            simulator.add_fault("override", count=None, license="acme-prod", provider="default", models=models)
            nightly_plain(config, night(n))
            before = len(hook.bodies)
            alerts.deliver_due(config)
            sent.append([a["summary"] for body in hook.bodies[before:] for a in body["alerts"]])
    assert sent == [
        ["⚠ acme-broken/default catalog: auth error (environment variable QCAT_TEST_MISSING is not set or empty)"],
        [],
        ["⚠ acme-prod/default catalog: invalid for 2 pulls in a row since 2026-03-02 03:00 UTC (response body is not JSON (Expecting ',' delimiter: line 1 column 215))"],
        [],
        ["⚠ acme-prod/default catalog: suspect pull held back: it lacks 3 current models (0 listed)"],
        [
            "✖ acme-prod/default m-a: removed (was input 0.001, output 0.002)",
            "✖ acme-prod/default m-b: removed (was input 0.001, output 0.002)",
            "✖ acme-prod/default m-c: removed (was input 0.001, output 0.002)",
        ],
    ]
    assert (hook.bodies[-1]["kind"], hook.bodies[-1]["count"]) == ("critical", 3), "the three removals in one message"
    assert {a["observed_at"] for a in hook.bodies[-1]["alerts"]} == {"2026-03-05T03:00:00+00:00"}, "a confirmed suspect's removals date from the suspect pull"


def test_a_failing_channel_is_retried_within_the_run(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Receiver(fail_first=2) as hook:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        config = make_config(tmp_path, simulator, alerts_toml("attempts = 3\n", channel("hook")))
        two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": BASE + [model("m-d")]})
        report = alerts.deliver_due(config)
        assert (hook.requests, len(hook.bodies), report.sent, report.failed) == (3, 1, 1, 0)
    [row] = ledger(config)
    assert (row[2], row[4], row[9]) == ("sent", 3, "HTTP 503")
    assert row[6] <= row[7] and row[8] is not None


def test_a_down_channel_stays_due_and_is_delivered_on_a_later_run(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOOK_ENV, down_url())
    config = make_config(tmp_path, simulator, alerts_toml("attempts = 2\n", channel("hook")))
    two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": [model("m-a"), model("m-b"), model("m-d")]})
    report = alerts.deliver_due(config)
    assert (report.sent, report.failed) == (0, 1)
    assert report.errors == ["alert channel 'hook': ConnectError"]
    assert states(config) == [
        ("✖ acme-prod/default m-c: removed (was input 0.001, output 0.002)", "hook", "failed", 2),
        ("✚ acme-prod/default m-d: added (input 0.001, output 0.002)", "hook", "pending", 0),
    ], "after the critical message failed twice, the digest waits for the next run"
    with Receiver() as hook:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        report = alerts.deliver_due(config)
        again = alerts.deliver_due(config)
    assert (report.sent, again.sent, again.failed) == (2, 0, 0)
    assert [body["kind"] for body in hook.bodies] == ["critical", "digest"]
    assert [(state, attempts) for _, _, state, attempts in states(config)] == [("sent", 3), ("sent", 1)]
    assert [row[9] for row in ledger(config) if row[4] == 3] == ["ConnectError"], "the last error is kept for diagnosis"


def test_a_channel_that_cannot_work_fails_alone_and_the_others_stay_sent(
    simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """httpx refuses this URL before connecting; its message would quote it. Not retried, never echoed."""
    caplog.set_level(logging.DEBUG)
    broken = "http://[::1/hooks/tok-SECRET123"
    monkeypatch.setenv("QCAT_TEST_ALERT_BROKEN", broken)
    with Receiver() as hook:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        tables = (channel("hook"), channel("file", "jsonl", path="a.jsonl"), channel("broken", url_env="QCAT_TEST_ALERT_BROKEN"))
        config = make_config(tmp_path, simulator, alerts_toml("attempts = 3\n", *tables))
        two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": BASE + [model("m-d")]})
        first = alerts.deliver_due(config)
        again = alerts.deliver_due(config)
    expected = ["alert channel 'broken': environment variable QCAT_TEST_ALERT_BROKEN does not hold a valid http(s) URL"]
    assert (first.sent, first.failed, first.errors) == (2, 1, expected)
    assert (again.sent, again.failed, again.errors) == (0, 1, expected)
    assert (hook.requests, len((tmp_path / "a.jsonl").read_text().splitlines())) == (1, 1), "nothing sent twice"
    assert [(row[1], row[2], row[4]) for row in ledger(config)] == [("broken", "failed", 2), ("file", "sent", 1), ("hook", "sent", 1)]
    assert ledger(config)[0][9] == "environment variable QCAT_TEST_ALERT_BROKEN does not hold a valid http(s) URL"
    for content in [caplog.text, *(p.read_bytes().decode() for p in config.data_dir.rglob("*.json"))]:
        assert "SECRET123" not in content


def test_a_slow_channel_times_out(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Receiver(delay_seconds=2.0) as slow:
        monkeypatch.setenv(HOOK_ENV, slow.url)
        section = alerts_toml("attempts = 1\n", channel("hook")).replace("timeout_seconds = 2", "timeout_seconds = 0.5")
        config = make_config(tmp_path, simulator, section)
        two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": BASE + [model("m-d")]})
        report = alerts.deliver_due(config)
    assert report.errors == ["alert channel 'hook': ReadTimeout"]


def test_deliveries_expire_after_the_configured_span(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOOK_ENV, down_url())
    config = make_config(tmp_path, simulator, alerts_toml('expire_after = "2d"\nattempts = 1\n', channel("hook")))
    two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": BASE + [model("m-d")]})
    alerts.deliver_due(config)
    with Receiver() as hook:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        enqueued = ledger(config)[0][5]
        report = alerts.deliver_due(config, now=enqueued + timedelta(days=2, seconds=1))
        later = alerts.deliver_due(config)
    assert (report.expired, report.sent, later.sent, hook.requests) == (1, 0, 0, 0)
    assert [(state, attempts) for _, _, state, attempts in states(config)] == [("expired", 1)]


def test_reruns_and_duplicated_runs_send_nothing_new(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Receiver(delay_seconds=0.05) as hook:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        config = make_config(tmp_path, simulator, alerts_toml("", channel("hook"), channel("file", "jsonl", path="alerts.jsonl")))
        two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": BASE + [model("m-d"), model("m-e")]})
        # two runs delivering at once: the sender's lock lets each pair go out once
        threads = [threading.Thread(target=alerts.deliver_due, args=(config,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert hook.requests == 1 and len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 2
        first = ledger(config)
        nightly_plain(config, night(2))  # identical content: no event
        load_and_summarise(config, read_records(config.data_dir))  # the same pulls loaded again
        report = alerts.deliver_due(config)
        assert (report.sent, hook.requests) == (0, 1)
    assert ledger(config) == first
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 2


def test_rebuild_restores_the_ledger_and_sends_nothing(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOOK_ENV, down_url())
    config = make_config(tmp_path, simulator, alerts_toml('attempts = 1\nexpire_after = "1d"\n', channel("hook"), channel("file", "jsonl", path="out/a.jsonl")))
    two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": [model("m-a", inp=0.002), model("m-b"), model("m-d")]})
    alerts.deliver_due(config)  # jsonl sent, webhook failed
    alerts.deliver_due(config)  # failed again
    enqueued = ledger(config)[0][5]
    alerts.deliver_due(config, now=enqueued + timedelta(days=2))  # the webhook's expire
    serve(simulator, {"acme-prod": [model("m-a", inp=0.002), model("m-b"), model("m-d"), model("m-e")]})
    nightly_plain(config, night(2))  # one more, left pending
    live = ledger(config)
    assert {row[2] for row in live} == {"sent", "expired", "pending"}
    lines = (tmp_path / "out" / "a.jsonl").read_text()
    with Receiver() as hook:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        rebuild_database(config)
        assert hook.requests == 0
    assert ledger(config) == live
    assert (tmp_path / "out" / "a.jsonl").read_text() == lines


def test_imported_pulls_never_alert_neither_at_import_nor_at_the_next_run(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Receiver() as hook:
        config = hooked_baseline(simulator, tmp_path, monkeypatch, hook)
        alerts.deliver_due(config)
        saved = tmp_path / "2026-03-02T03-00-00Z.json"
        saved.write_text(json.dumps([model("m-a", inp=0.005), model("m-b"), model("m-c"), model("m-imported")]))
        report = import_responses(config, "acme-prod", "default", collect([saved], None, timezone.utc))
        assert (report.archived, report.events) == (1, 2)
        alerts.deliver_due(config)
        assert hook.bodies == [], "the import itself sends nothing"
        serve(simulator, {"acme-prod": [model("m-a", inp=0.005), model("m-b"), model("m-c"), model("m-imported"), model("m-live")]})
        nightly_plain(config, night(2))
        alerts.deliver_due(config)
    assert set(event_ids(config)) == {"m-a/rate_changed", "m-imported/added", "m-live/added"}
    assert sent(hook) == ["✚ acme-prod/default m-live: added (input 0.001, output 0.002)"]


def test_jsonl_channel_writes_one_exact_line_per_alert(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Receiver() as hook:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        config = make_config(tmp_path, simulator, alerts_toml("", channel("hook"), channel("file", "jsonl", path="alerts.jsonl", mode="per_event")))
        two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": [model("m-a", out=0.001), model("m-b"), model("m-c"), model("m-d")]})
        alerts.deliver_due(config)
    items = [item for body in hook.bodies for item in body["alerts"]]
    lines = (tmp_path / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines == [json.dumps(item, sort_keys=True, ensure_ascii=False) for item in items]
    assert [json.loads(line)["summary"] for line in lines] == [
        "▼ acme-prod/default m-a: output -50.0% (0.002 → 0.001)",
        "✚ acme-prod/default m-d: added (input 0.001, output 0.002)",
    ]


def test_the_webhook_url_is_never_written_logged_or_reported(
    simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = []
    with Receiver(fail_first=1) as hook:
        failing = down_url()
        secrets += [hook.url, failing, hook.url.rsplit("/", 1)[1], failing.rsplit("/", 1)[1]]
        monkeypatch.setenv(HOOK_ENV, failing)
        monkeypatch.setenv(SLACK_ENV, hook.url)
        config = make_config(tmp_path, simulator, alerts_toml("attempts = 2\n", channel("hook"), channel("team", "slack", url_env=SLACK_ENV)))
        two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": BASE + [model("m-d")]})
        report = alerts.deliver_due(config)
    assert (report.sent, report.failed) == (1, 1)
    files = [p for p in config.data_dir.rglob("*") if p.is_file()]
    assert any("alerts" in p.parts for p in files) and any(p.name == "catalog.duckdb" for p in files)
    for file in files:
        content = file.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, f"{secret} found in {file}"
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in " ".join(report.errors)
        assert all(secret not in str(row) for row in ledger(config))


def test_sent_stays_final_when_a_rebuild_replays_a_later_outcome_with_it(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Live, each sync applies one run's outcomes and a sent delivery keeps its state whatever comes
    after; a rebuild applies the whole log at once and must end the same (not as expired, beside a
    sent_at)."""
    monkeypatch.setenv(HOOK_ENV, down_url())
    config = make_config(tmp_path, simulator, alerts_toml("attempts = 1\n", channel("hook")))
    two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": BASE + [model("m-d")]})
    [(key, name, state, *_)] = ledger(config)
    assert state == "pending"
    sent_at = night(2)
    for op in (ledger_log.Op("sent", key, name, sent_at, sent_at, 1), ledger_log.Op("expired", key, name, sent_at + timedelta(days=8))):
        con = connect(db_path(config.data_dir))
        try:
            ledger_log.append(con, config.data_dir, [op])
        finally:
            con.close()
    live = ledger(config)
    assert [(row[2], row[8]) for row in live] == [("sent", sent_at)]
    rebuild_database(config)
    assert ledger(config) == live


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[alerts]\nmin_pct = -1\n', "alerts.min_pct: must be at least 0.0"),
        ('[alerts]\nevent_types = ["rate_up"]\n', "alerts.event_types: 'rate_up' is not one of"),
        ('[alerts]\nexpire_after = "7 days"\n', "alerts.expire_after: '7 days' is not a span"),
        ('[alerts]\nfailing_after = 0\n', "alerts.failing_after: must be between 1 and 365"),
        ('[alerts]\nmax_items = 3\n', "alerts.max_items: unknown key"),
        ('[[alerts.channels]]\nname = "x"\ntype = "email"\n', "alerts.channels[0].type: must be one of webhook, slack, prefect, jsonl"),
        ('[[alerts.channels]]\nname = "x"\ntype = "webhook"\n', "alerts.channels[0]: a webhook channel takes exactly one of url_env or url_secret"),
        ('[[alerts.channels]]\nname = "x"\ntype = "webhook"\nurl_env = "https://hooks.example/T0"\n', "alerts.channels[0].url_env: must name an environment variable (upper-case letters, digits and _), not hold a URL"),
        ('[[alerts.channels]]\nname = "x"\ntype = "slack"\nurl = "https://hooks.slack.com/x"\n', "alerts.channels[0].url: unknown key"),
        ('[[alerts.channels]]\nname = "x"\ntype = "jsonl"\npath = "a"\nmode = "batch"\n', "alerts.channels[0].mode: must be digest or per_event"),
        ('[[alerts.channels]]\nname = "x"\ntype = "jsonl"\npath = "a"\n[[alerts.channels]]\nname = "x"\ntype = "jsonl"\npath = "b"\n', "alerts.channels[1].name: 'x' is configured twice"),
        ('[[alerts.channels]]\nname = "x"\ntype = "prefect"\nblock = "just-a-name"\n', "alerts.channels[0].block: must be <block-type-slug>/<block-name>"),
        ('[[alerts.channels]]\nname = "x"\ntype = "prefect"\nblock = "slack-webhook/https://hooks.slack.com/T0"\n', "alerts.channels[0].block: must be <block-type-slug>/<block-name>"),
        ('[[alerts.channels]]\nname = "x"\ntype = "slack"\nurl_secret = "Team_Hook"\n', "alerts.channels[0].url_secret: must be the name of a Prefect Secret block"),
        ('[alerts]\nexpire_after = "0s"\n', "alerts.expire_after: must be between 1h and 365d, got '0s'"),
        ('[alerts]\nexpire_after = "59m"\n', "alerts.expire_after: must be between 1h and 365d, got '59m'"),
        ('[alerts]\nexpire_after = "366d"\n', "alerts.expire_after: must be between 1h and 365d, got '366d'"),
        ('[alerts]\nexpire_after = "99999999999w"\n', "alerts.expire_after: '99999999999w' is longer than any calendar can count"),
        ('[alerts]\nevent_types = []\n', "alerts.event_types: must list at least one event type"),
        ('[[alerts.rules]]\nevent_types = []\n', "alerts.rules[0].event_types: must list at least one event type"),
        ('[[alerts.channels]]\nname = "f"\ntype = "jsonl"\npath = "a.jsonl"\n[[alerts.rules]]\nchannels = []\n', "alerts.rules[0].channels: must name at least one channel"),
        ('[alerts]\nattempts = 0\n', "alerts.attempts: must be between 1 and 10, got 0"),
        ('[alerts]\nattempts = 11\n', "alerts.attempts: must be between 1 and 10, got 11"),
        ('[alerts]\nbackoff_seconds = -1\n', "alerts.backoff_seconds: must be at least 0.0, got -1"),
        ('[alerts]\nbackoff_seconds = 61\n', "alerts.backoff_seconds: must be at most 60.0, got 61"),
        ('[alerts]\ntimeout_seconds = 0\n', "alerts.timeout_seconds: must be at least 0.1, got 0"),
        ('[alerts]\ntimeout_seconds = 301\n', "alerts.timeout_seconds: must be at most 300.0, got 301"),
        ('[[alerts.channels]]\nname = "x"\ntype = "jsonl"\npath = "a"\nmax_items = 0\n', "alerts.channels[0].max_items: must be between 1 and 1000, got 0"),
        ('[[alerts.channels]]\nname = "x"\ntype = "jsonl"\npath = "a"\nmax_items = 1001\n', "alerts.channels[0].max_items: must be between 1 and 1000, got 1001"),
        ('[[alerts.rules]]\ndirection = "up"\n', "alerts.rules[0].direction: must be one of any, increase, decrease"),
        ('[[alerts.rules]]\nmin_pct = 1\n[[alerts.rules]]\nchannels = ["nope"]\n', "alerts.rules[1].channels: no [[alerts.channels]] entry is named 'nope'"),
        ('[[alerts.rules]]\nmodels = "gpt-*"\n', "alerts.rules[0].models: must be an array of non-empty strings"),
    ],
)
def test_alert_configuration_errors_name_the_key(tmp_path: Path, toml: str, expected: str) -> None:
    path = write_config(tmp_path, "http://127.0.0.1:9", extra=toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(expected), str(caught.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("url_secret", "https://hooks.slack.com/services/T0/B0/tok-SECRET123"),
        ("url_secret", "tok-SECRET123 "),
        ("block", "slack-webhook/https://hooks.slack.com/services/tok-SECRET123"),
    ],
)
def test_a_url_where_a_block_name_belongs_is_refused_and_never_echoed(tmp_path: Path, key: str, value: str) -> None:
    kind = "prefect" if key == "block" else "slack"
    toml = f'[[alerts.channels]]\nname = "a"\ntype = "jsonl"\npath = "a"\n[[alerts.channels]]\nname = "x"\ntype = "{kind}"\n{key} = "{value}"\n'
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, "http://127.0.0.1:9", extra=toml))
    message = str(caught.value)
    assert message.startswith(f"alerts.channels[1].{key}: must be "), message
    assert "SECRET123" not in message and "hooks.slack.com" not in message
    assert ("URLs belong in an environment variable (url_env) or inside the Secret block" if key == "url_secret" else "URLs and keys belong inside the block") in message


def test_rules_inherit_the_alerts_defaults(tmp_path: Path) -> None:
    extra = '[alerts]\nmin_pct = 12\ndirection = "increase"\n' + channel("a", "jsonl", path="a.jsonl") + '[[alerts.rules]]\nmodels = ["x*"]\n[[alerts.rules]]\nmin_pct = 1\n'
    config = load_config(write_config(tmp_path, "http://127.0.0.1:9", extra=extra))
    first, second = config.alerts.rules
    assert (first.min_pct, first.direction, first.models, second.min_pct, second.direction) == (12.0, "increase", ("x*",), 1.0, "increase")
    assert config.alerts.channels[0].path == tmp_path / "a.jsonl"
    assert load_config(write_config(tmp_path, "http://127.0.0.1:9")).alerts.rules == (replace(config.alerts.rules[0], min_pct=5.0, direction="any", models=()),)


def test_the_example_file_documents_every_alerts_key_with_its_default() -> None:
    root = Path(__file__).resolve().parent.parent
    example = root / "qcat.example.toml"
    assert load_config(example).alerts == AlertsConfig()
    text = example.read_text(encoding="utf-8")
    for key in [*RULE_KEYS, "failing_after", "expire_after", "attempts", "backoff_seconds", "timeout_seconds"]:
        assert f"\n{key} = " in text, key
    for key in ("name", "type", "url_env", "url_secret", "block", "path", "mode", "max_items", "channels"):
        assert f"#   {key} " in text or f"# {key} = " in text, key


def test_the_readme_alerts_example_is_a_valid_configuration(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    [example] = [block for block in re.findall(r"```toml\n(.*?)```", readme, flags=re.S) if block.startswith("[alerts]")]
    config = load_config(write_config(tmp_path, "http://127.0.0.1:9", extra=example))
    assert [c.type for c in config.alerts.channels] == ["slack", "webhook", "prefect", "jsonl"]
    assert [rule.channels for rule in config.alerts.rules] == [("team-slack", "finops", "audit"), ("pager",)]


def test_a_late_pull_that_replays_a_catalog_alerts_only_what_is_new(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replay re-derives old changes under new event ids: they were news when first loaded, not now."""
    with Receiver() as hook:
        config = hooked_baseline(simulator, tmp_path, monkeypatch, hook)
        doubled = [model("m-a", inp=0.002), model("m-b"), model("m-c")]
        serve(simulator, {"acme-prod": doubled})
        nightly_plain(config, night(2))
        alerts.deliver_due(config)
        # a run that archived its pull of night 1 late (the same catalog), and tonight's run
        license = config.licenses[0]
        with make_http_client(config.api) as client:
            late = pull_one(config, license, "default", night(1), client)
            serve(simulator, {"acme-prod": doubled + [model("m-new")]})
            tonight = pull_one(config, license, "default", night(3), client)
        load_and_summarise(config, [late, tonight])
        alerts.deliver_due(config)
    assert event_ids(config).keys() == {"m-a/rate_changed", "m-new/added"}
    assert sent(hook) == ["▲ acme-prod/default m-a: input +100.0% (0.001 → 0.002)", "✚ acme-prod/default m-new: added (input 0.001, output 0.002)"]


RISE = "▲ acme-prod/default m-a: input +100.0% (0.001 → 0.002)"
CUT = "▼ acme-prod/default m-a: input -50.0% (0.002 → 0.001)"
DOUBLED = [model("m-a", inp=0.002), model("m-b"), model("m-c")]


def load_late(simulator: SimulatorServer, config: Config, pulls: list[tuple[datetime, list[dict]]]) -> None:
    """acme-prod/default pulled at each (instant, catalog) by runs that archived late, loaded together
    (the last one usually tonight's), then the alerts delivered."""
    with make_http_client(config.api) as client:
        records = []
        for when, models in pulls:
            serve(simulator, {"acme-prod": models})
            records.append(pull_one(config, config.licenses[0], "default", when, client))
    load_and_summarise(config, records)
    alerts.deliver_due(config)


def test_a_late_pull_showing_a_rise_undone_and_made_again_alerts_both_moves(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """m-a doubled on night 1 (alerted) and stayed so at night 3; a late pull of night 2 shows it back
    at its old rate. The replay says the rise twice and the cut once: the cut and the second rise
    are news, or the last alert would leave the old rate as the price."""
    with Receiver() as hook:
        config = hooked_baseline(simulator, tmp_path, monkeypatch, hook)
        serve(simulator, {"acme-prod": DOUBLED})
        nightly_plain(config, night(1))
        nightly_plain(config, night(3))
        alerts.deliver_due(config)
        load_late(simulator, config, [(night(2), BASE), (night(4), DOUBLED)])
    assert sent(hook) == [RISE, CUT, RISE]


def test_a_late_pull_before_an_alerted_rise_that_shows_it_earlier_and_undone_alerts_only_the_new_moves(
    simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """m-a held its rate on nights 1 and 2 and doubled on night 3 (alerted). A late pull from between
    nights 1 and 2 shows it doubled already: the rise at night 3 is the very event alerted before,
    and the rise and the cut the late pull brings are the news (not the rise at night 3 again)."""
    with Receiver() as hook:
        config = hooked_baseline(simulator, tmp_path, monkeypatch, hook)
        nightly_plain(config, night(1))
        nightly_plain(config, night(2))
        serve(simulator, {"acme-prod": DOUBLED})
        nightly_plain(config, night(3))
        alerts.deliver_due(config)
        load_late(simulator, config, [(night(1) + timedelta(hours=12), DOUBLED), (night(4), DOUBLED)])
    assert sent(hook) == [RISE, RISE, CUT]


def test_late_pulls_that_date_a_rise_earlier_and_show_it_undone_and_made_again_alert_the_new_moves_only(
    simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """m-a doubled at night 2 (alerted). Three late pulls from night 1 show it doubled already, then
    back, then doubled again: the rise said once before is said twice now, one of them (the earliest)
    the alerted one dated earlier; the cut and the other rise are news."""
    with Receiver() as hook:
        config = hooked_baseline(simulator, tmp_path, monkeypatch, hook)
        serve(simulator, {"acme-prod": DOUBLED})
        nightly_plain(config, night(2))
        alerts.deliver_due(config)
        late = [(night(1) + timedelta(hours=hours), models) for hours, models in ((0, DOUBLED), (6, BASE), (12, DOUBLED))]
        load_late(simulator, config, [*late, (night(3), DOUBLED)])
    assert sent(hook) == [RISE, CUT, RISE]


def test_a_late_live_pull_alerts_what_no_loaded_pull_had_seen(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The only loaded pull after the baseline failed (04:00); a run that started at 03:00 archives
    a pull showing m-a doubled only afterwards. The replay dates the change before the catalog's
    latest pull, yet nobody was ever told: it alerts, once."""
    with Receiver() as hook:
        config = hooked_baseline(simulator, tmp_path, monkeypatch, hook)
        doubled = [model("m-a", inp=0.002), model("m-b"), model("m-c")]
        simulator.clear_faults()  # the first matching fault wins: the baseline's catalog would
        simulator.add_fault("unavailable", count=None)
        nightly_plain(config, night(1) + timedelta(hours=1))
        simulator.clear_faults()
        serve(simulator, {"acme-prod": doubled})
        with make_http_client(config.api) as client:
            pull_one(config, config.licenses[0], "default", night(1), client)
        nightly_plain(config, night(2))
        alerts.deliver_due(config)
        nightly_plain(config, night(3))
        alerts.deliver_due(config)
    assert sent(hook) == ["▲ acme-prod/default m-a: input +100.0% (0.001 → 0.002)"]


def test_removals_a_replay_confirms_alert(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shrink held back at 04:00; a run that started at 03:00 archives its pull (nothing missing
    yet) afterwards; the next night confirms the shrink in the same load that replays the catalog.
    The removals were never news while held back: they alert."""
    with Receiver() as hook:
        config = hooked_baseline(simulator, tmp_path, monkeypatch, hook)
        serve(simulator, {"acme-prod": [model("m-a")]})
        nightly_plain(config, night(1) + timedelta(hours=1))
        serve(simulator, {"acme-prod": BASE})
        with make_http_client(config.api) as client:
            pull_one(config, config.licenses[0], "default", night(1), client)
        serve(simulator, {"acme-prod": [model("m-a")]})
        nightly_plain(config, night(2))
        alerts.deliver_due(config)
    assert [line for line in sent(hook) if "removed" in line] == [
        "✖ acme-prod/default m-b: removed (was input 0.001, output 0.002)",
        "✖ acme-prod/default m-c: removed (was input 0.001, output 0.002)",
    ], sent


def test_a_crash_after_the_load_commits_loses_no_alert(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The alerts are in the ledger log before the load commits; whoever syncs next applies them."""
    with Receiver() as hook:
        config = hooked_baseline(simulator, tmp_path, monkeypatch, hook)
        serve(simulator, {"acme-prod": [model("m-a", out=0.001), model("m-b"), model("m-c")]})

        # the one stand-in in these tests: a process cannot be killed from outside at exactly this
        # point, between the load's commit and the ledger's sync, so the sync fails in its place
        def crash(con: duckdb.DuckDBPyConnection, data_dir: Path) -> int:
            raise RuntimeError("the process died here")

        with monkeypatch.context() as patched, pytest.raises(RuntimeError):
            patched.setattr(ledger_log, "sync", crash)
            nightly_plain(config, night(1))
        assert event_ids(config).keys() == {"m-a/rate_changed"}, "the load committed"
        alerts.deliver_due(config)
    assert sent(hook) == ["▼ acme-prod/default m-a: output -50.0% (0.002 → 0.001)"]


def test_an_import_that_loads_a_crashed_runs_live_pull_enqueues_its_alerts(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Receiver() as hook:
        config = hooked_baseline(simulator, tmp_path, monkeypatch, hook)
        doubled = [model("m-a", inp=0.002), model("m-b"), model("m-c")]
        serve(simulator, {"acme-prod": doubled})
        with make_http_client(config.api) as client:
            pull_one(config, config.licenses[0], "default", night(1), client)  # archived; the run died before loading it
        saved = tmp_path / "2026-03-03T03-00-00Z.json"
        saved.write_text(json.dumps(doubled))
        import_responses(config, "acme-prod", "default", collect([saved], None, timezone.utc))
        alerts.deliver_due(config)
    assert sent(hook) == ["▲ acme-prod/default m-a: input +100.0% (0.001 → 0.002)"]


def test_a_pair_enqueued_again_keeps_its_first_enqueue_when_both_replay_at_once(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A load that wrote its alerts to the log and died before committing, then ran again, leaves the
    same (alert, channel) enqueued twice; a rebuild applies both log files in one sync and must keep
    the first, as the live ledger did (its enqueue time is what expiry counts from)."""
    monkeypatch.setenv(HOOK_ENV, down_url())
    config = make_config(tmp_path, simulator, alerts_toml("attempts = 1\n", channel("hook")))
    two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": BASE + [model("m-d")]})
    live = ledger(config)
    [entry] = ledger_log.log_files(config.data_dir)
    document = json.loads((ledger_log.log_root(config.data_dir) / entry).read_text())
    again = [ledger_log.Op.from_json(item) for item in document["ops"]]
    ledger_log.write(config.data_dir, [replace(op, at=op.at + timedelta(hours=1)) for op in again])
    rebuild_database(config)
    assert ledger(config) == live


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[[alerts.rules]]\nmodel = ["gpt-*"]\n', "alerts.rules[0].model: unknown key"),
        ('[[alerts.rules]]\nmin_pct = 1\n[[alerts.rules]]\nlicence = ["acme-*"]\n', "alerts.rules[1].licence: unknown key"),
        ('[alerts]\ncritical_event_types = ["remove"]\n', "alerts.critical_event_types: 'remove' is not one of"),
        ('[[alerts.rules]]\ncritical_event_types = ["rate_up"]\n', "alerts.rules[0].critical_event_types: 'rate_up' is not one of"),
    ],
)
def test_a_misspelt_rule_key_or_event_type_is_refused_not_ignored(tmp_path: Path, toml: str, expected: str) -> None:
    """A typo in a rule would silently widen it (no model filter) or keep removals from ever being critical."""
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, "http://127.0.0.1:9", extra=toml))
    assert str(caught.value).startswith(expected), str(caught.value)


def test_a_jsonl_path_under_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`~/...` means the home folder, as for storage.data_dir: not a folder named `~` beside qcat.toml."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = load_config(write_config(tmp_path, "http://127.0.0.1:9", extra=alerts_toml("", channel("file", "jsonl", path="~/qcat/alerts.jsonl"))))
    assert config.alerts.channels[0].path == tmp_path / "home" / "qcat" / "alerts.jsonl"


def test_a_rules_provider_filter_keeps_other_providers_out(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOOK_ENV, down_url())
    rules = '[[alerts.rules]]\nproviders = ["Anthropic"]\n'  # case ignored, as for the other filters
    config = make_config(tmp_path, simulator, alerts_toml("", channel("hook"), rules), {"acme-prod": ["default", "anthropic"]})
    for n, models in enumerate((BASE, [*BASE, model("m-d")])):
        simulator.clear_faults()
        for provider in ("default", "anthropic"):
            simulator.add_fault("override", count=None, license="acme-prod", provider=provider, models=models)
        nightly_plain(config, night(n))
    assert [row[10] for row in ledger(config)] == ["✚ acme-prod/anthropic m-d: added (input 0.001, output 0.002)"]


def test_a_channel_fed_by_two_rules_gets_the_alert_critical_if_either_makes_it_so(
    simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order of the rules must not decide: a later, milder rule cannot take a page back."""
    monkeypatch.setenv(HOOK_ENV, down_url())
    rules = (
        '[[alerts.rules]]\nevent_types = ["added"]\ncritical_event_types = ["added"]\n'
        '[[alerts.rules]]\nevent_types = ["added"]\ncritical_event_types = []\n'
    )
    config = make_config(tmp_path, simulator, alerts_toml("", channel("hook"), rules))
    two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": [*BASE, model("m-new")]})
    assert [(row[10], row[3], json.loads(row[11])["critical"]) for row in ledger(config)] == [
        ("✚ acme-prod/default m-new: added (input 0.001, output 0.002)", True, True)
    ]


def test_a_rule_without_catalog_failing_does_not_alert_a_failing_catalog(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOOK_ENV, down_url())
    config = make_config(
        tmp_path, simulator, alerts_toml('event_types = ["added"]\n', channel("hook")), {"acme-prod": ["default"], "acme-broken": ["default"]}
    )
    two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": [*BASE, model("m-d")]})
    assert [row[10] for row in ledger(config)] == ["✚ acme-prod/default m-d: added (input 0.001, output 0.002)"], "acme-broken's auth error is no event type of the rule"


def test_what_a_rename_and_a_limits_change_say(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Receiver() as hook:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        config = make_config(tmp_path, simulator, alerts_toml('event_types = ["renamed", "limits_changed"]\n', channel("hook")))
        after = [model("m-a", name="Alpha"), model("m-b", ctx=200000), model("m-c", ctx=64000, max_out=4096)]
        two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": after})
        alerts.deliver_due(config)
    [body] = hook.bodies
    assert [(a["type"], a["name"], a["line"]) for a in body["alerts"]] == [
        ("renamed", "Alpha", "✎ default m-a: renamed 'M-A' → 'Alpha'"),
        ("limits_changed", None, "↔ default m-b: context window 128000 → 200000"),
        ("limits_changed", None, "↔ default m-c: context window 128000 → 64000, max output 8192 → 4096"),
    ], "a rename names the model as it is now; a limits change lists only the limits that changed"


def test_a_slack_header_is_cut_to_slacks_150_characters(tmp_path: Path) -> None:
    """Slack refuses a message whose header text is longer, whole: a critical alert on a per_event
    channel (its summary is the header) about a long model id would never arrive."""
    from flows.alerts import sample_item
    from flows.channels import Message, slack_payload

    config = load_config(write_config(tmp_path, "http://127.0.0.1:9", extra=alerts_toml("", channel("pager", "slack", url_env=SLACK_ENV, mode="per_event"))))
    summary = f"▲ example-license/default vendor/{'x' * 200}: input +20.0% (0.001 → 0.0012)"
    payload = slack_payload(Message(config.alerts.channel("pager"), "critical", (sample_item() | {"critical": True, "summary": summary},)))
    header = payload["blocks"][0]
    assert header["type"] == "header" and len(header["text"]["text"]) == 150
    assert header["text"]["text"] == f"qcat CRITICAL: {summary}"[:150]


def test_a_webhook_answering_4xx_is_a_failed_delivery(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deleted Slack webhook answers 404: the alert was not delivered and must stay due, not be recorded as sent."""
    with Receiver(fail_first=10, status=404) as gone:
        monkeypatch.setenv(HOOK_ENV, gone.url)
        config = make_config(tmp_path, simulator, alerts_toml("attempts = 2\n", channel("hook")))
        two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": [*BASE, model("m-d")]})
        report = alerts.deliver_due(config)
    assert (report.sent, report.failed, report.errors) == (0, 1, ["alert channel 'hook': HTTP 404"])
    assert [(row[2], row[4], row[9]) for row in ledger(config)] == [("failed", 2, "HTTP 404")]


def test_retries_back_off_exponentially(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows import channels

    section = alerts_toml("attempts = 4\n", channel("hook")).replace("backoff_seconds = 0.01", "backoff_seconds = 0.5")
    config = load_config(write_config(tmp_path, "http://127.0.0.1:9", extra=section))
    slept: list[float] = []
    monkeypatch.setattr(channels.time, "sleep", slept.append)
    with Receiver(fail_first=3) as hook:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        outcome = channels.deliver(alerts.sample_message(config.alerts.channel("hook")), config.alerts)
    assert (outcome.ok, outcome.tries, outcome.error, slept) == (True, 4, "HTTP 503", [0.5, 1.0, 2.0])


def test_webhook_sent_at_is_the_sending_instant_with_its_offset(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """v1's sent_at is an ISO time with an offset: a receiver in another zone must not read it as its own local time."""
    from datetime import datetime

    with Receiver() as hook:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        config = make_config(tmp_path, simulator, alerts_toml("", channel("hook")))
        two_nights(simulator, config, {"acme-prod": BASE}, {"acme-prod": [model("m-a", inp=0.0011), model("m-b"), model("m-c")]})
        before = datetime.now(timezone.utc)
        alerts.deliver_due(config)
        after = datetime.now(timezone.utc)
    [body] = hook.bodies
    sent_at = datetime.fromisoformat(body["sent_at"])
    assert sent_at.utcoffset() == timedelta(0) and before <= sent_at <= after
