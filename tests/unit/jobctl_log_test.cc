// jobctl's log tools on an in-memory log: reading a job's history from its
// partition, events / replay / why output, and tail's filters.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "events/memory_event_log.h"
#include "events/topics.h"
#include "services/jobctl/job_history.h"
#include "services/jobctl/log_commands.h"
#include "tests/support/wait.h"
#include "tests/unit/fold_test_util.h"

namespace jobsched::jobctl {
namespace {

using nlohmann::json;
using testing::EventFactory;
using testing::JobId;
using testing::Lifecycle;
using testing::T;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

class JobctlLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(log_.CreateTopic(topics_.job_events, 12).ok());
    auto p = log_.NewProducer("test");
    ASSERT_TRUE(p.ok());
    producer_ = std::move(p).value();
  }

  void Append(const std::vector<events::Envelope>& events) {
    std::vector<events::Record> records;
    for (const auto& e : events) {
      records.push_back({topics_.job_events, e.job_id(), events::Encode(e)});
    }
    ASSERT_TRUE(producer_->Append(std::move(records)).ok());
  }

  JobHistory History(const std::string& job_id, int* undecodable = nullptr) {
    auto h = ReadJobHistoryFromLog(log_, topics_, job_id, undecodable);
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return h.ok() ? h.value() : JobHistory{};
  }

  events::Topics topics_;
  events::MemoryEventLog log_;
  std::unique_ptr<events::Producer> producer_;
  EventFactory a_{JobId(1)};
  EventFactory b_{JobId(2)};
};

TEST_F(JobctlLogTest, HistoryIsTheJobsRecordsOfItsPartitionInOrder) {
  // Find a second job in A's partition, so filtering by key is exercised.
  const int32_t pa = events::PartitionForKey(a_.job_id(), 12);
  int n = 2;
  while (events::PartitionForKey(JobId(n), 12) != pa) ++n;
  EventFactory same_partition(JobId(n));
  auto life_a = Lifecycle(a_);
  auto life_b = Lifecycle(same_partition);
  for (size_t i = 0; i < life_a.size(); ++i) Append({life_a[i], life_b[i]});
  // A record of A's key that is not an envelope is skipped and counted.
  ASSERT_TRUE(producer_->Append({{topics_.job_events, a_.job_id(), "not protobuf"}}).ok());

  int undecodable = 0;
  JobHistory h = History(a_.job_id(), &undecodable);
  EXPECT_EQ(h.source, HistorySource::kLog);
  EXPECT_FALSE(h.truncated);
  EXPECT_EQ(undecodable, 1);
  ASSERT_EQ(h.events.size(), life_a.size());
  for (size_t i = 0; i < h.events.size(); ++i) {
    EXPECT_EQ(h.events[i].envelope.event_id(), life_a[i].event_id());
    EXPECT_EQ(h.events[i].partition, pa);
    EXPECT_EQ(h.events[i].offset, static_cast<int64_t>(2 * i));
  }

  // Retention drops the start: the history says so.
  ASSERT_TRUE(log_.Truncate({topics_.job_events, pa}, 4).ok());
  JobHistory cut = History(a_.job_id());
  EXPECT_TRUE(cut.truncated);
  ASSERT_EQ(cut.events.size(), life_a.size() - 2);
  EXPECT_EQ(cut.events.front().offset, 4);

  EXPECT_TRUE(History(JobId(999)).events.empty());
}

TEST_F(JobctlLogTest, ReadAllReadsEveryPartitionOrOnlyTheJobsAsked) {
  EventFactory c(JobId(3));
  Append(Lifecycle(a_));
  Append(Lifecycle(b_));
  Append(Lifecycle(c));
  auto all = ReadAllFromLog(log_, topics_);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all.value().size(), 33u);
  auto some = ReadAllFromLog(log_, topics_, {a_.job_id(), c.job_id()});
  ASSERT_TRUE(some.ok());
  ASSERT_EQ(some.value().size(), 22u);
  for (const auto& e : some.value()) EXPECT_NE(e.envelope.job_id(), b_.job_id());
}

TEST_F(JobctlLogTest, EventsPrintTheSourceAndOneLinePerEvent) {
  auto life = Lifecycle(a_);
  Append(life);
  JobHistory h = History(a_.job_id());
  const int32_t p = events::PartitionForKey(a_.job_id(), 12);

  std::ostringstream human;
  PrintEvents(h, topics_.job_events, /*json=*/false, human);
  auto lines = Lines(human.str());
  ASSERT_EQ(lines.size(), life.size() + 1);
  EXPECT_EQ(lines[0], "kafka job-events[" + std::to_string(p) + "] offsets 0..10 (11 events)");
  EXPECT_NE(lines[5].find("RunFailed"), std::string::npos) << lines[5];
  EXPECT_NE(lines[5].find(a_.RunId(1).substr(0, 8)), std::string::npos) << lines[5];
  EXPECT_NE(lines[5].find("HTTP 500"), std::string::npos) << lines[5];

  std::ostringstream machine;
  PrintEvents(h, topics_.job_events, /*json=*/true, machine);
  lines = Lines(machine.str());
  ASSERT_EQ(lines.size(), life.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    json j = json::parse(lines[i]);
    EXPECT_EQ(j["event_id"], life[i].event_id());
    EXPECT_EQ(j["job_id"], a_.job_id());
    EXPECT_EQ(j["offset"], static_cast<int64_t>(i));
    EXPECT_EQ(j["partition"], p);
    EXPECT_EQ(j["source"], "kafka");
  }
  EXPECT_EQ(json::parse(lines[4])["type"], "RunFailed");
  EXPECT_EQ(json::parse(lines[4])["run_failed"]["http_status"], 500);
}

