#include "infra/devbroker/log_store.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace jobsched::devbroker {
namespace {

namespace fs = std::filesystem;

constexpr std::chrono::milliseconds kFlushInterval(100);
constexpr std::chrono::milliseconds kSyncInterval(1000);
constexpr uint32_t kMaxFrame = 256u << 20;  // far above any record the broker accepts

// librdkafka's logs of the broker's own clients: errors stay visible, the
// rest (connection chatter while the cluster starts or stops) is debug.
void ClientLog(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  spdlog::log(level <= 3 ? spdlog::level::err : spdlog::level::debug, "rdkafka {}: {}", fac, buf);
}

void Set(rd_kafka_conf_t* conf, const char* name, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, name, value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string(name) + ": " + err);
  }
}

rd_kafka_t* NewClient(rd_kafka_type_t type, const std::string& bootstraps,
                      const std::vector<std::pair<const char*, std::string>>& settings,
                      void (*dr_cb)(rd_kafka_t*, const rd_kafka_message_t*, void*) = nullptr,
                      void* opaque = nullptr) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, ClientLog);
  Set(conf, "bootstrap.servers", bootstraps);
  for (const auto& [name, value] : settings) Set(conf, name, value);
  if (dr_cb != nullptr) rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
  rd_kafka_conf_set_opaque(conf, opaque);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));  // owns conf if ok
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("rd_kafka_new: ") + err);
  }
  return rk;
}

// Topic names are Kafka's ([A-Za-z0-9._-]), so they are safe as folder names.
std::string PartitionPath(const std::string& dir, const std::string& topic, int32_t partition) {
  return dir + "/" + topic + "/" + std::to_string(partition) + ".log";
}

void WriteAtomically(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc | std::ios::binary);
    out << content;
    out.close();
    if (!out) throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
  }
  fs::rename(tmp, path);  // throws fs::filesystem_error
}

template <typename T>
void Put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void PutBytes(std::string& out, const void* data, size_t len) {
  if (data == nullptr) {
    Put<int32_t>(out, -1);
    return;
  }
  Put<int32_t>(out, static_cast<int32_t>(len));
  out.append(static_cast<const char*>(data), len);
}

// Reads the fields of one record frame; throws on a malformed one.
class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  template <typename T>
  T Get() {
    T v;
    Need(sizeof v);
    std::memcpy(&v, s_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  // nullopt-like: returns false for null.
  bool GetBytes(std::string_view& out) {
    int32_t len = Get<int32_t>();
    if (len < 0) return false;
    Need(static_cast<size_t>(len));
    out = s_.substr(pos_, static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return true;
  }

 private:
  void Need(size_t n) {
    if (pos_ + n > s_.size()) throw std::runtime_error("malformed record");
  }
  std::string_view s_;
  size_t pos_ = 0;
};

struct DeliveryState {
  std::atomic<int64_t> delivered{0};
  std::atomic<int64_t> misplaced{0};
  std::atomic<int64_t> failed{0};
  std::mutex mu;
  std::string first_error;
};

// Each record's opaque is its stored offset: it must land exactly there.
void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* state = static_cast<DeliveryState*>(opaque);
  int64_t want = reinterpret_cast<intptr_t>(m->_private);
  std::string error;
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    state->failed++;
    error = rd_kafka_err2str(m->err);
  } else if (m->offset != want) {
    state->misplaced++;
    error = "stored at offset " + std::to_string(want) + ", re-produced at " +
            std::to_string(m->offset);
  } else {
    state->delivered++;
    return;
  }
  std::lock_guard lock(state->mu);
  if (state->first_error.empty()) {
    state->first_error = std::string(rd_kafka_topic_name(m->rkt)) + "[" +
                         std::to_string(m->partition) + "]: " + error;
  }
}

}  // namespace

TopicList ReadStoredTopics(const std::string& dir) {
  TopicList topics;
  std::ifstream in(dir + "/topics");
  std::string name;
  int partitions = 0;
  while (in >> name >> partitions) topics.emplace_back(name, partitions);
  return topics;
}

