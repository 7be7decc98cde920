#include "services/api/http_responder.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <sys/socket.h>

#include <cstdio>
#include <exception>
#include <utility>

namespace jobsched::api {

using nlohmann::json;

// ---------------------------------------------------------------------------
// RequestMetrics

struct RequestMetrics::Families {
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& duration;
  prometheus::Counter& submitted;
};

RequestMetrics::RequestMetrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)) {
  auto& requests = prometheus::BuildCounter()
                       .Name("jobsched_api_requests_total")
                       .Help(
                           "HTTP requests answered by the API, by method, route template and "
                           "status (route=\"unmatched\" when no route matched)")
                       .Register(*registry_);
  auto& duration = prometheus::BuildHistogram()
                       .Name("jobsched_api_request_duration_seconds")
                       .Help(
                           "Time from a request's arrival to its answer (for a stream: to its "
                           "end), by method and route template")
                       .Register(*registry_);
  auto& submitted = prometheus::BuildCounter()
                        .Name("jobsched_api_jobs_submitted_total")
                        .Help("Job submissions the event log accepted (batch items included)")
                        .Register(*registry_)
                        .Add({});
  families_ = std::make_unique<Families>(Families{requests, duration, submitted});
}

RequestMetrics::~RequestMetrics() = default;

void RequestMetrics::Record(const std::string& method, const std::string& route, int status,
                            SteadyClock::duration elapsed) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  families_->requests
      .Add({{"method", method}, {"route", route}, {"status", std::to_string(status)}})
      .Increment();
  families_->duration.Add({{"method", method}, {"route", route}}, kBuckets)
      .Observe(std::chrono::duration<double>(elapsed).count());
}

void RequestMetrics::JobsSubmitted(double count) { families_->submitted.Increment(count); }

// ---------------------------------------------------------------------------

void LogRequest(spdlog::logger& logger, RequestMetrics* metrics, const RequestLabels& labels,
                int status, std::string_view error_code, std::string_view error_message) {
  const auto elapsed = SteadyClock::now() - labels.start;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
  // The request id is the correlation id of the events the request appends.
  services::LogJob(logger, status >= 400 ? spdlog::level::warn : spdlog::level::debug,
                   "http request", {labels.job_id, "", "", labels.request_id},
                   {{"method", labels.method},
                    {"path", labels.path},
                    {"route", labels.route},
                    {"status", std::to_string(status)},
                    {"ms", std::to_string(ms)},
                    {"request_id", labels.request_id},
                    {"error", error_code},
                    {"error_message", error_message}});
  if (metrics != nullptr) metrics->Record(labels.method, labels.route, status, elapsed);
}

// ---------------------------------------------------------------------------
// Responder

std::shared_ptr<Responder> Responder::Make(Http::ResponseWriter writer,
                                           std::shared_ptr<ServerState> state,
                                           std::shared_ptr<spdlog::logger> logger,
                                           const RequestInfo& req) {
  auto r =
      std::shared_ptr<Responder>(new Responder(std::move(writer), state, std::move(logger), req));
  std::lock_guard<std::mutex> lock(state->mu);
  r->id_ = state->next_id++;
  state->pending.emplace(r->id_, r);
  return r;
}

Responder::Responder(Http::ResponseWriter writer, std::shared_ptr<ServerState> state,
                     std::shared_ptr<spdlog::logger> logger, const RequestInfo& req)
    : writer_(std::move(writer)), state_(std::move(state)), logger_(std::move(logger)) {
  labels_.method = req.method_name;
  labels_.path = req.path;
  labels_.request_id = req.request_id;
  labels_.start = req.start;
}

Responder::~Responder() {
  if (!sent_.load()) {
    services::Log(
        *logger_, spdlog::level::err, "request dropped without a response",
        {{"method", labels_.method}, {"path", labels_.path}, {"request_id", labels_.request_id}});
    SendError({"internal", "the server dropped the request; retry", ""});
  }
}

void Responder::SendJson(int status, const json& body, const std::string& location) {
  Expect(TrySendBody(status, body.dump(-1, ' ', false, json::error_handler_t::replace), location),
         status);
}

void Responder::SendError(const ApiError& error, std::vector<Http::Method> allow) {
  Expect(TrySendError(error, std::move(allow)), HttpStatusOf(error.code));
}

