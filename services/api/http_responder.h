// The HTTP plumbing of the API below the handlers: what a handler knows of a
// request (RequestInfo), how it answers (Responder: once, from any thread, or
// by taking the connection over for a stream, HttpStream), and the state the
// server shares with every response still open (ServerState). Each answered
// request writes one log line and records the request metrics
// (jobsched_api_requests_total, jobsched_api_request_duration_seconds).
#pragma once

#include <pistache/http.h>
#include <pistache/http_header.h>
#include <pistache/peer.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "services/api/api_error.h"
#include "services/api/request_params.h"
#include "services/common/logging.h"

namespace prometheus {
class Registry;
}

namespace jobsched::api {

namespace Http = Pistache::Http;
using SteadyClock = std::chrono::steady_clock;

// The response header that echoes the request's correlation id.
class RequestIdHeader final : public Http::Header::Header {
 public:
  NAME("X-Request-Id")
  RequestIdHeader() = default;
  explicit RequestIdHeader(std::string value) : value_(std::move(value)) {}
  void parse(const std::string& data) override { value_ = data; }
  void write(std::ostream& os) const override { os << value_; }

 private:
  std::string value_;
};

// What a handler needs from a Pistache request, copied: Pistache reuses the
// request object as soon as onRequest returns.
struct RequestInfo {
  Http::Method method = Http::Method::Get;
  std::string method_name;
  std::string path;
  QueryParams query;
  std::string body;
  std::optional<std::string> idempotency_key;  // the Idempotency-Key header
  std::optional<std::string> last_event_id;    // the Last-Event-ID header (streams)
  std::string request_id;                      // X-Request-Id, or a random id
  SteadyClock::time_point start;
  // The values of the route template's {name} segments (routes.h).
  std::map<std::string, std::string> path_params;
};

// The request metrics, recorded where a request's log line is written.
class RequestMetrics {
 public:
  // Registers the families in `registry` (kept alive by this object).
  explicit RequestMetrics(std::shared_ptr<prometheus::Registry> registry);
  ~RequestMetrics();
  RequestMetrics(const RequestMetrics&) = delete;
  RequestMetrics& operator=(const RequestMetrics&) = delete;

  // `route` is the route template, or "unmatched".
  void Record(const std::string& method, const std::string& route, int status,
              SteadyClock::duration elapsed);
  // One accepted submission (a batch item counts as one).
  void JobsSubmitted(double count);

 private:
  struct Families;
  const std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> families_;
};

class Responder;
class HttpStream;

// Shared by the server and every response still open; outlives both.
struct ServerState {
  explicit ServerState(std::shared_ptr<RequestMetrics> m = nullptr) : metrics(std::move(m)) {}

  // Held shared while a response is handed to Pistache, exclusively by Stop()
  // to set `closed`: after that no response touches the (gone) transport.
  std::shared_mutex send_mu;
  bool closed = false;  // guarded by send_mu

  std::mutex mu;
  std::condition_variable cv;  // notified when `pending` or `unflushed` shrink
  // Requests not answered yet, by sequence number. Guarded by mu.
  std::map<uint64_t, std::weak_ptr<Responder>> pending;
  // Streams still open, by the sequence number of their request. Guarded by mu.
  std::map<uint64_t, std::weak_ptr<HttpStream>> streams;
  uint64_t next_id = 0;  // guarded by mu
  // Responses handed to Pistache whose write has not completed. Guarded by mu.
  int unflushed = 0;

  const std::shared_ptr<RequestMetrics> metrics;  // may be null (nothing recorded)

  void Flushed() {
    {
      std::lock_guard<std::mutex> lock(mu);
      --unflushed;
    }
    cv.notify_all();
  }
};

// What a request's log line and metrics say about it, fixed when it arrives.
struct RequestLabels {
  std::string method;
  std::string path;
  std::string route = "unmatched";  // the route template
  std::string request_id;
  std::string job_id;
  SteadyClock::time_point start;
};

// A response the handler writes itself, in pieces, after Responder::StartStream
// sent the status line and headers (chunked transfer encoding; each Send is
// one chunk). Send from any thread, one sender at a time: per Pistache's
// notes, data goes straight to the peer as raw buffers, never through
// ResponseStream::flush. Close() (or the destructor) ends the response,
// writes the request's log line (status 200, the stream's duration) and
// records its metrics, and closes the connection.
class HttpStream {
 public:
  ~HttpStream();
  HttpStream(const HttpStream&) = delete;
  HttpStream& operator=(const HttpStream&) = delete;

  // Sends `data` as one chunk (empty data sends nothing). False, sending
  // nothing, once the stream is closed, the client went away or the server
  // is stopping: the handler should then let go of the stream.
  bool Send(std::string_view data);

  // Whether Send may still succeed.
  bool open() const;

  // Ends the response and the connection. Idempotent; `reason` goes to the log.
  void Close(const std::string& reason = "ended");

  // Called once when the server stops (from Stop(), on its thread) while this
  // stream is open; the handler should wind its producer down. Close()
  // follows right after. Set it before handing the stream to another thread.
  void OnServerStop(std::function<void()> fn) { on_stop_ = std::move(fn); }

  const std::string& request_id() const { return labels_.request_id; }

