#!/usr/bin/env bash
# Creates and checks jobsched's topics on a real Kafka cluster, as defined in
# infra/deploy/topics.conf, with Kafka's own kafka-topics.sh and
# kafka-configs.sh (the services never create topics).
#
#   infra/deploy/topics.sh [options] print    the commands `create` would run for
#                                             missing topics; touches nothing
#   infra/deploy/topics.sh [options] create   creates missing topics, sets each
#                                             defined config, adds partitions
#                                             where the file allows; then checks
#   infra/deploy/topics.sh [options] check    compares the cluster with the file;
#                                             exit 1 naming every difference
# Options:
#   --bootstrap-server HOST:PORT  default: $KAFKA_BROKERS (as the services)
#   --command-config FILE         client properties for TLS/SASL (the tools' own file)
#   --prefix P                    topic name prefix; default: $JOBSCHED_TOPIC_PREFIX
#   --file FILE                   topic definitions; default: topics.conf beside this script
#   --kafka-bin DIR               where kafka-topics.sh is; default: PATH, then /opt/kafka/bin
# Never removes partitions or topics, never lowers anything by itself: a
# partition count that cannot be changed (job-events, snapshots, executors) or
# a replication factor that differs is reported for the operator to decide.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

bootstrap="${KAFKA_BROKERS:-}"
prefix="${JOBSCHED_TOPIC_PREFIX:-}"
file="$here/topics.conf"
command_config=""
kafka_bin=""
command=""
usage() { sed -n '2,/^set /{/^#/s/^# \{0,1\}//p}' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --bootstrap-server) bootstrap="${2:?--bootstrap-server needs HOST:PORT}"; shift 2 ;;
    --command-config) command_config="${2:?--command-config needs a file}"; shift 2 ;;
    --prefix) prefix="${2?--prefix needs a value}"; shift 2 ;;
    --file) file="${2:?--file needs a file}"; shift 2 ;;
    --kafka-bin) kafka_bin="${2:?--kafka-bin needs a folder}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    print|create|check) command="$1"; shift ;;
    *) echo "topics.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "$command" ] || { usage >&2; exit 2; }
[ -r "$file" ] || { echo "topics.sh: cannot read $file" >&2; exit 2; }

