#include "services/api/sse.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "events/envelope.h"
#include "services/common/logging.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kLastEventIdField = "Last-Event-ID";

std::shared_ptr<spdlog::logger> Logger() { return services::GetLogger("api"); }

ApiError BadParam(std::string field, std::string message) {
  return {"invalid_parameter", std::move(message), std::move(field)};
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<int64_t> ParseOffset(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0) return std::nullopt;
  return v;
}

std::optional<ApiError> CheckParams(const StreamQuery& query,
                                    const std::vector<std::string>& allowed) {
  for (const auto& [name, value] : query) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string names;
      for (const auto& a : allowed) names += (names.empty() ? "" : ", ") + a;
      return BadParam(name, "is not a parameter of this route; it takes " + names);
    }
  }
  return std::nullopt;
}

// ?type=A,B -> {A, B}; every name must be an event type.
std::optional<ApiError> ParseTypes(const StreamQuery& query, std::set<std::string>* out) {
  auto it = query.find("type");
  if (it == query.end()) return std::nullopt;
  const auto& known = StreamEventTypes();
  std::string_view rest = it->second;
  while (true) {
    const size_t comma = rest.find(',');
    std::string name(rest.substr(0, comma));
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string names;
      for (const auto& t : known) names += (names.empty() ? "" : ", ") + t;
      return BadParam("type", "takes a comma-separated list of event types, each one of " + names +
                                  "; got \"" + name + "\"");
    }
    out->insert(std::move(name));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return std::nullopt;
}

// The header wins over the query parameter (EventSource sends the header on
// its reconnects; a first connect can only use the parameter).
std::string LastEventId(const StreamQuery& query, const std::string& header) {
  if (!header.empty()) return header;
  auto it = query.find("last_event_id");
  return it == query.end() ? "" : it->second;
}

const std::vector<std::string> kStreamHeaders = {
    "Content-Type: text/event-stream",
    "Cache-Control: no-cache",
    "X-Accel-Buffering: no",
};

}  // namespace

std::string FormatMessage(std::string_view event, std::string_view id, std::string_view data) {
  std::string out;
  out.reserve(event.size() + id.size() + data.size() + 24);
  if (!event.empty()) out.append("event: ").append(event).append("\n");
  if (!id.empty()) out.append("id: ").append(id).append("\n");
  // One data line per line of `data` (our JSON has none, but stay valid).
  size_t start = 0;
  while (true) {
    const size_t nl = data.find('\n', start);
    out.append("data: ").append(data.substr(start, nl - start)).append("\n");
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  out.append("\n");
  return out;
}

std::string EncodeStreamId(const std::vector<int64_t>& next_offsets) {
  std::string out;
  for (size_t i = 0; i < next_offsets.size(); ++i) {
    if (i > 0) out += '.';
    out += std::to_string(next_offsets[i]);
  }
  return out;
}

std::optional<std::vector<int64_t>> DecodeStreamId(std::string_view text, int partitions) {
  std::vector<int64_t> out;
  while (true) {
    const size_t dot = text.find('.');
    auto v = ParseOffset(text.substr(0, dot));
    if (!v) return std::nullopt;
    out.push_back(*v);
    if (dot == std::string_view::npos) break;
    text.remove_prefix(dot + 1);
  }
  if (static_cast<int>(out.size()) != partitions) return std::nullopt;
  return out;
}

std::optional<int64_t> DecodeJobStreamId(std::string_view text) { return ParseOffset(text); }

const std::vector<std::string>& StreamEventTypes() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    const auto* oneof = events::Envelope::descriptor()->FindOneofByName("event");
    for (int i = 0; i < oneof->field_count(); ++i) {
      out.push_back(oneof->field(i)->message_type()->name());
    }
    return out;
  }();
  return names;
}

// What one stream serves, decided on the request's thread.
struct SseServer::Plan {
  bool job_stream = false;
  std::string job_id;  // job stream: the job (canonical)
  StreamFilter filter;
  std::vector<int32_t> partitions;  // followed (a job's one, or all)
  // Resume: the next offset per partition (all partitions for /stream, the
  // job's for a job stream). Empty: start live (after the snapshot).
  std::map<int32_t, int64_t> resume;
  std::string request_desc;  // for log lines
  uint64_t id = 0;           // key of its thread in threads_ and subs_
};

