// The fold and the scheduler's verdicts for execution under faults: leases
// lost, released and timed out, AT_MOST_ONCE, permanent failures and
// Retry-After, runs waiting for an executor, and dead-letter requeues.
#include <gtest/gtest.h>

#include "events/fold.h"
#include "services/scheduler/decide.h"
#include "tests/unit/fold_test_util.h"

namespace jobsched {
namespace {

using events::Envelope;
using events::JobState;
using events::Outcome;
using testing::EventFactory;
using testing::T;

class FoldExecutionTest : public ::testing::Test {
 protected:
  // Submitted (max_retries 2), due, dispatched to exec-1 (epoch 1), started.
  JobState Running(v1::ExecutionType type = v1::EXECUTION_TYPE_AT_LEAST_ONCE) {
    Envelope submitted = f_.Submitted(T(0));
    submitted.mutable_job_submitted()->mutable_spec()->set_execution_type(type);
    Envelope dispatched = f_.Dispatched(T(2), f_.RunId(1));
    dispatched.mutable_run_dispatched()->set_executor_id("exec-1");
    dispatched.mutable_run_dispatched()->set_executor_incarnation("inc-a");
    JobState s;
    for (const Envelope& e : {submitted, f_.Due(T(1), T(0), 1), dispatched,
                              f_.Started(T(3), f_.RunId(1))}) {
      EXPECT_TRUE(events::Apply(s, e).applied()) << events::EventType(e);
    }
    return s;
  }

  Envelope Lost(TimePoint at, const std::string& run, int64_t epoch) const {
    Envelope e = f_.Base("RunLost", run + "/" + std::to_string(epoch), at);
    e.mutable_run_lost()->set_run_id(run);
    e.mutable_run_lost()->set_lease_epoch(epoch);
    e.mutable_run_lost()->set_executor_id("exec-1");
    e.mutable_run_lost()->set_reason("executor missed heartbeats for 30000 ms");
    return e;
  }

  Envelope Released(TimePoint at, const std::string& run, int64_t epoch) const {
    Envelope e = f_.Base("RunReleased", run + "/" + std::to_string(epoch), at);
    e.mutable_run_released()->set_run_id(run);
    e.mutable_run_released()->set_lease_epoch(epoch);
    e.mutable_run_released()->set_executor_id("exec-1");
    e.mutable_run_released()->set_reason("shutting down");
    return e;
  }

  Envelope Requeued(TimePoint at, const std::string& cause) const {
    Envelope e = f_.Base("JobRequeued", cause, at);
    e.mutable_job_requeued()->set_reason("fixed the endpoint");
    return e;
  }

  // Applies every event the scheduler decides for `s` at `now`.
  scheduler::Decision DecideAndApply(JobState& s, TimePoint now) {
    scheduler::Decision d = scheduler::Decide(s, now, "scheduler/test");
    for (const Envelope& e : d.events) EXPECT_TRUE(events::Apply(s, e).applied());
    return d;
  }

