// Unit tests of the executor's handlers. The HTTP handler talks to a
// TestHttpServer on 127.0.0.1 (loopback only, no network).
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "services/executor/handlers.h"
#include "tests/support/test_http_server.h"
#include "tests/support/wait.h"

namespace jobsched::executor {
namespace {

using jobsched::testing::TestHttpServer;
using jobsched::testing::WaitFor;
using std::chrono::milliseconds;

v1::RunTask HttpTask(const std::string& url, const std::string& method = "POST",
                     const std::string& body = "", int timeout_seconds = 10) {
  v1::RunTask t;
  t.set_job_id("job-1");
  t.set_run_id("run-1");
  t.set_attempt(3);
  t.set_lease_epoch(1);
  t.mutable_spec()->set_type(v1::JOB_TYPE_HTTP);
  t.mutable_spec()->set_timeout_seconds(timeout_seconds);
  auto* http = t.mutable_spec()->mutable_http();
  http->set_url(url);
  http->set_method(method);
  http->set_body(body);
  return t;
}

v1::RunTask TaskWithPayload(v1::JobType type, const std::string& payload, int timeout_seconds = 0) {
  v1::RunTask t;
  t.set_job_id("job-1");
  t.set_run_id("run-1");
  t.set_attempt(1);
  t.mutable_spec()->set_type(type);
  t.mutable_spec()->set_payload_json(payload);
  t.mutable_spec()->set_timeout_seconds(timeout_seconds);
  return t;
}

// Lets a TestHttpServer handler block until the test releases it.
class Gate {
 public:
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(30), [&] { return open_; });
  }
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// ---------------------------------------------------------------------------
// BoundedOutput

TEST(BoundedOutputTest, KeepsShortValidText) {
  EXPECT_EQ(BoundedOutput("héllo {\"a\":1}"), "héllo {\"a\":1}");
  EXPECT_EQ(BoundedOutput(""), "");
}

TEST(BoundedOutputTest, ReplacesInvalidUtf8) {
  EXPECT_EQ(BoundedOutput("a\xff\x62\xc3"), "a\xEF\xBF\xBD\x62\xEF\xBF\xBD");
  // Overlong encoding and a UTF-16 surrogate are not valid UTF-8 either.
  EXPECT_EQ(BoundedOutput("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(BoundedOutput("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(BoundedOutputTest, ExactlyAtLimitIsKept) {
  std::string s(kMaxOutputBytes, 'x');
  EXPECT_EQ(BoundedOutput(s), s);
}

TEST(BoundedOutputTest, TruncatesAtCharacterBoundaryWithMarker) {
  std::string s;
  while (s.size() < 2 * kMaxOutputBytes) s += "é";  // 2 bytes each
  s += "x";
  std::string out = BoundedOutput(s);
  EXPECT_LE(out.size(), kMaxOutputBytes);
  ASSERT_GT(out.size(), kTruncatedMarker.size());
  EXPECT_EQ(out.substr(out.size() - kTruncatedMarker.size()), kTruncatedMarker);
  std::string body = out.substr(0, out.size() - kTruncatedMarker.size());
  EXPECT_EQ(body.size() % 2, 0u);  // no half character
  EXPECT_EQ(BoundedOutput(body), body);
}

TEST(BoundedOutputTest, MarksCallerTruncation) {
  std::string out = BoundedOutput("abc", /*already_truncated=*/true);
  EXPECT_EQ(out, "abc" + std::string(kTruncatedMarker));
}

// ---------------------------------------------------------------------------
// HttpHandler

TEST(HttpHandlerTest, TwoHundredsSucceedWithBody) {
  TestHttpServer server([](const TestHttpServer::Request&) {
    return TestHttpServer::Reply{201, "created", {}};
  });
  HttpHandler handler;
  CancelToken cancel;
  HandlerResult r = handler.Run(HttpTask(server.url("/hook"), "POST", "{\"a\":1}"), cancel);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.http_status, 201);
  EXPECT_EQ(r.output, "created");
  EXPECT_TRUE(r.error.empty());
  EXPECT_GE(r.duration_ms, 0);
  ASSERT_EQ(server.request_count(), 1u);
  auto req = server.requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/hook");
  EXPECT_EQ(req.body, "{\"a\":1}");
}

TEST(HttpHandlerTest, SendsIdempotencyKeyAndJobschedHeaders) {
  TestHttpServer server;
  HttpHandler handler;
  CancelToken cancel;
  v1::RunTask task = HttpTask(server.url("/"), "put", "body");
  auto& headers = *task.mutable_spec()->mutable_http()->mutable_headers();
  headers["X-Custom"] = "yes";
  headers["Content-Type"] = "application/json";
  headers["idempotency-key"] = "user-supplied";  // replaced by the run id
  HandlerResult r = handler.Run(task, cancel);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(server.request_count(), 1u);
  auto req = server.requests()[0];
  EXPECT_EQ(req.method, "PUT");
  EXPECT_EQ(req.body, "body");
  EXPECT_EQ(req.headers["idempotency-key"], "run-1");
  EXPECT_EQ(req.headers["x-jobsched-job-id"], "job-1");
  EXPECT_EQ(req.headers["x-jobsched-run-id"], "run-1");
  EXPECT_EQ(req.headers["x-jobsched-attempt"], "3");
  EXPECT_EQ(req.headers["x-custom"], "yes");
  EXPECT_EQ(req.headers["content-type"], "application/json");
}

TEST(HttpHandlerTest, DefaultsToPostWithoutInventedContentType) {
  TestHttpServer server;
  HttpHandler handler;
  CancelToken cancel;
  HandlerResult r = handler.Run(HttpTask(server.url("/"), "", "raw"), cancel);
  ASSERT_TRUE(r.ok) << r.error;
  auto req = server.requests().at(0);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.headers.count("content-type"), 0u);
  EXPECT_EQ(req.headers.count("expect"), 0u);
}

TEST(HttpHandlerTest, GetSendsNoBody) {
  TestHttpServer server;
  HttpHandler handler;
  CancelToken cancel;
  HandlerResult r = handler.Run(HttpTask(server.url("/q?x=1"), "GET"), cancel);
  ASSERT_TRUE(r.ok) << r.error;
  auto req = server.requests().at(0);
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.path, "/q?x=1");
  EXPECT_TRUE(req.body.empty());
}

TEST(HttpHandlerTest, Non2xxIsHttpStatusFailure) {
  TestHttpServer server([](const TestHttpServer::Request&) {
    return TestHttpServer::Reply{500, "boom", {}};
  });
  HttpHandler handler;
  CancelToken cancel;
  HandlerResult r = handler.Run(HttpTask(server.url("/")), cancel);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.kind, v1::FAILURE_KIND_HTTP_STATUS);
  EXPECT_EQ(r.http_status, 500);
  EXPECT_EQ(r.error, "HTTP 500");
  EXPECT_EQ(r.output, "boom");
  EXPECT_FALSE(r.permanent);
  EXPECT_EQ(r.retry_after_ms, 0);
}

