// scheduler::Decide and RetryDelay: what the scheduler appends for each state.
#include "services/scheduler/decide.h"

#include <gtest/gtest.h>

#include "events/fold.h"
#include "services/scheduler/backoff.h"
#include "tests/unit/fold_test_util.h"

namespace jobsched::scheduler {
namespace {

using events::Envelope;
using events::JobState;
using testing::EventFactory;
using testing::T;

JobState Fold(const std::vector<Envelope>& log) { return events::FoldAll(log); }

TEST(Decide, PendingJobBecomesDueNow) {
  EventFactory f;
  JobState s = Fold({f.Submitted(T(0))});
  Decision d = Decide(s, T(0), "scheduler/test");
  ASSERT_EQ(d.events.size(), 1u);
  const Envelope& e = d.events[0];
  ASSERT_TRUE(e.has_run_due());
  EXPECT_EQ(e.run_due().attempt(), 1);
  EXPECT_EQ(e.run_due().run_id(), f.RunId(1));
  EXPECT_EQ(FromProto(e.run_due().scheduled_for()), T(0));
  EXPECT_EQ(e.job_id(), f.job_id());
  EXPECT_EQ(e.producer(), "scheduler/test");
  EXPECT_EQ(e.causation_id(), s.submitted_event_id());
  EXPECT_EQ(e.correlation_id(), "corr-1");
  // The decision applies cleanly.
  EXPECT_TRUE(events::Apply(s, e).applied());
  EXPECT_EQ(s.status(), v1::JOB_STATUS_QUEUED);
}

TEST(Decide, ScheduledJobWaitsForRunAt) {
  EventFactory f;
  JobState s = Fold({f.Submitted(T(0), T(60))});
  Decision early = Decide(s, T(59), "s");
  EXPECT_TRUE(early.events.empty());
  ASSERT_TRUE(early.wake_at.has_value());
  EXPECT_EQ(*early.wake_at, T(60));
  Decision due = Decide(s, T(60), "s");
  ASSERT_EQ(due.events.size(), 1u);
  EXPECT_EQ(FromProto(due.events[0].run_due().scheduled_for()), T(60));
}

TEST(Decide, SameInputsSameEvents) {
  EventFactory f;
  JobState s = Fold({f.Submitted(T(0))});
  Decision a = Decide(s, T(1), "s");
  Decision b = Decide(s, T(5), "s");  // decided again later, after a crash
  ASSERT_EQ(a.events.size(), 1u);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(a.events[0].event_id(), b.events[0].event_id());
  EXPECT_EQ(a.events[0].run_due().run_id(), b.events[0].run_due().run_id());
  // The redo is a duplicate for the fold.
  JobState folded = s;
  EXPECT_TRUE(events::Apply(folded, a.events[0]).applied());
  EXPECT_EQ(events::Apply(folded, b.events[0]).outcome, events::Outcome::kDuplicate);
}

TEST(Decide, QueuedJobIsLeftToTheDispatcher) {
  EventFactory f;
  JobState s = Fold({f.Submitted(T(0)), f.Due(T(1), T(0), 1)});
  Decision d = Decide(s, T(100), "s");
  EXPECT_TRUE(d.events.empty());
  EXPECT_FALSE(d.wake_at.has_value());
}

TEST(Decide, SucceededRunEndsTheJob) {
  EventFactory f;
  std::string run = f.RunId(1);
  JobState s = Fold({f.Submitted(T(0)), f.Due(T(1), T(0), 1), f.Dispatched(T(2), run),
                     f.Started(T(3), run), f.Succeeded(T(4), run)});
  Decision d = Decide(s, T(5), "s");
  ASSERT_EQ(d.events.size(), 1u);
  ASSERT_TRUE(d.events[0].has_job_succeeded());
  EXPECT_EQ(d.events[0].job_succeeded().run_id(), run);
}

TEST(Decide, FailedRunIsRetriedWithBackoffFromItsEnd) {
  EventFactory f;
  std::string run = f.RunId(1);
  JobState s = Fold({f.Submitted(T(0), std::nullopt, /*max_retries=*/2), f.Due(T(1), T(0), 1),
                     f.Dispatched(T(2), run), f.Started(T(3), run), f.Failed(T(4), run)});
  Decision d = Decide(s, T(30), "s");
  ASSERT_EQ(d.events.size(), 1u);
  ASSERT_TRUE(d.events[0].has_retry_scheduled());
  const auto& r = d.events[0].retry_scheduled();
  EXPECT_EQ(r.failed_run_id(), run);
  EXPECT_EQ(r.next_attempt(), 2);
  EXPECT_EQ(r.delay_ms(), kDefaultBaseDelayMs);  // exponential default, first retry
  EXPECT_EQ(FromProto(r.retry_at()), T(4) + Millis(kDefaultBaseDelayMs));
}

TEST(Decide, RetryingJobBecomesDueAtRetryAt) {
  EventFactory f;
  std::string run = f.RunId(1);
  JobState s = Fold({f.Submitted(T(0)), f.Due(T(1), T(0), 1), f.Dispatched(T(2), run),
                     f.Failed(T(4), run), f.Retry(T(5), run, 2, T(9))});
  EXPECT_EQ(*Decide(s, T(8), "s").wake_at, T(9));
  Decision d = Decide(s, T(9), "s");
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].run_due().attempt(), 2);
  EXPECT_EQ(d.events[0].run_due().run_id(), f.RunId(2));
}

