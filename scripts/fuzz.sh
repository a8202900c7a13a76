#!/usr/bin/env bash
# Fuzz keyhole's harnesses (tests/fuzz/fuzz_<name>.c) with libFuzzer or AFL++.
#
#   scripts/fuzz.sh list                             the targets
#   scripts/fuzz.sh TARGET|all [SECONDS] [ARGS]      libFuzzer (default 60 s each)
#   scripts/fuzz.sh afl TARGET|all [SECONDS] [ARGS]  AFL++ (KH_AFL_JOBS=N: -M + N-1 -S)
#   scripts/fuzz.sh repro TARGET FILE...             run a target on saved inputs
#   scripts/fuzz.sh coverage [TARGET|all]            llvm-cov HTML + per-file summary
#   scripts/fuzz.sh corpus TARGET|all [afl]          minimise the working corpus
#   scripts/fuzz.sh seeds TARGET|all [MAXBYTES]      add inputs reaching new code to seeds
#   scripts/fuzz.sh oss-fuzz [all]                   the OSS-Fuzz build, checked
#   scripts/fuzz.sh selftest                         engines -> saved reproducer -> replay
#
# SECONDS=0 means no time limit.  ARGS go to the engine as they are
# (libFuzzer: -jobs=4 -workers=2, -max_len=...; afl-fuzz: -p explore ...).
#
# libFuzzer: built with clang (-DKH_FUZZ=ON) in $KH_FUZZ_BUILD (default
# build-fuzz).  AFL++: the same harness files built with afl-clang-lto
# (afl-clang-fast where LTO does not work; KH_AFL_CC overrides) and its
# libFuzzer-compatible driver in $KH_AFL_BUILD (default build-afl), plus a
# CmpLog build in build-afl-cmplog used by the main instance (KH_AFL_CMPLOG=0:
# none).  Both engines use the dictionary tests/fuzz/dict/<name>.dict, start
# from the checked-in seeds tests/fuzz/corpus/<name>/ plus the working corpus
# $KH_FUZZ_CORPUS/<name> (default build-fuzz/corpus, outside the source tree),
# and grow that working corpus: libFuzzer writes to it, AFL++'s queue is
# copied into it (by sha1) after each run.  The libFuzzer flags of a target
# are in tests/fuzz/options/<name>.options or default.options (the same
# files OSS-Fuzz gets).
#
# A finding -- crash, leak (libFuzzer only), timeout, sanitizer report or
# broken property -- stops the run and is saved as
# tests/fuzz/corpus/<name>/{crash,leak,timeout,oom}-<sha1>: libFuzzer writes
# it there itself; for AFL++ this script copies <out>/*/crashes/id:* to
# crash-<sha1> and hangs/id:* to timeout-<sha1> (AFL++'s own names hold ':'
# and ',').  The ordinary ctest replay (fuzz.replay.<name>, every file of
# that directory) runs it from then on: fix the bug, give the file a name
# saying what it tests, commit both.  The script replays the file once more
# for the full report, prints it base64-encoded (CI workspaces vanish) and
# exits 1.  A reproducer from elsewhere (another machine's afl-fuzz, an
# OSS-Fuzz testcase) is copied there by hand the same way:
#   cp out/default/crashes/id:000000,sig:06,... tests/fuzz/corpus/NAME/crash-$(sha1sum <FILE | cut -c1-40)
#
# Environment: KH_FUZZ_BUILD, KH_AFL_BUILD, KH_COV_BUILD (default build-cov),
# KH_FUZZ_CORPUS, KH_FUZZ_NICE (default 19), KH_FUZZ_QUIET=1 (one summary
# line per target, for CI), KH_AFL_JOBS, KH_AFL_CC, KH_AFL_CMPLOG,
# KH_AFL_UNTIL_CRASH=0 (AFL++ goes on after a crash), KH_AFL_AFFINITY=1
# (let afl-fuzz bind to a core; off by default on shared machines).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
abspath() { case $1 in /*) echo "$1" ;; *) echo "$src/$1" ;; esac; }
build=$(abspath "${KH_FUZZ_BUILD:-build-fuzz}")
afl_build=$(abspath "${KH_AFL_BUILD:-build-afl}")
cov_build=$(abspath "${KH_COV_BUILD:-build-cov}")
work_root=$(abspath "${KH_FUZZ_CORPUS:-$build/corpus}")
seeds_root=$src/tests/fuzz/corpus
nice_lvl=${KH_FUZZ_NICE:-19}
quiet=${KH_FUZZ_QUIET:-0}

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

targets() {
  for f in tests/fuzz/fuzz_*.c; do
    f=${f##*/fuzz_}
    echo "${f%.c}"
  done
}

# The targets named by a TARGET|all argument.
pick() {
  if [ "$1" = all ]; then
    targets
  elif [ -f "tests/fuzz/fuzz_$1.c" ]; then
    echo "$1"
  else
    echo "fuzz.sh: no target '$1' (try: $0 list)" >&2
    exit 2
  fi
}

need() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null && continue
    echo "fuzz.sh: $t is missing: KH_WITH_FUZZ=1 scripts/deps.sh" >&2
    exit 1
  done
}

build_fuzzers() {
  need clang
  cmake -S . -B "$build" -DKH_FUZZ=ON -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKH_WERROR=ON >/dev/null
  cmake --build "$build" --target fuzzers -j"$(nproc)" >/dev/null
}

