#!/usr/bin/env bash
# The scheduled retrain: train on the windows ending at the latest window a run
# completed, compare with the live version and those live at T-1 and T-2 on that
# window's labelled rows, and act on the decision (blue/green switch after a smoke
# test, or pending approval with governance.promote: manual).
# `lowops run` (daily.sh) already retrains when a trigger fires; this is the
# by-the-calendar retrain on top. Pass --window W to choose the hold-out window.
# Exit code: that of the first stage that failed (see README, exit codes).
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
pipeline_start retrain
lowops validate
lowops retrain --by cron "$@"
lowops status
