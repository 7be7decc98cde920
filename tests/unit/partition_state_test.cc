// PartitionState: the fold of one partition as a scheduler or dispatcher keeps
// it: log order, bounded memory (terminal jobs evicted after a linger), and
// the snapshot round trip.
#include "services/common/partition_state.h"

#include <gtest/gtest.h>

#include "tests/unit/fold_test_util.h"

namespace jobsched::services {
namespace {

using testing::EventFactory;
using testing::JobId;
using testing::T;

TEST(PartitionState, KeepsJobsInLogOrderAndUnknownJobsNot) {
  PartitionState p;
  for (int i : {7, 3, 9}) {
    EXPECT_TRUE(p.Apply(100 + i, EventFactory(JobId(i)).Submitted(T(i))).state != nullptr);
  }
  auto stray = p.Apply(200, EventFactory(JobId(42)).CancelRequested(T(1)));
  EXPECT_EQ(stray.result.outcome, events::Outcome::kRejected);
  EXPECT_EQ(stray.state, nullptr);
  EXPECT_EQ(p.Find(JobId(42)), nullptr) << "nothing kept for a job never submitted here";
  std::vector<std::string> order;
  p.ForEach([&](const events::JobState& s) { order.push_back(s.job_id()); });
  EXPECT_EQ(order, (std::vector<std::string>{JobId(3), JobId(7), JobId(9)}));
  EXPECT_EQ(p.next_offset(), 201);
  EXPECT_EQ(p.folded(), 4u);
}

TEST(PartitionState, EvictsTerminalJobsAfterTheirLinger) {
  PartitionState p;
  EventFactory done(JobId(1)), live(JobId(2));
  int64_t offset = 0;
  for (const auto& e : testing::Lifecycle(done, 0)) p.Apply(offset++, e);  // SUCCEEDED at T(14)
  p.Apply(offset++, live.Submitted(T(0), T(3600)));
  EXPECT_EQ(p.EvictTerminal(T(14)), 0u) << "not older than the linger yet";
  EXPECT_EQ(p.EvictTerminal(T(15)), 1u);
  EXPECT_EQ(p.Find(JobId(1)), nullptr);
  EXPECT_NE(p.Find(JobId(2)), nullptr) << "live jobs stay, however old";
}

TEST(PartitionState, SnapshotRoundTripKeepsStatesOrderAndOffset) {
  PartitionState p;
  int64_t offset = 10;
  for (int i : {5, 2, 8}) p.Apply(offset++, EventFactory(JobId(i)).Submitted(T(i), T(3600)));
  v1::PartitionSnapshot snap;
  p.SaveTo(snap);
  EXPECT_EQ(snap.next_offset(), 13);
  PartitionState restored = PartitionState::Restore(snap);
  // A job that appears in the tail after the restore sorts after the rest.
  restored.Apply(13, EventFactory(JobId(1)).Submitted(T(1), T(3600)));
  std::vector<std::string> order;
  restored.ForEach([&](const events::JobState& s) { order.push_back(s.job_id()); });
  EXPECT_EQ(order, (std::vector<std::string>{JobId(5), JobId(2), JobId(8), JobId(1)}));
  EXPECT_EQ(restored.next_offset(), 14);
  EXPECT_EQ(restored.Find(JobId(2))->SerializeAsString(), p.Find(JobId(2))->SerializeAsString());
  v1::PartitionSnapshot again;
  PartitionState::Restore(snap).SaveTo(again);
  EXPECT_EQ(again.SerializeAsString(), snap.SerializeAsString()) << "restore + save is stable";
}

}  // namespace
}  // namespace jobsched::services
