#!/usr/bin/env bash
# `scripts/fuzz.sh oss-fuzz [all]`: the test of .clusterfuzzlite/build.sh,
# the build script OSS-Fuzz and ClusterFuzzLite run (oss-fuzz/build.sh runs
# it: the "undefined" configuration goes through that one, from
# $SRC/keyhole).  It runs the script from the source tree in a clean environment
# holding only what those platforms' compile step sets -- CC, CXX, CFLAGS,
# CXXFLAGS (their flags, verbatim from OSS-Fuzz's base-builder),
# LIB_FUZZING_ENGINE, SANITIZER, FUZZING_ENGINE, ARCHITECTURE, SRC, WORK,
# OUT -- then checks $OUT and runs every target on its seed corpus the way
# the platform would:
#   - every tests/fuzz/fuzz_<name>.c has an executable $OUT/fuzz_<name>, a
#     fuzz_<name>_seed_corpus.zip holding exactly the files of
#     tests/fuzz/corpus/<name>/, a fuzz_<name>.options with a [libfuzzer]
#     section, and fuzz_<name>.dict (named in the options) where the
#     source tree has a dictionary;
#   - every shared library a target loads is a C/C++ runtime or in $OUT/lib
#     (the runner image has none of the build's -dev packages);
#   - each target, given its .options flags and dictionary, runs its whole
#     unzipped seed corpus (libFuzzer: 500 mutations after it, a coverage
#     build only the corpus, writing a profile; AFL++'s driver: each file)
#     and exits 0.
# Configurations: "address" (libFuzzer + ASan: what every enrolment builds)
# by default; "all" adds "undefined" (UBSan), "afl" (AFL++'s afl-clang-fast
# and driver, ASan), "coverage" (clang source-based coverage) and
# "standalone" (an engine that is a static library with main():
# tests/fuzz/replay_main.c; it shows build.sh links $LIB_FUZZING_ENGINE).
# Works in $KH_OSSFUZZ_BUILD (default build-ossfuzz).
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$(pwd)
base=${KH_OSSFUZZ_BUILD:-build-ossfuzz}
case $base in /*) ;; *) base=$src/$base ;; esac

common="-O1 -fno-omit-frame-pointer -gline-tables-only -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION"
asan="-fsanitize=address -fsanitize-address-use-after-scope"
ubsan="-fsanitize=array-bounds,bool,builtin,enum,float-divide-by-zero,function,integer-divide-by-zero,null,object-size,return,returns-nonnull-attribute,shift,signed-integer-overflow,unsigned-integer-overflow,unreachable,vla-bound,vptr -fno-sanitize-recover=array-bounds,bool,builtin,enum,float-divide-by-zero,function,integer-divide-by-zero,null,object-size,return,returns-nonnull-attribute,shift,signed-integer-overflow,unreachable,vla-bound,vptr"
covflags="-fprofile-instr-generate -fcoverage-mapping -pthread -Wl,--no-as-needed -Wl,-ldl -Wl,-lm -Wno-unused-command-line-argument"

fail() { echo "oss-fuzz check ($cfg): FAILED: $*" >&2; exit 1; }

# The platform's variables for one configuration, as NAME=VALUE words.
platform_env() {
  local cc=clang cxx=clang++ flags engine=-fsanitize=fuzzer san=$1 fe=libfuzzer
  case $1 in
    address) flags="$common $asan -fsanitize=fuzzer-no-link" ;;
    undefined) flags="$common $ubsan -fsanitize=fuzzer-no-link" ;;
    coverage) flags="$common $covflags" ;;
    afl)
      cc=afl-clang-fast cxx=afl-clang-fast++ san=address fe=afl
      flags="$common $asan" engine=/usr/lib/afl/libAFLDriver.a ;;
    standalone)
      # An engine that is a library with main() (as honggfuzz's and
      # OSS-Fuzz's standalone reproducer are): replay_main.c.  Shows that
      # build.sh links $LIB_FUZZING_ENGINE, not an engine of its own.
      san=address fe=none flags="$common $asan"
      engine=$base/$cfg/work/libstandalone.a ;;
  esac
  printf '%s\n' "CC=$cc" "CXX=$cxx" "CFLAGS=$flags" "CXXFLAGS=$flags" \
    "LIB_FUZZING_ENGINE=$engine" "SANITIZER=$san" "FUZZING_ENGINE=$fe" \
    "ARCHITECTURE=x86_64" "SRC=$base/$cfg/src" "WORK=$base/$cfg/work" \
    "OUT=$base/$cfg/out" "PATH=$PATH" "HOME=${HOME:-/root}" "AFL_QUIET=1"
}

# The [libfuzzer] section of an .options file as -key=value flags.
libfuzzer_flags() {
  sed -nE '/^\[libfuzzer\]/,/^\[/{s/^[[:space:]]*([a-z_]+)[[:space:]]*=[[:space:]]*([^[:space:]]+).*/-\1=\2/p}' "$1" |
    sed "s|^-dict=|-dict=$out/|"
}

