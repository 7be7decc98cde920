#include "services/jobctl/job_history.h"

#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <utility>

#include "events/ids.h"
#include "events/memory_event_log.h"
#include "services/common/config.h"
#include "services/jobctl/context.h"

namespace jobsched::jobctl {
namespace {

using Clock = std::chrono::steady_clock;

// Bounds one read of the log: a partition that stops answering must not hang
// the command; the log is then "unreachable" and the archive is asked.
constexpr std::chrono::milliseconds kWatermarkTimeout{10'000};
constexpr std::chrono::milliseconds kReadTimeout{60'000};
constexpr size_t kPollBatch = 2000;

// Every partition starts at its oldest retained record: no group, no
// committed offsets involved.
class FromBeginning : public events::RebalanceListener {
 public:
  std::map<events::TopicPartition, int64_t> OnAssigned(
      const std::vector<events::TopicPartition>& parts) override {
    std::map<events::TopicPartition, int64_t> starts;
    for (const auto& tp : parts) starts[tp] = events::kOffsetBeginning;
    return starts;
  }
  void OnRevoked(const std::vector<events::TopicPartition>&) override {}
};

// Reads `parts` from their low to their high watermark (captured first),
// handing each record to `take`. Returns the low watermarks.
Result<std::map<events::TopicPartition, events::Watermarks>> ReadPartitions(
    events::EventLog& log, const std::string& topic,
    const std::vector<events::TopicPartition>& parts,
    const std::function<void(events::Record&)>& take) {
  FromBeginning listener;
  events::ConsumerOptions options;
  options.topics = {topic};
  options.partitions = parts;
  options.listener = &listener;
  options.client_id = "jobctl-history";
  auto consumer = log.NewConsumer(options);
  if (!consumer.ok()) return consumer.status();
  events::Consumer& c = *consumer.value();

  auto marks = c.QueryWatermarks(parts, kWatermarkTimeout);
  if (!marks.ok()) {
    c.Close();
    return Status::Unavailable("cannot read the watermarks of " + topic + ": " +
                               marks.status().message());
  }
  // Next offset still to see, per partition that has records to read.
  std::map<events::TopicPartition, int64_t> pending;
  for (const auto& [tp, w] : marks.value()) {
    if (w.high > w.low) pending[tp] = w.low;
  }
  const auto deadline = Clock::now() + kReadTimeout;
  while (!pending.empty()) {
    if (Clock::now() >= deadline) {
      c.Close();
      std::string which;
      for (const auto& [tp, next] : pending) {
        which += (which.empty() ? "" : ", ") + events::ToString(tp) + " at " +
                 std::to_string(next) + " of " + std::to_string(marks.value().at(tp).high);
      }
      return Status::Timeout("reading " + topic + " stalled: " + which);
    }
    for (events::Record& r : c.Poll(kPollBatch, std::chrono::milliseconds(500))) {
      const events::TopicPartition tp{r.topic, r.partition};
      auto it = pending.find(tp);
      if (it == pending.end()) continue;  // past the captured high watermark
      const int64_t high = marks.value().at(tp).high;
      if (r.offset >= high) {
        pending.erase(it);
        continue;
      }
      it->second = r.offset + 1;
      take(r);
      if (it->second >= high) pending.erase(it);
    }
  }
  c.Close();
  return std::move(marks).value();
}

// Decodes a record of `job-events`; false (and counts it) when the bytes are
// not an envelope.
bool Decode(const events::Record& r, RecordedEvent& out, int* undecodable) {
  auto e = events::DecodeEnvelope(r.value);
  if (!e.ok()) {
    if (undecodable != nullptr) ++*undecodable;
    return false;
  }
  out.envelope = std::move(e).value();
  out.partition = r.partition;
  out.offset = r.offset;
  out.timestamp_ms = r.timestamp_ms;
  return true;
}

// The first event a job's history can start with: without it, the start of
// the history is missing.
bool StartsHistory(const events::Envelope& e) {
  return e.has_job_submitted() || e.has_workflow_submitted();
}

// libpq's messages span lines ("...failed\n\tIs the server running...\n").
std::string OneLine(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\t' || c == '\r' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace

const char* ToString(HistorySource source) {
  return source == HistorySource::kLog ? "kafka" : "archive";
}

Result<JobHistory> ReadJobHistoryFromLog(events::EventLog& log, const events::Topics& topics,
                                         const std::string& job_id, int* undecodable) {
  if (job_id.empty()) return Status::Invalid("empty job id");
  auto count = log.PartitionCount(topics.job_events);
  if (!count.ok()) {
    return Status::Unavailable("cannot read the partitions of " + topics.job_events + ": " +
                               count.status().message());
  }
  // The producers' partitioner (murmur2, as in Kafka's Java client): the job's
  // whole history is in this one partition.
  const events::TopicPartition tp{topics.job_events,
                                  events::PartitionForKey(job_id, count.value())};
  JobHistory history;
  auto marks = ReadPartitions(log, topics.job_events, {tp}, [&](events::Record& r) {
    if (r.key != job_id) return;
    RecordedEvent e;
    if (Decode(r, e, undecodable)) history.events.push_back(std::move(e));
  });
  if (!marks.ok()) return marks.status();
  history.truncated = marks.value().at(tp).low > 0;
  return history;
}

Result<std::vector<RecordedEvent>> ReadAllFromLog(events::EventLog& log,
                                                  const events::Topics& topics,
                                                  const std::vector<std::string>& job_ids) {
  auto count = log.PartitionCount(topics.job_events);
  if (!count.ok()) {
    return Status::Unavailable("cannot read the partitions of " + topics.job_events + ": " +
                               count.status().message());
  }
  const std::set<std::string> wanted(job_ids.begin(), job_ids.end());
  std::vector<events::TopicPartition> parts;
  if (wanted.empty()) {
    for (int32_t p = 0; p < count.value(); ++p) parts.push_back({topics.job_events, p});
  } else {
    std::set<int32_t> ps;
    for (const auto& id : wanted) ps.insert(events::PartitionForKey(id, count.value()));
    for (int32_t p : ps) parts.push_back({topics.job_events, p});
  }
  // Records arrive interleaved across partitions; collect per partition so
  // the answer is grouped by partition, each in offset order.
  std::map<int32_t, std::vector<RecordedEvent>> by_partition;
  auto marks = ReadPartitions(log, topics.job_events, parts, [&](events::Record& r) {
    if (!wanted.empty() && wanted.count(r.key) == 0) return;
    RecordedEvent e;
    if (Decode(r, e, nullptr)) by_partition[r.partition].push_back(std::move(e));
  });
  if (!marks.ok()) return marks.status();
  std::vector<RecordedEvent> out;
  for (auto& [partition, recorded] : by_partition) {
    for (auto& e : recorded) out.push_back(std::move(e));
  }
  return out;
}

Result<JobHistory> ReadJobHistoryFromArchive(const std::string& database_url,
                                             const std::string& job_id) {
  // job_logs.job_id is a uuid column: anything else cannot be there, and
  // would be an SQL error rather than "not found".
  if (!LooksLikeUuid(job_id)) {
    JobHistory none;
    none.source = HistorySource::kArchive;
    return none;
  }
  try {
    pqxx::connection conn(database_url);
    pqxx::read_transaction tx(conn);
    pqxx::result rows = tx.exec_params(
        "SELECT kafka_partition, kafka_offset,"
        " (extract(epoch FROM ts) * 1000)::bigint, envelope"
        " FROM job_logs WHERE job_id = $1::uuid ORDER BY kafka_partition, kafka_offset",
        job_id);
    JobHistory history;
    history.source = HistorySource::kArchive;
    for (const auto& row : rows) {
      pqxx::binarystring bytes(row[3]);
      auto e = events::DecodeEnvelope(std::string_view(bytes.get(), bytes.size()));
      if (!e.ok()) {
        return Status::Internal("job_logs row " + row[0].as<std::string>() + "/" +
                                row[1].as<std::string>() + ": " + e.status().message());
      }
      RecordedEvent r;
      r.envelope = std::move(e).value();
      r.partition = row[0].as<int32_t>();
      r.offset = row[1].as<int64_t>();
      r.timestamp_ms = row[2].as<int64_t>();  // the archive keeps occurred_at, not CreateTime
      history.events.push_back(std::move(r));
    }
    return history;
  } catch (const pqxx::broken_connection& e) {
    return Status::Unavailable("PostgreSQL: " + OneLine(e.what()));
  } catch (const std::exception& e) {
    return Status::Internal("PostgreSQL: " + OneLine(e.what()));
  }
}

namespace {

// The log's answer (or why there is none) completed by the archive.
Result<JobHistory> PreferLog(std::optional<JobHistory> from_log, const Status& log_status,
                             const std::string& database_url, const std::string& job_id) {
  // The log is complete for this job when it holds the job's first event.
  if (from_log && !from_log->events.empty() &&
      (!from_log->truncated || StartsHistory(from_log->events.front().envelope))) {
    return std::move(*from_log);
  }
  std::string why_archive;
  if (!from_log) {
    why_archive = "Kafka did not answer (" + log_status.message() + ")";
  } else if (from_log->events.empty()) {
    why_archive = from_log->truncated ? "Kafka's log no longer holds this job's events"
                                      : "Kafka's log holds no events of this job";
  } else {
    why_archive = "Kafka's log no longer holds this job's start";
  }
  auto archived = ReadJobHistoryFromArchive(database_url, job_id);
  if (archived.ok() && !archived.value().events.empty()) {
    JobHistory h = std::move(archived).value();
    h.note = why_archive;
    return h;
  }
  if (from_log) {  // maybe empty or truncated: the best there is
    if (from_log->events.empty() && !archived.ok()) {
      from_log->note = "the archive did not answer (" + archived.status().message() + ")";
    } else if (from_log->truncated && !from_log->events.empty()) {
      from_log->note = "the partition's oldest records have expired and this job's start with "
                       "them; the archive " +
                       (archived.ok() ? std::string("holds no events of this job")
                                      : "did not answer (" + archived.status().message() + ")");
    }
    return std::move(*from_log);
  }
  if (!archived.ok()) {
    return Status::Unavailable("neither source answered: kafka: " + log_status.message() +
                               "; archive: " + archived.status().message());
  }
  return Status::Unavailable("kafka did not answer (" + log_status.message() +
                             ") and the archive holds no events of job " + job_id);
}

}  // namespace

Result<JobHistory> ReadJobHistory(events::EventLog& log, const events::Topics& topics,
                                  const std::string& database_url, const std::string& job_id) {
  auto h = ReadJobHistoryFromLog(log, topics, job_id);
  if (h.ok()) return PreferLog(std::move(h).value(), Status::Ok(), database_url, job_id);
  return PreferLog(std::nullopt, h.status(), database_url, job_id);
}

Result<JobHistory> ReadJobHistory(const Context& ctx, const std::string& job_id) {
  if (Status s = RequireKafka(ctx); !s.ok()) {
    return PreferLog(std::nullopt, s, ctx.config.database_url, job_id);
  }
  auto log = services::MakeEventLog(ctx.config);
  if (!log.ok()) return PreferLog(std::nullopt, log.status(), ctx.config.database_url, job_id);
  return ReadJobHistory(*log.value(), ctx.config.topics(), ctx.config.database_url, job_id);
}

}  // namespace jobsched::jobctl