SseServer::SseServer(SseOptions options, EventStreamHub& hub, JobSnapshotFn snapshot,
                     prometheus::Registry* metrics)
    : options_(options), hub_(hub), snapshot_(std::move(snapshot)) {
  if (metrics != nullptr) {
    open_gauge_ = &prometheus::BuildGauge()
                       .Name("jobsched_api_streams_open")
                       .Help("Server-Sent Event streams open now")
                       .Register(*metrics)
                       .Add({});
    sent_counter_ = &prometheus::BuildCounter()
                         .Name("jobsched_api_stream_events_sent_total")
                         .Help("Events sent on Server-Sent Event streams (snapshots included)")
                         .Register(*metrics)
                         .Add({});
  }
}

SseServer::~SseServer() { Stop(); }

void SseServer::ServeJobStream(std::shared_ptr<StreamTarget> target, const std::string& job_id,
                               const StreamQuery& query, const std::string& last_event_id) {
  if (auto e = CheckParams(query, {"type", "last_event_id"})) return target->Reject(400, *e);
  if (!IsUuid(job_id)) {
    return target->Reject(400,
                          {"invalid_job_id", "job id must be a UUID, got \"" + job_id + "\"", ""});
  }
  Plan plan;
  plan.job_stream = true;
  plan.job_id = Lower(job_id);
  if (auto e = ParseTypes(query, &plan.filter.types)) return target->Reject(400, *e);
  plan.filter.job_id = plan.job_id;
  if (!hub_.running()) return RejectUntilStarted(target);
  const int32_t partition = hub_.PartitionOf(plan.job_id);
  plan.partitions = {partition};
  const std::string id = LastEventId(query, last_event_id);
  if (!id.empty()) {
    auto offset = DecodeJobStreamId(id);
    if (!offset) {
      return target->Reject(
          400, BadParam(kLastEventIdField,
                        "must be the id of a message of this job's stream (an offset), got \"" +
                            id + "\""));
    }
    plan.resume[partition] = *offset + 1;
  }
  plan.request_desc = "/api/v1/jobs/" + plan.job_id + "/stream";
  Launch(std::move(target), std::move(plan));
}

void SseServer::ServeStream(std::shared_ptr<StreamTarget> target, const StreamQuery& query,
                            const std::string& last_event_id) {
  if (auto e = CheckParams(query, {"type", "job_id", "last_event_id"})) {
    return target->Reject(400, *e);
  }
  Plan plan;
  if (auto e = ParseTypes(query, &plan.filter.types)) return target->Reject(400, *e);
  if (auto it = query.find("job_id"); it != query.end()) {
    if (!IsUuid(it->second)) {
      return target->Reject(
          400, {"invalid_job_id", "job_id must be a UUID, got \"" + it->second + "\"", "job_id"});
    }
    plan.filter.job_id = Lower(it->second);
  }
  if (!hub_.running()) return RejectUntilStarted(target);
  const int n = hub_.partitions();
  if (!plan.filter.job_id.empty()) {
    plan.partitions = {hub_.PartitionOf(plan.filter.job_id)};
  } else {
    for (int32_t p = 0; p < n; ++p) plan.partitions.push_back(p);
  }
  const std::string id = LastEventId(query, last_event_id);
  if (!id.empty()) {
    auto positions = DecodeStreamId(id, n);
    if (!positions) {
      return target->Reject(
          400, BadParam(kLastEventIdField, "must be the id of a message of /api/v1/stream (" +
                                               std::to_string(n) +
                                               " offsets joined by '.'), got \"" + id + "\""));
    }
    for (int32_t p = 0; p < n; ++p) plan.resume[p] = (*positions)[p];
  }
  plan.request_desc = "/api/v1/stream";
  Launch(std::move(target), std::move(plan));
}

void SseServer::RejectUntilStarted(const std::shared_ptr<StreamTarget>& target) {
  target->Reject(503, {"kafka_unavailable",
                       "live updates are not available yet: Kafka has not answered; retry", ""});
  if (stopping_.load() || starting_.exchange(true)) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (starter_.joinable()) starter_.join();  // the last attempt, finished
  starter_ = std::thread([this] {
    Status s = hub_.Start();
    if (!s.ok()) {
      services::Log(*Logger(), spdlog::level::warn, "live updates still unavailable",
                    {{"reason", s.message()}});
    }
    starting_.store(false);
  });
}

