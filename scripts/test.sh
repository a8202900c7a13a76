#!/usr/bin/env bash
# Install what is missing, build, and run every test; what CI runs.
#
#   1. build/        the normal build (gcc) and its ctest: unit,
#                    integration, and every fuzz corpus replayed
#   2. build-release/ the build a packager runs (-DCMAKE_BUILD_TYPE=Release,
#                    -O3, still -Werror) and, to stay cheap, only its unit
#                    tests, corpus replays and the hardening check (PIE,
#                    RELRO, BIND_NOW, stack protector, FORTIFY read back
#                    from the binaries)
#   3. build-asan/   the same suite built with ASan + UBSan
#                    (-DKH_SANITIZE=ON) and run again; leaks are checked
#                    by the unit tests and replays (the two processes run
#                    confined, where LeakSanitizer cannot work)
#   4. fuzzing (scripts/fuzz.sh; every tests/fuzz/fuzz_*.c):
#                    selftest: libFuzzer and AFL++ each find a planted bug,
#                    the reproducer lands as <corpus>/crash-<sha1> and the
#                    replay program fails on it;
#                    oss-fuzz all: .clusterfuzzlite/build.sh run as OSS-Fuzz
#                    runs it (ASan, UBSan, AFL++, coverage), each target
#                    run on its seed corpus zip;
#                    every harness under libFuzzer for KH_FUZZ_SECONDS
#                    (default 12) in build-fuzz/, then under AFL++ for
#                    KH_AFL_SECONDS (default 10) in build-afl/, from its
#                    seeds; a crash, leak, timeout or sanitizer report fails,
#                    and the reproducer is saved in tests/fuzz/corpus/<name>/
#                    (scripts/fuzz.sh explains what to do with it);
#                    coverage all: what seeds + this run's corpus reach,
#                    per file (report in build-cov/report/)
#
# scripts/test.sh --quick runs stage 1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = --quick ] && quick=1

stage() { printf '\n==== %s (%ss)\n' "$1" "$SECONDS"; }

if [ $quick = 1 ]; then
  scripts/deps.sh
else
  KH_WITH_FUZZ=1 scripts/deps.sh
fi

stage "normal build and tests"
scripts/build.sh
(cd build && ctest --output-on-failure -j2 --timeout 300)
[ $quick = 1 ] && exit 0

stage "release build (-DCMAKE_BUILD_TYPE=Release): unit tests, replays, hardening"
KH_BUILD_DIR=build-release scripts/build.sh -DCMAKE_BUILD_TYPE=Release
(cd build-release &&
  ctest --output-on-failure -j2 --timeout 300 -R '^(unit\.|fuzz\.replay\.|hardening$)')

stage "sanitizer build (ASan + UBSan) and tests"
KH_BUILD_DIR=build-asan scripts/build.sh -DKH_SANITIZE=ON
(cd build-asan && ctest --output-on-failure -j2 --timeout 300)

stage "fuzzing: self-test, OSS-Fuzz build, libFuzzer ${KH_FUZZ_SECONDS:-12}s and AFL++ ${KH_AFL_SECONDS:-10}s per harness, coverage"
scripts/fuzz.sh selftest
KH_FUZZ_QUIET=1 scripts/fuzz.sh oss-fuzz all
KH_FUZZ_QUIET=1 scripts/fuzz.sh all "${KH_FUZZ_SECONDS:-12}"
KH_FUZZ_QUIET=1 scripts/fuzz.sh afl all "${KH_AFL_SECONDS:-10}"
KH_FUZZ_QUIET=1 scripts/fuzz.sh coverage all
stage "all passed"