bool Responder::TrySendError(const ApiError& error, std::vector<Http::Method> allow) {
  return Send(HttpStatusOf(error.code),
              ErrorBody(error).dump(-1, ' ', false, json::error_handler_t::replace),
              MIME(Application, Json), "", std::move(allow), error.code, error.message);
}

bool Responder::TrySendErrorWith(const ApiError& error, const json& extra,
                                 const std::string& location) {
  json body = ErrorBody(error);
  for (const auto& [key, value] : extra.items()) body[key] = value;
  return Send(HttpStatusOf(error.code), body.dump(-1, ' ', false, json::error_handler_t::replace),
              MIME(Application, Json), location, {}, error.code, error.message);
}

bool Responder::TrySendBody(int status, const std::string& body, const std::string& location) {
  return Send(status, body, MIME(Application, Json), location, {}, "", "");
}

bool Responder::TrySendTyped(int status, const std::string& body,
                             const Http::Mime::MediaType& type) {
  return Send(status, body, type, "", {}, "", "");
}

void Responder::Expect(bool first, int status) {
  if (!first) {
    services::Log(
        *logger_, spdlog::level::err, "second response to a request ignored",
        {{"method", labels_.method}, {"path", labels_.path}, {"status", std::to_string(status)}});
  }
}

bool Responder::Send(int status, const std::string& body, const Http::Mime::MediaType& type,
                     const std::string& location, std::vector<Http::Method> allow,
                     std::string_view error_code, std::string_view error_message) {
  if (sent_.exchange(true)) return false;
  // Logged and counted before the client can have the answer: whoever reads
  // the metrics after a response sees it counted.
  LogRequest(*logger_, state_->metrics.get(), labels_, status, error_code, error_message);
  {
    std::lock_guard<std::mutex> lock(handler_mu_);
    if (in_handler_ && std::this_thread::get_id() != handler_thread_) {
      held_ = [this, status, body, type, location, allow = std::move(allow)] {
        Deliver(status, body, type, location, allow);
      };
      return true;
    }
  }
  Deliver(status, body, type, location, allow);
  return true;
}

void Responder::HandlerReturned() {
  std::function<void()> held;
  {
    std::lock_guard<std::mutex> lock(handler_mu_);
    in_handler_ = false;
    held.swap(held_);
  }
  if (held) held();
}

void Responder::Deliver(int status, const std::string& body, const Http::Mime::MediaType& type,
                        const std::string& location, const std::vector<Http::Method>& allow) {
  {
    std::shared_lock<std::shared_mutex> lock(state_->send_mu);
    if (!state_->closed) {
      writer_.headers().add<RequestIdHeader>(labels_.request_id);
      if (!location.empty()) writer_.headers().add<Http::Header::Location>(location);
      if (!allow.empty()) writer_.headers().add<Http::Header::Allow>(allow);
      auto logger = logger_;
      auto state = state_;
      {
        std::lock_guard<std::mutex> lock(state_->mu);
        ++state_->unflushed;
      }
      try {
        // Rejected when the client has gone away: nothing left to do but note it.
        writer_.send(static_cast<Http::Code>(status), body, type)
            .then([state](ssize_t) { state->Flushed(); },
                  [state, logger](std::exception_ptr& e) {
                    state->Flushed();
                    try {
                      std::rethrow_exception(e);
                    } catch (const std::exception& ex) {
                      services::Log(*logger, spdlog::level::debug, "response not delivered",
                                    {{"reason", ex.what()}});
                    }
                  });
      } catch (const std::exception& e) {
        state_->Flushed();
        services::Log(*logger_, spdlog::level::warn, "response not sent", {{"reason", e.what()}});
      }
    }
  }
  Finish();
}

void Responder::Finish() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->pending.erase(id_);
  }
  state_->cv.notify_all();
}

