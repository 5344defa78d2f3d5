"""Run records, ``runs/<run-id>.json``: each stage's start, end, status and outputs.

A ledger is read (here) and written (:mod:`lowops.io.ledger`, by the commands
only) through :class:`RunRecord`. Run ids are sequential (``r000001``…), never
derived from the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lowops.errors import IntegrityError
from lowops.io import layout
from lowops.io.files import read_json

# What a run or stage can end as; "running" until then.
RUN_STATUSES = ("running", "done", "empty", "failed", "interrupted")
FINISHED = ("done", "empty")
UNFINISHED = ("running", "interrupted", "failed")


@dataclass
class StageRecord:
    """One stage of a run."""

    name: str
    status: str = "running"
    started_at: str | None = None
    ended_at: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    # CPU seconds of this process (every thread) the stage took: what it costs on a shared
    # server, which wall time between started_at and ended_at does not say.
    cpu_seconds: float | None = None

    @property
    def done(self) -> bool:
        return self.status == "done"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "started_at": self.started_at,
                "ended_at": self.ended_at, "cpu_seconds": self.cpu_seconds, "outputs": self.outputs}

    @classmethod
    def from_dict(cls, data: Any) -> StageRecord:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise ValueError("a stage needs a name")
        outputs, cpu = data.get("outputs"), data.get("cpu_seconds")
        return cls(name=data["name"], status=str(data.get("status", "running")), started_at=data.get("started_at"),
                   ended_at=data.get("ended_at"), outputs=dict(outputs) if isinstance(outputs, dict) else {},
                   cpu_seconds=float(cpu) if isinstance(cpu, (int, float)) else None)


@dataclass
class RunRecord:
    """One run of one command: what ``runs/<run-id>.json`` holds."""

    run_id: str
    command: str
    window: str | None
    status: str = "running"
    started_at: str | None = None
    ended_at: str | None = None
    pid: int | None = None
    stages: list[StageRecord] = field(default_factory=list)
    message: str | None = None
    resumed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """Done, or found its window empty."""
        return self.status in FINISHED

    def stage(self, name: str) -> StageRecord | None:
        """The latest record of stage ``name``, finished or not."""
        return next((s for s in reversed(self.stages) if s.name == name), None)

    def done(self, name: str) -> dict[str, Any] | None:
        """The outputs of stage ``name`` if this run finished it."""
        return next((s.outputs for s in reversed(self.stages) if s.name == name and s.done), None)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "run_id": self.run_id, "command": self.command, "window": self.window, "status": self.status,
            "started_at": self.started_at, "ended_at": self.ended_at, "pid": self.pid,
            "stages": [s.to_dict() for s in self.stages],
        }
        if self.message is not None:
            data["message"] = self.message
        if self.resumed:
            data["resumed"] = self.resumed
        return data

    @classmethod
    def from_dict(cls, data: Any, where: Path | str = "run ledger") -> RunRecord:
        """A record from parsed JSON.

        Raises:
            IntegrityError: ``data`` is not a run ledger.
        """
        try:
            if not isinstance(data, dict) or not isinstance(data.get("run_id"), str):
                raise ValueError("no run_id")
            window = data.get("window")
            return cls(run_id=data["run_id"], command=str(data.get("command", "")),
                       window=str(window) if window is not None else None,
                       status=str(data.get("status", "running")), started_at=data.get("started_at"),
                       ended_at=data.get("ended_at"), pid=data.get("pid"),
                       stages=[StageRecord.from_dict(s) for s in data.get("stages") or []],
                       message=data.get("message"), resumed=list(data.get("resumed") or []))
        except (ValueError, TypeError) as exc:
            raise IntegrityError(f"{where}: not a run ledger ({exc}); run `lowops verify`.") from None


def read_run(path: Path) -> RunRecord:
    """One ledger file.

    Raises:
        IntegrityError: the file is not valid JSON or not a run ledger.
    """
    return RunRecord.from_dict(read_json(path), path)


def read_runs(repo: Path) -> list[RunRecord]:
    """Every run ledger, oldest first."""
    return [read_run(path) for _, path in sorted(layout.run_files(repo))]


def ledger_files(repo: Path) -> list[Path]:
    """Every run ledger file, oldest first (for ``lowops verify``, which checks each on its own)."""
    return [path for _, path in sorted(layout.run_files(repo))]


def next_run_id(repo: Path) -> str:
    numbers = [number for number, _ in layout.run_files(repo)]
    return layout.run_name(max(numbers) + 1 if numbers else 1)
