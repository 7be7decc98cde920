#!/usr/bin/env bash
# The schema contract's baseline (schemas/baseline/jobsched-v1.txtpb): what
# other teams' consumers may rely on. Usage:
#   infra/schema-baseline.sh --check   compare schemas/ with the baseline (what the tests do)
#   infra/schema-baseline.sh           record schemas/ as the new baseline
# Record only after ADDING (fields, enum values, messages, events), once the
# addition is released; never to make a failing check pass. The script refuses
# to record while schemas/ breaks the baseline (see schemas/README.md).
# Builds jobsched-schema-check into $JOBSCHED_BUILD_DIR (default: build/).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${JOBSCHED_BUILD_DIR:-$root/build}"
baseline="$root/schemas/baseline/jobsched-v1.txtpb"

mode=record
case "${1:-}" in
  --check) mode=check ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

[ -f "$build/CMakeCache.txt" ] ||
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="${JOBSCHED_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$build" -j2 --target jobsched-schema-check >/dev/null

current="$(mktemp --suffix=.pb)"
trap 'rm -f "$current"' EXIT
# The same files, in the same order, as schemas/CMakeLists.txt compiles.
mapfile -t protos < <(cd "$root/schemas" && find jobsched -name '*.proto' | LC_ALL=C sort)
(cd "$root/schemas" && protoc --include_imports --include_source_info \
  --descriptor_set_out="$current" -I . "${protos[@]}")

if [ "$mode" = check ] && [ ! -f "$baseline" ]; then
  echo "schema-baseline: no baseline at $baseline yet; record one with $0" >&2
  exit 2
fi
args=(--current "$current")
[ -f "$baseline" ] && args+=(--baseline "$baseline")
[ "$mode" = record ] && args+=(--write-baseline "$baseline")
"$build/bin/jobsched-schema-check" "${args[@]}"
