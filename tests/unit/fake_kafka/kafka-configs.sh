#!/usr/bin/env bash
# A stand-in for Kafka's kafka-configs.sh (topics only) over $FAKE_KAFKA_STATE:
# see kafka-topics.sh beside it.
set -euo pipefail
state="${FAKE_KAFKA_STATE:?}"
echo "kafka-configs.sh $*" >>"$state/calls"
action="" topic="" add=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bootstrap-server|--command-config) shift 2 ;;
    --entity-type) [ "$2" = topics ] || exit 2; shift 2 ;;
    --entity-name) topic="$2"; shift 2 ;;
    --describe|--alter) action="${1#--}"; shift ;;
    --add-config) add="$2"; shift 2 ;;
    *) echo "fake kafka-configs.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
dir="$state/topics/$topic"
[ -d "$dir" ] || { echo "Error: topic $topic does not exist" >&2; exit 1; }
case "$action" in
  describe)
    echo "Dynamic configs for topic $topic are:"
    while IFS= read -r kv; do
      [ -n "$kv" ] || continue
      echo "  $kv sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:$kv}"
    done <"$dir/configs" ;;
  alter)
    # k=v,k=[a,b],...: commas inside [] belong to the value.
    rest="$add"
    while [ -n "$rest" ]; do
      key="${rest%%=*}"; rest="${rest#*=}"
      if [ "${rest:0:1}" = "[" ]; then
        value="${rest%%]*}"; value="${value#[}"; rest="${rest#*]}"; rest="${rest#,}"
      else
        value="${rest%%,*}"
        if [ "$value" = "$rest" ]; then rest=""; else rest="${rest#*,}"; fi
      fi
      grep -v "^$key=" "$dir/configs" >"$dir/configs.new" || true
      echo "$key=$value" >>"$dir/configs.new"
      mv "$dir/configs.new" "$dir/configs"
    done
    echo "Completed updating config for topic $topic." ;;
esac
