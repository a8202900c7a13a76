# `scripts/fuzz.sh selftest` (sourced by scripts/fuzz.sh after afl.sh):
# the machinery around the engines, shown on a target with a planted bug
# (tests/fuzz/selftest/planted_crash.c).  For libFuzzer and for AFL++:
#   1. the engine, run as scripts/fuzz.sh runs it, finds the bug from the
#      seed "KH" and the run fails;
#   2. the input is saved in the target's corpus directory as
#      crash-<sha1 of its bytes>, the name ctest's replay reads;
#   3. replay_main.c (behind every fuzz.replay.<name> test), built with the
#      normal compiler, fails on that directory, and passes on the seed alone.
# Everything happens in $KH_FUZZ_BUILD/selftest; nothing lands in the tree.

selftest_fail() {
  echo "fuzz.sh selftest: FAILED: $*" >&2
  [ -f "$st_dir/run.log" ] && tail -40 "$st_dir/run.log" >&2
  exit 1
}

# selftest_engine ENGINE RUN_FUNCTION BIN [CMPLOG_BIN]
selftest_engine() {
  local engine=$1 fn=$2 bin=$3 cmp=${4:-} seeds=$st_dir/$1/corpus f h rc=0 n=0
  mkdir -p "$seeds"
  printf 'KH' >"$seeds/start"
  if [ "$fn" = fuzz_one ]; then
    fuzz_one planted_crash "$bin" "$seeds" "$st_dir/$engine/work" 120 \
      >"$st_dir/run.log" 2>&1 || rc=$?
  else
    KH_AFL_JOBS=1 KH_AFL_UNTIL_CRASH=1 afl_one planted_crash "$bin" "$cmp" \
      "$seeds" "$st_dir/$engine/work" 120 >"$st_dir/run.log" 2>&1 || rc=$?
  fi
  [ $rc != 0 ] || selftest_fail "$engine did not report the planted crash"
  for f in "$seeds"/crash-*; do
    [ -f "$f" ] || selftest_fail "$engine: no crash-<sha1> in $seeds"
    h=$(sha1sum <"$f" | cut -c1-40)
    [ "${f##*/}" = "crash-$h" ] || selftest_fail "$engine: $f is not crash-$h"
    [ "$(head -c 3 "$f")" = 'KH!' ] || selftest_fail "$engine: $f is not the planted input"
    n=$((n + 1))
  done
  "$st_dir/replay" "$seeds/start" >/dev/null 2>&1 ||
    selftest_fail "replay fails on the harmless seed"
  rc=0
  { "$st_dir/replay" "$seeds" >/dev/null 2>&1 || rc=$?; } 2>/dev/null
  [ $rc != 0 ] || selftest_fail "replay of $seeds passes despite $engine's reproducer"
  echo "selftest $engine: found the planted crash, saved $n reproducer(s) as crash-<sha1>; replay exits $rc on them"
}

selftest_main() {
  local cc
  st_dir=$build/selftest
  need clang afl-fuzz afl-clang-fast cc
  rm -rf "$st_dir" "$afl_build/out/planted_crash"
  mkdir -p "$st_dir" "$afl_build"
  cc -O1 -g -o "$st_dir/replay" tests/fuzz/selftest/planted_crash.c tests/fuzz/replay_main.c
  clang -O1 -g -fsanitize=fuzzer,address,undefined -o "$st_dir/bin-libfuzzer" \
    tests/fuzz/selftest/planted_crash.c
  cc=$(afl_cc)
  AFL_QUIET=1 "$cc" -O1 -g -fsanitize=fuzzer,address,undefined \
    -o "$st_dir/bin-afl" tests/fuzz/selftest/planted_crash.c
  AFL_QUIET=1 AFL_LLVM_CMPLOG=1 "$cc" -O1 -g -fsanitize=fuzzer,address,undefined \
    -o "$st_dir/bin-afl-cmplog" tests/fuzz/selftest/planted_crash.c
  selftest_engine libfuzzer fuzz_one "$st_dir/bin-libfuzzer"
  selftest_engine afl afl_one "$st_dir/bin-afl" "$st_dir/bin-afl-cmplog"
}