 private:
  friend class Responder;
  HttpStream(std::weak_ptr<Pistache::Tcp::Peer> peer, std::shared_ptr<ServerState> state,
             std::shared_ptr<spdlog::logger> logger, RequestLabels labels, uint64_t id);
  // From ServerState's owner at Stop(): runs on_stop_, then Close().
  friend void StopStreams(ServerState& state);

  bool SendRaw(std::string bytes);

  const std::weak_ptr<Pistache::Tcp::Peer> peer_;
  const std::shared_ptr<ServerState> state_;
  const std::shared_ptr<spdlog::logger> logger_;
  const RequestLabels labels_;
  const uint64_t id_;
  std::function<void()> on_stop_;
  mutable std::mutex mu_;  // serialises sends and Close
  bool closed_ = false;    // guarded by mu_
  uint64_t bytes_ = 0;     // guarded by mu_
};

// Runs every open stream's OnServerStop and closes it. Call before the
// transport goes away.
void StopStreams(ServerState& state);

// Answers one request exactly once, from whichever thread finishes it, and
// writes the request's log line. Thread-safe; SetJobId and SetRoute must be
// called before the responder is shared with another thread. The Send*
// methods expect to be the first answer (a second one is a bug, logged); the
// TrySend* methods are for racing answerers (acknowledgement vs. deadline)
// and report who won. StartStream answers by handing the connection over.
class Responder {
 public:
  // Creates the responder and registers it as pending in `state`.
  static std::shared_ptr<Responder> Make(Http::ResponseWriter writer,
                                         std::shared_ptr<ServerState> state,
                                         std::shared_ptr<spdlog::logger> logger,
                                         const RequestInfo& req);

  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  // A request that nobody answered is a bug; the client still gets an answer.
  ~Responder();

  void SetJobId(std::string job_id) { labels_.job_id = std::move(job_id); }
  // The route template the request matched (metrics label); "unmatched" by default.
  void SetRoute(std::string route) { labels_.route = std::move(route); }

  // Whether the request was answered (by anyone).
  bool answered() const { return sent_.load(); }

  // Called by the server on the I/O thread when the handler has returned. An
  // answer another thread gave while the handler still ran (an acknowledgement
  // faster than the handler) was held until now and goes out here, on the I/O
  // thread: Pistache's connection is never written by two threads at once.
  void HandlerReturned();

  void SendJson(int status, const nlohmann::json& body, const std::string& location = "");

  // The one way errors reach clients: status from HttpStatusOf, body from ErrorBody.
  void SendError(const ApiError& error, std::vector<Http::Method> allow = {});

  bool TrySendError(const ApiError& error, std::vector<Http::Method> allow = {});

  // An error whose body has members beside "error" (`extra`, an object).
  bool TrySendErrorWith(const ApiError& error, const nlohmann::json& extra,
                        const std::string& location);

  // Sends a pre-rendered JSON body.
  bool TrySendBody(int status, const std::string& body, const std::string& location = "");

  // Sends a body of another type (e.g. the Prometheus text exposition).
  bool TrySendTyped(int status, const std::string& body, const Http::Mime::MediaType& type);

  // Answers by taking the connection over: sends "200 OK" with `headers`
  // ("Name: value", e.g. "Content-Type: text/event-stream") and
  // Transfer-Encoding: chunked, and returns the stream to write the body
  // to. Null, sending nothing, when the request was answered before or the
  // server is stopping (then it answers 503 shutting_down itself).
  std::shared_ptr<HttpStream> StartStream(const std::vector<std::string>& headers);

 private:
  Responder(Http::ResponseWriter writer, std::shared_ptr<ServerState> state,
            std::shared_ptr<spdlog::logger> logger, const RequestInfo& req);

  void Expect(bool first, int status);

  // Returns false, sending nothing, if the request was answered before.
  bool Send(int status, const std::string& body, const Http::Mime::MediaType& type,
            const std::string& location, std::vector<Http::Method> allow,
            std::string_view error_code, std::string_view error_message);

  // Hands the answer to Pistache (unless the server stopped), then Finish.
  void Deliver(int status, const std::string& body, const Http::Mime::MediaType& type,
               const std::string& location, const std::vector<Http::Method>& allow);

  // Drops an answered request from `pending`.
  void Finish();

  Http::ResponseWriter writer_;
  const std::shared_ptr<ServerState> state_;
  const std::shared_ptr<spdlog::logger> logger_;
  RequestLabels labels_;
  uint64_t id_ = 0;  // key in state_->pending; set by Make before sharing
  std::atomic<bool> sent_{false};
  const std::thread::id handler_thread_ = std::this_thread::get_id();  // made on the I/O thread
  std::mutex handler_mu_;
  bool in_handler_ = true;      // guarded by handler_mu_
  std::function<void()> held_;  // guarded by handler_mu_: an answer awaiting HandlerReturned
};

using ResponderPtr = std::shared_ptr<Responder>;

// The log line and metrics of one answered request or ended stream.
void LogRequest(spdlog::logger& logger, RequestMetrics* metrics, const RequestLabels& labels,
                int status, std::string_view error_code, std::string_view error_message);

}  // namespace jobsched::api