  EventFactory f_;
};

TEST_F(FoldExecutionTest, ALostLeaseMakesTheRunDueAgainAndFencesTheOldHolder) {
  JobState s = Running();
  const std::string run = f_.RunId(1);
  ASSERT_TRUE(events::Apply(s, Lost(T(40), run, 1)).applied());
  EXPECT_EQ(s.status(), v1::JOB_STATUS_QUEUED);
  EXPECT_EQ(s.runs(0).status(), v1::RUN_STATUS_DUE);
  EXPECT_EQ(s.runs(0).attempt(), 1) << "a lost lease spends no attempt";
  EXPECT_EQ(s.runs(0).releases(), 1);
  EXPECT_EQ(s.runs(0).executor_incarnation(), "");
  EXPECT_EQ(events::Apply(s, Lost(T(41), run, 1)).outcome, Outcome::kDuplicate);

  ASSERT_TRUE(events::Apply(s, f_.Dispatched(T(42), run, 2)).applied());
  ASSERT_TRUE(events::Apply(s, f_.Started(T(43), run, 2)).applied());
  // The zombie's late result under lease 1 is refused; the new holder's counts.
  events::FoldResult late = events::Apply(s, f_.Succeeded(T(44), run, 1));
  EXPECT_EQ(late.outcome, Outcome::kRejected);
  EXPECT_NE(late.reason.find("lease epoch 1"), std::string::npos) << late.reason;
  EXPECT_EQ(events::Apply(s, Lost(T(44), run, 1)).outcome, Outcome::kRejected);
  ASSERT_TRUE(events::Apply(s, f_.Succeeded(T(45), run, 2)).applied());
  DecideAndApply(s, T(45));
  EXPECT_EQ(s.status(), v1::JOB_STATUS_SUCCEEDED);
}

TEST_F(FoldExecutionTest, AtMostOnceRunLostWhileRunningIsNotRunAgain) {
  JobState s = Running(v1::EXECUTION_TYPE_AT_MOST_ONCE);
  ASSERT_TRUE(events::Apply(s, Lost(T(40), f_.RunId(1), 1)).applied());
  EXPECT_EQ(s.runs(0).status(), v1::RUN_STATUS_LOST);
  scheduler::Decision d = DecideAndApply(s, T(40));
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_TRUE(d.events[0].has_job_dead()) << "no retry although max_retries is 2";
  EXPECT_NE(d.events[0].job_dead().reason().find("at_most_once"), std::string::npos);
  EXPECT_EQ(s.status(), v1::JOB_STATUS_DEAD);
  EXPECT_EQ(events::Apply(s, f_.Succeeded(T(41), f_.RunId(1), 1)).outcome, Outcome::kRejected)
      << "the lost holder's late result changes nothing";
}

TEST_F(FoldExecutionTest, AtMostOnceRunLostBeforeItStartedIsDispatchedAgain) {
  Envelope submitted = f_.Submitted(T(0));
  submitted.mutable_job_submitted()->mutable_spec()->set_execution_type(
      v1::EXECUTION_TYPE_AT_MOST_ONCE);
  JobState s = events::FoldAll(std::vector<Envelope>{
      submitted, f_.Due(T(1), T(0), 1), f_.Dispatched(T(2), f_.RunId(1))});
  ASSERT_TRUE(events::Apply(s, Lost(T(40), f_.RunId(1), 1)).applied());
  EXPECT_EQ(s.runs(0).status(), v1::RUN_STATUS_DUE) << "the handler never started";
}

TEST_F(FoldExecutionTest, AReleasedRunSpendsNoAttempt) {
  JobState s = Running();
  ASSERT_TRUE(events::Apply(s, Released(T(5), f_.RunId(1), 1)).applied());
  EXPECT_EQ(s.runs(0).status(), v1::RUN_STATUS_DUE);
  EXPECT_EQ(s.attempt(), 1);
  EXPECT_EQ(s.summary().attempts_failed(), 0);
  EXPECT_TRUE(DecideAndApply(s, T(5)).events.empty()) << "the dispatcher places it again";
}

// A run shorter than the executor's started_after has no RunStarted: its
// result, straight after RunDispatched, ends it and says when it began.
TEST_F(FoldExecutionTest, AResultWithoutRunStartedTakesItsStartFromTheResult) {
  JobState s;
  Envelope dispatched = f_.Dispatched(T(2), f_.RunId(1));
  for (const Envelope& e : {f_.Submitted(T(0)), f_.Due(T(1), T(0), 1), dispatched}) {
    ASSERT_TRUE(events::Apply(s, e).applied()) << events::EventType(e);
  }
  Envelope done = f_.Succeeded(T(9), f_.RunId(1));
  *done.mutable_run_succeeded()->mutable_started_at() = ToProto(T(4));
  ASSERT_TRUE(events::Apply(s, done).applied());
  EXPECT_EQ(s.runs(0).status(), v1::RUN_STATUS_SUCCEEDED);
  EXPECT_EQ(FromProto(s.runs(0).started_at()), T(4));
  EXPECT_EQ(FromProto(s.runs(0).finished_at()), T(9));

  // Without started_at (an older executor), the result's own time stands in.
  JobState f;
  for (const Envelope& e : {f_.Submitted(T(0)), f_.Due(T(1), T(0), 1), dispatched}) {
    ASSERT_TRUE(events::Apply(f, e).applied()) << events::EventType(e);
  }
  ASSERT_TRUE(events::Apply(f, f_.Failed(T(7), f_.RunId(1))).applied());
  EXPECT_EQ(FromProto(f.runs(0).started_at()), T(7));
}

TEST_F(FoldExecutionTest, TheDispatchersTimeoutBackstopCountsAsATimedOutAttempt) {
  JobState s = Running();
  Envelope e = f_.Base("RunTimedOut", f_.RunId(1) + "/1", T(100));
  e.mutable_run_timed_out()->set_run_id(f_.RunId(1));
  e.mutable_run_timed_out()->set_lease_epoch(1);
  e.mutable_run_timed_out()->set_timeout_ms(60'000);
  ASSERT_TRUE(events::Apply(s, e).applied());
  EXPECT_EQ(s.runs(0).status(), v1::RUN_STATUS_TIMED_OUT);
  EXPECT_NE(s.last_error().find("60000 ms"), std::string::npos);
  scheduler::Decision d = DecideAndApply(s, T(100));
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_TRUE(d.events[0].has_retry_scheduled());
  EXPECT_EQ(events::Apply(s, f_.Succeeded(T(101), f_.RunId(1), 1)).outcome, Outcome::kRejected);
}

TEST_F(FoldExecutionTest, APermanentFailureIsNotRetried) {
  JobState s = Running();
  Envelope failed = f_.Failed(T(4), f_.RunId(1));
  failed.mutable_run_failed()->set_http_status(404);
  failed.mutable_run_failed()->set_permanent(true);
  ASSERT_TRUE(events::Apply(s, failed).applied());
  scheduler::Decision d = DecideAndApply(s, T(4));
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_TRUE(d.events[0].has_job_dead());
  EXPECT_NE(d.events[0].job_dead().reason().find("permanent"), std::string::npos);
}

TEST_F(FoldExecutionTest, RetryAfterStretchesTheBackoff) {
  JobState s = Running();
  Envelope failed = f_.Failed(T(4), f_.RunId(1));
  failed.mutable_run_failed()->set_http_status(429);
  failed.mutable_run_failed()->set_retry_after_ms(120'000);
  ASSERT_TRUE(events::Apply(s, failed).applied());
  scheduler::Decision d = DecideAndApply(s, T(4));
  ASSERT_EQ(d.events.size(), 1u);
  ASSERT_TRUE(d.events[0].has_retry_scheduled());
  EXPECT_EQ(d.events[0].retry_scheduled().delay_ms(), 120'000);
  EXPECT_EQ(FromProto(d.events[0].retry_scheduled().retry_at()), T(124));
}

TEST_F(FoldExecutionTest, ARequeuedDeadJobGetsAFreshSetOfAttempts) {
  JobState s = Running();
  // Attempts 1..3 fail (max_retries 2): DEAD.
  for (int attempt = 1;; ++attempt) {
    const std::string run = f_.RunId(attempt);
    ASSERT_TRUE(events::Apply(s, f_.Failed(T(10 * attempt), run)).applied());
    DecideAndApply(s, T(10 * attempt));
    if (s.status() == v1::JOB_STATUS_DEAD) {
      EXPECT_EQ(attempt, 3);
      break;
    }
    ASSERT_LT(attempt, 3);
    DecideAndApply(s, T(10 * attempt + 9));  // RunDue of the next attempt
    ASSERT_TRUE(events::Apply(s, f_.Dispatched(T(10 * attempt + 9), f_.RunId(attempt + 1)))
                    .applied());
  }
  EXPECT_EQ(events::Apply(s, Requeued(T(50), "other")).outcome, Outcome::kApplied);
  EXPECT_EQ(s.status(), v1::JOB_STATUS_RETRYING);
  EXPECT_EQ(events::Apply(s, Requeued(T(51), "again")).outcome, Outcome::kDuplicate);
  scheduler::Decision d = DecideAndApply(s, T(50));
  ASSERT_EQ(d.events.size(), 1u);
  ASSERT_TRUE(d.events[0].has_run_due());
  EXPECT_EQ(d.events[0].run_due().attempt(), 4);
  EXPECT_EQ(s.status(), v1::JOB_STATUS_QUEUED);
  EXPECT_EQ(events::Apply(s, Requeued(T(52), "third")).outcome, Outcome::kRejected)
      << "only a DEAD job can be requeued";
  // Attempt 4 fails: retried, since the budget counts from the requeue.
  ASSERT_TRUE(events::Apply(s, f_.Dispatched(T(53), f_.RunId(4))).applied());
  ASSERT_TRUE(events::Apply(s, f_.Failed(T(54), f_.RunId(4))).applied());
  d = DecideAndApply(s, T(54));
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_TRUE(d.events[0].has_retry_scheduled());
}

TEST_F(FoldExecutionTest, AWaitingReasonIsKeptUntilTheRunIsDispatched) {
  JobState s = events::FoldAll(std::vector<Envelope>{f_.Submitted(T(0)), f_.Due(T(1), T(0), 1)});
  Envelope waiting = f_.Base("RunWaiting", "gpu", T(2));
  waiting.mutable_run_waiting()->set_run_id(f_.RunId(1));
  waiting.mutable_run_waiting()->set_reason("no live executor in pool 'gpu'");
  ASSERT_TRUE(events::Apply(s, waiting).applied());
  EXPECT_EQ(s.runs(0).wait_reason(), "no live executor in pool 'gpu'");
  Envelope again = waiting;
  again.set_event_id("other-id");
  EXPECT_EQ(events::Apply(s, again).outcome, Outcome::kDuplicate);
  Envelope dispatched = f_.Dispatched(T(3), f_.RunId(1));
  dispatched.mutable_run_dispatched()->set_executor_id("gpu-1");
  ASSERT_TRUE(events::Apply(s, dispatched).applied());
  EXPECT_EQ(s.runs(0).wait_reason(), "");
  EXPECT_EQ(s.runs(0).executor_id(), "gpu-1");
  EXPECT_EQ(events::Apply(s, waiting).outcome, Outcome::kRejected);
}

}  // namespace
}  // namespace jobsched
