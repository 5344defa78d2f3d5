"""logs/metrics.log: a run never logs a metric line twice, however the file grew or was restored."""

from __future__ import annotations

from pathlib import Path

from lowops.io import layout
from lowops.io.files import append_line
from lowops.io.logs import log_metric


def _log(repo: Path, metric: str, run: str = "r000001", value: float = 0.5) -> None:
    log_metric(repo, window="2025-03", model="churn", version="v0001", metric=metric, value=value, rows=10,
               run_id=run)


def _metrics(repo: Path) -> list[str]:
    return [line.split()[4] + "@" + line.split()[7] for line in layout.metrics_log(repo).read_text().splitlines()]


def test_a_line_the_run_logged_is_not_written_again(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _log(repo, "roc_auc")
    _log(repo, "f1")
    _log(repo, "roc_auc", value=0.9)  # a resumed stage repeating itself
    _log(repo, "roc_auc", run="r000002")  # another run logs its own
    assert _metrics(repo) == ["roc_auc@r000001", "f1@r000001", "roc_auc@r000002"]


def test_lines_appended_by_another_process_count(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _log(repo, "roc_auc")
    # The run's earlier attempt, in another process, logged pr_auc after this one last looked.
    append_line(layout.metrics_log(repo), "2026-12-03T08:00:00Z 2025-03 churn v0001 pr_auc 0.300000 10 r000001")
    _log(repo, "pr_auc")
    assert _metrics(repo) == ["roc_auc@r000001", "pr_auc@r000001"]


def test_a_restored_shorter_log_is_read_again(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _log(repo, "roc_auc")
    _log(repo, "f1")
    path = layout.metrics_log(repo)
    first = path.read_text().splitlines()[0]
    restored = path.with_name("restored")
    restored.write_text(first + "\n")
    restored.replace(path)  # a backup from before f1 was logged
    _log(repo, "f1")
    _log(repo, "roc_auc")
    assert _metrics(repo) == ["roc_auc@r000001", "f1@r000001"]
