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

// A connection kept open across requests (a libcurl easy handle reused, with
// "Connection: keep-alive", which Pistache needs to keep it), for load
// generators that must not pay a TCP handshake per request. JSON bodies.
// Use from one thread.
class HttpSession {
 public:
  explicit HttpSession(long timeout_ms = 60000);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // POSTs `body`; returns the HTTP status, or 0 on a transport error (then
  // `reply` holds curl's message).
  long Post(const std::string& url, const std::string& body, std::string* reply);

 private:
  void* curl_;              // CURL*
  void* headers_ = nullptr;  // curl_slist*
  long timeout_ms_;
};

}  // namespace jobsched::testing
