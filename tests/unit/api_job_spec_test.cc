// Unit tests of the API's pure parts: submission validation (job_spec.h), the
// JSON views (job_view.h), the list cursor (cursor.h) and the error mapping
// (api_error.h).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "events/envelope.h"
#include "events/fold.h"
#include "events/ids.h"
#include "services/api/api_error.h"
#include "services/api/cursor.h"
#include "services/api/job_spec.h"
#include "tests/unit/api_spec_test_util.h"
#include "services/api/job_view.h"
#include "services/api/ops_queries.h"
#include "services/api/ops_routes.h"

namespace jobsched::api {
namespace {

using nlohmann::json;

using testing::kNow;
using testing::MustFail;
using testing::MustParse;

json Echo() { return {{"name", "n"}, {"type", "echo"}}; }
json Http() {
  return {{"name", "n"}, {"type", "http"}, {"http", {{"url", "https://example.com/hook"}}}};
}

// {"r0": 1, "r1": 1, ...}: `n` resource names.
json ManyResources(int n) {
  json out = json::object();
  for (int i = 0; i < n; ++i) out["r" + std::to_string(i)] = 1;
  return out;
}


TEST(ParseJobSpec, AppliesDefaults) {
  v1::JobSpec s = MustParse(Echo());
  EXPECT_EQ(s.name(), "n");
  EXPECT_EQ(s.type(), v1::JOB_TYPE_ECHO);
  EXPECT_EQ(s.priority(), 5);
  EXPECT_EQ(s.max_retries(), 3);
  EXPECT_EQ(s.timeout_seconds(), 300);
  EXPECT_EQ(s.retry_policy().strategy(), v1::RETRY_STRATEGY_EXPONENTIAL);
  EXPECT_EQ(s.retry_policy().base_delay_ms(), 1000);
  EXPECT_EQ(s.retry_policy().max_delay_ms(), 60000);
  EXPECT_FALSE(IsSet(s.run_at()));
  EXPECT_EQ(s.payload_json(), "");
  EXPECT_EQ(s.idempotency_key(), "");
  EXPECT_FALSE(s.has_http());
}

TEST(ParseJobSpec, NullMeansDefault) {
  json b = Echo();
  b["priority"] = nullptr;
  b["retry_policy"] = nullptr;
  b["run_at"] = nullptr;
  v1::JobSpec s = MustParse(b);
  EXPECT_EQ(s.priority(), 5);
  EXPECT_EQ(s.retry_policy().base_delay_ms(), 1000);
}

TEST(ParseJobSpec, HttpDefaultsAndNormalisation) {
  v1::JobSpec s = MustParse(Http());
  EXPECT_EQ(s.http().url(), "https://example.com/hook");
  EXPECT_EQ(s.http().method(), "POST");
  json b = Http();
  b["http"]["method"] = "patch";
  b["http"]["headers"] = {{"X-Token", "abc"}};
  b["http"]["body"] = "{\"a\":1}";
  s = MustParse(b);
  EXPECT_EQ(s.http().method(), "PATCH");
  EXPECT_EQ(s.http().headers().at("X-Token"), "abc");
  EXPECT_EQ(s.http().body(), "{\"a\":1}");
}

TEST(ParseJobSpec, AcceptsFullSubmission) {
  json b = {
      {"name", "nightly report"},
      {"type", "sleep"},
      {"payload", {{"ms", 1500}, {"note", "x"}}},
      {"run_at", "2026-03-02T00:00:00+01:00"},
      {"priority", 10},
      {"max_retries", 0},
      {"retry_policy", {{"strategy", "jitter"}, {"base_delay_ms", 200}, {"max_delay_ms", 200}}},
      {"timeout_seconds", 86400},
      {"idempotency_key", "order-42"}};
  v1::JobSpec s = MustParse(b);
  EXPECT_EQ(s.type(), v1::JOB_TYPE_SLEEP);
  EXPECT_EQ(s.payload_json(), R"({"ms":1500,"note":"x"})");
  EXPECT_EQ(FormatRfc3339(FromProto(s.run_at())), "2026-03-01T23:00:00.000Z");
  EXPECT_EQ(s.priority(), 10);
  EXPECT_EQ(s.max_retries(), 0);
  EXPECT_EQ(s.retry_policy().strategy(), v1::RETRY_STRATEGY_JITTER);
  EXPECT_EQ(s.retry_policy().max_delay_ms(), 200);
  EXPECT_EQ(s.timeout_seconds(), 86400);
  EXPECT_EQ(s.idempotency_key(), "order-42");
}

TEST(ParseJobSpec, CapacityFieldsDefaultToTheDefaultPoolAndAtLeastOnce) {
  v1::JobSpec s = MustParse(Echo());
  EXPECT_TRUE(s.resources().empty());
  EXPECT_EQ(s.pool(), "default");
  EXPECT_EQ(s.execution_type(), v1::EXECUTION_TYPE_AT_LEAST_ONCE);
  json b = Echo();
  b["resources"] = nullptr;
  b["pool"] = nullptr;
  b["execution_type"] = nullptr;
  s = MustParse(b);
  EXPECT_TRUE(s.resources().empty());
  EXPECT_EQ(s.pool(), "default");
  EXPECT_EQ(s.execution_type(), v1::EXECUTION_TYPE_AT_LEAST_ONCE);
}

TEST(ParseJobSpec, AcceptsResourcesPoolAndExecutionType) {
  json b = Echo();
  b["resources"] = {{"cpu", 2}, {"memory_mb", 512}, {"gpu_units", 0.5}, {"disk_gb", 0}};
  b["pool"] = "gpu-a_1.eu";
  b["execution_type"] = "at_most_once";
  v1::JobSpec s = MustParse(b);
  EXPECT_EQ(s.resources().size(), 4u);
  EXPECT_EQ(s.resources().at("cpu"), 2.0);
  EXPECT_EQ(s.resources().at("memory_mb"), 512.0);
  EXPECT_EQ(s.resources().at("gpu_units"), 0.5);
  EXPECT_EQ(s.resources().at("disk_gb"), 0.0);
  EXPECT_EQ(s.pool(), "gpu-a_1.eu");
  EXPECT_EQ(s.execution_type(), v1::EXECUTION_TYPE_AT_MOST_ONCE);

  // The limits themselves are accepted.
  b = Echo();
  b["resources"] = ManyResources(16);
  b["resources"][std::string(40, 'z')] = 1;
  b["resources"].erase("r0");
  b["pool"] = "9" + std::string(62, 'p');
  b["execution_type"] = "at_least_once";
  s = MustParse(b);
  EXPECT_EQ(s.resources().size(), 16u);
  EXPECT_EQ(s.resources().at(std::string(40, 'z')), 1.0);
  EXPECT_EQ(s.pool().size(), 63u);
  EXPECT_EQ(s.execution_type(), v1::EXECUTION_TYPE_AT_LEAST_ONCE);
}

TEST(ParseJobSpec, RunAtInThePastMeansNow) {
  json b = Echo();
  b["run_at"] = "2020-01-01T00:00:00Z";
  EXPECT_EQ(FromProto(MustParse(b).run_at()), kNow);
}

TEST(ParseJobSpec, LargeBaseDelayRaisesDefaultMaxDelay) {
  json b = Echo();
  b["retry_policy"] = {{"base_delay_ms", 120000}};
  EXPECT_EQ(MustParse(b).retry_policy().max_delay_ms(), 120000);
}

TEST(ParseJobSpec, NameCountsCharactersNotBytes) {
  json b = Echo();
  std::string name;
  for (int i = 0; i < 200; ++i) name += "é";  // 400 bytes, 200 characters
  b["name"] = name;
  EXPECT_EQ(MustParse(b).name(), name);
}

struct BadCase {
  std::string what;
  json body;
  std::string field;
  std::string code;
  std::string message_part;  // a piece of the message that says what to fix
};

json With(json base, const json::json_pointer& at, json value) {
  base[at] = std::move(value);
  return base;
}

json Without(json base, const std::string& key) {
  base.erase(key);
  return base;
}

std::vector<BadCase> BadCases() {
  using P = json::json_pointer;
  std::string long_name(201, 'x');
  return {
      {"array body", json::array({1}), "", "invalid_json", "must be a JSON object"},
      {"string body", json("x"), "", "invalid_json", "got string"},
      {"typo", With(Echo(), P("/nmae"), "x"), "nmae", "unknown_field", "did you mean \"name\""},
      {"unknown", With(Echo(), P("/color"), "x"), "color", "unknown_field",
       "Allowed fields: name, type"},
      {"empty name", With(Echo(), P("/name"), ""), "name", "invalid_field",
       "1 to 200 characters, got 0"},
      {"long name", With(Echo(), P("/name"), long_name), "name", "invalid_field", "got 201"},
      {"name number", With(Echo(), P("/name"), 5), "name", "invalid_field",
       "must be a string, got 5"},
      {"missing type", Without(Echo(), "type"), "type", "missing_field", "http, echo, sleep, fail"},
      {"bad type", With(Echo(), P("/type"), "cron"), "type", "invalid_field",
       "must be one of http, echo, sleep, fail, workflow, got \"cron\""},
      {"type object", With(Echo(), P("/type"), json::object()), "type", "invalid_field", "got {}"},
      {"missing http", Without(Http(), "http"), "http", "missing_field",
       "required for type \"http\""},
      {"http for echo", With(Echo(), P("/http"), {{"url", "https://x"}}), "http", "invalid_field",
       "only allowed when type is \"http\""},
      {"http not object", With(Http(), P("/http"), "https://x"), "http", "invalid_field",
       "must be an object"},
      {"http typo", With(Http(), P("/http/methd"), "GET"), "http.methd", "unknown_field",
       "did you mean \"method\""},
      {"missing url", With(Http(), P("/http"), json::object()), "http.url", "missing_field",
       "the URL to call"},
      {"url number", With(Http(), P("/http/url"), 3), "http.url", "invalid_field",
       "must be a string"},
      {"ftp url", With(Http(), P("/http/url"), "ftp://x.org/"), "http.url", "invalid_field",
       "http or https scheme"},
      {"relative url", With(Http(), P("/http/url"), "/hook"), "http.url", "invalid_field",
       "http or https"},
      {"no host", With(Http(), P("/http/url"), "http:///path"), "http.url", "invalid_field",
       "must include a host"},
      {"bad port", With(Http(), P("/http/url"), "http://x:99999/"), "http.url", "invalid_field",
       "invalid port"},
      {"space in url", With(Http(), P("/http/url"), "http://x/a b"), "http.url", "invalid_field",
       "spaces"},
      {"bad method", With(Http(), P("/http/method"), "TRACE"), "http.method", "invalid_field",
       "GET, POST, PUT, PATCH, DELETE, HEAD, got \"TRACE\""},
      {"headers array", With(Http(), P("/http/headers"), json::array()), "http.headers",
       "invalid_field", "must be an object"},
      {"header number", With(Http(), P("/http/headers"), {{"X-A", 1}}), "http.headers.X-A",
       "invalid_field", "must be a string, got 1"},
      {"header injection", With(Http(), P("/http/headers"), {{"X-A", "a\r\nB: c"}}),
       "http.headers.X-A", "invalid_field", "CR, LF"},
      {"header name", With(Http(), P("/http/headers"), {{"X A", "v"}}), "http.headers.X A",
       "invalid_field", "not a valid HTTP header name"},
      {"body object", With(Http(), P("/http/body"), json::object()), "http.body", "invalid_field",
       "must be a string"},
      {"sleep no payload", json{{"name", "n"}, {"type", "sleep"}}, "payload.ms", "missing_field",
       "milliseconds to sleep"},
      {"sleep payload string", json{{"name", "n"}, {"type", "sleep"}, {"payload", "1000"}},
       "payload", "invalid_field", "{\"ms\": 1000}"},
      {"sleep no ms", json{{"name", "n"}, {"type", "sleep"}, {"payload", json::object()}},
       "payload.ms", "missing_field", "is required"},
      {"sleep ms too big", json{{"name", "n"}, {"type", "sleep"}, {"payload", {{"ms", 3600001}}}},
       "payload.ms", "invalid_field", "from 0 to 3600000, got 3600001"},
      {"sleep ms float", json{{"name", "n"}, {"type", "sleep"}, {"payload", {{"ms", 1.5}}}},
       "payload.ms", "invalid_field", "must be an integer"},
      {"run_at garbage", With(Echo(), P("/run_at"), "tomorrow"), "run_at", "invalid_field",
       "RFC 3339 date-time such as"},
      {"run_at number", With(Echo(), P("/run_at"), 1700000000), "run_at", "invalid_field",
       "got 1700000000"},
      {"run_at too far", With(Echo(), P("/run_at"), "2027-03-02T12:00:00Z"), "run_at",
       "invalid_field", "at most one year ahead (no later than 2027-03-01T12:00:00.000Z)"},
      {"priority high", With(Echo(), P("/priority"), 11), "priority", "invalid_field",
       "must be an integer from 0 to 10, got 11"},
      {"priority negative", With(Echo(), P("/priority"), -1), "priority", "invalid_field",
       "got -1"},
      {"priority string", With(Echo(), P("/priority"), "5"), "priority", "invalid_field",
       "got \"5\""},
      {"priority float", With(Echo(), P("/priority"), 5.0), "priority", "invalid_field", "got 5.0"},
      {"priority huge", With(Echo(), P("/priority"), 18446744073709551615ull), "priority",
       "invalid_field", "got 18446744073709551615"},
      {"max_retries", With(Echo(), P("/max_retries"), 101), "max_retries", "invalid_field",
       "from 0 to 100, got 101"},
      {"policy not object", With(Echo(), P("/retry_policy"), "fast"), "retry_policy",
       "invalid_field", "must be an object"},
      {"policy typo", With(Echo(), P("/retry_policy/base_delay"), 1), "retry_policy.base_delay",
       "unknown_field", "did you mean \"base_delay_ms\""},
      {"strategy", With(Echo(), P("/retry_policy/strategy"), "linear"), "retry_policy.strategy",
       "invalid_field", "fixed, exponential, jitter, got \"linear\""},
      {"base delay string", With(Echo(), P("/retry_policy/base_delay_ms"), "abc"),
       "retry_policy.base_delay_ms", "invalid_field",
       "must be an integer from 1 to 3600000, got \"abc\""},
      {"base delay zero", With(Echo(), P("/retry_policy/base_delay_ms"), 0),
       "retry_policy.base_delay_ms", "invalid_field", "got 0"},
      {"max below base",
       With(With(Echo(), P("/retry_policy/base_delay_ms"), 5000), P("/retry_policy/max_delay_ms"),
            4000),
       "retry_policy.max_delay_ms", "invalid_field",
       "from 5000 to 86400000 (at least base_delay_ms), got 4000"},
      {"timeout zero", With(Echo(), P("/timeout_seconds"), 0), "timeout_seconds", "invalid_field",
       "from 1 to 86400, got 0"},
      {"timeout big", With(Echo(), P("/timeout_seconds"), 86401), "timeout_seconds",
       "invalid_field", "86401"},
      {"key empty", With(Echo(), P("/idempotency_key"), ""), "idempotency_key", "invalid_field",
       "1 to 200"},
      {"key long", With(Echo(), P("/idempotency_key"), std::string(201, 'k')), "idempotency_key",
       "invalid_field", "got 201"},
      {"key number", With(Echo(), P("/idempotency_key"), 7), "idempotency_key", "invalid_field",
       "must be a string"},
      {"resources array", With(Echo(), P("/resources"), json::array({1})), "resources",
       "invalid_field", "must be an object of resource names to non-negative numbers"},
      {"resources number", With(Echo(), P("/resources"), 2), "resources", "invalid_field",
       "got 2"},
      {"too many resources", With(Echo(), P("/resources"), ManyResources(17)), "resources",
       "invalid_field", "at most 16 resources, got 17"},
      {"resource upper case", With(Echo(), P("/resources"), {{"GPU", 1}}), "resources.GPU",
       "invalid_field", "not a valid resource name"},
      {"resource digit first", With(Echo(), P("/resources"), {{"1cpu", 1}}), "resources.1cpu",
       "invalid_field", "starting with a letter"},
      {"resource dash", With(Echo(), P("/resources"), {{"gpu-units", 1}}), "resources.gpu-units",
       "invalid_field", "lower-case letters, digits and '_'"},
      {"resource name 41", With(Echo(), P("/resources"), {{std::string(41, 'r'), 1}}),
       "resources." + std::string(41, 'r'), "invalid_field", "1 to 40"},
      {"resource empty name", With(Echo(), P("/resources"), {{"", 1}}), "resources.",
       "invalid_field", "not a valid resource name"},
      {"resource negative", With(Echo(), P("/resources/cpu"), -0.5), "resources.cpu",
       "invalid_field", "must be a non-negative number, got -0.5"},
      {"resource string", With(Echo(), P("/resources/memory_mb"), "512"), "resources.memory_mb",
       "invalid_field", "got \"512\""},
      {"resource bool", With(Echo(), P("/resources/gpu_units"), true), "resources.gpu_units",
       "invalid_field", "got true"},
      {"resource null", With(Echo(), P("/resources/gpu_units"), nullptr), "resources.gpu_units",
       "invalid_field", "got null"},
      {"pool empty", With(Echo(), P("/pool"), ""), "pool", "invalid_field",
       "1 to 63 lower-case letters"},
      {"pool upper case", With(Echo(), P("/pool"), "GPU"), "pool", "invalid_field",
       "got \"GPU\""},
      {"pool leading dash", With(Echo(), P("/pool"), "-gpu"), "pool", "invalid_field",
       "starting with a letter or digit"},
      {"pool space", With(Echo(), P("/pool"), "gpu a"), "pool", "invalid_field", "got \"gpu a\""},
      {"pool 64", With(Echo(), P("/pool"), std::string(64, 'p')), "pool", "invalid_field",
       "1 to 63"},
      {"pool number", With(Echo(), P("/pool"), 3), "pool", "invalid_field",
       "must be a string, got 3"},
      {"execution type", With(Echo(), P("/execution_type"), "exactly_once"), "execution_type",
       "invalid_field", "at_least_once (a run whose executor is lost runs again), at_most_once"},
      {"execution type case", With(Echo(), P("/execution_type"), "AT_MOST_ONCE"),
       "execution_type", "invalid_field", "got \"AT_MOST_ONCE\""},
      {"execution type number", With(Echo(), P("/execution_type"), 2), "execution_type",
       "invalid_field", "got 2"},
      {"execution type typo", With(Echo(), P("/executon_type"), "at_most_once"), "executon_type",
       "unknown_field", "did you mean \"execution_type\""},
  };
}

TEST(ParseJobSpec, EveryBadFieldGetsItsMessage) {
  for (const BadCase& c : BadCases()) {
    SCOPED_TRACE(c.what + ": " + c.body.dump().substr(0, 200));
    FieldError e = MustFail(c.body);
    EXPECT_EQ(e.field, c.field);
    EXPECT_EQ(e.code, c.code);
    EXPECT_NE(e.message.find(c.message_part), std::string::npos) << "message: " << e.message;
  }
}

TEST(ParseJobSpec, PayloadOverOneMebibyteIsTooLarge) {
  json b = Echo();
  b["payload"] = {{"data", std::string(1 << 20, 'x')}};
  FieldError e = MustFail(b);
  EXPECT_EQ(e.code, "payload_too_large");
  EXPECT_EQ(e.field, "payload");
  EXPECT_NE(e.message.find("at most 1048576 bytes"), std::string::npos) << e.message;
  EXPECT_EQ(HttpStatusOf(e.code), 413);

  b["payload"] = {{"data", std::string((1 << 20) - 20, 'x')}};  // {"data":"…"} fits exactly
  EXPECT_EQ(MustParse(b).payload_json().size(), (1u << 20) - 20 + 11);
}

TEST(ParseJobSpec, NeverThrowsOnWrongTypes) {
  const std::vector<json> values = {nullptr,          true,          -1, 1u, 2.5, "s",
                                    json::array({1}), json::object()};
  const std::vector<std::string> pointers = {"/name",
                                             "/type",
                                             "/http",
                                             "/http/url",
                                             "/http/method",
                                             "/http/headers",
                                             "/http/headers/X",
                                             "/http/body",
                                             "/payload",
                                             "/payload/ms",
                                             "/run_at",
                                             "/priority",
                                             "/max_retries",
                                             "/retry_policy",
                                             "/retry_policy/strategy",
                                             "/retry_policy/base_delay_ms",
                                             "/retry_policy/max_delay_ms",
                                             "/timeout_seconds",
                                             "/idempotency_key"};
  for (const json& base :
       {Http(), json{{"name", "n"}, {"type", "sleep"}, {"payload", {{"ms", 1}}}}}) {
    for (const auto& p : pointers) {
      for (const json& v : values) {
        json b = base;
        try {
          b[json::json_pointer(p)] = v;
        } catch (const json::exception&) {
          continue;  // the base has a non-object where the pointer needs one
        }
        EXPECT_NO_THROW((void)ParseJobSpec(b, kNow)) << b.dump();
      }
    }
  }
}

TEST(ParseJobSpec, AcceptsUrlsWithPortsUserinfoAndIpv6) {
  for (const char* url : {"http://localhost:8080/x?y=1#z", "https://user:pw@example.com",
                          "http://[::1]:9000/", "HTTPS://EXAMPLE.COM"}) {
    json b = Http();
    b["http"]["url"] = url;
    EXPECT_EQ(MustParse(b).http().url(), url);
  }
}

// ---------------------------------------------------------------------------

events::Envelope Submitted(const v1::JobSpec& spec, const std::string& job_id, TimePoint at) {
  events::Envelope e = events::MakeEnvelope(ids::EventId("JobSubmitted", job_id, ""), job_id,
                                            {"api/test", at, "corr-1", ""});
  *e.mutable_job_submitted()->mutable_spec() = spec;
  return e;
}

TEST(RenderJob, RoundTripsASubmissionThroughTheFold) {
  json body = {
      {"name", "hook"},
      {"type", "http"},
      {"http", {{"url", "https://example.com/h"}, {"method", "PUT"}, {"headers", {{"A", "b"}}}}},
      {"payload", {{"k", {1, 2, 3}}, {"s", "ü"}}},
      {"run_at", "2026-03-01T13:00:00Z"},
      {"priority", 7},
      {"idempotency_key", "key-1"}};
  v1::JobSpec spec = MustParse(body);
  const std::string job_id = ids::JobIdForIdempotencyKey("key-1");
  v1::JobState state;
  ASSERT_TRUE(events::Apply(state, Submitted(spec, job_id, kNow)).applied());

  json view = RenderJob(state);
  EXPECT_EQ(view["job_id"], job_id);
  EXPECT_EQ(view["name"], "hook");
  EXPECT_EQ(view["type"], "http");
  EXPECT_EQ(view["status"], "SCHEDULED");
  EXPECT_EQ(view["priority"], 7);
  EXPECT_EQ(view["max_retries"], 3);
  EXPECT_EQ(view["attempts"], 0);
  EXPECT_EQ(view["run_at"], "2026-03-01T13:00:00.000Z");
  EXPECT_EQ(view["next_run_at"], "2026-03-01T13:00:00.000Z");
  EXPECT_EQ(view["timeout_seconds"], 300);
  EXPECT_EQ(view["retry_policy"],
            (json{{"strategy", "exponential"}, {"base_delay_ms", 1000}, {"max_delay_ms", 60000}}));
  EXPECT_EQ(view["http"], (json{{"url", "https://example.com/h"},
                                {"method", "PUT"},
                                {"headers", {{"A", "b"}}},
                                {"body", nullptr}}));
  EXPECT_EQ(view["payload"], body["payload"]);
  EXPECT_EQ(view["idempotency_key"], "key-1");
  EXPECT_EQ(view["cancel_requested"], false);
  EXPECT_EQ(view["last_error"], nullptr);
  EXPECT_EQ(view["created_at"], "2026-03-01T12:00:00.000Z");
  EXPECT_EQ(view["updated_at"], "2026-03-01T12:00:00.000Z");

  // The stored state (what GET decodes from jobs.fold_state) renders the same.
  v1::JobState stored;
  ASSERT_TRUE(stored.ParseFromString(events::Encode(state)));
  EXPECT_EQ(RenderJob(stored), view);
}

TEST(RenderJob, ImmediateJobWithoutPayloadHasNulls) {
  v1::JobState state;
  ASSERT_TRUE(events::Apply(state, Submitted(MustParse(Echo()), RandomId(), kNow)).applied());
  json view = RenderJob(state);
  EXPECT_EQ(view["status"], "PENDING");
  EXPECT_EQ(view["run_at"], nullptr);
  EXPECT_EQ(view["next_run_at"], "2026-03-01T12:00:00.000Z");
  EXPECT_EQ(view["http"], nullptr);
  EXPECT_EQ(view["payload"], nullptr);
  EXPECT_EQ(view["idempotency_key"], nullptr);
}

TEST(RenderJob, ShowsCancelRequested) {
  const std::string id = RandomId();
  v1::JobState state;
  ASSERT_TRUE(events::Apply(state, Submitted(MustParse(Echo()), id, kNow)).applied());
  events::Envelope cancel = events::MakeEnvelope(ids::EventId("CancelRequested", id, ""), id,
                                                 {"api/test", kNow + Millis(5), "c", ""});
  cancel.mutable_cancel_requested();
  ASSERT_TRUE(events::Apply(state, cancel).applied());
  json view = RenderJob(state);
  EXPECT_EQ(view["cancel_requested"], true);
  EXPECT_EQ(view["updated_at"], "2026-03-01T12:00:00.005Z");
}

TEST(RenderExecution, MapsStatusesAndNulls) {
  ExecutionRow row;
  row.run_id = "r";
  row.attempt = 2;
  row.status = "DISPATCHED";
  row.scheduled_for = kNow;
  row.http_status = 0;
  json v = RenderExecution(row);
  EXPECT_EQ(v["status"], "QUEUED");
  EXPECT_EQ(v["attempt"], 2);
  EXPECT_EQ(v["scheduled_for"], "2026-03-01T12:00:00.000Z");
  EXPECT_EQ(v["started_at"], nullptr);
  EXPECT_EQ(v["http_status"], nullptr);
  EXPECT_EQ(v["error"], nullptr);
  EXPECT_EQ(ExecutionStatusName("DUE"), "QUEUED");
  for (const char* s : {"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT"})
    EXPECT_EQ(ExecutionStatusName(s), s);
  row.status = "FAILED";
  row.http_status = 502;
  row.error = "bad gateway";
  row.duration_ms = 12;
  v = RenderExecution(row);
  EXPECT_EQ(v["http_status"], 502);
  EXPECT_EQ(v["error"], "bad gateway");
  EXPECT_EQ(v["duration_ms"], 12);
}

// A one-off job's events after its submission, built by hand (fold_test_util's
// factory knows the first slice's events only).
class JobEvents {
 public:
  explicit JobEvents(const v1::JobSpec& spec) : id_(RandomId()) {
    Add(Submitted(spec, id_, kNow));
  }
  const std::string& id() const { return id_; }
  std::string run() const { return ids::RunId(id_, ids::OnceFireId(id_), 1); }
  v1::JobState& state() { return state_; }

