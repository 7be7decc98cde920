// Configuration shared by every service, read from the environment so the
// same binaries run in dev, tests and production. Every variable and its
// default is listed in the README ("Configuration").
#pragma once

#include <map>
#include <memory>
#include <string>

#include "events/event_log.h"
#include "events/status.h"
#include "events/time.h"
#include "events/topics.h"

namespace jobsched::services {

struct ServiceConfig {
  // KAFKA_BROKERS ("host:port,..."); when unset, the first line of the file
  // named by JOBSCHED_BOOTSTRAP_FILE (written by the dev broker).
  std::string kafka_brokers;
  // KAFKA_CONFIG_<NAME>=value → librdkafka property <name> with '_' → '.'
  // lower-cased, e.g. KAFKA_CONFIG_SECURITY_PROTOCOL=SASL_SSL.
  std::map<std::string, std::string> kafka_extra;
  // DATABASE_URL, a libpq connection string.
  std::string database_url = "postgresql://postgres@127.0.0.1:5432/jobsched";
  std::string topic_prefix;      // JOBSCHED_TOPIC_PREFIX
  std::string instance_id;       // JOBSCHED_INSTANCE_ID, default <hostname>-<pid>
  std::string log_format = "text";  // JOBSCHED_LOG_FORMAT: text | json
  std::string log_level = "info";   // JOBSCHED_LOG_LEVEL

  // Consumer groups (see events/kafka_event_log.h for what each costs after
  // a member dies, measured on the dev broker).
  // JOBSCHED_SESSION_TIMEOUT_MS: 3000 for the scheduler and the dispatcher,
  // whose partitions stand still until a dead member's session expires;
  // 6000 for the others. Not below 3000: the dev broker makes a new group's
  // first member wait 3 s for its assignment and drops a member whose session
  // expires meanwhile, and that member's join then hangs. A real broker
  // accepts only group.min.session.timeout.ms (6000 by default) and up.
  int session_timeout_ms = 6000;
  // JOBSCHED_GROUP_HEARTBEAT_MS (default 500): at most a third of the session.
  int group_heartbeat_ms = 500;
  // JOBSCHED_GROUP_INSTANCE_ID: group.instance.id for static membership
  // (KIP-345; events/kafka_event_log.h). Unset or empty: dynamic membership,
  // the default, as the dev broker ignores static membership and a static
  // member does not leave its group on a graceful stop (its partitions wait
  // for the session timeout). "auto": "<service>-<JOBSCHED_INSTANCE_ID>" when
  // that is set, else "<service>-<hostname>-<slot>", where slot is the lowest
  // number whose lock file (in the temp folder) no live process on this host
  // holds, so two processes never share an id and a restart takes its old
  // one back. Any other value is used as given (per group: services may share
  // it, two instances of one service must not).
  std::string group_instance_id;
  // fetch.wait.max.ms of the hot path's consumers (scheduler, dispatcher,
  // executor: JOBSCHED_KAFKA_FETCH_WAIT_MS, default 2) and of bulk readers
  // (projector, snapshots, heartbeats: JOBSCHED_KAFKA_BULK_FETCH_WAIT_MS,
  // default 100). See events::KafkaConfig.
  int latency_fetch_wait_ms = 2;
  int bulk_fetch_wait_ms = 100;

  events::Topics topics() const { return events::Topics::WithPrefix(topic_prefix); }

  // Fails with a message naming the variable when one is malformed.
  // `service` ("scheduler", ...) picks the per-service defaults and names the
  // automatic group instance id.
  static Result<ServiceConfig> FromEnv(const std::string& service = "");
};

// How a scheduler or dispatcher keeps its partitions' state (README,
// "Configuration"): JOBSCHED_SNAPSHOTS (on | off), JOBSCHED_SNAPSHOT_INTERVAL_MS,
// JOBSCHED_SNAPSHOT_EVERY_BYTES, JOBSCHED_TERMINAL_LINGER_MS.
//
// A snapshot must be written before retention can drop the records it
// follows: a partition restored from a snapshot older than its oldest
// retained record has lost events. Real clusters retain for days, so the
// interval decides; the dev broker keeps only ~5 MiB a partition, so a
// busy partition is snapshotted every `snapshot_every_bytes` of log as well
// (or, while its last snapshot was larger, after as many bytes as that
// snapshot took, up to 4x `snapshot_every_bytes`).
struct StateSettings {
  bool snapshots = true;
  Millis snapshot_interval{30'000};
  uint64_t snapshot_every_bytes = 1 << 20;
  Millis terminal_linger{60'000};

  static Result<StateSettings> FromEnv();
};

std::string EnvOr(const char* name, const std::string& fallback);
// Fails when the variable is set but not an integer in [min, max].
Result<int64_t> EnvInt(const char* name, int64_t fallback, int64_t min, int64_t max);

// The event log the configuration points at (a Kafka-protocol cluster).
Result<std::unique_ptr<events::EventLog>> MakeEventLog(const ServiceConfig& config);

}  // namespace jobsched::services
