// The fold of recurring jobs: the schedule's cursor and its chain, runs in
// flight and their bound, summaries, requests (pause, resume, run now,
// update, delete), and the bounded state of a job that fires for ever.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "events/fold.h"
#include "events/ids.h"
#include "events/job_schedule.h"
#include "tests/unit/recurring_events_util.h"

namespace jobsched::events {
namespace {

using std::chrono::seconds;

const std::string kJob = "00000000-0000-4000-8000-0000000000a1";
const TimePoint kT0 = FromUnixMillis(1'780'000'000'000);  // 2026-05-28T20:26:40Z

// kJob's events; Slot and Run static, as the tests ask for them by number.
class Recurring : public testing::RecurringEvents {
 public:
  Recurring() : RecurringEvents(kJob, kT0) {}
  static JobSlot Slot(int k) { return Recurring().RecurringEvents::Slot(k); }
  static std::string Run(int k, int attempt = 1) {
    return Recurring().RecurringEvents::Run(k, attempt);
  }
};

class FoldRecurringTest : public ::testing::Test {
 protected:
  FoldResult Apply(const Envelope& e) { return events::Apply(s_, e); }
  void Ok(const Envelope& e) {
    FoldResult r = Apply(e);
    ASSERT_TRUE(r.applied()) << EventType(e) << ": " << OutcomeName(r.outcome) << " " << r.reason;
  }
  void Expect(const Envelope& e, Outcome want, const std::string& reason_part = "") {
    std::string before = s_.SerializeAsString();
    FoldResult r = Apply(e);
    EXPECT_EQ(OutcomeName(r.outcome), OutcomeName(want)) << EventType(e) << ": " << r.reason;
    EXPECT_NE(r.reason.find(reason_part), std::string::npos) << r.reason;
    EXPECT_EQ(before, s_.SerializeAsString()) << "state changed by a non-applied event";
  }

