#include "services/api/event_stream.h"

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "events/envelope.h"
#include "events/memory_event_log.h"
#include "events/time.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kWatermarkTimeout{5'000};
constexpr size_t kPollBatch = 500;

// Starts each assigned partition at a fixed offset (the tail at the high
// watermark read in Start, a gap reader at the gap's start), so the position
// a subscriber is told is exactly where records come from.
class StartAt : public events::RebalanceListener {
 public:
  explicit StartAt(std::map<int32_t, int64_t> starts) : starts_(std::move(starts)) {}
  std::map<events::TopicPartition, int64_t> OnAssigned(
      const std::vector<events::TopicPartition>& parts) override {
    std::map<events::TopicPartition, int64_t> out;
    for (const auto& tp : parts) {
      auto it = starts_.find(tp.partition);
      out[tp] = it == starts_.end() ? events::kOffsetEnd : it->second;
    }
    return out;
  }
  void OnRevoked(const std::vector<events::TopicPartition>&) override {}

 private:
  const std::map<int32_t, int64_t> starts_;
};

json PayloadOf(const events::Envelope& e) {
  const auto* oneof = events::Envelope::descriptor()->FindOneofByName("event");
  const auto* field = e.GetReflection()->GetOneofFieldDescriptor(e, oneof);
  if (field == nullptr) return json::object();
  json payload = json::parse(events::ToJson(e.GetReflection()->GetMessage(e, field)), nullptr,
                             /*allow_exceptions=*/false);
  return payload.is_discarded() ? json::object() : payload;
}

}  // namespace

bool ToStreamEvent(const events::Record& record, StreamEvent* out) {
  auto decoded = events::DecodeEnvelope(record.value);
  if (!decoded.ok()) return false;
  const events::Envelope& e = decoded.value();
  out->partition = record.partition;
  out->offset = record.offset;
  out->job_id = e.job_id();
  out->type = std::string(events::EventType(e));
  const std::string_view run_id = events::RunIdOf(e);
  json data = {
      {"event_id", e.event_id()},
      {"job_id", e.job_id()},
      {"run_id", run_id.empty() ? json(nullptr) : json(std::string(run_id))},
      {"correlation_id", e.correlation_id()},
      {"causation_id", e.causation_id()},
      {"producer", e.producer()},
      {"type", out->type},
      {"occurred_at",
       IsSet(e.occurred_at()) ? json(FormatRfc3339(FromProto(e.occurred_at()))) : json(nullptr)},
      {"payload", PayloadOf(e)},
      {"partition", record.partition},
      {"offset", record.offset}};
  out->data = data.dump(-1, ' ', false, json::error_handler_t::replace);
  return true;
}

bool StreamFilter::Matches(const StreamEvent& e) const {
  if (!job_id.empty() && e.job_id != job_id) return false;
  return types.empty() || types.count(e.type) > 0;
}

// --- Subscription ------------------------------------------------------------

Subscription::Subscription(StreamFilter filter, std::map<int32_t, int64_t> live_from,
                           size_t capacity)
    : filter_(std::move(filter)), live_from_(std::move(live_from)), capacity_(capacity) {}

void Subscription::Offer(const StreamEvent& e) {
  auto it = live_from_.find(e.partition);
  if (it == live_from_.end() || e.offset < it->second || !filter_.Matches(e)) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ != State::kOpen) return;
    if (queue_.size() >= capacity_) {
      // Dropping one event would leave a gap behind the ids the client
      // resumes from: close instead, and let it resume.
      state_ = State::kOverflow;
      queue_.clear();
    } else {
      queue_.push_back(e);
    }
  }
  cv_.notify_all();
}

Subscription::State Subscription::Take(std::vector<StreamEvent>* out,
                                       std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return state_ != State::kOpen || !queue_.empty(); });
  if (state_ != State::kOpen) return state_;
  out->insert(out->end(), std::make_move_iterator(queue_.begin()),
              std::make_move_iterator(queue_.end()));
  queue_.clear();
  return state_;
}

void Subscription::Cancel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ == State::kOpen) state_ = State::kCanceled;
    queue_.clear();
  }
  cv_.notify_all();
}

Subscription::State Subscription::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

// --- EventStreamHub ----------------------------------------------------------

EventStreamHub::EventStreamHub(events::EventLog& log, events::Topics topics,
                               EventStreamOptions options)
    : log_(log), topics_(std::move(topics)), options_(std::move(options)) {}

