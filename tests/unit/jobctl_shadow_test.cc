// Shadow replay (services/jobctl/shadow.h) on histories the real scheduler
// made: SimulatedScheduler runs scheduler::Decide with the recorded policy
// (and a stand-in executor) to produce the "recorded" log, then the shadow
// replays it under a policy. The same policy must show no difference (the
// simulation is faithful); a changed one must show exactly what changes.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <sstream>
#include <variant>

#include "events/fold.h"
#include "services/jobctl/shadow.h"
#include "tests/unit/scheduler_sim.h"

namespace jobsched::testing {
namespace {

using events::Envelope;
using jobctl::shadow::Difference;
using jobctl::shadow::DiffKind;
using jobctl::shadow::JobComparison;
using jobctl::shadow::Policy;
using std::chrono::seconds;

const std::string kJob = "00000000-0000-4000-8000-00000000beef";

TimePoint Utc(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

Policy MustParse(const std::string& text) {
  auto p = jobctl::shadow::ParsePolicy(text);
  if (auto* e = std::get_if<jobctl::shadow::PolicyError>(&p)) {
    ADD_FAILURE() << "policy rejected: " << e->field << ": " << e->message;
    return {};
  }
  return std::get<Policy>(p);
}

std::string ErrorField(const std::string& text) {
  auto p = jobctl::shadow::ParsePolicy(text);
  auto* e = std::get_if<jobctl::shadow::PolicyError>(&p);
  return e == nullptr ? "<accepted>" : e->field;
}

Envelope Submit(TimePoint at, std::function<void(v1::JobSpec&)> tweak) {
  Envelope e =
      events::MakeEnvelope(ids::EventId("JobSubmitted", kJob, ""), kJob, {"api", at, "corr", ""});
  v1::JobSpec* spec = e.mutable_job_submitted()->mutable_spec();
  spec->set_name("shadowed");
  spec->set_type(v1::JOB_TYPE_FAIL);
  spec->set_priority(5);
  spec->set_max_retries(2);
  spec->mutable_retry_policy()->set_strategy(v1::RETRY_STRATEGY_FIXED);
  spec->mutable_retry_policy()->set_base_delay_ms(1000);
  tweak(*spec);
  return e;
}

// A one-off job that always fails, with max_retries 2 and a fixed 1 s backoff:
// RunDue 1, RetryScheduled 2, RunDue 2, RetryScheduled 3, RunDue 3, JobDead.
std::vector<Envelope> FailingOneOff() {
  const TimePoint start = Utc("2026-11-28T10:00:00Z");
  SimulatedScheduler::Options o;
  o.run_duration = std::chrono::milliseconds(500);
  SimulatedScheduler sim(start, o);
  sim.Append(Submit(start, [](v1::JobSpec&) {}));
  sim.Advance(seconds(30));
  EXPECT_EQ(sim.Find(kJob)->status(), v1::JOB_STATUS_DEAD);
  return sim.log();
}

// A recurring echo job from 10:00:00.5, its runs taking `run`, over `span`.
std::vector<Envelope> Recurring(const std::string& cron, std::chrono::milliseconds run,
                                bool succeed = true, seconds span = seconds(120)) {
  const TimePoint start = Utc("2026-11-28T10:00:00.500Z");
  SimulatedScheduler::Options o;
  o.run_duration = run;
  o.runs_succeed = succeed;
  SimulatedScheduler sim(start, o);
  sim.Append(Submit(start, [&](v1::JobSpec& s) {
    s.set_type(v1::JOB_TYPE_ECHO);
    s.set_max_retries(1);
    s.mutable_schedule()->set_cron(cron);
    s.mutable_schedule()->set_timezone("UTC");
  }));
  sim.Advance(span);
  return sim.log();
}

std::string Dump(const JobComparison& c) { return jobctl::shadow::FormatText({c}, true); }

int Count(const JobComparison& c, DiffKind kind) {
  int n = 0;
  for (const Difference& d : c.differences) n += d.kind == kind ? 1 : 0;
  return n;
}

TEST(ShadowPolicyTest, AcceptsApiFieldsFlatOrNested) {
  Policy p = MustParse(R"({"max_retries": 5, "retry_policy": {"strategy": "exponential",
      "base_delay_ms": 500}, "schedule": {"cron": "*/10 * * * * *", "timezone": "Europe/Paris"},
      "jobs": ["a"]})");
  EXPECT_EQ(p.patch["schedule"], "*/10 * * * * *");
  EXPECT_EQ(p.patch["timezone"], "Europe/Paris");
  EXPECT_EQ(p.patch["max_retries"], 5);
  EXPECT_EQ(p.jobs, std::vector<std::string>{"a"});
  EXPECT_FALSE(p.patch.contains("jobs"));
  Policy flat = MustParse(R"({"schedule": "0 * * * * *", "misfire_policy": "skip"})");
  EXPECT_EQ(flat.patch["misfire_policy"], "skip");
}

TEST(ShadowPolicyTest, RejectionsNameTheField) {
  EXPECT_EQ(ErrorField("not json"), "");
  EXPECT_EQ(ErrorField("[1]"), "");
  EXPECT_EQ(ErrorField("{}"), "");
  EXPECT_EQ(ErrorField(R"({"priority": 3})"), "priority");
  EXPECT_EQ(ErrorField(R"({"max_retries": -1})"), "max_retries");
  EXPECT_EQ(ErrorField(R"({"retry_policy": {"base_delay_ms": "x"}})"),
            "retry_policy.base_delay_ms");
  EXPECT_EQ(ErrorField(R"({"schedule": {"cron": "61 * * * * *"}})"), "schedule");
  EXPECT_EQ(ErrorField(R"({"schedule": {"colour": "red"}})"), "schedule.colour");
  EXPECT_EQ(ErrorField(R"({"timezone": "Mars/Base"})"), "timezone");
  EXPECT_EQ(ErrorField(R"({"jobs": "abc", "max_retries": 1})"), "jobs");
}

TEST(ShadowTest, SamePolicyOneOffShowsNoDifference) {
  auto log = FailingOneOff();
  JobComparison c = jobctl::shadow::ShadowJob(log, MustParse(R"({"max_retries": 2})"));
  ASSERT_EQ(c.skipped, "");
  EXPECT_EQ(c.recorded_decisions, 6);
  EXPECT_EQ(c.shadow_decisions, 6);
  EXPECT_TRUE(c.differences.empty()) << Dump(c);
  EXPECT_EQ(c.unknown_runs, 0);
}

TEST(ShadowTest, SamePolicyRecurringShowsNoDifference) {
  // Runs of 40 s every 30 s under forbid: fires, overlap skips recorded as
  // ranges when a run ends, and retries of failed runs (RunDead).
  for (bool succeed : {true, false}) {
    auto log =
        Recurring("*/30 * * * * *", std::chrono::milliseconds(40'000), succeed, seconds(600));
    JobComparison c =
        jobctl::shadow::ShadowJob(log, MustParse(R"({"schedule": "*/30 * * * * *"})"));
    ASSERT_EQ(c.skipped, "");
    std::set<std::string> kinds;
    for (const Envelope& e : log) kinds.insert(std::string(events::EventType(e)));
    EXPECT_TRUE(kinds.count("FireSkipped"));
    if (!succeed) {
      EXPECT_TRUE(kinds.count("RetryScheduled") && kinds.count("RunDead"));
    }
    EXPECT_GT(c.recorded_decisions, 10);
    EXPECT_EQ(c.recorded_decisions, c.shadow_decisions);
    EXPECT_TRUE(c.differences.empty()) << Dump(c);
  }
}

TEST(ShadowTest, SamePolicyWithPauseResumeAndManualRunsShowsNoDifference) {
  // Paused over three slots (resumed: misfire_policy fire_once), a manual run,
  // and a record read a while after its last event: no slot past the record
  // is invented.
  const TimePoint start = Utc("2026-11-28T10:00:00.500Z");
  SimulatedScheduler sim(start);
  sim.Append(Submit(start, [](v1::JobSpec& s) {
    s.set_type(v1::JOB_TYPE_ECHO);
    s.mutable_schedule()->set_cron("*/10 * * * * *");
    s.mutable_schedule()->set_timezone("UTC");
  }));
  sim.Advance(seconds(25));
  auto request = [&](const std::string& type) {
    Envelope e = events::MakeEnvelope(ids::EventId(type, kJob, FormatRfc3339(sim.now())), kJob,
                                      {"api", sim.now(), "corr", ""});
    if (type == "PauseRequested") e.mutable_pause_requested();
    if (type == "ResumeRequested") e.mutable_resume_requested();
    if (type == "RunRequested") {
      e.mutable_run_requested()->set_run_id(ids::RunId(kJob, "manual-fire", 1));
      e.mutable_run_requested()->set_fire_id("manual-fire");
    }
    sim.Append(e);
  };
  request("PauseRequested");
  sim.Advance(seconds(33));
  request("ResumeRequested");
  sim.Advance(seconds(4));
  request("RunRequested");
  sim.Advance(seconds(20));
  std::set<std::string> kinds;
  for (const Envelope& e : sim.log()) kinds.insert(std::string(events::EventType(e)));
  ASSERT_TRUE(kinds.count("FireSkipped")) << "no misfire was recorded";
  jobctl::shadow::Options options;
  options.read_at = sim.now() + seconds(35);
  JobComparison c =
      jobctl::shadow::ShadowJob(sim.log(), MustParse(R"({"schedule": "*/10 * * * * *"})"), options);
  EXPECT_GT(c.recorded_decisions, 6);
  EXPECT_EQ(c.recorded_decisions, c.shadow_decisions);
  EXPECT_TRUE(c.differences.empty()) << Dump(c);

  // misfire_policy skip: the slot fire_once fired on resume is skipped too,
  // in one range with the others.
  JobComparison skip =
      jobctl::shadow::ShadowJob(sim.log(), MustParse(R"({"misfire_policy": "skip"})"), options);
  ASSERT_EQ(skip.differences.size(), 2u) << Dump(skip);
  const Difference& range = skip.differences[0];
  EXPECT_EQ(range.kind, DiffKind::kChanged);
  EXPECT_EQ(range.recorded->json["count"], 2) << Dump(skip);
  EXPECT_EQ(range.shadow->json["count"], 3) << Dump(skip);
  EXPECT_EQ(range.shadow->json["last_fire"], "slot 2026-11-28T10:00:50") << Dump(skip);
  const Difference& d = skip.differences[1];
  EXPECT_EQ(d.kind, DiffKind::kOnlyRecorded);
  EXPECT_EQ(d.recorded->text, "RunDue slot 2026-11-28T10:00:50") << Dump(skip);
  EXPECT_EQ(range.shadow->json["reason"], "misfire") << Dump(skip);
}

TEST(ShadowTest, MoreRetriesAreFlaggedAsUnknownOutcome) {
  auto log = FailingOneOff();
  JobComparison c = jobctl::shadow::ShadowJob(log, MustParse(R"({"max_retries": 4})"));
  ASSERT_EQ(c.differences.size(), 2u) << Dump(c);
  const Difference& verdict = c.differences[0];
  EXPECT_EQ(verdict.kind, DiffKind::kChanged);
  EXPECT_EQ(verdict.recorded->text, "JobDead after attempt 3");
  EXPECT_EQ(verdict.shadow->text, "RetryScheduled attempt 4 at 2026-11-28T10:00:04.500Z");
  EXPECT_TRUE(verdict.unknown_outcome);
  const Difference& extra = c.differences[1];
  EXPECT_EQ(extra.kind, DiffKind::kOnlyShadow);
  EXPECT_EQ(extra.shadow->type, "RunDue");
  EXPECT_EQ(extra.shadow->json["attempt"], 4);
  EXPECT_TRUE(extra.unknown_outcome);
  EXPECT_EQ(c.unknown_runs, 1);
  // Not followed further: no invented result, so no verdict on attempt 4.
  EXPECT_EQ(c.shadow_decisions, 7);
}

TEST(ShadowTest, FewerRetriesDieEarlier) {
  auto log = FailingOneOff();
  JobComparison c = jobctl::shadow::ShadowJob(log, MustParse(R"({"max_retries": 0})"));
  EXPECT_EQ(c.shadow_decisions, 2);
  ASSERT_FALSE(c.differences.empty());
  EXPECT_EQ(c.differences[0].kind, DiffKind::kChanged) << Dump(c);
  EXPECT_EQ(c.differences[0].recorded->type, "RetryScheduled");
  EXPECT_EQ(c.differences[0].shadow->text, "JobDead after attempt 1");
  EXPECT_EQ(Count(c, DiffKind::kOnlyRecorded), 4) << Dump(c);  // RunDue 2, 3; verdicts 2, 3
  EXPECT_EQ(Count(c, DiffKind::kOnlyShadow), 0);
  EXPECT_EQ(c.unknown_runs, 0);
}

TEST(ShadowTest, LongerBackoffReplaysTheSameAttemptsLater) {
  auto log = FailingOneOff();
  JobComparison c = jobctl::shadow::ShadowJob(
      log, MustParse(R"({"retry_policy": {"strategy": "fixed", "base_delay_ms": 3000}})"));
  // Each retry and its RunDue move by 2 s; the recorded results follow the
  // attempts, so the job still dies after attempt 3, at the same verdict.
  EXPECT_EQ(c.shadow_decisions, 6);
  EXPECT_EQ(Count(c, DiffKind::kChanged), 4) << Dump(c);
  EXPECT_EQ(Count(c, DiffKind::kOnlyRecorded) + Count(c, DiffKind::kOnlyShadow), 0) << Dump(c);
  EXPECT_EQ(c.unknown_runs, 0);
  for (const Difference& d : c.differences) {
    ASSERT_TRUE(d.recorded && d.shadow);
    if (d.recorded->type == "RunDue" && d.recorded->json["attempt"] == 3) {
      EXPECT_EQ(d.recorded->json["scheduled_for"], "2026-11-28T10:00:03.000Z");
      EXPECT_EQ(d.shadow->json["scheduled_for"], "2026-11-28T10:00:07.000Z");
    }
  }
}

TEST(ShadowTest, DifferentCronShowsSlotsOnlyRecordedAndOnlyShadow) {
  auto log = Recurring("*/30 * * * * *", std::chrono::milliseconds(1000));
  JobComparison c =
      jobctl::shadow::ShadowJob(log, MustParse(R"({"schedule": {"cron": "*/20 * * * * *"}})"));
  // Recorded slots :30, :00, :30, :00 (10:00:30 .. 10:02:00); shadow :20, :40,
  // :00, ... Slots both have (10:01:00, 10:02:00) agree, with the recorded run.
  std::vector<std::string> only_recorded, only_shadow;
  for (const Difference& d : c.differences) {
    if (d.kind == DiffKind::kOnlyRecorded) only_recorded.push_back(d.recorded->text);
    if (d.kind == DiffKind::kOnlyShadow) {
      only_shadow.push_back(d.shadow->text);
      EXPECT_TRUE(d.unknown_outcome) << d.shadow->text;
    }
  }
  EXPECT_EQ(only_recorded, (std::vector<std::string>{"RunDue slot 2026-11-28T10:00:30",
                                                     "RunDue slot 2026-11-28T10:01:30"}))
      << Dump(c);
  EXPECT_EQ(only_shadow, (std::vector<std::string>{
                             "RunDue slot 2026-11-28T10:00:20", "RunDue slot 2026-11-28T10:00:40",
                             "RunDue slot 2026-11-28T10:01:20", "RunDue slot 2026-11-28T10:01:40"}))
      << Dump(c);
  EXPECT_EQ(Count(c, DiffKind::kChanged), 0) << Dump(c);
  EXPECT_EQ(c.unknown_runs, 4);
}

TEST(ShadowTest, ScheduleOnlyPolicySkipsOneOffJobs) {
  auto log = FailingOneOff();
  JobComparison c = jobctl::shadow::ShadowJob(log, MustParse(R"({"schedule": "0 * * * * *"})"));
  EXPECT_NE(c.skipped, "");
}

TEST(ShadowTest, ReportsTextAndJsonLines) {
  auto log = FailingOneOff();
  std::vector<jobctl::RecordedEvent> recorded;
  for (const Envelope& e : log) recorded.push_back({e, 0, 0, 0});
  auto jobs = jobctl::shadow::ShadowAll(recorded, MustParse(R"({"max_retries": 4})"));
  ASSERT_EQ(jobs.size(), 1u);
  const std::string text = jobctl::shadow::FormatText(jobs, false);
  EXPECT_NE(text.find("job " + kJob + " (shadowed): 6 recorded decisions, 7 shadow; differs at:"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("recorded JobDead after attempt 3"), std::string::npos) << text;
  EXPECT_NE(text.find("(outcome unknown: not in the record)"), std::string::npos) << text;
  EXPECT_NE(text.find("shadow: 1 job compared, 1 differs; decisions only recorded 0, only "
                      "shadow 1, changed 1; 1 shadow run with an outcome not in the record"),
            std::string::npos)
      << text;
  const std::string lines = jobctl::shadow::FormatJsonLines(jobs);
  std::vector<nlohmann::json> parsed;
  std::istringstream in(lines);
  for (std::string line; std::getline(in, line);) parsed.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(parsed.size(), 3u) << lines;
  EXPECT_EQ(parsed[0]["kind"], "changed");
  EXPECT_EQ(parsed[0]["recorded"]["type"], "JobDead");
  EXPECT_EQ(parsed[1]["kind"], "only_shadow");
  EXPECT_TRUE(parsed[1]["recorded"].is_null());
  EXPECT_EQ(parsed[2]["summary"]["jobs_differing"], 1);
}

}  // namespace
}  // namespace jobsched::testing
