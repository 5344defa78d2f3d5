# Shared by every pipeline (source it, do not run it): strict mode, absolute
# paths from the script's own location, one flock per repository, a dated
# log file per run, and the failing command's exit code passed through.
#
# Environment (all optional; cron runs with almost none):
#   LOWOPS_VENV   virtualenv holding lowops (default: PROJECT/.venv)
#   LOWOPS_BIN    the lowops executable (default: $LOWOPS_VENV/bin/lowops, else `lowops` on PATH)
#   LOWOPS_REPO   the repository directory, if config moves it (default: PROJECT/repo)
set -euo pipefail
umask 027

PIPELINE_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
PROJECT_DIR="$(cd -- "$PIPELINE_DIR/.." && pwd -P)"
LOWOPS_VENV="${LOWOPS_VENV:-$PROJECT_DIR/.venv}"
if [[ -z "${LOWOPS_BIN:-}" ]]; then
    if [[ -x "$LOWOPS_VENV/bin/lowops" ]]; then
        LOWOPS_BIN="$LOWOPS_VENV/bin/lowops"
    else
        LOWOPS_BIN="$(command -v lowops || true)"
    fi
fi
REPO_DIR="${LOWOPS_REPO:-$PROJECT_DIR/repo}"
PIPELINE_LOG_DIR="$REPO_DIR/logs/pipelines"

# pipeline_start NAME: take the pipeline lock (or exit 75) and open the dated log.
pipeline_start() {
    PIPELINE_NAME="$1"
    if [[ -z "$LOWOPS_BIN" || ! -x "$LOWOPS_BIN" ]]; then
        echo "$PIPELINE_NAME: lowops not found; set LOWOPS_VENV or LOWOPS_BIN (see crontab.example)" >&2
        exit 78
    fi
    mkdir -p "$PIPELINE_LOG_DIR"
    # A separate file from lowops' own repository lock: the two must not collide.
    exec 9>"$REPO_DIR/.pipeline.lock"
    if ! flock -n 9; then
        echo "$PIPELINE_NAME: another pipeline holds $REPO_DIR/.pipeline.lock; stepping aside (exit 75)" >&2
        exit 75
    fi
    PIPELINE_LOG="$PIPELINE_LOG_DIR/$PIPELINE_NAME-$(date -u +%Y%m%dT%H%M%SZ)-$$.log"
    exec 8>&2  # the original stderr: cron mails what reaches it
    exec >>"$PIPELINE_LOG" 2>&1
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $PIPELINE_NAME start (project $PROJECT_DIR, pid $$)"
    trap '_pipeline_end $?' EXIT
}

_pipeline_end() {
    local code="$1"
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $PIPELINE_NAME end exit=$code"
    if [[ "$code" -ne 0 ]]; then
        echo "$PIPELINE_NAME failed with exit $code; log: $PIPELINE_LOG" >&8
        tail -n 5 "$PIPELINE_LOG" >&8 || true
    fi
    exit "$code"
}

# lowops ARGS...: run one stage in the project; its exit code ends the pipeline if non-zero.
lowops() {
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) \$ lowops $*"
    # 9>&- : children must not inherit the pipeline lock.
    "$LOWOPS_BIN" -C "$PROJECT_DIR" "$@" 9>&-
}
