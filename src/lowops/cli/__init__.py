"""The ``lowops`` command: a thin click layer over the library.

Subcommands load lazily (only the one being run is imported), and no command
module imports pandas or scikit-learn at import time, so ``lowops --help``
and cron's first second stay fast. Errors are translated to exit codes here,
in one place.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from typing import Any

import click

from lowops import __version__

LAZY_SUBCOMMANDS = {
    "init": "lowops.cli.init:init",
    "validate": "lowops.cli.validate:validate",
    "run": "lowops.cli.run:run",
    "backfill": "lowops.cli.run:backfill",
    "extract": "lowops.cli.extract:extract",
    "train": "lowops.cli.train:train",
    "score": "lowops.cli.score:score",
    "models": "lowops.cli.models:models",
    "status": "lowops.cli.status:status",
    "verify": "lowops.cli.verify:verify",
    "drift": "lowops.cli.drift:drift",
    "retrain": "lowops.cli.retrain:retrain",
    "promote": "lowops.cli.promote:promote",
    "rollback": "lowops.cli.promote:rollback",
    "smoke": "lowops.cli.smoke:smoke",
    "approve": "lowops.cli.approve:approve",
    "reject": "lowops.cli.approve:reject",
    "report": "lowops.cli.report:report",
    "gc": "lowops.cli.gc:gc",
}


def _exit(message: str, exit_code: int) -> click.ClickException:
    """The one-line ``Error: ...`` click prints, with the exit code the error carries."""
    error = click.ClickException(message)
    error.exit_code = exit_code  # type: ignore[misc]  # click's is a class default; ours differ per error
    return error


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when used (click docs, "complex")."""

    def __init__(self, *args: Any, lazy_subcommands: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = lazy_subcommands or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy_subcommands])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands:
            module_name, attr = self.lazy_subcommands[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        from lowops import secrets
        from lowops.errors import LowopsError

        try:
            return super().invoke(ctx)
        except LowopsError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise _exit(secrets.redact(exc.message), exc.exit_code) from None
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            raise
        except BrokenPipeError:
            # `lowops status | head -1`: the reader has what it wanted; a closed pipe is not an error.
            # Point stdout at /dev/null so that the interpreter's last flush does not fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(0) from None
        except Exception as exc:  # the one place a bare Exception is caught: a bug
            if ctx.obj and ctx.obj.get("debug"):
                raise
            where = ""
            tb = exc.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            if tb is not None:
                where = f" at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
            message = secrets.redact(f"{type(exc).__name__}: {exc}")
            raise _exit(f"unexpected internal error ({message}){where}. This is a bug in lowops: "
                        "rerun with --debug for the traceback and report it.", 1) from None


@click.group(cls=LazyGroup, lazy_subcommands=LAZY_SUBCOMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-C", "--project", "project", type=click.Path(file_okay=False), default=None,
              help="Project directory (default: the current directory).")
@click.option("-c", "--config", "config", type=click.Path(dir_okay=False), default=None,
              help="Config file (default: PROJECT/config/lowops.yaml).")
@click.option("--model", "model", default=None, metavar="NAME",
              help="The model, in a project with several (default: each in turn where a command can run "
                   "for all, else required).")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(__version__, prog_name="lowops")
@click.pass_context
def cli(ctx: click.Context, project: str | None, config: str | None, model: str | None, debug: bool) -> None:
    """MLOps for one Linux server, a SQL database and cron.

    lowops extracts feature marts by time window, trains and versions models,
    scores each window into CSV, logs KPIs, and keeps everything in a plain
    filesystem repository you can ls, back up and diff.

    \b
    Example:
        lowops init my-project && cd my-project
        lowops backfill --from 2025-01 --to 2025-12
        lowops models list
    """
    ctx.ensure_object(dict)
    ctx.obj.update(project=project, config=config, model=model, debug=debug)


class Terminated(SystemExit):
    """SIGTERM arrived (cron's timeout, systemd, kill): unwind so that cleanup runs."""


def _terminate(signum: int, frame: Any) -> None:
    # Raising here unwinds the stack like any exception: `finally` blocks and the
    # atomic writer remove their temp files, and the run ledger records the
    # interruption (the run resumes under its own id next time). A second
    # SIGTERM must not cut that cleanup short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated(128 + signum)


def main() -> None:
    """Console-script entry point."""
    # Files 0640, directories 0750 whatever the login's umask (002 on many systems would make
    # the registry group-writable, and models in it are then refused).
    os.umask(0o027)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli.main(prog_name="lowops")
    except Terminated:
        click.echo("Error: stopped by SIGTERM; temporary files were removed and nothing half-written is "
                   "visible. Run the same command again to resume.", err=True)
        raise



if __name__ == "__main__":  # pragma: no cover
    main()
