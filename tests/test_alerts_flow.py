"""Alerts through the real Prefect flow (send-alerts task, a Prefect notification block) and the `qcat alerts` CLI."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from flows.config import load_config
from flows.simulator import SimulatorServer
from tests.alert_support import BASE, HOOK_ENV, Receiver, alerts_toml, channel, down_url, ledger, serve
from tests.conftest import model, night, nightly_plain, qcat_watching_imports, write_config
from tests.test_cli import qcat

pytestmark = pytest.mark.usefixtures("prefect_harness")


def prefect_database() -> bytes:
    """The Prefect database's files, once the run logs still queued in this process are stored."""
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    APILogWorker.drain_all(timeout=30)

    path = Path(str(PREFECT_SERVER_DATABASE_CONNECTION_URL.value()).split(":///", 1)[1])
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_the_nightly_flow_sends_alerts_once_through_every_kind_of_channel(
    simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    from flows.nightly import nightly

    with Receiver() as hook, Receiver() as notified:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        CustomWebhookNotificationBlock(name="qcat-test", url=notified.url, json_data={"subject": "{{subject}}", "body": "{{body}}"}).save(
            "qcat-test-alerts", overwrite=True
        )
        tables = (channel("hook"), channel("ops", "prefect", block="custom-webhook/qcat-test-alerts"), channel("file", "jsonl", path="alerts.jsonl"))
        path = write_config(tmp_path, simulator.base_url, extra=alerts_toml("", *tables))
        serve(simulator, {"acme-prod": BASE})
        assert nightly(config_path=str(path), observed_at=night(0), return_state=True).is_completed()
        serve(simulator, {"acme-prod": [model("m-a", inp=0.0012), model("m-b"), model("m-c"), model("m-d")]})
        assert nightly(config_path=str(path), observed_at=night(1), return_state=True).is_completed()
        # a duplicated run (a retry, or a burst after downtime) sees identical content
        assert nightly(config_path=str(path), observed_at=night(1) + timedelta(hours=1), return_state=True).is_completed()
    assert [(body["kind"], [a["model_id"] for a in body["alerts"]]) for body in hook.bodies] == [("digest", ["m-a", "m-d"])]
    assert notified.bodies == [
        {
            "subject": "qcat: 2 catalog alerts",
            "body": "qcat: 2 catalog alerts\nacme-prod:\n  ▲ default m-a: input +20.0% (0.001 → 0.0012)\n  ✚ default m-d: added (input 0.001, output 0.002)",
        }
    ]
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 2
    config = load_config(path)
    assert sorted((row[1], row[2]) for row in ledger(config)) == [("file", "sent")] * 2 + [("hook", "sent")] * 2 + [("ops", "sent")] * 2
    logged = prefect_database()
    assert b"alerts: 6 deliveries sent" in logged, "the send-alerts task logs to Prefect"
    for secret in (hook.url, hook.url.rsplit("/", 1)[1]):
        assert secret.encode() not in logged


def test_a_ledger_that_cannot_be_written_when_alerts_are_sent_is_one_logged_line(simulator: SimulatorServer, tmp_path: Path) -> None:
    """The night's load is committed before its alerts are sent: a disk that fills up when the ledger
    records them must not turn into a crashed run with tracebacks."""
    from prefect import flow

    from flows.ledger import log_root
    from flows.nightly import send_alerts

    config = load_config(write_config(tmp_path, simulator.base_url, extra=alerts_toml("", channel("file", "jsonl", path="alerts.jsonl"))))
    serve(simulator, {"acme-prod": BASE})
    nightly_plain(config, night(0))
    serve(simulator, {"acme-prod": [*BASE, model("m-d")]})
    nightly_plain(config, night(1))  # m-d's alert is enqueued, in DuckDB and in today's ledger file
    today = log_root(config.data_dir) / f"date={datetime.now(timezone.utc).date().isoformat()}"
    today.rename(tmp_path / "ledger-moved-away")
    today.write_text("a file where the ledger's folder for today goes")  # its mkdir fails, as on a full disk

    @flow(name="send-alerts-only")
    def send_only() -> object:
        return send_alerts(config)

    state = send_only(return_state=True)
    assert state.is_completed() and state.result() is None, state
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 1, "sent, though it could not be recorded"
    assert f"alerts: the alert ledger could not be written {today}".encode() in prefect_database()


def test_alerts_commands(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failing = down_url()
    monkeypatch.setenv(HOOK_ENV, failing)
    path = write_config(tmp_path, simulator.base_url, extra=alerts_toml("attempts = 1\nmin_pct = 10\n", channel("hook"), channel("file", "jsonl", path="alerts.jsonl", max_items=1)))
    config = load_config(path)
    serve(simulator, {"acme-prod": BASE})
    nightly_plain(config, night(0))
    # m-e's id holds an escape sequence that would clear the screen, and a line break before a line
    # of its own making: both shown as their escapes. In "m-d:free: added", rich would see the emoji
    # code :free:
    serve(simulator, {"acme-prod": [model("m-a", out=0.0028), model("m-b", inp=0.00101), model("m-c"), model("m-d:free"), model("m-e\x1b[2J\n  ▲ default m-a: input -90.0%")]})
    nightly_plain(config, night(1))
    from flows.alerts import deliver_due

    deliver_due(config)  # jsonl sent, webhook failed
    outputs = []

    with Receiver() as hook:
        preview = qcat("alerts", "preview", "--config", str(path), cwd=tmp_path, env={HOOK_ENV: hook.url})
        outputs.append(preview.stdout + preview.stderr)
        assert preview.returncode == 0, preview.stderr
        assert preview.stdout.splitlines() == [
            "The last run has 3 alerts passing the rules.",
            "--- hook (webhook, digest) ---",
            "qcat: 3 catalog alerts",
            "acme-prod:",
            "  ▲ default m-a: output +40.0% (0.002 → 0.0028)",
            "  ✚ default m-d:free: added (input 0.001, output 0.002)",
            "  ✚ default m-e\\x1b[2J\\x0a  ▲ default m-a: input -90.0%: added (input 0.001, output 0.002)",
            "--- file (jsonl, digest) ---",
            "qcat: 3 catalog alerts",
            "acme-prod:",
            "  ▲ default m-a: output +40.0% (0.002 → 0.0028)",
            "... and 2 more",
        ]
        assert hook.requests == 0

        listed = qcat("alerts", "--config", str(path), cwd=tmp_path)
        outputs.append(listed.stdout + listed.stderr)
        assert listed.returncode == 0, listed.stderr
        rows = [line for line in listed.stdout.splitlines() if "acme-prod" in line]
        assert sorted((line.split()[0], line.split()[1]) for line in rows) == [("failed", "hook")] * 3 + [("sent", "file")] * 3
        assert all(line.endswith("ConnectError") for line in rows if " hook " in line)
        assert "m-e\\x1b[2J\\x0a" in listed.stdout and "\x1b" not in listed.stdout
        only_sent = qcat("alerts", "--state", "sent", "--config", str(path), cwd=tmp_path)
        assert only_sent.stdout.count("acme-prod") == 3 and "failed" not in only_sent.stdout
        as_json = json.loads(qcat("alerts", "--format", "json", "--config", str(path), cwd=tmp_path).stdout)
        assert sorted((row["state"], row["channel"], row["alert_type"], row["model_id"][:3]) for row in as_json) == [
            ("failed", "hook", "added", "m-d"), ("failed", "hook", "added", "m-e"), ("failed", "hook", "rate_changed", "m-a"),
            ("sent", "file", "added", "m-d"), ("sent", "file", "added", "m-e"), ("sent", "file", "rate_changed", "m-a"),
        ], as_json
        assert [row["summary"] for row in as_json if "m-e" in row["summary"]][0].count("\x1b") == 1, "JSON keeps the text as it is"
        later = qcat("alerts", "--since", "2099-01-01", "--config", str(path), cwd=tmp_path)
        assert later.stdout.splitlines()[0] == "Alert deliveries enqueued since 2099-01-01 00:00 UTC" and "(0 rows;" in later.stdout
        bogus = qcat("alerts", "--state", "lost", "--config", str(path), cwd=tmp_path)
        assert (bogus.returncode, bogus.stderr) == (2, "qcat: error: --state: 'lost' is not one of pending, sent, failed, expired\n")
        misplaced = qcat("alerts", "--format", "table", "preview", "--config", str(path), cwd=tmp_path)
        assert (misplaced.returncode, misplaced.stdout) == (2, ""), "an option of the listing given to a subcommand is refused, not ignored"
        assert "--state, --since, --format and --tz belong to `qcat alerts` alone" in misplaced.stderr

        before = ledger(config)
        tested = qcat("alerts", "test", "--channel", "hook", "--config", str(path), cwd=tmp_path, env={HOOK_ENV: hook.url})
        outputs.append(tested.stdout + tested.stderr)
        assert tested.returncode == 0, tested.stderr
        assert "Sent a test message to alert channel 'hook' (webhook)." in tested.stdout
        [body] = hook.bodies
        assert (body["schema"], body["kind"], body["alerts"][0]["license"]) == ("qcat.alerts/v1", "test", "example-license")
        assert ledger(config) == before, "a test message is not an alert delivery"

    down = qcat("alerts", "test", "--channel", "hook", "--config", str(path), cwd=tmp_path)
    outputs.append(down.stdout + down.stderr)
    assert down.returncode == 1
    assert down.stderr.strip() == "qcat: error: alert channel 'hook' (webhook): ConnectError"
    unknown = qcat("alerts", "test", "--channel", "pager", "--config", str(path), cwd=tmp_path)
    assert unknown.returncode == 2 and "no channel named 'pager' (hook, file)" in unknown.stderr
    missing = qcat("alerts", "test", "--channel", "hook", "--config", str(path), cwd=tmp_path, env={HOOK_ENV: ""})
    assert missing.returncode == 1 and f"environment variable {HOOK_ENV} is not set or empty" in missing.stderr
    for output in outputs:
        assert "Traceback" not in output
        for secret in (hook.url, failing, hook.url.rsplit("/", 1)[1]):
            assert secret not in output


def test_alerts_list_and_preview_do_not_import_prefect(simulator: SimulatorServer, tmp_path: Path) -> None:
    path = write_config(tmp_path, simulator.base_url, extra=alerts_toml("", channel("file", "jsonl", path="a.jsonl")))
    nightly_plain(load_config(path), night(0))
    for args in (["alerts"], ["alerts", "preview"], ["alerts", "test", "--channel", "file"]):
        result = qcat_watching_imports(*args, "--config", str(path))
        assert result.returncode == 0, (args, result.stderr)
        assert "prefect" not in result.heavy_imports, args


def test_preview_without_channels_says_where_the_alerts_would_go(simulator: SimulatorServer, tmp_path: Path) -> None:
    path = write_config(tmp_path, simulator.base_url)
    config = load_config(path)
    nightly_plain(config, night(0))
    quiet = qcat("alerts", "preview", "--config", str(path), cwd=tmp_path)
    assert quiet.stdout == "The last run has 0 alerts passing the rules.\nNo [[alerts.channels]] configured: nothing would be sent.\n", quiet.stdout
    simulator.add_fault("override", count=None, models=[model("m-new")])
    nightly_plain(config, night(1))
    lines = qcat("alerts", "preview", "--config", str(path), cwd=tmp_path).stdout.splitlines()
    assert lines[1] == "No [[alerts.channels]] configured: these would go nowhere.", lines
    assert len(lines) > 2 and all(line.startswith("  ") for line in lines[2:]), lines


def test_a_missing_prefect_block_fails_its_channel_without_retrying(tmp_path: Path) -> None:
    from flows.alerts import sample_message, send_test
    from flows.channels import ChannelError, deliver

    path = write_config(tmp_path, "http://127.0.0.1:9", extra=alerts_toml("attempts = 3\n", channel("ops", "prefect", block="custom-webhook/qcat-no-such-block")))
    config = load_config(path)
    ops = config.alerts.channel("ops")
    outcome = deliver(sample_message(ops), config.alerts)
    assert (outcome.ok, outcome.tries) == (False, 1)
    with pytest.raises(ChannelError, match=r"^alert channel 'ops' \(prefect\): Prefect block 'custom-webhook/qcat-no-such-block' cannot be loaded: no block of that type and name is saved$"):
        send_test(config, ops)
    # a Prefect API that fails: its error quotes the API's URL, user and password included
    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    with Receiver() as broken:
        api = broken.url.split("/hooks/")[0].replace("http://", "http://admin:s3cret@") + "/api"
        with temporary_settings(updates={PREFECT_API_URL: api, PREFECT_CLIENT_MAX_RETRIES: 0}), pytest.raises(ChannelError) as caught:
            send_test(config, ops)
    assert str(caught.value) == "alert channel 'ops' (prefect): Prefect block 'custom-webhook/qcat-no-such-block' cannot be loaded: PrefectHTTPStatusError"


def test_a_secret_block_without_a_prefect_api_fails_its_channel_only(simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Secret.load raises httpx's ConnectError: the channel fails once, the others' success is recorded."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.alerts import deliver_due

    with Receiver() as hook:
        monkeypatch.setenv(HOOK_ENV, hook.url)
        tables = (channel("hook"), channel("vault", url_secret="qcat-test-alert-hook"))
        config = load_config(write_config(tmp_path, simulator.base_url, extra=alerts_toml("attempts = 3\n", *tables)))
        serve(simulator, {"acme-prod": BASE})
        nightly_plain(config, night(0))
        serve(simulator, {"acme-prod": BASE + [model("m-d")]})
        nightly_plain(config, night(1))
        with temporary_settings(updates={PREFECT_API_URL: down_url().split("/hooks/")[0] + "/api"}):
            report = deliver_due(config)
            again = deliver_due(config)
    expected = ["alert channel 'vault': the Prefect Secret block named by url_secret cannot be loaded: ConnectError"]
    assert (report.sent, report.failed, report.errors, again.sent, again.errors) == (1, 1, expected, 0, expected)
    assert hook.requests == 1
    assert [(row[1], row[2], row[4]) for row in ledger(config)] == [("hook", "sent", 1), ("vault", "failed", 2)]


def test_a_webhook_url_from_a_prefect_secret_block(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from prefect.blocks.system import Secret

    from flows.alerts import send_test
    from flows.channels import ChannelError

    caplog.set_level(logging.DEBUG)
    with Receiver() as hook:
        Secret(value=hook.url).save("qcat-test-alert-hook", overwrite=True)
        config = load_config(write_config(tmp_path, "http://127.0.0.1:9", extra=alerts_toml("attempts = 2\n", channel("hook", url_secret="qcat-test-alert-hook"))))
        send_test(config, config.alerts.channel("hook"))
        # the block now holds a URL nothing answers: the failure names the channel, never the URL
        failing = down_url()
        Secret(value=failing).save("qcat-test-alert-hook", overwrite=True)
        with pytest.raises(ChannelError, match=r"^alert channel 'hook' \(webhook\): ") as refused:
            send_test(config, config.alerts.channel("hook"))
    [body] = hook.bodies
    assert (body["schema"], body["channel"], body["kind"]) == ("qcat.alerts/v1", "hook", "test")
    for url in (hook.url, failing):
        assert url.rsplit("/", 1)[1] not in str(refused.value) + caplog.text


def test_outcomes_sent_while_a_rebuild_holds_the_lock_are_not_sent_again(
    simulator: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver takes the writer lock before it answers, as a rebuild starting mid-send would:
    the sender cannot record the outcome in DuckDB within lock_timeout_seconds, yet it is in the
    ledger's log, so the next run finds the alert sent."""
    import contextlib
    import json as json_module
    from http.server import BaseHTTPRequestHandler

    from flows.alerts import deliver_due
    from flows.lock import writer_lock
    from tests.conftest import loopback_http

    held = contextlib.ExitStack()
    bodies: list[dict] = []
    path = write_config(tmp_path, simulator.base_url, extra=alerts_toml("", channel("hook")))
    path.write_text(path.read_text().replace("lock_timeout_seconds = 60", "lock_timeout_seconds = 1"))
    config = load_config(path)

    class LockingHook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            bodies.append(json_module.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            held.enter_context(writer_lock(config.data_dir, 0))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with loopback_http(LockingHook) as base:
        monkeypatch.setenv(HOOK_ENV, base + "/hooks/T000")
        serve(simulator, {"acme-prod": BASE})
        nightly_plain(config, night(0))
        serve(simulator, {"acme-prod": BASE + [model("m-d")]})
        nightly_plain(config, night(1))
        first = deliver_due(config)
        held.close()
        again = deliver_due(config)
    assert (first.sent, again.sent, len(bodies)) == (1, 0, 1)
    assert [(row[1], row[2]) for row in ledger(config)] == [("hook", "sent")]

