// Unit tests of PATCH parsing (job_update.h) and of the commands the API
// appends for existing jobs (job_commands.h), against the real fold.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "events/envelope.h"
#include "events/fold.h"
#include "events/ids.h"
#include "services/api/job_commands.h"
#include "services/api/job_spec.h"
#include "services/api/job_update.h"

namespace jobsched::api {

void PrintTo(const ApiError& e, std::ostream* os) { *os << ErrorBody(e).dump(); }

namespace {

using google::protobuf::util::MessageDifferencer;
using nlohmann::json;

const TimePoint kNow = *ParseRfc3339("2026-03-01T12:00:00Z");

v1::JobSpec Spec(const json& body) {
  auto r = ParseJobSpec(body, kNow);
  if (auto* e = std::get_if<FieldError>(&r)) {
    ADD_FAILURE() << e->field << ": " << e->message;
    return {};
  }
  return std::get<v1::JobSpec>(r);
}

json RecurringBody() {
  return {{"name", "tick"},
          {"schedule", "0 */5 * * * *"},
          {"timezone", "Europe/Paris"},
          {"http", {{"url", "https://example.com/tick"}, {"headers", {{"X-A", "1"}}}}},
          {"end_at", "2026-06-01T00:00:00Z"},
          {"max_runs", 50},
          {"priority", 3}};
}

JobUpdate MustUpdate(const json& patch, const v1::JobSpec& current, TimePoint now = kNow) {
  auto r = ParseJobUpdate(patch, current, now);
  if (auto* e = std::get_if<FieldError>(&r)) {
    ADD_FAILURE() << "unexpected error " << e->code << " " << e->field << ": " << e->message;
    return {};
  }
  return std::get<JobUpdate>(r);
}

FieldError MustFail(const json& patch, const v1::JobSpec& current, TimePoint now = kNow) {
  auto r = ParseJobUpdate(patch, current, now);
  if (auto* e = std::get_if<FieldError>(&r)) return *e;
  ADD_FAILURE() << "accepted: " << patch.dump();
  return {};
}

events::Envelope Event(const std::string& job_id, const std::string& type, TimePoint at) {
  return events::MakeEnvelope(
      ids::EventId(type, job_id, std::to_string(at.time_since_epoch().count())), job_id,
      {"test", at, "corr", ""});
}

v1::JobState Submit(const v1::JobSpec& spec) {
  const std::string id = RandomId();
  events::Envelope e = events::MakeEnvelope(ids::EventId("JobSubmitted", id, ""), id,
                                            {"api/test", kNow, "corr", ""});
  *e.mutable_job_submitted()->mutable_spec() = spec;
  v1::JobState s;
  EXPECT_TRUE(events::Apply(s, e).applied());
  return s;
}

TEST(UpdateShape, RejectsWhatNoJobCouldAccept) {
  EXPECT_EQ(CheckUpdateShape(json::array()).value().code, "invalid_json");
  FieldError empty = CheckUpdateShape(json::object()).value();
  EXPECT_EQ(empty.code, "missing_field");
  EXPECT_EQ(empty.message,
            "the request body names no field to change; send one or more of name, http, payload, "
            "priority, max_retries, retry_policy, timeout_seconds, resources, pool, "
            "execution_type, schedule, timezone, dst_gap, dst_overlap, end_at, max_runs, "
            "concurrency_policy, misfire_policy");
  for (const char* field : {"type", "run_at", "start_at", "idempotency_key"}) {
    FieldError e = CheckUpdateShape(json{{field, "x"}}).value();
    EXPECT_EQ(e.code, "invalid_field") << field;
    EXPECT_EQ(e.field, field);
    EXPECT_TRUE(e.message.starts_with("cannot be changed after submission")) << e.message;
  }
  FieldError typo = CheckUpdateShape(json{{"priorty", 1}}).value();
  EXPECT_EQ(typo.code, "unknown_field");
  EXPECT_EQ(typo.field, "priorty");
  EXPECT_NE(typo.message.find("did you mean \"priority\"?"), std::string::npos) << typo.message;
  EXPECT_EQ(CheckUpdateShape(json{{"schedule", nullptr}}),
            (FieldError{"invalid_field",
                        "cannot be removed: a recurring job stays recurring (delete it instead)",
                        "schedule"}));
  EXPECT_FALSE(CheckUpdateShape(json{{"priority", 1}, {"end_at", nullptr}}));
}

TEST(ParseJobUpdate, MergesTheNamedFieldsOnly) {
  const v1::JobSpec current = Spec(RecurringBody());
  JobUpdate u = MustUpdate({{"schedule", "0 0 * * * *"}, {"priority", 9}}, current);
  EXPECT_EQ(u.changed, (std::vector<std::string>{"priority", "schedule"}));
  v1::JobSpec expected = current;
  expected.set_priority(9);
  expected.mutable_schedule()->set_cron("0 0 * * * *");
  EXPECT_TRUE(MessageDifferencer::Equals(u.spec, expected)) << u.spec.DebugString();
}

TEST(ParseJobUpdate, NullMeansTheDefault) {
  const v1::JobSpec current = Spec(RecurringBody());
  JobUpdate u = MustUpdate(
      {{"end_at", nullptr}, {"max_runs", nullptr}, {"name", nullptr}, {"timezone", nullptr}},
      current);
  EXPECT_EQ(u.changed, (std::vector<std::string>{"name", "timezone", "end_at", "max_runs"}));
  EXPECT_FALSE(IsSet(u.spec.schedule().end_at()));
  EXPECT_EQ(u.spec.schedule().max_runs(), 0);
  EXPECT_EQ(u.spec.name(), "POST https://example.com/tick");
  EXPECT_EQ(u.spec.schedule().timezone(), "UTC");
  EXPECT_EQ(u.spec.schedule().cron(), "0 */5 * * * *");
}

TEST(ParseJobUpdate, ErrorsAreTheSubmissions) {
  const v1::JobSpec current = Spec(RecurringBody());
  EXPECT_EQ(MustFail({{"schedule", "0 61 * * * *"}}, current),
            (FieldError{"invalid_field", "minute: 61 is out of range 0-59", "schedule"}));
  EXPECT_EQ(MustFail({{"timezone", "Mars/Base"}}, current),
            (FieldError{"invalid_field", "unknown time zone \"Mars/Base\"", "timezone"}));
  EXPECT_EQ(MustFail({{"priority", 11}}, current),
            (FieldError{"invalid_field", "must be an integer from 0 to 10, got 11", "priority"}));
  EXPECT_EQ(MustFail({{"http", {{"url", "ftp://x.org/"}}}}, current).field, "http.url");
  EXPECT_EQ(MustFail({{"http", nullptr}}, current).code, "missing_field");
  EXPECT_EQ(MustFail({{"end_at", "2026-03-01T11:00:00Z"}}, current),
            (FieldError{"invalid_field",
                        "must be in the future (after 2026-03-01T12:00:00.000Z), got "
                        "\"2026-03-01T11:00:00Z\"",
                        "end_at"}));
  EXPECT_EQ(MustFail({{"retry_policy", {{"base_delay_ms", 0}}}}, current).field,
            "retry_policy.base_delay_ms");
}

TEST(ParseJobUpdate, AnEndAtThatPassedDoesNotBlockOtherChanges) {
  const v1::JobSpec current = Spec(RecurringBody());
  const TimePoint later = *ParseRfc3339("2026-07-01T00:00:00Z");  // after end_at
  JobUpdate u = MustUpdate({{"priority", 1}}, current, later);
  EXPECT_EQ(u.spec.priority(), 1);
  EXPECT_EQ(MustFail({{"end_at", "2026-06-15T00:00:00Z"}}, current, later).field, "end_at");
}

TEST(ParseJobUpdate, OneOffJobs) {
  const v1::JobSpec echo = Spec({{"type", "echo"}, {"run_at", "2026-03-02T00:00:00Z"}});
  JobUpdate u = MustUpdate({{"payload", {{"k", 1}}}, {"timeout_seconds", 10}}, echo);
  EXPECT_EQ(u.spec.payload_json(), R"({"k":1})");
  EXPECT_EQ(u.spec.timeout_seconds(), 10);
  EXPECT_EQ(FormatRfc3339(FromProto(u.spec.run_at())), "2026-03-02T00:00:00.000Z");
  EXPECT_EQ(MustFail({{"schedule", "* * * * *"}}, echo),
            (FieldError{"job_not_recurring",
                        "is a setting of recurring jobs; this job is a one-off job (an update "
                        "cannot add a schedule: submit a recurring job instead)",
                        "schedule"}));
  EXPECT_EQ(HttpStatusOf("job_not_recurring"), 409);
  EXPECT_EQ(MustFail({{"max_runs", 3}}, echo).code, "job_not_recurring");
  EXPECT_EQ(MustFail({{"http", {{"url", "https://x.org"}}}}, echo),
            (FieldError{"invalid_field", "is only allowed when type is \"http\", got type \"echo\"",
                        "http"}));
  const v1::JobSpec sleep = Spec({{"type", "sleep"}, {"payload", {{"ms", 5}}}});
  EXPECT_EQ(MustFail({{"payload", {{"seconds", 5}}}}, sleep).field, "payload.ms");
}

TEST(ParseJobUpdate, CapacityFieldsChangeLikeTheOthers) {
  const v1::JobSpec echo =
      Spec({{"type", "echo"}, {"resources", {{"cpu", 1}, {"memory_mb", 256}}}, {"pool", "a"}});
  JobUpdate u = MustUpdate({{"resources", {{"gpu_units", 1}}}, {"execution_type", "at_most_once"}},
                           echo);
  EXPECT_EQ(u.changed, (std::vector<std::string>{"resources", "execution_type"}));
  // The object replaces the old one whole, like http.
  EXPECT_EQ(u.spec.resources().size(), 1u);
  EXPECT_EQ(u.spec.resources().at("gpu_units"), 1.0);
  EXPECT_EQ(u.spec.execution_type(), v1::EXECUTION_TYPE_AT_MOST_ONCE);
  EXPECT_EQ(u.spec.pool(), "a");
  u = MustUpdate({{"pool", nullptr}, {"resources", nullptr}}, echo);
  EXPECT_EQ(u.spec.pool(), "default");
  EXPECT_TRUE(u.spec.resources().empty());
  EXPECT_EQ(MustFail({{"pool", "A"}}, echo).field, "pool");
  EXPECT_EQ(MustFail({{"resources", {{"cpu", -1}}}}, echo).field, "resources.cpu");
  EXPECT_EQ(MustFail({{"execution_type", "once"}}, echo).field, "execution_type");
}

TEST(SpecToBody, RoundTripsThroughTheParser) {
  for (const json& body :
       {RecurringBody(),
        json{{"type", "echo"},
             {"resources", {{"cpu", 0.25}, {"gpu_units", 2}}},
             {"pool", "gpu.eu-1"},
             {"execution_type", "at_most_once"}},
        json{{"name", "s"}, {"type", "sleep"}, {"payload", {{"ms", 5}}}, {"max_retries", 0}},
        json{{"type", "echo"},
             {"schedule", "@every 90s"},
             {"start_at", "2026-03-05T00:00:00Z"},
             {"dst_gap", "skip"},
             {"dst_overlap", "both"},
             {"concurrency_policy", "replace"},
             {"misfire_policy", "skip"},
             {"retry_policy", {{"strategy", "fixed"}, {"base_delay_ms", 10}}}}}) {
    v1::JobSpec spec = Spec(body);
    auto again = ParseJobSpec(SpecToBody(spec), kNow);
    ASSERT_TRUE(std::holds_alternative<v1::JobSpec>(again)) << SpecToBody(spec).dump();
    EXPECT_TRUE(MessageDifferencer::Equals(std::get<v1::JobSpec>(again), spec))
        << SpecToBody(spec).dump();
  }
}

TEST(ParseJobUpdate, TheFoldMergesToTheSameSpec) {
  v1::JobState state = Submit(Spec(RecurringBody()));
  const std::vector<json> patches = {
      {{"name", "renamed"}},
      {{"http", {{"url", "https://example.com/other"}, {"method", "PUT"}}}},
      {{"payload", {{"a", 1}}}, {"max_retries", 7}, {"timeout_seconds", 5}},
      {{"retry_policy", {{"strategy", "jitter"}}}},
      {{"schedule", "@hourly"}, {"timezone", "Asia/Tokyo"}, {"dst_gap", "skip"}},
      {{"dst_overlap", "both"}, {"end_at", nullptr}, {"max_runs", 2}},
      {{"concurrency_policy", "allow"}, {"misfire_policy", "fire_all"}},
      {{"resources", {{"cpu", 2}}}, {"pool", "big"}, {"execution_type", "at_most_once"}},
  };
  int n = 0;
  for (const json& patch : patches) {
    SCOPED_TRACE(patch.dump());
    JobUpdate u = MustUpdate(patch, state.spec());
    v1::JobSpec expected = u.spec;
    events::Envelope e =
        MakeUpdate(state.job_id(), ids::EventId("JobUpdated", state.job_id(), std::to_string(++n)),
                   {"api/test", kNow, "c", ""}, std::move(u));
    ASSERT_TRUE(events::Apply(state, e).applied());
    EXPECT_TRUE(MessageDifferencer::Equals(state.spec(), expected)) << state.spec().DebugString();
  }
}

// ---------------------------------------------------------------------------

const events::Origin kOrigin{"api/test", kNow + Millis(100), "req-1", ""};

TEST(CommandEventId, KeyedRequestsRepeatTheirIdOthersDoNot) {
  const std::string job = RandomId();
  const std::optional<std::string> key = "retry-me";
  EXPECT_EQ(CommandEventId(Command::kPause, job, key), CommandEventId(Command::kPause, job, key));
  EXPECT_EQ(CommandEventId(Command::kPause, job, key),
            ids::EventId("PauseRequested", job, "Idempotency-Key:retry-me"));
  EXPECT_NE(CommandEventId(Command::kPause, job, key), CommandEventId(Command::kResume, job, key));
  EXPECT_NE(CommandEventId(Command::kRunNow, job, std::nullopt),
            CommandEventId(Command::kRunNow, job, std::nullopt));
  EXPECT_TRUE(LooksLikeUuid(CommandEventId(Command::kRunNow, job, std::nullopt)));
  EXPECT_EQ(CommandEventId(Command::kDelete, job, std::nullopt),
            ids::EventId("DeleteRequested", job, ""));
  EXPECT_EQ(UpdateEventId(job, key), ids::EventId("JobUpdated", job, "Idempotency-Key:retry-me"));
  EXPECT_NE(UpdateEventId(job, std::nullopt), UpdateEventId(job, std::nullopt));
}

TEST(MakeCommand, RunNowDerivesFireAndRunIds) {
  const std::string job = RandomId();
  events::Envelope e =
      MakeCommand(Command::kRunNow, job, "11111111-2222-8333-8444-555555555555", kOrigin);
  ASSERT_TRUE(e.has_run_requested());
  const std::string fire = ids::ManualFireId(job, "11111111-2222-8333-8444-555555555555");
  EXPECT_EQ(e.run_requested().fire_id(), fire);
  EXPECT_EQ(e.run_requested().run_id(), ids::RunId(job, fire, 1));
  EXPECT_EQ(e.job_id(), job);
  EXPECT_EQ(e.producer(), "api/test");
  EXPECT_EQ(e.correlation_id(), "req-1");
  EXPECT_TRUE(MakeCommand(Command::kPause, job, "x", kOrigin).has_pause_requested());
  EXPECT_TRUE(MakeCommand(Command::kResume, job, "x", kOrigin).has_resume_requested());
  EXPECT_TRUE(MakeCommand(Command::kDelete, job, "x", kOrigin).has_delete_requested());
}

v1::JobState After(const std::variant<v1::JobState, ApiError>& r) {
  if (auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << "rejected: " << e->code << ": " << e->message;
    return {};
  }
  return std::get<v1::JobState>(r);
}

ApiError Rejected(const std::variant<v1::JobState, ApiError>& r) {
  if (auto* e = std::get_if<ApiError>(&r)) return *e;
  ADD_FAILURE() << "accepted";
  return {};
}

events::Envelope CommandFor(Command c, const v1::JobState& s) {
  return MakeCommand(c, s.job_id(), CommandEventId(c, s.job_id(), std::nullopt), kOrigin);
}

TEST(CheckCommand, PauseResumeFollowTheFold) {
  v1::JobState active = Submit(Spec(RecurringBody()));
  v1::JobState paused = After(CheckCommand(active, CommandFor(Command::kPause, active), true));
  EXPECT_EQ(paused.status(), v1::JOB_STATUS_PAUSED);
  // Idempotent repeats are not errors: the state stays as it is.
  EXPECT_EQ(After(CheckCommand(paused, CommandFor(Command::kPause, paused), true)).status(),
            v1::JOB_STATUS_PAUSED);
  EXPECT_EQ(After(CheckCommand(active, CommandFor(Command::kResume, active), true)).status(),
            v1::JOB_STATUS_ACTIVE);
  EXPECT_EQ(After(CheckCommand(paused, CommandFor(Command::kResume, paused), true)).status(),
            v1::JOB_STATUS_ACTIVE);
  // The input state is not changed.
  EXPECT_EQ(active.status(), v1::JOB_STATUS_ACTIVE);
}

TEST(CheckCommand, OneOffAndEndedJobsAreConflicts) {
  v1::JobState once = Submit(Spec({{"type", "echo"}}));
  ApiError e = Rejected(CheckCommand(once, CommandFor(Command::kPause, once), true));
  EXPECT_EQ(e, (ApiError{"job_not_recurring",
                         "job " + once.job_id() +
                             " is PENDING (a one-off job): only recurring jobs can be paused",
                         "", json{{"status", "PENDING"}}}));
  EXPECT_EQ(HttpStatusOf(e.code), 409);
  EXPECT_EQ(Rejected(CheckCommand(once, CommandFor(Command::kRunNow, once), true)).code,
            "job_not_recurring");
  EXPECT_EQ(Rejected(CheckCommand(once, CommandFor(Command::kResume, once), true)).code,
            "job_not_recurring");

  v1::JobState done = Submit(Spec(RecurringBody()));
  events::Envelope completed = Event(done.job_id(), "JobCompleted", kNow + Millis(1));
  completed.mutable_job_completed()->set_reason("max_runs reached");
  ASSERT_TRUE(events::Apply(done, completed).applied());
  ApiError terminal = Rejected(CheckCommand(done, CommandFor(Command::kPause, done), true));
  EXPECT_EQ(terminal.code, "job_terminal");
  EXPECT_EQ(terminal.details, (json{{"status", "COMPLETED"}}));
  EXPECT_EQ(terminal.message,
            "job " + done.job_id() + " is COMPLETED: cannot pause a COMPLETED job");
  EXPECT_EQ(Rejected(CheckCommand(done, CommandFor(Command::kRunNow, done), true)).code,
            "job_terminal");
  JobUpdate u = MustUpdate({{"priority", 1}}, done.spec());
  EXPECT_EQ(
      Rejected(CheckCommand(done, MakeUpdate(done.job_id(), RandomId(), kOrigin, u), false)).code,
      "job_terminal");
  // Delete works on any job.
  EXPECT_EQ(After(CheckCommand(done, CommandFor(Command::kDelete, done), false)).status(),
            v1::JOB_STATUS_DELETED);
  EXPECT_EQ(After(CheckCommand(once, CommandFor(Command::kDelete, once), false)).status(),
            v1::JOB_STATUS_DELETED);
}

TEST(CheckCommand, RunNowOnPausedJobsUpToTenWaiting) {
  v1::JobState s = Submit(Spec(RecurringBody()));
  s = After(CheckCommand(s, CommandFor(Command::kPause, s), true));
  for (int i = 0; i < events::kMaxRequestedRuns; ++i) {
    s = After(CheckCommand(s, CommandFor(Command::kRunNow, s), true));
  }
  EXPECT_EQ(s.requested_size(), events::kMaxRequestedRuns);
  ApiError full = Rejected(CheckCommand(s, CommandFor(Command::kRunNow, s), true));
  EXPECT_EQ(full.code, "conflict");
  EXPECT_EQ(full.message, "job " + s.job_id() + " is PAUSED: 10 manual runs are already waiting");
  // A retried request (same key, same fire id) is a duplicate, not a conflict.
  v1::JobState fresh = Submit(Spec(RecurringBody()));
  events::Envelope run =
      MakeCommand(Command::kRunNow, fresh.job_id(),
                  CommandEventId(Command::kRunNow, fresh.job_id(), std::string("k")), kOrigin);
  v1::JobState once = After(CheckCommand(fresh, run, true));
  EXPECT_EQ(once.requested_size(), 1);
  EXPECT_EQ(After(CheckCommand(once, run, true)).requested_size(), 1);
}

}  // namespace
}  // namespace jobsched::api
