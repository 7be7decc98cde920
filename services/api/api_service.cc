#include "services/api/api_service.h"

#include <algorithm>
#include <memory>
#include <string>

#include "projections/migrations.h"
#include "services/api/api_application.h"
#include "services/api/event_stream.h"
#include "services/api/pg_pool.h"
#include "services/api/sse.h"
#include "services/api/sse_route.h"
#include "services/api/system_metrics.h"
#include "services/common/admin_server.h"
#include "services/common/config.h"
#include "services/common/logging.h"

namespace jobsched::api {
namespace {

// The API as a services::Service: owns its producer, the live-update
// streams (one tail of job-events for every client) and the application.
class ApiService final : public services::Service {
 public:
  ApiService(std::unique_ptr<events::EventLog> log, std::unique_ptr<events::Producer> producer,
             ApiOptions options, services::ServiceContext& context, std::string port_file)
      : log_(std::move(log)),
        producer_(std::move(producer)),
        hub_(context.log, context.config.topics()),
        snapshot_pool_(context.config.database_url, PgPoolOptions{.size = 2}),
        sse_(SseOptions{}, hub_,
             PgJobSnapshot(snapshot_pool_, options.projection, context.config.topics().job_events),
             &context.metrics),
        app_(WithRoutes(std::move(options), context), *producer_, context.config.database_url,
             context.config.topics(), context.clock),
        port_file_(std::move(port_file)) {}

  Status Start() override {
    // Streams wait for the tail; without Kafka they answer 503 and retry it.
    if (Status s = hub_.Start(); !s.ok()) {
      services::Log(*services::GetLogger("api"), spdlog::level::warn,
                    "live updates unavailable until Kafka answers", {{"reason", s.message()}});
    }
    Status s = app_.Start();
    if (!s.ok() || port_file_.empty()) return s;
    return services::WriteFileAtomically(port_file_, std::to_string(app_.port()));
  }

  // The streams first: each gets its last chunk while the server still runs.
  void Stop() override {
    sse_.Stop();
    app_.Stop();
    hub_.Stop();
  }

  nlohmann::json Health() override { return app_.Health(); }

  services::Readiness Ready() override { return app_.Ready(); }

 private:
  // The routes served by the parts this service owns: the streams, and the
  // system's metrics over the process's registry.
  ApiOptions WithRoutes(ApiOptions options, services::ServiceContext& context) {
    options.metrics =
        std::shared_ptr<prometheus::Registry>(&context.metrics, [](prometheus::Registry*) {});
    options.job_stream = [this](const std::shared_ptr<Responder>& r, const RequestInfo& req) {
      ServeJobStreamRoute(sse_, r, req);
    };
    options.stream = [this](const std::shared_ptr<Responder>& r, const RequestInfo& req) {
      ServeStreamRoute(sse_, r, req);
    };
    SystemMetricsSources sources;
    sources.database_url = context.config.database_url;
    sources.log = &context.log;
    sources.topics = context.config.topics();
    sources.executor_timeout = options.executor_timeout;
    sources.clock = &context.clock;
    sources.registries = {&context.metrics};
    options.system_metrics = MakeSystemMetricsCollector(std::move(sources));
    return options;
  }

  std::unique_ptr<events::EventLog> log_;       // the API's own client (see MakeApi)
  std::unique_ptr<events::Producer> producer_;  // outlives app_ (declared first)
  EventStreamHub hub_;
  PgPool snapshot_pool_;
  SseServer sse_;
  ApiApplication app_;
  std::string port_file_;
};

}  // namespace

Result<std::unique_ptr<services::Service>> MakeApi(services::ServiceContext& context) {
  const services::ServiceConfig& config = context.config;
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
  services::ServiceConfig api_config = config;
  const std::string producer_timeout_ms =
      std::to_string(std::max<int64_t>(*append_timeout - 1000, 500));
  api_config.kafka_extra.try_emplace("message.timeout.ms", producer_timeout_ms);
  api_config.kafka_extra.try_emplace("socket.timeout.ms", producer_timeout_ms);
  api_config.kafka_extra.try_emplace("reconnect.backoff.max.ms", "1000");
  //  - linger.ms JOBSCHED_API_LINGER_MS: how long a submission waits for
  //    others to share its produce request. An acknowledgement may beat the
  //    handler's return; the Responder holds such an answer until the handler
  //    returned and sends it from the I/O thread.
  auto linger = services::EnvInt("JOBSCHED_API_LINGER_MS", 2, 0, 1000);
  if (!linger.ok()) return linger.status();
  api_config.kafka_extra.try_emplace("linger.ms", std::to_string(*linger));
  auto api_log = services::MakeEventLog(api_config);
  if (!api_log.ok()) return api_log.status();
  auto producer = api_log.value()->NewProducer("jobsched-api-" + config.instance_id);
  if (!producer.ok()) return producer.status();

  // The dispatcher's lease timeout: GET /api/v1/executors calls older heartbeats STALE.
  auto executor_timeout = services::EnvInt("JOBSCHED_EXECUTOR_TIMEOUT_MS", 30'000, 100, 86'400'000);
  if (!executor_timeout.ok()) return executor_timeout.status();

  ApiOptions options;
  options.executor_timeout = std::chrono::milliseconds(*executor_timeout);
  options.ack_timeout = std::chrono::milliseconds(*append_timeout);
  options.port = static_cast<int>(port.value());
  options.threads = static_cast<int>(threads.value());
  options.instance_id = config.instance_id;
  return std::unique_ptr<services::Service>(
      new ApiService(std::move(api_log).value(), std::move(producer).value(), options, context,
                     services::EnvOr("JOBSCHED_API_PORT_FILE", "")));
}

}  // namespace jobsched::api
