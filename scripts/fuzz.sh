#!/usr/bin/env bash
# Fuzz keyhole's harnesses (tests/fuzz/fuzz_<name>.c) with libFuzzer.
#
#   scripts/fuzz.sh list                      the targets
#   scripts/fuzz.sh TARGET [SECONDS] [ARGS]   fuzz one target (default 60 s)
#   scripts/fuzz.sh all [SECONDS] [ARGS]      each target in turn, SECONDS each
#   scripts/fuzz.sh repro TARGET FILE...      run a target on saved inputs
#
# ARGS go to libFuzzer as they are (-jobs=4 -workers=2, -max_len=...,
# -merge=1 ...).  SECONDS=0 means no time limit.
#
# Builds the fuzzers first (clang, -DKH_FUZZ=ON) in $KH_FUZZ_BUILD
# (default build-fuzz).  Each target fuzzes a working corpus kept outside
# the source tree ($KH_FUZZ_BUILD/corpus/<name>, grown across runs) seeded
# from the checked-in tests/fuzz/corpus/<name>/, with the dictionary
# tests/fuzz/dict/<name>.dict.  A crash, leak, timeout or sanitizer report
# is saved as tests/fuzz/corpus/<name>/{crash,leak,timeout,oom}-<sha1>,
# where the ordinary ctest replay (fuzz.replay.<name>) runs it from then
# on: fix the bug, give the file a name saying what it tests, commit both.
# The script then replays the file once more to show the full report,
# prints it base64-encoded (CI workspaces vanish) and exits 1.
#
# Environment: KH_FUZZ_BUILD, KH_FUZZ_NICE (default 19), KH_FUZZ_QUIET=1
# (only the one-line summary per target, for CI).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
build=${KH_FUZZ_BUILD:-build-fuzz}
case $build in /*) ;; *) build=$src/$build ;; esac
nice_lvl=${KH_FUZZ_NICE:-19}

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

targets() {
  for f in tests/fuzz/fuzz_*.c; do
    f=${f##*/fuzz_}
    echo "${f%.c}"
  done
}

build_fuzzers() {
  if ! command -v clang >/dev/null; then
    echo "fuzz.sh: clang is missing: KH_WITH_FUZZ=1 scripts/deps.sh" >&2
    exit 1
  fi
  cmake -S . -B "$build" -DKH_FUZZ=ON -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKH_WERROR=ON >/dev/null
  cmake --build "$build" --target fuzzers -j"$(nproc)" >/dev/null
}

# The final "#N DONE cov: C ft: F corp: K/S exec/s: E ..." line, or the
# last status line if the run ended early.
summary() {
  local log=$1 line
  line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
  [ -n "$line" ] || line=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -1 || true)
  printf '%s' "$line" | sed -E 's/^#([0-9]+)[[:space:]]+[A-Z]+[[:space:]]*/runs=\1 /;
    s/cov: ([0-9]+)/cov=\1/; s/ft: ([0-9]+)/ft=\1/; s/corp: ([0-9]+)[^ ]*/corpus=\1/;
    s/lim: [0-9]+ //; s/exec\/s: ([0-9]+)/exec\/s=\1/; s/rss: ([0-9]+Mb)/rss=\1/;
    s/ L: .*//'
}

# Run one target; returns 0 when nothing was found.
fuzz_one() {
  local name=$1 secs=$2; shift 2
  local bin="$build/fuzz_$name" seeds="$src/tests/fuzz/corpus/$name"
  local work="$build/corpus/$name" log="$build/fuzz-$name.log"
  local dict=() t0 rc=0 found
  [ -x "$bin" ] || { echo "fuzz.sh: no target '$name' (try: $0 list)" >&2; return 2; }
  mkdir -p "$work"
  [ -f "$src/tests/fuzz/dict/$name.dict" ] &&
    dict=(-dict="$src/tests/fuzz/dict/$name.dict")
  t0=$(date +%s)
  # -close_fd_mask=2: the code under test may log to stderr (the parent
  # relays child log lines); libFuzzer and the sanitizers keep a copy of
  # stderr for their own reports.  Run in the build directory: with
  # -jobs=N each job logs to fuzz-JOB.log there.
  (cd "$build" && exec nice -n "$nice_lvl" "$bin" -max_total_time="$secs" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -close_fd_mask=2 \
    -artifact_prefix="$seeds/" "${dict[@]}" "$@" "$work" "$seeds") \
    >"$log" 2>&1 || rc=$?
  found=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -1)
  printf 'fuzz %-16s %3ss  %s  %s\n' "$name" "$(( $(date +%s) - t0 ))" \
    "$(summary "$log")" "$([ $rc = 0 ] && echo ok || echo FAILED)"
  if [ "${KH_FUZZ_QUIET:-0}" != 1 ] || [ $rc != 0 ]; then
    grep -E 'ERROR|SUMMARY|DEADLY|==[0-9]+==' "$log" | head -20 || true
  fi
  if [ $rc != 0 ]; then
    echo "---- full log: $log (last 40 lines)"
    tail -40 "$log"
    if [ -n "$found" ] && [ -f "$found" ]; then
      echo "---- reproducer kept as $found; replay: $0 repro $name $found"
      "$bin" "$found" 2>&1 | tail -60 || true
      echo "---- reproducer, base64 (base64 -d > FILE):"
      base64 "$found"
    fi
  fi
  return $rc
}

[ $# -ge 1 ] || usage
case $1 in
  -h|--help) usage ;;
  list) targets; exit 0 ;;
  repro)
    [ $# -ge 3 ] || usage
    name=$2; shift 2
    build_fuzzers
    exec "$build/fuzz_$name" "$@"
    ;;
esac

what=$1; shift
secs=${1:-60}
[ $# -ge 1 ] && shift
case $secs in *[!0-9]*) echo "fuzz.sh: SECONDS must be a number" >&2; exit 2 ;; esac
build_fuzzers

if [ "$what" != all ]; then
  fuzz_one "$what" "$secs" "$@"
  exit $?
fi
failed=()
for t in $(targets); do
  fuzz_one "$t" "$secs" "$@" || failed+=("$t")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: all targets ran ${secs}s each without a finding"
