#include "services/common/config.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include "events/kafka_event_log.h"

extern char** environ;

namespace jobsched::services {

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

Result<int64_t> EnvInt(const char* name, int64_t fallback, int64_t min, int64_t max) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  long long n = std::strtoll(v, &end, 10);
  if (*end != '\0' || n < min || n > max) {
    return Status::Invalid(std::string(name) + "=" + v + " must be an integer from " +
                           std::to_string(min) + " to " + std::to_string(max));
  }
  return static_cast<int64_t>(n);
}

namespace {

// The lowest n >= 0 for which this process can lock
// $TMPDIR/jobsched-<service>-member-<n>.lock. The lock lives as long as the
// process (its descriptor is never closed; the kernel releases it on any
// exit, kill -9 included), so no two live processes on this host get the same
// slot, and a restarted one gets the lowest free slot: its old one, unless
// another process took it meanwhile. Memoized: one slot per service and
// process.
Result<int> ClaimHostSlot(const std::string& service) {
  static std::mutex mu;
  static std::map<std::string, int> claimed;
  std::lock_guard lock(mu);
  if (auto it = claimed.find(service); it != claimed.end()) return it->second;
  const std::string dir = EnvOr("TMPDIR", "/tmp");
  constexpr int kMaxSlots = 1024;
  for (int slot = 0; slot < kMaxSlots; ++slot) {
    const std::string path =
        dir + "/jobsched-" + service + "-member-" + std::to_string(slot) + ".lock";
    int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      return Status::Unavailable("JOBSCHED_GROUP_INSTANCE_ID=auto: cannot open " + path + ": " +
                                 std::strerror(errno));
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      claimed[service] = slot;  // fd stays open: it holds the lock
      return slot;
    }
    close(fd);
  }
  return Status::Unavailable("JOBSCHED_GROUP_INSTANCE_ID=auto: all " + std::to_string(kMaxSlots) +
                             " member slots of " + service + " in " + dir + " are taken");
}

// Per-service consumer-group settings (ServiceConfig's comments say why).
Status ReadGroupSettings(const std::string& service, const std::string& host, ServiceConfig& c) {
  const bool fast = service == "scheduler" || service == "dispatcher";
  auto session = EnvInt("JOBSCHED_SESSION_TIMEOUT_MS", fast ? 3000 : 6000, 3000, 1'800'000);
  if (!session.ok()) return session.status();
  c.session_timeout_ms = static_cast<int>(*session);
  auto heartbeat = EnvInt("JOBSCHED_GROUP_HEARTBEAT_MS", c.group_heartbeat_ms, 50, 600'000);
  if (!heartbeat.ok()) return heartbeat.status();
  if (*heartbeat * 3 > c.session_timeout_ms) {
    return Status::Invalid("JOBSCHED_GROUP_HEARTBEAT_MS=" + std::to_string(*heartbeat) +
                           " must be at most a third of the session timeout (" +
                           std::to_string(c.session_timeout_ms) +
                           " ms, JOBSCHED_SESSION_TIMEOUT_MS)");
  }
  c.group_heartbeat_ms = static_cast<int>(*heartbeat);
  const std::string id = EnvOr("JOBSCHED_GROUP_INSTANCE_ID", "");
  const std::string name = service.empty() ? "jobsched" : service;
  if (id != "auto") {
    c.group_instance_id = id;
  } else if (const std::string instance = EnvOr("JOBSCHED_INSTANCE_ID", ""); !instance.empty()) {
    c.group_instance_id = name + "-" + instance;
  } else {
    auto slot = ClaimHostSlot(name);
    if (!slot.ok()) return slot.status();
    c.group_instance_id = name + "-" + host + "-" + std::to_string(*slot);
  }
  return Status::Ok();
}

}  // namespace

