// What this API process appended and Kafka acknowledged, per job, for a
// while: the memory behind read-your-writes and idempotent submissions.
//
// The API answers 201/202 once Kafka acknowledged an event, but reads come
// from PostgreSQL, which the projector fills a moment later. So a read or
// command on a job this process appended to waits (bounded) until the
// projection has passed the offset of its latest append, and if it does not
// in time, answers from the projected row plus the appended events the
// projection has not reached (UnprojectedState). The same memory tells a
// repeated idempotency key that its job exists before PostgreSQL knows it.
//
// Other API processes know nothing of these appends: across processes, only
// what PostgreSQL has projected is visible.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "events/envelope.h"

namespace jobsched::api {

struct RecentAppendsOptions {
  size_t max_jobs = 100'000;
  // The events' encoded sizes summed (a payload may be 1 MiB): the least
  // recently appended jobs are forgotten beyond this.
  size_t max_bytes = 64u << 20;
  // A job with no append for this long is forgotten: by then the projection
  // has caught up, or is down and reads answer 503 anyway.
  std::chrono::milliseconds ttl{5 * 60'000};
  size_t max_events_per_job = 32;  // the oldest go first (the job then needs its row)
};

struct AppendedEvent {
  int64_t offset = -1;
  std::shared_ptr<const events::Envelope> event;
};

// The acknowledged appends of one job (all in one partition: key = job_id).
struct RecentJob {
  int32_t partition = -1;
  std::vector<AppendedEvent> events;  // offset order
  // events[0] is the job's JobSubmitted: its state can be folded from nothing.
  bool has_submission = false;

  int64_t last_offset() const { return events.empty() ? -1 : events.back().offset; }
};

// Thread-safe.
class RecentAppends {
 public:
  using Now = std::function<std::chrono::steady_clock::time_point()>;

  explicit RecentAppends(
      RecentAppendsOptions options = {}, Now now = [] { return std::chrono::steady_clock::now(); });

  // Remembers that `event` (of job event.job_id()) was acknowledged at
  // `partition`/`offset`. Events of a job arrive in any order; kept sorted.
  void Record(std::shared_ptr<const events::Envelope> event, int32_t partition, int64_t offset);

  // The job's remembered appends (`job_id` in canonical lower case), if any.
  std::optional<RecentJob> Find(const std::string& job_id);

  size_t size();

 private:
  struct Entry {
    RecentJob job;
    size_t bytes = 0;
    std::chrono::steady_clock::time_point touched;
    std::list<std::string>::iterator lru;  // position in lru_
  };

  void EraseLocked(std::unordered_map<std::string, Entry>::iterator it);
  void EvictLocked(std::chrono::steady_clock::time_point now);

  const RecentAppendsOptions options_;
  const Now now_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> jobs_;  // guarded by mu_
  std::list<std::string> lru_;                   // least recently appended first; guarded by mu_
  size_t bytes_ = 0;                             // guarded by mu_
};

// True when `projected`, the job's row as of the projection's `next_offset`
// in the job's partition, already reflects every remembered append from
// next_offset on: the fold finds each a duplicate. Then the row is as good as
// one projected past them, and nobody needs to wait.
bool ReflectsAppends(const v1::JobState& projected, int64_t next_offset, const RecentJob& recent);

// The state to answer from when the projection has not reached the appends:
// the row (if any) with the remembered appends from `next_offset` on applied
// by the fold. nullopt when that gives no job (no row, and the JobSubmitted
// no longer remembered).
std::optional<v1::JobState> UnprojectedState(std::optional<v1::JobState> projected,
                                             int64_t next_offset, const RecentJob& recent);

// Submissions with an idempotency key in flight in this process, by job id:
// the first one proceeds, later ones wait for its outcome. Thread-safe.
class InFlightKeys {
 public:
  // True: the caller holds `job_id` until it calls Finish. False: another
  // request holds it; `resume` runs when that one finishes (on its thread).
  bool Begin(const std::string& job_id, std::function<void()> resume);
  // Releases `job_id` and runs the waiting resumes (outside the lock).
  void Finish(const std::string& job_id);

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::function<void()>>> waiting_;  // guarded by mu_
};

}  // namespace jobsched::api
