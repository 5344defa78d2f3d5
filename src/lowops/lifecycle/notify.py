"""Tell people what happened: drift, retraining, promotion, pending approval, rejection, failure.

Each configured channel (email, webhook, command) gets the same message. A
channel that fails is retried with exponential backoff and every failure is
logged; nothing here raises, so a notification can never hide or change the
pipeline's own result.
"""

from __future__ import annotations

import time
from typing import Any

from lowops import secrets
from lowops.context import Context
from lowops.io import layout
from lowops.io import notify_channels as channels


def _attempts(ctx: Context, channel: str, send: Any) -> str:
    cfg = ctx.config.notify
    delay = cfg.backoff_seconds
    last = ""
    for attempt in range(1, cfg.retries + 1):
        try:
            send()
            return "sent"
        except channels.ChannelError as exc:
            last = secrets.redact(str(exc))
            if attempt < cfg.retries:
                ctx.log.event("notify", f"{channel}: attempt {attempt}/{cfg.retries} failed ({last}); "
                              f"retrying in {delay:g}s", level="WARN")
                time.sleep(delay)
                delay *= 2
    ctx.log.event("notify", f"{channel}: gave up after {cfg.retries} attempt(s): {last}", level="ERROR")
    return f"failed: {last}"


def notify(ctx: Context, event: str, summary: str, body: str, **fields: Any) -> dict[str, str]:
    """Send one event to every configured channel.

    Args:
        ctx: the command's context.
        event: one of ``config.NOTIFY_EVENTS``; events not listed in ``notify.events`` are not sent.
        summary: one line (the mail subject and the webhook text's first line).
        body: the plain-text details: numbers and paths to look at.
        fields: extra JSON fields for the webhook.

    Returns:
        Each channel's result: ``sent`` or ``failed: why`` (empty when nothing is configured).
    """
    cfg = ctx.config.notify
    if event not in cfg.events:
        return {}
    project = ctx.config.project
    subject = secrets.redact(f"[lowops {project}] {event}: {summary}")
    text = secrets.redact(f"{subject}\n\n{body.rstrip()}\n\nrepository: {ctx.repo}\nrun: {ctx.run_id}\n")
    results: dict[str, str] = {}
    if cfg.email is not None:
        mail = cfg.email
        results["email"] = _attempts(ctx, "email", lambda: channels.send_email(
            host=mail.host, port=mail.port, security=mail.security, username=mail.username,
            password_env=mail.password_env, sender=mail.sender, to=mail.to, subject=subject, body=text,
            timeout=cfg.timeout_seconds))
    if cfg.webhook is not None:
        payload = {"text": text, "event": event, "project": project, "summary": secrets.redact(summary),
                   "run_id": ctx.run_id, **{k: secrets.redact(str(v)) for k, v in fields.items()}}
        url = cfg.webhook.url
        results["webhook"] = _attempts(ctx, "webhook", lambda: channels.post_webhook(
            url=url, payload=payload, timeout=cfg.timeout_seconds))
    if cfg.command is not None:
        argv = cfg.command.argv
        env = {"LOWOPS_EVENT": event, "LOWOPS_SUMMARY": secrets.redact(summary), "LOWOPS_PROJECT": project,
               "LOWOPS_RUN_ID": ctx.run_id}
        results["command"] = _attempts(ctx, "command", lambda: channels.run_command(
            argv=argv, text=text, env=env, timeout=cfg.timeout_seconds))
    if results:
        ctx.log.event("notify", f"{event}: " + ", ".join(f"{k} {v}" for k, v in results.items()),
                      level="INFO" if all(v == "sent" for v in results.values()) else "WARN")
    return results


def notify_failure(ctx: Context, command: str, window: str | None, error: BaseException) -> None:
    """Tell people a pipeline command failed (never raises: the failure itself is what matters)."""
    try:
        notify(ctx, "pipeline_failed", f"lowops {command} failed" + (f" at window {window}" if window else ""),
               f"{type(error).__name__}: {error}\nExit code: {getattr(error, 'exit_code', 1)}\n"
               f"Run ledger: {layout.run_file(ctx.repo, ctx.run_id)}\n"
               f"Log: {layout.event_log(ctx.repo)}", window=window or "-")
    except Exception as exc:  # noqa: BLE001 - a notification must never mask the pipeline's own error
        ctx.log.event("notify", f"could not notify the failure: {type(exc).__name__}: {exc}", level="WARN")