// Answers every request with `status`, and Retry-After when `retry_after`
// is not empty.
HandlerResult RunAgainstStatus(int status, const std::string& retry_after = "") {
  TestHttpServer server([&](const TestHttpServer::Request&) {
    TestHttpServer::Reply reply{status, "body", {}};
    if (!retry_after.empty()) reply.headers["Retry-After"] = retry_after;
    return reply;
  });
  HttpHandler handler;
  CancelToken cancel;
  return handler.Run(HttpTask(server.url("/")), cancel);
}

TEST(HttpHandlerTest, ServerErrorsAreRetryable) {
  for (int status : {500, 502, 503, 504}) {
    HandlerResult r = RunAgainstStatus(status);
    EXPECT_FALSE(r.ok) << status;
    EXPECT_EQ(r.kind, v1::FAILURE_KIND_HTTP_STATUS) << status;
    EXPECT_EQ(r.http_status, status);
    EXPECT_FALSE(r.permanent) << status;
  }
}

TEST(HttpHandlerTest, ClientErrorsArePermanentExceptRequestTimeoutAndTooManyRequests) {
  for (int status : {400, 401, 403, 404, 409, 410, 422}) {
    HandlerResult r = RunAgainstStatus(status);
    EXPECT_FALSE(r.ok) << status;
    EXPECT_EQ(r.kind, v1::FAILURE_KIND_HTTP_STATUS) << status;
    EXPECT_EQ(r.http_status, status);
    EXPECT_TRUE(r.permanent) << status;
  }
  for (int status : {408, 429}) {
    HandlerResult r = RunAgainstStatus(status);
    EXPECT_FALSE(r.ok) << status;
    EXPECT_FALSE(r.permanent) << status;
  }
}

