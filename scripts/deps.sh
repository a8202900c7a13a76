#!/usr/bin/env bash
# Install the Debian 12 packages keyhole's build, demo and tests need, if
# any is missing.  As root it runs apt-get; otherwise it prints the exact
# command to run and stops.
set -euo pipefail

# libnghttp2-dev: HTTP/2 for http2_v1; its libnghttp2.a, with libevent-dev's
# libevent_core.a, libseccomp-dev's libseccomp.a and libc6-dev's libc.a,
# links keyhole-gateway-static.
pkgs=(build-essential cmake pkg-config libevent-dev libcurl4-openssl-dev libssl-dev
      libcjson-dev libseccomp-dev libcap-ng-dev libnghttp2-dev python3 curl
      ca-certificates openssl iproute2 systemd strace groff-base prometheus
      bubblewrap)
# bubblewrap: the Paperclip plugin's sandbox (paperclip-plugin/lib/sandbox.js).
# prometheus: it.test_metrics starts the real Prometheus (and promtool)
# against keyhole's metrics listener; groff-base renders the man pages
# (it.test_docs_true).
# http2_v1 (keyhole serve --connect): OpenSSH's server and client for the
# test that runs the channel over ssh on loopback
# (tests/integration/test_connect_ssh.py).
pkgs+=(openssh-server openssh-client)
# Fuzzing (scripts/fuzz.sh, CI's fuzz stage): clang and its runtimes for
# libFuzzer, afl++ (Debian's 4.04c, built against clang 14) for AFL++,
# llvm's llvm-profdata/llvm-cov for `scripts/fuzz.sh coverage`, zip for the
# OSS-Fuzz build script's seed corpora.
if [ "${KH_WITH_FUZZ:-0}" = 1 ]; then
  pkgs+=(clang libclang-rt-dev afl++ llvm zip)
fi

# bubblewrap builds the Paperclip plugin's sandboxes (paperclip-plugin/,
# tests/integration/test_paperclip_plugin.py and test_paperclip_e2e.py).
#
# Node.js and npm run Paperclip's own gateway in the interop test
# (tests/integration/test_queue_paperclip_interop.py), the plugin's hooks in
# test_paperclip_plugin.py, and install Node.js 24 and Paperclip itself for
# test_paperclip_e2e.py (scripts/install-paperclip.sh).  A node already on
# PATH (e.g. from NodeSource, which bundles npm) is used as it is.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "keyhole: missing Debian packages: ${missing[*]}" >&2
  echo "run as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "keyhole: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
