"""RELIABILITY.md I5 and (c) 5: a canary password appears in no file, stream, metric or exception.

Two projects carry the canary ``CANARY-9f3``:

* the database URL comes from the environment (``LOWOPS_DB_URL``) and points at the
  PostgreSQL server on 127.0.0.1:5432 as the role ``lowops_canary`` with the canary as
  password (the role does not exist, so every database access is a failure path);
* a SQLite project whose notifications carry it in ``${VAR}``s: the SMTP password
  (``password_env``, refused by the server) and a token in the webhook URL (nobody listens).

Every command runs, with and without ``--debug``, in-process and through the installed
script; then every byte under each project and every stdout, stderr and exception is
searched for the canary.
"""

from __future__ import annotations

import socket
import subprocess
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from conftest import PATIENCE, copy_project, invoke, set_config
from db_support import scratch
from reliability_support import child_env, fast_ran, fast_template, lowops_cmd

CANARY = "CANARY-9f3"
PG_URL = f"postgresql+psycopg://lowops_canary:{CANARY}@127.0.0.1:5432/test"

# Every command, in an order where each has something to act on (train before promote,
# promote before rollback). A command not listed here runs with no arguments, so a new
# command is covered too.
CALLS: list[tuple[str, ...]] = [
    ("validate",), ("extract", "--window", "2025-04"), ("run", "--window", "2025-04"), ("run",),
    ("backfill", "--from", "2025-04", "--to", "2025-04"), ("score", "--window", "2025-04"),
    ("score", "--window", "2025-03"), ("drift", "--window", "2025-03"), ("train", "--window", "2025-03"),
    ("models", "list"), ("models", "show", "v0001"), ("models", "diff", "v0001", "v0002"),
    ("smoke",), ("smoke", "v0002"), ("promote", "v0002", "--force", "--reason", "canary check"),
    ("promote", "v0002"), ("rollback",), ("retrain", "--window", "2025-03"),
    ("approve", "v0002", "--by", "tester", "--reason", "canary check"),
    ("reject", "v0002", "--by", "tester", "--reason", "canary check"),
    ("status",), ("status", "--json"), ("report",), ("verify",), ("verify", "--repair"),
]


def _commands() -> list[tuple[str, ...]]:
    from lowops.cli import LAZY_SUBCOMMANDS

    listed = {call[0] for call in CALLS}
    return CALLS + [(name,) for name in sorted(LAZY_SUBCOMMANDS) if name not in listed and name != "init"]


def _texts(result: Result) -> list[str]:
    texts = [result.stdout, result.stderr, repr(result.exception)]
    if result.exc_info is not None and result.exc_info[1] is not None:
        texts.append("".join(traceback.format_exception(*result.exc_info)))
    return texts


def _files_with_canary(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and CANARY.encode() in p.read_bytes()]


