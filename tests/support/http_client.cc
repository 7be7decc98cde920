#include "tests/support/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace jobsched::testing {
namespace {

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// Collects "Name: value" header lines; a new status line (after a redirect or
// a 100 Continue) starts over.
size_t AppendHeader(char* data, size_t size, size_t count, void* user) {
  auto& headers = *static_cast<std::map<std::string, std::string>*>(user);
  std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) headers.clear();
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    size_t begin = line.find_first_not_of(" \t", colon + 1);
    size_t end = line.find_last_not_of(" \t\r\n");
    headers[name] =
        begin == std::string::npos || end < begin ? "" : line.substr(begin, end - begin + 1);
  }
  return size * count;
}

void Check(CURLcode code, const char* errbuf, const std::string& what) {
  if (code != CURLE_OK) {
    throw std::runtime_error(what + ": " + (errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code)));
  }
}

}  // namespace

HttpResponse HttpRequest(const std::string& method, const std::string& url, const std::string& body,
                         const std::vector<std::string>& headers, long timeout_ms) {
  static std::once_flag init;
  std::call_once(init, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw std::runtime_error("curl_global_init failed");
    }
  });
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw std::runtime_error("curl_easy_init failed");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(nullptr,
                                                                          curl_slist_free_all);
  auto add_header = [&](const std::string& h) {
    curl_slist* head = curl_slist_append(header_list.get(), h.c_str());
    if (head == nullptr) throw std::runtime_error("curl_slist_append failed");
    header_list.release();  // `head` is the same list, one entry longer
    header_list.reset(head);
  };
  bool has_expect = false, has_content_type = false;
  for (const auto& h : headers) {
    std::string name = h.substr(0, h.find(':'));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    has_expect = has_expect || name == "expect";
    has_content_type = has_content_type || name == "content-type";
    add_header(h);
  }
  // No "Expect: 100-continue" pause on large bodies, and no default
  // form-urlencoded Content-Type: only what the caller asked for.
  if (!has_expect) add_header("Expect:");
  if (!has_content_type) add_header("Content-Type:");

  HttpResponse response;
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, AppendHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &response.headers);
  if (method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (method != "GET" || !body.empty()) {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  }
  Check(curl_easy_perform(c), errbuf, method + " " + url);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

HttpSession::HttpSession(long timeout_ms) : curl_(curl_easy_init()), timeout_ms_(timeout_ms) {
  if (curl_ == nullptr) throw std::runtime_error("curl_easy_init failed");
  curl_slist* list = nullptr;
  for (const char* h : {"Content-Type: application/json", "Connection: keep-alive", "Expect:"}) {
    list = curl_slist_append(list, h);
  }
  headers_ = list;
}

HttpSession::~HttpSession() {
  curl_slist_free_all(static_cast<curl_slist*>(headers_));
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

long HttpSession::Post(const std::string& url, const std::string& body, std::string* reply) {
  CURL* curl = static_cast<CURL*>(curl_);
  reply->clear();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(headers_));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms_);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    *reply = curl_easy_strerror(rc);
    return 0;
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

}  // namespace jobsched::testing
