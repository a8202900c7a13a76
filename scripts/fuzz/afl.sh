# AFL++ mode of scripts/fuzz.sh (sourced by it; uses its variables).
#
# The harnesses are libFuzzer-style (LLVMFuzzerTestOneInput); afl-clang-lto
# and afl-clang-fast take -fsanitize=fuzzer and link AFL++'s driver
# (libAFLDriver.a: persistent mode, shared-memory test cases), so the same
# CMake build (-DKH_FUZZ=ON: ASan + UBSan, every library instrumented)
# serves with CMAKE_C_COMPILER=afl-clang-lto.  Debian 12's afl++ 4.04c is
# built against its clang 14; both compilers work there (LTO needs lld,
# which clang-14 brings).  AFL++ has no LeakSanitizer check per input:
# leaks are libFuzzer's and the replays' to find.

afl_env() {
  export AFL_SKIP_CPUFREQ=1                    # no governor tuning on shared machines
  export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1   # core_pattern left as it is
  export AFL_NO_UI=1                           # logs, not a curses screen
  [ "${KH_AFL_AFFINITY:-0}" = 1 ] || export AFL_NO_AFFINITY=1
  [ "${KH_AFL_UNTIL_CRASH:-1}" = 0 ] || export AFL_BENCH_UNTIL_CRASH=1
}

# afl-clang-lto where it builds a harness here, else afl-clang-fast.
afl_cc() {
  local d=$afl_build/probe
  if [ -n "${KH_AFL_CC:-}" ]; then
    echo "$KH_AFL_CC"
    return
  fi
  mkdir -p "$d"
  printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return d[0] == n; }' \
    >"$d/probe.c"
  if command -v afl-clang-lto >/dev/null &&
     AFL_QUIET=1 afl-clang-lto -fsanitize=fuzzer "$d/probe.c" -o "$d/probe" \
       >"$d/probe.log" 2>&1; then
    echo afl-clang-lto
  else
    echo afl-clang-fast
  fi
}

afl_cmake() {
  local dir=$1 cc=$2
  # A build directory configured for another compiler starts afresh.
  if [ -f "$dir/.kh_afl_cc" ] && [ "$(cat "$dir/.kh_afl_cc")" != "$cc" ]; then
    rm -rf "$dir"
  fi
  mkdir -p "$dir"
  echo "$cc" >"$dir/.kh_afl_cc"
  AFL_QUIET=1 cmake -S . -B "$dir" -DKH_FUZZ=ON -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  AFL_QUIET=1 nice -n 10 cmake --build "$dir" --target fuzzers \
    -j"$(nproc)" >"$dir/build.log" 2>&1 || { tail -30 "$dir/build.log"; return 1; }
}

build_afl() {
  need afl-fuzz afl-clang-fast
  afl_compiler=$(afl_cc)
  afl_cmake "$afl_build" "$afl_compiler"
  if [ "${KH_AFL_CMPLOG:-1}" = 1 ]; then
    AFL_LLVM_CMPLOG=1 afl_cmake "$afl_build-cmplog" "$afl_compiler"
  fi
  [ "$quiet" = 1 ] || echo "fuzz.sh: AFL++ targets built with $afl_compiler" \
    "$([ "${KH_AFL_CMPLOG:-1}" = 1 ] && echo "(+ CmpLog build)")"
}

# Hash-named copies of every regular file of the directories SRC... in DST.
copy_hashed() {
  local dst=$1 h f; shift
  mkdir -p "$dst"
  find "$@" -maxdepth 1 -type f ! -name 'README.txt' -size -1024k -print0 2>/dev/null |
    xargs -0 -r sha1sum | while read -r h f; do
      [ -e "$dst/$h" ] || cp "$f" "$dst/$h"
    done
}

# AFL++'s findings in OUT, copied as libFuzzer names them into SEEDS;
# prints the new files.
afl_findings() {
  local out=$1 seeds=$2 kind dir h f
  for kind in crashes:crash hangs:timeout; do
    dir=${kind%%:*}
    find "$out" -path "*/$dir/id:*" -type f -print0 2>/dev/null |
      xargs -0 -r sha1sum | while read -r h f; do
        [ -e "$seeds/${kind#*:}-$h" ] || cp "$f" "$seeds/${kind#*:}-$h"
        echo "$seeds/${kind#*:}-$h"
      done
  done
}

