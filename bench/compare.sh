#!/usr/bin/env bash
# bench/compare.sh: keyhole against nginx and HAProxy doing the same job
# (issue 14).  Builds keyhole in its release configuration into
# build-bench/ and runs the shared benchmark harness with its keyhole row:
#
#   bash bench/compare.sh                      # --rounds 3, unpinned
#   bash bench/compare.sh --pin-target 1 --pin-load 1   # one-core mode
#   bash bench/compare.sh --floor --cases "get-small get-64k" --conc 64
#
# --floor (first) adds a "floor" row: bench/floor/proxy.c, keyhole's design
# with nothing in it (two processes, one socketpair hop each way, libcurl
# as the upstream client; no parse, policy, checks or log), GET only.
#
# Options are passed to the harness (run.sh --help); without any, --rounds 3.
# The harness (KEYHOLE_BENCH, default ../shared/bench/run.sh beside this
# checkout) needs nginx, haproxy and wrk (apt-get install -y nginx haproxy
# wrk); it prints a markdown report and saves it under its results/.  Read
# CPU us per request and the ratios within one run: absolute figures move
# by 30% between runs on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${KEYHOLE_BENCH:-../shared/bench/run.sh}
[ -x "$bench" ] || [ -f "$bench" ] || {
  echo "bench/compare.sh: no benchmark harness at $bench (set KEYHOLE_BENCH)" >&2
  exit 2
}
for tool in nginx haproxy wrk; do
  command -v "$tool" >/dev/null || {
    echo "bench/compare.sh: $tool is missing: apt-get install -y nginx haproxy wrk" >&2
    exit 2
  }
done
KH_BUILD_DIR=build-bench bash scripts/build.sh -DCMAKE_BUILD_TYPE=Release >&2
floor=()
if [ "${1:-}" = --floor ]; then
  shift
  cc -O2 -Wall -o build-bench/floor-proxy bench/floor/proxy.c -lcurl
  floor=(--target "floor=env 'FLOOR_AUTHORIZATION=Bearer REAL' $PWD/build-bench/floor-proxy 18020 http://127.0.0.1:18001:18020")
fi
[ $# -gt 0 ] || set -- --rounds 3
KEYHOLE=$PWD/build-bench/keyhole exec bash "$bench" --only nginx,haproxy,keyhole \
  ${floor[@]+"${floor[@]}"} "$@"
