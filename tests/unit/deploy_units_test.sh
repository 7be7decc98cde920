#!/usr/bin/env bash
# The deployment files under infra/deploy: the systemd units pass
# `systemd-analyze verify` with no warning, each
# ExecStart names a binary the build makes, every variable the units and the
# environment template set is in the README's configuration table, the stop
# bounds agree; and every script under infra/ parses (`bash -n`).
set -uo pipefail
src="${JOBSCHED_SOURCE_DIR:?run through ctest}"
bin="${JOBSCHED_BIN_DIR:?run through ctest}"
readme="${JOBSCHED_CONFIG_README:-$src/README.md}"
deploy="$src/infra/deploy"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# The names in the first column of the README's "## Configuration" tables.
documented="$(awk '/^## Configuration/ { on = 1; next } on && /^## / { on = 0 }
                   on && /^\| *`/ { split($0, c, "|"); print c[2] }' "$readme" |
              grep -oE '[A-Z][A-Z0-9_]*(<NAME>)?' | sort -u)"
[ -n "$documented" ] || fail "no configuration table found in $readme"
is_documented() {
  grep -qxF -- "$1" <<<"$documented" && return 0
  [[ "$1" == KAFKA_CONFIG_* ]] && grep -qxF 'KAFKA_CONFIG_<NAME>' <<<"$documented"
}

units=("$deploy"/systemd/*.service)
[ ${#units[@]} -eq 5 ] || fail "want 5 service units, found ${#units[@]}"
ports=()
for unit in "${units[@]}"; do
  name="$(basename "$unit")"
  exec_start="$(sed -n 's/^ExecStart=//p' "$unit")"
  [ "$(wc -l <<<"$exec_start")" = 1 ] || fail "$name: want one ExecStart"
  binary="$(basename "${exec_start%% *}")"
  [ -x "$bin/$binary" ] || fail "$name: ExecStart names $binary, which the build does not make"
  for want in "KillSignal=SIGTERM" "Restart=on-failure" "RestartPreventExitStatus=2" \
              "EnvironmentFile=/etc/jobsched/jobsched.env" "NoNewPrivileges=yes" \
              "WantedBy=jobsched.target"; do
    grep -qxF "$want" "$unit" || fail "$name: lacks $want"
  done
  while IFS= read -r var; do
    is_documented "$var" || fail "$name: sets $var, which the README's table does not document"
  done < <(sed -n 's/^Environment=\([A-Z_][A-Z0-9_]*\)=.*/\1/p' "$unit")
  port="$(sed -n 's/^Environment=JOBSCHED_ADMIN_PORT=//p' "$unit")"
  [ -n "$port" ] || fail "$name: sets no JOBSCHED_ADMIN_PORT"
  ports+=("$port")
  # The unit must wait longer than the service's own stop bound.
  stop_s="$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$unit")"
  stop_ms="$(sed -n 's/^JOBSCHED_STOP_TIMEOUT_MS=//p' "$deploy/jobsched.env")"
  if [ -z "$stop_s" ] || [ -z "$stop_ms" ] || [ $((stop_s * 1000)) -le "$stop_ms" ]; then
    fail "$name: TimeoutStopSec=${stop_s:-unset} must exceed" \
         "JOBSCHED_STOP_TIMEOUT_MS=${stop_ms:-unset}"
  fi
done
[ "$(printf '%s\n' "${ports[@]}" | sort | uniq -d)" = "" ] || fail "admin ports repeat: ${ports[*]}"
grep -qx 'Environment=JOBSCHED_ADMIN_PORT=%i' "$deploy/systemd/jobsched-executor@.service" ||
  fail "the executor template must take its admin port from the instance name"

# The environment template: documented names only, none that would override
# what the units set per service (an EnvironmentFile wins over Environment=).
while IFS= read -r var; do
  is_documented "$var" || fail "jobsched.env: $var is not in the README's table"
done < <(sed -n 's/^#\{0,1\}\([A-Z][A-Z0-9_]*\)=.*/\1/p' "$deploy/jobsched.env")
for var in JOBSCHED_ADMIN_PORT JOBSCHED_INSTANCE_ID; do
  grep -q "^$var=" "$deploy/jobsched.env" && fail "jobsched.env sets $var, which the units own"
done

# systemd's own check, on copies whose ExecStart points into the build.
if command -v systemd-analyze >/dev/null; then
  cp "$deploy"/systemd/* "$work/"
  sed -i "s|^ExecStart=/usr/local/bin/|ExecStart=$bin/|" "$work"/*.service
  (cd "$work" && systemd-analyze verify --man=no jobsched-api.service jobsched-scheduler.service \
     jobsched-dispatcher.service jobsched-projector.service "$work/jobsched-executor@9473.service" \
     jobsched.target) >"$work/verify.out" 2>&1
  rc=$?
  if [ $rc -ne 0 ] || [ -s "$work/verify.out" ]; then
    fail "systemd-analyze verify (exit $rc): $(cat "$work/verify.out")"
  fi
else
  fail "systemd-analyze not installed (Debian package systemd; infra/install-deps.sh installs it)"
fi

# Every script parses.
while IFS= read -r script; do
  bash -n "$script" 2>"$work/syntax" || fail "bash -n $script: $(cat "$work/syntax")"
done < <(find "$src/infra" "$src/tests/unit" -name '*.sh' -type f)

if [ $failures -gt 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "deploy_units_test: all passed"
