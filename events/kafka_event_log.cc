#include "events/kafka_event_log.h"

#include <librdkafka/rdkafka.h>  // only for the RD_KAFKA_OFFSET_* constants
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <utility>
#include <vector>

namespace jobsched::events {

// Our sentinels are librdkafka's, so they pass through unchanged.
static_assert(kOffsetBeginning == RD_KAFKA_OFFSET_BEGINNING);
static_assert(kOffsetEnd == RD_KAFKA_OFFSET_END);
static_assert(kOffsetCommitted == RD_KAFKA_OFFSET_STORED);

namespace {

using Clock = std::chrono::steady_clock;
using Properties = std::vector<std::pair<std::string, std::string>>;

constexpr auto kAppendTimeout = std::chrono::seconds(30);
constexpr int kFlushTimeoutMs = 10000;
constexpr auto kMetadataTimeout = std::chrono::seconds(10);
constexpr int kPollIntervalMs = 50;  // also the latency of pre-librdkafka failures
// Producer::Reachable(): a connection lost to every broker (librdkafka's
// ALL_BROKERS_DOWN) says "unreachable" at once. Once a caller asks, the
// cluster is also probed (a metadata request for the topics the producer
// knows): while reachable every kProbeUpInterval, taken as unreachable when a
// probe fails within kProbeUpTimeoutMs (a broker gone silent closes nothing);
// while unreachable every kProbeDownInterval, to notice the cluster is back.
constexpr auto kProbeUpInterval = std::chrono::milliseconds(1000);
constexpr int kProbeUpTimeoutMs = 2000;
constexpr auto kProbeDownInterval = std::chrono::milliseconds(200);
constexpr int kProbeDownTimeoutMs = 500;
// How often a group member tells the ConsumerLagSink its lag (from its Poll).
constexpr auto kLagReportInterval = std::chrono::milliseconds(1000);

// The "kafka" logger: the application's if it registered one, else a copy of
// the default logger (same sinks and format) registered under that name.
spdlog::logger& Log() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("kafka")) return existing;
    auto created = spdlog::default_logger()->clone("kafka");
    try {
      spdlog::register_logger(created);
    } catch (const spdlog::spdlog_ex&) {
      // Registered concurrently by someone else: use theirs.
      if (auto existing = spdlog::get("kafka")) return existing;
    }
    return created;
  }();
  return *logger;
}

int ToMillis(Clock::duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, std::numeric_limits<int>::max()));
}

// Rounded up: a wait cut to 0 ms before its deadline would spin through
// librdkafka's queue until the deadline (measured: most of an idle
// service's CPU).
int RemainingMs(Clock::time_point deadline) {
  return ToMillis(deadline - Clock::now() + std::chrono::microseconds(999));
}

// RdKafka::ErrorCode -> our Status, with `what` as context.
Status ToStatus(RdKafka::ErrorCode err, const std::string& what) {
  if (err == RdKafka::ERR_NO_ERROR) return Status::Ok();
  std::string message = what + ": " + RdKafka::err2str(err);
  switch (err) {
    case RdKafka::ERR__TIMED_OUT:
    case RdKafka::ERR_REQUEST_TIMED_OUT:
    case RdKafka::ERR__MSG_TIMED_OUT:
    case RdKafka::ERR__TIMED_OUT_QUEUE:
      return Status::Timeout(std::move(message));
    case RdKafka::ERR__TRANSPORT:
    case RdKafka::ERR__ALL_BROKERS_DOWN:
    case RdKafka::ERR__RESOLVE:
    case RdKafka::ERR_BROKER_NOT_AVAILABLE:
    case RdKafka::ERR_LEADER_NOT_AVAILABLE:
    case RdKafka::ERR_NOT_LEADER_FOR_PARTITION:
    case RdKafka::ERR_NOT_ENOUGH_REPLICAS:
    case RdKafka::ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RdKafka::ERR_NETWORK_EXCEPTION:
    case RdKafka::ERR_KAFKA_STORAGE_ERROR:
    case RdKafka::ERR_COORDINATOR_NOT_AVAILABLE:
    case RdKafka::ERR_NOT_COORDINATOR:
    case RdKafka::ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RdKafka::ERR__WAIT_COORD:
    case RdKafka::ERR__NODE_UPDATE:
    case RdKafka::ERR__QUEUE_FULL:
    case RdKafka::ERR__PURGE_QUEUE:
    case RdKafka::ERR__PURGE_INFLIGHT:
    case RdKafka::ERR__DESTROY:
      return Status::Unavailable(std::move(message));
    case RdKafka::ERR__UNKNOWN_TOPIC:
    case RdKafka::ERR_UNKNOWN_TOPIC_OR_PART:
    case RdKafka::ERR__UNKNOWN_PARTITION:
      return Status::NotFound(std::move(message));
    case RdKafka::ERR_REBALANCE_IN_PROGRESS:
    case RdKafka::ERR_ILLEGAL_GENERATION:
    case RdKafka::ERR_UNKNOWN_MEMBER_ID:
    case RdKafka::ERR_FENCED_INSTANCE_ID:
    case RdKafka::ERR__ASSIGNMENT_LOST:
    case RdKafka::ERR__FENCED:
    case RdKafka::ERR__STATE:
      return Status::Conflict(std::move(message));
    case RdKafka::ERR__INVALID_ARG:
    case RdKafka::ERR__INVALID_TYPE:
    case RdKafka::ERR_INVALID_CONFIG:
    case RdKafka::ERR_MSG_SIZE_TOO_LARGE:
    case RdKafka::ERR_INVALID_MSG_SIZE:
    case RdKafka::ERR_RECORD_LIST_TOO_LARGE:
    case RdKafka::ERR_INVALID_MSG:
    case RdKafka::ERR_INVALID_RECORD:
    case RdKafka::ERR_TOPIC_EXCEPTION:
    case RdKafka::ERR_INVALID_COMMIT_OFFSET_SIZE:
    case RdKafka::ERR__UNSUPPORTED_FEATURE:
    case RdKafka::ERR__NOT_IMPLEMENTED:
    // Credentials and permissions: retrying will not help either.
    case RdKafka::ERR__AUTHENTICATION:
    case RdKafka::ERR__SSL:
    case RdKafka::ERR_SASL_AUTHENTICATION_FAILED:
    case RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED:
    case RdKafka::ERR_GROUP_AUTHORIZATION_FAILED:
    case RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED:
      return Status::Invalid(std::move(message));
    default:
      return Status::Internal(std::move(message));
  }
}

