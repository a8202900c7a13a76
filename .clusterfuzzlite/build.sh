#!/bin/bash -eu
# keyhole's fuzz targets, built the way OSS-Fuzz and ClusterFuzzLite build
# projects: run from the source tree ($SRC/keyhole) with the platform's
# $CC $CFLAGS (sanitizer, coverage instrumentation: the platform chooses),
# $CXX $CXXFLAGS to link, $LIB_FUZZING_ENGINE (libFuzzer, AFL++'s driver,
# ...) and $OUT, $WORK.  Tested here by `scripts/fuzz.sh oss-fuzz`
# (scripts/fuzz/oss_fuzz.sh), which runs this file with those variables set
# as the platforms set them and runs every target on its seed corpus.
#
# For each tests/fuzz/fuzz_<name>.c it writes to $OUT:
#   fuzz_<name>                  the target
#   fuzz_<name>_seed_corpus.zip  tests/fuzz/corpus/<name>/
#   fuzz_<name>.dict             tests/fuzz/dict/<name>.dict, where there is one
#   fuzz_<name>.options          tests/fuzz/options/<name>.options, else
#                                default.options, with the dict named in it
#   lib/                         the shared libraries the targets need beyond
#                                libc and libstdc++ (libevent, libcjson,
#                                libcurl and its own), found via RPATH
#                                $ORIGIN/lib: the platforms run the targets
#                                in an image without the build's packages
src=$PWD
[ -f "$src/tests/fuzz/replay_main.c" ] || src=$SRC/keyhole
lib=${WORK:-/tmp}/keyhole-libs
deps="libevent libcurl libcjson libseccomp libcap-ng libcrypto libnghttp2"
jobs=$(nproc)

# 1. keyhole's libraries (the code under test) with $CC $CFLAGS only:
#    the custom build type adds no flags of its own (no -DNDEBUG), and
#    -Wno-error last on every compile line -- a newer compiler's new
#    warning must not stop a fuzzing build (CI's builds keep -Werror).
cmake -S "$src" -B "$lib" -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$CFLAGS" \
  -DCMAKE_BUILD_TYPE=OssFuzz \
  "-DCMAKE_C_COMPILE_OBJECT=<CMAKE_C_COMPILER> <DEFINES> <INCLUDES> <FLAGS> -Wno-error -o <OBJECT> -c <SOURCE>"
cmake --build "$lib" --target kh_unpriv kh_priv kh_parse kh_audit -j"$jobs"

# 2. Each harness, linked with the engine.  --as-needed: a target records
#    only the shared libraries it calls into (most need no libcurl).
inc=()
for d in "$src"/src/*/; do inc+=("-I$d"); done
# shellcheck disable=SC2086
cflags_deps=$(pkg-config --cflags $deps)
# shellcheck disable=SC2086
libs_deps=$(pkg-config --libs $deps)
for h in "$src"/tests/fuzz/fuzz_*.c; do
  target=$(basename "$h" .c)
  name=${target#fuzz_}
  # shellcheck disable=SC2086
  $CC $CFLAGS -std=c11 -D_GNU_SOURCE -DKH_VERSION='"oss-fuzz"' "${inc[@]}" \
    $cflags_deps -c "$h" -o "$lib/$target.o"
  # shellcheck disable=SC2086
  ${CXX:-$CC} ${CXXFLAGS:-$CFLAGS} "$lib/$target.o" -Wl,--as-needed \
    -Wl,--start-group "$lib"/libkh_*.a -Wl,--end-group $libs_deps -lm \
    $LIB_FUZZING_ENGINE -Wl,--disable-new-dtags '-Wl,-rpath,$ORIGIN/lib' \
    -o "$OUT/$target"

  rm -f "$OUT/${target}_seed_corpus.zip"
  zip -q -j -X "$OUT/${target}_seed_corpus.zip" "$src/tests/fuzz/corpus/$name"/*
  dict=
  if [ -f "$src/tests/fuzz/dict/$name.dict" ]; then
    cp "$src/tests/fuzz/dict/$name.dict" "$OUT/$target.dict"
    dict="dict = $target.dict"
  fi
  opts=$src/tests/fuzz/options/$name.options
  [ -f "$opts" ] || opts=$src/tests/fuzz/options/default.options
  awk -v dict="$dict" '/^[[:space:]]*#/ { next }
    { print } /^\[libfuzzer\]/ && dict != "" { print dict }' "$opts" >"$OUT/$target.options"
done

# 3. The shared libraries the targets load, but for those every runner
#    image has (the C and C++ runtimes).  DT_RPATH (not RUNPATH) so that
#    libcurl's own dependencies are found in lib/ too.
mkdir -p "$OUT/lib"
for t in "$OUT"/fuzz_*; do
  [ -x "$t" ] && [ -f "$t" ] && ldd "$t" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
done | sort -u | while read -r so; do
  case ${so##*/} in
    libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|\
    libstdc++.so.*|libgcc_s.so.*|libresolv.so.*) ;;
    *) [ "${so%/*}" = "$OUT/lib" ] || cp -L "$so" "$OUT/lib/" ;;
  esac
done
