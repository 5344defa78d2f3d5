"""The wire side of notifications: one function per channel, each raising ``ChannelError``.

Email goes over SMTP (plain, STARTTLS or SSL, optional login), a webhook is a
JSON POST whose ``text`` field chat tools display, and a command receives the
message on stdin. Retries, backoff and logging live in ``stages/notify.py``.
"""

from __future__ import annotations

import base64
import json
import os
import smtplib
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage
from typing import Any

from lowops import secrets


class ChannelError(Exception):
    """One delivery attempt failed (internal: the notifier logs it and retries)."""


def smtp_password(env_name: str | None) -> str | None:
    """The SMTP password from the environment, registered so that it is masked everywhere."""
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if value is None:
        raise ChannelError(f"the environment variable {env_name} (notify.email.password_env) is not set")
    secrets.register(value)
    return value


def send_email(*, host: str, port: int, security: str, username: str | None, password_env: str | None,
               sender: str, to: tuple[str, ...], subject: str, body: str, timeout: float) -> None:
    """Send one plain-text mail.

    Raises:
        ChannelError: the server refused or could not be reached.
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message.set_content(body)
    password = smtp_password(password_env)
    try:
        client: smtplib.SMTP
        if security == "ssl":
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if username:
                client.login(username, password or "")
            client.send_message(message)
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise ChannelError(secrets.redact(f"SMTP {host}:{port}: {type(exc).__name__}: {exc}")) from None


def post_webhook(*, url: str, payload: dict[str, Any], timeout: float) -> int:
    """POST ``payload`` as JSON; return the HTTP status.

    Raises:
        ChannelError: no answer, or a status outside 2xx.
    """
    data = json.dumps(payload).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "lowops-notify"}
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None:
        # urllib does not send a URL's user:password@; it goes as HTTP Basic authentication.
        user, password = urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
        secrets.register(password)
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only (config)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise ChannelError(f"webhook {_origin(url)}: HTTP {exc.code} {exc.reason}") from None
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ChannelError(f"webhook {_origin(url)}: {secrets.redact(str(reason))}") from None


def _origin(url: str) -> str:
    """Scheme, host and port of a webhook URL: its path and query are often the credential itself."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}/…"


def run_command(*, argv: tuple[str, ...], text: str, env: dict[str, str], timeout: float) -> None:
    """Run a local command with the message on stdin.

    Raises:
        ChannelError: it could not start, timed out or exited non-zero.
    """
    try:
        done = subprocess.run(list(argv), input=text, text=True, capture_output=True, timeout=timeout,
                              env={**os.environ, **env}, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ChannelError(f"command {argv[0]}: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        raise ChannelError(f"command {argv[0]} exited {done.returncode}: {secrets.redact(tail[0])}")