Result<ServiceConfig> ServiceConfig::FromEnv(const std::string& service) {
  ServiceConfig c;
  c.kafka_brokers = EnvOr("KAFKA_BROKERS", "");
  if (c.kafka_brokers.empty()) {
    std::string file = EnvOr("JOBSCHED_BOOTSTRAP_FILE", "");
    if (file.empty()) {
      return Status::Invalid(
          "set KAFKA_BROKERS (host:port,...) or JOBSCHED_BOOTSTRAP_FILE (the dev broker's file)");
    }
    std::ifstream in(file);
    std::getline(in, c.kafka_brokers);
    if (c.kafka_brokers.empty()) {
      return Status::Invalid("JOBSCHED_BOOTSTRAP_FILE=" + file + " is missing or empty");
    }
  }
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    static const std::string kPrefix = "KAFKA_CONFIG_";
    if (kv.rfind(kPrefix, 0) != 0) continue;
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string key = kv.substr(kPrefix.size(), eq - kPrefix.size());
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char ch) {
      return ch == '_' ? '.' : static_cast<char>(std::tolower(ch));
    });
    c.kafka_extra[key] = kv.substr(eq + 1);
  }
  c.database_url = EnvOr("DATABASE_URL", c.database_url);
  c.topic_prefix = EnvOr("JOBSCHED_TOPIC_PREFIX", "");
  char host[256] = "host";
  gethostname(host, sizeof host - 1);
  c.instance_id = EnvOr("JOBSCHED_INSTANCE_ID", std::string(host) + "-" + std::to_string(getpid()));
  c.log_format = EnvOr("JOBSCHED_LOG_FORMAT", c.log_format);
  if (c.log_format != "text" && c.log_format != "json") {
    return Status::Invalid("JOBSCHED_LOG_FORMAT must be text or json, not " + c.log_format);
  }
  c.log_level = EnvOr("JOBSCHED_LOG_LEVEL", c.log_level);
  static const std::set<std::string> kLevels = {"trace", "debug",    "info", "warn",
                                                "error", "critical", "off"};
  if (kLevels.count(c.log_level) == 0) {
    return Status::Invalid(
        "JOBSCHED_LOG_LEVEL must be one of trace, debug, info, warn, error, "
        "critical, off; not " +
        c.log_level);
  }
  auto hot_wait = EnvInt("JOBSCHED_KAFKA_FETCH_WAIT_MS", c.latency_fetch_wait_ms, 0, 10'000);
  if (!hot_wait.ok()) return hot_wait.status();
  c.latency_fetch_wait_ms = static_cast<int>(*hot_wait);
  auto bulk_wait = EnvInt("JOBSCHED_KAFKA_BULK_FETCH_WAIT_MS", c.bulk_fetch_wait_ms, 0, 10'000);
  if (!bulk_wait.ok()) return bulk_wait.status();
  c.bulk_fetch_wait_ms = static_cast<int>(*bulk_wait);
  if (Status s = ReadGroupSettings(service, host, c); !s.ok()) return s;
  return c;
}

Result<StateSettings> StateSettings::FromEnv() {
  StateSettings s;
  std::string snapshots = EnvOr("JOBSCHED_SNAPSHOTS", "on");
  if (snapshots != "on" && snapshots != "off") {
    return Status::Invalid("JOBSCHED_SNAPSHOTS must be on or off, not " + snapshots);
  }
  s.snapshots = snapshots == "on";
  auto interval =
      EnvInt("JOBSCHED_SNAPSHOT_INTERVAL_MS", s.snapshot_interval.count(), 0, 86'400'000);
  if (!interval.ok()) return interval.status();
  s.snapshot_interval = Millis(*interval);
  auto every = EnvInt("JOBSCHED_SNAPSHOT_EVERY_BYTES", static_cast<int64_t>(s.snapshot_every_bytes),
                      1024, int64_t{1} << 40);
  if (!every.ok()) return every.status();
  s.snapshot_every_bytes = static_cast<uint64_t>(*every);
  auto linger = EnvInt("JOBSCHED_TERMINAL_LINGER_MS", s.terminal_linger.count(), 0, 86'400'000);
  if (!linger.ok()) return linger.status();
  s.terminal_linger = Millis(*linger);
  return s;
}

Result<std::unique_ptr<events::EventLog>> MakeEventLog(const ServiceConfig& config) {
  events::KafkaConfig kc;
  kc.brokers = config.kafka_brokers;
  kc.extra = config.kafka_extra;
  kc.session_timeout_ms = config.session_timeout_ms;
  kc.heartbeat_interval_ms = config.group_heartbeat_ms;
  kc.group_instance_id = config.group_instance_id;
  kc.latency_fetch_wait_ms = config.latency_fetch_wait_ms;
  kc.bulk_fetch_wait_ms = config.bulk_fetch_wait_ms;
  auto log = events::KafkaEventLog::Make(std::move(kc));
  if (!log.ok()) return log.status();
  return std::unique_ptr<events::EventLog>(std::move(log).value());
}

}  // namespace jobsched::services