TEST(HttpHandlerTest, HonoursRetryAfterSeconds) {
  HandlerResult r = RunAgainstStatus(429, "3");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.http_status, 429);
  EXPECT_FALSE(r.permanent);
  EXPECT_EQ(r.retry_after_ms, 3000);

  HandlerResult unavailable = RunAgainstStatus(503, "120");
  EXPECT_FALSE(unavailable.permanent);
  EXPECT_EQ(unavailable.retry_after_ms, 120000);

  HandlerResult garbage = RunAgainstStatus(503, "soon");
  EXPECT_EQ(garbage.retry_after_ms, 0);
}

TEST(HttpHandlerTest, HonoursRetryAfterAsAnHttpDate) {
  // A date an hour ahead: about 3600 s, less the time the request took.
  const std::time_t ahead = std::time(nullptr) + 3600;
  std::tm tm{};
  gmtime_r(&ahead, &tm);
  char date[64];
  ASSERT_GT(std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm), 0u);
  HandlerResult r = RunAgainstStatus(503, date);
  EXPECT_GT(r.retry_after_ms, 3590 * 1000);
  EXPECT_LE(r.retry_after_ms, 3600 * 1000);
}

TEST(RetryAfterTest, ParsesDeltaSecondsAndHttpDates) {
  // 2015-10-21T07:28:00Z, the example of RFC 9110.
  const auto at = std::chrono::system_clock::from_time_t(1445412480);
  EXPECT_EQ(ParseRetryAfterMs("0", at), 0);
  EXPECT_EQ(ParseRetryAfterMs(" 120 ", at), 120000);
  EXPECT_EQ(ParseRetryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT", at - std::chrono::seconds(90)),
            90000);
  EXPECT_EQ(ParseRetryAfterMs("Wednesday, 21-Oct-15 07:28:00 GMT", at - std::chrono::seconds(1)),
            1000);  // the obsolete RFC 850 form
  EXPECT_EQ(ParseRetryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT", at + std::chrono::hours(1)), 0)
      << "a date in the past: no wait";
  for (const char* bad : {"", "  ", "-1", "1.5", "3s", "soon", "99999999999999999999"}) {
    EXPECT_EQ(ParseRetryAfterMs(bad, at), std::nullopt) << bad;
  }
}

TEST(HttpHandlerTest, SlowTargetTimesOut) {
  Gate gate;
  TestHttpServer server([&](const TestHttpServer::Request&) {
    gate.Wait();  // longer than the 1 s timeout, until the test ends
    return TestHttpServer::Reply{200, "late", {}};
  });
  HttpHandler handler;
  CancelToken cancel;
  HandlerResult r =
      handler.Run(HttpTask(server.url("/"), "POST", "", /*timeout_seconds=*/1), cancel);
  gate.Open();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.kind, v1::FAILURE_KIND_TIMED_OUT);
  EXPECT_EQ(r.error, "timed out after 1 s");
  EXPECT_FALSE(r.permanent);
  EXPECT_GE(r.duration_ms, 900);
  EXPECT_LT(r.duration_ms, 10000);
}

TEST(HttpHandlerTest, ConnectionRefusedIsError) {
  std::string url;
  {
    TestHttpServer closed;  // take a free port, then close it
    url = closed.url("/");
  }
  HttpHandler handler;
  CancelToken cancel;
  HandlerResult r = handler.Run(HttpTask(url), cancel);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.kind, v1::FAILURE_KIND_ERROR);
  EXPECT_EQ(r.http_status, 0);
  EXPECT_FALSE(r.permanent) << "the target may come back";
  EXPECT_NE(r.error.find("http handler: "), std::string::npos) << r.error;
  EXPECT_GT(r.error.size(), std::string("http handler: ").size());
}

TEST(HttpHandlerTest, LargeBodyIsTruncated) {
  const std::string big(200 * 1024, 'a');
  TestHttpServer server([&](const TestHttpServer::Request&) {
    return TestHttpServer::Reply{200, big, {}};
  });
  HttpHandler handler;
  CancelToken cancel;
  HandlerResult r = handler.Run(HttpTask(server.url("/")), cancel);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.http_status, 200);
  EXPECT_LE(r.output.size(), kMaxOutputBytes);
  EXPECT_GT(r.output.size(), kMaxOutputBytes - kTruncatedMarker.size() - 4);
  EXPECT_EQ(r.output.substr(r.output.size() - kTruncatedMarker.size()), kTruncatedMarker);
  EXPECT_EQ(r.output.substr(0, 100), std::string(100, 'a'));
}

TEST(HttpHandlerTest, BodyAtLimitIsKeptWhole) {
  const std::string exact(kMaxOutputBytes, 'b');
  TestHttpServer server([&](const TestHttpServer::Request&) {
    return TestHttpServer::Reply{200, exact, {}};
  });
  HttpHandler handler;
  CancelToken cancel;
  HandlerResult r = handler.Run(HttpTask(server.url("/")), cancel);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.output, exact);
}