  Recurring f_;
  JobState s_;
};

TEST_F(FoldRecurringTest, SubmissionIsActiveWithItsFirstFire) {
  Ok(f_.Submitted());
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_ACTIVE);
  EXPECT_EQ(FromProto(s_.next_fire_at()), kT0 + seconds(1));
  EXPECT_EQ(FromProto(s_.cursor().at()), kT0);
  EXPECT_EQ(s_.cursor().fire_id(), "");
}

TEST_F(FoldRecurringTest, AnInvalidScheduleIsRejected) {
  Expect(f_.Submitted("0 61 * * * *"), Outcome::kRejected, "minute: 61 is out of range 0-59");
}

TEST_F(FoldRecurringTest, FiresFollowTheCursorAndRepeatsAreDuplicates) {
  Ok(f_.Submitted());
  Ok(f_.Due(1, 0));
  EXPECT_EQ(s_.cursor().fire_id(), Recurring::Slot(1).fire_id);
  EXPECT_EQ(FromProto(s_.next_fire_at()), kT0 + seconds(2));
  ASSERT_EQ(s_.runs_size(), 1);
  EXPECT_EQ(s_.runs(0).nominal_time(), Recurring::Slot(1).nominal_time);
  Expect(f_.Due(1, 0), Outcome::kDuplicate);
  // Decided from a stale cursor (one that had not seen slot 1): rejected, so
  // a slot never fires twice and never passes without a record.
  Expect(f_.Due(2, 0), Outcome::kRejected, "cursor");
}

TEST_F(FoldRecurringTest, ASkipMovesTheCursorAcrossItsRange) {
  Ok(f_.Submitted());
  Ok(f_.Skipped(1, 5, 0));
  EXPECT_EQ(s_.cursor().fire_id(), Recurring::Slot(5).fire_id);
  EXPECT_EQ(s_.summary().skipped(), 5);
  EXPECT_EQ(FromProto(s_.next_fire_at()), kT0 + seconds(6));
  Expect(f_.Skipped(1, 5, 0), Outcome::kDuplicate);
  Expect(f_.Due(3, 2), Outcome::kDuplicate, "at or before the cursor");
  Expect(f_.Due(7, 6), Outcome::kRejected, "cursor");  // slot 6 has no record
  Ok(f_.Due(6, 5));
}

TEST_F(FoldRecurringTest, RunsEndIntoTheSummaryAndLeaveTheState) {
  Ok(f_.Submitted());
  Ok(f_.Due(1, 0));
  FoldEffects fx;
  Ok(f_.Dispatched(Recurring::Run(1), kT0 + seconds(1)));
  ASSERT_TRUE(events::Apply(s_, f_.Succeeded(Recurring::Run(1), kT0 + seconds(2)), &fx).applied());
  ASSERT_TRUE(fx.run.has_value()) << "the ended run is handed to the projector";
  EXPECT_EQ(fx.run->status(), v1::RUN_STATUS_SUCCEEDED);
  EXPECT_EQ(s_.runs_size(), 0);
  EXPECT_EQ(s_.summary().succeeded(), 1);
  ASSERT_EQ(s_.summary().recent_size(), 1);
  EXPECT_EQ(s_.summary().recent(0).fire_id(), Recurring::Slot(1).fire_id);
  // Late copies of the ended run's events are recognised as such.
  Expect(f_.Succeeded(Recurring::Run(1), kT0 + seconds(3)), Outcome::kDuplicate);
  Expect(f_.Dispatched(Recurring::Run(1), kT0 + seconds(3)), Outcome::kDuplicate);
  Expect(f_.Succeeded(Recurring::Run(9), kT0 + seconds(3)), Outcome::kRejected, "not in flight");
}

TEST_F(FoldRecurringTest, AFailedRunIsRetriedThenGivesUp) {
  Ok(f_.Submitted());
  Ok(f_.Due(1, 0));
  Ok(f_.Dispatched(Recurring::Run(1), kT0 + seconds(1)));
  Ok(f_.Failed(Recurring::Run(1), kT0 + seconds(1)));
  Envelope retry = f_.Make("RetryScheduled", Recurring::Run(1), kT0 + seconds(1));
  retry.mutable_retry_scheduled()->set_failed_run_id(Recurring::Run(1));
  retry.mutable_retry_scheduled()->set_next_attempt(2);
  *retry.mutable_retry_scheduled()->mutable_retry_at() = ToProto(kT0 + seconds(3));
  Ok(retry);
  Envelope due2 = f_.Due(1, 0);
  due2.set_event_id(ids::EventId("RunDue", kJob, Recurring::Run(1, 2)));
  due2.mutable_run_due()->set_attempt(2);
  due2.mutable_run_due()->set_run_id(Recurring::Run(1, 2));
  *due2.mutable_run_due()->mutable_scheduled_for() = ToProto(kT0 + seconds(3));
  Ok(due2);
  EXPECT_EQ(s_.runs(0).attempt(), 2);
  EXPECT_EQ(FromProto(s_.runs(0).fire_scheduled_for()), kT0 + seconds(1));
  Ok(f_.Dispatched(Recurring::Run(1, 2), kT0 + seconds(3)));
  Ok(f_.Failed(Recurring::Run(1, 2), kT0 + seconds(3)));
  Envelope dead = f_.Make("RunDead", Recurring::Run(1, 2), kT0 + seconds(3));
  dead.mutable_run_dead()->set_run_id(Recurring::Run(1, 2));
  Ok(dead);
  EXPECT_EQ(s_.runs_size(), 0);
  EXPECT_EQ(s_.summary().failed(), 1);
  EXPECT_EQ(s_.summary().attempts(), 2);
  EXPECT_EQ(s_.summary().attempts_failed(), 2);
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_ACTIVE);
  // The first attempt's events, redelivered, are recognised by position.
  Expect(f_.Failed(Recurring::Run(1), kT0 + seconds(4)), Outcome::kDuplicate);
  Expect(retry, Outcome::kDuplicate);
}

TEST_F(FoldRecurringTest, RunsInFlightAreBounded) {
  Ok(f_.Submitted("* * * * * *", v1::CONCURRENCY_POLICY_ALLOW));
  for (int k = 1; k <= kMaxRunsInFlight; ++k) Ok(f_.Due(k, k - 1));
  Expect(f_.Due(kMaxRunsInFlight + 1, kMaxRunsInFlight), Outcome::kRejected, "runs in flight");
}

TEST_F(FoldRecurringTest, PauseResumeAndRequests) {
  Ok(f_.Submitted());
  Ok(f_.Request("PauseRequested", "p", kT0));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_PAUSED);
  Expect(f_.Request("PauseRequested", "p2", kT0), Outcome::kDuplicate);
  Expect(f_.Due(1, 0), Outcome::kRejected, "PAUSED");
  Envelope run = f_.Make("RunRequested", "r", kT0);
  std::string fire = ids::ManualFireId(kJob, run.event_id());
  run.mutable_run_requested()->set_fire_id(fire);
  run.mutable_run_requested()->set_run_id(ids::RunId(kJob, fire, 1));
  Ok(run);
  EXPECT_EQ(s_.requested_size(), 1);
  Envelope again = run;
  again.set_event_id(ids::EventId("RunRequested", kJob, "r-again"));
  Expect(again, Outcome::kDuplicate);
  Ok(f_.Request("ResumeRequested", "r", kT0 + seconds(10)));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_ACTIVE);
  EXPECT_EQ(FromProto(s_.next_fire_at()), kT0 + seconds(1)) << "missed slots are still ahead";
}

