// ApiApplication: the Pistache server (start, stop, drain), the request's
// journey from Pistache to a handler (OnRequest, Route, Dispatch) and the
// public face. The handlers are in the *_handlers.cc files (api_internal.h),
// the route table in routes.h, the responder in http_responder.h.
#include "services/api/api_application.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/http_header.h>
#include <pistache/mime.h>
#include <pistache/net.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "events/ids.h"
#include "services/api/api_internal.h"
#include "services/api/pg_queries.h"
#include "services/api/routes.h"
#include "services/api/workflow_routes.h"
#include "services/common/logging.h"

namespace jobsched::api {
namespace {

constexpr size_t kMaxRequestIdChars = 200;
// Pistache rejects (with a plain-text 413) requests above its own limit; ours
// is checked first, so Pistache's is set this much higher.
constexpr size_t kPistacheSlack = 1u << 20;

// Pistache clones the handler per I/O thread; every clone forwards to the sink.
class HttpHandler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(HttpHandler)
  explicit HttpHandler(RequestSink* sink) : sink_(sink) {}

  void onRequest(const Http::Request& request, Http::ResponseWriter writer) override {
    sink_->OnRequest(request, std::move(writer));
  }

  // Pistache's header/body timeouts; answered in our error format.
  void onTimeout(const Http::Request&, Http::ResponseWriter writer) override {
    ApiError error{"request_timeout", "the request was not received in time", ""};
    writer
        .send(static_cast<Http::Code>(HttpStatusOf(error.code)), ErrorBody(error).dump(),
              MIME(Application, Json))
        .then([](ssize_t) {}, Pistache::Async::IgnoreException);  // a client that slow is gone
  }

 private:
  RequestSink* sink_;
};

// Percent-decoding of a query value ('+' is a space); malformed escapes stay as they are.
std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool IsPrintableAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

Http::Method MethodOf(const std::string& name) {
  if (name == "POST") return Http::Method::Post;
  if (name == "PATCH") return Http::Method::Patch;
  if (name == "DELETE") return Http::Method::Delete;
  if (name == "PUT") return Http::Method::Put;
  return Http::Method::Get;
}

}  // namespace

ApiOptions ApiApplication::Impl::WithRegistry(ApiOptions options) {
  if (!options.metrics) options.metrics = std::make_shared<prometheus::Registry>();
  return options;
}

Status ApiApplication::Impl::Start() {
  if (started_) return Status::Internal("ApiApplication::Start called twice");
  started_ = true;
  try {
    endpoint_ = std::make_unique<Http::Endpoint>(
        Pistache::Address(options_.host, Pistache::Port(static_cast<uint16_t>(options_.port))));
    auto opts = Http::Endpoint::options()
                    .threads(std::max(options_.threads, 1))
                    .flags(Pistache::Tcp::Options::ReuseAddr)
                    .maxRequestSize(options_.max_request_bytes + kPistacheSlack);
    endpoint_->init(opts);
    endpoint_->setHandler(std::make_shared<HttpHandler>(this));
    accepting_ = true;
    endpoint_->serveThreaded();
    port_ = static_cast<uint16_t>(endpoint_->getPort());
  } catch (const std::exception& e) {
    accepting_ = false;
    endpoint_.reset();
    return Status::Unavailable("cannot serve HTTP on " + options_.host + ":" +
                               std::to_string(options_.port) + ": " + e.what());
  }
  services::Log(*logger_, spdlog::level::info, "api listening",
                {{"host", options_.host},
                 {"port", std::to_string(port_.load())},
                 {"threads", std::to_string(options_.threads)}});
  return Status::Ok();
}

