// Unit tests of the API's memory of its own appends (recent_appends.h): what
// read-your-writes answers from and how long it remembers.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "events/envelope.h"
#include "events/fold.h"
#include "events/ids.h"
#include "services/api/recent_appends.h"

namespace jobsched::api {
namespace {

using Steady = std::chrono::steady_clock;

const events::Origin kOrigin = {"test", *ParseRfc3339("2026-03-01T12:00:00Z"), "", ""};

std::shared_ptr<const events::Envelope> Submitted(const std::string& job_id,
                                                  int payload_bytes = 0) {
  events::Envelope e =
      events::MakeEnvelope(ids::EventId("JobSubmitted", job_id, ""), job_id, kOrigin);
  v1::JobSpec* spec = e.mutable_job_submitted()->mutable_spec();
  spec->set_name("job");
  spec->set_type(v1::JOB_TYPE_ECHO);
  spec->set_payload_json(std::string(static_cast<size_t>(payload_bytes), 'x'));
  return std::make_shared<const events::Envelope>(std::move(e));
}

std::shared_ptr<const events::Envelope> Cancel(const std::string& job_id) {
  events::Envelope e =
      events::MakeEnvelope(ids::EventId("CancelRequested", job_id, ""), job_id, kOrigin);
  e.mutable_cancel_requested()->set_reason("test");
  return std::make_shared<const events::Envelope>(std::move(e));
}

class FakeNow {
 public:
  Steady::time_point operator()() const { return *now_; }
  void Advance(std::chrono::milliseconds d) { *now_ += d; }

 private:
  std::shared_ptr<Steady::time_point> now_ = std::make_shared<Steady::time_point>();
};

TEST(RecentAppends, RemembersAJobsAppendsInOffsetOrder) {
  RecentAppends recent;
  const std::string id = RandomId();
  recent.Record(Cancel(id), 3, 12);  // acknowledgements may come in any order
  recent.Record(Submitted(id), 3, 10);
  recent.Record(Submitted(id), 3, 10);  // the same acknowledgement twice is one append
  std::optional<RecentJob> job = recent.Find(id);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->partition, 3);
  ASSERT_EQ(job->events.size(), 2u);
  EXPECT_EQ(job->events[0].offset, 10);
  EXPECT_EQ(job->events[1].offset, 12);
  EXPECT_TRUE(job->has_submission);
  EXPECT_EQ(job->last_offset(), 12);
  EXPECT_FALSE(recent.Find(RandomId()).has_value());
}

TEST(RecentAppends, ForgetsAfterTheTtlAndBeyondItsBounds) {
  FakeNow now;
  RecentAppends recent({.max_jobs = 2, .max_bytes = 10'000, .ttl = std::chrono::seconds(60)}, now);
  const std::string a = RandomId(), b = RandomId(), c = RandomId();
  recent.Record(Submitted(a), 0, 1);
  now.Advance(std::chrono::seconds(30));
  recent.Record(Submitted(b), 0, 2);
  now.Advance(std::chrono::seconds(31));
  EXPECT_FALSE(recent.Find(a).has_value());  // 61 s without an append
  EXPECT_TRUE(recent.Find(b).has_value());

  recent.Record(Submitted(a), 0, 3);
  recent.Record(Submitted(c), 0, 4);  // three jobs: the least recently appended goes
  EXPECT_FALSE(recent.Find(b).has_value());
  EXPECT_EQ(recent.size(), 2u);

  recent.Record(Submitted(RandomId(), 20'000), 0, 5);  // over max_bytes on its own
  EXPECT_EQ(recent.size(), 0u);
}

TEST(RecentAppends, KeepsTheLatestEventsOfAJob) {
  RecentAppends recent({.max_events_per_job = 2});
  const std::string id = RandomId();
  recent.Record(Submitted(id), 1, 0);
  recent.Record(Cancel(id), 1, 1);
  recent.Record(Cancel(id), 1, 2);
  std::optional<RecentJob> job = recent.Find(id);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->events.size(), 2u);
  EXPECT_EQ(job->events[0].offset, 1);
  EXPECT_FALSE(job->has_submission);  // its state can no longer be folded from nothing
  EXPECT_FALSE(UnprojectedState(std::nullopt, 0, *job).has_value());
}

TEST(RecentAppends, UnprojectedStateAppliesWhatTheProjectionLacks) {
  RecentAppends recent;
  const std::string id = RandomId();
  recent.Record(Submitted(id), 2, 40);
  recent.Record(Cancel(id), 2, 41);
  RecentJob job = *recent.Find(id);

  // No row yet: the fold of the appended events.
  std::optional<v1::JobState> fresh = UnprojectedState(std::nullopt, 0, job);
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(fresh->status(), v1::JOB_STATUS_PENDING);
  EXPECT_TRUE(fresh->cancel_requested());

  // A row as of offset 41 (the submission projected, the cancel not).
  v1::JobState row;
  ASSERT_TRUE(events::Apply(row, *job.events[0].event).applied());
  EXPECT_FALSE(ReflectsAppends(row, 41, job));
  std::optional<v1::JobState> merged = UnprojectedState(row, 41, job);
  ASSERT_TRUE(merged.has_value());
  EXPECT_TRUE(merged->cancel_requested());

  // A row that already shows the cancel (projected under another name, say):
  // nothing left to wait for.
  EXPECT_TRUE(ReflectsAppends(*merged, 0, job));
  EXPECT_TRUE(ReflectsAppends(row, 42, job));  // nothing at or past offset 42
}

TEST(InFlightKeys, LaterRequestsResumeWhenTheFirstFinishes) {
  InFlightKeys keys;
  std::vector<int> resumed;
  EXPECT_TRUE(keys.Begin("job-1", [] { FAIL() << "the first request does not wait"; }));
  EXPECT_FALSE(keys.Begin("job-1", [&] { resumed.push_back(2); }));
  EXPECT_FALSE(keys.Begin("job-1", [&] { resumed.push_back(3); }));
  EXPECT_TRUE(keys.Begin("job-2", [] {}));  // other keys do not wait
  EXPECT_TRUE(resumed.empty());
  keys.Finish("job-1");
  EXPECT_EQ(resumed, (std::vector<int>{2, 3}));
  EXPECT_TRUE(keys.Begin("job-1", [] {}));  // free again
}

}  // namespace
}  // namespace jobsched::api