check_layout() {
  local h name t n z
  for h in tests/fuzz/fuzz_*.c; do
    t=$(basename "$h" .c)
    name=${t#fuzz_}
    [ -x "$out/$t" ] || fail "no target $out/$t"
    n=$(find "tests/fuzz/corpus/$name" -maxdepth 1 -type f | wc -l)
    z=$(python3 -c 'import sys, zipfile; print(len(zipfile.ZipFile(sys.argv[1]).namelist()))' \
      "$out/${t}_seed_corpus.zip") || fail "no readable $out/${t}_seed_corpus.zip"
    [ "$z" = "$n" ] || fail "${t}_seed_corpus.zip holds $z files, the corpus $n"
    grep -q '^\[libfuzzer\]' "$out/$t.options" 2>/dev/null || fail "no [libfuzzer] in $t.options"
    if [ -f "tests/fuzz/dict/$name.dict" ]; then
      cmp -s "tests/fuzz/dict/$name.dict" "$out/$t.dict" || fail "$t.dict missing or different"
      grep -qx "dict = $t.dict" "$out/$t.options" || fail "$t.options does not name $t.dict"
    fi
  done
}

check_libs() {
  local t so
  for t in "$out"/fuzz_*; do
    [ -f "$t" ] && [ -x "$t" ] || continue
    ! env -u LD_LIBRARY_PATH ldd "$t" | grep -q 'not found' || fail "$t: a library is not found"
    while read -r so; do
      case ${so##*/} in
        libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|\
        libstdc++.so.*|libgcc_s.so.*|libresolv.so.*) ;;
        *) [ "${so%/*}" = "$out/lib" ] || fail "${t##*/} loads $so from outside \$OUT/lib" ;;
      esac
    done < <(env -u LD_LIBRARY_PATH ldd "$t" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
  done
}

run_targets() {
  local h t name seeds flags=() log n got
  for h in tests/fuzz/fuzz_*.c; do
    t=$(basename "$h" .c)
    name=${t#fuzz_}
    seeds=$base/$cfg/seeds/$name
    log=$base/$cfg/run-$name.log
    rm -rf "$seeds"
    mkdir -p "$seeds"
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
      "$out/${t}_seed_corpus.zip" "$seeds"
    n=$(ls "$seeds" | wc -l)
    mapfile -t flags < <(libfuzzer_flags "$out/$t.options")
    # A coverage build has no feedback instrumentation: the platform only
    # replays the corpus (-runs=0); the others also mutate a little.
    if [ "$cfg" = coverage ]; then flags+=(-runs=0); else flags+=(-runs=500); fi
    case $cfg in
      standalone)
        env -u LD_LIBRARY_PATH "$out/$t" "$seeds" >"$log" 2>&1 ||
          { tail -30 "$log"; fail "$t on its seed corpus"; }
        got=$(sed -nE 's/^replayed ([0-9]+) inputs.*/\1/p' "$log")
        ;;
      afl)
        # AFL++'s driver runs each file named on its command line; one
        # file per run, so the count does not depend on its messages and
        # the harness's own log lines staying apart on stderr.
        got=0
        : >"$log"
        for f in "$seeds"/*; do
          env -u LD_LIBRARY_PATH "$out/$t" "$f" >>"$log" 2>&1 ||
            { tail -30 "$log"; fail "$t on its seed ${f##*/}"; }
          got=$((got + 1))
        done
        ;;
      *)
        env -u LD_LIBRARY_PATH LLVM_PROFILE_FILE="$base/$cfg/prof/$t.%p.profraw" \
          ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
          UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:silence_unsigned_overflow=1 \
          "$out/$t" "${flags[@]}" -close_fd_mask=2 "$seeds" >"$log" 2>&1 ||
          { tail -30 "$log"; fail "$t on its seed corpus"; }
        got=$(sed -nE 's/^INFO: +([0-9]+) files found in .*/\1/p' "$log" | head -1)
        ;;
    esac
    [ "$got" = "$n" ] || { tail -20 "$log"; fail "$t ran $got of its $n seeds"; }
    [ "${KH_FUZZ_QUIET:-0}" = 1 ] ||
    printf 'oss-fuzz %-9s %-24s %3s seeds ok  (%s)\n' "$cfg" "$t" "$n" \
      "$(readelf -d "$out/$t" | sed -nE 's/.*NEEDED.*\[(lib[^.]*)\..*/\1/p' |
         grep -vE '^lib(c|m|stdc\+\+|gcc_s|pthread|dl|rt)$' | tr '\n' ' ' | sed 's/ $//')"
  done
  if [ "$cfg" = coverage ]; then
    ls "$base/$cfg/prof/"*.profraw >/dev/null 2>&1 || fail "the coverage build wrote no profile"
  fi
}