// Like ToStatus, with the underlying reason of a fatal error spelled out.
Status HandleStatus(RdKafka::Handle& handle, RdKafka::ErrorCode err, const std::string& what) {
  if (err != RdKafka::ERR__FATAL) return ToStatus(err, what);
  std::string reason;
  RdKafka::ErrorCode cause = handle.fatal_error(reason);
  return Status::Internal(what + ": fatal client error: " + RdKafka::err2str(cause) + ": " +
                          reason);
}

// librdkafka's logs and error events -> the "kafka" logger; error codes also
// go to `on_error` when given (a producer watches for ALL_BROKERS_DOWN).
class LogEventCb : public RdKafka::EventCb {
 public:
  explicit LogEventCb(std::string name, std::function<void(RdKafka::ErrorCode)> on_error = nullptr)
      : name_(std::move(name)), on_error_(std::move(on_error)) {}

  void event_cb(RdKafka::Event& event) override {
    switch (event.type()) {
      case RdKafka::Event::EVENT_ERROR:
        if (on_error_) on_error_(event.err());
        if (event.fatal()) {
          Log().critical("[{}] fatal: {}: {}", name_, RdKafka::err2str(event.err()), event.str());
        } else if (event.err() == RdKafka::ERR__TRANSPORT ||
                   event.err() == RdKafka::ERR__ALL_BROKERS_DOWN ||
                   event.err() == RdKafka::ERR__RESOLVE) {
          // librdkafka reconnects by itself.
          Log().warn("[{}] {}: {}", name_, RdKafka::err2str(event.err()), event.str());
        } else {
          Log().error("[{}] {}: {}", name_, RdKafka::err2str(event.err()), event.str());
        }
        break;
      case RdKafka::Event::EVENT_LOG:
        Log().log(ToLevel(event.severity()), "[{}] {}: {}", name_, event.fac(), event.str());
        break;
      case RdKafka::Event::EVENT_THROTTLE:
        Log().debug("[{}] throttled {} ms by broker {}", name_, event.throttle_time(),
                    event.broker_name());
        break;
      default:  // EVENT_STATS: only with statistics.interval.ms; not ours to interpret
        break;
    }
  }

 private:
  static spdlog::level::level_enum ToLevel(RdKafka::Event::Severity severity) {
    switch (severity) {
      case RdKafka::Event::EVENT_SEVERITY_EMERG:
      case RdKafka::Event::EVENT_SEVERITY_ALERT:
      case RdKafka::Event::EVENT_SEVERITY_CRITICAL:
        return spdlog::level::critical;
      case RdKafka::Event::EVENT_SEVERITY_ERROR:
        return spdlog::level::err;
      case RdKafka::Event::EVENT_SEVERITY_WARNING:
        return spdlog::level::warn;
      case RdKafka::Event::EVENT_SEVERITY_NOTICE:
      case RdKafka::Event::EVENT_SEVERITY_INFO:
        return spdlog::level::info;
      default:
        return spdlog::level::debug;
    }
  }

  const std::string name_;
  const std::function<void(RdKafka::ErrorCode)> on_error_;
};

// A global configuration: brokers, then `defaults`, then the user's extras,
// then `required` (which the user cannot override), then the event callback.
Result<std::unique_ptr<RdKafka::Conf>> BuildConf(const KafkaConfig& config,
                                                 const Properties& defaults,
                                                 const Properties& required,
                                                 RdKafka::EventCb* event_cb) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  auto set = [&](const std::string& name, const std::string& value) -> Status {
    if (conf->set(name, value, error) != RdKafka::Conf::CONF_OK) {
      return Status::Invalid("kafka property " + name + "=" + value + ": " + error);
    }
    return Status::Ok();
  };
  Status status = set("bootstrap.servers", config.brokers);
  for (const auto& [name, value] : defaults) {
    if (status.ok()) status = set(name, value);
  }
  for (const auto& [name, value] : config.extra) {
    if (status.ok()) status = set(name, value);
  }
  for (const auto& [name, value] : required) {
    if (status.ok()) status = set(name, value);
  }
  if (!status.ok()) return status;
  if (event_cb != nullptr && conf->set("event_cb", event_cb, error) != RdKafka::Conf::CONF_OK) {
    return Status::Internal("kafka event_cb: " + error);
  }
  return conf;
}

std::string CompressionType() {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string features;
  if (conf->get("builtin.features", features) != RdKafka::Conf::CONF_OK) return "none";
  return features.find("lz4") != std::string::npos ? "lz4" : "none";
}

Properties ProducerDefaults(const std::string& client_id) {
  return {{"client.id", client_id},
          // Sent at once: every hop of a run waits for an acknowledgement, and
          // under load librdkafka batches anyway while earlier requests are in
          // flight (up to 5 with idempotence).
          {"linger.ms", "0"},
          {"compression.type", CompressionType()},
          {"message.max.bytes", "8388608"}};
}

Properties ProducerRequired() {
  return {{"enable.idempotence", "true"}, {"acks", "all"}, {"partitioner", "murmur2_random"}};
}

Properties ConsumerDefaults(const std::string& client_id, const KafkaConfig& config,
                            FetchProfile profile = FetchProfile::kBulk) {
  const int fetch_wait = profile == FetchProfile::kLatency ? config.latency_fetch_wait_ms
                                                           : config.bulk_fetch_wait_ms;
  return {{"client.id", client_id},
          {"session.timeout.ms", std::to_string(config.session_timeout_ms)},
          {"heartbeat.interval.ms", std::to_string(config.heartbeat_interval_ms)},
          {"fetch.wait.max.ms", std::to_string(fetch_wait)},
          {"fetch.message.max.bytes", "8388608"},  // alias: max.partition.fetch.bytes
          {"allow.auto.create.topics", "true"}};
}

