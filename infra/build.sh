#!/usr/bin/env bash
# Installs the Debian packages jobsched needs (skipping those present) and
# builds everything into $JOBSCHED_BUILD_DIR (default: build/). Shared by
# dev.sh and test.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${JOBSCHED_BUILD_DIR:-$root/build}"
bash "$root/infra/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="${JOBSCHED_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$build" -j"$(nproc)"
