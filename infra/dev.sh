#!/usr/bin/env bash
# The start command: builds jobsched and runs the whole system locally on
# embedded defaults: the dev broker, a PostgreSQL cluster under .dev/pg, and
# every service (projector, scheduler, dispatcher, executor, api on :8080).
# Ctrl-C stops everything. The dev broker keeps its log in memory, so each
# start begins afresh: empty topics and a recreated database. The PostgreSQL
# cluster and the logs live in .dev/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${JOBSCHED_BUILD_DIR:-$root/build}"
dev="$root/.dev"
pg_port="${JOBSCHED_DEV_PG_PORT:-55432}"
api_port="${JOBSCHED_API_PORT:-8080}"

bash "$root/infra/build.sh"
mkdir -p "$dev/logs"

broker_pid=""
service_pids=()

# SIGTERM, then up to 15 s for a graceful exit, then SIGKILL.
stop_pids() {
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for _ in $(seq 150); do
    kill -0 "$@" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
  wait "$@" 2>/dev/null || true
}

# In dependency order: the services still need the broker to finish cleanly.
# (Children run in sessions of their own, so a Ctrl-C reaches only this script.)
cleanup() {
  trap - EXIT
  echo "jobsched dev: stopping"
  stop_pids "${service_pids[@]}"
  [ -n "$broker_pid" ] && stop_pids "$broker_pid"
  bash "$root/infra/pg.sh" stop "$dev/pg" || true
}
trap cleanup EXIT
trap "exit 0" INT TERM  # a requested stop: EXIT runs cleanup

bash "$root/infra/pg.sh" start "$dev/pg" "$pg_port"
# The dev broker keeps its log in memory, so every start begins with empty
# topics: projections (and stored offsets) of an earlier log must go too.
psql -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -c "DROP DATABASE IF EXISTS jobsched" >/dev/null
bash "$root/infra/pg.sh" createdb "$pg_port" jobsched

rm -f "$dev/bootstrap"
setsid "$build/bin/jobsched-devbroker" --bootstrap-file "$dev/bootstrap" >"$dev/logs/devbroker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do [ -s "$dev/bootstrap" ] && break; sleep 0.1; done
[ -s "$dev/bootstrap" ] || { echo "dev broker did not start; see $dev/logs/devbroker.log"; exit 1; }

export JOBSCHED_BOOTSTRAP_FILE="$dev/bootstrap"
export DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/jobsched"
# jobctl, run from the project's root, finds the stack through these files.
echo "$DATABASE_URL" >"$dev/database_url"
export JOBSCHED_API_PORT="$api_port"

for svc in projector scheduler dispatcher executor api; do
  setsid "$build/bin/jobsched-$svc" >"$dev/logs/$svc.log" 2>&1 &
  service_pids+=($!)
done

cat <<MSG
jobsched dev is up.
  API        http://127.0.0.1:$api_port  (try: curl http://127.0.0.1:$api_port/health)
  Kafka      $(cat "$dev/bootstrap")  (dev broker, in memory)
  PostgreSQL $DATABASE_URL
  Logs       $dev/logs/
Ctrl-C stops everything.
MSG

# Exit (and stop the rest) as soon as any process dies.
set +e
wait -n "$broker_pid" "${service_pids[@]}"
status=$?
echo "jobsched dev: a process exited with status $status; see $dev/logs/"
exit "$status"
