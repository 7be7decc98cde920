#include "services/executor/handlers.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace jobsched::executor {
namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t MillisSince(SteadyClock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start).count();
}

// Length of the well-formed UTF-8 sequence starting at s[i] (as accepted by
// Protobuf: no overlongs, no surrogates, nothing above U+10FFFF), 0 if the
// bytes there are not one.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t n = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

std::string CanceledError(const CancelToken& cancel) {
  std::string reason = cancel.reason();
  return reason.empty() ? "canceled" : "canceled: " + reason;
}

std::string TimedOutError(std::chrono::seconds timeout) {
  return "timed out after " + std::to_string(timeout.count()) + " s";
}

HandlerResult Canceled(const CancelToken& cancel) {
  HandlerResult r = HandlerResult::Failure(v1::FAILURE_KIND_CANCELED, CanceledError(cancel));
  r.permanent = true;
  return r;
}

HandlerResult PermanentError(std::string message) {
  HandlerResult r = HandlerResult::Failure(v1::FAILURE_KIND_ERROR, std::move(message));
  r.permanent = true;
  return r;
}

// Retrying may help with these statuses (RFC 9110: 408 Request Timeout, 429
// Too Many Requests, any 5xx); any other 4xx is the request's own fault. A
// non-2xx status below 400 (a 3xx the redirect policy did not follow) is
// treated as retryable: nothing says it will stay that way.
bool RetryableStatus(long status) {
  return status < 400 || status >= 500 || status == 408 || status == 429;
}

// ---------------------------------------------------------------------------
// HTTP helpers.

// RFC 9110 token characters (header names and methods).
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  });
}

bool IsHeaderValue(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Headers the executor sets itself; user headers with these names are dropped.
constexpr std::string_view kReservedHeaders[] = {"Idempotency-Key", "X-Jobsched-Job-Id",
                                                 "X-Jobsched-Run-Id", "X-Jobsched-Attempt"};

bool IsReserved(std::string_view name) {
  return std::any_of(std::begin(kReservedHeaders), std::end(kReservedHeaders),
                     [&](std::string_view r) { return EqualsIgnoreCase(name, r); });
}

struct CurlEasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};

struct CurlSlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using SlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;

// This thread's easy handle, created on first use and cleaned up when the
// thread exits. Reusing it keeps its connection cache (keep-alive) across runs.
CURL* ThreadCurlHandle() {
  thread_local std::unique_ptr<CURL, CurlEasyDeleter> handle(curl_easy_init());
  return handle.get();
}

// Resets the handle's options (connections stay cached) when a run ends, so
// the handle keeps no pointers into this run's buffers.
class HandleLease {
 public:
  explicit HandleLease(CURL* h) : h_(h) { curl_easy_reset(h_); }
  ~HandleLease() { curl_easy_reset(h_); }
  HandleLease(const HandleLease&) = delete;
  HandleLease& operator=(const HandleLease&) = delete;

 private:
  CURL* h_;
};

struct BodyCapture {
  std::string body;
  bool truncated = false;  // more than kMaxOutputBytes arrived; the transfer was ended
};

// libcurl write callback: keeps the first kMaxOutputBytes bytes and then ends
// the transfer (returning less than offered makes libcurl stop with
// CURLE_WRITE_ERROR, which Run recognises through `truncated`).
size_t OnBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* capture = static_cast<BodyCapture*>(user);
  const size_t n = size * nmemb;
  const size_t room = kMaxOutputBytes - capture->body.size();
  if (n > room) {
    capture->body.append(data, room);
    capture->truncated = true;
    return 0;
  }
  capture->body.append(data, n);
  return n;
}

// libcurl progress callback: a non-zero return aborts with CURLE_ABORTED_BY_CALLBACK.
int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const CancelToken*>(user)->cancelled() ? 1 : 0;
}

CURLcode g_curl_init = CURLE_FAILED_INIT;
std::once_flag g_curl_once;

}  // namespace

std::optional<int64_t> ParseRetryAfterMs(std::string_view value,
                                         std::chrono::system_clock::time_point now) {
  constexpr std::string_view kSpace = " \t";
  const size_t begin = value.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return std::nullopt;
  value = value.substr(begin, value.find_last_not_of(kSpace) - begin + 1);
  if (std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c); })) {
    int64_t seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || end != value.data() + value.size() || seconds > 1'000'000'000'000) {
      return std::nullopt;
    }
    return seconds * 1000;
  }
  // An HTTP-date (IMF-fixdate, or the obsolete RFC 850 / asctime forms), which
  // curl_getdate understands; it returns -1 for anything else.
  const std::string date(value);
  const time_t at = curl_getdate(date.c_str(), nullptr);
  if (at == -1) return std::nullopt;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::from_time_t(at) - now)
                      .count();
  return std::max<int64_t>(ms, 0);
}

std::chrono::seconds TaskTimeout(const v1::RunTask& task) {
  const int t = task.spec().timeout_seconds();
  return std::chrono::seconds(t > 0 ? t : kDefaultTimeoutSeconds);
}