TEST(HttpHandlerTest, BinaryBodyBecomesValidUtf8) {
  TestHttpServer server([](const TestHttpServer::Request&) {
    return TestHttpServer::Reply{200, std::string("\x00\xff ok", 5), {}};
  });
  HttpHandler handler;
  CancelToken cancel;
  HandlerResult r = handler.Run(HttpTask(server.url("/")), cancel);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.output, std::string("\x00\xEF\xBF\xBD ok", 7));
}

TEST(HttpHandlerTest, FollowsRedirectsUpToFive) {
  TestHttpServer server([](const TestHttpServer::Request& req) {
    if (req.path == "/final") return TestHttpServer::Reply{200, "arrived", {}};
    if (req.path == "/loop") return TestHttpServer::Reply{302, "", {{"Location", "/loop"}}};
    return TestHttpServer::Reply{302, "", {{"Location", "/final"}}};
  });
  HttpHandler handler;
  CancelToken cancel;
  HandlerResult ok = handler.Run(HttpTask(server.url("/start"), "GET"), cancel);
  EXPECT_TRUE(ok.ok) << ok.error;
  EXPECT_EQ(ok.output, "arrived");

  const size_t before = server.request_count();
  HandlerResult loop = handler.Run(HttpTask(server.url("/loop"), "GET"), cancel);
  EXPECT_FALSE(loop.ok);
  EXPECT_EQ(loop.kind, v1::FAILURE_KIND_ERROR);
  EXPECT_EQ(server.request_count() - before, 6u);  // the request and 5 redirects
}

TEST(HttpHandlerTest, CancelAbortsARunningRequest) {
  Gate gate;
  TestHttpServer server([&](const TestHttpServer::Request&) {
    gate.Wait();
    return TestHttpServer::Reply{200, "late", {}};
  });
  HttpHandler handler;
  CancelToken cancel;
  std::thread canceler([&] {
    WaitFor([&] { return server.request_count() == 1; }, milliseconds(10000));
    cancel.Cancel("test says stop");
  });
  HandlerResult r =
      handler.Run(HttpTask(server.url("/"), "POST", "", /*timeout_seconds=*/60), cancel);
  canceler.join();
  gate.Open();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.kind, v1::FAILURE_KIND_CANCELED);
  EXPECT_EQ(r.error, "canceled: test says stop");
  EXPECT_LT(r.duration_ms, 10000);
}

TEST(HttpHandlerTest, RejectsNonHttpSchemes) {
  HttpHandler handler;
  CancelToken cancel;
  HandlerResult r = handler.Run(HttpTask("file:///etc/passwd", "GET"), cancel);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.kind, v1::FAILURE_KIND_ERROR);
  EXPECT_TRUE(r.permanent) << "a spec that can never work";
  EXPECT_TRUE(r.output.empty());
}

TEST(HttpHandlerTest, RejectsHeaderInjection) {
  TestHttpServer server;
  HttpHandler handler;
  CancelToken cancel;
  v1::RunTask task = HttpTask(server.url("/"));
  (*task.mutable_spec()->mutable_http()->mutable_headers())["X-Evil"] = "a\r\nX-Injected: 1";
  HandlerResult r = handler.Run(task, cancel);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.kind, v1::FAILURE_KIND_ERROR);
  EXPECT_TRUE(r.permanent);
  EXPECT_EQ(server.request_count(), 0u);
}

TEST(HttpHandlerTest, ReusesTheConnectionHandleAcrossRuns) {
  // Consecutive runs on one thread share a handle; options from one run
  // (method, body, headers) must not leak into the next.
  TestHttpServer server;
  HttpHandler handler;
  CancelToken cancel;
  v1::RunTask put = HttpTask(server.url("/a"), "PUT", "one");
  (*put.mutable_spec()->mutable_http()->mutable_headers())["X-Only-First"] = "1";
  ASSERT_TRUE(handler.Run(put, cancel).ok);
  ASSERT_TRUE(handler.Run(HttpTask(server.url("/b"), "GET"), cancel).ok);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].method, "GET");
  EXPECT_TRUE(reqs[1].body.empty());
  EXPECT_EQ(reqs[1].headers.count("x-only-first"), 0u);
}

// ---------------------------------------------------------------------------
// Built-in handlers

