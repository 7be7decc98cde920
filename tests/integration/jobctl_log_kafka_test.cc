// jobctl events / replay / why / tail as a user runs them: the real binary
// against the dev broker, and against real PostgreSQL's job_logs when Kafka
// cannot answer (the archive fallback).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sstream>

#include "events/kafka_event_log.h"
#include "events/memory_event_log.h"
#include "projections/migrations.h"
#include "tests/support/devbroker.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"
#include "services/jobctl/job_history.h"
#include "tests/unit/fold_test_util.h"

namespace jobsched::testing {
namespace {

using nlohmann::json;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The lines of jobctl's output that are JSON objects (stderr shares the file).
std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> out;
  for (const auto& line : Lines(text)) {
    if (!line.empty() && line.front() == '{') out.push_back(json::parse(line));
  }
  return out;
}

std::string Hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out = "\\x";
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

class JobctlLogKafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("jobctl-log-");
    auto log = events::KafkaEventLog::Make({broker_.bootstrap(), {}});
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
    auto producer = log_->NewProducer("jobctl-log-test");
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    producer_ = std::move(producer).value();
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    db_ = ScopedPostgres::Shared().CreateDatabase(DatabaseNameFor("jobctl_log_", info->name()));
    ASSERT_TRUE(projections::ApplyMigrations(db_).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Append(const std::vector<events::Envelope>& events) {
    std::vector<events::Record> records;
    for (const auto& e : events) records.push_back({"job-events", e.job_id(), events::Encode(e)});
    ASSERT_TRUE(producer_->Append(std::move(records)).ok());
  }

  // job_logs rows as the projector writes them (the columns jobctl reads).
  void Archive(const std::vector<events::Envelope>& events, int partition) {
    pqxx::connection c(db_);
    pqxx::work tx(c);
    int64_t offset = 100;
    for (const auto& e : events) {
      tx.exec_params(
          "INSERT INTO job_logs (event_id, job_id, ts, level, event_type, outcome, message,"
          " producer, fields, topic, kafka_partition, kafka_offset, envelope)"
          " VALUES ($1::uuid, $2::uuid, $3::timestamptz, 'info', $4, 'applied', 'm', $5,"
          " $6::jsonb, 'job-events', $7, $8, $9::bytea)",
          e.event_id(), e.job_id(), FormatRfc3339(FromProto(e.occurred_at())),
          std::string(events::EventType(e)), e.producer(), events::ToJson(e), partition,
          offset++, Hex(events::Encode(e)));
    }
    tx.commit();
  }

  // Runs jobctl to completion; its stdout and stderr land in `output`.
  int Jobctl(const std::vector<std::string>& args, std::string* output,
             const std::string& brokers = "") {
    const std::string log = dir_ + "/out-" + std::to_string(++runs_);
    ChildOptions options;
    options.env = {{"KAFKA_BROKERS", brokers.empty() ? broker_.bootstrap() : brokers},
                   {"DATABASE_URL", db_}};
    options.log_path = log;
    ChildProcess child(BinPath("jobctl"), args, options);
    auto code = child.WaitExit(std::chrono::seconds(90));
    *output = ReadFile(log);
    return code.value_or(-1);
  }

  ScopedDevBroker broker_;
  std::unique_ptr<events::EventLog> log_;
  std::unique_ptr<events::Producer> producer_;
  std::string db_;
  std::string dir_;
  int runs_ = 0;
  EventFactory a_{JobId(41)};
  EventFactory b_{JobId(42)};
};

TEST_F(JobctlLogKafkaTest, EventsReadTheJobsPartitionOfTheRealBroker) {
  // Several jobs, so the job's partition holds only its own records only
  // if the producer's partitioner and jobctl's agree.
  for (int n = 50; n < 60; ++n) Append(Lifecycle(EventFactory(JobId(n))));
  auto life = Lifecycle(a_);
  Append(life);
  const int32_t p = events::PartitionForKey(a_.job_id(), 12);

  std::string out;
  ASSERT_EQ(Jobctl({"events", a_.job_id()}, &out), 0) << out;
  auto lines = Lines(out);
  ASSERT_GE(lines.size(), 12u) << out;
  EXPECT_EQ(lines[0].rfind("kafka job-events[" + std::to_string(p) + "] offsets ", 0), 0u) << out;
  EXPECT_NE(lines[0].find("(11 events)"), std::string::npos) << out;

  ASSERT_EQ(Jobctl({"events", a_.job_id(), "--json"}, &out), 0) << out;
  auto events = JsonLines(out);
  ASSERT_EQ(events.size(), life.size()) << out;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["event_id"], life[i].event_id());
    EXPECT_EQ(events[i]["partition"], p);
    EXPECT_EQ(events[i]["source"], "kafka");
  }
  EXPECT_LT(events.front()["offset"].get<int64_t>(), events.back()["offset"].get<int64_t>());

  // An unknown job: exit 1 and says so.
  ASSERT_EQ(Jobctl({"events", JobId(999)}, &out), 1) << out;
  EXPECT_NE(out.find("not found"), std::string::npos) << out;
}