std::string BoundedOutput(std::string_view raw, bool already_truncated) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(std::min(raw.size(), kMaxOutputBytes));
  bool truncated = already_truncated;
  for (size_t i = 0; i < raw.size();) {
    if (out.size() > kMaxOutputBytes) {
      truncated = true;
      break;
    }
    const size_t n = Utf8SequenceLength(raw, i);
    if (n == 0) {
      out += kReplacement;
      i += 1;
    } else {
      out.append(raw.data() + i, n);
      i += n;
    }
  }
  if (out.size() > kMaxOutputBytes) truncated = true;
  if (!truncated) return out;
  size_t cut = std::min(out.size(), kMaxOutputBytes - kTruncatedMarker.size());
  // `out` is well-formed, so backing up over continuation bytes lands on a
  // character boundary.
  while (cut > 0 && cut < out.size() && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  out.resize(cut);
  out += kTruncatedMarker;
  return out;
}

// ---------------------------------------------------------------------------

void CancelToken::Cancel(std::string reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_.load(std::memory_order_relaxed)) return;
    reason_ = std::move(reason);
    cancelled_.store(true, std::memory_order_release);
  }
  cv_.notify_all();
}

std::string CancelToken::reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reason_;
}

bool CancelToken::WaitFor(std::chrono::steady_clock::duration d) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, d, [this] { return cancelled_.load(std::memory_order_relaxed); });
}

HandlerResult HandlerResult::Success(std::string output, int http_status) {
  HandlerResult r;
  r.ok = true;
  r.http_status = http_status;
  r.output = std::move(output);
  return r;
}

HandlerResult HandlerResult::Failure(v1::FailureKind kind, std::string error, int http_status,
                                     std::string output) {
  HandlerResult r;
  r.ok = false;
  r.kind = kind;
  r.error = BoundedOutput(error);
  r.http_status = http_status;
  r.output = std::move(output);
  return r;
}

// ---------------------------------------------------------------------------

HttpHandler::HttpHandler() {
  std::call_once(g_curl_once, [] { g_curl_init = curl_global_init(CURL_GLOBAL_DEFAULT); });
}

HandlerResult HttpHandler::Run(const v1::RunTask& task, const CancelToken& cancel) {
  const auto start = SteadyClock::now();
  auto finish = [&](HandlerResult r) {
    r.duration_ms = MillisSince(start);
    return r;
  };
  auto error = [&](std::string message) {
    return finish(HandlerResult::Failure(v1::FAILURE_KIND_ERROR, std::move(message)));
  };
  // The spec itself is unusable: no retry can succeed.
  auto bad_spec = [&](std::string message) { return finish(PermanentError(std::move(message))); };
  if (g_curl_init != CURLE_OK) {
    return error(std::string("libcurl initialisation failed: ") + curl_easy_strerror(g_curl_init));
  }
  const v1::HttpRequestSpec& http = task.spec().http();
  if (http.url().empty()) return bad_spec("http handler: spec.http.url is empty");
  std::string method = http.method().empty() ? "POST" : http.method();
  std::transform(method.begin(), method.end(), method.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (!IsToken(method)) return bad_spec("http handler: invalid method \"" + method + "\"");

  // Headers: the user's (validated), then ours.
  SlistPtr headers;
  bool has_content_type = false;
  bool has_expect = false;
  auto add_header = [&](const std::string& line) {
    // On failure curl_slist_append returns nullptr and leaves the list as it was.
    curl_slist* head = curl_slist_append(headers.get(), line.c_str());
    if (head == nullptr) return false;
    if (head != headers.get()) {
      (void)headers.release();  // NOLINT: `head` is the same list, now non-empty
      headers.reset(head);
    }
    return true;
  };
  // Sorted for a deterministic request (Protobuf maps have no order).
  std::map<std::string, std::string> user_headers(http.headers().begin(), http.headers().end());
  for (const auto& [name, value] : user_headers) {
    if (!IsToken(name) || !IsHeaderValue(value)) {
      return bad_spec("http handler: invalid header \"" + name + "\"");
    }
    if (IsReserved(name)) continue;
    has_content_type = has_content_type || EqualsIgnoreCase(name, "Content-Type");
    has_expect = has_expect || EqualsIgnoreCase(name, "Expect");
    if (!add_header(name + ": " + value)) return error("http handler: out of memory");
  }
  const std::vector<std::string> ours = {
      "Idempotency-Key: " + task.run_id(),
      "X-Jobsched-Job-Id: " + task.job_id(),
      "X-Jobsched-Run-Id: " + task.run_id(),
      "X-Jobsched-Attempt: " + std::to_string(task.attempt()),
  };
  for (const std::string& line : ours) {
    if (!IsHeaderValue(line)) return bad_spec("http handler: invalid job or run id");
    if (!add_header(line)) return error("http handler: out of memory");
  }
  // libcurl would otherwise add "Content-Type: application/x-www-form-urlencoded"
  // to bodies and wait for "100 Continue" before sending large ones.
  if ((!has_content_type && !add_header("Content-Type:")) ||
      (!has_expect && !add_header("Expect:"))) {
    return error("http handler: out of memory");
  }

  CURL* h = ThreadCurlHandle();
  if (h == nullptr) return error("http handler: curl_easy_init failed");
  const std::chrono::seconds timeout = TaskTimeout(task);
  BodyCapture capture;
  char errbuf[CURL_ERROR_SIZE] = {0};
  // Declared after every buffer the handle will point to, so it is reset
  // before they go away.
  HandleLease lease(h);

  curl_easy_setopt(h, CURLOPT_URL, http.url().c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // required with several threads
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count() * 1000));
  curl_easy_setopt(h, CURLOPT_USERAGENT, "jobsched-executor");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &capture);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &cancel);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  if (method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (method == "GET" && http.body().empty()) {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    // POSTFIELDS does not copy: http.body() outlives the transfer.
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, http.body().data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(http.body().size()));
    if (method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  }

  const CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  const bool completed = rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && capture.truncated);
  if (completed) {
    std::string output = BoundedOutput(capture.body, capture.truncated);
    if (status >= 200 && status < 300) {
      return finish(HandlerResult::Success(std::move(output), static_cast<int>(status)));
    }
    HandlerResult r =
        HandlerResult::Failure(v1::FAILURE_KIND_HTTP_STATUS, "HTTP " + std::to_string(status),
                               static_cast<int>(status), std::move(output));
    r.permanent = !RetryableStatus(status);
    // The final response's header (request -1: the last one after redirects).
    curl_header* retry_after = nullptr;
    if (curl_easy_header(h, "Retry-After", 0, CURLH_HEADER, -1, &retry_after) == CURLHE_OK) {
      r.retry_after_ms =
          ParseRetryAfterMs(retry_after->value, std::chrono::system_clock::now()).value_or(0);
    }
    return finish(std::move(r));
  }
  if (rc == CURLE_ABORTED_BY_CALLBACK && cancel.cancelled()) return finish(Canceled(cancel));
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return finish(HandlerResult::Failure(v1::FAILURE_KIND_TIMED_OUT, TimedOutError(timeout),
                                         static_cast<int>(status),
                                         BoundedOutput(capture.body, capture.truncated)));
  }
  std::string message = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
  if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT) {
    return bad_spec("http handler: " + message);
  }
  // Refused, reset, DNS, TLS, too many redirects: the target may recover.
  return error("http handler: " + message);
}

