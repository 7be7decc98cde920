#!/usr/bin/env bash
# Throwaway PostgreSQL 15 clusters for development and tests.
#
#   infra/pg.sh start DATA_DIR PORT   initdb DATA_DIR if it holds no cluster, then start it on
#                                     127.0.0.1:PORT (unix socket in DATA_DIR, log in DATA_DIR/log).
#                                     Durability is off (fsync, synchronous_commit): data may be
#                                     lost on a crash. A stale postmaster.pid left by a killed
#                                     server is removed. Succeeds if the cluster already runs.
#   infra/pg.sh stop DATA_DIR         fast shutdown; quiet and successful if it is not running.
#   infra/pg.sh createdb PORT NAME    creates database NAME (letters, digits, _; at most 63)
#                                     unless it exists.
#
# Auth is `trust` for user postgres: connect with postgresql://postgres@127.0.0.1:PORT/NAME.
# PostgreSQL refuses to run as root: when run as root the server runs as the `postgres` user,
# DATA_DIR is chowned to it, and every parent folder of DATA_DIR must be traversable by it.
set -euo pipefail

die() { echo "pg.sh: $*" >&2; exit 1; }

usage() {
  sed -n '2,/^set /{/^#/s/^# \{0,1\}//p}' "$0" >&2
  exit 2
}

find_bindir() {
  local dir
  for dir in "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/15/bin; do
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return
    fi
  done
  die "initdb/pg_ctl not found (tried pg_config --bindir and /usr/lib/postgresql/15/bin);" \
      "run infra/install-deps.sh"
}

# Runs a server-side command as the postgres user when we are root, else as ourselves.
as_server_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# True if DATA_DIR/postmaster.pid names a live postgres whose working folder is DATA_DIR.
server_alive() {
  local dir=$1 pid
  [ -f "$dir/postmaster.pid" ] || return 1
  pid=$(head -n1 "$dir/postmaster.pid" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = "postgres" ] || return 1
  [ "$(readlink "/proc/$pid/cwd" 2>/dev/null || true)" = "$dir" ]
}

# Removes lock files left behind by a server that was killed (kill -9, reboot, container stop).
remove_stale_locks() {
  local dir=$1
  if [ -f "$dir/postmaster.pid" ] && ! server_alive "$dir"; then
    echo "pg.sh: removing stale postmaster.pid in $dir" >&2
    rm -f "$dir/postmaster.pid" "$dir"/.s.PGSQL.*
  fi
}

check_port() {
  if ! [[ "$1" =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ] || [ "$1" -gt 65535 ]; then
    die "bad port '$1'"
  fi
}

cmd_start() {
  [ $# -eq 2 ] || usage
  local dir port=$2 bindir out
  check_port "$port"
  dir=$(realpath -m "$1")
  [[ "$dir" =~ ^[A-Za-z0-9_./+@-]+$ ]] ||
    die "DATA_DIR '$dir' may only contain letters, digits and _ . / + @ -"
  mkdir -p "$dir"
  bindir=$(find_bindir)

  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' user"
    chown postgres:postgres "$dir"
    chmod 0700 "$dir"
    runuser -u postgres -- test -x "$dir" ||
      die "user postgres cannot reach $dir: make its parent folders traversable (chmod o+x)"
  fi

  if [ ! -f "$dir/PG_VERSION" ]; then
    [ -z "$(ls -A "$dir")" ] || die "$dir is neither empty nor a PostgreSQL cluster"
    out=$(as_server_user "$bindir/initdb" -N -D "$dir" -U postgres --auth=trust 2>&1) ||
      die "initdb failed:"$'\n'"$out"
  fi

  if server_alive "$dir"; then
    echo "pg.sh: cluster in $dir is already running" >&2
    return 0
  fi
  remove_stale_locks "$dir"

  local opts="-p $port -k $dir -c listen_addresses=127.0.0.1"
  opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  if ! out=$(as_server_user "$bindir/pg_ctl" -D "$dir" -w -t 60 -l "$dir/log" -o "$opts" \
               start 2>&1); then
    die "pg_ctl start failed (port $port):"$'\n'"$out"$'\n'"--- tail of $dir/log:"$'\n'"$(
        tail -n 20 "$dir/log" 2>/dev/null || true)"
  fi
}

cmd_stop() {
  [ $# -eq 1 ] || usage
  local dir out
  [ -d "$1" ] || return 0
  dir=$(realpath "$1")
  if ! server_alive "$dir"; then
    remove_stale_locks "$dir"
    return 0
  fi
  out=$(as_server_user "$(find_bindir)/pg_ctl" -D "$dir" -w -t 60 -m fast stop 2>&1) ||
    die "pg_ctl stop failed:"$'\n'"$out"
}

cmd_createdb() {
  [ $# -eq 2 ] || usage
  local port=$1 name=$2 bindir found out
  check_port "$port"
  [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] ||
    die "bad database name '$name' (letters, digits and _ only, at most 63)"
  bindir=$(find_bindir)
  local conn=(-X -h 127.0.0.1 -p "$port" -U postgres)
  export PGCONNECT_TIMEOUT=10
  db_exists() {
    "$bindir/psql" "${conn[@]}" -d postgres -tAc \
      "select 1 from pg_database where datname = '$name'"
  }
  found=$(db_exists) || die "cannot connect to PostgreSQL on 127.0.0.1:$port"
  [ "$found" = "1" ] && return 0
  # A concurrent createdb of the same name may win the race: that is success too.
  out=$("$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres "$name" 2>&1) ||
    [ "$(db_exists)" = "1" ] || die "createdb $name failed:"$'\n'"$out"
}

[ $# -ge 1 ] || usage
command=$1
shift
case "$command" in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  createdb) cmd_createdb "$@" ;;
  *) usage ;;
esac