TEST_F(JobctlLogKafkaTest, ArchiveAnswersWhenKafkaCannot) {
  auto life = Lifecycle(b_);
  Archive(life, 7);

  // Kafka holds no event of the job (e.g. a fresh log): the archive answers.
  std::string out;
  ASSERT_EQ(Jobctl({"events", b_.job_id()}, &out), 0) << out;
  auto lines = Lines(out);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "archive (PostgreSQL job_logs): Kafka's log holds no events of this job "
                      "(11 events)")
      << out;
  ASSERT_EQ(Jobctl({"events", b_.job_id(), "--json"}, &out), 0) << out;
  auto events = JsonLines(out);
  ASSERT_EQ(events.size(), life.size()) << out;
  EXPECT_EQ(events[0]["source"], "archive");
  EXPECT_EQ(events[0]["partition"], 7);
  EXPECT_EQ(events[0]["offset"], 100);
  EXPECT_EQ(events[10]["type"], "JobSucceeded");

  // Kafka unreachable: the archive answers, and replay works on it.
  const std::string nowhere = "127.0.0.1:" + std::to_string(FreeTcpPort());
  ASSERT_EQ(Jobctl({"replay", b_.job_id(), "--offset", "104", "--json"}, &out, nowhere), 0)
      << out;
  events = JsonLines(out);
  ASSERT_EQ(events.size(), 6u) << out;
  EXPECT_EQ(events.back()["final"], true);
  EXPECT_EQ(events.back()["last_offset"], 104);
  EXPECT_EQ(events[4]["type"], "RunFailed");
}

// Retention dropped the job's start from its partition (simulated on an
// in-memory log, as the dev broker's retention needs megabytes): the archive
// answers, and says why; without the archive, the truncated log answers with
// a warning.
TEST_F(JobctlLogKafkaTest, ATruncatedLogFallsBackToTheArchive) {
  events::MemoryEventLog memory;
  events::Topics topics;
  ASSERT_TRUE(memory.CreateTopic(topics.job_events, 12).ok());
  auto producer = memory.NewProducer("test");
  ASSERT_TRUE(producer.ok());
  auto life = Lifecycle(a_);
  std::vector<events::Record> records;
  for (const auto& e : life) records.push_back({topics.job_events, e.job_id(), events::Encode(e)});
  ASSERT_TRUE(producer.value()->Append(std::move(records)).ok());
  const int32_t p = events::PartitionForKey(a_.job_id(), 12);
  ASSERT_TRUE(memory.Truncate({topics.job_events, p}, 3).ok());
  Archive(life, p);

  auto h = jobctl::ReadJobHistory(memory, topics, db_, a_.job_id());
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h.value().source, jobctl::HistorySource::kArchive);
  EXPECT_EQ(h.value().note, "Kafka's log no longer holds this job's start");
  ASSERT_EQ(h.value().events.size(), life.size());
  EXPECT_TRUE(h.value().events.front().envelope.has_job_submitted());

  // A job whose start is still in the log: the log answers, truncated or not.
  EventFactory later(JobId(77));
  while (events::PartitionForKey(later.job_id(), 12) != p) later = EventFactory(JobId(
      std::stoi(later.job_id().substr(24)) + 1));
  std::vector<events::Record> more;
  for (const auto& e : Lifecycle(later)) {
    more.push_back({topics.job_events, e.job_id(), events::Encode(e)});
  }
  ASSERT_TRUE(producer.value()->Append(std::move(more)).ok());
  auto fresh = jobctl::ReadJobHistory(memory, topics, db_, later.job_id());
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh.value().source, jobctl::HistorySource::kLog);
  EXPECT_EQ(fresh.value().events.size(), 11u);

  // No archive reachable: the truncated log is the answer, with a warning.
  auto cut = jobctl::ReadJobHistory(memory, topics,
                                    "postgresql://postgres@127.0.0.1:" +
                                        std::to_string(FreeTcpPort()) + "/none",
                                    a_.job_id());
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut.value().source, jobctl::HistorySource::kLog);
  EXPECT_TRUE(cut.value().truncated);
  EXPECT_EQ(cut.value().events.size(), life.size() - 3);
  EXPECT_NE(cut.value().note.find("the archive did not answer"), std::string::npos)
      << cut.value().note;
}