void WriteStoredTopics(const std::string& dir, const TopicList& topics) {
  std::map<std::string, int> all;
  for (const auto& [name, n] : ReadStoredTopics(dir)) all[name] = n;
  for (const auto& [name, n] : topics) all[name] = n;
  std::ostringstream out;
  for (const auto& [name, n] : all) out << name << ' ' << n << '\n';
  fs::create_directories(dir);
  WriteAtomically(dir + "/topics", out.str());
}

RestoreResult RestoreLog(const std::string& dir, const std::string& bootstraps,
                         const TopicList& topics) {
  DeliveryState state;
  rd_kafka_t* rk = NewClient(RD_KAFKA_PRODUCER, bootstraps,
                             {{"enable.idempotence", "true"},
                              {"linger.ms", "20"},
                              {"batch.num.messages", "10000"},
                              {"batch.size", "1000000"},
                              {"queue.buffering.max.messages", "1000000"},
                              {"queue.buffering.max.kbytes", "1048576"},
                              {"message.max.bytes", "100000000"}},
                             OnDelivery, &state);
  RestoreResult result;
  auto produce_all = [&] {
    for (const auto& [topic, partitions] : topics) {
      rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
      for (int32_t p = 0; p < partitions; ++p) {
        std::string path = PartitionPath(dir, topic, p);
        std::ifstream in(path, std::ios::binary);
        if (!in) continue;
        std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        in.close();
        size_t pos = 0;
        int64_t expect = 0;
        while (pos < data.size()) {
          uint32_t len = 0;
          if (data.size() - pos < sizeof len) break;
          std::memcpy(&len, data.data() + pos, sizeof len);
          if (len > kMaxFrame) {
            throw std::runtime_error(path + ": frame at byte " + std::to_string(pos) +
                                     " is corrupt (length " + std::to_string(len) + ")");
          }
          if (data.size() - pos - sizeof len < len) break;
          Reader r(std::string_view(data).substr(pos + sizeof len, len));
          int64_t offset = r.Get<int64_t>();
          int64_t timestamp = r.Get<int64_t>();
          std::string_view key, value;
          bool has_key = r.GetBytes(key);
          bool has_value = r.GetBytes(value);
          uint32_t header_count = r.Get<uint32_t>();
          rd_kafka_headers_t* headers = nullptr;
          if (header_count > 0) {
            headers = rd_kafka_headers_new(header_count);
            for (uint32_t h = 0; h < header_count; ++h) {
              uint32_t name_len = r.Get<uint32_t>();
              std::string name(name_len, '\0');
              for (auto& c : name) c = r.Get<char>();
              std::string_view hv;
              bool has_hv = r.GetBytes(hv);
              rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()),
                                  has_hv ? hv.data() : nullptr,
                                  has_hv ? static_cast<ssize_t>(hv.size()) : 0);
            }
          }
          if (offset != expect) {
            if (headers != nullptr) rd_kafka_headers_destroy(headers);
            throw std::runtime_error(path + ": record " + std::to_string(expect) +
                                     " is missing (the next stored one is at offset " +
                                     std::to_string(offset) + ")");
          }
          for (;;) {
            rd_kafka_resp_err_t err = rd_kafka_producev(
                rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(p),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_KEY((has_key ? key.data() : nullptr), (has_key ? key.size() : 0)),
                RD_KAFKA_V_VALUE((has_value ? const_cast<char*>(value.data()) : nullptr),
                                 (has_value ? value.size() : 0)),
                RD_KAFKA_V_TIMESTAMP(timestamp), RD_KAFKA_V_HEADERS(headers),
                RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<intptr_t>(offset))),
                RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;  // headers now owned by the message
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
              if (headers != nullptr) rd_kafka_headers_destroy(headers);
              throw std::runtime_error(path + ": cannot produce: " + rd_kafka_err2str(err));
            }
            rd_kafka_poll(rk, 10);
          }
          rd_kafka_poll(rk, 0);
          ++expect;
          pos += sizeof len + len;
        }
        if (pos < data.size()) {
          spdlog::warn("{}: cutting off a torn record at byte {} ({} bytes; the broker was "
                       "killed while storing it)", path, pos, data.size() - pos);
          fs::resize_file(path, pos);
        }
        if (expect > 0) {
          result.records += expect;
          result.partitions++;
          result.next_offsets[{topic, p}] = expect;
        }
      }
      rd_kafka_topic_destroy(rkt);
    }
    rd_kafka_resp_err_t err = rd_kafka_flush(rk, 600'000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error(std::string("restore did not finish: ") + rd_kafka_err2str(err));
    }
  };
  try {
    produce_all();
  } catch (...) {
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(rk);
    throw;
  }
  rd_kafka_destroy(rk);
  if (state.failed > 0 || state.misplaced > 0 || state.delivered != result.records) {
    throw std::runtime_error(
        "restore failed: " + std::to_string(state.delivered.load()) + " of " +
        std::to_string(result.records) + " records at their stored offsets, " +
        std::to_string(state.misplaced.load()) + " at another offset, " +
        std::to_string(state.failed.load()) + " not stored; first: " + state.first_error);
  }
  return result;
}

