// The HTTP side of jobctl's REST commands: one blocking request to the API
// (libcurl), and the request each command sends. Building requests and
// rendering answers is pure (rest_requests.h); only Send does I/O.
#pragma once

#include <string>
#include <vector>

#include "events/status.h"

namespace jobsched::jobctl {

// One request to the API, relative to its base URL.
struct ApiRequest {
  std::string method;                // "GET", "POST"
  std::string target;                // path and query: "/api/v1/jobs?status=DEAD&limit=20"
  std::string body;                  // JSON; "" sends none
  std::vector<std::string> headers;  // extra "Name: value" lines
  bool operator==(const ApiRequest&) const = default;
};

struct ApiResponse {
  long status = 0;
  std::string body;
};

struct SendOptions {
  long connect_timeout_ms = 5'000;
  // Longer than the API's own append timeout (5 s), so the API's verdict
  // (201, or 503 append_unconfirmed naming the job) arrives first.
  long timeout_ms = 30'000;
};

// Sends `request` to `base_url` (e.g. "http://127.0.0.1:8080"; a trailing
// '/' is ignored) and returns whatever HTTP status came back. kUnavailable,
// saying which URL could not be reached and how to point jobctl at a
// running API, when no answer came (refused, unresolvable, timed out).
// Thread-compatible: each call uses its own connection.
Result<ApiResponse> Send(const std::string& base_url, const ApiRequest& request,
                         const SendOptions& options = {});

}  // namespace jobsched::jobctl
