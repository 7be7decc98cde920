#!/usr/bin/env bash
# The start command: builds jobsched and runs the whole system locally on
# embedded defaults: the dev broker, a PostgreSQL cluster under .dev/pg, and
# every service (projector, scheduler, dispatcher, executor, api on :8080).
# Ctrl-C stops everything.
#
# The stack survives its own restart: the dev broker stores its log and the
# services' committed group offsets under .dev/broker and restores them on the
# next start, and the database in .dev/pg is kept, so every job and schedule
# accepted before a stop is still there and still fires.
#   infra/dev.sh --fresh   starts afresh: empty topics and a new database.
# The log and the database are kept as a pair: if one of them is missing (or
# they come from different starts), both start afresh, and the start message
# says why. The logs of the processes live in .dev/logs/.
#   infra/dev.sh --executors N       runs N executor processes (default 1)
#   infra/dev.sh --ready-timeout S   how long to wait for every service's
#                                    GET /ready (default 120 s)
# Every service's admin port (GET /health, /ready, /metrics) is a free port
# chosen at start, written to .dev/admin/<service>.port (executor-1, ...):
# the start message lists them once every service is ready.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${JOBSCHED_BUILD_DIR:-$root/build}"
dev="$root/.dev"
pg_port="${JOBSCHED_DEV_PG_PORT:-55432}"
api_port="${JOBSCHED_API_PORT:-8080}"
broker_dir="$dev/broker"
# The services' default consumer groups, whose committed offsets the broker keeps.
default_groups=jobsched-scheduler,jobsched-dispatcher
default_groups+=,jobsched-projector,jobsched-projector-executors
groups="${JOBSCHED_DEV_GROUPS:-$default_groups}"

fresh=""
executors=1
ready_timeout=120
usage="usage: infra/dev.sh [--fresh] [--executors N] [--ready-timeout SECONDS]"
while [ $# -gt 0 ]; do
  case "$1" in
    --fresh) fresh="--fresh"; shift ;;
    --executors) executors="${2:-}"; shift; [ $# -eq 0 ] || shift ;;
    --ready-timeout) ready_timeout="${2:-}"; shift; [ $# -eq 0 ] || shift ;;
    -h|--help) sed -n '2,/^set /{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
if [[ ! "$executors" =~ ^[1-9][0-9]?$ ]]; then
  echo "infra/dev.sh: --executors must be a number from 1 to 99, not '$executors'" >&2; exit 2
fi
if [[ ! "$ready_timeout" =~ ^[1-9][0-9]*$ ]]; then
  echo "infra/dev.sh: --ready-timeout must be a positive number of seconds" >&2; exit 2
fi

# One stack per .dev: a second start would share the stored log and the
# database with the running one (its processes inherit the lock).
mkdir -p "$dev"
exec 9>"$dev/lock"
if ! flock -n 9; then
  echo "jobsched dev: another infra/dev.sh is running on $dev; stop it first (Ctrl-C)" >&2
  exit 1
fi

bash "$root/infra/build.sh"
mkdir -p "$dev/logs"

broker_pid=""
service_pids=()