std::shared_ptr<HttpStream> Responder::StartStream(const std::vector<std::string>& headers) {
  bool closed;
  {
    std::shared_lock<std::shared_mutex> lock(state_->send_mu);
    closed = state_->closed;
  }
  if (closed) {
    TrySendError({"shutting_down", "the server is shutting down; retry on another instance", ""});
    return nullptr;
  }
  if (sent_.exchange(true)) return nullptr;
  auto stream =
      std::shared_ptr<HttpStream>(new HttpStream(writer_.peer(), state_, logger_, labels_, id_));
  {
    // From here on the stream, not `pending`, tracks the request: Stop()
    // ends streams at once instead of waiting for them to drain.
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->streams.emplace(id_, stream);
    state_->pending.erase(id_);
  }
  state_->cv.notify_all();
  std::string head = "HTTP/1.1 200 OK\r\n";
  for (const std::string& h : headers) head += h + "\r\n";
  head += "X-Request-Id: " + labels_.request_id + "\r\n";
  head += "Transfer-Encoding: chunked\r\n\r\n";
  bool sent = false;
  {
    std::lock_guard<std::mutex> lock(stream->mu_);
    sent = !stream->closed_ && stream->SendRaw(std::move(head));
  }
  if (!sent) stream->Close("client gone before the stream began");
  return stream;
}

// ---------------------------------------------------------------------------
// HttpStream

HttpStream::HttpStream(std::weak_ptr<Pistache::Tcp::Peer> peer, std::shared_ptr<ServerState> state,
                       std::shared_ptr<spdlog::logger> logger, RequestLabels labels, uint64_t id)
    : peer_(std::move(peer)),
      state_(std::move(state)),
      logger_(std::move(logger)),
      labels_(std::move(labels)),
      id_(id) {}

HttpStream::~HttpStream() { Close("stream released"); }

bool HttpStream::open() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !closed_ && !peer_.expired();
}

bool HttpStream::Send(std::string_view data) {
  if (data.empty()) return open();
  char size[24];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  std::string chunk(size);
  chunk.append(data);
  chunk += "\r\n";
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return false;
  return SendRaw(std::move(chunk));
}

// Callers hold mu_ (or own the stream exclusively).
bool HttpStream::SendRaw(std::string bytes) {
  std::shared_lock<std::shared_mutex> lock(state_->send_mu);
  if (state_->closed) return false;
  std::shared_ptr<Pistache::Tcp::Peer> peer = peer_.lock();
  if (!peer) return false;
  try {
    bytes_ += bytes.size();
    const size_t size = bytes.size();  // RawBuffer sends `length` bytes: 0 sends nothing
    peer->send(Pistache::RawBuffer(std::move(bytes), size))
        .then([](ssize_t) {}, Pistache::Async::IgnoreException);  // a gone client: noticed later
    return true;
  } catch (const std::exception& e) {
    services::Log(*logger_, spdlog::level::debug, "stream write failed",
                  {{"request_id", labels_.request_id}, {"reason", e.what()}});
    return false;
  }
}

void HttpStream::Close(const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
    // The last chunk, so clients see a complete response; then, once it is
    // written, the connection is shut down: Pistache does not end a
    // connection it did not answer itself.
    std::shared_lock<std::shared_mutex> send_lock(state_->send_mu);
    std::shared_ptr<Pistache::Tcp::Peer> peer = state_->closed ? nullptr : peer_.lock();
    if (peer) {
      std::weak_ptr<Pistache::Tcp::Peer> weak = peer;
      auto end = [weak](auto&&...) {
        if (auto p = weak.lock()) ::shutdown(p->fd(), SHUT_RDWR);
      };
      try {
        peer->send(Pistache::RawBuffer(std::string("0\r\n\r\n"), 5))
            .then([end](ssize_t) { end(); }, [end](std::exception_ptr&) { end(); });
      } catch (const std::exception&) {
        end();
      }
    }
  }
  services::Log(
      *logger_, spdlog::level::debug, "stream closed",
      {{"request_id", labels_.request_id}, {"reason", reason}, {"bytes", std::to_string(bytes_)}});
  LogRequest(*logger_, state_->metrics.get(), labels_, 200, "", "");
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->streams.erase(id_);
  }
  state_->cv.notify_all();
}

void StopStreams(ServerState& state) {
  std::vector<std::shared_ptr<HttpStream>> open;
  {
    std::lock_guard<std::mutex> lock(state.mu);
    for (const auto& [id, weak] : state.streams) {
      if (auto s = weak.lock()) open.push_back(std::move(s));
    }
  }
  for (const auto& s : open) {
    if (s->on_stop_) s->on_stop_();
    s->Close("server stopping");
  }
}

}  // namespace jobsched::api