LogArchiver::LogArchiver(std::string dir, const std::string& bootstraps, const TopicList& topics,
                         const OffsetMap& start)
    : dir_(std::move(dir)), topics_(topics) {
  rk_ = NewClient(RD_KAFKA_CONSUMER, bootstraps,
                  {{"group.id", "jobsched-devbroker-store"},  // never joined, never committed
                   {"enable.auto.commit", "false"},
                   {"enable.auto.offset.store", "false"},
                   {"auto.offset.reset", "earliest"},
                   {"isolation.level", "read_uncommitted"},
                   {"fetch.wait.max.ms", "20"},
                   {"fetch.error.backoff.ms", "50"}});
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(64);
  for (const auto& [topic, partitions] : topics_) {
    fs::create_directories(dir_ + "/" + topic);
    for (int32_t p = 0; p < partitions; ++p) {
      auto it = start.find({topic, p});
      int64_t from = it == start.end() ? 0 : it->second;
      next_[{topic, p}] = from;
      rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = from;
      std::string path = PartitionPath(dir_, topic, p);
      std::FILE* f = std::fopen(path.c_str(), "ab");
      if (f == nullptr) {
        rd_kafka_topic_partition_list_destroy(parts);
        for (auto& [tp, file] : files_) std::fclose(file.f);
        rd_kafka_destroy(rk_);
        throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
      }
      std::setvbuf(f, nullptr, _IOFBF, 1 << 20);
      files_[{topic, p}].f = f;
    }
  }
  rd_kafka_resp_err_t err = rd_kafka_assign(rk_, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (auto& [tp, file] : files_) std::fclose(file.f);
    rd_kafka_destroy(rk_);
    throw std::runtime_error(std::string("store reader: assign: ") + rd_kafka_err2str(err));
  }
  thread_ = std::thread([this] { Run(); });
}

LogArchiver::~LogArchiver() {
  StopThread();
  rd_kafka_consumer_close(rk_);
  rd_kafka_destroy(rk_);
}

int64_t LogArchiver::stored_records() const {
  std::lock_guard lock(mu_);
  return stored_;
}