# The sum of a field over the instances of OUT.
afl_sum() {
  cat "$1"/*/fuzzer_stats 2>/dev/null |
    awk -v k="$2" '$1 == k { s += $3 } END { printf "%d", s }'
}

afl_stat() { sed -nE "s/^$2[[:space:]]+: ([^%]*)%?.*/\1/p" "$1" 2>/dev/null | head -1; }

# AFL++ on one target: afl_one NAME BIN CMPLOG_BIN SEEDS WORK SECONDS [ARGS].
# Instance logs: $afl_build/afl-NAME-INSTANCE.log.  Returns 0 when nothing
# was found.
# afl-fuzz 4.04c leaves its CmpLog fork server behind, stopped, when it
# exits (one per harness): end every process still running one of this
# harness's binaries, by PID.
afl_reap() {
  local exe p want
  for want in "$@"; do
    [ -n "$want" ] || continue
    want=$(readlink -f "$want")
    for p in /proc/[0-9]*; do
      exe=$(readlink "$p/exe" 2>/dev/null) || continue
      [ "$exe" = "$want" ] && kill -KILL "${p#/proc/}" 2>/dev/null
    done
  done
  return 0
}

afl_one() {
  local name=$1 bin=$2 cmp=$3 seeds=$4 work=$5 secs=$6; shift 6
  local out=$afl_build/out/$name in=$afl_build/in/$name
  local jobs=${KH_AFL_JOBS:-1} dict extra=() role inst i rc=0 t0 st
  local pids=() logs=() found scheds=(fast explore coe lin quad exploit rare)
  [ -x "$bin" ] || { echo "fuzz.sh: no binary $bin" >&2; return 2; }
  afl_env
  rm -rf "$out" "$in" "$afl_build/afl-$name-"*.log
  mkdir -p "$work" "$seeds" "$afl_build/out"
  copy_hashed "$in" "$seeds" "$work"
  dict=$(dict_of "$name")
  [ -n "$dict" ] && extra+=(-x "$dict")
  [ "$secs" != 0 ] && extra+=(-V "$secs")
  t0=$(date +%s)
  for ((i = 0; i < jobs; i++)); do
    # One instance: AFL++'s defaults.  Several: a main (-M, deterministic
    # stages) and secondaries (-S) with different power schedules.  CmpLog
    # (-c: operands of comparisons fed back into inputs) on the main.
    role=(); inst=default
    if [ "$jobs" -gt 1 ]; then
      if [ $i = 0 ]; then role=(-M main); inst=main
      else inst=s$i; role=(-S "$inst" -p "${scheds[$(( (i - 1) % 7 ))]}"); fi
    fi
    [ $i = 0 ] && [ -n "$cmp" ] && role+=(-c "$cmp")
    logs+=("$afl_build/afl-$name-$inst.log")
    nice -n "$nice_lvl" afl-fuzz "${role[@]}" -i "$in" -o "$out" -t 10000 \
      "${extra[@]}" "$@" -- "$bin" >"${logs[$i]}" 2>&1 &
    pids+=($!)
  done
  # Ctrl-C stops the instances (same process group); the harvest below runs.
  trap 'echo "fuzz.sh: stopping AFL++"' INT
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { st=$?; [ "$st" = 130 ] || rc=$st; }
  done
  trap - INT
  afl_reap "$bin" "$cmp"
  copy_hashed "$work" "$out"/*/queue
  found=$(afl_findings "$out" "$seeds")
  [ -n "$found" ] && rc=1
  st=$(ls -d "$out"/*/fuzzer_stats 2>/dev/null | head -1)
  printf 'afl  %-18s %3ss  runs=%s exec/s=%s edges=%s/%s corpus=%s stability=%s%%%s  %s\n' \
    "$name" "$(( $(date +%s) - t0 ))" \
    "$(afl_sum "$out" execs_done)" "$(afl_sum "$out" execs_per_sec)" \
    "$(afl_stat "$st" edges_found)" \
    "$(afl_stat "$st" total_edges)" "$(afl_stat "$st" corpus_count)" \
    "$(afl_stat "$st" stability | cut -d. -f1)" "$([ -n "$cmp" ] && echo ' cmplog')" \
    "$([ $rc = 0 ] && echo ok || echo FAILED)"
  if [ $rc != 0 ]; then
    for i in "${!logs[@]}"; do
      echo "---- ${logs[$i]} (last 25 lines)"
      tail -25 "${logs[$i]}" | sed 's/\x1b\[[0-9;]*m//g'
    done
    for i in $found; do
      show_repro "$name" "$bin" "$i"
    done
  fi
  return $rc
}

afl_target() {
  local name=$1 cmp=; shift
  [ "${KH_AFL_CMPLOG:-1}" = 1 ] && cmp=$afl_build-cmplog/fuzz_$name
  afl_one "$name" "$afl_build/fuzz_$name" "$cmp" "$seeds_root/$name" \
    "$work_root/$name" "$@"
}
