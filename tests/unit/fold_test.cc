// The fold: every transition of the job state machine, duplicates, and the
// transitions it must reject.
#include "events/fold.h"

#include <gtest/gtest.h>

#include "tests/unit/fold_test_util.h"

namespace jobsched::events {
namespace {

using testing::EventFactory;
using testing::T;

class FoldTest : public ::testing::Test {
 protected:
  // Applies and expects the outcome; returns the reason.
  std::string Expect(const Envelope& e, Outcome want) {
    FoldResult r = Apply(s_, e);
    EXPECT_EQ(OutcomeName(r.outcome), OutcomeName(want))
        << EventType(e) << " in " << JobStatusName(s_.status()) << ": " << r.reason;
    return r.reason;
  }
  void Ok(const Envelope& e) { Expect(e, Outcome::kApplied); }
  void Rejected(const Envelope& e) {
    JobState before = s_;
    Expect(e, Outcome::kRejected);
    EXPECT_EQ(before.SerializeAsString(), s_.SerializeAsString())
        << "a rejection changed the state";
  }

  // Brings the job to RUNNING with attempt 1 started.
  std::string ToRunning() {
    Ok(f_.Submitted(T(0)));
    std::string run = f_.RunId(1);
    Ok(f_.Due(T(1), T(0), 1));
    Ok(f_.Dispatched(T(2), run));
    Ok(f_.Started(T(3), run));
    return run;
  }

  EventFactory f_;
  JobState s_;
};

TEST_F(FoldTest, SubmittedNowIsPending) {
  Ok(f_.Submitted(T(0)));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_PENDING);
  EXPECT_EQ(s_.job_id(), f_.job_id());
  EXPECT_EQ(FromProto(s_.next_fire_at()), T(0));
  EXPECT_EQ(FromProto(s_.created_at()), T(0));
  EXPECT_EQ(s_.version(), 1);
  EXPECT_EQ(s_.spec().name(), "test job");
}

TEST_F(FoldTest, SubmittedWithFutureRunAtIsScheduled) {
  Ok(f_.Submitted(T(0), T(60)));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_SCHEDULED);
  EXPECT_EQ(FromProto(s_.next_fire_at()), T(60));
}

TEST_F(FoldTest, SubmittedWithPastRunAtIsPending) {
  Ok(f_.Submitted(T(10), T(5)));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_PENDING);
  EXPECT_EQ(FromProto(s_.next_fire_at()), T(10));
}

TEST_F(FoldTest, SecondSubmissionWithAnotherIdIsRejected) {
  Ok(f_.Submitted(T(0)));
  auto again = f_.Submitted(T(1));
  again.set_event_id("00000000-0000-4000-8000-0000000000ff");
  Rejected(again);
}

TEST_F(FoldTest, HappyPathEndsSucceeded) {
  std::string run = ToRunning();
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_RUNNING);
  ASSERT_NE(CurrentRun(s_), nullptr);
  EXPECT_EQ(CurrentRun(s_)->status(), v1::RUN_STATUS_RUNNING);
  EXPECT_EQ(CurrentRun(s_)->executor_id(), "exec-1");
  Ok(f_.Succeeded(T(4), run));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_RUNNING) << "the scheduler decides the job's outcome";
  EXPECT_EQ(CurrentRun(s_)->status(), v1::RUN_STATUS_SUCCEEDED);
  EXPECT_EQ(CurrentRun(s_)->http_status(), 200);
  EXPECT_EQ(FromProto(CurrentRun(s_)->finished_at()), T(4));
  Ok(f_.JobSucceeded(T(5), run));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_SUCCEEDED);
  EXPECT_TRUE(IsTerminal(s_.status()));
  EXPECT_EQ(s_.version(), 6);
  EXPECT_EQ(FromProto(s_.updated_at()), T(5));
}

