// Unit tests of recurring submissions: the schedule fields of ParseJobSpec
// (job_spec.h, schedule_spec.h), the derived name and type, and the
// recurring job view (RenderJob).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "events/envelope.h"
#include "events/fold.h"
#include "events/ids.h"
#include "services/api/job_spec.h"
#include "tests/unit/api_spec_test_util.h"
#include "services/api/job_view.h"
#include "services/api/schedule_spec.h"

namespace jobsched::api {
namespace {

using nlohmann::json;

using testing::kNow;
using testing::MustFail;
using testing::MustParse;


json Recurring() { return {{"type", "echo"}, {"schedule", "0 */5 * * * *"}}; }

TEST(RecurringSpec, SimplestHttpSubmissionIsWhole) {
  v1::JobSpec s =
      MustParse({{"schedule", "*/30 * * * * *"}, {"http", {{"url", "http://127.0.0.1:9/x"}}}});
  EXPECT_EQ(s.type(), v1::JOB_TYPE_HTTP);
  EXPECT_EQ(s.name(), "POST http://127.0.0.1:9/x");
  EXPECT_EQ(s.http().method(), "POST");
  ASSERT_TRUE(s.has_schedule());
  EXPECT_EQ(s.schedule().cron(), "*/30 * * * * *");
  EXPECT_EQ(s.schedule().timezone(), "UTC");
  EXPECT_EQ(s.schedule().dst_gap(), v1::DST_GAP_POLICY_UNSPECIFIED);
  EXPECT_EQ(s.schedule().dst_overlap(), v1::DST_OVERLAP_POLICY_UNSPECIFIED);
  EXPECT_FALSE(s.schedule().has_start_at());
  EXPECT_FALSE(s.schedule().has_end_at());
  EXPECT_EQ(s.schedule().max_runs(), 0);
  EXPECT_EQ(s.schedule().concurrency_policy(), v1::CONCURRENCY_POLICY_FORBID);
  EXPECT_EQ(s.schedule().misfire_policy(), v1::MISFIRE_POLICY_FIRE_ONCE);
  EXPECT_FALSE(IsSet(s.run_at()));
  EXPECT_EQ(s.priority(), 5);
}

TEST(RecurringSpec, DefaultNames) {
  EXPECT_EQ(MustParse({{"type", "echo"}}).name(), "echo");
  EXPECT_EQ(MustParse({{"type", "sleep"}, {"payload", {{"ms", 5}}}}).name(), "sleep");
  EXPECT_EQ(MustParse({{"http", {{"url", "https://h.example/p?q=1"}, {"method", "get"}}}}).name(),
            "GET https://h.example/p?q=1");
  EXPECT_EQ(MustParse({{"name", nullptr}, {"type", "fail"}}).name(), "fail");
  // A given name wins; an explicit type wins over the http default.
  EXPECT_EQ(MustParse({{"name", "mine"}, {"type", "echo"}}).name(), "mine");
  FieldError e = MustFail({{"type", "echo"}, {"http", {{"url", "https://x.org"}}}});
  EXPECT_EQ(e.field, "http");
  // Long URLs are cut to 200 characters.
  std::string url = "https://example.com/" + std::string(300, 'a');
  std::string name = MustParse({{"http", {{"url", url}}}}).name();
  EXPECT_EQ(name.size(), 200u);
  EXPECT_EQ(name, ("POST " + url).substr(0, 200));
}

TEST(RecurringSpec, AcceptsEveryField) {
  json b = {{"name", "report"},
            {"type", "echo"},
            {"schedule", "0 30 2 * * *"},
            {"timezone", "America/New_York"},
            {"dst_gap", "skip"},
            {"dst_overlap", "both"},
            {"start_at", "2026-03-02T00:00:00Z"},
            {"end_at", "2026-12-31T00:00:00-05:00"},
            {"max_runs", 100},
            {"concurrency_policy", "allow"},
            {"misfire_policy", "fire_all"}};
  v1::JobSpec s = MustParse(b);
  const v1::ScheduleSpec& sched = s.schedule();
  EXPECT_EQ(sched.cron(), "0 30 2 * * *");
  EXPECT_EQ(sched.timezone(), "America/New_York");
  EXPECT_EQ(sched.dst_gap(), v1::DST_GAP_POLICY_SKIP);
  EXPECT_EQ(sched.dst_overlap(), v1::DST_OVERLAP_POLICY_BOTH);
  EXPECT_EQ(FormatRfc3339(FromProto(sched.start_at())), "2026-03-02T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(FromProto(sched.end_at())), "2026-12-31T05:00:00.000Z");
  EXPECT_EQ(sched.max_runs(), 100);
  EXPECT_EQ(sched.concurrency_policy(), v1::CONCURRENCY_POLICY_ALLOW);
  EXPECT_EQ(sched.misfire_policy(), v1::MISFIRE_POLICY_FIRE_ALL);
  for (const char* cron : {"@daily", "@every 90s", "@every 1h30m", "*/5 * * * *",
                           "0 0 9 * * MON-FRI", "0 0 12 L * ?", "0 0 10 ? * 6L"}) {
    json c = Recurring();
    c["schedule"] = cron;
    EXPECT_EQ(MustParse(c).schedule().cron(), cron);
  }
  for (const char* policy : {"auto", "shift", "skip"}) {
    json c = Recurring();
    c["dst_gap"] = policy;
    EXPECT_EQ(DstGapName(MustParse(c).schedule().dst_gap()), policy);
  }
  for (const char* policy : {"allow", "forbid", "replace"}) {
    json c = Recurring();
    c["concurrency_policy"] = policy;
    EXPECT_EQ(ConcurrencyPolicyName(MustParse(c).schedule().concurrency_policy()), policy);
  }
  for (const char* policy : {"fire_once", "skip", "fire_all"}) {
    json c = Recurring();
    c["misfire_policy"] = policy;
    EXPECT_EQ(MisfirePolicyName(MustParse(c).schedule().misfire_policy()), policy);
  }
}

struct BadSchedule {
  std::string what;
  json body;
  FieldError error;  // exact
};

json With(json base, const std::string& key, json value) {
  base[key] = std::move(value);
  return base;
}

TEST(RecurringSpec, ErrorsNameTheFieldWithTheEngineMessage) {
  const std::vector<BadSchedule> cases = {
      {"minute out of range",
       With(Recurring(), "schedule", "0 61 * * * *"),
       {"invalid_field", "minute: 61 is out of range 0-59", "schedule"}},
      {"five fields",
       With(Recurring(), "schedule", "61 * * * *"),
       {"invalid_field", "minute: 61 is out of range 0-59", "schedule"}},
      {"field count",
       With(Recurring(), "schedule", "* * *"),
       {"invalid_field", "expected 5 or 6 fields (or a macro such as @daily), got 3", "schedule"}},
      {"bad token",
       With(Recurring(), "schedule", "0 0 x * * *"),
       {"invalid_field", "hour: expected a number, got \"x\"", "schedule"}},
      {"never fires",
       With(Recurring(), "schedule", "0 0 0 30 2 *"),
       {"invalid_field", "the expression never fires: no day matches day of month 30 in month 2",
        "schedule"}},
      {"every zero",
       With(Recurring(), "schedule", "@every 0s"),
       {"invalid_field", "the interval must be at least 1s, got \"0s\"", "schedule"}},
      {"unknown zone",
       With(Recurring(), "timezone", "Mars/Base"),
       {"invalid_field", "unknown time zone \"Mars/Base\"", "timezone"}},
      {"empty zone",
       With(Recurring(), "timezone", ""),
       {"invalid_field", "must be an IANA time zone name such as \"Europe/Paris\", got \"\"",
        "timezone"}},
      {"schedule number",
       With(Recurring(), "schedule", 5),
       {"invalid_field", "must be a string, got 5", "schedule"}},
      {"schedule empty",
       With(Recurring(), "schedule", ""),
       {"invalid_field",
        "must be a cron expression of 1 to 200 characters such as \"*/30 * * * * *\", \"0 9 * * "
        "MON-FRI\" or \"@every 90s\", got \"\"",
        "schedule"}},
      {"run_at with schedule",
       With(Recurring(), "run_at", "2026-03-02T00:00:00Z"),
       {"invalid_field",
        "cannot be combined with \"schedule\"; use start_at to choose when a recurring job starts",
        "run_at"}},
      {"timezone without schedule",
       json{{"type", "echo"}, {"timezone", "UTC"}},
       {"invalid_field", "is only allowed with \"schedule\", which makes the job recurring",
        "timezone"}},
      {"max_runs without schedule",
       json{{"type", "echo"}, {"max_runs", 3}},
       {"invalid_field", "is only allowed with \"schedule\", which makes the job recurring",
        "max_runs"}},
      {"dst_gap",
       With(Recurring(), "dst_gap", "later"),
       {"invalid_field", "must be one of auto, shift, skip, got \"later\"", "dst_gap"}},
      {"dst_overlap",
       With(Recurring(), "dst_overlap", 2),
       {"invalid_field", "must be one of auto, first, both, got 2", "dst_overlap"}},
      {"start_at garbage",
       With(Recurring(), "start_at", "soon"),
       {"invalid_field",
        "must be an RFC 3339 date-time such as \"2030-01-02T15:04:05Z\", got \"soon\"",
        "start_at"}},
      {"end_at before start_at",
       With(With(Recurring(), "start_at", "2026-04-01T00:00:00Z"), "end_at",
            "2026-03-15T00:00:00Z"),
       {"invalid_field",
        "must be after start_at (2026-04-01T00:00:00.000Z), got \"2026-03-15T00:00:00Z\"",
        "end_at"}},
      {"end_at past",
       With(Recurring(), "end_at", "2026-03-01T11:00:00Z"),
       {"invalid_field",
        "must be in the future (after 2026-03-01T12:00:00.000Z), got \"2026-03-01T11:00:00Z\"",
        "end_at"}},
      {"max_runs zero",
       With(Recurring(), "max_runs", 0),
       {"invalid_field", "must be an integer from 1 to 1000000000, got 0", "max_runs"}},
      {"concurrency",
       With(Recurring(), "concurrency_policy", "queue"),
       {"invalid_field", "must be one of allow, forbid, replace, got \"queue\"",
        "concurrency_policy"}},
      {"misfire",
       With(Recurring(), "misfire_policy", "fire_twice"),
       {"invalid_field", "must be one of fire_once, skip, fire_all, got \"fire_twice\"",
        "misfire_policy"}},
      {"typo",
       With(Recurring(), "timzone", "UTC"),
       {"unknown_field",
        "is not a known field; did you mean \"timezone\"? Allowed fields: name, type, http, "
        "payload, run_at, priority, max_retries, retry_policy, timeout_seconds, resources, pool, "
        "execution_type, idempotency_key, schedule, timezone, dst_gap, dst_overlap, start_at, "
        "end_at, max_runs, concurrency_policy, misfire_policy, depends_on, workflow.",
        "timzone"}},
  };
  for (const BadSchedule& c : cases) {
    SCOPED_TRACE(c.what + ": " + c.body.dump());
    EXPECT_EQ(MustFail(c.body), c.error);
  }
}

TEST(RecurringSpec, NeverThrowsOnWrongTypes) {
  const std::vector<json> values = {nullptr,          true,          -1, 1u, 2.5, "s",
                                    json::array({1}), json::object()};
  for (const char* key : {"schedule", "timezone", "dst_gap", "dst_overlap", "start_at", "end_at",
                          "max_runs", "concurrency_policy", "misfire_policy"}) {
    for (const json& v : values) {
      json b = With(Recurring(), key, v);
      EXPECT_NO_THROW((void)ParseJobSpec(b, kNow)) << b.dump();
    }
  }
}

TEST(ScheduleNames, RoundTrip) {
  for (auto p :
       {v1::DST_GAP_POLICY_UNSPECIFIED, v1::DST_GAP_POLICY_SHIFT, v1::DST_GAP_POLICY_SKIP}) {
    EXPECT_EQ(ParseDstGap(DstGapName(p)), p);
  }
  for (auto p : {v1::DST_OVERLAP_POLICY_UNSPECIFIED, v1::DST_OVERLAP_POLICY_FIRST,
                 v1::DST_OVERLAP_POLICY_BOTH}) {
    EXPECT_EQ(ParseDstOverlap(DstOverlapName(p)), p);
  }
  EXPECT_EQ(ConcurrencyPolicyName(v1::CONCURRENCY_POLICY_UNSPECIFIED), "forbid");
  EXPECT_EQ(MisfirePolicyName(v1::MISFIRE_POLICY_UNSPECIFIED), "fire_once");
  EXPECT_EQ(SkipReasonName(v1::SKIP_REASON_DST_GAP), "dst_gap");
  EXPECT_FALSE(ParseConcurrencyPolicy("FORBID"));
  EXPECT_EQ(FormatRfc3339Seconds(*ParseRfc3339("2026-03-08T07:00:00.999Z")),
            "2026-03-08T07:00:00Z");
}

// ---------------------------------------------------------------------------

events::Envelope Submitted(const v1::JobSpec& spec, const std::string& job_id, TimePoint at) {
  events::Envelope e = events::MakeEnvelope(ids::EventId("JobSubmitted", job_id, ""), job_id,
                                            {"api/test", at, "corr-1", ""});
  *e.mutable_job_submitted()->mutable_spec() = spec;
  return e;
}

TEST(RecurringView, ShowsScheduleCursorAndCounts) {
  json body = {{"schedule", "*/30 * * * * *"},
               {"http", {{"url", "http://127.0.0.1:9/x"}}},
               {"timezone", "Europe/Paris"},
               {"end_at", "2026-03-02T00:00:00Z"},
               {"max_runs", 10}};
  const std::string id = RandomId();
  v1::JobState state;
  ASSERT_TRUE(events::Apply(state, Submitted(MustParse(body), id, kNow)).applied());
  json view = RenderJob(state);
  EXPECT_EQ(view["status"], "ACTIVE");
  EXPECT_EQ(view["recurring"], true);
  EXPECT_EQ(view["name"], "POST http://127.0.0.1:9/x");
  EXPECT_EQ(view["type"], "http");
  EXPECT_EQ(view["next_fire_at"], "2026-03-01T12:00:30.000Z");
  EXPECT_EQ(view["next_run_at"], view["next_fire_at"]);
  EXPECT_EQ(view["run_at"], nullptr);
  EXPECT_EQ(view["schedule"], (json{{"cron", "*/30 * * * * *"},
                                    {"timezone", "Europe/Paris"},
                                    {"dst_gap", "auto"},
                                    {"dst_overlap", "auto"},
                                    {"start_at", nullptr},
                                    {"end_at", "2026-03-02T00:00:00.000Z"},
                                    {"max_runs", 10},
                                    {"concurrency_policy", "forbid"},
                                    {"misfire_policy", "fire_once"}}));
  EXPECT_EQ(view["last_fire_at"], nullptr);
  EXPECT_EQ(view["runs_in_flight"], 0);
  EXPECT_EQ(view["paused_at"], nullptr);
  EXPECT_EQ(view["end_reason"], nullptr);
  EXPECT_EQ(view["counts"], (json{{"fires", 0},
                                  {"manual_runs", 0},
                                  {"succeeded", 0},
                                  {"failed", 0},
                                  {"canceled", 0},
                                  {"skipped", 0}}));

  // The first fire moves the cursor and puts a run in flight.
  const TimePoint slot = kNow + std::chrono::seconds(30);
  // Europe/Paris is UTC+1 in March: the nominal (local) time is 13:00:30.
  const std::string fire_id = ids::FireId(id, "2026-03-01T13:00:30", 1);
  events::Envelope due =
      events::MakeEnvelope(ids::EventId("RunDue", id, "1"), id, {"scheduler", slot, "corr-1", ""});
  auto* d = due.mutable_run_due();
  d->set_run_id(ids::RunId(id, fire_id, 1));
  d->set_attempt(1);
  *d->mutable_scheduled_for() = ToProto(slot);
  d->set_fire_id(fire_id);
  d->set_nominal_time("2026-03-01T13:00:30");
  d->set_occurrence(1);
  d->set_kind(v1::FIRE_KIND_SCHEDULED);
  ASSERT_TRUE(events::Apply(state, due).applied());
  view = RenderJob(state);
  EXPECT_EQ(view["last_fire_at"], "2026-03-01T12:00:30.000Z");
  EXPECT_EQ(view["next_fire_at"], "2026-03-01T12:01:00.000Z");
  EXPECT_EQ(view["runs_in_flight"], 1);
  EXPECT_EQ(view["counts"]["fires"], 1);

  events::Envelope pause = events::MakeEnvelope(ids::EventId("PauseRequested", id, "p"), id,
                                                {"api/test", slot + Millis(5), "c", ""});
  pause.mutable_pause_requested();
  ASSERT_TRUE(events::Apply(state, pause).applied());
  view = RenderJob(state);
  EXPECT_EQ(view["status"], "PAUSED");
  EXPECT_EQ(view["paused_at"], "2026-03-01T12:00:30.005Z");
  EXPECT_EQ(view["next_fire_at"], nullptr);
}

TEST(RecurringView, OneOffJobsHaveNoScheduleMembers) {
  v1::JobState state;
  ASSERT_TRUE(
      events::Apply(state, Submitted(MustParse({{"type", "echo"}}), RandomId(), kNow)).applied());
  json view = RenderJob(state);
  EXPECT_EQ(view["recurring"], false);
  EXPECT_EQ(view["next_fire_at"], "2026-03-01T12:00:00.000Z");
  for (const char* key :
       {"schedule", "last_fire_at", "runs_in_flight", "paused_at", "end_reason", "counts"}) {
    EXPECT_FALSE(view.contains(key)) << key;
  }
}

}  // namespace
}  // namespace jobsched::api
