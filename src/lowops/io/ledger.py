"""The ledger of the run in progress, ``runs/<run-id>.json``, written by the commands only.

The file is rewritten whole (atomically) after every stage, so a run killed at
any moment leaves a ledger that names the stages it finished; the next run of
that window resumes under the same id.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lowops import secrets
from lowops.io import layout
from lowops.io.files import write_json
from lowops.io.logs import utc_now
from lowops.io.runs import RUN_STATUSES, RunRecord, StageRecord, next_run_id

__all__ = ["Ledger"]


class Ledger:
    """The ledger of the run in progress: every change is saved at once."""

    def __init__(self, repo: Path, record: RunRecord) -> None:
        self.repo = repo
        self.record = record
        self.path = layout.run_file(repo, record.run_id)
        self._cpu_at_start: dict[str, float] = {}
        # Told of each stage as it starts (rows None) and ends (the rows it handled, if it says).
        self.watch: Callable[[str, int | None], None] | None = None

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @classmethod
    def start(cls, repo: Path, command: str, window: str | None) -> Ledger:
        record = RunRecord(run_id=next_run_id(repo), command=command, window=window, started_at=utc_now(),
                           pid=os.getpid())
        ledger = cls(repo, record)
        ledger.save()
        return ledger

    @classmethod
    def resume(cls, repo: Path, record: RunRecord) -> Ledger:
        """Continue an interrupted run under its own id; stages it never finished are dropped and run again."""
        resumed = RunRecord.from_dict(record.to_dict())
        resumed.status = "running"
        # The earlier attempt's error moves to its resume entry: this attempt has not failed.
        resumed.resumed.append({"at": utc_now(), "pid": os.getpid(),
                                **({"after": resumed.message} if resumed.message else {})})
        resumed.message = None
        resumed.stages = [s for s in resumed.stages if s.done]
        ledger = cls(repo, resumed)
        ledger.save()
        return ledger

    def save(self) -> None:
        write_json(self.path, self.record.to_dict(), overwrite=True)

    def stage_start(self, name: str) -> None:
        self.record.stages.append(StageRecord(name=name, started_at=utc_now()))
        self._cpu_at_start[name] = time.process_time()
        self.save()
        if self.watch is not None:
            self.watch(name, None)

    def stage_end(self, name: str, status: str = "done", **outputs: Any) -> None:
        stage = self.record.stage(name)
        assert stage is not None, f"stage {name} never started"
        stage.status, stage.ended_at = status, utc_now()
        if name in self._cpu_at_start:
            stage.cpu_seconds = round(time.process_time() - self._cpu_at_start.pop(name), 3)
        stage.outputs.update(outputs)
        self.save()
        rows = outputs.get("rows")
        if self.watch is not None and isinstance(rows, int):
            self.watch(name, rows)

    def done(self, name: str) -> dict[str, Any] | None:
        """The outputs of stage ``name`` if this run finished it (before an interruption, say)."""
        return self.record.done(name)

    def finish(self, status: str, message: str | None = None) -> None:
        assert status in RUN_STATUSES, status
        self.record.status, self.record.ended_at = status, utc_now()
        if message:
            self.record.message = secrets.redact(message)
        self.save()