TEST_F(FoldTest, RunDueMakesQueuedRun) {
  Ok(f_.Submitted(T(0)));
  Ok(f_.Due(T(1), T(0), 1));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_QUEUED);
  EXPECT_EQ(s_.attempt(), 1);
  ASSERT_EQ(s_.runs_size(), 1);
  EXPECT_EQ(s_.runs(0).status(), v1::RUN_STATUS_DUE);
  EXPECT_EQ(s_.current_run_id(), f_.RunId(1));
  EXPECT_FALSE(IsSet(s_.next_fire_at()));
}

TEST_F(FoldTest, RunDueWithWrongAttemptIsRejected) {
  Ok(f_.Submitted(T(0)));
  Rejected(f_.Due(T(1), T(0), 2));
}

TEST_F(FoldTest, SecondRunDueWhileQueuedIsRejected) {
  Ok(f_.Submitted(T(0)));
  Ok(f_.Due(T(1), T(0), 1));
  Rejected(f_.Due(T(2), T(1), 2));
}

TEST_F(FoldTest, DispatchThenStartedMovesToRunning) {
  Ok(f_.Submitted(T(0)));
  std::string run = f_.RunId(1);
  Ok(f_.Due(T(1), T(0), 1));
  Ok(f_.Dispatched(T(2), run, 1));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_QUEUED);
  EXPECT_EQ(CurrentRun(s_)->status(), v1::RUN_STATUS_DISPATCHED);
  EXPECT_EQ(CurrentRun(s_)->lease_epoch(), 1);
  Ok(f_.Started(T(3), run, 1));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_RUNNING);
}

TEST_F(FoldTest, RedispatchNeedsAHigherEpoch) {
  Ok(f_.Submitted(T(0)));
  std::string run = f_.RunId(1);
  Ok(f_.Due(T(1), T(0), 1));
  Ok(f_.Dispatched(T(2), run, 2));
  JobState before = s_;
  EXPECT_EQ(Expect(f_.Dispatched(T(3), run, 1), Outcome::kDuplicate),
            "run already dispatched under this or a later lease");
  EXPECT_EQ(before.SerializeAsString(), s_.SerializeAsString());
  Ok(f_.Dispatched(T(4), run, 3));
  EXPECT_EQ(CurrentRun(s_)->lease_epoch(), 3);
}

TEST_F(FoldTest, StartedWithoutDispatchIsRejected) {
  Ok(f_.Submitted(T(0)));
  std::string run = f_.RunId(1);
  Ok(f_.Due(T(1), T(0), 1));
  Rejected(f_.Started(T(2), run));
}

TEST_F(FoldTest, ResultOfAnOldLeaseIsRejected) {
  Ok(f_.Submitted(T(0)));
  std::string run = f_.RunId(1);
  Ok(f_.Due(T(1), T(0), 1));
  Ok(f_.Dispatched(T(2), run, 1));
  Ok(f_.Dispatched(T(3), run, 2));
  Rejected(f_.Started(T(4), run, 1));
  Rejected(f_.Succeeded(T(5), run, 1));
  Ok(f_.Succeeded(T(6), run, 2));
}

TEST_F(FoldTest, ResultForAnotherRunIsRejected) {
  ToRunning();
  Rejected(f_.Succeeded(T(4), "00000000-0000-4000-8000-00000000dead"));
}

TEST_F(FoldTest, SucceededWithoutStartedIsAccepted) {
  // A RunStarted may be lost to a crash of the executor before it was acked.
  Ok(f_.Submitted(T(0)));
  std::string run = f_.RunId(1);
  Ok(f_.Due(T(1), T(0), 1));
  Ok(f_.Dispatched(T(2), run));
  Ok(f_.Succeeded(T(3), run));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_RUNNING);
  EXPECT_EQ(FromProto(CurrentRun(s_)->started_at()), T(3));
}

TEST_F(FoldTest, SecondResultForTheSameRunIsRejected) {
  std::string run = ToRunning();
  Ok(f_.Succeeded(T(4), run));
  auto late = f_.Failed(T(5), run);
  Rejected(late);
  EXPECT_EQ(CurrentRun(s_)->status(), v1::RUN_STATUS_SUCCEEDED);
  // The same result again (the executor ran the task twice) is a duplicate.
  auto again = f_.Succeeded(T(6), run);
  again.set_event_id("00000000-0000-4000-8000-0000000000aa");
  EXPECT_EQ(Expect(again, Outcome::kDuplicate), "run already finished under this lease");
}

