"""Notifications over a real SMTP server (aiosmtpd) and a real HTTP server, on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from conftest import copy_project, open_context, set_config
from ct_support import base_project

from lowops.lifecycle.notify import notify

CANARY = "CANARY-9f3"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                              "data": envelope.content.decode("utf-8"), "login": session.authenticated})
        return "250 OK"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"lowops" and auth_data.password == CANARY.encode()
    return AuthResult(success=ok)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture()
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=_authenticator,
                            auth_require_tls=False)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture()
def webhook() -> Iterator[tuple[list[dict[str, Any]], list[int], int]]:
    received: list[dict[str, Any]] = []
    statuses: list[int] = []  # statuses to answer with, in order; then 200

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "type": self.headers["Content-Type"], "json": json.loads(body),
                             "auth": self.headers.get("Authorization")})
            self.send_response(statuses.pop(0) if statuses else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received, statuses, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_project(base_project(tmp_path_factory), tmp_path / "project")


def test_email_with_login_and_webhook_receive_the_message(project: Path, smtp: tuple[Inbox, int],
                                                          webhook: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, port = smtp
    received, _, hook_port = webhook
    monkeypatch.setenv("SMTP_PASSWORD", CANARY)
    set_config(project, {"notify": {
        "email": {"host": "127.0.0.1", "port": port, "security": "none", "username": "lowops",
                  "password_env": "SMTP_PASSWORD", "sender": "lowops@example.com", "to": ["ml@example.com"]},
        "webhook": {"url": f"http://127.0.0.1:{hook_port}/hooks/abc"}}})
    ctx = open_context(project)
    results = notify(ctx, "promoted", "churn v0002 is live (was v0001)", "numbers\npaths", version="v0002")
    assert results == {"email": "sent", "webhook": "sent"}
    [mail] = inbox.messages
    assert mail["from"] == "lowops@example.com" and mail["to"] == ["ml@example.com"] and mail["login"] is True
    assert "Subject: [lowops churn-demo] promoted: churn v0002 is live (was v0001)" in mail["data"]
    assert "numbers\npaths" in mail["data"].replace("\r\n", "\n")
    [hook] = received
    assert hook["path"] == "/hooks/abc" and hook["type"] == "application/json"
    assert hook["json"]["text"].startswith("[lowops churn-demo] promoted: churn v0002 is live (was v0001)\n\nnumbers")
    assert (hook["json"]["event"], hook["json"]["version"]) == ("promoted", "v0002")
    assert CANARY not in (project / "repo" / "logs" / "lowops.log").read_text()


def test_failing_channel_is_retried_logged_and_never_raises(project: Path, webhook: Any) -> None:
    received, statuses, hook_port = webhook
    statuses.extend([500])
    set_config(project, {"notify": {"retries": 3, "webhook": {"url": f"http://127.0.0.1:{hook_port}/h"},
                                    "email": {"host": "127.0.0.1", "port": 1, "security": "none",
                                              "sender": "a@example.com", "to": ["b@example.com"]}}})
    ctx = open_context(project)
    results = notify(ctx, "rejected", "churn v0002 rejected", "body")
    assert results["webhook"] == "sent" and len(received) == 2
    assert results["email"].startswith("failed: SMTP 127.0.0.1:1: ConnectionRefusedError")
    log = (project / "repo" / "logs" / "lowops.log").read_text()
    assert "notify WARN webhook: attempt 1/3 failed (webhook http://127.0.0.1:" in log
    assert "HTTP 500" in log
    assert "notify ERROR email: gave up after 3 attempt(s): SMTP 127.0.0.1:1: ConnectionRefusedError" in log


def test_command_channel_and_event_filter(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    set_config(project, {"notify": {"events": ["pipeline_failed"],
                                    "command": {"argv": ["sh", "-c", f'echo "$LOWOPS_EVENT" > {out}; cat >> {out}']}}})
    ctx = open_context(project)
    assert notify(ctx, "promoted", "not sent", "x") == {}
    assert notify(ctx, "pipeline_failed", "lowops run failed", "details") == {"command": "sent"}
    assert out.read_text().startswith("pipeline_failed\n[lowops churn-demo] pipeline_failed: lowops run failed\n")


def test_missing_password_variable_fails_the_channel_not_the_caller(project: Path, smtp: tuple[Inbox, int],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _, port = smtp
    monkeypatch.delenv("NO_SUCH_PW", raising=False)
    set_config(project, {"notify": {"retries": 1, "email": {
        "host": "127.0.0.1", "port": port, "security": "none", "username": "lowops", "password_env": "NO_SUCH_PW",
        "sender": "a@example.com", "to": ["b@example.com"]}}})
    results = notify(open_context(project), "promoted", "x", "y")
    assert results == {"email": "failed: the environment variable NO_SUCH_PW (notify.email.password_env) is not set"}


def test_a_failed_run_is_notified_and_keeps_its_exit_code(project: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from lowops.cli import cli

    out = tmp_path / "failed.txt"
    set_config(project, {"notify": {"command": {"argv": ["sh", "-c", f"cat > {out}"]}}})
    (project / "demo" / "store.sqlite").unlink()
    result = CliRunner().invoke(cli, ["-C", str(project), "run", "--window", "2025-02"])
    assert result.exit_code == 69
    text = out.read_text()
    assert text.startswith("[lowops churn-demo] pipeline_failed: lowops run failed at window 2025-02\n")
    assert "Exit code: 69" in text


def test_a_webhook_with_credentials_in_its_url_authenticates(project: Path, webhook: Any) -> None:
    import base64

    received, _, hook_port = webhook
    set_config(project, {"notify": {"webhook": {"url": f"http://hooks:{CANARY}@127.0.0.1:{hook_port}/h"}}})
    ctx = open_context(project)
    assert notify(ctx, "promoted", "churn v0002 is live", "x") == {"webhook": "sent"}
    [hook] = received
    assert hook["auth"] == "Basic " + base64.b64encode(f"hooks:{CANARY}".encode()).decode()
    assert CANARY not in (project / "repo" / "logs" / "lowops.log").read_text()


def test_a_mistyped_command_is_no_pipeline_failure(project: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from lowops.cli import cli

    out = tmp_path / "mailed.txt"
    set_config(project, {"notify": {"command": {"argv": ["sh", "-c", f"cat >> {out}"]}}})
    result = CliRunner().invoke(cli, ["-C", str(project), "approve", "v0001", "--by", "alice", "--reason", "ok"])
    assert result.exit_code == 2, result.output  # v0001 is live, not pending: a usage error
    assert "is not pending approval" in result.stderr
    assert not out.exists()  # nobody is mailed "pipeline_failed" for a typo


def test_drift_is_alerted_when_no_trigger_retrains(project: Path, tmp_path: Path) -> None:
    # Alerts follow what monitoring found, not the retraining switches: with both drift triggers
    # off, the demo world's shift at 2025-09 is mailed (here: piped to a command) and nothing retrains.
    out = tmp_path / "alerts"
    out.mkdir()
    set_config(project, {"triggers": {"data_drift": False, "model_drift": False, "config_change": False},
                         "notify": {"events": ["drift", "model_drift", "prediction_drift", "retrained"],
                                    "command": {"argv": ["sh", "-c", f'cat > {out}/"$LOWOPS_EVENT"']}}})
    from ct_support import run_ok

    run_ok(project, "run", "--window", "2025-09")
    sent = sorted(p.name for p in out.iterdir())
    assert "model_drift" in sent and "retrained" not in sent, sent
    text = (out / "model_drift").read_text()
    assert text.startswith("[lowops churn-demo] model_drift: model drift at 2025-09 (churn v0001)\n"), text
    assert "no trigger retrains on it (alert only)" in text
    assert not (project / "repo" / "models" / "churn" / "v0002").exists()
    log = (project / "repo" / "logs" / "lowops.log").read_text()
    assert "no retraining trigger fired at 2025-09; v0001 stays live" in log