// `group_instance_id`: "" keeps what `extra` says (dynamic membership unless
// it sets group.instance.id).
Properties ConsumerRequired(const std::string& group_id, const std::string& group_instance_id) {
  Properties required = {{"group.id", group_id},
                         {"enable.auto.commit", "false"},
                         {"enable.auto.offset.store", "false"},
                         {"auto.offset.reset", "earliest"},
                         {"partition.assignment.strategy", "range"},
                         {"enable.partition.eof", "false"}};
  if (!group_instance_id.empty()) required.emplace_back("group.instance.id", group_instance_id);
  return required;
}

std::string RandomHex() {
  std::random_device rd;
  std::uniform_int_distribution<uint64_t> dist;
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(dist(rd)));
  return buf;
}

// The partition count of `topic` from `handle`'s metadata. Retries while the
// topic is being created (real clusters answer LEADER_NOT_AVAILABLE first).
Result<int> MetadataPartitionCount(RdKafka::Handle& handle, const std::string& topic,
                                   Clock::time_point deadline) {
  std::string error;
  std::unique_ptr<RdKafka::Topic> rkt(RdKafka::Topic::create(&handle, topic, nullptr, error));
  if (!rkt) return Status::Invalid("topic '" + topic + "': " + error);
  while (true) {
    RdKafka::Metadata* raw = nullptr;
    RdKafka::ErrorCode err =
        handle.metadata(/*all_topics=*/false, rkt.get(), &raw, std::max(RemainingMs(deadline), 1));
    std::unique_ptr<RdKafka::Metadata> metadata(raw);
    if (err != RdKafka::ERR_NO_ERROR) {
      return HandleStatus(handle, err, "metadata for topic '" + topic + "'");
    }
    RdKafka::ErrorCode topic_err = RdKafka::ERR_UNKNOWN_TOPIC_OR_PART;
    for (const RdKafka::TopicMetadata* t : *metadata->topics()) {
      if (t->topic() != topic) continue;
      topic_err = t->err();
      if (topic_err == RdKafka::ERR_NO_ERROR && !t->partitions()->empty()) {
        return static_cast<int>(t->partitions()->size());
      }
    }
    const bool creating = topic_err == RdKafka::ERR_LEADER_NOT_AVAILABLE ||
                          topic_err == RdKafka::ERR_NO_ERROR;  // no partitions yet
    if (!creating || Clock::now() >= deadline) {
      return ToStatus(topic_err == RdKafka::ERR_NO_ERROR ? RdKafka::ERR__TIMED_OUT : topic_err,
                      "metadata for topic '" + topic + "'");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // back off before asking again
  }
}

// Owns a list of RdKafka::TopicPartition.
struct TopicPartitionList {
  std::vector<RdKafka::TopicPartition*> parts;
  TopicPartitionList() = default;
  TopicPartitionList(const TopicPartitionList&) = delete;
  TopicPartitionList& operator=(const TopicPartitionList&) = delete;
  ~TopicPartitionList() { RdKafka::TopicPartition::destroy(parts); }
};

std::vector<TopicPartition> FromRdKafka(const std::vector<RdKafka::TopicPartition*>& parts) {
  std::vector<TopicPartition> out;
  out.reserve(parts.size());
  for (const auto* p : parts) out.push_back({p->topic(), p->partition()});
  return out;
}

// ---------------------------------------------------------------------------
// Producer

// Set while a thread serves a KafkaProducer's callbacks (its poll thread).
thread_local const void* tls_serving_producer = nullptr;

class KafkaProducer : public Producer {
 public:
  static Result<std::unique_ptr<Producer>> Make(const KafkaConfig& config,
                                                const std::string& client_id) {
    std::unique_ptr<KafkaProducer> p(new KafkaProducer(client_id));
    auto conf = BuildConf(config, ProducerDefaults(client_id), ProducerRequired(), &p->event_cb_);
    if (!conf.ok()) return conf.status();
    std::string error;
    if (conf.value()->set("dr_cb", &p->dr_cb_, error) != RdKafka::Conf::CONF_OK) {
      return Status::Internal("kafka dr_cb: " + error);
    }
    p->producer_.reset(RdKafka::Producer::create(conf.value().get(), error));
    if (!p->producer_) return Status::Invalid("kafka producer '" + client_id + "': " + error);
    p->poll_thread_ = std::thread([raw = p.get()] { raw->PollLoop(); });
    p->probe_thread_ = std::thread([raw = p.get()] { raw->ProbeLoop(); });
    return std::unique_ptr<Producer>(std::move(p));
  }

  ~KafkaProducer() override {
    if (probe_thread_.joinable()) {
      {
        std::lock_guard lock(probe_mu_);
        probe_stop_ = true;
      }
      probe_cv_.notify_all();
      probe_thread_.join();
    }
    if (poll_thread_.joinable()) {
      stop_ = true;
      poll_thread_.join();  // it flushes and completes every callback
    }
    topics_.clear();    // topic handles go before their producer
    producer_.reset();  // before the callback objects it points to
  }

  void AppendAsync(Record record, Callback done) override {
    auto delivery = std::make_unique<Delivery>(Delivery{std::move(record), std::move(done)});
    const Record& r = delivery->record;
    if (r.topic.empty()) return Fail(std::move(delivery), Status::Invalid("record without topic"));
    if (r.partition < -1) {
      return Fail(std::move(delivery),
                  Status::Invalid("bad partition " + std::to_string(r.partition)));
    }
    WarmUpTopic(r.topic);
    while (true) {
      // No RK_MSG_COPY: the payload stays in `delivery`, which lives until
      // the delivery report. The key is always copied.
      const uint64_t completed_before = completed_.load();
      RdKafka::ErrorCode err =
          producer_->produce(r.topic, r.partition < 0 ? RdKafka::Topic::PARTITION_UA : r.partition,
                             /*msgflags=*/0, const_cast<char*>(r.value.data()), r.value.size(),
                             r.key.empty() ? nullptr : r.key.data(), r.key.size(), r.timestamp_ms,
                             /*headers=*/nullptr, delivery.get());
      if (err == RdKafka::ERR_NO_ERROR) {
        (void)delivery.release();  // owned by librdkafka until dr_cb
        return;
      }
      if (err != RdKafka::ERR__QUEUE_FULL) {
        return Fail(std::move(delivery), HandleStatus(*producer_, err, "append to " + r.topic));
      }
      WaitForRoom(completed_before);
    }
  }

  Status Append(std::vector<Record> records) override {
    if (records.empty()) return Status::Ok();
    if (tls_serving_producer == this) {
      return Status::Internal("Producer::Append called from an AppendAsync callback");
    }
    struct Batch {
      std::mutex mu;
      std::condition_variable cv;
      size_t remaining = 0;
      Status first_error;
    };
    auto batch = std::make_shared<Batch>();
    const size_t total = records.size();
    batch->remaining = total;
    for (Record& record : records) {
      AppendAsync(std::move(record), [batch](const Status& status, const Record&) {
        std::lock_guard lock(batch->mu);
        if (!status.ok() && batch->first_error.ok()) batch->first_error = status;
        if (--batch->remaining == 0) batch->cv.notify_all();
      });
    }
    std::unique_lock lock(batch->mu);
    if (!batch->cv.wait_for(lock, kAppendTimeout, [&] { return batch->remaining == 0; })) {
      return Status::Timeout(std::to_string(batch->remaining) + " of " + std::to_string(total) +
                             " records not acknowledged within " +
                             std::to_string(kAppendTimeout.count()) + " s");
    }
    return batch->first_error;
  }

  bool Reachable() const override {
    watched_ = true;
    return reachable_.load();
  }

 private:
  struct Delivery {
    Record record;
    Callback done;
  };

  class DeliveryReportCb : public RdKafka::DeliveryReportCb {
   public:
    explicit DeliveryReportCb(KafkaProducer* owner) : owner_(owner) {}
    void dr_cb(RdKafka::Message& message) override { owner_->OnDelivery(message); }

   private:
    KafkaProducer* const owner_;
  };

  explicit KafkaProducer(const std::string& client_id)
      : event_cb_("producer " + client_id,
                  [this](RdKafka::ErrorCode err) {
                    if (err == RdKafka::ERR__ALL_BROKERS_DOWN) AllBrokersDown();
                  }),
        dr_cb_(this) {}

  // On the poll thread (librdkafka's error event).
  void AllBrokersDown() {
    down_events_.fetch_add(1);
    if (reachable_.exchange(false)) {
      Log().warn("[{}] no broker reachable: appends fail fast until one answers",
                 producer_->name());
    }
    probe_cv_.notify_all();  // start probing at the faster pace now
  }

  // The probe thread: see kProbeUpInterval.
  void ProbeLoop() {
    std::unique_lock lock(probe_mu_);
    while (!probe_stop_) {
      const bool was_reachable = reachable_.load();
      probe_cv_.wait_for(lock, was_reachable ? kProbeUpInterval : kProbeDownInterval,
                         [&] { return probe_stop_ || reachable_.load() != was_reachable; });
      if (probe_stop_) break;
      if (!watched_.load()) continue;  // nobody asks: spare the cluster the probes
      lock.unlock();
      // A probe that started before librdkafka reported every broker down
      // must not declare the cluster reachable on the strength of its old answer.
      const uint64_t down_before = down_events_.load();
      const bool up = reachable_.load();
      RdKafka::Metadata* raw = nullptr;
      const int timeout_ms = up ? kProbeUpTimeoutMs : kProbeDownTimeoutMs;
      RdKafka::ErrorCode err =
          producer_->metadata(/*all_topics=*/false, /*only_rkt=*/nullptr, &raw, timeout_ms);
      std::unique_ptr<RdKafka::Metadata> metadata(raw);
      const bool ok = err == RdKafka::ERR_NO_ERROR;
      if (ok && !up && down_events_.load() == down_before) {
        reachable_ = true;
        Log().info("[{}] a broker answers again: appends resume", producer_->name());
      } else if (!ok && up) {
        reachable_ = false;
        Log().warn("[{}] cluster probe failed ({}): appends fail fast until a broker answers",
                   producer_->name(), RdKafka::err2str(err));
      }
      lock.lock();
    }
  }

  // On the poll thread.
  void OnDelivery(RdKafka::Message& message) {
    std::unique_ptr<Delivery> delivery(static_cast<Delivery*>(message.msg_opaque()));
    Record& r = delivery->record;
    r.partition = message.partition();
    Status status;
    if (message.err() == RdKafka::ERR_NO_ERROR) {
      r.offset = message.offset();
      r.timestamp_ms = message.timestamp().timestamp;
    } else {
      status = HandleStatus(
          *producer_, message.err(),
          "append to " + ToString({r.topic, r.partition}) + " (" + message.errstr() + ")");
      // The Producer contract: kTimeout = the outcome is unknown, any other
      // code = not stored. librdkafka knows which (e.g. a message timed out
      // after it was sent may have been written).
      if (message.status() != RdKafka::Message::MSG_STATUS_NOT_PERSISTED) {
        status = Status::Timeout(status.message() + "; it may have been stored");
      } else if (status.code() == ErrorCode::kTimeout) {
        status = Status::Unavailable(status.message() + "; it was not stored");
      }
    }
    if (delivery->done) delivery->done(status, r);
    completed_.fetch_add(1);
    if (room_waiters_.load() > 0) {
      std::lock_guard lock(mu_);
      room_cv_.notify_all();
    }
  }

  // A record that never reached librdkafka: its callback runs on the poll
  // thread too, like every other.
  void Fail(std::unique_ptr<Delivery> delivery, Status status) {
    std::lock_guard lock(mu_);
    failed_.emplace_back(std::move(delivery), std::move(status));
  }

  void RunFailed() {
    std::deque<std::pair<std::unique_ptr<Delivery>, Status>> failed;
    {
      std::lock_guard lock(mu_);
      failed.swap(failed_);
    }
    for (auto& [delivery, status] : failed) {
      if (delivery->done) delivery->done(status, delivery->record);
    }
  }

  // librdkafka 2.0 asks for the metadata of a topic it has not seen only on
  // its 1 s topic scan, so a new producer's first append waited ~1 s. Asking
  // right away (once per topic, at most 1 s, never on the poll thread) saves
  // that; on failure produce() still works, just later.
  void WarmUpTopic(const std::string& topic) {
    if (tls_serving_producer == this) return;
    std::lock_guard lock(topics_mu_);
    if (topics_.contains(topic)) return;
    std::string error;
    std::unique_ptr<RdKafka::Topic> handle(
        RdKafka::Topic::create(producer_.get(), topic, nullptr, error));
    if (!handle) return;  // produce() reports what is wrong with the topic
    RdKafka::Metadata* raw = nullptr;
    RdKafka::ErrorCode err = producer_->metadata(/*all_topics=*/false, handle.get(), &raw, 1000);
    std::unique_ptr<RdKafka::Metadata> metadata(raw);
    if (err != RdKafka::ERR_NO_ERROR) {
      Log().debug("[{}] metadata for {}: {}", producer_->name(), topic, RdKafka::err2str(err));
    }
    topics_.emplace(topic, std::move(handle));  // keeps librdkafka's topic object alive
  }

  // Waits until a delivery completes after `completed_before` (room in the
  // queue), or 100 ms. On the poll thread itself: serves deliveries instead.
  void WaitForRoom(uint64_t completed_before) {
    if (tls_serving_producer == this) {
      producer_->poll(100);
      return;
    }
    ++room_waiters_;
    {
      std::unique_lock lock(mu_);
      room_cv_.wait_for(lock, std::chrono::milliseconds(100),
                        [&] { return completed_.load() != completed_before; });
    }
    --room_waiters_;
  }

  void PollLoop() {
    tls_serving_producer = this;
    while (!stop_) {
      producer_->poll(kPollIntervalMs);
      RunFailed();
    }
    // Shutdown: deliver what is queued, then give up on the rest.
    if (producer_->flush(kFlushTimeoutMs) != RdKafka::ERR_NO_ERROR) {
      Log().error("[{}] {} records/requests still unacknowledged after {} ms; failing them",
                  producer_->name(), producer_->outq_len(), kFlushTimeoutMs);
      producer_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
      // Serve the purged records' delivery reports (ERR__PURGE_*).
      for (int i = 0; i < 100 && producer_->outq_len() > 0; ++i) producer_->poll(10);
    }
    RunFailed();
    tls_serving_producer = nullptr;
  }

  LogEventCb event_cb_;
  DeliveryReportCb dr_cb_;
  std::unique_ptr<RdKafka::Producer> producer_;  // after the callbacks it uses

  std::mutex topics_mu_;                                           // guards topics_
  std::map<std::string, std::unique_ptr<RdKafka::Topic>> topics_;  // warmed up
  std::mutex mu_;  // guards failed_; pairs with room_cv_
  std::condition_variable room_cv_;
  std::deque<std::pair<std::unique_ptr<Delivery>, Status>> failed_;
  std::atomic<uint64_t> completed_{0};
  std::atomic<int> room_waiters_{0};
  std::atomic<bool> stop_{false};
  std::thread poll_thread_;

  std::atomic<bool> reachable_{true};         // Reachable(); optimistic until told otherwise
  std::atomic<uint64_t> down_events_{0};      // ALL_BROKERS_DOWN events seen
  mutable std::atomic<bool> watched_{false};  // Reachable() was called: probe
  std::mutex probe_mu_;                       // guards probe_stop_; pairs with probe_cv_
  std::condition_variable probe_cv_;
  bool probe_stop_ = false;
  std::thread probe_thread_;  // joined first in the destructor: it uses producer_
};

// ---------------------------------------------------------------------------
// Consumer

class KafkaLogConsumer : public Consumer {
 public:
  // `group_instance_id`: this member's group.instance.id ("" = dynamic).
  // `lag_sink` (may be null) is told the lag of a group member's partitions.
  static Result<std::unique_ptr<Consumer>> Make(const KafkaConfig& config,
                                                const ConsumerOptions& options,
                                                const std::string& group_instance_id,
                                                std::shared_ptr<ConsumerLagSink> lag_sink) {
    if (options.topics.empty()) return Status::Invalid("consumer needs at least one topic");
    for (const auto& topic : options.topics) {
      if (topic.empty()) return Status::Invalid("empty topic name");
    }
    std::unique_ptr<KafkaLogConsumer> c(new KafkaLogConsumer(options));
    if (c->has_group_) c->lag_sink_ = std::move(lag_sink);
    const std::string group_id =
        c->has_group_ ? options.group_id : "jobsched-nogroup-" + RandomHex();
    auto conf = BuildConf(config, ConsumerDefaults(options.client_id, config, options.profile),
                          ConsumerRequired(group_id, c->has_group_ ? group_instance_id : ""),
                          &c->event_cb_);
    if (!conf.ok()) return conf.status();
    std::string error;
    conf.value()->get("session.timeout.ms", c->session_timeout_ms_);
    if (c->has_group_ &&
        conf.value()->set("rebalance_cb", &c->rebalance_cb_, error) != RdKafka::Conf::CONF_OK) {
      return Status::Internal("kafka rebalance_cb: " + error);
    }
    c->consumer_.reset(RdKafka::KafkaConsumer::create(conf.value().get(), error));
    if (!c->consumer_) return Status::Invalid("kafka consumer: " + error);
    if (c->has_group_) {
      RdKafka::ErrorCode err = c->consumer_->subscribe(options.topics);
      if (err != RdKafka::ERR_NO_ERROR) return ToStatus(err, "subscribe");
    }
    return std::unique_ptr<Consumer>(std::move(c));
  }

  ~KafkaLogConsumer() override {
    if (consumer_) Close();
    consumer_.reset();  // before the callback objects it points to
  }

  std::vector<Record> Poll(size_t max_records, std::chrono::milliseconds timeout) override {
    std::vector<Record> out;
    if (closed_) return out;
    const auto deadline = Clock::now() + timeout;
    if (!has_group_ && !assigned_all_) {
      assigned_all_ = AssignAllPartitions(deadline);
      if (!assigned_all_) return out;
    }
    if (max_records == 0) {
      Idle(deadline);
      MaybeReportLag();
      return out;
    }
    SetPaused(false);
    while (!held_.empty() && out.size() < max_records) {
      out.push_back(std::move(held_.front()));
      held_.pop_front();
    }
    while (out.size() < max_records) {
      // Wait for the first record only; then take what is already buffered.
      const int wait_ms = out.empty() ? RemainingMs(deadline) : 0;
      std::unique_ptr<RdKafka::Message> msg(consumer_->consume(wait_ms));
      if (msg->err() == RdKafka::ERR_NO_ERROR) {
        out.push_back(ToRecord(*msg));
        continue;
      }
      LogConsumeError(*msg);
      if (!out.empty() || Clock::now() >= deadline) break;
    }
    MaybeReportLag();
    return out;
  }

  Status Commit(const std::map<TopicPartition, int64_t>& next_offsets) override {
    if (closed_) return Status::Invalid("consumer is closed");
    if (!has_group_) return Status::Invalid("a consumer without group_id cannot commit");
    if (next_offsets.empty()) return Status::Ok();
    TopicPartitionList list;
    for (const auto& [tp, offset] : next_offsets) {
      if (offset < 0) return Status::Invalid("cannot commit offset " + std::to_string(offset));
      list.parts.push_back(RdKafka::TopicPartition::create(tp.topic, tp.partition, offset));
    }
    RdKafka::ErrorCode err = consumer_->commitSync(list.parts);
    if (err != RdKafka::ERR_NO_ERROR) return HandleStatus(*consumer_, err, "commit");
    for (const auto* p : list.parts) {
      if (p->err() != RdKafka::ERR_NO_ERROR) {
        return ToStatus(p->err(), "commit " + ToString({p->topic(), p->partition()}));
      }
    }
    return Status::Ok();
  }

  Result<Watermarks> QueryWatermarks(const TopicPartition& tp,
                                     std::chrono::milliseconds timeout) override {
    Watermarks w;
    RdKafka::ErrorCode err = consumer_->query_watermark_offsets(tp.topic, tp.partition, &w.low,
                                                                &w.high, ToMillis(timeout));
    if (err != RdKafka::ERR_NO_ERROR) {
      return HandleStatus(*consumer_, err, "watermarks of " + ToString(tp));
    }
    return w;
  }

  // Every query is a broker round trip: run them side by side (librdkafka's
  // query_watermark_offsets is thread-safe), a few at a time.
  Result<std::map<TopicPartition, Watermarks>> QueryWatermarks(
      const std::vector<TopicPartition>& tps, std::chrono::milliseconds timeout) override {
    constexpr size_t kParallel = 16;
    std::map<TopicPartition, Watermarks> out;
    for (size_t begin = 0; begin < tps.size(); begin += kParallel) {
      size_t end = std::min(tps.size(), begin + kParallel);
      std::vector<std::future<Result<Watermarks>>> queries;
      for (size_t i = begin; i < end; ++i) {
        queries.push_back(std::async(std::launch::async, [this, tp = tps[i], timeout] {
          return QueryWatermarks(tp, timeout);
        }));
      }
      for (size_t i = begin; i < end; ++i) {
        Result<Watermarks> wm = queries[i - begin].get();
        if (!wm.ok()) return wm.status();
        out[tps[i]] = *wm;
      }
    }
    return out;
  }
  using Consumer::QueryWatermarks;

  Result<Watermarks> CachedWatermarks(const TopicPartition& tp) override {
    Watermarks w;
    RdKafka::ErrorCode err =
        consumer_->get_watermark_offsets(tp.topic, tp.partition, &w.low, &w.high);
    if (err != RdKafka::ERR_NO_ERROR) return ToStatus(err, "cached watermarks of " + ToString(tp));
    if (w.high < 0) return Status::NotFound("no watermarks fetched yet for " + ToString(tp));
    return w;
  }

  std::vector<TopicPartition> Assignment() override { return assignment_; }

  void Close() override {
    if (closed_) return;
    if (!has_group_) {
      if (options_.listener != nullptr && !assignment_.empty()) {
        options_.listener->OnRevoked(assignment_);
      }
      RdKafka::ErrorCode err = consumer_->unassign();
      if (err != RdKafka::ERR_NO_ERROR) {
        Log().warn("[consumer {}] unassign: {}", options_.client_id, RdKafka::err2str(err));
      }
      assignment_.clear();
    }
    ForgetLag();
    // Revokes through rebalance_cb (our listener), then leaves the group.
    RdKafka::ErrorCode err = consumer_->close();
    if (err != RdKafka::ERR_NO_ERROR) {
      Log().warn("[consumer {}] close: {}", options_.client_id, RdKafka::err2str(err));
    }
    assignment_.clear();
    held_.clear();
    closed_ = true;
  }

 private:
  class RebalanceCb : public RdKafka::RebalanceCb {
   public:
    explicit RebalanceCb(KafkaLogConsumer* owner) : owner_(owner) {}
    void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                      std::vector<RdKafka::TopicPartition*>& partitions) override {
      owner_->OnRebalance(*consumer, err, partitions);
    }

   private:
    KafkaLogConsumer* const owner_;
  };

  explicit KafkaLogConsumer(const ConsumerOptions& options)
      : options_(options),
        has_group_(!options.group_id.empty()),
        event_cb_("consumer " + options.client_id),
        rebalance_cb_(this) {}

  // Poll(0, timeout): serves callbacks (rebalances, errors) and keeps the
  // group membership alive (librdkafka's max.poll.interval.ms counts
  // consume() calls) without taking records. The assignment is paused
  // meanwhile, so nothing more is fetched; a record librdkafka had already
  // buffered is held and returned first by the next Poll.
  void Idle(Clock::time_point deadline) {
    SetPaused(true);
    do {
      std::unique_ptr<RdKafka::Message> msg(consumer_->consume(RemainingMs(deadline)));
      if (msg->err() == RdKafka::ERR_NO_ERROR) {
        held_.push_back(ToRecord(*msg));
      } else {
        LogConsumeError(*msg);
      }
    } while (Clock::now() < deadline);
  }

  // Pauses or resumes fetching of the whole assignment.
  void SetPaused(bool pause) {
    if (pause == paused_) return;
    paused_ = pause;
    if (assignment_.empty()) return;
    TopicPartitionList list;
    for (const auto& tp : assignment_) {
      list.parts.push_back(RdKafka::TopicPartition::create(tp.topic, tp.partition));
    }
    RdKafka::ErrorCode err = pause ? consumer_->pause(list.parts) : consumer_->resume(list.parts);
    if (err != RdKafka::ERR_NO_ERROR) {
      Log().error("[consumer {}] {}: {}", options_.client_id, pause ? "pause" : "resume",
                  RdKafka::err2str(err));
    }
  }

  // A consume() result that is not a record. Timeouts are normal; the rest is
  // logged: librdkafka recovers (reconnects, refetches, rejoins) by itself.
  void LogConsumeError(const RdKafka::Message& msg) {
    if (msg.err() == RdKafka::ERR__TIMED_OUT || msg.err() == RdKafka::ERR__PARTITION_EOF) return;
    if (msg.err() == RdKafka::ERR_INVALID_SESSION_TIMEOUT) {
      // The member never joins (librdkafka keeps retrying): say what to change.
      Log().error("[consumer {}] the broker rejects session.timeout.ms={}: it must lie within the "
                  "broker's group.min.session.timeout.ms and group.max.session.timeout.ms",
                  options_.client_id, session_timeout_ms_);
      return;
    }
    Log().warn("[consumer {}] {}: {}", options_.client_id, RdKafka::err2str(msg.err()),
               msg.errstr());
  }

  // Inside consume() or close(), on the polling thread.
  void OnRebalance(RdKafka::KafkaConsumer& consumer, RdKafka::ErrorCode err,
                   std::vector<RdKafka::TopicPartition*>& partitions) {
    RebalanceListener* listener = options_.listener;
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      std::vector<TopicPartition> parts = FromRdKafka(partitions);
      std::map<TopicPartition, int64_t> starts;
      if (listener != nullptr && !parts.empty()) starts = listener->OnAssigned(parts);
      for (size_t i = 0; i < parts.size(); ++i) {
        auto it = starts.find(parts[i]);
        partitions[i]->set_offset(it == starts.end() ? kOffsetCommitted : it->second);
        if (it != starts.end() && it->second >= 0) start_offsets_[parts[i]] = it->second;
      }
      RdKafka::ErrorCode assign_err = consumer.assign(partitions);
      if (assign_err == RdKafka::ERR_NO_ERROR && paused_) assign_err = consumer.pause(partitions);
      if (assign_err != RdKafka::ERR_NO_ERROR) {
        Log().error("[consumer {}] assign: {}", options_.client_id, RdKafka::err2str(assign_err));
      }
      assignment_ = std::move(parts);
      return;
    }
    held_.clear();  // the partitions' next owner fetches these records
    if (err != RdKafka::ERR__REVOKE_PARTITIONS) {
      Log().error("[consumer {}] rebalance failed: {}", options_.client_id, RdKafka::err2str(err));
    } else if (consumer.assignment_lost()) {
      Log().warn("[consumer {}] assignment lost (session timed out); commits for it will fail",
                 options_.client_id);
    }
    if (listener != nullptr && !assignment_.empty()) listener->OnRevoked(assignment_);
    ForgetLag();
    RdKafka::ErrorCode unassign_err = consumer.unassign();
    if (unassign_err != RdKafka::ERR_NO_ERROR) {
      Log().error("[consumer {}] unassign: {}", options_.client_id, RdKafka::err2str(unassign_err));
    }
    assignment_.clear();
  }

  // Tells the lag sink, at most once per kLagReportInterval, how many records
  // of each assigned partition lie between the position and the high
  // watermark. Both are librdkafka's local state (the watermark as of the
  // last fetch response): no broker round trip. A partition that returned no
  // record since its assignment has no position yet: it counts from where it
  // started (the listener's offset, else the group's committed offset, asked
  // once per assignment, else the low watermark: auto.offset.reset=earliest).
  void MaybeReportLag() {
    if (!lag_sink_ || assignment_.empty()) return;
    const auto now = Clock::now();
    if (now < next_lag_report_) return;
    next_lag_report_ = now + kLagReportInterval;
    TopicPartitionList list;
    for (const auto& tp : assignment_) {
      list.parts.push_back(RdKafka::TopicPartition::create(tp.topic, tp.partition));
    }
    if (consumer_->position(list.parts) != RdKafka::ERR_NO_ERROR) return;
    FillStartOffsets(list.parts);
    // Records taken while idle and not yet returned are not consumed yet.
    std::map<TopicPartition, int64_t> held_from;
    for (const Record& r : held_) {
      auto [it, added] = held_from.try_emplace({r.topic, r.partition}, r.offset);
      if (!added) it->second = std::min(it->second, r.offset);
    }
    for (const auto* p : list.parts) {
      int64_t low = 0;
      int64_t high = 0;
      if (consumer_->get_watermark_offsets(p->topic(), p->partition(), &low, &high) !=
              RdKafka::ERR_NO_ERROR ||
          high < 0) {
        continue;
      }
      int64_t position = p->offset();
      if (position < 0) {
        auto start = start_offsets_.find({p->topic(), p->partition()});
        if (start == start_offsets_.end()) continue;
        position = start->second >= 0 ? start->second : low;
        if (position < 0) continue;
      }
      if (auto h = held_from.find({p->topic(), p->partition()}); h != held_from.end()) {
        position = std::min(position, h->second);
      }
      const int64_t from = std::max(position, std::max<int64_t>(low, 0));
      lag_sink_->Report(options_.group_id, {p->topic(), p->partition()},
                        std::max<int64_t>(high - from, 0));
    }
  }

  // For partitions without a position and a start offset: the group's
  // committed offsets (one request, 1 s at most), kOffsetBeginning where none.
  void FillStartOffsets(const std::vector<RdKafka::TopicPartition*>& positions) {
    TopicPartitionList missing;
    for (const auto* p : positions) {
      if (p->offset() >= 0 || start_offsets_.contains({p->topic(), p->partition()})) continue;
      missing.parts.push_back(RdKafka::TopicPartition::create(p->topic(), p->partition()));
    }
    if (missing.parts.empty()) return;
    if (consumer_->committed(missing.parts, 1000) != RdKafka::ERR_NO_ERROR) return;
    for (const auto* p : missing.parts) {
      if (p->err() != RdKafka::ERR_NO_ERROR) continue;
      start_offsets_[{p->topic(), p->partition()}] =
          p->offset() >= 0 ? p->offset() : kOffsetBeginning;
    }
  }

  void ForgetLag() {
    start_offsets_.clear();
    if (!lag_sink_) return;
    for (const auto& tp : assignment_) lag_sink_->Forget(options_.group_id, tp);
    next_lag_report_ = {};  // the next assignment reports at once
  }

  // No group: `options_.partitions`, else every partition of every topic,
  // from metadata.
  bool AssignAllPartitions(Clock::time_point deadline) {
    std::vector<TopicPartition> parts = options_.partitions;
    for (const auto& topic :
         options_.partitions.empty() ? options_.topics : std::vector<std::string>{}) {
      auto count = MetadataPartitionCount(*consumer_, topic, deadline);
      if (!count.ok()) {
        Log().warn("[consumer {}] cannot assign {}: {}", options_.client_id, topic,
                   count.status().ToString());
        return false;
      }
      for (int32_t p = 0; p < *count; ++p) parts.push_back({topic, p});
    }
    std::map<TopicPartition, int64_t> starts;
    if (options_.listener != nullptr && !parts.empty()) {
      starts = options_.listener->OnAssigned(parts);
    }
    TopicPartitionList list;
    for (const auto& tp : parts) {
      auto it = starts.find(tp);
      int64_t start = it == starts.end() ? kOffsetBeginning : it->second;
      if (start == kOffsetCommitted) start = kOffsetBeginning;  // nothing is ever committed
      list.parts.push_back(RdKafka::TopicPartition::create(tp.topic, tp.partition, start));
    }
    RdKafka::ErrorCode err = consumer_->assign(list.parts);
    if (err != RdKafka::ERR_NO_ERROR) {
      Log().error("[consumer {}] assign: {}", options_.client_id, RdKafka::err2str(err));
      return false;
    }
    assignment_ = std::move(parts);
    return true;
  }

  static Record ToRecord(const RdKafka::Message& msg) {
    Record r;
    r.topic = msg.topic_name();
    r.partition = msg.partition();
    r.offset = msg.offset();
    if (const std::string* key = msg.key()) r.key = *key;
    if (msg.payload() != nullptr) {
      r.value.assign(static_cast<const char*>(msg.payload()), msg.len());
    }
    r.timestamp_ms = msg.timestamp().timestamp;
    return r;
  }

  const ConsumerOptions options_;
  const bool has_group_;
  LogEventCb event_cb_;
  RebalanceCb rebalance_cb_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;  // after the callbacks it uses
  std::vector<TopicPartition> assignment_;
  bool assigned_all_ = false;  // no group: AssignAllPartitions succeeded
  bool paused_ = false;        // Idle() paused the assignment
  std::deque<Record> held_;    // consumed while idle; returned by the next Poll
  bool closed_ = false;
  std::string session_timeout_ms_;  // as configured, for error messages
  std::shared_ptr<ConsumerLagSink> lag_sink_;  // group members only; may be null
  Clock::time_point next_lag_report_{};
  // Where each assigned partition started, when known (lag before its first record).
  std::map<TopicPartition, int64_t> start_offsets_;
};

}  // namespace

