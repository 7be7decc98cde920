// Another team's consumer, as the README shows it: the Python example
// (tests/consumers/python/jobsched_consumer.py, Debian's python3-protobuf and
// python3-confluent-kafka, classes generated from schemas/ at build time)
// subscribes to job-events on the dev broker with its own consumer group and
// must decode exactly the envelopes this test appends with jobsched's own
// encoder: ids, types and times, a repeat dropped by event_id, an event of a
// newer schema skipped, and its committed offsets honoured by the next run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "events/envelope.h"
#include "events/ids.h"
#include "events/kafka_event_log.h"
#include "events/time.h"
#include "tests/support/devbroker.h"
#include "tests/support/process.h"

namespace jobsched {
namespace {

using namespace std::chrono_literals;
using jobsched::testing::ChildOptions;
using jobsched::testing::ChildProcess;
using jobsched::testing::MakeTempDir;
using jobsched::testing::ReadFile;
using jobsched::testing::ScopedDevBroker;
using jobsched::testing::SourcePath;
using ::testing::HasSubstr;

// The consumer's topic: another team's view through JOBSCHED_TOPIC_PREFIX.
constexpr char kPrefix[] = "team-a.";
constexpr char kGroup[] = "team-a-audit";

template <typename T>
T Must(Result<T> result) {
  if (!result.ok()) throw std::runtime_error(result.status().ToString());
  return std::move(result).value();
}

struct Expected {
  std::string event_id;
  std::string job_id;
  std::string type;
  std::string occurred_at;  // RFC 3339, as Protobuf's JSON prints it
};

// Builds events of two jobs the way the services do (MakeEnvelope, derived
// ids) and remembers what a consumer must print for each.
class Events {
 public:
  explicit Events(TimePoint start) : at_(start) {}

  events::Envelope Next(const std::string& type, const std::string& job_id,
                        const std::string& cause) {
    at_ += 25ms;
    events::Envelope e = events::MakeEnvelope(ids::EventId(type, job_id, cause), job_id,
                                              {"test/python-consumer", at_, job_id, ""});
    expected_.push_back({e.event_id(), job_id, type, FormatRfc3339(at_)});
    return e;
  }
  const std::vector<Expected>& expected() const { return expected_; }

 private:
  TimePoint at_;
  std::vector<Expected> expected_;
};

events::Record ToRecord(const events::Envelope& e, std::string value) {
  events::Record r;
  r.topic = std::string(kPrefix) + "job-events";
  r.key = e.job_id();
  r.value = std::move(value);
  return r;
}

events::Record ToRecord(const events::Envelope& e) { return ToRecord(e, events::Encode(e)); }

// An envelope of a newer schema: its event sits under a field number this
// version does not know (200), so the oneof is empty for every reader of v1.
events::Record NewerSchemaRecord(const std::string& job_id) {
  events::Envelope headers = events::MakeEnvelope(ids::EventId("FromTheFuture", job_id, "1"),
                                                  job_id, {"test/python-consumer",
                                                           FromUnixMillis(0), "", ""});
  // Tag (200 << 3 | 2) as a varint, then a 2-byte message {1: 1}.
  const std::string unknown_event = std::string("\xC2\x0C\x02\x08\x01", 5);
  return ToRecord(headers, events::Encode(headers) + unknown_event);
}

class PythonConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("python-consumer-");
    broker_ = std::make_unique<ScopedDevBroker>(
        testing::TopicList{{std::string(kPrefix) + "job-events", 12}});
    events::KafkaConfig config;
    config.brokers = broker_->bootstrap();
    log_ = Must(events::KafkaEventLog::Make(config));
    producer_ = Must(log_->NewProducer("python-consumer-test"));
  }

