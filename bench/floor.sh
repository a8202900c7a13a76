#!/usr/bin/env bash
# bench/floor.sh: the floors under issue 14's and issue 17's goals,
# measured on this machine.  Each line is something keyhole cannot do
# cheaper than, whatever its own code does:
#
#   rss       resident memory of a process that only links Debian's
#             libcurl (keyhole's parent must), and after curl_global_init;
#             beside it, a bare C program and one linking keyhole-net's
#             libraries.  VmRSS, as ../shared/bench/run.sh sums it.
#   hop       a request-sized and an answer-sized frame between two
#             processes over a socketpair, each waiting in epoll_wait: the
#             one hop keyhole adds to what nginx does.  CPU us and wall us
#             per round trip, one at a time with both processes on one CPU
#             and unpinned (the latency a lone request pays), and CPU us
#             with 16 in flight (what a loaded keyhole pays per request).
#   sha256    CPU us to hash a 64 KiB body with OpenSSL's fastest SHA-256
#             on this CPU (the audit log digests every response body).
#   fdatasync CPU us and wall us of one record write + fdatasync in DIR
#             (default: build/), what the audit log pays for a mutation
#             no other answer shares.
#   curl      with URL (an upstream already running, e.g. the bench's
#             nginx upstream): CPU us per request of libcurl alone as the
#             upstream client, 64 and 1 transfers in flight on kept-alive
#             connections, easy handles reused: a floor under keyhole's
#             parent, which adds its checks, frames and logs.  Set
#             FLOOR_AUTHORIZATION to the authorization value the upstream
#             wants (the bench's: "Bearer $(cat SCRATCH/keyhole.credential)").
#
#   bash bench/floor.sh [DIR [URL]]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc=${CC:-cc}
src=bench/floor

"$cc" -O2 -o "$tmp/rss-bare" "$src/rss.c"
"$cc" -O2 -DWITH_CURL -o "$tmp/rss-curl" "$src/rss.c" -Wl,--no-as-needed -lcurl
"$cc" -O2 -DWITH_CURL -DWITH_CURL_INIT -o "$tmp/rss-curl-init" "$src/rss.c" -lcurl
"$cc" -O2 -o "$tmp/rss-net" "$src/rss.c" -Wl,--no-as-needed \
  -levent -lseccomp -lcap-ng -lcjson -lnghttp2
"$cc" -O2 -o "$tmp/hop" "$src/hop.c"
"$cc" -O2 -o "$tmp/sync" "$src/sync.c"
"$cc" -O2 -o "$tmp/curl" "$src/curl.c" -lcurl

med() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
rss() { for _ in 1 2 3; do "$1"; done | med; }

echo "rss_kib bare_c=$(rss "$tmp/rss-bare") links_libcurl=$(rss "$tmp/rss-curl")" \
  "libcurl_initialised=$(rss "$tmp/rss-curl-init") links_keyhole_net_libs=$(rss "$tmp/rss-net")"
hop() { for _ in 1 2 3; do "$@"; done | sort -n | sed -n 2p; }
echo "hop_one_cpu_depth1 cpu_us wall_us: $(hop taskset -c 0 "$tmp/hop" 50000 1)"
echo "hop_unpinned_depth1 cpu_us wall_us: $(hop "$tmp/hop" 50000 1)"
echo "hop_unpinned_depth16 cpu_us wall_us: $(hop "$tmp/hop" 200000 16)"
# openssl speed prints bytes per second for 64 KiB blocks on its last line.
sha=$(openssl speed -evp sha256 -bytes 65536 -seconds 2 2>/dev/null | awk '/^sha256|^SHA256/ {v=$NF} END {print v}')
sha=${sha%k}
echo "sha256_us_per_64KiB=$(awk -v k="$sha" 'BEGIN { if (k > 0) printf "%.1f", 65536 / (k * 1000) * 1e6; else print "?" }')" \
  "(openssl speed -evp sha256: ${sha}k bytes/s)"
read -r cpu wall < <("$tmp/sync" "$dir/floor-sync.$$" 300)
echo "fdatasync_record dir=$dir cpu_us=$cpu wall_us=$wall"
if [ $# -ge 2 ]; then
  "$tmp/curl" "$2" 2000 8 >/dev/null   # warm: connections, caches
  echo "curl_client_cpu_us_per_request c64=$(for _ in 1 2 3; do "$tmp/curl" "$2" 100000 64; done | med)" \
    "c1=$(for _ in 1 2 3; do "$tmp/curl" "$2" 20000 1; done | med) url=$2"
fi
