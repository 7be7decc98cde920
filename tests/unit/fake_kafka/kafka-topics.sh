#!/usr/bin/env bash
# A stand-in for Kafka's kafka-topics.sh over a folder ($FAKE_KAFKA_STATE, one
# subfolder per topic: partitions, replication, configs, and under_min_isr:
# how many partitions have one in-sync replica), for
# testing infra/deploy/topics.sh without a cluster. Prints what Kafka 3.x
# prints; logs each call to $FAKE_KAFKA_STATE/calls.
set -euo pipefail
state="${FAKE_KAFKA_STATE:?}"
echo "kafka-topics.sh $*" >>"$state/calls"
action="" topic="" partitions="" rf=""
configs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bootstrap-server|--command-config) shift 2 ;;
    --list|--describe|--create|--alter) action="${1#--}"; shift ;;
    --if-not-exists) shift ;;
    --topic) topic="$2"; shift 2 ;;
    --partitions) partitions="$2"; shift 2 ;;
    --replication-factor) rf="$2"; shift 2 ;;
    --config) configs+=("$2"); shift 2 ;;
    *) echo "fake kafka-topics.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
dir="$state/topics/$topic"
case "$action" in
  list) ls "$state/topics" 2>/dev/null || true ;;
  create)
    [ -d "$dir" ] && exit 0
    mkdir -p "$dir"
    echo "$partitions" >"$dir/partitions"
    echo "$rf" >"$dir/replication"
    printf '%s\n' "${configs[@]}" >"$dir/configs"
    echo "Created topic $topic." ;;
  alter)
    [ -d "$dir" ] || { echo "Error: topic $topic does not exist" >&2; exit 1; }
    if [ "$partitions" -lt "$(cat "$dir/partitions")" ]; then
      echo "Error: the number of partitions can only be increased" >&2; exit 1
    fi
    echo "$partitions" >"$dir/partitions" ;;
  describe)
    [ -d "$dir" ] || { echo "Error: Topic '$topic' does not exist as expected" >&2; exit 1; }
    p="$(<"$dir/partitions")"
    low=0
    [ -f "$dir/under_min_isr" ] && low="$(<"$dir/under_min_isr")"
    configs="$(<"$dir/configs")"
    header='Topic: %s\tTopicId: AAAAAAAAAAAAAAAAAAAAAA\tPartitionCount: %s'
    header+='\tReplicationFactor: %s\tConfigs: %s\n'
    printf "$header" "$topic" "$p" "$(<"$dir/replication")" "${configs//$'\n'/,}"
    for ((i = 0; i < p; i++)); do
      isr=1,2,3
      [ $i -lt "$low" ] && isr=1
      printf '\tTopic: %s\tPartition: %s\tLeader: 1\tReplicas: 1,2,3\tIsr: %s\n' \
        "$topic" "$i" "$isr"
    done ;;
  *) echo "fake kafka-topics.sh: no action" >&2; exit 2 ;;
esac
