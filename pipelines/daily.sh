#!/usr/bin/env bash
# The daily tick: check the project, then run the loop for every complete
# window not yet done, oldest first (catching up missed ticks).
# Exit code: that of the first stage that failed (see README, exit codes).
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
pipeline_start daily
lowops validate
lowops run "$@"
lowops report
lowops status
