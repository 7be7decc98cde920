#!/usr/bin/env bash
# The test command: install, build, then run every test (unit, integration,
# end to end) with ctest. Integration and e2e tests start their own dev broker
# and throwaway PostgreSQL. Extra arguments go to ctest, e.g. `-L unit`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${JOBSCHED_BUILD_DIR:-$root/build}"
bash "$root/infra/build.sh"
ctest --test-dir "$build" --output-on-failure -j2 "$@"