EventStreamHub::~EventStreamHub() { Stop(); }

Status EventStreamHub::Start() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (stopped_) return Status::Unavailable("the event stream was stopped");
  if (running_.load()) return Status::Ok();
  auto count = log_.PartitionCount(topics_.job_events);
  if (!count.ok()) {
    return Status::Unavailable("cannot read the partitions of " + topics_.job_events + ": " +
                               count.status().message());
  }
  const int partitions = count.value();
  std::vector<events::TopicPartition> parts;
  for (int32_t p = 0; p < partitions; ++p) parts.push_back({topics_.job_events, p});

  // The high watermarks first, then a consumer that starts exactly there: a
  // subscriber told "the tail is at N" then sees every record from N on.
  events::ConsumerOptions probe_options;
  probe_options.topics = {topics_.job_events};
  probe_options.client_id = options_.client_id + "-start";
  auto probe = log_.NewConsumer(probe_options);
  if (!probe.ok()) return probe.status();
  auto marks = probe.value()->QueryWatermarks(parts, kWatermarkTimeout);
  probe.value()->Close();
  if (!marks.ok()) {
    return Status::Unavailable("cannot read the watermarks of " + topics_.job_events + ": " +
                               marks.status().message());
  }
  std::map<int32_t, int64_t> starts;
  for (const auto& [tp, w] : marks.value()) starts[tp.partition] = w.high;

  listener_ = std::make_unique<StartAt>(starts);
  events::ConsumerOptions options;
  options.topics = {topics_.job_events};
  options.listener = listener_.get();
  options.client_id = options_.client_id;
  // The bulk profile: the tail reads every event of job-events whether or not
  // a stream is open, and on the dev broker the hot path's 2 ms waits cost the
  // API ~2% of a core idle and a fetch per event under load. A live update may
  // take up to JOBSCHED_KAFKA_BULK_FETCH_WAIT_MS longer there (a real broker
  // answers a fetch when a record arrives).
  options.profile = events::FetchProfile::kBulk;
  auto consumer = log_.NewConsumer(options);
  if (!consumer.ok()) return consumer.status();
  tail_ = std::move(consumer).value();
  {
    std::lock_guard<std::mutex> lock(mu_);
    tail_next_ = starts;
  }
  partitions_.store(partitions);
  stop_.store(false);
  running_.store(true);
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void EventStreamHub::Stop() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  stopped_ = true;
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  running_.store(false);
  if (tail_) {
    tail_->Close();
    tail_.reset();
  }
  std::vector<std::shared_ptr<Subscription>> subs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    subs.swap(subs_);
  }
  for (auto& s : subs) s->Cancel();
}

void EventStreamHub::Run() {
  while (!stop_.load()) {
    std::vector<events::Record> records = tail_->Poll(kPollBatch, options_.poll_timeout);
    if (records.empty()) continue;
    // Decoded outside the lock; fanned out under it together with the tail
    // position, so Subscribe sees either both or neither.
    std::vector<std::pair<bool, StreamEvent>> decoded(records.size());
    for (size_t i = 0; i < records.size(); ++i) {
      decoded[i].first = ToStreamEvent(records[i], &decoded[i].second);
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < records.size(); ++i) {
      const events::Record& r = records[i];
      int64_t& next = tail_next_[r.partition];
      if (r.offset < next) continue;  // a redelivery: already fanned out
      next = r.offset + 1;
      if (!decoded[i].first) continue;
      for (const auto& s : subs_) s->Offer(decoded[i].second);
    }
  }
}

int32_t EventStreamHub::PartitionOf(const std::string& job_id) const {
  return events::PartitionForKey(job_id, partitions_.load());
}

std::shared_ptr<Subscription> EventStreamHub::Subscribe(StreamFilter filter,
                                                        const std::map<int32_t, int64_t>& from,
                                                        size_t capacity,
                                                        std::map<int32_t, int64_t>* live_from) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!running_.load() || stop_.load()) return nullptr;
  live_from->clear();
  for (const auto& [p, offset] : from) {
    auto it = tail_next_.find(p);
    (*live_from)[p] = std::max(offset, it == tail_next_.end() ? 0 : it->second);
  }
  auto sub = std::make_shared<Subscription>(std::move(filter), *live_from, capacity);
  subs_.push_back(sub);
  return sub;
}

