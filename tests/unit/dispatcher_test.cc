// The dispatcher's pure parts: queue order (priority with aging) and
// placement on executors (pools, resources, shared capacity, lost leases).
#include <gtest/gtest.h>

#include "services/dispatcher/placement.h"
#include "services/dispatcher/run_queue.h"

namespace jobsched::dispatcher {
namespace {

TimePoint At(int64_t ms) { return FromUnixMillis(1'800'000'000'000 + ms); }

constexpr Millis kAging{60'000};

QueuedRun Queued(std::string job, int priority, int64_t due_ms) {
  return QueuedRun{priority, At(due_ms), At(due_ms) - priority * kAging, 0, "run-" + job, job, 0};
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

TEST(RunQueue, AgingLetsALongWaitPassHigherPriorities) {
  RunQueue q;
  q.Upsert(Queued("old-low", 0, 0));                       // waited 3 aging steps
  q.Upsert(Queued("new-p2", 2, 3 * kAging.count()));       // rank: 1 step
  q.Upsert(Queued("new-p5", 5, 3 * kAging.count()));       // rank: -2 steps
  std::vector<std::string> order;
  while (auto r = q.Pop()) order.push_back(r->job_id);
  EXPECT_EQ(order, (std::vector<std::string>{"new-p5", "old-low", "new-p2"}));
}

v1::ExecutorHeartbeat Beat(std::string id, int slots, int64_t at_ms, std::string pool = "",
                           Resources resources = {}, std::string incarnation = "i1") {
  v1::ExecutorHeartbeat hb;
  hb.set_executor_id(std::move(id));
  hb.set_slots(slots);
  *hb.mutable_sent_at() = ToProto(At(at_ms));
  hb.set_pool(std::move(pool));
  hb.set_incarnation(std::move(incarnation));
  hb.set_task_partition(3);
  for (const auto& [k, v] : resources) (*hb.mutable_resources())[k] = v;
  return hb;
}

Lease LeaseOn(std::string run, std::string executor, Resources r = {}, bool confirmed = true,
              std::string incarnation = "i1") {
  return Lease{std::move(run), "job", 0, 1, std::move(executor), std::move(incarnation),
               std::move(r), At(0), confirmed};
}

constexpr Millis kTimeout{30'000};

TEST(Placement, PicksTheLiveExecutorOfThePoolWithMostRoom) {
  Placement p("d1", kTimeout, At(0));
  std::string why;
  EXPECT_FALSE(p.Choose({}, At(0), &why));
  EXPECT_EQ(why, "no live executor in pool 'default'");
  p.Observe(Beat("a", 2, 0), At(0));
  p.Observe(Beat("b", 4, 0), At(0));
  p.Observe(Beat("g", 8, 0, "gpu"), At(0));
  auto t = p.Choose({}, At(1), nullptr);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->executor_id, "b");
  EXPECT_EQ(t->incarnation, "i1");
  EXPECT_EQ(t->task_partition, 3);
  p.Hold(LeaseOn("r1", "b"));
  p.Hold(LeaseOn("r2", "b"));
  p.Hold(LeaseOn("r3", "b"));
  EXPECT_EQ(p.Choose({}, At(1), nullptr)->executor_id, "a");
  EXPECT_EQ(p.FreeSlots(At(1)), 2 + 1 + 8);
  EXPECT_TRUE(p.Choose({}, At(4'999), nullptr));
  EXPECT_FALSE(p.Choose({}, At(5'000), &why)) << "no new work without a fresh heartbeat";
  EXPECT_TRUE(p.LostLeases(At(29'999)).empty()) << "though its leases are not lost yet";
}

TEST(Placement, ResourcesMustFitWhatIsFree) {
  Placement p("d1", kTimeout, At(0));
  p.Observe(Beat("cpu", 8, 0, "", {{"cpu", 4}}), At(0));
  p.Observe(Beat("gpu", 1, 0, "", {{"cpu", 4}, {"gpu_units", 1}}), At(0));
  Need gpu{"default", {{"gpu_units", 1}}};
  EXPECT_EQ(p.Choose(gpu, At(0), nullptr)->executor_id, "gpu");
  p.Hold(LeaseOn("g1", "gpu", {{"gpu_units", 1}}));
  std::string why;
  EXPECT_FALSE(p.Choose(gpu, At(0), &why));
  EXPECT_EQ(why, "") << "it fits once the GPU is free: busy, not unplaceable";
  Need big{"default", {{"gpu_units", 2}}};
  EXPECT_FALSE(p.Choose(big, At(0), &why));
  EXPECT_EQ(why, "no live executor in pool 'default' offers gpu_units >= 2");
  p.Release("g1");
  Need cpu{"default", {{"cpu", 3}}};
  EXPECT_EQ(p.Choose(cpu, At(0), nullptr)->executor_id, "cpu");
  p.Hold(LeaseOn("c1", "cpu", {{"cpu", 3}}));
  EXPECT_EQ(p.Choose(cpu, At(0), nullptr)->executor_id, "gpu") << "cpu has 1 left";
  p.Release("c1");
  EXPECT_EQ(p.Choose(cpu, At(0), nullptr)->executor_id, "cpu");
}

TEST(Placement, PrefetchOffersRunsPerSlotButNeverResources) {
  Placement p("d1", kTimeout, At(0), /*prefetch=*/3);
  p.Observe(Beat("a", 2, 0, "", {{"cpu", 2}}), At(0));
  EXPECT_EQ(p.FreeSlots(At(0)), 6) << "2 slots x 3 runs each";
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(p.Choose({}, At(0), nullptr)) << "run " << i;
    p.Hold(LeaseOn("r" + std::to_string(i), "a"));
  }
  std::string why;
  EXPECT_FALSE(p.Choose({}, At(0), &why)) << "six runs held: its queue is as long as offered";
  EXPECT_EQ(why, "");
  p.Release("r0");
  p.Release("r1");
  Need cpu{"default", {{"cpu", 1}}};
  ASSERT_TRUE(p.Choose(cpu, At(0), nullptr));
  p.Hold(LeaseOn("c1", "a", {{"cpu", 1}}));
  p.Hold(LeaseOn("c2", "a", {{"cpu", 1}}));
  EXPECT_EQ(p.FreeSlots(At(0)), 0);
  p.Release("r2");
  EXPECT_TRUE(p.Choose({}, At(0), nullptr)) << "a run without resources may queue";
  EXPECT_FALSE(p.Choose(cpu, At(0), &why)) << "cpu is never prefetched: both units are held";
  EXPECT_EQ(why, "");
}

TEST(Placement, CountsOtherDispatchersRunsFromHeartbeats) {
  Placement p("d1", kTimeout, At(0));
  v1::ExecutorHeartbeat hb = Beat("a", 2, 0);
  v1::HeldRun* mine = hb.add_runs();
  mine->set_run_id("r-mine");
  mine->set_dispatcher_id("d1");
  v1::HeldRun* theirs = hb.add_runs();
  theirs->set_run_id("r-theirs");
  theirs->set_dispatcher_id("d2");
  p.Hold(LeaseOn("r-mine", "a"));
  p.Observe(hb, At(0));
  EXPECT_FALSE(p.Choose({}, At(0), nullptr)) << "one slot mine, one d2's: full";
  hb.mutable_runs()->RemoveLast();
  *hb.mutable_sent_at() = ToProto(At(1000));
  p.Observe(hb, At(1000));
  EXPECT_TRUE(p.Choose({}, At(1000), nullptr));
}

TEST(Placement, LeasesAreLostOnRestartSilenceAndStop) {
  Placement p("d1", kTimeout, At(0));
  p.Observe(Beat("a", 4, 0), At(0));
  p.Observe(Beat("b", 4, 0), At(0));
  p.Hold(LeaseOn("ra", "a"));
  p.Hold(LeaseOn("rb", "b"));
  p.Hold(LeaseOn("pending", "a", {}, /*confirmed=*/false));
  EXPECT_TRUE(p.LostLeases(At(1000)).empty());
  // a restarts: a new incarnation.
  p.Observe(Beat("a", 4, 2000, "", {}, "i2"), At(2000));
  auto lost = p.LostLeases(At(2000));
  ASSERT_EQ(lost.size(), 1u) << "the unconfirmed lease is not declared before its dispatch";
  EXPECT_EQ(lost[0].first.run_id, "ra");
  EXPECT_NE(lost[0].second.find("restarted"), std::string::npos);
  EXPECT_EQ(p.FreeSlots(At(2000)), 4 + 3) << "the old incarnation's leases use no capacity";
  // b falls silent.
  p.Release("ra");
  p.Observe(Beat("a", 4, 40'000, "", {}, "i2"), At(40'000));
  lost = p.LostLeases(At(29'999));
  EXPECT_TRUE(lost.empty());
  lost = p.LostLeases(At(30'000));
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].first.run_id, "rb");
  // a stops without handing its lease back.
  p.Release("rb");
  p.Hold(LeaseOn("ra2", "a", {}, true, "i2"));
  v1::ExecutorHeartbeat last = Beat("a", 4, 41'000, "", {}, "i2");
  last.set_stopping(true);
  p.Observe(last, At(41'000));
  EXPECT_FALSE(p.Choose({}, At(41'000), nullptr)) << "a stopping executor takes no work";
  EXPECT_TRUE(p.LostLeases(At(42'000)).empty()) << "its RunReleased may still be on the way";
  EXPECT_EQ(p.LostLeases(At(43'000)).size(), 1u);
}

TEST(Placement, ARestartedDispatcherGivesExecutorsAFullTimeout) {
  Placement p("d1", kTimeout, At(100'000));
  p.Observe(Beat("a", 4, 0), At(100'000));  // an old heartbeat read at start
  p.Hold(LeaseOn("ra", "a"));
  EXPECT_FALSE(p.Choose({}, At(100'000), nullptr)) << "not live: its heartbeat is old";
  EXPECT_TRUE(p.LostLeases(At(129'999)).empty());
  EXPECT_EQ(p.LostLeases(At(130'000)).size(), 1u);
}

TEST(Placement, AnOlderHeartbeatIsIgnored) {
  Placement p("d1", kTimeout, At(0));
  p.Observe(Beat("a", 4, 2000, "", {}, "i2"), At(2000));
  p.Observe(Beat("a", 16, 1000, "", {}, "i1"), At(2001));  // the dead incarnation's last
  EXPECT_EQ(p.Find("a")->incarnation, "i2");
  EXPECT_EQ(p.FreeSlots(At(2001)), 4);
}

}  // namespace
}  // namespace jobsched::dispatcher