// ---------------------------------------------------------------------------
// KafkaEventLog

struct KafkaEventLog::Impl {
  KafkaConfig config;
  LogEventCb event_cb{"metadata"};
  // A plain producer handle, used only for metadata requests.
  std::unique_ptr<RdKafka::Producer> metadata_client;
  std::mutex mu;  // serializes poll() of metadata_client
  // Group consumers created so far, per group id (guarded by mu): numbers
  // the group.instance.id of the second and later ones.
  std::map<std::string, int> group_members;
  std::shared_ptr<ConsumerLagSink> lag_sink;  // guarded by mu; handed to new consumers
};

KafkaEventLog::KafkaEventLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaEventLog::~KafkaEventLog() {
  if (impl_ && impl_->metadata_client) {
    impl_->metadata_client->poll(0);  // serve pending error events (logs)
    impl_->metadata_client.reset();
  }
}

Result<std::unique_ptr<KafkaEventLog>> KafkaEventLog::Make(KafkaConfig config) {
  if (config.brokers.empty()) return Status::Invalid("kafka: empty broker list");
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  // Reject bad properties now rather than at the first NewProducer/NewConsumer.
  auto producer_conf =
      BuildConf(impl->config, ProducerDefaults("check"), ProducerRequired(), nullptr);
  if (!producer_conf.ok()) return producer_conf.status();
  auto consumer_conf = BuildConf(impl->config, ConsumerDefaults("check", impl->config),
                                 ConsumerRequired("check", impl->config.group_instance_id),
                                 nullptr);
  if (!consumer_conf.ok()) return consumer_conf.status();
  auto conf = BuildConf(impl->config, {{"client.id", "jobsched-metadata"}}, {}, &impl->event_cb);
  if (!conf.ok()) return conf.status();
  std::string error;
  impl->metadata_client.reset(RdKafka::Producer::create(conf.value().get(), error));
  if (!impl->metadata_client) return Status::Invalid("kafka: " + error);
  return std::unique_ptr<KafkaEventLog>(new KafkaEventLog(std::move(impl)));
}

