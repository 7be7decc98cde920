// ArchiveEventLog: a read-only events::EventLog over the archive, the
// job_logs table, which keeps every projected record of `job-events` (its
// bytes, partition and offset) after Kafka's retention dropped it. A rebuild
// from the archive runs the normal Projector on this log, so the archived
// records go through exactly the code path live records take.
//
// A consumer is assigned every partition of `ranges` (there are no groups),
// asks its RebalanceListener where to start each one (an absolute offset, or
// a sentinel: the partition's first archived record), and returns the
// archived records of [start, range end) in offset order, a chunk of one
// partition per Poll. Offsets are the original ones: gaps (records that were
// never archived) stay gaps. Once every partition is read to its end, Poll
// waits out its timeout and returns nothing, like an idle topic.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "events/event_log.h"
#include "projections/projection_log.h"

namespace jobsched::projections {

// The archived offsets of one partition that a consumer reads: [begin, end).
struct ArchiveRange {
  int64_t begin = 0;  // the first archived offset
  int64_t end = 0;    // one past the last one to read
};

// Thread-safe as events::EventLog requires; each consumer opens its own
// PostgreSQL connection (one thread per consumer, as the interface says).
class ArchiveEventLog final : public events::EventLog {
 public:
  // Reads `schema`.job_logs rows of `topic` (the schema is quoted, not
  // searched) over `database_url`.
  ArchiveEventLog(std::string database_url, std::string schema, std::string topic,
                  std::map<int32_t, ArchiveRange> ranges, LogSink log_sink = nullptr);

  // The archive is read-only: kInvalidArgument.
  Result<std::unique_ptr<events::Producer>> NewProducer(const std::string& client_id) override;
  // Only for `topic`, without a group (kInvalidArgument otherwise).
  Result<std::unique_ptr<events::Consumer>> NewConsumer(
      const events::ConsumerOptions& options) override;
  // One more than the highest archived partition of `topic`.
  Result<int> PartitionCount(const std::string& topic) override;

 private:
  const std::string database_url_;
  const std::string schema_;
  const std::string topic_;
  const std::map<int32_t, ArchiveRange> ranges_;
  const LogSink log_sink_;
};

}  // namespace jobsched::projections