  events::Envelope Event(const std::string& type, int ms) {
    return events::MakeEnvelope(ids::EventId(type, id_, std::to_string(++seq_)), id_,
                                {"test", kNow + Millis(ms), "corr-1", ""});
  }
  // Applies `e`; a test failure if the fold does not apply it.
  void Add(const events::Envelope& e) {
    events::FoldResult r = events::Apply(state_, e);
    EXPECT_TRUE(r.applied()) << events::EventType(e) << ": " << r.reason;
  }
  void Due(int ms) {
    events::Envelope e = Event("RunDue", ms);
    e.mutable_run_due()->set_run_id(run());
    e.mutable_run_due()->set_attempt(1);
    e.mutable_run_due()->set_fire_id(ids::OnceFireId(id_));
    *e.mutable_run_due()->mutable_scheduled_for() = ToProto(kNow);
    Add(e);
  }
  void Waiting(int ms, const std::string& reason) {
    events::Envelope e = Event("RunWaiting", ms);
    e.mutable_run_waiting()->set_run_id(run());
    e.mutable_run_waiting()->set_reason(reason);
    Add(e);
  }
  void Dispatched(int ms, int64_t epoch, const std::string& executor) {
    events::Envelope e = Event("RunDispatched", ms);
    e.mutable_run_dispatched()->set_run_id(run());
    e.mutable_run_dispatched()->set_lease_epoch(epoch);
    e.mutable_run_dispatched()->set_executor_id(executor);
    e.mutable_run_dispatched()->set_executor_incarnation("inc-" + executor);
    Add(e);
  }
  void Started(int ms, int64_t epoch, const std::string& executor) {
    events::Envelope e = Event("RunStarted", ms);
    e.mutable_run_started()->set_run_id(run());
    e.mutable_run_started()->set_lease_epoch(epoch);
    e.mutable_run_started()->set_executor_id(executor);
    Add(e);
  }
  void Failed(int ms, int64_t epoch) {
    events::Envelope e = Event("RunFailed", ms);
    e.mutable_run_failed()->set_run_id(run());
    e.mutable_run_failed()->set_lease_epoch(epoch);
    e.mutable_run_failed()->set_kind(v1::FAILURE_KIND_HTTP_STATUS);
    e.mutable_run_failed()->set_http_status(404);
    e.mutable_run_failed()->set_permanent(true);
    e.mutable_run_failed()->set_error("HTTP 404");
    Add(e);
  }
  void Dead(int ms) {
    events::Envelope e = Event("JobDead", ms);
    e.mutable_job_dead()->set_last_run_id(run());
    e.mutable_job_dead()->set_attempts(1);
    e.mutable_job_dead()->set_reason("permanent failure");
    Add(e);
  }