Result<std::unique_ptr<Producer>> KafkaEventLog::NewProducer(const std::string& client_id) {
  return KafkaProducer::Make(impl_->config, client_id);
}

Result<std::unique_ptr<Consumer>> KafkaEventLog::NewConsumer(const ConsumerOptions& options) {
  std::string instance_id;
  std::shared_ptr<ConsumerLagSink> lag_sink;
  {
    std::lock_guard lock(impl_->mu);
    lag_sink = impl_->lag_sink;
    if (!impl_->config.group_instance_id.empty() && !options.group_id.empty()) {
      const int n = ++impl_->group_members[options.group_id];
      instance_id = impl_->config.group_instance_id + (n == 1 ? "" : "-" + std::to_string(n));
    }
  }
  return KafkaLogConsumer::Make(impl_->config, options, instance_id, std::move(lag_sink));
}

void KafkaEventLog::SetConsumerLagSink(std::shared_ptr<ConsumerLagSink> sink) {
  std::lock_guard lock(impl_->mu);
  impl_->lag_sink = std::move(sink);
}

Result<int> KafkaEventLog::PartitionCount(const std::string& topic) {
  if (topic.empty()) return Status::Invalid("empty topic name");
  {
    std::lock_guard lock(impl_->mu);
    impl_->metadata_client->poll(0);  // serve error events (logs) of the idle handle
  }
  return MetadataPartitionCount(*impl_->metadata_client, topic, Clock::now() + kMetadataTimeout);
}

}  // namespace jobsched::events