void ApiApplication::Impl::Stop() {
  if (stopped_) return;
  stopped_ = true;
  accepting_ = false;
  if (endpoint_) {
    // Streams end at once (their clients resume elsewhere with Last-Event-ID);
    // requests get drain_timeout to finish.
    StopStreams(*state_);
    {
      std::unique_lock<std::mutex> lock(state_->mu);
      if (!state_->cv.wait_for(lock, options_.drain_timeout,
                               [&] { return state_->pending.empty() && state_->unflushed == 0; })) {
        services::Log(*logger_, spdlog::level::warn,
                      "stopping with requests in flight; answering them 503",
                      {{"in_flight", std::to_string(state_->pending.size())}});
      }
    }
    // What is still pending has an unknown outcome (e.g. Kafka never
    // answered): say so rather than leave the client hanging (Pistache 0.0.5
    // does not close open connections on shutdown).
    std::vector<ResponderPtr> left;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      for (const auto& [id, weak] : state_->pending) {
        if (auto r = weak.lock()) left.push_back(std::move(r));
      }
    }
    for (const auto& r : left) {
      r->TrySendError(
          {"shutting_down",
           "the server stopped before the request completed; it may still take effect: retry "
           "(submissions with the same Idempotency-Key)",
           ""});
    }
    left.clear();
    {
      std::unique_lock<std::mutex> lock(state_->mu);
      state_->cv.wait_for(lock, std::chrono::seconds(1), [&] { return state_->unflushed == 0; });
    }
    StopStreams(*state_);  // any a handler started while draining
    {
      std::unique_lock<std::shared_mutex> lock(state_->send_mu);
      state_->closed = true;
    }
    endpoint_->shutdown();
    endpoint_.reset();  // joins the I/O threads
  }
  {
    std::lock_guard<std::recursive_mutex> lock(guard_->mu);
    guard_->impl = nullptr;  // late producer callbacks no longer reach us
  }
  workers_.Stop();
  timer_.Stop();
}

void ApiApplication::Impl::OnRequest(const Http::Request& request, Http::ResponseWriter writer) {
  RequestInfo req;
  req.start = SteadyClock::now();
  req.method = request.method();
  req.method_name = Http::methodString(request.method());
  req.path = request.resource();
  for (auto it = request.query().parameters_begin(); it != request.query().parameters_end(); ++it) {
    req.query.emplace(PercentDecode(it->first), PercentDecode(it->second));
  }
  req.body = request.body();
  if (auto key = request.headers().tryGetRaw("Idempotency-Key")) req.idempotency_key = key->value();
  if (auto id = request.headers().tryGetRaw("X-Request-Id");
      id && !id->value().empty() && id->value().size() <= kMaxRequestIdChars &&
      IsPrintableAscii(id->value())) {
    req.request_id = id->value();
  } else {
    req.request_id = RandomId();
  }

  if (auto id = request.headers().tryGetRaw("Last-Event-ID")) req.last_event_id = id->value();

  auto r = Responder::Make(std::move(writer), state_, logger_, req);
  try {
    Route(r, req);
  } catch (const std::exception& e) {
    // A bug in a handler: the client gets a 500, the log gets the reason.
    services::Log(*logger_, spdlog::level::err, "request handler failed",
                  {{"path", req.path}, {"reason", e.what()}});
    r->SendError({"internal", "internal error; the request was not processed", ""});
  }
  r->HandlerReturned();
}

void ApiApplication::Impl::Route(const ResponderPtr& r, RequestInfo& req) {
  RouteLookup found = LookUpRoute(req.method_name, req.path);
  if (!found.path_template.empty()) r->SetRoute(found.path_template);
  if (!accepting_) {
    r->SendError({"shutting_down", "the server is shutting down; retry on another instance", ""});
    return;
  }
  if (req.body.size() > options_.max_request_bytes) {
    r->SendError({"payload_too_large",
                  "the request body is " + std::to_string(req.body.size()) +
                      " bytes; the limit is " + std::to_string(options_.max_request_bytes),
                  ""});
    return;
  }
  if (found.path_template.empty()) {
    r->SendError({"not_found",
                  "no such resource: " + req.method_name + " " + req.path +
                      " (the API lives under /api/v1/jobs, /api/v1/workflows and "
                      "/api/v1/schedules/preview)",
                  ""});
    return;
  }
  if (found.route == nullptr) {
    std::vector<Http::Method> allow;
    std::string names;
    for (const std::string& m : found.allowed) {
      allow.push_back(MethodOf(m));
      names += (names.empty() ? "" : ", ") + m;
    }
    r->SendError({"method_not_allowed",
                  req.method_name + " is not allowed on " + req.path + "; use " + names, ""},
                 std::move(allow));
    return;
  }
  req.path_params = std::move(found.params);
  Dispatch(r, req, found.route->id);
}