# SIGTERM, then up to $grace_tenths/10 s (default 15 s) for a graceful exit, then SIGKILL.
stop_pids() {
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for _ in $(seq "${grace_tenths:-150}"); do
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
  rm -f "$dev/admin"/*.port "$dev/admin"/*.ready  # the ports are gone with the services
  # The broker stores the rest of its log before it exits (up to 30 s).
  [ -n "$broker_pid" ] && grace_tenths=400 stop_pids "$broker_pid"
  bash "$root/infra/pg.sh" stop "$dev/pg" || true
}
trap cleanup EXIT
trap "exit 0" INT TERM  # a requested stop: EXIT runs cleanup

bash "$root/infra/pg.sh" start "$dev/pg" "$pg_port"
pg_admin() {
  PGOPTIONS="-c client_min_messages=warning" \
    psql -qtA -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres "$@"
}

# The database and the log belong together: each fresh start writes one id
# into .dev/broker/stack-id and into the database's comment. A projection of a
# log that is gone (or of another log) must not be served.
db_stack=$(pg_admin -c "SELECT coalesce(shobj_description(oid, 'pg_database'), 'none')
                        FROM pg_database WHERE datname = 'jobsched'")
broker_stack=$(cat "$broker_dir/stack-id" 2>/dev/null || true)
has_log=""; [ -s "$broker_dir/topics" ] && has_log=yes
if [ -z "$fresh" ]; then
  if [ -z "$db_stack" ] && [ -z "$has_log" ]; then
    fresh="first start"
  elif [ -z "$db_stack" ]; then
    fresh="the database is missing but $broker_dir holds a log"
  elif [ -z "$has_log" ]; then
    fresh="the database is there but the log ($broker_dir) is missing"
  elif [ "$db_stack" != "jobsched-dev-stack $broker_stack" ]; then
    fresh="the database and $broker_dir come from different starts"
  fi
fi
if [ -n "$fresh" ]; then
  pg_admin -c "DROP DATABASE IF EXISTS jobsched" >/dev/null
  rm -rf "$broker_dir"
  mkdir -p "$broker_dir"
  stack_id="$(date -u +%Y%m%dT%H%M%SZ)-$$-$RANDOM"
  echo "$stack_id" >"$broker_dir/stack-id"
fi
bash "$root/infra/pg.sh" createdb "$pg_port" jobsched
if [ -n "$fresh" ]; then
  pg_admin -c "COMMENT ON DATABASE jobsched IS 'jobsched-dev-stack $stack_id'" >/dev/null
fi

rm -f "$dev/bootstrap"
setsid "$build/bin/jobsched-devbroker" --bootstrap-file "$dev/bootstrap" \
  --data-dir "$broker_dir" --groups "$groups" >"$dev/logs/devbroker.log" 2>&1 &
broker_pid=$!
# Restoring a big log takes a while (see the README): wait while it works.
[ -z "$fresh" ] && echo "jobsched dev: restoring the log from $broker_dir ..."
while [ ! -s "$dev/bootstrap" ] && kill -0 "$broker_pid" 2>/dev/null; do sleep 0.1; done
if [ ! -s "$dev/bootstrap" ]; then
  echo "dev broker did not start; see $dev/logs/devbroker.log:"
  tail -n 5 "$dev/logs/devbroker.log"
  exit 1
fi
if [ -z "$fresh" ]; then
  # A kill -9 of the broker may lose the last ~100 ms of the log, which the
  # projector may already have projected: the database would then describe
  # events that are gone.
  ahead=$(psql -qtA -F ' ' -h 127.0.0.1 -p "$pg_port" -U postgres -d jobsched \
            -c "SELECT topic, partition, next_offset FROM projection_offsets" 2>/dev/null |
          awk 'NR == FNR { end[$1 " " $2] = $3; next }
               ($1 " " $2) in end && $3 > end[$1 " " $2] {
                 printf "%s[%s] projected up to %s, log ends at %s; ",
                        $1, $2, $3, end[$1 " " $2] }' \
            "$broker_dir/restored" - || true)
  if [ -n "$ahead" ]; then
    echo "jobsched dev: the database is ahead of the restored log (the dev broker was killed"
    echo "  before it stored its last events): $ahead"
    echo "  Start afresh with: infra/dev.sh --fresh"
    exit 1
  fi
fi
if [ -n "$fresh" ]; then
  survived="nothing: started afresh ($fresh)"
else
  # "restored N records (P partitions) and the committed offsets of G group(s) from DIR in T ms"
  survived="$(grep -o 'restored [0-9]* records.*' "$dev/logs/devbroker.log" | tail -n 1 |
              sed -e 's/ ([0-9]* partitions) and the committed offsets of / and the offsets of /' \
                  -e 's/ group(s)/ consumer group(s)/'),
             and the database in $dev/pg"
fi

export JOBSCHED_BOOTSTRAP_FILE="$dev/bootstrap"
export DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/jobsched"
# jobctl, run from the project's root, finds the stack through these files.
echo "$DATABASE_URL" >"$dev/database_url"
export JOBSCHED_API_PORT="$api_port"

# Each process by name: its binary, its log and its admin port file.
names=(projector scheduler dispatcher)
for i in $(seq "$executors"); do names+=("executor-$i"); done
names+=(api)
admin="$dev/admin"
mkdir -p "$admin"
rm -f "$admin"/*.port
declare -A pid_of
for name in "${names[@]}"; do
  JOBSCHED_ADMIN_PORT=0 JOBSCHED_ADMIN_PORT_FILE="$admin/$name.port" \
    setsid "$build/bin/jobsched-${name%-[0-9]*}" >"$dev/logs/$name.log" 2>&1 &
  service_pids+=($!)
  pid_of[$name]=$!
done

# Up means ready: every service's GET /ready answers 200 (the broker and the
# database reachable, its partitions assigned and caught up).
not_ready() {
  echo "jobsched dev: $1; see $dev/logs/$2.log:" >&2
  tail -n 5 "$dev/logs/$2.log" >&2
  exit 1
}
deadline=$((SECONDS + ready_timeout))
for name in "${names[@]}"; do
  code=""
  while :; do
    if ! kill -0 "${pid_of[$name]}" 2>/dev/null; then
      wait "${pid_of[$name]}" && status=0 || status=$?
      not_ready "$name exited with status $status before it was ready" "$name"
    fi
    port="$(cat "$admin/$name.port" 2>/dev/null || true)"
    if [ -n "$port" ]; then
      code="$(curl -s -o "$admin/$name.ready" -w '%{http_code}' --max-time 2 \
                "http://127.0.0.1:$port/ready" || true)"
      [ "$code" = 200 ] && break
    fi
    if [ $SECONDS -ge $deadline ]; then
      if [ -z "$port" ]; then
        not_ready "$name has no admin port after ${ready_timeout} s ($admin/$name.port)" "$name"
      fi
      not_ready "$name is not ready after ${ready_timeout} s: GET /ready answers ${code:-nothing}:
  $(cat "$admin/$name.ready" 2>/dev/null)" "$name"
    fi
    sleep 0.2
  done
done
rm -f "$admin"/*.ready

admin_urls=""
for name in "${names[@]}"; do
  url="http://127.0.0.1:$(cat "$admin/$name.port")"
  admin_urls+="$(printf '\n  %-10s %s/health  /ready  /metrics' "$name" "$url")"
done

cat <<MSG
jobsched dev is up.
  API        http://127.0.0.1:$api_port  (try: curl http://127.0.0.1:$api_port/health)
  Kafka      $(cat "$dev/bootstrap")  (dev broker, log stored in $broker_dir)
  PostgreSQL $DATABASE_URL
  Logs       $dev/logs/
  Kept       $survived
Admin ports (ports also in $admin/<service>.port):$admin_urls
Ctrl-C stops everything (and keeps everything for the next start; infra/dev.sh --fresh forgets it).
MSG

# Exit (and stop the rest) as soon as any process dies.
set +e
wait -n "$broker_pid" "${service_pids[@]}"
status=$?
echo "jobsched dev: a process exited with status $status; see $dev/logs/"
exit "$status"