TEST(Decide, LastAttemptFailedMeansDead) {
  EventFactory f;
  std::string run1 = f.RunId(1);
  std::string run2 = f.RunId(2);
  JobState s = Fold({f.Submitted(T(0), std::nullopt, /*max_retries=*/1), f.Due(T(1), T(0), 1),
                     f.Dispatched(T(2), run1), f.Failed(T(4), run1), f.Retry(T(5), run1, 2, T(9)),
                     f.Due(T(9), T(9), 2), f.Dispatched(T(10), run2),
                     f.Failed(T(11), run2, 1, v1::FAILURE_KIND_TIMED_OUT)});
  Decision d = Decide(s, T(12), "s");
  ASSERT_EQ(d.events.size(), 1u);
  ASSERT_TRUE(d.events[0].has_job_dead());
  EXPECT_EQ(d.events[0].job_dead().attempts(), 2);
  EXPECT_EQ(d.events[0].job_dead().last_run_id(), run2);
  EXPECT_TRUE(events::Apply(s, d.events[0]).applied());
  EXPECT_EQ(s.status(), v1::JOB_STATUS_DEAD);
}

TEST(Decide, CancelRequestWins) {
  EventFactory f;
  JobState s = Fold({f.Submitted(T(0), T(60)), f.CancelRequested(T(1))});
  Decision d = Decide(s, T(61), "s");
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_TRUE(d.events[0].has_job_canceled());
}

TEST(Decide, TerminalJobsNeedNothing) {
  EventFactory f;
  JobState s = Fold({f.Submitted(T(0)), f.CancelRequested(T(1)), f.Canceled(T(2))});
  Decision d = Decide(s, T(3), "s");
  EXPECT_TRUE(d.events.empty());
  EXPECT_FALSE(d.wake_at.has_value());
}

v1::RetryPolicy Policy(v1::RetryStrategy strategy, int64_t base, int64_t max) {
  v1::RetryPolicy p;
  p.set_strategy(strategy);
  p.set_base_delay_ms(base);
  p.set_max_delay_ms(max);
  return p;
}

TEST(RetryDelay, Fixed) {
  auto p = Policy(v1::RETRY_STRATEGY_FIXED, 500, 10000);
  for (int attempt = 1; attempt < 10; ++attempt)
    EXPECT_EQ(RetryDelay(p, attempt, "r").count(), 500);
}

TEST(RetryDelay, ExponentialDoublesUpToMax) {
  auto p = Policy(v1::RETRY_STRATEGY_EXPONENTIAL, 100, 1000);
  EXPECT_EQ(RetryDelay(p, 1, "r").count(), 100);
  EXPECT_EQ(RetryDelay(p, 2, "r").count(), 200);
  EXPECT_EQ(RetryDelay(p, 3, "r").count(), 400);
  EXPECT_EQ(RetryDelay(p, 4, "r").count(), 800);
  EXPECT_EQ(RetryDelay(p, 5, "r").count(), 1000);
  EXPECT_EQ(RetryDelay(p, 100, "r").count(), 1000) << "no overflow for huge attempts";
}

TEST(RetryDelay, JitterStaysInTheUpperHalfAndIsDeterministic) {
  auto p = Policy(v1::RETRY_STRATEGY_JITTER, 1000, 60000);
  std::set<int64_t> seen;
  for (int i = 0; i < 200; ++i) {
    std::string run = "run-" + std::to_string(i);
    int64_t d = RetryDelay(p, 3, run).count();  // exponential value 4000
    EXPECT_GE(d, 2000);
    EXPECT_LE(d, 4000);
    EXPECT_EQ(d, RetryDelay(p, 3, run).count());
    seen.insert(d);
  }
  EXPECT_GT(seen.size(), 50u) << "jitter should spread retries";
}

TEST(RetryDelay, DefaultsWhenUnset) {
  v1::RetryPolicy p;
  EXPECT_EQ(RetryDelay(p, 1, "r").count(), kDefaultBaseDelayMs);
  EXPECT_EQ(RetryDelay(p, 30, "r").count(), kDefaultMaxDelayMs);
}

}  // namespace
}  // namespace jobsched::scheduler