# The definitions: names[i], partitions[i], replication[i], grow[i], configs[i]
# (space-separated key=value).
names=(); partitions=(); replication=(); grow=(); configs=()
line_no=0
while IFS= read -r line || [ -n "$line" ]; do
  line_no=$((line_no + 1))
  line="${line%%#*}"
  [ -n "${line//[[:space:]]/}" ] || continue
  if [[ "$line" =~ ^[[:space:]] ]]; then
    if [ ${#names[@]} -eq 0 ]; then
      echo "topics.sh: $file:$line_no: configs before the first topic" >&2; exit 2
    fi
    for kv in $line; do
      if [[ ! "$kv" =~ ^[a-z][a-z0-9.]*=[^=]+$ ]]; then
        echo "topics.sh: $file:$line_no: not a config=value: $kv" >&2; exit 2
      fi
    done
    last=$((${#names[@]} - 1))
    configs[$last]="${configs[$last]} $(echo $line)"
    continue
  fi
  read -r name count rf can_grow extra <<<"$line"
  if [[ ! "$name" =~ ^[A-Za-z0-9._-]+$ ]] || [[ ! "$count" =~ ^[1-9][0-9]*$ ]] ||
     [[ ! "$rf" =~ ^[1-9][0-9]*$ ]] || [[ ! "$can_grow" =~ ^(yes|no)$ ]] || [ -n "$extra" ]; then
    echo "topics.sh: $file:$line_no: want \"name partitions replication yes|no\": $line" >&2
    exit 2
  fi
  names+=("$name"); partitions+=("$count"); replication+=("$rf"); grow+=("$can_grow")
  configs+=("")
done <"$file"
[ ${#names[@]} -gt 0 ] || { echo "topics.sh: $file defines no topic" >&2; exit 2; }

# The value of `key` in a space-separated key=value list.
config_value() {
  local key="$1" kv
  for kv in $2; do
    if [ "${kv%%=*}" = "$key" ]; then echo "${kv#*=}"; return 0; fi
  done
  return 1
}

if [ "$command" = print ]; then
  for i in "${!names[@]}"; do
    args=""
    for kv in ${configs[$i]}; do args+=" --config $kv"; done
    echo "kafka-topics.sh --bootstrap-server ${bootstrap:-HOST:PORT} --create --if-not-exists" \
         "--topic $prefix${names[$i]} --partitions ${partitions[$i]}" \
         "--replication-factor ${replication[$i]}$args"
  done
  exit 0
fi

if [ -z "$bootstrap" ]; then
  echo "topics.sh: give --bootstrap-server HOST:PORT or set KAFKA_BROKERS" >&2
  exit 2
fi
if [ -z "$kafka_bin" ]; then
  if command -v kafka-topics.sh >/dev/null; then
    kafka_bin="$(dirname "$(command -v kafka-topics.sh)")"
  else
    kafka_bin=/opt/kafka/bin
  fi
fi
for tool in kafka-topics.sh kafka-configs.sh; do
  if [ ! -x "$kafka_bin/$tool" ]; then
    echo "topics.sh: $kafka_bin/$tool not found: install Kafka's tools or give --kafka-bin" >&2
    exit 2
  fi
done
client=(--bootstrap-server "$bootstrap")
[ -n "$command_config" ] && client+=(--command-config "$command_config")
topics() { "$kafka_bin/kafka-topics.sh" "${client[@]}" "$@"; }
configs_tool() { "$kafka_bin/kafka-configs.sh" "${client[@]}" "$@"; }

existing="$(topics --list)"
exists() { grep -qxF -- "$1" <<<"$existing"; }

# "PARTITIONS REPLICATION LOW" of an existing topic from one describe: LOW is
# the number of partitions with fewer in-sync replicas than `min_isr` ($2).
shape() {
  topics --describe --topic "$1" | awk -v min_isr="${2:-0}" '
    {
      for (i = 1; i <= NF; i++) {
        if ($i == "PartitionCount:") p = $(i + 1)
        if ($i == "ReplicationFactor:") r = $(i + 1)
        if ($i == "Isr:" && split($(i + 1), isr, ",") < min_isr) low++
      }
    }
    END { print p, r, low + 0 }'
}

# The topic's own (dynamic) configs as key=value lines.
actual_configs() {
  configs_tool --describe --entity-type topics --entity-name "$1" |
    awk '/^[[:space:]]+[a-z][a-z0-9.]*=/ { print $1 }'
}

# Kafka's --add-config takes a comma-separated list: values with commas go in [].
add_config_arg() {
  local out="" kv key value
  for kv in "$@"; do
    key="${kv%%=*}"; value="${kv#*=}"
    [[ "$value" == *,* ]] && value="[$value]"
    out+="${out:+,}$key=$value"
  done
  echo "$out"
}

problems=0
report() { echo "  $1"; problems=$((problems + 1)); }

check_topic() {
  local i="$1" topic="$prefix${names[$1]}" want_p="${partitions[$1]}" want_r="${replication[$1]}"
  if ! exists "$topic"; then
    echo "$topic: MISSING"; problems=$((problems + 1)); return
  fi
  local before=$problems have have_p have_r low min_isr
  have="$(actual_configs "$topic")"
  min_isr="$(awk -F= '$1 == "min.insync.replicas" { print $2 }' <<<"$have")"
  read -r have_p have_r low <<<"$(shape "$topic" "${min_isr:-1}")"
  echo "$topic: partitions $have_p, replication $have_r"
  if [ "$have_p" != "$want_p" ]; then
    if [ "${grow[$i]}" = yes ] && [ "$have_p" -gt "$want_p" ]; then
      echo "  partitions: $have_p, more than the $want_p defined (fine for this topic)"
    elif [ "${grow[$i]}" = no ]; then
      report "partitions: $have_p, defined $want_p (never changed in place: keys would move;" \
             "a new, empty system may recreate the topic)"
    else
      report "partitions: $have_p, defined $want_p"
    fi
  fi
  [ "$have_r" = "$want_r" ] || report "replication factor: $have_r, defined $want_r"
  local kv key want got
  for kv in ${configs[$i]}; do
    key="${kv%%=*}"; want="${kv#*=}"
    got="$(awk -F= -v k="$key" '$1 == k { sub(/^[^=]*=/, ""); print; exit }' <<<"$have")"
    if [ -z "$got" ]; then
      report "$key: not set on the topic (defined $want)"
    elif [ "$got" != "$want" ]; then
      report "$key: $got, defined $want"
    fi
  done
  [ "$low" -eq 0 ] ||
    report "$low partition(s) with fewer in-sync replicas than min.insync.replicas=${min_isr:-1}"
  [ "$low" -eq 0 ] || echo "    (appends to them fail until their replicas catch up)"
  [ $problems -eq $before ] && echo "  ok"
  return 0
}

if [ "$command" = create ]; then
  for i in "${!names[@]}"; do
    topic="$prefix${names[$i]}"
    if ! exists "$topic"; then
      args=()
      for kv in ${configs[$i]}; do args+=(--config "$kv"); done
      echo "creating $topic: ${partitions[$i]} partitions, replication ${replication[$i]}"
      topics --create --if-not-exists --topic "$topic" --partitions "${partitions[$i]}" \
        --replication-factor "${replication[$i]}" "${args[@]}"
      continue
    fi
    # An existing topic: set what the file defines (idempotent), grow if allowed.
    read -r -a kvs <<<"${configs[$i]}"
    if [ ${#kvs[@]} -gt 0 ]; then
      configs_tool --alter --entity-type topics --entity-name "$topic" \
        --add-config "$(add_config_arg "${kvs[@]}")" >/dev/null
    fi
    read -r have_p _ _ <<<"$(shape "$topic")"
    if [ "$have_p" -lt "${partitions[$i]}" ] && [ "${grow[$i]}" = yes ]; then
      echo "adding partitions to $topic: $have_p -> ${partitions[$i]}"
      topics --alter --topic "$topic" --partitions "${partitions[$i]}"
    fi
  done
  existing="$(topics --list)"
fi

for i in "${!names[@]}"; do check_topic "$i"; done
if [ $problems -gt 0 ]; then
  echo "topics.sh: $problems difference(s) from $file" >&2
  exit 1
fi
echo "topics.sh: every topic matches $file"