TEST_F(FoldRecurringTest, UpdateTakesEffectFromTheNextFire) {
  Ok(f_.Submitted());
  Ok(f_.Due(1, 0));
  Envelope u = f_.Make("JobUpdated", "u1", kT0 + seconds(1));
  u.mutable_job_updated()->mutable_spec()->mutable_schedule()->set_cron("0 0 * * * *");
  u.mutable_job_updated()->mutable_spec()->set_priority(9);
  u.mutable_job_updated()->add_changed("schedule");
  u.mutable_job_updated()->add_changed("priority");
  Ok(u);
  EXPECT_EQ(s_.spec().schedule().cron(), "0 0 * * * *");
  EXPECT_EQ(s_.spec().priority(), 9);
  EXPECT_EQ(s_.spec().type(), v1::JOB_TYPE_ECHO) << "fields not named stay";
  EXPECT_EQ(FromProto(s_.next_fire_at()), *ParseRfc3339("2026-05-28T21:00:00Z"));
  EXPECT_EQ(s_.cursor().fire_id(), Recurring::Slot(1).fire_id);
  Expect(u, Outcome::kDuplicate);
  Envelope bad = f_.Make("JobUpdated", "u2", kT0 + seconds(1));
  bad.mutable_job_updated()->mutable_spec()->mutable_schedule()->set_cron("61 * * * * *");
  bad.mutable_job_updated()->add_changed("schedule");
  Expect(bad, Outcome::kRejected, "second: 61 is out of range 0-59");
}

TEST_F(FoldRecurringTest, CompletionWaitsForRunsAndDeleteEndsAnything) {
  Ok(f_.Submitted());
  Ok(f_.Due(1, 0));
  Envelope done = f_.Make("JobCompleted", "", kT0 + seconds(2));
  done.mutable_job_completed()->set_reason("max_runs reached");
  Expect(done, Outcome::kRejected, "in flight");
  Ok(f_.Dispatched(Recurring::Run(1), kT0 + seconds(1)));
  Ok(f_.Succeeded(Recurring::Run(1), kT0 + seconds(1)));
  Ok(done);
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_COMPLETED);
  EXPECT_EQ(s_.end_reason(), "max_runs reached");
  Ok(f_.Request("DeleteRequested", "", kT0 + seconds(3)));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_DELETED);
  Expect(f_.Request("DeleteRequested", "", kT0 + seconds(3)), Outcome::kDuplicate);
}

// A job that fires every second for about eleven days: the state stays the
// same size and applying an event costs the same at the end as at the start.
TEST(FoldForever, AMillionFiresKeepTheStateBounded) {
  constexpr int kFires = 1'000'000;
  constexpr int kWindow = 100'000;
  Recurring f;
  JobState s;
  ASSERT_TRUE(Apply(s, f.Submitted()).applied());
  size_t size_at_1000 = 0, max_size = 0;
  double first_window_ns = 0, last_window_ns = 0;
  std::chrono::nanoseconds applying{0};  // inside Apply only, not building envelopes
  std::string after;
  for (int k = 1; k <= kFires; ++k) {
    JobSlot slot = Recurring::Slot(k);
    std::string run = ids::RunId(kJob, slot.fire_id, 1);
    Envelope fire[3] = {f.Due(slot, run, after), f.Dispatched(run, slot.at),
                        f.Succeeded(run, slot.at)};
    after = slot.fire_id;
    auto start = std::chrono::steady_clock::now();
    for (const Envelope& e : fire) {
      if (!Apply(s, e).applied()) FAIL() << EventType(e) << " of fire " << k << " not applied";
    }
    applying += std::chrono::steady_clock::now() - start;
    if (k == 1000) size_at_1000 = s.ByteSizeLong();
    if (k >= 1000) max_size = std::max(max_size, s.ByteSizeLong());
    if (k % kWindow == 0) {
      double ns = static_cast<double>(applying.count()) / (3.0 * kWindow);
      if (k == kWindow) first_window_ns = ns;
      last_window_ns = ns;
      applying = std::chrono::nanoseconds(0);
    }
  }
  EXPECT_EQ(s.summary().fires(), kFires);
  EXPECT_EQ(s.summary().succeeded(), kFires);
  EXPECT_EQ(s.version(), 1 + 3LL * kFires);
  EXPECT_EQ(s.runs_size(), 0);
  EXPECT_EQ(s.summary().recent_size(), kRecentOutcomes);
  // Bounded: only the counters' varints may grow (a byte each past 2^14, 2^21).
  EXPECT_LE(max_size, size_at_1000 + 16) << "state grew with the job's age";
  // Printed, not asserted: a stopwatch is no test on a shared machine.
  std::printf("[ fold ] state %zu bytes after 1,000 fires, %zu after %d; Apply %.0f ns/event "
              "over fires 1-%d, %.0f ns/event over the last %d\n",
              size_at_1000, max_size, kFires, first_window_ns, kWindow, last_window_ns, kWindow);
}

}  // namespace
}  // namespace jobsched::events
