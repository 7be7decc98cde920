#!/usr/bin/env bash
# Installs every Debian package jobsched needs to build, test and run locally.
# Idempotent: packages already present are skipped, so a second run costs ~1 s.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ccache git
  librdkafka-dev          # Kafka client (C and C++), also the mock cluster behind the dev broker
  libpqxx-dev libpq-dev   # PostgreSQL client
  postgresql              # throwaway clusters for dev and tests
  libpistache-dev         # REST server
  libprotobuf-dev protobuf-compiler
  libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev googletest
  libcurl4-openssl-dev    # HTTP handler in the executor, HTTP client in tests and bench
  nlohmann-json3-dev      # JSON for the REST API
  libcli11-dev            # command lines of the services and jobctl
  libhowardhinnant-date-dev tzdata  # time zones and DST for cron schedules (system tzdata)
  uuid-dev libssl-dev
  curl procps
  python3-protobuf python3-confluent-kafka  # the Python consumer example (tests/consumers/)
  kcat                    # reading topics by hand (README, "Consuming jobsched's events")
  prometheus-cpp-dev      # the services' /metrics (counters, gauges, histograms, exposition)
  prometheus              # promtool: the tests check each service's exposition with it
  libjemalloc-dev         # the services' allocator (glibc malloc cost the projector ~1/3 of its CPU)
  systemd                 # systemd-analyze: the tests verify the units in infra/deploy/systemd
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