void LogArchiver::StopThread() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void LogArchiver::Append(const rd_kafka_message_t* m) {
  TopicPartition tp{rd_kafka_topic_name(m->rkt), m->partition};
  int64_t expect;
  {
    std::lock_guard lock(mu_);
    expect = next_[tp];
  }
  if (m->offset < expect) return;  // already stored (a refetch)
  if (m->offset > expect) {
    // The mock dropped records before they were read (it keeps ~5 MiB a
    // partition): the stored log has a hole and cannot be restored as is.
    spdlog::error("store: {}[{}] lost records {}..{} before they were stored; a restart from "
                  "this data dir will fail (start afresh)",
                  tp.first, tp.second, expect, m->offset - 1);
    std::lock_guard lock(mu_);
    failed_ = true;
  }
  std::string rec;
  rec.reserve(64 + m->len + m->key_len);
  Put<int64_t>(rec, m->offset);
  rd_kafka_timestamp_type_t tstype;
  Put<int64_t>(rec, rd_kafka_message_timestamp(m, &tstype));
  PutBytes(rec, m->key, m->key_len);
  PutBytes(rec, m->payload, m->len);
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) headers = nullptr;
  size_t count = headers == nullptr ? 0 : rd_kafka_header_cnt(headers);
  Put<uint32_t>(rec, static_cast<uint32_t>(count));
  for (size_t i = 0; i < count; ++i) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    rd_kafka_header_get_all(headers, i, &name, &value, &size);
    Put<uint32_t>(rec, static_cast<uint32_t>(std::strlen(name)));
    rec.append(name);
    PutBytes(rec, value, size);
  }
  File& file = files_.at(tp);
  uint32_t len = static_cast<uint32_t>(rec.size());
  if (std::fwrite(&len, sizeof len, 1, file.f) != 1 ||
      std::fwrite(rec.data(), rec.size(), 1, file.f) != 1) {
    throw std::runtime_error("cannot write " + PartitionPath(dir_, tp.first, tp.second) + ": " +
                             std::strerror(errno));
  }
  file.dirty = true;
  std::lock_guard lock(mu_);
  next_[tp] = m->offset + 1;
  ++stored_;
}

void LogArchiver::Flush(bool sync) {
  for (auto& [tp, file] : files_) {
    if (!file.dirty) continue;
    if (std::fflush(file.f) != 0) {
      throw std::runtime_error("cannot write " + PartitionPath(dir_, tp.first, tp.second) + ": " +
                               std::strerror(errno));
    }
    if (sync) {
      fdatasync(fileno(file.f));
      file.dirty = false;
    }
  }
  cv_.notify_all();  // DrainAndStop waits for stored (flushed) records
}

void LogArchiver::Run() {
  using Clock = std::chrono::steady_clock;
  auto last_flush = Clock::now();
  auto last_sync = last_flush;
  try {
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (stop_) break;
      }
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 20);
      if (m != nullptr) {
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          Append(m);
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          spdlog::warn("store reader: {}", rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
      }
      auto now = Clock::now();
      if (now - last_flush >= kFlushInterval) {
        bool sync = now - last_sync >= kSyncInterval;
        Flush(sync);
        last_flush = now;
        if (sync) last_sync = now;
      }
    }
    Flush(true);
  } catch (const std::exception& e) {
    spdlog::error("store: {}; records from here on are not stored", e.what());
    std::lock_guard lock(mu_);
    failed_ = true;
  }
  for (auto& [tp, file] : files_) {
    std::fclose(file.f);
    file.f = nullptr;
  }
  cv_.notify_all();
}

bool LogArchiver::DrainAndStop(std::chrono::milliseconds timeout) {
  OffsetMap targets, next;
  {
    std::lock_guard lock(mu_);
    next = next_;
  }
  for (const auto& [tp, unused] : next) {
    int64_t low = 0, high = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk_, tp.first.c_str(), tp.second,
                                                               &low, &high, 5000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::error("store: cannot read the end of {}[{}]: {}; it may not be stored whole",
                    tp.first, tp.second, rd_kafka_err2str(err));
      continue;
    }
    targets[tp] = high;
  }
  bool done;
  {
    // Flush() notifies after every flush (every 100 ms while running).
    std::unique_lock lock(mu_);
    done = cv_.wait_for(lock, timeout, [&] {
      if (failed_) return true;
      for (const auto& [tp, high] : targets) {
        if (next_.at(tp) < high) return false;
      }
      return true;
    });
    done = done && !failed_;
    if (!done) {
      for (const auto& [tp, high] : targets) {
        if (next_.at(tp) < high) {
          spdlog::error("store: {}[{}] stored up to offset {} of {}", tp.first, tp.second,
                        next_.at(tp), high);
        }
      }
    }
  }
  StopThread();  // flushes and syncs
  return done;
}