def _run_everything(project: Path, env: dict[str, str]) -> dict[str, int]:
    """Every command, plain and with --debug; returns the exit codes seen (and asserts no canary)."""
    codes = {}
    for call in _commands():
        result = invoke(project, *call, env=env)
        codes[" ".join(call)] = result.exit_code
        for text in _texts(result):
            assert CANARY not in text, (call, text)
        if result.exit_code != 0:  # --debug changes only how a failure is shown: its traceback
            result = invoke(project, "--debug", *call, env=env)
            codes[" ".join(["--debug", *call])] = result.exit_code
            for text in _texts(result):
                assert CANARY not in text, (call, text)
    return codes


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture()
def smtp_refusing() -> Iterator[int]:
    """An SMTP server on 127.0.0.1 that refuses every login."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    port = _free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port, auth_require_tls=False,
                            authenticator=lambda *args: AuthResult(success=False))
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def test_canary_in_the_database_url_from_the_environment(tmp_path_factory: pytest.TempPathFactory,
                                                         tmp_path: Path) -> None:
    project = copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")
    env = {"LOWOPS_DB_URL": PG_URL}
    codes = _run_everything(project, env)
    assert codes["validate"] == 69 and codes["run --window 2025-04"] == 69 and codes["extract --window 2025-04"] == 69
    # What the database said reaches the user, with the URL masked.
    result = invoke(project, "validate", env=env)
    assert ("Error: Database postgresql+psycopg://lowops_canary:***@127.0.0.1:5432/test failed to answer: "
            in result.stderr) and 'role "lowops_canary" does not exist' in result.stderr
    # init with the same URL as the demo store's target fails the same way.
    created = invoke(None, "init", str(tmp_path / "new"), "--customers", "100", "--demo-url", PG_URL)
    assert created.exit_code != 0
    for text in _texts(created):
        assert CANARY not in text
    assert _files_with_canary(project) == []
    assert _files_with_canary(tmp_path) == []


def test_canary_in_the_url_query_string_of_a_working_database(tmp_path_factory: pytest.TempPathFactory,
                                                               tmp_path: Path) -> None:
    # libpq takes the password from the query string too. PostgreSQL here trusts 127.0.0.1, so the
    # canary is accepted and every command does its real work: snapshots, manifests, ledgers, logs.
    with scratch("postgresql") as url:
        canary_url = f"{url}&password={CANARY}"
        # the fast project (a linear model, no CV): each command that trains or scores takes a fraction of a second
        project = copy_project(fast_template(tmp_path_factory), tmp_path / "churn")
        loaded = invoke(project, "init", "--demo-only", "--customers", "300", "--demo-url", canary_url)
        assert loaded.exit_code == 0, loaded.output
        for text in _texts(loaded):
            assert CANARY not in text
        assert "password=***" in loaded.stdout
        env = {"LOWOPS_DB_URL": canary_url}
        trained = invoke(project, "backfill", "--from", "2025-01", "--to", "2025-03", env=env)
        assert trained.exit_code == 0, trained.output
        codes = _run_everything(project, env)
        assert codes["validate"] == 0 and codes["extract --window 2025-04"] == 0
        manifests = list((project / "repo" / "data").rglob("manifest.json"))
        assert len(manifests) >= 8  # features and labels of four windows: each names its database
        assert all("password=***" in p.read_text() for p in manifests)
        assert _files_with_canary(project) == []
        assert _files_with_canary(tmp_path) == []


def test_canary_through_the_installed_script_with_debug(tmp_path_factory: pytest.TempPathFactory,
                                                        tmp_path: Path) -> None:
    project = copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")
    for args in (["--debug", "run", "--window", "2025-04"], ["validate"], ["--debug", "validate"]):
        done = subprocess.run(lowops_cmd(project, *args), capture_output=True, text=True, timeout=PATIENCE,
                              env=child_env(LOWOPS_DB_URL=PG_URL), check=False)
        assert done.returncode in (1, 69), done.stderr
        assert CANARY not in done.stdout and CANARY not in done.stderr, done.stderr
        if "--debug" in args:
            assert "Traceback" in done.stderr
    assert _files_with_canary(project) == []


def test_canary_in_notification_credentials(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
                                            smtp_refusing: int) -> None:
    project = copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")
    set_config(project, {"notify": {
        "timeout_seconds": 0.5,  # the refusing server stalls after a failed login
        "email": {"host": "127.0.0.1", "port": smtp_refusing, "security": "none", "username": "lowops",
                  "password_env": "SMTP_PASSWORD", "sender": "lowops@example.com", "to": ["team@example.com"]},
        "webhook": {"url": f"http://127.0.0.1:{_free_port()}/hooks/${{HOOK_TOKEN}}?token=${{HOOK_TOKEN}}"}}})
    env = {"SMTP_PASSWORD": CANARY, "HOOK_TOKEN": CANARY}
    # A failed run notifies (pipeline_failed); so do train → promote → rollback.
    usage = project / "sql" / "usage.sql"
    original = usage.read_text()
    usage.write_text(original.replace("    sms_count,\n", ""))
    failed = invoke(project, "run", "--window", "2025-04", env=env)
    assert failed.exit_code == 65
    for text in _texts(failed):
        assert CANARY not in text
    usage.write_text(original)
    codes = _run_everything(project, env)
    assert codes["promote v0002 --force --reason canary check"] == 0
    log = (project / "repo" / "logs" / "lowops.log").read_text()
    assert "notify ERROR email: gave up after 1 attempt(s): SMTP 127.0.0.1:" in log
    assert "notify ERROR webhook: gave up after 1 attempt(s): webhook http://127.0.0.1:" in log
    assert _files_with_canary(project) == []
    # A config error quoting the expanded section must not print it either.
    set_config(project, {"notify": {"webhook": {"url": "ftp://127.0.0.1/${HOOK_TOKEN}"}}})
    result = invoke(project, "status", env=env)
    assert result.exit_code == 78
    assert "notify.webhook.url" in result.stderr
    for text in _texts(result):
        assert CANARY not in text