TEST(EchoHandlerTest, OutputIsThePayload) {
  EchoHandler handler;
  CancelToken cancel;
  HandlerResult r =
      handler.Run(TaskWithPayload(v1::JOB_TYPE_ECHO, "{\"hello\":\"world\"}"), cancel);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.output, "{\"hello\":\"world\"}");
  EXPECT_EQ(r.http_status, 0);
}

TEST(SleepHandlerTest, SleepsThenSucceeds) {
  SleepHandler handler;
  CancelToken cancel;
  HandlerResult r = handler.Run(TaskWithPayload(v1::JOB_TYPE_SLEEP, "{\"ms\":50}"), cancel);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_GE(r.duration_ms, 50);
}

TEST(SleepHandlerTest, BoundedByTheTimeout) {
  SleepHandler handler;
  CancelToken cancel;
  HandlerResult r = handler.Run(
      TaskWithPayload(v1::JOB_TYPE_SLEEP, "{\"ms\":600000}", /*timeout_seconds=*/1), cancel);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.kind, v1::FAILURE_KIND_TIMED_OUT);
  EXPECT_FALSE(r.permanent);
  EXPECT_GE(r.duration_ms, 900);
  EXPECT_LT(r.duration_ms, 10000);
}

TEST(SleepHandlerTest, InterruptedByCancel) {
  SleepHandler handler;
  CancelToken cancel;
  std::thread canceler([&] { cancel.Cancel("stopping"); });
  HandlerResult r = handler.Run(TaskWithPayload(v1::JOB_TYPE_SLEEP, "{\"ms\":600000}"), cancel);
  canceler.join();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.kind, v1::FAILURE_KIND_CANCELED);
  EXPECT_EQ(r.error, "canceled: stopping");
  EXPECT_LT(r.duration_ms, 10000);
}

TEST(SleepHandlerTest, MalformedPayloadFails) {
  SleepHandler handler;
  CancelToken cancel;
  for (const char* payload : {"", "nope", "{}", "{\"ms\":-1}", "{\"ms\":\"5\"}", "[1]"}) {
    HandlerResult r = handler.Run(TaskWithPayload(v1::JOB_TYPE_SLEEP, payload), cancel);
    EXPECT_FALSE(r.ok) << payload;
    EXPECT_EQ(r.kind, v1::FAILURE_KIND_ERROR) << payload;
    EXPECT_TRUE(r.permanent) << payload;
  }
}

TEST(FailHandlerTest, AlwaysFailsRetryablyUnlessThePayloadSaysPermanent) {
  FailHandler handler;
  CancelToken cancel;
  for (const char* payload :
       {"", "{}", "[true]", "{\"permanent\": false}", "{\"permanent\": \"yes\"}"}) {
    HandlerResult r = handler.Run(TaskWithPayload(v1::JOB_TYPE_FAIL, payload), cancel);
    EXPECT_FALSE(r.ok) << payload;
    EXPECT_EQ(r.kind, v1::FAILURE_KIND_ERROR) << payload;
    EXPECT_EQ(r.error, "fail handler: this job always fails") << payload;
    EXPECT_FALSE(r.permanent) << payload;
  }
  HandlerResult r =
      handler.Run(TaskWithPayload(v1::JOB_TYPE_FAIL, "{\"permanent\": true}"), cancel);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.permanent);
}

TEST(HandlerRegistryTest, BuiltinsCoverEveryJobType) {
  HandlerRegistry registry = HandlerRegistry::WithBuiltins();
  EXPECT_NE(dynamic_cast<HttpHandler*>(registry.Find(v1::JOB_TYPE_HTTP)), nullptr);
  EXPECT_NE(dynamic_cast<EchoHandler*>(registry.Find(v1::JOB_TYPE_ECHO)), nullptr);
  EXPECT_NE(dynamic_cast<SleepHandler*>(registry.Find(v1::JOB_TYPE_SLEEP)), nullptr);
  EXPECT_NE(dynamic_cast<FailHandler*>(registry.Find(v1::JOB_TYPE_FAIL)), nullptr);
  EXPECT_EQ(registry.Find(v1::JOB_TYPE_UNSPECIFIED), nullptr);
}

TEST(CancelTokenTest, FirstReasonWinsAndWakesWaiters) {
  CancelToken token;
  EXPECT_FALSE(token.cancelled());
  EXPECT_FALSE(token.WaitFor(milliseconds(1)));
  std::thread t([&] { token.Cancel("first"); });
  EXPECT_TRUE(token.WaitFor(std::chrono::seconds(30)));
  t.join();
  token.Cancel("second");
  EXPECT_EQ(token.reason(), "first");
}

}  // namespace
}  // namespace jobsched::executor
