#!/usr/bin/env bash
# Configure and build keyhole into build/ (extra CMake options pass through).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B "${KH_BUILD_DIR:-build}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKH_WERROR=ON "$@" >/dev/null
cmake --build "${KH_BUILD_DIR:-build}" -j"$(nproc)"