TEST_F(JobctlLogKafkaTest, ReplayAndWhyOnTheLog) {
  Append(Lifecycle(a_));
  std::string out;
  ASSERT_EQ(Jobctl({"replay", a_.job_id(), "--until", FormatRfc3339(T(3))}, &out), 0) << out;
  EXPECT_NE(out.find("RunFailed  applied\n    status RUNNING"), std::string::npos) << out;
  EXPECT_NE(out.find("final state after 5 of 11 events"), std::string::npos) << out;

  ASSERT_EQ(Jobctl({"why", a_.job_id(), "--at", FormatRfc3339(T(0)), "--json"}, &out), 0) << out;
  auto answers = JsonLines(out);
  ASSERT_EQ(answers.size(), 1u) << out;
  EXPECT_EQ(answers[0]["verdict"], "fired");
  EXPECT_EQ(answers[0]["run_id"], a_.RunId(1));
  EXPECT_EQ(answers[0]["status"], "SUCCEEDED");
  EXPECT_EQ(answers[0]["source"], "kafka");

  ASSERT_EQ(Jobctl({"replay", a_.job_id(), "--until", "yesterday"}, &out), 2) << out;
}

TEST_F(JobctlLogKafkaTest, TailStreamsNewMatchingEventsWithoutAGroup) {
  Append(Lifecycle(b_));  // already there: tail starts at the end
  const std::string log = dir_ + "/tail";
  ChildOptions options;
  options.env = {{"KAFKA_BROKERS", broker_.bootstrap()}};
  options.log_path = log;
  ChildProcess tail(BinPath("jobctl"),
                    {"tail", "--type", "RunFailed,JobSucceeded", "--job", a_.job_id(), "--count",
                     "2", "--json"},
                    options);
  ASSERT_TRUE(WaitFor([&] { return ReadFile(log).find("tailing") != std::string::npos; },
                      std::chrono::seconds(30)))
      << ReadFile(log);
  Append(Lifecycle(b_, 100));
  Append(Lifecycle(a_));
  auto code = tail.WaitExit(std::chrono::seconds(30));
  ASSERT_EQ(code.value_or(-1), 0) << ReadFile(log);
  auto events = JsonLines(ReadFile(log));
  ASSERT_EQ(events.size(), 2u) << ReadFile(log);
  EXPECT_EQ(events[0]["type"], "RunFailed");
  EXPECT_EQ(events[1]["type"], "JobSucceeded");
  EXPECT_EQ(events[1]["job_id"], a_.job_id());

  // A tail without --count stops cleanly on SIGTERM.
  const std::string log2 = dir_ + "/tail2";
  options.log_path = log2;
  ChildProcess endless(BinPath("jobctl"), {"tail"}, options);
  ASSERT_TRUE(WaitFor([&] { return ReadFile(log2).find("tailing") != std::string::npos; },
                      std::chrono::seconds(30)));
  Append({a_.CancelRequested(T(50))});
  ASSERT_TRUE(WaitFor([&] { return ReadFile(log2).find("CancelRequested") != std::string::npos; },
                      std::chrono::seconds(30)))
      << ReadFile(log2);
  endless.Signal(SIGTERM);
  EXPECT_EQ(endless.WaitExit(std::chrono::seconds(30)).value_or(-1), 0) << ReadFile(log2);
}

}  // namespace
}  // namespace jobsched::testing