GroupOffsets::GroupOffsets(std::string dir, const std::string& bootstraps,
                           const TopicList& topics, const std::vector<std::string>& groups)
    : dir_(std::move(dir)), bootstraps_(bootstraps), topics_(topics) {
  std::ifstream in(dir_ + "/groups");
  std::string group, topic;
  int32_t partition = 0;
  int64_t offset = 0;
  while (in >> group >> topic >> partition >> offset) {
    offsets_[group][{topic, partition}] = offset;
    groups_.insert(group);
  }
  for (const auto& g : groups) {
    if (!g.empty()) groups_.insert(g);
  }
}

GroupOffsets::~GroupOffsets() {
  for (auto& [group, rk] : consumers_) rd_kafka_destroy(rk);
}

rd_kafka_t* GroupOffsets::ConsumerFor(const std::string& group) {
  auto it = consumers_.find(group);
  if (it != consumers_.end()) return it->second;
  // Never subscribes: it only fetches or commits the group's offsets, so it
  // never joins the group and takes no partition from its members.
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER, bootstraps_,
                             {{"group.id", group}, {"enable.auto.commit", "false"}});
  consumers_[group] = rk;
  return rk;
}

int GroupOffsets::CommitStored(const OffsetMap& high) {
  int committed = 0;
  for (const auto& [group, offsets] : offsets_) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(64);
    for (const auto& [tp, offset] : offsets) {
      auto h = high.find(tp);
      int64_t end = h == high.end() ? 0 : h->second;
      if (offset > end) {
        spdlog::warn("group {}: committed offset {} of {}[{}] is past the stored log's end {} "
                     "(the broker was killed before storing it); committing {}",
                     group, offset, tp.first, tp.second, end, end);
      }
      rd_kafka_topic_partition_list_add(list, tp.first.c_str(), tp.second)->offset =
          std::min(offset, end);
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(ConsumerFor(group), list, 0);
    std::string failed;
    for (int i = 0; i < list->cnt && err == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
      if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = list->elems[i].err;
        failed = std::string(" (") + list->elems[i].topic + "[" +
                 std::to_string(list->elems[i].partition) + "])";
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("cannot commit the stored offsets of group " + group + failed +
                               ": " + rd_kafka_err2str(err));
    }
    ++committed;
  }
  return committed;
}

void GroupOffsets::Fetch() {
  bool changed = false;
  for (const auto& group : groups_) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(64);
    for (const auto& [topic, partitions] : topics_) {
      for (int32_t p = 0; p < partitions; ++p) {
        rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
      }
    }
    rd_kafka_resp_err_t err = rd_kafka_committed(ConsumerFor(group), list, 5000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::warn("group {}: cannot fetch committed offsets: {}; keeping the stored ones", group,
                   rd_kafka_err2str(err));
    } else {
      for (int i = 0; i < list->cnt; ++i) {
        const auto& e = list->elems[i];
        if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR || e.offset < 0) continue;
        int64_t& stored = offsets_[group][{e.topic, e.partition}];
        if (stored != e.offset) {
          stored = e.offset;
          changed = true;
        }
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
  }
  if (changed) Write();
}

void GroupOffsets::Write() {
  std::ostringstream out;
  for (const auto& [group, offsets] : offsets_) {
    for (const auto& [tp, offset] : offsets) {
      out << group << ' ' << tp.first << ' ' << tp.second << ' ' << offset << '\n';
    }
  }
  try {
    WriteAtomically(dir_ + "/groups", out.str());
  } catch (const std::exception& e) {
    spdlog::error("cannot store committed group offsets: {}", e.what());
  }
}

}  // namespace jobsched::devbroker