TEST_F(JobctlLogTest, ReplayFoldsStepByStepUpToTheLimit) {
  auto life = Lifecycle(a_);
  // A redelivered RunStarted: the fold calls it a duplicate.
  life.insert(life.begin() + 4, life[3]);
  Append(life);
  JobHistory h = History(a_.job_id());

  std::ostringstream all;
  EXPECT_EQ(PrintReplay(h, topics_.job_events, {}, false, all), 12);
  const std::string text = all.str();
  EXPECT_NE(text.find("#3  " + FormatRfc3339(T(3)) + "  RunStarted  applied\n"
                      "    status RUNNING"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("#4  " + FormatRfc3339(T(3)) + "  RunStarted  duplicate"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("final state after 12 of 12 events (offset 11):\n    status SUCCEEDED"),
            std::string::npos)
      << text;

  // --until: the events that occurred at or before T(3) (submit .. RunFailed).
  std::ostringstream until;
  ReplayLimit by_time;
  by_time.until = T(3);
  EXPECT_EQ(PrintReplay(h, topics_.job_events, by_time, true, until), 6);
  auto lines = Lines(until.str());
  ASSERT_EQ(lines.size(), 7u);
  json failed = json::parse(lines[5]);
  EXPECT_EQ(failed["type"], "RunFailed");
  EXPECT_EQ(failed["outcome"], "applied");
  EXPECT_EQ(failed["state"]["runs"][0]["status"], "RUN_STATUS_FAILED");
  EXPECT_EQ(json::parse(lines[4])["outcome"], "duplicate");
  json final = json::parse(lines[6]);
  EXPECT_EQ(final["final"], true);
  EXPECT_EQ(final["events_folded"], 6);
  EXPECT_EQ(final["last_offset"], 5);
  EXPECT_EQ(final["state"]["status"], "JOB_STATUS_RUNNING");

  // --offset: up to and including offset 7 (RunDue attempt 2).
  std::ostringstream by_offset_out;
  ReplayLimit by_offset;
  by_offset.offset = 7;
  EXPECT_EQ(PrintReplay(h, topics_.job_events, by_offset, true, by_offset_out), 8);
  EXPECT_EQ(json::parse(Lines(by_offset_out.str()).back())["state"]["attempt"], 2);
}

TEST_F(JobctlLogTest, WhyExplainsTheSlotFromTheHistory) {
  Append(Lifecycle(a_));
  JobHistory h = History(a_.job_id());
  json fired = ExplainFromHistory(h, T(0), T(100));
  EXPECT_EQ(fired["verdict"], "fired") << fired.dump();
  EXPECT_EQ(fired["run_id"], a_.RunId(1));
  EXPECT_EQ(fired["status"], "SUCCEEDED");
  EXPECT_EQ(fired["attempts"], 2);

  json before = ExplainFromHistory(h, T(-60), T(100));
  EXPECT_EQ(before["verdict"], "before_start") << before.dump();

  std::ostringstream out;
  PrintWhy(fired, "kafka", false, out);
  EXPECT_EQ(Lines(out.str())[0], "at " + FormatRfc3339(T(0)) + ": fired");
  std::ostringstream machine;
  PrintWhy(fired, "kafka", true, machine);
  EXPECT_EQ(json::parse(machine.str())["source"], "kafka");
}

TEST_F(JobctlLogTest, TailPrintsOnlyNewMatchingEventsAndStopsAfterCount) {
  Append(Lifecycle(b_));  // before the tail starts: not shown
  TailOptions options;
  options.types = {"RunFailed", "JobSucceeded"};
  options.job_id = a_.job_id();
  options.count = 2;
  options.json = true;
  std::ostringstream out, err;
  std::atomic<bool> stop{false}, ready{false};
  Status result;
  std::thread tail([&] {
    result = Tail(log_, topics_, options, out, err, stop, [&] { ready.store(true); });
  });
  ASSERT_TRUE(testing::WaitFor([&] { return ready.load(); }, std::chrono::seconds(10)));
  Append(Lifecycle(b_, 100));  // another job: filtered out
  Append(Lifecycle(a_));
  tail.join();
  EXPECT_TRUE(result.ok()) << result.ToString();
  auto lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 2u) << out.str();
  EXPECT_EQ(json::parse(lines[0])["type"], "RunFailed");
  EXPECT_EQ(json::parse(lines[1])["type"], "JobSucceeded");
  EXPECT_EQ(json::parse(lines[1])["job_id"], a_.job_id());
}

TEST_F(JobctlLogTest, TailStopsWhenAsked) {
  TailOptions options;  // no count: runs until stopped
  std::ostringstream out, err;
  std::atomic<bool> stop{false}, ready{false};
  Status result = Status::Internal("not run");
  std::thread tail([&] {
    result = Tail(log_, topics_, options, out, err, stop, [&] { ready.store(true); });
  });
  ASSERT_TRUE(testing::WaitFor([&] { return ready.load(); }, std::chrono::seconds(10)));
  stop.store(true);
  tail.join();
  EXPECT_TRUE(result.ok()) << result.ToString();
  EXPECT_EQ(out.str(), "");
}

}  // namespace
}  // namespace jobsched::jobctl
