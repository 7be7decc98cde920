// The Kafka side of the API's live updates (sse.h serves them over HTTP):
// one shared tail of `job-events` per API process, fanned out to subscribers
// by filter, plus short-lived readers that fill the gap of a resume older
// than the tail.
//
// Positions: a subscriber asks for the records at or after a "next offset"
// per partition. Subscribe() registers it with the tail atomically and says
// where the live feed starts for it (`live_from`); records below that (a
// resume from the past) are read by the caller with ReadRange() first, while
// the live feed buffers. Per partition, the caller thus sees every record from
// its start exactly once, in offset order: no gap, no duplicate.
//
// Thread safety: EventStreamHub is thread-safe (one internal thread polls the
// tail); a Subscription is fed by that thread and read by one consumer thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "events/event_log.h"
#include "events/status.h"
#include "events/topics.h"

namespace jobsched::api {

// One record of `job-events`, decoded for a stream.
struct StreamEvent {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string job_id;
  std::string type;  // "JobSubmitted", ...
  // The envelope as one line of JSON: event_id, job_id, run_id (null if none),
  // correlation_id, causation_id, producer, type, occurred_at (RFC 3339),
  // payload (the event's own message, .proto field names), partition, offset.
  std::string data;
};

// Decodes a record; false for bytes that are no envelope (they are skipped,
// as the projector archives but does not fold them).
bool ToStreamEvent(const events::Record& record, StreamEvent* out);

// Which events a subscriber wants.
struct StreamFilter {
  std::string job_id;           // "" = every job
  std::set<std::string> types;  // empty = every type
  bool Matches(const StreamEvent& e) const;
};

// What a subscriber receives: a bounded queue, filled by the hub's thread.
class Subscription {
 public:
  enum class State {
    kOpen,
    kOverflow,  // the reader fell behind by more than the capacity: closed
    kCanceled,  // Cancel() or the hub stopped
  };

  Subscription(StreamFilter filter, std::map<int32_t, int64_t> live_from, size_t capacity);

  // Moves the queued events to `out` (waiting up to `timeout` for the first)
  // and returns the state; a closed subscription (overflow, cancel) hands out
  // nothing more, not even what was queued.
  State Take(std::vector<StreamEvent>* out, std::chrono::milliseconds timeout);
  // Wakes a waiting Take and closes the subscription. Idempotent.
  void Cancel();
  State state() const;

  const StreamFilter& filter() const { return filter_; }

 private:
  friend class EventStreamHub;
  // Called by the hub's thread with records in partition order.
  void Offer(const StreamEvent& e);

  const StreamFilter filter_;
  // Live records of a partition at or past this offset are delivered; other
  // partitions are not wanted.
  const std::map<int32_t, int64_t> live_from_;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamEvent> queue_;  // guarded by mu_
  State state_ = State::kOpen;     // guarded by mu_
};

struct EventStreamOptions {
  std::string client_id = "api-stream";
  std::chrono::milliseconds poll_timeout{200};  // how often the tail checks Stop()
  // A gap read (ReadRange) that makes no progress for this long fails.
  std::chrono::milliseconds gap_stall_timeout{15'000};
};

class EventStreamHub {
 public:
  // `log` is not owned and must outlive the hub.
  EventStreamHub(events::EventLog& log, events::Topics topics, EventStreamOptions options = {});
  ~EventStreamHub();  // Stop()
  EventStreamHub(const EventStreamHub&) = delete;
  EventStreamHub& operator=(const EventStreamHub&) = delete;

  // Reads the partition count and the high watermarks, and starts the tail
  // there (records appended from now on). kUnavailable when Kafka does not
  // answer (Start may be called again later). Partitions added to the topic
  // later are not followed. Ok at once when running; not after Stop().
  Status Start();
  // Stops the tail and cancels every subscription. Idempotent; final.
  void Stop();

  bool running() const { return running_.load(); }
  int partitions() const { return partitions_.load(); }  // 0 before Start
  const std::string& topic() const { return topics_.job_events; }

  // The partition of a job (the producers' murmur2 partitioner); Start first.
  int32_t PartitionOf(const std::string& job_id) const;

  // Registers a subscriber for the records at or after `from[p]` of each
  // partition p in `from` (other partitions are not delivered). Fills
  // `live_from` with where the live feed starts for it: max(from[p], tail[p]).
  // Records [from[p], live_from[p]) are the caller's to read (ReadRange).
  // nullptr when the hub is not running.
  std::shared_ptr<Subscription> Subscribe(StreamFilter filter,
                                          const std::map<int32_t, int64_t>& from, size_t capacity,
                                          std::map<int32_t, int64_t>* live_from);
  void Unsubscribe(const std::shared_ptr<Subscription>& sub);
  size_t subscribers() const;

  // Where the tail is now: the next offset it will deliver, per partition.
  std::map<int32_t, int64_t> TailPositions() const;

  // The oldest retained offset of each partition of `parts`, from a
  // short-lived reader.
  Result<std::map<int32_t, int64_t>> LowWatermarks(const std::vector<int32_t>& parts);

  // Reads records [range.first, range.second) of each partition with a
  // short-lived reader (no group), handing each decoded record that matches
  // `filter` to `take` in offset order per partition. Stops early, returning
  // ok, when `take` returns false or `cancel` becomes true. kNotFound when a
  // range starts below the partition's oldest retained record (expired);
  // kTimeout when the read stalls.
  Status ReadRange(const std::map<int32_t, std::pair<int64_t, int64_t>>& ranges,
                   const StreamFilter& filter, const std::function<bool(StreamEvent&&)>& take,
                   const std::atomic<bool>& cancel);

 private:
  void Run();

  events::EventLog& log_;
  const events::Topics topics_;
  const EventStreamOptions options_;
  std::atomic<int> partitions_{0};
  std::unique_ptr<events::Consumer> tail_;  // used by thread_ only after Start
  std::unique_ptr<events::RebalanceListener> listener_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_{false};
  std::mutex lifecycle_mu_;  // serialises Start and Stop
  bool stopped_ = false;     // guarded by lifecycle_mu_

  mutable std::mutex mu_;
  std::map<int32_t, int64_t> tail_next_;             // guarded by mu_
  std::vector<std::shared_ptr<Subscription>> subs_;  // guarded by mu_
};

}  // namespace jobsched::api