void SseServer::Launch(std::shared_ptr<StreamTarget> target, Plan plan) {
  ReapFinished();
  if (stopping_.load()) {
    return target->Reject(
        503, {"shutting_down", "the server is shutting down; retry on another instance", ""});
  }
  // Counted here, so the cap holds however fast requests arrive.
  if (open_.fetch_add(1) >= options_.max_streams) {
    open_.fetch_sub(1);
    return target->Reject(
        503,
        {"overloaded",
         "too many open streams (" + std::to_string(options_.max_streams) + "); retry later", ""});
  }
  if (open_gauge_ != nullptr) open_gauge_->Increment();
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t id = next_id_++;
  plan.id = id;
  threads_.emplace(
      id, std::thread([this, id, target = std::move(target), plan = std::move(plan)]() mutable {
        try {
          RunStream(target, plan);
        } catch (const std::exception& e) {
          services::Log(*Logger(), spdlog::level::err, "stream failed",
                        {{"path", plan.request_desc}, {"reason", e.what()}});
          target->Close();
        }
        target.reset();
        open_.fetch_sub(1);
        if (open_gauge_ != nullptr) open_gauge_->Decrement();
        {
          std::lock_guard<std::mutex> lock(mu_);
          subs_.erase(id);
          finished_.push_back(id);
        }
        cv_.notify_all();
      }));
}

void SseServer::ReapFinished() {
  std::vector<std::thread> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (uint64_t id : finished_) {
      auto it = threads_.find(id);
      if (it == threads_.end()) continue;
      done.push_back(std::move(it->second));
      threads_.erase(it);
    }
    finished_.clear();
  }
  for (auto& t : done) t.join();
}

void SseServer::Stop() {
  if (stopping_.exchange(true)) {
    ReapFinished();
    return;
  }
  std::vector<std::shared_ptr<Subscription>> subs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, s] : subs_) subs.push_back(s);
  }
  for (auto& s : subs) s->Cancel();
  std::vector<std::thread> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, t] : threads_) all.push_back(std::move(t));
    threads_.clear();
    finished_.clear();
  }
  for (auto& t : all) t.join();
  std::thread starter;
  {
    std::lock_guard<std::mutex> lock(mu_);
    starter.swap(starter_);
  }
  if (starter.joinable()) starter.join();
}