 private:
  std::string id_;
  v1::JobState state_;
  int seq_ = 0;
};

v1::JobSpec GpuSpec() {
  json b = Echo();
  b["resources"] = {{"cpu", 2}, {"gpu_units", 0.5}};
  b["pool"] = "gpu";
  b["execution_type"] = "at_most_once";
  b["max_retries"] = 0;
  return MustParse(b);
}

TEST(RenderJob, ShowsCapacityTheQueueReasonAndTheLease) {
  JobEvents job(GpuSpec());
  json view = RenderJob(job.state());
  EXPECT_EQ(view["resources"], (json{{"cpu", 2}, {"gpu_units", 0.5}}));
  EXPECT_TRUE(view["resources"]["cpu"].is_number_integer());  // 2, not 2.0
  EXPECT_EQ(view["pool"], "gpu");
  EXPECT_EQ(view["execution_type"], "at_most_once");
  EXPECT_EQ(view["queue_reason"], nullptr);
  EXPECT_EQ(view["lease"], nullptr);

  job.Due(10);
  job.Waiting(20, "no live executor of pool gpu has gpu_units 0.5 free");
  view = RenderJob(job.state());
  EXPECT_EQ(view["status"], "QUEUED");
  EXPECT_EQ(view["queue_reason"], "no live executor of pool gpu has gpu_units 0.5 free");
  EXPECT_EQ(view["lease"], nullptr);

  job.Dispatched(30, 1, "gpu-box-1");
  view = RenderJob(job.state());
  EXPECT_EQ(view["queue_reason"], nullptr);  // cleared by the dispatch
  EXPECT_EQ(view["lease"], (json{{"run_id", job.run()},
                                 {"epoch", 1},
                                 {"executor_id", "gpu-box-1"},
                                 {"executor_incarnation", "inc-gpu-box-1"},
                                 {"dispatched_at", "2026-03-01T12:00:00.030Z"}}));
  job.Started(40, 1, "gpu-box-1");
  EXPECT_EQ(RenderJob(job.state())["lease"]["epoch"], 1);
  job.Failed(50, 1);
  EXPECT_EQ(RenderJob(job.state())["lease"], nullptr);

  // A job submitted before these fields existed reads as the defaults.
  v1::JobSpec old = MustParse(Echo());
  old.clear_pool();
  old.clear_execution_type();
  v1::JobState state;
  ASSERT_TRUE(events::Apply(state, Submitted(old, RandomId(), kNow)).applied());
  view = RenderJob(state);
  EXPECT_EQ(view["pool"], "default");
  EXPECT_EQ(view["execution_type"], "at_least_once");
  EXPECT_EQ(view["resources"], json::object());
}

TEST(RenderExecution, ShowsTheLeaseAndTheFailureFields) {
  ExecutionRow row;
  row.run_id = "r";
  row.attempt = 1;
  row.status = "LOST";
  json v = RenderExecution(row);
  EXPECT_EQ(v["status"], "LOST");
  EXPECT_EQ(v["lease_epoch"], nullptr);
  EXPECT_EQ(v["releases"], 0);
  EXPECT_EQ(v["permanent"], false);
  EXPECT_EQ(v["retry_after_ms"], nullptr);
  EXPECT_EQ(v["queue_reason"], nullptr);
  row.status = "FAILED";
  row.lease_epoch = 3;
  row.releases = 2;
  row.permanent = true;
  row.retry_after_ms = 120000;
  row.executor_id = "exec-2";
  v = RenderExecution(row);
  EXPECT_EQ(v["lease_epoch"], 3);
  EXPECT_EQ(v["releases"], 2);
  EXPECT_EQ(v["permanent"], true);
  EXPECT_EQ(v["retry_after_ms"], 120000);
  EXPECT_EQ(v["executor_id"], "exec-2");
  row.status = "DUE";
  row.wait_reason = "no executor in pool gpu";
  EXPECT_EQ(RenderExecution(row)["queue_reason"], "no executor in pool gpu");
  EXPECT_EQ(RenderExecution(row)["status"], "QUEUED");
}

// ---------------------------------------------------------------------------
// The ops routes (ops_routes.h)

std::optional<OpsRoute> Match(Pistache::Http::Method method, const std::string& path,
                              QueryParams query = {}) {
  std::vector<std::string_view> parts;
  std::string_view rest = path;
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return MatchOpsRoute(method, parts, query, kNow, {});
}

TEST(MatchOpsRoute, RoutesMethodsAndParameters) {
  using Pistache::Http::Method;
  for (const char* path : {"/api/v1/executors", "/api/v1/queue/stats", "/api/v1/dead-letters"}) {
    SCOPED_TRACE(path);
    auto get = Match(Method::Get, path);
    ASSERT_TRUE(get.has_value());
    EXPECT_TRUE(std::holds_alternative<OpsRead>(*get));
    auto post = Match(Method::Post, path);
    ASSERT_TRUE(post.has_value());
    ASSERT_TRUE(std::holds_alternative<OpsMethodNotAllowed>(*post));
    EXPECT_EQ(std::get<OpsMethodNotAllowed>(*post).allowed, Method::Get);
  }
  const std::string id = RandomId();
  auto requeue = Match(Method::Post, "/api/v1/dead-letters/" + id + "/requeue");
  ASSERT_TRUE(requeue.has_value());
  ASSERT_TRUE(std::holds_alternative<OpsRequeue>(*requeue));
  EXPECT_EQ(std::get<OpsRequeue>(*requeue).job_id, id);
  auto get_requeue = Match(Method::Get, "/api/v1/dead-letters/" + id + "/requeue");
  ASSERT_TRUE(get_requeue.has_value());
  EXPECT_EQ(std::get<OpsMethodNotAllowed>(*get_requeue).allowed, Method::Post);

  for (const char* other : {"/api/v1/jobs", "/api/v1/queue", "/api/v1/executors/x",
                            "/api/v1/dead-letters/x", "/api/v2/executors", "/health"}) {
    EXPECT_FALSE(Match(Method::Get, other).has_value()) << other;
  }

  auto bad = [&](const std::string& path, QueryParams q, const std::string& field) {
    SCOPED_TRACE(path);
    auto r = Match(Method::Get, path, std::move(q));
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(std::holds_alternative<ApiError>(*r));
    EXPECT_EQ(std::get<ApiError>(*r).code, "invalid_parameter");
    EXPECT_EQ(std::get<ApiError>(*r).field, field);
  };
  bad("/api/v1/executors", {{"pool", "gpu"}}, "pool");
  bad("/api/v1/queue/stats", {{"x", "1"}}, "x");
  bad("/api/v1/dead-letters", {{"limit", "0"}}, "limit");
  bad("/api/v1/dead-letters", {{"limit", "501"}}, "limit");
  bad("/api/v1/dead-letters", {{"include_requeued", "yes"}}, "include_requeued");
  bad("/api/v1/dead-letters", {{"cursor", EncodeCursor({"2026-03-01T12:00:00.000000Z", id})}},
      "cursor");  // a jobs cursor is not a dead-letters cursor
  auto ok = Match(Method::Get, "/api/v1/dead-letters",
                  {{"limit", "500"}, {"include_requeued", "true"},
                   {"cursor", EncodeDeadLetterCursor({"2026-03-01T12:00:00.123456Z", id})}});
  ASSERT_TRUE(ok.has_value());
  EXPECT_TRUE(std::holds_alternative<OpsRead>(*ok));
}

TEST(DeadLetterCursor, RoundTripsAndRejectsForgeries) {
  DeadLetterCursor c{"2026-03-01T12:00:00.123456Z", "0b6a3c1e-9f0d-4c7a-8b5e-1d2c3b4a5f60"};
  std::string text = EncodeDeadLetterCursor(c);
  EXPECT_EQ(DecodeDeadLetterCursor(text), c);
  EXPECT_FALSE(DecodeDeadLetterCursor(""));
  EXPECT_FALSE(DecodeDeadLetterCursor(text + "A"));
  EXPECT_FALSE(DecodeDeadLetterCursor(Base64UrlEncode("dead|2026-03-01T12:00:00Z|" + c.job_id)));
  EXPECT_FALSE(DecodeDeadLetterCursor(Base64UrlEncode("dead|" + c.dead_at + "|nope")));
  EXPECT_FALSE(DecodeDeadLetterCursor(EncodeCursor({c.dead_at, c.job_id})));
}

TEST(PlanRequeue, ADeadJobGetsJobRequeuedAndComesBackRetrying) {
  JobEvents job(GpuSpec());
  job.Due(10);
  job.Dispatched(20, 1, "gpu-box-1");
  job.Started(30, 1, "gpu-box-1");
  job.Failed(40, 1);
  job.Dead(50);
  ASSERT_EQ(job.state().status(), v1::JOB_STATUS_DEAD);
  const events::Origin origin{"api/test", kNow + Millis(60), "req-1", ""};

  auto planned = PlanRequeue(job.state(), std::nullopt, origin);
  ASSERT_TRUE(std::holds_alternative<PlannedRequeue>(planned))
      << std::get<ApiError>(planned).message;
  const PlannedRequeue& p = std::get<PlannedRequeue>(planned);
  EXPECT_TRUE(p.event.has_job_requeued());
  EXPECT_EQ(p.event.job_id(), job.id());
  EXPECT_EQ(p.event.event_id(), ids::EventId("JobRequeued", job.id(), "requeue:1"));
  EXPECT_EQ(p.view["status"], "RETRYING");
  EXPECT_EQ(p.view["job_id"], job.id());
  // The state it was decided from rides along: a scheduler that evicted the
  // long-dead job resumes from it.
  EXPECT_EQ(p.event.job_requeued().state(), events::EncodeDeterministic(job.state()));

  // With a key, the key decides the id.
  auto keyed = PlanRequeue(job.state(), std::string("k-1"), origin);
  ASSERT_TRUE(std::holds_alternative<PlannedRequeue>(keyed));
  EXPECT_EQ(std::get<PlannedRequeue>(keyed).event.event_id(),
            ids::EventId("JobRequeued", job.id(), "Idempotency-Key:k-1"));

  // Repeated once the requeue is folded (the projection caught up): the same
  // event again, a duplicate for the fold, so 202 again.
  job.Add(p.event);
  auto again = PlanRequeue(job.state(), std::nullopt, origin);
  ASSERT_TRUE(std::holds_alternative<PlannedRequeue>(again))
      << std::get<ApiError>(again).message;
  EXPECT_EQ(std::get<PlannedRequeue>(again).event.event_id(), p.event.event_id());
}

TEST(PlanRequeue, AJobThatIsNotDeadIsJobNotDead) {
  JobEvents running(GpuSpec());
  running.Due(10);
  running.Dispatched(20, 1, "gpu-box-1");
  running.Started(30, 1, "gpu-box-1");
  JobEvents succeeded(MustParse(Echo()));
  succeeded.Due(10);
  succeeded.Dispatched(20, 1, "e");
  succeeded.Started(30, 1, "e");
  {
    events::Envelope ok = succeeded.Event("RunSucceeded", 40);
    ok.mutable_run_succeeded()->set_run_id(succeeded.run());
    ok.mutable_run_succeeded()->set_lease_epoch(1);
    succeeded.Add(ok);
    events::Envelope done = succeeded.Event("JobSucceeded", 50);
    done.mutable_job_succeeded()->set_run_id(succeeded.run());
    succeeded.Add(done);
  }
  for (auto* job : {&running, &succeeded}) {
    const std::string status(events::JobStatusName(job->state().status()));
    SCOPED_TRACE(status);
    auto planned = PlanRequeue(job->state(), std::nullopt, {"api/test", kNow, "r", ""});
    ASSERT_TRUE(std::holds_alternative<ApiError>(planned));
    const ApiError& e = std::get<ApiError>(planned);
    EXPECT_EQ(e.code, "job_not_dead");
    EXPECT_EQ(HttpStatusOf(e.code), 409);
    EXPECT_EQ(e.details, (json{{"status", status}}));
    EXPECT_NE(e.message.find("only a DEAD job can be requeued"), std::string::npos) << e.message;
  }
  EXPECT_EQ(running.state().status(), v1::JOB_STATUS_RUNNING);
  EXPECT_EQ(succeeded.state().status(), v1::JOB_STATUS_SUCCEEDED);
}

// ---------------------------------------------------------------------------

TEST(Cursor, RoundTripsAndRejectsForgeries) {
  ListCursor c{"2026-03-01T12:00:00.123456Z", "0b6a3c1e-9f0d-4c7a-8b5e-1d2c3b4a5f60"};
  std::string text = EncodeCursor(c);
  EXPECT_EQ(text.find_first_of("+/="), std::string::npos);
  EXPECT_EQ(DecodeCursor(text), c);
  EXPECT_FALSE(DecodeCursor(""));
  EXPECT_FALSE(DecodeCursor("!!!"));
  EXPECT_FALSE(DecodeCursor(Base64UrlEncode("2026-03-01|x")));
  EXPECT_FALSE(DecodeCursor(Base64UrlEncode("2026-03-01T12:00:00Z|" + c.job_id)));
  EXPECT_FALSE(DecodeCursor(text + "A"));
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(s)), s);
  }
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
}