void ApiApplication::Impl::Dispatch(const ResponderPtr& r, const RequestInfo& req, RouteId route) {
  auto param = [&req](const char* name) {
    auto it = req.path_params.find(name);
    return it == req.path_params.end() ? std::string() : it->second;
  };
  switch (route) {
    case RouteId::kHealth:
      return Health(r);
    case RouteId::kOpenApi:
      return OpenApi(r, req);
    case RouteId::kSystemMetrics:
      return SystemMetrics(r, req);
    case RouteId::kStream:
      return Stream(r, req, options_.stream);
    case RouteId::kJobStream:
      return Stream(r, req, options_.job_stream);
    case RouteId::kSchedulePreview:
      return Preview(r, req);
    case RouteId::kListExecutors:
    case RouteId::kQueueStats:
    case RouteId::kListDeadLetters:
    case RouteId::kRequeueDeadLetter:
      return ServeOps(r, req);
    case RouteId::kListWorkflows:
    case RouteId::kSubmitWorkflow:
    case RouteId::kGetWorkflow:
    case RouteId::kCancelWorkflow: {
      auto wf = MatchWorkflowRoute(req.method, SplitPath(req.path), req.query);
      if (wf) {
        if (auto* error = std::get_if<ApiError>(&*wf)) return r->SendError(*error);
        if (auto* request = std::get_if<WorkflowRequest>(&*wf)) {
          return ServeWorkflows(r, req, std::move(*request));
        }
      }
      break;  // the route table and the workflow routes disagree: a bug
    }
    case RouteId::kListJobs:
      return ListJobs(r, req);
    case RouteId::kSubmitJob:
      return Submit(r, req);
    case RouteId::kSubmitBatch:
      return SubmitBatch(r, req);
    case RouteId::kGetJob:
      return GetJob(r, param("id"));
    case RouteId::kUpdateJob:
      return UpdateJob(r, param("id"), req);
    case RouteId::kDeleteJob:
      return RunCommand(r, param("id"), req, Command::kDelete);
    case RouteId::kListExecutions:
      return ListExecutions(r, param("id"), req);
    case RouteId::kJobEvents:  // job_events.h; read your writes as for /logs
      return Events(r, param("id"), req);
    case RouteId::kJobDependencies:
      return Dependencies(r, param("id"), req);
    case RouteId::kJobStats:
      return Stats(r, param("id"), req);
    case RouteId::kJobLogs:
      return Logs(r, param("id"), req);
    case RouteId::kJobWhy:
      return Why(r, param("id"), req);
    case RouteId::kCancelJob:
      return Cancel(r, param("id"), req);
    case RouteId::kPauseJob:
      return RunCommand(r, param("id"), req, Command::kPause);
    case RouteId::kResumeJob:
      return RunCommand(r, param("id"), req, Command::kResume);
    case RouteId::kRunJob:
      return RunCommand(r, param("id"), req, Command::kRunNow);
  }
  r->SendError({"internal", "no handler for " + req.method_name + " " + req.path, ""});
}

// ---------------------------------------------------------------------------

ApiApplication::ApiApplication(ApiOptions options, events::Producer& producer,
                               std::string database_url, events::Topics topics, Clock& clock)
    : ApiApplication(
          options, producer,
          std::make_shared<PgApiQueries>(std::move(database_url),
                                         PgPoolOptions{.size = Impl::QueryConnections(options)}),
          std::move(topics), clock) {}

ApiApplication::ApiApplication(ApiOptions options, events::Producer& producer,
                               std::shared_ptr<ApiQueries> queries, events::Topics topics,
                               Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(options), producer, std::move(queries),
                                   std::move(topics), clock)) {}

ApiApplication::~ApiApplication() = default;

Status ApiApplication::Start() { return impl_->Start(); }

void ApiApplication::Stop() { impl_->Stop(); }

int ApiApplication::port() const { return impl_->port(); }

nlohmann::json ApiApplication::Health() { return impl_->HealthReport(); }

services::Readiness ApiApplication::Ready() { return impl_->Ready(); }

std::shared_ptr<prometheus::Registry> ApiApplication::metrics() const {
  return impl_->metrics_registry();
}

}  // namespace jobsched::api
