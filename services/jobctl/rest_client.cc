#include "services/jobctl/rest_client.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>

namespace jobsched::jobctl {
namespace {

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

Result<ApiResponse> Send(const std::string& base_url, const ApiRequest& request,
                         const SendOptions& options) {
  InitCurlOnce();
  std::string base = base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string url = base + request.target;

  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return Status::Internal("cannot initialise libcurl");
  curl_slist* raw_headers = nullptr;
  for (const std::string& h : request.headers)
    raw_headers = curl_slist_append(raw_headers, h.c_str());
  if (!request.body.empty()) {
    raw_headers = curl_slist_append(raw_headers, "Content-Type: application/json");
  }
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(raw_headers,
                                                                      curl_slist_free_all);
  ApiResponse response;
  char error[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (!request.body.empty() || request.method == "POST") {
    // A POST without a body still says so (Content-Length: 0).
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, options.connect_timeout_ms);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, options.timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  // The API is usually local: a proxy from the environment would only get in the way.
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  CURLcode code = curl_easy_perform(c);
  if (code != CURLE_OK) {
    std::string why = error[0] != '\0' ? error : curl_easy_strerror(code);
    return Status::Unavailable(
        "cannot reach the API at " + url + " (" + why +
        "): start the stack (infra/dev.sh) or point jobctl at a running API with --api URL or "
        "JOBSCHED_API_URL");
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

}  // namespace jobsched::jobctl