configs=(address)
[ "${1:-}" = all ] && configs=(address undefined afl coverage standalone)
for cfg in "${configs[@]}"; do
  out=$base/$cfg/out
  rm -rf "${base:?}/$cfg"
  mkdir -p "$base/$cfg/src" "$base/$cfg/work" "$out" "$base/$cfg/prof"
  t0=$(date +%s)
  mapfile -t penv < <(platform_env "$cfg")
  if [ "$cfg" = standalone ]; then
    clang -O1 -g -c tests/fuzz/replay_main.c -o "$base/$cfg/work/replay_main.o"
    ar rcs "$base/$cfg/work/libstandalone.a" "$base/$cfg/work/replay_main.o"
  fi
  # ClusterFuzzLite runs .clusterfuzzlite/build.sh in the source tree;
  # OSS-Fuzz runs oss-fuzz/build.sh (copied to $SRC) in $SRC/keyhole.
  script=.clusterfuzzlite/build.sh dir=$src
  if [ "$cfg" = undefined ]; then
    ln -s "$src" "$base/$cfg/src/keyhole"
    cp oss-fuzz/build.sh "$base/$cfg/src/build.sh"
    script=$base/$cfg/src/build.sh dir=$base/$cfg/src/keyhole
  fi
  (cd "$dir" && env -i "${penv[@]}" nice -n 10 bash -eu "$script") \
    >"$base/$cfg/build.log" 2>&1 || { tail -40 "$base/$cfg/build.log"; fail "$script"; }
  check_layout
  check_libs
  run_targets
  echo "oss-fuzz $cfg: $script built $(ls "$out"/fuzz_*_seed_corpus.zip | wc -l)" \
    "targets, each ran its seed corpus ($(( $(date +%s) - t0 ))s)"
done
echo "oss-fuzz check: ${configs[*]}: build.sh and every target passed"