TEST_F(FoldTest, FailureThenRetryThenSuccess) {
  std::string run1 = ToRunning();
  Ok(f_.Failed(T(4), run1));
  EXPECT_EQ(CurrentRun(s_)->status(), v1::RUN_STATUS_FAILED);
  EXPECT_EQ(s_.last_error(), "HTTP 500");
  Ok(f_.Retry(T(5), run1, 2, T(10)));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_RETRYING);
  EXPECT_EQ(FromProto(s_.next_fire_at()), T(10));
  std::string run2 = f_.RunId(2);
  Ok(f_.Due(T(10), T(10), 2));
  Ok(f_.Dispatched(T(11), run2));
  Ok(f_.Started(T(12), run2));
  Ok(f_.Succeeded(T(13), run2));
  Ok(f_.JobSucceeded(T(14), run2));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_SUCCEEDED);
  // The state keeps the attempt in flight only; the summary counts the rest.
  ASSERT_EQ(s_.runs_size(), 1);
  EXPECT_EQ(s_.runs(0).run_id(), run2);
  EXPECT_EQ(s_.runs(0).attempt(), 2);
  EXPECT_EQ(s_.runs(0).status(), v1::RUN_STATUS_SUCCEEDED);
  EXPECT_EQ(s_.summary().attempts(), 2);
  EXPECT_EQ(s_.summary().attempts_failed(), 1);
  EXPECT_EQ(s_.summary().succeeded(), 1);
  ASSERT_EQ(s_.summary().recent_size(), 1);
  EXPECT_EQ(s_.summary().recent(0).run_id(), run2);
  EXPECT_EQ(s_.summary().recent(0).attempts(), 2);
}

TEST_F(FoldTest, TimeoutIsItsOwnRunStatus) {
  std::string run = ToRunning();
  Ok(f_.Failed(T(4), run, 1, v1::FAILURE_KIND_TIMED_OUT));
  EXPECT_EQ(CurrentRun(s_)->status(), v1::RUN_STATUS_TIMED_OUT);
}

TEST_F(FoldTest, RetryBeyondMaxRetriesIsRejected) {
  Ok(f_.Submitted(T(0), std::nullopt, /*max_retries=*/0));
  std::string run = f_.RunId(1);
  Ok(f_.Due(T(1), T(0), 1));
  Ok(f_.Dispatched(T(2), run));
  Ok(f_.Started(T(3), run));
  Ok(f_.Failed(T(4), run));
  Rejected(f_.Retry(T(5), run, 2, T(6)));
  Ok(f_.Dead(T(5), run));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_DEAD);
}

TEST_F(FoldTest, RetryOfASucceededRunIsRejected) {
  std::string run = ToRunning();
  Ok(f_.Succeeded(T(4), run));
  Rejected(f_.Retry(T(5), run, 2, T(6)));
  Rejected(f_.Dead(T(5), run));
}

TEST_F(FoldTest, JobSucceededNeedsASucceededRun) {
  std::string run = ToRunning();
  Rejected(f_.JobSucceeded(T(4), run));
  Ok(f_.Failed(T(4), run));
  Rejected(f_.JobSucceeded(T(5), run));
}

TEST_F(FoldTest, CancelBeforeRunAt) {
  Ok(f_.Submitted(T(0), T(60)));
  Ok(f_.CancelRequested(T(1)));
  EXPECT_TRUE(s_.cancel_requested());
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_SCHEDULED);
  Rejected(f_.Due(T(60), T(60), 1));
  Ok(f_.Canceled(T(2)));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_CANCELED);
  EXPECT_FALSE(IsSet(s_.next_fire_at()));
}

TEST_F(FoldTest, ResultAfterCancelChangesNothing) {
  std::string run = ToRunning();
  Ok(f_.CancelRequested(T(4)));
  Ok(f_.Canceled(T(5)));
  Rejected(f_.Succeeded(T(6), run));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_CANCELED);
}

