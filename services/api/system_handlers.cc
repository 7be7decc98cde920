// The system resource: GET /health (the API's own health), GET
// /api/v1/metrics (the system's view, ApiOptions::system_metrics), GET
// /api/v1/openapi.json, and the two streams (ApiOptions' handlers).
#include <chrono>
#include <string>
#include <utility>

#include "services/api/api_internal.h"
#include "services/api/openapi.h"

namespace jobsched::api {
namespace {

// How long /health and readiness wait for the database to answer SELECT 1.
constexpr std::chrono::milliseconds kProbeTimeout{1000};

ApiError NotServed(const RequestInfo& req) {
  return {"not_implemented", req.method_name + " " + req.path + " is not served by this build", ""};
}

}  // namespace

json ApiApplication::Impl::HealthReport() {
  const Status db = queries_->Ping(kProbeTimeout);
  json database = {{"ok", db.ok()}};
  if (!db.ok()) {
    database["error"] = db.message();
    services::Log(*logger_, spdlog::level::warn, "health: PostgreSQL is down",
                  {{"reason", db.message()}});
  }
  const bool broker = producer_.Reachable();
  // As GET /api/v1/executors judges them (STALE: heartbeat older than
  // executor_timeout, or the last one of a graceful stop).
  json executors = {{"total", nullptr}, {"active", nullptr}, {"stale", nullptr}};
  if (db.ok()) {
    Result<json> listed = queries_->Executors(clock_.Now(), options_.executor_timeout);
    if (listed.ok()) {
      int active = 0;
      int stale = 0;
      for (const json& e : listed.value().value("executors", json::array())) {
        (e.value("status", "") == "ACTIVE" ? active : stale) += 1;
      }
      executors = {{"total", active + stale}, {"active", active}, {"stale", stale}};
    } else {
      executors["error"] = listed.status().message();
    }
  } else {
    executors["error"] = "the database is unreachable";
  }
  // Liveness: the process serves; the database's and the broker's states are information.
  return {{"status", db.ok() && broker ? "ok" : "degraded"},
          {"database", std::move(database)},
          {"broker", {{"ok", broker}}},
          {"executors", std::move(executors)},
          {"postgres", db.ok() ? "ok" : "down"},
          {"kafka", broker ? "ok" : "down"}};
}

services::Readiness ApiApplication::Impl::Ready() {
  const Status db = queries_->Ping(kProbeTimeout);
  const bool broker = producer_.Reachable();
  services::Readiness out;
  out.Check("broker", broker, broker ? "a broker is reachable" : "no broker is reachable");
  out.Check("database", db.ok(), db.ok() ? "reachable" : db.message());
  return out;
}

void ApiApplication::Impl::Health(const ResponderPtr& r) {
  bool queued = workers_.Submit([this, r] { r->SendJson(200, HealthReport()); });
  if (!queued) {
    const bool broker = producer_.Reachable();
    r->SendJson(200, {{"status", "degraded"},
                      {"database", {{"ok", false}, {"error", "too many queries are waiting"}}},
                      {"broker", {{"ok", broker}}},
                      {"executors", {{"total", nullptr}, {"active", nullptr}, {"stale", nullptr}}},
                      {"postgres", "busy"},
                      {"kafka", broker ? "ok" : "down"}});
  }
}

void ApiApplication::Impl::SystemMetrics(const ResponderPtr& r, const RequestInfo& req) {
  if (auto e = CheckQueryParams(req.query, {})) return r->SendError(*e);
  if (!options_.system_metrics) return r->SendError(NotServed(req));
  auto logger = logger_;
  bool queued = workers_.Submit([r, logger, collect = options_.system_metrics] {
    try {
      Result<std::string> text = collect();
      if (!text.ok()) return r->SendError(FromStatus(text.status(), "database_unavailable"));
      r->TrySendTyped(200, text.value(),
                      Http::Mime::MediaType::fromString("text/plain; version=0.0.4"));
    } catch (const std::exception& e) {
      services::Log(*logger, spdlog::level::err, "metrics collection failed",
                    {{"reason", e.what()}});
      r->TrySendError({"internal", "internal error; the request was not processed", ""});
    }
  });
  if (!queued) {
    r->TrySendError({"overloaded", "too many queries are waiting for PostgreSQL; retry later", ""});
  }
}

void ApiApplication::Impl::OpenApi(const ResponderPtr& r, const RequestInfo& req) {
  if (auto e = CheckQueryParams(req.query, {})) return r->SendError(*e);
  r->TrySendBody(200, OpenApiDocument());
}

void ApiApplication::Impl::Stream(const ResponderPtr& r, const RequestInfo& req,
                                  const RouteHandler& handler) {
  if (!handler) return r->SendError(NotServed(req));
  handler(r, req);
}

}  // namespace jobsched::api