// ---------------------------------------------------------------------------

HandlerResult EchoHandler::Run(const v1::RunTask& task, const CancelToken&) {
  return HandlerResult::Success(BoundedOutput(task.spec().payload_json()));
}

HandlerResult SleepHandler::Run(const v1::RunTask& task, const CancelToken& cancel) {
  const auto start = SteadyClock::now();
  auto finish = [&](HandlerResult r) {
    r.duration_ms = MillisSince(start);
    return r;
  };
  static constexpr char kUsage[] = "sleep handler: payload must be {\"ms\": N} with N >= 0";
  const nlohmann::json payload = nlohmann::json::parse(task.spec().payload_json(), nullptr,
                                                       /*allow_exceptions=*/false);
  if (!payload.is_object() || !payload.contains("ms") || !payload["ms"].is_number_integer() ||
      payload["ms"].get<int64_t>() < 0) {
    return finish(PermanentError(kUsage));
  }
  const std::chrono::milliseconds want(payload["ms"].get<int64_t>());
  const std::chrono::seconds timeout = TaskTimeout(task);
  const bool times_out = want > timeout;
  if (cancel.WaitFor(times_out ? std::chrono::milliseconds(timeout) : want)) {
    return finish(Canceled(cancel));
  }
  if (times_out) {
    return finish(HandlerResult::Failure(v1::FAILURE_KIND_TIMED_OUT, TimedOutError(timeout)));
  }
  return finish(HandlerResult::Success(""));
}

HandlerResult FailHandler::Run(const v1::RunTask& task, const CancelToken&) {
  HandlerResult r =
      HandlerResult::Failure(v1::FAILURE_KIND_ERROR, "fail handler: this job always fails");
  const nlohmann::json payload = nlohmann::json::parse(task.spec().payload_json(), nullptr,
                                                       /*allow_exceptions=*/false);
  auto flag = payload.find("permanent");  // end() unless an object has it
  r.permanent = flag != payload.end() && flag->is_boolean() && flag->get<bool>();
  return r;
}

// ---------------------------------------------------------------------------

HandlerRegistry HandlerRegistry::WithBuiltins() {
  HandlerRegistry r;
  r.Register(v1::JOB_TYPE_HTTP, std::make_shared<HttpHandler>());
  r.Register(v1::JOB_TYPE_ECHO, std::make_shared<EchoHandler>());
  r.Register(v1::JOB_TYPE_SLEEP, std::make_shared<SleepHandler>());
  r.Register(v1::JOB_TYPE_FAIL, std::make_shared<FailHandler>());
  return r;
}

void HandlerRegistry::Register(v1::JobType type, std::shared_ptr<Handler> handler) {
  handlers_[type] = std::move(handler);
}

Handler* HandlerRegistry::Find(v1::JobType type) const {
  auto it = handlers_.find(type);
  return it == handlers_.end() ? nullptr : it->second.get();
}

}  // namespace jobsched::executor