void EventStreamHub::Unsubscribe(const std::shared_ptr<Subscription>& sub) {
  if (!sub) return;
  sub->Cancel();
  std::lock_guard<std::mutex> lock(mu_);
  subs_.erase(std::remove(subs_.begin(), subs_.end(), sub), subs_.end());
}

size_t EventStreamHub::subscribers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return subs_.size();
}

std::map<int32_t, int64_t> EventStreamHub::TailPositions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tail_next_;
}

Result<std::map<int32_t, int64_t>> EventStreamHub::LowWatermarks(
    const std::vector<int32_t>& parts) {
  std::vector<events::TopicPartition> tps;
  for (int32_t p : parts) tps.push_back({topics_.job_events, p});
  events::ConsumerOptions options;
  options.topics = {topics_.job_events};
  options.partitions = tps;
  options.client_id = options_.client_id + "-marks";
  auto consumer = log_.NewConsumer(options);
  if (!consumer.ok()) return consumer.status();
  auto marks = consumer.value()->QueryWatermarks(tps, kWatermarkTimeout);
  consumer.value()->Close();
  if (!marks.ok()) {
    return Status::Unavailable("cannot read the watermarks of " + topics_.job_events + ": " +
                               marks.status().message());
  }
  std::map<int32_t, int64_t> lows;
  for (const auto& [tp, w] : marks.value()) lows[tp.partition] = w.low;
  return lows;
}

Status EventStreamHub::ReadRange(const std::map<int32_t, std::pair<int64_t, int64_t>>& ranges,
                                 const StreamFilter& filter,
                                 const std::function<bool(StreamEvent&&)>& take,
                                 const std::atomic<bool>& cancel) {
  std::map<int32_t, int64_t> pending;  // next offset still to see, per partition
  std::map<int32_t, int64_t> starts;
  std::vector<events::TopicPartition> tps;
  for (const auto& [p, range] : ranges) {
    if (range.first >= range.second) continue;
    pending[p] = range.first;
    starts[p] = range.first;
    tps.push_back({topics_.job_events, p});
  }
  if (pending.empty()) return Status::Ok();

  StartAt listener(starts);
  events::ConsumerOptions options;
  options.topics = {topics_.job_events};
  options.partitions = tps;
  options.listener = &listener;
  options.client_id = options_.client_id + "-gap";
  options.profile = events::FetchProfile::kLatency;
  auto consumer = log_.NewConsumer(options);
  if (!consumer.ok()) return consumer.status();
  events::Consumer& c = *consumer.value();
  struct Closer {
    events::Consumer& c;
    ~Closer() { c.Close(); }
  } closer{c};

  auto marks = c.QueryWatermarks(tps, kWatermarkTimeout);
  if (!marks.ok()) {
    return Status::Unavailable("cannot read the watermarks of " + topics_.job_events + ": " +
                               marks.status().message());
  }
  for (const auto& [tp, w] : marks.value()) {
    if (pending.at(tp.partition) < w.low) {
      return Status::NotFound(events::ToString(tp) + " keeps offsets from " +
                              std::to_string(w.low) + " on; " +
                              std::to_string(pending.at(tp.partition)) + " has expired");
    }
  }
  auto last_progress = SteadyClock::now();
  while (!pending.empty()) {
    if (cancel.load()) return Status::Ok();
    if (SteadyClock::now() - last_progress > options_.gap_stall_timeout) {
      return Status::Timeout("reading the gap of " + topics_.job_events + " stalled");
    }
    for (events::Record& r : c.Poll(kPollBatch, std::chrono::milliseconds(200))) {
      auto it = pending.find(r.partition);
      if (it == pending.end() || r.offset < it->second) continue;
      const int64_t end = ranges.at(r.partition).second;
      if (r.offset >= end) {
        pending.erase(it);
        continue;
      }
      if (r.offset > it->second) {
        // Records expired while we read: the caller must not claim no gap.
        return Status::NotFound(events::ToString({topics_.job_events, r.partition}) + " offset " +
                                std::to_string(it->second) + " expired while being read");
      }
      it->second = r.offset + 1;
      last_progress = SteadyClock::now();
      StreamEvent e;
      if (ToStreamEvent(r, &e) && filter.Matches(e)) {
        if (!take(std::move(e))) return Status::Ok();
      }
      if (it->second >= end) pending.erase(it);
    }
  }
  return Status::Ok();
}

}  // namespace jobsched::api
