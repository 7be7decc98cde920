// Handlers: the code that performs one run of a job, by job type. A handler
// turns a RunTask into a HandlerResult; it never touches the event log (the
// Executor turns results into RunSucceeded / RunFailed).
//
// Thread safety: Handler::Run is called concurrently from the executor's
// worker threads (one run per thread at a time), so every handler must be
// safe to call from several threads at once. A HandlerRegistry is filled
// before the executor starts and only read afterwards.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "jobsched/v1/events.pb.h"
#include "jobsched/v1/runtime.pb.h"

namespace jobsched::executor {

// Used when a job's spec.timeout_seconds is 0 and nobody chose otherwise (the
// Executor fills spec.timeout_seconds with its configured default before a
// handler sees the task, so this only applies to handlers called directly).
inline constexpr int kDefaultTimeoutSeconds = 3600;
// Outputs (response bodies, echo payloads) are cut to this many bytes,
// marker included.
inline constexpr size_t kMaxOutputBytes = 64 * 1024;
// Appended to an output that was cut.
inline constexpr std::string_view kTruncatedMarker = "\n[output truncated by jobsched]";

// The timeout that applies to `task`.
std::chrono::seconds TaskTimeout(const v1::RunTask& task);

// Makes `raw` fit into a Protobuf string field and into kMaxOutputBytes:
// invalid UTF-8 sequences are replaced by U+FFFD (proto3 parsers reject
// string fields that are not UTF-8, so a binary response body would make the
// whole event undecodable), and when the result is longer than
// kMaxOutputBytes — or `already_truncated` says the caller dropped bytes —
// it is cut at a character boundary and kTruncatedMarker appended. The result
// is never longer than kMaxOutputBytes.
std::string BoundedOutput(std::string_view raw, bool already_truncated = false);

// A one-way cancellation signal from the executor to a running handler.
// Thread-safe: any thread may Cancel; the handler's thread polls or waits.
class CancelToken {
 public:
  // Idempotent; the first reason is kept. Wakes every WaitFor.
  void Cancel(std::string reason);
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  // "" until cancelled.
  std::string reason() const;
  // Blocks until the token is cancelled (-> true) or `d` has elapsed (-> false).
  bool WaitFor(std::chrono::steady_clock::duration d) const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::atomic<bool> cancelled_{false};
  std::string reason_;  // guarded by mu_
};

// Parses an HTTP Retry-After value (RFC 9110 10.2.3): delta-seconds, or an
// HTTP-date taken relative to `now` (a date in the past gives 0). nullopt for
// anything else, and for absurd delta-seconds (more than 10^12).
std::optional<int64_t> ParseRetryAfterMs(std::string_view value,
                                         std::chrono::system_clock::time_point now);

struct HandlerResult {
  bool ok = false;
  v1::FailureKind kind = v1::FAILURE_KIND_UNSPECIFIED;  // set when !ok
  int http_status = 0;                                  // 0 for built-in handlers
  std::string output;  // valid UTF-8, at most kMaxOutputBytes (see BoundedOutput)
  std::string error;   // set when !ok
  int64_t duration_ms = 0;
  // !ok only: retrying cannot help (an HTTP 4xx other than 408 / 429, a spec
  // the handler cannot run); becomes RunFailed.permanent.
  bool permanent = false;
  // !ok only: the target asked to wait this long before a retry (Retry-After);
  // 0 = no wish. Becomes RunFailed.retry_after_ms.
  int64_t retry_after_ms = 0;

  static HandlerResult Success(std::string output, int http_status = 0);
  static HandlerResult Failure(v1::FailureKind kind, std::string error, int http_status = 0,
                               std::string output = "");
};

// Performs runs of one job type.
class Handler {
 public:
  virtual ~Handler() = default;
  // Runs `task` to completion and reports how it went; failures are results,
  // not exceptions (an exception is reported by the executor as
  // FAILURE_KIND_ERROR). Must return within TaskTimeout(task) plus a little
  // (FAILURE_KIND_TIMED_OUT, retryable), and promptly (about a second at most)
  // once `cancel` is cancelled, with FAILURE_KIND_CANCELED and an error
  // starting with "canceled". Thread-safe.
  virtual HandlerResult Run(const v1::RunTask& task, const CancelToken& cancel) = 0;
};

// JOB_TYPE_HTTP: calls spec.http with libcurl.
//
// Request: spec.http.method (default POST), url, headers and body, plus
// `Idempotency-Key: <run_id>`, `X-Jobsched-Job-Id`, `X-Jobsched-Run-Id` and
// `X-Jobsched-Attempt`; these four replace user headers of the same name.
// No Content-Type is added when the spec has none. Only http and https URLs
// are accepted, redirects are followed up to 5 times (http/https only).
// Result: 2xx -> ok; other status -> FAILURE_KIND_HTTP_STATUS, "HTTP <code>",
// permanent for 4xx except 408 and 429, and retry_after_ms from the final
// response's Retry-After header (seconds or HTTP-date) when it has one; the
// whole exchange exceeding the timeout -> FAILURE_KIND_TIMED_OUT (retryable);
// any other transport failure (refused, DNS, TLS, too many redirects) ->
// FAILURE_KIND_ERROR with libcurl's message, retryable. A spec that can
// never work (empty or malformed URL, a scheme other than http/https, an
// invalid method or header) -> FAILURE_KIND_ERROR, permanent, nothing sent.
// The response body is kept in `output` up to kMaxOutputBytes; once that much
// has arrived the transfer is ended (the rest is never read) and the status
// still counts.
//
// Each worker thread keeps one libcurl easy handle for its lifetime and
// reuses it, so connections to the same target are kept alive across runs.
// Cancellation is checked by libcurl's progress callback (at least once a
// second).
class HttpHandler final : public Handler {
 public:
  // Initialises libcurl globally on first construction (thread-safe).
  HttpHandler();
  HandlerResult Run(const v1::RunTask& task, const CancelToken& cancel) override;
};

// JOB_TYPE_ECHO: succeeds with output = spec.payload_json.
class EchoHandler final : public Handler {
 public:
  HandlerResult Run(const v1::RunTask& task, const CancelToken& cancel) override;
};

// JOB_TYPE_SLEEP: payload {"ms": N} (N >= 0); waits N ms and succeeds. Ends
// early with FAILURE_KIND_TIMED_OUT when N ms exceed the timeout, and with
// FAILURE_KIND_CANCELED "canceled: …" when cancelled. A malformed payload
// fails with FAILURE_KIND_ERROR, permanent.
class SleepHandler final : public Handler {
 public:
  HandlerResult Run(const v1::RunTask& task, const CancelToken& cancel) override;
};

// JOB_TYPE_FAIL: always FAILURE_KIND_ERROR "fail handler: this job always fails",
// retryable unless the payload is an object with "permanent": true.
class FailHandler final : public Handler {
 public:
  HandlerResult Run(const v1::RunTask& task, const CancelToken& cancel) override;
};

// JobType -> Handler. Fill it before handing it to an Executor; Find is then
// safe from any thread (the registry is not modified while runs are active).
class HandlerRegistry {
 public:
  // The built-in handlers: HTTP, ECHO, SLEEP, FAIL.
  static HandlerRegistry WithBuiltins();

  // Replaces any handler registered for `type`.
  void Register(v1::JobType type, std::shared_ptr<Handler> handler);
  // nullptr when no handler is registered for `type`. The handler lives as
  // long as the registry.
  Handler* Find(v1::JobType type) const;

 private:
  std::map<v1::JobType, std::shared_ptr<Handler>> handlers_;
};

}  // namespace jobsched::executor
