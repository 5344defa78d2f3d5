#!/usr/bin/env bash
# The weekly retention: remove windows and model versions beyond the newest ones
# (lowops gc: never what is live, in a slot, pending or in a kept version's
# lineage; logs/ and audit.log are never touched), then check the repository.
# How many it keeps: retention: in config/lowops.yaml; --keep-windows N /
# --keep-versions N here override it.
# Exit code: that of the first stage that failed (see README, exit codes).
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
pipeline_start gc
lowops gc --by cron "$@"
lowops verify
