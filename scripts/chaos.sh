#!/usr/bin/env bash
# Chaos rounds against a demo project: what a power cut, the OOM killer or two overlapping
# cron ticks do to lowops, round after round (issue 5). The pytest suite runs a few rounds
# of each; this runs the full counts.
#
#   bash scripts/chaos.sh [MODE] [options]
#
# Modes (default: kill):
#   kill         ROUNDS x: start `lowops backfill`, SIGKILL it at a random moment, then
#                `lowops verify` (only removable leftovers allowed), `verify --repair`,
#                `verify`, the backfill again, `verify`; the predictions, metric lines and
#                live version must equal an uninterrupted backfill's.
#   ticks        ROUNDS x: two `lowops run --window TO` started together on a project that
#                has FROM..TO-1 done: one works, the other exits 75 naming the holder, and
#                the outputs equal a single run's.
#   checkpoints  every hit of every LOWOPS_FAULT checkpoint (before:*, after:*, write:*,
#                stage:*) of the backfill, each followed by the same recovery and comparison.
#   switch       SWITCHES x `lowops rollback` (each a blue/green pointer switch) while
#                `lowops smoke` loads and scores the live model in a loop: every load verifies.
#   all          kill, ticks, checkpoints and switch.
#
# Options:
#   --rounds N      rounds of kill and ticks (default 50)
#   --switches N    pointer switches in switch mode (default 1000)
#   --customers N   customers per window in the demo store (default 24000: the demo's size)
#   --from W        first window of the backfill (default 2025-01)
#   --to W          last window (default 2025-12)
#   --fast          a lighter model (40 boosting rounds, no CV) and no Sweetviz report: the same
#                   code paths, faster rounds
#   --seed N        random seed of the kill timings (default 1)
#   --work DIR      where the projects go (default: a new temporary directory, removed at the end)
#   --keep          keep the work directory
#
# Environment: LOWOPS_VENV (default: this checkout's .venv) or LOWOPS_BIN.
# Exit status: 0 when every round held every invariant, 1 otherwise (the failed rounds'
# projects are kept under the work directory and listed).
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
LOWOPS_VENV="${LOWOPS_VENV:-$ROOT/.venv}"
LOWOPS_BIN="${LOWOPS_BIN:-$LOWOPS_VENV/bin/lowops}"
[[ -x "$LOWOPS_BIN" ]] || { echo "chaos: lowops not found at $LOWOPS_BIN; set LOWOPS_VENV or LOWOPS_BIN" >&2; exit 78; }

MODE=kill ROUNDS=50 SWITCHES=1000 CUSTOMERS=24000 FROM=2025-01 TO=2025-12 FAST=0 SEED=1 WORK="" KEEP=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        kill|ticks|checkpoints|switch|all) MODE="$1" ;;
        --rounds) ROUNDS="$2"; shift ;;
        --switches) SWITCHES="$2"; shift ;;
        --customers) CUSTOMERS="$2"; shift ;;
        --from) FROM="$2"; shift ;;
        --to) TO="$2"; shift ;;
        --fast) FAST=1 ;;
        --seed) SEED="$2"; shift ;;
        --work) WORK="$2"; shift ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "chaos: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [[ -z "$WORK" ]]; then
    WORK="$(mktemp -d -t lowops-chaos.XXXXXX)"
    [[ "$KEEP" -eq 1 ]] || trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK"
RANDOM="$SEED"
FAILED=()
unset LOWOPS_FAULT LOWOPS_FAULT_SIGNAL LOWOPS_LOCK_WAIT

