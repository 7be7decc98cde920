// The HTTP side of the API's live updates: Server-Sent Events fed from the
// shared tail of `job-events` (event_stream.h).
//
//   GET /api/v1/jobs/{id}/stream?type=A,B      one job: `snapshot`, then its events
//   GET /api/v1/stream?type=A,B&job_id=J       every job (or one), events only
//
// Each message is
//   event: <EventType, e.g. JobSubmitted>
//   id: <position>
//   data: <the envelope as one line of JSON, see StreamEvent::data>
// A job stream without a Last-Event-ID first sends `event: snapshot` with the
// job as GET /api/v1/jobs/{id} shows it; its id is the last offset of the
// job's partition the snapshot reflects, so what follows continues exactly
// after it. Ids: on a job stream the record's offset in the job's partition
// ("17"); on /api/v1/stream the next offset of every partition, in partition
// order, joined by '.' ("5.0.12.3"): resuming continues on each partition
// exactly after the last message seen. The `Last-Event-ID` header (or the
// `last_event_id` query parameter, for clients that cannot set headers) resumes;
// the records between it and the live tail are read from Kafka first.
//
// Answers before the stream starts, as JSON errors (api_error.h):
//   400 invalid_parameter  unknown parameter, unknown type (lists the valid
//                          ones), malformed Last-Event-ID (field "Last-Event-ID")
//   400 invalid_job_id     404 job_not_found (job stream without Last-Event-ID
//                          checks the projection; with one, an unknown job just
//                          streams nothing)
//   410 last_event_id_expired  the Last-Event-ID is older than Kafka's
//                          retention: reconnect without it (a job stream then
//                          starts with a fresh snapshot)
//   503 overloaded (max_streams open), shutting_down, kafka_unavailable,
//       database_unavailable (the snapshot could not be read)
// While open: `: keepalive` comments every heartbeat interval; `retry:` once.
// A client that reads too slowly (more than `buffer_events` waiting) is cut
// off, as is every stream when the server stops: it resumes with its
// Last-Event-ID. A client that disconnects is noticed within `check_interval`.
//
// Threads: each open stream has a thread of its own (blocking Kafka and
// database reads stay off Pistache's I/O threads); max_streams bounds them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "events/status.h"
#include "services/api/api_error.h"
#include "services/api/event_stream.h"

namespace prometheus {
class Registry;
class Gauge;
class Counter;
}  // namespace prometheus

namespace jobsched::api {

using StreamQuery = std::unordered_map<std::string, std::string>;  // as request_params.h

// A job's current state for the snapshot message.
struct JobSnapshot {
  nlohmann::json job;       // as GET /api/v1/jobs/{id} shows it
  int64_t next_offset = 0;  // the job's partition's records below this are reflected
};
// Reads the snapshot of `job_id` (in `partition` of job-events); nullopt when
// there is no such job (or it was deleted). Errors: kUnavailable when the
// projection cannot be read. Called on a stream's own thread (may block).
using JobSnapshotFn =
    std::function<Result<std::optional<JobSnapshot>>(const std::string& job_id, int32_t partition)>;

// Where a stream goes: one HTTP connection, taken over from the router
// (sse_route.h adapts the API's Responder/HttpStream). Thread-safe. The
// handler calls Reject (once, instead of a stream), or Open then any number
// of Send, then Close.
class StreamTarget {
 public:
  virtual ~StreamTarget() = default;
  // Answers the request with `error` as JSON and status `http_status`.
  virtual void Reject(int http_status, const ApiError& error) = 0;
  // Sends the status line (200) and `headers` ("Name: value"); the body is
  // chunked. False when the client has gone or the server is stopping (the
  // target then answers 503 itself if it still can).
  virtual bool Open(const std::vector<std::string>& headers) = 0;
  // Sends one chunk; false when the client has gone or the server closed.
  virtual bool Send(std::string_view bytes) = 0;
  virtual bool Connected() const = 0;
  // Ends the body (the last chunk). Idempotent.
  virtual void Close() = 0;
};

// Message framing, exposed for tests.
std::string FormatMessage(std::string_view event, std::string_view id, std::string_view data);

// Positions in Last-Event-ID form.
std::string EncodeStreamId(const std::vector<int64_t>& next_offsets);
// nullopt unless `text` is `partitions` non-negative offsets joined by '.'.
std::optional<std::vector<int64_t>> DecodeStreamId(std::string_view text, int partitions);
// A job stream's id: a non-negative offset.
std::optional<int64_t> DecodeJobStreamId(std::string_view text);

// Every event type name ("JobSubmitted", ...), in schema order.
const std::vector<std::string>& StreamEventTypes();

struct SseOptions {
  size_t max_streams = 256;      // open streams at most; more get 503 overloaded
  size_t buffer_events = 1'000;  // events waiting per stream before it is cut off
  std::chrono::milliseconds heartbeat{15'000};
  std::chrono::milliseconds retry{3'000};  // the `retry:` hint to clients
  // How often an idle stream checks that its client is still there.
  std::chrono::milliseconds check_interval{500};
  // A stream ends cleanly (last chunk) after this long; the client resumes
  // with Last-Event-ID. Pistache 0.0.5 writes "408 Request Timeout" into a
  // connection ~60 s after its request arrived (its header timeout), which
  // would corrupt a longer stream. 0 = no limit.
  std::chrono::milliseconds max_duration{50'000};
};

class SseServer {
 public:
  // `hub` is not owned and must outlive this object; `metrics` may be null.
  SseServer(SseOptions options, EventStreamHub& hub, JobSnapshotFn snapshot,
            prometheus::Registry* metrics);
  ~SseServer();  // Stop()
  SseServer(const SseServer&) = delete;
  SseServer& operator=(const SseServer&) = delete;

  // GET /api/v1/jobs/{id}/stream. Validates on the calling thread and returns
  // at once; the stream (or its error) is served from a thread of its own.
  // `last_event_id`: the Last-Event-ID header, "" if absent.
  void ServeJobStream(std::shared_ptr<StreamTarget> target, const std::string& job_id,
                      const StreamQuery& query, const std::string& last_event_id);
  // GET /api/v1/stream.
  void ServeStream(std::shared_ptr<StreamTarget> target, const StreamQuery& query,
                   const std::string& last_event_id);

  // Ends every stream (each gets its last chunk) and joins their threads;
  // later requests get 503 shutting_down. Call before the HTTP server shuts
  // its transport down. Idempotent.
  void Stop();

  size_t open_streams() const { return open_.load(); }

 private:
  struct Plan;
  void Launch(std::shared_ptr<StreamTarget> target, Plan plan);
  void RunStream(const std::shared_ptr<StreamTarget>& target, Plan& plan);
  void ReapFinished();
  // Answers 503 and starts the hub in the background (Kafka was unreachable
  // when the API started, or still is): a client's retry then streams.
  void RejectUntilStarted(const std::shared_ptr<StreamTarget>& target);

  const SseOptions options_;
  EventStreamHub& hub_;
  const JobSnapshotFn snapshot_;
  prometheus::Gauge* open_gauge_ = nullptr;
  prometheus::Counter* sent_counter_ = nullptr;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> starting_{false};
  std::thread starter_;  // guarded by mu_
  std::atomic<size_t> open_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_id_ = 0;                                    // guarded by mu_
  std::map<uint64_t, std::thread> threads_;                 // guarded by mu_
  std::vector<uint64_t> finished_;                          // guarded by mu_
  std::map<uint64_t, std::shared_ptr<Subscription>> subs_;  // guarded by mu_
};

}  // namespace jobsched::api