  void TearDown() override {
    // Keep the consumer's logs of a failed run for a look.
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  void Append(std::vector<events::Record> records) {
    Status s = producer_->Append(std::move(records));
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // Runs the consumer until it printed `max_events` events; returns its log
  // (stdout and stderr).
  std::string RunConsumer(int max_events, bool json, const std::string& name) {
    ChildOptions options;
    options.log_path = dir_ + "/" + name + ".log";
    options.env = {{"PYTHONPATH", JOBSCHED_PYTHON_CLASSES_DIR},
                   {"JOBSCHED_TOPIC_PREFIX", kPrefix},
                   {"PYTHONDONTWRITEBYTECODE", "1"}};
    std::vector<std::string> args = {SourcePath("tests/consumers/python/jobsched_consumer.py"),
                                     "--bootstrap", broker_->bootstrap(), "--group", kGroup,
                                     "--max-events", std::to_string(max_events),
                                     "--timeout", "60"};
    if (json) args.push_back("--json");
    ChildProcess consumer(JOBSCHED_PYTHON3, args, options);
    auto code = consumer.WaitExit(90s);
    const std::string out = ReadFile(options.log_path);
    EXPECT_EQ(code, std::optional<int>(0)) << out;
    return out;
  }

  std::string dir_;
  std::unique_ptr<ScopedDevBroker> broker_;
  std::unique_ptr<events::KafkaEventLog> log_;
  std::unique_ptr<events::Producer> producer_;
};

// The JSON objects among the consumer's lines (its own log lines go to stderr
// with a "jobsched_consumer:" prefix).
std::vector<nlohmann::json> JsonLines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '{') lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

TEST_F(PythonConsumerTest, DecodesExactlyTheAppendedEventsAndResumesFromItsGroup) {
  const std::string job_a = ids::JobIdForIdempotencyKey("python-consumer-a");
  const std::string job_b = ids::JobIdForIdempotencyKey("python-consumer-b");
  const std::string run_a = ids::RunId(job_a, ids::OnceFireId(job_a), 1);
  Events ev(*ParseRfc3339("2026-11-28T09:00:00Z"));

  events::Envelope a_submitted = ev.Next("JobSubmitted", job_a, "");
  a_submitted.mutable_job_submitted()->mutable_spec()->set_name("nightly report");
  a_submitted.mutable_job_submitted()->mutable_spec()->set_type(v1::JOB_TYPE_ECHO);
  events::Envelope a_due = ev.Next("RunDue", job_a, run_a);
  a_due.mutable_run_due()->set_run_id(run_a);
  a_due.mutable_run_due()->set_attempt(1);
  events::Envelope a_started = ev.Next("RunStarted", job_a, run_a);
  a_started.mutable_run_started()->set_run_id(run_a);
  events::Envelope a_succeeded = ev.Next("RunSucceeded", job_a, run_a);
  a_succeeded.mutable_run_succeeded()->set_run_id(run_a);
  a_succeeded.mutable_run_succeeded()->set_duration_ms(42);
  events::Envelope b_submitted = ev.Next("JobSubmitted", job_b, "");
  b_submitted.mutable_job_submitted()->mutable_spec()->set_name("resize");
  events::Envelope b_cancel = ev.Next("CancelRequested", job_b, "");
  b_cancel.mutable_cancel_requested()->set_reason("user");
  events::Envelope b_canceled = ev.Next("JobCanceled", job_b, "");
  b_canceled.mutable_job_canceled()->set_reason("user");
  const std::vector<Expected> first = ev.expected();

  // In job A's partition: a repeat of RunDue (a redo after a crash) and an
  // event of a newer schema, both before A's last event, so the consumer must
  // get past them to print all seven.
  Append({ToRecord(a_submitted), ToRecord(a_due), ToRecord(a_due), NewerSchemaRecord(job_a),
          ToRecord(a_started), ToRecord(a_succeeded), ToRecord(b_submitted),
          ToRecord(b_cancel), ToRecord(b_canceled)});

  const std::string out = RunConsumer(static_cast<int>(first.size()), /*json=*/true, "first");
  std::vector<nlohmann::json> lines = JsonLines(out);
  ASSERT_EQ(lines.size(), first.size()) << out;
  std::map<std::string, std::vector<std::string>> types_by_job;
  std::map<std::string, nlohmann::json> by_id;
  for (const auto& line : lines) {
    types_by_job[line.at("job_id")].push_back(line.at("event_type"));
    EXPECT_TRUE(by_id.emplace(line.at("event_id"), line).second) << "repeated: " << line;
    EXPECT_EQ(line.at("key"), line.at("job_id"));
    EXPECT_EQ(line.at("topic"), std::string(kPrefix) + "job-events");
    EXPECT_EQ(line.at("producer"), "test/python-consumer");
  }
  for (const Expected& e : first) {
    ASSERT_TRUE(by_id.count(e.event_id)) << e.type << " " << e.event_id << " missing:\n" << out;
    const nlohmann::json& line = by_id.at(e.event_id);
    EXPECT_EQ(line.at("job_id"), e.job_id);
    EXPECT_EQ(line.at("event_type"), e.type);
    EXPECT_EQ(line.at("occurred_at"), e.occurred_at);
  }
  // Per job, in the order appended (one job's events share a partition).
  EXPECT_EQ(types_by_job[job_a],
            (std::vector<std::string>{"JobSubmitted", "RunDue", "RunStarted", "RunSucceeded"}));
  EXPECT_EQ(types_by_job[job_b],
            (std::vector<std::string>{"JobSubmitted", "CancelRequested", "JobCanceled"}));
  // The payloads are decoded too, with the .proto field names.
  EXPECT_EQ(by_id.at(a_submitted.event_id()).at("event").at("spec").at("name"), "nightly report");
  EXPECT_EQ(by_id.at(a_submitted.event_id()).at("event").at("spec").at("type"), "JOB_TYPE_ECHO");
  EXPECT_EQ(by_id.at(a_due.event_id()).at("event").at("run_id"), run_a);
  EXPECT_EQ(by_id.at(a_succeeded.event_id()).at("event").at("duration_ms"), "42");
  // The newer event was skipped with a log line naming it, not printed.
  EXPECT_THAT(out, HasSubstr("skipped event " + ids::EventId("FromTheFuture", job_a, "1")));

  // The group committed what it printed: a second run of the same group sees
  // only what came after (here in the plain one-line format).
  events::Envelope a_done = ev.Next("JobSucceeded", job_a, run_a);
  a_done.mutable_job_succeeded()->set_run_id(run_a);
  Append({ToRecord(a_done)});
  const std::string again = RunConsumer(1, /*json=*/false, "second");
  EXPECT_THAT(again, HasSubstr(FormatRfc3339(FromProto(a_done.occurred_at())) + "  " + job_a +
                               "  JobSucceeded"));
  EXPECT_THAT(again, HasSubstr(a_done.event_id()));
  for (const Expected& e : first) EXPECT_THAT(again, ::testing::Not(HasSubstr(e.event_id)));
}

}  // namespace
}  // namespace jobsched
