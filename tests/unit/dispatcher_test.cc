// The dispatcher's pure parts: queue order and capacity from heartbeats.
#include <gtest/gtest.h>

#include "services/dispatcher/capacity.h"
#include "services/dispatcher/run_queue.h"

namespace jobsched::dispatcher {
namespace {

TimePoint At(int64_t ms) { return FromUnixMillis(1'800'000'000'000 + ms); }

QueuedRun Queued(std::string job, int priority, int64_t due_ms) {
  return QueuedRun{priority, At(due_ms), 0, "run-" + job, job, 0};
}

TEST(RunQueue, HigherPriorityFirstThenFifo) {
  RunQueue q;
  q.Upsert(Queued("a", 5, 10));
  q.Upsert(Queued("b", 9, 30));
  q.Upsert(Queued("c", 5, 5));
  q.Upsert(Queued("d", 0, 1));
  q.Upsert(Queued("e", 9, 20));
  std::vector<std::string> order;
  while (auto r = q.Pop()) order.push_back(r->job_id);
  EXPECT_EQ(order, (std::vector<std::string>{"e", "b", "c", "a", "d"}));
}

TEST(RunQueue, SameDueTimeFollowsLogPosition) {
  RunQueue q;
  for (int i = 0; i < 5; ++i) {
    QueuedRun r = Queued("j" + std::to_string(i), 5, 10);
    r.due_offset = 100 - i;  // later jobs were made due first
    r.run_id = "r" + std::to_string(i * 7 % 5);
    q.Upsert(r);
  }
  std::vector<std::string> order;
  while (auto r = q.Pop()) order.push_back(r->job_id);
  EXPECT_EQ(order, (std::vector<std::string>{"j4", "j3", "j2", "j1", "j0"}));
}

TEST(RunQueue, UpsertReplacesAndRemoveForgets) {
  RunQueue q;
  q.Upsert(Queued("a", 1, 10));
  q.Upsert(Queued("a", 7, 10));
  q.Upsert(Queued("b", 5, 10));
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.Peek()->job_id, "a");
  q.Remove("run-a");
  q.Remove("missing");
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.Pop()->job_id, "b");
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.Pop().has_value());
}

TEST(RunQueue, RemovePartition) {
  RunQueue q;
  auto a = Queued("a", 1, 1);
  a.partition = 3;
  q.Upsert(a);
  q.Upsert(Queued("b", 1, 2));
  q.RemovePartition(3);
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.Pop()->job_id, "b");
}

v1::ExecutorHeartbeat Beat(std::string id, int slots, int64_t at_ms, bool stopping = false) {
  v1::ExecutorHeartbeat hb;
  hb.set_executor_id(std::move(id));
  hb.set_slots(slots);
  *hb.mutable_sent_at() = ToProto(At(at_ms));
  hb.set_stopping(stopping);
  return hb;
}

TEST(Capacity, SumsLiveExecutors) {
  Capacity c(Millis(5000));
  EXPECT_EQ(c.TotalSlots(At(0)), 0);
  c.Observe(Beat("x", 4, 0));
  c.Observe(Beat("y", 8, 1000));
  EXPECT_EQ(c.TotalSlots(At(2000)), 12);
  EXPECT_EQ(c.LiveExecutors(At(2000)), 2);
  EXPECT_EQ(c.TotalSlots(At(5500)), 8) << "x expired";
}

TEST(Capacity, StoppingAndOlderHeartbeats) {
  Capacity c(Millis(5000));
  c.Observe(Beat("x", 4, 1000));
  c.Observe(Beat("x", 16, 500));  // older: ignored
  EXPECT_EQ(c.TotalSlots(At(1000)), 4);
  c.Observe(Beat("x", 4, 2000, /*stopping=*/true));
  EXPECT_EQ(c.TotalSlots(At(2000)), 0);
}

}  // namespace
}  // namespace jobsched::dispatcher