lowops() { "$LOWOPS_BIN" "$@"; }
log() { printf '%s chaos: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
now_ms() { date +%s%3N; }
fail() { FAILED+=("$1: $2"); log "FAILED $1: $2"; }

# ---------------------------------------------------------------------------- the projects

template() {  # a fresh demo project without a repository, once
    local dir="$WORK/template"
    if [[ ! -d "$dir" ]]; then
        log "building the demo store ($CUSTOMERS customers a window) in $dir"
        lowops init "$dir" --customers "$CUSTOMERS" >/dev/null
        if [[ "$FAST" -eq 1 ]]; then
            sed -i -e 's/^\(      max_iter:\) 150/\1 40/' -e 's/^\(  cv_folds:\) 3/\1 0/' \
                -e '/^  sweetviz:/,/enabled:/ s/enabled: true/enabled: false/' "$dir/config/lowops.yaml"
        fi
    fi
    echo "$dir"
}

copy() { rm -rf "$2"; cp -a "$1" "$2"; }

# What must not depend on interruptions: one predictions file per window (without its run id
# and time columns), the metric lines (without time and run id; none twice), the live and idle
# versions. Prints a fingerprint, or fails.
fingerprint() {
    local project="$1" repo="$1/repo" window columns files
    {
        for window in "$repo"/outputs/*/; do
            files=("$window"predictions-*.csv)
            [[ ${#files[@]} -eq 1 && -f "${files[0]}" ]] || { echo "NOT ONE PREDICTIONS FILE in $window: ${files[*]}"; continue; }
            columns="$(head -1 "${files[0]}" | tr ',' '\n' | wc -l)"
            echo "== $(basename "$window")"
            cut -d, -f"1-$((columns - 2))" "${files[0]}" | sort
        done
        echo "== metrics"
        cut -d' ' -f2-7 "$repo/logs/metrics.log" | sort
        echo "== duplicated metric lines"
        cut -d' ' -f2-7 "$repo/logs/metrics.log" | sort | uniq -d
        echo "== deploy"
        lowops -C "$project" status --json | tr -d ' \n' | grep -o '"\(idle\|live\)":{[^}]*}' | sed 's/"since":"[^"]*",//'
    } | sha256sum | cut -d' ' -f1
}

lock_free() { [[ ! -e "$1/repo/.lock" ]] || flock -n "$1/repo/.lock" true; }

# verify: clean, or nothing but leftovers --repair removes; then repaired, verify is clean.
recover() {
    local project="$1" out
    if ! out="$(lowops -C "$project" verify 2>&1)"; then
        if grep -v -e '(removable with --repair)$' -e '(repairable with --repair)$' -e '^Error: [0-9]* integrity finding' \
                <<<"$out" | grep -q .; then
            echo "verify found more than leftovers: $out"
            return 1
        fi
        lowops -C "$project" verify --repair >/dev/null 2>&1 || { echo "verify --repair failed"; return 1; }
    fi
    lowops -C "$project" verify >/dev/null 2>&1 || { echo "verify not clean after --repair"; return 1; }
}

# ---------------------------------------------------------------------------- kill

mode_kill() {
    local base reference ref_print start duration round project delay pid code killed=0 finished=0
    base="$(template)"
    reference="$WORK/reference"
    if [[ ! -f "$reference/.done" ]]; then
        copy "$base" "$reference"
        log "reference: lowops backfill --from $FROM --to $TO, uninterrupted"
        start="$(now_ms)"
        lowops -C "$reference" backfill --from "$FROM" --to "$TO" >/dev/null
        echo $(( $(now_ms) - start )) >"$reference/.done"
    fi
    duration="$(cat "$reference/.done")"
    ref_print="$(fingerprint "$reference")"
    log "kill: $ROUNDS rounds, SIGKILL at a random moment of a backfill that takes ${duration} ms"
    for round in $(seq 1 "$ROUNDS"); do
        project="$WORK/kill-$round"
        copy "$base" "$project"
        delay=$(( (RANDOM * 32768 + RANDOM) % (duration + 1) ))
        # The executable itself, not the lowops() function: $! must be the process we kill.
        "$LOWOPS_BIN" -C "$project" backfill --from "$FROM" --to "$TO" >"$project.out" 2>&1 &
        pid=$!
        sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
        kill -9 "$pid" 2>/dev/null || true
        code=0; wait "$pid" || code=$?
        if [[ "$code" -eq 137 ]]; then killed=$((killed + 1)); else finished=$((finished + 1)); fi
        if ! lock_free "$project"; then fail "kill-$round" "the lock is still held after SIGKILL"; continue; fi
        if ! why="$(recover "$project")"; then fail "kill-$round" "$why"; continue; fi
        if ! lowops -C "$project" backfill --from "$FROM" --to "$TO" >>"$project.out" 2>&1; then
            fail "kill-$round" "the resumed backfill failed (see $project.out)"; continue
        fi
        if ! lowops -C "$project" verify >/dev/null 2>&1; then fail "kill-$round" "verify after the resume"; continue; fi
        if [[ "$(fingerprint "$project")" != "$ref_print" ]]; then
            fail "kill-$round" "outputs differ from the uninterrupted backfill"; continue
        fi
        log "kill round $round/$ROUNDS: SIGKILL after ${delay} ms (exit $code), verify + repair + resume: same outputs"
        rm -rf "$project" "$project.out"
    done
    log "kill: $killed rounds killed mid-run, $finished finished before the signal"
}

# ---------------------------------------------------------------------------- ticks

mode_ticks() {
    local base before single single_print round project a b ca cb serial=0
    base="$(template)"
    before="$(date -u -d "$TO-01 -1 month" +%Y-%m)"
    single="$WORK/ticks-single"
    if [[ ! -f "$WORK/ticks-base/.done" ]]; then
        copy "$base" "$WORK/ticks-base"
        log "ticks: base project with $FROM..$before done"
        lowops -C "$WORK/ticks-base" backfill --from "$FROM" --to "$before" >/dev/null
        touch "$WORK/ticks-base/.done"
    fi
    copy "$WORK/ticks-base" "$single"
    lowops -C "$single" run --window "$TO" >/dev/null
    single_print="$(fingerprint "$single")"
    log "ticks: $ROUNDS rounds of two \`lowops run --window $TO\` started together"
    for round in $(seq 1 "$ROUNDS"); do
        project="$WORK/ticks-$round"
        copy "$WORK/ticks-base" "$project"
        "$LOWOPS_BIN" -C "$project" run --window "$TO" >"$project.a" 2>&1 & a=$!
        "$LOWOPS_BIN" -C "$project" run --window "$TO" >"$project.b" 2>&1 & b=$!
        ca=0; wait "$a" || ca=$?
        cb=0; wait "$b" || cb=$?
        if [[ "$ca:$cb" == "0:75" || "$ca:$cb" == "75:0" ]]; then
            loser="$project.b"; [[ "$ca" -eq 75 ]] && loser="$project.a"
            if ! grep -q "is locked by pid [0-9]* running \`lowops run --window $TO\` since " "$loser"; then
                fail "ticks-$round" "the exit-75 message does not name the holder: $(cat "$loser")"; continue
            fi
        elif [[ "$ca:$cb" == "0:0" ]] && grep -q "already done by run" "$project.a" "$project.b"; then
            serial=$((serial + 1))  # the second started after the first had finished: nothing overlapped
        else
            fail "ticks-$round" "exit codes $ca and $cb"; continue
        fi
        if ! lock_free "$project"; then fail "ticks-$round" "lock still held"; continue; fi
        if [[ "$(fingerprint "$project")" != "$single_print" ]]; then
            fail "ticks-$round" "outputs differ from a single run"; continue
        fi
        log "ticks round $round/$ROUNDS: exits $ca and $cb, outputs equal a single run"
        rm -rf "$project" "$project.a" "$project.b"
    done
    log "ticks: $((ROUNDS - serial)) rounds overlapped, $serial ran one after the other"
}

# ---------------------------------------------------------------------------- checkpoints

mode_checkpoints() {
    local base reference ref_print pattern n project code hits=0
    base="$(template)"
    reference="$WORK/reference"
    if [[ ! -f "$reference/.done" ]]; then
        copy "$base" "$reference"
        lowops -C "$reference" backfill --from "$FROM" --to "$TO" >/dev/null
        echo 0 >"$reference/.done"
    fi
    ref_print="$(fingerprint "$reference")"
    for pattern in 'before:*' 'after:*' 'stage:*' 'write:*'; do
        n=1
        while true; do
            project="$WORK/cp"
            copy "$base" "$project"
            code=0
            LOWOPS_FAULT="$pattern@$n" lowops -C "$project" backfill --from "$FROM" --to "$TO" >"$project.out" 2>&1 \
                || code=$?
            [[ "$code" -eq 0 ]] && break  # no n-th hit: this pattern is done
            hits=$((hits + 1))
            if [[ "$code" -ne 137 ]]; then fail "$pattern@$n" "exit $code instead of SIGKILL"; n=$((n + 1)); continue; fi
            if ! lock_free "$project"; then fail "$pattern@$n" "lock still held"; fi
            if ! why="$(recover "$project")"; then fail "$pattern@$n" "$why"; n=$((n + 1)); continue; fi
            if ! lowops -C "$project" backfill --from "$FROM" --to "$TO" >>"$project.out" 2>&1; then
                fail "$pattern@$n" "the resumed backfill failed"; n=$((n + 1)); continue
            fi
            if [[ "$(fingerprint "$project")" != "$ref_print" ]]; then fail "$pattern@$n" "outputs differ"; fi
            log "checkpoint $pattern@$n: killed, recovered, same outputs"
            n=$((n + 1))
        done
    done
    log "checkpoints: $hits kills"
}

# ---------------------------------------------------------------------------- switch

mode_switch() {
    local base project reader loads=0 bad=0 flip
    base="$(template)"
    project="$WORK/switch"
    copy "$base" "$project"
    lowops -C "$project" backfill --from "$FROM" --to "$TO" >/dev/null
    lowops -C "$project" train --window "$TO" >/dev/null
    lowops -C "$project" promote v0002 --force --reason "chaos: two versions to switch between" >/dev/null
    : >"$WORK/switch.loads"
    (
        while [[ ! -f "$WORK/switch.stop" ]]; do
            code=0; lowops -C "$project" smoke --json >/dev/null 2>"$WORK/switch.err" || code=$?
            echo "$code" >>"$WORK/switch.loads"
            [[ "$code" -eq 0 ]] || cat "$WORK/switch.err" >>"$WORK/switch.errors"
        done
    ) & reader=$!
    log "switch: $SWITCHES pointer switches (lowops rollback) while lowops smoke loads the live model in a loop"
    for flip in $(seq 1 "$SWITCHES"); do
        lowops -C "$project" rollback --reason "chaos flip $flip" >/dev/null || fail "switch-$flip" "rollback failed"
    done
    touch "$WORK/switch.stop"
    wait "$reader" || true
    loads="$(wc -l <"$WORK/switch.loads")"
    bad="$(grep -vc '^0$' "$WORK/switch.loads" || true)"
    [[ "$bad" -eq 0 ]] || fail switch "$bad of $loads loads failed: $(head -3 "$WORK/switch.errors")"
    lowops -C "$project" verify >/dev/null || fail switch "verify after the switches"
    log "switch: $SWITCHES switches, $loads loads of the live model, $bad failed"
}

case "$MODE" in
    kill) mode_kill ;;
    ticks) mode_ticks ;;
    checkpoints) mode_checkpoints ;;
    switch) mode_switch ;;
    all) mode_kill; mode_ticks; mode_checkpoints; mode_switch ;;
esac

if [[ ${#FAILED[@]} -gt 0 ]]; then
    log "${#FAILED[@]} failure(s); projects kept in $WORK:"
    printf '  %s\n' "${FAILED[@]}"
    trap - EXIT
    exit 1
fi
log "every round held every invariant"
