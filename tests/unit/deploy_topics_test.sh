#!/usr/bin/env bash
# infra/deploy/topics.sh against a stand-in Kafka (tests/unit/fake_kafka):
# creates what is missing, finds and fixes drift it may fix, refuses what it
# must not change, and names every difference.
set -uo pipefail
src="${JOBSCHED_SOURCE_DIR:?run through ctest}"
script="$src/infra/deploy/topics.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export FAKE_KAFKA_STATE="$work/kafka"
mkdir -p "$FAKE_KAFKA_STATE/topics"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
run() { bash "$script" --bootstrap-server k1:9092 --kafka-bin "$src/tests/unit/fake_kafka" "$@" \
          >"$work/out" 2>&1; echo $? >"$work/rc"; }
expect_rc() { [ "$(cat "$work/rc")" = "$1" ] || fail "$2: exit $(cat "$work/rc"), want $1"; }
expect_out() { grep -qF -- "$1" "$work/out" || fail "$2: output lacks '$1'"; }
topic_has() { grep -qxF -- "$2" "$FAKE_KAFKA_STATE/topics/$1/configs" ||
                fail "$1 lacks $2: $(paste -sd' ' "$FAKE_KAFKA_STATE/topics/$1/configs")"; }
show() { echo "--- output of the last run:"; cat "$work/out"; }

# print: one create command per topic, with the configs, touching nothing.
bash "$script" print >"$work/out" 2>&1 || fail "print failed"
[ "$(grep -c '^kafka-topics.sh ' "$work/out")" = 6 ] || fail "print: want 6 commands"
expect_out "--topic job-events --partitions 24 --replication-factor 3" print
expect_out "--config cleanup.policy=compact,delete" print
expect_out "--config min.insync.replicas=2" print

# check on an empty cluster: every topic missing.
run check
expect_rc 1 "check, empty cluster"
expect_out "job-events: MISSING" "check, empty cluster"
expect_out "dispatcher-snapshots: MISSING" "check, empty cluster"

# create: every topic as defined; then it checks and passes.
run create
expect_rc 0 create || show
for t in job-events run-tasks executors dead-letters scheduler-snapshots dispatcher-snapshots; do
  [ -d "$FAKE_KAFKA_STATE/topics/$t" ] || fail "create did not create $t"
  topic_has "$t" min.insync.replicas=2
  [ "$(cat "$FAKE_KAFKA_STATE/topics/$t/replication" 2>/dev/null)" = 3 ] || fail "$t replication"
done
topic_has job-events retention.ms=-1
topic_has executors cleanup.policy=compact,delete
[ "$(cat "$FAKE_KAFKA_STATE/topics/job-events/partitions")" = 24 ] || fail "job-events partitions"
expect_out "every topic matches" create  # create ends with a check

# Drift in a config: check names it, create sets it back.
sed -i 's/^retention.ms=-1$/retention.ms=604800000/' "$FAKE_KAFKA_STATE/topics/job-events/configs"
sed -i '/^cleanup.policy=/d' "$FAKE_KAFKA_STATE/topics/executors/configs"
run check
expect_rc 1 "check, drifted configs"
expect_out "retention.ms: 604800000, defined -1" "check, drifted configs"
expect_out "cleanup.policy: not set on the topic (defined compact,delete)" "check, drifted"
run create
expect_rc 0 "create fixes drifted configs" || show
topic_has job-events retention.ms=-1
topic_has executors cleanup.policy=compact,delete

# Partitions: run-tasks may grow; job-events must not be touched.
echo 16 >"$FAKE_KAFKA_STATE/topics/run-tasks/partitions"
echo 12 >"$FAKE_KAFKA_STATE/topics/job-events/partitions"
run create
expect_rc 1 "create with a resized job-events"
expect_out "adding partitions to run-tasks: 16 -> 64" "create grows run-tasks"
expect_out "partitions: 12, defined 24" "create reports job-events"
[ "$(cat "$FAKE_KAFKA_STATE/topics/run-tasks/partitions")" = 64 ] || fail "run-tasks not grown"
[ "$(cat "$FAKE_KAFKA_STATE/topics/job-events/partitions")" = 12 ] || fail "job-events changed"
grep -q -- "--alter --topic job-events" "$FAKE_KAFKA_STATE/calls" && fail "job-events altered"
echo 24 >"$FAKE_KAFKA_STATE/topics/job-events/partitions"

# A replication factor that differs and partitions below min.insync.replicas.
echo 1 >"$FAKE_KAFKA_STATE/topics/dead-letters/replication"
echo 2 >"$FAKE_KAFKA_STATE/topics/job-events/under_min_isr"
run check
expect_rc 1 "check, replication and ISR"
expect_out "replication factor: 1, defined 3" "check, replication"
expect_out "2 partition(s) with fewer in-sync replicas than min.insync.replicas=2" "check, ISR"
echo 3 >"$FAKE_KAFKA_STATE/topics/dead-letters/replication"
rm "$FAKE_KAFKA_STATE/topics/job-events/under_min_isr"

# A prefix names other topics (as JOBSCHED_TOPIC_PREFIX does for the services).
JOBSCHED_TOPIC_PREFIX=staging- run create
expect_rc 0 "create with a prefix" || show
[ -d "$FAKE_KAFKA_STATE/topics/staging-job-events" ] || fail "prefix: no staging-job-events"

# A malformed definition file is refused with its line.
printf 'job-events 24 3 no\n    retention.ms\n' >"$work/bad.conf"
run --file "$work/bad.conf" check
expect_rc 2 "bad file"
expect_out "bad.conf:2: not a config=value: retention.ms" "bad file"
printf 'job-events twelve 3 no\n' >"$work/bad.conf"
run --file "$work/bad.conf" check
expect_rc 2 "bad partitions"
expect_out "bad.conf:1:" "bad partitions"

# No broker given: the message says how to give one.
env -u KAFKA_BROKERS bash "$script" --kafka-bin "$src/tests/unit/fake_kafka" check \
  >"$work/out" 2>&1
echo $? >"$work/rc"
expect_rc 2 "no broker"
expect_out "KAFKA_BROKERS" "no broker"

if [ $failures -gt 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "deploy_topics_test: all passed"
