// jobsched-api: the HTTP API. Environment (besides services/common/config.h):
//   JOBSCHED_API_PORT       port to listen on (default 8080; 0 = any free port, logged)
//   JOBSCHED_API_THREADS    HTTP I/O threads (default 2)
//   JOBSCHED_API_PORT_FILE  if set, the bound port is written there once serving (for tests)
//   JOBSCHED_EXECUTOR_TIMEOUT_MS  executors not heard for this long are STALE (default 30000)
//   JOBSCHED_API_APPEND_TIMEOUT_MS  a write Kafka has not confirmed by then answers 503
//                           append_unconfirmed (default 5000)
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "projections/migrations.h"
#include "services/api/api_application.h"
#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/service_main.h"

namespace jobsched::api {
namespace {

// Writes `content` to `path` atomically (temporary file + rename), so a reader
// polling for the file never sees it half-written.
Status WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content << "\n";
    if (!out.flush()) return Status::Internal("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::Internal("cannot rename " + tmp + " to " + path + ": " + ec.message());
  return Status::Ok();
}

// The API as a services::Service: owns its producer and the application.
class ApiService final : public services::Service {
 public:
  ApiService(std::unique_ptr<events::Producer> producer, ApiOptions options,
             const services::ServiceConfig& config, std::string port_file)
      : producer_(std::move(producer)),
        app_(std::move(options), *producer_, config.database_url, config.topics(),
             SystemClock::Instance()),
        port_file_(std::move(port_file)) {}

  Status Start() override {
    Status s = app_.Start();
    if (!s.ok() || port_file_.empty()) return s;
    return WriteFileAtomically(port_file_, std::to_string(app_.port()));
  }

  void Stop() override { app_.Stop(); }

 private:
  std::unique_ptr<events::Producer> producer_;  // outlives app_ (declared first)
  ApiApplication app_;
  std::string port_file_;
};

Result<std::unique_ptr<services::Service>> MakeApiService(const services::ServiceConfig& config,
                                                          events::EventLog& log) {
  auto logger = services::GetLogger("api");
  auto port = services::EnvInt("JOBSCHED_API_PORT", 8080, 0, 65535);
  if (!port.ok()) return port.status();
  auto threads = services::EnvInt("JOBSCHED_API_THREADS", 2, 1, 64);
  if (!threads.ok()) return threads.status();

  // Queries need the schema; submissions do not. With PostgreSQL unreachable
  // the API still starts (the projector applies the migrations later), but a
  // migration that fails is fatal.
  Status migrated = projections::ApplyMigrations(config.database_url);
  if (migrated.code() == ErrorCode::kUnavailable) {
    services::Log(*logger, spdlog::level::warn, "PostgreSQL unreachable, migrations not applied",
                  {{"reason", migrated.message()}});
  } else if (!migrated.ok()) {
    return migrated;
  }

  auto append_timeout = services::EnvInt("JOBSCHED_API_APPEND_TIMEOUT_MS", 5000, 1000, 600'000);
  if (!append_timeout.ok()) return append_timeout.status();

  // The API's producer gets a client of its own, tuned to its deadline (the
  // other services' producers may wait for Kafka as long as they like):
  //  - message.timeout.ms (= delivery.timeout.ms) one second below the
  //    deadline: librdkafka checks message timeouts about once a second, so
  //    its own verdict (not stored -> 503 kafka_unavailable, maybe stored ->
  //    503 append_unconfirmed) usually arrives before the API's timer answers,
  //    and it stops retrying by the deadline: an event cannot be appended
  //    long after its client was told 503.
  //  - socket.timeout.ms the same: a produce request already in flight to a
  //    broker that went silent fails by then too (default 60 s).
  //  - reconnect.backoff.max.ms 1000: back within a second of the broker
  //    (the default backs off up to 10 s), which Producer::Reachable() needs.
  // An explicit KAFKA_CONFIG_* setting wins, at the operator's risk.
  (void)log;  // the shared log's settings do not fit; see above
  services::ServiceConfig api_config = config;
  const std::string producer_timeout_ms =
      std::to_string(std::max<int64_t>(*append_timeout - 1000, 500));
  api_config.kafka_extra.try_emplace("message.timeout.ms", producer_timeout_ms);
  api_config.kafka_extra.try_emplace("socket.timeout.ms", producer_timeout_ms);
  api_config.kafka_extra.try_emplace("reconnect.backoff.max.ms", "1000");
  // linger.ms 5, as before the hot path went to 0: with acknowledgements in
  // ~0.1 ms, a clean-clone CI run saw the API die in libpistache (a response
  // sent from the acknowledging thread while the I/O thread still served the
  // connection, by the look of it). Until that race is found, the API keeps
  // the setting under which it never showed; it costs each 201 ~5 ms.
  api_config.kafka_extra.try_emplace("linger.ms", "5");
  auto api_log = services::MakeEventLog(api_config);
  if (!api_log.ok()) return api_log.status();
  auto producer = api_log.value()->NewProducer("jobsched-api-" + config.instance_id);
  if (!producer.ok()) return producer.status();

  // The dispatcher's lease timeout: GET /api/v1/executors calls older heartbeats STALE.
  auto executor_timeout =
      services::EnvInt("JOBSCHED_EXECUTOR_TIMEOUT_MS", 30'000, 100, 86'400'000);
  if (!executor_timeout.ok()) return executor_timeout.status();

  ApiOptions options;
  options.executor_timeout = std::chrono::milliseconds(*executor_timeout);
  options.ack_timeout = std::chrono::milliseconds(*append_timeout);
  options.port = static_cast<int>(port.value());
  options.threads = static_cast<int>(threads.value());
  options.instance_id = config.instance_id;
  return std::unique_ptr<services::Service>(new ApiService(
      std::move(producer).value(), options, config, services::EnvOr("JOBSCHED_API_PORT_FILE", "")));
}

}  // namespace
}  // namespace jobsched::api

int main() { return jobsched::services::ServiceMain("api", jobsched::api::MakeApiService); }