void SseServer::RunStream(const std::shared_ptr<StreamTarget>& target, Plan& plan) {
  // 1. The job's snapshot (a fresh job stream only): where it stands, and
  //    from which offset its events follow.
  std::optional<JobSnapshot> snapshot;
  std::map<int32_t, int64_t> from = plan.resume;
  if (plan.job_stream && plan.resume.empty()) {
    const int32_t partition = plan.partitions.front();
    auto read = snapshot_(plan.job_id, partition);
    if (!read.ok()) {
      return target->Reject(
          503, {"database_unavailable",
                "cannot read the job's current state: " + read.status().message() + "; retry", ""});
    }
    if (!read.value()) {
      return target->Reject(404, {"job_not_found", "no job " + plan.job_id, ""});
    }
    snapshot = std::move(read).value();
    from[partition] = snapshot->next_offset;
  }
  if (from.empty()) {
    for (int32_t p : plan.partitions) from[p] = -1;  // the live tail
  }

  // 2. Join the live feed; it buffers while the gap below it is read.
  std::map<int32_t, int64_t> wanted;
  for (int32_t p : plan.partitions) wanted[p] = from.at(p);
  std::map<int32_t, int64_t> live_from;
  auto sub = hub_.Subscribe(plan.filter, wanted, options_.buffer_events, &live_from);
  if (!sub) {
    return target->Reject(
        503, {"shutting_down", "the server is shutting down; retry on another instance", ""});
  }
  struct Unsubscriber {
    EventStreamHub& hub;
    std::shared_ptr<Subscription> sub;
    ~Unsubscriber() { hub.Unsubscribe(sub); }
  } unsubscriber{hub_, sub};
  {
    std::lock_guard<std::mutex> lock(mu_);
    subs_[plan.id] = sub;  // Stop() cancels it
  }
  if (stopping_.load()) sub->Cancel();

  // Positions as ids: the next offset of every partition.
  std::map<int32_t, int64_t> position;  // /api/v1/stream: every partition
  if (!plan.job_stream) {
    const auto tail = hub_.TailPositions();
    for (int32_t p = 0; p < hub_.partitions(); ++p) {
      auto r = plan.resume.find(p);
      if (r != plan.resume.end()) {
        position[p] = r->second;
      } else if (auto l = live_from.find(p); l != live_from.end()) {
        position[p] = l->second;
      } else {
        auto t = tail.find(p);
        position[p] = t == tail.end() ? 0 : t->second;
      }
    }
  }
  auto id_of = [&](const StreamEvent& e) -> std::string {
    if (plan.job_stream) return std::to_string(e.offset);
    position[e.partition] = e.offset + 1;
    std::vector<int64_t> v;
    for (const auto& [p, next] : position) v.push_back(next);
    return EncodeStreamId(v);
  };

  // 3. A resume older than the tail: is the gap still retained?
  std::map<int32_t, std::pair<int64_t, int64_t>> gap;
  for (const auto& [p, start] : wanted) {
    if (start >= 0 && start < live_from.at(p)) gap[p] = {start, live_from.at(p)};
  }
  if (!gap.empty()) {
    std::vector<int32_t> parts;
    for (const auto& [p, range] : gap) parts.push_back(p);
    auto lows = hub_.LowWatermarks(parts);
    if (!lows.ok()) {
      return target->Reject(
          503, {"kafka_unavailable", "cannot read where the log starts: " + lows.status().message(),
                ""});
    }
    for (const auto& [p, range] : gap) {
      if (range.first < lows.value().at(p)) {
        return target->Reject(
            410, {"last_event_id_expired",
                  "Last-Event-ID is older than the log keeps (partition " + std::to_string(p) +
                      " starts at offset " + std::to_string(lows.value().at(p)) +
                      "); reconnect without it" +
                      (plan.job_stream ? " to get the job's current state" : ""),
                  kLastEventIdField});
      }
    }
  }

  // 4. The stream.
  if (!target->Open(kStreamHeaders)) return;
  size_t sent = 0;
  auto send = [&](const std::string& message) {
    if (!target->Send(message)) return false;
    ++sent;
    if (sent_counter_ != nullptr) sent_counter_->Increment();
    return true;
  };
  bool ok = target->Send("retry: " + std::to_string(options_.retry.count()) + "\n\n");
  if (ok && snapshot) {
    const std::string id =
        snapshot->next_offset > 0 ? std::to_string(snapshot->next_offset - 1) : "";
    ok = send(FormatMessage("snapshot", id,
                            snapshot->job.dump(-1, ' ', false, json::error_handler_t::replace)));
  }
  std::string end_reason = "client gone";
  if (ok && !gap.empty()) {
    Status read = hub_.ReadRange(
        gap, plan.filter,
        [&](StreamEvent&& e) {
          if (sub->state() != Subscription::State::kOpen) {
            ok = false;
            end_reason = "server stopping or the live feed overflowed";
            return false;
          }
          if (!send(FormatMessage(e.type, id_of(e), e.data))) {
            ok = false;
            return false;
          }
          return true;
        },
        stopping_);
    if (stopping_.load()) ok = false;
    if (!read.ok()) {
      ok = false;
      end_reason = "reading the gap failed: " + read.message();
    }
  }
  auto last_write = SteadyClock::now();
  const auto began = SteadyClock::now();
  while (ok) {
    if (options_.max_duration.count() > 0 && SteadyClock::now() - began >= options_.max_duration) {
      end_reason = "max duration";
      break;
    }
    std::vector<StreamEvent> batch;
    const auto state = sub->Take(&batch, options_.check_interval);
    if (state == Subscription::State::kOverflow) {
      // A comment: EventSource ignores it; curl users see why.
      target->Send(": closing: the client reads too slowly; resume with Last-Event-ID\n\n");
      end_reason = "client too slow";
      break;
    }
    if (state == Subscription::State::kCanceled) {
      end_reason = "server stopping";
      break;
    }
    for (const StreamEvent& e : batch) {
      if (!(ok = send(FormatMessage(e.type, id_of(e), e.data)))) break;
      last_write = SteadyClock::now();
    }
    if (!ok) break;
    if (!target->Connected()) {
      ok = false;
      break;
    }
    if (SteadyClock::now() - last_write >= options_.heartbeat) {
      if (!(ok = target->Send(": keepalive\n\n"))) break;
      last_write = SteadyClock::now();
    }
  }
  target->Close();
  services::Log(
      *Logger(), spdlog::level::debug, "stream ended",
      {{"path", plan.request_desc}, {"reason", end_reason}, {"events", std::to_string(sent)}});
}

}  // namespace jobsched::api