TEST(ApiError, OneMappingToHttp) {
  EXPECT_EQ(HttpStatusOf("invalid_field"), 400);
  EXPECT_EQ(HttpStatusOf("invalid_json"), 400);
  EXPECT_EQ(HttpStatusOf("unknown_field"), 400);
  EXPECT_EQ(HttpStatusOf("job_not_found"), 404);
  EXPECT_EQ(HttpStatusOf("method_not_allowed"), 405);
  EXPECT_EQ(HttpStatusOf("job_terminal"), 409);
  EXPECT_EQ(HttpStatusOf("payload_too_large"), 413);
  EXPECT_EQ(HttpStatusOf("kafka_unavailable"), 503);
  EXPECT_EQ(HttpStatusOf("database_unavailable"), 503);
  EXPECT_EQ(HttpStatusOf("no_such_code"), 500);

  EXPECT_EQ(FromStatus(Status::Unavailable("down"), "kafka_unavailable").code, "kafka_unavailable");
  EXPECT_EQ(FromStatus(Status::Timeout("slow"), "database_unavailable").code,
            "database_unavailable");
  EXPECT_EQ(FromStatus(Status::Internal("bug"), "database_unavailable").code, "internal");

  EXPECT_EQ(ErrorBody(FromFieldError({"invalid_field", "must be x", "priority"})),
            (json{{"error",
                   {{"code", "invalid_field"}, {"message", "must be x"}, {"field", "priority"}}}}));
  EXPECT_EQ(ErrorBody({"job_terminal", "done", "", {{"status", "DEAD"}}}),
            (json{{"error", {{"code", "job_terminal"}, {"message", "done"}, {"status", "DEAD"}}}}));
}

}  // namespace
}  // namespace jobsched::api