TEST_F(FoldTest, TerminalJobsRejectEverything) {
  std::string run = ToRunning();
  Ok(f_.Succeeded(T(4), run));
  Ok(f_.JobSucceeded(T(5), run));
  Rejected(f_.CancelRequested(T(6)));
  Rejected(f_.Canceled(T(6)));
  Rejected(f_.Due(T(6), T(6), 2));
  Rejected(f_.Failed(T(6), run));
  Rejected(f_.Dead(T(6), run));
}

TEST_F(FoldTest, EventsForAnUnknownJobAreRejected) {
  Rejected(f_.Due(T(1), T(0), 1));
  Rejected(f_.CancelRequested(T(1)));
  EXPECT_EQ(s_.status(), v1::JOB_STATUS_UNSPECIFIED);
}

TEST_F(FoldTest, EventOfAnotherJobIsRejected) {
  Ok(f_.Submitted(T(0)));
  EventFactory other("00000000-0000-4000-8000-000000000002");
  Rejected(other.CancelRequested(T(1)));
}

TEST_F(FoldTest, EnvelopeWithoutIdsOrEventIsRejected) {
  Ok(f_.Submitted(T(0)));
  auto no_id = f_.CancelRequested(T(1));
  no_id.clear_event_id();
  Rejected(no_id);
  auto empty = f_.Base("Nothing", "", T(1));
  Rejected(empty);
}

TEST_F(FoldTest, DuplicatesAreIgnoredAtEveryStep) {
  EventFactory f;
  std::string run1 = f.RunId(1);
  std::string run2 = f.RunId(2);
  std::vector<Envelope> log = {
      f.Submitted(T(0)),         f.Due(T(1), T(0), 1),       f.Dispatched(T(2), run1),
      f.Started(T(3), run1),     f.Failed(T(4), run1),       f.Retry(T(5), run1, 2, T(10)),
      f.Due(T(10), T(10), 2),    f.Dispatched(T(11), run2),  f.Started(T(12), run2),
      f.Succeeded(T(13), run2),  f.JobSucceeded(T(14), run2)};
  JobState once = FoldAll(log);
  // Every event delivered twice in a row (a redo after a crash) ...
  JobState twice;
  for (const auto& e : log) {
    EXPECT_TRUE(Apply(twice, e).applied());
    EXPECT_EQ(Apply(twice, e).outcome, Outcome::kDuplicate) << EventType(e);
  }
  EXPECT_EQ(once.SerializeAsString(), twice.SerializeAsString());
  // ... and the whole log replayed again on top.
  for (const auto& e : log) EXPECT_EQ(Apply(twice, e).outcome, Outcome::kDuplicate);
  EXPECT_EQ(once.SerializeAsString(), twice.SerializeAsString());
  EXPECT_EQ(once.status(), v1::JOB_STATUS_SUCCEEDED);
}

TEST_F(FoldTest, ReplayIsDeterministic) {
  EventFactory f;
  std::string run = f.RunId(1);
  std::vector<Envelope> log = {f.Submitted(T(0)), f.Due(T(1), T(0), 1), f.Dispatched(T(2), run),
                               f.Failed(T(3), run), f.Dead(T(4), run)};
  EXPECT_EQ(FoldAll(log).SerializeAsString(), FoldAll(log).SerializeAsString());
}

TEST(JobStatusNames, RoundTrip) {
  for (int i = v1::JobStatus_MIN + 1; i <= v1::JobStatus_MAX; ++i) {
    auto s = static_cast<v1::JobStatus>(i);
    EXPECT_EQ(ParseJobStatus(JobStatusName(s)), s);
  }
  EXPECT_EQ(ParseJobStatus("pending"), v1::JOB_STATUS_UNSPECIFIED);
  EXPECT_EQ(ParseJobStatus("BOGUS"), v1::JOB_STATUS_UNSPECIFIED);
}

}  // namespace
}  // namespace jobsched::events