# The target's libFuzzer flags (-key=value, one a line) from its .options
# file's [libfuzzer] section, else from default.options.
options_args() {
  local f=tests/fuzz/options/$1.options
  [ -f "$f" ] || f=tests/fuzz/options/default.options
  sed -nE '/^\[libfuzzer\]/,/^\[/{s/^[[:space:]]*([a-z_]+)[[:space:]]*=[[:space:]]*([^[:space:]]+).*/-\1=\2/p}' "$f"
}

dict_of() { [ -f "$src/tests/fuzz/dict/$1.dict" ] && echo "$src/tests/fuzz/dict/$1.dict"; true; }

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

# After a finding: the full report of a replay, and the input in base64.
show_repro() {
  local name=$1 bin=$2 file=$3
  echo "---- reproducer kept as $file; replay: $0 repro $name $file"
  "$bin" "$file" 2>&1 | tail -60 || true
  echo "---- reproducer, base64 (base64 -d > FILE):"
  base64 "$file"
}

# libFuzzer on one target: fuzz_one NAME BIN SEEDS WORK SECONDS [ARGS];
# findings go to SEEDS/.  Returns 0 when nothing was found.
fuzz_one() {
  local name=$1 bin=$2 seeds=$3 work=$4 secs=$5; shift 5
  local log="$build/fuzz-$name.log" dict opts=() t0 rc=0 found
  [ -x "$bin" ] || { echo "fuzz.sh: no binary $bin" >&2; return 2; }
  mkdir -p "$work"
  mapfile -t opts < <(options_args "$name")
  dict=$(dict_of "$name")
  [ -n "$dict" ] && opts+=(-dict="$dict")
  t0=$(date +%s)
  # -close_fd_mask=2: the code under test may log to stderr (the parent
  # relays child log lines); libFuzzer and the sanitizers keep a copy of
  # stderr for their own reports.  Run in the build directory: with
  # -jobs=N each job logs to fuzz-JOB.log there.
  (cd "$build" && exec nice -n "$nice_lvl" "$bin" "${opts[@]}" \
    -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
    -close_fd_mask=2 -artifact_prefix="$seeds/" "$@" "$work" "$seeds") \
    >"$log" 2>&1 || rc=$?
  found=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -1)
  printf 'fuzz %-18s %3ss  %s  %s\n' "$name" "$(( $(date +%s) - t0 ))" \
    "$(summary "$log")" "$([ $rc = 0 ] && echo ok || echo FAILED)"
  if [ "$quiet" != 1 ] || [ $rc != 0 ]; then
    grep -E 'ERROR|SUMMARY|DEADLY|==[0-9]+==' "$log" | head -20 || true
  fi
  if [ $rc != 0 ]; then
    echo "---- full log: $log (last 40 lines)"
    tail -40 "$log"
    if [ -n "$found" ] && [ -f "$found" ]; then
      show_repro "$name" "$bin" "$found"
    fi
  fi
  return $rc
}

# Run FUNCTION over the targets of a TARGET|all argument; fail at the end
# naming the targets that failed.
each() {
  local fn=$1 what=$2 t failed=(); shift 2
  pick "$what" >/dev/null
  for t in $(pick "$what"); do
    "$fn" "$t" "$@" || failed+=("$t")
  done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: FAILED: ${failed[*]}" >&2
    return 1
  fi
}

libfuzzer_target() {
  local name=$1; shift
  fuzz_one "$name" "$build/fuzz_$name" "$seeds_root/$name" \
    "$work_root/$name" "$@"
}

seconds_arg() {
  case $1 in *[!0-9]*|'') echo "fuzz.sh: SECONDS must be a number" >&2; exit 2 ;; esac
}

[ $# -ge 1 ] || usage
cmd=$1; shift
case $cmd in
  -h|--help) usage ;;
  list) targets ;;
  repro)
    [ $# -ge 2 ] || usage
    name=$1; shift
    pick "$name" >/dev/null
    build_fuzzers
    exec "$build/fuzz_$name" "$@"
    ;;
  afl)
    . scripts/fuzz/afl.sh
    [ $# -ge 1 ] || usage
    what=$1; secs=${2:-60}; shift; [ $# -ge 1 ] && shift
    seconds_arg "$secs"
    pick "$what" >/dev/null
    build_afl
    each afl_target "$what" "$secs" "$@"
    [ "$what" = all ] && echo "fuzz.sh: AFL++ ran every target ${secs}s without a finding"
    ;;
  coverage)
    . scripts/fuzz/coverage.sh
    coverage_main "${1:-all}"
    ;;
  corpus|seeds)
    . scripts/fuzz/corpus.sh
    [ $# -ge 1 ] || usage
    "${cmd}_main" "$@"
    ;;
  oss-fuzz)
    exec bash scripts/fuzz/oss_fuzz.sh "$@"
    ;;
  selftest)
    . scripts/fuzz/afl.sh
    . scripts/fuzz/selftest.sh
    selftest_main
    ;;
  *)
    secs=${1:-60}
    [ $# -ge 1 ] && shift
    seconds_arg "$secs"
    pick "$cmd" >/dev/null
    build_fuzzers
    each libfuzzer_target "$cmd" "$secs" "$@"
    [ "$cmd" = all ] && echo "fuzz.sh: all targets ran ${secs}s each without a finding"
    ;;
esac
exit 0
