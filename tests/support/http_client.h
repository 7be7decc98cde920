// A minimal blocking HTTP client for tests (libcurl).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace jobsched::testing {

struct HttpResponse {
  long status = 0;
  std::string body;
  // Header names lower-cased; a repeated header keeps its last value.
  std::map<std::string, std::string> headers;
};

// Sends one request and returns the response (any status, redirects not
// followed, proxies ignored). `headers` are "Name: value" lines; no
// Content-Type is sent unless given there. Throws
// std::runtime_error with curl's message on a transport failure or timeout.
// Thread-safe: each call uses its own connection.
HttpResponse HttpRequest(const std::string& method, const std::string& url,
                         const std::string& body = "", const std::vector<std::string>& headers = {},
                         long timeout_ms = 10000);

}  // namespace jobsched::testing
